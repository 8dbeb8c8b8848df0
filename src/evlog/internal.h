/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the files of src/evlog: the list of segment files,
 * loading a segment (plain or zstd), and the scanner that walks the whole
 * log checking sequence numbers, timestamps and the hash chain, used by the
 * writer's recovery, by verify and by retention. Not a contract.
 */
#ifndef SK_EVLOG_INTERNAL_H
#define SK_EVLOG_INTERNAL_H

#include "evlog/evlog.h"

struct sk__evlog_seg {
    uint64_t first_seq;
    bool zst;
    char name[48]; /* seg-<16 hex>.log or .log.zst */
};

/* Lists the segments of dirfd sorted by first_seq. *out is sk_malloc'ed. */
int sk__evlog_list(int dirfd, struct sk__evlog_seg **out, size_t *n);

/* Reads a whole segment (decompressed) into out (cleared first). */
int sk__evlog_load(int dirfd, const struct sk__evlog_seg *s,
                   struct sk_buf *out);

/* Reads only the header of a segment (plain or zstd). */
int sk__evlog_seg_header(int dirfd, const struct sk__evlog_seg *s,
                         struct sk_evlog_seg_header *h);

/* Reads a whole small file (at most max bytes) into out. */
int sk__evlog_read_file(int dirfd, const char *name, size_t max,
                        struct sk_buf *out);

/* Writes a file atomically (tmp, fsync, rename, fsync dir). */
int sk__evlog_write_atomic(int dirfd, const char *name, const void *p,
                           size_t len, int mode);

uint64_t sk__evlog_now_ns(void);
uint64_t sk__evlog_mono_ns(void);

/* State of the chain and tree after a prefix of the log. */
struct sk__evlog_state {
    uint64_t next_seq;
    uint64_t last_ts;
    uint8_t chain[SK_EVLOG_HASH_LEN];
    struct sk_evlog_frontier fr;
};

enum sk__scan_end {
    SK__SCAN_OK = 0,      /* every byte is a good record */
    SK__SCAN_TORN = 1,    /* the last segment ends in an incomplete record */
    SK__SCAN_CORRUPT = 2, /* a bad record, header or continuity */
};

typedef int (*sk__evlog_rec_fn)(void *ctx, const struct sk_evlog_record *rec,
                                const struct sk__evlog_state *st);

struct sk__evlog_scan {
    /* in */
    int dirfd;
    sk__evlog_rec_fn on_record; /* may be NULL; non-zero return stops */
    void *ctx;
    uint64_t stop_after_seq; /* 0: scan everything */
    /* in/out: the starting state (after an anchor) and the final one */
    struct sk__evlog_state st;
    /* out */
    enum sk__scan_end end;
    uint64_t bad_seq;
    char why[256];
    size_t torn_seg; /* index in segs of the torn segment */
    uint64_t torn_off;
    uint64_t torn_bytes;
    bool torn_header; /* the last segment's header itself is incomplete */
    uint64_t bytes;
    uint64_t records;
    struct sk__evlog_seg *segs;
    size_t nsegs;
    uint64_t last_seg_size;
};

/*
 * Scans the whole log from s->st. Returns 0 (see s->end) or a negative
 * error for I/O trouble. s->segs is allocated; free with sk_free.
 */
int sk__evlog_scan(struct sk__evlog_scan *s);

/* Loads the anchor (if any) into st; 0 none, 1 loaded, negative error. */
int sk__evlog_load_anchor(int dirfd, const struct sk_evlog_key *k,
                          struct sk_evlog_anchor *a);

/*
 * Retention on an open directory whose writer lock the caller holds; k is
 * the private key for the anchor.
 */
int sk__evlog_retain_core(int dirfd, const struct sk_evlog_key *k,
                          const struct sk_evlog_retention *p,
                          struct sk_buf *out);

/* The group commit interval of an open log, in milliseconds. */
unsigned sk__evlog_group_ms(const struct sk_evlog *log);

#endif
