/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scanning: walks the rule roots (one thread, readdir without following
 * symlinks), then stats and hashes the selected entries on a pool of
 * pthreads that take chunks of the entry array, each with its own OpenSSL
 * digest context and read buffer. Small files are read once: the same
 * buffer is hashed and, for `init`/`accept`, compressed into the store.
 */
#include "fim/fim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* OpenSSL 3 keeps `sk_free` as a deprecated alias of OPENSSL_sk_free. */
#undef sk_free
#include "util/alloc.h"
#include "util/error.h"

#define CHUNK_READ (256 * 1024)
#define XATTR_LIST_MAX_BYTES 65536
#define XATTR_VALUE_MAX_BYTES 65536

/* Per-thread hashing state. */
struct hctx {
    EVP_MD_CTX *md;
    struct sk_buf buf;
    struct sk_fim_store *store;
    struct sk_fim_zctx *zctx; /* created at the first put */
    uint64_t files, bytes, stored, store_bytes, errors;
};

static int
hctx_init(struct hctx *h, struct sk_fim_store *store)
{
    memset(h, 0, sizeof(*h));
    h->md = EVP_MD_CTX_new();
    h->store = store;
    return h->md == NULL ? -SK_ENOMEM : 0;
}

static void
hctx_fini(struct hctx *h)
{
    EVP_MD_CTX_free(h->md);
    sk_fim_zctx_free(h->zctx);
    sk_buf_fini(&h->buf);
}

static uint8_t
type_of(mode_t m)
{
    if (S_ISREG(m))
        return SK_FIM_T_REG;
    if (S_ISDIR(m))
        return SK_FIM_T_DIR;
    if (S_ISLNK(m))
        return SK_FIM_T_LNK;
    return SK_FIM_T_OTHER;
}

static void
fill_stat(struct sk_fim_entry *e, const struct stat *st)
{
    e->type = type_of(st->st_mode);
    e->mode = (uint32_t)(st->st_mode & 07777);
    e->uid = (uint32_t)st->st_uid;
    e->gid = (uint32_t)st->st_gid;
    e->size = (uint64_t)st->st_size;
    e->ino = (uint64_t)st->st_ino;
    e->nlink = (uint64_t)st->st_nlink;
    e->mtime_s = (int64_t)st->st_mtim.tv_sec;
    e->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
    e->ctime_s = (int64_t)st->st_ctim.tv_sec;
    e->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
}

