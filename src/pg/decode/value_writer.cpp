#include "pg/decode/value_writer.hpp"

#include "bemi/json_escape.hpp"
#include "bemi/numeric_text.hpp"
#include "bemi/utc_timestamp.hpp"
#include "pg/boundary.hpp"
#include "pg/string_info_sink.hpp"

extern "C" {
#include "utils/snapmgr.h"
}

namespace bemi_pg {

namespace {

using bemi::FallbackReason;

// Bytes that are not text jsonb can hold, losslessly: "\\x" and their hex, as a JSON string
// in Json mode (bytea's form), raw in Text mode.
void write_hex_text(StringInfo out, const char *s, size_t len, ValueMode mode) {
    StringInfoSink sink{out};
    const auto *data = reinterpret_cast<const unsigned char *>(s);
    if (mode == ValueMode::Text) {
        append_literal(out, "\\x");
        bemi::append_hex(sink, data, len);
    } else {
        append_char(out, '"');
        bemi::append_bytea_hex(sink, data, len);
        append_char(out, '"');
    }
}

// A JSON string in Json mode, raw bytes in Text mode; bytes jsonb cannot hold as text are
// written in hex and logged.
void write_string(StringInfo out, const char *s, size_t len, ValueMode mode, const ColumnInfo *col,
                  FallbackLog *log) {
    if (mode == ValueMode::Text) {
        if (likely(bemi::is_jsonb_text(s, len))) { // a key column: raw, so checked apart
            append_bytes(out, s, len);
            return;
        }
    } else {
        const int start = out->len;
        StringInfoSink sink{out};
        if (likely(bemi::append_json_string(sink, s, len)))
            return;
        out->len = start;
        out->data[start] = '\0';
    }
    write_hex_text(out, s, len, mode);
    fallback_log_add(log, col, FallbackReason::InvalidText);
}

// Text written as a JSON string without a log: numbers' and dates' own text, always ASCII.
void write_plain_string(StringInfo out, const char *s, size_t len, ValueMode mode) {
    if (mode == ValueMode::Text) {
        append_bytes(out, s, len);
        return;
    }
    StringInfoSink sink{out};
    bemi::append_json_string(sink, s, len);
}

// numeric_out and the float writers produce JSON numbers except for NaN and the infinities,
// which to_jsonb() turns into strings.
void write_number_text(StringInfo out, const char *s, size_t len, ValueMode mode) {
    if (bemi::is_json_number(s, len))
        append_bytes(out, s, len);
    else
        write_plain_string(out, s, len, mode);
}

// numeric's stored form (struct NumericData in numeric.c, kept stable for pg_upgrade): a
// 2-byte header word, for the long form followed by an int16 weight, then int16 NBASE digits.
constexpr uint16 kNumericSignMask = 0xC000;
constexpr uint16 kNumericNeg = 0x4000;
constexpr uint16 kNumericShort = 0x8000;
constexpr uint16 kNumericSpecial = 0xC000; // NaN, Infinity, -Infinity
constexpr uint16 kNumericDscaleMask = 0x3FFF;
constexpr uint16 kNumericShortSignMask = 0x2000;
constexpr uint16 kNumericShortDscaleMask = 0x1F80;
constexpr int kNumericShortDscaleShift = 7;
constexpr uint16 kNumericShortWeightSignMask = 0x0040;
constexpr int kNumericShortWeightMask = 0x003F;

// The digits of a finite numeric whose varlena data (after the length word, of either
// header size) is [body, body+len). False for NaN and the infinities.
bool numeric_digits(const char *body, size_t len, bemi::NumericDigits *n) {
    uint16 header;
    if (len < sizeof header)
        return false;
    memcpy(&header, body, sizeof header);
    if ((header & kNumericSignMask) == kNumericSpecial)
        return false;
    if (header & kNumericShort) {
        n->negative = (header & kNumericShortSignMask) != 0;
        n->dscale = (header & kNumericShortDscaleMask) >> kNumericShortDscaleShift;
        n->weight = ((header & kNumericShortWeightSignMask) ? ~kNumericShortWeightMask : 0) |
                    (header & kNumericShortWeightMask);
        n->digits = reinterpret_cast<const unsigned char *>(body) + 2;
        n->ndigits = static_cast<int>((len - 2) / 2);
        return true;
    }
    if (len < 4)
        return false;
    int16 weight;
    memcpy(&weight, body + 2, sizeof weight);
    n->negative = (header & kNumericSignMask) == kNumericNeg;
    n->dscale = header & kNumericDscaleMask;
    n->weight = weight;
    n->digits = reinterpret_cast<const unsigned char *>(body) + 4;
    n->ndigits = static_cast<int>((len - 4) / 2);
    return true;
}

// numeric_out()'s text, written in place.
void append_numeric_digits(StringInfo out, const bemi::NumericDigits &n) {
    char *p = reserve_bytes(out, bemi::numeric_text_max_length(n));
    commit_bytes(out, bemi::numeric_text(n, p));
}

// A numeric inside jsonb: always finite, and stored unpacked.
void append_jsonb_numeric(StringInfo out, Numeric num) {
    bemi::NumericDigits n;
    if (numeric_digits(VARDATA_ANY(num), VARSIZE_ANY_EXHDR(num), &n)) {
        append_numeric_digits(out, n);
        return;
    }
    const char *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
    append_bytes(out, s, strlen(s));
}

void write_jsonb_scalar(StringInfo out, const JsonbValue &v) {
    switch (v.type) {
    case jbvNull:
        append_literal(out, "null");
        return;
    case jbvString: {
        StringInfoSink sink{out};
        bemi::append_json_string(sink, v.val.string.val, static_cast<size_t>(v.val.string.len));
        return;
    }
    case jbvNumeric:
        append_jsonb_numeric(out, v.val.numeric);
        return;
    case jbvBool:
        if (v.val.boolean)
            append_literal(out, "true");
        else
            append_literal(out, "false");
        return;
    default:
        elog(ERROR, "bemi: unexpected jsonb value type %d", static_cast<int>(v.type));
    }
}

// jsonb as compact JSON text: what jsonb_out() prints, without its optional spaces.
void write_jsonb(StringInfo out, Jsonb *jb) {
    JsonbValue v;
    if (JB_ROOT_IS_SCALAR(jb)) {
        // Stored as a one-element "raw scalar" array, printed as the bare scalar.
        if (!JsonbExtractScalar(&jb->root, &v))
            elog(ERROR, "bemi: malformed scalar jsonb");
        write_jsonb_scalar(out, v);
        return;
    }
    JsonbIterator *it = JsonbIteratorInit(&jb->root);
    JsonbIteratorToken token;
    bool comma = false; // the next value or key follows a sibling
    while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE) {
        switch (token) {
        case WJB_BEGIN_ARRAY:
        case WJB_BEGIN_OBJECT:
            if (comma)
                append_char(out, ',');
            append_char(out, token == WJB_BEGIN_ARRAY ? '[' : '{');
            comma = false;
            break;
        case WJB_END_ARRAY:
        case WJB_END_OBJECT:
            append_char(out, token == WJB_END_ARRAY ? ']' : '}');
            comma = true;
            break;
        case WJB_KEY: {
            if (comma)
                append_char(out, ',');
            StringInfoSink sink{out};
            bemi::append_json_string(sink, v.val.string.val, static_cast<size_t>(v.val.string.len));
            append_char(out, ':');
            comma = false;
            break;
        }
        case WJB_VALUE:
        case WJB_ELEM:
            if (comma)
                append_char(out, ',');
            write_jsonb_scalar(out, v);
            comma = true;
            break;
        case WJB_DONE:
            break;
        }
    }
}

// JSON text from PostgreSQL (a json column, a cast, array_to_json/row_to_json). What jsonb
// cannot hold is written as a JSON string of the text (json_not_jsonb), or in hex when the
// text itself is not UTF-8 (invalid_text), so that every record casts to jsonb. In Text mode
// (a key column) the text is the value and only its bytes matter.
void write_json_text(StringInfo out, const char *s, size_t len, ValueMode mode, const ColumnInfo *col,
                     FallbackLog *log) {
    if (mode == ValueMode::Text) {
        write_string(out, s, len, mode, col, log);
        return;
    }
    const int start = out->len;
    StringInfoSink sink{out};
    const bemi::JsonTextIssue issue = bemi::append_json_text_checked(sink, s, len);
    if (likely(issue == bemi::JsonTextIssue::None))
        return;
    out->len = start;
    out->data[start] = '\0';
    if (issue == bemi::JsonTextIssue::NotJsonb && bemi::append_json_string(sink, s, len)) {
        fallback_log_add(log, col, FallbackReason::JsonNotJsonb);
        return;
    }
    out->len = start;
    out->data[start] = '\0';
    write_hex_text(out, s, len, mode);
    fallback_log_add(log, col, FallbackReason::InvalidText);
}

void write_json_datum(StringInfo out, Datum json, ValueMode mode, const ColumnInfo *col, FallbackLog *log) {
    text *t = DatumGetTextPP(json);
    write_json_text(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), mode, col, log);
}

