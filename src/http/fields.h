/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/http: the field rules that the request parser (http.c)
 * and the response parser (response.c) share, so that both sides of the
 * proxy refuse exactly the same header sections (RFC 9110 section 5,
 * RFC 9112 section 5): character classes, CRLF line splitting that refuses
 * NUL, bare CR and bare LF, and the header-section scanner with its
 * limits from util/limits.h. Not a public contract; nothing outside
 * src/http includes it.
 */
#ifndef SK_HTTP_FIELDS_H
#define SK_HTTP_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Character classes of a byte: one table lookup instead of a chain of
 * comparisons (fields.c; tests/unit/http checks it against the RFC
 * definitions). */
#define SK__HTTP_C_TCHAR 0x01 /* tchar of RFC 9110 section 5.6.2 */
#define SK__HTTP_C_FIELD 0x02 /* field-vchar / obs-text / SP / HTAB */
extern const uint8_t sk__http_cclass[256];

/* tchar of RFC 9110 section 5.6.2. */
static inline bool
sk__http_is_tchar(uint8_t c)
{
    return (sk__http_cclass[c] & SK__HTTP_C_TCHAR) != 0;
}

/* field-vchar / SP / HTAB: what a field value may hold (obs-text too). */
static inline bool
sk__http_is_field_byte(uint8_t c)
{
    return (sk__http_cclass[c] & SK__HTTP_C_FIELD) != 0;
}

/* The value of a hex digit, or -1. */
static inline int
sk__http_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Finds the end of the line of `in` starting at `off`. Returns 1 with
 * *eol at the CR of the CRLF, 0 when the input ends first (*scanned =
 * bytes looked at), or -1 with *err for NUL, a bare CR or a bare LF.
 * Never blocks.
 */
int sk__http_find_line(struct sk_str in, size_t off, size_t *eol,
                       size_t *scanned, enum sk_http_err *err);

/* What the header scanner learned about the fields that matter. */
struct sk__http_head_scan {
    size_t nfields;
    size_t ncl, nte, nhost;     /* how many of each field */
    struct sk_str cl, te, host; /* the last value of each */
    bool conn_close;            /* a Connection field lists "close" */
    bool conn_keep_alive;       /* a Connection field lists "keep-alive" */
};

/*
 * Scans (and, when `hdrs` is not NULL, records into hdrs[0..nfields)) the
 * header fields of `in` that start at `off`, up to and including the
 * blank line. `hs` must be zeroed by the caller. Applies the field rules
 * (no obs-fold, no whitespace before the colon, token names, field-vchar
 * values) and the limits SK_LIMIT_HEADER_BYTES (counted from `off`) and
 * SK_LIMIT_HEADER_COUNT. Returns 0 with *end past the blank line,
 * SK_AGAIN when the section is not complete yet, or -SK_EPARSE with *err.
 * Views point into `in`. Never blocks, never allocates.
 */
int sk__http_scan_fields(struct sk_str in, size_t off,
                         struct sk__http_head_scan *hs,
                         struct sk_http_header *hdrs, size_t *end,
                         enum sk_http_err *err);

/*
 * Moves a view into [from, from + n) to the same offset from `to` (the
 * bytes copied elsewhere); an empty view without bytes (p NULL) stays.
 * Views outside the range are a caller's bug and are left alone.
 */
static inline void
sk__http_rebase_view(struct sk_str *s, const uint8_t *from, const uint8_t *to,
                     size_t n)
{
    uintptr_t p = (uintptr_t)s->p, f = (uintptr_t)from;
    if (s->p == NULL || p < f || p - f > n)
        return;
    s->p = to + (p - f);
}

#endif
