/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/conf (sekimori.conf): the option tables are sorted
 * and documented in docs/configuration.md, every default, every option
 * set to a non-default value, every kind of error with its line:col,
 * addresses, durations and sizes, the load-time checks (TLS files, rule
 * globs, names, the log key, the fim config) and injected allocation
 * failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/conf.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/limits.h"

static struct sk_conf *
parse_ok(const char *text)
{
    struct sk_diag d = {0};
    struct sk_conf *c = NULL;
    int rc = sk_conf_parse("t.conf", text, strlen(text), &c, &d);
    if (rc != 0)
        fprintf(stderr, "unexpected errors:\n%s", sk_diag_text(&d));
    assert_int_equal(rc, 0);
    assert_non_null(c);
    sk_diag_fini(&d);
    return c;
}

/* Parses text that must fail with `want` among the messages. */
static void
parse_err(const char *text, const char *want)
{
    struct sk_diag d = {0};
    struct sk_conf *c = NULL;
    int rc = sk_conf_parse("t.conf", text, strlen(text), &c, &d);
    const char *msg = sk_diag_text(&d);
    if (rc == 0 || strstr(msg, want) == NULL)
        fprintf(stderr, "text:\n%s\nwanted: %s\ngot (rc %d):\n%s", text, want,
                rc, msg);
    assert_int_not_equal(rc, 0);
    assert_null(c);
    assert_non_null(strstr(msg, want));
    sk_diag_fini(&d);
}

static const char *minimal_proxy = "proxy {\n"
                                   "    listen 127.0.0.1:8080\n"
                                   "    upstream 127.0.0.1:9000\n"
                                   "    rules /etc/crs/*.conf\n"
                                   "}\n";

static void
test_tables(void **state)
{
    (void)state;
    const char *sec, *name, *args, *doc;
    const char *psec = NULL, *pname = NULL;
    size_t n = 0;
    for (size_t i = 0; sk_conf_option_row(i, &sec, &name, &args, &doc) == 0;
         i++) {
        assert_non_null(args);
        assert_true(strlen(doc) > 10);
        if (psec != NULL && strcmp(psec, sec) == 0) {
            /* Sorted, no duplicates. */
            if (strcmp(pname, name) >= 0)
                fprintf(stderr, "%s: '%s' after '%s'\n", sec, name, pname);
            assert_true(strcmp(pname, name) < 0);
        }
        psec = sec;
        pname = name;
        n++;
    }
    assert_true(n > 40);
    assert_int_equal(sk_conf_option_row(n, &sec, &name, &args, &doc),
                     -SK_ENOENT);
}

/* docs/configuration.md has a "## `section`" heading per section and,
 * below it, a "### `name`" heading per option. */
