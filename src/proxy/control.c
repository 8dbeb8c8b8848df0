/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The master's two small servers, both served by its epoll loop:
 *
 * The control socket (a UNIX stream socket, mode 0660, only root and the
 * master's own uid, checked with SO_PEERCRED) takes one JSON object per
 * line and answers each with one JSON line, {"ok":true,...} or
 * {"ok":false,"error":"..."}: "maintenance" (what `sekimori fim watch`
 * sends on tampering, and `sekimori proxy ctl maintenance`), "status" and
 * "reload". A client may write its request and close without reading the
 * reply (the FIM does): the request is applied all the same.
 *
 * The metrics listener answers `GET /metrics` with the Prometheus text
 * exposition of every worker's slot plus the master's own gauges; one
 * request per connection, bounded sizes, a 5 s deadline.
 */
#include "proxy/master.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "proxy/events.h"
#include "proxy/metrics.h"
#include "util/error.h"
#include "util/log.h"

/* Most of a reload's error text that goes into a reply. */
#define REPLY_ERROR_MAX 8192

struct sk__ctl_client {
    struct sk__io io;
    struct sk_buf in, out;
    size_t sent;
    int64_t deadline;
    uid_t uid;
    pid_t pid;
    bool closing; /* close once `out` is sent */
};

struct sk__metrics_client {
    struct sk__io io;
    struct sk_buf in, out;
    size_t sent;
    int64_t deadline;
    bool responded;
};

static void
io_watch(struct sk__master *m, struct sk__io *io, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(m->epfd, op, io->fd, &ev) == -1)
        sk_log(SK_LOG_ERROR, "proxy: epoll_ctl: %s", strerror(errno));
}

/* ---- Control: replies -------------------------------------------------- */

static void
reply_json(struct sk_buf *out, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL) {
        sk_buf_append_c(out, "{\"ok\":false,\"error\":\"out of memory\"}\n");
        return;
    }
    sk_buf_append_c(out, s);
    sk_buf_putc(out, '\n');
    free(s);
}

static void
reply_error(struct sk_buf *out, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_false());
    json_object_set_new(o, "error", json_string(msg));
    reply_json(out, o);
}

static json_t *
maint_json(const struct sk_proxy_maint *mt)
{
    json_t *o = json_object();
    json_t *paths = json_array();
    for (uint32_t i = 0; i < mt->n && i < SK_PROXY_MAINT_MAX; i++)
        json_array_append_new(paths, json_string(mt->paths[i]));
    json_object_set_new(o, "on", json_boolean(mt->n > 0));
    json_object_set_new(o, "paths", paths);
    json_object_set_new(o, "reason", json_string(mt->reason));
    json_object_set_new(o, "file", json_string(mt->file));
    json_object_set_new(o, "since", json_integer(mt->since));
    return o;
}

/*
 * Sums the samples of one metric in our own Prometheus text: lines
 * `name{...} value` or `name value`. The metrics module renders; the
 * status reply wants two of its totals.
 */
static uint64_t
sum_metric(const struct sk_buf *text, const char *name)
{
    size_t nl = strlen(name);
    uint64_t sum = 0;
    const char *p = (const char *)text->p, *end = p + text->len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (e == NULL)
            e = end;
        if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 &&
            (p[nl] == '{' || p[nl] == ' ')) {
            const char *v = e;
            while (v > p && v[-1] != ' ')
                v--;
            char num[32];
            size_t vl = (size_t)(e - v);
            if (vl > 0 && vl < sizeof(num)) {
                memcpy(num, v, vl);
                num[vl] = '\0';
                double d = strtod(num, NULL);
                if (d > 0)
                    sum += (uint64_t)d;
            }
        }
        p = e + 1;
    }
    return sum;
}

