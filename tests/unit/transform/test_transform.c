/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/transform: the table (sorted, unique, documented,
 * aliases), and every transformation on ordinary, empty and binary input
 * and on the edge cases where ModSecurity's behaviour is easy to get
 * wrong. Expected outputs are exact bytes; each call also checks that the
 * input was left alone, that `changed` is exact and that nothing is
 * allocated when the value does not change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "transform/transform.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/error.h"

static struct sk_arena *arena;

static int
setup(void **state)
{
    (void)state;
    arena = sk_arena_new(0);
    return arena == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    (void)state;
    sk_arena_free(arena);
    arena = NULL;
    return 0;
}

static void
print_bytes(const char *tag, const uint8_t *p, size_t n)
{
    fprintf(stderr, "%s [%zu] \"", tag, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            fputc(p[i], stderr);
        else
            fprintf(stderr, "\\x%02x", p[i]);
    }
    fprintf(stderr, "\"\n");
}

/*
 * Runs transformation `name` on in[0..inlen) and compares with
 * exp[0..explen). Checks that the input is intact, that *changed is
 * exact, and that an unchanged result allocated nothing.
 */
static void
check(const char *name, const char *in, size_t inlen, const char *exp,
      size_t explen, int line)
{
    const struct sk_transform_def *d = sk_transform_find(name);
    if (d == NULL || d->fn == NULL) {
        fprintf(stderr, "line %d: no transformation %s\n", line, name);
        fail();
    }
    char saved[512];
    assert_true(inlen <= sizeof(saved));
    memcpy(saved, in, inlen);
    size_t used = sk_arena_used(arena);
    struct sk_str out = {NULL, 0};
    bool changed = !sk_str_eq(sk_str_make(in, inlen), sk_str_make(exp, explen));
    bool want_changed = changed;
    changed = !changed; /* make sure the function sets it */
    int rc = d->fn(arena, sk_str_make(in, inlen), &out, &changed);
    if (rc != 0 || out.len != explen ||
        (explen > 0 && memcmp(out.p, exp, explen) != 0) ||
        changed != want_changed) {
        fprintf(stderr, "line %d: t:%s rc=%d changed=%d\n", line, name, rc,
                changed);
        print_bytes("  input   ", (const uint8_t *)in, inlen);
        print_bytes("  expected", (const uint8_t *)exp, explen);
        print_bytes("  got     ", out.p, out.len);
        fail();
    }
    assert_memory_equal(saved, in, inlen);
    if (!want_changed)
        assert_int_equal(sk_arena_used(arena), used);
}

/* Literals may hold NUL bytes, so lengths come from sizeof. */
#define T(name, in, exp)                                                       \
    check(name, in, sizeof(in) - 1, exp, sizeof(exp) - 1, __LINE__)

/* The table ------------------------------------------------------------ */

static const char *const modsec_names[] = {
    "base64Decode",
    "base64DecodeExt",
    "base64Encode",
    "cmdLine",
    "compressWhitespace",
    "cssDecode",
    "escapeSeqDecode",
    "hexDecode",
    "hexEncode",
    "htmlEntityDecode",
    "jsDecode",
    "length",
    "lowercase",
    "md5",
    "none",
    "normalisePath",
    "normalizePath",
    "normalisePathWin",
    "normalizePathWin",
    "parityEven7bit",
    "parityOdd7bit",
    "parityZero7bit",
    "removeComments",
    "removeCommentsChar",
    "removeNulls",
    "removeWhitespace",
    "replaceComments",
    "replaceNulls",
    "sha1",
    "sqlHexDecode",
    "trim",
    "trimLeft",
    "trimRight",
    "uppercase",
    "urlDecode",
    "urlDecodeUni",
    "urlEncode",
    "utf8toUnicode",
};

static void
test_table_sorted_unique_documented(void **state)
{
    (void)state;
    size_t n;
    const struct sk_transform_def *t = sk_transform_table(&n);
    assert_int_equal(n, 36);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].name);
        assert_non_null(t[i].doc);
        assert_true(strlen(t[i].doc) > 10);
        assert_true(t[i].fn != NULL || strcmp(t[i].name, "none") == 0);
        if (i > 0)
            assert_true(sk_transform_namecmp(t[i - 1].name, t[i].name) < 0);
        /* Every row is found under its own name. */
        assert_ptr_equal(sk_transform_find(t[i].name), &t[i]);
    }
    /* Aliases point at rows and never shadow one. */
    const char *canon;
    size_t na = 0;
    for (const char *al; (al = sk_transform_alias(na, &canon)) != NULL; na++) {
        const struct sk_transform_def *d = sk_transform_find(al);
        assert_non_null(d);
        assert_string_equal(d->name, canon);
        for (size_t i = 0; i < n; i++)
            assert_int_not_equal(sk_transform_namecmp(al, t[i].name), 0);
    }
    assert_int_equal(na, 2);
}

