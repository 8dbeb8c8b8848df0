/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forensic event log (evlog): an append-only, hash-chained store of
 * records (blocks, file changes, responses) with Ed25519-signed checkpoints
 * over an RFC 9162 Merkle tree, retention with zstd-compressed cold
 * segments, and a single writer that takes records over a UNIX socket.
 * This header is the module's contract: the proxy and the file monitor use
 * the client functions (sk_evlog_client_*), `sekimori run` embeds the
 * writer (sk_evlog_open / sk_evlog_serve), and `sekimori log` uses all of
 * it. The on-disk format and the socket protocol are in
 * docs/formats/evlog.md.
 */
#ifndef SK_EVLOG_EVLOG_H
#define SK_EVLOG_EVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/str.h"

/*
 * Limits of the module (kept here rather than in util/limits.h to avoid
 * merge conflicts; the lead may move them).
 */
/* Largest JSON body of one record; a WAF event with matched data is < 8k. */
#define SK_EVLOG_MAX_BODY (64 * 1024)
/* Longest source or type name ("proxy", "fim", "waf.block"). */
#define SK_EVLOG_MAX_NAME 32
/* Deepest JSON nesting walked by the redactor (recursion bound). */
#define SK_EVLOG_MAX_DEPTH 64
/* Largest segment we accept to read (decompressed), bounds reader memory. */
#define SK_EVLOG_MAX_SEGMENT (1024ULL * 1024 * 1024)
/* Most segments in one log directory (a year of daily segments is 366). */
#define SK_EVLOG_MAX_SEGMENTS 100000
/* Largest protocol frame: a record plus its header. */
#define SK_EVLOG_MAX_FRAME (SK_EVLOG_MAX_BODY + 2 * SK_EVLOG_MAX_NAME + 16)
/* Most client connections of one writer. */
#define SK_EVLOG_MAX_CLIENTS 256
/* Most allowed uids on the writer socket. */
#define SK_EVLOG_MAX_UIDS 16

#define SK_EVLOG_HASH_LEN 32
#define SK_EVLOG_SEG_HEADER 64
/* Bytes of a record frame besides its names and body. */
#define SK_EVLOG_REC_FIXED 62

enum sk_evlog_durability {
    SK_EVLOG_SYNC_NONE = 0,   /* write(2) only; survives kill -9 only */
    SK_EVLOG_SYNC_GROUP = 1,  /* fdatasync every group_ms, then ack */
    SK_EVLOG_SYNC_RECORD = 2, /* fdatasync after every record */
};

/* One decoded record. The views point into the reader's memory. */
struct sk_evlog_record {
    uint64_t seq;   /* 1, 2, 3, ... without gaps */
    uint64_t ts_ns; /* CLOCK_REALTIME in ns, never decreasing */
    struct sk_str source;
    struct sk_str type;
    struct sk_str body;               /* a JSON object, redacted, compact */
    uint8_t leaf[SK_EVLOG_HASH_LEN];  /* RFC 9162 leaf hash (computed) */
    uint8_t chain[SK_EVLOG_HASH_LEN]; /* H(previous chain || leaf), stored */
};

/* Writer configuration. Zero values pick the defaults given. */
struct sk_evlog_config {
    const char *dir;      /* log directory (created 0700 if absent) */
    const char *key_path; /* Ed25519 private key, PEM; required */
    enum sk_evlog_durability durability;
    unsigned group_ms;         /* group commit interval; default 2 */
    uint64_t checkpoint_every; /* records between checkpoints; 10000 */
    unsigned checkpoint_secs;  /* seconds between checkpoints; 60 */
    uint64_t segment_bytes;    /* segment rollover size; 64 MiB */
    unsigned segment_secs;     /* segment rollover age; 86400 */
    const char *syslog_target; /* checkpoint copies, see sk_evlog_syslog */
};

