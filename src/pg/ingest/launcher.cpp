// The launcher: a static background worker, connected to no database, that keeps one
// ingestion worker running per database where the extension is installed (docs/ingestion.md).
//
// At start it probes every database that accepts connections (a worker started there exits
// at once when the extension is not installed), later it probes databases it has not seen
// (CREATE DATABASE ... TEMPLATE a database with bemi), starts workers on request (CREATE or
// ALTER EXTENSION, at commit) and restarts workers that stopped abnormally. It alone starts
// workers, so a database never gets two.
//
// C-style on purpose: no object with a destructor is alive across PostgreSQL calls.
#include "pg/boundary.hpp"
#include "pg/ingest/shared_state.hpp"
#include "pg/ingest/workers.hpp"
#include "pg/names.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_database.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
}

namespace bemi_pg {

namespace {

constexpr long kRescanMs = 10000;        // look at pg_database at least this often
constexpr long kRestartDelayMs = 5000;   // between two starts of a worker for one database
constexpr long kNoSlotRetryMs = 10000;   // after "no free background worker slot"

struct DatabaseInfo {
    Oid oid;
    bool usable; // accepts connections, not a template, not half-dropped
};

struct Launcher {
    MemoryContext cxt;       // lives as long as the launcher
    MemoryContext pass_cxt;  // one pass; reset after it and after an error
    MemoryContext scan_cxt;  // reset at every scan
    BackgroundWorkerHandle **handles; // per shared entry: a worker registered by us
    Oid *known;              // databases already probed (or served)
    int nknown;
    int known_capacity;
    DatabaseInfo *dbs;       // the last scan of pg_database (in scan_cxt)
    int ndbs;
};

Launcher L;

void launcher_detach(int, Datum) {
    if (shared == nullptr)
        return;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    if (shared->launcher_pid == MyProcPid) {
        shared->launcher_pid = 0;
        shared->launcher_latch = nullptr;
    }
    LWLockRelease(shared->lock);
}

// Reads pg_database into L.dbs, as autovacuum's launcher does.
void scan_databases() {
    MemoryContextReset(L.scan_cxt);
    int capacity = 16;
    L.dbs = static_cast<DatabaseInfo *>(MemoryContextAlloc(L.scan_cxt, capacity * sizeof(DatabaseInfo)));
    L.ndbs = 0;

    StartTransactionCommand();
    (void) GetTransactionSnapshot();
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tup;
    while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
        if (L.ndbs == capacity) {
            capacity *= 2;
            L.dbs = static_cast<DatabaseInfo *>(repalloc(L.dbs, capacity * sizeof(DatabaseInfo)));
        }
        bool usable = db->datallowconn && !db->datistemplate;
#ifdef DATCONNLIMIT_INVALID_DB
        usable = usable && !database_is_invalid_form(db);
#endif
        L.dbs[L.ndbs].oid = db->oid;
        L.dbs[L.ndbs].usable = usable;
        ++L.ndbs;
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    CommitTransactionCommand();
}

const DatabaseInfo *database_info(Oid oid) {
    for (int i = 0; i < L.ndbs; ++i)
        if (L.dbs[i].oid == oid)
            return &L.dbs[i];
    return nullptr;
}

bool is_known(Oid oid) {
    for (int i = 0; i < L.nknown; ++i)
        if (L.known[i] == oid)
            return true;
    return false;
}

void add_known(Oid oid) {
    if (L.nknown == L.known_capacity) {
        L.known_capacity *= 2;
        L.known = static_cast<Oid *>(repalloc(L.known, L.known_capacity * sizeof(Oid)));
    }
    L.known[L.nknown++] = oid;
}

// Drops the known databases that are gone or no longer accept connections (so that they are
// probed again if they come back).
void prune_known() {
    int kept = 0;
    for (int i = 0; i < L.nknown; ++i) {
        const DatabaseInfo *db = database_info(L.known[i]);
        if (db && db->usable)
            L.known[kept++] = L.known[i];
    }
    L.nknown = kept;
}

// True while a worker we registered for entry i has not exited.
bool launch_in_flight(int i) {
    if (L.handles[i] == nullptr)
        return false;
    pid_t pid;
    BgwHandleStatus status = GetBackgroundWorkerPid(L.handles[i], &pid);
    if (status == BGWH_POSTMASTER_DIED)
        proc_exit(1);
    if (status == BGWH_STOPPED) {
        pfree(L.handles[i]);
        L.handles[i] = nullptr;
        return false;
    }
    return true;
}

void register_worker(int i, Oid database, TimestampTz now) {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    // The launcher restarts workers itself: after a crash-and-restart cycle the postmaster
    // forgets never-restart workers, so a restarted launcher cannot race a restarted worker.
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(worker.bgw_library_name, names::kLibrary, BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, names::kIngestWorkerMain, BGW_MAXLEN);
    snprintf(worker.bgw_name, BGW_MAXLEN, names::kIngestWorkerNameFormat, database);
    strlcpy(worker.bgw_type, names::kIngestWorkerType, BGW_MAXLEN);
    worker.bgw_main_arg = ObjectIdGetDatum(database);
    worker.bgw_notify_pid = MyProcPid;

    BackgroundWorkerHandle *handle = nullptr;
    MemoryContext old = MemoryContextSwitchTo(L.cxt); // the handle lives until the worker stops
    const bool ok = RegisterDynamicBackgroundWorker(&worker, &handle);
    MemoryContextSwitchTo(old);

    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseEntry *e = &shared->entries[i];
    if (ok) {
        e->launched_at = now;
        e->not_before = TimestampTzPlusMilliseconds(now, kRestartDelayMs);
        e->request_pending = false; // consumed: the worker will see the extension if it is there
        set_state(e, WorkerState::kStarting);
    } else {
        e->not_before = TimestampTzPlusMilliseconds(now, kNoSlotRetryMs);
        set_state(e, WorkerState::kNoWorkerSlot);
        set_error(e, "could not start an ingestion worker: no free background worker slot",
                  "Raise max_worker_processes (one per database with bemi, plus one for the launcher) and restart "
                  "the server.");
    }
    LWLockRelease(shared->lock);

    if (ok) {
        L.handles[i] = handle;
    } else {
        ereport(WARNING, (errmsg("bemi launcher: no free background worker slot for the ingestion worker of database %u",
                                 database),
                          errhint("Raise max_worker_processes (one slot per database with the bemi extension, "
                                  "plus one for the launcher).")));
    }
}

// One pass: probe new databases, forget dropped ones, start the workers that are due.
// Returns how long to sleep.
long launcher_pass() {
    scan_databases();
    const TimestampTz now = GetCurrentTimestamp();

    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int d = 0; d < L.ndbs; ++d) {
        if (!L.dbs[d].usable || is_known(L.dbs[d].oid))
            continue;
        DatabaseEntry *e = find_or_add_entry(L.dbs[d].oid);
        if (e == nullptr)
            break; // no room now: probe it at a later pass
        if (e->pid == 0 && !e->wanted) {
            e->wanted = true; // a probe: the worker exits at once if the extension is not installed
            e->not_before = 0;
        }
        add_known(L.dbs[d].oid);
    }
    for (int i = 0; i < shared->nentries; ++i) {
        DatabaseEntry *e = &shared->entries[i];
        if (e->database == InvalidOid || database_info(e->database) != nullptr)
            continue;
        // The database is gone: forget it once no worker of ours is around.
        if (e->pid == 0 && L.handles[i] == nullptr)
            clear_entry(e);
    }
    shared->initial_scan_done = true;
    if (test_fault_is(TestFault::kLauncherErrorHoldingLock))
        elog(ERROR, "bemi launcher: test fault: error while holding the shared lock (bemi.test_fault)");
    LWLockRelease(shared->lock);
    prune_known();

