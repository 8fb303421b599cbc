// Automatic capture: before a statement modifies rows, emit a transactional "_bemi" message
// carrying the context in force, the client's statement and, signed, who is making the
// change (pg/actor.hpp), so that the decoder stitches them to every change that follows
// (docs/capture.md).
//
// A message is emitted only when (context, client statement, author) differs from the last message
// still live in the transaction, so a statement that touches a million rows, or fires
// triggers and cascades, costs one message; statement A, then B, then A again costs three.
#include "pg/capture/capture_hooks.hpp"

#include "bemi/actor.hpp"
#include "bemi/statement_context.hpp"
#include "pg/actor.hpp"
#include "pg/boundary.hpp"
#include "pg/compat.hpp"
#include "pg/ingest/database_commands.hpp"
#include "pg/ingest/workers.hpp"
#include "pg/names.hpp"
#include "pg/settings.hpp"

namespace bemi_pg {

namespace {


ExecutorStart_hook_type prev_executor_start = nullptr;
ExecutorRun_hook_type prev_executor_run = nullptr;
ExecutorFinish_hook_type prev_executor_finish = nullptr;
ExecutorEnd_hook_type prev_executor_end = nullptr;
ProcessUtility_hook_type prev_process_utility = nullptr;

// Depth of executor and utility calls, as pg_stat_statements counts it: 0 is the client's.
int nesting_level = 0;

// The statement the client sent, while it runs (source is its query string, which the
// location and length cut down to this statement); source is null between statements.
struct ClientStatement {
    const char *source;
    int location;
    int length;
    uint64 generation;
};
ClientStatement client = {nullptr, 0, 0, 0};
uint64 statement_generations = 0;

// Who a message names as the author. The current user changes inside SECURITY DEFINER
// functions and under SET ROLE, application_name with any SET (a pooler sets it per client),
// so a message says nothing about a statement run by another author.
struct Author {
    Oid session_user;
    Oid current_user;
    const char *application_name; // in TopTransactionContext; null when unknown
    bool client_addr;             // bemi.capture_client_addr when the message was made
};

bool same_author(const Author &a, const Author &b) {
    return a.session_user == b.session_user && a.current_user == b.current_user &&
           a.client_addr == b.client_addr && a.application_name != nullptr && b.application_name != nullptr &&
           strcmp(a.application_name, b.application_name) == 0;
}

Author current_author() {
    return Author{GetSessionUserId(), GetUserId(), application_name ? application_name : "", capture_client_addr};
}

// The last context message emitted in this transaction and not undone since.
struct LiveMessage {
    bool live;
    uint64 context_generation;
    uint64 statement_generation;
    Author author;
    char *text; // in TopTransactionContext
    int length;
};
LiveMessage last = {false, 0, 0, {InvalidOid, InvalidOid, nullptr, false}, nullptr, 0};

uint64 warned_generation = 0;
bool extension_checked = false;
bool extension_present = false;

void forget_live_message() {
    last.live = false;
    last.text = nullptr; // its memory belongs to the transaction
    last.author.application_name = nullptr;
}

void xact_callback(XactEvent event, void *) {
    switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
        forget_live_message();
        extension_checked = false;
        if (event == XACT_EVENT_ABORT)
            client.source = nullptr;
        break;
    default:
        break;
    }
}

// A message emitted in a subtransaction that rolls back is discarded by the server: the
// next change must get a new one. (Forgetting a message from before the subtransaction only
// costs one more message.)
//
// The client's statement goes only when the error ended it (it unwound to the top: nesting
// 0); an exception block inside a function rolls back a subtransaction while the client's
// statement keeps running, and its later changes still belong to it.
void subxact_callback(SubXactEvent event, SubTransactionId, SubTransactionId, void *) {
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        forget_live_message();
        if (nesting_level == 0)
            client.source = nullptr;
    }
}

bool extension_installed() {
    if (!extension_checked) {
        Oid schema = get_namespace_oid(names::kSchema, true);
        extension_present = OidIsValid(schema) && OidIsValid(get_relname_relid("changes", schema));
        extension_checked = true;
    }
    return extension_present;
}

bool capture_possible() {
    return XLogLogicalInfoActive() && !RecoveryInProgress() && !IsParallelWorker() && !in_ingest_worker &&
           IsTransactionState() && extension_installed();
}

// A statement at nesting level 0 is the client's when its text is the query the client sent:
// the same pointer for simple queries, an equal copy for the extended protocol (a portal
// keeps its own copy of the prepared statement's text).
bool is_client_text(const char *source) {
    return source != nullptr && debug_query_string != nullptr &&
           (source == debug_query_string || strcmp(source, debug_query_string) == 0);
}

void note_client_statement(const char *source, int location, int length) {
    if (nesting_level != 0 || !is_client_text(source))
        return;
    client.source = source;
    client.location = location;
    client.length = length;
    client.generation = ++statement_generations;
}

void end_client_statement() {
    if (nesting_level == 0)
        client.source = nullptr;
}