/* What sk_evlog_open() found and repaired. */
struct sk_evlog_recovery {
    uint64_t records;         /* records in the log after recovery */
    uint64_t cut_bytes;       /* bytes of an incomplete tail removed */
    uint64_t cut_offset;      /* where the cut happened */
    char cut_segment[64];     /* segment file name of the cut, or "" */
    uint64_t checkpoints_cut; /* torn checkpoint line bytes removed */
};

struct sk_evlog;

/*
 * Opens (creating if needed) the log in cfg->dir as its single writer: takes
 * an exclusive lock, scans the log, cuts an incomplete tail record (and says
 * so in *rec, which may be NULL) and rebuilds the chain and Merkle state.
 * A record that is bad but not at the tail is corruption: -SK_ECORRUPT and
 * nothing is changed. Returns 0 and *out (free with sk_evlog_close), or
 * -SK_EAGAIN when another writer holds the log, -SK_EIO, -SK_ENOMEM,
 * -SK_EINVAL. Blocks on disk I/O.
 */
int sk_evlog_open(const struct sk_evlog_config *cfg, struct sk_evlog **out,
                  struct sk_evlog_recovery *rec);

/*
 * Redacts and appends one record to the pending batch and returns its
 * sequence number in *seq (may be NULL). The record is not durable until
 * sk_evlog_commit() returns 0. `body` must be a JSON object (at most
 * SK_EVLOG_MAX_BODY bytes); source and type are [a-z0-9_.-]{1,32}.
 * Returns -SK_EINVAL / -SK_EPARSE / -SK_ELIMIT on bad input, -SK_ENOMEM.
 * Does not block (no I/O).
 */
int sk_evlog_append(struct sk_evlog *log, struct sk_str source,
                    struct sk_str type, struct sk_str body, uint64_t *seq);

/*
 * Writes the pending batch and syncs it as the durability setting says,
 * rolls the segment over and writes a checkpoint when one is due. On an
 * I/O error (a full disk) the file is cut back to the last commit, the
 * pending records are dropped (their sequence numbers are reused) and
 * -SK_EIO is returned with errno-like detail in sk_evlog_last_error().
 * Once the batch is durable, 0 is returned even if the checkpoint or the
 * segment rollover failed (logged, retried at the next commit).
 * Blocks on disk I/O.
 */
int sk_evlog_commit(struct sk_evlog *log);

/* Commits and writes a checkpoint now, due or not. Blocks. */
int sk_evlog_checkpoint(struct sk_evlog *log);

/* Sequence number the next record will get. */
uint64_t sk_evlog_next_seq(const struct sk_evlog *log);

/* Sequence number of the last durable (committed) record, 0 if none. */
uint64_t sk_evlog_committed_seq(const struct sk_evlog *log);

/* Bytes pending in the batch (not yet committed). */
size_t sk_evlog_pending_bytes(const struct sk_evlog *log);

/* Human readable cause of the last failure (static storage of the log). */
const char *sk_evlog_last_error(const struct sk_evlog *log);

/* Returns the durability setting of an open log. */
enum sk_evlog_durability sk_evlog_durability(const struct sk_evlog *log);

/*
 * Commits what is pending (a checkpoint too if records were added since the
 * last one), releases the lock and frees the log. NULL is accepted.
 * Returns the result of the final commit. Blocks.
 */
int sk_evlog_close(struct sk_evlog *log);

/* Parses "none", "group", "record". 0 or -SK_EINVAL. */
int sk_evlog_durability_parse(const char *s, enum sk_evlog_durability *out);

/* ---- redaction ------------------------------------------------------- */

/*
 * THE redaction function: every record body passes through it before any
 * byte is stored. Parses `in` as a JSON object, replaces the values of
 * sensitive keys (cvv, cvc, password, ...) by "[REDACTED]", masks every
 * Luhn-valid run of 13-19 digits (single spaces or dashes allowed between
 * digits) in keys, strings and numbers keeping the last four digits, and
 * writes compact JSON to `out` (cleared first). Returns 0, -SK_EPARSE,
 * -SK_ELIMIT (size, depth) or -SK_ENOMEM. Does not block.
 */
int sk_evlog_redact_json(struct sk_str in, struct sk_buf *out);

