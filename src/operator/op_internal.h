/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/operator: the compiled operator object and the helpers
 * the operator families (regex, phrase sets, IP sets, validators) share.
 * Nothing outside src/operator (and its unit tests) includes this.
 */
#ifndef SK_OPERATOR_OP_INTERNAL_H
#define SK_OPERATOR_OP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "operator/operator.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/str.h"

/* Operators, in the order of the (sorted) operator table. */
enum sk__op_kind {
    SK__OP_BEGINS_WITH = 0,
    SK__OP_CONTAINS,
    SK__OP_CONTAINS_WORD,
    SK__OP_DETECT_SQLI,
    SK__OP_DETECT_XSS,
    SK__OP_ENDS_WITH,
    SK__OP_EQ,
    SK__OP_GE,
    SK__OP_GT,
    SK__OP_IP_MATCH,
    SK__OP_IP_MATCH_F,
    SK__OP_IP_MATCH_FROM_FILE,
    SK__OP_LE,
    SK__OP_LT,
    SK__OP_NO_MATCH,
    SK__OP_PM,
    SK__OP_PMF,
    SK__OP_PM_FROM_FILE,
    SK__OP_RX,
    SK__OP_STREQ,
    SK__OP_STRMATCH,
    SK__OP_UNCONDITIONAL_MATCH,
    SK__OP_VALIDATE_BYTE_RANGE,
    SK__OP_VALIDATE_URL_ENCODING,
    SK__OP_VALIDATE_UTF8_ENCODING,
    SK__OP_WITHIN,
    SK__OP_COUNT
};

/* A compiled regular expression (@rx). */
struct sk__rx {
    pcre2_code *code;            /* NULL for a dynamic argument */
    pcre2_match_context *mctx;   /* limits and the JIT stack callback */
    pcre2_compile_context *cctx; /* for dynamic patterns */
    bool jit;                    /* code was JIT-compiled */
};

/* A case-insensitive phrase set (@pm, @pmFromFile). */
struct sk__pm {
    void *db; /* hs_database_t *, NULL when the set is empty */
    struct sk_str *phrases;
    size_t count;
};

struct sk__ip4 {
    uint32_t addr; /* host order, host bits cleared */
    uint8_t plen;
};

struct sk__ip6 {
    uint8_t addr[16]; /* host bits cleared */
    uint8_t plen;
};

/* Entries of one prefix length are a sorted run [start, start+count). */
struct sk__ip_group {
    uint8_t plen;
    size_t start;
    size_t count;
};

/* A set of IPv4 and IPv6 networks (@ipMatch, @ipMatchFromFile). */
struct sk__ipset {
    struct sk__ip4 *v4;
    size_t n4;
    struct sk__ip_group *g4;
    size_t ng4;
    struct sk__ip6 *v6;
    size_t n6;
    struct sk__ip_group *g6;
    size_t ng6;
};

struct sk_op {
    enum sk__op_kind kind;
    bool dynamic;
    struct sk_str arg; /* the raw argument, NUL-terminated, in the arena */
    union {
        struct sk__rx rx;
        struct sk__pm pm;
        struct sk__ipset ip;
        int64_t num;       /* static argument of @eq @ge @gt @le @lt */
        uint8_t bytes[32]; /* @validateByteRange: bitmap of allowed bytes */
    } u;
};

/* Regexes (op_rx.c). */
int sk__rx_compile(struct sk_arena *cfg, struct sk_op *op,
                   const struct sk_op_config *conf, const struct sk_loc *loc,
                   struct sk_diag *d);
int sk__rx_exec(const struct sk_op *op, struct sk_arena *txn,
                struct sk_str input, struct sk_str dyn_arg, bool want_captures,
                struct sk_op_result *res);

/* Phrase sets (op_pm.c). */
int sk__pm_compile(struct sk_arena *cfg, struct sk_op *op, bool from_file,
                   const struct sk_op_config *conf, const struct sk_loc *loc,
                   struct sk_diag *d);
int sk__pm_exec(const struct sk_op *op, struct sk_str input, bool want_captures,
                struct sk_op_result *res);

/* IP sets (op_ip.c). */
int sk__ip_compile(struct sk_arena *cfg, struct sk_op *op, bool from_file,
                   const struct sk_op_config *conf, const struct sk_loc *loc,
                   struct sk_diag *d);
bool sk__ip_match(const struct sk__ipset *set, struct sk_str input);

/* Validators (op_validate.c). */
int sk__byterange_parse(const char *spec, uint8_t bitmap[32], char *err,
                        size_t errlen);
bool sk__byterange_match(const uint8_t bitmap[32], struct sk_str input);
bool sk__url_encoding_invalid(struct sk_str input);
bool sk__utf8_invalid(struct sk_str input);

/*
 * Reads the data file `arg` (trimmed; resolved against conf->basedir when
 * relative) into a NUL-terminated heap buffer the caller frees with
 * sk_free(). Reports problems into `d` in the name of operator `opname`.
 * Returns 0, -SK_ENOENT, -SK_EIO, -SK_ELIMIT, -SK_ENOTSUP (URLs) or
 * -SK_ENOMEM. Blocks on file I/O.
 */
int sk__op_read_file(const char *opname, const char *arg,
                     const struct sk_op_config *conf, const struct sk_loc *loc,
                     struct sk_diag *d, char **data, size_t *len);

/* ASCII white space as C's isspace() sees it in the "C" locale. */
static inline bool
sk__op_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The operator's table name ("rx"), for messages. */
const char *sk__op_kind_name(enum sk__op_kind kind);

/* Free the calling thread's cached regex / phrase-set scratch now. */
void sk__rx_thread_fini(void);
void sk__pm_thread_fini(void);

#endif
