/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the proxy master's control protocol (sk__ctl_request in
 * src/proxy/control.c) and of the metrics listener's routing
 * (sk__metrics_route), on a master with shared state and no workers:
 * every reply is one JSON line, maintenance on and off change the shared
 * table, malformed and unknown requests get {"ok":false}, and a reload
 * during shutdown is refused. The processes themselves are exercised by
 * tests/integration/proxy/master.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/master.h"
#include "proxy/metrics.h"

static struct sk__master m;
static struct sk_proxy_opts opts = {.conf_path = "/nonexistent"};
static struct sk_proxy_shm shm;
static void *metrics;
static struct sk_waf_rules *rules;

static int
setup(void **state)
{
    (void)state;
    metrics = calloc(1, sk_proxy_metrics_size(2));
    rules = sk_waf_rules_new();
    assert_non_null(metrics);
    assert_non_null(rules);
    sk_proxy_metrics_init(metrics, 2);
    assert_int_equal(sk_waf_rules_add_text(
                         rules, "t.conf",
                         "SecRule ARGS \"@streq x\" \"id:1,phase:1,deny\"\n",
                         strlen("SecRule ARGS \"@streq x\" "
                                "\"id:1,phase:1,deny\"\n")),
                     0);
    assert_int_equal(sk_waf_rules_compile(rules), 0);
    memset(&shm, 0, sizeof(shm));
    memset(&m, 0, sizeof(m));
    m.opts = &opts;
    m.shm = &shm;
    m.metrics = metrics;
    m.nslots = 2;
    m.g.rules = rules;
    m.generation = 7;
    m.started = 1000;
    m.reloaded = 2000;
    m.epfd = m.ctl.fd = m.met.fd = -1;
    m.stopping = true; /* a reload is refused, nothing is forked */
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sk_waf_rules_free(rules);
    free(metrics);
    return 0;
}

/* Sends one line, checks the reply is exactly one JSON object line. */
static json_t *
call(const char *line)
{
    struct sk_buf out = {0};
    sk__ctl_request(&m, 0, 42, line, strlen(line), &out);
    assert_true(out.len > 0);
    assert_int_equal(out.p[out.len - 1], '\n');
    assert_ptr_equal(memchr(out.p, '\n', out.len), out.p + out.len - 1);
    json_error_t err;
    json_t *r = json_loadb((const char *)out.p, out.len, 0, &err);
    sk_buf_fini(&out);
    assert_non_null(r);
    assert_true(json_is_object(r));
    assert_true(json_is_boolean(json_object_get(r, "ok")));
    return r;
}

static void
expect_error(const char *line, const char *needle)
{
    json_t *r = call(line);
    assert_true(json_is_false(json_object_get(r, "ok")));
    const char *e = json_string_value(json_object_get(r, "error"));
    assert_non_null(e);
    if (strstr(e, needle) == NULL)
        fail_msg("'%s': error '%s' lacks '%s'", line, e, needle);
    json_decref(r);
}

static void
test_maintenance_on_off(void **state)
{
    (void)state;
    json_t *r = call("{\"op\":\"maintenance\",\"on\":true,\"reason\":"
                     "\"fim.tamper\",\"file\":\"/var/www/pay.php\","
                     "\"paths\":[\"/pay/\",\"/shop//x.php\"]}");
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_t *mt = json_object_get(r, "maintenance");
    assert_true(json_is_true(json_object_get(mt, "on")));
    assert_int_equal(json_array_size(json_object_get(mt, "paths")), 2);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(mt, "paths"), 1)),
        "/shop/x.php");
    json_decref(r);
    assert_int_equal(shm.maint.n, 2);
    assert_string_equal(shm.maint.reason, "fim.tamper");
    assert_string_equal(shm.maint.file, "/var/www/pay.php");
    assert_true(sk_proxy_maint_match(&shm.maint, SK_STR_LIT("/pay/./a")));

    /* Off for one path, then for all. */
    r = call("{\"op\":\"maintenance\",\"on\":false,\"paths\":[\"/pay/\"]}");
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(shm.maint.n, 1);
    assert_false(sk_proxy_maint_match(&shm.maint, SK_STR_LIT("/pay/a")));
    r = call("{\"op\":\"maintenance\",\"on\":false}");
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(shm.maint.n, 0);

    /* Control bytes in the reason do not reach logs or the table. */
    r = call("{\"op\":\"maintenance\",\"on\":true,\"reason\":\"a\\nb\","
             "\"paths\":[\"/x/\"]}");
    json_decref(r);
    assert_string_equal(shm.maint.reason, "a?b");
    sk_proxy_maint_set(&shm.maint, false, NULL, 0, NULL, NULL);
}

