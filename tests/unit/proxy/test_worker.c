/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the proxy worker (src/proxy/worker.c, conn.c,
 * upstream.c) over real loopback sockets: each test forks a worker on
 * 127.0.0.1:0 with a hand-built runtime (config filled in code, rules
 * compiled from text, shared state in an anonymous shared mapping) in
 * front of a small forked HTTP/1.1 upstream on another loopback port, and
 * talks to it with raw sockets. Every socket has a receive timeout, every
 * child is killed and reaped in teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "proxy/plog.h"
#include "proxy/proxy.h"
#include "proxy/tls.h"
#include "sekimori/waf.h"
#include "util/error.h"

/* ---- The upstream: a forked, blocking HTTP/1.1 server ------------------ */

static int up_port;
static pid_t up_pid;
static char up_sock[108];

static ssize_t
read_full(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r <= 0)
            return r < 0 ? -1 : (ssize_t)got;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void
write_all(int fd, const void *p, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, (const char *)p + put, n - put);
        if (r <= 0)
            return;
        put += (size_t)r;
    }
}

/* Reads up to and including CRLFCRLF into buf (NUL-terminated). */
static ssize_t
read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        n++;
        buf[n] = '\0';
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return (ssize_t)n;
    }
    return -1;
}

static const char *
find_header(const char *head, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL;
         p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':')
            return p + 2 + nl + 1 + strspn(p + 2 + nl + 1, " ");
    return NULL;
}

/* Reads the request body (CL or chunked) into a malloc'd buffer. */
static char *
read_body(int fd, const char *head, size_t *len)
{
    *len = 0;
    const char *cl = find_header(head, "Content-Length");
    const char *te = find_header(head, "Transfer-Encoding");
    if (cl != NULL) {
        size_t n = strtoul(cl, NULL, 10);
        char *b = malloc(n + 1);
        if (b == NULL || read_full(fd, b, n) != (ssize_t)n) {
            free(b);
            return NULL;
        }
        *len = n;
        return b;
    }
    if (te != NULL && strncasecmp(te, "chunked", 7) == 0) {
        size_t cap = 1024, n = 0;
        char *b = malloc(cap);
        for (;;) {
            char line[64];
            size_t ln = 0;
            while (ln + 1 < sizeof(line)) {
                if (read(fd, line + ln, 1) != 1) {
                    free(b);
                    return NULL;
                }
                if (line[ln++] == '\n')
                    break;
            }
            line[ln] = '\0';
            size_t sz = strtoul(line, NULL, 16);
            if (sz == 0) {
                char crlf[2];
                read_full(fd, crlf, 2);
                break;
            }
            while (n + sz + 1 > cap) {
                cap *= 2;
                b = realloc(b, cap);
            }
            if (read_full(fd, b + n, sz) != (ssize_t)sz) {
                free(b);
                return NULL;
            }
            n += sz;
            char crlf[2];
            read_full(fd, crlf, 2);
        }
        *len = n;
        return b;
    }
    return calloc(1, 1);
}

static void
up_respond(int fd, int connno, const char *head, const char *body, size_t blen)
{
    char path[256] = "";
    sscanf(head, "%*s %255s", path);
    char out[16384];
    if (strncmp(path, "/chunked", 8) == 0) {
        const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                        "Content-Type: text/plain\r\n\r\n"
                        "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
        write_all(fd, r, strlen(r));
        return;
    }
    if (strncmp(path, "/slow", 5) == 0) {
        sleep(10); /* the proxy times out first */
        return;
    }
    if (strncmp(path, "/reset", 6) == 0) {
        const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                        "0123456789";
        write_all(fd, r, strlen(r));
        usleep(100000);
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
        _exit(0);
    }
    if (strncmp(path, "/delay", 6) == 0)
        usleep(500000);
    if (strncmp(path, "/evil", 5) == 0) {
        const char *r = "HTTP/1.1 200 OK\r\nX-Evil: yes\r\n"
                        "Content-Length: 2\r\n\r\nok";
        write_all(fd, r, strlen(r));
        return;
    }
    if (strncmp(path, "/bigpage", 8) == 0) {
        /* 200 KiB of HTML, chunked; the token where the query says:
         * "head" (inspected) or "tail" (past the inspection limit). */
        bool early = strstr(path, "head") != NULL;
        const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
        write_all(fd, h, strlen(h));
        char chunk[8192];
        for (int i = 0; i < 25; i++) {
            memset(chunk, 'x', sizeof(chunk));
            if ((early && i == 1) || (!early && i == 24))
                memcpy(chunk + 100, "secret-token", 12);
            char sz[32];
            int n = snprintf(sz, sizeof(sz), "%zx\r\n", sizeof(chunk));
            write_all(fd, sz, (size_t)n);
            write_all(fd, chunk, sizeof(chunk));
            write_all(fd, "\r\n", 2);
        }
        write_all(fd, "0\r\n\r\n", 5);
        return;
    }
    if (strncmp(path, "/page", 5) == 0) {
        const char *r =
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            "Content-Length: 26\r\n\r\n<p>secret-token-here</p>\r\n";
        write_all(fd, r, strlen(r));
        return;
    }
    /* Echo: what the upstream saw. */
    char first[64] = "";
    size_t fl = blen < sizeof(first) - 1 ? blen : sizeof(first) - 1;
    memcpy(first, body, fl);
    for (size_t i = 0; i < fl; i++)
        if (first[i] == '\r' || first[i] == '\n')
            first[i] = '.';
    int bl = snprintf(out, sizeof(out), "conn=%d\nbody=%zu:%s\n%s", connno,
                      blen, first, head);
    char hdr[256];
    int hl = snprintf(hdr, sizeof(hdr),
                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      "X-Conn: %d\r\nContent-Length: %d\r\n\r\n",
                      connno, bl);
    write_all(fd, hdr, (size_t)hl);
    if (strncmp(head, "HEAD ", 5) != 0)
        write_all(fd, out, (size_t)bl);
}

