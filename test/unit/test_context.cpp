// Tests for include/bemi/context.hpp: check_context, normalize_context, append_utf8_excerpt.
//
// The marker written for a bad payload is parsed with nlohmann::json here, and its excerpt
// is checked with a UTF-8 validator written independently of the one in src/core.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bemi/context.hpp"

using bemi::append_utf8_excerpt;
using bemi::check_context;
using bemi::kInvalidContextExcerptBytes;
using bemi::kMaxContextDepth;
using bemi::normalize_context;
using json = nlohmann::json;

namespace {

constexpr size_t kBig = 1 << 20;
const char *const kNotJson = "not valid JSON (or not valid UTF-8)";
const char *const kNotObject = "not a JSON object";
const char *const kHasNul = "contains \\u0000, which jsonb cannot store";
const char *const kTooDeep = "nested too deeply";
const char *const kTooLarge = "larger than max-context-bytes";
const std::string kReplacement = "\xEF\xBF\xBD"; // U+FFFD

// RFC 3629 UTF-8 check by decoding code points: rejects overlong forms, surrogates,
// values above U+10FFFF, truncated sequences and stray continuation bytes. NUL is valid.
bool valid_utf8(const std::string &s) {
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        int extra;
        uint32_t cp, min;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + extra >= s.size()) // truncated
            return false;
        for (int k = 1; k <= extra; ++k) {
            const unsigned char cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
    }
    return true;
}

std::string excerpt(const std::string &s, size_t max_bytes) {
    std::string out;
    append_utf8_excerpt(out, s, max_bytes);
    return out;
}

struct Marker {
    std::string excerpt;
    std::string reason;
};

// Parses normalize_context's output for an invalid payload and checks the marker's shape:
// valid JSON, on one line, exactly the two keys, and an excerpt that is valid UTF-8 of at
// most kInvalidContextExcerptBytes bytes.
Marker marker_of(const std::string &payload, size_t max_bytes = kBig) {
    const std::string out = normalize_context(payload, max_bytes);
    INFO("normalized: " << out);
    CHECK(out.find('\n') == std::string::npos);
    CHECK(out.find('\r') == std::string::npos);
    CHECK(out.find('\0') == std::string::npos);
    json j;
    REQUIRE_NOTHROW(j = json::parse(out));
    REQUIRE(j.is_object());
    REQUIRE(j.size() == 2);
    REQUIRE(j.contains("_invalid_context"));
    REQUIRE(j.contains("_invalid_context_reason"));
    REQUIRE(j["_invalid_context"].is_string());
    REQUIRE(j["_invalid_context_reason"].is_string());
    Marker m{j["_invalid_context"].get<std::string>(), j["_invalid_context_reason"].get<std::string>()};
    CHECK(m.excerpt.size() <= kInvalidContextExcerptBytes);
    CHECK(valid_utf8(m.excerpt));
    CHECK(m.excerpt.find('\0') == std::string::npos);
    // The marker must also be accepted where it is going: inside a record.
    CHECK_NOTHROW(json::parse("{\"context\":" + out + "}"));
    // Callers may size their buffer from the payload: the marker stays within the bound.
    CHECK(out.size() <= payload.size() + bemi::kInvalidContextMarkerMaxBytes);
    // Its excerpt is exactly what append_utf8_excerpt makes of the payload.
    CHECK(m.excerpt == excerpt(payload, kInvalidContextExcerptBytes));
    return m;
}

void expect_invalid(const std::string &payload, const char *reason, size_t max_bytes = kBig) {
    INFO("payload (" << payload.size() << " bytes): " << payload);
    const bemi::ContextCheck c = check_context(payload, max_bytes);
    CHECK_FALSE(c.valid);
    REQUIRE(c.reason != nullptr);
    CHECK(std::string(c.reason) == reason);
    const Marker m = marker_of(payload, max_bytes);
    CHECK(m.reason == reason);
}

