/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/proxy/tls.c. A self-signed certificate is made at
 * test time in a temporary directory; an OpenSSL client runs in a thread
 * on one end of a socketpair (blocking, with socket timeouts) while the
 * test drives the server end, non-blocking, through the sk_tls_*
 * wrappers and poll(). Checked: TLS 1.3 and 1.2 handshakes, ALPN
 * http/1.1 (and the refusal of h2-only clients), the TLS 1.2 cipher
 * policy and server preference, more than 64 KiB both ways with
 * sk_tls_pending() relied on, clean shutdown from either side, garbage,
 * early EOF, old protocol versions and renegotiation refused with a
 * message, and context loading errors that name the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "proxy/tls.h"
#undef sk_free /* OpenSSL's stack.h alias; see tls.c */
#include "util/alloc.h"
#include "util/error.h"

#define IO_TIMEOUT_MS 10000

static char dir[64];
static char cert_path[128], key_path[128], key2_path[128], enc_key_path[128],
    junk_path[128], missing_path[128];
static struct sk_tls_ctx *ctx;

/* Certificates ------------------------------------------------------------ */

static X509 *
self_signed(EVP_PKEY *k)
{
    X509 *x = X509_new();
    if (x == NULL)
        return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, n);
    if (X509_sign(x, k, EVP_sha256()) == 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int
write_key(const char *path, EVP_PKEY *k, bool encrypted)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = encrypted ? PEM_write_PrivateKey(f, k, EVP_aes_128_cbc(),
                                              (unsigned char *)"secret", 6,
                                              NULL, NULL)
                       : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok == 1 ? 0 : -1;
}

static int
setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/sk-tls-test-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
    snprintf(key2_path, sizeof(key2_path), "%s/other-key.pem", dir);
    snprintf(enc_key_path, sizeof(enc_key_path), "%s/enc-key.pem", dir);
    snprintf(junk_path, sizeof(junk_path), "%s/junk.pem", dir);
    snprintf(missing_path, sizeof(missing_path), "%s/missing.pem", dir);
    EVP_PKEY *k1 = EVP_EC_gen("P-256");
    EVP_PKEY *k2 = EVP_EC_gen("P-256");
    X509 *x = k1 != NULL ? self_signed(k1) : NULL;
    int rc = -1;
    if (x != NULL && k2 != NULL) {
        FILE *f = fopen(cert_path, "w");
        if (f != NULL) {
            int ok = PEM_write_X509(f, x);
            if (fclose(f) == 0 && ok == 1 &&
                write_key(key_path, k1, false) == 0 &&
                write_key(key2_path, k2, false) == 0 &&
                write_key(enc_key_path, k1, true) == 0)
                rc = 0;
        }
        f = fopen(junk_path, "w");
        if (f == NULL || fputs("-----BEGIN CERTIFICATE-----\nnot base64!\n"
                               "-----END CERTIFICATE-----\n",
                               f) < 0)
            rc = -1;
        if (f != NULL && fclose(f) != 0)
            rc = -1;
    }
    X509_free(x);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    if (rc != 0)
        return -1;
    char err[512];
    if (sk_tls_ctx_new(cert_path, key_path, &ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "sk_tls_ctx_new: %s\n", err);
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sk_tls_ctx_free(ctx);
    unlink(cert_path);
    unlink(key_path);
    unlink(key2_path);
    unlink(enc_key_path);
    unlink(junk_path);
    rmdir(dir);
    return 0;
}

/* The client thread ---------------------------------------------------------
 */

enum client_mode {
    C_ECHO = 0,      /* handshake, send n bytes, read them back, close */
    C_HANDSHAKE = 1, /* handshake, then close the socket */
    C_GARBAGE = 2,   /* send `garbage` in clear, then close */
    C_EOF = 3,       /* close at once */
    C_RENEG = 4,     /* handshake, then try to renegotiate (TLS 1.2) */
};

