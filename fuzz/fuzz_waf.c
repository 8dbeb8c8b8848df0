/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule engine end to end (src/waf): the input is a small rule set and
 * a request, separated by the first NUL; the request's parts (URI, one
 * header value, body) by the next ones. The rules are compiled (selector
 * regexes read as text, prefilter chains, phase programs) and the request
 * runs through phases 1-5 three times, so that the second and third runs
 * meet what the cross-transaction memo kept from the first. Directives
 * that read files are skipped (the fuzzer must not read the machine).
 *
 * The rules are compiled twice, with and without folding (waf/fold.h),
 * and every run must end the same in both: verdict, matches in order,
 * and TX (names and values, in order), run by run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sekimori/waf.h"
#include "waf/fold.h"
#include "waf/txn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
part(const uint8_t **p, const uint8_t *end, char *buf, size_t cap)
{
    const uint8_t *q = memchr(*p, 0, (size_t)(end - *p));
    size_t n = (size_t)((q ? q : end) - *p);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, *p, n);
    buf[n] = '\0';
    *p = q ? q + 1 : end;
    return buf;
}

static struct sk_waf_rules *
compile(const char *rules, bool no_fold)
{
    struct sk_waf_rules *r = sk_waf_rules_new();
    if (r == NULL)
        return NULL;
    sk__fold_disabled = no_fold;
    int rc = sk_waf_rules_add_text(r, "fuzz.conf", rules, strlen(rules));
    if (rc == 0)
        rc = sk_waf_rules_compile(r);
    sk__fold_disabled = false;
    if (rc != 0) {
        sk_waf_rules_free(r);
        return NULL;
    }
    return r;
}

static struct sk_waf_txn *
run(const struct sk_waf_rules *r, const char *uri, const char *hval,
    const char *body)
{
    struct sk_waf_txn *t = sk_waf_txn_new(r, "fuzz");
    if (t == NULL)
        return NULL;
    (void)sk_waf_txn_connection(t, "192.0.2.1", 1234, "192.0.2.2", 80);
    (void)sk_waf_txn_request_line(t, "POST", 4, uri[0] ? uri : "/",
                                  uri[0] ? strlen(uri) : 1, "HTTP/1.1", 8);
    (void)sk_waf_txn_request_header(t, "Content-Type", 12,
                                    "application/x-www-form-urlencoded", 33);
    (void)sk_waf_txn_request_header(t, "X-F", 3, hval, strlen(hval));
    (void)sk_waf_txn_request_header(t, "Cookie", 6, hval, strlen(hval));
    (void)sk_waf_txn_phase(t, 1);
    (void)sk_waf_txn_request_body(t, body, strlen(body));
    (void)sk_waf_txn_phase(t, 2);
    (void)sk_waf_txn_response_status(t, 200, "HTTP/1.1");
    (void)sk_waf_txn_response_header(t, "Content-Type", 12, "text/html", 9);
    (void)sk_waf_txn_phase(t, 3);
    (void)sk_waf_txn_response_body(t, body, strlen(body));
    (void)sk_waf_txn_phase(t, 5);
    return t;
}

/* Folding must not change what a transaction ends with. */
static void
same(const struct sk_waf_txn *t, const struct sk_waf_txn *u)
{
    struct sk_waf_verdict a, b;
    sk_waf_txn_verdict(t, &a);
    sk_waf_txn_verdict(u, &b);
    if (a.action != b.action || a.status != b.status ||
        a.rule_id != b.rule_id || a.phase != b.phase)
        abort();
    size_t n = sk_waf_txn_match_count(t);
    if (n != sk_waf_txn_match_count(u))
        abort();
    for (size_t i = 0; i < n; i++) {
        const struct sk_waf_match *m = sk_waf_txn_match(t, i);
        const struct sk_waf_match *o = sk_waf_txn_match(u, i);
        if (m->id != o->id || strcmp(m->msg, o->msg) != 0 ||
            strcmp(m->data, o->data) != 0)
            abort();
    }
    const struct sk_coll *x = &t->colls[SK_V_TX], *y = &u->colls[SK_V_TX];
    if (x->n != y->n)
        abort();
    for (size_t i = 0; i < x->n; i++)
        if (!sk_str_eq(x->e[i].name, y->e[i].name) ||
            !sk_str_eq(x->e[i].value, y->e[i].value))
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    static char rules[4096], uri[1024], hval[1024], body[2048];
    const uint8_t *p = data, *end = data + size;
    part(&p, end, rules, sizeof(rules));
    part(&p, end, uri, sizeof(uri));
    part(&p, end, hval, sizeof(hval));
    part(&p, end, body, sizeof(body));
    if (strstr(rules, "Include") || strstr(rules, "FromFile") ||
        strstr(rules, "pmf") || strstr(rules, "inspectFile") ||
        strstr(rules, "Dir") || strstr(rules, "AuditLog") ||
        strstr(rules, "ipMatchF") || strstr(rules, "Unicode"))
        return 0;
    struct sk_waf_rules *r = compile(rules, false);
    if (r == NULL)
        return 0;
    struct sk_waf_rules *plain = compile(rules, true);
    if (plain == NULL)
        abort(); /* the same text compiled once already */
    /* Each rule set's three runs in a row: the thread's memo belongs to
     * one rule set at a time, and the later runs must meet what the
     * first left in it. */
    struct sk_waf_txn *t[3] = {NULL, NULL, NULL}, *u[3] = {NULL, NULL, NULL};
    for (int round = 0; round < 3; round++)
        t[round] = run(r, uri, hval, body);
    for (int round = 0; round < 3; round++)
        u[round] = run(plain, uri, hval, body);
    for (int round = 0; round < 3; round++) {
        if (t[round] != NULL && u[round] != NULL)
            same(t[round], u[round]);
        sk_waf_txn_free(t[round]);
        sk_waf_txn_free(u[round]);
    }
    sk_waf_rules_free(plain);
    sk_waf_rules_free(r);
    return 0;
}
