/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable byte buffers on the heap. A zeroed struct sk_buf is empty and
 * valid; growth reports a status and never hands back a new pointer, so a
 * failed append leaves the buffer as it was.
 */
#ifndef SK_UTIL_BUF_H
#define SK_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/str.h"

struct sk_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

/* Ensures room for `extra` more bytes; -SK_ENOMEM / -SK_ELIMIT on error. */
int sk_buf_reserve(struct sk_buf *b, size_t extra);

/* Appends bytes; 0 or a negative SK_E* code (buffer unchanged). */
int sk_buf_append(struct sk_buf *b, const void *p, size_t n);
int sk_buf_append_str(struct sk_buf *b, struct sk_str s);
int sk_buf_append_c(struct sk_buf *b, const char *s);
int sk_buf_putc(struct sk_buf *b, uint8_t c);
int sk_buf_printf(struct sk_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keeps the memory; sets len to 0. */
static inline void
sk_buf_clear(struct sk_buf *b)
{
    b->len = 0;
}

/* Frees the memory and zeroes the struct. */
void sk_buf_fini(struct sk_buf *b);

/*
 * Returns a NUL-terminated C string view of the contents (the NUL is not
 * counted in len), or NULL on OOM. Valid until the next change.
 */
const char *sk_buf_cstr(struct sk_buf *b);

static inline struct sk_str
sk_buf_str(const struct sk_buf *b)
{
    return sk_str_make(b->p, b->len);
}

#endif
