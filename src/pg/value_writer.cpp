#include "pg/value_writer.hpp"

#include "bemi/json_escape.hpp"
#include "pg/string_info_sink.hpp"

namespace bemi_pg {

namespace {

// A JSON string in Json mode, raw bytes in Text mode.
void write_string(StringInfo out, const char *s, size_t len, ValueMode mode) {
    if (mode == ValueMode::Text) {
        appendBinaryStringInfo(out, s, static_cast<int>(len));
        return;
    }
    StringInfoSink sink{out};
    bemi::append_json_string(sink, s, len);
}

// numeric_out and the float writers produce JSON numbers except for NaN and the infinities,
// which to_jsonb() turns into strings.
void write_number_text(StringInfo out, const char *s, size_t len, ValueMode mode) {
    if (bemi::is_json_number(s, len))
        appendBinaryStringInfo(out, s, static_cast<int>(len));
    else
        write_string(out, s, len, mode);
}

void write_json_text(StringInfo out, text *t) {
    StringInfoSink sink{out};
    bemi::append_json_single_line(sink, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

// Runs a user-defined json cast in a subtransaction, so that a failing cast costs the value
// its JSON form (the output function's text is recorded instead) but never stops decoding.
bool call_guarded(FmgrInfo *fn, Datum value, Datum *result) {
    MemoryContext cxt = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    volatile bool ok = false; // set between setjmp and a possible longjmp
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(cxt);
    PG_TRY();
    {
        *result = FunctionCall1(fn, value);
        ReleaseCurrentSubTransaction();
        ok = true;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(cxt);
        CurrentResourceOwner = owner;
        // A cancel (statement_timeout, pg_cancel_backend) is the user's, not the cast's: as
        // PL/pgSQL's WHEN OTHERS, never swallow it.
        if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
            ReThrowError(edata);
        FreeErrorData(edata);
    }
    PG_END_TRY();
    MemoryContextSwitchTo(cxt);
    CurrentResourceOwner = owner;
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

// Arrays, composites and types with a json cast: their JSON comes from PostgreSQL itself.
void write_rendered_json(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode) {
    FmgrInfo *fn = json_renderer(col);
    Datum json;
    if (!col->guarded) {
        write_json_text(out, DatumGetTextPP(FunctionCall1(fn, value)));
        return;
    }
    if (call_guarded(fn, value, &json)) {
        write_json_text(out, DatumGetTextPP(json));
        return;
    }
    if (!col->warned) {
        ereport(WARNING, (errmsg("bemi: converting a value of type %s to json failed; its text form is recorded",
                                 format_type_be(col->base_type)),
                          errhint("Fix the type's cast to json; see docs/record-format.md.")));
        col->warned = true;
    }
    const char *s = OutputFunctionCall(&col->output, value);
    write_string(out, s, strlen(s), mode);
}

} // namespace

void write_value(StringInfo out, ColumnInfo *col, Datum value, ValueMode mode) {
    char buf[MAXDATELEN + 1];
    switch (col->kind) {
    case ValueKind::Bool:
        if (DatumGetBool(value))
            appendBinaryStringInfo(out, "true", 4);
        else
            appendBinaryStringInfo(out, "false", 5);
        return;
    case ValueKind::Int2:
        appendBinaryStringInfo(out, buf, pg_ltoa(DatumGetInt16(value), buf));
        return;
    case ValueKind::Int4:
        appendBinaryStringInfo(out, buf, pg_ltoa(DatumGetInt32(value), buf));
        return;
    case ValueKind::Int8:
        appendBinaryStringInfo(out, buf, pg_lltoa(DatumGetInt64(value), buf));
        return;
    case ValueKind::Float4:
        // Shortest exact form, what float4out prints with extra_float_digits > 0.
        write_number_text(out, buf, float_to_shortest_decimal_buf(DatumGetFloat4(value), buf), mode);
        return;
    case ValueKind::Float8:
        write_number_text(out, buf, double_to_shortest_decimal_buf(DatumGetFloat8(value), buf), mode);
        return;
    case ValueKind::Numeric: {
        const char *s = OutputFunctionCall(&col->output, value);
        write_number_text(out, s, strlen(s), mode);
        return;
    }
    case ValueKind::Text: {
        text *t = DatumGetTextPP(value);
        write_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), mode);
        return;
    }
    case ValueKind::Json:
        write_json_text(out, DatumGetTextPP(value));
        return;
    case ValueKind::Jsonb: {
        Jsonb *jb = DatumGetJsonbP(value);
        JsonbToCString(out, &jb->root, VARSIZE(jb));
        return;
    }
    case ValueKind::Bytea: {
        bytea *b = DatumGetByteaPP(value);
        StringInfoSink sink{out};
        const auto *data = reinterpret_cast<const unsigned char *>(VARDATA_ANY(b));
        if (mode == ValueMode::Text) {
            appendBinaryStringInfo(out, "\\x", 2);
            bemi::append_hex(sink, data, VARSIZE_ANY_EXHDR(b));
        } else {
            appendStringInfoChar(out, '"');
            bemi::append_bytea_hex(sink, data, VARSIZE_ANY_EXHDR(b));
            appendStringInfoChar(out, '"');
        }
        return;
    }
    case ValueKind::DateTime: {
        // With an explicit zero offset timestamptz is written in UTC whatever TimeZone says.
        static const int utc = 0;
        JsonEncodeDateTime(buf, value, col->base_type, &utc);
        write_string(out, buf, strlen(buf), mode);
        return;
    }
    case ValueKind::Array:
    case ValueKind::Composite:
    case ValueKind::JsonCast:
        write_rendered_json(out, col, value, mode);
        return;
    case ValueKind::Other: {
        const char *s = OutputFunctionCall(&col->output, value);
        write_string(out, s, strlen(s), mode);
        return;
    }
    case ValueKind::Dropped:
        break;
    }
    elog(ERROR, "bemi: no value writer for a dropped column");
}

} // namespace bemi_pg
