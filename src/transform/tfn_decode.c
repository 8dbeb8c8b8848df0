/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decoding transformations: URL (with IIS %u), HTML entities,
 * JavaScript, CSS, ANSI C escapes, hex, SQL hex literals and Base64.
 * Each reproduces ModSecurity's byte-level behaviour, including the way it
 * treats malformed input (kept as is, or decoded loosely); the choices
 * where ModSecurity v2 and v3 differ are listed in docs/transformations.md.
 * None of them produces more bytes than it reads, except base64Decode*,
 * which produce fewer.
 */
#include <limits.h>

#include "transform/tfn_internal.h"

/* urlDecode, urlDecodeUni --------------------------------------------- */

/*
 * The byte an IIS %uHHHH escape stands for. With ModSecurity's default
 * Unicode handling (no code-page map, or the 20127 map that ships with
 * it) only the low byte is kept, except that full-width ASCII U+FF01 to
 * U+FF5E becomes the ASCII character it mirrors.
 */
static uint8_t
uni_byte(const uint8_t *h)
{
    uint8_t b = hex2_loose(h + 2);
    if (b > 0x00 && b < 0x5f && (h[0] == 'f' || h[0] == 'F') &&
        (h[1] == 'f' || h[1] == 'F'))
        b = (uint8_t)(b + 0x20);
    return b;
}

static int
url_decode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
           bool *changed, bool uni)
{
    if (!sk__tfn_slow_only && !tfn_has(in, '%') && !tfn_has(in, '+'))
        return tfn_same(in, out, changed);
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        uint8_t c = p[i];
        if (c == '+') {
            tw_put(&w, ' ');
            i++;
        } else if (c != '%') {
            tw_put(&w, c);
            i++;
        } else if (uni && i + 1 < n && (p[i + 1] == 'u' || p[i + 1] == 'U')) {
            if (i + 5 < n && c_isxdigit(p[i + 2]) && c_isxdigit(p[i + 3]) &&
                c_isxdigit(p[i + 4]) && c_isxdigit(p[i + 5])) {
                tw_put(&w, uni_byte(p + i + 2));
                i += 6;
            } else {
                /* Not a %u escape: keep "%u" and go on after it. */
                tw_put(&w, p[i]);
                tw_put(&w, p[i + 1]);
                i += 2;
            }
        } else if (i + 2 < n && c_isxdigit(p[i + 1]) && c_isxdigit(p[i + 2])) {
            tw_put(&w, hex2_loose(p + i + 1));
            i += 3;
        } else {
            /* Invalid or truncated escape: the '%' stays. */
            tw_put(&w, c);
            i++;
        }
    }
    return tw_finish(&w, out, changed);
}

int
sk__tfn_url_decode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                   bool *changed)
{
    return url_decode(a, in, out, changed, false);
}

int
sk__tfn_url_decode_uni(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                       bool *changed)
{
    return url_decode(a, in, out, changed, true);
}

/* htmlEntityDecode ----------------------------------------------------- */

/*
 * The low byte of strtol(digits, NULL, base) as ModSecurity computes it:
 * the value saturates at LONG_MAX, whose low byte is 0xFF.
 */
static uint8_t
entity_value(const uint8_t *p, size_t n, unsigned base)
{
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = c_isdigit(p[i]) ? (unsigned)(p[i] - '0')
                                     : (unsigned)(hexval_loose(p[i]));
        if (v > ((unsigned long)LONG_MAX - d) / base)
            return (uint8_t)((unsigned long)LONG_MAX & 0xff);
        v = v * base + d;
    }
    return (uint8_t)(v & 0xff);
}

static bool
name_is(const uint8_t *p, size_t n, const char *name)
{
    return sk_str_eq_c_nocase(sk_str_make(p, n), name);
}

int
sk__tfn_html_entity_decode(struct sk_arena *a, struct sk_str in,
                           struct sk_str *out, bool *changed)
{
    if (!sk__tfn_slow_only && !tfn_has(in, '&'))
        return tfn_same(in, out, changed);
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        size_t copy = 1; /* bytes copied verbatim when nothing decodes */
        if (p[i] == '&' && i + 1 < n) {
            size_t j = i + 1, k;
            int c = -1;
            if (p[j] == '#') {
                copy = 2;
                if (j + 1 < n) {
                    j++;
                    if (p[j] == 'x' || p[j] == 'X') {
                        copy = 3;
                        if (j + 1 < n) {
                            k = ++j;
                            while (j < n && c_isxdigit(p[j]))
                                j++;
                            if (j > k)
                                c = entity_value(p + k, j - k, 16);
                        }
                    } else {
                        k = j;
                        while (j < n && c_isdigit(p[j]))
                            j++;
                        if (j > k)
                            c = entity_value(p + k, j - k, 10);
                    }
                }
            } else {
                k = j;
                while (j < n && c_isalnum(p[j]))
                    j++;
                if (j > k) {
                    if (name_is(p + k, j - k, "quot"))
                        c = '"';
                    else if (name_is(p + k, j - k, "amp"))
                        c = '&';
                    else if (name_is(p + k, j - k, "lt"))
                        c = '<';
                    else if (name_is(p + k, j - k, "gt"))
                        c = '>';
                    else if (name_is(p + k, j - k, "nbsp"))
                        c = 0xa0;
                    else
                        copy = j - i; /* '&' and the unknown name */
                }
            }
            if (c >= 0) {
                tw_put(&w, (uint8_t)c);
                i = (j < n && p[j] == ';') ? j + 1 : j;
                continue;
            }
        }
        for (size_t z = 0; z < copy && i < n; z++)
            tw_put(&w, p[i++]);
    }
    return tw_finish(&w, out, changed);
}

