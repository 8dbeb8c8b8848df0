/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori crs-test [--setup FILE] [--overrides FILE] [-v] DIR|FILE...`:
 * runs the OWASP CRS regression suite (ftw YAML) in-process. Each stage's
 * exact request bytes go through the same strict HTTP parser and rule
 * engine as live traffic; the matched rules are rendered as
 * ModSecurity-style log lines, and the test's log_contains /
 * no_log_contains / status / expect_error are judged against them.
 *
 * With `--target HOST:PORT --audit-log FILE` the stages go over TCP to a
 * live `sekimori proxy` instead (src/crstest/wire.c): the status is the
 * proxy's answer, and the log lines are rebuilt from the proxy's audit
 * record of the transaction, found by the X-Sekimori-Id response header.
 *
 * Output: each failing test's title and reason, per-file counts, the
 * tests of disabled files apart, and last `N passed, N failed`. Exit code
 * 0 when no counted test failed, 1 otherwise, 2 on usage or load errors.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "crstest/ftw.h"
#include "crstest/wire.h"
#include "http/http.h"
#include "sekimori/waf.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"

struct counts {
    unsigned passed, failed, overridden;
};

struct run {
    struct sk_waf_rules *rules; /* in-process; NULL with --target */
    /* --target: the proxy, its audit log, and the time limits. */
    char *host, *port;
    struct sk_crswire_audit *audit;
    unsigned timeout_ms, wait_ms;
    unsigned no_record, no_id; /* stages judged without their record */
    struct sk_ftw_override *ovr;
    size_t novr;
    bool verbose;
    struct counts total, disabled;
    unsigned files, disabled_files;
};

/* The outcome of sending one stage. */
struct outcome {
    int status;        /* what a proxy would answer */
    bool error;        /* refused at the HTTP layer (connection closed) */
    struct sk_buf log; /* ModSecurity-style lines of the matched rules */
    char reason[400];  /* why the HTTP layer refused it, transport trouble */
    bool have_body;    /* --target: the response body is in `body` */
    struct sk_buf body;
};

static int
sink_body(void *ud, const uint8_t *p, size_t n)
{
    return sk_buf_append(ud, p, n);
}

static bool
regex_search(const char *re, struct sk_str subject, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0,
                                  &code, &off, NULL);
    if (c == NULL) {
        snprintf(err, errlen, "bad regex in test: %s", re);
        return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = md ? pcre2_match(c, subject.p, subject.len, 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc >= 0;
}

/*
 * Sends one request through the HTTP parser and the engine, as the proxy
 * will: a refused request gets 400 (or the parser's status) and no rules.
 */
static int
run_stage(struct run *run, const struct sk_ftw_stage *st, struct outcome *o)
{
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return -SK_ENOMEM;
    struct sk_http_request req;
    enum sk_http_err herr = SK_HTTP_OK;
    int rc = sk_http_parse_head(a, st->request, &req, &herr);
    o->status = 200;
    if (rc == SK_AGAIN) {
        snprintf(o->reason, sizeof(o->reason), "incomplete request head");
        o->status = 400;
        o->error = true;
        sk_arena_free(a);
        return 0;
    }
    if (rc != 0) {
        if (rc == -SK_ENOMEM) {
            sk_arena_free(a);
            return rc;
        }
        snprintf(o->reason, sizeof(o->reason), "refused: %s",
                 sk_http_strerror(herr));
        o->status = sk_http_err_status(herr);
        o->error = true;
        sk_arena_free(a);
        return 0;
    }
    struct sk_str rest = sk_str_make(st->request.p + req.head_len,
                                     st->request.len - req.head_len);
    struct sk_buf body = {0};
    if (req.body_kind == SK_HTTP_BODY_LENGTH) {
        if (req.content_length > rest.len) {
            /* A server would wait for the rest and time out. */
            snprintf(o->reason, sizeof(o->reason),
                     "body shorter than Content-Length");
            o->status = 400;
            o->error = true;
            sk_arena_free(a);
            return 0;
        }
        rc = sk_buf_append(&body, rest.p, (size_t)req.content_length);
    } else if (req.body_kind == SK_HTTP_BODY_CHUNKED) {
        struct sk_http_chunked ch = {0};
        size_t used = 0;
        rc = sk_http_chunked_decode(&ch, rest, &used, sink_body, &body, &herr);
        if (rc == 0 && !ch.done) {
            snprintf(o->reason, sizeof(o->reason), "incomplete chunked body");
            o->status = 400;
            o->error = true;
            sk_buf_fini(&body);
            sk_arena_free(a);
            return 0;
        }
        if (rc == -SK_EPARSE) {
            snprintf(o->reason, sizeof(o->reason), "refused: %s",
                     sk_http_strerror(herr));
            o->status = sk_http_err_status(herr);
            o->error = true;
            sk_buf_fini(&body);
            sk_arena_free(a);
            return 0;
        }
    }
    if (rc != 0) {
        sk_buf_fini(&body);
        sk_arena_free(a);
        return rc;
    }

    struct sk_waf_txn *t = sk_waf_txn_new(run->rules, NULL);
    if (t == NULL) {
        sk_buf_fini(&body);
        sk_arena_free(a);
        return -SK_ENOMEM;
    }
    rc = sk_waf_txn_connection(t, "127.0.0.1", 40000,
                               st->dest_addr ? st->dest_addr : "127.0.0.1",
                               st->port ? st->port : 80);
    if (rc == 0)
        rc = sk_waf_txn_request_line(
            t, (const char *)req.method.p, req.method.len,
            (const char *)req.target.p, req.target.len,
            (const char *)req.protocol.p, req.protocol.len);
    for (size_t i = 0; rc == 0 && i < req.nheaders; i++)
        rc = sk_waf_txn_request_header(
            t, (const char *)req.headers[i].name.p, req.headers[i].name.len,
            (const char *)req.headers[i].value.p, req.headers[i].value.len);
    if (rc == 0)
        rc = sk_waf_txn_phase(t, 1);
    if (rc == 0 && body.len > 0)
        rc = sk_waf_txn_request_body(t, body.p, body.len);
    if (rc == 0)
        rc = sk_waf_txn_phase(t, 2);
    /* The upstream's answer: a small HTML page, as the suite's web
     * server would send for "/". */
    static const char page[] = "<html><body>ok</body></html>\n";
    if (rc == 0)
        rc = sk_waf_txn_response_status(t, 200, "HTTP/1.1");
    if (rc == 0)
        rc = sk_waf_txn_response_header(t, "Content-Type", 12, "text/html", 9);
    if (rc == 0)
        rc = sk_waf_txn_phase(t, 3);
    if (rc == 0)
        rc = sk_waf_txn_response_body(t, page, sizeof(page) - 1);
    if (rc == 0)
        rc = sk_waf_txn_phase(t, 5);
    if (rc == 0) {
        struct sk_waf_verdict v;
        sk_waf_txn_verdict(t, &v);
        if (v.action == SK_WAF_DENY || v.action == SK_WAF_REDIRECT)
            o->status = v.status;
        else if (v.action == SK_WAF_DROP)
            o->error = true;
        char line[8192];
        for (size_t i = 0; i < sk_waf_txn_match_count(t) && rc == 0; i++) {
            sk_waf_txn_format_match(t, i, line, sizeof(line));
            rc = sk_buf_append_c(&o->log, line);
            if (rc == 0)
                rc = sk_buf_putc(&o->log, '\n');
        }
    }
    sk_waf_txn_free(t);
    sk_buf_fini(&body);
    sk_arena_free(a);
    return rc;
}

/*
 * Sends one stage to the proxy and reads its audit record. A stage the
 * proxy answered without a record in time is judged on an empty log, and
 * the reason says so. Returns -SK_EIO when the proxy cannot be reached
 * (the run stops), -SK_ENOMEM, else 0.
 */
static int
run_stage_wire(struct run *run, const struct sk_ftw_stage *st,
               struct outcome *o)
{
    struct sk_crswire_result r;
    int rc = sk_crswire_exchange(run->host, run->port, st->request,
                                 run->timeout_ms, &r);
    if (rc != 0) {
        if (rc == -SK_EIO)
            fprintf(stderr, "crs-test: %s\n", r.why);
        sk_buf_fini(&r.body);
        return rc;
    }
    o->status = r.status;
    o->body = r.body;
    o->have_body = r.responded;
    if (!r.responded) {
        /* Closed or timed out without an answer: what ftw calls an
         * error, like a refusal of the in-process HTTP layer. */
        o->error = true;
        snprintf(o->reason, sizeof(o->reason), "%s", r.why);
    }
    if (r.id[0] == '\0') {
        if (r.responded) {
            run->no_id++;
            snprintf(o->reason, sizeof(o->reason),
                     "status %d without X-Sekimori-Id%s%.200s", r.status,
                     r.why[0] ? ", " : "", r.why);
        }
        return 0;
    }
    bool refused = false;
    rc = sk_crswire_audit_find(run->audit, r.id, run->wait_ms, &o->log,
                               &refused);
    if (rc == -SK_ENOENT || rc == -SK_EPARSE) {
        run->no_record++;
        snprintf(o->reason, sizeof(o->reason),
                 "%s audit record for %.127s within %u ms%s%.200s",
                 rc == -SK_ENOENT ? "no" : "unreadable", r.id, run->wait_ms,
                 r.why[0] ? "; " : "", r.why);
        return 0;
    }
    if (rc != 0)
        return rc;
    if (refused) {
        /* The proxy refused the request at the HTTP layer: it answers
         * 400 (with the id) and closes, where ftw saw an error. */
        o->error = true;
        snprintf(o->reason, sizeof(o->reason), "refused by the proxy with %d",
                 r.status);
    }
    return 0;
}

static const struct sk_ftw_override *
find_override(const struct run *run, const char *title)
{
    for (size_t i = 0; i < run->novr; i++)
        if (strcmp(run->ovr[i].test_title, title) == 0)
            return &run->ovr[i];
    return NULL;
}

/* Judges one stage; returns true when it passes, else fills `why`. */
static bool
judge(const struct sk_ftw_output *out, const struct sk_ftw_override *ovr,
      struct outcome *o, char *why, size_t wl)
{
    const char *lc = out->log_contains, *nlc = out->no_log_contains;
    if (ovr != NULL) {
        if (ovr->expect_pass_anyway)
            return true;
        if (ovr->log_contains || ovr->no_log_contains) {
            lc = ovr->log_contains;
            nlc = ovr->no_log_contains;
        }
    }
    struct sk_str log = sk_buf_str(&o->log);
    if (out->has_expect_error && out->expect_error && !o->error) {
        snprintf(why, wl, "expected an error, got status %d", o->status);
        return false;
    }
    if (lc != NULL && !regex_search(lc, log, why, wl)) {
        if (o->reason[0] != '\0')
            snprintf(why, wl, "log lacks /%s/ (%.400s)", lc, o->reason);
        else
            snprintf(why, wl, "log lacks /%s/", lc);
        return false;
    }
    if (nlc != NULL && regex_search(nlc, log, why, wl)) {
        snprintf(why, wl, "log has /%s/", nlc);
        return false;
    }
    /* Only a live proxy gives a body to look at (in-process there is no
     * upstream, and CRS 3.3.4 has no such test). */
    if (out->response_contains != NULL && o->have_body &&
        !regex_search(out->response_contains, sk_buf_str(&o->body), why, wl)) {
        snprintf(why, wl, "response lacks /%s/", out->response_contains);
        return false;
    }
    if (out->nstatus > 0 && lc == NULL && nlc == NULL) {
        bool ok = false;
        for (size_t i = 0; i < out->nstatus; i++)
            if (out->status[i] == o->status)
                ok = true;
        if (!ok) {
            if (o->reason[0] != '\0')
                snprintf(why, wl, "status %d not among the expected (%.400s)",
                         o->status, o->reason);
            else
                snprintf(why, wl, "status %d not among the expected",
                         o->status);
            return false;
        }
    }
    return true;
}

static int
run_file(struct run *run, const char *path)
{
    struct sk_arena *a = sk_arena_new(0);
    struct sk_diag d = {0};
    struct sk_ftw_file f;
    if (a == NULL)
        return -SK_ENOMEM;
    int rc = sk_ftw_load(a, path, &f, &d);
    if (rc != 0) {
        fprintf(stderr, "%s", sk_diag_text(&d));
        sk_diag_fini(&d);
        sk_arena_free(a);
        return rc;
    }
    sk_diag_fini(&d);
    struct counts c = {0};
    for (size_t i = 0; i < f.ntests; i++) {
        const struct sk_ftw_test *test = &f.tests[i];
        const struct sk_ftw_override *ovr = find_override(run, test->title);
        bool pass = true;
        char why[512] = "";
        for (size_t s = 0; s < test->nstages && pass; s++) {
            struct outcome o;
            memset(&o, 0, sizeof(o));
            rc = run->host ? run_stage_wire(run, &test->stages[s], &o)
                           : run_stage(run, &test->stages[s], &o);
            if (rc != 0) {
                sk_buf_fini(&o.log);
                sk_buf_fini(&o.body);
                sk_arena_free(a);
                return rc;
            }
            pass = judge(&test->stages[s].out, ovr, &o, why, sizeof(why));
            if (run->verbose)
                printf("--- %s stage %zu status %d%s%s log:\n%s", test->title,
                       s, o.status, o.reason[0] ? ", " : "", o.reason,
                       sk_buf_cstr(&o.log) ? sk_buf_cstr(&o.log) : "");
            sk_buf_fini(&o.log);
            sk_buf_fini(&o.body);
        }
        if (pass) {
            c.passed++;
            if (ovr != NULL)
                c.overridden++;
        } else {
            c.failed++;
            printf("FAIL %s%s: %s\n", test->title,
                   f.enabled ? "" : " (disabled file)", why);
        }
    }
    printf("file %s: %u passed, %u failed%s\n", f.name ? f.name : path,
           c.passed, c.failed, f.enabled ? "" : " (disabled, not counted)");
    struct counts *sum = f.enabled ? &run->total : &run->disabled;
    sum->passed += c.passed;
    sum->failed += c.failed;
    sum->overridden += c.overridden;
    if (f.enabled)
        run->files++;
    else
        run->disabled_files++;
    sk_arena_free(a);
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Runs every *.yaml under `path` (recursively, in sorted order). */
static int
run_path(struct run *run, const char *path)
{
    struct stat st;
    if (stat(path, &st) == -1) {
        perror(path);
        return -SK_ENOENT;
    }
    if (!S_ISDIR(st.st_mode)) {
        size_t n = strlen(path);
        if (n < 5 || strcmp(path + n - 5, ".yaml") != 0)
            return 0;
        return run_file(run, path);
    }
    DIR *dir = opendir(path);
    if (dir == NULL) {
        perror(path);
        return -SK_EIO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (nn == NULL) {
                rc = -SK_ENOMEM;
                break;
            }
            names = nn;
        }
        size_t len = strlen(path) + 1 + strlen(e->d_name) + 1;
        names[n] = malloc(len);
        if (names[n] == NULL) {
            rc = -SK_ENOMEM;
            break;
        }
        snprintf(names[n], len, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(dir);
    if (rc == 0 && n > 0)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = run_path(run, names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: sekimori crs-test --setup FILE [--overrides FILE] [-v] "
            "DIR|FILE...\n"
            "       sekimori crs-test --target HOST:PORT --audit-log FILE\n"
            "           [--timeout MS] [--audit-wait MS] [--overrides FILE] "
            "[-v] DIR|FILE...\n"
            "  --setup FILE      rule configuration to load (SecLang)\n"
            "  --overrides FILE  tests judged differently, with reasons\n"
            "  --target H:P      send each stage to a live sekimori proxy\n"
            "  --audit-log FILE  that proxy's audit log (audit mode all)\n"
            "  --timeout MS      limit of one exchange (default 5000)\n"
            "  --audit-wait MS   wait for a stage's audit record (default "
            "2000)\n"
            "  -v                print every stage's status and log\n"
            "Runs ftw-format YAML tests in-process, or over the wire with\n"
            "--target; last line is `N passed, N failed`. Exit: 0 all\n"
            "counted tests passed, 1 some failed, 2 usage or load error\n"
            "(or the target unreachable).\n");
}

/* Splits "host:port", "[v6]:port"; 0 or -SK_EINVAL. */
static int
split_target(const char *t, struct run *run)
{
    const char *colon = strrchr(t, ':');
    if (colon == NULL || colon == t || colon[1] == '\0')
        return -SK_EINVAL;
    const char *h = t;
    size_t hl = (size_t)(colon - t);
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return -SK_EINVAL;
        h++;
        hl -= 2;
    }
    for (const char *p = colon + 1; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return -SK_EINVAL;
    run->host = strndup(h, hl);
    run->port = strdup(colon + 1);
    return run->host && run->port ? 0 : -SK_ENOMEM;
}

static bool
parse_ms(const char *s, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || v == 0 || v > 600000)
        return false;
    *out = (unsigned)v;
    return true;
}

/* The whole run over the wire (--target). */
static int
crs_test_target(struct run *run, const char *target, const char *audit_log,
                const char *overrides, int argc, char **argv, int i)
{
    int rc = split_target(target, run);
    if (rc != 0) {
        fprintf(stderr, "crs-test: bad --target %s (want HOST:PORT)\n", target);
        free(run->host);
        free(run->port);
        return SK_EXIT_USAGE;
    }
    struct sk_arena *oa = sk_arena_new(0);
    if (oa == NULL || sk_crswire_audit_open(audit_log, &run->audit) != 0) {
        sk_arena_free(oa);
        free(run->host);
        free(run->port);
        return SK_EXIT_INTERNAL;
    }
    int ret = SK_EXIT_OK;
    if (overrides != NULL) {
        struct sk_diag d = {0};
        rc = sk_ftw_load_overrides(oa, overrides, &run->ovr, &run->novr, &d);
        if (rc != 0) {
            fprintf(stderr, "%scrs-test: bad overrides file\n",
                    sk_diag_text(&d));
            ret = SK_EXIT_USAGE;
        }
        sk_diag_fini(&d);
    }
    if (ret == SK_EXIT_OK) {
        fprintf(stderr,
                "crs-test: sending to %s, reading audit records from %s\n",
                target, audit_log);
        for (; i < argc && rc == 0; i++)
            rc = run_path(run, argv[i]);
        if (rc != 0) {
            fprintf(stderr, "crs-test: %s\n", sk_strerror(rc));
            ret = rc == -SK_ENOMEM ? SK_EXIT_INTERNAL : SK_EXIT_USAGE;
        }
    }
    if (ret == SK_EXIT_OK) {
        printf("disabled files: %u, their tests: %u passed, %u failed (not "
               "counted)\n",
               run->disabled_files, run->disabled.passed, run->disabled.failed);
        printf("stages without an audit record: %u, without X-Sekimori-Id: "
               "%u, unreadable audit lines: %zu\n",
               run->no_record, run->no_id,
               sk_crswire_audit_bad_lines(run->audit));
        printf("files: %u, overridden tests passed: %u of %zu overrides\n",
               run->files, run->total.overridden, run->novr);
        printf("%u passed, %u failed\n", run->total.passed, run->total.failed);
        ret = run->total.failed == 0 ? SK_EXIT_OK : SK_EXIT_FAIL;
    }
    sk_crswire_audit_free(run->audit);
    sk_arena_free(oa);
    free(run->host);
    free(run->port);
    return ret;
}

int
sk_cli_crs_test(int argc, char **argv)
{
    const char *setup = NULL, *overrides = NULL, *target = NULL,
               *audit_log = NULL;
    struct run run;
    memset(&run, 0, sizeof(run));
    run.timeout_ms = 5000;
    run.wait_ms = 2000;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--setup") == 0 && i + 1 < argc)
            setup = argv[++i];
        else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
            target = argv[++i];
        else if (strcmp(argv[i], "--audit-log") == 0 && i + 1 < argc)
            audit_log = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            if (!parse_ms(argv[++i], &run.timeout_ms)) {
                fprintf(stderr, "crs-test: bad --timeout %s\n", argv[i]);
                return SK_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--audit-wait") == 0 && i + 1 < argc) {
            if (!parse_ms(argv[++i], &run.wait_ms)) {
                fprintf(stderr, "crs-test: bad --audit-wait %s\n", argv[i]);
                return SK_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--overrides") == 0 && i + 1 < argc)
            overrides = argv[++i];
        else if (strcmp(argv[i], "-v") == 0)
            run.verbose = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return SK_EXIT_OK;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "crs-test: unknown option %s\n", argv[i]);
            usage(stderr);
            return SK_EXIT_USAGE;
        } else
            break;
    }
    if (i >= argc || (target != NULL) != (audit_log != NULL) ||
        (setup == NULL && target == NULL)) {
        usage(stderr);
        return SK_EXIT_USAGE;
    }
    if (target != NULL) {
        if (setup != NULL)
            fprintf(stderr,
                    "crs-test: note: --setup %s is not loaded with "
                    "--target (the proxy's rules apply)\n",
                    setup);
        return crs_test_target(&run, target, audit_log, overrides, argc, argv,
                               i);
    }
    run.rules = sk_waf_rules_new();
    if (run.rules == NULL)
        return SK_EXIT_INTERNAL;
    int rc = sk_waf_rules_add_file(run.rules, setup);
    if (rc == 0)
        rc = sk_waf_rules_compile(run.rules);
    const char *diag = sk_waf_rules_errors(run.rules);
    if (rc != 0) {
        fprintf(stderr, "%scrs-test: the rules failed to load\n", diag);
        sk_waf_rules_free(run.rules);
        return SK_EXIT_USAGE;
    }
    if (diag[0] != '\0')
        fprintf(stderr, "%s", diag);
    struct sk_waf_rules_stats st;
    sk_waf_rules_stats(run.rules, &st);
    fprintf(stderr,
            "crs-test: %zu rules loaded from %s (%zu of %zu regexes "
            "prefiltered by literals in %zu groups; %zu rules settled at "
            "load time)\n",
            st.rules, setup, st.regex_prefiltered, st.regex_links,
            st.prefilter_groups, st.folded);
    struct sk_arena *oa = sk_arena_new(0);
    if (oa == NULL) {
        sk_waf_rules_free(run.rules);
        return SK_EXIT_INTERNAL;
    }
    if (overrides != NULL) {
        struct sk_diag d = {0};
        rc = sk_ftw_load_overrides(oa, overrides, &run.ovr, &run.novr, &d);
        if (rc != 0) {
            fprintf(stderr, "%scrs-test: bad overrides file\n",
                    sk_diag_text(&d));
            sk_diag_fini(&d);
            sk_arena_free(oa);
            sk_waf_rules_free(run.rules);
            return SK_EXIT_USAGE;
        }
        sk_diag_fini(&d);
    }
    for (; i < argc && rc == 0; i++)
        rc = run_path(&run, argv[i]);
    if (rc != 0) {
        fprintf(stderr, "crs-test: %s\n", sk_strerror(rc));
        sk_arena_free(oa);
        sk_waf_rules_free(run.rules);
        return rc == -SK_ENOMEM ? SK_EXIT_INTERNAL : SK_EXIT_USAGE;
    }
    printf("disabled files: %u, their tests: %u passed, %u failed (not "
           "counted)\n",
           run.disabled_files, run.disabled.passed, run.disabled.failed);
    printf("files: %u, overridden tests passed: %u of %zu overrides\n",
           run.files, run.total.overridden, run.novr);
    printf("%u passed, %u failed\n", run.total.passed, run.total.failed);
    sk_arena_free(oa);
    sk_waf_rules_free(run.rules);
    return run.total.failed == 0 ? SK_EXIT_OK : SK_EXIT_FAIL;
}
