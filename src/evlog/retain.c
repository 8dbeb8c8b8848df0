/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Retention: cold segments are compressed with zstd, and whole segments
 * past the retention period are removed after a signed anchor records the
 * chain hash and the Merkle frontier at the cut, so that `verify` proves
 * the rest of the log continuous. Only a prefix of the log is ever removed
 * and the newest segment is never touched.
 */
#include "evlog/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zstd.h>

#include "util/alloc.h"
#include "util/error.h"

int
sk_evlog_duration_parse(const char *s, uint64_t *secs)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || s[0] == '-')
        return -SK_EINVAL;
    uint64_t unit;
    if (strcmp(end, "s") == 0)
        unit = 1;
    else if (strcmp(end, "h") == 0)
        unit = 3600;
    else if (strcmp(end, "d") == 0)
        unit = 86400;
    else if (strcmp(end, "m") == 0)
        unit = 31 * 86400; /* a month is never shorter than we keep */
    else if (strcmp(end, "y") == 0)
        unit = 366 * 86400;
    else
        return -SK_EINVAL;
    if (v > UINT64_MAX / unit / 1000000000ULL)
        return -SK_ELIMIT;
    *secs = v * unit;
    return 0;
}

static int
compress_seg(int dirfd, const struct sk__evlog_seg *g)
{
    struct sk_buf b = {0}, z = {0};
    int rc = sk__evlog_load(dirfd, g, &b);
    size_t bound = ZSTD_compressBound(b.len);
    if (rc == 0)
        rc = sk_buf_reserve(&z, bound);
    if (rc == 0) {
        size_t n = ZSTD_compress(z.p, bound, b.p, b.len, 3);
        if (ZSTD_isError(n))
            rc = -SK_EIO;
        else
            z.len = n;
    }
    char name[64];
    snprintf(name, sizeof(name), "%s.zst", g->name);
    if (rc == 0)
        rc = sk__evlog_write_atomic(dirfd, name, z.p, z.len, 0640);
    /* The plain file goes only once the compressed one is durable. */
    if (rc == 0 && (unlinkat(dirfd, g->name, 0) == -1 || fsync(dirfd) == -1))
        rc = -SK_EIO;
    sk_buf_fini(&b);
    sk_buf_fini(&z);
    return rc;
}

