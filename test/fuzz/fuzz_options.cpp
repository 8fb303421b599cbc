// The option parser (src/core/options.cpp): any list of options either parses or is refused
// with an OptionError that carries a message and a hint, never anything else.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "bemi/options.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // One option per line: "name=value", or "name" for an option given without a value.
    const std::string input(reinterpret_cast<const char *>(data), size);
    bemi::RawOptions raw;
    size_t start = 0;
    while (start <= input.size()) {
        size_t end = input.find('\n', start);
        if (end == std::string::npos)
            end = input.size();
        const std::string line = input.substr(start, end - start);
        const size_t eq = line.find('=');
        if (eq == std::string::npos)
            raw.emplace_back(line, std::nullopt);
        else
            raw.emplace_back(line.substr(0, eq), line.substr(eq + 1));
        start = end + 1;
    }
    try {
        const bemi::Options options = bemi::parse_options(raw);
        (void)options;
    } catch (const bemi::OptionError &e) {
        FUZZ_CHECK(e.what()[0] != '\0');
        FUZZ_CHECK(!e.hint().empty());
    }
    FUZZ_CHECK(bemi::valid_options_hint() != nullptr);
    return 0;
}
