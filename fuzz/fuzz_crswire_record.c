/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for crs-test --target's reading of audit records:
 * arbitrary bytes as one audit-log line must yield lines or -SK_EPARSE,
 * never crash, leak or read out of bounds; every produced line ends in a
 * newline.
 */
#include <stddef.h>
#include <stdint.h>

#include "crstest/wire.h"
#include "util/buf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_buf lines = {0};
    bool refused;
    int rc =
        sk_crswire_record_lines((const char *)data, size, &lines, &refused);
    if (rc == 0 && lines.len > 0 && lines.p[lines.len - 1] != '\n')
        __builtin_trap();
    if (rc != 0 && lines.len != 0)
        __builtin_trap();
    sk_buf_fini(&lines);
    return 0;
}
