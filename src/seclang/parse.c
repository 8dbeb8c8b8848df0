/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SecLang files to AST: the lexer (logical lines with Apache httpd's
 * backslash-newline continuation, comments, Apache-style quoted words) and
 * the directive level of the recursive-descent parser, including Include
 * and IncludeOptional with glob(3) patterns. The sub-languages inside
 * SecRule arguments are parsed by lists.c. Every byte of a word keeps its
 * source offset so that errors deep inside an action list still point at
 * the right line and column of a continued line.
 */
#include "seclang/seclang.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seclang/internal.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/limits.h"

/* One word of a logical line after quote removal. */
struct word {
    char *s; /* arena string, escapes applied */
    size_t len;
    size_t start;        /* logical offset of its first byte (or quote) */
    const uint32_t *map; /* logical offset of each byte of s, plus one */
};

struct parser {
    struct sk_arena *a;
    struct sk_diag *d;
    unsigned flags;
    struct sk_buf dirs;  /* struct sk_ast_directive, this call only */
    struct sk_buf line;  /* the current logical line */
    struct sk_buf segs;  /* struct sk__sl_seg of the current line */
    struct sk_buf map;   /* uint32_t offsets for the words' bytes */
    struct sk_buf words; /* struct word of the current line */
    /* Canonical paths of the files being read, for cycle detection. */
    char *stack[SK_LIMIT_INCLUDE_DEPTH + 2];
    int depth;
    unsigned nfiles;
    int fatal; /* -SK_ENOMEM once memory ran out: stop everything */
    unsigned errors_before;   /* d->errors when this call started */
    unsigned warnings_before; /* d->warnings when this call started */
    bool gave_up;             /* SK_SECLANG_MAX_ERRORS reached */
};

/* One file (or text) being parsed. */
struct source {
    const char *file; /* arena copy, used in every location */
    const char *dir;  /* base for relative Include patterns; NULL: cwd */
    const char *t;
    size_t len;
    size_t pos;      /* next unread byte */
    unsigned lineno; /* physical lines consumed so far */
};

static int parse_path(struct parser *p, const char *path,
                      const struct sk_loc *from);

static void
oom(struct parser *p)
{
    p->fatal = -SK_ENOMEM;
}

/* Warnings are capped like errors so that the text stays bounded. */
static bool
may_warn(const struct parser *p)
{
    return p->d->warnings - p->warnings_before < SK_SECLANG_MAX_ERRORS;
}

/*
 * Reads the next logical line into p->line and p->segs. Returns 1 when a
 * line was read, 0 at the end of the input, -SK_ENOMEM. *overlong and
 * *nul report lines that must be rejected (their bytes are not kept).
 */
static int
read_logical(struct parser *p, struct source *src, bool *overlong, size_t *nul,
             unsigned *nul_line)
{
    sk_buf_clear(&p->line);
    sk_buf_clear(&p->segs);
    *overlong = false;
    *nul = SIZE_MAX;
    *nul_line = 0;
    if (src->pos >= src->len)
        return 0;
    for (;;) {
        size_t b = src->pos;
        const char *nl = memchr(src->t + b, '\n', src->len - b);
        size_t e = nl ? (size_t)(nl - src->t) : src->len;
        src->pos = nl ? e + 1 : src->len;
        src->lineno++;
        /* Apache's ap_cfg_getline(): a backslash right before the newline
         * (or before CR LF) joins the next line; the backslash and the
         * line end are removed and the next line is appended as it is,
         * leading whitespace included. Without a newline (end of file)
         * the backslash stays. */
        size_t ce = e;
        bool cont = false;
        if (nl != NULL) {
            if (ce > b && src->t[ce - 1] == '\r')
                ce--;
            if (ce > b && src->t[ce - 1] == '\\') {
                ce--;
                cont = true;
            } else {
                size_t k = ce;
                while (k > b &&
                       (src->t[k - 1] == ' ' || src->t[k - 1] == '\t' ||
                        src->t[k - 1] == '\r'))
                    k--;
                if (k < ce && k > b && src->t[k - 1] == '\\' && may_warn(p)) {
                    struct sk_loc loc = {src->file, src->lineno,
                                         (unsigned)(k - b)};
                    sk_diag_warn(p->d, &loc,
                                 "backslash followed by whitespace is not "
                                 "a line continuation");
                }
            }
        }
        const char *z = memchr(src->t + b, '\0', ce - b);
        if (z != NULL && *nul == SIZE_MAX) {
            *nul = (size_t)(z - (src->t + b)) + 1;
            *nul_line = src->lineno;
        }
        if (!*overlong) {
            if (p->line.len + (ce - b) > SK_LIMIT_RULE_LINE) {
                *overlong = true;
            } else {
                struct sk__sl_seg seg = {p->line.len, src->lineno};
                if (sk_buf_append(&p->segs, &seg, sizeof(seg)) != 0 ||
                    sk_buf_append(&p->line, src->t + b, ce - b) != 0)
                    return -SK_ENOMEM;
            }
        }
        if (!cont || src->pos >= src->len)
            break;
    }
    return 1;
}

