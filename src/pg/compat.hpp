// Differences between PostgreSQL major versions, in one place.
//
// Built and tested against PostgreSQL 15. Each accessor names the version that changed the
// underlying API, so supporting 14 or 16-18 means editing this file only.
#pragma once

#include "pg/postgres_headers.hpp"

extern "C" {
#include "catalog/pg_database.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
}

#if PG_VERSION_NUM < 140000 || PG_VERSION_NUM >= 190000
#error "bemi supports PostgreSQL 14 to 18"
#endif

namespace bemi_pg {

// PostgreSQL 15 moved the commit time into a union shared with the prepare time.
inline TimestampTz txn_commit_time(const ReorderBufferTXN *txn) {
#if PG_VERSION_NUM >= 150000
    return txn->xact_time.commit_time;
#else
    return txn->commit_time;
#endif
}

// PostgreSQL 17 replaced ReorderBufferTupleBuf with a plain HeapTuple.
inline HeapTuple change_new_tuple(ReorderBufferChange *change) {
#if PG_VERSION_NUM >= 170000
    return change->data.tp.newtuple;
#else
    return change->data.tp.newtuple ? &change->data.tp.newtuple->tuple : nullptr;
#endif
}

inline HeapTuple change_old_tuple(ReorderBufferChange *change) {
#if PG_VERSION_NUM >= 170000
    return change->data.tp.oldtuple;
#else
    return change->data.tp.oldtuple ? &change->data.tp.oldtuple->tuple : nullptr;
#endif
}

// Option values arrive as String nodes (Value nodes before PostgreSQL 15); strVal reads both.
inline const char *defelem_value(const DefElem *elem) {
    return elem->arg ? strVal(elem->arg) : nullptr;
}

// A slot created with two_phase decodes at PREPARE; the field exists since PostgreSQL 14.
inline bool slot_uses_two_phase() {
    return MyReplicationSlot != nullptr && MyReplicationSlot->data.two_phase;
}

// PostgreSQL 18 adds virtual generated columns, which are not in the tuple at all.
inline bool attribute_is_stored(const FormData_pg_attribute *att) {
#if PG_VERSION_NUM >= 180000
    return !att->attisdropped && att->attgenerated != ATTRIBUTE_GENERATED_VIRTUAL;
#else
    return !att->attisdropped;
#endif
}

// PostgreSQL 15 renamed EmitWarningsOnPlaceholders.
inline void reserve_guc_prefix(const char *prefix) {
#if PG_VERSION_NUM >= 150000
    MarkGUCPrefixReserved(prefix);
#else
    EmitWarningsOnPlaceholders(prefix);
#endif
}

// PostgreSQL 17 added a flush argument to LogLogicalMessage.
inline XLogRecPtr log_transactional_message(const char *prefix, const char *message, size_t size) {
#if PG_VERSION_NUM >= 170000
    return LogLogicalMessage(prefix, message, size, true, false);
#else
    return LogLogicalMessage(prefix, message, size, true);
#endif
}

// Whether role owns the database (or is a member of its owner), as DROP DATABASE checks it.
// PostgreSQL 16 folded the per-catalog owner checks into object_ownercheck.
inline bool database_owned_by(Oid database, Oid role) {
#if PG_VERSION_NUM >= 160000
    return object_ownercheck(DatabaseRelationId, database, role);
#else
    return pg_database_ownercheck(database, role);
#endif
}

// The map from a partitioned table's columns to one of its partitions' (NULL when they are
// laid out alike). PostgreSQL 16 builds it on demand (ExecGetRootToChildMap).
inline TupleConversionMap *root_to_partition_map(ResultRelInfo *leaf, EState *estate) {
#if PG_VERSION_NUM >= 160000
    return ExecGetRootToChildMap(leaf, estate);
#else
    (void) estate;
    return leaf->ri_RootToPartitionMap;
#endif
}

// Sets or clears PROC_IN_LOGICAL_DECODING on this process, as ReplicationSlotAcquire and
// ReplicationSlotRelease do. PostgreSQL 14 moved the flags from PGXACT->vacuumFlags to
// PGPROC->statusFlags, mirrored in ProcGlobal->statusFlags.
inline void set_proc_in_logical_decoding(bool on) {
    LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
    if (on)
        MyProc->statusFlags |= PROC_IN_LOGICAL_DECODING;
    else
        MyProc->statusFlags &= ~PROC_IN_LOGICAL_DECODING;
    ProcGlobal->statusFlags[MyProc->pgxactoff] = MyProc->statusFlags;
    LWLockRelease(ProcArrayLock);
}

} // namespace bemi_pg
