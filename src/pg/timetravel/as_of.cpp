// The typed AS OF (sql/0.3/40-as-of.sql, docs/time-travel.md):
//   bemi.as_of(rowtype anyelement, instant timestamptz) / (rowtype anyelement, commit_position pg_lsn)
//       SETOF anyelement. First backward from the live table ("Backward from the live table"):
//       the live rows under a snapshot S, with the rows of every key a stored change after the
//       instant touched rebuilt from the trail, when it can prove that answer equal to the
//       forward one; else forward (bemi._as_of_rows: every row rebuilt from the trail).
//   bemi._tt_last_path()   text: "backward", or "forward: <why>", for this backend's last call.
// The trail is read only through SECURITY DEFINER functions that check the caller's permit token
// (bemi._past_permit, asked here as the caller); the live table is read as the caller. Rows go
// straight into this function's result (no stored result in between).
//
// Every PostgreSQL call here may raise: only plain data (palloc'd memory, StringInfo, Datums)
// lives across them, no object with a destructor.
#include "pg/boundary.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "funcapi.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
}

namespace bemi_pg {

namespace {

char last_path[256] = "none";

void set_path(const char *path) {
    strlcpy(last_path, path, sizeof last_path);
}

void spi_run(const char *sql, int nargs, const Oid *types, const Datum *values, const char *nulls) {
    const int rc = SPI_execute_with_args(sql, nargs, const_cast<Oid *>(types), const_cast<Datum *>(values), nulls,
                                         false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "bemi: SPI_execute_with_args failed (%s): %s", SPI_result_code_string(rc), sql);
}

// The condition matching a live row t to a key u.k as bemi.changes writes it
// (docs/record-format.md, "primary_key"): one column, its value's text; several, a JSON array.
// Only types whose text form is the value itself, with deterministic equality, get here
// (bemi._as_of_ready): the key text is parsed into the column's type, never the other way.
void append_key_match(StringInfo sql, ArrayType *columns, ArrayType *types) {
    Datum *cols;
    Datum *typs;
    bool *cnulls;
    bool *tnulls;
    int ncols;
    int ntyps;
    deconstruct_array(columns, TEXTOID, -1, false, TYPALIGN_INT, &cols, &cnulls, &ncols);
    deconstruct_array(types, TEXTOID, -1, false, TYPALIGN_INT, &typs, &tnulls, &ntyps);
    if (ncols < 1 || ncols != ntyps)
        elog(ERROR, "bemi: the key of a table must have at least one column");
    for (int i = 0; i < ncols; i++) {
        if (cnulls[i] || tnulls[i])
            elog(ERROR, "bemi: a NULL key column");
        const char *col = quote_identifier(TextDatumGetCString(cols[i]));
        const char *typ = TextDatumGetCString(typs[i]);
        char part[64];
        if (ncols == 1)
            snprintf(part, sizeof part, "u.k");
        else
            snprintf(part, sizeof part, "(u.k::pg_catalog.jsonb OPERATOR(pg_catalog.->>) %d)", i);
        if (i > 0)
            appendStringInfoString(sql, " AND ");
        if (strcmp(typ, "text") == 0)
            appendStringInfo(sql, "t.%s::pg_catalog.text COLLATE \"C\" OPERATOR(pg_catalog.=) %s COLLATE \"C\"", col,
                             part);
        else if (strcmp(typ, "int2") == 0 || strcmp(typ, "int4") == 0 || strcmp(typ, "int8") == 0 ||
                 strcmp(typ, "uuid") == 0)
            appendStringInfo(sql, "t.%s OPERATOR(pg_catalog.=) (%s)::pg_catalog.%s", col, part, typ);
        else
            elog(ERROR, "bemi: unexpected key type \"%s\"", typ);
    }
}

} // namespace

} // namespace bemi_pg

using namespace bemi_pg;