// Runs a trusted json cast (built in, or superuser-owned) in a subtransaction, so that a cast
// that fails costs the value its JSON form (the output function's text is recorded instead,
// as cast_failed) but never stops decoding. This guards against errors only: code that
// assigns a transaction id ends decoding ("output plugin used XID") even inside a rolled
// back subtransaction, which is why no untrusted cast is ever run and a superuser-owned cast
// must not write (docs/security.md).
bool call_guarded(FmgrInfo *fn, Datum value, Datum *result) {
    bool ok = false;
    ErrorData *error = run_in_subtransaction(
        [fn, value, result] {
            // A cast in PL/pgSQL (or any SPI user) needs an active snapshot. A SQL decoding call
            // runs under its statement's; a walsender and the ingestion worker decode with none,
            // so the cast gets the one decoding reads the catalogs with (GetTransactionSnapshot()
            // returns the historic snapshot while one is set up). An error pops it with the
            // subtransaction; committing the subtransaction would hand it to the parent instead.
            const bool push_snapshot = !ActiveSnapshotSet();
            if (push_snapshot)
                PushActiveSnapshot(GetTransactionSnapshot());
            *result = FunctionCall1(fn, value);
            if (push_snapshot)
                PopActiveSnapshot();
            return true;
        },
        &ok);
    if (error != nullptr) {
        // A cancel (statement_timeout, pg_cancel_backend) is the user's, not the cast's: as
        // PL/pgSQL's WHEN OTHERS, never swallow it.
        if (error->sqlerrcode == ERRCODE_QUERY_CANCELED)
            ReThrowError(error);
        FreeErrorData(error);
    }
    return ok;
}

