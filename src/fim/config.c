/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FIM configuration: a small line-oriented format (docs/fim.md) with
 * global settings and `rule PATH { ... }` blocks that select paths with
 * include/exclude patterns and say which attributes to check and which
 * responses apply. Every unknown keyword or bad value is an error with
 * file:line:col; the parser reports them all, then fails.
 */
#include "fim/fim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/error.h"

/* Attribute names, sorted by name; the config reference lists them. */
static const struct {
    const char *name;
    uint32_t bit;
    const char *doc;
} attr_table[] = {
    {"ctime", SK_FIM_A_CTIME, "inode change time (seconds and nanoseconds)"},
    {"gid", SK_FIM_A_GID, "owning group id"},
    {"inode", SK_FIM_A_INODE, "inode number (a rename over the file)"},
    {"mode", SK_FIM_A_MODE, "permission bits, setuid/setgid/sticky"},
    {"mtime", SK_FIM_A_MTIME, "modification time (seconds, nanoseconds)"},
    {"nlink", SK_FIM_A_NLINK, "link count (a new hard link)"},
    {"sha256", SK_FIM_A_SHA256, "SHA-256 of the content (regular files)"},
    {"size", SK_FIM_A_SIZE, "size in bytes"},
    {"target", SK_FIM_A_TARGET, "symlink target"},
    {"type", SK_FIM_A_TYPE, "file, directory, symlink or other"},
    {"uid", SK_FIM_A_UID, "owning user id"},
    {"xattrs", SK_FIM_A_XATTRS, "digest of every xattr, POSIX ACLs too"},
};

static const struct {
    const char *name;
    uint32_t bit;
} resp_table[] = {
    {"alert", SK_FIM_R_ALERT},
    {"exec", SK_FIM_R_EXEC},
    {"maintenance", SK_FIM_R_MAINTENANCE},
    {"quarantine", SK_FIM_R_QUARANTINE},
    {"restore", SK_FIM_R_RESTORE},
};

const char *
sk_fim_attr_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof(attr_table) / sizeof(attr_table[0]); i++)
        if (attr_table[i].bit == bit)
            return attr_table[i].name;
    return NULL;
}

int
sk_fim_attr_row(size_t i, const char **name, uint32_t *bit, const char **doc)
{
    if (i >= sizeof(attr_table) / sizeof(attr_table[0]))
        return -SK_ENOENT;
    *name = attr_table[i].name;
    *bit = attr_table[i].bit;
    *doc = attr_table[i].doc;
    return 0;
}

uint32_t
sk_fim_attr_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(attr_table) / sizeof(attr_table[0]); i++)
        if (strcmp(attr_table[i].name, name) == 0)
            return attr_table[i].bit;
    return 0;
}

/* The default: every attribute but xattrs for the web root, whose files
 * are restored; the server's and PHP's configuration are alerted on. */
static const char default_conf[] =
    "# sekimori fim: default configuration for a PHP web root.\n"
    "baseline /var/lib/sekimori/fim.db\n"
    "key /etc/sekimori/fim.key\n"
    "store /var/lib/sekimori/fim-store\n"
    "quarantine /var/lib/sekimori/fim-quarantine\n"
    "store_max_file 16M\n"
    "store_max_total 2G\n"
    "escalate 5 10\n"
    "check_interval 3600\n"
    "coalesce_ms 10\n"
    "\n"
    "rule /var/www/html {\n"
    "    include *.php *.phtml *.php[0-9] *.inc *.js *.mjs *.html *.htm\n"
    "    include *.twig *.tpl *.phtml *.latte *.blade.php *.mustache\n"
    "    include .htaccess .user.ini *.ini *.json *.xml *.yml *.yaml\n"
    "    include *.conf *.env composer.lock\n"
    "    exclude cache var/cache/* var/log/* var/session/* tmp/*\n"
    "    attrs type size mode uid gid inode nlink mtime ctime target "
    "sha256\n"
    "    respond alert quarantine restore\n"
    "}\n"
    "\n"
    "rule /etc/nginx {\n"
    "    attrs type size mode uid gid mtime target sha256\n"
    "    respond alert quarantine\n"
    "}\n"
    "rule /etc/apache2 {\n"
    "    attrs type size mode uid gid mtime target sha256\n"
    "    respond alert quarantine\n"
    "}\n"
    "rule /etc/php {\n"
    "    attrs type size mode uid gid mtime target sha256\n"
    "    respond alert quarantine\n"
    "}\n";

