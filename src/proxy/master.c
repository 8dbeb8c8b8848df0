/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's master process (`sekimori proxy`, docs/proxy.md). It loads
 * sekimori.conf and compiles the rules, binds the listeners, reads the TLS
 * keys and the error pages, opens the logs, maps the state it shares with
 * the workers, then forks them and supervises them from one epoll loop
 * over a signalfd, the control socket and the metrics listener:
 *
 *   SIGCHLD  reap; a worker that died unexpectedly is restarted after a
 *            backoff that grows while it keeps dying young;
 *   SIGHUP   reload: a new generation is built aside (config, rules,
 *            listeners, TLS, logs) and only when all of it succeeded are
 *            new workers forked and the old ones asked to drain; any
 *            failure keeps the old generation and says why;
 *   SIGTERM  (or SIGINT, SIGQUIT) drain every worker, SIGKILL after
 *   	      drain_timeout + 5 s, clean up, exit 0;
 *   SIGUSR1  reopen the logs and forward the signal to the workers.
 *
 * The rules are compiled here, before fork, so that workers share them
 * copy-on-write. Workers drop privileges themselves right after fork.
 */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "proxy/events.h"
#include "proxy/master.h"
#include "proxy/metrics.h"
#include "proxy/plog.h"
#include "proxy/tls.h"
#include "evlog/evlog.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/log.h"

#define LISTEN_BACKLOG 511
/* A page file (deny, maintenance) at most this long. */
#define PAGE_MAX 65536
/* SIGKILL comes this long after drain_timeout. */
#define KILL_GRACE_MS 5000
/* Restart backoff: doubles per quick death, from the first to the cap. */
#define RESTART_FIRST_MS 100
#define RESTART_CAP_MS 30000
/* A worker that lived this long resets its backoff. */
#define RESTART_STABLE_MS 10000
/* Metrics slots per configured worker: room for old generations that
 * drain while new ones run, and for restarts. */
#define SLOTS_PER_WORKER 4
/* ...and at least this many (about 4 KiB each), so that a small proxy
 * can reload several times while old workers still drain. */
#define SLOTS_MIN 64
/* Events are flushed for at most this long at exit. */
#define EVENTS_FLUSH_MS 1000

