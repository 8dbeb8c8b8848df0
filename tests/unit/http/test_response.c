/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/http/response.c: the status line, body framing of
 * RFC 9112 section 6.3 (HEAD, 1xx, 204, 304, chunked, Content-Length,
 * EOF), connection reuse, every refusal (CL+TE, repeated or bad lengths,
 * foreign transfer codings, bare CR/LF, NUL, obs-fold, whitespace before
 * a colon), the limits, and SK_AGAIN for every prefix of a valid head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/response.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/limits.h"

static struct sk_arena *arena;

static int
setup(void **state)
{
    (void)state;
    arena = sk_arena_new(0);
    return arena == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    (void)state;
    sk_arena_free(arena);
    return 0;
}

static void
assert_str(struct sk_str s, const char *want)
{
    size_t n = strlen(want);
    if (s.len != n || (n > 0 && memcmp(s.p, want, n) != 0)) {
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, (const char *)s.p,
                 want);
    }
}

static int
parse_n(const char *s, size_t len, bool head, struct sk_http_response *r,
        enum sk_http_err *err)
{
    return sk_http_parse_response_head(arena, sk_str_make(s, len), head, r,
                                       err);
}

#define PARSE(lit, head, r, err) parse_n((lit), sizeof(lit) - 1, head, r, err)

/* Expects a refusal with `want` for the literal response. */
#define REFUSE(lit, want)                                                      \
    do {                                                                       \
        struct sk_http_response r_;                                            \
        enum sk_http_err e_ = SK_HTTP_OK;                                      \
        int rc_ = PARSE(lit, false, &r_, &e_);                                 \
        if (rc_ != -SK_EPARSE || e_ != (want))                                 \
            fail_msg("%s: rc %d err %d (%s), want %d", #lit, rc_, (int)e_,     \
                     sk_http_strerror(e_), (int)(want));                       \
        assert_true(sk_http_err_status(e_) >= 400);                            \
    } while (0)

/* Expects success and returns the parsed head in *r. */
static void
accept_lit(const char *s, size_t len, bool head, struct sk_http_response *r)
{
    enum sk_http_err e = SK_HTTP_OK;
    int rc = parse_n(s, len, head, r, &e);
    if (rc != 0)
        fail_msg("%s: rc %d err %s", s, rc, sk_http_strerror(e));
}

#define ACCEPT(lit, head, r) accept_lit((lit), sizeof(lit) - 1, head, r)

/* Status line ------------------------------------------------------------ */

static void
test_simple(void **state)
{
    (void)state;
    static const char in[] = "HTTP/1.1 200 OK\r\n"
                             "Content-Type: text/html; charset=utf-8\r\n"
                             "Content-Length:  12 \r\n"
                             "Set-Cookie: a=1\r\n"
                             "\r\n"
                             "hello world!";
    struct sk_http_response r;
    ACCEPT(in, false, &r);
    assert_int_equal(r.version, 11);
    assert_int_equal(r.status, 200);
    assert_str(r.reason, "OK");
    assert_str(r.protocol, "HTTP/1.1");
    assert_int_equal(r.nheaders, 3);
    assert_str(r.headers[0].name, "Content-Type");
    assert_str(r.headers[0].value, "text/html; charset=utf-8");
    assert_str(r.headers[1].value, "12");
    assert_str(r.headers[2].name, "Set-Cookie");
    assert_int_equal(r.body_kind, SK_HTTP_RESP_LENGTH);
    assert_int_equal(r.content_length, 12);
    assert_true(r.keep_alive);
    assert_int_equal(r.head_len, sizeof(in) - 1 - 12);
}

static void
test_reason_forms(void **state)
{
    (void)state;
    struct sk_http_response r;
    ACCEPT("HTTP/1.1 404 Not  Found\t(really)\r\nContent-Length: 0\r\n\r\n",
           false, &r);
    assert_int_equal(r.status, 404);
    assert_str(r.reason, "Not  Found\t(really)");
    /* An empty reason after the SP, and the SP left out (tolerated). */
    ACCEPT("HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n", false, &r);
    assert_str(r.reason, "");
    ACCEPT("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", false, &r);
    assert_int_equal(r.status, 503);
    assert_str(r.reason, "");
    /* obs-text in the reason is allowed (RFC 9112 section 4). */
    ACCEPT("HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\nContent-Length: 0\r\n\r\n", false,
           &r);
    assert_int_equal(r.reason.len, 5);
    /* No header fields at all. */
    ACCEPT("HTTP/1.1 200 OK\r\n\r\n", false, &r);
    assert_int_equal(r.nheaders, 0);
    assert_null(r.headers);
    assert_int_equal(r.head_len, 19);
}

