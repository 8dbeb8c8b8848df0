/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/bodyproc: JSON argument naming as libmodsecurity
 * 3.0.9 produces it, value text, limits and errors; XML parsing, XPath
 * evaluation, errors, and the refusal of external entities and entity
 * amplification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "bodyproc/bodyproc.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/str.h"

#define MAX_PAIRS 64

/* Collects pairs as "name=value" strings (NUL bytes shown as \0). */
struct pairs {
    int n;
    char buf[MAX_PAIRS][256];
    int stop_at; /* return -SK_EIO on this pair (1-based); 0 = never */
};

static void
show(char *dst, size_t cap, size_t *pos, struct sk_str s)
{
    for (size_t i = 0; i < s.len && *pos + 3 < cap; i++) {
        if (s.p[i] == '\0') {
            dst[(*pos)++] = '\\';
            dst[(*pos)++] = '0';
        } else {
            dst[(*pos)++] = (char)s.p[i];
        }
    }
}

static int
collect(void *ud, struct sk_str name, struct sk_str value)
{
    struct pairs *p = ud;
    assert_true(p->n < MAX_PAIRS);
    char *dst = p->buf[p->n++];
    size_t pos = 0;
    show(dst, 256, &pos, name);
    dst[pos++] = '=';
    show(dst, 256, &pos, value);
    dst[pos] = '\0';
    if (p->stop_at == p->n)
        return -SK_EIO;
    return 0;
}

static int
count_only(void *ud, struct sk_str name, struct sk_str value)
{
    (void)ud;
    (void)name;
    (void)value;
    return 0;
}

static int
json(const char *body, struct pairs *p, const char **msg)
{
    struct sk_arena *a = sk_arena_new(0);
    assert_non_null(a);
    memset(p, 0, sizeof(*p));
    int rc = sk_bodyproc_json(a, sk_str_c(body), 32, 100, collect, p, msg);
    /* Messages live in the arena: copy before freeing it. */
    static char saved[512];
    if (msg != NULL && *msg != NULL) {
        snprintf(saved, sizeof(saved), "%s", *msg);
        *msg = saved;
    }
    sk_arena_free(a);
    return rc;
}

/* Runs a body and compares the produced pairs with `want` (NULL-ended). */
static void
expect_json(const char *body, const char *const *want)
{
    struct pairs p;
    const char *msg = NULL;
    int rc = json(body, &p, &msg);
    if (rc != 0)
        fail_msg("%s: rc %d (%s)", body, rc, msg ? msg : "");
    int n = 0;
    for (; want[n] != NULL; n++) {
        if (n >= p.n)
            fail_msg("%s: missing pair %s", body, want[n]);
        assert_string_equal(p.buf[n], want[n]);
    }
    assert_int_equal(p.n, n);
}

static void
test_json_nested_objects(void **state)
{
    (void)state;
    expect_json(
        "{\"a\":\"x\",\"b\":{\"c\":\"y\",\"d\":{\"e\":\"z\"}}}",
        (const char *[]){"json.a=x", "json.b.c=y", "json.b.d.e=z", NULL});
    /* Key order is document order; keys with dots are taken as they are. */
    expect_json("{\"z\":1,\"a.b\":2,\"m\":3}",
                (const char *[]){"json.z=1", "json.a.b=2", "json.m=3", NULL});
}

static void
test_json_arrays(void **state)
{
    (void)state;
    expect_json("{\"a\":[1,2,3]}",
                (const char *[]){"json.a.array_0=1", "json.a.array_1=2",
                                 "json.a.array_2=3", NULL});
    /* A top-level array is named after the root, "json". */
    expect_json("[\"x\",\"y\"]",
                (const char *[]){"json.array_0=x", "json.array_1=y", NULL});
    /* Nested arrays: the inner array has an empty name. */
    expect_json("[[1,2],[3]]",
                (const char *[]){"json.array_0.array_0=1",
                                 "json.array_0.array_1=2",
                                 "json.array_1.array_0=3", NULL});
    /* Empty containers still take an index. */
    expect_json("[[],{},7]", (const char *[]){"json.array_2=7", NULL});
}

