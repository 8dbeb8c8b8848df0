/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/run without starting any part: atomic state writes,
 * and the status report built from fabricated state files, a fake proxy
 * control socket (a forked child answering one request), a missing
 * fim config and a missing event log — each problem must become an
 * alert and make the report unhealthy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "run/run.h"
#include "util/error.h"

static char tmp[128];

static void
put(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/sk-run-unit.XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return -1;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void
test_write_atomic(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof(p), "%s/a.json", tmp);
    assert_int_equal(sk_run_write_atomic(p, "{\"a\":1}", 7), 0);
    assert_int_equal(sk_run_write_atomic(p, "{\"b\":2}\n", 8), 0);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char buf[64] = {0};
    assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 8);
    fclose(f);
    assert_string_equal(buf, "{\"b\":2}\n");
    /* No temp file is left behind. */
    DIR *d = opendir(tmp);
    assert_non_null(d);
    struct dirent *de;
    unsigned n = 0;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') {
            assert_null(strstr(de->d_name, ".tmp"));
            n++;
        }
    closedir(d);
    assert_int_equal(n, 1);
    snprintf(p, sizeof(p), "%s/no/such/dir/x.json", tmp);
    assert_int_equal(sk_run_write_atomic(p, "x", 1), -SK_EIO);
    assert_int_equal(errno, ENOENT);
}

static struct sk_conf *
conf(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "run {\n state_dir %s/state\n}\n"
             "log {\n dir %s/nolog\n}\n"
             "fim {\n config %s/nofim.conf\n}\n%s",
             tmp, tmp, tmp, extra);
    struct sk_diag d = {0};
    struct sk_conf *c = NULL;
    int rc = sk_conf_parse("t.conf", text, strlen(text), &c, &d);
    if (rc != 0)
        fprintf(stderr, "%s", sk_diag_text(&d));
    assert_int_equal(rc, 0);
    sk_diag_fini(&d);
    return c;
}

static bool
has_alert(const json_t *st, const char *needle)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(st, "alerts"), i, a)
    {
        if (strstr(json_string_value(a), needle) != NULL)
            return true;
    }
    return false;
}

static void
test_status_nothing_ran(void **state)
{
    (void)state;
    struct sk_conf *c = conf("");
    json_t *st = sk_run_status(c, 10);
    assert_non_null(st);
    assert_true(json_is_false(json_object_get(st, "healthy")));
    assert_true(has_alert(st, "sekimori run has not run here"));
    assert_true(has_alert(st, "part log: no state file"));
    assert_true(has_alert(st, "part fim: no state file"));
    assert_true(has_alert(st, "fim config"));
    assert_true(has_alert(st, "the event log does not verify"));
    assert_null(json_object_get(st, "proxy")); /* not configured */
    json_decref(st);
    sk_conf_free(c);
}

static void
test_status_parts(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof(p), "%s/state", tmp);
    mkdir(p, 0755);
    char buf[512];
    /* The supervisor and the log are "us" (alive), fim was given up on. */
    snprintf(buf, sizeof(buf),
             "{\"pid\":%d,\"state\":\"running\",\"started\":1700000000}",
             (int)getpid());
    put("state/run.json", buf);
    snprintf(buf, sizeof(buf),
             "{\"part\":\"log\",\"state\":\"running\",\"pid\":%d,"
             "\"started\":1700000000,\"restarts\":2,\"last_exit\":\"exit 1\","
             "\"last_exit_at\":1700000001}",
             (int)getpid());
    put("state/log.json", buf);
    put("state/fim.json", "{\"part\":\"fim\",\"state\":\"gave_up\",\"pid\":0,"
                          "\"restarts\":5,\"last_exit\":\"signal 9\"}");
    struct sk_conf *c = conf("");
    json_t *st = sk_run_status(c, 10);
    assert_non_null(st);
    json_t *sup = json_object_get(st, "supervisor");
    assert_true(json_is_true(json_object_get(sup, "alive")));
    json_t *parts = json_object_get(st, "parts");
    assert_int_equal(json_array_size(parts), 2);
    json_t *lg = json_array_get(parts, 0);
    assert_string_equal(json_string_value(json_object_get(lg, "part")), "log");
    assert_true(json_is_true(json_object_get(lg, "alive")));
    assert_int_equal(json_integer_value(json_object_get(lg, "restarts")), 2);
    assert_string_equal(json_string_value(json_object_get(lg, "last_exit")),
                        "exit 1");
    json_t *fm = json_array_get(parts, 1);
    assert_string_equal(json_string_value(json_object_get(fm, "state")),
                        "gave_up");
    assert_false(has_alert(st, "sekimori run"));
    assert_false(has_alert(st, "part log"));
    assert_true(has_alert(st, "part fim was given up on"));
    assert_true(has_alert(st, "last exit: signal 9"));
    json_decref(st);

    /* A "running" part whose pid is gone. */
    put("state/fim.json", "{\"part\":\"fim\",\"state\":\"running\","
                          "\"pid\":2147483000,\"restarts\":0}");
    st = sk_run_status(c, 10);
    assert_true(has_alert(st, "part fim is running but its pid is gone"));
    /* The text form names what needs attention. */
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    assert_non_null(f);
    sk_run_status_text(st, f);
    fclose(f);
    assert_non_null(strstr(text, "NEEDS ATTENTION"));
    assert_non_null(strstr(text, "! part fim is running but its pid is gone"));
    free(text);
    json_decref(st);
    sk_conf_free(c);
}