static void
up_serve_conn(int fd, int connno)
{
    char head[65536];
    for (;;) {
        if (read_head(fd, head, sizeof(head)) < 0)
            _exit(0);
        size_t blen;
        char *body = read_body(fd, head, &blen);
        if (body == NULL)
            _exit(0);
        up_respond(fd, connno, head, body, blen);
        free(body);
    }
}

static void
upstream_start(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(ls, 64), 0);
    socklen_t len = sizeof(a);
    getsockname(ls, (struct sockaddr *)&a, &len);
    up_port = ntohs(a.sin_port);
    /* The same server on a UNIX socket. */
    int us = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(us >= 0);
    struct sockaddr_un ua = {.sun_family = AF_UNIX};
    snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", up_sock);
    unlink(up_sock);
    assert_int_equal(bind(us, (struct sockaddr *)&ua, sizeof(ua)), 0);
    assert_int_equal(listen(us, 64), 0);
    up_pid = fork();
    assert_true(up_pid >= 0);
    if (up_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGCHLD, SIG_IGN); /* no zombies */
        for (int n = 1;; n++) {
            struct pollfd pf[2] = {{.fd = ls, .events = POLLIN},
                                   {.fd = us, .events = POLLIN}};
            if (poll(pf, 2, -1) <= 0)
                continue;
            int fd = accept(pf[0].revents ? ls : us, NULL, NULL);
            if (fd < 0)
                continue;
            pid_t p = fork();
            if (p == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(ls);
                close(us);
                up_serve_conn(fd, n);
            }
            close(fd);
        }
    }
    close(ls);
    close(us);
}

/* ---- The proxy under test ---------------------------------------------- */

static const char rules_text[] =
    "SecRuleEngine On\n"
    "SecRequestBodyAccess On\n"
    "SecRequestBodyLimit 65536\n"
    "SecRequestBodyNoFilesLimit 65536\n"
    "SecRequestBodyLimitAction ProcessPartial\n"
    "SecResponseBodyAccess On\n"
    "SecResponseBodyMimeType text/html\n"
    "SecResponseBodyLimit 65536\n"
    "SecResponseBodyLimitAction ProcessPartial\n"
    "SecAuditEngine RelevantOnly\n"
    "SecRule REQUEST_HEADERS:X-Detect \"@streq 1\" "
    "\"id:1000,phase:1,pass,nolog,ctl:ruleEngine=DetectionOnly\"\n"
    "SecRule ARGS:attack \"@streq yes\" "
    "\"id:1001,phase:1,deny,status:403,log,msg:'attack arg'\"\n"
    "SecRule REQUEST_BODY \"@contains evilbody\" "
    "\"id:1002,phase:2,deny,status:403,log,msg:'evil body'\"\n"
    "SecRule RESPONSE_HEADERS:X-Evil \"@streq yes\" "
    "\"id:1003,phase:3,deny,status:403,log,msg:'evil response'\"\n"
    "SecRule ARGS:go \"@streq away\" "
    "\"id:1005,phase:1,redirect:http://example.com/blocked,log\"\n"
    "SecRule ARGS:drop \"@streq 1\" \"id:1006,phase:1,drop,log\"\n"
    "SecRule REMOTE_ADDR \"@ipMatch 203.0.113.0/24\" "
    "\"id:1007,phase:1,deny,status:403,log,msg:'banned client'\"\n"
    "SecRule RESPONSE_BODY \"@contains secret-token\" "
    "\"id:1004,phase:4,deny,status:403,log,msg:'leak'\"\n";

static struct sk_waf_rules *rules;
static struct sk_proxy_shm *shm;
static struct sk_conf_proxy conf;
static struct sk_conf_listen lconf;
static struct sk_proxy_listener listeners[2];
static struct sk_conf_listen tlsconf;
static struct sk_tls_ctx *tls_ctx;
static int tls_port;
static char cert_path[128], key_path[128];
static struct sk_proxy_runtime rt;
static int proxy_port;
static pid_t proxy_pid;
static char tmpdir[64];
static char audit_path[128];

