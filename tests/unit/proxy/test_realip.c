/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/proxy/realip.c: CIDR matching (IPv4, IPv6, odd
 * prefix lengths, IPv4-mapped peers), the X-Forwarded-For walk (from the
 * right, several fields, ports, all trusted, forged entries left of the
 * client never read, malformed entries, the hop limit) and the RFC 7239
 * Forwarded walk (quoted strings, IPv6 in brackets, ports, obfuscated
 * and unknown nodes, duplicate for=, syntax errors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy/realip.h"
#include "util/error.h"

static struct sk_conf_cidr trusted[4];
static const size_t ntrusted = 4;

static int
setup(void **state)
{
    (void)state;
    static const char *const t[] = {"127.0.0.1", "10.0.0.0/8",
                                    "2001:db8:1::/48", "::1"};
    for (size_t i = 0; i < ntrusted; i++)
        assert_int_equal(sk_conf_cidr_parse(t[i], &trusted[i]), 0);
    return 0;
}

static struct sk_realip_addr
addr(const char *s)
{
    struct sk_realip_addr a;
    assert_int_equal(sk_realip_addr_parse(sk_str_c(s), &a), 0);
    return a;
}

static void
test_match(void **state)
{
    (void)state;
    struct sk_realip_addr a = addr("127.0.0.1");
    assert_true(sk_realip_trusted(trusted, ntrusted, &a));
    a = addr("127.0.0.2");
    assert_false(sk_realip_trusted(trusted, ntrusted, &a));
    a = addr("10.255.1.2");
    assert_true(sk_realip_trusted(trusted, ntrusted, &a));
    a = addr("11.0.0.1");
    assert_false(sk_realip_trusted(trusted, ntrusted, &a));
    a = addr("2001:db8:1:ffff::5");
    assert_true(sk_realip_trusted(trusted, ntrusted, &a));
    a = addr("2001:db8:2::5");
    assert_false(sk_realip_trusted(trusted, ntrusted, &a));
    a = addr("::ffff:127.0.0.1"); /* a dual-stack listener's peer */
    assert_int_equal(a.family, AF_INET);
    assert_true(sk_realip_trusted(trusted, ntrusted, &a));
    a = addr("::2");
    assert_false(sk_realip_trusted(trusted, ntrusted, &a));
    /* Odd prefix lengths. */
    struct sk_conf_cidr c;
    assert_int_equal(sk_conf_cidr_parse("192.168.1.128/25", &c), 0);
    a = addr("192.168.1.200");
    assert_true(sk_realip_trusted(&c, 1, &a));
    a = addr("192.168.1.127");
    assert_false(sk_realip_trusted(&c, 1, &a));
    assert_int_equal(sk_conf_cidr_parse("0.0.0.0/0", &c), 0);
    a = addr("203.0.113.9");
    assert_true(sk_realip_trusted(&c, 1, &a));
    a = addr("::1");
    assert_false(sk_realip_trusted(&c, 1, &a)); /* other family */
    assert_false(sk_realip_trusted(NULL, 0, &a));

    /* Socket addresses. */
    struct sockaddr_storage ss = {0};
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6->sin6_addr), 1);
    assert_int_equal(sk_realip_addr_from_sockaddr(&ss, &a), 0);
    assert_int_equal(a.family, AF_INET);
    char txt[INET6_ADDRSTRLEN];
    assert_int_equal(sk_realip_addr_text(&a, txt, sizeof(txt)), 0);
    assert_string_equal(txt, "10.1.2.3");
    ss.ss_family = AF_UNIX;
    assert_int_equal(sk_realip_addr_from_sockaddr(&ss, &a), -SK_EINVAL);

    static const char *const bad[] = {"",           "1.2.3",    "1.2.3.4 ",
                                      "[::1]",      "::1%eth0", "01.2.3.4",
                                      "1.2.3.4:80", "unknown"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sk_realip_addr_parse(sk_str_c(bad[i]), &a),
                         -SK_EPARSE);
    /* An embedded NUL does not cut the address short. */
    assert_int_equal(sk_realip_addr_parse(sk_str_make("1.2.3.4\0x", 9), &a),
                     -SK_EPARSE);
}

