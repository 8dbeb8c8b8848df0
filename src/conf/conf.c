/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sekimori.conf (docs/configuration.md): a hand-written lexer (words,
 * double-quoted strings, `{`, `}`, newlines, `#` comments) feeding a
 * recursive-descent parser of `section { name value... }` blocks. Each
 * section's options are rows of a sorted static table; generic handlers
 * (path, duration, size, number, on/off) store through the row's offset
 * and a few specific ones (listen, addresses, enums) do the rest. Every
 * error is reported with file:line:col and parsing goes on to the next
 * line, so that one run shows every problem; sk_conf_load() then resolves
 * names and checks what lives on the file system.
 */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "evlog/evlog.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/limits.h"

/* Input limits of the config file itself. */
#define CONF_MAX_BYTES (1024 * 1024) /* a real config is a few KiB */
#define CONF_MAX_TOKEN 4096          /* PATH_MAX */
#define CONF_MAX_ARGS 64             /* words after an option name */
#define CONF_MAX_LISTEN 64
#define CONF_MAX_RULES 256
#define CONF_MAX_ROWS 64     /* options per section (seen[] bitmap) */
#define CONF_MAX_TRUSTED 256 /* trusted_proxies entries */

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "unsigned is 32 bits");

/* ---- lexer ------------------------------------------------------------- */

enum tok_kind {
    T_EOF = 0,
    T_WORD = 1, /* a bare word or a quoted string */
    T_LBRACE = 2,
    T_RBRACE = 3,
    T_NL = 4,
};

struct tok {
    enum tok_kind kind;
    const char *s; /* T_WORD: NUL-terminated, unescaped, in the arena */
    bool quoted;
    unsigned line, col;
};

struct lexer {
    const char *p;
    size_t len, i;
    unsigned line, col;
};

enum {
    SEC_RUN = 0,
    SEC_LOG = 1,
    SEC_PROXY = 2,
    SEC_FIM = 3,
    SEC_COUNT = 4,
};

struct parser {
    struct lexer lx;
    struct tok t; /* the current token */
    struct sk_conf *c;
    struct sk_diag *d;
    const char *name; /* file name in the arena */
    bool oom;
    /* Where each option was last set (line 0: not set), per section. */
    struct sk_loc seen[SEC_COUNT][CONF_MAX_ROWS];
    bool section_seen[SEC_COUNT];
    /* Locations of the parts of `listen` lines and of `rules` entries. */
    struct sk_loc *cert_locs, *key_locs, *rule_locs;
    size_t cap_listen, cap_rules;
    /* Section-level TLS defaults, applied to `listen ... tls` lines. */
    char *tls_cert, *tls_key;
};

static void __attribute__((format(printf, 4, 5)))
err_at(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sk_loc loc = {ps->name, line, col};
    sk_diag_error(ps->d, &loc, "%s", msg);
}

#define ERR_TOK(ps, tk, ...) err_at((ps), (tk)->line, (tk)->col, __VA_ARGS__)

static bool
is_word_byte(unsigned char ch)
{
    return ch > 0x20 && ch != 0x7f && ch != '{' && ch != '}' && ch != '"' &&
           ch != '#';
}

/* Reads the next token into ps->t. Errors are reported and the bad bytes
 * skipped, so the lexer always makes progress. */
static void
lex(struct parser *ps)
{
    struct lexer *lx = &ps->lx;
    for (;;) {
        while (lx->i < lx->len &&
               (lx->p[lx->i] == ' ' || lx->p[lx->i] == '\t' ||
                lx->p[lx->i] == '\r')) {
            lx->i++;
            lx->col++;
        }
        struct tok *t = &ps->t;
        t->line = lx->line;
        t->col = lx->col;
        t->s = NULL;
        t->quoted = false;
        if (lx->i >= lx->len) {
            t->kind = T_EOF;
            return;
        }
        unsigned char ch = (unsigned char)lx->p[lx->i];
        if (ch == '#') {
            while (lx->i < lx->len && lx->p[lx->i] != '\n')
                lx->i++;
            continue;
        }
        if (ch == '\n') {
            lx->i++;
            lx->line++;
            lx->col = 1;
            t->kind = T_NL;
            return;
        }
        if (ch == '{' || ch == '}') {
            lx->i++;
            lx->col++;
            t->kind = ch == '{' ? T_LBRACE : T_RBRACE;
            return;
        }
        char buf[CONF_MAX_TOKEN + 1];
        size_t n = 0;
        bool bad = false;
        if (ch == '"') {
            lx->i++;
            lx->col++;
            bool closed = false;
            while (lx->i < lx->len && lx->p[lx->i] != '\n') {
                unsigned char c = (unsigned char)lx->p[lx->i];
                unsigned ccol = lx->col;
                lx->i++;
                lx->col++;
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\') {
                    unsigned char e =
                        lx->i < lx->len ? (unsigned char)lx->p[lx->i] : 0;
                    if (e != '"' && e != '\\') {
                        if (!bad)
                            err_at(ps, lx->line, ccol,
                                   "unknown escape in string (only \\\" and "
                                   "\\\\)");
                        bad = true;
                        continue;
                    }
                    c = e;
                    lx->i++;
                    lx->col++;
                } else if (c < 0x20 || c == 0x7f) {
                    if (!bad)
                        err_at(ps, lx->line, ccol,
                               "control character in string");
                    bad = true;
                    continue;
                }
                if (n == CONF_MAX_TOKEN) {
                    if (!bad)
                        err_at(ps, t->line, t->col,
                               "string longer than %d bytes", CONF_MAX_TOKEN);
                    bad = true;
                    continue;
                }
                buf[n++] = (char)c;
            }
            if (!closed && !bad) {
                err_at(ps, t->line, t->col, "unterminated string");
                bad = true;
            }
            t->quoted = true;
        } else if (!is_word_byte(ch)) {
            err_at(ps, lx->line, lx->col, "control character 0x%02x", ch);
            lx->i++;
            lx->col++;
            continue;
        } else {
            while (lx->i < lx->len &&
                   is_word_byte((unsigned char)lx->p[lx->i])) {
                if (n == CONF_MAX_TOKEN) {
                    if (!bad)
                        err_at(ps, t->line, t->col, "word longer than %d bytes",
                               CONF_MAX_TOKEN);
                    bad = true;
                } else {
                    buf[n++] = lx->p[lx->i];
                }
                lx->i++;
                lx->col++;
            }
        }
        if (bad)
            continue; /* reported; the line's statement sees what follows */
        char *s = sk_arena_memdup(ps->c->arena, buf, n);
        if (s == NULL) {
            ps->oom = true;
            t->kind = T_EOF;
            return;
        }
        t->kind = T_WORD;
        t->s = s;
        return;
    }
}

/* ---- value parsers (pure) ---------------------------------------------- */

static int
parse_u64(const char *s, uint64_t *out)
{
    if (s[0] == '\0')
        return -SK_EPARSE;
    return sk_str_to_u64(sk_str_c(s), out);
}

/* "250ms", "10s", "5m", "1h" or "0" into milliseconds. */
static int
parse_duration(const char *s, uint64_t *ms)
{
    size_t n = strlen(s), d = 0;
    while (d < n && s[d] >= '0' && s[d] <= '9')
        d++;
    if (d == 0 || d > 12)
        return -SK_EPARSE;
    uint64_t v;
    if (sk_str_to_u64(sk_str_make(s, d), &v) != 0)
        return -SK_EPARSE;
    const char *u = s + d;
    uint64_t mul;
    if (strcmp(u, "ms") == 0)
        mul = 1;
    else if (strcmp(u, "s") == 0)
        mul = 1000;
    else if (strcmp(u, "m") == 0)
        mul = 60 * 1000;
    else if (strcmp(u, "h") == 0)
        mul = 3600 * 1000;
    else if (u[0] == '\0' && v == 0)
        mul = 1;
    else
        return -SK_EPARSE;
    if (v > UINT64_MAX / mul)
        return -SK_EPARSE;
    *ms = v * mul;
    return 0;
}

