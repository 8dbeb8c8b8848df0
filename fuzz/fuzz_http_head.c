/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for sk_http_parse_head(). Besides looking for memory
 * errors it checks that a head accepted whole is reported as incomplete
 * (SK_AGAIN) for its prefixes, and that every view lies inside the input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "http/http.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_in(struct sk_str s, const uint8_t *data, size_t size)
{
    if (s.len > 0 && (s.p < data || s.p + s.len > data + size))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    struct sk_http_request req;
    enum sk_http_err err;
    int rc = sk_http_parse_head(a, sk_str_make(data, size), &req, &err);
    if (rc == 0) {
        if (req.head_len > size || req.head_len < 4)
            abort();
        check_in(req.method, data, size);
        check_in(req.target, data, size);
        check_in(req.path, data, size);
        check_in(req.query, data, size);
        for (size_t i = 0; i < req.nheaders; i++) {
            check_in(req.headers[i].name, data, size);
            check_in(req.headers[i].value, data, size);
            if (req.headers[i].name.len == 0)
                abort();
        }
        size_t cuts[2] = {req.head_len - 1, req.head_len / 2};
        for (int k = 0; k < 2; k++) {
            struct sk_http_request r2;
            int rc2 =
                sk_http_parse_head(a, sk_str_make(data, cuts[k]), &r2, &err);
            if (rc2 != SK_AGAIN)
                abort();
        }
    } else if (rc == -SK_EPARSE) {
        if (err == SK_HTTP_OK || sk_http_err_status(err) < 400)
            abort();
        (void)sk_http_strerror(err);
    } else if (rc != SK_AGAIN && rc != -SK_ENOMEM) {
        abort();
    }
    sk_arena_free(a);
    return 0;
}
