/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS termination with OpenSSL 3 for the proxy's listeners. A server
 * context holds one certificate chain and its key with fixed, secure
 * settings (docs/proxy-tls.md): TLS 1.2 and 1.3 only, ECDHE with AEAD
 * ciphers for 1.2 in the server's order, no compression, no
 * renegotiation, ALPN "http/1.1". Connections are driven by the worker's
 * event loop through non-blocking wrappers that turn OpenSSL's
 * SSL_ERROR_WANT_* into SK_AGAIN plus a want flag, and its error queue
 * into one message per connection. The error queue is cleared before each
 * call, since SSL_get_error() reads it, and drained after each, so that
 * one connection's failure never shows up in another's message.
 */
#include "proxy/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* OpenSSL's stack.h maps the old name sk_free to OPENSSL_sk_free; this
 * file uses no OpenSSL stacks, and needs our allocator's sk_free. */
#undef sk_free

#include "util/alloc.h"
#include "util/error.h"

/*
 * TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only, strongest
 * first; ECDSA and RSA certificates both work. TLS 1.3 suites are all
 * AEAD with ephemeral key exchange by design.
 */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!PSK:!aNULL"
#define TLS13_SUITES                                                           \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                           \
    "TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"

struct sk_tls_ctx {
    SSL_CTX *ctx;
};

struct sk_tls_conn {
    SSL *ssl;
    bool failed;   /* a fatal error: no more I/O, no close_notify */
    bool shut;     /* our close_notify went out */
    char err[256]; /* the last error message, "" if none */
};

/*
 * Appends the reasons of OpenSSL's queued errors to buf (after what it
 * holds), oldest (the root cause) first, "; " between them, and empties
 * the queue. Repeated reasons and the generic "system lib" / "PEM lib"
 * wrappers that follow a real reason are left out. Returns whether any
 * error was queued.
 */
static bool
drain_errors(char *buf, size_t len)
{
    bool any = false;
    size_t start = strlen(buf);
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        any = true;
        char one[128];
        if (ERR_SYSTEM_ERROR(e)) {
            snprintf(one, sizeof(one), "%s", strerror(ERR_GET_REASON(e)));
        } else {
            const char *reason = ERR_reason_error_string(e);
            if (reason == NULL) {
                ERR_error_string_n(e, one, sizeof(one));
            } else {
                if (strlen(buf) > start && (strcmp(reason, "system lib") == 0 ||
                                            strcmp(reason, "PEM lib") == 0))
                    continue;
                snprintf(one, sizeof(one), "%s", reason);
            }
        }
        if (strstr(buf + start, one) != NULL)
            continue;
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", used > start ? "; " : "", one);
    }
    return any;
}

/* No passphrase prompts: a worker has no terminal, and it would block. */
static int
no_passphrase(char *buf, int size, int rwflag, void *ud)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)ud;
    return -1;
}

