/* SPDX-License-Identifier: Apache-2.0 */
/* Card-number and secret redaction (see redact.h). */
#include "util/redact.h"

#include "util/error.h"

#include <string.h>

/* Field names whose values are secrets, compared as substrings of the
 * lower-cased name ("card_cvv", "user[password]", "pwd"). */
static const char *const secret_names[] = {
    "passwd",    "password", "passwort", "pwd",           "pass",
    "secret",    "cvv",      "cvc",      "security_code", "securitycode",
    "card_code", "cardcode", "csc",
};

static bool
contains_nocase(struct sk_str hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n > hay.len)
        return false;
    for (size_t i = 0; i + n <= hay.len; i++) {
        size_t k = 0;
        while (k < n && sk_ascii_lower(hay.p[i + k]) == (uint8_t)needle[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

bool
sk_redact_secret_name(struct sk_str name)
{
    if (name.len == 0 || name.len > 64)
        return false;
    for (size_t i = 0; i < sizeof(secret_names) / sizeof(secret_names[0]); i++)
        if (contains_nocase(name, secret_names[i]))
            return true;
    return false;
}

static bool
is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/*
 * At p[i] (a digit not preceded by a digit), finds a card number: returns
 * its byte length (with separators) or 0. Separators are single ' ' or '-'
 * between digits.
 */
static size_t
card_at(struct sk_str s, size_t i)
{
    uint8_t digits[19];
    size_t nd = 0, j = i, best = 0;
    while (j < s.len) {
        if (is_digit(s.p[j])) {
            if (nd == 19)
                break;
            digits[nd++] = (uint8_t)(s.p[j] - '0');
            j++;
            if (nd >= 13) {
                /* Luhn over the first nd digits. */
                unsigned sum = 0;
                for (size_t k = 0; k < nd; k++) {
                    unsigned d = digits[nd - 1 - k];
                    if (k % 2 == 1) {
                        d *= 2;
                        if (d > 9)
                            d -= 9;
                    }
                    sum += d;
                }
                if (sum % 10 == 0 && (j >= s.len || !is_digit(s.p[j])))
                    best = j - i;
            }
            continue;
        }
        if ((s.p[j] == ' ' || s.p[j] == '-') && j + 1 < s.len &&
            is_digit(s.p[j + 1]) && nd > 0) {
            j++;
            continue;
        }
        break;
    }
    /* A longer digit run that is not itself a card is left alone. */
    if (j < s.len && is_digit(s.p[j]))
        return 0;
    return best;
}

/* Length of the value starting at p[i] (up to a delimiter). */
static size_t
value_len(struct sk_str s, size_t i, uint8_t quote)
{
    size_t j = i;
    while (j < s.len) {
        uint8_t c = s.p[j];
        if (quote
                ? c == quote
                : (c == '&' || c == ';' || c == ',' || c == ' ' || c == '\r' ||
                   c == '\n' || c == '"' || c == '\'' || c == '}' || c == ']'))
            break;
        j++;
    }
    return j - i;
}

int
sk_redact(struct sk_str in, struct sk_buf *out)
{
    size_t i = 0;
    size_t name_start = 0; /* start of the current word, for names */
    while (i < in.len) {
        uint8_t c = in.p[i];
        if (is_digit(c) && (i == 0 || !is_digit(in.p[i - 1]))) {
            size_t n = card_at(in, i);
            if (n > 0) {
                /* Keep the last four digits for the investigator. */
                size_t digits = 0;
                for (size_t k = 0; k < n; k++)
                    digits += is_digit(in.p[i + k]);
                size_t seen = 0;
                for (size_t k = 0; k < n; k++) {
                    uint8_t d = in.p[i + k];
                    if (is_digit(d)) {
                        seen++;
                        d = seen + 4 > digits ? d : '*';
                    }
                    if (sk_buf_putc(out, d) != 0)
                        return -SK_ENOMEM;
                }
                i += n;
                continue;
            }
        }
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    is_digit(c) || c == '_' || c == '-' || c == '[' ||
                    c == ']' || c == '.';
        if (!word && (c == '=' || c == ':')) {
            size_t ne = i;
            size_t ns = name_start;
            /* "name": value -- step over the closing quote of the name. */
            if (ne > 0 && (in.p[ne - 1] == '"' || in.p[ne - 1] == '\'')) {
                ne--;
                ns = ne;
                while (ns > 0 && in.p[ns - 1] != '"' && in.p[ns - 1] != '\'')
                    ns--;
            }
            struct sk_str name = sk_str_make(in.p + ns, ne - ns);
            if (sk_redact_secret_name(name)) {
                if (sk_buf_putc(out, c) != 0)
                    return -SK_ENOMEM;
                size_t j = i + 1;
                while (j < in.len && in.p[j] == ' ') {
                    if (sk_buf_putc(out, ' ') != 0)
                        return -SK_ENOMEM;
                    j++;
                }
                uint8_t q = 0;
                if (j < in.len && (in.p[j] == '"' || in.p[j] == '\'')) {
                    q = in.p[j];
                    if (sk_buf_putc(out, q) != 0)
                        return -SK_ENOMEM;
                    j++;
                }
                size_t vl = value_len(in, j, q);
                if (vl > 0 && sk_buf_append(out, "***", 3) != 0)
                    return -SK_ENOMEM;
                i = j + vl;
                name_start = i;
                continue;
            }
        }
        if (!word && c != '"' && c != '\'')
            name_start = i + 1;
        if (sk_buf_putc(out, c) != 0)
            return -SK_ENOMEM;
        i++;
    }
    return 0;
}
