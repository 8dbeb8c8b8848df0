/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One proxy worker process: a single-threaded edge-triggered epoll loop
 * over the listeners it shares with the other workers (EPOLLEXCLUSIVE, so
 * one connection wakes one worker), its client and upstream connections,
 * a signalfd, and monotonic timer queues (worker_int.h). The request path
 * itself is conn.c; this file accepts, dispatches events, expires timers,
 * handles signals and drains.
 *
 * Fairness: each connection is driven with a bounded amount of work per
 * turn (conn.c); one that could do more is queued on `ready` and driven
 * again in the next turn, after the events of everyone else, so a fast
 * client cannot starve slow ones and a thousand slow ones cost only the
 * bytes they send.
 */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/metrics.h"
#include "proxy/plog.h"
#include "proxy/worker_int.h"
#include "util/error.h"
#include "util/limits.h"
#include "util/log.h"

#define MAX_EVENTS 256
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 200
#define PPID_CHECK_MS 1000

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic nanoseconds (phase timings, latency). */
int64_t
sk__pw_now_ns_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Realtime microseconds (log time stamps, ids). */
int64_t
sk__pw_now_us_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- Timers ------------------------------------------------------------ */

static void
timer_unlink(struct sk__pw *w, struct sk__pw_timer *t)
{
    if (t->kind == SK__T_NONE)
        return;
    struct sk__pw_tqueue *q = &w->tq[t->kind];
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        q->head = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    else
        q->tail = t->prev;
    t->prev = t->next = NULL;
    t->kind = SK__T_NONE;
}

/*
 * Arms `t` for `kind` (conf duration); with `reset` false a timer that
 * already runs with that kind keeps its deadline. SK__T_NONE, or a kind
 * whose duration is 0 (never expires), disarms. Never blocks.
 */
void
sk__pw_timer_set(struct sk__pw *w, struct sk__pw_timer *t, int kind, bool reset)
{
    if (t->kind == kind && !reset)
        return;
    timer_unlink(w, t);
    if (kind == SK__T_NONE || w->tq[kind].ms == 0)
        return;
    struct sk__pw_tqueue *q = &w->tq[kind];
    t->kind = kind;
    t->deadline = w->now + q->ms;
    t->next = NULL;
    t->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
}

static struct sk__pw_conn *
timer_owner(struct sk__pw_timer *t, bool *upstream)
{
    /* Both timers live inside struct sk__pw_conn; find which one. */
    struct sk__pw_conn *c =
        (struct sk__pw_conn *)(void *)((char *)t -
                                       offsetof(struct sk__pw_conn, ct));
    *upstream = false;
    if (t->kind == SK__T_UCONNECT || t->kind == SK__T_UREAD) {
        c = (struct sk__pw_conn *)(void *)((char *)t -
                                           offsetof(struct sk__pw_conn, ut));
        *upstream = true;
    }
    return c;
}

static void
expire_timers(struct sk__pw *w)
{
    for (int k = 0; k < SK__T__COUNT; k++) {
        struct sk__pw_tqueue *q = &w->tq[k];
        while (q->head != NULL && q->head->deadline <= w->now) {
            struct sk__pw_timer *t = q->head;
            bool up;
            struct sk__pw_conn *c = timer_owner(t, &up);
            timer_unlink(w, t);
            if (!c->dead)
                sk__pw_conn_timeout(c, k);
        }
    }
}

/* Milliseconds until the next deadline, capped at `cap`. */
static int
next_wait(struct sk__pw *w, int cap)
{
    int64_t best = w->now + cap;
    for (int k = 0; k < SK__T__COUNT; k++)
        if (w->tq[k].head != NULL && w->tq[k].head->deadline < best)
            best = w->tq[k].head->deadline;
    if (w->draining && w->drain_deadline < best)
        best = w->drain_deadline;
    if (w->accept_retry != 0 && w->accept_retry < best)
        best = w->accept_retry;
    int64_t d = best - w->now;
    return d < 0 ? 0 : (int)d;
}

