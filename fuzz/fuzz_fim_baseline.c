/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the baseline reader's structural parser (sk_fim_db_parse), the
 * part that runs on bytes from disk; the signature check before it is
 * OpenSSL's. A parsed db must be re-walkable: every entry is touched.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fim/fim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_fim_db *db = NULL;
    if (sk_fim_db_parse(data, size, &db) == 0) {
        size_t sum = 0;
        for (size_t i = 0; i < db->n; i++) {
            sum += strlen(db->e[i].path) + db->e[i].target_len;
            if (db->e[i].target != NULL)
                sum += strlen(db->e[i].target);
            if (sk_fim_db_find(db, db->e[i].path, db->e[i].path_len) !=
                &db->e[i])
                __builtin_trap();
        }
        (void)sum;
        sk_fim_db_free(db);
    }
    return 0;
}
