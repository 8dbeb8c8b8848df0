/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loader of the CRS regression suite's ftw YAML files and of our
 * overrides file. It checks each file's shape as strictly as the ftw 1.3.0
 * runner's Python code would have (plus loud errors for features it cannot
 * reproduce) and builds, for every stage, the exact bytes that runner
 * sent: request line, headers in file order, the Content-Type and
 * Content-Length it added, the form re-encoding of `data`, and the decoded
 * `raw_request` / `encoded_request`. docs/crs-test.md lists each rule with
 * the test that relies on it.
 */
#include "crstest/ftw.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crstest/yamltree.h"
#include "util/error.h"

/* One header as the runner's dict held it: str(name), str(value). */
struct hdr {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
    bool value_is_str;
    unsigned line;
};

struct hdrs {
    struct hdr v[SK_FTW_MAX_HEADERS + 2];
    size_t n;
};

struct ctx {
    struct sk_arena *a;  /* results */
    struct sk_arena *ta; /* the YAML tree and scratch */
    struct sk_diag *d;
    const char *file;
    bool nomem;
    struct hdrs *h; /* scratch for the stage being built */
};

#define ERR(c, node, ...)                                                      \
    do {                                                                       \
        struct sk_loc loc_ = {(c)->file, (node) ? (node)->line : 0, 0};        \
        sk_diag_error((c)->d, &loc_, __VA_ARGS__);                             \
    } while (0)

/* Checks that every key of mapping `m` is in `allowed`. */
static bool
check_keys(struct ctx *c, const struct sk__ynode *m, const char *what,
           const char *const *allowed)
{
    bool ok = true;
    for (size_t i = 0; i < m->n; i++) {
        const struct sk__ynode *k = m->items[2 * i];
        bool known = false;
        if (k->kind == SK__Y_SCALAR && k->type == SK__YS_STR) {
            for (size_t j = 0; allowed[j] != NULL; j++) {
                if (strlen(allowed[j]) == k->len &&
                    memcmp(k->text, allowed[j], k->len) == 0) {
                    known = true;
                }
            }
        }
        if (!known) {
            ERR(c, k, "unknown key '%s' in %s", k->text, what);
            ok = false;
        }
    }
    return ok;
}

/* A string field; absent gives `dflt`. Returns false after an error. */
static bool
get_str(struct ctx *c, const struct sk__ynode *m, const char *key,
        const char *dflt, char **out, size_t *len)
{
    const struct sk__ynode *v = sk__ymap_get(m, key);
    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    if (v == NULL) {
        *out = (char *)dflt;
        if (len != NULL) {
            *len = dflt ? strlen(dflt) : 0;
        }
        return true;
    }
    if (v->kind != SK__Y_SCALAR || v->type != SK__YS_STR) {
        ERR(c, v, "'%s' must be a string, not %s", key, sk__ynode_what(v));
        return false;
    }
    *out = v->text;
    if (len != NULL) {
        *len = v->len;
    }
    return true;
}

static bool
get_bool(struct ctx *c, const struct sk__ynode *m, const char *key, bool dflt,
         bool *out)
{
    const struct sk__ynode *v = sk__ymap_get(m, key);
    *out = dflt;
    if (v == NULL) {
        return true;
    }
    if (v->kind != SK__Y_SCALAR || v->type != SK__YS_BOOL) {
        ERR(c, v, "'%s' must be true or false, not %s", key, sk__ynode_what(v));
        return false;
    }
    *out = v->bval;
    return true;
}

static char *
keep(struct ctx *c, const char *s, size_t len)
{
    if (s == NULL) {
        return NULL;
    }
    char *r = sk_arena_memdup(c->a, s, len);
    if (r == NULL) {
        c->nomem = true;
    }
    return r;
}

static struct hdr *
hdr_find(struct hdrs *h, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i].nlen == len && memcmp(h->v[i].name, name, len) == 0) {
            return &h->v[i];
        }
    }
    return NULL;
}

