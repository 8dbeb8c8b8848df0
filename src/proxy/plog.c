/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's transaction logs (see plog.h and docs/formats/audit-log.md):
 * append-only files shared by the worker processes, the JSON audit record
 * in the shape of ModSecurity v3's JSON audit log, the combined-format
 * access line and the body of the event-log record of a block.
 *
 * Redaction happens here, in the functions that build the records, before
 * any byte of request data is escaped: the request target's query values
 * are decoded, redacted and re-encoded, secret-named parameters and
 * credential headers are masked whole, and every other value and every
 * piece of rule data goes through sk_redact(). Truncation (of long rule
 * data) happens only after redaction, so that a cut can never leave the
 * leading digits of a card number visible.
 *
 * The JSON writer is ours rather than jansson's because request data is
 * arbitrary bytes: jansson refuses invalid UTF-8, while an audit log must
 * keep what was sent. Valid UTF-8 passes through, control bytes become
 * \uXXXX escapes, and each byte of an invalid sequence becomes \u00XX (so
 * a reader sees it as the Latin-1 character of that byte value).
 */
#include "proxy/plog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evlog/evlog.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"

/* ---- Files ------------------------------------------------------------ */

struct sk_proxy_logfile {
    char *path;
    int fd;
};

static int
open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
sk_proxy_logfile_open(const char *path, struct sk_proxy_logfile **out)
{
    size_t n = strlen(path);
    struct sk_proxy_logfile *f = sk_calloc(1, sizeof(*f));
    if (f == NULL)
        return -SK_ENOMEM;
    f->path = sk_malloc(n + 1);
    if (f->path == NULL) {
        sk_free(f);
        return -SK_ENOMEM;
    }
    memcpy(f->path, path, n + 1);
    f->fd = open_log(path);
    if (f->fd == -1) {
        sk_log(SK_LOG_ERROR, "log file %s: %s", path, strerror(errno));
        sk_free(f->path);
        sk_free(f);
        return -SK_EIO;
    }
    *out = f;
    return 0;
}

/*
 * POSIX makes each write(2) on an O_APPEND descriptor seek to the end and
 * write as one step, and Linux takes the inode lock for the whole write on
 * local file systems (ext4, xfs, btrfs, tmpfs), so a record written by one
 * call never interleaves with another process's record. The limits: a
 * write may still be partial (disk full, a signal after some bytes, a
 * file size limit); we then write the remainder, which is appended after
 * whatever other processes wrote meanwhile, so that record may be split.
 * NFS gives no O_APPEND atomicity at all. Records are small (a few KiB)
 * compared to the sizes at which Linux splits writes, so in practice only
 * a full disk tears one.
 */
int
sk_proxy_logfile_write(struct sk_proxy_logfile *f, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t off = 0;
    unsigned zero = 0;
    while (off < n) {
        ssize_t w = write(f->fd, b + off, n - off);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1) {
            sk_log(SK_LOG_ERROR, "log file %s: %s", f->path, strerror(errno));
            return -SK_EIO;
        }
        if (w == 0) {
            /* Not expected of a regular file; do not spin on it. */
            if (++zero > 3) {
                sk_log(SK_LOG_ERROR, "log file %s: write made no progress",
                       f->path);
                return -SK_EIO;
            }
            continue;
        }
        off += (size_t)w;
    }
    return 0;
}

int
sk_proxy_logfile_reopen(struct sk_proxy_logfile *f)
{
    int fd = open_log(f->path);
    if (fd == -1) {
        sk_log(SK_LOG_ERROR, "log file %s: reopen: %s (keeping the old file)",
               f->path, strerror(errno));
        return -SK_EIO;
    }
    close(f->fd);
    f->fd = fd;
    return 0;
}

void
sk_proxy_logfile_free(struct sk_proxy_logfile *f)
{
    if (f == NULL)
        return;
    close(f->fd);
    sk_free(f->path);
    sk_free(f);
}

/* ---- JSON writing ----------------------------------------------------- */

/* Most rule matches written into one audit record. */
#define PLOG_MAX_MESSAGES 256
/* Longest redacted rule message, data or variable name kept. */
#define PLOG_MAX_FIELD 4096
/*
 * Rule messages and path length in an event-log body. The writer takes at
 * most SK_EVLOG_MAX_BODY (64 KiB) and escaping may grow a byte to six:
 * 12 messages of 512 bytes, the path, host and error stay under 48 KiB.
 * Should a body still be too big, it is built again without messages.
 */
#define PLOG_EVENT_MESSAGES 12
#define PLOG_EVENT_FIELD 512
#define PLOG_EVENT_PATH 2048

/* Length of the valid UTF-8 sequence at p[0..n), or 0 if invalid. */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t min, cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
        cp = c & 0x07;
    } else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Appends the JSON string literal of bytes p[0..n) (with quotes). */
