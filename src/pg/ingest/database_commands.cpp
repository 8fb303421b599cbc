// DROP DATABASE, CREATE DATABASE ... TEMPLATE and ALTER DATABASE ... RENAME of a captured
// database (see database_commands.hpp and docs/ingestion.md).
//
// The pause lives in the database's shared entry (pause_count): the launcher starts no worker,
// a worker about to attach exits, the attached one stops at its next turn (after storing what
// was flushed, for a template copy). It belongs to the command's transaction: a transaction
// callback lifts it at commit or abort — errors, cancels and FATAL exits included — and after
// a committed DROP DATABASE forgets the database instead. The slot and the replication origin
// are left alone until the drop has happened, so a command that fails loses nothing: the
// worker resumes from them.
//
// C-style on purpose: no object with a destructor is alive across PostgreSQL calls.
#include "pg/ingest/database_commands.hpp"

#include "pg/boundary.hpp"
#include "pg/compat.hpp"
#include "pg/ingest/shared_state.hpp"
#include "pg/names.hpp"

#include <csignal>

extern "C" {
#include "catalog/pg_authid.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "utils/wait_event.h"
}

namespace bemi_pg {

namespace {

constexpr long kPollMs = 10;
// A worker stops at the end of its current turn; one in a long wait (creating its slot waits
// for running transactions) is then terminated, which its exactly-once design tolerates.
constexpr long kCooperativeStopMs = 2000;
// How long a command waits for the worker to stop (after storing, for a template copy).
constexpr long kStopTimeoutMs = 30000;

// The pauses this backend holds until its transaction ends: DROP and CREATE DATABASE run
// alone in theirs, but a transaction block may rename several databases.
constexpr int kMaxPauses = 8;
struct Pause {
    Oid database;
    bool dropped;     // DROP DATABASE returned: at commit the database is gone
};
Pause pauses[kMaxPauses];
int npauses = 0;
bool callback_registered = false;

Pause *held_pause(Oid database) {
    for (int i = 0; i < npauses; ++i)
        if (pauses[i].database == database)
            return &pauses[i];
    return nullptr;
}

void release_pauses(bool committed) {
    if (npauses == 0)
        return;
    if (shared != nullptr) {
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        for (int i = 0; i < npauses; ++i) {
            DatabaseEntry *e = find_entry(pauses[i].database);
            if (e == nullptr || e->pause_count == 0)
                continue;
            --e->pause_count;
            if (committed && pauses[i].dropped) {
                if (e->pid == 0)
                    clear_entry(e); // the database is gone: nothing of it stays in shared memory
            } else if (e->pause_count == 0) {
                e->pause_catch_up = false;
                if (e->wanted) {
                    e->not_before = 0; // resume at once: this was no crash
                    set_state(e, WorkerState::kRestarting);
                } else {
                    set_state(e, WorkerState::kNotRunning);
                }
            }
        }
        LWLockRelease(shared->lock);
        wake_launcher();
    }
    npauses = 0;
}

// Only shared memory and a latch: nothing here can fail, which matters at COMMIT.
void pause_xact_callback(XactEvent event, void *) {
    switch (event) {
    case XACT_EVENT_COMMIT:
        release_pauses(true);
        break;
    case XACT_EVENT_ABORT:
        release_pauses(false);
        break;
    default:
        break;
    }
}

// As PostgreSQL's own (static) have_createdb_privilege().
bool has_createdb_privilege() {
    if (superuser())
        return true;
    bool result = false;
    HeapTuple tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
    if (HeapTupleIsValid(tuple)) {
        result = reinterpret_cast<Form_pg_authid>(GETSTRUCT(tuple))->rolcreatedb;
        ReleaseSysCache(tuple);
    }
    return result;
}

bool is_template(Oid database) {
    bool result = false;
    HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(database));
    if (HeapTupleIsValid(tuple)) {
        result = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple))->datistemplate;
        ReleaseSysCache(tuple);
    }
    return result;
}

// Pauses the database's capture, if bemi has an entry for it (and this backend has room to
// remember the pause). Returns the pid of the worker attached at that moment (0: none).
pid_t take_pause(Oid database, bool catch_up) {
    if (npauses == kMaxPauses || held_pause(database) != nullptr)
        return 0;
    if (!callback_registered) {
        RegisterXactCallback(pause_xact_callback, nullptr);
        callback_registered = true;
    }
    pid_t pid = 0;
    Latch *latch = nullptr;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseEntry *e = find_entry(database);
    if (e != nullptr) {
        // The first pauser decides whether the worker stores what is pending before it stops.
        e->pause_catch_up = e->pause_count == 0 ? catch_up : e->pause_catch_up && catch_up;
        ++e->pause_count;
        pid = e->pid;
        latch = e->latch;
        if (pid == 0)
            set_state(e, WorkerState::kPaused);
        // Nothing between here and the end of the transaction may leave the count raised.
        pauses[npauses++] = Pause{database, false};
    }
    LWLockRelease(shared->lock);
    if (latch)
        SetLatch(latch);
    return pid;
}

