/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori log verify` and the Merkle proofs. Verification walks the whole
 * log (segment headers, CRCs, sequence numbers, timestamps, hash chain),
 * checks the anchor and every checkpoint signature, recomputes the Merkle
 * root at every checkpoint size, and compares with trusted checkpoint
 * copies kept outside (syslog). It reports the first bad sequence number.
 */
#include "evlog/internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/error.h"

struct cpent {
    struct sk_evlog_checkpoint cp;
    bool trusted;
};

struct vctx {
    struct cpent *cps;
    size_t ncps, next;
    struct sk_evlog_verify_report *rep;
    uint64_t prev_ok; /* size of the last checkpoint that matched */
};

static void report_bad(struct sk_evlog_verify_report *r, uint64_t seq,
                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report_bad(struct sk_evlog_verify_report *r, uint64_t seq, const char *fmt, ...)
{
    if (r->bad_seq != 0 || r->why[0] != '\0')
        return;
    r->bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

static void note(struct sk_evlog_verify_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note(struct sk_evlog_verify_report *r, const char *fmt, ...)
{
    size_t used = strlen(r->note);
    if (used + 2 >= sizeof(r->note))
        return;
    if (used > 0)
        r->note[used++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note + used, sizeof(r->note) - used, fmt, ap);
    va_end(ap);
}

static int
cp_cmp(const void *a, const void *b)
{
    const struct cpent *x = a, *y = b;
    if (x->cp.size != y->cp.size)
        return x->cp.size < y->cp.size ? -1 : 1;
    return 0;
}

static int
check_cp(struct vctx *v, const struct sk__evlog_state *st)
{
    while (v->next < v->ncps && v->cps[v->next].cp.size <= st->fr.size) {
        struct cpent *e = &v->cps[v->next++];
        if (e->cp.size < st->fr.size)
            continue; /* before the anchor: nothing left to check it by */
        uint8_t root[SK_EVLOG_HASH_LEN];
        sk_evlog_frontier_root(&st->fr, root);
        if (memcmp(root, e->cp.root, SK_EVLOG_HASH_LEN) != 0 ||
            memcmp(st->chain, e->cp.chain, SK_EVLOG_HASH_LEN) != 0) {
            report_bad(v->rep, v->prev_ok + 1,
                       "%scheckpoint of %" PRIu64
                       " records: Merkle root or chain mismatch (records "
                       "%" PRIu64 "..%" PRIu64
                       " were changed, removed, inserted or reordered and "
                       "the chain rewritten)",
                       e->trusted ? "trusted " : "", e->cp.size, v->prev_ok + 1,
                       e->cp.size);
            return -SK_ECORRUPT;
        }
        v->rep->checkpoints++;
        v->prev_ok = e->cp.size;
    }
    return 0;
}

static int
on_record(void *ctx, const struct sk_evlog_record *rec,
          const struct sk__evlog_state *st)
{
    (void)rec;
    struct vctx *v = ctx;
    if (v->next < v->ncps && v->cps[v->next].cp.size <= st->fr.size)
        return check_cp(v, st);
    return 0;
}

static int
add_cp(struct vctx *v, size_t *cap, const struct sk_evlog_checkpoint *cp,
       bool trusted)
{
    if (v->ncps == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct cpent *n = sk_realloc(v->cps, nc * sizeof(*n));
        if (n == NULL)
            return -SK_ENOMEM;
        v->cps = n;
        *cap = nc;
    }
    v->cps[v->ncps].cp = *cp;
    v->cps[v->ncps].trusted = trusted;
    v->ncps++;
    return 0;
}

/* Reads checkpoint lines; in a trusted file they may sit inside syslog. */
static int
load_cps(struct vctx *v, size_t *cap, int dirfd, const char *name,
         const struct sk_evlog_key *k, bool trusted, bool strict)
{
    struct sk_buf b = {0};
    int rc = sk__evlog_read_file(dirfd, name, SK_EVLOG_MAX_SEGMENT, &b);
    if (rc == -SK_ENOENT && !trusted) {
        sk_buf_fini(&b);
        note(v->rep, "no checkpoints file");
        return 0;
    }
    if (rc != 0) {
        sk_buf_fini(&b);
        report_bad(v->rep, 0, "cannot read %s: %s", name, sk_strerror(rc));
        return rc;
    }
    size_t start = 0, lineno = 0;
    uint64_t prev_size = 0, prev_ts = 0;
    while (start < b.len && rc == 0) {
        size_t end = start;
        while (end < b.len && b.p[end] != '\n')
            end++;
        lineno++;
        struct sk_str line = sk_str_make(b.p + start, end - start);
        bool complete = end < b.len;
        start = end + 1;
        if (trusted) {
            long at = sk_str_find(line, SK_STR_LIT("SKCP1 "));
            if (at < 0)
                continue;
            line.p += at;
            line.len -= (size_t)at;
        } else if (!complete) {
            if (strict) {
                report_bad(v->rep, 0, "checkpoints: torn last line");
                rc = -SK_ECORRUPT;
            } else {
                note(v->rep, "checkpoints: torn last line (a crash while "
                             "writing it; the writer cuts it)");
            }
            break;
        }
        struct sk_evlog_checkpoint cp;
        int pr = sk_evlog_checkpoint_parse(line, k, &cp);
        if (pr != 0) {
            report_bad(v->rep, 0, "%s line %zu: checkpoint %s", name, lineno,
                       pr == -SK_ECORRUPT ? "signature or key id invalid"
                                          : "malformed");
            if (pr == -SK_ECORRUPT && cp.size > 0)
                v->rep->bad_seq = cp.size;
            rc = -SK_ECORRUPT;
            break;
        }
        if (!trusted && (cp.size < prev_size || cp.ts_ns < prev_ts)) {
            report_bad(v->rep, cp.size, "%s line %zu: checkpoints out of order",
                       name, lineno);
            rc = -SK_ECORRUPT;
            break;
        }
        prev_size = cp.size;
        prev_ts = cp.ts_ns;
        rc = add_cp(v, cap, &cp, trusted);
    }
    sk_buf_fini(&b);
    return rc;
}

static int
open_dir(const char *dir)
{
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int
load_pub(const char *dir, const char *path, struct sk_evlog_key **k,
         struct sk_evlog_verify_report *r)
{
    char p[PATH_MAX];
    if (path == NULL) {
        snprintf(p, sizeof(p), "%s/pubkey.pem", dir);
        path = p;
        note(r, "using the public key stored in the log directory; pass "
                "--pubkey with a copy kept elsewhere for a stronger check");
    }
    int rc = sk_evlog_key_load(path, false, k);
    if (rc != 0)
        report_bad(r, 0, "public key %s: %s", path, sk_strerror(rc));
    return rc;
}

int
sk_evlog_verify(const struct sk_evlog_verify_opts *o,
                struct sk_evlog_verify_report *r)
{
    memset(r, 0, sizeof(*r));
    int dirfd = open_dir(o->dir);
    if (dirfd == -1) {
        report_bad(r, 0, "cannot open %s", o->dir);
        return -SK_ENOENT;
    }
    struct sk_evlog_key *k = NULL;
    int rc = load_pub(o->dir, o->pubkey_path, &k, r);
    if (rc != 0) {
        close(dirfd);
        return rc;
    }
    struct vctx v = {.rep = r};
    size_t cap = 0;
    struct sk__evlog_scan s;
    memset(&s, 0, sizeof(s));
    s.dirfd = dirfd;
    s.st.next_seq = 1;
    struct sk_evlog_anchor a;
    int ar = sk__evlog_load_anchor(dirfd, k, &a);
    if (ar < 0) {
        report_bad(r, 0, "anchor: %s",
                   ar == -SK_ECORRUPT ? "signature or key id invalid"
                                      : sk_strerror(ar));
        rc = -SK_ECORRUPT;
        goto out;
    }
    if (ar == 1) {
        r->anchored = true;
        s.st.next_seq = a.next_seq;
        s.st.last_ts = a.ts_ns;
        memcpy(s.st.chain, a.chain, SK_EVLOG_HASH_LEN);
        s.st.fr = a.frontier;
        v.prev_ok = a.next_seq - 1;
    }
    r->first_seq = s.st.next_seq;
    rc = load_cps(&v, &cap, dirfd, "checkpoints", k, false, o->strict);
    if (rc == 0 && o->trusted_path != NULL)
        rc = load_cps(&v, &cap, AT_FDCWD, o->trusted_path, k, true, false);
    if (rc != 0)
        goto out;
    if (v.ncps > 1)
        qsort(v.cps, v.ncps, sizeof(*v.cps), cp_cmp);
    if (ar == 1)
        check_cp(&v, &s.st); /* checkpoints at the anchor itself */
    s.on_record = on_record;
    s.ctx = &v;
    rc = sk__evlog_scan(&s);
    if (rc == -SK_ECORRUPT)
        goto out;
    if (rc != 0) {
        report_bad(r, 0, "cannot read the log: %s", sk_strerror(rc));
        goto out;
    }
    r->records = s.records;
    r->bytes = s.bytes;
    r->last_seq = s.st.next_seq - 1;
    if (s.end == SK__SCAN_CORRUPT) {
        report_bad(r, s.bad_seq, "%s", s.why);
        rc = -SK_ECORRUPT;
        goto out;
    }
    if (s.end == SK__SCAN_TORN) {
        r->tail_incomplete = true;
        if (o->strict) {
            report_bad(r, s.st.next_seq,
                       "incomplete record at the tail of %s offset %" PRIu64,
                       s.segs[s.torn_seg].name, s.torn_off);
            rc = -SK_ECORRUPT;
            goto out;
        }
        note(r,
             "incomplete record at the tail of %s offset %" PRIu64 " (%" PRIu64
             " bytes): a write in progress or a crash; the "
             "writer cuts it on start",
             s.segs[s.torn_seg].name, s.torn_off, s.torn_bytes);
    }
    if (r->first_seq == 1 && s.nsegs > 0 && s.segs[0].first_seq != 1)
        report_bad(r, 1,
                   "the log does not start at record 1 and has no "
                   "anchor (old segments deleted)");
    if (v.next < v.ncps) {
        const struct sk_evlog_checkpoint *cp = &v.cps[v.ncps - 1].cp;
        report_bad(
            r, r->last_seq + 1,
            "%scheckpoint covers %" PRIu64
            " records but the log ends at record %" PRIu64 " (truncated)",
            v.cps[v.ncps - 1].trusted ? "trusted " : "", cp->size, r->last_seq);
    }
    if (r->why[0] != '\0')
        rc = -SK_ECORRUPT;
    else if (r->last_seq > v.prev_ok)
        note(r,
             "records %" PRIu64 "..%" PRIu64
             " are chained but not yet covered by a checkpoint",
             v.prev_ok + 1, r->last_seq);
out:
    if (rc == -SK_ECORRUPT && r->why[0] == '\0')
        report_bad(r, s.bad_seq, "%s", s.why);
    sk_free(s.segs);
    sk_free(v.cps);
    sk_evlog_key_free(k);
    close(dirfd);
    return rc;
}

/* ---- proofs ---------------------------------------------------------- */

struct leaves {
    uint8_t (*h)[SK_EVLOG_HASH_LEN];
    uint64_t n, cap, max;
};

static int
collect(void *ctx, const struct sk_evlog_record *rec,
        const struct sk__evlog_state *st)
{
    (void)st;
    struct leaves *l = ctx;
    if (l->n == l->cap) {
        uint64_t nc = l->cap ? l->cap * 2 : 1024;
        if (nc > 64ULL << 20)
            return -SK_ELIMIT;
        void *p = sk_realloc(l->h, (size_t)nc * SK_EVLOG_HASH_LEN);
        if (p == NULL)
            return -SK_ENOMEM;
        l->h = p;
        l->cap = nc;
    }
    memcpy(l->h[l->n++], rec->leaf, SK_EVLOG_HASH_LEN);
    return l->n >= l->max ? 1 : 0;
}

static int
read_leaves(const char *dir, uint64_t max, struct leaves *l)
{
    int dirfd = open_dir(dir);
    if (dirfd == -1)
        return -SK_ENOENT;
    int fd = openat(dirfd, "anchor", O_RDONLY | O_CLOEXEC);
    if (fd != -1) {
        /* Proofs need every leaf; pruned logs keep only the anchor. */
        close(fd);
        close(dirfd);
        return -SK_ENOTSUP;
    }
    struct sk__evlog_scan s;
    memset(&s, 0, sizeof(s));
    s.dirfd = dirfd;
    s.st.next_seq = 1;
    s.on_record = collect;
    s.ctx = l;
    l->max = max;
    int rc = sk__evlog_scan(&s);
    if (rc == 0 && s.end == SK__SCAN_CORRUPT)
        rc = -SK_ECORRUPT;
    sk_free(s.segs);
    close(dirfd);
    if (rc == 0 && l->n < max)
        rc = -SK_EINVAL;
    return rc;
}

int
sk_evlog_prove_inclusion(const char *dir, uint64_t seq, uint64_t size,
                         uint8_t leaf[SK_EVLOG_HASH_LEN],
                         uint8_t root[SK_EVLOG_HASH_LEN],
                         uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t *plen)
{
    if (seq == 0 || size < seq)
        return -SK_EINVAL;
    struct leaves l = {0};
    int rc = read_leaves(dir, size, &l);
    if (rc == 0) {
        memcpy(leaf, l.h[seq - 1], SK_EVLOG_HASH_LEN);
        sk_evlog_merkle_root((const uint8_t(*)[SK_EVLOG_HASH_LEN])l.h, size,
                             root);
        rc = sk_evlog_merkle_inclusion((const uint8_t(*)[SK_EVLOG_HASH_LEN])l.h,
                                       size, seq - 1, proof, plen);
    }
    if (rc == 0)
        rc = sk_evlog_merkle_verify_inclusion(
            leaf, seq - 1, size, (const uint8_t(*)[SK_EVLOG_HASH_LEN])proof,
            *plen, root);
    sk_free(l.h);
    return rc;
}

int
sk_evlog_prove_consistency(const char *dir, uint64_t m, uint64_t n,
                           uint8_t root_m[SK_EVLOG_HASH_LEN],
                           uint8_t root_n[SK_EVLOG_HASH_LEN],
                           uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t *plen)
{
    if (m == 0 || n < m)
        return -SK_EINVAL;
    struct leaves l = {0};
    int rc = read_leaves(dir, n, &l);
    if (rc == 0) {
        const uint8_t(*h)[SK_EVLOG_HASH_LEN] =
            (const uint8_t(*)[SK_EVLOG_HASH_LEN])l.h;
        sk_evlog_merkle_root(h, m, root_m);
        sk_evlog_merkle_root(h, n, root_n);
        rc = sk_evlog_merkle_consistency(h, n, m, proof, plen);
    }
    if (rc == 0)
        rc = sk_evlog_merkle_verify_consistency(
            m, n, root_m, root_n, (const uint8_t(*)[SK_EVLOG_HASH_LEN])proof,
            *plen);
    sk_free(l.h);
    return rc;
}
