/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running rules: the public transaction API, the phase loop, rule and
 * chain evaluation (targets -> transformations -> operator), and the
 * actions that run on a match (setvar, ctl, capture, logging, disruptive
 * actions, skip/skipAfter), with ModSecurity v3 semantics: setvar runs for
 * every matching value, the other non-disruptive actions once the whole
 * chain has matched, and logging and the disruptive action belong to the
 * chain's first rule.
 */
#include "waf/txn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "waf/fold.h"
#include "waf/memo.h"

#include <hs/hs.h>
#include "util/error.h"

/* ---- Rule set lifetime -------------------------------------------------- */

struct sk_waf_rules *
sk_waf_rules_new(void)
{
    static _Atomic uint64_t serials;
    struct sk_waf_rules *r = sk_calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->serial = ++serials;
    r->arena = sk_arena_new(1 << 16);
    r->store = sk__pstore_new();
    if (r->arena == NULL || r->store == NULL) {
        sk_arena_free(r->arena);
        sk__pstore_free(r->store);
        sk_free(r);
        return NULL;
    }
    /* ModSecurity's defaults. */
    r->engine = SK_ENGINE_OFF;
    r->reqbody_limit = 13107200;
    r->reqbody_nofiles_limit = 1048576;
    r->reqbody_inmemory_limit = 131072;
    r->reqbody_limit_reject = true;
    r->resbody_limit = 524288;
    r->json_depth_limit = 512;
    r->arg_separator = '&';
    r->collection_timeout = 3600;
    return r;
}

void
sk_waf_rules_free(struct sk_waf_rules *r)
{
    if (r == NULL)
        return;
    sk__memo_drop(r->serial);
    sk_diag_fini(&r->diag);
    sk__pstore_free(r->store);
    sk_arena_free(r->arena);
    sk_free(r);
}

int
sk_waf_rules_add_file(struct sk_waf_rules *r, const char *path)
{
    if (r->compiled)
        return -SK_ESTATE;
    int rc = sk_seclang_parse_file(r->arena, path, &r->ast, &r->diag);
    if (rc != 0)
        r->failed = true;
    return rc;
}

int
sk_waf_rules_add_text(struct sk_waf_rules *r, const char *name,
                      const char *text, size_t len)
{
    if (r->compiled)
        return -SK_ESTATE;
    int rc = sk_seclang_parse_text(r->arena, name, NULL, text, len, &r->ast,
                                   &r->diag);
    if (rc != 0)
        r->failed = true;
    return rc;
}

int
sk_waf_rules_compile(struct sk_waf_rules *r)
{
    if (r->compiled)
        return -SK_ESTATE;
    if (r->failed)
        return -SK_EPARSE;
    int rc = sk__waf_compile(r);
    r->compiled = true;
    if (rc == 0)
        rc = sk__waf_fold(r);
    if (rc == 0)
        rc = sk__waf_live(r);
    if (rc != 0)
        r->failed = true;
    return rc;
}

const char *
sk_waf_rules_errors(struct sk_waf_rules *r)
{
    return sk_diag_text(&r->diag);
}

size_t
sk_waf_rules_count(const struct sk_waf_rules *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nall; i++)
        if (!r->all[i]->is_marker && !r->all[i]->removed)
            n++;
    return n;
}

void
sk_waf_rules_stats(const struct sk_waf_rules *r, struct sk_waf_rules_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->rules = sk_waf_rules_count(r);
    for (size_t i = 0; i < r->nall; i++)
        for (const struct sk_rule *l = r->all[i]; l != NULL; l = l->chain)
            if (!l->is_marker && !l->removed && l->op_name != NULL &&
                strcasecmp(l->op_name, "rx") == 0)
                out->regex_links++;
    out->regex_prefiltered = r->pf_rules;
    out->prefilter_groups = r->npf_groups;
    out->folded = r->nfolded;
}

/* ---- Transaction lifetime ---------------------------------------------- */

static void
free_bufs(void *data)
{
    struct sk_waf_txn *t = data;
    sk_buf_fini(&t->reqbody);
    sk_buf_fini(&t->resbody);
}

