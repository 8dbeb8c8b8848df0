/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict HTTP/1.1 response head parsing (RFC 9112 sections 4 to 6) for
 * the proxy's upstream side. The header section goes through the same
 * scanner as requests (fields.h), so that the proxy refuses the same
 * ambiguities whichever way a message travels: an upstream that answers
 * with both Content-Length and Transfer-Encoding, several lengths, a
 * transfer coding we cannot remove, obs-fold, bare CR/LF or NUL could
 * make the proxy and the client disagree on where a response ends
 * (response splitting, cache poisoning), so the proxy answers 502
 * instead. Like the request parser it is stateless over the bytes
 * received so far and allocates only once the whole head is present.
 */
#include "http/response.h"

#include <string.h>

#include "http/fields.h"
#include "util/error.h"
#include "util/limits.h"

static int
fail(enum sk_http_err *err, enum sk_http_err e)
{
    *err = e;
    return -SK_EPARSE;
}

/*
 * Checks the first `n` bytes of an incomplete status line against the
 * fixed part "HTTP/d.d SP 3DIGIT SP", so that an upstream that does not
 * speak HTTP is refused at once rather than after the length limit.
 */
static bool
status_prefix_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n && i < 13; i++) {
        uint8_t c = p[i];
        bool ok;
        if (i < 5)
            ok = c == (uint8_t) "HTTP/"[i];
        else if (i == 6)
            ok = c == '.';
        else if (i == 8 || i == 12)
            ok = c == ' ';
        else
            ok = c >= '0' && c <= '9';
        if (!ok)
            return false;
    }
    return true;
}

/*
 * status-line = HTTP-version SP status-code SP [ reason-phrase ]
 * (RFC 9112 section 4). The one leniency: a line that ends right after
 * the status code ("HTTP/1.1 200") is read as an empty reason, since some
 * servers omit the second SP and nothing else can be meant by it.
 */
static int
parse_status_line(struct sk_str line, struct sk_http_response *resp,
                  enum sk_http_err *err)
{
    const uint8_t *p = line.p;
    if (line.len < 12 || memcmp(p, "HTTP/", 5) != 0)
        return fail(err, SK_HTTP_E_STATUS_LINE);
    if (p[5] < '0' || p[5] > '9' || p[6] != '.' || p[7] < '0' || p[7] > '9')
        return fail(err, SK_HTTP_E_STATUS_LINE);
    resp->protocol = sk_str_make(p, 8);
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return fail(err, SK_HTTP_E_VERSION);
    resp->version = p[7] == '1' ? 11 : 10;
    if (p[8] != ' ')
        return fail(err, SK_HTTP_E_STATUS_LINE);
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return fail(err, SK_HTTP_E_STATUS_LINE);
        status = status * 10 + (p[i] - '0');
    }
    /* RFC 9110 section 15: status codes are 100 to 599. */
    if (status < 100 || status > 599)
        return fail(err, SK_HTTP_E_STATUS_LINE);
    resp->status = status;
    if (line.len == 12) {
        resp->reason = sk_str_make(p + 12, 0);
        return 0;
    }
    if (p[12] != ' ')
        return fail(err, SK_HTTP_E_STATUS_LINE);
    /* reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) */
    for (size_t i = 13; i < line.len; i++)
        if (!sk__http_is_field_byte(p[i]))
            return fail(err, SK_HTTP_E_STATUS_LINE);
    resp->reason = sk_str_make(p + 13, line.len - 13);
    return 0;
}

/*
 * Body framing of RFC 9112 section 6.3, after the ambiguity checks that
 * apply whatever the status (a response that carries a contradictory
 * framing is refused even when it has no body: the upstream is confused).
 */
