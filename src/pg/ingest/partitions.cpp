// Creating the partitions of bemi.changes ahead of the rows (partitions.hpp). The SQL decides
// what to create (bemi._ensure_partitions, sql/0.4/40-ensure-partitions.sql); this reads the
// batch's commit times, skips the call while the partitions are known to be there, and keeps
// a lock wait short.
//
// C-style: no object with a destructor is alive across PostgreSQL calls.
#include "pg/ingest/partitions.hpp"

#include "pg/boundary.hpp"
#include "pg/ingest/decoded_batch.hpp"

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

constexpr char kCommitPrefix[] = "{\"operation\":\"COMMIT\"";
constexpr char kCommittedAtKey[] = "\"committed_at\":\"";
constexpr long kRecheckMs = 10 * 1000;

// The commit times of the batch's COMMIT records (the plugin writes "committed_at" as the ISO
// text timestamptz_in reads), palloc'd.
int commit_times(const char *slot, XLogRecPtr upto, Datum **times) {
    int capacity = 64;
    int count = 0;
    Datum *list = static_cast<Datum *>(palloc(sizeof(Datum) * static_cast<size_t>(capacity)));
    BatchReader *reader = decoded_batch_open(slot, upto);
    XLogRecPtr lsn;
    const char *data;
    int len;
    char text[64];
    while (decoded_batch_next(reader, &lsn, &data, &len)) {
        const size_t n = static_cast<size_t>(len);
        if (n < sizeof kCommitPrefix - 1 || memcmp(data, kCommitPrefix, sizeof kCommitPrefix - 1) != 0)
            continue;
        const char *key = static_cast<const char *>(memmem(data, n, kCommittedAtKey, sizeof kCommittedAtKey - 1));
        if (key == nullptr)
            elog(ERROR, "bemi: a COMMIT record without its commit time");
        const char *start = key + sizeof kCommittedAtKey - 1;
        const char *end = static_cast<const char *>(memchr(start, '"', n - static_cast<size_t>(start - data)));
        if (end == nullptr || static_cast<size_t>(end - start) >= sizeof text)
            elog(ERROR, "bemi: a COMMIT record with an unreadable commit time");
        memcpy(text, start, static_cast<size_t>(end - start));
        text[end - start] = '\0';
        if (count == capacity) {
            capacity *= 2;
            list = static_cast<Datum *>(repalloc(list, sizeof(Datum) * static_cast<size_t>(capacity)));
        }
        list[count++] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid),
                                            Int32GetDatum(-1));
    }
    decoded_batch_close(reader);
    *times = list;
    return count;
}

// A partition created or dropped (by hand, by retention) invalidates bemi.changes's relcache
// entry: what the cover remembers may be wrong from then on.
PartitionCover *watched_cover = nullptr;
Oid watched_relid = InvalidOid;

void forget_cover(Datum, Oid relid) {
    if (watched_cover != nullptr && (relid == InvalidOid || relid == watched_relid))
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
bool call_ensure(Datum *times, int count, TimestampTz upto, PartitionCover *cover) {
    (void) set_config_option("lock_timeout", "1s", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
    // The partitions' DDL is bemi's own: no event trigger of the lineage (which leaves schema
    // bemi alone anyway) needs to run for it.
    (void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true,
                             0, false);
    ArrayType *array = construct_array(times, count, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE);
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

void ensure_partitions(const char *slot, XLogRecPtr upto, PartitionCover *cover) {
    if (!changes_partitioned(cover))
        return;
    Datum *times = nullptr;
    const int count = commit_times(slot, upto, &times);
    TimestampTz newest = DT_NOBEGIN;
    bool inside = cover->known;
    for (int i = 0; i < count; ++i) {
        const TimestampTz t = DatumGetTimestampTz(times[i]);
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
