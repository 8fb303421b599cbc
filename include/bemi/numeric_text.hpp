// The text of a PostgreSQL numeric, written from its digits, independent of PostgreSQL.
//
// A finite numeric is a sign, a weight and a display scale (dscale) over base-10000 digits
// ("NBASE" digits of 4 decimal digits each): the value is
//     sum(digit[i] * 10000^(weight - i)),
// printed with every integral digit and exactly dscale fractional digits. This is
// numeric_out()'s get_str_from_var() in numeric.c, digit for digit, so "1.50" stays "1.50"
// and "0.000" stays "0.000". The src/pg side reads the digits out of the stored value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bemi {

struct NumericDigits {
    bool negative;
    int weight;                 // of the first digit, in NBASE units
    int dscale;                 // decimal digits after the point (>= 0)
    const unsigned char *digits; // ndigits native-endian int16 values, any alignment
    int ndigits;
};

// The largest number of characters numeric_text() writes for n (no NUL).
size_t numeric_text_max_length(const NumericDigits &n);

// Writes the text into dst (numeric_text_max_length(n) bytes available) and returns the
// end of what it wrote. Nothing is NUL-terminated.
char *numeric_text(const NumericDigits &n, char *dst);

} // namespace bemi
