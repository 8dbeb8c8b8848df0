/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Argument and cookie parsing with the semantics of libmodsecurity
 * v3.0.9, so that ARGS, ARGS_NAMES, REQUEST_COOKIES and
 * REQUEST_COOKIES_NAMES hold what CRS expects:
 *
 * - a query or urlencoded body is split on the argument separator the way
 *   std::getline splits (an empty element in the middle or at the start is
 *   kept and gives an argument with an empty name and value; a trailing
 *   separator gives no element); each element is split at its first '='
 *   (no '=' means an empty value, "=x" an empty name), and both sides are
 *   URL-decoded (non-strict: '+' is a space, a bad '%' sequence is kept);
 * - a Cookie header value is split on ';' the same way; trailing
 *   whitespace of the last element is removed, leading whitespace of each
 *   name is removed, an element without '=' is a name with an empty
 *   value, everything after the first '=' is the value (not decoded, not
 *   trimmed), and elements whose name ends up empty are skipped.
 */
#include "http/http.h"

#include <string.h>

#include "util/error.h"

/* C's isspace() in the "C" locale. */
static bool
is_c_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int
hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * URL-decodes `in` into `d` (room for in.len + 1 bytes) the ModSecurity
 * "non-strict" way, NUL-terminated; returns the decoded length (never
 * more than in.len). Sets *invalid (when not NULL) if a '%' was not
 * followed by two hex digits; leaves it alone otherwise.
 */
static size_t
urldecode_into(uint8_t *d, struct sk_str in, bool *invalid)
{
    size_t n = 0;
    size_t i = 0;
    while (i < in.len) {
        /* Up to the next '%' only '+' changes: a loop the compiler turns
         * into vector code. */
        const uint8_t *pct = memchr(in.p + i, '%', in.len - i);
        size_t run = (pct != NULL ? (size_t)(pct - in.p) : in.len) - i;
        const uint8_t *src = in.p + i;
        uint8_t *dst = d + n;
        for (size_t k = 0; k < run; k++)
            dst[k] = src[k] == '+' ? ' ' : src[k];
        n += run;
        i += run;
        if (i == in.len)
            break;
        /* in.p[i] is '%' */
        int h1 = i + 2 < in.len ? hexval(in.p[i + 1]) : -1;
        int h2 = h1 >= 0 ? hexval(in.p[i + 2]) : -1;
        if (h1 >= 0 && h2 >= 0) {
            d[n++] = (uint8_t)(h1 << 4 | h2);
            i += 3;
            continue;
        }
        if (invalid != NULL)
            *invalid = true;
        d[n++] = '%';
        i++;
    }
    d[n] = '\0';
    return n;
}

/*
 * URL-decodes `in` into a new arena string *out (NUL-terminated behind its
 * length) the ModSecurity "non-strict" way. Sets *invalid (when not NULL)
 * if a '%' was not followed by two hex digits; leaves it alone otherwise.
 * Returns 0 or -SK_ENOMEM. Never blocks.
 */
int
sk_http_urldecode_arg(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                      bool *invalid)
{
    uint8_t *d = sk_arena_alloc(a, in.len + 1);
    if (d == NULL)
        return -SK_ENOMEM;
    *out = sk_str_make(d, urldecode_into(d, in, invalid));
    return 0;
}

/* Decodes a non-empty `in` at *off in `buf`; an empty one is "". */
static struct sk_str
decode_part(uint8_t *buf, size_t *off, struct sk_str in, bool *invalid)
{
    if (in.len == 0)
        return sk_str_make("", 0);
    uint8_t *d = buf + *off;
    size_t n = urldecode_into(d, in, invalid);
    *off += n + 1;
    return sk_str_make(d, n);
}

