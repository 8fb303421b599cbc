// bemi.restoring = on (superuser only; pg_restore sessions get it through PGOPTIONS) marks
// every transaction of the session with a replication origin of its own,
// "bemi_ingest_restore_<pid>". The decoder skips transactions whose origin name starts with
// "bemi_ingest" (src/pg/decode/plugin.cpp, made_by_ingestion), as it skips the worker's own, so the
// rows a restore loads — application tables, bemi.changes and bemi.capture_history — are not
// recorded as application changes.
//
// Why an origin and not a `_bemi` logical message: anyone may call pg_logical_emit_message, so
// a message proves nothing, while setting up a replication origin needs a superuser (here:
// whoever may set a PGC_SUSET setting). Why per process: one origin can be set up by one
// process at a time, and pg_restore --jobs runs several sessions.
//
// The origin is set up lazily, from the first statement parsed with the setting on (setting
// it up needs a transaction, which a GUC assign hook does not have), and reset at the first
// statement after it is turned off. Origins of sessions that have ended are dropped by the
// ingestion worker (drop_orphan_origins).
#include "pg/capture/restore_session.hpp"

#include "pg/names.hpp"
#include "pg/postgres_headers.hpp"

extern "C" {
#include "parser/analyze.h"
#include "utils/guc.h"
}

namespace bemi_pg {

namespace {

bool restoring = false;
// The session's replication origin is ours and set up; created_in_xact: by the current
// transaction, whose abort takes the origin's catalog row with it.
bool origin_set_up = false;
bool origin_created_in_xact = false;
post_parse_analyze_hook_type prev_post_parse_analyze = nullptr;

void reset_origin() {
    replorigin_session_reset();
    replorigin_session_origin = InvalidRepOriginId;
    origin_set_up = false;
    origin_created_in_xact = false;
}

void set_up_origin() {
    char name[NAMEDATALEN];
    names::restore_origin_name_for(MyProcPid, name, sizeof name);
    RepOriginId id = replorigin_by_name(name, true);
    origin_created_in_xact = id == InvalidRepOriginId;
    if (origin_created_in_xact)
        id = replorigin_create(name);
    replorigin_session_setup(id);
    replorigin_session_origin = id;
    origin_set_up = true;
}

void restore_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate) {
    if (prev_post_parse_analyze)
        prev_post_parse_analyze(pstate, query, jstate);
    if (restoring == origin_set_up || !IsTransactionState() || RecoveryInProgress())
        return;
    if (restoring) {
        // Another origin the session set up itself (pg_replication_origin_session_setup)
        // already marks its transactions: leave it.
        if (replorigin_session_origin != InvalidRepOriginId)
            return;
        set_up_origin();
    } else {
        reset_origin();
    }
}

// An origin created by a transaction that aborts is gone: forget it, so that the next
// statement creates it again. Nothing here may raise.
void restore_xact_callback(XactEvent event, void *) {
    if (!origin_set_up || !origin_created_in_xact)
        return;
    if (event == XACT_EVENT_ABORT) {
        replorigin_session_reset();
        replorigin_session_origin = InvalidRepOriginId;
        origin_set_up = false;
        origin_created_in_xact = false;
    } else if (event == XACT_EVENT_COMMIT) {
        origin_created_in_xact = false;
    }
}

} // namespace

void install_restore_session() {
    DefineCustomBoolVariable(
        "bemi.restoring", "Leaves this session's changes out of bemi's capture (for pg_restore).",
        "Superuser only. Set it with PGOPTIONS='-c bemi.restoring=on' for pg_restore: the restore's data load is "
        "not recorded as application changes.",
        &restoring, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    prev_post_parse_analyze = post_parse_analyze_hook;
    post_parse_analyze_hook = restore_post_parse_analyze;
    RegisterXactCallback(restore_xact_callback, nullptr);
}

} // namespace bemi_pg
