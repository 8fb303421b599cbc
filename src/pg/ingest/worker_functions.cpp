// SQL-callable functions of the ingestion workers (sql/bemi--0.1--0.2.sql: ingestion and status):
//   bemi._request_worker()  the extension script asks for a worker, started when it commits
//   bemi._worker_status()   this database's entry in shared memory (view bemi.status)
//   bemi._worker_entries()  every database's entry (sql/0.3/70-worker-entries.sql)
//   bemi._worker_fast_path() this database's batches left to bemi._ingest (sql/0.4/20-status.sql)
//   bemi.sync(timeout)      waits until everything written before the call is in bemi.changes
#include "pg/boundary.hpp"
#include "pg/ingest/shared_state.hpp"
#include "pg/ingest/workers.hpp"
#include "pg/names.hpp"

extern "C" {
#include "funcapi.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "storage/latch.h"
#include "utils/pg_lsn.h"
#include "utils/wait_event.h"
}

namespace bemi_pg {

namespace {

// How long bemi.sync() waits for a worker that is (re)starting before it calls that an error.
constexpr long kStartGraceMs = 10000;
constexpr long kSyncPollMs = 10;

bool callback_registered = false;
bool request_in_this_xact = false;
Oid request_database = InvalidOid;

// At COMMIT only: the extension script's request becomes visible to the launcher. Nothing
// here may fail: the transaction has committed.
void request_xact_callback(XactEvent event, void *) {
    if (!request_in_this_xact)
        return;
    switch (event) {
    case XACT_EVENT_COMMIT: {
        request_in_this_xact = false;
        if (shared == nullptr)
            return;
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        DatabaseEntry *e = find_or_add_entry(request_database);
        if (e != nullptr) {
            e->wanted = true;
            e->request_pending = true;
            e->not_before = 0;
            if (e->pid == 0) {
                e->confirmed = InvalidXLogRecPtr;
                e->capture_start = InvalidXLogRecPtr;
                set_state(e, WorkerState::kRequested);
            }
        }
        LWLockRelease(shared->lock);
        if (e == nullptr)
            ereport(WARNING, (errmsg("bemi: no room in shared memory to start an ingestion worker for this database"),
                              errhint("Raise max_worker_processes and restart the server.")));
        wake_launcher();
        break;
    }
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
        request_in_this_xact = false;
        break;
    default:
        break;
    }
}

int64 interval_to_ms(const Interval *span) {
    int64 usecs = span->time + static_cast<int64>(span->day) * USECS_PER_DAY +
                  static_cast<int64>(span->month) * DAYS_PER_MONTH * USECS_PER_DAY;
    return usecs / 1000;
}

struct EntryCopy {
    bool found;
    bool wanted;
    pid_t pid;
    Latch *latch;
    XLogRecPtr confirmed;
    XLogRecPtr capture_start;
    WorkerState state;
    char last_error[kErrorLength];
    char last_error_hint[kErrorLength];
    pid_t launcher_pid;
    bool initial_scan_done;
};

void copy_entry(Oid database, EntryCopy *out) {
    memset(out, 0, sizeof *out);
    LWLockAcquire(shared->lock, LW_SHARED);
    out->launcher_pid = shared->launcher_pid;
    out->initial_scan_done = shared->initial_scan_done;
    DatabaseEntry *e = find_entry(database);
    if (e) {
        out->found = true;
        out->wanted = e->wanted;
        out->pid = e->pid;
        out->latch = e->latch;
        out->confirmed = e->confirmed;
        out->capture_start = e->capture_start;
        out->state = e->state;
        strlcpy(out->last_error, e->last_error, sizeof out->last_error);
        strlcpy(out->last_error_hint, e->last_error_hint, sizeof out->last_error_hint);
    }
    LWLockRelease(shared->lock);
}

// Background worker slots (max_worker_processes) not in use by a running process right now.
// Counts the processes, as the slots themselves are private to bgworker.c: a slot held by a
// worker waiting for its restart is counted as free, a parallel query's workers as used.
int free_worker_slots() {
    int running = 0;
    const int n = pgstat_fetch_stat_numbackends();
    for (int i = 1; i <= n; ++i) {
        LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
        if (local != nullptr && local->backendStatus.st_backendType == B_BG_WORKER)
            ++running;
    }
    pgstat_clear_snapshot(); // the count is not kept for the rest of the transaction
    return max_worker_processes - running;
}

// True when this database's replication slot is ready for capture: it exists and its
// creation (which waits for every transaction holding a transaction id) is over.
bool slot_created(const EntryCopy &e) {
    if (e.state == WorkerState::kCreatingSlot)
        return false;
    char slot[names::kNameLength];
    names::slot_name_for(MyDatabaseId, slot, sizeof slot);
    return SearchNamedReplicationSlot(slot, true) != nullptr;
}

} // namespace

} // namespace bemi_pg

