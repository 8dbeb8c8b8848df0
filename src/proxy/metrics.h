/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proxy metrics in shared memory, rendered in the Prometheus text format
 * by the master's metrics listener. Each worker owns one slot and is its
 * only writer (relaxed atomic adds); the master sums the slots when it
 * renders. Slots are never zeroed while the master lives, so counters
 * stay monotonic across reloads (new workers take fresh slots). The
 * connections gauge is a sum of per-slot deltas: a worker that dies
 * without closing its connections leaves them counted, so the master
 * calls sk_proxy_metrics_slot_dead() on the slot of a worker it reaped.
 */
#ifndef SK_PROXY_METRICS_H
#define SK_PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct sk_proxy_mslot;

enum sk_proxy_uperr {
    SK_PROXY_UP_REFUSED = 0, /* connect failed: 502 */
    SK_PROXY_UP_TIMEOUT = 1, /* connect or read timeout: 504 */
    SK_PROXY_UP_RESET = 2,   /* reset or EOF mid-response */
    SK_PROXY_UP_BAD = 3,     /* malformed response: 502 */
    SK_PROXY_UP__COUNT = 4,
};

/* Bytes of shared memory for `nslots` worker slots. */
size_t sk_proxy_metrics_size(unsigned nslots);

/* Zeroes a region of sk_proxy_metrics_size(nslots) bytes. */
void sk_proxy_metrics_init(void *mem, unsigned nslots);

/* Slot `i` (< nslots) of the region. */
struct sk_proxy_mslot *sk_proxy_metrics_slot(void *mem, unsigned i);

/* Recorders: lock-free, never block, any worker on its own slot. */
void sk_proxy_metrics_request(struct sk_proxy_mslot *s, int status,
                              bool blocked, uint64_t latency_us);
void sk_proxy_metrics_bad_request(struct sk_proxy_mslot *s);
void sk_proxy_metrics_upstream_error(struct sk_proxy_mslot *s,
                                     enum sk_proxy_uperr e);
void sk_proxy_metrics_phase(struct sk_proxy_mslot *s, int phase, uint64_t ns);
void sk_proxy_metrics_connections(struct sk_proxy_mslot *s, int delta);
void sk_proxy_metrics_log_error(struct sk_proxy_mslot *s);

/*
 * The master, after reaping the slot's worker (no writer left): zeroes
 * the slot's gauges (open connections died with the process); counters
 * are kept. Returns the connections the gauge still counted (h/master
 * addition: the master takes them off shm->connections too, or a killed
 * worker's connections would count against max_connections forever).
 * Never blocks.
 */
int64_t sk_proxy_metrics_slot_dead(struct sk_proxy_mslot *s);

/*
 * Appends the Prometheus text exposition (version 0.0.4) of the sum of
 * all slots: sekimori_requests_total{code}, sekimori_blocked_total,
 * sekimori_bad_requests_total, sekimori_upstream_errors_total{kind},
 * sekimori_request_duration_seconds (histogram),
 * sekimori_waf_phase_seconds_total{phase}, sekimori_connections,
 * sekimori_log_errors_total; plus `extra` lines the caller adds (may be
 * NULL). 0 or -SK_ENOMEM. Reads only.
 */
int sk_proxy_metrics_render(const void *mem, unsigned nslots, const char *extra,
                            struct sk_buf *out);

/*
 * Appends `value` escaped for use inside a label's double quotes in the
 * text format (backslash, double quote and newline), for callers that
 * build `extra` lines. 0 or -SK_ENOMEM. Pure.
 */
int sk_proxy_metrics_escape_label(struct sk_buf *out, const char *value);

#endif
