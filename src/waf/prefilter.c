/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Required-literal extraction from PCRE patterns (see prefilter.h). A small
 * recursive-descent reader walks the pattern and computes for each node
 * either its exact set (every string the node can match, when that set is
 * small and finite) or a required set (every match contains one of them).
 * Reasoning is always about what the subject must contain, so zero-width
 * items (anchors, \b, lookarounds) count as the empty string, and anything
 * the reader does not model makes the whole pattern "unknown".
 */
#include "waf/prefilter.h"

#include <string.h>

/* A small set of byte strings in the arena. */
struct sset {
    struct sk_str *s;
    size_t n;
};

struct info {
    bool exact_ok; /* exact holds every string the node can match */
    struct sset exact;
    bool req_ok; /* every match contains one of req */
    struct sset req;
};

struct reader {
    struct sk_arena *a;
    const char *p, *end;
    bool bad; /* syntax we do not model: give up on the whole pattern */
    int depth;
};

static struct sset
set_empty_string(struct sk_arena *a)
{
    struct sset r = {sk_arena_alloc(a, sizeof(struct sk_str)), 1};
    if (r.s == NULL)
        r.n = 0;
    else
        r.s[0] = SK_STR_LIT("");
    return r;
}

static struct info
info_exact(struct sset s)
{
    struct info i = {true, s, false, {NULL, 0}};
    return i;
}

static struct info
info_unknown(void)
{
    struct info i = {false, {NULL, 0}, false, {NULL, 0}};
    return i;
}

static size_t
set_min_len(struct sset s)
{
    size_t m = (size_t)-1;
    for (size_t i = 0; i < s.n; i++)
        if (s.s[i].len < m)
            m = s.s[i].len;
    return s.n ? m : 0;
}

/* Whether every string of `s` shorter than SK_PREFILTER_MIN_LIT is a
 * byte that benign text seldom holds (strchr() also finds the NUL). */
static bool
set_short_rare(struct sset s)
{
    for (size_t i = 0; i < s.n; i++)
        if (s.s[i].len < SK_PREFILTER_MIN_LIT &&
            (s.s[i].len != 1 || s.s[i].p[0] == '\0' ||
             strchr(SK_PREFILTER_RARE_BYTES, s.s[i].p[0]) == NULL))
            return false;
    return true;
}

/* How selective a set is: its shortest string's length, doubled, and
 * one more when its short strings are rare bytes. */
static size_t
set_rank(struct sset s)
{
    size_t m = set_min_len(s);
    if (m >= SK_PREFILTER_MAX_LIT_LEN)
        m = SK_PREFILTER_MAX_LIT_LEN;
    return m * 2 + (m > 0 && m < SK_PREFILTER_MIN_LIT && set_short_rare(s));
}

/* Better of two required sets: higher rank, then fewer strings. */
static bool
set_better(struct sset a, struct sset b)
{
    size_t ra = set_rank(a), rb = set_rank(b);
    if (ra != rb)
        return ra > rb;
    return a.n < b.n;
}

/* The node's strings usable as a requirement (exact or required). */
static bool
as_required(const struct info *x, struct sset *out)
{
    if (x->exact_ok && (!x->req_ok || set_better(x->exact, x->req))) {
        *out = x->exact;
        return true;
    }
    if (x->req_ok) {
        *out = x->req;
        return true;
    }
    return false;
}

/* Cross product of two exact sets; false when too big. */
static bool
cross(struct sk_arena *a, struct sset x, struct sset y, struct sset *out)
{
    if (x.n * y.n > SK_PREFILTER_MAX_LITS)
        return false;
    size_t count = x.n * y.n;
    struct sset r = {
        sk_arena_calloc(a, count > 0 ? count : 1, sizeof(struct sk_str)), 0};
    if (r.s == NULL)
        return false;
    for (size_t i = 0; i < x.n; i++)
        for (size_t j = 0; j < y.n; j++) {
            size_t len = x.s[i].len + y.s[j].len;
            if (len > SK_PREFILTER_MAX_LIT_LEN)
                return false;
            uint8_t *b = sk_arena_alloc(a, len + 1);
            if (b == NULL)
                return false;
            if (x.s[i].len)
                memcpy(b, x.s[i].p, x.s[i].len);
            if (y.s[j].len)
                memcpy(b + x.s[i].len, y.s[j].p, y.s[j].len);
            r.s[r.n++] = sk_str_make(b, len);
        }
    *out = r;
    return true;
}

