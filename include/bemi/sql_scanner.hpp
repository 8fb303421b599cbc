// A scanner that splits SQL text into the spans PostgreSQL's own scanner (scan.l) sees:
// whitespace, comments, string literals, quoted identifiers and everything else. It does not
// parse; it only has to agree with the server on where a literal or comment starts and ends,
// so that text inside a literal is never taken for a comment (and so for a /*Bemi*/ marker).
//
// Rules followed (PostgreSQL 15's scan.l; 14-18 agree on all of them):
//   -- to the end of the line; /* */ comments nest; '' doubles a quote in every string;
//   E'' takes backslash escapes (a backslash hides the next byte, so \' does not end it);
//   '' (and N'') takes them too when standard_conforming_strings is off; B'', X'' and U&''
//   never do; $tag$ ... $tag$ is opaque; "" and U&"" are identifiers with "" doubling. A prefix
//   letter counts only at the start of a word ("xE'a'" is the word xE, then a string), and a
//   word may contain '$' ("a$$" is one word, not a dollar quote). '/*' and '--' start a comment
//   even inside a run of operator characters. Bytes >= 0x80 are word characters: every server
//   encoding keeps ASCII bytes out of its multibyte characters.
#pragma once

#include <cstddef>
#include <string_view>

namespace bemi {

enum class SqlSpanKind {
    End,              // no more text
    Space,            // whitespace
    LineComment,      // -- ... (without its newline)
    BlockComment,     // /* ... */, nested comments included
    String,           // '...', E'...', N'...', B'...', X'...', U&'...'
    DollarString,     // $tag$...$tag$
    QuotedIdentifier, // "..." or U&"..."
    Semicolon,        // ;
    Other,            // a word, a number, a parameter, an operator character, ...
};

// The name of a kind, for tests and messages.
const char *sql_span_kind_name(SqlSpanKind kind);

struct SqlSpan {
    SqlSpanKind kind;
    size_t begin;    // offsets into the scanned text
    size_t end;
    bool terminated; // false: a comment, string or identifier still open at the end of the text
};

class SqlScanner {
public:
    // Scans text from offset start, which must be a token boundary (a statement start is one).
    SqlScanner(std::string_view text, bool standard_conforming_strings, size_t start = 0) noexcept
        : text_(text), standard_strings_(standard_conforming_strings), pos_(start < text.size() ? start : text.size()) {}

    // The next span; kind End (and begin == end == text size) when the text is exhausted.
    SqlSpan next() noexcept;

private:
    std::string_view text_;
    bool standard_strings_;
    size_t pos_;
};

// Whitespace as the scanner has it (space, \t, \n, \r, \f, and \v, which PostgreSQL 16 added
// and which 15 accepts nowhere outside literals and comments).
inline bool is_sql_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

} // namespace bemi
