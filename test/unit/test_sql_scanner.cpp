#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "bemi/sql_scanner.hpp"
#include "bemi/statement_context.hpp"

using bemi::SqlSpanKind;
using bemi::StatementText;
using Marker = bemi::StatementText::Marker;

namespace {

// "kind:text" for every span but spaces.
std::vector<std::string> spans(const std::string &sql, bool standard_strings = true) {
    std::vector<std::string> out;
    bemi::SqlScanner scanner(sql, standard_strings);
    for (bemi::SqlSpan s = scanner.next(); s.kind != SqlSpanKind::End; s = scanner.next()) {
        REQUIRE(s.end > s.begin);
        if (s.kind != SqlSpanKind::Space)
            out.push_back(std::string(bemi::sql_span_kind_name(s.kind)) + ":" + sql.substr(s.begin, s.end - s.begin) +
                          (s.terminated ? "" : "<open>"));
    }
    return out;
}

// The marker body that ends the whole text as one statement ("-" for none).
std::string marker_of(const std::string &sql, bool standard_strings = true) {
    StatementText t = bemi::find_statement(sql, 0, 0, standard_strings);
    if (t.marker == Marker::None)
        return "-";
    return std::string(t.marker == Marker::NotClosed ? "open:" : "") + std::string(t.body);
}

} // namespace

