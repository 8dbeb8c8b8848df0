/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/seclang: Apache-style quoting and line continuation,
 * comments, every directive kind, variable lists, operator strings and
 * action lists, Include with globs (on temporary files), error locations
 * as exact "file:line:col" text, and a load of the installed OWASP CRS
 * 3.3.4 (skipped with a message when Debian's package is not installed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seclang/seclang.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/limits.h"

/* ---- helpers ------------------------------------------------------- */

struct ctx {
    struct sk_arena *a;
    struct sk_ast ast;
    struct sk_diag d;
    char tmp[PATH_MAX]; /* a temporary directory, "" when unused */
};

static int
setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->a = sk_arena_new(0);
    if (c->a == NULL) {
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

static void
rm_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir != NULL) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[PATH_MAX];
            int n = snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            if (n < 0 || (size_t)n >= sizeof(sub))
                continue;
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                rm_tree(sub);
            else
                unlink(sub);
        }
        closedir(dir);
    }
    rmdir(path);
}

static int
teardown(void **state)
{
    struct ctx *c = *state;
    if (c->tmp[0] != '\0')
        rm_tree(c->tmp);
    sk_diag_fini(&c->d);
    sk_arena_free(c->a);
    free(c);
    return 0;
}

static int
parse(struct ctx *c, const char *text)
{
    return sk_seclang_parse_text(c->a, "t.conf", NULL, text, strlen(text),
                                 &c->ast, &c->d);
}

/* Parses text that must be valid and returns its only directive. */
static const struct sk_ast_directive *
parse_one(struct ctx *c, const char *text)
{
    c->ast.ndirs = 0;
    c->ast.dirs = NULL;
    int rc = parse(c, text);
    if (rc != 0)
        fprintf(stderr, "unexpected errors:\n%s", sk_diag_text(&c->d));
    assert_int_equal(rc, 0);
    assert_int_equal(c->ast.ndirs, 1);
    return &c->ast.dirs[0];
}

/* Parses text that must fail and checks the first message exactly. */
static void
expect_error(struct ctx *c, const char *text, const char *first_line)
{
    sk_diag_fini(&c->d);
    struct sk_ast ast = {0};
    int rc = sk_seclang_parse_text(c->a, "t.conf", NULL, text, strlen(text),
                                   &ast, &c->d);
    assert_int_equal(rc, -SK_EPARSE);
    assert_int_equal(ast.ndirs, 0);
    const char *all = sk_diag_text(&c->d);
    const char *nl = strchr(all, '\n');
    size_t n = nl ? (size_t)(nl - all) : strlen(all);
    if (n != strlen(first_line) || memcmp(all, first_line, n) != 0)
        fail_msg("expected:\n%s\ngot:\n%s", first_line, all);
}

static void
make_tmp(struct ctx *c)
{
    char tmpl[] = "/tmp/sk_seclang_XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    memcpy(c->tmp, tmpl, sizeof(tmpl));
}

/* Path of `rel` inside the temporary directory (arena string). */
static char *
tpath(struct ctx *c, const char *rel)
{
    char *p = sk_arena_printf(c->a, "%s/%s", c->tmp, rel);
    assert_non_null(p);
    return p;
}

