/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load-time evaluation of the rules whose outcome is the same in every
 * transaction (fold.h). CRS opens every transaction with some thirty
 * rules that only read and set TX variables from constants
 * (`SecRule &TX:paranoia_level "@eq 0" "setvar:tx.paranoia_level=1"`),
 * and each of its rule files starts with rules that skip the rest of the
 * file by paranoia level (`SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 2"
 * "skipAfter:END-..."`). Their outcome depends on the configuration
 * alone: this pass runs them once, on a transaction without request
 * data, keeps the TX variables they set, and marks them (and the rules
 * a matched skip jumps over) `folded` so that transactions start from
 * those variables instead of running them again.
 *
 * A rule is folded only when that cannot change what any transaction
 * sees, which the pass checks conservatively:
 * - it reads nothing but TX variables named literally (no request data,
 *   no TX:/regex/, no TX:MSC_* flags the engine sets by itself), with a
 *   deterministic operator, and its actions only set TX variables named
 *   literally from such values (no ctl, initcol, expirevar...);
 * - when it matches: it does not log, and it passes;
 * - the rules that stay (they read the request and run every time) and
 *   come before it do not set what it reads, do not read what it sets,
 *   and cannot remove it (ctl:ruleRemoveById; after a removal by tag or
 *   message no matched skip folds);
 * - a matched skip does not jump over the place where a skip of a rule
 *   that stays goes on;
 * - it sets variables only in phase 1 (phase 1 always runs first; a
 *   later phase may not run at all), and only before any rule that stays
 *   sets one (TX keeps the order variables were first set in, which
 *   TX:/regex/ targets see), skips, or may end the phase (deny, allow,
 *   ctl:ruleEngine);
 * - no rule anywhere reads MATCHED_VAR(S) outside its own match, which
 *   would see the last folded match instead of the last match run.
 * A rule whose first link reads only such known TX values and does not
 * match folds whatever the rest of it does: it never matches.
 * A transaction whose TX is not empty when phase 1 starts (a flag the
 * request parser raised) runs every rule as written (txn.c).
 */
#include "waf/fold.h"

#include <string.h>
#include <strings.h>

#include "util/arena.h"
#include "util/error.h"

bool sk__fold_disabled;

/* TX variable names, compared ASCII case-insensitively: whole names, and
 * prefixes for names built at run time (tx.header_name_%{tx.0}). */
struct names {
    struct sk_str *v;
    bool *prefix; /* v[i] is a prefix */
    size_t n, cap;
    bool any; /* some name not known at all (the empty prefix) */
};

static int
names_put(struct sk_arena *a, struct names *s, struct sk_str name, bool prefix)
{
    if (prefix && name.len == 0) {
        s->any = true;
        return 0;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->prefix[i] == prefix && sk_str_eq_nocase(s->v[i], name))
            return 0;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        struct sk_str *nv = sk_arena_calloc(a, nc, sizeof(*nv));
        bool *np = sk_arena_calloc(a, nc, sizeof(*np));
        if (nv == NULL || np == NULL)
            return -SK_ENOMEM;
        if (s->n > 0) {
            memcpy(nv, s->v, s->n * sizeof(*nv));
            memcpy(np, s->prefix, s->n * sizeof(*np));
        }
        s->v = nv;
        s->prefix = np;
        s->cap = nc;
    }
    s->v[s->n] = name;
    s->prefix[s->n] = prefix;
    s->n++;
    return 0;
}

static int
names_add(struct sk_arena *a, struct names *s, struct sk_str name)
{
    return names_put(a, s, name, false);
}

static int
names_merge(struct sk_arena *a, struct names *to, const struct names *from)
{
    to->any = to->any || from->any;
    int rc = 0;
    for (size_t i = 0; i < from->n && rc == 0; i++)
        rc = names_put(a, to, from->v[i], from->prefix[i]);
    return rc;
}

static bool
starts_nocase(struct sk_str s, struct sk_str p)
{
    return s.len >= p.len && sk_str_eq_nocase(sk_str_make(s.p, p.len), p);
}

