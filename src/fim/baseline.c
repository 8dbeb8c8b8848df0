/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Baseline databases: the in-memory form (sorted entries), the signed
 * binary encoding of docs/formats/fim-baseline.md, its strict reader, and
 * the Ed25519 keys that sign it (OpenSSL 3 EVP). A baseline whose signature
 * or key id does not verify is refused with -SK_ECORRUPT; nothing here ever
 * rebuilds one.
 */
#include "fim/fim.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* OpenSSL 3 keeps `sk_free` as a deprecated alias of OPENSSL_sk_free. */
#undef sk_free
#include "util/alloc.h"
#include "util/error.h"

#define DB_MAGIC "SKFIMDB1"
#define DB_VERSION 1u
#define SIG_MAGIC "SIG1"
#define SIG_LEN 64
#define TRAILER_LEN (4 + SIG_LEN)

struct sk_fim_key {
    EVP_PKEY *pkey;
    bool priv;
    uint8_t id[8];
};

/* ---- keys ------------------------------------------------------------- */

static int
key_fill_id(struct sk_fim_key *k)
{
    uint8_t raw[32], h[32];
    size_t len = sizeof(raw);
    unsigned hl = 0;
    if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) != 1 || len != 32)
        return -SK_EINVAL;
    if (EVP_Digest(raw, len, h, &hl, EVP_sha256(), NULL) != 1)
        return -SK_ENOMEM;
    memcpy(k->id, h, sizeof(k->id));
    return 0;
}

static int
write_pem(const char *path, EVP_PKEY *pkey, bool priv)
{
    char tmp[SK_FIM_MAX_PATH + 8];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -SK_ELIMIT;
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, priv ? 0600 : 0644);
    if (fd == -1)
        return errno == EEXIST ? -SK_EEXIST : -SK_EIO;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(tmp);
        return -SK_EIO;
    }
    int ok = priv ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)
                  : PEM_write_PUBKEY(f, pkey);
    ok = ok == 1;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        unlink(tmp);
        return -SK_EIO;
    }
    /* The private key must never replace an existing one: link(2) fails
     * with EEXIST where rename(2) would overwrite. */
    if (priv) {
        int rc = link(tmp, path) == -1
                     ? (errno == EEXIST ? -SK_EEXIST : -SK_EIO)
                     : 0;
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, path) == -1) {
        unlink(tmp);
        return -SK_EIO;
    }
    return 0;
}

int
sk_fim_keygen(const char *path)
{
    char pub[SK_FIM_MAX_PATH + 8];
    if (snprintf(pub, sizeof(pub), "%s.pub", path) >= (int)sizeof(pub))
        return -SK_ELIMIT;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pkey == NULL)
        return -SK_ENOMEM;
    int rc = write_pem(path, pkey, true);
    if (rc == 0)
        rc = write_pem(pub, pkey, false);
    EVP_PKEY_free(pkey);
    return rc;
}

int
sk_fim_key_load(const char *path, bool priv, struct sk_fim_key **out)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? -SK_ENOENT : -SK_EIO;
    if (priv) {
        struct stat st;
        if (fstat(fileno(f), &st) == -1 || (st.st_mode & 077) != 0) {
            fclose(f);
            return -SK_EINVAL;
        }
    }
    EVP_PKEY *pkey = priv ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
                          : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (pkey == NULL)
        return -SK_EPARSE;
    if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        EVP_PKEY_free(pkey);
        return -SK_ENOTSUP;
    }
    struct sk_fim_key *k = sk_calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return -SK_ENOMEM;
    }
    k->pkey = pkey;
    k->priv = priv;
    int rc = key_fill_id(k);
    if (rc != 0) {
        sk_fim_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void
sk_fim_key_free(struct sk_fim_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    sk_free(k);
}

/* ---- db ------------------------------------------------------------------ */

struct sk_fim_db *
sk_fim_db_new(void)
{
    struct sk_fim_db *db = sk_calloc(1, sizeof(*db));
    if (db == NULL)
        return NULL;
    db->arena = sk_arena_new(0);
    if (db->arena == NULL) {
        sk_free(db);
        return NULL;
    }
    db->who = "";
    db->why = "";
    return db;
}

void
sk_fim_db_free(struct sk_fim_db *db)
{
    if (db == NULL)
        return;
    sk_arena_free(db->arena);
    sk_free(db->e);
    sk_free(db);
}

static int
path_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = memcmp(a, b, n);
    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

struct sk_fim_entry *
sk_fim_db_find(const struct sk_fim_db *db, const char *path, size_t len)
{
    size_t lo = 0, hi = db->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct sk_fim_entry *e = &db->e[mid];
        int c = path_cmp(e->path, e->path_len, path, len);
        if (c == 0)
            return &db->e[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- encoding ------------------------------------------------------------ */

static int
put_u32(struct sk_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                    (uint8_t)(v >> 24)};
    return sk_buf_append(b, x, 4);
}

static int
put_u64(struct sk_buf *b, uint64_t v)
{
    int rc = put_u32(b, (uint32_t)v);
    return rc ? rc : put_u32(b, (uint32_t)(v >> 32));
}

static int
sign(const struct sk_fim_key *k, const uint8_t *p, size_t n, uint8_t *sig)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -SK_ENOMEM;
    size_t sl = SIG_LEN;
    int ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &sl, p, n) == 1 && sl == SIG_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -SK_EINVAL;
}