static void
test_json_arrays_of_objects(void **state)
{
    (void)state;
    expect_json("{\"a\":[{\"b\":1},{\"b\":2,\"c\":[true]}]}",
                (const char *[]){"json.a.array_0.b=1", "json.a.array_1.b=2",
                                 "json.a.array_1.c.array_0=true", NULL});
    expect_json("[{\"k\":\"v\"}]", (const char *[]){"json.array_0.k=v", NULL});
}

static void
test_json_empty(void **state)
{
    (void)state;
    expect_json("{}", (const char *[]){NULL});
    expect_json("[]", (const char *[]){NULL});
    expect_json("{\"a\":{},\"b\":[],\"c\":1}",
                (const char *[]){"json.c=1", NULL});
    /* An empty body is no error and no argument, as in ModSecurity. */
    expect_json("", (const char *[]){NULL});
    /* Empty keys are spelled "empty-key". */
    expect_json("{\"\":1,\"x\":{\"\":{\"\":2}}}",
                (const char *[]){"json.empty-key=1",
                                 "json.x.empty-key.empty-key=2", NULL});
}

static void
test_json_scalars(void **state)
{
    (void)state;
    expect_json(
        "{\"s\":\"str\",\"t\":true,\"f\":false,\"n\":null,"
        "\"i\":-0,\"r\":1.50E+02,\"big\":123456789012345678901234567890,"
        "\"e\":\"\"}",
        (const char *[]){"json.s=str", "json.t=true", "json.f=false",
                         "json.n=", "json.i=-0", "json.r=1.50E+02",
                         "json.big=123456789012345678901234567890",
                         "json.e=", NULL});
    /* Top-level scalars are accepted and named "json". */
    expect_json("\"hello\"", (const char *[]){"json=hello", NULL});
    expect_json(" 42 ", (const char *[]){"json=42", NULL});
    expect_json("null", (const char *[]){"json=", NULL});
    /* Digits inside strings and keys do not confuse the number text. */
    expect_json("{\"k1\":\"12\\\"3\",\"2\":4,\"a\":[\"-5\",6e1]}",
                (const char *[]){"json.k1=12\"3", "json.2=4",
                                 "json.a.array_0=-5", "json.a.array_1=6e1",
                                 NULL});
}

static void
test_json_nul_and_unicode(void **state)
{
    (void)state;
    /* \u0000 is delivered as a NUL byte inside the value. */
    struct sk_arena *a = sk_arena_new(0);
    struct pairs p = {0};
    const char *msg = NULL;
    const char body[] = "{\"a\":\"x\\u0000y\"}";
    assert_int_equal(
        sk_bodyproc_json(a, sk_str_c(body), 8, 8, collect, &p, &msg), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.buf[0], "json.a=x\\0y");
    sk_arena_free(a);

    /* Escapes decode to UTF-8, surrogate pairs included. */
    expect_json("{\"u\":\"\\u00e9\\u3042\\ud83d\\ude00\\/\\n\"}",
                (const char *[]){"json.u=\xc3\xa9\xe3\x81\x82"
                                 "\xf0\x9f\x98\x80/\n",
                                 NULL});
    expect_json("{\"\\u0041\":1}", (const char *[]){"json.A=1", NULL});

    /* A NUL in a key cannot be represented by jansson: error, not loss. */
    assert_int_equal(json("{\"a\\u0000b\":1}", &p, &msg), -SK_EPARSE);
    assert_non_null(msg);
    /* A lone surrogate and invalid UTF-8 are malformed. */
    assert_int_equal(json("{\"a\":\"\\ud800\"}", &p, &msg), -SK_EPARSE);
    assert_int_equal(json("{\"a\":\"\xff\"}", &p, &msg), -SK_EPARSE);
    /* A raw NUL byte in the body is malformed. */
    a = sk_arena_new(0);
    const char raw[] = "{\"a\":\"x\0y\"}";
    assert_int_equal(sk_bodyproc_json(a, sk_str_make(raw, sizeof(raw) - 1), 8,
                                      8, collect, &p, &msg),
                     -SK_EPARSE);
    sk_arena_free(a);
}

