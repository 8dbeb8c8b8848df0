/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Diagnostics for loaders (configuration, rules, baselines). A loader
 * reports every error it finds with file:line:col and fails at the end, so
 * an operator sees all the problems of a file at once.
 */
#ifndef SK_UTIL_DIAG_H
#define SK_UTIL_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#include "util/buf.h"

struct sk_loc {
    const char *file; /* owned by whoever built the location (an arena) */
    unsigned line;
    unsigned col;
};

struct sk_diag {
    struct sk_buf text; /* every message, one per line */
    unsigned errors;
    unsigned warnings;
};

/* Zeroed is ready; sk_diag_fini() frees the text. */
void sk_diag_fini(struct sk_diag *d);

/*
 * Records "file:line:col: error: message". A NULL loc omits the position.
 * Out of memory while recording still counts the error.
 */
void sk_diag_error(struct sk_diag *d, const struct sk_loc *loc, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));
void sk_diag_warn(struct sk_diag *d, const struct sk_loc *loc, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));

/* Returns the collected messages as a C string ("" when none). */
const char *sk_diag_text(struct sk_diag *d);

static inline bool
sk_diag_failed(const struct sk_diag *d)
{
    return d->errors > 0;
}

#endif
