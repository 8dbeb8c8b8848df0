/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writer service and its clients. One process owns the log; the proxy,
 * the file monitor and the CLI send records over a UNIX stream socket whose
 * peers are checked with SO_PEERCRED. One thread with epoll: requests are
 * appended to a batch, the batch is committed every few milliseconds (or
 * per record), and only then are the replies released, so an ACK always
 * means "durable as configured". Frames: docs/formats/evlog.md.
 */
#include "evlog/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

/* A client whose unread replies exceed this is not read (back-pressure). */
#define OUT_HIGH (4u << 20)
/* Commit early when the batch grows past this. */
#define BATCH_HIGH (4u << 20)

static void
be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void
be64(uint8_t *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

static uint64_t
rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static int
put_u64_frame(struct sk_buf *b, uint8_t type, uint64_t v)
{
    uint8_t f[13];
    be32(f, 9);
    f[4] = type;
    be64(f + 5, v);
    return sk_buf_append(b, f, sizeof(f));
}

static int
put_err_frame(struct sk_buf *b, int code, const char *msg)
{
    size_t n = strlen(msg);
    if (n > 1024)
        n = 1024;
    uint8_t f[9];
    be32(f, (uint32_t)(5 + n));
    f[4] = SK_EVLOG_F_ERR;
    be32(f + 5, (uint32_t)(code < 0 ? -code : code));
    int rc = sk_buf_append(b, f, sizeof(f));
    return rc == 0 ? sk_buf_append(b, msg, n) : rc;
}

int
sk_evlog_frame_parse_append(const uint8_t *p, size_t len, struct sk_str *src,
                            struct sk_str *type, struct sk_str *body)
{
    if (len < 2 || 1 + (size_t)p[0] + 1 > len ||
        1 + (size_t)p[0] + 1 + p[1 + p[0]] > len)
        return -SK_EPARSE;
    *src = sk_str_make(p + 1, p[0]);
    size_t o = 1 + (size_t)p[0];
    *type = sk_str_make(p + o + 1, p[o]);
    o += 1 + (size_t)p[o];
    *body = sk_str_make(p + o, len - o);
    return 0;
}

struct client {
    int fd;
    struct sk_buf in, out;
    size_t sent;  /* bytes of out already written */
    size_t ready; /* bytes of out released by a commit */
    size_t batch_start;
    size_t batch_n;
    bool dead;
    bool want_out;
    bool paused; /* not reading: too many replies unread */
};

struct server {
    struct sk_evlog *log;
    const struct sk_evlog_server_config *cfg;
    int ep, lfd;
    struct client *cl[SK_EVLOG_MAX_CLIENTS];
    bool batch; /* replies wait for a commit */
    uint64_t deadline;
};

static void
drop(struct server *s, size_t i)
{
    struct client *c = s->cl[i];
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    sk_buf_fini(&c->in);
    sk_buf_fini(&c->out);
    sk_free(c);
    s->cl[i] = NULL;
}

static bool
uid_ok(const struct server *s, uid_t uid)
{
    if (s->cfg->nuids == 0)
        return uid == 0 || uid == geteuid();
    for (size_t i = 0; i < s->cfg->nuids && i < SK_EVLOG_MAX_UIDS; i++)
        if (s->cfg->uids[i] == uid)
            return true;
    return false;
}

static void
accept_all(struct server *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1)
            return;
        struct ucred cr;
        socklen_t len = sizeof(cr);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1 ||
            !uid_ok(s, cr.uid)) {
            struct sk_buf b = {0};
            if (put_err_frame(&b, SK_EINVAL, "permission denied") == 0 &&
                write(fd, b.p, b.len) < 0)
                (void)0;
            sk_buf_fini(&b);
            sk_log(SK_LOG_WARN, "evlog: refused a client with uid %ld",
                   (long)cr.uid);
            close(fd);
            continue;
        }
        size_t i = 0;
        while (i < SK_EVLOG_MAX_CLIENTS && s->cl[i] != NULL)
            i++;
        struct client *c =
            i < SK_EVLOG_MAX_CLIENTS ? sk_calloc(1, sizeof(*c)) : NULL;
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
            close(fd);
            sk_free(c);
            continue;
        }
        s->cl[i] = c;
    }
}

