/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON request body processor. jansson parses and validates the body into
 * a tree; a depth-limited walk then turns every scalar leaf into one ARGS
 * pair named the way libmodsecurity 3.0.9 names them ("json.a.b",
 * "json.list.array_0", see docs/body-processors.md). jansson keeps no
 * source text for numbers, so a small scanner over the validated body
 * hands the walk each number exactly as it was written.
 */
#include "bodyproc/bodyproc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/error.h"

/* How an empty object key is named (ModSecurity's spelling). */
#define EMPTY_KEY "empty-key"

/* The error the fuzzer treats as a bug: the two walks disagree. */
#define SK_BODYPROC_JSON_OUT_OF_STEP                                           \
    "JSON number scanner out of step with the parser"

struct walk {
    struct sk_arena *a;
    sk_bodyproc_pair_fn fn;
    void *ud;
    const char **errmsg;
    struct sk_buf name; /* the current leaf name, rebuilt as we go */
    struct sk_str body; /* the source, for number text */
    size_t num_pos;     /* where the number scanner resumes */
    size_t nargs;
    size_t max_args;
    unsigned max_depth;
};

/*
 * Returns the next number token of the (already validated) body in
 * document order. Strings are skipped whole, so digits inside keys and
 * values never count, and true/false/null contain no number characters.
 */
static int
next_number(struct walk *w, struct sk_str *out)
{
    const uint8_t *p = w->body.p;
    size_t n = w->body.len, i = w->num_pos;

    while (i < n) {
        uint8_t c = p[i];
        if (c == '"') {
            for (i++; i < n && p[i] != '"'; i++) {
                if (p[i] == '\\')
                    i++;
            }
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9'))
            break;
        i++;
    }
    if (i >= n)
        return -SK_EPARSE;
    size_t start = i;
    while (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
                     p[i] == '+' || p[i] == '.' || p[i] == 'e' || p[i] == 'E'))
        i++;
    w->num_pos = i;
    *out = sk_str_make(p + start, i - start);
    return 0;
}

/*
 * Debug builds (and so the fuzzer) check that the scanned text is the
 * number jansson parsed, which proves the two walks stay in step. Release
 * builds skip it: strtod() follows the locale's decimal point.
 */
static bool
number_matches(struct sk_str num, json_t *v)
{
#ifdef SK_DEBUG
    char tmp[64];
    if (num.len >= sizeof(tmp))
        return true; /* too long to check cheaply; rare */
    memcpy(tmp, num.p, num.len);
    tmp[num.len] = '\0';
    double d = strtod(tmp, NULL);
    return d == json_number_value(v);
#else
    (void)num;
    (void)v;
    return true;
#endif
}

static int
emit(struct walk *w, struct sk_str value)
{
    if (w->nargs >= w->max_args) {
        *w->errmsg = sk_arena_printf(
            w->a, "JSON body has more than %zu arguments", w->max_args);
        if (*w->errmsg == NULL)
            *w->errmsg = "JSON body has too many arguments";
        return -SK_ELIMIT;
    }
    w->nargs++;

    struct sk_str name, val;
    if (sk_arena_strdup_str(w->a, sk_buf_str(&w->name), &name) != 0 ||
        sk_arena_strdup_str(w->a, value, &val) != 0) {
        *w->errmsg = "out of memory";
        return -SK_ENOMEM;
    }
    return w->fn(w->ud, name, val);
}

static int
name_append(struct walk *w, const void *p, size_t n)
{
    if (sk_buf_append(&w->name, p, n) != 0) {
        *w->errmsg = "out of memory";
        return -SK_ENOMEM;
    }
    return 0;
}

