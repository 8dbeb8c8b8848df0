/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential test against libmodsecurity 3.0.9 (Debian's
 * libmodsecurity-dev, built only when it is installed): pseudo-random
 * multipart bodies, query strings and Cookie headers go through both
 * ModSecurity and src/http, and the MULTIPART_* flags,
 * REQBODY_PROCESSOR_ERROR, ARGS and REQUEST_COOKIES must agree. The
 * generator avoids the inputs where we deviate on purpose (see
 * docs/formats/http-strictness.md): empty boundaries, duplicate part
 * headers, unterminated quotes, and v3's UNMATCHED_BOUNDARY value 2.
 */
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/multipart.h"

/* The flags as "PE=.. BQ=.. ..."; ModSecurity expands the same macro. */
#define FLAGS_MSG                                                              \
    "FLAGS PE=%{REQBODY_PROCESSOR_ERROR} BQ=%{MULTIPART_BOUNDARY_QUOTED} "     \
    "BW=%{MULTIPART_BOUNDARY_WHITESPACE} DB=%{MULTIPART_DATA_BEFORE} "         \
    "DA=%{MULTIPART_DATA_AFTER} HF=%{MULTIPART_HEADER_FOLDING} "               \
    "LF=%{MULTIPART_LF_LINE} CLF=%{MULTIPART_CRLF_LF_LINES} "                  \
    "SM=%{MULTIPART_MISSING_SEMICOLON} IQ=%{MULTIPART_INVALID_QUOTING} "       \
    "IP=%{MULTIPART_INVALID_PART} IH=%{MULTIPART_INVALID_HEADER_FOLDING} "     \
    "UB=%{MULTIPART_UNMATCHED_BOUNDARY}"

static const char rules_text[] =
    "SecRuleEngine On\n"
    "SecRequestBodyAccess On\n"
    "SecRule REQBODY_PROCESSOR_ERROR \"@unconditionalMatch\" "
    "\"id:1,phase:2,pass,log,msg:'" FLAGS_MSG "'\"\n"
    "SecRule REQUEST_COOKIES \"@unconditionalMatch\" "
    "\"id:3,phase:1,pass,nolog,"
    "setvar:'tx.ck=%{tx.ck}~%{MATCHED_VAR_NAME}|%{MATCHED_VAR}'\"\n"
    "SecRule TX:ck \"@unconditionalMatch\" "
    "\"id:4,phase:1,pass,log,msg:'LIST %{tx.ck}'\"\n"
    "SecRule ARGS \"@unconditionalMatch\" \"id:5,phase:2,pass,nolog,"
    "setvar:'tx.ar=%{tx.ar}~%{MATCHED_VAR_NAME}|%{MATCHED_VAR}'\"\n"
    "SecRule TX:ar \"@unconditionalMatch\" "
    "\"id:6,phase:2,pass,log,msg:'LIST %{tx.ar}'\"\n";

static char logbuf[1 << 16];

static void
log_cb(void *data, const void *msg)
{
    (void)data;
    size_t have = strlen(logbuf);
    snprintf(logbuf + have, sizeof(logbuf) - have, "%s\n", (const char *)msg);
}

/* Copies the text of the first [msg "<prefix>..."] into out. */
static int
find_msg(const char *prefix, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof(key), "[msg \"%s", prefix);
    const char *p = strstr(logbuf, key);
    if (p == NULL)
        return -1;
    p += 6;
    const char *e = strstr(p, "\"]");
    if (e == NULL)
        return -1;
    snprintf(out, cap, "%.*s", (int)(e - p), p);
    return 0;
}

/* Deterministic generator --------------------------------------------- */

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;

static unsigned
rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 11) % n;
}

static const char *
pick(const char *const *v, unsigned n)
{
    return v[rnd(n)];
}

#define PICK(v) pick((v), sizeof(v) / sizeof((v)[0]))

struct gbuf {
    char p[16384];
    size_t len;
};

static void
put(struct gbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > sizeof(b->p) - 1 - b->len)
        n = sizeof(b->p) - 1 - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
put_eol(struct gbuf *b)
{
    put(b, rnd(8) == 0 ? "\n" : "\r\n");
}

