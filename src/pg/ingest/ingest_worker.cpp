// The ingestion worker: one per database with the extension, started by the launcher. It
// stores every record of its slot in bemi.changes exactly once (docs/ingestion.md):
//
//   decode: with one decoding context kept on the slot from turn to turn, as a walsender
//           does, read the WAL flushed since the last turn, each record once, outside any
//           transaction; the records of the transactions that committed wait in the decoded
//           batch (decoded_batch.hpp). X := where decoding stopped.
//   store:  in the worker's transaction, what bemi._ingest(slot, origin, X, capture) does (a
//           fast path in C, else that SQL: batch_store.hpp): insert the row records of the
//           transactions the replication origin does not cover yet, and set the origin's
//           progress to the last one's commit end, atomically with the rows; commit.
//   ack:    confirm X to the slot, only once the store has committed.
//
// A change acknowledged is stored; a change stored but not acknowledged (the worker died
// between the two) is delivered again and skipped by the origin's progress, and by
// ON CONFLICT on its identity (capture, commit_position, seq) as a second guard. A batch
// that stalls on one transaction stores and acknowledges the transactions before it, shows
// the stalled one's commit position in bemi.status (bemi.skip_transaction()), and drops the
// decoding context, so that the next turn decodes again from the slot.
//
// Until ALTER EXTENSION bemi UPDATE brings bemi._batch_records (0.3), the installed SQL peeks the
// slot itself: the worker then runs each batch as a peek and a pg_replication_slot_advance
// (legacy_store), without a decoding context of its own.
//
// C-style on purpose: no object with a destructor is alive across PostgreSQL calls, which
// may raise ERROR (longjmp) at any point.
#include "pg/boundary.hpp"
#include "pg/compat.hpp"
#include "pg/decode/replay_hooks.hpp"
#include "pg/ingest/batch_store.hpp"
#include "pg/ingest/partitions.hpp"
#include "pg/ingest/decoded_batch.hpp"
#include "pg/ingest/retention.hpp"
#include "pg/ingest/shared_state.hpp"
#include "pg/ingest/workers.hpp"
#include "pg/names.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "access/xlogutils.h"
#include "nodes/makefuncs.h"
#include "replication/decode.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/standby.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
}

namespace bemi_pg {

bool in_ingest_worker = false;

namespace {

// A batch starts at most this often while there is work: its cost per batch (cold caches,
// two transactions) is shared by what 200 ms of commits brings. Counted from the start of the
// previous batch, not from its end, so a batch that took long is not followed by a full wait:
// the oldest change of the next one would have waited both.
constexpr long kPollMs = 200;
// Sleep when there was nothing to store: a commit in this database (commit_wake.cpp) and
// bemi.sync() wake the worker earlier; other databases' WAL waits for the timeout.
constexpr long kIdleSleepMs = 1000;
constexpr long kFullCheckMs = 10000;                   // re-check everything at least this often
constexpr long kOrphanCheckMs = 60000;                 // drop origins of dropped databases
constexpr long kMinBackoffMs = 1000;
constexpr long kMaxBackoffMs = 60000;
constexpr uint64 kMaxBatchBytes = 64 * 1024 * 1024;    // of WAL per batch (legacy_store)
constexpr uint64 kMaxDecodedBytes = 32 * 1024 * 1024;  // of records per batch (streaming)
// When the slot's restart point trails its confirmed position by more than this, log a
// running-transactions record before the batch, so that decoding it moves the restart point
// up (otherwise only the background writer's, every 15 s, do): every peek re-decodes from
// the restart point.
constexpr uint64 kRestartLagBytes = 1024 * 1024;

enum Outcome { kIdle, kBatch, kAgain, kFailed };

struct Worker {
    Oid database;
    Oid extension;         // the extension this worker captures for
    char slot[names::kNameLength];
    char origin[names::kNameLength];
    DatabaseEntry *entry;
    MemoryContext cxt;
    bool origin_ready;     // the session's replication origin is set up
    bool history_checked;  // capture_history describes the current slot
    bool ready;            // slot and history checked: the idle shortcut may be taken
    bool clean_exit;       // exiting because the extension is gone
    bool captured;         // this process has seen the extension installed
    XLogRecPtr confirmed;  // the slot's confirmed position as of our last look or advance
    XLogRecPtr restart_lag;
    XLogRecPtr last_snapshot_end;
    TimestampTz last_full_step;
    TimestampTz last_orphan_check;
    long backoff_ms;
    // Paused with catch-up (CREATE DATABASE ... TEMPLATE this database): store everything
    // flushed before this position, then stop. Invalid until the worker notices the pause.
    XLogRecPtr pause_target;
    bool streaming;        // the installed SQL reads the decoded batch (bemi._batch_records)
    PartitionCover partitions; // bemi.changes's partitions known to exist (partitions.hpp)
    // The decoding context kept on the slot (acquired meanwhile), NULL when none is open.
    LogicalDecodingContext *decoder;
    MemoryContext decoder_cxt;
    uint64 replayed_seen;  // replayed_transactions when the caches were last reset
};

Worker W;

// LSN_FORMAT_ARGS does not compile as C++ (it asserts the type with a C builtin).
uint32 lsn_hi(XLogRecPtr lsn) {
    return static_cast<uint32>(lsn >> 32);
}
uint32 lsn_lo(XLogRecPtr lsn) {
    return static_cast<uint32>(lsn);
}

// ---------------------------------------------------------------- shared memory

// Registers this process in its database's entry. False when another worker is attached, or
// when the database is paused (being dropped, copied or renamed): a worker started just before
// the pause must not connect to it.
bool attach() {
    if (shared == nullptr)
        return false;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseEntry *e = find_or_add_entry(W.database);
    bool ok = e != nullptr && e->pid == 0 && e->pause_count == 0;
    if (ok) {
        e->pid = MyProcPid;
        e->latch = MyLatch;
        e->wake_on_commit = false;
        e->confirmed = InvalidXLogRecPtr;
        e->capture_start = InvalidXLogRecPtr;
        e->caught_up_at = 0;
        e->stalled_at = InvalidXLogRecPtr;
        set_state(e, WorkerState::kStarting);
        W.entry = e;
    }
    LWLockRelease(shared->lock);
    return ok;
}

void detach(int, Datum) {
    if (shared == nullptr || W.entry == nullptr)
        return;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseEntry *e = W.entry;
    if (e->pid == MyProcPid) {
        e->pid = 0;
        e->latch = nullptr;
        if (W.clean_exit) {
            // Extension gone. A CREATE EXTENSION that committed meanwhile keeps it wanted.
            if (!e->request_pending)
                e->wanted = false;
            e->confirmed = InvalidXLogRecPtr;
            e->capture_start = InvalidXLogRecPtr;
            set_state(e, e->wanted ? WorkerState::kRestarting : WorkerState::kStopped);
        } else if (e->pause_count > 0) {
            // Stopped for a pause: no restart delay, the launcher starts a worker as soon as
            // the pause is lifted (the database survived the command).
            set_state(e, WorkerState::kPaused);
        } else {
            const TimestampTz soon = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
            if (e->not_before < soon)
                e->not_before = soon;
            set_state(e, WorkerState::kRestarting);
        }
    }
    LWLockRelease(shared->lock);
    wake_launcher();
}

void publish_state(WorkerState state) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    set_state(W.entry, state);
    if (state == WorkerState::kIngesting)
        W.entry->wake_on_commit = false; // it looks again right after the batch anyway
    LWLockRelease(shared->lock);
}

void arm_commit_wake() {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    W.entry->wake_on_commit = true;
    LWLockRelease(shared->lock);
}

void publish_error(const char *message, const char *hint) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    set_state(W.entry, WorkerState::kBackoff);
    set_error(W.entry, message, hint);
    LWLockRelease(shared->lock);
}

