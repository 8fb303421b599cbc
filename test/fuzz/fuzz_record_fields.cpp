// The worker's reading of records (record_fields): every span lies inside the text; on a JSON
// object whose keys are all the record's, the split succeeds and agrees with a JSON parser —
// each field's type, each string unescaped (or refused only for escapes above \u007F), each
// integer's value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "bemi/record_fields.hpp"
#include "fuzz_util.hpp"

namespace {

bool known_keys_only(const nlohmann::json &object) {
    for (auto it = object.begin(); it != object.end(); ++it) {
        bool known = false;
        for (size_t k = 0; k < bemi::kRecordKeys; ++k)
            known = known || it.key() == bemi::record_key_name(static_cast<bemi::RecordKey>(k));
        if (!known)
            return false;
    }
    return true;
}

bemi::JsonKind kind_of(const nlohmann::json &v) {
    if (v.is_string())
        return bemi::JsonKind::String;
    if (v.is_number())
        return bemi::JsonKind::Number;
    if (v.is_object())
        return bemi::JsonKind::Object;
    if (v.is_array())
        return bemi::JsonKind::Array;
    if (v.is_null())
        return bemi::JsonKind::Null;
    return v.get<bool>() ? bemi::JsonKind::True : bemi::JsonKind::False;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);
    bemi::RecordFields fields;
    const bool split = bemi::split_record(text.data(), text.size(), &fields);
    for (const bemi::JsonSpan &span : fields.field) {
        if (span.kind == bemi::JsonKind::Missing)
            continue;
        FUZZ_CHECK(span.data >= text.data() && span.data + span.len <= text.data() + text.size());
        std::string out(span.len, '\0');
        const long n = bemi::unescape_json_string(span.data, span.len, &out[0]);
        FUZZ_CHECK(n <= static_cast<long>(span.len));
    }

    // Records are text (no NUL byte), which nlohmann/json takes as the end of its input.
    bool beyond_double = false;
    if (text.find('\0') != std::string::npos || !fuzz::is_object(text, &beyond_double) || beyond_double)
        return 0;
    const nlohmann::json object = fuzz::parse(text);
    if (!known_keys_only(object))
        return 0;
    FUZZ_CHECK(split);
    for (size_t k = 0; k < bemi::kRecordKeys; ++k) {
        const bemi::JsonSpan &span = fields.field[k];
        const char *name = bemi::record_key_name(static_cast<bemi::RecordKey>(k));
        if (!object.contains(name)) {
            FUZZ_CHECK(span.kind == bemi::JsonKind::Missing);
            continue;
        }
        const nlohmann::json &value = object[name];
        FUZZ_CHECK(span.kind == kind_of(value));
        if (value.is_string()) {
            std::string out(span.len, '\0');
            const long n = bemi::unescape_json_string(span.data, span.len, &out[0]);
            const std::string expected = value.get<std::string>();
            if (n >= 0)
                FUZZ_CHECK(out.substr(0, static_cast<size_t>(n)) == expected);
            else
                FUZZ_CHECK(std::string(span.data, span.len).find("\\u") != std::string::npos);
        }
        int64_t parsed = 0;
        if (bemi::parse_json_int(span, &parsed))
            FUZZ_CHECK(value.is_number_integer() && value == parsed);
    }
    return 0;
}
