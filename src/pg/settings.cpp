#include "pg/settings.hpp"

#include "pg/compat.hpp"

#include "bemi/context.hpp"

namespace bemi_pg {

char *context_setting = nullptr;
uint64_t context_generation = 0;
bool capture_sql = true;
int max_sql_bytes = 8192;
int max_context_bytes = 8192;
bool capture_client_addr = false;
int time_travel_wait = 5000;
bool time_travel_backward = true;
int time_travel_memory = 256 * 1024;
int retention = 0;
char *partition_interval = nullptr;

int test_fault = static_cast<int>(TestFault::kNone);

namespace {

// The one name table of TestFault.
const struct config_enum_entry kTestFaultNames[] = {
    {"none", static_cast<int>(TestFault::kNone), false},
    {"launcher_error_holding_lock", static_cast<int>(TestFault::kLauncherErrorHoldingLock), false},
    {"worker_error_holding_lock", static_cast<int>(TestFault::kWorkerErrorHoldingLock), false},
    {"retention_pause_after_horizon", static_cast<int>(TestFault::kRetentionPauseAfterHorizon), false},
    {nullptr, 0, false},
};

// A check hook must not raise, and no exception may leave it.
bool check_context_setting(char **newval, void **, GucSource) {
    if (*newval == nullptr || **newval == '\0')
        return true;
    const char *reason = nullptr;
    try {
        bemi::ContextCheck check = bemi::check_context(*newval, static_cast<size_t>(max_context_bytes));
        if (check.valid)
            return true;
        reason = check.reason;
    } catch (...) {
        reason = "could not be validated";
    }
    GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
    GUC_check_errmsg("bemi.context must be a JSON object: %s", reason);
    GUC_check_errhint("Use bemi_set_context('{\"user_id\": 1}'::jsonb); bemi.max_context_bytes is %d.",
                      max_context_bytes);
    return false;
}

void assign_context_setting(const char *, void *) {
    ++context_generation;
}

} // namespace

void define_settings() {
    DefineCustomStringVariable("bemi.context", "Application context recorded with this session's changes.",
                               "A JSON object; set it with bemi_set_context().", &context_setting, "",
                               PGC_USERSET, GUC_NOT_IN_SAMPLE, check_context_setting, assign_context_setting,
                               nullptr);
    DefineCustomBoolVariable("bemi.capture_sql", "Records the statement that made each change under \"SQL\".",
                             "Turn off when statements may carry secrets.", &capture_sql, true, PGC_SUSET, 0,
                             nullptr, nullptr, nullptr);
    DefineCustomIntVariable("bemi.max_sql_bytes", "Longest statement text recorded; longer ones are cut.", nullptr,
                            &max_sql_bytes, 8192, 64, 1024 * 1024, PGC_SUSET, GUC_UNIT_BYTE, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("bemi.max_context_bytes",
                            "Largest application context accepted from bemi_set_context or a SQL comment.", nullptr,
                            &max_context_bytes, 8192, 64, 1024 * 1024, PGC_SUSET, GUC_UNIT_BYTE, nullptr, nullptr,
                            nullptr);
    DefineCustomEnumVariable("bemi.test_fault", "Test suite only: makes a bemi background worker fail on purpose.",
                             "Leave at none.", &test_fault, static_cast<int>(TestFault::kNone), kTestFaultNames,
                             PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL, nullptr, nullptr, nullptr);
    // Superuser-only: a session must not decide whether its own address is on record.
    DefineCustomBoolVariable("bemi.capture_client_addr",
                             "Adds the client's IP address to the actor of each change (\"client_addr\").",
                             "Behind a connection pooler this is the pooler's address.", &capture_client_addr, false,
                             PGC_SUSET, 0, nullptr, nullptr, nullptr);
    // Any role may change it in its session: it bounds only the caller's own wait.
    DefineCustomIntVariable("bemi.time_travel_wait",
                            "How long bemi.as_of waits for capture to store a commit later than the instant asked for.",
                            "READ COMMITTED only; 0 answers or refuses at once.", &time_travel_wait, 5000, 0,
                            3600 * 1000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    // Any role: it only chooses between two ways of computing the same answer.
    DefineCustomBoolVariable("bemi.time_travel_backward",
                             "Lets the typed bemi.as_of answer from the live table, patched with the rows changed "
                             "after the instant, when that is provably the same answer.",
                             "off: always rebuild every row from the baseline and the stored changes "
                             "(docs/time-travel.md, \"Backward from the live table\").",
                             &time_travel_backward, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    // Any role, as work_mem is: a whole table's rows pass through an answer, and at work_mem's
    // default most of them would go to a temporary file.
    DefineCustomIntVariable("bemi.time_travel_memory",
                            "Memory for the rows of one typed bemi.as_of answer before they spill to a temporary file.",
                            "work_mem is used when it is larger.", &time_travel_memory, 256 * 1024, 64, MAX_KILOBYTES,
                            PGC_USERSET, GUC_UNIT_KB, nullptr, nullptr, nullptr);
    // Superuser only, server-wide (postgresql.conf or ALTER SYSTEM, then a reload): it decides
    // what history every database loses. The ingestion workers read it between turns.
    DefineCustomIntVariable("bemi.retention",
                            "How long the audit trail keeps history; older partitions of bemi.changes are dropped.",
                            "0 keeps history forever. Time travel refuses instants before the horizon "
                            "(docs/time-travel.md, \"Retention\").",
                            &retention, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
    // Superuser-only: it shapes the audit trail's layout (bemi._partition_interval checks it).
    DefineCustomStringVariable("bemi.partition_interval", "Width of the partitions of bemi.changes created from now on.",
                               "A whole number of minutes dividing a day, or of days; bounds are aligned on UTC.",
                               &partition_interval, "1 day", PGC_SUSET, 0, nullptr, nullptr, nullptr);
    reserve_guc_prefix("bemi");
}

} // namespace bemi_pg
