/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the proxy's log records (src/proxy/plog.c):
 * arbitrary bytes as a request head (parsed by the strict parser) or,
 * when refused, as the raw request line. Every audit record and event
 * body must be valid JSON (jansson) on one line, and every access line
 * printable ASCII ending in its only newline; nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "http/http.h"
#include "proxy/plog.h"
#include "util/arena.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_json(const struct sk_buf *b, int nl)
{
    json_error_t e;
    size_t len = b->len;
    if (nl) {
        if (len == 0 || b->p[len - 1] != '\n')
            __builtin_trap();
        len--;
    }
    if (memchr(b->p, '\n', len) != NULL)
        __builtin_trap();
    json_t *j = json_loadb((const char *)b->p, len, JSON_ALLOW_NUL, &e);
    if (j == NULL || !json_is_object(j))
        __builtin_trap();
    json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    struct sk_http_request req;
    enum sk_http_err err;
    struct sk_proxy_txn_info ti = {
        .id = "fuzz",
        .start_us = 1700000000000000LL,
        .client_ip = "192.0.2.1",
        .peer_ip = "127.0.0.1",
        .peer_port = 40000,
        .status = 200,
    };
    if (sk_http_parse_head(a, sk_str_make(data, size), &req, &err) == 0) {
        ti.req = &req;
        ti.resp_headers = req.headers; /* any header set will do */
        ti.nresp_headers = req.nheaders;
    } else {
        const uint8_t *nl = memchr(data, '\n', size);
        ti.raw_request_line =
            sk_str_make(data, nl ? (size_t)(nl - data) : size);
        ti.error = "refused";
        ti.status = 400;
    }
    struct sk_buf b = {0};
    if (sk_proxy_audit_format(&ti, &b) == 0)
        check_json(&b, 1);
    sk_buf_clear(&b);
    if (sk_proxy_event_format(&ti, &b) == 0)
        check_json(&b, 0);
    sk_buf_clear(&b);
    if (sk_proxy_access_format(&ti, &b) == 0) {
        if (b.len == 0 || b.p[b.len - 1] != '\n')
            __builtin_trap();
        for (size_t i = 0; i + 1 < b.len; i++)
            if (b.p[i] < 0x20 || b.p[i] > 0x7e)
                __builtin_trap();
    }
    sk_buf_fini(&b);
    sk_arena_free(a);
    return 0;
}