static bool
set_union(struct sk_arena *a, struct sset x, struct sset y, struct sset *out)
{
    if (x.n + y.n > SK_PREFILTER_MAX_LITS)
        return false;
    size_t count = x.n + y.n;
    struct sset r = {
        sk_arena_calloc(a, count > 0 ? count : 1, sizeof(struct sk_str)), 0};
    if (r.s == NULL)
        return false;
    for (size_t i = 0; i < x.n; i++)
        r.s[r.n++] = x.s[i];
    for (size_t i = 0; i < y.n; i++)
        r.s[r.n++] = y.s[i];
    *out = r;
    return true;
}

static struct info parse_alt(struct reader *r);

static struct info
one_char(struct reader *r, uint8_t c)
{
    uint8_t *b = sk_arena_alloc(r->a, 2);
    struct sset s = {sk_arena_alloc(r->a, sizeof(struct sk_str)), 1};
    if (b == NULL || s.s == NULL) {
        r->bad = true;
        return info_unknown();
    }
    b[0] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
    b[1] = '\0';
    s.s[0] = sk_str_make(b, 1);
    return info_exact(s);
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* After a backslash. */
static struct info
parse_escape(struct reader *r)
{
    if (r->p >= r->end) {
        r->bad = true;
        return info_unknown();
    }
    char c = *r->p++;
    switch (c) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
    case 'h':
    case 'H':
    case 'v':
    case 'V':
    case 'R':
    case 'N':
    case 'X':
    case 'C':
        return info_unknown(); /* a class of characters */
    case 'p':
    case 'P':
        /* \pL or \p{...}: a class. */
        if (r->p < r->end && *r->p == '{') {
            while (r->p < r->end && *r->p != '}')
                r->p++;
            if (r->p >= r->end) {
                r->bad = true;
                return info_unknown();
            }
            r->p++;
        } else if (r->p < r->end) {
            r->p++;
        }
        return info_unknown();
    case 'b':
    case 'B':
    case 'A':
    case 'Z':
    case 'z':
    case 'G':
    case 'K':
        return info_exact(set_empty_string(r->a)); /* zero-width */
    case 'n':
        return one_char(r, '\n');
    case 'r':
        return one_char(r, '\r');
    case 't':
        return one_char(r, '\t');
    case 'f':
        return one_char(r, '\f');
    case 'e':
        return one_char(r, 0x1b);
    case 'a':
        return one_char(r, 0x07);
    case 'x': {
        int v = 0, nd = 0;
        if (r->p < r->end && *r->p == '{') {
            r->p++;
            while (r->p < r->end && *r->p != '}' && nd < 3) {
                int h = hexval(*r->p);
                if (h < 0) {
                    r->bad = true;
                    return info_unknown();
                }
                v = v * 16 + h;
                nd++;
                r->p++;
            }
            if (r->p >= r->end || *r->p != '}' || nd == 0 || v > 0xff) {
                r->bad = true;
                return info_unknown();
            }
            r->p++;
        } else {
            while (r->p < r->end && nd < 2 && hexval(*r->p) >= 0) {
                v = v * 16 + hexval(*r->p);
                nd++;
                r->p++;
            }
        }
        return one_char(r, (uint8_t)v);
    }
    default:
        /* Digits are back-references or octal; letters are escapes we
         * do not model (\Q, \E, \c, \g, \k, \o...). */
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
            (c >= 'A' && c <= 'Z')) {
            r->bad = true;
            return info_unknown();
        }
        return one_char(r, (uint8_t)c); /* escaped punctuation */
    }
}

/* A class member as a byte: a plain character or an escaped punctuation
 * character; -1 for anything else (\d, \x.., \b = backspace, ...). */
