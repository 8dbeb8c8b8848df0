/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the text parsers of the event log: checkpoint and anchor lines,
 * query times and retention durations.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evlog/evlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_evlog_checkpoint cp;
    struct sk_evlog_anchor a;
    (void)sk_evlog_checkpoint_parse(sk_str_make(data, size), NULL, &cp);
    (void)sk_evlog_anchor_parse(sk_str_make(data, size), NULL, &a);
    if (size < 256) {
        char s[257];
        memcpy(s, data, size);
        s[size] = '\0';
        uint64_t v;
        (void)sk_evlog_time_parse(s, 1700000000000000000ULL, &v);
        (void)sk_evlog_duration_parse(s, &v);
    }
    return 0;
}
