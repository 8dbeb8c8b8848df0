/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SecLang compiler: walks the AST in file order and builds the rule
 * program. Every directive, variable, operator, action and transformation
 * is looked up in a table; anything unknown or unsupported is an error with
 * file:line:col, and one error fails the whole load (nothing is half
 * loaded). Directives that change earlier rules (SecRuleRemoveById,
 * SecRuleUpdateTargetById, ...) apply to the rules defined before them, as
 * in ModSecurity.
 */
#include "waf/engine.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/limits.h"
#include "bodyproc/bodyproc.h"
#include "waf/prefilter.h"
#include "waf/txn.h" /* sk__name_hash */

#include <hs/hs.h>

struct dir_def;
struct action_def;

/* Compiler state carried between directives. */
struct cstate {
    struct sk_waf_rules *r;
    const struct dir_def *def;    /* the directive being compiled */
    const struct action_def *act; /* the action being applied */
    struct sk_rule *open_chain;   /* last link of a chain awaiting a link */
};

#define ERR(r, loc, ...) sk_diag_error(&(r)->diag, (loc), __VA_ARGS__)

static char *
adup(struct sk_waf_rules *r, const char *s)
{
    return sk_arena_strdup(r->arena, s);
}

/* ---- Small parsers ---------------------------------------------------- */

static int
parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    return sk_str_to_u64(sk_str_c(s), out) == 0 ? 0 : -1;
}

