/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRS regression suite over the wire (see wire.h): one TCP exchange
 * per stage with a live proxy, and a follower of the proxy's audit log
 * that finds a transaction's record by its id and turns the record's
 * messages back into the ModSecurity-style lines that the in-process
 * runner gets from sk_waf_txn_format_match().
 */
#include "crstest/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "http/response.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/error.h"

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
left_ms(long long deadline)
{
    long long l = deadline - now_ms();
    return l < 0 ? 0 : l > 60000 ? 60000 : (int)l;
}

/* Connects a non-blocking socket to one of host:port's addresses. */
static int
dial(const char *host, const char *port, long long deadline, char *why,
     size_t wl)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(why, wl, "resolve %s:%s: %s", host, port, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd == -1)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t el = sizeof(err);
            if (poll(&p, 1, left_ms(deadline)) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
                err == 0)
                break;
            snprintf(why, wl, "connect %s:%s: %s", host, port,
                     err ? strerror(err) : "timeout");
        } else
            snprintf(why, wl, "connect %s:%s: %s", host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int
sink(void *ud, const uint8_t *p, size_t n)
{
    struct sk_buf *b = ud;
    if (b->len + n > SK_CRSWIRE_MAX_RESPONSE)
        n = SK_CRSWIRE_MAX_RESPONSE - b->len;
    return sk_buf_append(b, p, n);
}

/* Reading state of one exchange. */
struct rx {
    struct sk_arena *a;
    struct sk_buf in;  /* bytes received since the last final head */
    bool head_request; /* the request was HEAD */
    bool have_head;    /* a final response head is parsed */
    struct sk_http_response resp;
    struct sk_http_chunked ch;
    size_t body_off; /* bytes of `in` consumed as body */
    bool done;
};

static void
copy_id(struct rx *r, struct sk_crswire_result *out)
{
    for (size_t i = 0; i < r->resp.nheaders; i++) {
        const struct sk_http_header *h = &r->resp.headers[i];
        if (!sk_str_eq_c_nocase(h->name, "x-sekimori-id"))
            continue;
        size_t n = h->value.len < sizeof(out->id) - 1 ? h->value.len
                                                      : sizeof(out->id) - 1;
        memcpy(out->id, h->value.p, n);
        out->id[n] = '\0';
        return;
    }
}

/* Advances parsing after new bytes; sets r->done when the response ends. */
static int
progress(struct rx *r, struct sk_crswire_result *out)
{
    while (!r->have_head) {
        enum sk_http_err err = SK_HTTP_OK;
        int rc = sk_http_parse_response_head(r->a, sk_buf_str(&r->in),
                                             r->head_request, &r->resp, &err);
        if (rc == SK_AGAIN)
            return 0;
        if (rc != 0) {
            snprintf(out->why, sizeof(out->why), "bad response head: %s",
                     sk_http_strerror(err));
            r->done = true;
            return rc == -SK_ENOMEM ? rc : 0;
        }
        if (r->resp.status >= 100 && r->resp.status < 200 &&
            r->resp.status != 101) {
            /* An interim response (100 Continue): the final one follows. */
            size_t h = r->resp.head_len;
            memmove(r->in.p, r->in.p + h, r->in.len - h);
            r->in.len -= h;
            continue;
        }
        r->have_head = true;
        r->body_off = r->resp.head_len;
        out->responded = true;
        out->status = r->resp.status;
        copy_id(r, out);
    }
    struct sk_str rest =
        sk_str_make(r->in.p + r->body_off, r->in.len - r->body_off);
    int rc = 0;
    switch (r->resp.body_kind) {
    case SK_HTTP_RESP_NONE:
        r->done = true;
        break;
    case SK_HTTP_RESP_LENGTH: {
        uint64_t want = r->resp.content_length - out->body.len;
        size_t n = rest.len < want ? rest.len : (size_t)want;
        rc = sink(&out->body, rest.p, n);
        r->body_off += n;
        if (out->body.len == r->resp.content_length ||
            out->body.len >= SK_CRSWIRE_MAX_RESPONSE)
            r->done = true;
        break;
    }
    case SK_HTTP_RESP_CHUNKED: {
        size_t used = 0;
        enum sk_http_err err = SK_HTTP_OK;
        rc =
            sk_http_chunked_decode(&r->ch, rest, &used, sink, &out->body, &err);
        r->body_off += used;
        if (rc == -SK_EPARSE) {
            snprintf(out->why, sizeof(out->why), "bad chunked body: %s",
                     sk_http_strerror(err));
            rc = 0;
            r->done = true;
        }
        if (r->ch.done || out->body.len >= SK_CRSWIRE_MAX_RESPONSE)
            r->done = true;
        break;
    }
    case SK_HTTP_RESP_EOF:
        rc = sink(&out->body, rest.p, rest.len);
        r->body_off += rest.len;
        if (out->body.len >= SK_CRSWIRE_MAX_RESPONSE)
            r->done = true;
        break;
    }
    /* Keep `in` small: drop the body bytes consumed. */
    if (r->body_off == r->in.len && r->body_off > 65536) {
        r->in.len = 0;
        r->body_off = 0;
    }
    return rc;
}

int
sk_crswire_exchange(const char *host, const char *port, struct sk_str request,
                    unsigned timeout_ms, struct sk_crswire_result *out)
{
    memset(out, 0, sizeof(*out));
    long long deadline = now_ms() + timeout_ms;
    int fd = dial(host, port, deadline, out->why, sizeof(out->why));
    if (fd == -1)
        return -SK_EIO;
    struct rx r = {0};
    r.a = sk_arena_new(0);
    if (r.a == NULL) {
        close(fd);
        return -SK_ENOMEM;
    }
    r.head_request = request.len >= 5 && memcmp(request.p, "HEAD ", 5) == 0;
    size_t sent = 0;
    bool can_send = true;
    int rc = 0;
    while (!r.done && rc == 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (can_send && sent < request.len)
            p.events |= POLLOUT;
        int pr = poll(&p, 1, left_ms(deadline));
        if (pr == -1 && errno == EINTR)
            continue;
        if (pr <= 0) {
            snprintf(out->why, sizeof(out->why), "%s after %u ms",
                     r.have_head ? "response body incomplete" : "no response",
                     timeout_ms);
            break;
        }
        if ((p.revents & POLLOUT) && can_send) {
            ssize_t n =
                send(fd, request.p + sent, request.len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n == -1 && errno != EAGAIN && errno != EINTR)
                can_send = false; /* the peer closed: read its answer */
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if ((rc = sk_buf_reserve(&r.in, 65536)) != 0)
                break;
            ssize_t n = recv(fd, r.in.p + r.in.len, r.in.cap - r.in.len, 0);
            if (n == -1 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0) {
                if (r.have_head && r.resp.body_kind == SK_HTTP_RESP_EOF)
                    r.done = true;
                else
                    snprintf(out->why, sizeof(out->why), "%s %s",
                             n == 0 ? "connection closed" : "connection reset",
                             r.have_head    ? "in the response body"
                             : r.in.len > 0 ? "in the response head"
                                            : "without a response");
                break;
            }
            r.in.len += (size_t)n;
            if (r.in.len > SK_CRSWIRE_MAX_RESPONSE && !r.have_head) {
                snprintf(out->why, sizeof(out->why), "response head too big");
                break;
            }
            rc = progress(&r, out);
        }
    }
    close(fd);
    sk_buf_fini(&r.in);
    sk_arena_free(r.a);
    return rc == -SK_ENOMEM ? rc : 0;
}

/* ---- Audit log -------------------------------------------------------- */

struct pending {
    char *id;
    char *json;
    size_t len;
};

struct sk_crswire_audit {
    char *path;
    int fd;
    off_t off;
    struct sk_buf part; /* an incomplete last line */
    bool skipping;      /* inside an over-long line */
    struct pending pend[SK_CRSWIRE_MAX_PENDING];
    size_t npend, next; /* ring: `next` is the slot to fill */
    size_t bad;
};

int
sk_crswire_audit_open(const char *path, struct sk_crswire_audit **out)
{
    struct sk_crswire_audit *a = sk_calloc(1, sizeof(*a));
    if (a == NULL)
        return -SK_ENOMEM;
    size_t n = strlen(path);
    a->path = sk_malloc(n + 1);
    if (a->path == NULL) {
        sk_free(a);
        return -SK_ENOMEM;
    }
    memcpy(a->path, path, n + 1);
    a->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (a->fd != -1) {
        off_t end = lseek(a->fd, 0, SEEK_END);
        a->off = end == -1 ? 0 : end;
    }
    *out = a;
    return 0;
}

size_t
sk_crswire_audit_bad_lines(const struct sk_crswire_audit *a)
{
    return a->bad;
}

void
sk_crswire_audit_free(struct sk_crswire_audit *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < SK_CRSWIRE_MAX_PENDING; i++) {
        sk_free(a->pend[i].id);
        sk_free(a->pend[i].json);
    }
    if (a->fd != -1)
        close(a->fd);
    sk_buf_fini(&a->part);
    sk_free(a->path);
    sk_free(a);
}

