/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the proxy's transaction logs (src/proxy/plog.c): no digit
 * run of a card number (sent in the query, a header, the Referer and a
 * form body a rule matched) and no password, cookie or credential reaches
 * any record; every JSON record parses with jansson; control bytes and
 * invalid UTF-8 are escaped; the combined line is exact; and two
 * processes appending 10,000 records each to one file never interleave.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evlog/evlog.h"
#include "http/http.h"
#include "proxy/plog.h"
#include "sekimori/waf.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define CARD "4539148803436467"
/* 2026-10-10T13:55:36Z */
#define T0 (1791640536LL * 1000000 + 250000)

static const char rules_text[] =
    "SecRuleEngine On\n"
    "SecRequestBodyAccess On\n"
    "SecRule ARGS \"@rx [0-9]{13,19}\" \"id:100,phase:2,pass,log,"
    "msg:'card number seen',logdata:'Matched Data: %{MATCHED_VAR} found "
    "within %{MATCHED_VAR_NAME}',setvar:tx.anomaly_score=+5,"
    "tag:'attack-skimming'\"\n"
    "SecRule ARGS:password \"@rx .\" \"id:101,phase:2,pass,log,"
    "msg:'password %{MATCHED_VAR}',logdata:'Matched Data: %{MATCHED_VAR} "
    "found within %{MATCHED_VAR_NAME}',setvar:tx.inbound_anomaly_score=+3\"\n"
    "SecRule REQUEST_HEADERS \"@rx [0-9]{4}.[0-9]{4}\" \"id:102,phase:1,"
    "pass,log,logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}',severity:2\"\n"
    "SecRule ARGS:e \"@rx .\" \"id:103,phase:2,deny,status:403,log,"
    "msg:'bytes',logdata:'%{MATCHED_VAR}'\"\n";

static struct sk_waf_rules *rules;

static int
setup(void **state)
{
    (void)state;
    sk_log_set_level(SK_LOG_ERROR);
    rules = sk_waf_rules_new();
    assert_non_null(rules);
    assert_int_equal(
        sk_waf_rules_add_text(rules, "t.conf", rules_text, strlen(rules_text)),
        0);
    int rc = sk_waf_rules_compile(rules);
    if (rc != 0)
        fprintf(stderr, "%s", sk_waf_rules_errors(rules));
    assert_int_equal(rc, 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sk_waf_rules_free(rules);
    return 0;
}

/* A parsed request with its engine run, and the info the worker logs. */
struct txn {
    struct sk_arena *a;
    struct sk_http_request req;
    struct sk_waf_txn *waf;
    struct sk_proxy_txn_info ti;
    struct sk_http_header resp[2];
};

static void
txn_run(struct txn *x, const char *raw)
{
    memset(x, 0, sizeof(*x));
    x->a = sk_arena_new(0);
    assert_non_null(x->a);
    enum sk_http_err err;
    struct sk_str in = sk_str_c(raw);
    assert_int_equal(sk_http_parse_head(x->a, in, &x->req, &err), 0);
    struct sk_http_request *r = &x->req;
    x->waf = sk_waf_txn_new(rules, "test-id");
    assert_non_null(x->waf);
    struct sk_waf_txn *t = x->waf;
    assert_int_equal(
        sk_waf_txn_connection(t, "192.0.2.1", 5555, "127.0.0.1", 8080), 0);
    assert_int_equal(
        sk_waf_txn_request_line(t, (const char *)r->method.p, r->method.len,
                                (const char *)r->target.p, r->target.len,
                                (const char *)r->protocol.p, r->protocol.len),
        0);
    for (size_t i = 0; i < r->nheaders; i++)
        assert_int_equal(
            sk_waf_txn_request_header(
                t, (const char *)r->headers[i].name.p, r->headers[i].name.len,
                (const char *)r->headers[i].value.p, r->headers[i].value.len),
            0);
    assert_int_equal(sk_waf_txn_phase(t, 1), 0);
    size_t blen = in.len - r->head_len;
    if (blen > 0)
        assert_int_equal(sk_waf_txn_request_body(t, in.p + r->head_len, blen),
                         0);
    assert_int_equal(sk_waf_txn_phase(t, 2), 0);
    x->resp[0].name = SK_STR_LIT("Content-Type");
    x->resp[0].value = SK_STR_LIT("text/html");
    x->resp[1].name = SK_STR_LIT("Set-Cookie");
    x->resp[1].value = SK_STR_LIT("sess=s3cr3tsess; HttpOnly");
    x->ti = (struct sk_proxy_txn_info){
        .id = "test-id",
        .start_us = T0,
        .duration_us = 1234,
        .client_ip = "192.0.2.1",
        .client_port = 5555,
        .server_ip = "127.0.0.1",
        .server_port = 8080,
        .req = &x->req,
        .status = 200,
        .bytes_sent = 2326,
        .bytes_received = in.len,
        .resp_headers = x->resp,
        .nresp_headers = 2,
        .waf = t,
    };
}

static void
txn_fini(struct txn *x)
{
    sk_waf_txn_free(x->waf);
    sk_arena_free(x->a);
}

/* Fails if any five consecutive digits of CARD, or a secret, is in s. */
static void
assert_clean(const char *what, const char *s)
{
    static const char *const secrets[] = {"hunter2", "dXNlcjpwYXNz",
                                          "abc123sess", "s3cr3tsess", "777"};
    char run[6];
    for (size_t k = 0; k + 5 <= strlen(CARD); k++) {
        memcpy(run, CARD + k, 5);
        run[5] = '\0';
        if (strstr(s, run) != NULL)
            fail_msg("%s holds card digits %s:\n%s", what, run, s);
    }
    for (size_t k = 0; k < sizeof(secrets) / sizeof(*secrets); k++)
        if (strstr(s, secrets[k]) != NULL)
            fail_msg("%s holds secret %s:\n%s", what, secrets[k], s);
}

static json_t *
parse_json(const struct sk_buf *b)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)b->p, b->len, 0, &e);
    if (j == NULL)
        fail_msg("invalid JSON (%s at %d): %.*s", e.text, e.position,
                 (int)b->len, (const char *)b->p);
    return j;
}

