// Tests for include/bemi/utc_timestamp.hpp.
//
// Every input below is derived by hand from the definition (microseconds since
// 2000-01-01 00:00:00 UTC). Useful constants:
//   1 day  = 86 400 s = 86 400 000 000 us
//   1 hour = 3 600 000 000 us, 1 minute = 60 000 000 us, 1 second = 1 000 000 us
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>

#include "bemi/utc_timestamp.hpp"

namespace {

constexpr int64_t kDay = INT64_C(86400000000);
constexpr int64_t kHour = INT64_C(3600000000);
constexpr int64_t kMinute = INT64_C(60000000);
constexpr int64_t kSecond = INT64_C(1000000);

std::string fmt(int64_t usecs) {
    char buf[bemi::kUtcTimestampLength + 1];
    std::memset(buf, '#', sizeof buf);
    REQUIRE(bemi::format_utc_timestamp(usecs, buf));
    // NUL-terminated at exactly 32 characters.
    REQUIRE(buf[bemi::kUtcTimestampLength] == '\0');
    REQUIRE(std::strlen(buf) == bemi::kUtcTimestampLength);
    return buf;
}

// Out of range: false, and the buffer is left untouched.
bool rejected(int64_t usecs) {
    char buf[bemi::kUtcTimestampLength + 8];
    std::memset(buf, '#', sizeof buf);
    const bool ok = bemi::format_utc_timestamp(usecs, buf);
    for (char c : buf)
        if (c != '#')
            return false;
    return !ok;
}

} // namespace

TEST_CASE("the length constant matches the format", "[utc_timestamp]") {
    CHECK(bemi::kUtcTimestampLength == std::strlen("YYYY-MM-DDTHH:MM:SS.ffffff+00:00"));
}

TEST_CASE("the PostgreSQL epoch and its neighbours", "[utc_timestamp]") {
    CHECK(fmt(0) == "2000-01-01T00:00:00.000000+00:00");
    CHECK(fmt(1) == "2000-01-01T00:00:00.000001+00:00");
    CHECK(fmt(999999) == "2000-01-01T00:00:00.999999+00:00");
    CHECK(fmt(kSecond) == "2000-01-01T00:00:01.000000+00:00");
    // 23:59:59.999999 = 1 day - 1 us
    CHECK(fmt(kDay - 1) == "2000-01-01T23:59:59.999999+00:00");
    CHECK(fmt(kDay) == "2000-01-02T00:00:00.000000+00:00");
}

TEST_CASE("negative values count back from 2000-01-01", "[utc_timestamp]") {
    CHECK(fmt(-1) == "1999-12-31T23:59:59.999999+00:00");
    CHECK(fmt(-kSecond) == "1999-12-31T23:59:59.000000+00:00");
    CHECK(fmt(-kSecond - 1) == "1999-12-31T23:59:58.999999+00:00");
    CHECK(fmt(-kDay) == "1999-12-31T00:00:00.000000+00:00");
    CHECK(fmt(-kDay - 1) == "1999-12-30T23:59:59.999999+00:00");
    CHECK(fmt(-kDay + 1) == "1999-12-31T00:00:00.000001+00:00");
    // Unix epoch: 1970..1999 is 30 years with 7 leap years (1972, 76, 80, 84, 88, 92, 96),
    // so 30*365 + 7 = 10957 days = 946 684 800 s before 2000-01-01.
    CHECK(fmt(-INT64_C(946684800000000)) == "1970-01-01T00:00:00.000000+00:00");
    // 1999-12-31T12:00:00 is 12 hours back.
    CHECK(fmt(-12 * kHour) == "1999-12-31T12:00:00.000000+00:00");
}

TEST_CASE("time of day fields", "[utc_timestamp]") {
    // 12:34:56.789012 = 12*3600 + 34*60 + 56 = 45296 s, plus 789012 us
    //                 = 45 296 789 012 us
    CHECK(fmt(INT64_C(45296789012)) == "2000-01-01T12:34:56.789012+00:00");
    CHECK(fmt(12 * kHour + 34 * kMinute + 56 * kSecond + 789012) ==
          "2000-01-01T12:34:56.789012+00:00");
    // Leading zeros in every field: 01:02:03.000004
    CHECK(fmt(1 * kHour + 2 * kMinute + 3 * kSecond + 4) == "2000-01-01T01:02:03.000004+00:00");
}

