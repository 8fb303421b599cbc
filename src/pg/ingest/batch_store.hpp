// Storing one decoded batch in bemi.changes (docs/ingestion.md, "One batch"): a fast path in C
// that inserts the rows without the SQL executor's round trip, and bemi._ingest, the SQL path,
// for everything the fast path does not handle.
#pragma once

#include "pg/postgres_headers.hpp"

extern "C" {
#include "utils/uuid.h"
}

namespace bemi_pg {

struct BatchOutcome {
    int64 inserted;          // rows stored
    XLogRecPtr acknowledge;  // what the slot may be confirmed to once the transaction commits
    XLogRecPtr stalled_at;   // Invalid unless a transaction stalled (the SQL path only)
    bool fast;               // stored by the fast path (false: bemi._ingest stored it)
    char fallback_reason[256]; // when not fast: why the fast path left the batch to bemi._ingest
    bool has_stall_error;
    char stall_error[512];
};

// In a transaction with an active snapshot, with the session's replication origin set up: what
// bemi._ingest(slot, origin, upto, capture) does, with the same result, the same rows and the
// same origin progress and watermark in the same transaction. capture NULL: none recorded
// (bemi._ingest then raises its error).
void store_batch(const char *slot, const char *origin, XLogRecPtr upto, const pg_uuid_t *capture,
                 BatchOutcome *outcome);

} // namespace bemi_pg
