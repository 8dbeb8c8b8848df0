/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request body processors for JSON (jansson) and XML (libxml2), feeding
 * the rule engine's ARGS and XML variables the way ModSecurity v3 does.
 */
#ifndef SK_BODYPROC_BODYPROC_H
#define SK_BODYPROC_BODYPROC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/str.h"

typedef int (*sk_bodyproc_pair_fn)(void *ud, struct sk_str name,
                                   struct sk_str value);

/*
 * Parses a JSON body and calls `fn` once per scalar leaf with ModSecurity
 * v3's argument name ("json.a.b", arrays as "json.a.array_0" or as v3.0.9
 * names them: match what libmodsecurity 3.0.9 produces) and the value as
 * text (true/false, numbers as written, null as ""). Nesting deeper than
 * `max_depth` or more than `max_args` leaves is an error. Returns 0, or
 * -SK_EPARSE with a static message in *errmsg, -SK_ELIMIT, -SK_ENOMEM.
 */
int sk_bodyproc_json(struct sk_arena *a, struct sk_str body,
                     unsigned max_depth, size_t max_args,
                     sk_bodyproc_pair_fn fn, void *ud, const char **errmsg);

struct sk_xml_doc; /* a parsed XML body; freed with the arena */

/*
 * Parses an XML body (no network, no external entities, no DTD loading,
 * bounded depth). Returns 0 with *doc, or -SK_EPARSE with *errmsg.
 */
int sk_bodyproc_xml_parse(struct sk_arena *a, struct sk_str body,
                          struct sk_xml_doc **doc, const char **errmsg);

/*
 * Evaluates an XPath expression (an XML target's selector) and calls `fn` with
 * each resulting node's text content (name is the expression). An invalid
 * expression returns -SK_EINVAL. With xpath NULL calls fn once with the
 * whole document's text, which is what a bare `XML` target means.
 */
int sk_bodyproc_xml_eval(struct sk_arena *a, const struct sk_xml_doc *doc,
                         const char *xpath, sk_bodyproc_pair_fn fn, void *ud);

#endif