static void
test_docs_list_every_row(void **state)
{
    (void)state;
    FILE *f = fopen(SK_SOURCE_ROOT "/docs/configuration.md", "r");
    assert_non_null(f);
    static char doc[256 * 1024];
    size_t len = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[len] = '\0';
    const char *sec, *name, *args, *dtext;
    unsigned missing = 0;
    for (size_t i = 0; sk_conf_option_row(i, &sec, &name, &args, &dtext) == 0;
         i++) {
        char h[128], o[128];
        snprintf(h, sizeof(h), "\n## `%s`", sec);
        snprintf(o, sizeof(o), "\n### `%s %s`", name, args);
        const char *hs = strstr(doc, h);
        assert_non_null(hs);
        const char *next = strstr(hs + 1, "\n## ");
        const char *os = strstr(hs, o);
        if (os == NULL || (next != NULL && os > next)) {
            fprintf(stderr, "docs/configuration.md: no '%s' under '%s'\n",
                    o + 1, h + 1);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

/* The commented example parses and sets what its comments say. */
static void
test_example(void **state)
{
    (void)state;
    FILE *f = fopen(SK_SOURCE_ROOT "/examples/sekimori.conf", "r");
    assert_non_null(f);
    static char text[64 * 1024];
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = '\0';
    struct sk_conf *c = parse_ok(text);
    assert_true(c->log.present && c->proxy.present && c->fim.present);
    assert_int_equal(c->proxy.nlisten, 2);
    assert_true(c->proxy.listen[1].tls);
    assert_non_null(c->proxy.listen[1].cert);
    assert_int_equal(c->proxy.nrules, 2);
    assert_int_equal(c->proxy.audit_mode, SK_CONF_AUDIT_RELEVANT);
    assert_true(c->proxy.events);
    assert_string_equal(c->log.keep, "400d");
    sk_conf_free(c);

    /* And the deployment examples (docs/deployment.md): both sit behind
     * a front proxy they trust. */
    static const char *const deploy[] = {
        SK_SOURCE_ROOT "/examples/nginx-tls-front/sekimori.conf",
        SK_SOURCE_ROOT "/examples/deploy/sekimori-behind-terminator.conf",
    };
    for (size_t i = 0; i < sizeof(deploy) / sizeof(deploy[0]); i++) {
        f = fopen(deploy[i], "r");
        assert_non_null(f);
        len = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[len] = '\0';
        c = parse_ok(text);
        assert_true(c->proxy.present && c->log.present && c->fim.present);
        assert_true(c->proxy.events);
        assert_true(c->proxy.ntrusted_proxies > 0);
        assert_true(c->proxy.xff);
        sk_conf_free(c);
    }
}

static void
test_defaults(void **state)
{
    (void)state;
    struct sk_conf *c = parse_ok("# nothing but a comment\n\n");
    assert_string_equal(c->path, "t.conf");
    assert_string_equal(c->run.state_dir, "/var/lib/sekimori/run");
    assert_int_equal(c->run.restart_delay, 1000);
    assert_int_equal(c->run.max_restarts, 5);
    assert_false(c->log.present);
    assert_string_equal(c->log.durability, "group");
    assert_int_equal(c->log.group_ms, 5);
    assert_string_equal(c->log.dir, "/var/lib/sekimori/log");
    assert_string_equal(c->log.key, "/etc/sekimori/log.key");
    assert_string_equal(c->log.socket, "/run/sekimori/log.sock");
    assert_null(c->log.keep);
    assert_null(c->log.compress_after);
    assert_null(c->log.syslog);
    assert_int_equal(c->log.nallow_uids, 0);
    assert_false(c->fim.present);
    assert_true(c->fim.fanotify);
    assert_string_equal(c->fim.config, "/etc/sekimori/fim.conf");
    assert_null(c->fim.events);
    struct sk_conf_proxy *p = &c->proxy;
    assert_false(p->present);
    assert_int_equal(p->workers, 0);
    assert_int_equal(p->max_connections, 4096);
    assert_int_equal(p->upstream_keepalive, 32);
    assert_int_equal(p->header_timeout, 10000);
    assert_int_equal(p->body_timeout, 30000);
    assert_int_equal(p->keepalive_timeout, 60000);
    assert_int_equal(p->send_timeout, 30000);
    assert_int_equal(p->upstream_connect_timeout, 5000);
    assert_int_equal(p->upstream_timeout, 60000);
    assert_int_equal(p->drain_timeout, 30000);
    assert_int_equal(p->max_request_line, SK_LIMIT_REQUEST_LINE);
    assert_int_equal(p->max_header_bytes, SK_LIMIT_HEADER_BYTES);
    assert_int_equal(p->max_headers, SK_LIMIT_HEADER_COUNT);
    assert_int_equal(p->audit_mode, SK_CONF_AUDIT_RULES);
    assert_true(p->xff);
    assert_false(p->forwarded);
    assert_int_equal(p->ntrusted_proxies, 0);
    assert_null(p->trusted_proxies);
    assert_int_equal(p->real_ip_header, SK_CONF_REALIP_XFF);
    assert_false(p->events); /* no log section */
    assert_null(p->audit_log);
    assert_null(p->access_log);
    assert_null(p->error_log);
    assert_null(p->control_socket);
    assert_null(p->pid_file);
    assert_null(p->user);
    assert_int_equal(p->metrics_listen.family, 0);
    sk_conf_free(c);

    /* events default on once a log section exists. */
    char buf[1024];
    snprintf(buf, sizeof(buf), "log {\n}\n%s", minimal_proxy);
    c = parse_ok(buf);
    assert_true(c->log.present);
    assert_true(c->proxy.present);
    assert_true(c->proxy.events);
    assert_int_equal(c->log.loc.line, 1);
    assert_int_equal(c->proxy.loc.line, 3);
    sk_conf_free(c);
}

static const char *full_conf =
    "# every option, none at its default\n"
    "run {\n"
    "    state_dir /tmp/st\n"
    "    restart_delay 250ms\n"
    "    max_restarts 9\n"
    "}\n"
    "log {\n"
    "    dir /tmp/log\n"
    "    key \"/tmp/log key\"\n"
    "    socket /tmp/log.sock\n"
    "    durability record\n"
    "    group_ms 20\n"
    "    keep 90d\n"
    "    compress_after 30d\n"
    "    syslog udp:127.0.0.1:514\n"
    "    allow_uid 33 1000\n"
    "    allow_uid 0\n"
    "}\n"
    "proxy {\n"
    "    listen 127.0.0.1:8080\n"
    "    listen [::1]:8443 tls cert=/tmp/a.pem key=/tmp/a.key\n"
    "    listen 0.0.0.0:443 tls\n"
    "    tls_certificate /tmp/d.pem\n"
    "    tls_certificate_key /tmp/d.key\n"
    "    upstream unix:/run/php/fpm.sock\n"
    "    upstream_host shop.example\n"
    "    rules /etc/crs/setup.conf \"/etc/crs/rules/*.conf\"\n"
    "    rules /etc/crs/local.conf\n"
    "    workers 3\n"
    "    user www-data\n"
    "    group www-data\n"
    "    max_connections 100\n"
    "    upstream_keepalive 0\n"
    "    header_timeout 2s\n"
    "    body_timeout 3s\n"
    "    keepalive_timeout 0\n"
    "    send_timeout 4s\n"
    "    upstream_connect_timeout 500ms\n"
    "    upstream_timeout 2m\n"
    "    drain_timeout 1h\n"
    "    max_request_line 4K\n"
    "    max_header_bytes 32768\n"
    "    max_headers 50\n"
    "    audit_log /tmp/audit.jsonl\n"
    "    audit_mode relevant\n"
    "    access_log /tmp/access.log\n"
    "    error_log /tmp/error.log\n"
    "    metrics_listen 127.0.0.1:9100\n"
    "    control_socket /tmp/ctl.sock\n"
    "    deny_page /tmp/deny.html\n"
    "    maintenance_page /tmp/maint.html\n"
    "    pid_file /tmp/proxy.pid\n"
    "    xff off\n"
    "    forwarded on\n"
    "    events off\n"
    "    trusted_proxies 127.0.0.1 10.0.0.0/8\n"
    "    trusted_proxies ::1 2001:db8::/32\n"
    "    real_ip_header Forwarded\n"
    "}\n"
    "fim {\n"
    "    config /tmp/fim.conf\n"
    "    fanotify off\n"
    "    events /tmp/fim.jsonl\n"
    "}\n";

static void
test_every_option(void **state)
{
    (void)state;
    struct sk_conf *c = parse_ok(full_conf);
    assert_string_equal(c->run.state_dir, "/tmp/st");
    assert_int_equal(c->run.restart_delay, 250);
    assert_int_equal(c->run.max_restarts, 9);
    assert_int_equal(c->run.loc.line, 2);
    struct sk_conf_log *l = &c->log;
    assert_true(l->present);
    assert_string_equal(l->dir, "/tmp/log");
    assert_string_equal(l->key, "/tmp/log key");
    assert_string_equal(l->socket, "/tmp/log.sock");
    assert_string_equal(l->durability, "record");
    assert_int_equal(l->group_ms, 20);
    assert_string_equal(l->keep, "90d");
    assert_string_equal(l->compress_after, "30d");
    assert_string_equal(l->syslog, "udp:127.0.0.1:514");
    assert_int_equal(l->nallow_uids, 3);
    assert_int_equal(l->allow_uids[0], 33);
    assert_int_equal(l->allow_uids[1], 1000);
    assert_int_equal(l->allow_uids[2], 0);
    struct sk_conf_proxy *p = &c->proxy;
    assert_true(p->present);
    assert_int_equal(p->nlisten, 3);
    assert_string_equal(p->listen[0].addr.text, "127.0.0.1:8080");
    assert_int_equal(p->listen[0].addr.family, AF_INET);
    assert_int_equal(p->listen[0].addr.loc.line, 20);
    assert_int_equal(p->listen[0].addr.loc.col, 12);
    assert_false(p->listen[0].tls);
    assert_null(p->listen[0].cert);
    assert_int_equal(p->listen[1].addr.family, AF_INET6);
    assert_true(p->listen[1].tls);
    assert_string_equal(p->listen[1].cert, "/tmp/a.pem");
    assert_string_equal(p->listen[1].key, "/tmp/a.key");
    assert_true(p->listen[2].tls);
    assert_string_equal(p->listen[2].cert, "/tmp/d.pem");
    assert_string_equal(p->listen[2].key, "/tmp/d.key");
    assert_int_equal(p->upstream.family, AF_UNIX);
    assert_string_equal(((struct sockaddr_un *)&p->upstream.ss)->sun_path,
                        "/run/php/fpm.sock");
    assert_string_equal(p->upstream_host, "shop.example");
    assert_int_equal(p->nrules, 3);
    assert_string_equal(p->rules[0], "/etc/crs/setup.conf");
    assert_string_equal(p->rules[1], "/etc/crs/rules/*.conf");
    assert_string_equal(p->rules[2], "/etc/crs/local.conf");
    assert_int_equal(p->workers, 3);
    assert_string_equal(p->user, "www-data");
    assert_string_equal(p->group, "www-data");
    assert_int_equal(p->max_connections, 100);
    assert_int_equal(p->upstream_keepalive, 0);
    assert_int_equal(p->header_timeout, 2000);
    assert_int_equal(p->body_timeout, 3000);
    assert_int_equal(p->keepalive_timeout, 0);
    assert_int_equal(p->send_timeout, 4000);
    assert_int_equal(p->upstream_connect_timeout, 500);
    assert_int_equal(p->upstream_timeout, 120000);
    assert_int_equal(p->drain_timeout, 3600000);
    assert_int_equal(p->max_request_line, 4096);
    assert_int_equal(p->max_header_bytes, 32768);
    assert_int_equal(p->max_headers, 50);
    assert_string_equal(p->audit_log, "/tmp/audit.jsonl");
    assert_int_equal(p->audit_mode, SK_CONF_AUDIT_RELEVANT);
    assert_string_equal(p->access_log, "/tmp/access.log");
    assert_string_equal(p->error_log, "/tmp/error.log");
    assert_int_equal(p->metrics_listen.family, AF_INET);
    assert_int_equal(
        ntohs(((struct sockaddr_in *)&p->metrics_listen.ss)->sin_port), 9100);
    assert_string_equal(p->control_socket, "/tmp/ctl.sock");
    assert_string_equal(p->deny_page, "/tmp/deny.html");
    assert_string_equal(p->maintenance_page, "/tmp/maint.html");
    assert_string_equal(p->pid_file, "/tmp/proxy.pid");
    assert_false(p->xff);
    assert_true(p->forwarded);
    assert_false(p->events);
    assert_int_equal(p->ntrusted_proxies, 4);
    assert_int_equal(p->trusted_proxies[0].family, AF_INET);
    assert_int_equal(p->trusted_proxies[0].bits, 32);
    assert_string_equal(p->trusted_proxies[0].text, "127.0.0.1");
    assert_int_equal(p->trusted_proxies[1].bits, 8);
    assert_int_equal(p->trusted_proxies[1].addr[0], 10);
    assert_int_equal(p->trusted_proxies[2].family, AF_INET6);
    assert_int_equal(p->trusted_proxies[2].bits, 128);
    assert_int_equal(p->trusted_proxies[2].addr[15], 1);
    assert_int_equal(p->trusted_proxies[3].bits, 32);
    assert_int_equal(p->trusted_proxies[3].addr[1], 0x01);
    assert_int_equal(p->trusted_proxies[3].loc.col, 25);
    assert_int_equal(p->real_ip_header, SK_CONF_REALIP_FORWARDED);
    struct sk_conf_fim *f = &c->fim;
    assert_true(f->present);
    assert_string_equal(f->config, "/tmp/fim.conf");
    assert_false(f->fanotify);
    assert_string_equal(f->events, "/tmp/fim.jsonl");
    sk_conf_free(c);

    /* The other enum values and a name for the upstream. */
    c = parse_ok("proxy {\n listen 127.0.0.1:1\n upstream localhost:80\n"
                 " rules /r\n audit_mode all\n}\n"
                 "log {\n durability none\n syslog unix:/dev/log\n}\n");
    assert_int_equal(c->proxy.audit_mode, SK_CONF_AUDIT_ALL);
    assert_int_equal(c->proxy.upstream.family, 0); /* resolved at load */
    assert_string_equal(c->proxy.upstream.text, "localhost:80");
    assert_string_equal(c->log.durability, "none");
    sk_conf_free(c);
    c = parse_ok("proxy {\n listen 127.0.0.1:1\n upstream 127.0.0.1:2\n"
                 " rules /r\n audit_mode off\n}\n");
    assert_int_equal(c->proxy.audit_mode, SK_CONF_AUDIT_OFF);
    sk_conf_free(c);
    c = parse_ok("proxy {\n listen 127.0.0.1:1\n upstream 127.0.0.1:2\n"
                 " rules /r\n audit_mode rules\n}\n"
                 "log {\n syslog tcp:[::1]:601\n}\n");
    assert_int_equal(c->proxy.audit_mode, SK_CONF_AUDIT_RULES);
    sk_conf_free(c);
    /* Braces on their own lines, CRLF, comments after values. */
    c = parse_ok("run\r\n{\r\n  max_restarts 2 # two\r\n}\r\n");
    assert_int_equal(c->run.max_restarts, 2);
    sk_conf_free(c);
    /* Durations and sizes at their limits. */
    c = parse_ok("run {\n restart_delay 0\n}\nproxy {\n listen 127.0.0.1:1\n"
                 " upstream 127.0.0.1:2\n rules /r\n max_request_line 8K\n"
                 " max_header_bytes 64K\n max_headers 200\n"
                 " header_timeout 24h\n}\n");
    assert_int_equal(c->run.restart_delay, 0);
    assert_int_equal(c->proxy.max_header_bytes, 65536);
    assert_int_equal(c->proxy.header_timeout, 24u * 3600 * 1000);
    sk_conf_free(c);
}

struct err_case {
    const char *text;
    const char *want;
};

/* Every kind of error with its position. */
static const struct err_case err_cases[] = {
    {"nope {\n}\n", "t.conf:1:1: error: unknown section 'nope'"},
    {"run\n", "t.conf:1:1: error: expected '{' after 'run'"},
    {"listen 127.0.0.1:80\n",
     "t.conf:1:1: error: 'listen' belongs inside a 'proxy { }' section"},
    {"nope 1\n", "t.conf:1:1: error: unknown section 'nope'"},
    {"run {\n", "t.conf:1:1: error: section 'run' is not closed"},
    {"run {\n}\nrun {\n}\n", "t.conf:3:1: error: section 'run' is given twice"},
    {"}\n", "t.conf:1:1: error: unexpected '}' outside a section"},
    {"{\n", "t.conf:1:1: error: unexpected '{' outside a section"},
    {"run {\n  bogus 1\n}\n",
     "t.conf:2:3: error: unknown option 'bogus' in section 'run'"},
    {"run {\n max_restarts 1\n max_restarts 2\n}\n",
     "t.conf:3:2: error: 'max_restarts' is already set (line 2)"},
    {"run {\n max_restarts\n}\n", "t.conf:2:2: error: 'max_restarts' takes "
                                  "one value"},
    {"run {\n max_restarts 1 2\n}\n", "t.conf:2:2: error: 'max_restarts' "
                                      "takes one value"},
    {"run {\n max_restarts 0\n}\n",
     "t.conf:2:15: error: 'max_restarts' takes a number from 1 to 1000"},
    {"run {\n max_restarts -1\n}\n", "t.conf:2:15: error: 'max_restarts'"},
    {"run {\n restart_delay 5\n}\n",
     "t.conf:2:16: error: 'restart_delay' takes a duration"},
    {"run {\n restart_delay 5d\n}\n",
     "t.conf:2:16: error: 'restart_delay' takes a duration"},
    {"run {\n restart_delay 2h\n}\n",
     "t.conf:2:16: error: 'restart_delay' must be from 0ms to 3600000ms"},
    {"run {\n state_dir relative/dir\n}\n",
     "t.conf:2:12: error: path must be absolute: 'relative/dir'"},
    {"run {\n state_dir \"/a\n}\n", "t.conf:2:12: error: unterminated string"},
    {"run {\n state_dir \"/a\\n\"\n}\n",
     "t.conf:2:15: error: unknown escape in string"},
    {"run {\n state_dir \"/a\tb\"\n}\n",
     "t.conf:2:15: error: control character in string"},
    {"run {\n state_dir /a\x01 b\n}\n",
     "t.conf:2:14: error: control character 0x01"},
    {"run {\n \"state_dir\" /a\n}\n",
     "t.conf:2:2: error: option names are not quoted"},
    {"run {\n state_dir /a {\n }\n}\n",
     "t.conf:2:15: error: blocks do not nest: '{' inside section 'run'"},
    {"run {\n} x\n", "t.conf:2:3: error: expected a new line after '}'"},
    {"run {\n max_restarts 1\x00\n}\n", "t.conf:2:16: error: NUL byte"},
    {"log {\n durability fast\n}\n",
     "t.conf:2:13: error: 'durability' takes none, group or record"},
    {"log {\n group_ms 0\n}\n", "t.conf:2:11: error: 'group_ms' takes a "
                                "number from 1 to 1000"},
    {"log {\n keep forever\n}\n", "t.conf:2:7: error: 'keep' takes an age"},
    {"log {\n compress_after 30d\n}\n",
     "t.conf:2:2: error: 'compress_after' needs 'keep'"},
    {"log {\n syslog /dev/log\n}\n", "t.conf:2:9: error: 'syslog' takes "
                                     "unix:/PATH, udp:IP:PORT"},
    {"log {\n syslog udp:/dev/log\n}\n", "t.conf:2:9: error: 'syslog'"},
    {"log {\n syslog unix:relative\n}\n", "t.conf:2:9: error: 'syslog'"},
    {"log {\n allow_uid www\n}\n",
     "t.conf:2:12: error: 'allow_uid' takes numeric uids, not 'www'"},
    {"log {\n allow_uid\n}\n", "t.conf:2:2: error: 'allow_uid' takes one"},
    {"log {\n allow_uid 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n}\n",
     "t.conf:2:51: error: more than 16 allowed uids"},
    {"log {\n socket /tmp/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock"
     "\n}\n",
     "t.conf:2:9: error: socket path longer than 107 bytes"},
    {"proxy {\n}\n", "t.conf:1:1: error: the proxy needs at least one "
                     "'listen'"},
    {"proxy {\n}\n", "t.conf:1:1: error: the proxy needs an 'upstream'"},
    {"proxy {\n}\n", "t.conf:1:1: error: the proxy needs 'rules'"},
    {"proxy {\n listen 127.0.0.1\n}\n", "t.conf:2:9: error: bad address "
                                        "'127.0.0.1'"},
    {"proxy {\n listen 127.0.0.1:0\n}\n", "t.conf:2:9: error: bad address"},
    {"proxy {\n listen 127.0.0.1:65536\n}\n", "t.conf:2:9: error: bad "
                                              "address"},
    {"proxy {\n listen 1.2.3:80\n}\n", "t.conf:2:9: error: bad address"},
    {"proxy {\n listen ::1:80\n}\n", "t.conf:2:9: error: bad address"},
    {"proxy {\n listen [::1:80\n}\n", "t.conf:2:9: error: bad address"},
    {"proxy {\n listen [zz]:80\n}\n", "t.conf:2:9: error: bad address"},
    {"proxy {\n listen a_b:80\n}\n", "t.conf:2:9: error: bad address"},
    {"proxy {\n listen unix:/tmp/x\n}\n",
     "t.conf:2:9: error: a unix socket is not allowed here"},
    {"proxy {\n listen\n}\n", "t.conf:2:2: error: 'listen' takes ADDR"},
    {"proxy {\n listen 127.0.0.1:1 ssl\n}\n",
     "t.conf:2:21: error: unknown listen parameter 'ssl'"},
    {"proxy {\n listen 127.0.0.1:1 cert=/a\n}\n",
     "t.conf:2:9: error: cert= and key= need 'tls'"},
    {"proxy {\n listen 127.0.0.1:1 tls tls\n}\n",
     "t.conf:2:25: error: 'tls' given twice"},
    {"proxy {\n listen 127.0.0.1:1 tls cert=a\n}\n",
     "t.conf:2:30: error: path must be absolute: 'a'"},
    {"proxy {\n listen 127.0.0.1:1 tls cert=/a cert=/b\n}\n",
     "t.conf:2:33: error: 'cert' given twice"},
    {"proxy {\n listen 127.0.0.1:1 tls key=/k\n upstream 127.0.0.1:2\n"
     " rules /r\n}\n",
     "t.conf:2:9: error: '127.0.0.1:1 tls' has no certificate"},
    {"proxy {\n listen 127.0.0.1:1 tls cert=/c\n upstream 127.0.0.1:2\n"
     " rules /r\n}\n",
     "t.conf:2:9: error: '127.0.0.1:1 tls' has no private key"},
    {"proxy {\n listen 127.0.0.1:1\n listen 127.0.0.1:1\n}\n",
     "t.conf:3:9: error: '127.0.0.1:1' is already a listen address (line 2)"},
    {"proxy {\n listen 127.0.0.1:1\n upstream 127.0.0.1:2\n rules /r\n"
     " metrics_listen 127.0.0.1:1\n}\n",
     "t.conf:5:17: error: metrics_listen '127.0.0.1:1' is also a listen"},
    {"proxy {\n upstream 127.0.0.1:2 127.0.0.1:3\n}\n",
     "t.conf:2:2: error: 'upstream' takes one value"},
    {"proxy {\n rules relative.conf\n}\n",
     "t.conf:2:8: error: path must be absolute: 'relative.conf'"},
    {"proxy {\n rules\n}\n", "t.conf:2:2: error: 'rules' takes PATH..."},
    {"proxy {\n workers 257\n}\n", "t.conf:2:10: error: 'workers' takes a "
                                   "number from 0 to 256"},
    {"proxy {\n max_request_line 9K\n}\n",
     "t.conf:2:19: error: 'max_request_line' must be from 64 to 8192 bytes"},
    {"proxy {\n max_header_bytes 1T\n}\n",
     "t.conf:2:19: error: 'max_header_bytes' takes a size"},
    {"proxy {\n max_header_bytes 100G\n}\n",
     "t.conf:2:19: error: 'max_header_bytes' must be from 256"},
    {"proxy {\n max_headers 201\n}\n",
     "t.conf:2:14: error: 'max_headers' takes a number from 1 to 200"},
    {"proxy {\n header_timeout 0\n}\n",
     "t.conf:2:17: error: 'header_timeout' must be from 1ms"},
    {"proxy {\n header_timeout 25h\n}\n",
     "t.conf:2:17: error: 'header_timeout' must be from 1ms to 86400000ms"},
    {"proxy {\n audit_mode some\n}\n",
     "t.conf:2:13: error: 'audit_mode' takes rules, all, relevant or off"},
    {"proxy {\n xff yes\n}\n", "t.conf:2:6: error: 'xff' takes on or off"},
    {"proxy {\n events on\n}\n",
     "t.conf:2:2: error: 'events on' needs a log section"},
    {"proxy {\n user bad/name\n}\n",
     "t.conf:2:7: error: 'user': not a valid name"},
    {"proxy {\n group www\n}\n", "t.conf:2:2: error: 'group' needs 'user'"},
    {"proxy {\n trusted_proxies 127.0.0.1 10.0.0.1/8\n}\n",
     "t.conf:2:28: error: bad trusted proxy '10.0.0.1/8'"},
    {"proxy {\n trusted_proxies 10.0.0.0/33\n}\n",
     "t.conf:2:18: error: bad trusted proxy '10.0.0.0/33'"},
    {"proxy {\n trusted_proxies ::1/129\n}\n",
     "t.conf:2:18: error: bad trusted proxy '::1/129'"},
    {"proxy {\n trusted_proxies localhost\n}\n",
     "t.conf:2:18: error: bad trusted proxy 'localhost'"},
    {"proxy {\n trusted_proxies 10.0.0.0/08\n}\n",
     "t.conf:2:18: error: bad trusted proxy"},
    {"proxy {\n trusted_proxies 10.0.0.0/\n}\n",
     "t.conf:2:18: error: bad trusted proxy"},
    {"proxy {\n trusted_proxies\n}\n",
     "t.conf:2:2: error: 'trusted_proxies' takes CIDR..."},
    {"proxy {\n real_ip_header X-Real-IP\n}\n",
     "t.conf:2:17: error: 'real_ip_header' takes X-Forwarded-For or "
     "Forwarded"},
    {"proxy {\n real_ip_header Forwarded\n}\n",
     "t.conf:2:2: error: 'real_ip_header' needs 'trusted_proxies'"},
    {"proxy {\n upstream_host \"a b\"\n}\n",
     "t.conf:2:16: error: 'upstream_host': not a host name"},
    {"fim {\n fanotify maybe\n}\n",
     "t.conf:2:11: error: 'fanotify' takes on or off"},
    {"fim {\n config fim.conf\n}\n",
     "t.conf:2:9: error: path must be absolute"},
};

static void
test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const char *t = err_cases[i].text;
        /* The NUL case needs its real length. */
        if (strstr(err_cases[i].want, "NUL") != NULL) {
            struct sk_diag d = {0};
            struct sk_conf *c = NULL;
            static const char nul[] = "run {\n max_restarts 1\0\n}\n";
            assert_int_equal(
                sk_conf_parse("t.conf", nul, sizeof(nul) - 1, &c, &d),
                -SK_EPARSE);
            assert_non_null(strstr(sk_diag_text(&d), err_cases[i].want));
            sk_diag_fini(&d);
            continue;
        }
        parse_err(t, err_cases[i].want);
    }
}

/* Every error of a file is reported, not just the first. */
static void
test_reports_all(void **state)
{
    (void)state;
    const char *t = "run {\n max_restarts x\n restart_delay y\n}\n"
                    "log {\n durability z\n}\nbogus {\n}\n";
    struct sk_diag d = {0};
    struct sk_conf *c = NULL;
    assert_int_equal(sk_conf_parse("t.conf", t, strlen(t), &c, &d), -SK_EPARSE);
    assert_int_equal(d.errors, 4);
    const char *m = sk_diag_text(&d);
    assert_non_null(strstr(m, "t.conf:2:15:"));
    assert_non_null(strstr(m, "t.conf:3:16:"));
    assert_non_null(strstr(m, "t.conf:6:13:"));
    assert_non_null(strstr(m, "t.conf:8:1:"));
    sk_diag_fini(&d);

    /* A string the lexer refused is one error, not two. */
    t = "run {\n state_dir \"/a\\q\"\n}\n";
    assert_int_equal(sk_conf_parse("t.conf", t, strlen(t), &c, &d), -SK_EPARSE);
    assert_int_equal(d.errors, 1);
    sk_diag_fini(&d);

    /* Too large a file. */
    size_t big = 1024 * 1024 + 1;
    char *b = malloc(big);
    assert_non_null(b);
    memset(b, '\n', big);
    assert_int_equal(sk_conf_parse("t.conf", b, big, &c, &d), -SK_EPARSE);
    assert_non_null(strstr(sk_diag_text(&d), "larger than"));
    sk_diag_fini(&d);
    /* An over-long word. */
    memset(b, 'a', 5000);
    memcpy(b, "run {\n state_dir /", 18);
    memcpy(b + 5000, "\n}\n", 3);
    assert_int_equal(sk_conf_parse("t.conf", b, 5003, &c, &d), -SK_EPARSE);
    assert_non_null(
        strstr(sk_diag_text(&d), "t.conf:2:12: error: word longer"));
    sk_diag_fini(&d);
    free(b);
}

static void
test_addr(void **state)
{
    (void)state;
    struct sk_conf_addr a;
    assert_int_equal(sk_conf_addr_parse("127.0.0.1:8080", &a), 0);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
    assert_int_equal(ntohs(s4->sin_port), 8080);
    assert_int_equal(ntohl(s4->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(sk_conf_addr_parse("[::1]:8443", &a), 0);
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 8443);
    assert_int_equal(sk_conf_addr_parse("[::]:1", &a), 0);
    assert_int_equal(sk_conf_addr_parse("0.0.0.0:65535", &a), 0);
    assert_int_equal(sk_conf_addr_parse("unix:/run/x.sock", &a), 0);
    assert_int_equal(a.family, AF_UNIX);
    assert_string_equal(((struct sockaddr_un *)&a.ss)->sun_path, "/run/x.sock");
    assert_int_equal(sk_conf_addr_parse("localhost:80", &a), -SK_ENOTSUP);
    assert_int_equal(sk_conf_addr_parse("shop.example.com:443", &a),
                     -SK_ENOTSUP);
    static const char *const bad[] = {
        "",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        ":80",
        "127.0.0.1:x",
        "1.2.3.4:99999",
        "::1:80",
        "[::1]80",
        "[::1]:",
        "[1.2.3.4]:80",
        "unix:",
        "unix:rel",
        "-a:80",
        "a b:80",
        "300.1.1.1:80",
        "1.2.3.4:080000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sk_conf_addr_parse(bad[i], &a) != -SK_EPARSE)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        assert_int_equal(sk_conf_addr_parse(bad[i], &a), -SK_EPARSE);
    }
    char longp[200] = "unix:/";
    memset(longp + 6, 'a', 150);
    longp[156] = '\0';
    assert_int_equal(sk_conf_addr_parse(longp, &a), -SK_EPARSE);
}

static char tmpdir[128];

static void
write_file(const char *name, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int
load_text(const char *text, struct sk_conf **c, struct sk_diag *d)
{
    write_file("sekimori.conf", text);
    char p[512];
    snprintf(p, sizeof(p), "%s/sekimori.conf", tmpdir);
    return sk_conf_load(p, c, d);
}

static void
test_cidr(void **state)
{
    (void)state;
    struct sk_conf_cidr c;
    assert_int_equal(sk_conf_cidr_parse("0.0.0.0/0", &c), 0);
    assert_int_equal(c.bits, 0);
    assert_int_equal(sk_conf_cidr_parse("::/0", &c), 0);
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(sk_conf_cidr_parse("192.168.1.128/25", &c), 0);
    assert_int_equal(c.bits, 25);
    assert_int_equal(sk_conf_cidr_parse("192.168.1.129/25", &c), -SK_EPARSE);
    assert_int_equal(sk_conf_cidr_parse("fe80::/10", &c), 0);
    assert_int_equal(sk_conf_cidr_parse("fec0::/10", &c), 0);
    assert_int_equal(sk_conf_cidr_parse("fe80::1/10", &c), -SK_EPARSE);
    assert_int_equal(sk_conf_cidr_parse("::ffff:10.0.0.1", &c), 0);
    assert_int_equal(c.bits, 128);
    static const char *const bad[] = {
        "",
        "/8",
        "1.2.3/8",
        "1.2.3.4/-1",
        "1.2.3.4/+8",
        "1.2.3.4/8/8",
        "1.2.3.4 ",
        "[::1]",
        "::1/1000",
        "1.2.3.4:80",
        "01.2.3.4",
        "x",
        "1.2.3.4/0x8",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sk_conf_cidr_parse(bad[i], &c) != -SK_EPARSE)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(c.family, 0);
    }
}

static void
test_load(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sk-conf-test.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    write_file("crs-setup.conf", "# setup\n");
    char rd[256];
    snprintf(rd, sizeof(rd), "%s/rules", tmpdir);
    assert_int_equal(mkdir(rd, 0700), 0);
    write_file("rules/a.conf", "# a\n");
    write_file("rules/b.conf", "# b\n");
    write_file("cert.pem", "x\n");
    write_file("key.pem", "x\n");
    write_file("log.key", "x\n");
    write_file("fim.conf", "x\n");
    char text[4096];
    snprintf(text, sizeof(text),
             "log {\n key %s/log.key\n}\n"
             "fim {\n config %s/fim.conf\n}\n"
             "proxy {\n"
             " listen localhost:8080\n"
             " listen 127.0.0.1:8443 tls\n"
             " tls_certificate %s/cert.pem\n"
             " tls_certificate_key %s/key.pem\n"
             " upstream localhost:9000\n"
             " rules %s/crs-setup.conf %s/rules/*.conf\n"
             "}\n",
             tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
    struct sk_diag d = {0};
    struct sk_conf *c = NULL;
    int rc = load_text(text, &c, &d);
    if (rc != 0)
        fprintf(stderr, "%s", sk_diag_text(&d));
    assert_int_equal(rc, 0);
    assert_true(c->proxy.listen[0].addr.family == AF_INET ||
                c->proxy.listen[0].addr.family == AF_INET6);
    assert_true(c->proxy.upstream.family == AF_INET ||
                c->proxy.upstream.family == AF_INET6);
    assert_true(c->proxy.listen[0].addr.len > 0);
    assert_non_null(strstr(c->path, "sekimori.conf"));
    sk_conf_free(c);
    sk_diag_fini(&d);

    /* Every file-system problem at once, each at its place. */
    snprintf(text, sizeof(text),
             "log {\n key %s/no.key\n}\n"
             "fim {\n config %s/nofim.conf\n}\n"
             "proxy {\n"
             " listen 127.0.0.1:8443 tls cert=%s/nocert.pem\n"
             " tls_certificate_key %s/nokey.pem\n"
             " upstream no-such-host.invalid:9000\n"
             " rules %s/rules/*.nope\n"
             " rules %s/rules\n"
             " deny_page %s/nodeny.html\n"
             " user no-such-user-sk\n"
             "}\n",
             tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
    rc = load_text(text, &c, &d);
    assert_int_equal(rc, -SK_EPARSE);
    assert_null(c);
    const char *m = sk_diag_text(&d);
    assert_non_null(strstr(m, ":2:2: error: log key"));
    assert_non_null(strstr(m, "sekimori log keygen --key"));
    assert_non_null(strstr(m, ":5:2: error: cannot read fim config"));
    assert_non_null(strstr(m, ":8:28: error: cannot read certificate"));
    assert_non_null(strstr(m, ":9:2: error: cannot read private key"));
    assert_non_null(strstr(m, ":10:11: error: cannot resolve"));
    assert_non_null(strstr(m, ":11:8: error: rules '"));
    assert_non_null(strstr(m, "match no file"));
    assert_non_null(strstr(m, ":12:8: error: rule file '"));
    assert_non_null(strstr(m, ":13:2: error: cannot read deny page"));
    assert_non_null(strstr(m, ":14:2: error: no user 'no-such-user-sk'"));
    assert_int_equal(d.errors, 9);
    sk_diag_fini(&d);

    /* Parse errors stop before the file-system checks; a missing file. */
    rc = load_text("run {\n x 1\n}\n", &c, &d);
    assert_int_equal(rc, -SK_EPARSE);
    assert_int_equal(d.errors, 1);
    sk_diag_fini(&d);
    char p[512];
    snprintf(p, sizeof(p), "%s/missing.conf", tmpdir);
    assert_int_equal(sk_conf_load(p, &c, &d), -SK_ENOENT);
    assert_non_null(strstr(sk_diag_text(&d), "missing.conf"));
    sk_diag_fini(&d);

    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* Every allocation failure is reported as -SK_ENOMEM and leaks nothing. */
static void
test_alloc_failures(void **state)
{
    (void)state;
    for (unsigned long n = 1; n < 2000; n++) {
        struct sk_diag d = {0};
        struct sk_conf *c = NULL;
        sk_alloc_fail_at(n, 1);
        int rc = sk_conf_parse("t.conf", full_conf, strlen(full_conf), &c, &d);
        sk_alloc_fail_at(0, 0);
        sk_diag_fini(&d);
        if (rc == 0) {
            sk_conf_free(c);
            return;
        }
        assert_int_equal(rc, -SK_ENOMEM);
        assert_null(c);
    }
    fail_msg("never succeeded");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_docs_list_every_row),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_option),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_reports_all),
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
