/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The supervisor of `sekimori run`: one process, one poll loop over a
 * signalfd. Parts start in order (log, fim, proxy), each once the parts
 * before it are ready (the log's socket accepts a connection, the others
 * touch a --ready file), or have been given up on. A part that dies is
 * restarted after restart_delay unless it already died max_restarts times
 * in the last minute; then it stays down, the others stay up, and its
 * state file says so. Every start, exit, restart and give-up goes to
 * standard error and, through the log writer's socket, to the event log
 * (queued while the writer is down). Stopping goes in reverse order, each
 * part with a deadline before SIGKILL.
 */
#include "run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evlog/evlog.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define MAX_ARGS 64
#define PENDING_MAX 256         /* events queued while the log is down */
#define READY_TIMEOUT_MS 120000 /* a part not ready by then counts as up */
#define POLL_MS 100
/* The writer has this long to take and acknowledge each event: a hung
 * writer must not freeze the supervisor, which reaps and restarts the
 * parts. Then the events stay queued and are retried with a backoff. */
#define EVENT_TIMEOUT_MS 1000
#define EVENT_RETRY_MIN_MS 1000
#define EVENT_RETRY_MAX_MS 30000

enum pstate {
    P_OFF = 0,      /* not configured */
    P_WAIT = 1,     /* waiting for its turn or its restart delay */
    P_STARTING = 2, /* running, not ready yet */
    P_RUNNING = 3,
    P_GAVE_UP = 4,
    P_STOPPED = 5,
};

static const char *const state_names[] = {"off",     "waiting", "starting",
                                          "running", "gave_up", "stopped"};

struct part {
    enum sk_run_part id;
    enum pstate st;
    char *argv[MAX_ARGS + 1];
    size_t argc;
    pid_t pid;
    int64_t started_rt; /* unix ms */
    int64_t start_mono, next_start, ready_deadline;
    unsigned restarts;
    int64_t *recent; /* monotonic ms of recent deaths, oldest first */
    size_t nrecent;
    char last_exit[48]; /* "exit 1", "signal 9", "" */
    int64_t last_exit_rt;
    char ready_file[PATH_MAX];
    uint32_t stop_ms;
};

struct sup {
    const struct sk_conf *c;
    const struct sk_run_opts *o;
    struct part parts[SK_RUN_NPARTS];
    struct sk_evlog_client *client;
    char *pending_type[PENDING_MAX];
    char *pending_body[PENDING_MAX];
    size_t npending;
    unsigned dropped;
    int64_t ev_retry_at;    /* monotonic ms; no send before (backoff) */
    unsigned ev_backoff_ms; /* next backoff, 0 after a success */
    int64_t started_rt;
    bool stopping, all_started;
    struct sk_buf args; /* owns the argv strings (offsets fixed up) */
};

const char *
sk_run_part_name(enum sk_run_part p)
{
    static const char *const names[] = {"log", "fim", "proxy"};
    return (unsigned)p < SK_RUN_NPARTS ? names[p] : "?";
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s sekimori run: %s\n", ts, msg);
}

int
sk_run_write_atomic(const char *path, const void *p, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
        (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -SK_EIO;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -SK_EIO;
    const char *b = p;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, b + off, len - off);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return -SK_EIO;
        }
        off += (size_t)n;
    }
    if (fsync(fd) == -1 || close(fd) == -1) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -SK_EIO;
    }
    if (rename(tmp, path) == -1) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -SK_EIO;
    }
    return 0;
}

/* ---- events ----------------------------------------------------------- */

static void
pending_drop_first(struct sup *s)
{
    sk_free(s->pending_type[0]);
    sk_free(s->pending_body[0]);
    memmove(s->pending_type, s->pending_type + 1,
            (s->npending - 1) * sizeof(s->pending_type[0]));
    memmove(s->pending_body, s->pending_body + 1,
            (s->npending - 1) * sizeof(s->pending_body[0]));
    s->npending--;
}

