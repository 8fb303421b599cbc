// The worker's decoded records, and bemi._batch_records(), which hands them to bemi._ingest.
#include "pg/ingest/decoded_batch.hpp"

#include "pg/boundary.hpp"
#include "pg/ingest/workers.hpp"

extern "C" {
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/pg_lsn.h"
#include "utils/tuplestore.h"
}

namespace bemi_pg {

namespace {

// In memory up to this, then in a temporary file: one transaction may be larger than memory.
constexpr int kBatchMemoryKB = 64 * 1024;
// Rows a peek hands over per fetch when _batch_records reads a slot itself.
constexpr long kPeekFetchRows = 1000;

struct DecodedBatch {
    MemoryContext cxt;     // lives as long as the process
    TupleDesc desc;        // a peek's row: (lsn pg_lsn, xid xid, data text)
    Tuplestorestate *rows; // NULL when the batch is empty
    char slot[NAMEDATALEN];
    XLogRecPtr end;
    TimestampTz *commit_times; // in cxt; capacity grows by doubling
    int commit_count;
    int commit_capacity;
    uint64 records;
    uint64 bytes;
};

DecodedBatch B;

void ensure_memory() {
    if (B.cxt != nullptr)
        return;
    B.cxt = AllocSetContextCreate(TopMemoryContext, "bemi decoded batch", ALLOCSET_DEFAULT_SIZES);
    const MemoryContext old = MemoryContextSwitchTo(B.cxt);
    // The layout of (pg_lsn, xid, text) as int8, int4, text: the same widths, alignment and
    // by-value passing, and built without the catalogs, which decoding (outside any
    // transaction) cannot read.
    B.desc = CreateTemplateTupleDesc(3);
    TupleDescInitBuiltinEntry(B.desc, 1, "lsn", INT8OID, -1, 0);
    TupleDescInitBuiltinEntry(B.desc, 2, "xid", INT4OID, -1, 0);
    TupleDescInitBuiltinEntry(B.desc, 3, "data", TEXTOID, -1, 0);
    MemoryContextSwitchTo(old);
}

// Copies the worker's records into the caller's result.
void copy_decoded(Tuplestorestate *result) {
    if (B.rows == nullptr)
        return;
    TupleTableSlot *slot = MakeSingleTupleTableSlot(B.desc, &TTSOpsMinimalTuple);
    tuplestore_rescan(B.rows);
    while (tuplestore_gettupleslot(B.rows, true, false, slot))
        tuplestore_puttupleslot(result, slot);
    ExecDropSingleTupleTableSlot(slot);
}

// What bemi._ingest read before the worker streamed: a peek of the slot up to upto (tests and
// benchmarks store a copied slot's records this way).
void copy_peek(Tuplestorestate *result, Name slot, XLogRecPtr upto) {
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "bemi: SPI_connect failed");
    Oid types[2] = {NAMEOID, PG_LSNOID};
    Datum values[2] = {NameGetDatum(slot), LSNGetDatum(upto)};
    Portal portal = SPI_cursor_open_with_args(
        nullptr,
        "SELECT lsn, xid, data FROM pg_catalog.pg_logical_slot_peek_changes($1, $2, NULL, "
        "'include-transaction', 'on')",
        2, types, values, nullptr, true, 0);
    for (;;) {
        SPI_cursor_fetch(portal, true, kPeekFetchRows);
        if (SPI_processed == 0)
            break;
        for (uint64 i = 0; i < SPI_processed; ++i)
            tuplestore_puttuple(result, SPI_tuptable->vals[i]);
        SPI_freetuptable(SPI_tuptable);
    }
    SPI_cursor_close(portal);
    SPI_finish();
}

} // namespace

void decoded_batch_start(const char *slot) {
    ensure_memory();
    decoded_batch_discard();
    strlcpy(B.slot, slot, sizeof B.slot);
}

void decoded_batch_append(XLogRecPtr lsn, TransactionId xid, const char *data, int len) {
    const MemoryContext old = MemoryContextSwitchTo(B.cxt);
    if (B.rows == nullptr)
        // interXact: the records are written inside the reorder buffer's replay transactions
        // and read in the worker's own; a file it spills to must outlive the former.
        B.rows = tuplestore_begin_heap(false, true, kBatchMemoryKB);
    Datum values[3] = {LSNGetDatum(lsn), TransactionIdGetDatum(xid),
                       PointerGetDatum(cstring_to_text_with_len(data, len))};
    bool nulls[3] = {false, false, false};
    tuplestore_putvalues(B.rows, B.desc, values, nulls);
    pfree(DatumGetPointer(values[2]));
    MemoryContextSwitchTo(old);
    B.records += 1;
    B.bytes += static_cast<uint64>(len);
}

