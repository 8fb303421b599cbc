#include "bemi/numeric_text.hpp"

#include <cstring>

namespace bemi {

namespace {

constexpr int kDecDigits = 4; // decimal digits per NBASE digit

inline int digit_at(const NumericDigits &n, int i) {
    if (i < 0 || i >= n.ndigits)
        return 0;
    int16_t d;
    std::memcpy(&d, n.digits + 2 * static_cast<size_t>(i), sizeof d);
    return d;
}

// The four decimal digits of one NBASE digit, zero-padded.
inline void put4(char *p, int d) {
    const int d1 = d / 1000;
    d -= d1 * 1000;
    const int d2 = d / 100;
    d -= d2 * 100;
    const int d3 = d / 10;
    p[0] = static_cast<char>('0' + d1);
    p[1] = static_cast<char>('0' + d2);
    p[2] = static_cast<char>('0' + d3);
    p[3] = static_cast<char>('0' + (d - d3 * 10));
}

} // namespace

size_t numeric_text_max_length(const NumericDigits &n) {
    // As get_str_from_var(): integral digits, then dscale digits rounded up to whole NBASE
    // digits (the excess is cut off), sign and point.
    long integral = (static_cast<long>(n.weight) + 1) * kDecDigits;
    if (integral <= 0)
        integral = 1;
    const long dscale = n.dscale > 0 ? n.dscale : 0;
    return static_cast<size_t>(integral + dscale + kDecDigits + 2);
}

char *numeric_text(const NumericDigits &n, char *cp) {
    if (n.negative)
        *cp++ = '-';
    int d;
    if (n.weight < 0) {
        d = n.weight + 1;
        *cp++ = '0';
    } else {
        // The first digit without its leading zeros, the others in full.
        int dig = digit_at(n, 0);
        if (dig >= 1000) {
            put4(cp, dig);
            cp += 4;
        } else if (dig >= 100) {
            cp[0] = static_cast<char>('0' + dig / 100);
            cp[1] = static_cast<char>('0' + dig / 10 % 10);
            cp[2] = static_cast<char>('0' + dig % 10);
            cp += 3;
        } else if (dig >= 10) {
            cp[0] = static_cast<char>('0' + dig / 10);
            cp[1] = static_cast<char>('0' + dig % 10);
            cp += 2;
        } else {
            // A single digit, even 0: numeric_out() always prints the last one.
            *cp++ = static_cast<char>('0' + dig);
        }
        for (d = 1; d <= n.weight; ++d) {
            put4(cp, digit_at(n, d));
            cp += 4;
        }
    }
    if (n.dscale > 0) {
        *cp++ = '.';
        char *end = cp + n.dscale;
        for (int i = 0; i < n.dscale; ++d, i += kDecDigits) {
            put4(cp, digit_at(n, d));
            cp += 4;
        }
        cp = end;
    }
    return cp;
}

} // namespace bemi
