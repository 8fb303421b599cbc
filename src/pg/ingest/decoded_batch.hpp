// The records the ingestion worker's decoding context has produced and not stored yet
// (docs/ingestion.md, "Streaming"). Decoding runs outside any transaction, under historic
// snapshots that may not write, so the records wait here — in a tuplestore that spills to a
// temporary file past kBatchMemoryKB, for transactions larger than memory — until the worker's
// own transaction stores them: bemi._ingest reads them with bemi._batch_records(), the fast
// path (batch_store.hpp) with decoded_batch_open().
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

// Empties the batch; its records will come from slot (the only slot _batch_records serves
// them for), and will be stored with bemi._ingest(slot, origin, end, capture).
void decoded_batch_start(const char *slot);

// One output of the plugin: the lsn and xid a peek of the slot would show with the record.
void decoded_batch_append(XLogRecPtr lsn, TransactionId xid, const char *data, int len);

// The commit time of a transaction that appended records (the worker's decoding context
// reports it from its commit callback, where the reorder buffer knows it): the partitions of
// bemi.changes the batch needs are created from these (partitions.hpp), without reading the
// records again.
void decoded_batch_note_commit(TimestampTz commit_time);

// The commit times noted since decoded_batch_start, in commit order; valid until the batch is
// discarded.
int decoded_batch_commit_times(const TimestampTz **times);

// Where decoding stopped: the batch holds every transaction whose commit record starts before
// it and that the slot had not acknowledged.
void decoded_batch_set_end(XLogRecPtr end);

// Forgets the records (stored, or decoding is starting over from the slot).
void decoded_batch_discard();

uint64 decoded_batch_records();
uint64 decoded_batch_bytes();

// Reads one batch in order: exactly the records bemi._batch_records(slot, upto) returns. In the
// worker, its decoded batch for slot (upto must be where decoding stopped); anywhere else, a
// peek of slot up to upto, held in a tuplestore of the current memory context and transaction.
struct BatchReader {
    Tuplestorestate *rows; // NULL: no records
    bool own;              // the worker's batch (not freed by decoded_batch_close)
    TupleTableSlot *slot;
};

// In a transaction (a peek runs SQL). Raises ERROR as bemi._batch_records does.
BatchReader *decoded_batch_open(const char *slot, XLogRecPtr upto);

// The next record: its lsn, and its text (not NUL-terminated, valid until the next call).
// False at the end.
bool decoded_batch_next(BatchReader *reader, XLogRecPtr *lsn, const char **data, int *len);

// Back to the first record.
void decoded_batch_rewind(BatchReader *reader);

void decoded_batch_close(BatchReader *reader);

} // namespace bemi_pg
