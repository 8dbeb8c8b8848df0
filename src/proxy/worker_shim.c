/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TEMPORARY LINK SHIM, NOT AN IMPLEMENTATION: stands in for tls.c and
 * events.c (helpers h/tls and h/logs) until they are merged, so that the
 * worker links and its plain-HTTP tests run. Every function fails; a TLS
 * listener or an event log cannot work with it. Deleted once the real
 * files are merged.
 */
#include "proxy/events.h"
#include "proxy/tls.h"
#include "util/error.h"

int
sk_tls_conn_new(struct sk_tls_ctx *c, int fd, struct sk_tls_conn **out)
{
    (void)c;
    (void)fd;
    *out = NULL;
    return -SK_ENOTSUP;
}

void
sk_tls_conn_free(struct sk_tls_conn *t)
{
    (void)t;
}

int
sk_tls_handshake(struct sk_tls_conn *t, int *want)
{
    (void)t;
    (void)want;
    return -SK_ENOTSUP;
}

int
sk_tls_read(struct sk_tls_conn *t, void *buf, size_t len, size_t *n, int *want)
{
    (void)t;
    (void)buf;
    (void)len;
    (void)n;
    (void)want;
    return -SK_ENOTSUP;
}

int
sk_tls_write(struct sk_tls_conn *t, const void *buf, size_t len, size_t *n,
             int *want)
{
    (void)t;
    (void)buf;
    (void)len;
    (void)n;
    (void)want;
    return -SK_ENOTSUP;
}

int
sk_tls_shutdown(struct sk_tls_conn *t, int *want)
{
    (void)t;
    (void)want;
    return -SK_ENOTSUP;
}

bool
sk_tls_pending(const struct sk_tls_conn *t)
{
    (void)t;
    return false;
}

const char *
sk_tls_conn_error(const struct sk_tls_conn *t)
{
    (void)t;
    return "TLS not built (link shim)";
}

int
sk_proxy_events_emit(struct sk_proxy_events *e, const char *type,
                     struct sk_str body)
{
    (void)e;
    (void)type;
    (void)body;
    return -SK_ENOTSUP;
}