static void
test_json_depth_limit(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct pairs p = {0};
    const char *msg = NULL;
    /* Depth counts containers: this body is depth 3. */
    struct sk_str body = sk_str_c("{\"a\":{\"b\":[1]}}");
    assert_int_equal(sk_bodyproc_json(a, body, 3, 100, collect, &p, &msg), 0);
    assert_int_equal(p.n, 1);
    memset(&p, 0, sizeof(p));
    msg = NULL;
    assert_int_equal(sk_bodyproc_json(a, body, 2, 100, collect, &p, &msg),
                     -SK_ELIMIT);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "depth"));
    assert_int_equal(p.n, 0);
    /* Depth 0 still allows a scalar body. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(
        sk_bodyproc_json(a, sk_str_c("1"), 0, 100, collect, &p, &msg), 0);
    assert_int_equal(
        sk_bodyproc_json(a, sk_str_c("[]"), 0, 100, collect, &p, &msg),
        -SK_ELIMIT);

    /* Beyond jansson's own ceiling the parser refuses: still a limit. */
    size_t n = SK_BODYPROC_JSON_HARD_DEPTH + 10;
    char *deep = malloc(2 * n + 1);
    assert_non_null(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    msg = NULL;
    assert_int_equal(
        sk_bodyproc_json(a, sk_str_c(deep), UINT32_MAX, 100, collect, &p, &msg),
        -SK_ELIMIT);
    assert_non_null(msg);
    free(deep);
    sk_arena_free(a);
}

static void
test_json_count_limit(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    struct pairs p = {0};
    const char *msg = NULL;
    struct sk_str body = sk_str_c("[1,2,3,4]");
    assert_int_equal(sk_bodyproc_json(a, body, 8, 4, collect, &p, &msg), 0);
    assert_int_equal(p.n, 4);
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_bodyproc_json(a, body, 8, 3, collect, &p, &msg),
                     -SK_ELIMIT);
    /* The first max_args pairs were delivered, as in ModSecurity. */
    assert_int_equal(p.n, 3);
    assert_non_null(strstr(msg, "3"));
    /* A callback error stops the walk and is returned. */
    memset(&p, 0, sizeof(p));
    p.stop_at = 2;
    msg = NULL;
    assert_int_equal(sk_bodyproc_json(a, body, 8, 10, collect, &p, &msg),
                     -SK_EIO);
    assert_int_equal(p.n, 2);
    assert_non_null(msg);
    sk_arena_free(a);
}

static void
test_json_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "test",
        "{",
        "{\"a\":}",
        "{\"a\":1,}",
        "[1,2",
        "{} {}",
        "{\"a\":1} x",
        "{'a':1}",
        "/* c */ {}",
        "  ",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":NaN}",
        "\"\\x41\"",
        "{\"a\":1e400}",
        "{\"a\":1,\"a\":2}", /* duplicates: refused, not half-inspected */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pairs p;
        const char *msg = NULL;
        int rc = json(bad[i], &p, &msg);
        if (rc != -SK_EPARSE)
            fail_msg("%s: rc %d, want -SK_EPARSE", bad[i], rc);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
    }
    struct pairs p;
    const char *msg = NULL;
    assert_int_equal(json("{\"a\":1,\"a\":2}", &p, &msg), -SK_EPARSE);
    assert_non_null(strstr(msg, "duplicate"));
    assert_int_equal(json("{\"a\": tru}", &p, &msg), -SK_EPARSE);
    assert_non_null(strstr(msg, "line 1"));
}

