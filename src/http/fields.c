/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The header-section rules shared by the request parser (http.c) and the
 * response parser (response.c); see fields.h. Keeping one copy means the
 * proxy cannot read a field differently on its client and upstream sides.
 */
#include "http/fields.h"

#include <string.h>

#include "util/error.h"
#include "util/limits.h"

/* Bit 0: tchar; bit 1: a byte a field value may hold (fields.h). */
const uint8_t sk__http_cclass[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2, /* 0x20 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, /* 0x30 */
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x40 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3, /* 0x50 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x60 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xa0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xb0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xf0 */
};

/*
 * Finds the end of the line starting at `off` (see fields.h). Never
 * blocks.
 */
int
sk__http_find_line(struct sk_str in, size_t off, size_t *eol, size_t *scanned,
                   enum sk_http_err *err)
{
    if (off >= in.len) {
        *scanned = 0;
        return 0;
    }
    /* memchr() looks at many bytes per step: find the LF, then the first
     * CR and NUL before it; the first of the three decides, exactly as a
     * byte-by-byte scan would. */
    const uint8_t *p = in.p + off;
    size_t n = in.len - off;
    const uint8_t *lf = memchr(p, '\n', n);
    size_t seg = lf != NULL ? (size_t)(lf - p) : n;
    const uint8_t *cr = memchr(p, '\r', seg);
    const uint8_t *nul = memchr(p, '\0', cr != NULL ? (size_t)(cr - p) : seg);
    if (nul != NULL) {
        *err = SK_HTTP_E_BARE_CR;
        return -1;
    }
    if (cr != NULL) {
        size_t i = (size_t)(cr - p);
        if (i + 1 == n) {
            *scanned = i;
            return 0;
        }
        if (cr[1] != '\n') {
            *err = SK_HTTP_E_BARE_CR;
            return -1;
        }
        *eol = off + i;
        return 1;
    }
    if (lf != NULL) {
        *err = SK_HTTP_E_BARE_LF;
        return -1;
    }
    *scanned = n;
    return 0;
}

/*
 * Whether every byte of p[0..n) may be in a field value. Eight bytes at
 * a time: a word without a byte below 0x20 and without 0x7f holds only
 * field bytes (0x80 and up are obs-text); a word with one (a tab, or a
 * byte to refuse) and the tail go byte by byte. Both word tests are exact
 * about whether some byte matches, which is all that is asked of them.
 */
static bool
value_bytes_ok(const uint8_t *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        uint64_t y = x ^ (ones * 0x7f);
        uint64_t below_sp = (x - ones * 0x20) & ~x & highs;
        uint64_t del = (y - ones) & ~y & highs;
        if ((below_sp | del) != 0)
            break;
    }
    for (; i < n; i++)
        if (!sk__http_is_field_byte(p[i]))
            return false;
    return true;
}

static int
parse_field(struct sk_str line, struct sk_http_header *h, enum sk_http_err *err)
{
    if (line.p[0] == ' ' || line.p[0] == '\t') {
        *err = SK_HTTP_E_OBS_FOLD;
        return -SK_EPARSE;
    }
    size_t i = 0;
    while (i < line.len && sk__http_is_tchar(line.p[i]))
        i++;
    if (i == line.len) {
        *err = SK_HTTP_E_HEADER_SYNTAX; /* no colon */
        return -SK_EPARSE;
    }
    if (line.p[i] == ' ' || line.p[i] == '\t') {
        *err = SK_HTTP_E_HEADER_SPACE;
        return -SK_EPARSE;
    }
    if (line.p[i] != ':' || i == 0) {
        *err = SK_HTTP_E_HEADER_SYNTAX;
        return -SK_EPARSE;
    }
    h->name = sk_str_make(line.p, i);
    size_t vs = i + 1, ve = line.len;
    if (!value_bytes_ok(line.p + vs, ve - vs)) {
        *err = SK_HTTP_E_HEADER_SYNTAX;
        return -SK_EPARSE;
    }
    while (vs < ve && (line.p[vs] == ' ' || line.p[vs] == '\t'))
        vs++;
    while (ve > vs && (line.p[ve - 1] == ' ' || line.p[ve - 1] == '\t'))
        ve--;
    h->value = sk_str_make(line.p + vs, ve - vs);
    return 0;
}