static const char default_deny_page[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>%{status}</title></head>\n"
    "<body><h1>Request refused</h1>\n"
    "<p>This request was refused by the site's security filter. If you "
    "think this is a mistake, contact the site and give them this "
    "reference: <code>%{id}</code></p></body></html>\n";

static const char default_maint_page[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>503 Service "
    "Unavailable</title></head>\n"
    "<body><h1>Temporarily unavailable</h1>\n"
    "<p>This page is under maintenance. Please try again later. "
    "Reference: <code>%{id}</code></p></body></html>\n";

int64_t
sk__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends "file:line:col: error: " for loc (or "proxy: error: "). */
static void why_at(struct sk_buf *why, const struct sk_loc *loc,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
why_at(struct sk_buf *why, const struct sk_loc *loc, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (loc != NULL && loc->file != NULL)
        sk_buf_printf(why, "%s:%u:%u: error: %s\n", loc->file, loc->line,
                      loc->col, msg);
    else
        sk_buf_printf(why, "proxy: error: %s\n", msg);
}

/* ---- One generation: config, rules, pages ------------------------------ */

static void
gen_free(struct sk__gen *g)
{
    for (size_t i = 0; i < g->nlisteners; i++)
        if (g->listeners[i].tls != NULL)
            sk_tls_ctx_free(g->listeners[i].tls);
    free(g->listeners);
    if (g->audit_log != NULL)
        sk_proxy_logfile_free(g->audit_log);
    if (g->access_log != NULL)
        sk_proxy_logfile_free(g->access_log);
    sk_buf_fini(&g->deny_page);
    sk_buf_fini(&g->maint_page);
    if (g->rules != NULL)
        sk_waf_rules_free(g->rules);
    if (g->conf != NULL)
        sk_conf_free(g->conf);
    memset(g, 0, sizeof(*g));
}

static int
load_rules(struct sk__gen *g, struct sk_buf *why)
{
    const struct sk_conf_proxy *p = &g->conf->proxy;
    g->rules = sk_waf_rules_new();
    if (g->rules == NULL)
        return -SK_ENOMEM;
    int bad = 0;
    for (size_t i = 0; i < p->nrules; i++) {
        glob_t gl;
        int rc =
            glob(p->rules[i], GLOB_BRACE | GLOB_ERR | GLOB_MARK, NULL, &gl);
        if (rc == GLOB_NOMATCH) {
            why_at(why, &p->loc, "rules '%s' matches no file", p->rules[i]);
            bad++;
            continue;
        }
        if (rc != 0) {
            why_at(why, &p->loc, "rules '%s': %s", p->rules[i],
                   rc == GLOB_NOSPACE ? "out of memory" : "read error");
            bad++;
            continue;
        }
        for (size_t j = 0; j < gl.gl_pathc; j++) {
            const char *f = gl.gl_pathv[j];
            size_t fl = strlen(f);
            if (fl > 0 && f[fl - 1] == '/') {
                why_at(why, &p->loc, "rules '%s' matches the directory %s",
                       p->rules[i], f);
                bad++;
                continue;
            }
            sk_waf_rules_add_file(g->rules, f); /* errors: at compile */
            g->nrule_files++;
        }
        globfree(&gl);
    }
    int rc = sk_waf_rules_compile(g->rules);
    if (rc != 0) {
        const char *e = sk_waf_rules_errors(g->rules);
        sk_buf_append_c(why, e != NULL && *e ? e : "rules: compile failed\n");
        if (why->len > 0 && why->p[why->len - 1] != '\n')
            sk_buf_putc(why, '\n');
        return rc;
    }
    if (bad > 0)
        return -SK_EINVAL;
    if (p->nrules == 0)
        sk_log(SK_LOG_WARN, "proxy: no `rules`: requests are forwarded "
                            "without inspection");
    return 0;
}

static int
load_page(const char *path, const char *dflt, const struct sk_loc *loc,
          struct sk_buf *out, struct sk_buf *why)
{
    if (path == NULL)
        return sk_buf_append_c(out, dflt);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        why_at(why, loc, "%s: %s", path, strerror(errno));
        return -SK_EIO;
    }
    int rc = 0;
    for (;;) {
        if (out->len > PAGE_MAX) {
            why_at(why, loc, "%s: longer than %d bytes", path, PAGE_MAX);
            rc = -SK_ELIMIT;
            break;
        }
        if ((rc = sk_buf_reserve(out, 4096)) != 0)
            break;
        ssize_t n = read(fd, out->p + out->len, 4096);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            why_at(why, loc, "%s: %s", path, strerror(errno));
            rc = -SK_EIO;
            break;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
    }
    close(fd);
    return rc;
}

/* Resolves `user` and `group` into g->uid/gid and decides whether workers
 * switch to them. */
static int
resolve_ids(struct sk__gen *g, struct sk_buf *why)
{
    const struct sk_conf_proxy *p = &g->conf->proxy;
    if (p->user == NULL && p->group == NULL)
        return 0;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (p->user != NULL) {
        errno = 0;
        struct passwd *pw = getpwnam(p->user);
        if (pw == NULL) {
            why_at(why, &p->loc, "user '%s': %s", p->user,
                   errno ? strerror(errno) : "no such user");
            return -SK_EINVAL;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (p->group != NULL) {
        errno = 0;
        struct group *gr = getgrnam(p->group);
        if (gr == NULL) {
            why_at(why, &p->loc, "group '%s': %s", p->group,
                   errno ? strerror(errno) : "no such group");
            return -SK_EINVAL;
        }
        gid = gr->gr_gid;
    }
    if (geteuid() != 0) {
        if (uid != geteuid() || gid != getegid()) {
            why_at(why, &p->loc,
                   "user/group: switching to %u:%u needs root (running "
                   "as %u:%u)",
                   (unsigned)uid, (unsigned)gid, (unsigned)geteuid(),
                   (unsigned)getegid());
            return -SK_EINVAL;
        }
        return 0; /* already there */
    }
    g->uid = uid;
    g->gid = gid;
    g->drop = true;
    return 0;
}

/* Loads the config and everything that is not a socket or a file the
 * workers write: rules, pages, ids. All errors go to `why`. */
static int
gen_load(const char *path, struct sk__gen *g, struct sk_buf *why)
{
    struct sk_diag d = {0};
    int rc = sk_conf_load(path, &g->conf, &d);
    if (rc != 0 || d.warnings > 0)
        sk_buf_append_c(why, sk_diag_text(&d));
    sk_diag_fini(&d);
    if (rc != 0)
        return rc;
    const struct sk_conf_proxy *p = &g->conf->proxy;
    if (!p->present) {
        sk_buf_printf(why, "%s: error: no `proxy { }` section\n", path);
        return -SK_EINVAL;
    }
    if (p->nlisten == 0) {
        why_at(why, &p->loc, "the proxy section has no `listen`");
        return -SK_EINVAL;
    }
    if (p->upstream.family == 0) {
        why_at(why, &p->loc, "the proxy section has no `upstream`");
        return -SK_EINVAL;
    }
    int r1 = load_rules(g, why);
    int r2 =
        load_page(p->deny_page, default_deny_page, &p->loc, &g->deny_page, why);
    int r3 = load_page(p->maintenance_page, default_maint_page, &p->loc,
                       &g->maint_page, why);
    int r4 = resolve_ids(g, why);
    return r1 ? r1 : r2 ? r2 : r3 ? r3 : r4;
}

static unsigned
workers_of(const struct sk_conf *c)
{
    if (c->proxy.workers > 0)
        return c->proxy.workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ---- Sockets ----------------------------------------------------------- */

int
sk__bind(const struct sockaddr *sa, socklen_t len, int backlog,
         struct sk_buf *why)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        sk_buf_printf(why, "socket: %s\n", strerror(errno));
        return -SK_EIO;
    }
    int one = 1;
    if (sa->sa_family != AF_UNIX &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1) {
        sk_buf_printf(why, "SO_REUSEADDR: %s\n", strerror(errno));
        close(fd);
        return -SK_EIO;
    }
    /* [::] and 0.0.0.0 are separate listeners. */
    if (sa->sa_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        struct stat st;
        if (un->sun_path[0] != '\0' && lstat(un->sun_path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                sk_buf_printf(why, "%s exists and is not a socket\n",
                              un->sun_path);
                close(fd);
                return -SK_EEXIST;
            }
            /* A socket file: in use when something answers on it. */
            int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (probe != -1 && connect(probe, sa, len) == 0) {
                close(probe);
                sk_buf_printf(why, "%s is in use by another process\n",
                              un->sun_path);
                close(fd);
                return -SK_EEXIST;
            }
            if (probe != -1)
                close(probe);
            unlink(un->sun_path);
        }
    }
    if (bind(fd, sa, len) == -1) {
        sk_buf_printf(why, "bind: %s\n", strerror(errno));
        close(fd);
        return -SK_EIO;
    }
    if (listen(fd, backlog) == -1) {
        sk_buf_printf(why, "listen: %s\n", strerror(errno));
        close(fd);
        return -SK_EIO;
    }
    return fd;
}

/* Whether an address can be bound here, without taking its port: binds
 * the same IP with port 0. UNIX paths: the directory must exist. */
static int
probe_addr(const struct sk_conf_addr *a, struct sk_buf *why)
{
    if (a->family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
        char dir[sizeof(un->sun_path) + 1];
        snprintf(dir, sizeof(dir), "%s", un->sun_path);
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            return 0;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        struct stat st;
        if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
            why_at(why, &a->loc, "%s: directory %s does not exist", a->text,
                   dir);
            return -SK_ENOENT;
        }
        return 0;
    }
    struct sockaddr_storage ss = a->ss;
    if (a->family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = 0;
    else if (a->family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
    int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        why_at(why, &a->loc, "%s: socket: %s", a->text, strerror(errno));
        return -SK_EIO;
    }
    int rc = 0;
    if (bind(fd, (struct sockaddr *)&ss, a->len) == -1) {
        why_at(why, &a->loc, "%s: %s", a->text, strerror(errno));
        rc = -SK_EIO;
    }
    close(fd);
    return rc;
}

static bool
same_addr(const struct sockaddr_storage *a, socklen_t al,
          const struct sockaddr_storage *b, socklen_t bl)
{
    return al == bl && memcmp(a, b, al) == 0;
}

/*
 * Builds the listener array of a generation: fds reused from `old` (same
 * address) or bound anew, and a TLS context for each TLS listener. On
 * failure everything new is closed and `old` is untouched. On success
 * (*out, *nout) is the new bound set (old fds reused are moved: their entry
 * in `old` gets fd -1).
 */
static int
build_listeners(struct sk__gen *g, struct sk__listener *old, size_t nold,
                struct sk__listener **out, size_t *nout, struct sk_buf *why)
{
    const struct sk_conf_proxy *p = &g->conf->proxy;
    struct sk__listener *l = calloc(p->nlisten, sizeof(*l));
    g->listeners = calloc(p->nlisten, sizeof(*g->listeners));
    if (l == NULL || g->listeners == NULL) {
        free(l);
        return -SK_ENOMEM;
    }
    g->nlisteners = p->nlisten;
    int rc = 0;
    size_t i;
    for (i = 0; i < p->nlisten && rc == 0; i++) {
        const struct sk_conf_listen *c = &p->listen[i];
        l[i].fd = -1;
        for (size_t j = 0; j < i; j++)
            if (same_addr(&l[j].ss, l[j].len, &c->addr.ss, c->addr.len)) {
                why_at(why, &c->addr.loc, "listen %s given twice",
                       c->addr.text);
                rc = -SK_EINVAL;
            }
        if (rc != 0)
            break;
        for (size_t j = 0; j < nold; j++)
            if (old[j].fd >= 0 &&
                same_addr(&old[j].ss, old[j].len, &c->addr.ss, c->addr.len)) {
                l[i].fd = old[j].fd;
                old[j].fd = -1; /* moved; given back on failure */
                l[i].text = old[j].text;
                old[j].text = NULL;
                break;
            }
        if (l[i].fd < 0) {
            struct sk_buf e = {0};
            int fd = sk__bind((const struct sockaddr *)&c->addr.ss, c->addr.len,
                              LISTEN_BACKLOG, &e);
            if (fd < 0) {
                why_at(why, &c->addr.loc, "listen %s: %.*s", c->addr.text,
                       (int)(e.len > 0 ? e.len - 1 : 0), (char *)e.p);
                sk_buf_fini(&e);
                rc = fd;
                break;
            }
            sk_buf_fini(&e);
            l[i].fd = fd;
        }
        l[i].ss = c->addr.ss;
        l[i].len = c->addr.len;
        l[i].tls = c->tls;
        if (l[i].text == NULL)
            l[i].text = strdup(c->addr.text);
        g->listeners[i].fd = l[i].fd;
        g->listeners[i].conf = c;
        if (c->tls) {
            char err[512] = "";
            int t = sk_tls_ctx_new(c->cert, c->key, &g->listeners[i].tls, err,
                                   sizeof(err));
            if (t != 0) {
                why_at(why, &c->addr.loc, "listen %s tls: %s", c->addr.text,
                       err[0] ? err : sk_strerror(t));
                rc = t;
                i++;
                break;
            }
        }
    }
    if (rc != 0) {
        /* Give reused fds back to `old`, close the ones bound here. */
        for (size_t k = 0; k < i && k < p->nlisten; k++) {
            if (l[k].fd < 0)
                continue;
            bool given_back = false;
            for (size_t j = 0; j < nold && !given_back; j++)
                if (old[j].fd < 0 &&
                    same_addr(&old[j].ss, old[j].len, &l[k].ss, l[k].len)) {
                    old[j].fd = l[k].fd;
                    old[j].text = l[k].text;
                    l[k].text = NULL;
                    given_back = true;
                }
            if (!given_back)
                close(l[k].fd);
            free(l[k].text);
        }
        free(l);
        return rc;
    }
    *out = l;
    *nout = p->nlisten;
    return 0;
}

static void
listeners_free(struct sk__listener *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (l[i].fd >= 0)
            close(l[i].fd);
        free(l[i].text);
    }
    free(l);
}

static int
open_logs(struct sk__gen *g, struct sk_buf *why)
{
    const struct sk_conf_proxy *p = &g->conf->proxy;
    if (p->audit_log != NULL && p->audit_mode != SK_CONF_AUDIT_OFF &&
        sk_proxy_logfile_open(p->audit_log, &g->audit_log) != 0) {
        why_at(why, &p->loc, "audit_log %s: cannot open", p->audit_log);
        return -SK_EIO;
    }
    if (p->access_log != NULL &&
        sk_proxy_logfile_open(p->access_log, &g->access_log) != 0) {
        why_at(why, &p->loc, "access_log %s: cannot open", p->access_log);
        return -SK_EIO;
    }
    /* Workers reopen these files after a rotation, without root. */
    if (g->drop) {
        if (p->audit_log != NULL && g->audit_log != NULL &&
            chown(p->audit_log, g->uid, g->gid) == -1)
            sk_log(SK_LOG_WARN, "proxy: chown %s: %s", p->audit_log,
                   strerror(errno));
        if (p->access_log != NULL && chown(p->access_log, g->uid, g->gid) == -1)
            sk_log(SK_LOG_WARN, "proxy: chown %s: %s", p->access_log,
                   strerror(errno));
    }
    return 0;
}

/* Points stderr (the operational log) at `path`; the file goes to the
 * workers' user, who reopen it after a rotation. */
static int
redirect_stderr(const char *path, const struct sk__gen *g)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd == -1) {
        sk_log(SK_LOG_ERROR, "proxy: error_log %s: %s", path, strerror(errno));
        return -SK_EIO;
    }
    if (g->drop && fchown(fd, g->uid, g->gid) == -1)
        sk_log(SK_LOG_WARN, "proxy: chown %s: %s", path, strerror(errno));
    fflush(stderr);
    int rc = dup2(fd, STDERR_FILENO) == -1 ? -SK_EIO : 0;
    close(fd);
    return rc;
}

