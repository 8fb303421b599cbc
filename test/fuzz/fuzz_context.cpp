// The context validator (src/core/context.cpp): what it accepts is a JSON object, and what
// normalize_context returns is always one single-line JSON object of bounded size.
#include <cstddef>
#include <cstdint>
#include <string>

#include "bemi/context.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    // The first byte picks the size limit, so both outcomes of the size check are reached.
    const size_t max_bytes = data[0] < 128 ? 65536 : data[0];
    const std::string payload(reinterpret_cast<const char *>(data + 1), size - 1);

    const bemi::ContextCheck check = bemi::check_context(payload, max_bytes);
    if (check.valid) {
        FUZZ_CHECK(payload.size() <= max_bytes);
        FUZZ_CHECK(fuzz::is_object(payload));
    } else {
        FUZZ_CHECK(check.reason != nullptr);
    }

    const std::string normalized = bemi::normalize_context(payload, max_bytes);
    FUZZ_CHECK(normalized.size() <= payload.size() + bemi::kInvalidContextMarkerMaxBytes);
    FUZZ_CHECK(normalized.find('\n') == std::string::npos);
    FUZZ_CHECK(normalized.find('\r') == std::string::npos);
    bool beyond_double = false;
    FUZZ_CHECK(fuzz::is_object(normalized, &beyond_double));
    if (!beyond_double) {
        const nlohmann::json object = fuzz::parse(normalized);
        FUZZ_CHECK(check.valid != object.contains("_invalid_context"));
        if (check.valid)
            FUZZ_CHECK(object == fuzz::parse(payload));
    }

    std::string excerpt;
    bemi::append_utf8_excerpt(excerpt, payload, bemi::kInvalidContextExcerptBytes);
    FUZZ_CHECK(excerpt.size() <= bemi::kInvalidContextExcerptBytes);
    FUZZ_CHECK(fuzz::valid_utf8(excerpt));
    return 0;
}