static void
set_addr(struct sk_conf_addr *a, int port)
{
    memset(a, 0, sizeof(*a));
    struct sockaddr_in *s = (struct sockaddr_in *)&a->ss;
    s->sin_family = AF_INET;
    s->sin_port = htons((uint16_t)port);
    s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->len = sizeof(*s);
    a->family = AF_INET;
}

static void
conf_defaults(void)
{
    memset(&conf, 0, sizeof(conf));
    conf.present = true;
    set_addr(&conf.upstream, up_port);
    conf.max_connections = 64;
    conf.upstream_keepalive = 4;
    conf.header_timeout = 2000;
    conf.body_timeout = 2000;
    conf.keepalive_timeout = 3000;
    conf.send_timeout = 2000;
    conf.upstream_connect_timeout = 1000;
    conf.upstream_timeout = 1000;
    conf.drain_timeout = 3000;
    conf.max_request_line = 8192;
    conf.max_header_bytes = 32768;
    conf.max_headers = 100;
    conf.audit_mode = SK_CONF_AUDIT_RELEVANT;
    conf.xff = true;
    conf.forwarded = true;
}

/* A listening, non-blocking socket on 127.0.0.1:0; its port in *port. */
static int
listen_any(int *port)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(ls >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(ls, 128), 0);
    socklen_t len = sizeof(a);
    getsockname(ls, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return ls;
}

static void
proxy_start(void)
{
    int ls = listen_any(&proxy_port);
    int tls_ls = listen_any(&tls_port);
    lconf.tls = false;
    listeners[0].fd = ls;
    listeners[0].tls = NULL;
    listeners[0].conf = &lconf;
    tlsconf.tls = true;
    listeners[1].fd = tls_ls;
    listeners[1].tls = tls_ctx;
    listeners[1].conf = &tlsconf;
    /* A previous worker that did not exit cleanly may have left its
     * connections counted. */
    atomic_store(&shm->connections, 0);
    struct sk_proxy_logfile *audit = NULL;
    assert_int_equal(sk_proxy_logfile_open(audit_path, &audit), 0);
    memset(&rt, 0, sizeof(rt));
    rt.conf = &conf;
    rt.rules = rules;
    rt.listeners = listeners;
    rt.nlisteners = 2;
    rt.shm = shm;
    rt.audit_log = audit;
    rt.deny_page = sk_str_c("<p>denied %{status} ref %{id}</p>\n");
    rt.maint_page = sk_str_c("<p>maintenance ref %{id}</p>\n");
    /* Blocked across the fork, before the worker takes it through its
     * signalfd, so that a SIGTERM sent right after the fork is not
     * fatal (the master must do the same). */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    proxy_pid = fork();
    assert_true(proxy_pid >= 0);
    if (proxy_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int rc = sk_proxy_worker_run(&rt);
        /* exit, not _exit: under ASan the leak check runs here. */
        exit(rc == 0 ? 0 : 1);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(ls);
    close(tls_ls);
    sk_proxy_logfile_free(audit);
}

/* SIGTERMs the worker and returns its exit status (-1: killed). */
static int
proxy_stop(void)
{
    if (proxy_pid <= 0)
        return -1;
    kill(proxy_pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(proxy_pid, &st, WNOHANG);
        if (r == proxy_pid) {
            proxy_pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(50000);
    }
    kill(proxy_pid, SIGKILL);
    waitpid(proxy_pid, &st, 0);
    proxy_pid = 0;
    return -1;
}

/* A P-256 key and a self-signed certificate for localhost, as PEM files
 * in tmpdir. 0 or -1. */
static int
make_cert(void)
{
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int rc = -1;
    if (k != NULL && x != NULL) {
        ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, k);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                   (const unsigned char *)"localhost", -1, -1,
                                   0);
        X509_set_issuer_name(x, n);
        FILE *c = NULL, *kf = NULL;
        if (X509_sign(x, k, EVP_sha256()) != 0 &&
            (c = fopen(cert_path, "w")) != NULL &&
            (kf = fopen(key_path, "w")) != NULL && PEM_write_X509(c, x) == 1 &&
            PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL) == 1)
            rc = 0;
        if (c != NULL && fclose(c) != 0)
            rc = -1;
        if (kf != NULL && fclose(kf) != 0)
            rc = -1;
    }
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