int
sk__evlog_retain_core(int dirfd, const struct sk_evlog_key *k,
                      const struct sk_evlog_retention *p, struct sk_buf *out)
{
    struct sk__evlog_seg *segs = NULL;
    size_t n = 0;
    int rc = sk__evlog_list(dirfd, &segs, &n);
    if (rc != 0)
        return rc;
    /* Leftovers of a crash: temporary files and pruned segments. */
    for (size_t i = 0; i < n && !p->dry_run; i++) {
        char tmp[64];
        snprintf(tmp, sizeof(tmp), "%s%s.tmp", segs[i].name,
                 segs[i].zst ? "" : ".zst");
        unlinkat(dirfd, tmp, 0);
    }
    if (!p->dry_run)
        unlinkat(dirfd, "anchor.tmp", 0);
    struct sk_evlog_anchor old;
    int oar = sk__evlog_load_anchor(dirfd, k, &old);
    size_t stale = 0;
    while (oar == 1 && stale + 1 < n &&
           segs[stale + 1].first_seq <= old.next_seq)
        stale++;
    for (size_t i = 0; i < stale; i++) {
        sk_buf_printf(out, "%sremove %s (before the anchor)\n",
                      p->dry_run ? "would " : "", segs[i].name);
        if (!p->dry_run && unlinkat(dirfd, segs[i].name, 0) == -1)
            rc = -SK_EIO;
    }
    if (stale > 0) {
        memmove(segs, segs + stale, (n - stale) * sizeof(*segs));
        n -= stale;
        if (!p->dry_run)
            fsync(dirfd);
    }
    if (rc != 0) {
        sk_free(segs);
        return rc;
    }
    uint64_t now = p->now_ns ? p->now_ns : sk__evlog_now_ns();
    uint64_t keep_ns = p->keep_secs * 1000000000ULL;
    uint64_t comp_ns = p->compress_secs * 1000000000ULL;
    size_t prune = 0; /* segments [0, prune) go */
    bool prefix = true;
    for (size_t i = 0; i + 1 < n && rc == 0; i++) {
        /*
         * Every record of segment i is older than segment i+1 (the writer
         * creates a segment no earlier than its last record's time), so
         * the next header bounds a segment's age without reading it.
         */
        struct sk_evlog_seg_header h;
        rc = sk__evlog_seg_header(dirfd, &segs[i + 1], &h);
        if (rc != 0) {
            sk_buf_printf(out, "error: %s: %s\n", segs[i + 1].name,
                          sk_strerror(rc));
            break;
        }
        uint64_t ts = h.created_ns;
        if (prefix && p->keep_secs > 0 && ts + keep_ns < now) {
            prune = i + 1;
            continue;
        }
        prefix = false;
        if (!segs[i].zst && p->compress_secs > 0 && ts + comp_ns < now) {
            sk_buf_printf(out, "%scompress %s\n", p->dry_run ? "would " : "",
                          segs[i].name);
            if (!p->dry_run && (rc = compress_seg(dirfd, &segs[i])) != 0)
                sk_buf_printf(out, "error: compress %s: %s\n", segs[i].name,
                              sk_strerror(rc));
        }
    }
    if (rc != 0 || prune == 0) {
        sk_free(segs);
        return rc;
    }
    for (size_t i = 0; i < prune; i++)
        sk_buf_printf(out, "%sremove %s\n", p->dry_run ? "would " : "",
                      segs[i].name);
    if (p->dry_run) {
        sk_free(segs);
        return 0;
    }
    /* The anchor: the verified state just before the first kept record. */
    struct sk_evlog_anchor a;
    struct sk__evlog_scan s;
    memset(&s, 0, sizeof(s));
    s.dirfd = dirfd;
    s.st.next_seq = 1;
    if (rc == 0) {
        int ar = sk__evlog_load_anchor(dirfd, k, &a);
        if (ar < 0)
            rc = -SK_ECORRUPT;
        else if (ar == 1) {
            s.st.next_seq = a.next_seq;
            s.st.last_ts = a.ts_ns;
            memcpy(s.st.chain, a.chain, SK_EVLOG_HASH_LEN);
            s.st.fr = a.frontier;
        }
    }
    uint64_t cut = segs[prune].first_seq;
    if (rc == 0) {
        s.stop_after_seq = cut - 1;
        rc = sk__evlog_scan(&s);
        if (rc == 0 && (s.end == SK__SCAN_CORRUPT || s.st.next_seq != cut)) {
            sk_buf_printf(out,
                          "error: the log does not verify up to record "
                          "%" PRIu64 ": %s; nothing removed\n",
                          cut, s.why);
            rc = -SK_ECORRUPT;
        }
    }
    struct sk_buf line = {0};
    if (rc == 0) {
        memset(&a, 0, sizeof(a));
        a.next_seq = cut;
        a.ts_ns = s.st.last_ts;
        memcpy(a.chain, s.st.chain, SK_EVLOG_HASH_LEN);
        a.frontier = s.st.fr;
        rc = sk_evlog_anchor_format(&a, k, &line);
    }
    if (rc == 0)
        rc = sk__evlog_write_atomic(dirfd, "anchor", line.p, line.len, 0640);
    if (rc == 0) {
        sk_buf_printf(out, "anchor at record %" PRIu64 "\n", cut);
        for (size_t i = 0; i < prune && rc == 0; i++)
            if (unlinkat(dirfd, segs[i].name, 0) == -1)
                rc = -SK_EIO;
        if (fsync(dirfd) == -1)
            rc = -SK_EIO;
    }
    sk_buf_fini(&line);
    sk_free(s.segs);
    sk_free(segs);
    return rc;
}

int
sk_evlog_retain(const char *dir, const char *key_path,
                const struct sk_evlog_retention *p, struct sk_buf *out)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd == -1)
        return -SK_ENOENT;
    int lockfd = openat(dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd == -1) {
        close(dirfd);
        return -SK_EIO;
    }
    int rc;
    struct sk_evlog_key *k = NULL;
    if (flock(lockfd, LOCK_EX | LOCK_NB) == -1)
        rc = errno == EWOULDBLOCK ? -SK_EAGAIN : -SK_EIO;
    else if ((rc = sk_evlog_key_load(key_path, true, &k)) == 0)
        rc = sk__evlog_retain_core(dirfd, k, p, out);
    sk_evlog_key_free(k);
    close(lockfd);
    close(dirfd);
    return rc;
}