static void
test_table_lookup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(modsec_names) / sizeof(*modsec_names); i++)
        assert_non_null(sk_transform_find(modsec_names[i]));
    /* Case-insensitive, as both ModSecurity versions are. */
    assert_string_equal(sk_transform_find("URLDECODEUNI")->name,
                        "urlDecodeUni");
    assert_string_equal(sk_transform_find("cmdline")->name, "cmdLine");
    assert_string_equal(sk_transform_find("Utf8toUnicode")->name,
                        "utf8toUnicode");
    assert_string_equal(sk_transform_find("normalisePath")->name,
                        "normalizePath");
    assert_string_equal(sk_transform_find("NORMALISEPATHWIN")->name,
                        "normalizePathWin");
    assert_null(sk_transform_find("none")->fn);
    assert_null(sk_transform_find("urlDecodeUnicode"));
    assert_null(sk_transform_find("urlDecod"));
    assert_null(sk_transform_find(""));
    assert_null(sk_transform_find(NULL));
    assert_null(sk_transform_find("t:lowercase"));
}

/* Decoders ------------------------------------------------------------- */

static void
test_url_decode(void **state)
{
    (void)state;
    T("urlDecode", "a%41b+c", "aAb c");
    T("urlDecode", "", "");
    T("urlDecode", "plain", "plain");
    T("urlDecode", "%zz%4", "%zz%4");
    T("urlDecode", "%", "%");
    T("urlDecode", "100%", "100%");
    T("urlDecode", "%00%ff%FF", "\0\xff\xff");
    T("urlDecode", "%u0041", "%u0041");
    T("urlDecode", "%2541", "%41");
    T("urlDecode", "a\0%41", "a\0A");
}

static void
test_url_decode_uni(void **state)
{
    (void)state;
    T("urlDecodeUni", "%u0041%U0042+%43", "AB C");
    /* Full-width ASCII U+FF01..U+FF5E maps to ASCII. */
    T("urlDecodeUni", "%uff21%uFF01%uff5e", "A!~");
    /* Outside that range only the low byte is kept. */
    T("urlDecodeUni", "%uff5f%uff00%u1234%u0100",
      "\x5f\0"
      "4\0");
    T("urlDecodeUni", "%u%41", "%uA");
    T("urlDecodeUni", "%u004", "%u004");
    T("urlDecodeUni", "%uzzzz", "%uzzzz");
    T("urlDecodeUni", "%u00", "%u00");
    T("urlDecodeUni", "", "");
    T("urlDecodeUni", "\xff%u00e9", "\xff\xe9");
}

static void
test_html_entity_decode(void **state)
{
    (void)state;
    T("htmlEntityDecode", "&lt;script&gt;", "<script>");
    T("htmlEntityDecode", "&#x41;&#66;&#X43", "ABC");
    T("htmlEntityDecode", "&LT;&Amp;&QUOT;&nbsp;", "<&\"\xa0");
    T("htmlEntityDecode", "&lt", "<");
    T("htmlEntityDecode", "&foo;bar", "&foo;bar");
    T("htmlEntityDecode", "&ltx;", "&ltx;");
    T("htmlEntityDecode", "&#;&#x;&#&", "&#;&#x;&#&");
    T("htmlEntityDecode", "&#x", "&#x");
    T("htmlEntityDecode", "& x", "& x");
    /* Values above 255 keep their low byte; overflow saturates (0xFF). */
    T("htmlEntityDecode", "&#x4142;&#321;", "BA");
    T("htmlEntityDecode", "&#99999999999999999999;", "\xff");
    T("htmlEntityDecode", "&#x00;a", "\0a");
    T("htmlEntityDecode", "", "");
    T("htmlEntityDecode", "\0&amp\0", "\0&\0");
}

