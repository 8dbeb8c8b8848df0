/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The three small languages inside SecRule arguments: the variable list
 * ("ARGS|!ARGS:foo|&TX:'/a|b/'"), the operator string ("!@rx foo") and
 * the action list ("id:1,msg:'a, b',t:none"). They run after Apache-style
 * word quoting has been undone, on a string whose bytes map back to the
 * source through struct sk__sl_pos, so every item gets a precise
 * line:col. The shapes follow ModSecurity v2 (apache2/re.c) where that is
 * unambiguous and are stricter where v2 silently guesses; every choice is
 * documented in docs/formats/seclang-syntax.md.
 */
#include "seclang/seclang.h"

#include <stdio.h>
#include <string.h>

#include "seclang/internal.h"
#include "util/error.h"

void
sk__sl_seg_loc(const char *file, const struct sk__sl_seg *segs, size_t nsegs,
               size_t off, struct sk_loc *out)
{
    /* Segments are sorted by offset; binary search for the last one that
     * starts at or before `off`. */
    size_t lo = 0, hi = nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (segs[mid].off <= off)
            lo = mid;
        else
            hi = mid;
    }
    out->file = file;
    if (nsegs == 0) {
        out->line = 0;
        out->col = (unsigned)(off + 1);
        return;
    }
    out->line = segs[lo].line;
    size_t col = off - segs[lo].off + 1;
    out->col = col > 0xFFFFFFu ? 0xFFFFFFu : (unsigned)col;
}

void
sk__sl_pos_loc(const struct sk__sl_pos *p, size_t off, struct sk_loc *out)
{
    if (p->segs != NULL && p->map != NULL) {
        sk__sl_seg_loc(p->file, p->segs, p->nsegs, p->map[off], out);
        return;
    }
    out->file = p->file;
    out->line = p->line;
    size_t col = (size_t)p->col + off;
    out->col = col > 0xFFFFFFu ? 0xFFFFFFu : (unsigned)col;
}

int
sk__sl_vec_to_arena(struct sk_arena *a, const struct sk_buf *vec, size_t size,
                    void **out, size_t *n)
{
    *n = vec->len / size;
    if (*n == 0) {
        *out = NULL;
        return 0;
    }
    void *p = sk_arena_alloc(a, vec->len);
    if (p == NULL)
        return -SK_ENOMEM;
    memcpy(p, vec->p, vec->len);
    *out = p;
    return 0;
}

static size_t
skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len && sk__sl_isspace((unsigned char)t[i]))
        i++;
    return i;
}

/* Reports an error at byte `off` of the mapped string. */
static int
err_at(struct sk_diag *d, const struct sk__sl_pos *pos, size_t off,
       const char *what, const char *msg)
{
    struct sk_loc loc;
    sk__sl_pos_loc(pos, off, &loc);
    sk_diag_error(d, &loc, "%s: %s", what, msg);
    return -SK_EPARSE;
}

/*
 * A single-quoted value as ModSecurity v2 reads it: starts at t[*i] ==
 * '\'', `\'` and `\\` are the only escapes, any other backslash is an
 * "invalid quoted pair" error. On success *out is an arena string and *i
 * is just past the closing quote.
 */
static int
quoted_value(struct sk_arena *a, const char *t, size_t len, size_t *i,
             const struct sk__sl_pos *pos, const char *what, char **out,
             struct sk_diag *d)
{
    size_t open = *i;
    size_t j = open + 1;
    /* Size the copy to the quoted text (never longer than it) rather than
     * to the rest of the list, which would be quadratic. */
    size_t qe = j;
    while (qe < len && t[qe] != '\'')
        qe += (t[qe] == '\\' && qe + 1 < len) ? 2 : 1;
    char *v = sk_arena_alloc(a, qe - open);
    if (v == NULL)
        return -SK_ENOMEM;
    size_t n = 0;
    for (;;) {
        if (j >= len)
            return err_at(d, pos, open, what, "missing closing single quote");
        char c = t[j];
        if (c == '\\') {
            if (j + 1 >= len || (t[j + 1] != '\'' && t[j + 1] != '\\'))
                return err_at(d, pos, j, what,
                              "invalid quoted pair: only \\' and \\\\ "
                              "may follow a backslash inside single "
                              "quotes");
            v[n++] = t[j + 1];
            j += 2;
            continue;
        }
        if (c == '\'')
            break;
        v[n++] = c;
        j++;
    }
    v[n] = '\0';
    *out = v;
    *i = j + 1;
    return 0;
}

