#include "pg/record_writer.hpp"

#include "bemi/json_escape.hpp"
#include "pg/compat.hpp"
#include "pg/string_info_sink.hpp"
#include "pg/value_writer.hpp"

namespace bemi_pg {

namespace {

#define APPEND_LITERAL(buf, s) appendBinaryStringInfo((buf), (s), sizeof(s) - 1)

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
    char buf[24];
    appendBinaryStringInfo(out, buf, pg_ulltoa_n(v, buf));
}

// The key as text: one column's value unquoted, several as a compact JSON array. A key
// column stored out of line and left unchanged is taken from the old tuple when the WAL
// carries it there. Returns false when there is no key or a key column is not in the WAL.
bool render_key(StringInfo buf, RelationInfo *info, const Tuple &t, const Tuple *old) {
    resetStringInfo(buf);
    if (info->nkeys == 0)
        return false;
    const bool single = info->nkeys == 1;
    if (!single)
        appendStringInfoChar(buf, '[');
    for (int i = 0; i < info->nkeys; ++i) {
        const int idx = info->key_attnums[i] - 1;
        ColumnInfo *col = &info->columns[idx];
        if (i > 0)
            appendStringInfoChar(buf, ',');
        if (t.nulls[idx]) {
            if (single)
                return false;
            APPEND_LITERAL(buf, "null");
        } else if (is_unchanged_toast(col, t.values[idx])) {
            if (!old || old->nulls[idx] || is_unchanged_toast(col, old->values[idx]))
                return false;
            write_value(buf, col, old->values[idx], single ? ValueMode::Text : ValueMode::Json);
        } else {
            write_value(buf, col, t.values[idx], single ? ValueMode::Text : ValueMode::Json);
        }
    }
    if (!single)
        appendStringInfoChar(buf, ']');
    return true;
}

void write_key(StringInfo out, const StringInfoData &key) {
    StringInfoSink sink{out};
    bemi::append_json_string(sink, key.data, key.len);
}

// The old image: only what the WAL carried (all columns under REPLICA IDENTITY FULL, the
// identity columns otherwise), so no column is ever reported as a false null.
void write_before(StringInfo out, RelationInfo *info, const Tuple *old) {
    appendStringInfoChar(out, '{');
    if (old) {
        bool first = true;
        for (int i = 0; i < info->natts; ++i) {
            ColumnInfo *col = &info->columns[i];
            if (col->kind == ValueKind::Dropped || !col->in_old_tuple)
                continue;
            if (!first)
                appendStringInfoChar(out, ',');
            first = false;
            appendBinaryStringInfo(out, col->json_key, col->json_key_len);
            if (old->nulls[i])
                APPEND_LITERAL(out, "null");
            else
                write_value(out, col, old->values[i], ValueMode::Json);
        }
    }
    appendStringInfoChar(out, '}');
}

// The new image. Unchanged TOAST values come from the old tuple when it has them (REPLICA
// IDENTITY FULL inlines them there); otherwise they are left out and named in
// "unchanged_toast". Returns the number left out.
int write_after(StringInfo out, RelationInfo *info, const Tuple *now, const Tuple *old) {
    int missing = 0;
    appendStringInfoChar(out, '{');
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
                appendStringInfoChar(out, ',');
            first = false;
            appendBinaryStringInfo(out, col->json_key, col->json_key_len);
            if (isnull)
                APPEND_LITERAL(out, "null");
            else
                write_value(out, col, value, ValueMode::Json);
        }
    }
    appendStringInfoChar(out, '}');
    return missing;
}

void write_unchanged_toast(StringInfo out, RelationInfo *info, const Tuple &now, const Tuple *old) {
    APPEND_LITERAL(out, ",\"unchanged_toast\":[");
    bool first = true;
    for (int i = 0; i < info->natts; ++i) {
        ColumnInfo *col = &info->columns[i];
        if (col->kind == ValueKind::Dropped || now.nulls[i] || !is_unchanged_toast(col, now.values[i]))
            continue;
        if (old && col->in_old_tuple && (old->nulls[i] || !is_unchanged_toast(col, old->values[i])))
            continue;
        if (!first)
            appendStringInfoChar(out, ',');
        first = false;
        // json_key is "name": ; the array wants "name"
        appendBinaryStringInfo(out, col->json_key, col->json_key_len - 1);
    }
    appendStringInfoChar(out, ']');
}

void write_tail(StringInfo out, DecodingState *state, uint32 seq, XLogRecPtr lsn) {
    APPEND_LITERAL(out, ",\"context\":");
    appendBinaryStringInfo(out, state->txn.context, state->txn.context_len);
    APPEND_LITERAL(out, ",\"transaction_id\":");
    write_uint64(out, state->txn.full_xid);
    APPEND_LITERAL(out, ",\"seq\":");
    write_uint64(out, seq);
    APPEND_LITERAL(out, ",\"position\":");
    write_uint64(out, lsn);
    appendBinaryStringInfo(out, state->txn.suffix, state->txn.suffix_len);
}

