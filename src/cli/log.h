/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori log`: the event log's subcommands (keygen, serve, append,
 * verify, query, tail, export, prune, prove, recover). See docs/evlog.md.
 */
#ifndef SK_CLI_LOG_H
#define SK_CLI_LOG_H

/*
 * Runs `sekimori log ...` with argv[0] = "log" and argv[1] the
 * subcommand. Returns an enum sk_exit (cli/cli.h): 0 success, 1 the log
 * failed verification (or a record was refused), 2 usage, 3 internal or
 * I/O error. Blocks (serve runs until SIGINT/SIGTERM).
 */
int sk_cli_log(int argc, char **argv);

#endif
