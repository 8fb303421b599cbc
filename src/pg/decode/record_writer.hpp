// Writes the records of docs/record-format.md into the plugin's output buffer.
#pragma once

#include "pg/decode/decoding_state.hpp"
#include "pg/decode/relation_cache.hpp"

namespace bemi_pg {

// One INSERT/UPDATE/DELETE. Returns false (writing nothing) for any other change type.
bool write_row_record(StringInfo out, DecodingState *state, RelationInfo *info, Relation rel,
                      ReorderBufferChange *change, uint32 seq);

void write_truncate_record(StringInfo out, DecodingState *state, RelationInfo *info, uint32 seq,
                           XLogRecPtr lsn);

// BEGIN or COMMIT, with include-transaction.
void write_transaction_record(StringInfo out, DecodingState *state, const char *operation);

// A logical message other than context, with include-messages.
void write_message_record(StringInfo out, DecodingState *state, bool transactional, const char *prefix,
                          const char *content, Size size, XLogRecPtr lsn);

} // namespace bemi_pg
