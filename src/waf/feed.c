/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filling variables from request data: the request line (REQUEST_URI,
 * REQUEST_FILENAME, ARGS_GET...), headers (cookies, SERVER_NAME), and the
 * request body through the body processors (urlencoded, multipart, JSON,
 * XML) with the body limits. The parsing itself lives in src/http and
 * src/bodyproc; this file maps results onto ModSecurity's variables.
 */
#include "waf/txn.h"

#include <stdio.h>
#include <string.h>

#include "http/http.h"
#include "http/multipart.h"
#include "util/error.h"
#include "util/limits.h"

/* Percent-decodes a URI the way REQUEST_URI/REQUEST_FILENAME see it: %XX
 * becomes the byte, '+' stays, an invalid escape stays as is. */
static int
uri_decode(struct sk_arena *a, struct sk_str in, struct sk_str *out)
{
    uint8_t *o = sk_arena_alloc(a, in.len + 1);
    if (o == NULL)
        return -SK_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        if (c == '%' && i + 2 < in.len) {
            int hi = -1, lo = -1;
            uint8_t h = in.p[i + 1], l = in.p[i + 2];
            if (h >= '0' && h <= '9')
                hi = h - '0';
            else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
                hi = (h | 0x20) - 'a' + 10;
            if (l >= '0' && l <= '9')
                lo = l - '0';
            else if ((l | 0x20) >= 'a' && (l | 0x20) <= 'f')
                lo = (l | 0x20) - 'a' + 10;
            if (hi >= 0 && lo >= 0) {
                o[n++] = (uint8_t)(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        o[n++] = c;
    }
    o[n] = '\0';
    *out = sk_str_make(o, n);
    return 0;
}

struct args_ctx {
    struct sk_waf_txn *t;
    enum sk_var_id coll; /* ARGS_GET or ARGS_POST */
    /* Names and values live in the transaction's arena already (the
     * urlencoded parser's output): kept, not copied. */
    bool kept;
};

static int
add_arg(void *ud, struct sk_str name, struct sk_str value)
{
    struct args_ctx *c = ud;
    struct sk_waf_txn *t = c->t;
    if (t->colls[SK_V_ARGS].n >= SK_LIMIT_ARGS)
        return -SK_ELIMIT;
    struct sk_coll *own = &t->colls[c->coll];
    uint32_t h = sk__name_hash(name);
    int rc = sk__coll_add_h(t, own, name, h, value, !c->kept);
    if (rc != 0)
        return rc;
    /* ARGS shares the copy: the rules' transformation and prefilter
     * caches, keyed by where a value lives, then serve both. */
    const struct sk_entry *e = &own->e[own->n - 1];
    return sk__coll_add_h(t, &t->colls[SK_V_ARGS], e->name, h, e->value, false);
}

int
sk_waf_txn_request_line(struct sk_waf_txn *t, const char *method,
                        size_t method_len, const char *uri, size_t uri_len,
                        const char *protocol, size_t protocol_len)
{
    struct sk_str m = sk_str_make(method, method_len);
    struct sk_str u = sk_str_make(uri, uri_len);
    struct sk_str p = sk_str_make(protocol, protocol_len);
    size_t ll = method_len + 1 + uri_len + 1 + protocol_len;
    char *line = sk_arena_alloc(t->arena, ll + 1);
    if (line == NULL)
        return -SK_ENOMEM;
    memcpy(line, method, method_len);
    line[method_len] = ' ';
    memcpy(line + method_len + 1, uri, uri_len);
    line[method_len + 1 + uri_len] = ' ';
    memcpy(line + method_len + 2 + uri_len, protocol, protocol_len);
    line[ll] = '\0';
    int rc = 0;
    rc |= sk__scalar_set(t, SK_V_REQUEST_LINE, sk_str_make(line, ll));
    rc |= sk__scalar_set(t, SK_V_REQUEST_METHOD, m);
    rc |= sk__scalar_set(t, SK_V_REQUEST_PROTOCOL, p);
    rc |= sk__scalar_set(t, SK_V_REQUEST_URI_RAW, u);
    if (rc != 0)
        return -SK_ENOMEM;

    /* Split the raw target at the first '?' (the query is not decoded). */
    struct sk_str path = u, query = SK_STR_NULL;
    bool has_query = false;
    for (size_t i = 0; i < u.len; i++)
        if (u.p[i] == '?') {
            path = sk_str_make(u.p, i);
            query = sk_str_make(u.p + i + 1, u.len - i - 1);
            has_query = true;
            break;
        }
    /* A fragment is not part of the path or query. */
    for (size_t i = 0; i < query.len; i++)
        if (query.p[i] == '#') {
            query.len = i;
            break;
        }
    for (size_t i = 0; i < path.len; i++)
        if (path.p[i] == '#') {
            path.len = i;
            break;
        }
    /* The absolute form's scheme and authority are not part of the
     * path (ModSecurity v3 strips them from REQUEST_URI too). */
    struct sk_str uri_noauth = u;
    if (path.len > 0 && path.p[0] != '/') {
        long sch = sk_str_find(path, SK_STR_LIT("://"));
        if (sch > 0) {
            size_t start = (size_t)sch + 3;
            size_t k = start;
            while (k < path.len && path.p[k] != '/')
                k++;
            path = sk_str_make(path.p + k, path.len - k);
            uri_noauth = sk_str_make(u.p + k, u.len - k);
        }
    }
    struct sk_str dec_uri, dec_path;
    if (uri_decode(t->arena, uri_noauth, &dec_uri) != 0 ||
        uri_decode(t->arena, path, &dec_path) != 0)
        return -SK_ENOMEM;
    rc |= sk__scalar_set(t, SK_V_REQUEST_URI, dec_uri);
    rc |= sk__scalar_set(t, SK_V_REQUEST_FILENAME, dec_path);
    rc |= sk__scalar_set(t, SK_V_PATH_INFO, dec_path);
    size_t b = dec_path.len;
    while (b > 0 && dec_path.p[b - 1] != '/' && dec_path.p[b - 1] != '\\')
        b--;
    rc |= sk__scalar_set(t, SK_V_REQUEST_BASENAME,
                         sk_str_make(dec_path.p + b, dec_path.len - b));
    if (has_query)
        rc |= sk__scalar_set(t, SK_V_QUERY_STRING, query);
    if (rc != 0)
        return -SK_ENOMEM;
    if (has_query && query.len > 0) {
        struct args_ctx c = {t, SK_V_ARGS_GET, true};
        rc = sk_http_parse_urlencoded(t->arena, query, t->rules->arg_separator,
                                      SK_LIMIT_ARGS, add_arg, &c);
        if (rc == -SK_ELIMIT)
            return sk__coll_set(t, &t->colls[SK_V_TX],
                                SK_STR_LIT("MSC_ARGS_LIMIT_EXCEEDED"),
                                SK_STR_LIT("1"));
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
add_cookie(void *ud, struct sk_str name, struct sk_str value)
{
    struct sk_waf_txn *t = ud;
    return sk__coll_add(t, &t->colls[SK_V_REQUEST_COOKIES], name, value);
}

int
sk__process_request_headers(struct sk_waf_txn *t)
{
    struct sk_coll *h = &t->colls[SK_V_REQUEST_HEADERS];
    for (size_t i = 0; i < h->n; i++) {
        struct sk_entry *e = &h->e[i];
        int rc = 0;
        if (sk_str_eq_c_nocase(e->name, "Cookie")) {
            rc = sk_http_parse_cookies(t->arena, e->value, SK_LIMIT_COOKIES,
                                       add_cookie, t);
            if (rc == -SK_ELIMIT)
                rc = 0; /* the first SK_LIMIT_COOKIES are inspected */
        } else if (sk_str_eq_c_nocase(e->name, "Host") &&
                   !t->has_scalar[SK_V_SERVER_NAME]) {
            struct sk_str host = e->value;
            /* Drop a port, keeping an IPv6 literal whole. */
            size_t end = host.len;
            if (host.len > 0 && host.p[0] == '[') {
                for (size_t k = 0; k < host.len; k++)
                    if (host.p[k] == ']') {
                        end = k + 1;
                        break;
                    }
            } else {
                for (size_t k = 0; k < host.len; k++)
                    if (host.p[k] == ':') {
                        end = k;
                        break;
                    }
            }
            rc = sk__scalar_set(t, SK_V_SERVER_NAME, sk_str_make(host.p, end));
        } else if (sk_str_eq_c_nocase(e->name, "Authorization") &&
                   !t->has_scalar[SK_V_AUTH_TYPE]) {
            size_t k = 0;
            while (k < e->value.len && e->value.p[k] != ' ')
                k++;
            rc = sk__scalar_set(t, SK_V_AUTH_TYPE, sk_str_make(e->value.p, k));
        }
        if (rc != 0)
            return rc;
    }
    /* The body processor follows Content-Type unless ctl: chooses. */
    struct sk_str ct = t->content_type;
    size_t k = 0;
    while (k < ct.len && ct.p[k] != ';' && ct.p[k] != ' ' && ct.p[k] != '\t')
        k++;
    struct sk_str mime = sk_str_make(ct.p, k);
    if (sk_str_eq_c_nocase(mime, "application/x-www-form-urlencoded"))
        t->processor = SK_BP_URLENCODED;
    else if (sk_str_eq_c_nocase(mime, "multipart/form-data"))
        t->processor = SK_BP_MULTIPART;
    return 0;
}

static int
set_error(struct sk_waf_txn *t, const char *msg)
{
    int rc = sk__scalar_set_c(t, SK_V_REQBODY_ERROR, "1");
    rc |= sk__scalar_set_c(t, SK_V_REQBODY_PROCESSOR_ERROR, "1");
    rc |= sk__scalar_set_c(t, SK_V_REQBODY_ERROR_MSG, msg);
    rc |= sk__scalar_set_c(t, SK_V_REQBODY_PROCESSOR_ERROR_MSG, msg);
    return rc ? -SK_ENOMEM : 0;
}

static int
set_flag(struct sk_waf_txn *t, enum sk_var_id id, int v)
{
    return sk__scalar_set_c(t, id, v ? "1" : "0");
}

static int
process_multipart(struct sk_waf_txn *t, struct sk_str body)
{
    struct sk_mp_result mp;
    memset(&mp, 0, sizeof(mp));
    int rc = sk_multipart_parse(t->arena, t->content_type, body,
                                SK_LIMIT_MULTIPART_PARTS, &mp);
    if (rc == -SK_ELIMIT)
        return set_error(t, "Multipart parsing error: too many parts");
    if (rc != 0)
        return rc;
    rc |= set_flag(t, SK_V_MULTIPART_BOUNDARY_QUOTED, mp.boundary_quoted);
    rc |=
        set_flag(t, SK_V_MULTIPART_BOUNDARY_WHITESPACE, mp.boundary_whitespace);
    rc |= set_flag(t, SK_V_MULTIPART_DATA_BEFORE, mp.data_before);
    rc |= set_flag(t, SK_V_MULTIPART_DATA_AFTER, mp.data_after);
    rc |= set_flag(t, SK_V_MULTIPART_HEADER_FOLDING, mp.header_folding);
    rc |= set_flag(t, SK_V_MULTIPART_LF_LINE, mp.lf_line);
    rc |= set_flag(t, SK_V_MULTIPART_CRLF_LF_LINES, mp.crlf_lf_lines);
    rc |= set_flag(t, SK_V_MULTIPART_MISSING_SEMICOLON, mp.missing_semicolon);
    rc |= set_flag(t, SK_V_MULTIPART_INVALID_QUOTING, mp.invalid_quoting);
    rc |= set_flag(t, SK_V_MULTIPART_INVALID_PART, mp.invalid_part);
    rc |= set_flag(t, SK_V_MULTIPART_INVALID_HEADER_FOLDING,
                   mp.invalid_header_folding);
    rc |=
        set_flag(t, SK_V_MULTIPART_FILE_LIMIT_EXCEEDED, mp.file_limit_exceeded);
    rc |= set_flag(t, SK_V_MULTIPART_UNMATCHED_BOUNDARY, mp.unmatched_boundary);
    rc |= set_flag(t, SK_V_MULTIPART_STRICT_ERROR, mp.strict_error);
    if (rc != 0)
        return -SK_ENOMEM;
    if (mp.error) {
        rc = set_error(t,
                       mp.error_msg ? mp.error_msg : "Multipart parsing error");
        if (rc != 0)
            return rc;
    }
    struct args_ctx c = {t, SK_V_ARGS_POST};
    for (size_t i = 0; i < mp.nparts; i++) {
        const struct sk_mp_part *p = &mp.parts[i];
        for (size_t h = 0; h < p->nheader_lines; h++) {
            rc = sk__coll_add(t, &t->colls[SK_V_MULTIPART_PART_HEADERS],
                              p->name, p->header_lines[h]);
            if (rc != 0)
                return rc;
        }
        rc = sk__coll_add(t, &t->colls[SK_V_MULTIPART_NAME], p->name, p->name);
        if (rc != 0)
            return rc;
        if (p->is_file) {
            char size[32];
            snprintf(size, sizeof(size), "%zu", p->value.len);
            rc = sk__coll_add(t, &t->colls[SK_V_FILES], p->name, p->filename);
            if (rc == 0)
                rc = sk__coll_add(t, &t->colls[SK_V_FILES_NAMES], p->name,
                                  p->name);
            if (rc == 0)
                rc = sk__coll_add(t, &t->colls[SK_V_FILES_SIZES], p->name,
                                  sk_str_c(size));
            if (rc == 0)
                rc = sk__coll_add(t, &t->colls[SK_V_MULTIPART_FILENAME],
                                  p->name, p->filename);
        } else {
            rc = add_arg(&c, p->name, p->value);
        }
        if (rc == -SK_ELIMIT)
            return sk__coll_set(t, &t->colls[SK_V_TX],
                                SK_STR_LIT("MSC_ARGS_LIMIT_EXCEEDED"),
                                SK_STR_LIT("1"));
        if (rc != 0)
            return rc;
    }
    return sk__scalar_set_u64(t, SK_V_FILES_COMBINED_SIZE,
                              mp.files_combined_size);
}

static int
add_json_arg(void *ud, struct sk_str name, struct sk_str value)
{
    return add_arg(ud, name, value);
}

/* FULL_REQUEST: the request line, the headers and the body as fed. */
static int
set_full_request(struct sk_waf_txn *t, struct sk_str body)
{
    struct sk_buf b = {0};
    int rc = 0;
    if (t->has_scalar[SK_V_REQUEST_LINE])
        rc = sk_buf_append_str(&b, t->scalars[SK_V_REQUEST_LINE]);
    if (rc == 0)
        rc = sk_buf_append(&b, "\r\n", 2);
    const struct sk_coll *h = &t->colls[SK_V_REQUEST_HEADERS];
    for (size_t i = 0; rc == 0 && i < h->n; i++) {
        rc = sk_buf_append_str(&b, h->e[i].name);
        if (rc == 0)
            rc = sk_buf_append(&b, ": ", 2);
        if (rc == 0)
            rc = sk_buf_append_str(&b, h->e[i].value);
        if (rc == 0)
            rc = sk_buf_append(&b, "\r\n", 2);
    }
    if (rc == 0)
        rc = sk_buf_append(&b, "\r\n", 2);
    if (rc == 0)
        rc = sk_buf_append_str(&b, body);
    if (rc == 0)
        rc = sk__scalar_set(t, SK_V_FULL_REQUEST, sk_buf_str(&b));
    if (rc == 0)
        rc = sk__scalar_set_u64(t, SK_V_FULL_REQUEST_LENGTH, b.len);
    sk_buf_fini(&b);
    return rc;
}

int
sk__process_request_body(struct sk_waf_txn *t)
{
    struct sk_str body = sk_buf_str(&t->reqbody);
    int rc = sk__scalar_set_u64(t, SK_V_REQUEST_BODY_LENGTH, body.len);
    if (rc == 0 && t->rules->uses_full_request)
        rc = set_full_request(t, body);
    if (rc != 0)
        return rc;
    if (!t->reqbody_access)
        goto combined;
    /* Limits: without files the tighter SecRequestBodyNoFilesLimit. */
    uint64_t limit = t->reqbody_limit;
    if (t->processor != SK_BP_MULTIPART &&
        t->rules->reqbody_nofiles_limit < limit)
        limit = t->rules->reqbody_nofiles_limit;
    if (body.len > limit || t->reqbody_truncated) {
        rc = sk__scalar_set_c(t, SK_V_INBOUND_DATA_ERROR, "1");
        if (rc != 0)
            return rc;
        if (t->rules->reqbody_limit_reject && t->engine == SK_ENGINE_ON) {
            t->verdict.action = SK_WAF_DENY;
            t->verdict.status = 413;
            t->verdict.phase = 2;
            t->interrupted = true;
            return 0;
        }
        if (body.len > limit)
            body.len = (size_t)limit; /* ProcessPartial */
    } else {
        rc = sk__scalar_set_c(t, SK_V_INBOUND_DATA_ERROR, "0");
        if (rc != 0)
            return rc;
    }
    static const char *const names[] = {"", "URLENCODED", "MULTIPART", "JSON",
                                        "XML"};
    if (t->processor != SK_BP_NONE) {
        rc = sk__scalar_set_c(t, SK_V_REQBODY_PROCESSOR, names[t->processor]);
        if (rc != 0)
            return rc;
    }
    rc = sk__scalar_set_c(t, SK_V_REQBODY_ERROR, "0");
    rc |= sk__scalar_set_c(t, SK_V_REQBODY_PROCESSOR_ERROR, "0");
    if (rc != 0)
        return -SK_ENOMEM;
    /* REQUEST_BODY: the raw body, except under the multipart and XML
     * processors, where ModSecurity v2 (whose behaviour CRS's tests
     * expect) leaves it empty unless forceRequestBodyVariable is on. */
    bool raw = t->processor == SK_BP_NONE || t->processor == SK_BP_URLENCODED ||
               t->processor == SK_BP_JSON || t->force_reqbody_var;
    if (raw && body.len > 0) {
        rc = sk__scalar_set(t, SK_V_REQUEST_BODY, body);
        if (rc != 0)
            return rc;
    }
    if (body.len == 0)
        goto combined;
    switch (t->processor) {
    case SK_BP_URLENCODED: {
        struct args_ctx c = {t, SK_V_ARGS_POST, true};
        rc = sk_http_parse_urlencoded(t->arena, body, t->rules->arg_separator,
                                      SK_LIMIT_ARGS, add_arg, &c);
        if (rc == -SK_ELIMIT)
            rc = sk__coll_set(t, &t->colls[SK_V_TX],
                              SK_STR_LIT("MSC_ARGS_LIMIT_EXCEEDED"),
                              SK_STR_LIT("1"));
        if (rc != 0)
            return rc;
        break;
    }
    case SK_BP_MULTIPART:
        rc = process_multipart(t, body);
        if (rc != 0)
            return rc;
        break;
    case SK_BP_JSON: {
        struct args_ctx c = {t, SK_V_ARGS_POST};
        const char *err = NULL;
        rc = sk_bodyproc_json(t->arena, body, t->rules->json_depth_limit,
                              SK_LIMIT_ARGS, add_json_arg, &c, &err);
        if (rc == -SK_EPARSE || rc == -SK_ELIMIT) {
            char msg[512];
            snprintf(msg, sizeof(msg), "JSON parsing error: %s",
                     err ? err : "malformed JSON");
            rc = set_error(t, msg);
        }
        if (rc != 0)
            return rc;
        break;
    }
    case SK_BP_XML: {
        const char *err = NULL;
        rc = sk_bodyproc_xml_parse(t->arena, body, &t->xml, &err);
        if (rc == -SK_EPARSE || rc == -SK_ELIMIT) {
            /* A partial tree, if any, stays for XML:/xpath targets, as
             * ModSecurity keeps it. */
            char msg[512];
            snprintf(msg, sizeof(msg), "XML parsing error: %s",
                     err ? err : "malformed XML");
            rc = set_error(t, msg);
        }
        if (rc != 0)
            return rc;
        break;
    }
    case SK_BP_NONE:
        break;
    }
combined:;
    /* ARGS_COMBINED_SIZE counts names and values of all arguments. */
    uint64_t total = 0;
    const struct sk_coll *a = &t->colls[SK_V_ARGS];
    for (size_t i = 0; i < a->n; i++)
        total += a->e[i].name.len + a->e[i].value.len;
    return sk__scalar_set_u64(t, SK_V_ARGS_COMBINED_SIZE, total);
}
