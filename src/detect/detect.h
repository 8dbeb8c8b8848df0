/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Our own SQL injection and XSS detectors, behind @detectSQLi and
 * @detectXSS. Written from the published ideas (tokenizing the input in
 * several SQL quoting contexts and judging the token sequence; an HTML
 * tokenizer that looks for script-carrying tags, attributes and URLs), with
 * no code or fingerprint tables taken from libinjection. Pure functions:
 * no allocation, no I/O, input never modified, bounded work per input byte.
 */
#ifndef SK_DETECT_DETECT_H
#define SK_DETECT_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for a fingerprint string and its NUL. */
#define SK_DETECT_FP_MAX 16

/*
 * Returns true when `p[0..len)` looks like SQL injection. When it does and
 * `fingerprint` is not NULL, writes a short NUL-terminated description of
 * the token pattern that triggered (it becomes TX:0). Thread-safe.
 *
 * The fingerprint is at most SK_DETECT_FP_MAX - 1 token letters (see
 * docs/detectors.md); when the input is not judged SQL injection,
 * fingerprint[0] is set to NUL. `p` may be NULL when `len` is 0. The
 * caller owns both buffers; nothing is kept after the call. Does not
 * allocate or block; time is linear in `len`.
 */
bool sk_detect_sqli(const uint8_t *p, size_t len,
                    char fingerprint[SK_DETECT_FP_MAX]);

/*
 * Returns true when `p[0..len)` looks like cross-site scripting. `p` may
 * be NULL when `len` is 0. Thread-safe; does not allocate or block; time
 * is linear in `len`.
 */
bool sk_detect_xss(const uint8_t *p, size_t len);

#endif
