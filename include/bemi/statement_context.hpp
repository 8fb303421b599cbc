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

// Reads the first /*Bemi ... Bemi*/ comment of a statement. The JSON object inside is taken as
// written or, failing that, in the escaped form bemi-django sends (percent-encoded with
// urllib.parse.quote, then every % doubled for the driver's parameter substitution). A comment
// that is neither, or longer than max_bytes, gives an Invalid marker
// {"_invalid_comment":"<first bytes>","_invalid_comment_reason":"<why>"} and never an error.
CommentContext read_comment_context(std::string_view statement, size_t max_bytes);

// Percent-decoding as urllib.parse.unquote does for %XX sequences; other bytes are kept.
std::string percent_decode(std::string_view s);

// The message: members of context (a JSON object, or empty for none), then the comment's
// members, which win on conflict, then "SQL": sql when include_sql. A "SQL" key that came from
// the client (context or comment) is kept as "client_SQL", so "SQL" is always what the server
// ran. context and a Valid/Invalid comment object must be valid JSON objects.
std::string build_context_message(std::string_view context, const CommentContext &comment, std::string_view sql,
                                  bool include_sql);

// An upper bound of build_context_message's length, so callers can size a buffer first.
size_t context_message_bound(size_t context_len, size_t comment_len, size_t sql_len);

constexpr char kClientSqlKey[] = "client_SQL";

} // namespace bemi
