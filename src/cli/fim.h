/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori fim`: the file integrity monitor's subcommands (keygen, init,
 * check, accept, watch, restore, default-config). Exit codes are those of
 * docs/fim.md: check returns AIDE's bitmask (1 added, 2 removed, 4 changed,
 * 8 unreadable), and 16 usage/config, 17 internal, 18 refused baseline.
 */
#ifndef SK_CLI_FIM_H
#define SK_CLI_FIM_H

/* Runs `sekimori fim ...`; argv[0] is "fim". Blocks until done (watch runs
 * until a signal). Returns the exit status. */
int sk_cli_fim(int argc, char **argv);

#endif