static char *
arena_span(struct sk_arena *a, const char *t, size_t b, size_t e)
{
    return sk_arena_memdup(a, t + b, e - b);
}

/*
 * Scans a /regex/ selector starting at t[i] == '/': the closing slash is
 * the first unescaped '/' that is followed (after optional whitespace) by
 * '|' or the end of the list, so the regex itself may contain '|' and '/'.
 * Returns the offset of the closing slash, or 0 when there is none.
 */
static size_t
regex_end(const char *t, size_t len, size_t i)
{
    size_t j = i + 1;
    while (j < len) {
        if (t[j] == '\\' && j + 1 < len) {
            j += 2;
            continue;
        }
        if (t[j] == '/') {
            size_t k = skip_ws(t, len, j + 1);
            if (k == len || t[k] == '|')
                return j;
        }
        j++;
    }
    return 0;
}

static bool
is_xml(const char *t, size_t b, size_t e)
{
    return e - b == 3 && (t[b] == 'X' || t[b] == 'x') &&
           (t[b + 1] == 'M' || t[b + 1] == 'm') &&
           (t[b + 2] == 'L' || t[b + 2] == 'l');
}

/* Parses one variable at t[*i] (whitespace skipped) into *v. */
static int
one_var(struct sk_arena *a, const char *t, size_t len, size_t *i,
        const struct sk__sl_pos *pos, struct sk_ast_var *v, struct sk_diag *d)
{
    static const char what[] = "variable list";
    size_t s = *i;
    memset(v, 0, sizeof(*v));
    sk__sl_pos_loc(pos, s, &v->loc);
    if (t[s] == '!')
        v->exclude = true;
    else if (t[s] == '&')
        v->count = true;
    if (v->exclude || v->count)
        s++;
    if (s < len && (t[s] == '!' || t[s] == '&'))
        return err_at(d, pos, s, what,
                      "at most one of '!' and '&' may precede a variable");
    size_t nb = s;
    while (s < len && t[s] != ':' && t[s] != '|' &&
           !sk__sl_isspace((unsigned char)t[s]))
        s++;
    if (s == nb)
        return err_at(d, pos, nb, what, "missing variable name");
    v->collection = arena_span(a, t, nb, s);
    if (v->collection == NULL)
        return -SK_ENOMEM;
    if (s < len && t[s] == ':') {
        size_t colon = s++;
        if (s < len && t[s] == '\'') {
            int rc = quoted_value(a, t, len, &s, pos, what, &v->selector, d);
            if (rc != 0)
                return rc;
            /* ModSecurity v2 decides regex-ness after unquoting, so
             * '/a|b/' is a regex too (CRS 980 relies on it). */
            size_t sl = strlen(v->selector);
            if (!is_xml(t, nb, colon) && sl >= 2 && v->selector[0] == '/' &&
                v->selector[sl - 1] == '/') {
                memmove(v->selector, v->selector + 1, sl - 2);
                v->selector[sl - 2] = '\0';
                v->selector_regex = true;
            }
        } else {
            if (s < len && t[s] == '/' && !is_xml(t, nb, colon)) {
                /* No fallback to a plain selector when the regex is not
                 * closed: a loud error (quote a name that starts with
                 * '/'), and a rescan per variable would be quadratic. */
                size_t end = regex_end(t, len, s);
                if (end == 0)
                    return err_at(d, pos, s, what,
                                  "unterminated /regex/ selector (the "
                                  "closing '/' must be followed by '|' or "
                                  "the end of the list)");
                v->selector = arena_span(a, t, s + 1, end);
                v->selector_regex = true;
                s = end + 1;
            } else {
                size_t vb = s;
                while (s < len && t[s] != '|')
                    s++;
                size_t ve = s;
                while (ve > vb && sk__sl_isspace((unsigned char)t[ve - 1]))
                    ve--;
                if (ve == vb)
                    return err_at(d, pos, colon, what,
                                  "empty selector after ':'");
                v->selector = arena_span(a, t, vb, ve);
            }
            if (v->selector == NULL)
                return -SK_ENOMEM;
        }
    }
    *i = s;
    return 0;
}