/* Bytes, or a number with K, M or G (powers of 1024). */
static int
parse_size(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    uint64_t mul = 1;
    if (n > 0) {
        switch (s[n - 1]) {
        case 'K':
            mul = 1024;
            n--;
            break;
        case 'M':
            mul = 1024 * 1024;
            n--;
            break;
        case 'G':
            mul = 1024 * 1024 * 1024;
            n--;
            break;
        default:
            break;
        }
    }
    uint64_t v;
    if (n == 0 || n > 15 || sk_str_to_u64(sk_str_make(s, n), &v) != 0 ||
        v > UINT64_MAX / mul)
        return -SK_EPARSE;
    *out = v * mul;
    return 0;
}

static bool
is_hostname(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return false;
    }
    return s[0] != '-' && s[0] != '.';
}

/* Splits HOST:PORT ([V6]:PORT); 0, or -SK_EPARSE. */
static int
split_host_port(const char *text, char *host, size_t hostsz, unsigned *port,
                bool *bracketed)
{
    const char *colon;
    const char *h = text;
    size_t hn;
    *bracketed = false;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return -SK_EPARSE;
        h = text + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
        *bracketed = true;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return -SK_EPARSE;
        hn = (size_t)(colon - text);
        if (memchr(text, ':', hn) != NULL)
            return -SK_EPARSE; /* IPv6 without brackets */
    }
    if (hn == 0 || hn >= hostsz)
        return -SK_EPARSE;
    memcpy(host, h, hn);
    host[hn] = '\0';
    const char *ps = colon + 1;
    size_t pn = strlen(ps);
    uint64_t v;
    if (pn == 0 || pn > 5 || sk_str_to_u64(sk_str_make(ps, pn), &v) != 0 ||
        v == 0 || v > 65535)
        return -SK_EPARSE;
    *port = (unsigned)v;
    return 0;
}

int
sk_conf_addr_parse(const char *text, struct sk_conf_addr *out)
{
    memset(out, 0, sizeof(*out));
    out->text = (char *)text;
    if (strncmp(text, "unix:", 5) == 0) {
        const char *path = text + 5;
        struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
        size_t n = strlen(path);
        if (path[0] != '/' || n >= sizeof(un->sun_path))
            return -SK_EPARSE;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, n + 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        out->family = AF_UNIX;
        return 0;
    }
    char host[256];
    unsigned port;
    bool br;
    if (split_host_port(text, host, sizeof(host), &port, &br) != 0)
        return -SK_EPARSE;
    if (br) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return -SK_EPARSE;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*s6);
        out->family = AF_INET6;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)&out->ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        out->len = sizeof(*s4);
        out->family = AF_INET;
        return 0;
    }
    /* All digits and dots but not an IPv4 address: a typo, not a name. */
    if (strspn(host, "0123456789.") == strlen(host))
        return -SK_EPARSE;
    if (!is_hostname(host, strlen(host)))
        return -SK_EPARSE;
    memset(&out->ss, 0, sizeof(out->ss));
    return -SK_ENOTSUP;
}

/* ---- option tables ----------------------------------------------------- */

struct row;
typedef void (*opt_fn)(struct parser *ps, const struct row *r, void *base,
                       struct tok *a, size_t n, const struct tok *name);

struct row {
    const char *name;
    opt_fn fn;
    const char *args;
    const char *doc;
    size_t off;        /* field in the section struct */
    uint64_t min, max; /* for numbers, durations and sizes */
    bool repeat;       /* may be given more than once */
};

static bool
one_arg(struct parser *ps, const struct row *r, size_t n,
        const struct tok *name)
{
    if (n == 1)
        return true;
    ERR_TOK(ps, name, "'%s' takes one value (%s)", r->name, r->args);
    return false;
}

static char *
check_path(struct parser *ps, const struct tok *t)
{
    if (t->s[0] != '/') {
        ERR_TOK(ps, t, "path must be absolute: '%s'", t->s);
        return NULL;
    }
    if (strlen(t->s) >= PATH_MAX) {
        ERR_TOK(ps, t, "path too long");
        return NULL;
    }
    return (char *)t->s;
}

static void
opt_path(struct parser *ps, const struct row *r, void *base, struct tok *a,
         size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    char *p = check_path(ps, &a[0]);
    if (p != NULL)
        memcpy((char *)base + r->off, &p, sizeof(p));
}

/* A socket path: absolute and short enough for sockaddr_un. */
static void
opt_sock(struct parser *ps, const struct row *r, void *base, struct tok *a,
         size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    char *p = check_path(ps, &a[0]);
    if (p == NULL)
        return;
    if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        ERR_TOK(ps, &a[0], "socket path longer than %zu bytes",
                sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return;
    }
    memcpy((char *)base + r->off, &p, sizeof(p));
}

static void
opt_name(struct parser *ps, const struct row *r, void *base, struct tok *a,
         size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    const char *s = a[0].s;
    size_t len = strlen(s);
    bool ok = len > 0 && len <= 255;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)s[i] > 0x20 && s[i] != '/' && s[i] != ':';
    if (!ok) {
        ERR_TOK(ps, &a[0], "'%s': not a valid name", r->name);
        return;
    }
    char *p = (char *)s;
    memcpy((char *)base + r->off, &p, sizeof(p));
}

static void
opt_host(struct parser *ps, const struct row *r, void *base, struct tok *a,
         size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    const char *s = a[0].s;
    size_t len = strlen(s);
    /* A Host header value: a name or address with an optional port. */
    bool ok = len > 0 && len <= 255;
    for (size_t i = 0; ok && i < len; i++) {
        char ch = s[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == ':' ||
             ch == '[' || ch == ']';
    }
    if (!ok) {
        ERR_TOK(ps, &a[0], "'%s': not a host name: '%s'", r->name, s);
        return;
    }
    char *p = (char *)s;
    memcpy((char *)base + r->off, &p, sizeof(p));
}

static void
opt_uint(struct parser *ps, const struct row *r, void *base, struct tok *a,
         size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    uint64_t v;
    if (parse_u64(a[0].s, &v) != 0 || v < r->min || v > r->max) {
        ERR_TOK(ps, &a[0], "'%s' takes a number from %llu to %llu, not '%s'",
                r->name, (unsigned long long)r->min, (unsigned long long)r->max,
                a[0].s);
        return;
    }
    uint32_t u = (uint32_t)v;
    memcpy((char *)base + r->off, &u, sizeof(u));
}

static void
opt_duration(struct parser *ps, const struct row *r, void *base, struct tok *a,
             size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    uint64_t v;
    if (parse_duration(a[0].s, &v) != 0) {
        ERR_TOK(ps, &a[0],
                "'%s' takes a duration (250ms, 10s, 5m, 1h), not "
                "'%s'",
                r->name, a[0].s);
        return;
    }
    if (v < r->min || v > r->max) {
        ERR_TOK(ps, &a[0], "'%s' must be from %llums to %llums, not '%s'",
                r->name, (unsigned long long)r->min, (unsigned long long)r->max,
                a[0].s);
        return;
    }
    uint32_t u = (uint32_t)v;
    memcpy((char *)base + r->off, &u, sizeof(u));
}

static void
opt_size(struct parser *ps, const struct row *r, void *base, struct tok *a,
         size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    uint64_t v;
    if (parse_size(a[0].s, &v) != 0) {
        ERR_TOK(ps, &a[0],
                "'%s' takes a size (bytes, or with K, M, G), not "
                "'%s'",
                r->name, a[0].s);
        return;
    }
    if (v < r->min || v > r->max) {
        ERR_TOK(ps, &a[0], "'%s' must be from %llu to %llu bytes, not '%s'",
                r->name, (unsigned long long)r->min, (unsigned long long)r->max,
                a[0].s);
        return;
    }
    uint32_t u = (uint32_t)v;
    memcpy((char *)base + r->off, &u, sizeof(u));
}

static void
opt_bool(struct parser *ps, const struct row *r, void *base, struct tok *a,
         size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    bool v;
    if (strcmp(a[0].s, "on") == 0)
        v = true;
    else if (strcmp(a[0].s, "off") == 0)
        v = false;
    else {
        ERR_TOK(ps, &a[0], "'%s' takes on or off, not '%s'", r->name, a[0].s);
        return;
    }
    memcpy((char *)base + r->off, &v, sizeof(v));
}

static void
opt_audit_mode(struct parser *ps, const struct row *r, void *base,
               struct tok *a, size_t n, const struct tok *name)
{
    (void)base;
    if (!one_arg(ps, r, n, name))
        return;
    static const char *const modes[] = {"rules", "all", "relevant", "off"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(a[0].s, modes[i]) == 0) {
            ps->c->proxy.audit_mode = (enum sk_conf_audit_mode)i;
            return;
        }
    }
    ERR_TOK(ps, &a[0], "'%s' takes rules, all, relevant or off, not '%s'",
            r->name, a[0].s);
}

