// Creating the partitions of bemi.changes ahead of the rows (partitions.hpp). The SQL decides
// what to create (bemi._ensure_partitions, sql/0.4/40-ensure-partitions.sql); this skips the
// call while the partitions are known to be there, and keeps a lock wait short.
//
// C-style: no object with a destructor is alive across PostgreSQL calls.
#include "pg/ingest/partitions.hpp"

#include "pg/boundary.hpp"

extern "C" {
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

namespace bemi_pg {

namespace {

constexpr long kRecheckMs = 10 * 1000;

// Every partition bound is a whole UTC minute (bemi._partition_interval allows whole minutes
// only, counted from 1970-01-01, itself a whole minute before PostgreSQL's epoch), so times of
// one minute need one partition.
int64 utc_minute(TimestampTz t) {
    const int64 minute = INT64CONST(60) * USECS_PER_SEC;
    return t >= 0 ? t / minute : -((-t + minute - 1) / minute);
}

// One time per run of times in the same minute (the batch's are in commit order, almost
// sorted): what bemi._ensure_partitions needs, without a partition lookup per transaction,
// which cost a fifth of a long drain.
int one_per_minute(const TimestampTz *times, int count, Datum *out) {
    int kept = 0;
    for (int i = 0; i < count; ++i)
        if (kept == 0 || utc_minute(times[i]) != utc_minute(DatumGetTimestampTz(out[kept - 1])))
            out[kept++] = TimestampTzGetDatum(times[i]);
    return kept;
}

// A partition created or dropped (by hand, by retention) invalidates bemi.changes's relcache
// entry: what the cover remembers may be wrong from then on. A reset of every entry
// (InvalidOid) is not taken for one: the worker resets its caches around each of its own
// transactions (decode/replay_hooks.hpp), and forgetting the cover then made every batch call
// bemi._ensure_partitions (a sixth of the worker's CPU at 2,600 tps). An invalidation lost in
// such a reset (a sinval queue overflow) is caught all the same: the cover is checked again
// every 10 s, and a batch that finds its partition missing fails, and the worker forgets the
// cover when it recovers from an error (ingest_worker.cpp, close_decoder).
PartitionCover *watched_cover = nullptr;
Oid watched_relid = InvalidOid;

void forget_cover(Datum, Oid relid) {
    if (watched_cover != nullptr && relid == watched_relid)
        watched_cover->known = false;
}

bool changes_partitioned(PartitionCover *cover) {
    const Oid nsp = get_namespace_oid("bemi", true);
    const Oid relid = OidIsValid(nsp) ? get_relname_relid("changes", nsp) : InvalidOid;
    if (watched_cover == nullptr)
        CacheRegisterRelcacheCallback(forget_cover, 0);
    if (watched_cover != cover || watched_relid != relid)
        cover->known = false;
    watched_cover = cover;
    watched_relid = relid;
    if (!OidIsValid(relid))
        return false;
    // Held until the transaction ends: a DROP EXTENSION committed meanwhile would otherwise
    // drop bemi.changes under the partitions being created ("relation ... deleted while still
    // in use"). Looked up again once locked, as RangeVarGetRelid does.
    LockRelationOid(relid, AccessShareLock);
    if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid))) {
        UnlockRelationOid(relid, AccessShareLock);
        return false;
    }
    return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
}

// bemi._ensure_partitions(upto, times): the range now covered, into cover.
bool call_ensure(const TimestampTz *times, int count, TimestampTz upto, PartitionCover *cover) {
    (void) set_config_option("lock_timeout", "1s", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
    // The partitions' DDL is bemi's own: no event trigger of the lineage (which leaves schema
    // bemi alone anyway) needs to run for it.
    (void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true,
                             0, false);
    Datum *elements = static_cast<Datum *>(palloc(sizeof(Datum) * static_cast<size_t>(count > 0 ? count : 1)));
    const int kept = one_per_minute(times, count, elements);
    ArrayType *array = construct_array(elements, kept, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE);
    const Oid types[2] = {TIMESTAMPTZOID, TIMESTAMPTZARRAYOID};
    Datum values[2] = {TimestampTzGetDatum(upto), PointerGetDatum(array)};
    const char nulls[2] = {count == 0 ? 'n' : ' ', ' '};
    if (SPI_execute_with_args("SELECT covered_from, covered_to FROM bemi._ensure_partitions($1, $2)", 2,
                              const_cast<Oid *>(types), values, nulls, false, 0) != SPI_OK_SELECT ||
        SPI_processed != 1)
        elog(ERROR, "bemi: bemi._ensure_partitions returned no row");
    bool from_null = false, to_null = false;
    const Datum from = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &from_null);
    const Datum to = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &to_null);
    cover->known = !from_null && !to_null;
    cover->from = from_null ? 0 : DatumGetTimestampTz(from);
    cover->to = to_null ? 0 : DatumGetTimestampTz(to);
    cover->checked_at = GetCurrentTimestamp();
    return true;
}

} // namespace

void ensure_partitions(const TimestampTz *times, int count, PartitionCover *cover) {
    if (!changes_partitioned(cover))
        return;
    TimestampTz newest = DT_NOBEGIN;
    bool inside = cover->known;
    for (int i = 0; i < count; ++i) {
        const TimestampTz t = times[i];
        newest = t > newest ? t : newest;
        inside = inside && t >= cover->from && t < cover->to;
    }
    if (inside && !TimestampDifferenceExceeds(cover->checked_at, GetCurrentTimestamp(), kRecheckMs))
        return;
    // When the batch's times lie inside what was covered, a failure here (a lock not granted
    // within the timeout) costs nothing now: the next turn tries again.
    bool stored = false;
    ErrorData *error = run_in_subtransaction(
        [times, count, newest, cover] { return call_ensure(times, count, newest, cover); }, &stored);
    if (error == nullptr)
        return;
    if (!inside)
        ReThrowError(error);
    ereport(LOG, (errmsg("bemi: creating partitions of bemi.changes ahead failed, retried at the next turn: %s",
                         error->message)));
    FreeErrorData(error);
}

} // namespace bemi_pg