/* Hashes the open regular file fd into e->sha256 (and stores it). */
static int
hash_fd(int fd, struct sk_fim_entry *e, struct hctx *h)
{
    if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
        return -SK_ENOMEM;
    uint64_t max_keep = h->store ? sk_fim_store_max_file(h->store) : 0;
    bool keep = h->store != NULL && e->size <= max_keep;
    h->buf.len = 0;
    uint64_t total = 0;
    for (;;) {
        int rc = sk_buf_reserve(&h->buf, CHUNK_READ);
        if (rc != 0)
            return rc;
        uint8_t *dst = h->buf.p + h->buf.len;
        ssize_t n = read(fd, dst, CHUNK_READ);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -SK_EIO;
        }
        if (n == 0)
            break;
        if (EVP_DigestUpdate(h->md, dst, (size_t)n) != 1)
            return -SK_ENOMEM;
        total += (uint64_t)n;
        if (keep) {
            h->buf.len += (size_t)n;
            if (h->buf.len > max_keep) {
                keep = false;
                h->buf.len = 0;
            }
        }
        /* A short read that reaches the size fstat gave is the end of a
         * regular file: skip the extra read(2) that would return 0. A
         * file growing meanwhile is hashed as of that size; its growth
         * is a new change event. */
        if ((size_t)n < CHUNK_READ && total == e->size)
            break;
    }
    unsigned hl = 0;
    if (EVP_DigestFinal_ex(h->md, e->sha256, &hl) != 1 || hl != 32)
        return -SK_ENOMEM;
    e->flags |= SK_FIM_E_HASHED;
    h->files++;
    h->bytes += total;
    /* The size recorded is the one hashed, so that a file growing while
     * read is reported consistently with its hash. */
    e->size = total;
    if (keep) {
        bool added = false;
        uint64_t written = 0;
        if (h->zctx == NULL && (h->zctx = sk_fim_zctx_new()) == NULL)
            return -SK_ENOMEM;
        int rc = sk_fim_store_put(h->store, e->sha256, h->buf.p, h->buf.len,
                                  h->zctx, &added, &written);
        if (rc != 0 && rc != -SK_ELIMIT)
            return rc;
        if (added) {
            h->stored++;
            h->store_bytes += written;
        }
    }
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Digest of every xattr: names sorted, then name NUL len value. */
static int
hash_xattrs(const char *path, struct sk_fim_entry *e, struct hctx *h)
{
    char list[XATTR_LIST_MAX_BYTES];
    ssize_t n = llistxattr(path, list, sizeof(list));
    if (n == -1) {
        if (errno == ENOTSUP)
            n = 0;
        else
            return -SK_EIO;
    }
    const char *names[1024];
    size_t nn = 0;
    for (ssize_t i = 0; i < n && nn < 1024;) {
        names[nn++] = list + i;
        i += (ssize_t)strlen(list + i) + 1;
    }
    qsort(names, nn, sizeof(names[0]), name_cmp);
    if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
        return -SK_ENOMEM;
    for (size_t i = 0; i < nn; i++) {
        int rc = sk_buf_reserve(&h->buf, XATTR_VALUE_MAX_BYTES);
        if (rc != 0)
            return rc;
        ssize_t vl = lgetxattr(path, names[i], h->buf.p, XATTR_VALUE_MAX_BYTES);
        if (vl == -1)
            return -SK_EIO;
        uint8_t len[4] = {(uint8_t)vl, (uint8_t)(vl >> 8), (uint8_t)(vl >> 16),
                          (uint8_t)(vl >> 24)};
        if (EVP_DigestUpdate(h->md, names[i], strlen(names[i]) + 1) != 1 ||
            EVP_DigestUpdate(h->md, len, 4) != 1 ||
            EVP_DigestUpdate(h->md, h->buf.p, (size_t)vl) != 1)
            return -SK_ENOMEM;
    }
    unsigned hl = 0;
    if (EVP_DigestFinal_ex(h->md, e->xattr_sha, &hl) != 1)
        return -SK_ENOMEM;
    e->flags |= SK_FIM_E_XATTR;
    return 0;
}

/* Stats (and hashes) e->path; symlink targets are left to the caller. */
static int
read_entry(struct sk_fim_entry *e, struct hctx *h)
{
    e->flags = 0;
    e->err = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct stat st;
        if (lstat(e->path, &st) == -1) {
            e->err = (int16_t)errno;
            return errno == ENOENT || errno == ENOTDIR ? -SK_ENOENT : -SK_EIO;
        }
        fill_stat(e, &st);
        if (e->type != SK_FIM_T_REG || !(e->attrs & SK_FIM_A_SHA256))
            break;
        int fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                                   O_NOATIME);
        if (fd == -1 && errno == EPERM)
            fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd == -1) {
            if (errno == ENOENT || errno == ELOOP)
                continue; /* replaced between lstat and open */
            e->err = (int16_t)errno;
            return -SK_EIO;
        }
        struct stat fst;
        if (fstat(fd, &fst) == -1 || !S_ISREG(fst.st_mode) ||
            fst.st_ino != st.st_ino || fst.st_dev != st.st_dev) {
            close(fd);
            continue;
        }
        fill_stat(e, &fst);
        int rc = hash_fd(fd, e, h);
        close(fd);
        if (rc != 0) {
            e->err = EIO;
            return rc;
        }
        break;
    }
    if (e->type == SK_FIM_T_REG && (e->attrs & SK_FIM_A_SHA256) &&
        !(e->flags & SK_FIM_E_HASHED)) {
        e->err = EAGAIN;
        return -SK_EAGAIN;
    }
    if (e->attrs & SK_FIM_A_XATTRS) {
        int rc = hash_xattrs(e->path, e, h);
        if (rc != 0) {
            e->err = EIO;
            return rc;
        }
    }
    return 0;
}