/* Appends ` [name "value"]` escaped as sk_waf_txn_format_match does. */
static int
field(struct sk_buf *b, const char *name, const char *value)
{
    int rc = sk_buf_printf(b, " [%s \"", name);
    for (const char *p = value; rc == 0 && *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            rc = sk_buf_putc(b, '\\');
        if (rc == 0)
            rc = sk_buf_putc(b, (uint8_t)*p);
    }
    if (rc == 0)
        rc = sk_buf_append_c(b, "\"]");
    return rc;
}

static const char *
jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int
lines_of(json_t *root, struct sk_buf *lines, bool *refused)
{
    json_t *tr = json_object_get(root, "transaction");
    if (!json_is_object(tr))
        return -SK_EPARSE;
    json_t *msgs = json_object_get(tr, "messages");
    json_t *sk = json_object_get(tr, "sekimori");
    json_t *resp = json_object_get(tr, "response");
    const char *engine =
        jstr(json_object_get(tr, "producer"), "secrules_engine");
    json_int_t code = json_integer_value(json_object_get(resp, "http_code"));
    *refused = json_is_string(json_object_get(sk, "error")) &&
               !json_is_true(json_object_get(sk, "blocked")) && code >= 400 &&
               code < 500 && json_array_size(msgs) == 0;
    const char *uid = jstr(tr, "unique_id");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(msgs); i++) {
        json_t *m = json_array_get(msgs, i);
        json_t *d = json_object_get(m, "details");
        if (!json_is_object(d))
            return -SK_EPARSE;
        bool deny = json_is_true(json_object_get(d, "disruptive")) &&
                    strcmp(engine, "Enabled") == 0;
        rc =
            sk_buf_printf(lines, "ModSecurity: %s. %s",
                          deny ? "Access denied" : "Warning", jstr(d, "match"));
        if (rc == 0 && jstr(d, "file")[0] != '\0')
            rc = field(lines, "file", jstr(d, "file"));
        if (rc == 0)
            rc = field(lines, "line", jstr(d, "lineNumber"));
        if (rc == 0)
            rc = field(lines, "id", jstr(d, "ruleId"));
        if (rc == 0)
            rc = field(lines, "msg", jstr(m, "message"));
        if (rc == 0)
            rc = field(lines, "data", jstr(d, "data"));
        if (rc == 0 && jstr(d, "severity")[0] != '\0')
            rc = field(lines, "severity", jstr(d, "severity"));
        json_t *tags = json_object_get(d, "tags");
        for (size_t k = 0; rc == 0 && k < json_array_size(tags); k++) {
            const char *t = json_string_value(json_array_get(tags, k));
            rc = field(lines, "tag", t ? t : "");
        }
        if (rc == 0)
            rc = field(lines, "unique_id", uid);
        if (rc == 0)
            rc = sk_buf_putc(lines, '\n');
    }
    return rc;
}

