/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading variables: collections and scalars of a transaction, selectors
 * and exclusions of rule targets, computed variables (time, duration,
 * rule fields), and macro expansion (%{tx.score}) on top of them.
 */
#include "waf/txn.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/limits.h"

/* ---- Collections ---------------------------------------------------- */

static int
index_rebuild(struct sk_waf_txn *t, struct sk_coll *c, size_t cap)
{
    uint32_t *idx = sk_arena_calloc(t->arena, cap, sizeof(*idx));
    if (idx == NULL)
        return -SK_ENOMEM;
    for (size_t i = 0; i < c->n; i++) {
        size_t j = c->e[i].hash & (cap - 1);
        while (idx[j] != 0)
            j = (j + 1) & (cap - 1);
        idx[j] = (uint32_t)(i + 1);
    }
    c->idx = idx;
    c->idx_cap = cap;
    return 0;
}

/* What coll_add() copies into the arena (the rest is kept as given). */
enum { COPY_NAME = 1, COPY_VALUE = 2 };

static int
coll_add(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
         uint32_t hash, struct sk_str value, unsigned copy)
{
    if (c->n == c->cap) {
        /* TX holds some 60-100 variables under CRS (more with many
         * request headers): start it big enough not to grow. */
        size_t cap = c->cap ? c->cap * 2 : c == &t->colls[SK_V_TX] ? 128 : 16;
        /* Not zeroed: an entry is written whole when it is added, and
         * only entries below n are read. */
        struct sk_entry *ne = cap <= SIZE_MAX / sizeof(*ne)
                                  ? sk_arena_alloc(t->arena, cap * sizeof(*ne))
                                  : NULL;
        if (ne == NULL)
            return -SK_ENOMEM;
        if (c->n > 0)
            memcpy(ne, c->e, c->n * sizeof(*ne));
        c->e = ne;
        c->cap = cap;
    }
    if (c->n >= UINT32_MAX - 1)
        return -SK_ELIMIT;
    struct sk_entry *e = &c->e[c->n];
    e->name = name;
    e->value = value;
    if (((copy & COPY_NAME) &&
         sk_arena_strdup_str(t->arena, name, &e->name) != 0) ||
        ((copy & COPY_VALUE) &&
         sk_arena_strdup_str(t->arena, value, &e->value) != 0))
        return -SK_ENOMEM;
    e->expires = 0;
    /* The slot may have held another entry (after a delete or a reset),
     * or nothing written yet: no remembered results. */
    e->sel_known = 0;
    e->sel_match = 0;
    e->mv_name = NULL;
    e->mv_value = NULL;
    e->mv_name_epoch = 0;
    e->mv_value_epoch = 0;
    e->hash = hash;
    c->n++;
    c->gen++;
    if (c == &t->colls[SK_V_TX])
        t->tx_digits |= sk__tx_digit_bit(name);
    if (c->unique) {
        if ((c->n + 1) * 2 > c->idx_cap)
            return index_rebuild(t, c,
                                 c->idx_cap    ? c->idx_cap * 2
                                 : c->cap > 32 ? 2 * c->cap
                                               : 64);
        size_t j = e->hash & (c->idx_cap - 1);
        while (c->idx[j] != 0)
            j = (j + 1) & (c->idx_cap - 1);
        c->idx[j] = (uint32_t)c->n;
    }
    return 0;
}

int
sk__coll_add(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
             struct sk_str value)
{
    return coll_add(t, c, name, sk__name_hash(name), value,
                    COPY_NAME | COPY_VALUE);
}

int
sk__coll_add_h(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
               uint32_t hash, struct sk_str value, bool copy)
{
    return coll_add(t, c, name, hash, value, copy ? COPY_NAME | COPY_VALUE : 0);
}

int
sk__coll_add_view(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
                  struct sk_str value)
{
    return coll_add(t, c, name, sk__name_hash(name), value, 0);
}

