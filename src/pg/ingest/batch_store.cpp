// Storing one decoded batch (docs/ingestion.md, "One batch"). bemi._ingest, the SQL path,
// reads the batch through bemi._batch_records, casts every record to jsonb, extracts each field
// with ->> and ->, joins the rows with their COMMIT records, sorts, and inserts through the
// executor: most of the worker's cost per change that is not the indexes. The fast path here
// does the same work in one pass per record: it finds the record's fields in its text
// (bemi::split_record; the writer wrote them), takes strings and integers from there, parses
// only the objects (before, after, context: jsonb_in, as the cast does, each alone; a run of
// records with the same context text parses it once), evaluates the table's own defaults for
// the columns it does not set, and inserts with table_multi_insert and the executor's
// constraint and index routines. A record that split_record does not understand is parsed
// whole and read with the very functions -> and ->> call. Its rows are the SQL path's, value
// for value (test/shell/ingest_fast_path.sh compares them).
//
// bemi.changes is partitioned by effective_at (0.4): each row goes to its leaf partition as
// COPY FROM routes rows (ExecFindPartition). A batch's rows come in commit order, effective_at
// never decreasing, so they arrive in runs per partition: the buffer holds one partition's rows
// and is flushed when the next row belongs to another. A row that would land in the default
// partition although it has an effective_at (its partition is missing: the worker creates
// partitions before it stores a batch) fails the batch with an error the worker retries.
//
// It runs in a subtransaction. Anything unusual — a table with triggers, rules, row-level
// security or columns it does not know, a record with \u0000 (the SQL path converts those
// with bemi._record_jsonb), any ERROR at all (a record jsonb refuses, a row the table refuses,
// a duplicate) — rolls it back, and bemi._ingest stores the batch as before: it alone stores
// unstorable records as markers and stalls. Errors that retrying the batch may cure (classes
// 40, 55, 57: bemi._retry_later) are raised, as bemi._ingest raises them.
//
// C-style: no object with a destructor is alive across PostgreSQL calls.
#include "pg/ingest/batch_store.hpp"

#include "bemi/record_fields.hpp"
#include "pg/boundary.hpp"
#include "pg/compat.hpp"
#include "pg/ingest/decoded_batch.hpp"

extern "C" {
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "executor/execPartition.h"
#include "nodes/execnodes.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
}

