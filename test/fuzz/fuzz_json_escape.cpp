// The JSON escaper (include/bemi/json_escape.hpp): its output is a JSON string that decodes to
// the input byte for byte, the word-at-a-time scan agrees with the byte-by-byte reference, and
// is_json_number agrees with a JSON parser.
#include <cstddef>
#include <cstdint>
#include <string>

#include "bemi/json_escape.hpp"
#include "fuzz_util.hpp"

namespace {
struct StringSink {
    std::string &s;
    void append(const char *p, size_t n) { s.append(p, n); }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string input(reinterpret_cast<const char *>(data), size);

    std::string fast, reference;
    StringSink fast_sink{fast}, reference_sink{reference};
    bemi::append_json_string(fast_sink, input.data(), input.size());
    reference_sink.append("\"", 1);
    bemi::detail::append_json_escaped_bytewise(reference_sink, input.data(), input.size());
    reference_sink.append("\"", 1);
    FUZZ_CHECK(fast == reference);

    const nlohmann::json parsed = fuzz::parse(fast);
    if (fuzz::valid_utf8(input)) {
        FUZZ_CHECK(parsed.is_string());
        FUZZ_CHECK(parsed.get<std::string>() == input);
    } else {
        FUZZ_CHECK(parsed.is_discarded()); // only the input's own bytes can be invalid
    }
    for (char c : fast)
        FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20);

    // Line breaks become spaces; nothing else changes.
    std::string single;
    StringSink single_sink{single};
    bemi::append_json_single_line(single_sink, input.data(), input.size());
    FUZZ_CHECK(single.size() == input.size());
    for (size_t i = 0; i < input.size(); ++i)
        FUZZ_CHECK(single[i] == ((input[i] == '\n' || input[i] == '\r') ? ' ' : input[i]));

    // is_json_number accepts exactly the JSON numbers (no surrounding whitespace).
    const bool number = bemi::is_json_number(input.data(), input.size());
    // A number beyond a double's range is still a JSON number (nlohmann/json refuses it, 406).
    // (It throws that before it looks at what follows the number: only a parse proves one.)
    bool parsed_number = false, beyond_double = false;
    try {
        parsed_number = nlohmann::json::parse(input).is_number();
    } catch (const nlohmann::json::out_of_range &e) {
        beyond_double = e.id == 406;
    } catch (const nlohmann::json::exception &) {
    }
    // (nlohmann/json stops at a NUL byte as at the end of its input.)
    const bool has_space = input.find_first_of(std::string(" \t\n\r\0", 5)) != std::string::npos;
    if (number)
        FUZZ_CHECK(parsed_number || beyond_double);
    else if (!has_space && !input.empty())
        FUZZ_CHECK(!parsed_number);
    return 0;
}
