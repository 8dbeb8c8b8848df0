/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the proxy metrics (src/proxy/metrics.c): every rendered
 * line is valid Prometheus text exposition (0.0.4) syntax with HELP/TYPE
 * before the samples; values are the sums across slots; the histogram is
 * cumulative with _count equal to +Inf and a consistent _sum; label values
 * are escaped; and writer threads on their own slots lose no update while
 * a reader renders concurrently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/metrics.h"
#include "util/buf.h"

/* A parsed sample: name, raw label text (without braces), value. */
struct sample {
    char name[128];
    char labels[256];
    double value;
};

#define MAX_SAMPLES 256

struct parsed {
    struct sample s[MAX_SAMPLES];
    size_t n;
};

static bool
name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == ':' || (!first && c >= '0' && c <= '9');
}

/* Reads a metric or label name at *p; returns its length or 0. */
static size_t
read_name(const char *p, bool label)
{
    size_t n = 0;
    while (name_char(p[n], n == 0) && !(label && p[n] == ':'))
        n++;
    return n;
}

/* Validates one label set "a="x",b="y"" (the text between braces). */
static bool
valid_labels(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = read_name(p + i, true);
        if (n == 0)
            return false;
        i += n;
        if (i + 1 >= len || p[i] != '=' || p[i + 1] != '"')
            return false;
        i += 2;
        while (i < len && p[i] != '"') {
            if (p[i] == '\n')
                return false;
            if (p[i] == '\\') {
                if (i + 1 >= len ||
                    (p[i + 1] != '\\' && p[i + 1] != '"' && p[i + 1] != 'n'))
                    return false;
                i++;
            }
            i++;
        }
        if (i >= len)
            return false;
        i++; /* closing quote */
        if (i < len) {
            if (p[i] != ',')
                return false;
            i++;
        }
    }
    return true;
}

static bool
valid_value(const char *v, double *out)
{
    if (strcmp(v, "+Inf") == 0) {
        *out = INFINITY;
        return true;
    }
    if (strcmp(v, "-Inf") == 0 || strcmp(v, "NaN") == 0) {
        *out = NAN;
        return true;
    }
    char *end;
    *out = strtod(v, &end);
    return end != v && *end == '\0';
}

/*
 * Parses the exposition; fails the test on any invalid line, a TYPE that
 * comes after its samples or twice, or a sample without a TYPE.
 */
