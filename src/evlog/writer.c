/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The single writer of an event log: crash recovery on open, appending
 * redacted records to a pending batch, committing batches with the chosen
 * durability, rolling segments over, and writing signed checkpoints (also
 * to syslog). A failed write (a full disk) is cut back to the last commit
 * so that the log on disk is always a valid prefix.
 */
#include "evlog/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

struct sk_evlog {
    struct sk_evlog_config cfg;
    int dirfd, lockfd, segfd, cpfd;
    struct sk_evlog_key *key;
    struct sk_evlog_syslog *syslog;
    char hostname[256];
    uint64_t seg_bytes;    /* committed size of the segment file */
    uint64_t seg_start_ns; /* when the segment was created */
    uint64_t seg_first;
    struct sk__evlog_state done; /* committed */
    struct sk__evlog_state pend; /* committed + pending */
    struct sk_buf pending;
    struct sk_buf clean;
    uint64_t cp_size;    /* size of the last checkpoint */
    uint64_t cp_mono_ns; /* when it was written */
    uint64_t cp_file_size;
    bool ready; /* opened completely: close() commits */
    char err[256];
};

static int fail(struct sk_evlog *log, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct sk_evlog *log, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->err, sizeof(log->err), fmt, ap);
    va_end(ap);
    return rc;
}

int
sk_evlog_durability_parse(const char *s, enum sk_evlog_durability *out)
{
    if (strcmp(s, "none") == 0)
        *out = SK_EVLOG_SYNC_NONE;
    else if (strcmp(s, "group") == 0)
        *out = SK_EVLOG_SYNC_GROUP;
    else if (strcmp(s, "record") == 0)
        *out = SK_EVLOG_SYNC_RECORD;
    else
        return -SK_EINVAL;
    return 0;
}

static int
create_segment(struct sk_evlog *log)
{
    char name[48];
    snprintf(name, sizeof(name), "seg-%016" PRIx64 ".log", log->done.next_seq);
    int fd =
        openat(log->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd == -1)
        return fail(log, -SK_EIO, "create %s: %s", name, strerror(errno));
    /* Never before the last record: retention relies on that order. */
    uint64_t now = sk__evlog_now_ns();
    struct sk_evlog_seg_header h = {
        .first_seq = log->done.next_seq,
        .created_ns = now > log->done.last_ts ? now : log->done.last_ts};
    memcpy(h.prev_chain, log->done.chain, SK_EVLOG_HASH_LEN);
    uint8_t hb[SK_EVLOG_SEG_HEADER];
    sk_evlog_seg_header_encode(&h, hb);
    if (pwrite(fd, hb, sizeof(hb), 0) != (ssize_t)sizeof(hb) ||
        fsync(fd) == -1 || fsync(log->dirfd) == -1) {
        int e = errno;
        close(fd);
        unlinkat(log->dirfd, name, 0);
        return fail(log, -SK_EIO, "write %s: %s", name, strerror(e));
    }
    if (log->segfd != -1)
        close(log->segfd);
    log->segfd = fd;
    log->seg_bytes = SK_EVLOG_SEG_HEADER;
    log->seg_start_ns = h.created_ns;
    log->seg_first = h.first_seq;
    return 0;
}

static int
open_checkpoints(struct sk_evlog *log, struct sk_evlog_recovery *rec)
{
    log->cpfd = openat(log->dirfd, "checkpoints",
                       O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log->cpfd == -1)
        return fail(log, -SK_EIO, "open checkpoints: %s", strerror(errno));
    struct sk_buf b = {0};
    int rc = sk__evlog_read_file(log->dirfd, "checkpoints",
                                 SK_EVLOG_MAX_SEGMENT, &b);
    if (rc != 0) {
        sk_buf_fini(&b);
        return fail(log, rc, "read checkpoints: %s", sk_strerror(rc));
    }
    size_t end = b.len;
    while (end > 0 && b.p[end - 1] != '\n')
        end--;
    if (end < b.len) {
        /* A torn checkpoint line: written only in part before a crash. */
        if (ftruncate(log->cpfd, (off_t)end) == -1 || fsync(log->cpfd) == -1) {
            sk_buf_fini(&b);
            return fail(log, -SK_EIO, "cut checkpoints: %s", strerror(errno));
        }
        if (rec != NULL)
            rec->checkpoints_cut = b.len - end;
        sk_log(SK_LOG_WARN, "evlog: cut a torn checkpoint line (%zu bytes)",
               b.len - end);
    }
    log->cp_file_size = end;
    if (end > 0) {
        size_t start = end - 1;
        while (start > 0 && b.p[start - 1] != '\n')
            start--;
        struct sk_evlog_checkpoint cp;
        rc = sk_evlog_checkpoint_parse(sk_str_make(b.p + start, end - start),
                                       log->key, &cp);
        if (rc != 0) {
            sk_buf_fini(&b);
            return fail(log, -SK_ECORRUPT,
                        "the last checkpoint does not verify: %s",
                        sk_strerror(rc));
        }
        if (cp.size > log->done.next_seq - 1) {
            sk_buf_fini(&b);
            return fail(log, -SK_ECORRUPT,
                        "the last checkpoint covers %" PRIu64
                        " records but the log has %" PRIu64
                        " (records lost or removed); run `sekimori log "
                        "verify`",
                        cp.size, log->done.next_seq - 1);
        }
        log->cp_size = cp.size;
    }
    sk_buf_fini(&b);
    return 0;
}

