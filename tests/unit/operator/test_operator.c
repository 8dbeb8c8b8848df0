/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/operator: every operator with matching, non-matching
 * and edge inputs (empty, binary with NUL, non-ASCII), dynamic arguments,
 * regex limits and captures, phrase files, IP networks, argument errors,
 * and the operator table itself. Negation is the engine's job and is not
 * tested here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/detect.h"
#include "operator/operator.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/str.h"

static struct sk_arena *cfg;
static struct sk_arena *txn;
static struct sk_diag diag;
static struct sk_op_config conf;
static char tmpdir[64];

static int
setup(void **state)
{
    (void)state;
    cfg = sk_arena_new(0);
    txn = sk_arena_new(0);
    memset(&diag, 0, sizeof(diag));
    memset(&conf, 0, sizeof(conf));
    conf.basedir = tmpdir;
    return cfg && txn ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    sk_arena_free(cfg);
    sk_arena_free(txn);
    sk_diag_fini(&diag);
    sk_op_thread_fini();
    return 0;
}

/* Compiles and expects success. */
static struct sk_op *
op_ok(const char *name, const char *arg)
{
    struct sk_op *op = NULL;
    int rc = sk_op_compile(cfg, name, arg, false, &conf, NULL, &diag, &op);
    if (rc != 0)
        fprintf(stderr, "compile @%s %s: %s\n%s", name, arg, sk_strerror(rc),
                sk_diag_text(&diag));
    assert_int_equal(rc, 0);
    assert_non_null(op);
    return op;
}

static struct sk_op *
op_dyn(const char *name, const char *arg)
{
    struct sk_op *op = NULL;
    assert_int_equal(
        sk_op_compile(cfg, name, arg, true, &conf, NULL, &diag, &op), 0);
    return op;
}

/* Compiles and expects failure `rc`, with a message containing `msg`. */
static void
op_fail(const char *name, const char *arg, bool dynamic, int rc,
        const char *msg)
{
    struct sk_op *op = (struct sk_op *)1;
    struct sk_diag d = {0};
    assert_int_equal(
        sk_op_compile(cfg, name, arg, dynamic, &conf, NULL, &d, &op), rc);
    assert_null(op);
    assert_true(sk_diag_failed(&d));
    if (strstr(sk_diag_text(&d), msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", sk_diag_text(&d), msg);
    sk_diag_fini(&d);
}

static bool
runb(const struct sk_op *op, const void *p, size_t len, const char *dyn)
{
    struct sk_op_result r;
    struct sk_str a = dyn ? sk_str_c(dyn) : SK_STR_NULL;
    assert_int_equal(sk_op_exec(op, txn, sk_str_make(p, len), a, true, &r), 0);
    if (!r.matched)
        assert_int_equal(r.ncaptures, 0);
    return r.matched;
}

static bool
run(const struct sk_op *op, const char *in)
{
    return runb(op, in, strlen(in), NULL);
}

static bool
rund(const struct sk_op *op, const char *in, const char *dyn)
{
    return runb(op, in, strlen(in), dyn);
}

static bool
match_c(const char *name, const char *arg, const char *in)
{
    return run(op_ok(name, arg), in);
}

static void
write_file(const char *name, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* The table ------------------------------------------------------------ */

static int
lower_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = sk_ascii_lower((uint8_t)*a), y = sk_ascii_lower((uint8_t)*b);
        if (x != y || x == 0)
            return x - y;
    }
}

static void
test_table(void **state)
{
    (void)state;
    size_t n;
    const struct sk_op_def *t = sk_op_table(&n);
    assert_true(n >= 26);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].name);
        assert_non_null(t[i].doc);
        assert_true(strlen(t[i].doc) > 5);
        if (i > 0 && lower_cmp(t[i - 1].name, t[i].name) >= 0)
            fail_msg("table not sorted/unique at %s", t[i].name);
    }
    /* Every CRS 3.3.4 operator is in it, and each name round-trips. */
    static const char *crs[] = {"rx",
                                "lt",
                                "eq",
                                "endsWith",
                                "streq",
                                "ge",
                                "pmFromFile",
                                "contains",
                                "gt",
                                "within",
                                "pm",
                                "ipMatch",
                                "beginsWith",
                                "detectSQLi",
                                "detectXSS",
                                "validateUrlEncoding",
                                "validateUtf8Encoding",
                                "validateByteRange",
                                "ipMatchFromFile",
                                "unconditionalMatch"};
    for (size_t i = 0; i < sizeof(crs) / sizeof(crs[0]); i++) {
        bool found = false;
        for (size_t j = 0; j < n; j++)
            found |= strcmp(t[j].name, crs[i]) == 0;
        assert_true(found);
    }
    struct sk_op *op = op_ok("RX", "a");
    assert_string_equal(sk_op_name(op), "rx");
    op = op_ok("@withIN", "a");
    assert_string_equal(sk_op_name(op), "within");
}