static void
opt_durability(struct parser *ps, const struct row *r, void *base,
               struct tok *a, size_t n, const struct tok *name)
{
    (void)base;
    if (!one_arg(ps, r, n, name))
        return;
    enum sk_evlog_durability dur;
    if (sk_evlog_durability_parse(a[0].s, &dur) != 0) {
        ERR_TOK(ps, &a[0], "'%s' takes none, group or record, not '%s'",
                r->name, a[0].s);
        return;
    }
    ps->c->log.durability = (char *)a[0].s;
}

static void
opt_age(struct parser *ps, const struct row *r, void *base, struct tok *a,
        size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    uint64_t secs;
    if (sk_evlog_duration_parse(a[0].s, &secs) != 0 || secs == 0) {
        ERR_TOK(ps, &a[0],
                "'%s' takes an age (90d, 13m as months, 1y, 12h), not '%s'",
                r->name, a[0].s);
        return;
    }
    char *p = (char *)a[0].s;
    memcpy((char *)base + r->off, &p, sizeof(p));
}

static void
opt_syslog(struct parser *ps, const struct row *r, void *base, struct tok *a,
           size_t n, const struct tok *name)
{
    (void)base;
    if (!one_arg(ps, r, n, name))
        return;
    const char *s = a[0].s;
    struct sk_conf_addr ad;
    int rc = -SK_EPARSE;
    if (strncmp(s, "unix:", 5) == 0)
        rc = sk_conf_addr_parse(s, &ad);
    else if (strncmp(s, "udp:", 4) == 0 || strncmp(s, "tcp:", 4) == 0)
        rc = sk_conf_addr_parse(s + 4, &ad);
    if (rc != 0 || (s[0] != 'u' || s[1] != 'n') == (ad.family == AF_UNIX)) {
        ERR_TOK(ps, &a[0],
                "'%s' takes unix:/PATH, udp:IP:PORT or tcp:IP:PORT, not '%s'",
                r->name, s);
        return;
    }
    ps->c->log.syslog = (char *)s;
}

static void
opt_allow_uid(struct parser *ps, const struct row *r, void *base, struct tok *a,
              size_t n, const struct tok *name)
{
    (void)base;
    struct sk_conf_log *l = &ps->c->log;
    if (n == 0) {
        ERR_TOK(ps, name, "'%s' takes one or more numeric uids", r->name);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (parse_u64(a[i].s, &v) != 0 || v >= UINT32_MAX) {
            ERR_TOK(ps, &a[i], "'%s' takes numeric uids, not '%s'", r->name,
                    a[i].s);
            continue;
        }
        if (l->nallow_uids == SK_EVLOG_MAX_UIDS) {
            ERR_TOK(ps, &a[i], "more than %d allowed uids", SK_EVLOG_MAX_UIDS);
            return;
        }
        if (l->allow_uids == NULL) {
            l->allow_uids = sk_arena_calloc(ps->c->arena, SK_EVLOG_MAX_UIDS,
                                            sizeof(*l->allow_uids));
            if (l->allow_uids == NULL) {
                ps->oom = true;
                return;
            }
        }
        l->allow_uids[l->nallow_uids++] = (unsigned)v;
    }
}

/* Grows an arena array to hold `want` elements; keeps the old contents. */
static void *
grow(struct parser *ps, void *old, size_t elem, size_t n, size_t *cap,
     size_t want)
{
    if (want <= *cap)
        return old;
    size_t nc = *cap ? *cap * 2 : 4;
    while (nc < want)
        nc *= 2;
    void *p = sk_arena_calloc(ps->c->arena, nc, elem);
    if (p == NULL) {
        ps->oom = true;
        return NULL;
    }
    if (n > 0)
        memcpy(p, old, n * elem);
    *cap = nc;
    return p;
}

static void
set_addr(struct parser *ps, const struct tok *t, struct sk_conf_addr *out,
         bool allow_unix)
{
    int rc = sk_conf_addr_parse(t->s, out);
    if (rc == -SK_ENOTSUP)
        rc = 0; /* a name: resolved by sk_conf_load (family stays 0) */
    if (rc != 0) {
        ERR_TOK(ps, t,
                "bad address '%s' (IPv4:PORT, [IPv6]:PORT, NAME:PORT or "
                "unix:/PATH)",
                t->s);
        memset(out, 0, sizeof(*out));
        return;
    }
    if (!allow_unix && out->family == AF_UNIX) {
        ERR_TOK(ps, t, "a unix socket is not allowed here: '%s'", t->s);
        memset(out, 0, sizeof(*out));
        return;
    }
    out->text = (char *)t->s;
    out->loc = (struct sk_loc){ps->name, t->line, t->col};
}

static void
opt_addr(struct parser *ps, const struct row *r, void *base, struct tok *a,
         size_t n, const struct tok *name)
{
    if (!one_arg(ps, r, n, name))
        return;
    set_addr(ps, &a[0], (struct sk_conf_addr *)((char *)base + r->off), true);
}

