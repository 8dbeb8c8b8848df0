/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte-level building blocks of the event log: CRC32C for torn-write
 * detection, SHA-256 through OpenSSL, the RFC 9162 Merkle tree (root,
 * inclusion and consistency proofs and their verifiers), and the encoding
 * of segment headers and record frames (docs/formats/evlog.md). Everything
 * here is pure: no I/O, and the decoders are fuzzed.
 */
#include "evlog/evlog.h"

/* See sk_evlog_sha256() for why the low-level API. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* ---- CRC32C ---------------------------------------------------------- */

static uint32_t crc_table[8][256];
static int crc_ready; /* 0: not yet, 1: table, 2: hardware */

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
                              crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        crc_ready = 2;
        return;
    }
#endif
    crc_ready = 1;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len-- > 0)
        c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
#endif

static uint32_t
crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                             (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
              crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return crc;
}

uint32_t
sk_evlog_crc32c(uint32_t crc, const void *p, size_t len)
{
    if (crc_ready == 0)
        crc_init();
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_ready == 2)
        return ~crc_hw(crc, p, len);
#endif
    return ~crc_sw(crc, p, len);
}

/* ---- SHA-256 --------------------------------------------------------- */

void
sk_evlog_sha256(const void *a, size_t alen, const void *b, size_t blen,
                const void *c, size_t clen, uint8_t out[SK_EVLOG_HASH_LEN])
{
    /*
     * The low-level SHA-256 functions, which OpenSSL 3 marks deprecated
     * but still ships with the same SHA-NI/AVX2 code as EVP: three hashes
     * per record (leaf, chain, Merkle node) are the hot path of append and
     * verify, and EVP's per-call setup measured ~20% of verify's CPU time.
     */
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    if (alen > 0)
        SHA256_Update(&ctx, a, alen);
    if (blen > 0)
        SHA256_Update(&ctx, b, blen);
    if (clen > 0)
        SHA256_Update(&ctx, c, clen);
    SHA256_Final(out, &ctx);
}

void
sk_evlog_leaf_hash(const void *data, size_t len, uint8_t out[SK_EVLOG_HASH_LEN])
{
    static const uint8_t zero = 0x00;
    sk_evlog_sha256(&zero, 1, data, len, NULL, 0, out);
}

void
sk_evlog_node_hash(const uint8_t l[SK_EVLOG_HASH_LEN],
                   const uint8_t r[SK_EVLOG_HASH_LEN],
                   uint8_t out[SK_EVLOG_HASH_LEN])
{
    static const uint8_t one = 0x01;
    sk_evlog_sha256(&one, 1, l, SK_EVLOG_HASH_LEN, r, SK_EVLOG_HASH_LEN, out);
}

/* ---- Merkle tree ----------------------------------------------------- */

void
sk_evlog_frontier_add(struct sk_evlog_frontier *f,
                      const uint8_t leaf[SK_EVLOG_HASH_LEN])
{
    uint8_t carry[SK_EVLOG_HASH_LEN];
    memcpy(carry, leaf, SK_EVLOG_HASH_LEN);
    unsigned i = 0;
    /* Binary increment: equal-sized perfect subtrees merge left to right. */
    while (i < 63 && (f->size >> i) & 1) {
        sk_evlog_node_hash(f->h[i], carry, carry);
        i++;
    }
    memcpy(f->h[i], carry, SK_EVLOG_HASH_LEN);
    f->size++;
}

void
sk_evlog_frontier_root(const struct sk_evlog_frontier *f,
                       uint8_t out[SK_EVLOG_HASH_LEN])
{
    if (f->size == 0) {
        sk_evlog_sha256(NULL, 0, NULL, 0, NULL, 0, out);
        return;
    }
    /*
     * RFC 9162 splits at the largest power of two below n, so the root is
     * the perfect subtrees folded from the smallest (rightmost) upwards.
     */
    bool have = false;
    uint8_t acc[SK_EVLOG_HASH_LEN];
    for (unsigned i = 0; i < 64; i++) {
        if (!((f->size >> i) & 1))
            continue;
        if (!have) {
            memcpy(acc, f->h[i], SK_EVLOG_HASH_LEN);
            have = true;
        } else {
            sk_evlog_node_hash(f->h[i], acc, acc);
        }
    }
    memcpy(out, acc, SK_EVLOG_HASH_LEN);
}