/*
 * Masks card numbers in place in s[0..len): every digit of a Luhn-valid
 * 13-19 digit run except the last four becomes '*'. Returns the number of
 * card numbers masked. Does not allocate.
 */
size_t sk_evlog_mask_cards(uint8_t *s, size_t len);

/*
 * True if `in` needs no change: it is already the compact JSON object the
 * slow path would produce and holds nothing to redact (used internally by
 * sk_evlog_redact_json; exposed for the fuzzer's differential check).
 */
bool sk__evlog_redact_fast(struct sk_str in);

/* True if `key` names a secret (case-insensitive, '-' equals '_'). */
bool sk_evlog_sensitive_key(struct sk_str key);

/* ---- record codec (pure, fuzzed) ------------------------------------- */

/*
 * Decodes the record frame at p[0..len). Returns 0 with *rec (views into p)
 * and *used, -SK_EAGAIN when the frame is incomplete (a torn tail), or
 * -SK_ECORRUPT when it is malformed or fails its CRC. Computes rec->leaf.
 * Does not allocate or block.
 */
int sk_evlog_record_decode(const uint8_t *p, size_t len,
                           struct sk_evlog_record *rec, size_t *used);

/*
 * Encodes a record into `out` (appended) with the given previous chain
 * hash; sets rec->leaf and rec->chain. Returns 0, -SK_EINVAL, -SK_ENOMEM.
 */
int sk_evlog_record_encode(struct sk_evlog_record *rec,
                           const uint8_t prev_chain[SK_EVLOG_HASH_LEN],
                           struct sk_buf *out);

/* CRC32C (Castagnoli) of p[0..len) continuing from crc (start with 0). */
uint32_t sk_evlog_crc32c(uint32_t crc, const void *p, size_t len);

/* Segment header. */
struct sk_evlog_seg_header {
    uint64_t first_seq;
    uint64_t created_ns;
    uint8_t prev_chain[SK_EVLOG_HASH_LEN];
};

/* Decodes a 64-byte segment header: 0, -SK_EAGAIN (short), -SK_ECORRUPT. */
int sk_evlog_seg_header_decode(const uint8_t *p, size_t len,
                               struct sk_evlog_seg_header *h);
void sk_evlog_seg_header_encode(const struct sk_evlog_seg_header *h,
                                uint8_t out[SK_EVLOG_SEG_HEADER]);

/* ---- hashing and Merkle trees (RFC 9162) ----------------------------- */

/* The compact state of a Merkle tree: one perfect subtree per set bit. */
struct sk_evlog_frontier {
    uint64_t size;
    uint8_t h[64][SK_EVLOG_HASH_LEN]; /* h[i] valid when bit i of size */
};

/* SHA-256 of the concatenation of up to three parts (NULL/0 skipped). */
void sk_evlog_sha256(const void *a, size_t alen, const void *b, size_t blen,
                     const void *c, size_t clen,
                     uint8_t out[SK_EVLOG_HASH_LEN]);
/* Leaf hash H(0x00 || data) and node hash H(0x01 || l || r). */
void sk_evlog_leaf_hash(const void *data, size_t len,
                        uint8_t out[SK_EVLOG_HASH_LEN]);
void sk_evlog_node_hash(const uint8_t l[SK_EVLOG_HASH_LEN],
                        const uint8_t r[SK_EVLOG_HASH_LEN],
                        uint8_t out[SK_EVLOG_HASH_LEN]);

/* Adds a leaf hash; the root of the frontier (SHA-256("") for size 0). */
void sk_evlog_frontier_add(struct sk_evlog_frontier *f,
                           const uint8_t leaf[SK_EVLOG_HASH_LEN]);
void sk_evlog_frontier_root(const struct sk_evlog_frontier *f,
                            uint8_t out[SK_EVLOG_HASH_LEN]);

/* MTH over n leaf hashes (RFC 9162 2.1.1). */
void sk_evlog_merkle_root(const uint8_t (*leaves)[SK_EVLOG_HASH_LEN],
                          uint64_t n, uint8_t out[SK_EVLOG_HASH_LEN]);