static void
opt_listen(struct parser *ps, const struct row *r, void *base, struct tok *a,
           size_t n, const struct tok *name)
{
    (void)base;
    struct sk_conf_proxy *p = &ps->c->proxy;
    if (n == 0) {
        ERR_TOK(ps, name, "'%s' takes %s", r->name, r->args);
        return;
    }
    if (p->nlisten == CONF_MAX_LISTEN) {
        ERR_TOK(ps, name, "more than %d listen addresses", CONF_MAX_LISTEN);
        return;
    }
    size_t cap = ps->cap_listen;
    struct sk_conf_listen *l =
        grow(ps, p->listen, sizeof(*l), p->nlisten, &cap, p->nlisten + 1);
    size_t c2 = ps->cap_listen, c3 = ps->cap_listen;
    struct sk_loc *cl =
        grow(ps, ps->cert_locs, sizeof(*cl), p->nlisten, &c2, p->nlisten + 1);
    struct sk_loc *kl =
        grow(ps, ps->key_locs, sizeof(*kl), p->nlisten, &c3, p->nlisten + 1);
    if (l == NULL || cl == NULL || kl == NULL)
        return;
    p->listen = l;
    ps->cert_locs = cl;
    ps->key_locs = kl;
    ps->cap_listen = cap;
    struct sk_conf_listen li = {0};
    struct sk_loc cloc = {0}, kloc = {0};
    set_addr(ps, &a[0], &li.addr, false);
    if (li.addr.text == NULL)
        return;
    if (li.addr.family == AF_UNIX)
        return;
    bool ok = true;
    for (size_t i = 1; i < n; i++) {
        const char *s = a[i].s;
        struct sk_loc here = {ps->name, a[i].line, a[i].col};
        if (strcmp(s, "tls") == 0 && !a[i].quoted) {
            if (li.tls) {
                ERR_TOK(ps, &a[i], "'tls' given twice");
                ok = false;
            }
            li.tls = true;
        } else if (strncmp(s, "cert=", 5) == 0 || strncmp(s, "key=", 4) == 0) {
            bool cert = s[0] == 'c';
            struct tok v = a[i];
            v.s = s + (cert ? 5 : 4);
            v.col += cert ? 5 : 4;
            char *path = check_path(ps, &v);
            if (path == NULL) {
                ok = false;
            } else if ((cert ? li.cert : li.key) != NULL) {
                ERR_TOK(ps, &a[i], "'%s' given twice", cert ? "cert" : "key");
                ok = false;
            } else if (cert) {
                li.cert = path;
                cloc = here;
            } else {
                li.key = path;
                kloc = here;
            }
        } else {
            ERR_TOK(ps, &a[i],
                    "unknown listen parameter '%s' (tls, cert=PATH, "
                    "key=PATH)",
                    s);
            ok = false;
        }
    }
    if (!li.tls && (li.cert != NULL || li.key != NULL)) {
        ERR_TOK(ps, &a[0], "cert= and key= need 'tls' on this listen line");
        ok = false;
    }
    for (size_t i = 0; ok && i < p->nlisten; i++) {
        if (strcmp(p->listen[i].addr.text, li.addr.text) == 0) {
            ERR_TOK(ps, &a[0], "'%s' is already a listen address (line %u)",
                    li.addr.text, p->listen[i].addr.loc.line);
            ok = false;
        }
    }
    if (!ok)
        return;
    ps->cert_locs[p->nlisten] = cloc;
    ps->key_locs[p->nlisten] = kloc;
    p->listen[p->nlisten++] = li;
}

static void
opt_rules(struct parser *ps, const struct row *r, void *base, struct tok *a,
          size_t n, const struct tok *name)
{
    (void)base;
    struct sk_conf_proxy *p = &ps->c->proxy;
    if (n == 0) {
        ERR_TOK(ps, name, "'%s' takes %s", r->name, r->args);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *path = check_path(ps, &a[i]);
        if (path == NULL)
            continue;
        if (p->nrules == CONF_MAX_RULES) {
            ERR_TOK(ps, &a[i], "more than %d rules entries", CONF_MAX_RULES);
            return;
        }
        size_t cap = ps->cap_rules, c2 = ps->cap_rules;
        char **v =
            grow(ps, p->rules, sizeof(*v), p->nrules, &cap, p->nrules + 1);
        struct sk_loc *lv =
            grow(ps, ps->rule_locs, sizeof(*lv), p->nrules, &c2, p->nrules + 1);
        if (v == NULL || lv == NULL)
            return;
        p->rules = v;
        ps->rule_locs = lv;
        ps->cap_rules = cap;
        ps->rule_locs[p->nrules] =
            (struct sk_loc){ps->name, a[i].line, a[i].col};
        p->rules[p->nrules++] = path;
    }
}

int
sk_conf_cidr_parse(const char *text, struct sk_conf_cidr *out)
{
    memset(out, 0, sizeof(*out));
    char buf[INET6_ADDRSTRLEN + 8];
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof(buf))
        return -SK_EPARSE;
    memcpy(buf, text, len + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash != NULL) {
        *slash = '\0';
        const char *b = slash + 1;
        /* One to three digits, no sign, no leading zero but "0". */
        size_t nd = strspn(b, "0123456789");
        if (nd == 0 || nd > 3 || b[nd] != '\0' || (nd > 1 && b[0] == '0'))
            return -SK_EPARSE;
        bits = strtol(b, NULL, 10);
    }
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        memset(out, 0, sizeof(*out));
        return -SK_EPARSE;
    }
    if (bits > (long)max) {
        memset(out, 0, sizeof(*out));
        return -SK_EPARSE;
    }
    out->bits = bits < 0 ? max : (unsigned)bits;
    /* Host bits must be zero: 10.0.0.1/8 is a typo more often than a
     * wish for 10.0.0.0/8. */
    for (unsigned i = out->bits; i < max; i++) {
        if (out->addr[i / 8] & (0x80u >> (i % 8))) {
            memset(out, 0, sizeof(*out));
            return -SK_EPARSE;
        }
    }
    out->text = (char *)text;
    return 0;
}

static void
opt_trusted(struct parser *ps, const struct row *r, void *base, struct tok *a,
            size_t n, const struct tok *name)
{
    (void)base;
    struct sk_conf_proxy *p = &ps->c->proxy;
    if (n == 0) {
        ERR_TOK(ps, name, "'%s' takes %s", r->name, r->args);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct sk_conf_cidr cd;
        if (sk_conf_cidr_parse(a[i].s, &cd) != 0) {
            ERR_TOK(ps, &a[i],
                    "bad trusted proxy '%s' (an IPv4 or IPv6 address, or "
                    "ADDR/BITS with the host bits zero)",
                    a[i].s);
            continue;
        }
        if (p->ntrusted_proxies == CONF_MAX_TRUSTED) {
            ERR_TOK(ps, &a[i], "more than %d trusted proxies",
                    CONF_MAX_TRUSTED);
            return;
        }
        if (p->trusted_proxies == NULL) {
            p->trusted_proxies = sk_arena_calloc(ps->c->arena, CONF_MAX_TRUSTED,
                                                 sizeof(*p->trusted_proxies));
            if (p->trusted_proxies == NULL) {
                ps->oom = true;
                return;
            }
        }
        cd.loc = (struct sk_loc){ps->name, a[i].line, a[i].col};
        p->trusted_proxies[p->ntrusted_proxies++] = cd;
    }
}

static void
opt_real_ip_header(struct parser *ps, const struct row *r, void *base,
                   struct tok *a, size_t n, const struct tok *name)
{
    (void)base;
    if (!one_arg(ps, r, n, name))
        return;
    if (strcasecmp(a[0].s, "X-Forwarded-For") == 0)
        ps->c->proxy.real_ip_header = SK_CONF_REALIP_XFF;
    else if (strcasecmp(a[0].s, "Forwarded") == 0)
        ps->c->proxy.real_ip_header = SK_CONF_REALIP_FORWARDED;
    else
        ERR_TOK(ps, &a[0], "'%s' takes X-Forwarded-For or Forwarded, not '%s'",
                r->name, a[0].s);
}

static void
opt_tls_default(struct parser *ps, const struct row *r, void *base,
                struct tok *a, size_t n, const struct tok *name)
{
    (void)base;
    if (!one_arg(ps, r, n, name))
        return;
    char *p = check_path(ps, &a[0]);
    if (p == NULL)
        return;
    if (strcmp(r->name, "tls_certificate") == 0)
        ps->tls_cert = p;
    else
        ps->tls_key = p;
}

#define PX(f) offsetof(struct sk_conf_proxy, f)
#define LG(f) offsetof(struct sk_conf_log, f)
#define FM(f) offsetof(struct sk_conf_fim, f)
#define RN(f) offsetof(struct sk_conf_run, f)
#define DAY_MS (24u * 3600u * 1000u)

