// Timestamps and dates as text, independent of PostgreSQL and of any TimeZone.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bemi {

// "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" is 32 characters.
constexpr size_t kUtcTimestampLength = 32;

// Formats a PostgreSQL TimestampTz (microseconds since 2000-01-01 00:00:00 UTC) for years
// 0001..9999 into buf (at least kUtcTimestampLength + 1 bytes, NUL-terminated), always with
// six fractional digits: the record's committed_at. Returns false, writing nothing, for
// instants outside that range.
bool format_utc_timestamp(int64_t usecs_since_2000, char *buf);

// The longest text of format_iso_timestamp() and format_iso_date().
constexpr size_t kIsoTimestampMaxLength = 32;
constexpr size_t kIsoDateLength = 10;

// A timestamp (microseconds since 2000-01-01 00:00:00) as to_jsonb() writes it, for years
// 0001..9999: "YYYY-MM-DDTHH:MM:SS", then "." and the fraction without its trailing zeros
// unless it is zero, then "+00:00" if with_utc_offset (a timestamptz, already in UTC).
// Returns the length n of the text at buf (no NUL); buf must have kIsoTimestampMaxLength
// bytes, and those past n may have been overwritten. Returns 0, writing nothing, outside
// that range (infinity, BC, years past 9999), where the caller falls back to PostgreSQL's
// own formatting.
size_t format_iso_timestamp(int64_t usecs_since_2000, bool with_utc_offset, char *buf);

// A date (days since 2000-01-01) as "YYYY-MM-DD" for years 0001..9999: returns
// kIsoDateLength, or 0 writing nothing outside that range. No NUL.
size_t format_iso_date(int32_t days_since_2000, char *buf);

} // namespace bemi