/*
 * Notes the connection options "close" and "keep-alive" of one Connection
 * field value (a comma-separated list of tokens with optional whitespace,
 * RFC 9110 section 7.6.1). Other options are left to the caller, which
 * sees every field.
 */
static void
scan_connection(struct sk_str v, struct sk__http_head_scan *hs)
{
    size_t i = 0;
    while (i < v.len) {
        size_t s = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        size_t e = i;
        while (s < e && (v.p[s] == ' ' || v.p[s] == '\t'))
            s++;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        struct sk_str tok = sk_str_make(v.p + s, e - s);
        if (sk_str_eq_nocase(tok, SK_STR_LIT("close")))
            hs->conn_close = true;
        else if (sk_str_eq_nocase(tok, SK_STR_LIT("keep-alive")))
            hs->conn_keep_alive = true;
        i++; /* past the comma */
    }
}

/*
 * Scans the header section at `off` (see fields.h). Returns 0, SK_AGAIN
 * or -SK_EPARSE with *err. Never blocks.
 */
int
sk__http_scan_fields(struct sk_str in, size_t off,
                     struct sk__http_head_scan *hs, struct sk_http_header *hdrs,
                     size_t *end, enum sk_http_err *err)
{
    size_t start = off;
    hs->nfields = 0;
    for (;;) {
        size_t eol = 0, scanned = 0;
        int rc = sk__http_find_line(in, off, &eol, &scanned, err);
        if (rc < 0)
            return -SK_EPARSE;
        if (rc == 0) {
            if (off + scanned - start >= SK_LIMIT_HEADER_BYTES) {
                *err = SK_HTTP_E_HEADERS_TOO_BIG;
                return -SK_EPARSE;
            }
            /* Fields start with a token byte: refuse junk early. */
            if (scanned > 0 && (in.p[off] == ' ' || in.p[off] == '\t')) {
                *err = SK_HTTP_E_OBS_FOLD;
                return -SK_EPARSE;
            }
            return SK_AGAIN;
        }
        if (eol + 2 - start > SK_LIMIT_HEADER_BYTES) {
            *err = SK_HTTP_E_HEADERS_TOO_BIG;
            return -SK_EPARSE;
        }
        if (eol == off) {
            *end = eol + 2;
            return 0;
        }
        if (hs->nfields == SK_LIMIT_HEADER_COUNT) {
            *err = SK_HTTP_E_TOO_MANY_HEADERS;
            return -SK_EPARSE;
        }
        struct sk_http_header h;
        if (parse_field(sk_str_make(in.p + off, eol - off), &h, err) != 0)
            return -SK_EPARSE;
        /* The length picks the one name a field can be. */
        switch (h.name.len) {
        case 14:
            if (sk_str_eq_nocase(h.name, SK_STR_LIT("content-length"))) {
                hs->ncl++;
                hs->cl = h.value;
            }
            break;
        case 17:
            if (sk_str_eq_nocase(h.name, SK_STR_LIT("transfer-encoding"))) {
                hs->nte++;
                hs->te = h.value;
            }
            break;
        case 4:
            if (sk_str_eq_nocase(h.name, SK_STR_LIT("host"))) {
                hs->nhost++;
                hs->host = h.value;
            }
            break;
        case 10:
            if (sk_str_eq_nocase(h.name, SK_STR_LIT("connection")))
                scan_connection(h.value, hs);
            break;
        default:
            break;
        }
        if (hdrs != NULL)
            hdrs[hs->nfields] = h;
        hs->nfields++;
        off = eol + 2;
    }
}