static void
test_js_decode(void **state)
{
    (void)state;
    T("jsDecode", "\\x41\\u0042\\103", "ABC");
    T("jsDecode", "\\uff21\\uFF01", "A!");
    T("jsDecode", "\\n\\t\\r\\a\\b\\f\\v", "\n\t\r\a\b\f\v");
    T("jsDecode", "\\\\\\'\\\"\\q", "\\'\"q");
    /* Three octal digits only while the value fits in a byte. */
    T("jsDecode", "\\477\\1234\\0", "'7S4\0");
    /* Only lowercase x and u start hex escapes. */
    T("jsDecode", "\\x4\\u004\\X41", "x4u004X41");
    T("jsDecode", "abc\\", "abc\\");
    T("jsDecode", "", "");
    T("jsDecode", "\xff\\\xfe", "\xff\xfe");
}

static void
test_css_decode(void **state)
{
    (void)state;
    T("cssDecode", "\\41\\42 x", "ABx");
    T("cssDecode", "\\000041", "A");
    T("cssDecode", "\\00ff21|\\ff21|\\1ff21", "A|A|!");
    T("cssDecode", "\\0000ff21",
      "\xff"
      "21");
    /* 'a' is a hex digit: \a is U+000A. */
    T("cssDecode", "\\a\\g\\\\", "\ng\\");
    T("cssDecode", "a\\\nb", "ab");
    T("cssDecode", "a\\", "a");
    T("cssDecode", "\\4\t\\1", "\x04\x01");
    T("cssDecode", "", "");
    T("cssDecode", "\0\\\0", "\0\0");
}

static void
test_escape_seq_decode(void **state)
{
    (void)state;
    T("escapeSeqDecode", "\\n\\x41\\101\\?\\\\", "\nAA?\\");
    T("escapeSeqDecode", "\\X41\\xZZ\\q", "AxZZq");
    T("escapeSeqDecode", "\\777\\0", "\xff\0");
    T("escapeSeqDecode", "abc\\", "abc\\");
    T("escapeSeqDecode", "", "");
    T("escapeSeqDecode", "\\\xff", "\xff");
}

static void
test_hex_decode(void **state)
{
    (void)state;
    T("hexDecode", "414243", "ABC");
    T("hexDecode", "41424", "AB");
    T("hexDecode", "4", "");
    T("hexDecode", "00ff", "\0\xff");
    /* No validation: digits are decoded the way ModSecurity's x2c does. */
    T("hexDecode", "zz", "S");
    T("hexDecode", "", "");
}

static void
test_sql_hex_decode(void **state)
{
    (void)state;
    T("sqlHexDecode", "0x414243", "ABC");
    T("sqlHexDecode", "SELECT 0x4142,0X43", "SELECT AB,C");
    T("sqlHexDecode", "0x4", "0x4");
    T("sqlHexDecode", "0x41424", "AB4");
    T("sqlHexDecode", "0xZZ 0x", "0xZZ 0x");
    T("sqlHexDecode", "0x410x42", "AB");
    T("sqlHexDecode", "", "");
    T("sqlHexDecode",
      "\0"
      "0x00",
      "\0\0");
}

static void
test_base64(void **state)
{
    (void)state;
    T("base64Decode", "Zm9vYmFy", "foobar");
    T("base64Decode", "Zm9vYg==", "foob");
    T("base64Decode", "Zm9v!YmFy", "foo");
    T("base64Decode", "Zm9vY", "foo");
    T("base64Decode", "Zg", "f");
    T("base64Decode", "!!", "");
    T("base64Decode", "", "");
    T("base64Decode", "AP8=", "\0\xff");

    T("base64DecodeExt", "Zm9v YmFy", "foobar");
    T("base64DecodeExt", "Zm9v\n!Ym\0Fy", "foobar");
    T("base64DecodeExt", "Zm9vYg==", "foob");
    /* A lone '=' after 4k+1 symbols empties the output. */
    T("base64DecodeExt", "Zm9vY=", "");
    T("base64DecodeExt", "Zm9vY==", "");
    T("base64DecodeExt", "Zm9vY==Zg", "");
    T("base64DecodeExt", "Zm9vYg=", "foob");
    T("base64DecodeExt", "Zm9vY9", "foo\x63");
    T("base64DecodeExt", "", "");

    T("base64Encode", "foobar", "Zm9vYmFy");
    T("base64Encode", "foob", "Zm9vYg==");
    T("base64Encode", "fooba", "Zm9vYmE=");
    T("base64Encode", "\0\xff", "AP8=");
    T("base64Encode", "", "");
}

/* Encoders and digests ------------------------------------------------- */