static bool
load_headers(struct ctx *c, const struct sk__ynode *m, struct hdrs *h)
{
    h->n = 0;
    if (m == NULL) {
        return true;
    }
    if (m->kind != SK__Y_MAP) {
        ERR(c, m, "'headers' must be a mapping, not %s", sk__ynode_what(m));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < m->n; i++) {
        const struct sk__ynode *k = m->items[2 * i];
        const struct sk__ynode *v = m->items[2 * i + 1];
        size_t nlen = 0, vlen = 0;
        const char *name = sk__yscalar_pystr(c->ta, k, &nlen);
        const char *value = sk__yscalar_pystr(c->ta, v, &vlen);
        if (name == NULL || value == NULL) {
            const struct sk__ynode *bad = name == NULL ? k : v;
            ERR(c, bad, "header %s cannot be %s",
                name == NULL ? "name" : "value", sk__ynode_what(bad));
            ok = false;
            continue;
        }
        /* A repeated name replaces the value where the name first was. */
        struct hdr *e = NULL;
        for (size_t j = 0; j < h->n; j++) {
            if (h->v[j].nlen == nlen && memcmp(h->v[j].name, name, nlen) == 0) {
                e = &h->v[j];
            }
        }
        if (e == NULL) {
            if (h->n >= SK_FTW_MAX_HEADERS) {
                ERR(c, k, "more than %d headers", SK_FTW_MAX_HEADERS);
                return false;
            }
            e = &h->v[h->n++];
            e->name = name;
            e->nlen = nlen;
        }
        e->value = value;
        e->vlen = vlen;
        e->value_is_str = v->type == SK__YS_STR;
        e->line = k->line;
    }
    return ok;
}

static bool
has_pct_escape(const char *p, size_t n)
{
    static const char hexd[] = "0123456789abcdefABCDEF";
    for (size_t i = 0; i + 2 < n; i++) {
        if (p[i] == '%' && p[i + 1] != '\0' && p[i + 2] != '\0' &&
            strchr(hexd, p[i + 1]) != NULL && strchr(hexd, p[i + 2]) != NULL) {
            return true;
        }
    }
    return false;
}

static bool
is_py_space(uint8_t ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r') ||
           (ch >= 0x1c && ch <= 0x1f);
}

/*
 * The charset the runner used to encode `data`: the first
 * ";[ ]charset=VALUE" of Content-Type, VALUE up to ';', a space or the
 * end, '-' read as '_' and lowercased. Returns false when there is none.
 */
