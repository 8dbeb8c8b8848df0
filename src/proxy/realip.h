/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's address behind a trusted proxy (docs/proxy.md, "Behind a
 * load balancer or TLS terminator"): matching a peer against the
 * `trusted_proxies` CIDR blocks, and walking X-Forwarded-For or RFC 7239
 * Forwarded from the right to the first hop that is not trusted. Pure:
 * no allocation, no I/O, no global state; every function reads only its
 * arguments and is safe on any bytes (fuzz/fuzz_realip.c).
 *
 * The walk trusts only what trusted proxies wrote. Each proxy appends
 * the address it saw, so, reading from the right, entries stay
 * believable while they name trusted proxies; the first that does not is
 * the client. Anything to its left came from the client and is never
 * parsed. A malformed entry reached by the walk ends it: the caller then
 * uses the TCP peer, as if no header had come.
 */
#ifndef SK_PROXY_REALIP_H
#define SK_PROXY_REALIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "util/str.h"

/* SK_REALIP_NONE: no usable address in the header (absent, empty, or an
 * RFC 7239 "unknown" or obfuscated node where the walk stopped). */
#define SK_REALIP_NONE 1

/* A walk ends, malformed, after this many trusted hops in one request:
 * no real chain of proxies is that long. */
#define SK_REALIP_MAX_HOPS 64

/* An IP address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are stored
 * as IPv4 so that `trusted_proxies 127.0.0.1` matches a dual-stack
 * listener's peer too. */
struct sk_realip_addr {
    int family; /* AF_INET (a[0..3]) or AF_INET6 */
    uint8_t a[16];
};

/* What a walk found: the client's address and its port (0: not given). */
struct sk_realip_client {
    struct sk_realip_addr addr;
    unsigned port;
};

/*
 * Parses a bare IPv4 or IPv6 literal (no brackets, port or zone) from
 * `s`. 0 or -SK_EPARSE. Pure.
 */
int sk_realip_addr_parse(struct sk_str s, struct sk_realip_addr *out);

/*
 * The address of an AF_INET or AF_INET6 socket address. 0, or
 * -SK_EINVAL for any other family. Pure.
 */
int sk_realip_addr_from_sockaddr(const struct sockaddr_storage *ss,
                                 struct sk_realip_addr *out);

/*
 * Writes the address as text (inet_ntop) into `buf` of `len` bytes
 * (INET6_ADDRSTRLEN is always enough). 0 or -SK_EINVAL. Pure.
 */
int sk_realip_addr_text(const struct sk_realip_addr *a, char *buf, size_t len);

/*
 * Whether `a` lies in one of the `n` blocks of `v` (conf/conf.h; blocks
 * of the other family never match). Pure.
 */
bool sk_realip_trusted(const struct sk_conf_cidr *v, size_t n,
                       const struct sk_realip_addr *a);

/*
 * Walks the X-Forwarded-For list made of the `n` field values of the
 * request (in order, as if joined with commas) from the right: empty
 * elements are skipped; each element is IPv4, IPv6, IPv4:PORT, [IPv6] or
 * [IPv6]:PORT with optional whitespace around it; the first address not
 * in `v` is the client, and when every address is trusted the leftmost
 * is. Returns 0 with *out, SK_REALIP_NONE when the list has no element,
 * or -SK_EPARSE when the walk reached a malformed element or more than
 * SK_REALIP_MAX_HOPS trusted ones. Reads only; pure.
 */
int sk_realip_xff(const struct sk_str *values, size_t n,
                  const struct sk_conf_cidr *v, size_t nv,
                  struct sk_realip_client *out);

/*
 * The same for RFC 7239 Forwarded fields: elements separated by commas,
 * `name=value` pairs by semicolons, values tokens or quoted strings
 * (with backslash escapes); the for= node of each element, from the
 * right: IPv4 or "[IPv6]", with an optional :PORT (an obfuscated
 * "_port" reads as 0). Names are case-insensitive. Returns 0 with *out;
 * SK_REALIP_NONE when there is no element, or when the walk reaches an
 * element without for=, with for=unknown or with an obfuscated node
 * ("_hidden"): who is behind it cannot be known; -SK_EPARSE when a field
 * the walk reached does not parse, repeats for= in one element, or has
 * more than SK_REALIP_MAX_HOPS trusted hops. A field that does not parse
 * is malformed as a whole (a quoted string may hide any comma in it), so
 * a front must add its own field or replace the header rather than
 * append to the client's. Reads only; pure.
 */
int sk_realip_forwarded(const struct sk_str *values, size_t n,
                        const struct sk_conf_cidr *v, size_t nv,
                        struct sk_realip_client *out);

#endif