using namespace bemi_pg;

BEMI_FUNCTION(bemi_request_worker) {
    (void) fcinfo;
    if (shared == nullptr) {
        ereport(WARNING,
                (errmsg("bemi is not in shared_preload_libraries: no worker will fill bemi.changes"),
                 errhint("Add bemi to shared_preload_libraries in postgresql.conf and restart the server.")));
        PG_RETURN_VOID();
    }
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseEntry *e = find_or_add_entry(MyDatabaseId);
    LWLockRelease(shared->lock);
    if (e == nullptr)
        ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                        errmsg("bemi: no room in shared memory for another database's ingestion worker"),
                        errhint("Raise max_worker_processes and restart the server.")));
    // The launcher starts the worker after this transaction commits: say now if it cannot.
    if (!ingest_worker_serves(MyDatabaseId) && free_worker_slots() < 1) {
        ereport(WARNING,
                (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                 errmsg("bemi: no free background worker slot: changes in database \"%s\" will not be captured "
                        "until its ingestion worker can start",
                        get_database_name(MyDatabaseId)),
                 errdetail("max_worker_processes is %d and every slot is in use.", max_worker_processes),
                 errhint("Raise max_worker_processes (one per database with bemi, plus one for the launcher) and "
                         "restart the server. bemi.status shows the state; the time without capture is recorded "
                         "in bemi.capture_history.")));
    }
    if (!callback_registered) {
        RegisterXactCallback(request_xact_callback, nullptr);
        callback_registered = true;
    }
    request_in_this_xact = true;
    request_database = MyDatabaseId;
    PG_RETURN_VOID();
}

// One row: this database's worker as the shared memory describes it.
BEMI_FUNCTION(bemi_worker_status) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "bemi._worker_status: return type must be a row type");
    desc = BlessTupleDesc(desc);

    constexpr int kColumns = 13;
    Datum values[kColumns];
    bool nulls[kColumns];
    for (int i = 0; i < kColumns; ++i) {
        values[i] = 0;
        nulls[i] = true;
    }
    char slot[names::kNameLength];
    names::slot_name_for(MyDatabaseId, slot, sizeof slot);
    values[0] = CStringGetTextDatum(slot);
    nulls[0] = false;

    if (shared == nullptr) {
        values[2] = CStringGetTextDatum(state_name(WorkerState::kNotPreloaded));
        nulls[2] = false;
        values[9] = CStringGetTextDatum("bemi is not in shared_preload_libraries: no worker runs");
        nulls[9] = false;
    } else {
        DatabaseEntry copy;
        bool found = false;
        LWLockAcquire(shared->lock, LW_SHARED);
        DatabaseEntry *e = find_entry(MyDatabaseId);
        if (e) {
            memcpy(&copy, e, sizeof copy);
            found = true;
        }
        LWLockRelease(shared->lock);
        if (!found) {
            values[2] = CStringGetTextDatum(state_name(WorkerState::kNotRunning));
            nulls[2] = false;
        } else {
            copy.last_error[kErrorLength - 1] = '\0';
            copy.last_error_hint[kErrorLength - 1] = '\0';
            if (copy.pid != 0) {
                values[1] = Int32GetDatum(copy.pid);
                nulls[1] = false;
            }
            values[2] = CStringGetTextDatum(state_name(copy.state));
            nulls[2] = false;
            if (copy.capture_start != InvalidXLogRecPtr) {
                values[3] = LSNGetDatum(copy.capture_start);
                nulls[3] = false;
            }
            if (copy.confirmed != InvalidXLogRecPtr) {
                values[4] = LSNGetDatum(copy.confirmed);
                nulls[4] = false;
            }
            if (copy.caught_up_at != 0) {
                values[5] = TimestampTzGetDatum(copy.caught_up_at);
                nulls[5] = false;
            }
            values[6] = Int64GetDatum(static_cast<int64>(copy.changes));
            nulls[6] = false;
            values[7] = Int64GetDatum(static_cast<int64>(copy.batches));
            nulls[7] = false;
            if (copy.last_batch_at != 0) {
                values[8] = TimestampTzGetDatum(copy.last_batch_at);
                nulls[8] = false;
            }
            if (copy.last_error[0] != '\0') {
                values[9] = CStringGetTextDatum(
                    copy.last_error_hint[0] ? psprintf("%s (hint: %s)", copy.last_error, copy.last_error_hint)
                                            : copy.last_error);
                nulls[9] = false;
                values[10] = TimestampTzGetDatum(copy.last_error_at);
                nulls[10] = false;
            }
            values[11] = BoolGetDatum(copy.wanted);
            nulls[11] = false;
            if (copy.stalled_at != InvalidXLogRecPtr) {
                values[12] = LSNGetDatum(copy.stalled_at);
                nulls[12] = false;
            }
        }
    }
    HeapTuple tuple = heap_form_tuple(desc, values, nulls);
    PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

