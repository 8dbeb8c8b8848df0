/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The watch daemon: recursive inotify on every rule root (new directories
 * followed, a queue overflow or a directory move answered with a full
 * rescan), and, when running with CAP_SYS_ADMIN, a fanotify mount mark used
 * only to name the process that wrote a file. Every notified path waits
 * coalesce_ms, then is re-read and compared with the in-memory baseline, so
 * a `touch` is reported as such while a content change with its old mtime
 * put back is tampering. Tampering runs the rule's responses. The baseline,
 * the key and the store are watched too; a baseline that stops verifying
 * is raised, never rebuilt.
 */
#include "fim/fim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

extern char **environ;

#define WATCH_MASK                                                             \
    (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE |          \
     IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |             \
     IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_ONLYDIR)
#define GUARD_MASK                                                             \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM |      \
     IN_MOVED_TO | IN_CREATE | IN_DONT_FOLLOW | IN_ONLYDIR)
/* The most writer identities remembered (by path) between a write and its
 * verification; older ones are overwritten. */
#define WRITERS 256
/* A path notified again and again is still verified within this many
 * coalescing periods. */
#define MAX_DELAY_FACTOR 5

enum wd_kind { WD_TREE = 1, WD_GUARD = 2, WD_STORE = 3 };

struct wdinfo {
    char *path; /* NULL = free slot */
    int kind;
};

struct slot {
    char *key; /* NULL = empty */
    uint64_t h;
    int64_t *times; /* escalation history (hist map) */
    unsigned n;
    bool escalated;
};

struct smap {
    struct slot *s;
    size_t cap, n;
};

struct writer_rec {
    char path[256];
    struct sk_fim_writer w;
};

/* One open directory per marked filesystem, for open_by_handle_at(2). */
struct fsmount {
    fsid_t fsid;
    int fd;
};
#define MAX_FSMOUNTS 16

struct watcher {
    const struct sk_fim_config *c;
    const struct sk_fim_sink *sink;
    struct sk_fim_db *base;
    struct sk_fim_key *pub;
    struct sk_fim_store *store;
    int ifd, ffd;
    bool fid; /* ffd reports directory fid + name (no inotify on trees) */
    struct fsmount mounts[MAX_FSMOUNTS];
    size_t nmounts;
    struct wdinfo *wd;
    size_t wdcap;
    struct smap pending, hist;
    int64_t pending_since, pending_last;
    bool resync;
    struct sk_buf ev;
    struct writer_rec writers[WRITERS];
    unsigned writer_next;
    char guard_base[SK_FIM_MAX_PATH], guard_key[SK_FIM_MAX_PATH];
    unsigned nwatches;
    const char *status_file; /* sk_fim_watch_opts.status_file */
    int64_t started;         /* unix seconds */
};

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- string-keyed set --------------------------------------------------- */

static uint64_t
fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static struct slot *
smap_get(struct smap *m, const char *k, size_t n, bool create)
{
    if (create && (m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        struct slot *ns = sk_calloc(nc, sizeof(*ns));
        if (ns == NULL)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->s[i].key == NULL)
                continue;
            size_t j = m->s[i].h & (nc - 1);
            while (ns[j].key != NULL)
                j = (j + 1) & (nc - 1);
            ns[j] = m->s[i];
        }
        sk_free(m->s);
        m->s = ns;
        m->cap = nc;
    }
    if (m->cap == 0)
        return NULL;
    uint64_t h = fnv(k, n);
    size_t j = h & (m->cap - 1);
    while (m->s[j].key != NULL) {
        if (m->s[j].h == h && strlen(m->s[j].key) == n &&
            memcmp(m->s[j].key, k, n) == 0)
            return &m->s[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!create)
        return NULL;
    char *key = sk_malloc(n + 1);
    if (key == NULL)
        return NULL;
    memcpy(key, k, n);
    key[n] = '\0';
    m->s[j] = (struct slot){.key = key, .h = h};
    m->n++;
    return &m->s[j];
}

static void
smap_clear(struct smap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        sk_free(m->s[i].key);
        sk_free(m->s[i].times);
    }
    sk_free(m->s);
    memset(m, 0, sizeof(*m));
}

/* ---- events ---------------------------------------------------------------
 */

static void
emit(struct watcher *w, const char *type)
{
    w->sink->fn(w->sink->ctx, type, (const char *)w->ev.p, w->ev.len);
}

static void
emit_simple(struct watcher *w, const char *type, const char *path,
            const char *detail)
{
    sk_buf_clear(&w->ev);
    int rc = sk_buf_append_c(&w->ev, "{\"path\":");
    rc = rc ? rc : sk_fim_json_str(&w->ev, path, strlen(path));
    if (rc == 0 && detail != NULL) {
        rc = sk_buf_append_c(&w->ev, ",\"detail\":");
        rc = rc ? rc : sk_fim_json_str(&w->ev, detail, strlen(detail));
    }
    rc = rc ? rc : sk_buf_append_c(&w->ev, "}");
    if (rc == 0)
        emit(w, type);
}

/* ---- inotify watches ------------------------------------------------------
 */

