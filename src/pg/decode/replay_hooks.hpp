// What the output plugin does for the ingestion worker, which decodes in the same process
// that runs its own transactions (docs/ingestion.md, "Streaming"). A walsender or a SQL
// decoding call never sets these.
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

// Set by the worker after a transaction of its own: catalog cache entries built under
// ordinary snapshots must not serve decoding under historic ones. The next replayed
// transaction resets every cache first (as pg_logical_slot_get_changes does before it decodes),
// and clears the flag.
extern bool catalog_caches_need_reset;

// Transactions the reorder buffer has replayed through this process's output plugin: when it
// moves, entries built under historic snapshots may be cached, and the worker resets the caches
// before its own next transaction.
extern uint64 replayed_transactions;

} // namespace bemi_pg
