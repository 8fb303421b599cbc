#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "bemi/json_object.hpp"
#include "bemi/statement_context.hpp"

using bemi::CommentContext;
using Kind = bemi::CommentContext::Kind;

namespace {
nlohmann::json parse(const std::string &s) { return nlohmann::json::parse(s); }
} // namespace

TEST_CASE("object_members keeps raw values and decodes keys", "[json_object]") {
    auto m = bemi::object_members(R"( { "a" : 1.50 , "b\u0022c": {"x": [1, "]}"]}, "SQL":"q" } )");
    REQUIRE(m.size() == 3);
    CHECK(m[0].key == "a");
    CHECK(m[0].raw_value == "1.50");
    CHECK(m[1].key == "b\"c");
    CHECK(m[1].raw_key == R"("b\u0022c")");
    CHECK(m[1].raw_value == R"({"x": [1, "]}"]})");
    CHECK(m[2].key == "SQL");
    CHECK(bemi::object_members("{}").empty());
    CHECK_THROWS_AS(bemi::object_members("[1]"), std::invalid_argument);
    CHECK_THROWS_AS(bemi::object_members(R"({"a" 1})"), std::invalid_argument);
}

TEST_CASE("decode_json_string handles escapes and surrogate pairs", "[json_object]") {
    CHECK(bemi::decode_json_string(R"(a\"b\\c\/d\n\t)") == "a\"b\\c/d\n\t");
    CHECK(bemi::decode_json_string(R"(\u00e9)") == "\xC3\xA9");
    CHECK(bemi::decode_json_string(R"(\ud83d\ude80)") == "\xF0\x9F\x9A\x80");
}

TEST_CASE("a statement without a comment has no comment context", "[comment]") {
    CHECK(bemi::read_comment_context("UPDATE t SET a = 1", 1000).kind == Kind::None);
    CHECK(bemi::read_comment_context("UPDATE t SET a = 1 /* Bemi? no */", 1000).kind == Kind::None);
}

TEST_CASE("a plain comment is read as written", "[comment]") {
    // '*' cannot come from quote(), so this one is taken as written, '%' and all.
    auto c = bemi::read_comment_context(R"(UPDATE t SET a = 1 /*Bemi {"user_id": 1, "path": "/a%20b"} Bemi*/;)", 1000);
    REQUIRE(c.kind == Kind::Valid);
    CHECK(parse(c.object)["user_id"] == 1);
    // Documented ambiguity: text with a '%' and none of the characters quote() escapes could
    // be bemi-django's, so it is percent-decoded.
    CHECK(parse(c.object)["path"] == "/a b");
    auto d = bemi::read_comment_context(R"(DELETE FROM t /*Bemi {"q": "a*b", "p": "50%"} Bemi*/)", 1000);
    REQUIRE(d.kind == Kind::Valid);
    CHECK(parse(d.object)["p"] == "50%");
    CHECK(parse(d.object)["q"] == "a*b");
}

TEST_CASE("bemi-django's quoted comment is decoded with and without parameters", "[comment]") {
    // json.dumps({...}) -> quote(safe='{},[]:"\'\-/_=()% ') -> '%' doubled.
    const std::string doubled =
        R"(INSERT INTO "todo" ("task") VALUES (%s) /*Bemi {"user_id": 187234, "endpoint": "/todo/%%2A", "q": "a%%3Bb%%3Fc", "pct": "100%%", "u": "Zo\u00eb"} Bemi*/)";
    std::string single = doubled;
    for (size_t i = single.find("%%"); i != std::string::npos; i = single.find("%%", i + 1))
        single.erase(i, 1);
    for (const std::string &statement : {doubled, single}) {
        auto c = bemi::read_comment_context(statement, 10000);
        REQUIRE(c.kind == Kind::Valid);
        auto j = parse(c.object);
        CHECK(j["endpoint"] == "/todo/*");
        CHECK(j["q"] == "a;b?c");
        CHECK(j["pct"] == "100%");
        CHECK(j["u"] == "Zo\xC3\xAB");
    }
}

TEST_CASE("a bad comment gives a visible marker, never an error", "[comment]") {
    auto bad = bemi::read_comment_context(R"(UPDATE t SET a = 1 /*Bemi {"user_id": oops} Bemi*/)", 1000);
    REQUIRE(bad.kind == Kind::Invalid);
    auto j = parse(bad.object);
    CHECK(j["_invalid_comment"] == "{\"user_id\": oops}");
    CHECK(j.contains("_invalid_comment_reason"));
    CHECK(bemi::read_comment_context("UPDATE t /*Bemi [1] Bemi*/", 1000).kind == Kind::Invalid);
    CHECK(bemi::read_comment_context("UPDATE t /*Bemi {\"a\":1}", 1000).kind == Kind::Invalid);
    auto big = bemi::read_comment_context("UPDATE t /*Bemi {\"a\":\"" + std::string(200, 'x') + "\"} Bemi*/", 64);
    REQUIRE(big.kind == Kind::Invalid);
    CHECK(parse(big.object)["_invalid_comment_reason"] == "larger than bemi.max_context_bytes");
}

TEST_CASE("messages merge context, comment and SQL", "[merge]") {
    CommentContext none;
    CHECK(bemi::build_context_message("", none, "", false) == "{}");
    CHECK(bemi::build_context_message("", none, "INSERT \"x\"", true) == R"({"SQL":"INSERT \"x\""})");

    CommentContext comment{Kind::Valid, R"({"user_id": 42, "SQL": "client text"})", nullptr};
    std::string m = bemi::build_context_message(R"({"user_id": 1, "endpoint": "/a", "n": 123456789012345678901234567890})",
                                                comment, "UPDATE t", true);
    // Numbers are copied byte for byte; the comment wins; the client's SQL is kept apart.
    CHECK(m.find("123456789012345678901234567890") != std::string::npos);
    auto j = parse(m);
    CHECK(j["user_id"] == 42);
    CHECK(j["endpoint"] == "/a");
    CHECK(j["SQL"] == "UPDATE t");
    CHECK(j["client_SQL"] == "client text");
    CHECK(m.size() <= bemi::context_message_bound(80, comment.object.size(), 8));

    // A "SQL" set in the session context is kept as client_SQL too, and the comment's wins.
    auto k = parse(bemi::build_context_message(R"({"SQL": "from session"})", comment, "X", false));
    CHECK(k["client_SQL"] == "client text");
    CHECK_FALSE(k.contains("SQL"));
    auto l = parse(bemi::build_context_message(R"({"SQL": "from session"})", none, "X", true));
    CHECK(l["client_SQL"] == "from session");
    CHECK(l["SQL"] == "X");
}

TEST_CASE("the SQL is escaped and line breaks in values do not split the message", "[merge]") {
    CommentContext none;
    std::string m = bemi::build_context_message("{\"a\":\n[1,\n2]}", none, "UPDATE t\nSET a = '\t'", true);
    CHECK(m.find('\n') == std::string::npos);
    auto j = parse(m);
    CHECK(j["SQL"] == "UPDATE t\nSET a = '\t'");
    CHECK(j["a"].size() == 2);
}
