// The one boundary between C++ exceptions and PostgreSQL errors (docs/architecture.md, "Error
// boundary").
//
// PostgreSQL reports errors with longjmp, which skips C++ destructors; C++ reports them with
// exceptions, which PostgreSQL frames cannot unwind. So:
//   - PostgreSQL-free code (src/core) may throw; it is only ever called through run_core(),
//     which catches everything and raises the matching ereport(ERROR) after the catch block
//     has ended and every C++ object of the call is destroyed.
//   - Every SQL-callable function is defined with BEMI_FUNCTION and every background worker
//     main with BEMI_BGWORKER_MAIN: both turn a C++ exception that escaped anyway into an
//     ERROR (FATAL for a worker) instead of a crash of the whole server.
//   - A background worker catches PostgreSQL errors in exactly one way: run_recovering(),
//     which recovers as autovacuum does (recover_from_error) and lets the loop go on.
//   - Inside a transaction, an ERROR is caught in one way: run_in_subtransaction().
//   - Code under src/pg calls PostgreSQL freely, but keeps no object with a destructor alive
//     across such calls: only PODs, palloc'd memory and pointers.
#pragma once

#include "pg/postgres_headers.hpp"

#include <exception>
#include <utility>

#include "bemi/options.hpp"

namespace bemi_pg {

struct CoreFailure {
    int sqlstate = 0;
    char message[512];
    char hint[512];
};

// Fills failure from the exception being handled. Call only inside a catch block.
void describe_current_exception(CoreFailure *failure) noexcept;

// Runs fn, which must not call into PostgreSQL. Returns normally if fn did; otherwise raises
// ERROR (OptionError -> invalid_parameter_value with its hint, bad_alloc -> out_of_memory,
// anything else -> internal_error), prefixed with what.
template <typename Fn>
void run_core(const char *what, Fn &&fn) {
    CoreFailure failure;
    try {
        std::forward<Fn>(fn)();
        return;
    } catch (...) {
        describe_current_exception(&failure);
    }
    // Outside the catch block: the exception object and fn's locals are gone.
    ereport(ERROR, (errcode(failure.sqlstate), errmsg("%s: %s", what, failure.message),
                    failure.hint[0] ? errhint("%s", failure.hint) : 0));
}

// The body of an entry point: a PostgreSQL ERROR passes through (longjmp, as from any C
// function); a C++ exception becomes an ERROR of elevel, raised after the catch block.
template <typename Result, typename Fn>
Result run_entry(const char *what, int elevel, Fn &&fn) {
    CoreFailure failure;
    try {
        return std::forward<Fn>(fn)();
    } catch (...) {
        describe_current_exception(&failure);
    }
    ereport(elevel, (errcode(failure.sqlstate), errmsg("%s: %s", what, failure.message),
                     failure.hint[0] ? errhint("%s", failure.hint) : 0));
    pg_unreachable();
}

// What a caught ERROR said, copied out of the error state before it is flushed.
struct ErrorText {
    char message[256];
    char hint[256];
};

// After a PostgreSQL ERROR caught in a background worker's loop, what PostgresMain and
// autovacuum do before going on: report the error, abort the transaction if any, and
// release what an ERROR outside a transaction leaves held (LWLocks, a wait event, a
// condition variable sleep, buffer pins and locks, a replication slot), then reset
// loop_cxt and switch to it. error receives the error's message and hint. A process that keeps
// a replication slot acquired across turns, with a decoding context built on it, passes
// release_slot: it frees that context and releases the slot (FreeDecodingContext needs the
// slot still acquired), after the transaction is aborted.
using SlotRelease = void (*)();
void recover_from_error(MemoryContext loop_cxt, ErrorText *error, SlotRelease release_slot = nullptr);

// The only way a background worker catches PostgreSQL errors: runs step() (which must keep
// no object with a destructor alive across PostgreSQL calls) in loop_cxt; on ERROR recovers
// with recover_from_error and returns false with the error's text in error.
template <typename Fn>
bool run_recovering(MemoryContext loop_cxt, ErrorText *error, Fn &&step, SlotRelease release_slot = nullptr) {
    volatile bool ok = true;
    MemoryContextSwitchTo(loop_cxt);
    PG_TRY();
    {
        std::forward<Fn>(step)();
    }
    PG_CATCH();
    {
        recover_from_error(loop_cxt, error, release_slot);
        ok = false;
    }
    PG_END_TRY();
    return ok;
}

// The one way code under src/pg catches an ERROR inside a transaction: runs step() (which must
// keep no object with a destructor alive across PostgreSQL calls) in an internal subtransaction,
// as PL/pgSQL's EXCEPTION blocks do. step returns whether to keep its work: true commits the
// subtransaction, false rolls it back. An ERROR rolls it back too, and comes back as a copy
// (in the caller's memory context; NULL when there was none), for the caller to re-raise
// (ReThrowError) or report and free (FreeErrorData). The caller's memory context and resource
// owner are current again on return. *kept: whether the subtransaction committed.
template <typename Fn>
ErrorData *run_in_subtransaction(Fn &&step, bool *kept) {
    const MemoryContext cxt = CurrentMemoryContext;
    const ResourceOwner owner = CurrentResourceOwner;
    ErrorData *volatile error = nullptr; // set between setjmp and a possible longjmp
    volatile bool keep = false;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(cxt);
    PG_TRY();
    {
        keep = std::forward<Fn>(step)();
        if (keep)
            ReleaseCurrentSubTransaction();
        else
            RollbackAndReleaseCurrentSubTransaction();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        error = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        keep = false;
    }
    PG_END_TRY();
    MemoryContextSwitchTo(cxt);
    CurrentResourceOwner = owner;
    *kept = keep;
    return error;
}

} // namespace bemi_pg

// Defines a SQL-callable function name (C linkage, PG_FUNCTION_INFO_V1) whose body runs
// through run_entry: use it for every LANGUAGE c function.
//   BEMI_FUNCTION(bemi_sync) { ... PG_RETURN_BOOL(true); }
#define BEMI_FUNCTION(name)                                                                   \
    extern "C" {                                                                              \
    PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                                                 \
    PG_FUNCTION_INFO_V1(name);                                                                \
    }                                                                                         \
    static Datum name##_body(FunctionCallInfo fcinfo);                                        \
    Datum name(PG_FUNCTION_ARGS) {                                                            \
        return bemi_pg::run_entry<Datum>(#name, ERROR, [fcinfo] { return name##_body(fcinfo); }); \
    }                                                                                         \
    static Datum name##_body(FunctionCallInfo fcinfo)

// Defines a background worker's main function (C linkage): a C++ exception that escapes its
// body ends the worker with FATAL instead of aborting the server. The name may be a macro
// (pg/names.hpp's BEMI_LAUNCHER_MAIN): it is expanded before it is pasted.
#define BEMI_BGWORKER_MAIN(name) BEMI_BGWORKER_MAIN_(name)
#define BEMI_BGWORKER_MAIN_(name)                                                             \
    extern "C" {                                                                              \
    PGDLLEXPORT void name(Datum main_arg);                                                    \
    }                                                                                         \
    static void name##_body(Datum main_arg);                                                  \
    void name(Datum main_arg) {                                                               \
        bemi_pg::run_entry<void>(#name, FATAL, [main_arg] { name##_body(main_arg); });        \
    }                                                                                         \
    static void name##_body(Datum main_arg)
