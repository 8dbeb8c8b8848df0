/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maintenance mode in the state the master shares with its workers: the
 * URL paths the proxy answers 503 on, written by the master (control
 * socket) under a seqlock and read lock-free by every worker on every
 * request.
 *
 * Paths are compared after normalization, so that a client cannot walk
 * around a maintenance path by spelling it differently than the operator
 * did: percent-encoded unreserved bytes are decoded (`%2e` is `.`, `%7E`
 * is `~`), the remaining percent-encodings get upper-case hex digits, dot
 * segments are resolved (RFC 3986 5.2.4) and repeated slashes collapse.
 * Because upstreams differ in whether they decode `%2F` in a path (PHP's
 * built-in server and nginx do), a request also matches when its fully
 * decoded form falls under a maintenance path. A maintenance path covers
 * itself and everything below it as path segments: `/pay/` covers `/pay`,
 * `/pay/` and `/pay/x.php`; `/pay/x.php` covers `/pay/x.php/anything`
 * too, since PHP runs x.php for such a PATH_INFO request. Erring towards
 * a 503 is the safe side of this decision.
 */
#include "proxy/proxy.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"

/* Tries a reader makes while the master writes before it gives up on a
 * consistent snapshot (a write takes microseconds). */
#define MAINT_READ_SPINS 4096

/* Request paths up to this many bytes are normalized on the stack. */
#define NORM_STACK 4096

static bool
is_unreserved(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
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
 * Drops an absolute-form prefix ("http://host") and everything from '?'
 * or '#' on; the result is the path part of a request target.
 */
static struct sk_str
path_part(struct sk_str in)
{
    static const char *const schemes[] = {"http://", "https://"};
    for (size_t s = 0; s < 2; s++) {
        size_t n = strlen(schemes[s]);
        if (in.len >= n &&
            sk_str_eq_c_nocase(sk_str_make(in.p, n), schemes[s])) {
            size_t i = n;
            while (i < in.len && in.p[i] != '/' && in.p[i] != '?' &&
                   in.p[i] != '#')
                i++;
            in = sk_str_make(in.p + i, in.len - i);
            break;
        }
    }
    for (size_t i = 0; i < in.len; i++)
        if (in.p[i] == '?' || in.p[i] == '#')
            return sk_str_make(in.p, i);
    return in;
}

/* Room normalize() needs for an input of n bytes. */
#define NORM_ROOM(n) (3 * (n) + 1)

/*
 * Normalizes the path `in` into `out` (room for NORM_ROOM(in.len) bytes:
 * a bare '%' becomes "%25", and a leading '/' may be added). `full`
 * decodes every percent-encoding instead of only unreserved bytes.
 * Returns the length written; the result always starts with '/'. Without
 * `full` the result is its own normal form (normalizing it again gives
 * it back), which is what lets a stored path match itself.
 */
static size_t
normalize(struct sk_str in, bool full, uint8_t *out)
{
    /* Pass 1: percent-decoding into out. */
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        if (c == '%' && i + 2 < in.len) {
            int h = hexval(in.p[i + 1]), l = hexval(in.p[i + 2]);
            if (h >= 0 && l >= 0) {
                unsigned v = (unsigned)(h << 4 | l);
                if (full || is_unreserved(v)) {
                    out[n++] = (uint8_t)v;
                } else {
                    out[n++] = '%';
                    out[n++] = (uint8_t)hex[v >> 4];
                    out[n++] = (uint8_t)hex[v & 15];
                }
                i += 2;
                continue;
            }
        }
        if (c == '%' && !full) {
            /* A '%' that starts no escape is a literal percent sign. */
            out[n++] = '%';
            out[n++] = '2';
            out[n++] = '5';
            continue;
        }
        out[n++] = c;
    }
    /*
     * Pass 2, in place: segments. The write position w never passes the
     * read position r, since every segment written was read first and
     * the only byte added is the leading '/' (the output starts with '/'
     * where the input may not, so the decoded bytes are shifted right by
     * one first).
     */
    memmove(out + 1, out, n);
    size_t r = 1, end = n + 1, w = 0;
    bool trailing = false;
    while (r < end) {
        size_t s = r;
        while (r < end && out[r] != '/')
            r++;
        size_t sl = r - s;
        bool more = r < end; /* a '/' follows */
        if (more)
            r++;
        if (sl == 0) {
            /* Empty segment: a repeated, leading or trailing slash. */
            trailing = true;
            continue;
        }
        if (sl == 1 && out[s] == '.') {
            trailing = true;
            continue;
        }
        if (sl == 2 && out[s] == '.' && out[s + 1] == '.') {
            while (w > 0 && out[w - 1] != '/')
                w--;
            if (w > 0)
                w--; /* the '/' before the popped segment */
            trailing = true;
            continue;
        }
        out[w++] = '/';
        memmove(out + w, out + s, sl);
        w += sl;
        trailing = more;
    }
    if (w == 0 || trailing)
        out[w++] = '/';
    return w;
}

