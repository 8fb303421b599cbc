// The names bemi gives things that live outside its code: the logical message the capture
// hooks emit and the decoder listens for, the replication slots and origins the workers own,
// the background workers the postmaster starts by name. Each one is spelled here only, so the
// side that makes a name and the side that recognizes it cannot drift apart; tests, docs and
// users see these exact strings.
//
// The C code builds none of them by hand. Outside it, these spell them as literals (keep them
// in step when a name changes here):
//   - sql/0.3/10-trail.sql (frozen, released): the watermark seed of the upgrade to 0.3 names
//     a database's slot 'bemi_' || oid and its origin 'bemi_ingest_' || oid;
//   - test/lib/worker.sh, bench/*.sh and the shell tests that assert them: the worker's
//     backend_type 'bemi ingest worker' (kIngestWorkerType), slots bemi_<oid>, origins
//     bemi_ingest_*;
//   - docs/ingestion.md and docs/capture.md, for users.
#pragma once

#include "pg/postgres_headers.hpp"

// The shared library, its output plugin, the extension and the extension's schema all share
// this name (a macro so that SQL text can be assembled from it at compile time).
#define BEMI_NAME "bemi"
// Every replication origin whose changes bemi never captures starts with this.
#define BEMI_INGEST_ORIGIN_PREFIX BEMI_NAME "_ingest"

// The background workers' entry points: defined with BEMI_BGWORKER_MAIN(BEMI_LAUNCHER_MAIN)
// and registered by the string below, so the symbol and its registration are one name.
#define BEMI_LAUNCHER_MAIN bemi_launcher_main
#define BEMI_INGEST_WORKER_MAIN bemi_ingest_worker_main
#define BEMI_STRINGIFY_(x) #x
#define BEMI_STRINGIFY(x) BEMI_STRINGIFY_(x)
#define BEMI_INGEST_WORKER_TYPE BEMI_NAME " ingest worker"

namespace bemi_pg::names {

constexpr char kLibrary[] = BEMI_NAME;   // bgw_library_name; the output plugin of bemi's slots
constexpr char kExtension[] = BEMI_NAME; // CREATE EXTENSION bemi
constexpr char kSchema[] = BEMI_NAME;    // the extension's schema

// pg_logical_emit_message prefix of a statement's context (docs/capture.md).
constexpr char kContextMessagePrefix[] = "_" BEMI_NAME;

// Slot of a database's ingestion worker: kSlotPrefix + database oid.
constexpr char kSlotPrefix[] = BEMI_NAME "_";
// Origins: what the decoder skips (every name starting with kIngestOriginPrefix), the
// worker's own (+ database oid) and a restoring session's (bemi.restoring, + its pid). They
// are matched as regular expressions too: keep them to letters and underscores.
constexpr char kIngestOriginPrefix[] = BEMI_INGEST_ORIGIN_PREFIX;
constexpr char kWorkerOriginPrefix[] = BEMI_INGEST_ORIGIN_PREFIX "_";
constexpr char kRestoreOriginPrefix[] = BEMI_INGEST_ORIGIN_PREFIX "_restore_";

// Room for any of these names (and for a database name: NAMEDATALEN).
constexpr int kNameLength = 64;

// Background workers: bgw_function_name, bgw_type (also the worker's application_name) and
// bgw_name.
constexpr char kLauncherMain[] = BEMI_STRINGIFY(BEMI_LAUNCHER_MAIN);
constexpr char kIngestWorkerMain[] = BEMI_STRINGIFY(BEMI_INGEST_WORKER_MAIN);
constexpr char kLauncherType[] = BEMI_NAME " launcher";
constexpr char kIngestWorkerType[] = BEMI_INGEST_WORKER_TYPE;
constexpr char kIngestWorkerNameFormat[] = BEMI_INGEST_WORKER_TYPE " for database %u";

inline void slot_name_for(Oid database, char *out, size_t size) {
    snprintf(out, size, "%s%u", kSlotPrefix, database);
}

inline void worker_origin_name_for(Oid database, char *out, size_t size) {
    snprintf(out, size, "%s%u", kWorkerOriginPrefix, database);
}

inline void restore_origin_name_for(int pid, char *out, size_t size) {
    snprintf(out, size, "%s%d", kRestoreOriginPrefix, pid);
}

} // namespace bemi_pg::names