static void
test_unknown_and_refused(void **state)
{
    (void)state;
    op_fail("nope", "x", false, -SK_EPARSE, "unknown operator @nope");
    op_fail("", "x", false, -SK_EPARSE, "unknown operator");
    op_fail("rbl", "dnsbl.httpbl.org", false, -SK_ENOTSUP,
            "@rbl needs network DNS lookups, which sekimori does not do");
    op_fail("geoLookup", "", false, -SK_ENOTSUP, "@geoLookup");
    op_fail("verifyCC", "\\d{16}", false, -SK_ENOTSUP, "not supported");
}

static void
test_argument_policy(void **state)
{
    (void)state;
    op_fail("detectSQLi", "x", false, -SK_EPARSE, "takes no argument");
    op_fail("validateUtf8Encoding", "x", false, -SK_EPARSE,
            "takes no argument");
    op_ok("detectSQLi", "  ");
    op_ok("unconditionalMatch", NULL);
    op_fail("pm", "%{tx.x}", true, -SK_ENOTSUP, "macro");
    op_fail("ipMatch", "%{tx.x}", true, -SK_ENOTSUP, "macro");
    op_fail("validateByteRange", "%{tx.x}", true, -SK_ENOTSUP, "macro");
    op_fail("pmFromFile", "%{tx.x}", true, -SK_ENOTSUP, "macro");
}

/* @rx ----------------------------------------------------------------- */

static void
test_rx_basic(void **state)
{
    (void)state;
    assert_true(match_c("rx", "^GET$", "GET"));
    assert_false(match_c("rx", "^GET$", "get"));
    assert_true(match_c("rx", "(?i)^get$", "GET"));
    assert_false(match_c("rx", "abc", ""));
    assert_true(match_c("rx", "", ""));
    assert_true(match_c("rx", "", "anything"));
    /* DOTALL: '.' crosses lines; MULTILINE (v3): ^ and $ at lines. */
    assert_true(match_c("rx", "a.b", "a\nb"));
    assert_true(match_c("rx", "^b$", "a\nb\nc"));
    /* Binary input: NUL and bytes >= 0x80 are plain bytes (no UTF). */
    struct sk_op *op = op_ok("rx", "a\\x00b");
    assert_true(runb(op, "xa\0by", 5, NULL));
    assert_false(runb(op, "xaby", 4, NULL));
    op = op_ok("rx", "\\xff.\\xfe");
    assert_true(runb(op, "\xff\x80\xfe", 3, NULL));
    /* Long inputs needing a deep backtracking stack: 20k fits the
     * per-thread JIT stack, 200k overflows it and is redone in the
     * interpreter. */
    for (size_t big = 20000; big <= 200000; big *= 10) {
        char *in = malloc(big + 1);
        assert_non_null(in);
        memset(in, 'a', big);
        in[big] = '\0';
        op = op_ok("rx", "^(?:a|b)*$");
        assert_true(run(op, in));
        op = op_ok("rx", "^(a|b)*c");
        assert_false(run(op, in));
        free(in);
    }
    op = op_ok("rx", "caf\xc3\xa9");
    assert_true(run(op, "un caf\xc3\xa9"));
    assert_false(run(op, "un cafe"));
}

static void
test_rx_captures(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("rx", "(a+)(x)?(b+)");
    struct sk_op_result r;
    const char *in = "zzaabbbzz";
    assert_int_equal(sk_op_exec(op, txn, sk_str_c(in), SK_STR_NULL, true, &r),
                     0);
    assert_true(r.matched);
    assert_int_equal(r.ncaptures, 4);
    assert_true(sk_str_eq_c(r.captures[0], "aabbb"));
    assert_true(sk_str_eq_c(r.captures[1], "aa"));
    assert_null(r.captures[2].p); /* unset group */
    assert_true(sk_str_eq_c(r.captures[3], "bbb"));
    assert_true(sk_str_eq_c(r.matched_data, "aabbb"));
    /* Without want_captures: matched_data only. */
    assert_int_equal(sk_op_exec(op, txn, sk_str_c(in), SK_STR_NULL, false, &r),
                     0);
    assert_true(r.matched);
    assert_int_equal(r.ncaptures, 0);
    assert_true(sk_str_eq_c(r.matched_data, "aabbb"));
    /* More than 10 groups: 0..9 reported. */
    op = op_ok("rx", "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)");
    assert_int_equal(
        sk_op_exec(op, txn, sk_str_c("abcdefghijkl"), SK_STR_NULL, true, &r),
        0);
    assert_true(r.matched);
    assert_int_equal(r.ncaptures, SK_OP_MAX_CAPTURES);
    assert_true(sk_str_eq_c(r.captures[9], "i"));
}