static void
op_status(struct sk__master *m, struct sk_buf *out)
{
    struct sk_buf text = {0};
    uint64_t requests = 0, blocked = 0;
    if (sk_proxy_metrics_render(m->metrics, m->nslots, NULL, &text) == 0) {
        requests = sum_metric(&text, "sekimori_requests_total");
        blocked = sum_metric(&text, "sekimori_blocked_total");
    }
    sk_buf_fini(&text);
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "pid", json_integer(m->self));
    json_object_set_new(o, "generation",
                        json_integer((json_int_t)m->generation));
    json_object_set_new(o, "workers", json_integer(sk__master_live_workers(m)));
    json_object_set_new(
        o, "rules", json_integer((json_int_t)sk_waf_rules_count(m->g.rules)));
    json_object_set_new(o, "started", json_integer(m->started));
    json_object_set_new(o, "reloaded", json_integer(m->reloaded));
    json_object_set_new(o, "maintenance", maint_json(&m->shm->maint));
    json_object_set_new(o, "connections",
                        json_integer(atomic_load(&m->shm->connections)));
    json_object_set_new(o, "requests", json_integer((json_int_t)requests));
    json_object_set_new(o, "blocked", json_integer((json_int_t)blocked));
    json_object_set_new(o, "reload_failures",
                        json_integer((json_int_t)m->reload_failures));
    json_object_set_new(o, "worker_restarts",
                        json_integer((json_int_t)m->restarts));
    reply_json(out, o);
}

static void
op_reload(struct sk__master *m, struct sk_buf *out)
{
    struct sk_buf why = {0};
    int rc = sk__master_reload(m, &why);
    if (rc == 0) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "generation",
                            json_integer((json_int_t)m->generation));
        json_object_set_new(
            o, "rules",
            json_integer((json_int_t)sk_waf_rules_count(m->g.rules)));
        reply_json(out, o);
    } else {
        const char *w = sk_buf_cstr(&why);
        size_t wl = w != NULL ? strnlen(w, REPLY_ERROR_MAX) : 0;
        while (wl > 0 && w[wl - 1] == '\n')
            wl--;
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_false());
        json_object_set_new(o, "error",
                            wl > 0 ? json_stringn(w, wl)
                                   : json_string(sk_strerror(rc)));
        reply_json(out, o);
    }
    sk_buf_fini(&why);
}

/* Copies a client's text for logs and the shared table: control bytes
 * (a forged log line) become '?'. */
static void
clean_text(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in != NULL && in[i] != '\0' && i + 1 < n; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[i] = '\0';
}

