/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRS regression suite over the wire (`sekimori crs-test --target`):
 * sends a stage's exact request bytes to a live proxy on a fresh TCP
 * connection with bounded timeouts, reads its response (status, the
 * `X-Sekimori-Id` header the proxy puts on every response, the body), and
 * finds the proxy's audit-log record of that transaction by its
 * `transaction.unique_id` to rebuild the ModSecurity-style log lines the
 * in-process runner judges (docs/crs-test.md, docs/formats/audit-log.md).
 */
#ifndef SK_CRSTEST_WIRE_H
#define SK_CRSTEST_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/str.h"

/* Most response bytes kept (head and body); the rest is read and dropped. */
#define SK_CRSWIRE_MAX_RESPONSE (4 * 1024 * 1024)
/* Longest audit-log line read; longer lines are skipped (and counted). */
#define SK_CRSWIRE_MAX_LINE (8 * 1024 * 1024)
/* Audit records kept while waiting for another id (oldest dropped). */
#define SK_CRSWIRE_MAX_PENDING 4096

struct sk_crswire_result {
    bool responded;     /* a complete response head arrived */
    int status;         /* its status; 0 without a response */
    char id[128];       /* X-Sekimori-Id, "" when absent */
    struct sk_buf body; /* the response body (dechunked), bounded */
    char why[256];      /* transport trouble ("timeout", "reset"...), or "" */
};

/*
 * Connects to host:port (numeric or resolvable; IPv4 or IPv6), sends
 * `request` as is, and reads one response, the whole exchange bounded by
 * `timeout_ms`. The connection is closed afterwards. Returns 0 with *out
 * filled even when the peer closed or timed out without answering
 * (responded false, the reason in out->why); -SK_EIO when no connection
 * could be made; -SK_ENOMEM. Blocks up to timeout_ms. Free out->body with
 * sk_buf_fini.
 */
int sk_crswire_exchange(const char *host, const char *port,
                        struct sk_str request, unsigned timeout_ms,
                        struct sk_crswire_result *out);

struct sk_crswire_audit;

/*
 * Follows the audit log at `path` from its current end (or from its start
 * when it does not exist yet). Returns 0, -SK_ENOMEM. Does not block.
 */
int sk_crswire_audit_open(const char *path, struct sk_crswire_audit **out);

/*
 * Waits up to `wait_ms` (polling the file) for the record whose
 * transaction.unique_id is `id`, and appends its ModSecurity-style lines
 * (one per message, as sk_waf_txn_format_match writes them) to `lines`.
 * *refused is set when the record says the proxy refused the request at
 * the HTTP layer (sekimori.error set, status 4xx, not a rule block).
 * Returns 0, -SK_ENOENT when no such record came in time, -SK_EIO,
 * -SK_ENOMEM. Blocks up to wait_ms.
 */
int sk_crswire_audit_find(struct sk_crswire_audit *a, const char *id,
                          unsigned wait_ms, struct sk_buf *lines,
                          bool *refused);

/* Audit lines skipped so far because they were not valid JSON records. */
size_t sk_crswire_audit_bad_lines(const struct sk_crswire_audit *a);

void sk_crswire_audit_free(struct sk_crswire_audit *a);

/*
 * Appends the ModSecurity-style lines of one audit record (a JSON text of
 * `len` bytes) to `lines` and sets *refused as above. Returns 0,
 * -SK_EPARSE (not an audit record), -SK_ENOMEM. Pure; fuzzed.
 */
int sk_crswire_record_lines(const char *json, size_t len, struct sk_buf *lines,
                            bool *refused);

#endif
