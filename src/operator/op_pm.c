/* SPDX-License-Identifier: Apache-2.0 */
/*
 * @pm and @pmFromFile: ASCII case-insensitive search for any of a set of
 * phrases, compiled once into a Vectorscan literal database
 * (HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH). The first phrase whose match
 * ends earliest in the input is reported, as ModSecurity's Aho-Corasick
 * matcher does; it becomes TX:0.
 *
 * Scratch: Vectorscan needs one scratch region per concurrent scan, big
 * enough for every database it is used with. Allocating one per call
 * (hs_alloc_scratch) costs a malloc and sizing work for each of the
 * thousands of @pm executions of a request, so instead each thread keeps
 * its own scratch. Every compiled database grows one process-wide
 * prototype scratch (under a mutex) and bumps a generation counter; a
 * thread whose scratch is older than the counter replaces it with a
 * clone of the prototype before scanning. The fast path is one atomic
 * load. A pthread key frees the thread's scratch when the thread exits;
 * the prototype lives as long as the process.
 *
 * Data files: one phrase per line; a line that is empty, only white
 * space, or whose first non-blank byte is '#' is skipped; a trailing CR
 * is dropped (CRLF files). Other white space is kept, as v3 does
 * (php-errors.data has phrases ending in a space on purpose).
 */
#include "operator/op_internal.h"

#include <errno.h>
#include <hs/hs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/alloc.h"
#include "util/error.h"

/* Scratch management --------------------------------------------------- */

static pthread_mutex_t proto_lock = PTHREAD_MUTEX_INITIALIZER;
static hs_scratch_t *proto;
static atomic_uint proto_gen;

static pthread_key_t pm_key;
static pthread_once_t pm_once = PTHREAD_ONCE_INIT;
static bool pm_key_ok;
static _Thread_local hs_scratch_t *pm_scratch;
static _Thread_local unsigned pm_gen;

static void
pm_key_destroy(void *unused)
{
    (void)unused;
    sk__pm_thread_fini();
}

static void
pm_key_init(void)
{
    pm_key_ok = pthread_key_create(&pm_key, pm_key_destroy) == 0;
}

/* Frees the calling thread's scratch (see sk_op_thread_fini()). */
void
sk__pm_thread_fini(void)
{
    if (pm_scratch != NULL) {
        hs_free_scratch(pm_scratch);
        pm_scratch = NULL;
    }
}

/* Makes the prototype big enough for `db`. */
static int
grow_proto(const hs_database_t *db)
{
    pthread_mutex_lock(&proto_lock);
    hs_error_t e = hs_alloc_scratch(db, &proto);
    if (e == HS_SUCCESS)
        atomic_fetch_add(&proto_gen, 1);
    pthread_mutex_unlock(&proto_lock);
    return e == HS_SUCCESS ? 0 : -SK_ENOMEM;
}

static hs_scratch_t *
thread_scratch(void)
{
    unsigned gen = atomic_load(&proto_gen);
    if (pm_scratch != NULL && pm_gen == gen)
        return pm_scratch;
    pthread_once(&pm_once, pm_key_init);
    sk__pm_thread_fini();
    pthread_mutex_lock(&proto_lock);
    hs_scratch_t *s = NULL;
    if (proto != NULL && hs_clone_scratch(proto, &s) != HS_SUCCESS)
        s = NULL;
    pm_gen = atomic_load(&proto_gen);
    pthread_mutex_unlock(&proto_lock);
    pm_scratch = s;
    if (s != NULL && pm_key_ok)
        (void)pthread_setspecific(pm_key, &pm_scratch);
    return s;
}

/* Phrase lists --------------------------------------------------------- */

struct phrase_list {
    struct sk_str *v;
    size_t n, cap;
};

static int
add_phrase(struct sk_arena *cfg, struct phrase_list *l, const uint8_t *p,
           size_t len)
{
    if (l->n == SK_OP_MAX_PHRASES || len > SK_OP_MAX_PHRASE_LEN)
        return -SK_ELIMIT;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64, bytes;
        if (sk_size_mul(cap, sizeof(*l->v), &bytes) != 0)
            return -SK_ENOMEM;
        struct sk_str *v = sk_realloc(l->v, bytes);
        if (v == NULL)
            return -SK_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char *copy = sk_arena_memdup(cfg, p, len);
    if (copy == NULL)
        return -SK_ENOMEM;
    l->v[l->n++] = sk_str_make(copy, len);
    return 0;
}