/* ---- Registration ------------------------------------------------------ */

/*
 * Registers a connection socket (client or upstream) edge-triggered for
 * input, output and peer half-close. 0 or -SK_EIO. Never blocks.
 */
int
sk__pw_ep_add(struct sk__pw *w, int fd, struct sk__pw_ev *ev)
{
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                            .data.ptr = ev};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e) == -1)
        return -SK_EIO;
    return 0;
}

/* Queues `c` for another bounded drive in the next loop turn. */
void
sk__pw_ready(struct sk__pw *w, struct sk__pw_conn *c)
{
    if (c->in_ready || c->dead)
        return;
    c->in_ready = true;
    c->rnext = w->ready;
    w->ready = c;
}

static int
listeners_set(struct sk__pw *w, bool on)
{
    if (w->listening == on)
        return 0;
    for (size_t i = 0; i < w->rt->nlisteners; i++) {
        int fd = w->rt->listeners[i].fd;
        if (on) {
            struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                                    .data.ptr = &w->lev[i]};
            if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e) == -1) {
                sk_log(SK_LOG_ERROR, "proxy worker: epoll add listener: %s",
                       strerror(errno));
                return -SK_EIO;
            }
        } else {
            /* EPOLLEXCLUSIVE registrations cannot be modified, only
             * removed. */
            (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
        }
    }
    w->listening = on;
    return 0;
}

static void
accept_some(struct sk__pw *w, const struct sk_proxy_listener *l)
{
    for (int i = 0; i < ACCEPT_BATCH && w->listening; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Level-triggered listeners would spin: pause them. */
                sk_log(SK_LOG_ERROR, "proxy worker: accept: %s; pausing",
                       strerror(errno));
                listeners_set(w, false);
                w->accept_retry = w->now + ACCEPT_PAUSE_MS;
            }
            return;
        }
        uint32_t max = w->conf->max_connections;
        uint32_t prev = atomic_fetch_add_explicit(&w->rt->shm->connections, 1,
                                                  memory_order_relaxed);
        if (max != 0 && prev >= max) {
            atomic_fetch_sub_explicit(&w->rt->shm->connections, 1,
                                      memory_order_relaxed);
            close(fd);
            continue;
        }
        sk__pw_conn_accept(w, l, fd, &ss);
    }
}

/* ---- Signals and drain ------------------------------------------------- */

static void
reopen_logs(struct sk__pw *w)
{
    /* The operational log is standard error, inherited from the master,
     * which reopened its own copy already (h/master). */
    if (w->conf->error_log != NULL) {
        int fd = open(w->conf->error_log,
                      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd == -1 || dup2(fd, STDERR_FILENO) == -1)
            sk_log(SK_LOG_ERROR, "proxy worker: error log reopen failed: %s",
                   strerror(errno));
        if (fd != -1)
            close(fd);
    }
    if (w->rt->audit_log != NULL &&
        sk_proxy_logfile_reopen(w->rt->audit_log) != 0)
        sk_log(SK_LOG_ERROR, "proxy worker: audit log reopen failed");
    if (w->rt->access_log != NULL &&
        sk_proxy_logfile_reopen(w->rt->access_log) != 0)
        sk_log(SK_LOG_ERROR, "proxy worker: access log reopen failed");
}

static void
close_idle(struct sk__pw *w)
{
    for (struct sk__pw_conn *c = w->conns; c != NULL; c = c->next)
        if (!c->dead && c->served && sk__pw_conn_idle(c))
            sk__pw_conn_close(c);
}

static void
start_drain(struct sk__pw *w, const char *why)
{
    if (w->draining)
        return;
    sk_log(SK_LOG_INFO, "proxy worker %u: draining (%s)", w->rt->worker_id,
           why);
    w->draining = true;
    w->drain_deadline = w->now + w->conf->drain_timeout;
    listeners_set(w, false);
    w->accept_retry = 0;
    sk__pw_up_pool_clear(w);
    close_idle(w);
}

