/* SPDX-License-Identifier: Apache-2.0 */
/*
 * multipart/form-data parsing that raises ModSecurity's MULTIPART_* flags
 * under the same conditions as libmodsecurity v3.0.9, so that CRS and the
 * strict-validation rules of modsecurity.conf (200002-200004) decide the
 * same way. ModSecurity reads the body through a 4096-byte line buffer and
 * several of its checks depend on where that buffer is cut, so this parser
 * walks the body in the same "segments": a segment ends after a LF, when
 * it reaches 4096 bytes, or before a CR that would be its 4096th byte.
 * The body is buffered whole, so part values are views into it.
 *
 * Where v3.0.9 silently lets a malformed body through, we follow v2 and
 * report an error instead (fail closed): an empty boundary, a duplicate
 * part header; MULTIPART_STRICT_ERROR includes the processor error (as in
 * v2); form-data values keep their inner line breaks (v3.0.9 drops them,
 * v2 and PHP keep them). docs/formats/http-strictness.md lists these.
 */
#include "http/multipart.h"

#include "util/error.h"
#include "util/limits.h"

/* ModSecurity's MULTIPART_BUF_SIZE: line buffer and header size bound. */
#define MP_BUF 4096
/* ModSecurity refuses Content-Type values longer than this. */
#define MP_CT_MAX 1024

struct mp_hdr {
    struct sk_str name;
    struct sk_str value;
};

struct mp_part {
    struct mp_hdr *hdrs;
    size_t nhdrs, caphdrs;
    long last_hdr;           /* index of the header folding continues, or -1 */
    struct sk_str last_line; /* completed header line not yet recorded */
    struct sk_str *lines;
    size_t nlines, caplines;
    struct sk_str name, filename;
    bool is_file;
    int state; /* 0: headers, 1: data */
    bool data_read;
    bool have_data;
    size_t data_start, data_end;
    bool file_counted;
};

struct mp {
    struct sk_arena *a;
    struct sk_str body;
    struct sk_str b; /* the boundary */
    struct sk_mp_result *res;
    const struct sk_mp_opts *opts;
    size_t cap_parts;
    size_t boundary_count;
    size_t nfiles;
    bool crlf_line;
    bool is_complete;
    bool contains_line;
    int crlf_state, crlf_state_buf_end;
    bool have_cur;
    struct mp_part cur;
};

static bool
is_c_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static uint8_t
at(struct sk_str s, size_t i)
{
    return i < s.len ? s.p[i] : 0;
}

/* Records the first error message (REQBODY_PROCESSOR_ERROR). */
static void
set_error(struct mp *m, const char *msg)
{
    if (!m->res->error) {
        m->res->error = 1;
        m->res->error_msg = msg;
    }
}

/*
 * Returns an arena array able to hold `need` elements of `elsz` bytes: `arr`
 * itself when it is large enough, else a copy twice as large (*cap
 * updated). NULL on exhaustion.
 */
static void *
grow(struct sk_arena *a, void *arr, size_t *cap, size_t need, size_t elsz)
{
    if (need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *n = sk_arena_calloc(a, ncap, elsz);
    if (n == NULL)
        return NULL;
    if (*cap > 0)
        memcpy(n, arr, *cap * elsz);
    *cap = ncap;
    return n;
}

/* Boundary extraction from Content-Type ---------------------------------- */

/*
 * Counts "boundary" (any case) occurrences that have a '=' somewhere after
 * them, the way ModSecurity detects repeated boundary parameters.
 */
static int
count_boundary_params(struct sk_str s)
{
    static const char kw[] = "boundary";
    int count = 0;
    size_t i = 0;
    while (i + 8 <= s.len) {
        size_t k = 0;
        while (k < 8 && sk_ascii_lower(s.p[i + k]) == (uint8_t)kw[k])
            k++;
        if (k < 8) {
            i++;
            continue;
        }
        i += 8;
        if (memchr(s.p + i, '=', s.len - i) != NULL)
            count++;
    }
    return count;
}

/* RFC 2046 bchars; a space is allowed except as the last character. */
static bool
boundary_chars_valid(struct sk_str b)
{
    for (size_t i = 0; i < b.len; i++) {
        uint8_t c = b.p[i];
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
            (c >= 'a' && c <= 'z'))
            continue;
        if (c == ' ' && i + 1 < b.len)
            continue;
        if (c != '\'' && c != '(' && c != ')' && c != '+' && c != '_' &&
            c != ',' && c != '-' && c != '.' && c != '/' && c != ':' &&
            c != '=' && c != '?')
            return false;
    }
    return true;
}

