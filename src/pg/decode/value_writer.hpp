// Renders one column value as to_jsonb() would, straight into a StringInfo.
#pragma once

#include "bemi/fallback.hpp"
#include "pg/decode/relation_cache.hpp"

namespace bemi_pg {

enum class ValueMode : uint8 {
    Json, // a JSON value
    Text, // the same, but a value that would be a JSON string is written raw (no quotes,
          // no escaping): how a single-column primary key is shown
};

struct FallbackEntry {
    const ColumnInfo *column;
    bemi::FallbackImage image;
    bemi::FallbackReason reason;
};

// The values of one record written in a substitute form. Kept in the decoding session and
// emptied per record: growing it is rare, so no allocation happens per change.
struct FallbackLog {
    FallbackEntry *entries;
    int count;
    int capacity;
    MemoryContext cxt;          // where entries live (the session's)
    bemi::FallbackImage image;  // the part of the record being written
    size_t record_weight;       // bound on the jsonb size of the values written so far
};

void fallback_log_init(FallbackLog *log, MemoryContext cxt);
void fallback_log_add(FallbackLog *log, const ColumnInfo *col, bemi::FallbackReason reason);

// Starts a record: no entries, no weight.
inline void fallback_log_reset(FallbackLog *log) {
    log->count = 0;
    log->record_weight = 0;
}

// value must not be NULL (the caller writes null) nor an unchanged-TOAST pointer. A value
// written in a substitute form is added to log under log->image.
void write_value_exact(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode, FallbackLog *log);
// The same for a value of unbounded size, weighed against what the record's jsonb form can
// hold (too_large).
void write_sized_value(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode, FallbackLog *log);

inline void write_value(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode, FallbackLog *log) {
    // Fixed-size values, numerics (a few kB at most) and key columns (bounded by their index)
    // are small: only the rest is weighed, off the common path.
    if (col->typlen != -1 || col->kind == ValueKind::Numeric || mode == ValueMode::Text)
        write_value_exact(out, col, value, mode, log);
    else
        write_sized_value(out, col, value, mode, log);
}

} // namespace bemi_pg
