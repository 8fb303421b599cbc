// Tests for include/bemi/json_escape.hpp: string escaping, single-line JSON, number detection
// and bytea hex output. Expectations are written out by hand or built independently (snprintf)
// and, where it helps, cross-checked by parsing the output with nlohmann::json.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bemi/json_escape.hpp"

namespace {

// A sink that also counts append() calls, to check the "one append per run" promise.
struct Sink {
    std::string s;
    int appends = 0;
    void append(const char *p, size_t n) {
        s.append(p, n);
        ++appends;
    }
};

std::string escaped(const std::string &in) {
    Sink out;
    bemi::append_json_escaped(out, in.data(), in.size());
    return out.s;
}

std::string as_json_string(const std::string &in) {
    Sink out;
    bemi::append_json_string(out, in.data(), in.size());
    return out.s;
}

std::string single_line(const std::string &in) {
    Sink out;
    bemi::append_json_single_line(out, in.data(), in.size());
    return out.s;
}

bool is_number(const std::string &s) { return bemi::is_json_number(s.data(), s.size()); }

std::string bytea(const std::vector<unsigned char> &data) {
    Sink out;
    bemi::append_bytea_hex(out, data.data(), data.size());
    return out.s;
}

} // namespace

TEST_CASE("append_json_escaped: text without special characters is copied unchanged", "[json_escape]") {
    CHECK(escaped("") == "");
    CHECK(escaped("a") == "a");
    CHECK(escaped("hello world") == "hello world");
    // Characters JSON does not require escaping stay as they are (no escaping of '/', DEL, quotes
    // other than '"').
    CHECK(escaped("/ ' ` ~ { } [ ] : ,") == "/ ' ` ~ { } [ ] : ,");
    CHECK(escaped("\x7f") == "\x7f");
}

TEST_CASE("append_json_escaped: quote and backslash", "[json_escape]") {
    CHECK(escaped("\"") == "\\\"");
    CHECK(escaped("\\") == "\\\\");
    CHECK(escaped("say \"hi\"") == "say \\\"hi\\\"");
    CHECK(escaped("C:\\dir\\file") == "C:\\\\dir\\\\file");
    CHECK(escaped("\\\"") == "\\\\\\\"");
}

TEST_CASE("append_json_escaped: every control character below 0x20", "[json_escape]") {
    for (int c = 0; c < 0x20; ++c) {
        std::string expected;
        switch (c) {
        case 0x08: expected = "\\b"; break;
        case 0x09: expected = "\\t"; break;
        case 0x0a: expected = "\\n"; break;
        case 0x0c: expected = "\\f"; break;
        case 0x0d: expected = "\\r"; break;
        default: {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            expected = buf;
        }
        }
        INFO("control character " << c);
        CHECK(escaped(std::string(1, static_cast<char>(c))) == expected);
    }
    // A few written out in full, in case the loop's own formatting were wrong.
    CHECK(escaped(std::string(1, '\0')) == "\\u0000");
    CHECK(escaped("\x01") == "\\u0001");
    CHECK(escaped("\x0b") == "\\u000b");
    CHECK(escaped("\x1f") == "\\u001f");
    CHECK(escaped("\x1b[0m") == "\\u001b[0m");
    // 0x20 and up are not control characters.
    CHECK(escaped(" ") == " ");
}

TEST_CASE("append_json_escaped: an embedded NUL does not end the string", "[json_escape]") {
    const std::string in("a\0b", 3);
    CHECK(escaped(in) == "a\\u0000b");
}

TEST_CASE("append_json_escaped: UTF-8 passes through byte for byte", "[json_escape]") {
    const std::string text = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e \xe6\x97\xa5\xe6\x9c\xac";
    CHECK(escaped(text) == text);
    // Bytes >= 0x80 are never escaped, even when they do not form valid UTF-8.
    CHECK(escaped("\x80\xff\xc3") == "\x80\xff\xc3");
    CHECK(escaped("\xc3\xa9\n") == "\xc3\xa9\\n");
}

