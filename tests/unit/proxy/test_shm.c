/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/proxy/shm.c: maintenance paths set and cleared, the
 * normalization that keeps a client from walking around a maintenance
 * path (dot segments, repeated slashes, percent-encoded dots and letters,
 * hex case, encoded slashes, PATH_INFO, query strings, absolute-form
 * targets), the limits, and readers racing the writer through the
 * seqlock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/proxy.h"
#include "util/error.h"

static struct sk_proxy_maint *
fresh(void)
{
    static struct sk_proxy_maint m;
    memset(&m, 0, sizeof(m));
    return &m;
}

static bool
hit(const struct sk_proxy_maint *m, const char *path)
{
    return sk_proxy_maint_match(m, sk_str_c(path));
}

static void
set_on(struct sk_proxy_maint *m, const char *path)
{
    const char *p[] = {path};
    assert_int_equal(sk_proxy_maint_set(m, true, p, 1, "test", NULL), 0);
}

static void
test_off_matches_nothing(void **state)
{
    (void)state;
    struct sk_proxy_maint *m = fresh();
    assert_false(hit(m, "/"));
    assert_false(hit(m, "/pay/x.php"));
}

static void
test_prefix_and_exact(void **state)
{
    (void)state;
    struct sk_proxy_maint *m = fresh();
    set_on(m, "/pay/");
    assert_true(hit(m, "/pay/"));
    assert_true(hit(m, "/pay"));
    assert_true(hit(m, "/pay/x.php"));
    assert_true(hit(m, "/pay/sub/dir/x.php"));
    assert_false(hit(m, "/payment/x.php"));
    assert_false(hit(m, "/pay.php"));
    assert_false(hit(m, "/"));
    assert_false(hit(m, "/shop/pay/x.php"));

    m = fresh();
    set_on(m, "/shop/checkout.php");
    assert_true(hit(m, "/shop/checkout.php"));
    /* PATH_INFO: PHP runs checkout.php for this one. */
    assert_true(hit(m, "/shop/checkout.php/extra/info"));
    assert_false(hit(m, "/shop/checkout.phps"));
    assert_false(hit(m, "/shop/"));
    assert_false(hit(m, "/shop/checkout"));

    m = fresh();
    set_on(m, "/");
    assert_true(hit(m, "/"));
    assert_true(hit(m, "/anything/at/all"));
}

static void
test_bypass_attempts(void **state)
{
    (void)state;
    struct sk_proxy_maint *m = fresh();
    set_on(m, "/pay/x.php");
    static const char *const bypass[] = {
        "/pay/./x.php",
        "/pay//x.php",
        "//pay///x.php",
        "/pay/%2e/x.php",
        "/pay/%2E/x.php",
        "/other/../pay/x.php",
        "/other/%2e%2e/pay/x.php",
        "/other/%2E%2e/pay/x.php",
        "/../pay/x.php",
        "/../../../pay/x.php",
        "/%70ay/x.php",
        "/%70%61%79/%78%2E%70%68%70",
        "/pay%2Fx.php",
        "/pay%2fx.php",
        "/other%2F..%2Fpay%2Fx.php",
        "/pay/x.php?a=b",
        "/pay/x.php#frag",
        "/pay/x.php/",
        "/pay/x.php/.",
        "/pay/x.php/%2e",
        "/pay/sub/../x.php",
        "/pay/sub/./../x.php",
        "http://shop.example/pay/x.php",
        "HTTPS://shop.example/pay/./x.php?q",
        "pay/x.php",
        "/./pay/x.php",
    };
    for (size_t i = 0; i < sizeof(bypass) / sizeof(bypass[0]); i++) {
        if (!hit(m, bypass[i]))
            fail_msg("'%s' walked around /pay/x.php", bypass[i]);
    }
    static const char *const other[] = {
        "/pay/y.php",
        "/pay/x.ph",
        "/pay/x.php.bak",
        "/pay/x%2ephp2",
        "/pay/x.php%00",
        "/pay/x.php/../y.php",
        "/pay/%2e%2e/x.php",
        "/pay/x%2Ephp/../../y",
        "/",
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        if (hit(m, other[i]))
            fail_msg("'%s' matched /pay/x.php", other[i]);
    }
}