static int
write_file_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof(tmp))
        return -SK_ELIMIT;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -SK_EIO;
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) == -1) {
        unlink(tmp);
        return -SK_EIO;
    }
    return 0;
}

/* Refuses to start over a live master's pid file. */
static int
check_pid_file(const char *path, struct sk_buf *why)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    if (got != 1 || pid <= 0 || pid == (long)getpid())
        return 0;
    if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
        return 0;
    char comm_path[64], comm[64] = "";
    snprintf(comm_path, sizeof(comm_path), "/proc/%ld/comm", pid);
    f = fopen(comm_path, "re");
    if (f != NULL) {
        if (fgets(comm, sizeof(comm), f) == NULL)
            comm[0] = '\0';
        fclose(f);
    }
    if (strncmp(comm, "sekimori", 8) != 0)
        return 0; /* a stale file, the pid reused by something else */
    sk_buf_printf(why, "proxy: error: %s: already running as pid %ld\n", path,
                  pid);
    return -SK_EEXIST;
}

/* ---- Shared memory, metrics slots --------------------------------------- */

static int
map_shm(struct sk__master *m, unsigned nslots)
{
    size_t head = (sizeof(struct sk_proxy_shm) + 63) & ~(size_t)63;
    size_t total = head + sk_proxy_metrics_size(nslots);
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -SK_ENOMEM;
    m->shm = p;
    m->shm_size = total;
    m->shm->metrics_offset = head;
    m->shm->metrics_slots = nslots;
    m->metrics = (char *)p + head;
    sk_proxy_metrics_init(m->metrics, nslots);
    m->nslots = nslots;
    m->slot_used = calloc(nslots, sizeof(bool));
    return m->slot_used != NULL ? 0 : -SK_ENOMEM;
}

static unsigned
free_slots(const struct sk__master *m)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->nslots; i++)
        n += !m->slot_used[i];
    return n;
}

/* ---- Workers ------------------------------------------------------------ */

unsigned
sk__master_live_workers(const struct sk__master *m)
{
    unsigned n = 0;
    for (size_t i = 0; i < m->nworkers_cap; i++)
        n += m->workers[i].pid > 0 && m->workers[i].gen == m->generation &&
             !m->workers[i].draining;
    return n;
}

static unsigned
all_live_workers(const struct sk__master *m)
{
    unsigned n = 0;
    for (size_t i = 0; i < m->nworkers_cap; i++)
        n += m->workers[i].pid > 0;
    return n;
}

