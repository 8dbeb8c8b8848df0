/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading the log without the writer's lock: a reader loads one segment at
 * a time, stops quietly at a record still being written, and picks up
 * growth and new segments when asked again (`sekimori log tail -f`). Also
 * the query filter and the time syntax of `sekimori log query`.
 */
#include "evlog/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/error.h"

struct sk_evlog_reader {
    int dirfd;
    struct sk__evlog_seg *segs;
    size_t nsegs;
    size_t cur;
    bool loaded;
    struct sk_buf data;
    size_t off;
    uint64_t expect; /* next sequence number, 0 before the first */
    char err[256];
};

/*
 * Drops segments wholly before the anchor (left by a prune that crashed
 * before removing them), as the writer and verify ignore them too. The
 * anchor's signature is verify's business; here it only bounds reading.
 */
static void
drop_before_anchor(struct sk_evlog_reader *r)
{
    struct sk_buf b = {0};
    struct sk_evlog_anchor a;
    if (sk__evlog_read_file(r->dirfd, "anchor", 4096, &b) == 0 &&
        sk_evlog_anchor_parse(sk_buf_str(&b), NULL, &a) == 0) {
        size_t n = 0;
        while (n + 1 < r->nsegs && r->segs[n + 1].first_seq <= a.next_seq)
            n++;
        if (n > 0) {
            memmove(r->segs, r->segs + n, (r->nsegs - n) * sizeof(*r->segs));
            r->nsegs -= n;
        }
    }
    sk_buf_fini(&b);
}

int
sk_evlog_reader_open(const char *dir, struct sk_evlog_reader **out)
{
    struct sk_evlog_reader *r = sk_calloc(1, sizeof(*r));
    if (r == NULL)
        return -SK_ENOMEM;
    r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->dirfd == -1) {
        sk_free(r);
        return -SK_ENOENT;
    }
    int rc = sk__evlog_list(r->dirfd, &r->segs, &r->nsegs);
    if (rc != 0) {
        sk_evlog_reader_free(r);
        return rc;
    }
    drop_before_anchor(r);
    *out = r;
    return 0;
}

void
sk_evlog_reader_free(struct sk_evlog_reader *r)
{
    if (r == NULL)
        return;
    if (r->dirfd != -1)
        close(r->dirfd);
    sk_free(r->segs);
    sk_buf_fini(&r->data);
    sk_free(r);
}

const char *
sk_evlog_reader_error(const struct sk_evlog_reader *r)
{
    return r->err;
}

static int
refresh(struct sk_evlog_reader *r)
{
    uint64_t cur_first = r->cur < r->nsegs ? r->segs[r->cur].first_seq : 0;
    struct sk__evlog_seg *segs;
    size_t n;
    int rc = sk__evlog_list(r->dirfd, &segs, &n);
    if (rc != 0)
        return rc;
    sk_free(r->segs);
    r->segs = segs;
    r->nsegs = n;
    drop_before_anchor(r);
    /* Find our segment again (it may have been compressed meanwhile). */
    r->cur = 0;
    while (r->cur < n && segs[r->cur].first_seq < cur_first)
        r->cur++;
    return 0;
}

static int
load(struct sk_evlog_reader *r)
{
    const struct sk__evlog_seg *g = &r->segs[r->cur];
    int rc = sk__evlog_load(r->dirfd, g, &r->data);
    if (rc != 0) {
        snprintf(r->err, sizeof(r->err), "%s: %s", g->name, sk_strerror(rc));
        return rc == -SK_ENOENT ? -SK_EAGAIN : rc;
    }
    struct sk_evlog_seg_header h;
    rc = sk_evlog_seg_header_decode(r->data.p, r->data.len, &h);
    if (rc == -SK_EAGAIN)
        return -SK_EAGAIN; /* being created */
    if (rc != 0 || h.first_seq != g->first_seq) {
        snprintf(r->err, sizeof(r->err), "%s: bad segment header", g->name);
        return -SK_ECORRUPT;
    }
    r->off = SK_EVLOG_SEG_HEADER;
    r->loaded = true;
    return 0;
}