/* jsDecode, escapeSeqDecode --------------------------------------------- */

/* Number of octal digits at p[0..n), at most `max`. */
static size_t
octal_run(const uint8_t *p, size_t n, size_t max)
{
    size_t j = 0;
    while (j < n && j < max && c_isodigit(p[j]))
        j++;
    return j;
}

static unsigned
octal_value(const uint8_t *p, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 8 + (unsigned)(p[i] - '0');
    return v;
}

/* The control character a C/JavaScript single-letter escape names. */
static int
simple_escape(uint8_t c)
{
    switch (c) {
    case 'a':
        return '\a';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'v':
        return '\v';
    default:
        return -1;
    }
}

int
sk__tfn_js_decode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                  bool *changed)
{
    if (!sk__tfn_slow_only && !tfn_has(in, '\\'))
        return tfn_same(in, out, changed);
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        if (p[i] != '\\') {
            tw_put(&w, p[i++]);
        } else if (i + 5 < n && p[i + 1] == 'u' && c_isxdigit(p[i + 2]) &&
                   c_isxdigit(p[i + 3]) && c_isxdigit(p[i + 4]) &&
                   c_isxdigit(p[i + 5])) {
            tw_put(&w, uni_byte(p + i + 2));
            i += 6;
        } else if (i + 3 < n && p[i + 1] == 'x' && c_isxdigit(p[i + 2]) &&
                   c_isxdigit(p[i + 3])) {
            tw_put(&w, hex2_loose(p + i + 2));
            i += 4;
        } else if (i + 1 < n && c_isodigit(p[i + 1])) {
            size_t j = octal_run(p + i + 1, n - i - 1, 3);
            /* Three digits only while the value fits in a byte. */
            if (j == 3 && p[i + 1] > '3')
                j = 2;
            tw_put(&w, (uint8_t)octal_value(p + i + 1, j));
            i += 1 + j;
        } else if (i + 1 < n) {
            /* \c: a control escape, or the character itself. */
            int c = simple_escape(p[i + 1]);
            tw_put(&w, c >= 0 ? (uint8_t)c : p[i + 1]);
            i += 2;
        } else {
            tw_put(&w, p[i++]); /* a lone trailing backslash stays */
        }
    }
    return tw_finish(&w, out, changed);
}

int
sk__tfn_escape_seq_decode(struct sk_arena *a, struct sk_str in,
                          struct sk_str *out, bool *changed)
{
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        if (p[i] != '\\' || i + 1 >= n) {
            tw_put(&w, p[i++]);
            continue;
        }
        uint8_t e = p[i + 1];
        int c = simple_escape(e);
        if (c < 0 && (e == '\\' || e == '?' || e == '\'' || e == '"'))
            c = e;
        if (c >= 0) {
            i += 2;
        } else if (e == 'x' || e == 'X') {
            if (i + 3 < n && c_isxdigit(p[i + 2]) && c_isxdigit(p[i + 3])) {
                c = hex2_loose(p + i + 2);
                i += 4;
            }
        } else if (c_isodigit(e)) {
            /* Up to three digits; \400 and above keep the low byte. */
            size_t j = octal_run(p + i + 1, n - i - 1, 3);
            c = (int)(octal_value(p + i + 1, j) & 0xff);
            i += 1 + j;
        }
        if (c < 0) {
            /* Unknown escape: the backslash goes, the byte stays. */
            tw_put(&w, e);
            i += 2;
        } else {
            tw_put(&w, (uint8_t)c);
        }
    }
    return tw_finish(&w, out, changed);
}

/* cssDecode -------------------------------------------------------------- */

