/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the ftw loader: arbitrary bytes as a CRS test file
 * and as an overrides file. Both must fail cleanly or load, never crash,
 * leak or read out of bounds; a loaded request must stay within its limit.
 */
#include <stddef.h>
#include <stdint.h>

#include "crstest/ftw.h"
#include "util/arena.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL) {
        return 0;
    }
    struct sk_diag d = {0};
    struct sk_ftw_file f;
    if (sk_ftw_load_mem(a, "fuzz.yaml", data, size, &f, &d) == 0) {
        for (size_t i = 0; i < f.ntests; i++) {
            for (size_t j = 0; j < f.tests[i].nstages; j++) {
                if (f.tests[i].stages[j].request.len >
                    SK_FTW_MAX_REQUEST_BYTES) {
                    __builtin_trap();
                }
            }
        }
    }
    struct sk_ftw_override *ov;
    size_t n;
    (void)sk_ftw_load_overrides_mem(a, "fuzz.yaml", data, size, &ov, &n, &d);
    sk_diag_fini(&d);
    sk_arena_free(a);
    return 0;
}
