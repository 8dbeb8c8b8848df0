/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store (zstd-compressed objects named by the SHA-256 of their
 * content, so deduplicated for free and verifiable on every read), atomic
 * restores from it, and the root-only quarantine that keeps a tampered
 * file with its metadata and its writer's identity for forensics.
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

/* OpenSSL 3 keeps `sk_free` as a deprecated alias of OPENSSL_sk_free. */
#undef sk_free
#include "util/alloc.h"
#include "util/error.h"

/* zstd level 3 is its default: about 3x on PHP and JS at > 100 MB/s. */
#define STORE_ZSTD_LEVEL 3

struct sk_fim_store {
    char *dir;
    uint64_t max_file, max_total;
    atomic_uint_fast64_t used;
    atomic_uint tmpseq;
};

static void
hexify(const uint8_t *p, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
mkdir_p0700(const char *dir)
{
    char p[SK_FIM_MAX_PATH];
    size_t n = strlen(dir);
    if (n >= sizeof(p))
        return -SK_ELIMIT;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0700) == -1 && errno != EEXIST)
                return -SK_EIO;
            p[i] = c;
        }
    }
    return 0;
}

/* Sums the sizes of the existing objects (done once, at open). */
static uint64_t
store_usage(const char *dir)
{
    uint64_t total = 0;
    char p[SK_FIM_MAX_PATH + 8];
    for (int i = 0; i < 256; i++) {
        snprintf(p, sizeof(p), "%s/%02x", dir, i);
        int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd == -1)
            continue;
        DIR *d = fdopendir(dfd);
        if (d == NULL) {
            close(dfd);
            continue;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            struct stat st;
            if (de->d_name[0] != '.' &&
                fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                total += (uint64_t)st.st_size;
        }
        closedir(d);
    }
    return total;
}

int
sk_fim_store_open(const char *dir, uint64_t max_file, uint64_t max_total,
                  struct sk_fim_store **out)
{
    *out = NULL;
    if (strlen(dir) + 80 >= SK_FIM_MAX_PATH)
        return -SK_ELIMIT;
    int rc = mkdir_p0700(dir);
    if (rc != 0)
        return rc;
    struct stat st;
    if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
        return -SK_EIO;
    /* The store must be ours alone: anyone else writing there could
     * plant the "good" copy a restore puts back. */
    if ((st.st_mode & 022) != 0 || st.st_uid != geteuid())
        return -SK_ECORRUPT;
    struct sk_fim_store *s = sk_calloc(1, sizeof(*s));
    if (s == NULL)
        return -SK_ENOMEM;
    size_t n = strlen(dir);
    s->dir = sk_malloc(n + 1);
    if (s->dir == NULL) {
        sk_free(s);
        return -SK_ENOMEM;
    }
    memcpy(s->dir, dir, n + 1);
    s->max_file = max_file;
    s->max_total = max_total;
    for (int i = 0; i < 256; i++) {
        char sub[SK_FIM_MAX_PATH + 8];
        snprintf(sub, sizeof(sub), "%s/%02x", dir, i);
        if (mkdir(sub, 0700) == -1 && errno != EEXIST) {
            sk_free(s->dir);
            sk_free(s);
            return -SK_EIO;
        }
    }
    atomic_init(&s->used, store_usage(dir));
    atomic_init(&s->tmpseq, 0);
    *out = s;
    return 0;
}

void
sk_fim_store_free(struct sk_fim_store *s)
{
    if (s == NULL)
        return;
    sk_free(s->dir);
    sk_free(s);
}

uint64_t
sk_fim_store_max_file(const struct sk_fim_store *s)
{
    return s->max_file;
}

static void
obj_path(const struct sk_fim_store *s, const uint8_t sha[32], char *out,
         size_t outlen, bool dir_only)
{
    char hx[65];
    hexify(sha, 32, hx);
    if (dir_only)
        snprintf(out, outlen, "%s/%.2s", s->dir, hx);
    else
        snprintf(out, outlen, "%s/%.2s/%s.zst", s->dir, hx, hx + 2);
}

