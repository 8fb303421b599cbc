// The library's identity for PostgreSQL's loader, and what loading it sets up.
#include "pg/postgres_headers.hpp"

#include "pg/actor.hpp"
#include "pg/capture/capture_hooks.hpp"
#include "pg/capture/restore_session.hpp"
#include "pg/ingest/workers.hpp"
#include "pg/settings.hpp"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

// Loaded three ways: preloaded (shared_preload_libraries: capture in every session, and the
// ingestion workers), on demand in a session (a bemi function was called: capture from then
// on in that session), or by a walsender or decoding function as an output plugin.
void _PG_init(void) {
    bemi_pg::define_settings();
    bemi_pg::install_capture_hooks();
    bemi_pg::install_restore_session();
    if (process_shared_preload_libraries_in_progress) {
        // Before any session exists, so that no two sessions race to create the key.
        bemi_pg::actor_key_prepare();
        bemi_pg::workers_init_preload();
    }
}
