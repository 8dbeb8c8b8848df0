/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Comparing a baseline with a scan (a merge of two sorted arrays), the
 * AIDE-style exit bitmask, the text and JSON reports, and the JSON-lines
 * event sink with its string escaper.
 */
#include "fim/fim.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/error.h"

static int
push(struct sk_fim_report *r, int kind, const struct sk_fim_entry *old,
     const struct sk_fim_entry *cur, uint32_t changed)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        struct sk_fim_change *n = sk_realloc(r->c, nc * sizeof(*n));
        if (n == NULL)
            return -SK_ENOMEM;
        r->c = n;
        r->cap = nc;
    }
    r->c[r->n++] = (struct sk_fim_change){kind, old, cur, changed};
    if (kind == SK_FIM_ADDED)
        r->added++;
    else if (kind == SK_FIM_REMOVED)
        r->removed++;
    else
        r->changed++;
    return 0;
}

static bool
vanished(const struct sk_fim_entry *e)
{
    return (e->flags & SK_FIM_E_ERROR) &&
           (e->err == ENOENT || e->err == ENOTDIR);
}

int
sk_fim_compare(const struct sk_fim_db *base, const struct sk_fim_db *cur,
               struct sk_fim_report *r)
{
    memset(r, 0, sizeof(*r));
    size_t i = 0, j = 0;
    int rc = 0;
    while (rc == 0 && (i < base->n || j < cur->n)) {
        const struct sk_fim_entry *a = i < base->n ? &base->e[i] : NULL;
        const struct sk_fim_entry *b = j < cur->n ? &cur->e[j] : NULL;
        if (b != NULL && vanished(b)) {
            j++;
            continue;
        }
        int c;
        if (a == NULL)
            c = 1;
        else if (b == NULL)
            c = -1;
        else {
            size_t n = a->path_len < b->path_len ? a->path_len : b->path_len;
            c = memcmp(a->path, b->path, n);
            if (c == 0)
                c = a->path_len < b->path_len ? -1 : a->path_len > b->path_len;
        }
        if (c < 0) {
            rc = push(r, SK_FIM_REMOVED, a, NULL, 0);
            i++;
        } else if (c > 0) {
            if (b->flags & SK_FIM_E_ERROR)
                r->unreadable++;
            rc = push(r, SK_FIM_ADDED, NULL, b, 0);
            j++;
        } else {
            if (b->flags & SK_FIM_E_ERROR) {
                r->unreadable++;
            } else {
                uint32_t d = sk_fim_entry_diff(a, b);
                if (d != 0)
                    rc = push(r, SK_FIM_CHANGED, a, b, d);
            }
            i++;
            j++;
        }
    }
    if (rc != 0)
        sk_fim_report_fini(r);
    return rc;
}

void
sk_fim_report_fini(struct sk_fim_report *r)
{
    sk_free(r->c);
    memset(r, 0, sizeof(*r));
}

int
sk_fim_report_exit(const struct sk_fim_report *r)
{
    int x = 0;
    if (r->added)
        x |= SK_FIM_ADDED;
    if (r->removed)
        x |= SK_FIM_REMOVED;
    if (r->changed)
        x |= SK_FIM_CHANGED;
    if (r->unreadable)
        x |= SK_FIM_EXIT_UNREADABLE;
    return x;
}

static const char *
type_name(uint8_t t)
{
    switch (t) {
    case SK_FIM_T_REG:
        return "file";
    case SK_FIM_T_DIR:
        return "directory";
    case SK_FIM_T_LNK:
        return "symlink";
    default:
        return "other";
    }
}

static void
hex32(const uint8_t *h, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[h[i] >> 4];
        out[2 * i + 1] = hx[h[i] & 15];
    }
    out[64] = '\0';
}

/* Formats attribute `bit` of `e` as text (JSON-safe except targets). */
static int
attr_value(struct sk_buf *b, const struct sk_fim_entry *e, uint32_t bit,
           bool json)
{
    char hx[65];
    switch (bit) {
    case SK_FIM_A_TYPE:
        return json ? sk_buf_printf(b, "\"%s\"", type_name(e->type))
                    : sk_buf_append_c(b, type_name(e->type));
    case SK_FIM_A_SIZE:
        return sk_buf_printf(b, "%" PRIu64, e->size);
    case SK_FIM_A_MODE:
        return sk_buf_printf(b, json ? "\"%04o\"" : "%04o", e->mode);
    case SK_FIM_A_UID:
        return sk_buf_printf(b, "%u", e->uid);
    case SK_FIM_A_GID:
        return sk_buf_printf(b, "%u", e->gid);
    case SK_FIM_A_INODE:
        return sk_buf_printf(b, "%" PRIu64, e->ino);
    case SK_FIM_A_NLINK:
        return sk_buf_printf(b, "%" PRIu64, e->nlink);
    case SK_FIM_A_MTIME:
        return sk_buf_printf(b,
                             json ? "\"%" PRId64 ".%09u\"" : "%" PRId64 ".%09u",
                             e->mtime_s, e->mtime_ns);
    case SK_FIM_A_CTIME:
        return sk_buf_printf(b,
                             json ? "\"%" PRId64 ".%09u\"" : "%" PRId64 ".%09u",
                             e->ctime_s, e->ctime_ns);
    case SK_FIM_A_TARGET:
        if (e->target == NULL)
            return sk_buf_append_c(b, json ? "null" : "-");
        return json ? sk_fim_json_str(b, e->target, e->target_len)
                    : sk_buf_append(b, e->target, e->target_len);
    case SK_FIM_A_SHA256:
        if (!(e->flags & SK_FIM_E_HASHED))
            return sk_buf_append_c(b, json ? "null" : "-");
        hex32(e->sha256, hx);
        return sk_buf_printf(b, json ? "\"%s\"" : "%s", hx);
    case SK_FIM_A_XATTRS:
        if (!(e->flags & SK_FIM_E_XATTR))
            return sk_buf_append_c(b, json ? "null" : "-");
        hex32(e->xattr_sha, hx);
        return sk_buf_printf(b, json ? "\"%s\"" : "%s", hx);
    default:
        return -SK_EINVAL;
    }
}

