/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Segment files on disk: listing them, loading one (plain or zstd
 * compressed), small-file helpers, and the scanner that walks the whole
 * log and checks what every record says about its place in it (sequence
 * number, timestamp, hash chain). The writer's crash recovery, verify,
 * retention and proofs all start from this scan.
 */
#include "evlog/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "util/alloc.h"
#include "util/error.h"

uint64_t
sk__evlog_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t
sk__evlog_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
seg_cmp(const void *a, const void *b)
{
    const struct sk__evlog_seg *x = a, *y = b;
    if (x->first_seq != y->first_seq)
        return x->first_seq < y->first_seq ? -1 : 1;
    return (int)x->zst - (int)y->zst;
}

static bool
parse_seg_name(const char *n, struct sk__evlog_seg *s)
{
    /* seg-<16 lower hex>.log[.zst] */
    size_t len = strlen(n);
    if (len < 24 || memcmp(n, "seg-", 4) != 0 || memcmp(n + 20, ".log", 4))
        return false;
    if (len == 24)
        s->zst = false;
    else if (len == 28 && memcmp(n + 24, ".zst", 4) == 0)
        s->zst = true;
    else
        return false;
    uint64_t v = 0;
    for (int i = 4; i < 20; i++) {
        char c = n[i];
        if (c >= '0' && c <= '9')
            v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return false;
    }
    if (v == 0)
        return false;
    s->first_seq = v;
    memcpy(s->name, n, len + 1);
    return true;
}

int
sk__evlog_list(int dirfd, struct sk__evlog_seg **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int fd = dup(dirfd);
    if (fd == -1)
        return -SK_EIO;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -SK_EIO;
    }
    rewinddir(d);
    struct sk__evlog_seg *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct sk__evlog_seg s;
        if (!parse_seg_name(e->d_name, &s))
            continue;
        if (cnt == SK_EVLOG_MAX_SEGMENTS) {
            rc = -SK_ELIMIT;
            break;
        }
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct sk__evlog_seg *nv = sk_realloc(v, nc * sizeof(*v));
            if (nv == NULL) {
                rc = -SK_ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[cnt++] = s;
    }
    closedir(d);
    if (rc != 0) {
        sk_free(v);
        return rc;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), seg_cmp);
    /*
     * A crash during compression can leave both seg-X.log and
     * seg-X.log.zst; the plain file is the original and wins.
     */
    size_t w = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (w > 0 && v[w - 1].first_seq == v[i].first_seq)
            continue;
        v[w++] = v[i];
    }
    *out = v;
    *n = w;
    return 0;
}

int
sk__evlog_read_file(int dirfd, const char *name, size_t max, struct sk_buf *out)
{
    sk_buf_clear(out);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? -SK_ENOENT : -SK_EIO;
    struct stat st;
    if (fstat(fd, &st) == -1) {
        close(fd);
        return -SK_EIO;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return -SK_ELIMIT;
    }
    int rc = sk_buf_reserve(out, (size_t)st.st_size + 1);
    while (rc == 0) {
        if (out->cap - out->len < 65536 && out->len + 1 < max)
            rc = sk_buf_reserve(out, 65536);
        if (rc != 0)
            break;
        ssize_t r = read(fd, out->p + out->len, out->cap - out->len);
        if (r == -1) {
            if (errno == EINTR)
                continue;
            rc = -SK_EIO;
            break;
        }
        if (r == 0)
            break;
        out->len += (size_t)r;
        if (out->len > max)
            rc = -SK_ELIMIT;
    }
    close(fd);
    return rc;
}

int
sk__evlog_load(int dirfd, const struct sk__evlog_seg *s, struct sk_buf *out)
{
    if (!s->zst)
        return sk__evlog_read_file(dirfd, s->name, SK_EVLOG_MAX_SEGMENT, out);
    struct sk_buf z = {0};
    int rc = sk__evlog_read_file(dirfd, s->name, SK_EVLOG_MAX_SEGMENT, &z);
    if (rc != 0) {
        sk_buf_fini(&z);
        return rc;
    }
    sk_buf_clear(out);
    unsigned long long size = ZSTD_getFrameContentSize(z.p, z.len);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > SK_EVLOG_MAX_SEGMENT) {
        sk_buf_fini(&z);
        return -SK_ECORRUPT;
    }
    rc = sk_buf_reserve(out, (size_t)size + 1);
    if (rc == 0) {
        size_t r = ZSTD_decompress(out->p, (size_t)size, z.p, z.len);
        if (ZSTD_isError(r) || r != size)
            rc = -SK_ECORRUPT;
        else
            out->len = r;
    }
    sk_buf_fini(&z);
    return rc;
}