static bool
find_charset(const char *ct, size_t len, char *out, size_t cap)
{
    for (size_t i = 0; i < len; i++) {
        if (ct[i] != ';') {
            continue;
        }
        size_t j = i + 1;
        static const char key[] = "charset=";
        if (len - j >= 8 && memcmp(ct + j, key, 8) == 0) {
            j += 8;
        } else if (len - j >= 9 && is_py_space((uint8_t)ct[j]) &&
                   memcmp(ct + j + 1, key, 8) == 0) {
            j += 9;
        } else {
            continue;
        }
        size_t o = 0;
        for (; j < len && ct[j] != ';' && !is_py_space((uint8_t)ct[j]); j++) {
            if (o + 1 >= cap) {
                break;
            }
            char ch = ct[j] == '-' ? '_' : ct[j];
            out[o++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        out[o] = '\0';
        return true;
    }
    return false;
}

static bool
name_in(const char *s, const char *const *list, bool prefix)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        size_t n = strlen(list[i]);
        if (prefix ? strncmp(s, list[i], n) == 0 : strcmp(s, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Whether encoding `data` with Python codec `cs` gives the UTF-8 bytes we
 * already hold: true for UTF-8 names, and for ASCII data under any codec
 * that is not known to write ASCII differently. Returns -1 when we cannot
 * reproduce the runner (it failed, or wrote other bytes).
 */
static int
charset_is_identity(const char *cs, const char *data, size_t len)
{
    static const char *const utf8[] = {"utf_8",   "utf8",      "u8",
                                       "utf",     "utf8_ucs2", "utf8_ucs4",
                                       "cp65001", NULL};
    /* Codecs that change or refuse plain ASCII text. */
    static const char *const odd_prefix[] = {
        "utf_16",      "utf16",   "u16",    "utf_32",  "utf32",     "u32",
        "utf_7",       "utf7",    "u7",     "unicode", "utf_8_sig", "utf8_sig",
        "cp037",       "ibm037",  "ibm039", "cp500",   "ibm500",    "ebcdic",
        "cp1026",      "ibm1026", "cp1140", "ibm1140", "cp273",     "ibm273",
        "csibm",       "cp424",   "ibm424", "cp875",   "cp864",     "ibm864",
        "864",         "hz",      "base64", "base_64", "bz2",       "hex",
        "quopri",      "quoted",  "uu",     "zip",     "zlib",      "rot",
        "mbcs",        "dbcs",    "tactis", "tis260",  "punycode",  "idna",
        "raw_unicode", NULL};
    if (name_in(cs, utf8, false)) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if ((uint8_t)data[i] >= 0x80) {
            return -1;
        }
    }
    return name_in(cs, odd_prefix, true) ? -1 : 0;
}

static size_t
count_code_points(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (((uint8_t)p[i] & 0xC0) != 0x80) {
            k++;
        }
    }
    return k;
}

/* Python's str.replace(pat, val) on the whole buffer. */
static int
replace_all(struct sk_buf *b, const char *pat, const char *val, size_t vlen)
{
    size_t plen = strlen(pat);
    struct sk_buf r = {0};
    int rc = 0;
    size_t i = 0;
    while (rc == 0 && i < b->len) {
        const uint8_t *hit = NULL;
        if (b->len - i >= plen) {
            hit = memmem(b->p + i, b->len - i, pat, plen);
        }
        size_t end = hit ? (size_t)(hit - b->p) : b->len;
        rc = sk_buf_append(&r, b->p + i, end - i);
        if (rc == 0 && hit != NULL) {
            if (r.len + vlen > SK_FTW_MAX_REQUEST_BYTES) {
                rc = -SK_ELIMIT;
            } else {
                rc = sk_buf_append(&r, val, vlen);
            }
            end += plen;
        }
        i = end;
    }
    if (rc == 0) {
        sk_buf_fini(b);
        *b = r;
    } else {
        sk_buf_fini(&r);
    }
    return rc;
}

static bool
report_rc(struct ctx *c, const struct sk__ynode *at, int rc, const char *what,
          const char *why)
{
    if (rc == -SK_ENOMEM) {
        c->nomem = true;
    } else if (rc == -SK_ELIMIT) {
        ERR(c, at, "%s: request longer than %d bytes", what,
            SK_FTW_MAX_REQUEST_BYTES);
    } else if (rc != 0) {
        ERR(c, at, "%s: %s", what, why ? why : sk_strerror(rc));
    }
    return rc == 0;
}

static bool
build_request(struct ctx *c, const struct sk__ynode *in,
              struct sk_ftw_stage *st)
{
    static const char *const keys[] = {"raw_request", "encoded_request",
                                       "protocol",    "dest_addr",
                                       "port",        "method",
                                       "uri",         "version",
                                       "headers",     "data",
                                       "save_cookie", "stop_magic",
                                       NULL};
    if (!check_keys(c, in, "a stage's input", keys)) {
        return false;
    }
    char *method, *uri, *version, *dest, *proto, *raw, *enc;
    size_t mlen, ulen, vlen, rlen = 0, elen = 0;
    bool stop_magic, save_cookie;
    bool ok = get_str(c, in, "method", "GET", &method, &mlen);
    ok &= get_str(c, in, "uri", "/", &uri, &ulen);
    ok &= get_str(c, in, "version", "HTTP/1.1", &version, &vlen);
    ok &= get_str(c, in, "dest_addr", "127.0.0.1", &dest, NULL);
    ok &= get_str(c, in, "protocol", "http", &proto, NULL);
    ok &= get_str(c, in, "raw_request", NULL, &raw, &rlen);
    ok &= get_str(c, in, "encoded_request", NULL, &enc, &elen);
    ok &= get_bool(c, in, "stop_magic", false, &stop_magic);
    ok &= get_bool(c, in, "save_cookie", false, &save_cookie);
    if (!ok) {
        return false;
    }
    if (strcmp(proto, "http") != 0 && strcmp(proto, "https") != 0) {
        ERR(c, sk__ymap_get(in, "protocol"),
            "'protocol' must be http or https, not '%s'", proto);
        return false;
    }
    if (save_cookie) {
        ERR(c, sk__ymap_get(in, "save_cookie"),
            "'save_cookie: true' is not supported (cookies come from the "
            "server's responses)");
        return false;
    }
    if (raw != NULL && enc != NULL) {
        ERR(c, in, "both raw_request and encoded_request are given");
        return false;
    }
    const struct sk__ynode *pn = sk__ymap_get(in, "port");
    st->port = 80;
    if (pn != NULL) {
        if (pn->kind != SK__Y_SCALAR || pn->type != SK__YS_INT ||
            pn->ival < 0 || pn->ival > 65535) {
            ERR(c, pn, "'port' must be an integer from 0 to 65535");
            return false;
        }
        st->port = (int)pn->ival;
    }
    st->dest_addr = keep(c, dest, strlen(dest));
    st->protocol = keep(c, proto, strlen(proto));

    /* data: a string, or a list of strings joined with CR LF. */
    struct sk_buf data = {0};
    struct sk_buf req = {0};
    struct hdrs *h = c->h;
    const struct sk__ynode *dn = sk__ymap_get(in, "data");
    int rc = 0;
    bool reported = false; /* an error already in the diagnostics */
    if (!load_headers(c, sk__ymap_get(in, "headers"), h)) {
        return false;
    }
    if (dn != NULL && dn->kind == SK__Y_SEQ) {
        for (size_t i = 0; rc == 0 && i < dn->n; i++) {
            const struct sk__ynode *it = dn->items[i];
            if (it->kind != SK__Y_SCALAR || it->type != SK__YS_STR) {
                ERR(c, it, "items of 'data' must be strings, not %s",
                    sk__ynode_what(it));
                rc = -SK_EPARSE;
                reported = true;
                break;
            }
            if (i > 0) {
                rc = sk_buf_append(&data, "\r\n", 2);
            }
            if (rc == 0 && data.len + it->len > SK_FTW_MAX_REQUEST_BYTES) {
                rc = -SK_ELIMIT;
            }
            if (rc == 0) {
                rc = sk_buf_append(&data, it->text, it->len);
            }
        }
    } else if (dn != NULL) {
        if (dn->kind != SK__Y_SCALAR || dn->type != SK__YS_STR) {
            ERR(c, dn, "'data' must be a string or a list, not %s",
                sk__ynode_what(dn));
            rc = -SK_EPARSE;
            reported = true;
        } else {
            rc = sk_buf_append(&data, dn->text, dn->len);
        }
    }
    const char *why = NULL;
    const struct sk__ynode *at = dn ? dn : in;
    char clen[32];
    if (rc == 0 && data.len > 0) {
        struct hdr *ct = hdr_find(h, "Content-Type");
        if (ct == NULL && !stop_magic) {
            ct = &h->v[h->n++];
            *ct = (struct hdr){"Content-Type",
                               12,
                               "application/x-www-form-urlencoded",
                               33,
                               true,
                               in->line};
        }
        if (ct != NULL && !stop_magic && ct->value_is_str && ct->vlen == 33 &&
            memcmp(ct->value, "application/x-www-form-urlencoded", 33) == 0 &&
            !has_pct_escape((const char *)data.p, data.len)) {
            struct sk_buf f = {0};
            size_t kept = 0;
            rc = sk_ftw_form_reencode(data.p, data.len, &f, &kept);
            if (rc == 0 && kept > 0) {
                sk_buf_fini(&data);
                data = f;
            } else {
                sk_buf_fini(&f);
            }
        }
        if (rc == 0 && hdr_find(h, "Content-Length") == NULL && !stop_magic) {
            snprintf(clen, sizeof(clen), "%zu",
                     count_code_points((const char *)data.p, data.len));
            h->v[h->n++] = (struct hdr){"Content-Length", 14,   clen,
                                        strlen(clen),     true, in->line};
        }
        /* The runner encoded data with Content-Type's charset. */
        if (rc == 0 && ct != NULL && !stop_magic) {
            char cs[64];
            if (!ct->value_is_str) {
                ERR(c, at,
                    "Content-Type must be a string when data is "
                    "given");
                rc = -SK_EPARSE;
                reported = true;
            } else if (find_charset(ct->value, ct->vlen, cs, sizeof(cs)) &&
                       charset_is_identity(cs, (const char *)data.p,
                                           data.len) != 0) {
                ERR(c, at,
                    "cannot reproduce the runner's encoding of this data "
                    "with charset '%s'",
                    cs);
                rc = -SK_ENOTSUP;
                reported = true;
            }
        }
    }
    /* "#method# #uri##version#\r\n#headers#\r\n#data#", replaced in turn. */
    if (rc == 0) {
        rc = sk_buf_append_c(&req, "#method# #uri##version#\r\n#headers#\r\n"
                                   "#data#");
    }
    if (rc == 0) {
        rc = replace_all(&req, "#method#", method, mlen);
    }
    if (rc == 0) {
        /* The runner appended one space to the URI (for "HEAD" alone). */
        char *u = sk_arena_alloc(c->ta, ulen + 1);
        if (u != NULL) {
            memcpy(u, uri, ulen);
            u[ulen] = ' ';
        }
        rc = u ? replace_all(&req, "#uri#", u, ulen + 1) : -SK_ENOMEM;
    }
    if (rc == 0) {
        rc = replace_all(&req, "#version#", version, vlen);
    }
    if (rc == 0) {
        struct sk_buf hs = {0};
        for (size_t i = 0; rc == 0 && i < h->n; i++) {
            if (hs.len + h->v[i].nlen + h->v[i].vlen + 4 >
                SK_FTW_MAX_REQUEST_BYTES) {
                rc = -SK_ELIMIT;
                break;
            }
            rc = sk_buf_append(&hs, h->v[i].name, h->v[i].nlen);
            if (rc == 0) {
                rc = sk_buf_append(&hs, ": ", 2);
            }
            if (rc == 0) {
                rc = sk_buf_append(&hs, h->v[i].value, h->v[i].vlen);
            }
            if (rc == 0) {
                rc = sk_buf_append(&hs, "\r\n", 2);
            }
        }
        if (rc == 0) {
            rc = replace_all(&req, "#headers#", (const char *)hs.p, hs.len);
        }
        sk_buf_fini(&hs);
    }
    if (rc == 0) {
        rc = replace_all(&req, "#data#", (const char *)data.p, data.len);
    }
    sk_buf_fini(&data);
    if (rc == 0 && raw != NULL) {
        sk_buf_clear(&req);
        rc = sk_ftw_unicode_unescape((const uint8_t *)raw, rlen, &req, &why);
        at = sk__ymap_get(in, "raw_request");
    } else if (rc == 0 && enc != NULL) {
        sk_buf_clear(&req);
        rc = sk_ftw_b64decode((const uint8_t *)enc, elen, &req, &why);
        at = sk__ymap_get(in, "encoded_request");
    }
    if (reported) {
        sk_buf_fini(&req);
        return false; /* already reported */
    }
    ok = report_rc(c, at, rc, "cannot build the request", why);
    if (ok) {
        char *r = keep(c, (const char *)req.p, req.len);
        st->request = sk_str_make(r, r ? req.len : 0);
        ok = r != NULL;
    }
    sk_buf_fini(&req);
    return ok;
}

static bool
load_output(struct ctx *c, const struct sk__ynode *o, struct sk_ftw_output *out)
{
    static const char *const keys[] = {
        "log_contains", "no_log_contains",   "status",
        "expect_error", "response_contains", NULL};
    if (o == NULL || o->kind != SK__Y_MAP) {
        ERR(c, o, "a stage's 'output' must be a mapping, not %s",
            sk__ynode_what(o));
        return false;
    }
    if (!check_keys(c, o, "a stage's output", keys)) {
        return false;
    }
    char *lc, *nlc, *rc;
    size_t lcl = 0, nlcl = 0, rcl = 0;
    bool ok = get_str(c, o, "log_contains", NULL, &lc, &lcl);
    ok &= get_str(c, o, "no_log_contains", NULL, &nlc, &nlcl);
    ok &= get_str(c, o, "response_contains", NULL, &rc, &rcl);
    if (!ok) {
        return false;
    }
    out->log_contains = keep(c, lc, lcl);
    out->no_log_contains = keep(c, nlc, nlcl);
    out->response_contains = keep(c, rc, rcl);
    const struct sk__ynode *ee = sk__ymap_get(o, "expect_error");
    if (ee != NULL) {
        if (!get_bool(c, o, "expect_error", false, &out->expect_error)) {
            return false;
        }
        out->has_expect_error = true;
    }
    const struct sk__ynode *s = sk__ymap_get(o, "status");
    if (s != NULL) {
        size_t n = s->kind == SK__Y_SEQ ? s->n : 1;
        const struct sk__ynode *const *v =
            s->kind == SK__Y_SEQ ? (const struct sk__ynode *const *)s->items
                                 : &s;
        if (s->kind == SK__Y_MAP || n == 0) {
            ERR(c, s, "'status' must be an integer or a list of them");
            return false;
        }
        out->status = sk_arena_calloc(c->a, n, sizeof(int));
        if (out->status == NULL) {
            c->nomem = true;
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (v[i]->kind != SK__Y_SCALAR || v[i]->type != SK__YS_INT ||
                v[i]->ival < 0 || v[i]->ival > 999) {
                ERR(c, v[i], "'status' must be HTTP status codes, not %s",
                    sk__ynode_what(v[i]));
                return false;
            }
            out->status[i] = (int)v[i]->ival;
        }
        out->nstatus = n;
    }
    /* The runner refused an output that checks nothing. */
    if (out->nstatus == 0 && lc == NULL && nlc == NULL && rc == NULL &&
        !out->expect_error) {
        ERR(c, o,
            "output needs one of status, log_contains, "
            "no_log_contains, response_contains or expect_error");
        return false;
    }
    return true;
}

static bool
load_test(struct ctx *c, const struct sk__ynode *t, struct sk_ftw_test *out)
{
    static const char *const keys[] = {"test_title", "desc", "stages", NULL};
    if (t->kind != SK__Y_MAP) {
        ERR(c, t, "a test must be a mapping, not %s", sk__ynode_what(t));
        return false;
    }
    out->line = t->line;
    bool ok = check_keys(c, t, "a test", keys);
    const struct sk__ynode *title = sk__ymap_get(t, "test_title");
    size_t tl = 0;
    const char *ts = sk__yscalar_pystr(c->ta, title, &tl);
    if (ts == NULL) {
        ERR(c, title ? title : t, "a test needs a 'test_title' (got %s)",
            sk__ynode_what(title));
        ok = false;
    } else {
        out->title = keep(c, ts, tl);
    }
    char *desc;
    ok &= get_str(c, t, "desc", NULL, &desc, NULL);
    const struct sk__ynode *stages = sk__ymap_get(t, "stages");
    if (stages == NULL || stages->kind != SK__Y_SEQ) {
        ERR(c, stages ? stages : t, "a test needs a list of 'stages' (got %s)",
            sk__ynode_what(stages));
        return false;
    }
    out->stages =
        sk_arena_calloc(c->a, stages->n ? stages->n : 1, sizeof(*out->stages));
    if (out->stages == NULL) {
        c->nomem = true;
        return false;
    }
    for (size_t i = 0; i < stages->n; i++) {
        const struct sk__ynode *w = stages->items[i];
        const struct sk__ynode *s = sk__ymap_get(w, "stage");
        static const char *const wkeys[] = {"stage", NULL};
        static const char *const skeys[] = {"input", "output", NULL};
        if (w->kind != SK__Y_MAP || s == NULL || s->kind != SK__Y_MAP) {
            ERR(c, w,
                "each item of 'stages' must be a mapping 'stage:' "
                "(got %s)",
                sk__ynode_what(w));
            ok = false;
            continue;
        }
        if (!check_keys(c, w, "a stages item", wkeys) ||
            !check_keys(c, s, "a stage", skeys)) {
            ok = false;
            continue;
        }
        const struct sk__ynode *in = sk__ymap_get(s, "input");
        struct sk_ftw_stage *st = &out->stages[i];
        if (in == NULL || in->kind != SK__Y_MAP) {
            ERR(c, in ? in : s, "a stage needs an 'input' mapping (got %s)",
                sk__ynode_what(in));
            ok = false;
            continue;
        }
        st->line = in->line;
        ok &= build_request(c, in, st);
        ok &= load_output(c, sk__ymap_get(s, "output"), &st->out);
    }
    out->nstages = stages->n;
    return ok;
}

static bool
load_root(struct ctx *c, const struct sk__ynode *root, struct sk_ftw_file *out)
{
    static const char *const keys[] = {"meta", "tests", NULL};
    static const char *const mkeys[] = {"author", "description", "enabled",
                                        "name", NULL};
    if (root == NULL || root->kind != SK__Y_MAP) {
        ERR(c, root, "an ftw file must be a mapping with 'meta' and 'tests'");
        return false;
    }
    bool ok = check_keys(c, root, "the file", keys);
    const struct sk__ynode *meta = sk__ymap_get(root, "meta");
    if (meta == NULL || meta->kind != SK__Y_MAP) {
        ERR(c, meta ? meta : root, "'meta' must be a mapping (got %s)",
            sk__ynode_what(meta));
        ok = false;
    } else {
        char *name, *author, *descr;
        size_t nl = 0;
        ok &= check_keys(c, meta, "meta", mkeys);
        ok &= get_bool(c, meta, "enabled", true, &out->enabled);
        ok &= get_str(c, meta, "author", NULL, &author, NULL);
        ok &= get_str(c, meta, "description", NULL, &descr, NULL);
        if (get_str(c, meta, "name", NULL, &name, &nl) && name == NULL) {
            ERR(c, meta, "'meta' needs a 'name'");
            ok = false;
        } else if (name != NULL) {
            out->name = keep(c, name, nl);
        } else {
            ok = false;
        }
    }
    const struct sk__ynode *tests = sk__ymap_get(root, "tests");
    if (tests == NULL || tests->kind != SK__Y_SEQ) {
        ERR(c, tests ? tests : root, "'tests' must be a list (got %s)",
            sk__ynode_what(tests));
        return false;
    }
    out->tests =
        sk_arena_calloc(c->a, tests->n ? tests->n : 1, sizeof(*out->tests));
    if (out->tests == NULL) {
        c->nomem = true;
        return false;
    }
    for (size_t i = 0; i < tests->n && !c->nomem; i++) {
        ok &= load_test(c, tests->items[i], &out->tests[i]);
    }
    out->ntests = tests->n;
    return ok;
}

int
sk_ftw_load_mem(struct sk_arena *a, const char *path, const void *p, size_t len,
                struct sk_ftw_file *out, struct sk_diag *d)
{
    memset(out, 0, sizeof(*out));
    out->enabled = true;
    out->path = sk_arena_strdup(a, path);
    if (out->path == NULL) {
        return -SK_ENOMEM;
    }
    struct ctx c = {a, NULL, d, out->path, false, NULL};
    if (len > SK_FTW_MAX_FILE_BYTES) {
        struct sk_loc loc = {out->path, 0, 0};
        sk_diag_error(d, &loc, "file larger than %d bytes",
                      SK_FTW_MAX_FILE_BYTES);
        return -SK_ELIMIT;
    }
    c.ta = sk_arena_new(0);
    c.h = c.ta ? sk_arena_alloc(c.ta, sizeof(*c.h)) : NULL;
    if (c.h == NULL) {
        sk_arena_free(c.ta);
        return -SK_ENOMEM;
    }
    struct sk__ynode *root = NULL;
    int rc = sk__ytree_parse(c.ta, p, len, out->path, &root, d);
    if (rc == 0) {
        bool ok = load_root(&c, root, out);
        rc = c.nomem ? -SK_ENOMEM : ok ? 0 : -SK_EPARSE;
    }
    sk_arena_free(c.ta);
    if (rc != 0) {
        out->tests = NULL;
        out->ntests = 0;
    }
    return rc;
}

/* Reads a whole file of at most `max` bytes into a heap buffer. */
static int
read_file(const char *path, size_t max, struct sk_buf *b, struct sk_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        struct sk_loc loc = {path, 0, 0};
        sk_diag_error(d, &loc, "cannot open: %s", strerror(errno));
        return -SK_EIO;
    }
    int rc = 0;
    for (;;) {
        if (b->len > max) {
            struct sk_loc loc = {path, 0, 0};
            sk_diag_error(d, &loc, "file larger than %zu bytes", max);
            rc = -SK_ELIMIT;
            break;
        }
        rc = sk_buf_reserve(b, 65536);
        if (rc != 0) {
            break;
        }
        ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            struct sk_loc loc = {path, 0, 0};
            sk_diag_error(d, &loc, "cannot read: %s", strerror(errno));
            rc = -SK_EIO;
            break;
        }
        if (n == 0) {
            break;
        }
        b->len += (size_t)n;
    }
    close(fd);
    return rc;
}