struct sk_waf_txn *
sk_waf_txn_new(const struct sk_waf_rules *r, const char *id)
{
    if (r == NULL || !r->compiled || r->failed)
        return NULL;
    struct sk_arena *a = sk_arena_new(1 << 15);
    if (a == NULL)
        return NULL;
    struct sk_waf_txn *t = sk_arena_zalloc(a, sizeof(*t));
    if (t == NULL || sk_arena_defer(a, free_bufs, t) != 0) {
        sk_arena_free(a);
        return NULL;
    }
    t->arena = a;
    t->rules = r;
    clock_gettime(CLOCK_MONOTONIC, &t->start);
    if (id == NULL) {
        static unsigned long counter;
        char buf[64];
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        snprintf(buf, sizeof(buf), "%lld%09ld.%lu", (long long)now.tv_sec,
                 now.tv_nsec,
                 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
        t->id = sk_arena_strdup(a, buf);
    } else {
        t->id = sk_arena_strdup(a, id);
    }
    t->engine = r->engine;
    t->reqbody_access = r->reqbody_access;
    t->reqbody_limit = r->reqbody_limit;
    t->audit_engine = r->audit_engine;
    t->audit_parts = r->audit_parts;
    t->highest_severity = 255;
    static const enum sk_var_id unique[] = {
        SK_V_TX,   SK_V_IP,       SK_V_GLOBAL, SK_V_SESSION,
        SK_V_USER, SK_V_RESOURCE, SK_V_ENV};
    for (size_t i = 0; i < sizeof(unique) / sizeof(unique[0]); i++)
        t->colls[unique[i]].unique = true;
    if (t->id == NULL || sk__scalar_set_c(t, SK_V_UNIQUE_ID, t->id) != 0) {
        sk_arena_free(a);
        return NULL;
    }
    return t;
}

void
sk_waf_txn_free(struct sk_waf_txn *t)
{
    if (t == NULL)
        return;
    sk__pstore_save_all(t);
    sk_arena_free(t->arena);
}

const char *
sk_waf_txn_id(const struct sk_waf_txn *t)
{
    return t->id;
}

/* ---- Feeding ----------------------------------------------------------- */

int
sk_waf_txn_connection(struct sk_waf_txn *t, const char *client_ip,
                      int client_port, const char *server_ip, int server_port)
{
    int rc = 0;
    if (client_ip != NULL) {
        rc |= sk__scalar_set_c(t, SK_V_REMOTE_ADDR, client_ip);
        rc |= sk__scalar_set_c(t, SK_V_REMOTE_HOST, client_ip);
    }
    rc |= sk__scalar_set_u64(t, SK_V_REMOTE_PORT, (uint64_t)client_port);
    if (server_ip != NULL)
        rc |= sk__scalar_set_c(t, SK_V_SERVER_ADDR, server_ip);
    rc |= sk__scalar_set_u64(t, SK_V_SERVER_PORT, (uint64_t)server_port);
    return rc ? -SK_ENOMEM : 0;
}

int
sk_waf_txn_request_header(struct sk_waf_txn *t, const char *name,
                          size_t name_len, const char *value, size_t value_len)
{
    struct sk_str n = sk_str_make(name, name_len);
    struct sk_str v = sk_str_make(value, value_len);
    int rc = sk__coll_add(t, &t->colls[SK_V_REQUEST_HEADERS], n, v);
    if (rc != 0)
        return rc;
    if (sk_str_eq_c_nocase(n, "Content-Type"))
        t->content_type = t->colls[SK_V_REQUEST_HEADERS]
                              .e[t->colls[SK_V_REQUEST_HEADERS].n - 1]
                              .value;
    return 0;
}

int
sk_waf_txn_request_body(struct sk_waf_txn *t, const void *data, size_t len)
{
    /* Keep one byte past the largest limit so that "over the limit" can
     * be told apart from "exactly at the limit". */
    uint64_t cap = t->rules->reqbody_limit;
    if (t->reqbody.len >= cap + 1) {
        t->reqbody_truncated = true;
        return 0;
    }
    size_t room = (size_t)(cap + 1 - t->reqbody.len);
    if (len > room) {
        len = room;
        t->reqbody_truncated = true;
    }
    return sk_buf_append(&t->reqbody, data, len);
}

int
sk_waf_txn_response_status(struct sk_waf_txn *t, int status,
                           const char *protocol)
{
    int rc = sk__scalar_set_u64(t, SK_V_RESPONSE_STATUS, (uint64_t)status);
    if (rc == 0 && protocol != NULL)
        rc = sk__scalar_set_c(t, SK_V_RESPONSE_PROTOCOL, protocol);
    if (rc == 0) {
        char line[64];
        snprintf(line, sizeof(line), "%s %d",
                 protocol != NULL ? protocol : "HTTP/1.1", status);
        rc = sk__scalar_set_c(t, SK_V_STATUS_LINE, line);
    }
    return rc;
}

int
sk_waf_txn_response_header(struct sk_waf_txn *t, const char *name,
                           size_t name_len, const char *value, size_t value_len)
{
    struct sk_str n = sk_str_make(name, name_len);
    struct sk_str v = sk_str_make(value, value_len);
    int rc = sk__coll_add(t, &t->colls[SK_V_RESPONSE_HEADERS], n, v);
    if (rc != 0)
        return rc;
    struct sk_entry *e = &t->colls[SK_V_RESPONSE_HEADERS]
                              .e[t->colls[SK_V_RESPONSE_HEADERS].n - 1];
    if (sk_str_eq_c_nocase(n, "Content-Type")) {
        t->res_content_type = e->value;
        rc = sk__scalar_set(t, SK_V_RESPONSE_CONTENT_TYPE, v);
    } else if (sk_str_eq_c_nocase(n, "Content-Length")) {
        rc = sk__scalar_set(t, SK_V_RESPONSE_CONTENT_LENGTH, v);
    }
    return rc;
}

static bool
response_body_inspected(const struct sk_waf_txn *t)
{
    const struct sk_waf_rules *r = t->rules;
    if (!r->resbody_access)
        return false;
    struct sk_str ct = t->res_content_type;
    for (size_t i = 0; i < ct.len; i++)
        if (ct.p[i] == ';' || ct.p[i] == ' ') {
            ct.len = i;
            break;
        }
    for (size_t i = 0; i < r->nresbody_mime; i++)
        if (sk_str_eq_c_nocase(ct, r->resbody_mime[i]))
            return true;
    return false;
}

int
sk_waf_txn_response_body(struct sk_waf_txn *t, const void *data, size_t len)
{
    if (!response_body_inspected(t))
        return 0;
    uint64_t cap = t->rules->resbody_limit;
    if (t->resbody.len >= cap) {
        t->resbody_truncated = true;
        return 0;
    }
    size_t room = (size_t)(cap - t->resbody.len);
    if (len > room) {
        len = room;
        t->resbody_truncated = true;
    }
    return sk_buf_append(&t->resbody, data, len);
}

/* ---- Connector policy --------------------------------------------------- */

enum sk_waf_mode
sk_waf_txn_mode(const struct sk_waf_txn *t)
{
    switch (t->engine) {
    case SK_ENGINE_OFF:
        return SK_WAF_MODE_OFF;
    case SK_ENGINE_ON:
        return SK_WAF_MODE_ON;
    case SK_ENGINE_DETECTION_ONLY:
        return SK_WAF_MODE_DETECTION_ONLY;
    }
    return SK_WAF_MODE_ON;
}

void
sk_waf_txn_request_body_policy(const struct sk_waf_txn *t,
                               struct sk_waf_body_policy *out)
{
    out->inspect = t->engine != SK_ENGINE_OFF &&
                   (t->reqbody_access || t->force_reqbody_var);
    /* The engine applies the tighter no-files limit itself once it knows
     * the processor; the connector buffers up to the general limit. */
    out->limit = t->reqbody_limit;
    out->reject = t->rules->reqbody_limit_reject && t->engine == SK_ENGINE_ON;
}

void
sk_waf_txn_response_body_policy(const struct sk_waf_txn *t,
                                struct sk_waf_body_policy *out)
{
    out->inspect = t->engine != SK_ENGINE_OFF && response_body_inspected(t);
    out->limit = t->rules->resbody_limit;
    out->reject = t->rules->resbody_limit_reject && t->engine == SK_ENGINE_ON;
}

bool
sk_waf_txn_audit_wanted(const struct sk_waf_txn *t, int status)
{
    if (t->audit_engine == 1)
        return true;
    if (t->audit_engine != 2)
        return false;
    if (t->nmatches > 0)
        return true;
    pcre2_code *re = t->rules->audit_status_re;
    if (re == NULL)
        return false;
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%d", status);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL)
        return true; /* out of memory: log rather than lose it */
    int rc = pcre2_match(re, (PCRE2_SPTR)buf, (PCRE2_SIZE)n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* ---- Runtime removal ---------------------------------------------------- */

static bool
rule_removed(const struct sk_waf_txn *t, const struct sk_rule *rule)
{
    for (size_t i = 0; i < t->nremoved_ids; i++)
        if (rule->id >= t->removed_ids[i].lo &&
            rule->id <= t->removed_ids[i].hi)
            return true;
    for (size_t i = 0; i < t->nremoved_tags; i++)
        for (size_t j = 0; j < rule->ntags; j++)
            if (strcmp(rule->tags[j], t->removed_tags[i]) == 0)
                return true;
    for (size_t i = 0; i < t->nremoved_msgs; i++)
        if (rule->has_msg &&
            strcmp((const char *)rule->msg.text.p, t->removed_msgs[i]) == 0)
            return true;
    return false;
}

/* Appends to an arena-grown array of `size`-byte items. */
static void *
grow(struct sk_waf_txn *t, void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void *na = sk_arena_calloc(t->arena, nc, size);
        if (na == NULL)
            return NULL;
        if (*n > 0)
            memcpy(na, *arr, *n * size);
        *arr = na;
        *cap = nc;
    }
    return (uint8_t *)*arr + (*n)++ * size;
}

/* ---- Actions ------------------------------------------------------------ */

static int64_t
to_int(struct sk_str s)
{
    /* ModSecurity converts like atoi(): optional sign, leading digits. */
    size_t i = 0;
    bool neg = false;
    while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t'))
        i++;
    if (i < s.len && (s.p[i] == '-' || s.p[i] == '+')) {
        neg = s.p[i] == '-';
        i++;
    }
    /* Saturating at the int64 range (the digits are not cut short). */
    uint64_t u = 0, max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
        unsigned d = (unsigned)(s.p[i] - '0');
        u = u > (max - d) / 10 ? max : u * 10 + d;
    }
    if (neg)
        return u > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)u;
    return (int64_t)u;
}

static int
run_setvar(struct sk_waf_txn *t, const struct sk_ract *ra)
{
    struct sk_str name, value = SK_STR_NULL;
    int rc = sk__macro_expand(t, &ra->name, &name);
    if (rc != 0)
        return rc;
    struct sk_coll *c = &t->colls[ra->coll];
    if (ra->op == SK_SV_DELETE) {
        sk__coll_del(t, c, name);
        return 0;
    }
    rc = sk__macro_expand(t, &ra->value, &value);
    if (rc != 0)
        return rc;
    /* Expansions are the rule's constant text or a new NUL-terminated
     * arena string: both are kept as they are, without another copy. */
    uint32_t h = ra->name.constant ? ra->name.hash : sk__name_hash(name);
    if (ra->op == SK_SV_SET)
        return sk__coll_set_h(t, c, name, h, true, value, true);
    struct sk_entry *e = sk__coll_get_h(c, name, h);
    int64_t cur = e ? to_int(e->value) : 0;
    int64_t d = to_int(value);
    int64_t res;
    if (ra->op == SK_SV_ADD) {
        if (__builtin_add_overflow(cur, d, &res))
            res = cur;
    } else {
        if (__builtin_sub_overflow(cur, d, &res))
            res = cur;
    }
    char buf[SK_NUM_TEXT];
    struct sk_str sum =
        sk__num_text(buf, res < 0 ? 0 - (uint64_t)res : (uint64_t)res, res < 0);
    return sk__coll_set_h(t, c, name, h, true, sum, false);
}