static int
read_target(struct sk_fim_entry *e, struct sk_arena *a)
{
    char t[SK_FIM_MAX_PATH];
    ssize_t n = readlink(e->path, t, sizeof(t));
    if (n == -1 || (size_t)n >= sizeof(t)) {
        e->err = n == -1 ? (int16_t)errno : ENAMETOOLONG;
        return -SK_EIO;
    }
    char *s = sk_arena_memdup(a, t, (size_t)n);
    if (s == NULL)
        return -SK_ENOMEM;
    e->target = s;
    e->target_len = (uint32_t)n;
    return 0;
}

int
sk_fim_entry_read(const char *path, size_t len, uint32_t attrs,
                  struct sk_arena *arena, struct sk_fim_entry *e)
{
    memset(e, 0, sizeof(*e));
    char *p = sk_arena_memdup(arena, path, len);
    if (p == NULL)
        return -SK_ENOMEM;
    e->path = p;
    e->path_len = (uint32_t)len;
    e->attrs = attrs;
    struct hctx h;
    int rc = hctx_init(&h, NULL);
    if (rc == 0)
        rc = read_entry(e, &h);
    hctx_fini(&h);
    if (rc == 0 && e->type == SK_FIM_T_LNK)
        rc = read_target(e, arena);
    if (rc != 0 && rc != -SK_ENOENT)
        e->flags |= SK_FIM_E_ERROR;
    return rc;
}

uint32_t
sk_fim_entry_diff(const struct sk_fim_entry *a, const struct sk_fim_entry *b)
{
    uint32_t m = a->attrs & b->attrs;
    uint32_t d = 0;
    if (a->type != b->type)
        d |= SK_FIM_A_TYPE;
    if (a->type == b->type && a->type != SK_FIM_T_DIR && a->size != b->size)
        d |= SK_FIM_A_SIZE;
    if (a->mode != b->mode)
        d |= SK_FIM_A_MODE;
    if (a->uid != b->uid)
        d |= SK_FIM_A_UID;
    if (a->gid != b->gid)
        d |= SK_FIM_A_GID;
    if (a->ino != b->ino)
        d |= SK_FIM_A_INODE;
    if (a->nlink != b->nlink)
        d |= SK_FIM_A_NLINK;
    if (a->mtime_s != b->mtime_s || a->mtime_ns != b->mtime_ns)
        d |= SK_FIM_A_MTIME;
    if (a->ctime_s != b->ctime_s || a->ctime_ns != b->ctime_ns)
        d |= SK_FIM_A_CTIME;
    if (a->target_len != b->target_len ||
        (a->target_len > 0 && memcmp(a->target, b->target, a->target_len)))
        d |= SK_FIM_A_TARGET;
    if ((a->flags & SK_FIM_E_HASHED) != (b->flags & SK_FIM_E_HASHED) ||
        ((a->flags & SK_FIM_E_HASHED) && memcmp(a->sha256, b->sha256, 32)))
        d |= SK_FIM_A_SHA256;
    if ((a->flags & SK_FIM_E_XATTR) != (b->flags & SK_FIM_E_XATTR) ||
        ((a->flags & SK_FIM_E_XATTR) && memcmp(a->xattr_sha, b->xattr_sha, 32)))
        d |= SK_FIM_A_XATTRS;
    /* A type change makes the content comparison meaningless but is
     * itself reported; keep the other differing bits for the report. */
    return d & (m | SK_FIM_A_TYPE);
}

/* ---- the walk ------------------------------------------------------------ */

struct walk {
    const struct sk_fim_config *c;
    struct sk_fim_db *db;
    char path[SK_FIM_MAX_PATH + 256];
    int rc;
    uint64_t errors;
};

