/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/http/http.c and args.c: every refusal reason of the
 * head parser, the chunked decoder under every kind of input split, and
 * ModSecurity v3's argument and cookie splitting edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/fields.h"
#include "http/http.h"
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
parse(const char *s, size_t len, struct sk_http_request *req,
      enum sk_http_err *err)
{
    return sk_http_parse_head(arena, sk_str_make(s, len), req, err);
}

#define PARSE(lit, req, err) parse((lit), sizeof(lit) - 1, (req), (err))

/* Expects a refusal with `want` for the literal request. */
#define REFUSE(lit, want)                                                      \
    do {                                                                       \
        struct sk_http_request r_;                                             \
        enum sk_http_err e_ = SK_HTTP_OK;                                      \
        int rc_ = PARSE(lit, &r_, &e_);                                        \
        if (rc_ != -SK_EPARSE || e_ != (want))                                 \
            fail_msg("%s: rc %d err %d (%s), want %d", #lit, rc_, (int)e_,     \
                     sk_http_strerror(e_), (int)(want));                       \
    } while (0)

/* Request head ------------------------------------------------------------ */

static void
test_host_values_accepted(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: shop.example.org:\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct sk_http_request req;
        enum sk_http_err err;
        if (parse(ok[i], strlen(ok[i]), &req, &err) != 0)
            fail_msg("refused: %s (%s)", ok[i], sk_http_strerror(err));
    }
}

static void
test_head_ok(void **state)
{
    (void)state;
    static const char req_s[] = "GET /a/b.php?x=1&y=%41 HTTP/1.1\r\n"
                                "Host: example.com\r\n"
                                "X-Pad:   spaced value \t \r\n"
                                "X-Empty:\r\n"
                                "X-Obs: caf\xc3\xa9\r\n"
                                "\r\n"
                                "NEXT";
    struct sk_http_request req;
    enum sk_http_err err;
    assert_int_equal(PARSE(req_s, &req, &err), 0);
    assert_str(req.method, "GET");
    assert_str(req.target, "/a/b.php?x=1&y=%41");
    assert_str(req.path, "/a/b.php");
    assert_true(req.has_query);
    assert_str(req.query, "x=1&y=%41");
    assert_str(req.protocol, "HTTP/1.1");
    assert_int_equal(req.version, 11);
    assert_str(req.request_line, "GET /a/b.php?x=1&y=%41 HTTP/1.1");
    assert_int_equal(req.nheaders, 4);
    assert_str(req.headers[0].name, "Host");
    assert_str(req.headers[0].value, "example.com");
    assert_str(req.headers[1].value, "spaced value");
    assert_str(req.headers[2].value, "");
    assert_str(req.headers[3].value, "caf\xc3\xa9");
    assert_int_equal(req.body_kind, SK_HTTP_BODY_NONE);
    assert_int_equal(req.head_len, sizeof(req_s) - 1 - 4);
}

static void
test_head_forms(void **state)
{
    (void)state;
    struct sk_http_request req;
    enum sk_http_err err;
    assert_int_equal(PARSE("GET http://h.test/p?q HTTP/1.1\r\nHost: h.test"
                           "\r\n\r\n",
                           &req, &err),
                     0);
    assert_str(req.path, "http://h.test/p");
    assert_str(req.query, "q");
    assert_int_equal(PARSE("CONNECT h.test:443 HTTP/1.1\r\nHost: h.test:443"
                           "\r\n\r\n",
                           &req, &err),
                     0);
    assert_str(req.path, "h.test:443");
    assert_false(req.has_query);
    assert_int_equal(
        PARSE("CONNECT [::1]:8080 HTTP/1.1\r\nHost: x\r\n\r\n", &req, &err), 0);
    assert_int_equal(PARSE("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &req, &err),
                     0);
    assert_str(req.path, "*");
    /* HTTP/1.0 needs no Host; bytes >= 0x80 in the target are kept. */
    assert_int_equal(PARSE("GET /\xff\x80?\xe9=1 HTTP/1.0\r\n\r\n", &req, &err),
                     0);
    assert_int_equal(req.version, 10);
    assert_str(req.path, "/\xff\x80");
    assert_str(req.query, "\xe9=1");
    assert_int_equal(req.nheaders, 0);
    assert_null(req.headers);
    /* '?' without a query. */
    assert_int_equal(PARSE("GET /? HTTP/1.0\r\n\r\n", &req, &err), 0);
    assert_true(req.has_query);
    assert_int_equal(req.query.len, 0);
}

static void
test_head_bodies(void **state)
{
    (void)state;
    struct sk_http_request req;
    enum sk_http_err err;
    assert_int_equal(PARSE("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: "
                           "42\r\n\r\n",
                           &req, &err),
                     0);
    assert_int_equal(req.body_kind, SK_HTTP_BODY_LENGTH);
    assert_int_equal(req.content_length, 42);
    assert_int_equal(PARSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:"
                           " Chunked \r\n\r\n",
                           &req, &err),
                     0);
    assert_int_equal(req.body_kind, SK_HTTP_BODY_CHUNKED);
}