static int
class_byte(const char *p, const char *end, size_t *adv)
{
    if (*p != '\\') {
        *adv = 1;
        return (uint8_t)*p;
    }
    *adv = 2;
    if (end - p < 2)
        return -1;
    char c = p[1];
    if (c == 'n')
        return '\n';
    if (c == 'r')
        return '\r';
    if (c == 't')
        return '\t';
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z') || (uint8_t)c >= 0x80)
        return -1;
    return (uint8_t)c;
}

/*
 * A [...] class after the '['. A small positive class of plain bytes is
 * an exact set of one-byte strings (ASCII case folded); any other class
 * is skipped as unknown.
 */
static struct info
parse_class(struct reader *r)
{
    bool simple = true;
    uint8_t bytes[SK_PREFILTER_MAX_CLASS];
    size_t nbytes = 0;
    if (r->p < r->end && *r->p == '^') {
        r->p++;
        simple = false;
    }
    bool first = true;
    while (r->p < r->end && (*r->p != ']' || first)) {
        /* A ']' first is a literal ']'. */
        first = false;
        if (*r->p == '\\' &&
            (r->end - r->p < 2 || r->p[1] == 'Q' || r->p[1] == 'c')) {
            /* \Q...\E and \cX can hide a ']' from a simple scan. */
            r->bad = true;
            return info_unknown();
        }
        if (*r->p == '[' && r->p + 1 < r->end &&
            (r->p[1] == ':' || r->p[1] == '.' || r->p[1] == '=')) {
            /* POSIX class syntax: where PCRE2 takes it to end is subtle
             * enough not to be modelled (found by fuzz_prefilter). */
            r->bad = true;
            return info_unknown();
        }
        size_t adv;
        int lo = class_byte(r->p, r->end, &adv);
        r->p += adv;
        int hi = lo;
        if (r->p + 1 < r->end && *r->p == '-' && r->p[1] != ']') {
            /* A range lo-hi (a '-' last or first is a literal). */
            if (r->p[1] == '[') {
                simple = false; /* '[' could open a POSIX class */
                continue;
            }
            if (r->p[1] == '\\' &&
                (r->end - r->p < 3 || r->p[2] == 'Q' || r->p[2] == 'c')) {
                r->bad = true;
                return info_unknown();
            }
            size_t adv2;
            hi = class_byte(r->p + 1, r->end, &adv2);
            r->p += 1 + adv2;
            if (lo < 0 || hi < 0 || hi < lo)
                simple = false;
        }
        if (lo < 0) {
            simple = false;
            continue;
        }
        for (int b = lo; simple && b <= hi; b++) {
            uint8_t f = (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32) : (uint8_t)b;
            size_t k = 0;
            while (k < nbytes && bytes[k] != f)
                k++;
            if (k < nbytes)
                continue;
            if (nbytes == SK_PREFILTER_MAX_CLASS)
                simple = false;
            else
                bytes[nbytes++] = f;
        }
    }
    if (r->p >= r->end) {
        r->bad = true;
        return info_unknown();
    }
    r->p++;
    if (!simple || nbytes == 0)
        return info_unknown();
    struct sset set = {sk_arena_calloc(r->a, nbytes, sizeof(struct sk_str)), 0};
    uint8_t *mem = sk_arena_alloc(r->a, nbytes * 2);
    if (set.s == NULL || mem == NULL) {
        r->bad = true;
        return info_unknown();
    }
    for (size_t i = 0; i < nbytes; i++) {
        mem[i * 2] = bytes[i];
        mem[i * 2 + 1] = '\0';
        set.s[set.n++] = sk_str_make(mem + i * 2, 1);
    }
    return info_exact(set);
}