/* ---- The master's event records ------------------------------------------ */

#define MEV_TIMEOUT_MS 1000
#define MEV_BACKOFF_MIN_MS 1000
#define MEV_BACKOFF_MAX_MS 30000

static void
mev_disconnect(struct sk__master *m)
{
    if (m->ev_client != NULL)
        sk_evlog_client_close(m->ev_client);
    m->ev_client = NULL;
}

/* Sends what is pending, oldest first; on failure keeps the rest for the
 * next attempt (with a growing backoff). Blocks up to about 1 s per
 * record on a writer that stopped answering. */
static void
mev_flush(struct sk__master *m)
{
    if (m->ev_socket == NULL || m->ev_n == 0)
        return;
    size_t done = 0;
    int rc = 0;
    if (m->ev_client == NULL) {
        rc = sk_evlog_client_connect(m->ev_socket, &m->ev_client);
        if (rc == 0)
            rc = sk_evlog_client_set_timeout(m->ev_client, MEV_TIMEOUT_MS);
        if (rc != 0)
            mev_disconnect(m);
    }
    while (rc == 0 && done < m->ev_n) {
        struct sk__mevent *e = &m->ev_q[done];
        uint64_t seq;
        rc = sk_evlog_client_append(m->ev_client, SK_STR_LIT("proxy"),
                                    sk_str_c(e->type), sk_str_c(e->body), &seq);
        if (rc == -SK_EINVAL || rc == -SK_ELIMIT || rc == -SK_EPARSE) {
            /* The writer refused this record: it never will take it. */
            sk_log(SK_LOG_ERROR, "proxy: event %s refused: %s", e->type,
                   sk_evlog_client_error(m->ev_client));
            m->ev_dropped++;
            rc = 0;
        } else if (rc != 0) {
            break;
        }
        free(e->body);
        done++;
    }
    if (done > 0) {
        memmove(m->ev_q, m->ev_q + done, (m->ev_n - done) * sizeof(*m->ev_q));
        m->ev_n -= done;
    }
    if (rc != 0) {
        if (m->ev_backoff == 0)
            sk_log(SK_LOG_WARN,
                   "proxy: event log writer %s unreachable (%s); %zu "
                   "records wait",
                   m->ev_socket, sk_strerror(rc), m->ev_n);
        mev_disconnect(m);
        m->ev_backoff = m->ev_backoff == 0 ? MEV_BACKOFF_MIN_MS
                        : m->ev_backoff >= MEV_BACKOFF_MAX_MS / 2
                            ? MEV_BACKOFF_MAX_MS
                            : m->ev_backoff * 2;
        m->ev_retry_at = sk__now_ms() + m->ev_backoff;
    } else {
        if (m->ev_backoff != 0)
            sk_log(SK_LOG_INFO, "proxy: event log writer %s reachable again",
                   m->ev_socket);
        m->ev_backoff = 0;
    }
}

/* Points the master's events at `socket` (NULL: none); what is pending
 * for another writer is sent there first, or dropped. */
static void
mev_configure(struct sk__master *m, const char *socket)
{
    if (m->ev_socket != NULL && socket != NULL &&
        strcmp(m->ev_socket, socket) == 0)
        return;
    if (m->ev_socket != NULL) {
        mev_flush(m);
        mev_disconnect(m);
        for (size_t i = 0; i < m->ev_n; i++)
            free(m->ev_q[i].body);
        m->ev_dropped += m->ev_n;
        m->ev_n = 0;
        free(m->ev_socket);
        m->ev_socket = NULL;
    }
    m->ev_backoff = 0;
    if (socket != NULL)
        m->ev_socket = strdup(socket);
}

void
sk__master_event(struct sk__master *m, const char *type, const char *json)
{
    if (m->ev_socket == NULL)
        return;
    if (m->ev_q == NULL) {
        m->ev_q = calloc(SK__MEVENTS_MAX, sizeof(*m->ev_q));
        if (m->ev_q == NULL) {
            m->ev_dropped++;
            return;
        }
    }
    char *body = strdup(json);
    if (m->ev_n == SK__MEVENTS_MAX || body == NULL) {
        free(body);
        if (m->ev_dropped++ == 0)
            sk_log(SK_LOG_WARN, "proxy: event %s dropped (%zu waiting)", type,
                   m->ev_n);
        return;
    }
    struct sk__mevent *e = &m->ev_q[m->ev_n++];
    snprintf(e->type, sizeof(e->type), "%s", type);
    e->body = body;
    if (m->ev_backoff == 0)
        mev_flush(m); /* else the loop retries when the backoff ends */
}

static void
mev_fini(struct sk__master *m)
{
    mev_flush(m);
    if (m->ev_n > 0)
        sk_log(SK_LOG_WARN, "proxy: %zu event records not delivered", m->ev_n);
    mev_disconnect(m);
    for (size_t i = 0; i < m->ev_n; i++)
        free(m->ev_q[i].body);
    free(m->ev_q);
    m->ev_q = NULL;
    m->ev_n = 0;
    free(m->ev_socket);
    m->ev_socket = NULL;
}

static void
drop_privileges(const struct sk__gen *g)
{
    if (g->drop) {
        if (setgroups(1, &g->gid) == -1) {
            sk_log(SK_LOG_ERROR, "proxy worker: setgroups: %s",
                   strerror(errno));
            _exit(SK_EXIT_INTERNAL);
        }
        if (setgid(g->gid) == -1) {
            sk_log(SK_LOG_ERROR, "proxy worker: setgid %u: %s",
                   (unsigned)g->gid, strerror(errno));
            _exit(SK_EXIT_INTERNAL);
        }
        if (setuid(g->uid) == -1) {
            sk_log(SK_LOG_ERROR, "proxy worker: setuid %u: %s",
                   (unsigned)g->uid, strerror(errno));
            _exit(SK_EXIT_INTERNAL);
        }
        if (g->uid != 0 && setuid(0) != -1) {
            sk_log(SK_LOG_ERROR, "proxy worker: could regain root");
            _exit(SK_EXIT_INTERNAL);
        }
    }
    /* Nothing a worker runs may gain privileges (setuid binaries). */
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static _Noreturn void
worker_main(struct sk__master *m, unsigned id, unsigned slot)
{
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != m->self)
        _exit(0); /* the master is gone already */
    /* The master's own descriptors. */
    close(m->epfd);
    close(m->sig.fd);
    sk__io_close_in_child(m);
    mev_disconnect(m); /* the master's connection to the event log */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    /* SIGTERM and friends stay blocked: sk_proxy_worker_run takes them
     * from its signalfd, so one sent before it started is not lost. */
    drop_privileges(&m->g);

    const struct sk_conf *c = m->g.conf;
    struct sk_proxy_events *ev = NULL;
    if (c->proxy.events && c->log.socket != NULL &&
        sk_proxy_events_new(c->log.socket, "proxy", &ev) != 0) {
        sk_log(SK_LOG_WARN, "proxy worker %u: no event sender", id);
        ev = NULL;
    }
    struct sk_proxy_runtime rt = {
        .conf = &c->proxy,
        .rules = m->g.rules,
        .listeners = m->g.listeners,
        .nlisteners = m->g.nlisteners,
        .shm = m->shm,
        .metrics = sk_proxy_metrics_slot(m->metrics, slot),
        .audit_log = m->g.audit_log,
        .access_log = m->g.access_log,
        .events = ev,
        .deny_page = sk_buf_str(&m->g.deny_page),
        .maint_page = sk_buf_str(&m->g.maint_page),
        .worker_id = id,
        .generation = m->generation,
    };
    int rc = sk_proxy_worker_run(&rt);
    if (rc != 0)
        sk_log(SK_LOG_ERROR, "proxy worker %u: %s", id, sk_strerror(rc));
    if (ev != NULL)
        sk_proxy_events_free(ev, EVENTS_FLUSH_MS);
    _exit(rc == 0 ? SK_EXIT_OK : SK_EXIT_INTERNAL);
}

