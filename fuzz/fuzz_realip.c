/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the real-client-address walks (src/proxy/realip.c).
 * The first byte picks the header (bit 0: X-Forwarded-For or Forwarded);
 * the rest, split at '\n', are the field values. A fixed trusted list
 * (loopback, 10/8, ::1, 2001:db8::/32) is used. A found address must be
 * IPv4 or IPv6 with a port up to 65535 and printable with inet_ntop, the
 * walk must be deterministic, and a bare address parsed from the whole
 * input must print and parse back to itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "proxy/realip.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 32

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sk_conf_cidr trusted[4];
    static int ready;
    if (!ready) {
        static const char *const t[] = {"127.0.0.0/8", "10.0.0.0/8", "::1",
                                        "2001:db8::/32"};
        for (size_t i = 0; i < 4; i++)
            if (sk_conf_cidr_parse(t[i], &trusted[i]) != 0)
                __builtin_trap();
        ready = 1;
    }
    if (size == 0)
        return 0;
    int forwarded = data[0] & 1;
    data++;
    size--;

    struct sk_realip_addr a, b;
    if (sk_realip_addr_parse(sk_str_make(data, size), &a) == 0) {
        char txt[INET6_ADDRSTRLEN];
        if (sk_realip_addr_text(&a, txt, sizeof(txt)) != 0 ||
            sk_realip_addr_parse(sk_str_c(txt), &b) != 0 ||
            memcmp(&a, &b, sizeof(a)) != 0)
            __builtin_trap();
    }

    struct sk_str fields[MAX_FIELDS];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < MAX_FIELDS; i++) {
        if (i == size || data[i] == '\n') {
            fields[n++] = sk_str_make(data + start, i - start);
            start = i + 1;
        }
    }
    struct sk_realip_client c1, c2;
    int r1 = forwarded ? sk_realip_forwarded(fields, n, trusted, 4, &c1)
                       : sk_realip_xff(fields, n, trusted, 4, &c1);
    int r2 = forwarded ? sk_realip_forwarded(fields, n, trusted, 4, &c2)
                       : sk_realip_xff(fields, n, trusted, 4, &c2);
    if (r1 != r2 || memcmp(&c1, &c2, sizeof(c1)) != 0)
        __builtin_trap();
    if (r1 != 0 && r1 != SK_REALIP_NONE && r1 != -SK_EPARSE)
        __builtin_trap();
    if (r1 == 0) {
        char txt[INET6_ADDRSTRLEN];
        if ((c1.addr.family != AF_INET && c1.addr.family != AF_INET6) ||
            c1.port > 65535 ||
            sk_realip_addr_text(&c1.addr, txt, sizeof(txt)) != 0)
            __builtin_trap();
    }
    return 0;
}
