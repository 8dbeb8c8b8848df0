/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transformations that rewrite text in place: case mapping,
 * whitespace and NUL handling, trimming, comment removal, cmdLine, the
 * 7-bit parity family and path normalisation. None of them produces more
 * bytes than it reads. "Whitespace" is always the "C" locale isspace()
 * set (space, \t \n \v \f \r), plus 0xA0 (NBSP) where ModSecurity v2
 * adds it (compressWhitespace, removeWhitespace).
 */
#include "transform/tfn_internal.h"

#define NBSP 0xa0

/* lowercase, uppercase ---------------------------------------------- */

int
sk__tfn_lowercase(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                  bool *changed)
{
    if (!sk__tfn_slow_only) {
        /* No early exit: the scan vectorizes. */
        unsigned upper = 0;
        for (size_t i = 0; i < in.len; i++)
            upper |= (unsigned)((uint8_t)(in.p[i] - 'A') < 26);
        if (upper == 0)
            return tfn_same(in, out, changed);
    }
    struct tw w;
    tw_init(&w, a, in, in.len);
    for (size_t i = 0; i < in.len; i++)
        tw_put(&w, sk_ascii_lower(in.p[i]));
    return tw_finish(&w, out, changed);
}

int
sk__tfn_uppercase(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                  bool *changed)
{
    struct tw w;
    tw_init(&w, a, in, in.len);
    for (size_t i = 0; i < in.len; i++)
        tw_put(&w, c_toupper(in.p[i]));
    return tw_finish(&w, out, changed);
}

/* Whitespace -------------------------------------------------------- */

int
sk__tfn_compress_whitespace(struct sk_arena *a, struct sk_str in,
                            struct sk_str *out, bool *changed)
{
    struct tw w;
    tw_init(&w, a, in, in.len);
    bool in_ws = false;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        if (c_isspace(c) || c == NBSP) {
            if (!in_ws)
                tw_put(&w, ' ');
            in_ws = true;
        } else {
            tw_put(&w, c);
            in_ws = false;
        }
    }
    return tw_finish(&w, out, changed);
}

int
sk__tfn_remove_whitespace(struct sk_arena *a, struct sk_str in,
                          struct sk_str *out, bool *changed)
{
    struct tw w;
    tw_init(&w, a, in, in.len);
    for (size_t i = 0; i < in.len; i++)
        if (!c_isspace(in.p[i]) && in.p[i] != NBSP)
            tw_put(&w, in.p[i]);
    return tw_finish(&w, out, changed);
}

/* Trims return a sub-range of the input: no allocation at all. */
static int
trim_view(struct sk_str in, struct sk_str *out, bool *changed, bool left,
          bool right)
{
    size_t b = 0, e = in.len;
    if (left)
        while (b < e && c_isspace(in.p[b]))
            b++;
    if (right)
        while (e > b && c_isspace(in.p[e - 1]))
            e--;
    /* No pointer arithmetic on a NULL (empty) view. */
    *out = b == 0 ? sk_str_make(in.p, e) : sk_str_make(in.p + b, e - b);
    *changed = e - b != in.len;
    return 0;
}

int
sk__tfn_trim(struct sk_arena *a, struct sk_str in, struct sk_str *out,
             bool *changed)
{
    (void)a;
    return trim_view(in, out, changed, true, true);
}

int
sk__tfn_trim_left(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                  bool *changed)
{
    (void)a;
    return trim_view(in, out, changed, true, false);
}

int
sk__tfn_trim_right(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                   bool *changed)
{
    (void)a;
    return trim_view(in, out, changed, false, true);
}

/* NUL bytes --------------------------------------------------------- */

int
sk__tfn_remove_nulls(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                     bool *changed)
{
    if (!sk__tfn_slow_only && !tfn_has(in, 0))
        return tfn_same(in, out, changed);
    struct tw w;
    tw_init(&w, a, in, in.len);
    for (size_t i = 0; i < in.len; i++)
        if (in.p[i] != 0)
            tw_put(&w, in.p[i]);
    return tw_finish(&w, out, changed);
}

int
sk__tfn_replace_nulls(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                      bool *changed)
{
    struct tw w;
    tw_init(&w, a, in, in.len);
    for (size_t i = 0; i < in.len; i++)
        tw_put(&w, in.p[i] != 0 ? in.p[i] : ' ');
    return tw_finish(&w, out, changed);
}

/* Comments ---------------------------------------------------------- */

