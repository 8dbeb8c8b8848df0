/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict HTTP/1.1 request head parsing and chunked body decoding
 * (RFC 9110/9112). Anything that two HTTP implementations could read
 * differently (request smuggling material) is refused with a reason code:
 * the WAF must inspect exactly the request the upstream will see. The
 * parser is stateless over the bytes received so far: the caller retries
 * with more bytes after SK_AGAIN, and nothing is allocated until the whole
 * head is present. docs/formats/http-strictness.md lists every refusal.
 */
#include "http/http.h"

#include <string.h>

#include "http/fields.h"
#include "util/error.h"
#include "util/limits.h"

/* Error texts and statuses ---------------------------------------------- */

static const struct {
    const char *msg;
    int status;
} err_tab[] = {
    [SK_HTTP_OK] = {"ok", 200},
    [SK_HTTP_E_REQUEST_LINE] = {"malformed request line", 400},
    [SK_HTTP_E_METHOD] = {"method is not a token", 400},
    [SK_HTTP_E_URI] = {"bad request-target", 400},
    [SK_HTTP_E_VERSION] = {"unsupported HTTP version", 505},
    [SK_HTTP_E_LINE_TOO_LONG] = {"request line too long", 414},
    [SK_HTTP_E_HEADER_SYNTAX] = {"bad header field", 400},
    [SK_HTTP_E_HEADER_SPACE] = {"whitespace before header colon", 400},
    [SK_HTTP_E_OBS_FOLD] = {"obsolete header line folding", 400},
    [SK_HTTP_E_BARE_CR] = {"bare CR or NUL byte", 400},
    [SK_HTTP_E_HEADERS_TOO_BIG] = {"header section too large", 431},
    [SK_HTTP_E_TOO_MANY_HEADERS] = {"too many header fields", 431},
    [SK_HTTP_E_CL_AND_TE] = {"both Content-Length and Transfer-Encoding", 400},
    [SK_HTTP_E_BAD_CL] = {"bad or repeated Content-Length", 400},
    [SK_HTTP_E_BAD_TE] = {"unsupported Transfer-Encoding", 400},
    [SK_HTTP_E_CHUNK] = {"bad chunked framing", 400},
    [SK_HTTP_E_HOST] = {"missing, repeated or invalid Host", 400},
    [SK_HTTP_E_BARE_LF] = {"LF line ending without CR", 400},
    /* Only the response parser reports it: the upstream broke HTTP. */
    [SK_HTTP_E_STATUS_LINE] = {"malformed response status line", 502},
};

/*
 * Returns a static description of `e` ("unknown" for values outside the
 * enum). Never blocks.
 */
const char *
sk_http_strerror(enum sk_http_err e)
{
    if ((unsigned)e >= sizeof(err_tab) / sizeof(err_tab[0]))
        return "unknown HTTP parse error";
    return err_tab[e].msg;
}

/*
 * Returns the HTTP status a proxy answers with for `e` (400 for unknown
 * values). Never blocks.
 */
int
sk_http_err_status(enum sk_http_err e)
{
    if ((unsigned)e >= sizeof(err_tab) / sizeof(err_tab[0]))
        return 400;
    return err_tab[e].status;
}

/* Request line ----------------------------------------------------------- */

static bool
is_scheme(struct sk_str s)
{
    if (s.len == 0 || !((s.p[0] | 0x20) >= 'a' && (s.p[0] | 0x20) <= 'z'))
        return false;
    for (size_t i = 1; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') &&
            !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.')
            return false;
    }
    return true;
}

/*
 * authority-form for CONNECT: host ":" port, where host is a reg-name, an
 * IPv4 address or an IP literal in brackets; no userinfo.
 */
