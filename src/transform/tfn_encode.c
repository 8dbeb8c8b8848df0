/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The encoding transformations and the ones that replace a value by a
 * fixed-size summary: urlEncode, hexEncode, base64Encode, utf8toUnicode,
 * length, md5 and sha1. The digests are raw binary, as in ModSecurity
 * (rules compare them after t:hexEncode), computed with OpenSSL 3.
 */
#include <pthread.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "transform/tfn_internal.h"

static const char hexdig[] = "0123456789abcdef";

int
sk__tfn_url_encode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                   bool *changed)
{
    size_t cap;
    if (tfn_cap(in.len, 3, 0, &cap) != 0)
        return -SK_ELIMIT;
    struct tw w;
    tw_init(&w, a, in, cap);
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.p[i];
        if (c == ' ') {
            tw_put(&w, '+');
        } else if (c == '*' || c_isalnum(c)) {
            tw_put(&w, c);
        } else {
            tw_put(&w, '%');
            tw_put(&w, (uint8_t)hexdig[c >> 4]);
            tw_put(&w, (uint8_t)hexdig[c & 0x0f]);
        }
    }
    return tw_finish(&w, out, changed);
}

int
sk__tfn_hex_encode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                   bool *changed)
{
    size_t cap;
    if (tfn_cap(in.len, 2, 0, &cap) != 0)
        return -SK_ELIMIT;
    struct tw w;
    tw_init(&w, a, in, cap);
    for (size_t i = 0; i < in.len; i++) {
        tw_put(&w, (uint8_t)hexdig[in.p[i] >> 4]);
        tw_put(&w, (uint8_t)hexdig[in.p[i] & 0x0f]);
    }
    return tw_finish(&w, out, changed);
}

int
sk__tfn_base64_encode(struct sk_arena *a, struct sk_str in, struct sk_str *out,
                      bool *changed)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t cap;
    if (tfn_cap(in.len / 3 + 1, 4, 0, &cap) != 0)
        return -SK_ELIMIT;
    struct tw w;
    tw_init(&w, a, in, cap);
    size_t i = 0;
    for (; i + 2 < in.len; i += 3) {
        uint32_t v =
            (uint32_t)in.p[i] << 16 | (uint32_t)in.p[i + 1] << 8 | in.p[i + 2];
        tw_put(&w, (uint8_t)alphabet[v >> 18]);
        tw_put(&w, (uint8_t)alphabet[(v >> 12) & 63]);
        tw_put(&w, (uint8_t)alphabet[(v >> 6) & 63]);
        tw_put(&w, (uint8_t)alphabet[v & 63]);
    }
    if (i < in.len) {
        uint32_t v = (uint32_t)in.p[i] << 16;
        if (i + 1 < in.len)
            v |= (uint32_t)in.p[i + 1] << 8;
        tw_put(&w, (uint8_t)alphabet[v >> 18]);
        tw_put(&w, (uint8_t)alphabet[(v >> 12) & 63]);
        tw_put(&w, i + 1 < in.len ? (uint8_t)alphabet[(v >> 6) & 63] : '=');
        tw_put(&w, '=');
    }
    return tw_finish(&w, out, changed);
}

/* utf8toUnicode ------------------------------------------------------- */

/* "%u" and the code point in lowercase hex, at least four digits. */
static void
put_unicode(struct tw *w, uint32_t cp)
{
    char hex[8];
    int n = 0;
    do {
        hex[n++] = hexdig[cp & 0x0f];
        cp >>= 4;
    } while (cp != 0 && n < (int)sizeof(hex));
    tw_put(w, '%');
    tw_put(w, 'u');
    for (int k = n; k < 4; k++)
        tw_put(w, '0');
    while (n > 0)
        tw_put(w, (uint8_t)hex[--n]);
}

static bool
is_cont(const uint8_t *p, size_t n, size_t i)
{
    return i < n && (p[i] & 0xc0) == 0x80;
}