static int
run_ctl(struct sk_waf_txn *t, const struct sk_ract *ra)
{
    switch (ra->ctl) {
    case SK_CTL_RULE_ENGINE:
        t->engine = (enum sk_engine_mode)ra->ival;
        return 0;
    case SK_CTL_REQBODY_ACCESS:
        t->reqbody_access = ra->ival != 0;
        return 0;
    case SK_CTL_FORCE_REQBODY_VAR:
        t->force_reqbody_var = ra->ival != 0;
        return 0;
    case SK_CTL_REQBODY_LIMIT:
        t->reqbody_limit = (uint64_t)ra->ival;
        return 0;
    case SK_CTL_REQBODY_PROCESSOR:
        t->processor = (enum sk_bodyproc)ra->ival;
        t->processor_set = true;
        return 0;
    case SK_CTL_AUDIT_ENGINE:
        t->audit_engine = ra->ival;
        return 0;
    case SK_CTL_AUDIT_LOG_PARTS:
        t->audit_parts = ra->text;
        return 0;
    case SK_CTL_RULE_REMOVE_BY_ID: {
        struct sk_id_range *slot =
            grow(t, (void **)&t->removed_ids, &t->nremoved_ids,
                 &t->capremoved_ids, sizeof(*slot));
        if (slot == NULL)
            return -SK_ENOMEM;
        *slot = ra->ranges[0];
        return 0;
    }
    case SK_CTL_RULE_REMOVE_BY_TAG: {
        const char **slot =
            grow(t, (void **)&t->removed_tags, &t->nremoved_tags,
                 &t->capremoved_tags, sizeof(*slot));
        if (slot == NULL)
            return -SK_ENOMEM;
        *slot = ra->text;
        return 0;
    }
    case SK_CTL_RULE_REMOVE_BY_MSG: {
        const char **slot =
            grow(t, (void **)&t->removed_msgs, &t->nremoved_msgs,
                 &t->capremoved_msgs, sizeof(*slot));
        if (slot == NULL)
            return -SK_ENOMEM;
        *slot = ra->text;
        return 0;
    }
    case SK_CTL_RULE_REMOVE_TARGET_BY_ID:
    case SK_CTL_RULE_REMOVE_TARGET_BY_TAG:
    case SK_CTL_RULE_REMOVE_TARGET_BY_MSG:
        for (size_t i = 0; i < ra->ntargets; i++) {
            struct sk_rt_exclusion *x =
                grow(t, (void **)&t->excl, &t->nexcl, &t->capexcl, sizeof(*x));
            if (x == NULL)
                return -SK_ENOMEM;
            x->ctl = ra;
            x->target = &ra->targets[i];
        }
        return 0;
    }
    return 0;
}

static int
run_ract(struct sk_waf_txn *t, const struct sk_ract *ra)
{
    struct sk_str v;
    int rc;
    switch (ra->kind) {
    case SK_RA_SETVAR:
        return run_setvar(t, ra);
    case SK_RA_CTL:
        return run_ctl(t, ra);
    case SK_RA_INITCOL:
        rc = sk__macro_expand(t, &ra->value, &v);
        if (rc != 0)
            return rc;
        return sk__pstore_load(t, ra->coll, v);
    case SK_RA_EXPIREVAR: {
        struct sk_str name;
        rc = sk__macro_expand(t, &ra->name, &name);
        if (rc == 0)
            rc = sk__macro_expand(t, &ra->value, &v);
        if (rc != 0)
            return rc;
        struct sk_entry *e = sk__coll_get(&t->colls[ra->coll], name);
        if (e != NULL)
            e->expires = (int64_t)time(NULL) + to_int(v);
        return 0;
    }
    case SK_RA_SETENV: {
        struct sk_str name;
        rc = sk__macro_expand(t, &ra->name, &name);
        if (rc == 0)
            rc = sk__macro_expand(t, &ra->value, &v);
        if (rc != 0)
            return rc;
        return sk__coll_set(t, &t->colls[SK_V_ENV], name, v);
    }
    case SK_RA_SETUID:
    case SK_RA_SETSID:
        rc = sk__macro_expand(t, &ra->value, &v);
        if (rc != 0)
            return rc;
        return sk__scalar_set(
            t, ra->kind == SK_RA_SETUID ? SK_V_USERID : SK_V_SESSIONID, v);
    case SK_RA_DEPRECATEVAR:
        return 0;
    }
    return 0;
}

/*
 * setvar runs for every matching value; initcol with it, in the order
 * written, so that `initcol:ip=...,setvar:ip.x=+1` sees the loaded
 * collection (initcol loads a collection once per transaction).
 */
static bool
per_match(const struct sk_ract *ra)
{
    return ra->kind == SK_RA_SETVAR || ra->kind == SK_RA_INITCOL;
}

static int
run_per_match(struct sk_waf_txn *t, const struct sk_rule *rule)
{
    for (size_t i = 0; i < rule->nracts; i++)
        if (per_match(&rule->racts[i])) {
            int rc = run_ract(t, &rule->racts[i]);
            if (rc != 0)
                return rc;
        }
    return 0;
}

/* ---- Evaluation --------------------------------------------------------- */

struct eval_ctx {
    const struct sk_rule *rule;
    bool matched;
    int err;
    /* The operator's expanded argument (op_dynamic) and the version of
     * the variables it was expanded from (macro_version). */
    bool dyn_ok;
    uint64_t dyn_ver;
    struct sk_str dyn;
};

/*
 * A number that changes whenever a variable macro `m` reads changes (the
 * sum of their generations, which only grow), or false when it reads
 * one without a generation (TIME, DURATION...).
 */
static bool
macro_version(const struct sk_waf_txn *t, const struct sk_macro *m,
              uint64_t *ver)
{
    uint64_t v = 0;
    for (size_t i = 0; i < m->nparts; i++) {
        const struct sk_var_def *def = m->parts[i].def;
        if (def == NULL || def->id == SK_V_RULE)
            continue;
        switch (def->kind) {
        case SK_VK_SCALAR:
            v += t->scalar_gen[def->id];
            break;
        case SK_VK_COLLECTION:
            v += t->colls[def->id].gen;
            break;
        case SK_VK_NAMES:
            v += t->colls[def->base].gen;
            break;
        default:
            return false;
        }
    }
    *ver = v;
    return true;
}

static int
set_capture(struct sk_waf_txn *t, const struct sk_op_result *res)
{
    static const char *const names[] = {"0", "1", "2", "3", "4",
                                        "5", "6", "7", "8", "9"};
    struct sk_coll *tx = &t->colls[SK_V_TX];
    for (unsigned i = 0; i < SK_OP_MAX_CAPTURES; i++) {
        /* The names are static: kept without a copy. */
        struct sk_str name = sk_str_make(names[i], 1);
        uint32_t h = sk__name_hash(name);
        if (i < res->ncaptures) {
            int rc =
                sk__coll_set_h(t, tx, name, h, true, res->captures[i], false);
            if (rc != 0)
                return rc;
        } else if ((t->tx_digits >> i & 1) &&
                   sk__coll_get_h(tx, name, h) != NULL) {
            sk__coll_del(t, tx, name);
        }
    }
    return 0;
}

/* Records one matching value: MATCHED_VAR(S), captures, setvar. */
static int
on_value_match(struct sk_waf_txn *t, const struct sk_rule *rule,
               const struct sk_target *tgt, struct sk_str name,
               struct sk_str value, const struct sk_op_result *res)
{
    struct sk_str full;
    if (tgt->def->kind == SK_VK_SCALAR || tgt->def->kind == SK_VK_COMPUTED ||
        tgt->def->kind == SK_VK_XML || tgt->count) {
        full = sk_str_c(tgt->def->name);
    } else {
        char *s =
            sk_arena_alloc(t->arena, strlen(tgt->def->name) + 1 + name.len + 1);
        if (s == NULL)
            return -SK_ENOMEM;
        size_t dl = strlen(tgt->def->name);
        memcpy(s, tgt->def->name, dl);
        s[dl] = ':';
        if (name.len > 0)
            memcpy(s + dl + 1, name.p, name.len);
        s[dl + 1 + name.len] = '\0';
        full = sk_str_make(s, dl + 1 + name.len);
    }
    /* No copies: `full` is in the arena or static, and so is every value
     * a target yields (variables, transformation results, XML text that
     * sk_bodyproc_xml_eval() copied), unchanged for the transaction. */
    sk__scalar_set_view(t, SK_V_MATCHED_VAR, value);
    sk__scalar_set_view(t, SK_V_MATCHED_VAR_NAME, full);
    int rc = sk__coll_add_view(t, &t->colls[SK_V_MATCHED_VARS], full, value);
    if (rc == 0 && rule->capture && res->ncaptures > 0)
        rc = set_capture(t, res);
    if (rc != 0)
        return rc;
    return run_per_match(t, rule);
}