static void
op_maintenance(struct sk__master *m, uid_t uid, pid_t pid, json_t *req,
               struct sk_buf *out)
{
    json_t *on = json_object_get(req, "on");
    json_t *reason = json_object_get(req, "reason");
    json_t *file = json_object_get(req, "file");
    json_t *paths = json_object_get(req, "paths");
    if (!json_is_boolean(on)) {
        reply_error(out, "maintenance: \"on\" must be true or false");
        return;
    }
    if ((reason != NULL && !json_is_string(reason)) ||
        (file != NULL && !json_is_string(file) && !json_is_null(file))) {
        reply_error(out, "maintenance: \"reason\" and \"file\" are strings");
        return;
    }
    if (paths != NULL && !json_is_array(paths)) {
        reply_error(out, "maintenance: \"paths\" must be an array");
        return;
    }
    size_t n = paths != NULL ? json_array_size(paths) : 0;
    if (n > SK_PROXY_MAINT_MAX) {
        char e[96];
        snprintf(e, sizeof(e), "maintenance: at most %d paths",
                 SK_PROXY_MAINT_MAX);
        reply_error(out, e);
        return;
    }
    const char *pv[SK_PROXY_MAINT_MAX];
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(paths, i);
        if (!json_is_string(p) ||
            strlen(json_string_value(p)) != json_string_length(p)) {
            reply_error(out, "maintenance: every path is a string without "
                             "NUL bytes");
            return;
        }
        pv[i] = json_string_value(p);
    }
    bool turn_on = json_is_true(on);
    if (turn_on && n == 0) {
        reply_error(out, "maintenance: \"on\" needs at least one path "
                         "(\"/\" for the whole site)");
        return;
    }
    char why[SK_PROXY_MAINT_REASON], fl[SK_PROXY_MAINT_PATH];
    clean_text(json_is_string(reason) ? json_string_value(reason) : "operator",
               why, sizeof(why));
    clean_text(json_is_string(file) ? json_string_value(file) : "", fl,
               sizeof(fl));
    int rc = sk_proxy_maint_set(&m->shm->maint, turn_on, pv, n, why,
                                turn_on ? fl : NULL);
    if (rc != 0) {
        char e[160];
        snprintf(e, sizeof(e), "maintenance: %s",
                 rc == -SK_EINVAL
                     ? "a path must start with '/' and have no '?' or '#'"
                 : rc == -SK_ELIMIT ? "too many paths or a path too long"
                                    : sk_strerror(rc));
        reply_error(out, e);
        return;
    }
    /* The operational log and the event log say who asked for what. */
    struct sk_buf list = {0};
    for (size_t i = 0; i < n; i++) {
        char cp[SK_PROXY_MAINT_PATH];
        clean_text(pv[i], cp, sizeof(cp));
        sk_buf_printf(&list, "%s%s", i ? " " : "", cp);
    }
    const struct sk_proxy_maint *mt = &m->shm->maint;
    if (turn_on)
        sk_log(SK_LOG_WARN,
               "proxy: maintenance ON for %s (reason %s%s%s; by uid %u pid "
               "%ld)",
               sk_buf_cstr(&list) ? sk_buf_cstr(&list) : "", why,
               fl[0] ? ", file " : "", fl, (unsigned)uid, (long)pid);
    else
        sk_log(SK_LOG_WARN,
               "proxy: maintenance OFF for %s (by uid %u pid %ld); %u paths "
               "remain",
               n ? (sk_buf_cstr(&list) ? sk_buf_cstr(&list) : "")
                 : "every path",
               (unsigned)uid, (long)pid, (unsigned)mt->n);
    sk_buf_fini(&list);
    json_t *ev = maint_json(mt);
    json_object_set_new(ev, "request_on", json_boolean(turn_on));
    json_t *req_paths = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(req_paths, json_string(pv[i]));
    json_object_set_new(ev, "request_paths", req_paths);
    json_object_set_new(ev, "peer_uid", json_integer(uid));
    json_object_set_new(ev, "peer_pid", json_integer(pid));
    char *evs = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (evs != NULL)
        sk__master_event(m, "proxy.maintenance", evs);
    free(evs);

    json_t *o = json_object();
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "maintenance", maint_json(mt));
    reply_json(out, o);
}

void
sk__ctl_request(struct sk__master *m, uid_t uid, pid_t pid, const char *line,
                size_t len, struct sk_buf *out)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return; /* blank lines are ignored */
    if (len > SK__CTL_LINE_MAX) {
        reply_error(out, "request longer than 64 KiB");
        return;
    }
    json_error_t err;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (req == NULL || !json_is_object(req)) {
        char e[256];
        snprintf(e, sizeof(e), "not a JSON object: %s",
                 req == NULL ? err.text : "another type");
        reply_error(out, e);
        json_decref(req);
        return;
    }
    const char *op = json_string_value(json_object_get(req, "op"));
    if (op == NULL)
        reply_error(out, "missing \"op\"");
    else if (strcmp(op, "maintenance") == 0)
        op_maintenance(m, uid, pid, req, out);
    else if (strcmp(op, "status") == 0)
        op_status(m, out);
    else if (strcmp(op, "reload") == 0)
        op_reload(m, out);
    else {
        char e[128], cop[64];
        clean_text(op, cop, sizeof(cop));
        snprintf(e, sizeof(e), "unknown op \"%s\"", cop);
        reply_error(out, e);
    }
    json_decref(req);
}

static void
handle_line(struct sk__master *m, struct sk__ctl_client *c, const char *line,
            size_t len)
{
    sk__ctl_request(m, c->uid, c->pid, line, len, &c->out);
}

/* ---- Control: connections ---------------------------------------------- */

static void
ctl_client_free(struct sk__master *m, struct sk__ctl_client *c)
{
    for (size_t i = 0; i < SK__CTL_CLIENTS; i++)
        if (m->ctl_clients[i] == c)
            m->ctl_clients[i] = NULL;
    close(c->io.fd); /* also leaves the epoll set */
    sk_buf_fini(&c->in);
    sk_buf_fini(&c->out);
    free(c);
}