static const struct sk__sl_seg *
segs_of(struct parser *p, size_t *n)
{
    *n = p->segs.len / sizeof(struct sk__sl_seg);
    return (const struct sk__sl_seg *)(const void *)p->segs.p;
}

static void
line_loc(struct parser *p, const struct source *src, size_t off,
         struct sk_loc *out)
{
    size_t n;
    const struct sk__sl_seg *s = segs_of(p, &n);
    sk__sl_seg_loc(src->file, s, n, off, out);
}

/*
 * Splits line[b, e) into words the way Apache's ap_getword_conf() does:
 * a word is either bare (up to whitespace; `\\` becomes `\`) or quoted
 * with '"' or '\'' (`\\` becomes `\` and a backslash before the quote
 * character becomes that character; other backslashes stay). Stricter
 * than Apache: an unterminated quote and a closing quote glued to the
 * next word are errors. Returns 0, -SK_EPARSE (reported) or -SK_ENOMEM.
 */
static int
split_words(struct parser *p, const struct source *src, size_t b, size_t e)
{
    const char *t = (const char *)p->line.p;
    sk_buf_clear(&p->words);
    sk_buf_clear(&p->map);
    /* Reserve the map once so that the word slices never move: at most
     * one entry per byte plus one end entry per word. */
    size_t need = (e - b) * 2 + 2;
    if (sk_buf_reserve(&p->map, need * sizeof(uint32_t)) != 0)
        return -SK_ENOMEM;
    uint32_t *map = (uint32_t *)(void *)p->map.p;
    size_t mused = 0;
    size_t i = b;
    for (;;) {
        while (i < e && sk__sl_isspace((unsigned char)t[i]))
            i++;
        if (i >= e)
            break;
        struct word w = {0};
        w.start = i;
        char q = t[i];
        /* Find the end first so that the copy is sized to the word (a
         * line of many words must not cost quadratic memory). */
        size_t we = i;
        if (q == '"' || q == '\'') {
            we++;
            while (we < e && t[we] != q)
                we += (t[we] == '\\' && we + 1 < e) ? 2 : 1;
        } else {
            while (we < e && !sk__sl_isspace((unsigned char)t[we]))
                we++;
        }
        char *s = sk_arena_alloc(p->a, we - i + 1);
        if (s == NULL)
            return -SK_ENOMEM;
        uint32_t *m = map + mused;
        size_t n = 0;
        if (q == '"' || q == '\'') {
            size_t j = i + 1;
            for (;;) {
                if (j >= e) {
                    struct sk_loc loc;
                    line_loc(p, src, i, &loc);
                    sk_diag_error(p->d, &loc,
                                  "unterminated %s-quoted argument "
                                  "(closing %c missing)",
                                  q == '"' ? "double" : "single", q);
                    return -SK_EPARSE;
                }
                if (t[j] == '\\' && j + 1 < e &&
                    (t[j + 1] == q || t[j + 1] == '\\')) {
                    m[n] = (uint32_t)j;
                    s[n++] = t[j + 1];
                    j += 2;
                    continue;
                }
                if (t[j] == q)
                    break;
                m[n] = (uint32_t)j;
                s[n++] = t[j++];
            }
            m[n] = (uint32_t)j; /* the closing quote */
            i = j + 1;
            if (i < e && !sk__sl_isspace((unsigned char)t[i])) {
                struct sk_loc loc;
                line_loc(p, src, i, &loc);
                sk_diag_error(p->d, &loc,
                              "missing whitespace after the closing %c of "
                              "an argument",
                              q);
                return -SK_EPARSE;
            }
        } else {
            while (i < e && !sk__sl_isspace((unsigned char)t[i])) {
                m[n] = (uint32_t)i;
                if (t[i] == '\\' && i + 1 < e && t[i + 1] == '\\')
                    i++;
                s[n++] = t[i++];
            }
            m[n] = (uint32_t)i;
        }
        s[n] = '\0';
        w.s = s;
        w.len = n;
        w.map = m;
        mused += n + 1;
        if (sk_buf_append(&p->words, &w, sizeof(w)) != 0)
            return -SK_ENOMEM;
    }
    return 0;
}

