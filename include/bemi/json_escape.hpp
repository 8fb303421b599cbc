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

// Like escape_mask(), and also flags every byte >= 0x80, whose UTF-8 sequence must be
// checked: the ASCII fast path costs one more OR per word.
inline uint64_t escape_or_utf8_mask(uint64_t w) {
    return escape_mask(w) | (w & UINT64_C(0x8080808080808080));
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

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, at
// most U+10FFFF) starting at s[i], or 0 if there is none. NUL counts as not well formed:
// neither jsonb nor text can hold it.
inline size_t utf8_sequence_length(const char *s, size_t len, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c >= 0x01 && c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (i + n > len)
        return 0;
    if (b(i + 1) < lo || b(i + 1) > hi)
        return 0;
    for (size_t k = 2; k < n; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xBF)
            return 0;
    return n;
}

// The plain byte-by-byte escaper: the reference the SWAR scan is tested against, and the
// scan of strings shorter than a word. Returns append_json_escaped()'s verdict.
template <typename Sink>
bool append_json_escaped_bytewise(Sink &out, const char *s, size_t len) {
    size_t run = 0;
    bool valid = true;
    for (size_t i = 0; i < len; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            const size_t n = utf8_sequence_length(s, len, i);
            if (n == 0)
                valid = false;
            else
                i += n - 1;
            continue;
        }
        if (kEscape.code[c] == 0)
            continue;
        if (c == 0)
            valid = false;
        if (i > run)
            out.append(s + run, i - run);
        append_escape(out, c);
        run = i + 1;
    }
    if (len > run)
        out.append(s + run, len - run);
    return valid;
}

} // namespace detail

// Appends the JSON escape of bytes [s, s+len) without the surrounding quotes. Returns whether
// the bytes are text that jsonb can hold: well-formed UTF-8 (the server encoding) without NUL.
// The escape is written either way (NUL as \u0000, a malformed byte as it is); a caller that
// needs jsonb-safe output drops it and records the bytes another way. The check rides on the
// scan that looks for bytes to escape, so valid text is walked once.
template <typename Sink>
bool append_json_escaped(Sink &out, const char *s, size_t len) {
    if (!detail::kSwarEscape || len < 8)
        return detail::append_json_escaped_bytewise(out, s, len);
    size_t run = 0;  // first byte not yet appended
    size_t next = 0; // first byte not yet examined: a UTF-8 sequence is examined at its lead byte
    bool valid = true;
    // Inlined: called for every flagged byte of the hot path.
    auto flagged = [&](size_t k) __attribute__((always_inline)) {
        if (k < next)
            return;
        const auto c = static_cast<unsigned char>(s[k]);
        if (c >= 0x80) {
            const size_t n = detail::utf8_sequence_length(s, len, k);
            if (n == 0)
                valid = false;
            next = k + (n ? n : 1);
            return;
        }
        if (c == 0)
            valid = false;
        if (k > run)
            out.append(s + run, k - run);
        detail::append_escape(out, c);
        run = k + 1;
        next = k + 1;
    };
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        for (uint64_t m = detail::escape_or_utf8_mask(detail::load_word(s + i)); m != 0; m &= m - 1)
            flagged(i + detail::first_flagged_byte(m));
    }
    if (i < len) {
        // The last 1..7 bytes: the word that ends the string, without its first 8 - rest
        // bytes, which were scanned already.
        const size_t rest = len - i;
        for (uint64_t m = detail::escape_or_utf8_mask(detail::load_word(s + len - 8)) >> (8 * (8 - rest)); m != 0;
             m &= m - 1)
            flagged(i + detail::first_flagged_byte(m));
    }
    if (len > run)
        out.append(s + run, len - run);
    return valid;
}