TEST_CASE("leap days", "[utc_timestamp]") {
    // 2000 is a leap year (divisible by 400). 2000-02-29 is 31 (January) + 28 = 59 days
    // after 2000-01-01: 59 * 86 400 s = 5 097 600 s = 5 097 600 000 000 us.
    CHECK(fmt(INT64_C(5097600000000)) == "2000-02-29T00:00:00.000000+00:00");
    CHECK(fmt(59 * kDay) == "2000-02-29T00:00:00.000000+00:00");
    CHECK(fmt(58 * kDay) == "2000-02-28T00:00:00.000000+00:00");
    CHECK(fmt(60 * kDay - 1) == "2000-02-29T23:59:59.999999+00:00");
    CHECK(fmt(60 * kDay) == "2000-03-01T00:00:00.000000+00:00");
    // 2000 has 366 days: 2000-12-31 is day 365, 2001-01-01 is day 366.
    CHECK(fmt(365 * kDay) == "2000-12-31T00:00:00.000000+00:00");
    CHECK(fmt(366 * kDay) == "2001-01-01T00:00:00.000000+00:00");

    // 2024-01-01: 24 years after 2000-01-01, with leap years 2000, 2004, 2008, 2012, 2016,
    // 2020 (6) -> 24*365 + 6 = 8766 days. 2024-02-29 is 59 days later: 8825 days
    // = 8825 * 86 400 s = 762 480 000 s = 762 480 000 000 000 us.
    CHECK(fmt(INT64_C(762480000000000)) == "2024-02-29T00:00:00.000000+00:00");
    // + 12:34:56.789012 (45 296 789 012 us) = 762 525 296 789 012 us
    CHECK(fmt(INT64_C(762525296789012)) == "2024-02-29T12:34:56.789012+00:00");
    CHECK(fmt(INT64_C(762480000000000) - 1) == "2024-02-28T23:59:59.999999+00:00");
    CHECK(fmt(INT64_C(762480000000000) + kDay) == "2024-03-01T00:00:00.000000+00:00");

    // 1900 is not a leap year (divisible by 100, not by 400). 1900..1999 has 24 leap years
    // (1904..1996), so 1900-01-01 is 100*365 + 24 = 36524 days before 2000-01-01, and
    // 1900-02-28 is 31 + 27 = 58 days after that: -(36524 - 58) = -36466 days.
    CHECK(fmt(-36524 * kDay) == "1900-01-01T00:00:00.000000+00:00");
    CHECK(fmt(-36466 * kDay) == "1900-02-28T00:00:00.000000+00:00");
    CHECK(fmt(-36465 * kDay) == "1900-03-01T00:00:00.000000+00:00");
}

TEST_CASE("the first and last representable instants", "[utc_timestamp]") {
    // 0001-01-01: years 1..1999 are 1999 years with 1999/4 - 1999/100 + 1999/400
    // = 499 - 19 + 4 = 484 leap years: 1999*365 + 484 = 730 119 days before 2000-01-01
    // = 730 119 * 86 400 s = 63 082 281 600 s = 63 082 281 600 000 000 us.
    const int64_t year1 = -INT64_C(63082281600000000);
    CHECK(year1 == -730119 * kDay);
    CHECK(fmt(year1) == "0001-01-01T00:00:00.000000+00:00");
    CHECK(fmt(year1 + 1) == "0001-01-01T00:00:00.000001+00:00");
    CHECK(rejected(year1 - 1)); // 0000-12-31T23:59:59.999999
    CHECK(rejected(year1 - kDay));

    // 10000-01-01: 2000..9999 are 8000 years = 20 cycles of 400 years, each 146 097 days:
    // 2 921 940 days = 252 455 616 000 s = 252 455 616 000 000 000 us after 2000-01-01.
    const int64_t year10000 = INT64_C(252455616000000000);
    CHECK(year10000 == 2921940 * kDay);
    CHECK(fmt(year10000 - 1) == "9999-12-31T23:59:59.999999+00:00");
    CHECK(fmt(year10000 - kDay) == "9999-12-31T00:00:00.000000+00:00");
    CHECK(rejected(year10000));
    CHECK(rejected(year10000 + 1));
}

TEST_CASE("extreme values are rejected, not mangled", "[utc_timestamp]") {
    // PostgreSQL uses INT64_MIN / INT64_MAX for -infinity / infinity.
    CHECK(rejected(INT64_MIN));
    CHECK(rejected(INT64_MAX));
    CHECK(rejected(INT64_MIN + 1));
    CHECK(rejected(INT64_MAX - 1));
    CHECK(rejected(-INT64_C(1000000000000000000)));
    CHECK(rejected(INT64_C(1000000000000000000)));
}

// ---------------------------------------------------------------------------------------
// format_iso_timestamp / format_iso_date: to_jsonb()'s form. The expected strings below are
// what PostgreSQL 15's to_jsonb() printed for these values (TimeZone UTC), with the inputs
// computed as (extract(epoch from t) * 1e6 - 946684800000000) and (t::date - '2000-01-01').

