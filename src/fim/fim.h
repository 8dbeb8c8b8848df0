/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File integrity monitor: the contract of src/fim.
 *
 * A configuration (docs/fim.md) selects paths with rules; `init` records a
 * baseline of every selected entry (docs/formats/fim-baseline.md), signed
 * with Ed25519, and keeps a zstd-compressed, content-addressed copy of every
 * protected regular file in a store; `check` rescans and compares; `accept`
 * signs approved changes into a new baseline; `watch` follows changes in
 * real time through inotify, confirms each one by re-reading the entry, and
 * applies the rule's responses (alert, quarantine, restore, maintenance,
 * exec). Events leave through a sink callback (sk_fim_event_fn) so that the
 * daemon can be routed into the event log without depending on it.
 */
#ifndef SK_FIM_FIM_H
#define SK_FIM_FIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"

/* Limits of this module (kept here, not in util/limits.h, to avoid merge
 * conflicts; the lead may move them). */

/* Longest path recorded; PATH_MAX is the kernel's own bound. */
#define SK_FIM_MAX_PATH 4096
/* Most entries in one baseline: 16M is far beyond any web root and keeps
 * the in-memory index (about 200 bytes an entry) under a few GB. */
#define SK_FIM_MAX_ENTRIES (16u * 1024 * 1024)
/* Largest baseline file accepted by the reader (entries times their
 * largest encoding, rounded). */
#define SK_FIM_MAX_DB_BYTES ((uint64_t)4 << 30)
/* Longest who/why text in a baseline header. */
#define SK_FIM_MAX_NOTE 4096
/* Longest config file line and most rules / patterns: configs are written
 * by hand, so these bound only hostile or broken input. */
#define SK_FIM_MAX_CONF_LINE 8192
#define SK_FIM_MAX_RULES 256
#define SK_FIM_MAX_PATTERNS 1024
/* Largest config file. */
#define SK_FIM_MAX_CONF_BYTES (1024 * 1024)
/* Deepest directory recursion in a scan (symlinks are never followed). */
#define SK_FIM_MAX_DEPTH 128
/* Most worker threads for hashing. */
#define SK_FIM_MAX_THREADS 64

/* Attributes, one bit each (the names are those of the config's `attrs`). */
enum sk_fim_attr {
    SK_FIM_A_TYPE = 1u << 0,
    SK_FIM_A_SIZE = 1u << 1,
    SK_FIM_A_MODE = 1u << 2,
    SK_FIM_A_UID = 1u << 3,
    SK_FIM_A_GID = 1u << 4,
    SK_FIM_A_INODE = 1u << 5,
    SK_FIM_A_NLINK = 1u << 6,
    SK_FIM_A_MTIME = 1u << 7,
    SK_FIM_A_CTIME = 1u << 8,
    SK_FIM_A_TARGET = 1u << 9,
    SK_FIM_A_SHA256 = 1u << 10,
    SK_FIM_A_XATTRS = 1u << 11, /* every xattr, so POSIX ACLs too */
};
#define SK_FIM_A_ALL 0xfffu
/* The attributes a `touch` alone changes: not tampering in `watch`. */
#define SK_FIM_A_TOUCH (SK_FIM_A_MTIME | SK_FIM_A_CTIME)

/* Responses, one bit each. */
enum sk_fim_resp {
    SK_FIM_R_ALERT = 1u << 0,
    SK_FIM_R_QUARANTINE = 1u << 1,
    SK_FIM_R_RESTORE = 1u << 2,
    SK_FIM_R_MAINTENANCE = 1u << 3,
    SK_FIM_R_EXEC = 1u << 4,
};

/* Entry types as stored in the baseline. */
enum sk_fim_type {
    SK_FIM_T_REG = 1,
    SK_FIM_T_DIR = 2,
    SK_FIM_T_LNK = 3,
    SK_FIM_T_OTHER = 4, /* fifo, socket, device: recorded, never read */
};

