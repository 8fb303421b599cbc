// Renders one column value as to_jsonb() would, straight into a StringInfo.
#pragma once

#include "pg/relation_cache.hpp"

namespace bemi_pg {

enum class ValueMode : uint8 {
    Json, // a JSON value
    Text, // the same, but a value that would be a JSON string is written raw (no quotes,
          // no escaping): how a single-column primary key is shown
};

// value must not be NULL (the caller writes null) nor an unchanged-TOAST pointer.
void write_value(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode);

} // namespace bemi_pg
