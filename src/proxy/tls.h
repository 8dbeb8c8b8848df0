/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS termination with OpenSSL 3 for the proxy's listeners: a server
 * context per certificate (chain + key, TLS 1.2 and 1.3, ALPN http/1.1,
 * modern ciphers, no renegotiation, no compression, session tickets with
 * a per-process key) and non-blocking connection wrappers that an epoll
 * loop drives. Nothing here blocks.
 */
#ifndef SK_PROXY_TLS_H
#define SK_PROXY_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct sk_tls_ctx;
struct sk_tls_conn;

/* What a call that returned SK_AGAIN waits for. */
enum sk_tls_want {
    SK_TLS_WANT_READ = 1,
    SK_TLS_WANT_WRITE = 2,
};

/*
 * Loads a certificate chain (PEM, leaf first) and its private key, checks
 * that they match. On failure returns a negative error and writes a
 * message naming the file and OpenSSL's reason into err. Blocks (file
 * I/O); call before forking workers.
 */
int sk_tls_ctx_new(const char *cert_chain, const char *key,
                   struct sk_tls_ctx **out, char *err, size_t errlen);
void sk_tls_ctx_free(struct sk_tls_ctx *c);

/* Wraps an accepted, non-blocking socket. 0 or -SK_ENOMEM. */
int sk_tls_conn_new(struct sk_tls_ctx *c, int fd, struct sk_tls_conn **out);
void sk_tls_conn_free(struct sk_tls_conn *t);

/*
 * Each returns 0 on progress, SK_AGAIN with *want set, or a negative error
 * (-SK_EIO: the peer broke the protocol or reset; the message is in
 * sk_tls_conn_error()). sk_tls_read sets *n to 0 on a clean close_notify
 * or EOF. Writes may be partial (*n).
 * Added details (tls.c, docs/proxy-tls.md): sk_tls_read with len 0 is
 * -SK_EINVAL; after SK_AGAIN from sk_tls_write, retry with the same bytes
 * (at least as many; the buffer may move); sk_tls_shutdown returns 0 once
 * our close_notify is out without waiting for the peer's, and does nothing
 * after a fatal error or before the handshake completed. The process must
 * ignore SIGPIPE.
 */
int sk_tls_handshake(struct sk_tls_conn *t, int *want);
int sk_tls_read(struct sk_tls_conn *t, void *buf, size_t len, size_t *n,
                int *want);
int sk_tls_write(struct sk_tls_conn *t, const void *buf, size_t len, size_t *n,
                 int *want);
int sk_tls_shutdown(struct sk_tls_conn *t, int *want);

/* Bytes already decrypted and waiting (epoll will not report them). */
bool sk_tls_pending(const struct sk_tls_conn *t);

/* "TLSv1.3" etc. after the handshake; the last error message. Static or
 * owned by t. */
const char *sk_tls_conn_version(const struct sk_tls_conn *t);
const char *sk_tls_conn_error(const struct sk_tls_conn *t);

#endif
