// The logical decoding output plugin: one callback per decoding event, as in test_decoding
// and pgoutput. Options are parsed once in startup; per-change work happens in a memory
// context that is reset after every record.
#include "pg/postgres_headers.hpp"

#include "bemi/json_escape.hpp"
#include "bemi/options.hpp"
#include "bemi/utc_timestamp.hpp"
#include "pg/boundary.hpp"
#include "pg/compat.hpp"
#include "pg/decode/context_message.hpp"
#include "pg/decode/decoding_state.hpp"
#include "pg/decode/output_settings.hpp"
#include "pg/decode/record_writer.hpp"
#include "pg/decode/relation_cache.hpp"
#include "pg/decode/replay_hooks.hpp"
#include "pg/ingest/workers.hpp"
#include "pg/names.hpp"
#include "pg/string_info_sink.hpp"

namespace bemi_pg {

bool catalog_caches_need_reset = false;
uint64 replayed_transactions = 0;

namespace {

constexpr char kNoContext[] = "{}";

DecodingState *state_of(LogicalDecodingContext *ctx) {
    return static_cast<DecodingState *>(ctx->output_plugin_private);
}

// The Options object is C++; it is deleted when the decoding session's memory goes, which
// also happens when decoding ends in an ERROR and shutdown is never called.
void delete_options(void *arg) {
    auto *state = static_cast<DecodingState *>(arg);
    if (state->options)
        relation_cache_release(&state->options->tables);
    delete state->options;
    state->options = nullptr;
}

const bemi::Options *parse_plugin_options(List *defels) {
    const int n = list_length(defels);
    const char **names = static_cast<const char **>(palloc(sizeof(char *) * (n + 1)));
    const char **values = static_cast<const char **>(palloc(sizeof(char *) * (n + 1)));
    int i = 0;
    ListCell *cell;
    foreach (cell, defels) {
        auto *elem = static_cast<DefElem *>(lfirst(cell));
        if (elem->arg && !IsA(elem->arg, String))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("bemi: option \"%s\" must be given as a string", elem->defname)));
        names[i] = elem->defname;
        values[i] = defelem_value(elem);
        ++i;
    }
    const bemi::Options *options = nullptr;
    run_core("bemi", [&] {
        bemi::RawOptions raw;
        for (int k = 0; k < n; ++k)
            raw.emplace_back(names[k], values[k] ? std::optional<std::string>(values[k]) : std::nullopt);
        options = new bemi::Options(bemi::parse_options(raw));
    });
    return options;
}

// The 64-bit id of a transaction being decoded. It is older than the next xid and less than
// 2^31 behind it, so the epoch is the current one, or the previous one if the counter has
// wrapped since: decoding the same WAL again always gives the same answer.
uint64 full_transaction_id(TransactionId xid) {
    FullTransactionId next = ReadNextFullTransactionId();
    uint32 epoch = EpochFromFullTransactionId(next);
    if (xid > XidFromFullTransactionId(next))
        --epoch;
    return (static_cast<uint64>(epoch) << 32) | xid;
}

bool made_by_ingestion(RepOriginId origin) {
    if (origin == InvalidRepOriginId)
        return false;
    char *name = nullptr;
    if (!replorigin_by_oid(origin, true, &name) || name == nullptr)
        return false;
    return strncmp(name, names::kIngestOriginPrefix, sizeof(names::kIngestOriginPrefix) - 1) == 0;
}

const char *make_suffix(XLogRecPtr commit_lsn, TimestampTz commit_time, int *len) {
    char when[bemi::kUtcTimestampLength + 1];
    if (!bemi::format_utc_timestamp(commit_time, when))
        elog(ERROR, "bemi: commit time " INT64_FORMAT " is out of range", static_cast<int64>(commit_time));
    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfo(&buf, ",\"commit_position\":" UINT64_FORMAT ",\"committed_at\":\"%s\"}",
                     static_cast<uint64>(commit_lsn), when);
    *len = buf.len;
    return buf.data;
}