const char *operation_name(ReorderBufferChangeType action) {
    switch (action) {
    case REORDER_BUFFER_CHANGE_INSERT:
        return "CREATE";
    case REORDER_BUFFER_CHANGE_UPDATE:
        return "UPDATE";
    case REORDER_BUFFER_CHANGE_DELETE:
        return "DELETE";
    default:
        return nullptr;
    }
}

} // namespace

bool write_row_record(StringInfo out, DecodingState *state, RelationInfo *info, Relation rel,
                      ReorderBufferChange *change, uint32 seq) {
    const char *operation = operation_name(change->action);
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

    appendBinaryStringInfo(out, info->prefix, info->prefix_len);
    APPEND_LITERAL(out, "\"operation\":\"");
    appendStringInfoString(out, operation);
    APPEND_LITERAL(out, "\",\"primary_key\":");

    // The key names the row after the change; a DELETE's row only exists in the old tuple.
    const Tuple *old_key_source = old_p && info->key_in_old_tuple ? old_p : nullptr;
    bool has_key = false;
    if (now_p)
        has_key = render_key(&state->key, info, now, old_key_source);
    else if (old_key_source)
        has_key = render_key(&state->key, info, old, nullptr);
    if (has_key)
        write_key(out, state->key);
    else
        APPEND_LITERAL(out, "null");

    if (now_p && old_key_source && render_key(&state->old_key, info, old, nullptr) &&
        (!has_key || state->old_key.len != state->key.len ||
         memcmp(state->old_key.data, state->key.data, state->key.len) != 0)) {
        APPEND_LITERAL(out, ",\"previous_primary_key\":");
        write_key(out, state->old_key);
    }

    APPEND_LITERAL(out, ",\"before\":");
    write_before(out, info, old_p);
    APPEND_LITERAL(out, ",\"after\":");
    if (write_after(out, info, now_p, old_p) > 0)
        write_unchanged_toast(out, info, now, old_p);

    write_tail(out, state, seq, change->lsn);
    return true;
}

void write_truncate_record(StringInfo out, DecodingState *state, RelationInfo *info, uint32 seq,
                           XLogRecPtr lsn) {
    appendBinaryStringInfo(out, info->prefix, info->prefix_len);
    APPEND_LITERAL(out, "\"operation\":\"TRUNCATE\",\"primary_key\":null,\"before\":{},\"after\":{}");
    write_tail(out, state, seq, lsn);
}

void write_transaction_record(StringInfo out, DecodingState *state, const char *operation) {
    APPEND_LITERAL(out, "{\"operation\":\"");
    appendStringInfoString(out, operation);
    APPEND_LITERAL(out, "\",\"transaction_id\":");
    write_uint64(out, state->txn.full_xid);
    APPEND_LITERAL(out, ",\"changes\":");
    write_uint64(out, state->txn.emitted);
    appendBinaryStringInfo(out, state->txn.suffix, state->txn.suffix_len);
}

void write_message_record(StringInfo out, DecodingState *state, bool transactional, const char *prefix,
                          const char *content, Size size, XLogRecPtr lsn) {
    StringInfoSink sink{out};
    APPEND_LITERAL(out, "{\"operation\":\"MESSAGE\",\"prefix\":");
    bemi::append_json_string(sink, prefix, strlen(prefix));
    APPEND_LITERAL(out, ",\"transactional\":");
    if (transactional)
        APPEND_LITERAL(out, "true");
    else
        APPEND_LITERAL(out, "false");
    // Text when it is valid UTF-8 without NUL (what jsonb can hold), hex otherwise.
    if (pg_encoding_verifymbstr(PG_UTF8, content, static_cast<int>(size)) == static_cast<int>(size)) {
        APPEND_LITERAL(out, ",\"content\":");
        bemi::append_json_string(sink, content, size);
    } else {
        APPEND_LITERAL(out, ",\"content_hex\":\"");
        bemi::append_hex(sink, reinterpret_cast<const unsigned char *>(content), size);
        appendStringInfoChar(out, '"');
    }
    if (transactional) {
        APPEND_LITERAL(out, ",\"transaction_id\":");
        write_uint64(out, state->txn.full_xid);
    }
    APPEND_LITERAL(out, ",\"position\":");
    write_uint64(out, lsn);
    if (transactional)
        appendBinaryStringInfo(out, state->txn.suffix, state->txn.suffix_len);
    else
        appendStringInfoChar(out, '}');
}

} // namespace bemi_pg
