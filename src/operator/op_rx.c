/* SPDX-License-Identifier: Apache-2.0 */
/*
 * @rx: PCRE2 regular expressions, compiled like libmodsecurity v3 does
 * (PCRE2_DOTALL | PCRE2_MULTILINE, no UTF mode: the input is bytes) and
 * JIT-compiled once at load. The compiled code and the match context
 * (holding SecPcreMatchLimit / SecPcreMatchLimitRecursion) are shared
 * read-only by every thread.
 *
 * Match data is per thread: each thread keeps one match data block for
 * SK_OP_MAX_CAPTURES pairs (a pattern with more groups still matches;
 * PCRE2 then fills only the first pairs) and reuses it for every match,
 * so a match allocates nothing. The same goes for the JIT stack (up to
 * 1 MiB), which the shared match context finds through a callback. A
 * pthread key frees both at thread exit.
 *
 * A dynamic argument (a macro) is compiled at every execution, without
 * JIT, and freed right after the match: the slow path, needed by one
 * CRS 3.3.4 rule (920480: "^%{tx.allowed_request_content_type_charset}$"),
 * once per request.
 */
#include "operator/op_internal.h"

#include <pthread.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

/* ModSecurity v3's compile options (src/utils/regex.cc). */
#define RX_OPTIONS (PCRE2_DOTALL | PCRE2_MULTILINE)

static void *
rx_malloc(PCRE2_SIZE n, void *data)
{
    (void)data;
    return sk_malloc(n);
}

static void
rx_free(void *p, void *data)
{
    (void)data;
    sk_free(p);
}

/* Per-thread match data ------------------------------------------------ */

static pthread_key_t rx_key;
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;
static bool rx_key_ok;
static _Thread_local pcre2_match_data *rx_md;
static _Thread_local pcre2_jit_stack *rx_jit_stack;
static _Thread_local bool rx_jit_stack_failed;

/* JIT stack per thread: PCRE2 starts a JIT match on 32 KiB of machine
 * stack; long inputs on CRS's larger patterns need more, and without it
 * every such match would be redone in the slower interpreter. */
#define RX_JIT_STACK_START (32 * 1024)
#define RX_JIT_STACK_MAX (1024 * 1024)

static void
rx_key_destroy(void *unused)
{
    (void)unused;
    sk__rx_thread_fini();
}

static void
rx_key_init(void)
{
    rx_key_ok = pthread_key_create(&rx_key, rx_key_destroy) == 0;
}

/* Frees the calling thread's match data (see sk_op_thread_fini()). */
void
sk__rx_thread_fini(void)
{
    if (rx_md != NULL) {
        pcre2_match_data_free(rx_md);
        rx_md = NULL;
    }
    if (rx_jit_stack != NULL) {
        pcre2_jit_stack_free(rx_jit_stack);
        rx_jit_stack = NULL;
    }
    rx_jit_stack_failed = false;
}

/* Called by PCRE2 at the start of a JIT match (the match context is
 * shared, so the stack is found through thread-local storage). NULL makes
 * PCRE2 use its 32 KiB machine stack area. */
static pcre2_jit_stack *
thread_jit_stack(void *unused)
{
    (void)unused;
    if (rx_jit_stack == NULL && !rx_jit_stack_failed) {
        pthread_once(&rx_once, rx_key_init);
        pcre2_general_context *g =
            pcre2_general_context_create(rx_malloc, rx_free, NULL);
        if (g != NULL)
            rx_jit_stack =
                pcre2_jit_stack_create(RX_JIT_STACK_START, RX_JIT_STACK_MAX, g);
        pcre2_general_context_free(g);
        /* Do not retry on every match after a failure. */
        rx_jit_stack_failed = rx_jit_stack == NULL;
        if (rx_jit_stack != NULL && rx_key_ok)
            (void)pthread_setspecific(rx_key, &rx_jit_stack);
    }
    return rx_jit_stack;
}

static pcre2_match_data *
thread_match_data(void)
{
    if (rx_md != NULL)
        return rx_md;
    pthread_once(&rx_once, rx_key_init);
    pcre2_general_context *g =
        pcre2_general_context_create(rx_malloc, rx_free, NULL);
    if (g == NULL)
        return NULL;
    rx_md = pcre2_match_data_create(SK_OP_MAX_CAPTURES, g);
    pcre2_general_context_free(g);
    /* The key's value only makes its destructor run at thread exit. */
    if (rx_md != NULL && rx_key_ok)
        (void)pthread_setspecific(rx_key, &rx_md);
    return rx_md;
}

/* Compilation ---------------------------------------------------------- */

static void
free_code(void *p)
{
    pcre2_code_free(p);
}

static void
free_mctx(void *p)
{
    pcre2_match_context_free(p);
}

static void
free_cctx(void *p)
{
    pcre2_compile_context_free(p);
}

/*
 * Compiles `pat` (len bytes) with the @rx options. Returns the code or
 * NULL with PCRE2's error code and offset.
 */
static pcre2_code *
compile(const struct sk__rx *rx, const uint8_t *pat, size_t len, int *err,
        PCRE2_SIZE *off)
{
    return pcre2_compile(pat, len, RX_OPTIONS, err, off, rx->cctx);
}

/*
 * Compiles the @rx in `op` (static argument: now, with JIT; dynamic: only
 * the contexts). The code and contexts are freed with `cfg`. Returns 0,
 * -SK_EPARSE (the message in `d`) or -SK_ENOMEM. Never blocks.
 */