static int
run_operator(struct sk_waf_txn *t, struct eval_ctx *c,
             const struct sk_rule *rule, struct sk_str value,
             struct sk_op_result *res, bool *match)
{
    struct sk_str dyn = SK_STR_NULL;
    if (rule->op_dynamic) {
        /* Expanded once for the values of a link while what it reads
         * stays the same (@within %{tx.restricted_headers}). */
        uint64_t ver = 0;
        bool same = macro_version(t, &rule->op_macro, &ver);
        if (same && c->dyn_ok && c->dyn_ver == ver) {
            dyn = c->dyn;
        } else {
            int rc = sk__macro_expand(t, &rule->op_macro, &dyn);
            if (rc != 0)
                return rc;
            c->dyn_ok = same;
            c->dyn_ver = ver;
            c->dyn = dyn;
        }
    }
    /* sk_op_exec() fills the whole result. */
    int rc = sk_op_exec(rule->op, t->arena, value, dyn, rule->capture, res);
    if (rc == -SK_EMATCHLIMIT || rc == -SK_EPARSE || rc == -SK_ELIMIT)
        t->op_side_effect = true; /* TX:MSC_* below: not remembered */
    if (rc == -SK_EMATCHLIMIT) {
        /* As ModSecurity: flag it for rules such as 200005 and go on. */
        rc = sk__coll_set(t, &t->colls[SK_V_TX],
                          SK_STR_LIT("MSC_PCRE_LIMITS_EXCEEDED"),
                          SK_STR_LIT("1"));
        if (rc != 0)
            return rc;
        res->matched = false;
    } else if (rc == -SK_EPARSE || rc == -SK_ELIMIT) {
        /* A dynamic argument (a macro-built regex) that does not compile
         * or is too long: no match here, but flagged through TX:MSC_* so
         * that the recommended rule 200005 fails closed. */
        rc = sk__coll_set(t, &t->colls[SK_V_TX],
                          SK_STR_LIT("MSC_DYNAMIC_OPERATOR_ERROR"),
                          SK_STR_LIT("1"));
        if (rc != 0)
            return rc;
        res->matched = false;
    } else if (rc != 0) {
        return rc;
    }
    *match = rule->op_negated ? !res->matched : res->matched;
    return 0;
}

static inline bool
tcache_busy(const uint64_t *used, size_t i)
{
    return used[i / 64] >> (i % 64) & 1;
}

static inline size_t
tcache_slot(const struct sk_tfn_entry *tab, const uint64_t *used, size_t cap,
            const uint8_t *in, size_t len, const void *key)
{
    /* Multiplying spreads each pointer's bits upwards; folding the high
     * half down gives every bit a say in the slot. */
    uint64_t h = ((uint64_t)(uintptr_t)in ^ (uint64_t)len << 40) *
                     0x9e3779b97f4a7c15ULL ^
                 (uint64_t)(uintptr_t)key * 0xc2b2ae3d27d4eb4fULL;
    h ^= h >> 32;
    size_t i = (size_t)h & (cap - 1);
    while (tcache_busy(used, i) &&
           !(tab[i].in == in && tab[i].in_len == len && tab[i].key == key))
        i = (i + 1) & (cap - 1);
    return i;
}

/* Moves the cache to a table of `cap` slots; false when out of memory. */
static bool
tcache_grow(struct sk_waf_txn *t, size_t cap)
{
    if (cap > SIZE_MAX / 2 / sizeof(struct sk_tfn_entry))
        return false;
    struct sk_tfn_entry *tab = sk_arena_alloc(t->arena, cap * sizeof(*tab));
    uint64_t *used = sk_arena_calloc(t->arena, cap / 64, sizeof(*used));
    if (tab == NULL || used == NULL)
        return false;
    for (size_t i = 0; i < t->tcache_cap; i++) {
        if (!tcache_busy(t->tcache_used, i))
            continue;
        const struct sk_tfn_entry *e = &t->tcache[i];
        size_t j = tcache_slot(tab, used, cap, e->in, e->in_len, e->key);
        tab[j] = *e;
        used[j / 64] |= (uint64_t)1 << (j % 64);
    }
    t->tcache = tab;
    t->tcache_used = used;
    t->tcache_cap = cap;
    return true;
}

/*
 * The slot for (in, key): *hit says whether it holds that entry; if not,
 * it is the free slot for tcache_put(). NULL when the value is not cached
 * at all. The table always keeps a free slot, so the probe ends.
 */
static inline struct sk_tfn_entry *
tcache_find(struct sk_waf_txn *t, struct sk_str in, const void *key, bool *hit)
{
    *hit = false;
    if (in.len > SK_TCACHE_MAX_LEN ||
        (t->tcache == NULL && !tcache_grow(t, 4096)))
        return NULL;
    size_t i = tcache_slot(t->tcache, t->tcache_used, t->tcache_cap, in.p,
                           in.len, key);
    *hit = tcache_busy(t->tcache_used, i);
    return &t->tcache[i];
}

static inline struct sk_str
tcache_out(const struct sk_tfn_entry *e)
{
    return sk_str_make(e->out, e->out_len & ~SK_TCACHE_CHANGED);
}

/*
 * Fills the free slot `e` (from tcache_find(), no cache operation since).
 * Returns where the entry is now (the table may have grown), or NULL when
 * it was not stored.
 */
static inline struct sk_tfn_entry *
tcache_put(struct sk_waf_txn *t, struct sk_tfn_entry *e, struct sk_str in,
           const void *key, struct sk_str out, bool changed)
{
    if (e == NULL || out.len > SK_TCACHE_MAX_LEN ||
        t->tcache_n + 2 > t->tcache_cap)
        return NULL;
    e->in = in.p;
    e->in_len = (uint32_t)in.len;
    e->key = key;
    e->out = out.p;
    e->out_len = (uint32_t)out.len | (changed ? SK_TCACHE_CHANGED : 0);
    e->pf_bits = NULL;
    size_t i = (size_t)(e - t->tcache);
    t->tcache_used[i / 64] |= (uint64_t)1 << (i % 64);
    t->tcache_n++;
    if (t->tcache_n * 4 < t->tcache_cap * 3 ||
        !tcache_grow(t, t->tcache_cap * 2))
        return e;
    return &t->tcache[tcache_slot(t->tcache, t->tcache_used, t->tcache_cap,
                                  in.p, in.len, key)];
}

/* Applies one transformation through the transaction's cache. */
static int
transform(struct sk_waf_txn *t, const struct sk_transform_def *tfn,
          struct sk_str in, struct sk_str *out, bool *changed)
{
    bool hit;
    struct sk_tfn_entry *e = tcache_find(t, in, tfn, &hit);
    if (hit) {
        *out = tcache_out(e);
        *changed = (e->out_len & SK_TCACHE_CHANGED) != 0;
        return 0;
    }
    int rc = tfn->fn(t->arena, in, out, changed);
    if (rc == 0)
        tcache_put(t, e, in, tfn, *out, *changed);
    return rc;
}

/*
 * Applies a rule's whole transformation chain, cached as one entry; *entry
 * is that entry (NULL when the cache is full), valid until the next cache
 * operation.
 */
static int
transform_chain(struct sk_waf_txn *t, const struct sk_rule *rule,
                struct sk_str in, struct sk_str *out,
                struct sk_tfn_entry **entry)
{
    bool hit;
    struct sk_tfn_entry *e = tcache_find(t, in, rule->tfns, &hit);
    if (hit) {
        *out = tcache_out(e);
        *entry = e;
        return 0;
    }
    const struct sk_tfn_entry *tab = t->tcache;
    struct sk_str cur = in;
    for (size_t i = 0; i < rule->ntfns; i++) {
        bool changed = false;
        int rc = transform(t, rule->tfns[i], cur, &cur, &changed);
        if (rc != 0)
            return rc;
    }
    /* The steps' entries may have grown the table or taken the free
     * slot: then find it again (with linear probing and no deletions,
     * a slot still free in the same table is still the right one). */
    if (e == NULL || t->tcache != tab ||
        tcache_busy(t->tcache_used, (size_t)(e - t->tcache))) {
        e = tcache_find(t, in, rule->tfns, &hit);
        if (hit) {
            *entry = e;
            *out = cur;
            return 0;
        }
    }
    e = tcache_put(t, e, in, rule->tfns, cur, cur.p != in.p);
    *entry = e;
    *out = cur;
    return 0;
}

static int
pf_on_match(unsigned int id, unsigned long long from, unsigned long long to,
            unsigned int flags, void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    uint64_t *bits = ctx;
    bits[id / 64] |= (uint64_t)1 << (id % 64);
    return 0;
}