static int
json_bytes(struct sk_buf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = sk_buf_putc(b, '"');
    size_t i = 0;
    while (rc == 0 && i < n) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            uint8_t e[2] = {'\\', c};
            rc = sk_buf_append(b, e, 2);
            i++;
            continue;
        }
        if (c >= 0x20 && c < 0x7f) {
            /* Copy the run of plain ASCII at once. */
            size_t j = i;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' &&
                   p[j] != '\\')
                j++;
            rc = sk_buf_append(b, p + i, j - i);
            i = j;
            continue;
        }
        size_t u = c >= 0x80 ? utf8_len(p + i, n - i) : 0;
        if (u > 0) {
            rc = sk_buf_append(b, p + i, u);
            i += u;
            continue;
        }
        /* A control byte, DEL, or one byte of an invalid sequence. */
        switch (c) {
        case '\n':
            rc = sk_buf_append(b, "\\n", 2);
            break;
        case '\r':
            rc = sk_buf_append(b, "\\r", 2);
            break;
        case '\t':
            rc = sk_buf_append(b, "\\t", 2);
            break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = sk_buf_append(b, e, 6);
        }
        }
        i++;
    }
    if (rc == 0)
        rc = sk_buf_putc(b, '"');
    return rc;
}

static int
json_str(struct sk_buf *b, struct sk_str s)
{
    return json_bytes(b, s.p, s.len);
}

static int
json_c(struct sk_buf *b, const char *s)
{
    return s == NULL ? sk_buf_append_c(b, "null") : json_str(b, sk_str_c(s));
}

/* Appends `"key":` (keys are our own ASCII names). */
static int
json_key(struct sk_buf *b, bool comma, const char *key)
{
    int rc = comma ? sk_buf_putc(b, ',') : 0;
    if (rc == 0)
        rc = json_c(b, key);
    if (rc == 0)
        rc = sk_buf_putc(b, ':');
    return rc;
}

/* ---- Redaction -------------------------------------------------------- */

/* Redacts `in` into `tmp` (cleared) and keeps at most `max` bytes. */
static int
redact_into(struct sk_str in, struct sk_buf *tmp, size_t max)
{
    sk_buf_clear(tmp);
    int rc = sk_redact(in, tmp);
    if (rc == 0 && tmp->len > max) {
        /* Do not leave half a UTF-8 sequence: the escaper would show it,
         * which is harmless but noisy. */
        size_t n = max;
        while (n > 0 && n > max - 3 && (tmp->p[n] & 0xc0) == 0x80)
            n--;
        tmp->len = n;
        rc = sk_buf_append(tmp, "...", 3);
    }
    return rc;
}

/* Appends the redacted JSON string of `in`, at most `max` bytes of it. */
static int
json_redacted(struct sk_buf *b, struct sk_str in, size_t max)
{
    struct sk_buf tmp = {0};
    int rc = redact_into(in, &tmp, max);
    if (rc == 0)
        rc = json_str(b, sk_buf_str(&tmp));
    sk_buf_fini(&tmp);
    return rc;
}

static int
hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = sk_ascii_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Form decoding of a query name or value: '+' is a space, %XX a byte. */
static int
url_decode(struct sk_str in, struct sk_buf *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < in.len; i++) {
        uint8_t c = in.p[i];
        if (c == '+')
            c = ' ';
        else if (c == '%' && i + 2 < in.len && hexval(in.p[i + 1]) >= 0 &&
                 hexval(in.p[i + 2]) >= 0) {
            c = (uint8_t)(hexval(in.p[i + 1]) * 16 + hexval(in.p[i + 2]));
            i += 2;
        }
        rc = sk_buf_putc(out, c);
    }
    return rc;
}

