// DROP DATABASE, CREATE DATABASE ... TEMPLATE and ALTER DATABASE ... RENAME of a captured
// database (docs/ingestion.md, "Dropping and copying a captured database"): its ingestion
// worker is connected to it, and PostgreSQL refuses each while another session is. bemi
// pauses that database's capture for the command and resumes it when the command's
// transaction ends, unless the database is gone.
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

// Called by the ProcessUtility hook before a utility statement runs. For a DROP DATABASE,
// CREATE DATABASE ... TEMPLATE or ALTER DATABASE ... RENAME that PostgreSQL would let this
// role run here, pauses the
// database's capture and waits (bounded) for its worker to leave; ERROR with a HINT when it
// does not. Anything PostgreSQL itself refuses is left to PostgreSQL, with capture untouched.
void before_database_command(const Node *statement, bool top_level);

// Called once the statement returned without an error. After DROP DATABASE: drops the dropped
// database's replication origin (PostgreSQL dropped its slot). Never raises an ERROR: the
// database's files are gone by now.
void after_database_command(const Node *statement);

} // namespace bemi_pg
