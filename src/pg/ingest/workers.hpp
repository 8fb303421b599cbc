// The ingestion workers: a launcher and one worker per database with the extension.
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

// Called from _PG_init only while process_shared_preload_libraries_in_progress: requests
// shared memory, installs the shared-memory startup hook and registers the launcher.
void workers_init_preload();

// Called from workers_init_preload: every backend wakes its database's idle worker when a
// transaction that wrote commits (commit_wake.cpp).
void commit_wake_init_preload();

// True when an ingestion worker is connected to that database.
bool ingest_worker_serves(Oid database);

// Set by the ingestion worker at start: the capture hooks emit nothing for this process.
extern bool in_ingest_worker;

} // namespace bemi_pg
