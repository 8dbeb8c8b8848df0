/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori-fim-dev`: runs `sekimori fim ...` as a stand-alone program
 * (argv[1..] are the fim subcommand and its options) for the tests and
 * benchmarks until src/cli/fim.c is wired into `sekimori` itself.
 */
#include "cli/fim.h"

int
main(int argc, char **argv)
{
    argv[0] = "fim";
    return sk_cli_fim(argc, argv);
}
