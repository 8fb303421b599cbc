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

} // namespace

bool format_utc_timestamp(int64_t usecs, char *buf) {
    int64_t days = usecs / kUsecsPerDay;
    int64_t rem = usecs % kUsecsPerDay;
    if (rem < 0) {
        rem += kUsecsPerDay;
        --days;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days + kDaysUnixToPg, year, month, day);
    if (year < 1 || year > 9999)
        return false;
    const int64_t secs = rem / 1000000;
    const int64_t fraction = rem % 1000000;
    char *p = buf;
    auto put = [&p](int64_t value, int width) {
        for (int k = width - 1; k >= 0; --k, value /= 10)
            p[k] = static_cast<char>('0' + value % 10);
        p += width;
    };
    put(year, 4);
    *p++ = '-';
    put(month, 2);
    *p++ = '-';
    put(day, 2);
    *p++ = 'T';
    put(secs / 3600, 2);
    *p++ = ':';
    put(secs / 60 % 60, 2);
    *p++ = ':';
    put(secs % 60, 2);
    *p++ = '.';
    put(fraction, 6);
    std::memcpy(p, "+00:00", 7);
    return true;
}

} // namespace bemi