// BEGIN goes out just before the first record of a transaction, so that transactions with
// nothing to emit produce no output at all.
void write_begin_if_needed(LogicalDecodingContext *ctx, DecodingState *state) {
    if (!state->options->include_transaction || state->txn.begin_written)
        return;
    OutputPluginPrepareWrite(ctx, true);
    write_transaction_record(ctx->out, state, "BEGIN");
    OutputPluginWrite(ctx, true);
    state->txn.begin_written = true;
}

RepOriginId ingest_origin_of_this_database();

void bemi_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init) {
    if (slot_uses_two_phase())
        ereport(ERROR,
                (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                 errmsg("bemi does not support two-phase decoding"),
                 errdetail("The slot was created with two_phase, which decodes a transaction at PREPARE, "
                           "before it has a commit position or time."),
                 errhint("Create the slot without two_phase: bemi emits a prepared transaction at COMMIT PREPARED.")));

    MemoryContext old = MemoryContextSwitchTo(ctx->context);
    auto *state = static_cast<DecodingState *>(palloc0(sizeof(DecodingState)));
    state->session_cxt = ctx->context;
    auto *cleanup = static_cast<MemoryContextCallback *>(palloc0(sizeof(MemoryContextCallback)));
    cleanup->func = delete_options;
    cleanup->arg = state;
    MemoryContextRegisterResetCallback(ctx->context, cleanup);

    state->options = parse_plugin_options(ctx->output_plugin_options);
    state->change_cxt = AllocSetContextCreate(ctx->context, "bemi change", ALLOCSET_DEFAULT_SIZES);
    state->txn_cxt = AllocSetContextCreate(ctx->context, "bemi transaction", ALLOCSET_SMALL_SIZES);
    initStringInfo(&state->key);
    initStringInfo(&state->old_key);
    initStringInfo(&state->actor);
    fallback_log_init(&state->fallbacks, ctx->context);
    MemoryContextSwitchTo(old);

    ctx->output_plugin_private = state;
    opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
    opt->receive_rewrites = false;

    // Creating a slot decodes nothing: leave the session's settings alone.
    if (!is_init) {
        relation_cache_init(&state->options->tables);
        state->guc_nest_level = pin_output_settings();
        state->ingest_origin = ingest_origin_of_this_database();
    }
}

// The SQL interface starts decoding inside a transaction, where the origin can be looked up
// once. The ingestion worker decodes outside any transaction, as its own session's origin,
// which is set up first. A walsender has neither and relies on the per-transaction check in
// begin instead.
RepOriginId ingest_origin_of_this_database() {
    if (in_ingest_worker)
        return replorigin_session_origin;
    if (!IsTransactionState())
        return InvalidRepOriginId;
    char name[NAMEDATALEN];
    names::worker_origin_name_for(MyDatabaseId, name, sizeof name);
    return replorigin_by_name(name, true);
}

// Drops the ingestion worker's own transactions before the reorder buffer queues them: the
// worker would otherwise re-decode every row it stored, only to skip it at commit.
bool bemi_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin) {
    const DecodingState *state = state_of(ctx);
    return origin != InvalidRepOriginId && origin == state->ingest_origin;
}

void bemi_shutdown(LogicalDecodingContext *ctx) {
    DecodingState *state = state_of(ctx);
    unpin_output_settings(state->guc_nest_level);
    state->guc_nest_level = 0;
    relation_cache_destroy();
}

void bemi_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
    DecodingState *state = state_of(ctx);
    ++replayed_transactions;
    if (catalog_caches_need_reset) {
        catalog_caches_need_reset = false;
        InvalidateSystemCaches();
    }
    MemoryContextReset(state->txn_cxt);
    if (!state->database_json) {
        const char *name = get_database_name(MyDatabaseId);
        StringInfoData buf;
        MemoryContext old = MemoryContextSwitchTo(state->session_cxt);
        initStringInfo(&buf);
        StringInfoSink sink{&buf};
        bemi::append_json_string(sink, name, strlen(name));
        MemoryContextSwitchTo(old);
        state->database_json = buf.data;
    }

    TransactionState &t = state->txn;
    t.full_xid = full_transaction_id(txn->xid);
    t.next_seq = 0;
    t.emitted = 0;
    t.begin_written = false;
    t.skipped = made_by_ingestion(txn->origin_id);
    t.context = kNoContext;
    t.context_len = sizeof(kNoContext) - 1;
    t.actor = "";
    t.actor_len = 0;
    MemoryContext old = MemoryContextSwitchTo(state->txn_cxt);
    t.suffix = make_suffix(txn->final_lsn, txn_commit_time(txn), &t.suffix_len);
    MemoryContextSwitchTo(old);
}