TEST_CASE("strings, identifiers and comments end where the server's scanner ends them", "[scanner]") {
    using V = std::vector<std::string>;
    CHECK(spans("'it''s /*x*/'") == V{"string:'it''s /*x*/'"});
    CHECK(spans(R"('C:\' /*c*/)") == V{R"(string:'C:\')", "block comment:/*c*/"});
    CHECK(spans(R"(E'a\'b /*x*/' c)") == V{R"(string:E'a\'b /*x*/')", "other:c"});
    CHECK(spans(R"(e'\\' x)") == V{R"(string:e'\\')", "other:x"});
    CHECK(spans(R"(N'a\' b)") == V{R"(string:N'a\')", "other:b"});
    CHECK(spans(R"(B'01' X'ff\')") == V{"string:B'01'", R"(string:X'ff\')"});
    CHECK(spans(R"(U&'d\0061t\+000061 /*' x)") == V{R"(string:U&'d\0061t\+000061 /*')", "other:x"});
    CHECK(spans(R"(U&"a""b" "c /*" d)") == V{R"(quoted identifier:U&"a""b")", R"(quoted identifier:"c /*")", "other:d"});
    CHECK(spans("$$ it's /* $$ $a$ $$ $b$ $a$ x") == V{"dollar string:$$ it's /* $$", "dollar string:$a$ $$ $b$ $a$", "other:x"});
    CHECK(spans("$1 $a b$") == V{"other:$1", "other:$", "other:a", "other:b$"});
    CHECK(spans("a$$b$$ 'x'") == V{"other:a$$b$$", "string:'x'"});
    CHECK(spans("xE'a' 1'b'") == V{"other:xE", "string:'a'", "other:1", "string:'b'"});
    CHECK(spans("/* a /* b */ c */ d") == V{"block comment:/* a /* b */ c */", "other:d"});
    CHECK(spans("/*/ x */ /**/") == V{"block comment:/*/ x */", "block comment:/**/"});
    CHECK(spans("a+/*c*/b -- 'x\n;") == V{"other:a", "other:+", "block comment:/*c*/", "other:b", "line comment:-- 'x",
                                           "semicolon:;"});
    CHECK(spans("<--c\r'") == V{"other:<", "line comment:--c", "string:'<open>"});
    CHECK(spans("'abc") == V{"string:'abc<open>"});
    CHECK(spans("/* a /* b */") == V{"block comment:/* a /* b */<open>"});
    CHECK(spans("$x$ abc $x") == V{"dollar string:$x$ abc $x<open>"});
    CHECK(spans("\"ab") == V{"quoted identifier:\"ab<open>"});
    CHECK(spans("E'\\") == V{"string:E'\\<open>"});
}

TEST_CASE("standard_conforming_strings off: '' strings take backslash escapes", "[scanner]") {
    using V = std::vector<std::string>;
    CHECK(spans(R"('a\' /*x*/')", false) == V{R"(string:'a\' /*x*/')"});
    CHECK(spans(R"('a\' /*x*/')", true) == V{R"(string:'a\')", "block comment:/*x*/", "string:'<open>"});
    CHECK(spans(R"(N'a\'')", false) == V{R"(string:N'a\'')"});
    CHECK(spans(R"(B'a\' x)", false) == V{R"(string:B'a\')", "other:x"});
}

TEST_CASE("the marker counts only as a real comment that ends the statement", "[comment][scanner]") {
    // The reproduction: a marker inside a literal, then the real one.
    CHECK(marker_of(R"(INSERT INTO x(note) VALUES ('hello /*Bemi {"user_id": 1} Bemi*/') /*Bemi {"user_id": 2} Bemi*/;)") ==
          R"( {"user_id": 2} )");
    // Only in a literal, identifier or comment: no marker.
    CHECK(marker_of(R"(INSERT INTO x VALUES ('/*Bemi {"a": 1} Bemi*/'))") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES ('a', '/*Bemi {"a": 1} Bemi*/'))") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES (E'\' /*Bemi {"a": 1} Bemi*/'))") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES (U&'\0041 /*Bemi {"a": 1} Bemi*/'))") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES ($$ /*Bemi {"a": 1} Bemi*/ $$))") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES ($t$ $$ /*Bemi {"a": 1} Bemi*/ $t$))") == "-");
    CHECK(marker_of(R"(INSERT INTO "/*Bemi {""a"": 1} Bemi*/" VALUES (1))") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES (1) /* note /*Bemi {"a": 1} Bemi*/ */)") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES (1) -- /*Bemi {"a": 1} Bemi*/)") == "-");
    // A real comment that is not last, or not at the end.
    CHECK(marker_of(R"(INSERT /*Bemi {"a": 1} Bemi*/ INTO x VALUES (1))") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES (1) /*Bemi {"a": 1} Bemi*/ /* other */)") == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES (1) /*Bemi {"a": 1} Bemi*/ -- other)") == "-");
    // With E'' escapes the literal runs on: the marker is inside it (standard strings: not).
    const std::string backslash = R"(INSERT INTO x VALUES ('C:\') /*Bemi {"a": 1} Bemi*/)";
    CHECK(marker_of(backslash, true) == R"( {"a": 1} )");
    CHECK(marker_of(R"(INSERT INTO x VALUES ('C:\') /*Bemi {"a": 1} Bemi*/ ')", false) == "-");
    CHECK(marker_of(R"(INSERT INTO x VALUES (E'C:\\') /*Bemi {"a": 1} Bemi*/)") == R"( {"a": 1} )");
    // A marker after the final ';', before it, nested comments inside it.
    CHECK(marker_of(R"(INSERT INTO x VALUES (1); /*Bemi {"a": 1} Bemi*/  )") == R"( {"a": 1} )");
    CHECK(marker_of(R"(INSERT INTO x VALUES (1) /*Bemi {"a": "/* x */"} Bemi*/;)") == R"( {"a": "/* x */"} )");
    CHECK(marker_of(R"(UPDATE t SET a = 1 /*Bemi {"a": 1} */)") == R"(open: {"a": 1} )");
    CHECK(marker_of("UPDATE t SET a = 1 /*Bemi*/") == "open:");
    CHECK(marker_of(R"(UPDATE t SET a = 1 /*Bemi {"a": 1})") == R"(open: {"a": 1})");
}

