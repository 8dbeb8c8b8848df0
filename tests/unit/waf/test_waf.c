/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the rule engine (src/waf) through its public API: rule
 * loading errors, chains, skipAfter, setvar and macros, captures, ctl,
 * exclusions, counting, regex selectors, SecDefaultAction, body
 * processors, verdicts, and the variable/action/directive tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sekimori/waf.h"
#include "waf/engine.h"

size_t sk__waf_directive_names(const char **out, size_t max);
size_t sk__waf_action_names(const char **out, size_t max);
size_t sk__waf_txn_nm_skipped(const struct sk_waf_txn *t);

static struct sk_waf_rules *
load(const char *text)
{
    struct sk_waf_rules *r = sk_waf_rules_new();
    assert_non_null(r);
    int rc = sk_waf_rules_add_text(r, "test.conf", text, strlen(text));
    if (rc == 0)
        rc = sk_waf_rules_compile(r);
    if (rc != 0) {
        print_error("%s", sk_waf_rules_errors(r));
        fail_msg("rules failed to load");
    }
    return r;
}

/* Loads text that must fail, and returns the diagnostics (static). */
static const char *
load_fail(const char *text)
{
    static char buf[4096];
    struct sk_waf_rules *r = sk_waf_rules_new();
    assert_non_null(r);
    int rc = sk_waf_rules_add_text(r, "bad.conf", text, strlen(text));
    if (rc == 0)
        rc = sk_waf_rules_compile(r);
    assert_int_not_equal(rc, 0);
    snprintf(buf, sizeof(buf), "%s", sk_waf_rules_errors(r));
    sk_waf_rules_free(r);
    return buf;
}

/* Runs a GET (and optional form body) through phases 1-5. */
static struct sk_waf_txn *
run(struct sk_waf_rules *r, const char *method, const char *uri,
    const char *const *headers, const char *body)
{
    struct sk_waf_txn *t = sk_waf_txn_new(r, "t1");
    assert_non_null(t);
    assert_int_equal(sk_waf_txn_connection(t, "10.0.0.1", 1234, "10.0.0.2", 80),
                     0);
    assert_int_equal(sk_waf_txn_request_line(t, method, strlen(method), uri,
                                             strlen(uri), "HTTP/1.1", 8),
                     0);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i += 2)
        assert_int_equal(
            sk_waf_txn_request_header(t, headers[i], strlen(headers[i]),
                                      headers[i + 1], strlen(headers[i + 1])),
            0);
    assert_int_equal(sk_waf_txn_phase(t, 1), 0);
    if (body != NULL)
        assert_int_equal(sk_waf_txn_request_body(t, body, strlen(body)), 0);
    assert_int_equal(sk_waf_txn_phase(t, 2), 0);
    assert_int_equal(sk_waf_txn_response_status(t, 200, "HTTP/1.1"), 0);
    assert_int_equal(sk_waf_txn_phase(t, 5), 0);
    return t;
}

static bool
matched(const struct sk_waf_txn *t, uint64_t id)
{
    for (size_t i = 0; i < sk_waf_txn_match_count(t); i++)
        if (sk_waf_txn_match(t, i)->id == id)
            return true;
    return false;
}

static void
test_basic_rx_and_deny(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRule ARGS \"@rx ^evil\" \"id:1,phase:1,deny,status:406,"
             "msg:'bad %{MATCHED_VAR_NAME}',logdata:'%{MATCHED_VAR}'\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/?a=good&b=evil%21", NULL, NULL);
    struct sk_waf_verdict v;
    sk_waf_txn_verdict(t, &v);
    assert_int_equal(v.action, SK_WAF_DENY);
    assert_int_equal(v.status, 406);
    assert_int_equal(v.rule_id, 1);
    assert_true(matched(t, 1));
    const struct sk_waf_match *m = sk_waf_txn_match(t, 0);
    assert_string_equal(m->msg, "bad ARGS:b");
    assert_string_equal(m->data, "evil!");
    char line[1024];
    sk_waf_txn_format_match(t, 0, line, sizeof(line));
    assert_non_null(strstr(line, "[id \"1\"]"));
    sk_waf_txn_free(t);

    t = run(r, "GET", "/?a=good", NULL, NULL);
    sk_waf_txn_verdict(t, &v);
    assert_int_equal(v.action, SK_WAF_PASS);
    assert_int_equal(sk_waf_txn_match_count(t), 0);
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/*
 * A prefiltered link is ruled out as a whole when no value of its
 * targets holds a required literal (txn.c, pf_link_may_match): the
 * verdict must follow the values as they change (body arguments after
 * phase 1, TX written by rules), literal selectors, names and run-time
 * exclusions.
 */