static void
test_rx_errors(void **state)
{
    (void)state;
    op_fail("rx", "(unclosed", false, -SK_EPARSE, "offset 9");
    op_fail("rx", "a{2,1}", false, -SK_EPARSE, "bad regular expression");
}

static void
test_rx_match_limit(void **state)
{
    (void)state;
    /* A catastrophic pattern on a long non-matching input; the input
     * holds the required 'c' so that PCRE2 cannot give up early. */
    char in[64];
    memset(in, 'a', sizeof(in) - 1);
    in[sizeof(in) - 3] = 'x';
    in[sizeof(in) - 2] = 'c';
    in[sizeof(in) - 1] = '\0';
    conf.match_limit = 1000;
    struct sk_op *op = op_ok("rx", "^(a+)+c");
    struct sk_op_result r;
    assert_int_equal(sk_op_exec(op, txn, sk_str_c(in), SK_STR_NULL, true, &r),
                     -SK_EMATCHLIMIT);
    assert_false(r.matched);
    /* The same with a dynamic (interpreted) regex. */
    op = op_dyn("rx", "%{tx.re}");
    assert_int_equal(
        sk_op_exec(op, txn, sk_str_c(in), sk_str_c("^(a+)+c"), true, &r),
        -SK_EMATCHLIMIT);
    /* The depth limit alone stops the interpreter. */
    conf.match_limit = 0;
    conf.depth_limit = 10;
    op = op_dyn("rx", "%{tx.re}");
    assert_int_equal(
        sk_op_exec(op, txn, sk_str_c(in), sk_str_c("^(a|b)*c"), true, &r),
        -SK_EMATCHLIMIT);
    /* A simple pattern under the same limit works. */
    conf.match_limit = 1000;
    op = op_ok("rx", "a{10}");
    assert_true(run(op, in));
}