static void
test_status(void **state)
{
    (void)state;
    sk_proxy_metrics_request(sk_proxy_metrics_slot(metrics, 0), 200, false,
                             1000);
    sk_proxy_metrics_request(sk_proxy_metrics_slot(metrics, 1), 403, true,
                             1000);
    sk_proxy_metrics_request(sk_proxy_metrics_slot(metrics, 1), 200, false,
                             1000);
    atomic_store(&shm.connections, 5);
    json_t *r = call("{\"op\":\"status\"}");
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "generation")), 7);
    assert_int_equal(json_integer_value(json_object_get(r, "rules")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "workers")), 0);
    assert_int_equal(json_integer_value(json_object_get(r, "started")), 1000);
    assert_int_equal(json_integer_value(json_object_get(r, "reloaded")), 2000);
    assert_int_equal(json_integer_value(json_object_get(r, "requests")), 3);
    assert_int_equal(json_integer_value(json_object_get(r, "blocked")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "connections")), 5);
    assert_true(json_is_false(
        json_object_get(json_object_get(r, "maintenance"), "on")));
    json_decref(r);
}

static void
test_errors(void **state)
{
    (void)state;
    expect_error("{\"op\":\"frobnicate\"}", "unknown op");
    expect_error("{\"op\":\"status\",\"op\":\"status\"}", "not a JSON");
    expect_error("{\"nop\":1}", "missing");
    expect_error("[1,2]", "not a JSON object");
    expect_error("{\"op\":\"maintenance\"", "not a JSON");
    expect_error("{\"op\":\"maintenance\",\"on\":\"yes\"}", "true or false");
    expect_error("{\"op\":\"maintenance\",\"on\":true}", "at least one");
    expect_error("{\"op\":\"maintenance\",\"on\":true,\"paths\":[1]}",
                 "string");
    expect_error("{\"op\":\"maintenance\",\"on\":true,\"paths\":\"/x\"}",
                 "array");
    expect_error("{\"op\":\"maintenance\",\"on\":true,\"paths\":[\"/a\\u0000"
                 "b\"]}",
                 "NUL");
    expect_error("{\"op\":\"maintenance\",\"on\":true,\"paths\":[\"rel\"]}",
                 "start with '/'");
    expect_error("{\"op\":\"maintenance\",\"on\":true,\"reason\":5,"
                 "\"paths\":[\"/a\"]}",
                 "strings");
    /* 33 paths. */
    char big[2048] = "{\"op\":\"maintenance\",\"on\":true,\"paths\":[";
    for (int i = 0; i <= SK_PROXY_MAINT_MAX; i++) {
        char p[16];
        snprintf(p, sizeof(p), "%s\"/p%d\"", i ? "," : "", i);
        strcat(big, p);
    }
    strcat(big, "]}");
    expect_error(big, "at most");
    /* A reload during shutdown is refused with the reason. */
    expect_error("{\"op\":\"reload\"}", "shutting down");
    assert_int_equal(shm.maint.n, 0);

    /* Too long, and blank lines. */
    size_t n = SK__CTL_LINE_MAX + 10;
    char *line = malloc(n + 1);
    assert_non_null(line);
    memset(line, 'a', n);
    memcpy(line, "{\"op\":\"status\",\"x\":\"", 20);
    line[n] = '\0';
    struct sk_buf out = {0};
    sk__ctl_request(&m, 0, 1, line, n, &out);
    assert_non_null(strstr(sk_buf_cstr(&out), "64 KiB"));
    sk_buf_fini(&out);
    free(line);
    sk__ctl_request(&m, 0, 1, "  \r", 3, &out);
    assert_int_equal(out.len, 0);
}

static void
test_metrics_route(void **state)
{
    (void)state;
    bool head;
#define ROUTE(s) sk__metrics_route((const uint8_t *)(s), strlen(s), &head)
    assert_int_equal(ROUTE("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    assert_false(head);
    assert_int_equal(ROUTE("HEAD /metrics HTTP/1.0\r\n\r\n"), 200);
    assert_true(head);
    assert_int_equal(ROUTE("GET /metrics?name[]=x HTTP/1.1\r\n\r\n"), 200);
    assert_int_equal(ROUTE("GET / HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(ROUTE("POST /metrics HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(ROUTE("GET /metricsx HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(ROUTE("GET /metrics HTTP/2.0\r\n\r\n"), 400);
    assert_int_equal(ROUTE("GET /metrics\r\n\r\n"), 400);
    assert_int_equal(ROUTE("GET /metrics HTTP/1.x\r\n\r\n"), 400);
    assert_int_equal(ROUTE(""), 400);
    assert_int_equal(ROUTE("\r\n\r\n"), 400);
#undef ROUTE
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maintenance_on_off),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_metrics_route),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
