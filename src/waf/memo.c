/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cross-transaction prefilter memo (memo.h): open addressing on a
 * 64-bit hash of (chain, bytes), entries and their copies of the bytes in
 * one arena that is dropped as a whole when the memo starts over.
 */
#include "waf/memo.h"

#include <string.h>

#include "util/arena.h"

#include <hs/hs.h>

#define SLOTS (2 * SK_PF_MEMO_MAX_ENTRIES) /* a power of two */

struct memo_entry {
    uint64_t hash;
    const void *chain;
    const uint8_t *bytes;
    const uint64_t *bits;
    uint32_t len;
};

struct memo {
    uint64_t serial;
    struct sk_arena *arena;
    struct memo_entry *slots; /* SLOTS, in the arena; hash 0: free */
    size_t n;
};

static _Thread_local struct memo memo;

/* The thread's scan scratch, for one rule set. */
static _Thread_local struct {
    uint64_t serial;
    hs_scratch_t *s;
} scratch;

struct hs_scratch *
sk__pf_thread_scratch(uint64_t serial, const struct hs_scratch *proto)
{
    if (scratch.s != NULL && scratch.serial == serial)
        return scratch.s;
    if (scratch.s != NULL) {
        hs_free_scratch(scratch.s);
        scratch.s = NULL;
    }
    if (proto == NULL || hs_clone_scratch(proto, &scratch.s) != HS_SUCCESS) {
        scratch.s = NULL;
        return NULL;
    }
    scratch.serial = serial;
    return scratch.s;
}

static uint64_t
memo_hash(const void *chain, const uint8_t *p, size_t n)
{
    uint64_t h = ((uint64_t)(uintptr_t)chain ^ (uint64_t)n << 48) *
                 0x9e3779b97f4a7c15ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    if (i < n)
        memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h | 1; /* 0 marks a free slot */
}

static void
memo_clear(void)
{
    sk_arena_free(memo.arena);
    memo.arena = NULL;
    memo.slots = NULL;
    memo.n = 0;
}

static struct memo_entry *
memo_slot(uint64_t h, const void *chain, struct sk_str v)
{
    size_t i = (size_t)h & (SLOTS - 1);
    for (;;) {
        struct memo_entry *e = &memo.slots[i];
        if (e->hash == 0 ||
            (e->hash == h && e->chain == chain && e->len == v.len &&
             (v.len == 0 || memcmp(e->bytes, v.p, v.len) == 0)))
            return e;
        i = (i + 1) & (SLOTS - 1);
    }
}

const uint64_t *
sk__pf_memo_get(uint64_t serial, const void *chain, struct sk_str v,
                size_t words)
{
    (void)words;
    if (memo.slots == NULL || memo.serial != serial ||
        v.len > SK_PF_MEMO_MAX_LEN)
        return NULL;
    struct memo_entry *e = memo_slot(memo_hash(chain, v.p, v.len), chain, v);
    return e->hash != 0 ? e->bits : NULL;
}

void
sk__pf_memo_put(uint64_t serial, const void *chain, struct sk_str v,
                const uint64_t *bits, size_t words)
{
    if (v.len > SK_PF_MEMO_MAX_LEN)
        return;
    if (memo.slots != NULL &&
        (memo.serial != serial || memo.n >= SK_PF_MEMO_MAX_ENTRIES))
        memo_clear();
    if (memo.slots == NULL) {
        memo.arena = sk_arena_new(1 << 16);
        if (memo.arena == NULL)
            return;
        memo.slots = sk_arena_calloc(memo.arena, SLOTS, sizeof(*memo.slots));
        if (memo.slots == NULL) {
            memo_clear();
            return;
        }
        memo.serial = serial;
    }
    uint64_t h = memo_hash(chain, v.p, v.len);
    struct memo_entry *e = memo_slot(h, chain, v);
    if (e->hash != 0)
        return; /* already there */
    uint64_t *b = sk_arena_alloc(memo.arena, words * sizeof(*b) + v.len + 1);
    if (b == NULL)
        return;
    memcpy(b, bits, words * sizeof(*b));
    uint8_t *bytes = (uint8_t *)(b + words);
    if (v.len > 0)
        memcpy(bytes, v.p, v.len);
    e->chain = chain;
    e->bytes = bytes;
    e->bits = b;
    e->len = (uint32_t)v.len;
    e->hash = h;
    memo.n++;
}

void
sk__pf_memo_drop(uint64_t serial)
{
    if (memo.slots != NULL && memo.serial == serial)
        memo_clear();
    if (scratch.s != NULL && scratch.serial == serial) {
        hs_free_scratch(scratch.s);
        scratch.s = NULL;
    }
}
