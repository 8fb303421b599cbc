#include "pg/context_message.hpp"

#include "bemi/context.hpp"
#include "bemi/options.hpp"
#include "pg/boundary.hpp"

namespace bemi_pg {

void set_context_from_message(DecodingState *state, const char *payload, Size size) {
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

} // namespace bemi_pg