FmgrInfo *json_renderer(ColumnInfo *col) {
    static FmgrInfo array_fn, row_fn;
    static bool ready = false;
    if (!ready) {
        fmgr_info_cxt(F_ARRAY_TO_JSON_ANYARRAY, &array_fn, TopMemoryContext);
        fmgr_info_cxt(F_ROW_TO_JSON_RECORD, &row_fn, TopMemoryContext);
        ready = true;
    }
    switch (col->kind) {
    case ValueKind::Array:
        return &array_fn;
    case ValueKind::Composite:
        return &row_fn;
    default:
        return &col->cast;
    }
}

// Arrays, composites and types with a trusted json cast: their JSON comes from PostgreSQL
// itself. The relation cache sends a column here only when every json cast its type tree can
// reach is trusted.
void write_rendered_json(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode, FallbackLog *log) {
    FmgrInfo *fn = json_renderer(col);
    Datum json;
    if (!col->guarded) {
        write_json_datum(out, FunctionCall1(fn, value), mode, col, log);
        return;
    }
    if (call_guarded(fn, value, &json)) {
        write_json_datum(out, json, mode, col, log);
        return;
    }
    if (!col->warned) {
        ereport(WARNING, (errmsg("bemi: converting a value of type %s to json failed; its text form is recorded",
                                 format_type_be(col->base_type)),
                          errhint("Fix the type's cast to json; see docs/record-format.md.")));
        col->warned = true;
    }
    const char *s = OutputFunctionCall(&col->output, value);
    write_string(out, s, strlen(s), mode, col, log);
    fallback_log_add(log, col, FallbackReason::CastFailed);
}