const char *
sk_fim_config_default(void)
{
    return default_conf;
}

/* ---- lexing -------------------------------------------------------------- */

#define MAX_TOKENS 256

struct tok {
    const char *s; /* NUL-terminated copy in the arena */
    unsigned col;
};

struct parser {
    struct sk_fim_config *c;
    struct sk_diag *d;
    const char *name;
    unsigned line;
    struct sk_fim_rule *rule; /* open rule block or NULL */
    /* Growing arrays (sk_malloc'd, moved into the arena at the end). */
    struct sk_fim_rule *rules;
    size_t n_rules, cap_rules;
    const char **inc, **exc, **mpaths;
    size_t n_inc, cap_inc, n_exc, cap_exc, n_mp, cap_mp;
    /* Indexes into inc/exc per rule (fixed up at the end). */
    size_t *inc_start, *exc_start;
    bool oom;
};

static void __attribute__((format(printf, 3, 4)))
err(struct parser *ps, unsigned col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sk_loc loc = {ps->name, ps->line, col};
    sk_diag_error(ps->d, &loc, "%s", msg);
}

static int
push_str(const char ***arr, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        const char **na = sk_realloc((void *)*arr, nc * sizeof(*na));
        if (na == NULL)
            return -SK_ENOMEM;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = s;
    return 0;
}

static int
parse_size(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    uint64_t mul = 1;
    if (n > 0) {
        switch (s[n - 1]) {
        case 'K':
        case 'k':
            mul = 1024;
            n--;
            break;
        case 'M':
        case 'm':
            mul = 1024 * 1024;
            n--;
            break;
        case 'G':
        case 'g':
            mul = 1024 * 1024 * 1024;
            n--;
            break;
        default:
            break;
        }
    }
    uint64_t v;
    if (n == 0 || sk_str_to_u64(sk_str_make(s, n), &v) != 0)
        return -SK_EPARSE;
    if (v > UINT64_MAX / mul)
        return -SK_EPARSE;
    *out = v * mul;
    return 0;
}

static int
parse_uint(const char *s, unsigned max, unsigned *out)
{
    uint64_t v;
    if (sk_str_to_u64(sk_str_c(s), &v) != 0 || v > max)
        return -SK_EPARSE;
    *out = (unsigned)v;
    return 0;
}

/* Checks an absolute path argument and strips trailing slashes. */
static const char *
path_arg(struct parser *ps, const struct tok *t)
{
    if (t->s[0] != '/') {
        err(ps, t->col, "path must be absolute: '%s'", t->s);
        return NULL;
    }
    size_t n = strlen(t->s);
    if (n >= SK_FIM_MAX_PATH) {
        err(ps, t->col, "path too long: '%.64s'", t->s);
        return NULL;
    }
    while (n > 1 && t->s[n - 1] == '/')
        n--;
    for (size_t i = 0; i + 1 < n; i++) {
        if (t->s[i] == '/' && t->s[i + 1] == '/') {
            err(ps, t->col, "path has an empty component: '%s'", t->s);
            return NULL;
        }
    }
    if (strstr(t->s, "/../") != NULL || strstr(t->s, "/./") != NULL ||
        (n >= 3 && strcmp(t->s + n - 3, "/..") == 0) ||
        (n >= 2 && strcmp(t->s + n - 2, "/.") == 0)) {
        err(ps, t->col, "path must be canonical (no . or ..): '%s'", t->s);
        return NULL;
    }
    char *p = sk_arena_memdup(ps->c->arena, t->s, n);
    if (p == NULL)
        ps->oom = true;
    return p;
}