static void
test_prefilter_whole_link(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load(
        "SecRuleEngine On\n"
        "SecRequestBodyAccess On\n"
        "SecRule REQUEST_URI \"@beginsWith /x\" \"id:86,phase:1,pass,nolog,"
        "ctl:ruleRemoveTargetById=87;ARGS:q\"\n"
        "SecRule ARGS \"@rx union\\s+select\" \"id:80,phase:1,pass\"\n"
        "SecRule ARGS \"@rx union\\s+select\" \"id:81,phase:2,pass\"\n"
        "SecRule REQUEST_HEADERS:User-Agent \"@rx sqlmap\" "
        "\"id:82,phase:1,pass,t:none,t:lowercase\"\n"
        "SecRule ARGS_NAMES \"@rx evil_name\" \"id:83,phase:2,pass\"\n"
        "SecAction \"id:84,phase:2,pass,setvar:tx.foo=xx_attack_xx\"\n"
        "SecRule TX:/^foo/ \"@rx attack\" \"id:85,phase:2,pass\"\n"
        "SecRule ARGS \"@rx union\\s+select\" \"id:87,phase:2,pass\"\n");
    struct sk_waf_rules_stats st;
    sk_waf_rules_stats(r, &st);
    assert_int_equal(st.regex_prefiltered, 6);
    static const char *const form[] = {"Content-Type",
                                       "application/x-www-form-urlencoded",
                                       "X-Note", "sqlmap", NULL};
    /* The attack only in the body: not seen in phase 1, seen in 2. */
    struct sk_waf_txn *t =
        run(r, "POST", "/p?a=1", form, "b=1+union+select+2&evil_name=1");
    assert_false(matched(t, 80));
    assert_true(matched(t, 81));
    assert_true(matched(t, 83));
    assert_true(matched(t, 85));
    assert_true(matched(t, 87));
    assert_false(matched(t, 82)); /* sqlmap is in another header */
    sk_waf_txn_free(t);
    static const char *const ua[] = {"User-Agent", "SQLMap/1.0", NULL};
    t = run(r, "GET", "/p?a=union%20select", ua, NULL);
    assert_true(matched(t, 80));
    assert_true(matched(t, 81));
    assert_true(matched(t, 82));
    assert_false(matched(t, 83));
    sk_waf_txn_free(t);
    /* Excluded at run time: q is not inspected by 87, p is. */
    t = run(r, "GET", "/x?q=union%20select", NULL, NULL);
    assert_true(matched(t, 81));
    assert_false(matched(t, 87));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/x?p=union%20select", NULL, NULL);
    assert_true(matched(t, 87));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/x?p=fine", NULL, NULL);
    assert_false(matched(t, 80));
    assert_false(matched(t, 81));
    assert_false(matched(t, 87));
    assert_true(matched(t, 85));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/*
 * Prefilter verdicts remembered across transactions (memo.h): the same
 * bytes give the same verdict, other bytes of the same length do not
 * reuse it, and two rule sets used in turn on one thread keep apart.
 */
static void
test_prefilter_memo(void **state)
{
    (void)state;
    struct sk_waf_rules *a =
        load("SecRuleEngine On\n"
             "SecRule REQUEST_HEADERS \"@rx union\\s+select\" "
             "\"id:90,phase:1,pass,t:none,t:lowercase\"\n");
    struct sk_waf_rules *b =
        load("SecRuleEngine On\n"
             "SecRule REQUEST_HEADERS \"@rx <script\" "
             "\"id:91,phase:1,pass,t:none,t:lowercase\"\n");
    static const char *const benign[] = {"X-A", "union  sel3ct", NULL};
    static const char *const attack[] = {"X-A", "UNION  SELECT", NULL};
    static const char *const xss[] = {"X-A", "<SCRIPT>", NULL};
    for (int round = 0; round < 3; round++) {
        struct sk_waf_txn *t = run(a, "GET", "/", benign, NULL);
        assert_false(matched(t, 90));
        sk_waf_txn_free(t);
        t = run(a, "GET", "/", attack, NULL);
        assert_true(matched(t, 90));
        sk_waf_txn_free(t);
        t = run(b, "GET", "/", attack, NULL);
        assert_false(matched(t, 91));
        sk_waf_txn_free(t);
        t = run(b, "GET", "/", xss, NULL);
        assert_true(matched(t, 91));
        sk_waf_txn_free(t);
        t = run(a, "GET", "/", xss, NULL);
        assert_false(matched(t, 90));
        sk_waf_txn_free(t);
    }
    /* Two rule sets' transactions interleaved on one thread (a reload):
     * each scan uses a scratch made for its own rule set. */
    struct sk_waf_rules *c =
        load("SecRuleEngine On\n"
             "SecRule REQUEST_HEADERS \"@rx sel3ct\" \"id:93,phase:1,pass\"\n"
             "SecRule RESPONSE_HEADERS \"@rx union\\s+select\" "
             "\"id:94,phase:3,pass\"\n");
    struct sk_waf_txn *ta = sk_waf_txn_new(c, "ta");
    assert_non_null(ta);
    assert_int_equal(
        sk_waf_txn_request_line(ta, "GET", 3, "/", 1, "HTTP/1.1", 8), 0);
    assert_int_equal(sk_waf_txn_request_header(ta, "X-A", 3, "sel3ct", 6), 0);
    assert_int_equal(sk_waf_txn_phase(ta, 1), 0);
    struct sk_waf_txn *tb = run(b, "GET", "/", xss, NULL);
    assert_true(matched(tb, 91));
    sk_waf_txn_free(tb);
    assert_int_equal(sk_waf_txn_response_status(ta, 200, "HTTP/1.1"), 0);
    assert_int_equal(
        sk_waf_txn_response_header(ta, "X-A", 3, "union select", 12), 0);
    assert_int_equal(sk_waf_txn_phase(ta, 5), 0);
    assert_true(matched(ta, 93));
    assert_true(matched(ta, 94));
    sk_waf_txn_free(ta);
    sk_waf_rules_free(c);
    sk_waf_rules_free(a);
    /* A new rule set after the old one is gone starts a new memo. */
    a = load("SecRuleEngine On\n"
             "SecRule REQUEST_HEADERS \"@rx sel3ct\" "
             "\"id:92,phase:1,pass,t:none,t:lowercase\"\n");
    struct sk_waf_txn *t = run(a, "GET", "/", benign, NULL);
    assert_true(matched(t, 92));
    sk_waf_txn_free(t);
    sk_waf_rules_free(a);
    sk_waf_rules_free(b);
}

/* A selector's remembered result belongs to the entry's name, not to the
 * slot: an entry added where a deleted one was is judged afresh. */
static void
test_selector_after_delete(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecAction \"id:100,phase:1,pass,nolog,setvar:tx.foo_a=1\"\n"
             "SecRule TX:/^foo/ \"@rx 1\" \"id:101,phase:1,pass\"\n"
             "SecAction \"id:102,phase:1,pass,nolog,setvar:!tx.foo_a,"
             "setvar:tx.bar_b=attack\"\n"
             "SecRule TX:/^foo/ \"@rx attack\" \"id:103,phase:1,pass\"\n"
             "SecRule TX:/^bar/ \"@rx attack\" \"id:104,phase:1,pass\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/", NULL, NULL);
    assert_true(matched(t, 101));
    assert_false(matched(t, 103));
    assert_true(matched(t, 104));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* Selector regexes that are plain text are searched as text: the same
 * answers as the regex, case ignored, ^ anchoring. */
static void
test_selector_literal(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load(
        "SecRuleEngine On\n"
        "SecAction \"id:110,phase:1,pass,nolog,setvar:tx.FOO_a=1,"
        "setvar:tx.xfoo_b=2,setvar:tx.LEAKAGE/Errors=3,setvar:tx.ab=4\"\n"
        "SecRule &TX:/^foo_/ \"@eq 1\" \"id:111,phase:1,pass\"\n"
        "SecRule &TX:/foo_/ \"@eq 2\" \"id:112,phase:1,pass\"\n"
        "SecRule &TX:/leakage\\/errors/ \"@eq 1\" \"id:113,phase:1,pass\"\n"
        "SecRule &TX:/^a.$/ \"@eq 1\" \"id:114,phase:1,pass\"\n"
        "SecRule &TX:/^xfoo_b-/ \"@eq 0\" \"id:115,phase:1,pass\"\n"
        "SecRule TX:/^FOO_/ \"@eq 1\" \"id:116,phase:1,pass\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/", NULL, NULL);
    for (uint64_t id = 111; id <= 116; id++)
        if (!matched(t, id))
            fail_msg("rule %u did not match", (unsigned)id);
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* "Does not match" remembered across transactions (memo.h) is per link
 * and per exact bytes, negated operators included. */
static void
test_op_memo(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRule ARGS \"@rx ^a.c$\" \"id:120,phase:2,pass\"\n"
             "SecRule ARGS \"!@rx ^abd$\" \"id:121,phase:2,pass\"\n"
             "SecRule ARGS \"@detectSQLi\" \"id:122,phase:2,pass\"\n");
    for (int round = 0; round < 3; round++) {
        struct sk_waf_txn *t = run(r, "GET", "/?x=abd", NULL, NULL);
        assert_false(matched(t, 120));
        assert_false(matched(t, 121));
        assert_false(matched(t, 122));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/?x=abc", NULL, NULL);
        assert_true(matched(t, 120));
        assert_true(matched(t, 121));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/?x=1%27%20or%20%271%27=%271", NULL, NULL);
        assert_true(matched(t, 122));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/?x=1%27%20or%20%271%27%3D%271", NULL, NULL);
        assert_true(matched(t, 122));
        sk_waf_txn_free(t);
    }
    sk_waf_rules_free(r);
}

/* A link the memo knows matches none of a variable's values is skipped
 * as a whole (txn.c, nm_link_skip): only while every value is known, and
 * computed again when the variable grows (the body's arguments). */
static void
test_memo_whole_variable(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRequestBodyAccess On\n"
             "SecRule REQUEST_HEADERS:Content-Type \"@rx ^text/xml\" "
             "\"id:129,phase:1,pass,nolog,ctl:requestBodyProcessor=XML\"\n"
             "SecRule ARGS \"@rx ^[0-9]{9}$\" \"id:130,phase:1,pass\"\n"
             "SecRule ARGS \"@rx attack\" \"id:131,phase:2,pass\"\n"
             "SecRule REQUEST_HEADERS|ARGS_NAMES|REQUEST_FILENAME "
             "\"!@rx ^[a-z0-9/._-]*$\" \"id:132,phase:2,pass\"\n"
             "SecRule ARGS|XML:/* \"@rx attack\" \"id:133,phase:2,pass\"\n");
    static const char *const form[] = {
        "Content-Type", "application/x-www-form-urlencoded", NULL};
    static const char *const xml[] = {"Content-Type", "text/xml", NULL};
    for (int round = 0; round < 3; round++) {
        struct sk_waf_txn *t = run(r, "GET", "/a?x=benign", NULL, NULL);
        assert_int_equal(sk_waf_txn_match_count(t), 0);
        sk_waf_txn_free(t);
        /* ARGS grows between phase 1 (which read it) and phase 2. */
        t = run(r, "POST", "/a?x=benign", form, "y=attack");
        assert_false(matched(t, 130));
        assert_true(matched(t, 131));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/a?x=benign&z=123456789", NULL, NULL);
        assert_true(matched(t, 130));
        assert_false(matched(t, 131));
        sk_waf_txn_free(t);
        t = run(r, "POST", "/a?x=benign", xml, "<a>attack</a>");
        assert_true(matched(t, 133)); /* the XML body has values */
        sk_waf_txn_free(t);
        t = run(r, "GET", "/a?x=benign&Q=1", NULL, NULL);
        assert_true(matched(t, 132)); /* a name with a capital */
        sk_waf_txn_free(t);
        t = run(r, "GET", "/A?x=benign", NULL, NULL);
        assert_true(matched(t, 132));
        sk_waf_txn_free(t);
    }
    sk_waf_rules_free(r);
}