static void
test_redaction(void **state)
{
    (void)state;
    static const char body[] = "card=" CARD "&password=hunter2&cvv=777";
    char raw[2048];
    snprintf(raw, sizeof(raw),
             "POST /pay?cc=" CARD "&cc2=4539%%2D1488%%2D0343%%2D6467"
             "&pwd=hunter2&x=1 HTTP/1.1\r\n"
             "Host: shop.example\r\n"
             "X-Card: 4539 1488 0343 6467\r\n"
             "Cookie: sess=abc123sess\r\n"
             "Authorization: Basic dXNlcjpwYXNz\r\n"
             "Referer: http://shop.example/?card=4539-1488-0343-6467\r\n"
             "User-Agent: test\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    struct txn x;
    txn_run(&x, raw);
    /* The engine did see the card and the password. */
    bool saw100 = false, saw101 = false, saw102 = false;
    for (size_t i = 0; i < sk_waf_txn_match_count(x.waf); i++) {
        uint64_t id = sk_waf_txn_match(x.waf, i)->id;
        saw100 |= id == 100;
        saw101 |= id == 101;
        saw102 |= id == 102;
    }
    assert_true(saw100 && saw101 && saw102);

    struct sk_buf audit = {0}, access = {0}, event = {0};
    assert_int_equal(sk_proxy_audit_format(&x.ti, &audit), 0);
    assert_int_equal(sk_proxy_access_format(&x.ti, &access), 0);
    assert_int_equal(sk_proxy_event_format(&x.ti, &event), 0);
    assert_clean("audit", sk_buf_cstr(&audit));
    assert_clean("access", sk_buf_cstr(&access));
    assert_clean("event", sk_buf_cstr(&event));

    /* One line each, ending in '\n' (the event body has none). */
    assert_int_equal(audit.p[audit.len - 1], '\n');
    assert_null(memchr(audit.p, '\n', audit.len - 1));
    assert_int_equal(access.p[access.len - 1], '\n');

    json_t *j = parse_json(&audit);
    json_t *tr = json_object_get(j, "transaction");
    assert_string_equal(json_string_value(json_object_get(tr, "unique_id")),
                        "test-id");
    assert_string_equal(json_string_value(json_object_get(tr, "time_stamp")),
                        "Sat Oct 10 13:55:36 2026");
    assert_int_equal(json_integer_value(json_object_get(tr, "client_port")),
                     5555);
    json_t *rq = json_object_get(tr, "request");
    const char *uri = json_string_value(json_object_get(rq, "uri"));
    assert_non_null(strstr(uri, "cc=************6467&"));
    assert_non_null(strstr(uri, "&pwd=***&"));
    json_t *hd = json_object_get(rq, "headers");
    assert_string_equal(json_string_value(json_object_get(hd, "Cookie")),
                        "***");
    assert_string_equal(json_string_value(json_object_get(hd, "Authorization")),
                        "Basic ***");
    assert_string_equal(json_string_value(json_object_get(hd, "X-Card")),
                        "**** **** **** 6467");
    json_t *rs = json_object_get(tr, "response");
    assert_int_equal(json_integer_value(json_object_get(rs, "http_code")), 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(rs, "headers"), "Set-Cookie")),
                        "***");
    json_t *msgs = json_object_get(tr, "messages");
    assert_true(json_array_size(msgs) >= 3);
    json_t *m0 = json_array_get(msgs, 0);
    json_t *d0 = json_object_get(m0, "details");
    assert_non_null(json_string_value(json_object_get(d0, "ruleId")));
    assert_non_null(json_string_value(json_object_get(d0, "lineNumber")));
    assert_true(json_is_array(json_object_get(d0, "tags")));
    json_t *sk = json_object_get(j, "transaction");
    sk = json_object_get(sk, "sekimori");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(sk, "scores"), "anomaly_score")),
                     10);
    assert_int_equal(json_integer_value(json_object_get(sk, "duration_us")),
                     1234);
    json_decref(j);

    j = parse_json(&event);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "test-id");
    assert_string_equal(json_string_value(json_object_get(j, "host")),
                        "shop.example");
    assert_true(json_array_size(json_object_get(j, "rule_ids")) >= 3);
    assert_true(json_object_size(json_object_get(j, "scores")) >= 1);
    json_decref(j);
    assert_true(event.len < 64 * 1024);

    sk_buf_fini(&audit);
    sk_buf_fini(&access);
    sk_buf_fini(&event);
    txn_fini(&x);
}