static int
spawn(struct sk__master *m, unsigned id)
{
    unsigned slot = 0;
    while (slot < m->nslots && m->slot_used[slot])
        slot++;
    if (slot == m->nslots) {
        sk_log(SK_LOG_ERROR, "proxy: no free metrics slot for worker %u", id);
        return -SK_ELIMIT;
    }
    size_t w = 0;
    while (w < m->nworkers_cap && m->workers[w].pid > 0)
        w++;
    if (w == m->nworkers_cap) {
        size_t cap = m->nworkers_cap ? m->nworkers_cap * 2 : 8;
        struct sk__worker *nw = realloc(m->workers, cap * sizeof(*nw));
        if (nw == NULL)
            return -SK_ENOMEM;
        memset(nw + m->nworkers_cap, 0, (cap - m->nworkers_cap) * sizeof(*nw));
        m->workers = nw;
        m->nworkers_cap = cap;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == -1) {
        sk_log(SK_LOG_ERROR, "proxy: fork: %s", strerror(errno));
        return -SK_EIO;
    }
    if (pid == 0)
        worker_main(m, id, slot);
    m->slot_used[slot] = true;
    m->workers[w] = (struct sk__worker){
        .pid = pid,
        .id = id,
        .mslot = slot,
        .gen = m->generation,
        .started_ms = sk__now_ms(),
    };
    sk_log(SK_LOG_INFO, "proxy: worker %u started (pid %ld, generation %llu)",
           id, (long)pid, (unsigned long long)m->generation);
    return 0;
}

static void
describe_status(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d%s", WTERMSIG(st),
                 WCOREDUMP(st) ? " (core dumped)" : "");
    else
        snprintf(buf, n, "status %#x", (unsigned)st);
}

static void
reap(struct sk__master *m)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        struct sk__worker *w = NULL;
        for (size_t i = 0; i < m->nworkers_cap && w == NULL; i++)
            if (m->workers[i].pid == pid)
                w = &m->workers[i];
        if (w == NULL)
            continue;
        char how[64];
        describe_status(st, how, sizeof(how));
        /* The slot is reused, its counters never zeroed; the connections
         * a dead worker still held are taken off the shared count that
         * max_connections is checked against. */
        int64_t held = sk_proxy_metrics_slot_dead(
            sk_proxy_metrics_slot(m->metrics, w->mslot));
        if (held > 0) {
            uint32_t cur = atomic_load(&m->shm->connections), next;
            do
                next = cur > (uint64_t)held ? cur - (uint32_t)held : 0;
            while (!atomic_compare_exchange_weak(&m->shm->connections, &cur,
                                                 next));
            sk_log(SK_LOG_WARN,
                   "proxy: worker %u (pid %ld) left %lld connections open",
                   w->id, (long)pid, (long long)held);
        }
        m->slot_used[w->mslot] = false;
        bool expected = w->draining || m->stopping;
        if (expected) {
            sk_log(SK_LOG_INFO,
                   "proxy: worker %u (pid %ld, generation "
                   "%llu) finished: %s",
                   w->id, (long)pid, (unsigned long long)w->gen, how);
        } else if (w->gen == m->generation && w->id < m->nworkers) {
            int64_t now = sk__now_ms();
            struct sk__restart *r = &m->restart[w->id];
            r->fails =
                now - w->started_ms >= RESTART_STABLE_MS ? 1 : r->fails + 1;
            int64_t delay = RESTART_FIRST_MS;
            for (unsigned k = 1; k < r->fails && delay < RESTART_CAP_MS; k++)
                delay *= 2;
            if (delay > RESTART_CAP_MS)
                delay = RESTART_CAP_MS;
            r->pending = true;
            r->at = now + delay;
            sk_log(SK_LOG_ERROR,
                   "proxy: worker %u (pid %ld) died unexpectedly: %s; "
                   "restarting in %lld ms",
                   w->id, (long)pid, how, (long long)delay);
        }
        w->pid = 0;
    }
}

static void
signal_workers(struct sk__master *m, int sig, bool only_old)
{
    for (size_t i = 0; i < m->nworkers_cap; i++) {
        struct sk__worker *w = &m->workers[i];
        if (w->pid > 0 && (!only_old || w->gen != m->generation))
            kill(w->pid, sig);
    }
}

/* Asks workers (all, or those of older generations) to drain. */
static void
drain_workers(struct sk__master *m, bool only_old, uint32_t drain_ms)
{
    int64_t at = sk__now_ms() + drain_ms + KILL_GRACE_MS;
    for (size_t i = 0; i < m->nworkers_cap; i++) {
        struct sk__worker *w = &m->workers[i];
        if (w->pid <= 0 || (only_old && w->gen == m->generation))
            continue;
        if (!w->draining) {
            w->draining = true;
            w->kill_at = at;
        }
        kill(w->pid, SIGTERM);
    }
}

/* ---- Reload -------------------------------------------------------------- */

static char *
json_reload(bool ok, uint64_t gen, size_t rules, const char *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_boolean(ok));
    json_object_set_new(o, "generation", json_integer((json_int_t)gen));
    if (ok)
        json_object_set_new(o, "rules", json_integer((json_int_t)rules));
    if (err != NULL)
        json_object_set_new(o, "error", json_stringn(err, strnlen(err, 4096)));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void
log_lines(enum sk_log_level lvl, const char *prefix, struct sk_buf *text)
{
    const char *s = sk_buf_cstr(text);
    if (s == NULL)
        return;
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n > 0)
            sk_log(lvl, "%s%.*s", prefix, (int)n, s);
        s += n + (e != NULL);
    }
}

static bool
str_differs(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    return strcmp(a, b) != 0;
}

