/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori -t RULES...`: compiles rule files exactly as the engine would
 * load them and reports every error with file:line:col. Exit 0 when they
 * compile, 2 when they do not. (The proxy's and `run`'s configuration
 * files will be checked here too when those components exist.)
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "sekimori/waf.h"

int
sk_cli_check(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: sekimori -t RULES...\n"
                "Compiles the rule files (with their Includes) and reports "
                "every error.\nExit: 0 they compile, 2 they do not.\n");
        return argc < 2 ? SK_EXIT_USAGE : SK_EXIT_OK;
    }
    struct sk_waf_rules *r = sk_waf_rules_new();
    if (r == NULL)
        return SK_EXIT_INTERNAL;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int r2 = sk_waf_rules_add_file(r, argv[i]);
        if (r2 != 0)
            rc = r2;
    }
    if (rc == 0)
        rc = sk_waf_rules_compile(r);
    fprintf(stderr, "%s", sk_waf_rules_errors(r));
    if (rc != 0) {
        fprintf(stderr, "sekimori: the rules do not compile\n");
        sk_waf_rules_free(r);
        return SK_EXIT_USAGE;
    }
    printf("sekimori: %zu rules compiled\n", sk_waf_rules_count(r));
    sk_waf_rules_free(r);
    return SK_EXIT_OK;
}
