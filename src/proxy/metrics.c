/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proxy metrics in shared memory (see metrics.h): one slot per worker,
 * written by that worker only with relaxed atomic adds, read and summed by
 * the master when it renders the Prometheus text exposition (0.0.4).
 *
 * A reader may see a slot half-way through a request's updates (the
 * request counted but its latency bucket not yet): counters are each
 * monotonic, which is all Prometheus needs. The histogram's _count is the
 * sum of the bucket counts read in the same pass, so +Inf and _count
 * always agree in one rendering.
 */
#include "proxy/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

/* Upper bounds of the latency buckets, in microseconds (0.5 ms .. 10 s). */
static const uint64_t bucket_us[] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

/* Status codes 100..599 each have a counter; others count as code 0. */
#define CODE_MIN 100
#define CODE_MAX 599
#define NCODES (CODE_MAX - CODE_MIN + 2)
#define NPHASES 5

struct sk_proxy_mslot {
    uint64_t requests[NCODES]; /* [0] other codes, [1 + c - 100] code c */
    uint64_t blocked;
    uint64_t bad_requests;
    uint64_t upstream[SK_PROXY_UP__COUNT];
    uint64_t latency[NBUCKETS + 1]; /* not cumulative; last is +Inf */
    uint64_t latency_sum_us;
    uint64_t phase_ns[NPHASES];
    int64_t connections;
    uint64_t log_errors;
} __attribute__((aligned(64)));

/* Slots are cache-line aligned, so two workers never share a line. */
static size_t
slot_size(void)
{
    return (sizeof(struct sk_proxy_mslot) + 63) & ~(size_t)63;
}

size_t
sk_proxy_metrics_size(unsigned nslots)
{
    return slot_size() * (nslots ? nslots : 1);
}

void
sk_proxy_metrics_init(void *mem, unsigned nslots)
{
    memset(mem, 0, sk_proxy_metrics_size(nslots));
}

struct sk_proxy_mslot *
sk_proxy_metrics_slot(void *mem, unsigned i)
{
    return (struct sk_proxy_mslot *)((uint8_t *)mem + slot_size() * i);
}

static const struct sk_proxy_mslot *
slot_c(const void *mem, unsigned i)
{
    return (const struct sk_proxy_mslot *)((const uint8_t *)mem +
                                           slot_size() * i);
}

static inline void
add(uint64_t *p, uint64_t v)
{
    __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static inline uint64_t
get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
sk_proxy_metrics_request(struct sk_proxy_mslot *s, int status, bool blocked,
                         uint64_t latency_us)
{
    size_t ci = status >= CODE_MIN && status <= CODE_MAX
                    ? (size_t)(1 + status - CODE_MIN)
                    : 0;
    add(&s->requests[ci], 1);
    if (blocked)
        add(&s->blocked, 1);
    size_t b = 0;
    while (b < NBUCKETS && latency_us > bucket_us[b])
        b++;
    add(&s->latency[b], 1);
    add(&s->latency_sum_us, latency_us);
}

void
sk_proxy_metrics_bad_request(struct sk_proxy_mslot *s)
{
    add(&s->bad_requests, 1);
}

void
sk_proxy_metrics_upstream_error(struct sk_proxy_mslot *s, enum sk_proxy_uperr e)
{
    if ((unsigned)e < SK_PROXY_UP__COUNT)
        add(&s->upstream[e], 1);
}

void
sk_proxy_metrics_phase(struct sk_proxy_mslot *s, int phase, uint64_t ns)
{
    if (phase >= 1 && phase <= NPHASES)
        add(&s->phase_ns[phase - 1], ns);
}

void
sk_proxy_metrics_connections(struct sk_proxy_mslot *s, int delta)
{
    __atomic_fetch_add(&s->connections, (int64_t)delta, __ATOMIC_RELAXED);
}

void
sk_proxy_metrics_log_error(struct sk_proxy_mslot *s)
{
    add(&s->log_errors, 1);
}

int64_t
sk_proxy_metrics_slot_dead(struct sk_proxy_mslot *s)
{
    return __atomic_exchange_n(&s->connections, 0, __ATOMIC_RELAXED);
}

/* ---- Rendering -------------------------------------------------------- */

int
sk_proxy_metrics_escape_label(struct sk_buf *b, const char *v)
{
    int rc = 0;
    for (const char *p = v; rc == 0 && *p != '\0'; p++) {
        if (*p == '\\')
            rc = sk_buf_append(b, "\\\\", 2);
        else if (*p == '"')
            rc = sk_buf_append(b, "\\\"", 2);
        else if (*p == '\n')
            rc = sk_buf_append(b, "\\n", 2);
        else
            rc = sk_buf_putc(b, (uint8_t)*p);
    }
    return rc;
}

static int
head(struct sk_buf *b, const char *name, const char *type, const char *help)
{
    return sk_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                         type);
}

/* `name{label="value"} v` */
static int
labeled(struct sk_buf *b, const char *name, const char *label,
        const char *value, uint64_t v)
{
    int rc = sk_buf_printf(b, "%s{%s=\"", name, label);
    if (rc == 0)
        rc = sk_proxy_metrics_escape_label(b, value);
    if (rc == 0)
        rc = sk_buf_printf(b, "\"} %" PRIu64 "\n", v);
    return rc;
}

/* Microseconds or nanoseconds as decimal seconds, exactly. */
static int
seconds(struct sk_buf *b, uint64_t v, unsigned digits)
{
    uint64_t div = digits == 6 ? 1000000u : 1000000000u;
    return sk_buf_printf(b, "%" PRIu64 ".%0*" PRIu64, v / div, (int)digits,
                         v % div);
}