bool
sk_fim_store_has(struct sk_fim_store *s, const uint8_t sha[32])
{
    char p[SK_FIM_MAX_PATH];
    obj_path(s, sha, p, sizeof(p), false);
    struct stat st;
    return lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int
write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -SK_EIO;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

struct sk_fim_zctx *
sk_fim_zctx_new(void)
{
    return (struct sk_fim_zctx *)ZSTD_createCCtx();
}

void
sk_fim_zctx_free(struct sk_fim_zctx *z)
{
    ZSTD_freeCCtx((ZSTD_CCtx *)z);
}

int
sk_fim_store_put(struct sk_fim_store *s, const uint8_t sha[32],
                 const uint8_t *p, size_t len, struct sk_fim_zctx *zc,
                 bool *added, uint64_t *written)
{
    *added = false;
    *written = 0;
    if (len > s->max_file)
        return -SK_ELIMIT;
    if (sk_fim_store_has(s, sha))
        return 0;
    char dir[SK_FIM_MAX_PATH], path[SK_FIM_MAX_PATH], tmp[SK_FIM_MAX_PATH + 64];
    obj_path(s, sha, dir, sizeof(dir), true);
    obj_path(s, sha, path, sizeof(path), false);
    /* The 256 fan-out directories exist from sk_fim_store_open() on;
     * one missing (removed meanwhile) is re-created. */
    size_t bound = ZSTD_compressBound(len);
    uint8_t *z = sk_malloc(bound ? bound : 1);
    if (z == NULL)
        return -SK_ENOMEM;
    size_t zl = zc != NULL ? ZSTD_compressCCtx((ZSTD_CCtx *)zc, z, bound, p,
                                               len, STORE_ZSTD_LEVEL)
                           : ZSTD_compress(z, bound, p, len, STORE_ZSTD_LEVEL);
    if (ZSTD_isError(zl)) {
        sk_free(z);
        return -SK_EIO;
    }
    if (atomic_fetch_add(&s->used, zl) + zl > s->max_total) {
        atomic_fetch_sub(&s->used, zl);
        sk_free(z);
        return -SK_ELIMIT;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&s->tmpseq, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1 && errno == ENOENT && mkdir(dir, 0700) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        atomic_fetch_sub(&s->used, zl);
        sk_free(z);
        return -SK_EIO;
    }
    int rc = write_all(fd, z, zl);
    sk_free(z);
    if (close(fd) == -1 && rc == 0)
        rc = -SK_EIO;
    if (rc == 0 && rename(tmp, path) == -1)
        rc = -SK_EIO;
    if (rc != 0) {
        unlink(tmp);
        atomic_fetch_sub(&s->used, zl);
        return rc;
    }
    *added = true;
    *written = zl;
    return 0;
}

int
sk_fim_store_get(struct sk_fim_store *s, const uint8_t sha[32],
                 struct sk_buf *out)
{
    char path[SK_FIM_MAX_PATH];
    obj_path(s, sha, path, sizeof(path), false);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1)
        return errno == ENOENT ? -SK_ENOENT : -SK_EIO;
    struct stat st;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > ZSTD_compressBound(s->max_file)) {
        close(fd);
        return -SK_ECORRUPT;
    }
    size_t zl = (size_t)st.st_size;
    uint8_t *z = sk_malloc(zl ? zl : 1);
    if (z == NULL) {
        close(fd);
        return -SK_ENOMEM;
    }
    size_t off = 0;
    while (off < zl) {
        ssize_t n = read(fd, z + off, zl - off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    if (off != zl) {
        sk_free(z);
        return -SK_EIO;
    }
    unsigned long long orig = ZSTD_getFrameContentSize(z, zl);
    if (orig == ZSTD_CONTENTSIZE_ERROR || orig == ZSTD_CONTENTSIZE_UNKNOWN ||
        orig > s->max_file) {
        sk_free(z);
        return -SK_ECORRUPT;
    }
    out->len = 0;
    int rc = sk_buf_reserve(out, (size_t)orig + 1);
    if (rc != 0) {
        sk_free(z);
        return rc;
    }
    size_t dl = ZSTD_decompress(out->p, (size_t)orig + 1, z, zl);
    sk_free(z);
    if (ZSTD_isError(dl) || dl != orig)
        return -SK_ECORRUPT;
    out->len = dl;
    uint8_t h[32];
    unsigned hl = 0;
    if (EVP_Digest(out->p, dl, h, &hl, EVP_sha256(), NULL) != 1)
        return -SK_ENOMEM;
    if (memcmp(h, sha, 32) != 0)
        return -SK_ECORRUPT;
    return 0;
}

/* ---- restore ------------------------------------------------------------- */

/* Opens the parent directory of `path` and checks, through the fd's own
 * name in /proc, that it is that directory and not reached through a
 * symlink an attacker swapped in: every later step works relative to the
 * fd, so the check cannot be raced. *base points at the last component. */
static int
open_parent(const char *path, int *dfd, const char **base)
{
    const char *sl = strrchr(path, '/');
    if (sl == NULL || sl[1] == '\0')
        return -SK_EINVAL;
    char dir[SK_FIM_MAX_PATH];
    size_t n = sl == path ? 1 : (size_t)(sl - path);
    if (n >= sizeof(dir))
        return -SK_ELIMIT;
    memcpy(dir, path, n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? -SK_ENOENT : -SK_EIO;
    char lp[64], real[SK_FIM_MAX_PATH];
    snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
    ssize_t rl = readlink(lp, real, sizeof(real) - 1);
    if (rl <= 0 || (size_t)rl != n || memcmp(real, dir, n) != 0) {
        close(fd);
        return -SK_ECORRUPT; /* a symlink (or a move) in the parents */
    }
    *dfd = fd;
    *base = sl + 1;
    return 0;
}

int
sk_fim_restore(struct sk_fim_store *s, const struct sk_fim_entry *e)
{
    static atomic_uint seq;
    int dfd;
    const char *base;
    int rc = open_parent(e->path, &dfd, &base);
    if (rc != 0)
        return rc;
    char tmp[96];
    snprintf(tmp, sizeof(tmp), ".sekimori-restore.%ld.%u", (long)getpid(),
             atomic_fetch_add(&seq, 1));
    struct timespec ts[2] = {{.tv_sec = e->mtime_s, .tv_nsec = e->mtime_ns},
                             {.tv_sec = e->mtime_s, .tv_nsec = e->mtime_ns}};
    if (e->type == SK_FIM_T_DIR) {
        struct stat st;
        rc = 0;
        if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISDIR(st.st_mode) && unlinkat(dfd, base, 0) == -1)
            rc = -SK_EIO;
        if (rc == 0 && mkdirat(dfd, base, 0700) == -1 && errno != EEXIST)
            rc = -SK_EIO;
        if (rc == 0 &&
            (fchownat(dfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) == -1 ||
             fchmodat(dfd, base, e->mode, 0) == -1))
            rc = -SK_EIO;
        close(dfd);
        return rc;
    }
    if (e->type == SK_FIM_T_LNK) {
        rc = 0;
        if (e->target == NULL)
            rc = -SK_EINVAL;
        else if (symlinkat(e->target, dfd, tmp) == -1)
            rc = -SK_EIO;
        else if (fchownat(dfd, tmp, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) ==
                     -1 ||
                 utimensat(dfd, tmp, ts, AT_SYMLINK_NOFOLLOW) == -1 ||
                 renameat(dfd, tmp, dfd, base) == -1) {
            unlinkat(dfd, tmp, 0);
            rc = -SK_EIO;
        }
        close(dfd);
        return rc;
    }
    if (e->type != SK_FIM_T_REG || !(e->flags & SK_FIM_E_HASHED)) {
        close(dfd);
        return -SK_ENOTSUP;
    }
    struct sk_buf b = {0};
    rc = sk_fim_store_get(s, e->sha256, &b);
    if (rc != 0) {
        sk_buf_fini(&b);
        close(dfd);
        return rc;
    }
    int fd = openat(dfd, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1) {
        sk_buf_fini(&b);
        close(dfd);
        return -SK_EIO;
    }
    rc = write_all(fd, b.p, b.len);
    sk_buf_fini(&b);
    if (rc == 0 &&
        (fchown(fd, e->uid, e->gid) == -1 || fchmod(fd, e->mode) == -1 ||
         futimens(fd, ts) == -1 || fsync(fd) == -1))
        rc = -SK_EIO;
    if (close(fd) == -1 && rc == 0)
        rc = -SK_EIO;
    /* A directory put where the file was is not removed: rename fails
     * and the restore is reported as failed, for a human to look at. */
    if (rc == 0 && renameat(dfd, tmp, dfd, base) == -1)
        rc = -SK_EIO;
    if (rc != 0)
        unlinkat(dfd, tmp, 0);
    close(dfd);
    return rc;
}

int
sk_fim_remove(const char *path)
{
    int dfd;
    const char *base;
    int rc = open_parent(path, &dfd, &base);
    if (rc != 0)
        return rc;
    struct stat st;
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1)
        rc = errno == ENOENT ? 0 : -SK_EIO;
    else if (S_ISDIR(st.st_mode))
        rc = -SK_ENOTSUP;
    else if (unlinkat(dfd, base, 0) == -1 && errno != ENOENT)
        rc = -SK_EIO;
    close(dfd);
    return rc;
}

