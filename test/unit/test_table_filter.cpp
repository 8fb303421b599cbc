// Tests for include/bemi/table_filter.hpp: list parsing, TableFilter::allows and glob_match.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "bemi/table_filter.hpp"

using bemi::glob_match;
using bemi::TableFilter;
using bemi::TablePattern;

namespace {

std::vector<TablePattern> parse(const std::string &list) { return TableFilter::parse_list(list); }

void check_patterns(const std::string &list, const std::vector<std::pair<std::string, std::string>> &want) {
    INFO("list '" << list << "'");
    const auto got = parse(list);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        CHECK(got[i].schema == want[i].first);
        CHECK(got[i].table == want[i].second);
    }
}

// The message of the std::invalid_argument parse_list throws.
std::string parse_error(const std::string &list) {
    try {
        parse(list);
    } catch (const std::invalid_argument &e) {
        return e.what();
    }
    FAIL("parse_list(\"" << list << "\") did not throw");
    return {};
}

bool contains(const std::string &haystack, const std::string &needle) {
    return haystack.find(needle) != std::string::npos;
}

TableFilter filter(const std::string &include, const std::string &exclude) {
    TableFilter f;
    if (!include.empty())
        f.include(parse(include));
    if (!exclude.empty())
        f.exclude(parse(exclude));
    return f;
}

} // namespace

TEST_CASE("parse_list: plain items", "[table_filter]") {
    check_patterns("public.users", {{"public", "users"}});
    check_patterns("public.*", {{"public", "*"}});
    check_patterns("*.*", {{"*", "*"}});
    check_patterns("a.b,c.d,e.f", {{"a", "b"}, {"c", "d"}, {"e", "f"}});
    check_patterns("s.t_*_log", {{"s", "t_*_log"}});
    // Only the first unescaped dot separates: later dots belong to the table pattern.
    check_patterns("a.b.c", {{"a", "b.c"}});
    // Non-ASCII names are bytes like any other.
    check_patterns("sch\xc3\xa9ma.t\xc3\xa4" "ble", {{"sch\xc3\xa9ma", "t\xc3\xa4" "ble"}});
}

TEST_CASE("parse_list: whitespace around items is trimmed, inside kept", "[table_filter]") {
    check_patterns(" public.users ", {{"public", "users"}});
    check_patterns("public.*, audit.events", {{"public", "*"}, {"audit", "events"}});
    check_patterns("\ta.b\t,\t c.d \t", {{"a", "b"}, {"c", "d"}});
    check_patterns("my schema.my table", {{"my schema", "my table"}});
    // Whitespace next to the dot is part of the names (only item ends are trimmed).
    check_patterns("a .b", {{"a ", "b"}});
}

TEST_CASE("parse_list: escapes", "[table_filter]") {
    // \. is a dot inside a name.
    check_patterns("my\\.schema.t", {{"my.schema", "t"}});
    check_patterns("s.my\\.table", {{"s", "my.table"}});
    // \, is a comma inside a name, and does not split the list.
    check_patterns("s.a\\,b", {{"s", "a,b"}});
    check_patterns("s.a\\,b,t.c", {{"s", "a,b"}, {"t", "c"}});
    // \* stays escaped, as glob_match expects for a literal star.
    check_patterns("s.a\\*", {{"s", "a\\*"}});
    // Other escaped characters are just themselves.
    check_patterns("\\s.\\t", {{"s", "t"}});
    check_patterns("s.a\\ b", {{"s", "a b"}});
    // \\ stays escaped too: glob_match reads "\x" as a literal x, so a lone backslash in the
    // stored pattern would swallow the character after it.
    check_patterns("a\\\\b.t", {{"a\\\\b", "t"}});
    check_patterns("s.x\\\\*", {{"s", "x\\\\*"}});
}

TEST_CASE("parse_list: errors", "[table_filter]") {
    SECTION("empty list and empty items") {
        for (const char *bad : {"", " ", "\t", ",", "a.b,", ",a.b", "a.b,,c.d", "a.b, ,c.d"}) {
            INFO("list '" << bad << "'");
            CHECK(contains(parse_error(bad), "empty table pattern in \"" + std::string(bad) + "\""));
        }
    }
    SECTION("missing dot or empty half") {
        for (const char *bad : {"public", "users", "*", ".users", "public.", ".", "a\\.b",
                                "ok.one,notok"}) {
            INFO("list '" << bad << "'");
            CHECK(contains(parse_error(bad), "is not of the form schema.table"));
        }
        CHECK(parse_error("public") ==
              "pattern \"public\" is not of the form schema.table (use * as a wildcard, e.g. public.*)");
    }
    SECTION("trailing backslash") {
        // The backslash would escape nothing. This must be an error, never a silently
        // shortened list (a list reduced to nothing would allow every table).
        for (const char *bad : {"a.b\\", "x.y,a.b\\", "\\", "a\\"}) {
            INFO("list '" << bad << "'");
            CHECK_THROWS_AS(parse(bad), std::invalid_argument);
        }
        CHECK(contains(parse_error("a.b\\"), "ends with a lone backslash"));
        CHECK(contains(parse_error("x.y,a.b\\"), "\"a.b\\\" ends with a lone backslash"));
    }
}