/*
 * Inclusion proof PATH(m, D[0:n]) and consistency proof PROOF(m, D[0:n])
 * (RFC 9162 2.1.3.1, 2.1.4.1) into proof[] (at most 64 hashes); *plen gets
 * the number of hashes. -SK_EINVAL for m out of range.
 */
int sk_evlog_merkle_inclusion(const uint8_t (*leaves)[SK_EVLOG_HASH_LEN],
                              uint64_t n, uint64_t m,
                              uint8_t (*proof)[SK_EVLOG_HASH_LEN],
                              size_t *plen);
int sk_evlog_merkle_consistency(const uint8_t (*leaves)[SK_EVLOG_HASH_LEN],
                                uint64_t n, uint64_t m,
                                uint8_t (*proof)[SK_EVLOG_HASH_LEN],
                                size_t *plen);

/* Verifiers of RFC 9162 2.1.3.2 and 2.1.4.2: 0 or -SK_ECORRUPT. */
int sk_evlog_merkle_verify_inclusion(const uint8_t leaf[SK_EVLOG_HASH_LEN],
                                     uint64_t index, uint64_t size,
                                     const uint8_t (*proof)[SK_EVLOG_HASH_LEN],
                                     size_t plen,
                                     const uint8_t root[SK_EVLOG_HASH_LEN]);
int sk_evlog_merkle_verify_consistency(
    uint64_t size1, uint64_t size2, const uint8_t root1[SK_EVLOG_HASH_LEN],
    const uint8_t root2[SK_EVLOG_HASH_LEN],
    const uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t plen);

/* ---- keys and signed lines ------------------------------------------- */

struct sk_evlog_key; /* an Ed25519 key pair or public key */

/*
 * Generates a key pair: the private key PEM at `path` (created with mode
 * 0600, never overwritten: -SK_EEXIST) and the public key at
 * "<path>.pub". Blocks on file I/O.
 */
int sk_evlog_keygen(const char *path);
/* Loads a private (PEM PKCS#8) or public (PEM SPKI) key. Blocks. */
int sk_evlog_key_load(const char *path, bool priv, struct sk_evlog_key **out);
void sk_evlog_key_free(struct sk_evlog_key *k);
/* 16 hex digits naming the public key (first 8 bytes of its SHA-256). */
const char *sk_evlog_key_id(const struct sk_evlog_key *k);
/* Writes the public key PEM to path (mode 0644). */
int sk_evlog_key_save_public(const struct sk_evlog_key *k, const char *path);

/*
 * Checkpoint: the signed statement "the log's first `size` records have
 * Merkle root `root` and the record `size` has chain hash `chain`". Its
 * text form is one line; see docs/formats/evlog.md.
 */
struct sk_evlog_checkpoint {
    uint64_t size;
    uint64_t ts_ns;
    uint8_t root[SK_EVLOG_HASH_LEN];
    uint8_t chain[SK_EVLOG_HASH_LEN];
    char key_id[17];
};

/* Formats and signs a checkpoint line (with '\n') into out. */
int sk_evlog_checkpoint_format(const struct sk_evlog_checkpoint *cp,
                               const struct sk_evlog_key *k,
                               struct sk_buf *out);
/*
 * Parses one checkpoint line (without or with '\n') and, when k is not
 * NULL, checks its signature. 0, -SK_EPARSE, -SK_ECORRUPT (bad signature
 * or key id).
 */
int sk_evlog_checkpoint_parse(struct sk_str line, const struct sk_evlog_key *k,
                              struct sk_evlog_checkpoint *cp);

/*
 * Anchor: left by prune, the signed state of the log just before its first
 * retained record, so that verify can go on from there.
 */
