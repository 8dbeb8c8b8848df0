/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transformations (`t:name`), byte-exact with ModSecurity. Where v2 and v3
 * disagree we follow v2 (what CRS 3.3.4's regression suite was built on),
 * except where v2 depends on NUL-terminated strings; every such choice is
 * listed in docs/transformations.md. Each is a pure function over a
 * byte view: it never modifies its input, allocates its output (if any)
 * from the transaction arena, and sets *changed when the output differs
 * from the input. When nothing changes, *out may simply equal `in`.
 *
 * Ownership: *out is either allocated from the arena `a` (valid until the
 * arena is freed or reset) or a view of `in` itself or of a sub-range of
 * it (trimLeft, removeComments, ... return a shorter view without
 * copying): the caller keeps both alive while it uses *out. Inputs are
 * binary: NUL bytes are ordinary data. Every transformation runs in time
 * linear in its input and allocates at most a small multiple of it (see
 * SK_TRANSFORM_MAX_EXPANSION). *changed is exact: it is true if and only
 * if the output bytes differ from the input bytes.
 */
#ifndef SK_TRANSFORM_TRANSFORM_H
#define SK_TRANSFORM_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/str.h"

/*
 * Worst-case ratio of output to input size over all transformations
 * (utf8toUnicode and urlEncode; fixed-size outputs such as digests
 * aside). Callers that cap memory per value can budget with it.
 */
#define SK_TRANSFORM_MAX_EXPANSION 4

/*
 * Returns 0, or -SK_ENOMEM when the arena is exhausted (or -SK_ELIMIT if
 * the output size would overflow size_t; -SK_ENOTSUP from md5/sha1 when
 * libcrypto refuses the digest, e.g. MD5 under a FIPS-only provider).
 * Never blocks.
 */
typedef int (*sk_transform_fn)(struct sk_arena *a, struct sk_str in,
                               struct sk_str *out, bool *changed);

struct sk_transform_def {
    const char *name; /* canonical spelling, e.g. "urlDecodeUni" */
    sk_transform_fn fn;
    const char *doc; /* one line for the configuration reference */
};

/*
 * Looks a transformation up by name, ASCII case-insensitively, including
 * the spellings ModSecurity accepts as aliases (normalisePath and
 * normalizePath, ...). Returns a pointer into a static table, or NULL.
 * `none` is in the table with fn == NULL: the compiler treats it as "drop
 * the transformations so far".
 */
const struct sk_transform_def *sk_transform_find(const char *name);

/* The whole sorted table, for the documentation and duplicate checks. */
const struct sk_transform_def *sk_transform_table(size_t *count);

/*
 * The i-th alternative spelling accepted by sk_transform_find(), or NULL
 * past the last one; *name receives the canonical name it stands for.
 * Static strings; never blocks.
 */
const char *sk_transform_alias(size_t i, const char **name);

/*
 * The order of the table: ASCII case-insensitive, like strcasecmp() in
 * the "C" locale. Returns <0, 0 or >0. Never blocks.
 */
int sk_transform_namecmp(const char *a, const char *b);

#endif