/* ---- quarantine ---------------------------------------------------------- */

int
sk_fim_quarantine(const char *qdir, const char *path,
                  const struct sk_fim_writer *w, const char *reason, char *name,
                  size_t namelen)
{
    int rc = mkdir_p0700(qdir);
    if (rc != 0)
        return rc;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    static atomic_uint seq;
    char sub[SK_FIM_MAX_PATH];
    int n = snprintf(name, namelen, "%lld.%09ld-%ld-%u", (long long)now.tv_sec,
                     now.tv_nsec, (long)getpid(), atomic_fetch_add(&seq, 1));
    if (n < 0 || (size_t)n >= namelen)
        return -SK_ELIMIT;
    n = snprintf(sub, sizeof(sub), "%s/%s", qdir, name);
    if (n < 0 || (size_t)n >= sizeof(sub) - 16)
        return -SK_ELIMIT;
    if (mkdir(sub, 0700) == -1)
        return -SK_EIO;
    struct sk_buf meta = {0};
    struct stat st;
    bool exists = lstat(path, &st) == 0;
    rc = sk_buf_append_c(&meta, "{\"path\":");
    rc = rc ? rc : sk_fim_json_str(&meta, path, strlen(path));
    rc = rc ? rc : sk_buf_append_c(&meta, ",\"reason\":");
    rc = rc ? rc : sk_fim_json_str(&meta, reason, strlen(reason));
    rc = rc ? rc
            : sk_buf_printf(&meta, ",\"quarantined\":%lld",
                            (long long)now.tv_sec);
    if (rc == 0 && exists)
        rc = sk_buf_printf(
            &meta,
            ",\"exists\":true,\"mode\":\"%o\",\"uid\":%u,\"gid\":%u,"
            "\"size\":%lld,\"inode\":%llu,\"nlink\":%llu,\"mtime\":%lld.%09ld,"
            "\"ctime\":%lld.%09ld",
            (unsigned)st.st_mode, (unsigned)st.st_uid, (unsigned)st.st_gid,
            (long long)st.st_size, (unsigned long long)st.st_ino,
            (unsigned long long)st.st_nlink, (long long)st.st_mtim.tv_sec,
            st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec,
            st.st_ctim.tv_nsec);
    else if (rc == 0)
        rc = sk_buf_append_c(&meta, ",\"exists\":false");
    if (rc == 0 && w != NULL && w->pid != 0) {
        rc = sk_buf_printf(&meta, ",\"writer\":{\"pid\":%d,\"uid\":%d,\"exe\":",
                           w->pid, w->uid);
        rc = rc ? rc : sk_fim_json_str(&meta, w->exe, strlen(w->exe));
        rc = rc ? rc : sk_buf_append_c(&meta, ",\"cmdline\":");
        rc = rc ? rc : sk_fim_json_str(&meta, w->cmdline, strlen(w->cmdline));
        rc = rc ? rc : sk_buf_append_c(&meta, "}");
    } else if (rc == 0) {
        rc = sk_buf_append_c(&meta, ",\"writer\":null");
    }
    char p2[SK_FIM_MAX_PATH + 32];
    if (rc == 0 && exists && S_ISLNK(st.st_mode)) {
        char t[SK_FIM_MAX_PATH];
        ssize_t tl = readlink(path, t, sizeof(t) - 1);
        if (tl >= 0) {
            rc = sk_buf_append_c(&meta, ",\"target\":");
            rc = rc ? rc : sk_fim_json_str(&meta, t, (size_t)tl);
        }
    }
    if (rc == 0 && exists && S_ISREG(st.st_mode)) {
        /* Copy the content; O_NOFOLLOW so a swapped-in symlink is not
         * followed out of the tree. */
        int in = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        snprintf(p2, sizeof(p2), "%s/data", sub);
        int out = open(p2, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (in == -1 || out == -1) {
            rc = -SK_EIO;
        } else {
            uint8_t buf[65536];
            for (;;) {
                ssize_t r = read(in, buf, sizeof(buf));
                if (r == -1 && errno == EINTR)
                    continue;
                if (r < 0) {
                    rc = -SK_EIO;
                    break;
                }
                if (r == 0)
                    break;
                if ((rc = write_all(out, buf, (size_t)r)) != 0)
                    break;
            }
            if (rc == 0 && fsync(out) == -1)
                rc = -SK_EIO;
        }
        if (in != -1)
            close(in);
        if (out != -1)
            close(out);
    }
    rc = rc ? rc : sk_buf_append_c(&meta, "}\n");
    if (rc == 0) {
        snprintf(p2, sizeof(p2), "%s/meta.json", sub);
        int fd = open(p2, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd == -1)
            rc = -SK_EIO;
        else {
            rc = write_all(fd, meta.p, meta.len);
            if (close(fd) == -1 && rc == 0)
                rc = -SK_EIO;
        }
    }
    sk_buf_fini(&meta);
    return rc;
}