int
sk_crswire_record_lines(const char *json, size_t len, struct sk_buf *lines,
                        bool *refused)
{
    json_error_t e;
    *refused = false;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &e);
    if (root == NULL)
        return -SK_EPARSE;
    size_t start = lines->len;
    int rc = lines_of(root, lines, refused);
    if (rc != 0)
        lines->len = start;
    json_decref(root);
    return rc;
}

static void
pend_add(struct sk_crswire_audit *a, const char *id, const char *json,
         size_t len)
{
    struct pending *p = &a->pend[a->next];
    sk_free(p->id);
    sk_free(p->json);
    size_t il = strlen(id);
    p->id = sk_malloc(il + 1);
    p->json = sk_malloc(len);
    if (p->id == NULL || p->json == NULL) {
        sk_free(p->id);
        sk_free(p->json);
        p->id = p->json = NULL;
        return; /* forgotten: a later wait for it times out */
    }
    memcpy(p->id, id, il + 1);
    memcpy(p->json, json, len);
    p->len = len;
    a->next = (a->next + 1) % SK_CRSWIRE_MAX_PENDING;
    if (a->npend < SK_CRSWIRE_MAX_PENDING)
        a->npend++;
}

/* Looks `id` up among the records read before; 1 found, 0 not. */
static int
pend_take(struct sk_crswire_audit *a, const char *id, struct sk_buf *lines,
          bool *refused, int *rc)
{
    for (size_t i = 0; i < SK_CRSWIRE_MAX_PENDING; i++) {
        struct pending *p = &a->pend[i];
        if (p->id == NULL || strcmp(p->id, id) != 0)
            continue;
        *rc = sk_crswire_record_lines(p->json, p->len, lines, refused);
        sk_free(p->id);
        sk_free(p->json);
        p->id = p->json = NULL;
        return 1;
    }
    return 0;
}