int
sk_proxy_metrics_render(const void *mem, unsigned nslots, const char *extra,
                        struct sk_buf *out)
{
    static const char *const up_kind[SK_PROXY_UP__COUNT] = {
        "refused", "timeout", "reset", "bad"};
    /* Sum the slots first: one pass, so the numbers are of one moment as
     * far as relaxed reads allow. */
    struct sk_proxy_mslot sum;
    memset(&sum, 0, sizeof(sum));
    for (unsigned i = 0; i < nslots; i++) {
        const struct sk_proxy_mslot *s = slot_c(mem, i);
        for (size_t k = 0; k < NCODES; k++)
            sum.requests[k] += get(&s->requests[k]);
        sum.blocked += get(&s->blocked);
        sum.bad_requests += get(&s->bad_requests);
        for (size_t k = 0; k < SK_PROXY_UP__COUNT; k++)
            sum.upstream[k] += get(&s->upstream[k]);
        for (size_t k = 0; k <= NBUCKETS; k++)
            sum.latency[k] += get(&s->latency[k]);
        sum.latency_sum_us += get(&s->latency_sum_us);
        for (size_t k = 0; k < NPHASES; k++)
            sum.phase_ns[k] += get(&s->phase_ns[k]);
        sum.connections += __atomic_load_n(&s->connections, __ATOMIC_RELAXED);
        sum.log_errors += get(&s->log_errors);
    }

    size_t start = out->len;
    char lv[32];
    int rc = head(out, "sekimori_requests_total", "counter",
                  "Requests answered, by status code (0: outside 100-599).");
    for (size_t k = 0; rc == 0 && k < NCODES; k++) {
        if (sum.requests[k] == 0)
            continue;
        snprintf(lv, sizeof(lv), "%zu", k == 0 ? 0 : k - 1 + CODE_MIN);
        rc = labeled(out, "sekimori_requests_total", "code", lv,
                     sum.requests[k]);
    }
    if (rc == 0)
        rc = head(out, "sekimori_blocked_total", "counter",
                  "Requests the proxy answered for the rule engine.");
    if (rc == 0)
        rc = sk_buf_printf(out, "sekimori_blocked_total %" PRIu64 "\n",
                           sum.blocked);
    if (rc == 0)
        rc = head(out, "sekimori_bad_requests_total", "counter",
                  "Requests refused by the strict HTTP parser.");
    if (rc == 0)
        rc = sk_buf_printf(out, "sekimori_bad_requests_total %" PRIu64 "\n",
                           sum.bad_requests);
    if (rc == 0)
        rc = head(out, "sekimori_upstream_errors_total", "counter",
                  "Failed exchanges with the upstream, by kind.");
    for (size_t k = 0; rc == 0 && k < SK_PROXY_UP__COUNT; k++)
        rc = labeled(out, "sekimori_upstream_errors_total", "kind", up_kind[k],
                     sum.upstream[k]);
    if (rc == 0)
        rc = head(out, "sekimori_request_duration_seconds", "histogram",
                  "Time from the first request byte to the last response "
                  "byte.");
    uint64_t cum = 0;
    for (size_t k = 0; rc == 0 && k <= NBUCKETS; k++) {
        cum += sum.latency[k];
        rc = sk_buf_append_c(out, "sekimori_request_duration_seconds_bucket"
                                  "{le=\"");
        if (rc == 0)
            rc = k < NBUCKETS ? seconds(out, bucket_us[k], 6)
                              : sk_buf_append_c(out, "+Inf");
        if (rc == 0)
            rc = sk_buf_printf(out, "\"} %" PRIu64 "\n", cum);
    }
    if (rc == 0)
        rc = sk_buf_append_c(out, "sekimori_request_duration_seconds_sum ");
    if (rc == 0)
        rc = seconds(out, sum.latency_sum_us, 6);
    if (rc == 0)
        rc = sk_buf_printf(
            out, "\nsekimori_request_duration_seconds_count %" PRIu64 "\n",
            cum);
    if (rc == 0)
        rc = head(out, "sekimori_waf_phase_seconds_total", "counter",
                  "Time the rule engine spent in each phase.");
    for (int k = 0; rc == 0 && k < NPHASES; k++) {
        rc = sk_buf_printf(
            out, "sekimori_waf_phase_seconds_total{phase=\"%d\"} ", k + 1);
        if (rc == 0)
            rc = seconds(out, sum.phase_ns[k], 9);
        if (rc == 0)
            rc = sk_buf_putc(out, '\n');
    }
    if (rc == 0)
        rc = head(out, "sekimori_connections", "gauge",
                  "Client connections open now.");
    if (rc == 0)
        rc = sk_buf_printf(out, "sekimori_connections %" PRId64 "\n",
                           sum.connections);
    if (rc == 0)
        rc = head(out, "sekimori_log_errors_total", "counter",
                  "Audit or access log records that could not be written.");
    if (rc == 0)
        rc = sk_buf_printf(out, "sekimori_log_errors_total %" PRIu64 "\n",
                           sum.log_errors);
    if (rc == 0 && extra != NULL && extra[0] != '\0') {
        rc = sk_buf_append_c(out, extra);
        if (rc == 0 && extra[strlen(extra) - 1] != '\n')
            rc = sk_buf_putc(out, '\n');
    }
    if (rc != 0) {
        out->len = start;
        return -SK_ENOMEM;
    }
    return 0;
}