int
sk__rx_compile(struct sk_arena *cfg, struct sk_op *op,
               const struct sk_op_config *conf, const struct sk_loc *loc,
               struct sk_diag *d)
{
    struct sk__rx *rx = &op->u.rx;
    pcre2_general_context *g =
        pcre2_general_context_create(rx_malloc, rx_free, NULL);
    if (g == NULL)
        return -SK_ENOMEM;
    rx->cctx = pcre2_compile_context_create(g);
    if (rx->cctx != NULL && sk_arena_defer(cfg, free_cctx, rx->cctx) != 0) {
        pcre2_compile_context_free(rx->cctx);
        rx->cctx = NULL;
    }
    int rc = rx->cctx == NULL ? -SK_ENOMEM : 0;
    if (rc == 0) {
        rx->mctx = pcre2_match_context_create(g);
        if (rx->mctx != NULL && sk_arena_defer(cfg, free_mctx, rx->mctx) != 0) {
            pcre2_match_context_free(rx->mctx);
            rx->mctx = NULL;
        }
        if (rx->mctx == NULL) {
            rc = -SK_ENOMEM;
        } else {
            if (conf->match_limit != 0)
                pcre2_set_match_limit(rx->mctx, conf->match_limit);
            /* The JIT ignores the depth limit; its own stack (32 KiB by
             * default) bounds recursion there, and we fall back to the
             * interpreter, which honours it, when that stack runs out. */
            if (conf->depth_limit != 0)
                pcre2_set_depth_limit(rx->mctx, conf->depth_limit);
            pcre2_jit_stack_assign(rx->mctx, thread_jit_stack, NULL);
        }
    }
    pcre2_general_context_free(g);
    if (rc != 0 || op->dynamic)
        return rc;

    int err = 0;
    PCRE2_SIZE off = 0;
    rx->code = compile(rx, op->arg.p, op->arg.len, &err, &off);
    if (rx->code == NULL) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0)
            strcpy((char *)msg, "unknown error");
        if (err == PCRE2_ERROR_NOMEMORY)
            return -SK_ENOMEM;
        sk_diag_error(d, loc, "@rx: bad regular expression at offset %zu: %s",
                      (size_t)off, (const char *)msg);
        return -SK_EPARSE;
    }
    if (sk_arena_defer(cfg, free_code, rx->code) != 0) {
        pcre2_code_free(rx->code);
        rx->code = NULL;
        return -SK_ENOMEM;
    }
    /* Without JIT (no executable memory, or an unsupported construct) the
     * interpreter gives the same results, only slower. */
    rx->jit = pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

/* Matching ------------------------------------------------------------- */

static int
run(const struct sk__rx *rx, const pcre2_code *code, bool jit,
    struct sk_str input, bool want_captures, struct sk_op_result *res)
{
    pcre2_match_data *md = thread_match_data();
    if (md == NULL)
        return -SK_ENOMEM;
    int rc = PCRE2_ERROR_JIT_STACKLIMIT;
    if (jit)
        rc = pcre2_jit_match(code, input.p, input.len, 0, 0, md, rx->mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(code, input.p, input.len, 0, jit ? PCRE2_NO_JIT : 0,
                         md, rx->mctx);
    switch (rc) {
    case PCRE2_ERROR_NOMATCH:
        return 0;
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
        return -SK_EMATCHLIMIT;
    case PCRE2_ERROR_NOMEMORY:
        return -SK_ENOMEM;
    default:
        break;
    }
    if (rc < 0)
        return -SK_EINVAL;

    /* rc == 0: more groups than pairs; every pair we have is filled. */
    unsigned n =
        rc == 0 || rc > SK_OP_MAX_CAPTURES ? SK_OP_MAX_CAPTURES : (unsigned)rc;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    res->matched = true;
    res->matched_data = sk_str_make(input.p + ov[0], ov[1] - ov[0]);
    if (!want_captures)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        /* An unset group (PCRE2_UNSET, or \K oddities) stays NULL. */
        if (ov[2 * i] == PCRE2_UNSET || ov[2 * i + 1] < ov[2 * i] ||
            ov[2 * i + 1] > input.len)
            res->captures[i] = SK_STR_NULL;
        else
            res->captures[i] =
                sk_str_make(input.p + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
    }
    res->ncaptures = n;
    return 0;
}

/*
 * Runs the @rx of `op` on `input` (`arg` is the expanded pattern for a
 * dynamic op). Captures are views into `input`. Returns 0,
 * -SK_EMATCHLIMIT, -SK_ENOMEM, and for a dynamic pattern -SK_EPARSE (it
 * does not compile) or -SK_ELIMIT (longer than SK_OP_MAX_DYN_REGEX).
 */
int
sk__rx_exec(const struct sk_op *op, struct sk_arena *txn, struct sk_str input,
            struct sk_str arg, bool want_captures, struct sk_op_result *res)
{
    (void)txn;
    const struct sk__rx *rx = &op->u.rx;
    if (!op->dynamic)
        return run(rx, rx->code, rx->jit, input, want_captures, res);

    if (arg.len > SK_OP_MAX_DYN_REGEX)
        return -SK_ELIMIT;
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *code = compile(rx, arg.p, arg.len, &err, &off);
    if (code == NULL)
        return err == PCRE2_ERROR_NOMEMORY ? -SK_ENOMEM : -SK_EPARSE;
    /* The captures are views into the input, not the code, so the code
     * can go right away instead of waiting for the arena. */
    int rc = run(rx, code, false, input, want_captures, res);
    pcre2_code_free(code);
    return rc;
}
