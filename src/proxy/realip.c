/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's address behind trusted proxies (realip.h): CIDR matching,
 * and the right-to-left walks of X-Forwarded-For and RFC 7239 Forwarded.
 * X-Forwarded-For elements cannot contain commas, so that walk scans
 * backwards and never looks at what lies left of the client. Forwarded
 * values may be quoted strings holding commas, so each field is parsed
 * forwards into a bounded ring of its last elements, and the walk then
 * goes through the rings from the last field to the first.
 */
#include "proxy/realip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "util/error.h"

/* Longest address element we parse: "[IPv6]:65535" is 53 bytes. */
#define NODE_MAX 64

/* ---- Addresses --------------------------------------------------------- */

static void
unmap(struct sk_realip_addr *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    if (a->family == AF_INET6 && memcmp(a->a, prefix, 12) == 0) {
        memmove(a->a, a->a + 12, 4);
        memset(a->a + 4, 0, 12);
        a->family = AF_INET;
    }
}

int
sk_realip_addr_parse(struct sk_str s, struct sk_realip_addr *out)
{
    char buf[NODE_MAX];
    memset(out, 0, sizeof(*out));
    if (s.len == 0 || s.len >= sizeof(buf))
        return -SK_EPARSE;
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    /* inet_pton stops at a NUL; an embedded one must not shorten it. */
    if (memchr(s.p, '\0', s.len) != NULL)
        return -SK_EPARSE;
    if (inet_pton(AF_INET, buf, out->a) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->a) == 1) {
        out->family = AF_INET6;
        unmap(out);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    return -SK_EPARSE;
}

int
sk_realip_addr_from_sockaddr(const struct sockaddr_storage *ss,
                             struct sk_realip_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        out->family = AF_INET;
        memcpy(out->a, &s4->sin_addr, 4);
        return 0;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        out->family = AF_INET6;
        memcpy(out->a, &s6->sin6_addr, 16);
        unmap(out);
        return 0;
    }
    return -SK_EINVAL;
}

int
sk_realip_addr_text(const struct sk_realip_addr *a, char *buf, size_t len)
{
    if ((a->family != AF_INET && a->family != AF_INET6) || len == 0)
        return -SK_EINVAL;
    if (inet_ntop(a->family, a->a, buf, (socklen_t)len) == NULL) {
        buf[0] = '\0';
        return -SK_EINVAL;
    }
    return 0;
}

bool
sk_realip_trusted(const struct sk_conf_cidr *v, size_t n,
                  const struct sk_realip_addr *a)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].family != a->family)
            continue;
        unsigned bits = v[i].bits;
        unsigned max = a->family == AF_INET ? 32 : 128;
        if (bits > max)
            continue; /* not from sk_conf_cidr_parse */
        size_t whole = bits / 8;
        if (memcmp(v[i].addr, a->a, whole) != 0)
            continue;
        unsigned rest = bits % 8;
        if (rest != 0) {
            uint8_t mask = (uint8_t)(0xffu << (8 - rest));
            if ((v[i].addr[whole] & mask) != (a->a[whole] & mask))
                continue;
        }
        return true;
    }
    return false;
}

/* ---- Nodes ------------------------------------------------------------- */

static bool
is_ows(uint8_t ch)
{
    return ch == ' ' || ch == '\t';
}