static int
handle_frame(struct server *s, struct client *c, const uint8_t *f, size_t n,
             unsigned group_ms)
{
    uint8_t type = f[0];
    const uint8_t *p = f + 1;
    size_t len = n - 1;
    int rc;
    if (!s->batch) {
        s->batch = true;
        s->deadline = sk__evlog_mono_ns() + (uint64_t)group_ms * 1000000ULL;
    }
    c->batch_n++;
    if (type == SK_EVLOG_F_SYNC) {
        s->deadline = 0; /* commit now */
        return put_u64_frame(&c->out, SK_EVLOG_F_SYNCED,
                             sk_evlog_next_seq(s->log) - 1);
    }
    if (type != SK_EVLOG_F_APPEND) {
        put_err_frame(&c->out, SK_EPARSE, "unknown frame type");
        return -SK_EPARSE; /* fatal for this connection */
    }
    struct sk_str src, typ, body;
    if (sk_evlog_frame_parse_append(p, len, &src, &typ, &body) != 0)
        return put_err_frame(&c->out, SK_EPARSE, "malformed append frame");
    uint64_t seq;
    rc = sk_evlog_append(s->log, src, typ, body, &seq);
    if (rc != 0)
        return put_err_frame(&c->out, rc, sk_strerror(rc));
    if (sk_evlog_durability(s->log) == SK_EVLOG_SYNC_RECORD)
        s->deadline = 0;
    return put_u64_frame(&c->out, SK_EVLOG_F_ACK, seq);
}

static void commit(struct server *s);
static void flush_client(struct server *s, size_t i);

static void
read_client(struct server *s, size_t i, unsigned group_ms)
{
    struct client *c = s->cl[i];
    if (c->out.len - c->sent > OUT_HIGH)
        return; /* back-pressure: let it read its replies first */
    for (;;) {
        if (sk_buf_reserve(&c->in, 65536) != 0) {
            c->dead = true;
            return;
        }
        ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == 0 || (n == -1 && errno != EAGAIN)) {
            c->dead = true;
            break;
        }
        if (n == -1)
            break;
        c->in.len += (size_t)n;
        if (c->in.len > 4 * SK_EVLOG_MAX_FRAME)
            break;
    }
    size_t off = 0;
    while (c->in.len - off >= 4) {
        uint32_t flen = rd32(c->in.p + off);
        if (flen == 0 || flen > SK_EVLOG_MAX_FRAME) {
            put_err_frame(&c->out, SK_ELIMIT, "frame too large");
            c->dead = true;
            c->ready = c->out.len;
            break;
        }
        if (c->in.len - off - 4 < flen)
            break;
        int rc = handle_frame(s, c, c->in.p + off + 4, flen, group_ms);
        off += 4 + flen;
        if (rc == -SK_EPARSE) {
            c->dead = true;
            break;
        }
        if (s->deadline == 0 || sk_evlog_pending_bytes(s->log) > BATCH_HIGH) {
            /* Commit inside the loop so per-record sync is per record. */
            commit(s);
        }
    }
    if (off > 0) {
        memmove(c->in.p, c->in.p + off, c->in.len - off);
        c->in.len -= off;
    }
    if (s->cl[i] == c && !c->dead)
        flush_client(s, i);
}

