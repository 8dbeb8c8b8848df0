/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict HTTP/1.1 response-head parsing (RFC 9112) for the proxy's
 * upstream side: status line, header section, and how the body is framed.
 * Pure functions over buffers, like http.h's request side; the chunked
 * body decoder is shared (sk_http_chunked_decode).
 */
#ifndef SK_HTTP_RESPONSE_H
#define SK_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

enum sk_http_resp_body {
    SK_HTTP_RESP_NONE = 0,    /* 1xx, 204, 304, or to a HEAD */
    SK_HTTP_RESP_LENGTH = 1,  /* Content-Length */
    SK_HTTP_RESP_CHUNKED = 2, /* Transfer-Encoding: chunked */
    SK_HTTP_RESP_EOF = 3,     /* neither: read until the upstream closes */
};

struct sk_http_response {
    unsigned version; /* 10 or 11 */
    int status;       /* 100-599 */
    struct sk_str reason;
    struct sk_str protocol;         /* "HTTP/1.1" */
    struct sk_http_header *headers; /* arena array, in received order */
    size_t nheaders;
    enum sk_http_resp_body body_kind;
    uint64_t content_length;
    bool keep_alive; /* the upstream connection may be reused after it */
    size_t head_len; /* bytes up to and including the blank line */
};

/*
 * Parses a response head at the start of `in`. `head_request` says the
 * request was HEAD (no body whatever the headers say). Returns 0 with
 * *resp filled (views into `in`, headers from `a`), SK_AGAIN when more
 * bytes are needed (within the limits of http.h), or -SK_EPARSE with *err
 * (both Content-Length and Transfer-Encoding, several different
 * Content-Lengths, a Transfer-Encoding other than chunked, bare CR or LF,
 * obs-fold, whitespace before a colon, bad status line). Never blocks.
 * Added details (response.c, docs/formats/http-strictness.md): -SK_ENOMEM
 * on arena exhaustion; bad or over-long status lines are
 * SK_HTTP_E_STATUS_LINE (502); "HTTP/1.1 200" without the SP before an
 * empty reason is accepted; content_length is set only for
 * SK_HTTP_RESP_LENGTH; keep_alive is false for SK_HTTP_RESP_EOF and 101;
 * after another 1xx the next head starts at head_len. Each call rescans
 * `in` from its start, so call again only when new bytes hold a LF (see
 * sk_http_parse_head).
 */
int sk_http_parse_response_head(struct sk_arena *a, struct sk_str in,
                                bool head_request,
                                struct sk_http_response *resp,
                                enum sk_http_err *err);

/*
 * After `resp` was parsed from `from` (0 returned) and its head_len bytes
 * were copied to `to`: points every view of `resp` at the copy (as
 * sk_http_request_rebase). Never blocks, never fails.
 */
void sk_http_response_rebase(struct sk_http_response *resp, const uint8_t *from,
                             const uint8_t *to);

#endif
