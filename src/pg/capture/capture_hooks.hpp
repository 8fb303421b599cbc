// Executor and utility hooks that emit the context message of each modifying statement.
#pragma once

namespace bemi_pg {

// Installs the hooks and transaction callbacks in this backend. Called from _PG_init, so a
// session that loads the library on demand (by calling bemi_set_context) is covered from then on.
void install_capture_hooks();

} // namespace bemi_pg