/* Handles one complete line; 1 when it is the record of `id` (which may
 * be NULL: every record is kept for later). */
static int
take_line(struct sk_crswire_audit *a, const char *line, size_t len,
          const char *id, struct sk_buf *lines, bool *refused, int *rc)
{
    json_error_t e;
    json_t *root = json_loadb(line, len, JSON_ALLOW_NUL, &e);
    const char *uid = json_string_value(
        json_object_get(json_object_get(root, "transaction"), "unique_id"));
    if (uid == NULL) {
        if (len > 0)
            a->bad++;
        json_decref(root);
        return 0;
    }
    if (id != NULL && strcmp(uid, id) == 0) {
        size_t start = lines->len;
        *rc = lines_of(root, lines, refused);
        if (*rc != 0)
            lines->len = start;
        json_decref(root);
        return 1;
    }
    pend_add(a, uid, line, len);
    json_decref(root);
    return 0;
}

/* Reads what was appended; 1 when the record of `id` was among it. */
static int
read_more(struct sk_crswire_audit *a, const char *id, struct sk_buf *lines,
          bool *refused, int *rc)
{
    if (a->fd == -1) {
        a->fd = open(a->path, O_RDONLY | O_CLOEXEC);
        if (a->fd == -1)
            return 0;
        a->off = 0;
    }
    int found = 0;
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = pread(a->fd, buf, sizeof(buf), a->off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            *rc = -SK_EIO;
            return 1;
        }
        if (n == 0)
            break;
        a->off += n;
        size_t i = 0;
        while (i < (size_t)n) {
            const uint8_t *nl = memchr(buf + i, '\n', (size_t)n - i);
            size_t seg = nl ? (size_t)(nl - (buf + i)) : (size_t)n - i;
            if (!a->skipping) {
                if (a->part.len + seg > SK_CRSWIRE_MAX_LINE) {
                    a->skipping = true;
                    a->part.len = 0;
                    a->bad++;
                } else if ((*rc = sk_buf_append(&a->part, buf + i, seg)) != 0)
                    return 1;
            }
            i += seg;
            if (nl == NULL)
                break;
            i++; /* the newline */
            if (!a->skipping)
                found |= take_line(a, (const char *)a->part.p, a->part.len,
                                   found ? NULL : id, lines, refused, rc);
            a->skipping = false;
            a->part.len = 0;
        }
    }
    return found;
}

int
sk_crswire_audit_find(struct sk_crswire_audit *a, const char *id,
                      unsigned wait_ms, struct sk_buf *lines, bool *refused)
{
    int rc = 0;
    *refused = false;
    if (pend_take(a, id, lines, refused, &rc))
        return rc;
    long long deadline = now_ms() + wait_ms;
    for (;;) {
        if (read_more(a, id, lines, refused, &rc))
            return rc;
        int l = left_ms(deadline);
        if (l == 0)
            return -SK_ENOENT;
        struct timespec ts = {0, (l < 5 ? l : 5) * 1000000L};
        nanosleep(&ts, NULL);
    }
}