static int
recover(struct sk_evlog *log, struct sk_evlog_recovery *rec)
{
    struct sk_evlog_anchor a;
    int rc = sk__evlog_load_anchor(log->dirfd, log->key, &a);
    if (rc < 0)
        return fail(log, -SK_ECORRUPT, "anchor does not verify: %s",
                    sk_strerror(rc));
    struct sk__evlog_scan s;
    memset(&s, 0, sizeof(s));
    s.dirfd = log->dirfd;
    s.st.next_seq = 1;
    if (rc == 1) {
        s.st.next_seq = a.next_seq;
        s.st.last_ts = a.ts_ns;
        memcpy(s.st.chain, a.chain, SK_EVLOG_HASH_LEN);
        s.st.fr = a.frontier;
    }
    rc = sk__evlog_scan(&s);
    if (rc != 0) {
        sk_free(s.segs);
        return fail(log, rc, "scan: %s", sk_strerror(rc));
    }
    if (s.end == SK__SCAN_CORRUPT) {
        sk_free(s.segs);
        return fail(log, -SK_ECORRUPT, "log is damaged: %s", s.why);
    }
    log->done = s.st;
    if (s.end == SK__SCAN_TORN) {
        const char *name = s.segs[s.torn_seg].name;
        if (s.segs[s.torn_seg].zst) {
            sk_free(s.segs);
            return fail(log, -SK_ECORRUPT, "compressed segment is torn");
        }
        if (s.torn_header) {
            if (unlinkat(log->dirfd, name, 0) == -1 ||
                fsync(log->dirfd) == -1) {
                sk_free(s.segs);
                return fail(log, -SK_EIO, "remove %s: %s", name,
                            strerror(errno));
            }
        } else {
            int fd = openat(log->dirfd, name, O_WRONLY | O_CLOEXEC);
            if (fd == -1 || ftruncate(fd, (off_t)s.torn_off) == -1 ||
                fsync(fd) == -1) {
                if (fd != -1)
                    close(fd);
                sk_free(s.segs);
                return fail(log, -SK_EIO, "cut %s: %s", name, strerror(errno));
            }
            close(fd);
        }
        sk_log(
            SK_LOG_WARN,
            "evlog: recovery cut an incomplete tail record: %s offset %" PRIu64
            ", %" PRIu64 " bytes",
            name, s.torn_off, s.torn_bytes);
        if (rec != NULL) {
            rec->cut_bytes = s.torn_bytes;
            rec->cut_offset = s.torn_off;
            snprintf(rec->cut_segment, sizeof(rec->cut_segment), "%s", name);
        }
        if (s.torn_header)
            s.nsegs--;
        else
            s.last_seg_size = s.torn_off;
    }
    if (s.nsegs > 0) {
        const struct sk__evlog_seg *g = &s.segs[s.nsegs - 1];
        if (g->zst) {
            /* The newest segment is never compressed; start a new one. */
            rc = create_segment(log);
        } else {
            log->segfd = openat(log->dirfd, g->name, O_WRONLY | O_CLOEXEC);
            if (log->segfd == -1)
                rc =
                    fail(log, -SK_EIO, "open %s: %s", g->name, strerror(errno));
            log->seg_bytes = s.last_seg_size;
            log->seg_start_ns = sk__evlog_now_ns();
            log->seg_first = g->first_seq;
            /* The segment's age counts from its creation, not our start. */
            uint8_t hb[SK_EVLOG_SEG_HEADER];
            struct sk_evlog_seg_header h;
            int fd = openat(log->dirfd, g->name, O_RDONLY | O_CLOEXEC);
            if (fd != -1) {
                if (pread(fd, hb, sizeof(hb), 0) == (ssize_t)sizeof(hb) &&
                    sk_evlog_seg_header_decode(hb, sizeof(hb), &h) == 0)
                    log->seg_start_ns = h.created_ns;
                close(fd);
            }
        }
    } else {
        rc = create_segment(log);
    }
    if (rec != NULL)
        rec->records = log->done.next_seq - 1;
    sk_free(s.segs);
    log->pend = log->done;
    return rc;
}