static int
group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    rules = sk_waf_rules_new();
    if (rules == NULL ||
        sk_waf_rules_add_text(rules, "test.conf", rules_text,
                              sizeof(rules_text) - 1) != 0 ||
        sk_waf_rules_compile(rules) != 0) {
        fprintf(stderr, "%s\n", rules ? sk_waf_rules_errors(rules) : "oom");
        return -1;
    }
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        return -1;
    memset(shm, 0, sizeof(*shm));
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sk-worker-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(audit_path, sizeof(audit_path), "%s/audit.log", tmpdir);
    snprintf(up_sock, sizeof(up_sock), "%s/up.sock", tmpdir);
    if (make_cert() != 0)
        return -1;
    char err[512];
    if (sk_tls_ctx_new(cert_path, key_path, &tls_ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "sk_tls_ctx_new: %s\n", err);
        return -1;
    }
    upstream_start();
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    if (up_pid > 0) {
        kill(up_pid, SIGKILL);
        waitpid(up_pid, NULL, 0);
    }
    unlink(audit_path);
    unlink(up_sock);
    unlink(cert_path);
    unlink(key_path);
    rmdir(tmpdir);
    sk_tls_ctx_free(tls_ctx);
    munmap(shm, sizeof(*shm));
    sk_waf_rules_free(rules);
    return 0;
}

static int
setup(void **state)
{
    (void)state;
    conf_defaults();
    proxy_start();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    /* The worker must drain and exit 0 (a crash or leak report fails). */
    if (proxy_pid > 0 && proxy_stop() != 0) {
        fprintf(stderr, "worker did not exit cleanly\n");
        return -1;
    }
    return 0;
}

/* ---- Client helpers ---------------------------------------------------- */

static int
dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)proxy_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void
send_str(int fd, const char *s)
{
    write_all(fd, s, strlen(s));
}

struct resp {
    int status;
    char head[8192];
    char *body;
    size_t blen;
};

static void
resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Reads one response (CL, chunked or to EOF). 0, or -1 on EOF/timeout. */
static int
read_resp(int fd, struct resp *r, bool head_req)
{
    memset(r, 0, sizeof(*r));
    if (read_head(fd, r->head, sizeof(r->head)) < 0)
        return -1;
    sscanf(r->head, "HTTP/1.1 %d", &r->status);
    const char *cl = find_header(r->head, "Content-Length");
    const char *te = find_header(r->head, "Transfer-Encoding");
    if (head_req || r->status == 100 || r->status == 204 || r->status == 304) {
        r->body = calloc(1, 1);
        return 0;
    }
    if (cl != NULL) {
        r->blen = strtoul(cl, NULL, 10);
        r->body = calloc(1, r->blen + 1);
        if (read_full(fd, r->body, r->blen) != (ssize_t)r->blen)
            return -1;
        return 0;
    }
    if (te != NULL) {
        char *b = read_body(fd, r->head, &r->blen);
        if (b == NULL)
            return -1;
        r->body = realloc(b, r->blen + 1);
        r->body[r->blen] = '\0';
        return 0;
    }
    size_t cap = 65536;
    r->body = calloc(1, cap + 1);
    ssize_t n = read_full(fd, r->body, cap);
    r->blen = n > 0 ? (size_t)n : 0;
    return 0;
}

/* Whether the server closed: a read returns 0 within the timeout. */
static bool
sees_close(int fd)
{
    char b[256];
    for (int i = 0; i < 100; i++) {
        ssize_t n = read(fd, b, sizeof(b));
        if (n == 0)
            return true;
        if (n < 0)
            return errno == ECONNRESET;
    }
    return false;
}

static void
header_is(const struct resp *r, const char *name, const char *want)
{
    const char *v = find_header(r->head, name);
    if (v == NULL)
        fail_msg("no %s in:\n%s", name, r->head);
    if (strncmp(v, want, strlen(want)) != 0)
        fail_msg("%s: got '%.40s', want '%s'", name, v, want);
}

static void
id_of(const struct resp *r, char *id, size_t n)
{
    const char *v = find_header(r->head, "X-Sekimori-Id");
    assert_non_null(v);
    size_t l = strcspn(v, "\r\n");
    assert_true(l > 0 && l < n);
    memcpy(id, v, l);
    id[l] = '\0';
}

/* ---- Tests ------------------------------------------------------------- */