// A batch stopped at the transaction committed at position: what came before it is stored.
void publish_stall(XLogRecPtr position, const char *message) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    set_state(W.entry, WorkerState::kBackoff);
    set_error(W.entry, message,
              "If the cause cannot be fixed, a superuser can skip that transaction: "
              "SELECT bemi.skip_transaction(stalled_at) FROM bemi.status.");
    W.entry->stalled_at = position;
    W.entry->confirmed = W.confirmed;
    LWLockRelease(shared->lock);
}

// After a store that stalled at the transaction committed at stalled_at (both paths: the
// transactions before it are stored and acknowledged): logs it with the way out, shows it in
// bemi.status, and fails the turn, so that the worker backs off and decodes again from the
// slot. reason: the stall's error (bemi._ingest's stall_error), null if it gave none.
Outcome report_stall(XLogRecPtr stalled_at, const char *reason) {
    char stall_error[kErrorLength];
    snprintf(stall_error, sizeof stall_error, "stalled at the transaction committed at %X/%X: %s",
             lsn_hi(stalled_at), lsn_lo(stalled_at), reason != nullptr ? reason : "unknown error");
    ereport(WARNING, (errmsg("bemi: %s", stall_error),
                      errhint("Every transaction before it is stored. If the cause cannot be fixed, "
                              "SELECT bemi.skip_transaction('%X/%X') skips it (recorded in bemi.capture_history).",
                              lsn_hi(stalled_at), lsn_lo(stalled_at))));
    publish_stall(stalled_at, stall_error);
    W.ready = false;
    return kFailed;
}

void publish_idle(TimestampTz now) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    W.entry->confirmed = W.confirmed;
    W.entry->caught_up_at = now;
    set_state(W.entry, WorkerState::kIdle);
    LWLockRelease(shared->lock);
}

void publish_batch(XLogRecPtr upto, bool caught_up, TimestampTz sampled_at, int64 stored) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseEntry *e = W.entry;
    e->confirmed = upto;
    if (caught_up)
        e->caught_up_at = sampled_at;
    e->changes += static_cast<uint64>(stored);
    e->batches += 1;
    e->last_batch_at = GetCurrentTimestamp();
    e->stalled_at = InvalidXLogRecPtr;
    e->wake_on_commit = false;
    set_state(e, WorkerState::kIngesting);
    LWLockRelease(shared->lock);
}

// A batch that the fast path left to bemi._ingest, once its transaction has committed.
void publish_fallback(const char *reason) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    W.entry->fast_path_fallbacks += 1;
    strlcpy(W.entry->last_fallback, reason, sizeof W.entry->last_fallback);
    W.entry->last_fallback_at = GetCurrentTimestamp();
    LWLockRelease(shared->lock);
}

void publish_capture_start(XLogRecPtr lsn) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    W.entry->capture_start = lsn;
    LWLockRelease(shared->lock);
}

void clear_request() {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    W.entry->request_pending = false;
    W.entry->wanted = true;
    LWLockRelease(shared->lock);
}

// Every peek and advance starts a decoding context, which logs "starting logical decoding for
// slot" and "logical decoding found ... point" at LOG: several lines per second here. This
// process keeps those out of the server log (log_min_messages cannot: LOG passes
// every level below FATAL). Everything else, errors included, is logged as usual.
emit_log_hook_type prev_emit_log_hook = nullptr;

const char *const kQuietMessages[] = {
    "starting logical decoding for slot \"%s\"",
    "logical decoding found consistent point at %X/%X",
    "logical decoding found initial starting point at %X/%X",
    "logical decoding found initial consistent point at %X/%X",
};

void quiet_decoding_messages(ErrorData *edata) {
    if (edata->elevel == LOG && edata->message_id != nullptr) {
        for (const char *quiet : kQuietMessages)
            if (strcmp(edata->message_id, quiet) == 0)
                edata->output_to_server = false;
    }
    if (prev_emit_log_hook)
        prev_emit_log_hook(edata);
}

// True when this worker should stop now for a pause (database_commands.cpp). A catch-up pause
// first lets the loop store everything flushed when the pause was noticed; a worker that has
// not started capturing, or whose last turn failed, has nothing it can add and stops at once.
bool should_stop_for_pause(bool last_failed) {
    LWLockAcquire(shared->lock, LW_SHARED);
    const bool paused = W.entry->pause_count > 0;
    const bool catch_up = W.entry->pause_catch_up;
    LWLockRelease(shared->lock);
    if (!paused) {
        W.pause_target = InvalidXLogRecPtr;
        return false;
    }
    if (!catch_up || !W.ready || last_failed)
        return true;
    if (W.pause_target == InvalidXLogRecPtr)
        W.pause_target = GetFlushRecPtr(nullptr);
    return W.confirmed >= W.pause_target;
}