TEST_CASE("append_json_escaped: runs of plain bytes between escapes", "[json_escape]") {
    CHECK(escaped("ab\ncd\tef") == "ab\\ncd\\tef");
    CHECK(escaped("\n\n\n") == "\\n\\n\\n");
    CHECK(escaped("\"start") == "\\\"start");
    CHECK(escaped("end\"") == "end\\\"");
    CHECK(escaped("\"\"") == "\\\"\\\"");
    CHECK(escaped("a\x01\x02z") == "a\\u0001\\u0002z");

    SECTION("a string with nothing to escape costs a single append") {
        Sink out;
        const std::string in(1000, 'x');
        bemi::append_json_escaped(out, in.data(), in.size());
        CHECK(out.s == in);
        CHECK(out.appends == 1);
    }
    SECTION("the empty string appends nothing") {
        Sink out;
        bemi::append_json_escaped(out, "", 0);
        CHECK(out.s.empty());
        CHECK(out.appends == 0);
    }
    SECTION("only the given length is read") {
        Sink out;
        bemi::append_json_escaped(out, "abc\"def", 3);
        CHECK(out.s == "abc");
    }
}

TEST_CASE("append_json_escaped: output decodes back to the input", "[json_escape]") {
    // All ASCII bytes, then some UTF-8: nlohmann must read the quoted form back exactly.
    std::string all;
    for (int c = 0; c < 0x80; ++c)
        all.push_back(static_cast<char>(c));
    all += "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    const nlohmann::json parsed = nlohmann::json::parse(as_json_string(all));
    REQUIRE(parsed.is_string());
    CHECK(parsed.get<std::string>() == all);
}

TEST_CASE("append_json_string adds the quotes", "[json_escape]") {
    CHECK(as_json_string("") == "\"\"");
    CHECK(as_json_string("abc") == "\"abc\"");
    CHECK(as_json_string("a\"b") == "\"a\\\"b\"");
    CHECK(as_json_string("line1\nline2") == "\"line1\\nline2\"");
}

TEST_CASE("append_json_single_line replaces CR and LF with spaces and nothing else", "[json_escape]") {
    CHECK(single_line("") == "");
    CHECK(single_line("{\"a\":1}") == "{\"a\":1}");
    CHECK(single_line("{\n  \"a\": 1\n}") == "{   \"a\": 1 }");
    CHECK(single_line("{\r\n\"a\":1}\r\n") == "{  \"a\":1}  ");
    CHECK(single_line("\n") == " ");
    CHECK(single_line("\r") == " ");
    CHECK(single_line("\n\r\n\r") == "    ");
    // Tabs and escaped newlines inside strings are kept.
    CHECK(single_line("{\t\"a\":\"x\\ny\"}") == "{\t\"a\":\"x\\ny\"}");
    // The length is preserved byte for byte.
    const std::string multi = "{\n\"k\":[1,\n2,\r\n3]}\n";
    CHECK(single_line(multi).size() == multi.size());
    // Still the same JSON value.
    CHECK(nlohmann::json::parse(single_line(multi)) == nlohmann::json::parse(multi));
}

TEST_CASE("is_json_number accepts JSON numbers as PostgreSQL writes them", "[json_escape]") {
    for (const char *s : {"0", "-0", "1", "-1", "7", "42", "1234567890", "-987654321",
                          "123456789012345678901234567890", "0.5", "-0.5", "3.14159", "10.0",
                          "0.000001", "1e5", "1E5", "1e+5", "1e-5", "1E-05", "-1.5e10",
                          "2.5E+300", "0e0", "1.7976931348623157e+308", "4.9e-324"}) {
        INFO(s);
        CHECK(is_number(s));
    }
}