static void
test_keepalive_reuse(void **state)
{
    (void)state;
    int fd = dial();
    struct resp r1, r2;
    send_str(fd, "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: "
                 "10.0.0.1\r\nConnection: keep-alive, X-Drop, host\r\n"
                 "X-Drop: 1\r\n"
                 "X-Keep: 1\r\n\r\n");
    assert_int_equal(read_resp(fd, &r1, false), 0);
    assert_int_equal(r1.status, 200);
    char id1[64], id2[64];
    id_of(&r1, id1, sizeof(id1));
    /* Hop-by-hop headers removed, others kept, XFF appended. */
    assert_non_null(strstr(r1.body, "X-Keep: 1"));
    assert_null(strstr(r1.body, "X-Drop"));
    assert_null(strstr(r1.body, "Connection:"));
    assert_non_null(strstr(r1.body, "\r\nHost: x\r\n"));
    assert_non_null(strstr(r1.body, "X-Forwarded-For: 10.0.0.1, 127.0.0.1"));
    assert_non_null(strstr(r1.body, "X-Forwarded-Proto: http"));
    assert_non_null(strstr(r1.body, "Forwarded: for=127.0.0.1;proto=http"));
    send_str(fd, "GET /echo?a=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r2, false), 0);
    assert_int_equal(r2.status, 200);
    id_of(&r2, id2, sizeof(id2));
    assert_string_not_equal(id1, id2);
    /* The same upstream connection served both (the pool). */
    const char *c1 = find_header(r1.head, "X-Conn");
    const char *c2 = find_header(r2.head, "X-Conn");
    assert_non_null(c1);
    assert_non_null(c2);
    assert_int_equal(atoi(c1), atoi(c2));
    resp_free(&r1);
    resp_free(&r2);
    /* A second client connection reuses the pooled upstream too. */
    int fd2 = dial();
    send_str(fd2, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(read_resp(fd2, &r2, false), 0);
    assert_int_equal(atoi(find_header(r2.head, "X-Conn")), atoi(c1));
    header_is(&r2, "Connection", "close");
    assert_true(sees_close(fd2));
    resp_free(&r2);
    close(fd2);
    close(fd);
}

static void
test_chunked_both_ways(void **state)
{
    (void)state;
    int fd = dial();
    struct resp r;
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                 "chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n"
                 "\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "body=11:hello world"));
    assert_non_null(strstr(r.body, "Transfer-Encoding: chunked"));
    resp_free(&r);
    send_str(fd, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    header_is(&r, "Transfer-Encoding", "chunked");
    assert_int_equal(r.blen, 12);
    assert_memory_equal(r.body, "hello, world", 12);
    resp_free(&r);
    /* HTTP/1.0 client: de-chunked, delimited by the close. */
    send_str(fd, "GET /chunked HTTP/1.0\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_null(find_header(r.head, "Transfer-Encoding"));
    assert_int_equal(r.blen, 12);
    assert_memory_equal(r.body, "hello, world", 12);
    resp_free(&r);
    close(fd);
}

static void
test_pipelining_order(void **state)
{
    (void)state;
    int fd = dial();
    send_str(fd, "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /echo?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                 "\r\nabc"
                 "GET /delay?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /echo?n=4 HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 1; i <= 4; i++) {
        struct resp r;
        assert_int_equal(read_resp(fd, &r, false), 0);
        assert_int_equal(r.status, 200);
        char want[32];
        snprintf(want, sizeof(want), "?n=%d HTTP/1.1", i);
        if (strstr(r.body, want) == NULL)
            fail_msg("response %d out of order:\n%s", i, r.body);
        resp_free(&r);
    }
    close(fd);
}

static void
test_expect_100(void **state)
{
    (void)state;
    int fd = dial();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 "Content-Length: 5\r\n\r\n");
    struct resp r;
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 100);
    resp_free(&r);
    send_str(fd, "abcde");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "body=5:abcde"));
    assert_null(strstr(r.body, "Expect"));
    resp_free(&r);
    /* Denied before the body: no 100, an answer and a close. */
    send_str(fd, "POST /echo?attack=yes HTTP/1.1\r\nHost: x\r\n"
                 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403);
    header_is(&r, "Connection", "close");
    assert_true(sees_close(fd));
    resp_free(&r);
    close(fd);
}

static bool
audit_has(const char *id)
{
    FILE *f = fopen(audit_path, "r");
    if (f == NULL)
        return false;
    char line[65536];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, id) != NULL;
    fclose(f);
    return found;
}

/* The audit line of transaction `id` contains `want`. */
static bool
audit_line_has(const char *id, const char *want)
{
    FILE *f = fopen(audit_path, "r");
    if (f == NULL)
        return false;
    static char line[65536];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, id) != NULL && strstr(line, want) != NULL;
    fclose(f);
    return found;
}

static struct sk_conf_cidr trusted_lo;

static int
setup_trusted(void **state)
{
    (void)state;
    conf_defaults();
    assert_int_equal(sk_conf_cidr_parse("127.0.0.1", &trusted_lo), 0);
    conf.trusted_proxies = &trusted_lo;
    conf.ntrusted_proxies = 1;
    proxy_start();
    return 0;
}

/* Behind a trusted proxy (127.0.0.1 here): the client comes from
 * X-Forwarded-For per request, its X-Forwarded-Proto passes. */
