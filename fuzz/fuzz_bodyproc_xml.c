/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the XML body processor: parses any bytes, then (also
 * after a failed parse that left a partial tree) evaluates the XPath
 * targets CRS uses plus the bare document text, touching every byte of
 * each result.
 */
#include <stddef.h>
#include <stdint.h>

#include "bodyproc/bodyproc.h"
#include "util/arena.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
touch(void *ud, struct sk_str name, struct sk_str value)
{
    unsigned *sum = ud;
    for (size_t i = 0; i < name.len; i++)
        *sum += name.p[i];
    for (size_t i = 0; i < value.len; i++)
        *sum += value.p[i];
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const exprs[] = {"/*", "//@*", "//text()", "count(//*)"};
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    unsigned sum = 0;
    const char *msg = NULL;
    struct sk_xml_doc *doc = NULL;
    int rc = sk_bodyproc_xml_parse(a, sk_str_make(data, size), &doc, &msg);
    if (rc != 0 && (msg == NULL || msg[0] == '\0'))
        __builtin_trap(); /* every error must come with a message */
    if (doc != NULL) {
        for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
            int erc = sk_bodyproc_xml_eval(a, doc, exprs[i], touch, &sum);
            if (erc == -SK_EINVAL)
                __builtin_trap(); /* these expressions are valid */
        }
        sk_bodyproc_xml_eval(a, doc, NULL, touch, &sum);
    }
    sk_arena_free(a);
    return 0;
}
