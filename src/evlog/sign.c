/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ed25519 keys (OpenSSL 3) and the two signed statements of the event log:
 * checkpoints (a Merkle root over the first N records) and anchors (the
 * state left behind when old segments are pruned). Both are single text
 * lines so that they can be copied to syslog and compared by eye; their
 * grammar is in docs/formats/evlog.md.
 */
#include "evlog/evlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* OpenSSL's pre-1.1 compatibility macros take the name sk_free. */
#undef sk_free
#include "util/alloc.h"
#include "util/error.h"

struct sk_evlog_key {
    EVP_PKEY *pkey;
    bool priv;
    char id[17];
};

static void
hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
unhex(struct sk_str s, uint8_t *out, size_t n)
{
    if (s.len != 2 * n)
        return -SK_EPARSE;
    for (size_t i = 0; i < 2 * n; i++) {
        uint8_t c = s.p[i], v;
        if (c >= '0' && c <= '9')
            v = (uint8_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = (uint8_t)(c - 'a' + 10);
        else
            return -SK_EPARSE;
        if (i & 1)
            out[i / 2] = (uint8_t)(out[i / 2] << 4 | v);
        else
            out[i / 2] = v;
    }
    return 0;
}

static int
key_fill_id(struct sk_evlog_key *k)
{
    uint8_t raw[32], h[SK_EVLOG_HASH_LEN];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) != 1 || len != 32)
        return -SK_EINVAL;
    sk_evlog_sha256(raw, len, NULL, 0, NULL, 0, h);
    hex(h, 8, k->id);
    return 0;
}

int
sk_evlog_keygen(const char *path)
{
    char pub[4096];
    if (snprintf(pub, sizeof(pub), "%s.pub", path) >= (int)sizeof(pub))
        return -SK_ELIMIT;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pkey == NULL)
        return -SK_ENOMEM;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        EVP_PKEY_free(pkey);
        return errno == EEXIST ? -SK_EEXIST : -SK_EIO;
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(path);
        EVP_PKEY_free(pkey);
        return -SK_EIO;
    }
    int ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        unlink(path);
        EVP_PKEY_free(pkey);
        return -SK_EIO;
    }
    struct sk_evlog_key k = {.pkey = pkey, .priv = true};
    int rc = key_fill_id(&k);
    if (rc == 0)
        rc = sk_evlog_key_save_public(&k, pub);
    EVP_PKEY_free(pkey);
    return rc;
}

int
sk_evlog_key_save_public(const struct sk_evlog_key *k, const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -SK_ELIMIT;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -SK_EIO;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return -SK_EIO;
    }
    int ok = PEM_write_PUBKEY(f, k->pkey) == 1;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) == -1) {
        unlink(tmp);
        return -SK_EIO;
    }
    return 0;
}

int
sk_evlog_key_load(const char *path, bool priv, struct sk_evlog_key **out)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? -SK_ENOENT : -SK_EIO;
    if (priv) {
        /* The private key must be ours (or root's) and private. */
        struct stat st;
        if (fstat(fileno(f), &st) == -1 || (st.st_mode & 077) != 0 ||
            (st.st_uid != geteuid() && st.st_uid != 0)) {
            fclose(f);
            return -SK_EINVAL;
        }
    }
    EVP_PKEY *pkey = priv ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
                          : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (pkey == NULL)
        return -SK_EPARSE;
    if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        EVP_PKEY_free(pkey);
        return -SK_ENOTSUP;
    }
    struct sk_evlog_key *k = sk_calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return -SK_ENOMEM;
    }
    k->pkey = pkey;
    k->priv = priv;
    int rc = key_fill_id(k);
    if (rc != 0) {
        sk_evlog_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void
sk_evlog_key_free(struct sk_evlog_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    sk_free(k);
}

const char *
sk_evlog_key_id(const struct sk_evlog_key *k)
{
    return k->id;
}

static int
sign_line(const struct sk_evlog_key *k, struct sk_buf *out, size_t start)
{
    if (!k->priv)
        return -SK_EINVAL;
    uint8_t sig[64];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -SK_ENOMEM;
    int ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, out->p + start,
                            out->len - start) == 1 &&
             siglen == 64;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -SK_EIO;
    char sh[129];
    hex(sig, 64, sh);
    return sk_buf_printf(out, " %s\n", sh);
}

static int
verify_sig(const struct sk_evlog_key *k, struct sk_str msg, struct sk_str sh)
{
    uint8_t sig[64];
    if (unhex(sh, sig, 64) != 0)
        return -SK_EPARSE;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -SK_ENOMEM;
    int ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, 64, msg.p, msg.len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -SK_ECORRUPT;
}

/* Splits a line at single spaces into at most max fields. */
static size_t
fields(struct sk_str line, struct sk_str *f, size_t max)
{
    if (line.len > 0 && line.p[line.len - 1] == '\n')
        line.len--;
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= line.len; i++) {
        if (i < line.len && line.p[i] != ' ')
            continue;
        if (n == max)
            return max + 1;
        f[n++] = sk_str_make(line.p + start, i - start);
        start = i + 1;
    }
    return n;
}

