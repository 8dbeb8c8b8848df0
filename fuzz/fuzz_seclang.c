/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the SecLang parser: arbitrary bytes go through
 * sk_seclang_parse_text_flags() with SK_SECLANG_NO_INCLUDE, so Include
 * directives are reported as errors and the filesystem is never touched.
 * Every successfully parsed AST is walked so that ASan sees every string.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "seclang/seclang.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
touch(const char *s)
{
    return s ? strlen(s) : 0;
}

static size_t
walk(const struct sk_ast *ast)
{
    size_t sum = 0;
    for (size_t i = 0; i < ast->ndirs; i++) {
        const struct sk_ast_directive *d = &ast->dirs[i];
        sum += touch(d->name) + d->loc.line + d->loc.col;
        for (size_t k = 0; k < d->nargs; k++)
            sum += touch(d->args[k]);
        for (size_t k = 0; k < d->nvars; k++)
            sum += touch(d->vars[k].collection) + touch(d->vars[k].selector) +
                   d->vars[k].loc.col;
        for (size_t k = 0; k < d->nreplace_vars; k++)
            sum += touch(d->replace_vars[k].collection) +
                   touch(d->replace_vars[k].selector);
        if (d->kind == SK_AST_RULE)
            sum += touch(d->op.name) + touch(d->op.arg);
        for (size_t k = 0; k < d->nactions; k++)
            sum += touch(d->actions[k].name) + touch(d->actions[k].value) +
                   d->actions[k].loc.col;
    }
    return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_arena *a = sk_arena_new(0);
    if (a == NULL)
        return 0;
    struct sk_ast ast = {0};
    struct sk_diag d = {0};
    int rc = sk_seclang_parse_text_flags(a, "fuzz", "/nonexistent",
                                         (const char *)data, size,
                                         SK_SECLANG_NO_INCLUDE, &ast, &d);
    if (rc == 0) {
        volatile size_t sink = walk(&ast);
        (void)sink;
    }
    (void)sk_diag_text(&d);
    sk_diag_fini(&d);
    sk_arena_free(a);
    return 0;
}