static bool
name_is(const char *name, const char *want)
{
    return sk_str_eq_c_nocase(sk_str_c(name), want);
}

static void
word_pos(struct parser *p, const struct source *src, const struct word *w,
         struct sk__sl_pos *pos)
{
    memset(pos, 0, sizeof(*pos));
    pos->file = src->file;
    pos->segs = segs_of(p, &pos->nsegs);
    pos->map = w->map;
}

/* Combines list-parser results: -SK_ENOMEM sticks, else any error. */
static int
merge_rc(int acc, int rc)
{
    if (acc == -SK_ENOMEM || rc == 0)
        return acc;
    return rc;
}

static int
glob_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static bool
has_glob_chars(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Include / IncludeOptional with a glob pattern. */
static int
do_include(struct parser *p, const struct source *src, const char *dname,
           const char *pattern, bool optional, const struct sk_loc *loc)
{
    if (p->flags & SK_SECLANG_NO_INCLUDE) {
        sk_diag_error(p->d, loc, "%s is disabled here", dname);
        return -SK_EPARSE;
    }
    if (pattern[0] == '\0') {
        sk_diag_error(p->d, loc, "%s needs a file name or pattern", dname);
        return -SK_EPARSE;
    }
    char *full;
    if (pattern[0] == '/' || src->dir == NULL || src->dir[0] == '\0')
        full = sk_arena_strdup(p->a, pattern);
    else
        full = sk_arena_printf(p->a, "%s/%s", src->dir, pattern);
    if (full == NULL)
        return -SK_ENOMEM;
    glob_t g;
    memset(&g, 0, sizeof(g));
    int grc = glob(full, GLOB_NOSORT, NULL, &g);
    if (grc == GLOB_NOSPACE) {
        globfree(&g);
        return -SK_ENOMEM;
    }
    if (grc == GLOB_NOMATCH || (grc == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        if (optional)
            return 0;
        if (has_glob_chars(full))
            sk_diag_error(p->d, loc, "%s: no file matches '%s'", dname, full);
        else
            sk_diag_error(p->d, loc, "%s: cannot open '%s': %s", dname, full,
                          strerror(ENOENT));
        return -SK_EPARSE;
    }
    if (grc != 0) {
        globfree(&g);
        sk_diag_error(p->d, loc, "%s: cannot expand '%s'", dname, full);
        return -SK_EPARSE;
    }
    /* Byte order, independent of the locale (glob's own sort uses
     * strcoll), so that rule order never depends on the environment. */
    qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), glob_cmp);
    int rc = 0;
    for (size_t k = 0; k < g.gl_pathc && p->fatal == 0 && !p->gave_up; k++) {
        int r = parse_path(p, g.gl_pathv[k], loc);
        if (r != 0 && rc == 0)
            rc = r;
    }
    globfree(&g);
    if (p->fatal != 0)
        return p->fatal;
    return rc == 0 ? 0 : -SK_EPARSE;
}