/* A target that selects some of a variable's values (a header by name)
 * or excludes some (a cookie by regex) is ruled out by the memo from its
 * own values' verdicts: values the link never reads have none, and they
 * must not keep it from being skipped — nor may a skip hide a value it
 * does read. */
static void
test_memo_selected_values(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRule REQUEST_HEADERS:User-Agent|REQUEST_COOKIES|"
             "!REQUEST_COOKIES:/^__utm/|ARGS \"@rx attack\" "
             "\"id:150,phase:2,pass\"\n"
             "SecRule &ARGS \"@rx ^2$\" \"id:152,phase:2,pass\"\n");
    static const char *const benign[] = {
        "User-Agent", "browser",
        "Referer",    "https://a.example/attack",
        "Cookie",     "a=1; __utmz=attack",
        NULL};
    static const char *const ua[] = {"User-Agent", "attack/1.0", "Cookie",
                                     "a=1; __utmz=attack", NULL};
    static const char *const cookie[] = {"User-Agent", "browser", "Cookie",
                                         "a=attack; __utmz=attack", NULL};
    struct sk_waf_txn *t = run(r, "GET", "/?x=benign", benign, NULL);
    assert_false(matched(t, 150));
    sk_waf_txn_free(t);
    /* A count is not its variable's values: "1" did not match as a
     * count, and two arguments "1" make a count that does. */
    for (int round = 0; round < 2; round++) {
        t = run(r, "GET", "/?a=1", NULL, NULL);
        assert_false(matched(t, 152));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/?a=1&b=1", NULL, NULL);
        assert_true(matched(t, 152));
        sk_waf_txn_free(t);
    }
    for (int round = 0; round < 3; round++) {
        t = run(r, "GET", "/?x=benign", benign, NULL);
        assert_false(matched(t, 150));
        assert_int_equal(sk__waf_txn_nm_skipped(t), 1);
        sk_waf_txn_free(t);
        t = run(r, "GET", "/?x=benign", ua, NULL);
        assert_true(matched(t, 150));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/?x=benign", cookie, NULL);
        assert_true(matched(t, 150));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/?x=attack", benign, NULL);
        assert_true(matched(t, 150));
        sk_waf_txn_free(t);
    }
    sk_waf_rules_free(r);
}

/* A value's prefilter hits under a chain become "does not match" bits
 * for the chain's links without one of their literals (txn.c,
 * pf_value_bits) — never for a negated link, which then matches. */
