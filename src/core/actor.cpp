#include "bemi/actor.hpp"

namespace bemi {

namespace {

bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

} // namespace

ActorParts split_actor_message(std::string_view payload) noexcept {
    ActorParts whole{payload, {}, {}};
    const size_t nul = payload.find('\0');
    if (nul == std::string_view::npos)
        return whole;
    std::string_view rest = payload.substr(nul + 1);
    if (rest.substr(0, kActorTag.size()) != kActorTag)
        return whole;
    rest.remove_prefix(kActorTag.size());
    if (rest.size() < kActorMacHexLength + 3 || rest[kActorMacHexLength] != ':')
        return whole;
    std::string_view mac = rest.substr(0, kActorMacHexLength);
    std::string_view actor = rest.substr(kActorMacHexLength + 1);
    if (!is_lower_hex(mac) || actor.front() != '{' || actor.back() != '}')
        return whole;
    return ActorParts{payload.substr(0, nul), mac, actor};
}

} // namespace bemi
