/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event-log client's bounds against a writer that hangs
 * (sk_evlog_client_connect_timeout, sk_evlog_client_set_timeout): a
 * listener that never accepts, its backlog full, makes a bounded connect
 * fail in about its time instead of blocking; a listener that accepts but
 * never answers makes a bounded append fail with -SK_EIO; nobody
 * listening is -SK_ENOENT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "evlog/evlog.h"
#include "util/error.h"

static char dir[32], path[64];

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
listener(int backlog)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sk-evcl-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/log.sock", dir);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static void
test_nobody(void **state)
{
    (void)state;
    struct sk_evlog_client *c = NULL;
    assert_int_equal(sk_evlog_client_connect_timeout(path, 200, &c),
                     -SK_ENOENT);
    assert_null(c);
}

static void
test_full_backlog(void **state)
{
    (void)state;
    int ls = listener(0);
    /* Fill the backlog with non-blocking connects until one would wait. */
    int fds[64];
    size_t n = 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    for (; n < 64; n++) {
        fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fds[n] >= 0);
        if (connect(fds[n], (struct sockaddr *)&sa, sizeof(sa)) == -1) {
            assert_int_equal(errno, EAGAIN);
            close(fds[n]);
            break;
        }
    }
    assert_true(n < 64); /* the backlog is full */
    struct sk_evlog_client *c = NULL;
    int64_t t0 = now_ms();
    int rc = sk_evlog_client_connect_timeout(path, 300, &c);
    int64_t dt = now_ms() - t0;
    assert_int_equal(rc, -SK_EIO);
    assert_null(c);
    assert_true(dt >= 250 && dt < 5000);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    close(ls);
}

static void
test_no_answer(void **state)
{
    (void)state;
    int ls = listener(8);
    struct sk_evlog_client *c = NULL;
    assert_int_equal(sk_evlog_client_connect_timeout(path, 300, &c), 0);
    int peer = accept(ls, NULL, NULL); /* accepted, never answered */
    assert_true(peer >= 0);
    uint64_t seq = 0;
    int64_t t0 = now_ms();
    int rc = sk_evlog_client_append(c, SK_STR_LIT("run"), SK_STR_LIT("run.x"),
                                    SK_STR_LIT("{}"), &seq);
    int64_t dt = now_ms() - t0;
    assert_int_equal(rc, -SK_EIO);
    assert_true(dt >= 250 && dt < 5000);
    sk_evlog_client_close(c);
    close(peer);
    close(ls);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