/* Runs a walk over the '\n'-separated fields of `text`. */
static int
walk(bool fwd, const char *text, struct sk_realip_client *out)
{
    struct sk_str f[16];
    size_t n = 0;
    const char *s = text;
    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        assert_true(n < 16);
        f[n++] = sk_str_make(s, len);
        if (nl == NULL)
            break;
        s = nl + 1;
    }
    return fwd ? sk_realip_forwarded(f, n, trusted, ntrusted, out)
               : sk_realip_xff(f, n, trusted, ntrusted, out);
}

static void
expect(bool fwd, const char *text, const char *ip, unsigned port)
{
    struct sk_realip_client c;
    int rc = walk(fwd, text, &c);
    char txt[INET6_ADDRSTRLEN] = "";
    if (rc == 0)
        assert_int_equal(sk_realip_addr_text(&c.addr, txt, sizeof(txt)), 0);
    if (rc != 0 || strcmp(txt, ip) != 0 || c.port != port)
        fail_msg("%s '%s': rc %d, got %s:%u, wanted %s:%u",
                 fwd ? "Forwarded" : "X-Forwarded-For", text, rc, txt, c.port,
                 ip, port);
}

static void
expect_rc(bool fwd, const char *text, int want)
{
    struct sk_realip_client c;
    int rc = walk(fwd, text, &c);
    if (rc != want)
        fail_msg("%s '%s': rc %d, wanted %d",
                 fwd ? "Forwarded" : "X-Forwarded-For", text, rc, want);
}

