/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori run` (start and supervise every configured part) and
 * `sekimori status` (their state at a glance). Exit codes: run 0 after a
 * clean stop, 2 for usage or configuration errors, 3 when it cannot run;
 * status 0 when everything is healthy, 1 when something needs attention,
 * 2 for usage or configuration errors, 3 internal errors.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "run/run.h"
#include "util/error.h"

#define DEFAULT_CONF "/etc/sekimori/sekimori.conf"

static const char run_usage[] =
    "usage: sekimori run [-c FILE] [--ready FILE]\n"
    "Starts the parts configured in FILE (default " DEFAULT_CONF ")\n"
    "as child processes: `log serve`, then `fim watch`, then `proxy`, each\n"
    "once the one before is ready; restarts a part that dies (at most\n"
    "max_restarts a minute); logs starts, exits and restarts to stderr and\n"
    "to the event log. SIGTERM/SIGINT stop the parts in reverse order,\n"
    "SIGHUP reloads the proxy. --ready FILE is created once every part has\n"
    "started. See docs/configuration.md and docs/operations.md.\n";

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

int
sk_cli_run(int argc, char **argv)
{
    const char *conf = DEFAULT_CONF, *ready = NULL;
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
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        perror("sekimori run: /proc/self/exe");
        sk_conf_free(c);
        return SK_EXIT_INTERNAL;
    }
    self[n] = '\0';
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