/* Returns the name of one attribute bit ("sha256"), or NULL. */
const char *sk_fim_attr_name(uint32_t bit);
/* Returns the bit named `name`, 0 when unknown. */
uint32_t sk_fim_attr_parse(const char *name);
/* Row i of the attribute table (sorted by name; the config reference and
 * the duplicate test read it): 0 and the row, or -SK_ENOENT past the end. */
int sk_fim_attr_row(size_t i, const char **name, uint32_t *bit,
                    const char **doc);

/* ---- configuration ----------------------------------------------------- */

struct sk_fim_rule {
    const char *root; /* absolute, no trailing slash (except "/") */
    size_t root_len;
    const char **include; /* fnmatch patterns; none = every file */
    size_t n_include;
    const char **exclude; /* pruned (directories) or skipped (files) */
    size_t n_exclude;
    uint32_t attrs;     /* enum sk_fim_attr bits */
    uint32_t responses; /* enum sk_fim_resp bits; ALERT always set */
    const char *exec;   /* hook program, when SK_FIM_R_EXEC */
    unsigned line;      /* where the rule starts in the config */
};

struct sk_fim_config {
    struct sk_arena *arena; /* owns every string below */
    const char *baseline;   /* signed baseline file */
    const char *key;        /* Ed25519 private key (PEM); public is key.pub */
    const char *store;      /* content store directory */
    const char *quarantine; /* quarantine directory */
    const char *events;     /* JSON-lines event file; NULL = stdout */
    const char *maintenance_socket; /* proxy control socket (AF_UNIX) */
    const char **maintenance_paths; /* URL paths to take offline */
    size_t n_maintenance_paths;
    uint64_t store_max_file;   /* bytes; larger files are not stored */
    uint64_t store_max_total;  /* bytes of compressed objects */
    unsigned threads;          /* 0 = one per online CPU */
    unsigned escalate_count;   /* tamperings of one path ... */
    unsigned escalate_minutes; /* ... within this window stop restoring */
    unsigned check_interval;   /* seconds between full checks in watch */
    unsigned coalesce_ms;      /* quiet time before a changed path is read */
    struct sk_fim_rule *rules;
    size_t n_rules;
};

/*
 * Parses a config from (p, len); `name` is used in diagnostics and must
 * outlive the diag text. Every error is reported to `d` as name:line:col
 * and then -SK_EPARSE is returned; unknown keywords are errors. On success
 * *out is a new config the caller frees with sk_fim_config_free(). Does not
 * block.
 */
int sk_fim_config_parse(const char *name, const uint8_t *p, size_t len,
                        struct sk_fim_config **out, struct sk_diag *d);
/* Reads `path` and parses it as above; -SK_EIO/-SK_ENOENT if unreadable.
 * Rule roots are then resolved to their real path (warning in `d`). */
int sk_fim_config_load(const char *path, struct sk_fim_config **out,
                       struct sk_diag *d);
/* Frees a config; NULL is accepted. */
void sk_fim_config_free(struct sk_fim_config *c);
/* Returns the built-in default config text (a PHP web root in
 * /var/www/html plus the web server's and PHP's configuration). Static. */
const char *sk_fim_config_default(void);

/*
 * Selects the rule that governs `path` (absolute, length len): the rule
 * with the longest root containing it whose excludes do not match it and,
 * for non-directories, whose includes match it. Returns the rule or NULL.
 */
const struct sk_fim_rule *sk_fim_select(const struct sk_fim_config *c,
                                        const char *path, size_t len,
                                        bool is_dir);

/* ---- keys -------------------------------------------------------------- */

struct sk_fim_key; /* an Ed25519 private key, or a public key only */

/*
 * Creates a new Ed25519 key pair: `path` (PKCS#8 PEM, mode 0600, refused if
 * it exists) and `path`.pub (PEM). Same file format as the event log's
 * keys. Blocks on file I/O.
 */
