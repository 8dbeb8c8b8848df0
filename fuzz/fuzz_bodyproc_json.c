/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the JSON body processor: any bytes as a body, with a
 * small depth and argument limit so the limit paths are reached too. The
 * callback touches every byte of each name and value so that ASan sees any
 * view that points outside its allocation.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bodyproc/bodyproc.h"
#include "util/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
touch(void *ud, struct sk_str name, struct sk_str value)
{
    unsigned *sum = ud;
    for (size_t i = 0; i < name.len; i++)
        *sum += name.p[i];
    for (size_t i = 0; i < value.len; i++)
        *sum += value.p[i];
    /* Names and values are NUL-terminated behind len in the arena. */
    *sum += name.p[name.len] + value.p[value.len];
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    unsigned sum = 0;
    const char *msg = NULL;
    /* The first byte picks small limits half of the time. */
    unsigned depth = SK_BODYPROC_JSON_DEPTH_DEFAULT;
    size_t args = SK_BODYPROC_JSON_ARGS_DEFAULT;
    if (size > 0 && (data[0] & 1)) {
        depth = (unsigned)(data[0] >> 4);
        args = (size_t)(data[0] >> 1) & 7;
    }
    int rc = sk_bodyproc_json(a, sk_str_make(data, size), depth, args, touch,
                              &sum, &msg);
    if (rc != 0 && (msg == NULL || msg[0] == '\0'))
        __builtin_trap(); /* every error must come with a message */
    /*
     * Number text and jansson's tree disagree. Compared whole: jansson's
     * own messages quote the input, which may contain these words.
     */
    if (rc != 0 &&
        strcmp(msg, "JSON number scanner out of step with the parser") == 0)
        __builtin_trap();
    sk_arena_free(a);
    return 0;
}
