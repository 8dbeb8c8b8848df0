/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the event log, one measurement per run (bench/evlog/run.sh
 * repeats them and takes medians):
 *   bench_evlog append DIR KEY none|group|record N   in-process appends
 *   bench_evlog socket DIR KEY none|group|record N   through the writer socket
 *   bench_evlog fill   DIR KEY N                     make a log of N records
 *   bench_evlog verify DIR                           sk_evlog_verify
 *   bench_evlog query  DIR [SINCE]                   queries over the log
 *                                                    (SINCE: epoch seconds)
 * Each prints "name value unit" lines: rates over the wall clock, and
 * "_cpu" rates over the process's CPU time (steadier on a shared machine;
 * for durable modes the wall clock, which includes fsync waits, matters).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evlog/evlog.h"
#include "util/error.h"

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A WAF block event of typical size (~260 bytes). */
static size_t
body(char *b, size_t n, uint64_t i)
{
    return (size_t)snprintf(
        b, n,
        "{\"client_ip\":\"203.0.%u.%u\",\"method\":\"POST\",\"path\":"
        "\"/shopping/checkout/%" PRIu64 "\",\"rule_id\":\"942100\",\"msg\":"
        "\"SQL Injection Attack Detected via libinjection\",\"severity\":"
        "\"CRITICAL\",\"status\":403,\"tx\":\"Z%016" PRIx64 "\"}",
        (unsigned)(i / 251 % 256), (unsigned)(i % 251), i, i * 2654435761u);
}

/* CPU seconds of the whole process (all threads): on a shared, busy
 * machine this is steadier than the wall clock. */
static double
cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
die(const char *what, int rc)
{
    fprintf(stderr, "bench_evlog: %s: %s\n", what, sk_strerror(rc));
    return 1;
}

static int
open_log(const char *dir, const char *key, const char *mode,
         struct sk_evlog **log)
{
    struct sk_evlog_config cfg = {
        .dir = dir, .key_path = key, .checkpoint_every = 100000, .group_ms = 2};
    if (sk_evlog_durability_parse(mode, &cfg.durability) != 0)
        return -SK_EINVAL;
    return sk_evlog_open(&cfg, log, NULL);
}

static int
cmd_append(const char *dir, const char *key, const char *mode, uint64_t n)
{
    struct sk_evlog *log;
    int rc = open_log(dir, key, mode, &log);
    if (rc != 0)
        return die("open", rc);
    bool per_record = strcmp(mode, "record") == 0;
    char b[512];
    uint64_t bytes = 0;
    double t0 = now_s(), last = t0, c0 = cpu_s();
    for (uint64_t i = 0; i < n; i++) {
        size_t len = body(b, sizeof(b), i);
        bytes += len;
        rc = sk_evlog_append(log, SK_STR_LIT("proxy"), SK_STR_LIT("waf.block"),
                             sk_str_make(b, len), NULL);
        if (rc != 0)
            return die("append", rc);
        /* Group commit: what the writer does every group_ms. */
        double t = per_record || (i & 255) == 0 ? now_s() : last;
        if (per_record || t - last >= 0.002) {
            if ((rc = sk_evlog_commit(log)) != 0)
                return die("commit", rc);
            last = t;
        }
    }
    if ((rc = sk_evlog_close(log)) != 0)
        return die("close", rc);
    double dt = now_s() - t0, dc = cpu_s() - c0;
    printf("append_%s_rps %.0f records/s\n", mode, (double)n / dt);
    printf("append_%s_mbps %.1f MB/s\n", mode, (double)bytes / dt / 1e6);
    printf("append_%s_rps_cpu %.0f records/cpu-s\n", mode, (double)n / dc);
    return 0;
}

struct srv {
    struct sk_evlog *log;
    struct sk_evlog_server_config cfg;
    volatile int stop;
};

static void *
serve(void *arg)
{
    struct srv *s = arg;
    sk_evlog_serve(s->log, &s->cfg);
    return NULL;
}