static void
gen_body(struct gbuf *b)
{
    static const char *const bnd[] = {"XyZ",  "XyZ",     "XyZ",  "XyZ",  "XyZ",
                                      " XyZ", "\"XyZ\"", "XyZx", "other"};
    static const char *const cdn[] = {
        "Content-Disposition", "content-disposition", "Content-Disposition "};
    static const char *const sep[] = {": ", ":", ":\t"};
    static const char *const kind[] = {"form-data", "form-data", "attachment",
                                       "form-data "};
    static const char *const semi[] = {"; ", ";", " ; "};
    static const char *const name[] = {
        "\"a\"", "a", "'a'", "\"a b\"", "a'b", "\"x\\\"y\"", "\"a\"x"};
    static const char *const extra[] = {
        "",
        "",
        "",
        "; filename=\"x.php\"",
        "; filename=x.php",
        "; filename=\"\"",
        "; filename='x'",
        "; filename*=UTF-8''x%41.txt",
        "; filename*=UTF-8''x.txt; filename=\"y\"",
        "; size=3"};
    static const char *const fold[] = {" f", "\tf", "\vf"};
    static const char *const data[] = {
        "v", "has --XyZ inside", "--other", "", "x\ry", "--XyZ--", "--XyZ"};
    b->len = 0;
    b->p[0] = '\0';
    if (rnd(10) == 0) {
        put(b, "preamble");
        put_eol(b);
    }
    unsigned nparts = 1 + rnd(3);
    for (unsigned i = 0; i < nparts; i++) {
        put(b, "--");
        put(b, PICK(bnd));
        put_eol(b);
        if (rnd(12) != 0) {
            put(b, PICK(cdn));
            put(b, PICK(sep));
            put(b, PICK(kind));
            if (rnd(10) != 0) {
                put(b, PICK(semi));
                put(b, "name=");
                put(b, PICK(name));
            }
            put(b, PICK(extra));
            put_eol(b);
        }
        if (rnd(4) == 0) {
            put(b, "Content-Type: text/plain");
            put_eol(b);
        }
        if (rnd(10) == 0) {
            put(b, PICK(fold));
            put_eol(b);
        }
        if (rnd(20) == 0) {
            put(b, "NoColon");
            put_eol(b);
        }
        if (rnd(20) != 0)
            put_eol(b);
        unsigned nd = rnd(4);
        for (unsigned k = 0; k < nd; k++) {
            if (rnd(12) == 0) {
                /* Lines around ModSecurity's 4096-byte buffer. */
                static const unsigned lens[] = {4093, 4094, 4095, 4096, 4097};
                unsigned n = lens[rnd(5)];
                char big[4100];
                memset(big, 'A', n);
                big[n] = '\0';
                put(b, big);
            } else {
                put(b, PICK(data));
            }
            put_eol(b);
        }
    }
    unsigned end = rnd(10);
    if (end < 8) {
        put(b, "--XyZ--");
        put_eol(b);
    } else if (end == 8) {
        put(b, "--XyZ--");
    }
    if (rnd(10) == 0)
        put(b, rnd(2) ? "epilogue" : "\r\n");
}

/* Comparison ------------------------------------------------------------ */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Sorts the ~-separated "VAR:name|value" items of ModSecurity's list
 * (dropping the "VAR:" prefix) and joins them with ~.
 */
static void
sort_list(char *list, const char *var, char *out, size_t cap)
{
    char *items[512];
    size_t n = 0;
    size_t vlen = strlen(var);
    for (char *tok = strtok(list, "~"); tok != NULL && n < 512;
         tok = strtok(NULL, "~")) {
        if (strncmp(tok, var, vlen) == 0)
            tok += vlen;
        items[n++] = tok;
    }
    qsort(items, n, sizeof(items[0]), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t have = strlen(out);
        snprintf(out + have, cap - have, "~%s", items[i]);
    }
}

struct ours {
    char list[8192];
};

static int
collect(void *ud, struct sk_str name, struct sk_str value)
{
    struct ours *o = ud;
    size_t have = strlen(o->list);
    snprintf(o->list + have, sizeof(o->list) - have, "~%.*s|%.*s",
             (int)name.len, (const char *)name.p, (int)value.len,
             (const char *)value.p);
    return 0;
}

static Transaction *
run_msc(ModSecurity *ms, RulesSet *rs, const char *uri, const char *ct,
        const char *cookie, const char *body)
{
    logbuf[0] = '\0';
    Transaction *t = msc_new_transaction(ms, rs, NULL);
    msc_process_connection(t, "127.0.0.1", 1234, "127.0.0.1", 80);
    msc_process_uri(t, uri, "POST", "1.1");
    msc_add_request_header(t, (const unsigned char *)"Host",
                           (const unsigned char *)"h");
    if (cookie != NULL)
        msc_add_request_header(t, (const unsigned char *)"Cookie",
                               (const unsigned char *)cookie);
    if (ct != NULL)
        msc_add_request_header(t, (const unsigned char *)"Content-Type",
                               (const unsigned char *)ct);
    msc_process_request_headers(t);
    if (body != NULL)
        msc_append_request_body(t, (const unsigned char *)body, strlen(body));
    msc_process_request_body(t);
    msc_process_logging(t);
    return t;
}

static int failures;

static void
report(const char *what, const char *input, const char *want, const char *got)
{
    if (++failures > 10)
        return;
    fprintf(stderr, "%s mismatch\n input: ", what);
    for (const char *p = input; *p; p++)
        fprintf(stderr, (*p >= 0x20 && *p < 0x7f) ? "%c" : "\\x%02x",
                (unsigned char)*p);
    fprintf(stderr, "\n modsecurity: %s\n sekimori:    %s\n", want, got);
}

