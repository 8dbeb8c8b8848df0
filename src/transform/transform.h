/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transformations (`t:name`), byte-exact with ModSecurity v3 (and v2 where
 * the CRS regression suite expects v2). Each is a pure function over a
 * byte view: it never modifies its input, allocates its output (if any)
 * from the transaction arena, and sets *changed when the output differs
 * from the input. When nothing changes, *out may simply equal `in`.
 */
#ifndef SK_TRANSFORM_TRANSFORM_H
#define SK_TRANSFORM_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/str.h"

/* Returns 0, or -SK_ENOMEM when the arena is exhausted. Never blocks. */
typedef int (*sk_transform_fn)(struct sk_arena *a, struct sk_str in,
                               struct sk_str *out, bool *changed);

struct sk_transform_def {
    const char *name; /* canonical spelling, e.g. "urlDecodeUni" */
    sk_transform_fn fn;
    const char *doc;  /* one line for the configuration reference */
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

#endif