void expect_valid(const std::string &payload, const std::string &normalized, size_t max_bytes = kBig) {
    INFO("payload: " << payload);
    const bemi::ContextCheck c = check_context(payload, max_bytes);
    CHECK(c.valid);
    CHECK(c.reason == nullptr);
    const std::string out = normalize_context(payload, max_bytes);
    CHECK(out == normalized);
    // Same JSON value as the payload, on one line, and embeddable in a record.
    CHECK(json::parse(out) == json::parse(payload));
    CHECK(out.find('\n') == std::string::npos);
    CHECK_NOTHROW(json::parse("{\"context\":" + out + "}"));
}

std::string nested_objects(int levels) {
    std::string s;
    for (int i = 0; i < levels; ++i)
        s += "{\"a\":";
    s += "1";
    s += std::string(static_cast<size_t>(levels), '}');
    return s;
}

} // namespace

TEST_CASE("the test's own UTF-8 validator", "[context]") {
    CHECK(valid_utf8(""));
    CHECK(valid_utf8("abc"));
    CHECK(valid_utf8(std::string("a\0b", 3)));
    CHECK(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"));
    CHECK_FALSE(valid_utf8("\xff"));
    CHECK_FALSE(valid_utf8("\x80"));
    CHECK_FALSE(valid_utf8("\xc3"));
    CHECK_FALSE(valid_utf8("\xe2\x82"));
    CHECK_FALSE(valid_utf8("\xc0\xaf"));         // overlong '/'
    CHECK_FALSE(valid_utf8("\xe0\x80\xaf"));     // overlong '/'
    CHECK_FALSE(valid_utf8("\xed\xa0\x80"));     // surrogate U+D800
    CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80")); // U+110000
    CHECK_FALSE(valid_utf8("\xc3\x28"));
}

TEST_CASE("valid objects are kept byte for byte", "[context]") {
    expect_valid("{}", "{}");
    expect_valid("{\"user\":\"alice\"}", "{\"user\":\"alice\"}");
    // Insignificant whitespace, key order, duplicate keys: all as given.
    expect_valid("{ \"b\" : 1 ,\t\"a\" : [ 1 , 2 ] }", "{ \"b\" : 1 ,\t\"a\" : [ 1 , 2 ] }");
    expect_valid("  {\"a\":1}  ", "  {\"a\":1}  ");
    // Numbers keep their spelling: 30-digit integers, trailing zeros, exponents, -0.
    expect_valid("{\"id\":123456789012345678901234567890}", "{\"id\":123456789012345678901234567890}");
    expect_valid("{\"id\":-123456789012345678901234567890}", "{\"id\":-123456789012345678901234567890}");
    expect_valid("{\"x\":1.50,\"y\":1E+2,\"z\":-0,\"w\":0.000000000000000000001}",
                 "{\"x\":1.50,\"y\":1E+2,\"z\":-0,\"w\":0.000000000000000000001}");
    // Escapes stay escapes; raw UTF-8 stays raw.
    expect_valid("{\"s\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\"}",
                 "{\"s\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\"}");
    expect_valid("{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}",
                 "{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}");
    // An escaped backslash followed by u0000 is not a NUL.
    expect_valid("{\"a\":\"\\\\u0000\"}", "{\"a\":\"\\\\u0000\"}");
    expect_valid("{\"a\":null,\"b\":true,\"c\":false,\"d\":{\"e\":[{},[],\"\"]}}",
                 "{\"a\":null,\"b\":true,\"c\":false,\"d\":{\"e\":[{},[],\"\"]}}");
}

TEST_CASE("valid objects: line breaks become spaces", "[context]") {
    expect_valid("{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}\n", "{   \"a\": 1,   \"b\": [     2   ] } ");
    expect_valid("{\r\n\"a\":1\r\n}", "{  \"a\":1  }");
    expect_valid("\n{}\r", " {} ");
    // The big integer survives reformatting too.
    expect_valid("{\n\"id\":\n123456789012345678901234567890\n}",
                 "{ \"id\": 123456789012345678901234567890 }");
}

TEST_CASE("size limit", "[context]") {
    const std::string p = "{\"a\":\"" + std::string(100, 'x') + "\"}"; // 108 bytes
    REQUIRE(p.size() == 108);
    expect_valid(p, p, 108);
    expect_valid(p, p, 109);
    expect_invalid(p, kTooLarge, 107);
    expect_valid("{}", "{}", 2);
    expect_invalid("{}", kTooLarge, 1);
    // Size is checked first: even garbage reports being too large.
    expect_invalid("nonsense", kTooLarge, 4);

    // A large payload is quoted only by its first kInvalidContextExcerptBytes bytes.
    const std::string big = "{\"a\":\"" + std::string(10000, 'y') + "\"}";
    const Marker m = marker_of(big, 1000);
    CHECK(m.reason == kTooLarge);
    CHECK(m.excerpt == big.substr(0, kInvalidContextExcerptBytes));
}

TEST_CASE("arrays and scalars are not context objects", "[context]") {
    for (const char *p : {"[]", "[1]", "[{\"a\":1}]", " [ ] ", "1", "-1.5", "123456789012345678901234567890",
                          "\"s\"", "\"{}\"", "null", "true", "false"}) {
        INFO(p);
        expect_invalid(p, kNotObject);
    }
    // The excerpt is the payload itself when short and valid UTF-8.
    CHECK(marker_of("[1,2,3]").excerpt == "[1,2,3]");
    CHECK(marker_of("\"quoted \\\" text\"").excerpt == "\"quoted \\\" text\"");
}

TEST_CASE("invalid JSON", "[context]") {
    for (const char *p : {"", " ", "\n", "{", "}", "{\"a\"", "{\"a\":}", "{\"a\":1,}", "{,}", "{a:1}",
                          "{'a':1}", "{\"a\":1}}", "{}{}", "{} x", "{}[]", "{\"a\":1}/*c*/",
                          "{/*c*/}", "{\"a\":1}//c", "{\"a\":01}", "{\"a\":.5}", "{\"a\":1.}",
                          "{\"a\":+1}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":undefined}",
                          "{\"a\":\"\\x41\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"unterminated}",
                          "{\"a\":\"tab\tinside\"}", "{\"a\":\"nl\ninside\"}", "{\"a\":\"\x01\"}",
                          "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":TRUE}", "{\"a\" 1}",
                          "\x0b{}", "\x0c{}"}) {
        INFO(p);
        expect_invalid(p, kNotJson);
    }
}

