/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte-string views. Request data is binary (it may hold NUL bytes), so
 * nothing here relies on NUL termination: a view is a pointer and a length
 * and never owns its bytes.
 */
#ifndef SK_UTIL_STR_H
#define SK_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sk_str {
    const uint8_t *p;
    size_t len;
};

#define SK_STR_NULL ((struct sk_str){NULL, 0})
/* A view of a string literal, without its NUL. */
#define SK_STR_LIT(s) ((struct sk_str){(const uint8_t *)("" s), sizeof(s) - 1})

static inline struct sk_str
sk_str_make(const void *p, size_t len)
{
    struct sk_str s = {(const uint8_t *)p, len};
    return s;
}

/* A view of a NUL-terminated C string (which must not be NULL). */
static inline struct sk_str
sk_str_c(const char *s)
{
    return sk_str_make(s, strlen(s));
}

static inline bool
sk_str_eq(struct sk_str a, struct sk_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ASCII case-insensitive equality; other bytes compare exactly. */
bool sk_str_eq_nocase(struct sk_str a, struct sk_str b);

/* Equality with a C string, exact or ASCII case-insensitive. */
bool sk_str_eq_c(struct sk_str a, const char *c);
bool sk_str_eq_c_nocase(struct sk_str a, const char *c);

static inline uint8_t
sk_ascii_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Returns the offset of the first `needle` in `hay`, or -1. */
long sk_str_find(struct sk_str hay, struct sk_str needle);

/* Parses a decimal number without sign; -SK_EPARSE on junk or overflow. */
int sk_str_to_u64(struct sk_str s, uint64_t *out);

#endif
