/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommands of `sekimori` and the documented exit codes. */
#ifndef SK_CLI_CLI_H
#define SK_CLI_CLI_H

enum sk_exit {
    SK_EXIT_OK = 0,       /* success */
    SK_EXIT_FAIL = 1,     /* the checked thing failed (tests, verify) */
    SK_EXIT_USAGE = 2,    /* bad usage or configuration */
    SK_EXIT_INTERNAL = 3, /* internal error (out of memory, I/O) */
};

/* Each takes argv[0] = the subcommand name; returns an enum sk_exit. */
int sk_cli_version(int argc, char **argv);
int sk_cli_crs_test(int argc, char **argv);
int sk_cli_check(int argc, char **argv);
int sk_cli_keygen(int argc, char **argv);
int sk_cli_config_doc(int argc, char **argv);
int sk_cli_run(int argc, char **argv);
int sk_cli_status(int argc, char **argv);

#endif