static void
parse_exposition(const char *text, struct parsed *ps)
{
    char types[64][128];
    size_t ntypes = 0;
    ps->n = 0;
    const char *line = text;
    assert_true(strlen(text) > 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    while (*line != '\0') {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        size_t len = (size_t)(nl - line);
        char buf[1024];
        assert_true(len < sizeof(buf));
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = nl + 1;
        if (buf[0] == '#') {
            char kind[8], name[128];
            int off = 0;
            assert_int_equal(sscanf(buf, "# %7s %127s %n", kind, name, &off),
                             2);
            assert_true(read_name(name, false) == strlen(name));
            if (strcmp(kind, "TYPE") == 0) {
                const char *t = buf + off;
                assert_true(
                    strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
                    strcmp(t, "histogram") == 0 || strcmp(t, "summary") == 0 ||
                    strcmp(t, "untyped") == 0);
                for (size_t k = 0; k < ntypes; k++)
                    assert_string_not_equal(types[k], name);
                for (size_t k = 0; k < ps->n; k++)
                    assert_true(strncmp(ps->s[k].name, name, strlen(name)) !=
                                0);
                assert_true(ntypes < 64);
                snprintf(types[ntypes++], 128, "%s", name);
            } else
                assert_string_equal(kind, "HELP");
            continue;
        }
        assert_true(len > 0);
        struct sample *s = &ps->s[ps->n];
        assert_true(ps->n < MAX_SAMPLES);
        size_t n = read_name(buf, false);
        assert_true(n > 0 && n < sizeof(s->name));
        memcpy(s->name, buf, n);
        s->name[n] = '\0';
        const char *p = buf + n;
        s->labels[0] = '\0';
        if (*p == '{') {
            const char *close = strrchr(p, '}');
            assert_non_null(close);
            size_t ll = (size_t)(close - p - 1);
            assert_true(ll < sizeof(s->labels));
            memcpy(s->labels, p + 1, ll);
            s->labels[ll] = '\0';
            assert_true(valid_labels(s->labels, ll));
            p = close + 1;
        }
        assert_int_equal(*p, ' ');
        p++;
        char val[64];
        const char *sp = strchr(p, ' ');
        size_t vl = sp ? (size_t)(sp - p) : strlen(p);
        assert_true(vl > 0 && vl < sizeof(val));
        memcpy(val, p, vl);
        val[vl] = '\0';
        assert_true(valid_value(val, &s->value));
        /* The sample belongs to a declared family. */
        bool typed = false;
        for (size_t k = 0; k < ntypes && !typed; k++) {
            size_t tl = strlen(types[k]);
            typed = strncmp(s->name, types[k], tl) == 0 &&
                    (s->name[tl] == '\0' || strcmp(s->name + tl, "_sum") == 0 ||
                     strcmp(s->name + tl, "_count") == 0 ||
                     strcmp(s->name + tl, "_bucket") == 0);
        }
        assert_true(typed);
        ps->n++;
    }
}

static double
value_of(const struct parsed *ps, const char *name, const char *labels)
{
    for (size_t k = 0; k < ps->n; k++)
        if (strcmp(ps->s[k].name, name) == 0 &&
            strcmp(ps->s[k].labels, labels) == 0)
            return ps->s[k].value;
    fail_msg("no sample %s{%s}", name, labels);
    return 0;
}

/* Checks the histogram: cumulative, ascending le, +Inf == _count. */
static void
check_histogram(const struct parsed *ps, double *count, double *sum)
{
    double prev = 0, prev_le = -1;
    bool inf = false;
    for (size_t k = 0; k < ps->n; k++) {
        if (strcmp(ps->s[k].name, "sekimori_request_duration_seconds_bucket"))
            continue;
        double le;
        const char *l = ps->s[k].labels;
        assert_true(strncmp(l, "le=\"", 4) == 0);
        if (strcmp(l, "le=\"+Inf\"") == 0) {
            le = INFINITY;
            inf = true;
        } else
            le = strtod(l + 4, NULL);
        assert_true(le > prev_le);
        assert_true(ps->s[k].value >= prev);
        prev = ps->s[k].value;
        prev_le = le;
    }
    assert_true(inf);
    *count = value_of(ps, "sekimori_request_duration_seconds_count", "");
    *sum = value_of(ps, "sekimori_request_duration_seconds_sum", "");
    assert_true(*count == prev);
}

static void
test_render_sums(void **state)
{
    (void)state;
    enum { N = 3 };
    size_t sz = sk_proxy_metrics_size(N);
    void *mem = malloc(sz);
    assert_non_null(mem);
    memset(mem, 0xa5, sz);
    sk_proxy_metrics_init(mem, N);
    struct sk_proxy_mslot *s0 = sk_proxy_metrics_slot(mem, 0);
    struct sk_proxy_mslot *s2 = sk_proxy_metrics_slot(mem, 2);
    sk_proxy_metrics_request(s0, 200, false, 400);      /* <= 0.0005 */
    sk_proxy_metrics_request(s0, 200, false, 500);      /* <= 0.0005 */
    sk_proxy_metrics_request(s2, 200, false, 1200);     /* <= 0.0025 */
    sk_proxy_metrics_request(s2, 403, true, 20000000);  /* +Inf */
    sk_proxy_metrics_request(s2, 999, false, 10000000); /* <= 10 */
    sk_proxy_metrics_bad_request(s0);
    sk_proxy_metrics_bad_request(s2);
    sk_proxy_metrics_upstream_error(s0, SK_PROXY_UP_TIMEOUT);
    sk_proxy_metrics_upstream_error(s2, SK_PROXY_UP_TIMEOUT);
    sk_proxy_metrics_upstream_error(s2, SK_PROXY_UP__COUNT); /* ignored */
    sk_proxy_metrics_phase(s0, 2, 1500000000);
    sk_proxy_metrics_phase(s2, 2, 1);
    sk_proxy_metrics_phase(s2, 9, 5); /* ignored */
    sk_proxy_metrics_connections(s0, 3);
    sk_proxy_metrics_connections(s2, 2);
    sk_proxy_metrics_connections(s2, -1);
    sk_proxy_metrics_log_error(s2);

    struct sk_buf out = {0};
    assert_int_equal(
        sk_proxy_metrics_render(mem, N,
                                "# TYPE sekimori_events_dropped_total counter\n"
                                "sekimori_events_dropped_total 7",
                                &out),
        0);
    struct parsed *ps = calloc(1, sizeof(*ps));
    parse_exposition(sk_buf_cstr(&out), ps);
    assert_true(value_of(ps, "sekimori_requests_total", "code=\"200\"") == 3);
    assert_true(value_of(ps, "sekimori_requests_total", "code=\"403\"") == 1);
    assert_true(value_of(ps, "sekimori_requests_total", "code=\"0\"") == 1);
    assert_true(value_of(ps, "sekimori_blocked_total", "") == 1);
    assert_true(value_of(ps, "sekimori_bad_requests_total", "") == 2);
    assert_true(value_of(ps, "sekimori_upstream_errors_total",
                         "kind=\"timeout\"") == 2);
    assert_true(value_of(ps, "sekimori_upstream_errors_total",
                         "kind=\"refused\"") == 0);
    assert_true(value_of(ps, "sekimori_waf_phase_seconds_total",
                         "phase=\"2\"") == 1.500000001);
    assert_true(value_of(ps, "sekimori_connections", "") == 4);
    assert_true(value_of(ps, "sekimori_log_errors_total", "") == 1);
    assert_true(value_of(ps, "sekimori_events_dropped_total", "") == 7);
    assert_true(value_of(ps, "sekimori_request_duration_seconds_bucket",
                         "le=\"0.000500\"") == 2);
    assert_true(value_of(ps, "sekimori_request_duration_seconds_bucket",
                         "le=\"0.002500\"") == 3);
    assert_true(value_of(ps, "sekimori_request_duration_seconds_bucket",
                         "le=\"10.000000\"") == 4);
    double count, sum;
    check_histogram(ps, &count, &sum);
    assert_true(count == 5);
    assert_true(fabs(sum - 30.0021) < 1e-9);

    /* A reaped worker's connections are forgotten, counters kept. */
    assert_int_equal(sk_proxy_metrics_slot_dead(s2), 1);
    assert_int_equal(sk_proxy_metrics_slot_dead(s2), 0);
    sk_buf_clear(&out);
    assert_int_equal(sk_proxy_metrics_render(mem, N, NULL, &out), 0);
    parse_exposition(sk_buf_cstr(&out), ps);
    assert_true(value_of(ps, "sekimori_connections", "") == 3);
    assert_true(value_of(ps, "sekimori_requests_total", "code=\"200\"") == 3);

    /* Label escaping for callers' extra lines. */
    sk_buf_clear(&out);
    assert_int_equal(sk_proxy_metrics_escape_label(&out, "a\\b\"c\nd"), 0);
    assert_string_equal(sk_buf_cstr(&out), "a\\\\b\\\"c\\nd");
    free(ps);
    sk_buf_fini(&out);
    free(mem);
}

#define NTHREADS 4
#define PER_THREAD 200000

struct writer {
    struct sk_proxy_mslot *slot;
    int idx;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        sk_proxy_metrics_request(w->slot, i % 2 ? 200 : 404, i % 10 == 0,
                                 (uint64_t)(i % 3000));
        sk_proxy_metrics_connections(w->slot, 1);
        sk_proxy_metrics_connections(w->slot, -1);
        sk_proxy_metrics_phase(w->slot, 1 + i % 5, 1000);
    }
    return NULL;
}