static bool
is_authority_form(struct sk_str t)
{
    size_t colon = t.len;
    for (size_t i = t.len; i > 0; i--) {
        if (t.p[i - 1] == ':') {
            colon = i - 1;
            break;
        }
    }
    if (colon == t.len || colon == 0 || colon + 1 == t.len)
        return false;
    if (t.len - colon - 1 > 5)
        return false;
    for (size_t i = colon + 1; i < t.len; i++)
        if (t.p[i] < '0' || t.p[i] > '9')
            return false;
    if (t.p[0] == '[') {
        if (t.p[colon - 1] != ']' || colon < 3)
            return false;
        for (size_t i = 1; i + 1 < colon; i++) {
            uint8_t c = t.p[i];
            if (sk__http_hexval(c) < 0 && c != ':' && c != '.')
                return false;
        }
        return true;
    }
    for (size_t i = 0; i < colon; i++) {
        uint8_t c = t.p[i];
        bool ok = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                  c == '~' || c == '%' || c == '!' || c == '$' || c == '&' ||
                  c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' ||
                  c == ',' || c == ';' || c == '=';
        if (!ok)
            return false;
    }
    return true;
}

static void
split_target(struct sk_http_request *req)
{
    struct sk_str t = req->target;
    size_t end = t.len;
    req->path = sk_str_make(t.p, end);
    for (size_t i = 0; i < end; i++) {
        if (t.p[i] == '?') {
            req->path = sk_str_make(t.p, i);
            req->has_query = true;
            req->query = sk_str_make(t.p + i + 1, end - i - 1);
            break;
        }
    }
}

static int
parse_request_line(struct sk_str line, struct sk_http_request *req,
                   enum sk_http_err *err)
{
    size_t i = 0;
    while (i < line.len && sk__http_is_tchar(line.p[i]))
        i++;
    if (i == 0) {
        *err = SK_HTTP_E_REQUEST_LINE;
        return -SK_EPARSE;
    }
    if (i == line.len || line.p[i] != ' ') {
        *err = SK_HTTP_E_METHOD;
        return -SK_EPARSE;
    }
    req->method = sk_str_make(line.p, i);
    size_t ts = ++i;
    /* Bytes >= 0x80 are accepted on purpose: the rules must see them. */
    while (i < line.len && line.p[i] > 0x20 && line.p[i] != 0x7f)
        i++;
    if (i == ts) {
        *err = SK_HTTP_E_REQUEST_LINE;
        return -SK_EPARSE;
    }
    if (i == line.len) {
        /* HTTP/0.9 style line without a version. */
        *err = SK_HTTP_E_REQUEST_LINE;
        return -SK_EPARSE;
    }
    if (line.p[i] != ' ') {
        *err = SK_HTTP_E_URI; /* a control byte inside the target */
        return -SK_EPARSE;
    }
    req->target = sk_str_make(line.p + ts, i - ts);
    /* A fragment is not part of a request-target (RFC 9112 section 3.2);
     * clients never send one, so it is refused rather than guessed at. */
    if (memchr(req->target.p, '#', req->target.len) != NULL) {
        *err = SK_HTTP_E_URI;
        return -SK_EPARSE;
    }
    i++;
    struct sk_str proto = sk_str_make(line.p + i, line.len - i);
    req->protocol = proto;
    if (sk_str_eq_c(proto, "HTTP/1.1")) {
        req->version = 11;
    } else if (sk_str_eq_c(proto, "HTTP/1.0")) {
        req->version = 10;
    } else {
        /* A well-formed HTTP/x.y of another major version is 505; HTTP/0.x
         * never existed in this form (0.9 had no version), so it is a
         * malformed request line (400). */
        bool looks = proto.len == 8 && memcmp(proto.p, "HTTP/", 5) == 0 &&
                     proto.p[5] >= '1' && proto.p[5] <= '9' &&
                     proto.p[6] == '.' && proto.p[7] >= '0' &&
                     proto.p[7] <= '9';
        *err = looks ? SK_HTTP_E_VERSION : SK_HTTP_E_REQUEST_LINE;
        return -SK_EPARSE;
    }