static struct sk_entry *
coll_get_hashed(struct sk_coll *c, struct sk_str name, uint32_t h)
{
    if (c->unique && c->idx != NULL) {
        size_t j = h & (c->idx_cap - 1);
        while (c->idx[j] != 0) {
            struct sk_entry *e = &c->e[c->idx[j] - 1];
            if (e->hash == h && sk_str_eq_nocase(e->name, name))
                return e;
            j = (j + 1) & (c->idx_cap - 1);
        }
        return NULL;
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].hash == h && sk_str_eq_nocase(c->e[i].name, name))
            return &c->e[i];
    return NULL;
}

struct sk_entry *
sk__coll_get_h(struct sk_coll *c, struct sk_str name, uint32_t hash)
{
    return coll_get_hashed(c, name, hash);
}

struct sk_entry *
sk__coll_get(struct sk_coll *c, struct sk_str name)
{
    return coll_get_hashed(c, name, sk__name_hash(name));
}

int
sk__coll_set(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
             struct sk_str value)
{
    return sk__coll_set_h(t, c, name, sk__name_hash(name), false, value, false);
}

int
sk__coll_set_h(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name,
               uint32_t hash, bool name_kept, struct sk_str value,
               bool value_kept)
{
    struct sk_entry *e = coll_get_hashed(c, name, hash);
    if (e == NULL)
        return coll_add(t, c, name, hash, value,
                        (name_kept ? 0 : COPY_NAME) |
                            (value_kept ? 0 : COPY_VALUE));
    c->gen++;
    e->mv_value = NULL; /* remembered for the old value */
    if (value_kept) {
        e->value = value;
        return 0;
    }
    return sk_arena_strdup_str(t->arena, value, &e->value);
}

void
sk__coll_del(struct sk_waf_txn *t, struct sk_coll *c, struct sk_str name)
{
    uint32_t h = sk__name_hash(name);
    if (coll_get_hashed(c, name, h) == NULL)
        return;
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].hash != h || !sk_str_eq_nocase(c->e[i].name, name))
            c->e[w++] = c->e[i];
    c->n = w;
    c->gen++;
    if (c->unique && c->idx != NULL && index_rebuild(t, c, c->idx_cap) != 0) {
        /* No memory for a new index: fall back to scanning. */
        c->idx = NULL;
        c->idx_cap = 0;
    }
}

int
sk__scalar_set(struct sk_waf_txn *t, enum sk_var_id id, struct sk_str v)
{
    if (sk_arena_strdup_str(t->arena, v, &t->scalars[id]) != 0)
        return -SK_ENOMEM;
    t->has_scalar[id] = true;
    t->scalar_gen[id]++;
    return 0;
}

void
sk__scalar_set_view(struct sk_waf_txn *t, enum sk_var_id id, struct sk_str v)
{
    t->scalars[id] = v;
    t->has_scalar[id] = true;
    t->scalar_gen[id]++;
}

int
sk__scalar_set_c(struct sk_waf_txn *t, enum sk_var_id id, const char *v)
{
    return sk__scalar_set(t, id, sk_str_c(v));
}

struct sk_str
sk__num_text(char buf[SK_NUM_TEXT], uint64_t mag, bool neg)
{
    /* By hand: printf's machinery cost more than the rest of a setvar. */
    char *p = buf + SK_NUM_TEXT;
    do {
        *--p = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag != 0);
    if (neg)
        *--p = '-';
    return sk_str_make(p, (size_t)(buf + SK_NUM_TEXT - p));
}

int
sk__scalar_set_u64(struct sk_waf_txn *t, enum sk_var_id id, uint64_t v)
{
    char buf[SK_NUM_TEXT];
    return sk__scalar_set(t, id, sk__num_text(buf, v, false));
}

/* ---- Computed variables ------------------------------------------- */

