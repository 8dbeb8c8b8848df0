/* SPDX-License-Identifier: Apache-2.0 */
/*
 * @ipMatch and @ipMatchFromFile: is the input an IP address inside one of
 * a set of IPv4 / IPv6 networks?
 *
 * List syntax (v3's): entries separated by commas; an entry holding ':'
 * is IPv6, otherwise IPv4; "addr" or "addr/prefix". We also allow blanks
 * around entries and empty entries (",,"), and, unlike v3, a /0 prefix.
 * Host bits after the prefix are cleared (10.1.2.3/8 is 10.0.0.0/8). In a
 * file, '#' starts a comment that runs to the end of the line, and each
 * line is such a list.
 *
 * The set is stored as arrays sorted by (prefix length, address) with one
 * run per distinct prefix length, so a lookup is a binary search per
 * prefix length present (at most 33 for IPv4, 129 for IPv6).
 */
#include "operator/op_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

/* Longest address text we parse: a full IPv6 with an embedded IPv4. */
#define IP_TEXT_MAX 64

struct ip_builder {
    struct sk__ip4 *v4;
    size_t n4, cap4;
    struct sk__ip6 *v6;
    size_t n6, cap6;
};

static uint32_t
mask4(uint8_t plen)
{
    return plen == 0 ? 0 : UINT32_MAX << (32 - plen);
}

static void
mask6(uint8_t a[16], uint8_t plen)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = plen > i * 8 ? plen - i * 8 : 0;
        if (bits < 8)
            a[i] &= (uint8_t)(0xFF00u >> bits);
    }
}

static int
grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    if (n >= SK_OP_MAX_IP_ENTRIES)
        return -SK_ELIMIT;
    size_t ncap = *cap ? *cap * 2 : 16, bytes;
    if (sk_size_mul(ncap, elem, &bytes) != 0)
        return -SK_ENOMEM;
    void *p = sk_realloc(*v, bytes);
    if (p == NULL)
        return -SK_ENOMEM;
    *v = p;
    *cap = ncap;
    return 0;
}

/* Parses one entry s[0..len) (already trimmed, not empty). */
static int
add_entry(struct ip_builder *b, const char *s, size_t len, char *err,
          size_t errlen)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    bool v6 = memchr(s, ':', len) != NULL;
    unsigned max = v6 ? 128 : 32, plen = max;
    char text[IP_TEXT_MAX];
    int shown = (int)(len > 60 ? 60 : len);

    if (slash != NULL) {
        const char *p = slash + 1;
        size_t plen_len = len - alen - 1;
        plen = 0;
        bool ok = plen_len > 0 && plen_len <= 3;
        for (size_t i = 0; ok && i < plen_len; i++) {
            if (p[i] < '0' || p[i] > '9')
                ok = false;
            else
                plen = plen * 10 + (unsigned)(p[i] - '0');
        }
        if (!ok || plen > max) {
            snprintf(err, errlen, "bad prefix length in \"%.*s\" (0-%u)", shown,
                     s, max);
            return -SK_EPARSE;
        }
    }
    if (alen == 0 || alen >= sizeof(text)) {
        snprintf(err, errlen, "\"%.*s\" is not an IP address or network", shown,
                 s);
        return -SK_EPARSE;
    }
    memcpy(text, s, alen);
    text[alen] = '\0';
    int rc;
    if (v6) {
        struct sk__ip6 e;
        if (inet_pton(AF_INET6, text, e.addr) != 1) {
            snprintf(err, errlen, "\"%.*s\" is not an IPv6 address", shown, s);
            return -SK_EPARSE;
        }
        e.plen = (uint8_t)plen;
        mask6(e.addr, e.plen);
        rc = grow((void **)&b->v6, &b->cap6, b->n6, sizeof(e));
        if (rc == 0)
            b->v6[b->n6++] = e;
    } else {
        struct in_addr a;
        if (inet_pton(AF_INET, text, &a) != 1) {
            snprintf(err, errlen, "\"%.*s\" is not an IPv4 address", shown, s);
            return -SK_EPARSE;
        }
        struct sk__ip4 e = {ntohl(a.s_addr) & mask4((uint8_t)plen),
                            (uint8_t)plen};
        rc = grow((void **)&b->v4, &b->cap4, b->n4, sizeof(e));
        if (rc == 0)
            b->v4[b->n4++] = e;
    }
    if (rc == -SK_ELIMIT)
        snprintf(err, errlen, "more than %d networks", SK_OP_MAX_IP_ENTRIES);
    return rc;
}

/* Adds every comma-separated entry of s[0..len). */
static int
add_list(struct ip_builder *b, const char *s, size_t len, char *err,
         size_t errlen)
{
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && s[end] != ',')
            end++;
        size_t lo = i, hi = end;
        while (lo < hi && sk__op_space((uint8_t)s[lo]))
            lo++;
        while (hi > lo && sk__op_space((uint8_t)s[hi - 1]))
            hi--;
        if (hi > lo) {
            int rc = add_entry(b, s + lo, hi - lo, err, errlen);
            if (rc != 0)
                return rc;
        }
        i = end + 1;
    }
    return 0;
}