static int
add_entry(struct walk *w, size_t len, const struct sk_fim_rule *r,
          uint8_t type_hint)
{
    struct sk_fim_db *db = w->db;
    if (db->n >= SK_FIM_MAX_ENTRIES)
        return -SK_ELIMIT;
    if (db->n == db->cap) {
        size_t nc = db->cap ? db->cap * 2 : 1024;
        struct sk_fim_entry *ne = sk_realloc(db->e, nc * sizeof(*ne));
        if (ne == NULL)
            return -SK_ENOMEM;
        db->e = ne;
        db->cap = nc;
    }
    struct sk_fim_entry *e = &db->e[db->n];
    memset(e, 0, sizeof(*e));
    char *p = sk_arena_memdup(db->arena, w->path, len);
    if (p == NULL)
        return -SK_ENOMEM;
    e->path = p;
    e->path_len = (uint32_t)len;
    e->attrs = r->attrs;
    e->type = type_hint;
    db->n++;
    return 0;
}

static int
walk_dir(struct walk *w, size_t len, const struct sk_fim_rule *rule, int depth)
{
    if (depth > SK_FIM_MAX_DEPTH)
        return -SK_ELIMIT;
    DIR *d = opendir(w->path);
    if (d == NULL) {
        w->errors++;
        return 0; /* recorded as an entry; its children are unknown */
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == 0)))
            continue;
        size_t nl = strlen(nm);
        size_t base = len == 1 ? 0 : len; /* root "/" */
        if (base + 1 + nl >= SK_FIM_MAX_PATH) {
            w->errors++;
            continue;
        }
        w->path[base] = '/';
        memcpy(w->path + base + 1, nm, nl + 1);
        size_t plen = base + 1 + nl;
        unsigned char dt = de->d_type;
        if (dt == DT_UNKNOWN) {
            struct stat st;
            if (lstat(w->path, &st) == -1)
                continue;
            dt = S_ISDIR(st.st_mode)   ? DT_DIR
                 : S_ISLNK(st.st_mode) ? DT_LNK
                 : S_ISREG(st.st_mode) ? DT_REG
                                       : DT_FIFO;
        }
        bool is_dir = dt == DT_DIR;
        const struct sk_fim_rule *r =
            sk_fim_select(w->c, w->path, plen, is_dir);
        if (r == NULL)
            continue;
        if (r != rule)
            continue; /* another rule's root: walked on its own */
        uint8_t th = is_dir         ? SK_FIM_T_DIR
                     : dt == DT_LNK ? SK_FIM_T_LNK
                     : dt == DT_REG ? SK_FIM_T_REG
                                    : SK_FIM_T_OTHER;
        rc = add_entry(w, plen, r, th);
        if (rc == 0 && is_dir)
            rc = walk_dir(w, plen, rule, depth + 1);
        w->path[len] = '\0';
    }
    closedir(d);
    w->path[len] = '\0';
    return rc;
}

static int
entry_cmp(const void *a, const void *b)
{
    const struct sk_fim_entry *x = a, *y = b;
    size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
    int c = memcmp(x->path, y->path, n);
    if (c != 0)
        return c;
    return x->path_len < y->path_len ? -1 : x->path_len > y->path_len;
}

/* ---- the pool ------------------------------------------------------------ */

struct pool {
    struct sk_fim_db *db;
    atomic_size_t next;
    struct sk_fim_store *store;
    atomic_int rc;
    uint64_t files, bytes, stored, store_bytes, errors;
    pthread_mutex_t mu;
};

#define POOL_CHUNK 32