/* Sends what is queued; false when the client is gone. */
static bool
ctl_flush(struct sk__master *m, struct sk__ctl_client *c)
{
    while (c->sent < c->out.len) {
        ssize_t n = send(c->io.fd, c->out.p + c->sent, c->out.len - c->sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io_watch(m, &c->io, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            return true;
        }
        if (n == -1)
            return false; /* EPIPE: the peer did not wait for the reply */
        c->sent += (size_t)n;
    }
    sk_buf_clear(&c->out);
    c->sent = 0;
    io_watch(m, &c->io, c->closing ? EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
    return !c->closing;
}

static void
on_ctl_client(struct sk__master *m, struct sk__io *io, uint32_t events)
{
    struct sk__ctl_client *c = (struct sk__ctl_client *)io;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->closing) {
        /* At most 64 KiB per wakeup, so that one client cannot keep the
         * loop (signals, other clients) waiting. */
        for (int reads = 0; reads < 16; reads++) {
            if (sk_buf_reserve(&c->in, 4096) != 0) {
                ctl_client_free(m, c);
                return;
            }
            ssize_t n = recv(io->fd, c->in.p + c->in.len, 4096, MSG_DONTWAIT);
            if (n == -1 && errno == EINTR)
                continue;
            if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0) {
                /* EOF (or an error): a last line without '\n' counts. */
                if (c->in.len > 0)
                    handle_line(m, c, (const char *)c->in.p, c->in.len);
                sk_buf_clear(&c->in);
                c->closing = true;
                break;
            }
            c->in.len += (size_t)n;
            /* Every complete line. */
            size_t start = 0;
            for (size_t i = 0; i < c->in.len && !c->closing; i++) {
                if (c->in.p[i] != '\n')
                    continue;
                handle_line(m, c, (const char *)c->in.p + start, i - start);
                start = i + 1;
                /* A client that pipelines requests without reading the
                 * replies is cut off rather than buffered for. */
                if (c->out.len > SK__CTL_OUT_MAX) {
                    reply_error(&c->out, "too many replies unread");
                    c->closing = true;
                }
            }
            if (c->closing) {
                sk_buf_clear(&c->in);
                break;
            }
            if (start > 0) {
                memmove(c->in.p, c->in.p + start, c->in.len - start);
                c->in.len -= start;
            }
            if (c->in.len > SK__CTL_LINE_MAX) {
                reply_error(&c->out, "request longer than 64 KiB");
                c->closing = true;
                break;
            }
        }
        c->deadline = sk__now_ms() + SK__IO_TIMEOUT_MS;
    }
    if (c->out.len > 0 && !ctl_flush(m, c)) {
        ctl_client_free(m, c);
        return;
    }
    if (c->closing && c->out.len == 0)
        ctl_client_free(m, c);
}

static void
on_ctl_accept(struct sk__master *m, struct sk__io *io, uint32_t events)
{
    (void)events;
    for (;;) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sk_log(SK_LOG_WARN, "proxy: control accept: %s",
                       strerror(errno));
            return;
        }
        struct ucred cr;
        socklen_t cl = sizeof(cr);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == -1 ||
            (cr.uid != 0 && cr.uid != geteuid())) {
            static const char e[] =
                "{\"ok\":false,\"error\":\"permission denied\"}\n";
            (void)!send(fd, e, sizeof(e) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            sk_log(SK_LOG_WARN, "proxy: control socket: uid %ld refused",
                   cl == sizeof(cr) ? (long)cr.uid : -1L);
            close(fd);
            continue;
        }
        size_t slot = 0;
        while (slot < SK__CTL_CLIENTS && m->ctl_clients[slot] != NULL)
            slot++;
        struct sk__ctl_client *c =
            slot < SK__CTL_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
        if (c == NULL) {
            static const char e[] = "{\"ok\":false,\"error\":\"busy\"}\n";
            (void)!send(fd, e, sizeof(e) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            continue;
        }
        c->io.fd = fd;
        c->io.fn = on_ctl_client;
        c->uid = cr.uid;
        c->pid = cr.pid;
        c->deadline = sk__now_ms() + SK__IO_TIMEOUT_MS;
        m->ctl_clients[slot] = c;
        io_watch(m, &c->io, EPOLLIN, EPOLL_CTL_ADD);
    }
}