namespace bemi_pg {

namespace {

// The columns bemi._ingest sets; every other column takes its default.
enum Column {
    kPrimaryKey, kBefore, kAfter, kContext, kDatabase, kSchema, kTable, kOperation, kCommittedAt,
    kTransactionId, kSeq, kPosition, kCommitPosition, kPreviousPrimaryKey, kUnchangedToast, kActor,
    kFallback, kCapture, kRootSchema, kRootTable, kEffectiveAt, kColumns
};

struct ColumnSpec {
    const char *name;
    Oid type;
};

const ColumnSpec kSpecs[kColumns] = {
    {"primary_key", TEXTOID},   {"before", JSONBOID},         {"after", JSONBOID},
    {"context", JSONBOID},      {"database", TEXTOID},        {"schema", TEXTOID},
    {"table", TEXTOID},         {"operation", TEXTOID},       {"committed_at", TIMESTAMPTZOID},
    {"transaction_id", INT8OID}, {"seq", INT4OID},            {"position", INT8OID},
    {"commit_position", INT8OID}, {"previous_primary_key", TEXTOID}, {"unchanged_toast", TEXTARRAYOID},
    {"actor", JSONBOID},        {"fallback", JSONBOID},       {"capture", UUIDOID},
    {"root_schema", TEXTOID},   {"root_table", TEXTOID},      {"effective_at", TIMESTAMPTZOID},
};

// Both paths tell BEGIN and COMMIT records by these (bemi._ingest_by_record's LIKE patterns).
constexpr char kBeginPrefix[] = "{\"operation\":\"BEGIN\"";
constexpr char kCommitPrefix[] = "{\"operation\":\"COMMIT\"";
// Six characters: the SQL path casts a record containing them through bemi._record_jsonb.
constexpr char kNulEscape[] = "\\u0000";

// Rows per table_multi_insert, and the record text after which the buffer is flushed early.
constexpr int kBufferRows = 1000;
constexpr size_t kBufferBytes = 4 * 1024 * 1024;

// A COMMIT record of the batch.
struct Commit {
    XLogRecPtr end;          // the lsn the batch gives it: the end of the commit record
    int64 transaction_id;
    int64 commit_position;
    TimestampTz committed_at;
    TimestampTz effective_at;
    bool effective_null;     // no seed and no transaction kept yet (never for a kept one)
    bool keep;               // after the origin's progress: its rows are stored
};

// One batch's fast store: what the executor needs, the rows waiting for table_multi_insert.
struct Store {
    MemoryContext work_cxt;  // everything of the attempt (deleted after it)
    MemoryContext parse_cxt; // one record's text and parsed jsonb (reset per record)
    MemoryContext rows_cxt;  // the values of the buffered rows (reset per flush)
    BatchReader *reader;
    Relation rel;            // bemi.changes (partitioned, or a plain table before 0.4's SQL)
    EState *estate;
    ResultRelInfo *rri;
    CommandId cid;
    // Routing (partitioned bemi.changes only; else proute is nullptr and leaf is rri).
    ModifyTableState *mtstate;
    PartitionTupleRouting *proute;
    Oid default_partition;       // InvalidOid when none
    TupleTableSlot *root_slot;   // a row as bemi.changes has it, before routing
    ResultRelInfo *leaf;         // where the buffered rows go
    bool routed_null;            // the effective_at leaf was found for (cache)
    TimestampTz routed_at;
    AttrNumber attnum[kColumns]; // 1-based
    int ndefaults;
    AttrNumber *default_att;     // columns the table fills: their default expression
    ExprState **default_expr;
    TupleTableSlot *slots[kBufferRows];
    int used;
    size_t buffered_bytes;
    int64 inserted;
    pg_uuid_t capture;
    // The last context parsed (rows_cxt: forgotten at each flush). The records of one
    // statement carry the same context text; it is parsed once for all of them.
    char *context_text;
    size_t context_len;
    Datum context;
};

Store S;

// Why the batch is left to the SQL path (BatchOutcome::fallback_reason); also logged at DEBUG1.
char fallback_reason[sizeof BatchOutcome::fallback_reason];

void fall_back(const char *why) {
    strlcpy(fallback_reason, why, sizeof fallback_reason);
    ereport(DEBUG1, (errmsg("bemi: %s: the batch is stored by bemi._ingest", why)));
}

bool has_prefix(const char *data, int len, const char *prefix, size_t prefix_len) {
    return static_cast<size_t>(len) >= prefix_len && memcmp(data, prefix, prefix_len) == 0;
}

// (SELECT array_agg(t) FROM jsonb_array_elements_text(value) t), value being record ->
// 'unchanged_toast': NULL when the array is empty. The record format has strings only; any
// other element is left to the SQL path.
Datum toast_array(Datum value, bool *isnull) {
    Jsonb *array = DatumGetJsonbP(value);
    if (!JB_ROOT_IS_ARRAY(array) || JB_ROOT_IS_SCALAR(array))
        elog(ERROR, "bemi: unchanged_toast is not an array");
    const int n = static_cast<int>(JB_ROOT_COUNT(array));
    if (n == 0) {
        *isnull = true;
        return 0;
    }
    Datum *elements = static_cast<Datum *>(palloc(sizeof(Datum) * static_cast<size_t>(n)));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * static_cast<size_t>(n)));
    for (int i = 0; i < n; ++i) {
        JsonbValue *v = getIthJsonbValueFromContainer(&array->root, static_cast<uint32>(i));
        nulls[i] = v->type == jbvNull;
        if (v->type == jbvString)
            elements[i] = PointerGetDatum(cstring_to_text_with_len(v->val.string.val, v->val.string.len));
        else if (v->type == jbvNull)
            elements[i] = 0;
        else
            elog(ERROR, "bemi: unchanged_toast holds a value that is not a string");
    }
    int dims[1] = {n};
    int lbs[1] = {1};
    // As array_agg builds it (makeMdArrayResult): one dimension from 1.
    return PointerGetDatum(construct_md_array(elements, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

// ---- A record's values as bemi._ingest's SELECT computes them (record::jsonb, then -> and
// ->>), from the fields split_record finds in its text: no jsonb of the whole record, no
// lookups in it; only the objects are parsed, each alone. Each returns false for what it does
// not take: the batch is then left to the SQL path.

using bemi::JsonKind;
using bemi::JsonSpan;
using bemi::RecordKey;

// The span's text as jsonb (jsonb_in, as the cast does), copied into the current context;
// the parse's own allocations stay in parse_cxt.
Datum span_jsonb(const JsonSpan &span) {
    const MemoryContext old = MemoryContextSwitchTo(S.parse_cxt);
    char *text = static_cast<char *>(palloc(span.len + 1));
    memcpy(text, span.data, span.len);
    text[span.len] = '\0';
    const Datum parsed = DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
    MemoryContextSwitchTo(old);
    const Size size = VARSIZE(DatumGetPointer(parsed));
    void *copy = palloc(size);
    memcpy(copy, DatumGetPointer(parsed), size);
    return PointerGetDatum(copy);
}

// record ->> 'key' of a string, or of a key missing or null.
bool span_text(const JsonSpan &span, Datum *value, bool *isnull) {
    *value = 0;
    *isnull = span.kind == JsonKind::Missing || span.kind == JsonKind::Null;
    if (*isnull)
        return true;
    if (span.kind != JsonKind::String) // ->> of a number, a boolean, a container: their jsonb text
        return false;
    text *t = static_cast<text *>(palloc(VARHDRSZ + span.len));
    long n = static_cast<long>(span.len);
    if (span.escaped)
        n = bemi::unescape_json_string(span.data, span.len, VARDATA(t));
    else
        memcpy(VARDATA(t), span.data, span.len);
    if (n < 0)
        return false;
    SET_VARSIZE(t, VARHDRSZ + n);
    *value = PointerGetDatum(t);
    return true;
}

// record -> 'key' of an object or array, or of a missing key.
bool span_container(const JsonSpan &span, Datum *value, bool *isnull) {
    *value = 0;
    *isnull = span.kind == JsonKind::Missing;
    if (*isnull)
        return true;
    if (span.kind != JsonKind::Object && span.kind != JsonKind::Array)
        return false;
    *value = span_jsonb(span);
    return true;
}

// record -> 'context': as span_container, parsed once for a run of records with the same text.
bool span_context(const JsonSpan &span, Datum *value, bool *isnull) {
    if (span.kind != JsonKind::Object)
        return span_container(span, value, isnull);
    *isnull = false;
    if (S.context_text == nullptr || S.context_len != span.len || memcmp(S.context_text, span.data, span.len) != 0) {
        S.context = span_jsonb(span);
        S.context_text = static_cast<char *>(palloc(span.len));
        memcpy(S.context_text, span.data, span.len);
        S.context_len = span.len;
    }
    *value = S.context;
    return true;
}

// (record ->> 'key')::int8 and ::int4 of a JSON integer, or of a key missing or null.
bool span_int8(const JsonSpan &span, Datum *value, bool *isnull) {
    *value = 0;
    *isnull = span.kind == JsonKind::Missing || span.kind == JsonKind::Null;
    int64_t v = 0;
    if (*isnull)
        return true;
    if (!bemi::parse_json_int(span, &v))
        return false;
    *value = Int64GetDatum(v);
    return true;
}

bool span_int4(const JsonSpan &span, Datum *value, bool *isnull) {
    if (!span_int8(span, value, isnull))
        return false;
    if (*isnull)
        return true;
    const int64 v = DatumGetInt64(*value);
    if (v < PG_INT32_MIN || v > PG_INT32_MAX)
        return false;
    *value = Int32GetDatum(static_cast<int32>(v));
    return true;
}

bool span_toast_array(const JsonSpan &span, Datum *value, bool *isnull) {
    *value = 0;
    *isnull = span.kind == JsonKind::Missing;
    if (*isnull)
        return true;
    if (span.kind != JsonKind::Array)
        return false;
    *value = toast_array(span_jsonb(span), isnull);
    return true;
}

// Why the fast path cannot store into bemi.changes as it is, or nullptr. Also finds the
// columns it sets and prepares the defaults of the others.
const char *prepare_table(Relation rel) {
    const Form_pg_class form = rel->rd_rel;
    if (form->relkind != RELKIND_RELATION && form->relkind != RELKIND_PARTITIONED_TABLE)
        return "bemi.changes is neither a plain nor a partitioned table";
    if (form->relkind == RELKIND_RELATION && form->relam != HEAP_TABLE_AM_OID)
        return "bemi.changes does not use the heap access method";
    if (rel->trigdesc != nullptr)
        return "bemi.changes has triggers";
    if (form->relhasrules || rel->rd_rules != nullptr)
        return "bemi.changes has rules";
    if (form->relrowsecurity)
        return "bemi.changes has row-level security";
    const TupleDesc desc = RelationGetDescr(rel);
    if (desc->constr != nullptr && desc->constr->has_generated_stored)
        return "bemi.changes has generated columns";
    for (int c = 0; c < kColumns; ++c)
        S.attnum[c] = InvalidAttrNumber;
    S.default_att = static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * static_cast<size_t>(desc->natts)));
    S.default_expr = static_cast<ExprState **>(palloc(sizeof(ExprState *) * static_cast<size_t>(desc->natts)));
    S.ndefaults = 0;
    for (int i = 0; i < desc->natts; ++i) {
        const Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped)
            continue;
        int c = 0;
        while (c < kColumns && strcmp(NameStr(att->attname), kSpecs[c].name) != 0)
            ++c;
        if (c < kColumns) {
            if (att->atttypid != kSpecs[c].type)
                return "a column of bemi.changes has another type";
            S.attnum[c] = att->attnum;
            continue;
        }
        // A column INSERT leaves out: its default (an identity column's next value), as the
        // rewriter builds it; NULL without one. A domain without a default would need its
        // constraints checked on that NULL: left to the SQL path.
        Node *expr = build_column_default(rel, att->attnum);
        if (expr == nullptr && get_typtype(att->atttypid) == TYPTYPE_DOMAIN)
            return "bemi.changes has a domain column without a default";
        if (expr == nullptr)
            continue;
        S.default_att[S.ndefaults] = att->attnum;
        S.default_expr[S.ndefaults] = ExecPrepareExpr(reinterpret_cast<Expr *>(expr), S.estate);
        S.ndefaults += 1;
    }
    for (int c = 0; c < kColumns; ++c)
        if (S.attnum[c] == InvalidAttrNumber)
            return "a column of bemi.changes is missing";
    return nullptr;
}