static void
test_escaping(void **state)
{
    (void)state;
    /* ARGS:e decodes to 0x01, 0xff, "é", a truncated 3-byte sequence, a
     * quote, a backslash, DEL and a surrogate's UTF-8 encoding. */
    struct txn x;
    txn_run(&x, "GET /x?e=%01%ff%c3%a9%e2%82%22%5c%7f%ed%a0%80 HTTP/1.1\r\n"
                "Host: h\r\n\r\n");
    struct sk_buf audit = {0};
    x.ti.blocked = true;
    x.ti.status = 403;
    assert_int_equal(sk_proxy_audit_format(&x.ti, &audit), 0);
    json_t *j = parse_json(&audit);
    json_t *msgs =
        json_object_get(json_object_get(j, "transaction"), "messages");
    const char *data = NULL;
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        json_t *d = json_object_get(json_array_get(msgs, i), "details");
        if (strcmp(json_string_value(json_object_get(d, "ruleId")), "103") == 0)
            data = json_string_value(json_object_get(d, "data"));
    }
    assert_non_null(data);
    /* Decoded by jansson: each invalid byte is the code point of its
     * value, valid UTF-8 is kept. */
    assert_string_equal(data, "\x01\xc3\xbf\xc3\xa9\xc3\xa2\xc2\x82\"\\\x7f"
                              "\xc3\xad\xc2\xa0\xc2\x80");
    /* And the raw record: escapes, no control byte at all. */
    const char *s = sk_buf_cstr(&audit);
    assert_non_null(strstr(s, "\\u0001\\u00ff\xc3\xa9\\u00e2\\u0082\\\"\\\\"
                              "\\u007f\\u00ed\\u00a0\\u0080"));
    for (size_t i = 0; i + 1 < audit.len; i++)
        assert_true(audit.p[i] >= 0x20);
    json_decref(j);
    sk_buf_fini(&audit);
    txn_fini(&x);

    /* A refused head: no parsed request, the raw line escaped. */
    struct sk_proxy_txn_info ti = {
        .id = "r1",
        .start_us = T0,
        .client_ip = "192.0.2.9",
        .raw_request_line = SK_STR_LIT("GET /\x01\xff\"?pass=x HTTP/1.1"),
        .status = 400,
        .error = "http: bare CR",
    };
    struct sk_buf access = {0};
    assert_int_equal(sk_proxy_access_format(&ti, &access), 0);
    assert_string_equal(sk_buf_cstr(&access),
                        "192.0.2.9 - - [10/Oct/2026:13:55:36 +0000] "
                        "\"GET /\\x01\\xFF\\\"?pass=*** HTTP/1.1\" 400 0 "
                        "\"-\" \"-\"\n");
    struct sk_buf audit2 = {0}, ev = {0};
    assert_int_equal(sk_proxy_audit_format(&ti, &audit2), 0);
    assert_int_equal(sk_proxy_event_format(&ti, &ev), 0);
    j = parse_json(&audit2);
    json_t *sk = json_object_get(json_object_get(j, "transaction"), "sekimori");
    assert_string_equal(json_string_value(json_object_get(sk, "error")),
                        "http: bare CR");
    assert_string_equal(json_string_value(json_object_get(sk, "request_line")),
                        "GET /\x01\xc3\xbf\"?pass=*** HTTP/1.1");
    json_decref(j);
    j = parse_json(&ev);
    /* No peer given: none logged. */
    assert_null(json_object_get(j, "peer"));
    json_decref(j);
    sk_buf_fini(&access);
    sk_buf_fini(&audit2);
    sk_buf_fini(&ev);

    /* Behind a trusted proxy: the client from its header, the peer kept
     * in the audit record's sekimori object and in the event. */
    ti.client_ip = "203.0.113.7";
    ti.client_port = 0;
    ti.peer_ip = "127.0.0.1";
    ti.peer_port = 41000;
    struct sk_buf audit3 = {0}, ev3 = {0}, access3 = {0};
    assert_int_equal(sk_proxy_audit_format(&ti, &audit3), 0);
    assert_int_equal(sk_proxy_event_format(&ti, &ev3), 0);
    assert_int_equal(sk_proxy_access_format(&ti, &access3), 0);
    j = parse_json(&audit3);
    json_t *tx = json_object_get(j, "transaction");
    assert_string_equal(json_string_value(json_object_get(tx, "client_ip")),
                        "203.0.113.7");
    sk = json_object_get(tx, "sekimori");
    assert_string_equal(json_string_value(json_object_get(sk, "peer")),
                        "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(sk, "peer_port")),
                     41000);
    json_decref(j);
    j = parse_json(&ev3);
    assert_string_equal(json_string_value(json_object_get(j, "client_ip")),
                        "203.0.113.7");
    assert_string_equal(json_string_value(json_object_get(j, "peer")),
                        "127.0.0.1");
    json_decref(j);
    assert_true(strncmp(sk_buf_cstr(&access3), "203.0.113.7 - - ", 16) == 0);
    /* The peer is the client: not repeated in the event. */
    ti.client_ip = "127.0.0.1";
    sk_buf_clear(&ev3);
    assert_int_equal(sk_proxy_event_format(&ti, &ev3), 0);
    j = parse_json(&ev3);
    assert_null(json_object_get(j, "peer"));
    json_decref(j);
    sk_buf_fini(&audit3);
    sk_buf_fini(&ev3);
    sk_buf_fini(&access3);
}

