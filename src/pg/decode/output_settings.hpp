// The settings that change how values print, pinned for bemi's own decoding so a record never
// depends on who decodes it.
#pragma once

namespace bemi_pg {

// Pins TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output, lc_monetary and
// search_path.
// Inside a transaction (the SQL functions) the caller's values are saved and come back at
// unpin or at transaction end, whichever is first; in a walsender, which runs no SQL of its
// own, they are simply set. Returns the GUC nest level to hand to unpin (0 if none).
int pin_output_settings();
void unpin_output_settings(int nest_level);

} // namespace bemi_pg
