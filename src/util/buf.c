/* SPDX-License-Identifier: Apache-2.0 */
/* Growable heap buffers, doubling their capacity. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

int
sk_buf_reserve(struct sk_buf *b, size_t extra)
{
    size_t need;
    if (sk_size_add(b->len, extra, &need) != 0)
        return -SK_ELIMIT;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (sk_size_mul(cap, 2, &cap) != 0)
            return -SK_ELIMIT;
    }
    uint8_t *np = sk_realloc(b->p, cap);
    if (np == NULL)
        return -SK_ENOMEM;
    b->p = np;
    b->cap = cap;
    return 0;
}

int
sk_buf_append(struct sk_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = sk_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int
sk_buf_append_str(struct sk_buf *b, struct sk_str s)
{
    return sk_buf_append(b, s.p, s.len);
}

int
sk_buf_append_c(struct sk_buf *b, const char *s)
{
    return sk_buf_append(b, s, strlen(s));
}

int
sk_buf_putc(struct sk_buf *b, uint8_t c)
{
    return sk_buf_append(b, &c, 1);
}

int
sk_buf_printf(struct sk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -SK_EINVAL;
    int rc = sk_buf_reserve(b, (size_t)n + 1);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void
sk_buf_fini(struct sk_buf *b)
{
    sk_free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

const char *
sk_buf_cstr(struct sk_buf *b)
{
    if (sk_buf_reserve(b, 1) != 0)
        return NULL;
    b->p[b->len] = '\0';
    return (const char *)b->p;
}
