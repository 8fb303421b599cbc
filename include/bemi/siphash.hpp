// SipHash-2-4 with a 128-bit tag (Aumasson and Bernstein, "SipHash: a fast short-input PRF").
//
// The MAC of the actor part of context messages (bemi/actor.hpp). It is a keyed PRF made for
// short messages such as these (~100 bytes), and costs a few hundred instructions where
// PostgreSQL's HMAC-SHA256 (OpenSSL 3) costs about 22,000 per message, more than decoding a
// whole change. Streaming, no allocation, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bemi {

class SipHash128 {
public:
    static constexpr size_t kKeyBytes = 16;
    static constexpr size_t kTagBytes = 16;

    explicit SipHash128(const uint8_t (&key)[kKeyBytes]) noexcept;
    void update(const void *data, size_t len) noexcept;
    void finish(uint8_t (&tag)[kTagBytes]) noexcept;

private:
    void absorb(uint64_t m) noexcept;
    uint64_t v0_, v1_, v2_, v3_;
    uint8_t pending_[8];
    size_t pending_len_ = 0;
    uint64_t total_ = 0;
};

} // namespace bemi