TEST_CASE("is_json_number rejects everything else", "[json_escape]") {
    // NaN and the infinities: to_jsonb() renders them as strings, so they must not be
    // written bare.
    CHECK_FALSE(is_number("NaN"));
    CHECK_FALSE(is_number("Infinity"));
    CHECK_FALSE(is_number("-Infinity"));
    CHECK_FALSE(is_number("inf"));
    CHECK_FALSE(is_number("nan"));
    // Not JSON number syntax.
    CHECK_FALSE(is_number(""));
    CHECK_FALSE(is_number("-"));
    CHECK_FALSE(is_number("+1"));
    CHECK_FALSE(is_number("1."));
    CHECK_FALSE(is_number(".5"));
    CHECK_FALSE(is_number("-.5"));
    CHECK_FALSE(is_number("1e"));
    CHECK_FALSE(is_number("1e+"));
    CHECK_FALSE(is_number("1e-"));
    CHECK_FALSE(is_number("e5"));
    CHECK_FALSE(is_number("1.e5"));
    CHECK_FALSE(is_number("1.5.5"));
    CHECK_FALSE(is_number("1e5e5"));
    CHECK_FALSE(is_number("--1"));
    CHECK_FALSE(is_number(" 1"));
    CHECK_FALSE(is_number("1 "));
    CHECK_FALSE(is_number("1,5"));
    CHECK_FALSE(is_number("0x10"));
    CHECK_FALSE(is_number("12abc"));
    // Leading zeros: PostgreSQL never writes them, and JSON forbids them. The current
    // implementation follows JSON and rejects them.
    CHECK_FALSE(is_number("00"));
    CHECK_FALSE(is_number("01"));
    CHECK_FALSE(is_number("-01"));
    CHECK_FALSE(is_number("007.5"));
    // ...but a single zero before a fraction or exponent is fine.
    CHECK(is_number("0.1"));
    CHECK(is_number("-0e1"));
}

TEST_CASE("is_json_number reads exactly len bytes", "[json_escape]") {
    CHECK(bemi::is_json_number("12x", 2));
    CHECK_FALSE(bemi::is_json_number("12x", 3));
    CHECK_FALSE(bemi::is_json_number("1.5", 2)); // "1."
    CHECK_FALSE(bemi::is_json_number("5", 0));
    CHECK(bemi::is_json_number("1e10", 3)); // "1e1"
}

TEST_CASE("append_hex writes two lowercase hex digits per byte, nothing else", "[json_escape]") {
    Sink out;
    bemi::append_hex(out, nullptr, 0);
    CHECK(out.s.empty());
    CHECK(out.appends == 0);
    const unsigned char data[] = {0x00, 0x01, 0x9a, 0xf0, 0xff};
    bemi::append_hex(out, data, sizeof data);
    CHECK(out.s == "00019af0ff");
    // Appends after what is there.
    bemi::append_hex(out, data, 1);
    CHECK(out.s == "00019af0ff00");
}

TEST_CASE("append_bytea_hex writes \\\\x and two lowercase hex digits per byte", "[json_escape]") {
    // The output is already JSON-escaped: the three characters  \ \ x  stand for one backslash.
    CHECK(bytea({}) == "\\\\x");
    CHECK(bytea({0x00}) == "\\\\x00");
    CHECK(bytea({0xde, 0xad, 0xbe, 0xef}) == "\\\\xdeadbeef");
    CHECK(bytea({0x00, 0x0f, 0x10, 0x7f, 0x80, 0xff}) == "\\\\x000f107f80ff");

    // Inside quotes it is the JSON string PostgreSQL's bytea output would give.
    const nlohmann::json parsed = nlohmann::json::parse("\"" + bytea({0x01, 0xab}) + "\"");
    CHECK(parsed.get<std::string>() == "\\x01ab");
}

TEST_CASE("append_bytea_hex across its internal 128-character chunk", "[json_escape]") {
    // 64 input bytes fill one chunk exactly; test around that and across several chunks.
    for (size_t len : {size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{127}, size_t{128},
                       size_t{129}, size_t{1000}}) {
        std::vector<unsigned char> data(len);
        std::string expected = "\\\\x";
        for (size_t i = 0; i < len; ++i) {
            data[i] = static_cast<unsigned char>((i * 37 + 11) & 0xFF);
            char hex[3];
            std::snprintf(hex, sizeof hex, "%02x", data[i]);
            expected += hex;
        }
        INFO("length " << len);
        CHECK(bytea(data) == expected);
        CHECK(bytea(data).size() == 3 + 2 * len);
    }
}

