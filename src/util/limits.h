/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every input limit of sekimori, each with its reason. Modules add their
 * limits here rather than scattering magic numbers; docs/RATIONALE.md
 * explains the failure mode when a limit is hit.
 */
#ifndef SK_UTIL_LIMITS_H
#define SK_UTIL_LIMITS_H

/* HTTP request head ------------------------------------------------------ */

/* Longest request line: nginx's large_client_header_buffers default (8k). */
#define SK_LIMIT_REQUEST_LINE 8192
/* Largest whole header section; bounds memory per connection. */
#define SK_LIMIT_HEADER_BYTES 65536
/* Most header fields; real browsers send < 30, CRS tests < 60. */
#define SK_LIMIT_HEADER_COUNT 200

/* Arguments and bodies ------------------------------------------------- */

/* Most ARGS entries from query + body; protects collection building. */
#define SK_LIMIT_ARGS 4096
/* Most cookies in one request. */
#define SK_LIMIT_COOKIES 256
/* Most multipart parts. */
#define SK_LIMIT_MULTIPART_PARTS 1024
/* Deepest JSON nesting (ModSecurity's SecRequestBodyJsonDepthLimit). */
#define SK_LIMIT_JSON_DEPTH 512

/* Rule language --------------------------------------------------------- */

/* Deepest Include nesting; stops include cycles. */
#define SK_LIMIT_INCLUDE_DEPTH 16
/* Longest logical (continued) line in a rule file. */
#define SK_LIMIT_RULE_LINE (1024 * 1024)
/* Most transformations in one rule (CRS uses < 15). */
#define SK_LIMIT_TRANSFORMS 64
/* Longest chain of rules. */
#define SK_LIMIT_CHAIN 32
/* Deepest macro expansion nesting. */
#define SK_LIMIT_MACRO_DEPTH 4

#endif
