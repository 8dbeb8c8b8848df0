/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SecLang syntax: a hand-written lexer and recursive-descent parser that
 * turn ModSecurity configuration files into an AST of directives with
 * source locations. This layer knows the *syntax* only (quoting, line
 * continuation, Include with globs, the shapes of variable lists, operator
 * strings and action lists); which directive, variable, operator or action
 * names exist is decided by the compiler in src/waf, which reports unknown
 * names with the locations recorded here.
 *
 * Quoting follows ModSecurity v2 / Apache httpd, which the CRS regression
 * suite expects: inside a double-quoted argument `\\` becomes `\` and `\"`
 * becomes `"`; every other backslash is kept (so `\d` reaches PCRE as is).
 * A backslash at the end of a line joins the next line.
 */
#ifndef SK_SECLANG_SECLANG_H
#define SK_SECLANG_SECLANG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/diag.h"

/*
 * Limits of this module (kept here rather than in util/limits.h to avoid
 * merge conflicts; the lead may move them).
 */
/* Largest rule file read; CRS 3.3.4's largest file is ~90 KiB, so 64 MiB
 * only stops runaway inputs (e.g. an Include of a device or a log). */
#define SK_SECLANG_MAX_FILE_BYTES (64u * 1024 * 1024)
/* Most files read by one parse call: stops a glob Include from pulling in
 * a whole tree by mistake (CRS is ~35 files). */
#define SK_SECLANG_MAX_FILES 4096
/* Errors reported by one parse call before it gives up: enough to fix a
 * real file in one pass, bounded for a binary file included by mistake. */
#define SK_SECLANG_MAX_ERRORS 100

/* One target of a rule: `ARGS`, `!ARGS:foo`, `&TX:x`, `ARGS:/^id_/`. */
struct sk_ast_var {
    struct sk_loc loc;
    bool exclude;        /* leading '!': remove this target */
    bool count;          /* leading '&': the number of matching entries */
    char *collection;    /* as written, e.g. "REQUEST_HEADERS" */
    char *selector;      /* after ':', quotes removed; NULL when absent */
    bool selector_regex; /* selector was /.../ (slashes removed) */
};

/* One action: `t:lowercase`, `msg:'x'`, `deny`. */
struct sk_ast_action {
    struct sk_loc loc;
    char *name;  /* as written */
    char *value; /* NULL when the action has no ':'; quotes removed */
};

/* The operator of a SecRule: `"!@rx foo"`, `"@detectSQLi"`, `"foo"`. */
struct sk_ast_op {
    struct sk_loc loc;
    bool negated;
    char *name; /* without '@'; "rx" when the string has no '@' */
    char *arg;  /* "" when absent; leading spaces after the name removed */
};

enum sk_ast_kind {
    SK_AST_GENERIC = 0,        /* any directive: only name and args are set */
    SK_AST_RULE = 1,           /* SecRule: vars, op, actions */
    SK_AST_ACTION = 2,         /* SecAction, SecDefaultAction: actions */
    SK_AST_UPDATE_ACTIONS = 3, /* SecRuleUpdateActionById: args[0], actions */
    SK_AST_UPDATE_TARGETS = 4, /* SecRuleUpdateTargetBy{Id,Tag,Msg}:
                                  args[0], vars, and in replace_vars the
                                  optional third argument */
};

struct sk_ast_directive {
    struct sk_loc loc;
    enum sk_ast_kind kind;
    char *name;  /* as written, e.g. "SecRule" */
    char **args; /* every argument, quotes removed, escapes applied */
    size_t nargs;
    /* SK_AST_RULE and SK_AST_UPDATE_TARGETS */
    struct sk_ast_var *vars;
    size_t nvars;
    struct sk_ast_var *replace_vars;
    size_t nreplace_vars;
    /* SK_AST_RULE */
    struct sk_ast_op op;
    /* SK_AST_RULE, SK_AST_ACTION, SK_AST_UPDATE_ACTIONS */
    struct sk_ast_action *actions;
    size_t nactions;
};

struct sk_ast {
    struct sk_ast_directive *dirs; /* in file order, Includes expanded */
    size_t ndirs;
};

/*
 * Parses a rule file and every file it includes (`Include` and
 * `IncludeOptional` with glob patterns, relative to the including file's
 * directory, depth-limited by SK_LIMIT_INCLUDE_DEPTH) into one AST,
 * appended to *ast (which may hold directives of earlier files; a zeroed
 * struct is empty). Everything, strings and locations included, is
 * allocated from `a` and lives as long as it. Reports every syntax error
 * into `d` with file:line:col and returns -SK_EPARSE if there was any, or
 * -SK_ENOENT / -SK_EIO when a file cannot be read. Blocks on file I/O.
 *
 * Details (docs/formats/seclang-syntax.md): a file reached through an
 * Include that cannot be read is reported at the Include and counts as a
 * syntax error (-SK_EPARSE); on any failure *ast is left unchanged; at
 * most SK_SECLANG_MAX_ERRORS errors are reported per call; -SK_ENOMEM
 * when memory runs out. Locations of variables, operators and actions
 * point at the physical line and byte column where each is written.
 */
int sk_seclang_parse_file(struct sk_arena *a, const char *path,
                          struct sk_ast *ast, struct sk_diag *d);

/*
 * Same for text in memory; `name` is used in locations and `basedir` to
 * resolve relative Include paths (NULL: the current directory).
 */
int sk_seclang_parse_text(struct sk_arena *a, const char *name,
                          const char *basedir, const char *text, size_t len,
                          struct sk_ast *ast, struct sk_diag *d);

/* Flags for sk_seclang_parse_text_flags(). */
enum sk_seclang_flag {
    SK_SECLANG_NO_INCLUDE = 1 << 0, /* Include/IncludeOptional -> error;
                                       never touches the filesystem */
};

/*
 * sk_seclang_parse_text() with flags (a mask of enum sk_seclang_flag);
 * the fuzz target uses SK_SECLANG_NO_INCLUDE. Blocks on file I/O unless
 * that flag is set.
 */
int sk_seclang_parse_text_flags(struct sk_arena *a, const char *name,
                                const char *basedir, const char *text,
                                size_t len, unsigned flags, struct sk_ast *ast,
                                struct sk_diag *d);

/*
 * Parses a variable list such as "ARGS|!ARGS:foo|&TX:x" (used for
 * SecRule targets and `ctl:ruleRemoveTargetById=ID;ARGS:foo`). Returns 0 or
 * -SK_EPARSE after reporting into `d` at `loc` (byte i of `text` is
 * located at loc->line, column loc->col + i; a NULL loc reports without a
 * position), or -SK_ENOMEM. Results live in `a`. Never blocks.
 */
int sk_seclang_parse_vars(struct sk_arena *a, const char *text,
                          const struct sk_loc *loc, struct sk_ast_var **vars,
                          size_t *nvars, struct sk_diag *d);

/*
 * Parses an action list such as "id:1,phase:2,t:none,msg:'a, b'", with
 * the same conventions as sk_seclang_parse_vars(). An empty or blank text
 * gives zero actions.
 */
int sk_seclang_parse_actions(struct sk_arena *a, const char *text,
                             const struct sk_loc *loc,
                             struct sk_ast_action **actions, size_t *nactions,
                             struct sk_diag *d);

#endif