/* Percent-encodes what is not unreserved or a harmless sub-delimiter. */
static int
url_encode(struct sk_str in, struct sk_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < in.len; i++) {
        uint8_t c = in.p[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                     c == '_' || c == '~' || c == '*' || c == ':' || c == '/';
        if (plain)
            rc = sk_buf_putc(out, c);
        else {
            uint8_t e[3] = {'%', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            rc = sk_buf_append(out, e, 3);
        }
    }
    return rc;
}

/*
 * Appends one query or form element (name[=value]) redacted: a secret
 * name's value becomes "***"; otherwise the value is decoded and, when
 * the decoded text holds a card number, replaced by the redacted decoded
 * text re-encoded (so "4111%2D1111..." is caught as well as plain digits);
 * else the raw value goes through sk_redact() as it is.
 */
static int
redact_pair(struct sk_str el, struct sk_buf *out)
{
    const uint8_t *eq = memchr(el.p, '=', el.len);
    struct sk_str name = eq ? sk_str_make(el.p, (size_t)(eq - el.p)) : el;
    struct sk_buf dn = {0}, dv = {0}, rv = {0};
    int rc = url_decode(name, &dn);
    if (rc == 0)
        rc = sk_redact(name, out);
    if (rc != 0 || eq == NULL)
        goto done;
    struct sk_str value = sk_str_make(eq + 1, el.len - name.len - 1);
    rc = sk_buf_putc(out, '=');
    if (rc == 0 && sk_redact_secret_name(sk_buf_str(&dn))) {
        if (value.len > 0)
            rc = sk_buf_append(out, "***", 3);
        goto done;
    }
    if (rc == 0)
        rc = url_decode(value, &dv);
    if (rc == 0)
        rc = sk_redact(sk_buf_str(&dv), &rv);
    if (rc != 0)
        goto done;
    if (!sk_str_eq(sk_buf_str(&dv), sk_buf_str(&rv)))
        rc = url_encode(sk_buf_str(&rv), out);
    else
        rc = sk_redact(value, out);
done:
    sk_buf_fini(&dn);
    sk_buf_fini(&dv);
    sk_buf_fini(&rv);
    return rc;
}

/*
 * Appends a request target (or any URL) redacted: the part before '?'
 * through sk_redact(), then each '&'- or ';'-separated query element
 * through redact_pair().
 */
static int
redact_target(struct sk_str t, struct sk_buf *out)
{
    const uint8_t *q = memchr(t.p, '?', t.len);
    size_t plen = q ? (size_t)(q - t.p) : t.len;
    int rc = sk_redact(sk_str_make(t.p, plen), out);
    if (rc != 0 || q == NULL)
        return rc;
    rc = sk_buf_putc(out, '?');
    size_t i = plen + 1;
    while (rc == 0 && i <= t.len) {
        size_t j = i;
        while (j < t.len && t.p[j] != '&' && t.p[j] != ';')
            j++;
        rc = redact_pair(sk_str_make(t.p + i, j - i), out);
        if (rc == 0 && j < t.len)
            rc = sk_buf_putc(out, t.p[j]);
        i = j + 1;
    }
    return rc;
}

/*
 * Appends a raw request line ("METHOD target PROTOCOL", or anything a
 * refused client sent) redacted: the text between the first and the last
 * space is a target; without two spaces the whole line is.
 */
static int
redact_line(struct sk_str l, struct sk_buf *out)
{
    const uint8_t *sp1 = memchr(l.p, ' ', l.len);
    const uint8_t *sp2 = sp1 ? memrchr(l.p, ' ', l.len) : NULL;
    if (sp1 == NULL || sp2 == sp1)
        return redact_target(l, out);
    size_t a = (size_t)(sp1 - l.p) + 1, z = (size_t)(sp2 - l.p);
    int rc = sk_redact(sk_str_make(l.p, a), out);
    if (rc == 0)
        rc = redact_target(sk_str_make(l.p + a, z - a), out);
    if (rc == 0)
        rc = sk_redact(sk_str_make(l.p + z, l.len - z), out);
    return rc;
}

/* Header value redaction, by header name (see the file comment). */
static int
redact_header(struct sk_str name, struct sk_str value, struct sk_buf *out)
{
    if (sk_str_eq_c_nocase(name, "authorization") ||
        sk_str_eq_c_nocase(name, "proxy-authorization")) {
        /* Keep the scheme ("Basic", "Bearer"): it says what was tried
         * and is no secret. */
        size_t k = 0;
        while (k < value.len && k < 32 &&
               ((value.p[k] >= 'a' && value.p[k] <= 'z') ||
                (value.p[k] >= 'A' && value.p[k] <= 'Z') || value.p[k] == '-'))
            k++;
        int rc = 0;
        if (k > 0 && k < value.len && value.p[k] == ' ') {
            rc = sk_buf_append(out, value.p, k + 1);
        }
        return rc == 0 ? sk_buf_append(out, "***", 3) : rc;
    }
    if (sk_str_eq_c_nocase(name, "cookie") ||
        sk_str_eq_c_nocase(name, "set-cookie") || sk_redact_secret_name(name))
        return sk_buf_append(out, "***", 3);
    if (sk_str_eq_c_nocase(name, "referer") ||
        sk_str_eq_c_nocase(name, "location") ||
        sk_str_eq_c_nocase(name, "content-location"))
        return redact_target(value, out);
    return sk_redact(value, out);
}

/*
 * Appends a JSON object of headers. Repeated names (compared without
 * case) are joined into one member with ", " so that the object has
 * unique keys, as most JSON consumers expect; the first spelling of the
 * name is kept.
 */
static int
json_headers(struct sk_buf *b, const struct sk_http_header *h, size_t n)
{
    int rc = sk_buf_putc(b, '{');
    bool first = true;
    struct sk_buf joined = {0};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = sk_str_eq_nocase(h[k].name, h[i].name);
        if (seen)
            continue;
        if (!first)
            rc = sk_buf_putc(b, ',');
        first = false;
        if (rc == 0)
            rc = json_str(b, h[i].name);
        if (rc == 0)
            rc = sk_buf_putc(b, ':');
        sk_buf_clear(&joined);
        for (size_t k = i; rc == 0 && k < n; k++) {
            if (!sk_str_eq_nocase(h[k].name, h[i].name))
                continue;
            if (joined.len > 0)
                rc = sk_buf_append(&joined, ", ", 2);
            if (rc == 0)
                rc = redact_header(h[k].name, h[k].value, &joined);
        }
        if (rc == 0)
            rc = json_str(b, sk_buf_str(&joined));
    }
    sk_buf_fini(&joined);
    if (rc == 0)
        rc = sk_buf_putc(b, '}');
    return rc;
}