struct client {
    int fd;
    enum client_mode mode;
    int max_version; /* 0: OpenSSL's default */
    int min_version;
    const char *ciphers; /* TLS 1.2 cipher list, NULL for the default */
    const unsigned char *alpn;
    unsigned alpn_len;
    size_t nbytes;
    bool shutdown_first;
    const char *garbage;
    size_t garbage_len;
    /* results */
    bool hs_ok;
    char version[32];
    char alpn_got[32];
    char cipher[64];
    bool compressed;
    bool echo_ok;
    bool got_close_notify;
    bool reneg_refused;
};

static uint8_t
pattern(size_t i)
{
    return (uint8_t)(i * 7 + (i >> 9));
}

static bool
client_write_all(SSL *s, const uint8_t *p, size_t len)
{
    while (len > 0) {
        size_t n = 0;
        if (SSL_write_ex(s, p, len, &n) != 1)
            return false;
        p += n;
        len -= n;
    }
    return true;
}

static void
client_echo(struct client *c, SSL *s)
{
    uint8_t *buf = malloc(c->nbytes);
    if (buf == NULL)
        return;
    for (size_t i = 0; i < c->nbytes; i++)
        buf[i] = pattern(i);
    if (!client_write_all(s, buf, c->nbytes)) {
        free(buf);
        return;
    }
    memset(buf, 0, c->nbytes);
    size_t got = 0;
    while (got < c->nbytes) {
        size_t n = 0;
        if (SSL_read_ex(s, buf + got, c->nbytes - got, &n) != 1)
            break;
        got += n;
    }
    c->echo_ok = got == c->nbytes;
    for (size_t i = 0; c->echo_ok && i < c->nbytes; i++)
        if (buf[i] != pattern(i))
            c->echo_ok = false;
    free(buf);
    uint8_t one;
    size_t n = 0;
    if (c->shutdown_first) {
        if (SSL_shutdown(s) < 0)
            return;
    }
    /* Either way the server's close_notify must come next. */
    int r = SSL_read_ex(s, &one, 1, &n);
    c->got_close_notify =
        r != 1 && SSL_get_error(s, r) == SSL_ERROR_ZERO_RETURN;
    if (!c->shutdown_first)
        SSL_shutdown(s);
}

static void *
client_main(void *arg)
{
    struct client *c = arg;
    if (c->mode == C_EOF)
        goto out;
    if (c->mode == C_GARBAGE) {
        if (write(c->fd, c->garbage, c->garbage_len) < 0)
            goto out;
        char sink[256];
        while (read(c->fd, sink, sizeof(sink)) > 0)
            ;
        goto out;
    }
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    if (cc == NULL)
        goto out;
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
    SSL_CTX_load_verify_file(cc, cert_path);
    if (c->min_version != 0) {
        SSL_CTX_set_security_level(cc, 0); /* let it offer old versions */
        SSL_CTX_set_min_proto_version(cc, c->min_version);
    }
    if (c->max_version != 0)
        SSL_CTX_set_max_proto_version(cc, c->max_version);
    if (c->ciphers != NULL)
        SSL_CTX_set_cipher_list(cc, c->ciphers);
    if (c->alpn != NULL)
        SSL_CTX_set_alpn_protos(cc, c->alpn, c->alpn_len);
    SSL *s = SSL_new(cc);
    if (s == NULL) {
        SSL_CTX_free(cc);
        goto out;
    }
    SSL_set_fd(s, c->fd);
    SSL_set1_host(s, "localhost");
    if (SSL_connect(s) == 1) {
        c->hs_ok = true;
        snprintf(c->version, sizeof(c->version), "%s", SSL_get_version(s));
        snprintf(c->cipher, sizeof(c->cipher), "%s",
                 SSL_CIPHER_get_name(SSL_get_current_cipher(s)));
        c->compressed = SSL_get_current_compression(s) != NULL;
        const unsigned char *a = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(s, &a, &alen);
        if (a != NULL && alen < sizeof(c->alpn_got)) {
            memcpy(c->alpn_got, a, alen);
            c->alpn_got[alen] = '\0';
        }
        if (c->mode == C_ECHO) {
            client_echo(c, s);
        } else if (c->mode == C_RENEG) {
            c->reneg_refused =
                SSL_renegotiate(s) != 1 || SSL_do_handshake(s) != 1;
        }
    }
    SSL_free(s);
    SSL_CTX_free(cc);
out:
    ERR_clear_error();
    close(c->fd);
    return NULL;
}

