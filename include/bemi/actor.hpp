// The layout of a "_bemi" message that says who made the changes (docs/capture.md).
//
// The capture hooks append to the context a part only they can produce:
//
//   <context JSON object> NUL "bemi-actor-v1:" <32 hex digits: SipHash-2-4-128> ":" <actor JSON object>
//
// The MAC (bemi/siphash.hpp, computed and checked under src/pg with the cluster's key) covers the
// transaction and the actor, so the decoder can tell the hooks' word about the author from
// anything a session could emit with pg_logical_emit_message. This header only cuts a
// payload into its parts: no allocation, no exceptions.
#pragma once

#include <cstddef>
#include <string_view>

namespace bemi {

inline constexpr std::string_view kActorTag = "bemi-actor-v1:";
inline constexpr size_t kActorMacHexLength = 32; // SipHash-2-4-128, lowercase hex

struct ActorParts {
    std::string_view context; // the context payload, validated as any other
    std::string_view mac_hex; // empty when the payload has no actor part
    std::string_view actor;   // the actor JSON object as the hooks wrote it
    bool has_actor() const { return !mac_hex.empty(); }
};

// Splits a message payload. A payload without a well-formed actor part is all context, as
// it always was (a stray NUL then makes it an invalid context, as before).
ActorParts split_actor_message(std::string_view payload) noexcept;

} // namespace bemi
