// Tests for include/bemi/options.hpp: parse_options and valid_options_hint.
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "bemi/options.hpp"

using bemi::OptionError;
using bemi::Options;
using bemi::parse_options;
using bemi::RawOptions;

namespace {

Options parse1(const std::string &name, std::optional<std::string> value) {
    return parse_options(RawOptions{{name, std::move(value)}});
}

// Runs parse_options and returns the OptionError it throws; fails the test if it does not.
OptionError error_of(const RawOptions &raw) {
    try {
        parse_options(raw);
    } catch (const OptionError &e) {
        return e;
    }
    FAIL("parse_options did not throw OptionError");
    return OptionError("", ""); // not reached: FAIL throws
}

bool contains(const std::string &haystack, const std::string &needle) {
    return haystack.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("no options gives the defaults", "[options]") {
    const Options o = parse_options({});
    CHECK_FALSE(o.include_transaction);
    CHECK_FALSE(o.include_messages);
    CHECK(o.max_context_bytes == 65536);
    CHECK(o.tables.empty());
    CHECK(o.tables.allows("public", "anything"));
}

TEST_CASE("boolean options: every accepted spelling", "[options]") {
    for (const char *name : {"include-transaction", "include-messages"}) {
        for (const char *yes : {"true", "TRUE", "True", "on", "ON", "yes", "Yes", "1", "t", "T"}) {
            INFO(name << "=" << yes);
            const Options o = parse1(name, std::string(yes));
            CHECK((std::string(name) == "include-transaction" ? o.include_transaction
                                                              : o.include_messages));
        }
        for (const char *no : {"false", "FALSE", "off", "Off", "no", "NO", "0", "f", "F"}) {
            INFO(name << "=" << no);
            const Options o = parse1(name, std::string(no));
            CHECK_FALSE(o.include_transaction);
            CHECK_FALSE(o.include_messages);
        }
    }
}

TEST_CASE("boolean options given without a value mean true", "[options]") {
    CHECK(parse1("include-transaction", std::nullopt).include_transaction);
    CHECK(parse1("include-messages", std::nullopt).include_messages);
    // ...and set only their own flag.
    CHECK_FALSE(parse1("include-transaction", std::nullopt).include_messages);
    CHECK_FALSE(parse1("include-messages", std::nullopt).include_transaction);
}

TEST_CASE("boolean options reject other values", "[options]") {
    for (const char *bad : {"", "2", "-1", "tru", "truee", "y", "n", "enable", " true", "true ", "of"}) {
        INFO("value '" << bad << "'");
        const OptionError e = error_of({{"include-messages", std::string(bad)}});
        CHECK(std::string(e.what()) ==
              "invalid value \"" + std::string(bad) + "\" for option \"include-messages\"");
        CHECK(contains(e.hint(), "boolean"));
        CHECK(contains(e.hint(), "true"));
        CHECK(contains(e.hint(), "false"));
    }
}

TEST_CASE("a later occurrence of an option overrides an earlier one", "[options]") {
    const Options o = parse_options({{"include-transaction", std::string("on")},
                                     {"include-transaction", std::string("off")},
                                     {"max-context-bytes", std::string("100")},
                                     {"max-context-bytes", std::string("200")}});
    CHECK_FALSE(o.include_transaction);
    CHECK(o.max_context_bytes == 200);
}

TEST_CASE("max-context-bytes: valid sizes", "[options]") {
    CHECK(parse1("max-context-bytes", std::string("65536")).max_context_bytes == 65536);
    CHECK(parse1("max-context-bytes", std::string("2")).max_context_bytes == 2); // "{}"
    CHECK(parse1("max-context-bytes", std::string("1024")).max_context_bytes == 1024);
    // The maximum is 64 MiB = 64 * 1024 * 1024 = 67 108 864.
    CHECK(parse1("max-context-bytes", std::string("67108864")).max_context_bytes == 67108864);
    // Leading zeros are just decimal digits.
    CHECK(parse1("max-context-bytes", std::string("0010")).max_context_bytes == 10);
}

TEST_CASE("max-context-bytes: bad sizes", "[options]") {
    for (const char *bad : {"", "0", "1", "67108865", "99999999999999999999999999", "-1", "+5",
                            " 5", "5 ", "5kB", "1e3", "0x10", "1.5", "abc", "18446744073709551616"}) {
        INFO("value '" << bad << "'");
        const OptionError e = error_of({{"max-context-bytes", std::string(bad)}});
        CHECK(std::string(e.what()) ==
              "invalid value \"" + std::string(bad) + "\" for option \"max-context-bytes\"");
        CHECK(e.hint() == "Use a whole number of bytes from 2 to 67108864.");
    }
}

TEST_CASE("options that need a value", "[options]") {
    for (const char *name : {"max-context-bytes", "include-tables", "exclude-tables"}) {
        INFO(name);
        const OptionError e = error_of({{name, std::nullopt}});
        CHECK(std::string(e.what()) == "option \"" + std::string(name) + "\" needs a value");
        CHECK(contains(e.hint(), "For example: "));
    }
    CHECK(error_of({{"max-context-bytes", std::nullopt}}).hint() == "For example: '65536'");
}

TEST_CASE("include-tables and exclude-tables build the filter", "[options]") {
    SECTION("include only") {
        const Options o = parse1("include-tables", std::string("public.*, audit.events"));
        CHECK_FALSE(o.tables.empty());
        CHECK(o.tables.allows("public", "users"));
        CHECK(o.tables.allows("audit", "events"));
        CHECK_FALSE(o.tables.allows("audit", "other"));
        CHECK_FALSE(o.tables.allows("private", "users"));
    }
    SECTION("exclude only") {
        const Options o = parse1("exclude-tables", std::string("public.secret*"));
        CHECK(o.tables.allows("public", "users"));
        CHECK_FALSE(o.tables.allows("public", "secrets"));
        CHECK(o.tables.allows("other", "secrets"));
    }
    SECTION("repeated options accumulate") {
        const Options o = parse_options({{"include-tables", std::string("a.x")},
                                         {"include-tables", std::string("b.y")},
                                         {"exclude-tables", std::string("a.x")}});
        CHECK_FALSE(o.tables.allows("a", "x")); // excluded wins
        CHECK(o.tables.allows("b", "y"));
        CHECK_FALSE(o.tables.allows("c", "z"));
    }
}

TEST_CASE("malformed table lists are OptionErrors carrying the parser's message", "[options]") {
    for (const char *name : {"include-tables", "exclude-tables"}) {
        for (const char *bad : {"", "public", "public.users,", "a.b\\", " , a.b", ".t", "s."}) {
            INFO(name << "='" << bad << "'");
            const OptionError e = error_of({{name, std::string(bad)}});
            CHECK(contains(e.what(), "invalid value for option \"" + std::string(name) + "\": "));
            CHECK(contains(e.hint(), "schema.table"));
        }
    }
    const OptionError e = error_of({{"include-tables", std::string("public")}});
    CHECK(contains(e.what(), "\"public\" is not of the form schema.table"));
}

TEST_CASE("unknown options", "[options]") {
    for (const char *name : {"include-xids", "include_transaction", "Include-Messages", "", "format-version"}) {
        INFO("option '" << name << "'");
        const OptionError e = error_of({{name, std::string("1")}});
        // The message names the option, quoted (exact wording is free); the hint lists the
        // valid ones.
        CHECK(contains(e.what(), "\"" + std::string(name) + "\""));
        CHECK(contains(e.what(), "option"));
        CHECK(e.hint() == bemi::valid_options_hint());
    }
    // The error stops parsing even when valid options come first.
    const OptionError e = error_of({{"include-messages", std::nullopt}, {"bogus", std::nullopt}});
    CHECK(contains(e.what(), "\"bogus\""));
}

TEST_CASE("the hint lists exactly the accepted options", "[options]") {
    const std::string hint = bemi::valid_options_hint();
    // A valid value for each option.
    const RawOptions every = {{"include-tables", std::string("public.*")},
                              {"exclude-tables", std::string("public.tmp_*")},
                              {"include-transaction", std::string("true")},
                              {"include-messages", std::string("true")},
                              {"max-context-bytes", std::string("4096")}};
    for (const auto &[name, value] : every) {
        INFO(name);
        CHECK(contains(hint, name));
        CHECK_NOTHROW(parse_options({{name, value}}));
    }
    CHECK(hint == "Valid options are: include-tables, exclude-tables, include-transaction, "
                  "include-messages, max-context-bytes.");

    const Options o = parse_options(every);
    CHECK(o.include_transaction);
    CHECK(o.include_messages);
    CHECK(o.max_context_bytes == 4096);
    CHECK(o.tables.allows("public", "users"));
    CHECK_FALSE(o.tables.allows("public", "tmp_1"));
    CHECK_FALSE(o.tables.allows("other", "users"));
}

TEST_CASE("OptionError is a std::runtime_error with a hint", "[options]") {
    STATIC_REQUIRE(std::is_base_of<std::runtime_error, OptionError>::value);
    const OptionError e("message", "hint text");
    CHECK(std::string(e.what()) == "message");
    CHECK(e.hint() == "hint text");
    // Callers catching std::exception still see the message.
    try {
        parse1("nope", std::nullopt);
        FAIL("no exception");
    } catch (const std::exception &ex) {
        CHECK(contains(ex.what(), "\"nope\""));
        CHECK(dynamic_cast<const OptionError *>(&ex) != nullptr);
    }
}
