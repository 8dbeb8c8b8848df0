/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regex prefiltering. From a rule's @rx pattern we derive, conservatively,
 * a set of literals such that every match of the pattern contains at
 * least one of them (ASCII case ignored). At run time one Vectorscan scan
 * of a transformed value finds which rules' literals occur in it, and a
 * rule whose literals are all absent cannot match, so its regex is not
 * run. Patterns whose shape the extractor does not fully understand get
 * no prefilter and always run: the extractor may only ever say "no idea",
 * never a wrong literal. A small [...] class counts as the set of its
 * bytes.
 */
#ifndef SK_WAF_PREFILTER_H
#define SK_WAF_PREFILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/str.h"

/* Shortest literal worth a prefilter; shorter ones match too often
 * (measured on bench/engine: 3 left CRS patterns such as
 * [\"'`]...|union... unfiltered, 1 made most values hit). */
#define SK_PREFILTER_MIN_LIT 2
/* Single bytes accepted as literals all the same: benign text seldom holds
 * them (quotes, brackets, shell metacharacters, line breaks). Not NUL:
 * Vectorscan's literal API takes a literal starting with NUL for empty. */
#define SK_PREFILTER_RARE_BYTES "\"'`<>|$\\{}!@^~[]();&\n\r"
/* Most literals kept per pattern (alternations multiply). */
#define SK_PREFILTER_MAX_LITS 64
/* Longest literal kept (a longer one is cut: a prefix is still required). */
#define SK_PREFILTER_MAX_LIT_LEN 32
/* Most distinct bytes (case folded) of a [...] class taken as a set. */
#define SK_PREFILTER_MAX_CLASS 8
/* Deepest group nesting the extractor follows. */
#define SK_PREFILTER_MAX_DEPTH 32

/*
 * Derives the required-literal set of PCRE pattern `re` (as compiled by
 * @rx: DOTALL|MULTILINE). On success returns true with *lits (lower-cased,
 * in `a`) and *n >= 1. Returns false when no useful set exists or the
 * pattern uses syntax the extractor does not model. Never blocks.
 */
bool sk__prefilter_literals(struct sk_arena *a, const char *re,
                            struct sk_str **lits, size_t *n);

#endif