static void *
worker(void *arg)
{
    struct pool *p = arg;
    struct hctx h;
    if (hctx_init(&h, p->store) != 0) {
        atomic_store(&p->rc, -SK_ENOMEM);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, POOL_CHUNK);
        if (i >= p->db->n || atomic_load(&p->rc) != 0)
            break;
        size_t end = i + POOL_CHUNK < p->db->n ? i + POOL_CHUNK : p->db->n;
        for (; i < end; i++) {
            struct sk_fim_entry *e = &p->db->e[i];
            int rc = read_entry(e, &h);
            if (rc == -SK_ENOMEM) {
                atomic_store(&p->rc, rc);
                break;
            }
            if (rc != 0) {
                e->flags |= SK_FIM_E_ERROR;
                h.errors++;
            }
        }
    }
    pthread_mutex_lock(&p->mu);
    p->files += h.files;
    p->bytes += h.bytes;
    p->stored += h.stored;
    p->store_bytes += h.store_bytes;
    p->errors += h.errors;
    pthread_mutex_unlock(&p->mu);
    hctx_fini(&h);
    return NULL;
}

static unsigned
thread_count(const struct sk_fim_config *c)
{
    long n = c->threads ? (long)c->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > SK_FIM_MAX_THREADS)
        n = SK_FIM_MAX_THREADS;
    return (unsigned)n;
}

int
sk_fim_scan(const struct sk_fim_config *c, struct sk_fim_store *store,
            struct sk_fim_db **out, struct sk_fim_scan_stats *stats)
{
    *out = NULL;
    memset(stats, 0, sizeof(*stats));
    struct sk_fim_db *db = sk_fim_db_new();
    if (db == NULL)
        return -SK_ENOMEM;
    struct walk *w = sk_calloc(1, sizeof(*w));
    if (w == NULL) {
        sk_fim_db_free(db);
        return -SK_ENOMEM;
    }
    w->c = c;
    w->db = db;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n_rules; i++) {
        const struct sk_fim_rule *r = &c->rules[i];
        memcpy(w->path, r->root, r->root_len + 1);
        struct stat st;
        if (lstat(w->path, &st) == -1)
            continue; /* a missing root: its entries show as removed */
        if (sk_fim_select(c, w->path, r->root_len, S_ISDIR(st.st_mode)) != r)
            continue; /* excluded by an enclosing rule */
        rc = add_entry(w, r->root_len, r, type_of(st.st_mode));
        if (rc == 0 && S_ISDIR(st.st_mode))
            rc = walk_dir(w, r->root_len, r, 0);
    }
    stats->errors = w->errors;
    sk_free(w);
    if (rc != 0) {
        sk_fim_db_free(db);
        return rc;
    }
    qsort(db->e, db->n, sizeof(*db->e), entry_cmp);

    struct pool p = {.db = db, .store = store};
    atomic_init(&p.next, 0);
    atomic_init(&p.rc, 0);
    pthread_mutex_init(&p.mu, NULL);
    unsigned nt = thread_count(c);
    pthread_t th[SK_FIM_MAX_THREADS];
    unsigned started = 0;
    for (unsigned i = 0; i < nt; i++) {
        if (pthread_create(&th[i], NULL, worker, &p) != 0)
            break;
        started++;
    }
    if (started == 0)
        worker(&p);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.mu);
    rc = atomic_load(&p.rc);
    /* Symlink targets need the arena, so they are read here, serially;
     * symlinks are few in a web root. */
    for (size_t i = 0; rc == 0 && i < db->n; i++) {
        struct sk_fim_entry *e = &db->e[i];
        if (e->type == SK_FIM_T_LNK && !(e->flags & SK_FIM_E_ERROR)) {
            int r2 = read_target(e, db->arena);
            if (r2 == -SK_ENOMEM)
                rc = r2;
            else if (r2 != 0) {
                e->flags |= SK_FIM_E_ERROR;
                p.errors++;
            }
        }
    }
    if (rc != 0) {
        sk_fim_db_free(db);
        return rc;
    }
    stats->entries = db->n;
    stats->files_hashed = p.files;
    stats->bytes_hashed = p.bytes;
    stats->stored = p.stored;
    stats->store_bytes = p.store_bytes;
    stats->errors += p.errors;
    *out = db;
    return 0;
}