/*
 * Scans `v` with prefilter group `g`: *bits gets one bit per rule of the
 * group whose literals occur (from the arena), or NULL when the scan
 * cannot be done (then the regexes run).
 */
static int
pf_scan(struct sk_waf_txn *t, const struct sk_pf_group *g, struct sk_str v,
        const uint64_t **bits)
{
    *bits = NULL;
    if (v.len > UINT32_MAX)
        return 0;
    /* Asked for at every scan, never kept: a transaction of another rule
     * set on this thread (during a reload) may have replaced it. */
    struct hs_scratch *scratch =
        sk__pf_thread_scratch(t->rules->serial, t->rules->pf_proto);
    if (scratch == NULL)
        return 0;
    size_t words = (g->nrules + 63) / 64;
    uint64_t *b = sk_arena_calloc(t->arena, words, sizeof(*b));
    if (b == NULL)
        return -SK_ENOMEM;
    static const char empty[1] = "";
    if (hs_scan(g->db, v.len ? (const char *)v.p : empty, (unsigned)v.len, 0,
                scratch, pf_on_match, b) != HS_SUCCESS)
        return 0;
    *bits = b;
    return 0;
}

/*
 * The prefilter hits of `rule` on the value `v` it is about to test (its
 * chain's result for `orig`), cached under (v, group): chains that leave
 * a value unchanged share one scan, and so do chains that change only
 * its case (t:lowercase), as the scan ignores case. `ce` is the
 * whole-chain cache entry that made `v`, when there is one: the hits are
 * also kept there, which saves the lookup next time.
 */
static int
pf_hits(struct sk_waf_txn *t, const struct sk_rule *rule, struct sk_str orig,
        struct sk_str v, struct sk_tfn_entry *ce, const uint64_t **bits)
{
    const struct sk_pf_group *g = rule->pf;
    if (ce != NULL && ce->pf_bits != NULL) {
        *bits = ce->pf_bits;
        return 0;
    }
    if (v.p != orig.p && v.len == orig.len && sk_str_eq_nocase(v, orig))
        v = orig;
    /* The hits belong to the value, whatever chain made it. */
    const struct sk_tfn_entry *tab = t->tcache;
    bool hit;
    struct sk_tfn_entry *e = tcache_find(t, v, g, &hit);
    if (hit) {
        *bits = (const uint64_t *)(const void *)e->out;
    } else {
        int rc = pf_scan(t, g, v, bits);
        if (rc != 0 || *bits == NULL)
            return rc;
        /* The scan did not touch the cache: the slot is still valid. */
        tcache_put(t, e, v, g, sk_str_make(*bits, (g->nrules + 63) / 64),
                   false);
    }
    /* Kept with the chain's entry too, unless tcache_put() grew the
     * table (which moves the entries). */
    if (ce != NULL && t->tcache == tab)
        ce->pf_bits = *bits;
    return 0;
}

/*
 * The memo entry (memo.h) of the value at `v`: looked up by where the
 * value lives first, then interned by its bytes. NULL when the value is
 * not remembered (too long, no memory).
 */
static struct sk_memo_val *
value_memo(struct sk_waf_txn *t, struct sk_str v)
{
    if (v.len > SK_MEMO_MAX_LEN)
        return NULL;
    uint64_t epoch = sk__memo_epoch();
    if (t->vmemo == NULL) {
        t->vmemo = sk_arena_calloc(t->arena, 64, sizeof(*t->vmemo));
        if (t->vmemo == NULL)
            return NULL;
        t->vmemo_cap = 64;
    }
    const uint8_t *key = v.p != NULL ? v.p : (const uint8_t *)"";
    uint64_t h = ((uint64_t)(uintptr_t)key ^ (uint64_t)v.len << 40) *
                 0x9e3779b97f4a7c15ULL;
    h ^= h >> 32;
    size_t i = (size_t)h & (t->vmemo_cap - 1);
    while (t->vmemo[i].p != NULL &&
           !(t->vmemo[i].p == key && t->vmemo[i].len == v.len))
        i = (i + 1) & (t->vmemo_cap - 1);
    struct sk_vmemo *s = &t->vmemo[i];
    if (s->p != NULL && s->epoch == epoch)
        return s->mv;
    struct sk_memo_val *mv = sk__memo_intern(
        t->rules->serial, v, t->rules->nmemo_links, t->rules->npf_chains);
    if (mv == NULL)
        return NULL;
    epoch = sk__memo_epoch(); /* interning may have started over */
    if (s->p == NULL) {
        if ((t->vmemo_n + 1) * 2 > t->vmemo_cap) {
            /* Full enough: start this table over rather than grow it. */
            size_t cap = t->vmemo_cap < 65536 ? t->vmemo_cap * 2 : t->vmemo_cap;
            struct sk_vmemo *tab = sk_arena_calloc(t->arena, cap, sizeof(*tab));
            if (tab == NULL)
                return mv;
            t->vmemo = tab;
            t->vmemo_cap = cap;
            t->vmemo_n = 0;
            i = (size_t)h & (cap - 1);
            s = &t->vmemo[i];
        }
        t->vmemo_n++;
    }
    s->p = key;
    s->len = v.len;
    s->epoch = epoch;
    s->mv = mv;
    return mv;
}

/* The memo entry of an entry's name or value, kept on the entry. */
static struct sk_memo_val *
entry_memo(struct sk_waf_txn *t, struct sk_entry *e, bool names)
{
    uint64_t epoch = sk__memo_epoch();
    if (names) {
        if (e->mv_name != NULL && e->mv_name_epoch == epoch)
            return e->mv_name;
        e->mv_name =
            sk__memo_intern(t->rules->serial, e->name, t->rules->nmemo_links,
                            t->rules->npf_chains);
        e->mv_name_epoch = sk__memo_epoch();
        return e->mv_name;
    }
    if (e->mv_value != NULL && e->mv_value_epoch == epoch)
        return e->mv_value;
    e->mv_value = sk__memo_intern(t->rules->serial, e->value,
                                  t->rules->nmemo_links, t->rules->npf_chains);
    e->mv_value_epoch = sk__memo_epoch();
    return e->mv_value;
}

/* The memo entry of `v`, the value eval_value() is given. */
static struct sk_memo_val *
given_memo(struct sk_waf_txn *t, struct sk_str v)
{
    struct sk_entry *e = t->cur_entry;
    if (e != NULL) {
        struct sk_str ev = t->cur_names ? e->name : e->value;
        if (ev.p == v.p && ev.len == v.len)
            return entry_memo(t, e, t->cur_names);
    }
    return value_memo(t, v);
}

static int
eval_value_now(struct sk_waf_txn *t, void *ud, const struct sk_target *tgt,
               struct sk_str name, struct sk_str value)
{
    struct eval_ctx *c = ud;
    const struct sk_rule *rule = c->rule;
    struct sk_op_result res;
    bool match = false;
    int rc;
    if (rule->multi_match) {
        rc = run_operator(t, c, rule, value, &res, &match);
        if (rc != 0)
            return rc;
        if (match) {
            c->matched = true;
            rc = on_value_match(t, rule, tgt, name, value, &res);
            if (rc != 0)
                return rc;
        }
    }
    struct sk_str cur = value;
    struct sk_tfn_entry *ce = NULL;
    if (!rule->multi_match && rule->ntfns > 0) {
        rc = transform_chain(t, rule, value, &cur, &ce);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; rule->multi_match && i < rule->ntfns; i++) {
        struct sk_str out;
        bool changed = false;
        rc = transform(t, rule->tfns[i], cur, &out, &changed);
        if (rc != 0)
            return rc;
        cur = out;
        if (changed) {
            rc = run_operator(t, c, rule, cur, &res, &match);
            if (rc != 0)
                return rc;
            if (match) {
                c->matched = true;
                rc = on_value_match(t, rule, tgt, name, cur, &res);
                if (rc != 0)
                    return rc;
            }
        }
    }
    if (rule->multi_match)
        return 0;
    if (rule->pf != NULL) {
        const uint64_t *bits;
        rc = pf_hits(t, rule, value, cur, ce, &bits);
        if (rc != 0)
            return rc;
        if (bits != NULL &&
            !(bits[rule->pf_id / 64] >> (rule->pf_id % 64) & 1)) {
            /* None of the pattern's required literals occurs in the
             * value: the regex cannot match, so it is not run. */
            if (!rule->op_negated)
                return 0;
            memset(&res, 0, sizeof(res));
            c->matched = true;
            return on_value_match(t, rule, tgt, name, cur, &res);
        }
    }
    rc = run_operator(t, c, rule, cur, &res, &match);
    if (rc != 0)
        return rc;
    if (match) {
        c->matched = true;
        return on_value_match(t, rule, tgt, name, cur, &res);
    }
    return 0;
}

