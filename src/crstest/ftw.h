/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loader for the CRS regression suite's "ftw" YAML format (libyaml), and
 * the exact request bytes the ftw 1.3.0 runner would send for each stage.
 * See ../shared/crs-3.3.4-regression/README.md for the format and the
 * runner's quirks that the tests rely on.
 */
#ifndef SK_CRSTEST_FTW_H
#define SK_CRSTEST_FTW_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/str.h"

/*
 * Limits on ftw input. The largest CRS 3.3.4 file is 375 KB with about
 * 300 tests; these leave a wide margin while bounding memory on hostile
 * input (the fuzzer feeds arbitrary bytes).
 */
/* Bytes in one YAML file: ten times the largest CRS file. */
#define SK_FTW_MAX_FILE_BYTES (4 * 1024 * 1024)
/* YAML nodes in one file: the largest CRS file has about 18,000. */
#define SK_FTW_MAX_NODES 200000
/* Nesting of YAML collections: the format needs 7 levels. */
#define SK_FTW_MAX_DEPTH 32
/* Headers of one stage: as many as our HTTP parser accepts. */
#define SK_FTW_MAX_HEADERS 200
/* Bytes in one built request: the largest CRS request is under 64 KB. */
#define SK_FTW_MAX_REQUEST_BYTES (1024 * 1024)

struct sk_ftw_output {
    char *log_contains;    /* regex, NULL when absent */
    char *no_log_contains; /* regex, NULL when absent */
    int *status;           /* accepted statuses (a scalar or a list) */
    size_t nstatus;
    bool has_expect_error;
    bool expect_error;
    char *response_contains; /* regex, NULL when absent */
};

struct sk_ftw_stage {
    struct sk_str request; /* the exact bytes to send */
    char *dest_addr;       /* "127.0.0.1" when absent */
    int port;              /* 80 when absent */
    char *protocol;        /* "http" (default) or "https" */
    unsigned line;         /* line of the stage's input in the file */
    struct sk_ftw_output out;
};

struct sk_ftw_test {
    char *title;
    struct sk_ftw_stage *stages;
    size_t nstages;
    unsigned line; /* line of the test in the YAML file */
};

struct sk_ftw_file {
    char *path;
    char *name;   /* meta.name */
    bool enabled; /* meta.enabled (true when absent) */
    struct sk_ftw_test *tests;
    size_t ntests;
};

/*
 * Loads one YAML file into *out (all memory from `a`). Reports malformed
 * files into `d` with file:line and returns -SK_EPARSE; -SK_EIO when the
 * file cannot be read. Blocks on file I/O.
 */
int sk_ftw_load(struct sk_arena *a, const char *path, struct sk_ftw_file *out,
                struct sk_diag *d);

/*
 * Like sk_ftw_load(), from `len` bytes at `p` (not NUL-terminated; copied
 * where kept). `path` names the input in messages and in out->path. Never
 * blocks.
 */
int sk_ftw_load_mem(struct sk_arena *a, const char *path, const void *p,
                    size_t len, struct sk_ftw_file *out, struct sk_diag *d);

/*
 * Building blocks of the request builder, exposed for tests. Each reads
 * (p, len), appends its result to `out` and returns 0, -SK_EPARSE for
 * input the ftw runner would have failed on (with a static reason in
 * *why when `why` is not NULL), -SK_ENOMEM or -SK_ELIMIT. None blocks.
 *
 * sk_ftw_form_reencode: urllib's urlencode(parse_qsl(data)): pairs split
 * on '&', those without '=' or with an empty value dropped, '+' read as a
 * space, bytes other than [A-Za-z0-9_.~-] written as %XX and spaces as
 * '+'. Sets *kept to the number of pairs left; when it is 0 the runner
 * keeps the original data and `out` is left unchanged.
 */
int sk_ftw_form_reencode(const uint8_t *p, size_t len, struct sk_buf *out,
                         size_t *kept);

/* Python's bytes.decode('unicode_escape') then str.encode('utf-8'). */
int sk_ftw_unicode_unescape(const uint8_t *p, size_t len, struct sk_buf *out,
                            const char **why);

/* Python's base64.b64decode(s) (non-alphabet bytes skipped). */
int sk_ftw_b64decode(const uint8_t *p, size_t len, struct sk_buf *out,
                     const char **why);

/* One override: a test title and why its expectation is not ours. */
struct sk_ftw_override {
    char *test_title;
    char *reason;
    /* What the test is judged by instead (all optional). */
    char *log_contains;
    char *no_log_contains;
    bool expect_pass_anyway; /* counted as passed: the reason explains */
};

/*
 * Loads tests/crs/overrides.yaml: a list of {test_title, reason, and
 * optionally log_contains / no_log_contains replacing the test's own}.
 * Every override must carry a non-empty reason (an error otherwise).
 */
int sk_ftw_load_overrides(struct sk_arena *a, const char *path,
                          struct sk_ftw_override **out, size_t *n,
                          struct sk_diag *d);

/* Like sk_ftw_load_overrides(), from memory (see sk_ftw_load_mem). */
int sk_ftw_load_overrides_mem(struct sk_arena *a, const char *path,
                              const void *p, size_t len,
                              struct sk_ftw_override **out, size_t *n,
                              struct sk_diag *d);

#endif
