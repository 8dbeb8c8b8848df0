/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the regex prefilter's literal extraction: what it derives
 * from the constructs CRS uses, where it must give up, and (the property
 * that matters) that every subject a pattern matches contains one of the
 * derived literals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util/arena.h"
#include "waf/prefilter.h"

/* Returns the literals joined by '|' (sorted as derived), or NULL. */
static const char *
lits(const char *re)
{
    static char out[2048];
    struct sk_arena *a = sk_arena_new(0);
    struct sk_str *l;
    size_t n;
    assert_non_null(a);
    if (!sk__prefilter_literals(a, re, &l, &n)) {
        sk_arena_free(a);
        return NULL;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off +=
            (size_t)snprintf(out + off, sizeof(out) - off, "%s%.*s",
                             i ? "|" : "", (int)l[i].len, (const char *)l[i].p);
    sk_arena_free(a);
    return out;
}

static void
test_extraction(void **state)
{
    (void)state;
    /* A plain literal, lower-cased. */
    assert_string_equal(lits("EvilString"), "evilstring");
    /* Sequences: the best run (the longest shortest member) wins. */
    assert_string_equal(lits("(?i)union\\s+select"), "select");
    assert_string_equal(lits("<script[^>]*>"), "<script");
    /* Alternations of exact strings stay exact sets. */
    assert_string_equal(lits("(?:foo|barbaz)"), "foo|barbaz");
    assert_string_equal(lits("on(?:error|load)\\s*="), "onerror|onload");
    /* Escapes become their characters. */
    assert_string_equal(lits("\\.php\\b"), ".php");
    assert_string_equal(lits("\\x41bc"), "abc");
    /* x+ requires x; x* and x? require nothing. */
    assert_string_equal(lits("(?:abc)+def?"), "abc");
    assert_string_equal(lits("ab{2,3}cde"), "cde");
    /* Lookarounds and anchors consume nothing. */
    assert_string_equal(lits("^(?<=x)abc(?=y)$"), "abc");
    /* Named groups in all three spellings; an empty one requires nothing
     * (found by fuzz/fuzz_prefilter.c). */
    assert_string_equal(lits("(?<n>abc)d"), "abcd");
    assert_string_equal(lits("(?P<n>abc)d"), "abcd");
    assert_string_equal(lits("(?'n'abc)d"), "abcd");
    assert_null(lits("(?'mmmm')"));
    /* Not a name: PCRE2's (?<*...) non-atomic lookbehind (found by
     * fuzz/fuzz_prefilter.c), and names starting with a digit. */
    assert_null(lits("(?<*|>~)"));
    assert_null(lits("(?<*abc>)defg"));
    assert_null(lits("(?<1a>abc)"));
    assert_string_equal(lits("(?<a1_>abc)"), "abc");
    /* Classes whose end PCRE2 finds in subtle ways are not modelled. */
    assert_null(lits("[[:alpha:]]abcd"));
    assert_null(lits("[`[:4]]:x]|abcd"));
    assert_null(lits("[\\Q]\\E]abcd"));
    assert_string_equal(lits("[a-z]+abcd"), "abcd");
    assert_null(lits("(?<mmmm>)"));
    /* An alternative without a literal spoils the whole alternation. */
    assert_null(lits("abc|\\d+"));
    assert_null(lits("abc|x"));
    /* Small classes are sets of bytes (case folded); negated, escaped
     * or large ones are unknown. */
    assert_string_equal(lits("[\"'`]x"), "\"x|'x|`x");
    assert_string_equal(lits("[aB]cd"), "acd|bcd");
    assert_string_equal(lits("[Aa]cd"), "acd");
    assert_string_equal(lits("[^a]bc"), "bc");
    assert_string_equal(lits("[a-z]bc"), "bc");
    assert_string_equal(lits("[a-c]de"), "ade|bde|cde");
    assert_string_equal(lits("[]x]yz"), "]yz|xyz");
    assert_string_equal(lits("[\\]\\-]ab"), "]ab|-ab");
    assert_string_equal(lits("[+-]ab"), "+ab|-ab");
    assert_string_equal(lits("[\\d.]ab"), "ab");
    assert_string_equal(lits("[\\b]ab"), "ab");
    assert_null(lits("[a-\\Q]\\E]"));
    /* Two bytes are enough; one only when benign text seldom has it. */
    assert_string_equal(lits("ab"), "ab");
    assert_string_equal(lits("[\"'`]"), "\"|'|`");
    assert_string_equal(lits("[\\n\\r]"), "\n|\r");
    assert_null(lits("[ab]"));
    /* Among one-byte sets, rare bytes beat common ones. */
    assert_string_equal(lits(",x*[\"'`]"), "\"|'|`");
    assert_string_equal(lits("[\"']x*,"), "\"|'");
    assert_null(lits("a"));
    assert_null(lits("<|a"));
    /* Optional, or syntax we do not model. */
    assert_null(lits("(?:abc)?"));
    assert_null(lits("(a)bc\\1"));
    assert_null(lits("(*UTF)abcdef"));
    assert_null(lits("(?x) a b c d"));
    assert_null(lits("\\Qabc\\E"));
    assert_null(lits("(?(1)abc|def)"));
    assert_null(lits("abc)"));
    assert_null(lits(""));
}

static bool
contains_nocase(const char *h, struct sk_str n)
{
    size_t hl = strlen(h);
    for (size_t i = 0; i + n.len <= hl; i++) {
        size_t k = 0;
        while (k < n.len && sk_ascii_lower((uint8_t)h[i + k]) == n.p[k])
            k++;
        if (k == n.len)
            return true;
    }
    return false;
}

/* Soundness: a match implies one of the literals in the subject. Each
 * pattern comes with a subject it matches; mutations of that subject
 * (case flips, inserted and deleted bytes) are checked whenever they
 * still match. */
static void
test_soundness(void **state)
{
    (void)state;
    static const struct {
        const char *re, *subject;
    } cases[] = {
        {"(?i)union\\s+(?:all\\s+)?select", "1 UNION ALL SELECT 2"},
        {"(?i)<script[^>]*>[\\s\\S]*?", "x<SCRIPT src=a>y"},
        {"(?:\\.\\./|\\.\\.\\\\)+etc/passwd", "../..\\etc/passwd"},
        {"(?i:on(?:error|load|mouseover))\\s*=", "<img OnError =x>"},
        {"(?i)(?:java\\.lang\\.(?:runtime|processbuilder))",
         "java.lang.ProcessBuilder"},
        {"\\$\\{jndi:(?:ldap|rmi|dns)", "${jndi:ldap://x}"},
        {"(?i)eval\\s*\\(\\s*base64_decode", "EVAL ( base64_decode("},
        {"(?:abc)+d(?:ef|gh)i", "abcabcdghi"},
        {"(?i)[\"'`]\\s*(?:or|and)", "x' OR 1"},
        {"(?:;|\\||&|[\\n\\r])\\s*[Cc][a-c]t", "a;\n CaT"},
        {"[]x]Y[+-]", "a]Y-"},
    };
    static const char noise[] = "aAeElLnN .:;/\\<>(){}$|`=_-";
    srand(12345);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    assert_non_null(md);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int err;
        PCRE2_SIZE off;
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)cases[c].re, PCRE2_ZERO_TERMINATED,
                          PCRE2_DOTALL | PCRE2_MULTILINE, &err, &off, NULL);
        assert_non_null(re);
        struct sk_arena *a = sk_arena_new(0);
        struct sk_str *l;
        size_t n;
        if (!sk__prefilter_literals(a, cases[c].re, &l, &n))
            fail_msg("no literals for %s", cases[c].re);
        unsigned matched = 0;
        for (int iter = 0; iter < 3000; iter++) {
            char subj[128];
            snprintf(subj, sizeof(subj), "%s", cases[c].subject);
            size_t len = strlen(subj);
            for (int m = iter ? 1 + rand() % 3 : 0; m > 0; m--) {
                size_t at = len ? (size_t)rand() % len : 0;
                int op = rand() % 3;
                if (op == 0 && len > 0) { /* flip case */
                    char ch = subj[at];
                    if (ch >= 'a' && ch <= 'z')
                        subj[at] = (char)(ch - 32);
                    else if (ch >= 'A' && ch <= 'Z')
                        subj[at] = (char)(ch + 32);
                } else if (op == 1 && len + 1 < sizeof(subj)) { /* insert */
                    memmove(subj + at + 1, subj + at, len - at + 1);
                    subj[at] = noise[rand() % (sizeof(noise) - 1)];
                    len++;
                } else if (len > 0) { /* delete */
                    memmove(subj + at, subj + at + 1, len - at);
                    len--;
                }
            }
            if (pcre2_match(re, (PCRE2_SPTR)subj, len, 0, 0, md, NULL) < 0)
                continue;
            matched++;
            bool found = false;
            for (size_t i = 0; i < n && !found; i++)
                found = contains_nocase(subj, l[i]);
            if (!found)
                fail_msg("%s matched '%s' without a literal", cases[c].re,
                         subj);
        }
        /* The check must not be vacuous. */
        if (matched < 100)
            fail_msg("%s: only %u mutated subjects matched", cases[c].re,
                     matched);
        sk_arena_free(a);
        pcre2_code_free(re);
    }
    pcre2_match_data_free(md);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extraction),
        cmocka_unit_test(test_soundness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