static void
test_xff(void **state)
{
    (void)state;
    expect(false, "203.0.113.7", "203.0.113.7", 0);
    expect(false, " 203.0.113.7 ", "203.0.113.7", 0);
    /* From the right: trusted hops are skipped. */
    expect(false, "203.0.113.7, 10.0.0.1, 127.0.0.1", "203.0.113.7", 0);
    /* A forged entry left of the client is never believed, nor read. */
    expect(false, "6.6.6.6, 203.0.113.7", "203.0.113.7", 0);
    expect(false, "this is not an address, 203.0.113.7", "203.0.113.7", 0);
    expect(false, "10.0.0.9, 6.6.6.6, 203.0.113.7, 10.0.0.1", "203.0.113.7", 0);
    /* Several fields are one list, in order. */
    expect(false, "6.6.6.6\n203.0.113.7\n10.0.0.1", "203.0.113.7", 0);
    expect(false, "203.0.113.7, 10.0.0.2\n10.0.0.1", "203.0.113.7", 0);
    /* All trusted: the leftmost. */
    expect(false, "10.0.0.3, 10.0.0.2\n127.0.0.1", "10.0.0.3", 0);
    /* Empty elements and fields are skipped. */
    expect(false, "203.0.113.7,, ,\n\n127.0.0.1,", "203.0.113.7", 0);
    /* Ports and IPv6. */
    expect(false, "203.0.113.7:4711", "203.0.113.7", 4711);
    expect(false, "2001:db8:2::1", "2001:db8:2::1", 0);
    expect(false, "[2001:db8:2::1]:443, ::1", "2001:db8:2::1", 443);
    expect(false, "[2001:db8:2::1]", "2001:db8:2::1", 0);
    expect(false, "::ffff:198.51.100.1", "198.51.100.1", 0);
    /* Nothing. */
    expect_rc(false, "", SK_REALIP_NONE);
    expect_rc(false, " , ,", SK_REALIP_NONE);
    expect_rc(false, "\n", SK_REALIP_NONE);
    /* Malformed where the walk reaches it. */
    static const char *const bad[] = {
        "unknown",
        "203.0.113.7, garbage",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "1.2.3.4:",
        "[1.2.3.4]:80",
        "[::1",
        "[::1]x",
        "[::1]:",
        "1.2.3.4 5.6.7.8",
        "\"1.2.3.4\"",
        "1.2.3.4:80:90",
        "garbage, 10.0.0.1",
        "for=1.2.3.4",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_rc(false, bad[i], -SK_EPARSE);
    /* The hop limit. */
    char many[2048] = "203.0.113.7";
    for (int i = 0; i < SK_REALIP_MAX_HOPS - 1; i++)
        strcat(many, ", 10.0.0.1");
    expect(false, many, "203.0.113.7", 0);
    strcat(many, ", 10.0.0.1, 10.0.0.1");
    expect_rc(false, many, -SK_EPARSE);
}

static void
test_forwarded(void **state)
{
    (void)state;
    expect(true, "for=203.0.113.7", "203.0.113.7", 0);
    expect(true, "For=\"203.0.113.7\"", "203.0.113.7", 0);
    expect(true, "for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17", 4711);
    expect(true, "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60", 0);
    expect(true, "proto=https; for=192.0.2.60 ;host=\"a,b;c\"", "192.0.2.60",
           0);
    /* Walk from the right over elements and fields. */
    expect(true, "for=6.6.6.6, for=192.0.2.60, for=10.0.0.1", "192.0.2.60", 0);
    expect(true, "for=6.6.6.6\nfor=192.0.2.60\nfor=\"[::1]\"", "192.0.2.60", 0);
    expect(true, "for=10.0.0.2, for=127.0.0.1", "10.0.0.2", 0);
    /* Quoted-pair escapes, and a quoted comma that is no separator. */
    expect(true, "for=\"19\\2.0.2.60\";x=\"a,for=6.6.6.6\"", "192.0.2.60", 0);
    /* Empty elements. */
    expect(true, ",, for=192.0.2.60 ,", "192.0.2.60", 0);
    /* Unquoted IPv6 and port (not in the grammar, but seen). */
    expect(true, "for=[2001:db8:2::1]:80", "2001:db8:2::1", 80);
    expect(true, "for=192.0.2.60:8080", "192.0.2.60", 8080);
    /* An obfuscated port reads as 0. */
    expect(true, "for=\"192.0.2.60:_abc\"", "192.0.2.60", 0);
    /* Garbage left of the client is not looked at (another field). */
    expect(true, "for=\"unterminated\nfor=192.0.2.60", "192.0.2.60", 0);
    /* No address behind an unknown, obfuscated or missing for=. */
    expect_rc(true, "for=unknown", SK_REALIP_NONE);
    expect_rc(true, "for=192.0.2.60, for=\"_hidden\"", SK_REALIP_NONE);
    expect_rc(true, "for=192.0.2.60, for=\"unknown:80\"", SK_REALIP_NONE);
    expect_rc(true, "for=192.0.2.60, proto=https", SK_REALIP_NONE);
    /* ... unless it lies left of the client. */
    expect(true, "for=_x, for=192.0.2.60, for=10.0.0.1", "192.0.2.60", 0);
    expect_rc(true, "", SK_REALIP_NONE);
    expect_rc(true, " ,", SK_REALIP_NONE);
    static const char *const bad[] = {
        "for=192.0.2.60;for=10.0.0.1", /* twice */
        "for=\"192.0.2.60",            /* unterminated */
        "for=192.0.2.60 x",            /* junk after a value */
        "for=",                        /* empty value */
        "=192.0.2.60",                 /* no name */
        "for",                         /* no value */
        "for=192.0.2.60;",             /* dangling ; */
        "for=not-an-address",
        "for=\"[1.2.3.4]\"",
        "for=\"[::1]:0\"",
        "for=\"a\x01\"",
        "for=6.6.6.6, for=\"[::1\"", /* reached */
        /* A quoted string swallowing the front's comma: the field as a
         * whole is malformed. */
        "for=\"6.6.6.6, for=192.0.2.60",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_rc(true, bad[i], -SK_EPARSE);
    /* Long values: only the for= node is bounded. */
    char big[600] = "x=\"";
    memset(big + 3, 'a', 500);
    strcpy(big + 503, "\";for=192.0.2.60");
    expect(true, big, "192.0.2.60", 0);
    char bigfor[600] = "for=\"";
    memset(bigfor + 5, '1', 200);
    strcpy(bigfor + 205, "\"");
    expect_rc(true, bigfor, -SK_EPARSE);
    /* The hop limit, within one field and across the ring. */
    char many[4096] = "for=192.0.2.60";
    for (int i = 0; i < SK_REALIP_MAX_HOPS; i++)
        strcat(many, ", for=10.0.0.1");
    expect(true, many, "192.0.2.60", 0);
    strcat(many, ", for=10.0.0.1");
    expect_rc(true, many, -SK_EPARSE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_match, setup),
        cmocka_unit_test_setup(test_xff, setup),
        cmocka_unit_test_setup(test_forwarded, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
