/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reverse proxy (`sekimori proxy`, docs/proxy.md): the contract
 * between its master process and its workers.
 *
 * The master (master.c) loads sekimori.conf and the rules, binds every
 * listener, opens the logs, reads the TLS keys, maps the shared state
 * below, then forks one worker per core. A worker (worker.c) drops
 * privileges and runs one single-threaded epoll loop: it accepts client
 * connections, parses requests strictly (src/http), runs the rule engine
 * in phases 1-5, forwards to the upstream through a keep-alive pool and
 * writes the audit and access logs. On SIGHUP the master compiles the new
 * config and rules (keeping the old ones when that fails), forks new
 * workers and asks the old ones to drain; on SIGTERM every worker drains
 * and the master exits. The master also serves the control socket
 * (maintenance mode, status) and the Prometheus metrics listener.
 */
#ifndef SK_PROXY_PROXY_H
#define SK_PROXY_PROXY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "sekimori/waf.h"
#include "util/str.h"

struct sk_tls_ctx;       /* proxy/tls.h */
struct sk_proxy_logfile; /* proxy/plog.h */
struct sk_proxy_mslot;   /* proxy/metrics.h */
struct sk_proxy_events;  /* proxy/events.h */

/* ---- State shared by the master and every worker (MAP_SHARED) ---------- */

#define SK_PROXY_MAINT_MAX 32   /* URL path prefixes in maintenance */
#define SK_PROXY_MAINT_PATH 256 /* longest such prefix, NUL included */
#define SK_PROXY_MAINT_REASON 256

/*
 * Maintenance mode: URL paths the proxy answers 503 on (the FIM's
 * `maintenance` response, or an operator). One writer (the master) and a
 * seqlock: `seq` is odd while the master writes; readers retry.
 */
struct sk_proxy_maint {
    _Atomic uint32_t seq;
    uint32_t n;
    char paths[SK_PROXY_MAINT_MAX][SK_PROXY_MAINT_PATH];
    char reason[SK_PROXY_MAINT_REASON];
    char file[SK_PROXY_MAINT_PATH]; /* the changed file, when from the FIM */
    int64_t since;                  /* realtime seconds, 0 when off */
};

struct sk_proxy_shm {
    struct sk_proxy_maint maint;
    _Atomic uint32_t connections; /* open client connections, all workers */
    _Atomic uint64_t generation;  /* reloads so far */
    /* The metrics region (proxy/metrics.h) follows at metrics_offset. */
    size_t metrics_offset;
    unsigned metrics_slots;
};

/*
 * Sets (on: added to those already there, duplicates merged) or clears
 * maintenance paths. `paths` are URL paths; they are normalized
 * (percent-decoding of unreserved bytes, upper-case hex for the other
 * escapes, a bare '%' as %25, dot segments, repeated slashes) before they
 * are stored. Clearing with n == 0 clears every path. `reason` and `file`
 * are copied (cut to fit). Master only; nothing changes on error. 0,
 * -SK_ELIMIT when a path is too long or there are too many, -SK_EINVAL
 * when a path does not start with '/' or holds '?' or '#', or `on` comes
 * with no path.
 */
int sk_proxy_maint_set(struct sk_proxy_maint *m, bool on,
                       const char *const *paths, size_t n, const char *reason,
                       const char *file);

/*
 * Whether a request path (as received; a query, a fragment and an
 * absolute-form "http://host" prefix are ignored) falls under a
 * maintenance path: equal to it after the same normalization, or below it
 * as path segments (a stored "/pay/" also covers "/pay"; a stored
 * "/x.php" also covers "/x.php/info", PHP's PATH_INFO), compared both as
 * normalized and fully percent-decoded (for upstreams that decode %2F).
 * Lock-free, any process; true when no consistent view can be had (fail
 * closed). Pure apart from reading `m`.
 */
bool sk_proxy_maint_match(const struct sk_proxy_maint *m, struct sk_str path);

/* ---- What the master hands a worker ------------------------------------ */

struct sk_proxy_listener {
    int fd;                 /* bound, listening, non-blocking */
    struct sk_tls_ctx *tls; /* NULL for plain HTTP */
    const struct sk_conf_listen *conf;
};

struct sk_proxy_runtime {
    const struct sk_conf_proxy *conf;
    const struct sk_waf_rules *rules;
    const struct sk_proxy_listener *listeners;
    size_t nlisteners;
    struct sk_proxy_shm *shm;
    struct sk_proxy_mslot *metrics;     /* this worker's slot */
    struct sk_proxy_logfile *audit_log; /* NULL: none */
    struct sk_proxy_logfile *access_log;
    struct sk_proxy_events *events; /* NULL: no event log */
    struct sk_str deny_page;        /* template with %{id} and %{status} */
    struct sk_str maint_page;       /* template with %{id} */
    unsigned worker_id;             /* 0..workers-1 */
    uint64_t generation;
};

/*
 * Runs one worker until it has drained. Blocks SIGTERM, SIGINT, SIGQUIT,
 * SIGUSR1 and SIGHUP and takes them through a signalfd: SIGTERM/SIGINT/
 * SIGQUIT stop accepting, let requests in flight finish within
 * conf->drain_timeout, close idle connections and return 0; SIGUSR1
 * reopens the log files. Also returns (0) when the master dies
 * (PR_SET_PDEATHSIG is set by the master). Negative error on a fatal
 * setup failure (epoll, signalfd). Blocks for its whole run.
 */
int sk_proxy_worker_run(const struct sk_proxy_runtime *rt);

/* ---- The master ------------------------------------------------------- */

struct sk_proxy_opts {
    const char *conf_path;
    bool check_only; /* `sekimori proxy -t`: load, compile, report, exit */
    bool foreground; /* no daemonizing (always true for now; systemd) */
    const char *ready_file; /* written once the workers accept */
};

/*
 * Runs `sekimori proxy`. Returns a process exit code (cli/cli.h): 0 after
 * a graceful SIGTERM drain or a successful check, 2 on a config or rules
 * error (every message on stderr with file:line:col), 3 on an internal
 * error. Blocks for its whole run.
 */
int sk_proxy_main(const struct sk_proxy_opts *o);

#endif
