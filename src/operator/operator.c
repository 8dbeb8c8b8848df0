/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator table, compilation dispatch and the simple operators
 * (string comparisons, integer comparisons, validators, detectors). The
 * operator families with compiled state live in op_rx.c (regexes),
 * op_pm.c (phrase sets), op_ip.c (networks) and op_validate.c.
 *
 * Semantics follow ModSecurity v3 (libmodsecurity), the engine CRS 3.3.4
 * is tested against; where v3 silently accepts a broken argument we report
 * an error instead. docs/operators.md lists every choice.
 */
#include "operator/operator.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "detect/detect.h"
#include "operator/op_internal.h"
#include "util/error.h"

/* How an operator treats its argument. */
enum arg_policy {
    ARG_NONE = 0, /* takes no argument */
    ARG_ANY,      /* static or dynamic (expanded at run time) */
    ARG_STATIC,   /* must be static: compiled into a set */
};

static const struct sk_op_def op_defs[SK__OP_COUNT] = {
    [SK__OP_BEGINS_WITH] = {"beginsWith", "input starts with the argument"},
    [SK__OP_CONTAINS] = {"contains", "input contains the argument"},
    [SK__OP_CONTAINS_WORD] = {"containsWord",
                              "input contains the argument as a word "
                              "(not next to an ASCII letter)"},
    [SK__OP_DETECT_SQLI] = {"detectSQLi",
                            "SQL injection detector; TX:0 = fingerprint"},
    [SK__OP_DETECT_XSS] = {"detectXSS", "cross-site scripting detector"},
    [SK__OP_ENDS_WITH] = {"endsWith", "input ends with the argument"},
    [SK__OP_EQ] = {"eq", "input == argument, as 32-bit integers (stoi)"},
    [SK__OP_GE] = {"ge", "input >= argument, as 64-bit integers (atoll)"},
    [SK__OP_GT] = {"gt", "input > argument, as 64-bit integers (atoll)"},
    [SK__OP_IP_MATCH] = {"ipMatch",
                         "input is an IP address inside one of the "
                         "comma-separated IPv4/IPv6 addresses or CIDRs"},
    [SK__OP_IP_MATCH_F] = {"ipMatchF", "alias of ipMatchFromFile"},
    [SK__OP_IP_MATCH_FROM_FILE] = {"ipMatchFromFile",
                                   "ipMatch with the networks read from a "
                                   "file (one or more per line, # comments)"},
    [SK__OP_LE] = {"le", "input <= argument, as 64-bit integers (atoll)"},
    [SK__OP_LT] = {"lt", "input < argument, as 64-bit integers (atoll)"},
    [SK__OP_NO_MATCH] = {"noMatch", "never matches"},
    [SK__OP_PM] = {"pm", "input contains one of the space-separated phrases "
                         "(ASCII case-insensitive); TX:0 = the phrase"},
    [SK__OP_PMF] = {"pmf", "alias of pmFromFile"},
    [SK__OP_PM_FROM_FILE] = {"pmFromFile",
                             "pm with the phrases read from a file (one per "
                             "line, # comments)"},
    [SK__OP_RX] = {"rx", "PCRE2 regex search (DOTALL, MULTILINE); TX:0..9 = "
                         "groups"},
    [SK__OP_STREQ] = {"streq", "input equals the argument (case-sensitive)"},
    [SK__OP_STRMATCH] = {"strmatch", "input contains the argument"},
    [SK__OP_UNCONDITIONAL_MATCH] = {"unconditionalMatch", "always matches"},
    [SK__OP_VALIDATE_BYTE_RANGE] = {"validateByteRange",
                                    "input holds a byte outside the ranges "
                                    "(\"9,10,13,32-126\")"},
    [SK__OP_VALIDATE_URL_ENCODING] = {"validateUrlEncoding",
                                      "input holds a bad %-escape"},
    [SK__OP_VALIDATE_UTF8_ENCODING] = {"validateUtf8Encoding",
                                       "input is not valid UTF-8 (RFC 3629)"},
    [SK__OP_WITHIN] = {"within", "the argument contains the input"},
};

