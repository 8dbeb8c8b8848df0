/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared machinery of the transformation functions: the lazy output
 * writer, the ASCII character classes ModSecurity relies on (always the
 * "C" locale ones, never the process locale), and the declarations of
 * every transformation so that transform.c can build its table.
 *
 * The lazy writer is what lets a transformation allocate only when its
 * output differs from its input: while every byte produced equals the
 * input byte at the same offset, nothing is written and the output is a
 * prefix of the input. The first differing byte allocates the full
 * output buffer (its worst-case size is known in advance) and copies the
 * prefix. Removing bytes from the end (tw_truncate) keeps the prefix
 * property, so a transformation that only deletes trailing bytes returns
 * a shorter view of its input without allocating.
 */
#ifndef SK_TRANSFORM_TFN_INTERNAL_H
#define SK_TRANSFORM_TFN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "transform/transform.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/str.h"

/*
 * Fast paths: most values hold none of the bytes a transformation acts on
 * (no '%' for urlDecode, no '&' for htmlEntityDecode, ...); such a value
 * is returned as it is after one memchr()-speed scan. sk__tfn_slow_only
 * (tests only) turns them off, so that a test can compare both ways.
 */
extern bool sk__tfn_slow_only;

/* Whether `in` holds byte `c`. */
static inline bool
tfn_has(struct sk_str in, int c)
{
    return in.len > 0 && memchr(in.p, c, in.len) != NULL;
}

/* Returns `in` unchanged (the result of a fast path). */
static inline int
tfn_same(struct sk_str in, struct sk_str *out, bool *changed)
{
    *out = in;
    *changed = false;
    return 0;
}

struct tw {
    struct sk_arena *a;
    struct sk_str in;
    uint8_t *buf; /* NULL while the output is a prefix of `in` */
    size_t cap;   /* worst-case output size, fixed at tw_init() */
    size_t len;   /* bytes of output so far */
    int err;      /* first error, sticky */
};

/*
 * Allocates the output buffer and copies the prefix produced so far.
 * Defined in transform.c. Returns 0 or a negative SK_E* code (also stored
 * in w->err).
 */
int sk__tw_grow(struct tw *w);

static inline void
tw_init(struct tw *w, struct sk_arena *a, struct sk_str in, size_t cap)
{
    w->a = a;
    w->in = in;
    w->buf = NULL;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
}

static inline void
tw_put(struct tw *w, uint8_t c)
{
    if (w->buf == NULL) {
        if (w->err != 0)
            return;
        if (w->len < w->in.len && w->in.p[w->len] == c) {
            w->len++;
            return;
        }
        if (sk__tw_grow(w) != 0)
            return;
    }
    if (w->len >= w->cap) {
        /* The capacity is computed from the input; this cannot happen. */
        w->err = -SK_ELIMIT;
        return;
    }
    w->buf[w->len++] = c;
}

/* The output byte at offset i (i < w->len). */
static inline uint8_t
tw_at(const struct tw *w, size_t i)
{
    return w->buf != NULL ? w->buf[i] : w->in.p[i];
}

/* Drops output bytes beyond `len` (len <= w->len). */
static inline void
tw_truncate(struct tw *w, size_t len)
{
    if (len < w->len)
        w->len = len;
}

/*
 * Publishes the result: *out is the allocated buffer, or a prefix of the
 * input when nothing had to be allocated; *changed tells whether it
 * differs from the input. Returns w->err.
 */
static inline int
tw_finish(struct tw *w, struct sk_str *out, bool *changed)
{
    if (w->err != 0)
        return w->err;
    if (w->buf == NULL) {
        *out = sk_str_make(w->in.p, w->len);
        *changed = w->len != w->in.len;
    } else {
        *out = sk_str_make(w->buf, w->len);
        *changed = true;
    }
    return 0;
}

/*
 * Publishes a result computed into a caller buffer (digests, numbers):
 * allocates a copy unless it equals the input.
 */
int sk__tfn_result(struct sk_arena *a, struct sk_str in, const uint8_t *res,
                   size_t n, struct sk_str *out, bool *changed);

/* Character classes of the "C" locale, as ModSecurity uses them. ------- */