static int
computed_value(struct sk_waf_txn *t, const struct sk_target *tgt,
               struct sk_str *out)
{
    char buf[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    switch (tgt->def->id) {
    case SK_V_DURATION: {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t us = (int64_t)(ts.tv_sec - t->start.tv_sec) * 1000000 +
                     (ts.tv_nsec - t->start.tv_nsec) / 1000;
        snprintf(buf, sizeof(buf), "%" PRId64, us);
        break;
    }
    case SK_V_HIGHEST_SEVERITY:
        snprintf(buf, sizeof(buf), "%d", t->highest_severity);
        break;
    case SK_V_TIME:
        strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
        break;
    case SK_V_TIME_DAY:
        snprintf(buf, sizeof(buf), "%d", tm.tm_mday);
        break;
    case SK_V_TIME_EPOCH:
        snprintf(buf, sizeof(buf), "%lld", (long long)now);
        break;
    case SK_V_TIME_HOUR:
        snprintf(buf, sizeof(buf), "%d", tm.tm_hour);
        break;
    case SK_V_TIME_MIN:
        snprintf(buf, sizeof(buf), "%d", tm.tm_min);
        break;
    case SK_V_TIME_MON:
        snprintf(buf, sizeof(buf), "%d", tm.tm_mon);
        break;
    case SK_V_TIME_SEC:
        snprintf(buf, sizeof(buf), "%d", tm.tm_sec);
        break;
    case SK_V_TIME_WDAY:
        snprintf(buf, sizeof(buf), "%d", tm.tm_wday);
        break;
    case SK_V_TIME_YEAR:
        snprintf(buf, sizeof(buf), "%d", tm.tm_year + 1900);
        break;
    case SK_V_RULE: {
        const struct sk_rule *r = t->cur_rule ? t->cur_rule->starter : NULL;
        if (r == NULL || tgt->key.len == 0)
            return SK_DECLINED;
        struct sk_str k = tgt->key;
        if (sk_str_eq_c_nocase(k, "id"))
            snprintf(buf, sizeof(buf), "%" PRIu64, r->id);
        else if (sk_str_eq_c_nocase(k, "phase"))
            snprintf(buf, sizeof(buf), "%d", r->phase);
        else if (sk_str_eq_c_nocase(k, "severity"))
            snprintf(buf, sizeof(buf), "%d", r->severity);
        else if (sk_str_eq_c_nocase(k, "msg")) {
            if (!r->has_msg)
                return SK_DECLINED;
            return sk__macro_expand(t, &r->msg, out);
        } else if (sk_str_eq_c_nocase(k, "logdata")) {
            if (!r->has_logdata)
                return SK_DECLINED;
            return sk__macro_expand(t, &r->logdata, out);
        } else if (sk_str_eq_c_nocase(k, "ver") && r->ver)
            snprintf(buf, sizeof(buf), "%s", r->ver);
        else if (sk_str_eq_c_nocase(k, "rev") && r->rev)
            snprintf(buf, sizeof(buf), "%s", r->rev);
        else if (sk_str_eq_c_nocase(k, "maturity"))
            snprintf(buf, sizeof(buf), "%d", r->maturity);
        else if (sk_str_eq_c_nocase(k, "accuracy"))
            snprintf(buf, sizeof(buf), "%d", r->accuracy);
        else
            return SK_DECLINED;
        break;
    }
    default:
        return SK_DECLINED;
    }
    return sk_arena_strdup_str(t->arena, sk_str_c(buf), out);
}

/* ---- Exclusions ------------------------------------------------------ */

static void
free_match_data(void *md)
{
    pcre2_match_data_free(md);
}

/* One match block per transaction serves every selector regex. */
static pcre2_match_data *
selector_md(struct sk_waf_txn *t)
{
    if (t->selector_md == NULL) {
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        if (md == NULL)
            return NULL;
        if (sk_arena_defer(t->arena, free_match_data, md) != 0) {
            pcre2_match_data_free(md);
            return NULL;
        }
        t->selector_md = md;
    }
    return t->selector_md;
}

/* Whether lower-case `lit` occurs in `name` (at its start when
 * `anchored`), ASCII case ignored. */
static bool
lit_in_name(struct sk_str lit, bool anchored, struct sk_str name)
{
    if (lit.len > name.len)
        return false;
    size_t last = anchored ? 0 : name.len - lit.len;
    for (size_t i = 0; i <= last; i++) {
        size_t k = 0;
        while (k < lit.len && sk_ascii_lower(name.p[i + k]) == lit.p[k])
            k++;
        if (k == lit.len)
            return true;
    }
    return false;
}

/* Whether `name` holds one of `lits` (lower case), ASCII case ignored. */
static bool
holds_literal(struct sk_str name, const struct sk_str *lits, size_t n)
{
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0;
             lits[k].len <= name.len && i <= name.len - lits[k].len; i++)
            if (sk_str_eq_nocase(sk_str_make(name.p + i, lits[k].len), lits[k]))
                return true;
    return false;
}