static void
test_combined_exact(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_http_request req;
    enum sk_http_err err;
    assert_int_equal(
        sk_http_parse_head(a,
                           SK_STR_LIT("GET /a?b=c&d HTTP/1.1\r\n"
                                      "Host: h\r\n"
                                      "Referer: http://r/\r\n"
                                      "User-Agent: Mozilla \"5\" \\ x\r\n\r\n"),
                           &req, &err),
        0);
    struct sk_proxy_txn_info ti = {
        .id = "c1",
        .start_us = T0,
        .client_ip = "2001:db8::1",
        .req = &req,
        .status = 200,
        .bytes_sent = 2326,
    };
    struct sk_buf out = {0};
    assert_int_equal(sk_proxy_access_format(&ti, &out), 0);
    assert_string_equal(sk_buf_cstr(&out),
                        "2001:db8::1 - - [10/Oct/2026:13:55:36 +0000] "
                        "\"GET /a?b=c&d HTTP/1.1\" 200 2326 \"http://r/\" "
                        "\"Mozilla \\\"5\\\" \\\\ x\"\n");
    /* Appends: a second call adds a second line. */
    assert_int_equal(sk_proxy_access_format(&ti, &out), 0);
    assert_int_equal(out.len % 2, 0);
    assert_memory_equal(out.p, out.p + out.len / 2, out.len / 2);
    /* Without the engine the audit record is still complete JSON. */
    struct sk_buf audit = {0};
    assert_int_equal(sk_proxy_audit_format(&ti, &audit), 0);
    json_t *j = parse_json(&audit);
    json_t *tr = json_object_get(j, "transaction");
    assert_int_equal(json_array_size(json_object_get(tr, "messages")), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(tr, "producer"),
                                          "secrules_engine")),
        "Disabled");
    assert_true(json_is_real(
        json_object_get(json_object_get(tr, "request"), "http_version")));
    json_decref(j);
    sk_buf_fini(&audit);
    sk_buf_fini(&out);
    sk_arena_free(a);
}