/* ( ... ) after the '('. */
static struct info
parse_group(struct reader *r)
{
    if (++r->depth > SK_PREFILTER_MAX_DEPTH) {
        r->bad = true;
        return info_unknown();
    }
    bool zero_width = false;
    if (r->p < r->end && *r->p == '*') {
        r->bad = true; /* a verb such as (*UTF) or (*SKIP) */
        return info_unknown();
    }
    if (r->p < r->end && *r->p == '?') {
        r->p++;
        if (r->p >= r->end) {
            r->bad = true;
            return info_unknown();
        }
        char c = *r->p;
        if (c == ':' || c == '>') {
            r->p++;
        } else if (c == '=' || c == '!') {
            r->p++;
            zero_width = true;
        } else if (c == '<' && r->p + 1 < r->end &&
                   (r->p[1] == '=' || r->p[1] == '!')) {
            r->p += 2;
            zero_width = true;
        } else if (c == '<' || c == '\'' ||
                   (c == 'P' && r->p + 1 < r->end && r->p[1] == '<')) {
            /* A named group: skip the opening '<', '\'' or "P<" first. */
            char close = c == '\'' ? '\'' : '>';
            r->p += c == 'P' ? 2 : 1;
            /* A name is word characters, not starting with a digit;
             * anything else is other syntax, such as PCRE2's (?<*...)
             * lookbehind (found by fuzz_prefilter). */
            const char *name = r->p;
            while (r->p < r->end && *r->p != close) {
                char n = *r->p;
                bool word = n == '_' || (n >= 'a' && n <= 'z') ||
                            (n >= 'A' && n <= 'Z') ||
                            (n >= '0' && n <= '9' && r->p != name);
                if (!word) {
                    r->bad = true;
                    return info_unknown();
                }
                r->p++;
            }
            if (r->p >= r->end || r->p == name) {
                r->bad = true;
                return info_unknown();
            }
            r->p++;
        } else {
            /* Inline options: (?i) (?-s) (?i: ...). 'x' changes the
             * syntax itself, so it is not modelled. */
            const char *q = r->p;
            while (q < r->end && (*q == 'i' || *q == 'm' || *q == 's' ||
                                  *q == 'U' || *q == 'J' || *q == '-'))
                q++;
            if (q >= r->end || q == r->p || (*q != ')' && *q != ':')) {
                r->bad = true; /* (?x) (?| (?( (?R (?# ... */
                return info_unknown();
            }
            if (*q == ')') {
                r->p = q + 1;
                r->depth--;
                return info_exact(set_empty_string(r->a));
            }
            r->p = q + 1;
        }
    }
    struct info in = parse_alt(r);
    if (r->bad)
        return info_unknown();
    if (r->p >= r->end || *r->p != ')') {
        r->bad = true;
        return info_unknown();
    }
    r->p++;
    r->depth--;
    if (zero_width)
        return info_exact(set_empty_string(r->a));
    return in;
}

/* Reads a {n}, {n,}, {n,m} quantifier at r->p; false if it is not one. */
static bool
read_braces(struct reader *r, unsigned *min)
{
    const char *q = r->p + 1;
    unsigned v = 0;
    bool digits = false;
    while (q < r->end && *q >= '0' && *q <= '9') {
        v = v * 10 + (unsigned)(*q - '0');
        if (v > 100000)
            return false;
        digits = true;
        q++;
    }
    if (!digits || q >= r->end)
        return false;
    if (*q == ',') {
        q++;
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q >= r->end || *q != '}')
        return false;
    r->p = q + 1;
    *min = v;
    return true;
}

static struct info
parse_atom(struct reader *r)
{
    char c = *r->p++;
    switch (c) {
    case '\\':
        return parse_escape(r);
    case '[':
        return parse_class(r);
    case '(':
        return parse_group(r);
    case '.':
        return info_unknown();
    case '^':
    case '$':
        return info_exact(set_empty_string(r->a));
    case '*':
    case '+':
    case '?':
        r->bad = true; /* a quantifier with nothing to repeat */
        return info_unknown();
    default:
        return one_char(r, (uint8_t)c);
    }
}

