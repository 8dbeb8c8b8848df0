/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker's side of the upstream: non-blocking connects to
 * conf->upstream (TCP or UNIX socket) and a per-worker pool of idle
 * keep-alive connections (at most conf->upstream_keepalive), most
 * recently used first. An idle pooled connection stays in epoll; any
 * event on it (the upstream closed it, or sent bytes nobody asked for)
 * closes it, so a stale connection is rarely handed out, and the caller
 * retries once when one is (conn.c).
 */
#include "proxy/worker_int.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/error.h"
#include "util/log.h"

static void
pool_unlink(struct sk__pw *w, struct sk__pw_up *u)
{
    if (u->pprev != NULL)
        u->pprev->pnext = u->pnext;
    else
        w->pool = u->pnext;
    if (u->pnext != NULL)
        u->pnext->pprev = u->pprev;
    u->pnext = u->pprev = NULL;
    w->npool--;
}

/*
 * Closes the socket (which also leaves epoll) but keeps the struct until
 * the end of the loop turn: events of the current epoll batch may still
 * point to it.
 */
static void
up_close(struct sk__pw_up *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    u->dead = true;
    u->owner = NULL;
    u->pnext = u->w->up_dead;
    u->w->up_dead = u;
}

/* Frees the connections closed during this loop turn. Never blocks. */
void
sk__pw_up_reap(struct sk__pw *w)
{
    while (w->up_dead != NULL) {
        struct sk__pw_up *u = w->up_dead;
        w->up_dead = u->pnext;
        free(u);
    }
}

static const char *
connect_reason(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return "upstream: connection refused";
    case ENOENT:
        return "upstream: socket not found";
    case ETIMEDOUT:
        return "upstream: connect timed out";
    case ENETUNREACH:
    case EHOSTUNREACH:
        return "upstream: unreachable";
    case EACCES:
    case EPERM:
        return "upstream: permission denied";
    default:
        return "upstream: connect failed";
    }
}

/*
 * Hands out an idle pooled connection (unless `fresh`), else a new socket
 * whose connect is in progress (u->connecting) or done. The connection is
 * registered in epoll for `owner`. Returns 0, or -SK_EIO with *reason
 * (the connect failed at once: the caller answers 502). Never blocks.
 */
int
sk__pw_up_get(struct sk__pw *w, struct sk__pw_conn *owner, bool fresh,
              struct sk__pw_up **out, const char **reason)
{
    *out = NULL;
    if (!fresh && w->pool != NULL) {
        /* Pooled connections had nothing to read when put back, and any
         * later EOF or byte closed them (sk__pw_up_idle_event). */
        struct sk__pw_up *u = w->pool;
        pool_unlink(w, u);
        u->owner = owner;
        u->reused = true;
        u->readable = false;
        u->writable = true;
        *out = u;
        return 0;
    }
    const struct sk_conf_addr *a = &w->conf->upstream;
    struct sk__pw_up *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        *reason = "upstream: out of memory";
        return -SK_ENOMEM;
    }
    u->ev.tag = SK__PW_UPSTREAM;
    u->ev.ptr = u;
    u->w = w;
    u->owner = owner;
    u->fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd == -1) {
        *reason = "upstream: socket failed";
        free(u);
        return -SK_EIO;
    }
    if (a->family != AF_UNIX) {
        int one = 1;
        /* Heads and small bodies go out in one write; Nagle would only
         * delay the last segment. Failure costs latency, not safety. */
        (void)setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(u->fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            *reason = connect_reason(errno);
            up_close(u);
            return -SK_EIO;
        }
        u->connecting = true;
    }
    u->writable = !u->connecting;
    if (sk__pw_ep_add(w, u->fd, &u->ev) != 0) {
        *reason = "upstream: epoll failed";
        up_close(u);
        return -SK_EIO;
    }
    *out = u;
    return 0;
}

/*
 * Returns `u` to the pool when `reuse` (the response was complete and the
 * upstream allowed keep-alive) and the pool has room; otherwise closes
 * it. The least recently used connection leaves a full pool. Never
 * blocks.
 */
