/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for sk_http_parse_head(). Besides looking for memory
 * errors it checks that a head accepted whole is reported as incomplete
 * (SK_AGAIN) for its prefixes, that every view lies inside the input,
 * and that sk_http_request_rebase() moves every view to a copy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_in(struct sk_str s, const uint8_t *data, size_t size)
{
    if (s.len > 0 && (s.p < data || s.p + s.len > data + size))
        abort();
}

/* A view moved by sk_http_request_rebase: same bytes, inside the copy. */
static void
check_moved(struct sk_str was, struct sk_str now, const uint8_t *copy, size_t n)
{
    if (was.len != now.len)
        abort();
    if (now.len > 0 && (now.p < copy || now.p + now.len > copy + n ||
                        memcmp(was.p, now.p, now.len) != 0))
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
        /* Moved to a copy, the views read the same bytes there. */
        uint8_t *copy = malloc(req.head_len);
        if (copy != NULL) {
            memcpy(copy, data, req.head_len);
            struct sk_http_request moved = req;
            struct sk_http_header *hs = NULL;
            if (req.nheaders > 0) {
                hs = malloc(req.nheaders * sizeof(*hs));
                if (hs == NULL)
                    abort();
                memcpy(hs, req.headers, req.nheaders * sizeof(*hs));
                moved.headers = hs;
            }
            sk_http_request_rebase(&moved, data, copy);
            check_moved(req.method, moved.method, copy, req.head_len);
            check_moved(req.target, moved.target, copy, req.head_len);
            check_moved(req.path, moved.path, copy, req.head_len);
            check_moved(req.query, moved.query, copy, req.head_len);
            check_moved(req.protocol, moved.protocol, copy, req.head_len);
            check_moved(req.request_line, moved.request_line, copy,
                        req.head_len);
            for (size_t i = 0; i < req.nheaders; i++) {
                check_moved(req.headers[i].name, hs[i].name, copy,
                            req.head_len);
                check_moved(req.headers[i].value, hs[i].value, copy,
                            req.head_len);
            }
            free(hs);
            free(copy);
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
