/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redaction of card data and secrets from text that is about to be logged
 * or stored: Luhn-valid card numbers (13-19 digits, optionally grouped by
 * single spaces or dashes) and the values of fields named like passwords or
 * card security codes (name=value, "name":"value", name: value). Every
 * path that writes request data to disk goes through sk_redact().
 */
#ifndef SK_UTIL_REDACT_H
#define SK_UTIL_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/str.h"

/*
 * Appends `in` to `out` with card numbers replaced by "[card]"-style masks
 * (all but the last four digits as '*') and secret field values replaced
 * by "***". Returns 0 or -SK_ENOMEM (out may then hold a prefix). Never
 * blocks; linear in the input.
 */
int sk_redact(struct sk_str in, struct sk_buf *out);

/* True when `name` looks like a password or security-code field name. */
bool sk_redact_secret_name(struct sk_str name);

#endif
