#include "bemi/utc_timestamp.hpp"

#include <cstring>

namespace bemi {

namespace {

constexpr int64_t kUsecsPerDay = INT64_C(86400000000);
// Days from 1970-01-01 to 2000-01-01.
constexpr int64_t kDaysUnixToPg = 10957;

// Civil date from days since 1970-01-01 (proleptic Gregorian), after H. Hinnant's
// "chrono-compatible low-level date algorithms".
void civil_from_days(int64_t z, int64_t &y, unsigned &m, unsigned &d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

// "00" to "99".
struct DigitPairs {
    char text[200];
    constexpr DigitPairs() : text() {
        for (int i = 0; i < 100; ++i) {
            text[2 * i] = static_cast<char>('0' + i / 10);
            text[2 * i + 1] = static_cast<char>('0' + i % 10);
        }
    }
};
constexpr DigitPairs kPairs{};

// Two digits of value (0..99).
inline char *put2(char *p, unsigned value) {
    std::memcpy(p, kPairs.text + 2 * value, 2);
    return p + 2;
}

// width digits of value (0 <= value < 10^width), zero-padded.
inline char *put(char *p, int64_t value, int width) {
    for (int k = width - 1; k >= 0; --k, value /= 10)
        p[k] = static_cast<char>('0' + value % 10);
    return p + width;
}

// "YYYY-MM-DD" for days since 2000-01-01, or nullptr outside years 1..9999.
char *put_date(char *p, int64_t days) {
    int64_t year;
    unsigned month, day;
    civil_from_days(days + kDaysUnixToPg, year, month, day);
    if (year < 1 || year > 9999)
        return nullptr;
    p = put2(p, static_cast<unsigned>(year / 100));
    p = put2(p, static_cast<unsigned>(year % 100));
    *p++ = '-';
    p = put2(p, month);
    *p++ = '-';
    return put2(p, day);
}

// Splits microseconds since 2000-01-01 into days and microseconds of the day.
void split(int64_t usecs, int64_t &days, int64_t &rem) {
    days = usecs / kUsecsPerDay;
    rem = usecs % kUsecsPerDay;
    if (rem < 0) {
        rem += kUsecsPerDay;
        --days;
    }
}

// "THH:MM:SS" of a time of day in microseconds, without the fraction.
char *put_time(char *p, int64_t rem) {
    const unsigned secs = static_cast<unsigned>(rem / 1000000);
    *p++ = 'T';
    p = put2(p, secs / 3600);
    *p++ = ':';
    p = put2(p, secs / 60 % 60);
    *p++ = ':';
    return put2(p, secs % 60);
}

} // namespace

bool format_utc_timestamp(int64_t usecs, char *buf) {
    int64_t days, rem;
    split(usecs, days, rem);
    char *p = put_date(buf, days);
    if (!p)
        return false;
    p = put_time(p, rem);
    *p++ = '.';
    p = put(p, rem % 1000000, 6);
    std::memcpy(p, "+00:00", 7);
    return true;
}

size_t format_iso_timestamp(int64_t usecs, bool with_utc_offset, char *buf) {
    int64_t days, rem;
    split(usecs, days, rem);
    char *p = put_date(buf, days);
    if (!p)
        return 0;
    p = put_time(p, rem);
    // As PostgreSQL's AppendSeconds(): the fraction only if nonzero, trailing zeros trimmed.
    const unsigned fraction = static_cast<unsigned>(rem % 1000000);
    if (fraction != 0) {
        *p++ = '.';
        p = put2(p, fraction / 10000);
        p = put2(p, fraction / 100 % 100);
        p = put2(p, fraction % 100);
        while (p[-1] == '0') // stops at the nonzero digit that fraction has
            --p;
    }
    if (with_utc_offset) {
        std::memcpy(p, "+00:00", 6);
        p += 6;
    }
    return static_cast<size_t>(p - buf);
}

size_t format_iso_date(int32_t days, char *buf) {
    char *p = put_date(buf, days);
    return p ? static_cast<size_t>(p - buf) : 0;
}

} // namespace bemi
