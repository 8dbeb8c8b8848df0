/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sekimori's embeddable WAF engine: the public C API.
 *
 * The engine runs ModSecurity-style rules (SecLang, e.g. the OWASP Core
 * Rule Set) and does no I/O of its own: a connector (sekimori's proxy, the
 * crs-test runner, a future server module) loads rules once into a
 * compiled, read-only rule set that any number of threads share, then for
 * every request creates a transaction, feeds it connection data, the
 * request line, headers and body, the response status, headers and body,
 * and asks for the verdict after each phase.
 *
 * Threading: a struct sk_waf_rules is immutable after load except for the
 * persistent collections (IP, GLOBAL), which are guarded internally; a
 * transaction belongs to one thread at a time.
 */
#ifndef SEKIMORI_WAF_H
#define SEKIMORI_WAF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sk_waf_rules;
struct sk_waf_txn;

/* ---- Loading rules ---------------------------------------------------- */

/*
 * Creates an empty rule set builder. Returns NULL on out-of-memory. Free
 * with sk_waf_rules_free().
 */
struct sk_waf_rules *sk_waf_rules_new(void);

/*
 * Adds a rule file (with its Includes) or rule text. Errors are collected
 * and returned by sk_waf_rules_compile(); these return 0, or a negative
 * error when the file could not be read or parsed (see the messages).
 */
int sk_waf_rules_add_file(struct sk_waf_rules *r, const char *path);
int sk_waf_rules_add_text(struct sk_waf_rules *r, const char *name,
                          const char *text, size_t len);

/*
 * Compiles everything added so far into the read-only program. On any
 * error (unknown directive, variable, operator, action or transformation,
 * bad regex, missing data file...) returns a negative error and the rule
 * set is unusable; sk_waf_rules_errors() gives every message as
 * "file:line:col: error: ..." lines. Blocks on file I/O.
 */
int sk_waf_rules_compile(struct sk_waf_rules *r);

/* All diagnostics so far (a NUL-terminated string owned by `r`). */
const char *sk_waf_rules_errors(struct sk_waf_rules *r);

/* Number of compiled rules (chain links count once), for reports. */
size_t sk_waf_rules_count(const struct sk_waf_rules *r);

/* Figures about a compiled rule set, for reports and benchmarks. */
struct sk_waf_rules_stats {
    size_t rules;             /* as sk_waf_rules_count() */
    size_t regex_links;       /* @rx operators (chain links included) */
    size_t regex_prefiltered; /* of those, with a literal prefilter */
    size_t prefilter_groups;  /* literal databases (one per t: chain) */
    size_t folded; /* rules settled at load time (their outcome does not
                    * depend on the request: CRS's setup, level skips) */
};
void sk_waf_rules_stats(const struct sk_waf_rules *r,
                        struct sk_waf_rules_stats *out);

void sk_waf_rules_free(struct sk_waf_rules *r);

/* ---- Transactions ----------------------------------------------------- */

/*
 * Starts a transaction on compiled rules; `id` (may be NULL: one is made)
 * becomes UNIQUE_ID. Returns NULL on out-of-memory. The rules must outlive
 * the transaction.
 */
struct sk_waf_txn *sk_waf_txn_new(const struct sk_waf_rules *r, const char *id);
void sk_waf_txn_free(struct sk_waf_txn *t);

/* The engine copies every byte given to it; callers keep ownership. */
int sk_waf_txn_connection(struct sk_waf_txn *t, const char *client_ip,
                          int client_port, const char *server_ip,
                          int server_port);
int sk_waf_txn_request_line(struct sk_waf_txn *t, const char *method,
                            size_t method_len, const char *uri, size_t uri_len,
                            const char *protocol, size_t protocol_len);
int sk_waf_txn_request_header(struct sk_waf_txn *t, const char *name,
                              size_t name_len, const char *value,
                              size_t value_len);
int sk_waf_txn_request_body(struct sk_waf_txn *t, const void *data, size_t len);
int sk_waf_txn_response_status(struct sk_waf_txn *t, int status,
                               const char *protocol);
int sk_waf_txn_response_header(struct sk_waf_txn *t, const char *name,
                               size_t name_len, const char *value,
                               size_t value_len);
int sk_waf_txn_response_body(struct sk_waf_txn *t, const void *data,
                             size_t len);

/*
 * Run a phase: 1 request headers, 2 request body, 3 response headers, 4
 * response body, 5 logging. Phases run in order; calling a later phase
 * first runs the earlier ones that were skipped. Return 0 or a negative
 * error (out of memory). After each, check sk_waf_txn_verdict().
 */
int sk_waf_txn_phase(struct sk_waf_txn *t, int phase);

/* ---- Results ---------------------------------------------------------- */

