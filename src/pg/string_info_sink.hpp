// Lets the PostgreSQL-free JSON writers append straight into a StringInfo.
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

struct StringInfoSink {
    StringInfo buf;
    void append(const char *data, size_t len) { appendBinaryStringInfo(buf, data, static_cast<int>(len)); }
};

} // namespace bemi_pg
