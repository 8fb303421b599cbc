// Reading the top-level members of a JSON object without a DOM, so that values are copied
// byte for byte (numbers keep every digit) when contexts are merged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bemi {

struct JsonMember {
    std::string key;           // decoded
    std::string_view raw_key;  // as written, with its quotes
    std::string_view raw_value;
};

// The members of a JSON object, in order. The text must already be known to be a valid JSON
// object (see check_context); throws std::invalid_argument if it is not even shaped like one.
std::vector<JsonMember> object_members(std::string_view object);

// Decodes the body of a JSON string (without quotes): escapes, \u sequences and surrogate pairs.
std::string decode_json_string(std::string_view body);

} // namespace bemi