static const char *
kind_name(int k)
{
    return k == SK_FIM_ADDED     ? "added"
           : k == SK_FIM_REMOVED ? "removed"
                                 : "changed";
}

int
sk_fim_change_json(const struct sk_fim_change *ch, struct sk_buf *b)
{
    const struct sk_fim_entry *e = ch->cur ? ch->cur : ch->old;
    int rc =
        sk_buf_printf(b, "{\"kind\":\"%s\",\"path\":", kind_name(ch->kind));
    rc = rc ? rc : sk_fim_json_str(b, e->path, e->path_len);
    rc = rc ? rc : sk_buf_printf(b, ",\"type\":\"%s\"", type_name(e->type));
    if (rc == 0 && ch->kind == SK_FIM_CHANGED) {
        rc = sk_buf_append_c(b, ",\"changes\":{");
        bool first = true;
        for (uint32_t bit = 1; rc == 0 && bit <= SK_FIM_A_XATTRS; bit <<= 1) {
            if (!(ch->changed & bit))
                continue;
            rc = sk_buf_printf(b, "%s\"%s\":{\"old\":", first ? "" : ",",
                               sk_fim_attr_name(bit));
            rc = rc ? rc : attr_value(b, ch->old, bit, true);
            rc = rc ? rc : sk_buf_append_c(b, ",\"new\":");
            rc = rc ? rc : attr_value(b, ch->cur, bit, true);
            rc = rc ? rc : sk_buf_append_c(b, "}");
            first = false;
        }
        rc = rc ? rc : sk_buf_append_c(b, "}");
    }
    if (rc == 0 && ch->kind == SK_FIM_ADDED &&
        (ch->cur->flags & SK_FIM_E_HASHED)) {
        rc = sk_buf_append_c(b, ",\"sha256\":");
        rc = rc ? rc : attr_value(b, ch->cur, SK_FIM_A_SHA256, true);
    }
    return rc ? rc : sk_buf_append_c(b, "}");
}

int
sk_fim_report_json(const struct sk_fim_report *r, FILE *f)
{
    struct sk_buf b = {0};
    int rc = sk_buf_printf(&b,
                           "{\"summary\":{\"added\":%u,\"removed\":%u,"
                           "\"changed\":%u,\"unreadable\":%u},\"entries\":[",
                           r->added, r->removed, r->changed, r->unreadable);
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        if (i > 0)
            rc = sk_buf_putc(&b, ',');
        rc = rc ? rc : sk_fim_change_json(&r->c[i], &b);
    }
    rc = rc ? rc : sk_buf_append_c(&b, "]}\n");
    if (rc == 0 && fwrite(b.p, 1, b.len, f) != b.len)
        rc = -SK_EIO;
    sk_buf_fini(&b);
    return rc;
}

int
sk_fim_report_text(const struct sk_fim_report *r, FILE *f)
{
    struct sk_buf b = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        const struct sk_fim_change *ch = &r->c[i];
        const struct sk_fim_entry *e = ch->cur ? ch->cur : ch->old;
        rc = sk_buf_printf(&b, "%-8s %s: ", kind_name(ch->kind),
                           type_name(e->type));
        rc = rc ? rc : sk_buf_append(&b, e->path, e->path_len);
        rc = rc ? rc : sk_buf_putc(&b, '\n');
        for (uint32_t bit = 1; rc == 0 && bit <= SK_FIM_A_XATTRS; bit <<= 1) {
            if (!(ch->changed & bit))
                continue;
            rc = sk_buf_printf(&b, "    %-7s ", sk_fim_attr_name(bit));
            rc = rc ? rc : attr_value(&b, ch->old, bit, false);
            rc = rc ? rc : sk_buf_append_c(&b, " -> ");
            rc = rc ? rc : attr_value(&b, ch->cur, bit, false);
            rc = rc ? rc : sk_buf_putc(&b, '\n');
        }
    }
    rc = rc ? rc
            : sk_buf_printf(&b,
                            "summary: %u added, %u removed, %u changed, %u "
                            "unreadable\n",
                            r->added, r->removed, r->changed, r->unreadable);
    /* Paths are written as they are; a terminal-hostile name is the
     * operator's to see, and JSON output escapes everything. */
    if (rc == 0 && fwrite(b.p, 1, b.len, f) != b.len)
        rc = -SK_EIO;
    sk_buf_fini(&b);
    return rc;
}

/* ---- JSON and the JSON-lines sink -----------------------------------------
 */

int
sk_fim_json_str(struct sk_buf *b, const char *s, size_t n)
{
    int rc = sk_buf_putc(b, '"');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rc = sk_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            /* Bytes, not code points: file names need not be UTF-8, and
             * this keeps every name representable and reversible. */
            rc = sk_buf_printf(b, "\\u%04x", c);
        else
            rc = sk_buf_putc(b, c);
    }
    return rc ? rc : sk_buf_putc(b, '"');
}

void
sk_fim_jsonl_sink(void *ctx, const char *type, const char *body,
                  size_t body_len)
{
    FILE *f = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(f,
            "{\"ts\":%lld.%06ld,\"source\":\"fim\",\"type\":\"%s\",\"body\":",
            (long long)ts.tv_sec, ts.tv_nsec / 1000, type);
    fwrite(body, 1, body_len, f);
    fputs("}\n", f);
    fflush(f);
}
