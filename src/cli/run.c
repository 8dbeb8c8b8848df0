/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori run` (start and supervise every configured part) and
 * `sekimori status` (their state at a glance). Exit codes: run 0 after a
 * clean stop, 2 for usage or configuration errors, 3 when it cannot run;
 * status 0 when everything is healthy, 1 when something needs attention,
 * 2 for usage or configuration errors, 3 internal errors.
 */
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "fim/fim.h"
#include "run/run.h"
#include "util/error.h"

#define DEFAULT_CONF "/etc/sekimori/sekimori.conf"

static const char run_usage[] =
    "usage: sekimori run [-c FILE] [-t] [--ready FILE]\n"
    "Starts the parts configured in FILE (default " DEFAULT_CONF ")\n"
    "as child processes: `log serve`, then `fim watch`, then `proxy`, each\n"
    "once the one before is ready; restarts a part that dies (at most\n"
    "max_restarts a minute); logs starts, exits and restarts to stderr and\n"
    "to the event log. SIGTERM/SIGINT stop the parts in reverse order,\n"
    "SIGHUP reloads the proxy. --ready FILE is created once every part has\n"
    "started. -t checks FILE, the fim config and (with `sekimori proxy -t`)\n"
    "the proxy's rules, then exits: 0 good, 2 not.\n"
    "See docs/configuration.md and docs/operations.md.\n";

static const char status_usage[] =
    "usage: sekimori status [-c FILE] [--json] [--events N]\n"
    "Reports each part's health, the proxy's rules and maintenance mode,\n"
    "the FIM baseline and last check, open alerts, the last N events\n"
    "(default 10) and whether the event log verifies. Exit 0 when all is\n"
    "healthy, 1 when something needs attention.\n";

static struct sk_conf *
load(const char *path)
{
    struct sk_diag d = {0};
    struct sk_conf *c = NULL;
    int rc = sk_conf_load(path, &c, &d);
    if (rc != 0 || d.warnings > 0)
        fputs(sk_diag_text(&d), stderr);
    sk_diag_fini(&d);
    return c;
}

static bool
self_exe(char *buf, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", buf, n - 1);
    if (len <= 0) {
        perror("sekimori run: /proc/self/exe");
        return false;
    }
    buf[len] = '\0';
    return true;
}

/* `sekimori run -t`: what the parts would refuse, before starting them. */
static int
check_all(const struct sk_conf *c, const char *conf_abs, const char *self)
{
    int x = SK_EXIT_OK;
    if (c->fim.present) {
        struct sk_diag d = {0};
        struct sk_fim_config *fc = NULL;
        if (sk_fim_config_load(c->fim.config, &fc, &d) != 0)
            x = SK_EXIT_USAGE;
        if (d.errors > 0 || d.warnings > 0)
            fputs(sk_diag_text(&d), stderr);
        sk_diag_fini(&d);
        /* The monitor takes payment pages offline through the proxy's
         * control socket: both files must name the same one. */
        bool maint = false;
        for (size_t i = 0; fc != NULL && i < fc->n_rules; i++)
            if (fc->rules[i].responses & SK_FIM_R_MAINTENANCE)
                maint = true;
        if (maint && !c->proxy.present)
            fprintf(stderr,
                    "sekimori run: warning: %s responds 'maintenance' but "
                    "%s has no proxy section\n",
                    c->fim.config, conf_abs);
        else if (maint &&
                 (c->proxy.control_socket == NULL ||
                  strcmp(c->proxy.control_socket, fc->maintenance_socket) != 0))
            fprintf(stderr,
                    "sekimori run: warning: fim's maintenance_socket %s is "
                    "not the proxy's control_socket %s\n",
                    fc->maintenance_socket,
                    c->proxy.control_socket ? c->proxy.control_socket
                                            : "(none)");
        sk_fim_config_free(fc);
    }
    if (c->proxy.present) {
        char *argv[] = {(char *)self, "proxy",          "-t",
                        "-c",         (char *)conf_abs, NULL};
        pid_t pid;
        int st = 0;
        if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0 ||
            waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0)
            x = SK_EXIT_USAGE;
    }
    if (x == SK_EXIT_OK)
        printf("sekimori run: %s OK:%s%s%s\n", conf_abs,
               c->log.present ? " log" : "", c->fim.present ? " fim" : "",
               c->proxy.present ? " proxy" : "");
    return x;
}

int
sk_cli_run(int argc, char **argv)
{
    const char *conf = DEFAULT_CONF, *ready = NULL;
    bool test = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(run_usage, stdout);
            return SK_EXIT_OK;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) &&
                   has) {
            conf = argv[++i];
        } else if (strcmp(a, "--ready") == 0 && has) {
            ready = argv[++i];
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--test") == 0) {
            test = true;
        } else {
            fprintf(stderr, "sekimori run: unexpected '%s'\n", a);
            fputs(run_usage, stderr);
            return SK_EXIT_USAGE;
        }
    }
    char conf_abs[PATH_MAX];
    if (realpath(conf, conf_abs) == NULL)
        snprintf(conf_abs, sizeof(conf_abs), "%s", conf);
    struct sk_conf *c = load(conf_abs);
    if (c == NULL)
        return SK_EXIT_USAGE;
    if (!c->log.present && !c->fim.present && !c->proxy.present) {
        fprintf(stderr,
                "sekimori run: %s has no log, fim or proxy section: "
                "nothing to run\n",
                conf_abs);
        sk_conf_free(c);
        return SK_EXIT_USAGE;
    }
    char self[PATH_MAX];
    if (!self_exe(self, sizeof(self))) {
        sk_conf_free(c);
        return SK_EXIT_INTERNAL;
    }
    if (test) {
        int x = check_all(c, conf_abs, self);
        sk_conf_free(c);
        return x;
    }
    struct sk_run_opts o = {
        .self = self, .conf_path = conf_abs, .ready_file = ready};
    int rc = sk_run_supervise(c, &o);
    sk_conf_free(c);
    if (rc != 0) {
        fprintf(stderr, "sekimori run: %s\n", sk_strerror(rc));
        return SK_EXIT_INTERNAL;
    }
    return SK_EXIT_OK;
}

int
sk_cli_status(int argc, char **argv)
{
    const char *conf = DEFAULT_CONF;
    bool json = false;
    unsigned long nevents = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(status_usage, stdout);
            return SK_EXIT_OK;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) &&
                   has) {
            conf = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--events") == 0 && has) {
            char *end;
            nevents = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || nevents > 1000) {
                fprintf(stderr, "sekimori status: --events 0..1000\n");
                return SK_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "sekimori status: unexpected '%s'\n", a);
            fputs(status_usage, stderr);
            return SK_EXIT_USAGE;
        }
    }
    struct sk_conf *c = load(conf);
    if (c == NULL)
        return SK_EXIT_USAGE;
    json_t *st = sk_run_status(c, nevents);
    sk_conf_free(c);
    if (st == NULL) {
        fprintf(stderr, "sekimori status: out of memory\n");
        return SK_EXIT_INTERNAL;
    }
    if (json) {
        char *t = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (t != NULL) {
            puts(t);
            free(t);
        }
    } else {
        sk_run_status_text(st, stdout);
    }
    bool healthy = json_is_true(json_object_get(st, "healthy"));
    json_decref(st);
    return healthy ? SK_EXIT_OK : SK_EXIT_FAIL;
}
