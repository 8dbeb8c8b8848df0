/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's connection to the event log writer (`sekimori log serve`,
 * src/evlog): blocks, maintenance switches and reloads become records of
 * the tamper-evident log. The event loop must never wait on the writer,
 * so records go into a bounded in-memory queue that one sender thread per
 * process drains through the blocking evlog client, reconnecting with
 * backoff. A full queue drops the record and counts it (reported in the
 * operational log and the metrics): the audit log still has the
 * transaction.
 */
#ifndef SK_PROXY_EVENTS_H
#define SK_PROXY_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "util/str.h"

struct sk_proxy_events;

/* Most records waiting to be sent; more are dropped and counted. */
#define SK_PROXY_EVENTS_QUEUE 4096

/*
 * Starts the sender thread for the writer socket `socket_path`; records
 * carry `source` ("proxy"). Does not connect yet (the writer may start
 * later). Call after fork. 0, -SK_EINVAL (source not [a-z0-9_.-]{1,32},
 * or a socket path too long for a UNIX socket address), -SK_ENOMEM.
 */
int sk_proxy_events_new(const char *socket_path, const char *source,
                        struct sk_proxy_events **out);

/*
 * Queues one record (type such as "proxy.block", body a JSON object); the
 * bytes are copied. Never blocks. 0, or -SK_ELIMIT when the queue is full
 * (dropped, counted).
 */
int sk_proxy_events_emit(struct sk_proxy_events *e, const char *type,
                         struct sk_str body);

/* Records dropped so far, and records the writer acknowledged. */
uint64_t sk_proxy_events_dropped(const struct sk_proxy_events *e);
uint64_t sk_proxy_events_sent(const struct sk_proxy_events *e);

/*
 * Sends what is queued (waiting at most `flush_ms`), stops the thread and
 * frees. Blocks up to flush_ms.
 */
void sk_proxy_events_free(struct sk_proxy_events *e, unsigned flush_ms);

#endif