static int
num(struct sk_str s, uint64_t *v)
{
    if (s.len > 1 && s.p[0] == '0')
        return -SK_EPARSE;
    return sk_str_to_u64(s, v);
}

int
sk_evlog_checkpoint_format(const struct sk_evlog_checkpoint *cp,
                           const struct sk_evlog_key *k, struct sk_buf *out)
{
    char root[65], chain[65];
    hex(cp->root, 32, root);
    hex(cp->chain, 32, chain);
    size_t start = out->len;
    int rc = sk_buf_printf(out, "SKCP1 %" PRIu64 " %" PRIu64 " %s %s %s",
                           cp->size, cp->ts_ns, root, chain, k->id);
    if (rc == 0)
        rc = sign_line(k, out, start);
    if (rc != 0)
        out->len = start;
    return rc;
}

int
sk_evlog_checkpoint_parse(struct sk_str line, const struct sk_evlog_key *k,
                          struct sk_evlog_checkpoint *cp)
{
    struct sk_str f[7];
    if (fields(line, f, 7) != 7 || !sk_str_eq_c(f[0], "SKCP1"))
        return -SK_EPARSE;
    if (num(f[1], &cp->size) != 0 || num(f[2], &cp->ts_ns) != 0 ||
        unhex(f[3], cp->root, 32) != 0 || unhex(f[4], cp->chain, 32) != 0 ||
        f[5].len != 16)
        return -SK_EPARSE;
    uint8_t id[8];
    if (unhex(f[5], id, 8) != 0)
        return -SK_EPARSE;
    memcpy(cp->key_id, f[5].p, 16);
    cp->key_id[16] = '\0';
    if (k == NULL)
        return 0;
    if (strcmp(cp->key_id, k->id) != 0)
        return -SK_ECORRUPT;
    return verify_sig(k, sk_str_make(line.p, (size_t)(f[6].p - line.p - 1)),
                      f[6]);
}

int
sk_evlog_anchor_format(const struct sk_evlog_anchor *a,
                       const struct sk_evlog_key *k, struct sk_buf *out)
{
    char h[65];
    size_t start = out->len;
    hex(a->chain, 32, h);
    int rc = sk_buf_printf(out, "SKANCHOR1 %" PRIu64 " %" PRIu64 " %s ",
                           a->next_seq, a->ts_ns, h);
    bool first = true;
    for (int i = 63; rc == 0 && i >= 0; i--) {
        if (!((a->frontier.size >> i) & 1))
            continue;
        hex(a->frontier.h[i], 32, h);
        rc = sk_buf_printf(out, "%s%s", first ? "" : ",", h);
        first = false;
    }
    if (rc == 0 && first)
        rc = sk_buf_append_c(out, "-");
    if (rc == 0)
        rc = sk_buf_printf(out, " %s", k->id);
    if (rc == 0)
        rc = sign_line(k, out, start);
    if (rc != 0)
        out->len = start;
    return rc;
}

int
sk_evlog_anchor_parse(struct sk_str line, const struct sk_evlog_key *k,
                      struct sk_evlog_anchor *a)
{
    struct sk_str f[7];
    if (fields(line, f, 7) != 7 || !sk_str_eq_c(f[0], "SKANCHOR1"))
        return -SK_EPARSE;
    if (num(f[1], &a->next_seq) != 0 || a->next_seq < 2 ||
        num(f[2], &a->ts_ns) != 0 || unhex(f[3], a->chain, 32) != 0 ||
        f[5].len != 16)
        return -SK_EPARSE;
    memset(&a->frontier, 0, sizeof(a->frontier));
    a->frontier.size = a->next_seq - 1;
    /* One hash per set bit of the size, largest subtree first. */
    struct sk_str hs = f[4];
    size_t off = 0;
    for (int i = 63; i >= 0; i--) {
        if (!((a->frontier.size >> i) & 1))
            continue;
        if (off + 64 > hs.len ||
            unhex(sk_str_make(hs.p + off, 64), a->frontier.h[i], 32) != 0)
            return -SK_EPARSE;
        off += 64;
        if (off < hs.len) {
            if (hs.p[off] != ',')
                return -SK_EPARSE;
            off++;
        }
    }
    if (off != hs.len || (hs.len > 0 && hs.p[hs.len - 1] == ','))
        return -SK_EPARSE;
    uint8_t id[8];
    if (unhex(f[5], id, 8) != 0)
        return -SK_EPARSE;
    memcpy(a->key_id, f[5].p, 16);
    a->key_id[16] = '\0';
    if (k == NULL)
        return 0;
    if (strcmp(a->key_id, k->id) != 0)
        return -SK_ECORRUPT;
    return verify_sig(k, sk_str_make(line.p, (size_t)(f[6].p - line.p - 1)),
                      f[6]);
}