int
sk__tfn_utf8_to_unicode(struct sk_arena *a, struct sk_str in,
                        struct sk_str *out, bool *changed)
{
    /*
     * Every well-formed-looking 2-4 byte sequence becomes %uHHHH (no
     * range checks beyond ModSecurity's: after an overlong form or a
     * surrogate the lead byte is appended once more, and a 4-byte lead
     * byte F5-F7 is written before the escape). A lead byte whose
     * continuation bytes are missing or wrong is dropped; stray
     * continuation bytes and F8-FF are copied; NUL bytes are dropped
     * (ModSecurity v2 returns a C string).
     */
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0, cap;
    if (tfn_cap(n, 4, 0, &cap) != 0)
        return -SK_ELIMIT;
    if (!sk__tfn_slow_only) {
        /* Only bytes 80-FF and NUL are acted on. */
        unsigned odd = 0;
        for (size_t k = 0; k < in.len; k++)
            odd |= (unsigned)(in.p[k] >= 0x80 || in.p[k] == 0);
        if (odd == 0)
            return tfn_same(in, out, changed);
    }
    struct tw w;
    tw_init(&w, a, in, cap);
    while (i < n) {
        uint8_t c = p[i];
        size_t seq = 0; /* length of a converted sequence, else 0 */
        uint32_t cp = 0;
        if (c < 0x80) {
            if (c != 0)
                tw_put(&w, c);
        } else if ((c & 0xe0) == 0xc0) {
            if (is_cont(p, n, i + 1)) {
                seq = 2;
                cp = (uint32_t)(c & 0x1f) << 6 | (p[i + 1] & 0x3fu);
            }
        } else if ((c & 0xf0) == 0xe0) {
            if (is_cont(p, n, i + 1) && is_cont(p, n, i + 2)) {
                seq = 3;
                cp = (uint32_t)(c & 0x0f) << 12 |
                     (uint32_t)(p[i + 1] & 0x3f) << 6 | (p[i + 2] & 0x3fu);
            }
        } else if ((c & 0xf8) == 0xf0) {
            if (c >= 0xf5)
                tw_put(&w, c);
            if (is_cont(p, n, i + 1) && is_cont(p, n, i + 2) &&
                is_cont(p, n, i + 3)) {
                seq = 4;
                cp = (uint32_t)(c & 0x07) << 18 |
                     (uint32_t)(p[i + 1] & 0x3f) << 12 |
                     (uint32_t)(p[i + 2] & 0x3f) << 6 | (p[i + 3] & 0x3fu);
            }
        } else {
            tw_put(&w, c);
        }
        if (seq != 0)
            put_unicode(&w, cp);
        if (cp >= 0xd800 && cp <= 0xdfff)
            tw_put(&w, c);
        if ((seq == 4 && cp < 0x10000) || (seq == 3 && cp < 0x800) ||
            (seq == 2 && cp < 0x80))
            tw_put(&w, c);
        i += seq != 0 ? seq : 1;
    }
    return tw_finish(&w, out, changed);
}

/* length, md5, sha1 ----------------------------------------------------- */

int
sk__tfn_length(struct sk_arena *a, struct sk_str in, struct sk_str *out,
               bool *changed)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%zu", in.len);
    if (n < 0 || (size_t)n >= sizeof(num))
        return -SK_EINVAL;
    return sk__tfn_result(a, in, (const uint8_t *)num, (size_t)n, out, changed);
}

static int
digest(struct sk_arena *a, struct sk_str in, struct sk_str *out, bool *changed,
       const EVP_MD *md)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    /* EVP_Digest() wants a valid pointer even for empty input. */
    const void *data = in.p != NULL ? (const void *)in.p : (const void *)"";
    if (md == NULL || EVP_Digest(data, in.len, d, &dlen, md, NULL) != 1)
        return -SK_ENOTSUP;
    return sk__tfn_result(a, in, d, dlen, out, changed);
}

/*
 * The digests fetched from OpenSSL's provider once per process: passing
 * EVP_md5()/EVP_sha1() makes every EVP_Digest() fetch the implementation
 * again (about 30,000 instructions per call, more than the digest of a
 * User-Agent). They live as long as the process; NULL when the fetch
 * failed (then the legacy objects are used, as before).
 */
static EVP_MD *md5_md, *sha1_md;
static pthread_once_t mds_once = PTHREAD_ONCE_INIT;

static void
mds_fetch(void)
{
    md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

int
sk__tfn_md5(struct sk_arena *a, struct sk_str in, struct sk_str *out,
            bool *changed)
{
    pthread_once(&mds_once, mds_fetch);
    return digest(a, in, out, changed, md5_md ? md5_md : EVP_md5());
}

int
sk__tfn_sha1(struct sk_arena *a, struct sk_str in, struct sk_str *out,
             bool *changed)
{
    pthread_once(&mds_once, mds_fetch);
    return digest(a, in, out, changed, sha1_md ? sha1_md : EVP_sha1());
}