static void
test_stored_paths_normalized(void **state)
{
    (void)state;
    struct sk_proxy_maint *m = fresh();
    set_on(m, "/pay//./sub/../");
    assert_int_equal(m->n, 1);
    assert_string_equal(m->paths[0], "/pay/");
    assert_true(hit(m, "/pay/a"));

    /* Reserved bytes stay encoded, with upper-case hex on both sides. */
    m = fresh();
    set_on(m, "/a%2fb");
    assert_string_equal(m->paths[0], "/a%2Fb");
    assert_true(hit(m, "/a%2Fb"));
    assert_true(hit(m, "/a%2fb"));
    assert_true(hit(m, "/a/b")); /* an upstream that decodes %2F */
    assert_false(hit(m, "/a%2Fc"));

    /* Unreserved bytes are decoded. */
    m = fresh();
    set_on(m, "/%7Euser/%41");
    assert_string_equal(m->paths[0], "/~user/A");
    assert_true(hit(m, "/~user/A"));
    assert_true(hit(m, "/%7euser/%41"));
    assert_false(hit(m, "/~user/a"));

    /* A '%' that starts no escape is a literal percent sign, %25. */
    m = fresh();
    set_on(m, "/x%zz");
    assert_string_equal(m->paths[0], "/x%25zz");
    assert_true(hit(m, "/x%zz"));
    assert_true(hit(m, "/x%25zz"));
    assert_false(hit(m, "/x"));

    /* The stored form is its own normal form: "%%34" + "1" is a literal
     * '%' then "41", not an escape for 'A' made up after decoding. */
    m = fresh();
    set_on(m, "/%%341");
    assert_string_equal(m->paths[0], "/%2541");
    assert_true(hit(m, "/%%341"));
    assert_true(hit(m, m->paths[0]));
    assert_false(hit(m, "/A"));
    assert_false(hit(m, "/%41"));
}

static void
test_add_remove_clear(void **state)
{
    (void)state;
    struct sk_proxy_maint *m = fresh();
    const char *two[] = {"/a/", "/b/"};
    assert_int_equal(sk_proxy_maint_set(m, true, two, 2, "fim.tamper",
                                        "/var/www/html/a/x.php"),
                     0);
    assert_int_equal(m->n, 2);
    assert_string_equal(m->reason, "fim.tamper");
    assert_string_equal(m->file, "/var/www/html/a/x.php");
    assert_true(m->since > 0);
    int64_t since = m->since;

    /* Adding again deduplicates, keeps `since`, updates the reason. */
    const char *more[] = {"/b/", "/c/", "/c//"};
    assert_int_equal(sk_proxy_maint_set(m, true, more, 3, "operator", NULL), 0);
    assert_int_equal(m->n, 3);
    assert_string_equal(m->reason, "operator");
    assert_int_equal(m->since, since);
    assert_true(hit(m, "/c/z"));

    /* Clearing some paths leaves the others. */
    const char *rm[] = {"/a//", "/nonexistent/"};
    assert_int_equal(sk_proxy_maint_set(m, false, rm, 2, NULL, NULL), 0);
    assert_int_equal(m->n, 2);
    assert_false(hit(m, "/a/x"));
    assert_true(hit(m, "/b/x"));
    assert_true(m->since > 0);

    /* Clearing everything. */
    assert_int_equal(sk_proxy_maint_set(m, false, NULL, 0, NULL, NULL), 0);
    assert_int_equal(m->n, 0);
    assert_int_equal(m->since, 0);
    assert_string_equal(m->reason, "");
    assert_false(hit(m, "/b/x"));

    /* Removing the last path also turns maintenance off. */
    set_on(m, "/z/");
    const char *z[] = {"/z/"};
    assert_int_equal(sk_proxy_maint_set(m, false, z, 1, NULL, NULL), 0);
    assert_int_equal(m->n, 0);
    assert_int_equal(m->since, 0);
}