static int
wd_set(struct watcher *w, int wd, const char *path, size_t len, int kind)
{
    if (wd < 0)
        return -SK_EINVAL;
    if ((size_t)wd >= w->wdcap) {
        size_t nc = w->wdcap ? w->wdcap : 1024;
        while (nc <= (size_t)wd)
            nc *= 2;
        struct wdinfo *n = sk_realloc(w->wd, nc * sizeof(*n));
        if (n == NULL)
            return -SK_ENOMEM;
        memset(n + w->wdcap, 0, (nc - w->wdcap) * sizeof(*n));
        w->wd = n;
        w->wdcap = nc;
    }
    char *p = sk_malloc(len + 1);
    if (p == NULL)
        return -SK_ENOMEM;
    memcpy(p, path, len);
    p[len] = '\0';
    if (w->wd[wd].path == NULL)
        w->nwatches++;
    sk_free(w->wd[wd].path);
    w->wd[wd].path = p;
    w->wd[wd].kind = kind;
    return 0;
}

static void
wd_drop(struct watcher *w, int wd)
{
    if (wd >= 0 && (size_t)wd < w->wdcap && w->wd[wd].path != NULL) {
        sk_free(w->wd[wd].path);
        w->wd[wd].path = NULL;
        w->nwatches--;
    }
}

static void pend_add(struct watcher *w, const char *path, size_t len);

/* Watches `path` and every directory below it that a rule selects; with
 * `enqueue`, every selected entry found is queued for verification (a new
 * directory's content was never seen by the watch). */
static int
watch_tree(struct watcher *w, char *path, size_t len, int depth, bool enqueue)
{
    if (depth > SK_FIM_MAX_DEPTH)
        return -SK_ELIMIT;
    int rc = 0;
    if (!w->fid) {
        int wd = inotify_add_watch(w->ifd, path, WATCH_MASK);
        if (wd == -1) {
            if (errno == ENOSPC) {
                emit_simple(w, "fim.error", path,
                            "inotify watch limit reached "
                            "(fs.inotify.max_user_watches)");
                return -SK_ELIMIT;
            }
            return 0; /* vanished or not a directory: the verify says so */
        }
        rc = wd_set(w, wd, path, len, WD_TREE);
        if (rc != 0)
            return rc;
    }
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == 0)))
            continue;
        size_t nl = strlen(nm);
        size_t base = len == 1 ? 0 : len;
        if (base + 1 + nl >= SK_FIM_MAX_PATH)
            continue;
        path[base] = '/';
        memcpy(path + base + 1, nm, nl + 1);
        size_t pl = base + 1 + nl;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        }
        const struct sk_fim_rule *r = sk_fim_select(w->c, path, pl, is_dir);
        if (r != NULL) {
            if (enqueue)
                pend_add(w, path, pl);
            if (is_dir)
                rc = watch_tree(w, path, pl, depth + 1, enqueue);
        }
        path[len] = '\0';
    }
    closedir(d);
    path[len] = '\0';
    return rc;
}

static void
dirname_of(const char *p, char *out, size_t outlen)
{
    const char *sl = strrchr(p, '/');
    size_t n = sl == NULL || sl == p ? 1 : (size_t)(sl - p);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, sl == NULL ? "/" : p, n);
    out[n] = '\0';
}

static int
watch_all(struct watcher *w)
{
    for (size_t i = 0; i < w->wdcap; i++)
        if (w->wd[i].path != NULL) {
            inotify_rm_watch(w->ifd, (int)i);
            wd_drop(w, (int)i);
        }
    char path[SK_FIM_MAX_PATH + 256];
    for (size_t i = 0; i < w->c->n_rules && !w->fid; i++) {
        const struct sk_fim_rule *r = &w->c->rules[i];
        memcpy(path, r->root, r->root_len + 1);
        int rc = watch_tree(w, path, r->root_len, 0, false);
        if (rc != 0)
            return rc;
        /* The root's parent, so that the root itself being replaced or
         * removed is seen. */
        char parent[SK_FIM_MAX_PATH];
        dirname_of(r->root, parent, sizeof(parent));
        int wd = inotify_add_watch(w->ifd, parent, WATCH_MASK);
        if (wd != -1 && (size_t)wd < w->wdcap && w->wd[wd].path != NULL)
            continue; /* already watched as part of a tree */
        if (wd != -1 &&
            (rc = wd_set(w, wd, parent, strlen(parent), WD_TREE)) != 0)
            return rc;
    }
    /* Self-protection: the baseline's and the key's directories, and the
     * store's object directories. */
    const char *guards[] = {w->guard_base, w->guard_key};
    for (size_t i = 0; i < 2; i++) {
        char dir[SK_FIM_MAX_PATH];
        dirname_of(guards[i], dir, sizeof(dir));
        int wd = inotify_add_watch(w->ifd, dir, GUARD_MASK);
        if (wd != -1 && (size_t)wd < w->wdcap && w->wd[wd].path != NULL &&
            w->wd[wd].kind == WD_TREE)
            continue;
        if (wd != -1 && wd_set(w, wd, dir, strlen(dir), WD_GUARD) != 0)
            return -SK_ENOMEM;
    }
    for (int i = 0; i < 256; i++) {
        char dir[SK_FIM_MAX_PATH + 8];
        snprintf(dir, sizeof(dir), "%s/%02x", w->c->store, i);
        int wd = inotify_add_watch(w->ifd, dir, GUARD_MASK);
        if (wd != -1 && wd_set(w, wd, dir, strlen(dir), WD_STORE) != 0)
            return -SK_ENOMEM;
    }
    return 0;
}

