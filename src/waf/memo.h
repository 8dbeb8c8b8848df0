/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verdicts remembered across transactions. The regex prefilter's hits on
 * a value under a transformation chain, and whether a rule link (its
 * transformations and a side-effect-free operator) matches a value,
 * depend on the value's bytes only; many values come back request after
 * request (header names, a browser's User-Agent and Accept lines, common
 * argument names, a page's response body): their transformation, scan
 * and operator are then skipped.
 *
 * Values are interned by their bytes (compared, never a hash alone); each
 * interned value carries one "does not match" bit per remembering link
 * and the prefilter hits per chain. Internal to src/waf; one memo per
 * thread, bound to one compiled rule set (by its serial number), bounded
 * in values, value length and bytes; when it starts over its epoch
 * changes, and a value from an older epoch must not be used.
 */
#ifndef SK_WAF_MEMO_H
#define SK_WAF_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/str.h"

/* Longest value remembered (a small page's response body fits). */
#define SK_MEMO_MAX_LEN 4096
/* Values, and bytes of values, a memo keeps before it starts over. */
#define SK_MEMO_MAX_VALUES 4096
#define SK_MEMO_MAX_BYTES (1024 * 1024)

struct sk_memo_val {
    uint64_t hash;
    const uint8_t *bytes;
    uint32_t len;
    uint64_t *no_match;       /* a bit per remembering link */
    const uint64_t **pf_hits; /* per prefilter chain, NULL: not known */
    uint32_t uses;            /* times interned or found (saturating) */
    /* Prefilter chains (the first 64) whose hits were turned into
     * no_match bits (txn.c, pf_value_bits). */
    uint64_t pf_mapped;
};

/*
 * The interned value with the bytes of `v` in this thread's memo for rule
 * set `serial` (`nlinks` remembering links, `nchains` prefilter chains),
 * added if absent; the memo starts over first when it belongs to another
 * rule set or is full. NULL when `v` is too long or memory is short.
 * Valid while sk__memo_epoch() stays the same. Never blocks.
 */
struct sk_memo_val *sk__memo_intern(uint64_t serial, struct sk_str v,
                                    size_t nlinks, size_t nchains);

/* The current epoch of this thread's memo (changes when it starts over). */
extern _Thread_local uint64_t sk__memo_epoch_now;
static inline uint64_t
sk__memo_epoch(void)
{
    return sk__memo_epoch_now;
}

/* Keeps a copy of `words` words of prefilter hits for chain `chain`. */
void sk__memo_pf_put(struct sk_memo_val *mv, unsigned chain,
                     const uint64_t *bits, size_t words);

/* Frees this thread's memo and scratch if they belong to rule set
 * `serial`. */
void sk__memo_drop(uint64_t serial);

struct hs_scratch;

/*
 * This thread's Vectorscan scratch for rule set `serial`, cloned from
 * `proto` on first use (a scratch only holds state during one scan, so
 * the transactions of a thread share it). NULL when it cannot be made.
 */
struct hs_scratch *sk__pf_thread_scratch(uint64_t serial,
                                         const struct hs_scratch *proto);

#endif
