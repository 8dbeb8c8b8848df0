/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to one proxy worker process (worker.c, conn.c, upstream.c): the
 * event loop, its timer queues, client connections and upstream
 * connections. docs/proxy-request-path.md describes the request path
 * these implement.
 *
 * Everything here belongs to one thread. Timers are intrusive nodes in
 * one FIFO queue per timeout kind: every timer of a kind has the same
 * duration, so appending at the tail keeps each queue sorted by deadline
 * and arming, disarming and expiring are O(1).
 */
#ifndef SK_PROXY_WORKER_INT_H
#define SK_PROXY_WORKER_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "http/response.h"
#include "proxy/proxy.h"
#include "util/arena.h"
#include "util/buf.h"

/* What an epoll event's data pointer designates. */
enum sk__pw_tag {
    SK__PW_LISTENER = 1,
    SK__PW_SIGNAL = 2,
    SK__PW_CLIENT = 3,
    SK__PW_UPSTREAM = 4,
};

struct sk__pw_ev {
    uint8_t tag;
    void *ptr;
};

/* Timeout kinds; each has its own queue and duration (conf, in ms). */
enum sk__pw_tkind {
    SK__T_NONE = -1,
    SK__T_KEEPALIVE = 0, /* idle client between requests */
    SK__T_HEADER = 1,    /* first byte (or accept) to complete head */
    SK__T_BODY = 2,      /* between request body reads */
    SK__T_SEND = 3,      /* between client writes that progress */
    SK__T_LINGER = 4,    /* discarding input after a closing answer */
    SK__T_UCONNECT = 5,  /* upstream connect */
    SK__T_UREAD = 6,     /* between upstream reads (or writes) */
    SK__T__COUNT = 7,
};

struct sk__pw_timer {
    struct sk__pw_timer *prev, *next;
    int64_t deadline; /* monotonic ms */
    int kind;         /* enum sk__pw_tkind, SK__T_NONE when unarmed */
};

struct sk__pw_tqueue {
    struct sk__pw_timer *head, *tail;
    uint32_t ms; /* 0: this kind never expires */
};

struct sk__pw_conn;
struct sk__pw_up;

/* Empty buffers kept by the worker for the next transaction (conn.c), so
 * that keep-alive requests do not malloc and free their input, upstream
 * and response buffers each time while idle connections still hold none:
 * at most this many, each of at most SK__PW_SPARE_CAP bytes. */
#define SK__PW_SPARE_MAX 32
#define SK__PW_SPARE_CAP (64 * 1024)

/* The worker: one per process. */
struct sk__pw {
    const struct sk_proxy_runtime *rt;
    const struct sk_conf_proxy *conf;
    int ep;
    int sfd; /* signalfd */
    struct sk__pw_ev sig_ev;
    struct sk__pw_ev *lev; /* one per listener */
    bool listening;
    int64_t now;          /* monotonic ms, refreshed each loop turn */
    int64_t accept_retry; /* when listeners were paused (EMFILE), or 0 */
    bool draining;
    int64_t drain_deadline;
    int64_t next_ppid_check;
    int ppid; /* the master; another parent means it died */
    struct sk__pw_tqueue tq[SK__T__COUNT];
    struct sk__pw_conn *conns; /* every client connection */
    size_t nconns;
    struct sk__pw_conn *ready; /* connections to drive again (fairness) */
    struct sk__pw_up *pool;    /* idle upstream connections, MRU first */
    struct sk__pw_up *up_dead; /* closed, freed at the end of the turn */
    size_t npool;
    uint64_t txn_counter;
    struct sk_buf spare[SK__PW_SPARE_MAX]; /* empty, allocated buffers */
    size_t nspare;
    int pid;
    size_t head_cap; /* most bytes of a request head */
};

/* An upstream connection. */
struct sk__pw_up {
    struct sk__pw_ev ev;
    struct sk__pw *w;
    int fd;
    bool connecting;
    bool readable, writable;
    bool reused; /* came from the pool */
    bool rdhup;  /* the peer half-closed: read until EOF, not a short read */
    bool dead;   /* closed; events still queued for it are ignored */
    struct sk__pw_conn *owner;
    struct sk__pw_up *pnext, *pprev; /* pool links */
};

