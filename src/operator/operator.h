/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rule operators (`@rx`, `@pm`, `@within`, ...), with ModSecurity v3
 * semantics. An operator is compiled once at rule load into the config
 * arena (regexes JIT-compiled, phrase lists built into a multi-pattern
 * matcher) and is read-only afterwards, so many threads may run it at once.
 *
 * An argument holding a macro (`%{tx.allowed_methods}`) cannot be compiled
 * ahead: sk_op_compile() is told so through `dynamic`, and at run time the
 * engine expands the macro and passes the result as `dyn_arg`.
 */
#ifndef SK_OPERATOR_OPERATOR_H
#define SK_OPERATOR_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/diag.h"
#include "util/str.h"

#define SK_OP_MAX_CAPTURES 10

/*
 * Limits of the operators (here rather than in util/limits.h to keep the
 * modules' branches apart; the lead may move them).
 */
/* Largest @pmFromFile / @ipMatchFromFile data file: CRS's largest is 30k. */
#define SK_OP_MAX_DATA_FILE (16u * 1024 * 1024)
/* Most phrases in one phrase set; CRS's largest list has ~ 1,500. */
#define SK_OP_MAX_PHRASES 200000
/* Longest phrase (one line of a data file); CRS's longest is < 100. */
#define SK_OP_MAX_PHRASE_LEN 4096
/* Most networks in one @ipMatch list or file. */
#define SK_OP_MAX_IP_ENTRIES 1000000
/* Longest regex built from a macro at run time (compiled per call). */
#define SK_OP_MAX_DYN_REGEX 16384

struct sk_op;

/* Settings from the configuration that operators need at compile time. */
struct sk_op_config {
    const char *basedir;  /* resolves relative data files (@pmFromFile) */
    uint32_t match_limit; /* SecPcreMatchLimit (0: PCRE2's default) */
    uint32_t depth_limit; /* SecPcreMatchLimitRecursion (0: default) */
};

/* What one execution found. */
struct sk_op_result {
    bool matched;
    /* With `want_captures`: @rx groups 0..9, @pm the phrase found (as 0),
     * @detectSQLi the fingerprint (as 0). Views into the input or arena.
     * Only the first ncaptures are set. */
    struct sk_str captures[SK_OP_MAX_CAPTURES];
    unsigned ncaptures;
    /* A short description of what matched, for the log ("Matched Data"). */
    struct sk_str matched_data;
};

/*
 * Compiles operator `name` (without '@', ASCII case-insensitive, e.g.
 * "rx", "pmFromFile") with argument `arg`. `dynamic` says the argument
 * contains a macro; the operator then defers the work that needs the
 * argument to run time (or rejects a dynamic argument it cannot take).
 * Unknown operators, bad regexes, missing data files, and operators we
 * refuse (@rbl, @geoLookup without a database) are reported into `d` at
 * `loc` and return -SK_EPARSE / -SK_ENOENT / -SK_ENOTSUP. On success *out
 * lives in `cfg` (and registers its cleanup with sk_arena_defer).
 * Blocks on file I/O (data files).
 */
int sk_op_compile(struct sk_arena *cfg, const char *name, const char *arg,
                  bool dynamic, const struct sk_op_config *conf,
                  const struct sk_loc *loc, struct sk_diag *d,
                  struct sk_op **out);

/*
 * Runs the operator on `input`. `dyn_arg` is the expanded argument for a
 * dynamic operator (ignored otherwise). Scratch memory and captured copies
 * come from `txn_arena`. Returns 0 with *res filled, -SK_EMATCHLIMIT when a
 * regex hit the match limit (res->matched is false), or -SK_ENOMEM.
 * A dynamic @rx whose expanded pattern does not compile returns -SK_EPARSE
 * (longer than SK_OP_MAX_DYN_REGEX: -SK_ELIMIT); res->matched is false.
 * Thread-safe for a shared op. Never blocks.
 */
int sk_op_exec(const struct sk_op *op, struct sk_arena *txn_arena,
               struct sk_str input, struct sk_str dyn_arg, bool want_captures,
               struct sk_op_result *res);

/*
 * Releases the calling thread's cached matching scratch (PCRE2 match data,
 * Vectorscan scratch). Threads that exit release it on their own (a
 * pthread key destructor); call this from a thread that stops using
 * operators but keeps running, or before exit for leak checkers. Never
 * blocks.
 */
void sk_op_thread_fini(void);

/* The canonical name of a compiled operator (for logs: "rx", "pm"...). */
const char *sk_op_name(const struct sk_op *op);

/*
 * (perf2 addition.) For a phrase-set operator (@pm, @pmf, @pmFromFile):
 * true with its phrases in *phrases and *n, which it matches case-insensitively
 * anywhere in the input (owned by the operator, read-only); false for
 * every other operator. Lets the engine put the phrases in its literal
 * prefilter. Never blocks.
 */
bool sk_op_phrases(const struct sk_op *op, const struct sk_str **phrases,
                   size_t *n);

/* The operator table, for the documentation and duplicate checks. */
struct sk_op_def {
    const char *name;
    const char *doc;
};
const struct sk_op_def *sk_op_table(size_t *count);

#endif