/* Parses the arguments of a directive kind that has inner structure. */
static int
structured(struct parser *p, const struct source *src,
           struct sk_ast_directive *dir, const struct word *args)
{
    struct sk__sl_pos pos;
    int rc = 0;
    const char *n = dir->name;
    if (name_is(n, "SecRule")) {
        if (dir->nargs < 2 || dir->nargs > 3) {
            sk_diag_error(p->d, &dir->loc,
                          "SecRule takes two or three arguments "
                          "(variables, operator[, actions]), got %zu",
                          dir->nargs);
            return -SK_EPARSE;
        }
        dir->kind = SK_AST_RULE;
        word_pos(p, src, &args[0], &pos);
        rc = merge_rc(rc, sk__sl_vars(p->a, args[0].s, args[0].len, &pos,
                                      &dir->vars, &dir->nvars, p->d));
        word_pos(p, src, &args[1], &pos);
        if (args[1].len == 0) {
            struct sk_loc loc;
            line_loc(p, src, args[1].start, &loc);
            sk_diag_error(p->d, &loc, "SecRule: empty operator");
            rc = merge_rc(rc, -SK_EPARSE);
        } else {
            rc = merge_rc(rc, sk__sl_operator(p->a, args[1].s, args[1].len,
                                              &pos, &dir->op, p->d));
        }
        if (dir->nargs == 3) {
            word_pos(p, src, &args[2], &pos);
            rc = merge_rc(rc,
                          sk__sl_actions(p->a, args[2].s, args[2].len, &pos,
                                         &dir->actions, &dir->nactions, p->d));
        }
        return rc;
    }
    if (name_is(n, "SecAction") || name_is(n, "SecDefaultAction")) {
        if (dir->nargs != 1) {
            sk_diag_error(p->d, &dir->loc,
                          "%s takes one argument (actions), got %zu", n,
                          dir->nargs);
            return -SK_EPARSE;
        }
        dir->kind = SK_AST_ACTION;
        word_pos(p, src, &args[0], &pos);
        return sk__sl_actions(p->a, args[0].s, args[0].len, &pos, &dir->actions,
                              &dir->nactions, p->d);
    }
    if (name_is(n, "SecRuleUpdateActionById")) {
        if (dir->nargs != 2) {
            sk_diag_error(p->d, &dir->loc,
                          "%s takes two arguments (id, actions), got %zu", n,
                          dir->nargs);
            return -SK_EPARSE;
        }
        dir->kind = SK_AST_UPDATE_ACTIONS;
        word_pos(p, src, &args[1], &pos);
        return sk__sl_actions(p->a, args[1].s, args[1].len, &pos, &dir->actions,
                              &dir->nactions, p->d);
    }
    if (name_is(n, "SecRuleUpdateTargetById") ||
        name_is(n, "SecRuleUpdateTargetByTag") ||
        name_is(n, "SecRuleUpdateTargetByMsg")) {
        if (dir->nargs < 2 || dir->nargs > 3) {
            sk_diag_error(p->d, &dir->loc,
                          "%s takes two or three arguments (selector, "
                          "targets[, replaced target]), got %zu",
                          n, dir->nargs);
            return -SK_EPARSE;
        }
        dir->kind = SK_AST_UPDATE_TARGETS;
        word_pos(p, src, &args[1], &pos);
        rc = merge_rc(rc, sk__sl_vars(p->a, args[1].s, args[1].len, &pos,
                                      &dir->vars, &dir->nvars, p->d));
        if (dir->nargs == 3) {
            word_pos(p, src, &args[2], &pos);
            rc = merge_rc(rc, sk__sl_vars(p->a, args[2].s, args[2].len, &pos,
                                          &dir->replace_vars,
                                          &dir->nreplace_vars, p->d));
        }
        return rc;
    }
    return 0;
}

