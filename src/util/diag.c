/* SPDX-License-Identifier: Apache-2.0 */
/* Collects loader diagnostics as text lines. */
#include "util/diag.h"

#include <stdarg.h>

static void
vrecord(struct sk_diag *d, const struct sk_loc *loc, const char *kind,
        const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (loc != NULL && loc->file != NULL)
        (void)sk_buf_printf(&d->text, "%s:%u:%u: %s: %s\n", loc->file,
                            loc->line, loc->col, kind, msg);
    else
        (void)sk_buf_printf(&d->text, "%s: %s\n", kind, msg);
}

void
sk_diag_error(struct sk_diag *d, const struct sk_loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(d, loc, "error", fmt, ap);
    va_end(ap);
    d->errors++;
}

void
sk_diag_warn(struct sk_diag *d, const struct sk_loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(d, loc, "warning", fmt, ap);
    va_end(ap);
    d->warnings++;
}

const char *
sk_diag_text(struct sk_diag *d)
{
    const char *s = sk_buf_cstr(&d->text);
    return s ? s : "";
}

void
sk_diag_fini(struct sk_diag *d)
{
    sk_buf_fini(&d->text);
    d->errors = 0;
    d->warnings = 0;
}
