/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cross-transaction memo (memo.h): values interned by open addressing
 * on a 64-bit hash of their bytes, each with its verdicts, all in one
 * arena that is dropped as a whole when the memo starts over.
 */
#include "waf/memo.h"

#include <string.h>

#include "util/arena.h"

#include <hs/hs.h>

#define SLOTS (2 * SK_MEMO_MAX_VALUES) /* a power of two */

_Thread_local uint64_t sk__memo_epoch_now;

struct memo {
    uint64_t serial;
    struct sk_arena *arena;
    struct sk_memo_val **slots; /* SLOTS, in the arena; NULL: free */
    size_t n, bytes;
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
memo_hash(const uint8_t *p, size_t n)
{
    uint64_t h = ((uint64_t)n + 0x632be59bd9b4e019ULL) * 0x9e3779b97f4a7c15ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    /* The tail in fixed-size loads (a memcpy of a variable size is a
     * call and a stall): the last 8 bytes again, or two overlapping
     * halves, or three single bytes that cover 1-3. */
    uint64_t w = 0;
    size_t r = n - i;
    if (r > 0 && n >= 8) {
        memcpy(&w, p + n - 8, 8);
    } else if (r >= 4) {
        uint32_t a, b;
        memcpy(&a, p + i, 4);
        memcpy(&b, p + i + r - 4, 4);
        w = (uint64_t)a << 32 | b;
    } else if (r > 0) {
        w = (uint64_t)p[i] | (uint64_t)p[i + r / 2] << 8 |
            (uint64_t)p[i + r - 1] << 16;
    }
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h;
}

static void
memo_clear(void)
{
    sk_arena_free(memo.arena);
    memo.arena = NULL;
    memo.slots = NULL;
    memo.n = 0;
    memo.bytes = 0;
    sk__memo_epoch_now++;
}

struct sk_memo_val *
sk__memo_intern(uint64_t serial, struct sk_str v, size_t nlinks, size_t nchains)
{
    if (v.len > SK_MEMO_MAX_LEN)
        return NULL;
    uint64_t h = memo_hash(v.p, v.len);
    if (memo.slots != NULL && memo.serial == serial) {
        size_t i = (size_t)h & (SLOTS - 1);
        for (struct sk_memo_val *e; (e = memo.slots[i]) != NULL;
             i = (i + 1) & (SLOTS - 1))
            if (e->hash == h && e->len == v.len &&
                (v.len == 0 || memcmp(e->bytes, v.p, v.len) == 0)) {
                if (e->uses < UINT32_MAX)
                    e->uses++;
                return e;
            }
    }
    if (memo.slots != NULL &&
        (memo.serial != serial || memo.n >= SK_MEMO_MAX_VALUES ||
         memo.bytes + v.len > SK_MEMO_MAX_BYTES))
        memo_clear();
    if (memo.slots == NULL) {
        memo.arena = sk_arena_new(1 << 16);
        if (memo.arena == NULL)
            return NULL;
        memo.slots = sk_arena_calloc(memo.arena, SLOTS, sizeof(*memo.slots));
        if (memo.slots == NULL) {
            memo_clear();
            return NULL;
        }
        memo.serial = serial;
    }
    /* In the order a look-up reads them, next to each other: the entry,
     * its bytes (compared), its "does not match" bits (read next). */
    struct sk_memo_val *e = sk_arena_calloc(memo.arena, 1, sizeof(*e));
    uint8_t *bytes = sk_arena_alloc(memo.arena, v.len + 1);
    uint64_t *nm = sk_arena_calloc(memo.arena, nlinks / 64 + 1, sizeof(*nm));
    const uint64_t **pf = sk_arena_calloc(memo.arena, nchains + 1, sizeof(*pf));
    if (e == NULL || nm == NULL || pf == NULL || bytes == NULL)
        return NULL;
    if (v.len > 0)
        memcpy(bytes, v.p, v.len);
    e->hash = h;
    e->bytes = bytes;
    e->len = (uint32_t)v.len;
    e->no_match = nm;
    e->pf_hits = pf;
    e->uses = 1;
    size_t i = (size_t)h & (SLOTS - 1);
    while (memo.slots[i] != NULL)
        i = (i + 1) & (SLOTS - 1);
    memo.slots[i] = e;
    memo.n++;
    memo.bytes += v.len;
    return e;
}

void
sk__memo_pf_put(struct sk_memo_val *mv, unsigned chain, const uint64_t *bits,
                size_t words)
{
    if (memo.arena == NULL)
        return;
    uint64_t *b = sk_arena_alloc(memo.arena, words * sizeof(*b));
    if (b == NULL)
        return;
    memcpy(b, bits, words * sizeof(*b));
    mv->pf_hits[chain] = b;
}

void
sk__memo_drop(uint64_t serial)
{
    if (memo.slots != NULL && memo.serial == serial)
        memo_clear();
    if (scratch.s != NULL && scratch.serial == serial) {
        hs_free_scratch(scratch.s);
        scratch.s = NULL;
    }
}