/* Whether p[i..n) starts with the NUL-terminated `s`. */
static bool
at(const uint8_t *p, size_t n, size_t i, const char *s)
{
    for (; *s != '\0'; s++, i++)
        if (i >= n || p[i] != (uint8_t)*s)
            return false;
    return true;
}

int
sk__tfn_remove_comments(struct sk_arena *a, struct sk_str in,
                        struct sk_str *out, bool *changed)
{
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    bool in_comment = false;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        if (!in_comment) {
            if (at(p, n, i, "/*")) {
                in_comment = true;
                i += 2;
            } else if (at(p, n, i, "<!--")) {
                in_comment = true;
                i += 4;
            } else if (at(p, n, i, "--") || p[i] == '#') {
                break; /* a line comment runs to the end of the value */
            } else {
                tw_put(&w, p[i++]);
            }
        } else {
            size_t close = at(p, n, i, "*/") ? 2 : at(p, n, i, "-->") ? 3 : 0;
            if (close == 0) {
                i++;
                continue;
            }
            in_comment = false;
            i += close;
            /*
             * ModSecurity copies the byte right after a comment without
             * looking at it (so it can not open another comment). When
             * the comment closes the value, that "byte" is the NUL that
             * terminates ModSecurity's buffer: it ends up in the output,
             * and ModSecurity's own tests expect it there.
             */
            tw_put(&w, i < n ? p[i] : 0);
            i++;
        }
    }
    if (in_comment)
        tw_put(&w, ' ');
    return tw_finish(&w, out, changed);
}

int
sk__tfn_remove_comments_char(struct sk_arena *a, struct sk_str in,
                             struct sk_str *out, bool *changed)
{
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        if (at(p, n, i, "/*") || at(p, n, i, "*/"))
            i += 2;
        else if (at(p, n, i, "<!--"))
            i += 4;
        else if (at(p, n, i, "-->"))
            i += 3;
        else if (at(p, n, i, "--"))
            i += 2;
        else if (p[i] == '#')
            i++;
        else
            tw_put(&w, p[i++]);
    }
    return tw_finish(&w, out, changed);
}

int
sk__tfn_replace_comments(struct sk_arena *a, struct sk_str in,
                         struct sk_str *out, bool *changed)
{
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    bool in_comment = false;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        if (!in_comment) {
            if (at(p, n, i, "/*")) {
                in_comment = true;
                i += 2;
            } else {
                tw_put(&w, p[i++]);
            }
        } else if (at(p, n, i, "*/")) {
            in_comment = false;
            i += 2;
            tw_put(&w, ' ');
        } else {
            i++;
        }
    }
    if (in_comment)
        tw_put(&w, ' ');
    return tw_finish(&w, out, changed);
}

/* cmdLine ----------------------------------------------------------- */

int
sk__tfn_cmd_line(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                 bool *changed)
{
    struct tw w;
    tw_init(&w, a, in, in.len);
    bool space = false;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        switch (c) {
        case '"':
        case '\'':
        case '\\':
        case '^':
            break; /* dropped; a pending space stays pending */
        case ' ':
        case ',':
        case ';':
        case '\t':
        case '\r':
        case '\n':
            if (!space)
                tw_put(&w, ' ');
            space = true;
            break;
        case '/':
        case '(':
            /* No space before / or ( ("ls /" and "ls/" match alike). */
            if (space)
                tw_truncate(&w, w.len - 1);
            space = false;
            tw_put(&w, c);
            break;
        default:
            tw_put(&w, sk_ascii_lower(c));
            space = false;
            break;
        }
    }
    return tw_finish(&w, out, changed);
}

/* Parity ------------------------------------------------------------ */

/*
 * ModSecurity computes the parity over all eight bits of the input byte
 * (its high bit included) and then sets or clears the high bit; for
 * bytes >= 0x80 the result therefore does not always have the named
 * parity. Kept for byte-exactness.
 */
static bool
odd_parity8(uint8_t c)
{
    c ^= (uint8_t)(c >> 4);
    c ^= (uint8_t)(c >> 2);
    c ^= (uint8_t)(c >> 1);
    return (c & 1) != 0;
}

static int
parity(struct sk_arena *a, struct sk_str in, struct sk_str *out, bool *changed,
       int mode)
{
    struct tw w;
    tw_init(&w, a, in, in.len);
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        bool high;
        if (mode == 0)
            high = false;
        else if (mode > 0)
            high = odd_parity8(c); /* even: add a bit to odd bytes */
        else
            high = !odd_parity8(c);
        tw_put(&w, high ? (uint8_t)(c | 0x80) : (uint8_t)(c & 0x7f));
    }
    return tw_finish(&w, out, changed);
}

