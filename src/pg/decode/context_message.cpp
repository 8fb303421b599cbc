#include "pg/decode/context_message.hpp"

#include "bemi/actor.hpp"
#include "bemi/context.hpp"
#include "bemi/options.hpp"
#include "pg/actor.hpp"
#include "pg/boundary.hpp"
#include "pg/string_info_sink.hpp"

namespace bemi_pg {

namespace {

void set_context_text(DecodingState *state, const char *payload, Size size);

} // namespace

void set_context_from_message(DecodingState *state, const char *payload, Size size) {
    const bemi::ActorParts parts = bemi::split_actor_message(std::string_view(payload, size));
    if (parts.has_actor()) {
        // Signed for this transaction and database by the capture hooks, or not believed.
        if (actor_mac_matches(state->txn.full_xid, MyDatabaseId, parts.actor.data(), parts.actor.size(),
                              parts.mac_hex.data())) {
            resetStringInfo(&state->actor);
            append_literal(&state->actor, ",\"actor\":");
            append_bytes(&state->actor, parts.actor.data(), parts.actor.size());
            state->txn.actor = state->actor.data;
            state->txn.actor_len = state->actor.len;
        }
        // The context is the session's word in any case.
        size = parts.context.size();
    }
    set_context_text(state, payload, size);
}

namespace {

void set_context_text(DecodingState *state, const char *payload, Size size) {
    ContextCache &cache = state->context_cache;
    // Consecutive messages often say the same thing (a context per request, or the original
    // product's triggers, one message per row): validate each distinct payload once.
    if (cache.payload && cache.payload_len == size && memcmp(cache.payload, payload, size) == 0) {
        state->txn.context = cache.context;
        state->txn.context_len = cache.context_len;
        return;
    }
    // Sized up front so that no PostgreSQL call happens while the C++ result is alive.
    const size_t capacity = size + bemi::kInvalidContextMarkerMaxBytes;
    char *buf = static_cast<char *>(MemoryContextAlloc(state->session_cxt, capacity + 1));
    char *copy = static_cast<char *>(MemoryContextAlloc(state->session_cxt, size + 1));
    size_t len = 0;
    const size_t max_bytes = state->options->max_context_bytes;
    run_core("bemi: context message", [&] {
        std::string normalized = bemi::normalize_context(std::string_view(payload, size), max_bytes);
        if (normalized.size() > capacity)
            throw std::length_error("normalized context exceeds its bound");
        memcpy(buf, normalized.data(), normalized.size());
        len = normalized.size();
    });
    buf[len] = '\0';
    memcpy(copy, payload, size);
    if (cache.payload) {
        pfree(cache.payload);
        pfree(cache.context);
    }
    cache.payload = copy;
    cache.payload_len = size;
    cache.context = buf;
    cache.context_len = static_cast<int>(len);
    state->txn.context = buf;
    state->txn.context_len = static_cast<int>(len);
}

} // namespace

} // namespace bemi_pg