static int
hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Splits a @pm argument into phrases: leading blanks go, and double quotes
 * around the whole argument go; phrases are separated by white space;
 * "|41 42|"-style hex blocks give raw bytes (which, unlike in v3, never
 * split a phrase, so |20| is a usable space); '\' escapes ':', ';', '\\'
 * and '"'. v3 falls back to the raw argument on a bad escape or hex digit;
 * we report it.
 */
static int
parse_pm_arg(struct sk_arena *cfg, const char *arg, struct phrase_list *l,
             char *err, size_t errlen)
{
    size_t n = strlen(arg), i = 0;
    while (i < n && (arg[i] == ' ' || arg[i] == '\t'))
        i++;
    if (n - i >= 2 && arg[i] == '"' && arg[n - 1] == '"') {
        i++;
        n--;
    }
    uint8_t *buf = sk_malloc(n - i + 1);
    if (buf == NULL)
        return -SK_ENOMEM;
    size_t len = 0;
    bool bin = false;
    int hi = -1, rc = 0;
    for (; i <= n && rc == 0; i++) {
        uint8_t c = i < n ? (uint8_t)arg[i] : ' ';
        if (i == n && bin) {
            snprintf(err, errlen, "unterminated |hex| block");
            rc = -SK_EPARSE;
        } else if (c == '|') {
            if (bin && hi >= 0) {
                snprintf(err, errlen,
                         "odd number of hex digits in a "
                         "|hex| block");
                rc = -SK_EPARSE;
            }
            bin = !bin;
        } else if (bin) {
            if (c == ' ')
                continue; /* "|41 42|" as in Snort-style content */
            int v = hexval(c);
            if (v < 0) {
                snprintf(err, errlen,
                         "'%c' is not a hex digit in a |hex| "
                         "block",
                         c);
                rc = -SK_EPARSE;
            } else if (hi < 0) {
                hi = v;
            } else {
                buf[len++] = (uint8_t)(hi << 4 | v);
                hi = -1;
            }
        } else if (c == '\\') {
            uint8_t e = i + 1 < n ? (uint8_t)arg[i + 1] : 0;
            if (e != ':' && e != ';' && e != '\\' && e != '"') {
                snprintf(err, errlen,
                         "unsupported escape '\\%c' (only "
                         "\\: \\; \\\\ \\\" are)",
                         e ? e : ' ');
                rc = -SK_EPARSE;
            } else {
                buf[len++] = e;
                i++;
            }
        } else if (sk__op_space(c)) {
            if (len > 0)
                rc = add_phrase(cfg, l, buf, len);
            len = 0;
        } else {
            buf[len++] = c;
        }
    }
    sk_free(buf);
    if (rc == -SK_ELIMIT)
        snprintf(err, errlen,
                 "more than %d phrases or a phrase longer "
                 "than %d bytes",
                 SK_OP_MAX_PHRASES, SK_OP_MAX_PHRASE_LEN);
    return rc;
}

static int
parse_pm_file(struct sk_arena *cfg, const char *data, size_t size,
              struct phrase_list *l, char *err, size_t errlen)
{
    size_t line = 0;
    for (size_t i = 0; i < size;) {
        size_t end = i;
        while (end < size && data[end] != '\n')
            end++;
        size_t next = end < size ? end + 1 : end;
        line++;
        if (end > i && data[end - 1] == '\r')
            end--;
        size_t b = i;
        while (b < end && sk__op_space((uint8_t)data[b]))
            b++;
        if (b < end && data[b] != '#') {
            int rc = add_phrase(cfg, l, (const uint8_t *)data + i, end - i);
            if (rc != 0) {
                if (rc == -SK_ELIMIT)
                    snprintf(err, errlen,
                             "line %zu: more than %d phrases or a phrase "
                             "longer than %d bytes",
                             line, SK_OP_MAX_PHRASES, SK_OP_MAX_PHRASE_LEN);
                return rc;
            }
        }
        i = next;
    }
    return 0;
}

