/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verdicts remembered across transactions. The regex prefilter's hits on
 * a value under a transformation chain, and whether a rule link (its
 * transformations and a side-effect-free operator) matches a value,
 * depend on the value's bytes only; many values come back request after
 * request (header names, a browser's User-Agent and Accept lines, common
 * argument names): their transformation, scan and operator are then
 * skipped. Keys compare the bytes themselves, never a hash alone.
 * Internal to src/waf; one memo of each kind per thread, bound to one
 * compiled rule set (by its serial number), bounded in entries, value
 * length and memory.
 */
#ifndef SK_WAF_MEMO_H
#define SK_WAF_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/str.h"

/* Longest value remembered (a small page's response body fits). */
#define SK_PF_MEMO_MAX_LEN 4096
/* Bytes of values a memo keeps before it starts over. */
#define SK_PF_MEMO_MAX_BYTES (1024 * 1024)
/* Entries before the memo starts over (half its slots). */
#define SK_PF_MEMO_MAX_ENTRIES 4096

/*
 * The hits (`words` 64-bit words) remembered for the bytes of `v` under
 * chain `chain` of the rule set numbered `serial`, or NULL. The pointer
 * stays valid until the next sk__pf_memo_put() or sk__pf_memo_drop() on
 * this thread. Never blocks.
 */
const uint64_t *sk__pf_memo_get(uint64_t serial, const void *chain,
                                struct sk_str v, size_t words);

/*
 * Remembers `bits` for (serial, chain, bytes of v); values longer than
 * SK_PF_MEMO_MAX_LEN are not kept. A memo of another rule set is dropped
 * first; a full one starts over. Out of memory: nothing is kept.
 */
void sk__pf_memo_put(uint64_t serial, const void *chain, struct sk_str v,
                     const uint64_t *bits, size_t words);

/*
 * Whether rule link `link` of rule set `serial` is known not to match the
 * value with the bytes of `v` (its transformations and operator gave no
 * match, without side effects). Never blocks.
 */
bool sk__op_memo_no_match(uint64_t serial, const void *link, struct sk_str v);

/* Remembers that `link` does not match the bytes of `v` (values longer
 * than SK_PF_MEMO_MAX_LEN are not kept). */
void sk__op_memo_note_no_match(uint64_t serial, const void *link,
                               struct sk_str v);

/* Frees this thread's memos and scratch if they belong to rule set
 * `serial`. */
void sk__pf_memo_drop(uint64_t serial);

struct hs_scratch;

/*
 * This thread's Vectorscan scratch for rule set `serial`, cloned from
 * `proto` on first use (a scratch only holds state during one scan, so
 * the transactions of a thread share it). NULL when it cannot be made.
 */
struct hs_scratch *sk__pf_thread_scratch(uint64_t serial,
                                         const struct hs_scratch *proto);

#endif