/* ---- Records ---------------------------------------------------------- */

static const char *
engine_name(const struct sk_proxy_txn_info *ti)
{
    if (ti->waf == NULL)
        return "Disabled";
    switch (sk_waf_txn_mode(ti->waf)) {
    case SK_WAF_MODE_ON:
        return ti->detection_only ? "DetectionOnly" : "Enabled";
    case SK_WAF_MODE_DETECTION_ONLY:
        return "DetectionOnly";
    case SK_WAF_MODE_OFF:
        break;
    }
    return "Disabled";
}

static struct sk_str
find_header(const struct sk_http_request *req, const char *name)
{
    for (size_t i = 0; req != NULL && i < req->nheaders; i++)
        if (sk_str_eq_c_nocase(req->headers[i].name, name))
            return req->headers[i].value;
    return SK_STR_NULL;
}

static void
utc(int64_t us, struct tm *tm, long *frac)
{
    time_t s = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    *frac = (long)(us - (int64_t)s * 1000000);
    gmtime_r(&s, tm);
}

/* Anomaly scores and CRS category scores written when the rules set them. */
static const char *const score_names[] = {
    "anomaly_score",
    "inbound_anomaly_score",
    "outbound_anomaly_score",
    "anomaly_score_pl1",
    "anomaly_score_pl2",
    "anomaly_score_pl3",
    "anomaly_score_pl4",
    "sql_injection_score",
    "xss_score",
    "rfi_score",
    "lfi_score",
    "rce_score",
    "php_injection_score",
    "http_violation_score",
    "session_fixation_score",
};

/* A TX value as a JSON number when it is one (an integer), else a string. */
static int
json_tx_value(struct sk_buf *b, const char *v)
{
    size_t n = strlen(v), i = (v[0] == '-') ? 1 : 0;
    bool num = n > i && n - i <= 18;
    for (size_t k = i; num && k < n; k++)
        num = v[k] >= '0' && v[k] <= '9';
    if (num && !(n - i > 1 && v[i] == '0'))
        return sk_buf_append_c(b, v);
    return json_c(b, v);
}

static int
json_scores(struct sk_buf *b, const struct sk_waf_txn *t)
{
    int rc = sk_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0;
         rc == 0 && t != NULL && i < sizeof(score_names) / sizeof(*score_names);
         i++) {
        const char *v = sk_waf_txn_tx(t, score_names[i]);
        if (v == NULL)
            continue;
        rc = json_key(b, !first, score_names[i]);
        first = false;
        if (rc == 0)
            rc = json_tx_value(b, v);
    }
    if (rc == 0)
        rc = sk_buf_putc(b, '}');
    return rc;
}

static int
json_u64(struct sk_buf *b, bool comma, const char *key, uint64_t v)
{
    int rc = json_key(b, comma, key);
    return rc == 0 ? sk_buf_printf(b, "%" PRIu64, v) : rc;
}

static int
json_bool(struct sk_buf *b, bool comma, const char *key, bool v)
{
    int rc = json_key(b, comma, key);
    return rc == 0 ? sk_buf_append_c(b, v ? "true" : "false") : rc;
}

static int
json_cfield(struct sk_buf *b, bool comma, const char *key, const char *v)
{
    int rc = json_key(b, comma, key);
    return rc == 0 ? json_c(b, v) : rc;
}

/*
 * True when a matched variable ("ARGS:password", "ARGS_POST:user[pwd]",
 * "REQUEST_COOKIES:cvv") is a secret field: its logdata and message may
 * quote the value bare ("Matched Data: hunter2 found within ..."), where
 * no name=value pattern gives sk_redact() a hold, so both are masked
 * whole (the rule id, variable name and tags still say what happened).
 */
static bool
var_is_secret(const char *var)
{
    if (var == NULL)
        return false;
    const char *colon = strchr(var, ':');
    return colon != NULL && sk_redact_secret_name(sk_str_c(colon + 1));
}