/* Parses one logical line that holds a directive. */
static int
directive(struct parser *p, const struct source *src, size_t b, size_t e)
{
    int rc = split_words(p, src, b, e);
    if (rc != 0)
        return rc;
    size_t nw = p->words.len / sizeof(struct word);
    const struct word *w = (const struct word *)(const void *)p->words.p;
    if (nw == 0)
        return 0; /* cannot happen: the line is not blank */
    struct sk_ast_directive dir;
    memset(&dir, 0, sizeof(dir));
    line_loc(p, src, w[0].start, &dir.loc);
    dir.kind = SK_AST_GENERIC;
    dir.name = w[0].s;
    if (dir.name[0] == '\0') {
        sk_diag_error(p->d, &dir.loc, "empty directive name");
        return -SK_EPARSE;
    }
    dir.nargs = nw - 1;
    if (dir.nargs > 0) {
        dir.args = sk_arena_calloc(p->a, dir.nargs, sizeof(char *));
        if (dir.args == NULL)
            return -SK_ENOMEM;
        for (size_t k = 0; k < dir.nargs; k++)
            dir.args[k] = w[k + 1].s;
    }
    bool inc = name_is(dir.name, "Include");
    if (inc || name_is(dir.name, "IncludeOptional")) {
        if (dir.nargs != 1) {
            sk_diag_error(p->d, &dir.loc, "%s takes one argument, got %zu",
                          dir.name, dir.nargs);
            return -SK_EPARSE;
        }
        /* The words live in buffers the included files reuse: keep what
         * is needed in the arena (it already is) and go. */
        struct sk_loc loc = dir.loc;
        return do_include(p, src, dir.name, dir.args[0], !inc, &loc);
    }
    rc = structured(p, src, &dir, w + 1);
    if (rc != 0)
        return rc;
    if (sk_buf_append(&p->dirs, &dir, sizeof(dir)) != 0)
        return -SK_ENOMEM;
    return 0;
}

/*
 * Returns the first continuation line of the current (comment) line that
 * does not itself look like a comment, or 0. Commented-out multi-line
 * rules in CRS have '#' on every line and are not worth a warning; a
 * directive hidden behind a commented line ending in '\' is.
 */
static unsigned
swallowed_line(struct parser *p)
{
    size_t n;
    const struct sk__sl_seg *s = segs_of(p, &n);
    const char *t = (const char *)p->line.p;
    for (size_t k = 1; k < n; k++) {
        size_t b = s[k].off;
        size_t e = k + 1 < n ? s[k + 1].off : p->line.len;
        while (b < e && sk__sl_isspace((unsigned char)t[b]))
            b++;
        if (b < e && t[b] != '#')
            return s[k].line;
    }
    return 0;
}

/*
 * True once this call has reported SK_SECLANG_MAX_ERRORS errors: a
 * binary or wrongly included file would otherwise produce one error per
 * line and an unbounded diagnostic text. Says so once.
 */
static bool
too_many_errors(struct parser *p, const struct source *src)
{
    if (p->gave_up)
        return true;
    if (p->d->errors - p->errors_before < SK_SECLANG_MAX_ERRORS)
        return false;
    p->gave_up = true;
    struct sk_loc loc = {src->file, src->lineno, 1};
    sk_diag_error(p->d, &loc, "too many errors (%u), giving up",
                  (unsigned)SK_SECLANG_MAX_ERRORS);
    return true;
}

/* Parses a whole source, reporting every error. */
static void
parse_source(struct parser *p, struct source *src)
{
    /* A UTF-8 byte order mark (files saved by Windows editors) is not
     * part of the first line; Apache only drops it on Windows, which
     * would leave a directive named "\xEF\xBB\xBFSecRule" here. */
    if (src->pos == 0 && src->len >= 3 &&
        memcmp(src->t, "\xEF\xBB\xBF", 3) == 0)
        src->pos = 3;
    for (;;) {
        bool overlong;
        size_t nul;
        unsigned nul_line;
        int r = read_logical(p, src, &overlong, &nul, &nul_line);
        if (r < 0) {
            oom(p);
            return;
        }
        if (r == 0)
            return;
        if (too_many_errors(p, src))
            return;
        size_t nsegs;
        const struct sk__sl_seg *segs = segs_of(p, &nsegs);
        unsigned first = nsegs ? segs[0].line : src->lineno;
        if (nul != SIZE_MAX) {
            struct sk_loc loc = {src->file, nul_line, (unsigned)nul};
            sk_diag_error(p->d, &loc, "NUL byte in a rule file");
            continue;
        }
        if (overlong) {
            struct sk_loc loc = {src->file, first, 1};
            sk_diag_error(p->d, &loc, "logical line longer than %u bytes",
                          (unsigned)SK_LIMIT_RULE_LINE);
            continue;
        }
        const char *t = (const char *)p->line.p;
        size_t b = 0, e = p->line.len;
        while (b < e && sk__sl_isspace((unsigned char)t[b]))
            b++;
        while (e > b && sk__sl_isspace((unsigned char)t[e - 1]))
            e--;
        if (b == e)
            continue;
        if (t[b] == '#') {
            /* Apache joins continued lines before it looks for '#', so a
             * comment ending in a backslash swallows the next line. Keep
             * that meaning but say so: it hides rules. */
            unsigned hidden = swallowed_line(p);
            if (hidden != 0 && may_warn(p)) {
                struct sk_loc loc;
                line_loc(p, src, b, &loc);
                sk_diag_warn(p->d, &loc,
                             "comment continues onto line %u because it "
                             "ends with a backslash; that line is part of "
                             "the comment",
                             hidden);
            }
            continue;
        }
        r = directive(p, src, b, e);
        if (r == -SK_ENOMEM || p->fatal != 0) {
            oom(p);
            return;
        }
    }
}