void bemi_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *, XLogRecPtr) {
    DecodingState *state = state_of(ctx);
    if (!state->txn.begin_written)
        return;
    OutputPluginPrepareWrite(ctx, true);
    write_transaction_record(ctx->out, state, "COMMIT");
    OutputPluginWrite(ctx, true);
}

void bemi_change(LogicalDecodingContext *ctx, ReorderBufferTXN *, Relation relation, ReorderBufferChange *change) {
    DecodingState *state = state_of(ctx);
    // Counted before any filtering, so a record's seq does not depend on the options.
    const uint32 seq = state->txn.next_seq++;
    if (state->txn.skipped)
        return;
    MemoryContext old = MemoryContextSwitchTo(state->change_cxt);
    RelationInfo *info = relation_cache_get(relation, state->database_json);
    if (info->captured) {
        write_begin_if_needed(ctx, state);
        OutputPluginPrepareWrite(ctx, true);
        if (write_row_record(ctx->out, state, info, relation, change, seq)) {
            OutputPluginWrite(ctx, true);
            ++state->txn.emitted;
        }
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(state->change_cxt);
}

void bemi_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *, int nrelations, Relation relations[],
                   ReorderBufferChange *change) {
    DecodingState *state = state_of(ctx);
    MemoryContext old = MemoryContextSwitchTo(state->change_cxt);
    for (int i = 0; i < nrelations; ++i) {
        const uint32 seq = state->txn.next_seq++;
        if (state->txn.skipped)
            continue;
        RelationInfo *info = relation_cache_get(relations[i], state->database_json);
        if (!info->captured)
            continue;
        write_begin_if_needed(ctx, state);
        OutputPluginPrepareWrite(ctx, true);
        write_truncate_record(ctx->out, state, info, seq, change->lsn);
        OutputPluginWrite(ctx, true);
        ++state->txn.emitted;
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(state->change_cxt);
}

void bemi_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn, bool transactional,
                  const char *prefix, Size size, const char *message) {
    DecodingState *state = state_of(ctx);
    const bool in_txn = transactional && txn != nullptr;
    if (in_txn && state->txn.skipped)
        return;
    if (strcmp(prefix, names::kContextMessagePrefix) == 0) {
        // Context belongs to a transaction's changes; outside one it describes nothing.
        if (in_txn)
            set_context_from_message(state, message, size);
        return;
    }
    if (!state->options->include_messages)
        return;
    MemoryContext old = MemoryContextSwitchTo(state->change_cxt);
    if (in_txn)
        write_begin_if_needed(ctx, state);
    OutputPluginPrepareWrite(ctx, true);
    write_message_record(ctx->out, state, in_txn, prefix, message, size, lsn);
    OutputPluginWrite(ctx, true);
    if (in_txn)
        ++state->txn.emitted;
    MemoryContextSwitchTo(old);
    MemoryContextReset(state->change_cxt);
}

} // namespace

} // namespace bemi_pg

extern "C" {

PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

// No prepare or stream callbacks: without them the server hands over each transaction whole,
// at COMMIT or COMMIT PREPARED, with its commit position and time.
void _PG_output_plugin_init(OutputPluginCallbacks *cb) {
    cb->startup_cb = bemi_pg::bemi_startup;
    cb->shutdown_cb = bemi_pg::bemi_shutdown;
    cb->begin_cb = bemi_pg::bemi_begin;
    cb->change_cb = bemi_pg::bemi_change;
    cb->truncate_cb = bemi_pg::bemi_truncate;
    cb->message_cb = bemi_pg::bemi_message;
    cb->commit_cb = bemi_pg::bemi_commit;
    cb->filter_by_origin_cb = bemi_pg::bemi_filter_by_origin;
}

} // extern "C"