int sk_fim_keygen(const char *path);
/* Loads a private key (refused if group/other may read it) or, with
 * priv=false, a public key. *out is freed with sk_fim_key_free(). */
int sk_fim_key_load(const char *path, bool priv, struct sk_fim_key **out);
void sk_fim_key_free(struct sk_fim_key *k);

/* ---- entries and databases ---------------------------------------------- */

#define SK_FIM_E_HASHED 0x01u /* sha256 holds the content hash */
#define SK_FIM_E_XATTR 0x02u  /* xattr_sha holds the xattr digest */
#define SK_FIM_E_ERROR 0x80u  /* could not be read (scan only, not stored) */

struct sk_fim_entry {
    const char *path;   /* absolute, NUL-terminated, owned by the db arena */
    const char *target; /* symlink target or NULL, owned likewise */
    uint32_t path_len, target_len;
    uint32_t attrs; /* attributes recorded and compared */
    uint8_t type;   /* enum sk_fim_type */
    uint8_t flags;  /* SK_FIM_E_* */
    int16_t err;    /* errno when SK_FIM_E_ERROR */
    uint32_t mode, uid, gid;
    uint64_t size, ino, nlink;
    int64_t mtime_s, ctime_s;
    uint32_t mtime_ns, ctime_ns;
    uint8_t sha256[32];
    uint8_t xattr_sha[32];
};

/* A baseline or a scan: entries sorted by path bytes, unique. */
struct sk_fim_db {
    struct sk_arena *arena; /* owns paths, targets, notes */
    struct sk_fim_entry *e; /* sk_malloc'd array */
    size_t n, cap;
    uint64_t generation;   /* 1 for init, +1 for every accept */
    int64_t created;       /* unix seconds */
    const char *who, *why; /* accept notes ("" for init) */
    uint8_t key_id[8];     /* first bytes of SHA-256(public key) */
};

/* Allocates an empty db; NULL on OOM. */
struct sk_fim_db *sk_fim_db_new(void);
void sk_fim_db_free(struct sk_fim_db *db);
/* Finds `path` by binary search; NULL if absent. */
struct sk_fim_entry *sk_fim_db_find(const struct sk_fim_db *db,
                                    const char *path, size_t len);

/*
 * Encodes db and appends the Ed25519 signature made with `key` (a private
 * key) into `out`. Entries must be sorted and unique.
 */
int sk_fim_db_encode(const struct sk_fim_db *db, const struct sk_fim_key *key,
                     struct sk_buf *out);
/*
 * Parses the structure of an encoded baseline WITHOUT checking its
 * signature (the fuzz target and sk_fim_db_load use it). Bounds-checks every
 * field; -SK_EPARSE on any malformation. *out owned by the caller.
 */
int sk_fim_db_parse(const uint8_t *p, size_t len, struct sk_fim_db **out);
/*
 * Reads `path`, verifies its signature with `key` (public or private) and
 * parses it. -SK_ECORRUPT if the signature or key id does not match: the
 * caller must refuse and alert, never rebuild. Blocks on file I/O.
 */
int sk_fim_db_load(const char *path, const struct sk_fim_key *key,
                   struct sk_fim_db **out);
/* Encodes, signs and atomically replaces `path` (mode 0600). */
int sk_fim_db_save(const char *path, const struct sk_fim_db *db,
                   const struct sk_fim_key *key);

/* ---- scanning ---------------------------------------------------------- */

struct sk_fim_store;

struct sk_fim_scan_stats {
    uint64_t entries, files_hashed, bytes_hashed, errors;
    uint64_t stored, store_bytes; /* new objects written to the store */
};

/*
 * Walks every rule root of `c`, records the selected entries with their
 * rule's attributes, hashing regular files on `threads` worker threads
 * (pthreads). With `store` non-NULL, every regular file up to the store's
 * size cap is also added to the store. Never follows symlinks. Unreadable
 * entries carry SK_FIM_E_ERROR. Blocks (reads every file).
 */
