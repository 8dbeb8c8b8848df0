/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/crstest: the ftw codec rules (form re-encoding,
 * unicode_escape, base64), the exact request bytes for each shape of test
 * file, loader errors with file:line, overrides, and the whole CRS 3.3.4
 * suite checked against the request digests of the real ftw 1.3.0 runner.
 * Arguments: the fixture directory, then the CRS tests directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "crstest/ftw.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"

static const char *data_dir;
static const char *crs_dir;

#define LIT(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static void
assert_bytes(struct sk_str got, const char *want, size_t wlen)
{
    if (got.len != wlen || memcmp(got.p, want, wlen) != 0) {
        fprintf(stderr, "got  (%zu): ", got.len);
        fwrite(got.p, 1, got.len, stderr);
        fprintf(stderr, "\nwant (%zu): ", wlen);
        fwrite(want, 1, wlen, stderr);
        fprintf(stderr, "\n");
        fail();
    }
}

#define ASSERT_BYTES(got, lit) assert_bytes((got), (lit), sizeof(lit) - 1)

static void
test_form_reencode(void **state)
{
    (void)state;
    struct sk_buf b = {0};
    size_t kept;
    /* No '=' and empty values are dropped; '+' is a space; <> escaped. */
    assert_int_equal(
        sk_ftw_form_reencode(LIT("a=<b>&c&d=&=e+f&g=h i"), &b, &kept), 0);
    assert_int_equal(kept, 3);
    ASSERT_BYTES(sk_buf_str(&b), "a=%3Cb%3E&=e+f&g=h+i");
    /* Empty fields vanish; ';' is not a separator (Python >= 3.9.2). */
    sk_buf_clear(&b);
    assert_int_equal(sk_ftw_form_reencode(LIT("a=1&&b=2;c=3"), &b, &kept), 0);
    ASSERT_BYTES(sk_buf_str(&b), "a=1&b=2%3Bc%3D3");
    /* Unreserved bytes stay, '=' in a value and UTF-8 are escaped. */
    sk_buf_clear(&b);
    assert_int_equal(
        sk_ftw_form_reencode(LIT("k=~._-Az09&v=a=b\xc3\xa9%zz"), &b, &kept), 0);
    ASSERT_BYTES(sk_buf_str(&b), "k=~._-Az09&v=a%3Db%C3%A9%25zz");
    /* Nothing left: the caller keeps the original data. */
    sk_buf_clear(&b);
    assert_int_equal(sk_ftw_form_reencode(LIT("novalue&x=&&"), &b, &kept), 0);
    assert_int_equal(kept, 0);
    assert_int_equal(b.len, 0);
    sk_buf_fini(&b);
}

static void
test_unicode_unescape(void **state)
{
    (void)state;
    struct sk_buf b = {0};
    const char *why = NULL;
    assert_int_equal(
        sk_ftw_unicode_unescape(
            LIT("\\r\\n\\t\\\\\\'\\\"\\x41\\101\\0\\u00e9\\U0001F600\\q\\a\\b"
                "\\f\\v\\\nX"),
            &b, &why),
        0);
    ASSERT_BYTES(sk_buf_str(&b), "\r\n\t\\'\"AA\0\xc3\xa9\xf0\x9f\x98\x80"
                                 "\\q\a\b\f\vX");
    /* Other bytes are read as Latin-1, so UTF-8 is encoded twice. */
    sk_buf_clear(&b);
    assert_int_equal(
        sk_ftw_unicode_unescape(LIT("\xc3\xa9\\xff\\777"), &b, &why), 0);
    ASSERT_BYTES(sk_buf_str(&b), "\xc3\x83\xc2\xa9\xc3\xbf\xc7\xbf");
    static const char *const bad[] = {"abc\\",       "\\x4",    "\\u12",
                                      "\\U0011ffff", "\\ud800", "\\N{DASH}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sk_buf_clear(&b);
        why = NULL;
        assert_int_not_equal(sk_ftw_unicode_unescape((const uint8_t *)bad[i],
                                                     strlen(bad[i]), &b, &why),
                             0);
        assert_non_null(why);
    }
    sk_buf_fini(&b);
}

