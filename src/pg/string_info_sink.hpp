// Appending to a StringInfo on the hot path, and a sink that lets the PostgreSQL-free JSON
// writers append straight into one.
//
// appendBinaryStringInfo() is an out-of-line call that always goes through
// enlargeStringInfo() and the memcpy PLT entry. The output buffer of a decoding session is
// reused for every record (OutputPluginPrepareWrite resets its length, not its size), so
// after the first records there is nearly always room: these inline versions only copy and
// bump the length then, and call PostgreSQL when the buffer must grow. They keep
// StringInfo's invariant that data[len] is a NUL.
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

inline void append_bytes(StringInfo buf, const char *data, size_t n) {
    if (likely(static_cast<size_t>(buf->len) + n < static_cast<size_t>(buf->maxlen))) {
        memcpy(buf->data + buf->len, data, n);
        buf->len += static_cast<int>(n);
        buf->data[buf->len] = '\0';
    } else {
        appendBinaryStringInfo(buf, data, static_cast<int>(n));
    }
}

inline void append_char(StringInfo buf, char c) {
    if (likely(buf->len + 1 < buf->maxlen)) {
        buf->data[buf->len++] = c;
        buf->data[buf->len] = '\0';
    } else {
        appendStringInfoChar(buf, c);
    }
}

// A string literal: its length is a constant, so the copy is inlined.
template <size_t N>
inline void append_literal(StringInfo buf, const char (&s)[N]) {
    append_bytes(buf, s, N - 1);
}

// Room for n more bytes (and the NUL) at the end of buf; write there, then call
// commit_bytes() with the end of what was written.
inline char *reserve_bytes(StringInfo buf, size_t n) {
    if (unlikely(static_cast<size_t>(buf->len) + n >= static_cast<size_t>(buf->maxlen)))
        enlargeStringInfo(buf, static_cast<int>(n));
    return buf->data + buf->len;
}

inline void commit_bytes(StringInfo buf, char *end) {
    buf->len = static_cast<int>(end - buf->data);
    *end = '\0';
}

struct StringInfoSink {
    StringInfo buf;
    void append(const char *data, size_t len) { append_bytes(buf, data, len); }
};

} // namespace bemi_pg