/*
 * ALPN: the proxy speaks HTTP/1.x only. A client that offers http/1.1
 * (or only http/1.0) gets it; a client that offers ALPN without either
 * (h2 only, acme-tls/1, ...) gets the fatal no_application_protocol alert
 * of RFC 7301 section 3.2 rather than a connection it would misread. A
 * client that sends no ALPN at all is served HTTP/1.1 without it.
 */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
            const unsigned char *in, unsigned int inlen, void *ud)
{
    (void)ssl;
    (void)ud;
    static const char *const ours[] = {"http/1.1", "http/1.0"};
    for (size_t k = 0; k < sizeof(ours) / sizeof(ours[0]); k++) {
        size_t want = strlen(ours[k]);
        unsigned int i = 0;
        while (i < inlen) {
            unsigned int n = in[i];
            if (n == 0 || n > inlen - i - 1)
                return SSL_TLSEXT_ERR_ALERT_FATAL; /* malformed list */
            if (n == want && memcmp(in + i + 1, ours[k], n) == 0) {
                *out = in + i + 1;
                *outlen = (unsigned char)n;
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + n;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Writes "what: <queued OpenSSL errors or fallback>" into err. */
static void
ctx_error(char *err, size_t errlen, const char *what, const char *fallback)
{
    if (err == NULL || errlen == 0) {
        ERR_clear_error();
        return;
    }
    char reasons[200] = "";
    if (!drain_errors(reasons, sizeof(reasons)))
        snprintf(reasons, sizeof(reasons), "%s", fallback);
    snprintf(err, errlen, "%s: %s", what, reasons);
}

/*
 * Creates a server context from a PEM certificate chain (leaf first) and
 * a PEM private key (unencrypted: there is nobody to type a passphrase),
 * and checks that the key matches the leaf. Returns 0 with *out (owned by
 * the caller, freed with sk_tls_ctx_free()), -SK_EINVAL with a message
 * naming the file at fault in err (the certificate or key file cannot be
 * read or parsed, or they do not match), or -SK_ENOMEM. Blocks on file
 * I/O: call it in the master before forking workers.
 */
int
sk_tls_ctx_new(const char *cert_chain, const char *key, struct sk_tls_ctx **out,
               char *err, size_t errlen)
{
    char what[512];
    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    ERR_clear_error();
    struct sk_tls_ctx *c = sk_calloc(1, sizeof(*c));
    if (c == NULL) {
        ctx_error(err, errlen, "TLS context", "out of memory");
        return -SK_ENOMEM;
    }
    c->ctx = SSL_CTX_new(TLS_server_method());
    if (c->ctx == NULL) {
        ctx_error(err, errlen, "TLS context", "cannot create");
        sk_free(c);
        return -SK_ENOMEM;
    }
    SSL_CTX *x = c->ctx;
    SSL_CTX_set_options(x, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_PRIORITIZE_CHACHA);
    /* Partial writes and a retry buffer that may move suit an event
     * loop whose output buffer is compacted between calls; idle
     * keep-alive connections give their record buffers back. */
    SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    /*
     * Resumption uses stateless tickets only: the per-worker session
     * cache would not be shared between workers anyway. The ticket key
     * is OpenSSL's random one from SSL_CTX_new(), made here in the master
     * and so shared by the workers it forks; it lives as long as the
     * context (a reload makes a new one).
     */
    SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_security_level(x, 2);
    SSL_CTX_set_default_passwd_cb(x, no_passphrase);
    SSL_CTX_set_alpn_select_cb(x, alpn_select, NULL);
    if (SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(x, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(x, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(x, TLS13_SUITES) != 1 ||
        SSL_CTX_set1_groups_list(x, TLS_GROUPS) != 1) {
        ctx_error(err, errlen, "TLS settings", "rejected by OpenSSL");
        sk_tls_ctx_free(c);
        return -SK_EINVAL;
    }
    errno = 0;
    if (SSL_CTX_use_certificate_chain_file(x, cert_chain) != 1) {
        int e = errno;
        snprintf(what, sizeof(what), "%s: cannot load the certificate chain",
                 cert_chain);
        ctx_error(err, errlen, what, e != 0 ? strerror(e) : "no certificate");
        sk_tls_ctx_free(c);
        return -SK_EINVAL;
    }
    /* The key is read here rather than by SSL_CTX_use_PrivateKey_file()
     * to tell an unreadable key from one that does not match. */
    errno = 0;
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_file(key, "r");
    if (bio != NULL) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    }
    if (pkey == NULL) {
        int e = errno;
        snprintf(what, sizeof(what),
                 "%s: cannot read the private key (an unencrypted PEM key "
                 "is needed)",
                 key);
        ctx_error(err, errlen, what, e != 0 ? strerror(e) : "no key");
        sk_tls_ctx_free(c);
        return -SK_EINVAL;
    }
    X509 *leaf = SSL_CTX_get0_certificate(x);
    if (leaf == NULL || X509_check_private_key(leaf, pkey) != 1) {
        EVP_PKEY_free(pkey);
        snprintf(what, sizeof(what),
                 "%s: the private key does not match the certificate in %s",
                 key, cert_chain);
        ctx_error(err, errlen, what, "mismatch");
        sk_tls_ctx_free(c);
        return -SK_EINVAL;
    }
    int ok = SSL_CTX_use_PrivateKey(x, pkey);
    EVP_PKEY_free(pkey); /* the context holds its own reference */
    if (ok != 1 || SSL_CTX_check_private_key(x) != 1) {
        snprintf(what, sizeof(what), "%s: cannot use the private key", key);
        ctx_error(err, errlen, what, "rejected by OpenSSL");
        sk_tls_ctx_free(c);
        return -SK_EINVAL;
    }
    ERR_clear_error();
    *out = c;
    return 0;
}

/* Frees a context (NULL is accepted). Connections made from it keep their
 * own reference and may outlive it. Never blocks. */
void
sk_tls_ctx_free(struct sk_tls_ctx *c)
{
    if (c == NULL)
        return;
    SSL_CTX_free(c->ctx);
    sk_free(c);
}

/*
 * Wraps an accepted socket `fd` (non-blocking, still owned by the caller,
 * who closes it after sk_tls_conn_free()) as the server side of a TLS
 * connection. Returns 0 with *out (owned by the caller) or -SK_ENOMEM.
 * Never blocks.
 */
int
sk_tls_conn_new(struct sk_tls_ctx *c, int fd, struct sk_tls_conn **out)
{
    *out = NULL;
    ERR_clear_error();
    struct sk_tls_conn *t = sk_calloc(1, sizeof(*t));
    if (t == NULL)
        return -SK_ENOMEM;
    t->ssl = SSL_new(c->ctx);
    /* SSL_set_fd() makes a socket BIO that does not close the fd. */
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        ERR_clear_error();
        sk_tls_conn_free(t);
        return -SK_ENOMEM;
    }
    SSL_set_accept_state(t->ssl);
    *out = t;
    return 0;
}

/* Frees a connection without any I/O (NULL is accepted); the fd stays
 * open. Never blocks. */
void
sk_tls_conn_free(struct sk_tls_conn *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    sk_free(t);
}

/*
 * Turns a failed OpenSSL call into SK_AGAIN with *want, or -SK_EIO with
 * t->err ("op: reason"). *eof is set (and 0 returned) when the peer ended
 * the stream and the caller accepts that (`eof` not NULL): a close_notify,
 * or a TCP EOF without one.
 */
static int
io_result(struct sk_tls_conn *t, int ret, const char *op, int *want, bool *eof)
{
    int saved = errno;
    int e = SSL_get_error(t->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = SK_TLS_WANT_READ;
        return SK_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = SK_TLS_WANT_WRITE;
        return SK_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        if (eof != NULL) {
            *eof = true;
            return 0;
        }
        snprintf(t->err, sizeof(t->err), "%s: the peer closed TLS", op);
        t->failed = true;
        return -SK_EIO;
    default:
        break;
    }
    t->failed = true;
    /* OpenSSL 3 reports a TCP EOF without close_notify as an SSL error
     * with this reason (or, from some paths, as SYSCALL with errno 0). */
    unsigned long top = ERR_peek_last_error();
    bool tcp_eof =
        (e == SSL_ERROR_SSL && ERR_GET_LIB(top) == ERR_LIB_SSL &&
         ERR_GET_REASON(top) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
        (e == SSL_ERROR_SYSCALL && top == 0 && saved == 0);
    if (tcp_eof && eof != NULL) {
        /* Nothing to answer: the session is not resumable after this. */
        ERR_clear_error();
        *eof = true;
        return 0;
    }
    int n = snprintf(t->err, sizeof(t->err), "%s: ", op);
    if (n < 0 || (size_t)n >= sizeof(t->err))
        n = 0;
    t->err[n] = '\0';
    if (tcp_eof) {
        ERR_clear_error();
        snprintf(t->err + n, sizeof(t->err) - (size_t)n,
                 "the peer closed the connection");
    } else if (!drain_errors(t->err + n, sizeof(t->err) - (size_t)n)) {
        snprintf(t->err + n, sizeof(t->err) - (size_t)n, "%s",
                 e == SSL_ERROR_SYSCALL && saved != 0 ? strerror(saved)
                                                      : "unknown error");
    }
    return -SK_EIO;
}

/*
 * Advances the server handshake. Returns 0 once it is complete, SK_AGAIN
 * with *want, or -SK_EIO (the client does not speak TLS 1.2+, offers no
 * common cipher or ALPN protocol, sent garbage, or went away) with the
 * reason in sk_tls_conn_error(). Never blocks.
 */
int
sk_tls_handshake(struct sk_tls_conn *t, int *want)
{
    *want = 0;
    if (t->failed)
        return -SK_EIO;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(t->ssl);
    if (ret == 1)
        return 0;
    return io_result(t, ret, "TLS handshake", want, NULL);
}

/*
 * Reads up to `len` (> 0) decrypted bytes into buf. Returns 0 with *n > 0,
 * 0 with *n == 0 when the client ended the stream (close_notify, or a TCP
 * EOF without one, which leaves the connection failed), SK_AGAIN with
 * *want (a read may need to write, e.g. during a key update), or -SK_EIO
 * / -SK_EINVAL (len 0). Never blocks. Also completes a pending handshake.
 */
int
sk_tls_read(struct sk_tls_conn *t, void *buf, size_t len, size_t *n, int *want)
{
    *n = 0;
    *want = 0;
    if (len == 0)
        return -SK_EINVAL;
    if (t->failed)
        return -SK_EIO;
    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(t->ssl, buf, len, n) == 1)
        return 0;
    bool eof = false;
    int rc = io_result(t, 0, "TLS read", want, &eof);
    *n = 0;
    return rc;
}

/*
 * Encrypts and sends up to `len` bytes of buf. Returns 0 with *n bytes
 * taken (possibly fewer than len: partial writes are on), SK_AGAIN with
 * *want, or -SK_EIO. After SK_AGAIN, call again with the same bytes (at
 * least `len` of them; the buffer may have moved): OpenSSL may already
 * hold part of them in a record. Never blocks.
 */
int
sk_tls_write(struct sk_tls_conn *t, const void *buf, size_t len, size_t *n,
             int *want)
{
    *n = 0;
    *want = 0;
    if (len == 0)
        return 0;
    if (t->failed || t->shut) {
        snprintf(t->err, sizeof(t->err), "TLS write: connection %s",
                 t->failed ? "failed" : "shut down");
        return -SK_EIO;
    }
    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(t->ssl, buf, len, n) == 1)
        return 0;
    *n = 0;
    return io_result(t, 0, "TLS write", want, NULL);
}

/*
 * Sends our close_notify. Returns 0 once it is out (we do not wait for
 * the client's: RFC 8446 section 6.1 lets the closing side close the
 * connection then), SK_AGAIN with *want, or -SK_EIO. Does nothing and
 * returns 0 after a fatal error or before the handshake finished, since
 * there is no TLS session to close then. Never blocks.
 */
int
sk_tls_shutdown(struct sk_tls_conn *t, int *want)
{
    *want = 0;
    if (t->failed || t->shut || !SSL_is_init_finished(t->ssl))
        return 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_shutdown(t->ssl);
    if (ret >= 0) {
        t->shut = true;
        return 0;
    }
    return io_result(t, ret, "TLS shutdown", want, NULL);
}

/*
 * Whether decrypted bytes wait inside OpenSSL (read-ahead is off, so no
 * whole record waits undecrypted). Never blocks.
 */
bool
sk_tls_pending(const struct sk_tls_conn *t)
{
    return !t->failed && SSL_pending(t->ssl) > 0;
}

/* The negotiated version ("TLSv1.3"), static; "unknown" before the
 * handshake. Never blocks. */
const char *
sk_tls_conn_version(const struct sk_tls_conn *t)
{
    if (!SSL_is_init_finished(t->ssl))
        return "unknown";
    return SSL_get_version(t->ssl);
}

/* The last error message ("" if none), owned by t and valid until its
 * next call. Never blocks. */
const char *
sk_tls_conn_error(const struct sk_tls_conn *t)
{
    return t->err;
}
