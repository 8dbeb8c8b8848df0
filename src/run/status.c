/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori status`: one JSON report of the installation a sekimori.conf
 * describes, built from what the parts leave behind (the supervisor's
 * state files, the file monitor's baseline, watch status file and
 * quarantine directory, the event log) and from the proxy's control
 * socket. Everything that needs an operator's attention becomes an entry
 * of "alerts", and "healthy" is true only when there is none.
 */
#include "run/run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "evlog/evlog.h"
#include "fim/fim.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"

#define CONTROL_TIMEOUT_MS 2000
#define CONTROL_MAX_REPLY (1024 * 1024)

static void __attribute__((format(printf, 2, 3)))
alert(json_t *alerts, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(alerts, json_string(msg));
}

static bool
pid_alive(json_int_t pid)
{
    if (pid <= 0 || pid > INT32_MAX)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static json_t *
load_json(const char *path)
{
    json_error_t e;
    return json_load_file(path, 0, &e);
}

static void
iso_time(int64_t secs, char *buf, size_t n)
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (secs <= 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, n, "-");
        return;
    }
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *
str_of(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

/* ---- parts ------------------------------------------------------------ */

static json_t *
parts_status(const struct sk_conf *c, json_t *alerts)
{
    json_t *out = json_object();
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/run.json", c->run.state_dir);
    json_t *run = load_json(path);
    json_t *sup = json_object();
    if (run == NULL) {
        json_object_set_new(sup, "state", json_string("unknown"));
        alert(alerts, "sekimori run has not run here (no %s)", path);
    } else {
        json_int_t pid = json_integer_value(json_object_get(run, "pid"));
        const char *st = json_string_value(json_object_get(run, "state"));
        bool alive = pid_alive(pid) && st != NULL && strcmp(st, "running") == 0;
        json_object_set_new(sup, "pid", json_integer(pid));
        json_object_set_new(sup, "state", json_string(st ? st : "unknown"));
        json_object_set_new(sup, "alive", json_boolean(alive));
        json_object_set(sup, "started", json_object_get(run, "started"));
        if (!alive)
            alert(alerts, "sekimori run is not running (state %s)",
                  st ? st : "unknown");
        json_decref(run);
    }
    json_object_set_new(out, "supervisor", sup);
    json_t *parts = json_array();
    bool present[SK_RUN_NPARTS] = {c->log.present, c->fim.present,
                                   c->proxy.present};
    for (size_t i = 0; i < SK_RUN_NPARTS; i++) {
        if (!present[i])
            continue;
        const char *name = sk_run_part_name((enum sk_run_part)i);
        snprintf(path, sizeof(path), "%s/%s.json", c->run.state_dir, name);
        json_t *j = load_json(path);
        json_t *p = json_object();
        json_object_set_new(p, "part", json_string(name));
        if (j == NULL) {
            json_object_set_new(p, "state", json_string("unknown"));
            json_object_set_new(p, "alive", json_false());
            alert(alerts, "part %s: no state file", name);
        } else {
            json_int_t pid = json_integer_value(json_object_get(j, "pid"));
            const char *st = json_string_value(json_object_get(j, "state"));
            bool alive = pid_alive(pid);
            json_object_set_new(p, "state", json_string(st ? st : "unknown"));
            json_object_set_new(p, "pid", json_integer(pid));
            json_object_set_new(p, "alive", json_boolean(alive));
            const char *keys[] = {"started", "restarts", "last_exit",
                                  "last_exit_at"};
            for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                json_object_set(p, keys[k], json_object_get(j, keys[k]));
            if (st != NULL && strcmp(st, "gave_up") == 0)
                alert(alerts,
                      "part %s was given up on: it died more than "
                      "max_restarts times within a minute (last exit: %s)",
                      name, str_of(j, "last_exit"));
            else if (st == NULL || strcmp(st, "running") != 0 || !alive)
                alert(alerts, "part %s is %s%s", name, st ? st : "unknown",
                      st != NULL && strcmp(st, "running") == 0 && !alive
                          ? " but its pid is gone"
                          : "");
            else if (json_integer_value(json_object_get(j, "restarts")) > 0)
                json_object_set_new(p, "note",
                                    json_string("restarted at least once"));
            json_decref(j);
        }
        json_array_append_new(parts, p);
    }
    json_object_set_new(out, "parts", parts);
    return out;
}

/* ---- proxy ------------------------------------------------------------ */

/* Sends {"op":"status"} on the control socket and returns its JSON reply
 * (one line), or NULL with *why set. */
static json_t *
control_status(const char *path, char *why, size_t whyn)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(un.sun_path)) {
        snprintf(why, whyn, "socket path too long");
        return NULL;
    }
    memcpy(un.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(why, whyn, "socket: %s", strerror(errno));
        return NULL;
    }
    struct timeval tv = {CONTROL_TIMEOUT_MS / 1000,
                         (CONTROL_TIMEOUT_MS % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == -1) {
        snprintf(why, whyn, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    static const char req[] = "{\"op\":\"status\"}\n";
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) !=
        (ssize_t)(sizeof(req) - 1)) {
        snprintf(why, whyn, "%s: send: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct sk_buf b = {0};
    json_t *j = NULL;
    for (;;) {
        if (b.len > CONTROL_MAX_REPLY) {
            snprintf(why, whyn, "%s: reply too large", path);
            break;
        }
        if (sk_buf_reserve(&b, 4096) != 0) {
            snprintf(why, whyn, "out of memory");
            break;
        }
        ssize_t n = recv(fd, b.p + b.len, b.cap - b.len, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            snprintf(why, whyn, "%s: %s", path,
                     errno == EAGAIN ? "no reply in time" : strerror(errno));
            break;
        }
        b.len += (size_t)n;
        uint8_t *nl = memchr(b.p, '\n', b.len);
        if (n == 0 || nl != NULL) {
            size_t len = nl ? (size_t)(nl - b.p) : b.len;
            json_error_t e;
            j = json_loadb((const char *)b.p, len, 0, &e);
            if (j == NULL || !json_is_object(j)) {
                snprintf(why, whyn, "%s: bad reply: %s", path,
                         j ? "not an object" : e.text);
                json_decref(j);
                j = NULL;
            }
            break;
        }
    }
    sk_buf_fini(&b);
    close(fd);
    return j;
}

static json_t *
proxy_status(const struct sk_conf *c, json_t *alerts)
{
    json_t *out = json_object();
    if (c->proxy.control_socket == NULL) {
        json_object_set_new(out, "reachable", json_false());
        json_object_set_new(
            out, "note",
            json_string("no control_socket configured: rules and "
                        "maintenance state unknown"));
        return out;
    }
    char why[512] = "";
    json_t *r = control_status(c->proxy.control_socket, why, sizeof(why));
    if (r == NULL) {
        json_object_set_new(out, "reachable", json_false());
        json_object_set_new(out, "error", json_string(why));
        alert(alerts, "proxy control socket: %s", why);
        return out;
    }
    json_object_set_new(out, "reachable", json_true());
    /* Everything the proxy reports (docs/proxy.md: pid, generation,
     * workers, rules, maintenance, counters), but its "ok". */
    const char *key;
    json_t *v;
    json_object_foreach(r, key, v)
    {
        if (strcmp(key, "ok") != 0 && strcmp(key, "reachable") != 0)
            json_object_set(out, key, v);
    }
    json_t *m = json_object_get(r, "maintenance");
    if (json_is_true(json_object_get(m, "on"))) {
        const char *reason = json_string_value(json_object_get(m, "reason"));
        alert(alerts, "maintenance mode is on%s%s", reason ? ": " : "",
              reason ? reason : "");
    }
    if (json_is_false(json_object_get(r, "ok")) ||
        json_object_get(r, "error") != NULL) {
        const char *e = json_string_value(json_object_get(r, "error"));
        alert(alerts, "proxy status request failed: %s", e ? e : "?");
    }
    json_decref(r);
    return out;
}

/* ---- fim -------------------------------------------------------------- */

static json_t *
fim_status(const struct sk_conf *c, json_t *alerts)
{
    json_t *out = json_object();
    json_object_set_new(out, "config", json_string(c->fim.config));
    struct sk_diag d = {0};
    struct sk_fim_config *fc = NULL;
    if (sk_fim_config_load(c->fim.config, &fc, &d) != 0) {
        const char *t = sk_diag_text(&d);
        json_object_set_new(out, "error", json_string(t));
        alert(alerts, "fim config %s does not load", c->fim.config);
        sk_diag_fini(&d);
        return out;
    }
    sk_diag_fini(&d);
    int64_t now = (int64_t)time(NULL);
    json_t *b = json_object();
    json_object_set_new(b, "path", json_string(fc->baseline));
    struct stat st;
    if (stat(fc->baseline, &st) == -1) {
        json_object_set_new(b, "error", json_string(strerror(errno)));
        alert(alerts, "fim baseline %s: %s (run `sekimori fim init`)",
              fc->baseline, strerror(errno));
    } else {
        json_object_set_new(b, "mtime", json_integer(st.st_mtime));
        char pub[PATH_MAX];
        snprintf(pub, sizeof(pub), "%s.pub", fc->key);
        struct sk_fim_key *k = NULL;
        struct sk_fim_db *db = NULL;
        int rc = sk_fim_key_load(pub, false, &k);
        if (rc == 0)
            rc = sk_fim_db_load(fc->baseline, k, &db);
        if (rc == 0) {
            json_object_set_new(b, "verified", json_true());
            json_object_set_new(b, "created", json_integer(db->created));
            json_object_set_new(b, "age_s", json_integer(now - db->created));
            json_object_set_new(b, "generation",
                                json_integer((json_int_t)db->generation));
            json_object_set_new(b, "entries", json_integer((json_int_t)db->n));
        } else {
            json_object_set_new(b, "verified", json_false());
            json_object_set_new(b, "error", json_string(sk_strerror(rc)));
            alert(alerts, "fim baseline %s does not verify: %s", fc->baseline,
                  sk_strerror(rc));
        }
        sk_fim_db_free(db);
        sk_fim_key_free(k);
    }
    json_object_set_new(out, "baseline", b);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/fim-watch.json", c->run.state_dir);
    json_t *w = load_json(path);
    if (w != NULL) {
        json_int_t last = json_integer_value(json_object_get(w, "last_check"));
        json_object_set_new(out, "last_check", json_integer(last));
        json_object_set_new(out, "last_check_age_s",
                            json_integer(now - (int64_t)last));
        json_object_set(out, "mode", json_object_get(w, "mode"));
        json_object_set_new(out, "last_check_changes",
                            json_pack("{s:O?, s:O?, s:O?}", "added",
                                      json_object_get(w, "added"), "removed",
                                      json_object_get(w, "removed"), "changed",
                                      json_object_get(w, "changed")));
        /* Two missed periodic checks: the watcher is stuck or gone. */
        if (fc->check_interval > 0 &&
            now - (int64_t)last > 2 * (int64_t)fc->check_interval + 60)
            alert(alerts, "fim: last full check %lld s ago",
                  (long long)(now - (int64_t)last));
        json_decref(w);
    } else {
        json_object_set_new(out, "last_check", json_null());
    }
    /* Every quarantined item is a directory until an operator has looked
     * at it and moved it away. */
    json_t *q = json_array();
    DIR *dir = opendir(fc->quarantine);
    size_t nq = 0;
    if (dir != NULL) {
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            nq++;
            if (json_array_size(q) < 20)
                json_array_append_new(q, json_string(de->d_name));
        }
        closedir(dir);
    } else if (errno != ENOENT) {
        alert(alerts, "fim quarantine %s: %s", fc->quarantine, strerror(errno));
    }
    json_object_set_new(out, "quarantine_dir", json_string(fc->quarantine));
    json_object_set_new(out, "quarantined", json_integer((json_int_t)nq));
    json_object_set_new(out, "quarantined_items", q);
    if (nq > 0)
        alert(alerts, "%zu item(s) in the fim quarantine %s", nq,
              fc->quarantine);
    sk_fim_config_free(fc);
    return out;
}

/* ---- log -------------------------------------------------------------- */

static json_t *
record_json(const struct sk_evlog_record *rec)
{
    json_error_t e;
    json_t *body = json_loadb((const char *)rec->body.p, rec->body.len, 0, &e);
    if (body == NULL)
        body = json_stringn((const char *)rec->body.p, rec->body.len);
    char ts[32];
    iso_time((int64_t)(rec->ts_ns / 1000000000ULL), ts, sizeof(ts));
    return json_pack("{s:I, s:s, s:s%, s:s%, s:o}", "seq", (json_int_t)rec->seq,
                     "time", ts, "source", (const char *)rec->source.p,
                     rec->source.len, "type", (const char *)rec->type.p,
                     rec->type.len, "body", body);
}

/* The last n records: from a day back first, from the start if that gave
 * too few. */
static json_t *
last_events(const char *dir, size_t n, char *why, size_t whyn)
{
    json_t *ring = json_array();
    if (n == 0)
        return ring;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL;
    uint64_t starts[2] = {now - 86400ULL * 1000000000ULL, 0};
    for (size_t pass = 0; pass < 2; pass++) {
        json_array_clear(ring);
        struct sk_evlog_reader *r = NULL;
        int rc = sk_evlog_reader_open(dir, &r);
        if (rc != 0) {
            snprintf(why, whyn, "%s", sk_strerror(rc));
            return ring;
        }
        if (starts[pass] > 0)
            rc = sk_evlog_reader_seek_time(r, starts[pass]);
        struct sk_evlog_record rec;
        while (rc == 0 && (rc = sk_evlog_reader_next(r, &rec)) == 0) {
            json_t *j = record_json(&rec);
            if (j == NULL)
                continue;
            if (json_array_size(ring) == n)
                json_array_remove(ring, 0);
            json_array_append_new(ring, j);
        }
        if (rc != 0 && rc != -SK_ENOENT)
            snprintf(why, whyn, "%s", sk_evlog_reader_error(r));
        sk_evlog_reader_free(r);
        if (json_array_size(ring) >= n)
            break;
    }
    return ring;
}

static json_t *
log_status(const struct sk_conf *c, size_t nevents, json_t *alerts)
{
    json_t *out = json_object();
    json_object_set_new(out, "dir", json_string(c->log.dir));
    struct sk_evlog_verify_opts o = {.dir = c->log.dir};
    char pub[PATH_MAX];
    snprintf(pub, sizeof(pub), "%s.pub", c->log.key);
    struct stat st;
    if (stat(pub, &st) == 0)
        o.pubkey_path = pub;
    struct sk_evlog_verify_report rep;
    memset(&rep, 0, sizeof(rep));
    int rc = sk_evlog_verify(&o, &rep);
    json_t *v = json_object();
    json_object_set_new(v, "ok", json_boolean(rc == 0));
    json_object_set_new(v, "records", json_integer((json_int_t)rep.records));
    json_object_set_new(v, "checkpoints",
                        json_integer((json_int_t)rep.checkpoints));
    json_object_set_new(v, "last_seq", json_integer((json_int_t)rep.last_seq));
    if (rc != 0) {
        json_object_set_new(
            v, "why", json_string(rep.why[0] ? rep.why : sk_strerror(rc)));
        alert(alerts, "the event log does not verify: %s",
              rep.why[0] ? rep.why : sk_strerror(rc));
    }
    if (rep.note[0])
        json_object_set_new(v, "note", json_string(rep.note));
    json_object_set_new(out, "verify", v);
    char why[512] = "";
    json_object_set_new(out, "events",
                        last_events(c->log.dir, nevents, why, sizeof(why)));
    if (why[0] != '\0')
        json_object_set_new(out, "events_error", json_string(why));
    return out;
}

json_t *
sk_run_status(const struct sk_conf *c, size_t nevents)
{
    json_t *st = json_object();
    json_t *alerts = json_array();
    if (st == NULL || alerts == NULL) {
        json_decref(st);
        json_decref(alerts);
        return NULL;
    }
    json_object_set_new(st, "config", json_string(c->path));
    json_object_set_new(st, "time", json_integer((json_int_t)time(NULL)));
    json_t *parts = parts_status(c, alerts);
    json_object_set(st, "supervisor", json_object_get(parts, "supervisor"));
    json_object_set(st, "parts", json_object_get(parts, "parts"));
    json_decref(parts);
    if (c->proxy.present)
        json_object_set_new(st, "proxy", proxy_status(c, alerts));
    if (c->fim.present)
        json_object_set_new(st, "fim", fim_status(c, alerts));
    if (c->log.present)
        json_object_set_new(st, "log", log_status(c, nevents, alerts));
    json_object_set_new(st, "healthy",
                        json_boolean(json_array_size(alerts) == 0));
    json_object_set_new(st, "alerts", alerts);
    return st;
}

void
sk_run_status_text(const json_t *st, FILE *out)
{
    char ts[32];
    bool healthy = json_is_true(json_object_get(st, "healthy"));
    fprintf(out, "sekimori: %s   (%s)\n",
            healthy ? "HEALTHY" : "NEEDS ATTENTION", str_of(st, "config"));
    const json_t *sup = json_object_get(st, "supervisor");
    iso_time(json_integer_value(json_object_get(sup, "started")), ts,
             sizeof(ts));
    fprintf(out, "\nsupervisor  %-9s pid %-7" JSON_INTEGER_FORMAT " since %s\n",
            str_of(sup, "state"),
            json_integer_value(json_object_get(sup, "pid")), ts);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(st, "parts"), i, p)
    {
        iso_time(json_integer_value(json_object_get(p, "started")), ts,
                 sizeof(ts));
        const char *le = str_of(p, "last_exit");
        fprintf(out,
                "%-11s %-9s pid %-7" JSON_INTEGER_FORMAT
                " since %s  restarts %" JSON_INTEGER_FORMAT "%s%s\n",
                str_of(p, "part"), str_of(p, "state"),
                json_integer_value(json_object_get(p, "pid")), ts,
                json_integer_value(json_object_get(p, "restarts")),
                le[0] && strcmp(le, "-") != 0 ? "  last exit: " : "",
                le[0] && strcmp(le, "-") != 0 ? le : "");
    }
    const json_t *px = json_object_get(st, "proxy");
    if (px != NULL) {
        fprintf(out, "\nproxy: ");
        if (!json_is_true(json_object_get(px, "reachable"))) {
            const char *e = json_string_value(json_object_get(px, "error"));
            fprintf(out, "%s\n", e ? e : str_of(px, "note"));
        } else {
            const json_t *rules = json_object_get(px, "rules");
            char *rt = rules ? json_dumps(rules, JSON_COMPACT | JSON_ENCODE_ANY)
                             : NULL;
            fprintf(out,
                    "generation %" JSON_INTEGER_FORMAT
                    ", workers %" JSON_INTEGER_FORMAT ", rules %s\n",
                    json_integer_value(json_object_get(px, "generation")),
                    json_integer_value(json_object_get(px, "workers")),
                    rt ? rt : "-");
            free(rt);
            const json_t *m = json_object_get(px, "maintenance");
            if (json_is_true(json_object_get(m, "on"))) {
                char *mt = json_dumps(m, JSON_COMPACT);
                fprintf(out, "  maintenance ON: %s\n", mt ? mt : "");
                free(mt);
            } else {
                fprintf(out, "  maintenance off\n");
            }
        }
    }
    const json_t *fm = json_object_get(st, "fim");
    if (fm != NULL) {
        const json_t *b = json_object_get(fm, "baseline");
        fprintf(out, "\nfim: baseline %s ", str_of(b, "path"));
        if (json_is_true(json_object_get(b, "verified"))) {
            iso_time(json_integer_value(json_object_get(b, "created")), ts,
                     sizeof(ts));
            fprintf(out,
                    "verified, generation %" JSON_INTEGER_FORMAT
                    ", %" JSON_INTEGER_FORMAT
                    " entries, made %s (%" JSON_INTEGER_FORMAT " s ago)\n",
                    json_integer_value(json_object_get(b, "generation")),
                    json_integer_value(json_object_get(b, "entries")), ts,
                    json_integer_value(json_object_get(b, "age_s")));
        } else {
            fprintf(out, "NOT VERIFIED: %s\n", str_of(b, "error"));
        }
        const json_t *lc = json_object_get(fm, "last_check");
        if (json_is_integer(lc)) {
            iso_time(json_integer_value(lc), ts, sizeof(ts));
            fprintf(out,
                    "  last full check %s (%" JSON_INTEGER_FORMAT
                    " s ago), mode %s\n",
                    ts,
                    json_integer_value(json_object_get(fm, "last_check_age_s")),
                    str_of(fm, "mode"));
        } else {
            fprintf(out, "  last full check: none recorded\n");
        }
        fprintf(out, "  quarantine %s: %" JSON_INTEGER_FORMAT " item(s)\n",
                str_of(fm, "quarantine_dir"),
                json_integer_value(json_object_get(fm, "quarantined")));
    }
    const json_t *lg = json_object_get(st, "log");
    if (lg != NULL) {
        const json_t *v = json_object_get(lg, "verify");
        fprintf(out,
                "\nlog: %s %s, %" JSON_INTEGER_FORMAT
                " records, %" JSON_INTEGER_FORMAT " checkpoints\n",
                str_of(lg, "dir"),
                json_is_true(json_object_get(v, "ok")) ? "verifies"
                                                       : "DOES NOT VERIFY",
                json_integer_value(json_object_get(v, "records")),
                json_integer_value(json_object_get(v, "checkpoints")));
        json_t *e;
        size_t k;
        json_t *evs = json_object_get(lg, "events");
        if (json_array_size(evs) > 0)
            fprintf(out, "  last events:\n");
        json_array_foreach(evs, k, e)
        {
            char *body = json_dumps(json_object_get(e, "body"),
                                    JSON_COMPACT | JSON_ENCODE_ANY);
            fprintf(out, "  %6" JSON_INTEGER_FORMAT " %s %-6s %-16s %.120s\n",
                    json_integer_value(json_object_get(e, "seq")),
                    str_of(e, "time"), str_of(e, "source"), str_of(e, "type"),
                    body ? body : "");
            free(body);
        }
    }
    json_t *alerts = json_object_get(st, "alerts");
    if (json_array_size(alerts) > 0) {
        fprintf(out, "\nalerts:\n");
        size_t k;
        json_t *a;
        json_array_foreach(alerts, k, a)
            fprintf(out, "  ! %s\n", json_string_value(a));
    }
}
