/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the redactor (JSON body in, redacted compact JSON out) and checks
 * its promises: the output never holds a Luhn-valid card number, and the
 * fast path accepts only what jansson would parse and dump unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "evlog/evlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_buf out = {0};
    if (sk_evlog_redact_json(sk_str_make(data, size), &out) == 0) {
        uint8_t *copy = malloc(out.len + 1);
        if (copy != NULL) {
            memcpy(copy, out.p, out.len);
            if (sk_evlog_mask_cards(copy, out.len) != 0)
                __builtin_trap();
            free(copy);
        }
    }
    if (sk__evlog_redact_fast(sk_str_make(data, size))) {
        json_t *j =
            json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (j == NULL)
            __builtin_trap();
        char *d = json_dumps(j, JSON_COMPACT);
        if (d == NULL || strlen(d) != size || memcmp(d, data, size) != 0)
            __builtin_trap();
        free(d);
        json_decref(j);
    }
    uint8_t *m = malloc(size + 1);
    if (m != NULL) {
        memcpy(m, data, size);
        sk_evlog_mask_cards(m, size);
        if (sk_evlog_mask_cards(m, size) != 0)
            __builtin_trap();
        free(m);
    }
    sk_buf_fini(&out);
    return 0;
}
