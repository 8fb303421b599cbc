// Shared memory of the ingestion workers (see shared_state.hpp).
#include "pg/ingest/shared_state.hpp"

#include "pg/ingest/workers.hpp"

extern "C" {
#include "access/xlog_internal.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
}

namespace bemi_pg {

SharedState *shared = nullptr;

namespace {

constexpr char kTrancheName[] = "bemi";
constexpr char kShmemName[] = "bemi ingestion workers";

shmem_startup_hook_type prev_shmem_startup = nullptr;
#if PG_VERSION_NUM >= 150000
shmem_request_hook_type prev_shmem_request = nullptr;
#endif

// One entry per database with a worker, plus room for the databases the launcher is probing
// and for status that outlives a worker. max_worker_processes bounds the running workers.
int entry_count() {
    return max_worker_processes + 16;
}

Size shared_size() {
    return add_size(offsetof(SharedState, entries), mul_size(entry_count(), sizeof(DatabaseEntry)));
}

void request_shmem() {
    RequestAddinShmemSpace(shared_size());
    RequestNamedLWLockTranche(kTrancheName, 1);
}

#if PG_VERSION_NUM >= 150000
void shmem_request() {
    if (prev_shmem_request)
        prev_shmem_request();
    request_shmem();
}
#endif

void shmem_startup() {
    if (prev_shmem_startup)
        prev_shmem_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    auto *state = static_cast<SharedState *>(ShmemInitStruct(kShmemName, shared_size(), &found));
    if (!found) {
        memset(state, 0, shared_size());
        state->lock = &(GetNamedLWLockTranche(kTrancheName))->lock;
        state->nentries = entry_count();
    }
    LWLockRelease(AddinShmemInitLock);
    shared = state;
}

} // namespace

void shared_state_request() {
#if PG_VERSION_NUM >= 150000
    prev_shmem_request = shmem_request_hook;
    shmem_request_hook = shmem_request;
#else
    request_shmem();
#endif
    prev_shmem_startup = shmem_startup_hook;
    shmem_startup_hook = shmem_startup;
}

DatabaseEntry *find_entry(Oid database) {
    for (int i = 0; i < shared->nentries; ++i)
        if (shared->entries[i].database == database)
            return &shared->entries[i];
    return nullptr;
}

DatabaseEntry *find_or_add_entry(Oid database) {
    DatabaseEntry *entry = find_entry(database);
    if (entry)
        return entry;
    DatabaseEntry *reusable = nullptr;
    for (int i = 0; i < shared->nentries; ++i) {
        DatabaseEntry *e = &shared->entries[i];
        if (e->database == InvalidOid) {
            reusable = e;
            break;
        }
        if (!reusable && !e->wanted && !e->request_pending && e->pid == 0 && e->pause_count == 0)
            reusable = e;
    }
    if (!reusable)
        return nullptr;
    clear_entry(reusable);
    reusable->database = database;
    set_state(reusable, WorkerState::kNotRunning);
    return reusable;
}

void clear_entry(DatabaseEntry *entry) {
    memset(entry, 0, sizeof(DatabaseEntry));
}

const char *state_name(WorkerState state) {
    switch (state) {
    case WorkerState::kNotRunning: return "not running";
    case WorkerState::kRequested: return "requested";
    case WorkerState::kNoWorkerSlot: return "waiting for a worker slot";
    case WorkerState::kNoConnections: return "database does not accept connections";
    case WorkerState::kStarting: return "starting";
    case WorkerState::kCreatingSlot: return "creating slot";
    case WorkerState::kIdle: return "idle";
    case WorkerState::kIngesting: return "ingesting";
    case WorkerState::kBackoff: return "backoff";
    case WorkerState::kStopping: return "stopping";
    case WorkerState::kStopped: return "stopped";
    case WorkerState::kRestarting: return "restarting";
    case WorkerState::kPaused: return "paused: database being dropped, copied or renamed";
    case WorkerState::kNotPreloaded: return "not preloaded";
    }
    return "unknown";
}

void set_state(DatabaseEntry *entry, WorkerState state) {
    entry->state = state;
}

void set_error(DatabaseEntry *entry, const char *message, const char *hint) {
    strlcpy(entry->last_error, message, sizeof entry->last_error);
    strlcpy(entry->last_error_hint, hint ? hint : "", sizeof entry->last_error_hint);
    entry->last_error_at = GetCurrentTimestamp();
}

void wake_launcher() {
    if (shared == nullptr)
        return;
    Latch *latch = shared->launcher_latch;
    if (latch)
        SetLatch(latch);
}

XLogRecPtr wal_written_end() {
    const XLogRecPtr insert = GetXLogInsertRecPtr();
    // XLogBytePosToRecPtr (which GetXLogInsertRecPtr uses) maps the byte position of a page
    // start to the first byte after that page's header; XLogBytePosToEndRecPtr, which the
    // server uses for record ends, maps it to the page start. Neither is exported: undo the
    // header. Nothing else ever lands exactly at a header's end.
    if (XLogSegmentOffset(insert, wal_segment_size) == SizeOfXLogLongPHD)
        return insert - SizeOfXLogLongPHD;
    if (insert % XLOG_BLCKSZ == SizeOfXLogShortPHD)
        return insert - SizeOfXLogShortPHD;
    return insert;
}

bool ingest_worker_serves(Oid database) {
    if (shared == nullptr)
        return false;
    LWLockAcquire(shared->lock, LW_SHARED);
    DatabaseEntry *entry = find_entry(database);
    const bool serves = entry != nullptr && entry->pid != 0;
    LWLockRelease(shared->lock);
    return serves;
}

} // namespace bemi_pg
