/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request body processors for JSON (jansson) and XML (libxml2), feeding
 * the rule engine's ARGS and XML variables the way ModSecurity v3 does.
 * docs/body-processors.md describes the argument naming and every
 * difference from libmodsecurity 3.0.9.
 */
#ifndef SK_BODYPROC_BODYPROC_H
#define SK_BODYPROC_BODYPROC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/limits.h"
#include "util/str.h"

/* Limits ------------------------------------------------------------------ */

/*
 * Default JSON nesting limit for callers without a configured
 * SecRequestBodyJsonDepthLimit: one level per object or array, so `{}` is
 * depth 1. ModSecurity's built-in default is 10000, which jansson cannot
 * reach anyway (see below); 512 is far beyond real API payloads.
 */
#define SK_BODYPROC_JSON_DEPTH_DEFAULT SK_LIMIT_JSON_DEPTH

/*
 * jansson refuses nesting deeper than this at parse time (its compile-time
 * JSON_PARSER_MAX_DEPTH); a larger `max_depth` cannot take effect. The walk
 * over the parsed tree recurses at most this deep.
 */
#define SK_BODYPROC_JSON_HARD_DEPTH 2048

/*
 * Default cap on JSON leaves (ARGS entries) for callers without a
 * configured SecArgumentsLimit: the engine's overall ARGS limit.
 */
#define SK_BODYPROC_JSON_ARGS_DEFAULT SK_LIMIT_ARGS

/*
 * Largest XML body: libxml2's memory parser takes an `int` length. The
 * engine's request body limit is far smaller in practice.
 */
#define SK_BODYPROC_XML_MAX_BODY ((size_t)INT_MAX)

/*
 * Most bytes of node content one sk_bodyproc_xml_eval() call may produce.
 * `//\*` yields every element's whole subtree text, which is quadratic in
 * the nesting depth (libxml2 allows 256 levels without XML_PARSE_HUGE);
 * this cap keeps a hostile body from turning one rule into hundreds of
 * megabytes of copies. CRS only uses `/\*` and `//@*`, which are linear.
 */
#define SK_BODYPROC_XML_EVAL_BYTES ((size_t)64 * 1024 * 1024)

/* Callbacks --------------------------------------------------------------- */

/*
 * Receives one (name, value) pair. Both views point into the arena given
 * to the processor and stay valid until that arena is freed or reset; the
 * value may contain NUL bytes. Returning non-zero (a negative SK_E* code)
 * stops the processor, which then returns that value.
 */
typedef int (*sk_bodyproc_pair_fn)(void *ud, struct sk_str name,
                                   struct sk_str value);

/*
 * Prepares libxml2 once per process: initialises the parser and installs
 * an external entity loader that refuses everything (defence in depth on
 * top of the parse options). Safe to call many times and from several
 * threads; the XML functions call it themselves. Returns 0, or -SK_ENOTSUP
 * when the libxml2 found at run time lacks thread support (its error
 * handlers and defaults would then be shared by all threads).
 */
int sk_bodyproc_init(void);

/*
 * Parses a JSON body and calls `fn` once per scalar leaf with ModSecurity
 * v3's argument name ("json.a.b", arrays as "json.a.array_0" or as v3.0.9
 * names them: match what libmodsecurity 3.0.9 produces) and the value as
 * text (true/false, numbers as written, null as ""). Nesting deeper than
 * `max_depth` or more than `max_args` leaves is an error. Returns 0, or
 * -SK_EPARSE with a message in *errmsg, -SK_ELIMIT, -SK_ENOMEM.
 *
 * Details: an empty body yields nothing and succeeds (ModSecurity flags no
 * error for it); a top-level scalar is accepted and named "json"; duplicate
 * object keys are refused (-SK_EPARSE), see docs/body-processors.md. Pairs
 * are produced in document order while walking, so an -SK_ELIMIT leaves the
 * first `max_args` pairs delivered, as ModSecurity does. *errmsg is set for
 * every error, is either static or allocated in `a`, and stays valid at
 * least until the arena is freed or reset. Names and values are allocated
 * in `a`. Never blocks.
 */
int sk_bodyproc_json(struct sk_arena *a, struct sk_str body, unsigned max_depth,
                     size_t max_args, sk_bodyproc_pair_fn fn, void *ud,
                     const char **errmsg);

struct sk_xml_doc; /* a parsed XML body; freed with the arena */

/*
 * Parses an XML body (no network, no external entities, no DTD loading,
 * bounded depth). Returns 0 with *doc, or -SK_EPARSE with *errmsg.
 *
 * Details: libxml2 runs with its default size and depth limits
 * (XML_PARSE_HUGE is off) and its entity amplification checks; errors are
 * captured per parser context and never printed. On -SK_EPARSE, *doc is
 * the partial tree built before the error, or NULL: ModSecurity keeps that
 * tree and still evaluates XML:/\* over it, so the engine can too. *errmsg
 * (set for every error) holds libxml2's first error with its line, lives in
 * `a` (or is static), and stays valid until the arena is freed or reset.
 * The document is freed when `a` is freed or reset. Returns -SK_ELIMIT for
 * a body over SK_BODYPROC_XML_MAX_BODY, -SK_ENOMEM. Never blocks.
 */
int sk_bodyproc_xml_parse(struct sk_arena *a, struct sk_str body,
                          struct sk_xml_doc **doc, const char **errmsg);

/*
 * Evaluates an XPath expression (`XML:/\*`, `XML://@*`) and calls `fn` with
 * each resulting node's text content (name is the expression). An invalid
 * expression returns -SK_EINVAL. With xpath NULL calls fn once with the
 * whole document's text, which is what a bare `XML` target means.
 *
 * Details: a node's content is xmlNodeGetContent(): the concatenated text
 * of an element's subtree, an attribute's value, a text node's text. A
 * result that is not a node-set (`count(//a)`) is yielded once as its
 * XPath string value. With xpath NULL the name is "". Content is copied
 * into `a`. More than SK_BODYPROC_XML_EVAL_BYTES of content in one call
 * returns -SK_ELIMIT (pairs already delivered stay delivered). `doc` may
 * be a partial tree from a failed parse. Never blocks.
 */
int sk_bodyproc_xml_eval(struct sk_arena *a, const struct sk_xml_doc *doc,
                         const char *xpath, sk_bodyproc_pair_fn fn, void *ud);

/*
 * Checks that `xpath` compiles, so that rule loading can reject a bad
 * `XML:<expr>` target with file:line instead of failing at request time.
 * Returns 0 or -SK_EINVAL. Never blocks.
 */
int sk_bodyproc_xpath_check(const char *xpath);

#endif
