/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential fuzz target for the regex prefilter (src/waf/prefilter.c):
 * the input is a pattern and a subject separated by the first NUL. When
 * PCRE2 compiles the pattern as @rx does and the extractor returns a
 * literal set, every subject the regex matches must contain one of the
 * literals (ASCII case ignored); anything else is a missed attack.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util/arena.h"
#include "waf/prefilter.h"

static bool
contains_nocase(const uint8_t *h, size_t hl, struct sk_str n)
{
    if (n.len > hl)
        return false;
    for (size_t i = 0; i + n.len <= hl; i++) {
        size_t k = 0;
        while (k < n.len && sk_ascii_lower(h[i + k]) == n.p[k])
            k++;
        if (k == n.len)
            return true;
    }
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (nul == NULL || size > 4096)
        return 0;
    size_t plen = (size_t)(nul - data);
    char *pat = malloc(plen + 1);
    if (pat == NULL)
        return 0;
    memcpy(pat, data, plen);
    pat[plen] = '\0';
    const uint8_t *subj = nul + 1;
    size_t slen = size - plen - 1;
    int err;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, plen, PCRE2_DOTALL | PCRE2_MULTILINE,
                      &err, &off, NULL);
    if (re != NULL) {
        struct sk_arena *a = sk_arena_new(0);
        struct sk_str *lits;
        size_t n;
        if (a != NULL && sk__prefilter_literals(a, pat, &lits, &n)) {
            pcre2_match_context *mc = pcre2_match_context_create(NULL);
            pcre2_set_match_limit(mc, 10000);
            pcre2_match_data *md = pcre2_match_data_create(1, NULL);
            if (md != NULL && mc != NULL &&
                pcre2_match(re, subj, slen, 0, 0, md, mc) >= 0) {
                bool found = false;
                for (size_t i = 0; i < n && !found; i++)
                    found = contains_nocase(subj, slen, lits[i]);
                if (!found)
                    abort(); /* the prefilter would skip a real match */
            }
            pcre2_match_data_free(md);
            pcre2_match_context_free(mc);
        }
        sk_arena_free(a);
        pcre2_code_free(re);
    }
    free(pat);
    return 0;
}