/*
 * Evaluates one value of a target for the current link: transformations,
 * prefilter, operator, and the per-match work when it matches. A link
 * whose operator has no side effects and does not depend on the
 * transaction (op_memo) skips values its thread already found it does
 * not match (memo.h), and notes new ones.
 */
static int
eval_value(struct sk_waf_txn *t, void *ud, const struct sk_target *tgt,
           struct sk_str name, struct sk_str value)
{
    struct eval_ctx *c = ud;
    const struct sk_rule *rule = c->rule;
    struct sk_memo_val *mv = rule->op_memo ? given_memo(t, value) : NULL;
    if (mv == NULL)
        return eval_value_now(t, ud, tgt, name, value);
    uint64_t bit = (uint64_t)1 << (rule->memo_idx % 64);
    if (mv->no_match[rule->memo_idx / 64] & bit)
        return 0;
    bool before = c->matched;
    c->matched = false;
    t->op_side_effect = false;
    uint64_t epoch = sk__memo_epoch();
    int rc = eval_value_now(t, ud, tgt, name, value);
    if (rc == 0 && !c->matched && !t->op_side_effect &&
        epoch == sk__memo_epoch())
        mv->no_match[rule->memo_idx / 64] |= bit;
    c->matched = c->matched || before;
    return rc;
}

/*
 * The prefilter hits of `rule`'s group on `v` after the rule's
 * transformation chain, as eval_value() computes them (and sharing its
 * caches), or as an earlier transaction of this thread found them for
 * the same bytes (memo.h). *bits is NULL when they are unknown (the
 * value could not be scanned): the rule must then be evaluated.
 */
/*
 * A value seen again (memo.h `uses`): its hits under `rule`'s chain turn
 * into "does not match" bits for the chain's links that hold none of
 * their literals, once, for the memo's per-variable sums (nm_link_skip).
 * Not for a value seen once: most are never seen again.
 */
static void
pf_map_misses(const struct sk_waf_txn *t, const struct sk_rule *rule,
              struct sk_memo_val *mv, const uint64_t *bits)
{
    unsigned c = rule->pf_chain;
    if (mv->uses < 2 || c >= 64 || (mv->pf_mapped >> c & 1))
        return;
    const struct sk_pf_chain *ch = &t->rules->pf_chains[c];
    for (size_t k = 0; k < ch->nmemo_links; k++) {
        unsigned id = ch->memo_links[k].pf_id;
        unsigned mi = ch->memo_links[k].memo_idx;
        if (!(bits[id / 64] >> (id % 64) & 1))
            mv->no_match[mi / 64] |= (uint64_t)1 << (mi % 64);
    }
    mv->pf_mapped |= (uint64_t)1 << c;
}

static int
pf_value_bits(struct sk_waf_txn *t, const struct sk_rule *rule, struct sk_str v,
              struct sk_memo_val *mv, const uint64_t **bits)
{
    if (mv == NULL)
        mv = value_memo(t, v);
    if (mv != NULL && mv->pf_hits[rule->pf_chain] != NULL) {
        *bits = mv->pf_hits[rule->pf_chain];
        pf_map_misses(t, rule, mv, *bits);
        return 0;
    }
    uint64_t epoch = sk__memo_epoch();
    struct sk_str cur = v;
    struct sk_tfn_entry *ce = NULL;
    if (rule->ntfns > 0) {
        int rc = transform_chain(t, rule, v, &cur, &ce);
        if (rc != 0)
            return rc;
    }
    int rc = pf_hits(t, rule, v, cur, ce, bits);
    if (rc == 0 && *bits != NULL && mv != NULL && epoch == sk__memo_epoch()) {
        sk__memo_pf_put(mv, rule->pf_chain, *bits,
                        (rule->pf->nrules + 63) / 64);
        pf_map_misses(t, rule, mv, *bits);
    }
    return rc;
}

/*
 * A chain's batch: for each of its variables (struct sk_pf_chain), the
 * union of the prefilter hits of all its values under the chain, and the
 * variables' generations they were computed at.
 */
struct sk_pf_batch {
    bool valid;
    bool unknown; /* some value could not be scanned: no verdict */
    uint64_t *gens;
    uint64_t *bits; /* nvars rows of `words` */
};

static uint64_t
pf_var_gen(const struct sk_waf_txn *t, const struct sk_pf_var *v)
{
    return v->scalar ? t->scalar_gen[v->id] : t->colls[v->id].gen;
}

/*
 * The batch of `rule`'s chain, computed again when one of its variables
 * changed since: every value of every variable is transformed by the
 * chain and scanned, through the transformation and hit caches that the
 * rules then share (a value that several chains leave as it is, is
 * scanned once).
 */
static int
batch_get(struct sk_waf_txn *t, const struct sk_rule *rule,
          const struct sk_pf_batch **out)
{
    *out = NULL;
    const struct sk_waf_rules *r = t->rules;
    const struct sk_pf_chain *ch = &r->pf_chains[rule->pf_chain];
    const struct sk_pf_group *g = rule->pf;
    if (t->pf_batches == NULL) {
        t->pf_batches =
            sk_arena_calloc(t->arena, r->npf_chains, sizeof(*t->pf_batches));
        if (t->pf_batches == NULL)
            return -SK_ENOMEM;
    }
    struct sk_pf_batch *b = &t->pf_batches[rule->pf_chain];
    if (b->valid) {
        size_t i = 0;
        while (i < ch->nvars && b->gens[i] == pf_var_gen(t, &ch->vars[i]))
            i++;
        if (i == ch->nvars) {
            *out = b;
            return 0;
        }
    }
    b->valid = false;
    size_t words = (g->nrules + 63) / 64;
    if (b->gens == NULL) {
        b->gens = sk_arena_calloc(t->arena, ch->nvars, sizeof(*b->gens));
        b->bits =
            sk_arena_calloc(t->arena, ch->nvars * words, sizeof(*b->bits));
        if (b->gens == NULL || b->bits == NULL)
            return -SK_ENOMEM;
    } else {
        memset(b->bits, 0, ch->nvars * words * sizeof(*b->bits));
    }
    bool ok = true;
    for (size_t i = 0; i < ch->nvars && ok; i++) {
        const struct sk_pf_var *v = &ch->vars[i];
        b->gens[i] = pf_var_gen(t, v);
        struct sk_coll *c = &t->colls[v->id];
        size_t n = v->scalar ? t->has_scalar[v->id] : c->n;
        uint64_t *row = &b->bits[i * words];
        for (size_t j = 0; j < n; j++) {
            struct sk_str in = v->scalar  ? t->scalars[v->id]
                               : v->names ? c->e[j].name
                                          : c->e[j].value;
            const uint64_t *bits;
            struct sk_memo_val *mv =
                v->scalar ? NULL : entry_memo(t, &c->e[j], v->names);
            int rc = pf_value_bits(t, rule, in, mv, &bits);
            if (rc != 0)
                return rc;
            if (bits == NULL) {
                ok = false;
                break;
            }
            for (size_t k = 0; k < words; k++)
                row[k] |= bits[k];
        }
    }
    b->valid = true;
    b->unknown = !ok;
    *out = b;
    return 0;
}

/*
 * Whether `rule` (a pf_bulk link) may match: false when none of the
 * values its targets can yield holds one of its required literals, so
 * that its values need not be read one by one. Selections and
 * exclusions only narrow a target's values, so a target is judged by its
 * whole variable, save a literal selector, judged by its own entries.
 */