/* Client connection states (the request side). */
enum sk__pw_cstate {
    SK__C_TLS = 0,      /* TLS handshake */
    SK__C_IDLE = 1,     /* waiting for the first byte of a request */
    SK__C_HEAD = 2,     /* reading the request head */
    SK__C_BODY_BUF = 3, /* buffering the body for phase 2 */
    SK__C_FORWARD = 4,  /* request going to / response coming from upstream */
    SK__C_LOCAL = 5,    /* sending an answer the proxy made itself */
    SK__C_LINGER = 6,   /* answer sent, half-closed, discarding input */
};

/* Upstream side of the current transaction. */
enum sk__pw_ustate {
    SK__U_NONE = 0,
    SK__U_HEAD = 1,     /* waiting for / parsing the response head */
    SK__U_BODY_BUF = 2, /* buffering the body for phase 4 */
    SK__U_STREAM = 3,   /* head forwarded, body streaming */
    SK__U_DONE = 4,     /* response complete */
};

/* Request body framing toward the upstream. */
struct sk__pw_body {
    enum sk_http_body_kind kind;
    uint64_t remaining; /* LENGTH: bytes still to read from the client */
    struct sk_http_chunked ch;
    bool done;         /* the whole body was read from the client */
    uint64_t received; /* decoded bytes so far */
};

struct sk__pw_conn {
    struct sk__pw_ev ev;
    struct sk__pw *w;
    struct sk__pw_conn *next, *prev; /* w->conns */
    struct sk__pw_conn *rnext;       /* w->ready */
    bool in_ready;
    int fd;
    struct sk_tls_conn *tls;
    const struct sk_proxy_listener *l;
    bool readable, writable;
    bool rd_eof; /* the client half-closed or reset */
    bool rdhup;  /* epoll saw the half-close; EOF is still to be read */
    bool dead;   /* closed; freed at the end of the loop turn */
    int state;   /* enum sk__pw_cstate */
    struct sk__pw_timer ct; /* client-side timer */
    struct sk__pw_timer ut; /* upstream-side timer */
    /* The client of the current transaction: the TCP peer, or the
     * address a trusted peer's real_ip_header named (proxy/realip.h). */
    char cip[INET6_ADDRSTRLEN];
    char sip[INET6_ADDRSTRLEN];
    unsigned cport, sport;
    char pip[INET6_ADDRSTRLEN]; /* the TCP peer */
    unsigned pport;
    bool peer_trusted; /* the peer is in trusted_proxies */

    /* Bytes from the client; [in_off, in.len) not yet consumed. */
    struct sk_buf in;
    size_t in_off;
    bool served;  /* a request was answered: idle means keep-alive */
    bool line_ok; /* the request line ended within its limit */
    /* Bytes to the client; [out_off, out.len) not yet written. */
    struct sk_buf out;
    size_t out_off;
    bool close_after; /* close (linger) once `out` is written */
    uint64_t bytes_out, bytes_in;

    /* The transaction in progress. */
    bool in_txn;
    struct sk_arena *arena;
    struct sk_http_request req;
    struct sk_str head; /* the head, copied into the arena */
    struct sk_waf_txn *waf;
    char id[64];      /* at most 13 + 6 + 1 + 10 + 1 + 20 = 51 bytes */
    size_t idlen;     /* strlen(id) */
    int64_t start_us; /* realtime */
    int64_t start_mono_ns;
    bool keep_alive; /* the client connection may serve another request */
    bool expect_100;
    bool sent_100;
    bool blocked, detected;
    bool no_inspect;   /* ALLOW verdict or engine off: pass everything */
    const char *error; /* static string for the logs, or NULL */
    struct sk__pw_body body;
    struct sk_waf_body_policy qpol; /* request body policy */
    struct sk_buf qbuf;             /* buffered request body (decoded) */
    bool qbuf_over;                 /* more than qpol.limit bytes arrived */
    int status;                     /* sent to the client, 0 before */