/* The server side, driven like the worker's event loop --------------------- */

struct run {
    pthread_t th;
    int sfd;
    struct sk_tls_conn *t;
};

static void
start(struct run *r, struct client *c)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int fl = fcntl(sv[0], F_GETFL);
    assert_int_not_equal(fl, -1);
    assert_int_not_equal(fcntl(sv[0], F_SETFL, fl | O_NONBLOCK), -1);
    struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    r->sfd = sv[0];
    c->fd = sv[1];
    assert_int_equal(sk_tls_conn_new(ctx, r->sfd, &r->t), 0);
    assert_int_equal(pthread_create(&r->th, NULL, client_main, c), 0);
}

static void
finish(struct run *r)
{
    sk_tls_conn_free(r->t);
    close(r->sfd);
    pthread_join(r->th, NULL);
}

/* Waits for what an SK_AGAIN asked for; fails the test on a timeout. */
static void
wait_for(int fd, int want)
{
    assert_true(want == SK_TLS_WANT_READ || want == SK_TLS_WANT_WRITE);
    struct pollfd p = {fd, want == SK_TLS_WANT_READ ? POLLIN : POLLOUT, 0};
    int n = poll(&p, 1, IO_TIMEOUT_MS);
    if (n != 1)
        fail_msg("poll: %d (%s)", n, n < 0 ? strerror(errno) : "timeout");
}

static int
srv_handshake(struct run *r)
{
    for (;;) {
        int want = 0;
        int rc = sk_tls_handshake(r->t, &want);
        if (rc != SK_AGAIN)
            return rc;
        wait_for(r->sfd, want);
    }
}

/*
 * Reads exactly len bytes in small pieces. Between reads it polls the
 * socket only when sk_tls_pending() says nothing is buffered: if that
 * were wrong, the last records would sit in OpenSSL while poll() times
 * out, since the client sends nothing more until it gets its echo.
 */
static void
srv_read_exact(struct run *r, uint8_t *buf, size_t len, bool *saw_pending)
{
    size_t got = 0;
    while (got < len) {
        size_t want_n = len - got < 1000 ? len - got : 1000;
        size_t n = 0;
        int want = 0;
        int rc = sk_tls_read(r->t, buf + got, want_n, &n, &want);
        if (rc == SK_AGAIN) {
            assert_false(sk_tls_pending(r->t));
            wait_for(r->sfd, want);
            continue;
        }
        if (rc != 0 || n == 0)
            fail_msg("read at %zu: rc %d n %zu: %s", got, rc, n,
                     sk_tls_conn_error(r->t));
        got += n;
        if (sk_tls_pending(r->t)) {
            *saw_pending = true;
            continue;
        }
        if (got < len)
            wait_for(r->sfd, SK_TLS_WANT_READ);
    }
}

static void
srv_write_all(struct run *r, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t n = 0;
        int want = 0;
        int rc = sk_tls_write(r->t, buf + off, len - off, &n, &want);
        if (rc == SK_AGAIN) {
            wait_for(r->sfd, want);
            continue;
        }
        if (rc != 0)
            fail_msg("write: rc %d: %s", rc, sk_tls_conn_error(r->t));
        off += n;
    }
}

static void
srv_shutdown(struct run *r)
{
    for (;;) {
        int want = 0;
        int rc = sk_tls_shutdown(r->t, &want);
        if (rc != SK_AGAIN) {
            assert_int_equal(rc, 0);
            return;
        }
        wait_for(r->sfd, want);
    }
}

