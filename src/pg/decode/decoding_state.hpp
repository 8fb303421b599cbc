// Everything one decoding session keeps between callbacks (ctx->output_plugin_private).
#pragma once

#include "pg/decode/value_writer.hpp"
#include "pg/postgres_headers.hpp"

namespace bemi {
struct Options;
}

namespace bemi_pg {

struct TransactionState {
    uint64 full_xid;          // with epoch: never wraps
    uint32 next_seq;          // ordinal of the next change the server delivers
    uint64 emitted;           // records written for this transaction
    bool skipped;             // made by bemi's own ingestion origin
    bool begin_written;       // the BEGIN record is out (include-transaction)
    const char *context;      // single-line JSON object, "{}" when none
    int context_len;
    const char *actor;        // ,"actor":{...} from the last signed message; "" when none
    int actor_len;
    const char *suffix;       // ,"commit_position":N,"committed_at":"..."}
    int suffix_len;
};

// The last context message validated, and what it became. Records point into it, so it is
// replaced only by the next distinct message.
struct ContextCache {
    char *payload; // the message as received
    Size payload_len;
    char *context; // its single-line JSON object (or the invalid-context marker)
    int context_len;
};

struct DecodingState {
    const bemi::Options *options;
    MemoryContext session_cxt; // ctx->context: lives as long as the decoding session
    MemoryContext change_cxt; // reset after every record
    MemoryContext txn_cxt;    // reset at every BEGIN
    int guc_nest_level;
    RepOriginId ingest_origin; // this database's ingestion origin, when known at startup
    const char *database_json; // "dbname", escaped with quotes; set at first BEGIN
    StringInfoData key;        // scratch for the primary key
    StringInfoData old_key;    // scratch for the previous primary key
    // Deformed tuples, sized for the widest relation seen.
    int tuple_capacity;
    Datum *new_values;
    bool *new_nulls;
    Datum *old_values;
    bool *old_nulls;
    TransactionState txn;
    ContextCache context_cache;
    StringInfoData actor; // what txn.actor points to, rewritten by each signed message
    FallbackLog fallbacks; // of the record being written
};

} // namespace bemi_pg