// The steps and why their answer is exact: docs/time-travel.md, "Backward from the live table".
// Answers backward into rsinfo's result and returns true, or returns false having written
// nothing (last_path says why). Runs inside the caller's SPI connection. args: the permit
// token, rel, the instant, the position (one of them NULL: nulls).
static bool answer_backward(ReturnSetInfo *rsinfo, Oid row_type, Oid rel, const Datum *args, const char *arg_nulls) {
    if (!time_travel_backward) {
        set_path("forward: bemi.time_travel_backward is off");
        return false;
    }
    // S must be a fresh snapshot (READ COMMITTED), and the trail must hold everything S sees:
    // a transaction that has written sees its own changes, which are not stored.
    if (XactIsoLevel != XACT_READ_COMMITTED) {
        set_path("forward: not READ COMMITTED");
        return false;
    }
    if (TransactionIdIsValid(GetTopTransactionIdIfAny())) {
        set_path("forward: the transaction has written");
        return false;
    }
    // Held until the transaction ends, before S: a TRUNCATE or a table rewrite (which older
    // snapshots do not read through) either committed before S, so its lineage entry or record
    // is stored and seen below, or waits for us.
    LockRelationOid(rel, AccessShareLock);

    const Oid arg_types[4] = {INT8OID, REGCLASSOID, TIMESTAMPTZOID, PG_LSNOID};

    // 1. permit, stability of the instant, and whether the table's key allows this path
    spi_run("SELECT forward, key_columns, key_types FROM bemi._as_of_ready($1, $2, $3, $4)", 4, arg_types, args,
            arg_nulls);
    bool isnull;
    Datum forward = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (!isnull) {
        char buf[200];
        snprintf(buf, sizeof buf, "forward: %s", TextDatumGetCString(forward));
        set_path(buf);
        return false;
    }
    Datum key_columns = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
    Datum key_types = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
    StringInfoData live_sql;
    initStringInfo(&live_sql);
    appendStringInfo(&live_sql,
                     "SELECT t.* FROM ONLY %s t WHERE NOT EXISTS (SELECT FROM pg_catalog.unnest($1::pg_catalog.text[]) "
                     "u(k) WHERE ",
                     quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)), get_rel_name(rel)));
    append_key_match(&live_sql, DatumGetArrayTypeP(key_columns), DatumGetArrayTypeP(key_types));
    appendStringInfo(&live_sql,
                     ") UNION ALL SELECT p.* FROM pg_catalog.unnest($2::pg_catalog.jsonb[]) r(j) CROSS JOIN LATERAL "
                     "pg_catalog.jsonb_populate_record(NULL::%s, r.j) p",
                     format_type_be_qualified(row_type));

    // 2. S, then L: every commit S sees wrote its commit record below L
    Snapshot snap = RegisterSnapshot(GetTransactionSnapshot());
    const XLogRecPtr wal_end = GetXLogInsertRecPtr();

    // 3. wait until capture has stored every transaction whose commit record lies below L
    {
        const Oid types[1] = {PG_LSNOID};
        Datum values[1] = {LSNGetDatum(wal_end)};
        spi_run("SELECT bemi._tt_await_stored($1)", 1, types, values, nullptr);
        if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) || isnull) {
            UnregisterSnapshot(snap);
            set_path("forward: capture did not store what the live table shows within bemi.time_travel_wait");
            return false;
        }
    }

    // 4. under snapshots taken after the wait: the keys K touched after the instant, or by a
    // transaction S does not see, and their rows at the instant (the first row says whether the
    // path applies). A stored transaction S does not see had its xid before S: it is in S's xip.
    {
        Datum *xids = static_cast<Datum *>(palloc(sizeof(Datum) * (snap->xcnt > 0 ? snap->xcnt : 1)));
        const FullTransactionId next = ReadNextFullTransactionId();
        for (uint32 i = 0; i < snap->xcnt; i++) {
            const TransactionId xid = snap->xip[i];
            const uint64 epoch = EpochFromFullTransactionId(next) - (xid > XidFromFullTransactionId(next) ? 1 : 0);
            xids[i] = Int64GetDatum(static_cast<int64>((epoch << 32) | xid));
        }
        const Oid types[5] = {INT8OID, REGCLASSOID, TIMESTAMPTZOID, PG_LSNOID, INT8ARRAYOID};
        Datum values[5] = {args[0], args[1], args[2], args[3],
                           PointerGetDatum(construct_array(xids, static_cast<int>(snap->xcnt), INT8OID, 8,
                                                           FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
        const char nulls[6] = {arg_nulls[0], arg_nulls[1], arg_nulls[2], arg_nulls[3], ' ', '\0'};
        spi_run("SELECT primary_key, \"row\", CASE WHEN primary_key IS NULL THEN fallback OPERATOR(pg_catalog.#>>) '{}' END "
                "FROM bemi._as_of_patch($1, $2, $3, $4, $5)",
                5, types, values, nulls);
    }
    const uint64 n = SPI_processed;
    SPITupleTable *patch = SPI_tuptable;
    if (n == 0)
        elog(ERROR, "bemi: bemi._as_of_patch returned no header row");
    {
        Datum head = SPI_getbinval(patch->vals[0], patch->tupdesc, 1, &isnull);
        (void) head;
        if (!isnull)
            elog(ERROR, "bemi: bemi._as_of_patch returned no header row");
        Datum why = SPI_getbinval(patch->vals[0], patch->tupdesc, 3, &isnull);
        const char *what = isnull ? "" : TextDatumGetCString(why);
        if (strncmp(what, "forward: ", 9) == 0) {
            UnregisterSnapshot(snap);
            set_path(what);
            return false;
        }
    }
    Datum *keys = static_cast<Datum *>(palloc(sizeof(Datum) * (n > 1 ? n - 1 : 1)));
    Datum *rows = static_cast<Datum *>(palloc(sizeof(Datum) * (n > 1 ? n - 1 : 1)));
    int nkeys = 0;
    int nrows = 0;
    for (uint64 i = 1; i < n; i++) {
        Datum key = SPI_getbinval(patch->vals[i], patch->tupdesc, 1, &isnull);
        if (isnull)
            elog(ERROR, "bemi: bemi._as_of_patch returned a NULL key");
        keys[nkeys++] = key;
        Datum row = SPI_getbinval(patch->vals[i], patch->tupdesc, 2, &isnull);
        if (!isnull)
            rows[nrows++] = row;
    }
    Datum live_args[2] = {PointerGetDatum(construct_array(keys, nkeys, TEXTOID, -1, false, TYPALIGN_INT)),
                          PointerGetDatum(construct_array(rows, nrows, JSONBOID, -1, false, TYPALIGN_INT))};
    ParamListInfo params = makeParamList(2);
    for (int i = 0; i < 2; i++) {
        params->params[i].value = live_args[i];
        params->params[i].isnull = false;
        params->params[i].pflags = PARAM_FLAG_CONST;
        params->params[i].ptype = i == 0 ? TEXTARRAYOID : JSONBARRAYOID;
    }

    // 5. under S, as the caller: the live rows whose key is not in K, and the rebuilt rows
    DestReceiver *dest = CreateDestReceiver(DestTuplestore);
    // Not detoasted (as plpgsql's RETURN QUERY): the rows' out-of-line values stay readable while
    // the caller's statement runs, whose snapshot is older than S and holds back their removal.
    SetTuplestoreDestReceiverParams(dest, rsinfo->setResult, rsinfo->econtext->ecxt_per_query_memory, false,
                                    rsinfo->setDesc, gettext_noop("bemi: the live table's rows do not match its row type"));
    const Oid live_types[2] = {TEXTARRAYOID, JSONBARRAYOID};
    SPIPlanPtr live_plan = SPI_prepare(live_sql.data, 2, const_cast<Oid *>(live_types));
    if (live_plan == nullptr)
        elog(ERROR, "bemi: SPI_prepare failed (%s): %s", SPI_result_code_string(SPI_result), live_sql.data);
    SPIExecuteOptions options;
    memset(&options, 0, sizeof options);
    options.params = params;
    options.read_only = true; // runs under the active snapshot: S
    options.dest = dest;
    PushActiveSnapshot(snap);
    const int rc = SPI_execute_plan_extended(live_plan, &options);
    PopActiveSnapshot();
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "bemi: reading the live table failed (%s)", SPI_result_code_string(rc));
    dest->rDestroy(dest);
    UnregisterSnapshot(snap);
    set_path("backward");
    return true;
}

// The forward path: every row rebuilt from the trail by the reader bemi._as_of_rows (which checks
// the permit), typed here as the caller; a row holding a value recorded through a fallback is
// refused (bemi._tt_refuse_fallback).
static void answer_forward(ReturnSetInfo *rsinfo, Oid row_type, const Datum *args, const char *arg_nulls) {
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql,
                     "SELECT p.* FROM bemi._as_of_rows($1, $2, $3, $4) r "
                     "CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%s, r.\"row\") p "
                     "WHERE r.fallback IS NULL OR bemi._tt_refuse_fallback($2, r.primary_key, r.fallback)",
                     format_type_be_qualified(row_type));
    const Oid types[4] = {INT8OID, REGCLASSOID, TIMESTAMPTZOID, PG_LSNOID};
    SPIPlanPtr plan = SPI_prepare(sql.data, 4, const_cast<Oid *>(types));
    if (plan == nullptr)
        elog(ERROR, "bemi: SPI_prepare failed (%s): %s", SPI_result_code_string(SPI_result), sql.data);
    ParamListInfo params = makeParamList(4);
    for (int i = 0; i < 4; i++) {
        params->params[i].value = args[i];
        params->params[i].isnull = arg_nulls[i] == 'n';
        params->params[i].pflags = PARAM_FLAG_CONST;
        params->params[i].ptype = types[i];
    }
    DestReceiver *dest = CreateDestReceiver(DestTuplestore);
    SetTuplestoreDestReceiverParams(dest, rsinfo->setResult, rsinfo->econtext->ecxt_per_query_memory, false,
                                    rsinfo->setDesc, gettext_noop("bemi: the rebuilt rows do not match the row type"));
    SPIExecuteOptions options;
    memset(&options, 0, sizeof options);
    options.params = params;
    options.read_only = false; // a fresh snapshot, as any statement of the caller's
    options.dest = dest;
    const int rc = SPI_execute_plan_extended(plan, &options);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "bemi: rebuilding the rows failed (%s)", SPI_result_code_string(rc));
    dest->rDestroy(dest);
}