static void
test_head_again(void **state)
{
    (void)state;
    static const char full[] = "POST /x?y HTTP/1.1\r\nHost: h\r\n"
                               "Content-Length: 3\r\n\r\n";
    struct sk_http_request req;
    enum sk_http_err err;
    for (size_t n = 0; n < sizeof(full) - 1; n++)
        assert_int_equal(parse(full, n, &req, &err), SK_AGAIN);
    assert_int_equal(parse(full, sizeof(full) - 1, &req, &err), 0);
    /* An error in a complete line is reported before the head ends. */
    assert_int_equal(PARSE("GET / HTTP/1.1\r\nBad Name: x\r\nHo", &req, &err),
                     -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_HEADER_SPACE);
}

static void
test_head_refusals(void **state)
{
    (void)state;
    REFUSE(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_REQUEST_LINE);
    REFUSE("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_REQUEST_LINE);
    REFUSE("\tGET", SK_HTTP_E_REQUEST_LINE);
    REFUSE("GET /\r\n\r\n", SK_HTTP_E_REQUEST_LINE);
    REFUSE("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_REQUEST_LINE);
    REFUSE("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", SK_HTTP_E_REQUEST_LINE);
    REFUSE("GET / http/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_REQUEST_LINE);
    REFUSE("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_METHOD);
    REFUSE("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_METHOD);
    REFUSE("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    REFUSE("GET * HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    REFUSE("GET h.test:80 HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    REFUSE("GET index.php HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    REFUSE("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    REFUSE("CONNECT u@h:80 HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    REFUSE("CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    REFUSE("GET 1http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    REFUSE("GET / HTTP/2.0\r\nHost: h\r\n\r\n", SK_HTTP_E_VERSION);
    REFUSE("GET / HTTP/1.2\r\nHost: h\r\n\r\n", SK_HTTP_E_VERSION);
    /* HTTP/0.x never had this syntax: a malformed line, not a version. */
    REFUSE("GET / HTTP/0.9\r\nHost: h\r\n\r\n", SK_HTTP_E_REQUEST_LINE);
    /* A fragment is not part of a request-target. */
    REFUSE("GET /a?b=1#c HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_URI);
    /* Host: not empty, no percent-encoding, a numeric port. */
    REFUSE("GET / HTTP/1.1\r\nHost:\r\n\r\n", SK_HTTP_E_HOST);
    REFUSE("GET / HTTP/1.1\r\nHost: h%00\r\n\r\n", SK_HTTP_E_HOST);
    REFUSE("GET / HTTP/1.1\r\nHost: h:8x\r\n\r\n", SK_HTTP_E_HOST);
    REFUSE("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", SK_HTTP_E_HOST);
    REFUSE("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", SK_HTTP_E_HOST);
    REFUSE("GET / HTTP/1.1\r\nBad@Name: x\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("GET / HTTP/1.1\r\nNoColon\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("GET / HTTP/1.1\r\n: empty\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("GET / HTTP/1.1\r\nHost: a\x7fz\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    REFUSE("GET / HTTP/1.1\r\nHost : h\r\n\r\n", SK_HTTP_E_HEADER_SPACE);
    REFUSE("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", SK_HTTP_E_HEADER_SPACE);
    REFUSE("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
           SK_HTTP_E_OBS_FOLD);
    REFUSE("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", SK_HTTP_E_OBS_FOLD);
    REFUSE("GET / HTTP/1.1\r\nHost: h\r\n x", SK_HTTP_E_OBS_FOLD);
    REFUSE("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", SK_HTTP_E_BARE_CR);
    REFUSE("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_BARE_CR);
    REFUSE("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n", SK_HTTP_E_BARE_CR);
    REFUSE("GET / HTTP/1.1\r\nHost: h\0\r\n\r\n", SK_HTTP_E_BARE_CR);
    REFUSE("\0", SK_HTTP_E_BARE_CR);
    REFUSE("GET / HTTP/1.1\nHost: h\n\n", SK_HTTP_E_BARE_LF);
    REFUSE("GET / HTTP/1.1\r\nHost: h\n\r\n", SK_HTTP_E_BARE_LF);
    REFUSE("GET / HTTP/1.1\r\nHost: h\r\n\n", SK_HTTP_E_BARE_LF);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           SK_HTTP_E_CL_AND_TE);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
           "Content-Length: 1\r\n\r\n",
           SK_HTTP_E_CL_AND_TE);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
           "Content-Length: 1\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
           "99999999999999999999\r\n\r\n",
           SK_HTTP_E_BAD_CL);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked"
           "\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, "
           "chunked\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n"
           "\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
           SK_HTTP_E_BAD_TE);
    REFUSE("GET / HTTP/1.1\r\nX: y\r\n\r\n", SK_HTTP_E_HOST);
    REFUSE("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", SK_HTTP_E_HOST);
    REFUSE("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", SK_HTTP_E_HOST);
}

static void
test_head_limits(void **state)
{
    (void)state;
    size_t cap = SK_LIMIT_HEADER_BYTES * 2;
    char *buf = malloc(cap);
    assert_non_null(buf);
    struct sk_http_request req;
    enum sk_http_err err;

    /* Request line: the limit itself passes, one more byte does not. */
    size_t n = (size_t)snprintf(buf, cap, "GET /");
    size_t fill = SK_LIMIT_REQUEST_LINE - n - strlen(" HTTP/1.0");
    memset(buf + n, 'a', fill);
    n += fill;
    n += (size_t)snprintf(buf + n, cap - n, " HTTP/1.0\r\n\r\n");
    assert_int_equal(parse(buf, n, &req, &err), 0);
    memmove(buf + 6, buf + 5, n - 5);
    buf[5] = 'a';
    assert_int_equal(parse(buf, n + 1, &req, &err), -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_LINE_TOO_LONG);
    assert_int_equal(sk_http_err_status(err), 414);
    /* Incomplete but already too long. */
    memset(buf, 'a', SK_LIMIT_REQUEST_LINE + 10);
    memcpy(buf, "GET /", 5);
    assert_int_equal(parse(buf, SK_LIMIT_REQUEST_LINE + 10, &req, &err),
                     -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_LINE_TOO_LONG);

    /* Too many fields. */
    n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < SK_LIMIT_HEADER_COUNT; i++)
        n += (size_t)snprintf(buf + n, cap - n, "X-%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, cap - n, "\r\n");
    assert_int_equal(parse(buf, n, &req, &err), -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_TOO_MANY_HEADERS);
    assert_int_equal(sk_http_err_status(err), 431);

    /* Header section too large, complete or not. */
    n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
    memset(buf + n, 'b', SK_LIMIT_HEADER_BYTES);
    n += SK_LIMIT_HEADER_BYTES;
    assert_int_equal(parse(buf, n, &req, &err), -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_HEADERS_TOO_BIG);
    n += (size_t)snprintf(buf + n, cap - n, "\r\n\r\n");
    assert_int_equal(parse(buf, n, &req, &err), -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_HEADERS_TOO_BIG);
    free(buf);
}

static void
test_err_tables(void **state)
{
    (void)state;
    for (int e = SK_HTTP_E_REQUEST_LINE; e <= SK_HTTP_E_BARE_LF; e++) {
        assert_true(sk_http_err_status((enum sk_http_err)e) >= 400);
        assert_true(strlen(sk_http_strerror((enum sk_http_err)e)) > 0);
    }
    assert_int_equal(sk_http_err_status(SK_HTTP_E_BAD_TE), 400);
    assert_int_equal(sk_http_err_status(SK_HTTP_E_HEADERS_TOO_BIG), 431);
    assert_int_equal(sk_http_err_status((enum sk_http_err)999), 400);
    assert_non_null(sk_http_strerror((enum sk_http_err)999));
}

/* Chunked ----------------------------------------------------------------- */

struct sinkbuf {
    char buf[4096];
    size_t len;
    int fail_at; /* call number that fails, 0 for never */
    int calls;
};

static int
sink(void *ud, const uint8_t *p, size_t n)
{
    struct sinkbuf *s = ud;
    if (++s->calls == s->fail_at)
        return -SK_ELIMIT;
    assert_true(s->len + n <= sizeof(s->buf));
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

/*
 * Decodes `in` fed in pieces of the given sizes (cycled; 0 = all at once).
 * Returns the final rc; *used_total is the number of bytes consumed.
 */
static int
decode_split(const char *in, size_t len, const size_t *sizes, size_t nsizes,
             struct sinkbuf *out, size_t *used_total, enum sk_http_err *err,
             bool *done)
{
    struct sk_http_chunked st;
    memset(&st, 0, sizeof(st));
    memset(out, 0, sizeof(*out));
    size_t off = 0, k = 0;
    int rc = 0;
    while (off < len && !st.done) {
        size_t n = nsizes ? sizes[k++ % nsizes] : len - off;
        if (n > len - off)
            n = len - off;
        size_t used = 0;
        rc = sk_http_chunked_decode(&st, sk_str_make(in + off, n), &used, sink,
                                    out, err);
        off += used;
        if (rc != 0)
            break;
        if (!st.done)
            assert_int_equal(used, n);
    }
    *used_total = off;
    *done = st.done;
    return rc;
}

static void
test_chunked_ok_all_splits(void **state)
{
    (void)state;
    static const char in[] = "5\r\nhello\r\n"
                             "1A;name=val;q=\"a \\\" b\" ; flag\r\n"
                             "abcdefghijklmnopqrstuvwxyz\r\n"
                             "000003 ; x = y\r\n123\r\n"
                             "0\r\nTrailer-One: v\r\nT2:\r\n\r\n"
                             "GET / HTTP/1.1\r\n";
    const size_t body_end = sizeof(in) - 1 - strlen("GET / HTTP/1.1\r\n");
    const char *want = "helloabcdefghijklmnopqrstuvwxyz123";
    struct sinkbuf out;
    size_t used;
    enum sk_http_err err;
    bool done;
    assert_int_equal(
        decode_split(in, sizeof(in) - 1, NULL, 0, &out, &used, &err, &done), 0);
    assert_true(done);
    assert_int_equal(used, body_end);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.buf, want, out.len);

    /* Byte by byte, and every other fixed piece size. */
    for (size_t sz = 1; sz < sizeof(in); sz++) {
        size_t sizes[1] = {sz};
        assert_int_equal(decode_split(in, sizeof(in) - 1, sizes, 1, &out, &used,
                                      &err, &done),
                         0);
        assert_true(done);
        assert_int_equal(used, body_end);
        assert_int_equal(out.len, strlen(want));
        assert_memory_equal(out.buf, want, out.len);
    }
    /* Pseudo-random splits. */
    unsigned seed = 12345;
    for (int round = 0; round < 200; round++) {
        size_t sizes[16];
        for (int i = 0; i < 16; i++) {
            seed = seed * 1103515245u + 12345u;
            sizes[i] = 1 + (seed >> 16) % 9;
        }
        assert_int_equal(decode_split(in, sizeof(in) - 1, sizes, 16, &out,
                                      &used, &err, &done),
                         0);
        assert_true(done);
        assert_int_equal(used, body_end);
        assert_memory_equal(out.buf, want, strlen(want));
    }
}

static void
expect_chunk_err(const char *in, enum sk_http_err want)
{
    size_t len = strlen(in);
    for (size_t sz = 1; sz <= len; sz++) {
        struct sinkbuf out;
        size_t used;
        enum sk_http_err err = SK_HTTP_OK;
        bool done;
        size_t sizes[1] = {sz};
        int rc = decode_split(in, len, sizes, 1, &out, &used, &err, &done);
        if (rc != -SK_EPARSE || err != want)
            fail_msg("\"%s\" split %zu: rc %d err %d, want %d", in, sz, rc,
                     (int)err, (int)want);
    }
}

static void
test_chunked_errors(void **state)
{
    (void)state;
    expect_chunk_err("x\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err(";a\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("-1\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("0x5\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5 \r\nhello\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5\nhello\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5\r\nhelloX\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5\r\nhello\n0\r\n\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5\r\nhello\r\r", SK_HTTP_E_CHUNK);
    /* 17 hex digits overflow 64 bits; leading zeros do not. */
    expect_chunk_err("10000000000000000\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=\"x\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=\"x\"y\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a b\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;@\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=b\rx", SK_HTTP_E_CHUNK);
    expect_chunk_err("0\r\n x: y\r\n\r\n", SK_HTTP_E_OBS_FOLD);
    expect_chunk_err("0\r\nx : y\r\n\r\n", SK_HTTP_E_HEADER_SPACE);
    expect_chunk_err("0\r\nx\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    expect_chunk_err("0\r\nx: \x01\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    expect_chunk_err("0\r\nx: y\n\r\n", SK_HTTP_E_BARE_LF);
    expect_chunk_err("0\r\n\n", SK_HTTP_E_BARE_LF);
    expect_chunk_err("0\r\nx: y\ry\r\n", SK_HTTP_E_BARE_CR);
    expect_chunk_err("0\r\n\rx", SK_HTTP_E_BARE_CR);

    /* Overlong size line (leading zeros / extensions) is refused. */
    char *big = malloc(SK_HTTP_CHUNK_LINE_MAX + 8);
    assert_non_null(big);
    memset(big, '0', SK_HTTP_CHUNK_LINE_MAX + 2);
    memcpy(big + SK_HTTP_CHUNK_LINE_MAX + 2, "1\r\n", 4);
    struct sinkbuf out;
    size_t used;
    enum sk_http_err err;
    bool done;
    assert_int_equal(
        decode_split(big, strlen(big), NULL, 0, &out, &used, &err, &done),
        -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_CHUNK);
    free(big);
    /* Up to 16 hex digits with leading zeros are fine. */
    static const char ok[] = "000000000000000000000001\r\nZ\r\n0\r\n\r\n";
    assert_int_equal(
        decode_split(ok, sizeof(ok) - 1, NULL, 0, &out, &used, &err, &done), 0);
    assert_true(done);
    assert_int_equal(out.len, 1);
}

/* Decodes `in` whole; returns rc, with *err, *done and *used. */
static int
decode_all(const char *in, size_t len, struct sinkbuf *out, size_t *used,
           enum sk_http_err *err, bool *done)
{
    return decode_split(in, len, NULL, 0, out, used, err, done);
}

static void
test_chunked_edges(void **state)
{
    (void)state;
    struct sinkbuf out;
    size_t used;
    enum sk_http_err err;
    bool done;
    /* Sizes: signs, leading whitespace, a size before its line ends. */
    expect_chunk_err("+5\r\nhello\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err(" 5\r\nhello\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("\t5\r\nhello\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5g\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5,6\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5 6\r\n", SK_HTTP_E_CHUNK);
    /* 64 bits: sixteen F are the largest size, one more digit overflows
     * however it is written. */
    expect_chunk_err("FFFFFFFFFFFFFFFF0\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("0FFFFFFFFFFFFFFFF0\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("18000000000000000\r\n", SK_HTTP_E_CHUNK);
    struct sk_http_chunked st;
    memset(&st, 0, sizeof(st));
    assert_int_equal(
        sk_http_chunked_decode(&st, SK_STR_LIT("ffffffffffffffff\r\nab"), &used,
                               NULL, NULL, &err),
        0);
    assert_int_equal(used, 20);
    assert_false(st.done);
    assert_true(st.remaining == UINT64_MAX - 2);
    /* Extensions: control bytes, a bare CR or LF inside a quoted value or
     * a token, a quoted-pair of CR, a name that starts with '='. */
    expect_chunk_err("5;a=\"x\ry\"\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=\"x\ny\"\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=\"\\\r\"\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=b\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;=b\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=b=c\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=\x01\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5;a=\"\x7f\"\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("5 ;\r\n", SK_HTTP_E_CHUNK);
    /* NUL anywhere outside the payload. */
    static const char nul_size[] = "5\0\r\nhello\r\n0\r\n\r\n";
    assert_int_equal(
        decode_all(nul_size, sizeof(nul_size) - 1, &out, &used, &err, &done),
        -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_CHUNK);
    static const char nul_ext[] = "5;a=\"\0\"\r\nhello\r\n0\r\n\r\n";
    assert_int_equal(
        decode_all(nul_ext, sizeof(nul_ext) - 1, &out, &used, &err, &done),
        -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_CHUNK);
    static const char nul_tr[] = "0\r\nx: a\0b\r\n\r\n";
    assert_int_equal(
        decode_all(nul_tr, sizeof(nul_tr) - 1, &out, &used, &err, &done),
        -SK_EPARSE);
    assert_int_equal(err, SK_HTTP_E_BARE_CR);
    /* NUL in the payload is data. */
    static const char nul_data[] = "3\r\na\0b\r\n0\r\n\r\n";
    assert_int_equal(
        decode_all(nul_data, sizeof(nul_data) - 1, &out, &used, &err, &done),
        0);
    assert_true(done);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.buf, "a\0b", 3);
    /* Missing CRLF after the payload, or a short payload before it. */
    expect_chunk_err("3\r\nabc0\r\n\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("3\r\nab\r\n0\r\n\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("3\r\nabc\r0\r\n\r\n", SK_HTTP_E_CHUNK);
    expect_chunk_err("3\r\nabc\n\r\n0\r\n\r\n", SK_HTTP_E_CHUNK);
    /* Data after the last chunk is not payload: it must be a trailer or
     * the final CRLF (the "0\r\n" then smuggled request case). */
    expect_chunk_err("0\r\nGET / HTTP/1.1\r\n\r\n", SK_HTTP_E_HEADER_SPACE);
    expect_chunk_err("0\r\nhello\r\n\r\n", SK_HTTP_E_HEADER_SYNTAX);
    /* Missing final CRLF: incomplete, not done. */
    assert_int_equal(decode_all("0\r\nX: y\r\n", 9, &out, &used, &err, &done),
                     0);
    assert_false(done);
    assert_int_equal(used, 9);
    /* Accepted forms: BWS around ';' and '=', empty quoted value, obs-text
     * in a quoted value, a trailer that names framing fields (ignored). */
    static const char ok[] = "2 \t; a = \"\" ;b=\"\xe9\"\r\nhi\r\n"
                             "0;last\r\nContent-Length: 99\r\n"
                             "Transfer-Encoding: gzip\r\n\r\n";
    assert_int_equal(decode_all(ok, sizeof(ok) - 1, &out, &used, &err, &done),
                     0);
    assert_true(done);
    assert_int_equal(used, sizeof(ok) - 1);
    assert_int_equal(out.len, 2);
}

/* The size-line and trailer-section bounds, at and past the limit. */
static void
test_chunked_limits(void **state)
{
    (void)state;
    struct sinkbuf out;
    size_t used;
    enum sk_http_err err;
    bool done;
    /* A size line of exactly SK_HTTP_CHUNK_LINE_MAX bytes (CRLF included)
     * passes, one byte more does not. */
    size_t cap = SK_HTTP_CHUNK_LINE_MAX + 32;
    char *line = malloc(cap);
    assert_non_null(line);
    for (int extra = 0; extra < 2; extra++) {
        size_t n = SK_HTTP_CHUNK_LINE_MAX + (size_t)extra;
        line[0] = '1';
        line[1] = ';';
        memset(line + 2, 'e', n - 4);
        memcpy(line + n - 2, "\r\nZ\r\n0\r\n\r\n", 11);
        int rc = decode_all(line, strlen(line), &out, &used, &err, &done);
        if (extra == 0) {
            assert_int_equal(rc, 0);
            assert_true(done);
            assert_int_equal(out.len, 1);
        } else {
            assert_int_equal(rc, -SK_EPARSE);
            assert_int_equal(err, SK_HTTP_E_CHUNK);
        }
    }
    free(line);
    /* The bound is per line: many long lines in a row are fine. */
    char l2[SK_HTTP_CHUNK_LINE_MAX + 8];
    memset(l2, 0, sizeof(l2));
    l2[0] = '1';
    l2[1] = ';';
    memset(l2 + 2, 'e', SK_HTTP_CHUNK_LINE_MAX - 4);
    memcpy(l2 + SK_HTTP_CHUNK_LINE_MAX - 2, "\r\nZ\r\n", 5);
    struct sk_http_chunked st2;
    memset(&st2, 0, sizeof(st2));
    for (int i = 0; i < 4; i++) {
        size_t u = 0;
        assert_int_equal(sk_http_chunked_decode(&st2,
                                                sk_str_make(l2, strlen(l2)), &u,
                                                NULL, NULL, &err),
                         0);
        assert_int_equal(u, strlen(l2));
    }
    /* Trailers: SK_LIMIT_HEADER_BYTES in all, counted from after "0\r\n". */
    size_t tcap = SK_LIMIT_HEADER_BYTES + 64;
    char *tr = malloc(tcap);
    assert_non_null(tr);
    for (int extra = 0; extra < 2; extra++) {
        /* "0\r\n" + "X: " + v... + "\r\n" + "\r\n" */
        size_t body = SK_LIMIT_HEADER_BYTES + (size_t)extra;
        size_t vlen = body - 3 - 2 - 2;
        memcpy(tr, "0\r\nX: ", 6);
        memset(tr + 6, 'v', vlen);
        memcpy(tr + 6 + vlen, "\r\n\r\n", 5);
        struct sk_http_chunked st;
        memset(&st, 0, sizeof(st));
        size_t u = 0;
        int rc = sk_http_chunked_decode(&st, sk_str_make(tr, 3 + body), &u,
                                        NULL, NULL, &err);
        if (extra == 0) {
            assert_int_equal(rc, 0);
            assert_true(st.done);
            assert_int_equal(u, 3 + body);
        } else {
            assert_int_equal(rc, -SK_EPARSE);
            assert_int_equal(err, SK_HTTP_E_HEADERS_TOO_BIG);
        }
    }
    free(tr);
}

static void
test_chunked_state(void **state)
{
    (void)state;
    struct sk_http_chunked st;
    struct sinkbuf out;
    size_t used;
    enum sk_http_err err;
    /* A failing sink stops the decoder and its error is returned. */
    memset(&st, 0, sizeof(st));
    memset(&out, 0, sizeof(out));
    out.fail_at = 1;
    assert_int_equal(sk_http_chunked_decode(&st, SK_STR_LIT("3\r\nabc\r\n"),
                                            &used, sink, &out, &err),
                     -SK_ELIMIT);
    assert_int_equal(used, 3);
    /* After an error the decoder stays failed. */
    memset(&st, 0, sizeof(st));
    assert_int_equal(
        sk_http_chunked_decode(&st, SK_STR_LIT("z"), &used, NULL, NULL, &err),
        -SK_EPARSE);
    assert_int_equal(sk_http_chunked_decode(&st, SK_STR_LIT("0\r\n\r\n"), &used,
                                            NULL, NULL, &err),
                     -SK_EPARSE);
    /* Once done, nothing more is consumed. */
    memset(&st, 0, sizeof(st));
    assert_int_equal(sk_http_chunked_decode(&st, SK_STR_LIT("0\r\n\r\nX"),
                                            &used, NULL, NULL, &err),
                     0);
    assert_true(st.done);
    assert_int_equal(used, 5);
    assert_int_equal(
        sk_http_chunked_decode(&st, SK_STR_LIT("X"), &used, NULL, NULL, &err),
        0);
    assert_int_equal(used, 0);
    /* Incomplete input: consumed, not done. */
    memset(&st, 0, sizeof(st));
    assert_int_equal(sk_http_chunked_decode(&st, SK_STR_LIT("a\r\n12"), &used,
                                            NULL, NULL, &err),
                     0);
    assert_false(st.done);
    assert_int_equal(used, 5);
}

/* Arguments and cookies ---------------------------------------------------- */

struct pairs {
    char text[1024];
    size_t n;
    int stop_at;
};

static int
collect(void *ud, struct sk_str name, struct sk_str value)
{
    struct pairs *p = ud;
    size_t len = strlen(p->text);
    snprintf(p->text + len, sizeof(p->text) - len, "[%.*s|%.*s]", (int)name.len,
             (const char *)name.p, (int)value.len, (const char *)value.p);
    p->n++;
    return p->stop_at && (int)p->n == p->stop_at ? 77 : 0;
}

static void
assert_args(const char *in, char sep, const char *want)
{
    struct pairs p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(
        sk_http_parse_urlencoded(arena, sk_str_c(in), sep, 100, collect, &p),
        0);
    if (strcmp(p.text, want) != 0)
        fail_msg("args \"%s\": got %s want %s", in, p.text, want);
}

static void
assert_cookies(const char *in, const char *want)
{
    struct pairs p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(
        sk_http_parse_cookies(arena, sk_str_c(in), 100, collect, &p), 0);
    if (strcmp(p.text, want) != 0)
        fail_msg("cookies \"%s\": got %s want %s", in, p.text, want);
}

static void
test_urldecode(void **state)
{
    (void)state;
    struct sk_str out;
    bool inv = false;
    assert_int_equal(
        sk_http_urldecode_arg(arena, SK_STR_LIT("a+b%41%62%2b"), &out, &inv),
        0);
    assert_str(out, "a bAb+");
    assert_false(inv);
    assert_int_equal(
        sk_http_urldecode_arg(arena, SK_STR_LIT("%%41%4g%"), &out, &inv), 0);
    assert_str(out, "%A%4g%");
    assert_true(inv);
    inv = false;
    assert_int_equal(
        sk_http_urldecode_arg(arena, SK_STR_LIT("x%4"), &out, &inv), 0);
    assert_str(out, "x%4");
    assert_true(inv);
    assert_int_equal(
        sk_http_urldecode_arg(arena, SK_STR_LIT("%00z"), &out, NULL), 0);
    assert_int_equal(out.len, 2);
    assert_int_equal(out.p[0], 0);
    assert_int_equal(sk_http_urldecode_arg(arena, SK_STR_NULL, &out, NULL), 0);
    assert_int_equal(out.len, 0);
}

static void
test_urlencoded(void **state)
{
    (void)state;
    assert_args("a=1&b", '&', "[a|1][b|]");
    assert_args("=x", '&', "[|x]");
    assert_args("a=b=c", '&', "[a|b=c]");
    assert_args("a&&b", '&', "[a|][|][b|]");
    assert_args("&a", '&', "[|][a|]");
    assert_args("a&", '&', "[a|]");
    assert_args("&", '&', "[|]");
    assert_args("", '&', "");
    assert_args("a+b=%41+%zz", '&', "[a b|A %zz]");
    assert_args("a=1;b=2&c", ';', "[a|1][b|2&c]");

    struct pairs p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_http_parse_urlencoded(arena, SK_STR_LIT("a&b&c"), '&',
                                              2, collect, &p),
                     -SK_ELIMIT);
    assert_int_equal(p.n, 2);
    memset(&p, 0, sizeof(p));
    assert_int_equal(
        sk_http_parse_urlencoded(arena, SK_STR_LIT("a&b"), '&', 2, collect, &p),
        0);
    memset(&p, 0, sizeof(p));
    p.stop_at = 1;
    assert_int_equal(
        sk_http_parse_urlencoded(arena, SK_STR_LIT("a&b"), '&', 9, collect, &p),
        77);
    assert_int_equal(p.n, 1);
    bool inv = false;
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_http_parse_urlencoded_ex(arena, SK_STR_LIT("a=%"), '&',
                                                 9, collect, &p, &inv),
                     0);
    assert_true(inv);
}

static void
test_cookies(void **state)
{
    (void)state;
    assert_cookies("foo", "[foo|]");
    assert_cookies("a=b=c", "[a|b=c]");
    assert_cookies("a=1; b=2", "[a|1][b|2]");
    assert_cookies(";;foo=bar", "[foo|bar]");
    assert_cookies("  =bar; x=1", "[x|1]");
    assert_cookies("=bar", "");
    assert_cookies("x = y", "[x | y]");
    assert_cookies("a=1 ; b=2 \t ", "[a|1 ][b|2]");
    assert_cookies("a=1;", "[a|1]");
    assert_cookies("a=1; ", "[a|1]");
    assert_cookies("\ta=", "[a|]");
    assert_cookies("a=%41+", "[a|%41+]");
    assert_cookies("", "");
    struct pairs p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(
        sk_http_parse_cookies(arena, SK_STR_LIT("a;b;c"), 2, collect, &p),
        -SK_ELIMIT);
    assert_int_equal(p.n, 2);
    memset(&p, 0, sizeof(p));
    p.stop_at = 2;
    assert_int_equal(
        sk_http_parse_cookies(arena, SK_STR_LIT("a;b;c"), 9, collect, &p), 77);
}

/* The class table (http/fields.h) against RFC 9110's definitions. */
static void
test_char_classes(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        bool tchar = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                     (c >= 'A' && c <= 'Z') ||
                     (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        bool field = c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
        assert_int_equal(sk__http_is_tchar((uint8_t)c), tchar);
        assert_int_equal(sk__http_is_field_byte((uint8_t)c), field);
    }
}

/* Every byte value at every position of a field value, whatever its
 * place in the eight-byte words the value check reads. */
static void
test_value_bytes(void **state)
{
    (void)state;
    const char *pre = "GET / HTTP/1.1\r\nHost: x\r\nX-V: ";
    for (int c = 0; c < 256; c++) {
        for (size_t len = 1; len <= 19; len++) {
            for (size_t k = 0; k < len; k++) {
                char buf[128];
                size_t n = strlen(pre);
                memcpy(buf, pre, n);
                memset(buf + n, 'v', len);
                buf[n + k] = (char)c;
                memcpy(buf + n + len, "\r\n\r\n", 4);
                struct sk_http_request r;
                enum sk_http_err e = SK_HTTP_OK;
                int rc = sk_http_parse_head(
                    arena, sk_str_make(buf, n + len + 4), &r, &e);
                bool ok = c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
                if (ok) {
                    assert_int_equal(rc, 0);
                } else {
                    assert_int_equal(rc, -SK_EPARSE);
                    if (c != '\r' && c != '\n' && c != 0)
                        assert_int_equal(e, SK_HTTP_E_HEADER_SYNTAX);
                }
                sk_arena_reset(arena);
            }
        }
    }
}

/* A request moved to a copy of its head reads the same, from the copy. */
static void
test_request_rebase(void **state)
{
    (void)state;
    const char *h = "POST /a/b?x=1&y=2 HTTP/1.1\r\nHost: shop.example\r\n"
                    "Content-Length: 3\r\nX-Empty:\r\n\r\nabc";
    size_t n = strlen(h);
    uint8_t *in = malloc(n), *copy = malloc(n);
    assert_non_null(in);
    assert_non_null(copy);
    memcpy(in, h, n);
    struct sk_http_request r;
    enum sk_http_err e;
    assert_int_equal(sk_http_parse_head(arena, sk_str_make(in, n), &r, &e), 0);
    memcpy(copy, in, r.head_len);
    sk_http_request_rebase(&r, in, copy);
    memset(in, 'Z', n);
    free(in);
    assert_str(r.method, "POST");
    assert_str(r.target, "/a/b?x=1&y=2");
    assert_str(r.path, "/a/b");
    assert_str(r.query, "x=1&y=2");
    assert_str(r.protocol, "HTTP/1.1");
    assert_str(r.request_line, "POST /a/b?x=1&y=2 HTTP/1.1");
    assert_int_equal(r.nheaders, 3);
    assert_str(r.headers[0].name, "Host");
    assert_str(r.headers[0].value, "shop.example");
    assert_str(r.headers[1].value, "3");
    assert_str(r.headers[2].name, "X-Empty");
    assert_int_equal(r.headers[2].value.len, 0);
    for (size_t i = 0; i < r.nheaders; i++) {
        assert_true(r.headers[i].name.p >= copy &&
                    r.headers[i].name.p < copy + r.head_len);
        assert_true(r.headers[i].value.p >= copy &&
                    r.headers[i].value.p <= copy + r.head_len);
    }
    free(copy);
    sk_arena_reset(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_ok),
        cmocka_unit_test(test_char_classes),
        cmocka_unit_test(test_value_bytes),
        cmocka_unit_test(test_request_rebase),
        cmocka_unit_test(test_host_values_accepted),
        cmocka_unit_test(test_head_forms),
        cmocka_unit_test(test_head_bodies),
        cmocka_unit_test(test_head_again),
        cmocka_unit_test(test_head_refusals),
        cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_err_tables),
        cmocka_unit_test(test_chunked_ok_all_splits),
        cmocka_unit_test(test_chunked_errors),
        cmocka_unit_test(test_chunked_state),
        cmocka_unit_test(test_chunked_edges),
        cmocka_unit_test(test_chunked_limits),
        cmocka_unit_test(test_urldecode),
        cmocka_unit_test(test_urlencoded),
        cmocka_unit_test(test_cookies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