static bool
names_empty(const struct names *s)
{
    return s->n == 0 && !s->any;
}

static bool
names_meet(const struct names *a, const struct names *b)
{
    if ((a->any && !names_empty(b)) || (b->any && !names_empty(a)))
        return true;
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++) {
            struct sk_str x = a->v[i], y = b->v[j];
            if (a->prefix[i]   ? starts_nocase(y, x)
                : b->prefix[j] ? starts_nocase(x, y)
                               : sk_str_eq_nocase(x, y))
                return true;
        }
    return false;
}

/* What one rule (all its links) reads, sets and may do to the flow. */
struct info {
    bool pure; /* may be folded: see the file comment */
    struct names reads, writes;
    /* When it runs, it may remove rules by tag or message (no skip is
     * folded after it), or end the phase or the rules (deny, allow,
     * ctl:ruleEngine: no rule after it may set variables in advance). */
    bool skips, ends;
    struct sk_id_range *ranges; /* ctl:ruleRemove(Target)ById */
    size_t nranges, capranges;
};

static bool
is_msc(struct sk_str name)
{
    return name.len >= 4 && strncasecmp((const char *)name.p, "MSC_", 4) == 0;
}

static int
read_tx(struct sk_arena *a, struct info *in, struct sk_str key)
{
    if (key.len == 0) {
        in->reads.any = true;
        in->pure = false;
        return 0;
    }
    if (is_msc(key))
        in->pure = false;
    return names_add(a, &in->reads, key);
}

/* The TX variables a macro reads; `counts`: whether its other variables
 * make the rule impure (msg and logdata are expanded only to log). */
static int
scan_macro(struct sk_arena *a, struct info *in, const struct sk_macro *m,
           bool counts)
{
    for (size_t i = 0; !m->constant && i < m->nparts; i++) {
        const struct sk_macro_part *p = &m->parts[i];
        if (p->def == NULL || p->def->id == SK_V_RULE)
            continue;
        if (p->def->id == SK_V_TX) {
            int rc = read_tx(a, in, p->key);
            if (rc != 0)
                return rc;
        } else if (counts) {
            in->pure = false;
        }
    }
    return 0;
}

/* Operators whose result depends on the value and argument alone. */
static bool
op_pure(const char *name)
{
    static const char *const ok[] = {
        "eq",         "ge",           "gt",       "le",
        "lt",         "streq",        "strmatch", "rx",
        "pm",         "within",       "contains", "endsWith",
        "beginsWith", "containsWord", "noMatch",  "unconditionalMatch"};
    if (name == NULL)
        return false;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcasecmp(name, ok[i]) == 0)
            return true;
    return false;
}

static bool
matched_var(enum sk_var_id id)
{
    return id == SK_V_MATCHED_VAR || id == SK_V_MATCHED_VARS ||
           id == SK_V_MATCHED_VAR_NAME || id == SK_V_MATCHED_VARS_NAMES;
}

static enum sk_disrupt
effective_disrupt(const struct sk_waf_rules *r, const struct sk_rule *rule)
{
    enum sk_disrupt d = rule->disrupt;
    if (d == SK_D_BLOCK)
        d = r->has_default[rule->phase - 1]
                ? r->defaults[rule->phase - 1].disrupt
                : SK_D_PASS;
    return d;
}

static bool
passes(const struct sk_waf_rules *r, const struct sk_rule *rule)
{
    enum sk_disrupt d = effective_disrupt(r, rule);
    return d == SK_D_PASS || d == SK_D_NONE || d == SK_D_BLOCK;
}

static int
add_ranges(struct sk_arena *a, struct info *in, const struct sk_ract *ra)
{
    for (size_t i = 0; i < ra->nranges; i++) {
        if (in->nranges == in->capranges) {
            size_t nc = in->capranges ? in->capranges * 2 : 8;
            struct sk_id_range *nr = sk_arena_calloc(a, nc, sizeof(*nr));
            if (nr == NULL)
                return -SK_ENOMEM;
            if (in->nranges > 0)
                memcpy(nr, in->ranges, in->nranges * sizeof(*nr));
            in->ranges = nr;
            in->capranges = nc;
        }
        in->ranges[in->nranges++] = ra->ranges[i];
    }
    return 0;
}