static int
init_boundary(struct mp *m, struct sk_str ct)
{
    struct sk_mp_result *r = m->res;
    /* ModSecurity works on the C string: stop at a NUL. */
    const uint8_t *nul = ct.len ? memchr(ct.p, 0, ct.len) : NULL;
    if (nul != NULL)
        ct.len = (size_t)(nul - ct.p);
    if (ct.len == 0) {
        set_error(m, "Multipart: Content-Type header not available.");
        return -1;
    }
    if (ct.len > MP_CT_MAX) {
        set_error(m, "Multipart: Invalid boundary in C-T (length).");
        return -1;
    }
    if (ct.len < 19 ||
        !sk_str_eq_c_nocase(sk_str_make(ct.p, 19), "multipart/form-data")) {
        set_error(m, "Multipart: Invalid MIME type.");
        return -1;
    }
    if (count_boundary_params(ct) > 1) {
        set_error(m, "Multipart: Multiple boundary parameters in C-T.");
        return -1;
    }
    long bt = sk_str_find(ct, SK_STR_LIT("boundary"));
    if (bt < 0) {
        set_error(m, count_boundary_params(ct) > 0
                         ? "Multipart: Invalid boundary in C-T (case "
                           "sensitivity)."
                         : "Multipart: Boundary not found in C-T.");
        return -1;
    }
    bool seen_semicolon = false;
    for (size_t i = 19; i < (size_t)bt; i++) {
        if (is_c_space(ct.p[i]))
            continue;
        if (!seen_semicolon && ct.p[i] == ';') {
            seen_semicolon = true;
            continue;
        }
        set_error(m, "Multipart: Invalid boundary in C-T (malformed).");
        return -1;
    }
    if (!seen_semicolon)
        r->missing_semicolon = 1;
    size_t pn = (size_t)bt + 8;
    const uint8_t *eq = memchr(ct.p + pn, '=', ct.len - pn);
    if (eq == NULL) {
        set_error(m, "Multipart: Invalid boundary in C-T (malformed).");
        return -1;
    }
    size_t e = (size_t)(eq - ct.p);
    for (size_t i = pn; i < e; i++) {
        if (!is_c_space(ct.p[i])) {
            set_error(m, "Multipart: Invalid boundary in C-T (parameter "
                         "name).");
            return -1;
        }
        r->boundary_whitespace = 1;
    }
    struct sk_str v = sk_str_make(ct.p + e + 1, ct.len - e - 1);
    if (is_c_space(at(v, 0)))
        r->boundary_whitespace = 1;
    struct sk_str b;
    if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') {
        b = sk_str_make(v.p + 1, v.len - 2);
        r->boundary_quoted = 1;
    } else {
        if (at(v, 0) == '"' || (v.len >= 2 && v.p[v.len - 1] == '"')) {
            set_error(m, "Multipart: Invalid boundary in C-T (quote).");
            return -1;
        }
        b = v;
    }
    /*
     * v3.0.9 gives up silently (no error) on an empty boundary here; we
     * report it like v2 does.
     */
    if (b.len == 0) {
        set_error(m, "Multipart: Invalid boundary in C-T (empty).");
        return -1;
    }
    if (count_boundary_params(b) != 0) {
        set_error(m, "Multipart: Invalid boundary in C-T (content).");
        return -1;
    }
    /* A parameter after the boundary (charset=) is tolerated. */
    if (!boundary_chars_valid(b)) {
        const uint8_t *semi = memchr(b.p, ';', b.len);
        if (semi != NULL)
            b.len = (size_t)(semi - b.p);
    }
    if (!boundary_chars_valid(b)) {
        set_error(m, "Multipart: Invalid boundary in C-T (characters).");
        return -1;
    }
    if (b.len == 0) {
        set_error(m, "Multipart: Invalid boundary in C-T (empty).");
        return -1;
    }
    m->b = b;
    return 0;
}

/* Content-Disposition ----------------------------------------------------- */

/* Whether `c` is one of `set` (never true for NUL, unlike strchr). */
static bool
in_set(const char *set, uint8_t c)
{
    return c != 0 && strchr(set, c) != NULL;
}