static int
cmp4(const void *a, const void *b)
{
    const struct sk__ip4 *x = a, *y = b;
    if (x->plen != y->plen)
        return x->plen < y->plen ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int
cmp6(const void *a, const void *b)
{
    const struct sk__ip6 *x = a, *y = b;
    if (x->plen != y->plen)
        return x->plen < y->plen ? -1 : 1;
    return memcmp(x->addr, y->addr, 16);
}

/* Sorts `n` entries into `cfg`, merging duplicates, and builds the runs
 * of equal prefix length. */
static int
finish(struct sk_arena *cfg, void *src, size_t n, size_t elem,
       int (*cmp)(const void *, const void *), void **dst, size_t *dn,
       struct sk__ip_group **groups, size_t *ng)
{
    *dst = NULL;
    *dn = 0;
    *groups = NULL;
    *ng = 0;
    if (n == 0)
        return 0;
    qsort(src, n, elem, cmp);
    uint8_t *out = sk_arena_calloc(cfg, n, elem);
    struct sk__ip_group *g = sk_arena_calloc(cfg, 129, sizeof(*g));
    if (out == NULL || g == NULL)
        return -SK_ENOMEM;
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = (const uint8_t *)src + i * elem;
        if (m > 0 && cmp(out + (m - 1) * elem, e) == 0)
            continue;
        uint8_t plen = elem == sizeof(struct sk__ip4)
                           ? ((const struct sk__ip4 *)e)->plen
                           : ((const struct sk__ip6 *)e)->plen;
        if (k == 0 || g[k - 1].plen != plen) {
            g[k].plen = plen;
            g[k].start = m;
            k++;
        }
        g[k - 1].count++;
        memcpy(out + m * elem, e, elem);
        m++;
    }
    *dst = out;
    *dn = m;
    *groups = g;
    *ng = k;
    return 0;
}

/*
 * Compiles the network list (or, with `from_file`, the file) of `op`.
 * Returns 0, -SK_EPARSE, -SK_ENOENT, -SK_EIO, -SK_ELIMIT, -SK_ENOTSUP or
 * -SK_ENOMEM, with the message in `d`. Blocks on file I/O.
 */
int
sk__ip_compile(struct sk_arena *cfg, struct sk_op *op, bool from_file,
               const struct sk_op_config *conf, const struct sk_loc *loc,
               struct sk_diag *d)
{
    const char *opname = sk__op_kind_name(op->kind);
    const char *arg = (const char *)op->arg.p;
    struct ip_builder b = {0};
    char err[160] = "";
    size_t bad_line = 0;
    int rc;
    if (from_file) {
        char *data;
        size_t size;
        rc = sk__op_read_file(opname, arg, conf, loc, d, &data, &size);
        if (rc != 0)
            return rc;
        size_t line = 0;
        for (size_t i = 0; i < size && rc == 0;) {
            size_t end = i;
            while (end < size && data[end] != '\n')
                end++;
            line++;
            const char *hash = memchr(data + i, '#', end - i);
            size_t stop = hash ? (size_t)(hash - data) : end;
            rc = add_list(&b, data + i, stop - i, err, sizeof(err));
            if (rc != 0)
                bad_line = line;
            i = end + 1;
        }
        sk_free(data);
        if (rc == 0 && b.n4 + b.n6 == 0)
            sk_diag_warn(d, loc,
                         "@%s: %s holds no network; the rule never "
                         "matches",
                         opname, arg);
    } else {
        rc = add_list(&b, arg, op->arg.len, err, sizeof(err));
        if (rc == 0 && b.n4 + b.n6 == 0) {
            snprintf(err, sizeof(err), "needs at least one address");
            rc = -SK_EPARSE;
        }
    }
    if (rc == 0) {
        struct sk__ipset *set = &op->u.ip;
        rc = finish(cfg, b.v4, b.n4, sizeof(*b.v4), cmp4, (void **)&set->v4,
                    &set->n4, &set->g4, &set->ng4);
        if (rc == 0)
            rc = finish(cfg, b.v6, b.n6, sizeof(*b.v6), cmp6, (void **)&set->v6,
                        &set->n6, &set->g6, &set->ng6);
    }
    if (rc != 0 && err[0] != '\0' && bad_line != 0)
        sk_diag_error(d, loc, "@%s %s: line %zu: %s", opname, arg, bad_line,
                      err);
    else if (rc != 0 && err[0] != '\0')
        sk_diag_error(d, loc, "@%s %s: %s", opname, arg, err);
    sk_free(b.v4);
    sk_free(b.v6);
    return rc;
}

static bool
find4(const struct sk__ip4 *v, size_t n, uint32_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].addr == key)
            return true;
        if (v[mid].addr < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool
find6(const struct sk__ip6 *v, size_t n, const uint8_t key[16])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v[mid].addr, key, 16);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/*
 * True when `input` is exactly an IPv4 or IPv6 address (inet_pton syntax,
 * no blanks, no zone) inside one of the networks of `set`. Anything else,
 * including a NUL byte, is no match.
 */
bool
sk__ip_match(const struct sk__ipset *set, struct sk_str input)
{
    char text[IP_TEXT_MAX];
    if (input.len == 0 || input.len >= sizeof(text) ||
        memchr(input.p, '\0', input.len) != NULL)
        return false;
    memcpy(text, input.p, input.len);
    text[input.len] = '\0';
    if (memchr(text, ':', input.len) == NULL) {
        struct in_addr a;
        if (inet_pton(AF_INET, text, &a) != 1)
            return false;
        uint32_t ip = ntohl(a.s_addr);
        for (size_t g = 0; g < set->ng4; g++) {
            const struct sk__ip_group *grp = &set->g4[g];
            if (find4(set->v4 + grp->start, grp->count, ip & mask4(grp->plen)))
                return true;
        }
        return false;
    }
    uint8_t ip[16];
    if (inet_pton(AF_INET6, text, ip) != 1)
        return false;
    for (size_t g = 0; g < set->ng6; g++) {
        const struct sk__ip_group *grp = &set->g6[g];
        uint8_t key[16];
        memcpy(key, ip, 16);
        mask6(key, grp->plen);
        if (find6(set->v6 + grp->start, grp->count, key))
            return true;
    }
    return false;
}