TEST_CASE("glob_match: literal patterns", "[table_filter][glob]") {
    CHECK(glob_match("users", "users"));
    CHECK_FALSE(glob_match("users", "user"));
    CHECK_FALSE(glob_match("user", "users"));
    CHECK_FALSE(glob_match("users", "Users")); // case-sensitive
    CHECK_FALSE(glob_match("a?c", "abc"));     // '?' is not special
    CHECK(glob_match("a?c", "a?c"));
    CHECK(glob_match("", ""));
    CHECK_FALSE(glob_match("", "a"));
    CHECK_FALSE(glob_match("a", ""));
}

TEST_CASE("glob_match: stars", "[table_filter][glob]") {
    CHECK(glob_match("*", ""));
    CHECK(glob_match("*", "anything"));
    CHECK(glob_match("**", ""));
    CHECK(glob_match("***", "abc"));
    CHECK(glob_match("a*", "a"));
    CHECK(glob_match("a*", "abc"));
    CHECK_FALSE(glob_match("a*", "ba"));
    CHECK(glob_match("*a", "a"));
    CHECK(glob_match("*a", "bba"));
    CHECK_FALSE(glob_match("*a", "ab"));
    CHECK(glob_match("a*c", "ac"));
    CHECK(glob_match("a*c", "abbbc"));
    CHECK_FALSE(glob_match("a*c", "abcd"));
    CHECK(glob_match("*b*", "abc"));
    CHECK_FALSE(glob_match("*b*", "ac"));
    CHECK(glob_match("a**b", "ab"));
    CHECK(glob_match("a**b", "axyb"));
}

TEST_CASE("glob_match: backtracking", "[table_filter][glob]") {
    CHECK(glob_match("a*b*c", "aXbYbZc"));
    CHECK(glob_match("a*b*c", "abc"));
    CHECK(glob_match("a*b*c", "abbbcc"));
    CHECK_FALSE(glob_match("a*b*c", "aXbYbZ"));
    CHECK_FALSE(glob_match("a*b*c", "aXcYc")); // no b
    // The first candidate for the part after a star is not the right one.
    CHECK(glob_match("*ab", "aab"));
    CHECK(glob_match("*abc", "ababc"));
    CHECK(glob_match("*aab", "aaaab"));
    CHECK(glob_match("*_log", "x_log_log"));
    CHECK_FALSE(glob_match("*_log", "x_log_lo"));
    CHECK(glob_match("*a*a*a*", "aaa"));
    CHECK_FALSE(glob_match("*a*a*a*", "aa"));
    // A long text that almost matches stays correct (and fast).
    const std::string text = std::string(5000, 'a') + "b";
    CHECK(glob_match("*a*a*b", text));
    CHECK_FALSE(glob_match("*a*a*c", text));
}

TEST_CASE("glob_match: escaped star is literal", "[table_filter][glob]") {
    CHECK(glob_match("\\*", "*"));
    CHECK_FALSE(glob_match("\\*", ""));
    CHECK_FALSE(glob_match("\\*", "x"));
    CHECK_FALSE(glob_match("a\\*", "ab"));
    CHECK(glob_match("a\\*", "a*"));
    CHECK(glob_match("*\\**", "x*y"));
    CHECK(glob_match("*\\**", "*"));
    CHECK_FALSE(glob_match("*\\**", "xy"));
    CHECK(glob_match("\\*\\*", "**"));
    CHECK_FALSE(glob_match("\\*\\*", "*"));
}

TEST_CASE("glob_match: escaped backslash is literal", "[table_filter][glob]") {
    CHECK(glob_match("\\\\", "\\"));
    CHECK_FALSE(glob_match("\\\\", "\\\\"));
    CHECK(glob_match("a\\\\b", "a\\b"));
    CHECK_FALSE(glob_match("a\\\\b", "ab"));
    CHECK(glob_match("a\\\\*", "a\\xyz"));       // backslash, then a wildcard
    CHECK_FALSE(glob_match("a\\\\*", "a*"));
    CHECK(glob_match("\\\\\\*", "\\*"));         // backslash, then a literal star
    CHECK_FALSE(glob_match("\\\\\\*", "\\x"));
}

TEST_CASE("allows: no patterns lets everything through", "[table_filter]") {
    const TableFilter f;
    CHECK(f.empty());
    CHECK(f.allows("public", "users"));
    CHECK(f.allows("", ""));
}

TEST_CASE("allows: include only", "[table_filter]") {
    const TableFilter f = filter("public.users, audit.*", "");
    CHECK_FALSE(f.empty());
    CHECK(f.allows("public", "users"));
    CHECK_FALSE(f.allows("public", "orders"));
    CHECK(f.allows("audit", "events"));
    CHECK(f.allows("audit", "anything"));
    CHECK_FALSE(f.allows("audit2", "events"));
    CHECK_FALSE(f.allows("other", "users"));
    // Schema and table are matched separately: no dot games.
    CHECK_FALSE(f.allows("public.users", ""));
    CHECK_FALSE(f.allows("public.", "users"));
}

