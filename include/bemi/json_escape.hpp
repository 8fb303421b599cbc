// Streaming JSON string escaping, independent of PostgreSQL.
//
// The decoding hot path writes straight into a StringInfo; the unit tests write into a
// std::string. Both are "sinks": any type with append(const char *, size_t). The escaper
// copies runs of bytes that need no escaping in one append, so plain ASCII and UTF-8 text
// costs one append per string. It looks for the bytes to escape 8 at a time (SWAR: a
// 64-bit word at once, with exact per-byte masks), and byte by byte in strings shorter
// than a word.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

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

// The SWAR scan needs to know which byte of a loaded word comes first in memory.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
inline constexpr bool kSwarEscape = true;
#else
inline constexpr bool kSwarEscape = false;
#endif

inline uint64_t load_word(const char *p) {
    uint64_t w;
    std::memcpy(&w, p, sizeof w); // any alignment
    return w;
}

// For each byte of w: 0x80 in the result if the byte must be escaped in a JSON string
// (< 0x20, '"' or '\\'), else 0. Exact per byte (no carry crosses bytes: every sum below
// stays under 0x100 within its byte), so the set bits can be walked one by one.
inline uint64_t escape_mask(uint64_t w) {
    constexpr uint64_t k7f = UINT64_C(0x7f7f7f7f7f7f7f7f);
    constexpr uint64_t k80 = UINT64_C(0x8080808080808080);
    constexpr uint64_t k01 = UINT64_C(0x0101010101010101);
    // high bit set where the byte is >= 0x20: its high bit, or its low 7 bits + 0x60 >= 0x80
    const uint64_t printable = ((w & k7f) + k01 * 0x60) | w;
    // high bit set where the byte differs from c: x = byte ^ c is nonzero
    const uint64_t xq = w ^ (k01 * '"');
    const uint64_t not_quote = ((xq & k7f) + k7f) | xq;
    const uint64_t xb = w ^ (k01 * '\\');
    const uint64_t not_backslash = ((xb & k7f) + k7f) | xb;
    return ~(printable & not_quote & not_backslash) & k80;
}

// Index in memory order of the first flagged byte of a nonzero escape_mask() result.
inline unsigned first_flagged_byte(uint64_t mask) { return static_cast<unsigned>(__builtin_ctzll(mask)) >> 3; }

// Appends the escape of one byte that needs it.
template <typename Sink>
inline void append_escape(Sink &out, unsigned char c) {
    static constexpr char hex[] = "0123456789abcdef";
    const char code = kEscape.code[c];
    if (code == 'u') {
        const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
        out.append(esc, 6);
    } else {
        const char esc[2] = {'\\', code};
        out.append(esc, 2);
    }
}

// The plain byte-by-byte escaper: the reference the SWAR scan is tested against, and the
// scan of strings shorter than a word.
template <typename Sink>
void append_json_escaped_bytewise(Sink &out, const char *s, size_t len) {
    size_t run = 0;
    for (size_t i = 0; i < len; ++i) {
        if (kEscape.code[static_cast<unsigned char>(s[i])] == 0)
            continue;
        if (i > run)
            out.append(s + run, i - run);
        append_escape(out, static_cast<unsigned char>(s[i]));
        run = i + 1;
    }
    if (len > run)
        out.append(s + run, len - run);
}

} // namespace detail

// Appends the JSON escape of bytes [s, s+len) without the surrounding quotes. Bytes >= 0x80
// pass through: the input is expected to be UTF-8 (the server encoding).
template <typename Sink>
void append_json_escaped(Sink &out, const char *s, size_t len) {
    if (!detail::kSwarEscape || len < 8) {
        detail::append_json_escaped_bytewise(out, s, len);
        return;
    }
    size_t run = 0; // first byte not yet appended
    auto escape_at = [&](size_t k) {
        if (k > run)
            out.append(s + run, k - run);
        detail::append_escape(out, static_cast<unsigned char>(s[k]));
        run = k + 1;
    };
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        for (uint64_t m = detail::escape_mask(detail::load_word(s + i)); m != 0; m &= m - 1)
            escape_at(i + detail::first_flagged_byte(m));
    }
    if (i < len) {
        // The last 1..7 bytes: the word that ends the string, without its first 8 - rest
        // bytes, which were scanned already.
        const size_t rest = len - i;
        for (uint64_t m = detail::escape_mask(detail::load_word(s + len - 8)) >> (8 * (8 - rest)); m != 0;
             m &= m - 1)
            escape_at(i + detail::first_flagged_byte(m));
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