int
sk__tfn_css_decode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                   bool *changed)
{
    if (!sk__tfn_slow_only && !tfn_has(in, '\\'))
        return tfn_same(in, out, changed);
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        if (p[i] != '\\') {
            tw_put(&w, p[i++]);
            continue;
        }
        if (i + 1 >= n) {
            i++; /* a trailing backslash continues to nothing */
            continue;
        }
        i++;
        size_t j = 0;
        while (j < 6 && i + j < n && c_isxdigit(p[i + j]))
            j++;
        if (j == 0) {
            if (p[i] == '\n')
                i++; /* line continuation */
            else
                tw_put(&w, p[i++]);
            continue;
        }
        /*
         * Only the last two digits count (ModSecurity does not emit
         * UTF-8 here). Four digits, or five/six with leading zeros, get
         * the full-width ASCII check on the two digits before them.
         */
        uint8_t b;
        bool fullcheck = false;
        if (j == 1) {
            b = hexval_loose(p[i]);
        } else {
            b = hex2_loose(p + i + j - 2);
            fullcheck = j == 4 || (j == 5 && p[i] == '0') ||
                        (j == 6 && p[i] == '0' && p[i + 1] == '0');
        }
        if (fullcheck && b > 0x00 && b < 0x5f &&
            (p[i + j - 3] == 'f' || p[i + j - 3] == 'F') &&
            (p[i + j - 4] == 'f' || p[i + j - 4] == 'F'))
            b = (uint8_t)(b + 0x20);
        tw_put(&w, b);
        /* One whitespace byte after a hex escape belongs to it. */
        if (i + j < n && c_isspace(p[i + j]))
            j++;
        i += j;
    }
    return tw_finish(&w, out, changed);
}

/* hexDecode, sqlHexDecode ----------------------------------------------- */

int
sk__tfn_hex_decode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                   bool *changed)
{
    /*
     * Pairs are decoded without validation, and a final odd digit is
     * dropped, as ModSecurity v2 does.
     */
    struct tw w;
    tw_init(&w, a, in, in.len / 2);
    for (size_t i = 0; i + 1 < in.len; i += 2)
        tw_put(&w, hex2_loose(in.p + i));
    return tw_finish(&w, out, changed);
}

int
sk__tfn_sql_hex_decode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                       bool *changed)
{
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    struct tw w;
    tw_init(&w, a, in, n);
    while (i < n) {
        if (i + 3 < n && p[i] == '0' && (p[i + 1] == 'x' || p[i + 1] == 'X') &&
            c_isxdigit(p[i + 2]) && c_isxdigit(p[i + 3])) {
            i += 2;
            do {
                tw_put(&w, hex2_loose(p + i));
                i += 2;
            } while (i + 1 < n && c_isxdigit(p[i]) && c_isxdigit(p[i + 1]));
        } else {
            tw_put(&w, p[i++]);
        }
    }
    return tw_finish(&w, out, changed);
}

/* base64Decode, base64DecodeExt ------------------------------------------ */

/* The 6-bit value of a Base64 alphabet byte, or -1. */
static int
b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
sk__tfn_base64_decode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                      bool *changed)
{
    /*
     * ModSecurity v2 (APR): decode the leading run of alphabet bytes and
     * stop at the first other byte ('=' included); a final group of one
     * symbol carries no whole byte and is ignored.
     */
    struct tw w;
    tw_init(&w, a, in, in.len / 4 * 3 + 3);
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < in.len; i++) {
        int v = b64_value(in.p[i]);
        if (v < 0)
            break;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            tw_put(&w, (uint8_t)(acc >> bits));
            acc &= (1u << bits) - 1;
        }
    }
    return tw_finish(&w, out, changed);
}

int
sk__tfn_base64_decode_ext(struct sk_arena *a, struct sk_str in,
                          struct sk_str *out, bool *changed)
{
    /*
     * ModSecurity v2's forgiving decoder: bytes outside the alphabet are
     * skipped and '=' ends nothing, but a lone '=' (not followed by a
     * second '=') after 4k+1 symbols makes the whole output empty.
     * (ModSecurity v3 also empties the output when the input ends in '='
     * or - comparing the decoded value 61 with '=' - in '9' after 4k+1
     * symbols; v2 never reaches that check, and we follow v2.)
     */
    struct tw w;
    tw_init(&w, a, in, in.len / 4 * 3 + 3);
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t nsym = 0;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        if (c == '=') {
            if ((i + 1 >= in.len || in.p[i + 1] != '=') && nsym % 4 == 1)
                goto empty;
            continue;
        }
        int v = b64_value(c);
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        nsym++;
        if (bits >= 8) {
            bits -= 8;
            tw_put(&w, (uint8_t)(acc >> bits));
            acc &= (1u << bits) - 1;
        }
    }
    return tw_finish(&w, out, changed);
empty:
    if (w.err != 0)
        return w.err;
    *out = sk_str_make(in.p, 0);
    *changed = in.len != 0;
    return 0;
}
