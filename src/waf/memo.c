/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cross-transaction memos (memo.h): open addressing on a 64-bit hash
 * of (key, bytes), entries and their copies of the bytes in one arena
 * that is dropped as a whole when a memo starts over. Two tables, so
 * that one's churn does not empty the other: prefilter hits per chain,
 * and "does not match" per rule link.
 */
#include "waf/memo.h"

#include <string.h>

#include "util/arena.h"

#include <hs/hs.h>

#define SLOTS (2 * SK_PF_MEMO_MAX_ENTRIES) /* a power of two */

struct memo_entry {
    uint64_t hash;
    const void *key;
    const uint8_t *bytes;
    const uint64_t *bits;
    uint32_t len;
};

struct memo {
    uint64_t serial;
    struct sk_arena *arena;
    struct memo_entry *slots; /* SLOTS, in the arena; hash 0: free */
    size_t n;
    size_t bytes; /* of the values kept */
};

static _Thread_local struct memo pf_memo, op_memo;

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
memo_hash(const void *key, const uint8_t *p, size_t n)
{
    uint64_t h =
        ((uint64_t)(uintptr_t)key ^ (uint64_t)n << 48) * 0x9e3779b97f4a7c15ULL;
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
memo_clear(struct memo *m)
{
    sk_arena_free(m->arena);
    m->arena = NULL;
    m->slots = NULL;
    m->n = 0;
    m->bytes = 0;
}

static struct memo_entry *
memo_slot(struct memo *m, uint64_t h, const void *key, struct sk_str v)
{
    size_t i = (size_t)h & (SLOTS - 1);
    for (;;) {
        struct memo_entry *e = &m->slots[i];
        if (e->hash == 0 || (e->hash == h && e->key == key && e->len == v.len &&
                             (v.len == 0 || memcmp(e->bytes, v.p, v.len) == 0)))
            return e;
        i = (i + 1) & (SLOTS - 1);
    }
}

static const struct memo_entry *
memo_get(struct memo *m, uint64_t serial, const void *key, struct sk_str v)
{
    if (m->slots == NULL || m->serial != serial || v.len > SK_PF_MEMO_MAX_LEN)
        return NULL;
    struct memo_entry *e = memo_slot(m, memo_hash(key, v.p, v.len), key, v);
    return e->hash != 0 ? e : NULL;
}

/* Adds (key, v) with a copy of `words` words of `bits` (none if NULL). */
static void
memo_put(struct memo *m, uint64_t serial, const void *key, struct sk_str v,
         const uint64_t *bits, size_t words)
{
    if (v.len > SK_PF_MEMO_MAX_LEN)
        return;
    if (m->slots != NULL &&
        (m->serial != serial || m->n >= SK_PF_MEMO_MAX_ENTRIES ||
         m->bytes + v.len > SK_PF_MEMO_MAX_BYTES))
        memo_clear(m);
    if (m->slots == NULL) {
        m->arena = sk_arena_new(1 << 16);
        if (m->arena == NULL)
            return;
        m->slots = sk_arena_calloc(m->arena, SLOTS, sizeof(*m->slots));
        if (m->slots == NULL) {
            memo_clear(m);
            return;
        }
        m->serial = serial;
    }
    uint64_t h = memo_hash(key, v.p, v.len);
    struct memo_entry *e = memo_slot(m, h, key, v);
    if (e->hash != 0)
        return; /* already there */
    if (bits == NULL)
        words = 0;
    uint64_t *b = sk_arena_alloc(m->arena, words * sizeof(*b) + v.len + 1);
    if (b == NULL)
        return;
    if (words > 0)
        memcpy(b, bits, words * sizeof(*b));
    uint8_t *bytes = (uint8_t *)(b + words);
    if (v.len > 0)
        memcpy(bytes, v.p, v.len);
    e->key = key;
    e->bytes = bytes;
    e->bits = words > 0 ? b : NULL;
    e->len = (uint32_t)v.len;
    e->hash = h;
    m->n++;
    m->bytes += v.len;
}

const uint64_t *
sk__pf_memo_get(uint64_t serial, const void *chain, struct sk_str v,
                size_t words)
{
    (void)words;
    const struct memo_entry *e = memo_get(&pf_memo, serial, chain, v);
    return e != NULL ? e->bits : NULL;
}

void
sk__pf_memo_put(uint64_t serial, const void *chain, struct sk_str v,
                const uint64_t *bits, size_t words)
{
    memo_put(&pf_memo, serial, chain, v, bits, words);
}

bool
sk__op_memo_no_match(uint64_t serial, const void *link, struct sk_str v)
{
    return memo_get(&op_memo, serial, link, v) != NULL;
}

void
sk__op_memo_note_no_match(uint64_t serial, const void *link, struct sk_str v)
{
    memo_put(&op_memo, serial, link, v, NULL, 0);
}

void
sk__pf_memo_drop(uint64_t serial)
{
    if (pf_memo.slots != NULL && pf_memo.serial == serial)
        memo_clear(&pf_memo);
    if (op_memo.slots != NULL && op_memo.serial == serial)
        memo_clear(&op_memo);
    if (scratch.s != NULL && scratch.serial == serial) {
        hs_free_scratch(scratch.s);
        scratch.s = NULL;
    }
}
