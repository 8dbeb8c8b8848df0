/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the @validateByteRange range list parser. The input is split at
 * its first NUL byte: the part before is the range list, the part after is
 * checked against the compiled operator, and the result is compared with
 * a byte-by-byte check of the 256 single-byte inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "operator/operator.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t alen = nul ? (size_t)(nul - data) : size;
    char *arg = malloc(alen + 1);
    if (arg == NULL)
        return 0;
    memcpy(arg, data, alen);
    arg[alen] = '\0';

    struct sk_arena *cfg = sk_arena_new(0), *txn = sk_arena_new(0);
    struct sk_diag d = {0};
    struct sk_op *op = NULL;
    if (cfg == NULL || txn == NULL)
        goto out;
    int rc = sk_op_compile(cfg, "validateByteRange", arg, false, NULL, NULL, &d,
                           &op);
    if (rc != 0) {
        if (rc != -SK_EPARSE || op != NULL || !sk_diag_failed(&d))
            abort();
        goto out;
    }
    /* The rest matches iff one of its bytes fails on its own. */
    bool bad[256];
    struct sk_op_result res;
    for (unsigned c = 0; c < 256; c++) {
        uint8_t b = (uint8_t)c;
        if (sk_op_exec(op, txn, sk_str_make(&b, 1), SK_STR_NULL, false, &res) !=
            0)
            abort();
        bad[c] = res.matched;
    }
    if (nul != NULL) {
        struct sk_str rest = sk_str_make(nul + 1, size - alen - 1);
        bool want = false;
        for (size_t i = 0; i < rest.len; i++)
            want |= bad[rest.p[i]];
        if (sk_op_exec(op, txn, rest, SK_STR_NULL, false, &res) != 0 ||
            res.matched != want)
            abort();
    }
out:
    sk_diag_fini(&d);
    sk_arena_free(txn);
    sk_arena_free(cfg);
    free(arg);
    return 0;
}