static int
scan_ract(struct sk_arena *a, struct info *in, const struct sk_ract *ra)
{
    int rc = 0;
    switch (ra->kind) {
    case SK_RA_SETVAR:
    case SK_RA_EXPIREVAR:
        if (ra->kind == SK_RA_EXPIREVAR || ra->coll != SK_V_TX)
            in->pure = false;
        if (ra->coll == SK_V_TX) {
            if (ra->name.constant) {
                if (is_msc(ra->name.text))
                    in->pure = false;
                rc = names_add(a, &in->writes, ra->name.text);
            } else {
                /* Built at run time: known by its literal start. */
                const struct sk_macro_part *p0 = &ra->name.parts[0];
                rc = names_put(a, &in->writes,
                               p0->def == NULL ? p0->lit : SK_STR_NULL, true);
                in->pure = false;
            }
        }
        if (rc == 0)
            rc = scan_macro(a, in, &ra->name, true);
        if (rc == 0)
            rc = scan_macro(a, in, &ra->value, true);
        return rc;
    case SK_RA_CTL:
        in->pure = false;
        switch (ra->ctl) {
        case SK_CTL_RULE_ENGINE:
            in->ends = true;
            return 0;
        case SK_CTL_RULE_REMOVE_BY_MSG:
        case SK_CTL_RULE_REMOVE_BY_TAG:
        case SK_CTL_RULE_REMOVE_TARGET_BY_MSG:
        case SK_CTL_RULE_REMOVE_TARGET_BY_TAG:
            in->skips = true;
            return 0;
        case SK_CTL_RULE_REMOVE_BY_ID:
        case SK_CTL_RULE_REMOVE_TARGET_BY_ID:
            return add_ranges(a, in, ra);
        default:
            return 0; /* body processing, audit log: not the rules */
        }
    default:
        /* initcol, setenv, setuid, setsid, deprecatevar: no TX. */
        in->pure = false;
        return 0;
    }
}

/* A link's condition: its targets, operator and operator argument. */
static int
link_cond(struct sk_arena *a, const struct sk_rule *l, struct info *in)
{
    int rc = 0;
    if (l->unavailable != NULL)
        in->pure = false;
    for (size_t i = 0; i < l->ntargets && rc == 0; i++) {
        const struct sk_target *tgt = &l->targets[i];
        if (tgt->exclude)
            continue; /* narrows what is read */
        if (tgt->def->id != SK_V_TX || tgt->def->kind != SK_VK_COLLECTION) {
            in->pure = false;
            continue;
        }
        if (tgt->key_re != NULL) {
            /* TX:/^header_name_/ reads the names it starts with. */
            in->pure = false;
            rc = names_put(a, &in->reads,
                           tgt->key_lit_anchored ? tgt->key_lit : SK_STR_NULL,
                           true);
        } else {
            rc = read_tx(a, in, tgt->key);
        }
    }
    if (!l->unconditional && !op_pure(l->op_name))
        in->pure = false;
    if (rc == 0 && l->op_dynamic)
        rc = scan_macro(a, in, &l->op_macro, true);
    return rc;
}