// Is [s, s+len) text jsonb can hold: well-formed UTF-8 without NUL? For text written raw
// (a single-column key); escaped text gets the same answer from append_json_escaped().
inline bool is_jsonb_text(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        const size_t n = detail::utf8_sequence_length(s, len, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

// Appends a quoted JSON string.
// Returns append_json_escaped()'s verdict.
template <typename Sink>
bool append_json_string(Sink &out, const char *s, size_t len) {
    out.append("\"", 1);
    const bool valid = append_json_escaped(out, s, len);
    out.append("\"", 1);
    return valid;
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

// numeric's limits, which jsonb's numbers inherit (numeric.c: NUMERIC_WEIGHT_MAX is 32767
// base-10000 digits, NUMERIC_DSCALE_MAX 16383, and set_var_from_str refuses exponents beyond
// INT_MAX / 2).
inline constexpr long long kNumericMaxIntegerDigits = 131072;
inline constexpr long long kNumericMaxFractionDigits = 16383;
inline constexpr long long kNumericMaxExponent = 1073741823; // INT_MAX / 2, refused from here

// Does the JSON number [s, s+len) fit in numeric, i.e. can jsonb hold it? At most 131072
// digits before the decimal point and 16383 after it once the exponent is applied (leading
// zeros do not count, trailing fraction zeros do, as numeric keeps them as display scale).
// False for text that is not a JSON number.
inline bool json_number_fits_numeric(const char *s, size_t len) {
    size_t i = 0;
    auto digit = [&](size_t k) { return k < len && s[k] >= '0' && s[k] <= '9'; };
    if (i < len && s[i] == '-')
        ++i;
    const size_t int_begin = i;
    while (digit(i))
        ++i;
    const size_t int_end = i;
    if (int_end == int_begin)
        return false;
    size_t frac_begin = i, frac_end = i;
    if (i < len && s[i] == '.') {
        frac_begin = ++i;
        while (digit(i))
            ++i;
        frac_end = i;
        if (frac_end == frac_begin)
            return false;
    }
    long long exponent = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        bool negative = false;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            negative = s[i++] == '-';
        if (!digit(i))
            return false;
        for (; digit(i); ++i)
            if (exponent < kNumericMaxExponent) // saturate: anything beyond is refused anyway
                exponent = exponent * 10 + (s[i] - '0');
        if (negative)
            exponent = -exponent;
    }
    if (i != len)
        return false;
    if (exponent >= kNumericMaxExponent || exponent <= -kNumericMaxExponent)
        return false;
    if (static_cast<long long>(frac_end - frac_begin) - exponent > kNumericMaxFractionDigits)
        return false;
    // Decimal digits before the point, counted from the first nonzero digit.
    long long integer_digits;
    size_t k = int_begin;
    while (k < int_end && s[k] == '0')
        ++k;
    if (k < int_end) {
        integer_digits = static_cast<long long>(int_end - k) + exponent;
    } else {
        k = frac_begin;
        while (k < frac_end && s[k] == '0')
            ++k;
        if (k == frac_end)
            return true; // zero: no weight to overflow
        integer_digits = -static_cast<long long>(k - frac_begin) + exponent;
    }
    return integer_digits <= kNumericMaxIntegerDigits;
}

// Why JSON text cannot go into a jsonb as it is.
enum class JsonTextIssue : uint8_t {
    None,
    NotJsonb,    // valid JSON that jsonb refuses: a number beyond numeric, \u0000, a lone
                 // surrogate escape (or text that is not JSON at all)
    InvalidText, // bytes that are not well-formed UTF-8, or a NUL byte
};

namespace detail {

inline int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// The code unit of the \uXXXX escape at s[i] (the backslash), or -1.
inline long unicode_escape_at(const char *s, size_t len, size_t i) {
    if (i + 6 > len || s[i] != '\\' || s[i + 1] != 'u')
        return -1;
    long v = 0;
    for (size_t k = i + 2; k < i + 6; ++k) {
        const int h = hex_value(s[k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

} // namespace detail

// Appends JSON text (a json value from PostgreSQL: a column, a cast, array_to_json) as
// append_json_single_line() does, and tells whether jsonb can hold it. It walks the text
// once, checking what the json type lets through and jsonb does not: numbers beyond
// numeric's limits, \u0000 and unpaired surrogate escapes inside strings, bytes that are not
// UTF-8, NUL. On an issue the output is incomplete: the caller drops it and records the
// value another way.
template <typename Sink>
JsonTextIssue append_json_text_checked(Sink &out, const char *s, size_t len) {
    size_t run = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (in_string) {
            if (c == '"') {
                in_string = false;
            } else if (c == '\\') {
                if (i + 1 >= len)
                    return JsonTextIssue::NotJsonb;
                if (s[i + 1] != 'u') {
                    ++i;
                    continue;
                }
                const long unit = detail::unicode_escape_at(s, len, i);
                if (unit <= 0 || (unit >= 0xDC00 && unit <= 0xDFFF))
                    return JsonTextIssue::NotJsonb; // malformed, \u0000, or a lone low surrogate
                if (unit >= 0xD800 && unit <= 0xDBFF) {
                    const long low = detail::unicode_escape_at(s, len, i + 6);
                    if (low < 0xDC00 || low > 0xDFFF)
                        return JsonTextIssue::NotJsonb; // a high surrogate without its low half
                    i += 6;
                }
                i += 5;
            } else if (c >= 0x80) {
                const size_t n = detail::utf8_sequence_length(s, len, i);
                if (n == 0)
                    return JsonTextIssue::InvalidText;
                i += n - 1;
            } else if (c < 0x20) {
                return c == 0 ? JsonTextIssue::InvalidText : JsonTextIssue::NotJsonb;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '\n' || c == '\r') {
            if (i > run)
                out.append(s + run, i - run);
            out.append(" ", 1);
            run = i + 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t end = i + 1;
            while (end < len && ((s[end] >= '0' && s[end] <= '9') || s[end] == '.' || s[end] == 'e' ||
                                 s[end] == 'E' || s[end] == '+' || s[end] == '-'))
                ++end;
            if (!json_number_fits_numeric(s + i, end - i))
                return JsonTextIssue::NotJsonb;
            i = end - 1;
        } else if (c >= 0x80 || c == 0) {
            return JsonTextIssue::InvalidText;
        }
    }
    if (in_string)
        return JsonTextIssue::NotJsonb;
    if (len > run)
        out.append(s + run, len - run);
    return JsonTextIssue::None;
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