static void
test_rx_dynamic(void **state)
{
    (void)state;
    struct sk_op *op = op_dyn("rx", "^%{tx.m}$");
    assert_true(rund(op, "POST", "^(?:GET|POST)$"));
    assert_false(rund(op, "PUT", "^(?:GET|POST)$"));
    struct sk_op_result r;
    assert_int_equal(
        sk_op_exec(op, txn, sk_str_c("x"), sk_str_c("(bad"), true, &r),
        -SK_EPARSE);
    assert_false(r.matched);
    char big[SK_OP_MAX_DYN_REGEX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(
        sk_op_exec(op, txn, sk_str_c("x"), sk_str_c(big), true, &r),
        -SK_ELIMIT);
}

/* Threads share a compiled regex and phrase set. */
struct thread_arg {
    const struct sk_op *rx, *pm;
    int ok;
};

static void *
thread_main(void *p)
{
    struct thread_arg *a = p;
    struct sk_arena *t = sk_arena_new(0);
    a->ok = t != NULL;
    for (int i = 0; i < 200 && a->ok; i++) {
        struct sk_op_result r;
        if (sk_op_exec(a->rx, t, sk_str_c("xx select yy"), SK_STR_NULL, true,
                       &r) != 0 ||
            !r.matched || !sk_str_eq_c(r.captures[1], "select"))
            a->ok = 0;
        if (sk_op_exec(a->pm, t, sk_str_c("a UNION b"), SK_STR_NULL, true,
                       &r) != 0 ||
            !r.matched || !sk_str_eq_c(r.captures[0], "union"))
            a->ok = 0;
    }
    sk_arena_free(t);
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    struct thread_arg a[4];
    pthread_t th[4];
    const struct sk_op *rx = op_ok("rx", "(sel\\w+)");
    const struct sk_op *pm = op_ok("pm", "union select");
    for (int i = 0; i < 4; i++) {
        a[i].rx = rx;
        a[i].pm = pm;
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(a[i].ok);
    }
}

/* @pm ----------------------------------------------------------------- */

static void
test_pm(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("pm", "document.cookie document.write "
                                   ".parentnode <![cdata[");
    assert_true(run(op, "x=DOCUMENT.Cookie"));
    assert_true(run(op, "<![CDATA[ x"));
    assert_false(run(op, "document cookie"));
    assert_false(run(op, ""));
    /* The phrase whose match ends first is reported, as written. */
    op = op_ok("pm", "bcd AB");
    struct sk_op_result r;
    assert_int_equal(
        sk_op_exec(op, txn, sk_str_c("xabcd"), SK_STR_NULL, true, &r), 0);
    assert_true(r.matched);
    assert_int_equal(r.ncaptures, 1);
    assert_true(sk_str_eq_c(r.captures[0], "AB"));
    assert_true(sk_str_eq_c(r.matched_data, "AB"));
    /* Binary input with NUL, and non-ASCII bytes compare exactly. */
    op = op_ok("pm", "?> \xc3\xa9t\xc3\xa9");
    assert_true(runb(op, "a\0?>", 4, NULL));
    assert_true(run(op, "\xc3\xa9T\xc3\xa9"));
    assert_false(run(op, "\xc3\x89t\xc3\x89"));
    /* Quotes around the whole argument, hex blocks and escapes. */
    op = op_ok("pm", "  \"|41 42|c a\\;b\"");
    assert_true(run(op, "xabcx"));
    assert_true(run(op, "a;b"));
    assert_false(run(op, "ab"));
    op = op_ok("pm", "x|00|y sp|20|ace");
    assert_true(runb(op, "-X\0Y-", 5, NULL));
    assert_true(run(op, "a sp ace"));
    assert_false(run(op, "sp"));
    op_fail("pm", "", false, -SK_EPARSE, "at least one phrase");
    op_fail("pm", "a|4|", false, -SK_EPARSE, "odd number");
    op_fail("pm", "a|4g|", false, -SK_EPARSE, "hex digit");
    op_fail("pm", "a|41", false, -SK_EPARSE, "unterminated");
    op_fail("pm", "a\\n", false, -SK_EPARSE, "unsupported escape");
}

static void
test_pm_from_file(void **state)
{
    (void)state;
    static const char data[] = "# comment\n"
                               "\n"
                               "   \t\n"
                               "  # indented comment\n"
                               "Call to private \n"
                               "crlf phrase\r\n"
                               "eval(\n"
                               "last-no-newline";
    write_file("phrases.data", data, sizeof(data) - 1);
    struct sk_op *op = op_ok("pmFromFile", "phrases.data");
    assert_true(run(op, "PHP: call to private method"));
    assert_false(run(op, "Call to private")); /* trailing space kept */
    assert_true(run(op, "a CRLF PHRASE"));    /* CR dropped */
    assert_true(run(op, "x=EVAL(1)"));
    assert_true(run(op, "last-no-newline"));
    assert_false(run(op, "comment"));
    assert_false(run(op, "   ")); /* blank lines skipped */
    struct sk_op_result r;
    assert_int_equal(
        sk_op_exec(op, txn, sk_str_c("zz eval(x)"), SK_STR_NULL, true, &r), 0);
    assert_true(sk_str_eq_c(r.captures[0], "eval("));
    /* Alias, absolute path, surrounding blanks. */
    char abs[200];
    snprintf(abs, sizeof(abs), " %s/phrases.data ", tmpdir);
    op = op_ok("pmf", abs);
    assert_string_equal(sk_op_name(op), "pmf");
    assert_true(run(op, "EVAL("));
    /* Missing file, no name, URL. */
    op_fail("pmFromFile", "missing.data", false, -SK_ENOENT, "missing.data");
    op_fail("pmFromFile", "  ", false, -SK_EPARSE, "needs a file name");
    op_fail("pmFromFile", "https://example.com/x.data", false, -SK_ENOTSUP,
            "does not download");
    op_fail("pmFromFile", ".", false, -SK_EIO, "not a regular file");
    /* A file of comments only: a warning, and the op never matches. */
    write_file("empty.data", "# nothing\n\n", 11);
    struct sk_diag d = {0};
    op = NULL;
    assert_int_equal(sk_op_compile(cfg, "pmFromFile", "empty.data", false,
                                   &conf, NULL, &d, &op),
                     0);
    assert_int_equal(d.warnings, 1);
    assert_false(run(op, "nothing"));
    sk_diag_fini(&d);
}

static void
test_pm_crs_files(void **state)
{
    (void)state;
    /* The real CRS data files load, when installed. */
    const char *dir = "/usr/share/modsecurity-crs/rules";
    if (access(dir, R_OK) != 0)
        skip();
    conf.basedir = dir;
    struct sk_op *op = op_ok("pmFromFile", "restricted-files.data");
    assert_true(run(op, "/var/www/.HTACCESS"));
    assert_false(run(op, "/index.php"));
    op = op_ok("pmFromFile", "unix-shell.data");
    assert_true(run(op, "/etc/passwd"));
    /* Every data file CRS ships compiles without warnings. */
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    unsigned files = 0;
    for (struct dirent *e; (e = readdir(dh)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".data") != 0)
            continue;
        op_ok("pmFromFile", e->d_name);
        files++;
    }
    closedir(dh);
    assert_true(files >= 19);
    assert_int_equal(diag.warnings, 0);
}

