/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transaction state shared by the engine's runtime files (txn.c runs the
 * phases, feed.c fills the variables from request and response data,
 * expand.c resolves macros and variables). Internal to src/waf.
 */
#ifndef SK_WAF_TXN_H
#define SK_WAF_TXN_H

#include <time.h>

#include "bodyproc/bodyproc.h"
#include "waf/engine.h"

/* One entry of a collection (ARGS, REQUEST_HEADERS, TX, ...). */
struct sk_entry {
    struct sk_str name;
    struct sk_str value;
    uint32_t hash; /* sk__name_hash(name): most lookups compare this */
    /* Selector regexes tried on this name (a bit per sk_target sel_bit)
     * and which of them matched: CRS repeats the same exclusion
     * (!REQUEST_COOKIES:/__utm/) in a hundred rules and scans TX with a
     * few regexes (TX:/^HEADER_NAME_/) in every transaction; the
     * compiler gives equal patterns one compiled code. Cleared when a
     * slot takes a new name; TX entries that folding leaves (fold.c)
     * come with every bit known. */
    uint64_t sel_known, sel_match;
    int64_t expires; /* persistent collections: epoch seconds, 0 never */
    /* The memo entries (memo.h) of the name and the value, valid while
     * the memo's epoch is the one noted; NULL: not looked up yet. */
    struct sk_memo_val *mv_name, *mv_value;
    uint64_t mv_name_epoch, mv_value_epoch;
};

/* An ordered list of entries, grown in the transaction arena. */
struct sk_coll {
    struct sk_entry *e;
    size_t n, cap;
    /* Collections with one entry per name (TX, IP, ...) keep an index:
     * open addressing on the name hash, entry index + 1, 0 when empty. */
    bool unique;
    uint32_t *idx;
    size_t idx_cap;
    /* Bumped by every change (add, set, delete, reset): names the
     * contents for caches over the whole collection. */
    uint64_t gen;
};

/*
 * A transformation result cached for the transaction: CRS applies the same
 * transformation chains to the same values in dozens of rules. Values live
 * in the transaction arena, so (pointer, length, transformation) names an
 * input exactly; an unchanged output is the input itself, so chains that
 * share a prefix share entries.
 */
struct sk_tfn_entry {
    const uint8_t *in;
    /* A transformation (its table row) or a whole chain (a rule's tfns
     * array, interned at compile time so equal chains share it). */
    const void *key;
    const uint8_t *out;
    /* For a whole-chain entry: the regex prefilter's hits on `out` for
     * the chain's prefilter group, once computed (NULL before). */
    const uint64_t *pf_bits;
    uint32_t in_len;
    uint32_t out_len; /* with SK_TCACHE_CHANGED when the value changed */
};

/* Values longer than this are not cached (lengths are stored in 31 bits). */
#define SK_TCACHE_MAX_LEN 0x7fffffffu
#define SK_TCACHE_CHANGED 0x80000000u

/* A target exclusion added at run time by ctl:ruleRemoveTarget*. */
struct sk_rt_exclusion {
    const struct sk_ract *ctl; /* which rules (by id, tag or msg) */
    const struct sk_target *target;
};

struct sk_waf_txn {
    const struct sk_waf_rules *rules;
    struct sk_arena *arena;
    char *id;
    struct timespec start;

    struct sk_coll colls[SK_V__COUNT];  /* collection variables */
    struct sk_str scalars[SK_V__COUNT]; /* scalar variables */
    bool has_scalar[SK_V__COUNT];
    uint64_t scalar_gen[SK_V__COUNT]; /* bumped by every set */

    /* Request data as fed. */
    struct sk_buf reqbody; /* heap; freed with the transaction */
    struct sk_buf resbody;
    bool reqbody_truncated, resbody_truncated;
    struct sk_str content_type; /* request Content-Type */
    struct sk_str res_content_type;
    struct sk_xml_doc *xml;
    /* Keys of the persistent collections loaded with initcol. */
    struct sk_str pstore_key[SK_V__COUNT];
    bool pstore_loaded[SK_V__COUNT];

    /* Runtime settings changed by ctl. */
    enum sk_engine_mode engine;
    bool reqbody_access;
    bool force_reqbody_var;
    enum sk_bodyproc processor;
    bool processor_set;
    uint64_t reqbody_limit;
    int audit_engine;
    const char *audit_parts;

    /* Rules removed and targets excluded at run time. */
    struct sk_id_range *removed_ids;
    size_t nremoved_ids, capremoved_ids;
    const char **removed_tags;
    size_t nremoved_tags, capremoved_tags;
    const char **removed_msgs;
    size_t nremoved_msgs, capremoved_msgs;
    struct sk_rt_exclusion *excl;
    size_t nexcl, capexcl;

    /* Progress. */
    int phase_done; /* highest phase run */
    bool allow_all; /* `allow`: skip the remaining request/response rules */
    bool interrupted;
    struct sk_waf_verdict verdict;
    int highest_severity;

    /* Matches that log. */
    struct sk_waf_match *matches;
    size_t nmatches, capmatches;

    /* Prefilter hits of the values of each sk_pf_chain (txn.c,
     * batch_get), one per chain of the rules, allocated on first use. */
    struct sk_pf_batch *pf_batches;
    /* Per variable (and per variable's names), the links that the memo
     * (memo.h) knows match none of its values (txn.c, nm_link_skip). */
    struct sk_nm_batch *nm_batches;
    size_t nm_skipped; /* links nm_link_skip ruled out (for tests) */

    /* Reused by selector regexes (ARGS:/^id_/, !REQUEST_COOKIES:/__utm/). */
    pcre2_match_data *selector_md;