// A record must stay within what jsonb holds: its binary form is limited to 256 MiB (the
// offsets of a container's entries have 28 bits). Strings take about as much room in jsonb as
// their JSON text; JSON structure up to six times more ("1," is a 4-byte entry and an 8-byte
// numeric). Values are weighed as they are written, in column order; the one that would take
// the record past the budget is replaced by null and logged as too_large. The budget leaves
// room for the record's keys, context and statement.
constexpr size_t kRecordJsonbBudget = 240 * 1024 * 1024;
constexpr size_t kStructuredWeight = 6;
// Room kept in the output buffer for what follows the values (the tail: context and statement).
constexpr size_t kRecordTailRoom = 16 * 1024 * 1024;


// Most bytes the JSON text of a value of raw_size bytes can take: \u00XX for each byte of a
// string, two hex digits per byte of bytea; arrays and composites are rendered by PostgreSQL
// (elements of at least one byte each, escaped at most the same way).
size_t text_bound(const ColumnInfo *col, size_t raw_size) {
    return (col->kind == ValueKind::Bytea ? 2 : 6) * raw_size + 64;
}

size_t weight_of(const ColumnInfo *col) {
    switch (col->kind) {
    case ValueKind::Json:
    case ValueKind::Jsonb:
    case ValueKind::Array:
    case ValueKind::Composite:
    case ValueKind::JsonCast:
        return kStructuredWeight;
    default:
        return 1;
    }
}

void write_too_large(StringInfo out, int start, const ColumnInfo *col, FallbackLog *log, int logged) {
    out->len = start;
    out->data[start] = '\0';
    log->count = logged; // whatever the value itself logged is gone with it
    append_literal(out, "null");
    fallback_log_add(log, col, FallbackReason::TooLarge);
}

} // namespace

void write_sized_value(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode, FallbackLog *log) {
    const int start = out->len;
    const int logged = log->count;
    // Refused before rendering when its text alone could overflow the output buffer (1 GB).
    const size_t raw_size = toast_raw_datum_size(value);
    if (text_bound(col, raw_size) > MaxAllocSize - static_cast<size_t>(start) - kRecordTailRoom) {
        write_too_large(out, start, col, log, logged);
        return;
    }
    write_value_exact(out, col, value, mode, log);
    const size_t weight = static_cast<size_t>(out->len - start) * weight_of(col);
    if (log->record_weight + weight > kRecordJsonbBudget) {
        write_too_large(out, start, col, log, logged);
        return;
    }
    log->record_weight += weight;
}

void fallback_log_init(FallbackLog *log, MemoryContext cxt) {
    log->capacity = 16;
    log->entries = static_cast<FallbackEntry *>(MemoryContextAlloc(cxt, sizeof(FallbackEntry) * log->capacity));
    log->count = 0;
    log->cxt = cxt;
    log->image = bemi::FallbackImage::After;
}

void fallback_log_add(FallbackLog *log, const ColumnInfo *col, bemi::FallbackReason reason) {
    if (log->count == log->capacity) {
        log->capacity *= 2;
        log->entries = static_cast<FallbackEntry *>(repalloc(log->entries, sizeof(FallbackEntry) * log->capacity));
    }
    log->entries[log->count++] = FallbackEntry{col, log->image, reason};
}

