#include "pg/decode/record_writer.hpp"

#include "bemi/json_escape.hpp"
#include "pg/compat.hpp"
#include "pg/decode/value_writer.hpp"
#include "pg/string_info_sink.hpp"

#include "bemi/fallback.hpp"

namespace bemi_pg {

namespace {

struct Tuple {
    Datum *values;
    bool *nulls;
};

void ensure_capacity(DecodingState *state, int natts, MemoryContext cxt) {
    if (natts <= state->tuple_capacity)
        return;
    int capacity = Max(natts, 2 * state->tuple_capacity);
    state->new_values = static_cast<Datum *>(MemoryContextAlloc(cxt, sizeof(Datum) * capacity));
    state->new_nulls = static_cast<bool *>(MemoryContextAlloc(cxt, sizeof(bool) * capacity));
    state->old_values = static_cast<Datum *>(MemoryContextAlloc(cxt, sizeof(Datum) * capacity));
    state->old_nulls = static_cast<bool *>(MemoryContextAlloc(cxt, sizeof(bool) * capacity));
    state->tuple_capacity = capacity;
}

// An UPDATE's new tuple points at TOAST values it did not change; they are not in the WAL.
inline bool is_unchanged_toast(const ColumnInfo *col, Datum value) {
    return col->typlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value));
}

void write_uint64(StringInfo out, uint64 v) {
    char *p = reserve_bytes(out, MAXINT8LEN);
    commit_bytes(out, p + pg_ulltoa_n(v, p));
}

// The key as text: one column's value unquoted, several as a compact JSON array. A key
// column stored out of line and left unchanged is taken from the old tuple when the WAL
// carries it there. Returns false when there is no key or a key column is not in the WAL.
bool render_key(StringInfo buf, RelationInfo *info, const Tuple &t, const Tuple *old, FallbackLog *log) {
    resetStringInfo(buf);
    if (info->nkeys == 0)
        return false;
    // The entries of a key that turns out incomplete are dropped with it.
    const int logged = log->count;
    const bool single = info->nkeys == 1;
    if (!single)
        append_char(buf, '[');
    for (int i = 0; i < info->nkeys; ++i) {
        const int idx = info->key_attnums[i] - 1;
        ColumnInfo *col = &info->columns[idx];
        if (i > 0)
            append_char(buf, ',');
        if (t.nulls[idx]) {
            if (single) {
                log->count = logged;
                return false;
            }
            append_literal(buf, "null");
        } else if (is_unchanged_toast(col, t.values[idx])) {
            if (!old || old->nulls[idx] || is_unchanged_toast(col, old->values[idx])) {
                log->count = logged;
                return false;
            }
            write_value(buf, col, old->values[idx], single ? ValueMode::Text : ValueMode::Json, log);
        } else {
            write_value(buf, col, t.values[idx], single ? ValueMode::Text : ValueMode::Json, log);
        }
    }
    if (!single)
        append_char(buf, ']');
    return true;
}

void write_key(StringInfo out, const StringInfoData &key) {
    StringInfoSink sink{out};
    bemi::append_json_string(sink, key.data, key.len);
}

// The old image: only what the WAL carried (all columns under REPLICA IDENTITY FULL, the
// identity columns otherwise), so no column is ever reported as a false null.
void write_before(StringInfo out, RelationInfo *info, const Tuple *old, FallbackLog *log) {
    append_char(out, '{');
    if (old) {
        bool first = true;
        for (int i = 0; i < info->natts; ++i) {
            ColumnInfo *col = &info->columns[i];
            if (col->kind == ValueKind::Dropped || !col->in_old_tuple)
                continue;
            if (!first)
                append_char(out, ',');
            first = false;
            append_bytes(out, col->json_key, col->json_key_len);
            if (old->nulls[i])
                append_literal(out, "null");
            else
                write_value(out, col, old->values[i], ValueMode::Json, log);
        }
    }
    append_char(out, '}');
}

