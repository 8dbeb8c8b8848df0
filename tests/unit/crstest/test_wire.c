/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of crs-test over the wire (src/crstest/wire.c) against a fake
 * proxy in a thread on 127.0.0.1 (an ephemeral port) that answers by path
 * and appends audit records after it answered, in the shape of
 * docs/formats/audit-log.md:
 *  - an exchange reads status, X-Sekimori-Id and a Content-Length,
 *    chunked or interim (100) response, and reports a close without
 *    answer;
 *  - the audit follower finds a record written after the answer, keeps
 *    records of other ids for later, and times out on a missing one;
 *  - round trip: the lines rebuilt from a real audit record
 *    (sk_proxy_audit_format) equal the in-process runner's
 *    (sk_waf_txn_format_match);
 *  - `sekimori crs-test --target` (argv[1]) runs data/wire.yaml (argv[2])
 *    against the fake proxy with the expected passes and failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crstest/wire.h"
#include "http/http.h"
#include "proxy/plog.h"
#include "sekimori/waf.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/log.h"

static const char *sekimori_path, *yaml_path;
static char tmpdir[64], audit_path[128];
static int lfd = -1;
static char port_s[16];
static pthread_t srv_th;
static volatile int srv_stop;
static unsigned srv_seq;

static void
append_audit(const char *json)
{
    FILE *f = fopen(audit_path, "a");
    if (f == NULL)
        return;
    fprintf(f, "%s\n", json);
    fclose(f);
}

/* An audit record of the fake proxy, as plog writes them. */
static void
audit_record(const char *id, int code, bool blocked, const char *error,
             bool with_match)
{
    char rec[2048];
    snprintf(rec, sizeof(rec),
             "{\"transaction\":{\"client_ip\":\"127.0.0.1\",\"unique_id\":"
             "\"%s\",\"request\":{\"method\":\"GET\"},\"response\":{"
             "\"http_code\":%d,\"headers\":{}},\"producer\":{"
             "\"secrules_engine\":\"DetectionOnly\"},\"messages\":[%s],"
             "\"sekimori\":{\"blocked\":%s,\"error\":%s%s%s}}}",
             id, code,
             with_match
                 ? "{\"message\":\"SQL Injection \\\"x\\\"\",\"details\":{"
                   "\"match\":\"Matched variable `ARGS:id'\",\"ruleId\":"
                   "\"942100\",\"file\":\"r.conf\",\"lineNumber\":\"7\","
                   "\"data\":\"d\",\"severity\":\"2\",\"tags\":[\"sqli\"],"
                   "\"disruptive\":true}}"
                 : "",
             blocked ? "true" : "false", error ? "\"" : "null",
             error ? error : "", error ? "\"" : "");
    append_audit(rec);
}

static void
handle(int fd)
{
    char req[8192];
    size_t n = 0;
    while (n < sizeof(req) - 1) {
        ssize_t r = read(fd, req + n, sizeof(req) - 1 - n);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    char id[64], other[64], resp[1024];
    unsigned k = __atomic_add_fetch(&srv_seq, 1, __ATOMIC_RELAXED);
    snprintf(id, sizeof(id), "fake-%u", k);
    snprintf(other, sizeof(other), "other-%u", k);
    const char *path = strchr(req, ' ');
    path = path ? path + 1 : "";
    /* A record of another transaction comes first: it must be kept. */
    audit_record(other, 200, false, NULL, true);
    if (strncmp(path, "/block ", 7) == 0) {
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 403 Forbidden\r\nX-Sekimori-Id: %s\r\n"
                 "Content-Length: 6\r\n\r\ndenied",
                 id);
        (void)!write(fd, resp, strlen(resp));
        usleep(50 * 1000); /* the record comes after the answer */
        audit_record(id, 403, true, NULL, true);
    } else if (strncmp(path, "/chunked ", 9) == 0) {
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                 "x-sekimori-id: %s\r\n\r\n5\r\nhello\r\n6\r\n world\r\n"
                 "0\r\n\r\n",
                 id);
        (void)!write(fd, resp, strlen(resp));
        audit_record(id, 200, false, NULL, false);
    } else if (strncmp(path, "/refuse ", 8) == 0) {
        audit_record(id, 400, false, "http: bare CR", false);
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 400 Bad Request\r\nX-Sekimori-Id: %s\r\n"
                 "Connection: close\r\nContent-Length: 0\r\n\r\n",
                 id);
        (void)!write(fd, resp, strlen(resp));
    } else if (strncmp(path, "/interim ", 9) == 0) {
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 100 Continue\r\n\r\n"
                 "HTTP/1.1 200 OK\r\nX-Sekimori-Id: %s\r\n"
                 "Content-Length: 11\r\n\r\nhello world",
                 id);
        (void)!write(fd, resp, strlen(resp));
        audit_record(id, 200, false, NULL, false);
    } else if (strncmp(path, "/late ", 6) == 0) {
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 200 OK\r\nX-Sekimori-Id: %s\r\n"
                 "Content-Length: 0\r\n\r\n",
                 id);
        (void)!write(fd, resp, strlen(resp));
    } else if (strncmp(path, "/noid ", 6) == 0) {
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        (void)!write(fd, resp, strlen(resp));
    }
    /* "/close" and anything else: no answer. */
}