static inline bool
c_isspace(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline bool
c_isdigit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline bool
c_isxdigit(uint8_t c)
{
    return c_isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline bool
c_isodigit(uint8_t c)
{
    return c >= '0' && c <= '7';
}

static inline bool
c_isalnum(uint8_t c)
{
    return c_isdigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline uint8_t
c_toupper(uint8_t c)
{
    return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
}

/*
 * The value of one hex digit, computed the way ModSecurity's x2c() does:
 * for valid digits this is the usual value; for other bytes (hexDecode
 * does not validate) it yields the same, well-defined, garbage.
 */
static inline uint8_t
hexval_loose(uint8_t c)
{
    if (c >= 'A')
        return (uint8_t)((uint8_t)(c & 0xdf) - 'A' + 10);
    return (uint8_t)(c - '0');
}

/* Two hex digits to a byte, modulo 256 like ModSecurity's x2c(). */
static inline uint8_t
hex2_loose(const uint8_t *p)
{
    return (uint8_t)(hexval_loose(p[0]) * 16u + hexval_loose(p[1]));
}

/* Worst-case output size n*k (+ extra); -SK_ELIMIT on overflow. */
static inline int
tfn_cap(size_t n, size_t k, size_t extra, size_t *cap)
{
    if (k != 0 && n > (SIZE_MAX - extra) / k)
        return -SK_ELIMIT;
    *cap = n * k + extra;
    return 0;
}

/*
 * The transformations. Each one follows the sk_transform_fn contract of
 * transform.h: it reads `in` (never modifies it), writes the result to
 * *out (arena memory, or a view of `in` when the value is unchanged or
 * only shortened at its end), sets *changed exactly, returns 0 or a
 * negative SK_E* code, and never blocks. They are reached through the
 * table in transform.c; docs/transformations.md describes each one.
 */

#define SK__TFN_DECL(fn)                                                       \
    int fn(struct sk_arena *a, struct sk_str in, struct sk_str *out,           \
           bool *changed)

SK__TFN_DECL(sk__tfn_base64_decode);
SK__TFN_DECL(sk__tfn_base64_decode_ext);
SK__TFN_DECL(sk__tfn_base64_encode);
SK__TFN_DECL(sk__tfn_cmd_line);
SK__TFN_DECL(sk__tfn_compress_whitespace);
SK__TFN_DECL(sk__tfn_css_decode);
SK__TFN_DECL(sk__tfn_escape_seq_decode);
SK__TFN_DECL(sk__tfn_hex_decode);
SK__TFN_DECL(sk__tfn_hex_encode);
SK__TFN_DECL(sk__tfn_html_entity_decode);
SK__TFN_DECL(sk__tfn_js_decode);
SK__TFN_DECL(sk__tfn_length);
SK__TFN_DECL(sk__tfn_lowercase);
SK__TFN_DECL(sk__tfn_md5);
SK__TFN_DECL(sk__tfn_normalize_path);
SK__TFN_DECL(sk__tfn_normalize_path_win);
SK__TFN_DECL(sk__tfn_parity_even_7bit);
SK__TFN_DECL(sk__tfn_parity_odd_7bit);
SK__TFN_DECL(sk__tfn_parity_zero_7bit);
SK__TFN_DECL(sk__tfn_remove_comments);
SK__TFN_DECL(sk__tfn_remove_comments_char);
SK__TFN_DECL(sk__tfn_remove_nulls);
SK__TFN_DECL(sk__tfn_remove_whitespace);
SK__TFN_DECL(sk__tfn_replace_comments);
SK__TFN_DECL(sk__tfn_replace_nulls);
SK__TFN_DECL(sk__tfn_sha1);
SK__TFN_DECL(sk__tfn_sql_hex_decode);
SK__TFN_DECL(sk__tfn_trim);
SK__TFN_DECL(sk__tfn_trim_left);
SK__TFN_DECL(sk__tfn_trim_right);
SK__TFN_DECL(sk__tfn_uppercase);
SK__TFN_DECL(sk__tfn_url_decode);
SK__TFN_DECL(sk__tfn_url_decode_uni);
SK__TFN_DECL(sk__tfn_url_encode);
SK__TFN_DECL(sk__tfn_utf8_to_unicode);

#endif