TEST_CASE("the statement's extent is the parser's location and length, up to the next statement", "[comment][scanner]") {
    const std::string q =
        R"(INSERT INTO a VALUES ('x /*Bemi {"no": 1} Bemi*/') /*Bemi {"s": 1} Bemi*/; /*Bemi {"lead": 1} Bemi*/ )"
        R"(UPDATE a SET v = 2 /*Bemi {"s": 2} Bemi*/ ; DELETE FROM a; /*Bemi {"s": 3} Bemi*/ ;)";
    const int second = static_cast<int>(q.find(';')) + 1;
    const int third = static_cast<int>(q.find(';', second)) + 1;
    const int third_len = static_cast<int>(q.find(';', third)) - third;

    StatementText first = bemi::find_statement(q, 0, second - 1, true);
    CHECK(first.marker == Marker::Closed);
    CHECK(first.body == R"( {"s": 1} )");
    CHECK(first.sql == R"(INSERT INTO a VALUES ('x /*Bemi {"no": 1} Bemi*/'))");

    // Its extent starts after the first ';': the leading comment is not its marker.
    StatementText two = bemi::find_statement(q, second, third - 1 - second, true);
    CHECK(two.body == R"( {"s": 2} )");
    CHECK(two.sql == R"(/*Bemi {"lead": 1} Bemi*/ UPDATE a SET v = 2)");

    // The last statement owns what follows its ';'.
    StatementText three = bemi::find_statement(q, third, third_len, true);
    CHECK(three.body == R"( {"s": 3} )");
    CHECK(three.sql == "DELETE FROM a");

    // Length 0 is the rest of the string; an impossible location means the whole string.
    StatementText rest = bemi::find_statement("UPDATE t SET a = 1 /*Bemi {} Bemi*/\n", 0, 0, true);
    CHECK(rest.sql == "UPDATE t SET a = 1");
    CHECK(rest.body == " {} ");
    CHECK(bemi::find_statement("  SELECT 1 ", -1, 0, true).sql == "SELECT 1");
    CHECK(bemi::find_statement("SELECT 1", 100, 5, true).sql == "SELECT 1");
    CHECK(bemi::find_statement("SELECT 1", 0, 100, true).sql == "SELECT 1");
    CHECK(bemi::find_statement("", 0, 0, true).sql.empty());
}

TEST_CASE("a statement ending in a marker-like literal has no marker and keeps its text", "[comment][scanner]") {
    const std::string q = R"(UPDATE t SET note = 'x /*Bemi {"user_id": 1} Bemi*/')";
    StatementText t = bemi::find_statement(q, 0, 0, true);
    CHECK(t.marker == Marker::None);
    CHECK(t.sql == q);
    CHECK(bemi::read_comment_context(q, 1000).kind == bemi::CommentContext::Kind::None);
}

TEST_CASE("the message bound holds for an invalid marker of escaped bytes", "[comment][merge]") {
    const std::string q = "UPDATE t SET a = 1 /*Bemi " + std::string(200, '\x01') + " Bemi*/";
    StatementText t = bemi::find_statement(q, 0, 0, true);
    bemi::CommentContext c = bemi::read_marker(t, 1000);
    REQUIRE(c.kind == bemi::CommentContext::Kind::Invalid);
    const std::string m = bemi::build_context_message("", c, "", true);
    CHECK(m.size() <= bemi::context_message_bound(0, t.body.size(), 0));
    const std::string short_body = "UPDATE t SET a = 1 /*Bemi\x01 Bemi*/";
    StatementText s = bemi::find_statement(short_body, 0, 0, true);
    CHECK(bemi::build_context_message("", bemi::read_marker(s, 1000), "", false).size() <=
          bemi::context_message_bound(0, s.body.size(), 0));
}

TEST_CASE("an extent that ends inside a marker is no marker (found by fuzz_comment)", "[comment][scanner]") {
    // A length that is not the parser's (here it stops after "/*Bem") must not read past the span.
    const std::string q = "UPDATE t SET a = 1 /*Bemi {} Bemi*/";
    StatementText t = bemi::find_statement(q, 0, static_cast<int>(q.find("/*Bem") + 5), true);
    CHECK(t.marker == Marker::None);
    CHECK(t.sql == "UPDATE t SET a = 1 /*Bem");
}
