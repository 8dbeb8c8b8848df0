/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict HTTP/1.1 request parsing (RFC 9110/9112), pure functions over
 * buffers: no I/O, no allocation except from a caller's arena. Ambiguous
 * requests (request smuggling material) are refused with a reason code so
 * that the WAF never sees a different request than the upstream does.
 */
#ifndef SK_HTTP_HTTP_H
#define SK_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/str.h"

/* Why a request was refused; each maps to status 400 (or 413/414/431; 502 for
 * upstream status lines). */
enum sk_http_err {
    SK_HTTP_OK = 0,
    SK_HTTP_E_REQUEST_LINE = 1,     /* malformed request line */
    SK_HTTP_E_METHOD = 2,           /* method is not a token */
    SK_HTTP_E_URI = 3,              /* bad request-target */
    SK_HTTP_E_VERSION = 4,          /* not HTTP/1.0 or HTTP/1.1 */
    SK_HTTP_E_LINE_TOO_LONG = 5,    /* request line over the limit (414) */
    SK_HTTP_E_HEADER_SYNTAX = 6,    /* bad field name or value */
    SK_HTTP_E_HEADER_SPACE = 7,     /* whitespace before the colon */
    SK_HTTP_E_OBS_FOLD = 8,         /* obsolete line folding */
    SK_HTTP_E_BARE_CR = 9,          /* CR not followed by LF, or NUL */
    SK_HTTP_E_HEADERS_TOO_BIG = 10, /* header section over the limit (431) */
    SK_HTTP_E_TOO_MANY_HEADERS = 11,
    SK_HTTP_E_CL_AND_TE = 12, /* both Content-Length and T-E */
    SK_HTTP_E_BAD_CL = 13,    /* bad C-L, or several (even equal) */
    SK_HTTP_E_BAD_TE = 14,    /* T-E other than chunked (400) */
    SK_HTTP_E_CHUNK = 15,     /* bad chunk size, extension or CRLF */
    SK_HTTP_E_HOST = 16,      /* missing (1.1) or several Host */
    SK_HTTP_E_BARE_LF = 17,   /* LF line ending without CR (added) */
    /* Added for response.c: malformed or over-long status line (502). */
    SK_HTTP_E_STATUS_LINE = 18,
};

/*
 * Longest chunk-size line (size, extensions, CRLF) the chunked decoder
 * accepts. Extensions carry nothing we use, and an unbounded line would let
 * a client stream bytes that are never body. Module-local limit (not in
 * util/limits.h, to keep merges apart).
 */
#define SK_HTTP_CHUNK_LINE_MAX 4096

/* A short, static description of an error code, for logs. */
const char *sk_http_strerror(enum sk_http_err e);

/* The status a proxy answers with for an error code (400, 414, ...). */
int sk_http_err_status(enum sk_http_err e);

struct sk_http_header {
    struct sk_str name;  /* as received (case kept) */
    struct sk_str value; /* leading and trailing whitespace removed */
};

enum sk_http_body_kind {
    SK_HTTP_BODY_NONE = 0,
    SK_HTTP_BODY_LENGTH = 1,  /* Content-Length */
    SK_HTTP_BODY_CHUNKED = 2, /* Transfer-Encoding: chunked */
};

struct sk_http_request {
    struct sk_str method;
    struct sk_str target; /* request-target as received */
    struct sk_str path;   /* target before '?' (origin or absolute form) */
    struct sk_str query;  /* after '?', without it; len 0 when absent */
    bool has_query;
    struct sk_str protocol;         /* "HTTP/1.1" */
    unsigned version;               /* 10 or 11 */
    struct sk_str request_line;     /* the whole line without CRLF */
    struct sk_http_header *headers; /* arena array, in received order */
    size_t nheaders;
    enum sk_http_body_kind body_kind;
    uint64_t content_length;
    size_t head_len; /* bytes up to and including the blank line */
};

