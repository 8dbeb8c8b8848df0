/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transformation table and its lookup, plus the small allocation
 * helpers the transformation functions share. The table is sorted by
 * ASCII case-insensitive name so that sk_transform_find() can binary
 * search it; alternative spellings live in a separate alias table so the
 * main table holds each transformation exactly once (the configuration
 * reference is generated from it).
 */
#include "transform/transform.h"

#include <string.h>

#include "transform/tfn_internal.h"

bool sk__tfn_slow_only; /* tfn_internal.h: tests only */
#include "util/alloc.h"
#include "util/error.h"

/* Sorted by name, ASCII case-insensitively (a unit test checks it). */
static const struct sk_transform_def transforms[] = {
    {"base64Decode", sk__tfn_base64_decode,
     "decode Base64 up to the first byte outside the alphabet"},
    {"base64DecodeExt", sk__tfn_base64_decode_ext,
     "decode Base64 forgivingly, skipping bytes outside the alphabet"},
    {"base64Encode", sk__tfn_base64_encode,
     "encode as padded Base64 (RFC 4648 alphabet)"},
    {"cmdLine", sk__tfn_cmd_line,
     "normalise a shell command line: drop \\ \" ' ^, fold separators, "
     "lowercase"},
    {"compressWhitespace", sk__tfn_compress_whitespace,
     "replace each run of whitespace (and 0xA0) by one space"},
    {"cssDecode", sk__tfn_css_decode,
     "decode CSS 2 escapes (\\HHHHHH, \\c, line continuations)"},
    {"escapeSeqDecode", sk__tfn_escape_seq_decode,
     "decode ANSI C escapes (\\n, \\xHH, \\OOO, ...)"},
    {"hexDecode", sk__tfn_hex_decode,
     "decode pairs of hex digits into bytes (no validation)"},
    {"hexEncode", sk__tfn_hex_encode,
     "encode every byte as two lowercase hex digits"},
    {"htmlEntityDecode", sk__tfn_html_entity_decode,
     "decode &#DDD; &#xHH; &quot; &amp; &lt; &gt; &nbsp; (';' optional)"},
    {"jsDecode", sk__tfn_js_decode,
     "decode JavaScript escapes (\\uHHHH, \\xHH, \\OOO, \\n, ...)"},
    {"length", sk__tfn_length,
     "replace the value by its length in bytes, in decimal"},
    {"lowercase", sk__tfn_lowercase, "map ASCII A-Z to a-z"},
    {"md5", sk__tfn_md5, "replace the value by its raw 16-byte MD5 digest"},
    {"none", NULL, "drop every transformation listed before it"},
    {"normalizePath", sk__tfn_normalize_path,
     "collapse //, remove ./ and resolve ../ segments"},
    {"normalizePathWin", sk__tfn_normalize_path_win,
     "normalizePath after turning backslashes into slashes"},
    {"parityEven7bit", sk__tfn_parity_even_7bit,
     "set the high bit of each byte for even parity"},
    {"parityOdd7bit", sk__tfn_parity_odd_7bit,
     "set the high bit of each byte for odd parity"},
    {"parityZero7bit", sk__tfn_parity_zero_7bit,
     "clear the high bit of each byte"},
    {"removeComments", sk__tfn_remove_comments,
     "remove /* */ and <!-- --> comments; cut at -- or #"},
    {"removeCommentsChar", sk__tfn_remove_comments_char,
     "remove the comment markers /* */ <!-- --> -- and #"},
    {"removeNulls", sk__tfn_remove_nulls, "remove NUL bytes"},
    {"removeWhitespace", sk__tfn_remove_whitespace,
     "remove whitespace bytes (and 0xA0)"},
    {"replaceComments", sk__tfn_replace_comments,
     "replace each /* */ comment (even unterminated) by one space"},
    {"replaceNulls", sk__tfn_replace_nulls, "replace NUL bytes by spaces"},
    {"sha1", sk__tfn_sha1, "replace the value by its raw 20-byte SHA-1 digest"},
    {"sqlHexDecode", sk__tfn_sql_hex_decode,
     "decode SQL hex literals 0xHHHH... into bytes"},
    {"trim", sk__tfn_trim, "remove leading and trailing whitespace"},
    {"trimLeft", sk__tfn_trim_left, "remove leading whitespace"},
    {"trimRight", sk__tfn_trim_right, "remove trailing whitespace"},
    {"uppercase", sk__tfn_uppercase, "map ASCII a-z to A-Z"},
    {"urlDecode", sk__tfn_url_decode,
     "decode %HH and '+'; invalid escapes are kept"},
    {"urlDecodeUni", sk__tfn_url_decode_uni,
     "urlDecode plus IIS %uHHHH (full-width ASCII mapped to ASCII)"},
    {"urlEncode", sk__tfn_url_encode,
     "percent-encode all but A-Z a-z 0-9 *, space as '+'"},
    {"utf8toUnicode", sk__tfn_utf8_to_unicode,
     "rewrite UTF-8 multi-byte sequences as %uHHHH"},
};