static int
pf_link_may_match(struct sk_waf_txn *t, const struct sk_rule *rule, bool *may)
{
    *may = true;
    size_t w = rule->pf_id / 64;
    uint64_t m = (uint64_t)1 << (rule->pf_id % 64);
    size_t words = (rule->pf->nrules + 63) / 64;
    const struct sk_pf_batch *b = NULL;
    for (size_t i = 0; i < rule->ntargets; i++) {
        const struct sk_target *tgt = &rule->targets[i];
        if (tgt->exclude)
            continue;
        if (tgt->pf_var == SK_PF_VAR_XML) {
            if (t->xml != NULL)
                return 0;
            continue;
        }
        if (tgt->pf_var == SK_PF_VAR_KEY) {
            const struct sk_var_def *def = tgt->def;
            bool names = def->kind == SK_VK_NAMES;
            const struct sk_coll *c = &t->colls[names ? def->base : def->id];
            size_t n = c->n;
            for (size_t k = 0; k < n; k++) {
                struct sk_entry *e = &c->e[k];
                if (e->hash != tgt->key_hash ||
                    !sk_str_eq_nocase(tgt->key, e->name))
                    continue;
                const uint64_t *bits;
                int rc = pf_value_bits(t, rule, names ? e->name : e->value,
                                       entry_memo(t, e, names), &bits);
                if (rc != 0 || bits == NULL || (bits[w] & m))
                    return rc;
            }
            continue;
        }
        if (tgt->pf_var < 0)
            return 0;
        if (b == NULL) {
            int rc = batch_get(t, rule, &b);
            if (rc != 0 || b == NULL || b->unknown)
                return rc;
        }
        if (b->bits[(size_t)tgt->pf_var * words + w] & m)
            return 0;
    }
    *may = false;
    return 0;
}

/*
 * The links (op_memo, memo.h) that match none of the current values of a
 * variable (or of its names), as far as the memo knows: the AND of its
 * values' "does not match" bits. Recomputed when the variable changes;
 * a value the memo cannot hold makes it unknown.
 */
struct sk_nm_batch {
    bool valid, unknown;
    uint64_t gen;
    uint64_t *bits;
};

static const struct sk_nm_batch *
nm_batch_get(struct sk_waf_txn *t, unsigned batch, enum sk_var_id id,
             bool names, bool scalar)
{
    const struct sk_waf_rules *r = t->rules;
    size_t words = r->nmemo_links / 64 + 1;
    if (t->nm_batches == NULL) {
        t->nm_batches =
            sk_arena_calloc(t->arena, r->nnm_batches, sizeof(*t->nm_batches));
        if (t->nm_batches == NULL)
            return NULL;
    }
    struct sk_nm_batch *b = &t->nm_batches[batch];
    uint64_t gen = scalar ? t->scalar_gen[id] : t->colls[id].gen;
    if (b->valid && b->gen == gen)
        return b->unknown ? NULL : b;
    if (b->bits == NULL) {
        b->bits = sk_arena_alloc(t->arena, words * sizeof(*b->bits));
        if (b->bits == NULL)
            return NULL;
    }
    memset(b->bits, 0xff, words * sizeof(*b->bits));
    b->valid = true;
    b->unknown = false;
    b->gen = gen;
    if (scalar) {
        if (!t->has_scalar[id])
            return b;
        struct sk_memo_val *mv = value_memo(t, t->scalars[id]);
        if (mv == NULL) {
            b->unknown = true;
            return NULL;
        }
        memcpy(b->bits, mv->no_match, words * sizeof(*b->bits));
        return b;
    }
    struct sk_coll *c = &t->colls[id];
    for (size_t i = 0; i < c->n; i++) {
        struct sk_memo_val *mv = entry_memo(t, &c->e[i], names);
        if (mv == NULL) {
            b->unknown = true;
            return NULL;
        }
        for (size_t k = 0; k < words; k++)
            b->bits[k] &= mv->no_match[k];
    }
    return b;
}

struct nm_ctx {
    size_t w;
    uint64_t m;
    bool miss;
};

static int
nm_value(struct sk_waf_txn *t, void *ud, const struct sk_target *tgt,
         struct sk_str name, struct sk_str value)
{
    (void)tgt;
    (void)name;
    struct nm_ctx *x = ud;
    struct sk_memo_val *mv = given_memo(t, value);
    if (mv == NULL || !(mv->no_match[x->w] & x->m)) {
        x->miss = true;
        return 1; /* stop: this value must be evaluated */
    }
    return 0;
}

/*
 * Whether the memo knows that op_memo link `rule` matches none of the
 * values its targets yield: then they need not be read one by one (a
 * request that repeats an earlier one's values is not looked at value
 * by value again). The per-variable sum covers all of a variable's
 * values; a target that selects some of them (REQUEST_HEADERS:Referer)
 * or excludes some (!REQUEST_COOKIES:/__utm/) and is not covered by the
 * sum has its own values looked up one by one: values the link never
 * reads (another header) have no verdict for it.
 */
static bool
nm_link_skip(struct sk_waf_txn *t, const struct sk_rule *rule)
{
    if (rule->nnm == SK_NM_NEVER)
        return false;
    size_t w = rule->memo_idx / 64;
    uint64_t m = (uint64_t)1 << (rule->memo_idx % 64);
    for (size_t i = 0; i < rule->nnm; i++) {
        const struct sk_nm_tgt *x = &rule->nm[i];
        if (x->flags & SK_NM_XML) {
            if (t->xml != NULL)
                return false;
            continue; /* no XML body: no values */
        }
        bool scalar = (x->flags & SK_NM_SCALAR) != 0;
        const struct sk_nm_batch *b =
            nm_batch_get(t, x->batch, (enum sk_var_id)x->var,
                         (x->flags & SK_NM_NAMES) != 0, scalar);
        if (b != NULL && (b->bits[w] & m))
            continue;
        if (scalar || (!(x->flags & SK_NM_NARROW) && t->nexcl == 0))
            return false; /* the sum was over exactly these values */
        struct nm_ctx c = {w, m, false};
        if (sk__target_values(t, rule, &rule->targets[x->tgt], nm_value, &c) !=
                0 ||
            c.miss)
            return false;
    }
    return true;
}

/* Evaluates one link and, if it matches, the rest of its chain. */
static int
eval_link(struct sk_waf_txn *t, const struct sk_rule *rule, bool *matched)
{
    t->cur_rule = rule;
    struct eval_ctx c = {rule, false, 0};
    if (rule->unavailable != NULL) {
        /* The configuration reached a rule we cannot run: fail closed
         * through TX:MSC_*, which the recommended rule 200005 denies. */
        *matched = false;
        return sk__coll_set(t, &t->colls[SK_V_TX],
                            SK_STR_LIT("MSC_UNSUPPORTED_OPERATOR"),
                            sk_str_c(rule->unavailable));
    }
    if (rule->unconditional) {
        c.matched = true;
        int rc = run_per_match(t, rule);
        if (rc != 0)
            return rc;
    } else {
        /* The memo's verdicts first: they are summed up per variable
         * for all links, the prefilter's per transformation chain. */
        if (rule->op_memo && nm_link_skip(t, rule)) {
            t->nm_skipped++;
            *matched = false;
            return 0;
        }
        if (rule->pf_bulk) {
            bool may;
            int rc = pf_link_may_match(t, rule, &may);
            if (rc != 0)
                return rc;
            if (!may) {
                *matched = false;
                return 0;
            }
        }
        for (size_t i = 0; i < rule->ntargets; i++) {
            const struct sk_target *tgt = &rule->targets[i];
            if (tgt->exclude)
                continue;
            int rc = sk__target_values(t, rule, tgt, eval_value, &c);
            if (rc < 0)
                return rc;
        }
    }
    if (!c.matched) {
        *matched = false;
        return 0;
    }
    if (rule->chain != NULL) {
        int rc = eval_link(t, rule->chain, matched);
        t->cur_rule = rule;
        if (rc != 0 || !*matched)
            return rc;
    }
    for (size_t i = 0; i < rule->nracts; i++)
        if (!per_match(&rule->racts[i])) {
            int rc = run_ract(t, &rule->racts[i]);
            if (rc != 0)
                return rc;
        }
    *matched = true;
    return 0;
}

static int
record_match(struct sk_waf_txn *t, const struct sk_rule *rule, int phase)
{
    struct sk_waf_match *m =
        grow(t, (void **)&t->matches, &t->nmatches, &t->capmatches, sizeof(*m));
    if (m == NULL)
        return -SK_ENOMEM;
    memset(m, 0, sizeof(*m));
    t->cur_rule = rule;
    struct sk_str s = SK_STR_LIT("");
    int rc = 0;
    if (rule->has_msg)
        rc = sk__macro_expand(t, &rule->msg, &s);
    if (rc != 0)
        return rc;
    m->msg = sk_arena_memdup(t->arena, s.p, s.len);
    s = SK_STR_LIT("");
    if (rule->has_logdata)
        rc = sk__macro_expand(t, &rule->logdata, &s);
    if (rc != 0)
        return rc;
    m->data = sk_arena_memdup(t->arena, s.p, s.len);
    m->id = rule->id;
    m->phase = phase;
    m->severity = rule->severity;
    m->paranoia_level = rule->paranoia_level;
    m->tags = (const char *const *)rule->tags;
    m->ntags = rule->ntags;
    struct sk_str mvn = t->has_scalar[SK_V_MATCHED_VAR_NAME]
                            ? t->scalars[SK_V_MATCHED_VAR_NAME]
                            : SK_STR_LIT("");
    m->matched_var_name = sk_arena_memdup(t->arena, mvn.p, mvn.len);
    m->file = rule->loc.file;
    m->line = rule->loc.line;
    m->disruptive = rule->disrupt != SK_D_PASS && rule->disrupt != SK_D_NONE;
    if (m->msg == NULL || m->data == NULL || m->matched_var_name == NULL)
        return -SK_ENOMEM;
    if (rule->severity >= 0 && rule->severity < t->highest_severity)
        t->highest_severity = rule->severity;
    return 0;
}