/* Reads until the client's close_notify (or EOF); returns the last rc. */
static int
srv_read_eof(struct run *r)
{
    uint8_t b[256];
    for (;;) {
        size_t n = 0;
        int want = 0;
        int rc = sk_tls_read(r->t, b, sizeof(b), &n, &want);
        if (rc == SK_AGAIN) {
            wait_for(r->sfd, want);
            continue;
        }
        if (rc != 0 || n == 0)
            return rc;
    }
}

/* Handshake, echo of c->nbytes, then a shutdown from the side chosen. */
static void
echo_session(struct client *c, const char *want_version)
{
    struct run r;
    start(&r, c);
    int rc = srv_handshake(&r);
    if (rc != 0)
        fail_msg("handshake: %d: %s", rc, sk_tls_conn_error(r.t));
    assert_string_equal(sk_tls_conn_version(r.t), want_version);
    uint8_t *buf = malloc(c->nbytes);
    assert_non_null(buf);
    bool saw_pending = false;
    srv_read_exact(&r, buf, c->nbytes, &saw_pending);
    for (size_t i = 0; i < c->nbytes; i++)
        if (buf[i] != pattern(i))
            fail_msg("byte %zu differs", i);
    /* Reads of 1000 bytes out of 16 KiB records leave some behind. */
    assert_true(saw_pending);
    srv_write_all(&r, buf, c->nbytes);
    free(buf);
    if (c->shutdown_first) {
        size_t n = 1;
        int want = 0;
        uint8_t b;
        do {
            rc = sk_tls_read(r.t, &b, 1, &n, &want);
            if (rc == SK_AGAIN)
                wait_for(r.sfd, want);
        } while (rc == SK_AGAIN);
        assert_int_equal(rc, 0);
        assert_int_equal(n, 0); /* the close_notify */
        srv_shutdown(&r);
    } else {
        srv_shutdown(&r);
        assert_int_equal(srv_read_eof(&r), 0);
    }
    /* Writing after the shutdown is refused without I/O. */
    size_t n = 0;
    int want = 0;
    assert_int_equal(sk_tls_write(r.t, "x", 1, &n, &want), -SK_EIO);
    finish(&r);
    assert_true(c->hs_ok);
    assert_string_equal(c->version, want_version);
    assert_true(c->echo_ok);
    assert_true(c->got_close_notify);
    assert_false(c->compressed);
}

/* Handshakes that must fail on the server with a message containing
 * `needle`. */
static void
expect_handshake_failure(struct client *c, const char *needle)
{
    struct run r;
    start(&r, c);
    int rc = srv_handshake(&r);
    const char *msg = sk_tls_conn_error(r.t);
    if (rc != -SK_EIO || strstr(msg, needle) == NULL ||
        strncmp(msg, "TLS handshake: ", 15) != 0)
        fail_msg("rc %d, message \"%s\", want -SK_EIO and \"%s\"", rc, msg,
                 needle);
    /* A failed connection stays failed and needs no shutdown. */
    int want = 0;
    assert_int_equal(sk_tls_handshake(r.t, &want), -SK_EIO);
    assert_int_equal(sk_tls_shutdown(r.t, &want), 0);
    assert_false(sk_tls_pending(r.t));
    finish(&r);
    assert_false(c->hs_ok);
}

/* Tests ---------------------------------------------------------------------
 */

static const unsigned char alpn_h2_h11[] = "\x02h2\x08http/1.1";

static void
test_tls13_echo(void **state)
{
    (void)state;
    struct client c = {.mode = C_ECHO,
                       .alpn = alpn_h2_h11,
                       .alpn_len = sizeof(alpn_h2_h11) - 1,
                       .nbytes = 200 * 1024};
    echo_session(&c, "TLSv1.3");
    assert_string_equal(c.alpn_got, "http/1.1");
}