// The new image. Unchanged TOAST values come from the old tuple when it has them (REPLICA
// IDENTITY FULL inlines them there); otherwise they are left out and named in
// "unchanged_toast". Returns the number left out.
int write_after(StringInfo out, RelationInfo *info, const Tuple *now, const Tuple *old, FallbackLog *log) {
    int missing = 0;
    append_char(out, '{');
    if (now) {
        bool first = true;
        for (int i = 0; i < info->natts; ++i) {
            ColumnInfo *col = &info->columns[i];
            if (col->kind == ValueKind::Dropped)
                continue;
            Datum value = now->values[i];
            bool isnull = now->nulls[i];
            if (!isnull && is_unchanged_toast(col, value)) {
                if (!old || !col->in_old_tuple || (!old->nulls[i] && is_unchanged_toast(col, old->values[i]))) {
                    ++missing;
                    continue;
                }
                value = old->values[i];
                isnull = old->nulls[i];
            }
            if (!first)
                append_char(out, ',');
            first = false;
            append_bytes(out, col->json_key, col->json_key_len);
            if (isnull)
                append_literal(out, "null");
            else
                write_value(out, col, value, ValueMode::Json, log);
        }
    }
    append_char(out, '}');
    return missing;
}

void write_unchanged_toast(StringInfo out, RelationInfo *info, const Tuple &now, const Tuple *old) {
    append_literal(out, ",\"unchanged_toast\":[");
    bool first = true;
    for (int i = 0; i < info->natts; ++i) {
        ColumnInfo *col = &info->columns[i];
        if (col->kind == ValueKind::Dropped || now.nulls[i] || !is_unchanged_toast(col, now.values[i]))
            continue;
        if (old && col->in_old_tuple && (old->nulls[i] || !is_unchanged_toast(col, old->values[i])))
            continue;
        if (!first)
            append_char(out, ',');
        first = false;
        // json_key is "name": ; the array wants "name"
        append_bytes(out, col->json_key, col->json_key_len - 1);
    }
    append_char(out, ']');
}

// ,"fallback":[{"image":..,"column":..,"reason":..},...] for the values written in a
// substitute form; nothing when every value is exact.
void write_fallbacks(StringInfo out, const FallbackLog &log) {
    if (log.count == 0)
        return;
    append_literal(out, ",\"fallback\":[");
    for (int i = 0; i < log.count; ++i) {
        const FallbackEntry &e = log.entries[i];
        if (i > 0)
            append_char(out, ',');
        append_literal(out, "{\"image\":\"");
        appendStringInfoString(out, bemi::fallback_image_name(e.image));
        append_literal(out, "\",\"column\":");
        // json_key is "name": ; the entry wants "name"
        append_bytes(out, e.column->json_key, e.column->json_key_len - 1);
        append_literal(out, ",\"reason\":\"");
        appendStringInfoString(out, bemi::fallback_reason_name(e.reason));
        append_literal(out, "\"}");
    }
    append_char(out, ']');
}

void write_tail(StringInfo out, DecodingState *state, uint32 seq, XLogRecPtr lsn) {
    append_literal(out, ",\"context\":");
    append_bytes(out, state->txn.context, state->txn.context_len);
    if (state->txn.actor_len != 0) // rendered once per message; absent without the extension
        append_bytes(out, state->txn.actor, state->txn.actor_len);
    append_literal(out, ",\"transaction_id\":");
    write_uint64(out, state->txn.full_xid);
    append_literal(out, ",\"seq\":");
    write_uint64(out, seq);
    append_literal(out, ",\"position\":");
    write_uint64(out, lsn);
    append_bytes(out, state->txn.suffix, state->txn.suffix_len);
}

// The record's "operation" entry and the key that follows it, or nullptr.
const char *operation_entry(ReorderBufferChangeType action) {
    switch (action) {
    case REORDER_BUFFER_CHANGE_INSERT:
        return "\"operation\":\"CREATE\",\"primary_key\":";
    case REORDER_BUFFER_CHANGE_UPDATE:
        return "\"operation\":\"UPDATE\",\"primary_key\":";
    case REORDER_BUFFER_CHANGE_DELETE:
        return "\"operation\":\"DELETE\",\"primary_key\":";
    default:
        return nullptr;
    }
}
// All three have the same length.
constexpr size_t kOperationEntryLength = sizeof("\"operation\":\"CREATE\",\"primary_key\":") - 1;

} // namespace