// One row: how often this database's worker left a batch to bemi._ingest since the server
// started (0 without an entry), and why the last time (NULL if never).
BEMI_FUNCTION(bemi_worker_fast_path) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "bemi._worker_fast_path: return type must be a row type");
    uint64 fallbacks = 0;
    char reason[kErrorLength];
    reason[0] = '\0';
    TimestampTz at = 0;
    if (shared != nullptr) {
        LWLockAcquire(shared->lock, LW_SHARED);
        const DatabaseEntry *e = find_entry(MyDatabaseId);
        if (e != nullptr) {
            fallbacks = e->fast_path_fallbacks;
            strlcpy(reason, e->last_fallback, sizeof reason);
            at = e->last_fallback_at;
        }
        LWLockRelease(shared->lock);
    }
    Datum values[3] = {Int64GetDatum(static_cast<int64>(fallbacks)), reason[0] ? CStringGetTextDatum(reason) : 0,
                       TimestampTzGetDatum(at)};
    bool nulls[3] = {false, reason[0] == '\0', at == 0};
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

// One row per database in shared memory. The entries are copied under the lock at the first
// call and returned one by one.
BEMI_FUNCTION(bemi_worker_entries) {
    struct Row {
        Oid database;
        WorkerState state;
        pid_t pid;
        bool wanted;
        int pauses;
    };
    struct Rows {
        Row *rows;
        int count;
    };
    FuncCallContext *call;
    if (SRF_IS_FIRSTCALL()) {
        call = SRF_FIRSTCALL_INIT();
        const MemoryContext old = MemoryContextSwitchTo(call->multi_call_memory_ctx);
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "bemi._worker_entries: return type must be a row type");
        call->tuple_desc = BlessTupleDesc(desc);
        auto *rows = static_cast<Rows *>(palloc0(sizeof(Rows)));
        if (shared != nullptr) {
            rows->rows = static_cast<Row *>(palloc0(sizeof(Row) * shared->nentries));
            LWLockAcquire(shared->lock, LW_SHARED);
            for (int i = 0; i < shared->nentries; ++i) {
                const DatabaseEntry *e = &shared->entries[i];
                if (e->database == InvalidOid)
                    continue;
                rows->rows[rows->count++] = Row{e->database, e->state, e->pid, e->wanted, e->pause_count};
            }
            LWLockRelease(shared->lock);
        }
        call->user_fctx = rows;
        MemoryContextSwitchTo(old);
    }
    call = SRF_PERCALL_SETUP();
    const auto *rows = static_cast<const Rows *>(call->user_fctx);
    if (call->call_cntr >= static_cast<uint64>(rows->count))
        SRF_RETURN_DONE(call);
    const Row &row = rows->rows[call->call_cntr];
    Datum values[5] = {ObjectIdGetDatum(row.database), CStringGetTextDatum(state_name(row.state)),
                       Int32GetDatum(row.pid), BoolGetDatum(row.wanted), Int32GetDatum(row.pauses)};
    bool nulls[5] = {false, false, row.pid == 0, false, false};
    HeapTuple tuple = heap_form_tuple(call->tuple_desc, values, nulls);
    SRF_RETURN_NEXT(call, HeapTupleGetDatum(tuple));
}

