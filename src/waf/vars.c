/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The variable table: every SecLang variable sekimori knows, how it is
 * stored, and a line of documentation. Sorted by name (a unit test checks
 * order and duplicates) so that lookup is a binary search.
 */
#include "waf/engine.h"

#include <string.h>

#define ROW(n, kind, base, doc)                                                \
    {                                                                          \
#n, SK_V_##n, SK_VK_##kind, base, doc                                  \
    }

static const struct sk_var_def vars[] = {
    ROW(ARGS, COLLECTION, 0, "all arguments: query string and body"),
    ROW(ARGS_COMBINED_SIZE, SCALAR, 0,
        "total length of argument names and values"),
    ROW(ARGS_GET, COLLECTION, 0, "query string arguments"),
    ROW(ARGS_GET_NAMES, NAMES, SK_V_ARGS_GET,
        "names of query string arguments"),
    ROW(ARGS_NAMES, NAMES, SK_V_ARGS, "names of all arguments"),
    ROW(ARGS_POST, COLLECTION, 0, "request body arguments"),
    ROW(ARGS_POST_NAMES, NAMES, SK_V_ARGS_POST,
        "names of request body arguments"),
    ROW(AUTH_TYPE, SCALAR, 0,
        "authentication scheme of the Authorization header"),
    ROW(DURATION, COMPUTED, 0, "microseconds since the transaction started"),
    ROW(ENV, COLLECTION, 0, "variables set with setenv"),
    ROW(FILES, COLLECTION, 0, "multipart file names, keyed by field name"),
    ROW(FILES_COMBINED_SIZE, SCALAR, 0, "total size of uploaded files"),
    ROW(FILES_NAMES, COLLECTION, 0, "field names of multipart file parts"),
    ROW(FILES_SIZES, COLLECTION, 0,
        "sizes of uploaded files, keyed by field name"),
    ROW(FULL_REQUEST, SCALAR, 0, "the request head and body as received"),
    ROW(FULL_REQUEST_LENGTH, SCALAR, 0, "length of FULL_REQUEST"),
    ROW(GEO, UNSUPPORTED, 0, "geolocation (needs @geoLookup, not supported)"),
    ROW(GLOBAL, COLLECTION, 0, "persistent global collection (in memory)"),
    ROW(HIGHEST_SEVERITY, COMPUTED, 0,
        "most severe severity of the matched rules"),
    ROW(INBOUND_DATA_ERROR, SCALAR, 0,
        "1 when the request body exceeded its limit"),
    ROW(IP, COLLECTION, 0, "persistent per-client collection (in memory)"),
    ROW(MATCHED_VAR, SCALAR, 0, "value of the last matched target"),
    ROW(MATCHED_VARS, COLLECTION, 0, "all targets matched by the current rule"),
    ROW(MATCHED_VARS_NAMES, NAMES, SK_V_MATCHED_VARS, "names of MATCHED_VARS"),
    ROW(MATCHED_VAR_NAME, SCALAR, 0, "name of the last matched target"),
    ROW(MULTIPART_BOUNDARY_QUOTED, SCALAR, 0, "multipart boundary was quoted"),
    ROW(MULTIPART_BOUNDARY_WHITESPACE, SCALAR, 0,
        "multipart boundary had whitespace"),
    ROW(MULTIPART_CRLF_LF_LINES, SCALAR, 0, "mixed CRLF and LF line endings"),
    ROW(MULTIPART_DATA_AFTER, SCALAR, 0, "data after the last boundary"),
    ROW(MULTIPART_DATA_BEFORE, SCALAR, 0, "data before the first boundary"),
    ROW(MULTIPART_FILENAME, COLLECTION, 0,
        "filename parameters of multipart parts"),
    ROW(MULTIPART_FILE_LIMIT_EXCEEDED, SCALAR, 0, "too many uploaded files"),
    ROW(MULTIPART_HEADER_FOLDING, SCALAR, 0, "folded part headers"),
    ROW(MULTIPART_INVALID_HEADER_FOLDING, SCALAR, 0,
        "invalid part header folding"),
    ROW(MULTIPART_INVALID_PART, SCALAR, 0, "a malformed part"),
    ROW(MULTIPART_INVALID_QUOTING, SCALAR, 0,
        "invalid quoting in part headers"),
    ROW(MULTIPART_LF_LINE, SCALAR, 0, "LF line endings"),
    ROW(MULTIPART_MISSING_SEMICOLON, SCALAR, 0,
        "missing semicolon in Content-Disposition"),
    ROW(MULTIPART_NAME, COLLECTION, 0, "name parameters of multipart parts"),
    ROW(MULTIPART_PART_HEADERS, COLLECTION, 0,
        "part header lines, keyed by field name"),
    ROW(MULTIPART_STRICT_ERROR, SCALAR, 0, "any strict multipart flag raised"),
    ROW(MULTIPART_UNMATCHED_BOUNDARY, SCALAR, 0,
        "a boundary-like line that did not match"),
    ROW(OUTBOUND_DATA_ERROR, SCALAR, 0,
        "1 when the response body exceeded its limit"),
    ROW(PATH_INFO, SCALAR, 0,
        "extra path information (same as REQUEST_FILENAME here)"),
    ROW(QUERY_STRING, SCALAR, 0, "the query string, not decoded"),
    ROW(REMOTE_ADDR, SCALAR, 0, "client IP address"),
    ROW(REMOTE_HOST, SCALAR, 0, "client host (the address; no DNS lookups)"),
    ROW(REMOTE_PORT, SCALAR, 0, "client port"),
    ROW(REQBODY_ERROR, SCALAR, 0, "1 when the body processor failed"),
    ROW(REQBODY_ERROR_MSG, SCALAR, 0, "the body processor's error message"),
    ROW(REQBODY_PROCESSOR, SCALAR, 0, "URLENCODED, MULTIPART, JSON or XML"),
    ROW(REQBODY_PROCESSOR_ERROR, SCALAR, 0, "same as REQBODY_ERROR"),
    ROW(REQBODY_PROCESSOR_ERROR_MSG, SCALAR, 0, "same as REQBODY_ERROR_MSG"),
    ROW(REQUEST_BASENAME, SCALAR, 0, "last path segment, decoded"),
    ROW(REQUEST_BODY, SCALAR, 0, "the raw request body (see docs)"),
    ROW(REQUEST_BODY_LENGTH, SCALAR, 0, "length of the request body"),
    ROW(REQUEST_COOKIES, COLLECTION, 0, "cookies"),
    ROW(REQUEST_COOKIES_NAMES, NAMES, SK_V_REQUEST_COOKIES, "cookie names"),
    ROW(REQUEST_FILENAME, SCALAR, 0, "path without the query string, decoded"),
    ROW(REQUEST_HEADERS, COLLECTION, 0, "request headers"),
    ROW(REQUEST_HEADERS_NAMES, NAMES, SK_V_REQUEST_HEADERS,
        "request header names"),
    ROW(REQUEST_LINE, SCALAR, 0, "the request line"),
    ROW(REQUEST_METHOD, SCALAR, 0, "the request method"),
    ROW(REQUEST_PROTOCOL, SCALAR, 0, "the protocol, e.g. HTTP/1.1"),
    ROW(REQUEST_URI, SCALAR, 0, "path and query, percent-decoded"),
    ROW(REQUEST_URI_RAW, SCALAR, 0, "the request target as received"),
    ROW(RESOURCE, COLLECTION, 0,
        "persistent per-resource collection (in memory)"),
    ROW(RESPONSE_BODY, SCALAR, 0, "the response body (up to its limit)"),
    ROW(RESPONSE_CONTENT_LENGTH, SCALAR, 0, "response Content-Length"),
    ROW(RESPONSE_CONTENT_TYPE, SCALAR, 0, "response Content-Type"),
    ROW(RESPONSE_HEADERS, COLLECTION, 0, "response headers"),
    ROW(RESPONSE_HEADERS_NAMES, NAMES, SK_V_RESPONSE_HEADERS,
        "response header names"),
    ROW(RESPONSE_PROTOCOL, SCALAR, 0, "response protocol"),
    ROW(RESPONSE_STATUS, SCALAR, 0, "response status code"),
    ROW(RULE, COMPUTED, 0, "fields of the current rule (id, msg, ...)"),
    ROW(SERVER_ADDR, SCALAR, 0, "server IP address"),
    ROW(SERVER_NAME, SCALAR, 0, "Host header without the port"),
    ROW(SERVER_PORT, SCALAR, 0, "server port"),
    ROW(SESSION, COLLECTION, 0, "persistent session collection (in memory)"),
    ROW(SESSIONID, SCALAR, 0, "value set with setsid"),
    ROW(STATUS_LINE, SCALAR, 0, "response status line"),
    ROW(TIME, COMPUTED, 0, "hh:mm:ss"),
    ROW(TIME_DAY, COMPUTED, 0, "day of the month"),
    ROW(TIME_EPOCH, COMPUTED, 0, "seconds since the epoch"),
    ROW(TIME_HOUR, COMPUTED, 0, "hour"),
    ROW(TIME_MIN, COMPUTED, 0, "minute"),
    ROW(TIME_MON, COMPUTED, 0, "month"),
    ROW(TIME_SEC, COMPUTED, 0, "second"),
    ROW(TIME_WDAY, COMPUTED, 0, "day of the week"),
    ROW(TIME_YEAR, COMPUTED, 0, "year"),
    ROW(TX, COLLECTION, 0, "transaction variables"),
    ROW(UNIQUE_ID, SCALAR, 0, "the transaction id"),
    ROW(URLENCODED_ERROR, UNSUPPORTED, 0, "not supported: use REQBODY_ERROR"),
    ROW(USER, COLLECTION, 0, "persistent user collection (in memory)"),
    ROW(USERID, SCALAR, 0, "value set with setuid"),
    ROW(WEBSERVER_ERROR_LOG, UNSUPPORTED, 0,
        "the web server's error log (not available to a proxy)"),
    ROW(XML, XML, 0, "XPath over the XML body (XML:/*)"),
};

static int
cmp_name(struct sk_str key, const char *name)
{
    size_t n = strlen(name);
    size_t m = key.len < n ? key.len : n;
    for (size_t i = 0; i < m; i++) {
        uint8_t a = key.p[i];
        uint8_t b = (uint8_t)name[i];
        if (a >= 'a' && a <= 'z')
            a = (uint8_t)(a - 32);
        if (a != b)
            return a < b ? -1 : 1;
    }
    if (key.len == n)
        return 0;
    return key.len < n ? -1 : 1;
}

const struct sk_var_def *
sk__var_find(struct sk_str name)
{
    size_t lo = 0, hi = sizeof(vars) / sizeof(vars[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_name(name, vars[mid].name);
        if (c == 0)
            return &vars[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct sk_var_def *
sk__var_table(size_t *count)
{
    *count = sizeof(vars) / sizeof(vars[0]);
    return vars;
}

const struct sk_var_def *
sk__var_def(enum sk_var_id id)
{
    /* The enum is in the table's order (the unit test checks it). */
    return &vars[id];
}