/*
 * Parses the request head (request line + header section) at the start of
 * `in`. Returns 0 with *req filled (views into `in`, the header array from
 * `a`), SK_AGAIN when `in` does not yet hold the whole head (and is still
 * within limits), or -SK_EPARSE with *err set; -SK_ENOMEM on arena
 * exhaustion. Never blocks. A lenient mode is not offered on purpose.
 * Each call rescans `in` from its start (O(in.len)): to keep a client that
 * trickles bytes from costing quadratic time, call again only when the
 * newly received bytes contain a LF or the buffer has grown past
 * SK_LIMIT_REQUEST_LINE + SK_LIMIT_HEADER_BYTES (a complete head always
 * ends with a LF, and every error is found by then).
 */
int sk_http_parse_head(struct sk_arena *a, struct sk_str in,
                       struct sk_http_request *req, enum sk_http_err *err);

/*
 * After `req` was parsed from `from` (0 returned) and its head_len bytes
 * were copied to `to`: points every view of `req` at the copy, so that it
 * outlives the input buffer without parsing the copy again. The header
 * array (arena) is updated in place. Never blocks, never fails.
 */
void sk_http_request_rebase(struct sk_http_request *req, const uint8_t *from,
                            const uint8_t *to);

/* Incremental chunked-body decoder (caller-owned state, zeroed to start). */
struct sk_http_chunked {
    int state;
    uint64_t remaining;
    size_t line_len;
    bool done;
};

/*
 * Decodes chunked framing from `in`, appending payload bytes through
 * `sink` (called with spans of `in`). Sets *used to the bytes consumed.
 * Returns 0 (need more input unless st->done), or -SK_EPARSE with *err.
 * Trailers are parsed and discarded (with the header rules above).
 */
typedef int (*sk_http_sink_fn)(void *ud, const uint8_t *p, size_t n);
int sk_http_chunked_decode(struct sk_http_chunked *st, struct sk_str in,
                           size_t *used, sk_http_sink_fn sink, void *ud,
                           enum sk_http_err *err);

/* Callback for name/value pairs; a non-zero return stops the parse. */
typedef int (*sk_http_pair_fn)(void *ud, struct sk_str name,
                               struct sk_str value);

/*
 * ModSecurity's URL decoding of argument names and values: `+` becomes a
 * space, `%XX` with two hex digits becomes the byte, an invalid `%`
 * sequence is kept as is. Output from `a`. *invalid (if not NULL) is set
 * when an invalid sequence was seen.
 */
int sk_http_urldecode_arg(struct sk_arena *a, struct sk_str in,
                          struct sk_str *out, bool *invalid);

/*
 * Splits an application/x-www-form-urlencoded string (query or body) on
 * `sep` (SecArgumentSeparator, '&' by default) into decoded pairs, the
 * ModSecurity v3.0.9 way: an element without '=' is a name with an empty
 * value, "=x" has an empty name, "a=b=c" is name "a" value "b=c"; an empty
 * element ("a&&b", "&a") gives a pair with empty name and value (v3 adds
 * it to ARGS), a trailing separator gives nothing. Stops with -SK_ELIMIT
 * after `max_pairs`. A non-zero return of `fn` stops and is returned.
 */
int sk_http_parse_urlencoded(struct sk_arena *a, struct sk_str in, char sep,
                             size_t max_pairs, sk_http_pair_fn fn, void *ud);

/* Added: the same, also setting *invalid for URLENCODED_ERROR. */
int sk_http_parse_urlencoded_ex(struct sk_arena *a, struct sk_str in, char sep,
                                size_t max_pairs, sk_http_pair_fn fn, void *ud,
                                bool *invalid);

/*
 * Splits a Cookie header value into pairs with ModSecurity v3 semantics
 * (separator ';', leading whitespace of names removed, trailing whitespace
 * of the last element removed, a cookie without '=' has an empty value,
 * "a=b=c" is name "a" value "b=c", elements with an empty name are
 * skipped, values are neither trimmed nor decoded). Views point into `in`.
 */
int sk_http_parse_cookies(struct sk_arena *a, struct sk_str in,
                          size_t max_pairs, sk_http_pair_fn fn, void *ud);

#endif