// Appends the actor part (bemi/actor.hpp) to a context message: the author as the server
// knows it, signed for this transaction so that the decoder believes only the hooks.
// Without the key the message stays context only and a WARNING has said why.
void append_signed_actor(char **message, size_t *message_length) {
    StringInfoData actor;
    initStringInfo(&actor);
    append_session_actor(&actor);
    char mac[kActorMacHexBytes + 1];
    // The message is transactional: logging it assigns the transaction id anyway.
    const uint64 full_xid = U64FromFullTransactionId(GetTopFullTransactionId());
    if (actor_mac(full_xid, MyDatabaseId, actor.data, actor.len, mac)) {
        StringInfoData signed_message;
        initStringInfo(&signed_message);
        appendBinaryStringInfo(&signed_message, *message, static_cast<int>(*message_length));
        appendStringInfoChar(&signed_message, '\0');
        appendBinaryStringInfo(&signed_message, bemi::kActorTag.data(), static_cast<int>(bemi::kActorTag.size()));
        appendBinaryStringInfo(&signed_message, mac, kActorMacHexBytes);
        appendStringInfoChar(&signed_message, ':');
        appendBinaryStringInfo(&signed_message, actor.data, actor.len);
        pfree(*message);
        *message = signed_message.data;
        *message_length = static_cast<size_t>(signed_message.len);
    }
    pfree(actor.data);
}

// Builds and emits the message for the current statement, unless the live one says the same.
// fallback_* describe the statement being started, used when no client statement is running
// (deferred triggers at COMMIT, background workers).
void emit_context_message(const char *fallback_source, int fallback_location, int fallback_length) {
    if (!capture_possible())
        return;
    const bool have_client = client.source != nullptr;
    const uint64 statement_generation = have_client ? client.generation : 0;
    const Author author = current_author();
    const bool same_live_author = last.live && same_author(last.author, author);
    if (same_live_author && last.context_generation == context_generation &&
        last.statement_generation == statement_generation && statement_generation != 0)
        return;
    // Without a client statement (a deferred trigger at COMMIT, say), the changes belong to
    // the transaction's last statement: keep its message if there is one.
    if (!have_client && same_live_author && last.context_generation == context_generation)
        return;

    // The statement and its /*Bemi*/ marker, cut out of the query string by the parser's
    // location and length (the statement's extent: see find_statement), read with the
    // server's string rules. standard_conforming_strings is read as it is now, when the
    // statement starts; that is the value the server parsed it with unless the same query
    // string (or, for a prepared statement, the session between Parse and Execute) changed it.
    const char *source = have_client ? client.source : fallback_source ? fallback_source : "";
    const int location = have_client ? client.location : fallback_source ? fallback_location : 0;
    const int length = have_client ? client.length : fallback_source ? fallback_length : 0;
    const size_t source_length = strlen(source);
    const bool standard_strings = standard_conforming_strings;
    bemi::StatementText statement; // string_views into source: nothing to destroy
    run_core("bemi: statement text", [&] {
        statement = bemi::find_statement(std::string_view(source, source_length), location, length, standard_strings);
    });
    const int statement_length = static_cast<int>(statement.sql.size());
    const int sql_length = capture_sql ? pg_mbcliplen(statement.sql.data(), statement_length, max_sql_bytes) : 0;
    const char *context = context_setting ? context_setting : "";
    const size_t context_length = strlen(context);

    // Sized before the C++ call, so no PostgreSQL function runs while C++ objects live.
    const size_t capacity =
        bemi::context_message_bound(context_length, statement.body.size(), sql_length);
    char *message = static_cast<char *>(palloc(capacity + 1));
    size_t message_length = 0;
    const char *comment_problem = nullptr;
    const size_t comment_limit = static_cast<size_t>(max_context_bytes);
    run_core("bemi: context message", [&] {
        bemi::CommentContext comment = bemi::read_marker(statement, comment_limit);
        if (comment.kind == bemi::CommentContext::Kind::Invalid)
            comment_problem = comment.reason;
        std::string built = bemi::build_context_message(context, comment, statement.sql.substr(0, sql_length),
                                                        capture_sql);
        if (built.size() > capacity)
            throw std::length_error("context message exceeds its bound");
        memcpy(message, built.data(), built.size());
        message_length = built.size();
    });
    message[message_length] = '\0';
    append_signed_actor(&message, &message_length);

    if (comment_problem && warned_generation != statement_generation) {
        warned_generation = statement_generation;
        ereport(WARNING, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                          errmsg("bemi: ignoring the /*Bemi ... Bemi*/ comment of this statement: %s",
                                 comment_problem),
                          errdetail("The change is recorded with \"_invalid_comment\" in its context."),
                          errhint("The comment must hold a JSON object of at most bemi.max_context_bytes (%d).",
                                  max_context_bytes)));
    }

    const bool same_as_live = last.live && last.length == static_cast<int>(message_length) &&
                              memcmp(last.text, message, message_length) == 0;
    // With nothing live, an empty context and no actor need no message: changes default to {}.
    const bool nothing_to_say = !last.live && message_length == 2;
    if (!same_as_live && !nothing_to_say) {
        log_transactional_message(names::kContextMessagePrefix, message, message_length);
        if (last.text)
            pfree(last.text);
        // The text holds a NUL before the actor part: copy by length.
        last.text = static_cast<char *>(MemoryContextAlloc(TopTransactionContext, message_length + 1));
        memcpy(last.text, message, message_length + 1);
        last.length = static_cast<int>(message_length);
        last.live = true;
    }
    last.context_generation = context_generation;
    last.statement_generation = statement_generation;
    if (last.author.application_name == nullptr || strcmp(last.author.application_name, author.application_name) != 0)
        last.author.application_name = MemoryContextStrdup(TopTransactionContext, author.application_name);
    last.author.session_user = author.session_user;
    last.author.current_user = author.current_user;
    last.author.client_addr = author.client_addr;
    pfree(message);
}

