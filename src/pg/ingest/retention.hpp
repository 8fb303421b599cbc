// Retention: the ingestion worker's purge of old history (docs/time-travel.md, "Retention").
#pragma once

#include "pg/boundary.hpp"

namespace bemi_pg {

// Called by the ingestion worker between turns, outside any transaction, in one place of its
// loop. When bemi.retention is set, at most every few seconds: records the horizon retention
// asks for (bemi._retention_advance: baselines and bemi.trail_horizon, one transaction), then
// drops the partitions below the recorded horizon (bemi._retention_drop, another). An ERROR is
// reported and recovered from (release_slot: the worker's decoder, as for its own turns); the
// next check tries again. Resets cxt.
//
// The worker's own transaction helpers: begin starts a transaction with SPI connected and a
// snapshot pushed, finish commits it.
struct WorkerTransaction {
    void (*begin)();
    void (*finish)();
};
void retention_turn(MemoryContext cxt, SlotRelease release_slot, WorkerTransaction transaction);

} // namespace bemi_pg
