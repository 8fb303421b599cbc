// Tests for include/bemi/numeric_text.hpp: numeric_out()'s text from base-10000 digits.
//
// The hand-written cases give (sign, weight, dscale, digits) as PostgreSQL stores them; the
// round-trip case splits decimal strings into such digits independently (the way numeric_in
// does: groups of 4 decimal digits aligned on the decimal point) and expects the string back.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bemi/numeric_text.hpp"

namespace {

std::string text(bool negative, int weight, int dscale, std::vector<int16_t> digits) {
    // Stored unaligned on purpose: the formatter must not assume int16 alignment.
    std::vector<unsigned char> raw(1 + 2 * digits.size());
    if (!digits.empty())
        std::memcpy(raw.data() + 1, digits.data(), 2 * digits.size());
    bemi::NumericDigits n{negative, weight, dscale, raw.data() + 1, static_cast<int>(digits.size())};
    const size_t cap = bemi::numeric_text_max_length(n);
    std::string buf(cap + 16, '#');
    char *end = bemi::numeric_text(n, &buf[0]);
    REQUIRE(static_cast<size_t>(end - buf.data()) <= cap);
    for (size_t i = cap; i < buf.size(); ++i)
        REQUIRE(buf[i] == '#'); // nothing written past the bound
    return std::string(buf.data(), end);
}

// Decimal string ("-12.340", "0.001", "7") to NBASE digits, trailing/leading zero digits
// stripped as numeric's make_result() does.
struct Parsed {
    bool negative;
    int weight;
    int dscale;
    std::vector<int16_t> digits;
};

Parsed parse(const std::string &s) {
    Parsed p{false, 0, 0, {}};
    size_t i = 0;
    if (s[i] == '-') {
        p.negative = true;
        ++i;
    }
    const size_t dot = s.find('.', i);
    std::string ip = s.substr(i, dot == std::string::npos ? std::string::npos : dot - i);
    std::string fp = dot == std::string::npos ? "" : s.substr(dot + 1);
    p.dscale = static_cast<int>(fp.size());
    // Pad the integral part on the left and the fraction on the right to multiples of 4.
    while (ip.size() % 4)
        ip.insert(ip.begin(), '0');
    while (fp.size() % 4)
        fp.push_back('0');
    std::vector<int16_t> all;
    for (size_t k = 0; k < ip.size(); k += 4)
        all.push_back(static_cast<int16_t>(std::stoi(ip.substr(k, 4))));
    for (size_t k = 0; k < fp.size(); k += 4)
        all.push_back(static_cast<int16_t>(std::stoi(fp.substr(k, 4))));
    int weight = static_cast<int>(ip.size() / 4) - 1;
    size_t first = 0;
    while (first < all.size() && all[first] == 0) {
        ++first;
        --weight;
    }
    size_t last = all.size();
    while (last > first && all[last - 1] == 0)
        --last;
    p.digits.assign(all.begin() + static_cast<long>(first), all.begin() + static_cast<long>(last));
    p.weight = p.digits.empty() ? 0 : weight;
    if (p.digits.empty())
        p.negative = false; // numeric zero is never negative
    return p;
}

std::string round_trip(const std::string &s) {
    Parsed p = parse(s);
    return text(p.negative, p.weight, p.dscale, p.digits);
}

} // namespace

TEST_CASE("numeric_text: integers", "[numeric_text]") {
    CHECK(text(false, 0, 0, {}) == "0");
    CHECK(text(false, 0, 0, {7}) == "7");
    CHECK(text(false, 0, 0, {42}) == "42");
    CHECK(text(false, 0, 0, {999}) == "999");
    CHECK(text(false, 0, 0, {9999}) == "9999");
    CHECK(text(true, 0, 0, {1}) == "-1");
    CHECK(text(false, 1, 0, {1}) == "10000");          // trailing zero digits are not stored
    CHECK(text(false, 1, 0, {1, 1}) == "10001");
    CHECK(text(false, 2, 0, {12, 3456, 7890}) == "1234567890");
    CHECK(text(true, 2, 0, {922, 3372, 368}) == "-92233720368");
}

TEST_CASE("numeric_text: the display scale is kept exactly", "[numeric_text]") {
    CHECK(text(false, 0, 2, {1, 5000}) == "1.50");
    CHECK(text(false, 0, 3, {1, 5000}) == "1.500");
    CHECK(text(false, 0, 1, {1, 5000}) == "1.5");
    CHECK(text(false, 0, 2, {}) == "0.00");
    CHECK(text(false, -1, 3, {1}) == "0.000");        // digits past dscale are not printed
    CHECK(text(false, -1, 4, {1}) == "0.0001");
    CHECK(text(false, -2, 5, {1000}) == "0.00001");
    CHECK(text(false, -2, 4, {1000}) == "0.0000");
    CHECK(text(false, -2, 8, {1000}) == "0.00001000");
    CHECK(text(true, -1, 2, {1}) == "-0.00");         // as numeric_out would, if ever stored
    CHECK(text(false, 0, 6, {3, 1415, 9265}) == "3.141592");
    CHECK(text(false, 3, 2, {1, 2, 3, 4, 5600}) == "1000200030004.56");
}

TEST_CASE("numeric_text: round trips", "[numeric_text]") {
    for (const char *s : {"0", "1", "-1", "10", "100", "1000", "10000", "123456789", "0.1", "0.01", "0.001",
                          "0.0001", "0.00001", "1.5", "1.50", "1.500", "-0.5", "9999.9999", "10000.0001",
                          "12345678901234567890123456789012345678901234567890.12345678901234567890123456789",
                          "0.00000000000000000000000000000000000000001",
                          "-12345678901234567890123456789012345678901234567890", "92233720368547758.07",
                          "-92233720368547758.08", "0.000", "100.00", "7000000.0"}) {
        INFO(s);
        CHECK(round_trip(s) == s);
    }
}

TEST_CASE("numeric_text: random round trips", "[numeric_text]") {
    std::mt19937 rng(20241126);
    std::uniform_int_distribution<int> len(0, 30), digit(0, 9), coin(0, 3);
    for (int k = 0; k < 20000; ++k) {
        std::string s;
        if (coin(rng) == 0)
            s.push_back('-');
        const int il = len(rng);
        if (il == 0) {
            s.push_back('0');
        } else {
            s.push_back(static_cast<char>('1' + digit(rng) % 9));
            for (int i = 1; i < il; ++i)
                s.push_back(static_cast<char>('0' + (coin(rng) == 0 ? 0 : digit(rng))));
        }
        const int fl = coin(rng) == 0 ? 0 : len(rng);
        if (fl > 0) {
            s.push_back('.');
            for (int i = 0; i < fl; ++i)
                s.push_back(static_cast<char>('0' + (coin(rng) == 0 ? 0 : digit(rng))));
        }
        if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-')
            s.erase(0, 1); // zero is unsigned
        INFO(s);
        REQUIRE(round_trip(s) == s);
    }
}