int
sk__master_reload(struct sk__master *m, struct sk_buf *why)
{
    if (m->stopping) {
        sk_buf_append_c(why, "proxy: error: shutting down\n");
        return -SK_ESTATE;
    }
    sk_log(SK_LOG_INFO, "proxy: reloading %s", m->opts->conf_path);
    struct sk__gen ng = {0};
    struct sk__listener *nl = NULL;
    size_t nnl = 0;
    int ctl_fd = -1, met_fd = -1;
    int rc = gen_load(m->opts->conf_path, &ng, why);
    unsigned nw = 0;
    if (rc == 0) {
        nw = workers_of(ng.conf);
        /* Old workers keep their slots while they drain. */
        if (nw > free_slots(m)) {
            sk_buf_printf(why,
                          "proxy: error: %u workers need %u free metrics "
                          "slots, %u are free; restart the proxy to grow "
                          "the shared region\n",
                          nw, nw, free_slots(m));
            rc = -SK_ELIMIT;
        }
    }
    if (rc == 0)
        rc = build_listeners(&ng, m->lst, m->nlst, &nl, &nnl, why);
    if (rc == 0)
        rc = open_logs(&ng, why);
    const struct sk_conf_proxy *np = rc == 0 ? &ng.conf->proxy : NULL;
    const struct sk_conf_proxy *op = &m->g.conf->proxy;
    bool ctl_change = rc == 0 && str_differs(np->control_socket, m->ctl_path);
    if (ctl_change && np->control_socket != NULL) {
        ctl_fd = sk__ctl_bind(np->control_socket, why);
        if (ctl_fd < 0)
            rc = ctl_fd;
    }
    bool met_change =
        rc == 0 &&
        (np->metrics_listen.family != op->metrics_listen.family ||
         (np->metrics_listen.family != 0 &&
          !same_addr(&np->metrics_listen.ss, np->metrics_listen.len,
                     &op->metrics_listen.ss, op->metrics_listen.len)));
    if (met_change && np->metrics_listen.family != 0) {
        met_fd = sk__metrics_bind(&np->metrics_listen, why);
        if (met_fd < 0)
            rc = met_fd;
    }
    if (rc != 0) {
        if (ctl_fd >= 0) {
            close(ctl_fd);
            unlink(np->control_socket);
        }
        if (met_fd >= 0)
            close(met_fd);
        if (nl != NULL) {
            /* Give reused fds back: they are still the old generation's. */
            for (size_t i = 0; i < nnl; i++)
                for (size_t j = 0; j < m->nlst; j++)
                    if (m->lst[j].fd < 0 && nl[i].fd >= 0 &&
                        same_addr(&m->lst[j].ss, m->lst[j].len, &nl[i].ss,
                                  nl[i].len)) {
                        m->lst[j].fd = nl[i].fd;
                        m->lst[j].text = nl[i].text;
                        nl[i].text = NULL;
                        nl[i].fd = -1;
                    }
            listeners_free(nl, nnl);
        }
        gen_free(&ng);
        m->reload_failures++;
        log_lines(SK_LOG_ERROR, "proxy: reload failed: ", why);
        sk_log(SK_LOG_ERROR,
               "proxy: reload failed; generation %llu keeps "
               "running with the old configuration and rules",
               (unsigned long long)m->generation);
        char *ev = json_reload(false, m->generation, 0, sk_buf_cstr(why));
        if (ev != NULL)
            sk__master_event(m, "proxy.reload", ev);
        free(ev);
        return rc;
    }

    /* ---- Commit: nothing below may fail the reload. ---- */
    listeners_free(m->lst, m->nlst); /* the removed ones (others moved) */
    m->lst = nl;
    m->nlst = nnl;
    if (met_change) {
        if (met_fd >= 0)
            sk__metrics_install(m, met_fd);
        else
            sk__metrics_close(m);
    }
    if (ctl_change) {
        if (ctl_fd >= 0)
            sk__ctl_install(m, ctl_fd, np->control_socket);
        else
            sk__ctl_close(m, true, false);
    }
    if (str_differs(np->error_log, op->error_log) && np->error_log != NULL)
        redirect_stderr(np->error_log, &ng);
    if (str_differs(np->pid_file, m->pid_file)) {
        if (m->pid_file != NULL)
            unlink(m->pid_file);
        free(m->pid_file);
        m->pid_file = NULL;
        if (np->pid_file != NULL) {
            char pid[32];
            snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
            if (write_file_atomic(np->pid_file, pid) != 0)
                sk_log(SK_LOG_ERROR, "proxy: pid_file %s: cannot write",
                       np->pid_file);
            else
                m->pid_file = strdup(np->pid_file);
        }
    }
    mev_configure(m, ng.conf->proxy.events ? ng.conf->log.socket : NULL);

    uint32_t old_drain = op->drain_timeout;
    struct sk__gen old = m->g;
    m->g = ng;
    m->generation++;
    atomic_store(&m->shm->generation, m->generation);
    struct sk__restart *nr = calloc(nw, sizeof(*nr));
    if (nr != NULL) {
        free(m->restart);
        m->restart = nr;
        m->nworkers = nw;
    } else {
        m->nworkers = 0; /* cannot track restarts: none happen */
    }
    for (unsigned i = 0; i < nw; i++)
        if (spawn(m, i) != 0 && i < m->nworkers) {
            m->restart[i].pending = true;
            m->restart[i].at = sk__now_ms() + RESTART_FIRST_MS;
        }
    uint32_t drain =
        old_drain > np->drain_timeout ? old_drain : np->drain_timeout;
    drain_workers(m, true, drain);
    gen_free(&old);
    m->reloaded = (int64_t)time(NULL);
    sk_log(SK_LOG_INFO,
           "proxy: reloaded: generation %llu, %zu rules, %u "
           "workers",
           (unsigned long long)m->generation, sk_waf_rules_count(m->g.rules),
           nw);
    char *ev =
        json_reload(true, m->generation, sk_waf_rules_count(m->g.rules), NULL);
    if (ev != NULL)
        sk__master_event(m, "proxy.reload", ev);
    free(ev);
    return 0;
}

/* ---- Signals and the loop ------------------------------------------------ */

static void
reopen_logs(struct sk__master *m)
{
    const struct sk_conf_proxy *p = &m->g.conf->proxy;
    if (p->error_log != NULL)
        redirect_stderr(p->error_log, &m->g);
    if (m->g.audit_log != NULL && sk_proxy_logfile_reopen(m->g.audit_log) != 0)
        sk_log(SK_LOG_ERROR, "proxy: cannot reopen %s", p->audit_log);
    if (m->g.access_log != NULL &&
        sk_proxy_logfile_reopen(m->g.access_log) != 0)
        sk_log(SK_LOG_ERROR, "proxy: cannot reopen %s", p->access_log);
    if (m->g.drop) {
        if (m->g.audit_log != NULL &&
            chown(p->audit_log, m->g.uid, m->g.gid) == -1)
            sk_log(SK_LOG_WARN, "proxy: chown %s: %s", p->audit_log,
                   strerror(errno));
        if (m->g.access_log != NULL &&
            chown(p->access_log, m->g.uid, m->g.gid) == -1)
            sk_log(SK_LOG_WARN, "proxy: chown %s: %s", p->access_log,
                   strerror(errno));
    }
    signal_workers(m, SIGUSR1, false);
    sk_log(SK_LOG_INFO, "proxy: logs reopened");
}