/* Data files ----------------------------------------------------------- */

/*
 * Reads a data file for `opname` (see op_internal.h). The argument is one
 * path: absolute, or relative to conf->basedir (the directory of the rule
 * file). URLs are refused: sekimori downloads nothing at load time.
 */
int
sk__op_read_file(const char *opname, const char *arg,
                 const struct sk_op_config *conf, const struct sk_loc *loc,
                 struct sk_diag *d, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    size_t b = 0, e = strlen(arg);
    while (b < e && sk__op_space((uint8_t)arg[b]))
        b++;
    while (e > b && sk__op_space((uint8_t)arg[e - 1]))
        e--;
    if (b == e) {
        sk_diag_error(d, loc, "@%s needs a file name", opname);
        return -SK_EPARSE;
    }
    const char *name = arg + b;
    int nlen = (int)(e - b);
    if (strncmp(name, "https://", 8) == 0 || strncmp(name, "http://", 7) == 0) {
        sk_diag_error(d, loc,
                      "@%s: sekimori does not download data files (%.*s); "
                      "save the file locally",
                      opname, nlen, name);
        return -SK_ENOTSUP;
    }
    char *path;
    if (name[0] == '/' || conf->basedir == NULL || conf->basedir[0] == '\0')
        path = sk_malloc(e - b + 1);
    else
        path = sk_malloc(strlen(conf->basedir) + 1 + (e - b) + 1);
    if (path == NULL)
        return -SK_ENOMEM;
    if (name[0] == '/' || conf->basedir == NULL || conf->basedir[0] == '\0')
        sprintf(path, "%.*s", nlen, name);
    else
        sprintf(path, "%s/%.*s", conf->basedir, nlen, name);

    int rc = 0;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL) {
        rc = errno == ENOENT ? -SK_ENOENT : -SK_EIO;
        sk_diag_error(d, loc, "@%s: cannot open %s: %s", opname, path,
                      strerror(errno));
    } else if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
        rc = -SK_EIO;
        sk_diag_error(d, loc, "@%s: %s is not a regular file", opname, path);
    } else if ((uint64_t)st.st_size > SK_OP_MAX_DATA_FILE) {
        rc = -SK_ELIMIT;
        sk_diag_error(d, loc, "@%s: %s is larger than %u bytes", opname, path,
                      SK_OP_MAX_DATA_FILE);
    } else {
        size_t size = (size_t)st.st_size;
        char *buf = sk_malloc(size + 1);
        if (buf == NULL) {
            rc = -SK_ENOMEM;
        } else if (fread(buf, 1, size, f) != size || ferror(f)) {
            rc = -SK_EIO;
            sk_diag_error(d, loc, "@%s: cannot read %s", opname, path);
            sk_free(buf);
        } else {
            buf[size] = '\0';
            *data = buf;
            *len = size;
        }
    }
    if (f != NULL)
        fclose(f);
    sk_free(path);
    return rc;
}

/* Compilation and matching --------------------------------------------- */

static void
free_db(void *db)
{
    hs_free_database(db);
}

