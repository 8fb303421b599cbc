// SQL functions of the context API: bemi_set_context, bemi_get_context, bemi_clear_context.
//
// The context lives in the bemi.context setting, so it behaves exactly like a setting: set
// for the session, or with is_local for the current transaction only (SET LOCAL semantics:
// restored at commit or rollback, and by ROLLBACK TO SAVEPOINT), which is what makes it safe
// behind a transaction-pooling PgBouncer.
#include "pg/postgres_headers.hpp"

#include "pg/boundary.hpp"
#include "pg/settings.hpp"

namespace bemi_pg {

namespace {

void set_context_text(const char *value, bool is_local) {
    (void) set_config_option("bemi.context", value, PGC_USERSET, PGC_S_SESSION,
                             is_local ? GUC_ACTION_LOCAL : GUC_ACTION_SET, true, 0, false);
}

bool is_local_argument(FunctionCallInfo fcinfo, int arg) {
    if (PG_NARGS() <= arg)
        return false;
    if (PG_ARGISNULL(arg))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("is_local must not be null"),
                        errhint("Pass true for this transaction only, false for the session.")));
    return PG_GETARG_BOOL(arg);
}

} // namespace

} // namespace bemi_pg

BEMI_FUNCTION(bemi_set_context) {
    using namespace bemi_pg;
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("bemi context must not be null"),
                        errhint("Use bemi_clear_context() to remove the context.")));
    Jsonb *context = PG_GETARG_JSONB_P(0);
    const bool is_local = is_local_argument(fcinfo, 1);
    if (!JB_ROOT_IS_OBJECT(context) || JB_ROOT_IS_SCALAR(context))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("bemi context must be a JSON object"),
                        errhint("Pass an object, for example '{\"user_id\": 1, \"endpoint\": \"/todo\"}'.")));
    char *text = JsonbToCString(nullptr, &context->root, VARSIZE(context));
    const size_t length = strlen(text);
    if (length > static_cast<size_t>(max_context_bytes))
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("bemi context is %zu bytes, over bemi.max_context_bytes (%d)", length,
                               max_context_bytes),
                        errhint("Record less in the context, or have a superuser raise bemi.max_context_bytes.")));
    set_context_text(text, is_local);
    PG_RETURN_VOID();
}

BEMI_FUNCTION(bemi_get_context) {
    (void) fcinfo;
    const char *text = bemi_pg::context_setting;
    if (text == nullptr || *text == '\0')
        text = "{}";
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
}

BEMI_FUNCTION(bemi_clear_context) {
    bemi_pg::set_context_text("", bemi_pg::is_local_argument(fcinfo, 0));
    PG_RETURN_VOID();
}

// Statement trigger on bemi.excluded_tables. The decoder decides per relation, once, whether
// it is captured; this invalidation (replayed by the decoder when the transaction commits)
// makes it decide again with the new exclusions.
BEMI_FUNCTION(bemi_exclusions_changed) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("bemi_exclusions_changed must be called as a trigger")));
    CacheInvalidateRelcacheAll();
    return PointerGetDatum(nullptr);
}