static void
flush_client(struct server *s, size_t i)
{
    struct client *c = s->cl[i];
    while (c->sent < c->ready) {
        ssize_t n =
            send(c->fd, c->out.p + c->sent, c->ready - c->sent, MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN)
            break;
        if (n <= 0) {
            c->dead = true;
            return;
        }
        c->sent += (size_t)n;
    }
    if (c->sent == c->out.len) {
        c->out.len = c->sent = c->ready = c->batch_start = 0;
    }
    /*
     * Back-pressure: a client that does not read its replies is not read
     * either (level-triggered epoll would otherwise spin on it).
     */
    bool want = c->sent < c->ready;
    bool paused = c->out.len - c->sent > OUT_HIGH;
    if (want != c->want_out || paused != c->paused) {
        struct epoll_event ev = {.events = (paused ? 0 : EPOLLIN) |
                                           (want ? EPOLLOUT : 0),
                                 .data.u64 = i};
        epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
        c->paused = paused;
    }
}

static void
commit(struct server *s)
{
    int rc = sk_evlog_commit(s->log);
    if (rc != 0)
        sk_log(SK_LOG_ERROR, "evlog: commit failed: %s",
               sk_evlog_last_error(s->log));
    for (size_t i = 0; i < SK_EVLOG_MAX_CLIENTS; i++) {
        struct client *c = s->cl[i];
        if (c == NULL)
            continue;
        if (rc != 0 && c->batch_n > 0) {
            /* Nothing of this batch is in the log: every reply is ERR. */
            c->out.len = c->batch_start;
            for (size_t k = 0; k < c->batch_n; k++)
                put_err_frame(&c->out, SK_EIO, sk_evlog_last_error(s->log));
        }
        c->ready = c->out.len;
        c->batch_start = c->out.len;
        c->batch_n = 0;
        flush_client(s, i);
    }
    s->batch = false;
    if (rc != 0) {
        /* A full disk: slow everyone down instead of spinning. */
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/*
 * The socket's file mode: with an explicit uid list the writer checks
 * every peer's uid (SO_PEERCRED), so the file may be reachable by all
 * (0666) and a proxy worker running as www-data can connect; without one
 * only root and our own uid are allowed, and 0660 says the same.
 */
static int
listen_on(const char *path, mode_t mode)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -SK_ELIMIT;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -SK_EIO;
    /* A stale socket of a dead writer; the log lock says we are alone. */
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
        chmod(path, mode) == -1 || listen(fd, 128) == -1) {
        close(fd);
        return -SK_EIO;
    }
    return fd;
}

int
sk_evlog_serve(struct sk_evlog *log, const struct sk_evlog_server_config *cfg)
{
    struct server s = {.log = log, .cfg = cfg, .ep = -1, .lfd = -1};
    s.lfd = listen_on(cfg->socket_path, cfg->nuids > 0 ? 0666 : 0660);
    if (s.lfd < 0)
        return s.lfd;
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (s.ep == -1 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &ev) == -1) {
        if (s.ep != -1)
            close(s.ep);
        close(s.lfd);
        return -SK_EIO;
    }
    unsigned group_ms = sk__evlog_group_ms(log);
    uint64_t last_tick = sk__evlog_mono_ns();
    uint64_t retain_every =
        (uint64_t)(cfg->retention_secs ? cfg->retention_secs : 3600) *
        1000000000ULL;
    uint64_t last_retain = last_tick - retain_every; /* run at start */
    while (cfg->stop == NULL || !*cfg->stop) {
        int timeout = 200;
        if (s.batch) {
            uint64_t now = sk__evlog_mono_ns();
            timeout = s.deadline <= now
                          ? 0
                          : (int)((s.deadline - now + 999999) / 1000000);
        }
        struct epoll_event evs[64];
        int n = epoll_wait(s.ep, evs, 64, timeout);
        if (n == -1 && errno != EINTR)
            break;
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u64 == UINT64_MAX) {
                accept_all(&s);
                continue;
            }
            size_t i = (size_t)evs[k].data.u64;
            if (i >= SK_EVLOG_MAX_CLIENTS || s.cl[i] == NULL)
                continue;
            if (evs[k].events & EPOLLOUT)
                flush_client(&s, i);
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                read_client(&s, i, group_ms);
            }
        }
        uint64_t now = sk__evlog_mono_ns();
        if (s.batch && now >= s.deadline)
            commit(&s);
        else if (!s.batch && now - last_tick >= 200000000ULL) {
            /* Time-based checkpoints and segment rollover when idle. */
            commit(&s);
            last_tick = now;
        }
        if (!s.batch && cfg->retention != NULL &&
            now - last_retain >= retain_every) {
            struct sk_buf out = {0};
            int rc = sk_evlog_retain_open(log, cfg->retention, &out);
            if (out.len > 0)
                sk_log(SK_LOG_INFO, "evlog: retention: %.*s",
                       (int)(out.len - 1), (const char *)out.p);
            if (rc != 0)
                sk_log(SK_LOG_ERROR, "evlog: retention failed: %s",
                       sk_strerror(rc));
            sk_buf_fini(&out);
            last_retain = now;
        }
        for (size_t i = 0; i < SK_EVLOG_MAX_CLIENTS; i++)
            if (s.cl[i] != NULL && s.cl[i]->dead &&
                (s.cl[i]->batch_n == 0 || !s.batch)) {
                flush_client(&s, i);
                drop(&s, i);
            }
    }
    if (s.batch)
        commit(&s);
    for (size_t i = 0; i < SK_EVLOG_MAX_CLIENTS; i++)
        if (s.cl[i] != NULL)
            drop(&s, i);
    close(s.ep);
    close(s.lfd);
    unlink(cfg->socket_path);
    return 0;
}