/* Whether regex selector `x` selects `name`; *known false when that
 * could not be found out (no memory: an exclusion then does not apply,
 * the value stays inspected, and a selection does not select). */
static bool
re_selects(struct sk_waf_txn *t, const struct sk_target *x, struct sk_str name,
           bool *known)
{
    *known = true;
    if (x->key_lit.len > 0)
        return lit_in_name(x->key_lit, x->key_lit_anchored, name);
    if (x->nkey_req > 0 && !holds_literal(name, x->key_req, x->nkey_req))
        return false; /* the regex cannot match: not run */
    pcre2_match_data *md = selector_md(t);
    if (md == NULL) {
        *known = false;
        return false;
    }
    return pcre2_match(x->key_re, name.p, name.len, 0, 0, md, NULL) >= 0;
}

static bool
key_matches(struct sk_waf_txn *t, const struct sk_target *x, struct sk_entry *e)
{
    if (x->key_re != NULL) {
        bool known;
        if (x->sel_bit == SK_SEL_NONE)
            return re_selects(t, x, e->name, &known);
        uint64_t m = (uint64_t)1 << x->sel_bit;
        if (e->sel_known & m)
            return (e->sel_match & m) != 0;
        bool r = re_selects(t, x, e->name, &known);
        if (known) {
            e->sel_known |= m;
            if (r)
                e->sel_match |= m;
        }
        return r;
    }
    if (x->key.len == 0)
        return true; /* the whole collection */
    return x->key_hash == e->hash && sk_str_eq_nocase(x->key, e->name);
}

void
sk__sel_fill(struct sk_waf_txn *t, struct sk_entry *e, size_t n)
{
    const struct sk_waf_rules *r = t->rules;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < r->nsel; b++)
            (void)key_matches(t, r->sel_tgt[b], &e[i]); /* notes bit b */
}

static bool
rule_is_target_of(const struct sk_waf_txn *t, const struct sk_ract *ctl,
                  const struct sk_rule *starter)
{
    (void)t;
    switch (ctl->ctl) {
    case SK_CTL_RULE_REMOVE_TARGET_BY_ID:
        return starter->id >= ctl->ranges[0].lo &&
               starter->id <= ctl->ranges[0].hi;
    case SK_CTL_RULE_REMOVE_TARGET_BY_TAG:
        for (size_t i = 0; i < starter->ntags; i++)
            if (strcmp(starter->tags[i], ctl->text) == 0)
                return true;
        return false;
    case SK_CTL_RULE_REMOVE_TARGET_BY_MSG:
        return starter->has_msg &&
               strcmp((const char *)starter->msg.text.p, ctl->text) == 0;
    default:
        return false;
    }
}

static bool
excluded(struct sk_waf_txn *t, const struct sk_rule *rule,
         const struct sk_target *tgt, struct sk_entry *e)
{
    uint64_t m = tgt->excl_sel;
    if (m != 0) {
        /* The regex exclusions by their bits, judged first if need be
         * (by a selector with the same regex). */
        for (uint64_t u = m & ~e->sel_known; u != 0; u &= u - 1)
            (void)key_matches(t, t->rules->sel_tgt[__builtin_ctzll(u)], e);
        if (e->sel_known & e->sel_match & m)
            return true;
    }
    for (size_t i = 0; tgt->excl_other && i < rule->ntargets; i++) {
        const struct sk_target *x = &rule->targets[i];
        if (x->exclude && x->def == tgt->def &&
            (x->key_re == NULL || x->sel_bit == SK_SEL_NONE) &&
            key_matches(t, x, e))
            return true;
    }
    for (size_t i = 0; i < t->nexcl; i++) {
        const struct sk_rt_exclusion *x = &t->excl[i];
        if (x->target->def == tgt->def &&
            rule_is_target_of(t, x->ctl, rule->starter) &&
            key_matches(t, x->target, e))
            return true;
    }
    return false;
}