static void
test_tls12_echo_client_closes(void **state)
{
    (void)state;
    static const unsigned char alpn[] = "\x08http/1.1";
    struct client c = {.mode = C_ECHO,
                       .max_version = TLS1_2_VERSION,
                       .alpn = alpn,
                       .alpn_len = sizeof(alpn) - 1,
                       .nbytes = 70 * 1024,
                       .shutdown_first = true};
    echo_session(&c, "TLSv1.2");
    assert_string_equal(c.alpn_got, "http/1.1");
    assert_non_null(strstr(c.cipher, "ECDHE-"));
    assert_true(strstr(c.cipher, "GCM") != NULL ||
                strstr(c.cipher, "CHACHA20") != NULL);
}

static void
test_no_alpn(void **state)
{
    (void)state;
    struct client c = {.mode = C_ECHO, .nbytes = 20000};
    echo_session(&c, "TLSv1.3");
    assert_string_equal(c.alpn_got, "");
}

static void
test_alpn_h2_only_refused(void **state)
{
    (void)state;
    static const unsigned char alpn[] = "\x02h2";
    struct client c = {
        .mode = C_HANDSHAKE, .alpn = alpn, .alpn_len = sizeof(alpn) - 1};
    expect_handshake_failure(&c, "application protocol");
}

