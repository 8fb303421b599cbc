// Streaming JSON string escaping, independent of PostgreSQL.
//
// The decoding hot path writes straight into a StringInfo; the unit tests write into a
// std::string. Both are "sinks": any type with append(const char *, size_t). The escaper
// copies runs of bytes that need no escaping in one append, so plain ASCII and UTF-8 text
// costs one table lookup per byte and one append per string.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bemi {

namespace detail {

// 0: copy as is; otherwise the character after the backslash ('u' means \u00XX).
struct EscapeTable {
    char code[256];
    constexpr EscapeTable() : code() {
        for (int c = 0; c < 0x20; ++c)
            code[c] = 'u';
        code[static_cast<unsigned char>('\b')] = 'b';
        code[static_cast<unsigned char>('\f')] = 'f';
        code[static_cast<unsigned char>('\n')] = 'n';
        code[static_cast<unsigned char>('\r')] = 'r';
        code[static_cast<unsigned char>('\t')] = 't';
        code[static_cast<unsigned char>('"')] = '"';
        code[static_cast<unsigned char>('\\')] = '\\';
    }
};

inline constexpr EscapeTable kEscape{};

} // namespace detail

// Appends the JSON escape of bytes [s, s+len) without the surrounding quotes. Bytes >= 0x80
// pass through: the input is expected to be UTF-8 (the server encoding).
template <typename Sink>
void append_json_escaped(Sink &out, const char *s, size_t len) {
    static constexpr char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < len; ++i) {
        const char code = detail::kEscape.code[static_cast<unsigned char>(s[i])];
        if (code == 0)
            continue;
        if (i > run)
            out.append(s + run, i - run);
        if (code == 'u') {
            const unsigned char c = static_cast<unsigned char>(s[i]);
            const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            out.append(esc, 6);
        } else {
            const char esc[2] = {'\\', code};
            out.append(esc, 2);
        }
        run = i + 1;
    }
    if (len > run)
        out.append(s + run, len - run);
}

// Appends a quoted JSON string.
template <typename Sink>
void append_json_string(Sink &out, const char *s, size_t len) {
    out.append("\"", 1);
    append_json_escaped(out, s, len);
    out.append("\"", 1);
}

// Appends JSON text that is already valid, replacing the line breaks it may contain with
// spaces. Outside strings, JSON allows CR/LF only as insignificant whitespace, and inside
// strings they must be escaped, so this keeps one record per line without changing meaning.
template <typename Sink>
void append_json_single_line(Sink &out, const char *s, size_t len) {
    size_t run = 0;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] != '\n' && s[i] != '\r')
            continue;
        if (i > run)
            out.append(s + run, i - run);
        out.append(" ", 1);
        run = i + 1;
    }
    if (len > run)
        out.append(s + run, len - run);
}

// Is [s, s+len) a JSON number as PostgreSQL's numeric/float output writes it? Used to tell
// numbers from NaN/Infinity, which to_jsonb() renders as strings.
inline bool is_json_number(const char *s, size_t len) {
    size_t i = 0;
    auto digit = [&](size_t k) { return k < len && s[k] >= '0' && s[k] <= '9'; };
    if (i < len && s[i] == '-')
        ++i;
    if (!digit(i))
        return false;
    if (s[i] == '0')
        ++i;
    else
        while (digit(i))
            ++i;
    if (i < len && s[i] == '.') {
        ++i;
        if (!digit(i))
            return false;
        while (digit(i))
            ++i;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            ++i;
        if (!digit(i))
            return false;
        while (digit(i))
            ++i;
    }
    return i == len;
}

// Appends two lowercase hex digits per byte.
template <typename Sink>
void append_hex(Sink &out, const unsigned char *data, size_t len) {
    static constexpr char hex[] = "0123456789abcdef";
    char chunk[128];
    size_t used = 0;
    for (size_t i = 0; i < len; ++i) {
        chunk[used++] = hex[data[i] >> 4];
        chunk[used++] = hex[data[i] & 0xF];
        if (used == sizeof chunk) {
            out.append(chunk, used);
            used = 0;
        }
    }
    if (used)
        out.append(chunk, used);
}

// Writes the body of a JSON string holding bytea's hex form (bytea_output = hex): the
// backslash of "\x" escaped, then the digits. No quotes.
template <typename Sink>
void append_bytea_hex(Sink &out, const unsigned char *data, size_t len) {
    out.append("\\\\x", 3);
    append_hex(out, data, len);
}

} // namespace bemi
