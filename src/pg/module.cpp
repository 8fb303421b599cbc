// The library's identity for PostgreSQL's loader.
#include "pg/postgres_headers.hpp"

extern "C" {
PG_MODULE_MAGIC;
}
