/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the transformations: runs every transformation of
 * the table on the input, then a chain of up to four of them chosen by
 * the first bytes, and checks the invariants each one promises (input
 * untouched, exact `changed`, size bounds, character classes of the
 * output, round trips of the encoders, the same result with the fast
 * paths switched off). A broken invariant aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transform/transform.h"
#include "util/arena.h"

extern bool sk__tfn_slow_only; /* src/transform/tfn_internal.h */

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

static bool
is_ws(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool
named(const struct sk_transform_def *d, const char *name)
{
    return sk_transform_namecmp(d->name, name) == 0;
}

static struct sk_str
apply(struct sk_arena *a, const char *name, struct sk_str in)
{
    const struct sk_transform_def *d = sk_transform_find(name);
    CHECK(d != NULL && d->fn != NULL);
    struct sk_str out;
    bool changed;
    CHECK(d->fn(a, in, &out, &changed) == 0);
    return out;
}

static void
check_one(struct sk_arena *a, const struct sk_transform_def *d,
          struct sk_str in)
{
    uint8_t *copy = malloc(in.len + 1);
    CHECK(copy != NULL);
    if (in.len > 0)
        memcpy(copy, in.p, in.len);
    struct sk_str out = {NULL, 0};
    bool changed = false;
    CHECK(d->fn(a, in, &out, &changed) == 0);
    CHECK(in.len == 0 || memcmp(copy, in.p, in.len) == 0);
    free(copy);
    CHECK(out.len == 0 || out.p != NULL);
    CHECK(changed == !sk_str_eq(in, out));
    /* The fast paths give what the full transformation gives. */
    sk__tfn_slow_only = true;
    struct sk_str slow = {NULL, 0};
    bool slow_changed = false;
    CHECK(d->fn(a, in, &slow, &slow_changed) == 0);
    sk__tfn_slow_only = false;
    CHECK(slow_changed == changed && sk_str_eq(slow, out));

    size_t n = in.len;
    if (named(d, "urlEncode")) {
        CHECK(out.len <= 3 * n);
        for (size_t i = 0; i < out.len; i++) {
            uint8_t c = out.p[i];
            CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                  (c >= 'A' && c <= 'Z') || c == '*' || c == '+' || c == '%');
        }
    } else if (named(d, "hexEncode")) {
        CHECK(out.len == 2 * n);
        for (size_t i = 0; i < out.len; i++)
            CHECK((out.p[i] >= '0' && out.p[i] <= '9') ||
                  (out.p[i] >= 'a' && out.p[i] <= 'f'));
        CHECK(sk_str_eq(apply(a, "hexDecode", out), in));
    } else if (named(d, "base64Encode")) {
        CHECK(out.len == (n + 2) / 3 * 4);
        CHECK(sk_str_eq(apply(a, "base64Decode", out), in));
        CHECK(sk_str_eq(apply(a, "base64DecodeExt", out), in));
    } else if (named(d, "utf8toUnicode")) {
        CHECK(out.len <= 4 * n);
    } else if (named(d, "length")) {
        char num[32];
        snprintf(num, sizeof(num), "%zu", n);
        CHECK(sk_str_eq(out, sk_str_c(num)));
    } else if (named(d, "md5")) {
        CHECK(out.len == 16);
    } else if (named(d, "sha1")) {
        CHECK(out.len == 20);
    } else {
        /* Every other transformation only shrinks or keeps the size. */
        CHECK(out.len <= n);
    }

    if (named(d, "lowercase") || named(d, "cmdLine")) {
        for (size_t i = 0; i < out.len; i++)
            CHECK(!(out.p[i] >= 'A' && out.p[i] <= 'Z'));
    }
    if (named(d, "uppercase")) {
        for (size_t i = 0; i < out.len; i++)
            CHECK(!(out.p[i] >= 'a' && out.p[i] <= 'z'));
    }
    if (named(d, "cmdLine")) {
        for (size_t i = 0; i < out.len; i++)
            CHECK(strchr("\"'\\^,;\t\r\n", out.p[i]) == NULL || out.p[i] == 0);
        for (size_t i = 0; i + 1 < out.len; i++)
            CHECK(!(out.p[i] == ' ' && out.p[i + 1] == ' '));
    }
    if (named(d, "removeNulls") || named(d, "replaceNulls")) {
        CHECK(out.len == 0 || memchr(out.p, 0, out.len) == NULL);
        if (named(d, "replaceNulls"))
            CHECK(out.len == n);
    }
    if (named(d, "removeWhitespace")) {
        for (size_t i = 0; i < out.len; i++)
            CHECK(!is_ws(out.p[i]) && out.p[i] != 0xa0);
    }
    if (named(d, "compressWhitespace")) {
        for (size_t i = 0; i < out.len; i++) {
            CHECK(out.p[i] == ' ' || (!is_ws(out.p[i]) && out.p[i] != 0xa0));
            if (i > 0)
                CHECK(!(out.p[i] == ' ' && out.p[i - 1] == ' '));
        }
    }
    if (named(d, "trim") || named(d, "trimLeft"))
        CHECK(out.len == 0 || !is_ws(out.p[0]));
    if (named(d, "trim") || named(d, "trimRight"))
        CHECK(out.len == 0 || !is_ws(out.p[out.len - 1]));
    if (named(d, "parityZero7bit") || named(d, "parityEven7bit") ||
        named(d, "parityOdd7bit") || named(d, "lowercase") ||
        named(d, "uppercase"))
        CHECK(out.len == n);
    if (named(d, "parityZero7bit")) {
        for (size_t i = 0; i < out.len; i++)
            CHECK(out.p[i] < 0x80);
    }
    if (named(d, "urlDecode") || named(d, "urlDecodeUni")) {
        /* Without '%' and '+' nothing decodes. */
        if (memchr(in.p, '%', n) == NULL && memchr(in.p, '+', n) == NULL)
            CHECK(!changed || n == 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    size_t count;
    const struct sk_transform_def *t = sk_transform_table(&count);
    struct sk_str in = sk_str_make(size > 0 ? data : (const uint8_t *)"", size);
    for (size_t i = 0; i < count; i++)
        if (t[i].fn != NULL)
            check_one(a, &t[i], in);

    /* A chain chosen by the first bytes, as rules chain t: actions. */
    size_t skip = size < 4 ? size : 4;
    struct sk_str v = sk_str_make(in.p + skip, size - skip);
    for (size_t k = 0; k < skip; k++) {
        const struct sk_transform_def *d = &t[data[k] % count];
        if (d->fn == NULL)
            continue;
        check_one(a, d, v);
        struct sk_str next;
        bool changed;
        CHECK(d->fn(a, v, &next, &changed) == 0);
        /* Keep chains from growing without bound (hexEncode, ...). */
        if (next.len > 4096)
            break;
        v = next;
    }
    sk_arena_free(a);
    return 0;
}