static const enum arg_policy op_policy[SK__OP_COUNT] = {
    [SK__OP_BEGINS_WITH] = ARG_ANY,
    [SK__OP_CONTAINS] = ARG_ANY,
    [SK__OP_CONTAINS_WORD] = ARG_ANY,
    [SK__OP_DETECT_SQLI] = ARG_NONE,
    [SK__OP_DETECT_XSS] = ARG_NONE,
    [SK__OP_ENDS_WITH] = ARG_ANY,
    [SK__OP_EQ] = ARG_ANY,
    [SK__OP_GE] = ARG_ANY,
    [SK__OP_GT] = ARG_ANY,
    [SK__OP_IP_MATCH] = ARG_STATIC,
    [SK__OP_IP_MATCH_F] = ARG_STATIC,
    [SK__OP_IP_MATCH_FROM_FILE] = ARG_STATIC,
    [SK__OP_LE] = ARG_ANY,
    [SK__OP_LT] = ARG_ANY,
    [SK__OP_NO_MATCH] = ARG_NONE,
    [SK__OP_PM] = ARG_STATIC,
    [SK__OP_PMF] = ARG_STATIC,
    [SK__OP_PM_FROM_FILE] = ARG_STATIC,
    [SK__OP_RX] = ARG_ANY,
    [SK__OP_STREQ] = ARG_ANY,
    [SK__OP_STRMATCH] = ARG_ANY,
    [SK__OP_UNCONDITIONAL_MATCH] = ARG_NONE,
    [SK__OP_VALIDATE_BYTE_RANGE] = ARG_STATIC,
    [SK__OP_VALIDATE_URL_ENCODING] = ARG_NONE,
    [SK__OP_VALIDATE_UTF8_ENCODING] = ARG_NONE,
    [SK__OP_WITHIN] = ARG_ANY,
};

/* ModSecurity operators we refuse, each with the reason given to users. */
static const struct {
    const char *name;
    const char *why;
} op_refused[] = {
    {"fuzzyHash", "needs ssdeep, which sekimori does not link"},
    {"geoLookup", "needs a GeoIP database, which sekimori does not load"},
    {"gsbLookup", "needs network lookups, which sekimori does not do"},
    {"inspectFile", "runs external programs, which sekimori does not do"},
    {"rbl", "needs network DNS lookups, which sekimori does not do"},
    {"rsub", "is not supported (not used by CRS 3.3.4)"},
    {"rxGlobal", "is not supported (not used by CRS 3.3.4)"},
    {"validateDTD", "is not supported (not used by CRS 3.3.4)"},
    {"validateHash", "is not supported (not used by CRS 3.3.4)"},
    {"validateSchema", "is not supported (not used by CRS 3.3.4)"},
    {"verifyCC", "is not supported (not used by CRS 3.3.4)"},
    {"verifyCPF", "is not supported (not used by CRS 3.3.4)"},
    {"verifySSN", "is not supported (not used by CRS 3.3.4)"},
    {"verifySVNR", "is not supported (not used by CRS 3.3.4)"},
};

const struct sk_op_def *
sk_op_table(size_t *count)
{
    *count = SK__OP_COUNT;
    return op_defs;
}

const char *
sk__op_kind_name(enum sk__op_kind kind)
{
    return op_defs[kind].name;
}

const char *
sk_op_name(const struct sk_op *op)
{
    return op_defs[op->kind].name;
}

bool
sk_op_phrases(const struct sk_op *op, const struct sk_str **phrases, size_t *n)
{
    if (op->kind != SK__OP_PM && op->kind != SK__OP_PMF &&
        op->kind != SK__OP_PM_FROM_FILE)
        return false;
    *phrases = op->u.pm.phrases;
    *n = op->u.pm.count;
    return true;
}

