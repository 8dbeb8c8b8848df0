/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/util: arena, buffers, strings, errors, diagnostics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/str.h"

static int cleanup_calls;

static void
count_cleanup(void *data)
{
    int *order = data;
    *order = ++cleanup_calls;
}

static void
test_arena_alloc_and_align(void **state)
{
    (void)state;
    struct sk_arena *a = sk_arena_new(256);
    assert_non_null(a);
    for (int i = 0; i < 1000; i++) {
        uint8_t *p = sk_arena_alloc(a, (size_t)(i % 97) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, 0x11, (size_t)(i % 97) + 1);
    }
    /* A large object gets its own block. */
    uint8_t *big = sk_arena_alloc(a, 100000);
    assert_non_null(big);
    memset(big, 0, 100000);
    char *s = sk_arena_printf(a, "%s-%d", "x", 42);
    assert_string_equal(s, "x-42");
    assert_null(sk_arena_calloc(a, SIZE_MAX / 2, 4));
    sk_arena_free(a);
}

static void
test_arena_defer_order(void **state)
{
    (void)state;
    int first = 0, second = 0;
    cleanup_calls = 0;
    struct sk_arena *a = sk_arena_new(0);
    assert_int_equal(sk_arena_defer(a, count_cleanup, &first), 0);
    assert_int_equal(sk_arena_defer(a, count_cleanup, &second), 0);
    sk_arena_reset(a);
    /* Reverse order of registration. */
    assert_int_equal(second, 1);
    assert_int_equal(first, 2);
    assert_non_null(sk_arena_alloc(a, 10));
    sk_arena_free(a);
    assert_int_equal(cleanup_calls, 2);
}

static void
test_arena_alloc_failure(void **state)
{
    (void)state;
    sk_alloc_fail_at(1, 0);
    assert_null(sk_arena_new(0));
    sk_alloc_fail_at(2, 0);
    assert_null(sk_arena_new(0));
    sk_alloc_fail_at(0, 0);
    struct sk_arena *a = sk_arena_new(128);
    sk_alloc_fail_at(1, 1);
    assert_null(sk_arena_alloc(a, 4096));
    sk_alloc_fail_at(0, 0);
    sk_arena_free(a);
}

static void
test_buf(void **state)
{
    (void)state;
    struct sk_buf b = {0};
    assert_int_equal(sk_buf_append_c(&b, "abc"), 0);
    assert_int_equal(sk_buf_putc(&b, 0), 0);
    assert_int_equal(sk_buf_printf(&b, "%05d", 7), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.p,
                        "abc\0"
                        "00007",
                        9);
    sk_alloc_fail_at(1, 1);
    char big[1000] = {0};
    assert_int_equal(sk_buf_append(&b, big, sizeof(big)), -SK_ENOMEM);
    sk_alloc_fail_at(0, 0);
    assert_int_equal(b.len, 9); /* unchanged after a failed append */
    sk_buf_fini(&b);
    assert_null(b.p);
}

static void
test_str(void **state)
{
    (void)state;
    assert_true(sk_str_eq_c_nocase(SK_STR_LIT("Content-Type"), "content-type"));
    assert_false(sk_str_eq_c(SK_STR_LIT("abc"), "abcd"));
    assert_int_equal(sk_str_find(SK_STR_LIT("hello world"), SK_STR_LIT("wor")),
                     6);
    assert_int_equal(sk_str_find(SK_STR_LIT("a"), SK_STR_LIT("ab")), -1);
    uint64_t v = 0;
    assert_int_equal(sk_str_to_u64(SK_STR_LIT("18446744073709551615"), &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(sk_str_to_u64(SK_STR_LIT("18446744073709551616"), &v),
                     -SK_EPARSE);
    assert_int_equal(sk_str_to_u64(SK_STR_LIT("12a"), &v), -SK_EPARSE);
    assert_int_equal(sk_str_to_u64(SK_STR_LIT(""), &v), -SK_EPARSE);
}

static void
test_errors_and_diag(void **state)
{
    (void)state;
    assert_string_equal(sk_strerror(-SK_ENOMEM), "out of memory");
    assert_string_equal(sk_strerror(SK_EPARSE), "malformed input");
    assert_string_equal(sk_strerror(-9999), "unknown error");
    struct sk_diag d = {0};
    struct sk_loc loc = {"rules.conf", 3, 7};
    sk_diag_error(&d, &loc, "unknown operator '%s'", "@nope");
    sk_diag_warn(&d, NULL, "x");
    assert_true(sk_diag_failed(&d));
    assert_string_equal(sk_diag_text(&d),
                        "rules.conf:3:7: error: unknown operator '@nope'\n"
                        "warning: x\n");
    sk_diag_fini(&d);
}

static void
check_redact(const char *in, const char *want)
{
    struct sk_buf out = {0};
    assert_int_equal(sk_redact(sk_str_c(in), &out), 0);
    assert_string_equal(sk_buf_cstr(&out), want);
    sk_buf_fini(&out);
}

static void
test_redact(void **state)
{
    (void)state;
    /* Luhn-valid numbers, plain and grouped, keep their last four. */
    check_redact("card=4111111111111111&x=1", "card=************1111&x=1");
    check_redact("pan 4111 1111 1111 1111 end", "pan **** **** **** 1111 end");
    check_redact("5500-0000-0000-0004", "****-****-****-0004");
    /* Not Luhn-valid, too short or part of a longer run: kept. */
    check_redact("id=4111111111111112", "id=4111111111111112");
    check_redact("tel 0312345678", "tel 0312345678");
    check_redact("x41111111111111110", "x41111111111111110");
    /* Secret fields in the usual shapes. */
    check_redact("user=bob&password=hunter2&a=b", "user=bob&password=***&a=b");
    check_redact("{\"cvv\":\"123\",\"n\":1}", "{\"cvv\":\"***\",\"n\":1}");
    check_redact("card_cvc: 999", "card_cvc: ***");
    check_redact("passport=1", "passport=***");
    check_redact("name=alice", "name=alice");
    assert_true(sk_redact_secret_name(SK_STR_LIT("Security_Code")));
    assert_false(sk_redact_secret_name(SK_STR_LIT("shipping")));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alloc_and_align),
        cmocka_unit_test(test_arena_defer_order),
        cmocka_unit_test(test_arena_alloc_failure),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_errors_and_diag),
        cmocka_unit_test(test_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