static void
test_encoders(void **state)
{
    (void)state;
    T("hexEncode", "AB\0\xff", "414200ff");
    T("hexEncode", "", "");
    T("urlEncode", "a b&c*-_.~", "a+b%26c*%2d%5f%2e%7e");
    T("urlEncode", "\0\xff", "%00%ff");
    T("urlEncode", "AZaz09", "AZaz09");
    T("urlEncode", "", "");
    T("length", "abc", "3");
    T("length", "", "0");
    T("length", "\0\0\0\0\0\0\0\0\0\0", "10");
    T("length", "1", "1"); /* same bytes: unchanged */
}

static void
test_utf8_to_unicode(void **state)
{
    (void)state;
    T("utf8toUnicode", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
      "a%u00e9%u20ac%u1f600");
    /* NUL bytes are dropped, as ModSecurity v2 does. */
    T("utf8toUnicode", "a\0b", "ab");
    /* Truncated or broken sequences lose their lead byte. */
    T("utf8toUnicode", "\xc3", "");
    T("utf8toUnicode",
      "\xc3"
      "A\xe2\x82",
      "A\x82");
    T("utf8toUnicode", "\x80\xff", "\x80\xff");
    /* Overlong forms and surrogates get the lead byte appended. */
    T("utf8toUnicode", "\xc0\xaf", "%u002f\xc0");
    T("utf8toUnicode", "\xed\xa0\x80", "%ud800\xed");
    T("utf8toUnicode", "\xf5\x80\x80\x80", "\xf5%u140000");
    T("utf8toUnicode", "", "");
    T("utf8toUnicode", "plain", "plain");
}

static void
test_digests(void **state)
{
    (void)state;
    T("md5", "",
      "\xd4\x1d\x8c\xd9\x8f\x00\xb2\x04\xe9\x80\x09\x98\xec\xf8\x42\x7e");
    T("md5", "abc",
      "\x90\x01\x50\x98\x3c\xd2\x4f\xb0\xd6\x96\x3f\x7d\x28\xe1\x7f\x72");
    T("sha1", "abc",
      "\xa9\x99\x3e\x36\x47\x06\x81\x6a\xba\x3e\x25\x71\x78"
      "\x50\xc2\x6c\x9c\xd0\xd8\x9d");
    T("sha1", "",
      "\xda\x39\xa3\xee\x5e\x6b\x4b\x0d\x32\x55\xbf\xef\x95\x60"
      "\x18\x90\xaf\xd8\x07\x09");
    T("md5", "\0",
      "\x93\xb8\x85\xad\xfe\x0d\xa0\x89\xcd\xf6\x34\x90\x4f\xd5\x9f\x71");
}

/* Text ----------------------------------------------------------------- */

static void
test_case(void **state)
{
    (void)state;
    T("lowercase", "AbC\xc4\0Z", "abc\xc4\0z");
    T("lowercase", "abc", "abc");
    T("lowercase", "", "");
    T("uppercase", "aBc\xe4\0z", "ABC\xe4\0Z");
    T("uppercase", "", "");
}

static void
test_whitespace(void **state)
{
    (void)state;
    T("compressWhitespace",
      "a  \t\nb\xa0\xa0"
      "c ",
      "a b c ");
    T("compressWhitespace", " ", " ");
    T("compressWhitespace", "\t", " ");
    T("compressWhitespace", "\xc2\xa0x", "\xc2 x");
    T("compressWhitespace", "", "");
    T("compressWhitespace", "a\0\0b", "a\0\0b");
    T("removeWhitespace",
      "a b\tc\xa0"
      "d\ve\f\r\n",
      "abcde");
    T("removeWhitespace", "\xc2\xa0x", "\xc2x");
    T("removeWhitespace", "", "");
    T("trim", "  a b \t", "a b");
    T("trimLeft", "  a b \t", "a b \t");
    T("trimRight", "  a b \t", "  a b");
    T("trim",
      "\xa0"
      "a\0",
      "\xa0"
      "a\0");
    T("trim", " \n\v\f\r\t", "");
    T("trimLeft", "", "");
    T("trimRight", "x", "x");
}

static void
test_nulls(void **state)
{
    (void)state;
    T("removeNulls", "a\0b\0", "ab");
    T("removeNulls", "ab", "ab");
    T("removeNulls", "\0", "");
    T("replaceNulls", "a\0b\0", "a b ");
    T("replaceNulls", "", "");
}