// Leaves for a pause: detach() marks the entry paused. Between turns, so no transaction, slot
// or origin progress is in the middle of anything; the origin and slot stay for the resume.
[[noreturn]] void stop_for_pause() {
    ereport(LOG, (errmsg("bemi: ingestion worker of database %u paused: the database is being dropped, copied or "
                         "renamed",
                         W.database)));
    proc_exit(0);
}

// ---------------------------------------------------------------- transactions and SPI

// ReplicationSlotAcquire marks a process that holds a logical slot PROC_IN_LOGICAL_DECODING,
// and GetSnapshotData leaves the transaction ids of such processes out of every snapshot
// (ComputeXidHorizons their xmin): a walsender never has one. This process keeps its slot
// between turns and runs transactions of its own meanwhile. With the flag on, another
// session's snapshot takes the worker's running transaction for a finished one, finds it not
// committed, and marks the rows it is inserting as aborted (HEAP_XMIN_INVALID; index scans
// kill their entries): stored changes vanish for readers, for good once the page is written.
// So each of the worker's transactions runs with the flag off; decoding, between
// transactions, with it on. (Releasing the slot, on error too, clears it.)
void begin() {
    if (MyProc->statusFlags & PROC_IN_LOGICAL_DECODING)
        set_proc_in_logical_decoding(false);
    // Whatever this transaction caches of the catalogs is not for decoding (replay_hooks.hpp).
    catalog_caches_need_reset = true;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "bemi: SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
}

// Commits. The origin's progress, if a batch set it, belongs to that commit only: clear it so
// that no later transaction can carry it (PostgreSQL keeps it in the session until reset).
void finish() {
    PopActiveSnapshot();
    SPI_finish();
    CommitTransactionCommand();
    replorigin_session_origin_lsn = InvalidXLogRecPtr;
    replorigin_session_origin_timestamp = 0;
    if (MyReplicationSlot != nullptr)
        set_proc_in_logical_decoding(true);
}

// Runs a statement with up to 4 text/name/lsn parameters; errors propagate.
int run(const char *sql, int nargs, const Oid *types, const Datum *values, int expected) {
    const int rc = SPI_execute_with_args(sql, nargs, const_cast<Oid *>(types), const_cast<Datum *>(values),
                                         nullptr, false, 0);
    if (rc != expected)
        elog(ERROR, "bemi: unexpected SPI result %d for: %s", rc, sql);
    return static_cast<int>(SPI_processed);
}

Datum text_datum(const char *s) {
    return CStringGetTextDatum(s);
}

Datum name_datum(const char *s) {
    // A palloc'd NameData: the slot functions take "name".
    auto *n = static_cast<NameData *>(palloc0(sizeof(NameData)));
    namestrcpy(n, s);
    return NameGetDatum(n);
}

bool column_isnull(int col) {
    bool isnull = false;
    (void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
    return isnull;
}

Datum column(int col) {
    bool isnull = false;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
    if (isnull)
        elog(ERROR, "bemi: unexpected NULL in column %d", col);
    return d;
}

// ---------------------------------------------------------------- the decoding context

void prepare_record(LogicalDecodingContext *ctx, XLogRecPtr, TransactionId, bool) {
    resetStringInfo(ctx->out);
}

void keep_record(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool) {
    decoded_batch_append(lsn, xid, ctx->out->data, ctx->out->len);
}

// The plugin's commit callback, and around it the worker's: the commit time of every
// transaction the plugin wrote records for goes to the batch (decoded_batch_note_commit).
LogicalDecodeCommitCB plugin_commit = nullptr;

void note_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn) {
    const uint64 before = decoded_batch_records();
    plugin_commit(ctx, txn, commit_lsn);
    if (decoded_batch_records() != before)
        decoded_batch_note_commit(txn_commit_time(txn));
}

// Outside any transaction. Acquires the slot and builds a decoding context on it, reading
// from the slot's restart point; the reorder buffer skips every transaction whose commit
// record starts before the slot's confirmed position. The plugin's options are the ones the
// stored records are defined with: BEGIN and COMMIT records around each transaction.
void open_decoder() {
    W.decoder_cxt = AllocSetContextCreate(TopMemoryContext, "bemi decoding", ALLOCSET_DEFAULT_SIZES);
    const MemoryContext old = MemoryContextSwitchTo(W.decoder_cxt);
    static XLogReaderRoutine routine;
    routine.page_read = read_local_xlog_page;
    routine.segment_open = wal_segment_open;
    routine.segment_close = wal_segment_close;
    List *options = list_make1(makeDefElem(pstrdup("include-transaction"), reinterpret_cast<Node *>(makeString(pstrdup("on"))), -1));
    ReplicationSlotAcquire(W.slot, true);
    W.decoder = CreateDecodingContext(InvalidXLogRecPtr, options, false, &routine, prepare_record, keep_record, nullptr);
    plugin_commit = W.decoder->callbacks.commit_cb;
    W.decoder->callbacks.commit_cb = note_commit;
    XLogBeginRead(W.decoder->reader, MyReplicationSlot->data.restart_lsn);
    MemoryContextSwitchTo(old);
    W.confirmed = MyReplicationSlot->data.confirmed_flush;
}

// Drops the decoded batch and the decoding context, and releases the slot: the next turn
// decodes again from the slot's confirmed position. Also the error path's (run_recovering),
// after the transaction was aborted.
void close_decoder() {
    decoded_batch_discard();
    // Whatever failed may have been a partition missing (dropped by hand after the cover was
    // taken: partitions.cpp, forget_cover): the retry checks them again.
    W.partitions.known = false;
    const bool was_open = W.decoder_cxt != nullptr;
    if (W.decoder != nullptr) {
        LogicalDecodingContext *ctx = W.decoder;
        W.decoder = nullptr;
        FreeDecodingContext(ctx); // needs the slot still acquired (its spill files)
    }
    if (W.decoder_cxt != nullptr) {
        MemoryContextDelete(W.decoder_cxt);
        W.decoder_cxt = nullptr;
    }
    if (MyReplicationSlot != nullptr)
        ReplicationSlotRelease();
    if (was_open) {
        // Entries built under historic snapshots are not the worker's (as after a SQL
        // decoding call).
        InvalidateSystemCaches();
        W.replayed_seen = replayed_transactions;
    }
}