static void
test_memo_from_prefilter(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRule ARGS \"@rx attack\" \"id:140,phase:2,pass\"\n"
             "SecRule ARGS \"!@rx attack\" \"id:141,phase:2,pass\"\n"
             "SecRule ARGS \"@rx evil\" \"id:142,phase:2,pass\"\n"
             /* the same literal under another transformation chain */
             "SecRule ARGS \"@rx attack\" "
             "\"id:143,phase:2,pass,t:none,t:urlDecodeUni\"\n");
    for (int round = 0; round < 3; round++) {
        struct sk_waf_txn *u = run(r, "GET", "/?c=att%2561ck", NULL, NULL);
        assert_false(matched(u, 140)); /* "att%61ck" as it is */
        assert_true(matched(u, 143));  /* "attack" once decoded */
        sk_waf_txn_free(u);
        struct sk_waf_txn *t = run(r, "GET", "/?a=benign&b=evil", NULL, NULL);
        assert_false(matched(t, 140));
        assert_true(matched(t, 141));
        assert_true(matched(t, 142));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/?a=benign", NULL, NULL);
        assert_false(matched(t, 140));
        assert_true(matched(t, 141));
        assert_false(matched(t, 142));
        sk_waf_txn_free(t);
    }
    sk_waf_rules_free(r);
}

/* The memo starting over in the middle of a transaction (more values
 * than it keeps): every verdict is still computed, nothing stale is
 * used (ASan runs this too). */
static void
test_memo_start_over(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRequestBodyAccess On\n"
             "SecRequestBodyLimit 4000000\n"
             "SecRequestBodyNoFilesLimit 4000000\n"
             "SecRule ARGS \"@rx union\\s+select\" \"id:130,phase:2,pass\"\n"
             "SecRule ARGS \"@rx ^zz.z$\" \"id:131,phase:2,pass\"\n"
             "SecRule ARGS \"@rx union\\s+select\" "
             "\"id:132,phase:2,pass,t:none,t:lowercase\"\n");
    static const char *const form[] = {
        "Content-Type", "application/x-www-form-urlencoded", NULL};
    size_t n = 300, vlen = 4000;
    char *body = malloc(n * (vlen + 16) + 64);
    assert_non_null(body);
    for (int round = 0; round < 2; round++) {
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            off += (size_t)sprintf(body + off, "%sa%zu=", i ? "&" : "", i);
            for (size_t k = 0; k < vlen; k++)
                body[off++] = (char)('a' + (i + k + (size_t)round) % 26);
        }
        off += (size_t)sprintf(body + off, "&last=zzzz&x=UNION+SELECT");
        body[off] = '\0';
        struct sk_waf_txn *t = run(r, "POST", "/", form, body);
        assert_false(matched(t, 130)); /* case */
        assert_true(matched(t, 132));
        assert_true(matched(t, 131));
        sk_waf_txn_free(t);
    }
    free(body);
    sk_waf_rules_free(r);
}

/* Numeric variables in decimal: zero, several digits. */
static void
test_numeric_variables(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load(
        "SecRuleEngine On\n"
        "SecRequestBodyAccess On\n"
        "SecRule REMOTE_PORT \"@streq 1234\" \"id:140,phase:1,pass\"\n"
        "SecRule RESPONSE_STATUS \"@streq 200\" \"id:141,phase:5,pass\"\n"
        "SecRule REQUEST_BODY_LENGTH \"@streq 10\" \"id:142,phase:2,pass\"\n"
        "SecRule FILES_COMBINED_SIZE \"@streq 0\" \"id:143,phase:2,pass\"\n");
    static const char *const form[] = {
        "Content-Type", "application/x-www-form-urlencoded", NULL};
    struct sk_waf_txn *t = run(r, "POST", "/", form, "a=1&b=2345");
    for (uint64_t id = 140; id <= 142; id++)
        if (!matched(t, id))
            fail_msg("rule %u did not match", (unsigned)id);
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* A value changed in place (setvar on an existing TX variable) is not
 * judged by what was remembered for its old bytes. */
static void
test_memo_value_changed(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecAction \"id:150,phase:1,pass,nolog,setvar:tx.foo=benign\"\n"
             "SecRule TX:foo \"@rx attack\" \"id:151,phase:1,pass\"\n"
             "SecRule REQUEST_URI \"@streq /b\" "
             "\"id:152,phase:1,pass,nolog,setvar:tx.foo=attack\"\n"
             "SecRule TX:foo \"@rx attack\" \"id:153,phase:1,pass\"\n");
    for (int round = 0; round < 2; round++) {
        struct sk_waf_txn *t = run(r, "GET", "/a", NULL, NULL);
        assert_false(matched(t, 151));
        assert_false(matched(t, 153));
        sk_waf_txn_free(t);
        t = run(r, "GET", "/b", NULL, NULL);
        assert_false(matched(t, 151));
        assert_true(matched(t, 153));
        sk_waf_txn_free(t);
    }
    sk_waf_rules_free(r);
}

/*
 * The regex prefilter: one database for links on different transformation
 * chains (the hits are cached per value, so a value two chains leave
 * unchanged is scanned once and must still serve both), a negated link
 * that the prefilter decides, and a literal Vectorscan cannot take (it
 * starts with NUL) that leaves its link unfiltered, not the others.
 */