/* ---- client ---------------------------------------------------------- */

struct sk_evlog_client {
    int fd;
    struct sk_buf out, in;
    size_t in_off;
    char err[256];
};

int
sk_evlog_client_connect(const char *socket_path, struct sk_evlog_client **out)
{
    return sk_evlog_client_connect_timeout(socket_path, 0, out);
}

int
sk_evlog_client_connect_timeout(const char *socket_path, unsigned ms,
                                struct sk_evlog_client **out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        return -SK_ELIMIT;
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -SK_EIO;
    if (ms > 0) {
        /* Set before connect(): a unix-socket connect waits for room in
         * the listener's backlog for up to the send timeout (then fails
         * with EAGAIN), so a writer that stopped accepting cannot hold
         * the caller forever. The bound stays for sends and receives. */
        struct timeval tv = {.tv_sec = ms / 1000,
                             .tv_usec = (suseconds_t)(ms % 1000) * 1000};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
            close(fd);
            return -SK_EIO;
        }
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        int e = errno;
        close(fd);
        return e == ENOENT || e == ECONNREFUSED ? -SK_ENOENT : -SK_EIO;
    }
    struct sk_evlog_client *c = sk_calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return -SK_ENOMEM;
    }
    c->fd = fd;
    *out = c;
    return 0;
}

int
sk_evlog_client_send(struct sk_evlog_client *c, struct sk_str source,
                     struct sk_str type, struct sk_str body)
{
    if (source.len > SK_EVLOG_MAX_NAME || type.len > SK_EVLOG_MAX_NAME ||
        body.len > SK_EVLOG_MAX_BODY)
        return -SK_ELIMIT;
    uint8_t h[6];
    be32(h, (uint32_t)(1 + 1 + source.len + 1 + type.len + body.len));
    h[4] = SK_EVLOG_F_APPEND;
    h[5] = (uint8_t)source.len;
    int rc = sk_buf_append(&c->out, h, 6);
    if (rc == 0)
        rc = sk_buf_append_str(&c->out, source);
    if (rc == 0)
        rc = sk_buf_putc(&c->out, (uint8_t)type.len);
    if (rc == 0)
        rc = sk_buf_append_str(&c->out, type);
    if (rc == 0)
        rc = sk_buf_append_str(&c->out, body);
    if (rc == 0 && c->out.len > 256 * 1024)
        rc = sk_evlog_client_flush(c);
    return rc;
}