/* A fake proxy: answers one control request with `reply`, after checking
 * that the request is {"op":"status"}. */
static pid_t
fake_proxy(const char *path, const char *reply)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd != -1);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    assert_int_equal(listen(fd, 4), 0);
    pid_t pid = fork();
    assert_true(pid != -1);
    if (pid == 0) {
        int cfd = accept(fd, NULL, NULL);
        char req[256] = {0};
        ssize_t n = read(cfd, req, sizeof(req) - 1);
        if (n > 0 && strcmp(req, "{\"op\":\"status\"}\n") == 0) {
            ssize_t w = write(cfd, reply, strlen(reply));
            (void)w;
        }
        close(cfd);
        _exit(0);
    }
    close(fd);
    return pid;
}

static void
test_status_proxy(void **state)
{
    (void)state;
    char sock[256], extra[512];
    snprintf(sock, sizeof(sock), "%s/ctl.sock", tmp);
    snprintf(extra, sizeof(extra),
             "proxy {\n listen 127.0.0.1:1\n upstream 127.0.0.1:2\n"
             " rules /r\n control_socket %s\n}\n",
             sock);
    struct sk_conf *c = conf(extra);
    pid_t pid = fake_proxy(
        sock, "{\"ok\":true,\"pid\":7,\"generation\":3,\"workers\":2,"
              "\"rules\":812,\"maintenance\":{\"on\":true,\"paths\":"
              "[\"/pay/\"],\"reason\":\"fim: tampered\",\"file\":\"/x.php\","
              "\"since\":1700000000},\"requests\":5}\n");
    json_t *st = sk_run_status(c, 0);
    int ws;
    waitpid(pid, &ws, 0);
    json_t *px = json_object_get(st, "proxy");
    assert_true(json_is_true(json_object_get(px, "reachable")));
    assert_int_equal(json_integer_value(json_object_get(px, "rules")), 812);
    assert_int_equal(json_integer_value(json_object_get(px, "generation")), 3);
    assert_int_equal(json_integer_value(json_object_get(px, "workers")), 2);
    assert_int_equal(json_integer_value(json_object_get(px, "requests")), 5);
    assert_null(json_object_get(px, "ok"));
    assert_true(has_alert(st, "maintenance mode is on: fim: tampered"));
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    sk_run_status_text(st, f);
    fclose(f);
    assert_non_null(strstr(text, "generation 3, workers 2, rules 812"));
    assert_non_null(strstr(text, "maintenance ON"));
    free(text);
    json_decref(st);

    /* A bad reply and no proxy at all are alerts too. */
    pid = fake_proxy(sock, "not json\n");
    st = sk_run_status(c, 0);
    waitpid(pid, &ws, 0);
    assert_true(has_alert(st, "proxy control socket"));
    assert_true(has_alert(st, "bad reply"));
    json_decref(st);
    unlink(sock);
    st = sk_run_status(c, 0);
    assert_true(has_alert(st, "proxy control socket"));
    assert_true(json_is_false(
        json_object_get(json_object_get(st, "proxy"), "reachable")));
    json_decref(st);
    sk_conf_free(c);
}

/* ---- the supervisor, with a fake part --------------------------------- */

/* A part that touches its --ready file, records its pid and then either
 * ignores SIGTERM and sleeps (FAKE_MODE=stubborn) or exits 1 at once. */
