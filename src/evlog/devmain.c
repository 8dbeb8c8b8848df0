/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori-log-dev`: runs `sekimori log ...` on its own (argv[1] is the
 * subcommand), for the evlog tests and benchmarks until the lead wires
 * src/cli/log.c into the `sekimori` command table.
 */
#include "cli/log.h"

int
main(int argc, char **argv)
{
    return sk_cli_log(argc, argv);
}
