/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's transaction logs: the JSON-lines audit log in the shape of
 * ModSecurity v3's JSON audit log (docs/formats/audit-log.md) and the
 * access log in the combined format; and the append-only files they go
 * to, which several worker processes share.
 *
 * Card numbers, security codes and passwords are redacted in the one
 * function that builds each record (sk_proxy_audit_format): request
 * target, header values and rule data pass through the redactor.
 */
#ifndef SK_PROXY_PLOG_H
#define SK_PROXY_PLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "sekimori/waf.h"
#include "util/buf.h"

/* ---- Files ------------------------------------------------------------ */

struct sk_proxy_logfile;

/*
 * Opens (creates, mode 0640) a log file for appending. Blocks. 0 or a
 * negative error (message with the path on stderr via sk_log).
 */
int sk_proxy_logfile_open(const char *path, struct sk_proxy_logfile **out);

/*
 * Appends one record with a single write(2) on an O_APPEND descriptor, so
 * records of several processes never interleave on a local file system.
 * Limits: a partial write (disk full, file size limit) is completed by a
 * second write that may land after another process's record; NFS gives no
 * O_APPEND atomicity (docs/formats/audit-log.md, "Files"). EINTR is
 * retried. Blocks on the disk (a regular file). 0 or -SK_EIO (logged; the
 * caller counts it with sk_proxy_metrics_log_error and goes on).
 */
int sk_proxy_logfile_write(struct sk_proxy_logfile *f, const void *p, size_t n);

/* Reopens the same path (SIGUSR1, after a rotation). 0 or -SK_EIO, in
 * which case the old descriptor stays in use. */
int sk_proxy_logfile_reopen(struct sk_proxy_logfile *f);
void sk_proxy_logfile_free(struct sk_proxy_logfile *f);

/* ---- Records ---------------------------------------------------------- */

/* What the worker knows about one transaction when it logs it. */
struct sk_proxy_txn_info {
    const char *id;   /* transaction id (also UNIQUE_ID) */
    int64_t start_us; /* realtime, microseconds */
    uint64_t duration_us;
    const char *client_ip;
    unsigned client_port;
    const char *server_ip;
    unsigned server_port;
    /* The TCP peer (added for trusted_proxies, docs/proxy.md): differs
     * from client_ip when a trusted proxy named the client. NULL: not
     * logged. */
    const char *peer_ip;
    unsigned peer_port;
    bool tls;
    const struct sk_http_request *req; /* NULL when the head was refused */
    struct sk_str raw_request_line;    /* for refused heads, may be empty */
    int status;                        /* sent to the client */
    uint64_t bytes_sent;               /* response bytes to the client */
    uint64_t bytes_received;           /* request bytes from the client */
    const struct sk_http_header *resp_headers; /* as sent, may be NULL */
    size_t nresp_headers;
    const struct sk_waf_txn *waf; /* NULL when the engine did not run */
    bool blocked;                 /* the proxy answered for the engine */
    bool detection_only;
    const char *error; /* "upstream: connection refused", the HTTP parse
                          error, ...; NULL when none */
};

/*
 * Appends one JSON object and '\n' to `out`:
 * {"transaction":{"client_ip","time_stamp","server_id","client_port",
 * "host_ip","host_port","unique_id","request":{"method","http_version",
 * "uri","headers":{...}},"response":{"http_code","headers":{...}},
 * "producer":{...},"messages":[{"message","details":{"match","reference",
 * "ruleId","file","lineNumber","data","severity","ver","rev","tags",
 * "maturity","accuracy"}}]}} plus sekimori's "sekimori":{...} object
 * (blocked, error, duration, peer). Every field and the redaction rules are in
 * docs/formats/audit-log.md. `ti` and what it points to are only read.
 * 0 or -SK_ENOMEM (out unchanged). Pure.
 */
int sk_proxy_audit_format(const struct sk_proxy_txn_info *ti,
                          struct sk_buf *out);

/*
 * Appends one combined-format line and '\n':
 * `ip - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 2326 "ref"
 * "agent"`, with the request line redacted. 0 or -SK_ENOMEM. Pure.
 */
int sk_proxy_access_format(const struct sk_proxy_txn_info *ti,
                           struct sk_buf *out);

/*
 * The body of a `proxy.block` (or `proxy.detect`) event for the event
 * log: a JSON object with id, client_ip, method, host, path (redacted),
 * status, rule ids, messages, anomaly scores. 0 or -SK_ENOMEM. Pure.
 */
int sk_proxy_event_format(const struct sk_proxy_txn_info *ti,
                          struct sk_buf *out);

#endif