// ---------------------------------------------------------------------------------------
// The word-at-a-time (SWAR) scan of append_json_escaped against a plain reference escaper
// written here from the JSON grammar, independently of the header's table.

namespace {

std::string reference_escape(const std::string &in) {
    std::string out;
    for (unsigned char c : in) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
    }
    return out;
}

// Escapes in from an address at the given offset past an 8-byte boundary, with guard bytes
// around it that would show up if they were read as part of the string ('"' needs escaping).
std::string escaped_at(const std::string &in, size_t offset) {
    std::vector<char> buf(in.size() + 32, '"');
    char *start = buf.data() + ((8 - reinterpret_cast<uintptr_t>(buf.data()) % 8) % 8) + 8 + offset;
    if (!in.empty())
        std::memcpy(start, in.data(), in.size());
    Sink out;
    bemi::append_json_escaped(out, start, in.size());
    return out.s;
}

} // namespace

TEST_CASE("append_json_escaped: every byte value at every position of short and long strings",
          "[json_escape][swar]") {
    // Fillers that need no escaping: ASCII, and bytes with the high bit set (UTF-8 lead and
    // continuation bytes, 0xff), which must not be mistaken for control characters.
    const char fillers[] = {'a', ' ', '!', '#', '[', ']', '\x7f', '\x80', '\xa0', '\xdf', '\xff'};
    for (char filler : fillers) {
        for (size_t len = 1; len <= 26; ++len) {
            for (size_t pos = 0; pos < len; ++pos) {
                for (int c = 0; c < 256; ++c) {
                    std::string in(len, filler);
                    in[pos] = static_cast<char>(c);
                    const std::string expected = reference_escape(in);
                    for (size_t offset : {size_t{0}, size_t{3}}) {
                        INFO("filler " << int(static_cast<unsigned char>(filler)) << ", length " << len << ", byte "
                                       << c << " at " << pos << ", offset " << offset);
                        REQUIRE(escaped_at(in, offset) == expected);
                    }
                }
            }
        }
    }
}

TEST_CASE("append_json_escaped: two special bytes anywhere in a word pair", "[json_escape][swar]") {
    const unsigned char specials[] = {0x00, 0x01, 0x08, 0x09, 0x0a, 0x1f, '"', '\\'};
    const unsigned char near_misses[] = {0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0x9f, 0xa2, 0xdc, 0xe0};
    for (size_t len : {size_t{8}, size_t{9}, size_t{15}, size_t{16}, size_t{17}, size_t{23}}) {
        for (size_t p = 0; p < len; ++p) {
            for (size_t q = p; q < len; ++q) {
                for (unsigned char a : specials) {
                    for (unsigned char b : specials) {
                        std::string in(len, 'x');
                        // Near misses around them, cycling.
                        for (size_t k = 0; k < len; ++k)
                            in[k] = static_cast<char>(near_misses[(k + p + q) % sizeof near_misses]);
                        in[p] = static_cast<char>(a);
                        in[q] = static_cast<char>(b);
                        INFO("length " << len << ", " << int(a) << " at " << p << ", " << int(b) << " at " << q);
                        REQUIRE(escaped(in) == reference_escape(in));
                    }
                }
            }
        }
    }
}

TEST_CASE("append_json_escaped: random strings, every alignment", "[json_escape][swar]") {
    std::mt19937 rng(8);
    // Mostly bytes that need no escaping, with specials and near misses mixed in.
    const unsigned char alphabet[] = {'a', 'b', ' ', '/', '{', 0x7f, 0x80, 0xc3, 0xa9, 0xff,
                                      0x00, 0x1f, 0x20, 0x21, 0x22, 0x5c, 0x0a, 0x5b, 0x5d, 0x01};
    std::uniform_int_distribution<size_t> pick(0, sizeof alphabet - 1), length(0, 100), offset(0, 7);
    std::uniform_int_distribution<int> density(0, 9), any_byte(0, 255);
    for (int k = 0; k < 30000; ++k) {
        const size_t len = length(rng);
        const int d = density(rng);
        std::string in(len, 'z');
        for (auto &ch : in) {
            if (d == 0)
                ch = static_cast<char>(any_byte(rng));
            else if (density(rng) < d)
                ch = static_cast<char>(alphabet[pick(rng)]);
        }
        const size_t off = offset(rng);
        INFO("case " << k << ", length " << len << ", offset " << off);
        REQUIRE(escaped_at(in, off) == reference_escape(in));
    }
}

