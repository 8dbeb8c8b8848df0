/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the proxy's event-log sender (src/proxy/events.c) against
 * a real writer (sk_evlog_open + sk_evlog_serve in a thread on a temporary
 * directory and socket): records arrive complete and in order; records
 * emitted while the writer is absent wait and are sent when it appears; a
 * full queue drops and counts; a refused record is dropped and counted
 * without stopping the rest; and free() keeps its deadline even when the
 * writer accepts but never answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "evlog/evlog.h"
#include "proxy/events.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

static char tmpdir[64];
static char keypath[128];

static int
setup(void **state)
{
    (void)state;
    sk_log_set_level(SK_LOG_ERROR);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/events-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(keypath, sizeof(keypath), "%s/key", tmpdir);
    assert_int_equal(sk_evlog_keygen(keypath), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A writer service running in a thread. */
struct srv {
    char dir[160], sock[160];
    struct sk_evlog *log;
    struct sk_evlog_server_config cfg;
    volatile int stop;
    int rc;
    pthread_t th;
};

static void *
serve_thread(void *arg)
{
    struct srv *s = arg;
    s->rc = sk_evlog_serve(s->log, &s->cfg);
    return NULL;
}

static void
names(struct srv *s, const char *name)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "%s/%s", tmpdir, name);
    snprintf(s->sock, sizeof(s->sock), "%s/%s.sock", tmpdir, name);
}

static void
srv_start(struct srv *s)
{
    struct sk_evlog_config cfg = {.dir = s->dir,
                                  .key_path = keypath,
                                  .durability = SK_EVLOG_SYNC_GROUP,
                                  .group_ms = 2};
    assert_int_equal(sk_evlog_open(&cfg, &s->log, NULL), 0);
    s->stop = 0;
    s->cfg.socket_path = s->sock;
    s->cfg.stop = &s->stop;
    assert_int_equal(pthread_create(&s->th, NULL, serve_thread, s), 0);
}

static void
srv_stop(struct srv *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    assert_int_equal(s->rc, 0);
    assert_int_equal(sk_evlog_close(s->log), 0);
}

/* Reads the log back: checks source, types alternate, bodies in order. */
static size_t
read_back(const char *dir, size_t first_i)
{
    struct sk_evlog_reader *r;
    assert_int_equal(sk_evlog_reader_open(dir, &r), 0);
    struct sk_evlog_record rec;
    size_t n = 0;
    int rc;
    while ((rc = sk_evlog_reader_next(r, &rec)) == 0) {
        size_t i = first_i + n;
        char want[64];
        snprintf(want, sizeof(want), "{\"i\":%zu}", i);
        assert_true(sk_str_eq_c(rec.source, "proxy"));
        assert_true(
            sk_str_eq_c(rec.type, i % 2 ? "proxy.detect" : "proxy.block"));
        if (!sk_str_eq_c(rec.body, want))
            fail_msg("record %zu: %.*s, want %s", n, (int)rec.body.len,
                     (const char *)rec.body.p, want);
        assert_int_equal(rec.seq, n + 1);
        n++;
    }
    assert_int_equal(rc, -SK_ENOENT);
    sk_evlog_reader_free(r);
    return n;
}

static int
emit_i(struct sk_proxy_events *e, size_t i)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"i\":%zu}", i);
    return sk_proxy_events_emit(e, i % 2 ? "proxy.detect" : "proxy.block",
                                sk_str_make(body, (size_t)n));
}

static void
test_send_in_order(void **state)
{
    (void)state;
    struct srv s;
    names(&s, "order");
    srv_start(&s);
    struct sk_proxy_events *e;
    assert_int_equal(sk_proxy_events_new(s.sock, "proxy", &e), 0);
    enum { N = 3000 };
    for (size_t i = 0; i < N; i++) {
        int rc;
        /* The queue holds 4096: never full here, but be patient. */
        while ((rc = emit_i(e, i)) == -SK_ELIMIT)
            usleep(1000);
        assert_int_equal(rc, 0);
    }
    /* Bad arguments of new(). */
    struct sk_proxy_events *bad = NULL;
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(sk_proxy_events_new(longpath, "proxy", &bad), -SK_EINVAL);
    assert_int_equal(sk_proxy_events_new(s.sock, "Proxy!", &bad), -SK_EINVAL);
    assert_null(bad);
    /* Bad input is refused at once and counted. */
    assert_int_equal(
        sk_proxy_events_emit(e, "Bad Type", SK_STR_LIT("{\"x\":1}")),
        -SK_EINVAL);
    assert_int_equal(sk_proxy_events_dropped(e), 1);
    uint64_t t0 = now_ms();
    sk_proxy_events_free(e, 10000);
    assert_true(now_ms() - t0 < 10000);
    srv_stop(&s);
    assert_int_equal(read_back(s.dir, 0), N);
}