static bool
verify(const struct sk_fim_key *k, const uint8_t *p, size_t n,
       const uint8_t *sig)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return false;
    bool ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, SIG_LEN, p, n) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

int
sk_fim_db_encode(const struct sk_fim_db *db, const struct sk_fim_key *key,
                 struct sk_buf *out)
{
    if (!key->priv)
        return -SK_EINVAL;
    size_t start = out->len;
    size_t wl = strlen(db->who), yl = strlen(db->why);
    if (wl > SK_FIM_MAX_NOTE || yl > SK_FIM_MAX_NOTE)
        return -SK_ELIMIT;
    int rc = sk_buf_append(out, DB_MAGIC, 8);
    rc = rc ? rc : put_u32(out, DB_VERSION);
    rc = rc ? rc : put_u32(out, 0);
    rc = rc ? rc : put_u64(out, db->generation);
    rc = rc ? rc : put_u64(out, (uint64_t)db->created);
    rc = rc ? rc : sk_buf_append(out, key->id, 8);
    rc = rc ? rc : put_u32(out, (uint32_t)wl);
    rc = rc ? rc : sk_buf_append(out, db->who, wl);
    rc = rc ? rc : put_u32(out, (uint32_t)yl);
    rc = rc ? rc : sk_buf_append(out, db->why, yl);
    rc = rc ? rc : put_u64(out, db->n);
    for (size_t i = 0; rc == 0 && i < db->n; i++) {
        const struct sk_fim_entry *e = &db->e[i];
        if (i > 0 && path_cmp(db->e[i - 1].path, db->e[i - 1].path_len, e->path,
                              e->path_len) >= 0)
            return -SK_EINVAL;
        uint8_t flags = e->flags & (SK_FIM_E_HASHED | SK_FIM_E_XATTR);
        rc = put_u32(out, e->path_len);
        rc = rc ? rc : sk_buf_append(out, e->path, e->path_len);
        uint8_t tf[4] = {e->type, flags, 0, 0};
        rc = rc ? rc : sk_buf_append(out, tf, 4);
        rc = rc ? rc : put_u32(out, e->attrs);
        rc = rc ? rc : put_u32(out, e->mode);
        rc = rc ? rc : put_u32(out, e->uid);
        rc = rc ? rc : put_u32(out, e->gid);
        rc = rc ? rc : put_u64(out, e->size);
        rc = rc ? rc : put_u64(out, e->ino);
        rc = rc ? rc : put_u64(out, e->nlink);
        rc = rc ? rc : put_u64(out, (uint64_t)e->mtime_s);
        rc = rc ? rc : put_u32(out, e->mtime_ns);
        rc = rc ? rc : put_u64(out, (uint64_t)e->ctime_s);
        rc = rc ? rc : put_u32(out, e->ctime_ns);
        if (rc == 0 && (flags & SK_FIM_E_HASHED))
            rc = sk_buf_append(out, e->sha256, 32);
        if (rc == 0 && (flags & SK_FIM_E_XATTR))
            rc = sk_buf_append(out, e->xattr_sha, 32);
        uint32_t tl = e->type == SK_FIM_T_LNK ? e->target_len : 0;
        rc = rc ? rc : put_u32(out, tl);
        if (rc == 0 && tl > 0)
            rc = sk_buf_append(out, e->target, tl);
    }
    uint8_t sig[SIG_LEN];
    rc = rc ? rc : sign(key, out->p + start, out->len - start, sig);
    rc = rc ? rc : sk_buf_append(out, SIG_MAGIC, 4);
    rc = rc ? rc : sk_buf_append(out, sig, SIG_LEN);
    return rc;
}

