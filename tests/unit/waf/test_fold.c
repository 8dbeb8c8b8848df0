/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Folding (src/waf/fold.c): which rules are evaluated at load time, and
 * that every transaction ends exactly as it does with folding off (each
 * case runs against both compilations of the same rules) — in particular
 * where a rule that stays could change what a folded rule sees or whether
 * it runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sekimori/waf.h"
#include "util/limits.h"
#include "waf/fold.h"
#include "waf/txn.h"

static struct sk_waf_rules *
load(const char *text, bool no_fold)
{
    struct sk_waf_rules *r = sk_waf_rules_new();
    assert_non_null(r);
    sk__fold_disabled = no_fold;
    int rc = sk_waf_rules_add_text(r, "fold.conf", text, strlen(text));
    if (rc == 0)
        rc = sk_waf_rules_compile(r);
    sk__fold_disabled = false;
    if (rc != 0) {
        print_error("%s", sk_waf_rules_errors(r));
        fail_msg("rules failed to load");
    }
    return r;
}

static struct sk_waf_txn *
run(const struct sk_waf_rules *r, const char *uri, const char *body)
{
    struct sk_waf_txn *t = sk_waf_txn_new(r, "f1");
    assert_non_null(t);
    assert_int_equal(sk_waf_txn_connection(t, "10.0.0.1", 1234, "10.0.0.2", 80),
                     0);
    const char *m = body ? "POST" : "GET";
    assert_int_equal(sk_waf_txn_request_line(t, m, strlen(m), uri, strlen(uri),
                                             "HTTP/1.1", 8),
                     0);
    if (body != NULL)
        assert_int_equal(
            sk_waf_txn_request_header(t, "Content-Type", 12,
                                      "application/x-www-form-urlencoded", 33),
            0);
    assert_int_equal(sk_waf_txn_phase(t, 1), 0);
    if (body != NULL)
        assert_int_equal(sk_waf_txn_request_body(t, body, strlen(body)), 0);
    assert_int_equal(sk_waf_txn_phase(t, 2), 0);
    assert_int_equal(sk_waf_txn_response_status(t, 200, "HTTP/1.1"), 0);
    assert_int_equal(sk_waf_txn_phase(t, 5), 0);
    return t;
}

/* The two runs end alike: verdict, matches, TX in order. */
static void
assert_same(const struct sk_waf_txn *t, const struct sk_waf_txn *u)
{
    struct sk_waf_verdict a, b;
    sk_waf_txn_verdict(t, &a);
    sk_waf_txn_verdict(u, &b);
    assert_int_equal(a.action, b.action);
    assert_int_equal(a.status, b.status);
    assert_int_equal(a.rule_id, b.rule_id);
    assert_int_equal(sk_waf_txn_match_count(t), sk_waf_txn_match_count(u));
    for (size_t i = 0; i < sk_waf_txn_match_count(t); i++) {
        assert_int_equal(sk_waf_txn_match(t, i)->id,
                         sk_waf_txn_match(u, i)->id);
        assert_string_equal(sk_waf_txn_match(t, i)->msg,
                            sk_waf_txn_match(u, i)->msg);
        assert_string_equal(sk_waf_txn_match(t, i)->data,
                            sk_waf_txn_match(u, i)->data);
    }
    const struct sk_coll *x = &t->colls[SK_V_TX], *y = &u->colls[SK_V_TX];
    assert_int_equal(x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        assert_true(sk_str_eq(x->e[i].name, y->e[i].name));
        assert_true(sk_str_eq(x->e[i].value, y->e[i].value));
    }
}

/* Loads `rules` both ways, checks how many rules fold, runs each request
 * through both; returns the folded run of the last one (the caller
 * checks it and frees it with *rules_out). */
static struct sk_waf_txn *
both(const char *rules, size_t want_folded, const char *const *uris,
     struct sk_waf_rules **rules_out)
{
    struct sk_waf_rules *r = load(rules, false);
    struct sk_waf_rules *plain = load(rules, true);
    assert_int_equal(sk__waf_folded(plain), 0);
    assert_int_equal(sk__waf_folded(r), want_folded);
    struct sk_waf_txn *last = NULL;
    for (size_t i = 0; uris[i] != NULL; i++) {
        struct sk_waf_txn *t = run(r, uris[i], NULL);
        struct sk_waf_txn *u = run(plain, uris[i], NULL);
        assert_same(t, u);
        sk_waf_txn_free(u);
        sk_waf_txn_free(last);
        last = t;
    }
    sk_waf_rules_free(plain);
    *rules_out = r;
    return last;
}

static bool
verdict_is(const struct sk_waf_txn *t, uint64_t id)
{
    struct sk_waf_verdict v;
    sk_waf_txn_verdict(t, &v);
    return v.rule_id == id;
}

