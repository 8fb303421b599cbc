// bemi.restoring: a superuser-only setting that keeps a restore's own data load out of the
// audit trail (docs/ingestion.md, "Dump, restore and upgrade").
#pragma once

namespace bemi_pg {

// Defines bemi.restoring and installs the hook that gives a restoring session its
// replication origin. Called from _PG_init.
void install_restore_session();

} // namespace bemi_pg