/* Strings ------------------------------------------------------------- */

static void
test_strings(void **state)
{
    (void)state;
    assert_true(match_c("streq", "POST", "POST"));
    assert_false(match_c("streq", "POST", "post"));
    assert_false(match_c("streq", "POST", "POST "));
    assert_true(match_c("streq", "", ""));
    assert_false(match_c("streq", "", "x"));
    struct sk_op *op = op_ok("streq", "GET /");
    assert_true(run(op, "GET /"));

    assert_true(match_c("beginsWith", "GET /", "GET /x"));
    assert_false(match_c("beginsWith", "GET /", "GET"));
    assert_true(match_c("beginsWith", "", ""));
    assert_true(match_c("endsWith", ".pdf", "/a/b.pdf"));
    assert_false(match_c("endsWith", ".pdf", "/a/b.PDF"));
    assert_false(match_c("endsWith", ".pdf", "pdf"));
    assert_true(match_c("endsWith", "", "x"));

    assert_true(match_c("contains", "/wp-admin/", "/blog/wp-admin/x"));
    assert_false(match_c("contains", "/wp-admin/", "/wp-admin"));
    assert_true(match_c("contains", "", ""));
    assert_true(match_c("strmatch", "needle", "haystackneedle"));
    assert_false(match_c("strmatch", "needle", "needl"));

    /* Binary with NUL on both sides. */
    op = op_ok("contains", "b");
    assert_true(runb(op, "a\0b", 3, NULL));
    op = op_ok("endsWith", "z");
    assert_false(runb(op, "z\0", 2, NULL));
    op = op_ok("streq", "a");
    assert_false(runb(op, "a\0", 2, NULL));
}

static void
test_contains_word(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("containsWord", "select");
    assert_true(run(op, "select"));
    assert_true(run(op, "1 select 2"));
    assert_true(run(op, "(select)"));
    assert_true(run(op, "1select2")); /* digits are boundaries in v3 */
    assert_false(run(op, "selection"));
    assert_false(run(op, "preselect"));
    assert_true(run(op, "selection select"));
    assert_false(run(op, ""));
    assert_false(run(op, "SELECT"));
    assert_true(match_c("containsWord", "", "x"));
}

static void
test_within(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("within", "HTTP/2 HTTP/2.0");
    assert_true(run(op, "HTTP/2.0"));
    assert_true(run(op, "HTTP/2"));
    assert_true(run(op, "2.0")); /* a plain substring test, as v3 */
    assert_false(run(op, "HTTP/1.1"));
    assert_true(run(op, "")); /* v3: empty input is within */
    /* Dynamic (CRS: @within %{tx.allowed_methods}). */
    op = op_dyn("within", "%{tx.allowed_methods}");
    assert_true(rund(op, "GET", "GET HEAD POST OPTIONS"));
    assert_false(rund(op, "DELETE", "GET HEAD POST OPTIONS"));
    assert_false(rund(op, "GET", ""));
    op = op_dyn("within", "|%{tx.allowed_request_content_type_charset}|");
    assert_true(rund(op, "|utf-8|", "|utf-8|iso-8859-1|"));
    op = op_dyn("streq", "%{tx.x}");
    assert_true(rund(op, "abc", "abc"));
    assert_false(rund(op, "abc", "abd"));
    op = op_dyn("endsWith", "%{tx.x}");
    assert_true(rund(op, "abc", "bc"));
}

/* Numbers ------------------------------------------------------------- */

