/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/http/multipart.c: parts and values of well-formed
 * bodies, each MULTIPART_* flag raised on its own, the Content-Type
 * boundary quirks, and the processor errors that rule 200002 blocks on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/multipart.h"
#include "util/alloc.h"
#include "util/error.h"

static struct sk_arena *arena;

static int
setup(void **state)
{
    (void)state;
    arena = sk_arena_new(0);
    return arena == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    (void)state;
    sk_arena_free(arena);
    return 0;
}

static void
assert_str(struct sk_str s, const char *want)
{
    size_t n = strlen(want);
    if (s.len != n || (n > 0 && memcmp(s.p, want, n) != 0))
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, (const char *)s.p,
                 want);
}

static const char *CT = "multipart/form-data; boundary=XyZ";

static struct sk_mp_result
mp(const char *ct, const char *body)
{
    struct sk_mp_result r;
    assert_int_equal(
        sk_multipart_parse(arena, sk_str_c(ct), sk_str_c(body), 100, &r), 0);
    return r;
}

/* Sum of the flags, to check that exactly the expected ones are raised. */
static int
nflags(const struct sk_mp_result *r)
{
    return r->boundary_quoted + r->boundary_whitespace + r->data_before +
           r->data_after + r->header_folding + r->lf_line + r->crlf_lf_lines +
           r->missing_semicolon + r->invalid_quoting + r->invalid_part +
           r->invalid_header_folding + r->file_limit_exceeded +
           r->unmatched_boundary;
}

#define PART_A "Content-Disposition: form-data; name=\"a\"\r\n"

static const char *CLEAN =
    "--XyZ\r\n" PART_A "\r\n"
    "line1\r\nline2\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"up\"; filename=\"x.php\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "<?php echo 1;\n\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"empty\"\r\n"
    "\r\n"
    "\r\n"
    "--XyZ--\r\n";

static void
test_clean(void **state)
{
    (void)state;
    struct sk_mp_result r = mp(CT, CLEAN);
    assert_int_equal(r.error, 0);
    assert_int_equal(nflags(&r), 0);
    assert_int_equal(r.strict_error, 0);
    assert_int_equal(r.nparts, 3);
    assert_str(r.parts[0].name, "a");
    assert_false(r.parts[0].is_file);
    /* Inner line breaks are kept (v2 / PHP), the last one is not. */
    assert_str(r.parts[0].value, "line1\r\nline2");
    assert_int_equal(r.parts[0].nheader_lines, 1);
    assert_str(r.parts[0].header_lines[0],
               "Content-Disposition: form-data; name=\"a\"");
    assert_str(r.parts[1].name, "up");
    assert_true(r.parts[1].is_file);
    assert_str(r.parts[1].filename, "x.php");
    assert_str(r.parts[1].value, "<?php echo 1;\n");
    assert_int_equal(r.parts[1].nheader_lines, 2);
    assert_str(r.parts[1].header_lines[1],
               "Content-Type: application/octet-stream");
    assert_str(r.parts[2].value, "");
    assert_int_equal(r.files_combined_size, 14);
}

static void
test_crs_bodies(void **state)
{
    (void)state;
    /* 920120-1: a '=' in a quoted filename is fine for the parser. */
    struct sk_mp_result r =
        mp("multipart/form-data; boundary=--------397236876",
           "----------397236876\r\n"
           "Content-Disposition: form-data; name=\"fileRap\"; "
           "filename=\"file=.txt\"\r\n"
           "Content-Type: text/plain\r\n\r\n"
           "555-555-0199@example.com\r\n"
           "----------397236876--\r\n");
    assert_int_equal(r.error, 0);
    assert_int_equal(r.strict_error, 0);
    assert_int_equal(r.nparts, 1);
    assert_str(r.parts[0].filename, "file=.txt");
    /* 922110: boundary=boundary, LF-only lines (a YAML block). */
    r = mp("multipart/form-data; boundary=boundary",
           "--boundary\n"
           "Content-disposition: form-data; name=\"_charset_\"\n\n"
           "utf-8\n"
           "--boundary\n"
           "Content-disposition: form-data; name=\"922110\"\n"
           "Content-Type: text/plain; charset=utf-7\n\n"
           "Knock knock.\n"
           "--boundary--\n");
    assert_int_equal(r.error, 0);
    assert_int_equal(r.lf_line, 1);
    assert_int_equal(r.crlf_lf_lines, 0);
    assert_int_equal(r.nparts, 2);
    assert_str(r.parts[0].value, "utf-8");
    assert_str(r.parts[1].header_lines[1],
               "Content-Type: text/plain; charset=utf-7");
}