static int
parse_int(const char *s, long lo, long hi, long *out)
{
    uint64_t v;
    bool neg = false;
    if (s != NULL && *s == '-') {
        neg = true;
        s++;
    }
    if (parse_u64(s, &v) != 0 || v > (uint64_t)LONG_MAX)
        return -1;
    long x = neg ? -(long)v : (long)v;
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int
parse_on_off(const char *s, bool *out)
{
    if (strcasecmp(s, "On") == 0)
        *out = true;
    else if (strcasecmp(s, "Off") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

static int
parse_engine_mode(const char *s, int *out)
{
    if (strcasecmp(s, "On") == 0)
        *out = SK_ENGINE_ON;
    else if (strcasecmp(s, "Off") == 0)
        *out = SK_ENGINE_OFF;
    else if (strcasecmp(s, "DetectionOnly") == 0)
        *out = SK_ENGINE_DETECTION_ONLY;
    else
        return -1;
    return 0;
}

/* Parses "N" or "N-M" into a range. */
static int
parse_range(const char *s, struct sk_id_range *out)
{
    const char *dash = strchr(s, '-');
    char buf[64];
    if (dash == NULL) {
        if (parse_u64(s, &out->lo) != 0)
            return -1;
        out->hi = out->lo;
        return 0;
    }
    size_t n = (size_t)(dash - s);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (parse_u64(buf, &out->lo) != 0 || parse_u64(dash + 1, &out->hi) != 0 ||
        out->hi < out->lo)
        return -1;
    return 0;
}

/* ---- Macros ------------------------------------------------------------ */

enum rule_field {
    RF_NONE = 0,
    RF_ID,
    RF_MSG,
    RF_REV,
    RF_SEVERITY,
    RF_LOGDATA,
    RF_VER,
    RF_MATURITY,
    RF_ACCURACY,
    RF_PHASE,
};

static int
rule_field(struct sk_str key)
{
    static const struct {
        const char *name;
        int field;
    } f[] = {
        {"accuracy", RF_ACCURACY}, {"id", RF_ID},
        {"logdata", RF_LOGDATA},   {"maturity", RF_MATURITY},
        {"msg", RF_MSG},           {"phase", RF_PHASE},
        {"rev", RF_REV},           {"severity", RF_SEVERITY},
        {"ver", RF_VER},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (sk_str_eq_c_nocase(key, f[i].name))
            return f[i].field;
    return RF_NONE;
}

int
sk__macro_compile(struct sk_waf_rules *r, const char *text,
                  const struct sk_loc *loc, struct sk_macro *m)
{
    size_t len = strlen(text);
    m->text = sk_str_make(adup(r, text), len);
    m->parts = NULL;
    m->nparts = 0;
    m->constant = true;
    if (m->text.p == NULL)
        return -SK_ENOMEM;
    /* Count the worst case of parts: each %{ adds at most two. */
    size_t cap = 1;
    for (const char *p = text; (p = strstr(p, "%{")) != NULL; p += 2)
        cap += 2;
    m->hash = sk__name_hash(m->text);
    if (cap == 1)
        return 0;
    m->parts = sk_arena_calloc(r->arena, cap, sizeof(*m->parts));
    if (m->parts == NULL)
        return -SK_ENOMEM;
    const char *s = (const char *)m->text.p;
    size_t i = 0, lit_start = 0;
    while (i < len) {
        if (s[i] == '%' && i + 1 < len && s[i + 1] == '{') {
            const char *end = memchr(s + i + 2, '}', len - i - 2);
            if (end == NULL)
                break; /* an unterminated %{ is literal text */
            if (i > lit_start) {
                m->parts[m->nparts++].lit =
                    sk_str_make(s + lit_start, i - lit_start);
            }
            struct sk_str ref =
                sk_str_make(s + i + 2, (size_t)(end - s) - i - 2);
            struct sk_str name = ref, key = SK_STR_NULL;
            for (size_t k = 0; k < ref.len; k++) {
                if (ref.p[k] == '.' || ref.p[k] == ':') {
                    name = sk_str_make(ref.p, k);
                    key = sk_str_make(ref.p + k + 1, ref.len - k - 1);
                    break;
                }
            }
            const struct sk_var_def *def = sk__var_find(name);
            if (def == NULL) {
                ERR(r, loc, "unknown variable '%.*s' in macro '%s'",
                    (int)name.len, (const char *)name.p, text);
                return -SK_EPARSE;
            }
            if (def->kind == SK_VK_UNSUPPORTED) {
                ERR(r, loc, "variable %s is not supported: %s", def->name,
                    def->doc);
                return -SK_ENOTSUP;
            }
            if (def->id == SK_V_FULL_REQUEST ||
                def->id == SK_V_FULL_REQUEST_LENGTH)
                r->uses_full_request = true;
            struct sk_macro_part *part = &m->parts[m->nparts++];
            part->def = def;
            part->key = key;
            part->key_hash = sk__name_hash(key);
            if (def->id == SK_V_RULE) {
                part->rule_field = rule_field(key);
                if (part->rule_field == RF_NONE) {
                    ERR(r, loc, "unknown rule field '%.*s' in macro",
                        (int)key.len, (const char *)key.p);
                    return -SK_EPARSE;
                }
            }
            m->constant = false;
            i = (size_t)(end - s) + 1;
            lit_start = i;
            continue;
        }
        i++;
    }
    if (len > lit_start && !m->constant)
        m->parts[m->nparts++].lit = sk_str_make(s + lit_start, len - lit_start);
    return 0;
}

/* ---- Targets ------------------------------------------------------------ */

static pcre2_code *
compile_re(struct sk_waf_rules *r, const char *re, uint32_t flags,
           const struct sk_loc *loc)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                     flags | PCRE2_DOTALL, &err, &off, NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        ERR(r, loc, "bad regular expression '%s' at offset %zu: %s", re,
            (size_t)off, (const char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    if (sk_arena_defer(r->arena, (sk_arena_cleanup_fn)pcre2_code_free, code) !=
        0) {
        pcre2_code_free(code);
        return NULL;
    }
    return code;
}

/* Compiles a selector regex once per distinct pattern and flags. */
static pcre2_code *
intern_re(struct sk_waf_rules *r, const char *re, uint32_t flags,
          const struct sk_loc *loc)
{
    for (size_t i = 0; i < r->nres; i++)
        if (r->res[i].flags == flags && strcmp(r->res[i].pattern, re) == 0)
            return r->res[i].code;
    pcre2_code *code = compile_re(r, re, flags, loc);
    if (code == NULL)
        return NULL;
    if (r->nres == r->capres) {
        size_t cap = r->capres ? r->capres * 2 : 32;
        struct sk_interned_re *n = sk_arena_calloc(r->arena, cap, sizeof(*n));
        if (n == NULL)
            return code; /* not interned, still correct */
        if (r->nres > 0)
            memcpy(n, r->res, r->nres * sizeof(*n));
        r->res = n;
        r->capres = cap;
    }
    char *pat = adup(r, re);
    if (pat == NULL)
        return code;
    r->res[r->nres].pattern = pat;
    r->res[r->nres].flags = flags;
    r->res[r->nres].code = code;
    r->nres++;
    return code;
}

/*
 * A selector regex that only says "contains this text" (or "starts with
 * it", after ^): letters, digits, a few punctuation bytes PCRE takes
 * literally, and backslash-escaped punctuation. *lit gets the text
 * lower-cased (the selectors are compiled caseless), empty when the regex
 * is anything more. 0 or -SK_ENOMEM.
 */
static int
selector_literal(struct sk_waf_rules *r, const char *re, struct sk_str *lit,
                 bool *anchored)
{
    *lit = SK_STR_NULL;
    *anchored = false;
    const char *p = re;
    if (*p == '^') {
        *anchored = true;
        p++;
    }
    size_t n = strlen(p);
    char *out = sk_arena_alloc(r->arena, n + 1);
    if (out == NULL)
        return -SK_ENOMEM;
    size_t k = 0;
    for (; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\\') {
            unsigned char e = (unsigned char)p[1];
            if (e == '\0' || (e < 0x80 && isalnum(e)))
                return 0; /* \d, \b, \x41...: a real regex */
            out[k++] = (char)e;
            p++;
        } else if ((c < 0x80 && isalnum(c)) || strchr("_-/:=@%,!~ ", c)) {
            out[k++] = (char)sk_ascii_lower(c);
        } else {
            return 0;
        }
    }
    if (k == 0)
        return 0;
    out[k] = '\0';
    *lit = sk_str_make(out, k);
    return 0;
}

/* Gives regex selector `x` its bit in the entries' remembered results:
 * the same bit as an earlier selector with the same compiled code. */
static void
sel_bit(struct sk_waf_rules *r, struct sk_target *x)
{
    x->sel_bit = SK_SEL_NONE;
    for (size_t b = 0; b < r->nsel; b++)
        if (r->sel_tgt[b]->key_re == x->key_re) {
            x->sel_bit = (uint8_t)b;
            return;
        }
    if (r->nsel < SK_SEL_BITS) {
        x->sel_bit = (uint8_t)r->nsel;
        r->sel_tgt[r->nsel++] = x;
    }
}

int
sk__targets_compile(struct sk_waf_rules *r, const struct sk_ast_var *vars,
                    size_t nvars, struct sk_target **out, size_t *n)
{
    struct sk_target *t =
        sk_arena_calloc(r->arena, nvars ? nvars : 1, sizeof(*t));
    if (t == NULL)
        return -SK_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < nvars; i++) {
        const struct sk_ast_var *v = &vars[i];
        const struct sk_var_def *def = sk__var_find(sk_str_c(v->collection));
        if (def == NULL) {
            ERR(r, &v->loc, "unknown variable '%s'", v->collection);
            rc = -SK_EPARSE;
            continue;
        }
        if (def->kind == SK_VK_UNSUPPORTED && def->id != SK_V_GEO) {
            ERR(r, &v->loc, "variable %s is not supported: %s", def->name,
                def->doc);
            rc = -SK_ENOTSUP;
            continue;
        }
        t[i].def = def;
        if (def->id == SK_V_FULL_REQUEST || def->id == SK_V_FULL_REQUEST_LENGTH)
            r->uses_full_request = true; /* built only when needed */
        t[i].count = v->count;
        t[i].exclude = v->exclude;
        if (v->selector != NULL) {
            t[i].key_text = adup(r, v->selector);
            if (def->kind == SK_VK_SCALAR || def->kind == SK_VK_COMPUTED) {
                if (def->id != SK_V_RULE) {
                    ERR(r, &v->loc, "variable %s takes no selector", def->name);
                    rc = -SK_EPARSE;
                    continue;
                }
            }
            if (def->kind == SK_VK_XML &&
                sk_bodyproc_xpath_check(v->selector) != 0) {
                ERR(r, &v->loc, "bad XPath expression '%s'", v->selector);
                rc = -SK_EPARSE;
                continue;
            }
            if (v->selector_regex && def->kind != SK_VK_XML) {
                t[i].key_re =
                    intern_re(r, v->selector, PCRE2_CASELESS, &v->loc);
                if (t[i].key_re == NULL)
                    rc = -SK_EPARSE;
                else if (selector_literal(r, v->selector, &t[i].key_lit,
                                          &t[i].key_lit_anchored) != 0)
                    rc = -SK_ENOMEM;
                else if (t[i].key_lit.len == 0 &&
                         !sk__prefilter_literals(r->arena, v->selector,
                                                 &t[i].key_req, &t[i].nkey_req))
                    t[i].nkey_req = 0; /* no literal a name must hold */
                if (t[i].key_re != NULL)
                    sel_bit(r, &t[i]);
            } else {
                t[i].key = sk_str_c(t[i].key_text);
                t[i].key_hash = sk__name_hash(t[i].key);
            }
        }
    }
    *out = t;
    *n = nvars;
    return rc;
}

/* ---- Actions ------------------------------------------------------------ */

/* Where an action may appear. */
enum {
    AF_STARTER = 1, /* only on a chain starter (or a lone rule) */
    AF_ANY = 2,     /* on any link */
    /* Allowed on any link, as ModSecurity allows them, but only the chain
     * starter's setting decides whether the chain logs (docs say so). */
    AF_LOGFLAG = 3,
};

typedef int (*action_fn)(struct cstate *cs, struct sk_rule *rule,
                         const struct sk_ast_action *a);

struct action_def {
    const char *name;
    action_fn fn;
    int where;
    bool needs_value;
    const char *doc;
    size_t arg; /* act_disrupt: the action; act_flag, act_rating:
                 the field's offset */
};

/* accuracy, maturity: a 0-9 rating into the int field named by the row. */
static int
act_rating(struct cstate *cs, struct sk_rule *rule,
           const struct sk_ast_action *a)
{
    long v;
    if (parse_int(a->value, 0, 9, &v) != 0) {
        ERR(cs->r, &a->loc, "%s must be 0-9, got '%s'", a->name, a->value);
        return -SK_EPARSE;
    }
    *(int *)((char *)rule + cs->act->arg) = (int)v;
    return 0;
}

/* pass, block, deny, drop: the disruptive action named by the row. */
static int
act_disrupt(struct cstate *cs, struct sk_rule *rule,
            const struct sk_ast_action *a)
{
    (void)a;
    rule->disrupt = (enum sk_disrupt)cs->act->arg;
    return 0;
}

/* capture, chain, multiMatch: set the rule flag named by the row. */
static int
act_flag(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    (void)a;
    *(bool *)((char *)rule + cs->act->arg) = true;
    return 0;
}

static int
act_allow(struct cstate *cs, struct sk_rule *rule,
          const struct sk_ast_action *a)
{
    if (a->value != NULL && strcasecmp(a->value, "phase") != 0 &&
        strcasecmp(a->value, "request") != 0) {
        ERR(cs->r, &a->loc, "allow takes no value, 'phase' or 'request'");
        return -SK_EPARSE;
    }
    rule->disrupt = SK_D_ALLOW;
    return 0;
}

static int
act_redirect(struct cstate *cs, struct sk_rule *rule,
             const struct sk_ast_action *a)
{
    rule->disrupt = SK_D_REDIRECT;
    return sk__macro_compile(cs->r, a->value, &a->loc, &rule->redirect);
}

static int
act_auditlog(struct cstate *cs, struct sk_rule *rule,
             const struct sk_ast_action *a)
{
    (void)cs;
    rule->auditlog = strcasecmp(a->name, "auditlog") == 0;
    return 0;
}

static int
act_log(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    (void)cs;
    rule->log = strcasecmp(a->name, "log") == 0;
    return 0;
}

static int
act_id(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    if (parse_u64(a->value, &rule->id) != 0 || rule->id == 0) {
        ERR(cs->r, &a->loc, "id must be a positive integer, got '%s'",
            a->value);
        return -SK_EPARSE;
    }
    return 0;
}

static int
act_phase(struct cstate *cs, struct sk_rule *rule,
          const struct sk_ast_action *a)
{
    long v;
    if (strcasecmp(a->value, "request") == 0)
        v = 2;
    else if (strcasecmp(a->value, "response") == 0)
        v = 4;
    else if (strcasecmp(a->value, "logging") == 0)
        v = 5;
    else if (parse_int(a->value, 1, 5, &v) != 0) {
        ERR(cs->r, &a->loc,
            "phase must be 1-5, request, response or "
            "logging, got '%s'",
            a->value);
        return -SK_EPARSE;
    }
    rule->phase = (int)v;
    return 0;
}

static int
act_msg(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    rule->has_msg = true;
    return sk__macro_compile(cs->r, a->value, &a->loc, &rule->msg);
}

static int
act_logdata(struct cstate *cs, struct sk_rule *rule,
            const struct sk_ast_action *a)
{
    rule->has_logdata = true;
    return sk__macro_compile(cs->r, a->value, &a->loc, &rule->logdata);
}

static int
act_severity(struct cstate *cs, struct sk_rule *rule,
             const struct sk_ast_action *a)
{
    static const char *const names[] = {"EMERGENCY", "ALERT",   "CRITICAL",
                                        "ERROR",     "WARNING", "NOTICE",
                                        "INFO",      "DEBUG"};
    long v;
    if (parse_int(a->value, 0, 7, &v) == 0) {
        rule->severity = (int)v;
        return 0;
    }
    for (int i = 0; i < 8; i++)
        if (strcasecmp(a->value, names[i]) == 0) {
            rule->severity = i;
            return 0;
        }
    ERR(cs->r, &a->loc, "unknown severity '%s'", a->value);
    return -SK_EPARSE;
}

static int
act_tag(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    char **nt = sk_arena_calloc(cs->r->arena, rule->ntags + 1, sizeof(*nt));
    if (nt == NULL)
        return -SK_ENOMEM;
    if (rule->ntags > 0)
        memcpy(nt, rule->tags, rule->ntags * sizeof(*nt));
    nt[rule->ntags] = adup(cs->r, a->value);
    rule->tags = nt;
    rule->ntags++;
    if (strncasecmp(a->value, "paranoia-level/", 15) == 0) {
        long pl;
        if (parse_int(a->value + 15, 0, 9, &pl) == 0)
            rule->paranoia_level = (int)pl;
    }
    return 0;
}

static int
act_ver(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    rule->ver = adup(cs->r, a->value);
    return 0;
}

static int
act_rev(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    rule->rev = adup(cs->r, a->value);
    return 0;
}

static int
act_status(struct cstate *cs, struct sk_rule *rule,
           const struct sk_ast_action *a)
{
    long v;
    if (parse_int(a->value, 100, 599, &v) != 0) {
        ERR(cs->r, &a->loc, "status must be an HTTP status, got '%s'",
            a->value);
        return -SK_EPARSE;
    }
    rule->status = (int)v;
    return 0;
}

static int
act_skip(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    long v;
    if (parse_int(a->value, 1, 100000, &v) != 0) {
        ERR(cs->r, &a->loc, "skip must be a positive number, got '%s'",
            a->value);
        return -SK_EPARSE;
    }
    rule->skip = (unsigned)v;
    return 0;
}

static int
act_skipafter(struct cstate *cs, struct sk_rule *rule,
              const struct sk_ast_action *a)
{
    rule->skip_after = adup(cs->r, a->value);
    return 0;
}

static int
act_t(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    const struct sk_transform_def *def = sk_transform_find(a->value);
    if (def == NULL) {
        ERR(cs->r, &a->loc, "unknown transformation '%s'", a->value);
        return -SK_EPARSE;
    }
    if (def->fn == NULL) { /* t:none */
        rule->ntfns = 0;
        rule->tfn_none = true;
        return 0;
    }
    if (rule->ntfns >= SK_LIMIT_TRANSFORMS) {
        ERR(cs->r, &a->loc, "more than %d transformations",
            SK_LIMIT_TRANSFORMS);
        return -SK_ELIMIT;
    }
    const struct sk_transform_def **nt =
        sk_arena_calloc(cs->r->arena, rule->ntfns + 1, sizeof(*nt));
    if (nt == NULL)
        return -SK_ENOMEM;
    if (rule->ntfns > 0)
        memcpy(nt, rule->tfns, rule->ntfns * sizeof(*nt));
    nt[rule->ntfns++] = def;
    rule->tfns = nt;
    return 0;
}

static struct sk_ract *
new_ract(struct cstate *cs, struct sk_rule *rule, enum sk_ractkind kind,
         const struct sk_loc *loc)
{
    struct sk_ract *n =
        sk_arena_calloc(cs->r->arena, rule->nracts + 1, sizeof(*n));
    if (n == NULL)
        return NULL;
    if (rule->nracts > 0)
        memcpy(n, rule->racts, rule->nracts * sizeof(*n));
    rule->racts = n;
    struct sk_ract *ra = &n[rule->nracts++];
    ra->kind = kind;
    ra->loc = *loc;
    return ra;
}

/* Splits "coll.name" into the collection and the name macro. */
static int
parse_collvar(struct cstate *cs, const char *text, const struct sk_loc *loc,
              struct sk_ract *ra, const char *what)
{
    const char *dot = strchr(text, '.');
    if (dot == NULL || dot == text) {
        ERR(cs->r, loc, "%s needs COLLECTION.name, got '%s'", what, text);
        return -SK_EPARSE;
    }
    const struct sk_var_def *def =
        sk__var_find(sk_str_make(text, (size_t)(dot - text)));
    if (def == NULL || (def->id != SK_V_TX && def->id != SK_V_IP &&
                        def->id != SK_V_GLOBAL && def->id != SK_V_SESSION &&
                        def->id != SK_V_USER && def->id != SK_V_RESOURCE)) {
        ERR(cs->r, loc, "%s: '%.*s' is not a writable collection", what,
            (int)(dot - text), text);
        return -SK_EPARSE;
    }
    ra->coll = def->id;
    return sk__macro_compile(cs->r, dot + 1, loc, &ra->name);
}

static int
act_setvar(struct cstate *cs, struct sk_rule *rule,
           const struct sk_ast_action *a)
{
    struct sk_ract *ra = new_ract(cs, rule, SK_RA_SETVAR, &a->loc);
    if (ra == NULL)
        return -SK_ENOMEM;
    const char *v = a->value;
    if (*v == '!') {
        ra->op = SK_SV_DELETE;
        return parse_collvar(cs, v + 1, &a->loc, ra, "setvar");
    }
    const char *eq = strchr(v, '=');
    const char *value = "1"; /* setvar:tx.x without '=' sets 1 */
    char *name;
    if (eq == NULL) {
        name = adup(cs->r, v);
        ra->op = SK_SV_SET;
    } else {
        name = sk_arena_memdup(cs->r->arena, v, (size_t)(eq - v));
        value = eq + 1;
        if (*value == '+') {
            ra->op = SK_SV_ADD;
            value++;
        } else if (*value == '-') {
            ra->op = SK_SV_SUB;
            value++;
        } else {
            ra->op = SK_SV_SET;
        }
    }
    if (name == NULL)
        return -SK_ENOMEM;
    int rc = parse_collvar(cs, name, &a->loc, ra, "setvar");
    if (rc != 0)
        return rc;
    return sk__macro_compile(cs->r, value, &a->loc, &ra->value);
}

static int
act_expirevar(struct cstate *cs, struct sk_rule *rule,
              const struct sk_ast_action *a)
{
    struct sk_ract *ra = new_ract(cs, rule, SK_RA_EXPIREVAR, &a->loc);
    if (ra == NULL)
        return -SK_ENOMEM;
    const char *eq = strchr(a->value, '=');
    if (eq == NULL) {
        ERR(cs->r, &a->loc, "expirevar needs COLLECTION.name=SECONDS");
        return -SK_EPARSE;
    }
    char *name =
        sk_arena_memdup(cs->r->arena, a->value, (size_t)(eq - a->value));
    if (name == NULL)
        return -SK_ENOMEM;
    int rc = parse_collvar(cs, name, &a->loc, ra, "expirevar");
    if (rc != 0)
        return rc;
    return sk__macro_compile(cs->r, eq + 1, &a->loc, &ra->value);
}

static int
act_initcol(struct cstate *cs, struct sk_rule *rule,
            const struct sk_ast_action *a)
{
    struct sk_ract *ra = new_ract(cs, rule, SK_RA_INITCOL, &a->loc);
    if (ra == NULL)
        return -SK_ENOMEM;
    const char *eq = strchr(a->value, '=');
    if (eq == NULL) {
        ERR(cs->r, &a->loc, "initcol needs COLLECTION=KEY");
        return -SK_EPARSE;
    }
    const struct sk_var_def *def =
        sk__var_find(sk_str_make(a->value, (size_t)(eq - a->value)));
    if (def == NULL || (def->id != SK_V_IP && def->id != SK_V_GLOBAL &&
                        def->id != SK_V_SESSION && def->id != SK_V_USER &&
                        def->id != SK_V_RESOURCE)) {
        ERR(cs->r, &a->loc, "initcol: '%.*s' is not a persistent collection",
            (int)(eq - a->value), a->value);
        return -SK_EPARSE;
    }
    ra->coll = def->id;
    return sk__macro_compile(cs->r, eq + 1, &a->loc, &ra->value);
}

static int
act_setenv(struct cstate *cs, struct sk_rule *rule,
           const struct sk_ast_action *a)
{
    struct sk_ract *ra = new_ract(cs, rule, SK_RA_SETENV, &a->loc);
    if (ra == NULL)
        return -SK_ENOMEM;
    const char *eq = strchr(a->value, '=');
    char *name =
        eq ? sk_arena_memdup(cs->r->arena, a->value, (size_t)(eq - a->value))
           : adup(cs->r, a->value);
    if (name == NULL)
        return -SK_ENOMEM;
    ra->coll = SK_V_ENV;
    int rc = sk__macro_compile(cs->r, name, &a->loc, &ra->name);
    if (rc != 0)
        return rc;
    return sk__macro_compile(cs->r, eq ? eq + 1 : "1", &a->loc, &ra->value);
}

static int
act_setuid_sid(struct cstate *cs, struct sk_rule *rule,
               const struct sk_ast_action *a)
{
    bool uid = strcasecmp(a->name, "setuid") == 0;
    struct sk_ract *ra =
        new_ract(cs, rule, uid ? SK_RA_SETUID : SK_RA_SETSID, &a->loc);
    if (ra == NULL)
        return -SK_ENOMEM;
    return sk__macro_compile(cs->r, a->value, &a->loc, &ra->value);
}

static int
ctl_targets(struct cstate *cs, struct sk_ract *ra, const char *spec,
            const struct sk_loc *loc, bool by_id)
{
    const char *semi = strchr(spec, ';');
    if (semi == NULL) {
        ERR(cs->r, loc, "ctl: expected SELECTOR;TARGET, got '%s'", spec);
        return -SK_EPARSE;
    }
    char *head = sk_arena_memdup(cs->r->arena, spec, (size_t)(semi - spec));
    if (head == NULL)
        return -SK_ENOMEM;
    if (by_id) {
        ra->ranges = sk_arena_calloc(cs->r->arena, 1, sizeof(*ra->ranges));
        if (ra->ranges == NULL)
            return -SK_ENOMEM;
        if (parse_range(head, &ra->ranges[0]) != 0) {
            ERR(cs->r, loc, "ctl: bad rule id or range '%s'", head);
            return -SK_EPARSE;
        }
        ra->nranges = 1;
    } else {
        ra->text = head;
    }
    struct sk_ast_var *vars;
    size_t nvars;
    int rc = sk_seclang_parse_vars(cs->r->arena, semi + 1, loc, &vars, &nvars,
                                   &cs->r->diag);
    if (rc != 0)
        return rc;
    return sk__targets_compile(cs->r, vars, nvars, &ra->targets, &ra->ntargets);
}

static int
act_ctl(struct cstate *cs, struct sk_rule *rule, const struct sk_ast_action *a)
{
    struct sk_ract *ra = new_ract(cs, rule, SK_RA_CTL, &a->loc);
    if (ra == NULL)
        return -SK_ENOMEM;
    const char *eq = strchr(a->value, '=');
    if (eq == NULL) {
        ERR(cs->r, &a->loc, "ctl needs NAME=VALUE, got '%s'", a->value);
        return -SK_EPARSE;
    }
    size_t nlen = (size_t)(eq - a->value);
    const char *val = eq + 1;
    struct sk_str name = sk_str_make(a->value, nlen);
    bool b;
    int mode;
#define IS(s) sk_str_eq_c_nocase(name, s)
    if (IS("ruleEngine")) {
        ra->ctl = SK_CTL_RULE_ENGINE;
        if (parse_engine_mode(val, &mode) != 0)
            goto bad;
        ra->ival = mode;
    } else if (IS("requestBodyAccess")) {
        ra->ctl = SK_CTL_REQBODY_ACCESS;
        if (parse_on_off(val, &b) != 0)
            goto bad;
        ra->ival = b;
    } else if (IS("forceRequestBodyVariable")) {
        ra->ctl = SK_CTL_FORCE_REQBODY_VAR;
        if (parse_on_off(val, &b) != 0)
            goto bad;
        ra->ival = b;
    } else if (IS("requestBodyLimit")) {
        long v;
        ra->ctl = SK_CTL_REQBODY_LIMIT;
        if (parse_int(val, 0, LONG_MAX, &v) != 0)
            goto bad;
        ra->ival = v > INT_MAX ? INT_MAX : (int)v;
    } else if (IS("requestBodyProcessor")) {
        ra->ctl = SK_CTL_REQBODY_PROCESSOR;
        if (strcasecmp(val, "URLENCODED") == 0)
            ra->ival = SK_BP_URLENCODED;
        else if (strcasecmp(val, "MULTIPART") == 0)
            ra->ival = SK_BP_MULTIPART;
        else if (strcasecmp(val, "JSON") == 0)
            ra->ival = SK_BP_JSON;
        else if (strcasecmp(val, "XML") == 0)
            ra->ival = SK_BP_XML;
        else
            goto bad;
    } else if (IS("auditEngine")) {
        ra->ctl = SK_CTL_AUDIT_ENGINE;
        if (strcasecmp(val, "RelevantOnly") == 0)
            ra->ival = 2;
        else if (parse_on_off(val, &b) == 0)
            ra->ival = b;
        else
            goto bad;
    } else if (IS("auditLogParts")) {
        ra->ctl = SK_CTL_AUDIT_LOG_PARTS;
        ra->text = adup(cs->r, val);
    } else if (IS("ruleRemoveById")) {
        ra->ctl = SK_CTL_RULE_REMOVE_BY_ID;
        ra->ranges = sk_arena_calloc(cs->r->arena, 1, sizeof(*ra->ranges));
        if (ra->ranges == NULL)
            return -SK_ENOMEM;
        if (parse_range(val, &ra->ranges[0]) != 0)
            goto bad;
        ra->nranges = 1;
    } else if (IS("ruleRemoveByTag")) {
        ra->ctl = SK_CTL_RULE_REMOVE_BY_TAG;
        ra->text = adup(cs->r, val);
    } else if (IS("ruleRemoveByMsg")) {
        ra->ctl = SK_CTL_RULE_REMOVE_BY_MSG;
        ra->text = adup(cs->r, val);
    } else if (IS("ruleRemoveTargetById")) {
        ra->ctl = SK_CTL_RULE_REMOVE_TARGET_BY_ID;
        return ctl_targets(cs, ra, val, &a->loc, true);
    } else if (IS("ruleRemoveTargetByTag")) {
        ra->ctl = SK_CTL_RULE_REMOVE_TARGET_BY_TAG;
        return ctl_targets(cs, ra, val, &a->loc, false);
    } else if (IS("ruleRemoveTargetByMsg")) {
        ra->ctl = SK_CTL_RULE_REMOVE_TARGET_BY_MSG;
        return ctl_targets(cs, ra, val, &a->loc, false);
    } else {
        ERR(cs->r, &a->loc, "unknown or unsupported ctl '%.*s'", (int)nlen,
            a->value);
        return -SK_EPARSE;
    }
#undef IS
    return 0;
bad:
    ERR(cs->r, &a->loc, "ctl: bad value for '%.*s': '%s'", (int)nlen, a->value,
        val);
    return -SK_EPARSE;
}

/* Sorted by name; a unit test checks the order and duplicates. */
static const struct action_def actions[] = {
    {"accuracy", act_rating, AF_STARTER, true, "accuracy of the rule, 0-9",
     offsetof(struct sk_rule, accuracy)},
    {"allow", act_allow, AF_STARTER, false, "stop inspecting and let pass"},
    {"auditlog", act_auditlog, AF_LOGFLAG, false, "mark for the audit log"},
    {"block", act_disrupt, AF_STARTER, false,
     "the disruptive action of SecDefaultAction", SK_D_BLOCK},
    {"capture", act_flag, AF_ANY, false, "store regex groups in TX:0-9",
     offsetof(struct sk_rule, capture)},
    {"chain", act_flag, AF_ANY, false, "the next rule is a chain link",
     offsetof(struct sk_rule, chained)},
    {"ctl", act_ctl, AF_ANY, true,
     "change the configuration for this "
     "transaction"},
    {"deny", act_disrupt, AF_STARTER, false, "stop and answer with status",
     SK_D_DENY},
    {"drop", act_disrupt, AF_STARTER, false, "close the connection", SK_D_DROP},
    {"expirevar", act_expirevar, AF_ANY, true,
     "expire a persistent variable after N seconds"},
    {"id", act_id, AF_STARTER, true, "the rule's unique id"},
    {"initcol", act_initcol, AF_ANY, true, "load a persistent collection"},
    {"log", act_log, AF_LOGFLAG, false, "log the match"},
    {"logdata", act_logdata, AF_STARTER, true, "data logged with the match"},
    {"maturity", act_rating, AF_STARTER, true, "maturity of the rule, 0-9",
     offsetof(struct sk_rule, maturity)},
    {"msg", act_msg, AF_STARTER, true, "message logged with the match"},
    {"multiMatch", act_flag, AF_ANY, false,
     "run the operator after every transformation",
     offsetof(struct sk_rule, multi_match)},
    {"noauditlog", act_auditlog, AF_LOGFLAG, false,
     "do not mark for the audit log"},
    {"nolog", act_log, AF_LOGFLAG, false, "do not log the match"},
    {"pass", act_disrupt, AF_STARTER, false, "continue with the next rule",
     SK_D_PASS},
    {"phase", act_phase, AF_STARTER, true, "the phase the rule runs in"},
    {"redirect", act_redirect, AF_STARTER, true, "answer with a redirect"},
    {"rev", act_rev, AF_STARTER, true, "rule revision"},
    {"setenv", act_setenv, AF_ANY, true, "set an ENV variable"},
    {"setsid", act_setuid_sid, AF_ANY, true, "set SESSIONID"},
    {"setuid", act_setuid_sid, AF_ANY, true, "set USERID"},
    {"setvar", act_setvar, AF_ANY, true, "set, add to or delete a variable"},
    {"severity", act_severity, AF_STARTER, true, "severity 0-7 or its name"},
    {"skip", act_skip, AF_STARTER, true, "skip the next N rules"},
    {"skipAfter", act_skipafter, AF_STARTER, true,
     "skip to after the named SecMarker"},
    {"status", act_status, AF_STARTER, true, "the status for deny"},
    {"t", act_t, AF_ANY, true, "a transformation"},
    {"tag", act_tag, AF_STARTER, true, "a tag"},
    {"ver", act_ver, AF_STARTER, true, "rule set version"},
};

static const struct action_def *
find_action(const char *name)
{
    size_t lo = 0, hi = sizeof(actions) / sizeof(actions[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcasecmp(name, actions[mid].name);
        if (c == 0)
            return &actions[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Actions ModSecurity has that we refuse, with the reason. */
static const char *
refused_action(const char *name)
{
    static const struct {
        const char *name, *why;
    } r[] = {
        {"append", "response body modification is not supported"},
        {"deprecatevar", "not supported"},
        {"exec", "running programs from rules is not supported"},
        {"pause", "delaying responses is not supported"},
        {"prepend", "response body modification is not supported"},
        {"proxy", "use the proxy's configuration instead"},
        {"sanitiseArg", "use sekimori's built-in log redaction"},
        {"sanitiseMatched", "use sekimori's built-in log redaction"},
        {"sanitiseMatchedBytes", "use sekimori's built-in log redaction"},
        {"sanitiseRequestHeader", "use sekimori's built-in log redaction"},
        {"sanitiseResponseHeader", "use sekimori's built-in log redaction"},
        {"xmlns", "XPath namespaces are not supported"},
    };
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        if (strcasecmp(name, r[i].name) == 0)
            return r[i].why;
    return NULL;
}

/* Applies an action list to a rule; `link` is true for chain links. */
static int
apply_actions(struct cstate *cs, struct sk_rule *rule,
              const struct sk_ast_action *acts, size_t n, bool link)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sk_ast_action *a = &acts[i];
        const struct action_def *def = find_action(a->name);
        if (def == NULL) {
            const char *why = refused_action(a->name);
            if (why != NULL)
                ERR(cs->r, &a->loc, "action '%s' is not supported: %s", a->name,
                    why);
            else
                ERR(cs->r, &a->loc, "unknown action '%s'", a->name);
            rc = -SK_EPARSE;
            continue;
        }
        if (def->needs_value && (a->value == NULL)) {
            ERR(cs->r, &a->loc, "action '%s' needs a value", a->name);
            rc = -SK_EPARSE;
            continue;
        }
        if (!def->needs_value && a->value != NULL && def->fn != act_allow) {
            ERR(cs->r, &a->loc, "action '%s' takes no value", a->name);
            rc = -SK_EPARSE;
            continue;
        }
        if (link && def->where == AF_STARTER) {
            ERR(cs->r, &a->loc,
                "action '%s' is only allowed on the first rule of a chain",
                a->name);
            rc = -SK_EPARSE;
            continue;
        }
        cs->act = def;
        int r2 = def->fn(cs, rule, a);
        if (r2 != 0)
            rc = r2;
    }
    return rc;
}

static void
rule_init(struct sk_rule *rule, const struct sk_loc *loc)
{
    memset(rule, 0, sizeof(*rule));
    rule->loc = *loc;
    rule->log = -1;
    rule->auditlog = -1;
    rule->severity = -1;
    rule->maturity = -1;
    rule->accuracy = -1;
    rule->starter = rule;
}

/* ---- Rule table --------------------------------------------------------- */

static int
add_rule(struct sk_waf_rules *r, struct sk_rule *rule)
{
    if (r->nall == r->capall) {
        size_t cap = r->capall ? r->capall * 2 : 256;
        struct sk_rule **n = sk_arena_calloc(r->arena, cap, sizeof(*n));
        if (n == NULL)
            return -SK_ENOMEM;
        if (r->nall > 0)
            memcpy(n, r->all, r->nall * sizeof(*n));
        r->all = n;
        r->capall = cap;
    }
    r->all[r->nall++] = rule;
    return 0;
}

static struct sk_rule *
find_rule_by_id(struct sk_waf_rules *r, uint64_t id)
{
    for (size_t i = 0; i < r->nall; i++)
        if (!r->all[i]->is_marker && r->all[i]->id == id)
            return r->all[i];
    return NULL;
}

/* Puts the default's transformations before the rule's own, unless the
 * rule said t:none (ModSecurity's merge of SecDefaultAction). */
static int
prepend_default_tfns(struct sk_waf_rules *r, struct sk_rule *rule,
                     const struct sk_rule *d)
{
    if (rule->tfn_none || d->ntfns == 0)
        return 0;
    size_t n = d->ntfns + rule->ntfns;
    const struct sk_transform_def **nt =
        sk_arena_calloc(r->arena, n, sizeof(*nt));
    if (nt == NULL)
        return -SK_ENOMEM;
    memcpy(nt, d->tfns, d->ntfns * sizeof(*nt));
    if (rule->ntfns > 0)
        memcpy(nt + d->ntfns, rule->tfns, rule->ntfns * sizeof(*nt));
    rule->tfns = nt;
    rule->ntfns = n;
    return 0;
}

/* Merges SecDefaultAction into a rule starter (ModSecurity semantics:
 * the rule's own settings win; transformations of the default come first
 * unless the rule says t:none). */
static int
apply_defaults(struct sk_waf_rules *r, struct sk_rule *rule)
{
    const struct sk_rule *d =
        r->has_default[rule->phase - 1] ? &r->defaults[rule->phase - 1] : NULL;
    if (d == NULL) {
        /* ModSecurity's built-in default: phase:2,log,auditlog,pass. */
        if (rule->log < 0)
            rule->log = 1;
        if (rule->auditlog < 0)
            rule->auditlog = 1;
        if (rule->disrupt == SK_D_NONE || rule->disrupt == SK_D_BLOCK)
            rule->disrupt =
                rule->disrupt == SK_D_BLOCK ? SK_D_BLOCK : SK_D_PASS;
        return 0;
    }
    if (rule->log < 0)
        rule->log = d->log < 0 ? 1 : d->log;
    if (rule->auditlog < 0)
        rule->auditlog = d->auditlog < 0 ? 1 : d->auditlog;
    if (rule->disrupt == SK_D_NONE)
        rule->disrupt = d->disrupt == SK_D_NONE ? SK_D_PASS : d->disrupt;
    if (rule->status == 0)
        rule->status = d->status;
    if (rule->severity < 0)
        rule->severity = d->severity;
    return prepend_default_tfns(r, rule, d);
}

static int
compile_operator(struct sk_waf_rules *r, struct sk_rule *rule,
                 const struct sk_ast_op *op)
{
    if (strcasecmp(op->name, "rbl") == 0) {
        rule->unavailable = "@rbl (DNS blocklist lookups are not supported)";
        rule->op_name = adup(r, op->name);
        rule->op_arg = adup(r, op->arg);
        return 0;
    }
    if (strcasecmp(op->name, "geoLookup") == 0) {
        rule->unavailable = "@geoLookup (no GeoIP database is supported)";
        rule->op_name = adup(r, op->name);
        rule->op_arg = adup(r, op->arg);
        return 0;
    }
    rule->op_name = adup(r, op->name);
    rule->op_arg = adup(r, op->arg);
    rule->op_negated = op->negated;
    rule->op_dynamic = strstr(op->arg, "%{") != NULL;
    if (rule->op_dynamic) {
        int rc = sk__macro_compile(r, op->arg, &op->loc, &rule->op_macro);
        if (rc != 0)
            return rc;
    }
    struct sk_op_config conf = {
        .basedir = r->basedir,
        .match_limit = r->pcre_match_limit,
        .depth_limit = r->pcre_depth_limit,
    };
    return sk_op_compile(r->arena, op->name, op->arg, rule->op_dynamic, &conf,
                         &op->loc, &r->diag, &rule->op);
}

/* Marks the targets whose variable also has an exclusion in the rule. */
static void
mark_exclusions(struct sk_rule *rule)
{
    for (size_t i = 0; i < rule->ntargets; i++) {
        struct sk_target *t = &rule->targets[i];
        t->has_exclusions = false;
        t->excl_sel = 0;
        t->excl_other = false;
        for (size_t j = 0; j < rule->ntargets; j++) {
            const struct sk_target *x = &rule->targets[j];
            if (!x->exclude || x->def != t->def)
                continue;
            t->has_exclusions = true;
            if (x->key_re != NULL && x->sel_bit != SK_SEL_NONE)
                t->excl_sel |= (uint64_t)1 << x->sel_bit;
            else
                t->excl_other = true;
        }
    }
}

static int
dir_secrule(struct cstate *cs, const struct sk_ast_directive *dir)
{
    struct sk_waf_rules *r = cs->r;
    struct sk_rule *rule = sk_arena_alloc(r->arena, sizeof(*rule));
    if (rule == NULL)
        return -SK_ENOMEM;
    rule_init(rule, &dir->loc);
    bool link = cs->open_chain != NULL;
    int rc = 0;
    if (dir->kind == SK_AST_RULE) {
        int r1 = sk__targets_compile(r, dir->vars, dir->nvars, &rule->targets,
                                     &rule->ntargets);
        int r2 = compile_operator(r, rule, &dir->op);
        rc = r1 ? r1 : r2;
        mark_exclusions(rule);
        for (size_t i = 0; i < rule->ntargets; i++)
            if (rule->targets[i].def != NULL &&
                rule->targets[i].def->id == SK_V_GEO)
                rule->unavailable = "the GEO collection (no GeoIP database "
                                    "is supported)";
    } else {
        rule->unconditional = true;
    }
    int r3 = apply_actions(cs, rule, dir->actions, dir->nactions, link);
    if (r3 != 0)
        rc = r3;
    if (link) {
        struct sk_rule *starter = cs->open_chain->starter;
        rule->starter = starter;
        rule->phase = starter->phase;
        cs->open_chain->chain = rule;
    } else {
        if (rule->phase == 0)
            rule->phase = 2;
        if (rule->id == 0) {
            ERR(r, &dir->loc, "rule has no id");
            rc = -SK_EPARSE;
        } else if (find_rule_by_id(r, rule->id) != NULL) {
            ERR(r, &dir->loc, "duplicate rule id %" PRIu64, rule->id);
            rc = -SK_EPARSE;
        }
        int r4 = apply_defaults(r, rule);
        if (r4 != 0)
            rc = r4;
        if (rc == 0) {
            int r5 = add_rule(r, rule);
            if (r5 != 0)
                return r5;
        }
    }
    /* Chain links inherit the default transformations too. */
    if (link && r->has_default[rule->phase - 1]) {
        int r6 = prepend_default_tfns(r, rule, &r->defaults[rule->phase - 1]);
        if (r6 != 0)
            return r6;
    }
    cs->open_chain = rule->chained ? rule : NULL;
    return rc;
}

static int
dir_defaultaction(struct cstate *cs, const struct sk_ast_directive *dir)
{
    struct sk_rule tmp;
    rule_init(&tmp, &dir->loc);
    int rc = apply_actions(cs, &tmp, dir->actions, dir->nactions, false);
    if (rc != 0)
        return rc;
    if (tmp.phase == 0) {
        ERR(cs->r, &dir->loc, "SecDefaultAction needs a phase");
        return -SK_EPARSE;
    }
    if (tmp.disrupt == SK_D_NONE || tmp.disrupt == SK_D_BLOCK) {
        ERR(cs->r, &dir->loc,
            "SecDefaultAction needs a disruptive action (pass, deny...)");
        return -SK_EPARSE;
    }
    if (tmp.id != 0 || tmp.nracts > 0 || tmp.has_msg || tmp.chained ||
        tmp.skip_after != NULL || tmp.skip != 0) {
        ERR(cs->r, &dir->loc,
            "SecDefaultAction takes no id, msg, chain, skip or "
            "runtime actions");
        return -SK_EPARSE;
    }
    cs->r->defaults[tmp.phase - 1] = tmp;
    cs->r->has_default[tmp.phase - 1] = true;
    return 0;
}

static int
dir_marker(struct cstate *cs, const struct sk_ast_directive *dir)
{
    struct sk_rule *rule = sk_arena_alloc(cs->r->arena, sizeof(*rule));
    if (rule == NULL)
        return -SK_ENOMEM;
    rule_init(rule, &dir->loc);
    rule->is_marker = true;
    rule->marker = adup(cs->r, dir->args[0]);
    return add_rule(cs->r, rule);
}

static bool
rule_has_tag(const struct sk_rule *rule, const char *tag)
{
    for (size_t i = 0; i < rule->ntags; i++)
        if (strcmp(rule->tags[i], tag) == 0)
            return true;
    return false;
}

static int
dir_remove(struct cstate *cs, const struct sk_ast_directive *dir)
{
    struct sk_waf_rules *r = cs->r;
    bool by_id = strcasecmp(dir->name, "SecRuleRemoveById") == 0;
    bool by_tag = strcasecmp(dir->name, "SecRuleRemoveByTag") == 0;
    int rc = 0;
    for (size_t a = 0; a < dir->nargs; a++) {
        struct sk_id_range range = {0, 0};
        pcre2_code *re = NULL;
        if (by_id) {
            if (parse_range(dir->args[a], &range) != 0) {
                ERR(r, &dir->loc, "bad rule id or range '%s'", dir->args[a]);
                rc = -SK_EPARSE;
                continue;
            }
        } else {
            re = compile_re(r, dir->args[a], 0, &dir->loc);
            if (re == NULL) {
                rc = -SK_EPARSE;
                continue;
            }
        }
        for (size_t i = 0; i < r->nall; i++) {
            struct sk_rule *rule = r->all[i];
            if (rule->is_marker)
                continue;
            if (by_id) {
                if (rule->id >= range.lo && rule->id <= range.hi)
                    rule->removed = true;
                continue;
            }
            pcre2_match_data *md = pcre2_match_data_create(1, NULL);
            if (md == NULL)
                return -SK_ENOMEM;
            if (by_tag) {
                for (size_t t = 0; t < rule->ntags; t++)
                    if (pcre2_match(re, (PCRE2_SPTR)rule->tags[t],
                                    strlen(rule->tags[t]), 0, 0, md, NULL) >= 0)
                        rule->removed = true;
            } else if (rule->has_msg &&
                       pcre2_match(re, rule->msg.text.p, rule->msg.text.len, 0,
                                   0, md, NULL) >= 0) {
                rule->removed = true;
            }
            pcre2_match_data_free(md);
        }
    }
    return rc;
}

static int
append_targets(struct sk_waf_rules *r, struct sk_rule *rule,
               const struct sk_ast_directive *dir)
{
    struct sk_target *add;
    size_t nadd;
    int rc = sk__targets_compile(r, dir->vars, dir->nvars, &add, &nadd);
    if (rc != 0)
        return rc;
    if (dir->nreplace_vars > 0) {
        /* Replace: drop the targets named by the third argument. */
        struct sk_target *rep;
        size_t nrep;
        rc = sk__targets_compile(r, dir->replace_vars, dir->nreplace_vars, &rep,
                                 &nrep);
        if (rc != 0)
            return rc;
        size_t w = 0;
        for (size_t i = 0; i < rule->ntargets; i++) {
            bool drop = false;
            for (size_t j = 0; j < nrep; j++)
                if (rep[j].def == rule->targets[i].def &&
                    sk_str_eq_nocase(rep[j].key, rule->targets[i].key))
                    drop = true;
            if (!drop)
                rule->targets[w++] = rule->targets[i];
        }
        rule->ntargets = w;
    }
    struct sk_target *nt =
        sk_arena_calloc(r->arena, rule->ntargets + nadd, sizeof(*nt));
    if (nt == NULL)
        return -SK_ENOMEM;
    if (rule->ntargets > 0)
        memcpy(nt, rule->targets, rule->ntargets * sizeof(*nt));
    memcpy(nt + rule->ntargets, add, nadd * sizeof(*nt));
    rule->targets = nt;
    rule->ntargets += nadd;
    mark_exclusions(rule);
    return 0;
}

static int
dir_update_target(struct cstate *cs, const struct sk_ast_directive *dir)
{
    struct sk_waf_rules *r = cs->r;
    const char *which = dir->name + strlen("SecRuleUpdateTargetBy");
    int rc = 0;
    bool found = false;
    if (strcasecmp(which, "Id") == 0) {
        struct sk_id_range range;
        if (parse_range(dir->args[0], &range) != 0) {
            ERR(r, &dir->loc, "bad rule id or range '%s'", dir->args[0]);
            return -SK_EPARSE;
        }
        for (size_t i = 0; i < r->nall; i++) {
            struct sk_rule *rule = r->all[i];
            if (!rule->is_marker && rule->id >= range.lo &&
                rule->id <= range.hi) {
                found = true;
                int r2 = append_targets(r, rule, dir);
                if (r2 != 0)
                    rc = r2;
            }
        }
    } else {
        bool tag = strcasecmp(which, "Tag") == 0;
        for (size_t i = 0; i < r->nall; i++) {
            struct sk_rule *rule = r->all[i];
            if (rule->is_marker)
                continue;
            bool hit =
                tag ? rule_has_tag(rule, dir->args[0])
                    : (rule->has_msg && strcmp((const char *)rule->msg.text.p,
                                               dir->args[0]) == 0);
            if (hit) {
                found = true;
                int r2 = append_targets(r, rule, dir);
                if (r2 != 0)
                    rc = r2;
            }
        }
    }
    if (!found && rc == 0 && strcasecmp(which, "Id") == 0) {
        ERR(r, &dir->loc, "%s: no rule with id %s defined before this line",
            dir->name, dir->args[0]);
        return -SK_EPARSE;
    }
    return rc;
}

static int
dir_update_action(struct cstate *cs, const struct sk_ast_directive *dir)
{
    struct sk_waf_rules *r = cs->r;
    uint64_t id;
    if (parse_u64(dir->args[0], &id) != 0) {
        ERR(r, &dir->loc, "bad rule id '%s'", dir->args[0]);
        return -SK_EPARSE;
    }
    struct sk_rule *rule = find_rule_by_id(r, id);
    if (rule == NULL) {
        ERR(r, &dir->loc, "SecRuleUpdateActionById: no rule with id %s",
            dir->args[0]);
        return -SK_EPARSE;
    }
    for (size_t i = 0; i < dir->nactions; i++) {
        const char *n = dir->actions[i].name;
        if (strcasecmp(n, "id") == 0 || strcasecmp(n, "phase") == 0 ||
            strcasecmp(n, "chain") == 0) {
            ERR(r, &dir->actions[i].loc,
                "SecRuleUpdateActionById cannot change '%s'", n);
            return -SK_EPARSE;
        }
    }
    /* A new disruptive action replaces the old one; lists such as tags
     * and setvars are appended, as ModSecurity does. */
    return apply_actions(cs, rule, dir->actions, dir->nactions, false);
}

/* ---- Configuration directives ------------------------------------------ */

typedef int (*dir_fn)(struct cstate *cs, const struct sk_ast_directive *dir);

struct dir_def {
    const char *name;
    dir_fn fn;
    int min_args, max_args; /* -1: unlimited */
    const char *doc;
    /* For the generic setters (dir_flag, dir_u64, dir_limit_action): the
     * offset of the struct sk_waf_rules field they set. */
    size_t field;
};

/* A field of the rule set, by the current directive's offset. */
static void *
dir_field(struct cstate *cs)
{
    return (char *)cs->r + cs->def->field;
}

static int
want_on_off(struct cstate *cs, const struct sk_ast_directive *dir, bool *out)
{
    if (parse_on_off(dir->args[0], out) != 0) {
        ERR(cs->r, &dir->loc, "%s expects On or Off, got '%s'", dir->name,
            dir->args[0]);
        return -SK_EPARSE;
    }
    return 0;
}

static int
want_u64(struct cstate *cs, const struct sk_ast_directive *dir, uint64_t *out)
{
    if (parse_u64(dir->args[0], out) != 0) {
        ERR(cs->r, &dir->loc, "%s expects a number, got '%s'", dir->name,
            dir->args[0]);
        return -SK_EPARSE;
    }
    return 0;
}

static int
dir_rule_engine(struct cstate *cs, const struct sk_ast_directive *dir)
{
    int mode;
    if (parse_engine_mode(dir->args[0], &mode) != 0) {
        ERR(cs->r, &dir->loc,
            "SecRuleEngine expects On, Off or DetectionOnly, got '%s'",
            dir->args[0]);
        return -SK_EPARSE;
    }
    cs->r->engine = (enum sk_engine_mode)mode;
    return 0;
}

/* SecRequestBodyAccess-style On/Off into a bool field. */
static int
dir_flag(struct cstate *cs, const struct sk_ast_directive *dir)
{
    return want_on_off(cs, dir, dir_field(cs));
}

/* SecRequestBodyLimit-style byte counts into a uint64_t field. */
static int
dir_u64(struct cstate *cs, const struct sk_ast_directive *dir)
{
    return want_u64(cs, dir, dir_field(cs));
}

/* Reject / ProcessPartial into a bool field (true: reject). */
static int
dir_limit_action(struct cstate *cs, const struct sk_ast_directive *dir)
{
    bool *reject = dir_field(cs);
    if (strcasecmp(dir->args[0], "Reject") == 0)
        *reject = true;
    else if (strcasecmp(dir->args[0], "ProcessPartial") == 0)
        *reject = false;
    else {
        ERR(cs->r, &dir->loc, "%s expects Reject or ProcessPartial", dir->name);
        return -SK_EPARSE;
    }
    return 0;
}

static int
dir_resbody_mime(struct cstate *cs, const struct sk_ast_directive *dir)
{
    char **m = sk_arena_calloc(cs->r->arena, dir->nargs, sizeof(*m));
    if (m == NULL)
        return -SK_ENOMEM;
    for (size_t i = 0; i < dir->nargs; i++)
        m[i] = adup(cs->r, dir->args[i]);
    cs->r->resbody_mime = m;
    cs->r->nresbody_mime = dir->nargs;
    return 0;
}

static int
dir_json_depth(struct cstate *cs, const struct sk_ast_directive *dir)
{
    uint64_t v;
    int rc = want_u64(cs, dir, &v);
    if (rc != 0)
        return rc;
    if (v == 0 || v > SK_LIMIT_JSON_DEPTH) {
        ERR(cs->r, &dir->loc, "%s must be 1-%d", dir->name,
            SK_LIMIT_JSON_DEPTH);
        return -SK_EPARSE;
    }
    cs->r->json_depth_limit = (unsigned)v;
    return 0;
}

static int
dir_pcre_limit(struct cstate *cs, const struct sk_ast_directive *dir)
{
    uint64_t v;
    int rc = want_u64(cs, dir, &v);
    if (rc != 0)
        return rc;
    if (v > UINT32_MAX) {
        ERR(cs->r, &dir->loc, "%s is too large", dir->name);
        return -SK_EPARSE;
    }
    if (strcasecmp(dir->name, "SecPcreMatchLimit") == 0)
        cs->r->pcre_match_limit = (uint32_t)v;
    else
        cs->r->pcre_depth_limit = (uint32_t)v;
    return 0;
}

static int
dir_arg_separator(struct cstate *cs, const struct sk_ast_directive *dir)
{
    if (strlen(dir->args[0]) != 1) {
        ERR(cs->r, &dir->loc, "SecArgumentSeparator takes one character");
        return -SK_EPARSE;
    }
    cs->r->arg_separator = dir->args[0][0];
    return 0;
}

static int
dir_cookie_format(struct cstate *cs, const struct sk_ast_directive *dir)
{
    if (strcmp(dir->args[0], "0") != 0) {
        ERR(cs->r, &dir->loc,
            "only SecCookieFormat 0 (Netscape cookies) is supported");
        return -SK_ENOTSUP;
    }
    cs->r->cookie_format = 0;
    return 0;
}

static int
dir_collection_timeout(struct cstate *cs, const struct sk_ast_directive *dir)
{
    uint64_t v;
    int rc = want_u64(cs, dir, &v);
    if (rc != 0)
        return rc;
    cs->r->collection_timeout = v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
    return 0;
}

static int
dir_component_signature(struct cstate *cs, const struct sk_ast_directive *dir)
{
    cs->r->component_signature = adup(cs->r, dir->args[0]);
    return 0;
}

static int
dir_audit_engine(struct cstate *cs, const struct sk_ast_directive *dir)
{
    bool b;
    if (strcasecmp(dir->args[0], "RelevantOnly") == 0)
        cs->r->audit_engine = 2;
    else if (parse_on_off(dir->args[0], &b) == 0)
        cs->r->audit_engine = b;
    else {
        ERR(cs->r, &dir->loc,
            "SecAuditEngine expects On, Off or "
            "RelevantOnly");
        return -SK_EPARSE;
    }
    return 0;
}

static int
dir_audit_parts(struct cstate *cs, const struct sk_ast_directive *dir)
{
    cs->r->audit_parts = adup(cs->r, dir->args[0]);
    return 0;
}

static int
dir_audit_status(struct cstate *cs, const struct sk_ast_directive *dir)
{
    pcre2_code *re = compile_re(cs->r, dir->args[0], 0, &dir->loc);
    if (re == NULL)
        return -SK_EPARSE;
    cs->r->audit_relevant_status = adup(cs->r, dir->args[0]);
    cs->r->audit_status_re = re;
    return 0;
}

/*
 * Directives that configure where ModSecurity's own files go. sekimori's
 * engine writes no files (the connector owns audit logging, bodies are
 * buffered in memory, persistent collections are kept in memory), so these
 * are accepted for compatibility with a warning that says so.
 */
static int
dir_no_effect(struct cstate *cs, const struct sk_ast_directive *dir)
{
    sk_diag_warn(&cs->r->diag, &dir->loc,
                 "%s has no effect: the sekimori engine writes no files of "
                 "its own (see docs/configuration.md)",
                 dir->name);
    return 0;
}

static int
dir_status_engine(struct cstate *cs, const struct sk_ast_directive *dir)
{
    bool on;
    int rc = want_on_off(cs, dir, &on);
    if (rc != 0)
        return rc;
    if (on) {
        ERR(cs->r, &dir->loc,
            "SecStatusEngine On (phoning home) is not "
            "supported");
        return -SK_ENOTSUP;
    }
    return 0;
}

static int
dir_unicode_map(struct cstate *cs, const struct sk_ast_directive *dir)
{
    /* urlDecodeUni maps %uXXXX through the code page table of this file
     * (ModSecurity's unicode.mapping). Only code page 20127 (US-ASCII),
     * the one every recommended configuration uses, is built in. */
    if (dir->nargs != 2 || strcmp(dir->args[1], "20127") != 0) {
        ERR(cs->r, &dir->loc,
            "SecUnicodeMapFile: only code page 20127 is supported");
        return -SK_ENOTSUP;
    }
    return 0;
}

static int
dir_rbl_key(struct cstate *cs, const struct sk_ast_directive *dir)
{
    ERR(cs->r, &dir->loc,
        "%s is not supported: sekimori does no DNS "
        "blocklist lookups",
        dir->name);
    return -SK_ENOTSUP;
}

static int
dir_include_leftover(struct cstate *cs, const struct sk_ast_directive *dir)
{
    /* The parser expands Include; one reaching us is a parser bug. */
    ERR(cs->r, &dir->loc, "%s was not expanded", dir->name);
    return -SK_EPARSE;
}

/* Sorted by name; a unit test checks order and duplicates. */
static const struct dir_def directives[] = {
    {"Include", dir_include_leftover, 1, 1, "include rule files (glob)"},
    {"IncludeOptional", dir_include_leftover, 1, 1,
     "include rule files if any match"},
    {"SecAction", dir_secrule, 1, 1, "a rule that always matches"},
    {"SecArgumentSeparator", dir_arg_separator, 1, 1,
     "separator of urlencoded arguments"},
    {"SecAuditEngine", dir_audit_engine, 1, 1,
     "audit logging: On, Off, RelevantOnly (used by the proxy)"},
    {"SecAuditLog", dir_no_effect, 1, 2, "accepted, no effect"},
    {"SecAuditLogParts", dir_audit_parts, 1, 1,
     "audit log parts (used by the proxy)"},
    {"SecAuditLogRelevantStatus", dir_audit_status, 1, 1,
     "statuses that make a transaction relevant"},
    {"SecAuditLogStorageDir", dir_no_effect, 1, 1, "accepted, no effect"},
    {"SecAuditLogType", dir_no_effect, 1, 1, "accepted, no effect"},
    {"SecCollectionTimeout", dir_collection_timeout, 1, 1,
     "seconds before a persistent collection expires"},
    {"SecComponentSignature", dir_component_signature, 1, 1,
     "component name logged with matches"},
    {"SecCookieFormat", dir_cookie_format, 1, 1, "cookie format (0 only)"},
    {"SecDataDir", dir_no_effect, 1, 1, "accepted, no effect"},
    {"SecDefaultAction", dir_defaultaction, 1, 1,
     "default actions of the rules of a phase"},
    {"SecHttpBlKey", dir_rbl_key, 1, 1, "refused: no DNS blocklists"},
    {"SecMarker", dir_marker, 1, 1, "a target for skipAfter"},
    {"SecPcreMatchLimit", dir_pcre_limit, 1, 1, "PCRE match limit"},
    {"SecPcreMatchLimitRecursion", dir_pcre_limit, 1, 1, "PCRE depth limit"},
    {"SecRequestBodyAccess", dir_flag, 1, 1, "inspect request bodies",
     offsetof(struct sk_waf_rules, reqbody_access)},
    {"SecRequestBodyInMemoryLimit", dir_u64, 1, 1,
     "accepted; bodies are always held in memory up to the limit",
     offsetof(struct sk_waf_rules, reqbody_inmemory_limit)},
    {"SecRequestBodyJsonDepthLimit", dir_json_depth, 1, 1,
     "deepest JSON nesting"},
    {"SecRequestBodyLimit", dir_u64, 1, 1, "largest request body",
     offsetof(struct sk_waf_rules, reqbody_limit)},
    {"SecRequestBodyLimitAction", dir_limit_action, 1, 1,
     "Reject or ProcessPartial",
     offsetof(struct sk_waf_rules, reqbody_limit_reject)},
    {"SecRequestBodyNoFilesLimit", dir_u64, 1, 1,
     "largest request body without files",
     offsetof(struct sk_waf_rules, reqbody_nofiles_limit)},
    {"SecResponseBodyAccess", dir_flag, 1, 1, "inspect response bodies",
     offsetof(struct sk_waf_rules, resbody_access)},
    {"SecResponseBodyLimit", dir_u64, 1, 1, "largest inspected response body",
     offsetof(struct sk_waf_rules, resbody_limit)},
    {"SecResponseBodyLimitAction", dir_limit_action, 1, 1,
     "Reject or ProcessPartial",
     offsetof(struct sk_waf_rules, resbody_limit_reject)},
    {"SecResponseBodyMimeType", dir_resbody_mime, 1, -1,
     "response content types to inspect"},
    {"SecRule", dir_secrule, 2, 3, "a rule"},
    {"SecRuleEngine", dir_rule_engine, 1, 1, "On, Off or DetectionOnly"},
    {"SecRuleRemoveById", dir_remove, 1, -1, "remove rules by id or range"},
    {"SecRuleRemoveByMsg", dir_remove, 1, -1, "remove rules by message"},
    {"SecRuleRemoveByTag", dir_remove, 1, -1, "remove rules by tag"},
    {"SecRuleUpdateActionById", dir_update_action, 2, 2,
     "change a rule's actions"},
    {"SecRuleUpdateTargetById", dir_update_target, 2, 3,
     "change a rule's targets"},
    {"SecRuleUpdateTargetByMsg", dir_update_target, 2, 3,
     "change the targets of rules by message"},
    {"SecRuleUpdateTargetByTag", dir_update_target, 2, 3,
     "change the targets of rules by tag"},
    {"SecStatusEngine", dir_status_engine, 1, 1, "Off only"},
    {"SecTmpDir", dir_no_effect, 1, 1, "accepted, no effect"},
    {"SecUnicodeMapFile", dir_unicode_map, 2, 2,
     "code page for urlDecodeUni (20127 only)"},
};

static const struct dir_def *
find_directive(const char *name)
{
    size_t lo = 0, hi = sizeof(directives) / sizeof(directives[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcasecmp(name, directives[mid].name);
        if (c == 0)
            return &directives[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- Program building --------------------------------------------------- */

/*
 * Gives equal transformation chains one array, so that a transaction can
 * cache a whole chain's result per value (txn.c) across rules.
 */
static int
intern_chains(struct sk_waf_rules *r)
{
    const struct sk_transform_def ***chains = NULL;
    size_t *lens = NULL, n = 0, cap = 0;
    for (size_t i = 0; i < r->nall; i++) {
        for (struct sk_rule *l = r->all[i]; l != NULL; l = l->chain) {
            if (l->ntfns == 0)
                continue;
            size_t k = 0;
            while (k < n && !(lens[k] == l->ntfns &&
                              memcmp(chains[k], l->tfns,
                                     l->ntfns * sizeof(*l->tfns)) == 0))
                k++;
            if (k < n) {
                l->tfns = chains[k];
                continue;
            }
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                const struct sk_transform_def ***c2 =
                    sk_arena_calloc(r->arena, nc, sizeof(*c2));
                size_t *l2 = sk_arena_calloc(r->arena, nc, sizeof(*l2));
                if (c2 == NULL || l2 == NULL)
                    return -SK_ENOMEM;
                if (n > 0) {
                    memcpy(c2, chains, n * sizeof(*c2));
                    memcpy(l2, lens, n * sizeof(*l2));
                }
                chains = c2;
                lens = l2;
                cap = nc;
            }
            chains[n] = l->tfns;
            lens[n] = l->ntfns;
            n++;
        }
    }
    return 0;
}

struct pf_cand {
    struct sk_rule *link;
    const struct sk_str *lits;
    size_t nlits;
};

static void
free_hs_db(void *db)
{
    hs_free_database(db);
}

static void
free_hs_scratch(void *s)
{
    hs_free_scratch(s);
}

/*
 * Whether the prefilter may rule `link` out as a whole (txn.c,
 * pf_link_may_match): the link matches only when the operator matches a
 * value (not negated, one value at a time), and every target reads
 * stored values (no &COUNT, no computed variable), so that "no value
 * holds a required literal" means "no match, no action".
 */
static bool
pf_bulk_ok(const struct sk_rule *link)
{
    if (link->op_negated || link->multi_match || link->op_dynamic ||
        link->unconditional || link->ntargets == 0)
        return false;
    for (size_t i = 0; i < link->ntargets; i++) {
        const struct sk_target *tgt = &link->targets[i];
        if (tgt->exclude)
            continue;
        if (tgt->count)
            return false;
        switch (tgt->def->kind) {
        case SK_VK_SCALAR:
        case SK_VK_COLLECTION:
        case SK_VK_NAMES:
        case SK_VK_XML:
            break;
        default:
            return false;
        }
    }
    return true;
}

/* Variables that rules change as they run: read one value at a time. */
bool
sk__var_volatile(enum sk_var_id id)
{
    switch (id) {
    case SK_V_TX:
    case SK_V_IP:
    case SK_V_GLOBAL:
    case SK_V_SESSION:
    case SK_V_USER:
    case SK_V_RESOURCE:
    case SK_V_MATCHED_VARS:
    case SK_V_MATCHED_VAR:
    case SK_V_MATCHED_VAR_NAME:
        return true;
    default:
        return false;
    }
}

/*
 * Files pf_bulk link `l` under its transformation chain's batch: sets
 * l->pf_chain and each target's pf_var. 0 or -SK_ENOMEM.
 */
static int
pf_chain_add(struct sk_waf_rules *r, struct sk_rule *l)
{
    size_t k = 0;
    while (k < r->npf_chains && r->pf_chains[k].chain != (const void *)l->tfns)
        k++;
    if (k == r->npf_chains) {
        if (k % 16 == 0) {
            struct sk_pf_chain *nc =
                sk_arena_calloc(r->arena, k + 16, sizeof(*nc));
            if (nc == NULL)
                return -SK_ENOMEM;
            if (k > 0)
                memcpy(nc, r->pf_chains, k * sizeof(*nc));
            r->pf_chains = nc;
        }
        r->pf_chains[k].chain = l->tfns;
        r->pf_chains[k].group = l->pf;
        r->npf_chains++;
    }
    struct sk_pf_chain *ch = &r->pf_chains[k];
    l->pf_chain = (unsigned)k;
    for (size_t i = 0; i < l->ntargets; i++) {
        struct sk_target *tgt = &l->targets[i];
        tgt->pf_var = SK_PF_VAR_NONE;
        if (tgt->exclude)
            continue;
        const struct sk_var_def *def = tgt->def;
        struct sk_pf_var v = {def->id, false, false};
        if (def->kind == SK_VK_XML) {
            tgt->pf_var = SK_PF_VAR_XML;
            continue;
        } else if ((def->kind == SK_VK_COLLECTION ||
                    def->kind == SK_VK_NAMES) &&
                   tgt->key_re == NULL && tgt->key.len > 0) {
            /* One name: its entries are judged one by one. */
            tgt->pf_var = SK_PF_VAR_KEY;
            continue;
        } else if (def->kind == SK_VK_NAMES) {
            v.id = def->base;
            v.names = true;
        } else if (def->kind == SK_VK_SCALAR) {
            v.scalar = true;
        } else if (def->kind != SK_VK_COLLECTION) {
            continue;
        }
        if (sk__var_volatile(v.id))
            continue;
        size_t j = 0;
        while (j < ch->nvars &&
               !(ch->vars[j].id == v.id && ch->vars[j].names == v.names &&
                 ch->vars[j].scalar == v.scalar))
            j++;
        if (j == ch->nvars) {
            if (ch->nvars == ch->capvars) {
                size_t nc = ch->capvars ? ch->capvars * 2 : 8;
                struct sk_pf_var *nv =
                    sk_arena_calloc(r->arena, nc, sizeof(*nv));
                if (nv == NULL)
                    return -SK_ENOMEM;
                if (ch->nvars > 0)
                    memcpy(nv, ch->vars, ch->nvars * sizeof(*nv));
                ch->vars = nv;
                ch->capvars = nc;
            }
            ch->vars[ch->nvars++] = v;
        }
        tgt->pf_var = (int)j;
    }
    return 0;
}

/*
 * Builds the literal database of the candidates on transformation chain
 * `chain` (NULL: of all of them); false leaves them unfiltered.
 */
static bool
build_pf_group(struct sk_waf_rules *r, struct sk_arena *tmp, struct pf_cand *c,
               size_t n, const void *chain, struct sk_pf_group *g)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (chain == NULL || c[i].link->tfns == chain)
            total += c[i].nlits;
    const char **exprs = sk_arena_calloc(tmp, total, sizeof(*exprs));
    size_t *lens = sk_arena_calloc(tmp, total, sizeof(*lens));
    unsigned *ids = sk_arena_calloc(tmp, total, sizeof(*ids));
    unsigned *flags = sk_arena_calloc(tmp, total, sizeof(*flags));
    if (exprs == NULL || lens == NULL || ids == NULL || flags == NULL)
        return false;
    size_t k = 0;
    unsigned id = 0;
    for (size_t i = 0; i < n; i++) {
        if (chain != NULL && c[i].link->tfns != chain)
            continue;
        for (size_t j = 0; j < c[i].nlits; j++) {
            exprs[k] = (const char *)c[i].lits[j].p;
            lens[k] = c[i].lits[j].len;
            ids[k] = id;
            flags[k] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
            k++;
        }
        id++;
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *err = NULL;
    if (hs_compile_lit_multi(exprs, flags, ids, lens, (unsigned)total,
                             HS_MODE_BLOCK, NULL, &db, &err) != HS_SUCCESS) {
        sk_diag_warn(&r->diag, NULL,
                     "regex prefilter not built for %u rules: %s", id,
                     err ? err->message : "unknown error");
        hs_free_compile_error(err);
        return false;
    }
    if (sk_arena_defer(r->arena, free_hs_db, db) != 0) {
        hs_free_database(db);
        return false;
    }
    if (hs_alloc_scratch(db, &r->pf_proto) != HS_SUCCESS)
        return false;
    g->chain = chain;
    g->db = db;
    g->nrules = id;
    id = 0;
    for (size_t i = 0; i < n; i++)
        if (chain == NULL || c[i].link->tfns == chain) {
            c[i].link->pf = g;
            c[i].link->pf_id = id++;
            c[i].link->pf_bulk =
                pf_bulk_ok(c[i].link) && pf_chain_add(r, c[i].link) == 0;
        }
    return true;
}

/* Fills op_memo link `l`'s nm/nnm (struct sk_rule). 0 or -SK_ENOMEM. */
static int
nm_targets(struct sk_waf_rules *r, struct sk_rule *l)
{
    l->nnm = SK_NM_NEVER;
    l->nm = NULL;
    if (l->ntargets >= SK_NM_NEVER)
        return 0;
    struct sk_nm_tgt *nm =
        sk_arena_calloc(r->arena, l->ntargets + 1, sizeof(*nm));
    if (nm == NULL)
        return -SK_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < l->ntargets; i++) {
        const struct sk_target *tgt = &l->targets[i];
        if (tgt->exclude)
            continue;
        const struct sk_var_def *def = tgt->def;
        if (tgt->count)
            return 0;
        uint8_t flags = 0;
        if (def->kind == SK_VK_XML)
            flags = SK_NM_XML;
        else if (def->kind == SK_VK_NAMES)
            flags = SK_NM_NAMES;
        else if (def->kind == SK_VK_SCALAR)
            flags = SK_NM_SCALAR;
        else if (def->kind != SK_VK_COLLECTION)
            return 0;
        enum sk_var_id id = def->kind == SK_VK_NAMES ? def->base : def->id;
        if (!(flags & SK_NM_XML) && sk__var_volatile(id))
            return 0;
        if (!(flags & (SK_NM_SCALAR | SK_NM_XML)) &&
            (tgt->key.len > 0 || tgt->key_re != NULL || tgt->has_exclusions))
            flags |= SK_NM_NARROW;
        nm[n].var = (uint8_t)id;
        nm[n].flags = flags;
        nm[n].tgt = (uint8_t)i;
        if (!(flags & SK_NM_XML)) {
            uint8_t *b =
                &r->nm_batch_of[2 * (size_t)id + ((flags & SK_NM_NAMES) != 0)];
            if (*b == 0) {
                if (r->nnm_batches >= UINT8_MAX - 1)
                    return 0; /* cannot happen: fewer variables */
                *b = (uint8_t)++r->nnm_batches;
            }
            nm[n].batch = (uint8_t)(*b - 1);
        }
        n++;
    }
    l->nm = nm;
    l->nnm = (uint8_t)n;
    return 0;
}

/*
 * Marks the links whose "no match" on a value can be remembered across
 * transactions (memo.h): the costly operators that read the value alone
 * (not the transaction, not a file or the network at run time), with a
 * static argument.
 */
static int
mark_op_memo(struct sk_waf_rules *r)
{
    r->nmemo_links = 0;
    r->nnm_batches = 0;
    memset(r->nm_batch_of, 0, sizeof(r->nm_batch_of));
    static const char *const pure[] = {"rx",
                                       "pm",
                                       "pmf",
                                       "pmFromFile",
                                       "detectSQLi",
                                       "detectXSS",
                                       "validateByteRange",
                                       "validateUrlEncoding",
                                       "validateUtf8Encoding"};
    for (size_t i = 0; i < r->nall; i++)
        for (struct sk_rule *l = r->all[i]; l != NULL; l = l->chain) {
            l->op_memo = false;
            if (l->is_marker || l->removed || l->unconditional ||
                l->op == NULL || l->op_dynamic || l->op_name == NULL ||
                l->unavailable != NULL)
                continue;
            for (size_t k = 0; k < sizeof(pure) / sizeof(pure[0]); k++)
                if (strcasecmp(l->op_name, pure[k]) == 0)
                    l->op_memo = true;
        }
    /* Each prefilter chain lists its group's links that a value without
     * their literals does not match, so that a value's hits under the
     * chain turn into "does not match" bits (txn.c, pf_value_bits). */
    for (size_t i = 0; i < r->nall; i++)
        for (struct sk_rule *l = r->all[i]; l != NULL; l = l->chain) {
            if (!l->op_memo)
                continue;
            l->memo_idx = (unsigned)r->nmemo_links++;
            int rc = nm_targets(r, l);
            if (rc != 0)
                return rc;
            if (l->pf == NULL || l->op_negated || l->multi_match)
                continue;
            for (size_t c = 0; c < r->npf_chains; c++) {
                /* The chain's hits are of values under its own
                 * transformations: only links with the same ones. */
                struct sk_pf_chain *ch = &r->pf_chains[c];
                if (ch->group != l->pf || ch->chain != (const void *)l->tfns)
                    continue;
                if (ch->nmemo_links == ch->capmemo_links) {
                    size_t nc = ch->capmemo_links ? ch->capmemo_links * 2 : 16;
                    struct sk_pf_memo_link *nl =
                        sk_arena_calloc(r->arena, nc, sizeof(*nl));
                    if (nl == NULL)
                        return -SK_ENOMEM;
                    if (ch->nmemo_links > 0)
                        memcpy(nl, ch->memo_links,
                               ch->nmemo_links * sizeof(*nl));
                    ch->memo_links = nl;
                    ch->capmemo_links = nc;
                }
                ch->memo_links[ch->nmemo_links].pf_id = l->pf_id;
                ch->memo_links[ch->nmemo_links].memo_idx = l->memo_idx;
                ch->nmemo_links++;
            }
        }
    return 0;
}

/*
 * Regex prefilters (prefilter.h): static @rx links (not multiMatch) whose
 * pattern has a required-literal set, in one database. Purely an
 * optimisation: a link without one runs its regex every time.
 */
static int
build_prefilters(struct sk_waf_rules *r)
{
    struct sk_arena *tmp = sk_arena_new(1 << 16);
    if (tmp == NULL)
        return -SK_ENOMEM;
    struct pf_cand *c = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < r->nall; i++) {
        for (struct sk_rule *l = r->all[i]; l != NULL; l = l->chain) {
            if (l->is_marker || l->removed || l->op == NULL || l->op_dynamic ||
                l->multi_match || l->op_name == NULL)
                continue;
            const struct sk_str *lits;
            struct sk_str *rx_lits;
            size_t nl;
            if (sk_op_phrases(l->op, &lits, &nl)) {
                /* A phrase set matches exactly when one of its phrases
                 * occurs, ignoring case: the literal database's bit for
                 * the link is then the operator's answer to "no match". */
                if (nl == 0)
                    continue;
            } else if (strcasecmp(l->op_name, "rx") == 0 &&
                       sk__prefilter_literals(tmp, l->op_arg, &rx_lits, &nl)) {
                lits = rx_lits;
            } else {
                continue;
            }
            /* Vectorscan's literal API takes a literal starting with NUL
             * for an empty one and fails the whole database. */
            bool nul = false;
            for (size_t j = 0; j < nl; j++)
                nul |= lits[j].len == 0 || lits[j].p[0] == '\0';
            if (nul)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 256;
                struct pf_cand *c2 = sk_arena_calloc(tmp, nc, sizeof(*c2));
                if (c2 == NULL) {
                    sk_arena_free(tmp);
                    return -SK_ENOMEM;
                }
                if (n > 0)
                    memcpy(c2, c, n * sizeof(*c2));
                c = c2;
                cap = nc;
            }
            c[n].link = l;
            c[n].lits = lits;
            c[n].nlits = nl;
            n++;
        }
    }
    /* One database for all of them: a value that several chains leave
     * as it is (most benign values) is then scanned once. */
    r->pf_groups = sk_arena_calloc(r->arena, 1, sizeof(*r->pf_groups));
    if (r->pf_groups == NULL) {
        sk_arena_free(tmp);
        return -SK_ENOMEM;
    }
    if (n > 0 && build_pf_group(r, tmp, c, n, NULL, &r->pf_groups[0])) {
        r->pf_rules += r->pf_groups[0].nrules;
        r->npf_groups++;
    }
    sk_arena_free(tmp);
    if (r->pf_proto != NULL &&
        sk_arena_defer(r->arena, free_hs_scratch, r->pf_proto) != 0) {
        hs_free_scratch(r->pf_proto);
        r->pf_proto = NULL;
        return -SK_ENOMEM;
    }
    return 0;
}

static int
build_phases(struct sk_waf_rules *r)
{
    int irc = intern_chains(r);
    if (irc != 0)
        return irc;
    /* Markers belong to every phase so that skipAfter works wherever it
     * is used; rules to their own phase. */
    size_t count[SK_PHASES] = {0};
    for (size_t i = 0; i < r->nall; i++) {
        struct sk_rule *rule = r->all[i];
        if (rule->removed)
            continue;
        for (int p = 0; p < SK_PHASES; p++)
            if (rule->is_marker || rule->phase == p + 1)
                count[p]++;
    }
    for (int p = 0; p < SK_PHASES; p++) {
        r->phases[p].rules = sk_arena_calloc(r->arena, count[p] ? count[p] : 1,
                                             sizeof(struct sk_rule *));
        if (r->phases[p].rules == NULL)
            return -SK_ENOMEM;
        r->phases[p].nrules = 0;
    }
    for (size_t i = 0; i < r->nall; i++) {
        struct sk_rule *rule = r->all[i];
        if (rule->removed)
            continue;
        for (int p = 0; p < SK_PHASES; p++)
            if (rule->is_marker || rule->phase == p + 1)
                r->phases[p].rules[r->phases[p].nrules++] = rule;
    }
    /* skipAfter jumps to its marker's index (the end of the phase when
     * there is none), found once here rather than at every match. */
    for (int p = 0; p < SK_PHASES; p++) {
        const struct sk_phase_prog *prog = &r->phases[p];
        for (size_t i = 0; i < prog->nrules; i++) {
            struct sk_rule *rule = prog->rules[i];
            if (rule->is_marker || rule->skip_after == NULL)
                continue;
            size_t j = i + 1;
            while (j < prog->nrules &&
                   !(prog->rules[j]->is_marker &&
                     strcmp(prog->rules[j]->marker, rule->skip_after) == 0))
                j++;
            rule->skip_to = j;
        }
    }
    /* Every skipAfter must name a marker that follows it. */
    int rc = 0;
    for (size_t i = 0; i < r->nall; i++) {
        struct sk_rule *rule = r->all[i];
        if (rule->is_marker || rule->skip_after == NULL)
            continue;
        bool found = false;
        for (size_t j = i + 1; j < r->nall && !found; j++)
            if (r->all[j]->is_marker &&
                strcmp(r->all[j]->marker, rule->skip_after) == 0)
                found = true;
        if (!found) {
            ERR(r, &rule->loc,
                "skipAfter: no SecMarker '%s' after rule %" PRIu64,
                rule->skip_after, rule->id);
            rc = -SK_EPARSE;
        }
    }
    return rc;
}

/*
 * Rules that need @rbl or @geoLookup load (CRS ships them, switched off),
 * but a configuration that switches them on must not: CRS enables them
 * through TX settings made by SecAction in crs-setup.conf, so those
 * settings are checked here, and the rules are named in a warning.
 * Reaching such a rule at run time anyway fails closed (txn.c).
 */
static int
check_unavailable(struct sk_waf_rules *r)
{
    static const struct {
        const char *setting;
        bool nonempty; /* enabled by any non-empty value, else by "1" */
        const char *feature;
    } knobs[] = {
        {"high_risk_country_codes", true, "@geoLookup"},
        {"block_search_ip", false, "@rbl"},
        {"block_suspicious_ip", false, "@rbl"},
        {"block_harvester_ip", false, "@rbl"},
        {"block_spammer_ip", false, "@rbl"},
    };
    int rc = 0;
    size_t unavailable = 0;
    for (size_t i = 0; i < r->nall; i++) {
        const struct sk_rule *rule = r->all[i];
        if (rule->is_marker || rule->removed)
            continue;
        for (const struct sk_rule *l = rule; l != NULL; l = l->chain)
            if (l->unavailable != NULL) {
                unavailable++;
                break;
            }
        if (!rule->unconditional)
            continue;
        for (size_t a = 0; a < rule->nracts; a++) {
            const struct sk_ract *ra = &rule->racts[a];
            if (ra->kind != SK_RA_SETVAR || ra->coll != SK_V_TX ||
                ra->op != SK_SV_SET || !ra->name.constant)
                continue;
            for (size_t k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++) {
                if (!sk_str_eq_c_nocase(ra->name.text, knobs[k].setting))
                    continue;
                bool on = knobs[k].nonempty ? ra->value.text.len > 0
                                            : sk_str_eq_c(ra->value.text, "1");
                if (on) {
                    ERR(r, &ra->loc,
                        "tx.%s enables rules that need %s, which sekimori "
                        "does not support; leave it unset",
                        knobs[k].setting, knobs[k].feature);
                    rc = -SK_ENOTSUP;
                }
            }
        }
    }
    if (unavailable > 0)
        sk_diag_warn(&r->diag, NULL,
                     "%zu rules need @rbl or @geoLookup, which sekimori does "
                     "not support; they stay switched off and fail closed "
                     "if reached",
                     unavailable);
    return rc;
}

int
sk__waf_compile(struct sk_waf_rules *r)
{
    struct cstate cs = {.r = r, .open_chain = NULL};
    int rc = 0;
    for (size_t i = 0; i < r->ast.ndirs; i++) {
        const struct sk_ast_directive *dir = &r->ast.dirs[i];
        const struct dir_def *def = find_directive(dir->name);
        if (def == NULL) {
            ERR(r, &dir->loc, "unknown directive '%s'", dir->name);
            rc = -SK_EPARSE;
            continue;
        }
        if ((int)dir->nargs < def->min_args ||
            (def->max_args >= 0 && (int)dir->nargs > def->max_args)) {
            ERR(r, &dir->loc, "%s: wrong number of arguments (%zu)", def->name,
                dir->nargs);
            rc = -SK_EPARSE;
            continue;
        }
        if (cs.open_chain != NULL && def->fn != dir_secrule) {
            ERR(r, &dir->loc,
                "a chained rule must be followed by SecRule, "
                "not %s",
                dir->name);
            cs.open_chain = NULL;
            rc = -SK_EPARSE;
        }
        if (cs.open_chain != NULL && dir->kind != SK_AST_RULE) {
            ERR(r, &dir->loc, "a chain link must be a SecRule");
            cs.open_chain = NULL;
            rc = -SK_EPARSE;
            continue;
        }
        /* The directory of the rule file resolves data files. */
        char *dirname = NULL;
        if (dir->loc.file != NULL) {
            const char *slash = strrchr(dir->loc.file, '/');
            dirname = slash ? sk_arena_memdup(r->arena, dir->loc.file,
                                              (size_t)(slash - dir->loc.file))
                            : adup(r, ".");
        }
        r->basedir = dirname ? dirname : ".";
        cs.def = def;
        int r2 = def->fn(&cs, dir);
        if (r2 != 0)
            rc = r2;
    }
    if (cs.open_chain != NULL) {
        ERR(r, &cs.open_chain->loc,
            "the last rule says chain but no rule "
            "follows");
        rc = -SK_EPARSE;
    }
    if (rc == 0)
        rc = build_phases(r);
    if (rc == 0)
        rc = check_unavailable(r);
    if (rc == 0)
        rc = build_prefilters(r);
    if (rc == 0)
        rc = mark_op_memo(r);
    if (rc == 0 && r->diag.errors > 0)
        rc = -SK_EPARSE;
    return rc;
}

/* Test hooks: the tables' sizes and names, for order/duplicate checks. */
size_t
sk__waf_directive_names(const char **out, size_t max)
{
    size_t n = sizeof(directives) / sizeof(directives[0]);
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = directives[i].name;
    return n;
}

size_t
sk__waf_action_names(const char **out, size_t max)
{
    size_t n = sizeof(actions) / sizeof(actions[0]);
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = actions[i].name;
    return n;
}
