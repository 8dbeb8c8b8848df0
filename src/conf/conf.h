/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sekimori.conf: the one configuration file of `sekimori run` and
 * `sekimori proxy` (docs/configuration.md). The syntax is the FIM
 * config's: `name value...` lines, `#` comments, double-quoted strings,
 * and `section { ... }` blocks; four sections, `run`, `log`, `proxy`,
 * `fim`, each optional. Every option is a row of a sorted table (name,
 * handler, argument count, doc), the docs list every row, and a unit test
 * checks that they agree. Unknown names and bad values are errors with
 * file:line:col; the loader reports them all, then fails.
 *
 * Durations are written `250ms`, `10s`, `5m`, `1h` (stored in ms); sizes
 * as bytes or with K, M, G (stored in bytes).
 */
#ifndef SK_CONF_CONF_H
#define SK_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/diag.h"

/* A socket address: "127.0.0.1:8080", "[::1]:8443", "unix:/run/x.sock",
 * or "name:port" (resolved once, when the config is loaded). */
struct sk_conf_addr {
    char *text; /* as written */
    struct sockaddr_storage ss;
    socklen_t len;
    int family; /* AF_INET, AF_INET6 or AF_UNIX */
    struct sk_loc loc;
};

struct sk_conf_listen {
    struct sk_conf_addr addr;
    bool tls;   /* `listen ADDR tls` */
    char *cert; /* certificate chain PEM (tls_certificate, or cert=PATH) */
    char *key;  /* private key PEM (tls_certificate_key, or key=PATH) */
};

enum sk_conf_audit_mode {
    SK_CONF_AUDIT_RULES = 0,    /* follow SecAuditEngine (default) */
    SK_CONF_AUDIT_ALL = 1,      /* every transaction */
    SK_CONF_AUDIT_RELEVANT = 2, /* those with matched rules or 4xx/5xx */
    SK_CONF_AUDIT_OFF = 3,
};

/* A `trusted_proxies` entry: one address or a CIDR block. */
struct sk_conf_cidr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network order, host bits zero; AF_INET uses 4 */
    unsigned bits;    /* prefix length: 0..32 or 0..128 */
    char *text;       /* as written */
    struct sk_loc loc;
};

/* Where a trusted proxy puts the client's address. */
enum sk_conf_real_ip_header {
    SK_CONF_REALIP_XFF = 0,       /* X-Forwarded-For (default) */
    SK_CONF_REALIP_FORWARDED = 1, /* RFC 7239 Forwarded, for= */
};

struct sk_conf_proxy {
    bool present; /* a `proxy { }` section was given */
    struct sk_conf_listen *listen;
    size_t nlisten;
    struct sk_conf_addr upstream; /* host:port or unix:/path */
    char *upstream_host;          /* Host header is kept; this is for logs */
    char **rules;                 /* SecLang files or globs, in order */
    size_t nrules;
    unsigned workers;            /* 0 = one per online CPU */
    char *user, *group;          /* drop privileges to these (NULL: stay) */
    uint32_t max_connections;    /* client connections, all workers */
    uint32_t upstream_keepalive; /* idle upstream connections per worker */
    /* Timeouts (ms). */
    uint32_t header_timeout;
    uint32_t body_timeout; /* between body reads */
    uint32_t keepalive_timeout;
    uint32_t send_timeout;
    uint32_t upstream_connect_timeout;
    uint32_t upstream_timeout; /* between upstream reads */
    uint32_t drain_timeout;    /* SIGTERM / reload: how long in-flight
                                  requests may take */
    /* Limits (capped by util/limits.h). */
    uint32_t max_request_line;
    uint32_t max_header_bytes;
    uint32_t max_headers;
    /* Logs. */
    char *audit_log; /* JSON lines; NULL: none */
    enum sk_conf_audit_mode audit_mode;
    char *access_log; /* combined format; NULL: none */
    char *error_log;  /* operational log; NULL: stderr */
    /* Operations. */
    struct sk_conf_addr metrics_listen; /* family 0: none */
    char *control_socket;               /* maintenance requests */
    char *deny_page;        /* HTML with %{id} and %{status}; NULL: built in */
    char *maintenance_page; /* HTML for 503s; NULL: built in */
    char *pid_file;
    bool xff;       /* add/append X-Forwarded-For and -Proto (default on) */
    bool forwarded; /* add RFC 7239 Forwarded (default off) */
    bool events;    /* send block events to the log socket (default on
                       when a `log` section exists) */
    /* Peers whose forwarding headers are believed (docs/proxy.md, "Behind
     * a load balancer or TLS terminator"); none by default. */
    struct sk_conf_cidr *trusted_proxies;
    size_t ntrusted_proxies;
    enum sk_conf_real_ip_header real_ip_header;
    struct sk_loc loc;
};

