// The extension's server settings (GUCs).
#pragma once

#include <cstdint>

namespace bemi_pg {

// bemi.context: the session's (SET) or transaction's (SET LOCAL) application context, a JSON
// object; bemi_set_context() is the friendly way to set it. Empty means none.
extern char *context_setting;
// Bumped whenever bemi.context changes value (set, reset, or restored at transaction end), so
// the capture hooks can tell cheaply whether the context moved.
extern uint64_t context_generation;

extern bool capture_sql;        // bemi.capture_sql (superuser)
extern int max_sql_bytes;       // bemi.max_sql_bytes (superuser)
extern int max_context_bytes;   // bemi.max_context_bytes (superuser)
extern bool capture_client_addr; // bemi.capture_client_addr (superuser)
// bemi.time_travel_wait (any role, ms): how long bemi.as_of waits under READ COMMITTED for a stored
// commit later than the instant asked for (docs/time-travel.md, "Stable answers"). Read from SQL.
extern int time_travel_wait;
// bemi.time_travel_backward (any role, default on): the typed bemi.as_of may answer from the live
// table patched with the rows changed after the instant (src/pg/timetravel/as_of.cpp).
extern bool time_travel_backward;
// bemi.time_travel_memory (any role, kB, like work_mem): how much of a typed bemi.as_of answer
// stays in memory before it spills to a temporary file; work_mem when that is larger.
extern int time_travel_memory;
// bemi.partition_interval (superuser): read by the SQL (bemi._partition_interval)
extern char *partition_interval;

// bemi.retention (superuser, server-wide, seconds; 0: keep forever): the ingestion worker drops
// the partitions of bemi.changes older than this (src/pg/ingest/retention.cpp).
extern int retention;

// bemi.test_fault (superuser, off by default, for the test suite only): makes a background
// worker raise an ERROR at a chosen point, so that its error recovery can be tested.
// kRetentionPauseAfterHorizon: the worker waits (up to 60 s, while the fault is set) between
// recording a horizon and dropping partitions, so a test can kill it there.
enum class TestFault { kNone, kLauncherErrorHoldingLock, kWorkerErrorHoldingLock, kRetentionPauseAfterHorizon };
extern int test_fault;
inline bool test_fault_is(TestFault fault) {
    return test_fault == static_cast<int>(fault);
}

void define_settings();

} // namespace bemi_pg