static int
analyze(struct sk_arena *a, const struct sk_waf_rules *r,
        const struct sk_rule *rule, struct info *in, struct info *cond)
{
    memset(cond, 0, sizeof(*cond));
    cond->pure = true;
    int rc = link_cond(a, rule, cond);
    if (rc != 0)
        return rc;
    memset(in, 0, sizeof(*in));
    in->pure = true;
    in->ends = !passes(r, rule);
    static const char *const digits[] = {"0", "1", "2", "3", "4",
                                         "5", "6", "7", "8", "9"};
    for (const struct sk_rule *l = rule; l != NULL && rc == 0; l = l->chain) {
        rc = link_cond(a, l, in);
        if (rc == 0)
            rc = scan_macro(a, in, &l->msg, false);
        if (rc == 0)
            rc = scan_macro(a, in, &l->logdata, false);
        if (rc == 0)
            rc = scan_macro(a, in, &l->redirect, false);
        for (size_t i = 0; i < l->nracts && rc == 0; i++)
            rc = scan_ract(a, in, &l->racts[i]);
        for (size_t i = 0; l->capture && i < 10 && rc == 0; i++)
            rc = names_add(a, &in->writes, sk_str_c(digits[i]));
    }
    return rc;
}

/* Whether some rule reads MATCHED_VAR(S) other than after its own match:
 * in a starter's targets, or in a SecAction's macros. */
static bool
reads_matched_elsewhere(const struct sk_waf_rules *r)
{
    for (size_t i = 0; i < r->nall; i++) {
        const struct sk_rule *rule = r->all[i];
        if (rule->is_marker || rule->removed)
            continue;
        for (size_t k = 0; k < rule->ntargets; k++)
            if (matched_var(rule->targets[k].def->id))
                return true;
        if (!rule->unconditional)
            continue;
        const struct sk_macro *ms[] = {&rule->msg, &rule->logdata,
                                       &rule->redirect};
        for (size_t m = 0; m < 3; m++)
            for (size_t p = 0; p < ms[m]->nparts; p++)
                if (ms[m]->parts[p].def != NULL &&
                    matched_var(ms[m]->parts[p].def->id))
                    return true;
        for (size_t a = 0; a < rule->nracts; a++) {
            const struct sk_macro *rm[] = {&rule->racts[a].name,
                                           &rule->racts[a].value};
            for (size_t m = 0; m < 2; m++)
                for (size_t p = 0; p < rm[m]->nparts; p++)
                    if (rm[m]->parts[p].def != NULL &&
                        matched_var(rm[m]->parts[p].def->id))
                        return true;
        }
    }
    return false;
}

static bool
removable(const struct info *ctl, uint64_t id)
{
    for (size_t i = 0; i < ctl->nranges; i++)
        if (id >= ctl->ranges[i].lo && id <= ctl->ranges[i].hi)
            return true;
    return false;
}

static void
fold_one(struct sk_rule *rule, size_t *nfolded)
{
    if (!rule->is_marker && !rule->folded) {
        rule->folded = true;
        (*nfolded)++;
    }
}

/* A folded skipAfter at index i: the rules before its marker (index
 * `end`, the phase's end without one) never run. Returns the index to go
 * on after, as txn.c's run_phase() does. */
static size_t
fold_until(const struct sk_phase_prog *prog, size_t i, size_t end,
           size_t *nfolded)
{
    for (size_t j = i + 1; j < end && j < prog->nrules; j++)
        fold_one(prog->rules[j], nfolded);
    return end > i ? end - 1 : i;
}

/* Where a phase goes on after the rule at index i matched and skipped
 * (txn.c's run_phase()), or i + 1 when it does not skip. */
static size_t
resume_at(const struct sk_phase_prog *prog, size_t i)
{
    const struct sk_rule *rule = prog->rules[i];
    if (rule->skip_after != NULL)
        return rule->skip_to + 1;
    unsigned n = rule->skip;
    while (n > 0 && i + 1 < prog->nrules) {
        i++;
        if (!prog->rules[i]->is_marker)
            n--;
    }
    return i + 1;
}

/* A folded skip:n at index i: the next n rules (not markers) never run. */
static size_t
fold_next(const struct sk_phase_prog *prog, size_t i, unsigned n,
          size_t *nfolded)
{
    while (n > 0 && i + 1 < prog->nrules) {
        i++;
        if (!prog->rules[i]->is_marker) {
            fold_one(prog->rules[i], nfolded);
            n--;
        }
    }
    return i;
}

