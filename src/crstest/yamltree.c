/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds a YAML document tree from libyaml's events without recursion (an
 * explicit stack bounded by SK_FTW_MAX_DEPTH) and with a bound on the node
 * count, then types plain scalars as PyYAML's YAML 1.1 resolver would.
 * Aliases, several documents and non-string tags are refused loudly: the
 * CRS files use none of them and guessing their meaning would hide bugs.
 */
#include "crstest/yamltree.h"

#include <string.h>
#include <yaml.h>

#include "crstest/ftw.h"
#include "util/buf.h"
#include "util/error.h"

struct frame {
    struct sk__ynode *node;
    struct sk_buf items; /* struct sk__ynode * pointers */
};

static bool
is_one_of(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(s, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool
all_in(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr(set, s[i]) == NULL) {
            return false;
        }
    }
    return true;
}

/*
 * YAML 1.1 integers as PyYAML reads them: optional sign, then 0b binary,
 * 0x hex, 0-prefixed octal or decimal, '_' allowed as a separator.
 * Returns 1 when `s` is an int (value in *v), 0 when it is not, -1 when it
 * looks like one we do not support (sexagesimal, overflow, bare "0b").
 */
static int
parse_int(const char *s, size_t n, int64_t *v)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= n || s[i] < '0' || s[i] > '9') {
        return 0;
    }
    unsigned base = 10;
    const char *digits = "0123456789_";
    if (s[i] == '0' && i + 1 < n) {
        if (s[i + 1] == 'b') {
            base = 2;
            digits = "01_";
            i += 2;
        } else if (s[i + 1] == 'x') {
            base = 16;
            digits = "0123456789abcdefABCDEF_";
            i += 2;
        } else {
            base = 8;
            digits = "01234567_";
            i += 1;
        }
        if (i >= n) {
            return base == 8 ? 0 : -1;
        }
    } else if (s[i] == '0') {
        *v = 0;
        return 1;
    }
    if (memchr(s + i, ':', n - i) != NULL && base == 10) {
        return all_in(s + i, n - i, "0123456789_:") ? -1 : 0;
    }
    if (!all_in(s + i, n - i, digits)) {
        return 0;
    }
    uint64_t acc = 0;
    bool any = false;
    for (; i < n; i++) {
        if (s[i] == '_') {
            continue;
        }
        unsigned d = (s[i] >= '0' && s[i] <= '9') ? (unsigned)(s[i] - '0')
                     : (s[i] >= 'a' && s[i] <= 'f')
                         ? (unsigned)(s[i] - 'a' + 10)
                         : (unsigned)(s[i] - 'A' + 10);
        if (acc > (UINT64_MAX - d) / base) {
            return -1;
        }
        acc = acc * base + d;
        any = true;
    }
    if (!any) {
        /* "0b_" or "0x_": PyYAML fails on these too. */
        return base == 8 ? (*v = 0, 1) : -1;
    }
    if (acc > (uint64_t)INT64_MAX) {
        return -1;
    }
    *v = neg ? -(int64_t)acc : (int64_t)acc;
    return 1;
}

static size_t
span(const char *s, size_t n, size_t i, const char *set)
{
    while (i < n && s[i] != '\0' && strchr(set, s[i]) != NULL) {
        i++;
    }
    return i;
}

/* "[eE][-+][0-9]+" at i, or nothing; returns the end, or n + 1 on junk. */
static size_t
exponent(const char *s, size_t n, size_t i)
{
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (i + 2 >= n || (s[i + 1] != '-' && s[i + 1] != '+')) {
            return n + 1;
        }
        size_t k = span(s, n, i + 2, "0123456789");
        return k > i + 2 ? k : n + 1;
    }
    return i;
}

/*
 * PyYAML's YAML 1.1 float forms: "1.5", "1.", "1_0.5e+3", ".5" (no sign),
 * "1:30.5" (sexagesimal), ".inf" with a sign or not, ".nan".
 */
static bool
is_float(const char *s, size_t n)
{
    static const char *const special[] = {
        ".inf",  ".Inf",  ".INF", "-.inf", "-.Inf", "-.INF", "+.inf",
        "+.Inf", "+.INF", ".nan", ".NaN",  ".NAN",  NULL};
    if (is_one_of(s, special)) {
        return true;
    }
    if (n > 1 && s[0] == '.' && s[1] >= '0' && s[1] <= '9') {
        return exponent(s, n, span(s, n, 1, "0123456789_")) == n;
    }
    size_t i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (i >= n || s[i] < '0' || s[i] > '9') {
        return false;
    }
    i = span(s, n, i, "0123456789_");
    if (i < n && s[i] == '.') {
        return exponent(s, n, span(s, n, i + 1, "0123456789_")) == n;
    }
    bool sexa = false;
    while (i < n && s[i] == ':') {
        size_t k = i + 1;
        if (k < n && s[k] >= '0' && s[k] <= '5' && k + 1 < n &&
            s[k + 1] >= '0' && s[k + 1] <= '9') {
            k += 2;
        } else if (k < n && s[k] >= '0' && s[k] <= '9') {
            k += 1;
        } else {
            return false;
        }
        i = k;
        sexa = true;
    }
    return sexa && i < n && s[i] == '.' &&
           span(s, n, i + 1, "0123456789_") == n;
}