/* A failed send: close the connection (a late reply may still come) and
 * wait before the next attempt, longer each time. */
static void
events_backoff(struct sup *s)
{
    sk_evlog_client_close(s->client);
    s->client = NULL;
    unsigned b = s->ev_backoff_ms ? s->ev_backoff_ms : EVENT_RETRY_MIN_MS;
    s->ev_retry_at = mono_ms() + b;
    s->ev_backoff_ms = b * 2 > EVENT_RETRY_MAX_MS ? EVENT_RETRY_MAX_MS : b * 2;
}

/*
 * Sends what is queued while the log part is up; keeps it otherwise. Each
 * send and acknowledgement is bounded by EVENT_TIMEOUT_MS: an event whose
 * send failed or timed out stays first in the queue and is sent again
 * after a backoff (a writer that stored it but was too slow to answer
 * gets it twice: events are delivered at least once). `force` ignores the
 * backoff (the writer just became ready, or the supervisor stops).
 */
static void
flush_events(struct sup *s, bool force)
{
    if (!s->c->log.present || s->npending == 0)
        return;
    if (s->parts[SK_RUN_LOG].st != P_RUNNING)
        return;
    if (!force && s->ev_retry_at != 0 && mono_ms() < s->ev_retry_at)
        return;
    if (s->client == NULL) {
        /* Connect, sends and acknowledgements all bounded. */
        int rc = sk_evlog_client_connect_timeout(s->c->log.socket,
                                                 EVENT_TIMEOUT_MS, &s->client);
        if (rc != 0) {
            s->client = NULL;
            say("event log: cannot connect to %s: %s; %zu event(s) queued",
                s->c->log.socket, sk_strerror(rc), s->npending);
            events_backoff(s);
            return;
        }
    }
    while (s->npending > 0) {
        uint64_t seq;
        int rc = sk_evlog_client_append(s->client, SK_STR_LIT("run"),
                                        sk_str_c(s->pending_type[0]),
                                        sk_str_c(s->pending_body[0]), &seq);
        if (rc != 0) {
            bool retry = rc == -SK_EIO || rc == -SK_EAGAIN;
            const char *why = sk_evlog_client_error(s->client);
            if (why[0] == '\0')
                why = sk_strerror(rc);
            if (retry)
                say("event log: %s: not acknowledged within %d ms (%s); "
                    "kept queued, retrying later",
                    s->pending_type[0], EVENT_TIMEOUT_MS, why);
            else
                say("event log: %s: refused (%s); dropped", s->pending_type[0],
                    why);
            if (!retry) {
                pending_drop_first(s); /* refused: do not retry forever */
                s->dropped++;
            }
            events_backoff(s);
            return;
        }
        pending_drop_first(s);
        s->ev_backoff_ms = 0;
        s->ev_retry_at = 0;
    }
}

static void __attribute__((format(printf, 3, 4)))
event(struct sup *s, const char *type, const char *fmt, ...)
{
    if (!s->c->log.present)
        return;
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(body))
        return;
    if (s->npending == PENDING_MAX) {
        pending_drop_first(s);
        s->dropped++;
        /* Reported, not lost silently: at 1, 2, 4, 8... drops. */
        if ((s->dropped & (s->dropped - 1)) == 0)
            say("event log: queue full (%d events); dropped the oldest "
                "(%u so far)",
                PENDING_MAX, s->dropped);
    }
    char *t = sk_malloc(strlen(type) + 1);
    char *b = sk_malloc((size_t)n + 1);
    if (t == NULL || b == NULL) {
        sk_free(t);
        sk_free(b);
        s->dropped++;
        return;
    }
    memcpy(t, type, strlen(type) + 1);
    memcpy(b, body, (size_t)n + 1);
    s->pending_type[s->npending] = t;
    s->pending_body[s->npending] = b;
    s->npending++;
    flush_events(s, false);
}

/* ---- state files ------------------------------------------------------ */