/* Copies the template's TX into the rule set's arena, ready to be
 * copied into every transaction (txn.c, apply_fold). */
static int
keep_tx(struct sk_waf_rules *r, const struct sk_coll *tx)
{
    size_t n = tx->n;
    if (n == 0)
        return 0;
    size_t idx_cap = 64;
    while (idx_cap < 4 * (n + 1))
        idx_cap *= 2;
    struct sk_entry *e = sk_arena_calloc(r->arena, n, sizeof(*e));
    uint32_t *idx = sk_arena_calloc(r->arena, idx_cap, sizeof(*idx));
    if (e == NULL || idx == NULL)
        return -SK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char *name =
            sk_arena_memdup(r->arena, tx->e[i].name.p, tx->e[i].name.len);
        char *value =
            sk_arena_memdup(r->arena, tx->e[i].value.p, tx->e[i].value.len);
        if (name == NULL || value == NULL)
            return -SK_ENOMEM;
        e[i].name = sk_str_make(name, tx->e[i].name.len);
        e[i].value = sk_str_make(value, tx->e[i].value.len);
        e[i].hash = sk__name_hash(e[i].name);
        r->fold_tx_digits |= sk__tx_digit_bit(e[i].name);
        size_t j = e[i].hash & (idx_cap - 1);
        while (idx[j] != 0)
            j = (j + 1) & (idx_cap - 1);
        idx[j] = (uint32_t)(i + 1);
    }
    r->fold_tx = e;
    r->nfold_tx = n;
    r->fold_idx = idx;
    r->fold_idx_cap = idx_cap;
    return 0;
}