    /* Upstream side. */
    struct sk__pw_up *up;
    int ustate;
    struct sk_buf uout; /* request bytes to the upstream */
    size_t uout_off;
    bool uout_dropped;  /* sent bytes were discarded: no replay */
    bool uwrite_failed; /* the upstream stopped taking the request */
    bool req_sent;      /* the whole request is in uout */
    bool retried;
    struct sk_buf uin; /* response bytes from the upstream */
    size_t uin_off;
    bool up_eof;
    bool unew_lf;      /* a LF arrived since the last response-head parse */
    uint64_t up_bytes; /* response bytes received, for the retry rule */
    struct sk_http_response resp;
    struct sk_str rhead; /* response head copy (arena) */
    bool resp_head_sent;
    bool resp_fed;                  /* the engine has a response status */
    struct sk_waf_body_policy spol; /* response body policy */
    struct sk_buf sbuf;             /* buffered response body (decoded) */
    bool sbuf_over;
    struct sk_http_chunked rch; /* response chunk decoder */
    uint64_t rremaining;        /* LENGTH bytes still expected */
    int rframe;                 /* how the client gets the body */
};

/* ---- worker.c ---------------------------------------------------------- */

/* Arms timer `t` of `kind`; keeps the deadline when it already runs with
 * that kind and `reset` is false. Kind SK__T_NONE disarms. */
void sk__pw_timer_set(struct sk__pw *w, struct sk__pw_timer *t, int kind,
                      bool reset);
/* Queues a connection to be driven again in the next loop turn. */
void sk__pw_ready(struct sk__pw *w, struct sk__pw_conn *c);
/* Adds `fd` to epoll with edge-triggered in/out; 0 or -SK_EIO. */
int sk__pw_ep_add(struct sk__pw *w, int fd, struct sk__pw_ev *ev);
int64_t sk__pw_now_us_real(void);
int64_t sk__pw_now_ns_mono(void);

/* ---- conn.c ------------------------------------------------------------ */

/* Takes an accepted socket; closes it on failure. */
void sk__pw_conn_accept(struct sk__pw *w, const struct sk_proxy_listener *l,
                        int fd, const struct sockaddr_storage *ss);
/* Makes all the progress it can on `c` (events were recorded). */
void sk__pw_conn_drive(struct sk__pw_conn *c);
/* A timer of `c` expired. */
void sk__pw_conn_timeout(struct sk__pw_conn *c, int kind);
/* Closes at once (drain deadline, shutdown). */
void sk__pw_conn_close(struct sk__pw_conn *c);
/* Whether the connection waits between requests (drain closes those). */
bool sk__pw_conn_idle(const struct sk__pw_conn *c);
/* Frees a closed connection. */
void sk__pw_conn_free(struct sk__pw_conn *c);
/* Frees the worker's spare buffers (teardown). */
void sk__pw_spare_clear(struct sk__pw *w);

/* ---- upstream.c -------------------------------------------------------- */

/* Takes an idle pooled connection or starts connecting a new one.
 * 0, or a negative error with *reason set (refused: 502). */
int sk__pw_up_get(struct sk__pw *w, struct sk__pw_conn *owner, bool fresh,
                  struct sk__pw_up **out, const char **reason);
/* Gives a connection back: pooled when `reuse` and room, else closed. */
void sk__pw_up_put(struct sk__pw *w, struct sk__pw_up *u, bool reuse);
/* An event on a pooled (idle) connection: it closed or misbehaved. */
void sk__pw_up_idle_event(struct sk__pw *w, struct sk__pw_up *u);
/* Finishes a non-blocking connect: 0 done, SK_AGAIN, or -SK_EIO. */
int sk__pw_up_connected(struct sk__pw_up *u, const char **reason);
/* Non-blocking I/O: bytes (> 0), 0 for EOF (read), SK_AGAIN as
 * -SK_EAGAIN, or -SK_EIO with *reason. */
long sk__pw_up_read(struct sk__pw_up *u, void *p, size_t n,
                    const char **reason);
long sk__pw_up_write(struct sk__pw_up *u, const void *p, size_t n,
                     const char **reason);
/* Closes every pooled connection. */
void sk__pw_up_pool_clear(struct sk__pw *w);
/* Frees closed upstream connections (no event can refer to them). */
void sk__pw_up_reap(struct sk__pw *w);

#endif