// Decodes the WAL from where the last turn stopped until the record that ends at or past
// target (as pg_logical_slot_peek_changes does up to the flushed position), or until the batch
// holds kMaxDecodedBytes: the records of every transaction that committed meanwhile are then
// in the decoded batch, whole (the reorder buffer replays a transaction at its commit record).
// True when target was reached.
bool decode_until(XLogRecPtr target) {
    XLogReaderState *reader = W.decoder->reader;
    while (reader->EndRecPtr < target) {
        char *errm = nullptr;
        XLogRecord *record = XLogReadRecord(reader, &errm);
        if (errm != nullptr)
            elog(ERROR, "bemi: could not read WAL for logical decoding: %s", errm);
        if (record != nullptr)
            LogicalDecodingProcessRecord(W.decoder, reader);
        CHECK_FOR_INTERRUPTS();
        if (decoded_batch_bytes() >= kMaxDecodedBytes)
            break;
    }
    if (replayed_transactions != W.replayed_seen) {
        // Replays cached catalog entries under historic snapshots: not for the store.
        InvalidateSystemCaches();
        W.replayed_seen = replayed_transactions;
    }
    return reader->EndRecPtr >= target;
}

void confirm(XLogRecPtr lsn) {
    LogicalConfirmReceivedLocation(lsn);
    // Written at the next checkpoint (only a move of the restart point is written at once).
    ReplicationSlotMarkDirty();
    W.confirmed = lsn;
}

// ---------------------------------------------------------------- the steps

// In a transaction: is the extension installed at a version with the ingestion function?
// Holds a lock on the extension until the transaction ends, so that DROP EXTENSION waits for
// the batch instead of failing it halfway.
// An extension dropped and created again before the worker looked (one transaction, or two in
// quick succession) is another extension: its tables are new, so capture starts over (this
// worker stops, dropping slot and origin; the request of the new one starts a fresh worker).
bool extension_installed() {
    Oid ext = get_extension_oid(names::kExtension, true);
    if (!OidIsValid(ext))
        return false;
    LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
    if (get_extension_oid(names::kExtension, true) != ext) // a DROP may have committed while we waited
        return false;
    if (OidIsValid(W.extension) && W.extension != ext)
        return false;
    run("SELECT pg_catalog.to_regprocedure('bemi._ingest(pg_catalog.name,pg_catalog.text,pg_catalog.pg_lsn,"
        "pg_catalog.uuid)') "
        "IS NOT NULL",
        0, nullptr, nullptr, SPI_OK_SELECT);
    if (!DatumGetBool(column(1)))
        return false;
    run("SELECT pg_catalog.to_regprocedure('bemi._batch_records(pg_catalog.name,pg_catalog.pg_lsn)') IS NOT NULL", 0,
        nullptr, nullptr, SPI_OK_SELECT);
    W.streaming = DatumGetBool(column(1));
    W.extension = ext;
    return true;
}

// The extension is gone (its drop has committed): drop our slot and origin, exit 0 (the
// launcher does not start a worker again until the extension is created again).
[[noreturn]] void stop_and_exit() {
    publish_state(WorkerState::kStopping);
    close_decoder();
    if (W.origin_ready) {
        replorigin_session_reset();
        replorigin_session_origin = InvalidRepOriginId;
        W.origin_ready = false;
    }
    const Oid types[1] = {TEXTOID};
    Datum values[1] = {text_datum(W.slot)};
    const int dropped_slots =
        run("SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots "
            "WHERE slot_name OPERATOR(pg_catalog.=) $1::pg_catalog.name",
            1, types, values, SPI_OK_SELECT);
    values[0] = text_datum(W.origin);
    (void) run("SELECT pg_catalog.pg_replication_origin_drop(roname) FROM pg_catalog.pg_replication_origin "
               "WHERE roname OPERATOR(pg_catalog.=) $1",
               1, types, values, SPI_OK_SELECT);
    finish();
    W.clean_exit = true;
    if (W.captured || dropped_slots > 0)
        ereport(LOG, (errmsg("bemi: extension dropped in database %u: ingestion stopped, slot \"%s\" dropped",
                             W.database, W.slot)));
    proc_exit(0);
}

// In a transaction. Sets the session's replication origin up (creating it if needed: then the
// transaction must commit first, and false is returned). Setting it up fails if another
// process uses the origin, which also keeps two workers off one database.
bool setup_origin() {
    RepOriginId id = replorigin_by_name(W.origin, true);
    if (id == InvalidRepOriginId) {
        (void) replorigin_create(W.origin);
        return false;
    }
    replorigin_session_setup(id);
    replorigin_session_origin = id;
    W.origin_ready = true;
    return true;
}

// Drops the origins named prefix + a number that no row of owners (a FROM item) has as
// owner_number any more. The number starts right after the prefix: at sizeof(prefix),
// counting from 1.
template <size_t N>
void drop_origins_without_owner(const char (&prefix)[N], const char *owners, const char *owner_number) {
    (void) run(psprintf("SELECT pg_catalog.pg_replication_origin_drop(o.roname) FROM pg_catalog.pg_replication_origin o "
                        "WHERE o.roname OPERATOR(pg_catalog.~) '^%s[0-9]+$' "
                        "AND NOT EXISTS (SELECT FROM %s WHERE %s::pg_catalog.text "
                        "OPERATOR(pg_catalog.=) pg_catalog.substr(o.roname, %d))",
                        prefix, owners, owner_number, static_cast<int>(N)),
               0, nullptr, nullptr, SPI_OK_SELECT);
}

// Workers' origins of databases that no longer exist (DROP DATABASE ... WITH (FORCE)
// terminates the worker before it can drop its origin; the server drops the slot), and
// origins of restoring sessions (bemi.restoring, src/pg/capture/restore_session.cpp) that
// have ended. The launcher cannot read pg_replication_origin (it has no database), so workers
// do this.
void drop_orphan_origins() {
    drop_origins_without_owner(names::kWorkerOriginPrefix, "pg_catalog.pg_database d", "d.oid");
    drop_origins_without_owner(names::kRestoreOriginPrefix, "pg_catalog.pg_stat_activity a", "a.pid");
}