static void
test_status_line_refused(void **state)
{
    (void)state;
    REFUSE("HTTP/1.1 200OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1  200 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1 20 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1 2000 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1 2x0 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1 099 Low\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1 600 High\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1 999 High\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("http/1.1 200 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1\t200 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1 200 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1 200 O\x01K\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("HTTP/1.1 200 O\x7fK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE(" HTTP/1.1 200 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("\r\nHTTP/1.1 200 OK\r\n\r\n", SK_HTTP_E_STATUS_LINE);
    REFUSE("<html>hello</html>", SK_HTTP_E_STATUS_LINE);
    REFUSE("SSH-2.0-OpenSSH_9.2\r\n", SK_HTTP_E_STATUS_LINE);
    /* Well-formed versions other than 1.0 and 1.1. */
    REFUSE("HTTP/2.0 200 OK\r\n\r\n", SK_HTTP_E_VERSION);
    REFUSE("HTTP/1.2 200 OK\r\n\r\n", SK_HTTP_E_VERSION);
    REFUSE("HTTP/0.9 200 OK\r\n\r\n", SK_HTTP_E_VERSION);
    /* Line endings inside the status line. */
    REFUSE("HTTP/1.1 200 OK\n\r\n", SK_HTTP_E_BARE_LF);
    REFUSE("HTTP/1.1 200 O\rK\r\n\r\n", SK_HTTP_E_BARE_CR);
    REFUSE("HTTP/1.1 200 O\0K\r\n\r\n", SK_HTTP_E_BARE_CR);
    assert_int_equal(sk_http_err_status(SK_HTTP_E_STATUS_LINE), 502);
}

static void
test_junk_refused_early(void **state)
{
    (void)state;
    /* Not HTTP: refused before the line is complete. */
    struct sk_http_response r;
    enum sk_http_err e;
    assert_int_equal(PARSE("<!DOCTYPE", false, &r, &e), -SK_EPARSE);
    assert_int_equal(e, SK_HTTP_E_STATUS_LINE);
    assert_int_equal(PARSE("HTTP/1.1 2", false, &r, &e), SK_AGAIN);
    assert_int_equal(PARSE("HTTP/1.1 2a", false, &r, &e), -SK_EPARSE);
    assert_int_equal(PARSE("", false, &r, &e), SK_AGAIN);
    assert_int_equal(PARSE("H", false, &r, &e), SK_AGAIN);
}

/* Body framing ---------------------------------------------------------- */

static void
test_framing(void **state)
{
    (void)state;
    struct sk_http_response r;
    ACCEPT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_CHUNKED);
    assert_true(r.keep_alive);
    ACCEPT("HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n", false, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_CHUNKED);
    ACCEPT("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_LENGTH);
    assert_int_equal(r.content_length, 0);
    ACCEPT("HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n",
           false, &r);
    assert_int_equal(r.content_length, 9999999999999999999ull);
    /* Neither: the body runs to the close, so no reuse. */
    ACCEPT("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", false, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_EOF);
    assert_false(r.keep_alive);
    ACCEPT("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_EOF);
    assert_false(r.keep_alive);
}

static void
test_no_body(void **state)
{
    (void)state;
    struct sk_http_response r;
    /* To a HEAD, whatever the headers announce. */
    ACCEPT("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_NONE);
    assert_int_equal(r.content_length, 0);
    assert_true(r.keep_alive);
    ACCEPT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_NONE);
    /* A HEAD response without any length can still be reused. */
    ACCEPT("HTTP/1.1 200 OK\r\n\r\n", true, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_NONE);
    assert_true(r.keep_alive);
    /* 1xx, 204 and 304 never have a body. */
    static const char *const none[] = {
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 199 Whatever\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        accept_lit(none[i], strlen(none[i]), false, &r);
        assert_int_equal(r.body_kind, SK_HTTP_RESP_NONE);
        assert_true(r.keep_alive);
    }
    /* 101 hands the connection to another protocol. */
    ACCEPT("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\n\r\n",
           false, &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_NONE);
    assert_false(r.keep_alive);
    /* 205 is not in the no-body list of section 6.3. */
    ACCEPT("HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", false,
           &r);
    assert_int_equal(r.body_kind, SK_HTTP_RESP_LENGTH);
}

static void
test_framing_refused(void **state)
{
    (void)state;
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           SK_HTTP_E_CL_AND_TE);
    REFUSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
           "Content-Length: 5\r\n\r\n",
           SK_HTTP_E_CL_AND_TE);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length: 00000000000000000001\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", SK_HTTP_E_BAD_TE);
    REFUSE("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    /* Contradictions are refused even when no body follows. */
    struct sk_http_response r;
    enum sk_http_err e;
    assert_int_equal(PARSE("HTTP/1.1 304 Not Modified\r\nContent-Length: 1\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n",
                           false, &r, &e),
                     -SK_EPARSE);
    assert_int_equal(e, SK_HTTP_E_CL_AND_TE);
    assert_int_equal(PARSE("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                           "Content-Length: 2\r\n\r\n",
                           true, &r, &e),
                     -SK_EPARSE);
    assert_int_equal(e, SK_HTTP_E_BAD_CL);
}

/* Header fields ---------------------------------------------------------- */

static void
test_fields_refused(void **state)
{
    (void)state;
    REFUSE("HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\n", SK_HTTP_E_OBS_FOLD);
    REFUSE("HTTP/1.1 200 OK\r\nX-A: b\r\n\tc\r\n\r\n", SK_HTTP_E_OBS_FOLD);
    REFUSE("HTTP/1.1 200 OK\r\n X-A: b\r\n\r\n", SK_HTTP_E_OBS_FOLD);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
           SK_HTTP_E_HEADER_SPACE);
    REFUSE("HTTP/1.1 200 OK\r\nContent-Length\t: 5\r\n\r\n",
           SK_HTTP_E_HEADER_SPACE);
    REFUSE("HTTP/1.1 200 OK\r\n: x\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("HTTP/1.1 200 OK\r\nX(y): z\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("HTTP/1.1 200 OK\r\nX: a\x7fz\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("HTTP/1.1 200 OK\r\nX: a\0z\r\n\r\n", SK_HTTP_E_BARE_CR);
    REFUSE("HTTP/1.1 200 OK\r\nX: a\rz\r\n\r\n", SK_HTTP_E_BARE_CR);
    REFUSE("HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n",
           SK_HTTP_E_BARE_LF);
    REFUSE("HTTP/1.1 200 OK\r\nX: a\r\n\n", SK_HTTP_E_BARE_LF);
    REFUSE("HTTP/1.1 200 OK\r\nX: a\r\n\r\r", SK_HTTP_E_BARE_CR);
    REFUSE("HTTP/1.1 200 OK\nX: a\r\n\r\n", SK_HTTP_E_BARE_LF);
}

static void
test_keep_alive(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ka;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
        {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
         false},
        {"HTTP/1.1 200 OK\r\nConnection: CLOSE\r\nContent-Length: 0\r\n\r\n",
         false},
        {"HTTP/1.1 200 OK\r\nConnection: x-foo ,\t close \r\n"
         "Content-Length: 0\r\n\r\n",
         false},
        {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
         "Connection: close\r\nContent-Length: 0\r\n\r\n",
         false},
        {"HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n",
         true},
        {"HTTP/1.1 200 OK\r\nX-Connection: close\r\nContent-Length: 0\r\n\r\n",
         true},
        {"HTTP/1.1 200 OK\r\nConnection: ,,\r\nContent-Length: 0\r\n\r\n",
         true},
        {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
        {"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n"
         "\r\n",
         true},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n"
         "Content-Length: 0\r\n\r\n",
         false},
        {"HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sk_http_response r;
        accept_lit(cases[i].in, strlen(cases[i].in), false, &r);
        if (r.keep_alive != cases[i].ka)
            fail_msg("case %zu: keep_alive %d", i, (int)r.keep_alive);
    }
}

/* Limits and incremental input ------------------------------------------ */

static void
test_limits(void **state)
{
    (void)state;
    struct sk_http_response r;
    enum sk_http_err e;
    /* A status line over the limit, complete or not. */
    size_t n = SK_LIMIT_REQUEST_LINE + 64;
    char *big = malloc(n + 8);
    assert_non_null(big);
    memcpy(big, "HTTP/1.1 200 ", 13);
    memset(big + 13, 'a', n - 13);
    assert_int_equal(parse_n(big, n, false, &r, &e), -SK_EPARSE);
    assert_int_equal(e, SK_HTTP_E_STATUS_LINE);
    memcpy(big + n, "\r\n\r\n", 4);
    assert_int_equal(parse_n(big, n + 4, false, &r, &e), -SK_EPARSE);
    assert_int_equal(e, SK_HTTP_E_STATUS_LINE);
    free(big);

    /* Exactly SK_LIMIT_HEADER_COUNT fields pass, one more does not. */
    size_t cap = 32 + (SK_LIMIT_HEADER_COUNT + 1) * 16;
    char *h = malloc(cap);
    assert_non_null(h);
    for (int extra = 0; extra < 2; extra++) {
        size_t len = (size_t)snprintf(h, cap, "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < SK_LIMIT_HEADER_COUNT + extra; i++)
            len += (size_t)snprintf(h + len, cap - len, "X-%d: v\r\n", i);
        len += (size_t)snprintf(h + len, cap - len, "\r\n");
        int rc = parse_n(h, len, false, &r, &e);
        if (extra == 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(r.nheaders, SK_LIMIT_HEADER_COUNT);
        } else {
            assert_int_equal(rc, -SK_EPARSE);
            assert_int_equal(e, SK_HTTP_E_TOO_MANY_HEADERS);
        }
    }
    free(h);

    /* A header section over SK_LIMIT_HEADER_BYTES, whole or still open. */
    size_t hb = SK_LIMIT_HEADER_BYTES + 100;
    char *hv = malloc(hb + 64);
    assert_non_null(hv);
    size_t len = (size_t)snprintf(hv, 64, "HTTP/1.1 200 OK\r\nX: ");
    memset(hv + len, 'v', hb);
    assert_int_equal(parse_n(hv, len + hb, false, &r, &e), -SK_EPARSE);
    assert_int_equal(e, SK_HTTP_E_HEADERS_TOO_BIG);
    memcpy(hv + len + hb, "\r\n\r\n", 4);
    assert_int_equal(parse_n(hv, len + hb + 4, false, &r, &e), -SK_EPARSE);
    assert_int_equal(e, SK_HTTP_E_HEADERS_TOO_BIG);
    free(hv);
}

static void
test_prefixes_again(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 204\r\n\r\n",
        "HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n",
    };
    for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++) {
        size_t len = strlen(heads[k]);
        for (size_t i = 0; i < len; i++) {
            struct sk_http_response r;
            enum sk_http_err e;
            int rc = parse_n(heads[k], i, false, &r, &e);
            if (rc != SK_AGAIN)
                fail_msg("head %zu prefix %zu: rc %d (%s)", k, i, rc,
                         sk_http_strerror(e));
        }
        struct sk_http_response r;
        accept_lit(heads[k], len, false, &r);
        assert_int_equal(r.head_len, len);
    }
}

static void
test_body_bytes_not_parsed(void **state)
{
    (void)state;
    /* Whatever follows the blank line is body, not head. */
    struct sk_http_response r;
    ACCEPT("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\0\n\r ", false, &r);
    assert_int_equal(r.head_len, 38);
    assert_int_equal(r.nheaders, 1);
}

static void
test_arena_exhaustion(void **state)
{
    (void)state;
    /* The header array does not fit the arena's first (tiny) block, and
     * every allocation after this point fails. */
    struct sk_arena *small = sk_arena_new(16);
    assert_non_null(small);
    struct sk_http_response r;
    enum sk_http_err e;
    static const char in[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    sk_alloc_fail_at(1, 1);
    int rc = sk_http_parse_response_head(small, sk_str_make(in, sizeof(in) - 1),
                                         false, &r, &e);
    sk_alloc_fail_at(0, 0);
    assert_int_equal(rc, -SK_ENOMEM);
    rc = sk_http_parse_response_head(small, sk_str_make(in, sizeof(in) - 1),
                                     false, &r, &e);
    assert_int_equal(rc, 0);
    assert_int_equal(r.nheaders, 3);
    sk_arena_free(small);
}

/* A response moved to a copy of its head reads the same, from the copy. */
static void
test_rebase(void **state)
{
    (void)state;
    const char *h = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n"
                    "X-A: b\r\n\r\nhi";
    size_t n = strlen(h);
    uint8_t *in = malloc(n), *copy = malloc(n);
    assert_non_null(in);
    assert_non_null(copy);
    memcpy(in, h, n);
    struct sk_http_response r;
    enum sk_http_err e;
    assert_int_equal(
        sk_http_parse_response_head(arena, sk_str_make(in, n), false, &r, &e),
        0);
    memcpy(copy, in, r.head_len);
    sk_http_response_rebase(&r, in, copy);
    memset(in, 'Z', n);
    free(in);
    assert_int_equal(r.status, 404);
    assert_true(sk_str_eq_c(r.reason, "Not Found"));
    assert_true(sk_str_eq_c(r.protocol, "HTTP/1.1"));
    assert_int_equal(r.nheaders, 2);
    assert_true(sk_str_eq_c(r.headers[0].name, "Content-Length"));
    assert_true(sk_str_eq_c(r.headers[1].name, "X-A"));
    assert_true(sk_str_eq_c(r.headers[1].value, "b"));
    assert_true(r.headers[1].value.p >= copy &&
                r.headers[1].value.p < copy + r.head_len);
    free(copy);
    sk_arena_reset(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_rebase),
        cmocka_unit_test(test_reason_forms),
        cmocka_unit_test(test_status_line_refused),
        cmocka_unit_test(test_junk_refused_early),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_framing_refused),
        cmocka_unit_test(test_fields_refused),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_prefixes_again),
        cmocka_unit_test(test_body_bytes_not_parsed),
        cmocka_unit_test(test_arena_exhaustion),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