int sk_fim_scan(const struct sk_fim_config *c, struct sk_fim_store *store,
                struct sk_fim_db **out, struct sk_fim_scan_stats *stats);

/*
 * Reads one entry at `path` (lstat, readlink, hash, xattrs per `attrs`)
 * into *e, with path/target copied into `arena`. Returns 0, -SK_ENOENT if
 * it does not exist, or another error (e->flags has SK_FIM_E_ERROR).
 */
int sk_fim_entry_read(const char *path, size_t len, uint32_t attrs,
                      struct sk_arena *arena, struct sk_fim_entry *e);

/* Returns the attribute bits (within a->attrs & b->attrs) that differ. */
uint32_t sk_fim_entry_diff(const struct sk_fim_entry *a,
                           const struct sk_fim_entry *b);

/* ---- comparing and reporting ------------------------------------------- */

enum sk_fim_change_kind {
    SK_FIM_ADDED = 1,
    SK_FIM_REMOVED = 2,
    SK_FIM_CHANGED = 4,
};

/* Exit bits of `check` (AIDE's scheme: 1 added, 2 removed, 4 changed). */
#define SK_FIM_EXIT_UNREADABLE 8 /* some entries could not be read */
#define SK_FIM_EXIT_USAGE 16     /* bad usage or configuration */
#define SK_FIM_EXIT_INTERNAL 17  /* I/O error, out of memory */
#define SK_FIM_EXIT_REFUSED 18   /* baseline or store failed verification */

struct sk_fim_change {
    int kind;                       /* enum sk_fim_change_kind */
    const struct sk_fim_entry *old; /* NULL when added */
    const struct sk_fim_entry *cur; /* NULL when removed */
    uint32_t changed;               /* attribute bits, when changed */
};

struct sk_fim_report {
    struct sk_fim_change *c; /* sk_malloc'd */
    size_t n, cap;
    unsigned added, removed, changed, unreadable;
};

/* Compares a baseline with a scan (both sorted); fills `r`. */
int sk_fim_compare(const struct sk_fim_db *base, const struct sk_fim_db *cur,
                   struct sk_fim_report *r);
void sk_fim_report_fini(struct sk_fim_report *r);
/* Returns the AIDE-style exit bitmask of a report (0..15). */
int sk_fim_report_exit(const struct sk_fim_report *r);
/* Writes the report as text (old -> new per attribute) or one JSON doc. */
int sk_fim_report_text(const struct sk_fim_report *r, FILE *f);
int sk_fim_report_json(const struct sk_fim_report *r, FILE *f);
/* Appends the JSON object describing one change to `b`. */
int sk_fim_change_json(const struct sk_fim_change *ch, struct sk_buf *b);

/* ---- content store, quarantine, restore -------------------------------- */

/*
 * Opens (creating, mode 0700) the content store at `dir`; objects are
 * <dir>/<2 hex>/<62 hex>.zst, named by the SHA-256 of the content. Files
 * larger than max_file are not stored; once max_total compressed bytes are
 * used, new objects are refused (-SK_ELIMIT). Thread-safe for puts.
 */
int sk_fim_store_open(const char *dir, uint64_t max_file, uint64_t max_total,
                      struct sk_fim_store **out);
void sk_fim_store_free(struct sk_fim_store *s);
uint64_t sk_fim_store_max_file(const struct sk_fim_store *s);
/* Compression state for one thread's puts (a zstd context: creating one
 * per object costs more than compressing a small file). */
struct sk_fim_zctx;
struct sk_fim_zctx *sk_fim_zctx_new(void);
void sk_fim_zctx_free(struct sk_fim_zctx *z);
/* Adds content whose hash is `sha` (deduplicated: present = no work),
 * compressing with `z` (one thread's; NULL = a one-off context).
 * *added says whether a new object was written. */
