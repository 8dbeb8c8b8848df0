/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for sk_multipart_parse_ex(). The first byte chooses a
 * Content-Type variant (plain, quoted, whitespace, missing semicolon,
 * charset after the boundary, ...) or, for values past the table, takes
 * the Content-Type from the input up to the first LF. Checks that part
 * values lie inside the body and that STRICT_ERROR is the OR of its flags.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/multipart.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const cts[] = {
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data; boundary=\"XyZ\"",
    "multipart/form-data; boundary = XyZ",
    "multipart/form-data boundary=XyZ",
    "multipart/form-data; boundary=XyZ; charset=utf-8",
    "multipart/form-data; boundary=--------397236876",
    "multipart/form-data; boundary=a",
    "Multipart/Form-Data; BOUNDARY=XyZ",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nct = sizeof(cts) / sizeof(cts[0]);
    struct sk_str ct, body;
    if (data[0] < nct) {
        ct = sk_str_c(cts[data[0]]);
        body = sk_str_make(data + 1, size - 1);
    } else {
        const uint8_t *lf = memchr(data + 1, '\n', size - 1);
        size_t n = lf ? (size_t)(lf - data - 1) : size - 1;
        ct = sk_str_make(data + 1, n);
        body = sk_str_make(data + 1 + n, size - 1 - n);
    }
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    struct sk_mp_opts o = {.max_parts = 64, .file_limit = 2};
    struct sk_mp_result r;
    int rc = sk_multipart_parse_ex(a, ct, body, &o, &r);
    if (rc != 0 && rc != -SK_ELIMIT && rc != -SK_ENOMEM)
        abort();
    if (r.nparts > 64)
        abort();
    uint64_t files = 0;
    for (size_t i = 0; i < r.nparts; i++) {
        struct sk_str v = r.parts[i].value;
        if (v.len > 0 && (v.p < body.p || v.p + v.len > body.p + body.len))
            abort();
        if (r.parts[i].name.len == 0)
            abort();
        if (r.parts[i].is_file)
            files += v.len;
    }
    if (rc == 0 && files != r.files_combined_size)
        abort();
    int strict = r.error || r.boundary_quoted || r.boundary_whitespace ||
                 r.data_before || r.data_after || r.header_folding ||
                 r.lf_line || r.missing_semicolon || r.invalid_quoting ||
                 r.invalid_part || r.invalid_header_folding ||
                 r.file_limit_exceeded;
    if (strict != r.strict_error)
        abort();
    if (r.error && r.error_msg == NULL)
        abort();
    sk_arena_free(a);
    return 0;
}