/*
 * Floats, timestamps and the merge and value keys: such scalars are only
 * refused, never converted, so the timestamp test is kept wide ("2001-"
 * and on); it errs on the side of a loud error.
 */
static bool
looks_other(const char *s, size_t n)
{
    if (strcmp(s, "<<") == 0 || strcmp(s, "=") == 0) {
        return true;
    }
    if (n >= 8 && all_in(s, 4, "0123456789") && s[4] == '-' && s[5] >= '0' &&
        s[5] <= '9') {
        return true;
    }
    return is_float(s, n);
}

static int
type_scalar(struct sk__ynode *nd, const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    nd->type = SK__YS_STR;
    if (tag != NULL) {
        if (strcmp(tag, YAML_STR_TAG) == 0 || strcmp(tag, "!") == 0) {
            return 0;
        }
        return -1;
    }
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return 0;
    }
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"yes",  "Yes", "YES", "true", "True",
                                        "TRUE", "on",  "On",  "ON",   NULL};
    static const char *const falses[] = {
        "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", NULL};
    if (strlen(nd->text) != nd->len) {
        return 0; /* a NUL inside: only a string can hold it */
    }
    if (is_one_of(nd->text, nulls)) {
        nd->type = SK__YS_NULL;
    } else if (is_one_of(nd->text, trues)) {
        nd->type = SK__YS_BOOL;
        nd->bval = true;
    } else if (is_one_of(nd->text, falses)) {
        nd->type = SK__YS_BOOL;
        nd->bval = false;
    } else {
        int r = parse_int(nd->text, nd->len, &nd->ival);
        if (r == 1) {
            nd->type = SK__YS_INT;
        } else if (r == -1 || looks_other(nd->text, nd->len)) {
            nd->type = SK__YS_OTHER;
        }
    }
    return 0;
}

static const char *
event_name(yaml_event_type_t t)
{
    switch (t) {
    case YAML_ALIAS_EVENT:
        return "an alias";
    case YAML_DOCUMENT_START_EVENT:
        return "a second document";
    default:
        return "an unexpected event";
    }
}

