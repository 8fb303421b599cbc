// Shared memory of the ingestion workers: one entry per database that has (or had, or is
// about to get) an ingestion worker, and the launcher's latch. See docs/ingestion.md.
//
// Everything here is plain data (C-style): it lives in shared memory and is read and written
// by the launcher, the workers and the SQL functions under one LWLock.
#pragma once

#include "pg/postgres_headers.hpp"

extern "C" {
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
}

namespace bemi_pg {

constexpr int kErrorLength = 256;

// What a database's ingestion is doing, as bemi.status shows it. state_name() in
// shared_state.cpp is the one name table (a switch: -Wswitch under -Werror refuses a state
// without a name); code compares states, never their text. The launcher has no state of its
// own: it sets these, for the entries it starts workers for.
enum class WorkerState {
    kNotRunning,      // no worker, none asked for
    kRequested,       // CREATE/ALTER EXTENSION committed: the launcher starts one
    kNoWorkerSlot,    // the launcher could not start one (max_worker_processes); it retries
    kNoConnections,   // the database does not accept connections
    kStarting,        // registered or attached, not yet capturing
    kCreatingSlot,    // creating the replication slot: waits for running transactions
    kIdle,            // capturing, nothing to store
    kIngesting,       // capturing, storing a batch
    kBackoff,         // the last step failed (last_error); retrying
    kStopping,        // the extension was dropped: dropping slot and origin
    kStopped,         // the extension is gone
    kRestarting,      // the worker exited; the launcher starts another
    kPaused,          // DROP DATABASE or CREATE DATABASE ... TEMPLATE of this database runs
    kNotPreloaded,    // never stored: bemi.status without shared memory (not preloaded)
};
const char *state_name(WorkerState state);

struct DatabaseEntry {
    Oid database;             // InvalidOid: the entry is free

    // What the launcher should do.
    bool wanted;              // keep a worker running for this database
    bool request_pending;     // CREATE/ALTER EXTENSION committed here: start a worker at once
    TimestampTz not_before;   // earliest (re)start of a worker
    TimestampTz launched_at;  // when the launcher last registered a worker

    // The worker, while one is attached.
    pid_t pid;                // 0: no worker process attached
    Latch *latch;             // the worker's latch (bemi.sync() wakes it)
    // A commit of a transaction that wrote wakes the worker (commit_wake.cpp): set from the
    // start of each turn until the turn stores a batch, after which it looks again soon anyway.
    bool wake_on_commit;

    // Status (bemi.status).
    WorkerState state;
    XLogRecPtr capture_start; // the slot's consistent point
    XLogRecPtr confirmed;     // last position acknowledged to the slot: everything before is stored
    TimestampTz caught_up_at; // every change committed (and flushed) before this time is stored
    uint64 changes;           // rows inserted since the server started
    uint64 batches;
    TimestampTz last_batch_at;
    char last_error[kErrorLength];
    char last_error_hint[kErrorLength]; // the error's HINT, if it had one
    TimestampTz last_error_at;
    // The commit position of the transaction ingestion stopped at (a record that neither it
    // nor its marker row could store, last_error says why); invalid while nothing is stalled.
    // bemi.skip_transaction() skips exactly this transaction.
    XLogRecPtr stalled_at;
    // Batches the fast path (batch_store.hpp) left to bemi._ingest since the server started,
    // and why the last one was (a trigger on bemi.changes, a record it refused, ...).
    uint64 fast_path_fallbacks;
    char last_fallback[kErrorLength];
    TimestampTz last_fallback_at;

    // DROP DATABASE, or CREATE DATABASE ... TEMPLATE this database, is running
    // (database_commands.cpp): while pause_count > 0 the launcher starts no worker, a worker
    // about to attach exits, and the attached one stops at its next turn. With
    // pause_catch_up (a template copy) it first stores what was flushed when it noticed.
    int pause_count;
    bool pause_catch_up;
};

struct SharedState {
    LWLock *lock;
    pid_t launcher_pid;
    Latch *launcher_latch;
    bool initial_scan_done;   // the launcher has looked at every database once
    int nentries;
    DatabaseEntry entries[FLEXIBLE_ARRAY_MEMBER];
};

// Null unless the library was preloaded (shared_preload_libraries) in this server.
extern SharedState *shared;

// Installs the shared-memory hooks (called from workers_init_preload).
void shared_state_request();

// With shared->lock held: the entry of this database, or null.
DatabaseEntry *find_entry(Oid database);
// With shared->lock held exclusively: the entry of this database, creating it in a free (or
// reusable: no worker, not wanted) entry. Null when every entry is in use.
DatabaseEntry *find_or_add_entry(Oid database);
// With shared->lock held exclusively: forgets everything about the entry.
void clear_entry(DatabaseEntry *entry);
// With shared->lock held exclusively.
void set_state(DatabaseEntry *entry, WorkerState state);
void set_error(DatabaseEntry *entry, const char *message, const char *hint);

// Wakes the launcher (no lock needed).
void wake_launcher();

// The end of the last WAL record inserted so far: the position to flush to and to wait for.
// GetXLogInsertRecPtr() cannot be used for that: when the last record ended exactly at a page
// boundary it points past the next page's header, which no record fills yet, so
// XLogFlush() of it fails ("xlog flush request ... is not satisfied") and a wait for it
// never ends while nothing else is written.
XLogRecPtr wal_written_end();

} // namespace bemi_pg