/* One entry of "messages" for match `i` (see docs/formats/audit-log.md). */
static int
json_message(struct sk_buf *b, const struct sk_waf_txn *t, size_t i)
{
    const struct sk_waf_match *m = sk_waf_txn_match(t, i);
    char num[32];
    struct sk_buf tmp = {0};
    int rc = sk_buf_putc(b, '{');
    bool secret = var_is_secret(m->matched_var_name);
    if (rc == 0)
        rc = json_key(b, false, "message");
    if (rc == 0)
        rc = secret ? json_c(b, "***")
                    : json_redacted(b, sk_str_c(m->msg ? m->msg : ""),
                                    PLOG_MAX_FIELD);
    if (rc == 0)
        rc = json_key(b, true, "details");
    if (rc == 0)
        rc = sk_buf_putc(b, '{');
    if (rc == 0)
        rc = json_key(b, false, "match");
    if (rc == 0)
        rc = sk_buf_printf(&tmp, "Matched variable `%s'",
                           m->matched_var_name ? m->matched_var_name : "");
    if (rc == 0)
        rc = json_redacted(b, sk_buf_str(&tmp), PLOG_MAX_FIELD);
    if (rc == 0)
        rc = json_cfield(b, true, "reference", "");
    snprintf(num, sizeof(num), "%" PRIu64, m->id);
    if (rc == 0)
        rc = json_cfield(b, true, "ruleId", num);
    if (rc == 0)
        rc = json_key(b, true, "file");
    if (rc == 0)
        rc = json_redacted(b, sk_str_c(m->file ? m->file : ""), PLOG_MAX_FIELD);
    snprintf(num, sizeof(num), "%u", m->line);
    if (rc == 0)
        rc = json_cfield(b, true, "lineNumber", num);
    if (rc == 0)
        rc = json_key(b, true, "data");
    if (rc == 0)
        rc = secret ? json_c(b, "***")
                    : json_redacted(b, sk_str_c(m->data ? m->data : ""),
                                    PLOG_MAX_FIELD);
    if (m->severity >= 0)
        snprintf(num, sizeof(num), "%d", m->severity);
    else
        num[0] = '\0';
    if (rc == 0)
        rc = json_cfield(b, true, "severity", num);
    if (rc == 0)
        rc = json_cfield(b, true, "ver", "");
    if (rc == 0)
        rc = json_cfield(b, true, "rev", "");
    if (rc == 0)
        rc = json_key(b, true, "tags");
    if (rc == 0)
        rc = sk_buf_putc(b, '[');
    for (size_t k = 0; rc == 0 && k < m->ntags; k++) {
        if (k > 0)
            rc = sk_buf_putc(b, ',');
        if (rc == 0)
            rc = json_redacted(b, sk_str_c(m->tags[k]), PLOG_MAX_FIELD);
    }
    if (rc == 0)
        rc = sk_buf_putc(b, ']');
    if (rc == 0)
        rc = json_cfield(b, true, "maturity", "0");
    if (rc == 0)
        rc = json_cfield(b, true, "accuracy", "0");
    /* Ours, after ModSecurity's members. */
    snprintf(num, sizeof(num), "%d", m->phase);
    if (rc == 0)
        rc = json_cfield(b, true, "phase", num);
    if (rc == 0)
        rc = json_bool(b, true, "disruptive", m->disruptive);
    if (rc == 0)
        rc = sk_buf_append(b, "}}", 2);
    sk_buf_fini(&tmp);
    return rc;
}

static int
audit_request(struct sk_buf *b, const struct sk_proxy_txn_info *ti)
{
    const struct sk_http_request *req = ti->req;
    struct sk_buf tmp = {0};
    int rc = json_key(b, true, "request");
    if (rc == 0)
        rc = sk_buf_putc(b, '{');
    if (rc == 0)
        rc = json_key(b, false, "method");
    if (rc == 0)
        rc = json_str(b, req ? req->method : SK_STR_NULL);
    if (rc == 0)
        rc = json_key(b, true, "http_version");
    if (rc == 0)
        rc = req ? sk_buf_printf(b, "%u.%u", req->version / 10,
                                 req->version % 10)
                 : sk_buf_append_c(b, "null");
    if (rc == 0)
        rc = json_key(b, true, "uri");
    if (rc == 0 && req != NULL)
        rc = redact_target(req->target, &tmp);
    if (rc == 0)
        rc = json_str(b, sk_buf_str(&tmp));
    if (rc == 0)
        rc = json_key(b, true, "headers");
    if (rc == 0)
        rc = req ? json_headers(b, req->headers, req->nheaders)
                 : sk_buf_append(b, "{}", 2);
    if (rc == 0)
        rc = sk_buf_putc(b, '}');
    sk_buf_fini(&tmp);
    return rc;
}