struct SlotInfo {
    bool exists;
    bool ours;        // plugin bemi, this database
    bool lost;        // invalidated (max_slot_wal_keep_size)
    XLogRecPtr confirmed;
    XLogRecPtr restart;
};

void read_slot(SlotInfo *info) {
    const Oid types[1] = {TEXTOID};
    Datum values[1] = {text_datum(W.slot)};
    const int n = run("SELECT plugin OPERATOR(pg_catalog.=) '" BEMI_NAME "' AND database OPERATOR(pg_catalog.=) "
                      "pg_catalog.current_database(), wal_status OPERATOR(pg_catalog.=) 'lost', "
                      "confirmed_flush_lsn, restart_lsn "
                      "FROM pg_catalog.pg_replication_slots WHERE slot_name OPERATOR(pg_catalog.=) $1::pg_catalog.name",
                      1, types, values, SPI_OK_SELECT);
    memset(info, 0, sizeof *info);
    if (n == 0)
        return;
    info->exists = true;
    info->ours = !column_isnull(1) && DatumGetBool(column(1));
    info->lost = !column_isnull(2) && DatumGetBool(column(2));
    info->confirmed = column_isnull(3) ? InvalidXLogRecPtr : DatumGetLSN(column(3));
    info->restart = column_isnull(4) ? InvalidXLogRecPtr : DatumGetLSN(column(4));
}

// What capture_history says about our slot in this cluster and database (its latest event; rows
// restored from another cluster or database describe another slot, even under the same name).
enum class History {
    kNone,      // nothing: capture never started here (or the history was emptied)
    kRunning,   // capture_started or gap: capture running from *point
    kStopped,   // capture_stopped: changes after *point are lost
};

History latest_history(XLogRecPtr *point) {
    const Oid types[1] = {TEXTOID};
    Datum values[1] = {text_datum(W.slot)};
    const int n = run("SELECT event OPERATOR(pg_catalog.=) 'capture_stopped', "
                      "CASE WHEN event OPERATOR(pg_catalog.=) 'capture_stopped' THEN gap_from ELSE consistent_point END "
                      "FROM bemi._own_capture_history WHERE slot_name OPERATOR(pg_catalog.=) $1 "
                      "AND event OPERATOR(pg_catalog.=) ANY (ARRAY['capture_started', 'gap', 'capture_stopped']) "
                      "ORDER BY id DESC LIMIT 1",
                      1, types, values, SPI_OK_SELECT);
    *point = InvalidXLogRecPtr;
    if (n == 0)
        return History::kNone;
    if (!column_isnull(2))
        *point = DatumGetLSN(column(2));
    return DatumGetBool(column(1)) ? History::kStopped : History::kRunning;
}

void record_event(const char *event, XLogRecPtr consistent, XLogRecPtr gap_from, XLogRecPtr gap_to,
                  const char *detail) {
    const Oid types[6] = {TEXTOID, TEXTOID, PG_LSNOID, PG_LSNOID, PG_LSNOID, TEXTOID};
    Datum values[6] = {text_datum(event),         text_datum(W.slot),       LSNGetDatum(consistent),
                       LSNGetDatum(gap_from),      LSNGetDatum(gap_to),      text_datum(detail ? detail : "")};
    (void) run("SELECT bemi._record_capture_event($1, $2, NULLIF($3, '0/0'::pg_catalog.pg_lsn), "
               "NULLIF($4, '0/0'::pg_catalog.pg_lsn), NULLIF($5, '0/0'::pg_catalog.pg_lsn), NULLIF($6, ''))",
               6, types, values, SPI_OK_SELECT);
}

// True when bemi.capture_history holds rows of another cluster or database: this database was
// restored from a dump, or upgraded with pg_upgrade (a new system identifier).
bool history_from_elsewhere() {
    (void) run("SELECT EXISTS (SELECT FROM bemi.capture_history h WHERE NOT EXISTS "
               "(SELECT FROM bemi._own_capture_history o WHERE o.id OPERATOR(pg_catalog.=) h.id))",
               0, nullptr, nullptr, SPI_OK_SELECT);
    return DatumGetBool(column(1));
}

// True when the latest history not recorded here was recorded in another database of this
// cluster: this database is a copy of it (CREATE DATABASE ... TEMPLATE, or a dump of it restored
// here). Then its WAL is ours: *stored_end receives the commit position of the last change the
// copied capture stored (its start point if it stored none), after which the copy's trail ends,
// and source (names::kNameLength) that database's name as recorded.
bool copied_in_this_cluster(XLogRecPtr *stored_end, char *source) {
    const int n = run("SELECT h.database::pg_catalog.text, coalesce('0/0'::pg_catalog.pg_lsn OPERATOR(pg_catalog.+) "
                      "(SELECT pg_catalog.max(c.commit_position) FROM bemi.changes c "
                      "WHERE c.capture OPERATOR(pg_catalog.=) h.capture), h.consistent_point, h.gap_from) "
                      "FROM bemi.capture_history h "
                      "WHERE NOT EXISTS (SELECT FROM bemi._own_capture_history o "
                      "WHERE o.id OPERATOR(pg_catalog.=) h.id) "
                      "AND h.system_identifier OPERATOR(pg_catalog.=) "
                      "(SELECT c.system_identifier FROM pg_catalog.pg_control_system() c) "
                      "AND NOT EXISTS (SELECT FROM bemi.capture_history l WHERE l.id OPERATOR(pg_catalog.>) h.id "
                      "AND NOT EXISTS (SELECT FROM bemi._own_capture_history o "
                      "WHERE o.id OPERATOR(pg_catalog.=) l.id))",
                      0, nullptr, nullptr, SPI_OK_SELECT);
    if (n == 0)
        return false;
    char *name = TextDatumGetCString(column(1));
    strlcpy(source, name, names::kNameLength);
    *stored_end = column_isnull(2) ? InvalidXLogRecPtr : DatumGetLSN(column(2));
    return true;
}