/*
 * Other spellings ModSecurity accepts, each naming a row of the main
 * table by its canonical name. Sorted like the main table.
 */
static const struct {
    const char *alias;
    const char *name;
} aliases[] = {
    {"normalisePath", "normalizePath"},
    {"normalisePathWin", "normalizePathWin"},
};

#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

/*
 * ASCII case-insensitive comparison: strcasecmp() follows the process
 * locale, and transformation names must not depend on it.
 */
static int
ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = sk_ascii_lower((uint8_t)*a);
        int cb = sk_ascii_lower((uint8_t)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

int
sk_transform_namecmp(const char *a, const char *b)
{
    return ascii_casecmp(a, b);
}

static const struct sk_transform_def *
find_exact(const char *name)
{
    size_t lo = 0, hi = NELEM(transforms);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ascii_casecmp(name, transforms[mid].name);
        if (c == 0)
            return &transforms[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct sk_transform_def *
sk_transform_find(const char *name)
{
    if (name == NULL)
        return NULL;
    const struct sk_transform_def *d = find_exact(name);
    if (d != NULL)
        return d;
    for (size_t i = 0; i < NELEM(aliases); i++)
        if (ascii_casecmp(name, aliases[i].alias) == 0)
            return find_exact(aliases[i].name);
    return NULL;
}

const struct sk_transform_def *
sk_transform_table(size_t *count)
{
    *count = NELEM(transforms);
    return transforms;
}

const char *
sk_transform_alias(size_t i, const char **name)
{
    if (i >= NELEM(aliases))
        return NULL;
    *name = aliases[i].name;
    return aliases[i].alias;
}

int
sk__tw_grow(struct tw *w)
{
    if (w->err != 0)
        return w->err;
    /* One spare byte so that callers may NUL-terminate for debugging. */
    size_t n;
    if (w->cap < w->len || sk_size_add(w->cap, 1, &n) != 0) {
        w->err = -SK_ELIMIT;
        return w->err;
    }
    uint8_t *b = sk_arena_alloc(w->a, n);
    if (b == NULL) {
        w->err = -SK_ENOMEM;
        return w->err;
    }
    if (w->len > 0)
        memcpy(b, w->in.p, w->len);
    w->buf = b;
    return 0;
}

int
sk__tfn_result(struct sk_arena *a, struct sk_str in, const uint8_t *res,
               size_t n, struct sk_str *out, bool *changed)
{
    if (sk_str_eq(in, sk_str_make(res, n))) {
        *out = in;
        *changed = false;
        return 0;
    }
    uint8_t *b = sk_arena_alloc(a, n + 1);
    if (b == NULL)
        return -SK_ENOMEM;
    memcpy(b, res, n);
    b[n] = 0;
    *out = sk_str_make(b, n);
    *changed = true;
    return 0;
}
