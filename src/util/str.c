/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers over struct sk_str views. */
#include "util/str.h"

#include "util/error.h"

bool
sk_str_eq_nocase(struct sk_str a, struct sk_str b)
{
    if (a.len != b.len)
        return false;
    /* Most names compared are spelled alike (TX variables, headers). */
    if (a.len == 0 || memcmp(a.p, b.p, a.len) == 0)
        return true;
    /* No early exit: the loop vectorizes, and names are short. */
    unsigned diff = 0;
    for (size_t i = 0; i < a.len; i++)
        diff |= (unsigned)(sk_ascii_lower(a.p[i]) ^ sk_ascii_lower(b.p[i]));
    return diff == 0;
}

bool
sk_str_eq_c(struct sk_str a, const char *c)
{
    return sk_str_eq(a, sk_str_c(c));
}

bool
sk_str_eq_c_nocase(struct sk_str a, const char *c)
{
    return sk_str_eq_nocase(a, sk_str_c(c));
}

long
sk_str_find(struct sk_str hay, struct sk_str needle)
{
    if (needle.len == 0)
        return 0;
    if (needle.len > hay.len)
        return -1;
    for (size_t i = 0; i + needle.len <= hay.len; i++)
        if (hay.p[i] == needle.p[0] &&
            memcmp(hay.p + i, needle.p, needle.len) == 0)
            return (long)i;
    return -1;
}

int
sk_str_to_u64(struct sk_str s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.len == 0)
        return -SK_EPARSE;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -SK_EPARSE;
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(s.p[i] - '0'), &v))
            return -SK_EPARSE;
    }
    *out = v;
    return 0;
}
