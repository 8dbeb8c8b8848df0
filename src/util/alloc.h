/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hookable allocator. All heap memory of sekimori goes through these
 * functions so that tests can make the Nth allocation fail and check that
 * every caller handles it; debug builds poison freed arena memory.
 */
#ifndef SK_UTIL_ALLOC_H
#define SK_UTIL_ALLOC_H

#include <stddef.h>

/*
 * Allocate, reallocate and free like malloc(3), realloc(3) and free(3).
 * Return NULL on failure (or on an injected failure). Never block.
 */
void *sk_malloc(size_t n);
void *sk_calloc(size_t count, size_t size);
void *sk_realloc(void *p, size_t n);
void sk_free(void *p);

/*
 * Test hook: make the allocation number `nth` (counted from 1 after this
 * call) and, if `sticky`, every later one fail. nth == 0 turns it off.
 */
void sk_alloc_fail_at(unsigned long nth, int sticky);

/* Number of allocations attempted since the last sk_alloc_fail_at(). */
unsigned long sk_alloc_count(void);

/*
 * Checked size arithmetic: store a*b (or a+b) in *out and return 0, or
 * return -SK_ELIMIT on overflow.
 */
int sk_size_mul(size_t a, size_t b, size_t *out);
int sk_size_add(size_t a, size_t b, size_t *out);

#endif