struct sk_evlog_anchor {
    uint64_t next_seq; /* first retained record */
    uint64_t ts_ns;
    uint8_t chain[SK_EVLOG_HASH_LEN];  /* chain of record next_seq - 1 */
    struct sk_evlog_frontier frontier; /* size == next_seq - 1 */
    char key_id[17];
};
int sk_evlog_anchor_format(const struct sk_evlog_anchor *a,
                           const struct sk_evlog_key *k, struct sk_buf *out);
int sk_evlog_anchor_parse(struct sk_str line, const struct sk_evlog_key *k,
                          struct sk_evlog_anchor *a);

/* ---- reading --------------------------------------------------------- */

struct sk_evlog_reader;

/*
 * Opens the log in `dir` for reading. Readers take no lock and never block
 * the writer: they read segments up to their last complete record. Returns
 * 0 and *out, -SK_ENOENT (no log), -SK_ECORRUPT (bad segment names),
 * -SK_ENOMEM. Blocks on file I/O.
 */
int sk_evlog_reader_open(const char *dir, struct sk_evlog_reader **out);

/*
 * Positions the reader at the first record with ts >= ts_ns (segments
 * before are skipped by their headers). 0 or negative error.
 */
int sk_evlog_reader_seek_time(struct sk_evlog_reader *r, uint64_t ts_ns);

/*
 * Returns the next record in *rec (views valid until the next call): 0,
 * -SK_ENOENT at the end (call again later to follow a live log),
 * -SK_ECORRUPT with a message in sk_evlog_reader_error(). Blocks on I/O.
 */
int sk_evlog_reader_next(struct sk_evlog_reader *r,
                         struct sk_evlog_record *rec);
const char *sk_evlog_reader_error(const struct sk_evlog_reader *r);
void sk_evlog_reader_free(struct sk_evlog_reader *r);

/* ---- verification ---------------------------------------------------- */

struct sk_evlog_verify_opts {
    const char *dir;
    const char *pubkey_path;  /* NULL: dir/pubkey.pem (weaker: warned) */
    const char *trusted_path; /* extra checkpoint lines kept elsewhere */
    bool strict;              /* an incomplete tail is an error too */
};

struct sk_evlog_verify_report {
    uint64_t records;
    uint64_t bytes;
    uint64_t checkpoints; /* checkpoints checked against the records */
    uint64_t first_seq;   /* first record present (after an anchor) */
    uint64_t last_seq;
    bool anchored;
    bool tail_incomplete;
    uint64_t bad_seq; /* first bad sequence number, 0 if none */
    char why[512];    /* the reason, or "" */
    char note[512];   /* warnings that do not fail */
};

/*
 * Verifies the whole log: segment headers, record CRCs, sequence numbers,
 * timestamps, the hash chain, every checkpoint's signature and Merkle root,
 * the anchor, and the trusted checkpoints. Returns 0 when the log is
 * intact, -SK_ECORRUPT with report->bad_seq and report->why when not, or
 * another negative error when it could not be checked. Blocks on I/O.
 */
int sk_evlog_verify(const struct sk_evlog_verify_opts *o,
                    struct sk_evlog_verify_report *report);

/*
 * Builds an inclusion proof of record `seq` in the tree of the latest
 * checkpoint (or of `size` records when size != 0) and checks it; prints
 * nothing. Fills leaf/root/proof. Blocks on I/O.
 */
int sk_evlog_prove_inclusion(const char *dir, uint64_t seq, uint64_t size,
                             uint8_t leaf[SK_EVLOG_HASH_LEN],
                             uint8_t root[SK_EVLOG_HASH_LEN],
                             uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t *plen);
/* Same for a consistency proof between tree sizes m < n. */
int sk_evlog_prove_consistency(const char *dir, uint64_t m, uint64_t n,
                               uint8_t root_m[SK_EVLOG_HASH_LEN],
                               uint8_t root_n[SK_EVLOG_HASH_LEN],
                               uint8_t (*proof)[SK_EVLOG_HASH_LEN],
                               size_t *plen);

/* ---- retention ------------------------------------------------------- */

