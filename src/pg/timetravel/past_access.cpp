// Who may read a table's past (docs/time-travel.md, "Reading the past: who may").
//
// The public time-travel functions are SECURITY INVOKER. They ask bemi._past_permit(rel), which
// checks the *calling* role on the table, for a token; the SECURITY DEFINER readers of the trail
// (which run as the extension's owner and could read any table's history) accept only a token
// issued by that check, for that relation, in the current transaction, to the same outer role
// (the session's role after SET ROLE, which a SECURITY DEFINER function does not change).
//
// The tokens live in backend-local memory only: a small ring of entries, emptied when the
// top-level transaction ends (commit, abort or prepare). A token is 64 random bits, so it cannot
// be guessed, and an entry also names the outer role and the transaction it was issued in, so a
// token read or leaked another way is still no use to another role or after the transaction.
// A token may be checked several times in its transaction (a reader may hand it to helpers);
// each call of _past_permit issues a new one, and the oldest entry makes room when the ring is
// full: entries are only needed between a wrapper's permit and its reader's check, so a wrapper
// asks for its permit right before it calls the reader (at most kPermitSlots outstanding).
#include "pg/postgres_headers.hpp"

#include "pg/boundary.hpp"

extern "C" {
#include "utils/acl.h"
#include "utils/rls.h"
}

namespace bemi_pg {

namespace {

struct PastPermit {
    bool used;
    int64 token;
    Oid relid;
    Oid outer_user;
    uint64 generation; // the top-level transaction it was issued in (xact_generation)
};

constexpr int kPermitSlots = 64;
PastPermit permits[kPermitSlots];
int next_slot = 0;
// Counts ended top-level transactions of this backend: a permit is valid only while it is
// unchanged, even if the end-of-transaction callback was somehow not called.
uint64 xact_generation = 0;
bool callback_registered = false;

void forget_permits() {
    memset(permits, 0, sizeof permits);
    next_slot = 0;
}

void permits_at_xact_end(XactEvent event, void *) {
    switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
        ++xact_generation;
        forget_permits();
        break;
    default:
        break;
    }
}

void register_callback_once() {
    if (callback_registered)
        return;
    RegisterXactCallback(permits_at_xact_end, nullptr);
    callback_registered = true;
}

// "schema.table", quoted as needed; palloc'd.
char *relation_display_name(Oid relid) {
    char *name = get_rel_name(relid);
    char *schema = get_namespace_name(get_rel_namespace(relid));
    if (name == nullptr || schema == nullptr)
        return psprintf("relation with OID %u", relid);
    return const_cast<char *>(quote_qualified_identifier(schema, name));
}

enum class PastAccess { kAllowed, kMissing, kNotTable, kNoSchemaUsage, kNoSelect, kRowSecurity };

// Whether role may read relid's past: the relation exists and is a table, role may SELECT the
// whole table today (USAGE on its schema, SELECT on the table, not only on columns), and
// row-level security does not apply to role there. RLS_NONE: no row-level
// security on the table; RLS_NONE_ENV: role bypasses it (superuser, BYPASSRLS, or the owner
// without FORCE ROW LEVEL SECURITY). With noError, row_security = off does not raise: it would
// only hide the policies, not lift them.
PastAccess past_access(Oid relid, Oid role) {
    const char relkind = get_rel_relkind(relid);
    if (relkind == '\0')
        return PastAccess::kMissing;
    if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
        return PastAccess::kNotTable;
    if (pg_namespace_aclcheck(get_rel_namespace(relid), role, ACL_USAGE) != ACLCHECK_OK)
        return PastAccess::kNoSchemaUsage;
    if (pg_class_aclcheck(relid, role, ACL_SELECT) != ACLCHECK_OK)
        return PastAccess::kNoSelect;
    if (check_enable_rls(relid, role, true) == RLS_ENABLED)
        return PastAccess::kRowSecurity;
    return PastAccess::kAllowed;
}

// ERRORs unless role may read relid's past.
void check_may_read_past(Oid relid, Oid role) {
    switch (past_access(relid, role)) {
    case PastAccess::kAllowed:
        return;
    case PastAccess::kMissing:
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid),
                        errhint("The table was dropped. bemi.as_of_jsonb(schema, table, instant) reads the past "
                                "of a table dropped since.")));
        break;
    case PastAccess::kNotTable:
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("\"%s\" is not a table", relation_display_name(relid)),
                        errhint("bemi keeps the past of tables and partitioned tables only.")));
        break;
    case PastAccess::kNoSchemaUsage:
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to read the past of table \"%s\"", relation_display_name(relid)),
                        errhint("Reading a table's past needs what reading the table needs: USAGE on its "
                                "schema and SELECT on the whole table.")));
        break;
    case PastAccess::kNoSelect:
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to read the past of table \"%s\"", relation_display_name(relid)),
                        errhint("Reading a table's past needs SELECT on the whole table (privileges on some "
                                "of its columns are not enough).")));
        break;
    case PastAccess::kRowSecurity:
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("cannot read the past of table \"%s\": row-level security applies to role \"%s\"",
                               relation_display_name(relid), GetUserNameFromId(role, false)),
                        errhint("Historic rows cannot be filtered by today's policies, so only a role that "
                                "bypasses row-level security (a superuser, a BYPASSRLS role, or the table's "
                                "owner without FORCE ROW LEVEL SECURITY) may read this table's past.")));
        break;
    }
}