/* ---- pending paths ------------------------------------------------------- */

static void
pend_add(struct watcher *w, const char *path, size_t len)
{
    if (smap_get(&w->pending, path, len, true) == NULL) {
        w->resync = true; /* out of memory: fall back to a full check */
        return;
    }
    int64_t t = now_ms();
    if (w->pending.n == 1 || w->pending_since == 0)
        w->pending_since = t;
    w->pending_last = t;
}

/* ---- writer attribution (fanotify) --------------------------------------- */

static void
read_proc(int pid, struct sk_fim_writer *out)
{
    char p[64];
    out->pid = pid;
    out->uid = -1;
    snprintf(p, sizeof(p), "/proc/%d/exe", pid);
    ssize_t n = readlink(p, out->exe, sizeof(out->exe) - 1);
    out->exe[n > 0 ? n : 0] = '\0';
    snprintf(p, sizeof(p), "/proc/%d/cmdline", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    out->cmdline[0] = '\0';
    if (fd != -1) {
        n = read(fd, out->cmdline, sizeof(out->cmdline) - 1);
        if (n > 0) {
            for (ssize_t i = 0; i < n - 1; i++)
                if (out->cmdline[i] == '\0')
                    out->cmdline[i] = ' ';
            out->cmdline[n] = '\0';
        }
        close(fd);
    }
    snprintf(p, sizeof(p), "/proc/%d", pid);
    struct stat st;
    if (stat(p, &st) == 0)
        out->uid = (int)st.st_uid;
}

static void
fan_setup(struct watcher *w)
{
    w->ffd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
                           O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (w->ffd == -1) {
        emit_simple(w, "fim.info", "",
                    "fanotify unavailable; writers "
                    "will not be identified");
        return;
    }
    for (size_t i = 0; i < w->c->n_rules; i++) {
        if (fanotify_mark(w->ffd, FAN_MARK_ADD | FAN_MARK_MOUNT,
                          FAN_MODIFY | FAN_CLOSE_WRITE, AT_FDCWD,
                          w->c->rules[i].root) == -1) {
            emit_simple(w, "fim.info", w->c->rules[i].root,
                        "fanotify mount mark failed; writers of this tree "
                        "will not be identified");
        }
    }
}

static void
fan_read(struct watcher *w)
{
    uint8_t buf[8192] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = read(w->ffd, buf, sizeof(buf));
        if (n <= 0)
            return;
        size_t off = 0;
        while (off + sizeof(struct fanotify_event_metadata) <= (size_t)n) {
            struct fanotify_event_metadata mh;
            memcpy(&mh, buf + off, sizeof(mh)); /* aligned copy */
            if (mh.event_len < sizeof(mh) || mh.event_len > (size_t)n - off)
                return;
            const struct fanotify_event_metadata *m = &mh;
            off += mh.event_len;
            if (m->vers != FANOTIFY_METADATA_VERSION)
                return;
            if (m->fd < 0)
                continue;
            char lp[64], path[SK_FIM_MAX_PATH];
            snprintf(lp, sizeof(lp), "/proc/self/fd/%d", m->fd);
            ssize_t pl = readlink(lp, path, sizeof(path) - 1);
            close(m->fd);
            if (pl <= 0 || (size_t)pl >= sizeof(w->writers[0].path))
                continue;
            path[pl] = '\0';
            if (sk_fim_select(w->c, path, (size_t)pl, false) == NULL)
                continue;
            if (m->pid == getpid())
                continue;
            struct writer_rec *wr = &w->writers[w->writer_next++ % WRITERS];
            memcpy(wr->path, path, (size_t)pl + 1);
            read_proc(m->pid, &wr->w);
        }
    }
}

/* fanotify with directory fid + name on filesystem marks: every change
 * under the roots, with the pid of the process that made it, and no
 * per-directory watch. Returns false (and leaves nothing open) when the
 * kernel, the filesystem or our capabilities do not allow it. */
static bool
fid_setup(struct watcher *w)
{
    int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
                               FAN_REPORT_DFID_NAME,
                           O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return false;
    uint64_t mask = FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_CREATE |
                    FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO |
                    FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR;
    bool ok = true;
    for (size_t i = 0; ok && i < w->c->n_rules; i++) {
        int dfd = open(w->c->rules[i].root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct statfs sfs;
        if (dfd == -1 || fstatfs(dfd, &sfs) == -1) {
            ok = false;
            if (dfd != -1)
                close(dfd);
            break;
        }
        bool have = false;
        for (size_t j = 0; j < w->nmounts; j++)
            if (memcmp(&w->mounts[j].fsid, &sfs.f_fsid, sizeof(fsid_t)) == 0)
                have = true;
        if (have) {
            close(dfd);
            continue;
        }
        if (w->nmounts == MAX_FSMOUNTS ||
            fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, dfd,
                          NULL) == -1) {
            close(dfd);
            ok = false;
            break;
        }
        w->mounts[w->nmounts].fsid = sfs.f_fsid;
        w->mounts[w->nmounts].fd = dfd;
        w->nmounts++;
    }
    if (!ok) {
        for (size_t j = 0; j < w->nmounts; j++)
            close(w->mounts[j].fd);
        w->nmounts = 0;
        close(fd);
        return false;
    }
    w->ffd = fd;
    w->fid = true;
    return true;
}