int sk_fim_store_put(struct sk_fim_store *s, const uint8_t sha[32],
                     const uint8_t *p, size_t len, struct sk_fim_zctx *z,
                     bool *added, uint64_t *written);
/* Whether an object exists. */
bool sk_fim_store_has(struct sk_fim_store *s, const uint8_t sha[32]);
/* Reads and decompresses object `sha` into `out` and verifies its hash;
 * -SK_ECORRUPT on a mismatch (the store was altered), -SK_ENOENT if absent. */
int sk_fim_store_get(struct sk_fim_store *s, const uint8_t sha[32],
                     struct sk_buf *out);

/*
 * Puts the baseline state of `e` back at e->path: regular files from the
 * store (verified), symlinks from e->target, directories re-created; owner,
 * mode and mtime set; the replacement is a rename, so atomic. Whatever is
 * at the path (file, symlink, directory when empty) is replaced. Refuses
 * with -SK_ECORRUPT, writing nothing, when the parent directory is now
 * reached through a symlink (one swapped in below the root). Blocks.
 */
int sk_fim_restore(struct sk_fim_store *s, const struct sk_fim_entry *e);

/* Removes a non-directory added under a restore rule, through the same
 * symlink-refusing parent check as sk_fim_restore(); 0 if already gone,
 * -SK_ENOTSUP for a directory (left for a human). */
int sk_fim_remove(const char *path);

/* Who changed a file, when known (fanotify); zeroed = unknown. */
struct sk_fim_writer {
    int pid; /* 0 = unknown */
    int uid;
    char exe[256];
    char cmdline[512];
};

/*
 * Copies whatever is at `path` now into a new root-only directory under
 * `qdir` (content as `data`, metadata and writer identity as `meta.json`);
 * the directory name is returned in `name` (size namelen). Blocks.
 */
int sk_fim_quarantine(const char *qdir, const char *path,
                      const struct sk_fim_writer *w, const char *reason,
                      char *name, size_t namelen);

/* ---- events ------------------------------------------------------------- */

/*
 * The event sink: `type` is "fim.<what>" ([a-z0-9_.-], as the event log
 * wants), `body` is one JSON object (body_len bytes, not NUL-terminated
 * necessarily). Called from the watching thread only; must not block long.
 */
typedef void (*sk_fim_event_fn)(void *ctx, const char *type, const char *body,
                                size_t body_len);

struct sk_fim_sink {
    sk_fim_event_fn fn;
    void *ctx;
};

/* JSON-lines sink: each event is {"ts":..,"source":"fim","type":..,
 * "body":{..}} on one line of `f`, flushed. ctx is the FILE *. */
void sk_fim_jsonl_sink(void *ctx, const char *type, const char *body,
                       size_t body_len);

/* Appends `s` (n bytes) as a JSON string literal with quotes. */
int sk_fim_json_str(struct sk_buf *b, const char *s, size_t n);

/* ---- watch ------------------------------------------------------------- */

struct sk_fim_watch_opts {
    int max_seconds;        /* stop after this long (tests); 0 = forever */
    const char *ready_file; /* touched once watching (tests, benches) */
    bool no_fanotify;       /* force the inotify path */
    /* Rewritten (temp + rename) after every full check: a JSON object
     * {"pid","mode","started","last_check","entries","added","removed",
     * "changed","baseline_generation"} with unix seconds, read by
     * `sekimori status`. NULL: none. */
    const char *status_file;
};

/*
 * Runs the watch daemon: loads and verifies the baseline (refusing a bad
 * one with a fim.refused event and -SK_ECORRUPT), catches up with a full
 * check, then follows changes (inotify, recursively) and applies the rules'
 * responses; a full check runs every check_interval seconds and after an
 * inotify queue overflow. Returns when SIGINT/SIGTERM arrive or after
 * max_seconds. Blocks.
 */
int sk_fim_watch(const struct sk_fim_config *c, const struct sk_fim_sink *sink,
                 const struct sk_fim_watch_opts *o);

#endif