TEST_CASE("invalid UTF-8", "[context]") {
    for (const char *p : {"{\"a\":\"\xff\"}", "{\"\xff\":1}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xe0\x80\xaf\"}",
                          "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe2\x82\"}",
                          "{\"a\":\"\x80\"}", "{\"a\":\"\xc3\"}", "{\"a\":1}\xff", "\xff{}",
                          "{\"a\":\"latin1 caf\xe9\"}"}) {
        INFO(p);
        expect_invalid(p, kNotJson);
    }
    // Bad bytes become U+FFFD in the excerpt; the rest is quoted as is.
    CHECK(marker_of("{\"a\":\"\xff\"}").excerpt == "{\"a\":\"" + kReplacement + "\"}");
    CHECK(marker_of("{\"a\":\"caf\xe9\"}").excerpt == "{\"a\":\"caf" + kReplacement + "\"}");
}

TEST_CASE("a UTF-8 byte order mark is not JSON", "[context]") {
    // jsonb rejects it, and a BOM copied into a record would make the record invalid JSON.
    expect_invalid("\xEF\xBB\xBF{}", kNotJson);
    expect_invalid("\xEF\xBB\xBF{\"a\":1}", kNotJson);
    expect_invalid(" \xEF\xBB\xBF{}", kNotJson);
    expect_invalid("{}\xEF\xBB\xBF", kNotJson);
}

TEST_CASE("\\u0000 in a key or value", "[context]") {
    expect_invalid("{\"a\":\"\\u0000\"}", kHasNul);
    expect_invalid("{\"a\":\"x\\u0000y\"}", kHasNul);
    expect_invalid("{\"\\u0000\":1}", kHasNul);
    expect_invalid("{\"k\\u0000\":1}", kHasNul);
    expect_invalid("{\"a\":{\"b\":[1,\"\\u0000\"]}}", kHasNul);
    // Other escaped control characters are fine.
    expect_valid("{\"a\":\"\\u0001\\u001f\"}", "{\"a\":\"\\u0001\\u001f\"}");
}