static int
cmp_nocase(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = sk_ascii_lower((uint8_t)*a), cb = sk_ascii_lower((uint8_t)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

static int
lookup(const char *name)
{
    size_t lo = 0, hi = SK__OP_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_nocase(name, op_defs[mid].name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static bool
blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (!sk__op_space((uint8_t)*s))
            return false;
    return true;
}

/*
 * Integers as libmodsecurity reads them: leading white space, a sign,
 * then digits up to the first other byte; no digits reads as 0. With
 * `int32` (stoi) a value out of int's range reads as 0 (stoi throws and
 * ModSecurity catches); otherwise (atoll) it saturates like strtoll.
 * Returns true when the value was out of range.
 */
static bool
read_int(struct sk_str s, bool int32, int64_t *out)
{
    size_t i = 0;
    bool neg = false, over = false;
    uint64_t mag = 0, cap = (uint64_t)INT64_MAX + 1;

    while (i < s.len && sk__op_space(s.p[i]))
        i++;
    if (i < s.len && (s.p[i] == '+' || s.p[i] == '-'))
        neg = s.p[i++] == '-';
    for (; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
        if (over)
            continue;
        if (mag > cap / 10) {
            over = true;
            continue;
        }
        mag = mag * 10 + (uint64_t)(s.p[i] - '0');
        if (mag > cap || (!neg && mag == cap))
            over = true;
    }
    int64_t v;
    if (over)
        v = neg ? INT64_MIN : INT64_MAX;
    else if (neg)
        v = mag == cap ? INT64_MIN : -(int64_t)mag;
    else
        v = (int64_t)mag;
    if (int32 && (v < INT_MIN || v > INT_MAX)) {
        v = 0;
        over = true;
    }
    *out = v;
    return over;
}

static int
compile_number(struct sk_op *op, const struct sk_loc *loc, struct sk_diag *d)
{
    /* A static argument must be a plain integer: "@lt 5x" is a typo that
     * v3 would silently read as 5, and "@eq abc" as 0. */
    struct sk_str a = op->arg;
    size_t i = 0, end = a.len;
    while (i < end && sk__op_space(a.p[i]))
        i++;
    while (end > i && sk__op_space(a.p[end - 1]))
        end--;
    size_t j = i;
    if (j < end && (a.p[j] == '+' || a.p[j] == '-'))
        j++;
    bool ok = j < end;
    for (size_t k = j; k < end; k++)
        if (a.p[k] < '0' || a.p[k] > '9')
            ok = false;
    bool int32 = op->kind == SK__OP_EQ;
    int64_t v = 0;
    if (ok && read_int(sk_str_make(a.p + i, end - i), int32, &v))
        ok = false;
    if (!ok) {
        sk_diag_error(d, loc, "@%s needs an integer%s, not \"%s\"",
                      sk_op_name(op), int32 ? " (32-bit)" : " (64-bit)",
                      (const char *)a.p);
        return -SK_EPARSE;
    }
    op->u.num = v;
    return 0;
}

static int
compile_byterange(struct sk_op *op, const struct sk_loc *loc, struct sk_diag *d)
{
    char err[160];
    int rc = sk__byterange_parse((const char *)op->arg.p, op->u.bytes, err,
                                 sizeof(err));
    if (rc != 0)
        sk_diag_error(d, loc, "@validateByteRange: %s", err);
    return rc;
}

static int
refuse(const char *name, const struct sk_loc *loc, struct sk_diag *d)
{
    for (size_t i = 0; i < sizeof(op_refused) / sizeof(op_refused[0]); i++) {
        if (cmp_nocase(name, op_refused[i].name) == 0) {
            sk_diag_error(d, loc,
                          "@%s %s; disable or remove the rule that uses it",
                          op_refused[i].name, op_refused[i].why);
            return -SK_ENOTSUP;
        }
    }
    sk_diag_error(d, loc, "unknown operator @%s", name);
    return -SK_EPARSE;
}

int
sk_op_compile(struct sk_arena *cfg, const char *name, const char *arg,
              bool dynamic, const struct sk_op_config *conf,
              const struct sk_loc *loc, struct sk_diag *d, struct sk_op **out)
{
    static const struct sk_op_config no_conf = {NULL, 0, 0};
    *out = NULL;
    if (conf == NULL)
        conf = &no_conf;
    if (arg == NULL)
        arg = "";
    if (name[0] == '@')
        name++;
    int k = lookup(name);
    if (k < 0)
        return refuse(name, loc, d);

    enum sk__op_kind kind = (enum sk__op_kind)k;
    const char *oname = op_defs[kind].name;
    switch (op_policy[kind]) {
    case ARG_NONE:
        if (!blank(arg)) {
            sk_diag_error(d, loc, "@%s takes no argument (got \"%s\")", oname,
                          arg);
            return -SK_EPARSE;
        }
        dynamic = false;
        break;
    case ARG_STATIC:
        if (dynamic) {
            sk_diag_error(d, loc,
                          "@%s cannot take a macro in its argument "
                          "(\"%s\"): it is compiled at load time",
                          oname, arg);
            return -SK_ENOTSUP;
        }
        break;
    case ARG_ANY:
        break;
    }

    struct sk_op *op = sk_arena_zalloc(cfg, sizeof(*op));
    if (op == NULL)
        return -SK_ENOMEM;
    op->kind = kind;
    op->dynamic = dynamic;
    char *copy = sk_arena_strdup(cfg, arg);
    if (copy == NULL)
        return -SK_ENOMEM;
    op->arg = sk_str_c(copy);

    int rc = 0;
    switch (kind) {
    case SK__OP_RX:
        rc = sk__rx_compile(cfg, op, conf, loc, d);
        break;
    case SK__OP_PM:
        rc = sk__pm_compile(cfg, op, false, conf, loc, d);
        break;
    case SK__OP_PMF:
    case SK__OP_PM_FROM_FILE:
        rc = sk__pm_compile(cfg, op, true, conf, loc, d);
        break;
    case SK__OP_IP_MATCH:
        rc = sk__ip_compile(cfg, op, false, conf, loc, d);
        break;
    case SK__OP_IP_MATCH_F:
    case SK__OP_IP_MATCH_FROM_FILE:
        rc = sk__ip_compile(cfg, op, true, conf, loc, d);
        break;
    case SK__OP_EQ:
    case SK__OP_GE:
    case SK__OP_GT:
    case SK__OP_LE:
    case SK__OP_LT:
        if (!dynamic)
            rc = compile_number(op, loc, d);
        break;
    case SK__OP_VALIDATE_BYTE_RANGE:
        rc = compile_byterange(op, loc, d);
        break;
    default:
        break;
    }
    if (rc != 0)
        return rc;
    *out = op;
    return 0;
}

static bool
is_letter(uint8_t c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* True when `word` occurs in `s` with no ASCII letter right before or
 * after it (v3's word boundary: digits and '_' count as boundaries). */
static bool
contains_word(struct sk_str s, struct sk_str word, size_t *at)
{
    if (word.len == 0) {
        *at = 0;
        return true;
    }
    for (size_t i = 0; i + word.len <= s.len; i++) {
        const uint8_t *hit = memmem(s.p + i, s.len - i, word.p, word.len);
        if (hit == NULL)
            break;
        i = (size_t)(hit - s.p);
        size_t end = i + word.len;
        bool left = i == 0 || !is_letter(s.p[i - 1]);
        bool right = end == s.len || !is_letter(s.p[end]);
        if (left && right) {
            *at = i;
            return true;
        }
    }
    return false;
}

static bool
find(struct sk_str hay, struct sk_str needle, size_t *at)
{
    if (needle.len == 0) {
        *at = 0;
        return true;
    }
    if (hay.len < needle.len)
        return false;
    const uint8_t *p = memmem(hay.p, hay.len, needle.p, needle.len);
    if (p == NULL)
        return false;
    *at = (size_t)(p - hay.p);
    return true;
}

static int
exec_number(const struct sk_op *op, struct sk_str input, struct sk_str arg,
            struct sk_op_result *res)
{
    bool int32 = op->kind == SK__OP_EQ;
    int64_t want = op->u.num, got;
    if (op->dynamic)
        read_int(arg, int32, &want);
    read_int(input, int32, &got);
    switch (op->kind) {
    case SK__OP_EQ:
        res->matched = got == want;
        break;
    case SK__OP_GE:
        res->matched = got >= want;
        break;
    case SK__OP_GT:
        res->matched = got > want;
        break;
    case SK__OP_LE:
        res->matched = got <= want;
        break;
    default:
        res->matched = got < want;
        break;
    }
    return 0;
}

int
sk_op_exec(const struct sk_op *op, struct sk_arena *txn_arena,
           struct sk_str input, struct sk_str dyn_arg, bool want_captures,
           struct sk_op_result *res)
{
    /* Not a memset: the ten captures past ncaptures are never read, and
     * this runs for every value of every rule. */
    res->matched = false;
    res->ncaptures = 0;
    res->matched_data = SK_STR_NULL;
    if (input.p == NULL)
        input = SK_STR_LIT("");
    struct sk_str arg = op->dynamic ? dyn_arg : op->arg;
    if (arg.p == NULL)
        arg = SK_STR_LIT("");
    size_t at = 0;

    switch (op->kind) {
    case SK__OP_RX:
        return sk__rx_exec(op, txn_arena, input, arg, want_captures, res);
    case SK__OP_PM:
    case SK__OP_PMF:
    case SK__OP_PM_FROM_FILE:
        return sk__pm_exec(op, input, want_captures, res);
    case SK__OP_IP_MATCH:
    case SK__OP_IP_MATCH_F:
    case SK__OP_IP_MATCH_FROM_FILE:
        res->matched = sk__ip_match(&op->u.ip, input);
        break;
    case SK__OP_BEGINS_WITH:
        res->matched =
            input.len >= arg.len && memcmp(input.p, arg.p, arg.len) == 0;
        break;
    case SK__OP_ENDS_WITH:
        res->matched =
            input.len >= arg.len &&
            memcmp(input.p + input.len - arg.len, arg.p, arg.len) == 0;
        break;
    case SK__OP_CONTAINS:
    case SK__OP_STRMATCH:
        res->matched = find(input, arg, &at);
        break;
    case SK__OP_CONTAINS_WORD:
        res->matched = contains_word(input, arg, &at);
        break;
    case SK__OP_WITHIN:
        /* v3: an empty input is "within" anything. */
        res->matched = find(arg, input, &at);
        break;
    case SK__OP_STREQ:
        res->matched = sk_str_eq(input, arg);
        break;
    case SK__OP_EQ:
    case SK__OP_GE:
    case SK__OP_GT:
    case SK__OP_LE:
    case SK__OP_LT:
        exec_number(op, input, arg, res);
        break;
    case SK__OP_NO_MATCH:
        break;
    case SK__OP_UNCONDITIONAL_MATCH:
        res->matched = true;
        break;
    case SK__OP_VALIDATE_BYTE_RANGE:
        res->matched = sk__byterange_match(op->u.bytes, input);
        break;
    case SK__OP_VALIDATE_URL_ENCODING:
        res->matched = sk__url_encoding_invalid(input);
        break;
    case SK__OP_VALIDATE_UTF8_ENCODING:
        res->matched = sk__utf8_invalid(input);
        break;
    case SK__OP_DETECT_SQLI: {
        char fp[SK_DETECT_FP_MAX] = {0};
        if (!sk_detect_sqli(input.p, input.len, fp))
            return 0;
        fp[SK_DETECT_FP_MAX - 1] = '\0';
        char *copy = sk_arena_strdup(txn_arena, fp);
        if (copy == NULL)
            return -SK_ENOMEM;
        res->matched = true;
        res->matched_data = sk_str_c(copy);
        if (want_captures) {
            res->captures[0] = res->matched_data;
            res->ncaptures = 1;
        }
        return 0;
    }
    case SK__OP_DETECT_XSS:
        res->matched = sk_detect_xss(input.p, input.len);
        if (res->matched && want_captures) {
            res->captures[0] = input;
            res->ncaptures = 1;
        }
        break;
    case SK__OP_COUNT:
        return -SK_EINVAL;
    }
    (void)at;
    if (res->matched)
        res->matched_data = input;
    return 0;
}

void
sk_op_thread_fini(void)
{
    sk__rx_thread_fini();
    sk__pm_thread_fini();
}
