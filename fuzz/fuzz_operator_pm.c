/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the @pm phrase list parser (quotes, |hex| blocks, escapes) and
 * the phrase matcher. The input is split at its first NUL byte: the part
 * before is the argument, the part after the subject. A reported phrase
 * must occur in the subject (ASCII case-insensitively).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "operator/operator.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
occurs_nocase(struct sk_str hay, struct sk_str needle)
{
    for (size_t i = 0; i + needle.len <= hay.len; i++)
        if (sk_str_eq_nocase(sk_str_make(hay.p + i, needle.len), needle))
            return true;
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048)
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
    int rc = sk_op_compile(cfg, "pm", arg, false, NULL, NULL, &d, &op);
    if (rc != 0) {
        if (op != NULL || !sk_diag_failed(&d))
            abort();
        goto out;
    }
    struct sk_str subject = SK_STR_NULL;
    if (nul != NULL)
        subject = sk_str_make(nul + 1, size - alen - 1);
    struct sk_op_result res;
    if (sk_op_exec(op, txn, subject, SK_STR_NULL, true, &res) != 0)
        abort();
    if (res.matched && (res.ncaptures != 1 || res.captures[0].len == 0 ||
                        !occurs_nocase(subject, res.captures[0])))
        abort();
out:
    sk_diag_fini(&d);
    sk_arena_free(txn);
    sk_arena_free(cfg);
    free(arg);
    return 0;
}
