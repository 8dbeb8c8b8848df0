/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocator wrappers with failure injection. The counters are process-wide
 * and not thread-safe on purpose: only single-threaded tests set them.
 */
#include "util/alloc.h"

#include <stdlib.h>

#include "util/error.h"

static unsigned long fail_at;
static unsigned long alloc_count;
static int fail_sticky;

static int
should_fail(void)
{
    if (fail_at == 0)
        return 0;
    alloc_count++;
    if (alloc_count == fail_at)
        return 1;
    return fail_sticky && alloc_count > fail_at;
}

void *
sk_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *
sk_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

void *
sk_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void
sk_free(void *p)
{
    free(p);
}

void
sk_alloc_fail_at(unsigned long nth, int sticky)
{
    fail_at = nth;
    fail_sticky = sticky;
    alloc_count = 0;
}

unsigned long
sk_alloc_count(void)
{
    return alloc_count;
}

int
sk_size_mul(size_t a, size_t b, size_t *out)
{
    if (__builtin_mul_overflow(a, b, out))
        return -SK_ELIMIT;
    return 0;
}

int
sk_size_add(size_t a, size_t b, size_t *out)
{
    if (__builtin_add_overflow(a, b, out))
        return -SK_ELIMIT;
    return 0;
}