struct sk_evlog_retention {
    uint64_t keep_secs;     /* remove segments whose newest record is older */
    uint64_t compress_secs; /* compress segments older than this (0: never) */
    uint64_t now_ns;        /* 0: the clock; tests set it */
    bool dry_run;
};

/* Parses "13m" / "90d" / "1y" / "3600s" into seconds (m = 31 days). */
int sk_evlog_duration_parse(const char *s, uint64_t *secs);

/*
 * Applies retention to `dir`: compresses cold segments (zstd, tmp + rename)
 * and removes whole segments past retention after writing a signed anchor
 * (key_path: the private key). Never touches the newest segment. Each
 * action is written to `out` as a line. Needs the writer lock (-SK_EAGAIN
 * when a writer runs; `sekimori log serve` prunes itself). Blocks.
 */
int sk_evlog_retain(const char *dir, const char *key_path,
                    const struct sk_evlog_retention *p, struct sk_buf *out);

/*
 * The same, run by the writer itself on its open log (it holds the lock
 * and the key). Blocks on disk I/O for the duration.
 */
int sk_evlog_retain_open(struct sk_evlog *log,
                         const struct sk_evlog_retention *p,
                         struct sk_buf *out);

/* ---- query and export ------------------------------------------------ */

struct sk_evlog_query {
    uint64_t since_ns, until_ns; /* until 0: no bound */
    const char *source, *type;   /* exact */
    const char *client_ip;       /* body "client_ip" exact */
    const char *path;            /* body "path"/"uri" substring */
    const char *rule_id;         /* body "rule_id" or in "rule_ids" */
    const char *file;            /* body "file" substring */
    const char *text;            /* substring anywhere in the body */
};

/* True if the record matches every set criterion. Does not block. */
bool sk_evlog_query_match(const struct sk_evlog_query *q,
                          const struct sk_evlog_record *rec);

/*
 * Parses a time: RFC 3339 ("2026-11-22T05:00:00Z"), seconds since the
 * epoch ("@1700000000"), or relative to now_ns ("-1h", "-30m", "-7d").
 */
int sk_evlog_time_parse(const char *s, uint64_t now_ns, uint64_t *ns);

/* Output formats of query and export. */
enum sk_evlog_format {
    SK_EVLOG_FMT_TABLE = 0,
    SK_EVLOG_FMT_JSONL = 1,
    SK_EVLOG_FMT_SYSLOG = 2, /* RFC 5424, one message per line */
};

/* Appends one record in the format (with '\n') to out. */
int sk_evlog_format_record(const struct sk_evlog_record *rec,
                           enum sk_evlog_format fmt, const char *hostname,
                           struct sk_buf *out);

/*
 * A syslog sender. target: "unix:/path" (datagram, like /dev/log),
 * "udp:host:port" or "tcp:host:port" (RFC 6587 octet counting).
 */
struct sk_evlog_syslog;
int sk_evlog_syslog_open(const char *target, struct sk_evlog_syslog **out);
/* Sends one RFC 5424 message (without newline). Blocks. */
int sk_evlog_syslog_send(struct sk_evlog_syslog *s, struct sk_str msg);
void sk_evlog_syslog_close(struct sk_evlog_syslog *s);
/* Formats an RFC 5424 message of ours (facility local0). */
int sk_evlog_syslog_format(struct sk_buf *out, int severity, uint64_t ts_ns,
                           const char *hostname, const char *msgid,
                           const char *sd, struct sk_str msg);

/* ---- the writer service and its clients ------------------------------ */

struct sk_evlog_server_config {
    const char *socket_path;          /* created mode 0660 */
    unsigned uids[SK_EVLOG_MAX_UIDS]; /* allowed peer uids */
    size_t nuids;                     /* 0: only root and our own euid */
    volatile int *stop; /* set non-zero (signal handler) to stop */
    const struct sk_evlog_retention *retention; /* NULL: no retention */
    unsigned retention_secs; /* how often to apply it; 0: hourly */
};

