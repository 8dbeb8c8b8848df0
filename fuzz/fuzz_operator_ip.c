/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the @ipMatch network list parser and matcher. The input is split
 * at its first NUL byte: the part before is the list given to
 * sk_op_compile(), the part after is matched against the compiled set
 * (as are a few fixed addresses). Checks that an address listed alone
 * with a full prefix matches itself.
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
    int rc = sk_op_compile(cfg, "ipMatch", arg, false, NULL, NULL, &d, &op);
    if (rc != 0) {
        if (op != NULL || !sk_diag_failed(&d))
            abort(); /* an error must be reported and leave no op */
        goto out;
    }
    struct sk_op_result res;
    static const char *probes[] = {"127.0.0.1", "::1",        "10.1.2.3",
                                   "0.0.0.0",   "ffff::ffff", "1.2.3"};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
        if (sk_op_exec(op, txn, sk_str_c(probes[i]), SK_STR_NULL, true, &res) !=
            0)
            abort();
    struct sk_str rest = SK_STR_NULL;
    if (nul != NULL)
        rest = sk_str_make(nul + 1, size - alen - 1);
    if (sk_op_exec(op, txn, rest, SK_STR_NULL, false, &res) != 0)
        abort();
    /* A single address without blanks, comma or prefix matches itself. */
    if (alen > 0 && strpbrk(arg, ", \t\n\v\f\r/") == NULL) {
        if (sk_op_exec(op, txn, sk_str_c(arg), SK_STR_NULL, false, &res) != 0 ||
            !res.matched)
            abort();
    }
out:
    sk_diag_fini(&d);
    sk_arena_free(txn);
    sk_arena_free(cfg);
    free(arg);
    return 0;
}
