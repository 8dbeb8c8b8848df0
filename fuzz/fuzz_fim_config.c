/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the FIM config parser; on success, every rule is exercised by a
 * selection of a few paths under its root.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fim/fim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_diag d = {0};
    struct sk_fim_config *c = NULL;
    if (sk_fim_config_parse("fuzz.conf", data, size, &c, &d) == 0) {
        for (size_t i = 0; i < c->n_rules; i++) {
            char p[SK_FIM_MAX_PATH + 32];
            snprintf(p, sizeof(p), "%s/a/b.php", c->rules[i].root);
            (void)sk_fim_select(c, p, strlen(p), false);
            (void)sk_fim_select(c, c->rules[i].root, c->rules[i].root_len,
                                true);
        }
        sk_fim_config_free(c);
    }
    sk_diag_fini(&d);
    return 0;
}
