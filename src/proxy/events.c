/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's sender of event-log records (see events.h). The event loop
 * queues records under a mutex and never waits on the writer; one sender
 * thread per process takes them from the head of the queue, pipelines up
 * to SENDER_BATCH of them to the writer through the blocking evlog
 * client, and removes each one only when the writer has acknowledged it
 * (durable as the writer is configured). When the writer is down the
 * records wait in the queue and the thread reconnects with exponential
 * backoff; a full queue drops new records and counts them.
 *
 * Delivery is at least once: when the connection breaks after the writer
 * committed a record but before its acknowledgement arrived, the record
 * is sent again on the next connection. A record the writer refuses (bad
 * JSON, bad name: its ERR reply) is dropped and counted, since sending it
 * again cannot succeed.
 *
 * Shutdown: sk_proxy_events_free() lets the thread send what is queued
 * until its deadline, then shuts the thread's connection down
 * (sk_evlog_client_shutdown) so that a blocked exchange with a writer that
 * does not answer ends at once. What is still queued then is dropped and
 * counted. While running, every exchange is bounded by WRITER_TIMEOUT_MS
 * (sk_evlog_client_set_timeout), so a stuck writer costs a reconnect
 * rather than the sender.
 */
#include "proxy/events.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "evlog/evlog.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

/* Records sent before waiting for their acknowledgements. */
#define SENDER_BATCH 64
/* Longest exchange with a live writer before the connection is given up
 * (a group commit takes milliseconds; this is a stuck writer). */
#define WRITER_TIMEOUT_MS 10000
/* Reconnect backoff: first wait and cap, in milliseconds. */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 5000

struct event_rec {
    char type[SK_EVLOG_MAX_NAME + 1];
    uint8_t *body;
    size_t len;
};

struct sk_proxy_events {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* records queued or stop requested */
    pthread_cond_t done; /* the sender thread has finished */
    pthread_t thread;
    struct event_rec q[SK_PROXY_EVENTS_QUEUE];
    size_t head, count;
    bool stopping, exited;
    struct timespec deadline;       /* CLOCK_MONOTONIC, when stopping */
    uint64_t dropped, sent;         /* read without the lock (atomics) */
    struct sk_evlog_client *active; /* the sender's client, for free() */
    char *socket_path;
    char source[SK_EVLOG_MAX_NAME + 1];
};

