// Commit times in the record's fixed form, independent of PostgreSQL and of any TimeZone.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bemi {

// "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" is 32 characters.
constexpr size_t kUtcTimestampLength = 32;

// Formats a PostgreSQL TimestampTz (microseconds since 2000-01-01 00:00:00 UTC) for years
// 0001..9999 into buf (at least kUtcTimestampLength + 1 bytes, NUL-terminated). Returns
// false, writing nothing, for instants outside that range.
bool format_utc_timestamp(int64_t usecs_since_2000, char *buf);

} // namespace bemi
