/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the proxy's master process, shared by master.c (startup,
 * workers, signals, reload, shutdown) and control.c (the control socket
 * and the metrics listener, both served by the master's epoll loop).
 * Nothing here is used outside the master process: a worker closes every
 * descriptor listed here right after fork.
 */
#ifndef SK_PROXY_MASTER_H
#define SK_PROXY_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxy/proxy.h"
#include "util/buf.h"

/* Control requests are one JSON line each, at most this long: a FIM
 * request with SK_PROXY_MAINT_MAX paths of SK_PROXY_MAINT_PATH bytes,
 * escaped, fits several times over. */
#define SK__CTL_LINE_MAX 65536
/* Replies queued for one control client at most (it does not read). */
#define SK__CTL_OUT_MAX (1 << 20)
/* Control and metrics clients served at once; more are refused. */
#define SK__CTL_CLIENTS 16
#define SK__METRICS_CLIENTS 32
/* A control or metrics client that takes longer than this is dropped. */
#define SK__IO_TIMEOUT_MS 5000
/* A metrics request head (request line and headers) at most this long. */
#define SK__METRICS_HEAD_MAX 8192

struct sk__master;

/* Something the master's epoll loop waits on; epoll_event.data.ptr. */
struct sk__io {
    int fd;
    void (*fn)(struct sk__master *m, struct sk__io *io, uint32_t events);
};

/* A bound listener the master keeps across reloads. */
struct sk__listener {
    int fd;
    struct sockaddr_storage ss; /* what it is bound to, to match on reload */
    socklen_t len;
    char *text; /* the address as written (malloc) */
    bool tls;
};

/* One worker process. */
struct sk__worker {
    pid_t pid;          /* 0: slot of the table unused */
    unsigned id;        /* 0..workers-1 within its generation */
    unsigned mslot;     /* metrics slot */
    uint64_t gen;       /* generation it was forked for */
    bool draining;      /* sent SIGTERM: its exit is expected */
    int64_t kill_at;    /* monotonic ms when draining turns into SIGKILL */
    int64_t started_ms; /* monotonic */
};

/* A worker id of the current generation waiting to be (re)started. */
struct sk__restart {
    bool pending;
    int64_t at;     /* monotonic ms */
    unsigned fails; /* consecutive quick deaths, for the backoff */
};

/* Everything one configuration generation needs; swapped whole. */
struct sk__gen {
    struct sk_conf *conf;
    struct sk_waf_rules *rules;
    size_t nrule_files;
    struct sk_proxy_listener *listeners; /* fds borrowed from m->lst */
    size_t nlisteners;
    struct sk_proxy_logfile *audit_log, *access_log;
    struct sk_buf deny_page, maint_page;
    uid_t uid; /* workers switch to these when drop is set */
    gid_t gid;
    bool drop;
};

struct sk__ctl_client; /* control.c */
struct sk_evlog_client;

/* A master event waiting for the writer. */
struct sk__mevent {
    char type[32];
    char *body; /* malloc */
};
/* Master events kept while the writer is unreachable; more are dropped
 * (and counted). Reloads and maintenance switches are rare. */
#define SK__MEVENTS_MAX 256
struct sk__metrics_client;

struct sk__master {
    const struct sk_proxy_opts *opts;
    struct sk__gen g; /* the current generation */
    uint64_t generation;
    unsigned nworkers; /* workers per generation (current config) */

    struct sk__listener *lst; /* bound listeners, current config order */
    size_t nlst;

    struct sk_proxy_shm *shm;
    size_t shm_size;
    void *metrics; /* inside shm */
    unsigned nslots;
    bool *slot_used;

    struct sk__worker *workers;
    size_t nworkers_cap;
    struct sk__restart *restart; /* nworkers of them */
    uint64_t restarts, reload_failures;

    /* The master's own event records (reload, maintenance). Sent
     * synchronously from the loop, never by a thread: a thread in the
     * master could hold a lock (the allocator's) at the moment of a fork,
     * and the worker would inherit it locked. */
    char *ev_socket; /* NULL: no event log */
    struct sk_evlog_client *ev_client;
    struct sk__mevent *ev_q; /* pending records, oldest first */
    size_t ev_n;
    uint64_t ev_dropped;
    int64_t ev_retry_at; /* monotonic ms of the next attempt */
    unsigned ev_backoff; /* ms */
    char *pid_file;      /* written by us, removed at exit */
    char *error_log;     /* stderr goes there when set */
    int epfd;
    struct sk__io sig; /* signalfd */
    bool stopping;
    bool ready_written; /* opts->ready_file, removed at exit */
    int64_t stop_deadline;
    pid_t self;
    int64_t started, reloaded; /* realtime seconds */

    /* control.c */
    struct sk__io ctl;
    char *ctl_path;
    struct sk__ctl_client *ctl_clients[SK__CTL_CLIENTS];
    struct sk__io met;
    struct sk__metrics_client *met_clients[SK__METRICS_CLIENTS];
};

/* ---- master.c, for control.c ------------------------------------------ */

/* Monotonic and realtime clocks in ms / s. */
int64_t sk__now_ms(void);

/*
 * Reloads the configuration and the rules as SIGHUP does. 0 on success;
 * otherwise a negative error, the old generation keeps running and `why`
 * says what went wrong (also logged). Blocks while the rules compile.
 */
int sk__master_reload(struct sk__master *m, struct sk_buf *why);

/* Binds a listening stream socket (SO_REUSEADDR, non-blocking, CLOEXEC
 * off so that a worker keeps it; a stale UNIX socket file is replaced, a
 * live one is an error). Returns the fd or a negative error with the
 * reason in `why`. */
int sk__bind(const struct sockaddr *sa, socklen_t len, int backlog,
             struct sk_buf *why);

/* Workers of the current generation alive now. */
unsigned sk__master_live_workers(const struct sk__master *m);

/* Records an event of the master in the event log, if there is one:
 * sent at once when the writer answers (blocks up to about 1 s), else
 * kept and retried from the loop. */
void sk__master_event(struct sk__master *m, const char *type, const char *json);

/* ---- control.c, for master.c ------------------------------------------ */

/*
 * Binds the control socket at `path` (mode 0660; a stale socket there is
 * replaced, a live one is an error). Returns the fd or a negative error
 * with the reason in `why`. Blocks briefly (file system).
 */
int sk__ctl_bind(const char *path, struct sk_buf *why);

/* Makes `fd` (from sk__ctl_bind, for `path`) the control socket of the
 * loop, closing (and unlinking) the previous one. */
void sk__ctl_install(struct sk__master *m, int fd, const char *path);

/* Closes the control socket; `unlink_it` removes the socket file too,
 * `clients` closes the connected clients as well (never while one of
 * them is being served). */
void sk__ctl_close(struct sk__master *m, bool unlink_it, bool clients);

/* Binds the metrics listener (plain HTTP); the fd or a negative error. */
int sk__metrics_bind(const struct sk_conf_addr *a, struct sk_buf *why);

/* Makes `fd` the metrics listener of the loop, closing the previous one. */
void sk__metrics_install(struct sk__master *m, int fd);
void sk__metrics_close(struct sk__master *m);

/*
 * Carries out one control request line (without its '\n') from a peer
 * with credentials uid/pid and appends the reply line to `out` (nothing
 * for a blank line). May reload (blocks while the rules compile).
 */
void sk__ctl_request(struct sk__master *m, uid_t uid, pid_t pid,
                     const char *line, size_t len, struct sk_buf *out);

/* What the metrics listener answers to a request head: 200 for GET or
 * HEAD /metrics (*head set for HEAD), 404 for anything else, 400 when
 * the request line is malformed. Pure. */
int sk__metrics_route(const uint8_t *p, size_t len, bool *head);

/* Drops control and metrics clients past their deadline; returns the
 * earliest remaining deadline (monotonic ms) or INT64_MAX. */
int64_t sk__io_expire(struct sk__master *m, int64_t now);

/* In a freshly forked worker: closes every descriptor of this file's
 * objects without touching the parent's state (no unlink, no epoll). */
void sk__io_close_in_child(struct sk__master *m);

#endif
