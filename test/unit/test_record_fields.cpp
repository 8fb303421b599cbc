#include <catch2/catch.hpp>

#include <string>

#include "bemi/record_fields.hpp"

using bemi::JsonKind;
using bemi::RecordFields;
using bemi::RecordKey;

namespace {

std::string text(const bemi::JsonSpan &s) { return std::string(s.data, s.len); }

std::string unescaped(const std::string &contents) {
    std::string out(contents.size(), '\0');
    const long n = bemi::unescape_json_string(contents.data(), contents.size(), &out[0]);
    return n < 0 ? "<refused>" : out.substr(0, static_cast<size_t>(n));
}

bool splits(const std::string &record) {
    RecordFields f;
    return bemi::split_record(record.data(), record.size(), &f);
}

} // namespace

TEST_CASE("a row record splits into the spans of its fields", "[record_fields]") {
    const std::string record =
        R"({"database":"app","schema":"public","table":"to\"do","operation":"UPDATE","primary_key":"[1,\"a\"]",)"
        R"("before":{"id":1,"t":"x}]\"{"},"after":{"id":1,"t":[1,{"a":"}"}]},"context":{"SQL":"UPDATE \"todo\""},)"
        R"("transaction_id":757,"seq":0,"position":24545344,"commit_position":24545400,)"
        R"("committed_at":"2026-12-03T10:00:00.000001+00:00"})";
    RecordFields f;
    REQUIRE(bemi::split_record(record.data(), record.size(), &f));
    CHECK(f[RecordKey::Database].kind == JsonKind::String);
    CHECK(text(f[RecordKey::Database]) == "app");
    CHECK_FALSE(f[RecordKey::Database].escaped);
    CHECK(f[RecordKey::Table].escaped);
    CHECK(unescaped(text(f[RecordKey::Table])) == "to\"do");
    CHECK(unescaped(text(f[RecordKey::PrimaryKey])) == "[1,\"a\"]");
    CHECK(f[RecordKey::Before].kind == JsonKind::Object);
    CHECK(text(f[RecordKey::Before]) == R"({"id":1,"t":"x}]\"{"})");
    CHECK(text(f[RecordKey::After]) == R"({"id":1,"t":[1,{"a":"}"}]})");
    CHECK(text(f[RecordKey::Context]) == R"({"SQL":"UPDATE \"todo\""})");
    CHECK(f[RecordKey::PreviousPrimaryKey].kind == JsonKind::Missing);
    CHECK(f[RecordKey::Actor].kind == JsonKind::Missing);
    int64_t v = 0;
    REQUIRE(bemi::parse_json_int(f[RecordKey::Position], &v));
    CHECK(v == 24545344);
    CHECK(text(f[RecordKey::CommittedAt]) == "2026-12-03T10:00:00.000001+00:00");
}

TEST_CASE("literals, arrays, spaces and a key written twice", "[record_fields]") {
    const std::string record =
        " { \"operation\" : \"TRUNCATE\" , \"primary_key\" : null , \"unchanged_toast\" : [\"a\",\"b\"] ,"
        " \"seq\" : 1 , \"seq\" : 2 } ";
    RecordFields f;
    REQUIRE(bemi::split_record(record.data(), record.size(), &f));
    CHECK(f[RecordKey::PrimaryKey].kind == JsonKind::Null);
    CHECK(f[RecordKey::UnchangedToast].kind == JsonKind::Array);
    CHECK(text(f[RecordKey::UnchangedToast]) == R"(["a","b"])");
    int64_t v = 0;
    REQUIRE(bemi::parse_json_int(f[RecordKey::Seq], &v));
    CHECK(v == 2); // jsonb keeps the last
    CHECK(splits("{}"));
}