static int
walk_value(struct walk *w, json_t *v, unsigned depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth >= w->max_depth || depth >= SK_BODYPROC_JSON_HARD_DEPTH)
            goto too_deep;
        size_t base = w->name.len;
        const char *key;
        json_t *child;
        /*
         * jansson (>= 2.8) iterates in insertion order, which is document
         * order because duplicate keys were refused at load time; the
         * number scanner relies on that.
         */
        json_object_foreach(v, key, child)
        {
            w->name.len = base;
            int rc = name_append(w, ".", 1);
            if (rc == 0) {
                size_t klen = strlen(key);
                rc = klen > 0 ? name_append(w, key, klen)
                              : name_append(w, EMPTY_KEY, strlen(EMPTY_KEY));
            }
            if (rc == 0)
                rc = walk_value(w, child, depth + 1);
            if (rc != 0)
                return rc;
        }
        w->name.len = base;
        return 0;
    }
    case JSON_ARRAY: {
        if (depth >= w->max_depth || depth >= SK_BODYPROC_JSON_HARD_DEPTH)
            goto too_deep;
        size_t base = w->name.len;
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            char seg[32];
            int len = snprintf(seg, sizeof(seg), ".array_%zu", i);
            w->name.len = base;
            int rc = name_append(w, seg, (size_t)len);
            if (rc == 0)
                rc = walk_value(w, json_array_get(v, i), depth + 1);
            if (rc != 0)
                return rc;
        }
        w->name.len = base;
        return 0;
    }
    case JSON_STRING:
        return emit(w,
                    sk_str_make(json_string_value(v), json_string_length(v)));
    case JSON_INTEGER:
    case JSON_REAL: {
        struct sk_str num;
        if (next_number(w, &num) != 0 || !number_matches(num, v)) {
            /* jansson accepted a number the scanner cannot find. */
            *w->errmsg = SK_BODYPROC_JSON_OUT_OF_STEP;
            return -SK_EPARSE;
        }
        return emit(w, num);
    }
    case JSON_TRUE:
        return emit(w, SK_STR_LIT("true"));
    case JSON_FALSE:
        return emit(w, SK_STR_LIT("false"));
    case JSON_NULL:
        return emit(w, SK_STR_LIT(""));
    }
    *w->errmsg = "unknown JSON value type";
    return -SK_EPARSE;

too_deep:
    *w->errmsg = sk_arena_printf(
        w->a, "JSON nesting exceeds the depth limit of %u", w->max_depth);
    if (*w->errmsg == NULL)
        *w->errmsg = "JSON nesting exceeds the depth limit";
    return -SK_ELIMIT;
}

/* Turns a jansson load error into our code and an arena message. */
static int
load_error(struct sk_arena *a, const json_error_t *err, const char **errmsg)
{
    int rc;
    switch (json_error_code(err)) {
    case json_error_out_of_memory:
        *errmsg = "out of memory";
        return -SK_ENOMEM;
    case json_error_stack_overflow:
        rc = -SK_ELIMIT;
        break;
    default:
        rc = -SK_EPARSE;
        break;
    }
    *errmsg =
        sk_arena_printf(a, "%s at line %d, column %d (byte %zu)", err->text,
                        err->line, err->column, (size_t)err->position);
    if (*errmsg == NULL)
        *errmsg = rc == -SK_ELIMIT ? "JSON nesting too deep" : "malformed JSON";
    return rc;
}

int
sk_bodyproc_json(struct sk_arena *a, struct sk_str body, unsigned max_depth,
                 size_t max_args, sk_bodyproc_pair_fn fn, void *ud,
                 const char **errmsg)
{
    const char *dummy;
    if (errmsg == NULL)
        errmsg = &dummy;
    *errmsg = NULL;
    if (a == NULL || fn == NULL || (body.p == NULL && body.len > 0)) {
        *errmsg = "invalid argument";
        return -SK_EINVAL;
    }
    /* ModSecurity reports no error (and no arguments) for an empty body. */
    if (body.len == 0)
        return 0;

    /*
     * JSON_DECODE_ANY: a top-level scalar is valid JSON and yajl accepts it.
     * JSON_ALLOW_NUL: "\u0000" inside strings must reach the rules, not be
     * an error. JSON_REJECT_DUPLICATES: jansson would keep only the last of
     * repeated keys, hiding the others from the rules. JSON_DECODE_INT_AS_REAL:
     * integers beyond 64 bits must not be an error; we use the source text.
     */
    json_error_t err;
    json_t *root =
        json_loadb((const char *)body.p, body.len,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES |
                       JSON_DECODE_INT_AS_REAL,
                   &err);
    if (root == NULL)
        return load_error(a, &err, errmsg);

    struct walk w = {
        .a = a,
        .fn = fn,
        .ud = ud,
        .errmsg = errmsg,
        .body = body,
        .max_args = max_args,
        .max_depth = max_depth,
    };
    int rc = name_append(&w, "json", 4);
    if (rc == 0)
        rc = walk_value(&w, root, 0);
    if (rc != 0 && *errmsg == NULL)
        *errmsg = sk_strerror(rc);
    sk_buf_fini(&w.name);
    json_decref(root);
    return rc;
}
