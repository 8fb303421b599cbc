// Shared helpers of the libFuzzer targets (make fuzz). A failed check aborts, which libFuzzer
// reports with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

namespace fuzz {

// Is s valid UTF-8 (as nlohmann/json, which refuses to write anything else, sees it)?
inline bool valid_utf8(const std::string &s) {
    try {
        (void)nlohmann::json(s).dump();
        return true;
    } catch (const nlohmann::json::exception &) {
        return false;
    }
}

// s parsed as JSON, or a discarded value.
inline nlohmann::json parse(const std::string &s) { return nlohmann::json::parse(s, nullptr, false); }

// Is s a JSON object? nlohmann/json holds numbers as doubles and refuses those beyond their
// range (1e400), which JSON and jsonb (numeric) allow: such text counts as an object when it
// is one in every other respect (say *beyond_double tells so).
inline bool is_object(const std::string &s, bool *beyond_double = nullptr) {
    if (beyond_double)
        *beyond_double = false;
    try {
        return nlohmann::json::parse(s).is_object();
    } catch (const nlohmann::json::out_of_range &e) {
        if (e.id != 406)
            return false;
        if (beyond_double)
            *beyond_double = true;
        const size_t first = s.find_first_not_of(" \t\n\r");
        return first != std::string::npos && s[first] == '{';
    } catch (const nlohmann::json::exception &) {
        return false;
    }
}

} // namespace fuzz
