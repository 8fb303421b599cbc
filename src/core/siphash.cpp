#include "bemi/siphash.hpp"

namespace bemi {

namespace {

inline uint64_t rotl(uint64_t x, int b) {
    return (x << b) | (x >> (64 - b));
}

inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

inline void store_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline void sipround(uint64_t &v0, uint64_t &v1, uint64_t &v2, uint64_t &v3) {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
}

} // namespace

SipHash128::SipHash128(const uint8_t (&key)[kKeyBytes]) noexcept {
    const uint64_t k0 = load_le64(key);
    const uint64_t k1 = load_le64(key + 8);
    v0_ = UINT64_C(0x736f6d6570736575) ^ k0;
    v1_ = UINT64_C(0x646f72616e646f6d) ^ k1 ^ 0xee; // 0xee: the 128-bit variant
    v2_ = UINT64_C(0x6c7967656e657261) ^ k0;
    v3_ = UINT64_C(0x7465646279746573) ^ k1;
}

void SipHash128::absorb(uint64_t m) noexcept {
    v3_ ^= m;
    sipround(v0_, v1_, v2_, v3_); // c = 2
    sipround(v0_, v1_, v2_, v3_);
    v0_ ^= m;
}

void SipHash128::update(const void *data, size_t len) noexcept {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    total_ += len;
    while (len > 0 && pending_len_ > 0 && pending_len_ < 8) {
        pending_[pending_len_++] = *p++;
        --len;
        if (pending_len_ == 8) {
            absorb(load_le64(pending_));
            pending_len_ = 0;
            break;
        }
    }
    for (; len >= 8; len -= 8, p += 8)
        absorb(load_le64(p));
    for (; len > 0; --len)
        pending_[pending_len_++] = *p++;
}

void SipHash128::finish(uint8_t (&tag)[kTagBytes]) noexcept {
    uint64_t last = static_cast<uint64_t>(total_ & 0xff) << 56;
    for (size_t i = 0; i < pending_len_; ++i)
        last |= static_cast<uint64_t>(pending_[i]) << (8 * i);
    absorb(last);
    v2_ ^= 0xee;
    for (int i = 0; i < 4; ++i) // d = 4
        sipround(v0_, v1_, v2_, v3_);
    store_le64(tag, v0_ ^ v1_ ^ v2_ ^ v3_);
    v1_ ^= 0xdd;
    for (int i = 0; i < 4; ++i)
        sipround(v0_, v1_, v2_, v3_);
    store_le64(tag + 8, v0_ ^ v1_ ^ v2_ ^ v3_);
}

} // namespace bemi