TEST_CASE("what the writer does not write is not understood", "[record_fields]") {
    CHECK_FALSE(splits(R"({"operation":"CREATE","extra":1})"));      // a key the format does not have
    CHECK_FALSE(splits(R"({"oper\u0061tion":"CREATE"})"));          // an escaped key
    CHECK_FALSE(splits(R"({"operation":"CREATE")"));                // not closed
    CHECK_FALSE(splits(R"({"operation":"CREATE"} x)"));             // text after it
    CHECK_FALSE(splits(R"({"operation":"CRE)"));                    // a string not closed
    CHECK_FALSE(splits("{\"operation\":\"a\nb\"}"));                // a raw control character
    CHECK_FALSE(splits(R"({"before":{"a":1})"));                    // an object not closed
    CHECK_FALSE(splits(R"({"before":tru})"));                       // a literal cut short
    CHECK_FALSE(splits(R"({"seq":})"));                             // no value
    CHECK_FALSE(splits(R"({"seq":1 "position":2})"));               // no comma
    CHECK_FALSE(splits(R"(["operation"])"));                        // not an object
    CHECK_FALSE(splits(""));
    CHECK_FALSE(splits(R"({"changes":01})"));                       // not JSON numbers
    CHECK_FALSE(splits(R"({"changes":1-2})"));
    CHECK_FALSE(splits(R"({"changes":1.})"));
    CHECK_FALSE(splits(R"({"changes":-})"));
    CHECK_FALSE(splits(R"({"changes":1e})"));
    CHECK(splits(R"({"changes":-0.5e+3})"));
    CHECK_FALSE(splits(R"({"committed_at":"\x"})"));                // not JSON escapes
    CHECK_FALSE(splits(R"({"committed_at":"\u12g4"})"));
    CHECK_FALSE(splits(R"({"before":{"a":"\q"}})"));
    CHECK(splits(R"({"before":{"a":"\u12aF\n"}})"));
}

TEST_CASE("string contents are unescaped as jsonb would, or refused", "[record_fields]") {
    CHECK(unescaped(R"(a\"b\\c\/d)") == "a\"b\\c/d");
    CHECK(unescaped(R"(\b\f\n\r\t)") == "\b\f\n\r\t");
    CHECK(unescaped(R"(\u0001\u001F\u007f\u0041)") == "\x01\x1f\x7f" "A");
    CHECK(unescaped("caf\xc3\xa9") == "caf\xc3\xa9"); // raw UTF-8 as it is
    CHECK(unescaped(R"(\u00e9)") == "<refused>");     // converted in the database's encoding
    CHECK(unescaped(R"(\ud83d\ude00)") == "<refused>");
    CHECK(unescaped(R"(\u0000)") == "<refused>");     // jsonb refuses it
    CHECK(unescaped(R"(\x)") == "<refused>");
    CHECK(unescaped(R"(\u12)") == "<refused>");
    CHECK(unescaped(R"(\u00zz)") == "<refused>");
    CHECK(unescaped("a\\") == "<refused>");
    CHECK(unescaped("a\tb") == "<refused>");          // raw control character
}

TEST_CASE("JSON integers only, within int64", "[record_fields]") {
    auto parse = [](const std::string &t, int64_t *v) {
        bemi::JsonSpan s{JsonKind::Number, t.data(), t.size(), false};
        return bemi::parse_json_int(s, v);
    };
    int64_t v = 0;
    CHECK((parse("0", &v) && v == 0));
    CHECK((parse("-0", &v) && v == 0));
    CHECK((parse("9223372036854775807", &v) && v == INT64_MAX));
    CHECK((parse("-9223372036854775808", &v) && v == INT64_MIN));
    CHECK_FALSE(parse("9223372036854775808", &v));
    CHECK_FALSE(parse("-9223372036854775809", &v));
    CHECK_FALSE(parse("01", &v));
    CHECK_FALSE(parse("1.0", &v));
    CHECK_FALSE(parse("1e3", &v));
    CHECK_FALSE(parse("-", &v));
    CHECK_FALSE(parse("+1", &v));
    bemi::JsonSpan str{JsonKind::String, "1", 1, false};
    CHECK_FALSE(bemi::parse_json_int(str, &v));
}