static void
diff_multipart(ModSecurity *ms, RulesSet *rs, const char *ct, const char *body)
{
    Transaction *t = run_msc(ms, rs, "/", ct, NULL, body);
    char want[512], got[512];
    if (find_msg("FLAGS", want, sizeof(want)) != 0) {
        report("multipart (no flags)", body, logbuf, "");
        msc_transaction_cleanup(t);
        return;
    }
    msc_transaction_cleanup(t);

    struct sk_arena *a = sk_arena_new(0);
    struct sk_mp_result r;
    sk_multipart_parse(a, sk_str_c(ct), sk_str_c(body), 1000, &r);
    /* v3.0.9 writes 2 once any later boundary matched: not comparable. */
    char *ub = strstr(want, " UB=2");
    snprintf(got, sizeof(got),
             "FLAGS PE=%d BQ=%d BW=%d DB=%d DA=%d HF=%d LF=%d CLF=%d SM=%d "
             "IQ=%d IP=%d IH=%d UB=%d",
             r.error, r.boundary_quoted, r.boundary_whitespace, r.data_before,
             r.data_after, r.header_folding, r.lf_line, r.crlf_lf_lines,
             r.missing_semicolon, r.invalid_quoting, r.invalid_part,
             r.invalid_header_folding, r.unmatched_boundary);
    if (ub != NULL) {
        *ub = '\0';
        *strstr(got, " UB=") = '\0';
    }
    if (strcmp(want, got) != 0)
        report("multipart flags", body, want, got);
    sk_arena_free(a);
}

static void
gen_token(char *out, size_t n, const char *alpha)
{
    size_t k = strlen(alpha);
    for (size_t i = 0; i < n; i++)
        out[i] = alpha[rnd((unsigned)k)];
    out[n] = '\0';
}

static void
diff_pairs(ModSecurity *ms, RulesSet *rs, bool cookies, const char *in)
{
    char uri[256];
    snprintf(uri, sizeof(uri), "/x?%s", in);
    Transaction *t = cookies ? run_msc(ms, rs, "/x", NULL, in, NULL)
                             : run_msc(ms, rs, uri, NULL, NULL, NULL);
    char list[8192] = "", want[8192], got[8192];
    find_msg("LIST", list, sizeof(list));
    msc_transaction_cleanup(t);
    sort_list(list + (list[0] ? 5 : 0),
              cookies ? "REQUEST_COOKIES:" : "ARGS:", want, sizeof(want));

    struct sk_arena *a = sk_arena_new(0);
    struct ours o = {""};
    if (cookies)
        sk_http_parse_cookies(a, sk_str_c(in), 1000, collect, &o);
    else
        sk_http_parse_urlencoded(a, sk_str_c(in), '&', 1000, collect, &o);
    sk_arena_free(a);
    sort_list(o.list, "", got, sizeof(got));
    if (strcmp(want, got) != 0)
        report(cookies ? "cookies" : "args", in, want, got);
}

int
main(int argc, char **argv)
{
    unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 400;
    ModSecurity *ms = msc_init();
    msc_set_log_cb(ms, log_cb);
    RulesSet *rs = msc_create_rules_set();
    const char *err = NULL;
    if (msc_rules_add(rs, rules_text, &err) < 0) {
        fprintf(stderr, "rules: %s\n", err ? err : "?");
        return 1;
    }
    static const char *const cts[] = {
        "multipart/form-data; boundary=XyZ",
        "multipart/form-data; boundary=XyZ",
        "multipart/form-data; boundary=XyZ",
        "multipart/form-data; boundary=\"XyZ\"",
        "multipart/form-data; boundary =XyZ",
        "multipart/form-data; boundary= XyZ",
        "multipart/form-data boundary=XyZ",
        "multipart/form-data; boundary=XyZ; charset=utf-8",
        "multipart/form-data; BOUNDARY=XyZ",
        "multipart/form-data; charset=x; boundary=XyZ",
        "multipart/form-data;boundary=XyZ",
        "Multipart/Form-Data; boundary=XyZ",
        "multipart/form-data; boundary=\"XyZ",
        "multipart/form-data; boundary=Xy{Z",
    };
    static struct gbuf body;
    for (unsigned i = 0; i < rounds; i++) {
        gen_body(&body);
        diff_multipart(ms, rs, PICK(cts), body.p);
        char s[24];
        /* No bytes ModSecurity's log would escape (only %44 decodes). */
        gen_token(s, rnd(14), "xy=&%+4g");
        if (s[0] != '\0') /* v3 skips an empty query */
            diff_pairs(ms, rs, false, s);
        gen_token(s, rnd(14), "ab= ;=c");
        diff_pairs(ms, rs, true, s);
    }
    msc_rules_cleanup(rs);
    msc_cleanup(ms);
    if (failures > 0) {
        fprintf(stderr, "%d mismatches in %u rounds\n", failures, rounds);
        return 1;
    }
    printf("%u rounds agree with libmodsecurity\n", rounds);
    return 0;
}
