/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small in-memory YAML document tree built from libyaml's event stream,
 * with the line of every node, for the ftw loader. It resolves plain
 * scalars the way PyYAML's safe_load does (YAML 1.1 null, bool and int),
 * because the ftw runner saw the PyYAML values and turned them into text
 * with Python's str(). Internal to src/crstest.
 */
#ifndef SK_CRSTEST_YAMLTREE_H
#define SK_CRSTEST_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/diag.h"

enum sk__ynode_kind {
    SK__Y_SCALAR = 1,
    SK__Y_SEQ = 2,
    SK__Y_MAP = 3,
};

/* What PyYAML's safe_load turns a scalar into. */
enum sk__yscalar_type {
    SK__YS_STR = 1,
    SK__YS_NULL = 2,
    SK__YS_BOOL = 3,
    SK__YS_INT = 4,
    SK__YS_OTHER = 5, /* float, timestamp, ...: not supported here */
};

struct sk__ynode {
    enum sk__ynode_kind kind;
    unsigned line; /* 1-based */
    /* Scalars: the bytes (UTF-8, NUL-terminated behind len). */
    char *text;
    size_t len;
    enum sk__yscalar_type type;
    bool bval;
    int64_t ival;
    /* Sequences: items; mappings: 2*n nodes, key then value. */
    struct sk__ynode **items;
    size_t n;
};

/*
 * Parses one YAML document from (p, len) into a tree allocated in `a`.
 * Reports errors into `d` with `file` (owned by the caller, must outlive
 * d's use) and returns -SK_EPARSE, -SK_ELIMIT or -SK_ENOMEM. An empty
 * stream gives *out == NULL and 0. Never blocks.
 */
int sk__ytree_parse(struct sk_arena *a, const void *p, size_t len,
                    const char *file, struct sk__ynode **out,
                    struct sk_diag *d);

/*
 * Returns the value of key `k` in mapping `m` (the last one when the key
 * repeats, as PyYAML does), or NULL. Keys compare as text of string
 * scalars.
 */
struct sk__ynode *sk__ymap_get(const struct sk__ynode *m, const char *k);

/*
 * Renders a scalar the way Python's str() renders the PyYAML value:
 * "None", "True"/"False", the decimal of an int, the text of a string.
 * Returns NULL for unsupported types (float, timestamp) or OOM.
 */
char *sk__yscalar_pystr(struct sk_arena *a, const struct sk__ynode *s,
                        size_t *len);

/* A short name of a node's kind or scalar type, for messages. */
const char *sk__ynode_what(const struct sk__ynode *n);

#endif