/* ---- decoding ------------------------------------------------------------ */

struct rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static const uint8_t *
take(struct rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint32_t
get_u32(struct rd *r)
{
    const uint8_t *x = take(r, 4);
    if (x == NULL)
        return 0;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 |
           (uint32_t)x[3] << 24;
}

static uint64_t
get_u64(struct rd *r)
{
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}

static const char *
get_text(struct rd *r, struct sk_arena *a, uint32_t max, uint32_t *lenp)
{
    uint32_t n = get_u32(r);
    if (n > max) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = take(r, n);
    if (p == NULL || memchr(p, '\0', n) != NULL) {
        r->bad = true;
        return NULL;
    }
    char *s = sk_arena_memdup(a, p, n);
    if (s == NULL)
        r->bad = true;
    if (lenp != NULL)
        *lenp = n;
    return s;
}

static int
parse_body(const uint8_t *p, size_t len, struct sk_fim_db **out)
{
    *out = NULL;
    struct rd r = {p, len, 0, false};
    const uint8_t *m = take(&r, 8);
    if (m == NULL || memcmp(m, DB_MAGIC, 8) != 0)
        return -SK_EPARSE;
    if (get_u32(&r) != DB_VERSION)
        return -SK_ENOTSUP;
    if (get_u32(&r) != 0)
        return -SK_EPARSE;
    struct sk_fim_db *db = sk_fim_db_new();
    if (db == NULL)
        return -SK_ENOMEM;
    db->generation = get_u64(&r);
    db->created = (int64_t)get_u64(&r);
    const uint8_t *kid = take(&r, 8);
    if (kid != NULL)
        memcpy(db->key_id, kid, 8);
    db->who = get_text(&r, db->arena, SK_FIM_MAX_NOTE, NULL);
    db->why = get_text(&r, db->arena, SK_FIM_MAX_NOTE, NULL);
    uint64_t n = get_u64(&r);
    /* Each entry takes at least 77 bytes: a cheap bound before allocating. */
    if (r.bad || n > SK_FIM_MAX_ENTRIES || n > (r.len - r.off) / 77) {
        sk_fim_db_free(db);
        return -SK_EPARSE;
    }
    if (n > 0) {
        db->e = sk_calloc((size_t)n, sizeof(*db->e));
        if (db->e == NULL) {
            sk_fim_db_free(db);
            return -SK_ENOMEM;
        }
        db->cap = (size_t)n;
    }
    for (uint64_t i = 0; i < n && !r.bad; i++) {
        struct sk_fim_entry *e = &db->e[i];
        e->path = get_text(&r, db->arena, SK_FIM_MAX_PATH, &e->path_len);
        const uint8_t *tf = take(&r, 4);
        if (r.bad)
            break;
        e->type = tf[0];
        e->flags = tf[1];
        e->attrs = get_u32(&r);
        e->mode = get_u32(&r);
        e->uid = get_u32(&r);
        e->gid = get_u32(&r);
        e->size = get_u64(&r);
        e->ino = get_u64(&r);
        e->nlink = get_u64(&r);
        e->mtime_s = (int64_t)get_u64(&r);
        e->mtime_ns = get_u32(&r);
        e->ctime_s = (int64_t)get_u64(&r);
        e->ctime_ns = get_u32(&r);
        if (e->flags & SK_FIM_E_HASHED) {
            const uint8_t *h = take(&r, 32);
            if (h != NULL)
                memcpy(e->sha256, h, 32);
        }
        if (e->flags & SK_FIM_E_XATTR) {
            const uint8_t *h = take(&r, 32);
            if (h != NULL)
                memcpy(e->xattr_sha, h, 32);
        }
        uint32_t tl = 0;
        const char *t = get_text(&r, db->arena, SK_FIM_MAX_PATH, &tl);
        if (r.bad)
            break;
        if (tl > 0) {
            e->target = t;
            e->target_len = tl;
        }
        bool ok =
            e->path_len > 0 && e->path[0] == '/' && tf[2] == 0 && tf[3] == 0 &&
            e->type >= SK_FIM_T_REG && e->type <= SK_FIM_T_OTHER &&
            (e->flags & ~(SK_FIM_E_HASHED | SK_FIM_E_XATTR)) == 0 &&
            (e->attrs & ~SK_FIM_A_ALL) == 0 && e->mtime_ns < 1000000000u &&
            e->ctime_ns < 1000000000u && (tl == 0 || e->type == SK_FIM_T_LNK) &&
            (!(e->flags & SK_FIM_E_HASHED) || e->type == SK_FIM_T_REG);
        if (ok && i > 0)
            ok = path_cmp(db->e[i - 1].path, db->e[i - 1].path_len, e->path,
                          e->path_len) < 0;
        if (!ok)
            r.bad = true;
        db->n = (size_t)i + 1;
    }
    if (r.bad || r.off != r.len) {
        sk_fim_db_free(db);
        return -SK_EPARSE;
    }
    db->n = (size_t)n;
    *out = db;
    return 0;
}

int
sk_fim_db_parse(const uint8_t *p, size_t len, struct sk_fim_db **out)
{
    *out = NULL;
    if (len < TRAILER_LEN || memcmp(p + len - TRAILER_LEN, SIG_MAGIC, 4) != 0)
        return -SK_EPARSE;
    return parse_body(p, len - TRAILER_LEN, out);
}

static int
read_file(const char *path, struct sk_buf *b, uint64_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1)
        return errno == ENOENT ? -SK_ENOENT : -SK_EIO;
    struct stat st;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -SK_EIO;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return -SK_ELIMIT;
    }
    int rc = sk_buf_reserve(b, (size_t)st.st_size + 1);
    while (rc == 0) {
        if (b->len == b->cap && (rc = sk_buf_reserve(b, 65536)) != 0)
            break;
        if (b->len > max) {
            rc = -SK_ELIMIT;
            break;
        }
        ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            rc = -SK_EIO;
        } else if (n == 0) {
            break;
        } else {
            b->len += (size_t)n;
        }
    }
    close(fd);
    return rc;
}