static void
test_flag_boundary_quoted(void **state)
{
    (void)state;
    struct sk_mp_result r = mp("multipart/form-data; boundary=\"XyZ\"", CLEAN);
    assert_int_equal(r.boundary_quoted, 1);
    assert_int_equal(nflags(&r), 1);
    assert_int_equal(r.strict_error, 1);
    assert_int_equal(r.nparts, 3);
    /* A body that puts the quotes into the delimiter is an error. */
    r = mp("multipart/form-data; boundary=\"XyZ\"",
           "--\"XyZ\"\r\n" PART_A "\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.error, 1);
}

static void
test_flag_boundary_whitespace(void **state)
{
    (void)state;
    struct sk_mp_result r = mp("multipart/form-data; boundary =XyZ", CLEAN);
    assert_int_equal(r.boundary_whitespace, 1);
    assert_int_equal(nflags(&r), 1);
    assert_int_equal(r.strict_error, 1);
    /* Whitespace before the value becomes part of the boundary. */
    r = mp("multipart/form-data; boundary= XyZ",
           "-- XyZ\r\n" PART_A "\r\nv\r\n-- XyZ--\r\n");
    assert_int_equal(r.boundary_whitespace, 1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nparts, 1);
    /* Whitespace between "--" and the boundary in the body: error. */
    r = mp(CT, "-- XyZ\r\n" PART_A "\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.error, 1);
    assert_string_equal(r.error_msg, "Multipart: Invalid boundary "
                                     "(whitespace).");
}

static void
test_flag_missing_semicolon(void **state)
{
    (void)state;
    struct sk_mp_result r = mp("multipart/form-data boundary=XyZ", CLEAN);
    assert_int_equal(r.missing_semicolon, 1);
    assert_int_equal(nflags(&r), 1);
    assert_int_equal(r.strict_error, 1);
}

static void
test_flag_data_before_after(void **state)
{
    (void)state;
    struct sk_mp_result r =
        mp(CT, "preamble\r\n--XyZ\r\n" PART_A "\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.data_before, 1);
    assert_int_equal(nflags(&r), 1);
    assert_int_equal(r.strict_error, 1);
    r = mp(CT, "--XyZ\r\n" PART_A "\r\nv\r\n--XyZ--\r\nepilogue");
    assert_int_equal(r.data_after, 1);
    assert_int_equal(nflags(&r), 1);
    assert_int_equal(r.nparts, 1);
    /* Even a lone CRLF after the final boundary counts. */
    r = mp(CT, "--XyZ\r\n" PART_A "\r\nv\r\n--XyZ--\r\n\r\n");
    assert_int_equal(r.data_after, 1);
    /* A final boundary without its CRLF at the end is complete. */
    r = mp(CT, "--XyZ\r\n" PART_A "\r\nv\r\n--XyZ--");
    assert_int_equal(r.error, 0);
    assert_int_equal(nflags(&r), 0);
    assert_int_equal(r.nparts, 1);
}

static void
test_flag_header_folding(void **state)
{
    (void)state;
    struct sk_mp_result r = mp(CT, "--XyZ\r\n"
                                   "Content-Disposition: form-data;\r\n"
                                   "\tname=\"a\"\r\n\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.header_folding, 1);
    assert_int_equal(r.invalid_header_folding, 0);
    assert_int_equal(nflags(&r), 1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nparts, 1);
    assert_str(r.parts[0].name, "a");
    assert_str(r.parts[0].header_lines[0],
               "Content-Disposition: form-data; name=\"a\"");
    /* Folding with a vertical tab: also INVALID_HEADER_FOLDING. */
    r = mp(CT, "--XyZ\r\n"
               "Content-Disposition: form-data;\r\n"
               "\vname=\"a\"\r\n\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.header_folding, 1);
    assert_int_equal(r.invalid_header_folding, 1);
    assert_int_equal(nflags(&r), 2);
    /* Folding with nothing to continue is an error. */
    r = mp(CT, "--XyZ\r\n x\r\n" PART_A "\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.error, 1);
    assert_int_equal(r.invalid_header_folding, 0);
    /* ... and a bad folding character is flagged even then (as v3). */
    r = mp(CT, "--XyZ\r\n\vx\r\n" PART_A "\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.error, 1);
    assert_int_equal(r.header_folding, 1);
    assert_int_equal(r.invalid_header_folding, 1);
}

static void
test_flag_lf_lines(void **state)
{
    (void)state;
    struct sk_mp_result r = mp(CT, "--XyZ\n" PART_A "\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.lf_line, 1);
    assert_int_equal(r.crlf_lf_lines, 1);
    assert_int_equal(nflags(&r), 2);
    assert_int_equal(r.strict_error, 1);
    r = mp(CT, "--XyZ\n"
               "Content-Disposition: form-data; name=\"a\"\n\nv\n--XyZ--\n");
    assert_int_equal(r.lf_line, 1);
    assert_int_equal(r.crlf_lf_lines, 0);
    assert_int_equal(nflags(&r), 1);
    assert_str(r.parts[0].value, "v");
    /* Data line ending in a bare LF right before a CRLF boundary. */
    r = mp(CT, "--XyZ\r\n" PART_A "\r\nv\n--XyZ--\r\n");
    assert_int_equal(r.lf_line, 1);
    assert_int_equal(r.crlf_lf_lines, 1);
}

static void
test_flag_invalid_quoting(void **state)
{
    (void)state;
    struct sk_mp_result r =
        mp(CT, "--XyZ\r\nContent-Disposition: form-data; name='a'\r\n\r\nv\r\n"
               "--XyZ--\r\n");
    assert_int_equal(r.invalid_quoting, 1);
    assert_int_equal(nflags(&r), 1);
    assert_int_equal(r.error, 0);
    assert_str(r.parts[0].name, "a");
    r = mp(CT, "--XyZ\r\nContent-Disposition: form-data; name=a'b\r\n\r\nv\r\n"
               "--XyZ--\r\n");
    assert_int_equal(r.invalid_quoting, 1);
    /* A quote inside a double-quoted value is fine. */
    r = mp(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a'b\"\r\n"
               "\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.invalid_quoting, 0);
    assert_str(r.parts[0].name, "a'b");
    /* Junk after a quoted value: quoting flag and C-D error. */
    r = mp(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"x\r\n\r\n"
               "v\r\n--XyZ--\r\n");
    assert_int_equal(r.invalid_quoting, 1);
    assert_int_equal(r.error, 1);
    /* An unterminated quote is a C-D error (v3 reads past the end). */
    r = mp(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\n"
               "v\r\n--XyZ--\r\n");
    assert_int_equal(r.error, 1);
    assert_int_equal(r.invalid_quoting, 0);
    /* Escapes in a quoted value. */
    r = mp(CT, "--XyZ\r\nContent-Disposition: form-data; "
               "name=\"a\\\"b\\\\c\\d\"\r\n\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.error, 0);
    assert_str(r.parts[0].name, "a\"b\\c\\d");
}

static void
test_flag_invalid_part(void **state)
{
    (void)state;
    /* A boundary right after the blank line: no data was read. */
    struct sk_mp_result r =
        mp(CT, "--XyZ\r\n" PART_A "\r\n--XyZ\r\n" PART_A "\r\nv\r\n"
               "--XyZ--\r\n");
    assert_int_equal(r.invalid_part, 1);
    assert_int_equal(r.strict_error, 1);
    /* A part without a name is dropped and flagged. */
    r = mp(CT, "--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.invalid_part, 1);
    assert_int_equal(r.error, 1);
    assert_int_equal(r.nparts, 0);
}

static void
test_flag_unmatched_boundary(void **state)
{
    (void)state;
    struct sk_mp_result r =
        mp(CT, "--XyZ\r\n" PART_A "\r\nv\r\n--other\r\nw\r\n--XyZ--\r\n");
    assert_int_equal(r.unmatched_boundary, 1);
    assert_int_equal(nflags(&r), 1);
    /* not part of STRICT_ERROR (rule 200004 tests it on its own) */
    assert_int_equal(r.strict_error, 0);
    assert_str(r.parts[0].value, "v\r\n--other\r\nw");
    r = mp(CT, "--XyZ\r\n" PART_A "\r\nfoo--XyZ\r\n--XyZ--\r\n");
    assert_int_equal(r.unmatched_boundary, 1);
    /* The boundary followed by junk on its line is an error. */
    r = mp(CT, "--XyZ\r\n" PART_A "\r\nv\r\n--XyZ \r\n--XyZ--\r\n");
    assert_int_equal(r.error, 1);
    assert_string_equal(r.error_msg, "Multipart: Invalid boundary.");
}

static void
test_flag_file_limit(void **state)
{
    (void)state;
    static const char body[] =
        "--XyZ\r\nContent-Disposition: form-data; name=f1; filename=a\r\n"
        "\r\n1\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=f2; filename=b\r\n"
        "\r\n22\r\nmore\r\n"
        "--XyZ--\r\n";
    struct sk_mp_opts o = {.max_parts = 10, .file_limit = 2};
    struct sk_mp_result r;
    assert_int_equal(
        sk_multipart_parse_ex(arena, sk_str_c(CT), sk_str_c(body), &o, &r), 0);
    assert_int_equal(r.file_limit_exceeded, 0);
    assert_int_equal(r.files_combined_size, 1 + 8);
    o.file_limit = 1;
    assert_int_equal(
        sk_multipart_parse_ex(arena, sk_str_c(CT), sk_str_c(body), &o, &r), 0);
    assert_int_equal(r.file_limit_exceeded, 1);
    assert_int_equal(nflags(&r), 1);
    assert_int_equal(r.strict_error, 1);
    assert_int_equal(r.nparts, 2);
}

static void
expect_ct_error(const char *ct, const char *msg)
{
    struct sk_mp_result r = mp(ct, CLEAN);
    if (!r.error || strcmp(r.error_msg, msg) != 0)
        fail_msg("C-T \"%s\": error %d \"%s\", want \"%s\"", ct, r.error,
                 r.error_msg ? r.error_msg : "", msg);
    assert_int_equal(r.strict_error, 1);
    assert_int_equal(r.nparts, 0);
}

static void
test_content_type(void **state)
{
    (void)state;
    expect_ct_error("", "Multipart: Content-Type header not available.");
    expect_ct_error("text/plain", "Multipart: Invalid MIME type.");
    expect_ct_error("multipart/form-data",
                    "Multipart: Boundary not found in C-T.");
    expect_ct_error("multipart/form-data; BOUNDARY=XyZ",
                    "Multipart: Invalid boundary in C-T (case "
                    "sensitivity).");
    expect_ct_error("multipart/form-data; boundary=a; boundary=b",
                    "Multipart: Multiple boundary parameters in C-T.");
    expect_ct_error("multipart/form-data; charset=x; boundary=XyZ",
                    "Multipart: Invalid boundary in C-T (malformed).");
    expect_ct_error("multipart/form-data; boundary",
                    "Multipart: Invalid boundary in C-T (malformed).");
    expect_ct_error("multipart/form-data; boundaryx=XyZ",
                    "Multipart: Invalid boundary in C-T (parameter name).");
    expect_ct_error("multipart/form-data; boundary=\"XyZ",
                    "Multipart: Invalid boundary in C-T (quote).");
    expect_ct_error("multipart/form-data; boundary=XyZ\"",
                    "Multipart: Invalid boundary in C-T (quote).");
    expect_ct_error("multipart/form-data; boundary=\"\"",
                    "Multipart: Invalid boundary in C-T (empty).");
    expect_ct_error("multipart/form-data; boundary=",
                    "Multipart: Invalid boundary in C-T (empty).");
    expect_ct_error("multipart/form-data; boundary=a{b",
                    "Multipart: Invalid boundary in C-T (characters).");
    expect_ct_error("multipart/form-data; boundary=XyZ ",
                    "Multipart: Invalid boundary in C-T (characters).");
    char longct[1100];
    memset(longct, 'a', sizeof(longct) - 1);
    longct[sizeof(longct) - 1] = '\0';
    memcpy(longct, "multipart/form-data; boundary=", 30);
    expect_ct_error(longct, "Multipart: Invalid boundary in C-T (length).");

    /* A charset parameter after the boundary is tolerated. */
    struct sk_mp_result r =
        mp("multipart/form-data; boundary=XyZ; charset=utf-8", CLEAN);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nparts, 3);
    r = mp("MULTIPART/FORM-DATA;boundary=XyZ", CLEAN);
    assert_int_equal(r.error, 0);
    assert_int_equal(nflags(&r), 0);
}

static void
expect_body_error(const char *body, const char *msg)
{
    struct sk_mp_result r = mp(CT, body);
    if (!r.error || strncmp(r.error_msg, msg, strlen(msg)) != 0)
        fail_msg("body error %d \"%s\", want \"%s\"", r.error,
                 r.error_msg ? r.error_msg : "", msg);
    assert_int_equal(r.strict_error, 1);
}

static void
test_body_errors(void **state)
{
    (void)state;
    expect_body_error("just text\r\n",
                      "Multipart: No boundaries found in payload.");
    expect_body_error("--XyZ\r\n" PART_A "\r\nv\r\n",
                      "Multipart: Final boundary missing.");
    expect_body_error("--XyZ\r\nContent-Type: x\r\n\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Part missing Content-Disposition header.");
    expect_body_error("--XyZ\r\nContent-Disposition: attachment; name=a\r\n"
                      "\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Invalid Content-Disposition header.");
    expect_body_error("--XyZ\r\nContent-Disposition: form-data; name=a; "
                      "size=3\r\n\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Invalid Content-Disposition header.");
    expect_body_error("--XyZ\r\nContent-Disposition: form-data; name=a; "
                      "name=b\r\n\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Invalid Content-Disposition header.");
    expect_body_error("--XyZ\r\nContent-Disposition: form-data; "
                      "filename=x\r\n\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Content-Disposition header missing name");
    expect_body_error("--XyZ\r\nContent-Disposition: form-data; name=a; "
                      "filename*=utf-8''x.php\r\n\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Invalid Content-Disposition header.");
    expect_body_error("--XyZ\r\nContent-Disposition: form-data; name=a; "
                      "filename =\"x\"\r\n\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Invalid Content-Disposition header "
                      "(filename).");
    expect_body_error("--XyZ\r\n" PART_A PART_A "\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Duplicate part header.");
    expect_body_error("--XyZ\r\nContent-Disposition form-data\r\n\r\n"
                      "v\r\n--XyZ--\r\n",
                      "Multipart: Invalid part header (colon missing).");
    expect_body_error("--XyZ\r\n: x\r\n\r\nv\r\n--XyZ--\r\n",
                      "Multipart: Invalid part header (header name");
    expect_body_error("--XyZ\r\n--XyZ--\r\n--XyZ--\r\n", "");
    struct sk_mp_result r;
    static const char nul[] = "--XyZ\r\nX-A: \0\r\n" PART_A "\r\nv\r\n"
                              "--XyZ--\r\n";
    assert_int_equal(sk_multipart_parse(arena, sk_str_c(CT),
                                        sk_str_make(nul, sizeof(nul) - 1), 10,
                                        &r),
                     0);
    assert_int_equal(r.error, 1);
    assert_string_equal(r.error_msg, "Multipart: Nul byte in part headers.");

    /* filename* together with filename is accepted (not decoded). */
    r = mp(CT, "--XyZ\r\nContent-Disposition: form-data; name=a; "
               "filename*=UTF-8'en'%41.txt; filename=\"b.txt\"\r\n\r\nv\r\n"
               "--XyZ--\r\n");
    assert_int_equal(r.error, 0);
    assert_true(r.parts[0].is_file);
    assert_str(r.parts[0].filename, "b.txt");

    /* An empty filename makes a form field, as v3 decides. */
    r = mp(CT, "--XyZ\r\nContent-Disposition: form-data; name=a; "
               "filename=\"\"\r\n\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(r.error, 0);
    assert_false(r.parts[0].is_file);

    /* An empty body is not an error (nothing was sent). */
    r = mp(CT, "");
    assert_int_equal(r.error, 0);
    assert_int_equal(r.nparts, 0);
}

static void
test_long_lines(void **state)
{
    (void)state;
    size_t cap = 20000;
    char *body = malloc(cap);
    assert_non_null(body);
    /* A part header line of 4096 bytes or more is an error. */
    int n = snprintf(body, cap, "--XyZ\r\n" PART_A "X-Long: ");
    memset(body + n, 'h', 5000);
    n += 5000;
    n += snprintf(body + n, cap - (size_t)n, "\r\n\r\nv\r\n--XyZ--\r\n");
    struct sk_mp_result r = mp(CT, body);
    assert_int_equal(r.error, 1);
    /* A data line longer than the buffer is kept whole. */
    n = snprintf(body, cap, "--XyZ\r\n" PART_A "\r\n");
    memset(body + n, 'd', 9000);
    n += 9000;
    n += snprintf(body + n, cap - (size_t)n, "\r\n--XyZ--\r\n");
    r = mp(CT, body);
    assert_int_equal(r.error, 0);
    assert_int_equal(nflags(&r), 0);
    assert_int_equal(r.parts[0].value.len, 9000);
    /* A CR that would end a 4096-byte buffer starts the next one. */
    n = snprintf(body, cap, "--XyZ\r\n" PART_A "\r\n");
    memset(body + n, 'd', 4095);
    n += 4095;
    n += snprintf(body + n, cap - (size_t)n, "\r\n--XyZ--\r\n");
    r = mp(CT, body);
    assert_int_equal(r.error, 0);
    assert_int_equal(nflags(&r), 0);
    assert_int_equal(r.parts[0].value.len, 4095);
    free(body);
}

static void
test_max_parts(void **state)
{
    (void)state;
    struct sk_mp_result r;
    assert_int_equal(
        sk_multipart_parse(arena, sk_str_c(CT), sk_str_c(CLEAN), 2, &r),
        -SK_ELIMIT);
    assert_int_equal(r.nparts, 2);
}

static int
count_pair(void *ud, struct sk_str name, struct sk_str value)
{
    (void)name;
    (void)value;
    ++*(int *)ud;
    return 0;
}

/*
 * Every allocation of the parsers fails in turn: each call must report
 * -SK_ENOMEM (or succeed) and never crash or leak.
 */
static void
test_alloc_failures(void **state)
{
    (void)state;
    static const char head[] = "GET /?a=1&b=2 HTTP/1.1\r\nHost: h\r\n"
                               "A: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    bool done_mp = false, done_head = false, done_args = false;
    for (unsigned long n = 1; n < 400; n++) {
        struct sk_arena *a = sk_arena_new(64);
        assert_non_null(a);
        struct sk_mp_result r;
        struct sk_http_request req;
        enum sk_http_err err;
        int cnt = 0;
        sk_alloc_fail_at(n, 1);
        int rc1 = sk_multipart_parse(a, sk_str_c(CT), sk_str_c(CLEAN), 100, &r);
        sk_alloc_fail_at(0, 0);
        sk_arena_reset(a);
        sk_alloc_fail_at(n, 1);
        int rc2 = sk_http_parse_head(a, sk_str_make(head, sizeof(head) - 1),
                                     &req, &err);
        sk_alloc_fail_at(0, 0);
        sk_arena_reset(a);
        sk_alloc_fail_at(n, 1);
        int rc3 = sk_http_parse_urlencoded(a, SK_STR_LIT("a=1&b=%41&c"), '&',
                                           10, count_pair, &cnt);
        sk_alloc_fail_at(0, 0);
        sk_arena_free(a);
        assert_true(rc1 == 0 || rc1 == -SK_ENOMEM);
        assert_true(rc2 == 0 || rc2 == -SK_ENOMEM);
        assert_true(rc3 == 0 || rc3 == -SK_ENOMEM);
        if (n == 1) {
            /* Sticky failure from the first allocation: both need one. */
            assert_int_equal(rc1, -SK_ENOMEM);
            assert_int_equal(rc2, -SK_ENOMEM);
        }
        done_mp = done_mp || rc1 == 0;
        done_head = done_head || rc2 == 0;
        done_args = done_args || rc3 == 0;
        if (rc1 == 0)
            assert_int_equal(r.nparts, 3);
    }
    assert_true(done_mp && done_head && done_args);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_crs_bodies),
        cmocka_unit_test(test_flag_boundary_quoted),
        cmocka_unit_test(test_flag_boundary_whitespace),
        cmocka_unit_test(test_flag_missing_semicolon),
        cmocka_unit_test(test_flag_data_before_after),
        cmocka_unit_test(test_flag_header_folding),
        cmocka_unit_test(test_flag_lf_lines),
        cmocka_unit_test(test_flag_invalid_quoting),
        cmocka_unit_test(test_flag_invalid_part),
        cmocka_unit_test(test_flag_unmatched_boundary),
        cmocka_unit_test(test_flag_file_limit),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_max_parts),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