int
sk_ftw_load(struct sk_arena *a, const char *path, struct sk_ftw_file *out,
            struct sk_diag *d)
{
    struct sk_buf b = {0};
    memset(out, 0, sizeof(*out));
    int rc = read_file(path, SK_FTW_MAX_FILE_BYTES, &b, d);
    if (rc == 0) {
        rc = sk_ftw_load_mem(a, path, b.p ? (const void *)b.p : "", b.len, out,
                             d);
    }
    sk_buf_fini(&b);
    return rc;
}

static bool
load_override(struct ctx *c, const struct sk__ynode *m,
              struct sk_ftw_override *o)
{
    static const char *const keys[] = {"test_title",         "reason",
                                       "log_contains",       "no_log_contains",
                                       "expect_pass_anyway", NULL};
    if (m->kind != SK__Y_MAP) {
        ERR(c, m, "an override must be a mapping, not %s", sk__ynode_what(m));
        return false;
    }
    bool ok = check_keys(c, m, "an override", keys);
    const struct sk__ynode *t = sk__ymap_get(m, "test_title");
    size_t tl = 0;
    const char *ts = sk__yscalar_pystr(c->ta, t, &tl);
    if (t == NULL || ts == NULL || tl == 0) {
        ERR(c, t ? t : m, "an override needs a 'test_title'");
        ok = false;
    } else {
        o->test_title = keep(c, ts, tl);
    }
    char *reason, *lc, *nlc;
    size_t rl = 0, lcl = 0, nlcl = 0;
    if (get_str(c, m, "reason", NULL, &reason, &rl)) {
        size_t k = 0;
        while (k < rl && is_py_space((uint8_t)reason[k])) {
            k++;
        }
        if (reason == NULL || k == rl) {
            ERR(c, sk__ymap_get(m, "reason") ? sk__ymap_get(m, "reason") : m,
                "override '%s' needs a non-empty 'reason'", ts ? ts : "?");
            ok = false;
        } else {
            o->reason = keep(c, reason, rl);
        }
    } else {
        ok = false;
    }
    if (get_str(c, m, "log_contains", NULL, &lc, &lcl) &&
        get_str(c, m, "no_log_contains", NULL, &nlc, &nlcl)) {
        o->log_contains = keep(c, lc, lcl);
        o->no_log_contains = keep(c, nlc, nlcl);
    } else {
        ok = false;
    }
    ok &= get_bool(c, m, "expect_pass_anyway", false, &o->expect_pass_anyway);
    return ok;
}