namespace {

std::string iso(int64_t usecs, bool with_offset) {
    char buf[bemi::kIsoTimestampMaxLength + 8];
    std::memset(buf, '#', sizeof buf);
    const size_t n = bemi::format_iso_timestamp(usecs, with_offset, buf);
    REQUIRE(n > 0);
    REQUIRE(n <= bemi::kIsoTimestampMaxLength);
    for (size_t i = bemi::kIsoTimestampMaxLength; i < sizeof buf; ++i)
        REQUIRE(buf[i] == '#'); // nothing past the maximum length, no NUL
    return std::string(buf, n);
}

bool iso_rejected(int64_t usecs) {
    char buf[bemi::kIsoTimestampMaxLength + 8];
    std::memset(buf, '#', sizeof buf);
    for (bool with_offset : {false, true}) {
        if (bemi::format_iso_timestamp(usecs, with_offset, buf) != 0)
            return false;
        for (char c : buf)
            if (c != '#')
                return false;
    }
    return true;
}

std::string date(int32_t days) {
    char buf[bemi::kIsoDateLength + 8];
    std::memset(buf, '#', sizeof buf);
    const size_t n = bemi::format_iso_date(days, buf);
    REQUIRE(n == bemi::kIsoDateLength);
    REQUIRE(buf[n] == '#');
    return std::string(buf, n);
}

bool date_rejected(int32_t days) {
    char buf[bemi::kIsoDateLength + 8];
    std::memset(buf, '#', sizeof buf);
    if (bemi::format_iso_date(days, buf) != 0)
        return false;
    for (char c : buf)
        if (c != '#')
            return false;
    return true;
}

} // namespace

TEST_CASE("format_iso_timestamp: as to_jsonb() prints timestamptz and timestamp", "[utc_timestamp][iso]") {
    struct Case {
        int64_t usecs;
        const char *text; // timestamp; timestamptz adds +00:00
    };
    const Case cases[] = {
        {INT64_C(757479845123456), "2024-01-02T03:04:05.123456"},
        {INT64_C(757479845100000), "2024-01-02T03:04:05.1"},
        {INT64_C(757479845120000), "2024-01-02T03:04:05.12"},
        {INT64_C(757479845000001), "2024-01-02T03:04:05.000001"},
        {INT64_C(757479845500000), "2024-01-02T03:04:05.5"},
        {INT64_C(757479845000000), "2024-01-02T03:04:05"},
        {0, "2000-01-01T00:00:00"},
        {-1, "1999-12-31T23:59:59.999999"},
        {-INT64_C(63082281600000000), "0001-01-01T00:00:00"},
        {INT64_C(252455615999999999), "9999-12-31T23:59:59.999999"},
        {INT64_C(762523200010000), "2024-02-29T12:00:00.01"},
        {-INT64_C(3150575999999900), "1900-03-01T00:00:00.0001"},
        {-INT64_C(946684799000010), "1970-01-01T00:00:00.99999"},
        {-INT64_C(61718932800000000), "0044-03-15T12:00:00"},
    };
    for (const Case &c : cases) {
        INFO(c.usecs);
        CHECK(iso(c.usecs, false) == c.text);
        CHECK(iso(c.usecs, true) == std::string(c.text) + "+00:00");
    }
    CHECK(iso(INT64_C(252455615999999999), true).size() == bemi::kIsoTimestampMaxLength);
}

TEST_CASE("format_iso_timestamp: falls back outside years 1..9999", "[utc_timestamp][iso]") {
    CHECK(iso_rejected(INT64_MIN)); // -infinity
    CHECK(iso_rejected(INT64_MAX)); // infinity
    CHECK(iso_rejected(-INT64_C(63082281600000000) - 1)); // 0001-12-31 23:59:59.999999 BC
    CHECK(iso_rejected(INT64_C(252455616000000000)));     // 10000-01-01
    CHECK(iso_rejected(-INT64_C(211813488000000000)));    // 4714-11-24 BC, the lowest timestamp
}

TEST_CASE("format_iso_timestamp agrees with format_utc_timestamp", "[utc_timestamp][iso]") {
    // The same instant; only the fraction's trailing zeros may be dropped.
    for (int64_t usecs = -INT64_C(63082281600000000); usecs < INT64_C(252455616000000000);
         usecs += INT64_C(987654321987) + usecs % 7919) {
        char full[bemi::kUtcTimestampLength + 1];
        REQUIRE(bemi::format_utc_timestamp(usecs, full));
        std::string expected(full, 19);
        std::string fraction(full + 20, 6);
        while (!fraction.empty() && fraction.back() == '0')
            fraction.pop_back();
        if (!fraction.empty())
            expected += "." + fraction;
        INFO(usecs);
        REQUIRE(iso(usecs, false) == expected);
        REQUIRE(iso(usecs, true) == expected + "+00:00");
    }
}

TEST_CASE("format_iso_date", "[utc_timestamp][iso]") {
    CHECK(date(8767) == "2024-01-02");
    CHECK(date(8825) == "2024-02-29");
    CHECK(date(0) == "2000-01-01");
    CHECK(date(-1) == "1999-12-31");
    CHECK(date(-36465) == "1900-03-01");
    CHECK(date(-10957) == "1970-01-01");
    CHECK(date(-714340) == "0044-03-15");
    CHECK(date(-730119) == "0001-01-01");
    CHECK(date(2921939) == "9999-12-31");
    CHECK(date_rejected(-730120));   // 0001-12-31 BC
    CHECK(date_rejected(2921940));   // 10000-01-01
    CHECK(date_rejected(INT32_MIN)); // -infinity
    CHECK(date_rejected(INT32_MAX)); // infinity
}
