// The one boundary between C++ exceptions and PostgreSQL errors.
//
// PostgreSQL reports errors with longjmp, which skips C++ destructors; C++ reports them with
// exceptions, which PostgreSQL frames cannot unwind. So:
//   - PostgreSQL-free code (src/core) may throw; it is only ever called through run_core(),
//     which catches everything and raises the matching ereport(ERROR) after the catch block
//     has ended and every C++ object of the call is destroyed.
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

// Runs fn, which must not call into PostgreSQL. Returns normally if fn did; otherwise raises
// ERROR (OptionError -> invalid_parameter_value with its hint, bad_alloc -> out_of_memory,
// anything else -> internal_error), prefixed with what.
template <typename Fn>
void run_core(const char *what, Fn &&fn) {
    CoreFailure failure;
    failure.message[0] = failure.hint[0] = '\0';
    try {
        std::forward<Fn>(fn)();
        return;
    } catch (const bemi::OptionError &e) {
        failure.sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
        strlcpy(failure.message, e.what(), sizeof failure.message);
        strlcpy(failure.hint, e.hint().c_str(), sizeof failure.hint);
    } catch (const std::bad_alloc &) {
        failure.sqlstate = ERRCODE_OUT_OF_MEMORY;
        strlcpy(failure.message, "out of memory", sizeof failure.message);
    } catch (const std::exception &e) {
        failure.sqlstate = ERRCODE_INTERNAL_ERROR;
        strlcpy(failure.message, e.what(), sizeof failure.message);
    } catch (...) {
        failure.sqlstate = ERRCODE_INTERNAL_ERROR;
        strlcpy(failure.message, "unknown C++ exception", sizeof failure.message);
    }
    // Outside the catch blocks: the exception object and fn's locals are gone.
    ereport(ERROR, (errcode(failure.sqlstate), errmsg("%s: %s", what, failure.message),
                    failure.hint[0] ? errhint("%s", failure.hint) : 0));
}

} // namespace bemi_pg