static void
write_state(struct sup *s, struct part *p)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s.json", s->c->run.state_dir,
             sk_run_part_name(p->id));
    json_t *j = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:i, s:s, s:I, s:I}", "part",
        sk_run_part_name(p->id), "state", state_names[p->st], "pid",
        (json_int_t)(p->st == P_STARTING || p->st == P_RUNNING ? p->pid : 0),
        "started", (json_int_t)(p->started_rt / 1000), "started_ms",
        (json_int_t)p->started_rt, "restarts", (int)p->restarts, "last_exit",
        p->last_exit, "last_exit_at", (json_int_t)(p->last_exit_rt / 1000),
        "supervisor_pid", (json_int_t)getpid());
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (txt == NULL)
        return;
    size_t len = strlen(txt);
    char *line = sk_malloc(len + 2);
    if (line != NULL) {
        memcpy(line, txt, len);
        line[len] = '\n';
        if (sk_run_write_atomic(path, line, len + 1) != 0)
            say("state file %s: %s", path, strerror(errno));
        sk_free(line);
    }
    free(txt);
}

static void
write_run_state(struct sup *s, const char *state)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/run.json", s->c->run.state_dir);
    json_t *parts = json_array();
    for (size_t i = 0; i < SK_RUN_NPARTS; i++)
        if (s->parts[i].st != P_OFF)
            json_array_append_new(
                parts, json_string(sk_run_part_name(s->parts[i].id)));
    json_t *j =
        json_pack("{s:I, s:s, s:I, s:s, s:o}", "pid", (json_int_t)getpid(),
                  "state", state, "started", (json_int_t)(s->started_rt / 1000),
                  "config", s->c->path, "parts", parts);
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (txt == NULL)
        return;
    if (sk_run_write_atomic(path, txt, strlen(txt)) != 0)
        say("state file %s: %s", path, strerror(errno));
    free(txt);
}

/* ---- parts ------------------------------------------------------------ */

static int
add_arg(struct sup *s, struct part *p, const char *a)
{
    if (p->argc == MAX_ARGS)
        return -SK_ELIMIT;
    /* Offsets now, pointers once every argument is in (the buffer moves). */
    p->argv[p->argc++] = (char *)(uintptr_t)(s->args.len + 1);
    return sk_buf_append(&s->args, a, strlen(a) + 1);
}