// The executor state an INSERT into bemi.changes would have (as COPY FROM sets it up), with
// tuple routing when it is partitioned.
void open_executor(Oid relid) {
    S.estate = CreateExecutorState();
    RangeTblEntry *rte = makeNode(RangeTblEntry);
    rte->rtekind = RTE_RELATION;
    rte->relid = relid;
    rte->relkind = get_rel_relkind(relid);
    rte->rellockmode = RowExclusiveLock;
    rte->requiredPerms = ACL_INSERT;
    ExecInitRangeTable(S.estate, list_make1(rte));
    S.rri = makeNode(ResultRelInfo);
    ExecInitResultRelation(S.estate, S.rri, 1);
    S.rel = S.rri->ri_RelationDesc;
    S.cid = GetCurrentCommandId(true);
    S.estate->es_output_cid = S.cid;
    for (int i = 0; i < kBufferRows; ++i)
        S.slots[i] = nullptr;
    S.mtstate = nullptr;
    S.proute = nullptr;
    S.default_partition = InvalidOid;
    S.leaf = S.rri;
    if (S.rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE) {
        // As COPY FROM: a ModifyTableState without a plan, for ExecFindPartition.
        S.mtstate = makeNode(ModifyTableState);
        S.mtstate->ps.plan = nullptr;
        S.mtstate->ps.state = S.estate;
        S.mtstate->operation = CMD_INSERT;
        S.mtstate->mt_nrels = 1;
        S.mtstate->resultRelInfo = S.rri;
        S.mtstate->rootResultRelInfo = S.rri;
        S.proute = ExecSetupPartitionTupleRouting(S.estate, S.rel);
        S.default_partition = get_default_partition_oid(relid);
        S.leaf = nullptr;
    } else {
        ExecOpenIndices(S.rri, false);
    }
    const MemoryContext old = MemoryContextSwitchTo(S.estate->es_query_cxt);
    S.root_slot = table_slot_create(S.rel, &S.estate->es_tupleTable);
    MemoryContextSwitchTo(old);
}

