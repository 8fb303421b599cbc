// Wakes the ingestion worker of this database when a transaction that wrote commits, so an
// idle worker can sleep long (other databases' WAL does not wake it: docs/ingestion.md,
// "Streaming") and still store a change moments after its commit. Only while the worker asks
// for it (DatabaseEntry::wake_on_commit, from the start of a turn until it stores a batch):
// one that is storing batches looks again a moment after each batch anyway, and waking it at
// every commit would shrink its batches to a transaction or two.
#include "pg/ingest/shared_state.hpp"
#include "pg/ingest/workers.hpp"

namespace bemi_pg {

namespace {

void wake_idle_worker_at_commit(XactEvent event, void *) {
    if (event != XACT_EVENT_COMMIT || shared == nullptr || in_ingest_worker || !XLogLogicalInfoActive())
        return;
    // Without a transaction id the transaction logged nothing decoding would emit.
    if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
        return;
    Latch *latch = nullptr;
    LWLockAcquire(shared->lock, LW_SHARED);
    const DatabaseEntry *e = find_entry(MyDatabaseId);
    if (e != nullptr && e->pid != 0 && e->wake_on_commit)
        latch = e->latch;
    LWLockRelease(shared->lock);
    if (latch != nullptr)
        SetLatch(latch);
}

} // namespace

void commit_wake_init_preload() {
    RegisterXactCallback(wake_idle_worker_at_commit, nullptr);
}

} // namespace bemi_pg