/* ---- Target values ---------------------------------------------------- */

struct xml_ctx {
    struct sk_waf_txn *t;
    const struct sk_target *tgt;
    sk__value_fn fn;
    void *ud;
    size_t count;
    bool counting;
};

static int
xml_value(void *ud, struct sk_str name, struct sk_str value)
{
    struct xml_ctx *x = ud;
    (void)name;
    if (x->counting) {
        x->count++;
        return 0;
    }
    return x->fn(x->t, x->ud, x->tgt, SK_STR_LIT("XML"), value);
}

/* Hands `fn` an entry's name or value, with the entry noted in the
 * transaction (cur_entry) for the memo (txn.c) while `fn` runs. */
static int
entry_value(struct sk_waf_txn *t, const struct sk_target *tgt,
            struct sk_entry *e, bool names, sk__value_fn fn, void *ud)
{
    struct sk_entry *outer = t->cur_entry;
    bool outer_names = t->cur_names;
    t->cur_entry = e;
    t->cur_names = names;
    int rc = fn(t, ud, tgt, e->name, names ? e->name : e->value);
    t->cur_entry = outer;
    t->cur_names = outer_names;
    return rc;
}

/* A count (&VAR) as text in the arena. */
static int
count_str(struct sk_waf_txn *t, size_t n, struct sk_str *out)
{
    char buf[SK_NUM_TEXT];
    return sk_arena_strdup_str(t->arena, sk__num_text(buf, n, false), out);
}

int
sk__target_values(struct sk_waf_txn *t, const struct sk_rule *rule,
                  const struct sk_target *tgt, sk__value_fn fn, void *ud)
{
    const struct sk_var_def *def = tgt->def;
    switch (def->kind) {
    case SK_VK_SCALAR:
    case SK_VK_COMPUTED: {
        struct sk_str v;
        if (def->kind == SK_VK_SCALAR) {
            if (!t->has_scalar[def->id]) {
                if (tgt->count)
                    return fn(t, ud, tgt, sk_str_c(def->name), SK_STR_LIT("0"));
                return 0;
            }
            v = t->scalars[def->id];
        } else {
            int rc = computed_value(t, tgt, &v);
            if (rc < 0)
                return rc;
            if (rc == SK_DECLINED)
                return tgt->count ? fn(t, ud, tgt, sk_str_c(def->name),
                                       SK_STR_LIT("0"))
                                  : 0;
        }
        if (tgt->count)
            return fn(t, ud, tgt, sk_str_c(def->name), SK_STR_LIT("1"));
        return fn(t, ud, tgt, sk_str_c(def->name), v);
    }
    case SK_VK_COLLECTION:
    case SK_VK_NAMES: {
        bool names = def->kind == SK_VK_NAMES;
        struct sk_coll *c = &t->colls[names ? def->base : def->id];
        size_t count = 0;
        if (c->unique && tgt->key_re == NULL && tgt->key.len > 0) {
            /* One entry at most: look it up instead of scanning. */
            struct sk_entry *e = coll_get_hashed(c, tgt->key, tgt->key_hash);
            if (e != NULL && (tgt->has_exclusions || t->nexcl > 0) &&
                excluded(t, rule, tgt, e))
                e = NULL;
            if (tgt->count)
                return fn(t, ud, tgt, sk_str_c(def->name),
                          e ? SK_STR_LIT("1") : SK_STR_LIT("0"));
            if (e == NULL)
                return 0;
            return entry_value(t, tgt, e, names, fn, ud);
        }
        /* Snapshot the size: actions never run while values are read,
         * but a TX write by a caller must not extend this loop. */
        size_t n = c->n;
        bool lit = tgt->key_re == NULL && tgt->key.len > 0;
        /* A regex selector with a bit: the entries that know it are
         * judged here, the others by key_matches(), which records it. */
        uint64_t selm = tgt->key_re != NULL && tgt->sel_bit != SK_SEL_NONE
                            ? (uint64_t)1 << tgt->sel_bit
                            : 0;
        for (size_t i = 0; i < n; i++) {
            struct sk_entry *e = &c->e[i];
            if (lit) {
                /* key_matches() inline for the common literal name. */
                if (e->hash != tgt->key_hash ||
                    !sk_str_eq_nocase(tgt->key, e->name))
                    continue;
            } else if (e->sel_known & selm) {
                if (!(e->sel_match & selm))
                    continue;
            } else if (tgt->key_re != NULL && !key_matches(t, tgt, e)) {
                continue;
            }
            if ((tgt->has_exclusions || t->nexcl > 0) &&
                excluded(t, rule, tgt, e))
                continue;
            if (tgt->count) {
                count++;
                continue;
            }
            int rc = entry_value(t, tgt, e, names, fn, ud);
            if (rc != 0)
                return rc;
        }
        if (tgt->count) {
            struct sk_str v;
            if (count_str(t, count, &v) != 0)
                return -SK_ENOMEM;
            return fn(t, ud, tgt, sk_str_c(def->name), v);
        }
        return 0;
    }
    case SK_VK_XML: {
        struct xml_ctx x = {t, tgt, fn, ud, 0, tgt->count};
        if (t->xml == NULL) {
            if (tgt->count)
                return fn(t, ud, tgt, sk_str_c(def->name), SK_STR_LIT("0"));
            return 0;
        }
        int rc = sk_bodyproc_xml_eval(t->arena, t->xml,
                                      tgt->key_text ? tgt->key_text : NULL,
                                      xml_value, &x);
        if (rc < 0 && rc != -SK_EINVAL)
            return rc;
        if (tgt->count) {
            struct sk_str v;
            if (count_str(t, x.count, &v) != 0)
                return -SK_ENOMEM;
            return fn(t, ud, tgt, sk_str_c(def->name), v);
        }
        return 0;
    }
    case SK_VK_UNSUPPORTED:
        break;
    }
    return 0;
}