static void
read_signals(struct sk__pw *w)
{
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(w->sfd, &si, sizeof(si));
        if (n != (ssize_t)sizeof(si))
            return;
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
        case SIGQUIT:
            start_drain(w, "signal");
            break;
        case SIGUSR1:
            reopen_logs(w);
            break;
        default:
            break; /* SIGHUP: the master reloads by replacing us */
        }
    }
}

/* ---- The loop ---------------------------------------------------------- */

static void
reap(struct sk__pw *w)
{
    struct sk__pw_conn **pp = &w->conns;
    while (*pp != NULL) {
        struct sk__pw_conn *c = *pp;
        if (c->dead && !c->in_ready) {
            *pp = c->next;
            if (c->next != NULL)
                c->next->prev = c->prev;
            w->nconns--;
            sk__pw_conn_free(c);
        } else {
            pp = &c->next;
        }
    }
}

static void
dispatch(struct sk__pw *w, struct epoll_event *e)
{
    struct sk__pw_ev *ev = e->data.ptr;
    switch (ev->tag) {
    case SK__PW_LISTENER:
        accept_some(w, ev->ptr);
        break;
    case SK__PW_SIGNAL:
        read_signals(w);
        break;
    case SK__PW_CLIENT: {
        struct sk__pw_conn *c = ev->ptr;
        if (c->dead)
            break;
        if (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->readable = true;
        if (e->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->rdhup = true;
        if (e->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            c->writable = true;
        sk__pw_conn_drive(c);
        break;
    }
    case SK__PW_UPSTREAM: {
        struct sk__pw_up *u = ev->ptr;
        if (u->dead)
            break;
        if (u->owner == NULL) {
            if (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                sk__pw_up_idle_event(w, u);
            break;
        }
        if (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            u->readable = true;
        if (e->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            u->rdhup = true;
        if (e->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            u->writable = true;
        if (!u->owner->dead)
            sk__pw_conn_drive(u->owner);
        break;
    }
    default:
        break;
    }
}

static int
setup(struct sk__pw *w, const struct sk_proxy_runtime *rt)
{
    const struct sk_conf_proxy *cf = rt->conf;
    w->rt = rt;
    w->conf = cf;
    w->ep = -1;
    w->sfd = -1;
    /* Transactions allocate and free arenas of a few hundred KiB per
     * request; glibc would serve those from fresh mmaps (page faults,
     * zeroing, munmap) every time. Keeping them on the heap, and the
     * heap from shrinking after each, is a large share of per-request
     * cost. Failure only costs speed. */
    (void)mallopt(M_MMAP_THRESHOLD, 4 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 16 << 20);
    w->pid = (int)getpid();
    w->ppid = (int)getppid();
    uint32_t ms[SK__T__COUNT] = {
        [SK__T_KEEPALIVE] = cf->keepalive_timeout,
        [SK__T_HEADER] = cf->header_timeout,
        [SK__T_BODY] = cf->body_timeout,
        [SK__T_SEND] = cf->send_timeout,
        /* Discarding a client's leftovers never needs long. */
        [SK__T_LINGER] = 2000,
        [SK__T_UCONNECT] = cf->upstream_connect_timeout,
        [SK__T_UREAD] = cf->upstream_timeout,
    };
    for (int k = 0; k < SK__T__COUNT; k++)
        w->tq[k].ms = ms[k];
    size_t line = cf->max_request_line;
    if (line == 0 || line > SK_LIMIT_REQUEST_LINE)
        line = SK_LIMIT_REQUEST_LINE;
    size_t hdr = cf->max_header_bytes;
    if (hdr == 0 || hdr > SK_LIMIT_HEADER_BYTES)
        hdr = SK_LIMIT_HEADER_BYTES;
    w->head_cap = line + 2 + hdr + 2;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
        return -SK_EIO;
    /* Writes to a vanished peer must fail with EPIPE, not kill us (TLS
     * writes cannot pass MSG_NOSIGNAL). */
    signal(SIGPIPE, SIG_IGN);
    w->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w->sfd == -1)
        return -SK_EIO;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep == -1)
        return -SK_EIO;
    w->sig_ev.tag = SK__PW_SIGNAL;
    w->sig_ev.ptr = w;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &w->sig_ev};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->sfd, &e) == -1)
        return -SK_EIO;
    if (rt->nlisteners > 0) {
        w->lev = calloc(rt->nlisteners, sizeof(*w->lev));
        if (w->lev == NULL)
            return -SK_ENOMEM;
    }
    for (size_t i = 0; i < rt->nlisteners; i++) {
        w->lev[i].tag = SK__PW_LISTENER;
        w->lev[i].ptr = (void *)&rt->listeners[i];
    }
    w->now = now_ms();
    w->next_ppid_check = w->now + PPID_CHECK_MS;
    return listeners_set(w, true);
}

static void
teardown(struct sk__pw *w)
{
    for (struct sk__pw_conn *c = w->conns; c != NULL; c = c->next)
        if (!c->dead)
            sk__pw_conn_close(c);
    w->ready = NULL;
    for (struct sk__pw_conn *c = w->conns; c != NULL; c = c->next)
        c->in_ready = false;
    reap(w);
    sk__pw_up_pool_clear(w);
    sk__pw_up_reap(w);
    sk__pw_spare_clear(w);
    listeners_set(w, false);
    if (w->sfd != -1)
        close(w->sfd);
    if (w->ep != -1)
        close(w->ep);
    free(w->lev);
}

/*
 * Runs the worker (proxy.h). Blocks until drained; 0, or a negative error
 * when setting up the loop failed.
 */
int
sk_proxy_worker_run(const struct sk_proxy_runtime *rt)
{
    struct sk__pw w;
    memset(&w, 0, sizeof(w));
    for (int k = 0; k < SK__T__COUNT; k++)
        w.tq[k].head = w.tq[k].tail = NULL;
    int rc = setup(&w, rt);
    if (rc != 0) {
        sk_log(SK_LOG_ERROR, "proxy worker: setup failed: %s", strerror(errno));
        teardown(&w);
        return rc;
    }
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        w.now = now_ms();
        int wait = w.ready != NULL ? 0 : next_wait(&w, PPID_CHECK_MS);
        int n = epoll_wait(w.ep, evs, MAX_EVENTS, wait);
        if (n == -1 && errno != EINTR) {
            sk_log(SK_LOG_ERROR, "proxy worker: epoll_wait: %s",
                   strerror(errno));
            rc = -SK_EIO;
            break;
        }
        w.now = now_ms();
        /* Connections that had more to do go first, then new events. */
        struct sk__pw_conn *ready = w.ready;
        w.ready = NULL;
        while (ready != NULL) {
            struct sk__pw_conn *c = ready;
            ready = c->rnext;
            c->in_ready = false;
            if (!c->dead)
                sk__pw_conn_drive(c);
        }
        for (int i = 0; i < n; i++)
            dispatch(&w, &evs[i]);
        expire_timers(&w);
        if (w.accept_retry != 0 && w.now >= w.accept_retry && !w.draining) {
            w.accept_retry = 0;
            listeners_set(&w, true);
        }
        if (w.now >= w.next_ppid_check) {
            w.next_ppid_check = w.now + PPID_CHECK_MS;
            if (getppid() != w.ppid)
                start_drain(&w, "master gone");
        }
        if (w.draining) {
            close_idle(&w);
            if (w.now >= w.drain_deadline) {
                sk_log(SK_LOG_WARN,
                       "proxy worker %u: drain timeout, closing %zu "
                       "connections",
                       rt->worker_id, w.nconns);
                for (struct sk__pw_conn *c = w.conns; c != NULL; c = c->next)
                    if (!c->dead)
                        sk__pw_conn_close(c);
            }
        }
        reap(&w);
        sk__pw_up_reap(&w);
        if (w.draining && w.nconns == 0) {
            rc = 0;
            break;
        }
    }
    teardown(&w);
    return rc;
}