    /* Transformation cache (open addressing, power-of-two size). Slots
     * are not zeroed: a bit per slot in tcache_used says which hold an
     * entry, so that a new table costs cap / 8 bytes of clearing. */
    struct sk_tfn_entry *tcache;
    uint64_t *tcache_used;
    size_t tcache_cap, tcache_n;

    /* Set when an operator run flagged TX:MSC_* (memo.h: such a value's
     * verdict is not remembered). */
    bool op_side_effect;
    /* The collection entry whose name (cur_names) or value
     * sk__target_values() is handing out, NULL for other values. */
    struct sk_entry *cur_entry;
    bool cur_names;
    /* Values met in this transaction and their interned memo entries
     * (memo.h), by where they live: open addressing, power-of-two size. */
    struct sk_vmemo {
        const uint8_t *p; /* NULL: free */
        size_t len;
        uint64_t epoch;
        struct sk_memo_val *mv;
    } * vmemo;
    size_t vmemo_cap, vmemo_n;

    /* Phase 1 started from the folded TX (fold.h): folded rules are
     * not run. */
    bool fold_on;
    /* TX:0-9 that may exist (a bit per digit): set when TX gets an entry
     * with that name, so that a capture clears only those. */
    uint16_t tx_digits;

    /* The rule being evaluated (for RULE.x macros). */
    const struct sk_rule *cur_rule;
    int macro_depth;
    /* Pending per-value match description for the log. */
    struct sk_str last_op_value;
};

/* Hash of a name, ASCII case-insensitively (FNV-1a over lower case). */
static inline uint32_t
sk__name_hash(struct sk_str s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.len; i++) {
        h ^= sk_ascii_lower(s.p[i]);
        h *= 16777619u;
    }
    return h;
}

/* The bit of a TX:0-9 name in tx_digits (struct sk_waf_txn) and
 * fold_tx_digits (struct sk_waf_rules); 0 for any other name. */
static inline uint16_t
sk__tx_digit_bit(struct sk_str name)
{
    if (name.len != 1 || name.p[0] < '0' || name.p[0] > '9')
        return 0;
    return (uint16_t)(1u << (name.p[0] - '0'));
}

/* Collection helpers (txn arena). Names compare ASCII case-insensitively. */
int sk__coll_add(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
                 struct sk_str value);
/* Notes in `n` entries which of the rule set's regex selectors (struct
 * sk_target sel_bit) select their names. */
void sk__sel_fill(struct sk_waf_txn *t, struct sk_entry *e, size_t n);
/* sk__coll_add() with the name's sk__name_hash() given; `copy` false
 * keeps name and value as given (they must outlive the transaction's
 * use of the collection, as sk__coll_add_view()). */
int sk__coll_add_h(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
                   uint32_t hash, struct sk_str value, bool copy);
struct sk_entry *sk__coll_get(struct sk_coll *c, struct sk_str name);
/* sk__coll_get() with the name's sk__name_hash() given. */
struct sk_entry *sk__coll_get_h(struct sk_coll *c, struct sk_str name,
                                uint32_t hash);
int sk__coll_set(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
                 struct sk_str value);
/*
 * sk__coll_set() with the name's sk__name_hash() given, and without
 * copying the name (name_kept) or the value (value_kept) into the arena:
 * for strings that outlive the transaction and end in a NUL (the
 * constant text of a compiled rule).
 */
int sk__coll_set_h(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
                   uint32_t hash, bool name_kept, struct sk_str value,
                   bool value_kept);
void sk__coll_del(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name);

/*
 * Without a copy: `name` and `value` (or `v`) must live as long as the
 * transaction (in its arena, or static), as values read from variables,
 * transformation results and macro expansions do.
 */
int sk__coll_add_view(struct sk_waf_txn *t, struct sk_coll *c,
                      struct sk_str name, struct sk_str value);
void sk__scalar_set_view(struct sk_waf_txn *t, enum sk_var_id id,
                         struct sk_str v);

/* Sets a scalar variable to a copy of `v`. */
int sk__scalar_set(struct sk_waf_txn *t, enum sk_var_id id, struct sk_str v);
int sk__scalar_set_c(struct sk_waf_txn *t, enum sk_var_id id, const char *v);
int sk__scalar_set_u64(struct sk_waf_txn *t, enum sk_var_id id, uint64_t v);

/* Decimal text of -mag (neg) or mag, written at the end of `buf`. */
#define SK_NUM_TEXT 24
struct sk_str sk__num_text(char buf[SK_NUM_TEXT], uint64_t mag, bool neg);

/*
 * Expands a macro: *out is the rule's constant text when the macro is
 * constant, else a new NUL-terminated string in the transaction arena
 * that nothing else refers to (run_setvar() keeps either without a
 * copy).
 */
int sk__macro_expand(struct sk_waf_txn *t, const struct sk_macro *m,
                     struct sk_str *out);

/*
 * Calls fn for every value of a target (selector applied, exclusions of
 * `rule` applied) with the value's name (e.g. the ARGS key) and value.
 */
typedef int (*sk__value_fn)(struct sk_waf_txn *t, void *ud,
                            const struct sk_target *tgt, struct sk_str name,
                            struct sk_str value);
int sk__target_values(struct sk_waf_txn *t, const struct sk_rule *rule,
                      const struct sk_target *tgt, sk__value_fn fn, void *ud);

/* Body processing at the start of phase 2. */
int sk__process_request_body(struct sk_waf_txn *t);
/* Derived request variables at the start of phase 1 (cookies, ...). */
int sk__process_request_headers(struct sk_waf_txn *t);

/* Persistent collections. */
int sk__pstore_load(struct sk_waf_txn *t, enum sk_var_id coll,
                    struct sk_str key);
void sk__pstore_save_all(struct sk_waf_txn *t);

#endif