/* Each table is sorted by name (the unit test checks it). */
static const struct row run_rows[] = {
    {"max_restarts", opt_uint, "N",
     "restarts of one part within a minute before sekimori run gives up on "
     "it (it stays down and `sekimori status` reports it; default 5)",
     RN(max_restarts), 1, 1000, false},
    {"restart_delay", opt_duration, "DURATION",
     "wait before restarting a part that died (default 1s)", RN(restart_delay),
     0, 3600u * 1000u, false},
    {"state_dir", opt_path, "PATH",
     "directory of the parts' state files read by `sekimori status` "
     "(default /var/lib/sekimori/run)",
     RN(state_dir), 0, 0, false},
};

static const struct row log_rows[] = {
    {"allow_uid", opt_allow_uid, "UID...",
     "numeric uids allowed to append through the "
     "socket (repeatable, at most 16); `sekimori run` adds the proxy's "
     "`user` (with root and its own uid when the list is empty)",
     0, 0, 0, true},
    {"compress_after", opt_age, "AGE",
     "compress segments older than this (zstd); needs keep", LG(compress_after),
     0, 0, false},
    {"dir", opt_path, "PATH",
     "the event log directory (default /var/lib/sekimori/log)", LG(dir), 0, 0,
     false},
    {"durability", opt_durability, "none|group|record",
     "when appends reach the disk: group commits every group_ms (default), "
     "record syncs each record, none leaves it to the kernel",
     0, 0, 0, false},
    {"group_ms", opt_uint, "N",
     "milliseconds a group commit may wait (default 5)", LG(group_ms), 1, 1000,
     false},
    {"keep", opt_age, "AGE",
     "retention: remove segments whose newest record is older (90d, 13m "
     "months, 1y); default keep everything",
     LG(keep), 0, 0, false},
    {"key", opt_path, "PATH",
     "Ed25519 signing key of the checkpoints (default /etc/sekimori/log.key; "
     "create it with `sekimori log keygen --key PATH`)",
     LG(key), 0, 0, false},
    {"socket", opt_sock, "PATH",
     "the writer's unix socket the other parts append through (default "
     "/run/sekimori/log.sock)",
     LG(socket), 0, 0, false},
    {"syslog", opt_syslog, "TARGET",
     "also send checkpoints to syslog: unix:/dev/log, udp:IP:PORT or "
     "tcp:IP:PORT",
     0, 0, 0, false},
};

static const struct row proxy_rows[] = {
    {"access_log", opt_path, "PATH",
     "access log, combined format (default none)", PX(access_log), 0, 0, false},
    {"audit_log", opt_path, "PATH",
     "audit log, JSON lines with request data redacted (default none)",
     PX(audit_log), 0, 0, false},
    {"audit_mode", opt_audit_mode, "rules|all|relevant|off",
     "which transactions reach the audit log: as SecAuditEngine says "
     "(rules, default), all, relevant (matched rules or 4xx/5xx), off",
     0, 0, 0, false},
    {"body_timeout", opt_duration, "DURATION",
     "longest wait between two reads of a request body (default 30s)",
     PX(body_timeout), 1, DAY_MS, false},
    {"control_socket", opt_sock, "PATH",
     "unix socket for maintenance mode, reload and status requests "
     "(default none)",
     PX(control_socket), 0, 0, false},
    {"deny_page", opt_path, "PATH",
     "HTML page for blocked requests, %{id} and %{status} are replaced "
     "(default built in)",
     PX(deny_page), 0, 0, false},
    {"drain_timeout", opt_duration, "DURATION",
     "on stop or reload, how long requests in flight may take (default 30s)",
     PX(drain_timeout), 0, DAY_MS, false},
    {"error_log", opt_path, "PATH",
     "operational log of the proxy (default standard error)", PX(error_log), 0,
     0, false},
    {"events", opt_bool, "on|off",
     "send block events to the event log's socket (default on when a log "
     "section exists)",
     PX(events), 0, 0, false},
    {"forwarded", opt_bool, "on|off",
     "add an RFC 7239 Forwarded header upstream (default off)", PX(forwarded),
     0, 0, false},
    {"group", opt_name, "NAME",
     "group the workers switch to (default: that of user, or stay)", PX(group),
     0, 0, false},
    {"header_timeout", opt_duration, "DURATION",
     "longest time to receive a request head (default 10s)", PX(header_timeout),
     1, DAY_MS, false},
    {"keepalive_timeout", opt_duration, "DURATION",
     "how long an idle client connection stays open (default 60s; 0 closes "
     "after each response)",
     PX(keepalive_timeout), 0, DAY_MS, false},
    {"listen", opt_listen, "ADDR [tls] [cert=PATH] [key=PATH]",
     "an address to accept clients on (repeatable); `tls` with cert= and "
     "key= or the tls_certificate defaults",
     0, 0, 0, true},
    {"maintenance_page", opt_path, "PATH",
     "HTML page of 503 answers in maintenance mode (default built in)",
     PX(maintenance_page), 0, 0, false},
    {"max_connections", opt_uint, "N",
     "client connections at once, all workers together (default 4096)",
     PX(max_connections), 1, 1000000, false},
    {"max_header_bytes", opt_size, "SIZE",
     "largest request head (default and maximum 64K)", PX(max_header_bytes),
     256, SK_LIMIT_HEADER_BYTES, false},
    {"max_headers", opt_uint, "N",
     "most header fields in a request (default and maximum 200)",
     PX(max_headers), 1, SK_LIMIT_HEADER_COUNT, false},
    {"max_request_line", opt_size, "SIZE",
     "longest request line (default and maximum 8K)", PX(max_request_line), 64,
     SK_LIMIT_REQUEST_LINE, false},
    {"metrics_listen", opt_addr, "ADDR",
     "address of the Prometheus metrics endpoint (default none)",
     PX(metrics_listen), 0, 0, false},
    {"pid_file", opt_path, "PATH", "file the master writes its pid to",
     PX(pid_file), 0, 0, false},
    {"real_ip_header", opt_real_ip_header, "X-Forwarded-For|Forwarded",
     "the header a trusted proxy writes the client's address into "
     "(default X-Forwarded-For)",
     0, 0, 0, false},
    {"rules", opt_rules, "PATH...",
     "SecLang rule files or globs, loaded in order (repeatable; at least one)",
     0, 0, 0, true},
    {"send_timeout", opt_duration, "DURATION",
     "longest wait for a client to accept response bytes (default 30s)",
     PX(send_timeout), 1, DAY_MS, false},
    {"tls_certificate", opt_tls_default, "PATH",
     "certificate chain (PEM) of `listen ... tls` lines without cert=", 0, 0, 0,
     false},
    {"tls_certificate_key", opt_tls_default, "PATH",
     "private key (PEM) of `listen ... tls` lines without key=", 0, 0, 0,
     false},
    {"trusted_proxies", opt_trusted, "CIDR...",
     "peers (addresses or CIDR blocks, IPv4 or IPv6; repeatable) whose "
     "real_ip_header names the client: rules and logs then see that "
     "address and their X-Forwarded-Proto passes unchanged (default none)",
     0, 0, 0, true},
    {"upstream", opt_addr, "ADDR",
     "the protected site: IPv4:PORT, [IPv6]:PORT, NAME:PORT or unix:/PATH "
     "(required)",
     PX(upstream), 0, 0, false},
    {"upstream_connect_timeout", opt_duration, "DURATION",
     "longest time to connect to the upstream (default 5s)",
     PX(upstream_connect_timeout), 1, DAY_MS, false},
    {"upstream_host", opt_host, "HOST",
     "the upstream's name in logs (the Host header is passed unchanged)",
     PX(upstream_host), 0, 0, false},
    {"upstream_keepalive", opt_uint, "N",
     "idle upstream connections kept per worker (default 32, 0 none)",
     PX(upstream_keepalive), 0, 10000, false},
    {"upstream_timeout", opt_duration, "DURATION",
     "longest wait between two reads from the upstream (default 60s)",
     PX(upstream_timeout), 1, DAY_MS, false},
    {"user", opt_name, "NAME",
     "user the workers switch to after binding (default: stay)", PX(user), 0, 0,
     false},
    {"workers", opt_uint, "N",
     "worker processes (default 0: one per online CPU)", PX(workers), 0, 256,
     false},
    {"xff", opt_bool, "on|off",
     "add or append X-Forwarded-For and X-Forwarded-Proto (default on)",
     PX(xff), 0, 0, false},
};

