/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte transformations the ftw 1.3.0 runner applies while it builds a
 * request, rewritten from their documented Python semantics: the form
 * re-encoding of `data` (urllib.parse.parse_qsl then urlencode), the
 * decoding of `raw_request` (bytes.decode('unicode_escape') followed by a
 * UTF-8 encode) and of `encoded_request` (base64.b64decode). See
 * docs/crs-test.md for each rule and the tests that depend on it.
 */
#include "crstest/ftw.h"

#include <string.h>

#include "util/error.h"

static int
check_room(const struct sk_buf *out, size_t more)
{
    if (more > SK_FTW_MAX_REQUEST_BYTES ||
        out->len > SK_FTW_MAX_REQUEST_BYTES - more) {
        return -SK_ELIMIT;
    }
    return 0;
}

/* urllib's quote_plus with safe='': the unreserved set stays. */
static int
quote_plus(const uint8_t *p, size_t len, struct sk_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = check_room(out, 3 * len);
    for (size_t i = 0; rc == 0 && i < len; i++) {
        uint8_t c = p[i];
        if (c == '+') {
            c = ' '; /* parse_qsl read '+' as a space */
        }
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
            c == '~') {
            rc = sk_buf_putc(out, c);
        } else if (c == ' ') {
            rc = sk_buf_putc(out, '+');
        } else {
            uint8_t e[3] = {'%', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            rc = sk_buf_append(out, e, 3);
        }
    }
    return rc;
}

int
sk_ftw_form_reencode(const uint8_t *p, size_t len, struct sk_buf *out,
                     size_t *kept)
{
    struct sk_buf tmp = {0};
    size_t n = 0;
    int rc = 0;
    size_t start = 0;
    *kept = 0;
    while (rc == 0 && start <= len) {
        const uint8_t *amp = memchr(p + start, '&', len - start);
        size_t end = amp ? (size_t)(amp - p) : len;
        const uint8_t *f = p + start;
        size_t flen = end - start;
        const uint8_t *eq = flen ? memchr(f, '=', flen) : NULL;
        /* No '=': dropped; empty value: dropped (keep_blank_values off). */
        if (eq != NULL && (size_t)(eq - f) + 1 < flen) {
            size_t nlen = (size_t)(eq - f);
            if (n > 0) {
                rc = sk_buf_putc(&tmp, '&');
            }
            if (rc == 0) {
                rc = quote_plus(f, nlen, &tmp);
            }
            if (rc == 0) {
                rc = sk_buf_putc(&tmp, '=');
            }
            if (rc == 0) {
                rc = quote_plus(eq + 1, flen - nlen - 1, &tmp);
            }
            n++;
        }
        if (amp == NULL) {
            break;
        }
        start = end + 1;
    }
    if (rc == 0 && n > 0) {
        rc = check_room(out, tmp.len);
        if (rc == 0) {
            rc = sk_buf_append(out, tmp.p, tmp.len);
        }
    }
    if (rc == 0) {
        *kept = n;
    }
    sk_buf_fini(&tmp);
    return rc;
}

/* Appends code point `cp` as UTF-8 (Python's strict encoder). */
static int
put_utf8(struct sk_buf *out, uint32_t cp, const char **why)
{
    uint8_t b[4];
    size_t n;
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        *why = "a surrogate cannot be encoded as UTF-8";
        return -SK_EPARSE;
    }
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    int rc = check_room(out, n);
    return rc == 0 ? sk_buf_append(out, b, n) : rc;
}

static int
hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int
sk_ftw_unicode_unescape(const uint8_t *p, size_t len, struct sk_buf *out,
                        const char **why)
{
    const char *dummy;
    if (why == NULL) {
        why = &dummy;
    }
    int rc = 0;
    size_t i = 0;
    while (rc == 0 && i < len) {
        uint8_t c = p[i++];
        if (c != '\\') {
            /* unicode_escape reads every other byte as Latin-1. */
            rc = put_utf8(out, c, why);
            continue;
        }
        if (i >= len) {
            *why = "\\ at end of string";
            return -SK_EPARSE;
        }
        c = p[i++];
        uint32_t cp;
        switch (c) {
        case '\n':
            continue; /* an escaped newline is dropped */
        case '\\':
        case '\'':
        case '"':
            cp = c;
            break;
        case 'a':
            cp = 7;
            break;
        case 'b':
            cp = 8;
            break;
        case 'f':
            cp = 12;
            break;
        case 'n':
            cp = 10;
            break;
        case 'r':
            cp = 13;
            break;
        case 't':
            cp = 9;
            break;
        case 'v':
            cp = 11;
            break;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
            cp = (uint32_t)(c - '0');
            for (int k = 0; k < 2 && i < len && p[i] >= '0' && p[i] <= '7';
                 k++) {
                cp = cp * 8 + (uint32_t)(p[i++] - '0');
            }
            break;
        case 'x':
        case 'u':
        case 'U': {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = i < len ? hexval(p[i]) : -1;
                if (h < 0) {
                    *why = c == 'x'   ? "truncated \\xXX escape"
                           : c == 'u' ? "truncated \\uXXXX escape"
                                      : "truncated \\UXXXXXXXX escape";
                    return -SK_EPARSE;
                }
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (cp > 0x10FFFF) {
                *why = "\\U escape beyond U+10FFFF";
                return -SK_EPARSE;
            }
            break;
        }
        case 'N':
            *why = "\\N{name} escapes are not supported";
            return -SK_ENOTSUP;
        default:
            /* Unknown escapes stay as they are, backslash included. */
            rc = put_utf8(out, '\\', why);
            cp = c;
            break;
        }
        if (rc == 0) {
            rc = put_utf8(out, cp, why);
        }
    }
    return rc;
}

static int
b64val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

int
sk_ftw_b64decode(const uint8_t *p, size_t len, struct sk_buf *out,
                 const char **why)
{
    const char *dummy;
    if (why == NULL) {
        why = &dummy;
    }
    int rc = check_room(out, len / 4 * 3 + 3);
    if (rc != 0) {
        return rc;
    }
    unsigned quad = 0;
    unsigned pads = 0;
    uint32_t acc = 0;
    bool ended = false;
    for (size_t i = 0; i < len && rc == 0 && !ended; i++) {
        uint8_t c = p[i];
        if (c >= 0x80) {
            *why = "base64 text must be ASCII";
            return -SK_EPARSE;
        }
        if (c == '=') {
            /* Enough padding after two or three symbols ends the data. */
            if (quad >= 2 && quad + ++pads >= 4) {
                ended = true;
            }
            continue;
        }
        int v = b64val(c);
        if (v < 0) {
            continue; /* non-alphabet bytes are skipped */
        }
        pads = 0;
        acc = (acc << 6) | (uint32_t)v;
        if (++quad == 4) {
            uint8_t b[3] = {(uint8_t)(acc >> 16), (uint8_t)(acc >> 8),
                            (uint8_t)acc};
            rc = sk_buf_append(out, b, 3);
            quad = 0;
            acc = 0;
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (quad == 1) {
        *why = "base64 with one symbol more than a multiple of 4";
        return -SK_EPARSE;
    }
    if (quad != 0 && !ended) {
        *why = "incorrect base64 padding";
        return -SK_EPARSE;
    }
    if (quad == 2) {
        uint8_t b = (uint8_t)(acc >> 4);
        rc = sk_buf_append(out, &b, 1);
    } else if (quad == 3) {
        uint8_t b[2] = {(uint8_t)(acc >> 10), (uint8_t)(acc >> 2)};
        rc = sk_buf_append(out, b, 2);
    }
    return rc;
}
