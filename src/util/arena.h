/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Region allocator. The compiled rule program lives in one arena (the
 * config arena) and every transaction allocates from its own arena, freed
 * in one call. Cleanups (fds, temp files) register with sk_arena_defer()
 * and run in reverse order when the arena is freed.
 */
#ifndef SK_UTIL_ARENA_H
#define SK_UTIL_ARENA_H

#include <stddef.h>

#include "util/str.h"

struct sk_arena;

typedef void (*sk_arena_cleanup_fn)(void *data);

/*
 * Creates an arena whose blocks are at least `block_size` bytes (0 picks a
 * default). Returns NULL when memory is exhausted. The caller owns it and
 * releases it with sk_arena_free().
 */
struct sk_arena *sk_arena_new(size_t block_size);

/* Runs the deferred cleanups and frees every block. NULL is accepted. */
void sk_arena_free(struct sk_arena *a);

/*
 * Releases everything allocated so far but keeps the first block for reuse
 * (cleanups run). Pointers into the arena become invalid.
 */
void sk_arena_reset(struct sk_arena *a);

/*
 * Returns `n` bytes aligned for any type, valid until the arena is freed or
 * reset, or NULL on exhaustion. sk_arena_zalloc() zeroes them.
 */
void *sk_arena_alloc(struct sk_arena *a, size_t n);
void *sk_arena_zalloc(struct sk_arena *a, size_t n);

/* Allocates count*size zeroed bytes with overflow checking; NULL on error. */
void *sk_arena_calloc(struct sk_arena *a, size_t count, size_t size);

/* Copies `n` bytes and appends a NUL (not counted in n). NULL on error. */
char *sk_arena_memdup(struct sk_arena *a, const void *p, size_t n);
char *sk_arena_strdup(struct sk_arena *a, const char *s);

/* Copies a view into the arena (NUL-terminated behind len); NULL p on OOM. */
int sk_arena_strdup_str(struct sk_arena *a, struct sk_str in,
                        struct sk_str *out);

/* printf into the arena. NULL on error. */
char *sk_arena_printf(struct sk_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Registers a cleanup run at free/reset time; -SK_ENOMEM on failure. */
int sk_arena_defer(struct sk_arena *a, sk_arena_cleanup_fn fn, void *data);

/* Total bytes handed out since creation or the last reset (for metrics). */
size_t sk_arena_used(const struct sk_arena *a);

#endif