    struct sk_str t = req->target;
    bool connect = sk_str_eq_c(req->method, "CONNECT");
    if (connect) {
        if (!is_authority_form(t)) {
            *err = SK_HTTP_E_URI;
            return -SK_EPARSE;
        }
        req->path = t;
        return 0;
    }
    if (t.len == 1 && t.p[0] == '*') {
        if (!sk_str_eq_c(req->method, "OPTIONS")) {
            *err = SK_HTTP_E_URI;
            return -SK_EPARSE;
        }
        req->path = t;
        return 0;
    }
    if (t.p[0] != '/') {
        /* absolute-form: scheme "://" ... */
        long c = sk_str_find(t, SK_STR_LIT("://"));
        if (c <= 0 || !is_scheme(sk_str_make(t.p, (size_t)c))) {
            *err = SK_HTTP_E_URI;
            return -SK_EPARSE;
        }
    }
    split_target(req);
    return 0;
}

/* Header section --------------------------------------------------------- */

/*
 * A Host value must be uri-host [":" port] (RFC 9110 section 7.2) and not
 * empty: a reverse proxy in front of a site always serves an authority.
 * The reg-name may not hold percent-encoding: DNS names never need it, and
 * a decoded NUL or control byte must not reach the upstream's routing.
 */
static bool
valid_host(struct sk_str h)
{
    size_t i = 0;
    if (h.len == 0)
        return false;
    if (h.p[0] == '[') {
        while (i < h.len && h.p[i] != ']') {
            uint8_t c = h.p[i];
            if (i > 0 && !(((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ||
                           (c >= '0' && c <= '9') || c == ':' || c == '.' ||
                           (c | 0x20) == 'v'))
                return false;
            i++;
        }
        if (i == h.len)
            return false;
        i++;
    } else {
        while (i < h.len && h.p[i] != ':') {
            uint8_t c = h.p[i];
            bool ok = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                      c == '_' || c == '~' || c == '!' || c == '$' ||
                      c == '&' || c == '\'' || c == '(' || c == ')' ||
                      c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
            if (!ok)
                return false;
            i++;
        }
        if (i == 0)
            return false;
    }
    if (i == h.len)
        return true;
    if (h.p[i] != ':')
        return false;
    /* An empty port is allowed by the grammar; at most five digits. */
    if (h.len - i - 1 > 5)
        return false;
    for (size_t k = i + 1; k < h.len; k++)
        if (h.p[k] < '0' || h.p[k] > '9')
            return false;
    return true;
}

static int
check_framing(const struct sk__http_head_scan *hs, struct sk_http_request *req,
              enum sk_http_err *err)
{
    if (hs->ncl > 0 && hs->nte > 0) {
        *err = SK_HTTP_E_CL_AND_TE;
        return -SK_EPARSE;
    }
    if (hs->nte > 0) {
        /*
         * Only a single "chunked" is understood; HTTP/1.0 has no
         * Transfer-Encoding (RFC 9112 section 6.1 says to treat the
         * framing as faulty).
         */
        if (hs->nte > 1 || !sk_str_eq_c_nocase(hs->te, "chunked") ||
            req->version == 10) {
            *err = SK_HTTP_E_BAD_TE;
            return -SK_EPARSE;
        }
        req->body_kind = SK_HTTP_BODY_CHUNKED;
    }
    if (hs->ncl > 0) {
        /* Several fields are refused even when equal (no list forms). */
        if (hs->ncl > 1 || hs->cl.len > 19 ||
            sk_str_to_u64(hs->cl, &req->content_length) != 0) {
            *err = SK_HTTP_E_BAD_CL;
            return -SK_EPARSE;
        }
        req->body_kind = SK_HTTP_BODY_LENGTH;
    }
    if (hs->nhost > 1 || (hs->nhost == 0 && req->version == 11) ||
        (hs->nhost == 1 && !valid_host(hs->host))) {
        *err = SK_HTTP_E_HOST;
        return -SK_EPARSE;
    }
    return 0;
}

/*
 * Parses the request head at the start of `in` (see http.h). Views in
 * *req point into `in`; the header array comes from `a` and is allocated
 * only once the whole head has been received. Returns 0, SK_AGAIN,
 * -SK_EPARSE with *err, or -SK_ENOMEM. Never blocks.
 */
int
sk_http_parse_head(struct sk_arena *a, struct sk_str in,
                   struct sk_http_request *req, enum sk_http_err *err)
{
    enum sk_http_err dummy;
    if (err == NULL)
        err = &dummy;
    *err = SK_HTTP_OK;
    memset(req, 0, sizeof(*req));
    if (in.len == 0)
        return SK_AGAIN;
    /* No leading whitespace or empty lines before the method. */
    if (!sk__http_is_tchar(in.p[0])) {
        *err = in.p[0] == '\0' ? SK_HTTP_E_BARE_CR : SK_HTTP_E_REQUEST_LINE;
        return -SK_EPARSE;
    }
    size_t eol = 0, scanned = 0;
    int rc = sk__http_find_line(in, 0, &eol, &scanned, err);
    if (rc < 0)
        return -SK_EPARSE;
    if (rc == 0) {
        if (scanned > SK_LIMIT_REQUEST_LINE) {
            *err = SK_HTTP_E_LINE_TOO_LONG;
            return -SK_EPARSE;
        }
        return SK_AGAIN;
    }
    if (eol > SK_LIMIT_REQUEST_LINE) {
        *err = SK_HTTP_E_LINE_TOO_LONG;
        return -SK_EPARSE;
    }
    req->request_line = sk_str_make(in.p, eol);
    rc = parse_request_line(req->request_line, req, err);
    if (rc != 0)
        return rc;

    /* One pass records the fields on the stack; the arena gets them
     * only once the head is complete and valid. */
    struct sk_http_header fields[SK_LIMIT_HEADER_COUNT];
    struct sk__http_head_scan hs = {0};
    size_t end = 0;
    rc = sk__http_scan_fields(in, eol + 2, &hs, fields, &end, err);
    if (rc != 0)
        return rc;
    rc = check_framing(&hs, req, err);
    if (rc != 0)
        return rc;
    if (hs.nfields > 0) {
        req->headers = sk_arena_alloc(a, hs.nfields * sizeof(fields[0]));
        if (req->headers == NULL)
            return -SK_ENOMEM;
        memcpy(req->headers, fields, hs.nfields * sizeof(fields[0]));
    }
    req->nheaders = hs.nfields;
    req->head_len = end;
    return 0;
}

/*
 * Moves the views of a parsed request to a copy of its head (see
 * http.h). Never blocks.
 */
void
sk_http_request_rebase(struct sk_http_request *req, const uint8_t *from,
                       const uint8_t *to)
{
    size_t n = req->head_len;
    sk__http_rebase_view(&req->method, from, to, n);
    sk__http_rebase_view(&req->target, from, to, n);
    sk__http_rebase_view(&req->path, from, to, n);
    sk__http_rebase_view(&req->query, from, to, n);
    sk__http_rebase_view(&req->protocol, from, to, n);
    sk__http_rebase_view(&req->request_line, from, to, n);
    for (size_t i = 0; i < req->nheaders; i++) {
        sk__http_rebase_view(&req->headers[i].name, from, to, n);
        sk__http_rebase_view(&req->headers[i].value, from, to, n);
    }
}

/* Chunked transfer coding ------------------------------------------------ */

enum chunk_state {
    CH_SIZE_FIRST = 0, /* zeroed state starts here */
    CH_SIZE,           /* more hex digits */
    CH_EXT_PRE,        /* BWS before ';' or CR */
    CH_EXT_NAME_PRE,   /* BWS after ';' */
    CH_EXT_NAME,       /* token */
    CH_EXT_NAME_POST,  /* BWS after the name: '=', ';' or CR */
    CH_EXT_VAL_PRE,    /* BWS after '=' */
    CH_EXT_VAL_TOKEN,  /* token value */
    CH_EXT_VAL_QUOTED, /* quoted-string */
    CH_EXT_VAL_QESC,   /* after a backslash */
    CH_EXT_VAL_POST,   /* BWS after a value: ';' or CR */
    CH_SIZE_LF,        /* CR seen at the end of the size line */
    CH_DATA,           /* `remaining` payload bytes */
    CH_DATA_CR,        /* CRLF after the payload */
    CH_DATA_LF,
    CH_TR_START, /* start of a trailer line (or the final CRLF) */
    CH_TR_NAME,
    CH_TR_VALUE,
    CH_TR_LF,
    CH_END_LF, /* LF of the final CRLF */
    CH_DONE,
};

static int
chunk_fail(struct sk_http_chunked *st, enum sk_http_err *err,
           enum sk_http_err e)
{
    *err = e;
    st->state = -1;
    return -SK_EPARSE;
}

/*
 * Decodes chunked framing incrementally (see http.h). Payload spans of
 * `in` go to `sink`; a non-zero sink result is returned as is. Never
 * blocks. After an error the state stays failed.
 */
int
sk_http_chunked_decode(struct sk_http_chunked *st, struct sk_str in,
                       size_t *used, sk_http_sink_fn sink, void *ud,
                       enum sk_http_err *err)
{
    enum sk_http_err dummy;
    if (err == NULL)
        err = &dummy;
    *err = SK_HTTP_OK;
    *used = 0;
    if (st->state < 0)
        return chunk_fail(st, err, SK_HTTP_E_CHUNK);
    size_t i = 0;
    while (i < in.len && !st->done) {
        uint8_t c = in.p[i];
        enum chunk_state s = (enum chunk_state)st->state;
        if (s == CH_DATA) {
            size_t n = in.len - i;
            if ((uint64_t)n > st->remaining)
                n = (size_t)st->remaining;
            if (sink != NULL) {
                int rc = sink(ud, in.p + i, n);
                if (rc != 0) {
                    *used = i;
                    return rc;
                }
            }
            st->remaining -= n;
            i += n;
            if (st->remaining == 0)
                st->state = CH_DATA_CR;
            continue;
        }
        /* Every non-data byte counts against its line's bound. */
        if (s < CH_DATA) {
            if (++st->line_len > SK_HTTP_CHUNK_LINE_MAX)
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
        } else if (s >= CH_TR_START && s <= CH_END_LF) {
            /* In the trailer section `remaining` counts its bytes. */
            if (++st->remaining > SK_LIMIT_HEADER_BYTES)
                return chunk_fail(st, err, SK_HTTP_E_HEADERS_TOO_BIG);
        }
        if (c == '\0')
            return chunk_fail(st, err,
                              s >= CH_TR_START ? SK_HTTP_E_BARE_CR
                                               : SK_HTTP_E_CHUNK);
        i++;
        switch (s) {
        case CH_SIZE_FIRST:
        case CH_SIZE: {
            int h = sk__http_hexval(c);
            if (h >= 0) {
                if (st->remaining > (UINT64_MAX >> 4))
                    return chunk_fail(st, err, SK_HTTP_E_CHUNK);
                st->remaining = (st->remaining << 4) | (uint64_t)h;
                st->state = CH_SIZE;
                break;
            }
            if (s == CH_SIZE_FIRST)
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            if (c == '\r')
                st->state = CH_SIZE_LF;
            else if (c == ';')
                st->state = CH_EXT_NAME_PRE;
            else if (c == ' ' || c == '\t')
                st->state = CH_EXT_PRE;
            else
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            break;
        }
        case CH_EXT_PRE:
            if (c == ';')
                st->state = CH_EXT_NAME_PRE;
            else if (c != ' ' && c != '\t')
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            break;
        case CH_EXT_NAME_PRE:
            if (sk__http_is_tchar(c))
                st->state = CH_EXT_NAME;
            else if (c != ' ' && c != '\t')
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            break;
        case CH_EXT_NAME:
        case CH_EXT_NAME_POST:
            if (s == CH_EXT_NAME && sk__http_is_tchar(c))
                break;
            if (c == '=')
                st->state = CH_EXT_VAL_PRE;
            else if (c == ';')
                st->state = CH_EXT_NAME_PRE;
            else if (c == '\r')
                st->state = CH_SIZE_LF;
            else if (c == ' ' || c == '\t')
                st->state = CH_EXT_NAME_POST;
            else
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            break;
        case CH_EXT_VAL_PRE:
            if (c == '"')
                st->state = CH_EXT_VAL_QUOTED;
            else if (sk__http_is_tchar(c))
                st->state = CH_EXT_VAL_TOKEN;
            else if (c != ' ' && c != '\t')
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            break;
        case CH_EXT_VAL_TOKEN:
        case CH_EXT_VAL_POST:
            if (s == CH_EXT_VAL_TOKEN && sk__http_is_tchar(c))
                break;
            if (c == ';')
                st->state = CH_EXT_NAME_PRE;
            else if (c == '\r')
                st->state = CH_SIZE_LF;
            else if (c == ' ' || c == '\t')
                st->state = CH_EXT_VAL_POST;
            else
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            break;
        case CH_EXT_VAL_QUOTED:
            /* qdtext: HTAB / SP / VCHAR except '"' and '\' / obs-text */
            if (c == '"')
                st->state = CH_EXT_VAL_POST;
            else if (c == '\\')
                st->state = CH_EXT_VAL_QESC;
            else if (!sk__http_is_field_byte(c))
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            break;
        case CH_EXT_VAL_QESC:
            if (!sk__http_is_field_byte(c))
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            st->state = CH_EXT_VAL_QUOTED;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            st->line_len = 0;
            if (st->remaining == 0) {
                st->state = CH_TR_START; /* last-chunk */
            } else {
                st->state = CH_DATA;
            }
            break;
        case CH_DATA_CR:
            if (c != '\r')
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            st->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                return chunk_fail(st, err, SK_HTTP_E_CHUNK);
            st->state = CH_SIZE_FIRST;
            st->remaining = 0;
            break;
        case CH_TR_START:
            if (c == '\r')
                st->state = CH_END_LF;
            else if (c == ' ' || c == '\t')
                return chunk_fail(st, err, SK_HTTP_E_OBS_FOLD);
            else if (sk__http_is_tchar(c))
                st->state = CH_TR_NAME;
            else if (c == '\n')
                return chunk_fail(st, err, SK_HTTP_E_BARE_LF);
            else
                return chunk_fail(st, err, SK_HTTP_E_HEADER_SYNTAX);
            break;
        case CH_TR_NAME:
            if (c == ':')
                st->state = CH_TR_VALUE;
            else if (c == ' ' || c == '\t')
                return chunk_fail(st, err, SK_HTTP_E_HEADER_SPACE);
            else if (c == '\r' || c == '\n')
                return chunk_fail(st, err, SK_HTTP_E_HEADER_SYNTAX);
            else if (!sk__http_is_tchar(c))
                return chunk_fail(st, err, SK_HTTP_E_HEADER_SYNTAX);
            break;
        case CH_TR_VALUE:
            if (c == '\r')
                st->state = CH_TR_LF;
            else if (c == '\n')
                return chunk_fail(st, err, SK_HTTP_E_BARE_LF);
            else if (!sk__http_is_field_byte(c))
                return chunk_fail(st, err, SK_HTTP_E_HEADER_SYNTAX);
            break;
        case CH_TR_LF:
            if (c != '\n')
                return chunk_fail(st, err, SK_HTTP_E_BARE_CR);
            st->state = CH_TR_START;
            break;
        case CH_END_LF:
            if (c != '\n')
                return chunk_fail(st, err, SK_HTTP_E_BARE_CR);
            st->state = CH_DONE;
            st->done = true;
            break;
        case CH_DATA:
        case CH_DONE:
        default:
            return chunk_fail(st, err, SK_HTTP_E_CHUNK);
        }
    }
    *used = i;
    return 0;
}