TEST_CASE("allows: exclude only", "[table_filter]") {
    const TableFilter f = filter("", "public.tmp_*, scratch.*");
    CHECK_FALSE(f.empty());
    CHECK(f.allows("public", "users"));
    CHECK_FALSE(f.allows("public", "tmp_1"));
    CHECK_FALSE(f.allows("public", "tmp_"));
    CHECK(f.allows("public", "tmp"));
    CHECK_FALSE(f.allows("scratch", "x"));
    CHECK(f.allows("other", "tmp_1"));
}

TEST_CASE("allows: include and exclude together, exclude wins", "[table_filter]") {
    const TableFilter f = filter("public.*", "public.secret*, *.audit_log");
    CHECK(f.allows("public", "users"));
    CHECK_FALSE(f.allows("public", "secrets"));
    CHECK_FALSE(f.allows("public", "secret"));
    CHECK_FALSE(f.allows("public", "audit_log"));
    CHECK_FALSE(f.allows("other", "users"));      // not included
    CHECK_FALSE(f.allows("other", "audit_log"));  // neither
}

TEST_CASE("allows: wildcards in schema and table", "[table_filter]") {
    const TableFilter f = filter("tenant_*.orders, *.*_events", "");
    CHECK(f.allows("tenant_1", "orders"));
    CHECK(f.allows("tenant_", "orders"));
    CHECK_FALSE(f.allows("tenant", "orders"));
    CHECK_FALSE(f.allows("tenant_1", "orders_old"));
    CHECK(f.allows("anything", "user_events"));
    CHECK(f.allows("x", "_events"));
    CHECK_FALSE(f.allows("x", "events"));

    const TableFilter all = filter("*.*", "");
    CHECK(all.allows("a", "b"));
    CHECK(all.allows("", ""));
}

TEST_CASE("allows: \\* matches only a literal star", "[table_filter]") {
    const TableFilter f = filter("s.a\\*", "");
    CHECK(f.allows("s", "a*"));
    CHECK_FALSE(f.allows("s", "a"));
    CHECK_FALSE(f.allows("s", "ab"));
    CHECK_FALSE(f.allows("s", "a**"));

    const TableFilter g = filter("\\*.*", "");
    CHECK(g.allows("*", "anything"));
    CHECK_FALSE(g.allows("public", "anything"));
}

TEST_CASE("allows: escaped dots and commas in names", "[table_filter]") {
    const TableFilter f = filter("my\\.schema.a\\,b", "");
    CHECK(f.allows("my.schema", "a,b"));
    CHECK_FALSE(f.allows("my", "schema.a,b"));
    CHECK_FALSE(f.allows("my.schema", "a"));
}

TEST_CASE("allows: \\\\ matches a literal backslash", "[table_filter]") {
    // "'\' escapes the next one", so "\\" is a backslash in the name.
    const TableFilter f = filter("a\\\\b.t", "");
    CHECK(f.allows("a\\b", "t"));
    CHECK_FALSE(f.allows("ab", "t"));
    CHECK_FALSE(f.allows("a\\\\b", "t"));

    // A literal backslash followed by a wildcard star: "x\\*" is "x\" then anything.
    const TableFilter g = filter("s.x\\\\*", "");
    CHECK(g.allows("s", "x\\"));
    CHECK(g.allows("s", "x\\yz"));
    CHECK_FALSE(g.allows("s", "x*"));
    CHECK_FALSE(g.allows("s", "xy"));

    // A backslash at the end of a name.
    const TableFilter h = filter("s.t\\\\", "");
    CHECK(h.allows("s", "t\\"));
    CHECK_FALSE(h.allows("s", "t"));
}

TEST_CASE("includes and excludes are the two halves of allows", "[table_filter]") {
    const TableFilter none;
    CHECK(none.includes("s", "t")); // no include patterns: everything is included
    CHECK_FALSE(none.excludes("s", "t"));

    const TableFilter f = filter("public.*, audit.events", "public.tmp_*");
    CHECK(f.includes("public", "users"));
    CHECK(f.includes("public", "tmp_1")); // included, and also excluded
    CHECK(f.excludes("public", "tmp_1"));
    CHECK_FALSE(f.excludes("public", "users"));
    CHECK_FALSE(f.includes("other", "x"));
    CHECK_FALSE(f.excludes("other", "x"));
    CHECK(f.includes("audit", "events"));

    const TableFilter ex = filter("", "s.*");
    CHECK(ex.includes("s", "t"));
    CHECK(ex.excludes("s", "t"));
    CHECK(ex.includes("u", "t"));
    CHECK_FALSE(ex.excludes("u", "t"));

    // allows() agrees with the halves everywhere.
    for (const char *schema : {"public", "audit", "other", "s", "u"})
        for (const char *table : {"users", "tmp_1", "events", "t", "x"}) {
            INFO(schema << "." << table);
            CHECK(f.allows(schema, table) == (f.includes(schema, table) && !f.excludes(schema, table)));
            CHECK(ex.allows(schema, table) == (ex.includes(schema, table) && !ex.excludes(schema, table)));
        }
}