static int
audit_sekimori(struct sk_buf *b, const struct sk_proxy_txn_info *ti)
{
    struct tm tm;
    long frac;
    char when[64];
    utc(ti->start_us, &tm, &frac);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, frac);
    int rc = json_key(b, true, "sekimori");
    if (rc == 0)
        rc = sk_buf_putc(b, '{');
    if (rc == 0)
        rc = json_cfield(b, false, "time", when);
    if (rc == 0)
        rc = json_u64(b, true, "duration_us", ti->duration_us);
    if (rc == 0)
        rc = json_bool(b, true, "tls", ti->tls);
    if (rc == 0 && ti->peer_ip != NULL)
        rc = json_cfield(b, true, "peer", ti->peer_ip);
    if (rc == 0 && ti->peer_ip != NULL)
        rc = json_u64(b, true, "peer_port", ti->peer_port);
    if (rc == 0)
        rc = json_bool(b, true, "blocked", ti->blocked);
    if (rc == 0)
        rc = json_bool(b, true, "detection_only", ti->detection_only);
    if (rc == 0)
        rc = json_key(b, true, "error");
    if (rc == 0)
        rc = ti->error ? json_redacted(b, sk_str_c(ti->error), PLOG_MAX_FIELD)
                       : sk_buf_append_c(b, "null");
    if (rc == 0 && ti->req == NULL) {
        struct sk_buf tmp = {0};
        rc = redact_line(ti->raw_request_line, &tmp);
        if (rc == 0)
            rc = json_key(b, true, "request_line");
        if (rc == 0)
            rc = json_str(b, sk_buf_str(&tmp));
        sk_buf_fini(&tmp);
    }
    if (rc == 0)
        rc = json_u64(b, true, "bytes_received", ti->bytes_received);
    if (rc == 0)
        rc = json_u64(b, true, "bytes_sent", ti->bytes_sent);
    if (rc == 0)
        rc = json_key(b, true, "scores");
    if (rc == 0)
        rc = json_scores(b, ti->waf);
    size_t nm = ti->waf ? sk_waf_txn_match_count(ti->waf) : 0;
    if (rc == 0)
        rc = json_u64(b, true, "matches", nm);
    if (rc == 0)
        rc = sk_buf_putc(b, '}');
    return rc;
}

int
sk_proxy_audit_format(const struct sk_proxy_txn_info *ti, struct sk_buf *out)
{
    static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed",
                                       "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    size_t start = out->len;
    struct sk_buf b = {0};
    struct tm tm;
    long frac;
    char when[64];
    utc(ti->start_us, &tm, &frac);
    snprintf(when, sizeof(when), "%s %s %2d %02d:%02d:%02d %04d",
             wday[tm.tm_wday % 7], mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, tm.tm_year + 1900);

    int rc = sk_buf_append_c(&b, "{\"transaction\":{");
    if (rc == 0)
        rc = json_cfield(&b, false, "client_ip",
                         ti->client_ip ? ti->client_ip : "");
    if (rc == 0)
        rc = json_cfield(&b, true, "time_stamp", when);
    if (rc == 0)
        rc = json_cfield(&b, true, "server_id", "sekimori");
    if (rc == 0)
        rc = json_u64(&b, true, "client_port", ti->client_port);
    if (rc == 0)
        rc = json_cfield(&b, true, "host_ip",
                         ti->server_ip ? ti->server_ip : "");
    if (rc == 0)
        rc = json_u64(&b, true, "host_port", ti->server_port);
    if (rc == 0)
        rc = json_cfield(&b, true, "unique_id", ti->id ? ti->id : "");
    if (rc == 0)
        rc = audit_request(&b, ti);
    if (rc == 0)
        rc = json_key(&b, true, "response");
    if (rc == 0)
        rc = sk_buf_putc(&b, '{');
    if (rc == 0)
        rc = json_u64(&b, false, "http_code",
                      ti->status > 0 ? (uint64_t)ti->status : 0);
    if (rc == 0)
        rc = json_key(&b, true, "headers");
    if (rc == 0)
        rc = json_headers(&b, ti->resp_headers,
                          ti->resp_headers ? ti->nresp_headers : 0);
    if (rc == 0)
        rc = sk_buf_putc(&b, '}');
    if (rc == 0)
        rc = json_key(&b, true, "producer");
    if (rc == 0)
        rc = sk_buf_putc(&b, '{');
    if (rc == 0)
        rc = json_cfield(&b, false, "modsecurity", "sekimori");
    if (rc == 0)
        rc = json_cfield(&b, true, "connector", "sekimori proxy");
    if (rc == 0)
        rc = json_cfield(&b, true, "secrules_engine", engine_name(ti));
    if (rc == 0)
        rc = json_key(&b, true, "components");
    if (rc == 0)
        rc = sk_buf_append(&b, "[]}", 3);
    if (rc == 0)
        rc = json_key(&b, true, "messages");
    if (rc == 0)
        rc = sk_buf_putc(&b, '[');
    size_t nm = ti->waf ? sk_waf_txn_match_count(ti->waf) : 0;
    for (size_t i = 0; rc == 0 && i < nm && i < PLOG_MAX_MESSAGES; i++) {
        if (i > 0)
            rc = sk_buf_putc(&b, ',');
        if (rc == 0)
            rc = json_message(&b, ti->waf, i);
    }
    if (rc == 0)
        rc = sk_buf_putc(&b, ']');
    if (rc == 0)
        rc = audit_sekimori(&b, ti);
    if (rc == 0)
        rc = sk_buf_append(&b, "}}\n", 3);
    if (rc == 0)
        rc = sk_buf_append(out, b.p, b.len);
    sk_buf_fini(&b);
    if (rc != 0) {
        out->len = start;
        return -SK_ENOMEM;
    }
    return 0;
}

