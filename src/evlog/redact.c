/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redaction of record bodies on the way into the event log. Card data must
 * never reach our disk (PCI DSS 3.2/3.3): sk_evlog_redact_json() is the one
 * function through which every body passes before it is encoded, and it
 * masks Luhn-valid card numbers, the values of security-code and password
 * fields, and password parameters inside URL-encoded strings.
 */
#include "evlog/evlog.h"

#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

static const char redacted[] = "[REDACTED]";

static bool
is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool
luhn_ok(const uint8_t *digits, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = digits[n - 1 - i];
        if (i & 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

static size_t
scan_cards(uint8_t *s, size_t len, bool apply)
{
    size_t masked = 0;
    size_t i = 0;
    while (i < len) {
        if (!is_digit(s[i]) || (i > 0 && is_digit(s[i - 1]))) {
            i++;
            continue;
        }
        /*
         * A run: digits, with at most one space or dash (or '+', a URL-encoded
         * space) between two digits.
         * Only runs of 13 to 19 digits are card candidates; we record the
         * first 20 digit positions to know the count without a bound on
         * the run's length.
         */
        size_t pos[20];
        uint8_t dig[20];
        size_t n = 0, j = i;
        while (j < len) {
            if (is_digit(s[j])) {
                if (n < 20) {
                    pos[n] = j;
                    dig[n] = (uint8_t)(s[j] - '0');
                }
                n++;
                j++;
            } else if ((s[j] == ' ' || s[j] == '-' || s[j] == '+') &&
                       j + 1 < len && is_digit(s[j + 1])) {
                j++;
            } else {
                break;
            }
        }
        if (n >= 13 && n <= 19 && luhn_ok(dig, n)) {
            for (size_t k = 0; apply && k + 4 < n; k++)
                s[pos[k]] = '*';
            masked++;
        }
        i = j;
    }
    return masked;
}

size_t
sk_evlog_mask_cards(uint8_t *s, size_t len)
{
    return scan_cards(s, len, true);
}

/* Lower-cases, maps '-' to '_', and splits into alphanumeric tokens. */
bool
sk_evlog_sensitive_key(struct sk_str key)
{
    static const char *const contains[] = {
        "password",      "passwd",       "passphrase", "cvv",      "cvc",
        "security_code", "securitycode", "card_code",  "cardcode",
    };
    static const char *const tokens[] = {"pass", "pwd", "csc", "pin"};
    char norm[128];
    size_t n = key.len < sizeof(norm) - 1 ? key.len : sizeof(norm) - 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = sk_ascii_lower(key.p[i]);
        norm[i] = c == '-' ? '_' : (char)c;
    }
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof(contains) / sizeof(contains[0]); i++)
        if (strstr(norm, contains[i]) != NULL)
            return true;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        bool alnum = i < n && ((norm[i] >= 'a' && norm[i] <= 'z') ||
                               (norm[i] >= '0' && norm[i] <= '9'));
        if (alnum)
            continue;
        size_t tl = i - start;
        for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++)
            if (tl == strlen(tokens[t]) &&
                memcmp(norm + start, tokens[t], tl) == 0)
                return true;
        start = i + 1;
    }
    return false;
}

/*
 * Masks the values of sensitive parameters inside URL-encoded text
 * ("user=a&password=x&cvv=123"): every byte of the value becomes '*'.
 */
static void
mask_params(uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] != '=' && s[i] != '&' && s[i] != ';' &&
               s[i] != '?' && s[i] != ' ' && s[i] != '\n')
            i++;
        if (i >= len)
            return;
        if (s[i] != '=') {
            i++;
            continue;
        }
        bool secret = sk_evlog_sensitive_key(sk_str_make(s + start, i - start));
        i++;
        while (i < len && s[i] != '&' && s[i] != ';' && s[i] != ' ' &&
               s[i] != '\n') {
            if (secret)
                s[i] = '*';
            i++;
        }
    }
}

/* ---- the fast path ---------------------------------------------------- */

/*
 * Most bodies hold no secret at all. For those, parsing with jansson and
 * dumping again costs more than everything else an append does, so a
 * strict validator checks whether the input already is exactly what the
 * slow path would store: a JSON object in jansson's compact form (no
 * insignificant whitespace, no escapes, integers only, no duplicate keys)
 * holding nothing to redact. The fuzzer checks that both paths agree.
 */
#define FAST_DEPTH 16
#define FAST_KEYS 64

struct fast {
    const uint8_t *p;
    size_t len, i;
};

static bool fast_value(struct fast *f, unsigned depth);