static void
test_b64decode(void **state)
{
    (void)state;
    struct sk_buf b = {0};
    const char *why = NULL;
    assert_int_equal(sk_ftw_b64decode(LIT("R0VU\nIA=="), &b, &why), 0);
    ASSERT_BYTES(sk_buf_str(&b), "GET ");
    sk_buf_clear(&b);
    /* Padding ends the data; later bytes are not read. */
    assert_int_equal(sk_ftw_b64decode(LIT("R0U=junk"), &b, &why), 0);
    ASSERT_BYTES(sk_buf_str(&b), "GE");
    sk_buf_clear(&b);
    assert_int_equal(sk_ftw_b64decode(LIT("AP8="), &b, &why), 0);
    ASSERT_BYTES(sk_buf_str(&b), "\0\xff");
    sk_buf_clear(&b);
    assert_int_equal(sk_ftw_b64decode(LIT("R0U"), &b, &why), -SK_EPARSE);
    sk_buf_clear(&b);
    assert_int_equal(sk_ftw_b64decode(LIT("R0VUR"), &b, &why), -SK_EPARSE);
    sk_buf_clear(&b);
    assert_int_equal(sk_ftw_b64decode(LIT("R0VU\xc3\xa9"), &b, &why),
                     -SK_EPARSE);
    sk_buf_fini(&b);
}

/* Loads data_dir/name; asserts success. */
static void
load_fixture(struct sk_arena *a, const char *name, struct sk_ftw_file *f)
{
    char path[4096];
    struct sk_diag d = {0};
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    int rc = sk_ftw_load(a, path, f, &d);
    if (rc != 0) {
        fprintf(stderr, "%s", sk_diag_text(&d));
    }
    assert_int_equal(rc, 0);
    assert_int_equal(d.errors, 0);
    sk_diag_fini(&d);
}

static const struct sk_ftw_stage *
stage_of(const struct sk_ftw_file *f, const char *title, size_t i)
{
    for (size_t t = 0; t < f->ntests; t++) {
        if (strcmp(f->tests[t].title, title) == 0) {
            assert_true(i < f->tests[t].nstages);
            return &f->tests[t].stages[i];
        }
    }
    fail_msg("no test %s", title);
    return NULL;
}

#define REQ(f, t) (stage_of((f), (t), 0)->request)

