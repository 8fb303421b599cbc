// Application context carried by "_bemi" logical messages, validated once per message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bemi {

// Bytes of a bad payload quoted in its marker.
constexpr size_t kInvalidContextExcerptBytes = 64;
// normalize_context() never returns more than payload size + this many bytes, so callers can
// size their buffer before calling it.
constexpr size_t kInvalidContextMarkerMaxBytes = 1024;
// Deeper nesting is refused: nothing legitimate needs it, and it bounds the work per message.
constexpr int kMaxContextDepth = 64;

struct ContextCheck {
    bool valid;
    const char *reason; // why not, when !valid; a static string
};

// Is the payload a JSON object that jsonb accepts (UTF-8, no \u0000, nesting <= kMaxContextDepth)
// and at most max_bytes long?
ContextCheck check_context(std::string_view payload, size_t max_bytes);

// The single-line JSON object to record for a payload: the payload itself (line breaks, which
// JSON allows only as whitespace, turned into spaces) when it is valid, otherwise
//   {"_invalid_context":"<first bytes, as valid UTF-8>","_invalid_context_reason":"<why>"}
// so a bad message is visible in every change it covers and never stops decoding.
std::string normalize_context(std::string_view payload, size_t max_bytes);

// Appends at most max_bytes of s to out as valid UTF-8: invalid sequences and NUL become
// U+FFFD and a character is never cut in half.
void append_utf8_excerpt(std::string &out, std::string_view s, size_t max_bytes);

} // namespace bemi