/* An atom with its quantifier, if any. */
static struct info
parse_piece(struct reader *r)
{
    struct info x = parse_atom(r);
    if (r->bad || r->p >= r->end)
        return x;
    unsigned min;
    char q = *r->p;
    if (q == '*' || q == '?') {
        min = 0;
        r->p++;
    } else if (q == '+') {
        min = 1;
        r->p++;
    } else if (q == '{') {
        if (!read_braces(r, &min))
            return x; /* a literal '{' follows: the next piece */
    } else {
        return x;
    }
    /* Lazy or possessive suffix. */
    if (r->p < r->end && (*r->p == '?' || *r->p == '+'))
        r->p++;
    if (min == 0)
        return info_unknown(); /* may match nothing */
    struct info out = info_unknown();
    struct sset req;
    if (as_required(&x, &req)) {
        out.req_ok = true;
        out.req = req;
    }
    return out;
}

/* A sequence of pieces up to '|' or ')'. */
static struct info
parse_seq(struct reader *r)
{
    struct sset run = set_empty_string(r->a); /* exact run so far */
    bool run_ok = run.n == 1;
    bool all_exact = true;
    bool have_best = false;
    struct sset best = {NULL, 0};
    while (r->p < r->end && *r->p != '|' && *r->p != ')' && !r->bad) {
        struct info x = parse_piece(r);
        if (r->bad)
            break;
        if (x.exact_ok && run_ok) {
            struct sset joined;
            if (cross(r->a, run, x.exact, &joined)) {
                run = joined;
                continue;
            }
        }
        /* The exact run ends here: it is a requirement on its own. */
        if (run_ok && set_min_len(run) > 0 &&
            (!have_best || set_better(run, best))) {
            best = run;
            have_best = true;
        }
        all_exact = false;
        struct sset req;
        if (as_required(&x, &req) && set_min_len(req) > 0 &&
            (!have_best || set_better(req, best))) {
            best = req;
            have_best = true;
        }
        /* A new run may start after a non-exact piece. */
        run = set_empty_string(r->a);
        run_ok = run.n == 1;
        if (x.exact_ok) {
            struct sset joined;
            if (cross(r->a, run, x.exact, &joined))
                run = joined;
            else
                run_ok = false;
        }
    }
    if (r->bad)
        return info_unknown();
    if (all_exact && run_ok)
        return info_exact(run);
    if (run_ok && set_min_len(run) > 0 &&
        (!have_best || set_better(run, best))) {
        best = run;
        have_best = true;
    }
    struct info out = info_unknown();
    if (have_best) {
        out.req_ok = true;
        out.req = best;
    }
    return out;
}

/* Alternatives separated by '|'. */
static struct info
parse_alt(struct reader *r)
{
    struct info acc = parse_seq(r);
    bool exact_ok = acc.exact_ok, req_ok;
    struct sset exact = acc.exact, req = {NULL, 0};
    req_ok = as_required(&acc, &req) && set_min_len(req) > 0;
    while (!r->bad && r->p < r->end && *r->p == '|') {
        r->p++;
        struct info x = parse_seq(r);
        if (r->bad)
            break;
        if (exact_ok && x.exact_ok)
            exact_ok = set_union(r->a, exact, x.exact, &exact);
        else
            exact_ok = false;
        struct sset xr;
        if (req_ok && as_required(&x, &xr) && set_min_len(xr) > 0)
            req_ok = set_union(r->a, req, xr, &req);
        else
            req_ok = false;
    }
    if (r->bad)
        return info_unknown();
    struct info out = {exact_ok, exact, req_ok, req};
    if (!out.exact_ok) {
        out.exact.s = NULL;
        out.exact.n = 0;
    }
    return out;
}

bool
sk__prefilter_literals(struct sk_arena *a, const char *re, struct sk_str **lits,
                       size_t *n)
{
    struct reader r = {a, re, re + strlen(re), false, 0};
    struct info top = parse_alt(&r);
    if (r.bad || r.p != r.end)
        return false; /* an unmatched ')' or something we stopped at */
    struct sset s;
    if (!as_required(&top, &s) || s.n == 0 || set_min_len(s) == 0)
        return false;
    /* A literal shorter than SK_PREFILTER_MIN_LIT is only worth a scan
     * when benign text seldom holds it. */
    if (!set_short_rare(s))
        return false;
    *lits = s.s;
    *n = s.n;
    return true;
}