/* A maintenance path S (normalized) covers R: R is S without its final
 * '/', or R starts with that followed by '/'. "/" covers everything. */
static bool
covers(const uint8_t *s, size_t sl, const uint8_t *r, size_t rl)
{
    if (sl > 1 && s[sl - 1] == '/')
        sl--;
    if (sl == 1 && s[0] == '/')
        return true;
    if (rl < sl || memcmp(s, r, sl) != 0)
        return false;
    return rl == sl || r[sl] == '/';
}

int
sk_proxy_maint_set(struct sk_proxy_maint *m, bool on, const char *const *paths,
                   size_t n, const char *reason, const char *file)
{
    /* Normalize first, so that a bad request changes nothing. */
    if (n > SK_PROXY_MAINT_MAX)
        return -SK_ELIMIT;
    char(*norm)[SK_PROXY_MAINT_PATH] = NULL;
    if (n > 0) {
        norm = calloc(n, sizeof(*norm));
        if (norm == NULL)
            return -SK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(paths[i]);
        if (len == 0 || paths[i][0] != '/' ||
            memchr(paths[i], '?', len) != NULL ||
            memchr(paths[i], '#', len) != NULL) {
            free(norm);
            return -SK_EINVAL;
        }
        if (len >= SK_PROXY_MAINT_PATH) {
            free(norm);
            return -SK_ELIMIT;
        }
        uint8_t tmp[NORM_ROOM(SK_PROXY_MAINT_PATH)];
        size_t l = normalize(sk_str_make(paths[i], len), false, tmp);
        if (l >= SK_PROXY_MAINT_PATH || memchr(tmp, 0, l) != NULL) {
            free(norm);
            return l >= SK_PROXY_MAINT_PATH ? -SK_ELIMIT : -SK_EINVAL;
        }
        memcpy(norm[i], tmp, l);
        norm[i][l] = '\0';
    }
    if (on && n == 0) {
        free(norm);
        return -SK_EINVAL;
    }

    /* The new list, built aside; then one write under the seqlock. */
    char(*list)[SK_PROXY_MAINT_PATH] =
        malloc(sizeof(char[SK_PROXY_MAINT_MAX][SK_PROXY_MAINT_PATH]));
    if (list == NULL) {
        free(norm);
        return -SK_ENOMEM;
    }
    size_t cnt = 0;
    uint32_t cur = m->n <= SK_PROXY_MAINT_MAX ? m->n : SK_PROXY_MAINT_MAX;
    if (!(!on && n == 0)) {
        for (size_t i = 0; i < cur; i++) {
            bool drop = false;
            for (size_t j = 0; !on && j < n; j++)
                drop = drop || strcmp(m->paths[i], norm[j]) == 0;
            if (!drop)
                memcpy(list[cnt++], m->paths[i], SK_PROXY_MAINT_PATH);
        }
    }
    for (size_t j = 0; on && j < n; j++) {
        bool dup = false;
        for (size_t i = 0; i < cnt && !dup; i++)
            dup = strcmp(list[i], norm[j]) == 0;
        if (dup)
            continue;
        if (cnt == SK_PROXY_MAINT_MAX) {
            free(list);
            free(norm);
            return -SK_ELIMIT;
        }
        memcpy(list[cnt++], norm[j], SK_PROXY_MAINT_PATH);
    }
    free(norm);

    uint32_t seq = atomic_load_explicit(&m->seq, memory_order_relaxed);
    atomic_store_explicit(&m->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    bool was_on = m->n > 0;
    memset(m->paths, 0, sizeof(m->paths));
    memcpy(m->paths, list, cnt * SK_PROXY_MAINT_PATH);
    m->n = (uint32_t)cnt;
    if (cnt == 0) {
        m->reason[0] = '\0';
        m->file[0] = '\0';
        m->since = 0;
    } else if (on) {
        if (reason != NULL)
            snprintf(m->reason, sizeof(m->reason), "%s", reason);
        if (file != NULL)
            snprintf(m->file, sizeof(m->file), "%s", file);
        if (!was_on)
            m->since = (int64_t)time(NULL);
    }
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&m->seq, seq + 2, memory_order_release);
    free(list);
    return 0;
}