int
sk__evlog_seg_header(int dirfd, const struct sk__evlog_seg *s,
                     struct sk_evlog_seg_header *h)
{
    int fd = openat(dirfd, s->name, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? -SK_ENOENT : -SK_EIO;
    uint8_t hb[SK_EVLOG_SEG_HEADER];
    size_t have = 0;
    int rc = 0;
    if (!s->zst) {
        ssize_t n = pread(fd, hb, sizeof(hb), 0);
        have = n > 0 ? (size_t)n : 0;
    } else {
        /* Decompress just enough of the frame for the header. */
        ZSTD_DCtx *z = ZSTD_createDCtx();
        uint8_t in[4096];
        ZSTD_outBuffer ob = {hb, sizeof(hb), 0};
        while (z != NULL && ob.pos < ob.size) {
            ssize_t n = read(fd, in, sizeof(in));
            if (n <= 0)
                break;
            ZSTD_inBuffer ib = {in, (size_t)n, 0};
            while (ib.pos < ib.size && ob.pos < ob.size) {
                size_t r = ZSTD_decompressStream(z, &ob, &ib);
                if (ZSTD_isError(r)) {
                    rc = -SK_ECORRUPT;
                    break;
                }
                if (r == 0)
                    break;
            }
            if (rc != 0)
                break;
        }
        have = ob.pos;
        if (z == NULL)
            rc = -SK_ENOMEM;
        ZSTD_freeDCtx(z);
    }
    close(fd);
    if (rc == 0)
        rc = sk_evlog_seg_header_decode(hb, have, h);
    if (rc == 0 && h->first_seq != s->first_seq)
        rc = -SK_ECORRUPT;
    return rc;
}

int
sk__evlog_write_atomic(int dirfd, const char *name, const void *p, size_t len,
                       int mode)
{
    char tmp[128];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= (int)sizeof(tmp))
        return -SK_ELIMIT;
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd == -1)
        return -SK_EIO;
    const uint8_t *b = p;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, b + off, len - off);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            close(fd);
            unlinkat(dirfd, tmp, 0);
            return -SK_EIO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) == -1 || close(fd) == -1 ||
        renameat(dirfd, tmp, dirfd, name) == -1) {
        unlinkat(dirfd, tmp, 0);
        return -SK_EIO;
    }
    if (fsync(dirfd) == -1)
        return -SK_EIO;
    return 0;
}