/*
 * Resolves the directory fid + name of one event to a path in out. `m` is
 * an aligned copy of the event's metadata and `raw` the event's bytes in
 * the read buffer (events are only 4-byte aligned there).
 */
static size_t
fid_path(struct watcher *w, const struct fanotify_event_metadata *m,
         const uint8_t *raw, char *out, size_t outlen)
{
    size_t off = m->metadata_len;
    while (off + sizeof(struct fanotify_event_info_header) <= m->event_len) {
        const struct fanotify_event_info_header *h = (const void *)(raw + off);
        if (h->len < sizeof(*h) || off + h->len > m->event_len)
            return 0;
        size_t hl = h->len;
        if ((h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
             h->info_type == FAN_EVENT_INFO_TYPE_DFID) &&
            hl >= sizeof(struct fanotify_event_info_fid) +
                      sizeof(struct file_handle)) {
            const struct fanotify_event_info_fid *fi = (const void *)h;
            struct file_handle *fh = (struct file_handle *)fi->handle;
            size_t hend = sizeof(*fi) + sizeof(*fh) + fh->handle_bytes;
            if (hend > hl)
                return 0;
            const char *name = NULL;
            if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
                name = (const char *)h + hend;
                if (memchr(name, '\0', hl - hend) == NULL)
                    return 0;
            }
            int mfd = -1;
            for (size_t j = 0; j < w->nmounts; j++)
                if (memcmp(&w->mounts[j].fsid, &fi->fsid, sizeof(fsid_t)) == 0)
                    mfd = w->mounts[j].fd;
            if (mfd == -1)
                return 0;
            int dfd = open_by_handle_at(mfd, fh, O_PATH | O_CLOEXEC);
            if (dfd == -1)
                return 0; /* directory gone; its parent's event covers it */
            char lp[64];
            snprintf(lp, sizeof(lp), "/proc/self/fd/%d", dfd);
            ssize_t dl = readlink(lp, out, outlen - 1);
            close(dfd);
            if (dl <= 0 || (size_t)dl >= outlen - 1)
                return 0;
            size_t len = (size_t)dl;
            out[len] = '\0';
            if (name != NULL && name[0] != '\0' && strcmp(name, ".") != 0) {
                size_t nl = strlen(name);
                size_t base = len == 1 ? 0 : len;
                if (base + 1 + nl >= outlen)
                    return 0;
                out[base] = '/';
                memcpy(out + base + 1, name, nl + 1);
                len = base + 1 + nl;
            }
            return len;
        }
        off += hl;
    }
    return 0;
}

static void
fid_read(struct watcher *w)
{
    uint8_t buf[16384] __attribute__((aligned(8)));
    pid_t self = getpid();
    for (;;) {
        ssize_t n = read(w->ffd, buf, sizeof(buf));
        if (n <= 0)
            return;
        /* With FAN_REPORT_DFID_NAME events have variable lengths and are
         * only 4-byte aligned: read each header through an aligned copy. */
        size_t off = 0;
        while (off + sizeof(struct fanotify_event_metadata) <= (size_t)n) {
            struct fanotify_event_metadata mh;
            memcpy(&mh, buf + off, sizeof(mh));
            if (mh.event_len < sizeof(mh) || mh.event_len > (size_t)n - off)
                return;
            const uint8_t *raw = buf + off;
            const struct fanotify_event_metadata *m = &mh;
            off += mh.event_len;
            if (m->vers != FANOTIFY_METADATA_VERSION)
                return;
            if (m->fd >= 0)
                close(m->fd);
            if (m->mask & FAN_Q_OVERFLOW) {
                emit_simple(w, "fim.overflow", "",
                            "fanotify queue overflowed: full rescan");
                w->resync = true;
                continue;
            }
            if (m->pid == self)
                continue; /* our own restores and quarantines */
            char path[SK_FIM_MAX_PATH + 256];
            size_t pl = fid_path(w, m, raw, path, SK_FIM_MAX_PATH);
            if (pl == 0)
                continue;
            bool is_dir = (m->mask & FAN_ONDIR) != 0;
            if (sk_fim_select(w->c, path, pl, is_dir) == NULL &&
                sk_fim_db_find(w->base, path, pl) == NULL)
                continue;
            pend_add(w, path, pl);
            if (pl < sizeof(w->writers[0].path)) {
                struct writer_rec *wr = &w->writers[w->writer_next++ % WRITERS];
                memcpy(wr->path, path, pl + 1);
                read_proc((int)m->pid, &wr->w);
            }
            if (is_dir && (m->mask & (FAN_CREATE | FAN_MOVED_TO)) &&
                watch_tree(w, path, pl, 0, true) != 0)
                w->resync = true;
            if (is_dir && (m->mask & FAN_MOVED_FROM))
                w->resync = true; /* entries under the old name */
        }
    }
}

static const struct sk_fim_writer *
writer_for(struct watcher *w, const char *path)
{
    /* The newest record first. */
    for (unsigned i = 0; i < WRITERS; i++) {
        struct writer_rec *wr =
            &w->writers[(w->writer_next + WRITERS - 1 - i) % WRITERS];
        if (wr->w.pid != 0 && strcmp(wr->path, path) == 0)
            return &wr->w;
    }
    return NULL;
}

/* ---- responses --------------------------------------------------------- */