static void
test_comments(void **state)
{
    (void)state;
    T("removeComments", "a/*x*/b<!--y-->c", "abc");
    T("removeComments", "/**/x", "x");
    T("removeComments", "a--b", "a");
    T("removeComments", "a#b", "a");
    T("removeComments", "a/*x", "a ");
    T("removeComments", "a<!--x", "a ");
    /* The byte after a comment is copied without being examined. */
    T("removeComments", "/*x*//*y*/z", "/*y*/z");
    /* A comment that closes the value leaves ModSecurity's NUL. */
    T("removeComments", "a/*x*/", "a\0");
    T("removeComments", "<!--x-->", "\0");
    T("removeComments", "a-b", "a-b");
    T("removeComments", "", "");
    T("removeComments", "\0/*\0*/\0", "\0\0");
    T("removeCommentsChar", "a/*b*/c<!--d-->e--f#g", "abcdefg");
    T("removeCommentsChar", "a-b<!-c", "a-b<!-c");
    T("removeCommentsChar", "", "");
    T("replaceComments", "a/*x*/b", "a b");
    T("replaceComments", "a/*x", "a ");
    T("replaceComments", "a*/b--c#", "a*/b--c#");
    T("replaceComments", "/**/", " ");
    T("replaceComments", "/*/", " ");
    T("replaceComments", "", "");
}

static void
test_cmd_line(void **state)
{
    (void)state;
    T("cmdLine", "cat  '/etc/passwd'", "cat/etc/passwd");
    T("cmdLine", "W\"h^o;A,M i", "who a m i");
    T("cmdLine", "echo (x) ,/", "echo(x)/");
    T("cmdLine", "a\tb\r\nc", "a b c");
    T("cmdLine", "C:\\WIN\\sys", "c:winsys");
    T("cmdLine", "A\0B", "a\0b");
    T("cmdLine", "ls -la", "ls -la");
    T("cmdLine", "", "");
}

static void
test_parity(void **state)
{
    (void)state;
    T("parityZero7bit",
      "\xc1"
      "A\x80",
      "AA\0");
    T("parityEven7bit", "AC", "A\xc3");
    T("parityOdd7bit", "AC",
      "\xc1"
      "C");
    /* Parity counts the input's own high bit, as ModSecurity does. */
    T("parityEven7bit", "\x80\x81", "\x80\x01");
    T("parityOdd7bit", "\x80\x81", "\0\x81");
    T("parityEven7bit", "", "");
}

static void
test_normalize_path(void **state)
{
    (void)state;
    T("normalizePath", "/a/b/../c", "/a/c");
    T("normalizePath", "/a/./b", "/a/b");
    T("normalizePath", "a//b///c", "a/b/c");
    T("normalizePath", "/../../etc/passwd", "/etc/passwd");
    T("normalizePath", "../../etc", "../../etc");
    T("normalizePath", "x/../../y", "../y");
    T("normalizePath", "./a", "a");
    T("normalizePath", "a/", "a/");
    T("normalizePath", "a/./", "a/");
    T("normalizePath", "/a/../b/", "/b/");
    T("normalizePath", "a/b/..", "a");
    T("normalizePath", "/a/b/.", "/a/b");
    T("normalizePath", "/a/..", "");
    T("normalizePath", ".", "");
    T("normalizePath", "..", "..");
    T("normalizePath", "/", "/");
    T("normalizePath", "//a", "/a");
    T("normalizePath", "", "");
    T("normalizePath", "a\\..\\b", "a\\..\\b");
    T("normalizePath", "/a\0/../b", "/b");
    T("normalizePathWin", "\\a\\..\\b", "/b");
    T("normalizePathWin", "c:\\x\\..\\y", "c:/y");
    T("normalizePathWin", "..\\..\\x", "../../x");
    T("normalizePathWin", "a\\\\b", "a/b");
    /* A backslash inside a run of three separators survives. */
    T("normalizePathWin", "a/\\\\b", "a\\b");
    T("normalizePathWin", "", "");
}

/* Failure paths -------------------------------------------------------- */

static void
test_out_of_memory(void **state)
{
    (void)state;
    /* A fresh arena whose first block is too small for the output. */
    struct sk_arena *small = sk_arena_new(64);
    assert_non_null(small);
    static char big[4096];
    memset(big, 'A', sizeof(big));
    struct sk_str out;
    bool changed;
    sk_alloc_fail_at(1, 1);
    int rc = sk_transform_find("lowercase")
                 ->fn(small, sk_str_make(big, sizeof(big)), &out, &changed);
    sk_alloc_fail_at(0, 0);
    assert_int_equal(rc, -SK_ENOMEM);
    /* An unchanged value needs no memory at all. */
    sk_alloc_fail_at(1, 1);
    rc = sk_transform_find("uppercase")
             ->fn(small, sk_str_make(big, sizeof(big)), &out, &changed);
    sk_alloc_fail_at(0, 0);
    assert_int_equal(rc, 0);
    assert_false(changed);
    assert_ptr_equal(out.p, big);
    sk_arena_free(small);
}