TEST_CASE("append_json_escaped: runs stay whole around escapes", "[json_escape][swar]") {
    // One append per run of plain bytes and one per escape, whatever the word boundaries.
    Sink out;
    const std::string in = "0123456789\"abcdefghijklmnop\\qrstuvwx";
    bemi::append_json_escaped(out, in.data(), in.size());
    CHECK(out.s == reference_escape(in));
    CHECK(out.appends == 5);
}

TEST_CASE("escape_mask flags exactly the bytes to escape", "[json_escape][swar]") {
    std::mt19937_64 rng(64);
    for (int c = 0; c < 256; ++c) {
        for (int pos = 0; pos < 8; ++pos) {
            for (int k = 0; k < 16; ++k) {
                unsigned char bytes[8];
                uint64_t r = rng();
                std::memcpy(bytes, &r, 8);
                bytes[pos] = static_cast<unsigned char>(c);
                uint64_t w;
                std::memcpy(&w, bytes, 8);
                const uint64_t m = bemi::detail::escape_mask(w);
                for (int b = 0; b < 8; ++b) {
                    const bool flagged = ((m >> (8 * b)) & 0xff) == 0x80;
                    const bool empty = ((m >> (8 * b)) & 0xff) == 0;
                    const bool needs = bytes[b] < 0x20 || bytes[b] == '"' || bytes[b] == '\\';
                    INFO("byte " << int(bytes[b]) << " at " << b);
                    REQUIRE((flagged || empty));
                    REQUIRE(flagged == needs);
                }
            }
        }
    }
}

namespace {

bool escapes_valid(const std::string &in) {
    Sink out;
    const bool swar = bemi::append_json_escaped(out, in.data(), in.size());
    CHECK(bemi::is_jsonb_text(in.data(), in.size()) == swar);
    Sink ref;
    const bool bytewise = bemi::detail::append_json_escaped_bytewise(ref, in.data(), in.size());
    CHECK(swar == bytewise);
    CHECK(out.s == ref.s);
    return swar;
}

bemi::JsonTextIssue text_issue(const std::string &in, std::string *copy = nullptr) {
    Sink out;
    const bemi::JsonTextIssue issue = bemi::append_json_text_checked(out, in.data(), in.size());
    if (copy)
        *copy = out.s;
    return issue;
}

bool fits(const std::string &n) { return bemi::json_number_fits_numeric(n.data(), n.size()); }

} // namespace