int
sk__tfn_parity_even_7bit(struct sk_arena *a, struct sk_str in,
                         struct sk_str *out, bool *changed)
{
    return parity(a, in, out, changed, 1);
}

int
sk__tfn_parity_odd_7bit(struct sk_arena *a, struct sk_str in,
                        struct sk_str *out, bool *changed)
{
    return parity(a, in, out, changed, -1);
}

int
sk__tfn_parity_zero_7bit(struct sk_arena *a, struct sk_str in,
                         struct sk_str *out, bool *changed)
{
    return parity(a, in, out, changed, 0);
}

/* normalizePath, normalizePathWin ------------------------------------- */

/*
 * The input byte at q as ModSecurity's in-place algorithm sees it. On
 * Windows it rewrites a backslash to a slash only at the current
 * position and the one after it, at the top of each step; a backslash
 * that a run of separators skips over is never rewritten, and may be
 * copied as is (as in "a/\\\\b" -> "a\\b"). `top` is the position of the
 * current step.
 */
static uint8_t
path_at(const uint8_t *p, size_t q, size_t top, bool win)
{
    if (win && p[q] == '\\' && (q == top || q == top + 1))
        return '/';
    return p[q];
}

static int
normalize_path(struct sk_arena *a, struct sk_str in, struct sk_str *out,
               bool *changed, bool win)
{
    const uint8_t *p = in.p;
    size_t n = in.len;
    struct tw w;
    tw_init(&w, a, in, n);
    if (n == 0)
        return tw_finish(&w, out, changed);

    size_t end = n - 1;
    bool relative = !(p[0] == '/' || (win && p[0] == '\\'));
    bool trailing = p[end] == '/' || (win && p[end] == '\\');
    bool hitroot = false, done = false;
    size_t s = 0; /* read position; w.len is the write position */

    while (!done && s <= end) {
        size_t top = s;
#define AT(q) path_at(p, (q), top, win)
        bool copy = true;
        if (s == end)
            done = true;
        if (done || AT(s + 1) == '/') {
            /* At the end of a path segment: normalise it. */
            uint8_t c = AT(s);
            if (c == '/' && !done) {
                /* empty segment: the copy below skips the slashes */
            } else if (c == '.') {
                size_t d = w.len;
                if (d > 0 && tw_at(&w, d - 1) == '.') {
                    /* "..": drop it and the segment before it. */
                    if (relative && (hitroot || d <= 2)) {
                        hitroot = true; /* nothing to go back to: keep */
                    } else {
                        size_t nd = d >= 3 ? d - 3 : 0;
                        while (nd > 0 && tw_at(&w, nd) != '/')
                            nd--;
                        if (nd == 0) {
                            hitroot = true; /* never above the root */
                            if (!relative && done)
                                nd = 1; /* keep the root slash */
                        }
                        tw_truncate(&w, nd);
                        if (done)
                            break;
                        s++;
                    }
                } else if (d == 0) {
                    copy = !done; /* "./" at the start: drop the dot */
                    if (!copy)
                        break;
                    s++;
                } else if (tw_at(&w, d - 1) == '/') {
                    /* "/./": drop the dot and the slash before it */
                    if (done)
                        break;
                    tw_truncate(&w, d - 1);
                    s++;
                }
            } else if (w.len > 0) {
                hitroot = false; /* an ordinary segment */
            }
        }
        if (copy) {
            if (AT(s) == '/') {
                /* Copy only the last of a run of separators. */
                while (s < end &&
                       (AT(s + 1) == '/' || (win && AT(s + 1) == '\\')))
                    s++;
                if (relative && w.len == 0) {
                    s++; /* no leading slash on a relative path */
                    continue;
                }
            }
            tw_put(&w, AT(s));
            s++;
        }
#undef AT
    }
    /* No trailing slash unless the input had one. */
    if (!trailing && w.len > 0 && tw_at(&w, w.len - 1) == '/')
        tw_truncate(&w, w.len - 1);
    return tw_finish(&w, out, changed);
}

int
sk__tfn_normalize_path(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                       bool *changed)
{
    return normalize_path(a, in, out, changed, false);
}

int
sk__tfn_normalize_path_win(struct sk_arena *a, struct sk_str in,
                           struct sk_str *out, bool *changed)
{
    return normalize_path(a, in, out, changed, true);
}