// One Datum of a one-column, one-row SPI result.
static Datum spi_value(const char *sql, Oid type, Datum value, bool *isnull) {
    const Oid types[1] = {type};
    Datum values[1] = {value};
    spi_run(sql, 1, types, values, nullptr);
    if (SPI_processed != 1)
        elog(ERROR, "bemi: expected one row from: %s", sql);
    return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
}

BEMI_FUNCTION(bemi_as_of) {
    const Oid row_type = get_fn_expr_argtype(fcinfo->flinfo, 0);
    const Oid at_type = get_fn_expr_argtype(fcinfo->flinfo, 1);
    if (at_type != TIMESTAMPTZOID && at_type != PG_LSNOID)
        elog(ERROR, "bemi.as_of: the second argument must be a timestamptz or a pg_lsn");
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (rsinfo == nullptr || !IsA(rsinfo, ReturnSetInfo) || (rsinfo->allowedModes & SFRM_Materialize) == 0 ||
        rsinfo->expectedDesc == nullptr)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("set-valued function called in context that cannot accept a set")));
    // The result: as InitMaterializedSRF, but the rows stay in memory up to bemi.time_travel_memory
    // (a whole table's rows pass through; work_mem would send most of them to a temporary file).
    {
        MemoryContext old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
        rsinfo->returnMode = SFRM_Materialize;
        rsinfo->setDesc = CreateTupleDescCopy(rsinfo->expectedDesc);
        rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0, false,
                                                  Max(work_mem, time_travel_memory));
        MemoryContextSwitchTo(old);
    }
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "bemi: SPI_connect failed");
    bool isnull;
    // as the SQL wrappers before: the table of the row type, then what it must be, then the
    // caller's permit (each raises its own ERROR)
    const Oid rel = DatumGetObjectId(
        spi_value("SELECT bemi._tt_rel_of_type($1)::pg_catalog.oid", REGTYPEOID, ObjectIdGetDatum(row_type), &isnull));
    (void) spi_value("SELECT bemi._tt_check_table($1)", REGCLASSOID, ObjectIdGetDatum(rel), &isnull);
    const Datum token = spi_value("SELECT bemi._past_permit($1)", REGCLASSOID, ObjectIdGetDatum(rel), &isnull);
    if (isnull)
        elog(ERROR, "bemi: no permit");
    if (at_type == PG_LSNOID && PG_ARGISNULL(1))
        (void) spi_value("SELECT bemi._tt_await_position($1)", PG_LSNOID, (Datum) 0, &isnull); // raises
    Datum args[4] = {token, ObjectIdGetDatum(rel), (Datum) 0, (Datum) 0};
    char arg_nulls[5] = {' ', ' ', 'n', 'n', '\0'};
    if (!PG_ARGISNULL(1)) {
        args[at_type == TIMESTAMPTZOID ? 2 : 3] = PG_GETARG_DATUM(1);
        arg_nulls[at_type == TIMESTAMPTZOID ? 2 : 3] = ' ';
    }
    if (!answer_backward(rsinfo, row_type, rel, args, arg_nulls))
        answer_forward(rsinfo, row_type, args, arg_nulls);
    SPI_finish();
    return (Datum) 0;
}

BEMI_FUNCTION(bemi_tt_last_path) {
    (void) fcinfo;
    PG_RETURN_TEXT_P(cstring_to_text(last_path));
}