/* Appends bytes for a quoted field of the access log: '"' and '\' are
 * escaped with '\', control bytes, DEL and bytes >= 0x80 as \xHH. */
static int
access_escape(struct sk_buf *b, struct sk_str s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s.len; i++) {
        uint8_t c = s.p[i];
        if (c == '"' || c == '\\') {
            uint8_t e[2] = {'\\', c};
            rc = sk_buf_append(b, e, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            uint8_t e[4] = {'\\', 'x', (uint8_t)hex[c >> 4],
                            (uint8_t)hex[c & 15]};
            rc = sk_buf_append(b, e, 4);
        } else
            rc = sk_buf_putc(b, c);
    }
    return rc;
}

/* A quoted, redacted header value of the access line, "-" when absent. */
static int
access_header(struct sk_buf *b, const struct sk_http_request *req,
              const char *name)
{
    struct sk_str v = find_header(req, name);
    if (v.p == NULL)
        return sk_buf_append_c(b, " \"-\"");
    struct sk_buf tmp = {0};
    int rc = redact_header(sk_str_c(name), v, &tmp);
    if (rc == 0)
        rc = sk_buf_append(b, " \"", 2);
    if (rc == 0)
        rc = access_escape(b, sk_buf_str(&tmp));
    if (rc == 0)
        rc = sk_buf_putc(b, '"');
    sk_buf_fini(&tmp);
    return rc;
}

int
sk_proxy_access_format(const struct sk_proxy_txn_info *ti, struct sk_buf *out)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    size_t start = out->len;
    struct sk_buf b = {0}, tmp = {0};
    struct tm tm;
    long frac;
    utc(ti->start_us, &tm, &frac);
    const char *ip = ti->client_ip && ti->client_ip[0] ? ti->client_ip : "-";
    int rc = access_escape(&b, sk_str_c(ip));
    if (rc == 0)
        rc = sk_buf_printf(&b, " - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"",
                           tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900,
                           tm.tm_hour, tm.tm_min, tm.tm_sec);
    const struct sk_http_request *req = ti->req;
    if (rc == 0 && req != NULL) {
        rc = sk_buf_append_str(&tmp, req->method);
        if (rc == 0)
            rc = sk_buf_putc(&tmp, ' ');
        if (rc == 0)
            rc = redact_target(req->target, &tmp);
        if (rc == 0)
            rc = sk_buf_putc(&tmp, ' ');
        if (rc == 0)
            rc = sk_buf_append_str(&tmp, req->protocol);
    } else if (rc == 0)
        rc = redact_line(ti->raw_request_line, &tmp);
    if (rc == 0)
        rc = access_escape(&b, sk_buf_str(&tmp));
    if (rc == 0)
        rc = sk_buf_printf(&b, "\" %d %" PRIu64,
                           ti->status > 0 ? ti->status : 0, ti->bytes_sent);
    if (rc == 0)
        rc = access_header(&b, req, "referer");
    if (rc == 0)
        rc = access_header(&b, req, "user-agent");
    if (rc == 0)
        rc = sk_buf_putc(&b, '\n');
    if (rc == 0)
        rc = sk_buf_append(out, b.p, b.len);
    sk_buf_fini(&b);
    sk_buf_fini(&tmp);
    if (rc != 0) {
        out->len = start;
        return -SK_ENOMEM;
    }
    return 0;
}

