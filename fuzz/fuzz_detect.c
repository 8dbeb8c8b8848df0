/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for src/detect: runs the SQL injection and XSS
 * detectors on arbitrary bytes and checks what must hold for any input:
 * the fingerprint is a NUL-terminated string inside its buffer, present
 * exactly when SQL injection is reported, and verdicts are deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char fp[SK_DETECT_FP_MAX];
    memset(fp, 'X', sizeof fp);
    bool s = sk_detect_sqli(data, size, fp);
    if (memchr(fp, '\0', sizeof fp) == NULL || s != (fp[0] != '\0'))
        abort();
    char fp2[SK_DETECT_FP_MAX];
    if (sk_detect_sqli(data, size, fp2) != s || strcmp(fp, fp2) != 0)
        abort();
    if (sk_detect_sqli(data, size, NULL) != s)
        abort();
    bool x = sk_detect_xss(data, size);
    if (sk_detect_xss(data, size) != x)
        abort();
    return 0;
}