static int
build_argv(struct sup *s)
{
    const struct sk_conf *c = s->c;
    int rc = 0;
    char num[32];
#define ARG(p, a)                                                              \
    do {                                                                       \
        if (rc == 0)                                                           \
            rc = add_arg(s, (p), (a));                                         \
    } while (0)
    struct part *lg = &s->parts[SK_RUN_LOG];
    if (c->log.present) {
        lg->st = P_WAIT;
        ARG(lg, s->o->self);
        ARG(lg, "log");
        ARG(lg, "serve");
        ARG(lg, "--dir");
        ARG(lg, c->log.dir);
        ARG(lg, "--key");
        ARG(lg, c->log.key);
        ARG(lg, "--socket");
        ARG(lg, c->log.socket);
        ARG(lg, "--durability");
        ARG(lg, c->log.durability);
        snprintf(num, sizeof(num), "%u", (unsigned)c->log.group_ms);
        ARG(lg, "--group-ms");
        ARG(lg, num);
        if (c->log.syslog != NULL) {
            ARG(lg, "--syslog");
            ARG(lg, c->log.syslog);
        }
        /* The proxy's workers drop to proxy.user and still send their
         * block events: that uid joins the writer's allow list. */
        unsigned uids[SK_EVLOG_MAX_UIDS];
        size_t nuids = 0;
        for (size_t i = 0; i < c->log.nallow_uids && nuids < SK_EVLOG_MAX_UIDS;
             i++)
            uids[nuids++] = c->log.allow_uids[i];
        if (c->proxy.present && c->proxy.user != NULL) {
            struct passwd *pw = getpwnam(c->proxy.user);
            if (pw != NULL) {
                /* An explicit list replaces the default (root and our own
                 * uid), which the supervisor and the monitor need. */
                if (nuids == 0) {
                    uids[nuids++] = 0;
                    if (geteuid() != 0)
                        uids[nuids++] = (unsigned)geteuid();
                }
                bool have = false;
                for (size_t i = 0; i < nuids; i++)
                    have |= uids[i] == (unsigned)pw->pw_uid;
                if (!have && nuids < SK_EVLOG_MAX_UIDS)
                    uids[nuids++] = (unsigned)pw->pw_uid;
            }
        }
        for (size_t i = 0; i < nuids && i < SK_EVLOG_MAX_UIDS; i++) {
            snprintf(num, sizeof(num), "%u", uids[i]);
            ARG(lg, "--allow-uid");
            ARG(lg, num);
        }
        if (c->log.keep != NULL) {
            ARG(lg, "--keep");
            ARG(lg, c->log.keep);
            if (c->log.compress_after != NULL) {
                ARG(lg, "--compress-after");
                ARG(lg, c->log.compress_after);
            }
        }
        lg->stop_ms = s->o->stop_timeout_ms;
    }
    struct part *fm = &s->parts[SK_RUN_FIM];
    if (c->fim.present) {
        fm->st = P_WAIT;
        snprintf(fm->ready_file, sizeof(fm->ready_file), "%s/fim.ready",
                 c->run.state_dir);
        ARG(fm, s->o->self);
        ARG(fm, "fim");
        ARG(fm, "watch");
        ARG(fm, "-c");
        ARG(fm, c->fim.config);
        ARG(fm, "--ready");
        ARG(fm, fm->ready_file);
        char st[PATH_MAX];
        snprintf(st, sizeof(st), "%s/fim-watch.json", c->run.state_dir);
        ARG(fm, "--status");
        ARG(fm, st);
        if (c->log.present) {
            ARG(fm, "--evlog");
            ARG(fm, c->log.socket);
        }
        if (c->fim.events != NULL) {
            ARG(fm, "--events");
            ARG(fm, c->fim.events);
        }
        if (!c->fim.fanotify)
            ARG(fm, "--no-fanotify");
        fm->stop_ms = s->o->stop_timeout_ms;
    }
    struct part *px = &s->parts[SK_RUN_PROXY];
    if (c->proxy.present) {
        px->st = P_WAIT;
        snprintf(px->ready_file, sizeof(px->ready_file), "%s/proxy.ready",
                 c->run.state_dir);
        ARG(px, s->o->self);
        ARG(px, "proxy");
        ARG(px, "-c");
        ARG(px, s->o->conf_path);
        ARG(px, "--ready");
        ARG(px, px->ready_file);
        /* Requests in flight get drain_timeout, then a little slack. */
        px->stop_ms = c->proxy.drain_timeout + 5000;
    }
#undef ARG
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < SK_RUN_NPARTS; i++)
        for (size_t j = 0; j < s->parts[i].argc; j++)
            s->parts[i].argv[j] =
                (char *)s->args.p + (uintptr_t)s->parts[i].argv[j] - 1;
    return 0;
}