static void
test_prefilter_across_chains(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRule ARGS \"@rx \\x00abc\" \"id:70,phase:2,pass\"\n"
             "SecRule ARGS \"@rx [\\\"']\\s*or\\b\" "
             "\"id:71,phase:2,pass,t:none,t:lowercase\"\n"
             "SecRule ARGS \"@rx union\\s+select\" \"id:72,phase:2,pass\"\n"
             "SecRule ARGS \"!@rx (?:yes|ok)$\" "
             "\"id:73,phase:2,pass,t:none,t:urlDecodeUni\"\n");
    struct sk_waf_rules_stats st;
    sk_waf_rules_stats(r, &st);
    assert_int_equal(st.regex_links, 4);
    assert_int_equal(st.regex_prefiltered, 3);
    assert_int_equal(st.prefilter_groups, 1);
    struct sk_waf_txn *t = run(
        r, "GET", "/?a=x%27%20OR%201&b=1%20union%20select&c=ok", NULL, NULL);
    assert_true(matched(t, 71));
    assert_true(matched(t, 72));
    assert_true(matched(t, 73)); /* a and b do not end in yes/ok */
    assert_false(matched(t, 70));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/?a=fine&c=yes", NULL, NULL);
    assert_false(matched(t, 71));
    assert_false(matched(t, 72));
    assert_true(matched(t, 73));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/?c=ok", NULL, NULL);
    assert_int_equal(sk_waf_txn_match_count(t), 0);
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_detection_only_logs_without_blocking(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load(
        "SecRuleEngine DetectionOnly\n"
        "SecRule REQUEST_URI \"@contains /admin\" \"id:2,phase:1,deny\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/admin/x", NULL, NULL);
    struct sk_waf_verdict v;
    sk_waf_txn_verdict(t, &v);
    assert_int_equal(v.action, SK_WAF_PASS);
    assert_true(matched(t, 2));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_chain_and_capture(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load(
        "SecRuleEngine On\n"
        "SecRule ARGS:q \"@rx (\\d+)-(\\d+)\" "
        "\"id:3,phase:2,pass,capture,chain,msg:'range %{TX.1} to %{TX.2}'\"\n"
        "  SecRule TX:2 \"@gt 10\" \"setvar:tx.big=1\"\n"
        "SecRule TX:big \"@eq 1\" \"id:4,phase:2,pass\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/?q=5-20", NULL, NULL);
    assert_true(matched(t, 3));
    assert_true(matched(t, 4));
    assert_string_equal(sk_waf_txn_match(t, 0)->msg, "range 5 to 20");
    sk_waf_txn_free(t);
    t = run(r, "GET", "/?q=5-7", NULL, NULL);
    assert_false(matched(t, 3)); /* the chain's second link failed */
    assert_false(matched(t, 4));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* A capture with fewer groups removes the older ones; an operator's
 * macro argument is expanded again when a value's setvar changed what it
 * reads. */
static void
test_capture_cleanup_and_dynamic_argument(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecAction \"id:1,phase:1,pass,nolog,setvar:tx.cur=1\"\n"
             /* TX:3 from the folded TX, TX:4 and TX:9 set at run time:
              * the captures after them remove all three */
             "SecAction \"id:6,phase:1,pass,nolog,setvar:tx.3=folded\"\n"
             "SecRule ARGS \"@rx (a)(b)\" \"id:2,phase:1,pass,nolog,capture\"\n"
             "SecRule ARGS:b \"@rx .\" \"id:7,phase:1,pass,nolog,"
             "setvar:tx.4=run,setvar:tx.9=run\"\n"
             "SecRule ARGS \"@rx (c)\" \"id:3,phase:1,pass,nolog,capture\"\n"
             "SecRule &TX:2 \"@eq 0\" \"id:4,phase:1,pass\"\n"
             "SecRule ARGS:/^v/ \"@streq %{tx.cur}\" "
             "\"id:5,phase:2,pass,nolog,setvar:'tx.cur=%{MATCHED_VAR}x'\"\n");
    struct sk_waf_txn *t =
        run(r, "GET", "/?a=ab&b=c&v1=1&v2=1x&v3=1xx", NULL, NULL);
    assert_true(matched(t, 4));
    assert_string_equal(sk_waf_txn_tx(t, "0"), "c");
    assert_string_equal(sk_waf_txn_tx(t, "1"), "c");
    assert_null(sk_waf_txn_tx(t, "2"));
    assert_null(sk_waf_txn_tx(t, "3"));
    assert_null(sk_waf_txn_tx(t, "4"));
    assert_null(sk_waf_txn_tx(t, "9"));
    assert_string_equal(sk_waf_txn_tx(t, "cur"), "1xxx");
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_setvar_arithmetic_and_delete(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecAction \"id:10,phase:1,pass,nolog,setvar:tx.score=5,"
             "setvar:tx.crit=3\"\n"
             "SecRule ARGS \"@rx x\" \"id:11,phase:1,pass,nolog,"
             "setvar:'tx.score=+%{tx.crit}'\"\n"
             "SecAction \"id:12,phase:1,pass,nolog,setvar:tx.score=-1,"
             "setvar:tx.gone=1,setvar:!tx.gone\"\n"
             "SecRuleEngine On\n");
    /* Two matching values add twice, as ModSecurity does. */
    struct sk_waf_txn *t = run(r, "GET", "/?a=x&b=xx&c=y", NULL, NULL);
    assert_string_equal(sk_waf_txn_tx(t, "score"), "10");
    assert_null(sk_waf_txn_tx(t, "gone"));
    assert_string_equal(sk_waf_txn_tx(t, "SCORE"), "10");
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* Sums are written by hand (no printf): signs, zero, the int64 edges;
 * constant values are kept as the rule's text and never written to. */
static void
test_setvar_numbers(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load(
        "SecAction \"id:10,phase:1,pass,nolog,setvar:tx.a=3,setvar:tx.a=-10,"
        "setvar:tx.b=+0,setvar:tx.c=-7,setvar:tx.c=+7,"
        "setvar:tx.big=9223372036854775807,setvar:tx.big=+1,"
        "setvar:tx.small=-9223372036854775807,setvar:tx.small=-1,"
        "setvar:tx.Mixed_Case=kept\"\n"
        "SecAction \"id:11,phase:1,pass,nolog,setvar:tx.a=-5\"\n"
        "SecRuleEngine On\n");
    for (int i = 0; i < 2; i++) {
        struct sk_waf_txn *t = run(r, "GET", "/", NULL, NULL);
        assert_string_equal(sk_waf_txn_tx(t, "a"), "-12");
        assert_string_equal(sk_waf_txn_tx(t, "b"), "0");
        assert_string_equal(sk_waf_txn_tx(t, "c"), "0");
        /* An overflow leaves the value as it was, as before. */
        assert_string_equal(sk_waf_txn_tx(t, "big"), "9223372036854775807");
        assert_string_equal(sk_waf_txn_tx(t, "small"), "-9223372036854775808");
        assert_string_equal(sk_waf_txn_tx(t, "mixed_case"), "kept");
        sk_waf_txn_free(t);
    }
    sk_waf_rules_free(r);
}

static void
test_skipafter_and_skip(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load("SecRuleEngine On\n"
                                  "SecRule REQUEST_METHOD \"@streq GET\" "
                                  "\"id:20,phase:1,pass,nolog,skipAfter:END\"\n"
                                  "SecAction \"id:21,phase:1,pass\"\n"
                                  "SecMarker END\n"
                                  "SecAction \"id:22,phase:1,pass,skip:1\"\n"
                                  "SecAction \"id:23,phase:1,pass\"\n"
                                  "SecAction \"id:24,phase:1,pass\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/", NULL, NULL);
    assert_false(matched(t, 21));
    assert_true(matched(t, 22));
    assert_false(matched(t, 23));
    assert_true(matched(t, 24));
    sk_waf_txn_free(t);
    t = run(r, "POST", "/", NULL, NULL);
    assert_true(matched(t, 21));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_counting_negation_exclusion_regex_selector(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRule &ARGS \"@eq 3\" \"id:30,phase:2,pass\"\n"
             "SecRule ARGS|!ARGS:pw \"@rx secret\" \"id:31,phase:2,pass\"\n"
             "SecRule ARGS:/^id_/ \"@rx ^7$\" \"id:32,phase:2,pass\"\n"
             "SecRule &REQUEST_HEADERS:X-Missing \"!@eq 0\" "
             "\"id:33,phase:1,pass\"\n"
             "SecRule REQUEST_HEADERS:user-agent \"!@rx ^curl\" "
             "\"id:34,phase:1,pass\"\n"
             "SecRule &ARGS:a \"@eq 10\" \"id:35,phase:2,pass\"\n"
             "SecRule ARGS:/^ab+c_[xy]$/ \"@rx ^1$\" \"id:36,phase:2,pass\"\n"
             "SecRule ARGS:/^ab+c_[xy]$/ \"@rx ^2$\" \"id:37,phase:2,pass\"\n");
    static const char *const hdrs[] = {"User-Agent", "curl/8", NULL};
    struct sk_waf_txn *t = run(r, "GET", "/?pw=secret&ID_x=7&z=1", hdrs, NULL);
    assert_true(matched(t, 30));
    assert_false(matched(t, 31)); /* excluded target */
    assert_true(matched(t, 32));  /* case-insensitive regex selector */
    assert_false(matched(t, 33));
    assert_false(matched(t, 34));
    assert_false(matched(t, 35));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/?a=1&a=2&a=3&a=4&a=5&a=6&a=7&a=8&a=9&A=10&b=1", hdrs,
            NULL);
    assert_true(matched(t, 35)); /* ten, names compared ignoring case */
    sk_waf_txn_free(t);
    /* A regex selector with required literals ("c_" here): names that
     * hold none are not tried, the others are, case ignored. */
    t = run(r, "GET", "/?aBBC_Y=1&ac_x=2&xabc_x=2", hdrs, NULL);
    assert_true(matched(t, 36));
    assert_false(matched(t, 37));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_ctl_remove_target_and_rule(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load(
        "SecRuleEngine On\n"
        "SecRule REQUEST_FILENAME \"@endsWith /login\" "
        "\"id:40,phase:1,pass,nolog,ctl:ruleRemoveTargetById=42;ARGS:pw,"
        "ctl:ruleRemoveById=43\"\n"
        "SecRule REQUEST_FILENAME \"@endsWith /tag\" "
        "\"id:41,phase:1,pass,nolog,ctl:ruleRemoveByTag=attack-x\"\n"
        "SecRule ARGS \"@contains '\" \"id:42,phase:2,pass,tag:'attack-x'\"\n"
        "SecRule ARGS \"@contains '\" \"id:43,phase:2,pass\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/login?pw=a'b", NULL, NULL);
    assert_false(matched(t, 42));
    assert_false(matched(t, 43));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/other?pw=a'b", NULL, NULL);
    assert_true(matched(t, 42));
    assert_true(matched(t, 43));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/tag?pw=a'b", NULL, NULL);
    assert_false(matched(t, 42));
    assert_true(matched(t, 43));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_default_action_and_block(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecDefaultAction \"phase:2,log,auditlog,deny,status:418,"
             "t:lowercase\"\n"
             "SecRule ARGS \"@streq abc\" \"id:50,phase:2,block\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/?x=ABC", NULL, NULL);
    struct sk_waf_verdict v;
    sk_waf_txn_verdict(t, &v);
    assert_int_equal(v.action, SK_WAF_DENY); /* t:lowercase inherited */
    assert_int_equal(v.status, 418);
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_update_target_and_remove(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRule ARGS \"@rx bad\" \"id:60,phase:2,pass\"\n"
             "SecRule ARGS \"@rx bad\" \"id:61,phase:2,pass\"\n"
             "SecRuleUpdateTargetById 60 \"!ARGS:note\"\n"
             "SecRuleRemoveById 61\n");
    struct sk_waf_txn *t = run(r, "GET", "/?note=bad", NULL, NULL);
    assert_false(matched(t, 60));
    assert_false(matched(t, 61));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/?other=bad", NULL, NULL);
    assert_true(matched(t, 60));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_urlencoded_body_and_request_vars(void **state)
{
    (void)state;
    struct sk_waf_rules *r = load(
        "SecRuleEngine On\n"
        "SecRequestBodyAccess On\n"
        "SecRule ARGS_POST:name \"@streq a b\" \"id:70,phase:2,pass\"\n"
        "SecRule REQUEST_BODY \"@contains name=a+b\" \"id:71,phase:2,pass\"\n"
        "SecRule REQBODY_PROCESSOR \"@streq URLENCODED\" "
        "\"id:72,phase:2,pass\"\n"
        "SecRule REQUEST_FILENAME \"@streq /p a\" \"id:73,phase:1,pass\"\n"
        "SecRule REQUEST_BASENAME \"@streq p a\" \"id:74,phase:1,pass\"\n"
        "SecRule QUERY_STRING \"@streq q=%41\" \"id:75,phase:1,pass\"\n"
        "SecRule ARGS_GET:q \"@streq A\" \"id:76,phase:1,pass\"\n"
        "SecRule REQUEST_COOKIES:sid \"@streq 42\" \"id:77,phase:1,pass\"\n"
        "SecRule REQUEST_COOKIES_NAMES \"@streq sid\" \"id:78,phase:1,pass\"\n"
        "SecRule SERVER_NAME \"@streq example.org\" \"id:79,phase:1,pass\"\n");
    static const char *const hdrs[] = {"Content-Type",
                                       "application/x-www-form-urlencoded",
                                       "Cookie",
                                       "sid=42",
                                       "Host",
                                       "example.org:8080",
                                       NULL};
    struct sk_waf_txn *t = run(r, "POST", "/p%20a?q=%41", hdrs, "name=a+b");
    for (uint64_t id = 70; id <= 79; id++) {
        if (!matched(t, id))
            fail_msg("rule %llu did not match", (unsigned long long)id);
    }
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_load_errors_have_locations(void **state)
{
    (void)state;
    const char *e;
    e = load_fail("SecRuleEngine On\nSecFrobnicate On\n");
    assert_non_null(strstr(e, "bad.conf:2:"));
    assert_non_null(strstr(e, "unknown directive 'SecFrobnicate'"));
    e = load_fail("SecRule NOPE \"@rx x\" \"id:1,phase:1,pass\"\n");
    assert_non_null(strstr(e, "unknown variable 'NOPE'"));
    e = load_fail("SecRule ARGS \"@nope x\" \"id:1,phase:1,pass\"\n");
    assert_non_null(strstr(e, "bad.conf:1:"));
    e = load_fail("SecRule ARGS \"@rx x\" \"id:1,phase:1,pass,frob\"\n");
    assert_non_null(strstr(e, "unknown action 'frob'"));
    e = load_fail("SecRule ARGS \"@rx x\" \"id:1,phase:1,pass,t:frob\"\n");
    assert_non_null(strstr(e, "unknown transformation 'frob'"));
    e = load_fail("SecRule ARGS \"@rx (\" \"id:1,phase:1,pass\"\n");
    assert_non_null(strstr(e, "bad.conf:1:"));
    e = load_fail("SecRule ARGS \"@rx x\" \"phase:1,pass\"\n");
    assert_non_null(strstr(e, "rule has no id"));
    e = load_fail("SecAction \"id:1,pass\"\nSecAction \"id:1,pass\"\n");
    assert_non_null(strstr(e, "duplicate rule id 1"));
    e = load_fail("SecRule ARGS \"@rx x\" \"id:1,pass,chain\"\n");
    assert_non_null(strstr(e, "chain"));
    e = load_fail("SecRule ARGS \"@rx x\" \"id:1,pass,skipAfter:NOWHERE\"\n");
    assert_non_null(strstr(e, "NOWHERE"));
    e = load_fail("SecRule ARGS \"@rx x\" \"id:1,pass,exec:/bin/sh\"\n");
    assert_non_null(strstr(e, "not supported"));
    e = load_fail("SecRule ARGS \"@rx x\" \"id:1,pass,setvar:foo.x=1\"\n");
    assert_non_null(strstr(e, "not a writable collection"));
    e = load_fail("SecRule ARGS \"@rx x\" \"id:1,pass,msg:'%{NOPE}'\"\n");
    assert_non_null(strstr(e, "unknown variable 'NOPE' in macro"));
    e = load_fail("SecRule ARGS \"@rx x\" \"id:1,pass,chain\"\n"
                  "SecRule ARGS \"@rx y\" \"id:2\"\n");
    assert_non_null(strstr(e, "only allowed on the first rule"));
    e = load_fail("SecRequestBodyLimitAction Maybe\n");
    assert_non_null(strstr(e, "expects Reject or ProcessPartial"));
    e = load_fail("SecRequestBodyAccess Maybe\n");
    assert_non_null(strstr(e, "expects On or Off"));
    e = load_fail("SecResponseBodyLimit lots\n");
    assert_non_null(strstr(e, "expects a number"));
    e = load_fail("SecStatusEngine On\n");
    assert_non_null(strstr(e, "not supported"));
}

static void
test_dynamic_operator_argument(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecAction \"id:80,phase:1,pass,nolog,"
             "setvar:'tx.allowed=GET HEAD POST',setvar:tx.max=2\"\n"
             "SecRule REQUEST_METHOD \"!@within %{tx.allowed}\" "
             "\"id:81,phase:1,pass\"\n"
             "SecRule &ARGS \"@gt %{tx.max}\" \"id:82,phase:1,pass\"\n");
    struct sk_waf_txn *t = run(r, "PUT", "/?a=1&b=2&c=3", NULL, NULL);
    assert_true(matched(t, 81));
    assert_true(matched(t, 82));
    sk_waf_txn_free(t);
    t = run(r, "GET", "/?a=1", NULL, NULL);
    assert_false(matched(t, 81));
    assert_false(matched(t, 82));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_persistent_ip_collection(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecAction \"id:90,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR},"
             "setvar:ip.hits=+1\"\n"
             "SecRule IP:hits \"@ge 3\" \"id:91,phase:1,pass\"\n");
    for (int i = 0; i < 2; i++) {
        struct sk_waf_txn *t = run(r, "GET", "/", NULL, NULL);
        assert_false(matched(t, 91));
        sk_waf_txn_free(t);
    }
    struct sk_waf_txn *t = run(r, "GET", "/", NULL, NULL);
    assert_true(matched(t, 91));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* Thousands of persistent records (one per client key): each keeps its
 * own count through the store's growth. */
static void
test_persistent_many_keys(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecAction \"id:92,phase:1,pass,nolog,"
             "initcol:ip=%{REQUEST_HEADERS.X-Client},setvar:ip.hits=+1\"\n"
             "SecRule IP:hits \"@eq 2\" \"id:93,phase:1,pass\"\n");
    char key[32];
    const char *hdr[] = {"X-Client", key, NULL};
    for (int pass = 1; pass <= 2; pass++)
        for (int i = 0; i < 3000; i++) {
            snprintf(key, sizeof(key), "client-%d", i);
            struct sk_waf_txn *t = run(r, "GET", "/", hdr, NULL);
            if (matched(t, 93) != (pass == 2))
                fail_msg("key %s, pass %d: wrong count", key, pass);
            sk_waf_txn_free(t);
        }
    sk_waf_rules_free(r);
}

static void
test_multimatch_and_transform_chain(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRule ARGS \"@streq <x>\" "
             "\"id:100,phase:2,pass,t:none,t:urlDecode,t:lowercase\"\n"
             "SecRule ARGS \"@streq %3CX%3E\" "
             "\"id:101,phase:2,pass,multiMatch,t:none,t:urlDecode\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/?a=%253CX%253E", NULL, NULL);
    assert_true(matched(t, 100));
    assert_true(matched(t, 101)); /* matched before the transformation */
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static void
test_full_request_and_status_line(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine On\n"
             "SecRequestBodyAccess On\n"
             "SecRule FULL_REQUEST \"@rx ^POST /f HTTP/1.1\\r\\nHost: h\\r\\n"
             "(?:.*\\r\\n)*\\r\\nk=v$\" \"id:120,phase:2,pass\"\n"
             "SecRule STATUS_LINE \"@streq HTTP/1.1 200\" "
             "\"id:121,phase:3,pass\"\n");
    static const char *const hdrs[] = {
        "Host", "h", "Content-Type", "application/x-www-form-urlencoded", NULL};
    struct sk_waf_txn *t = run(r, "POST", "/f", hdrs, "k=v");
    assert_true(matched(t, 120));
    assert_true(matched(t, 121));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
    const char *e = load_fail("SecRule URLENCODED_ERROR \"@eq 1\" "
                              "\"id:122,phase:2,pass\"\n");
    assert_non_null(strstr(e, "not supported"));
}

static int
cmp_nocase(const char *a, const char *b)
{
    return strcasecmp(a, b);
}

static void
test_tables_sorted_unique(void **state)
{
    (void)state;
    const char *names[256];
    size_t n = sk__waf_directive_names(names, 256);
    assert_true(n > 30 && n < 256);
    for (size_t i = 1; i < n; i++)
        assert_true(cmp_nocase(names[i - 1], names[i]) < 0);
    n = sk__waf_action_names(names, 256);
    assert_true(n > 30 && n < 256);
    for (size_t i = 1; i < n; i++)
        assert_true(cmp_nocase(names[i - 1], names[i]) < 0);
    size_t nv;
    const struct sk_var_def *v = sk__var_table(&nv);
    assert_int_equal(nv, SK_V__COUNT);
    for (size_t i = 0; i < nv; i++) {
        assert_int_equal(v[i].id, i); /* enum order == table order */
        assert_non_null(v[i].doc);
        if (i > 0)
            assert_true(strcmp(v[i - 1].name, v[i].name) < 0);
        assert_ptr_equal(sk__var_find(sk_str_c(v[i].name)), &v[i]);
    }
    assert_null(sk__var_find(SK_STR_LIT("ARGSX")));
    assert_ptr_equal(sk__var_find(SK_STR_LIT("args")), &v[SK_V_ARGS]);
}

static void
test_redacted_log_line(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine DetectionOnly\n"
             "SecRule ARGS:card \"@rx \\d\" \"id:110,phase:2,pass,"
             "logdata:'%{MATCHED_VAR}'\"\n");
    struct sk_waf_txn *t = run(r, "GET", "/?card=4111111111111111", NULL, NULL);
    char line[2048];
    sk_waf_txn_format_match(t, 0, line, sizeof(line));
    assert_null(strstr(line, "4111111111111111"));
    assert_non_null(strstr(line, "1111"));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* The connector policy: mode, body policies and the audit decision. */
static void
test_connector_policy(void **state)
{
    (void)state;
    struct sk_waf_rules *r =
        load("SecRuleEngine DetectionOnly\n"
             "SecRequestBodyAccess On\n"
             "SecRequestBodyLimit 1000\n"
             "SecRequestBodyLimitAction ProcessPartial\n"
             "SecResponseBodyAccess On\n"
             "SecResponseBodyMimeType text/html text/plain\n"
             "SecResponseBodyLimit 2000\n"
             "SecAuditEngine RelevantOnly\n"
             "SecAuditLogRelevantStatus \"^(?:5|4(?!04))\"\n"
             "SecRule REQUEST_URI \"@contains /off\" "
             "\"id:1,phase:1,pass,nolog,ctl:requestBodyAccess=Off\"\n"
             "SecRule ARGS:a \"@streq x\" \"id:2,phase:2,deny,log\"\n");
    struct sk_waf_txn *t = sk_waf_txn_new(r, "p1");
    assert_non_null(t);
    assert_int_equal(sk_waf_txn_mode(t), SK_WAF_MODE_DETECTION_ONLY);
    assert_int_equal(
        sk_waf_txn_request_line(t, "GET", 3, "/off", 4, "HTTP/1.1", 8), 0);
    assert_int_equal(sk_waf_txn_phase(t, 1), 0);
    struct sk_waf_body_policy p;
    sk_waf_txn_request_body_policy(t, &p);
    assert_false(p.inspect);
    assert_int_equal(sk_waf_txn_response_header(t, "Content-Type", 12,
                                                "text/html; charset=utf-8", 24),
                     0);
    sk_waf_txn_response_body_policy(t, &p);
    assert_true(p.inspect);
    assert_int_equal(p.limit, 2000);
    assert_false(sk_waf_txn_audit_wanted(t, 200));
    assert_false(sk_waf_txn_audit_wanted(t, 404));
    assert_true(sk_waf_txn_audit_wanted(t, 403));
    assert_true(sk_waf_txn_audit_wanted(t, 502));
    sk_waf_txn_free(t);

    t = run(r, "GET", "/on?a=x", NULL, NULL);
    sk_waf_txn_request_body_policy(t, &p);
    assert_true(p.inspect);
    assert_int_equal(p.limit, 1000);
    assert_false(p.reject);
    assert_true(sk_waf_txn_audit_wanted(t, 200)); /* rule 2 matched */
    sk_waf_txn_response_body_policy(t, &p);
    assert_false(p.inspect); /* no Content-Type */
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_rx_and_deny),
        cmocka_unit_test(test_detection_only_logs_without_blocking),
        cmocka_unit_test(test_chain_and_capture),
        cmocka_unit_test(test_capture_cleanup_and_dynamic_argument),
        cmocka_unit_test(test_setvar_arithmetic_and_delete),
        cmocka_unit_test(test_setvar_numbers),
        cmocka_unit_test(test_skipafter_and_skip),
        cmocka_unit_test(test_counting_negation_exclusion_regex_selector),
        cmocka_unit_test(test_ctl_remove_target_and_rule),
        cmocka_unit_test(test_default_action_and_block),
        cmocka_unit_test(test_update_target_and_remove),
        cmocka_unit_test(test_urlencoded_body_and_request_vars),
        cmocka_unit_test(test_load_errors_have_locations),
        cmocka_unit_test(test_dynamic_operator_argument),
        cmocka_unit_test(test_persistent_ip_collection),
        cmocka_unit_test(test_persistent_many_keys),
        cmocka_unit_test(test_multimatch_and_transform_chain),
        cmocka_unit_test(test_tables_sorted_unique),
        cmocka_unit_test(test_redacted_log_line),
        cmocka_unit_test(test_full_request_and_status_line),
        cmocka_unit_test(test_connector_policy),
        cmocka_unit_test(test_prefilter_across_chains),
        cmocka_unit_test(test_prefilter_whole_link),
        cmocka_unit_test(test_prefilter_memo),
        cmocka_unit_test(test_selector_after_delete),
        cmocka_unit_test(test_selector_literal),
        cmocka_unit_test(test_op_memo),
        cmocka_unit_test(test_memo_whole_variable),
        cmocka_unit_test(test_memo_selected_values),
        cmocka_unit_test(test_memo_from_prefilter),
        cmocka_unit_test(test_memo_start_over),
        cmocka_unit_test(test_memo_value_changed),
        cmocka_unit_test(test_numeric_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