static void
global_directive(struct parser *ps, struct tok *t, size_t nt)
{
    struct sk_fim_config *c = ps->c;
    const char *k = t[0].s;
    static const char *const path_keys[] = {"baseline", "key",
                                            "store",    "quarantine",
                                            "events",   "maintenance_socket"};
    const char **path_dst[] = {&c->baseline, &c->key,
                               &c->store,    &c->quarantine,
                               &c->events,   &c->maintenance_socket};
    for (size_t i = 0; i < sizeof(path_keys) / sizeof(path_keys[0]); i++) {
        if (strcmp(k, path_keys[i]) != 0)
            continue;
        if (nt != 2) {
            err(ps, t[0].col, "'%s' takes one path", k);
            return;
        }
        const char *p = path_arg(ps, &t[1]);
        if (p != NULL)
            *path_dst[i] = p;
        return;
    }
    if (strcmp(k, "store_max_file") == 0 || strcmp(k, "store_max_total") == 0) {
        uint64_t v;
        if (nt != 2 || parse_size(t[1].s, &v) != 0) {
            err(ps, t[0].col, "'%s' takes one size (bytes, K, M or G)", k);
            return;
        }
        if (k[10] == 'f')
            c->store_max_file = v;
        else
            c->store_max_total = v;
        return;
    }
    static const struct {
        const char *name;
        size_t off;
        unsigned max;
    } uints[] = {
        {"threads", offsetof(struct sk_fim_config, threads),
         SK_FIM_MAX_THREADS},
        {"check_interval", offsetof(struct sk_fim_config, check_interval),
         86400 * 7},
        {"coalesce_ms", offsetof(struct sk_fim_config, coalesce_ms), 10000},
    };
    for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
        if (strcmp(k, uints[i].name) != 0)
            continue;
        unsigned v;
        if (nt != 2 || parse_uint(t[1].s, uints[i].max, &v) != 0) {
            err(ps, t[0].col, "'%s' takes one number in range", k);
            return;
        }
        memcpy((char *)c + uints[i].off, &v, sizeof(v));
        return;
    }
    if (strcmp(k, "escalate") == 0) {
        if (nt != 3 || parse_uint(t[1].s, 1000, &c->escalate_count) != 0 ||
            parse_uint(t[2].s, 24 * 60, &c->escalate_minutes) != 0 ||
            c->escalate_count == 0 || c->escalate_minutes == 0) {
            err(ps, t[0].col, "'%s' takes COUNT (1..1000) MINUTES (1..1440)",
                k);
        }
        return;
    }
    if (strcmp(k, "maintenance_path") == 0) {
        if (nt < 2) {
            err(ps, t[0].col, "'%s' takes one or more URL paths", k);
            return;
        }
        for (size_t i = 1; i < nt; i++) {
            if (t[i].s[0] != '/') {
                err(ps, t[i].col, "URL path must start with '/': '%s'", t[i].s);
                continue;
            }
            if (push_str(&ps->mpaths, &ps->n_mp, &ps->cap_mp, t[i].s) != 0)
                ps->oom = true;
        }
        return;
    }
    if (strcmp(k, "rule") == 0) {
        if (nt != 3 || strcmp(t[2].s, "{") != 0) {
            err(ps, t[0].col, "expected 'rule /path {'%s", "");
            return;
        }
        if (ps->n_rules >= SK_FIM_MAX_RULES) {
            err(ps, t[0].col, "too many rules%s", "");
            return;
        }
        const char *root = path_arg(ps, &t[1]);
        if (root == NULL)
            return;
        for (size_t i = 0; i < ps->n_rules; i++) {
            if (strcmp(ps->rules[i].root, root) == 0) {
                err(ps, t[1].col, "duplicate rule for '%s'", root);
                return;
            }
        }
        if (ps->n_rules == ps->cap_rules) {
            size_t nc = ps->cap_rules ? ps->cap_rules * 2 : 8;
            struct sk_fim_rule *nr = sk_realloc(ps->rules, nc * sizeof(*nr));
            size_t *ni = sk_realloc(ps->inc_start, nc * sizeof(*ni));
            if (ni != NULL)
                ps->inc_start = ni;
            size_t *ne = sk_realloc(ps->exc_start, nc * sizeof(*ne));
            if (ne != NULL)
                ps->exc_start = ne;
            if (nr == NULL || ni == NULL || ne == NULL) {
                if (nr != NULL)
                    ps->rules = nr;
                ps->oom = true;
                return;
            }
            ps->rules = nr;
            ps->cap_rules = nc;
        }
        struct sk_fim_rule *r = &ps->rules[ps->n_rules];
        memset(r, 0, sizeof(*r));
        r->root = root;
        r->root_len = strlen(root);
        r->attrs = SK_FIM_A_ALL & ~SK_FIM_A_XATTRS;
        r->responses = SK_FIM_R_ALERT;
        r->line = ps->line;
        ps->inc_start[ps->n_rules] = ps->n_inc;
        ps->exc_start[ps->n_rules] = ps->n_exc;
        ps->n_rules++;
        ps->rule = r;
        return;
    }
    err(ps, t[0].col, "unknown directive '%s'", k);
}