static void
spawn(struct sup *s, struct part *p)
{
    if (p->ready_file[0] != '\0' && unlink(p->ready_file) == -1 &&
        errno != ENOENT)
        say("%s: cannot remove %s: %s", sk_run_part_name(p->id), p->ready_file,
            strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == -1) {
        say("%s: fork: %s", sk_run_part_name(p->id), strerror(errno));
        p->next_start = mono_ms() + s->c->run.restart_delay + 1000;
        return;
    }
    if (pid == 0) {
        /* The child: its own process group (a terminal's ^C reaches only
         * the supervisor, which stops the parts in order), dies with the
         * supervisor, default signals, stdin from /dev/null. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL); /* ignored here; exec would keep that */
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd != -1) {
            dup2(fd, 0);
            close(fd);
        }
        execv(p->argv[0], p->argv);
        fprintf(stderr, "sekimori run: exec %s: %s\n", p->argv[0],
                strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    p->st = P_STARTING;
    p->started_rt = real_ms();
    p->start_mono = mono_ms();
    p->ready_deadline = p->start_mono + READY_TIMEOUT_MS;
    const char *name = sk_run_part_name(p->id);
    if (p->restarts == 0 && p->last_exit[0] == '\0') {
        say("%s: started, pid %d", name, (int)pid);
        event(s, "run.start", "{\"part\":\"%s\",\"pid\":%d}", name, (int)pid);
    } else {
        p->restarts++;
        say("%s: restarted, pid %d (restart %u; last exit: %s)", name, (int)pid,
            p->restarts, p->last_exit);
        event(s, "run.restart",
              "{\"part\":\"%s\",\"pid\":%d,\"restarts\":%u,"
              "\"last_exit\":\"%s\"}",
              name, (int)pid, p->restarts, p->last_exit);
    }
    write_state(s, p);
}

static bool
socket_accepts(const char *path)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(un.sun_path))
        return false;
    strcpy(un.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0;
    close(fd);
    return ok;
}

static bool
is_ready(struct sup *s, struct part *p)
{
    if (p->id == SK_RUN_LOG)
        return socket_accepts(s->c->log.socket);
    struct stat st;
    return stat(p->ready_file, &st) == 0;
}

static void
describe_exit(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "signal %d", WTERMSIG(status));
    else
        snprintf(buf, n, "status %d", status);
}

static void
on_exit_of(struct sup *s, struct part *p, int status)
{
    const char *name = sk_run_part_name(p->id);
    int64_t now = mono_ms();
    describe_exit(status, p->last_exit, sizeof(p->last_exit));
    p->last_exit_rt = real_ms();
    int64_t up = now - p->start_mono;
    pid_t pid = p->pid;
    p->pid = 0;
    say("%s: pid %d exited (%s) after %lld ms", name, (int)pid, p->last_exit,
        (long long)up);
    /* The log's own exit at a stop has nowhere to go; every other exit
     * is queued until the log is up again. */
    if (!(s->stopping && p->id == SK_RUN_LOG))
        event(s, "run.exit",
              "{\"part\":\"%s\",\"pid\":%d,\"exit\":\"%s\","
              "\"uptime_ms\":%lld}",
              name, (int)pid, p->last_exit, (long long)up);
    if (s->stopping) {
        p->st = P_STOPPED;
        write_state(s, p);
        return;
    }
    /* Deaths of the last minute decide whether it is worth another go. */
    size_t keep = 0;
    for (size_t i = 0; i < p->nrecent; i++)
        if (now - p->recent[i] < 60000)
            p->recent[keep++] = p->recent[i];
    p->nrecent = keep;
    if (p->nrecent >= s->c->run.max_restarts) {
        p->st = P_GAVE_UP;
        say("%s: GAVE UP: it died %zu times within a minute (limit %u); "
            "the other parts stay up",
            name, p->nrecent + 1, (unsigned)s->c->run.max_restarts);
        event(s, "run.giveup",
              "{\"part\":\"%s\",\"deaths_last_minute\":%zu,"
              "\"max_restarts\":%u,\"last_exit\":\"%s\"}",
              name, p->nrecent + 1, (unsigned)s->c->run.max_restarts,
              p->last_exit);
    } else {
        p->recent[p->nrecent++] = now;
        p->st = P_WAIT;
        p->next_start = now + s->c->run.restart_delay;
    }
    write_state(s, p);
}

static void
reap(struct sup *s)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (size_t i = 0; i < SK_RUN_NPARTS; i++) {
            struct part *p = &s->parts[i];
            if (p->pid == pid && (p->st == P_STARTING || p->st == P_RUNNING)) {
                on_exit_of(s, p, status);
                break;
            }
        }
    }
}

