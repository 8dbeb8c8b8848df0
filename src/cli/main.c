/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `sekimori` command: dispatches to subcommands. Exit codes: 0 success,
 * 1 the checked thing failed (a test, a verification), 2 usage or
 * configuration error, 3 internal error.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/fim.h"
#include "cli/log.h"
#include "cli/proxy.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"-t", sk_cli_check, "compile rule files and report every error"},
    {"config-doc", sk_cli_config_doc, "print the sekimori.conf reference"},
    {"crs-test", sk_cli_crs_test,
     "run the CRS regression suite (in-process, or --target a proxy)"},
    {"fim", sk_cli_fim, "the file integrity monitor (docs/fim.md)"},
    {"keygen", sk_cli_keygen, "make an Ed25519 key pair (fim and log)"},
    {"log", sk_cli_log, "the tamper-evident event log (docs/evlog.md)"},
    {"proxy", sk_cli_proxy, "the WAF reverse proxy (docs/proxy.md)"},
    {"run", sk_cli_run,
     "start and supervise log, fim and proxy (sekimori.conf)"},
    {"status", sk_cli_status, "health of the parts, alerts, last events"},
    {"version", sk_cli_version, "print the version and exit"},
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: sekimori COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`sekimori COMMAND --help` describes a command.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SK_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return SK_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sekimori: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return SK_EXIT_USAGE;
}
