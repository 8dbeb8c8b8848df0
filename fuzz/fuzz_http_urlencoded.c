/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the argument parsers: sk_http_urldecode_arg(),
 * sk_http_parse_urlencoded() and sk_http_parse_cookies(). The first byte
 * picks the argument separator. Decoded output can never be longer than
 * its input, and cookie views must lie inside the input. Each pair of
 * the urlencoded parser must equal what a plain split of the input and
 * sk_http_urldecode_arg() on both sides give, NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    struct sk_str in;
    size_t n;
    size_t bytes;
    /* the reference split: where the next element starts */
    struct sk_arena *a;
    char sep;
    size_t pos;
};

static void
same(struct sk_arena *a, struct sk_str raw, struct sk_str got)
{
    struct sk_str want;
    if (sk_http_urldecode_arg(a, raw, &want, NULL) != 0)
        return; /* out of memory: nothing to compare */
    if (got.p == NULL || got.p[got.len] != '\0' || got.len != want.len ||
        (want.len > 0 && memcmp(got.p, want.p, want.len) != 0))
        abort();
}

static int
on_arg(void *ud, struct sk_str name, struct sk_str value)
{
    struct ctx *c = ud;
    c->n++;
    c->bytes += name.len + value.len;
    if (c->bytes > c->in.len)
        abort();
    if (c->pos >= c->in.len)
        abort(); /* a pair the plain split does not have */
    size_t s = c->pos, e = s;
    while (e < c->in.len && c->in.p[e] != (uint8_t)c->sep)
        e++;
    c->pos = e < c->in.len ? e + 1 : e;
    size_t eq = s;
    while (eq < e && c->in.p[eq] != '=')
        eq++;
    same(c->a, sk_str_make(c->in.p + s, eq - s), name);
    same(c->a,
         eq < e ? sk_str_make(c->in.p + eq + 1, e - eq - 1)
                : sk_str_make(c->in.p + e, 0),
         value);
    return 0;
}

static int
on_cookie(void *ud, struct sk_str name, struct sk_str value)
{
    struct ctx *c = ud;
    const uint8_t *lo = c->in.p, *hi = c->in.p + c->in.len;
    if (name.len == 0 || name.p < lo || name.p + name.len > hi)
        abort();
    if (value.len > 0 && (value.p < lo || value.p + value.len > hi))
        abort();
    c->n++;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char seps[] = {'&', ';', '|', ','};
    char sep = seps[data[0] & 3];
    struct sk_str in = sk_str_make(data + 1, size - 1);
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    struct sk_str out;
    bool invalid = false;
    if (sk_http_urldecode_arg(a, in, &out, &invalid) == 0 && out.len > in.len)
        abort();
    struct ctx c = {in, 0, 0, a, sep, 0};
    int rc = sk_http_parse_urlencoded_ex(a, in, sep, 64, on_arg, &c, &invalid);
    if (rc != 0 && rc != -SK_ELIMIT && rc != -SK_ENOMEM)
        abort();
    if (c.n > 64 || (rc == 0 && c.pos != in.len))
        abort(); /* too many pairs, or some of the split's missing */
    struct ctx k = {in, 0, 0, a, sep, 0};
    rc = sk_http_parse_cookies(a, in, 32, on_cookie, &k);
    if ((rc != 0 && rc != -SK_ELIMIT) || k.n > 32)
        abort();
    sk_arena_free(a);
    return 0;
}