/* Starts what may start and notices readiness. */
static void
step(struct sup *s)
{
    int64_t now = mono_ms();
    bool before_ready = true; /* every earlier part is up or given up */
    for (size_t i = 0; i < SK_RUN_NPARTS; i++) {
        struct part *p = &s->parts[i];
        if (p->st == P_OFF)
            continue;
        /* A first start waits for the parts before it; a restart does not
         * (the later parts are up already). */
        if (p->st == P_WAIT && now >= p->next_start && !s->stopping &&
            (before_ready || p->last_exit[0] != '\0'))
            spawn(s, p);
        if (p->st == P_STARTING) {
            if (is_ready(s, p)) {
                p->st = P_RUNNING;
                say("%s: ready after %lld ms", sk_run_part_name(p->id),
                    (long long)(mono_ms() - p->start_mono));
                write_state(s, p);
                if (p->id == SK_RUN_LOG)
                    flush_events(s, true);
            } else if (now >= p->ready_deadline) {
                p->st = P_RUNNING;
                say("%s: not ready after %d s; going on with the others",
                    sk_run_part_name(p->id), READY_TIMEOUT_MS / 1000);
                write_state(s, p);
            }
        }
        if (p->st != P_RUNNING && p->st != P_GAVE_UP)
            before_ready = false;
    }
    if (!s->all_started && before_ready) {
        s->all_started = true;
        say("every part started");
        if (s->o->ready_file != NULL) {
            int fd =
                open(s->o->ready_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd != -1)
                close(fd);
        }
    }
}

/* Stops one part: SIGTERM, its deadline, then SIGKILL. Other children
 * that die meanwhile are reaped too. */