static void
test_size_overflow(void **state)
{
    (void)state;
    /*
     * The expanding transformations check their worst-case size before
     * reading a byte, so a length whose expansion overflows size_t is
     * refused without touching the (tiny) buffer behind it.
     */
    static const struct {
        const char *name;
        size_t factor;
    } grow[] = {{"urlEncode", 3}, {"hexEncode", 2}, {"utf8toUnicode", 4}};
    static const uint8_t byte = 'x';
    for (size_t i = 0; i < sizeof(grow) / sizeof(*grow); i++) {
        struct sk_str huge = {&byte, SIZE_MAX / grow[i].factor + 1};
        struct sk_str out;
        bool changed;
        assert_int_equal(
            sk_transform_find(grow[i].name)->fn(arena, huge, &out, &changed),
            -SK_ELIMIT);
    }
}

static void
test_every_fn_on_binary(void **state)
{
    (void)state;
    /* Every transformation accepts all 256 byte values and empty input. */
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    size_t n;
    const struct sk_transform_def *t = sk_transform_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (t[i].fn == NULL)
            continue;
        struct sk_str out;
        bool changed;
        assert_int_equal(t[i].fn(arena, sk_str_make(all, 256), &out, &changed),
                         0);
        assert_true(changed == !sk_str_eq(sk_str_make(all, 256), out));
        assert_int_equal(t[i].fn(arena, SK_STR_NULL, &out, &changed), 0);
        if (strcmp(t[i].name, "length") != 0 && strcmp(t[i].name, "md5") != 0 &&
            strcmp(t[i].name, "sha1") != 0)
            assert_int_equal(out.len, 0);
    }
}

/* The fast paths (tfn_internal.h) give exactly what the full
 * transformations give: many short values over an alphabet of the bytes
 * they act on, both ways. */
extern bool sk__tfn_slow_only;

static void
test_fast_paths_differential(void **state)
{
    (void)state;
    static const char *const names[] = {
        "urlDecode", "urlDecodeUni", "htmlEntityDecode", "jsDecode",
        "cssDecode", "lowercase",    "removeNulls",      "utf8toUnicode",
    };
    static const uint8_t alpha[] = {'a', 'Z',  'z',  '@',  '[', '%', '+', '&',
                                    '#', ';',  '\\', 'u',  'x', '0', 'f', ' ',
                                    0,   0xc3, 0xa9, 0x80, 'A', '`'};
    uint32_t seed = 12345;
    uint8_t in[16];
    for (int iter = 0; iter < 20000; iter++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % sizeof(in);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = alpha[(seed >> 16) % sizeof(alpha)];
        }
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            const struct sk_transform_def *d = sk_transform_find(names[k]);
            assert_non_null(d);
            struct sk_str fast, slow;
            bool cf = false, cs = false;
            sk__tfn_slow_only = false;
            int rf = d->fn(arena, sk_str_make(in, len), &fast, &cf);
            sk__tfn_slow_only = true;
            int rs = d->fn(arena, sk_str_make(in, len), &slow, &cs);
            sk__tfn_slow_only = false;
            assert_int_equal(rf, rs);
            if (rf != 0)
                continue;
            if (cf != cs || !sk_str_eq(fast, slow))
                fail_msg("%s differs on a %zu-byte input (iteration %d)",
                         names[k], len, iter);
        }
        if (iter % 1000 == 999)
            sk_arena_reset(arena);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sorted_unique_documented),
        cmocka_unit_test(test_fast_paths_differential),
        cmocka_unit_test(test_table_lookup),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_url_decode_uni),
        cmocka_unit_test(test_html_entity_decode),
        cmocka_unit_test(test_js_decode),
        cmocka_unit_test(test_css_decode),
        cmocka_unit_test(test_escape_seq_decode),
        cmocka_unit_test(test_hex_decode),
        cmocka_unit_test(test_sql_hex_decode),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_utf8_to_unicode),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_case),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_cmd_line),
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_normalize_path),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_size_overflow),
        cmocka_unit_test(test_every_fn_on_binary),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