// Waits until the worker that was attached has left and its process is gone (a slot it held
// is released only as the process exits; DROP DATABASE refuses a database with an active slot).
void wait_for_worker(Oid database, pid_t pid, bool catch_up, const char *dbname) {
    const TimestampTz start = GetCurrentTimestamp();
    bool terminated = false;
    for (;;) {
        LWLockAcquire(shared->lock, LW_SHARED);
        const DatabaseEntry *e = find_entry(database);
        const bool attached = e != nullptr && e->pid == pid;
        LWLockRelease(shared->lock);
        if (!attached && BackendPidGetProc(pid) == nullptr)
            return;
        const TimestampTz now = GetCurrentTimestamp();
        if (attached && !catch_up && !terminated && TimestampDifferenceExceeds(start, now, kCooperativeStopMs)) {
            (void) kill(pid, SIGTERM); // still attached, so the pid is still the worker's
            terminated = true;
        }
        if (TimestampDifferenceExceeds(start, now, kStopTimeoutMs)) {
            if (catch_up)
                ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                                errmsg("bemi's ingestion worker of database \"%s\" did not stop within %ld s", dbname,
                                       kStopTimeoutMs / 1000),
                                errdetail("Before the copy the worker stores every change already made in the "
                                          "database, so that the copy's trail is complete; it was still at it."),
                                errhint("Run SELECT bemi.sync() in database \"%s\" (or see its bemi.status), then "
                                        "retry: capture of \"%s\" has resumed.",
                                        dbname, dbname)));
            ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                            errmsg("bemi's ingestion worker of database \"%s\" did not stop within %ld s", dbname,
                                   kStopTimeoutMs / 1000),
                            errhint("See bemi.status in database \"%s\" and the server log, then retry: capture of "
                                    "\"%s\" has resumed.",
                                    dbname, dbname)));
        }
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, kPollMs, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

void pause_for_command(Oid database, const char *dbname, bool catch_up) {
    const pid_t pid = take_pause(database, catch_up);
    if (pid != 0)
        wait_for_worker(database, pid, catch_up, dbname);
}

// The template a CREATE DATABASE copies: its TEMPLATE option, else template1.
const char *template_of(const CreatedbStmt *create) {
    ListCell *cell;
    foreach (cell, create->options) {
        const auto *option = static_cast<const DefElem *>(lfirst(cell));
        if (strcmp(option->defname, "template") == 0) {
            const char *name = defelem_value(option);
            return name ? name : "template1"; // TEMPLATE DEFAULT
        }
    }
    return "template1";
}

// The database a DROP DATABASE this role may run will drop (the checks PostgreSQL makes
// before it looks at other sessions), else InvalidOid.
Oid droppable_database(const DropdbStmt *drop) {
    const Oid database = get_database_oid(drop->dbname, true);
    if (!OidIsValid(database) || database == MyDatabaseId || !database_owned_by(database, GetUserId()) ||
        is_template(database))
        return InvalidOid;
    return database;
}

// The dropped database, for after_database_command: its origin is dropped once it is gone.
Oid dropping = InvalidOid;

// Drops the replication origin of a database that is gone, in a subtransaction: a failure
// (there is none to expect) must not abort the DROP DATABASE after its files are removed, so
// it becomes a WARNING and a worker's periodic clean-up drops the origin later.
void drop_origin_of(Oid database) {
    char origin[names::kNameLength];
    names::worker_origin_name_for(database, origin, sizeof origin);
    if (replorigin_by_name(origin, true) == InvalidRepOriginId)
        return;
    HOLD_INTERRUPTS(); // a cancel now would only leave the origin behind
    bool dropped = false;
    ErrorData *error = run_in_subtransaction(
        [origin] {
            replorigin_drop_by_name(origin, true, false);
            return true;
        },
        &dropped);
    if (error != nullptr) {
        ereport(WARNING, (errmsg("bemi: could not drop replication origin \"%s\" of the dropped database: %s", origin,
                                 error->message),
                          errhint("A bemi ingestion worker drops it within a minute.")));
        FreeErrorData(error);
    }
    RESUME_INTERRUPTS();
}

} // namespace

void before_database_command(const Node *statement, bool top_level) {
    dropping = InvalidOid;
    if (IsA(statement, RenameStmt)) {
        // Allowed in a transaction block: the pause then lasts until the block ends (the
        // renamed database is locked against new connections until then anyway).
        const auto *rename = reinterpret_cast<const RenameStmt *>(statement);
        if (shared == nullptr || rename->renameType != OBJECT_DATABASE || rename->subname == nullptr)
            return;
        const Oid database = get_database_oid(rename->subname, true);
        if (!OidIsValid(database) || database == MyDatabaseId || !database_owned_by(database, GetUserId()) ||
            !has_createdb_privilege())
            return;
        pause_for_command(database, rename->subname, false);
        return;
    }
    // PostgreSQL runs neither inside a transaction block or a function: it says so itself.
    if (!top_level || IsTransactionBlock())
        return;
    if (IsA(statement, DropdbStmt)) {
        const auto *drop = reinterpret_cast<const DropdbStmt *>(statement);
        const Oid database = droppable_database(drop);
        if (!OidIsValid(database))
            return; // PostgreSQL's error (or notice), with capture untouched
        dropping = database;
        if (shared != nullptr)
            pause_for_command(database, drop->dbname, false);
    } else if (IsA(statement, CreatedbStmt)) {
        if (shared == nullptr)
            return;
        const char *name = template_of(reinterpret_cast<const CreatedbStmt *>(statement));
        const Oid database = get_database_oid(name, true);
        if (!OidIsValid(database) || !has_createdb_privilege() ||
            (!is_template(database) && !database_owned_by(database, GetUserId())))
            return;
        pause_for_command(database, name, true);
    }
}

void after_database_command(const Node *statement) {
    if (!IsA(statement, DropdbStmt) || !OidIsValid(dropping))
        return;
    const Oid database = dropping;
    dropping = InvalidOid;
    Pause *held = held_pause(database);
    if (held != nullptr)
        held->dropped = true;
    drop_origin_of(database);
}

} // namespace bemi_pg