static bool
escalate(struct watcher *w, const char *path, size_t len)
{
    struct slot *s = smap_get(&w->hist, path, len, true);
    if (s == NULL)
        return true; /* cannot count: do not loop restoring */
    unsigned cap = w->c->escalate_count;
    if (s->times == NULL) {
        s->times = sk_calloc(cap, sizeof(*s->times));
        if (s->times == NULL)
            return true;
    }
    int64_t t = now_ms();
    s->times[s->n % cap] = t;
    s->n++;
    if (s->n < cap)
        return s->escalated;
    int64_t oldest = s->times[s->n % cap];
    if (t - oldest <= (int64_t)w->c->escalate_minutes * 60000)
        s->escalated = true;
    return s->escalated;
}

static int
maintenance(struct watcher *w, const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -SK_EIO;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(w->c->maintenance_socket) >= sizeof(sa.sun_path)) {
        close(fd);
        return -SK_ELIMIT;
    }
    strcpy(sa.sun_path, w->c->maintenance_socket);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        close(fd);
        return -SK_EIO;
    }
    struct sk_buf b = {0};
    int rc = sk_buf_append_c(&b, "{\"op\":\"maintenance\",\"on\":true,"
                                 "\"reason\":\"fim.tamper\",\"file\":");
    rc = rc ? rc : sk_fim_json_str(&b, path, strlen(path));
    rc = rc ? rc : sk_buf_append_c(&b, ",\"paths\":[");
    for (size_t i = 0; rc == 0 && i < w->c->n_maintenance_paths; i++) {
        const char *mp = w->c->maintenance_paths[i];
        rc = i ? sk_buf_putc(&b, ',') : 0;
        rc = rc ? rc : sk_fim_json_str(&b, mp, strlen(mp));
    }
    rc = rc ? rc : sk_buf_append_c(&b, "]}\n");
    if (rc == 0 && send(fd, b.p, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
        rc = -SK_EIO;
    sk_buf_fini(&b);
    close(fd);
    return rc;
}

static int
run_hook(const struct sk_fim_rule *r, const char *type, const char *path)
{
    char *argv[] = {(char *)r->exec, (char *)type, (char *)path, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, r->exec, NULL, NULL, argv, environ);
    return e == 0 ? 0 : -SK_EIO;
}

/* Appends `,"writer":{...}` or `,"writer":null`. */
static int
writer_json(struct sk_buf *b, const struct sk_fim_writer *wr)
{
    if (wr == NULL)
        return sk_buf_append_c(b, ",\"writer\":null");
    int rc = sk_buf_printf(
        b, ",\"writer\":{\"pid\":%d,\"uid\":%d,\"exe\":", wr->pid, wr->uid);
    rc = rc ? rc : sk_fim_json_str(b, wr->exe, strlen(wr->exe));
    rc = rc ? rc : sk_buf_append_c(b, ",\"cmdline\":");
    rc = rc ? rc : sk_fim_json_str(b, wr->cmdline, strlen(wr->cmdline));
    return rc ? rc : sk_buf_append_c(b, "}");
}

/* ---- verification -------------------------------------------------------- */

static bool
is_our_temp(const char *path)
{
    const char *b = strrchr(path, '/');
    return b != NULL && strncmp(b + 1, ".sekimori-restore.", 18) == 0;
}

static void
respond(struct watcher *w, const struct sk_fim_rule *r,
        struct sk_fim_entry *old, const struct sk_fim_change *ch,
        const char *path)
{
    const struct sk_fim_writer *wr = writer_for(w, path);
    uint32_t resp = r != NULL ? r->responses : SK_FIM_R_ALERT;
    bool esc = (resp & SK_FIM_R_RESTORE) && escalate(w, path, strlen(path));

    sk_buf_clear(&w->ev);
    int rc = sk_buf_append_c(&w->ev, "{\"change\":");
    rc = rc ? rc : sk_fim_change_json(ch, &w->ev);
    rc = rc ? rc : writer_json(&w->ev, wr);
    if (rc == 0 && r != NULL) {
        rc = sk_buf_append_c(&w->ev, ",\"rule\":");
        rc = rc ? rc : sk_fim_json_str(&w->ev, r->root, r->root_len);
    }
    rc = rc ? rc : sk_buf_append_c(&w->ev, "}");
    if (rc == 0)
        emit(w, "fim.tamper");

    if (resp & SK_FIM_R_QUARANTINE) {
        char name[128];
        struct stat st;
        if (lstat(path, &st) == 0) {
            rc = sk_fim_quarantine(w->c->quarantine, path, wr, "fim.tamper",
                                   name, sizeof(name));
            emit_simple(w, rc == 0 ? "fim.quarantined" : "fim.error", path,
                        rc == 0 ? name : "quarantine failed");
        }
    }
    if ((resp & SK_FIM_R_RESTORE) && esc) {
        emit_simple(w, "fim.escalate", path,
                    "repeated tampering: restoring stopped for this path");
    } else if (resp & SK_FIM_R_RESTORE) {
        int64_t t0 = now_ms();
        if (old != NULL) {
            rc = sk_fim_restore(w->store, old);
            if (rc == 0) {
                /* Our own rename gave the file a new inode and ctime:
                 * remember them, so the restore is not seen as a change. */
                struct sk_fim_entry cur;
                struct sk_arena *a = sk_arena_new(0);
                if (a != NULL &&
                    sk_fim_entry_read(path, strlen(path), old->attrs, a,
                                      &cur) == 0 &&
                    (sk_fim_entry_diff(old, &cur) &
                     ~(SK_FIM_A_INODE | SK_FIM_A_CTIME | SK_FIM_A_NLINK)) ==
                        0) {
                    old->ino = cur.ino;
                    old->ctime_s = cur.ctime_s;
                    old->ctime_ns = cur.ctime_ns;
                    old->nlink = cur.nlink;
                }
                sk_arena_free(a);
            }
        } else {
            /* An added file under a restore rule: the good state has no
             * such file. It was quarantined above when so configured. */
            rc = sk_fim_remove(path);
        }
        char detail[96];
        snprintf(detail, sizeof(detail), "%s in %lld ms",
                 rc == 0              ? "restored"
                 : rc == -SK_ENOTSUP  ? "added directory left in place"
                 : rc == -SK_ECORRUPT ? "refused: symlink in the path"
                                      : sk_strerror(rc),
                 (long long)(now_ms() - t0));
        emit_simple(w, rc == 0 ? "fim.restored" : "fim.error", path, detail);
    }
    if (resp & SK_FIM_R_MAINTENANCE) {
        rc = maintenance(w, path);
        emit_simple(w, rc == 0 ? "fim.maintenance" : "fim.error", path,
                    rc == 0 ? "maintenance requested"
                            : "maintenance request failed (no proxy "
                              "control socket)");
    }
    if ((resp & SK_FIM_R_EXEC) && r != NULL) {
        rc = run_hook(r, "fim.tamper", path);
        if (rc != 0)
            emit_simple(w, "fim.error", path, "hook could not be started");
    }
}

static void
verify_path(struct watcher *w, const char *path, size_t len)
{
    if (is_our_temp(path))
        return;
    struct sk_fim_entry *old = sk_fim_db_find(w->base, path, len);
    struct stat st;
    bool exists = lstat(path, &st) == 0;
    bool is_dir = exists ? S_ISDIR(st.st_mode)
                         : (old != NULL && old->type == SK_FIM_T_DIR);
    const struct sk_fim_rule *r = sk_fim_select(w->c, path, len, is_dir);
    if (r == NULL && old == NULL)
        return;
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL) {
        w->resync = true;
        return;
    }
    struct sk_fim_entry cur;
    uint32_t attrs = r != NULL ? r->attrs : old->attrs;
    int rc = exists ? sk_fim_entry_read(path, len, attrs, a, &cur) : -SK_ENOENT;
    struct sk_fim_change ch = {0};
    if (rc == -SK_ENOENT) {
        if (old != NULL) {
            ch = (struct sk_fim_change){SK_FIM_REMOVED, old, NULL, 0};
            respond(w, r, old, &ch, path);
        }
    } else if (rc != 0) {
        emit_simple(w, "fim.error", path, "cannot read entry");
    } else if (old == NULL) {
        if (r != NULL) {
            ch = (struct sk_fim_change){SK_FIM_ADDED, NULL, &cur, 0};
            respond(w, r, NULL, &ch, path);
        }
    } else {
        uint32_t d = sk_fim_entry_diff(old, &cur);
        ch = (struct sk_fim_change){SK_FIM_CHANGED, old, &cur, d};
        if (d == 0) {
            /* Nothing that is checked changed (our own restore, or an
             * identical write). */
        } else if ((d & ~(SK_FIM_A_TOUCH | SK_FIM_A_INODE | SK_FIM_A_NLINK)) ==
                   0) {
            /* Times, inode or link count alone: content, owner and mode
             * are intact, so nothing to restore. Reported, then noted in
             * memory so that it is not reported again. */
            sk_buf_clear(&w->ev);
            int r2 = sk_buf_append_c(&w->ev, "{\"change\":");
            r2 = r2 ? r2 : sk_fim_change_json(&ch, &w->ev);
            r2 = r2 ? r2 : writer_json(&w->ev, writer_for(w, path));
            r2 = r2 ? r2 : sk_buf_append_c(&w->ev, "}");
            if (r2 == 0)
                emit(w, (d & ~SK_FIM_A_TOUCH) ? "fim.link" : "fim.touch");
            old->mtime_s = cur.mtime_s;
            old->mtime_ns = cur.mtime_ns;
            old->ctime_s = cur.ctime_s;
            old->ctime_ns = cur.ctime_ns;
            old->ino = cur.ino;
            old->nlink = cur.nlink;
        } else {
            respond(w, r, old, &ch, path);
        }
    }
    sk_arena_free(a);
}

