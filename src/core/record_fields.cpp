#include "bemi/record_fields.hpp"

#include <cstring>

#include "bemi/json_escape.hpp"

namespace bemi {

namespace {

struct Name {
    const char *text;
    size_t len;
};

template <size_t N>
constexpr Name name(const char (&text)[N]) {
    return Name{text, N - 1};
}

constexpr Name kNames[kRecordKeys] = {
    name("database"),    name("schema"),          name("table"),          name("root_schema"),
    name("root_table"),  name("operation"),       name("primary_key"),    name("previous_primary_key"),
    name("before"),      name("after"),           name("unchanged_toast"), name("fallback"),
    name("context"),     name("actor"),           name("transaction_id"), name("seq"),
    name("position"),    name("commit_position"), name("committed_at"),   name("changes"),
};

struct Cursor {
    const char *p;
    const char *end;

    bool at_end() const { return p == end; }
    void skip_space() {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            ++p;
    }
    bool take(char c) {
        if (p < end && *p == c) {
            ++p;
            return true;
        }
        return false;
    }
};

// From just after an opening quote to just after the closing one. Contents begin at the
// caller's p; *contents_end is the closing quote. False for an unterminated string or a raw
// control character (JSON refuses both).
bool scan_string(Cursor *c, const char **contents_end, bool *escaped) {
    *escaped = false;
    while (c->p < c->end) {
        const unsigned char ch = static_cast<unsigned char>(*c->p);
        if (ch == '"') {
            *contents_end = c->p;
            ++c->p;
            return true;
        }
        if (ch < 0x20)
            return false;
        if (ch == '\\') {
            // Only the escapes JSON has (jsonb's own checks of \u values are unescape's).
            *escaped = true;
            if (++c->p == c->end)
                return false;
            if (*c->p == 'u') {
                const char *backslash = c->p - 1;
                if (detail::unicode_escape_at(backslash, static_cast<size_t>(c->end - backslash), 0) < 0)
                    return false;
                c->p += 4;
            } else if (strchr("\"\\/bfnrt", *c->p) == nullptr || *c->p == '\0') {
                return false;
            }
        }
        ++c->p;
    }
    return false;
}

bool take_digits(Cursor *c) {
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        ++c->p;
    return c->p > start;
}

// A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool scan_number(Cursor *c) {
    c->take('-');
    if (c->take('0')) {
        // no leading zeros
    } else if (c->at_end() || *c->p < '1' || *c->p > '9' || !take_digits(c)) {
        return false;
    }
    if (c->take('.') && !take_digits(c))
        return false;
    if (c->take('e') || c->take('E')) {
        if (!c->take('+'))
            c->take('-');
        if (!take_digits(c))
            return false;
    }
    return true;
}

// An object or array from its opening bracket to just after its closing one, by depth.
bool scan_nested(Cursor *c) {
    int depth = 0;
    while (c->p < c->end) {
        const char ch = *c->p++;
        if (ch == '"') {
            const char *ignored_end;
            bool ignored_escaped;
            if (!scan_string(c, &ignored_end, &ignored_escaped))
                return false;
        } else if (ch == '{' || ch == '[') {
            ++depth;
        } else if (ch == '}' || ch == ']') {
            if (--depth == 0)
                return true;
        }
    }
    return false;
}

bool take_literal(Cursor *c, const char *word, size_t n) {
    if (static_cast<size_t>(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

bool scan_value(Cursor *c, JsonSpan *out) {
    if (c->at_end())
        return false;
    const char *start = c->p;
    out->escaped = false;
    switch (*c->p) {
    case '"': {
        ++c->p;
        const char *contents_end = nullptr;
        if (!scan_string(c, &contents_end, &out->escaped))
            return false;
        out->kind = JsonKind::String;
        out->data = start + 1;
        out->len = static_cast<size_t>(contents_end - (start + 1));
        return true;
    }
    case '{':
    case '[':
        if (!scan_nested(c))
            return false;
        out->kind = *start == '{' ? JsonKind::Object : JsonKind::Array;
        break;
    case 't':
        if (!take_literal(c, "true", 4))
            return false;
        out->kind = JsonKind::True;
        break;
    case 'f':
        if (!take_literal(c, "false", 5))
            return false;
        out->kind = JsonKind::False;
        break;
    case 'n':
        if (!take_literal(c, "null", 4))
            return false;
        out->kind = JsonKind::Null;
        break;
    default:
        if (!scan_number(c))
            return false;
        out->kind = JsonKind::Number;
        break;
    }
    out->data = start;
    out->len = static_cast<size_t>(c->p - start);
    return true;
}

bool is_key(size_t k, const char *text, size_t len) {
    return kNames[k].len == len && memcmp(kNames[k].text, text, len) == 0;
}

// The writer writes its keys in one order: the key after the previous one is tried first.
int key_index(const char *text, size_t len, size_t hint) {
    if (hint < kRecordKeys && is_key(hint, text, len))
        return static_cast<int>(hint);
    for (size_t k = 0; k < kRecordKeys; ++k)
        if (is_key(k, text, len))
            return static_cast<int>(k);
    return -1;
}

} // namespace

const char *record_key_name(RecordKey k) noexcept { return kNames[static_cast<size_t>(k)].text; }

bool split_record(const char *data, size_t len, RecordFields *out) noexcept {
    for (JsonSpan &f : out->field)
        f = JsonSpan{JsonKind::Missing, nullptr, 0, false};
    Cursor c{data, data + len};
    c.skip_space();
    if (!c.take('{'))
        return false;
    c.skip_space();
    if (c.take('}')) {
        c.skip_space();
        return c.at_end();
    }
    size_t hint = 0;
    for (;;) {
        if (!c.take('"'))
            return false;
        const char *name = c.p;
        const char *name_end = nullptr;
        bool escaped = false;
        if (!scan_string(&c, &name_end, &escaped) || escaped)
            return false;
        const int k = key_index(name, static_cast<size_t>(name_end - name), hint);
        if (k < 0)
            return false;
        hint = static_cast<size_t>(k) + 1;
        c.skip_space();
        if (!c.take(':'))
            return false;
        c.skip_space();
        if (!scan_value(&c, &out->field[k]))
            return false;
        c.skip_space();
        if (c.take(','))
            c.skip_space();
        else if (c.take('}'))
            break;
        else
            return false;
    }
    c.skip_space();
    return c.at_end();
}

long unescape_json_string(const char *data, size_t len, char *out) noexcept {
    char *o = out;
    for (size_t i = 0; i < len; ++i) {
        const unsigned char ch = static_cast<unsigned char>(data[i]);
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            *o++ = static_cast<char>(ch);
            continue;
        }
        if (++i == len)
            return -1;
        switch (data[i]) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            const long code = detail::unicode_escape_at(data, len, i - 1);
            if (code <= 0 || code > 0x7F)
                return -1;
            *o++ = static_cast<char>(code);
            i += 4;
            break;
        }
        default:
            return -1;
        }
    }
    return static_cast<long>(o - out);
}

bool parse_json_int(const JsonSpan &span, int64_t *value) noexcept {
    if (span.kind != JsonKind::Number || span.len == 0)
        return false;
    const char *p = span.data;
    const char *end = p + span.len;
    const bool negative = *p == '-';
    if (negative && ++p == end)
        return false;
    if (*p == '0' && end - p > 1)
        return false; // JSON has no leading zeros
    // Accumulated negatively: INT64_MIN has no positive counterpart.
    int64_t acc = 0;
    for (; p < end; ++p) {
        if (*p < '0' || *p > '9')
            return false;
        const int digit = *p - '0';
        if (acc < (INT64_MIN + digit) / 10)
            return false;
        acc = acc * 10 - digit;
    }
    if (!negative) {
        if (acc == INT64_MIN)
            return false;
        acc = -acc;
    }
    *value = acc;
    return true;
}

} // namespace bemi
