/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Getting records out: the table and JSON-lines renderings of `sekimori
 * log query`, RFC 5424 syslog messages, and a small syslog sender (UNIX
 * datagram like /dev/log, UDP, or TCP with RFC 6587 octet counting) used
 * for `sekimori log export` and for the checkpoint copies.
 */
#include "evlog/evlog.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/error.h"

/* Private enterprise number 32473 is reserved for documentation (RFC 5612). */
#define SD_ID "sekimori@32473"

static int
put_time(struct sk_buf *out, uint64_t ts_ns)
{
    time_t sec = (time_t)(ts_ns / 1000000000ULL);
    struct tm tm;
    if (gmtime_r(&sec, &tm) == NULL)
        return -SK_EINVAL;
    char t[32];
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    return sk_buf_printf(out, "%s.%06uZ", t,
                         (unsigned)(ts_ns % 1000000000ULL / 1000));
}

static bool
printusascii(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 33 || s[i] > 126)
            return false;
    return true;
}

int
sk_evlog_syslog_format(struct sk_buf *out, int severity, uint64_t ts_ns,
                       const char *hostname, const char *msgid, const char *sd,
                       struct sk_str msg)
{
    if (severity < 0 || severity > 7)
        return -SK_EINVAL;
    int rc = sk_buf_printf(out, "<%d>1 ", 16 * 8 + severity);
    if (rc == 0)
        rc = put_time(out, ts_ns);
    if (rc == 0)
        rc = sk_buf_printf(
            out, " %s sekimori %ld %s %s ",
            hostname != NULL && printusascii(hostname, 255) ? hostname : "-",
            (long)getpid(),
            msgid != NULL && printusascii(msgid, 32) ? msgid : "-",
            sd != NULL ? sd : "-");
    if (rc == 0)
        rc = sk_buf_append_str(out, msg);
    return rc;
}

static int
json_escape(struct sk_buf *out, struct sk_str s)
{
    int rc = sk_buf_putc(out, '"');
    for (size_t i = 0; rc == 0 && i < s.len; i++) {
        uint8_t c = s.p[i];
        if (c == '"' || c == '\\')
            rc = sk_buf_printf(out, "\\%c", c);
        else if (c < 0x20)
            rc = sk_buf_printf(out, "\\u%04x", c);
        else
            rc = sk_buf_putc(out, c);
    }
    return rc == 0 ? sk_buf_putc(out, '"') : rc;
}

static int
severity_of(struct sk_str type)
{
    static const char *const warn[] = {"block",  "deny",   "alert",
                                       "tamper", "change", "quarantine"};
    for (size_t i = 0; i < sizeof(warn) / sizeof(warn[0]); i++)
        if (sk_str_find(type, sk_str_c(warn[i])) >= 0)
            return 4;
    return 6;
}

int
sk_evlog_format_record(const struct sk_evlog_record *rec,
                       enum sk_evlog_format fmt, const char *hostname,
                       struct sk_buf *out)
{
    int rc = 0;
    switch (fmt) {
    case SK_EVLOG_FMT_TABLE:
        rc = put_time(out, rec->ts_ns);
        if (rc == 0)
            rc =
                sk_buf_printf(out, " %10" PRIu64 " %-8.*s %-16.*s ", rec->seq,
                              (int)rec->source.len, (const char *)rec->source.p,
                              (int)rec->type.len, (const char *)rec->type.p);
        if (rc == 0)
            rc = sk_buf_append_str(out, rec->body);
        break;
    case SK_EVLOG_FMT_JSONL:
        rc = sk_buf_printf(out, "{\"seq\":%" PRIu64 ",\"ts\":\"", rec->seq);
        if (rc == 0)
            rc = put_time(out, rec->ts_ns);
        if (rc == 0)
            rc = sk_buf_append_c(out, "\",\"source\":");
        if (rc == 0)
            rc = json_escape(out, rec->source);
        if (rc == 0)
            rc = sk_buf_append_c(out, ",\"type\":");
        if (rc == 0)
            rc = json_escape(out, rec->type);
        if (rc == 0)
            rc = sk_buf_append_c(out, ",\"body\":");
        if (rc == 0)
            rc = sk_buf_append_str(out, rec->body.len ? rec->body
                                                      : SK_STR_LIT("{}"));
        if (rc == 0)
            rc = sk_buf_putc(out, '}');
        break;
    case SK_EVLOG_FMT_SYSLOG: {
        /* Names are [a-z0-9_.-], safe inside SD-PARAM values. */
        char sd[128], msgid[SK_EVLOG_MAX_NAME + 1];
        snprintf(sd, sizeof(sd), "[" SD_ID " seq=\"%" PRIu64 "\" src=\"%.*s\"]",
                 rec->seq, (int)rec->source.len, (const char *)rec->source.p);
        snprintf(msgid, sizeof(msgid), "%.*s", (int)rec->type.len,
                 (const char *)rec->type.p);
        rc = sk_evlog_syslog_format(out, severity_of(rec->type), rec->ts_ns,
                                    hostname, msgid, sd, rec->body);
        break;
    }
    default:
        return -SK_EINVAL;
    }
    return rc == 0 ? sk_buf_putc(out, '\n') : rc;
}

/* ---- the sender ------------------------------------------------------ */

struct sk_evlog_syslog {
    int fd;
    bool stream;
};

static int
connect_inet(const char *hostport, int socktype)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_socktype = socktype}, *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        fd =
            socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd == -1)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int
sk_evlog_syslog_open(const char *target, struct sk_evlog_syslog **out)
{
    int fd = -1;
    bool stream = false;
    if (strncmp(target, "unix:", 5) == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(target + 5) >= sizeof(sa.sun_path))
            return -SK_ELIMIT;
        strcpy(sa.sun_path, target + 5);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd != -1 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
            close(fd);
            fd = -1;
        }
    } else if (strncmp(target, "udp:", 4) == 0) {
        fd = connect_inet(target + 4, SOCK_DGRAM);
    } else if (strncmp(target, "tcp:", 4) == 0) {
        fd = connect_inet(target + 4, SOCK_STREAM);
        stream = true;
    } else {
        return -SK_EINVAL;
    }
    if (fd == -1)
        return -SK_EIO;
    struct sk_evlog_syslog *s = sk_calloc(1, sizeof(*s));
    if (s == NULL) {
        close(fd);
        return -SK_ENOMEM;
    }
    s->fd = fd;
    s->stream = stream;
    *out = s;
    return 0;
}

static int
send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -SK_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
sk_evlog_syslog_send(struct sk_evlog_syslog *s, struct sk_str msg)
{
    if (!s->stream) {
        ssize_t w = send(s->fd, msg.p, msg.len, MSG_NOSIGNAL);
        return w == (ssize_t)msg.len ? 0 : -SK_EIO;
    }
    char pre[24];
    int n = snprintf(pre, sizeof(pre), "%zu ", msg.len);
    int rc = send_all(s->fd, (const uint8_t *)pre, (size_t)n);
    return rc == 0 ? send_all(s->fd, msg.p, msg.len) : rc;
}

void
sk_evlog_syslog_close(struct sk_evlog_syslog *s)
{
    if (s == NULL)
        return;
    close(s->fd);
    sk_free(s);
}