int
sk__ctl_bind(const char *path, struct sk_buf *why)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        sk_buf_printf(why, "proxy: error: control_socket %s: path too long\n",
                      path);
        return -SK_ELIMIT;
    }
    strcpy(sa.sun_path, path);
    struct sk_buf e = {0};
    /* Bound with a umask that leaves 0660 at most, then chmod'ed to it,
     * so that the socket is never reachable by others in between. */
    mode_t old = umask(0117);
    int fd = sk__bind((struct sockaddr *)&sa, sizeof(sa), 16, &e);
    umask(old);
    if (fd < 0) {
        sk_buf_printf(why, "proxy: error: control_socket %s: %s", path,
                      sk_buf_cstr(&e) ? sk_buf_cstr(&e) : "\n");
        sk_buf_fini(&e);
        return fd;
    }
    sk_buf_fini(&e);
    if (chmod(path, 0660) == -1) {
        sk_buf_printf(why, "proxy: error: control_socket %s: chmod: %s\n", path,
                      strerror(errno));
        close(fd);
        unlink(path);
        return -SK_EIO;
    }
    return fd;
}

void
sk__ctl_close(struct sk__master *m, bool unlink_it, bool clients)
{
    for (size_t i = 0; clients && i < SK__CTL_CLIENTS; i++)
        if (m->ctl_clients[i] != NULL)
            ctl_client_free(m, m->ctl_clients[i]);
    if (m->ctl.fd >= 0) {
        close(m->ctl.fd);
        m->ctl.fd = -1;
        if (unlink_it && m->ctl_path != NULL)
            unlink(m->ctl_path);
    }
    free(m->ctl_path);
    m->ctl_path = NULL;
}

void
sk__ctl_install(struct sk__master *m, int fd, const char *path)
{
    /* Clients stay: this runs during a reload one of them asked for. */
    sk__ctl_close(m, true, false);
    m->ctl.fd = fd;
    m->ctl.fn = on_ctl_accept;
    m->ctl_path = strdup(path);
    io_watch(m, &m->ctl, EPOLLIN, EPOLL_CTL_ADD);
}

/* ---- Metrics ---------------------------------------------------------- */

static void
met_client_free(struct sk__master *m, struct sk__metrics_client *c)
{
    for (size_t i = 0; i < SK__METRICS_CLIENTS; i++)
        if (m->met_clients[i] == c)
            m->met_clients[i] = NULL;
    close(c->io.fd);
    sk_buf_fini(&c->in);
    sk_buf_fini(&c->out);
    free(c);
}

static int
master_gauges(struct sk__master *m, struct sk_buf *b)
{
    const struct sk_proxy_maint *mt = &m->shm->maint;
    uint64_t dropped = m->ev_dropped;
    return sk_buf_printf(
        b,
        "# HELP sekimori_workers Worker processes of the current "
        "generation.\n"
        "# TYPE sekimori_workers gauge\n"
        "sekimori_workers %u\n"
        "# HELP sekimori_generation Successful reloads since the master "
        "started.\n"
        "# TYPE sekimori_generation gauge\n"
        "sekimori_generation %llu\n"
        "# HELP sekimori_rules Compiled rules of the current generation.\n"
        "# TYPE sekimori_rules gauge\n"
        "sekimori_rules %zu\n"
        "# HELP sekimori_maintenance Whether some URL path is in "
        "maintenance mode (503).\n"
        "# TYPE sekimori_maintenance gauge\n"
        "sekimori_maintenance %d\n"
        "# HELP sekimori_maintenance_paths URL paths in maintenance mode.\n"
        "# TYPE sekimori_maintenance_paths gauge\n"
        "sekimori_maintenance_paths %u\n"
        "# HELP sekimori_reload_failures_total Reloads that failed and kept "
        "the running configuration.\n"
        "# TYPE sekimori_reload_failures_total counter\n"
        "sekimori_reload_failures_total %llu\n"
        "# HELP sekimori_worker_restarts_total Workers restarted after an "
        "unexpected exit.\n"
        "# TYPE sekimori_worker_restarts_total counter\n"
        "sekimori_worker_restarts_total %llu\n"
        "# HELP sekimori_master_events_dropped_total Master events (reload, "
        "maintenance) dropped on a full queue.\n"
        "# TYPE sekimori_master_events_dropped_total counter\n"
        "sekimori_master_events_dropped_total %llu\n"
        "# HELP sekimori_start_time_seconds When the master started (Unix "
        "time).\n"
        "# TYPE sekimori_start_time_seconds gauge\n"
        "sekimori_start_time_seconds %lld\n",
        sk__master_live_workers(m), (unsigned long long)m->generation,
        sk_waf_rules_count(m->g.rules), mt->n > 0 ? 1 : 0, (unsigned)mt->n,
        (unsigned long long)m->reload_failures, (unsigned long long)m->restarts,
        (unsigned long long)dropped, (long long)m->started);
}

