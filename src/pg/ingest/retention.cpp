// Retention (docs/time-travel.md, "Retention"): the ingestion worker's purge, in transactions of
// its own between its turns, never inside a batch's store transaction. The work is SQL
// (sql/0.4/40-retention.sql); this file decides when, and keeps the two steps apart:
//   1. bemi._retention_advance(H): baselines at H and H in bemi.trail_horizon, one commit;
//   2. bemi._retention_drop(): the partitions below the recorded horizon, each under a short
//      lock_timeout (a DROP waits for readers of bemi.changes); the rest waits for a later check.
// A crash between them leaves the horizon recorded and the partitions in place: the next check
// drops them (step 2 reads the recorded horizon, not the one step 1 computed).
//
// C-style, like the worker: no object with a destructor alive across PostgreSQL calls.
#include "pg/ingest/retention.hpp"

#include "pg/settings.hpp"

extern "C" {
#include "executor/spi.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

namespace bemi_pg {

namespace {

constexpr long kCheckMs = 5000;         // how often the worker looks at retention
constexpr long kTestPauseMs = 60000;    // bemi.test_fault = retention_pause_after_horizon

TimestampTz last_check = 0;

// In a transaction of its own: when guard (a statement returning one bool) is true, runs sql,
// which returns at most one int4. Returns the value, or -1 when there is none (no row, NULL).
int64 run_alone(WorkerTransaction transaction, const char *guard, const char *sql, int nargs, Oid *types,
                Datum *values) {
    transaction.begin();
    int64 result = -1;
    bool isnull = true;
    if (SPI_execute(guard, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "bemi: unexpected result of %s", guard);
    const Datum go = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (!isnull && DatumGetBool(go)) {
        if (SPI_execute_with_args(sql, nargs, types, values, nullptr, false, 1) != SPI_OK_SELECT)
            elog(ERROR, "bemi: unexpected result of %s", sql);
        if (SPI_processed == 1) {
            const Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
            if (!isnull)
                result = DatumGetInt32(d);
        }
    }
    transaction.finish();
    return result;
}

// Test hook: wait between the two steps while bemi.test_fault says so.
void test_pause() {
    ereport(LOG, (errmsg("bemi: test fault: horizon recorded, waiting before dropping partitions")));
    const TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kTestPauseMs);
    while (test_fault_is(TestFault::kRetentionPauseAfterHorizon) && GetCurrentTimestamp() < until) {
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
    }
}

// Step 1: the horizon retention asks for, with its baselines (nothing when it is not later than
// the recorded one, or not possible yet).
void advance_step(WorkerTransaction transaction) {
    Oid types[1] = {INT4OID};
    Datum values[1] = {Int32GetDatum(retention)};
    const int64 baselines = run_alone(
        transaction, "SELECT pg_catalog.to_regprocedure('bemi._retention_advance(pg_catalog.timestamptz)') IS NOT NULL",
        "SELECT bemi._retention_advance(x.h) "
        "FROM (SELECT bemi._retention_target($1 * pg_catalog.interval '1 second') AS h) x WHERE x.h IS NOT NULL",
        1, types, values);
    if (baselines >= 0) {
        ereport(LOG, (errmsg("bemi: retention recorded a new horizon of the stored history (%lld baselines)",
                             static_cast<long long>(baselines))));
        if (test_fault_is(TestFault::kRetentionPauseAfterHorizon))
            test_pause();
    }
}

// Step 2, also when step 1 failed: the partitions below the recorded horizon.
void drop_step(WorkerTransaction transaction) {
    const int64 dropped = run_alone(
        transaction, "SELECT pg_catalog.to_regprocedure('bemi._retention_drop()') IS NOT NULL",
        "SELECT bemi._retention_drop()", 0, nullptr, nullptr);
    if (dropped > 0)
        ereport(LOG, (errmsg("bemi: retention dropped %lld partitions of bemi.changes below the horizon",
                             static_cast<long long>(dropped))));
}

} // namespace

void retention_turn(MemoryContext cxt, SlotRelease release_slot, WorkerTransaction transaction) {
    if (retention <= 0)
        return;
    const TimestampTz now = GetCurrentTimestamp();
    if (last_check != 0 && !TimestampDifferenceExceeds(last_check, now, kCheckMs))
        return;
    last_check = now;
    ErrorText error;
    // An error is in the server log (recover_from_error reports it); the next check retries.
    (void) run_recovering(cxt, &error, [transaction] { advance_step(transaction); }, release_slot);
    // Turned off meanwhile (a reload while step 1 waited: test_pause): the recorded horizon
    // stays, and nothing is dropped until retention is set again.
    if (retention > 0)
        (void) run_recovering(cxt, &error, [transaction] { drop_step(transaction); }, release_slot);
    MemoryContextReset(cxt);
}

} // namespace bemi_pg