static void
test_trusted_proxy(void **state)
{
    (void)state;
    int fd = dial();
    struct resp r;
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6, "
                 "198.51.100.9\r\nX-Forwarded-Proto: https\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(
        r.body, "X-Forwarded-For: 6.6.6.6, 198.51.100.9, 127.0.0.1\r\n"));
    assert_non_null(strstr(r.body, "X-Forwarded-Proto: https\r\n"));
    assert_null(strstr(r.body, "X-Forwarded-Proto: http\r\n"));
    assert_non_null(strstr(r.body, "Forwarded: for=127.0.0.1;proto=http\r\n"));
    resp_free(&r);
    /* The rules see the client: REMOTE_ADDR in 203.0.113.0/24 is denied,
     * and the audit record names it, with the peer. */
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: "
                 "203.0.113.5:4711, 127.0.0.1\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403);
    char id[64];
    id_of(&r, id, sizeof(id));
    resp_free(&r);
    /* The next request on the same connection is someone else. */
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    /* No X-Forwarded-Proto from the proxy: ours is added. */
    assert_non_null(strstr(r.body, "X-Forwarded-Proto: http\r\n"));
    resp_free(&r);
    /* A malformed header: the client is the peer. */
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: "
                 "203.0.113.5, bogus\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    close(fd);
    for (int i = 0; i < 20 && !audit_has(id); i++)
        usleep(50000);
    assert_true(audit_line_has(id, "\"client_ip\":\"203.0.113.5\""));
    assert_true(audit_line_has(id, "\"client_port\":4711"));
    assert_true(audit_line_has(id, "\"peer\":\"127.0.0.1\""));
}

