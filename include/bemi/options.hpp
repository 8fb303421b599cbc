// Output plugin options, parsed and validated once when decoding starts.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bemi/table_filter.hpp"

namespace bemi {

struct Options {
    TableFilter tables;
    bool include_transaction = false; // BEGIN/COMMIT records around each emitted transaction
    bool include_messages = false;    // logical messages whose prefix is not "_bemi"
    size_t max_context_bytes = 65536; // larger context payloads are recorded as invalid
};

// An option the user got wrong: message names it, hint says what is accepted.
class OptionError : public std::runtime_error {
public:
    OptionError(const std::string &message, std::string hint)
        : std::runtime_error(message), hint_(std::move(hint)) {}
    const std::string &hint() const { return hint_; }

private:
    std::string hint_;
};

// name -> value; a value is absent when the option was given without one ("include-messages").
using RawOptions = std::vector<std::pair<std::string, std::optional<std::string>>>;

// Throws OptionError on an unknown option or a bad value.
Options parse_options(const RawOptions &raw);

// The hint listing every valid option, for error messages.
const char *valid_options_hint();

} // namespace bemi