/* Reads a regular file entirely; reports and returns -SK_E* on error. */
static int
read_file(struct parser *p, const char *path, const struct sk_loc *from,
          char **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int err = 0;
    char *buf = NULL;
    if (fd == -1) {
        err = errno;
        goto fail;
    }
    if (fstat(fd, &st) == -1) {
        err = errno;
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        sk_diag_error(p->d, from,
                      "'%s' is a directory (Include a pattern such as "
                      "dir/*.conf instead)",
                      path);
        close(fd);
        return -SK_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        sk_diag_error(p->d, from, "'%s' is not a regular file", path);
        close(fd);
        return -SK_EIO;
    }
    if ((unsigned long long)st.st_size > SK_SECLANG_MAX_FILE_BYTES) {
        sk_diag_error(p->d, from, "'%s' is larger than %u bytes", path,
                      (unsigned)SK_SECLANG_MAX_FILE_BYTES);
        close(fd);
        return -SK_EIO;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    buf = sk_malloc(cap);
    if (buf == NULL) {
        close(fd);
        return -SK_ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            /* The file grew while we read it: refuse rather than guess. */
            sk_diag_error(p->d, from, "'%s' changed while being read", path);
            sk_free(buf);
            close(fd);
            return -SK_EIO;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            err = errno;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;
fail:
    sk_free(buf);
    if (fd != -1)
        close(fd);
    sk_diag_error(p->d, from, "cannot read '%s': %s", path, strerror(err));
    return err == ENOENT ? -SK_ENOENT : -SK_EIO;
}

static char *
dir_of(struct sk_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return sk_arena_strdup(a, ".");
    if (slash == path)
        return sk_arena_strdup(a, "/");
    return sk_arena_memdup(a, path, (size_t)(slash - path));
}

/*
 * Parses the file at `path` (as given: relative to the cwd or already
 * joined with the including file's directory). `from` is the Include's
 * location, NULL for the top-level file.
 */
static int
parse_path(struct parser *p, const char *path, const struct sk_loc *from)
{
    if (p->depth >= SK_LIMIT_INCLUDE_DEPTH) {
        sk_diag_error(p->d, from, "Include nested deeper than %d files at '%s'",
                      SK_LIMIT_INCLUDE_DEPTH, path);
        return -SK_EPARSE;
    }
    if (p->nfiles >= SK_SECLANG_MAX_FILES) {
        sk_diag_error(p->d, from, "more than %u rule files included",
                      (unsigned)SK_SECLANG_MAX_FILES);
        return -SK_EPARSE;
    }
    p->nfiles++;
    char *canon = realpath(path, NULL);
    if (canon == NULL) {
        int err = errno;
        sk_diag_error(p->d, from, "cannot open '%s': %s", path, strerror(err));
        return err == ENOENT ? -SK_ENOENT : -SK_EIO;
    }
    for (int k = 0; k < p->depth; k++) {
        if (p->stack[k] != NULL && strcmp(p->stack[k], canon) == 0) {
            sk_diag_error(p->d, from, "include cycle: '%s' includes itself",
                          path);
            free(canon);
            return -SK_EPARSE;
        }
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = read_file(p, path, from, &buf, &len);
    if (rc != 0) {
        free(canon);
        if (rc == -SK_ENOMEM)
            oom(p);
        return rc;
    }
    struct source src = {0};
    src.file = sk_arena_strdup(p->a, path);
    src.dir = dir_of(p->a, path);
    src.t = buf;
    src.len = len;
    if (src.file == NULL || src.dir == NULL) {
        sk_free(buf);
        free(canon);
        oom(p);
        return -SK_ENOMEM;
    }
    p->stack[p->depth++] = canon;
    parse_source(p, &src);
    p->stack[--p->depth] = NULL;
    free(canon);
    sk_free(buf);
    return p->fatal;
}

/* Moves the parsed directives into the caller's AST (on success only). */
static int
finish(struct parser *p, int rc, unsigned errors_before, struct sk_ast *ast)
{
    if (p->fatal != 0)
        rc = p->fatal;
    else if (rc == 0 && p->d->errors > errors_before)
        rc = -SK_EPARSE;
    if (rc == 0) {
        size_t add = p->dirs.len / sizeof(struct sk_ast_directive);
        if (add > 0) {
            size_t total;
            struct sk_ast_directive *nd = NULL;
            if (sk_size_add(ast->ndirs, add, &total) != 0)
                rc = -SK_ELIMIT;
            else
                nd = sk_arena_calloc(p->a, total, sizeof(*nd));
            if (rc == 0 && nd == NULL)
                rc = -SK_ENOMEM;
            if (rc == 0) {
                if (ast->ndirs > 0)
                    memcpy(nd, ast->dirs, ast->ndirs * sizeof(*nd));
                memcpy(nd + ast->ndirs, p->dirs.p, p->dirs.len);
                ast->dirs = nd;
                ast->ndirs = total;
            }
        }
    }
    sk_buf_fini(&p->dirs);
    sk_buf_fini(&p->line);
    sk_buf_fini(&p->segs);
    sk_buf_fini(&p->map);
    sk_buf_fini(&p->words);
    return rc;
}

int
sk_seclang_parse_file(struct sk_arena *a, const char *path, struct sk_ast *ast,
                      struct sk_diag *d)
{
    struct parser p = {0};
    p.a = a;
    p.d = d;
    unsigned before = d->errors;
    p.errors_before = before;
    p.warnings_before = d->warnings;
    int rc = parse_path(&p, path, NULL);
    if (rc == -SK_EPARSE)
        rc = 0; /* counted through d->errors in finish() */
    return finish(&p, rc, before, ast);
}

int
sk_seclang_parse_text_flags(struct sk_arena *a, const char *name,
                            const char *basedir, const char *text, size_t len,
                            unsigned flags, struct sk_ast *ast,
                            struct sk_diag *d)
{
    struct parser p = {0};
    p.a = a;
    p.d = d;
    p.flags = flags;
    unsigned before = d->errors;
    p.errors_before = before;
    p.warnings_before = d->warnings;
    struct source src = {0};
    src.file = sk_arena_strdup(a, name ? name : "<text>");
    src.dir = basedir ? sk_arena_strdup(a, basedir) : NULL;
    if (src.file == NULL || (basedir != NULL && src.dir == NULL))
        return finish(&p, -SK_ENOMEM, before, ast);
    src.t = text;
    src.len = len;
    p.nfiles = 1;
    /* The text has no path, so it cannot be found again by a cycle; the
     * depth limit still bounds a text that includes a file that includes
     * itself. */
    p.stack[p.depth++] = NULL;
    parse_source(&p, &src);
    p.depth--;
    return finish(&p, 0, before, ast);
}

int
sk_seclang_parse_text(struct sk_arena *a, const char *name, const char *basedir,
                      const char *text, size_t len, struct sk_ast *ast,
                      struct sk_diag *d)
{
    return sk_seclang_parse_text_flags(a, name, basedir, text, len, 0, ast, d);
}
