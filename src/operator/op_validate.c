/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The validation operators: @validateByteRange (its range list parser and
 * the byte check), @validateUrlEncoding and @validateUtf8Encoding. Each
 * "matches" when the input is NOT valid, as in ModSecurity.
 */
#include "operator/op_internal.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

/* Parses one decimal byte value "0".."255" from s[i..end). */
static bool
parse_byte(const char *s, size_t i, size_t end, unsigned *out)
{
    unsigned v = 0;
    if (i == end || end - i > 3)
        return false;
    for (; i < end; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 255)
        return false;
    *out = v;
    return true;
}

/* Trims spaces and tabs around s[*b..*e). */
static void
trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && (s[*b] == ' ' || s[*b] == '\t'))
        (*b)++;
    while (*e > *b && (s[*e - 1] == ' ' || s[*e - 1] == '\t'))
        (*e)--;
}

/*
 * Parses a @validateByteRange list ("9,10,13,32-126") into a bitmap of
 * allowed bytes. Items are separated by commas and may have spaces or
 * tabs around them; each is a value or "low-high" with 0 <= low <= high
 * <= 255. Unlike v3, which ignores a bad item (or reads "32x" as 32), any
 * bad item is an error described in `err`. Returns 0 or -SK_EPARSE.
 */
int
sk__byterange_parse(const char *spec, uint8_t bitmap[32], char *err,
                    size_t errlen)
{
    memset(bitmap, 0, 32);
    size_t n = strlen(spec), start = 0;
    for (;;) {
        size_t end = start;
        while (end < n && spec[end] != ',')
            end++;
        size_t b = start, e = end;
        trim(spec, &b, &e);
        size_t dash = b;
        while (dash < e && spec[dash] != '-')
            dash++;
        unsigned lo, hi;
        bool ok;
        if (dash == e) {
            ok = parse_byte(spec, b, e, &lo);
            hi = lo;
        } else {
            size_t le = dash, hb = dash + 1;
            trim(spec, &b, &le);
            trim(spec, &hb, &e);
            ok = parse_byte(spec, b, le, &lo) && parse_byte(spec, hb, e, &hi);
        }
        if (!ok || lo > hi) {
            int shown = (int)(end - start > 40 ? 40 : end - start);
            if (b == e)
                snprintf(err, errlen, "empty item in range list \"%.60s\"",
                         spec);
            else if (ok)
                snprintf(err, errlen, "range \"%.*s\" runs backwards", shown,
                         spec + start);
            else
                snprintf(err, errlen,
                         "\"%.*s\" is not a byte value (0-255) or a range "
                         "of them (low-high)",
                         shown, spec + start);
            return -SK_EPARSE;
        }
        for (unsigned v = lo; v <= hi; v++)
            bitmap[v >> 3] |= (uint8_t)(1u << (v & 7));
        if (end == n)
            break;
        start = end + 1;
    }
    return 0;
}

/* True when `input` holds a byte the bitmap does not allow. */
bool
sk__byterange_match(const uint8_t bitmap[32], struct sk_str input)
{
    for (size_t i = 0; i < input.len; i++) {
        uint8_t c = input.p[i];
        if (!(bitmap[c >> 3] & (1u << (c & 7))))
            return true;
    }
    return false;
}

static bool
is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/*
 * True when `input` holds a '%' not followed by two hex digits (including
 * a '%' too close to the end). An empty input is valid, as in v3.
 */
bool
sk__url_encoding_invalid(struct sk_str input)
{
    for (size_t i = 0; i < input.len; i++) {
        if (input.p[i] != '%')
            continue;
        if (input.len - i < 3 || !is_hex(input.p[i + 1]) ||
            !is_hex(input.p[i + 2]))
            return true;
        i += 2;
    }
    return false;
}

/*
 * True when `input` is not well-formed UTF-8: a stray continuation byte,
 * a lead byte 0xF8..0xFF, a sequence cut short (also at the end), a
 * missing continuation byte, an overlong form (0xC0 0xAF...), a UTF-16
 * surrogate (U+D800..U+DFFF) or a code point above U+10FFFF. v3 misses
 * the last case for lead byte 0xF4 (0xF4 0x90.. passes there); we flag it
 * as RFC 3629 requires.
 */
bool
sk__utf8_invalid(struct sk_str input)
{
    const uint8_t *p = input.p;
    size_t n = input.len, i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return true; /* continuation byte or 0xF8..0xFF */
        }
        if (n - i < len)
            return true;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return true;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return true;
        i += len;
    }
    return false;
}
