#include "pg/decode/output_settings.hpp"

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

namespace {

// The session under which to_jsonb() defines the record's values (docs/record-format.md).
struct Setting {
    const char *name;
    const char *value;
};
constexpr Setting kPinned[] = {
    {"TimeZone", "UTC"},          {"DateStyle", "ISO, YMD"},   {"IntervalStyle", "postgres"},
    {"extra_float_digits", "1"},  {"bytea_output", "hex"},     {"lc_monetary", "C"},
    // Only schemas no ordinary role can create objects in: a trusted (superuser-owned) cast
    // must not find a function or operator someone planted in public. regclass, regtype and
    // friends print names qualified unless they are in pg_catalog.
    {"search_path", "pg_catalog, pg_temp"},
};

} // namespace

int pin_output_settings() {
    const bool in_transaction = IsTransactionState();
    const int nest_level = in_transaction ? NewGUCNestLevel() : 0;
    for (const Setting &s : kPinned)
        (void) set_config_option(s.name, s.value, PGC_USERSET, PGC_S_SESSION,
                                 in_transaction ? GUC_ACTION_SAVE : GUC_ACTION_SET, true, 0, false);
    return nest_level;
}

void unpin_output_settings(int nest_level) {
    if (nest_level > 0)
        AtEOXact_GUC(true, nest_level);
}

} // namespace bemi_pg
