// Only in the sanitizer build (test/sanitize.sh, BEMI_SANITIZE=1): a function that reads past a
// stack array on purpose, so the script can prove that AddressSanitizer reports from inside a
// backend before it trusts a clean run. The normal build has no such symbol.
#ifdef BEMI_SANITIZER_CANARY
#include "pg/postgres_headers.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(bemi_sanitizer_canary);
Datum bemi_sanitizer_canary(PG_FUNCTION_ARGS) {
    volatile char buffer[8] = {0};
    volatile int past_the_end = 8 + PG_GETARG_INT32(0);
    PG_RETURN_INT32(buffer[past_the_end]);
}
}
#endif
