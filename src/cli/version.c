/* SPDX-License-Identifier: Apache-2.0 */
/* `sekimori version`. */
#include "cli/cli.h"

#include <stdio.h>

int
sk_cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("sekimori %s\n", SK_VERSION);
    return SK_EXIT_OK;
}