int64 new_token() {
    int64 token = 0;
    // Never 0, so that an all-zero entry can never match.
    while (token == 0) {
        if (!pg_strong_random(&token, sizeof token))
            ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a random permit token"),
                            errhint("The system's strong random number source failed.")));
    }
    return token;
}

} // namespace

} // namespace bemi_pg

// bemi._past_permit(rel regclass) RETURNS int8, SECURITY INVOKER, STRICT.
BEMI_FUNCTION(bemi_past_permit) {
    using namespace bemi_pg;
    const Oid relid = PG_GETARG_OID(0);
    register_callback_once();
    check_may_read_past(relid, GetUserId());

    const int64 token = new_token();
    PastPermit &slot = permits[next_slot];
    slot.used = true;
    slot.token = token;
    slot.relid = relid;
    slot.outer_user = GetOuterUserId();
    slot.generation = xact_generation;
    next_slot = (next_slot + 1) % kPermitSlots;
    PG_RETURN_INT64(token);
}

// bemi._check_past_permit(token int8, rel regclass) RETURNS void. Not STRICT: a NULL token
// must raise, not pass as a NULL result.
BEMI_FUNCTION(bemi_check_past_permit) {
    using namespace bemi_pg;
    if (PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the table to read the past of must not be null"),
                        errhint("Pass the table the permit was issued for.")));
    const Oid relid = PG_GETARG_OID(1);
    // No token: the caller's permit was refused (a wrapper that lets its reader decide passes
    // NULL then). Say why, for the outer role, as _past_permit would have.
    if (PG_ARGISNULL(0))
        check_may_read_past(relid, GetOuterUserId());
    if (!PG_ARGISNULL(0)) {
        const int64 token = PG_GETARG_INT64(0);
        const Oid outer_user = GetOuterUserId();
        // Only valid once the callback forgets tokens at transaction end.
        if (callback_registered) {
            for (const PastPermit &permit : permits) {
                if (permit.used && permit.token == token && permit.relid == relid &&
                    permit.outer_user == outer_user && permit.generation == xact_generation)
                    PG_RETURN_VOID();
            }
        }
    }
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("no valid permit to read the past of table \"%s\"", relation_display_name(relid)),
                    errhint("Use bemi's public time-travel functions (bemi.as_of, bemi.versions, bemi.history), "
                            "which check the caller's privileges on the table. A permit from bemi._past_permit "
                            "is valid only for its table, in its transaction, for the role that asked for it.")));
    PG_RETURN_VOID();
}