static void
test_tls12_server_preference(void **state)
{
    (void)state;
    /* The client prefers AES-128; the server's order puts AES-256 first. */
    struct client c = {
        .mode = C_HANDSHAKE,
        .max_version = TLS1_2_VERSION,
        .ciphers =
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"};
    struct run r;
    start(&r, &c);
    assert_int_equal(srv_handshake(&r), 0);
    assert_string_equal(sk_tls_conn_version(r.t), "TLSv1.2");
    finish(&r);
    assert_true(c.hs_ok);
    assert_string_equal(c.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
}

static void
test_tls12_weak_ciphers_refused(void **state)
{
    (void)state;
    /* No forward secrecy, or no AEAD: no shared cipher. */
    struct client c1 = {.mode = C_HANDSHAKE,
                        .max_version = TLS1_2_VERSION,
                        .ciphers = "AES128-GCM-SHA256:AES256-SHA256"};
    expect_handshake_failure(&c1, "no shared cipher");
    struct client c2 = {.mode = C_HANDSHAKE,
                        .max_version = TLS1_2_VERSION,
                        .ciphers = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-"
                                   "AES256-SHA"};
    expect_handshake_failure(&c2, "no shared cipher");
}

static void
test_old_versions_refused(void **state)
{
    (void)state;
    struct client c = {.mode = C_HANDSHAKE,
                       .min_version = TLS1_VERSION,
                       .max_version = TLS1_1_VERSION};
    expect_handshake_failure(&c, "unsupported protocol");
}

static void
test_garbage_refused(void **state)
{
    (void)state;
    static const char http[] = "GET / HTTP/1.1\r\nHost: shop\r\n\r\n";
    struct client c1 = {
        .mode = C_GARBAGE, .garbage = http, .garbage_len = sizeof(http) - 1};
    expect_handshake_failure(&c1, "http request");
    /* A handshake record whose body is not a ClientHello. */
    static const char rec[] = "\x16\x03\x01\x00\x08\x01\x00\x00\x04zzzz";
    struct client c2 = {
        .mode = C_GARBAGE, .garbage = rec, .garbage_len = sizeof(rec) - 1};
    expect_handshake_failure(&c2, "length mismatch");
    /* Not even a record header. */
    static const char bin[] = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09";
    struct client c3 = {
        .mode = C_GARBAGE, .garbage = bin, .garbage_len = sizeof(bin) - 1};
    expect_handshake_failure(&c3, "wrong version number");
}

static void
test_eof_in_handshake(void **state)
{
    (void)state;
    struct client c = {.mode = C_EOF};
    expect_handshake_failure(&c, "closed");
}

static void
test_renegotiation_refused(void **state)
{
    (void)state;
    struct client c = {.mode = C_RENEG, .max_version = TLS1_2_VERSION};
    struct run r;
    start(&r, &c);
    assert_int_equal(srv_handshake(&r), 0);
    /* The server reads on; the client's renegotiation must fail, after
     * which it goes away. */
    int rc = srv_read_eof(&r);
    assert_true(rc == 0 || rc == -SK_EIO);
    finish(&r);
    assert_true(c.hs_ok);
    assert_true(c.reneg_refused);
}

static void
test_bad_arguments(void **state)
{
    (void)state;
    struct client c = {.mode = C_HANDSHAKE};
    struct run r;
    start(&r, &c);
    assert_string_equal(sk_tls_conn_version(r.t), "unknown");
    assert_string_equal(sk_tls_conn_error(r.t), "");
    /* No shutdown before the handshake: there is nothing to close. */
    int want = 0;
    assert_int_equal(sk_tls_shutdown(r.t, &want), 0);
    assert_int_equal(srv_handshake(&r), 0);
    uint8_t b[1];
    size_t n = 7;
    assert_int_equal(sk_tls_read(r.t, b, 0, &n, &want), -SK_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(sk_tls_write(r.t, b, 0, &n, &want), 0);
    assert_int_equal(n, 0);
    finish(&r);
}

static void
expect_ctx_error(const char *cert, const char *key, const char *needle1,
                 const char *needle2)
{
    struct sk_tls_ctx *c = (struct sk_tls_ctx *)&c;
    char err[512];
    int rc = sk_tls_ctx_new(cert, key, &c, err, sizeof(err));
    assert_true(rc < 0);
    assert_null(c);
    if (strstr(err, needle1) == NULL || strstr(err, needle2) == NULL)
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err, needle1,
                 needle2);
    /* The failure leaves nothing in OpenSSL's queue for the next call. */
    assert_int_equal(ERR_peek_error(), 0);
}

static void
test_ctx_errors(void **state)
{
    (void)state;
    expect_ctx_error(cert_path, key2_path, key2_path, "does not match");
    expect_ctx_error(missing_path, key_path, missing_path, "certificate");
    expect_ctx_error(junk_path, key_path, junk_path, "certificate");
    expect_ctx_error(cert_path, missing_path, missing_path, "private key");
    expect_ctx_error(cert_path, junk_path, junk_path, "private key");
    expect_ctx_error(cert_path, enc_key_path, enc_key_path, "unencrypted");
    /* The key file given as the chain. */
    expect_ctx_error(key_path, key_path, key_path, "certificate");
    /* A NULL err buffer is allowed. */
    struct sk_tls_ctx *c = NULL;
    assert_true(sk_tls_ctx_new(cert_path, key2_path, &c, NULL, 0) < 0);
    assert_null(c);
    sk_tls_ctx_free(NULL);
    sk_tls_conn_free(NULL);
    /* Allocation failures. */
    char err[512];
    sk_alloc_fail_at(1, 1);
    int rc = sk_tls_ctx_new(cert_path, key_path, &c, err, sizeof(err));
    sk_alloc_fail_at(0, 0);
    assert_int_equal(rc, -SK_ENOMEM);
    assert_null(c);
    struct sk_tls_conn *t = (struct sk_tls_conn *)&t;
    sk_alloc_fail_at(1, 1);
    rc = sk_tls_conn_new(ctx, 0, &t);
    sk_alloc_fail_at(0, 0);
    assert_int_equal(rc, -SK_ENOMEM);
    assert_null(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls13_echo),
        cmocka_unit_test(test_tls12_echo_client_closes),
        cmocka_unit_test(test_no_alpn),
        cmocka_unit_test(test_alpn_h2_only_refused),
        cmocka_unit_test(test_tls12_server_preference),
        cmocka_unit_test(test_tls12_weak_ciphers_refused),
        cmocka_unit_test(test_old_versions_refused),
        cmocka_unit_test(test_garbage_refused),
        cmocka_unit_test(test_eof_in_handshake),
        cmocka_unit_test(test_renegotiation_refused),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_ctx_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