bool write_row_record(StringInfo out, DecodingState *state, RelationInfo *info, Relation rel,
                      ReorderBufferChange *change, uint32 seq) {
    const char *operation = operation_entry(change->action);
    if (!operation)
        return false;
    TupleDesc desc = RelationGetDescr(rel);
    ensure_capacity(state, desc->natts, state->session_cxt);

    HeapTuple new_tuple = change_new_tuple(change);
    HeapTuple old_tuple = change_old_tuple(change);
    Tuple now{state->new_values, state->new_nulls};
    Tuple old{state->old_values, state->old_nulls};
    if (new_tuple)
        heap_deform_tuple(new_tuple, desc, now.values, now.nulls);
    if (old_tuple)
        heap_deform_tuple(old_tuple, desc, old.values, old.nulls);
    const Tuple *now_p = new_tuple ? &now : nullptr;
    const Tuple *old_p = old_tuple ? &old : nullptr;

    append_bytes(out, info->prefix, info->prefix_len);
    append_bytes(out, operation, kOperationEntryLength);

    // The key names the row after the change; a DELETE's row only exists in the old tuple.
    FallbackLog *log = &state->fallbacks;
    fallback_log_reset(log);
    log->image = bemi::FallbackImage::PrimaryKey;
    const Tuple *old_key_source = old_p && info->key_in_old_tuple ? old_p : nullptr;
    bool has_key = false;
    if (now_p)
        has_key = render_key(&state->key, info, now, old_key_source, log);
    else if (old_key_source)
        has_key = render_key(&state->key, info, old, nullptr, log);
    if (has_key)
        write_key(out, state->key);
    else
        append_literal(out, "null");

    log->image = bemi::FallbackImage::PreviousPrimaryKey;
    const int logged = log->count;
    if (now_p && old_key_source && render_key(&state->old_key, info, old, nullptr, log) &&
        (!has_key || state->old_key.len != state->key.len ||
         memcmp(state->old_key.data, state->key.data, state->key.len) != 0)) {
        append_literal(out, ",\"previous_primary_key\":");
        write_key(out, state->old_key);
    } else {
        log->count = logged; // no previous key written: nothing of it fell back
    }

    append_literal(out, ",\"before\":");
    log->image = bemi::FallbackImage::Before;
    write_before(out, info, old_p, log);
    append_literal(out, ",\"after\":");
    log->image = bemi::FallbackImage::After;
    if (write_after(out, info, now_p, old_p, log) > 0)
        write_unchanged_toast(out, info, now, old_p);
    write_fallbacks(out, *log);

    write_tail(out, state, seq, change->lsn);
    return true;
}

void write_truncate_record(StringInfo out, DecodingState *state, RelationInfo *info, uint32 seq,
                           XLogRecPtr lsn) {
    append_bytes(out, info->prefix, info->prefix_len);
    append_literal(out, "\"operation\":\"TRUNCATE\",\"primary_key\":null,\"before\":{},\"after\":{}");
    write_tail(out, state, seq, lsn);
}

void write_transaction_record(StringInfo out, DecodingState *state, const char *operation) {
    append_literal(out, "{\"operation\":\"");
    appendStringInfoString(out, operation);
    append_literal(out, "\",\"transaction_id\":");
    write_uint64(out, state->txn.full_xid);
    append_literal(out, ",\"changes\":");
    write_uint64(out, state->txn.emitted);
    append_bytes(out, state->txn.suffix, state->txn.suffix_len);
}

void write_message_record(StringInfo out, DecodingState *state, bool transactional, const char *prefix,
                          const char *content, Size size, XLogRecPtr lsn) {
    StringInfoSink sink{out};
    append_literal(out, "{\"operation\":\"MESSAGE\",\"prefix\":");
    bemi::append_json_string(sink, prefix, strlen(prefix));
    append_literal(out, ",\"transactional\":");
    if (transactional)
        append_literal(out, "true");
    else
        append_literal(out, "false");
    // Text when it is valid UTF-8 without NUL (what jsonb can hold), hex otherwise.
    if (pg_encoding_verifymbstr(PG_UTF8, content, static_cast<int>(size)) == static_cast<int>(size)) {
        append_literal(out, ",\"content\":");
        bemi::append_json_string(sink, content, size);
    } else {
        append_literal(out, ",\"content_hex\":\"");
        bemi::append_hex(sink, reinterpret_cast<const unsigned char *>(content), size);
        append_char(out, '"');
    }
    if (transactional) {
        append_literal(out, ",\"transaction_id\":");
        write_uint64(out, state->txn.full_xid);
    }
    append_literal(out, ",\"position\":");
    write_uint64(out, lsn);
    if (transactional)
        append_bytes(out, state->txn.suffix, state->txn.suffix_len);
    else
        append_char(out, '}');
}

} // namespace bemi_pg