static void
flush_pending(struct watcher *w)
{
    struct smap m = w->pending;
    memset(&w->pending, 0, sizeof(w->pending));
    w->pending_since = 0;
    for (size_t i = 0; i < m.cap && !stop_flag; i++)
        if (m.s[i].key != NULL)
            verify_path(w, m.s[i].key, strlen(m.s[i].key));
    smap_clear(&m);
}

/* Writes the watch status file (temp + rename), so that `sekimori status`
 * can tell when the last full check ran. Failures are logged, not fatal:
 * the watch itself goes on. */
static void
write_status(struct watcher *w, const struct sk_fim_scan_stats *st,
             const struct sk_fim_report *r)
{
    const char *path = w->status_file;
    if (path == NULL)
        return;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return;
    char body[512];
    int n = snprintf(body, sizeof(body),
                     "{\"pid\":%d,\"mode\":\"%s\",\"started\":%lld,"
                     "\"last_check\":%lld,\"entries\":%llu,\"added\":%u,"
                     "\"removed\":%u,\"changed\":%u,"
                     "\"baseline_generation\":%llu}\n",
                     (int)getpid(),
                     w->fid ? "fanotify"
                            : (w->ffd != -1 ? "fanotify+inotify" : "inotify"),
                     (long long)w->started, (long long)time(NULL),
                     (unsigned long long)st->entries, r->added, r->removed,
                     r->changed, (unsigned long long)w->base->generation);
    if (n < 0 || (size_t)n >= sizeof(body))
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        sk_log(SK_LOG_WARN, "fim: status file %s: %s", tmp, strerror(errno));
        return;
    }
    bool ok = write(fd, body, (size_t)n) == n;
    if (close(fd) == -1)
        ok = false;
    if (!ok || rename(tmp, path) == -1) {
        sk_log(SK_LOG_WARN, "fim: status file %s: %s", path, strerror(errno));
        unlink(tmp);
    }
}