static void
test_form_file(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_ftw_file f;
    load_fixture(a, "form.yaml", &f);
    assert_string_equal(f.name, "form.yaml");
    assert_true(f.enabled);
    assert_int_equal(f.ntests, 6);
    ASSERT_BYTES(REQ(&f, "form-reencode"),
                 "POST / HTTP/1.1\r\nHost: localhost\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: 20\r\n\r\na=%3Cb%3E&=e+f&g=h+i");
    ASSERT_BYTES(REQ(&f, "pct-kept"),
                 "POST / HTTP/1.1\r\nHost: localhost\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: 8\r\n\r\na=%3Cb&c");
    /* Content-Length counts code points, not bytes. */
    ASSERT_BYTES(REQ(&f, "non-ascii-length"),
                 "POST / HTTP/1.1\r\nHost: localhost\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: 6\r\n\r\nq=%41\xc3\xa9");
    /* The header check is case-sensitive: a second Content-Type. */
    ASSERT_BYTES(REQ(&f, "lowercase-content-type"),
                 "POST / HTTP/1.1\r\ncontent-type: text/plain\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: 3\r\n\r\na b");
    ASSERT_BYTES(REQ(&f, "explicit-length"),
                 "POST / HTTP/1.1\r\nContent-Length: 0\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 "\r\nx=1%3By%3D2");
    ASSERT_BYTES(REQ(&f, "other-content-type"),
                 "POST / HTTP/1.1\r\nContent-Type: text/xml; charset=UTF-8\r\n"
                 "Content-Length: 10\r\n\r\n<a>b c</a>");
    sk_arena_free(a);
}

static void
test_shapes_file(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_ftw_file f;
    load_fixture(a, "shapes.yaml", &f);
    const struct sk_ftw_stage *s = stage_of(&f, "defaults", 0);
    ASSERT_BYTES(s->request, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_string_equal(s->dest_addr, "127.0.0.1");
    assert_int_equal(s->port, 80);
    assert_string_equal(s->protocol, "http");
    assert_int_equal(s->out.nstatus, 1);
    assert_int_equal(s->out.status[0], 200);
    assert_null(s->out.log_contains);

    /* "#version#" inside the URI is replaced too; YAML 1.1 scalars are
     * printed as Python printed them; a repeated key keeps its place. */
    s = stage_of(&f, "odd-line", 0);
    ASSERT_BYTES(s->request, "  GET /a b?x=1.1 1.1\r\nA: again\r\n"
                             "B: None\r\nC: 16\r\nD: 8\r\n\r\n");
    assert_int_equal(s->port, 8080);
    assert_string_equal(s->protocol, "https");
    assert_string_equal(s->dest_addr, "10.0.0.1");
    assert_int_equal(s->out.nstatus, 2);
    assert_int_equal(s->out.status[0], 200);
    assert_int_equal(s->out.status[1], 404);

    ASSERT_BYTES(REQ(&f, "list-data"),
                 "POST / HTTP/1.1\r\n"
                 "Content-Type: multipart/form-data; boundary=X\r\n"
                 "Content-Length: 57\r\n\r\n--X\r\n"
                 "Content-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                 "--X--");
    s = stage_of(&f, "stop-magic", 0);
    ASSERT_BYTES(s->request, "POST / HTTP/1.1\r\nHost: localhost\r\n\r\na=<b>");
    assert_true(s->out.has_expect_error);
    assert_true(s->out.expect_error);
    ASSERT_BYTES(stage_of(&f, "two-stages", 0)->request,
                 "GET /one HTTP/1.1\r\n\r\n");
    ASSERT_BYTES(stage_of(&f, "two-stages", 1)->request,
                 "GET /two HTTP/1.1\r\n\r\n");
    assert_string_equal(stage_of(&f, "two-stages", 0)->out.response_contains,
                        "one");
    assert_string_equal(stage_of(&f, "two-stages", 1)->out.log_contains,
                        "id \"2\"");
    sk_arena_free(a);
}

/* NUL bytes (YAML "\\0") are data like any other byte. */
static void
test_nul_bytes(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_diag d = {0};
    struct sk_ftw_file f;
    static const char y[] =
        "meta: {name: n.yaml}\n"
        "tests:\n"
        "  - test_title: nul\n"
        "    stages:\n"
        "      - stage:\n"
        "          input:\n"
        "            uri: \"/a\\0b\"\n"
        "            headers:\n"
        "              Content-Type: \"application/x-www-form-urlencoded"
        "\\0\"\n"
        "            data: \"a=<\"\n"
        "          output: {status: 200}\n";
    assert_int_equal(sk_ftw_load_mem(a, "n.yaml", y, sizeof(y) - 1, &f, &d), 0);
    /* Not the form type (a NUL follows), so the data is not re-encoded. */
    ASSERT_BYTES(f.tests[0].stages[0].request,
                 "GET /a\0b HTTP/1.1\r\n"
                 "Content-Type: application/x-www-form-urlencoded\0\r\n"
                 "Content-Length: 3\r\n\r\na=<");
    sk_diag_fini(&d);
    sk_arena_free(a);
}

static void
test_raw_file(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_ftw_file f;
    load_fixture(a, "raw.yaml", &f);
    ASSERT_BYTES(REQ(&f, "raw"), "GET /A HTTP/1.0\r\nX: \tA\xc3\xa9\xc3\x83"
                                 "\xc2\xa9\\q\\'\"\r\n\r\n");
    ASSERT_BYTES(REQ(&f, "encoded"), "GET / HTTP/1.0\r\n\r\n\0\xff");
    sk_arena_free(a);
}

static void
test_disabled_file(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_ftw_file f;
    load_fixture(a, "disabled.yaml", &f);
    assert_false(f.enabled);
    assert_int_equal(f.ntests, 1);
    assert_string_equal(f.tests[0].title, "off-1");
    assert_int_equal(f.tests[0].line, 8);
    assert_int_equal(f.tests[0].stages[0].out.nstatus, 2);
    assert_int_equal(f.tests[0].stages[0].out.status[0], 403);
    sk_arena_free(a);
}

/* Loads `yaml` from memory; expects failure with `msg` at `line`. */
static void
expect_error(const char *yaml, int want_rc, const char *where, const char *msg)
{
    struct sk_arena *a = sk_arena_new(0);
    struct sk_diag d = {0};
    struct sk_ftw_file f;
    int rc = sk_ftw_load_mem(a, "t.yaml", yaml, strlen(yaml), &f, &d);
    const char *text = sk_diag_text(&d);
    if (rc != want_rc || strstr(text, where) == NULL ||
        strstr(text, msg) == NULL) {
        fprintf(stderr, "rc %d, diag: %s\nwanted %s ... %s\n", rc, text, where,
                msg);
        fail();
    }
    assert_int_equal(f.ntests, 0);
    sk_diag_fini(&d);
    sk_arena_free(a);
}

#define HEAD "meta: {name: t.yaml, enabled: true}\ntests:\n"
#define IN(x)                                                                  \
    HEAD "  - test_title: t\n    stages:\n      - stage:\n          input: " x \
         "\n          output: {status: 200}\n"

static void
test_errors(void **state)
{
    (void)state;
    expect_error("meta: [\n", -SK_EPARSE, "t.yaml:2:", "YAML:");
    expect_error("a: 1\n", -SK_EPARSE, "t.yaml:1:", "unknown key 'a'");
    expect_error("meta: {enabled: true}\ntests: []\n", -SK_EPARSE,
                 "t.yaml:1:", "needs a 'name'");
    expect_error(HEAD "  - stages: []\n", -SK_EPARSE,
                 "t.yaml:3:", "needs a 'test_title'");
    expect_error(HEAD "  - test_title: t\n", -SK_EPARSE,
                 "t.yaml:3:", "list of 'stages'");
    expect_error(IN("{raw_request: a, encoded_request: YQ==}"), -SK_EPARSE,
                 "t.yaml:6:", "both raw_request and encoded_request");
    expect_error(IN("{bogus: 1}"), -SK_EPARSE,
                 "t.yaml:6:", "unknown key 'bogus'");
    expect_error(IN("{version: 1.1}"), -SK_EPARSE,
                 "t.yaml:6:", "'version' must be a string, not a float");
    expect_error(IN("{port: 70000}"), -SK_EPARSE, "t.yaml:6:", "'port'");
    expect_error(IN("{save_cookie: true}"), -SK_EPARSE,
                 "t.yaml:6:", "save_cookie");
    expect_error(IN("{headers: [a]}"), -SK_EPARSE,
                 "t.yaml:6:", "'headers' must be a mapping");
    expect_error(IN("{data: [1]}"), -SK_EPARSE,
                 "t.yaml:6:", "items of 'data' must be strings");
    expect_error(IN("{raw_request: 'a\\x4'}"), -SK_EPARSE,
                 "t.yaml:6:", "truncated \\xXX escape");
    expect_error(IN("{encoded_request: 'R0U'}"), -SK_EPARSE,
                 "t.yaml:6:", "padding");
    expect_error(IN("{data: 'a=\xc3\xa9', headers: {Content-Type: "
                    "'application/x-www-form-urlencoded; charset=latin-1'}}"),
                 -SK_EPARSE, "t.yaml:6:", "charset 'latin_1'");
    expect_error(HEAD "  - test_title: t\n    stages:\n      - stage:\n"
                      "          input: {}\n          output: {status: "
                      "'200'}\n",
                 -SK_EPARSE, "t.yaml:7:", "'status' must be");
    expect_error(HEAD "  - test_title: t\n    stages:\n      - stage:\n"
                      "          input: {}\n          output: {desc: x}\n",
                 -SK_EPARSE, "t.yaml:7:", "unknown key 'desc'");
    expect_error(HEAD "  - test_title: t\n    stages:\n      - stage:\n"
                      "          input: {}\n          output: "
                      "{expect_error: false}\n",
                 -SK_EPARSE, "t.yaml:7:", "output needs one of");
    expect_error("meta: &a {name: x}\ntests: *a\n", -SK_EPARSE,
                 "t.yaml:2:", "alias");
    expect_error("a: 1\n---\nb: 2\n", -SK_EPARSE,
                 "t.yaml:2:", "second document");
    /* Every error of a file is reported, not only the first. */
    struct sk_arena *a = sk_arena_new(0);
    struct sk_diag d = {0};
    struct sk_ftw_file f;
    const char *two = HEAD "  - stages: []\n  - test_title: x\n";
    assert_int_equal(sk_ftw_load_mem(a, "t.yaml", two, strlen(two), &f, &d),
                     -SK_EPARSE);
    assert_int_equal(d.errors, 2);
    sk_diag_fini(&d);
    /* An unreproducible charset is one error, not two. */
    d = (struct sk_diag){0};
    const char *cs = IN("{data: 'a=\xc3\xa9', headers: {Content-Type: "
                        "'text/plain;charset=cp1252'}}");
    assert_int_equal(sk_ftw_load_mem(a, "t.yaml", cs, strlen(cs), &f, &d),
                     -SK_EPARSE);
    assert_int_equal(d.errors, 1);
    sk_diag_fini(&d);
    /* A missing file is an I/O error. */
    d = (struct sk_diag){0};
    assert_int_equal(sk_ftw_load(a, "/nonexistent/x.yaml", &f, &d), -SK_EIO);
    sk_diag_fini(&d);
    sk_arena_free(a);
}

static void
test_limits(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_diag d = {0};
    struct sk_ftw_file f;
    /* Deep nesting stops at SK_FTW_MAX_DEPTH. */
    char deep[200];
    memset(deep, '[', sizeof(deep));
    assert_int_equal(sk_ftw_load_mem(a, "d.yaml", deep, sizeof(deep), &f, &d),
                     -SK_ELIMIT);
    sk_diag_fini(&d);
    d = (struct sk_diag){0};
    /* A request that would exceed the limit through repeated "#uri#". */
    struct sk_buf y = {0};
    assert_int_equal(sk_buf_append_c(&y,
                                     HEAD "  - test_title: t\n    stages:"
                                          "\n      - stage:\n          input:"
                                          " {uri: 'x', method: '"),
                     0);
    for (int i = 0; i < 30000; i++) {
        assert_int_equal(sk_buf_append_c(&y, "#uri##uri#"), 0);
    }
    assert_int_equal(sk_buf_append_c(&y, "', uri: '"), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sk_buf_append_c(&y, "0123456789"), 0);
    }
    assert_int_equal(sk_buf_append_c(&y, "'}\n          output: {status: 1}\n"),
                     0);
    assert_int_equal(sk_ftw_load_mem(a, "l.yaml", y.p, y.len, &f, &d),
                     -SK_EPARSE);
    assert_non_null(strstr(sk_diag_text(&d), "request longer than"));
    sk_buf_fini(&y);
    sk_diag_fini(&d);
    sk_arena_free(a);
}

static void
test_overrides(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_diag d = {0};
    struct sk_ftw_override *o;
    size_t n;
    char path[4096];
    snprintf(path, sizeof(path), "%s/overrides.yaml", data_dir);
    assert_int_equal(sk_ftw_load_overrides(a, path, &o, &n, &d), 0);
    assert_int_equal(n, 2);
    assert_string_equal(o[0].test_title, "920100-4");
    assert_true(o[0].expect_pass_anyway);
    assert_null(o[0].log_contains);
    assert_string_equal(o[1].test_title, "941330-1");
    assert_false(o[1].expect_pass_anyway);
    assert_string_equal(o[1].log_contains, "id \"941330\"");
    assert_string_equal(o[1].no_log_contains, "id \"941331\"");
    assert_non_null(strstr(o[1].reason, "backslashes"));

    /* Empty and missing reasons: both reported, with their lines. */
    snprintf(path, sizeof(path), "%s/overrides-noreason.yaml", data_dir);
    assert_int_equal(sk_ftw_load_overrides(a, path, &o, &n, &d), -SK_EPARSE);
    assert_int_equal(n, 0);
    assert_int_equal(d.errors, 2);
    assert_non_null(strstr(sk_diag_text(&d), "overrides-noreason.yaml:2:"));
    assert_non_null(strstr(sk_diag_text(&d), "overrides-noreason.yaml:3:"));
    assert_non_null(strstr(sk_diag_text(&d), "non-empty 'reason'"));
    sk_diag_fini(&d);

    static const char *const bad[] = {
        "- {test_title: a, reason: '   '}\n",
        "- {test_title: a, reason: r}\n- {test_title: a, reason: s}\n",
        "- {test_title: a, reason: r, why: x}\n",
        "{test_title: a, reason: r}\n",
        "- {reason: r}\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d = (struct sk_diag){0};
        assert_int_equal(sk_ftw_load_overrides_mem(a, "o.yaml", bad[i],
                                                   strlen(bad[i]), &o, &n, &d),
                         -SK_EPARSE);
        assert_true(d.errors > 0);
        sk_diag_fini(&d);
    }
    /* An empty file has no overrides. */
    d = (struct sk_diag){0};
    assert_int_equal(sk_ftw_load_overrides_mem(a, "o.yaml", "", 0, &o, &n, &d),
                     0);
    assert_int_equal(n, 0);
    sk_diag_fini(&d);
    sk_arena_free(a);
}

/* The digests of the real runner's requests, one line per stage. */
struct digest {
    char file[256];
    unsigned test;
    unsigned stage;
    char hex[65];
};

static struct digest *
read_digests(size_t *n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/crs-3.3.4-ftw-1.3.0.sha256", data_dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t cap = 4096;
    struct digest *v = calloc(cap, sizeof(*v));
    assert_non_null(v);
    char line[512];
    *n = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (line[0] == '#') {
            continue;
        }
        assert_true(*n < cap);
        struct digest *e = &v[*n];
        assert_int_equal(sscanf(line, "%255s %u %u %64s", e->file, &e->test,
                                &e->stage, e->hex),
                         4);
        (*n)++;
    }
    fclose(fp);
    return v;
}

static int
cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void
test_crs_suite(void **state)
{
    (void)state;
    struct stat st;
    if (crs_dir == NULL || stat(crs_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "skipped: CRS 3.3.4 tests not found at %s (shared/ "
                "is expected beside the repository)\n",
                crs_dir ? crs_dir : "(no path given)");
        skip();
    }
    size_t nd;
    struct digest *dig = read_digests(&nd);
    /* Files in the order of the digests: sorted relative paths. */
    char *names[512];
    size_t nn = 0;
    DIR *top = opendir(crs_dir);
    assert_non_null(top);
    struct dirent *de;
    while ((de = readdir(top)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char sub[4096];
        snprintf(sub, sizeof(sub), "%s/%s", crs_dir, de->d_name);
        DIR *dd = opendir(sub);
        if (dd == NULL) {
            continue;
        }
        struct dirent *fe;
        while ((fe = readdir(dd)) != NULL) {
            size_t l = strlen(fe->d_name);
            if (l > 5 && strcmp(fe->d_name + l - 5, ".yaml") == 0) {
                assert_true(nn < sizeof(names) / sizeof(names[0]));
                size_t need = strlen(de->d_name) + l + 2;
                names[nn] = malloc(need);
                assert_non_null(names[nn]);
                snprintf(names[nn], need, "%s/%s", de->d_name, fe->d_name);
                nn++;
            }
        }
        closedir(dd);
    }
    closedir(top);
    qsort(names, nn, sizeof(names[0]), cmp_names);

    size_t ntests = 0, ndisabled = 0, nstages = 0, matched = 0, di = 0;
    struct sk_diag d = {0};
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", crs_dir, names[i]);
        struct sk_arena *a = sk_arena_new(0);
        struct sk_ftw_file f;
        int rc = sk_ftw_load(a, path, &f, &d);
        if (rc != 0) {
            fprintf(stderr, "%s", sk_diag_text(&d));
        }
        assert_int_equal(rc, 0);
        ntests += f.ntests;
        if (!f.enabled) {
            ndisabled += f.ntests;
        }
        for (size_t t = 0; t < f.ntests; t++) {
            for (size_t s = 0; s < f.tests[t].nstages; s++, nstages++) {
                struct sk_str r = f.tests[t].stages[s].request;
                unsigned char md[32];
                unsigned mdlen = 0;
                char hex[65];
                assert_int_equal(
                    EVP_Digest(r.p, r.len, md, &mdlen, EVP_sha256(), NULL), 1);
                for (size_t k = 0; k < 32; k++) {
                    snprintf(hex + 2 * k, 3, "%02x", md[k]);
                }
                assert_true(di < nd);
                assert_string_equal(dig[di].file, names[i]);
                assert_int_equal(dig[di].test, t);
                assert_int_equal(dig[di].stage, s);
                if (strcmp(dig[di].hex, hex) != 0) {
                    fprintf(stderr, "%s test %zu (%s) stage %zu differs\n",
                            names[i], t, f.tests[t].title, s);
                } else {
                    matched++;
                }
                di++;
            }
        }
        sk_arena_free(a);
        free(names[i]);
    }
    assert_int_equal(d.errors, 0);
    sk_diag_fini(&d);
    free(dig);
    assert_int_equal(nn, 178);
    assert_int_equal(ntests, 2403);
    assert_int_equal(ndisabled, 7);
    assert_int_equal(nstages, nd);
    assert_int_equal(matched, nd);
}

int
main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/unit/crstest/data";
    crs_dir = argc > 2 ? argv[2] : NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_reencode),
        cmocka_unit_test(test_unicode_unescape),
        cmocka_unit_test(test_b64decode),
        cmocka_unit_test(test_form_file),
        cmocka_unit_test(test_shapes_file),
        cmocka_unit_test(test_raw_file),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_disabled_file),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_crs_suite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
