/* SPDX-License-Identifier: Apache-2.0 */
/*
 * multipart/form-data parsing with ModSecurity's strictness flags (the
 * MULTIPART_* variables that CRS and modsecurity.conf-recommended test).
 * A pure function over the whole buffered body.
 */
#ifndef SK_HTTP_MULTIPART_H
#define SK_HTTP_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/str.h"

struct sk_mp_part {
    struct sk_str name;          /* form field name */
    struct sk_str filename;      /* file parts only */
    bool is_file;                /* had a non-empty filename (as v3 decides) */
    struct sk_str value;         /* content (for files, the file bytes) */
    struct sk_str *header_lines; /* each part header line as received */
    size_t nheader_lines;
};

struct sk_mp_result {
    struct sk_mp_part *parts;
    size_t nparts;
    /*
     * ModSecurity's flags, 0 or 1 each. unmatched_boundary keeps v2's 0/1
     * meaning (v3.0.9 also writes 2 once a later boundary matched, which
     * the "!@eq 0" rule 200004 of our modsecurity.conf would refuse on
     * every ordinary form).
     */
    int boundary_quoted, boundary_whitespace, data_before, data_after,
        header_folding, lf_line, crlf_lf_lines, missing_semicolon,
        invalid_quoting, invalid_part, invalid_header_folding,
        file_limit_exceeded, unmatched_boundary;
    int strict_error;      /* the OR of the strict flags, as v2 does */
    int error;             /* REQBODY_PROCESSOR_ERROR / REQBODY_ERROR */
    const char *error_msg; /* static text when error */
    uint64_t files_combined_size;
};

/*
 * Parses `body` given the request's Content-Type header value. Fills *res
 * (from `a`). Malformed input is not a failure: it sets the flags and
 * `error` as ModSecurity would, and returns 0. Returns -SK_ENOMEM on arena
 * exhaustion and -SK_ELIMIT past `max_parts`. Never blocks.
 */
int sk_multipart_parse(struct sk_arena *a, struct sk_str content_type,
                       struct sk_str body, size_t max_parts,
                       struct sk_mp_result *res);

/*
 * Added: options of sk_multipart_parse_ex(). `file_limit` is
 * SecUploadFileLimit: the file part number file_limit+1 (counting file
 * parts that carry data, as ModSecurity counts created files) sets
 * file_limit_exceeded; 0 means no limit (what sk_multipart_parse() uses).
 */
struct sk_mp_opts {
    size_t max_parts;
    size_t file_limit;
};

/* sk_multipart_parse() with options; same results and ownership. */
int sk_multipart_parse_ex(struct sk_arena *a, struct sk_str content_type,
                          struct sk_str body, const struct sk_mp_opts *opts,
                          struct sk_mp_result *res);

#endif