static void
begin_stop(struct sk__master *m, int sig)
{
    if (m->stopping)
        return;
    sk_log(SK_LOG_INFO, "proxy: signal %d: draining %u workers", sig,
           all_live_workers(m));
    m->stopping = true;
    /* New connections are refused from now on rather than left in a
     * backlog nobody will accept from. */
    for (size_t i = 0; i < m->nlst; i++)
        if (m->lst[i].fd >= 0) {
            close(m->lst[i].fd);
            m->lst[i].fd = -1;
        }
    for (unsigned i = 0; i < m->nworkers; i++)
        m->restart[i].pending = false;
    drain_workers(m, false, m->g.conf->proxy.drain_timeout);
    m->stop_deadline =
        sk__now_ms() + m->g.conf->proxy.drain_timeout + KILL_GRACE_MS;
}

static void
on_signal(struct sk__master *m, struct sk__io *io, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            break; /* reaped below, once for all */
        case SIGHUP: {
            struct sk_buf why = {0};
            sk__master_reload(m, &why);
            sk_buf_fini(&why);
            break;
        }
        case SIGUSR1:
            reopen_logs(m);
            break;
        case SIGTERM:
        case SIGINT:
        case SIGQUIT:
            begin_stop(m, (int)si.ssi_signo);
            break;
        default:
            break;
        }
    }
    reap(m);
}

/* Deadlines: restarts, SIGKILLs of workers that overstay their drain. */
static int64_t
run_timers(struct sk__master *m, int64_t now)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < m->nworkers_cap; i++) {
        struct sk__worker *w = &m->workers[i];
        if (w->pid <= 0 || !w->draining)
            continue;
        if (now >= w->kill_at) {
            sk_log(SK_LOG_WARN,
                   "proxy: worker %u (pid %ld) did not drain "
                   "in time: SIGKILL",
                   w->id, (long)w->pid);
            kill(w->pid, SIGKILL);
            w->kill_at = now + 1000; /* once more if it is still there */
        }
        if (w->kill_at < next)
            next = w->kill_at;
    }
    for (unsigned id = 0; !m->stopping && id < m->nworkers; id++) {
        struct sk__restart *r = &m->restart[id];
        if (!r->pending)
            continue;
        if (now >= r->at) {
            r->pending = false;
            m->restarts++;
            if (spawn(m, id) != 0) {
                r->pending = true;
                r->at = now + RESTART_CAP_MS;
            }
        }
        if (r->pending && r->at < next)
            next = r->at;
    }
    return next;
}

static int
setup_signals(struct sk__master *m, sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGHUP, SIGUSR1, SIGTERM, SIGINT, SIGQUIT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&set, sigs[i]);
    if (sigprocmask(SIG_BLOCK, &set, old) == -1)
        return -SK_EIO;
    signal(SIGPIPE, SIG_IGN);
    m->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sig.fd == -1)
        return -SK_EIO;
    m->sig.fn = on_signal;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &m->sig};
    return epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->sig.fd, &ev) == -1 ? -SK_EIO
                                                                   : 0;
}

static void
run_loop(struct sk__master *m)
{
    for (;;) {
        int64_t now = sk__now_ms();
        int64_t next = run_timers(m, now);
        int64_t io = sk__io_expire(m, now);
        if (io < next)
            next = io;
        if (m->ev_n > 0 && m->ev_socket != NULL) {
            if (now >= m->ev_retry_at) {
                mev_flush(m);
                now = sk__now_ms();
            }
            if (m->ev_n > 0 && m->ev_retry_at < next)
                next = m->ev_retry_at;
        }
        if (m->stopping) {
            if (all_live_workers(m) == 0)
                return;
            if (m->stop_deadline < next)
                next = m->stop_deadline;
        }
        int timeout = -1;
        if (next != INT64_MAX)
            timeout = next <= now          ? 0
                      : next - now > 60000 ? 60000
                                           : (int)(next - now);
        struct epoll_event evs[32];
        int n = epoll_wait(m->epfd, evs, 32, timeout);
        if (n == -1 && errno != EINTR) {
            sk_log(SK_LOG_ERROR, "proxy: epoll_wait: %s", strerror(errno));
            begin_stop(m, 0);
            n = 0;
        }
        for (int i = 0; i < n; i++) {
            struct sk__io *x = evs[i].data.ptr;
            x->fn(m, x, evs[i].events);
        }
    }
}

/* ---- -t ------------------------------------------------------------------ */

static int
check_only(struct sk__gen *g, struct sk_buf *why)
{
    const struct sk_conf_proxy *p = &g->conf->proxy;
    int rc = 0;
    for (size_t i = 0; i < p->nlisten; i++) {
        const struct sk_conf_listen *l = &p->listen[i];
        for (size_t j = 0; j < i; j++)
            if (same_addr(&p->listen[j].addr.ss, p->listen[j].addr.len,
                          &l->addr.ss, l->addr.len)) {
                why_at(why, &l->addr.loc, "listen %s given twice",
                       l->addr.text);
                rc = -SK_EINVAL;
            }
        if (p->metrics_listen.family != 0 &&
            same_addr(&p->metrics_listen.ss, p->metrics_listen.len, &l->addr.ss,
                      l->addr.len)) {
            why_at(why, &p->metrics_listen.loc,
                   "metrics_listen %s is also a `listen` address",
                   p->metrics_listen.text);
            rc = -SK_EINVAL;
        }
        int r = probe_addr(&l->addr, why);
        rc = rc ? rc : r;
        if (l->tls) {
            char err[512] = "";
            struct sk_tls_ctx *t = NULL;
            r = sk_tls_ctx_new(l->cert, l->key, &t, err, sizeof(err));
            if (r != 0) {
                why_at(why, &l->addr.loc, "listen %s tls: %s", l->addr.text,
                       err[0] ? err : sk_strerror(r));
                rc = rc ? rc : r;
            } else {
                sk_tls_ctx_free(t);
            }
        }
    }
    if (p->metrics_listen.family != 0) {
        int r = probe_addr(&p->metrics_listen, why);
        rc = rc ? rc : r;
    }
    if (p->control_socket != NULL) {
        struct sk_conf_addr a = {.family = AF_UNIX, .loc = p->loc};
        struct sockaddr_un *un = (struct sockaddr_un *)&a.ss;
        if (strlen(p->control_socket) >= sizeof(un->sun_path)) {
            why_at(why, &p->loc, "control_socket %s: path too long",
                   p->control_socket);
            rc = rc ? rc : -SK_ELIMIT;
        } else {
            strcpy(un->sun_path, p->control_socket);
            a.text = p->control_socket;
            int r = probe_addr(&a, why);
            rc = rc ? rc : r;
        }
    }
    return rc;
}