/*
 * Runs the writer service on an open log until *cfg->stop: accepts clients
 * on a UNIX stream socket, checks their uid with SO_PEERCRED, appends their
 * records, commits in groups and acknowledges each record after it is
 * durable. Applies cfg->retention (if set) at start and every
 * retention_secs. One thread, epoll. Returns 0 on a requested stop, a negative
 * error if the socket fails. Blocks for its whole run.
 */
int sk_evlog_serve(struct sk_evlog *log,
                   const struct sk_evlog_server_config *cfg);

/* Protocol frame types (docs/formats/evlog.md). */
enum sk_evlog_frame {
    SK_EVLOG_F_APPEND = 1,
    SK_EVLOG_F_SYNC = 2,
    SK_EVLOG_F_ACK = 0x81,
    SK_EVLOG_F_ERR = 0x82,
    SK_EVLOG_F_SYNCED = 0x83,
};

/*
 * Splits the payload of an APPEND frame (after the type byte) into views
 * of source, type and body. 0 or -SK_EPARSE; the names and the body are
 * checked later by sk_evlog_append(). Pure, fuzzed.
 */
int sk_evlog_frame_parse_append(const uint8_t *p, size_t len,
                                struct sk_str *src, struct sk_str *type,
                                struct sk_str *body);

struct sk_evlog_client;

/* Connects to a writer socket. Blocks. */
int sk_evlog_client_connect(const char *socket_path,
                            struct sk_evlog_client **out);
/*
 * Sends one record and waits for its acknowledgement (durable per the
 * writer's setting): 0 with *seq, or the writer's error (negative SK_E*,
 * message in sk_evlog_client_error()). Blocks.
 */
int sk_evlog_client_append(struct sk_evlog_client *c, struct sk_str source,
                           struct sk_str type, struct sk_str body,
                           uint64_t *seq);
/* Pipelining: send without waiting, then receive replies in order. */
int sk_evlog_client_send(struct sk_evlog_client *c, struct sk_str source,
                         struct sk_str type, struct sk_str body);
int sk_evlog_client_flush(struct sk_evlog_client *c);
int sk_evlog_client_recv(struct sk_evlog_client *c, uint64_t *seq);
/*
 * Asks the writer to commit now and waits for its SYNCED reply: on 0,
 * every record up to *seq is durable as configured. Call it with no
 * replies outstanding (replies come in order). Blocks.
 */
int sk_evlog_client_sync(struct sk_evlog_client *c, uint64_t *seq);
const char *sk_evlog_client_error(const struct sk_evlog_client *c);
void sk_evlog_client_close(struct sk_evlog_client *c);

/*
 * Added for the proxy's event sender (src/proxy/events.c): bounds every
 * later send and receive of the client to `ms` milliseconds (0: no bound,
 * the default). A call that runs out of time fails with -SK_EIO and the
 * connection must be closed, since a reply may still be on its way.
 * Returns 0 or -SK_EIO. Does not block.
 */
int sk_evlog_client_set_timeout(struct sk_evlog_client *c, unsigned ms);

/*
 * Added for the same: makes a send or receive of `c` that another thread
 * is blocked in (or makes next) fail with -SK_EIO at once, by shutting
 * the socket down; the client must then be closed by its own thread. The
 * caller guarantees that `c` is not being closed meanwhile. Never blocks.
 */
void sk_evlog_client_shutdown(struct sk_evlog_client *c);

/*
 * Added for `sekimori run`'s supervisor (src/run/supervise.c, h/realip):
 * sk_evlog_client_connect() with the connect itself bounded to `ms`
 * milliseconds (a writer that stopped accepting fills its backlog, and a
 * unix-socket connect then waits for room), and every later send and
 * receive bounded as by sk_evlog_client_set_timeout(c, ms). 0: no bound.
 * Returns 0 with *out, -SK_ENOENT when nobody listens, -SK_EIO (also on
 * timeout), -SK_ELIMIT for a path too long, or -SK_ENOMEM. Blocks at
 * most `ms` (when nonzero).
 */
int sk_evlog_client_connect_timeout(const char *socket_path, unsigned ms,
                                    struct sk_evlog_client **out);

#endif