/* XML ------------------------------------------------------------------ */

static struct sk_xml_doc *
parse_ok(struct sk_arena *a, const char *body)
{
    struct sk_xml_doc *doc = NULL;
    const char *msg = NULL;
    int rc = sk_bodyproc_xml_parse(a, sk_str_c(body), &doc, &msg);
    if (rc != 0)
        fail_msg("%s: rc %d (%s)", body, rc, msg ? msg : "");
    assert_non_null(doc);
    return doc;
}

static void
test_xml_wellformed_and_xpath(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    /* The shape of CRS test 944120-7/8. */
    struct sk_xml_doc *doc = parse_ok(
        a, "<?xml version=\"1.0\"?><xml><element attribute_name=\"attr_v\">"
           "elem_v</element><e2 a=\"1\" b=\"2\">t2</e2></xml>");
    struct pairs p = {0};
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "/*", collect, &p), 0);
    assert_int_equal(p.n, 1);
    /* Element text only: no tag or attribute names or values. */
    assert_string_equal(p.buf[0], "/*=elem_vt2");

    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "//@*", collect, &p), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.buf[0], "//@*=attr_v");
    assert_string_equal(p.buf[1], "//@*=1");
    assert_string_equal(p.buf[2], "//@*=2");

    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, NULL, collect, &p), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.buf[0], "=elem_vt2");

    /* Nodes without matches yield nothing; non-node-sets their value. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "//nope", collect, &p), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "count(//@*)", collect, &p),
                     0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.buf[0], "count(//@*)=3");

    /* Invalid expressions are -SK_EINVAL, also when checked at load. */
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "/*[", collect, &p),
                     -SK_EINVAL);
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "nofunc()", collect, &p),
                     -SK_EINVAL);
    assert_int_equal(sk_bodyproc_xpath_check("/*["), -SK_EINVAL);
    assert_int_equal(sk_bodyproc_xpath_check("//@*"), 0);
    assert_int_equal(sk_bodyproc_xpath_check(NULL), -SK_EINVAL);

    /* A callback error stops evaluation. */
    memset(&p, 0, sizeof(p));
    p.stop_at = 1;
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "//@*", collect, &p),
                     -SK_EIO);
    assert_int_equal(p.n, 1);
    sk_arena_free(a);
}

static void
test_xml_text_kinds(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    /* CDATA, internal entities and character references count as text;
     * comments and processing instructions do not. */
    struct sk_xml_doc *doc =
        parse_ok(a, "<!DOCTYPE r [<!ENTITY i \"inner\">]><r>a<![CDATA[<b>]]>&i;"
                    "&#x41;<!-- c --><?pi x?></r>");
    struct pairs p = {0};
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "/*", collect, &p), 0);
    assert_string_equal(p.buf[0], "/*=a<b>innerA");
    /* Latin-1 declared encoding is converted to UTF-8. */
    doc = parse_ok(a, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
                      "<r>\xe9</r>");
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "/*", collect, &p), 0);
    assert_string_equal(p.buf[0], "/*=\xc3\xa9");
    sk_arena_free(a);
}

static void
test_xml_malformed(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    static const char *const bad[] = {
        "<a><b></a>",
        "<a>",
        "not xml",
        "<a></a><b></b>",
        "<a x=1/>",
        "<a>&undefined;</a>",
        "<?xml version=\"1.0\"?>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sk_xml_doc *doc = NULL;
        const char *msg = NULL;
        int rc = sk_bodyproc_xml_parse(a, sk_str_c(bad[i]), &doc, &msg);
        if (rc != -SK_EPARSE)
            fail_msg("%s: rc %d, want -SK_EPARSE", bad[i], rc);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
    }
    struct sk_xml_doc *doc = NULL;
    const char *msg = NULL;
    assert_int_equal(
        sk_bodyproc_xml_parse(a, sk_str_c("<r>\n<b>x</c></r>"), &doc, &msg),
        -SK_EPARSE);
    assert_non_null(strstr(msg, "line 2"));
    /* The partial tree is kept, as ModSecurity does, and can be read. */
    assert_non_null(doc);
    struct pairs p = {0};
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "/*", collect, &p), 0);
    /* Empty bodies and NUL bytes are malformed too. */
    assert_int_equal(sk_bodyproc_xml_parse(a, sk_str_c(""), &doc, &msg),
                     -SK_EPARSE);
    assert_null(doc);
    const char nul[] = "<a>x\0y</a>";
    assert_int_equal(
        sk_bodyproc_xml_parse(a, sk_str_make(nul, sizeof(nul) - 1), &doc, &msg),
        -SK_EPARSE);
    sk_arena_free(a);
}