static void
rule_directive(struct parser *ps, struct tok *t, size_t nt)
{
    struct sk_fim_rule *r = ps->rule;
    const char *k = t[0].s;
    if (strcmp(k, "}") == 0) {
        if (nt != 1)
            err(ps, t[1].col, "unexpected '%s' after '}'", t[1].s);
        ps->rule = NULL;
        return;
    }
    if (strcmp(k, "include") == 0 || strcmp(k, "exclude") == 0) {
        bool inc = k[0] == 'i';
        if (nt < 2) {
            err(ps, t[0].col, "'%s' takes one or more patterns", k);
            return;
        }
        for (size_t i = 1; i < nt; i++) {
            if (t[i].s[0] == '/') {
                err(ps, t[i].col,
                    "patterns are relative to the rule's root: '%s'", t[i].s);
                continue;
            }
            if (ps->n_inc + ps->n_exc >= SK_FIM_MAX_PATTERNS) {
                err(ps, t[i].col, "too many patterns at '%s'", t[i].s);
                return;
            }
            int rc = inc ? push_str(&ps->inc, &ps->n_inc, &ps->cap_inc, t[i].s)
                         : push_str(&ps->exc, &ps->n_exc, &ps->cap_exc, t[i].s);
            if (rc != 0)
                ps->oom = true;
        }
        return;
    }
    if (strcmp(k, "attrs") == 0) {
        if (nt < 2) {
            err(ps, t[0].col, "'%s' takes attribute names", k);
            return;
        }
        uint32_t a = 0;
        for (size_t i = 1; i < nt; i++) {
            uint32_t b = strcmp(t[i].s, "all") == 0 ? SK_FIM_A_ALL
                                                    : sk_fim_attr_parse(t[i].s);
            if (b == 0)
                err(ps, t[i].col, "unknown attribute '%s'", t[i].s);
            a |= b;
        }
        r->attrs = a | SK_FIM_A_TYPE;
        return;
    }
    if (strcmp(k, "respond") == 0) {
        if (nt < 2) {
            err(ps, t[0].col, "'%s' takes response names", k);
            return;
        }
        uint32_t m = SK_FIM_R_ALERT;
        for (size_t i = 1; i < nt; i++) {
            uint32_t b = 0;
            for (size_t j = 0; j < sizeof(resp_table) / sizeof(resp_table[0]);
                 j++)
                if (strcmp(resp_table[j].name, t[i].s) == 0)
                    b = resp_table[j].bit;
            if (b == 0)
                err(ps, t[i].col, "unknown response '%s'", t[i].s);
            m |= b;
        }
        r->responses = m;
        return;
    }
    if (strcmp(k, "exec") == 0) {
        if (nt != 2) {
            err(ps, t[0].col, "'%s' takes one program path", k);
            return;
        }
        r->exec = path_arg(ps, &t[1]);
        return;
    }
    err(ps, t[0].col, "unknown rule directive '%s'", k);
}

static void
parse_line(struct parser *ps, const char *line, size_t len)
{
    struct tok t[MAX_TOKENS];
    size_t nt = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= len || line[i] == '#')
            break;
        size_t s = i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        for (size_t j = s; j < i; j++) {
            unsigned char ch = (unsigned char)line[j];
            if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\'') {
                err(ps, (unsigned)j + 1,
                    "control or quote character in token (%s)",
                    "quoting is not supported");
                return;
            }
        }
        if (nt == MAX_TOKENS) {
            err(ps, (unsigned)s + 1, "too many words on one line%s", "");
            return;
        }
        char *cp = sk_arena_memdup(ps->c->arena, line + s, i - s);
        if (cp == NULL) {
            ps->oom = true;
            return;
        }
        t[nt].s = cp;
        t[nt].col = (unsigned)s + 1;
        nt++;
    }
    if (nt == 0)
        return;
    if (ps->rule != NULL)
        rule_directive(ps, t, nt);
    else
        global_directive(ps, t, nt);
}

static const char **
arena_strv(struct sk_arena *a, const char **v, size_t n)
{
    if (n == 0)
        return NULL;
    const char **out = sk_arena_calloc(a, n, sizeof(*out));
    if (out != NULL)
        memcpy(out, v, n * sizeof(*out));
    return out;
}