static int
event_build(const struct sk_proxy_txn_info *ti, size_t max_messages,
            struct sk_buf *out)
{
    size_t start = out->len;
    struct sk_buf b = {0}, tmp = {0};
    const struct sk_http_request *req = ti->req;
    struct tm tm;
    long frac;
    char when[64];
    utc(ti->start_us, &tm, &frac);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, frac);
    int rc = sk_buf_putc(&b, '{');
    if (rc == 0)
        rc = json_cfield(&b, false, "id", ti->id ? ti->id : "");
    if (rc == 0)
        rc = json_cfield(&b, true, "time", when);
    if (rc == 0)
        rc = json_cfield(&b, true, "client_ip",
                         ti->client_ip ? ti->client_ip : "");
    /* The peer only when a trusted proxy named another client. */
    if (rc == 0 && ti->peer_ip != NULL && ti->client_ip != NULL &&
        strcmp(ti->peer_ip, ti->client_ip) != 0)
        rc = json_cfield(&b, true, "peer", ti->peer_ip);
    if (rc == 0)
        rc = json_key(&b, true, "method");
    if (rc == 0)
        rc = json_str(&b, req ? req->method : SK_STR_NULL);
    if (rc == 0)
        rc = json_key(&b, true, "host");
    if (rc == 0)
        rc = json_redacted(&b, find_header(req, "host"), 255);
    if (rc == 0) {
        rc = req ? redact_target(req->target, &tmp)
                 : redact_line(ti->raw_request_line, &tmp);
        if (rc == 0 && tmp.len > PLOG_EVENT_PATH) {
            tmp.len = PLOG_EVENT_PATH;
            rc = sk_buf_append(&tmp, "...", 3);
        }
    }
    if (rc == 0)
        rc = json_key(&b, true, "path");
    if (rc == 0)
        rc = json_str(&b, sk_buf_str(&tmp));
    if (rc == 0)
        rc = json_u64(&b, true, "status",
                      ti->status > 0 ? (uint64_t)ti->status : 0);
    if (rc == 0)
        rc = json_bool(&b, true, "blocked", ti->blocked);
    if (rc == 0)
        rc = json_bool(&b, true, "detection_only", ti->detection_only);
    if (rc == 0 && ti->error != NULL) {
        rc = json_key(&b, true, "error");
        if (rc == 0)
            rc = json_redacted(&b, sk_str_c(ti->error), PLOG_EVENT_FIELD);
    }
    size_t nm = ti->waf ? sk_waf_txn_match_count(ti->waf) : 0;
    if (rc == 0 && ti->waf != NULL) {
        struct sk_waf_verdict v;
        sk_waf_txn_verdict(ti->waf, &v);
        if (v.rule_id != 0)
            rc = json_u64(&b, true, "rule_id", v.rule_id);
    }
    if (rc == 0)
        rc = json_key(&b, true, "rule_ids");
    if (rc == 0)
        rc = sk_buf_putc(&b, '[');
    for (size_t i = 0; rc == 0 && i < nm && i < PLOG_MAX_MESSAGES; i++)
        rc = sk_buf_printf(&b, "%s%" PRIu64, i ? "," : "",
                           sk_waf_txn_match(ti->waf, i)->id);
    if (rc == 0)
        rc = sk_buf_putc(&b, ']');
    if (rc == 0)
        rc = json_key(&b, true, "messages");
    if (rc == 0)
        rc = sk_buf_putc(&b, '[');
    for (size_t i = 0; rc == 0 && i < nm && i < max_messages; i++) {
        const struct sk_waf_match *m = sk_waf_txn_match(ti->waf, i);
        sk_buf_clear(&tmp);
        bool secret = var_is_secret(m->matched_var_name);
        const char *data = secret ? "***" : m->data ? m->data : "";
        const char *msg = secret ? "***" : m->msg ? m->msg : "";
        rc = sk_buf_printf(&tmp, "%" PRIu64 ": %s [%s]%s%s", m->id, msg,
                           m->matched_var_name ? m->matched_var_name : "",
                           data[0] ? " " : "", data);
        if (rc == 0 && i > 0)
            rc = sk_buf_putc(&b, ',');
        if (rc == 0)
            rc = json_redacted(&b, sk_buf_str(&tmp), PLOG_EVENT_FIELD);
    }
    if (rc == 0)
        rc = sk_buf_putc(&b, ']');
    if (rc == 0)
        rc = json_key(&b, true, "scores");
    if (rc == 0)
        rc = json_scores(&b, ti->waf);
    if (rc == 0)
        rc = sk_buf_putc(&b, '}');
    if (rc == 0)
        rc = sk_buf_append(out, b.p, b.len);
    sk_buf_fini(&b);
    sk_buf_fini(&tmp);
    if (rc != 0) {
        out->len = start;
        return -SK_ENOMEM;
    }
    return 0;
}

int
sk_proxy_event_format(const struct sk_proxy_txn_info *ti, struct sk_buf *out)
{
    size_t start = out->len;
    int rc = event_build(ti, PLOG_EVENT_MESSAGES, out);
    if (rc == 0 && out->len - start > SK_EVLOG_MAX_BODY) {
        out->len = start;
        rc = event_build(ti, 0, out);
    }
    return rc;
}