int
sk__metrics_route(const uint8_t *p, size_t len, bool *head)
{
    *head = false;
    size_t le = 0;
    while (le < len && p[le] != '\r' && p[le] != '\n')
        le++;
    /* METHOD SP TARGET SP HTTP/1.x */
    const uint8_t *sp1 = le > 0 ? memchr(p, ' ', le) : NULL;
    const uint8_t *sp2 =
        sp1 != NULL ? memchr(sp1 + 1, ' ', le - (size_t)(sp1 + 1 - p)) : NULL;
    if (sp1 == NULL || sp2 == NULL || (size_t)(p + le - (sp2 + 1)) != 8 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' || sp2[8] > '9')
        return 400;
    struct sk_str method = sk_str_make(p, (size_t)(sp1 - p));
    struct sk_str target = sk_str_make(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    for (size_t i = 0; i < target.len; i++)
        if (target.p[i] == '?') {
            target.len = i;
            break;
        }
    *head = sk_str_eq_c(method, "HEAD");
    return (sk_str_eq_c(method, "GET") || *head) &&
                   sk_str_eq_c(target, "/metrics")
               ? 200
               : 404;
}

static void
met_respond(struct sk__master *m, struct sk__metrics_client *c)
{
    c->responded = true;
    bool head = false;
    int status = sk__metrics_route(c->in.p, c->in.len, &head);
    struct sk_buf body = {0};
    if (status == 200) {
        struct sk_buf extra = {0};
        if (master_gauges(m, &extra) != 0 ||
            sk_proxy_metrics_render(m->metrics, m->nslots, sk_buf_cstr(&extra),
                                    &body) != 0)
            status = 500;
        sk_buf_fini(&extra);
    }
    if (status != 200) {
        sk_buf_clear(&body);
        sk_buf_append_c(&body, status == 404   ? "not found\n"
                               : status == 400 ? "bad request\n"
                                               : "internal error\n");
    }
    const char *reason = status == 200   ? "OK"
                         : status == 404 ? "Not Found"
                         : status == 400 ? "Bad Request"
                                         : "Internal Server Error";
    sk_buf_printf(&c->out,
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: %s\r\n"
                  "Content-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n"
                  "Connection: close\r\n\r\n",
                  status, reason,
                  status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
                                : "text/plain; charset=utf-8",
                  body.len);
    if (!head)
        sk_buf_append(&c->out, body.p, body.len);
    sk_buf_fini(&body);
}

static void
on_met_client(struct sk__master *m, struct sk__io *io, uint32_t events)
{
    struct sk__metrics_client *c = (struct sk__metrics_client *)io;
    if (!c->responded && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        for (;;) {
            if (sk_buf_reserve(&c->in, 2048) != 0) {
                met_client_free(m, c);
                return;
            }
            size_t room = SK__METRICS_HEAD_MAX + 1 - c->in.len;
            if (room > 2048)
                room = 2048;
            ssize_t n = recv(io->fd, c->in.p + c->in.len, room, MSG_DONTWAIT);
            if (n == -1 && errno == EINTR)
                continue;
            if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (n <= 0) {
                met_client_free(m, c);
                return;
            }
            c->in.len += (size_t)n;
            struct sk_str s = sk_buf_str(&c->in);
            if (sk_str_find(s, SK_STR_LIT("\r\n\r\n")) >= 0 ||
                sk_str_find(s, SK_STR_LIT("\n\n")) >= 0 ||
                c->in.len > SK__METRICS_HEAD_MAX) {
                if (c->in.len > SK__METRICS_HEAD_MAX)
                    c->in.len = 0; /* answered 400 */
                met_respond(m, c);
                break;
            }
        }
    }
    while (c->responded && c->sent < c->out.len) {
        ssize_t n = send(io->fd, c->out.p + c->sent, c->out.len - c->sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io_watch(m, io, EPOLLOUT, EPOLL_CTL_MOD);
            return;
        }
        if (n == -1) {
            met_client_free(m, c);
            return;
        }
        c->sent += (size_t)n;
    }
    if (c->responded) {
        shutdown(io->fd, SHUT_WR);
        met_client_free(m, c);
    }
}

static void
on_met_accept(struct sk__master *m, struct sk__io *io, uint32_t events)
{
    (void)events;
    for (;;) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sk_log(SK_LOG_WARN, "proxy: metrics accept: %s",
                       strerror(errno));
            return;
        }
        size_t slot = 0;
        while (slot < SK__METRICS_CLIENTS && m->met_clients[slot] != NULL)
            slot++;
        struct sk__metrics_client *c =
            slot < SK__METRICS_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->io.fd = fd;
        c->io.fn = on_met_client;
        c->deadline = sk__now_ms() + SK__IO_TIMEOUT_MS;
        m->met_clients[slot] = c;
        io_watch(m, &c->io, EPOLLIN, EPOLL_CTL_ADD);
    }
}

