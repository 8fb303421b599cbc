// The error boundary's out-of-line parts (see boundary.hpp).
#include "pg/boundary.hpp"

extern "C" {
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "utils/timeout.h"
#include "utils/wait_event.h"
}

namespace bemi_pg {

void describe_current_exception(CoreFailure *failure) noexcept {
    failure->message[0] = failure->hint[0] = '\0';
    try {
        throw;
    } catch (const bemi::OptionError &e) {
        failure->sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
        strlcpy(failure->message, e.what(), sizeof failure->message);
        strlcpy(failure->hint, e.hint().c_str(), sizeof failure->hint);
    } catch (const std::bad_alloc &) {
        failure->sqlstate = ERRCODE_OUT_OF_MEMORY;
        strlcpy(failure->message, "out of memory", sizeof failure->message);
    } catch (const std::exception &e) {
        failure->sqlstate = ERRCODE_INTERNAL_ERROR;
        strlcpy(failure->message, e.what(), sizeof failure->message);
    } catch (...) {
        failure->sqlstate = ERRCODE_INTERNAL_ERROR;
        strlcpy(failure->message, "unknown C++ exception", sizeof failure->message);
    }
}

// autovacuum's error recovery (AutoVacWorkerMain / AutoVacLauncherMain), plus what
// PostgresMain adds for replication slots. The order matters: the transaction is aborted
// first (it releases locks, buffers, snapshots, the active slot's transaction state); what a
// transaction does not own (an LWLock taken between transactions, say) is released after.
void recover_from_error(MemoryContext loop_cxt, ErrorText *error, SlotRelease release_slot) {
    error_context_stack = nullptr;
    HOLD_INTERRUPTS();
    disable_all_timeouts(false);
    QueryCancelPending = false; // after the timeouts: one may have just set it

    MemoryContextSwitchTo(loop_cxt);
    ErrorData *edata = CopyErrorData();
    strlcpy(error->message, edata->message ? edata->message : "unknown error", sizeof error->message);
    strlcpy(error->hint, edata->hint ? edata->hint : "", sizeof error->hint);
    FreeErrorData(edata);
    EmitErrorReport();

    AbortCurrentTransaction(); // does nothing when no transaction is open
    // Held outside a transaction, these survive AbortCurrentTransaction.
    LWLockReleaseAll();
    ConditionVariableCancelSleep();
    pgstat_report_wait_end();
    AbortBufferIO();
    UnlockBuffers();
    // As PostgresMain: AbortTransaction does not release an acquired slot.
    if (release_slot != nullptr)
        release_slot();
    if (MyReplicationSlot != nullptr)
        ReplicationSlotRelease();
    ReplicationSlotCleanup();

    MemoryContextSwitchTo(loop_cxt);
    FlushErrorState();
    MemoryContextReset(loop_cxt);
    pgstat_clear_snapshot();
    RESUME_INTERRUPTS();
}

} // namespace bemi_pg