static void
test_numbers(void **state)
{
    (void)state;
    assert_true(match_c("eq", "0", "0"));
    assert_true(match_c("eq", "0", "")); /* no digits: 0 */
    assert_true(match_c("eq", "0", "abc"));
    assert_true(match_c("eq", "12", " 12abc")); /* prefix is read */
    assert_true(match_c("eq", "-3", "-3"));
    assert_true(match_c("eq", "5", "+5"));
    assert_false(match_c("eq", "1", "2"));
    assert_true(match_c("eq", "0", "99999999999")); /* stoi overflow: 0 */
    assert_true(match_c("eq", " 7 ", "7"));

    assert_true(match_c("lt", "5", "4"));
    assert_false(match_c("lt", "5", "5"));
    assert_true(match_c("le", "5", "5"));
    assert_true(match_c("gt", "5", "6"));
    assert_false(match_c("gt", "5", "5"));
    assert_true(match_c("ge", "5", "5"));
    assert_true(match_c("gt", "0", "99999999999")); /* 64-bit */
    /* atoll saturates. */
    assert_true(
        match_c("ge", "9223372036854775807", "99999999999999999999999"));
    assert_true(
        match_c("le", "-9223372036854775808", "-99999999999999999999999"));
    assert_true(match_c("lt", "1", "x"));
    struct sk_op *op = op_ok("gt", "0");
    assert_true(runb(op,
                     "7\0"
                     "9",
                     3, NULL)); /* stops at NUL: 7 */

    op_fail("eq", "abc", false, -SK_EPARSE, "needs an integer");
    op_fail("lt", "5x", false, -SK_EPARSE, "needs an integer");
    op_fail("lt", "", false, -SK_EPARSE, "needs an integer");
    op_fail("eq", "3000000000", false, -SK_EPARSE, "32-bit");
    op_fail("gt", "99999999999999999999", false, -SK_EPARSE, "64-bit");

    /* Dynamic: read like the input (CRS: @lt %{tx.max_num_args}). */
    op = op_dyn("lt", "%{tx.max_num_args}");
    assert_true(rund(op, "3", "255"));
    assert_false(rund(op, "300", "255"));
    assert_false(rund(op, "3", ""));
    op = op_dyn("eq", "%{tx.x}");
    assert_true(rund(op, "1", "1"));
    assert_true(rund(op, "junk", "junk"));
}

/* Validators ---------------------------------------------------------- */

static void
test_byte_range(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("validateByteRange", "9,10,13,32-126");
    assert_false(run(op, "Hello, world!\r\n\t"));
    assert_false(run(op, ""));
    assert_true(run(op, "caf\xc3\xa9"));
    assert_true(runb(op, "a\0b", 3, NULL));
    assert_true(run(op, "\x7f"));
    op = op_ok("validateByteRange", "1-255");
    assert_false(run(op, "\x01\xff"));
    assert_true(runb(op, "\0", 1, NULL));
    op = op_ok("validateByteRange", " 0 , 255 ");
    assert_false(runb(op, "\0\xff", 2, NULL));
    assert_true(run(op, "a"));
    op = op_ok("validateByteRange", "65 - 67");
    assert_false(run(op, "ABC"));
    assert_true(run(op, "ABCD"));
    /* CRS's lists compile. */
    op_ok("validateByteRange", "38,44-46,48-58,61,65-90,95,97-122");
    op_ok("validateByteRange", "9,10,13,32-126,128-255");

    op_fail("validateByteRange", "", false, -SK_EPARSE, "empty item");
    op_fail("validateByteRange", "1,,2", false, -SK_EPARSE, "empty item");
    op_fail("validateByteRange", "1,", false, -SK_EPARSE, "empty item");
    op_fail("validateByteRange", "256", false, -SK_EPARSE, "not a byte");
    op_fail("validateByteRange", "1-256", false, -SK_EPARSE, "not a byte");
    op_fail("validateByteRange", "-1", false, -SK_EPARSE, "not a byte");
    op_fail("validateByteRange", "32x", false, -SK_EPARSE, "not a byte");
    op_fail("validateByteRange", "1-2-3", false, -SK_EPARSE, "not a byte");
    op_fail("validateByteRange", "0001", false, -SK_EPARSE, "not a byte");
    op_fail("validateByteRange", "200-100", false, -SK_EPARSE, "backwards");
}

static void
test_url_encoding(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("validateUrlEncoding", "");
    assert_false(run(op, ""));
    assert_false(run(op, "a%41%4a%4F+b"));
    assert_false(run(op, "plain \xff"));
    assert_true(run(op, "%"));
    assert_true(run(op, "a%4"));
    assert_true(run(op, "%4g"));
    assert_true(run(op, "%%41"));
    assert_true(run(op, "ok%41 then %zz"));
    assert_true(runb(op,
                     "%\0"
                     "0",
                     3, NULL));
}