static uint64_t
split_point(uint64_t n)
{
    /* Largest power of two strictly less than n (n >= 2). */
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

void
sk_evlog_merkle_root(const uint8_t (*leaves)[SK_EVLOG_HASH_LEN], uint64_t n,
                     uint8_t out[SK_EVLOG_HASH_LEN])
{
    struct sk_evlog_frontier f;
    f.size = 0;
    for (uint64_t i = 0; i < n; i++)
        sk_evlog_frontier_add(&f, leaves[i]);
    sk_evlog_frontier_root(&f, out);
}

static int
push(uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t *plen,
     const uint8_t h[SK_EVLOG_HASH_LEN])
{
    if (*plen >= 64)
        return -SK_ELIMIT;
    memcpy(proof[*plen], h, SK_EVLOG_HASH_LEN);
    (*plen)++;
    return 0;
}

static int
path_rec(const uint8_t (*d)[SK_EVLOG_HASH_LEN], uint64_t n, uint64_t m,
         uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t *plen, unsigned depth)
{
    if (n <= 1 || depth > 64)
        return n <= 1 ? 0 : -SK_ELIMIT;
    uint64_t k = split_point(n);
    uint8_t h[SK_EVLOG_HASH_LEN];
    int rc;
    if (m < k) {
        rc = path_rec(d, k, m, proof, plen, depth + 1);
        sk_evlog_merkle_root(d + k, n - k, h);
    } else {
        rc = path_rec(d + k, n - k, m - k, proof, plen, depth + 1);
        sk_evlog_merkle_root(d, k, h);
    }
    return rc != 0 ? rc : push(proof, plen, h);
}

int
sk_evlog_merkle_inclusion(const uint8_t (*leaves)[SK_EVLOG_HASH_LEN],
                          uint64_t n, uint64_t m,
                          uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t *plen)
{
    *plen = 0;
    if (m >= n)
        return -SK_EINVAL;
    return path_rec(leaves, n, m, proof, plen, 0);
}

static int
subproof(const uint8_t (*d)[SK_EVLOG_HASH_LEN], uint64_t n, uint64_t m, bool b,
         uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t *plen, unsigned depth)
{
    uint8_t h[SK_EVLOG_HASH_LEN];
    if (depth > 64)
        return -SK_ELIMIT;
    if (m == n) {
        if (b)
            return 0;
        sk_evlog_merkle_root(d, n, h);
        return push(proof, plen, h);
    }
    uint64_t k = split_point(n);
    int rc;
    if (m <= k) {
        rc = subproof(d, k, m, b, proof, plen, depth + 1);
        sk_evlog_merkle_root(d + k, n - k, h);
    } else {
        rc = subproof(d + k, n - k, m - k, false, proof, plen, depth + 1);
        sk_evlog_merkle_root(d, k, h);
    }
    return rc != 0 ? rc : push(proof, plen, h);
}

int
sk_evlog_merkle_consistency(const uint8_t (*leaves)[SK_EVLOG_HASH_LEN],
                            uint64_t n, uint64_t m,
                            uint8_t (*proof)[SK_EVLOG_HASH_LEN], size_t *plen)
{
    *plen = 0;
    if (m == 0 || m > n)
        return -SK_EINVAL;
    if (m == n)
        return 0;
    return subproof(leaves, n, m, true, proof, plen, 0);
}

int
sk_evlog_merkle_verify_inclusion(const uint8_t leaf[SK_EVLOG_HASH_LEN],
                                 uint64_t index, uint64_t size,
                                 const uint8_t (*proof)[SK_EVLOG_HASH_LEN],
                                 size_t plen,
                                 const uint8_t root[SK_EVLOG_HASH_LEN])
{
    if (index >= size)
        return -SK_ECORRUPT;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[SK_EVLOG_HASH_LEN];
    memcpy(r, leaf, SK_EVLOG_HASH_LEN);
    for (size_t i = 0; i < plen; i++) {
        if (sn == 0)
            return -SK_ECORRUPT;
        if ((fn & 1) || fn == sn) {
            sk_evlog_node_hash(proof[i], r, r);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            sk_evlog_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(r, root, SK_EVLOG_HASH_LEN) != 0)
        return -SK_ECORRUPT;
    return 0;
}

int
sk_evlog_merkle_verify_consistency(uint64_t size1, uint64_t size2,
                                   const uint8_t root1[SK_EVLOG_HASH_LEN],
                                   const uint8_t root2[SK_EVLOG_HASH_LEN],
                                   const uint8_t (*proof)[SK_EVLOG_HASH_LEN],
                                   size_t plen)
{
    if (size1 == 0 || size1 > size2)
        return -SK_ECORRUPT;
    if (size1 == size2)
        return (plen == 0 && memcmp(root1, root2, SK_EVLOG_HASH_LEN) == 0)
                   ? 0
                   : -SK_ECORRUPT;
    if (plen == 0)
        return -SK_ECORRUPT;
    /* RFC 9162 2.1.4.2: prepend first_hash when size1 is a power of 2. */
    uint8_t path[65][SK_EVLOG_HASH_LEN];
    size_t n = 0;
    if ((size1 & (size1 - 1)) == 0)
        memcpy(path[n++], root1, SK_EVLOG_HASH_LEN);
    if (plen > 64)
        return -SK_ECORRUPT;
    for (size_t i = 0; i < plen; i++)
        memcpy(path[n++], proof[i], SK_EVLOG_HASH_LEN);
    uint64_t fn = size1 - 1, sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[SK_EVLOG_HASH_LEN], sr[SK_EVLOG_HASH_LEN];
    memcpy(fr, path[0], SK_EVLOG_HASH_LEN);
    memcpy(sr, path[0], SK_EVLOG_HASH_LEN);
    for (size_t i = 1; i < n; i++) {
        if (sn == 0)
            return -SK_ECORRUPT;
        if ((fn & 1) || fn == sn) {
            sk_evlog_node_hash(path[i], fr, fr);
            sk_evlog_node_hash(path[i], sr, sr);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            sk_evlog_node_hash(sr, path[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(fr, root1, SK_EVLOG_HASH_LEN) != 0 ||
        memcmp(sr, root2, SK_EVLOG_HASH_LEN) != 0)
        return -SK_ECORRUPT;
    return 0;
}

/* ---- segment headers and record frames ------------------------------- */

static const uint8_t seg_magic[8] = {'S', 'K', 'E', 'V', 'S', 'E', 'G', '1'};

static void
put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

void
sk_evlog_seg_header_encode(const struct sk_evlog_seg_header *h,
                           uint8_t out[SK_EVLOG_SEG_HEADER])
{
    memset(out, 0, SK_EVLOG_SEG_HEADER);
    memcpy(out, seg_magic, 8);
    put64(out + 8, h->first_seq);
    put64(out + 16, h->created_ns);
    memcpy(out + 24, h->prev_chain, SK_EVLOG_HASH_LEN);
    put32(out + 60, sk_evlog_crc32c(0, out, 60));
}

int
sk_evlog_seg_header_decode(const uint8_t *p, size_t len,
                           struct sk_evlog_seg_header *h)
{
    if (len < SK_EVLOG_SEG_HEADER)
        return -SK_EAGAIN;
    if (memcmp(p, seg_magic, 8) != 0 ||
        get32(p + 60) != sk_evlog_crc32c(0, p, 60) || get32(p + 56) != 0)
        return -SK_ECORRUPT;
    h->first_seq = get64(p + 8);
    h->created_ns = get64(p + 16);
    memcpy(h->prev_chain, p + 24, SK_EVLOG_HASH_LEN);
    if (h->first_seq == 0)
        return -SK_ECORRUPT;
    return 0;
}

static bool
name_ok(struct sk_str s)
{
    if (s.len == 0 || s.len > SK_EVLOG_MAX_NAME)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}

/*
 * Frame: u32 payload length, u32 CRC32C of the payload, payload. Payload:
 * u64 seq, u64 ts_ns, u8 slen, source, u8 tlen, type, u32 blen, body,
 * 32-byte chain hash. The Merkle leaf is the payload without the chain.
 * All integers little-endian.
 */
int
sk_evlog_record_encode(struct sk_evlog_record *rec,
                       const uint8_t prev_chain[SK_EVLOG_HASH_LEN],
                       struct sk_buf *out)
{
    if (!name_ok(rec->source) || !name_ok(rec->type) ||
        rec->body.len > SK_EVLOG_MAX_BODY || rec->seq == 0)
        return -SK_EINVAL;
    size_t entry =
        8 + 8 + 1 + rec->source.len + 1 + rec->type.len + 4 + rec->body.len;
    size_t payload = entry + SK_EVLOG_HASH_LEN;
    int rc = sk_buf_reserve(out, 8 + payload);
    if (rc != 0)
        return rc;
    uint8_t *f = out->p + out->len;
    uint8_t *p = f + 8;
    put64(p, rec->seq);
    put64(p + 8, rec->ts_ns);
    size_t o = 16;
    p[o++] = (uint8_t)rec->source.len;
    memcpy(p + o, rec->source.p, rec->source.len);
    o += rec->source.len;
    p[o++] = (uint8_t)rec->type.len;
    memcpy(p + o, rec->type.p, rec->type.len);
    o += rec->type.len;
    put32(p + o, (uint32_t)rec->body.len);
    o += 4;
    if (rec->body.len > 0)
        memcpy(p + o, rec->body.p, rec->body.len);
    o += rec->body.len;
    sk_evlog_leaf_hash(p, entry, rec->leaf);
    sk_evlog_sha256(prev_chain, SK_EVLOG_HASH_LEN, rec->leaf, SK_EVLOG_HASH_LEN,
                    NULL, 0, rec->chain);
    memcpy(p + o, rec->chain, SK_EVLOG_HASH_LEN);
    put32(f, (uint32_t)payload);
    put32(f + 4, sk_evlog_crc32c(0, p, payload));
    out->len += 8 + payload;
    return 0;
}

int
sk_evlog_record_decode(const uint8_t *p, size_t len,
                       struct sk_evlog_record *rec, size_t *used)
{
    if (len < 8)
        return -SK_EAGAIN;
    uint32_t payload = get32(p);
    const size_t min = 8 + 8 + 1 + 1 + 1 + 1 + 4 + SK_EVLOG_HASH_LEN;
    const size_t max = 8 + 8 + 1 + SK_EVLOG_MAX_NAME + 1 + SK_EVLOG_MAX_NAME +
                       4 + SK_EVLOG_MAX_BODY + SK_EVLOG_HASH_LEN;
    if (payload < min || payload > max)
        return -SK_ECORRUPT;
    if (len - 8 < payload)
        return -SK_EAGAIN;
    const uint8_t *q = p + 8;
    if (get32(p + 4) != sk_evlog_crc32c(0, q, payload))
        return -SK_ECORRUPT;
    rec->seq = get64(q);
    rec->ts_ns = get64(q + 8);
    size_t o = 16;
    size_t slen = q[o++];
    if (o + slen + 1 > payload)
        return -SK_ECORRUPT;
    rec->source = sk_str_make(q + o, slen);
    o += slen;
    size_t tlen = q[o++];
    if (o + tlen + 4 > payload)
        return -SK_ECORRUPT;
    rec->type = sk_str_make(q + o, tlen);
    o += tlen;
    size_t blen = get32(q + o);
    o += 4;
    if (blen > SK_EVLOG_MAX_BODY || o + blen + SK_EVLOG_HASH_LEN != payload)
        return -SK_ECORRUPT;
    rec->body = sk_str_make(q + o, blen);
    o += blen;
    if (!name_ok(rec->source) || !name_ok(rec->type) || rec->seq == 0)
        return -SK_ECORRUPT;
    memcpy(rec->chain, q + o, SK_EVLOG_HASH_LEN);
    sk_evlog_leaf_hash(q, o, rec->leaf);
    *used = 8 + (size_t)payload;
    return 0;
}