static void
print_summary(const struct sk__gen *g, const char *path)
{
    const struct sk_conf_proxy *p = &g->conf->proxy;
    printf("sekimori proxy: %s: configuration OK\n", path);
    struct sk_waf_rules_stats st;
    sk_waf_rules_stats(g->rules, &st);
    printf("  rules:     %zu (from %zu files; %zu settled at load time)\n",
           st.rules, g->nrule_files, st.folded);
    for (size_t i = 0; i < p->nlisten; i++)
        printf("  listen:    %s%s\n", p->listen[i].addr.text,
               p->listen[i].tls ? " tls" : "");
    printf("  upstream:  %s\n", p->upstream.text);
    printf("  workers:   %u\n", workers_of(g->conf));
    if (p->metrics_listen.family != 0)
        printf("  metrics:   %s\n", p->metrics_listen.text);
    if (p->control_socket != NULL)
        printf("  control:   %s\n", p->control_socket);
    if (g->drop)
        printf("  workers run as uid %u gid %u\n", (unsigned)g->uid,
               (unsigned)g->gid);
}

/* ---- Entry ----------------------------------------------------------------
 */

static void
master_fini(struct sk__master *m)
{
    sk__ctl_close(m, true, true);
    sk__metrics_close(m);
    if (m->pid_file != NULL)
        unlink(m->pid_file);
    free(m->pid_file);
    if (m->ready_written)
        unlink(m->opts->ready_file);
    listeners_free(m->lst, m->nlst);
    mev_fini(m);
    gen_free(&m->g);
    free(m->workers);
    free(m->restart);
    free(m->slot_used);
    if (m->shm != NULL)
        munmap(m->shm, m->shm_size);
    if (m->sig.fd >= 0)
        close(m->sig.fd);
    if (m->epfd >= 0)
        close(m->epfd);
}

/*
 * Runs `sekimori proxy` (see proxy.h): check, or start and supervise until
 * SIGTERM. Blocks for its whole run.
 */
int
sk_proxy_main(const struct sk_proxy_opts *o)
{
    struct sk__master m0 = {0}, *m = &m0;
    m->opts = o;
    m->epfd = -1;
    m->sig.fd = -1;
    m->ctl.fd = -1;
    m->met.fd = -1;
    m->self = getpid();
    if (sk__log_level < SK_LOG_INFO)
        sk_log_set_level(SK_LOG_INFO);

    struct sk_buf why = {0};
    int rc = gen_load(o->conf_path, &m->g, &why);
    if (rc == 0 && o->check_only)
        rc = check_only(&m->g, &why);
    if (rc != 0 || why.len > 0)
        fputs(sk_buf_cstr(&why) ? sk_buf_cstr(&why) : "", stderr);
    sk_buf_clear(&why);
    if (rc != 0) {
        gen_free(&m->g);
        sk_buf_fini(&why);
        return rc == -SK_ENOMEM ? SK_EXIT_INTERNAL : SK_EXIT_USAGE;
    }
    if (o->check_only) {
        print_summary(&m->g, o->conf_path);
        gen_free(&m->g);
        sk_buf_fini(&why);
        return SK_EXIT_OK;
    }

    const struct sk_conf_proxy *p = &m->g.conf->proxy;
    int exit_code = SK_EXIT_USAGE;
    sigset_t oldmask;
    m->nworkers = workers_of(m->g.conf);
    if (p->pid_file != NULL && check_pid_file(p->pid_file, &why) != 0)
        goto fail;
    if (build_listeners(&m->g, NULL, 0, &m->lst, &m->nlst, &why) != 0)
        goto fail;
    if (open_logs(&m->g, &why) != 0)
        goto fail;
    exit_code = SK_EXIT_INTERNAL;
    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (m->epfd == -1) {
        sk_buf_printf(&why, "proxy: epoll: %s\n", strerror(errno));
        goto fail;
    }
    unsigned nslots = SLOTS_PER_WORKER * m->nworkers;
    if (map_shm(m, nslots > SLOTS_MIN ? nslots : SLOTS_MIN) != 0) {
        sk_buf_printf(&why, "proxy: shared memory: %s\n", strerror(errno));
        goto fail;
    }
    m->restart = calloc(m->nworkers, sizeof(*m->restart));
    if (m->restart == NULL)
        goto fail;
    exit_code = SK_EXIT_USAGE;
    if (p->control_socket != NULL) {
        int fd = sk__ctl_bind(p->control_socket, &why);
        if (fd < 0)
            goto fail;
        sk__ctl_install(m, fd, p->control_socket);
    }
    if (p->metrics_listen.family != 0) {
        int fd = sk__metrics_bind(&p->metrics_listen, &why);
        if (fd < 0)
            goto fail;
        sk__metrics_install(m, fd);
    }
    if (p->pid_file != NULL) {
        char pid[32];
        snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (write_file_atomic(p->pid_file, pid) != 0) {
            sk_buf_printf(&why, "proxy: pid_file %s: cannot write\n",
                          p->pid_file);
            goto fail;
        }
        m->pid_file = strdup(p->pid_file);
    }
    exit_code = SK_EXIT_INTERNAL;
    if (setup_signals(m, &oldmask) != 0) {
        sk_buf_printf(&why, "proxy: signals: %s\n", strerror(errno));
        goto fail;
    }
    if (p->error_log != NULL && redirect_stderr(p->error_log, &m->g) != 0)
        goto fail;
    mev_configure(m, p->events ? m->g.conf->log.socket : NULL);
    if (geteuid() == 0 && !m->g.drop)
        sk_log(SK_LOG_WARN, "proxy: workers run as root; set `user` in the "
                            "proxy section to drop privileges");
    m->started = m->reloaded = (int64_t)time(NULL);
    for (unsigned i = 0; i < m->nworkers; i++)
        if (spawn(m, i) != 0) {
            m->restart[i].pending = true;
            m->restart[i].at = sk__now_ms() + RESTART_FIRST_MS;
        }
    sk_log(SK_LOG_INFO,
           "proxy: started (pid %ld): %zu listeners, %u workers, %zu rules",
           (long)getpid(), m->nlst, m->nworkers,
           sk_waf_rules_count(m->g.rules));
    if (o->ready_file != NULL) {
        char pid[32];
        snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (write_file_atomic(o->ready_file, pid) != 0)
            sk_log(SK_LOG_ERROR, "proxy: cannot write %s", o->ready_file);
        else
            m->ready_written = true;
    }
    run_loop(m);
    sk_log(SK_LOG_INFO, "proxy: stopped");
    master_fini(m);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    sk_buf_fini(&why);
    return SK_EXIT_OK;

fail:
    if (why.len > 0)
        fputs(sk_buf_cstr(&why) ? sk_buf_cstr(&why) : "", stderr);
    sk_buf_fini(&why);
    master_fini(m);
    return exit_code;
}