static const struct row fim_rows[] = {
    {"config", opt_path, "PATH",
     "the file monitor's own configuration, docs/fim.md (default "
     "/etc/sekimori/fim.conf)",
     FM(config), 0, 0, false},
    {"events", opt_path, "PATH",
     "an extra JSON-lines copy of the monitor's events (default none)",
     FM(events), 0, 0, false},
    {"fanotify", opt_bool, "on|off",
     "use fanotify, which names the writing process (default on; off "
     "forces inotify)",
     FM(fanotify), 0, 0, false},
};

static const struct section {
    const char *name;
    const struct row *rows;
    size_t nrows;
    size_t off; /* of the section struct in struct sk_conf */
} sections[SEC_COUNT] = {
    [SEC_RUN] = {"run", run_rows, sizeof(run_rows) / sizeof(run_rows[0]),
                 offsetof(struct sk_conf, run)},
    [SEC_LOG] = {"log", log_rows, sizeof(log_rows) / sizeof(log_rows[0]),
                 offsetof(struct sk_conf, log)},
    [SEC_PROXY] = {"proxy", proxy_rows,
                   sizeof(proxy_rows) / sizeof(proxy_rows[0]),
                   offsetof(struct sk_conf, proxy)},
    [SEC_FIM] = {"fim", fim_rows, sizeof(fim_rows) / sizeof(fim_rows[0]),
                 offsetof(struct sk_conf, fim)},
};

_Static_assert(sizeof(proxy_rows) / sizeof(proxy_rows[0]) <= CONF_MAX_ROWS,
               "seen[] holds every row");

int
sk_conf_option_row(size_t i, const char **section, const char **name,
                   const char **args, const char **doc)
{
    /* Sections in the order of the reference: run, log, proxy, fim. */
    for (size_t s = 0; s < SEC_COUNT; s++) {
        if (i < sections[s].nrows) {
            *section = sections[s].name;
            *name = sections[s].rows[i].name;
            *args = sections[s].rows[i].args;
            *doc = sections[s].rows[i].doc;
            return 0;
        }
        i -= sections[s].nrows;
    }
    return -SK_ENOENT;
}

/* ---- parser ------------------------------------------------------------ */