int
sk_fim_config_parse(const char *name, const uint8_t *p, size_t len,
                    struct sk_fim_config **out, struct sk_diag *d)
{
    *out = NULL;
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return -SK_ENOMEM;
    struct sk_fim_config *c = sk_arena_zalloc(a, sizeof(*c));
    if (c == NULL) {
        sk_arena_free(a);
        return -SK_ENOMEM;
    }
    c->arena = a;
    c->store_max_file = 16u * 1024 * 1024;
    c->store_max_total = (uint64_t)2 << 30;
    c->escalate_count = 5;
    c->escalate_minutes = 10;
    c->check_interval = 3600;
    c->coalesce_ms = 10;
    struct parser ps = {.c = c, .d = d, .name = name};
    if (len > SK_FIM_MAX_CONF_BYTES) {
        sk_diag_error(d, NULL, "%s: config larger than %d bytes", name,
                      SK_FIM_MAX_CONF_BYTES);
        sk_arena_free(a);
        return -SK_ELIMIT;
    }
    size_t i = 0;
    unsigned start_errors = d->errors;
    while (i < len && !ps.oom) {
        ps.line++;
        size_t e = i;
        while (e < len && p[e] != '\n')
            e++;
        size_t l = e - i;
        if (l > 0 && p[i + l - 1] == '\r')
            l--;
        if (l > SK_FIM_MAX_CONF_LINE)
            err(&ps, 1, "line longer than %s bytes", "8192");
        else if (memchr(p + i, '\0', l) != NULL)
            err(&ps, 1, "NUL byte in line%s", "");
        else
            parse_line(&ps, (const char *)p + i, l);
        i = e + 1;
    }
    if (ps.rule != NULL) {
        struct sk_loc loc = {name, ps.rule->line, 1};
        sk_diag_error(d, &loc, "rule block for '%s' is not closed",
                      ps.rule->root);
    }
    if (!ps.oom && d->errors == start_errors) {
        if (ps.n_rules == 0)
            sk_diag_error(d, NULL, "%s: no rule selects any path", name);
        if (c->baseline == NULL)
            sk_diag_error(d, NULL, "%s: 'baseline' is not set", name);
        if (c->key == NULL)
            sk_diag_error(d, NULL, "%s: 'key' is not set", name);
        if (c->store == NULL)
            sk_diag_error(d, NULL, "%s: 'store' is not set", name);
        if (c->quarantine == NULL)
            sk_diag_error(d, NULL, "%s: 'quarantine' is not set", name);
        for (size_t r = 0; r < ps.n_rules; r++) {
            struct sk_fim_rule *ru = &ps.rules[r];
            struct sk_loc loc = {name, ru->line, 1};
            if ((ru->responses & SK_FIM_R_EXEC) && ru->exec == NULL)
                sk_diag_error(d, &loc,
                              "rule '%s' responds 'exec' without "
                              "an 'exec' program",
                              ru->root);
            if (ru->exec != NULL && !(ru->responses & SK_FIM_R_EXEC))
                sk_diag_error(d, &loc,
                              "rule '%s' has 'exec' but does not "
                              "respond 'exec'",
                              ru->root);
            if ((ru->responses & SK_FIM_R_MAINTENANCE) &&
                (c->maintenance_socket == NULL || ps.n_mp == 0))
                sk_diag_error(d, &loc,
                              "rule '%s' responds 'maintenance' "
                              "without maintenance_socket and "
                              "maintenance_path",
                              ru->root);
            if ((ru->responses & SK_FIM_R_RESTORE) &&
                !(ru->attrs & SK_FIM_A_SHA256))
                sk_diag_error(d, &loc,
                              "rule '%s' restores but does not "
                              "check sha256",
                              ru->root);
        }
    }
    int rc = 0;
    if (ps.oom) {
        rc = -SK_ENOMEM;
    } else if (d->errors != start_errors) {
        rc = -SK_EPARSE;
    } else {
        c->rules = sk_arena_calloc(a, ps.n_rules, sizeof(*c->rules));
        if (c->rules == NULL) {
            rc = -SK_ENOMEM;
        } else {
            for (size_t r = 0; r < ps.n_rules; r++) {
                struct sk_fim_rule *ru = &ps.rules[r];
                size_t ie = r + 1 < ps.n_rules ? ps.inc_start[r + 1] : ps.n_inc;
                size_t ee = r + 1 < ps.n_rules ? ps.exc_start[r + 1] : ps.n_exc;
                ru->n_include = ie - ps.inc_start[r];
                ru->n_exclude = ee - ps.exc_start[r];
                ru->include =
                    arena_strv(a, ps.inc + ps.inc_start[r], ru->n_include);
                ru->exclude =
                    arena_strv(a, ps.exc + ps.exc_start[r], ru->n_exclude);
                if ((ru->n_include && !ru->include) ||
                    (ru->n_exclude && !ru->exclude))
                    rc = -SK_ENOMEM;
                c->rules[r] = *ru;
            }
            c->n_rules = ps.n_rules;
            c->n_maintenance_paths = ps.n_mp;
            c->maintenance_paths = arena_strv(a, ps.mpaths, ps.n_mp);
            if (ps.n_mp && !c->maintenance_paths)
                rc = -SK_ENOMEM;
        }
    }
    sk_free(ps.rules);
    sk_free(ps.inc_start);
    sk_free(ps.exc_start);
    sk_free((void *)ps.inc);
    sk_free((void *)ps.exc);
    sk_free((void *)ps.mpaths);
    if (rc != 0) {
        sk_arena_free(a);
        return rc;
    }
    *out = c;
    return 0;
}