/* CRS's shape: defaults set from constants, a paranoia-level skip over a
 * rule that then never runs, a rule after the marker that does. */
static void
test_init_and_level_skip_fold(void **state)
{
    (void)state;
    static const char rules[] =
        "SecRuleEngine On\n"
        "SecAction \"id:1,phase:1,pass,nolog,setvar:tx.pl=1\"\n"
        "SecRule &TX:limit \"@eq 0\" \"id:2,phase:1,pass,nolog,"
        "setvar:tx.limit=5\"\n"
        "SecRule TX:pl \"@lt 2\" \"id:3,phase:1,pass,nolog,skipAfter:END\"\n"
        "SecRule ARGS \"@rx attack\" \"id:4,phase:1,deny,log\"\n"
        "SecMarker END\n"
        "SecRule ARGS \"@rx evil\" \"id:5,phase:1,deny,log\"\n"
        "SecRule TX:pl \"@lt 1\" \"id:6,phase:2,pass,nolog,skipAfter:E2\"\n"
        "SecRule ARGS \"@rx x\" \"id:7,phase:2,deny,log\"\n"
        "SecMarker E2\n";
    static const char *const uris[] = {"/?a=attack", "/?a=x", "/?a=evil", NULL};
    struct sk_waf_rules *r;
    /* 1, 2, 3 and 4 (skipped by 3), 6 (never matches); 5 and 7 stay. */
    struct sk_waf_txn *t = both(rules, 5, uris, &r);
    struct sk_waf_rules_stats st;
    sk_waf_rules_stats(r, &st);
    assert_int_equal(st.folded, 5);
    assert_true(verdict_is(t, 5));
    assert_string_equal(sk_waf_txn_tx(t, "limit"), "5");
    assert_string_equal(sk_waf_txn_tx(t, "pl"), "1");
    sk_waf_txn_free(t);
    t = run(r, "/?a=attack", NULL);
    assert_true(verdict_is(t, 0)); /* 4 is skipped at PL1 */
    sk_waf_txn_free(t);
    t = run(r, "/?a=x", NULL);
    assert_true(verdict_is(t, 7));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

static bool
has_match(const struct sk_waf_txn *t, uint64_t id)
{
    for (size_t i = 0; i < sk_waf_txn_match_count(t); i++)
        if (sk_waf_txn_match(t, i)->id == id)
            return true;
    return false;
}

/* skip:N counts folded rules too: a transaction that does not run them
 * (struct sk_phase_prog live) lands where one that runs every rule does. */
static void
test_skip_counts_folded_rules(void **state)
{
    (void)state;
    static const char rules[] =
        "SecRuleEngine On\n"
        "SecAction \"id:1,phase:1,pass,nolog,setvar:tx.a=1\"\n"
        "SecRule ARGS:s \"@streq 1\" \"id:2,phase:1,pass,nolog,skip:2\"\n"
        "SecRule TX:a \"@eq 5\" \"id:4,phase:1,deny,log\"\n"
        "SecRule ARGS:v \"@rx x\" \"id:5,phase:1,deny,log\"\n"
        "SecRule ARGS:v \"@rx y\" \"id:6,phase:1,deny,log\"\n"
        "SecRule ARGS:s \"@streq 2\" \"id:7,phase:1,pass,nolog,"
        "skipAfter:END\"\n"
        "SecRule TX:a \"@eq 6\" \"id:8,phase:1,deny,log\"\n"
        "SecRule ARGS:v \"@rx z\" \"id:9,phase:1,deny,log\"\n"
        "SecMarker END\n"
        "SecRule ARGS:v \"@rx w\" \"id:10,phase:1,deny,log\"\n";
    static const char *const uris[] = {"/?s=1&v=x", "/?s=1&v=y", "/?v=x",
                                       "/?s=2&v=z", "/?s=2&v=w", NULL};
    struct sk_waf_rules *r;
    struct sk_waf_txn *t = both(rules, 3, uris, &r); /* 1, 4 and 8 */
    assert_true(verdict_is(t, 10));
    sk_waf_txn_free(t);
    t = run(r, "/?s=1&v=x", NULL);
    assert_true(verdict_is(t, 0)); /* 4 and 5 skipped */
    sk_waf_txn_free(t);
    t = run(r, "/?s=1&v=y", NULL);
    assert_true(verdict_is(t, 6));
    sk_waf_txn_free(t);
    t = run(r, "/?s=2&v=z", NULL);
    assert_true(verdict_is(t, 0)); /* 9 skipped */
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* The TX folding leaves comes with its names judged by every selector
 * regex (struct sk_entry sel_known): those must be the regexes' own
 * answers, for the folded names and for names added at run time. */
static void
test_folded_tx_selectors(void **state)
{
    (void)state;
    static const char rules[] =
        "SecRuleEngine On\n"
        "SecAction \"id:1,phase:1,pass,nolog,setvar:tx.h_a=1,"
        "setvar:tx.H_b=2,setvar:tx.other=3,setvar:tx.xh_d=4\"\n"
        "SecRule ARGS:c \"@rx .\" \"id:2,phase:1,pass,nolog,setvar:tx.h_c=1\"\n"
        "SecRule &TX:/^h_/ \"@eq 2\" \"id:3,phase:2,pass,log,msg:'two'\"\n"
        "SecRule &TX:/^h_/ \"@eq 3\" \"id:4,phase:2,pass,log,msg:'three'\"\n"
        "SecRule &TX:/^oth/ \"@eq 1\" \"id:5,phase:2,pass,log,msg:'one'\"\n"
        "SecRule TX:/h_[a-z]$/ \"@streq 4\" \"id:6,phase:2,pass,log,msg:'d'\"\n"
        "SecRule TX|!TX:/^h_/ \"@streq 2\" \"id:7,phase:2,pass,log,msg:'b'\"\n";
    static const char *const uris[] = {"/?c=1", "/", NULL};
    struct sk_waf_rules *r;
    struct sk_waf_txn *t = both(rules, 1, uris, &r);
    assert_true(has_match(t, 3));
    assert_false(has_match(t, 4));
    assert_true(has_match(t, 5));
    assert_true(has_match(t, 6));
    assert_false(has_match(t, 7)); /* tx.H_b is excluded */
    sk_waf_txn_free(t);
    t = run(r, "/?c=1", NULL);
    assert_false(has_match(t, 3));
    assert_true(has_match(t, 4));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* A rule that stays sets or reads what a folded rule would: no fold. */
static void
test_runtime_reads_and_writes_keep_rules(void **state)
{
    (void)state;
    static const char rules[] =
        "SecRuleEngine On\n"
        /* reads tx.z (to log) before 4 sets it */
        "SecRule ARGS:b \"@rx .\" \"id:3,phase:1,pass,log,msg:'z=%{tx.z}'\"\n"
        "SecAction \"id:4,phase:1,pass,nolog,setvar:tx.z=late\"\n"
        /* sets tx.x from the request: 2 must see it */
        "SecRule ARGS:a \"@streq 1\" \"id:1,phase:1,pass,nolog,"
        "setvar:tx.x=1\"\n"
        "SecRule &TX:x \"@eq 0\" \"id:2,phase:1,pass,nolog,"
        "setvar:tx.y=unset\"\n"
        /* a run-time name with the prefix of what 6 reads */
        "SecRule ARGS:c \"@rx (.+)\" \"id:5,phase:1,pass,nolog,capture,"
        "setvar:tx.h_%{tx.1}=1\"\n"
        "SecRule &TX:h_q \"@eq 1\" \"id:6,phase:1,deny,log\"\n";
    static const char *const uris[] = {"/?a=2", "/?b=1", "/?c=q", "/?a=1",
                                       NULL};
    struct sk_waf_rules *r;
    struct sk_waf_txn *t = both(rules, 0, uris, &r);
    assert_null(sk_waf_txn_tx(t, "y"));
    sk_waf_txn_free(t);
    t = run(r, "/?b=1", NULL);
    assert_int_equal(sk_waf_txn_match_count(t), 1);
    assert_string_equal(sk_waf_txn_match(t, 0)->msg, "z=");
    assert_string_equal(sk_waf_txn_tx(t, "z"), "late");
    assert_string_equal(sk_waf_txn_tx(t, "y"), "unset");
    sk_waf_txn_free(t);
    t = run(r, "/?c=q", NULL);
    assert_true(verdict_is(t, 6));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* A skip of a rule that stays lands inside what a folded skip would jump
 * over; a rule that may end the phase keeps later settings from being
 * made in advance; ctl:ruleRemoveById keeps its target. */
static void
test_runtime_flow_keeps_rules(void **state)
{
    (void)state;
    static const char rules[] =
        "SecRuleEngine On\n"
        "SecRule ARGS:s \"@streq 1\" \"id:1,phase:2,pass,nolog,"
        "skipAfter:IN\"\n"
        "SecRule &TX:nope \"@eq 0\" \"id:2,phase:2,pass,nolog,"
        "skipAfter:OUT\"\n"
        "SecMarker IN\n"
        "SecRule ARGS \"@rx .\" \"id:3,phase:2,deny,log\"\n"
        "SecMarker OUT\n"
        "SecRule ARGS:d \"@streq 1\" \"id:4,phase:1,deny,log\"\n"
        "SecAction \"id:5,phase:1,pass,nolog,setvar:tx.v=1\"\n"
        "SecRule ARGS:r \"@streq 1\" \"id:6,phase:1,pass,nolog,"
        "ctl:ruleRemoveById=7\"\n"
        "SecRule &TX:q \"@eq 0\" \"id:7,phase:1,pass,nolog,skip:1\"\n"
        "SecRule ARGS:r \"@rx .\" \"id:8,phase:1,deny,status:418,log\"\n";
    static const char *const uris[] = {"/?s=2", "/?s=1", "/?d=1",
                                       "/?r=1", "/?r=2", NULL};
    struct sk_waf_rules *r;
    struct sk_waf_txn *t = both(rules, 0, uris, &r);
    sk_waf_txn_free(t);
    t = run(r, "/?s=1", NULL);
    assert_true(verdict_is(t, 3));
    sk_waf_txn_free(t);
    t = run(r, "/?d=1", NULL);
    assert_null(sk_waf_txn_tx(t, "v"));
    sk_waf_txn_free(t);
    t = run(r, "/?r=1", NULL);
    assert_true(verdict_is(t, 8));
    sk_waf_txn_free(t);
    t = run(r, "/?r=2", NULL);
    assert_true(verdict_is(t, 0));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* Dead rules fold even after rules that stay and skip; a rule that
 * matches and logs stays (its match is recorded every time). */
static void
test_dead_rules_and_logged_matches(void **state)
{
    (void)state;
    static const char rules[] =
        "SecRuleEngine On\n"
        "SecRule ARGS:s \"@streq 1\" \"id:1,phase:1,pass,nolog,skip:1\"\n"
        "SecRule &TX:never \"@eq 1\" \"id:2,phase:1,deny,log,"
        "chain\"\n"
        "  SecRule ARGS \"@rx .\" \"setvar:tx.hit=1\"\n"
        "SecRule &TX:never \"@eq 0\" \"id:3,phase:1,pass,log,msg:'always'\"\n"
        "SecRule REQUEST_URI \"@rx .\" \"id:4,phase:1,pass,nolog\"\n";
    static const char *const uris[] = {"/?s=1", "/?s=2", NULL};
    struct sk_waf_rules *r;
    struct sk_waf_txn *t = both(rules, 1, uris, &r);
    assert_true(sk_waf_txn_match_count(t) >= 1);
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

/* A TX the request parser already wrote to (too many arguments) makes
 * the transaction run every rule as written. */
static void
test_prefilled_tx_runs_everything(void **state)
{
    (void)state;
    static const char rules[] =
        "SecRuleEngine On\n"
        "SecAction \"id:1,phase:1,pass,nolog,setvar:tx.a=1\"\n"
        "SecRule &TX:MSC_ARGS_LIMIT_EXCEEDED \"@eq 1\" "
        "\"id:2,phase:1,deny,status:413,log\"\n";
    size_t n = SK_LIMIT_ARGS + 10;
    char *uri = malloc(2 + n * 4 + 1);
    assert_non_null(uri);
    strcpy(uri, "/?");
    for (size_t i = 0; i < n; i++)
        strcat(uri, i ? "&a=1" : "a=1");
    const char *const uris[] = {uri, "/?a=1", NULL};
    struct sk_waf_rules *r;
    struct sk_waf_txn *t = both(rules, 1, uris, &r);
    sk_waf_txn_free(t);
    t = run(r, uri, NULL);
    assert_true(verdict_is(t, 2));
    assert_string_equal(sk_waf_txn_tx(t, "a"), "1");
    sk_waf_txn_free(t);
    free(uri);
    sk_waf_rules_free(r);
}

/* A rule reading MATCHED_VAR outside its own match turns folding off. */
static void
test_matched_var_reader_turns_folding_off(void **state)
{
    (void)state;
    static const char rules[] =
        "SecRuleEngine On\n"
        "SecRule &TX:a \"@eq 0\" \"id:1,phase:1,pass,nolog,setvar:tx.a=1\"\n"
        "SecRule MATCHED_VAR \"@streq 0\" \"id:2,phase:1,deny,log\"\n";
    static const char *const uris[] = {"/", NULL};
    struct sk_waf_rules *r;
    struct sk_waf_txn *t = both(rules, 0, uris, &r);
    assert_true(verdict_is(t, 2));
    sk_waf_txn_free(t);
    sk_waf_rules_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_level_skip_fold),
        cmocka_unit_test(test_folded_tx_selectors),
        cmocka_unit_test(test_skip_counts_folded_rules),
        cmocka_unit_test(test_runtime_reads_and_writes_keep_rules),
        cmocka_unit_test(test_runtime_flow_keeps_rules),
        cmocka_unit_test(test_dead_rules_and_logged_matches),
        cmocka_unit_test(test_prefilled_tx_runs_everything),
        cmocka_unit_test(test_matched_var_reader_turns_folding_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
