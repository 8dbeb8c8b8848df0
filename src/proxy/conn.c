/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client connection of the proxy worker and the request path through
 * it (docs/proxy-request-path.md): TLS handshake, strict head parsing,
 * the rule engine in phases 1-5, request body buffering or streaming,
 * forwarding over an upstream connection, response inspection and
 * framing, keep-alive and pipelining, timeouts, and the per-transaction
 * logs.
 *
 * Everything is non-blocking and driven by sk__pw_conn_drive(), which
 * repeats small steps (read, parse, write upstream, read upstream,
 * process the response, write) until none makes progress or the
 * connection used its byte budget for this loop turn. Memory per
 * connection is bounded: the head by the configured limits, streamed
 * bodies by the high-water marks below, inspected bodies by the engine's
 * body limits.
 */
#include "proxy/worker_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proxy/events.h"
#include "proxy/metrics.h"
#include "proxy/plog.h"
#include "proxy/realip.h"
#include "proxy/tls.h"
#include "util/error.h"
#include "util/limits.h"
#include "util/log.h"

/* Read at most this much per read call. */
#define READ_CHUNK 16384
/* Request body bytes waiting in `in` at most (streaming). */
#define IN_BODY_MAX 65536
/* Bytes waiting for the upstream (uout) before the client is not read. */
#define UOUT_HIGH 65536
/* Bytes waiting for the client (out) before the upstream is not read. */
#define OUT_HIGH 65536
/* Response bytes waiting in `uin` at most while streaming. */
#define UIN_MAX 65536
/* Bytes a connection may move per loop turn before others get a turn. */
#define DRIVE_BUDGET (256 * 1024)
/* Most input discarded after a closing answer. */
#define LINGER_MAX (1024 * 1024)
/* Tokens of Connection headers honoured (more are not hop-by-hop). */
#define CONN_TOKENS_MAX 32
/* Transaction arena block (larger allocations get their own block). */
#define ARENA_BLOCK 4096
/* Read size while a head is expected. */
#define HEAD_READ 4096
/* Request or response steps taken in a row before the I/O between them. */
#define STEP_REPEAT 8

/* How the client gets the response body. */
enum rframe {
    RF_NONE = 0,    /* bodiless */
    RF_LENGTH = 1,  /* Content-Length */
    RF_CHUNKED = 2, /* chunked (re-chunked from the decoded bytes) */
    RF_EOF = 3,     /* until the connection closes */
};

static const char builtin_deny[] =
    "<!DOCTYPE html>\n<html><head><title>%{status} Request blocked</title>"
    "</head>\n<body><h1>Request blocked</h1>\n<p>This request was blocked "
    "by the site's security policy.</p>\n<p>Reference: <code>%{id}</code>"
    "</p></body></html>\n";

static const char builtin_maint[] =
    "<!DOCTYPE html>\n<html><head><title>503 Maintenance</title></head>\n"
    "<body><h1>Temporarily unavailable</h1>\n<p>This part of the site is "
    "under maintenance. Please try again later.</p>\n<p>Reference: "
    "<code>%{id}</code></p></body></html>\n";

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {307, "Temporary Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {417, "Expectation Failed"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

static const char *
reason_of(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return status >= 500 ? "Error" : status >= 400 ? "Client Error" : "Status";
}

/* ---- Client I/O (plain or TLS) ---------------------------------------- */

/* Bytes (> 0), 0 at EOF, -SK_EAGAIN or -SK_EIO. Never blocks. */
static long
cio_read(struct sk__pw_conn *c, void *p, size_t n)
{
    if (c->tls != NULL) {
        size_t got = 0;
        int want = 0;
        int rc = sk_tls_read(c->tls, p, n, &got, &want);
        if (rc == SK_AGAIN) {
            if (want == SK_TLS_WANT_WRITE)
                c->writable = false;
            else
                c->readable = false;
            return -SK_EAGAIN;
        }
        if (rc < 0)
            return -SK_EIO;
        return (long)got;
    }
    ssize_t r;
    do {
        r = recv(c->fd, p, n, 0);
    } while (r == -1 && errno == EINTR);
    if (r >= 0) {
        /* A short read drained the socket (see sk__pw_up_read). */
        if ((size_t)r < n && !c->rdhup)
            c->readable = false;
        return (long)r;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->readable = false;
        return -SK_EAGAIN;
    }
    return -SK_EIO;
}

static long
cio_write(struct sk__pw_conn *c, const void *p, size_t n)
{
    if (c->tls != NULL) {
        size_t put = 0;
        int want = 0;
        int rc = sk_tls_write(c->tls, p, n, &put, &want);
        if (rc == SK_AGAIN) {
            if (want == SK_TLS_WANT_READ)
                c->readable = false;
            else
                c->writable = false;
            return -SK_EAGAIN;
        }
        if (rc < 0)
            return -SK_EIO;
        return (long)put;
    }
    ssize_t r;
    do {
        r = send(c->fd, p, n, MSG_NOSIGNAL);
    } while (r == -1 && errno == EINTR);
    if (r >= 0)
        return (long)r;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->writable = false;
        return -SK_EAGAIN;
    }
    return -SK_EIO;
}

/* ---- Small helpers ----------------------------------------------------- */

/* Drops consumed bytes from the front of a buffer once worthwhile. */
static void
compact(struct sk_buf *b, size_t *off)
{
    if (*off == 0)
        return;
    if (*off >= b->len) {
        b->len = 0;
        *off = 0;
        return;
    }
    if (*off < 4096 && *off < b->len / 2)
        return;
    memmove(b->p, b->p + *off, b->len - *off);
    b->len -= *off;
    *off = 0;
}

static size_t
pending(const struct sk_buf *b, size_t off)
{
    return b->len - off;
}

static void
addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen,
          unsigned *port)
{
    *port = 0;
    snprintf(ip, iplen, "unix");
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
        *port = ntohs(s4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
        *port = ntohs(s6->sin6_port);
    }
}

/* The header names the proxy acts on. */
enum hname {
    H_OTHER = 0,
    H_CONNECTION,
    H_KEEP_ALIVE,
    H_PROXY_CONNECTION,
    H_TE,
    H_TRAILER,
    H_TRANSFER_ENCODING,
    H_UPGRADE,
    H_CONTENT_LENGTH, /* last of the hop-by-hop (or re-framed) ones */
    H_EXPECT,
    H_XFF,
    H_XFP,
    H_FORWARDED,
    H_SEKIMORI_ID,
};

#define NAME_IS(n, lit) sk_str_eq_nocase((n), SK_STR_LIT(lit))

/* Which of those `n` is (any case): its length leaves one or two
 * candidates, so most names cost a switch and no comparison. */
static enum hname
hname_of(struct sk_str n)
{
    switch (n.len) {
    case 2:
        return NAME_IS(n, "TE") ? H_TE : H_OTHER;
    case 6:
        return NAME_IS(n, "Expect") ? H_EXPECT : H_OTHER;
    case 7:
        return NAME_IS(n, "Trailer")   ? H_TRAILER
               : NAME_IS(n, "Upgrade") ? H_UPGRADE
                                       : H_OTHER;
    case 9:
        return NAME_IS(n, "Forwarded") ? H_FORWARDED : H_OTHER;
    case 10:
        return NAME_IS(n, "Connection")   ? H_CONNECTION
               : NAME_IS(n, "Keep-Alive") ? H_KEEP_ALIVE
                                          : H_OTHER;
    case 13:
        return NAME_IS(n, "X-Sekimori-Id") ? H_SEKIMORI_ID : H_OTHER;
    case 14:
        return NAME_IS(n, "Content-Length") ? H_CONTENT_LENGTH : H_OTHER;
    case 15:
        return NAME_IS(n, "X-Forwarded-For") ? H_XFF : H_OTHER;
    case 16:
        return NAME_IS(n, "Proxy-Connection") ? H_PROXY_CONNECTION : H_OTHER;
    case 17:
        return NAME_IS(n, "Transfer-Encoding")   ? H_TRANSFER_ENCODING
               : NAME_IS(n, "X-Forwarded-Proto") ? H_XFP
                                                 : H_OTHER;
    default:
        return H_OTHER;
    }
}

/* Appends n bytes: a copy when the buffer has room (heads reserve it
 * once), sk_buf_append() when it must grow. 0 or a negative error. */
