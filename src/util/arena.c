/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bump allocator over a list of blocks. Large requests get a block of
 * their own so that a big body does not waste the tail of a small block.
 */
#include "util/arena.h"

#include <stdarg.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

#define ARENA_DEFAULT_BLOCK 8192
#define ARENA_ALIGN alignof(max_align_t)

struct block {
    struct block *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct deferred {
    struct deferred *next;
    sk_arena_cleanup_fn fn;
    void *data;
};

struct sk_arena {
    struct block *head;
    struct deferred *cleanups;
    size_t block_size;
    size_t used;
};

static struct block *
block_new(size_t size)
{
    size_t total;
    if (sk_size_add(sizeof(struct block), size, &total) != 0)
        return NULL;
    struct block *b = sk_malloc(total);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct sk_arena *
sk_arena_new(size_t block_size)
{
    struct sk_arena *a = sk_malloc(sizeof(*a));
    if (a == NULL)
        return NULL;
    a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
    a->cleanups = NULL;
    a->used = 0;
    a->head = block_new(a->block_size);
    if (a->head == NULL) {
        sk_free(a);
        return NULL;
    }
    return a;
}

static void
run_cleanups(struct sk_arena *a)
{
    /* Cleanups were pushed on a list head, so this runs them in reverse. */
    struct deferred *d = a->cleanups;
    a->cleanups = NULL;
    while (d != NULL) {
        struct deferred *next = d->next;
        d->fn(d->data);
        d = next;
    }
}

void
sk_arena_free(struct sk_arena *a)
{
    if (a == NULL)
        return;
    run_cleanups(a);
    struct block *b = a->head;
    while (b != NULL) {
        struct block *next = b->next;
#ifdef SK_DEBUG
        memset(b->data, 0xa5, b->size);
#endif
        sk_free(b);
        b = next;
    }
    sk_free(a);
}

void
sk_arena_reset(struct sk_arena *a)
{
    run_cleanups(a);
    /* Keep the last block in the list: it is the first one allocated. */
    struct block *b = a->head;
    while (b->next != NULL) {
        struct block *next = b->next;
        sk_free(b);
        b = next;
    }
#ifdef SK_DEBUG
    memset(b->data, 0xa5, b->size);
#endif
    b->used = 0;
    a->head = b;
    a->used = 0;
}

void *
sk_arena_alloc(struct sk_arena *a, size_t n)
{
    size_t rounded;
    if (sk_size_add(n, ARENA_ALIGN - 1, &rounded) != 0)
        return NULL;
    rounded &= ~(size_t)(ARENA_ALIGN - 1);
    if (rounded == 0)
        rounded = ARENA_ALIGN;
    struct block *b = a->head;
    if (b->size - b->used < rounded) {
        if (rounded > a->block_size / 4) {
            /* A big object gets its own block behind the current one. */
            struct block *big = block_new(rounded);
            if (big == NULL)
                return NULL;
            big->used = rounded;
            big->next = b->next;
            b->next = big;
            a->used += rounded;
            return big->data;
        }
        struct block *nb = block_new(a->block_size);
        if (nb == NULL)
            return NULL;
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += rounded;
    a->used += rounded;
    return p;
}

void *
sk_arena_zalloc(struct sk_arena *a, size_t n)
{
    void *p = sk_arena_alloc(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

void *
sk_arena_calloc(struct sk_arena *a, size_t count, size_t size)
{
    size_t n;
    if (sk_size_mul(count, size, &n) != 0)
        return NULL;
    return sk_arena_zalloc(a, n);
}

char *
sk_arena_memdup(struct sk_arena *a, const void *p, size_t n)
{
    size_t total;
    if (sk_size_add(n, 1, &total) != 0)
        return NULL;
    char *d = sk_arena_alloc(a, total);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

char *
sk_arena_strdup(struct sk_arena *a, const char *s)
{
    return sk_arena_memdup(a, s, strlen(s));
}

int
sk_arena_strdup_str(struct sk_arena *a, struct sk_str in, struct sk_str *out)
{
    char *d = sk_arena_memdup(a, in.p, in.len);
    if (d == NULL)
        return -SK_ENOMEM;
    out->p = (const uint8_t *)d;
    out->len = in.len;
    return 0;
}

char *
sk_arena_printf(struct sk_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *d = sk_arena_alloc(a, (size_t)n + 1);
    if (d == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

int
sk_arena_defer(struct sk_arena *a, sk_arena_cleanup_fn fn, void *data)
{
    struct deferred *d = sk_arena_alloc(a, sizeof(*d));
    if (d == NULL)
        return -SK_ENOMEM;
    d->fn = fn;
    d->data = data;
    d->next = a->cleanups;
    a->cleanups = d;
    return 0;
}

size_t
sk_arena_used(const struct sk_arena *a)
{
    return a->used;
}
