// The top-level fields of one record as the ingestion worker reads them back, without building
// the record's jsonb: where each field's value lies in the text, and the plain contents of its
// strings. Only before, after, context and the other objects still go through jsonb's input
// function, each on its own (docs/ingestion.md, "One batch").
//
// It reads what bemi's record writer writes (docs/record-format.md). Anything else — a key the
// format does not have, a structure it cannot follow, a string escape that needs the database
// encoding — is reported as not understood, and the caller parses the whole record as before.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bemi {

// In the order the writer writes them (a row record's, then a BEGIN or COMMIT record's own).
enum class RecordKey : uint8_t {
    Database, Schema, Table, RootSchema, RootTable, Operation, PrimaryKey, PreviousPrimaryKey, Before, After,
    UnchangedToast, Fallback, Context, Actor, TransactionId, Seq, Position, CommitPosition, CommittedAt, Changes,
    Count
};

constexpr size_t kRecordKeys = static_cast<size_t>(RecordKey::Count);

// The record's key for k, as written.
const char *record_key_name(RecordKey k) noexcept;

enum class JsonKind : uint8_t { Missing, String, Number, Object, Array, True, False, Null };

struct JsonSpan {
    JsonKind kind;
    const char *data; // a string's contents between its quotes; else the value's whole text
    size_t len;
    bool escaped;     // a string holding a backslash (unescape_json_string gives its contents)
};

struct RecordFields {
    JsonSpan field[kRecordKeys];
    const JsonSpan &operator[](RecordKey k) const { return field[static_cast<size_t>(k)]; }
};

// Fills out with the spans of the record's top-level fields (kind Missing for a key it does not
// have; the last one for a key written twice, as jsonb keeps it). False when the text is not one
// JSON object whose keys are all RecordKeys, or a value's end cannot be found. Values are not
// validated beyond their ends: strings by unescape_json_string, numbers by parse_json_int,
// objects and arrays by whoever parses them.
bool split_record(const char *data, size_t len, RecordFields *out) noexcept;

// The contents of a string span with escapes, into out (room for span.len bytes: never longer).
// Returns the length written, or -1 for text jsonb would refuse (a raw control character, an
// unknown escape) or an escape \uXXXX above \u007F (converted in the database's encoding: left
// to PostgreSQL) or \u0000.
long unescape_json_string(const char *data, size_t len, char *out) noexcept;

// A JSON integer span (-?(0|[1-9][0-9]*)) as int64; false for anything else or out of range.
bool parse_json_int(const JsonSpan &span, int64_t *value) noexcept;

} // namespace bemi