// The buffer's slots belong to one partition (its tuple descriptor): dropped when it changes.
void drop_buffer_slots() {
    for (int i = 0; i < kBufferRows && S.slots[i] != nullptr; ++i) {
        ExecDropSingleTupleTableSlot(S.slots[i]);
        S.slots[i] = nullptr;
    }
}

void close_executor() {
    drop_buffer_slots();
    if (S.proute != nullptr)
        ExecCleanupTupleRouting(S.mtstate, S.proute);
    ExecResetTupleTable(S.estate->es_tupleTable, false);
    ExecCloseResultRelations(S.estate);
    ExecCloseRangeTableRelations(S.estate);
    FreeExecutorState(S.estate);
    S.estate = nullptr;
}

// Inserts the buffered rows: heap first, then each row's index entries, as COPY FROM does.
void flush() {
    if (S.used == 0)
        return;
    const MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(S.estate));
    table_multi_insert(S.leaf->ri_RelationDesc, S.slots, S.used, S.cid, 0, nullptr);
    for (int i = 0; i < S.used; ++i) {
        (void) ExecInsertIndexTuples(S.leaf, S.slots[i], S.estate, false, false, nullptr, NIL);
        ExecClearTuple(S.slots[i]);
    }
    MemoryContextSwitchTo(old);
    ResetPerTupleExprContext(S.estate);
    MemoryContextReset(S.rows_cxt);
    S.context_text = nullptr;
    S.inserted += S.used;
    S.used = 0;
    S.buffered_bytes = 0;
}

// The partition of the rows of commit, found again only when effective_at changes (routing
// reads only the partition key). Called before the row's values are made: moving to another
// partition flushes the buffer, which frees the buffered rows' values (rows_cxt).
void route_commit(const Commit *commit) {
    if (S.proute == nullptr)
        return;
    const bool at_null = commit->effective_null;
    const TimestampTz at = commit->effective_at;
    if (S.leaf != nullptr && at_null == S.routed_null && at == S.routed_at)
        return;
    TupleTableSlot *root = S.root_slot;
    ExecClearTuple(root);
    for (int i = 0; i < root->tts_tupleDescriptor->natts; ++i) {
        root->tts_values[i] = 0;
        root->tts_isnull[i] = true;
    }
    root->tts_values[S.attnum[kEffectiveAt] - 1] = TimestampTzGetDatum(at);
    root->tts_isnull[S.attnum[kEffectiveAt] - 1] = at_null;
    ExecStoreVirtualTuple(root);
    ResultRelInfo *leaf = ExecFindPartition(S.mtstate, S.rri, S.proute, root, S.estate);
    S.routed_null = at_null;
    S.routed_at = at;
    if (leaf == S.leaf)
        return;
    flush();
    drop_buffer_slots();
    const Relation rel = leaf->ri_RelationDesc;
    if (!at_null && RelationGetRelid(rel) == S.default_partition)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("bemi: no partition of bemi.changes for effective_at %s",
                               timestamptz_to_str(at)),
                        errhint("The ingestion worker creates partitions before it stores a batch "
                                "(bemi._ensure_partitions); the batch is retried.")));
    if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
        elog(ERROR, "bemi: partition %s does not use the heap access method", RelationGetRelationName(rel));
    if (leaf->ri_TrigDesc != nullptr)
        elog(ERROR, "bemi: partition %s has triggers", RelationGetRelationName(rel));
    S.leaf = leaf;
}