enum sk_waf_action {
    SK_WAF_PASS = 0,
    SK_WAF_DENY = 1,     /* answer with `status` */
    SK_WAF_REDIRECT = 2, /* answer 302 (or `status`) to `url` */
    SK_WAF_DROP = 3,     /* close the connection */
    SK_WAF_ALLOW = 4,    /* stop inspecting, let it through */
};

struct sk_waf_verdict {
    enum sk_waf_action action;
    int status;       /* HTTP status for DENY/REDIRECT */
    const char *url;  /* REDIRECT target, owned by the transaction */
    uint64_t rule_id; /* the rule that decided, 0 for PASS */
    int phase;        /* the phase in which it was decided */
};

/* The current verdict. In DetectionOnly mode it stays PASS. */
void sk_waf_txn_verdict(const struct sk_waf_txn *t, struct sk_waf_verdict *v);

struct sk_waf_match {
    uint64_t id;
    int phase;
    const char *msg;    /* expanded, "" when none */
    const char *data;   /* expanded logdata, "" when none */
    int severity;       /* 0-7, -1 when not set */
    int paranoia_level; /* from tag paranoia-level/N, 0 when absent */
    const char *const *tags;
    size_t ntags;
    const char *matched_var_name;
    const char *file; /* rule location */
    unsigned line;
    bool disruptive; /* the rule's action would block */
};

/* The rules that matched and log, in order. Owned by the transaction. */
size_t sk_waf_txn_match_count(const struct sk_waf_txn *t);
const struct sk_waf_match *sk_waf_txn_match(const struct sk_waf_txn *t,
                                            size_t i);

/*
 * Reads a TX variable (e.g. "anomaly_score", "inbound_anomaly_score") as
 * a NUL-terminated string owned by the transaction, or NULL when unset.
 */
const char *sk_waf_txn_tx(const struct sk_waf_txn *t, const char *name);

/* The transaction id (UNIQUE_ID). */
const char *sk_waf_txn_id(const struct sk_waf_txn *t);

/*
 * Appends a ModSecurity-style error-log line for match `i` into buf
 * (truncated to len, NUL-terminated): `ModSecurity: Warning. ... [id "N"]
 * [msg "..."] [data "..."] [severity "..."] [tag "..."] ...`. Request data
 * quoted in it is redacted (card numbers, security codes, passwords).
 * Returns the length it would need.
 */
size_t sk_waf_txn_format_match(const struct sk_waf_txn *t, size_t i, char *buf,
                               size_t len);

/* ---- What a connector must feed (proxy, server modules) ---------------- */

enum sk_waf_mode {
    SK_WAF_MODE_OFF = 0,            /* SecRuleEngine Off */
    SK_WAF_MODE_ON = 1,             /* SecRuleEngine On */
    SK_WAF_MODE_DETECTION_ONLY = 2, /* rules run and log, never block */
};

/* The engine mode of this transaction (ctl:ruleEngine may change it). */
enum sk_waf_mode sk_waf_txn_mode(const struct sk_waf_txn *t);

struct sk_waf_body_policy {
    bool inspect;   /* feed the body and run the phase on it */
    uint64_t limit; /* most bytes the engine inspects */
    bool reject;    /* over the limit the engine denies (413, request) or
                       the connector answers 500 (response); otherwise the
                       first `limit` bytes are inspected and the rest is
                       passed on (ProcessPartial) */
};

/*
 * What to do with the request body, asked after phase 1 (ctl actions of
 * phase 1 may have changed it): SecRequestBodyAccess, SecRequestBodyLimit
 * (the larger of it and SecRequestBodyNoFilesLimit is what a connector
 * needs to buffer), SecRequestBodyLimitAction. A connector buffers up to
 * `limit` + 1 bytes, feeds them and runs phase 2 before forwarding.
 */
void sk_waf_txn_request_body_policy(const struct sk_waf_txn *t,
                                    struct sk_waf_body_policy *out);

/*
 * What to do with the response body, asked after the response headers
 * were fed and phase 3 ran: SecResponseBodyAccess, SecResponseBodyMimeType
 * against the response Content-Type, SecResponseBodyLimit and
 * SecResponseBodyLimitAction.
 */
void sk_waf_txn_response_body_policy(const struct sk_waf_txn *t,
                                     struct sk_waf_body_policy *out);

/*
 * Whether the transaction belongs in the audit log, the way ModSecurity
 * decides it (SecAuditEngine, ctl:auditEngine, SecAuditLogRelevantStatus):
 * On logs all; RelevantOnly logs a transaction with a matched rule that
 * logs, or whose response `status` matches the relevant-status regex; Off
 * logs none. `status` is the status sent to the client.
 */
bool sk_waf_txn_audit_wanted(const struct sk_waf_txn *t, int status);

#ifdef __cplusplus
}
#endif

#endif