static void
now_plus(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static bool
ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec ||
           (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static bool
past_deadline(const struct sk_proxy_events *e)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return e->stopping && !ts_before(&now, &e->deadline);
}

static bool
valid_name(const char *s, size_t n)
{
    if (n == 0 || n > SK_EVLOG_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Counts a dropped record; logs the 1st, 10th, 100th... (caller locked). */
static void
count_drop(struct sk_proxy_events *e, const char *why)
{
    uint64_t n = __atomic_add_fetch(&e->dropped, 1, __ATOMIC_RELAXED);
    uint64_t p = 1;
    while (p < n && p <= UINT64_MAX / 10)
        p *= 10;
    if (p == n)
        sk_log(SK_LOG_WARN, "event log: record dropped (%s); %llu so far", why,
               (unsigned long long)n);
}

/* Removes the head record (caller locked). */
static void
pop(struct sk_proxy_events *e)
{
    sk_free(e->q[e->head].body);
    e->q[e->head].body = NULL;
    e->head = (e->head + 1) % SK_PROXY_EVENTS_QUEUE;
    e->count--;
}

/*
 * Sends the first `n` queued records and collects their replies. Called
 * unlocked; the records at the head stay put (only this thread removes
 * records, emit only appends). Returns 0, or -SK_EIO when the connection
 * must be dropped (the unacknowledged records stay queued).
 */
static int
send_batch(struct sk_proxy_events *e, struct sk_evlog_client *c, size_t n)
{
    struct sk_str src = sk_str_c(e->source);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct event_rec *r =
            &e->q[(e->head + i) % SK_PROXY_EVENTS_QUEUE];
        rc = sk_evlog_client_send(c, src, sk_str_c(r->type),
                                  sk_str_make(r->body, r->len));
    }
    if (rc != 0)
        rc = -SK_EIO;
    for (size_t got = 0; rc == 0 && got < n; got++) {
        uint64_t seq;
        int r = sk_evlog_client_recv(c, &seq);
        pthread_mutex_lock(&e->mu);
        if (r == 0) {
            __atomic_add_fetch(&e->sent, 1, __ATOMIC_RELAXED);
            pop(e);
        } else if (r == -SK_EIO || r == -SK_ENOMEM) {
            rc = -SK_EIO;
        } else {
            sk_log(SK_LOG_WARN, "event log: writer refused a %s record: %s",
                   e->q[e->head].type, sk_evlog_client_error(c));
            count_drop(e, "refused by the writer");
            pop(e);
        }
        pthread_mutex_unlock(&e->mu);
    }
    if (rc != 0)
        sk_log(SK_LOG_WARN, "event log: connection to the writer lost: %s",
               sk_evlog_client_error(c));
    return rc;
}

/*
 * The time the next exchange with the writer may take (caller locked):
 * WRITER_TIMEOUT_MS, or what is left until the flush deadline.
 */
static unsigned
io_timeout(const struct sk_proxy_events *e)
{
    if (!e->stopping)
        return WRITER_TIMEOUT_MS;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(e->deadline.tv_sec - now.tv_sec) * 1000 +
                 (e->deadline.tv_nsec - now.tv_nsec) / 1000000;
    if (ms < 1)
        return 1;
    return ms < WRITER_TIMEOUT_MS ? (unsigned)ms : WRITER_TIMEOUT_MS;
}

static void *
sender_main(void *arg)
{
    struct sk_proxy_events *e = arg;
    struct sk_evlog_client *c = NULL;
    unsigned backoff = BACKOFF_MIN_MS;
    bool reported_down = false;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (e->count == 0 && !e->stopping)
            pthread_cond_wait(&e->wake, &e->mu);
        if (e->count == 0 || past_deadline(e))
            break;
        size_t n = e->count < SENDER_BATCH ? e->count : SENDER_BATCH;
        unsigned tmo = io_timeout(e);
        pthread_mutex_unlock(&e->mu);
        int rc = 0;
        if (c == NULL) {
            rc = sk_evlog_client_connect(e->socket_path, &c);
            if (rc == 0) {
                pthread_mutex_lock(&e->mu);
                e->active = c;
                /* free() may have come while we connected. */
                if (past_deadline(e))
                    sk_evlog_client_shutdown(c);
                pthread_mutex_unlock(&e->mu);
            }
        }
        if (rc == 0)
            rc = sk_evlog_client_set_timeout(c, tmo);
        if (rc == 0) {
            if (reported_down)
                sk_log(SK_LOG_INFO, "event log: writer reachable again");
            reported_down = false;
            rc = send_batch(e, c, n);
        } else if (c == NULL && !reported_down) {
            sk_log(SK_LOG_WARN,
                   "event log: writer at %s unreachable (%s); records wait "
                   "in the queue",
                   e->socket_path, sk_strerror(rc));
            reported_down = true;
        }
        pthread_mutex_lock(&e->mu);
        if (rc == 0) {
            backoff = BACKOFF_MIN_MS;
            continue;
        }
        if (c != NULL) {
            /* Under the lock: free() may be shutting it down. */
            e->active = NULL;
            sk_evlog_client_close(c);
            c = NULL;
        }
        /* Wait before reconnecting, but not past the flush deadline. */
        struct timespec until;
        now_plus(&until, backoff);
        if (e->stopping && ts_before(&e->deadline, &until))
            until = e->deadline;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        bool was_stopping = e->stopping;
        while (!past_deadline(e) && (e->stopping == was_stopping)) {
            if (pthread_cond_timedwait(&e->wake, &e->mu, &until) == ETIMEDOUT)
                break;
        }
    }
    e->active = NULL;
    e->exited = true;
    pthread_cond_broadcast(&e->done);
    pthread_mutex_unlock(&e->mu);
    sk_evlog_client_close(c);
    return NULL;
}

int
sk_proxy_events_new(const char *socket_path, const char *source,
                    struct sk_proxy_events **out)
{
    size_t sl = strlen(source), pl = strlen(socket_path);
    struct sockaddr_un sa;
    /* A path that cannot be a socket address would fail every connect:
     * refuse it now, loudly, rather than queue and drop forever. */
    if (!valid_name(source, sl) || pl == 0 || pl >= sizeof(sa.sun_path))
        return -SK_EINVAL;
    struct sk_proxy_events *e = sk_calloc(1, sizeof(*e));
    if (e == NULL)
        return -SK_ENOMEM;
    e->socket_path = sk_malloc(pl + 1);
    if (e->socket_path == NULL) {
        sk_free(e);
        return -SK_ENOMEM;
    }
    memcpy(e->socket_path, socket_path, pl + 1);
    memcpy(e->source, source, sl + 1);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->wake, &ca);
    pthread_cond_init(&e->done, &ca);
    pthread_condattr_destroy(&ca);
    /* The thread takes no signals: the worker's loop handles them. */
    sigset_t all, prev;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &prev);
    int rc = pthread_create(&e->thread, NULL, sender_main, e);
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    if (rc != 0) {
        sk_log(SK_LOG_ERROR, "event log: cannot start the sender: %s",
               strerror(rc));
        pthread_cond_destroy(&e->wake);
        pthread_cond_destroy(&e->done);
        pthread_mutex_destroy(&e->mu);
        sk_free(e->socket_path);
        sk_free(e);
        return -SK_ENOMEM;
    }
    *out = e;
    return 0;
}

