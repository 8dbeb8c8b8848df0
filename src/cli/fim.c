/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori fim`: the command line of the file integrity monitor. It loads
 * the config, the key and the signed baseline, and drives src/fim: init,
 * check (text or JSON, AIDE-style exit bitmask), accept (a new signed
 * baseline recording who and why), watch, restore and keygen.
 */
#include "cli/fim.h"

#include "evlog/evlog.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fim/fim.h"
#include "util/alloc.h"
#include "util/error.h"

#define DEFAULT_CONF "/etc/sekimori/fim.conf"

static void
usage(FILE *f)
{
    fputs("usage: sekimori fim COMMAND [-c CONFIG] [options]\n"
          "  keygen                      make the Ed25519 signing key\n"
          "  init [--force]              record and sign the baseline\n"
          "  check [--json]              compare the tree with the baseline\n"
          "  accept --reason TEXT [PATH...]  sign approved changes in\n"
          "  watch [--events FILE] [--evlog SOCKET] [--max-seconds N]\n"
          "        [--ready FILE] [--status FILE]\n"
          "        [--no-fanotify]       follow changes and respond\n"
          "  restore PATH...             put baseline files back\n"
          "  default-config              print the default configuration\n"
          "CONFIG defaults to " DEFAULT_CONF ".\n",
          f);
}

static struct sk_fim_config *
load_conf(const char *path)
{
    struct sk_diag d = {0};
    struct sk_fim_config *c = NULL;
    int rc = sk_fim_config_load(path, &c, &d);
    if (rc != 0 || d.warnings > 0)
        fprintf(stderr, "%s", sk_diag_text(&d));
    sk_diag_fini(&d);
    return c;
}

static const char *
who_am_i(char *buf, size_t n)
{
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw = getpwuid(getuid());
    snprintf(buf, n, "%s%s%s (uid %u)", pw ? pw->pw_name : "?",
             sudo ? " via sudo by " : "", sudo ? sudo : "", (unsigned)getuid());
    return buf;
}

static int
load_baseline(const struct sk_fim_config *c, struct sk_fim_key *k,
              struct sk_fim_db **db)
{
    int rc = sk_fim_db_load(c->baseline, k, db);
    if (rc == -SK_ECORRUPT) {
        fprintf(stderr,
                "sekimori fim: REFUSED: baseline %s failed signature "
                "verification; it will not be used or rebuilt\n",
                c->baseline);
        return SK_FIM_EXIT_REFUSED;
    }
    if (rc != 0) {
        fprintf(stderr, "sekimori fim: cannot load baseline %s: %s\n",
                c->baseline, sk_strerror(rc));
        return rc == -SK_ENOENT ? SK_FIM_EXIT_USAGE : SK_FIM_EXIT_INTERNAL;
    }
    return 0;
}

static int
load_key(const struct sk_fim_config *c, bool priv, struct sk_fim_key **k)
{
    char p[SK_FIM_MAX_PATH + 8];
    snprintf(p, sizeof(p), priv ? "%s" : "%s.pub", c->key);
    int rc = sk_fim_key_load(p, priv, k);
    if (rc != 0) {
        fprintf(stderr, "sekimori fim: cannot load key %s: %s%s\n", p,
                sk_strerror(rc),
                rc == -SK_EINVAL ? " (readable by group or others?)" : "");
        return SK_FIM_EXIT_USAGE;
    }
    return 0;
}

static void
print_stats(const char *what, const struct sk_fim_scan_stats *st)
{
    fprintf(stderr,
            "%s: %llu entries, %llu files hashed (%llu bytes), %llu new "
            "objects stored (%llu bytes), %llu unreadable\n",
            what, (unsigned long long)st->entries,
            (unsigned long long)st->files_hashed,
            (unsigned long long)st->bytes_hashed,
            (unsigned long long)st->stored, (unsigned long long)st->store_bytes,
            (unsigned long long)st->errors);
}

static int
cmd_init(struct sk_fim_config *c, bool force)
{
    struct stat st;
    if (!force && stat(c->baseline, &st) == 0) {
        fprintf(stderr,
                "sekimori fim: %s exists; use 'accept' for changes, or "
                "'init --force' to start over\n",
                c->baseline);
        return SK_FIM_EXIT_USAGE;
    }
    struct sk_fim_key *k = NULL;
    int x = load_key(c, true, &k);
    if (x != 0)
        return x;
    struct sk_fim_store *s = NULL;
    int rc =
        sk_fim_store_open(c->store, c->store_max_file, c->store_max_total, &s);
    struct sk_fim_db *db = NULL;
    struct sk_fim_scan_stats stats;
    if (rc == 0)
        rc = sk_fim_scan(c, s, &db, &stats);
    if (rc == 0) {
        char who[256];
        db->generation = 1;
        db->created = (int64_t)time(NULL);
        db->who = who_am_i(who, sizeof(who));
        db->why = "init";
        rc = sk_fim_db_save(c->baseline, db, k);
        if (rc == 0)
            print_stats("init", &stats);
    }
    if (rc != 0)
        fprintf(stderr, "sekimori fim: init failed: %s\n", sk_strerror(rc));
    sk_fim_db_free(db);
    sk_fim_store_free(s);
    sk_fim_key_free(k);
    return rc == 0              ? 0
           : rc == -SK_ECORRUPT ? SK_FIM_EXIT_REFUSED
                                : SK_FIM_EXIT_INTERNAL;
}

static int
cmd_check(struct sk_fim_config *c, bool json)
{
    struct sk_fim_key *k = NULL;
    int x = load_key(c, false, &k);
    if (x != 0)
        return x;
    struct sk_fim_db *base = NULL, *cur = NULL;
    x = load_baseline(c, k, &base);
    sk_fim_key_free(k);
    if (x != 0)
        return x;
    fprintf(stderr, "baseline generation %llu (%s: %s), verified\n",
            (unsigned long long)base->generation, base->who, base->why);
    struct sk_fim_scan_stats stats;
    int rc = sk_fim_scan(c, NULL, &cur, &stats);
    struct sk_fim_report r = {0};
    if (rc == 0)
        rc = sk_fim_compare(base, cur, &r);
    if (rc == 0) {
        rc = json ? sk_fim_report_json(&r, stdout)
                  : sk_fim_report_text(&r, stdout);
        x = sk_fim_report_exit(&r);
    }
    if (rc != 0) {
        fprintf(stderr, "sekimori fim: check failed: %s\n", sk_strerror(rc));
        x = SK_FIM_EXIT_INTERNAL;
    }
    sk_fim_report_fini(&r);
    sk_fim_db_free(cur);
    sk_fim_db_free(base);
    return x;
}

static bool
under(const struct sk_fim_entry *e, char **paths, int n)
{
    if (n == 0)
        return true;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(paths[i]);
        if (e->path_len >= l && memcmp(e->path, paths[i], l) == 0 &&
            (e->path_len == l || e->path[l] == '/' || l == 1))
            return true;
    }
    return false;
}

static int
cmd_accept(struct sk_fim_config *c, const char *reason, char **paths, int np)
{
    for (int i = 0; i < np; i++) {
        size_t l = strlen(paths[i]);
        if (paths[i][0] != '/') {
            fprintf(stderr,
                    "sekimori fim: accept: path must be absolute: "
                    "%s\n",
                    paths[i]);
            return SK_FIM_EXIT_USAGE;
        }
        while (l > 1 && paths[i][l - 1] == '/')
            paths[i][--l] = '\0';
    }
    struct sk_fim_key *k = NULL;
    int x = load_key(c, true, &k);
    if (x != 0)
        return x;
    struct sk_fim_db *base = NULL, *cur = NULL;
    x = load_baseline(c, k, &base);
    if (x != 0) {
        sk_fim_key_free(k);
        return x;
    }
    struct sk_fim_store *s = NULL;
    int rc =
        sk_fim_store_open(c->store, c->store_max_file, c->store_max_total, &s);
    struct sk_fim_scan_stats stats;
    if (rc == 0)
        rc = sk_fim_scan(c, s, &cur, &stats);
    struct sk_fim_db *nd = rc == 0 ? sk_fim_db_new() : NULL;
    if (rc == 0 && nd == NULL)
        rc = -SK_ENOMEM;
    unsigned taken = 0;
    if (rc == 0 && base->n + cur->n > 0) {
        nd->e = sk_calloc(base->n + cur->n, sizeof(*nd->e));
        if (nd->e == NULL)
            rc = -SK_ENOMEM;
    }
    /* Merge: accepted paths take the scan's state (or disappear), the
     * others keep the baseline's. */
    size_t i = 0, j = 0;
    while (rc == 0 && (i < base->n || j < cur->n)) {
        const struct sk_fim_entry *a = i < base->n ? &base->e[i] : NULL;
        const struct sk_fim_entry *b = j < cur->n ? &cur->e[j] : NULL;
        int cmp;
        if (a == NULL)
            cmp = 1;
        else if (b == NULL)
            cmp = -1;
        else {
            size_t n = a->path_len < b->path_len ? a->path_len : b->path_len;
            cmp = memcmp(a->path, b->path, n);
            if (cmp == 0)
                cmp =
                    a->path_len < b->path_len ? -1 : a->path_len > b->path_len;
        }
        const struct sk_fim_entry *take = NULL;
        if (cmp < 0) {
            take = under(a, paths, np) ? NULL : a;
            taken += take == NULL;
            i++;
        } else if (cmp > 0) {
            bool ok = !(b->flags & SK_FIM_E_ERROR) && under(b, paths, np);
            take = ok ? b : NULL;
            taken += ok;
            j++;
        } else {
            bool ok = !(b->flags & SK_FIM_E_ERROR) && under(b, paths, np);
            take = ok ? b : a;
            taken += ok && sk_fim_entry_diff(a, b) != 0;
            i++;
            j++;
        }
        if (take != NULL)
            nd->e[nd->n++] = *take;
    }
    char who[256];
    if (rc == 0) {
        nd->generation = base->generation + 1;
        nd->created = (int64_t)time(NULL);
        nd->who = who_am_i(who, sizeof(who));
        nd->why = reason;
        rc = sk_fim_db_save(c->baseline, nd, k);
    }
    if (rc == 0) {
        fprintf(stderr,
                "accept: %u changes taken into generation %llu by %s: "
                "%s\n",
                taken, (unsigned long long)nd->generation, who, reason);
        if (c->events != NULL) {
            FILE *f = fopen(c->events, "ae");
            if (f != NULL) {
                struct sk_buf b = {0};
                int r2 =
                    sk_buf_printf(&b,
                                  "{\"generation\":%llu,\"changes\":%u,"
                                  "\"who\":",
                                  (unsigned long long)nd->generation, taken);
                r2 = r2 ? r2 : sk_fim_json_str(&b, who, strlen(who));
                r2 = r2 ? r2 : sk_buf_append_c(&b, ",\"why\":");
                r2 = r2 ? r2 : sk_fim_json_str(&b, reason, strlen(reason));
                r2 = r2 ? r2 : sk_buf_append_c(&b, "}");
                if (r2 == 0)
                    sk_fim_jsonl_sink(f, "fim.accept", (const char *)b.p,
                                      b.len);
                sk_buf_fini(&b);
                fclose(f);
            }
        }
    } else {
        fprintf(stderr, "sekimori fim: accept failed: %s\n", sk_strerror(rc));
    }
    sk_fim_db_free(nd);
    sk_fim_db_free(cur);
    sk_fim_db_free(base);
    sk_fim_store_free(s);
    sk_fim_key_free(k);
    return rc == 0 ? 0 : SK_FIM_EXIT_INTERNAL;
}

static int
cmd_restore(struct sk_fim_config *c, char **paths, int np)
{
    struct sk_fim_key *k = NULL;
    int x = load_key(c, false, &k);
    if (x != 0)
        return x;
    struct sk_fim_db *base = NULL;
    x = load_baseline(c, k, &base);
    sk_fim_key_free(k);
    if (x != 0)
        return x;
    struct sk_fim_store *s = NULL;
    int rc =
        sk_fim_store_open(c->store, c->store_max_file, c->store_max_total, &s);
    for (int i = 0; rc == 0 && i < np; i++) {
        struct sk_fim_entry *e =
            sk_fim_db_find(base, paths[i], strlen(paths[i]));
        if (e == NULL) {
            fprintf(stderr, "sekimori fim: %s is not in the baseline\n",
                    paths[i]);
            x = SK_FIM_EXIT_USAGE;
            continue;
        }
        int r2 = sk_fim_restore(s, e);
        if (r2 != 0) {
            fprintf(stderr, "sekimori fim: restore %s: %s\n", paths[i],
                    sk_strerror(r2));
            x = r2 == -SK_ECORRUPT ? SK_FIM_EXIT_REFUSED : SK_FIM_EXIT_INTERNAL;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "sekimori fim: store: %s\n", sk_strerror(rc));
        x = rc == -SK_ECORRUPT ? SK_FIM_EXIT_REFUSED : SK_FIM_EXIT_INTERNAL;
    }
    sk_fim_store_free(s);
    sk_fim_db_free(base);
    return x;
}

/*
 * Where watch's events go: always the JSON-lines file (stdout by
 * default), and with --evlog also the event log's writer, each record
 * acknowledged as durable before the next. A writer that fails is
 * reported on stderr; the JSON line keeps the event either way.
 */
struct watch_sink {
    FILE *f;
    struct sk_evlog_client *log;
    const char *log_path;
};

static void
watch_event(void *ctx, const char *type, const char *body, size_t body_len)
{
    struct watch_sink *w = ctx;
    sk_fim_jsonl_sink(w->f, type, body, body_len);
    if (w->log_path == NULL)
        return;
    /* A writer that restarted (sekimori run restarts a dead one) closed
     * our connection: connect again and resend once. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (w->log == NULL &&
            sk_evlog_client_connect(w->log_path, &w->log) != 0) {
            w->log = NULL;
            fprintf(stderr,
                    "sekimori fim: event log %s unreachable; %s only in "
                    "the JSON-lines output\n",
                    w->log_path, type);
            return;
        }
        uint64_t seq;
        int rc =
            sk_evlog_client_append(w->log, SK_STR_LIT("fim"), sk_str_c(type),
                                   sk_str_make(body, body_len), &seq);
        if (rc == 0)
            return;
        fprintf(stderr, "sekimori fim: event log %s refused %s: %s\n",
                w->log_path, type, sk_evlog_client_error(w->log));
        if (rc != -SK_EIO)
            return;
        sk_evlog_client_close(w->log);
        w->log = NULL;
    }
}

static int
cmd_watch(struct sk_fim_config *c, const char *events, const char *evlog_socket,
          struct sk_fim_watch_opts *o)
{
    const char *ep = events ? events : c->events;
    struct watch_sink w = {stdout, NULL, evlog_socket};
    if (ep != NULL && strcmp(ep, "-") != 0) {
        w.f = fopen(ep, "ae");
        if (w.f == NULL) {
            fprintf(stderr, "sekimori fim: %s: %s\n", ep, strerror(errno));
            return SK_FIM_EXIT_USAGE;
        }
    }
    if (evlog_socket != NULL &&
        sk_evlog_client_connect(evlog_socket, &w.log) != 0) {
        fprintf(stderr, "sekimori fim: cannot reach the event log at %s\n",
                evlog_socket);
        if (w.f != stdout)
            fclose(w.f);
        return SK_FIM_EXIT_USAGE;
    }
    struct sk_fim_sink sink = {watch_event, &w};
    int rc = sk_fim_watch(c, &sink, o);
    if (w.log != NULL)
        sk_evlog_client_close(w.log);
    if (w.f != stdout)
        fclose(w.f);
    if (rc == -SK_ECORRUPT) {
        fprintf(stderr, "sekimori fim: REFUSED: baseline or store failed "
                        "verification\n");
        return SK_FIM_EXIT_REFUSED;
    }
    if (rc != 0) {
        fprintf(stderr, "sekimori fim: watch: %s\n", sk_strerror(rc));
        return SK_FIM_EXIT_INTERNAL;
    }
    return 0;
}

int
sk_cli_fim(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SK_FIM_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "default-config") == 0) {
        fputs(sk_fim_config_default(), stdout);
        return 0;
    }
    const char *conf = DEFAULT_CONF, *reason = NULL, *events = NULL;
    const char *evlog_socket = NULL;
    bool json = false, force = false;
    struct sk_fim_watch_opts wo = {0};
    char **rest = sk_calloc((size_t)argc, sizeof(*rest));
    if (rest == NULL)
        return SK_FIM_EXIT_INTERNAL;
    int nrest = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout); /* `sekimori fim init --help` and the like */
            sk_free(rest);
            return 0;
        }
        if (strcmp(a, "-c") == 0 && has)
            conf = argv[++i];
        else if (strcmp(a, "--json") == 0)
            json = true;
        else if (strcmp(a, "--force") == 0)
            force = true;
        else if (strcmp(a, "--reason") == 0 && has)
            reason = argv[++i];
        else if (strcmp(a, "--events") == 0 && has)
            events = argv[++i];
        else if (strcmp(a, "--evlog") == 0 && has)
            evlog_socket = argv[++i];
        else if (strcmp(a, "--ready") == 0 && has)
            wo.ready_file = argv[++i];
        else if (strcmp(a, "--status") == 0 && has)
            wo.status_file = argv[++i];
        else if (strcmp(a, "--max-seconds") == 0 && has)
            wo.max_seconds = atoi(argv[++i]);
        else if (strcmp(a, "--no-fanotify") == 0)
            wo.no_fanotify = true;
        else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "sekimori fim: unknown option %s\n", a);
            sk_free(rest);
            return SK_FIM_EXIT_USAGE;
        } else
            rest[nrest++] = argv[i];
    }
    struct sk_fim_config *c = load_conf(conf);
    int x = SK_FIM_EXIT_USAGE;
    if (c == NULL) {
        /* reported */
    } else if (strcmp(cmd, "keygen") == 0) {
        int rc = sk_fim_keygen(c->key);
        if (rc != 0)
            fprintf(stderr, "sekimori fim: keygen %s: %s\n", c->key,
                    sk_strerror(rc));
        else
            fprintf(stderr, "keygen: wrote %s (0600) and %s.pub\n", c->key,
                    c->key);
        x = rc == 0            ? 0
            : rc == -SK_EEXIST ? SK_FIM_EXIT_USAGE
                               : SK_FIM_EXIT_INTERNAL;
    } else if (strcmp(cmd, "init") == 0 && nrest == 0) {
        x = cmd_init(c, force);
    } else if (strcmp(cmd, "check") == 0 && nrest == 0) {
        x = cmd_check(c, json);
    } else if (strcmp(cmd, "accept") == 0) {
        if (reason == NULL || reason[0] == '\0') {
            fprintf(stderr, "sekimori fim: accept needs --reason TEXT\n");
        } else {
            x = cmd_accept(c, reason, rest, nrest);
        }
    } else if (strcmp(cmd, "restore") == 0 && nrest > 0) {
        x = cmd_restore(c, rest, nrest);
    } else if (strcmp(cmd, "watch") == 0 && nrest == 0) {
        x = cmd_watch(c, events, evlog_socket, &wo);
    } else {
        usage(stderr);
    }
    sk_fim_config_free(c);
    sk_free(rest);
    return x;
}
