// Turns a "_bemi" logical message into the context of the changes that follow it.
#pragma once

#include "pg/decode/decoding_state.hpp"

namespace bemi_pg {

// Validates the payload once and makes its single-line form the transaction's current
// context. A bad payload becomes a visible marker object; it never raises.
//
// A payload with an actor part (bemi/actor.hpp) whose signature holds for this transaction
// also makes that actor the transaction's current one. Any other payload leaves the actor as
// it was: a session can send context, never an author.
void set_context_from_message(DecodingState *state, const char *payload, Size size);

} // namespace bemi_pg