int
sk_evlog_client_flush(struct sk_evlog_client *c)
{
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + off, c->out.len - off, MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(c->err, sizeof(c->err), "send: %s", strerror(errno));
            return -SK_EIO;
        }
        off += (size_t)n;
    }
    c->out.len = 0;
    return 0;
}

int
sk_evlog_client_recv(struct sk_evlog_client *c, uint64_t *seq)
{
    /*
     * Replies already read are returned without a system call; the
     * pending requests are flushed only before we wait for more, so a
     * pipelining client sends in batches. A writer that refuses us (peer
     * credentials) replies ERR and closes: our send may fail, but its
     * reason is waiting to be read.
     */
    int sent = 0, rc;
    bool flushed = false;
    for (;;) {
        size_t avail = c->in.len - c->in_off;
        if (avail >= 4) {
            uint32_t flen = rd32(c->in.p + c->in_off);
            if (flen == 0 || flen > 4096) {
                snprintf(c->err, sizeof(c->err), "bad reply frame");
                return -SK_EPARSE;
            }
            if (avail - 4 >= flen) {
                const uint8_t *f = c->in.p + c->in_off + 4;
                c->in_off += 4 + flen;
                if ((f[0] == SK_EVLOG_F_ACK || f[0] == SK_EVLOG_F_SYNCED) &&
                    flen == 9) {
                    if (seq != NULL)
                        *seq = rd64(f + 1);
                    return 0;
                }
                if (f[0] == SK_EVLOG_F_ERR && flen >= 5) {
                    uint32_t code = rd32(f + 1);
                    snprintf(c->err, sizeof(c->err), "%.*s", (int)(flen - 5),
                             (const char *)f + 5);
                    return code > 0 && code < 64 ? -(int)code : -SK_EIO;
                }
                snprintf(c->err, sizeof(c->err), "unknown reply frame");
                return -SK_EPARSE;
            }
        }
        if (!flushed) {
            sent = sk_evlog_client_flush(c);
            flushed = true;
        }
        if (c->in_off > 0) {
            memmove(c->in.p, c->in.p + c->in_off, c->in.len - c->in_off);
            c->in.len -= c->in_off;
            c->in_off = 0;
        }
        if ((rc = sk_buf_reserve(&c->in, 65536)) != 0)
            return rc;
        ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (sent == 0)
                snprintf(c->err, sizeof(c->err),
                         "writer closed the connection");
            return sent != 0 ? sent : -SK_EIO;
        }
        c->in.len += (size_t)n;
    }
}

int
sk_evlog_client_append(struct sk_evlog_client *c, struct sk_str source,
                       struct sk_str type, struct sk_str body, uint64_t *seq)
{
    int rc = sk_evlog_client_send(c, source, type, body);
    return rc == 0 ? sk_evlog_client_recv(c, seq) : rc;
}

int
sk_evlog_client_sync(struct sk_evlog_client *c, uint64_t *seq)
{
    uint8_t f[5];
    be32(f, 1);
    f[4] = SK_EVLOG_F_SYNC;
    int rc = sk_buf_append(&c->out, f, sizeof(f));
    return rc == 0 ? sk_evlog_client_recv(c, seq) : rc;
}

int
sk_evlog_client_set_timeout(struct sk_evlog_client *c, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000,
                         .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
        snprintf(c->err, sizeof(c->err), "setsockopt: %s", strerror(errno));
        return -SK_EIO;
    }
    return 0;
}

void
sk_evlog_client_shutdown(struct sk_evlog_client *c)
{
    shutdown(c->fd, SHUT_RDWR);
}

const char *
sk_evlog_client_error(const struct sk_evlog_client *c)
{
    return c->err;
}

void
sk_evlog_client_close(struct sk_evlog_client *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    sk_buf_fini(&c->in);
    sk_buf_fini(&c->out);
    sk_free(c);
}
