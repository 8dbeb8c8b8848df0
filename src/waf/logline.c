/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ModSecurity-style error-log lines for matched rules, the format CRS's
 * regression suite and existing log tooling read: `ModSecurity: Warning.
 * ... [id "942100"] [msg "..."] [data "..."] ...`. Request data in the
 * line is redacted (card numbers, secrets) by sk_redact().
 */
#include "waf/txn.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/redact.h"

/* Appends `[name "value"]` with quotes and backslashes escaped. */
static int
field(struct sk_buf *b, const char *name, const char *value)
{
    int rc = sk_buf_printf(b, " [%s \"", name);
    for (const char *p = value; rc == 0 && *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            rc = sk_buf_putc(b, '\\');
        if (rc == 0)
            rc = sk_buf_putc(b, (uint8_t)*p);
    }
    if (rc == 0)
        rc = sk_buf_append_c(b, "\"]");
    return rc;
}

size_t
sk_waf_txn_format_match(const struct sk_waf_txn *t, size_t i, char *buf,
                        size_t len)
{
    const struct sk_waf_match *m = sk_waf_txn_match(t, i);
    struct sk_buf b = {0};
    struct sk_buf red = {0};
    char num[32];
    int rc;
    if (m == NULL) {
        if (len > 0)
            buf[0] = '\0';
        return 0;
    }
    rc = sk_buf_printf(&b, "ModSecurity: %s. Matched variable `%s'",
                       m->disruptive && t->engine == SK_ENGINE_ON
                           ? "Access denied"
                           : "Warning",
                       m->matched_var_name);
    if (rc == 0 && m->file != NULL)
        rc = field(&b, "file", m->file);
    snprintf(num, sizeof(num), "%u", m->line);
    if (rc == 0)
        rc = field(&b, "line", num);
    snprintf(num, sizeof(num), "%" PRIu64, m->id);
    if (rc == 0)
        rc = field(&b, "id", num);
    if (rc == 0)
        rc = field(&b, "msg", m->msg);
    if (rc == 0)
        rc = field(&b, "data", m->data);
    if (rc == 0 && m->severity >= 0) {
        snprintf(num, sizeof(num), "%d", m->severity);
        rc = field(&b, "severity", num);
    }
    for (size_t k = 0; rc == 0 && k < m->ntags; k++)
        rc = field(&b, "tag", m->tags[k]);
    if (rc == 0)
        rc = field(&b, "unique_id", t->id);
    if (rc == 0)
        rc = sk_redact(sk_buf_str(&b), &red);
    size_t need = red.len;
    if (len > 0) {
        size_t n = rc == 0 ? (red.len < len - 1 ? red.len : len - 1) : 0;
        if (n > 0)
            memcpy(buf, red.p, n);
        buf[n] = '\0';
    }
    sk_buf_fini(&b);
    sk_buf_fini(&red);
    return rc == 0 ? need : 0;
}