int
sk_proxy_events_emit(struct sk_proxy_events *e, const char *type,
                     struct sk_str body)
{
    size_t tl = strlen(type);
    if (!valid_name(type, tl) || body.len == 0 ||
        body.len > SK_EVLOG_MAX_BODY) {
        pthread_mutex_lock(&e->mu);
        count_drop(e, "invalid type or body size");
        pthread_mutex_unlock(&e->mu);
        return -SK_EINVAL;
    }
    uint8_t *copy = sk_malloc(body.len);
    pthread_mutex_lock(&e->mu);
    int rc = 0;
    if (copy == NULL) {
        count_drop(e, "out of memory");
        rc = -SK_ENOMEM;
    } else if (e->count == SK_PROXY_EVENTS_QUEUE || e->stopping) {
        count_drop(e, e->stopping ? "shutting down" : "queue full");
        rc = -SK_ELIMIT;
    } else {
        struct event_rec *r =
            &e->q[(e->head + e->count) % SK_PROXY_EVENTS_QUEUE];
        memcpy(r->type, type, tl + 1);
        memcpy(copy, body.p, body.len);
        r->body = copy;
        r->len = body.len;
        copy = NULL;
        e->count++;
        if (e->count == 1)
            pthread_cond_signal(&e->wake);
    }
    pthread_mutex_unlock(&e->mu);
    sk_free(copy);
    return rc;
}

uint64_t
sk_proxy_events_dropped(const struct sk_proxy_events *e)
{
    return __atomic_load_n(&e->dropped, __ATOMIC_RELAXED);
}

uint64_t
sk_proxy_events_sent(const struct sk_proxy_events *e)
{
    return __atomic_load_n(&e->sent, __ATOMIC_RELAXED);
}

void
sk_proxy_events_free(struct sk_proxy_events *e, unsigned flush_ms)
{
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    now_plus(&e->deadline, flush_ms);
    pthread_cond_broadcast(&e->wake);
    while (!e->exited) {
        if (pthread_cond_timedwait(&e->done, &e->mu, &e->deadline) == ETIMEDOUT)
            break;
    }
    /* Past the deadline the thread can only be inside an exchange with
     * the writer: cut it short (the sender closes the client under this
     * lock, so `active` is alive here). */
    if (!e->exited && e->active != NULL)
        sk_evlog_client_shutdown(e->active);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    if (e->count > 0)
        sk_log(SK_LOG_WARN,
               "event log: %zu records not sent before shutdown (dropped)",
               e->count);
    while (e->count > 0) {
        __atomic_add_fetch(&e->dropped, 1, __ATOMIC_RELAXED);
        pop(e);
    }
    pthread_cond_destroy(&e->wake);
    pthread_cond_destroy(&e->done);
    pthread_mutex_destroy(&e->mu);
    sk_free(e->socket_path);
    sk_free(e);
}