/* ---- Macros ------------------------------------------------------------- */

struct first_ctx {
    struct sk_str v;
    bool found;
};

static int
first_value(struct sk_waf_txn *t, void *ud, const struct sk_target *tgt,
            struct sk_str name, struct sk_str value)
{
    (void)t;
    (void)tgt;
    (void)name;
    struct first_ctx *f = ud;
    if (!f->found) {
        f->v = value;
        f->found = true;
    }
    return 1; /* stop after the first */
}

int
sk__macro_expand(struct sk_waf_txn *t, const struct sk_macro *m,
                 struct sk_str *out)
{
    if (m->constant) {
        *out = m->text;
        return 0;
    }
    if (t->macro_depth >= SK_LIMIT_MACRO_DEPTH)
        return -SK_ELIMIT; /* e.g. a msg that refers to %{rule.msg} */
    struct sk_str stackvals[16];
    struct sk_str *vals = stackvals;
    size_t n = m->nparts;
    if (n > 16) {
        vals = sk_arena_calloc(t->arena, n, sizeof(*vals));
        if (vals == NULL)
            return -SK_ENOMEM;
    }
    size_t total = 0;
    t->macro_depth++;
    for (size_t i = 0; i < n; i++) {
        const struct sk_macro_part *p = &m->parts[i];
        if (p->def == NULL) {
            vals[i] = p->lit;
        } else {
            struct sk_target tgt = {
                .def = p->def, .key = p->key, .key_hash = p->key_hash};
            struct first_ctx f = {SK_STR_NULL, false};
            /* Macros read without rule exclusions: an empty rule (never
             * written; its own starter, as run-time exclusions ask). */
            static struct sk_rule none = {.starter = &none};
            int rc = sk__target_values(t, &none, &tgt, first_value, &f);
            if (rc < 0) {
                t->macro_depth--;
                return rc;
            }
            vals[i] = f.found ? f.v : SK_STR_NULL;
        }
        total += vals[i].len;
    }
    t->macro_depth--;
    uint8_t *buf = sk_arena_alloc(t->arena, total + 1);
    if (buf == NULL)
        return -SK_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (vals[i].len > 0)
            memcpy(buf + off, vals[i].p, vals[i].len);
        off += vals[i].len;
    }
    buf[off] = '\0';
    *out = sk_str_make(buf, off);
    return 0;
}
