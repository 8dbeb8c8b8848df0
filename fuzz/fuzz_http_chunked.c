/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for sk_http_chunked_decode(). The first byte seeds the
 * way the rest is split; the decoder must give the same payload, result
 * and consumed length whether it gets the input whole, byte by byte or in
 * pseudo-random pieces.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
    uint8_t buf[1 << 16];
    size_t len;
};

static int
sink(void *ud, const uint8_t *p, size_t n)
{
    struct out *o = ud;
    if (n > sizeof(o->buf) - o->len)
        abort(); /* payload cannot exceed the input */
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

/* Feeds `in` in pieces; returns the result and total bytes consumed. */
static int
feed(struct sk_str in, unsigned seed, int mode, struct out *o, size_t *total,
     enum sk_http_err *err)
{
    struct sk_http_chunked st;
    memset(&st, 0, sizeof(st));
    size_t off = 0;
    *total = 0;
    while (off < in.len && !st.done) {
        size_t n = in.len - off;
        if (mode == 1) {
            n = 1;
        } else if (mode == 2) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 7;
            if (n > in.len - off)
                n = in.len - off;
        }
        size_t used = 0;
        int rc = sk_http_chunked_decode(&st, sk_str_make(in.p + off, n), &used,
                                        sink, o, err);
        if (used > n)
            abort();
        off += used;
        *total = off;
        if (rc != 0)
            return rc;
        if (used < n && !st.done)
            abort(); /* everything is consumed unless the body ended */
    }
    return st.done ? 1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    struct sk_str in = sk_str_make(data + 1, size - 1);
    if (in.len > 60000)
        return 0;
    static struct out o[3];
    size_t total[3];
    int rc[3];
    enum sk_http_err err[3];
    for (int m = 0; m < 3; m++) {
        o[m].len = 0;
        rc[m] = feed(in, seed, m, &o[m], &total[m], &err[m]);
    }
    for (int m = 1; m < 3; m++) {
        if (rc[m] != rc[0] || o[m].len != o[0].len ||
            memcmp(o[m].buf, o[0].buf, o[0].len) != 0)
            abort();
        if (rc[0] == 1 && total[m] != total[0])
            abort();
        if (rc[0] < 0 && err[m] != err[0])
            abort();
    }
    return 0;
}