int
sk__evlog_load_anchor(int dirfd, const struct sk_evlog_key *k,
                      struct sk_evlog_anchor *a)
{
    struct sk_buf b = {0};
    int rc = sk__evlog_read_file(dirfd, "anchor", 4096, &b);
    if (rc == -SK_ENOENT) {
        sk_buf_fini(&b);
        return 0;
    }
    if (rc == 0)
        rc = sk_evlog_anchor_parse(sk_buf_str(&b), k, a);
    sk_buf_fini(&b);
    return rc == 0 ? 1 : rc;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void bad(struct sk__evlog_scan *s, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
bad(struct sk__evlog_scan *s, uint64_t seq, const char *fmt, ...)
{
    s->end = SK__SCAN_CORRUPT;
    s->bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
}

int
sk__evlog_scan(struct sk__evlog_scan *s)
{
    s->end = SK__SCAN_OK;
    s->why[0] = '\0';
    s->bad_seq = 0;
    s->bytes = s->records = 0;
    int rc = sk__evlog_list(s->dirfd, &s->segs, &s->nsegs);
    if (rc != 0)
        return rc;
    /*
     * Segments wholly before the starting point (an anchor) are skipped:
     * a prune that crashed after writing its anchor leaves them behind,
     * and the next prune removes them.
     */
    size_t first = 0;
    while (first + 1 < s->nsegs &&
           s->segs[first + 1].first_seq <= s->st.next_seq)
        first++;
    struct sk_buf data = {0};
    for (size_t i = first; i < s->nsegs && s->end == SK__SCAN_OK; i++) {
        const struct sk__evlog_seg *g = &s->segs[i];
        bool last = i + 1 == s->nsegs;
        rc = sk__evlog_load(s->dirfd, g, &data);
        if (rc == -SK_ECORRUPT) {
            bad(s, s->st.next_seq, "segment %s: cannot be decompressed",
                g->name);
            rc = 0;
            break;
        }
        if (rc != 0)
            break;
        s->bytes += data.len;
        if (last)
            s->last_seg_size = data.len;
        struct sk_evlog_seg_header h;
        int hr = sk_evlog_seg_header_decode(data.p, data.len, &h);
        if (hr != 0) {
            if (last && data.len <= SK_EVLOG_SEG_HEADER) {
                s->end = SK__SCAN_TORN;
                s->torn_header = true;
                s->torn_seg = i;
                s->torn_off = 0;
                s->torn_bytes = data.len;
                break;
            }
            bad(s, s->st.next_seq, "segment %s: bad header", g->name);
            break;
        }
        if (h.first_seq != g->first_seq) {
            bad(s, s->st.next_seq,
                "segment %s: header says first record %" PRIu64, g->name,
                h.first_seq);
            break;
        }
        if (h.first_seq != s->st.next_seq) {
            bad(s, s->st.next_seq,
                "segment %s starts at record %" PRIu64 ", expected %" PRIu64
                " (records deleted or inserted)",
                g->name, h.first_seq, s->st.next_seq);
            break;
        }
        if (memcmp(h.prev_chain, s->st.chain, SK_EVLOG_HASH_LEN) != 0) {
            bad(s, s->st.next_seq,
                "segment %s: previous chain hash does not match record "
                "%" PRIu64,
                g->name, s->st.next_seq - 1);
            break;
        }
        size_t off = SK_EVLOG_SEG_HEADER;
        while (off < data.len) {
            struct sk_evlog_record r;
            size_t used = 0;
            int dr =
                sk_evlog_record_decode(data.p + off, data.len - off, &r, &used);
            if (dr != 0) {
                /*
                 * A torn tail: the last segment ends in a frame that is
                 * incomplete, or one whose claimed length reaches the end
                 * of the file, or zeros (a partly written page). Anything
                 * else is damage in the middle of the log.
                 */
                size_t rest = data.len - off;
                bool torn =
                    last &&
                    (dr == -SK_EAGAIN || all_zero(data.p + off, rest) ||
                     (rest >= 8 && 8 + (uint64_t)get32(data.p + off) >= rest));
                if (torn) {
                    s->end = SK__SCAN_TORN;
                    s->torn_seg = i;
                    s->torn_off = off;
                    s->torn_bytes = rest;
                } else {
                    bad(s, s->st.next_seq,
                        "record %" PRIu64 " in %s at offset %zu: %s",
                        s->st.next_seq, g->name, off,
                        dr == -SK_EAGAIN ? "truncated in the middle of the log"
                                         : "bad frame or CRC (changed bytes)");
                }
                break;
            }
            if (r.seq != s->st.next_seq) {
                bad(s, s->st.next_seq,
                    "expected record %" PRIu64 ", found %" PRIu64
                    " (record deleted, inserted or reordered)",
                    s->st.next_seq, r.seq);
                break;
            }
            if (r.ts_ns < s->st.last_ts) {
                bad(s, r.seq,
                    "record %" PRIu64 ": timestamp goes backwards (reordered)",
                    r.seq);
                break;
            }
            uint8_t c[SK_EVLOG_HASH_LEN];
            sk_evlog_sha256(s->st.chain, SK_EVLOG_HASH_LEN, r.leaf,
                            SK_EVLOG_HASH_LEN, NULL, 0, c);
            if (memcmp(c, r.chain, SK_EVLOG_HASH_LEN) != 0) {
                bad(s, r.seq,
                    "record %" PRIu64
                    ": chain hash mismatch (record changed, or one before it "
                    "removed or inserted)",
                    r.seq);
                break;
            }
            memcpy(s->st.chain, c, SK_EVLOG_HASH_LEN);
            sk_evlog_frontier_add(&s->st.fr, r.leaf);
            s->st.next_seq++;
            s->st.last_ts = r.ts_ns;
            s->records++;
            off += used;
            if (s->on_record != NULL) {
                int cr = s->on_record(s->ctx, &r, &s->st);
                if (cr != 0) {
                    rc = cr > 0 ? 0 : cr;
                    goto out;
                }
            }
            if (s->stop_after_seq != 0 && r.seq >= s->stop_after_seq)
                goto out;
        }
    }
out:
    sk_buf_fini(&data);
    return rc;
}
