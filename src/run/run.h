/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori run` and `sekimori status` (docs/operations.md): a supervisor
 * that starts the parts configured in sekimori.conf as child processes of
 * the same binary (log writer, file monitor, proxy, in that order, each
 * waiting for the previous one to be ready), restarts a part that dies
 * within a per-minute limit, reports every start, exit and restart on
 * standard error and in the event log, and stops them in reverse order;
 * and the status report built from the state files it writes, the
 * proxy's control socket, the file monitor's files and the event log.
 */
#ifndef SK_RUN_RUN_H
#define SK_RUN_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf/conf.h"

/* Parts in start order (stop order is the reverse). */
enum sk_run_part {
    SK_RUN_LOG = 0,
    SK_RUN_FIM = 1,
    SK_RUN_PROXY = 2,
    SK_RUN_NPARTS = 3,
};

/* "log", "fim", "proxy". */
const char *sk_run_part_name(enum sk_run_part p);

struct sk_run_opts {
    const char *self;       /* the sekimori executable to run the parts with */
    const char *conf_path;  /* passed to `sekimori proxy -c` */
    const char *ready_file; /* touched once every part has started; NULL */
    unsigned stop_timeout_ms; /* fim and log stop deadline; 0: 10 s */
};

/*
 * Supervises the parts of `c` until SIGTERM or SIGINT (SIGHUP is passed to
 * the proxy). Creates c->run.state_dir and writes there, atomically, one
 * JSON state file per part (<part>.json) and the supervisor's (run.json).
 * Returns 0 after a clean stop, or a negative error when it could not
 * start at all: -SK_EAGAIN when another supervisor holds the state
 * directory's lock (run.lock), -SK_EIO for the state directory or
 * signals. Blocks for its whole run;
 * installs signal handling of its own (the signals above and SIGCHLD are
 * blocked and read through a signalfd).
 */
int sk_run_supervise(const struct sk_conf *c, const struct sk_run_opts *o);

/*
 * Writes `len` bytes to `path` atomically: a temp file in the same
 * directory, fsync, rename. 0 or -SK_EIO (errno kept). Blocks.
 */
int sk_run_write_atomic(const char *path, const void *p, size_t len);

/*
 * Builds the status report of the installation described by `c`: parts
 * (from the state files), the proxy's rules and maintenance state (its
 * control socket), the FIM baseline and last check, open alerts, the last
 * `nevents` events and whether the event log verifies. Returns a new JSON
 * object (the caller json_decref()s it) with "healthy" true when nothing
 * needs attention, or NULL when out of memory. Blocks (file I/O, a unix
 * socket request with a 2 s deadline, log verification).
 */
json_t *sk_run_status(const struct sk_conf *c, size_t nevents);

/* Prints the report of sk_run_status() for people. */
void sk_run_status_text(const json_t *st, FILE *out);

#endif
