/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for sk_http_parse_response_head(). The first byte's
 * low bit says whether the request was HEAD. Besides memory errors it
 * checks the parser's promises: views inside the input, a status in
 * 100-599, no body for HEAD/1xx/204/304, no reuse after an EOF-framed
 * body, SK_AGAIN for every prefix of an accepted head, the same result
 * for the head alone as with bytes after it, and a 4xx/5xx status for
 * every refusal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/response.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_in(struct sk_str s, const uint8_t *data, size_t size)
{
    if (s.len > 0 && (s.p < data || s.p + s.len > data + size))
        abort();
}

static void
check_ok(const struct sk_http_response *r, bool head, const uint8_t *data,
         size_t size)
{
    if (r->head_len > size || r->head_len < 14)
        abort();
    if (r->status < 100 || r->status > 599 ||
        (r->version != 10 && r->version != 11))
        abort();
    check_in(r->reason, data, size);
    check_in(r->protocol, data, size);
    for (size_t i = 0; i < r->nheaders; i++) {
        check_in(r->headers[i].name, data, size);
        check_in(r->headers[i].value, data, size);
        if (r->headers[i].name.len == 0)
            abort();
    }
    bool none = head || r->status < 200 || r->status == 204 || r->status == 304;
    if (none != (r->body_kind == SK_HTTP_RESP_NONE))
        abort();
    if (r->body_kind == SK_HTTP_RESP_EOF && r->keep_alive)
        abort();
    if (r->body_kind != SK_HTTP_RESP_LENGTH && r->content_length != 0)
        abort();
}

/* A view moved by sk_http_response_rebase: same bytes, inside the copy. */
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
    if (size < 1)
        return 0;
    bool head = (data[0] & 1) != 0;
    data++;
    size--;
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    struct sk_http_response r;
    enum sk_http_err err;
    int rc =
        sk_http_parse_response_head(a, sk_str_make(data, size), head, &r, &err);
    if (rc == 0) {
        check_ok(&r, head, data, size);
        size_t cuts[3] = {r.head_len - 1, r.head_len / 2, 1};
        for (int k = 0; k < 3; k++) {
            struct sk_http_response r2;
            int rc2 = sk_http_parse_response_head(a, sk_str_make(data, cuts[k]),
                                                  head, &r2, &err);
            if (rc2 != SK_AGAIN)
                abort();
        }
        /* Moved to a copy, the views read the same bytes there. */
        uint8_t *copy = malloc(r.head_len);
        if (copy != NULL) {
            memcpy(copy, data, r.head_len);
            struct sk_http_response moved = r;
            struct sk_http_header *hs = NULL;
            if (r.nheaders > 0) {
                hs = malloc(r.nheaders * sizeof(*hs));
                if (hs == NULL)
                    abort();
                memcpy(hs, r.headers, r.nheaders * sizeof(*hs));
                moved.headers = hs;
            }
            sk_http_response_rebase(&moved, data, copy);
            check_moved(r.reason, moved.reason, copy, r.head_len);
            check_moved(r.protocol, moved.protocol, copy, r.head_len);
            for (size_t i = 0; i < r.nheaders; i++) {
                check_moved(r.headers[i].name, hs[i].name, copy, r.head_len);
                check_moved(r.headers[i].value, hs[i].value, copy, r.head_len);
            }
            free(hs);
            free(copy);
        }
        struct sk_http_response r3;
        int rc3 = sk_http_parse_response_head(a, sk_str_make(data, r.head_len),
                                              head, &r3, &err);
        if (rc3 != 0 || r3.head_len != r.head_len || r3.status != r.status ||
            r3.body_kind != r.body_kind || r3.keep_alive != r.keep_alive ||
            r3.nheaders != r.nheaders || r3.content_length != r.content_length)
            abort();
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
