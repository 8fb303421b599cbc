#include "bemi/options.hpp"

#include <cerrno>
#include <cstdlib>
#include <string_view>

namespace bemi {

namespace {

constexpr size_t kMinContextBytes = 2;               // "{}"
constexpr size_t kMaxContextBytes = 64 * 1024 * 1024; // far below a message's own limit

bool parse_bool(const std::string &name, const std::optional<std::string> &value) {
    if (!value)
        return true;
    std::string v;
    for (char c : *value)
        v.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    if (v == "true" || v == "on" || v == "yes" || v == "1" || v == "t")
        return true;
    if (v == "false" || v == "off" || v == "no" || v == "0" || v == "f")
        return false;
    throw OptionError("invalid value \"" + *value + "\" for option \"" + name + "\"",
                      "Use a boolean: true, false, on, off, 1 or 0.");
}

const std::string &require_value(const std::string &name, const std::optional<std::string> &value,
                                  const char *example) {
    if (!value)
        throw OptionError("option \"" + name + "\" needs a value", std::string("For example: ") + example);
    return *value;
}

size_t parse_size(const std::string &name, const std::string &value, size_t lo, size_t hi) {
    const std::string hint = "Use a whole number of bytes from " + std::to_string(lo) + " to " +
                             std::to_string(hi) + ".";
    if (value.empty() || value[0] < '0' || value[0] > '9')
        throw OptionError("invalid value \"" + value + "\" for option \"" + name + "\"", hint);
    errno = 0;
    char *end = nullptr;
    unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || n < lo || n > hi)
        throw OptionError("invalid value \"" + value + "\" for option \"" + name + "\"", hint);
    return static_cast<size_t>(n);
}

std::vector<TablePattern> parse_patterns(const std::string &name, const std::optional<std::string> &value) {
    const std::string &v = require_value(name, value, "'public.*, audit.events'");
    try {
        return TableFilter::parse_list(v);
    } catch (const std::invalid_argument &e) {
        throw OptionError(std::string("invalid value for option \"") + name + "\": " + e.what(),
                          "List schema.table patterns separated by commas; * matches any characters "
                          "and \\ escapes the next one.");
    }
}

} // namespace

const char *valid_options_hint() {
    return "Valid options are: include-tables, exclude-tables, include-transaction, include-messages, "
           "max-context-bytes.";
}

Options parse_options(const RawOptions &raw) {
    Options o;
    for (const auto &[name, value] : raw) {
        if (name == "include-tables")
            o.tables.include(parse_patterns(name, value));
        else if (name == "exclude-tables")
            o.tables.exclude(parse_patterns(name, value));
        else if (name == "include-transaction")
            o.include_transaction = parse_bool(name, value);
        else if (name == "include-messages")
            o.include_messages = parse_bool(name, value);
        else if (name == "max-context-bytes")
            o.max_context_bytes =
                parse_size(name, require_value(name, value, "'65536'"), kMinContextBytes, kMaxContextBytes);
        else
            throw OptionError("unrecognized option \"" + name + "\"",
                              valid_options_hint());
    }
    return o;
}

} // namespace bemi