int
sk__sl_vars(struct sk_arena *a, const char *text, size_t len,
            const struct sk__sl_pos *pos, struct sk_ast_var **vars,
            size_t *nvars, struct sk_diag *d)
{
    static const char what[] = "variable list";
    struct sk_buf vec = {0};
    int rc = 0;
    size_t i = skip_ws(text, len, 0);
    if (i == len) {
        rc = err_at(d, pos, 0, what, "no variables");
        goto out;
    }
    for (;;) {
        struct sk_ast_var v;
        if (i == len || text[i] == '|') {
            rc = err_at(d, pos, i == len ? len : i, what,
                        "missing variable after '|'");
            goto out;
        }
        rc = one_var(a, text, len, &i, pos, &v, d);
        if (rc != 0)
            goto out;
        if (sk_buf_append(&vec, &v, sizeof(v)) != 0) {
            rc = -SK_ENOMEM;
            goto out;
        }
        i = skip_ws(text, len, i);
        if (i == len)
            break;
        if (text[i] != '|') {
            char msg[80];
            unsigned char c = (unsigned char)text[i];
            if (c > 0x20 && c < 0x7f)
                snprintf(msg, sizeof(msg),
                         "unexpected character '%c' after a variable "
                         "(expected '|')",
                         c);
            else
                snprintf(msg, sizeof(msg),
                         "unexpected byte 0x%02x after a variable "
                         "(expected '|')",
                         c);
            rc = err_at(d, pos, i, what, msg);
            goto out;
        }
        i = skip_ws(text, len, i + 1);
    }
    rc = sk__sl_vec_to_arena(a, &vec, sizeof(struct sk_ast_var), (void **)vars,
                             nvars);
out:
    sk_buf_fini(&vec);
    return rc;
}

int
sk__sl_operator(struct sk_arena *a, const char *text, size_t len,
                const struct sk__sl_pos *pos, struct sk_ast_op *op,
                struct sk_diag *d)
{
    /* ModSecurity v2 (msre_rule_create): an optional '!' followed by
     * optional whitespace; then '@name' up to whitespace, whitespace, and
     * the rest verbatim as the argument; without '@' the whole remainder
     * is a regular expression. Leading whitespace is not skipped. */
    size_t i = 0;
    memset(op, 0, sizeof(*op));
    sk__sl_pos_loc(pos, 0, &op->loc);
    if (i < len && text[i] == '!') {
        op->negated = true;
        i = skip_ws(text, len, i + 1);
    }
    if (i < len && text[i] == '@') {
        size_t nb = ++i;
        while (i < len && !sk__sl_isspace((unsigned char)text[i]))
            i++;
        if (i == nb)
            return err_at(d, pos, nb - 1, "operator",
                          "missing operator name after '@'");
        op->name = arena_span(a, text, nb, i);
        i = skip_ws(text, len, i);
    } else {
        op->name = sk_arena_strdup(a, "rx");
    }
    op->arg = arena_span(a, text, i, len);
    if (op->name == NULL || op->arg == NULL)
        return -SK_ENOMEM;
    return 0;
}