/*
 * Every allocation of the three formatters fails in turn: each call
 * returns -SK_ENOMEM and leaves `out` as it was (ASan sees no leak), and
 * once allocations succeed the output is the same as without failures.
 */
static void
test_alloc_failures(void **state)
{
    (void)state;
    struct txn x;
    txn_run(&x, "GET /a?cc=" CARD "&pwd=x HTTP/1.1\r\nHost: h\r\n"
                "Referer: http://r/?q=1\r\nUser-Agent: u\r\n\r\n");
    int (*fmt[3])(const struct sk_proxy_txn_info *, struct sk_buf *) = {
        sk_proxy_audit_format, sk_proxy_access_format, sk_proxy_event_format};
    for (int f = 0; f < 3; f++) {
        struct sk_buf want = {0};
        assert_int_equal(fmt[f](&x.ti, &want), 0);
        unsigned long n;
        for (n = 1;; n++) {
            struct sk_buf out = {0};
            assert_int_equal(sk_buf_append_c(&out, "prefix"), 0);
            sk_alloc_fail_at(n, 0);
            int rc = fmt[f](&x.ti, &out);
            unsigned long used = sk_alloc_count();
            sk_alloc_fail_at(0, 0);
            if (rc == 0) {
                assert_int_equal(out.len, 6 + want.len);
                assert_memory_equal(out.p + 6, want.p, want.len);
                sk_buf_fini(&out);
                if (used < n)
                    break; /* the failure point was never reached */
                continue;
            }
            assert_int_equal(rc, -SK_ENOMEM);
            assert_int_equal(out.len, 6);
            assert_memory_equal(out.p, "prefix", 6);
            sk_buf_fini(&out);
        }
        assert_true(n > 2);
        sk_buf_fini(&want);
    }
    txn_fini(&x);
}

/* A write error (a full disk) is reported, not hidden or retried forever. */
static void
test_write_error(void **state)
{
    (void)state;
    struct sk_proxy_logfile *f;
    if (sk_proxy_logfile_open("/dev/full", &f) != 0)
        skip();
    assert_int_equal(sk_proxy_logfile_write(f, "x\n", 2), -SK_EIO);
    assert_int_equal(sk_proxy_logfile_reopen(f), 0);
    assert_int_equal(sk_proxy_logfile_write(f, "x\n", 2), -SK_EIO);
    sk_proxy_logfile_free(f);
}

/*
 * The worst event body: many matches whose message and data are long runs
 * of invalid UTF-8 (each byte escaped to six) still fits the event log's
 * SK_EVLOG_MAX_BODY, and the audit record stays valid JSON.
 */