void decoded_batch_note_commit(TimestampTz commit_time) {
    if (B.commit_count == B.commit_capacity) {
        B.commit_capacity = B.commit_capacity == 0 ? 64 : B.commit_capacity * 2;
        const size_t size = sizeof(TimestampTz) * static_cast<size_t>(B.commit_capacity);
        B.commit_times = static_cast<TimestampTz *>(
            B.commit_times == nullptr ? MemoryContextAlloc(B.cxt, size) : repalloc(B.commit_times, size));
    }
    B.commit_times[B.commit_count++] = commit_time;
}

int decoded_batch_commit_times(const TimestampTz **times) {
    *times = B.commit_times;
    return B.commit_count;
}

void decoded_batch_set_end(XLogRecPtr end) {
    B.end = end;
}

void decoded_batch_discard() {
    if (B.rows != nullptr)
        tuplestore_end(B.rows);
    B.rows = nullptr;
    B.commit_count = 0; // the array is kept for the next batch
    B.records = 0;
    B.bytes = 0;
    B.end = InvalidXLogRecPtr;
    B.slot[0] = '\0';
}

uint64 decoded_batch_records() {
    return B.records;
}

uint64 decoded_batch_bytes() {
    return B.bytes;
}

namespace {

// The worker's own batch when it is slot's, which must then end at upto.
bool own_batch(const char *slot, XLogRecPtr upto) {
    const bool own = in_ingest_worker && B.slot[0] != '\0' && strcmp(B.slot, slot) == 0;
    if (own && upto != B.end)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("bemi._batch_records: the decoded batch ends at %X/%X, not at %X/%X",
                               static_cast<uint32>(B.end >> 32), static_cast<uint32>(B.end),
                               static_cast<uint32>(upto >> 32), static_cast<uint32>(upto))));
    return own;
}

} // namespace

BatchReader *decoded_batch_open(const char *slot, XLogRecPtr upto) {
    ensure_memory();
    auto *reader = static_cast<BatchReader *>(palloc0(sizeof(BatchReader)));
    reader->own = own_batch(slot, upto);
    if (reader->own) {
        reader->rows = B.rows;
    } else {
        NameData name;
        namestrcpy(&name, slot);
        reader->rows = tuplestore_begin_heap(false, false, work_mem);
        copy_peek(reader->rows, &name, upto);
    }
    reader->slot = MakeSingleTupleTableSlot(B.desc, &TTSOpsMinimalTuple);
    decoded_batch_rewind(reader);
    return reader;
}

bool decoded_batch_next(BatchReader *reader, XLogRecPtr *lsn, const char **data, int *len) {
    if (reader->rows == nullptr || !tuplestore_gettupleslot(reader->rows, true, false, reader->slot))
        return false;
    slot_getallattrs(reader->slot);
    *lsn = static_cast<XLogRecPtr>(DatumGetInt64(reader->slot->tts_values[0]));
    // Stored by tuplestore_putvalues as written: never compressed or out of line.
    const auto *text = reinterpret_cast<const struct varlena *>(DatumGetPointer(reader->slot->tts_values[2]));
    *data = VARDATA_ANY(text);
    *len = static_cast<int>(VARSIZE_ANY_EXHDR(text));
    return true;
}

void decoded_batch_rewind(BatchReader *reader) {
    if (reader->rows != nullptr)
        tuplestore_rescan(reader->rows);
}

void decoded_batch_close(BatchReader *reader) {
    ExecDropSingleTupleTableSlot(reader->slot);
    if (!reader->own && reader->rows != nullptr)
        tuplestore_end(reader->rows);
    pfree(reader);
}

} // namespace bemi_pg

using namespace bemi_pg;

// bemi._batch_records(slot name, upto pg_lsn) RETURNS TABLE (lsn pg_lsn, xid xid, data text):
// the records of one batch, as a peek of slot up to upto would return them. In the ingestion
// worker, the records its decoding context holds for slot (upto must be where decoding
// stopped); anywhere else, the peek itself.
BEMI_FUNCTION(bemi_batch_records) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("bemi._batch_records: arguments must not be NULL")));
    Name slot = PG_GETARG_NAME(0);
    const XLogRecPtr upto = PG_GETARG_LSN(1);
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (own_batch(NameStr(*slot), upto))
        copy_decoded(rsinfo->setResult);
    else
        copy_peek(rsinfo->setResult, slot, upto);
    return static_cast<Datum>(0);
}