static void
stop_part(struct sup *s, struct part *p)
{
    if (p->st != P_STARTING && p->st != P_RUNNING) {
        if (p->st != P_OFF && p->st != P_GAVE_UP) {
            p->st = P_STOPPED;
            write_state(s, p);
        }
        return;
    }
    const char *name = sk_run_part_name(p->id);
    say("%s: stopping pid %d (deadline %u ms)", name, (int)p->pid,
        (unsigned)p->stop_ms);
    kill(p->pid, SIGTERM);
    int64_t deadline = mono_ms() + p->stop_ms;
    bool killed = false;
    while (p->st == P_STARTING || p->st == P_RUNNING) {
        reap(s);
        if (p->st != P_STARTING && p->st != P_RUNNING)
            break;
        if (!killed && mono_ms() >= deadline) {
            say("%s: pid %d did not stop in time: SIGKILL", name, (int)p->pid);
            kill(p->pid, SIGKILL);
            killed = true;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* mkdir -p, mode 0755 for what it creates; 0 or -1 with errno. */
static int
mkdir_p(const char *path)
{
    char p[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(p)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char save = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) == -1 && errno != EEXIST)
            return -1;
        p[i] = save;
    }
    struct stat st;
    if (stat(path, &st) == -1)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int
sk_run_supervise(const struct sk_conf *c, const struct sk_run_opts *o)
{
    struct sup *s = sk_calloc(1, sizeof(*s));
    if (s == NULL)
        return -SK_ENOMEM;
    struct sk_run_opts opts = *o;
    if (opts.stop_timeout_ms == 0)
        opts.stop_timeout_ms = 10000;
    s->c = c;
    s->o = &opts;
    s->started_rt = real_ms();
    int rc = 0;
    for (size_t i = 0; i < SK_RUN_NPARTS; i++) {
        s->parts[i].id = (enum sk_run_part)i;
        s->parts[i].recent =
            sk_calloc(c->run.max_restarts + 1, sizeof(*s->parts[i].recent));
        if (s->parts[i].recent == NULL)
            rc = -SK_ENOMEM;
    }
    if (rc == 0)
        rc = build_argv(s);
    if (rc == 0 && mkdir_p(c->run.state_dir) != 0) {
        say("state_dir %s: %s", c->run.state_dir, strerror(errno));
        rc = -SK_EIO;
    }
    /* One supervisor per state directory: a second one would start a
     * second set of parts and overwrite the first one's state. */
    int lockfd = -1;
    if (rc == 0) {
        char lp[PATH_MAX];
        snprintf(lp, sizeof(lp), "%s/run.lock", c->run.state_dir);
        lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lockfd == -1) {
            say("%s: %s", lp, strerror(errno));
            rc = -SK_EIO;
        } else if (flock(lockfd, LOCK_EX | LOCK_NB) == -1) {
            rc = errno == EWOULDBLOCK ? -SK_EAGAIN : -SK_EIO;
            if (rc == -SK_EAGAIN)
                say("another sekimori run is using %s (see run.json there)",
                    c->run.state_dir);
            else
                say("%s: flock: %s", lp, strerror(errno));
        }
    }
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    int sfd = -1;
    if (rc == 0) {
        sigprocmask(SIG_BLOCK, &mask, &old);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd == -1) {
            say("signalfd: %s", strerror(errno));
            rc = -SK_EIO;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (rc == 0) {
        size_t n = 0;
        for (size_t i = 0; i < SK_RUN_NPARTS; i++)
            if (s->parts[i].st != P_OFF)
                n++;
        say("pid %d, %zu part(s), state in %s", (int)getpid(), n,
            c->run.state_dir);
        write_run_state(s, "running");
        for (size_t i = 0; i < SK_RUN_NPARTS; i++)
            if (s->parts[i].st != P_OFF)
                write_state(s, &s->parts[i]);
    }
    while (rc == 0 && !s->stopping) {
        step(s);
        flush_events(s, false);
        struct pollfd pf = {.fd = sfd, .events = POLLIN};
        int pr = poll(&pf, 1, POLL_MS);
        if (pr == -1 && errno != EINTR) {
            rc = -SK_EIO;
            break;
        }
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGCHLD) {
                reap(s);
            } else if (si.ssi_signo == SIGHUP) {
                struct part *px = &s->parts[SK_RUN_PROXY];
                if (px->st == P_RUNNING || px->st == P_STARTING) {
                    say("SIGHUP: reloading the proxy (pid %d)", (int)px->pid);
                    kill(px->pid, SIGHUP);
                    event(s, "run.reload", "{\"part\":\"proxy\",\"pid\":%d}",
                          (int)px->pid);
                } else {
                    say("SIGHUP: no proxy running; nothing to reload");
                }
            } else {
                say("%s: stopping the parts (proxy, fim, log)",
                    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                s->stopping = true;
            }
        }
        reap(s); /* in case a SIGCHLD was coalesced with another signal */
    }
    if (sfd != -1) { /* the parts may have started: stop them in order */
        s->stopping = true;
        write_run_state(s, "stopping");
        event(s, "run.stop", "{\"pid\":%d}", (int)getpid());
        for (size_t i = SK_RUN_NPARTS; i-- > 0;) {
            if (i == SK_RUN_LOG)
                flush_events(s, true); /* the last events, while it is up */
            if (i == SK_RUN_LOG && s->client != NULL) {
                sk_evlog_client_close(s->client);
                s->client = NULL;
            }
            stop_part(s, &s->parts[i]);
        }
        if (s->npending > 0 || s->dropped > 0)
            say("%zu event(s) could not reach the event log",
                s->npending + s->dropped);
        write_run_state(s, "stopped");
        say("stopped");
    }
    if (sfd != -1) {
        close(sfd);
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    if (lockfd != -1)
        close(lockfd);
    sk_evlog_client_close(s->client);
    while (s->npending > 0)
        pending_drop_first(s);
    for (size_t i = 0; i < SK_RUN_NPARTS; i++)
        sk_free(s->parts[i].recent);
    sk_buf_fini(&s->args);
    sk_free(s);
    return rc;
}