/* Applies a starter's disruptive action; returns true to stop the phase. */
static bool
disrupt(struct sk_waf_txn *t, const struct sk_rule *rule, int phase)
{
    enum sk_disrupt d = rule->disrupt;
    int status = rule->status;
    if (d == SK_D_BLOCK) {
        const struct sk_waf_rules *r = t->rules;
        if (r->has_default[phase - 1]) {
            d = r->defaults[phase - 1].disrupt;
            if (status == 0)
                status = r->defaults[phase - 1].status;
        } else {
            d = SK_D_PASS;
        }
    }
    if (d == SK_D_PASS || d == SK_D_NONE || d == SK_D_BLOCK)
        return false;
    if (d == SK_D_ALLOW) {
        /* Allow is honoured in DetectionOnly too: it only stops rules. */
        t->allow_all = true;
        return true;
    }
    if (t->engine != SK_ENGINE_ON)
        return false;
    t->verdict.rule_id = rule->id;
    t->verdict.phase = phase;
    t->verdict.status = status ? status : 403;
    switch (d) {
    case SK_D_DENY:
        t->verdict.action = SK_WAF_DENY;
        break;
    case SK_D_DROP:
        t->verdict.action = SK_WAF_DROP;
        break;
    case SK_D_REDIRECT: {
        struct sk_str url;
        t->verdict.action = SK_WAF_REDIRECT;
        t->verdict.status = (status >= 300 && status < 400) ? status : 302;
        if (sk__macro_expand(t, &rule->redirect, &url) == 0)
            t->verdict.url = sk_arena_memdup(t->arena, url.p, url.len);
        break;
    }
    default:
        break;
    }
    t->interrupted = true;
    return true;
}

/*
 * Phase 1 of a transaction whose TX is still empty starts from the TX
 * the folded rules leave (fold.h), and skips them; one whose TX the
 * request parser already wrote to runs every rule.
 */
static int
apply_fold(struct sk_waf_txn *t)
{
    const struct sk_waf_rules *r = t->rules;
    struct sk_coll *c = &t->colls[SK_V_TX];
    t->fold_on = r->nfolded > 0 && c->n == 0;
    if (!t->fold_on || r->nfold_tx == 0)
        return 0;
    size_t n = r->nfold_tx;
    size_t cap = n * 2 > 128 ? n * 2 : 128;
    struct sk_entry *e = sk_arena_alloc(t->arena, cap * sizeof(*e));
    uint32_t *idx = sk_arena_alloc(t->arena, r->fold_idx_cap * sizeof(*idx));
    if (e == NULL || idx == NULL)
        return -SK_ENOMEM;
    memcpy(e, r->fold_tx, n * sizeof(*e));
    memcpy(idx, r->fold_idx, r->fold_idx_cap * sizeof(*idx));
    c->e = e;
    c->cap = cap;
    c->n = n;
    c->idx = idx;
    c->idx_cap = r->fold_idx_cap;
    c->gen++;
    t->tx_digits |= r->fold_tx_digits;
    return 0;
}

/* Links of `t` that the memo's verdicts ruled out as a whole (tests). */
size_t
sk__waf_txn_nm_skipped(const struct sk_waf_txn *t)
{
    return t->nm_skipped;
}

int
sk__waf_eval_starter(struct sk_waf_txn *t, const struct sk_rule *rule,
                     bool *matched)
{
    t->colls[SK_V_MATCHED_VARS].n = 0;
    t->colls[SK_V_MATCHED_VARS].gen++;
    *matched = false;
    return eval_link(t, rule, matched);
}

int
sk__waf_eval_cond(struct sk_waf_txn *t, const struct sk_rule *rule,
                  bool *matched)
{
    struct sk_rule link = *rule;
    link.chain = NULL;
    link.racts = NULL;
    link.nracts = 0;
    link.capture = false;
    int rc = sk__waf_eval_starter(t, &link, matched);
    t->cur_rule = NULL;
    return rc;
}

static int
run_phase(struct sk_waf_txn *t, int phase)
{
    if (t->engine == SK_ENGINE_OFF)
        return 0;
    if (phase < 5 && (t->allow_all || t->interrupted))
        return 0;
    if (phase == 1) {
        int rc = apply_fold(t);
        if (rc != 0)
            return rc;
    }
    const struct sk_phase_prog *prog = &t->rules->phases[phase - 1];
    /* The rules that run: those not folded when the transaction starts
     * from the folded TX (or nothing is folded), else all of them. */
    bool live = t->fold_on || t->rules->nfolded == 0;
    struct sk_rule *const *list = live ? prog->live : prog->rules;
    size_t n = live ? prog->nlive : prog->nrules;
    for (size_t k = 0; k < n; k++) {
        const struct sk_rule *rule = list[k];
        if (rule->is_marker || rule_removed(t, rule))
            continue;
        /* A new rule starts with no matched variables. */
        t->colls[SK_V_MATCHED_VARS].n = 0;
        t->colls[SK_V_MATCHED_VARS].gen++;
        bool matched = false;
        int rc = eval_link(t, rule, &matched);
        if (rc != 0)
            return rc;
        if (!matched)
            continue;
        if (rule->log > 0) {
            rc = record_match(t, rule, phase);
            if (rc != 0)
                return rc;
        }
        if (disrupt(t, rule, phase) && phase < 5)
            return 0;
        if (t->engine == SK_ENGINE_OFF)
            return 0;
        if (rule->skip_after == NULL && rule->skip == 0)
            continue;
        /* Where the skip lands among all the phase's rules, folded ones
         * included (they count for skip:N). */
        size_t i = live ? prog->live_at[k] : k;
        if (rule->skip_after != NULL) {
            /* Continue after the marker (or end the phase). */
            i = rule->skip_to;
        } else {
            unsigned left = rule->skip;
            while (left > 0 && i + 1 < prog->nrules) {
                i++;
                if (!prog->rules[i]->is_marker)
                    left--;
            }
        }
        /* The loop's k++ then takes the first rule after index i. */
        k = live ? (size_t)prog->next_live[i + 1] - 1 : i;
    }
    return 0;
}

int
sk_waf_txn_phase(struct sk_waf_txn *t, int phase)
{
    if (phase < 1 || phase > 5)
        return -SK_EINVAL;
    while (t->phase_done < phase) {
        int p = t->phase_done + 1;
        int rc = 0;
        if (p == 1)
            rc = sk__process_request_headers(t);
        else if (p == 2)
            rc = sk__process_request_body(t);
        else if (p == 4 && t->resbody.len > 0)
            rc = sk__scalar_set(t, SK_V_RESPONSE_BODY, sk_buf_str(&t->resbody));
        if (rc != 0)
            return rc;
        rc = run_phase(t, p);
        t->phase_done = p;
        if (rc != 0)
            return rc;
        if (p == 5)
            sk__pstore_save_all(t);
    }
    return 0;
}

/* ---- Results ------------------------------------------------------------ */

void
sk_waf_txn_verdict(const struct sk_waf_txn *t, struct sk_waf_verdict *v)
{
    *v = t->verdict;
}

size_t
sk_waf_txn_match_count(const struct sk_waf_txn *t)
{
    return t->nmatches;
}

const struct sk_waf_match *
sk_waf_txn_match(const struct sk_waf_txn *t, size_t i)
{
    return i < t->nmatches ? &t->matches[i] : NULL;
}

const char *
sk_waf_txn_tx(const struct sk_waf_txn *t, const char *name)
{
    struct sk_coll *c = (struct sk_coll *)&t->colls[SK_V_TX];
    struct sk_entry *e = sk__coll_get(c, sk_str_c(name));
    return e ? (const char *)e->value.p : NULL;
}