int
sk_fim_config_load(const char *path, struct sk_fim_config **out,
                   struct sk_diag *d)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        sk_diag_error(d, NULL, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? -SK_ENOENT : -SK_EIO;
    }
    struct sk_buf b = {0};
    int rc = 0;
    for (;;) {
        if (b.len > SK_FIM_MAX_CONF_BYTES) {
            rc = -SK_ELIMIT;
            break;
        }
        if ((rc = sk_buf_reserve(&b, 65536)) != 0)
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
    if (rc == 0)
        rc = sk_fim_config_parse(path, b.p, b.len, out, d);
    else
        sk_diag_error(d, NULL, "%s: %s", path, sk_strerror(rc));
    sk_buf_fini(&b);
    /* Roots reached through a symlink (/var/www -> /srv/www) are used
     * where they really are: entries are then recorded without any
     * symlink in their path, which restore relies on to refuse writing
     * through a symlink swapped in below a root. */
    for (size_t i = 0; rc == 0 && i < (*out)->n_rules; i++) {
        struct sk_fim_rule *r = &(*out)->rules[i];
        char *real = realpath(r->root, NULL);
        if (real == NULL)
            continue; /* missing: reported as removed entries */
        if (strcmp(real, r->root) != 0) {
            char *cp = sk_arena_strdup((*out)->arena, real);
            if (cp == NULL) {
                rc = -SK_ENOMEM;
            } else {
                struct sk_loc loc = {path, r->line, 1};
                sk_diag_warn(d, &loc, "rule root '%s' is '%s' on disk", r->root,
                             cp);
                r->root = cp;
                r->root_len = strlen(cp);
            }
        }
        free(real);
    }
    if (rc != 0 && *out != NULL) {
        sk_fim_config_free(*out);
        *out = NULL;
    }
    return rc;
}

void
sk_fim_config_free(struct sk_fim_config *c)
{
    if (c != NULL)
        sk_arena_free(c->arena);
}

static bool
pattern_match(const char *const *pats, size_t n, const char *rel,
              const char *base)
{
    for (size_t i = 0; i < n; i++) {
        const char *subject = strchr(pats[i], '/') != NULL ? rel : base;
        if (fnmatch(pats[i], subject, 0) == 0)
            return true;
    }
    return false;
}

const struct sk_fim_rule *
sk_fim_select(const struct sk_fim_config *c, const char *path, size_t len,
              bool is_dir)
{
    const struct sk_fim_rule *best = NULL;
    for (size_t i = 0; i < c->n_rules; i++) {
        const struct sk_fim_rule *r = &c->rules[i];
        size_t rl = r->root_len;
        if (rl == 1) /* "/" */
            rl = 0;
        if (len < rl || memcmp(path, r->root, rl) != 0)
            continue;
        if (len > rl && path[rl] != '/')
            continue;
        if (best == NULL || r->root_len > best->root_len)
            best = r;
    }
    if (best == NULL)
        return NULL;
    size_t rl = best->root_len == 1 ? 0 : best->root_len;
    if (len == rl || len == best->root_len)
        return best; /* the root itself */
    const char *rel = path + rl + 1;
    const char *base = strrchr(path, '/') + 1;
    if (pattern_match(best->exclude, best->n_exclude, rel, base))
        return NULL;
    if (is_dir || best->n_include == 0)
        return best;
    return pattern_match(best->include, best->n_include, rel, base) ? best
                                                                    : NULL;
}