static int
build_db(struct sk_arena *cfg, struct sk__pm *pm, const char *opname,
         const struct sk_loc *loc, struct sk_diag *d)
{
    size_t n = pm->count;
    const char **expr = sk_calloc(n, sizeof(*expr));
    unsigned *flags = sk_calloc(n, sizeof(*flags));
    unsigned *ids = sk_calloc(n, sizeof(*ids));
    size_t *lens = sk_calloc(n, sizeof(*lens));
    int rc = 0;
    if (expr == NULL || flags == NULL || ids == NULL || lens == NULL) {
        rc = -SK_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        expr[i] = (const char *)pm->phrases[i].p;
        lens[i] = pm->phrases[i].len;
        flags[i] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
        ids[i] = (unsigned)i;
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *cerr = NULL;
    if (hs_compile_lit_multi(expr, flags, ids, lens, (unsigned)n, HS_MODE_BLOCK,
                             NULL, &db, &cerr) != HS_SUCCESS) {
        sk_diag_error(d, loc, "@%s: cannot build the phrase set: %s", opname,
                      cerr && cerr->message ? cerr->message : "?");
        hs_free_compile_error(cerr);
        rc = -SK_EPARSE;
        goto out;
    }
    if (sk_arena_defer(cfg, free_db, db) != 0) {
        hs_free_database(db);
        rc = -SK_ENOMEM;
        goto out;
    }
    pm->db = db;
    rc = grow_proto(db);
out:
    sk_free(expr);
    sk_free(flags);
    sk_free(ids);
    sk_free(lens);
    return rc;
}

/*
 * Compiles the @pm (or, with `from_file`, @pmFromFile) in `op`. Returns 0,
 * -SK_EPARSE, -SK_ENOENT, -SK_EIO, -SK_ELIMIT, -SK_ENOTSUP or
 * -SK_ENOMEM, with the message in `d`. Blocks on file I/O.
 */
int
sk__pm_compile(struct sk_arena *cfg, struct sk_op *op, bool from_file,
               const struct sk_op_config *conf, const struct sk_loc *loc,
               struct sk_diag *d)
{
    const char *opname = sk__op_kind_name(op->kind);
    const char *arg = (const char *)op->arg.p;
    struct phrase_list l = {0};
    char err[200] = "";
    int rc;
    if (from_file) {
        char *data;
        size_t size;
        rc = sk__op_read_file(opname, arg, conf, loc, d, &data, &size);
        if (rc != 0)
            return rc;
        rc = parse_pm_file(cfg, data, size, &l, err, sizeof(err));
        sk_free(data);
    } else {
        rc = parse_pm_arg(cfg, arg, &l, err, sizeof(err));
    }
    if (rc == 0 && l.n == 0) {
        if (from_file) {
            sk_diag_warn(d, loc,
                         "@%s: %s holds no phrase; the rule never "
                         "matches",
                         opname, arg);
        } else {
            sk_diag_error(d, loc, "@%s needs at least one phrase", opname);
            rc = -SK_EPARSE;
        }
    }
    if (rc != 0) {
        if (err[0] != '\0')
            sk_diag_error(d, loc, "@%s %s: %s", opname, arg, err);
        sk_free(l.v);
        return rc;
    }
    if (l.n > 0) {
        size_t bytes = l.n * sizeof(*l.v);
        op->u.pm.phrases = sk_arena_alloc(cfg, bytes);
        if (op->u.pm.phrases == NULL) {
            sk_free(l.v);
            return -SK_ENOMEM;
        }
        memcpy(op->u.pm.phrases, l.v, bytes);
        op->u.pm.count = l.n;
        rc = build_db(cfg, &op->u.pm, opname, loc, d);
    }
    sk_free(l.v);
    return rc;
}

struct scan_state {
    unsigned id;
    unsigned long long to;
    bool found;
};

static int
on_match(unsigned id, unsigned long long from, unsigned long long to,
         unsigned flags, void *ctx)
{
    (void)from;
    (void)flags;
    struct scan_state *st = ctx;
    st->id = id;
    st->to = to;
    st->found = true;
    return 1; /* stop: the first (earliest-ending) match is the one */
}

/*
 * Runs the phrase set of `op` on `input`. The captured phrase (TX:0) and
 * matched_data are the phrase as written in the rule or file. Returns 0,
 * -SK_ENOMEM (no scratch) or -SK_ELIMIT (an input over 4 GiB).
 */
int
sk__pm_exec(const struct sk_op *op, struct sk_str input, bool want_captures,
            struct sk_op_result *res)
{
    const struct sk__pm *pm = &op->u.pm;
    if (pm->db == NULL || input.len == 0)
        return 0;
    if (input.len > UINT32_MAX)
        return -SK_ELIMIT;
    hs_scratch_t *s = thread_scratch();
    if (s == NULL)
        return -SK_ENOMEM;
    struct scan_state st = {0, 0, false};
    hs_error_t e = hs_scan(pm->db, (const char *)input.p, (unsigned)input.len,
                           0, s, on_match, &st);
    if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED)
        return e == HS_NOMEM ? -SK_ENOMEM : -SK_EINVAL;
    if (!st.found || st.id >= pm->count)
        return 0;
    res->matched = true;
    res->matched_data = pm->phrases[st.id];
    if (want_captures) {
        res->captures[0] = pm->phrases[st.id];
        res->ncaptures = 1;
    }
    return 0;
}
