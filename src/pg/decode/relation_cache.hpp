// What the record writer needs to know about each relation, built once and kept until the
// relcache says the relation changed (the pattern of pgoutput's RelationSyncCache).
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi {
class TableFilter;
}

namespace bemi_pg {

// How a column's value becomes JSON; mirrors the categories of to_jsonb().
enum class ValueKind : uint8 {
    Dropped,   // never emitted
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,      // text, varchar, bpchar: escaped straight from the varlena
    Json,
    Jsonb,
    Bytea,     // written in hex, whatever bytea_output says
    DateTime,  // date, timestamp, timestamptz in ISO 8601 as to_jsonb() writes them
    Array,     // array_to_json()
    Composite, // row_to_json()
    JsonCast,  // a user-defined type with a trusted cast to json
    Other,     // the type's output function, as a JSON string
};

struct ColumnInfo {
    const char *json_key; // "name": already escaped
    int json_key_len;
    ValueKind kind;
    bool in_old_tuple;  // carried by the WAL's old tuple (replica identity columns)
    bool guarded;       // may run a trusted user-defined cast: called in a subtransaction
    bool untrusted;     // Other because a json cast in its type tree is not trusted
    bool warned;        // a failed cast has been reported for this column
    int16 typlen;
    Oid base_type;
    FmgrInfo output;    // output function of the column's type
    FmgrInfo cast;      // the json cast, for JsonCast
};

struct RelationInfo {
    Oid relid;
    bool valid;         // false once an invalidation arrived; rebuilt on next use
    bool captured;      // passes the table filter
    MemoryContext cxt;  // everything below lives here
    const char *prefix; // {"database":..,"schema":..,"table":..[,"root_schema":..,"root_table":..],
    int prefix_len;
    const char *name_for_messages; // schema.table, unescaped
    int natts;
    ColumnInfo *columns; // indexed by attnum - 1
    int nkeys;
    AttrNumber *key_attnums; // primary key (or replica identity index) columns, in index order
    bool key_in_old_tuple;   // every key column is carried by the old tuple
    bool has_rowtypes;       // a column is or holds a composite: depends on other relations
    bool uses_casts;         // a column runs, or was denied, a user-defined json cast
};

// Tables of the extension's schema (bemi) whose changes the plugin never emits, whatever the
// filters and exclusions say: derived data, not user changes (docs/time-travel.md).
//   baseline_rows: the copies bemi.backfill() takes of tables (sql/0.3/30-baselines.sql); a
//     baseline must never show up in the trail as fake CREATE rows.
//   watermarks: how far the trail is stored (sql/0.3/10-trail.sql); the worker's own writes
//     are skipped anyway (its origin), this also covers the upgrade script that seeds it.
constexpr const char *kUncapturedBemiTables[] = {"baseline_rows", "watermarks"};

// Starts a decoding session's cache. Registers the invalidation callbacks once per backend.
void relation_cache_init(const bemi::TableFilter *filter);
// Frees the cache; safe to call twice.
void relation_cache_destroy();
// Frees the cache if it uses filter: called when the options that own the filter go, also
// after a decoding ERROR that never reached shutdown, so that no cache outlives its filter.
void relation_cache_release(const bemi::TableFilter *filter);

// The entry for rel, built if missing or invalidated. database_json is the escaped
// database name with its quotes.
RelationInfo *relation_cache_get(Relation rel, const char *database_json);

} // namespace bemi_pg