/* Reads what was appended to the current (plain) segment since loading. */
static int
grow(struct sk_evlog_reader *r, bool *grew)
{
    *grew = false;
    const struct sk__evlog_seg *g = &r->segs[r->cur];
    if (g->zst)
        return 0;
    int fd = openat(r->dirfd, g->name, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return 0;
    int rc = 0;
    for (;;) {
        if ((rc = sk_buf_reserve(&r->data, 65536)) != 0)
            break;
        ssize_t n = pread(fd, r->data.p + r->data.len,
                          r->data.cap - r->data.len, (off_t)r->data.len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->data.len += (size_t)n;
        *grew = true;
        if (r->data.len > SK_EVLOG_MAX_SEGMENT) {
            rc = -SK_ELIMIT;
            break;
        }
    }
    close(fd);
    return rc;
}

int
sk_evlog_reader_next(struct sk_evlog_reader *r, struct sk_evlog_record *rec)
{
    for (int guard = 0; guard < 1000000; guard++) {
        if (!r->loaded) {
            if (r->cur >= r->nsegs) {
                int rc = refresh(r);
                if (rc != 0)
                    return rc;
                if (r->cur >= r->nsegs)
                    return -SK_ENOENT;
            }
            int rc = load(r);
            if (rc == -SK_EAGAIN)
                return -SK_ENOENT;
            if (rc != 0)
                return rc;
        }
        if (r->off < r->data.len) {
            size_t used;
            int rc = sk_evlog_record_decode(r->data.p + r->off,
                                            r->data.len - r->off, rec, &used);
            if (rc == 0) {
                if (r->expect != 0 && rec->seq != r->expect) {
                    snprintf(r->err, sizeof(r->err),
                             "expected record %" PRIu64 ", found %" PRIu64,
                             r->expect, rec->seq);
                    return -SK_ECORRUPT;
                }
                r->expect = rec->seq + 1;
                r->off += used;
                return 0;
            }
            if (rc != -SK_EAGAIN) {
                snprintf(r->err, sizeof(r->err),
                         "%s offset %zu: bad record frame",
                         r->segs[r->cur].name, r->off);
                return -SK_ECORRUPT;
            }
        }
        /* At the end of what we have: more in this file, or a next one? */
        bool grew;
        int rc = grow(r, &grew);
        if (rc != 0)
            return rc;
        if (grew)
            continue;
        if (r->cur + 1 >= r->nsegs && (rc = refresh(r)) != 0)
            return rc;
        if (r->cur + 1 >= r->nsegs)
            return -SK_ENOENT;
        if (r->off != r->data.len) {
            snprintf(r->err, sizeof(r->err),
                     "%s: incomplete record before a newer segment",
                     r->segs[r->cur].name);
            return -SK_ECORRUPT;
        }
        r->cur++;
        r->loaded = false;
    }
    return -SK_ENOENT;
}

int
sk_evlog_reader_seek_time(struct sk_evlog_reader *r, uint64_t ts_ns)
{
    /*
     * Records of segment i were all written before segment i+1 was
     * created, so segment i can be skipped when i+1 was created before
     * ts_ns. The query filter still checks every record's time.
     */
    size_t i = r->cur;
    while (i + 1 < r->nsegs) {
        struct sk_evlog_seg_header h;
        if (sk__evlog_seg_header(r->dirfd, &r->segs[i + 1], &h) != 0 ||
            h.created_ns >= ts_ns)
            break;
        i++;
    }
    if (i != r->cur) {
        r->cur = i;
        r->loaded = false;
        r->expect = 0;
    }
    return 0;
}

/* ---- query ----------------------------------------------------------- */

static bool
contains(struct sk_str hay, const char *needle)
{
    size_t n = strlen(needle);
    return memmem(hay.p, hay.len, needle, n) != NULL;
}

static bool
str_field(json_t *o, const char *key, const char *want, bool substring)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return substring ? strstr(s, want) != NULL : strcmp(s, want) == 0;
    }
    if (json_is_integer(v)) {
        char b[32];
        snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strcmp(b, want) == 0;
    }
    return false;
}