static inline int
put(struct sk_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->cap - b->len < n)
        return sk_buf_append(b, p, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static inline int
put_str(struct sk_buf *b, struct sk_str s)
{
    return put(b, s.p, s.len);
}

/* Appends a string literal; 0 or a negative error. */
#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

/* Appends `v` in decimal (what "%" PRIu64 prints). */
static int
put_u64(struct sk_buf *b, uint64_t v)
{
    char d[20];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return put(b, d + i, sizeof(d) - i);
}

/* Appends `v` in lower-case hex (a chunk size, what "%zx" prints). */
static int
put_hex(struct sk_buf *b, size_t v)
{
    char d[2 * sizeof(size_t)];
    size_t i = sizeof(d);
    do {
        d[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    return put(b, d + i, sizeof(d) - i);
}

static struct sk_str
trim(struct sk_str s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* The comma-separated tokens of every Connection header (at most
 * CONN_TOKENS_MAX). */
struct conn_tokens {
    struct sk_str t[CONN_TOKENS_MAX];
    size_t n;
    bool close, keep_alive;
};

static void
conn_tokens(const struct sk_http_header *h, size_t nh, struct conn_tokens *ct)
{
    ct->n = 0;
    ct->close = ct->keep_alive = false;
    for (size_t i = 0; i < nh; i++) {
        if (h[i].name.len != 10 || !NAME_IS(h[i].name, "Connection"))
            continue;
        struct sk_str v = h[i].value;
        size_t start = 0;
        for (size_t j = 0; j <= v.len; j++) {
            if (j < v.len && v.p[j] != ',')
                continue;
            struct sk_str tok = trim(sk_str_make(v.p + start, j - start));
            start = j + 1;
            if (tok.len == 0)
                continue;
            if (NAME_IS(tok, "close"))
                ct->close = true;
            else if (NAME_IS(tok, "keep-alive"))
                ct->keep_alive = true;
            /* Host is end-to-end whatever a client claims: dropping it
             * would send the upstream a request the rules did not see. */
            if (ct->n < CONN_TOKENS_MAX && !NAME_IS(tok, "Host"))
                ct->t[ct->n++] = tok;
        }
    }
}

/* Hop-by-hop headers (RFC 9110 7.6.1) and those re-framed by us; `hn`
 * is hname_of(name). */
static bool
hop_by_hop(struct sk_str name, enum hname hn, const struct conn_tokens *ct)
{
    if (hn >= H_CONNECTION && hn <= H_CONTENT_LENGTH)
        return true;
    for (size_t i = 0; i < ct->n; i++)
        if (sk_str_eq_nocase(name, ct->t[i]))
            return true;
    return false;
}

/* Appends a template with %{id} and %{status} replaced. */
static int
expand_page(struct sk_buf *out, struct sk_str tpl, const char *id, int status)
{
    size_t i = 0;
    while (i < tpl.len) {
        if (tpl.p[i] == '%' && i + 1 < tpl.len && tpl.p[i + 1] == '{') {
            struct sk_str rest = sk_str_make(tpl.p + i, tpl.len - i);
            if (rest.len >= 5 && memcmp(rest.p, "%{id}", 5) == 0) {
                if (sk_buf_append_c(out, id) != 0)
                    return -SK_ENOMEM;
                i += 5;
                continue;
            }
            if (rest.len >= 9 && memcmp(rest.p, "%{status}", 9) == 0) {
                if (sk_buf_printf(out, "%d", status) != 0)
                    return -SK_ENOMEM;
                i += 9;
                continue;
            }
        }
        if (sk_buf_putc(out, tpl.p[i]) != 0)
            return -SK_ENOMEM;
        i++;
    }
    return 0;
}

/* ---- Spare buffers ----------------------------------------------------- */

/* Gives a buffer's memory to the worker's spares (or frees it); `b` is
 * empty afterwards. Never blocks. */
static void
buf_release(struct sk__pw *w, struct sk_buf *b)
{
    if (b->p != NULL && b->cap <= SK__PW_SPARE_CAP &&
        w->nspare < SK__PW_SPARE_MAX) {
        b->len = 0;
        w->spare[w->nspare++] = *b;
        *b = (struct sk_buf){0};
        return;
    }
    sk_buf_fini(b);
}

/* sk_buf_reserve(), starting an unallocated buffer from a spare. */
static int
buf_reserve(struct sk__pw *w, struct sk_buf *b, size_t extra)
{
    if (b->p == NULL && w->nspare > 0)
        *b = w->spare[--w->nspare];
    return sk_buf_reserve(b, extra);
}

/* sk_buf_append(), starting an unallocated buffer from a spare. */
static int
buf_append(struct sk__pw *w, struct sk_buf *b, const void *p, size_t n)
{
    if (b->p == NULL && n > 0 && w->nspare > 0)
        *b = w->spare[--w->nspare];
    return sk_buf_append(b, p, n);
}

/* Frees every spare buffer (worker teardown). Never blocks. */
void
sk__pw_spare_clear(struct sk__pw *w)
{
    while (w->nspare > 0)
        sk_buf_fini(&w->spare[--w->nspare]);
}

/* ---- Lifecycle --------------------------------------------------------- */

static void conn_finish_txn(struct sk__pw_conn *c);

/*
 * Takes an accepted, non-blocking socket from listener `l` (the
 * connection was already counted in shm->connections). On any failure the
 * socket is closed and the count given back. Never blocks.
 */
void
sk__pw_conn_accept(struct sk__pw *w, const struct sk_proxy_listener *l, int fd,
                   const struct sockaddr_storage *ss)
{
    struct sk__pw_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto fail;
    c->ev.tag = SK__PW_CLIENT;
    c->ev.ptr = c;
    c->w = w;
    c->fd = fd;
    c->l = l;
    c->ct.kind = SK__T_NONE;
    c->ut.kind = SK__T_NONE;
    addr_text(ss, c->pip, sizeof(c->pip), &c->pport);
    memcpy(c->cip, c->pip, sizeof(c->cip));
    c->cport = c->pport;
    struct sk_realip_addr peer;
    c->peer_trusted = w->conf->ntrusted_proxies > 0 &&
                      sk_realip_addr_from_sockaddr(ss, &peer) == 0 &&
                      sk_realip_trusted(w->conf->trusted_proxies,
                                        w->conf->ntrusted_proxies, &peer);
    if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6) {
        int one = 1;
        /* Answers are written whole; Nagle would only hold back the
         * tail of one behind the ACK of the previous (keep-alive). */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    memset(&local, 0, sizeof(local));
    if (getsockname(fd, (struct sockaddr *)&local, &len) == 0)
        addr_text(&local, c->sip, sizeof(c->sip), &c->sport);
    if (l->tls != NULL) {
        if (sk_tls_conn_new(l->tls, fd, &c->tls) != 0)
            goto fail;
        c->state = SK__C_TLS;
    } else {
        c->state = SK__C_IDLE;
    }
    if (sk__pw_ep_add(w, fd, &c->ev) != 0)
        goto fail;
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    if (w->rt->metrics != NULL)
        sk_proxy_metrics_connections(w->rt->metrics, 1);
    /* A new connection gets the header timeout, not the idle one: it has
     * not been served anything yet. */
    sk__pw_timer_set(w, &c->ct, SK__T_HEADER, true);
    /* Bytes may already be waiting: the edge happened before we
     * registered. */
    c->readable = c->writable = true;
    sk__pw_ready(w, c);
    return;
fail:
    if (c != NULL) {
        if (c->tls != NULL)
            sk_tls_conn_free(c->tls);
        free(c);
    }
    close(fd);
    atomic_fetch_sub_explicit(&w->rt->shm->connections, 1,
                              memory_order_relaxed);
}

static void
release_upstream(struct sk__pw_conn *c, bool reuse)
{
    if (c->up == NULL)
        return;
    sk__pw_timer_set(c->w, &c->ut, SK__T_NONE, false);
    sk__pw_up_put(c->w, c->up, reuse);
    c->up = NULL;
}

/*
 * Closes the connection at once: the upstream connection (if any) is
 * closed too, the transaction (if any) is logged. Freed later by the
 * loop (sk__pw_conn_free). Never blocks.
 */
void
sk__pw_conn_close(struct sk__pw_conn *c)
{
    if (c->dead)
        return;
    if (c->in_txn) {
        c->keep_alive = false;
        if (c->error == NULL && c->status == 0)
            c->error = "client: connection closed";
        conn_finish_txn(c);
    }
    release_upstream(c, false);
    c->dead = true;
    sk__pw_timer_set(c->w, &c->ct, SK__T_NONE, false);
    sk__pw_timer_set(c->w, &c->ut, SK__T_NONE, false);
    if (c->tls != NULL) {
        int want;
        (void)sk_tls_shutdown(c->tls, &want); /* best effort */
        sk_tls_conn_free(c->tls);
        c->tls = NULL;
    }
    close(c->fd);
    c->fd = -1;
    atomic_fetch_sub_explicit(&c->w->rt->shm->connections, 1,
                              memory_order_relaxed);
    if (c->w->rt->metrics != NULL)
        sk_proxy_metrics_connections(c->w->rt->metrics, -1);
}

/* Frees a closed connection's memory. Never blocks. */
void
sk__pw_conn_free(struct sk__pw_conn *c)
{
    /* The next connection takes these (a client without keep-alive
     * opens one per request). */
    buf_release(c->w, &c->in);
    buf_release(c->w, &c->out);
    buf_release(c->w, &c->uout);
    buf_release(c->w, &c->uin);
    buf_release(c->w, &c->qbuf);
    buf_release(c->w, &c->sbuf);
    if (c->waf != NULL)
        sk_waf_txn_free(c->waf);
    if (c->arena != NULL)
        sk_arena_free(c->arena);
    free(c);
}

/*
 * Waiting between requests with nothing buffered: drain may close it. A
 * connection that has not been served yet is not idle (h/master): it was
 * accepted just before a reload's SIGTERM and its first request is on the
 * way; closing it would fail that request. It gets its header timeout.
 */
bool
sk__pw_conn_idle(const struct sk__pw_conn *c)
{
    return c->served && !c->in_txn &&
           (c->state == SK__C_IDLE || c->state == SK__C_TLS) &&
           pending(&c->in, c->in_off) == 0 && pending(&c->out, c->out_off) == 0;
}

/* ---- Logging ----------------------------------------------------------- */

static bool
audit_wanted(struct sk__pw_conn *c)
{
    /* A head the client abandoned is no transaction: the access log
     * has it, the audit log only in ALL mode. */
    bool abandoned = c->waf == NULL && c->status == 0;
    switch (c->w->conf->audit_mode) {
    case SK_CONF_AUDIT_OFF:
        return false;
    case SK_CONF_AUDIT_ALL:
        return true;
    case SK_CONF_AUDIT_RELEVANT:
        /* Faults count as relevant: a reset mid-response keeps the
         * upstream's 200 but is worth a record. */
        if (abandoned)
            return false;
        return c->status >= 400 || c->error != NULL ||
               (c->waf != NULL && sk_waf_txn_match_count(c->waf) > 0);
    case SK_CONF_AUDIT_RULES:
    default:
        /* Refused heads never reach the engine; they are logged as
         * relevant because they are what an attack probe looks like. */
        if (c->waf == NULL)
            return c->status >= 400;
        return sk_waf_txn_audit_wanted(c->waf, c->status) || c->error != NULL;
    }
}

static void
log_failed(const struct sk_proxy_runtime *rt)
{
    if (rt->metrics != NULL)
        sk_proxy_metrics_log_error(rt->metrics);
}

static void
txn_log(struct sk__pw_conn *c)
{
    struct sk__pw *w = c->w;
    const struct sk_proxy_runtime *rt = w->rt;
    uint64_t lat_ns = (uint64_t)(sk__pw_now_ns_mono() - c->start_mono_ns);
    struct sk_proxy_txn_info ti = {
        .id = c->id,
        .start_us = c->start_us,
        .duration_us = lat_ns / 1000,
        .client_ip = c->cip,
        .client_port = c->cport,
        .peer_ip = c->pip,
        .peer_port = c->pport,
        .server_ip = c->sip,
        .server_port = c->sport,
        .tls = c->tls != NULL,
        .req = c->head.len > 0 ? &c->req : NULL,
        .raw_request_line = SK_STR_NULL,
        .status = c->status,
        .bytes_sent = c->bytes_out,
        .bytes_received = c->bytes_in,
        .resp_headers = c->resp_head_sent ? c->resp.headers : NULL,
        .nresp_headers = c->resp_head_sent ? c->resp.nheaders : 0,
        .waf = c->waf,
        .blocked = c->blocked,
        .detection_only = c->detected,
        .error = c->error,
    };
    if (ti.req == NULL) {
        /* A refused head: log its first line, bounded, as received. */
        struct sk_str in =
            sk_str_make(c->in.p + c->in_off, pending(&c->in, c->in_off));
        size_t n = 0;
        while (n < in.len && n < 1024 && in.p[n] != '\r' && in.p[n] != '\n')
            n++;
        ti.raw_request_line = sk_str_make(in.p, n);
    }
    if (c->waf != NULL && !c->blocked &&
        sk_waf_txn_mode(c->waf) == SK_WAF_MODE_DETECTION_ONLY) {
        for (size_t i = 0; i < sk_waf_txn_match_count(c->waf); i++)
            if (sk_waf_txn_match(c->waf, i)->disruptive)
                c->detected = true;
        ti.detection_only = c->detected;
    }
    struct sk_buf b = {0};
    if (rt->audit_log != NULL && audit_wanted(c)) {
        if (sk_proxy_audit_format(&ti, &b) != 0 ||
            sk_proxy_logfile_write(rt->audit_log, b.p, b.len) != 0)
            log_failed(rt);
        sk_buf_clear(&b);
    }
    if (rt->access_log != NULL) {
        if (sk_proxy_access_format(&ti, &b) != 0 ||
            sk_proxy_logfile_write(rt->access_log, b.p, b.len) != 0)
            log_failed(rt);
        sk_buf_clear(&b);
    }
    if (rt->events != NULL && (c->blocked || c->detected)) {
        if (sk_proxy_event_format(&ti, &b) == 0)
            (void)sk_proxy_events_emit(
                rt->events, c->blocked ? "proxy.block" : "proxy.detect",
                sk_buf_str(&b));
    }
    sk_buf_fini(&b);
    if (rt->metrics != NULL)
        sk_proxy_metrics_request(rt->metrics, c->status, c->blocked,
                                 lat_ns / 1000);
}

static int
run_phase(struct sk__pw_conn *c, int phase)
{
    int64_t t0 = sk__pw_now_ns_mono();
    int rc = sk_waf_txn_phase(c->waf, phase);
    int64_t dt = sk__pw_now_ns_mono() - t0;
    if (c->w->rt->metrics != NULL)
        sk_proxy_metrics_phase(c->w->rt->metrics, phase, (uint64_t)dt);
    return rc;
}

/* ---- Transactions ------------------------------------------------------ */

/* Writes `v` in decimal at `p`, at least `width` digits (zero-padded);
 * returns the digits written (at most 20). */
static size_t
dec(char *p, uint64_t v, size_t width)
{
    char d[20];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || sizeof(d) - i < width);
    memcpy(p, d + i, sizeof(d) - i);
    return sizeof(d) - i;
}

/* The transaction id, <seconds><microseconds>-<pid>-<counter> (what
 * "%" PRId64 "%06" PRId64 "-%d-%" PRIu64 prints, without printf). */
static void
make_id(struct sk__pw_conn *c)
{
    int64_t us = c->start_us < 0 ? 0 : c->start_us;
    size_t n = dec(c->id, (uint64_t)(us / 1000000), 1);
    n += dec(c->id + n, (uint64_t)(us % 1000000), 6);
    c->id[n++] = '-';
    n += dec(c->id + n, (uint64_t)(c->w->pid < 0 ? 0 : c->w->pid), 1);
    c->id[n++] = '-';
    n += dec(c->id + n, ++c->w->txn_counter, 1);
    c->id[n] = '\0';
    c->idlen = n;
}

static int
txn_start(struct sk__pw_conn *c)
{
    if (c->arena == NULL) {
        c->arena = sk_arena_new(ARENA_BLOCK);
        if (c->arena == NULL)
            return -SK_ENOMEM;
    }
    c->in_txn = true;
    c->start_us = sk__pw_now_us_real();
    c->start_mono_ns = sk__pw_now_ns_mono();
    make_id(c);
    c->keep_alive = true;
    /* Each request of a trusted proxy's connection may be another
     * client's: start from the peer again. */
    memcpy(c->cip, c->pip, sizeof(c->cip));
    c->cport = c->pport;
    return 0;
}

/*
 * The client behind a trusted peer (docs/proxy.md, "Behind a load
 * balancer or TLS terminator"): real_ip_header walked from the right by
 * proxy/realip.c. Without a usable address the client stays the peer; a
 * malformed header is logged (without its bytes, which the client may
 * have written). Returns 0 or -SK_ENOMEM.
 */
static int
real_client(struct sk__pw_conn *c)
{
    const struct sk_conf_proxy *cf = c->w->conf;
    const struct sk_http_request *r = &c->req;
    bool fwd = cf->real_ip_header == SK_CONF_REALIP_FORWARDED;
    const char *name = fwd ? "Forwarded" : "X-Forwarded-For";
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (sk_str_eq_c_nocase(r->headers[i].name, name))
            n++;
    if (n == 0)
        return 0;
    struct sk_str *v = sk_arena_calloc(c->arena, n, sizeof(*v));
    if (v == NULL)
        return -SK_ENOMEM;
    n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (sk_str_eq_c_nocase(r->headers[i].name, name))
            v[n++] = r->headers[i].value;
    struct sk_realip_client rc;
    int st = fwd ? sk_realip_forwarded(v, n, cf->trusted_proxies,
                                       cf->ntrusted_proxies, &rc)
                 : sk_realip_xff(v, n, cf->trusted_proxies,
                                 cf->ntrusted_proxies, &rc);
    if (st == -SK_EPARSE) {
        sk_log(SK_LOG_WARN,
               "proxy: %s: malformed %s from trusted peer %s; the client is "
               "taken to be the peer",
               c->id, name, c->pip);
        return 0;
    }
    if (st != 0 || sk_realip_addr_text(&rc.addr, c->cip, sizeof(c->cip)) != 0) {
        memcpy(c->cip, c->pip, sizeof(c->cip));
        return 0;
    }
    c->cport = rc.port;
    return 0;
}

/*
 * Ends the transaction: phase 5, the logs, the upstream connection back
 * to the pool (when it may be reused), per-request state reset. The
 * connection goes back to IDLE, or closes after what is queued when it
 * cannot be kept.
 */
static void
conn_finish_txn(struct sk__pw_conn *c)
{
    if (!c->in_txn)
        return;
    if (c->waf != NULL)
        (void)run_phase(c, 5);
    txn_log(c);
    bool reuse =
        c->up != NULL && c->ustate == SK__U_DONE && c->resp.keep_alive &&
        c->body.done && pending(&c->uout, c->uout_off) == 0 &&
        pending(&c->uin, c->uin_off) == 0 && !c->up_eof && !c->uwrite_failed;
    release_upstream(c, reuse);
    if (c->waf != NULL) {
        sk_waf_txn_free(c->waf);
        c->waf = NULL;
    }
    if (!c->body.done)
        c->keep_alive = false;
    bool keep = c->keep_alive && !c->w->draining;
    if (c->arena != NULL)
        sk_arena_reset(c->arena);
    c->in_txn = false;
    memset(&c->req, 0, sizeof(c->req));
    c->head = SK_STR_NULL;
    c->expect_100 = c->sent_100 = false;
    c->blocked = c->detected = c->no_inspect = false;
    c->error = NULL;
    memset(&c->body, 0, sizeof(c->body));
    buf_release(c->w, &c->qbuf);
    c->qbuf_over = false;
    c->status = 0;
    c->ustate = SK__U_NONE;
    buf_release(c->w, &c->uout);
    c->uout_off = 0;
    c->uout_dropped = c->req_sent = c->retried = false;
    buf_release(c->w, &c->uin);
    c->uin_off = 0;
    c->up_eof = false;
    c->up_bytes = 0;
    memset(&c->resp, 0, sizeof(c->resp));
    c->rhead = SK_STR_NULL;
    c->resp_head_sent = false;
    c->resp_fed = false;
    buf_release(c->w, &c->sbuf);
    c->sbuf_over = false;
    memset(&c->rch, 0, sizeof(c->rch));
    c->rremaining = 0;
    c->rframe = RF_NONE;
    c->bytes_in = c->bytes_out = 0;
    c->uwrite_failed = false;
    c->unew_lf = false;
    c->line_ok = false;
    c->served = true;
    /* Idle keep-alive connections keep no buffers. */
    if (pending(&c->in, c->in_off) == 0) {
        buf_release(c->w, &c->in);
        c->in_off = 0;
    }
    if (keep) {
        c->state = SK__C_IDLE;
    } else {
        c->close_after = true;
        c->state = SK__C_LOCAL;
    }
}

static int
sink_none(void *ud, const uint8_t *p, size_t n)
{
    (void)ud;
    (void)p;
    (void)n;
    return 0;
}

/*
 * Before answering without reading the body: when the rest of the body
 * is already in the input buffer (a small form post denied in phase 1),
 * it is skipped so the connection can be kept. A body still to come is
 * not waited for; the connection closes instead.
 */
static void
skip_received_body(struct sk__pw_conn *c)
{
    if (c->head.len == 0 || c->expect_100)
        return;
    size_t avail = pending(&c->in, c->in_off);
    const uint8_t *p = c->in.p + c->in_off;
    if (c->body.kind == SK_HTTP_BODY_LENGTH) {
        if (c->body.remaining > (uint64_t)avail)
            return;
        size_t n = (size_t)c->body.remaining;
        c->in_off += n;
        c->bytes_in += n;
        c->body.remaining = 0;
        c->body.done = true;
    } else if (c->body.kind == SK_HTTP_BODY_CHUNKED) {
        size_t used = 0;
        enum sk_http_err e;
        if (sk_http_chunked_decode(&c->body.ch, sk_str_make(p, avail), &used,
                                   sink_none, NULL, &e) != 0 ||
            !c->body.ch.done)
            return; /* the connection closes; the decoder state is moot */
        c->in_off += used;
        c->bytes_in += used;
        c->body.done = true;
    }
}

/*
 * Queues a response the proxy makes itself (error, deny, maintenance,
 * redirect) and ends the transaction. The connection closes after it
 * when the request body was not read in full, when `close` is asked, or
 * when the client did not want keep-alive.
 */
static void
local_response(struct sk__pw_conn *c, int status, struct sk_str page,
               const char *location, bool close)
{
    /* An answer replaces whatever the upstream was doing. */
    release_upstream(c, false);
    if (c->resp_head_sent) {
        /* Too late for another head: the client sees a close. */
        c->keep_alive = false;
        conn_finish_txn(c);
        return;
    }
    if (!close && !c->body.done)
        skip_received_body(c);
    if (close || !c->body.done)
        c->keep_alive = false;
    c->status = status;
    if (c->waf != NULL && !c->resp_fed) {
        /* Phases 3-5 still run for the log: they see this answer, the
         * way a server module's rules see the server's error pages. */
        c->resp_fed = true;
        (void)sk_waf_txn_response_status(c->waf, status, "HTTP/1.1");
    }
    struct sk_buf body = {0};
    int rc = 0;
    if (page.len > 0)
        rc = expand_page(&body, page, c->id, status);
    bool ok = rc == 0;
    size_t before = c->out.len;
    ok = ok && sk_buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", status,
                             reason_of(status)) == 0;
    ok = ok && sk_buf_printf(&c->out, "X-Sekimori-Id: %s\r\n", c->id) == 0;
    if (location != NULL)
        ok = ok && sk_buf_printf(&c->out, "Location: %s\r\n", location) == 0;
    if (page.len > 0)
        ok = ok && sk_buf_append_c(&c->out, "Content-Type: text/html; "
                                            "charset=utf-8\r\n") == 0;
    ok = ok && sk_buf_printf(&c->out,
                             "Content-Length: %zu\r\nCache-Control: "
                             "no-store\r\n",
                             body.len) == 0;
    if (!c->keep_alive || c->w->draining)
        ok = ok && sk_buf_append_c(&c->out, "Connection: close\r\n") == 0;
    else if (c->req.version == 10)
        ok = ok && sk_buf_append_c(&c->out, "Connection: keep-alive\r\n") == 0;
    ok = ok && sk_buf_append_c(&c->out, "\r\n") == 0;
    bool head = c->head.len > 0 && sk_str_eq_c(c->req.method, "HEAD");
    if (!head)
        ok = ok && sk_buf_append(&c->out, body.p, body.len) == 0;
    sk_buf_fini(&body);
    if (!ok) {
        c->out.len = before;
        c->keep_alive = false;
        c->error = "proxy: out of memory";
        c->status = 0;
    } else {
        c->bytes_out += c->out.len - before;
    }
    conn_finish_txn(c);
}

static void
simple_error(struct sk__pw_conn *c, int status, const char *why, bool close)
{
    if (c->error == NULL)
        c->error = why;
    struct sk_str page = sk_str_make(NULL, 0);
    local_response(c, status, page, NULL, close);
}

static void
deny(struct sk__pw_conn *c, int status)
{
    const struct sk_proxy_runtime *rt = c->w->rt;
    if (status < 100 || status > 599)
        status = 403;
    c->blocked = true;
    struct sk_str page =
        rt->deny_page.len > 0
            ? rt->deny_page
            : sk_str_make(builtin_deny, sizeof(builtin_deny) - 1);
    local_response(c, status, page, NULL, false);
}

static void
upstream_fault(struct sk__pw_conn *c, enum sk_proxy_uperr kind, const char *why)
{
    if (c->w->rt->metrics != NULL)
        sk_proxy_metrics_upstream_error(c->w->rt->metrics, kind);
    c->error = why;
    if (c->resp_head_sent) {
        /* Mid-response: what was queued is valid; nothing more goes. */
        release_upstream(c, false);
        c->keep_alive = false;
        c->close_after = true;
        conn_finish_txn(c);
        return;
    }
    int status = kind == SK_PROXY_UP_TIMEOUT ? 504 : 502;
    simple_error(c, status, why, false);
}

/*
 * Applies the verdict after a phase. Returns true when the proxy answered
 * (or dropped) and the request goes no further.
 */
static bool
apply_verdict(struct sk__pw_conn *c)
{
    struct sk_waf_verdict v;
    sk_waf_txn_verdict(c->waf, &v);
    switch (v.action) {
    case SK_WAF_PASS:
        return false;
    case SK_WAF_ALLOW:
        c->no_inspect = true;
        return false;
    case SK_WAF_DENY:
        deny(c, v.status);
        return true;
    case SK_WAF_REDIRECT: {
        c->blocked = true;
        int st = v.status >= 300 && v.status < 400 ? v.status : 302;
        /* The URL comes from the rules; refuse to put CR/LF in a header. */
        const char *url = v.url != NULL ? v.url : "/";
        if (strpbrk(url, "\r\n") != NULL)
            url = "/";
        local_response(c, st, SK_STR_NULL, url, false);
        return true;
    }
    case SK_WAF_DROP:
        c->blocked = true;
        c->error = "dropped by rule";
        c->status = 0;
        c->keep_alive = false;
        sk__pw_conn_close(c);
        return true;
    }
    return false;
}

/* A failed engine call fails closed: 500. */
static bool
engine_failed(struct sk__pw_conn *c, int rc)
{
    if (rc >= 0)
        return false;
    simple_error(c, 500, "engine: out of memory", true);
    return true;
}

/* ---- Request head ------------------------------------------------------ */

static void
bad_request(struct sk__pw_conn *c, enum sk_http_err e)
{
    if (c->w->rt->metrics != NULL)
        sk_proxy_metrics_bad_request(c->w->rt->metrics);
    c->error = sk_http_strerror(e);
    c->body.done = false; /* the rest of the input is not trusted */
    simple_error(c, sk_http_err_status(e), c->error, true);
}

static int
feed_request(struct sk__pw_conn *c)
{
    const struct sk_http_request *r = &c->req;
    int rc = sk_waf_txn_connection(c->waf, c->cip, (int)c->cport, c->sip,
                                   (int)c->sport);
    if (rc == 0)
        rc = sk_waf_txn_request_line(c->waf, (const char *)r->method.p,
                                     r->method.len, (const char *)r->target.p,
                                     r->target.len, (const char *)r->protocol.p,
                                     r->protocol.len);
    for (size_t i = 0; rc == 0 && i < r->nheaders; i++)
        rc = sk_waf_txn_request_header(
            c->waf, (const char *)r->headers[i].name.p, r->headers[i].name.len,
            (const char *)r->headers[i].value.p, r->headers[i].value.len);
    return rc;
}

static int
build_upstream_head(struct sk__pw_conn *c)
{
    const struct sk_http_request *r = &c->req;
    const struct sk_conf_proxy *cf = c->w->conf;
    struct sk_buf *o = &c->uout;
    struct conn_tokens ct;
    conn_tokens(r->headers, r->nheaders, &ct);
    /* Room for the head as received, what is added to it and the body
     * bytes at hand (buffered, or received with the head), so that the
     * appends do not grow the buffer step by step. */
    size_t body = c->qbuf.len + pending(&c->in, c->in_off);
    if (body > UOUT_HIGH)
        body = UOUT_HIGH;
    int rc = buf_reserve(c->w, o, c->head.len + 256 + body);
    rc |= put_str(o, r->request_line);
    rc |= PUT_LIT(o, "\r\n");
    struct sk_buf xff = {0}, fwd = {0};
    bool xfp_kept = false;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct sk_http_header *h = &r->headers[i];
        enum hname hn = hname_of(h->name);
        if (hop_by_hop(h->name, hn, &ct) || hn == H_EXPECT)
            continue;
        if (cf->xff && hn == H_XFF) {
            if (h->value.len > 0) {
                rc |= sk_buf_append_str(&xff, h->value);
                rc |= PUT_LIT(&xff, ", ");
            }
            continue;
        }
        if (cf->xff && hn == H_XFP) {
            /* A trusted proxy's claim passes (it saw the client's TLS);
             * anyone else's is replaced by ours. */
            if (!c->peer_trusted)
                continue;
            xfp_kept = true;
        }
        if (cf->forwarded && hn == H_FORWARDED) {
            if (h->value.len > 0) {
                rc |= sk_buf_append_str(&fwd, h->value);
                rc |= PUT_LIT(&fwd, ", ");
            }
            continue;
        }
        rc |= put_str(o, h->name);
        rc |= PUT_LIT(o, ": ");
        rc |= put_str(o, h->value);
        rc |= PUT_LIT(o, "\r\n");
    }
    bool https = c->tls != NULL;
    /* Each hop appends the address it saw: the TCP peer, also when the
     * client came from a trusted proxy's header (which stays in the
     * list, left of it). */
    if (cf->xff) {
        rc |= PUT_LIT(o, "X-Forwarded-For: ");
        rc |= put_str(o, sk_buf_str(&xff));
        rc |= sk_buf_append_c(o, c->pip);
        rc |= PUT_LIT(o, "\r\n");
        if (!xfp_kept)
            rc |= https ? PUT_LIT(o, "X-Forwarded-Proto: https\r\n")
                        : PUT_LIT(o, "X-Forwarded-Proto: http\r\n");
    }
    if (cf->forwarded) {
        bool v6 = strchr(c->pip, ':') != NULL;
        rc |= PUT_LIT(o, "Forwarded: ");
        rc |= put_str(o, sk_buf_str(&fwd));
        rc |= PUT_LIT(o, "for=");
        if (v6)
            rc |= PUT_LIT(o, "\"[");
        rc |= sk_buf_append_c(o, c->pip);
        if (v6)
            rc |= PUT_LIT(o, "]\"");
        rc |= https ? PUT_LIT(o, ";proto=https\r\n")
                    : PUT_LIT(o, ";proto=http\r\n");
    }
    sk_buf_fini(&xff);
    sk_buf_fini(&fwd);
    /* An HTTP/1.0 request keeps its version; asking for keep-alive lets
     * the upstream connection go back to the pool all the same. */
    if (r->version == 10)
        rc |= PUT_LIT(o, "Connection: keep-alive\r\n");
    if (r->body_kind == SK_HTTP_BODY_LENGTH) {
        rc |= PUT_LIT(o, "Content-Length: ");
        rc |= put_u64(o, r->content_length);
        rc |= PUT_LIT(o, "\r\n");
    } else if (r->body_kind == SK_HTTP_BODY_CHUNKED) {
        rc |= PUT_LIT(o, "Transfer-Encoding: chunked\r\n");
    }
    rc |= PUT_LIT(o, "\r\n");
    return rc != 0 ? -SK_ENOMEM : 0;
}

static void
send_100(struct sk__pw_conn *c)
{
    if (!c->expect_100 || c->sent_100 || c->body.done)
        return;
    c->sent_100 = true;
    (void)sk_buf_append_c(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
}

static void
start_upstream(struct sk__pw_conn *c, bool fresh)
{
    const char *why = "upstream: connect failed";
    struct sk__pw_up *u = NULL;
    if (sk__pw_up_get(c->w, c, fresh, &u, &why) != 0) {
        upstream_fault(c, SK_PROXY_UP_REFUSED, why);
        return;
    }
    c->up = u;
    c->ustate = SK__U_HEAD;
    sk__pw_timer_set(c->w, &c->ut, u->connecting ? SK__T_UCONNECT : SK__T_UREAD,
                     true);
}

/* Phase 2 passed: head to the upstream, body streaming from here on. */
static void
start_forward(struct sk__pw_conn *c)
{
    if (sk_str_eq_c(c->req.method, "CONNECT")) {
        /* A reverse proxy does not tunnel. */
        simple_error(c, 405, "proxy: CONNECT refused", true);
        return;
    }
    size_t buffered = c->qbuf.len;
    if (build_upstream_head(c) != 0) {
        simple_error(c, 500, "proxy: out of memory", true);
        return;
    }
    int rc = 0;
    if (buffered > 0) {
        if (c->req.body_kind == SK_HTTP_BODY_CHUNKED)
            rc = sk_buf_printf(&c->uout, "%zx\r\n", buffered);
        rc |= sk_buf_append(&c->uout, c->qbuf.p, buffered);
        if (c->req.body_kind == SK_HTTP_BODY_CHUNKED)
            rc |= sk_buf_append_c(&c->uout, "\r\n");
        buf_release(c->w, &c->qbuf);
    }
    if (c->body.done && c->req.body_kind == SK_HTTP_BODY_CHUNKED)
        rc |= sk_buf_append_c(&c->uout, "0\r\n\r\n");
    if (rc != 0) {
        simple_error(c, 500, "proxy: out of memory", true);
        return;
    }
    c->req_sent = c->body.done;
    c->state = SK__C_FORWARD;
    send_100(c);
    start_upstream(c, false);
}

/* After phase 1 (and the body, when buffered): phase 2 and forwarding. */
static void
request_phase2(struct sk__pw_conn *c)
{
    if (c->qbuf.len > 0 && !c->no_inspect) {
        size_t n = c->qbuf.len;
        if (n > c->qpol.limit + 1)
            n = (size_t)c->qpol.limit + 1;
        if (engine_failed(c, sk_waf_txn_request_body(c->waf, c->qbuf.p, n)))
            return;
    }
    if (engine_failed(c, run_phase(c, 2)) || apply_verdict(c))
        return;
    start_forward(c);
}

/* `parsed` is the complete head at the start of `in`: copy it, then the
 * engine. */
static void
on_head(struct sk__pw_conn *c, const struct sk_http_request *parsed)
{
    struct sk__pw *w = c->w;
    const struct sk_conf_proxy *cf = w->conf;
    size_t head_len = parsed->head_len;
    /* The views must survive `in` moving while the body streams: they
     * are moved to a copy of the head (not parsed again). */
    const uint8_t *at = c->in.p + c->in_off;
    char *copy = sk_arena_memdup(c->arena, at, head_len);
    if (copy == NULL) {
        simple_error(c, 500, "proxy: out of memory", true);
        return;
    }
    c->req = *parsed;
    sk_http_request_rebase(&c->req, at, (const uint8_t *)copy);
    c->head = sk_str_make(copy, head_len);
    c->in_off += head_len;
    c->bytes_in += head_len;
    const struct sk_http_request *r = &c->req;
    /* The configured limits, tighter than the parser's built-in ones. */
    if (cf->max_request_line != 0 &&
        r->request_line.len > cf->max_request_line) {
        bad_request(c, SK_HTTP_E_LINE_TOO_LONG);
        return;
    }
    /* Header section: between the request line's CRLF and the blank
     * line (the parse guarantees head_len >= line + 4). */
    size_t hdr_bytes = head_len - r->request_line.len - 4;
    if ((cf->max_header_bytes != 0 && hdr_bytes > cf->max_header_bytes) ||
        (cf->max_headers != 0 && r->nheaders > cf->max_headers)) {
        bad_request(c, cf->max_headers != 0 && r->nheaders > cf->max_headers
                           ? SK_HTTP_E_TOO_MANY_HEADERS
                           : SK_HTTP_E_HEADERS_TOO_BIG);
        return;
    }
    c->body.kind = r->body_kind;
    c->body.remaining = r->content_length;
    c->body.done =
        r->body_kind == SK_HTTP_BODY_NONE ||
        (r->body_kind == SK_HTTP_BODY_LENGTH && r->content_length == 0);
    struct conn_tokens ct;
    conn_tokens(r->headers, r->nheaders, &ct);
    c->keep_alive = r->version == 11 ? !ct.close : ct.keep_alive && !ct.close;
    /* keepalive_timeout 0 means no keep-alive (docs/configuration.md). */
    if (cf->keepalive_timeout == 0)
        c->keep_alive = false;
    bool has_expect = false;
    struct sk_str expect = SK_STR_NULL;
    for (size_t i = 0; i < r->nheaders && !has_expect; i++) {
        if (r->headers[i].name.len == 6 &&
            NAME_IS(r->headers[i].name, "Expect")) {
            has_expect = true;
            expect = r->headers[i].value;
        }
    }

    if (c->peer_trusted && real_client(c) != 0) {
        simple_error(c, 500, "proxy: out of memory", true);
        return;
    }
    c->waf = sk_waf_txn_new(w->rt->rules, c->id);
    if (c->waf == NULL) {
        simple_error(c, 500, "engine: out of memory", true);
        return;
    }
    if (engine_failed(c, feed_request(c)))
        return;
    /* Maintenance comes first: the page must not depend on the rules. */
    if (sk_proxy_maint_match(&w->rt->shm->maint, r->path)) {
        c->error = "maintenance";
        struct sk_str page =
            w->rt->maint_page.len > 0
                ? w->rt->maint_page
                : sk_str_make(builtin_maint, sizeof(builtin_maint) - 1);
        (void)run_phase(c, 1); /* the rules still see and log it */
        local_response(c, 503, page, NULL, false);
        return;
    }
    if (engine_failed(c, run_phase(c, 1)) || apply_verdict(c))
        return;
    /* HTTP/1.0 clients' expectations are ignored (RFC 9110 10.1.1). */
    if (has_expect && r->version == 11) {
        if (!sk_str_eq_c_nocase(expect, "100-continue")) {
            simple_error(c, 417, "client: unsupported expectation", true);
            return;
        }
        c->expect_100 = true;
    }
    if (sk_waf_txn_mode(c->waf) == SK_WAF_MODE_OFF)
        c->no_inspect = true;
    sk_waf_txn_request_body_policy(c->waf, &c->qpol);
    if (!c->body.done && c->qpol.inspect && !c->no_inspect) {
        c->state = SK__C_BODY_BUF;
        send_100(c);
        sk__pw_timer_set(w, &c->ct, SK__T_BODY, true);
        return;
    }
    request_phase2(c);
}

/* Tries to parse a head from `in`; answers an error when it cannot be. */
static bool
parse_head_step(struct sk__pw_conn *c, bool new_lf)
{
    struct sk__pw *w = c->w;
    size_t avail = pending(&c->in, c->in_off);
    if (avail == 0)
        return false;
    if (!c->in_txn) {
        /* RFC 9112 2.2: ignore an empty line or two before a request
         * (some clients send CRLF after a POST body). */
        size_t skip = 0;
        const uint8_t *p = c->in.p + c->in_off;
        while (skip < avail && skip < 4 && (p[skip] == '\r' || p[skip] == '\n'))
            skip++;
        c->in_off += skip;
        avail -= skip;
        if (avail == 0)
            return skip > 0;
        if (txn_start(c) != 0) {
            simple_error(c, 500, "proxy: out of memory", true);
            return true;
        }
        c->state = SK__C_HEAD;
        if (c->ct.kind != SK__T_HEADER)
            sk__pw_timer_set(w, &c->ct, SK__T_HEADER, true);
        new_lf = true;
    }
    const struct sk_conf_proxy *cf = w->conf;
    size_t line_limit = cf->max_request_line != 0 &&
                                cf->max_request_line < SK_LIMIT_REQUEST_LINE
                            ? cf->max_request_line
                            : SK_LIMIT_REQUEST_LINE;
    if (!c->line_ok && avail > line_limit + 2) {
        /* The request line must end within its limit; found once, the
         * question is settled for this head (no rescans). */
        if (memchr(c->in.p + c->in_off, '\n', line_limit + 2) == NULL) {
            bad_request(c, SK_HTTP_E_LINE_TOO_LONG);
            return true;
        }
        c->line_ok = true;
    }
    if (!new_lf && avail < w->head_cap)
        return false;
    enum sk_http_err e = SK_HTTP_OK;
    struct sk_http_request probe;
    int rc = sk_http_parse_head(
        c->arena, sk_str_make(c->in.p + c->in_off, avail), &probe, &e);
    if (rc == 0) {
        on_head(c, &probe);
        return true;
    }
    if (rc == -SK_ENOMEM) {
        simple_error(c, 500, "proxy: out of memory", true);
        return true;
    }
    if (rc < 0) {
        bad_request(c, e);
        return true;
    }
    /* Incomplete: the whole head must fit its limit. */
    if (avail >= w->head_cap) {
        bad_request(c, SK_HTTP_E_HEADERS_TOO_BIG);
        return true;
    }
    return false;
}

/* ---- Request body ------------------------------------------------------ */

static int
sink_qbuf(void *ud, const uint8_t *p, size_t n)
{
    struct sk__pw_conn *c = ud;
    c->body.received += n;
    return buf_append(c->w, &c->qbuf, p, n) == 0 ? 0 : -SK_ENOMEM;
}

static int
sink_rechunk(void *ud, const uint8_t *p, size_t n)
{
    struct sk__pw_conn *c = ud;
    c->body.received += n;
    if (n == 0)
        return 0;
    int rc = put_hex(&c->uout, n);
    rc |= PUT_LIT(&c->uout, "\r\n");
    rc |= sk_buf_append(&c->uout, p, n);
    rc |= PUT_LIT(&c->uout, "\r\n");
    return rc == 0 ? 0 : -SK_ENOMEM;
}

/*
 * Moves request body bytes from `in` to `to_qbuf` ? qbuf : uout (at most
 * `room` input bytes). Returns bytes consumed, or -1 after answering an
 * error.
 */
static long
body_take(struct sk__pw_conn *c, bool to_qbuf, size_t room)
{
    size_t avail = pending(&c->in, c->in_off);
    if (avail > room)
        avail = room;
    if (avail == 0 || c->body.done)
        return 0;
    const uint8_t *p = c->in.p + c->in_off;
    size_t used = 0;
    if (c->body.kind == SK_HTTP_BODY_LENGTH) {
        used = avail;
        if ((uint64_t)used > c->body.remaining)
            used = (size_t)c->body.remaining;
        struct sk_buf *dst = to_qbuf ? &c->qbuf : &c->uout;
        if (buf_append(c->w, dst, p, used) != 0) {
            simple_error(c, 500, "proxy: out of memory", true);
            return -1;
        }
        c->body.remaining -= used;
        c->body.received += used;
        if (c->body.remaining == 0)
            c->body.done = true;
    } else {
        enum sk_http_err e = SK_HTTP_OK;
        int rc =
            sk_http_chunked_decode(&c->body.ch, sk_str_make(p, avail), &used,
                                   to_qbuf ? sink_qbuf : sink_rechunk, c, &e);
        if (rc == -SK_ENOMEM) {
            simple_error(c, 500, "proxy: out of memory", true);
            return -1;
        }
        if (rc < 0) {
            c->in_off += used;
            bad_request(c, e != SK_HTTP_OK ? e : SK_HTTP_E_CHUNK);
            return -1;
        }
        if (c->body.ch.done) {
            c->body.done = true;
            if (!to_qbuf && sk_buf_append_c(&c->uout, "0\r\n\r\n") != 0) {
                simple_error(c, 500, "proxy: out of memory", true);
                return -1;
            }
        }
    }
    c->in_off += used;
    c->bytes_in += used;
    return (long)used;
}

static bool
body_step(struct sk__pw_conn *c)
{
    if (c->state == SK__C_BODY_BUF) {
        long n = body_take(c, true, SIZE_MAX);
        if (n < 0)
            return true;
        if (n > 0)
            sk__pw_timer_set(c->w, &c->ct, SK__T_BODY, true);
        if ((uint64_t)c->qbuf.len > c->qpol.limit) {
            c->qbuf_over = true;
        }
        if (c->body.done || c->qbuf_over) {
            request_phase2(c);
            return true;
        }
        if (c->rd_eof) {
            c->error = "client: closed during the request body";
            c->keep_alive = false;
            sk__pw_conn_close(c);
            return true;
        }
        return n > 0;
    }
    if (c->state == SK__C_FORWARD && !c->body.done) {
        size_t p = pending(&c->uout, c->uout_off);
        if (p >= UOUT_HIGH)
            return false;
        long n = body_take(c, false, UOUT_HIGH - p);
        if (n < 0)
            return true;
        if (n > 0)
            sk__pw_timer_set(c->w, &c->ct, SK__T_BODY, true);
        if (c->body.done)
            c->req_sent = true;
        if (!c->body.done && c->rd_eof && pending(&c->in, c->in_off) == 0) {
            c->error = "client: closed during the request body";
            c->keep_alive = false;
            sk__pw_conn_close(c);
            return true;
        }
        return n > 0;
    }
    return false;
}

/* ---- Response ---------------------------------------------------------- */

static int
sink_sbuf(void *ud, const uint8_t *p, size_t n)
{
    struct sk__pw_conn *c = ud;
    return buf_append(c->w, &c->sbuf, p, n) == 0 ? 0 : -SK_ENOMEM;
}

static int
sink_out_chunked(void *ud, const uint8_t *p, size_t n)
{
    struct sk__pw_conn *c = ud;
    if (n == 0)
        return 0;
    size_t before = c->out.len;
    int rc = put_hex(&c->out, n);
    rc |= PUT_LIT(&c->out, "\r\n");
    rc |= sk_buf_append(&c->out, p, n);
    rc |= PUT_LIT(&c->out, "\r\n");
    if (rc != 0)
        return -SK_ENOMEM;
    c->bytes_out += c->out.len - before;
    return 0;
}

static int
sink_out_raw(void *ud, const uint8_t *p, size_t n)
{
    struct sk__pw_conn *c = ud;
    if (sk_buf_append(&c->out, p, n) != 0)
        return -SK_ENOMEM;
    c->bytes_out += n;
    return 0;
}

/* Appends the client's response head; `clen` is used for RF_LENGTH. */
static int
send_resp_head(struct sk__pw_conn *c, uint64_t clen)
{
    const struct sk_http_response *r = &c->resp;
    struct conn_tokens ct;
    conn_tokens(r->headers, r->nheaders, &ct);
    if (c->rframe == RF_EOF || !c->body.done || c->w->draining)
        c->keep_alive = false;
    size_t before = c->out.len;
    /* Room for the head as received, what is added to it and the body
     * bytes at hand. */
    size_t body = c->sbuf.len + pending(&c->uin, c->uin_off);
    if (body > OUT_HIGH)
        body = OUT_HIGH;
    int rc = buf_reserve(c->w, &c->out, c->rhead.len + 256 + body);
    rc |= PUT_LIT(&c->out, "HTTP/1.1 ");
    rc |= put_u64(&c->out, (uint64_t)r->status);
    rc |= PUT_LIT(&c->out, " ");
    rc |= put_str(&c->out, r->reason);
    rc |= PUT_LIT(&c->out, "\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct sk_http_header *h = &r->headers[i];
        enum hname hn = hname_of(h->name);
        /* A bodiless response keeps its Content-Length (HEAD, 304). */
        if ((hop_by_hop(h->name, hn, &ct) &&
             !(hn == H_CONTENT_LENGTH && c->rframe == RF_NONE)) ||
            hn == H_SEKIMORI_ID)
            continue;
        rc |= put_str(&c->out, h->name);
        rc |= PUT_LIT(&c->out, ": ");
        rc |= put_str(&c->out, h->value);
        rc |= PUT_LIT(&c->out, "\r\n");
    }
    rc |= PUT_LIT(&c->out, "X-Sekimori-Id: ");
    rc |= put(&c->out, c->id, c->idlen);
    rc |= PUT_LIT(&c->out, "\r\n");
    if (c->rframe == RF_LENGTH) {
        rc |= PUT_LIT(&c->out, "Content-Length: ");
        rc |= put_u64(&c->out, clen);
        rc |= PUT_LIT(&c->out, "\r\n");
    } else if (c->rframe == RF_CHUNKED) {
        rc |= PUT_LIT(&c->out, "Transfer-Encoding: chunked\r\n");
    }
    if (!c->keep_alive)
        rc |= PUT_LIT(&c->out, "Connection: close\r\n");
    else if (c->req.version == 10)
        rc |= PUT_LIT(&c->out, "Connection: keep-alive\r\n");
    rc |= PUT_LIT(&c->out, "\r\n");
    if (rc != 0) {
        c->out.len = before;
        return -SK_ENOMEM;
    }
    c->bytes_out += c->out.len - before;
    c->status = r->status;
    c->resp_head_sent = true;
    return 0;
}

static void
response_done(struct sk__pw_conn *c)
{
    c->ustate = SK__U_DONE;
    if (c->rframe == RF_CHUNKED && sk_buf_append_c(&c->out, "0\r\n\r\n") == 0)
        c->bytes_out += 5;
    if (c->rframe == RF_EOF)
        c->keep_alive = false;
    conn_finish_txn(c);
}

/* The response head is parsed: phase 3, then buffer or stream. */
static void
on_resp_head(struct sk__pw_conn *c)
{
    const struct sk_http_response *r = &c->resp;
    c->resp_fed = true;
    int rc = sk_waf_txn_response_status(c->waf, r->status, "HTTP/1.1");
    for (size_t i = 0; rc == 0 && i < r->nheaders; i++)
        rc = sk_waf_txn_response_header(
            c->waf, (const char *)r->headers[i].name.p, r->headers[i].name.len,
            (const char *)r->headers[i].value.p, r->headers[i].value.len);
    if (engine_failed(c, rc))
        return;
    if (engine_failed(c, run_phase(c, 3)) || apply_verdict(c))
        return;
    switch (r->body_kind) {
    case SK_HTTP_RESP_NONE:
        c->rframe = RF_NONE;
        break;
    case SK_HTTP_RESP_LENGTH:
        c->rframe = RF_LENGTH;
        c->rremaining = r->content_length;
        break;
    case SK_HTTP_RESP_CHUNKED:
        c->rframe = c->req.version == 11 ? RF_CHUNKED : RF_EOF;
        break;
    case SK_HTTP_RESP_EOF:
    default:
        c->rframe = RF_EOF;
        break;
    }
    if (c->rframe == RF_NONE ||
        (c->rframe == RF_LENGTH && c->rremaining == 0)) {
        if (send_resp_head(c, 0) != 0) {
            simple_error(c, 500, "proxy: out of memory", true);
            return;
        }
        response_done(c);
        return;
    }
    sk_waf_txn_response_body_policy(c->waf, &c->spol);
    if (c->spol.inspect && !c->no_inspect) {
        c->ustate = SK__U_BODY_BUF;
        return;
    }
    if (send_resp_head(c, c->rremaining) != 0) {
        simple_error(c, 500, "proxy: out of memory", true);
        return;
    }
    c->ustate = SK__U_STREAM;
}

static bool
resp_head_step(struct sk__pw_conn *c)
{
    struct sk__pw *w = c->w;
    size_t avail = pending(&c->uin, c->uin_off);
    if (avail == 0)
        return false;
    /* The parser rescans from the start: only a new LF can complete a
     * head (http.h), so a trickling upstream costs linear time. */
    if (!c->unew_lf && !c->up_eof && avail < w->head_cap)
        return false;
    c->unew_lf = false;
    enum sk_http_err e = SK_HTTP_OK;
    struct sk_http_response probe;
    bool head_req = sk_str_eq_c(c->req.method, "HEAD");
    int rc = sk_http_parse_response_head(
        c->arena, sk_str_make(c->uin.p + c->uin_off, avail), head_req, &probe,
        &e);
    if (rc == SK_AGAIN) {
        if (avail >= w->head_cap || c->up_eof) {
            upstream_fault(c, c->up_eof ? SK_PROXY_UP_RESET : SK_PROXY_UP_BAD,
                           c->up_eof ? "upstream: closed in the response head"
                                     : "upstream: response head too large");
            return true;
        }
        return false;
    }
    if (rc != 0) {
        upstream_fault(c, SK_PROXY_UP_BAD,
                       rc == -SK_ENOMEM ? "proxy: out of memory"
                                        : "upstream: malformed response");
        return true;
    }
    if (probe.status == 101) {
        upstream_fault(c, SK_PROXY_UP_BAD, "upstream: protocol upgrade");
        return true;
    }
    if (probe.status < 200) {
        /* Interim responses: ours (100) was already sent when needed. */
        c->uin_off += probe.head_len;
        c->unew_lf = true; /* the next head may be there already */
        return true;
    }
    /* The views move to a copy that outlives `uin` (not parsed again). */
    const uint8_t *at = c->uin.p + c->uin_off;
    char *copy = sk_arena_memdup(c->arena, at, probe.head_len);
    if (copy == NULL) {
        upstream_fault(c, SK_PROXY_UP_BAD, "proxy: out of memory");
        return true;
    }
    c->resp = probe;
    sk_http_response_rebase(&c->resp, at, (const uint8_t *)copy);
    c->rhead = sk_str_make(copy, probe.head_len);
    c->uin_off += probe.head_len;
    on_resp_head(c);
    return true;
}

/* Buffering for phase 4. */
static bool
resp_buf_step(struct sk__pw_conn *c)
{
    size_t avail = pending(&c->uin, c->uin_off);
    const uint8_t *p = c->uin.p + c->uin_off;
    bool done = false;
    size_t used = 0;
    if (c->rframe == RF_LENGTH) {
        used = avail;
        if ((uint64_t)used > c->rremaining)
            used = (size_t)c->rremaining;
        if (buf_append(c->w, &c->sbuf, p, used) != 0) {
            upstream_fault(c, SK_PROXY_UP_BAD, "proxy: out of memory");
            return true;
        }
        c->rremaining -= used;
        done = c->rremaining == 0;
    } else if (c->resp.body_kind == SK_HTTP_RESP_CHUNKED) {
        enum sk_http_err e;
        int rc = sk_http_chunked_decode(&c->rch, sk_str_make(p, avail), &used,
                                        sink_sbuf, c, &e);
        if (rc < 0) {
            upstream_fault(c, SK_PROXY_UP_BAD,
                           "upstream: bad chunked response body");
            return true;
        }
        done = c->rch.done;
    } else {
        used = avail;
        if (buf_append(c->w, &c->sbuf, p, used) != 0) {
            upstream_fault(c, SK_PROXY_UP_BAD, "proxy: out of memory");
            return true;
        }
        done = c->up_eof;
    }
    c->uin_off += used;
    bool over = (uint64_t)c->sbuf.len > c->spol.limit;
    if (!done && !over) {
        if (c->up_eof) {
            upstream_fault(c, SK_PROXY_UP_RESET,
                           "upstream: closed mid-response");
            return true;
        }
        return used > 0;
    }
    if (over && c->spol.reject) {
        c->error = "response body over the inspection limit";
        simple_error(c, 500, c->error, false);
        return true;
    }
    size_t n = c->sbuf.len;
    if ((uint64_t)n > c->spol.limit)
        n = (size_t)c->spol.limit;
    if (engine_failed(c, sk_waf_txn_response_body(c->waf, c->sbuf.p, n)) ||
        engine_failed(c, run_phase(c, 4)) || apply_verdict(c))
        return true;
    int rc;
    if (done) {
        /* The whole body is known: its length is exact whatever the
         * upstream's framing was. */
        c->rframe = RF_LENGTH;
        rc = send_resp_head(c, c->sbuf.len);
        if (rc == 0)
            rc = sink_out_raw(c, c->sbuf.p, c->sbuf.len);
    } else {
        rc = send_resp_head(c, c->resp.content_length);
        if (rc == 0)
            rc = c->rframe == RF_CHUNKED
                     ? sink_out_chunked(c, c->sbuf.p, c->sbuf.len)
                     : sink_out_raw(c, c->sbuf.p, c->sbuf.len);
    }
    buf_release(c->w, &c->sbuf);
    if (rc != 0) {
        upstream_fault(c, SK_PROXY_UP_BAD, "proxy: out of memory");
        return true;
    }
    if (done) {
        /* The client got an exact length: its connection may stay even
         * when the upstream's closes (EOF-delimited body). */
        response_done(c);
    } else {
        c->ustate = SK__U_STREAM;
    }
    return true;
}

/* Streaming to the client, bounded by OUT_HIGH. */
static bool
resp_stream_step(struct sk__pw_conn *c)
{
    size_t outp = pending(&c->out, c->out_off);
    if (outp >= OUT_HIGH)
        return false;
    size_t room = OUT_HIGH - outp;
    size_t avail = pending(&c->uin, c->uin_off);
    if (avail > room)
        avail = room;
    const uint8_t *p = c->uin.p + c->uin_off;
    size_t used = 0;
    bool done = false;
    int rc = 0;
    if (c->resp.body_kind == SK_HTTP_RESP_LENGTH) {
        used = avail;
        if ((uint64_t)used > c->rremaining)
            used = (size_t)c->rremaining;
        rc = sink_out_raw(c, p, used);
        c->rremaining -= used;
        done = c->rremaining == 0;
    } else if (c->resp.body_kind == SK_HTTP_RESP_CHUNKED) {
        enum sk_http_err e;
        rc = sk_http_chunked_decode(
            &c->rch, sk_str_make(p, avail), &used,
            c->rframe == RF_CHUNKED ? sink_out_chunked : sink_out_raw, c, &e);
        if (rc < 0 && rc != -SK_ENOMEM) {
            upstream_fault(c, SK_PROXY_UP_BAD,
                           "upstream: bad chunked response body");
            return true;
        }
        done = c->rch.done;
    } else {
        used = avail;
        rc = sink_out_raw(c, p, used);
        done = c->up_eof && used == pending(&c->uin, c->uin_off);
    }
    if (rc != 0) {
        upstream_fault(c, SK_PROXY_UP_BAD, "proxy: out of memory");
        return true;
    }
    c->uin_off += used;
    if (done) {
        response_done(c);
        return true;
    }
    if (c->up_eof && pending(&c->uin, c->uin_off) == 0) {
        upstream_fault(c, SK_PROXY_UP_RESET, "upstream: closed mid-response");
        return true;
    }
    return used > 0;
}

/* ---- Upstream I/O ------------------------------------------------------ */

/* Whether an upstream failure may be retried on a fresh connection. */
static bool
may_retry(const struct sk__pw_conn *c)
{
    return c->up != NULL && c->up->reused && !c->retried && c->up_bytes == 0 &&
           c->req_sent && !c->uout_dropped && c->ustate == SK__U_HEAD;
}

static bool
retry(struct sk__pw_conn *c)
{
    release_upstream(c, false);
    c->retried = true;
    c->uout_off = 0;
    c->up_eof = false;
    start_upstream(c, true);
    return true;
}

static int upstream_write(struct sk__pw_conn *c, bool *progress);
static bool upstream_read(struct sk__pw_conn *c, size_t *budget);

static bool
upstream_io(struct sk__pw_conn *c, size_t *budget)
{
    struct sk__pw_up *u = c->up;
    if (u == NULL)
        return false;
    bool progress = false;
    const char *why = NULL;
    if (u->connecting) {
        int rc = sk__pw_up_connected(u, &why);
        if (rc == SK_AGAIN)
            return false;
        if (rc < 0) {
            upstream_fault(c, SK_PROXY_UP_REFUSED, why);
            return true;
        }
        sk__pw_timer_set(c->w, &c->ut, SK__T_UREAD, true);
        progress = true;
    }
    int rc = upstream_write(c, &progress);
    if (rc != 0)
        return true;
    return upstream_read(c, budget) || progress;
}

/*
 * Writes request bytes to the upstream. Returns 0, or 1 when the
 * transaction moved on (a retry started, or a fault was answered).
 */
static int
upstream_write(struct sk__pw_conn *c, bool *progress)
{
    struct sk__pw_up *u = c->up;
    const char *why = NULL;
    if (c->uwrite_failed) {
        /* Nobody takes these bytes any more. */
        c->uout.len = c->uout_off = 0;
    }
    while (u->writable && !c->uwrite_failed &&
           pending(&c->uout, c->uout_off) > 0) {
        long n = sk__pw_up_write(u, c->uout.p + c->uout_off,
                                 pending(&c->uout, c->uout_off), &why);
        if (n == -SK_EAGAIN)
            break;
        if (n < 0) {
            if (may_retry(c)) {
                retry(c);
                return 1;
            }
            /* The upstream may have answered before reading it all: stop
             * writing, let the read side find its answer or its EOF. */
            c->uwrite_failed = true;
            c->uout_dropped = true;
            u->readable = true;
            *progress = true;
            break;
        }
        c->uout_off += (size_t)n;
        *progress = true;
        sk__pw_timer_set(c->w, &c->ut, SK__T_UREAD, true);
    }
    if (!c->req_sent || !c->body.done) {
        /* Streaming: keep only what is unsent. */
        if (c->uout_off > 0) {
            c->uout_dropped = true;
            compact(&c->uout, &c->uout_off);
        }
    }
    return 0;
}

/* Reads response bytes, unless the client is behind. Whether it did. */
static bool
upstream_read(struct sk__pw_conn *c, size_t *budget)
{
    struct sk__pw_up *u = c->up;
    const char *why = NULL;
    bool progress = false;
    while (u->readable && !c->up_eof && *budget > 0 &&
           pending(&c->out, c->out_off) < OUT_HIGH &&
           pending(&c->uin, c->uin_off) < UIN_MAX + c->w->head_cap) {
        compact(&c->uin, &c->uin_off);
        if (buf_reserve(c->w, &c->uin, READ_CHUNK) != 0) {
            upstream_fault(c, SK_PROXY_UP_BAD, "proxy: out of memory");
            return true;
        }
        long n = sk__pw_up_read(u, c->uin.p + c->uin.len,
                                c->uin.cap - c->uin.len, &why);
        if (n == -SK_EAGAIN)
            break;
        if (n < 0 || n == 0) {
            if (may_retry(c) && pending(&c->uin, c->uin_off) == 0)
                return retry(c);
            c->up_eof = true;
            if (n < 0 && c->ustate == SK__U_HEAD &&
                pending(&c->uin, c->uin_off) == 0) {
                upstream_fault(c, SK_PROXY_UP_RESET, why);
                return true;
            }
            if (n < 0 && c->error == NULL)
                c->error = why;
            progress = true;
            break;
        }
        if (c->ustate == SK__U_HEAD &&
            memchr(c->uin.p + c->uin.len, '\n', (size_t)n) != NULL)
            c->unew_lf = true;
        c->uin.len += (size_t)n;
        c->up_bytes += (uint64_t)n;
        *budget = (size_t)n >= *budget ? 0 : *budget - (size_t)n;
        progress = true;
        sk__pw_timer_set(c->w, &c->ut, SK__T_UREAD, true);
    }
    return progress;
}

static bool
response_step(struct sk__pw_conn *c)
{
    if (c->up == NULL)
        return false;
    switch (c->ustate) {
    case SK__U_HEAD:
        if (c->up_eof && pending(&c->uin, c->uin_off) == 0) {
            upstream_fault(c, SK_PROXY_UP_RESET,
                           c->error != NULL ? c->error
                                            : "upstream: closed before "
                                              "responding");
            return true;
        }
        return resp_head_step(c);
    case SK__U_BODY_BUF:
        return resp_buf_step(c);
    case SK__U_STREAM:
        return resp_stream_step(c);
    default:
        return false;
    }
}

/* ---- Client I/O steps --------------------------------------------------- */

static bool
tls_step(struct sk__pw_conn *c)
{
    if (c->state != SK__C_TLS)
        return false;
    if (!c->readable && !c->writable)
        return false;
    int want = 0;
    int rc = sk_tls_handshake(c->tls, &want);
    if (rc == SK_AGAIN) {
        if (want == SK_TLS_WANT_WRITE)
            c->writable = false;
        else
            c->readable = false;
        return false;
    }
    if (rc < 0) {
        sk_log(SK_LOG_DEBUG, "proxy: TLS handshake with %s failed: %s", c->cip,
               sk_tls_conn_error(c->tls));
        sk__pw_conn_close(c);
        return true;
    }
    c->state = SK__C_IDLE;
    c->readable = true; /* decrypted bytes may already wait */
    return true;
}

static bool
want_read(const struct sk__pw_conn *c, size_t *limit)
{
    size_t head_cap = c->w->head_cap;
    switch (c->state) {
    case SK__C_IDLE:
        /* Pipelined requests wait while responses are still queued. */
        if (pending(&c->out, c->out_off) >= OUT_HIGH)
            return false;
        *limit = head_cap;
        return true;
    case SK__C_HEAD:
        *limit = head_cap;
        return true;
    case SK__C_BODY_BUF:
        *limit = IN_BODY_MAX;
        return !c->qbuf_over;
    case SK__C_FORWARD:
        *limit = IN_BODY_MAX;
        return !c->body.done && pending(&c->uout, c->uout_off) < UOUT_HIGH;
    case SK__C_LINGER:
        *limit = READ_CHUNK;
        return true;
    default:
        return false;
    }
}

static bool
client_read(struct sk__pw_conn *c, size_t *budget, bool *new_lf)
{
    size_t limit = 0;
    if (!c->readable || c->rd_eof || *budget == 0 || !want_read(c, &limit))
        return false;
    if (c->state == SK__C_LINGER) {
        uint8_t junk[READ_CHUNK];
        long n = cio_read(c, junk, sizeof(junk));
        if (n == -SK_EAGAIN)
            return false;
        if (n <= 0 || c->bytes_in > LINGER_MAX) {
            sk__pw_conn_close(c);
            return true;
        }
        c->bytes_in += (uint64_t)n;
        return true;
    }
    /* Keep the head's views (when any) valid: only the unconsumed part
     * moves, and heads are copied before the body is read. */
    compact(&c->in, &c->in_off);
    size_t have = pending(&c->in, c->in_off);
    if (have >= limit)
        return false;
    size_t want = limit - have;
    if (want > READ_CHUNK)
        want = READ_CHUNK;
    if (c->state == SK__C_IDLE || c->state == SK__C_HEAD) {
        /* Heads are small: grow in small steps, so that a thousand
         * idle or slow connections hold a few KiB each. */
        size_t room = c->in.cap - c->in.len;
        if (want > HEAD_READ)
            want = room >= 512 && room < want ? room : HEAD_READ;
    }
    if (buf_reserve(c->w, &c->in, want) != 0) {
        sk__pw_conn_close(c);
        return true;
    }
    long n = cio_read(c, c->in.p + c->in.len, want);
    if (n == -SK_EAGAIN)
        return false;
    if (n <= 0) {
        c->rd_eof = true;
        return true;
    }
    /* Only a head needs to know (bodies are not scanned; a pipelined
     * head read with a body is parsed when its turn comes). */
    if ((c->state == SK__C_IDLE || c->state == SK__C_HEAD) &&
        memchr(c->in.p + c->in.len, '\n', (size_t)n) != NULL)
        *new_lf = true;
    c->in.len += (size_t)n;
    *budget = (size_t)n >= *budget ? 0 : *budget - (size_t)n;
    if (c->tls != NULL && sk_tls_pending(c->tls))
        c->readable = true;
    return true;
}

static bool
client_write(struct sk__pw_conn *c, bool *wrote)
{
    bool progress = false;
    while (c->writable && pending(&c->out, c->out_off) > 0) {
        long n =
            cio_write(c, c->out.p + c->out_off, pending(&c->out, c->out_off));
        if (n == -SK_EAGAIN)
            break;
        if (n < 0) {
            sk__pw_conn_close(c);
            return true;
        }
        c->out_off += (size_t)n;
        *wrote = true;
        progress = true;
    }
    compact(&c->out, &c->out_off);
    if (pending(&c->out, c->out_off) == 0 && c->close_after &&
        c->state != SK__C_LINGER && !c->in_txn) {
        if (c->rd_eof) {
            sk__pw_conn_close(c);
            return true;
        }
        /* Half-close and read what the client still sends, so that its
         * unread bytes do not turn our close into a reset that could
         * destroy the answer before it is read. */
        if (c->tls != NULL) {
            int want;
            (void)sk_tls_shutdown(c->tls, &want);
        }
        shutdown(c->fd, SHUT_WR);
        c->state = SK__C_LINGER;
        c->bytes_in = 0;
        c->in.len = c->in_off = 0;
        progress = true;
    }
    return progress;
}

static bool
request_step(struct sk__pw_conn *c, bool new_lf)
{
    switch (c->state) {
    case SK__C_IDLE:
    case SK__C_HEAD:
        if (c->state == SK__C_IDLE && pending(&c->out, c->out_off) >= OUT_HIGH)
            return false;
        if (parse_head_step(c, new_lf))
            return true;
        if (c->rd_eof) {
            /* Closed between requests, or inside a head: nothing to
             * answer. */
            sk__pw_conn_close(c);
            return true;
        }
        return false;
    case SK__C_BODY_BUF:
    case SK__C_FORWARD:
        return body_step(c);
    case SK__C_LINGER:
        if (c->rd_eof) {
            sk__pw_conn_close(c);
            return true;
        }
        return false;
    default:
        return false;
    }
}

static void
update_timers(struct sk__pw_conn *c, bool wrote)
{
    struct sk__pw *w = c->w;
    int kind = SK__T_NONE;
    bool reset = false;
    if (pending(&c->out, c->out_off) > 0 && !c->writable) {
        kind = SK__T_SEND;
        reset = wrote;
    } else {
        switch (c->state) {
        case SK__C_TLS:
            kind = SK__T_HEADER;
            break;
        case SK__C_IDLE:
            kind = c->served ? SK__T_KEEPALIVE : SK__T_HEADER;
            break;
        case SK__C_HEAD:
            kind = SK__T_HEADER;
            break;
        case SK__C_BODY_BUF:
            kind = SK__T_BODY;
            break;
        case SK__C_FORWARD:
            if (!c->body.done && pending(&c->uout, c->uout_off) < UOUT_HIGH)
                kind = SK__T_BODY;
            break;
        case SK__C_LINGER:
            kind = SK__T_LINGER;
            break;
        default:
            break;
        }
    }
    sk__pw_timer_set(w, &c->ct, kind, reset);
    if (c->up != NULL) {
        int uk = c->up->connecting ? SK__T_UCONNECT : SK__T_UREAD;
        /* A client that does not read is the send timer's business. */
        if (!c->up->connecting && pending(&c->out, c->out_off) >= OUT_HIGH)
            uk = SK__T_NONE;
        sk__pw_timer_set(w, &c->ut, uk, false);
    } else {
        sk__pw_timer_set(w, &c->ut, SK__T_NONE, false);
    }
}

/*
 * Drives the connection as far as it goes without blocking, within a
 * byte budget; queues itself for the next turn when it could go on.
 */
void
sk__pw_conn_drive(struct sk__pw_conn *c)
{
    size_t budget = DRIVE_BUDGET;
    bool wrote = false;
    for (int turn = 0; turn < 64; turn++) {
        if (c->dead)
            return;
        bool progress = tls_step(c);
        if (c->dead)
            return;
        bool new_lf = false;
        progress |= client_read(c, &budget, &new_lf);
        if (c->dead)
            return;
        /* The request and response steps repeat while they progress, so
         * that what one step queued is joined by what the next one adds
         * (a head and the body bytes behind it) and goes out in one
         * write instead of one per step. */
        for (int i = 0; i < STEP_REPEAT && request_step(c, new_lf); i++) {
            progress = true;
            if (c->dead)
                return;
        }
        if (c->dead)
            return;
        progress |= upstream_io(c, &budget);
        if (c->dead)
            return;
        for (int i = 0; i < STEP_REPEAT && response_step(c); i++) {
            progress = true;
            if (c->dead)
                return;
        }
        if (c->dead)
            return;
        progress |= client_write(c, &wrote);
        if (c->dead)
            return;
        if (!progress)
            break;
        if (budget == 0 || turn == 63) {
            sk__pw_ready(c->w, c);
            break;
        }
    }
    update_timers(c, wrote);
}

/* A timer of `c` fired (worker.c already disarmed it). */
void
sk__pw_conn_timeout(struct sk__pw_conn *c, int kind)
{
    switch (kind) {
    case SK__T_KEEPALIVE:
    case SK__T_LINGER:
    case SK__T_SEND:
        if (kind == SK__T_SEND && c->in_txn)
            c->error = "client: send timeout";
        sk__pw_conn_close(c);
        return;
    case SK__T_HEADER:
        if (c->in_txn && c->state == SK__C_HEAD) {
            simple_error(c, 408, "client: header timeout", true);
            break;
        }
        sk__pw_conn_close(c);
        return;
    case SK__T_BODY:
        if (c->in_txn && !c->resp_head_sent && c->up == NULL) {
            simple_error(c, 408, "client: body timeout", true);
            break;
        }
        c->error = "client: body timeout";
        sk__pw_conn_close(c);
        return;
    case SK__T_UCONNECT:
        upstream_fault(c, SK_PROXY_UP_TIMEOUT, "upstream: connect timeout");
        break;
    case SK__T_UREAD:
        upstream_fault(c, SK_PROXY_UP_TIMEOUT, "upstream: read timeout");
        break;
    default:
        return;
    }
    if (!c->dead)
        sk__pw_conn_drive(c);
}
