// Turns a "_bemi" logical message into the context of the changes that follow it.
#pragma once

#include "pg/decoding_state.hpp"

namespace bemi_pg {

constexpr char kContextPrefix[] = "_bemi";

// Validates the payload once and makes its single-line form the transaction's current
// context. A bad payload becomes a visible marker object; it never raises.
void set_context_from_message(DecodingState *state, const char *payload, Size size);

} // namespace bemi_pg