static void *
serve(void *arg)
{
    (void)arg;
    while (!srv_stop) {
        int fd = accept(lfd, NULL, NULL);
        if (fd == -1)
            break;
        handle(fd);
        close(fd);
    }
    return NULL;
}

static int
setup(void **state)
{
    (void)state;
    sk_log_set_level(SK_LOG_ERROR);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/crswire-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(audit_path, sizeof(audit_path), "%s/audit.log", tmpdir);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd != -1);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(port_s, sizeof(port_s), "%u", ntohs(sa.sin_port));
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(pthread_create(&srv_th, NULL, serve, NULL), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    srv_stop = 1;
    shutdown(lfd, SHUT_RDWR);
    pthread_join(srv_th, NULL);
    close(lfd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct sk_str
get(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    return sk_str_c(buf);
}

static void
test_exchange(void **state)
{
    (void)state;
    struct sk_crswire_audit *a;
    assert_int_equal(sk_crswire_audit_open(audit_path, &a), 0);
    char buf[256];
    struct sk_crswire_result r;
    struct sk_buf lines = {0};
    bool refused;

    assert_int_equal(sk_crswire_exchange("127.0.0.1", port_s,
                                         get("/block", buf, sizeof(buf)), 3000,
                                         &r),
                     0);
    assert_true(r.responded);
    assert_int_equal(r.status, 403);
    assert_true(strncmp(r.id, "fake-", 5) == 0);
    assert_int_equal(r.body.len, 6);
    assert_memory_equal(r.body.p, "denied", 6);
    assert_int_equal(sk_crswire_audit_find(a, r.id, 2000, &lines, &refused), 0);
    assert_false(refused);
    assert_string_equal(
        sk_buf_cstr(&lines),
        "ModSecurity: Warning. Matched variable `ARGS:id' [file \"r.conf\"] "
        "[line \"7\"] [id \"942100\"] [msg \"SQL Injection \\\"x\\\"\"] "
        "[data \"d\"] [severity \"2\"] [tag \"sqli\"] [unique_id "
        "\"fake-1\"]\n");
    sk_buf_fini(&r.body);

    /* The other record written before is found without reading again. */
    sk_buf_clear(&lines);
    assert_int_equal(sk_crswire_audit_find(a, "other-1", 0, &lines, &refused),
                     0);
    assert_non_null(strstr(sk_buf_cstr(&lines), "[unique_id \"other-1\"]"));

    sk_buf_clear(&lines);
    assert_int_equal(sk_crswire_exchange("127.0.0.1", port_s,
                                         get("/chunked", buf, sizeof(buf)),
                                         3000, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 11);
    assert_memory_equal(r.body.p, "hello world", 11);
    assert_int_equal(sk_crswire_audit_find(a, r.id, 2000, &lines, &refused), 0);
    assert_int_equal(lines.len, 0);
    sk_buf_fini(&r.body);

    assert_int_equal(sk_crswire_exchange("127.0.0.1", port_s,
                                         get("/refuse", buf, sizeof(buf)), 3000,
                                         &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_int_equal(sk_crswire_audit_find(a, r.id, 2000, &lines, &refused), 0);
    assert_true(refused);
    sk_buf_fini(&r.body);

    assert_int_equal(sk_crswire_exchange("127.0.0.1", port_s,
                                         get("/close", buf, sizeof(buf)), 3000,
                                         &r),
                     0);
    assert_false(r.responded);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.why, "without a response"));
    sk_buf_fini(&r.body);

    assert_int_equal(sk_crswire_exchange("127.0.0.1", port_s,
                                         get("/interim", buf, sizeof(buf)),
                                         3000, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 11);
    sk_buf_fini(&r.body);

    /* No record for this id: the wait ends in time. */
    assert_int_equal(sk_crswire_exchange("127.0.0.1", port_s,
                                         get("/late", buf, sizeof(buf)), 3000,
                                         &r),
                     0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(sk_crswire_audit_find(a, r.id, 300, &lines, &refused),
                     -SK_ENOENT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 290 && ms < 1500);
    sk_buf_fini(&r.body);

    /* Nobody listening: an error, quickly. */
    assert_int_equal(sk_crswire_exchange("127.0.0.1", "1",
                                         get("/", buf, sizeof(buf)), 1000, &r),
                     -SK_EIO);
    assert_non_null(strstr(r.why, "connect"));
    sk_buf_fini(&r.body);

    assert_int_equal(sk_crswire_audit_bad_lines(a), 0);
    sk_buf_fini(&lines);
    sk_crswire_audit_free(a);
}

/* The lines rebuilt from a real audit record equal the in-process ones. */
static void
test_round_trip(void **state)
{
    (void)state;
    static const char rules_text[] =
        "SecRuleEngine On\n"
        "SecRule ARGS \"@rx (?i)union\" \"id:942999,phase:2,deny,log,"
        "msg:'SQLi \\\"union\\\" in %{MATCHED_VAR_NAME}',"
        "logdata:'Matched Data: %{MATCHED_VAR}',severity:2,"
        "tag:'attack-sqli',tag:'paranoia-level/1'\"\n"
        "SecRule REQUEST_HEADERS:User-Agent \"@rx bot\" \"id:913999,"
        "phase:1,pass,log,msg:'bot'\"\n";
    struct sk_waf_rules *rules = sk_waf_rules_new();
    assert_int_equal(
        sk_waf_rules_add_text(rules, "rt.conf", rules_text, strlen(rules_text)),
        0);
    if (sk_waf_rules_compile(rules) != 0)
        fail_msg("%s", sk_waf_rules_errors(rules));
    struct sk_arena *ar = sk_arena_new(0);
    struct sk_http_request req;
    enum sk_http_err herr;
    struct sk_str raw =
        SK_STR_LIT("GET /?q=1%20UNION%20select%20%22a\\b%22 HTTP/1.1\r\n"
                   "Host: x\r\nUser-Agent: evilbot\r\n\r\n");
    assert_int_equal(sk_http_parse_head(ar, raw, &req, &herr), 0);
    struct sk_waf_txn *t = sk_waf_txn_new(rules, "rt-1");
    assert_int_equal(sk_waf_txn_connection(t, "127.0.0.1", 1, "127.0.0.1", 2),
                     0);
    assert_int_equal(
        sk_waf_txn_request_line(t, (const char *)req.method.p, req.method.len,
                                (const char *)req.target.p, req.target.len,
                                (const char *)req.protocol.p, req.protocol.len),
        0);
    for (size_t i = 0; i < req.nheaders; i++)
        assert_int_equal(
            sk_waf_txn_request_header(
                t, (const char *)req.headers[i].name.p, req.headers[i].name.len,
                (const char *)req.headers[i].value.p, req.headers[i].value.len),
            0);
    assert_int_equal(sk_waf_txn_phase(t, 2), 0);
    assert_int_equal(sk_waf_txn_match_count(t), 2);
    struct sk_buf inproc = {0};
    char line[8192];
    for (size_t i = 0; i < sk_waf_txn_match_count(t); i++) {
        sk_waf_txn_format_match(t, i, line, sizeof(line));
        assert_int_equal(sk_buf_append_c(&inproc, line), 0);
        assert_int_equal(sk_buf_putc(&inproc, '\n'), 0);
    }
    struct sk_proxy_txn_info ti = {.id = "rt-1",
                                   .client_ip = "127.0.0.1",
                                   .req = &req,
                                   .status = 403,
                                   .blocked = true,
                                   .waf = t};
    struct sk_buf audit = {0}, wire = {0};
    assert_int_equal(sk_proxy_audit_format(&ti, &audit), 0);
    bool refused = true;
    assert_int_equal(sk_crswire_record_lines((const char *)audit.p, audit.len,
                                             &wire, &refused),
                     0);
    assert_false(refused);
    assert_string_equal(sk_buf_cstr(&wire), sk_buf_cstr(&inproc));
    assert_non_null(strstr(sk_buf_cstr(&wire), "ModSecurity: Access denied."));
    sk_buf_fini(&audit);
    sk_buf_fini(&wire);
    sk_buf_fini(&inproc);
    sk_waf_txn_free(t);
    sk_arena_free(ar);
    sk_waf_rules_free(rules);

    /* A refused request line with a NUL byte (escaped \u0000) is read. */
    static const char nul_rec[] =
        "{\"transaction\":{\"unique_id\":\"n1\",\"response\":{"
        "\"http_code\":400},\"messages\":[],\"sekimori\":{\"blocked\":"
        "false,\"error\":\"http: bad method\",\"request_line\":"
        "\"G\\u0000T / HTTP/1.1\"}}}";
    refused = false;
    assert_int_equal(
        sk_crswire_record_lines(nul_rec, sizeof(nul_rec) - 1, &wire, &refused),
        0);
    assert_true(refused);
    assert_int_equal(wire.len, 0);

    /* Not an audit record. */
    assert_int_equal(sk_crswire_record_lines("[1]", 3, &wire, &refused),
                     -SK_EPARSE);
    assert_int_equal(
        sk_crswire_record_lines("{\"transaction\":", 15, &wire, &refused),
        -SK_EPARSE);
}

static void
test_cli(void **state)
{
    (void)state;
    char cmd[1024], out[128];
    snprintf(out, sizeof(out), "%s/cli.out", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "'%s' crs-test --target 127.0.0.1:%s --audit-log '%s' "
             "--audit-wait 300 --timeout 2000 '%s' > '%s' 2>&1",
             sekimori_path, port_s, audit_path, yaml_path, out);
    int st = system(cmd);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 1 ||
        strstr(text, "7 passed, 3 failed\n") == NULL ||
        strstr(text, "FAIL wire-fail-missing-record: log lacks /id \"942100\"/ "
                     "(no audit record for fake-") == NULL ||
        strstr(text, "FAIL wire-fail-noid: log lacks /id \"1\"/ (status 200 "
                     "without X-Sekimori-Id)") == NULL ||
        strstr(text, "FAIL wire-fail-status: status 403 not among the "
                     "expected") == NULL ||
        strstr(text, "stages without an audit record: 1, without "
                     "X-Sekimori-Id: 1") == NULL)
        fail_msg("unexpected crs-test result (status %d):\n%s", st, text);

    /* Usage errors. */
    snprintf(cmd, sizeof(cmd),
             "'%s' crs-test --target nonsense --audit-log x '%s' >/dev/null "
             "2>&1",
             sekimori_path, yaml_path);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    snprintf(cmd, sizeof(cmd),
             "'%s' crs-test --target 127.0.0.1:1 '%s' >/dev/null 2>&1",
             sekimori_path, yaml_path);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    /* An unreachable target stops the run (exit 2), it does not fail
     * every test. */
    snprintf(cmd, sizeof(cmd),
             "'%s' crs-test --target 127.0.0.1:1 --audit-log x '%s' "
             ">/dev/null 2>&1",
             sekimori_path, yaml_path);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_wire SEKIMORI WIRE.yaml\n");
        return 2;
    }
    sekimori_path = argv[1];
    yaml_path = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exchange),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
