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
#include "util/diag.h"
#include "util/str.h"

struct sk_ftw_output {
    char *log_contains;     /* regex, NULL when absent */
    char *no_log_contains;  /* regex, NULL when absent */
    int *status;            /* accepted statuses (a scalar or a list) */
    size_t nstatus;
    bool has_expect_error;
    bool expect_error;
    char *response_contains; /* regex, NULL when absent */
};

struct sk_ftw_stage {
    struct sk_str request;   /* the exact bytes to send */
    char *dest_addr;         /* "127.0.0.1" when absent */
    int port;                /* 80 when absent */
    struct sk_ftw_output out;
};

struct sk_ftw_test {
    char *title;
    struct sk_ftw_stage *stages;
    size_t nstages;
    unsigned line;           /* line of the test in the YAML file */
};

struct sk_ftw_file {
    char *path;
    char *name;              /* meta.name */
    bool enabled;            /* meta.enabled (true when absent) */
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

#endif