static int
check_pubkey(struct sk_evlog *log)
{
    struct sk_evlog_key *pub = NULL;
    int rc = -SK_ENOENT;
    int fd = openat(log->dirfd, "pubkey.pem", O_RDONLY | O_CLOEXEC);
    if (fd != -1) {
        close(fd);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/pubkey.pem", log->cfg.dir);
        rc = sk_evlog_key_load(path, false, &pub);
    }
    if (rc == -SK_ENOENT) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/pubkey.pem", log->cfg.dir);
        rc = sk_evlog_key_save_public(log->key, path);
        return rc != 0 ? fail(log, rc, "write pubkey.pem: %s", sk_strerror(rc))
                       : 0;
    }
    if (rc != 0)
        return fail(log, rc, "pubkey.pem: %s", sk_strerror(rc));
    bool same = strcmp(sk_evlog_key_id(pub), sk_evlog_key_id(log->key)) == 0;
    sk_evlog_key_free(pub);
    if (!same)
        return fail(log, -SK_EINVAL,
                    "the key %s is not the key of this log (pubkey.pem)",
                    log->cfg.key_path);
    return 0;
}

int
sk_evlog_open(const struct sk_evlog_config *cfg, struct sk_evlog **out,
              struct sk_evlog_recovery *rec)
{
    if (cfg->dir == NULL || cfg->key_path == NULL)
        return -SK_EINVAL;
    if (rec != NULL)
        memset(rec, 0, sizeof(*rec));
    struct sk_evlog *log = sk_calloc(1, sizeof(*log));
    if (log == NULL)
        return -SK_ENOMEM;
    log->dirfd = log->lockfd = log->segfd = log->cpfd = -1;
    log->cfg = *cfg;
    if (log->cfg.group_ms == 0)
        log->cfg.group_ms = 2;
    if (log->cfg.checkpoint_every == 0)
        log->cfg.checkpoint_every = 10000;
    if (log->cfg.checkpoint_secs == 0)
        log->cfg.checkpoint_secs = 60;
    if (log->cfg.segment_bytes == 0)
        log->cfg.segment_bytes = 64ULL << 20;
    if (log->cfg.segment_bytes > SK_EVLOG_MAX_SEGMENT / 2)
        log->cfg.segment_bytes = SK_EVLOG_MAX_SEGMENT / 2;
    if (log->cfg.segment_secs == 0)
        log->cfg.segment_secs = 86400;
    if (gethostname(log->hostname, sizeof(log->hostname) - 1) == -1)
        snprintf(log->hostname, sizeof(log->hostname), "-");
    int rc = 0;
    if (mkdir(cfg->dir, 0700) == -1 && errno != EEXIST)
        rc = -SK_EIO;
    if (rc == 0) {
        log->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (log->dirfd == -1)
            rc = -SK_EIO;
    }
    if (rc == 0) {
        log->lockfd =
            openat(log->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (log->lockfd == -1)
            rc = -SK_EIO;
        else if (flock(log->lockfd, LOCK_EX | LOCK_NB) == -1)
            rc = errno == EWOULDBLOCK ? -SK_EAGAIN : -SK_EIO;
    }
    if (rc != 0) {
        sk_log(SK_LOG_ERROR, "evlog: %s: %s", cfg->dir,
               rc == -SK_EAGAIN ? "another writer owns this log"
                                : strerror(errno));
        sk_evlog_close(log);
        return rc;
    }
    rc = sk_evlog_key_load(cfg->key_path, true, &log->key);
    if (rc != 0) {
        sk_log(SK_LOG_ERROR, "evlog: key %s: %s%s", cfg->key_path,
               sk_strerror(rc),
               rc == -SK_EINVAL
                   ? " (must be owned by us or root, mode 0600 or stricter)"
                   : "");
        sk_evlog_close(log);
        return rc;
    }
    if ((rc = check_pubkey(log)) != 0 || (rc = recover(log, rec)) != 0 ||
        (rc = open_checkpoints(log, rec)) != 0) {
        sk_log(SK_LOG_ERROR, "evlog: %s: %s", cfg->dir, log->err);
        sk_evlog_close(log);
        return rc;
    }
    if (cfg->syslog_target != NULL) {
        rc = sk_evlog_syslog_open(cfg->syslog_target, &log->syslog);
        if (rc != 0) {
            sk_log(SK_LOG_ERROR, "evlog: syslog %s: %s", cfg->syslog_target,
                   sk_strerror(rc));
            sk_evlog_close(log);
            return rc;
        }
    }
    log->cp_mono_ns = sk__evlog_mono_ns();
    log->ready = true;
    *out = log;
    return 0;
}

int
sk_evlog_append(struct sk_evlog *log, struct sk_str source, struct sk_str type,
                struct sk_str body, uint64_t *seq)
{
    /* Redaction happens here, before the bytes are even buffered. */
    int rc = sk_evlog_redact_json(body, &log->clean);
    if (rc != 0)
        return rc;
    uint64_t now = sk__evlog_now_ns();
    struct sk_evlog_record r = {
        .seq = log->pend.next_seq,
        .ts_ns = now > log->pend.last_ts ? now : log->pend.last_ts,
        .source = source,
        .type = type,
        .body = sk_buf_str(&log->clean),
    };
    /* Names are checked for card numbers too: they go to disk as well. */
    uint8_t nm[SK_EVLOG_MAX_NAME];
    for (int i = 0; i < 2; i++) {
        struct sk_str n = i == 0 ? source : type;
        if (n.len > SK_EVLOG_MAX_NAME)
            return -SK_EINVAL;
        memcpy(nm, n.p, n.len);
        if (sk_evlog_mask_cards(nm, n.len) > 0)
            return -SK_EINVAL;
    }
    rc = sk_evlog_record_encode(&r, log->pend.chain, &log->pending);
    if (rc != 0)
        return rc;
    memcpy(log->pend.chain, r.chain, SK_EVLOG_HASH_LEN);
    sk_evlog_frontier_add(&log->pend.fr, r.leaf);
    log->pend.last_ts = r.ts_ns;
    if (seq != NULL)
        *seq = r.seq;
    log->pend.next_seq++;
    return 0;
}

static void
rollback(struct sk_evlog *log)
{
    /* Cut the file back to the last commit; the log stays a prefix. */
    if (ftruncate(log->segfd, (off_t)log->seg_bytes) == -1)
        sk_log(SK_LOG_ERROR, "evlog: cannot cut back the segment: %s",
               strerror(errno));
    log->pend = log->done;
    sk_buf_clear(&log->pending);
}

static int
write_checkpoint(struct sk_evlog *log)
{
    struct sk_evlog_checkpoint cp = {.size = log->done.next_seq - 1,
                                     .ts_ns = sk__evlog_now_ns()};
    sk_evlog_frontier_root(&log->done.fr, cp.root);
    memcpy(cp.chain, log->done.chain, SK_EVLOG_HASH_LEN);
    struct sk_buf line = {0};
    int rc = sk_evlog_checkpoint_format(&cp, log->key, &line);
    if (rc != 0) {
        sk_buf_fini(&line);
        return fail(log, rc, "sign checkpoint: %s", sk_strerror(rc));
    }
    ssize_t w = write(log->cpfd, line.p, line.len);
    if (w != (ssize_t)line.len || (log->cfg.durability != SK_EVLOG_SYNC_NONE &&
                                   fdatasync(log->cpfd) == -1)) {
        int e = w == -1 ? errno : ENOSPC;
        if (ftruncate(log->cpfd, (off_t)log->cp_file_size) == -1)
            sk_log(SK_LOG_ERROR, "evlog: cannot cut back checkpoints");
        sk_buf_fini(&line);
        return fail(log, -SK_EIO, "write checkpoint: %s", strerror(e));
    }
    log->cp_file_size += line.len;
    log->cp_size = cp.size;
    log->cp_mono_ns = sk__evlog_mono_ns();
    if (log->syslog != NULL) {
        struct sk_buf msg = {0};
        line.len--; /* no newline inside a syslog message */
        if (sk_evlog_syslog_format(&msg, 5, cp.ts_ns, log->hostname,
                                   "checkpoint", NULL,
                                   sk_buf_str(&line)) != 0 ||
            sk_evlog_syslog_send(log->syslog, sk_buf_str(&msg)) != 0)
            sk_log(SK_LOG_WARN,
                   "evlog: checkpoint %" PRIu64 " not sent to syslog", cp.size);
        sk_buf_fini(&msg);
    }
    sk_buf_fini(&line);
    return 0;
}

static bool
checkpoint_due(const struct sk_evlog *log)
{
    uint64_t size = log->done.next_seq - 1;
    if (size == log->cp_size)
        return false;
    return size - log->cp_size >= log->cfg.checkpoint_every ||
           sk__evlog_mono_ns() - log->cp_mono_ns >=
               (uint64_t)log->cfg.checkpoint_secs * 1000000000ULL;
}

int
sk_evlog_commit(struct sk_evlog *log)
{
    if (log->pending.len > 0) {
        size_t off = 0;
        while (off < log->pending.len) {
            ssize_t w =
                pwrite(log->segfd, log->pending.p + off, log->pending.len - off,
                       (off_t)(log->seg_bytes + off));
            if (w == -1) {
                if (errno == EINTR)
                    continue;
                int e = errno;
                rollback(log);
                return fail(log, -SK_EIO, "write: %s", strerror(e));
            }
            off += (size_t)w;
        }
        if (log->cfg.durability != SK_EVLOG_SYNC_NONE &&
            fdatasync(log->segfd) == -1) {
            int e = errno;
            rollback(log);
            return fail(log, -SK_EIO, "fdatasync: %s", strerror(e));
        }
        log->seg_bytes += log->pending.len;
        log->done = log->pend;
        sk_buf_clear(&log->pending);
    }
    /*
     * The batch is durable now: a checkpoint or a rollover that fails
     * (a full disk) must not turn into an error for records already in
     * the log. Both are retried at the next commit.
     */
    int rc = 0;
    if (checkpoint_due(log))
        rc = write_checkpoint(log);
    if (rc == 0 && log->done.next_seq > log->seg_first &&
        (log->seg_bytes >= log->cfg.segment_bytes ||
         sk__evlog_now_ns() - log->seg_start_ns >=
             (uint64_t)log->cfg.segment_secs * 1000000000ULL)) {
        /* Checkpoint the segment's end so that pruning lands on one. */
        if (log->cp_size != log->done.next_seq - 1)
            rc = write_checkpoint(log);
        if (rc == 0)
            rc = create_segment(log);
    }
    if (rc != 0)
        sk_log(SK_LOG_WARN, "evlog: %s (will retry)", log->err);
    return 0;
}

int
sk_evlog_checkpoint(struct sk_evlog *log)
{
    int rc = sk_evlog_commit(log);
    /* Here the caller asked for the checkpoint: its failure is an error. */
    if (rc == 0 && log->cp_size != log->done.next_seq - 1)
        rc = write_checkpoint(log);
    return rc;
}

uint64_t
sk_evlog_next_seq(const struct sk_evlog *log)
{
    return log->pend.next_seq;
}

uint64_t
sk_evlog_committed_seq(const struct sk_evlog *log)
{
    return log->done.next_seq - 1;
}

size_t
sk_evlog_pending_bytes(const struct sk_evlog *log)
{
    return log->pending.len;
}

const char *
sk_evlog_last_error(const struct sk_evlog *log)
{
    return log->err;
}

enum sk_evlog_durability
sk_evlog_durability(const struct sk_evlog *log)
{
    return log->cfg.durability;
}

int
sk_evlog_close(struct sk_evlog *log)
{
    if (log == NULL)
        return 0;
    int rc = 0;
    if (log->ready) {
        rc = sk_evlog_commit(log);
        if (rc == 0 && log->cp_size != log->done.next_seq - 1)
            rc = write_checkpoint(log);
        if (rc == 0 && fsync(log->segfd) == -1)
            rc = -SK_EIO;
    }
    if (log->segfd != -1)
        close(log->segfd);
    if (log->cpfd != -1)
        close(log->cpfd);
    if (log->lockfd != -1)
        close(log->lockfd);
    if (log->dirfd != -1)
        close(log->dirfd);
    sk_evlog_syslog_close(log->syslog);
    sk_evlog_key_free(log->key);
    sk_buf_fini(&log->pending);
    sk_buf_fini(&log->clean);
    sk_free(log);
    return rc;
}

unsigned
sk__evlog_group_ms(const struct sk_evlog *log)
{
    return log->cfg.group_ms;
}

int
sk_evlog_retain_open(struct sk_evlog *log, const struct sk_evlog_retention *p,
                     struct sk_buf *out)
{
    /* Commit first so that the segments on disk are all there is. */
    int rc = sk_evlog_commit(log);
    if (rc != 0)
        return rc;
    return sk__evlog_retain_core(log->dirfd, log->key, p, out);
}