// Adds one row: the values bemi._ingest's INSERT sets, and the table's defaults for the rest.
void add_row(const Datum *values, const bool *nulls, int len) {
    TupleTableSlot *root = S.root_slot;
    ExecClearTuple(root);
    const int natts = root->tts_tupleDescriptor->natts;
    for (int i = 0; i < natts; ++i) {
        root->tts_values[i] = 0;
        root->tts_isnull[i] = true;
    }
    for (int c = 0; c < kColumns; ++c) {
        root->tts_values[S.attnum[c] - 1] = values[c];
        root->tts_isnull[S.attnum[c] - 1] = nulls[c];
    }
    ExprContext *econtext = GetPerTupleExprContext(S.estate);
    for (int d = 0; d < S.ndefaults; ++d) {
        const int i = S.default_att[d] - 1;
        root->tts_values[i] = ExecEvalExprSwitchContext(S.default_expr[d], econtext, &root->tts_isnull[i]);
    }
    ExecStoreVirtualTuple(root);

    if (S.slots[S.used] == nullptr) {
        // In the executor's memory: the slot keeps the row it materializes across flushes.
        const MemoryContext old = MemoryContextSwitchTo(S.estate->es_query_cxt);
        S.slots[S.used] = table_slot_create(S.leaf->ri_RelationDesc, nullptr);
        MemoryContextSwitchTo(old);
    }
    TupleTableSlot *slot = S.slots[S.used];
    // The values as the partition has its columns (the same unless it has dropped columns).
    TupleConversionMap *map = S.leaf == S.rri ? nullptr : root_to_partition_map(S.leaf, S.estate);
    if (map != nullptr) {
        slot = execute_attr_map_slot(map->attrMap, root, slot);
    } else {
        ExecClearTuple(slot);
        memcpy(slot->tts_values, root->tts_values, sizeof(Datum) * static_cast<size_t>(natts));
        memcpy(slot->tts_isnull, root->tts_isnull, sizeof(bool) * static_cast<size_t>(natts));
        ExecStoreVirtualTuple(slot);
    }
    ExecConstraints(S.leaf, slot, S.estate);
    S.used += 1;
    S.buffered_bytes += static_cast<size_t>(len);
    if (S.used == kBufferRows || S.buffered_bytes >= kBufferBytes)
        flush();
}

// A record written otherwise than the fast path reads it (a key the format does not have, an
// escape it leaves to PostgreSQL, a field of another type): the ERROR leaves the batch to
// bemi._ingest, which reads every record as jsonb. (Not the record's text: the reason is shown
// in bemi.status.)
[[noreturn]] void not_read(XLogRecPtr lsn) {
    elog(ERROR, "bemi: the fast path does not read the record at %X/%X", static_cast<uint32>(lsn >> 32),
         static_cast<uint32>(lsn));
}

// A row record's values from its fields (split_record), in rows_cxt. False when the record has
// something this path does not take.
bool row_from_fields(const char *data, int len, const Commit *commit, Datum *v, bool *n) {
    bemi::RecordFields f;
    if (!bemi::split_record(data, static_cast<size_t>(len), &f))
        return false;
    MemoryContextReset(S.parse_cxt);
    Datum xid;
    bool xid_null;
    if (!span_int8(f[RecordKey::TransactionId], &xid, &xid_null))
        return false;
    if (xid_null || DatumGetInt64(xid) != commit->transaction_id)
        elog(ERROR, "bemi: a row record is not of the transaction whose COMMIT follows it");
    if (!span_text(f[RecordKey::Operation], &v[kOperation], &n[kOperation]))
        return false;
    if (n[kOperation])
        elog(ERROR, "bemi: a record without an operation");
    return span_text(f[RecordKey::PrimaryKey], &v[kPrimaryKey], &n[kPrimaryKey]) &&
           span_container(f[RecordKey::Before], &v[kBefore], &n[kBefore]) &&
           span_container(f[RecordKey::After], &v[kAfter], &n[kAfter]) &&
           span_context(f[RecordKey::Context], &v[kContext], &n[kContext]) &&
           span_text(f[RecordKey::Database], &v[kDatabase], &n[kDatabase]) &&
           span_text(f[RecordKey::Schema], &v[kSchema], &n[kSchema]) &&
           span_text(f[RecordKey::Table], &v[kTable], &n[kTable]) &&
           span_int4(f[RecordKey::Seq], &v[kSeq], &n[kSeq]) &&
           span_int8(f[RecordKey::Position], &v[kPosition], &n[kPosition]) &&
           span_int8(f[RecordKey::CommitPosition], &v[kCommitPosition], &n[kCommitPosition]) &&
           span_text(f[RecordKey::PreviousPrimaryKey], &v[kPreviousPrimaryKey], &n[kPreviousPrimaryKey]) &&
           span_toast_array(f[RecordKey::UnchangedToast], &v[kUnchangedToast], &n[kUnchangedToast]) &&
           span_container(f[RecordKey::Actor], &v[kActor], &n[kActor]) &&
           span_container(f[RecordKey::Fallback], &v[kFallback], &n[kFallback]) &&
           span_text(f[RecordKey::RootSchema], &v[kRootSchema], &n[kRootSchema]) &&
           span_text(f[RecordKey::RootTable], &v[kRootTable], &n[kRootTable]);
}