static void
test_limits_and_invalid(void **state)
{
    (void)state;
    struct sk_proxy_maint *m = fresh();
    char longp[SK_PROXY_MAINT_PATH + 8];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    const char *p[] = {longp};
    assert_int_equal(sk_proxy_maint_set(m, true, p, 1, NULL, NULL), -SK_ELIMIT);
    /* Exactly the longest that fits. */
    longp[SK_PROXY_MAINT_PATH - 1] = '\0';
    assert_int_equal(sk_proxy_maint_set(m, true, p, 1, NULL, NULL), 0);
    assert_int_equal(strlen(m->paths[0]), SK_PROXY_MAINT_PATH - 1);

    m = fresh();
    const char *rel[] = {"pay/"};
    assert_int_equal(sk_proxy_maint_set(m, true, rel, 1, NULL, NULL),
                     -SK_EINVAL);
    const char *empty[] = {""};
    assert_int_equal(sk_proxy_maint_set(m, true, empty, 1, NULL, NULL),
                     -SK_EINVAL);
    const char *q[] = {"/pay?x"};
    assert_int_equal(sk_proxy_maint_set(m, true, q, 1, NULL, NULL), -SK_EINVAL);
    const char *nul[] = {"/pay%00x"};
    assert_int_equal(sk_proxy_maint_set(m, true, nul, 1, NULL, NULL), 0);
    assert_int_equal(sk_proxy_maint_set(m, true, NULL, 0, NULL, NULL),
                     -SK_EINVAL);

    /* Too many: the table is full, nothing changes. */
    m = fresh();
    char names[SK_PROXY_MAINT_MAX + 1][16];
    const char *all[SK_PROXY_MAINT_MAX + 1];
    for (int i = 0; i <= SK_PROXY_MAINT_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "/p%d/", i);
        all[i] = names[i];
    }
    assert_int_equal(
        sk_proxy_maint_set(m, true, all, SK_PROXY_MAINT_MAX + 1, NULL, NULL),
        -SK_ELIMIT);
    assert_int_equal(m->n, 0);
    assert_int_equal(
        sk_proxy_maint_set(m, true, all, SK_PROXY_MAINT_MAX, NULL, NULL), 0);
    assert_int_equal(m->n, SK_PROXY_MAINT_MAX);
    assert_int_equal(
        sk_proxy_maint_set(m, true, all + SK_PROXY_MAINT_MAX, 1, NULL, NULL),
        -SK_ELIMIT);
    assert_int_equal(m->n, SK_PROXY_MAINT_MAX);
    assert_false(hit(m, "/p32/"));
    assert_true(hit(m, "/p31/x"));

    /* A long reason is cut, not refused. */
    char reason[1000];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    m = fresh();
    const char *one[] = {"/x/"};
    assert_int_equal(sk_proxy_maint_set(m, true, one, 1, reason, reason), 0);
    assert_int_equal(strlen(m->reason), SK_PROXY_MAINT_REASON - 1);
    assert_int_equal(strlen(m->file), SK_PROXY_MAINT_PATH - 1);
}

static void
test_long_request_path(void **state)
{
    (void)state;
    struct sk_proxy_maint *m = fresh();
    set_on(m, "/pay/");
    /* Longer than the on-stack buffer: "/x/../" repeated, then /pay/. */
    size_t reps = 4000;
    size_t len = reps * 6 + 16;
    char *p = malloc(len);
    assert_non_null(p);
    size_t o = 0;
    for (size_t i = 0; i < reps; i++) {
        memcpy(p + o, "/x/../", 6);
        o += 6;
    }
    strcpy(p + o, "pay/x.php");
    assert_true(hit(m, p));
    strcpy(p + o, "paz/x.php");
    assert_false(hit(m, p));
    /* Many ".." beyond the root. */
    o = 0;
    for (size_t i = 0; i < reps; i++) {
        memcpy(p + o, "/../..", 6);
        o += 6;
    }
    strcpy(p + o, "/pay/");
    assert_true(hit(m, p));
    free(p);
}

/* ---- readers racing the writer ---------------------------------------- */

static struct sk_proxy_maint race;
static atomic_bool race_stop;

static void *
writer(void *arg)
{
    (void)arg;
    const char *x[] = {"/x/"};
    for (unsigned i = 0; !atomic_load(&race_stop); i++)
        sk_proxy_maint_set(&race, i % 2 == 0, x, 1, "race", NULL);
    return NULL;
}

static void
test_seqlock_race(void **state)
{
    (void)state;
    memset(&race, 0, sizeof(race));
    const char *keep[] = {"/keep/"};
    assert_int_equal(sk_proxy_maint_set(&race, true, keep, 1, NULL, NULL), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer, NULL), 0);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned long misses = 0, rounds = 0;
    do {
        /* The writer rewrites the whole table each time: a reader that
         * did not validate its snapshot would see /keep/ vanish. */
        for (int i = 0; i < 1000; i++, rounds++)
            if (!hit(&race, "/keep/a.php"))
                misses++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 +
                 (now.tv_nsec - start.tv_nsec) / 1000000 <
             300);
    atomic_store(&race_stop, true);
    pthread_join(t, NULL);
    assert_true(rounds > 0);
    assert_int_equal(misses, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_matches_nothing),
        cmocka_unit_test(test_prefix_and_exact),
        cmocka_unit_test(test_bypass_attempts),
        cmocka_unit_test(test_stored_paths_normalized),
        cmocka_unit_test(test_add_remove_clear),
        cmocka_unit_test(test_limits_and_invalid),
        cmocka_unit_test(test_long_request_path),
        cmocka_unit_test(test_seqlock_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