BEMI_FUNCTION(bemi_sync) {
    const Interval *timeout = PG_GETARG_INTERVAL_P(0);
    const int64 timeout_ms = interval_to_ms(timeout);
    if (timeout_ms < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("bemi.sync: timeout must not be negative")));
    if (shared == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("no bemi ingestion worker serves database \"%s\"", get_database_name(MyDatabaseId)),
                        errdetail("bemi is not in shared_preload_libraries, so no worker runs."),
                        errhint("Add bemi to shared_preload_libraries in postgresql.conf and restart the server.")));
    if (RecoveryInProgress())
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("bemi.sync cannot run during recovery"),
                        errhint("Ingestion runs on the primary.")));
    if (request_in_this_xact)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("no bemi ingestion worker serves database \"%s\" yet", get_database_name(MyDatabaseId)),
                        errdetail("The extension was created or updated in this transaction: its worker starts when "
                                  "the transaction commits."),
                        errhint("Commit, then call bemi.sync().")));

    // Everything inserted before this point, flushed so that the worker can read it.
    const XLogRecPtr target = wal_written_end();
    XLogFlush(target);

    const TimestampTz start = GetCurrentTimestamp();
    const TimestampTz deadline = TimestampTzPlusMilliseconds(start, timeout_ms);
    const TimestampTz grace = TimestampTzPlusMilliseconds(start, kStartGraceMs);
    bool requested = false;
    for (;;) {
        EntryCopy e;
        copy_entry(MyDatabaseId, &e);
        if (e.found && e.confirmed >= target && e.confirmed != InvalidXLogRecPtr)
            PG_RETURN_BOOL(true);
        const TimestampTz now = GetCurrentTimestamp();
        if ((!e.found || !e.wanted) && !requested && e.initial_scan_done) {
            // The extension is installed here (its function is running) but no worker is
            // wanted: a database created from a template with bemi, not yet probed. Ask.
            LWLockAcquire(shared->lock, LW_EXCLUSIVE);
            DatabaseEntry *entry = find_or_add_entry(MyDatabaseId);
            if (entry) {
                entry->wanted = true;
                entry->request_pending = true;
                entry->not_before = 0;
            }
            LWLockRelease(shared->lock);
            if (entry == nullptr)
                ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                                errmsg("no bemi ingestion worker serves database \"%s\"",
                                       get_database_name(MyDatabaseId)),
                                errdetail("bemi's shared memory has no room for another database."),
                                errhint("Raise max_worker_processes and restart the server.")));
            wake_launcher();
            requested = true;
            continue;
        }
        if (e.found && e.pid == 0 && e.state == WorkerState::kNoWorkerSlot)
            ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                            errmsg("no bemi ingestion worker serves database \"%s\"", get_database_name(MyDatabaseId)),
                            errdetail("%s", e.last_error),
                            errhint("Raise max_worker_processes (one per database with bemi, plus one) and restart "
                                    "the server.")));
        if (e.found && e.pid != 0 && e.confirmed == InvalidXLogRecPtr && e.state == WorkerState::kBackoff)
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("the bemi ingestion worker of database \"%s\" cannot start capturing",
                                   get_database_name(MyDatabaseId)),
                            errdetail("%s", e.last_error),
                            e.last_error_hint[0]
                                ? errhint("%s See bemi.status; the worker keeps retrying.", e.last_error_hint)
                                : errhint("See bemi.status and the server log; the worker keeps retrying.")));
        // Creating the slot waits for every transaction that holds a transaction id, ours
        // included: waiting here would only wait out the timeout.
        if (e.found && e.confirmed == InvalidXLogRecPtr && TransactionIdIsValid(GetTopTransactionIdIfAny()) &&
            !slot_created(e))
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("bemi.sync cannot wait in this transaction: capture of database \"%s\" has not "
                                   "started yet",
                                   get_database_name(MyDatabaseId)),
                            errdetail("The ingestion worker is creating its replication slot, which waits for every "
                                      "transaction that has written, this one included."),
                            errhint("Call bemi.sync() before the transaction writes, or after it commits.")));
        if ((!e.found || e.pid == 0) && now >= grace)
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("no bemi ingestion worker serves database \"%s\"", get_database_name(MyDatabaseId)),
                            errdetail("Worker state: %s%s%s.", e.found ? state_name(e.state) : "none",
                                      e.last_error[0] ? "; last error: " : "", e.last_error),
                            e.launcher_pid == 0
                                ? errhint("The bemi launcher is not running: is the server in recovery? See the "
                                          "server log.")
                                : errhint("See bemi.status and the server log.")));
        if (now >= deadline) {
            if (e.state == WorkerState::kBackoff)
                ereport(WARNING, (errmsg("bemi.sync: the ingestion worker is retrying after an error: %s",
                                         e.last_error)));
            else if (e.state == WorkerState::kCreatingSlot)
                ereport(WARNING, (errmsg("bemi.sync: the ingestion worker is still creating its replication slot"),
                                  errdetail("Creating a slot waits for every transaction already running to end.")));
            PG_RETURN_BOOL(false);
        }
        if (e.latch)
            SetLatch(e.latch);
        long wait = kSyncPollMs;
        long secs;
        int usecs;
        TimestampDifference(now, deadline, &secs, &usecs);
        if (secs * 1000 + usecs / 1000 < wait)
            wait = secs * 1000 + usecs / 1000 + 1;
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}