// One row record of commit: its values as bemi._ingest's SELECT computes them.
void store_row(XLogRecPtr lsn, const char *data, int len, const Commit *commit) {
    route_commit(commit);
    const MemoryContext old = MemoryContextSwitchTo(S.rows_cxt);
    Datum v[kColumns];
    bool n[kColumns];
    if (!row_from_fields(data, len, commit, v, n))
        not_read(lsn);
    v[kCommittedAt] = TimestampTzGetDatum(commit->committed_at);
    n[kCommittedAt] = false;
    v[kTransactionId] = Int64GetDatum(commit->transaction_id);
    n[kTransactionId] = false;
    v[kCapture] = UUIDPGetDatum(&S.capture);
    n[kCapture] = false;
    v[kEffectiveAt] = TimestampTzGetDatum(commit->effective_at);
    n[kEffectiveAt] = commit->effective_null;
    add_row(v, n, len);
    MemoryContextSwitchTo(old);
}

// A COMMIT record's transaction id, commit position and time, from its fields (split_record).
bool commit_from_fields(const char *data, int len, Commit *c) {
    bemi::RecordFields f;
    if (!bemi::split_record(data, static_cast<size_t>(len), &f))
        return false;
    int64_t xid = 0, position = 0;
    const JsonSpan &at = f[RecordKey::CommittedAt];
    char text[64]; // "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (docs/record-format.md)
    if (!bemi::parse_json_int(f[RecordKey::TransactionId], &xid) ||
        !bemi::parse_json_int(f[RecordKey::CommitPosition], &position) || at.kind != JsonKind::String || at.escaped ||
        at.len >= sizeof text)
        return false;
    memcpy(text, at.data, at.len);
    text[at.len] = '\0';
    c->transaction_id = xid;
    c->commit_position = position;
    c->committed_at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
                                                              ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
    return true;
}

// Reads the batch's COMMIT records (their transaction id, commit position and time) and gives
// the transactions after stored_upto their effective_at: the running maximum of committed_at
// in batch order, continued from seed, as bemi._ingest's window does. False when a record
// holds \u0000 (left to the SQL path).
bool read_commits(XLogRecPtr stored_upto, Datum seed, bool seed_null, Commit **commits, int *ncommits) {
    int capacity = 64;
    int count = 0;
    Commit *list = static_cast<Commit *>(palloc(sizeof(Commit) * static_cast<size_t>(capacity)));
    XLogRecPtr lsn;
    const char *data;
    int len;
    bool running_null = seed_null;
    TimestampTz running = seed_null ? 0 : DatumGetTimestampTz(seed);
    decoded_batch_rewind(S.reader);
    while (decoded_batch_next(S.reader, &lsn, &data, &len)) {
        if (memmem(data, static_cast<size_t>(len), kNulEscape, sizeof kNulEscape - 1) != nullptr)
            return false;
        if (!has_prefix(data, len, kCommitPrefix, sizeof kCommitPrefix - 1))
            continue;
        if (count == capacity) {
            capacity *= 2;
            list = static_cast<Commit *>(repalloc(list, sizeof(Commit) * static_cast<size_t>(capacity)));
        }
        Commit *c = &list[count++];
        c->end = lsn;
        if (!commit_from_fields(data, len, c))
            not_read(lsn);
        c->keep = lsn > stored_upto;
        if (c->keep) {
            // greatest(seed, max(committed_at) OVER (... UNBOUNDED PRECEDING AND CURRENT ROW))
            if (running_null || c->committed_at > running)
                running = c->committed_at;
            running_null = false;
        }
        c->effective_at = running;
        c->effective_null = running_null;
    }
    *commits = list;
    *ncommits = count;
    return true;
}

// Inserts the row records of the transactions read_commits kept, in batch order.
void store_rows(const Commit *commits, int ncommits) {
    XLogRecPtr lsn;
    const char *data;
    int len;
    int k = 0; // the COMMIT record that ends the current transaction
    decoded_batch_rewind(S.reader);
    while (decoded_batch_next(S.reader, &lsn, &data, &len)) {
        if (has_prefix(data, len, kBeginPrefix, sizeof kBeginPrefix - 1))
            continue;
        if (has_prefix(data, len, kCommitPrefix, sizeof kCommitPrefix - 1)) {
            k += 1;
            continue;
        }
        if (k >= ncommits)
            elog(ERROR, "bemi: a row record after the batch's last COMMIT record");
        if (commits[k].keep)
            store_row(lsn, data, len, &commits[k]);
        CHECK_FOR_INTERRUPTS();
    }
    flush();
}

struct FastResult {
    int64 inserted;
    XLogRecPtr last_end;  // Invalid when no transaction was stored
    TimestampTz last_committed_at;
};

