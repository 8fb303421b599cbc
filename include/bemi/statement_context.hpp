// The context message of a statement: the session's (or transaction's) context, the keys of a
// /*Bemi {...} Bemi*/ comment in the statement, and the statement itself under "SQL".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bemi {

struct CommentContext {
    enum class Kind { None, Valid, Invalid };
    Kind kind = Kind::None;
    std::string object;          // Valid: the comment's JSON object; Invalid: a marker object
    const char *reason = nullptr; // Invalid: why (a static string)
};

// One statement of a query string, as the server parsed it, and its /*Bemi ... Bemi*/ marker.
//
// The marker counts only as a real comment (never inside a literal, a quoted identifier or
// another comment, as PostgreSQL's scanner sees them: see sql_scanner.hpp) that ends the
// statement, as the ORM packages append it: after it come only whitespace and ';'. The
// statement's extent runs from its location to the next statement's location (just after its
// ';') or, when no statement follows, to the end of the query string, so a marker after the
// final ';' belongs to the last statement.
struct StatementText {
    enum class Marker {
        None,         // no marker ends the statement
        Closed,       // /*Bemi <body> Bemi*/
        NotClosed,    // a comment that starts with /*Bemi but does not end with Bemi*/
    };
    std::string_view sql;  // the statement without its marker, trimmed of whitespace
    Marker marker = Marker::None;
    std::string_view body; // the marker's text between /*Bemi and Bemi*/ (or the comment's end)
};

// location and length are the parser's stmt_location and stmt_len: length stops before the
// statement's ';' and is 0 for "the rest of the string"; a location outside source means the
// whole string. standard_conforming_strings decides whether '' strings take backslash
// escapes, as it does for the server's scanner.
StatementText find_statement(std::string_view source, int location, int length,
                             bool standard_conforming_strings) noexcept;

// The context of a marker. Its JSON object is taken as written or, failing that, in the
// escaped form bemi-django sends (percent-encoded with urllib.parse.quote, then every %
// doubled for the driver's parameter substitution). A marker that is neither, has no closing
// Bemi*/, or is longer than max_bytes, gives an Invalid context
// {"_invalid_comment":"<first bytes>","_invalid_comment_reason":"<why>"} and never an error.
CommentContext read_marker(const StatementText &statement, size_t max_bytes);

// find_statement() over a whole single-statement text (standard strings), then read_marker().
CommentContext read_comment_context(std::string_view statement, size_t max_bytes);

// Percent-decoding as urllib.parse.unquote does for %XX sequences; other bytes are kept.
std::string percent_decode(std::string_view s);

// The message: members of context (a JSON object, or empty for none), then the comment's
// members, which win on conflict, then "SQL": sql when include_sql. A "SQL" key that came from
// the client (context or comment) is kept as "client_SQL", so "SQL" is always what the server
// ran. context and a Valid/Invalid comment object must be valid JSON objects.
std::string build_context_message(std::string_view context, const CommentContext &comment, std::string_view sql,
                                  bool include_sql);

// An upper bound of build_context_message's length, so callers can size a buffer first;
// comment_len is the length of the marker's body (StatementText::body).
size_t context_message_bound(size_t context_len, size_t comment_len, size_t sql_len);

constexpr char kClientSqlKey[] = "client_SQL";

} // namespace bemi