static bool
fast_string(struct fast *f, struct sk_str *out)
{
    if (f->i >= f->len || f->p[f->i] != '"')
        return false;
    size_t start = ++f->i;
    while (f->i < f->len) {
        uint8_t c = f->p[f->i];
        if (c == '"') {
            if (out != NULL)
                *out = sk_str_make(f->p + start, f->i - start);
            f->i++;
            return true;
        }
        if (c == '\\' || c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            f->i++;
            continue;
        }
        /* UTF-8 as jansson accepts it: no overlongs, surrogates, > 10FFFF. */
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (f->len - f->i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            uint8_t cc = f->p[f->i + k];
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (cc & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        f->i += n;
    }
    return false;
}

static bool
fast_int(struct fast *f)
{
    bool neg = false;
    if (f->i < f->len && f->p[f->i] == '-') {
        neg = true;
        f->i++;
    }
    size_t start = f->i;
    while (f->i < f->len && f->p[f->i] >= '0' && f->p[f->i] <= '9')
        f->i++;
    size_t n = f->i - start;
    if (n == 0 || (n > 1 && f->p[start] == '0') ||
        (neg && n == 1 && f->p[start] == '0'))
        return false;
    /* Reals are reformatted by jansson: the slow path handles them. */
    if (f->i < f->len &&
        (f->p[f->i] == '.' || f->p[f->i] == 'e' || f->p[f->i] == 'E'))
        return false;
    /* Within int64 (jansson refuses larger): 18 digits always are. */
    if (n > 19)
        return false;
    if (n == 19) {
        const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
        if (memcmp(f->p + start, lim, 19) > 0)
            return false;
    }
    return true;
}

static bool
fast_lit(struct fast *f, const char *lit)
{
    size_t n = strlen(lit);
    if (f->len - f->i < n || memcmp(f->p + f->i, lit, n) != 0)
        return false;
    f->i += n;
    return true;
}

static bool
fast_object(struct fast *f, unsigned depth)
{
    struct sk_str keys[FAST_KEYS];
    size_t nkeys = 0;
    f->i++; /* '{' */
    if (f->i < f->len && f->p[f->i] == '}') {
        f->i++;
        return true;
    }
    for (;;) {
        struct sk_str k;
        if (nkeys == FAST_KEYS || !fast_string(f, &k))
            return false;
        for (size_t j = 0; j < nkeys; j++)
            if (sk_str_eq(keys[j], k))
                return false;
        keys[nkeys++] = k;
        if (f->i >= f->len || f->p[f->i++] != ':' || !fast_value(f, depth))
            return false;
        if (f->i >= f->len)
            return false;
        uint8_t c = f->p[f->i++];
        if (c == '}')
            return true;
        if (c != ',')
            return false;
    }
}

static bool
fast_value(struct fast *f, unsigned depth)
{
    if (f->i >= f->len || depth >= FAST_DEPTH)
        return false;
    switch (f->p[f->i]) {
    case '{':
        return fast_object(f, depth + 1);
    case '[':
        f->i++;
        if (f->i < f->len && f->p[f->i] == ']') {
            f->i++;
            return true;
        }
        for (;;) {
            if (!fast_value(f, depth + 1) || f->i >= f->len)
                return false;
            uint8_t c = f->p[f->i++];
            if (c == ']')
                return true;
            if (c != ',')
                return false;
        }
    case '"':
        return fast_string(f, NULL);
    case 't':
        return fast_lit(f, "true");
    case 'f':
        return fast_lit(f, "false");
    case 'n':
        return fast_lit(f, "null");
    default:
        return fast_int(f);
    }
}

/* in[i..] starts with the lower-case word w (ASCII case-insensitive). */
static bool
starts(struct sk_str in, size_t i, const char *w, size_t n)
{
    if (in.len - i < n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (sk_ascii_lower(in.p[i + k]) != (uint8_t)w[k])
            return false;
    return true;
}

/*
 * Could the body name a secret? Conservative: any hint of one of the
 * sensitive key names of sk_evlog_sensitive_key() sends it the slow way.
 */
static bool
hints_secret(struct sk_str in)
{
    for (size_t i = 0; i < in.len; i++) {
        switch (sk_ascii_lower(in.p[i])) {
        case 'p':
            if (starts(in, i, "pass", 4) || starts(in, i, "pwd", 3))
                return true;
            /* "pin" only as a whole token ("shopping" is no secret). */
            if (starts(in, i, "pin", 3) && !(i > 0 && isalnum(in.p[i - 1])) &&
                !(i + 3 < in.len && isalnum(in.p[i + 3])))
                return true;
            break;
        case 'c':
            if (starts(in, i, "cvv", 3) || starts(in, i, "cvc", 3) ||
                starts(in, i, "csc", 3) || starts(in, i, "card", 4))
                return true;
            break;
        case 's':
            if (starts(in, i, "secur", 5))
                return true;
            break;
        default:
            break;
        }
    }
    return false;
}

/* True if `in` can be stored as it is (see above). */
bool
sk__evlog_redact_fast(struct sk_str in)
{
    if (in.len < 2 || in.p[0] != '{')
        return false;
    struct fast f = {.p = in.p, .len = in.len, .i = 0};
    if (!fast_object(&f, 0) || f.i != in.len)
        return false;
    if (hints_secret(in))
        return false;
    return scan_cards((uint8_t *)(uintptr_t)in.p, in.len, false) == 0;
}

static int walk(json_t *v, unsigned depth, json_t **out);

static json_t *
masked_string(const char *p, size_t len)
{
    uint8_t *copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, p, len);
    /*
     * Parameters first: masking a value can split a long digit run and
     * leave a shorter, Luhn-valid one behind, which the card pass then
     * catches. (Found by the fuzzer.)
     */
    mask_params(copy, len);
    sk_evlog_mask_cards(copy, len);
    json_t *s = json_stringn_nocheck((const char *)copy, len);
    free(copy);
    return s;
}

static int
walk_object(json_t *v, unsigned depth, json_t **out)
{
    json_t *o = json_object();
    if (o == NULL)
        return -SK_ENOMEM;
    /* {"name": "password", "value": "x"} pairs: mask the value too. */
    json_t *name = json_object_get(v, "name");
    bool pair_secret = json_is_string(name) &&
                       sk_evlog_sensitive_key(sk_str_make(
                           json_string_value(name), json_string_length(name)));
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach(v, key, klen, val)
    {
        json_t *nv = NULL;
        struct sk_str k = sk_str_make(key, klen);
        if (sk_evlog_sensitive_key(k) ||
            (pair_secret && sk_str_eq_c(k, "value"))) {
            nv = json_string(redacted);
            if (nv == NULL) {
                json_decref(o);
                return -SK_ENOMEM;
            }
        } else {
            int rc = walk(val, depth + 1, &nv);
            if (rc != 0) {
                json_decref(o);
                return rc;
            }
        }
        char kbuf[1024];
        char *kp = klen < sizeof(kbuf) ? kbuf : malloc(klen + 1);
        if (kp == NULL) {
            json_decref(nv);
            json_decref(o);
            return -SK_ENOMEM;
        }
        memcpy(kp, key, klen);
        sk_evlog_mask_cards((uint8_t *)kp, klen);
        int src = json_object_setn_new_nocheck(o, kp, klen, nv);
        if (kp != kbuf)
            free(kp);
        if (src != 0) {
            json_decref(o);
            return -SK_ENOMEM;
        }
    }
    *out = o;
    return 0;
}

static int
walk(json_t *v, unsigned depth, json_t **out)
{
    if (depth > SK_EVLOG_MAX_DEPTH)
        return -SK_ELIMIT;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return walk_object(v, depth, out);
    case JSON_ARRAY: {
        json_t *a = json_array();
        if (a == NULL)
            return -SK_ENOMEM;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            json_t *ne = NULL;
            int rc = walk(e, depth + 1, &ne);
            if (rc != 0 || json_array_append_new(a, ne) != 0) {
                json_decref(a);
                return rc != 0 ? rc : -SK_ENOMEM;
            }
        }
        *out = a;
        return 0;
    }
    case JSON_STRING:
        *out = masked_string(json_string_value(v), json_string_length(v));
        return *out != NULL ? 0 : -SK_ENOMEM;
    case JSON_INTEGER:
    case JSON_REAL: {
        /*
         * A number can be a card number too: if its digits hold one, the
         * masked digits are stored as a string.
         */
        char num[64];
        int n = json_is_integer(v)
                    ? snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                               json_integer_value(v))
                    : snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        if (n > 0 && (size_t)n < sizeof(num) &&
            sk_evlog_mask_cards((uint8_t *)num, (size_t)n) > 0) {
            *out = json_stringn(num, (size_t)n);
            return *out != NULL ? 0 : -SK_ENOMEM;
        }
        *out = json_incref(v);
        return 0;
    }
    default:
        *out = json_incref(v);
        return 0;
    }
}

int
sk_evlog_redact_json(struct sk_str in, struct sk_buf *out)
{
    sk_buf_clear(out);
    if (in.len > SK_EVLOG_MAX_BODY)
        return -SK_ELIMIT;
    if (sk__evlog_redact_fast(in))
        return sk_buf_append(out, in.p, in.len);
    json_error_t err;
    json_t *root =
        json_loadb((const char *)in.p, in.len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL)
        return -SK_EPARSE;
    if (!json_is_object(root)) {
        json_decref(root);
        return -SK_EPARSE;
    }
    json_t *clean = NULL;
    int rc = walk(root, 0, &clean);
    json_decref(root);
    if (rc != 0)
        return rc;
    size_t need = json_dumpb(clean, NULL, 0, JSON_COMPACT);
    if (need == 0 || need > SK_EVLOG_MAX_BODY) {
        json_decref(clean);
        return need == 0 ? -SK_ENOMEM : -SK_ELIMIT;
    }
    rc = sk_buf_reserve(out, need);
    if (rc == 0) {
        out->len = json_dumpb(clean, (char *)out->p, need, JSON_COMPACT);
        if (out->len != need)
            rc = -SK_ENOMEM;
    }
    json_decref(clean);
    return rc;
}