TEST_CASE("nesting depth", "[context]") {
    REQUIRE(kMaxContextDepth == 64);
    const std::string ok = nested_objects(kMaxContextDepth);
    expect_valid(ok, ok);
    expect_invalid(nested_objects(kMaxContextDepth + 1), kTooDeep);
    expect_invalid(nested_objects(1000), kTooDeep);

    // Arrays count as levels too: one object plus 63 arrays is 64 levels.
    const auto with_arrays = [](int arrays) {
        return "{\"a\":" + std::string(static_cast<size_t>(arrays), '[') +
               std::string(static_cast<size_t>(arrays), ']') + "}";
    };
    expect_valid(with_arrays(kMaxContextDepth - 1), with_arrays(kMaxContextDepth - 1));
    expect_invalid(with_arrays(kMaxContextDepth), kTooDeep);
    // Only depth matters, not the number of containers.
    std::string wide = "{";
    for (int i = 0; i < 500; ++i)
        wide += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":{\"x\":[[]]}";
    wide += "}";
    expect_valid(wide, wide);
    // A deep unterminated payload fails on depth before running out of input.
    expect_invalid("{\"a\":" + std::string(100000, '['), kTooDeep);
}

TEST_CASE("a raw NUL byte never cuts a payload short", "[context]") {
    SECTION("200 bytes with a NUL in the middle") {
        const std::string head = "{\"a\":\"" + std::string(92, 'x') + "\"}"; // 100 bytes
        const std::string tail = "{\"b\":\"" + std::string(91, 'z') + "\"}";  // 99 bytes
        REQUIRE(head.size() == 100);
        REQUIRE(tail.size() == 99);
        const std::string payload = head + std::string(1, '\0') + tail;
        REQUIRE(payload.size() == 200);
        // The prefix alone is a valid object...
        CHECK(check_context(head, kBig).valid);
        // ...but the whole payload is not.
        expect_invalid(payload, kNotJson);
        CHECK(normalize_context(payload, kBig) != head);
    }
    SECTION("a single trailing NUL") {
        const std::string payload = std::string("{\"a\":1}") + '\0';
        expect_invalid(payload, kNotJson);
    }
    SECTION("NUL followed by garbage, and the excerpt shows U+FFFD for it") {
        const std::string payload = std::string("{\"a\":1}") + '\0' + "zz";
        expect_invalid(payload, kNotJson);
        CHECK(marker_of(payload).excerpt == "{\"a\":1}" + kReplacement + "zz");
    }
    SECTION("NUL inside a string or between tokens") {
        expect_invalid(std::string("{\"a\":\"x\0y\"}", 11), kNotJson);
        expect_invalid(std::string("{\"a\0\":1}", 8), kNotJson);
        expect_invalid(std::string("{\"a\":\0 1}", 9), kNotJson);
        expect_invalid(std::string("\0{}", 3), kNotJson);
        expect_invalid(std::string(1, '\0'), kNotJson);
    }
    SECTION("the size limit counts bytes after a NUL") {
        const std::string payload = std::string("{}") + '\0' + std::string(10, ' ');
        expect_invalid(payload, kTooLarge, 5);
    }
}

TEST_CASE("the marker escapes whatever the excerpt holds", "[context]") {
    const std::string payload = "{\"a\":\"q\\\"\\\\ \x01\x1f\t\n";
    const Marker m = marker_of(payload);
    CHECK(m.reason == kNotJson);
    CHECK(m.excerpt == payload); // control characters are valid UTF-8 and kept
    const std::string out = normalize_context(payload, kBig);
    CHECK(out.find("\\u0001") != std::string::npos);
    CHECK(out.find("\\n") != std::string::npos);
}

TEST_CASE("the marker's size is bounded", "[context]") {
    // Worst case for escaping: every excerpt byte becomes \u00XX (6 bytes), and the reason
    // is the longest one. A short payload of control characters makes the bound tightest.
    const std::string controls(kInvalidContextExcerptBytes, '\x01');
    const std::string out = normalize_context(controls, kBig);
    CHECK(out.size() >= 6 * kInvalidContextExcerptBytes);
    CHECK(out.size() <= controls.size() + bemi::kInvalidContextMarkerMaxBytes);
    // An empty or tiny payload too.
    CHECK(normalize_context("", kBig).size() <= bemi::kInvalidContextMarkerMaxBytes);
    CHECK(normalize_context("\"", kBig).size() <= 1 + bemi::kInvalidContextMarkerMaxBytes);
    // And 64 bytes of quotes and backslashes (2 bytes each when escaped).
    const std::string quotes(kInvalidContextExcerptBytes, '"');
    CHECK(normalize_context(quotes, 1).size() <= quotes.size() + bemi::kInvalidContextMarkerMaxBytes);
    // A valid payload comes back the same size.
    const std::string ok = "{\n\"a\": 1\n}";
    CHECK(normalize_context(ok, kBig).size() == ok.size());
}