static struct sk_str
trim(struct sk_str s)
{
    while (s.len > 0 && is_ows(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && is_ows(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* 1..65535 written with 1 to 5 digits. */
static int
parse_port(struct sk_str s, unsigned *port)
{
    if (s.len == 0 || s.len > 5)
        return -SK_EPARSE;
    unsigned v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -SK_EPARSE;
        v = v * 10 + (unsigned)(s.p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -SK_EPARSE;
    *port = v;
    return 0;
}

/*
 * IPv4, IPv4:PORT, IPv6, [IPv6], [IPv6]:PORT. With `obf_port`, a port
 * may also be an RFC 7239 obfuscated one ("_" and token characters),
 * which reads as 0.
 */
static int
parse_node(struct sk_str s, bool obf_port, struct sk_realip_client *out)
{
    out->port = 0;
    if (s.len == 0 || s.len > NODE_MAX)
        return -SK_EPARSE;
    struct sk_str host = s, port = SK_STR_NULL;
    bool has_port = false;
    if (s.p[0] == '[') {
        const uint8_t *close = memchr(s.p, ']', s.len);
        if (close == NULL)
            return -SK_EPARSE;
        size_t hl = (size_t)(close - s.p) - 1;
        host = sk_str_make(s.p + 1, hl);
        size_t after = hl + 2;
        if (after < s.len) {
            if (s.p[after] != ':')
                return -SK_EPARSE;
            has_port = true;
            port = sk_str_make(s.p + after + 1, s.len - after - 1);
        }
        struct sk_realip_addr a;
        if (sk_realip_addr_parse(host, &a) != 0)
            return -SK_EPARSE;
        /* Brackets hold IPv6 only ("[1.2.3.4]" is not a node). */
        if (memchr(host.p, ':', host.len) == NULL)
            return -SK_EPARSE;
        out->addr = a;
    } else {
        const uint8_t *colon = memchr(s.p, ':', s.len);
        if (colon != NULL &&
            memchr(colon + 1, ':', s.len - (size_t)(colon + 1 - s.p)) == NULL) {
            /* Exactly one colon: IPv4:PORT. */
            host = sk_str_make(s.p, (size_t)(colon - s.p));
            has_port = true;
            port = sk_str_make(colon + 1, s.len - host.len - 1);
            if (sk_realip_addr_parse(host, &out->addr) != 0 ||
                out->addr.family != AF_INET)
                return -SK_EPARSE;
        } else if (sk_realip_addr_parse(host, &out->addr) != 0) {
            return -SK_EPARSE;
        }
    }
    if (has_port) {
        if (obf_port && port.len >= 2 && port.p[0] == '_') {
            for (size_t i = 1; i < port.len; i++) {
                uint8_t ch = port.p[i];
                bool ok = (ch >= '0' && ch <= '9') ||
                          (ch >= 'a' && ch <= 'z') ||
                          (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '_' ||
                          ch == '-';
                if (!ok)
                    return -SK_EPARSE;
            }
            out->port = 0;
        } else if (parse_port(port, &out->port) != 0) {
            return -SK_EPARSE;
        }
    }
    return 0;
}

/* ---- X-Forwarded-For --------------------------------------------------- */

int
sk_realip_xff(const struct sk_str *values, size_t n,
              const struct sk_conf_cidr *v, size_t nv,
              struct sk_realip_client *out)
{
    memset(out, 0, sizeof(*out));
    struct sk_realip_client cur, leftmost = {0};
    bool any = false;
    unsigned hops = 0;
    for (size_t f = n; f-- > 0;) {
        if (values[f].len == 0)
            continue;
        const uint8_t *p = values[f].p;
        size_t end = values[f].len;
        for (;;) {
            size_t start = end;
            while (start > 0 && p[start - 1] != ',')
                start--;
            struct sk_str el = trim(sk_str_make(p + start, end - start));
            if (el.len > 0) {
                if (parse_node(el, false, &cur) != 0)
                    return -SK_EPARSE;
                any = true;
                if (!sk_realip_trusted(v, nv, &cur.addr)) {
                    *out = cur;
                    return 0;
                }
                if (++hops > SK_REALIP_MAX_HOPS)
                    return -SK_EPARSE;
                leftmost = cur;
            }
            if (start == 0)
                break;
            end = start - 1; /* before the comma */
        }
    }
    if (!any)
        return SK_REALIP_NONE;
    *out = leftmost;
    return 0;
}

/* ---- Forwarded --------------------------------------------------------- */

enum el_kind {
    EL_ADDR = 0,    /* for= with an address */
    EL_UNKNOWN = 1, /* no for=, "unknown" or an obfuscated node */
    EL_BAD = 2,     /* for= given twice or not a node */
};

struct element {
    enum el_kind kind;
    struct sk_realip_client node;
};

#define RING (SK_REALIP_MAX_HOPS + 1)

struct field {
    struct element ring[RING];
    size_t count; /* elements parsed, may exceed RING */
    bool bad;     /* a syntax error: the field as a whole is malformed */
};

static bool
is_tchar(uint8_t ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
        (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Unquoted values: tokens, plus ':' '[' ']' which some proxies write
 * without the quotes the grammar asks for. */
static bool
is_vchar_bare(uint8_t ch)
{
    return is_tchar(ch) || ch == ':' || ch == '[' || ch == ']';
}

struct cursor {
    const uint8_t *p;
    size_t len, i;
};

static void
skip_ows(struct cursor *c)
{
    while (c->i < c->len && is_ows(c->p[c->i]))
        c->i++;
}

/*
 * Reads a value (token or quoted string) at the cursor into `buf` (up to
 * `cap` bytes, unescaped); *vlen gets its length, or cap + 1 when it was
 * longer (then only the first cap bytes are kept). -SK_EPARSE on bad
 * syntax.
 */
static int
read_value(struct cursor *c, uint8_t *buf, size_t cap, size_t *vlen)
{
    size_t n = 0;
    bool over = false;
    if (c->i < c->len && c->p[c->i] == '"') {
        c->i++;
        for (;;) {
            if (c->i >= c->len)
                return -SK_EPARSE; /* unterminated */
            uint8_t ch = c->p[c->i++];
            if (ch == '"')
                break;
            if (ch == '\\') {
                if (c->i >= c->len)
                    return -SK_EPARSE;
                ch = c->p[c->i++];
                if (ch != '\t' && (ch < 0x20 || ch == 0x7f))
                    return -SK_EPARSE;
            } else if (ch != '\t' && (ch < 0x20 || ch == 0x7f)) {
                return -SK_EPARSE;
            }
            if (n < cap)
                buf[n++] = ch;
            else
                over = true;
        }
    } else {
        size_t s = c->i;
        while (c->i < c->len && is_vchar_bare(c->p[c->i])) {
            if (n < cap)
                buf[n++] = c->p[c->i];
            else
                over = true;
            c->i++;
        }
        if (c->i == s)
            return -SK_EPARSE; /* empty value */
    }
    *vlen = over ? cap + 1 : n;
    return 0;
}

static void
classify_for(struct element *e, const uint8_t *val, size_t vlen)
{
    if (vlen > NODE_MAX) {
        e->kind = EL_BAD;
        return;
    }
    struct sk_str s = sk_str_make(val, vlen);
    if (sk_str_eq_c_nocase(s, "unknown") || (vlen > 0 && val[0] == '_')) {
        /* RFC 7239 6.2 and 6.3: no address to trust or not. A port
         * after them ("unknown:80") changes nothing. */
        e->kind = EL_UNKNOWN;
        return;
    }
    if (vlen > 8 &&
        (memcmp(val, "unknown:", 8) == 0 || memcmp(val, "UNKNOWN:", 8) == 0)) {
        e->kind = EL_UNKNOWN;
        return;
    }
    e->kind = parse_node(s, true, &e->node) == 0 ? EL_ADDR : EL_BAD;
}

/* Parses one Forwarded field value into `fd` (its last RING elements). */
static void
parse_field(struct sk_str value, struct field *fd)
{
    fd->count = 0;
    fd->bad = false;
    struct cursor c = {value.p, value.len, 0};
    for (;;) {
        skip_ows(&c);
        if (c.i >= c.len)
            return;
        if (c.p[c.i] == ',') {
            c.i++; /* an empty element */
            continue;
        }
        struct element e = {.kind = EL_UNKNOWN};
        bool seen_for = false;
        for (;;) {
            /* pair: token "=" value */
            size_t ns = c.i;
            while (c.i < c.len && is_tchar(c.p[c.i]))
                c.i++;
            struct sk_str name = sk_str_make(c.p + ns, c.i - ns);
            if (name.len == 0 || c.i >= c.len || c.p[c.i] != '=') {
                fd->bad = true;
                return;
            }
            c.i++;
            uint8_t val[NODE_MAX];
            size_t vlen;
            if (read_value(&c, val, sizeof(val), &vlen) != 0) {
                fd->bad = true;
                return;
            }
            if (sk_str_eq_c_nocase(name, "for")) {
                if (seen_for)
                    e.kind = EL_BAD;
                else
                    classify_for(&e, val, vlen);
                seen_for = true;
            }
            skip_ows(&c);
            if (c.i < c.len && c.p[c.i] == ';') {
                c.i++;
                skip_ows(&c);
                continue;
            }
            break;
        }
        fd->ring[fd->count % RING] = e;
        fd->count++;
        if (c.i >= c.len)
            return;
        if (c.p[c.i] != ',') {
            fd->bad = true;
            return;
        }
        c.i++;
    }
}

int
sk_realip_forwarded(const struct sk_str *values, size_t n,
                    const struct sk_conf_cidr *v, size_t nv,
                    struct sk_realip_client *out)
{
    memset(out, 0, sizeof(*out));
    struct field fd;
    struct sk_realip_client leftmost = {0};
    bool any = false;
    unsigned hops = 0;
    for (size_t f = n; f-- > 0;) {
        parse_field(values[f], &fd);
        if (fd.bad)
            return -SK_EPARSE;
        size_t kept = fd.count < RING ? fd.count : RING;
        for (size_t k = 0; k < kept; k++) {
            const struct element *e = &fd.ring[(fd.count - 1 - k) % RING];
            any = true;
            if (e->kind == EL_BAD)
                return -SK_EPARSE;
            if (e->kind == EL_UNKNOWN)
                return SK_REALIP_NONE;
            if (!sk_realip_trusted(v, nv, &e->node.addr)) {
                *out = e->node;
                return 0;
            }
            if (++hops > SK_REALIP_MAX_HOPS)
                return -SK_EPARSE;
            leftmost = e->node;
        }
        /* More elements than the ring holds, all trusted so far: more
         * than SK_REALIP_MAX_HOPS hops. */
        if (fd.count > RING)
            return -SK_EPARSE;
    }
    if (!any)
        return SK_REALIP_NONE;
    *out = leftmost;
    return 0;
}