/* Scans everything and queues every difference from the baseline. */
static int
full_check(struct watcher *w)
{
    struct sk_fim_db *cur = NULL;
    struct sk_fim_scan_stats st;
    int rc = sk_fim_scan(w->c, NULL, &cur, &st);
    if (rc != 0)
        return rc;
    struct sk_fim_report r;
    rc = sk_fim_compare(w->base, cur, &r);
    if (rc == 0) {
        for (size_t i = 0; i < r.n; i++) {
            const struct sk_fim_entry *e = r.c[i].cur ? r.c[i].cur : r.c[i].old;
            pend_add(w, e->path, e->path_len);
        }
        sk_buf_clear(&w->ev);
        if (sk_buf_printf(&w->ev,
                          "{\"entries\":%llu,\"added\":%u,\"removed\":%u,"
                          "\"changed\":%u}",
                          (unsigned long long)st.entries, r.added, r.removed,
                          r.changed) == 0)
            emit(w, "fim.check");
        write_status(w, &st, &r);
        sk_fim_report_fini(&r);
    }
    sk_fim_db_free(cur);
    flush_pending(w);
    return rc;
}

/* The baseline, the key or the store changed: re-verify. A baseline that
 * verifies (an `accept`) replaces the one in memory. */
static void
guard_event(struct watcher *w, const char *dir, const char *name, int kind)
{
    char path[SK_FIM_MAX_PATH + 256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (kind == WD_STORE) {
        emit_simple(w, "fim.store_tampered", path,
                    "an object in the content store changed");
        return;
    }
    char kp[SK_FIM_MAX_PATH + 8];
    snprintf(kp, sizeof(kp), "%s.pub", w->guard_key);
    if (strcmp(path, w->guard_key) == 0 || strcmp(path, kp) == 0) {
        emit_simple(w, "fim.key_changed", path, "the signing key changed");
        return;
    }
    if (strcmp(path, w->guard_base) != 0)
        return;
    struct sk_fim_db *db = NULL;
    int rc = sk_fim_db_load(w->guard_base, w->pub, &db);
    if (rc != 0) {
        emit_simple(w, "fim.refused", path,
                    rc == -SK_ENOENT ? "baseline removed"
                                     : "baseline failed verification; the "
                                       "one in memory stays in force");
        return;
    }
    if (db->generation != w->base->generation ||
        db->created != w->base->created) {
        sk_fim_db_free(w->base);
        w->base = db;
        emit_simple(w, "fim.baseline_reloaded", path, "accepted baseline");
        w->resync = true;
    } else {
        sk_fim_db_free(db);
    }
}

static void
inotify_read(struct watcher *w)
{
    uint8_t buf[65536] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof(buf));
        if (n <= 0)
            return;
        for (ssize_t off = 0; off < n;) {
            struct inotify_event *ev = (void *)(buf + off);
            off += (ssize_t)sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                emit_simple(w, "fim.overflow", "",
                            "inotify queue "
                            "overflowed: full rescan");
                w->resync = true;
                continue;
            }
            if (ev->wd < 0 || (size_t)ev->wd >= w->wdcap ||
                w->wd[ev->wd].path == NULL)
                continue;
            if (ev->mask & IN_IGNORED) {
                wd_drop(w, ev->wd);
                continue;
            }
            struct wdinfo *wi = &w->wd[ev->wd];
            if (wi->kind != WD_TREE) {
                if (ev->len > 0)
                    guard_event(w, wi->path, ev->name, wi->kind);
                continue;
            }
            if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
                /* The directory itself went away or moved: its parent's
                 * event names it; a move needs every path re-derived. */
                if (ev->mask & IN_MOVE_SELF)
                    w->resync = true;
                continue;
            }
            if (ev->len == 0)
                continue;
            char path[SK_FIM_MAX_PATH + 256];
            size_t dl = strlen(wi->path);
            size_t nl = strlen(ev->name);
            if (dl + 1 + nl >= SK_FIM_MAX_PATH)
                continue;
            memcpy(path, wi->path, dl);
            size_t base = dl == 1 ? 0 : dl;
            path[base] = '/';
            memcpy(path + base + 1, ev->name, nl + 1);
            size_t pl = base + 1 + nl;
            pend_add(w, path, pl);
            if ((ev->mask & IN_ISDIR) &&
                (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
                sk_fim_select(w->c, path, pl, true) != NULL) {
                if (watch_tree(w, path, pl, 0, true) != 0)
                    w->resync = true;
            }
            if ((ev->mask & IN_ISDIR) && (ev->mask & IN_MOVED_FROM))
                w->resync = true;
        }
    }
}