TEST_CASE("the excerpt is cut at a character boundary", "[context]") {
    const std::string e_acute = "\xc3\xa9"; // 2 bytes
    // 62 + 2 = 64 bytes fit exactly.
    const std::string fits = std::string(62, '[') + e_acute + "]]]";
    CHECK(marker_of(fits).excerpt == std::string(62, '[') + e_acute);
    // 63 + 2 = 65 bytes: the character is dropped whole.
    const std::string over = std::string(63, '[') + e_acute + "]]]";
    CHECK(marker_of(over).excerpt == std::string(63, '['));
    // Four-byte characters from every offset.
    const std::string emoji = "\xf0\x9f\x98\x80";
    for (size_t pad = 0; pad < 8; ++pad) {
        std::string p = std::string(pad, ' ') + "[";
        for (int i = 0; i < 30; ++i)
            p += "\"" + emoji + "\",";
        p += "1]";
        const Marker m = marker_of(p);
        CHECK(m.reason == kNotObject);
        CHECK(p.compare(0, m.excerpt.size(), m.excerpt) == 0); // a prefix of the payload
        CHECK(m.excerpt.size() > kInvalidContextExcerptBytes - 4); // and as long as fits
    }
}

TEST_CASE("append_utf8_excerpt", "[context]") {
    SECTION("ASCII is cut at max_bytes") {
        CHECK(excerpt("abcdefgh", 5) == "abcde");
        CHECK(excerpt("abcdefgh", 8) == "abcdefgh");
        CHECK(excerpt("abcdefgh", 100) == "abcdefgh");
        CHECK(excerpt("abcdefgh", 0) == "");
        CHECK(excerpt("", 10) == "");
    }
    SECTION("it appends to what is already there") {
        std::string out = "prefix:";
        append_utf8_excerpt(out, "abc", 2);
        CHECK(out == "prefix:ab");
    }
    SECTION("multibyte characters are never split") {
        CHECK(excerpt("a\xc3\xa9", 1) == "a");
        CHECK(excerpt("a\xc3\xa9", 2) == "a");
        CHECK(excerpt("a\xc3\xa9", 3) == "a\xc3\xa9");
        CHECK(excerpt("\xe2\x82\xac", 1) == "");
        CHECK(excerpt("\xe2\x82\xac", 2) == "");
        CHECK(excerpt("\xe2\x82\xac", 3) == "\xe2\x82\xac");
        CHECK(excerpt("\xf0\x9f\x98\x80", 3) == "");
        CHECK(excerpt("\xf0\x9f\x98\x80x", 4) == "\xf0\x9f\x98\x80");
        CHECK(excerpt("\xf4\x8f\xbf\xbf", 4) == "\xf4\x8f\xbf\xbf"); // U+10FFFF
        // Stops at the first character that does not fit, even if a later one would.
        CHECK(excerpt("\xe2\x82\xac" "a", 2) == "");
    }
    SECTION("invalid bytes and NUL become U+FFFD") {
        CHECK(excerpt("\xff", 3) == kReplacement);
        CHECK(excerpt("\xff", 2) == ""); // the replacement does not fit either
        CHECK(excerpt("a\xff" "b", 10) == "a" + kReplacement + "b");
        CHECK(excerpt(std::string("a\0b", 3), 10) == "a" + kReplacement + "b");
        CHECK(excerpt("\xc0\xaf", 10).find(kReplacement) == 0);         // overlong
        CHECK(excerpt("\xed\xa0\x80", 10).find(kReplacement) == 0);     // surrogate
        CHECK(excerpt("\xf4\x90\x80\x80", 10).find(kReplacement) == 0); // > U+10FFFF
        CHECK(excerpt("\xe2\x82", 10).find(kReplacement) == 0);         // truncated
        CHECK(excerpt("\x80x", 10) == kReplacement + "x");              // stray continuation
        // Control characters other than NUL are valid UTF-8 and kept.
        CHECK(excerpt("\x01\x1f\x7f", 10) == "\x01\x1f\x7f");
    }
    SECTION("for any input and limit: valid UTF-8, within the limit, maximal") {
        const std::vector<std::string> inputs = {
            "plain ascii text",
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac",
            std::string("nul\0in\0side", 11),
            "bad \xff\xfe bytes \xc3 \xe2\x82 \xed\xa0\x80 \xf8\x88\x80\x80\x80 end",
            "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
        };
        for (const auto &in : inputs) {
            const std::string whole = excerpt(in, kBig);
            CHECK(valid_utf8(whole));
            for (size_t max = 0; max <= whole.size() + 2; ++max) {
                INFO("input '" << in << "' max " << max);
                const std::string e = excerpt(in, max);
                CHECK(e.size() <= max);
                CHECK(valid_utf8(e));
                CHECK(e.find('\0') == std::string::npos);
                // Cutting the input later only ever adds characters: a prefix of the whole.
                CHECK(whole.compare(0, e.size(), e) == 0);
                // Maximal: the next character of the whole excerpt would not have fit.
                if (e.size() < whole.size()) {
                    const unsigned char next = static_cast<unsigned char>(whole[e.size()]);
                    const size_t next_len = next < 0x80 ? 1 : next < 0xE0 ? 2 : next < 0xF0 ? 3 : 4;
                    CHECK(e.size() + next_len > max);
                }
            }
        }
    }
}