int
sk_ftw_load_overrides(struct sk_arena *a, const char *path,
                      struct sk_ftw_override **out, size_t *n,
                      struct sk_diag *d)
{
    *out = NULL;
    *n = 0;
    struct sk_buf b = {0};
    int rc = read_file(path, SK_FTW_MAX_FILE_BYTES, &b, d);
    if (rc == 0) {
        rc = sk_ftw_load_overrides_mem(a, path, b.p ? (const void *)b.p : "",
                                       b.len, out, n, d);
    }
    sk_buf_fini(&b);
    return rc;
}

int
sk_ftw_load_overrides_mem(struct sk_arena *a, const char *path, const void *p,
                          size_t len, struct sk_ftw_override **out, size_t *n,
                          struct sk_diag *d)
{
    *out = NULL;
    *n = 0;
    char *file = sk_arena_strdup(a, path);
    if (file == NULL) {
        return -SK_ENOMEM;
    }
    if (len > SK_FTW_MAX_FILE_BYTES) {
        struct sk_loc loc = {file, 0, 0};
        sk_diag_error(d, &loc, "file larger than %d bytes",
                      SK_FTW_MAX_FILE_BYTES);
        return -SK_ELIMIT;
    }
    struct ctx c = {a, sk_arena_new(0), d, file, false, NULL};
    if (c.ta == NULL) {
        return -SK_ENOMEM;
    }
    struct sk__ynode *root = NULL;
    int rc = sk__ytree_parse(c.ta, p, len, file, &root, d);
    if (rc == 0 && root != NULL &&
        !(root->kind == SK__Y_SCALAR && root->type == SK__YS_NULL)) {
        bool ok = true;
        struct sk_ftw_override *v = NULL;
        if (root->kind != SK__Y_SEQ) {
            ERR(&c, root, "overrides must be a list, not %s",
                sk__ynode_what(root));
            ok = false;
        } else if (root->n > 0) {
            v = sk_arena_calloc(a, root->n, sizeof(*v));
            if (v == NULL) {
                c.nomem = true;
            }
        }
        for (size_t i = 0; v != NULL && i < root->n; i++) {
            if (!load_override(&c, root->items[i], &v[i])) {
                ok = false;
                continue;
            }
            for (size_t j = 0; j < i; j++) {
                if (v[j].test_title != NULL && v[i].test_title != NULL &&
                    strcmp(v[j].test_title, v[i].test_title) == 0) {
                    ERR(&c, root->items[i], "override for '%s' repeated",
                        v[i].test_title);
                    ok = false;
                }
            }
        }
        rc = c.nomem ? -SK_ENOMEM : ok ? 0 : -SK_EPARSE;
        if (rc == 0 && v != NULL) {
            *out = v;
            *n = root->n;
        }
    }
    sk_arena_free(c.ta);
    return rc;
}
