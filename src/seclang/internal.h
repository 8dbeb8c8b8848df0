/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private interface between the parts of the SecLang parser: the lexer
 * (lex.c: logical lines and Apache-style words), the list parsers
 * (lists.c: variable lists, operator strings, action lists) and the
 * directive/Include driver (parse.c). Nothing here is part of the module's
 * contract; other modules use seclang.h only.
 */
#ifndef SK_SECLANG_INTERNAL_H
#define SK_SECLANG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seclang/seclang.h"
#include "util/buf.h"

/* One physical line's piece of a logical line: it starts at logical
 * offset `off` and at column 1 of physical line `line`. */
struct sk__sl_seg {
    size_t off;
    unsigned line;
};

/*
 * Maps byte offsets of a string being parsed back to source locations.
 * When `segs` is set, `map[i]` is the logical-line offset of byte i of the
 * string (escapes make the two differ) and the segments turn it into
 * line:col. Otherwise byte i sits at base line:col+i (the public
 * sk_seclang_parse_vars()/parse_actions() entry points).
 */
struct sk__sl_pos {
    const char *file;
    const struct sk__sl_seg *segs;
    size_t nsegs;
    const uint32_t *map; /* one entry per byte of the string, plus one */
    unsigned line;
    unsigned col;
};

/* Fills *out with the location of byte `off` of the mapped string. */
void sk__sl_pos_loc(const struct sk__sl_pos *p, size_t off, struct sk_loc *out);

/* Location of a logical-line offset through the segments. */
void sk__sl_seg_loc(const char *file, const struct sk__sl_seg *segs,
                    size_t nsegs, size_t off, struct sk_loc *out);

/*
 * The list parsers work on (text, len) with positions from `pos`. They
 * return 0, -SK_EPARSE after reporting one error into `d` (the rest of
 * that list is not parsed), or -SK_ENOMEM. Results live in `a`.
 */
int sk__sl_vars(struct sk_arena *a, const char *text, size_t len,
                const struct sk__sl_pos *pos, struct sk_ast_var **vars,
                size_t *nvars, struct sk_diag *d);
int sk__sl_actions(struct sk_arena *a, const char *text, size_t len,
                   const struct sk__sl_pos *pos, struct sk_ast_action **actions,
                   size_t *nactions, struct sk_diag *d);
int sk__sl_operator(struct sk_arena *a, const char *text, size_t len,
                    const struct sk__sl_pos *pos, struct sk_ast_op *op,
                    struct sk_diag *d);

/* ASCII whitespace as isspace(3) in the C locale (what Apache uses). */
static inline bool
sk__sl_isspace(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

/*
 * Copies `n` elements of `size` bytes gathered in a heap buffer into an
 * exactly sized arena array (NULL when n == 0). -SK_ENOMEM on failure.
 */
int sk__sl_vec_to_arena(struct sk_arena *a, const struct sk_buf *vec,
                        size_t size, void **out, size_t *n);

#endif