static void
test_event_size_bound(void **state)
{
    (void)state;
    struct sk_buf raw = {0};
    assert_int_equal(sk_buf_append_c(&raw, "GET /big HTTP/1.1\r\nHost: h\r\n"),
                     0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sk_buf_printf(&raw, "X-Big-%d: zz", i), 0);
        for (int k = 0; k < 500; k++)
            assert_int_equal(sk_buf_putc(&raw, 0xff), 0);
        assert_int_equal(sk_buf_append_c(&raw, "\r\n"), 0);
    }
    assert_int_equal(sk_buf_append_c(&raw, "\r\n"), 0);
    /* One rule per header: a rule logs once however many targets match. */
    struct sk_buf text = {0};
    assert_int_equal(sk_buf_append_c(&text, "SecRuleEngine On\n"), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(
            sk_buf_printf(&text,
                          "SecRule REQUEST_HEADERS:X-Big-%d \"@contains zz\" "
                          "\"id:%d,phase:1,pass,log,msg:'%%{MATCHED_VAR}',"
                          "logdata:'%%{MATCHED_VAR}'\"\n",
                          i, 1000 + i),
            0);
    struct sk_waf_rules *saved = rules;
    rules = sk_waf_rules_new();
    assert_int_equal(sk_waf_rules_add_text(rules, "big.conf",
                                           (const char *)text.p, text.len),
                     0);
    if (sk_waf_rules_compile(rules) != 0)
        fail_msg("%s", sk_waf_rules_errors(rules));
    struct txn x;
    txn_run(&x, sk_buf_cstr(&raw));
    assert_int_equal(sk_waf_txn_match_count(x.waf), 100);
    struct sk_buf ev = {0}, audit = {0};
    assert_int_equal(sk_proxy_event_format(&x.ti, &ev), 0);
    assert_true(ev.len <= SK_EVLOG_MAX_BODY);
    assert_true(ev.len > 30000); /* the messages are in it */
    json_t *j = parse_json(&ev);
    assert_int_equal(json_array_size(json_object_get(j, "messages")), 12);
    assert_true(json_array_size(json_object_get(j, "rule_ids")) >= 100);
    json_decref(j);
    assert_int_equal(sk_proxy_audit_format(&x.ti, &audit), 0);
    j = parse_json(&audit);
    json_decref(j);
    sk_buf_fini(&ev);
    sk_buf_fini(&audit);
    sk_buf_fini(&raw);
    sk_buf_fini(&text);
    txn_fini(&x);
    sk_waf_rules_free(rules);
    rules = saved;
}

#define NLINES 10000

static void
writer_child(const char *path, char tag)
{
    struct sk_proxy_logfile *f;
    if (sk_proxy_logfile_open(path, &f) != 0)
        _exit(2);
    char line[512];
    for (int i = 0; i < NLINES; i++) {
        /* Lines of varying length, up to ~400 bytes. */
        int pad = (i * 37) % 380;
        int n =
            snprintf(line, sizeof(line), "%c %05d %.*s end\n", tag, i, pad,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        if (sk_proxy_logfile_write(f, line, (size_t)n) != 0)
            _exit(3);
        if (i == NLINES / 2 && sk_proxy_logfile_reopen(f) != 0)
            _exit(4);
    }
    sk_proxy_logfile_free(f);
    _exit(0);
}

static void
test_append_no_interleave(void **state)
{
    (void)state;
    char dir[] = "/tmp/plog-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    pid_t pa = fork();
    assert_true(pa != -1);
    if (pa == 0)
        writer_child(path, 'A');
    pid_t pb = fork();
    assert_true(pb != -1);
    if (pb == 0)
        writer_child(path, 'B');
    int st;
    assert_int_equal(waitpid(pa, &st, 0), pa);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(waitpid(pb, &st, 0), pb);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[1024];
    int next[2] = {0, 0};
    while (fgets(line, sizeof(line), fp) != NULL) {
        char tag;
        int num;
        const int pad_end = 8; /* "A 00001 " */
        assert_int_equal(sscanf(line, "%c %05d ", &tag, &num), 2);
        assert_true(tag == 'A' || tag == 'B');
        int k = tag - 'A';
        assert_int_equal(num, next[k]);
        next[k]++;
        int pad = (num * 37) % 380;
        size_t len = strlen(line);
        assert_int_equal(len, (size_t)pad_end + (size_t)pad + 5);
        for (int i = 0; i < pad; i++)
            assert_int_equal(line[pad_end + i], 'x');
        assert_string_equal(line + pad_end + pad, " end\n");
    }
    fclose(fp);
    assert_int_equal(next[0], NLINES);
    assert_int_equal(next[1], NLINES);

    /* Mode 0640 (under the usual umask 022 or 027). */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0137, 0);
    unlink(path);
    rmdir(dir);

    /* An unwritable path fails loudly, no crash. */
    struct sk_proxy_logfile *f = NULL;
    assert_int_equal(sk_proxy_logfile_open("/nonexistent/dir/x.log", &f),
                     -SK_EIO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_combined_exact),
        cmocka_unit_test(test_append_no_interleave),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_event_size_bound),
        cmocka_unit_test(test_write_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