static void
test_concurrent(void **state)
{
    (void)state;
    void *mem = malloc(sk_proxy_metrics_size(NTHREADS));
    assert_non_null(mem);
    sk_proxy_metrics_init(mem, NTHREADS);
    pthread_t th[NTHREADS];
    struct writer w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct writer){sk_proxy_metrics_slot(mem, (unsigned)i), i};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    /* Render while they write: always valid, monotonic, consistent. */
    struct parsed *ps = calloc(1, sizeof(*ps));
    struct sk_buf out = {0};
    double last = 0;
    for (int r = 0; r < 50; r++) {
        sk_buf_clear(&out);
        assert_int_equal(sk_proxy_metrics_render(mem, NTHREADS, NULL, &out), 0);
        parse_exposition(sk_buf_cstr(&out), ps);
        double count, sum;
        check_histogram(ps, &count, &sum);
        assert_true(count >= last);
        last = count;
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    sk_buf_clear(&out);
    assert_int_equal(sk_proxy_metrics_render(mem, NTHREADS, NULL, &out), 0);
    parse_exposition(sk_buf_cstr(&out), ps);
    double count, sum;
    check_histogram(ps, &count, &sum);
    assert_true(count == (double)NTHREADS * PER_THREAD);
    assert_true(value_of(ps, "sekimori_requests_total", "code=\"200\"") ==
                (double)NTHREADS * PER_THREAD / 2);
    assert_true(value_of(ps, "sekimori_blocked_total", "") ==
                (double)NTHREADS * PER_THREAD / 10);
    assert_true(value_of(ps, "sekimori_connections", "") == 0);
    /* sum of i % 3000 over one thread, in microseconds */
    uint64_t us = 0;
    for (int i = 0; i < PER_THREAD; i++)
        us += (uint64_t)(i % 3000);
    assert_true(fabs(sum - (double)us * NTHREADS / 1e6) < 1e-6);
    assert_true(
        value_of(ps, "sekimori_waf_phase_seconds_total", "phase=\"1\"") ==
        (double)NTHREADS * PER_THREAD / 5 * 1000 / 1e9);
    free(ps);
    sk_buf_fini(&out);
    free(mem);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_sums),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