int
sk_fim_db_load(const char *path, const struct sk_fim_key *key,
               struct sk_fim_db **out)
{
    *out = NULL;
    struct sk_buf b = {0};
    int rc = read_file(path, &b, SK_FIM_MAX_DB_BYTES);
    if (rc != 0) {
        sk_buf_fini(&b);
        return rc;
    }
    /* The signature is checked before any field is trusted. */
    if (b.len < TRAILER_LEN + 8 ||
        memcmp(b.p + b.len - TRAILER_LEN, SIG_MAGIC, 4) != 0 ||
        !verify(key, b.p, b.len - TRAILER_LEN, b.p + b.len - SIG_LEN)) {
        sk_buf_fini(&b);
        return -SK_ECORRUPT;
    }
    rc = parse_body(b.p, b.len - TRAILER_LEN, out);
    sk_buf_fini(&b);
    if (rc == 0 && memcmp((*out)->key_id, key->id, 8) != 0) {
        sk_fim_db_free(*out);
        *out = NULL;
        return -SK_ECORRUPT;
    }
    /* A validly signed file that does not parse is still refused as
     * corrupt: the writer never produces one. */
    return rc == -SK_EPARSE ? -SK_ECORRUPT : rc;
}

int
sk_fim_db_save(const char *path, const struct sk_fim_db *db,
               const struct sk_fim_key *key)
{
    struct sk_buf b = {0};
    int rc = sk_fim_db_encode(db, key, &b);
    if (rc != 0) {
        sk_buf_fini(&b);
        return rc;
    }
    char tmp[SK_FIM_MAX_PATH + 16];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof(tmp)) {
        sk_buf_fini(&b);
        return -SK_ELIMIT;
    }
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1) {
        sk_buf_fini(&b);
        return -SK_EIO;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t n = write(fd, b.p + off, b.len - off);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            break;
        }
        off += (size_t)n;
    }
    bool ok = off == b.len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    sk_buf_fini(&b);
    if (!ok || rename(tmp, path) == -1) {
        unlink(tmp);
        return -SK_EIO;
    }
    return 0;
}