int
sk__sl_actions(struct sk_arena *a, const char *text, size_t len,
               const struct sk__sl_pos *pos, struct sk_ast_action **actions,
               size_t *nactions, struct sk_diag *d)
{
    static const char what[] = "action list";
    struct sk_buf vec = {0};
    int rc = 0;
    size_t i = skip_ws(text, len, 0);
    while (i < len) {
        struct sk_ast_action act;
        memset(&act, 0, sizeof(act));
        if (text[i] == ',') {
            rc = err_at(d, pos, i, what, "empty action before ','");
            goto out;
        }
        size_t nb = i;
        while (i < len && text[i] != ':' && text[i] != ',' &&
               !sk__sl_isspace((unsigned char)text[i]))
            i++;
        if (i == nb) {
            rc = err_at(d, pos, i, what, "missing action name before ':'");
            goto out;
        }
        sk__sl_pos_loc(pos, nb, &act.loc);
        act.name = arena_span(a, text, nb, i);
        if (act.name == NULL) {
            rc = -SK_ENOMEM;
            goto out;
        }
        if (i < len && text[i] == ':') {
            i = skip_ws(text, len, i + 1);
            if (i < len && text[i] == '\'') {
                rc = quoted_value(a, text, len, &i, pos, what, &act.value, d);
                if (rc != 0)
                    goto out;
                i = skip_ws(text, len, i);
                if (i < len && text[i] != ',') {
                    rc = err_at(d, pos, i, what,
                                "expected ',' after a quoted value");
                    goto out;
                }
            } else {
                size_t vb = i;
                while (i < len && text[i] != ',')
                    i++;
                size_t ve = i;
                while (ve > vb && sk__sl_isspace((unsigned char)text[ve - 1]))
                    ve--;
                act.value = arena_span(a, text, vb, ve);
                if (act.value == NULL) {
                    rc = -SK_ENOMEM;
                    goto out;
                }
            }
        } else {
            /* A name without a value; whitespace may precede the ','
             * but not a ':' (as in v2, "t :none" is an error). */
            i = skip_ws(text, len, i);
            if (i < len && text[i] != ',') {
                rc = err_at(d, pos, i, what,
                            "expected ',' after an action name");
                goto out;
            }
        }
        if (sk_buf_append(&vec, &act, sizeof(act)) != 0) {
            rc = -SK_ENOMEM;
            goto out;
        }
        /* Here i is at ',' or the end; a trailing ',' is accepted. */
        if (i < len)
            i = skip_ws(text, len, i + 1);
    }
    rc = sk__sl_vec_to_arena(a, &vec, sizeof(struct sk_ast_action),
                             (void **)actions, nactions);
out:
    sk_buf_fini(&vec);
    return rc;
}

int
sk_seclang_parse_vars(struct sk_arena *a, const char *text,
                      const struct sk_loc *loc, struct sk_ast_var **vars,
                      size_t *nvars, struct sk_diag *d)
{
    struct sk__sl_pos pos = {
        .file = loc ? loc->file : NULL,
        .line = loc ? loc->line : 0,
        .col = loc ? loc->col : 1,
    };
    *vars = NULL;
    *nvars = 0;
    return sk__sl_vars(a, text, strlen(text), &pos, vars, nvars, d);
}

int
sk_seclang_parse_actions(struct sk_arena *a, const char *text,
                         const struct sk_loc *loc,
                         struct sk_ast_action **actions, size_t *nactions,
                         struct sk_diag *d)
{
    struct sk__sl_pos pos = {
        .file = loc ? loc->file : NULL,
        .line = loc ? loc->line : 0,
        .col = loc ? loc->col : 1,
    };
    *actions = NULL;
    *nactions = 0;
    return sk__sl_actions(a, text, strlen(text), &pos, actions, nactions, d);
}