int
sk__metrics_bind(const struct sk_conf_addr *a, struct sk_buf *why)
{
    struct sk_buf e = {0};
    int fd = sk__bind((const struct sockaddr *)&a->ss, a->len, 64, &e);
    if (fd < 0) {
        const char *t = sk_buf_cstr(&e);
        size_t tl = t != NULL ? strlen(t) : 0;
        if (a->loc.file != NULL)
            sk_buf_printf(why, "%s:%u:%u: ", a->loc.file, a->loc.line,
                          a->loc.col);
        sk_buf_printf(why, "error: metrics_listen %s: %.*s\n", a->text,
                      (int)(tl > 0 ? tl - 1 : 0), t != NULL ? t : "");
    }
    sk_buf_fini(&e);
    return fd;
}

void
sk__metrics_close(struct sk__master *m)
{
    for (size_t i = 0; i < SK__METRICS_CLIENTS; i++)
        if (m->met_clients[i] != NULL)
            met_client_free(m, m->met_clients[i]);
    if (m->met.fd >= 0) {
        close(m->met.fd);
        m->met.fd = -1;
    }
}

void
sk__metrics_install(struct sk__master *m, int fd)
{
    sk__metrics_close(m);
    m->met.fd = fd;
    m->met.fn = on_met_accept;
    io_watch(m, &m->met, EPOLLIN, EPOLL_CTL_ADD);
}

/* ---- Both ------------------------------------------------------------- */

int64_t
sk__io_expire(struct sk__master *m, int64_t now)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < SK__CTL_CLIENTS; i++) {
        struct sk__ctl_client *c = m->ctl_clients[i];
        if (c == NULL)
            continue;
        if (now >= c->deadline)
            ctl_client_free(m, c);
        else if (c->deadline < next)
            next = c->deadline;
    }
    for (size_t i = 0; i < SK__METRICS_CLIENTS; i++) {
        struct sk__metrics_client *c = m->met_clients[i];
        if (c == NULL)
            continue;
        if (now >= c->deadline)
            met_client_free(m, c);
        else if (c->deadline < next)
            next = c->deadline;
    }
    return next;
}

void
sk__io_close_in_child(struct sk__master *m)
{
    if (m->ctl.fd >= 0)
        close(m->ctl.fd);
    if (m->met.fd >= 0)
        close(m->met.fd);
    for (size_t i = 0; i < SK__CTL_CLIENTS; i++)
        if (m->ctl_clients[i] != NULL)
            close(m->ctl_clients[i]->io.fd);
    for (size_t i = 0; i < SK__METRICS_CLIENTS; i++)
        if (m->met_clients[i] != NULL)
            close(m->met_clients[i]->io.fd);
}