static void
test_xml_no_external_entities(void **state)
{
    (void)state;
    /* A file with a marker that must never appear in any result. */
    char path[] = "/tmp/sk_bodyproc_xxe_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd != -1);
    const char marker[] = "SECRET_MARKER_7f3a";
    assert_int_equal(write(fd, marker, sizeof(marker) - 1),
                     (ssize_t)(sizeof(marker) - 1));
    close(fd);

    struct sk_arena *a = sk_arena_new(0);
    char body[1024];
    static const char *const forms[][2] = {
        /* external general entity */
        {"<!DOCTYPE r [<!ENTITY x SYSTEM \"file://", "\">]><r>a&x;b</r>"},
        /* external parameter entity */
        {"<!DOCTYPE r [<!ENTITY % p SYSTEM \"file://", "\">%p;]><r>ab</r>"},
        /* external DTD subset */
        {"<!DOCTYPE r SYSTEM \"file://", "\"><r>ab</r>"},
        /* entity in an attribute value, plain path */
        {"<!DOCTYPE r [<!ENTITY x SYSTEM \"", "\">]><r a=\"&x;\">ab</r>"},
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(body, sizeof(body), "%s%s%s", forms[i][0], path, forms[i][1]);
        struct sk_xml_doc *doc = NULL;
        const char *msg = NULL;
        int rc = sk_bodyproc_xml_parse(a, sk_str_c(body), &doc, &msg);
        if (doc == NULL)
            continue; /* refused outright is fine too */
        (void)rc;
        const char *exprs[] = {"/*", "//@*", "//text()", NULL};
        for (size_t j = 0; j < sizeof(exprs) / sizeof(exprs[0]); j++) {
            struct pairs p = {0};
            sk_bodyproc_xml_eval(a, doc, exprs[j], collect, &p);
            for (int k = 0; k < p.n; k++) {
                if (strstr(p.buf[k], marker) != NULL)
                    fail_msg("form %zu leaked the file: %s", i, p.buf[k]);
            }
            if (i < 3 && j == 0 && rc == 0)
                assert_string_equal(p.buf[0], "/*=ab");
        }
    }
    unlink(path);
    sk_arena_free(a);
}

/*
 * The parser must not even ask for an external resource, also when other
 * code in the thread changed libxml2's defaults to substitute entities,
 * load the external subset and validate. A counting loader replaces our
 * deny-all loader for the duration of the test.
 */
static int loader_calls;

static xmlParserInputPtr
counting_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    (void)url;
    (void)id;
    (void)ctxt;
    loader_calls++;
    return NULL;
}