static int
find_row(size_t sec, const char *name)
{
    const struct section *s = &sections[sec];
    size_t lo = 0, hi = s->nrows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, s->rows[mid].name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* Skips to the end of the current line (or a `}` / EOF). */
static void
skip_line(struct parser *ps)
{
    while (ps->t.kind != T_NL && ps->t.kind != T_EOF &&
           ps->t.kind != T_RBRACE && !ps->oom)
        lex(ps);
}

/* One `name value...` line inside section `sec`. The current token is the
 * name. */
static void
statement(struct parser *ps, size_t sec, void *base)
{
    struct tok name = ps->t;
    struct tok args[CONF_MAX_ARGS];
    size_t n = 0;
    bool bad = false;
    unsigned errors_before = ps->d->errors;
    lex(ps);
    while (ps->t.kind == T_WORD && !ps->oom) {
        if (n == CONF_MAX_ARGS) {
            if (!bad)
                ERR_TOK(ps, &ps->t, "more than %d values on one line",
                        CONF_MAX_ARGS);
            bad = true;
        } else {
            args[n++] = ps->t;
        }
        lex(ps);
    }
    if (ps->t.kind == T_LBRACE) {
        ERR_TOK(ps, &ps->t, "blocks do not nest: '{' inside section '%s'",
                sections[sec].name);
        bad = true;
        /* Skip the nested block to its '}' so that the section goes on. */
        unsigned depth = 0;
        while (ps->t.kind != T_EOF && !ps->oom) {
            if (ps->t.kind == T_LBRACE)
                depth++;
            else if (ps->t.kind == T_RBRACE && --depth == 0) {
                lex(ps);
                break;
            }
            lex(ps);
        }
    }
    /* A value the lexer refused (reported already) leaves the option
     * unset rather than misreading what is left of the line. */
    if (bad || ps->oom || ps->d->errors != errors_before)
        return;
    if (name.quoted) {
        ERR_TOK(ps, &name, "option names are not quoted");
        return;
    }
    int ri = find_row(sec, name.s);
    if (ri < 0) {
        ERR_TOK(ps, &name, "unknown option '%s' in section '%s'", name.s,
                sections[sec].name);
        return;
    }
    const struct row *r = &sections[sec].rows[ri];
    struct sk_loc *seen = &ps->seen[sec][ri];
    if (!r->repeat && seen->line != 0) {
        ERR_TOK(ps, &name, "'%s' is already set (line %u)", r->name,
                seen->line);
        return;
    }
    unsigned before = ps->d->errors;
    r->fn(ps, r, base, args, n, &name);
    if (ps->d->errors == before)
        *seen = (struct sk_loc){ps->name, name.line, name.col};
}

/* `name {` ... `}` at the top level; the current token is the name. */
static void
section(struct parser *ps)
{
    struct tok name = ps->t;
    int sec = -1;
    for (size_t i = 0; i < SEC_COUNT; i++)
        if (!name.quoted && strcmp(name.s, sections[i].name) == 0)
            sec = (int)i;
    lex(ps);
    while (ps->t.kind == T_NL)
        lex(ps);
    if (ps->t.kind != T_LBRACE) {
        int owner = -1;
        for (size_t i = 0; sec < 0 && i < SEC_COUNT; i++)
            if (!name.quoted && find_row(i, name.s) >= 0)
                owner = (int)i;
        if (owner >= 0)
            ERR_TOK(ps, &name, "'%s' belongs inside a '%s { }' section", name.s,
                    sections[owner].name);
        else if (sec < 0)
            ERR_TOK(ps, &name, "unknown section '%s' (run, log, proxy or fim)",
                    name.s);
        else
            ERR_TOK(ps, &name, "expected '{' after '%s'", name.s);
        skip_line(ps);
        return;
    }
    if (sec < 0)
        ERR_TOK(ps, &name, "unknown section '%s' (run, log, proxy or fim)",
                name.s);
    else if (ps->section_seen[sec])
        ERR_TOK(ps, &name, "section '%s' is given twice", name.s);
    bool use = sec >= 0 && !ps->section_seen[sec];
    if (sec >= 0)
        ps->section_seen[sec] = true;
    struct sk_loc loc = {ps->name, name.line, name.col};
    void *base = NULL;
    if (use) {
        base = (char *)ps->c + sections[sec].off;
        switch (sec) {
        case SEC_RUN:
            ps->c->run.loc = loc;
            break;
        case SEC_LOG:
            ps->c->log.present = true;
            ps->c->log.loc = loc;
            break;
        case SEC_PROXY:
            ps->c->proxy.present = true;
            ps->c->proxy.loc = loc;
            break;
        default:
            ps->c->fim.present = true;
            ps->c->fim.loc = loc;
            break;
        }
    }
    lex(ps);
    for (;;) {
        if (ps->oom)
            return;
        if (ps->t.kind == T_NL) {
            lex(ps);
            continue;
        }
        if (ps->t.kind == T_RBRACE) {
            lex(ps);
            if (ps->t.kind == T_WORD || ps->t.kind == T_LBRACE) {
                ERR_TOK(ps, &ps->t, "expected a new line after '}'");
                skip_line(ps);
            }
            return;
        }
        if (ps->t.kind == T_EOF) {
            err_at(ps, name.line, name.col, "section '%s' is not closed",
                   name.s);
            return;
        }
        if (ps->t.kind == T_LBRACE) {
            ERR_TOK(ps, &ps->t, "unexpected '{'");
            lex(ps);
            continue;
        }
        if (use) {
            statement(ps, (size_t)sec, base);
        } else {
            lex(ps);
            skip_line(ps);
        }
        if (ps->t.kind == T_WORD) /* cannot happen: statement ate them */
            skip_line(ps);
    }
}

static void
file(struct parser *ps)
{
    lex(ps);
    while (ps->t.kind != T_EOF && !ps->oom) {
        switch (ps->t.kind) {
        case T_NL:
            lex(ps);
            break;
        case T_WORD:
            section(ps);
            break;
        case T_LBRACE:
        case T_RBRACE:
            ERR_TOK(ps, &ps->t, "unexpected '%c' outside a section",
                    ps->t.kind == T_LBRACE ? '{' : '}');
            lex(ps);
            break;
        default:
            lex(ps);
            break;
        }
    }
}

static struct sk_loc *
seen_of(struct parser *ps, size_t sec, const char *name)
{
    int ri = find_row(sec, name);
    return ri < 0 ? NULL : &ps->seen[sec][ri];
}

/* Defaults that depend on other options, and the checks that need no
 * file system. */
static void
finish(struct parser *ps)
{
    struct sk_conf *c = ps->c;
    struct sk_conf_proxy *p = &c->proxy;
    struct sk_loc *ev = seen_of(ps, SEC_PROXY, "events");
    if (ev->line == 0)
        p->events = c->log.present;
    else if (p->events && !c->log.present)
        sk_diag_error(ps->d, ev, "'events on' needs a log section");
    struct sk_loc *ca = seen_of(ps, SEC_LOG, "compress_after");
    if (ca->line != 0 && c->log.keep == NULL)
        sk_diag_error(ps->d, ca, "'compress_after' needs 'keep'");
    if (!p->present)
        return;
    struct sk_loc *tc = seen_of(ps, SEC_PROXY, "tls_certificate");
    struct sk_loc *tk = seen_of(ps, SEC_PROXY, "tls_certificate_key");
    bool any_tls = false;
    for (size_t i = 0; i < p->nlisten; i++) {
        struct sk_conf_listen *l = &p->listen[i];
        if (!l->tls)
            continue;
        any_tls = true;
        if (l->cert == NULL && tc->line != 0) {
            l->cert = ps->tls_cert;
            ps->cert_locs[i] = *tc;
        }
        if (l->key == NULL && tk->line != 0) {
            l->key = ps->tls_key;
            ps->key_locs[i] = *tk;
        }
        if (l->cert == NULL)
            sk_diag_error(ps->d, &l->addr.loc,
                          "'%s tls' has no certificate (cert=PATH or "
                          "tls_certificate)",
                          l->addr.text);
        if (l->key == NULL)
            sk_diag_error(ps->d, &l->addr.loc,
                          "'%s tls' has no private key (key=PATH or "
                          "tls_certificate_key)",
                          l->addr.text);
    }
    if (!any_tls && tc->line != 0)
        sk_diag_warn(ps->d, tc, "'tls_certificate' but no 'listen ... tls'");
    if (p->nlisten == 0)
        sk_diag_error(ps->d, &p->loc, "the proxy needs at least one 'listen'");
    if (p->upstream.text == NULL)
        sk_diag_error(ps->d, &p->loc, "the proxy needs an 'upstream'");
    if (p->nrules == 0)
        sk_diag_error(ps->d, &p->loc, "the proxy needs 'rules'");
    if (p->metrics_listen.text != NULL) {
        for (size_t i = 0; i < p->nlisten; i++)
            if (strcmp(p->listen[i].addr.text, p->metrics_listen.text) == 0)
                sk_diag_error(ps->d, &p->metrics_listen.loc,
                              "metrics_listen '%s' is also a listen address",
                              p->metrics_listen.text);
    }
    if (p->group != NULL && p->user == NULL)
        sk_diag_error(ps->d, seen_of(ps, SEC_PROXY, "group"),
                      "'group' needs 'user'");
    if (p->ntrusted_proxies == 0 &&
        seen_of(ps, SEC_PROXY, "real_ip_header")->line != 0)
        sk_diag_error(ps->d, seen_of(ps, SEC_PROXY, "real_ip_header"),
                      "'real_ip_header' needs 'trusted_proxies'");
}

static void
defaults(struct sk_conf *c)
{
    c->run.state_dir = "/var/lib/sekimori/run";
    c->run.restart_delay = 1000;
    c->run.max_restarts = 5;
    c->log.dir = "/var/lib/sekimori/log";
    c->log.key = "/etc/sekimori/log.key";
    c->log.socket = "/run/sekimori/log.sock";
    c->log.durability = "group";
    c->log.group_ms = 5;
    struct sk_conf_proxy *p = &c->proxy;
    p->workers = 0;
    p->max_connections = 4096;
    p->upstream_keepalive = 32;
    p->header_timeout = 10 * 1000;
    p->body_timeout = 30 * 1000;
    p->keepalive_timeout = 60 * 1000;
    p->send_timeout = 30 * 1000;
    p->upstream_connect_timeout = 5 * 1000;
    p->upstream_timeout = 60 * 1000;
    p->drain_timeout = 30 * 1000;
    p->max_request_line = SK_LIMIT_REQUEST_LINE;
    p->max_header_bytes = SK_LIMIT_HEADER_BYTES;
    p->max_headers = SK_LIMIT_HEADER_COUNT;
    p->audit_mode = SK_CONF_AUDIT_RULES;
    p->xff = true;
    p->forwarded = false;
    p->real_ip_header = SK_CONF_REALIP_XFF;
    c->fim.config = "/etc/sekimori/fim.conf";
    c->fim.fanotify = true;
}

/* Parses into a new sk_conf; the parser stays valid for the load checks.
 * Returns 0 (ps->c set, maybe with errors in d) or -SK_ENOMEM. */
static int
do_parse(struct parser *ps, const char *name, const char *text, size_t len,
         struct sk_diag *d)
{
    memset(ps, 0, sizeof(*ps));
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return -SK_ENOMEM;
    struct sk_conf *c = sk_arena_zalloc(a, sizeof(*c));
    char *nm = sk_arena_strdup(a, name);
    if (c == NULL || nm == NULL) {
        sk_arena_free(a);
        return -SK_ENOMEM;
    }
    c->arena = a;
    c->path = nm;
    defaults(c);
    c->run.loc = c->log.loc = c->proxy.loc = c->fim.loc =
        (struct sk_loc){nm, 1, 1};
    ps->c = c;
    ps->d = d;
    ps->name = nm;
    if (len > CONF_MAX_BYTES) {
        sk_diag_error(d, NULL, "%s: larger than %d bytes", nm, CONF_MAX_BYTES);
        return 0;
    }
    if (memchr(text, '\0', len) != NULL) {
        const char *z = memchr(text, '\0', len);
        unsigned line = 1, col = 1;
        for (const char *q = text; q < z; q++) {
            if (*q == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        err_at(ps, line, col, "NUL byte in the file");
        return 0;
    }
    ps->lx = (struct lexer){.p = text, .len = len, .line = 1, .col = 1};
    file(ps);
    if (ps->oom) {
        sk_arena_free(a);
        ps->c = NULL;
        return -SK_ENOMEM;
    }
    finish(ps);
    return 0;
}

int
sk_conf_parse(const char *name, const char *text, size_t len,
              struct sk_conf **out, struct sk_diag *d)
{
    *out = NULL;
    struct parser *ps = sk_calloc(1, sizeof(*ps));
    if (ps == NULL)
        return -SK_ENOMEM;
    unsigned before = d->errors;
    int rc = do_parse(ps, name, text, len, d);
    if (rc == 0 && d->errors != before) {
        sk_arena_free(ps->c->arena);
        rc = -SK_EPARSE;
    }
    if (rc == 0)
        *out = ps->c;
    sk_free(ps);
    return rc;
}

/* ---- load-time checks (file system, name resolution) ------------------- */

static void
resolve(struct parser *ps, struct sk_conf_addr *ad, bool passive)
{
    if (ad->text == NULL || ad->family != 0)
        return;
    char host[256];
    unsigned port;
    bool br;
    if (split_host_port(ad->text, host, sizeof(host), &port, &br) != 0)
        return; /* cannot happen: the parser accepted it */
    char ports[8];
    snprintf(ports, sizeof(ports), "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags =
                                 AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, ports, &hints, &res);
    if (rc != 0 || res == NULL) {
        sk_diag_error(ps->d, &ad->loc, "cannot resolve '%s': %s", host,
                      rc != 0 ? gai_strerror(rc) : "no address");
        return;
    }
    if (res->ai_addrlen <= sizeof(ad->ss)) {
        memcpy(&ad->ss, res->ai_addr, res->ai_addrlen);
        ad->len = res->ai_addrlen;
        ad->family = res->ai_family;
    }
    freeaddrinfo(res);
}

static void
check_readable(struct parser *ps, const char *what, const char *path,
               const struct sk_loc *loc)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd == -1) {
        sk_diag_error(ps->d, loc, "cannot read %s '%s': %s", what, path,
                      strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
        sk_diag_error(ps->d, loc, "%s '%s' is not a regular file", what, path);
    close(fd);
}

/* The location of an option, or of its section when it has its default. */
static const struct sk_loc *
loc_of(struct parser *ps, size_t sec, const char *name,
       const struct sk_loc *section_loc)
{
    const struct sk_loc *l = seen_of(ps, sec, name);
    return l != NULL && l->line != 0 ? l : section_loc;
}

static void
load_checks(struct parser *ps)
{
    struct sk_conf *c = ps->c;
    struct sk_conf_proxy *p = &c->proxy;
    if (p->present) {
        for (size_t i = 0; i < p->nlisten; i++)
            resolve(ps, &p->listen[i].addr, true);
        resolve(ps, &p->upstream, false);
        resolve(ps, &p->metrics_listen, true);
        for (size_t i = 0; i < p->nlisten; i++) {
            struct sk_conf_listen *l = &p->listen[i];
            if (!l->tls)
                continue;
            bool cert_seen = false, key_seen = false;
            for (size_t j = 0; j < i; j++) {
                if (!p->listen[j].tls)
                    continue;
                if (l->cert != NULL && p->listen[j].cert != NULL &&
                    strcmp(l->cert, p->listen[j].cert) == 0)
                    cert_seen = true;
                if (l->key != NULL && p->listen[j].key != NULL &&
                    strcmp(l->key, p->listen[j].key) == 0)
                    key_seen = true;
            }
            if (l->cert != NULL && !cert_seen)
                check_readable(ps, "certificate", l->cert, &ps->cert_locs[i]);
            if (l->key != NULL && !key_seen)
                check_readable(ps, "private key", l->key, &ps->key_locs[i]);
        }
        for (size_t i = 0; i < p->nrules; i++) {
            glob_t g;
            int rc = glob(p->rules[i], GLOB_BRACE | GLOB_ERR, NULL, &g);
            if (rc == GLOB_NOMATCH) {
                sk_diag_error(ps->d, &ps->rule_locs[i],
                              "rules '%s' match no file", p->rules[i]);
            } else if (rc != 0) {
                sk_diag_error(ps->d, &ps->rule_locs[i],
                              "rules '%s': cannot read a directory",
                              p->rules[i]);
            } else {
                for (size_t j = 0; j < g.gl_pathc; j++)
                    check_readable(ps, "rule file", g.gl_pathv[j],
                                   &ps->rule_locs[i]);
            }
            if (rc == 0 || rc == GLOB_NOMATCH)
                globfree(&g);
        }
        if (p->deny_page != NULL)
            check_readable(ps, "deny page", p->deny_page,
                           loc_of(ps, SEC_PROXY, "deny_page", &p->loc));
        if (p->maintenance_page != NULL)
            check_readable(ps, "maintenance page", p->maintenance_page,
                           loc_of(ps, SEC_PROXY, "maintenance_page", &p->loc));
        if (p->user != NULL && getpwnam(p->user) == NULL)
            sk_diag_error(ps->d, loc_of(ps, SEC_PROXY, "user", &p->loc),
                          "no user '%s'", p->user);
        if (p->group != NULL && getgrnam(p->group) == NULL)
            sk_diag_error(ps->d, loc_of(ps, SEC_PROXY, "group", &p->loc),
                          "no group '%s'", p->group);
    }
    if (c->log.present) {
        struct stat st;
        if (stat(c->log.key, &st) == -1)
            sk_diag_error(ps->d, loc_of(ps, SEC_LOG, "key", &c->log.loc),
                          "log key '%s': %s (create it with `sekimori log "
                          "keygen --key %s`)",
                          c->log.key, strerror(errno), c->log.key);
    }
    if (c->fim.present)
        check_readable(ps, "fim config", c->fim.config,
                       loc_of(ps, SEC_FIM, "config", &c->fim.loc));
}

int
sk_conf_load(const char *path, struct sk_conf **out, struct sk_diag *d)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        int e = errno;
        sk_diag_error(d, NULL, "%s: %s", path, strerror(e));
        return e == ENOENT ? -SK_ENOENT : -SK_EIO;
    }
    struct sk_buf b = {0};
    int rc = 0;
    for (;;) {
        if (b.len > CONF_MAX_BYTES) {
            rc = -SK_ELIMIT;
            break;
        }
        if ((rc = sk_buf_reserve(&b, 16384)) != 0)
            break;
        ssize_t n = read(fd, b.p + b.len, b.cap - b.len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            rc = -SK_EIO;
            break;
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
    }
    close(fd);
    if (rc != 0) {
        sk_diag_error(d, NULL, "%s: %s", path,
                      rc == -SK_ELIMIT ? "file too large" : sk_strerror(rc));
        sk_buf_fini(&b);
        return rc;
    }
    struct parser *ps = sk_calloc(1, sizeof(*ps));
    if (ps == NULL) {
        sk_buf_fini(&b);
        return -SK_ENOMEM;
    }
    unsigned before = d->errors;
    rc = do_parse(ps, path, b.p != NULL ? (const char *)b.p : "", b.len, d);
    sk_buf_fini(&b);
    if (rc == 0 && d->errors == before)
        load_checks(ps);
    if (rc == 0 && d->errors != before) {
        sk_arena_free(ps->c->arena);
        rc = -SK_EPARSE;
    }
    if (rc == 0)
        *out = ps->c;
    sk_free(ps);
    return rc;
}

void
sk_conf_free(struct sk_conf *c)
{
    if (c != NULL)
        sk_arena_free(c->arena);
}
