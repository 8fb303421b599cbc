// Only in the sanitizer build (test/sanitize.sh, BEMI_SANITIZE=1): a function that reads past a
// stack array on purpose, so the script can prove that AddressSanitizer reports from inside a
// backend before it trusts a clean run. The normal build has no such symbol.
#ifdef BEMI_SANITIZER_CANARY
#include "pg/postgres_headers.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(bemi_sanitizer_canary);
// UBSan would see the bad read first (bounds, object size), which proves nothing about ASan.
__attribute__((no_sanitize_undefined)) Datum bemi_sanitizer_canary(PG_FUNCTION_ARGS) {
    volatile char buffer[8] = {0};
    volatile char *start = buffer;
    const int past_the_end = 8 + PG_GETARG_INT32(0);
    PG_RETURN_INT32(start[past_the_end]);
}
}
#endif