// Where CREATE EXTENSION (or the upgrade to this version) asked for capture: the extension
// script records it in bemi._capture_requested (not dumped), consumed here. Invalid if none.
XLogRecPtr take_capture_request() {
    (void) run("DELETE FROM bemi._capture_requested RETURNING requested_at", 0, nullptr, nullptr,
               SPI_OK_DELETE_RETURNING);
    XLogRecPtr requested = InvalidXLogRecPtr;
    for (uint64 i = 0; i < SPI_processed; ++i) {
        bool isnull = false;
        const Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
        if (!isnull && (requested == InvalidXLogRecPtr || DatumGetLSN(d) < requested))
            requested = DatumGetLSN(d);
    }
    return requested;
}

// The one place that records where capture (re)starts, given what the history said before the
// slot at consistent was created (or adopted). Every start records the changes that could
// have been committed without capture:
//   kNone: capture_started; with gap_from = where CREATE EXTENSION asked for capture and
//     gap_to = the consistent point: changes committed in between are not captured (a slot
//     cannot be created in the transaction that creates the extension; the worker may also
//     have waited for a background worker slot);
//   kStopped: a gap row from where the lost range starts to the consistent point.
void record_capture_start(History before, XLogRecPtr stopped_at, XLogRecPtr consistent, const char *how) {
    const XLogRecPtr requested = take_capture_request();
    if (before == History::kStopped) {
        record_event("gap", consistent, stopped_at, consistent, "capture restarted with a new replication slot");
    } else if (history_from_elsewhere()) {
        // Restored, upgraded or copied: the changes between the end of the earlier life's
        // capture and this point (none if bemi.sync() ran before the dump or the stop) are not
        // captured. Where the earlier one ended lies in another cluster's WAL, unless the
        // trail was copied from a database of this cluster: then it is known.
        XLogRecPtr stored_end = InvalidXLogRecPtr;
        char source[names::kNameLength];
        if (copied_in_this_cluster(&stored_end, source)) {
            char detail[256 + names::kNameLength];
            snprintf(detail, sizeof detail,
                     "capture started in a copy of database \"%s\" (CREATE DATABASE ... TEMPLATE, or a restore in "
                     "this cluster): the earlier capture's rows are that database's history up to the copy",
                     source);
            record_event("gap", consistent, stored_end, consistent, detail);
        } else {
            record_event("gap", consistent, InvalidXLogRecPtr, consistent,
                         "capture restarted in a restored or upgraded database: the earlier capture's rows come "
                         "from another cluster or database");
        }
    } else if (requested != InvalidXLogRecPtr) {
        record_event("capture_started", consistent, requested, consistent,
                     how ? how
                         : "changes committed between CREATE EXTENSION (gap_from) and the replication slot's "
                           "consistent point (gap_to) are not captured");
    } else {
        record_event("capture_started", consistent, InvalidXLogRecPtr, InvalidXLogRecPtr, how);
    }
}

// Where stored changes end, as far as we know without the slot: every transaction that
// committed before the origin's progress is stored.
XLogRecPtr stored_upto() {
    const Oid types[1] = {TEXTOID};
    Datum values[1] = {text_datum(W.origin)};
    (void) run("SELECT pg_catalog.pg_replication_origin_progress($1, true)", 1, types, values, SPI_OK_SELECT);
    XLogRecPtr p = column_isnull(1) ? InvalidXLogRecPtr : DatumGetLSN(column(1));
    return p > W.confirmed ? p : W.confirmed;
}