// The value as to_jsonb() writes it, or in a substitute form logged in log.
void write_value_exact(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode, FallbackLog *log) {
    char buf[MAXDATELEN + 1];
    switch (col->kind) {
    case ValueKind::Bool:
        if (DatumGetBool(value))
            append_literal(out, "true");
        else
            append_literal(out, "false");
        return;
    case ValueKind::Int2:
    case ValueKind::Int4: {
        // Written in place: pg_ltoa needs 12 bytes, and NUL-terminates.
        char *p = reserve_bytes(out, 12);
        const int32 v = col->kind == ValueKind::Int2 ? DatumGetInt16(value) : DatumGetInt32(value);
        commit_bytes(out, p + pg_ltoa(v, p));
        return;
    }
    case ValueKind::Int8: {
        char *p = reserve_bytes(out, MAXINT8LEN + 1);
        commit_bytes(out, p + pg_lltoa(DatumGetInt64(value), p));
        return;
    }
    case ValueKind::Float4:
        // Shortest exact form, what float4out prints with extra_float_digits > 0.
        write_number_text(out, buf, float_to_shortest_decimal_buf(DatumGetFloat4(value), buf), mode);
        return;
    case ValueKind::Float8:
        write_number_text(out, buf, double_to_shortest_decimal_buf(DatumGetFloat8(value), buf), mode);
        return;
    case ValueKind::Numeric: {
        // Read in place: a short (1-byte) varlena header is fine, only compressed or
        // out-of-line values are expanded.
        struct varlena *num = pg_detoast_datum_packed(reinterpret_cast<struct varlena *>(DatumGetPointer(value)));
        bemi::NumericDigits digits;
        if (numeric_digits(VARDATA_ANY(num), VARSIZE_ANY_EXHDR(num), &digits)) {
            append_numeric_digits(out, digits);
            return;
        }
        const char *s = OutputFunctionCall(&col->output, value);
        write_number_text(out, s, strlen(s), mode);
        return;
    }
    case ValueKind::Text: {
        text *t = DatumGetTextPP(value);
        write_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), mode, col, log);
        return;
    }
    case ValueKind::Json:
        write_json_datum(out, value, mode, col, log);
        return;
    case ValueKind::Jsonb: {
        Jsonb *jb = DatumGetJsonbP(value);
        if (mode == ValueMode::Json)
            write_jsonb(out, jb);
        else // a key column: its text form, as jsonb_out() prints it
            JsonbToCString(out, &jb->root, VARSIZE(jb));
        return;
    }
    case ValueKind::Bytea: {
        bytea *b = DatumGetByteaPP(value);
        StringInfoSink sink{out};
        const auto *data = reinterpret_cast<const unsigned char *>(VARDATA_ANY(b));
        if (mode == ValueMode::Text) {
            append_literal(out, "\\x");
            bemi::append_hex(sink, data, VARSIZE_ANY_EXHDR(b));
        } else {
            append_char(out, '"');
            bemi::append_bytea_hex(sink, data, VARSIZE_ANY_EXHDR(b));
            append_char(out, '"');
        }
        return;
    }
    case ValueKind::DateTime: {
        // Years 1..9999 in bemi's own code; infinity, BC and later years as PostgreSQL
        // writes them. The text never needs escaping.
        const bool quoted = mode == ValueMode::Json;
        char *p = reserve_bytes(out, bemi::kIsoTimestampMaxLength + 2);
        size_t n;
        if (col->base_type == DATEOID)
            n = bemi::format_iso_date(DatumGetInt32(value), p + quoted); // DateADT
        else
            n = bemi::format_iso_timestamp(DatumGetTimestamp(value), col->base_type == TIMESTAMPTZOID, p + quoted);
        if (n > 0) {
            if (quoted) {
                p[0] = '"';
                p[n + 1] = '"';
            }
            commit_bytes(out, p + n + 2 * quoted);
            return;
        }
        // With an explicit zero offset timestamptz is written in UTC whatever TimeZone says.
        static const int utc = 0;
        JsonEncodeDateTime(buf, value, col->base_type, &utc);
        write_plain_string(out, buf, strlen(buf), mode);
        return;
    }
    case ValueKind::Array:
    case ValueKind::Composite:
    case ValueKind::JsonCast:
        write_rendered_json(out, col, value, mode, log);
        return;
    case ValueKind::Other: {
        const char *s = OutputFunctionCall(&col->output, value);
        write_string(out, s, strlen(s), mode, col, log);
        if (unlikely(col->untrusted))
            fallback_log_add(log, col, FallbackReason::UntrustedCast);
        return;
    }
    case ValueKind::Dropped:
        break;
    }
    elog(ERROR, "bemi: no value writer for a dropped column");
}

} // namespace bemi_pg