static void *
tampered_thread(void *arg)
{
    (void)arg;
    xmlSubstituteEntitiesDefault(1);
    xmlLoadExtDtdDefaultValue = XML_DETECT_IDS | XML_COMPLETE_ATTRS;
    xmlDoValidityCheckingDefaultValue = 1;
    static const char *const bodies[] = {
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"/etc/hostname\">]><r>a&x;b</r>",
        "<!DOCTYPE r [<!ENTITY % p SYSTEM \"/etc/hostname\">%p;]><r/>",
        "<!DOCTYPE r SYSTEM \"/etc/hostname\"><r>ab</r>",
        "<r xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
        "<xi:include href=\"/etc/hostname\" parse=\"text\"/></r>",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct sk_arena *a = sk_arena_new(0);
        struct sk_xml_doc *doc = NULL;
        const char *msg = NULL;
        (void)sk_bodyproc_xml_parse(a, sk_str_c(bodies[i]), &doc, &msg);
        if (doc != NULL)
            (void)sk_bodyproc_xml_eval(a, doc, "/*", count_only, NULL);
        sk_arena_free(a);
    }
    return NULL;
}

static void
test_xml_never_loads(void **state)
{
    (void)state;
    assert_int_equal(sk_bodyproc_init(), 0);
    xmlExternalEntityLoader saved = xmlGetExternalEntityLoader();
    xmlSetExternalEntityLoader(counting_loader);
    loader_calls = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tampered_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    /* And with untouched defaults in this thread. */
    int tampered_calls = loader_calls;
    struct sk_arena *a = sk_arena_new(0);
    struct sk_xml_doc *doc = NULL;
    const char *msg = NULL;
    (void)sk_bodyproc_xml_parse(
        a, sk_str_c("<!DOCTYPE r SYSTEM \"/etc/hostname\"><r/>"), &doc, &msg);
    sk_arena_free(a);
    xmlSetExternalEntityLoader(saved);
    assert_int_equal(tampered_calls, 0);
    assert_int_equal(loader_calls, 0);
}

static void
test_xml_billion_laughs(void **state)
{
    (void)state;
    char body[4096];
    size_t pos = 0;
    pos += (size_t)snprintf(body + pos, sizeof(body) - pos,
                            "<?xml version=\"1.0\"?><!DOCTYPE l ["
                            "<!ENTITY l0 \"lol\">");
    for (int i = 1; i <= 9; i++) {
        pos += (size_t)snprintf(body + pos, sizeof(body) - pos,
                                "<!ENTITY l%d \"", i);
        for (int j = 0; j < 10; j++)
            pos += (size_t)snprintf(body + pos, sizeof(body) - pos, "&l%d;",
                                    i - 1);
        pos += (size_t)snprintf(body + pos, sizeof(body) - pos, "\">");
    }
    snprintf(body + pos, sizeof(body) - pos, "]><l>&l9;</l>");

    struct sk_arena *a = sk_arena_new(0);
    struct sk_xml_doc *doc = NULL;
    const char *msg = NULL;
    int rc = sk_bodyproc_xml_parse(a, sk_str_c(body), &doc, &msg);
    /* libxml2 detects the amplification and fails the parse. */
    assert_int_equal(rc, -SK_EPARSE);
    assert_non_null(msg);
    if (doc != NULL) {
        /* Whatever partial tree remains must stay small. */
        struct pairs p = {0};
        assert_int_equal(sk_bodyproc_xml_eval(a, doc, "/*", collect, &p), 0);
        for (int k = 0; k < p.n; k++)
            assert_true(strlen(p.buf[k]) < 200);
    }
    sk_arena_free(a);
}

static void
test_xml_depth_limit(void **state)
{
    (void)state;
    /* libxml2's default depth limit (256 without XML_PARSE_HUGE). */
    size_t n = 5000;
    char *body = malloc(n * 7 + 1);
    assert_non_null(body);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(body + pos, "<a>", 3);
        pos += 3;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(body + pos, "</a>", 4);
        pos += 4;
    }
    struct sk_arena *a = sk_arena_new(0);
    struct sk_xml_doc *doc = NULL;
    const char *msg = NULL;
    assert_int_equal(
        sk_bodyproc_xml_parse(a, sk_str_make(body, pos), &doc, &msg),
        -SK_EPARSE);
    assert_non_null(msg);
    free(body);
    sk_arena_free(a);
}