// The fast path, in the caller's subtransaction. False when the batch is left to the SQL path
// before anything was written.
bool fast_store(const char *slot, XLogRecPtr upto, XLogRecPtr stored_upto, Datum seed, bool seed_null,
                FastResult *result) {
    S.rows_cxt = AllocSetContextCreate(S.work_cxt, "bemi batch rows", ALLOCSET_DEFAULT_SIZES);
    S.parse_cxt = AllocSetContextCreate(S.work_cxt, "bemi batch record", ALLOCSET_DEFAULT_SIZES);
    S.context_text = nullptr;
    S.reader = decoded_batch_open(slot, upto);
    Commit *commits = nullptr;
    int ncommits = 0;
    if (!read_commits(stored_upto, seed, seed_null, &commits, &ncommits)) {
        fall_back("a record holds \\u0000");
        return false;
    }
    // The last transaction stored: the largest commit end, as bemi._ingest picks it.
    const Commit *last = nullptr;
    for (int i = 0; i < ncommits; ++i)
        if (commits[i].keep && (last == nullptr || commits[i].end >= last->end))
            last = &commits[i];
    result->inserted = 0;
    result->last_end = InvalidXLogRecPtr;
    if (last == nullptr) {
        // Nothing after the origin's progress: nothing to store.
        decoded_batch_close(S.reader);
        S.reader = nullptr;
        return true;
    }

    const Oid nsp = get_namespace_oid("bemi", false);
    const Oid relid = get_relname_relid("changes", nsp);
    if (!OidIsValid(relid))
        elog(ERROR, "bemi: relation bemi.changes does not exist");
    LockRelationOid(relid, RowExclusiveLock);
    open_executor(relid);
    const char *why = prepare_table(S.rel);
    if (why != nullptr) {
        fall_back(why);
        return false;
    }
    S.used = 0;
    S.buffered_bytes = 0;
    S.inserted = 0;
    store_rows(commits, ncommits);
    close_executor();
    decoded_batch_close(S.reader);
    S.reader = nullptr;

    // The watermark, in the same transaction (the same call bemi._ingest makes).
    const Oid types[4] = {UUIDOID, PG_LSNOID, INT8OID, TIMESTAMPTZOID};
    Datum values[4] = {UUIDPGetDatum(&S.capture), LSNGetDatum(last->end), Int64GetDatum(last->commit_position),
                       TimestampTzGetDatum(last->effective_at)};
    const char nulls[4] = {' ', ' ', ' ', last->effective_null ? 'n' : ' '};
    if (SPI_execute_with_args("SELECT bemi._advance_watermark($1, $2, $3, $4)", 4, const_cast<Oid *>(types), values,
                              nulls, false, 0) != SPI_OK_SELECT)
        elog(ERROR, "bemi: moving the watermark failed");
    result->inserted = S.inserted;
    result->last_end = last->end;
    result->last_committed_at = last->committed_at;
    return true;
}

// bemi._retry_later: errors that fail the whole batch in the SQL path too.
bool retry_later(int sqlerrcode) {
    const int cls = ERRCODE_TO_CATEGORY(sqlerrcode);
    return cls == ERRCODE_TO_CATEGORY(MAKE_SQLSTATE('4', '0', '0', '0', '0')) ||
           cls == ERRCODE_TO_CATEGORY(MAKE_SQLSTATE('5', '5', '0', '0', '0')) ||
           cls == ERRCODE_TO_CATEGORY(MAKE_SQLSTATE('5', '7', '0', '0', '0'));
}

// Runs fast_store in a subtransaction: committed when it stored the batch, rolled back (with
// whatever it wrote) when it left the batch to the SQL path or raised an ERROR. Errors that
// bemi._retry_later names are raised again.
bool try_fast(const char *slot, XLogRecPtr upto, XLogRecPtr stored_upto, Datum seed, bool seed_null,
              FastResult *result) {
    S.work_cxt = AllocSetContextCreate(CurrentMemoryContext, "bemi batch store", ALLOCSET_DEFAULT_SIZES);
    S.reader = nullptr;
    S.estate = nullptr;
    bool stored = false;
    ErrorData *error = run_in_subtransaction(
        [slot, upto, stored_upto, seed, seed_null, result] {
            const MemoryContext old = MemoryContextSwitchTo(S.work_cxt);
            const bool keep = fast_store(slot, upto, stored_upto, seed, seed_null, result);
            if (!keep && S.estate != nullptr)
                close_executor();
            MemoryContextSwitchTo(old);
            return keep;
        },
        &stored);
    // (On ERROR the executor's relations, buffers and files went with the subtransaction; its
    // memory goes with work_cxt.) A record the reader still holds is freed with its slot.
    if (S.reader != nullptr) {
        ExecClearTuple(S.reader->slot);
        S.reader = nullptr;
    }
    MemoryContextDelete(S.work_cxt);
    S.work_cxt = nullptr;
    if (error != nullptr) {
        if (retry_later(error->sqlerrcode))
            ReThrowError(error);
        fall_back(psprintf("the fast path failed: %s", error->message));
        FreeErrorData(error);
    }
    return stored;
}