static void
write_file(struct ctx *c, const char *rel, const char *text)
{
    char *path = tpath(c, rel);
    /* Create the parent directories. */
    for (char *s = path + strlen(c->tmp) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(path, 0700);
            *s = '/';
        }
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int
parse_tmp_file(struct ctx *c, const char *rel)
{
    return sk_seclang_parse_file(c->a, tpath(c, rel), &c->ast, &c->d);
}

static const struct sk_ast_action *
find_action(const struct sk_ast_directive *d, const char *name, size_t nth)
{
    for (size_t i = 0; i < d->nactions; i++) {
        if (strcmp(d->actions[i].name, name) == 0 && nth-- == 0)
            return &d->actions[i];
    }
    return NULL;
}

/* ---- lexer: quoting, continuation, comments ------------------------ */

static void
test_quoting(void **state)
{
    struct ctx *c = *state;
    const struct sk_ast_directive *d =
        parse_one(c, "SecFoo \"a\\\\b\" \"c\\\"d\" 'e\\'f' g\\\\h \"x\\dy\" '' "
                     "\"it's\" 'say \\\"hi\\\"' bare\"quote \"\\\\\\\"\"\n");
    assert_int_equal(d->kind, SK_AST_GENERIC);
    assert_string_equal(d->name, "SecFoo");
    assert_int_equal(d->nargs, 10);
    assert_string_equal(d->args[0], "a\\b");
    assert_string_equal(d->args[1], "c\"d");
    assert_string_equal(d->args[2], "e'f");
    assert_string_equal(d->args[3], "g\\h");
    assert_string_equal(d->args[4], "x\\dy"); /* other backslashes stay */
    assert_string_equal(d->args[5], "");
    assert_string_equal(d->args[6], "it's");
    /* Only the active quote character is escaped. */
    assert_string_equal(d->args[7], "say \\\"hi\\\"");
    /* A quote inside a bare word is an ordinary character. */
    assert_string_equal(d->args[8], "bare\"quote");
    assert_string_equal(d->args[9], "\\\"");
    assert_int_equal(d->loc.line, 1);
    assert_int_equal(d->loc.col, 1);
    assert_string_equal(d->loc.file, "t.conf");
}

static void
test_continuation(void **state)
{
    struct ctx *c = *state;
    /* The backslash and the newline go; the next line's leading
     * whitespace stays (Apache's ap_cfg_getline). */
    const struct sk_ast_directive *d =
        parse_one(c, "SecFoo \"a\\\n  b\" c\\\nd\n");
    assert_int_equal(d->nargs, 2);
    assert_string_equal(d->args[0], "a  b");
    assert_string_equal(d->args[1], "cd");

    /* CRLF line ends, continuation with CR LF. */
    d = parse_one(c, "\r\n  SecFoo a \\\r\n  b\r\n\r\n");
    assert_int_equal(d->nargs, 2);
    assert_string_equal(d->args[1], "b");
    assert_int_equal(d->loc.line, 2);
    assert_int_equal(d->loc.col, 3);

    /* A UTF-8 byte order mark is skipped; columns start after it. */
    d = parse_one(c, "\xEF\xBB\xBFSecFoo x\n");
    assert_string_equal(d->name, "SecFoo");
    assert_int_equal(d->loc.col, 1);
    /* Only at the very start of the file. */
    d = parse_one(c, "SecFoo \xEF\xBB\xBF\n");
    assert_string_equal(d->args[0], "\xEF\xBB\xBF");

    /* A backslash at the very end of the file (no newline) stays. */
    d = parse_one(c, "SecFoo a\\");
    assert_string_equal(d->args[0], "a\\");

    /* A backslash followed by spaces is not a continuation: warning. */
    sk_diag_fini(&c->d);
    c->ast.ndirs = 0;
    assert_int_equal(parse(c, "SecFoo a \\  \nSecBar\n"), 0);
    assert_int_equal(c->ast.ndirs, 2);
    assert_int_equal(c->d.warnings, 1);
    assert_string_equal(c->ast.dirs[0].args[1], "\\");
    assert_string_equal(sk_diag_text(&c->d),
                        "t.conf:1:10: warning: backslash followed by "
                        "whitespace is not a line continuation\n");

    /* CRLF continuation keeps columns of the next physical line. */
    d = parse_one(c, "SecAction \\\r\n\t\"id:1,\\\r\n  deny\"\r\n");
    assert_int_equal(d->nactions, 2);
    assert_int_equal(d->actions[0].loc.line, 2);
    assert_int_equal(d->actions[0].loc.col, 3);
    assert_int_equal(d->actions[1].loc.line, 3);
    assert_int_equal(d->actions[1].loc.col, 3);
    assert_string_equal(d->args[0], "id:1,  deny");

    /* Locations of items on continued lines. */
    d = parse_one(c, "SecRule ARGS \"@rx x\" \\\n"
                     "    \"id:1,\\\n"
                     "    msg:'m'\"\n");
    assert_int_equal(d->loc.line, 1);
    assert_int_equal(d->nactions, 2);
    assert_int_equal(d->actions[0].loc.line, 2);
    assert_int_equal(d->actions[0].loc.col, 6);
    assert_int_equal(d->actions[1].loc.line, 3);
    assert_int_equal(d->actions[1].loc.col, 5);
    assert_int_equal(d->op.loc.line, 1);
    assert_int_equal(d->op.loc.col, 15);
    assert_int_equal(d->vars[0].loc.col, 9);
}

static void
test_comments(void **state)
{
    struct ctx *c = *state;
    sk_diag_fini(&c->d);
    assert_int_equal(parse(c, "# SecRule ARGS x\n"
                              "   \t# indented comment\n"
                              "#SecRule ARGS \"x\" \\\n"
                              "#   \"id:1\"\n"
                              "\n"
                              "SecFoo a # b\n"),
                     0);
    assert_int_equal(c->ast.ndirs, 1);
    assert_int_equal(c->d.warnings, 0);
    /* '#' inside a line is an ordinary argument (Apache). */
    assert_int_equal(c->ast.dirs[0].nargs, 3);
    assert_string_equal(c->ast.dirs[0].args[1], "#");
    assert_int_equal(c->ast.dirs[0].loc.line, 6);

    /* A comment ending in a backslash swallows the next line: a rule
     * hidden that way is reported as a warning. */
    sk_diag_fini(&c->d);
    c->ast.ndirs = 0;
    assert_int_equal(parse(c, "# note \\\nSecRule ARGS x\nSecFoo\n"), 0);
    assert_int_equal(c->ast.ndirs, 1);
    assert_string_equal(c->ast.dirs[0].name, "SecFoo");
    assert_int_equal(c->d.warnings, 1);
    assert_non_null(strstr(sk_diag_text(&c->d),
                           "t.conf:1:1: warning: comment continues onto "
                           "line 2"));
}

/* ---- directive kinds ---------------------------------------------- */

static void
test_directives(void **state)
{
    struct ctx *c = *state;
    const struct sk_ast_directive *d =
        parse_one(c, "SecRule ARGS \"@rx a\" \"id:1,deny\"");
    assert_int_equal(d->kind, SK_AST_RULE);
    assert_int_equal(d->nargs, 3);
    assert_int_equal(d->nvars, 1);
    assert_int_equal(d->nactions, 2);

    d = parse_one(c, "secrule ARGS foo");
    assert_int_equal(d->kind, SK_AST_RULE);
    assert_string_equal(d->name, "secrule");
    assert_int_equal(d->nactions, 0);
    assert_null(d->actions);
    assert_string_equal(d->op.name, "rx");
    assert_string_equal(d->op.arg, "foo");

    d = parse_one(c, "SecAction \"id:2,pass\"");
    assert_int_equal(d->kind, SK_AST_ACTION);
    assert_int_equal(d->nactions, 2);
    d = parse_one(c, "SecDefaultAction \"phase:2,log,auditlog,pass\"");
    assert_int_equal(d->kind, SK_AST_ACTION);
    assert_int_equal(d->nactions, 4);

    d = parse_one(c, "SecRuleUpdateActionById 942100 \"t:none,t:lowercase\"");
    assert_int_equal(d->kind, SK_AST_UPDATE_ACTIONS);
    assert_string_equal(d->args[0], "942100");
    assert_int_equal(d->nactions, 2);
    assert_string_equal(d->actions[1].value, "lowercase");

    d = parse_one(c, "SecRuleUpdateTargetById 942100 \"!ARGS:pwd|ARGS_NAMES\"");
    assert_int_equal(d->kind, SK_AST_UPDATE_TARGETS);
    assert_int_equal(d->nvars, 2);
    assert_int_equal(d->nreplace_vars, 0);
    assert_true(d->vars[0].exclude);
    assert_string_equal(d->vars[0].selector, "pwd");

    d = parse_one(c, "SecRuleUpdateTargetById 1 ARGS:new REQUEST_URI");
    assert_int_equal(d->nreplace_vars, 1);
    assert_string_equal(d->replace_vars[0].collection, "REQUEST_URI");
    d = parse_one(c, "SecRuleUpdateTargetByTag 'attack-sqli' !ARGS:x");
    assert_int_equal(d->kind, SK_AST_UPDATE_TARGETS);
    assert_string_equal(d->args[0], "attack-sqli");
    d = parse_one(c, "SecRuleUpdateTargetByMsg \"a msg\" !ARGS:x");
    assert_int_equal(d->kind, SK_AST_UPDATE_TARGETS);

    d = parse_one(c, "SecMarker END-HOST-CHECK");
    assert_int_equal(d->kind, SK_AST_GENERIC);
    assert_int_equal(d->nargs, 1);
    d = parse_one(c, "SecResponseBodyMimeType text/plain text/html");
    assert_int_equal(d->nargs, 2);
    d = parse_one(c, "SecRuleEngine");
    assert_int_equal(d->nargs, 0);
    assert_null(d->args);

    /* Structure errors. */
    expect_error(c, "SecRule ARGS",
                 "t.conf:1:1: error: SecRule takes two or three arguments "
                 "(variables, operator[, actions]), got 1");
    expect_error(c, "\n  SecRule a b c d",
                 "t.conf:2:3: error: SecRule takes two or three arguments "
                 "(variables, operator[, actions]), got 4");
    expect_error(c, "SecAction",
                 "t.conf:1:1: error: SecAction takes one argument "
                 "(actions), got 0");
    expect_error(c, "SecRuleUpdateActionById 1",
                 "t.conf:1:1: error: SecRuleUpdateActionById takes two "
                 "arguments (id, actions), got 1");
    expect_error(c, "SecRuleUpdateTargetById 1",
                 "t.conf:1:1: error: SecRuleUpdateTargetById takes two or "
                 "three arguments (selector, targets[, replaced target]), "
                 "got 1");
    expect_error(c, "SecRule ARGS \"\"",
                 "t.conf:1:14: error: SecRule: empty operator");
    expect_error(c, "\"\" a", "t.conf:1:1: error: empty directive name");
}

static void
test_every_error_reported(void **state)
{
    struct ctx *c = *state;
    sk_diag_fini(&c->d);
    struct sk_ast ast = {0};
    const char *text = "SecRule ARGS \"@rx x\n"
                       "SecAction \"id:1,,x\"\n"
                       "SecMarker ok\n"
                       "SecRule ARGS| \"x\" \"id:'2\"\n";
    assert_int_equal(sk_seclang_parse_text(c->a, "t.conf", NULL, text,
                                           strlen(text), &ast, &c->d),
                     -SK_EPARSE);
    /* The AST is left as it was on failure. */
    assert_int_equal(ast.ndirs, 0);
    assert_int_equal(c->d.errors, 4);
    assert_string_equal(
        sk_diag_text(&c->d),
        "t.conf:1:14: error: unterminated double-quoted argument (closing "
        "\" missing)\n"
        "t.conf:2:17: error: action list: empty action before ','\n"
        "t.conf:4:14: error: variable list: missing variable after '|'\n"
        "t.conf:4:23: error: action list: missing closing single quote\n");
}

/* ---- variable lists ----------------------------------------------- */

static void
test_vars(void **state)
{
    struct ctx *c = *state;
    const struct sk_ast_directive *d =
        parse_one(c, "SecRule \"REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|"
                     "&TX:'/LEAKAGE\\\\\\/ERRORS/'|ARGS:/a|b/ | XML:/*|"
                     "XML://@*|ARGS:'foo|bar'|REQUEST_HEADERS:User-Agent|"
                     "ARGS:/^a\\/b$/|&ARGS\" x");
    assert_int_equal(d->nvars, 10);
    assert_string_equal(d->vars[0].collection, "REQUEST_COOKIES");
    assert_null(d->vars[0].selector);
    assert_false(d->vars[0].exclude || d->vars[0].count);

    assert_true(d->vars[1].exclude);
    assert_string_equal(d->vars[1].selector, "__utm");
    assert_true(d->vars[1].selector_regex);

    /* CRS 980: a quoted /.../ selector is a regex (v2 semantics). */
    assert_true(d->vars[2].count);
    assert_string_equal(d->vars[2].collection, "TX");
    assert_string_equal(d->vars[2].selector, "LEAKAGE\\/ERRORS");
    assert_true(d->vars[2].selector_regex);

    assert_string_equal(d->vars[3].selector, "a|b");
    assert_true(d->vars[3].selector_regex);

    /* XPath, not regexes. */
    assert_string_equal(d->vars[4].collection, "XML");
    assert_string_equal(d->vars[4].selector, "/*");
    assert_false(d->vars[4].selector_regex);
    assert_string_equal(d->vars[5].selector, "//@*");
    assert_false(d->vars[5].selector_regex);

    assert_string_equal(d->vars[6].selector, "foo|bar");
    assert_false(d->vars[6].selector_regex);
    assert_string_equal(d->vars[7].selector, "User-Agent");
    assert_string_equal(d->vars[8].selector, "^a\\/b$");
    assert_true(d->vars[8].selector_regex);
    assert_true(d->vars[9].count);
    assert_null(d->vars[9].selector);
    /* Columns: the source has a quote at col 9, names start at 10. */
    assert_int_equal(d->vars[0].loc.col, 10);
    assert_int_equal(d->vars[1].loc.col, 26);

    /* A name starting with '/' must be quoted; unclosed is an error. */
    d = parse_one(c, "SecRule ARGS:'/path'|ARGS x");
    assert_int_equal(d->nvars, 2);
    assert_string_equal(d->vars[0].selector, "/path");
    assert_false(d->vars[0].selector_regex);
    expect_error(c, "SecRule ARGS:/path|ARGS x",
                 "t.conf:1:14: error: variable list: unterminated /regex/ "
                 "selector (the closing '/' must be followed by '|' or the "
                 "end of the list)");
    /* An escaped slash does not close the regex. */
    d = parse_one(c, "SecRule ARGS:/a\\/|b/ x");
    assert_string_equal(d->vars[0].selector, "a\\/|b");

    /* The public entry point (ctl:ruleRemoveTargetById). */
    struct sk_loc loc = {"ctl.conf", 7, 20};
    struct sk_ast_var *vars;
    size_t n;
    assert_int_equal(sk_seclang_parse_vars(c->a, "ARGS:foo|!ARGS:/^x/", &loc,
                                           &vars, &n, &c->d),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(vars[1].loc.line, 7);
    assert_int_equal(vars[1].loc.col, 29);
    assert_true(vars[1].selector_regex);

    expect_error(c, "SecRule ARGS||X x",
                 "t.conf:1:14: error: variable list: missing variable "
                 "after '|'");
    expect_error(c, "SecRule \"ARGS | \" x",
                 "t.conf:1:17: error: variable list: missing variable "
                 "after '|'");
    expect_error(c, "SecRule !&ARGS x",
                 "t.conf:1:10: error: variable list: at most one of '!' "
                 "and '&' may precede a variable");
    expect_error(c, "SecRule ARGS: x",
                 "t.conf:1:13: error: variable list: empty selector after "
                 "':'");
    expect_error(c, "SecRule ARGS:'x x",
                 "t.conf:1:14: error: variable list: missing closing "
                 "single quote");
    expect_error(c, "SecRule \"ARGS X\" x",
                 "t.conf:1:15: error: variable list: unexpected character "
                 "'X' after a variable (expected '|')");
    expect_error(c, "SecRule \"ARGS:'a'b\" x",
                 "t.conf:1:18: error: variable list: unexpected character "
                 "'b' after a variable (expected '|')");
    expect_error(c, "SecRule ! x",
                 "t.conf:1:10: error: variable list: missing variable "
                 "name");
    expect_error(c, "SecRule \" \" x",
                 "t.conf:1:10: error: variable list: no variables");
    expect_error(c, "SecRule ARGS:'\\x' x",
                 "t.conf:1:15: error: variable list: invalid quoted pair: "
                 "only \\' and \\\\ may follow a backslash inside single "
                 "quotes");
}

/* ---- operators ---------------------------------------------------- */

static void
test_operator(void **state)
{
    struct ctx *c = *state;
    const struct sk_ast_directive *d =
        parse_one(c, "SecRule ARGS \"!@rx  ^\\d+$ \"");
    assert_true(d->op.negated);
    assert_string_equal(d->op.name, "rx");
    assert_string_equal(d->op.arg, "^\\d+$ ");
    d = parse_one(c, "SecRule ARGS @detectSQLi");
    assert_false(d->op.negated);
    assert_string_equal(d->op.name, "detectSQLi");
    assert_string_equal(d->op.arg, "");
    d = parse_one(c, "SecRule ARGS \"! @eq 0\"");
    assert_true(d->op.negated);
    assert_string_equal(d->op.name, "eq");
    assert_string_equal(d->op.arg, "0");
    d = parse_one(c, "SecRule ARGS \"^(?:a|b)\\\"x\"");
    assert_string_equal(d->op.name, "rx");
    assert_string_equal(d->op.arg, "^(?:a|b)\"x");
    d = parse_one(c, "SecRule ARGS \"!^a\"");
    assert_true(d->op.negated);
    assert_string_equal(d->op.arg, "^a");
    /* Leading whitespace is part of an implicit regex, as in v2. */
    d = parse_one(c, "SecRule ARGS \" @rx a\"");
    assert_string_equal(d->op.name, "rx");
    assert_string_equal(d->op.arg, " @rx a");
    d = parse_one(c, "SecRule ARGS \"@pmFromFile a b.data\"");
    assert_string_equal(d->op.arg, "a b.data");
    expect_error(c, "SecRule ARGS \"!@ x\"",
                 "t.conf:1:16: error: operator: missing operator name "
                 "after '@'");
}

/* ---- action lists ------------------------------------------------- */

static void
test_actions(void **state)
{
    struct ctx *c = *state;
    const struct sk_ast_directive *d = parse_one(
        c, "SecAction \"id:1 , msg:'a, b',t:none,tag:'paranoia-level/1',"
           "setvar:'tx.x=%{tx.y}',setvar:tx.z=+%{tx.critical_anomaly_score},"
           "ctl:ruleRemoveTargetById=942100;ARGS:foo,logdata:'it\\\\'s "
           "\\\\\\\\ ok',deny,msg:,setvar:tx.a=b:c, tag:x y ,status: 403,"
           "msg:'',\"");
    assert_int_equal(d->nactions, 14);
    assert_string_equal(d->actions[0].name, "id");
    assert_string_equal(d->actions[0].value, "1");
    assert_string_equal(d->actions[1].value, "a, b");
    assert_string_equal(d->actions[2].name, "t");
    assert_string_equal(d->actions[2].value, "none");
    assert_string_equal(d->actions[3].value, "paranoia-level/1");
    assert_string_equal(d->actions[4].value, "tx.x=%{tx.y}");
    assert_string_equal(d->actions[5].value,
                        "tx.z=+%{tx.critical_anomaly_score}");
    assert_string_equal(d->actions[6].name, "ctl");
    assert_string_equal(d->actions[6].value,
                        "ruleRemoveTargetById=942100;ARGS:foo");
    /* Apache turned \\' into \' and \\\\ into \\; the action parser
     * then turned \' into ' and \\ into \. */
    assert_string_equal(d->actions[7].value, "it's \\ ok");
    assert_string_equal(d->actions[8].name, "deny");
    assert_null(d->actions[8].value);
    assert_string_equal(d->actions[9].name, "msg");
    assert_string_equal(d->actions[9].value, "");
    assert_string_equal(d->actions[10].value, "tx.a=b:c");
    assert_string_equal(d->actions[11].value, "x y");
    assert_string_equal(d->actions[12].value, "403");
    assert_string_equal(d->actions[13].value, "");
    assert_int_equal(d->actions[0].loc.col, 12);
    assert_int_equal(d->actions[1].loc.col, 19);

    /* The public entry point. */
    struct sk_loc loc = {"x.conf", 3, 1};
    struct sk_ast_action *acts;
    size_t n;
    assert_int_equal(
        sk_seclang_parse_actions(c->a, "a,b:'c,d'", &loc, &acts, &n, &c->d), 0);
    assert_int_equal(n, 2);
    assert_string_equal(acts[1].value, "c,d");
    assert_int_equal(acts[1].loc.col, 3);
    assert_int_equal(
        sk_seclang_parse_actions(c->a, "  ", &loc, &acts, &n, &c->d), 0);
    assert_int_equal(n, 0);

    expect_error(c, "SecAction \"msg:'a\\x'\"",
                 "t.conf:1:18: error: action list: invalid quoted pair: "
                 "only \\' and \\\\ may follow a backslash inside single "
                 "quotes");
    expect_error(c, "SecAction \"msg:'abc\"",
                 "t.conf:1:16: error: action list: missing closing single "
                 "quote");
    expect_error(c, "SecAction \"msg:'a'b\"",
                 "t.conf:1:19: error: action list: expected ',' after a "
                 "quoted value");
    expect_error(c, "SecAction \",id:1\"",
                 "t.conf:1:12: error: action list: empty action before "
                 "','");
    expect_error(c, "SecAction \"id:1,,deny\"",
                 "t.conf:1:17: error: action list: empty action before "
                 "','");
    expect_error(c, "SecAction \"t :none\"",
                 "t.conf:1:14: error: action list: expected ',' after an "
                 "action name");
    expect_error(c, "SecAction \":x\"",
                 "t.conf:1:12: error: action list: missing action name "
                 "before ':'");
    /* Errors on continued lines point at the physical line. */
    expect_error(c, "SecRule ARGS x \\\n  \"id:1,\\\n   msg:'a\\b'\"",
                 "t.conf:3:10: error: action list: invalid quoted pair: "
                 "only \\' and \\\\ may follow a backslash inside single "
                 "quotes");
}

/* ---- lexer errors ------------------------------------------------- */

static void
test_lexer_errors(void **state)
{
    struct ctx *c = *state;
    expect_error(c, "SecFoo 'abc",
                 "t.conf:1:8: error: unterminated single-quoted argument "
                 "(closing ' missing)");
    expect_error(c, "SecFoo \"a\"b",
                 "t.conf:1:11: error: missing whitespace after the closing "
                 "\" of an argument");
    expect_error(c, "SecFoo \"a\\\"",
                 "t.conf:1:8: error: unterminated double-quoted argument "
                 "(closing \" missing)");
    static const char nul[] = "SecFoo a\0b\nSecBar\n";
    sk_diag_fini(&c->d);
    struct sk_ast ast = {0};
    assert_int_equal(sk_seclang_parse_text(c->a, "t.conf", NULL, nul,
                                           sizeof(nul) - 1, &ast, &c->d),
                     -SK_EPARSE);
    assert_string_equal(sk_diag_text(&c->d),
                        "t.conf:1:9: error: NUL byte in a rule file\n");

    /* An over-long logical line is refused, the next one still parsed. */
    size_t big = (size_t)SK_LIMIT_RULE_LINE + 10;
    char *text = malloc(big + 64);
    assert_non_null(text);
    memcpy(text, "SecFoo ", 7);
    memset(text + 7, 'a', big - 7);
    strcpy(text + big, "\nSecFoo\n");
    sk_diag_fini(&c->d);
    ast = (struct sk_ast){0};
    assert_int_equal(sk_seclang_parse_text(c->a, "t.conf", NULL, text,
                                           strlen(text), &ast, &c->d),
                     -SK_EPARSE);
    assert_int_equal(c->d.errors, 1);
    assert_non_null(strstr(sk_diag_text(&c->d),
                           "t.conf:1:1: error: logical line longer than"));
    free(text);

    /* A file full of errors stops after SK_SECLANG_MAX_ERRORS. */
    struct sk_buf many = {0};
    for (int i = 0; i < 150; i++)
        assert_int_equal(sk_buf_append_c(&many, "SecFoo \"x\n"), 0);
    sk_diag_fini(&c->d);
    ast = (struct sk_ast){0};
    assert_int_equal(sk_seclang_parse_text(c->a, "t.conf", NULL,
                                           (const char *)many.p, many.len, &ast,
                                           &c->d),
                     -SK_EPARSE);
    sk_buf_fini(&many);
    assert_int_equal(c->d.errors, SK_SECLANG_MAX_ERRORS + 1);
    assert_non_null(strstr(sk_diag_text(&c->d),
                           "t.conf:101:1: error: too many errors (100), "
                           "giving up\n"));

    /* Include can be disabled (the fuzz target does). */
    sk_diag_fini(&c->d);
    ast = (struct sk_ast){0};
    const char *inc = "Include /etc/passwd";
    assert_int_equal(
        sk_seclang_parse_text_flags(c->a, "t.conf", NULL, inc, strlen(inc),
                                    SK_SECLANG_NO_INCLUDE, &ast, &c->d),
        -SK_EPARSE);
    assert_string_equal(sk_diag_text(&c->d),
                        "t.conf:1:1: error: Include is disabled here\n");
}

/* ---- Include ------------------------------------------------------ */

static void
test_include_glob(void **state)
{
    struct ctx *c = *state;
    make_tmp(c);
    write_file(c, "main.conf",
               "SecMarker first\n"
               "Include rules/*.conf\n"
               "IncludeOptional none/*.conf\n"
               "IncludeOptional missing.conf\n"
               "SecMarker last\n");
    write_file(c, "rules/b.conf", "SecMarker b\n");
    write_file(c, "rules/a.conf", "SecMarker a\nInclude ../lib/x.conf\n");
    write_file(c, "rules/B.conf", "SecMarker B\n");
    write_file(c, "rules/c.txt", "SecMarker not-included\n");
    write_file(c, "lib/x.conf", "SecMarker x\n");
    assert_int_equal(parse_tmp_file(c, "main.conf"), 0);
    assert_int_equal(c->ast.ndirs, 6);
    /* Byte order: 'B' < 'a' < 'b', independent of the locale. */
    static const char *want[] = {"first", "B", "a", "x", "b", "last"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(c->ast.dirs[i].args[0], want[i]);
    /* Locations name the file as it was reached. */
    assert_string_equal(c->ast.dirs[3].loc.file,
                        tpath(c, "rules/../lib/x.conf"));
    assert_int_equal(c->ast.dirs[5].loc.line, 5);

    /* A second parse appends to the same AST. */
    assert_int_equal(parse_tmp_file(c, "lib/x.conf"), 0);
    assert_int_equal(c->ast.ndirs, 7);
    assert_string_equal(c->ast.dirs[0].args[0], "first");
    assert_string_equal(c->ast.dirs[6].args[0], "x");

    /* parse_text resolves relative Includes against basedir. */
    struct sk_ast ast = {0};
    const char *t = "Include lib/x.conf";
    assert_int_equal(
        sk_seclang_parse_text(c->a, "mem", c->tmp, t, strlen(t), &ast, &c->d),
        0);
    assert_int_equal(ast.ndirs, 1);
    assert_int_equal(c->d.errors, 0);
}

static void
test_include_errors(void **state)
{
    struct ctx *c = *state;
    make_tmp(c);
    const char *msg;

    write_file(c, "missing.conf", "SecMarker a\nInclude nothere.conf\n");
    assert_int_equal(parse_tmp_file(c, "missing.conf"), -SK_EPARSE);
    msg = sk_arena_printf(c->a,
                          "%s/missing.conf:2:1: error: Include: cannot open "
                          "'%s/nothere.conf': No such file or directory\n",
                          c->tmp, c->tmp);
    assert_string_equal(sk_diag_text(&c->d), msg);

    sk_diag_fini(&c->d);
    write_file(c, "noglob.conf", "Include x/*.conf\n");
    assert_int_equal(parse_tmp_file(c, "noglob.conf"), -SK_EPARSE);
    msg = sk_arena_printf(c->a,
                          "%s/noglob.conf:1:1: error: Include: no file matches "
                          "'%s/x/*.conf'\n",
                          c->tmp, c->tmp);
    assert_string_equal(sk_diag_text(&c->d), msg);

    /* a -> b -> a */
    sk_diag_fini(&c->d);
    write_file(c, "cyc/a.conf", "SecMarker a\nInclude b.conf\n");
    write_file(c, "cyc/b.conf", "\n\nInclude ./a.conf\n");
    assert_int_equal(parse_tmp_file(c, "cyc/a.conf"), -SK_EPARSE);
    msg = sk_arena_printf(
        c->a,
        "%s/cyc/b.conf:3:1: error: include cycle: '%s/cyc/./a.conf' "
        "includes itself\n",
        c->tmp, c->tmp);
    assert_string_equal(sk_diag_text(&c->d), msg);

    /* Self include through a glob. */
    sk_diag_fini(&c->d);
    write_file(c, "self/s.conf", "Include *.conf\n");
    assert_int_equal(parse_tmp_file(c, "self/s.conf"), -SK_EPARSE);
    assert_int_equal(c->d.errors, 1);
    assert_non_null(strstr(sk_diag_text(&c->d), "include cycle"));

    /* A directory is refused loudly. */
    sk_diag_fini(&c->d);
    write_file(c, "dir/sub/x.conf", "SecMarker x\n");
    write_file(c, "dir/main.conf", "Include sub\n");
    assert_int_equal(parse_tmp_file(c, "dir/main.conf"), -SK_EPARSE);
    assert_non_null(strstr(sk_diag_text(&c->d), "is a directory"));

    /* A chain deeper than SK_LIMIT_INCLUDE_DEPTH. */
    sk_diag_fini(&c->d);
    for (int i = 0; i <= SK_LIMIT_INCLUDE_DEPTH + 1; i++) {
        char name[64], body[64];
        snprintf(name, sizeof(name), "deep/%d.conf", i);
        snprintf(body, sizeof(body), "Include %d.conf\n", i + 1);
        write_file(c, name, body);
    }
    assert_int_equal(parse_tmp_file(c, "deep/0.conf"), -SK_EPARSE);
    assert_int_equal(c->d.errors, 1);
    assert_non_null(strstr(sk_diag_text(&c->d), "Include nested deeper"));

    /* Wrong number of arguments. */
    expect_error(c, "Include a b",
                 "t.conf:1:1: error: Include takes one argument, got 2");
    expect_error(c, "IncludeOptional",
                 "t.conf:1:1: error: IncludeOptional takes one argument, "
                 "got 0");

    /* A top-level directory. */
    sk_diag_fini(&c->d);
    struct sk_ast dast = {0};
    assert_int_equal(sk_seclang_parse_file(c->a, c->tmp, &dast, &c->d),
                     -SK_EIO);
    assert_non_null(strstr(sk_diag_text(&c->d), "is a directory"));

    /* A missing top-level file. */
    sk_diag_fini(&c->d);
    struct sk_ast ast = {0};
    msg = tpath(c, "none.conf");
    assert_int_equal(sk_seclang_parse_file(c->a, msg, &ast, &c->d), -SK_ENOENT);
    assert_int_equal(c->d.errors, 1);
}

static int
parse_counted(const char *text, const char *basedir, unsigned long fail_n,
              size_t *ndirs)
{
    struct sk_arena *a = sk_arena_new(0);
    assert_non_null(a);
    struct sk_ast ast = {0};
    struct sk_diag d = {0};
    sk_alloc_fail_at(fail_n, 1);
    int rc = sk_seclang_parse_text(a, "t.conf", basedir, text, strlen(text),
                                   &ast, &d);
    sk_alloc_fail_at(0, 0);
    *ndirs = ast.ndirs;
    sk_diag_fini(&d);
    sk_arena_free(a);
    return rc;
}

static void
test_oom(void **state)
{
    struct ctx *c = *state;
    make_tmp(c);
    write_file(c, "inc/a.conf", "SecRule ARGS \"@rx b\" \"id:3,t:none\"\n");
    write_file(c, "inc/b.conf", "SecMarker B\n");
    const char *text = "SecRule ARGS|!ARGS:x \"@rx a\" \"id:1,msg:'a, b'\"\n"
                       "SecAction \"id:2\"\n"
                       "Include inc/*.conf\n"
                       "SecRuleUpdateTargetById 1 ARGS:y ARGS:z\n";
    /* Count the allocations of a successful parse (a huge failure index
     * only turns counting on), then fail each of them in turn: every
     * failure must give -SK_ENOMEM, never a crash, a leak (ASan) or a
     * half-filled AST. */
    size_t n;
    struct sk_arena *a = sk_arena_new(0);
    assert_non_null(a);
    sk_alloc_fail_at(ULONG_MAX, 0);
    struct sk_ast ast = {0};
    struct sk_diag d = {0};
    assert_int_equal(sk_seclang_parse_text(a, "t.conf", c->tmp, text,
                                           strlen(text), &ast, &d),
                     0);
    unsigned long total = sk_alloc_count();
    sk_alloc_fail_at(0, 0);
    sk_diag_fini(&d);
    sk_arena_free(a);
    assert_int_equal(ast.ndirs, 5);
    assert_true(total > 5);
    for (unsigned long k = 1; k <= total; k++) {
        int rc = parse_counted(text, c->tmp, k, &n);
        if (rc != -SK_ENOMEM)
            fail_msg("allocation %lu of %lu: rc %d", k, total, rc);
        assert_int_equal(n, 0);
    }
    assert_int_equal(parse_counted(text, c->tmp, 0, &n), 0);
    assert_int_equal(n, 5);
}

/* ---- the installed OWASP CRS ------------------------------------- */

#define CRS_SETUP "/etc/modsecurity/crs/crs-setup.conf"
#define CRS_RULES "/usr/share/modsecurity-crs/rules"

static const struct sk_ast_directive *
find_rule(const struct sk_ast *ast, const char *id)
{
    for (size_t i = 0; i < ast->ndirs; i++) {
        const struct sk_ast_action *a = find_action(&ast->dirs[i], "id", 0);
        if (a != NULL && a->value != NULL && strcmp(a->value, id) == 0)
            return &ast->dirs[i];
    }
    return NULL;
}

/*
 * Source text at file:line:col, from a small cache of whole files, so
 * that every location in the CRS AST can be checked against the bytes it
 * claims to point at.
 */
struct src_cache {
    char *path[64];
    char *text[64];
    size_t n;
};

static const char *
src_at(struct src_cache *sc, const struct sk_loc *loc)
{
    size_t k;
    for (k = 0; k < sc->n; k++) {
        if (strcmp(sc->path[k], loc->file) == 0)
            break;
    }
    if (k == sc->n) {
        assert_true(sc->n < 64);
        FILE *f = fopen(loc->file, "rb");
        assert_non_null(f);
        struct sk_buf b = {0};
        char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
            assert_int_equal(sk_buf_append(&b, chunk, got), 0);
        fclose(f);
        sc->path[k] = strdup(loc->file);
        sc->text[k] = strdup(sk_buf_cstr(&b));
        sk_buf_fini(&b);
        assert_non_null(sc->path[k]);
        assert_non_null(sc->text[k]);
        sc->n++;
    }
    const char *t = sc->text[k];
    for (unsigned line = 1; line < loc->line; line++) {
        t = strchr(t, '\n');
        assert_non_null(t);
        t++;
    }
    const char *nl = strchr(t, '\n');
    assert_true(loc->col >= 1);
    assert_true(nl == NULL || (size_t)(nl - t) >= loc->col - 1);
    return t + loc->col - 1;
}

static void
src_cache_fini(struct src_cache *sc)
{
    for (size_t k = 0; k < sc->n; k++) {
        free(sc->path[k]);
        free(sc->text[k]);
    }
}

/* Checks that `loc` points at `want` in the source. */
static void
expect_src(struct src_cache *sc, const struct sk_loc *loc, const char *want)
{
    const char *at = src_at(sc, loc);
    if (strncmp(at, want, strlen(want)) != 0)
        fail_msg("%s:%u:%u: expected '%s', found '%.20s'", loc->file, loc->line,
                 loc->col, want, at);
}

static void
test_crs(void **state)
{
    struct ctx *c = *state;
    if (access(CRS_SETUP, R_OK) != 0 ||
        access(CRS_RULES "/REQUEST-942-APPLICATION-ATTACK-SQLI.conf", R_OK) !=
            0) {
        print_message("SKIP test_crs: Debian's modsecurity-crs (3.3.4) is "
                      "not installed\n");
        skip();
    }
    make_tmp(c);
    write_file(c, "crs.conf",
               "Include " CRS_SETUP "\n"
               "IncludeOptional /etc/modsecurity/crs/"
               "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf\n"
               "Include " CRS_RULES "/*.conf\n"
               "IncludeOptional /etc/modsecurity/crs/"
               "RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf\n");
    int rc = parse_tmp_file(c, "crs.conf");
    if (rc != 0)
        fprintf(stderr, "%s", sk_diag_text(&c->d));
    assert_int_equal(rc, 0);
    assert_int_equal(c->d.errors, 0);
    assert_int_equal(c->d.warnings, 0);

    const struct sk_ast_directive *setup = find_rule(&c->ast, "900990");
    assert_non_null(setup);
    const struct sk_ast_action *ver = find_action(setup, "setvar", 0);
    assert_non_null(ver);
    if (strcmp(ver->value, "tx.crs_setup_version=334") != 0) {
        print_message("SKIP test_crs: installed CRS is not 3.3.4 (%s)\n",
                      ver->value);
        skip();
    }

    size_t rules = 0, actions = 0, defaults = 0, markers = 0, ids = 0;
    bool chained = false;
    for (size_t i = 0; i < c->ast.ndirs; i++) {
        const struct sk_ast_directive *d = &c->ast.dirs[i];
        switch (d->kind) {
        case SK_AST_RULE:
            rules++;
            assert_non_null(d->op.name);
            assert_true(d->op.name[0] != '\0');
            assert_non_null(d->op.arg);
            assert_true(d->nvars > 0);
            if (!chained) {
                /* A rule that starts a chain (or stands alone) has an
                 * action list with an id. */
                assert_true(d->nargs == 3);
                assert_non_null(find_action(d, "id", 0));
                ids++;
            }
            chained = find_action(d, "chain", 0) != NULL;
            break;
        case SK_AST_ACTION:
            if (strcmp(d->name, "SecAction") == 0) {
                actions++;
                assert_non_null(find_action(d, "id", 0));
                ids++;
            } else {
                assert_string_equal(d->name, "SecDefaultAction");
                defaults++;
            }
            break;
        case SK_AST_GENERIC:
            if (strcmp(d->name, "SecMarker") == 0)
                markers++;
            break;
        default:
            fail_msg("unexpected directive kind %d", (int)d->kind);
        }
        assert_true(d->loc.line > 0 && d->loc.col > 0);
        assert_non_null(d->loc.file);
    }
    assert_false(chained); /* no dangling chain at the end */
    /* Counted with grep over Debian's 3.3.4 files (lines starting with
     * the directive, comments excluded). */
    assert_int_equal(rules, 790);
    assert_int_equal(actions, 10);
    assert_int_equal(defaults, 2);
    assert_int_equal(markers, 40);

    /* Regex argument with \" and \w (920470). */
    const struct sk_ast_directive *d = find_rule(&c->ast, "920470");
    assert_non_null(d);
    assert_true(d->op.negated);
    assert_string_equal(d->op.name, "rx");
    assert_string_equal(
        d->op.arg,
        "^[\\w/.+-]+(?:\\s?;\\s?(?:action|boundary|charset|type|start"
        "(?:-info)?)\\s?=\\s?['\"\\w.()+,/:=?<>@-]+)*$");
    assert_string_equal(d->vars[0].collection, "REQUEST_HEADERS");
    assert_string_equal(d->vars[0].selector, "Content-Type");
    assert_int_equal(d->loc.line, 916);
    /* Multi-line continuation: each action on its own physical line. */
    assert_int_equal(find_action(d, "id", 0)->loc.line, 917);
    assert_int_equal(find_action(d, "phase", 0)->loc.line, 918);
    assert_int_equal(find_action(d, "phase", 0)->loc.col, 5);
    assert_string_equal(find_action(d, "t", 1)->value, "lowercase");
    assert_string_equal(find_action(d, "msg", 0)->value,
                        "Illegal Content-Type header");
    assert_string_equal(find_action(d, "tag", 4)->value, "paranoia-level/1");
    assert_string_equal(find_action(d, "setvar", 0)->value,
                        "tx.anomaly_score_pl1=+%{tx.critical_anomaly_score}");
    assert_int_equal(find_action(d, "setvar", 0)->loc.line, 933);

    /* msg with commas, quotes and macros, and a quoted regex selector
     * with escaped slashes (980100). */
    d = find_rule(&c->ast, "980100");
    assert_non_null(d);
    assert_true(d->vars[0].count);
    assert_string_equal(d->vars[0].selector, "LEAKAGE\\/ERRORS");
    assert_true(d->vars[0].selector_regex);
    assert_string_equal(d->op.name, "ge");
    assert_string_equal(d->op.arg, "1");

    /* 942100: XPath and regex selectors, @detectSQLi without argument. */
    d = find_rule(&c->ast, "942100");
    assert_non_null(d);
    assert_string_equal(d->op.name, "detectSQLi");
    assert_string_equal(d->op.arg, "");
    assert_int_equal(d->nvars, 8);
    assert_true(d->vars[1].exclude);
    assert_string_equal(d->vars[1].selector, "__utm");
    assert_true(d->vars[1].selector_regex);
    assert_string_equal(d->vars[7].collection, "XML");
    assert_string_equal(d->vars[7].selector, "/*");
    assert_false(d->vars[7].selector_regex);
    assert_string_equal(find_action(d, "msg", 0)->value,
                        "SQL Injection Attack Detected via libinjection");
    assert_string_equal(find_action(d, "logdata", 0)->value,
                        "Matched Data: %{TX.0} found within "
                        "%{MATCHED_VAR_NAME}: %{MATCHED_VAR}");

    /* ctl with a target list (Drupal exclusions). */
    bool found_ctl = false;
    for (size_t i = 0; i < c->ast.ndirs && !found_ctl; i++) {
        const struct sk_ast_directive *x = &c->ast.dirs[i];
        for (size_t k = 0; k < x->nactions; k++) {
            if (strcmp(x->actions[k].name, "ctl") == 0 &&
                strcmp(x->actions[k].value,
                       "ruleRemoveTargetById=942450;REQUEST_COOKIES_NAMES") ==
                    0)
                found_ctl = true;
        }
    }
    assert_true(found_ctl);
    /* Every location points at the bytes it names: directive names,
     * variables (with their '!'/'&'), the operator argument's first byte
     * (after the opening quote) and action names — across continued
     * lines. */
    struct src_cache sc = {0};
    size_t checked = 0;
    for (size_t i = 0; i < c->ast.ndirs; i++) {
        const struct sk_ast_directive *x = &c->ast.dirs[i];
        expect_src(&sc, &x->loc, x->name);
        for (size_t k = 0; k < x->nvars; k++) {
            const struct sk_ast_var *v = &x->vars[k];
            const char *at = src_at(&sc, &v->loc);
            if (v->exclude || v->count) {
                assert_int_equal(*at, v->exclude ? '!' : '&');
                at++;
            }
            assert_memory_equal(at, v->collection, strlen(v->collection));
            checked++;
        }
        if (x->kind == SK_AST_RULE) {
            const char *at = src_at(&sc, &x->op.loc);
            if (x->op.negated)
                assert_int_equal(*at, '!');
            else if (*at != '@') /* an implicit @rx: the regex itself */
                assert_string_equal(x->op.name, "rx");
            checked++;
        }
        for (size_t k = 0; k < x->nactions; k++) {
            expect_src(&sc, &x->actions[k].loc, x->actions[k].name);
            checked++;
        }
    }
    src_cache_fini(&sc);
    assert_true(checked > 9000);

    print_message("CRS: %zu directives, %zu SecRule, %zu with ids\n",
                  c->ast.ndirs, rules, ids);
}

static void
test_modsecurity_recommended(void **state)
{
    struct ctx *c = *state;
    static const char *paths[] = {
        "/work/main/deps/modsecurity/modsecurity.conf-recommended",
        "/etc/modsecurity/modsecurity.conf-recommended",
    };
    const char *path = NULL;
    for (size_t i = 0; i < 2; i++) {
        if (access(paths[i], R_OK) == 0) {
            path = paths[i];
            break;
        }
    }
    if (path == NULL) {
        print_message("SKIP: modsecurity.conf-recommended not found\n");
        skip();
    }
    int rc = sk_seclang_parse_file(c->a, path, &c->ast, &c->d);
    if (rc != 0)
        fprintf(stderr, "%s", sk_diag_text(&c->d));
    assert_int_equal(rc, 0);
    const struct sk_ast_directive *d = find_rule(&c->ast, "'200003'");
    assert_null(d); /* quotes removed: the id is 200003 */
    d = find_rule(&c->ast, "200003");
    assert_non_null(d);
    const struct sk_ast_action *msg = find_action(d, "msg", 0);
    assert_non_null(msg);
    /* A quoted value continued over 13 lines, leading spaces kept. */
    assert_non_null(strstr(msg->value, "validation: PE "
                                       "%{REQBODY_PROCESSOR_ERROR}, BQ "));
    assert_non_null(find_action(d, "status", 0));
    assert_string_equal(find_action(d, "status", 0)->value, "400");
    d = find_rule(&c->ast, "200005");
    assert_non_null(d);
    assert_string_equal(d->vars[0].selector, "^MSC_");
    assert_true(d->vars[0].selector_regex);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quoting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_error_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_vars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lexer_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_glob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modsecurity_recommended, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