// In its own transaction, which has written nothing (a slot cannot be created otherwise).
// Waits for the transactions running now to end. Returns the consistent point.
XLogRecPtr create_slot() {
    publish_state(WorkerState::kCreatingSlot);
    begin();
    // The wait for running transactions is a lock wait: no lock_timeout for it.
    (void) set_config_option("lock_timeout", "0", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
    const Oid types[1] = {TEXTOID};
    Datum values[1] = {text_datum(W.slot)};
    (void) run("SELECT lsn FROM pg_catalog.pg_create_logical_replication_slot($1::pg_catalog.name, '" BEMI_NAME "')", 1,
               types, values, SPI_OK_SELECT);
    const XLogRecPtr consistent = DatumGetLSN(column(1));
    finish();
    return consistent;
}

// Logs a running-transactions record when the slot's restart point trails (see
// kRestartLagBytes), unless nothing but our own last record was written since.
void maybe_log_snapshot(XLogRecPtr flush) {
    if (W.restart_lag < kRestartLagBytes || flush <= W.last_snapshot_end)
        return;
    // The end of the record just logged (GetXLogInsertRecPtr() can point past a page header).
    W.last_snapshot_end = LogStandbySnapshot();
    XLogFlush(W.last_snapshot_end);
}

Outcome legacy_store(XLogRecPtr confirmed, XLogRecPtr flush, TimestampTz now);

// Called outside a transaction, once the checks of step() passed: decodes what was flushed
// (up to flush), stores it, acknowledges it.
Outcome stream_turn(XLogRecPtr flush, TimestampTz now) {
    if (W.decoder == nullptr)
        open_decoder();
    decoded_batch_start(W.slot);
    const bool reached = decode_until(flush);
    const XLogRecPtr end = W.decoder->reader->EndRecPtr;
    if (decoded_batch_records() == 0) {
        // Nothing of ours committed in that WAL (other databases', our own inserts, ...).
        if (end > W.confirmed)
            confirm(end);
        if (!reached)
            return kAgain;
        publish_idle(now);
        return kIdle;
    }
    decoded_batch_set_end(end);
    publish_state(WorkerState::kIngesting);

    // The partitions the batch's rows go to, in a short transaction of its own (partitions.hpp).
    begin();
    if (!extension_installed())
        stop_and_exit();
    {
        const TimestampTz *commit_times = nullptr;
        const int count = decoded_batch_commit_times(&commit_times);
        ensure_partitions(commit_times, count, &W.partitions);
    }
    finish();

    // Store: as legacy_store's txn 1, with the decoded batch: the fast path, else bemi._ingest
    // (batch_store.hpp).
    begin();
    if (!extension_installed())
        stop_and_exit();
    pg_uuid_t capture;
    bool has_capture = false;
    {
        const Oid types[1] = {NAMEOID};
        Datum values[1] = {name_datum(W.slot)};
        (void) run("SELECT bemi._current_capture($1)", 1, types, values, SPI_OK_SELECT);
        has_capture = !column_isnull(1);
        if (has_capture)
            memcpy(&capture, DatumGetUUIDP(column(1)), sizeof capture);
    }
    BatchOutcome outcome;
    store_batch(W.slot, W.origin, end, has_capture ? &capture : nullptr, &outcome);
    finish();
    decoded_batch_discard();
    if (!outcome.fast)
        publish_fallback(outcome.fallback_reason);

    // Acknowledge what the store committed.
    if (outcome.acknowledge > W.confirmed)
        confirm(outcome.acknowledge);
    if (outcome.stalled_at != InvalidXLogRecPtr) {
        // The decoder is past the stalled transaction: start over from the slot.
        close_decoder();
        return report_stall(outcome.stalled_at, outcome.has_stall_error ? outcome.stall_error : nullptr);
    }
    publish_batch(end, reached, now, outcome.inserted);
    return reached ? kBatch : kAgain;
}

Outcome step() {
    if (test_fault_is(TestFault::kWorkerErrorHoldingLock)) {
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        elog(ERROR, "bemi: test fault: error while holding the shared lock (bemi.test_fault)");
    }
    // Before the flushed position is read: a commit from now on wakes us if this turn finds
    // nothing to store and we sleep (commit_wake.cpp); one before it is in what we read.
    arm_commit_wake();
    TimestampTz now = GetCurrentTimestamp();
    XLogRecPtr flush = GetFlushRecPtr(nullptr);
    if (W.ready && flush <= W.confirmed && !TimestampDifferenceExceeds(W.last_full_step, now, kFullCheckMs)) {
        publish_idle(now);
        return kIdle;
    }
    if (W.ready)
        maybe_log_snapshot(flush);
    W.last_full_step = now;

    begin();
    if (!extension_installed())
        stop_and_exit();
    if (!W.captured) {
        W.captured = true;
        clear_request();
    }
    if (W.last_orphan_check == 0 || TimestampDifferenceExceeds(W.last_orphan_check, now, kOrphanCheckMs)) {
        drop_orphan_origins();
        W.last_orphan_check = now;
    }
    if (!W.origin_ready && !setup_origin()) {
        finish(); // the origin was created: commit, then set it up
        return kAgain;
    }

    SlotInfo slot;
    read_slot(&slot);
    if (slot.exists && !slot.ours)
        ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                        errmsg("bemi: replication slot \"%s\" exists but is not bemi's (another plugin or database)",
                               W.slot),
                        errhint("Drop that slot: the name is reserved for bemi's ingestion worker.")));
    if (slot.exists && slot.lost) {
        // Invalidated by max_slot_wal_keep_size: the WAL past its position is gone.
        close_decoder();
        record_event("capture_stopped", InvalidXLogRecPtr, slot.confirmed, InvalidXLogRecPtr,
                     "replication slot invalidated: the server removed WAL it still needed (max_slot_wal_keep_size)");
        Datum values[1] = {text_datum(W.slot)};
        const Oid types[1] = {TEXTOID};
        (void) run("SELECT pg_catalog.pg_drop_replication_slot($1::pg_catalog.name)", 1, types, values,
                   SPI_OK_SELECT);
        ereport(WARNING, (errmsg("bemi: replication slot \"%s\" was invalidated: changes after %X/%X are lost",
                                 W.slot, lsn_hi(slot.confirmed), lsn_lo(slot.confirmed)),
                          errhint("Raise max_slot_wal_keep_size; the gap is recorded in bemi.capture_history.")));
        finish();
        W.ready = false;
        return kAgain;
    }
    if (!slot.exists) {
        XLogRecPtr point;
        History latest = latest_history(&point);
        XLogRecPtr gap_from = point;
        if (latest == History::kRunning) {
            // Capture was running and the slot is gone (dropped by hand?): a gap.
            gap_from = stored_upto();
            record_event("capture_stopped", InvalidXLogRecPtr, gap_from, InvalidXLogRecPtr,
                         "replication slot missing");
            ereport(WARNING, (errmsg("bemi: replication slot \"%s\" is missing: changes after %X/%X are lost",
                                     W.slot, lsn_hi(gap_from), lsn_lo(gap_from)),
                              errhint("The gap is recorded in bemi.capture_history. Do not drop %s* slots.",
                                      names::kSlotPrefix)));
            latest = History::kStopped;
        }
        finish();
        const XLogRecPtr consistent = create_slot();
        begin();
        if (!extension_installed()) // dropped while the slot was being created
            stop_and_exit();
        record_capture_start(latest, gap_from, consistent, nullptr);
        finish();
        publish_capture_start(consistent);
        W.history_checked = true;
        W.confirmed = consistent;
        ereport(LOG, (errmsg("bemi: capturing changes of database %u from %X/%X (slot \"%s\")", W.database,
                             lsn_hi(consistent), lsn_lo(consistent), W.slot)));
        return kAgain;
    }
    if (!W.history_checked) {
        // A slot exists: make sure the history says so (a crash may have come between creating
        // the slot and recording it; nothing was acknowledged yet then).
        XLogRecPtr point;
        const History latest = latest_history(&point);
        if (latest != History::kRunning) {
            record_capture_start(latest, point, slot.confirmed, "existing replication slot adopted");
            point = slot.confirmed;
        }
        publish_capture_start(point);
        W.history_checked = true;
    }

    W.confirmed = slot.confirmed;
    W.restart_lag = slot.restart != InvalidXLogRecPtr && slot.confirmed > slot.restart ? slot.confirmed - slot.restart : 0;
    W.ready = true;
    now = GetCurrentTimestamp();
    flush = GetFlushRecPtr(nullptr);
    if (flush <= slot.confirmed) {
        finish();
        publish_idle(now);
        return kIdle;
    }
    if (W.streaming) {
        finish();
        return stream_turn(flush, now);
    }
    if (W.decoder_cxt != nullptr)
        close_decoder(); // the SQL went back to peeking the slot itself (a downgrade)
    return legacy_store(slot.confirmed, flush, now);
}

