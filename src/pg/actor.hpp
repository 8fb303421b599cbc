// Who made a change, as the server knows it, and the proof that the capture hooks said so.
//
// The capture hooks put the author of each modifying statement into its "_bemi" message,
// signed with SipHash-2-4-128 (bemi/siphash.hpp) under a per-cluster key that only the server's OS user (and so
// only superusers) can read. The signature covers the transaction's 64-bit id, the database
// and the actor text, so a session that emits its own "_bemi" message with
// pg_logical_emit_message() can neither make one up nor move a real one into another
// transaction. See docs/security.md, "The actor is the server's word".
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

// The key file in the data directory (0600, created once, kept across restarts).
constexpr char kActorKeyFile[] = "bemi_actor.key";
constexpr int kActorKeyBytes = 16;    // SipHash's key
constexpr int kActorMacHexBytes = 32; // its 128-bit tag in hex

// At postmaster start (shared_preload_libraries): creates the key if it is missing, so that
// no session ever has to. Logs a WARNING and leaves actors out if it cannot.
void actor_key_prepare();

// Appends the session's actor as a JSON object: session_user, current_user when it differs,
// application_name, and client_addr when bemi.capture_client_addr is on and the client came
// over TCP. Needs a transaction (role names come from the catalog).
void append_session_actor(StringInfo out);

// Writes the lowercase hex MAC of (transaction, database, actor) into hex (33 bytes with the
// NUL). False when the key is unavailable: then the actor cannot be said or believed.
bool actor_mac(uint64 full_xid, Oid database, const char *actor, size_t actor_len, char *hex);

// True when mac_hex is the actor's MAC for this transaction and database (compared in
// constant time).
bool actor_mac_matches(uint64 full_xid, Oid database, const char *actor, size_t actor_len, const char *mac_hex);

} // namespace bemi_pg