static bool
rule_match(json_t *o, const char *want)
{
    if (str_field(o, "rule_id", want, false))
        return true;
    static const char *const arrays[] = {"rule_ids", "rules"};
    for (size_t k = 0; k < 2; k++) {
        json_t *a = json_object_get(o, arrays[k]);
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e)
        {
            if (json_is_object(e) && str_field(e, "id", want, false))
                return true;
            char b[32];
            if (json_is_integer(e)) {
                snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(e));
                if (strcmp(b, want) == 0)
                    return true;
            }
            if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
                return true;
        }
    }
    return false;
}

bool
sk_evlog_query_match(const struct sk_evlog_query *q,
                     const struct sk_evlog_record *rec)
{
    if (rec->ts_ns < q->since_ns || (q->until_ns && rec->ts_ns >= q->until_ns))
        return false;
    if (q->source && !sk_str_eq_c(rec->source, q->source))
        return false;
    if (q->type && !sk_str_eq_c(rec->type, q->type))
        return false;
    if (q->text && !contains(rec->body, q->text))
        return false;
    /*
     * Bodies are stored as jansson's compact output, so a field value
     * appears literally unless it needs escaping: a cheap substring test
     * rejects most records before any JSON is parsed.
     */
    const char *fields[] = {q->client_ip, q->path, q->rule_id, q->file};
    bool any = false;
    for (size_t i = 0; i < 4; i++) {
        if (fields[i] == NULL)
            continue;
        any = true;
        bool plain = strpbrk(fields[i], "\"\\/") == NULL;
        if (plain && !contains(rec->body, fields[i]))
            return false;
    }
    if (!any)
        return true;
    json_t *o = json_loadb((const char *)rec->body.p, rec->body.len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return false;
    }
    bool ok =
        (!q->client_ip || str_field(o, "client_ip", q->client_ip, false)) &&
        (!q->path || str_field(o, "path", q->path, true) ||
         str_field(o, "uri", q->path, true)) &&
        (!q->rule_id || rule_match(o, q->rule_id)) &&
        (!q->file || str_field(o, "file", q->file, true));
    json_decref(o);
    return ok;
}

static int
digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -SK_EPARSE;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int
sk_evlog_time_parse(const char *s, uint64_t now_ns, uint64_t *ns)
{
    size_t len = strlen(s);
    if (strcmp(s, "now") == 0) {
        *ns = now_ns;
        return 0;
    }
    if (s[0] == '@' || s[0] == '-') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s + 1, &end, 10);
        if (errno != 0 || end == s + 1)
            return -SK_EPARSE;
        if (s[0] == '@') {
            if (*end != '\0' || v > UINT64_MAX / 1000000000ULL)
                return -SK_EPARSE;
            *ns = v * 1000000000ULL;
            return 0;
        }
        uint64_t unit;
        if (strcmp(end, "s") == 0)
            unit = 1;
        else if (strcmp(end, "m") == 0)
            unit = 60;
        else if (strcmp(end, "h") == 0)
            unit = 3600;
        else if (strcmp(end, "d") == 0)
            unit = 86400;
        else
            return -SK_EPARSE;
        if (v > UINT64_MAX / 1000000000ULL / unit)
            return -SK_EPARSE;
        uint64_t d = v * unit * 1000000000ULL;
        *ns = d > now_ns ? 0 : now_ns - d;
        return 0;
    }
    /* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
    int Y, M, D, h, m, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':' || digits(s, 4, &Y) || digits(s + 5, 2, &M) ||
        digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
        return -SK_EPARSE;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 ||
        sec > 60)
        return -SK_EPARSE;
    size_t i = 19;
    uint64_t frac = 0, scale = 1000000000ULL;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(s[i] - '0') * scale;
            }
            i++;
        }
        if (i == start)
            return -SK_EPARSE;
    }
    long off = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (len - i != 6 || s[i + 3] != ':' || digits(s + i + 1, 2, &oh) ||
            digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -SK_EPARSE;
        off = (oh * 3600L + om * 60L) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return -SK_EPARSE;
    }
    if (i != len)
        return -SK_EPARSE;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || (long long)t - off < 0)
        return -SK_EPARSE;
    *ns = (uint64_t)((long long)t - off) * 1000000000ULL + frac;
    return 0;
}