void
sk__pw_up_put(struct sk__pw *w, struct sk__pw_up *u, bool reuse)
{
    if (u == NULL)
        return;
    u->owner = NULL;
    if (!reuse || w->conf->upstream_keepalive == 0 || w->draining ||
        u->connecting || u->rdhup) {
        up_close(u);
        return;
    }
    if (w->npool >= w->conf->upstream_keepalive) {
        struct sk__pw_up *last = w->pool;
        while (last->pnext != NULL)
            last = last->pnext;
        pool_unlink(w, last);
        up_close(last);
    }
    if (u->readable) {
        /* An edge came after the last read: the upstream may have
         * closed, or sent bytes that belong to no request. Either way
         * the connection cannot serve another one. */
        char b;
        ssize_t n = recv(u->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n != -1 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            up_close(u);
            return;
        }
    }
    u->readable = false;
    u->pprev = NULL;
    u->pnext = w->pool;
    if (w->pool != NULL)
        w->pool->pprev = u;
    w->pool = u;
    w->npool++;
}

/*
 * An epoll event for a connection nobody owns: with edge-triggered epoll
 * an idle connection reports only when something happened, and for an
 * idle HTTP/1.1 connection that is a close or stray bytes. Either way it
 * cannot be reused. A writable edge alone (the one a put connection may
 * still report) is ignored.
 */
void
sk__pw_up_idle_event(struct sk__pw *w, struct sk__pw_up *u)
{
    char b;
    ssize_t n = recv(u->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    pool_unlink(w, u);
    up_close(u);
}

/*
 * Completes a connect in progress: 0 when connected, SK_AGAIN while it
 * is still pending, -SK_EIO with *reason when it failed. Never blocks.
 */
int
sk__pw_up_connected(struct sk__pw_up *u, const char **reason)
{
    if (!u->connecting)
        return 0;
    /* The outcome comes with an edge (EPOLLOUT, or EPOLLERR/EPOLLHUP,
     * which set `writable` too): until then there is nothing to ask. */
    if (!u->writable)
        return SK_AGAIN;
    int e = 0;
    socklen_t len = sizeof(e);
    if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
        e = errno;
    if (e == 0) {
        u->connecting = false;
        return 0;
    }
    if (e == EINPROGRESS || e == EALREADY)
        return SK_AGAIN;
    *reason = connect_reason(e);
    return -SK_EIO;
}

/*
 * Reads up to n bytes: the count, 0 at EOF, -SK_EAGAIN (readable flag
 * cleared) or -SK_EIO with *reason. Never blocks.
 */
long
sk__pw_up_read(struct sk__pw_up *u, void *p, size_t n, const char **reason)
{
    ssize_t r;
    do {
        r = recv(u->fd, p, n, 0);
    } while (r == -1 && errno == EINTR);
    if (r >= 0) {
        /* A short read drained the socket: the next bytes bring a new
         * edge, so there is no need to meet EAGAIN first. */
        if ((size_t)r < n && !u->rdhup)
            u->readable = false;
        return (long)r;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        u->readable = false;
        return -SK_EAGAIN;
    }
    *reason = errno == ECONNRESET ? "upstream: connection reset"
                                  : "upstream: read failed";
    return -SK_EIO;
}

/* Writes up to n bytes: the count, -SK_EAGAIN or -SK_EIO. Never blocks. */
long
sk__pw_up_write(struct sk__pw_up *u, const void *p, size_t n,
                const char **reason)
{
    ssize_t r;
    do {
        r = send(u->fd, p, n, MSG_NOSIGNAL);
    } while (r == -1 && errno == EINTR);
    if (r >= 0)
        return (long)r;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        u->writable = false;
        return -SK_EAGAIN;
    }
    *reason = errno == ECONNRESET || errno == EPIPE
                  ? "upstream: connection reset"
                  : "upstream: write failed";
    return -SK_EIO;
}

/* Closes every idle pooled connection (drain, exit). Never blocks. */
void
sk__pw_up_pool_clear(struct sk__pw *w)
{
    while (w->pool != NULL) {
        struct sk__pw_up *u = w->pool;
        pool_unlink(w, u);
        up_close(u);
    }
}
