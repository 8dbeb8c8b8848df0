/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load-time evaluation of the rules whose outcome is the same in every
 * transaction (fold.c): the TX variables they set become every
 * transaction's starting TX, and they (with the rules their matched
 * skips jump over) are marked `folded` and not run again.
 */
#ifndef SK_WAF_FOLD_H
#define SK_WAF_FOLD_H

#include "waf/txn.h"

/*
 * Folds what can be folded in a compiled rule set (after its phases,
 * prefilters and memo marks are built). 0, or -SK_ENOMEM (then nothing
 * is folded).
 */
int sk__waf_fold(struct sk_waf_rules *r);

/* Builds each phase's list of the rules that run (struct sk_phase_prog
 * live), after folding. 0 or -SK_ENOMEM. */
int sk__waf_live(struct sk_waf_rules *r);

/* How many rules a rule set folded (tests, `proxy -t`). */
size_t sk__waf_folded(const struct sk_waf_rules *r);

/*
 * Evaluates one rule (its whole chain and, when it matches, its actions
 * other than logging, disruption and skips) in `t`: txn.c, for fold.c.
 */
int sk__waf_eval_starter(struct sk_waf_txn *t, const struct sk_rule *rule,
                         bool *matched);

/* Evaluates the condition of a rule's first link alone (no chain, no
 * actions, no captures) in `t`. */
int sk__waf_eval_cond(struct sk_waf_txn *t, const struct sk_rule *rule,
                      bool *matched);

/* Tests: set before compiling to fold nothing. */
extern bool sk__fold_disabled;

#endif