/* An untrusted peer's forwarding headers change nothing we believe. */
static void
test_untrusted_forwarding_headers(void **state)
{
    (void)state;
    int fd = dial();
    struct resp r;
    send_str(fd, "GET /echo?attack=yes HTTP/1.1\r\nHost: x\r\n"
                 "X-Forwarded-For: 203.0.113.5\r\nX-Forwarded-Proto: https\r\n"
                 "Forwarded: for=203.0.113.5;proto=https\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403); /* the attack rule, not the ban */
    char id[64];
    id_of(&r, id, sizeof(id));
    resp_free(&r);
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n"
                 "X-Forwarded-For: 203.0.113.5\r\nX-Forwarded-Proto: https\r\n"
                 "Forwarded: for=203.0.113.5;proto=https\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "X-Forwarded-For: 203.0.113.5, 127.0.0.1\r\n"));
    assert_non_null(strstr(r.body, "X-Forwarded-Proto: http\r\n"));
    assert_null(strstr(r.body, "X-Forwarded-Proto: https"));
    assert_non_null(strstr(r.body, "Forwarded: for=203.0.113.5;proto=https, "
                                   "for=127.0.0.1;proto=http\r\n"));
    resp_free(&r);
    close(fd);
    for (int i = 0; i < 20 && !audit_has(id); i++)
        usleep(50000);
    assert_true(audit_line_has(id, "\"client_ip\":\"127.0.0.1\""));
    assert_true(audit_line_has(id, "\"peer\":\"127.0.0.1\""));
}

static void
test_deny_and_detection_only(void **state)
{
    (void)state;
    int fd = dial();
    send_str(fd, "GET /echo?attack=yes HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403);
    char id[64];
    id_of(&r, id, sizeof(id));
    char want[128];
    snprintf(want, sizeof(want), "denied 403 ref %s", id);
    assert_non_null(strstr(r.body, want));
    resp_free(&r);
    /* Keep-alive survives a deny of a bodiless request. */
    send_str(fd, "GET /echo?attack=yes HTTP/1.1\r\nHost: x\r\nX-Detect: 1\r\n"
                 "\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    char id2[64];
    id_of(&r, id2, sizeof(id2));
    resp_free(&r);
    /* A body rule (phase 2) with the body buffered. */
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain"
                 "\r\nContent-Length: 14\r\n\r\nx=evilbody&y=1");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    /* A phase-1 deny of a small post that arrived whole: the body is
     * skipped and the connection kept. */
    send_str(fd, "POST /echo?attack=yes HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 5\r\n\r\nabcde");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403);
    assert_null(find_header(r.head, "Connection"));
    resp_free(&r);
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    close(fd);
    /* redirect and drop. */
    fd = dial();
    send_str(fd, "GET /echo?go=away HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 302);
    header_is(&r, "Location", "http://example.com/blocked");
    assert_non_null(find_header(r.head, "X-Sekimori-Id"));
    resp_free(&r);
    send_str(fd, "GET /echo?drop=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    char b1;
    ssize_t n1 = read(fd, &b1, 1); /* no answer at all */
    assert_true(n1 == 0 || (n1 < 0 && errno == ECONNRESET));
    close(fd);
    /* Both are in the audit log (RELEVANT: matched rules). */
    for (int i = 0; i < 20 && !(audit_has(id) && audit_has(id2)); i++)
        usleep(50000);
    assert_true(audit_has(id));
    assert_true(audit_has(id2));
}

static void
test_smuggling_refused(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        "Content-Length: 4\r\n\r\nabcd",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
        "\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\r\nabc\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = dial();
        send_str(fd, cases[i]);
        struct resp r;
        assert_int_equal(read_resp(fd, &r, false), 0);
        if (r.status != 400)
            fail_msg("case %zu: status %d", i, r.status);
        assert_non_null(find_header(r.head, "X-Sekimori-Id"));
        assert_true(sees_close(fd));
        resp_free(&r);
        close(fd);
    }
}

static void
test_maintenance(void **state)
{
    (void)state;
    const char *paths[] = {"/maint/"};
    assert_int_equal(
        sk_proxy_maint_set(&shm->maint, true, paths, 1, "test", NULL), 0);
    int fd = dial();
    send_str(fd, "GET /maint/x.php HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 503);
    char id[64];
    id_of(&r, id, sizeof(id));
    assert_non_null(strstr(r.body, id));
    assert_non_null(strstr(r.body, "maintenance"));
    resp_free(&r);
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    close(fd);
    assert_int_equal(sk_proxy_maint_set(&shm->maint, false, NULL, 0, "", NULL),
                     0);
}

static void
test_response_deny(void **state)
{
    (void)state;
    int fd = dial();
    send_str(fd, "GET /evil HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403);
    assert_null(find_header(r.head, "X-Evil"));
    resp_free(&r);
    /* Phase 4 on a buffered text/html body. */
    send_str(fd, "GET /page HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403);
    assert_null(strstr(r.body, "secret-token"));
    resp_free(&r);
    /* Over SecResponseBodyLimit with ProcessPartial: the first 64 KiB
     * are inspected, the rest streams (re-chunked). */
    send_str(fd, "GET /bigpage?tail HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    header_is(&r, "Transfer-Encoding", "chunked");
    assert_int_equal(r.blen, 25 * 8192);
    resp_free(&r);
    send_str(fd, "GET /bigpage?head HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    close(fd);
}

static void
test_streamed_upload_partial(void **state)
{
    (void)state;
    /* Over SecRequestBodyLimit with ProcessPartial: the first 64 KiB are
     * inspected, the rest streams; the upstream gets all of it. */
    size_t n = 4u << 20;
    char *body = malloc(n);
    assert_non_null(body);
    memset(body, 'a', n);
    int fd = dial();
    char head[256];
    snprintf(head, sizeof(head),
             "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: "
             "application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
             n);
    send_str(fd, head);
    write_all(fd, body, n);
    struct resp r;
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    char want[64];
    snprintf(want, sizeof(want), "body=%zu:", n);
    assert_non_null(strstr(r.body, want));
    resp_free(&r);
    close(fd);
    free(body);
}

static void
test_upstream_down(void **state)
{
    (void)state;
    assert_int_equal(proxy_stop(), 0);
    /* A port nobody listens on: bind one, close it. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    set_addr(&conf.upstream, ntohs(a.sin_port));
    proxy_start();
    int fd = dial();
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 502);
    assert_non_null(find_header(r.head, "X-Sekimori-Id"));
    resp_free(&r);
    close(fd);
}

static void
test_upstream_timeout(void **state)
{
    (void)state;
    assert_int_equal(proxy_stop(), 0);
    conf.upstream_timeout = 300;
    proxy_start();
    int fd = dial();
    send_str(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(read_resp(fd, &r, false), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(r.status, 504);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 250 && ms < 3000);
    resp_free(&r);
    close(fd);
}

static void
test_upstream_reset_mid_response(void **state)
{
    (void)state;
    int fd = dial();
    send_str(fd, "GET /reset HTTP/1.1\r\nHost: x\r\n\r\n");
    char head[4096];
    assert_true(read_head(fd, head, sizeof(head)) > 0);
    assert_non_null(strstr(head, "200"));
    assert_non_null(strstr(head, "Content-Length: 1000"));
    char body[2000];
    ssize_t n = read_full(fd, body, sizeof(body));
    /* The ten bytes that came, then the close: never 1000. */
    assert_true(n >= 0 && n < 1000);
    close(fd);
}

static void
test_drain_completes_in_flight(void **state)
{
    (void)state;
    int fd = dial();
    send_str(fd, "GET /delay HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(150000);
    kill(proxy_pid, SIGTERM);
    struct resp r;
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    header_is(&r, "Connection", "close");
    resp_free(&r);
    assert_true(sees_close(fd));
    close(fd);
    int st = 0;
    pid_t got = 0;
    for (int i = 0; i < 100 && got == 0; i++) {
        got = waitpid(proxy_pid, &st, WNOHANG);
        if (got == 0)
            usleep(50000);
    }
    assert_int_equal(got, proxy_pid);
    proxy_pid = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_header_limits(void **state)
{
    (void)state;
    int fd = dial();
    char big[9000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    send_str(fd, "GET /");
    send_str(fd, big);
    struct resp r;
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 414);
    resp_free(&r);
    close(fd);
    /* A head that never completes: 408 after header_timeout. */
    fd = dial();
    send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 408);
    resp_free(&r);
    close(fd);
}

static void
test_head_and_http10(void **state)
{
    (void)state;
    int fd = dial();
    struct resp r;
    send_str(fd, "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, true), 0);
    assert_int_equal(r.status, 200);
    /* The upstream's length is kept, no body follows. */
    assert_non_null(find_header(r.head, "Content-Length"));
    resp_free(&r);
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    close(fd);
    /* HTTP/1.0 keep-alive only when asked. */
    fd = dial();
    send_str(fd, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    header_is(&r, "Connection", "keep-alive");
    resp_free(&r);
    send_str(fd, "GET /echo HTTP/1.0\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    header_is(&r, "Connection", "close");
    /* The upstream was asked to keep its connection. */
    assert_non_null(strstr(r.body, "Connection: keep-alive"));
    assert_true(sees_close(fd));
    resp_free(&r);
    close(fd);
}

static void
test_connection_cap(void **state)
{
    (void)state;
    assert_int_equal(proxy_stop(), 0);
    conf.max_connections = 2;
    proxy_start();
    int a = dial(), b = dial();
    struct resp r;
    send_str(a, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(a, &r, false), 0);
    resp_free(&r);
    send_str(b, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(b, &r, false), 0);
    resp_free(&r);
    int c = dial();
    assert_true(sees_close(c));
    close(c);
    close(a);
    /* The count goes down with the close. */
    bool served = false;
    for (int i = 0; i < 20 && !served; i++) {
        usleep(50000);
        c = dial();
        send_str(c, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
        served = read_resp(c, &r, false) == 0 && r.status == 200;
        resp_free(&r);
        close(c);
    }
    assert_true(served);
    close(b);
}

static void
test_unix_upstream(void **state)
{
    (void)state;
    assert_int_equal(proxy_stop(), 0);
    memset(&conf.upstream, 0, sizeof(conf.upstream));
    struct sockaddr_un *u = (struct sockaddr_un *)&conf.upstream.ss;
    u->sun_family = AF_UNIX;
    snprintf(u->sun_path, sizeof(u->sun_path), "%s", up_sock);
    conf.upstream.len = sizeof(*u);
    conf.upstream.family = AF_UNIX;
    proxy_start();
    int fd = dial();
    struct resp r;
    for (int i = 0; i < 2; i++) {
        send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     "\r\nxyz");
        assert_int_equal(read_resp(fd, &r, false), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "body=3:xyz"));
        resp_free(&r);
    }
    close(fd);
}

static long
ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 +
           (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
test_client_timeouts(void **state)
{
    (void)state;
    assert_int_equal(proxy_stop(), 0);
    conf.keepalive_timeout = 300;
    conf.body_timeout = 300;
    proxy_start();
    /* Idle keep-alive: closed after keepalive_timeout. */
    int fd = dial();
    struct resp r;
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    resp_free(&r);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(sees_close(fd));
    long ms = ms_since(&t0);
    assert_true(ms >= 200 && ms < 3000);
    close(fd);
    /* A body that stops coming: 408 after body_timeout (the body is
     * inspected, so nothing reached the upstream yet). */
    fd = dial();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                 "\r\nabc");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(read_resp(fd, &r, false), 0);
    ms = ms_since(&t0);
    assert_int_equal(r.status, 408);
    assert_true(ms >= 200 && ms < 3000);
    header_is(&r, "Connection", "close");
    resp_free(&r);
    close(fd);
    /* keepalive_timeout 0: every answer closes. */
    assert_int_equal(proxy_stop(), 0);
    conf.keepalive_timeout = 0;
    proxy_start();
    fd = dial();
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &r, false), 0);
    assert_int_equal(r.status, 200);
    header_is(&r, "Connection", "close");
    assert_true(sees_close(fd));
    resp_free(&r);
    close(fd);
}

static void
test_tls_keepalive_and_body(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)tls_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    SSL_CTX *cx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cx);
    SSL *ssl = SSL_new(cx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    assert_int_equal(SSL_connect(ssl), 1);
    /* Two requests on one TLS connection; the second closes it. */
    static const char reqs[] =
        "GET /echo?t=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /echo?t=2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n4\r\ntls!\r\n0\r\n\r\n";
    assert_int_equal(SSL_write(ssl, reqs, (int)sizeof(reqs) - 1),
                     (int)sizeof(reqs) - 1);
    size_t cap = 65536, n = 0;
    char *all = calloc(1, cap + 1);
    assert_non_null(all);
    for (;;) {
        int r = SSL_read(ssl, all + n, (int)(cap - n));
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap)
            break;
    }
    all[n] = '\0';
    const char *second = strstr(all + 1, "HTTP/1.1 200");
    assert_true(strncmp(all, "HTTP/1.1 200", 12) == 0);
    assert_non_null(second);
    assert_non_null(strstr(all, "?t=1 HTTP/1.1"));
    assert_non_null(strstr(second, "body=4:tls!"));
    assert_non_null(strstr(all, "X-Forwarded-Proto: https"));
    assert_non_null(strstr(second, "Connection: close"));
    free(all);
    SSL_free(ssl);
    SSL_CTX_free(cx);
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keepalive_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trusted_proxy, setup_trusted,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_forwarding_headers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_both_ways, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pipelining_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_100, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deny_and_detection_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_smuggling_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_maintenance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_deny, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_upload_partial, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upstream_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_reset_mid_response, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_header_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_and_http10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_upstream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_keepalive_and_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_completes_in_flight, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