static int
check_framing(const struct sk__http_head_scan *hs, bool head_request,
              struct sk_http_response *resp, enum sk_http_err *err)
{
    if (hs->ncl > 0 && hs->nte > 0)
        return fail(err, SK_HTTP_E_CL_AND_TE);
    if (hs->nte > 0) {
        /* Only a single "chunked" can be removed; HTTP/1.0 has no
         * Transfer-Encoding and RFC 9112 section 6.1 calls its framing
         * faulty. */
        if (hs->nte > 1 || !sk_str_eq_c_nocase(hs->te, "chunked") ||
            resp->version == 10)
            return fail(err, SK_HTTP_E_BAD_TE);
    }
    uint64_t cl = 0;
    if (hs->ncl > 0) {
        /* Several fields or a list are refused even when equal. */
        if (hs->ncl > 1 || hs->cl.len > 19 || sk_str_to_u64(hs->cl, &cl) != 0)
            return fail(err, SK_HTTP_E_BAD_CL);
    }
    int st = resp->status;
    if (head_request || st < 200 || st == 204 || st == 304) {
        resp->body_kind = SK_HTTP_RESP_NONE;
    } else if (hs->nte > 0) {
        resp->body_kind = SK_HTTP_RESP_CHUNKED;
    } else if (hs->ncl > 0) {
        resp->body_kind = SK_HTTP_RESP_LENGTH;
        resp->content_length = cl;
    } else {
        resp->body_kind = SK_HTTP_RESP_EOF;
    }

    if (resp->version == 11)
        resp->keep_alive = !hs->conn_close;
    else
        resp->keep_alive = hs->conn_keep_alive && !hs->conn_close;
    /* The close delimits an EOF body; 101 hands the connection over. */
    if (resp->body_kind == SK_HTTP_RESP_EOF || st == 101)
        resp->keep_alive = false;
    return 0;
}

/*
 * Parses a response head at the start of `in` (see response.h). Views in
 * *resp point into `in`; the header array comes from `a`, allocated only
 * once the whole head is present. Returns 0, SK_AGAIN, -SK_EPARSE with
 * *err, or -SK_ENOMEM. Never blocks. Like sk_http_parse_head() each call
 * rescans from the start: call again only when the new bytes hold a LF or
 * the buffer grew past SK_LIMIT_REQUEST_LINE + SK_LIMIT_HEADER_BYTES.
 */
int
sk_http_parse_response_head(struct sk_arena *a, struct sk_str in,
                            bool head_request, struct sk_http_response *resp,
                            enum sk_http_err *err)
{
    enum sk_http_err dummy;
    if (err == NULL)
        err = &dummy;
    *err = SK_HTTP_OK;
    memset(resp, 0, sizeof(*resp));
    if (in.len == 0)
        return SK_AGAIN;
    size_t eol = 0, scanned = 0;
    int rc = sk__http_find_line(in, 0, &eol, &scanned, err);
    if (rc < 0) {
        /* Junk before the line end is the better diagnosis. */
        size_t upto = 0;
        while (upto < in.len && in.p[upto] != '\r' && in.p[upto] != '\n' &&
               in.p[upto] != '\0')
            upto++;
        if (!status_prefix_ok(in.p, upto))
            *err = SK_HTTP_E_STATUS_LINE;
        return -SK_EPARSE;
    }
    if (rc == 0) {
        if (!status_prefix_ok(in.p, scanned) || scanned > SK_LIMIT_REQUEST_LINE)
            return fail(err, SK_HTTP_E_STATUS_LINE);
        return SK_AGAIN;
    }
    if (eol > SK_LIMIT_REQUEST_LINE)
        return fail(err, SK_HTTP_E_STATUS_LINE);
    rc = parse_status_line(sk_str_make(in.p, eol), resp, err);
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
    rc = check_framing(&hs, head_request, resp, err);
    if (rc != 0)
        return rc;
    if (hs.nfields > 0) {
        resp->headers = sk_arena_alloc(a, hs.nfields * sizeof(fields[0]));
        if (resp->headers == NULL)
            return -SK_ENOMEM;
        memcpy(resp->headers, fields, hs.nfields * sizeof(fields[0]));
    }
    resp->nheaders = hs.nfields;
    resp->head_len = end;
    return 0;
}

/*
 * Moves the views of a parsed response to a copy of its head (see
 * response.h). Never blocks.
 */
void
sk_http_response_rebase(struct sk_http_response *resp, const uint8_t *from,
                        const uint8_t *to)
{
    size_t n = resp->head_len;
    sk__http_rebase_view(&resp->reason, from, to, n);
    sk__http_rebase_view(&resp->protocol, from, to, n);
    for (size_t i = 0; i < resp->nheaders; i++) {
        sk__http_rebase_view(&resp->headers[i].name, from, to, n);
        sk__http_rebase_view(&resp->headers[i].value, from, to, n);
    }
}