// The SQL path: bemi._ingest, whose result is the outcome.
void sql_store(const char *slot, const char *origin, XLogRecPtr upto, const pg_uuid_t *capture,
               BatchOutcome *outcome) {
    NameData name;
    namestrcpy(&name, slot);
    const Oid types[4] = {NAMEOID, TEXTOID, PG_LSNOID, UUIDOID};
    Datum values[4] = {NameGetDatum(&name), CStringGetTextDatum(origin), LSNGetDatum(upto),
                       UUIDPGetDatum(const_cast<pg_uuid_t *>(capture))};
    const char nulls[4] = {' ', ' ', ' ', capture == nullptr ? 'n' : ' '};
    if (SPI_execute_with_args("SELECT inserted, acknowledge, stalled_at, stall_error "
                              "FROM bemi._ingest($1, $2, $3, $4)",
                              4, const_cast<Oid *>(types), values, nulls, false, 0) != SPI_OK_SELECT ||
        SPI_processed != 1)
        elog(ERROR, "bemi: bemi._ingest returned no row");
    HeapTuple row = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull = false;
    const Datum inserted = SPI_getbinval(row, desc, 1, &isnull);
    outcome->inserted = isnull ? 0 : DatumGetInt64(inserted);
    const Datum acknowledge = SPI_getbinval(row, desc, 2, &isnull);
    outcome->acknowledge = isnull ? InvalidXLogRecPtr : DatumGetLSN(acknowledge);
    const Datum stalled_at = SPI_getbinval(row, desc, 3, &isnull);
    outcome->stalled_at = isnull ? InvalidXLogRecPtr : DatumGetLSN(stalled_at);
    const Datum error = SPI_getbinval(row, desc, 4, &isnull);
    outcome->has_stall_error = !isnull;
    if (!isnull)
        text_to_cstring_buffer(DatumGetTextPP(error), outcome->stall_error, sizeof outcome->stall_error);
}

} // namespace

void store_batch(const char *slot, const char *origin, XLogRecPtr upto, const pg_uuid_t *capture,
                 BatchOutcome *outcome) {
    memset(outcome, 0, sizeof *outcome);
    strlcpy(fallback_reason, "no capture or replication origin set up", sizeof fallback_reason);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "bemi: SPI_connect failed");
    // What the fast path needs and bemi._ingest reads first: the origin's progress (the end of
    // the last transaction stored) and the effective_at seed. Without a capture or a session
    // origin, bemi._ingest raises or decides.
    const RepOriginId origin_id = replorigin_by_name(origin, true);
    bool fast = capture != nullptr && origin_id != InvalidRepOriginId &&
                replorigin_session_origin != InvalidRepOriginId;
    FastResult result;
    if (fast) {
        const XLogRecPtr stored_upto = replorigin_get_progress(origin_id, true);
        if (SPI_execute("SELECT bemi._effective_at_seed()", false, 0) != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "bemi: bemi._effective_at_seed() returned no row");
        bool seed_null = false;
        const Datum seed = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &seed_null);
        memcpy(&S.capture, capture, sizeof S.capture);
        fast = try_fast(slot, upto, stored_upto, seed, seed_null, &result);
    }
    if (fast) {
        outcome->fast = true;
        outcome->inserted = result.inserted;
        outcome->acknowledge = upto;
        if (result.last_end != InvalidXLogRecPtr) {
            // The stored rows and the origin's progress commit together (what
            // pg_replication_origin_xact_setup sets).
            replorigin_session_origin_lsn = result.last_end;
            replorigin_session_origin_timestamp = result.last_committed_at;
        }
    } else {
        strlcpy(outcome->fallback_reason, fallback_reason, sizeof outcome->fallback_reason);
        sql_store(slot, origin, upto, capture, outcome);
    }
    SPI_finish();
}

} // namespace bemi_pg

using namespace bemi_pg;

// bemi._store_batch(slot name, origin text, upto pg_lsn, this_capture uuid, OUT inserted int8,
// OUT acknowledge pg_lsn, OUT stalled_at pg_lsn, OUT stall_error text, OUT fast bool): what the
// worker does with a batch, callable on a copied slot (a peek of it up to upto) so that tests
// can compare the fast path's rows with bemi._ingest's. Superuser only; needs the session's
// replication origin set up (pg_replication_origin_session_setup), like bemi._ingest.
BEMI_FUNCTION(bemi_store_batch) {
    if (!superuser())
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("bemi._store_batch: superuser only")));
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("bemi._store_batch: slot, origin and upto must not be NULL")));
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "bemi._store_batch: return type must be a row type");
    char *origin = TextDatumGetCString(PG_GETARG_DATUM(1));
    auto *outcome = static_cast<BatchOutcome *>(palloc(sizeof(BatchOutcome)));
    store_batch(NameStr(*PG_GETARG_NAME(0)), origin, PG_GETARG_LSN(2),
                PG_ARGISNULL(3) ? nullptr : PG_GETARG_UUID_P(3), outcome);
    Datum values[5] = {Int64GetDatum(outcome->inserted), LSNGetDatum(outcome->acknowledge),
                       LSNGetDatum(outcome->stalled_at),
                       outcome->has_stall_error ? CStringGetTextDatum(outcome->stall_error) : 0,
                       BoolGetDatum(outcome->fast)};
    bool nulls[5] = {false, outcome->acknowledge == InvalidXLogRecPtr, outcome->stalled_at == InvalidXLogRecPtr,
                     !outcome->has_stall_error, false};
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}