static const char fake_part[] = "#!/bin/sh\n"
                                "ready=\n"
                                "while [ $# -gt 0 ]; do\n"
                                "  [ \"$1\" = --ready ] && ready=$2\n"
                                "  shift\n"
                                "done\n"
                                "echo $$ >> \"$FAKE_PIDS\"\n"
                                "[ \"$FAKE_MODE\" = stubborn ] || exit 1\n"
                                "trap '' TERM\n"
                                "touch \"$ready\"\n"
                                "exec sleep 100\n";

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *
part_state(const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/state/%s.json", tmp, name);
    json_error_t e;
    return json_load_file(p, 0, &e);
}

/* Starts sk_run_supervise() in a child with the fake part as `self`. */
static pid_t
supervise(const char *mode, const char *run_section)
{
    char script[512], pids[512], text[1024];
    snprintf(script, sizeof(script), "%s/fake-part", tmp);
    put("fake-part", fake_part);
    chmod(script, 0755);
    snprintf(pids, sizeof(pids), "%s/pids", tmp);
    setenv("FAKE_PIDS", pids, 1);
    setenv("FAKE_MODE", mode, 1);
    snprintf(text, sizeof(text),
             "run {\n state_dir %s/state\n%s}\nfim {\n config /x\n}\n", tmp,
             run_section);
    pid_t pid = fork();
    assert_true(pid != -1);
    if (pid == 0) {
        struct sk_diag d = {0};
        struct sk_conf *c = NULL;
        if (sk_conf_parse("t.conf", text, strlen(text), &c, &d) != 0)
            _exit(10);
        struct sk_run_opts o = {
            .self = script, .conf_path = "/dev/null", .stop_timeout_ms = 300};
        int rc = sk_run_supervise(c, &o);
        sk_conf_free(c);
        _exit(rc == 0 ? 0 : 11);
    }
    return pid;
}

static int
wait_exit(pid_t pid, int secs)
{
    for (int i = 0; i < secs * 100; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* A part that ignores SIGTERM is killed once its deadline has passed. */
static void
test_supervise_stop_deadline(void **state)
{
    (void)state;
    pid_t sup = supervise("stubborn", "");
    const char *st = NULL;
    json_t *j = NULL;
    for (int i = 0; i < 500; i++) {
        json_decref(j);
        j = part_state("fim");
        st = j ? json_string_value(json_object_get(j, "state")) : NULL;
        if (st != NULL && strcmp(st, "running") == 0)
            break;
        usleep(10000);
    }
    assert_non_null(st);
    assert_string_equal(st, "running");
    pid_t fake = (pid_t)json_integer_value(json_object_get(j, "pid"));
    json_decref(j);
    assert_true(fake > 0);
    assert_int_equal(kill(fake, 0), 0);
    int64_t t0 = now_ms();
    kill(sup, SIGTERM);
    assert_int_equal(wait_exit(sup, 10), 0);
    int64_t took = now_ms() - t0;
    assert_true(took >= 300); /* the deadline was waited for */
    assert_true(took < 5000);
    assert_int_equal(kill(fake, 0), -1); /* and then SIGKILL */
    j = part_state("fim");
    assert_string_equal(json_string_value(json_object_get(j, "state")),
                        "stopped");
    assert_string_equal(json_string_value(json_object_get(j, "last_exit")),
                        "signal 9");
    json_decref(j);
}

/* A part that keeps dying is restarted max_restarts times, then given
 * up on; the supervisor stays up and stops cleanly. */
static void
test_supervise_give_up(void **state)
{
    (void)state;
    pid_t sup = supervise("die", " restart_delay 10ms\n max_restarts 2\n");
    const char *st = NULL;
    json_t *j = NULL;
    for (int i = 0; i < 500; i++) {
        json_decref(j);
        j = part_state("fim");
        st = j ? json_string_value(json_object_get(j, "state")) : NULL;
        if (st != NULL && strcmp(st, "gave_up") == 0)
            break;
        usleep(10000);
    }
    assert_non_null(st);
    assert_string_equal(st, "gave_up");
    assert_int_equal(json_integer_value(json_object_get(j, "restarts")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "last_exit")),
                        "exit 1");
    assert_int_equal(json_integer_value(json_object_get(j, "pid")), 0);
    json_decref(j);
    /* Exactly three starts (the first and two restarts). */
    char p[512];
    snprintf(p, sizeof(p), "%s/pids", tmp);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    assert_int_equal(n, 3);
    assert_int_equal(kill(sup, 0), 0);
    kill(sup, SIGTERM);
    assert_int_equal(wait_exit(sup, 10), 0);
    snprintf(p, sizeof(p), "%s/state/run.json", tmp);
    json_error_t e;
    j = json_load_file(p, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")),
                        "stopped");
    json_decref(j);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_nothing_ran, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_status_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_proxy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_supervise_stop_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_supervise_give_up, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