static int
cmd_socket(const char *dir, const char *key, const char *mode, uint64_t n)
{
    struct srv s = {0};
    int rc = open_log(dir, key, mode, &s.log);
    if (rc != 0)
        return die("open", rc);
    char sock[4096];
    snprintf(sock, sizeof(sock), "%s.sock", dir);
    s.cfg.socket_path = sock;
    s.cfg.stop = &s.stop;
    pthread_t th;
    pthread_create(&th, NULL, serve, &s);
    struct sk_evlog_client *c = NULL;
    for (int i = 0; i < 500 && c == NULL; i++)
        if (sk_evlog_client_connect(sock, &c) != 0)
            usleep(10000);
    if (c == NULL)
        return die("connect", -SK_EIO);
    /* A proxy pipelines: at most `window` records wait for their ACK. */
    uint64_t window = strcmp(mode, "record") == 0 ? 64 : 4096;
    char b[512];
    uint64_t bytes = 0, sent = 0, got = 0, seq;
    double t0 = now_s(), c0 = cpu_s();
    while (got < n) {
        while (sent < n && sent - got < window) {
            size_t len = body(b, sizeof(b), sent);
            bytes += len;
            if ((rc = sk_evlog_client_send(c, SK_STR_LIT("proxy"),
                                           SK_STR_LIT("waf.block"),
                                           sk_str_make(b, len))) != 0)
                return die("send", rc);
            sent++;
        }
        if ((rc = sk_evlog_client_recv(c, &seq)) != 0)
            return die("recv", rc);
        got++;
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;
    sk_evlog_client_close(c);
    s.stop = 1;
    pthread_join(th, NULL);
    sk_evlog_close(s.log);
    printf("socket_%s_rps %.0f records/s\n", mode, (double)n / dt);
    printf("socket_%s_mbps %.1f MB/s\n", mode, (double)bytes / dt / 1e6);
    printf("socket_%s_rps_cpu %.0f records/cpu-s\n", mode, (double)n / dc);
    return 0;
}

static int
cmd_verify(const char *dir)
{
    struct sk_evlog_verify_opts o = {.dir = dir};
    struct sk_evlog_verify_report r;
    double t0 = now_s(), c0 = cpu_s();
    int rc = sk_evlog_verify(&o, &r);
    double dt = now_s() - t0, dc = cpu_s() - c0;
    if (rc != 0) {
        fprintf(stderr, "bench_evlog: verify: %s\n", r.why);
        return 1;
    }
    printf("verify_mbps %.0f MB/s\n", (double)r.bytes / dt / 1e6);
    printf("verify_mbps_cpu %.0f MB/cpu-s\n", (double)r.bytes / dc / 1e6);
    printf("verify_rps %.0f records/s\n", (double)r.records / dt);
    printf("verify_records %" PRIu64 " records\n", r.records);
    printf("verify_bytes %" PRIu64 " bytes\n", r.bytes);
    return 0;
}

static int
run_query(const char *dir, const struct sk_evlog_query *q, const char *name)
{
    struct sk_evlog_reader *r;
    int rc = sk_evlog_reader_open(dir, &r);
    if (rc != 0)
        return die("reader", rc);
    if (q->since_ns)
        sk_evlog_reader_seek_time(r, q->since_ns);
    struct sk_evlog_record rec;
    uint64_t seen = 0, hits = 0;
    double t0 = now_s(), c0 = cpu_s();
    while ((rc = sk_evlog_reader_next(r, &rec)) == 0) {
        seen++;
        if (sk_evlog_query_match(q, &rec))
            hits++;
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;
    sk_evlog_reader_free(r);
    if (rc != -SK_ENOENT)
        return die("query", rc);
    printf("query_%s_secs %.2f s (%.2f cpu-s, %" PRIu64
           " records scanned, %" PRIu64 " matches)\n",
           name, dt, dc, seen, hits);
    return 0;
}

static int
cmd_query(const char *dir, uint64_t since_s)
{
    struct sk_evlog_query ip = {.client_ip = "203.0.17.42"};
    struct sk_evlog_query text = {.text = "checkout/4242424"};
    struct sk_evlog_query type = {.type = "waf.block", .source = "fim"};
    /* The log's last second(s): whole segments are skipped by time. */
    struct sk_evlog_query recent = {.since_ns = since_s * 1000000000ULL,
                                    .client_ip = "203.0.17.42"};
    return run_query(dir, &ip, "ip") || run_query(dir, &text, "text") ||
           run_query(dir, &type, "type") ||
           (since_s != 0 && run_query(dir, &recent, "since_end_ip"));
}

int
main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "append") == 0)
        return cmd_append(argv[2], argv[3], argv[4],
                          strtoull(argv[5], NULL, 10));
    if (argc >= 6 && strcmp(argv[1], "socket") == 0)
        return cmd_socket(argv[2], argv[3], argv[4],
                          strtoull(argv[5], NULL, 10));
    if (argc >= 5 && strcmp(argv[1], "fill") == 0)
        return cmd_append(argv[2], argv[3], "none",
                          strtoull(argv[4], NULL, 10));
    if (argc >= 3 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "query") == 0)
        return cmd_query(argv[2], argc >= 4 ? strtoull(argv[3], NULL, 10) : 0);
    fprintf(stderr, "usage: see the comment at the top of bench_evlog.c\n");
    return 2;
}
