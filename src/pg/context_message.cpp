#include "pg/context_message.hpp"

#include "bemi/context.hpp"
#include "bemi/options.hpp"
#include "pg/boundary.hpp"

namespace bemi_pg {

void set_context_from_message(DecodingState *state, const char *payload, Size size) {
    // Sized up front so that no PostgreSQL call happens while the C++ result is alive.
    const size_t capacity = size + bemi::kInvalidContextMarkerMaxBytes;
    char *buf = static_cast<char *>(MemoryContextAlloc(state->txn_cxt, capacity + 1));
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
    // The original product's triggers emit a message per row: keep one buffer, not all.
    if (state->txn.context_buf)
        pfree(state->txn.context_buf);
    state->txn.context_buf = buf;
    state->txn.context = buf;
    state->txn.context_len = static_cast<int>(len);
}

} // namespace bemi_pg
