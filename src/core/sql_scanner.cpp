#include "bemi/sql_scanner.hpp"

namespace bemi {

namespace {

bool is_ascii_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
// ident_start and ident_cont of scan.l; a dollar-quote tag is made of ident_cont less '$'.
bool is_ident_start(unsigned char c) { return is_ascii_letter(c) || c == '_' || c >= 0x80; }
bool is_tag_char(unsigned char c) { return is_ident_start(c) || is_digit(c); }
bool is_ident_char(unsigned char c) { return is_tag_char(c) || c == '$'; }

constexpr const char *kKindNames[] = {"end",    "space",         "line comment",      "block comment", "string",
                                      "dollar string", "quoted identifier", "semicolon", "other"};

} // namespace

const char *sql_span_kind_name(SqlSpanKind kind) { return kKindNames[static_cast<int>(kind)]; }

SqlSpan SqlScanner::next() noexcept {
    const size_t n = text_.size();
    const size_t b = pos_;
    if (b >= n)
        return {SqlSpanKind::End, n, n, true};
    auto at = [&](size_t i) -> unsigned char { return i < n ? static_cast<unsigned char>(text_[i]) : 0; };
    auto span = [&](SqlSpanKind kind, size_t end, bool terminated = true) {
        pos_ = end < n ? end : n;
        return SqlSpan{kind, b, pos_, terminated};
    };
    // A literal whose body starts at i: '' doubles a quote; with escapes a backslash hides the next byte.
    auto quoted = [&](size_t i, bool backslash_escapes) {
        while (i < n) {
            const char ch = text_[i];
            if (backslash_escapes && ch == '\\') {
                i += 2;
            } else if (ch == '\'') {
                if (at(i + 1) != '\'')
                    return span(SqlSpanKind::String, i + 1);
                i += 2;
            } else {
                ++i;
            }
        }
        return span(SqlSpanKind::String, n, false);
    };
    auto identifier = [&](size_t i) {
        while (i < n) {
            if (text_[i] == '"') {
                if (at(i + 1) != '"')
                    return span(SqlSpanKind::QuotedIdentifier, i + 1);
                i += 2;
            } else {
                ++i;
            }
        }
        return span(SqlSpanKind::QuotedIdentifier, n, false);
    };

    const unsigned char c = at(b);
    if (is_sql_space(static_cast<char>(c))) {
        size_t i = b + 1;
        while (i < n && is_sql_space(text_[i]))
            ++i;
        return span(SqlSpanKind::Space, i);
    }
    if (c == '-' && at(b + 1) == '-') {
        size_t i = b + 2;
        while (i < n && text_[i] != '\n' && text_[i] != '\r')
            ++i;
        return span(SqlSpanKind::LineComment, i);
    }
    if (c == '/' && at(b + 1) == '*') {
        int depth = 0;
        size_t i = b + 2;
        while (i < n) {
            if (text_[i] == '/' && at(i + 1) == '*') {
                ++depth;
                i += 2;
            } else if (text_[i] == '*' && at(i + 1) == '/') {
                if (depth == 0)
                    return span(SqlSpanKind::BlockComment, i + 2);
                --depth;
                i += 2;
            } else {
                ++i;
            }
        }
        return span(SqlSpanKind::BlockComment, n, false);
    }
    if (c == '\'')
        return quoted(b + 1, !standard_strings_);
    if (c == '"')
        return identifier(b + 1);
    if (c == ';')
        return span(SqlSpanKind::Semicolon, b + 1);
    if (c == '$') {
        size_t i = b + 1;
        if (is_digit(at(i))) { // a parameter, $1
            while (is_digit(at(i)))
                ++i;
            return span(SqlSpanKind::Other, i);
        }
        if (is_ident_start(at(i)))
            while (is_tag_char(at(i)))
                ++i;
        if (at(i) == '$') {
            // The body ends at the first occurrence of the same delimiter: every '$' of the body
            // is where the server's scanner tries the delimiter again.
            const std::string_view delimiter = text_.substr(b, i + 1 - b);
            const size_t close = text_.find(delimiter, i + 1);
            if (close == std::string_view::npos)
                return span(SqlSpanKind::DollarString, n, false);
            return span(SqlSpanKind::DollarString, close + delimiter.size());
        }
        return span(SqlSpanKind::Other, b + 1); // a lone '$' (the word after it comes next)
    }
    if (is_ident_start(c)) {
        const unsigned char lower = is_ascii_letter(c) ? static_cast<unsigned char>(c | 0x20) : 0;
        const unsigned char second = at(b + 1);
        if (second == '\'') {
            if (lower == 'e')
                return quoted(b + 2, true);
            if (lower == 'b' || lower == 'x')
                return quoted(b + 2, false);
            if (lower == 'n') // NCHAR, then an ordinary string
                return quoted(b + 2, !standard_strings_);
        }
        if (lower == 'u' && second == '&') {
            // U&'' is refused by the server when standard_conforming_strings is off, so its
            // body never takes backslash escapes; the escapes are decoded after scanning.
            if (at(b + 2) == '\'')
                return quoted(b + 3, false);
            if (at(b + 2) == '"')
                return identifier(b + 3);
        }
        size_t i = b + 1;
        while (is_ident_char(at(i)))
            ++i;
        return span(SqlSpanKind::Other, i);
    }
    if (is_digit(c)) {
        // Digits only: in PostgreSQL 14 "1e'x'" is the number 1 and then the string e'x'
        // (15 and later refuse it as trailing junk), so what follows starts a new span.
        size_t i = b + 1;
        while (is_digit(at(i)))
            ++i;
        return span(SqlSpanKind::Other, i);
    }
    return span(SqlSpanKind::Other, b + 1);
}

} // namespace bemi
