#include "bemi/context.hpp"

#include <nlohmann/json.hpp>

#include "bemi/json_escape.hpp"

namespace bemi {

namespace {

using json = nlohmann::json;

// Validates without building a DOM: the payload's own text is what gets recorded, so numbers
// keep every digit and no time is spent re-serializing.
class ContextValidator : public nlohmann::json_sax<json> {
public:
    const char *reason = nullptr;

    bool null() override { return value(); }
    bool boolean(bool) override { return value(); }
    bool number_integer(number_integer_t) override { return value(); }
    bool number_unsigned(number_unsigned_t) override { return value(); }
    // nlohmann reads a float into a double (1e-999999 silently becomes 0); jsonb reads it
    // into numeric: check the number's own text against numeric's limits.
    bool number_float(number_float_t, const string_t &s) override { return value() && fits_numeric(s); }
    bool string(string_t &s) override { return value() && no_nul(s); }
    bool binary(binary_t &) override { return fail("binary values are not JSON"); }
    bool key(string_t &s) override { return no_nul(s); }
    bool start_object(std::size_t) override { return open(); }
    bool start_array(std::size_t) override {
        if (depth_ == 0)
            return fail("not a JSON object");
        return open();
    }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }
    bool parse_error(std::size_t position, const std::string &token, const nlohmann::detail::exception &e) override {
        // 406: a well-formed number beyond double's range, which jsonb (numeric) accepts.
        if (e.id == 406 && position >= token.size()) {
            if (!fits_numeric(token))
                return false;
            overflow_end = position;
            overflow_length = token.size();
            return false;
        }
        return fail("not valid JSON (or not valid UTF-8)");
    }

    size_t overflow_end = 0; // set when parsing stopped at such a number
    size_t overflow_length = 0;

private:
    int depth_ = 0;

    bool fail(const char *why) {
        if (!reason)
            reason = why;
        return false;
    }
    bool value() { return depth_ > 0 || fail("not a JSON object"); }
    bool fits_numeric(const std::string &number) {
        return json_number_fits_numeric(number.data(), number.size()) ||
               fail("a number beyond numeric's range (131072 digits before the point, 16383 after), "
                    "which jsonb cannot store");
    }
    bool no_nul(const string_t &s) {
        return s.find('\0') == string_t::npos || fail("contains \\u0000, which jsonb cannot store");
    }
    bool open() {
        if (++depth_ > kMaxContextDepth)
            return fail("nested too deeply");
        return true;
    }
    bool close() {
        --depth_;
        return true;
    }
};

struct StringSink {
    std::string &s;
    void append(const char *p, size_t n) { s.append(p, n); }
};

} // namespace

ContextCheck check_context(std::string_view payload, size_t max_bytes) {
    if (payload.size() > max_bytes)
        return {false, "larger than max-context-bytes"};
    // nlohmann's lexer takes a NUL byte for the end of input (so "{}\0junk" would pass) and
    // skips a leading UTF-8 BOM; neither is JSON, jsonb rejects both, and copying them into a
    // record would break it. Refuse them before the parser can overlook them.
    if (payload.find('\0') != std::string_view::npos || payload.substr(0, 3) == "\xEF\xBB\xBF")
        return {false, "not valid JSON (or not valid UTF-8)"};
    // The parser stops at a number too large for a double. Such a number is still valid
    // JSON, so validate again with it replaced by a zero of the same length; a few of them
    // are tolerated, beyond that the payload is refused rather than parsed over and over.
    constexpr int kMaxHugeNumbers = 8;
    std::string patched;
    std::string_view text = payload;
    for (int attempt = 0; attempt <= kMaxHugeNumbers; ++attempt) {
        ContextValidator v;
        if (json::sax_parse(text.begin(), text.end(), &v))
            return {true, nullptr};
        if (v.reason || v.overflow_length == 0)
            return {false, v.reason ? v.reason : "not valid JSON"};
        if (patched.empty())
            patched.assign(payload);
        patched.replace(v.overflow_end - v.overflow_length, v.overflow_length,
                        "0" + std::string(v.overflow_length - 1, ' '));
        text = patched;
    }
    return {false, "too many numbers beyond double precision range"};
}

void append_utf8_excerpt(std::string &out, std::string_view s, size_t max_bytes) {
    static constexpr char kReplacement[] = "\xEF\xBF\xBD";
    size_t used = 0;
    for (size_t i = 0; i < s.size();) {
        size_t n = detail::utf8_sequence_length(s.data(), s.size(), i);
        const char *piece = n ? s.data() + i : kReplacement;
        size_t piece_len = n ? n : 3;
        if (used + piece_len > max_bytes)
            break;
        out.append(piece, piece_len);
        used += piece_len;
        i += n ? n : 1;
    }
}

std::string normalize_context(std::string_view payload, size_t max_bytes) {
    std::string out;
    StringSink sink{out};
    ContextCheck check = check_context(payload, max_bytes);
    if (check.valid) {
        out.reserve(payload.size());
        append_json_single_line(sink, payload.data(), payload.size());
        return out;
    }
    std::string excerpt;
    append_utf8_excerpt(excerpt, payload, kInvalidContextExcerptBytes);
    out.append("{\"_invalid_context\":");
    append_json_string(sink, excerpt.data(), excerpt.size());
    out.append(",\"_invalid_context_reason\":");
    append_json_string(sink, check.reason, std::char_traits<char>::length(check.reason));
    out.append("}");
    return out;
}

} // namespace bemi