// jsonb stores numbers as numeric, so '{"a":1e400}'::jsonb works although no double can
// hold the number; the validator must not refuse what jsonb accepts.
TEST_CASE("numbers beyond double range are valid jsonb", "[context]") {
    CHECK(check_context("{\"a\":1e400}", kBig).valid);
    CHECK(check_context("{\"a\":[-1e999, 2.5e-16382, {\"b\":9e1000}]}", kBig).valid);
    CHECK(normalize_context("{\"a\":1e400}", kBig) == "{\"a\":1e400}");
    // after the overflowing number, the rest is still checked
    CHECK_FALSE(check_context("{\"a\":1e400,}", kBig).valid);
    std::string many = "{\"a\":[";
    for (int i = 0; i < 20; ++i)
        many += (i ? ",1e400" : "1e400");
    many += "]}";
    CHECK_FALSE(check_context(many, kBig).valid);
}

// ...but exactly what jsonb accepts: numeric holds at most 131072 digits before the point and
// 16383 after it, and jsonb refuses \u0000 and unpaired surrogates (issue 6: such a context
// was accepted by SET and then stalled the worker).
TEST_CASE("numbers beyond numeric's range, \\u0000 and lone surrogates are refused", "[context]") {
    for (const char *bad : {"{\"a\":1e999999}", "{\"a\":1e-999999}", "{\"a\":-1e131072}", "{\"a\":0.5e-16383}",
                            "{\"a\":[1,{\"b\":1e2147483648}]}", "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}",
                            "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800x\"}"}) {
        INFO(bad);
        CHECK_FALSE(check_context(bad, kBig).valid);
    }
    const bemi::ContextCheck huge = check_context("{\"n\":1e999999}", kBig);
    CHECK(std::string(huge.reason).find("numeric") != std::string::npos);
    CHECK(check_context("{\"a\":1e131071}", kBig).valid);
    CHECK(check_context("{\"a\":0.5e-16382}", kBig).valid);
    CHECK(check_context("{\"a\":\"\\ud83d\\ude00\"}", kBig).valid);
    CHECK(check_context("{\"a\":" + std::string(131072, '7') + "}", kBig).valid);
    CHECK_FALSE(check_context("{\"a\":" + std::string(131073, '7') + "}", kBig).valid);
    CHECK(check_context("{\"a\":0." + std::string(16383, '7') + "}", kBig).valid);
    CHECK_FALSE(check_context("{\"a\":0." + std::string(16384, '7') + "}", kBig).valid);
}