// Issue 6: text that jsonb cannot hold (bytes that are not UTF-8, NUL) stalled ingestion; the
// escaper flags it while it scans, at any position of the word-at-a-time loop.
TEST_CASE("append_json_escaped: tells whether the text is well-formed UTF-8 without NUL", "[json_escape]") {
    CHECK(escapes_valid(""));
    CHECK(escapes_valid("plain ascii, long enough for words"));
    CHECK(escapes_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 and more text"));
    CHECK(escapes_valid("tab\tquote\"backslash\\"));
    for (size_t pos = 0; pos < 20; ++pos) {
        std::string base(20, 'a');
        std::string bad = base;
        bad[pos] = '\xC3'; // a lead byte followed by ASCII
        INFO(pos);
        CHECK_FALSE(escapes_valid(bad));
        std::string nul = base;
        nul[pos] = '\0';
        CHECK_FALSE(escapes_valid(nul));
        std::string good = base;
        good.replace(pos, 2, "\xC3\xA9"); // a sequence across a word boundary at pos 7
        CHECK(escapes_valid(good));
        std::string four = base;
        four.replace(pos, 4, "\xF0\x9F\x98\x80");
        CHECK(escapes_valid(four.substr(0, 20)) == (pos + 4 <= 20)); // cut in half past 16
    }
    CHECK_FALSE(escapes_valid("caf\xC3")); // cut short at the end
    CHECK_FALSE(escapes_valid("surrogate \xED\xA0\x80 encoded"));
    CHECK_FALSE(escapes_valid("overlong \xC0\xAF slash"));
    CHECK_FALSE(escapes_valid("beyond \xF4\x90\x80\x80 U+10FFFF"));
    // the escape itself is unchanged: NUL as \u0000, other bytes as they are
    CHECK(escaped(std::string("a\0b", 3)) == "a\\u0000b");
    std::mt19937 rng(6);
    for (int n = 0; n < 20000; ++n) {
        std::string s(rng() % 24, ' ');
        for (char &c : s)
            c = static_cast<char>("a\"\\\n\x01\x00\x7f\xC3\xA9\xE2\x82\xAC\xF0\x9F\xED\xA0\xBF\xC0"[rng() % 20]);
        escapes_valid(s);
    }
}

TEST_CASE("json_number_fits_numeric: numeric's limits once the exponent is applied", "[json_escape]") {
    CHECK(fits("0"));
    CHECK(fits("-12.50"));
    CHECK(fits("1e131071"));
    CHECK_FALSE(fits("1e131072"));
    CHECK(fits("10.5e131070"));
    CHECK_FALSE(fits("10.5e131071"));
    CHECK(fits(std::string(131072, '9')));
    CHECK_FALSE(fits(std::string(131073, '9')));
    CHECK(fits("0." + std::string(16383, '1')));
    CHECK_FALSE(fits("0." + std::string(16384, '1')));
    CHECK_FALSE(fits("0." + std::string(16384, '0'))); // trailing zeros are display scale
    CHECK(fits("0.5e-16382"));
    CHECK_FALSE(fits("0.5e-16383"));
    CHECK(fits("1E+5"));
    CHECK_FALSE(fits("1e999999"));
    CHECK_FALSE(fits("1e-999999"));
    CHECK(fits("0e999999")); // zero has no weight
    CHECK_FALSE(fits("0e1073741823"));
    CHECK_FALSE(fits("0e-16384"));
    CHECK_FALSE(fits("1e99999999999999999999999"));
    CHECK(fits("1e0000000000000000000005"));
    CHECK_FALSE(fits("NaN"));
    CHECK_FALSE(fits("1."));
}

TEST_CASE("append_json_text_checked: what the json type accepts and jsonb does not", "[json_escape]") {
    using bemi::JsonTextIssue;
    std::string copy;
    CHECK(text_issue("{\"a\": [1, 2.5e3, \"x\\u00e9\\ud83d\\ude00\"],\n\"b\":\r\nnull}", &copy) == JsonTextIssue::None);
    CHECK(copy == "{\"a\": [1, 2.5e3, \"x\\u00e9\\ud83d\\ude00\"], \"b\":  null}");
    CHECK(text_issue("{\"n\": 1e999999}") == JsonTextIssue::NotJsonb);
    CHECK(text_issue("[1e-999999]") == JsonTextIssue::NotJsonb);
    CHECK(text_issue("\"\\u0000\"") == JsonTextIssue::NotJsonb);
    CHECK(text_issue("\"\\\\u0000\"") == JsonTextIssue::None); // an escaped backslash, then text
    CHECK(text_issue("\"\\ud800\"") == JsonTextIssue::NotJsonb);
    CHECK(text_issue("\"\\ud800\\u0041\"") == JsonTextIssue::NotJsonb);
    CHECK(text_issue("\"\\udc00\"") == JsonTextIssue::NotJsonb);
    CHECK(text_issue("{\"1e999999\": \"1e999999\"}") == JsonTextIssue::None); // strings, not numbers
    CHECK(text_issue("\"caf\xC3\"") == JsonTextIssue::InvalidText);
    CHECK(text_issue(std::string("\"a\0b\"", 5)) == JsonTextIssue::InvalidText);
    CHECK(text_issue("\"caf\xC3\xA9\"") == JsonTextIssue::None);
    CHECK(text_issue("\"unterminated") == JsonTextIssue::NotJsonb);
    CHECK(text_issue("-0.0e-16382") == JsonTextIssue::None);
}