int
sk_fim_watch(const struct sk_fim_config *c, const struct sk_fim_sink *sink,
             const struct sk_fim_watch_opts *o)
{
    struct watcher *w = sk_calloc(1, sizeof(*w));
    if (w == NULL)
        return -SK_ENOMEM;
    w->c = c;
    w->sink = sink;
    w->status_file = o->status_file;
    w->started = (int64_t)time(NULL);
    w->ifd = -1;
    w->ffd = -1;
    snprintf(w->guard_base, sizeof(w->guard_base), "%s", c->baseline);
    snprintf(w->guard_key, sizeof(w->guard_key), "%s", c->key);
    char pubp[SK_FIM_MAX_PATH + 8];
    snprintf(pubp, sizeof(pubp), "%s.pub", c->key);
    int rc = sk_fim_key_load(pubp, false, &w->pub);
    if (rc == 0) {
        rc = sk_fim_db_load(c->baseline, w->pub, &w->base);
        if (rc == -SK_ECORRUPT)
            emit_simple(w, "fim.refused", c->baseline,
                        "baseline failed signature verification");
    }
    if (rc == 0)
        rc = sk_fim_store_open(c->store, c->store_max_file, c->store_max_total,
                               &w->store);
    if (rc == 0) {
        w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->ifd == -1)
            rc = -SK_EIO;
    }
    if (rc == 0 && !o->no_fanotify)
        if (!fid_setup(w))
            fan_setup(w);
    if (rc == 0)
        rc = watch_all(w);
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    struct sigaction chld = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT},
                     old_chld;
    sigaction(SIGCHLD, &chld, &old_chld);
    stop_flag = 0;
    int64_t start = now_ms();
    if (rc == 0) {
        sk_buf_clear(&w->ev);
        if (sk_buf_printf(&w->ev,
                          "{\"mode\":\"%s\",\"watches\":%u,\"writers\":%s,"
                          "\"entries\":%zu}",
                          w->fid ? "fanotify" : "inotify", w->nwatches,
                          w->ffd != -1 ? "true" : "false", w->base->n) == 0)
            emit(w, "fim.start");
        rc = full_check(w); /* catch up with what happened while down */
    }
    if (rc == 0 && o->ready_file != NULL) {
        int fd = open(o->ready_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd != -1)
            close(fd);
    }
    int64_t next_check = now_ms() + (int64_t)c->check_interval * 1000;
    while (rc == 0 && !stop_flag) {
        int64_t t = now_ms();
        if (o->max_seconds > 0 && t - start >= (int64_t)o->max_seconds * 1000)
            break;
        if (w->resync) {
            w->resync = false;
            rc = watch_all(w);
            if (rc == 0)
                rc = full_check(w);
            next_check = now_ms() + (int64_t)c->check_interval * 1000;
            continue;
        }
        if (c->check_interval > 0 && t >= next_check) {
            rc = full_check(w);
            next_check = now_ms() + (int64_t)c->check_interval * 1000;
            continue;
        }
        int64_t timeout = next_check - t;
        if (w->pending.n > 0) {
            int64_t due = w->pending_last + c->coalesce_ms;
            int64_t cap =
                w->pending_since + (int64_t)c->coalesce_ms * MAX_DELAY_FACTOR;
            if (cap < due)
                due = cap;
            if (due <= t) {
                flush_pending(w);
                continue;
            }
            if (due - t < timeout)
                timeout = due - t;
        }
        if (o->max_seconds > 0) {
            int64_t left = (int64_t)o->max_seconds * 1000 - (t - start);
            if (left < timeout)
                timeout = left;
        }
        if (timeout > 1000)
            timeout = 1000;
        if (timeout < 0)
            timeout = 0;
        struct pollfd pf[2] = {{.fd = w->ifd, .events = POLLIN},
                               {.fd = w->ffd, .events = POLLIN}};
        int pr = poll(pf, w->ffd != -1 ? 2 : 1, (int)timeout);
        if (pr == -1 && errno != EINTR) {
            rc = -SK_EIO;
            break;
        }
        /* Writers first, so that the inotify events they caused find
         * their identity. */
        if (w->ffd != -1 && pr > 0 && (pf[1].revents & POLLIN))
            w->fid ? fid_read(w) : fan_read(w);
        if (pr > 0 && (pf[0].revents & POLLIN))
            inotify_read(w);
    }
    if (rc == 0 && w->pending.n > 0 && !stop_flag)
        flush_pending(w);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    if (w->ifd != -1)
        close(w->ifd);
    if (w->ffd != -1)
        close(w->ffd);
    for (size_t i = 0; i < w->nmounts; i++)
        close(w->mounts[i].fd);
    for (size_t i = 0; i < w->wdcap; i++)
        sk_free(w->wd[i].path);
    sk_free(w->wd);
    smap_clear(&w->pending);
    smap_clear(&w->hist);
    sk_buf_fini(&w->ev);
    sk_fim_db_free(w->base);
    sk_fim_key_free(w->pub);
    sk_fim_store_free(w->store);
    sk_free(w);
    return rc;
}