static void
test_writer_appears_later(void **state)
{
    (void)state;
    struct srv s;
    names(&s, "later");
    struct sk_proxy_events *e;
    assert_int_equal(sk_proxy_events_new(s.sock, "proxy", &e), 0);
    enum { N = 200 };
    for (size_t i = 0; i < N; i++)
        assert_int_equal(emit_i(e, i), 0);
    usleep(300 * 1000);
    assert_int_equal(sk_proxy_events_sent(e), 0);
    assert_int_equal(sk_proxy_events_dropped(e), 0);
    srv_start(&s);
    uint64_t t0 = now_ms();
    while (sk_proxy_events_sent(e) < N && now_ms() - t0 < 15000)
        usleep(10 * 1000);
    assert_int_equal(sk_proxy_events_sent(e), N);
    /* More while it runs. */
    for (size_t i = N; i < 2 * N; i++)
        assert_int_equal(emit_i(e, i), 0);
    sk_proxy_events_free(e, 10000);
    srv_stop(&s);
    assert_int_equal(read_back(s.dir, 0), 2 * N);

    /* The writer goes away and comes back: nothing is lost. */
    assert_int_equal(sk_proxy_events_new(s.sock, "proxy", &e), 0);
    for (size_t i = 2 * N; i < 3 * N; i++)
        assert_int_equal(emit_i(e, i), 0);
    usleep(200 * 1000);
    assert_int_equal(sk_proxy_events_sent(e), 0);
    srv_start(&s);
    sk_proxy_events_free(e, 15000);
    srv_stop(&s);
    assert_int_equal(read_back(s.dir, 0), 3 * N);
}

static void
test_full_queue_drops(void **state)
{
    (void)state;
    struct srv s;
    names(&s, "full");
    struct sk_proxy_events *e;
    assert_int_equal(sk_proxy_events_new(s.sock, "proxy", &e), 0);
    for (size_t i = 0; i < SK_PROXY_EVENTS_QUEUE; i++)
        assert_int_equal(emit_i(e, i), 0);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(emit_i(e, SK_PROXY_EVENTS_QUEUE + i), -SK_ELIMIT);
    assert_int_equal(sk_proxy_events_dropped(e), 10);
    /* The queued ones are sent once the writer is there. */
    srv_start(&s);
    uint64_t t0 = now_ms();
    while (sk_proxy_events_sent(e) < SK_PROXY_EVENTS_QUEUE &&
           now_ms() - t0 < 30000)
        usleep(10 * 1000);
    assert_int_equal(sk_proxy_events_sent(e), SK_PROXY_EVENTS_QUEUE);
    assert_int_equal(sk_proxy_events_dropped(e), 10);
    sk_proxy_events_free(e, 1000);
    srv_stop(&s);
    assert_int_equal(read_back(s.dir, 0), SK_PROXY_EVENTS_QUEUE);

    /* Without a writer, free() gives up at its deadline. */
    assert_int_equal(sk_proxy_events_new(s.sock, "proxy", &e), 0);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(emit_i(e, i), 0);
    /* Out of memory for the copy: dropped and counted, nothing queued.
     * (The sender makes no allocation while the writer is absent.) */
    sk_alloc_fail_at(1, 0);
    int rc = emit_i(e, 100);
    sk_alloc_fail_at(0, 0);
    assert_int_equal(rc, -SK_ENOMEM);
    assert_int_equal(sk_proxy_events_dropped(e), 1);
    t0 = now_ms();
    sk_proxy_events_free(e, 300);
    uint64_t took = now_ms() - t0;
    assert_true(took >= 250 && took < 2000);
}

static void
test_refused_record(void **state)
{
    (void)state;
    struct srv s;
    names(&s, "refused");
    srv_start(&s);
    struct sk_proxy_events *e;
    assert_int_equal(sk_proxy_events_new(s.sock, "proxy", &e), 0);
    assert_int_equal(emit_i(e, 0), 0);
    /* Not a JSON object: the writer answers ERR, the sender goes on. */
    assert_int_equal(
        sk_proxy_events_emit(e, "proxy.block", SK_STR_LIT("[1,2]")), 0);
    assert_int_equal(emit_i(e, 1), 0);
    uint64_t t0 = now_ms();
    while (sk_proxy_events_sent(e) < 2 && now_ms() - t0 < 10000)
        usleep(10 * 1000);
    assert_int_equal(sk_proxy_events_sent(e), 2);
    assert_int_equal(sk_proxy_events_dropped(e), 1);
    sk_proxy_events_free(e, 1000);
    srv_stop(&s);
    assert_int_equal(read_back(s.dir, 0), 2);
}

/* A "writer" that accepts connections and never answers. */
static void *
mute_accept(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    /* Hold it open until the listener is shut down. */
    char c;
    if (fd != -1) {
        while (read(fd, &c, 1) > 0)
            ;
        close(fd);
    }
    return NULL;
}

static void
test_free_deadline_hung_writer(void **state)
{
    (void)state;
    char sock[160];
    snprintf(sock, sizeof(sock), "%s/mute.sock", tmpdir);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(lfd != -1);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, mute_accept, &lfd), 0);
    struct sk_proxy_events *e;
    assert_int_equal(sk_proxy_events_new(sock, "proxy", &e), 0);
    assert_int_equal(emit_i(e, 0), 0);
    usleep(100 * 1000);
    uint64_t t0 = now_ms();
    sk_proxy_events_free(e, 300);
    uint64_t took = now_ms() - t0;
    assert_true(took >= 250 && took < 2000);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(lfd);
    unlink(sock);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_in_order),
        cmocka_unit_test(test_writer_appears_later),
        cmocka_unit_test(test_full_queue_drops),
        cmocka_unit_test(test_refused_record),
        cmocka_unit_test(test_free_deadline_hung_writer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