static void
test_xml_eval_cap(void **state)
{
    (void)state;
    /* 250 nested elements around ~270 KiB of text: `//\*` would copy the
     * text once per level, about 67 MB, over SK_BODYPROC_XML_EVAL_BYTES. */
    size_t depth = 250, text = 270 * 1024;
    size_t cap = depth * 7 + text + 1;
    char *body = malloc(cap);
    assert_non_null(body);
    size_t pos = 0;
    for (size_t i = 0; i < depth; i++) {
        memcpy(body + pos, "<a>", 3);
        pos += 3;
    }
    memset(body + pos, 'x', text);
    pos += text;
    for (size_t i = 0; i < depth; i++) {
        memcpy(body + pos, "</a>", 4);
        pos += 4;
    }
    struct sk_arena *a = sk_arena_new(0);
    struct sk_xml_doc *doc = NULL;
    const char *msg = NULL;
    assert_int_equal(
        sk_bodyproc_xml_parse(a, sk_str_make(body, pos), &doc, &msg), 0);
    free(body);
    struct pairs p = {0};
    /* The root alone is fine. */
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "count(//*)", collect, &p),
                     0);
    assert_string_equal(p.buf[0], "count(//*)=250");
    assert_int_equal(sk_bodyproc_xml_eval(a, doc, "//*", count_only, &p),
                     -SK_ELIMIT);
    sk_arena_free(a);
}

/* Runs malformed inputs with fd 2 redirected and checks it stays empty. */
static void
test_xml_silent(void **state)
{
    (void)state;
    char path[] = "/tmp/sk_bodyproc_stderr_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd != -1);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved != -1);
    assert_true(dup2(fd, 2) != -1);

    struct sk_arena *a = sk_arena_new(0);
    static const char *const bad[] = {
        "<a><b></a>",
        "<?xml version=\"1.0\" encoding=\"no-such-enc\"?><a/>",
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"http://127.0.0.1:9/x\">]>"
        "<r>&x;</r>",
        "<!DOCTYPE r SYSTEM \"/nonexistent/x.dtd\"><r/>",
        "<a b='1' b='2'/>",
        "<a xmlns:p='urn:x'><q:b/></a>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sk_xml_doc *doc = NULL;
        const char *msg = NULL;
        (void)sk_bodyproc_xml_parse(a, sk_str_c(bad[i]), &doc, &msg);
        if (doc != NULL) {
            struct pairs p = {0};
            (void)sk_bodyproc_xml_eval(a, doc, "/*[", collect, &p);
            (void)sk_bodyproc_xml_eval(a, doc, "q:x", collect, &p);
        }
    }
    assert_int_equal(sk_bodyproc_xpath_check("]]"), -SK_EINVAL);
    sk_arena_free(a);

    fflush(stderr);
    assert_true(dup2(saved, 2) != -1);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(path);
    assert_int_equal(size, 0);
}

/* Two threads parse different malformed bodies; messages must not mix. */
struct thread_job {
    const char *body;
    const char *want; /* substring of every message */
    int failures;
};

static void *
thread_run(void *arg)
{
    struct thread_job *job = arg;
    for (int i = 0; i < 300; i++) {
        struct sk_arena *a = sk_arena_new(0);
        struct sk_xml_doc *doc = NULL;
        const char *msg = NULL;
        int rc = sk_bodyproc_xml_parse(a, sk_str_c(job->body), &doc, &msg);
        if (rc != -SK_EPARSE || msg == NULL || strstr(msg, job->want) == NULL)
            job->failures++;
        sk_arena_free(a);
    }
    return NULL;
}

