/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori proxy`: starts the WAF reverse proxy's master process (or,
 * with -t, checks the configuration and the rules and exits), and
 * `sekimori proxy ctl`, the operator's client of the control socket:
 * maintenance mode on and off, status, reload. See docs/proxy.md.
 */
#include "cli/proxy.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "proxy/proxy.h"
#include "util/buf.h"
#include "util/error.h"

#define DEFAULT_CONF "/etc/sekimori/sekimori.conf"
/* How long ctl waits for a reply; a reload compiles the rules first. */
#define CTL_TIMEOUT_MS 10000
#define CTL_RELOAD_TIMEOUT_MS 120000
/* A reply is one line; a status with every maintenance path fits. */
#define CTL_REPLY_MAX (1 << 20)

static void
usage_main(FILE *f)
{
    fputs("usage: sekimori proxy [-c FILE] [-t] [--ready FILE]\n"
          "       sekimori proxy ctl [-c FILE] [--socket PATH] COMMAND\n"
          "\n"
          "Runs the WAF reverse proxy configured in the `proxy` section of\n"
          "FILE (default " DEFAULT_CONF ") in the foreground.\n"
          "  -c, --config FILE  the configuration file\n"
          "  -t, --test         load the configuration, compile the rules,\n"
          "                     load TLS keys and pages, check addresses,\n"
          "                     print a summary and exit (0 good, 2 not)\n"
          "  --ready FILE       write the master's pid to FILE once the\n"
          "                     workers run (removed at exit)\n"
          "Signals: HUP reload, TERM/INT drain and stop, USR1 reopen logs.\n"
          "`sekimori proxy ctl --help` describes the control commands.\n",
          f);
}

static void
usage_ctl(FILE *f)
{
    fputs("usage: sekimori proxy ctl [-c FILE] [--socket PATH] COMMAND\n"
          "commands:\n"
          "  maintenance on [--reason TEXT] PATH...\n"
          "                  answer 503 on these URL paths (a path ending\n"
          "                  in / covers everything below it)\n"
          "  maintenance off [PATH...]\n"
          "                  clear those paths, or every path\n"
          "  status [--json] the running proxy's state\n"
          "  reload          reload the configuration and rules (as SIGHUP)\n"
          "                  and report whether it worked\n"
          "The socket is --socket, or control_socket of FILE's proxy\n"
          "section (default " DEFAULT_CONF ").\n"
          "Exit: 0 done, 1 refused or proxy unreachable, 2 usage.\n",
          f);
}

/* ---- The proxy itself --------------------------------------------------- */

static int
run_proxy(int argc, char **argv)
{
    struct sk_proxy_opts o = {.conf_path = DEFAULT_CONF, .foreground = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage_main(stdout);
            return SK_EXIT_OK;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--test") == 0) {
            o.check_only = true;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) &&
                   i + 1 < argc) {
            o.conf_path = argv[++i];
        } else if (strcmp(a, "--ready") == 0 && i + 1 < argc) {
            o.ready_file = argv[++i];
        } else {
            fprintf(stderr, "sekimori proxy: unexpected '%s'\n", a);
            usage_main(stderr);
            return SK_EXIT_USAGE;
        }
    }
    return sk_proxy_main(&o);
}

/* ---- ctl --------------------------------------------------------------- */

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends one request line and reads one reply line into *reply (parsed). */
static int
ctl_call(const char *path, json_t *req, int timeout_ms, json_t **reply)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "sekimori proxy ctl: %s: path too long\n", path);
        return SK_EXIT_USAGE;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        fprintf(stderr, "sekimori proxy ctl: socket: %s\n", strerror(errno));
        return SK_EXIT_INTERNAL;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        fprintf(stderr, "sekimori proxy ctl: %s: %s (is the proxy running?)\n",
                path, strerror(errno));
        close(fd);
        return SK_EXIT_FAIL;
    }
    char *line = json_dumps(req, JSON_COMPACT);
    if (line == NULL) {
        close(fd);
        return SK_EXIT_INTERNAL;
    }
    struct sk_buf b = {0};
    int rc = sk_buf_append_c(&b, line);
    rc = rc ? rc : sk_buf_putc(&b, '\n');
    free(line);
    size_t off = 0;
    while (rc == 0 && off < b.len) {
        ssize_t n = send(fd, b.p + off, b.len - off, MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            fprintf(stderr, "sekimori proxy ctl: send: %s\n", strerror(errno));
            rc = -SK_EIO;
            break;
        }
        off += (size_t)n;
    }
    sk_buf_clear(&b);
    int64_t deadline = mono_ms() + timeout_ms;
    while (rc == 0) {
        if (b.len > 0 && memchr(b.p, '\n', b.len) != NULL)
            break;
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            fprintf(stderr, "sekimori proxy ctl: no reply within %d s\n",
                    timeout_ms / 1000);
            rc = -SK_EIO;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr == -1 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        if (b.len > CTL_REPLY_MAX || sk_buf_reserve(&b, 4096) != 0) {
            rc = -SK_ELIMIT;
            break;
        }
        ssize_t n = recv(fd, b.p + b.len, 4096, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "sekimori proxy ctl: the proxy closed the "
                            "connection without a reply\n");
            rc = -SK_EIO;
            break;
        }
        b.len += (size_t)n;
    }
    close(fd);
    if (rc != 0) {
        sk_buf_fini(&b);
        return SK_EXIT_FAIL;
    }
    json_error_t err;
    *reply = json_loadb((const char *)b.p, b.len, JSON_DISABLE_EOF_CHECK, &err);
    sk_buf_fini(&b);
    if (*reply == NULL || !json_is_object(*reply)) {
        fprintf(stderr, "sekimori proxy ctl: bad reply: %s\n", err.text);
        json_decref(*reply);
        *reply = NULL;
        return SK_EXIT_FAIL;
    }
    return SK_EXIT_OK;
}

static const char *
when(json_int_t t, char *buf, size_t n)
{
    if (t <= 0)
        return "-";
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static void
print_maintenance(json_t *mt)
{
    if (!json_is_true(json_object_get(mt, "on"))) {
        printf("maintenance: off\n");
        return;
    }
    char t[32];
    printf("maintenance: ON since %s (reason: %s",
           when(json_integer_value(json_object_get(mt, "since")), t, sizeof(t)),
           json_string_value(json_object_get(mt, "reason"))
               ? json_string_value(json_object_get(mt, "reason"))
               : "-");
    const char *file = json_string_value(json_object_get(mt, "file"));
    if (file != NULL && *file)
        printf(", file %s", file);
    printf(")\n");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(mt, "paths"), i, p)
        printf("  %s\n", json_string_value(p));
}

static void
print_status(json_t *r)
{
    char t1[32], t2[32];
#define I(k) ((long long)json_integer_value(json_object_get(r, k)))
    printf("proxy pid %lld, generation %lld, %lld workers, %lld rules\n",
           I("pid"), I("generation"), I("workers"), I("rules"));
    printf(
        "started %s, reloaded %s\n",
        when(json_integer_value(json_object_get(r, "started")), t1, sizeof(t1)),
        when(json_integer_value(json_object_get(r, "reloaded")), t2,
             sizeof(t2)));
    printf("connections %lld, requests %lld, blocked %lld\n", I("connections"),
           I("requests"), I("blocked"));
#undef I
    print_maintenance(json_object_get(r, "maintenance"));
}

/* The control socket: --socket, else control_socket of the config. */
static const char *
ctl_socket(const char *sock, const char *conf_path, struct sk_conf **keep)
{
    if (sock != NULL)
        return sock;
    struct sk_diag d = {0};
    int rc = sk_conf_load(conf_path, keep, &d);
    if (rc != 0) {
        fputs(sk_diag_text(&d), stderr);
        sk_diag_fini(&d);
        return NULL;
    }
    sk_diag_fini(&d);
    if ((*keep)->proxy.control_socket == NULL) {
        fprintf(stderr,
                "sekimori proxy ctl: %s has no proxy control_socket; give "
                "--socket\n",
                conf_path);
        return NULL;
    }
    return (*keep)->proxy.control_socket;
}

static int
run_ctl(int argc, char **argv)
{
    const char *sock = NULL, *conf_path = DEFAULT_CONF, *reason = NULL;
    bool json = false;
    const char *words[3 + SK_PROXY_MAINT_MAX];
    size_t nw = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage_ctl(stdout);
            return SK_EXIT_OK;
        } else if (strcmp(a, "--socket") == 0 && i + 1 < argc) {
            sock = argv[++i];
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) &&
                   i + 1 < argc) {
            conf_path = argv[++i];
        } else if (strcmp(a, "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "sekimori proxy ctl: unknown option '%s'\n", a);
            usage_ctl(stderr);
            return SK_EXIT_USAGE;
        } else if (nw == sizeof(words) / sizeof(words[0])) {
            fprintf(stderr, "sekimori proxy ctl: at most %d paths\n",
                    SK_PROXY_MAINT_MAX);
            return SK_EXIT_USAGE;
        } else {
            words[nw++] = a;
        }
    }
    if (nw == 0) {
        usage_ctl(stderr);
        return SK_EXIT_USAGE;
    }
    json_t *req = json_object();
    int timeout = CTL_TIMEOUT_MS;
    const char *cmd = words[0];
    if (strcmp(cmd, "maintenance") == 0) {
        if (nw < 2 ||
            (strcmp(words[1], "on") != 0 && strcmp(words[1], "off") != 0)) {
            fprintf(stderr, "sekimori proxy ctl: maintenance on|off\n");
            json_decref(req);
            return SK_EXIT_USAGE;
        }
        bool on = strcmp(words[1], "on") == 0;
        if (on && nw < 3) {
            fprintf(stderr, "sekimori proxy ctl: maintenance on needs at "
                            "least one URL path (/ for the whole site)\n");
            json_decref(req);
            return SK_EXIT_USAGE;
        }
        json_object_set_new(req, "op", json_string("maintenance"));
        json_object_set_new(req, "on", json_boolean(on));
        if (on)
            json_object_set_new(req, "reason",
                                json_string(reason ? reason : "operator"));
        if (nw > 2) {
            json_t *paths = json_array();
            for (size_t i = 2; i < nw; i++)
                json_array_append_new(paths, json_string(words[i]));
            json_object_set_new(req, "paths", paths);
        }
    } else if (strcmp(cmd, "status") == 0 && nw == 1) {
        json_object_set_new(req, "op", json_string("status"));
    } else if (strcmp(cmd, "reload") == 0 && nw == 1) {
        json_object_set_new(req, "op", json_string("reload"));
        timeout = CTL_RELOAD_TIMEOUT_MS;
    } else {
        fprintf(stderr, "sekimori proxy ctl: unknown command '%s'\n", cmd);
        usage_ctl(stderr);
        json_decref(req);
        return SK_EXIT_USAGE;
    }
    struct sk_conf *conf = NULL;
    const char *path = ctl_socket(sock, conf_path, &conf);
    if (path == NULL) {
        json_decref(req);
        return SK_EXIT_USAGE;
    }
    json_t *reply = NULL;
    int rc = ctl_call(path, req, timeout, &reply);
    json_decref(req);
    if (conf != NULL)
        sk_conf_free(conf);
    if (rc != SK_EXIT_OK)
        return rc;
    bool ok = json_is_true(json_object_get(reply, "ok"));
    if (json) {
        char *s = json_dumps(reply, JSON_COMPACT);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
    } else if (!ok) {
        const char *e = json_string_value(json_object_get(reply, "error"));
        fprintf(stderr, "sekimori proxy ctl: %s: %s\n", cmd, e ? e : "refused");
    } else if (strcmp(cmd, "status") == 0) {
        print_status(reply);
    } else if (strcmp(cmd, "reload") == 0) {
        printf(
            "reloaded: generation %lld, %lld rules\n",
            (long long)json_integer_value(json_object_get(reply, "generation")),
            (long long)json_integer_value(json_object_get(reply, "rules")));
    } else {
        print_maintenance(json_object_get(reply, "maintenance"));
    }
    json_decref(reply);
    return ok ? SK_EXIT_OK : SK_EXIT_FAIL;
}

int
sk_cli_proxy(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
        return run_ctl(argc - 1, argv + 1);
    return run_proxy(argc, argv);
}