// One batch of 0.2's SQL, which peeks the slot itself (its decoding context is bemi._ingest's).
Outcome legacy_store(XLogRecPtr confirmed, XLogRecPtr flush, TimestampTz now) {
    const XLogRecPtr upto = flush - confirmed > kMaxBatchBytes ? confirmed + kMaxBatchBytes : flush;

    // txn 1: store. A stalled transaction (one that neither its rows nor a marker row could
    // store) ends the batch before it: acknowledge is then the last stored commit's end.
    publish_state(WorkerState::kIngesting);
    {
        const Oid types[3] = {NAMEOID, TEXTOID, PG_LSNOID};
        Datum values[3] = {name_datum(W.slot), text_datum(W.origin), LSNGetDatum(upto)};
        (void) run("SELECT inserted, acknowledge, stalled_at, stall_error "
                   "FROM bemi._ingest($1, $2, $3, bemi._current_capture($1))",
                   3, types, values, SPI_OK_SELECT);
    }
    const int64 stored = DatumGetInt64(column(1));
    const XLogRecPtr acknowledge = DatumGetLSN(column(2));
    const XLogRecPtr stalled_at = column_isnull(3) ? InvalidXLogRecPtr : DatumGetLSN(column(3));
    // (Copied out of the SPI result, which finish() frees.)
    char stall_reason[kErrorLength];
    const bool has_stall_reason = stalled_at != InvalidXLogRecPtr && !column_isnull(4);
    if (has_stall_reason)
        text_to_cstring_buffer(DatumGetTextPP(column(4)), stall_reason, sizeof stall_reason);
    finish();

    // txn 2: acknowledge what txn 1 stored.
    if (acknowledge > confirmed) {
        begin();
        const Oid types[2] = {TEXTOID, PG_LSNOID};
        Datum values[2] = {text_datum(W.slot), LSNGetDatum(acknowledge)};
        (void) run("SELECT pg_catalog.pg_replication_slot_advance($1::pg_catalog.name, $2)", 2, types, values,
                   SPI_OK_SELECT);
        finish();
        W.confirmed = acknowledge;
    }
    if (stalled_at != InvalidXLogRecPtr)
        return report_stall(stalled_at, has_stall_reason ? stall_reason : nullptr);
    publish_batch(upto, upto == flush, now, stored);
    return upto == flush ? kBatch : kAgain;
}

Outcome guarded_step() {
    Outcome outcome = kFailed;
    ErrorText error;
    if (!run_recovering(W.cxt, &error, [&outcome] { outcome = step(); }, close_decoder)) {
        // A batch's origin progress belongs to its aborted transaction only.
        replorigin_session_origin_lsn = InvalidXLogRecPtr;
        replorigin_session_origin_timestamp = 0;
        W.ready = false;
        publish_error(error.message, error.hint);
        outcome = kFailed;
    }
    MemoryContextReset(W.cxt);
    return outcome;
}

} // namespace

} // namespace bemi_pg

using namespace bemi_pg;

BEMI_BGWORKER_MAIN(BEMI_INGEST_WORKER_MAIN) {
    W.database = DatumGetObjectId(main_arg);
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    if (!attach())
        proc_exit(0); // another worker serves this database (or bemi is not preloaded)
    before_shmem_exit(detach, 0);

    // Fails (FATAL) if the database was dropped meanwhile; the launcher then forgets it.
    BackgroundWorkerInitializeConnectionByOid(W.database, InvalidOid, 0);
    in_ingest_worker = true;
    prev_emit_log_hook = emit_log_hook;
    emit_log_hook = quiet_decoding_messages;
    pgstat_report_appname(names::kIngestWorkerType);
    names::slot_name_for(W.database, W.slot, sizeof W.slot);
    names::worker_origin_name_for(W.database, W.origin, sizeof W.origin);
    W.cxt = AllocSetContextCreate(TopMemoryContext, "bemi ingest", ALLOCSET_DEFAULT_SIZES);

    // A lock held on bemi.changes (or a long DROP EXTENSION) shows in bemi.status as an error
    // with a retry, rather than as a worker silently stuck.
    SetConfigOption("lock_timeout", "10s", PGC_SUSET, PGC_S_SESSION);
    SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_SESSION);
    SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_SESSION);
    SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_SESSION);
    SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_SESSION);

    bool last_failed = false;
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        if (should_stop_for_pause(last_failed))
            stop_for_pause();
        const TimestampTz turn_started = GetCurrentTimestamp();
        const Outcome outcome = guarded_step();
        last_failed = outcome == kFailed;
        if (!last_failed)
            retention_turn(W.cxt, close_decoder, WorkerTransaction{begin, finish}); // between turns, in transactions of its own
        long sleep_ms = kPollMs - TimestampDifferenceMilliseconds(turn_started, GetCurrentTimestamp());
        if (sleep_ms < 0)
            sleep_ms = 0;
        if (outcome == kFailed) {
            W.backoff_ms = W.backoff_ms == 0 ? kMinBackoffMs : W.backoff_ms * 2;
            if (W.backoff_ms > kMaxBackoffMs)
                W.backoff_ms = kMaxBackoffMs;
            sleep_ms = W.backoff_ms;
        } else {
            W.backoff_ms = 0;
            if (outcome == kAgain)
                sleep_ms = 0;
            else if (outcome == kIdle)
                sleep_ms = kIdleSleepMs;
        }
        if (outcome == kFailed) {
            // The whole backoff, whoever sets the latch (bemi.sync() does, every few ms).
            const TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), sleep_ms);
            for (;;) {
                long secs;
                int usecs;
                TimestampDifference(GetCurrentTimestamp(), until, &secs, &usecs);
                const long left = secs * 1000 + usecs / 1000;
                if (left <= 0)
                    break;
                (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
                ResetLatch(MyLatch);
                CHECK_FOR_INTERRUPTS();
                if (should_stop_for_pause(true))
                    stop_for_pause();
                if (ConfigReloadPending) {
                    ConfigReloadPending = false;
                    ProcessConfigFile(PGC_SIGHUP);
                }
            }
        } else if (sleep_ms > 0) {
            (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        }
    }
}