/* One unsynchronized pass over the table; the caller validates it. */
static bool
match_pass(const struct sk_proxy_maint *m, const uint8_t *rn, size_t rnl,
           const uint8_t *rf, size_t rfl)
{
    uint32_t n = m->n;
    if (n > SK_PROXY_MAINT_MAX)
        n = SK_PROXY_MAINT_MAX;
    for (uint32_t i = 0; i < n; i++) {
        char p[SK_PROXY_MAINT_PATH];
        memcpy(p, m->paths[i], sizeof(p));
        p[sizeof(p) - 1] = '\0';
        size_t pl = strlen(p);
        if (pl == 0)
            continue;
        if (covers((const uint8_t *)p, pl, rn, rnl))
            return true;
        /* The fully decoded request against the fully decoded path. */
        uint8_t pf[NORM_ROOM(SK_PROXY_MAINT_PATH)];
        size_t pfl = p[0] == '/' && memchr(p, '%', pl) == NULL
                         ? (memcpy(pf, p, pl), pl)
                         : normalize(sk_str_make(p, pl), true, pf);
        if (covers(pf, pfl, rf, rfl))
            return true;
    }
    return false;
}

bool
sk_proxy_maint_match(const struct sk_proxy_maint *m, struct sk_str path)
{
    /* The common case: maintenance is off. */
    uint32_t s0 = atomic_load_explicit(&m->seq, memory_order_acquire);
    if ((s0 & 1) == 0 && m->n == 0) {
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&m->seq, memory_order_relaxed) == s0)
            return false;
    }
    struct sk_str p = path_part(path);
    uint8_t stack[2][NORM_ROOM(NORM_STACK)];
    uint8_t *rn = stack[0], *rf = stack[1], *heap = NULL;
    if (p.len > NORM_STACK) {
        heap = malloc(2 * NORM_ROOM(p.len));
        if (heap == NULL)
            return true; /* fail closed: the path cannot be checked */
        rn = heap;
        rf = heap + NORM_ROOM(p.len);
    }
    size_t rnl = normalize(p, false, rn);
    size_t rfl = normalize(p, true, rf);
    /*
     * Fail closed: a reader that cannot get a consistent snapshot after
     * MAINT_READ_SPINS tries (a writer that never stops, or one that died
     * mid-write) answers "in maintenance" rather than guess.
     */
    bool hit = true;
    for (unsigned spin = 0; spin < MAINT_READ_SPINS; spin++) {
        if (spin >= 64)
            sched_yield();
        uint32_t s = atomic_load_explicit(&m->seq, memory_order_acquire);
        if ((s & 1) != 0)
            continue;
        bool h = match_pass(m, rn, rnl, rf, rfl);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&m->seq, memory_order_relaxed) == s) {
            hit = h;
            break;
        }
    }
    free(heap);
    return hit;
}