    long wait_ms = kRescanMs;
    for (int i = 0; i < shared->nentries; ++i) {
        const bool in_flight = launch_in_flight(i);
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        DatabaseEntry *e = &shared->entries[i];
        const Oid database = e->database;
        bool start = false;
        // A paused database (being dropped, copied or renamed) gets no worker until its command ends.
        if (database != InvalidOid && e->wanted && e->pid == 0 && !in_flight && e->pause_count == 0) {
            const DatabaseInfo *db = database_info(database);
            if (db == nullptr || !db->usable) {
                if (db != nullptr) {
                    set_state(e, WorkerState::kNoConnections);
                    e->wanted = e->request_pending = false;
                }
            } else if (e->request_pending || e->not_before <= now) {
                start = true;
            } else {
                long secs;
                int usecs;
                TimestampDifference(now, e->not_before, &secs, &usecs);
                const long ms = secs * 1000 + usecs / 1000 + 1;
                if (ms < wait_ms)
                    wait_ms = ms;
            }
        }
        LWLockRelease(shared->lock);
        if (start)
            register_worker(i, database, now);
    }
    return wait_ms < 100 ? 100 : wait_ms;
}

} // namespace

void workers_init_preload() {
    shared_state_request();
    commit_wake_init_preload();

    BackgroundWorker launcher;
    memset(&launcher, 0, sizeof launcher);
    launcher.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    launcher.bgw_start_time = BgWorkerStart_RecoveryFinished;
    launcher.bgw_restart_time = 5;
    strlcpy(launcher.bgw_library_name, names::kLibrary, BGW_MAXLEN);
    strlcpy(launcher.bgw_function_name, names::kLauncherMain, BGW_MAXLEN);
    strlcpy(launcher.bgw_name, names::kLauncherType, BGW_MAXLEN);
    strlcpy(launcher.bgw_type, names::kLauncherType, BGW_MAXLEN);
    RegisterBackgroundWorker(&launcher);
}

} // namespace bemi_pg

using namespace bemi_pg;

BEMI_BGWORKER_MAIN(BEMI_LAUNCHER_MAIN) {
    (void) main_arg;
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    // No database: only the nailed shared catalogs (pg_database). Not pg_replication_origin:
    // the workers drop the origins of dropped databases.
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);

    if (shared == nullptr)
        proc_exit(0);

    L.cxt = AllocSetContextCreate(TopMemoryContext, "bemi launcher", ALLOCSET_DEFAULT_SIZES);
    L.scan_cxt = AllocSetContextCreate(L.cxt, "bemi launcher scan", ALLOCSET_DEFAULT_SIZES);
    L.pass_cxt = AllocSetContextCreate(L.cxt, "bemi launcher pass", ALLOCSET_DEFAULT_SIZES);
    L.handles = static_cast<BackgroundWorkerHandle **>(
        MemoryContextAllocZero(L.cxt, shared->nentries * sizeof(BackgroundWorkerHandle *)));
    L.known_capacity = 16;
    L.known = static_cast<Oid *>(MemoryContextAlloc(L.cxt, L.known_capacity * sizeof(Oid)));
    L.nknown = 0;

    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    shared->launcher_pid = MyProcPid;
    shared->launcher_latch = MyLatch;
    LWLockRelease(shared->lock);
    before_shmem_exit(launcher_detach, 0);

    ErrorText error;
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        long wait_ms = kRestartDelayMs; // after an error: back off
        if (run_recovering(L.pass_cxt, &error, [&wait_ms] { wait_ms = launcher_pass(); }))
            MemoryContextReset(L.pass_cxt);
        else
            wait_ms = kRestartDelayMs;
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
}