bool plan_modifies_rows(const QueryDesc *query) {
    switch (query->operation) {
    case CMD_INSERT:
    case CMD_UPDATE:
    case CMD_DELETE:
#if PG_VERSION_NUM >= 150000
    case CMD_MERGE:
#endif
        return true;
    default:
        return query->plannedstmt->hasModifyingCTE;
    }
}

void bemi_executor_start(QueryDesc *query, int eflags) {
    note_client_statement(query->sourceText, query->plannedstmt->stmt_location, query->plannedstmt->stmt_len);
    if (prev_executor_start)
        prev_executor_start(query, eflags);
    else
        standard_ExecutorStart(query, eflags);
    // After the executor's own checks (permissions, read-only transactions) and before any
    // row changes, which only ExecutorRun makes.
    if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 && plan_modifies_rows(query))
        emit_context_message(query->sourceText, query->plannedstmt->stmt_location, query->plannedstmt->stmt_len);
}

void bemi_executor_run(QueryDesc *query, ScanDirection direction, uint64 count, bool execute_once) {
    ++nesting_level;
    PG_TRY();
    {
        if (prev_executor_run)
            prev_executor_run(query, direction, count, execute_once);
        else
            standard_ExecutorRun(query, direction, count, execute_once);
    }
    PG_FINALLY();
    {
        --nesting_level;
    }
    PG_END_TRY();
}

void bemi_executor_finish(QueryDesc *query) {
    ++nesting_level;
    PG_TRY();
    {
        if (prev_executor_finish)
            prev_executor_finish(query);
        else
            standard_ExecutorFinish(query);
    }
    PG_FINALLY();
    {
        --nesting_level;
    }
    PG_END_TRY();
}

void bemi_executor_end(QueryDesc *query) {
    if (prev_executor_end)
        prev_executor_end(query);
    else
        standard_ExecutorEnd(query);
    end_client_statement();
}

// CREATE TABLE AS and SELECT INTO fill a new table through a plain SELECT plan, which the
// executor hooks do not see as modifying: its rows are decoded like inserts all the same.
// (A materialized view's rows are not decoded.)
bool utility_modifies_rows(const Node *statement) {
    if (IsA(statement, CopyStmt))
        return reinterpret_cast<const CopyStmt *>(statement)->is_from;
    if (IsA(statement, CreateTableAsStmt))
        return reinterpret_cast<const CreateTableAsStmt *>(statement)->objtype == OBJECT_TABLE;
    return IsA(statement, TruncateStmt);
}

void bemi_process_utility(PlannedStmt *pstmt, const char *query_string, bool read_only_tree,
                          ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *query_env,
                          DestReceiver *dest, QueryCompletion *completion) {
    Node *statement = pstmt->utilityStmt;
    before_database_command(statement, context == PROCESS_UTILITY_TOPLEVEL);
    note_client_statement(query_string, pstmt->stmt_location, pstmt->stmt_len);
    if (utility_modifies_rows(statement))
        emit_context_message(query_string, pstmt->stmt_location, pstmt->stmt_len);
    ++nesting_level;
    PG_TRY();
    {
        if (prev_process_utility)
            prev_process_utility(pstmt, query_string, read_only_tree, context, params, query_env, dest, completion);
        else
            standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest,
                                    completion);
        after_database_command(statement);
    }
    PG_FINALLY();
    {
        --nesting_level;
    }
    PG_END_TRY();
    end_client_statement();
}

} // namespace

void install_capture_hooks() {
    prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = bemi_executor_start;
    prev_executor_run = ExecutorRun_hook;
    ExecutorRun_hook = bemi_executor_run;
    prev_executor_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = bemi_executor_finish;
    prev_executor_end = ExecutorEnd_hook;
    ExecutorEnd_hook = bemi_executor_end;
    prev_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = bemi_process_utility;
    RegisterXactCallback(xact_callback, nullptr);
    RegisterSubXactCallback(subxact_callback, nullptr);
}

} // namespace bemi_pg