static void
test_xml_threads(void **state)
{
    (void)state;
    struct thread_job jobs[2] = {
        {"<a>\n\n<b></c></a>", "line 3", 0},
        {"<a\n", "line 2", 0},
    };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_run, &jobs[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(jobs[0].failures, 0);
    assert_int_equal(jobs[1].failures, 0);
}

/*
 * Fails each of our allocations in turn (arena blocks, name buffer,
 * message): every run must end in 0 or -SK_ENOMEM with a message, and
 * ASan checks that nothing leaks on those paths.
 */
static void
test_alloc_failures(void **state)
{
    (void)state;
    /* Names long enough to outgrow the first arena block and buffer. */
    char body[8192];
    size_t pos = 0;
    pos += (size_t)snprintf(body, sizeof(body), "{");
    for (int i = 0; i < 40; i++)
        pos += (size_t)snprintf(body + pos, sizeof(body) - pos,
                                "%s\"key_%03d_%0120d\":[\"v\",%d]",
                                i ? "," : "", i, 0, i);
    snprintf(body + pos, sizeof(body) - pos, "}");
    const char *xml = "<r a='1'><b>text</b>oops";

    int completed = 0;
    for (unsigned long nth = 1; nth < 500 && completed < 2; nth++) {
        completed = 0;
        struct sk_arena *a = sk_arena_new(256);
        assert_non_null(a);
        struct pairs p = {0};
        const char *msg = NULL;
        sk_alloc_fail_at(nth, 0);
        int rc =
            sk_bodyproc_json(a, sk_str_c(body), 8, 1000, count_only, &p, &msg);
        unsigned long used = sk_alloc_count();
        sk_alloc_fail_at(0, 0);
        assert_true(rc == 0 || rc == -SK_ENOMEM);
        assert_true(rc == 0 || msg != NULL);
        if (used < nth) {
            assert_int_equal(rc, 0);
            completed++;
        }

        struct sk_xml_doc *doc = NULL;
        sk_alloc_fail_at(nth, 0);
        rc = sk_bodyproc_xml_parse(a, sk_str_c(xml), &doc, &msg);
        if (doc != NULL)
            (void)sk_bodyproc_xml_eval(a, doc, "//@*", count_only, NULL);
        used = sk_alloc_count();
        sk_alloc_fail_at(0, 0);
        assert_true(rc == -SK_EPARSE || rc == -SK_ENOMEM);
        assert_non_null(msg);
        if (used < nth)
            completed++;
        sk_arena_free(a);
    }
    assert_int_equal(completed, 2);
}

static void
test_bad_arguments(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(0);
    const char *msg = NULL;
    struct sk_xml_doc *doc = NULL;
    assert_int_equal(
        sk_bodyproc_json(a, sk_str_c("{}"), 8, 8, NULL, NULL, &msg),
        -SK_EINVAL);
    assert_int_equal(sk_bodyproc_xml_parse(a, sk_str_c("<a/>"), NULL, &msg),
                     -SK_EINVAL);
    assert_int_equal(sk_bodyproc_xml_eval(a, NULL, "/*", collect, NULL),
                     -SK_EINVAL);
    assert_int_equal(sk_bodyproc_xml_parse(a, sk_str_c("<a/>"), &doc, &msg), 0);
    assert_int_equal(sk_bodyproc_init(), 0);
    sk_arena_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_nested_objects),
        cmocka_unit_test(test_json_arrays),
        cmocka_unit_test(test_json_arrays_of_objects),
        cmocka_unit_test(test_json_empty),
        cmocka_unit_test(test_json_scalars),
        cmocka_unit_test(test_json_nul_and_unicode),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_json_count_limit),
        cmocka_unit_test(test_json_malformed),
        cmocka_unit_test(test_xml_wellformed_and_xpath),
        cmocka_unit_test(test_xml_text_kinds),
        cmocka_unit_test(test_xml_malformed),
        cmocka_unit_test(test_xml_no_external_entities),
        cmocka_unit_test(test_xml_never_loads),
        cmocka_unit_test(test_xml_billion_laughs),
        cmocka_unit_test(test_xml_depth_limit),
        cmocka_unit_test(test_xml_eval_cap),
        cmocka_unit_test(test_xml_silent),
        cmocka_unit_test(test_xml_threads),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