static bool
is_token_char(uint8_t c)
{
    if (c <= 32 || c >= 127)
        return false;
    return !in_set("()<>@,;:\\\"/[]?=", c);
}

static bool
is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static bool
is_xdigit(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static void
validate_quotes(struct mp *m, struct sk_str v, uint8_t quote)
{
    if (quote == '"')
        return;
    if (v.len > 0 && memchr(v.p, '\'', v.len) != NULL)
        m->res->invalid_quoting = 1;
}

/*
 * Parses a Content-Disposition value into m->cur (name, filename).
 * Returns 1 or a negative code (ModSecurity's, for the message).
 * Quoted values with escapes are copied into the arena; *oom is set on
 * allocation failure.
 */
static int
parse_cd(struct mp *m, struct sk_str cd, bool *oom)
{
    struct mp_part *pt = &m->cur;
    if (cd.len < 9 || memcmp(cd.p, "form-data", 9) != 0)
        return -1;
    size_t p = 9;
    while (at(cd, p) == '\t' || at(cd, p) == ' ')
        p++;
    if (p >= cd.len)
        return 1;
    if (cd.p[p] != ';')
        return -2;
    p++;
    bool have_star = false;
    while (p < cd.len) {
        while (at(cd, p) == '\t' || at(cd, p) == ' ')
            p++;
        if (p >= cd.len)
            return -3;
        size_t ns = p;
        while (p < cd.len && cd.p[p] != '=' && cd.p[p] != '\t' &&
               cd.p[p] != ' ')
            p++;
        if (p >= cd.len)
            return -4;
        struct sk_str name = sk_str_make(cd.p + ns, p - ns);
        while (at(cd, p) == '\t' || at(cd, p) == ' ')
            p++;
        if (p >= cd.len)
            return -5;
        if (cd.p[p] != '=')
            return -13;
        p++;
        while (at(cd, p) == '\t' || at(cd, p) == ' ')
            p++;
        if (p >= cd.len)
            return -6;
        uint8_t quote = 0;
        bool unterminated = false;
        struct sk_str value;
        if (sk_str_eq_c(name, "filename*")) {
            /* charset'[language]'filename, %-encoded; not decoded. */
            size_t cs = p;
            while (p < cd.len &&
                   (is_alnum(cd.p[p]) || in_set("!#$%&+-^_`{}~", cd.p[p])))
                p++;
            if (at(cd, p) != '\'' || p == cs)
                return -16;
            p++;
            while (p < cd.len && cd.p[p] != '\'')
                p++;
            if (at(cd, p) != '\'')
                return -17;
            p++;
            size_t fs = p;
            while (p < cd.len && cd.p[p] != ';') {
                if (cd.p[p] == '%') {
                    if (!is_xdigit(at(cd, p + 1)) || !is_xdigit(at(cd, p + 2)))
                        return -18;
                    p += 3;
                } else if (is_alnum(cd.p[p]) ||
                           in_set("!#$&+-.^_`~", cd.p[p])) {
                    p++;
                } else {
                    return -19;
                }
            }
            value = sk_str_make(cd.p + fs, p - fs);
        } else if (cd.p[p] == '"' || cd.p[p] == '\'') {
            /* Single quotes are accepted but flagged. */
            quote = cd.p[p];
            if (quote == '\'')
                m->res->invalid_quoting = 1;
            p++;
            if (p >= cd.len)
                return -7;
            uint8_t *buf = sk_arena_alloc(m->a, cd.len - p + 1);
            if (buf == NULL) {
                *oom = true;
                return -99;
            }
            size_t n = 0;
            while (p < cd.len) {
                if (cd.p[p] == '\\') {
                    if (p + 1 >= cd.len)
                        return -8;
                    /* Only the quote and '\' are escapes; IE sends others
                     * unescaped, which are kept as they are. */
                    if (cd.p[p + 1] == quote || cd.p[p + 1] == '\\')
                        p++;
                } else if (cd.p[p] == quote) {
                    break;
                }
                buf[n++] = cd.p[p++];
            }
            buf[n] = '\0';
            value = sk_str_make(buf, n);
            /*
             * v3 reads past the end of the string after an unterminated
             * quote and in practice fails with "-12"; we fail the same way
             * (below, after the value is taken) without reading past.
             */
            unterminated = p >= cd.len;
            p++; /* the closing quote */
        } else {
            size_t vs = p;
            while (p < cd.len && is_token_char(cd.p[p]))
                p++;
            value = sk_str_make(cd.p + vs, p - vs);
        }

        if (sk_str_eq_c(name, "name")) {
            validate_quotes(m, value, quote);
            if (pt->name.len > 0)
                return -14;
            pt->name = value;
        } else if (sk_str_eq_c(name, "filename")) {
            validate_quotes(m, value, quote);
            if (pt->filename.len > 0)
                return -15;
            pt->filename = value;
        } else if (sk_str_eq_c(name, "filename*")) {
            if (have_star)
                return -20;
            have_star = value.len > 0;
        } else {
            return -11;
        }
        if (unterminated)
            return -12;

        if (p < cd.len) {
            while (at(cd, p) == '\t' || at(cd, p) == ' ')
                p++;
            if (p < cd.len) {
                if (cd.p[p] != ';') {
                    uint8_t prev = cd.p[p - 1];
                    if (prev == '\'' || prev == '"')
                        m->res->invalid_quoting = 1;
                    return -12;
                }
                p++;
            }
        }
    }
    if (have_star && pt->filename.len == 0)
        return -21;
    return 1;
}

/* Part headers and data --------------------------------------------------- */

static struct sk_str
chomp(struct sk_str s)
{
    size_t n = s.len;
    while (n > 0 && (s.p[n - 1] == '\r' || s.p[n - 1] == '\n'))
        n--;
    if (n == 0)
        return s; /* std::string find_last_not_of semantics */
    return sk_str_make(s.p, n);
}

static int
record_last_line(struct mp *m)
{
    struct mp_part *pt = &m->cur;
    if (pt->last_line.len == 0)
        return 0;
    struct sk_str *lines = grow(m->a, pt->lines, &pt->caplines, pt->nlines + 1,
                                sizeof(struct sk_str));
    if (lines == NULL)
        return -SK_ENOMEM;
    pt->lines = lines;
    pt->lines[pt->nlines++] = pt->last_line;
    pt->last_line = SK_STR_NULL;
    return 0;
}

static long
find_hdr(const struct mp_part *pt, struct sk_str name)
{
    for (size_t i = 0; i < pt->nhdrs; i++)
        if (sk_str_eq_nocase(pt->hdrs[i].name, name))
            return (long)i;
    return -1;
}

static int
end_of_headers(struct mp *m)
{
    struct mp_part *pt = &m->cur;
    int rc = record_last_line(m);
    if (rc != 0)
        return rc;
    long cdi = find_hdr(pt, SK_STR_LIT("Content-Disposition"));
    if (cdi < 0) {
        set_error(m, "Multipart: Part missing Content-Disposition header.");
        return 0;
    }
    struct sk_str cd = pt->hdrs[cdi].value;
    bool oom = false;
    if (parse_cd(m, cd, &oom) < 0) {
        if (oom)
            return -SK_ENOMEM;
        set_error(m, "Multipart: Invalid Content-Disposition header.");
        return 0;
    }
    if (pt->name.len == 0) {
        set_error(m, "Multipart: Content-Disposition header missing name "
                     "field.");
        return 0;
    }
    if (pt->filename.len > 0) {
        /* Crude parsers look for "filename=": we must agree with them. */
        if (sk_str_find(cd, SK_STR_LIT("filename=")) < 0) {
            set_error(m, "Multipart: Invalid Content-Disposition header "
                         "(filename).");
            return 0;
        }
        pt->is_file = true;
    }
    pt->state = 1;
    pt->data_read = false;
    pt->last_hdr = -1;
    return 0;
}

static int
part_header(struct mp *m, struct sk_str seg)
{
    struct mp_part *pt = &m->cur;
    struct sk_mp_result *r = m->res;
    if (memchr(seg.p, 0, seg.len) != NULL) {
        set_error(m, "Multipart: Nul byte in part headers.");
        return 0;
    }
    if (seg.len > 1 && seg.p[seg.len - 2] == '\r')
        m->crlf_line = true;
    else
        r->lf_line = 1;

    if (sk_str_eq_c(seg, "\r\n") || sk_str_eq_c(seg, "\n"))
        return end_of_headers(m);

    if (is_c_space(seg.p[0])) {
        r->header_folding = 1;
        /* RFC 2557 folding is SP / HTAB; PHP takes any space. */
        if (seg.p[0] != ' ' && seg.p[0] != '\t')
            r->invalid_header_folding = 1;
        if (pt->last_hdr < 0) {
            set_error(m, "Multipart: Invalid part header (folding error).");
            return 0;
        }
        size_t i = 0;
        while (i < seg.len && is_c_space(seg.p[i])) {
            if (seg.p[i] != ' ' && seg.p[i] != '\t')
                r->invalid_header_folding = 1;
            i++;
        }
        struct sk_str add = chomp(sk_str_make(seg.p + i, seg.len - i));
        struct mp_hdr *h = &pt->hdrs[pt->last_hdr];
        size_t nlen = h->value.len + 1 + add.len;
        if (nlen > MP_BUF) {
            set_error(m, "Multipart: Part header too long.");
            return 0;
        }
        /* name ": " value, the value being a suffix of the line */
        size_t llen = h->name.len + 2 + nlen;
        uint8_t *line = sk_arena_alloc(m->a, llen + 1);
        if (line == NULL)
            return -SK_ENOMEM;
        memcpy(line, h->name.p, h->name.len);
        memcpy(line + h->name.len, ": ", 2);
        uint8_t *v = line + h->name.len + 2;
        if (h->value.len > 0)
            memcpy(v, h->value.p, h->value.len);
        v[h->value.len] = ' ';
        if (add.len > 0)
            memcpy(v + h->value.len + 1, add.p, add.len);
        line[llen] = '\0';
        h->value = sk_str_make(v, nlen);
        pt->last_line = sk_str_make(line, llen);
        return 0;
    }

    int rc = record_last_line(m);
    if (rc != 0)
        return rc;
    const uint8_t *colon = memchr(seg.p, ':', seg.len);
    if (colon == NULL) {
        set_error(m, "Multipart: Invalid part header (colon missing).");
        return 0;
    }
    if (colon == seg.p) {
        set_error(m, "Multipart: Invalid part header (header name missing).");
        return 0;
    }
    struct mp_hdr h;
    h.name = sk_str_make(seg.p, (size_t)(colon - seg.p));
    size_t vs = (size_t)(colon - seg.p) + 1;
    while (vs < seg.len && (seg.p[vs] == ' ' || seg.p[vs] == '\t'))
        vs++;
    h.value = chomp(sk_str_make(seg.p + vs, seg.len - vs));
    if (find_hdr(pt, h.name) >= 0) {
        /* v3.0.9 drops the line silently; v2 fails. We fail. */
        set_error(m, "Multipart: Duplicate part header.");
        return 0;
    }
    struct mp_hdr *hdrs = grow(m->a, pt->hdrs, &pt->caphdrs, pt->nhdrs + 1,
                               sizeof(struct mp_hdr));
    if (hdrs == NULL)
        return -SK_ENOMEM;
    pt->hdrs = hdrs;
    pt->last_hdr = (long)pt->nhdrs;
    pt->hdrs[pt->nhdrs++] = h;
    pt->last_line = chomp(seg);
    return 0;
}

static void
part_data(struct mp *m, size_t off, size_t len)
{
    struct mp_part *pt = &m->cur;
    const uint8_t *s = m->body.p + off;
    size_t reserve = 0;
    /* A trailing line break may belong to the next boundary: hold it. */
    if (len >= 1 && s[len - 1] == '\n')
        reserve = (len >= 2 && s[len - 2] == '\r') ? 2 : 1;
    pt->data_read = true;
    if (!pt->have_data) {
        pt->have_data = true;
        pt->data_start = off;
    }
    pt->data_end = off + len - reserve;
    if (pt->is_file && !pt->file_counted) {
        pt->file_counted = true;
        if (m->opts->file_limit > 0 && m->nfiles >= m->opts->file_limit)
            m->res->file_limit_exceeded = 1;
        else
            m->nfiles++;
    }
}

/* Boundaries -------------------------------------------------------------- */

static void
new_part(struct mp *m)
{
    memset(&m->cur, 0, sizeof(m->cur));
    m->cur.last_hdr = -1;
    m->have_cur = true;
}

static int
finish_part(struct mp *m, bool last)
{
    struct sk_mp_result *r = m->res;
    if (m->have_cur) {
        struct mp_part *pt = &m->cur;
        if (pt->name.len > 0) {
            if (r->nparts == m->opts->max_parts)
                return -SK_ELIMIT;
            struct sk_mp_part *parts =
                grow(m->a, r->parts, &m->cap_parts, r->nparts + 1,
                     sizeof(struct sk_mp_part));
            if (parts == NULL)
                return -SK_ENOMEM;
            r->parts = parts;
            struct sk_mp_part *out = &r->parts[r->nparts++];
            out->name = pt->name;
            out->filename = pt->is_file ? pt->filename : SK_STR_NULL;
            out->is_file = pt->is_file;
            out->value = pt->have_data
                             ? sk_str_make(m->body.p + pt->data_start,
                                           pt->data_end - pt->data_start)
                             : sk_str_make(m->body.p, 0);
            out->header_lines = pt->lines;
            out->nheader_lines = pt->nlines;
            if (pt->is_file)
                r->files_combined_size += out->value.len;
        } else {
            r->invalid_part = 1;
        }
        m->have_cur = false;
    }
    if (!last)
        new_part(m);
    return 0;
}

/*
 * Handles one buffer segment. Returns 0 to go on, 1 to stop (a fatal
 * multipart error, recorded), or a negative SK_E* code.
 */
static int
segment(struct mp *m, size_t off, size_t len, bool cut)
{
    struct sk_mp_result *r = m->res;
    struct sk_str seg = sk_str_make(m->body.p + off, len);
    const uint8_t *nul = memchr(seg.p, 0, len);
    size_t slen = nul ? (size_t)(nul - seg.p) : len; /* strlen() */
    const struct sk_str b = m->b;
    bool as_boundary = false;

    if (m->contains_line && slen > 3 && seg.p[0] == '-' && seg.p[1] == '-') {
        if (slen >= b.len + 2 && memcmp(seg.p + 2, b.p, b.len) == 0) {
            if (m->crlf_state_buf_end == 2)
                r->lf_line = 1;
            if (m->have_cur && !m->cur.data_read && m->boundary_count > 0) {
                /* A boundary where part data should begin. */
                r->invalid_part = 1;
            } else {
                size_t be = 2 + b.len;
                bool is_final = false;
                if (at(seg, be) == '-' && at(seg, be + 1) == '-') {
                    is_final = true;
                    be += 2;
                    if (m->is_complete) {
                        set_error(m, "Multipart: Invalid boundary (final "
                                     "duplicate).");
                        return 1;
                    }
                }
                struct sk_str rest = sk_str_make(seg.p + be, len - be);
                if (sk_str_eq_c(rest, "\r\n") || sk_str_eq_c(rest, "\n")) {
                    if (rest.len == 1)
                        r->lf_line = 1;
                    else
                        m->crlf_line = true;
                    int rc = finish_part(m, is_final);
                    if (rc != 0)
                        return rc;
                    if (is_final)
                        m->is_complete = true;
                    as_boundary = true;
                    m->boundary_count++;
                } else {
                    set_error(m, "Multipart: Invalid boundary.");
                    return 1;
                }
            }
        } else {
            if (r->boundary_quoted && slen >= b.len + 3 && seg.p[2] == '"' &&
                memcmp(seg.p + 3, b.p, b.len) == 0) {
                set_error(m, "Multipart: Invalid boundary (quotes).");
                return 1;
            }
            size_t p = 2;
            while (p < slen && is_c_space(seg.p[p]))
                p++;
            if (p != 2 && slen - p >= b.len &&
                memcmp(seg.p + p, b.p, b.len) == 0) {
                set_error(m, "Multipart: Invalid boundary (whitespace).");
                return 1;
            }
            r->unmatched_boundary = 1;
        }
    } else if (m->contains_line) {
        /* Anything that resembles a boundary inside the line? */
        for (size_t i = 0; i + 2 + b.len <= len; i++) {
            if (seg.p[i] == '-' && seg.p[i + 1] == '-' &&
                memcmp(seg.p + i + 2, b.p, b.len) == 0) {
                r->unmatched_boundary = 1;
                break;
            }
        }
    }

    if (as_boundary)
        return 0;
    if (!m->have_cur) {
        r->data_before = 1;
        return 0;
    }
    if (m->cur.state == 0) {
        if (len == MP_BUF || cut) {
            set_error(m, "Multipart: Part header line over 4096 bytes long");
            return 1;
        }
        return part_header(m, seg);
    }
    part_data(m, off, len);
    return 0;
}

static int
walk_body(struct mp *m, size_t *seg_start_out)
{
    const struct sk_str body = m->body;
    size_t pos = 0, seg_start = 0;
    while (pos < body.len) {
        uint8_t c = body.p[pos];
        bool cut = false;
        if (c == '\r' && pos - seg_start == MP_BUF - 1)
            cut = true; /* never end a segment with a CR */
        else
            pos++;
        size_t len = pos - seg_start;
        if (c == '\n' || len == MP_BUF || cut) {
            int rc = segment(m, seg_start, len, cut);
            if (rc != 0)
                return rc;
            seg_start = pos;
            m->contains_line = c == '\n';
            if (c == '\n')
                m->crlf_state = m->crlf_state == 1 ? 3 : 2;
            m->crlf_state_buf_end = m->crlf_state;
        }
        if (c == '\r')
            m->crlf_state = 1;
        else if (c != '\n')
            m->crlf_state = 0;
        if (m->is_complete && pos < body.len) {
            m->res->data_after = 1;
            break;
        }
    }
    *seg_start_out = seg_start;
    return 0;
}

static int
complete(struct mp *m, size_t seg_start)
{
    if (m->is_complete)
        return 0;
    if (m->boundary_count == 0) {
        set_error(m, "Multipart: No boundaries found in payload.");
        return 0;
    }
    /* A final boundary without a line ending at the very end. */
    struct sk_str rest =
        sk_str_make(m->body.p + seg_start, m->body.len - seg_start);
    const struct sk_str b = m->b;
    if (m->contains_line && rest.len == 4 + b.len && rest.p[0] == '-' &&
        rest.p[1] == '-' && memcmp(rest.p + 2, b.p, b.len) == 0 &&
        rest.p[2 + b.len] == '-' && rest.p[3 + b.len] == '-') {
        if (m->crlf_state_buf_end == 2)
            m->res->lf_line = 1;
        if (m->have_cur && !m->cur.data_read)
            m->res->invalid_part = 1;
        int rc = finish_part(m, true);
        if (rc != 0)
            return rc;
        m->is_complete = true;
        return 0;
    }
    set_error(m, "Multipart: Final boundary missing.");
    return 0;
}

/*
 * Parses a buffered multipart/form-data body (see multipart.h). Part
 * values, names and header lines are views into `body` or arena copies;
 * they live as long as both. Returns 0 (malformed input is reported in
 * *res), -SK_ENOMEM or -SK_ELIMIT. Never blocks.
 */
int
sk_multipart_parse_ex(struct sk_arena *a, struct sk_str content_type,
                      struct sk_str body, const struct sk_mp_opts *opts,
                      struct sk_mp_result *res)
{
    memset(res, 0, sizeof(*res));
    struct mp m;
    memset(&m, 0, sizeof(m));
    m.a = a;
    m.body = body;
    m.res = res;
    m.opts = opts;
    m.contains_line = true;
    int rc = 0;
    if (init_boundary(&m, content_type) == 0 && body.len > 0) {
        size_t seg_start = 0;
        rc = walk_body(&m, &seg_start);
        if (rc == 0)
            rc = complete(&m, seg_start);
        else if (rc == 1)
            rc = 0; /* fatal multipart error, recorded in res */
    }
    res->crlf_lf_lines = m.crlf_line && res->lf_line;
    res->strict_error = res->error || res->boundary_quoted ||
                        res->boundary_whitespace || res->data_before ||
                        res->data_after || res->header_folding ||
                        res->lf_line || res->missing_semicolon ||
                        res->invalid_quoting || res->invalid_part ||
                        res->invalid_header_folding || res->file_limit_exceeded;
    return rc;
}

/*
 * Parses a buffered multipart/form-data body without a file limit. See
 * sk_multipart_parse_ex().
 */
int
sk_multipart_parse(struct sk_arena *a, struct sk_str content_type,
                   struct sk_str body, size_t max_parts,
                   struct sk_mp_result *res)
{
    struct sk_mp_opts o = {.max_parts = max_parts, .file_limit = 0};
    return sk_multipart_parse_ex(a, content_type, body, &o, res);
}