static void
test_utf8(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("validateUtf8Encoding", NULL);
    assert_false(run(op, ""));
    assert_false(run(op, "plain ascii"));
    assert_false(runb(op, "nul\0ok", 6, NULL));
    assert_false(run(op, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_false(run(op, "\xf4\x8f\xbf\xbf")); /* U+10FFFF */
    assert_true(run(op, "\x80"));              /* stray continuation */
    assert_true(run(op, "\xc3"));              /* cut short */
    assert_true(run(op, "\xe2\x82"));
    assert_true(run(op, "\xc3\x41")); /* bad continuation */
    assert_true(run(op, "\xc0\xaf")); /* overlong '/' */
    assert_true(run(op, "\xe0\x80\xaf"));
    assert_true(run(op, "\xf0\x80\x80\xaf"));
    assert_true(run(op, "\xed\xa0\x80"));     /* surrogate */
    assert_true(run(op, "\xf4\x90\x80\x80")); /* above U+10FFFF */
    assert_true(run(op, "\xf5\x80\x80\x80"));
    assert_true(run(op, "\xf8\x88\x80\x80\x80"));
    assert_true(run(op, "\xff"));
}

/* IP sets ------------------------------------------------------------- */

static void
test_ip_match(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("ipMatch", "127.0.0.1,::1");
    assert_true(run(op, "127.0.0.1"));
    assert_true(run(op, "::1"));
    assert_true(run(op, "0:0:0:0:0:0:0:1"));
    assert_false(run(op, "127.0.0.2"));
    assert_false(run(op, "::2"));
    assert_false(run(op, ""));
    assert_false(run(op, " 127.0.0.1"));
    assert_false(runb(op, "127.0.0.1\0", 10, NULL));
    assert_false(run(op, "localhost"));

    op = op_ok("ipMatch", "10.0.0.0/8, 192.168.1.77/24 ,172.16.0.0/12,"
                          "2001:db8::/32,fe80::1/10,,8.8.8.8/32");
    assert_true(run(op, "10.255.1.2"));
    assert_false(run(op, "11.0.0.1"));
    assert_true(run(op, "192.168.1.200")); /* host bits cleared */
    assert_false(run(op, "192.168.2.1"));
    assert_true(run(op, "172.31.255.255"));
    assert_false(run(op, "172.32.0.0"));
    assert_true(run(op, "8.8.8.8"));
    assert_false(run(op, "8.8.8.9"));
    assert_true(run(op, "2001:db8:ffff::1"));
    assert_false(run(op, "2001:db9::1"));
    assert_true(run(op, "febf::1"));
    assert_false(run(op, "fec0::1"));
    assert_false(run(op, "::ffff:10.0.0.1")); /* v6 form: v6 list only */

    op = op_ok("ipMatch", "0.0.0.0/0");
    assert_true(run(op, "1.2.3.4"));
    assert_false(run(op, "::1"));
    op = op_ok("ipMatch", "::/0");
    assert_true(run(op, "abcd::1"));
    op = op_ok("ipMatch", "1.2.3.4/31,1.2.3.4");
    assert_true(run(op, "1.2.3.5"));

    op_fail("ipMatch", "", false, -SK_EPARSE, "at least one address");
    op_fail("ipMatch", " , ", false, -SK_EPARSE, "at least one address");
    op_fail("ipMatch", "1.2.3.4/33", false, -SK_EPARSE, "prefix length");
    op_fail("ipMatch", "1.2.3.4/", false, -SK_EPARSE, "prefix length");
    op_fail("ipMatch", "1.2.3.4/8x", false, -SK_EPARSE, "prefix length");
    op_fail("ipMatch", "::1/129", false, -SK_EPARSE, "prefix length");
    op_fail("ipMatch", "1.2.3", false, -SK_EPARSE, "not an IPv4");
    op_fail("ipMatch", "1.2.3.256", false, -SK_EPARSE, "not an IPv4");
    op_fail("ipMatch", "1:2:3", false, -SK_EPARSE, "not an IPv6");
    op_fail("ipMatch", "/8", false, -SK_EPARSE, "not an IP");
    op_fail("ipMatch", "1.2.3.4 5.6.7.8", false, -SK_EPARSE, "not an IPv4");
}

static void
test_ip_match_from_file(void **state)
{
    (void)state;
    static const char data[] = "# blocklist\n"
                               "192.0.2.0/24   # TEST-NET-1\n"
                               "\n"
                               "198.51.100.7, 2001:db8::/48\r\n"
                               "  203.0.113.9";
    write_file("ips.data", data, sizeof(data) - 1);
    struct sk_op *op = op_ok("ipMatchFromFile", "ips.data");
    assert_true(run(op, "192.0.2.200"));
    assert_true(run(op, "198.51.100.7"));
    assert_true(run(op, "2001:db8:0:1::5"));
    assert_false(run(op, "2001:db8:1::5"));
    assert_true(run(op, "203.0.113.9"));
    assert_false(run(op, "203.0.113.10"));
    op = op_ok("ipMatchF", "ips.data");
    assert_true(run(op, "192.0.2.1"));
    write_file("badips.data", "1.2.3.4\n5.6.7\n", 14);
    op_fail("ipMatchFromFile", "badips.data", false, -SK_EPARSE, "line 2");
    op_fail("ipMatchFromFile", "nope.data", false, -SK_ENOENT, "nope.data");
}

/* Detectors ----------------------------------------------------------- */

static void
test_detect(void **state)
{
    (void)state;
    /*
     * src/detect is written in parallel; these only check that the
     * operators call through and report a result of the right shape. An
     * input that is surely not an attack must not match.
     */
    struct sk_op *op = op_ok("detectSQLi", "");
    assert_false(run(op, "hello world"));
    assert_false(run(op, ""));
    struct sk_op_result r;
    static const char *sqli[] = {"1' OR '1'='1",
                                 "1 UNION SELECT password "
                                 "FROM users--",
                                 "SQLI-MARK"};
    for (size_t i = 0; i < sizeof(sqli) / sizeof(sqli[0]); i++) {
        assert_int_equal(
            sk_op_exec(op, txn, sk_str_c(sqli[i]), SK_STR_NULL, true, &r), 0);
        if (r.matched) {
            assert_int_equal(r.ncaptures, 1);
            assert_true(r.captures[0].len > 0);
            assert_true(r.captures[0].len < SK_DETECT_FP_MAX);
            assert_true(sk_str_eq(r.captures[0], r.matched_data));
        }
    }
    op = op_ok("detectXSS", NULL);
    assert_false(run(op, "hello world"));
    static const char *xss[] = {"<script>alert(1)</script>", "XSS-MARK"};
    for (size_t i = 0; i < sizeof(xss) / sizeof(xss[0]); i++) {
        assert_int_equal(
            sk_op_exec(op, txn, sk_str_c(xss[i]), SK_STR_NULL, true, &r), 0);
        if (r.matched)
            assert_true(sk_str_eq_c(r.captures[0], xss[i]));
    }
}

static void
test_unconditional(void **state)
{
    (void)state;
    assert_true(match_c("unconditionalMatch", "", ""));
    assert_true(match_c("unconditionalMatch", "", "x"));
    assert_false(match_c("noMatch", "", "x"));
    assert_false(match_c("noMatch", "", ""));
}

/* Out of memory ------------------------------------------------------- */

static void
test_alloc_failures(void **state)
{
    (void)state;
    write_file("oom.data", "alpha\nbeta\n", 11);
    /* Fail each allocation in turn: compile must fail cleanly (or
     * succeed), never crash or leak (ASan checks the leaks). */
    static const char *const cases[][3] = {
        {"rx", "(a|b)+c", "xxbcx"},
        {"pm", "alpha beta", "xBETAx"},
        {"pmFromFile", "oom.data", "alphabet"},
        {"ipMatch", "10.0.0.0/8,::1", "10.1.1.1"},
        {"within", "abc", "bc"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (unsigned long nth = 1; nth < 200; nth++) {
            struct sk_arena *a = sk_arena_new(0);
            assert_non_null(a);
            struct sk_diag d = {0};
            struct sk_op *op = NULL;
            sk_alloc_fail_at(nth, 0);
            int rc = sk_op_compile(a, cases[c][0], cases[c][1], false, &conf,
                                   NULL, &d, &op);
            bool hit = sk_alloc_count() >= nth;
            sk_alloc_fail_at(0, 0);
            if (rc == 0) {
                assert_non_null(op);
                assert_true(run(op, cases[c][2]));
            } else {
                assert_null(op);
            }
            sk_diag_fini(&d);
            sk_arena_free(a);
            if (!hit)
                break;
        }
    }
}

static void
test_exec_alloc_failure(void **state)
{
    (void)state;
    struct sk_op *op = op_ok("rx", "a(b)");
    struct sk_op_result r;
    /* The per-thread match data is made on first use; make that fail. */
    sk_op_thread_fini();
    sk_alloc_fail_at(1, 1);
    int rc = sk_op_exec(op, txn, sk_str_c("ab"), SK_STR_NULL, true, &r);
    sk_alloc_fail_at(0, 0);
    assert_int_equal(rc, -SK_ENOMEM);
    assert_false(r.matched);
    /* It recovers once memory is back. */
    sk_op_thread_fini();
    assert_true(run(op, "xab"));
    /* detectSQLi copies its fingerprint into the transaction arena. */
    op = op_ok("detectSQLi", NULL);
    struct sk_arena *tiny = sk_arena_new(0);
    assert_non_null(tiny);
    assert_int_equal(
        sk_op_exec(op, tiny, sk_str_c("SQLI-MARK"), SK_STR_NULL, true, &r), 0);
    sk_arena_free(tiny);
}

int
main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sk-op-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_argument_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_captures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_match_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_dynamic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pm_from_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pm_crs_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contains_word, setup, teardown),
        cmocka_unit_test_setup_teardown(test_within, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ip_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ip_match_from_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_detect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unconditional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_alloc_failure, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    static const char *files[] = {"phrases.data", "empty.data", "ips.data",
                                  "badips.data", "oom.data"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return failed;
}