int
sk__ytree_parse(struct sk_arena *a, const void *p, size_t len, const char *file,
                struct sk__ynode **out, struct sk_diag *d)
{
    *out = NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        return -SK_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, p, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    struct frame stack[SK_FTW_MAX_DEPTH];
    size_t depth = 0;
    size_t nodes = 0;
    unsigned docs = 0;
    int rc = 0;
    bool done = false;

    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            struct sk_loc loc = {file, (unsigned)parser.problem_mark.line + 1,
                                 (unsigned)parser.problem_mark.column + 1};
            sk_diag_error(d, &loc, "YAML: %s%s%s",
                          parser.problem ? parser.problem : "syntax error",
                          parser.context ? " " : "",
                          parser.context ? parser.context : "");
            rc = -SK_EPARSE;
            break;
        }
        struct sk_loc loc = {file, (unsigned)ev.start_mark.line + 1,
                             (unsigned)ev.start_mark.column + 1};
        struct sk__ynode *nd = NULL;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                sk_diag_error(d, &loc, "YAML: %s is not supported",
                              event_name(ev.type));
                rc = -SK_EPARSE;
            }
            break;
        case YAML_ALIAS_EVENT:
            sk_diag_error(d, &loc, "YAML: %s is not supported",
                          event_name(ev.type));
            rc = -SK_EPARSE;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++nodes > SK_FTW_MAX_NODES) {
                sk_diag_error(d, &loc, "YAML: more than %d nodes",
                              SK_FTW_MAX_NODES);
                rc = -SK_ELIMIT;
                break;
            }
            nd = sk_arena_zalloc(a, sizeof(*nd));
            if (nd == NULL) {
                rc = -SK_ENOMEM;
                break;
            }
            nd->line = loc.line;
            if (ev.type == YAML_SCALAR_EVENT) {
                nd->kind = SK__Y_SCALAR;
                nd->len = ev.data.scalar.length;
                nd->text = sk_arena_memdup(a, ev.data.scalar.value, nd->len);
                if (nd->text == NULL) {
                    rc = -SK_ENOMEM;
                    break;
                }
                if (type_scalar(nd, &ev) != 0) {
                    sk_diag_error(d, &loc, "YAML: tag '%s' is not supported",
                                  (const char *)ev.data.scalar.tag);
                    rc = -SK_EPARSE;
                    break;
                }
            } else {
                const yaml_char_t *tag = ev.type == YAML_SEQUENCE_START_EVENT
                                             ? ev.data.sequence_start.tag
                                             : ev.data.mapping_start.tag;
                nd->kind = ev.type == YAML_SEQUENCE_START_EVENT ? SK__Y_SEQ
                                                                : SK__Y_MAP;
                if (tag != NULL) {
                    sk_diag_error(d, &loc, "YAML: tag '%s' is not supported",
                                  (const char *)tag);
                    rc = -SK_EPARSE;
                    break;
                }
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            if (depth == 0) {
                rc = -SK_EPARSE; /* libyaml never does this */
                break;
            }
            struct frame *f = &stack[--depth];
            size_t n = f->items.len / sizeof(struct sk__ynode *);
            if (n > 0) {
                f->node->items = sk_arena_alloc(a, f->items.len);
                if (f->node->items == NULL) {
                    rc = -SK_ENOMEM;
                } else {
                    memcpy(f->node->items, f->items.p, f->items.len);
                }
            }
            f->node->n = f->node->kind == SK__Y_MAP ? n / 2 : n;
            nd = f->node;
            sk_buf_fini(&f->items);
            if (rc == 0) {
                /* Attach the finished collection to its parent below. */
                yaml_event_delete(&ev);
                goto attach;
            }
            break;
        }
        default:
            break;
        }
        if (rc == 0 && nd != NULL && nd->kind != SK__Y_SCALAR) {
            /* A new collection: push it; it is attached when it ends. */
            if (depth >= SK_FTW_MAX_DEPTH) {
                sk_diag_error(d, &loc, "YAML: nesting deeper than %d",
                              SK_FTW_MAX_DEPTH);
                rc = -SK_ELIMIT;
            } else {
                stack[depth].node = nd;
                memset(&stack[depth].items, 0, sizeof(stack[depth].items));
                depth++;
            }
            nd = NULL;
        }
        yaml_event_delete(&ev);
        if (rc != 0) {
            break;
        }
    attach:
        if (nd != NULL) {
            if (depth == 0) {
                *out = nd;
            } else {
                struct frame *f = &stack[depth - 1];
                if (f->node->kind == SK__Y_MAP &&
                    (f->items.len / sizeof(nd)) % 2 == 0 &&
                    nd->kind != SK__Y_SCALAR) {
                    struct sk_loc kl = {file, nd->line, 0};
                    sk_diag_error(d, &kl, "YAML: a %s as a mapping key",
                                  nd->kind == SK__Y_MAP ? "mapping"
                                                        : "sequence");
                    rc = -SK_EPARSE;
                    break;
                }
                int r = sk_buf_append(&f->items, &nd, sizeof(nd));
                if (r != 0) {
                    rc = r;
                    break;
                }
            }
        }
    }
    while (depth > 0) {
        sk_buf_fini(&stack[--depth].items);
    }
    yaml_parser_delete(&parser);
    if (rc != 0) {
        *out = NULL;
    }
    return rc;
}

struct sk__ynode *
sk__ymap_get(const struct sk__ynode *m, const char *k)
{
    struct sk__ynode *found = NULL;
    if (m == NULL || m->kind != SK__Y_MAP) {
        return NULL;
    }
    size_t klen = strlen(k);
    for (size_t i = 0; i < m->n; i++) {
        const struct sk__ynode *key = m->items[2 * i];
        if (key->kind == SK__Y_SCALAR && key->type == SK__YS_STR &&
            key->len == klen && memcmp(key->text, k, klen) == 0) {
            found = m->items[2 * i + 1];
        }
    }
    return found;
}

char *
sk__yscalar_pystr(struct sk_arena *a, const struct sk__ynode *s, size_t *len)
{
    char *r = NULL;
    if (s == NULL || s->kind != SK__Y_SCALAR) {
        return NULL;
    }
    switch (s->type) {
    case SK__YS_STR:
        *len = s->len;
        return s->text;
    case SK__YS_NULL:
        r = sk_arena_strdup(a, "None");
        break;
    case SK__YS_BOOL:
        r = sk_arena_strdup(a, s->bval ? "True" : "False");
        break;
    case SK__YS_INT:
        r = sk_arena_printf(a, "%lld", (long long)s->ival);
        break;
    default:
        return NULL;
    }
    if (r != NULL) {
        *len = strlen(r);
    }
    return r;
}

const char *
sk__ynode_what(const struct sk__ynode *n)
{
    if (n == NULL) {
        return "nothing";
    }
    switch (n->kind) {
    case SK__Y_SEQ:
        return "a list";
    case SK__Y_MAP:
        return "a mapping";
    default:
        break;
    }
    switch (n->type) {
    case SK__YS_STR:
        return "a string";
    case SK__YS_NULL:
        return "null";
    case SK__YS_BOOL:
        return "a boolean";
    case SK__YS_INT:
        return "an integer";
    default:
        return "a float or timestamp";
    }
}