struct sk_conf_log {
    bool present;
    char *dir;        /* the event log directory */
    char *key;        /* Ed25519 signing key */
    char *socket;     /* the writer socket */
    char *durability; /* none, group, record */
    uint32_t group_ms;
    char *keep;           /* retention, as `sekimori log` takes it (400d) */
    char *compress_after; /* e.g. 30d */
    char *syslog;         /* export target, NULL: none */
    unsigned *allow_uids;
    size_t nallow_uids;
    struct sk_loc loc;
};

struct sk_conf_fim {
    bool present;
    char *config;  /* the FIM config file (docs/fim.md) */
    bool fanotify; /* default on; off forces inotify */
    char *events;  /* extra JSON-lines copy of events, NULL: none */
    struct sk_loc loc;
};

struct sk_conf_run {
    char *state_dir;        /* status files of the parts */
    uint32_t restart_delay; /* ms before restarting a dead part */
    uint32_t max_restarts;  /* per minute before giving up on a part */
    struct sk_loc loc;
};

struct sk_conf {
    char *path; /* the file it was loaded from */
    struct sk_conf_run run;
    struct sk_conf_log log;
    struct sk_conf_proxy proxy;
    struct sk_conf_fim fim;
    struct sk_arena *arena; /* owns every string and array above */
};

/*
 * Loads and checks a config file: parses it, fills defaults, resolves
 * addresses, checks paths that must exist (TLS files, rule globs must
 * match something). Every problem goes to `d` with file:line:col; returns
 * 0 with *out (free with sk_conf_free), or a negative error with nothing
 * in *out. Blocks (file I/O, name resolution).
 */
int sk_conf_load(const char *path, struct sk_conf **out, struct sk_diag *d);

/*
 * The same over text already in memory, without the checks that touch
 * the file system or resolve names (for tests and the fuzz target): an
 * address written NAME:PORT keeps family 0 here, with its text.
 * Does not block.
 */
int sk_conf_parse(const char *name, const char *text, size_t len,
                  struct sk_conf **out, struct sk_diag *d);

void sk_conf_free(struct sk_conf *c);

/*
 * Parses an address as the config takes it (numeric hosts only; a
 * well-formed NAME:PORT gives -SK_ENOTSUP here). 0 or -SK_EPARSE. Pure:
 * out->text borrows `text`, out->loc is zeroed. Ports are 1..65535.
 */
int sk_conf_addr_parse(const char *text, struct sk_conf_addr *out);

/*
 * Parses a `trusted_proxies` entry: an IPv4 or IPv6 address (a /32 or
 * /128) or ADDR/BITS with the host bits zero. 0 or -SK_EPARSE. Pure:
 * out->text borrows `text`, out->loc is zeroed.
 */
int sk_conf_cidr_parse(const char *text, struct sk_conf_cidr *out);

/* Rows of the option tables, for the docs and the unit test. `i` from 0;
 * returns -SK_ENOENT past the end. */
int sk_conf_option_row(size_t i, const char **section, const char **name,
                       const char **args, const char **doc);

#endif
