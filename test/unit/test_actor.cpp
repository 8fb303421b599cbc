#include <catch2/catch.hpp>

#include <string>

#include "bemi/actor.hpp"

using bemi::split_actor_message;

namespace {
const std::string kMac(bemi::kActorMacHexLength, 'a');
std::string with_nul(const std::string &context, const std::string &rest) {
    std::string s = context;
    s.push_back('\0');
    return s + rest;
}
} // namespace

TEST_CASE("a payload without a NUL is all context") {
    auto parts = split_actor_message("{\"user_id\": 1}");
    CHECK(parts.context == "{\"user_id\": 1}");
    CHECK_FALSE(parts.has_actor());
}

TEST_CASE("the hooks' layout splits into context, mac and actor") {
    const std::string payload = with_nul("{\"SQL\": \"x\"}", "bemi-actor-v1:" + kMac + ":{\"session_user\":\"a\"}");
    auto parts = split_actor_message(payload);
    REQUIRE(parts.has_actor());
    CHECK(parts.context == "{\"SQL\": \"x\"}");
    CHECK(parts.mac_hex == kMac);
    CHECK(parts.actor == "{\"session_user\":\"a\"}");
}

TEST_CASE("an empty context is allowed before the actor part") {
    const std::string payload = with_nul("{}", "bemi-actor-v1:" + kMac + ":{}");
    auto parts = split_actor_message(payload);
    REQUIRE(parts.has_actor());
    CHECK(parts.context == "{}");
    CHECK(parts.actor == "{}");
}

TEST_CASE("anything else after a NUL leaves the whole payload as context") {
    const std::string bad[] = {
        with_nul("{}", "nope"),
        with_nul("{}", "bemi-actor-v2:" + kMac + ":{}"),
        with_nul("{}", "bemi-actor-v1:" + kMac.substr(1) + ":{}"),           // short mac
        with_nul("{}", "bemi-actor-v1:" + std::string(bemi::kActorMacHexLength, 'A') + ":{}"),     // upper case
        with_nul("{}", "bemi-actor-v1:" + std::string(bemi::kActorMacHexLength - 1, 'a') + "g:{}"),    // not hex
        with_nul("{}", "bemi-actor-v1:" + kMac + "{}"),                      // no colon
        with_nul("{}", "bemi-actor-v1:" + kMac + ":"),                       // no actor
        with_nul("{}", "bemi-actor-v1:" + kMac + ":[1]"),                    // not an object
        with_nul("{}", "bemi-actor-v1:" + kMac + ":{\"a\":1"),               // cut short
    };
    for (const std::string &payload : bad) {
        auto parts = split_actor_message(payload);
        CHECK_FALSE(parts.has_actor());
        CHECK(parts.context.size() == payload.size());
    }
}

TEST_CASE("the first NUL decides: a second actor part belongs to the first one's actor text") {
    const std::string inner = "bemi-actor-v1:" + kMac + ":{}";
    const std::string payload = with_nul("{}", "bemi-actor-v1:" + kMac + ":{" + std::string(1, '\0') + inner + "}");
    auto parts = split_actor_message(payload);
    REQUIRE(parts.has_actor());
    CHECK(parts.context == "{}");
    CHECK(parts.actor.size() == payload.size() - 3 - kMac.size() - 15);
}