int
sk__waf_fold(struct sk_waf_rules *r)
{
    r->nfolded = 0;
    if (sk__fold_disabled || reads_matched_elsewhere(r))
        return 0;
    struct sk_arena *a = sk_arena_new(1 << 14);
    struct sk_waf_txn *tpl = a ? sk_waf_txn_new(r, "fold") : NULL;
    if (tpl == NULL) {
        sk_arena_free(a);
        return -SK_ENOMEM;
    }
    /* What the rules that stay read and set, and the ids they remove. */
    struct names R = {0}, W = {0};
    struct info ctl = {0};
    size_t nfolded = 0;
    bool stop = false, ended = false;
    int rc = 0;
    /* Where the phase's skipping rules that stay go on: a folded skip
     * may not jump over one of those places. */
    size_t *lands = NULL, nlands = 0;
    for (int p = 0; p < SK_PHASES && rc == 0; p++) {
        const struct sk_phase_prog *prog = &r->phases[p];
        nlands = 0;
        lands = sk_arena_calloc(a, prog->nrules + 1, sizeof(*lands));
        if (lands == NULL) {
            rc = -SK_ENOMEM;
            break;
        }
        for (size_t i = 0; i < prog->nrules && rc == 0; i++) {
            struct sk_rule *rule = prog->rules[i];
            if (rule->is_marker || rule->folded)
                continue;
            struct info in, cond;
            rc = analyze(a, r, rule, &in, &cond);
            if (rc != 0)
                break;
            bool quiet = rule->log <= 0 && passes(r, rule);
            bool writes = !names_empty(&in.writes);
            bool lands_inside = false;
            size_t res = resume_at(prog, i);
            for (size_t k = 0; k < nlands; k++)
                lands_inside = lands_inside || (lands[k] > i && lands[k] < res);
            bool cand = !stop && !lands_inside && in.pure &&
                        !removable(&ctl, rule->id) && (quiet || !writes) &&
                        ((p == 0 && !ended && names_empty(&W)) || !writes) &&
                        !names_meet(&in.reads, &W) &&
                        !names_meet(&in.writes, &R);
            if (cand) {
                bool matched = false;
                rc = sk__waf_eval_starter(tpl, rule, &matched);
                if (rc != 0)
                    break;
                if (!matched || quiet) {
                    fold_one(rule, &nfolded);
                    if (matched && rule->skip_after != NULL)
                        i = fold_until(prog, i, rule->skip_to, &nfolded);
                    else if (matched && rule->skip > 0)
                        i = fold_next(prog, i, rule->skip, &nfolded);
                    continue;
                }
                /* It matches in every transaction and logs or disrupts:
                 * it stays (it set nothing, being checked above). */
            } else if (cond.pure && !names_meet(&cond.reads, &W)) {
                /* A rule whose first link reads only known TX values
                 * and does not match never matches: whatever the rest
                 * of it would read or do, it is dead, here or skipped,
                 * removed or not. */
                bool matched = false;
                rc = sk__waf_eval_cond(tpl, rule, &matched);
                if (rc != 0)
                    break;
                if (!matched) {
                    fold_one(rule, &nfolded);
                    continue;
                }
            }
            rc = names_merge(a, &R, &in.reads);
            if (rc == 0)
                rc = names_merge(a, &W, &in.writes);
            for (size_t k = 0; k < in.nranges && rc == 0; k++) {
                struct sk_ract one = {.ranges = &in.ranges[k], .nranges = 1};
                rc = add_ranges(a, &ctl, &one);
            }
            if (rule->skip_after != NULL || rule->skip > 0) {
                /* When it skips, what it skips does not run: nothing
                 * after it may be set in advance. */
                lands[nlands++] = res;
                ended = true;
            }
            stop = stop || in.skips;
            ended = ended || in.ends;
        }
    }
    /* An operator that hit a limit at load time flagged TX:MSC_*: it
     * might not run in a transaction, so nothing is folded. */
    const struct sk_coll *tx = &tpl->colls[SK_V_TX];
    for (size_t i = 0; rc == 0 && i < tx->n; i++)
        if (is_msc(tx->e[i].name))
            rc = -SK_ELIMIT;
    if (rc == 0)
        rc = keep_tx(r, tx);
    if (rc == 0) /* the folded TX's names, judged by every selector */
        sk__sel_fill(tpl, r->fold_tx, r->nfold_tx);
    if (rc == 0) {
        r->nfolded = nfolded;
    } else {
        /* Nothing half done: every rule runs as written. */
        for (size_t i = 0; i < r->nall; i++)
            r->all[i]->folded = false;
        r->nfold_tx = 0;
        r->nfolded = 0;
    }
    sk_waf_txn_free(tpl);
    sk_arena_free(a);
    return rc == -SK_ELIMIT ? 0 : rc;
}

int
sk__waf_live(struct sk_waf_rules *r)
{
    for (int p = 0; p < SK_PHASES; p++) {
        struct sk_phase_prog *prog = &r->phases[p];
        if (prog->nrules >= UINT32_MAX)
            return -SK_ELIMIT;
        prog->nlive = 0;
        prog->live =
            sk_arena_calloc(r->arena, prog->nrules + 1, sizeof(*prog->live));
        prog->live_at =
            sk_arena_calloc(r->arena, prog->nrules + 1, sizeof(*prog->live_at));
        prog->next_live = sk_arena_calloc(r->arena, prog->nrules + 2,
                                          sizeof(*prog->next_live));
        if (prog->live == NULL || prog->live_at == NULL ||
            prog->next_live == NULL)
            return -SK_ENOMEM;
        for (size_t i = 0; i < prog->nrules; i++) {
            prog->next_live[i] = (uint32_t)prog->nlive;
            struct sk_rule *rule = prog->rules[i];
            if (rule->is_marker || rule->folded)
                continue;
            prog->live_at[prog->nlive] = (uint32_t)i;
            prog->live[prog->nlive++] = rule;
        }
        /* A skip to the end of the phase (skip_to == nrules) too. */
        prog->next_live[prog->nrules] = (uint32_t)prog->nlive;
        prog->next_live[prog->nrules + 1] = (uint32_t)prog->nlive;
    }
    return 0;
}

size_t
sk__waf_folded(const struct sk_waf_rules *r)
{
    return r->nfolded;
}