/*
 * Splits `in` on `sep` and emits decoded pairs through `fn` (see this
 * file's header comment for the exact rules). Returns 0, the first
 * non-zero value `fn` returned, -SK_ELIMIT when there are more than
 * `max_pairs` elements (the first `max_pairs` have been emitted), or
 * -SK_ENOMEM. Decoded strings live in `a`, all in one allocation: an
 * element's non-empty name and value with their NULs take at most its
 * length + 1 bytes, so the elements take at most in.len + 1. *invalid
 * (when not NULL) is set if any name or value held an invalid '%'
 * sequence (URLENCODED_ERROR). Never blocks.
 */
int
sk_http_parse_urlencoded_ex(struct sk_arena *a, struct sk_str in, char sep,
                            size_t max_pairs, sk_http_pair_fn fn, void *ud,
                            bool *invalid)
{
    if (in.len == 0)
        return 0;
    uint8_t *buf = sk_arena_alloc(a, in.len + 1);
    if (buf == NULL)
        return -SK_ENOMEM;
    size_t off = 0;
    size_t npairs = 0;
    size_t i = 0;
    while (i < in.len) {
        size_t s = i;
        const uint8_t *at = memchr(in.p + i, (uint8_t)sep, in.len - i);
        i = at != NULL ? (size_t)(at - in.p) : in.len;
        struct sk_str el = sk_str_make(in.p + s, i - s);
        if (i < in.len)
            i++; /* the separator */
        if (npairs == max_pairs)
            return -SK_ELIMIT;
        npairs++;
        const uint8_t *eqp = el.len > 0 ? memchr(el.p, '=', el.len) : NULL;
        size_t eq = eqp != NULL ? (size_t)(eqp - el.p) : el.len;
        struct sk_str rn = sk_str_make(el.p, eq);
        struct sk_str rv = eq < el.len
                               ? sk_str_make(el.p + eq + 1, el.len - eq - 1)
                               : sk_str_make(el.p + el.len, 0);
        struct sk_str name = decode_part(buf, &off, rn, invalid);
        struct sk_str value = decode_part(buf, &off, rv, invalid);
        int rc = fn(ud, name, value);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* As sk_http_parse_urlencoded_ex() without the invalid flag. */
int
sk_http_parse_urlencoded(struct sk_arena *a, struct sk_str in, char sep,
                         size_t max_pairs, sk_http_pair_fn fn, void *ud)
{
    return sk_http_parse_urlencoded_ex(a, in, sep, max_pairs, fn, ud, NULL);
}

/*
 * Splits a Cookie header value into name/value views of `in` (no
 * decoding) with ModSecurity v3 semantics and emits them through `fn`.
 * `a` is unused today (kept for symmetry with the other parsers). Returns
 * 0, the first non-zero value of `fn`, or -SK_ELIMIT past `max_pairs`
 * cookies. Never blocks.
 */
int
sk_http_parse_cookies(struct sk_arena *a, struct sk_str in, size_t max_pairs,
                      sk_http_pair_fn fn, void *ud)
{
    (void)a;
    size_t npairs = 0;
    size_t i = 0;
    while (i < in.len) {
        size_t s = i;
        while (i < in.len && in.p[i] != ';')
            i++;
        size_t e = i;
        bool last = i >= in.len || i + 1 >= in.len;
        if (i < in.len)
            i++;
        if (last) {
            /* Optional whitespace after the final cookie-pair. */
            while (e > s && is_c_space(in.p[e - 1]))
                e--;
        }
        if (e == s)
            continue;
        size_t eq = e;
        for (size_t k = s; k < e; k++) {
            if (in.p[k] == '=') {
                eq = k;
                break;
            }
        }
        size_t ns = s;
        while (ns < eq && is_c_space(in.p[ns]))
            ns++;
        if (ns == eq)
            continue;
        if (npairs == max_pairs)
            return -SK_ELIMIT;
        npairs++;
        struct sk_str name = sk_str_make(in.p + ns, eq - ns);
        struct sk_str value = eq < e ? sk_str_make(in.p + eq + 1, e - eq - 1)
                                     : sk_str_make(in.p + e, 0);
        int rc = fn(ud, name, value);
        if (rc != 0)
            return rc;
    }
    return 0;
}
