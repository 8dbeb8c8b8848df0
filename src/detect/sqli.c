/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQL injection detector behind @detectSQLi.
 *
 * The input is read as SQL three times: as it is (a value pasted into a
 * query without quotes), as if it began inside a single-quoted string and
 * as if it began inside a double-quoted string (a value pasted between
 * quotes). Each reading produces a stream of tokens of a few classes
 * (string, number, word, keyword, operator, ...), which is folded (unary
 * signs, "ORDER BY", "UNION ALL" and the like become one token) and judged
 * by two kinds of rules:
 *
 *  - window rules look at the last few tokens wherever they are in the
 *    stream ("UNION SELECT", "AND 1=1", "WAITFOR DELAY", a time-delay or
 *    data-exfiltration function called after an operator, ...);
 *  - start rules look at the first tokens of a quoted reading: what follows
 *    the string that the attacker's quote closes decides whether the quote
 *    broke out into SQL ("' OR '1'='1", "')) UNION", "'--", "'; DROP").
 *
 * The token classes, keyword lists and rules are our own; see
 * docs/detectors.md. Work is linear in the input with constant state: the
 * window and the start prefix have fixed sizes and no rule looks further.
 */
#include "detect/detect.h"
#include "detect/internal.h"

#include <stdlib.h>
#include <string.h>

/* Token classes; the letters also make up the fingerprint. */
enum {
    T_BEGIN = '^', /* virtual: start of the stream */
    T_END = '$',   /* virtual: end of the stream */
    T_STR = 's',   /* quoted string */
    T_NUM = '1',   /* number, NULL, TRUE, FALSE */
    T_WORD = 'n',  /* identifier or unknown word */
    T_VAR = 'v',   /* @var, @@var */
    T_FUNC = 'f',  /* known function name followed by '(' */
    T_KW = 'k',    /* other SQL keyword */
    T_STMT = 'E',  /* statement keyword: SELECT, DROP, EXEC, ... */
    T_SETOP = 'U', /* UNION, INTERSECT, EXCEPT */
    T_LOGIC = '&', /* AND, OR, XOR, &&, || */
    T_OP = 'o',    /* any other operator */
    T_LPAR = '(',
    T_RPAR = ')',
    T_COMMA = ',',
    T_SEMI = ';',
    T_COMMENT = 'c' /* comment running to the end of the line or input */
};

/* Keyword identities the rules care about. */
enum {
    K_NONE = 0,
    K_SELECT,
    K_DDL, /* DROP, CREATE, ALTER, TRUNCATE */
    K_DECLARE,
    K_EXEC,
    K_WAITFOR,
    K_SHUTDOWN,
    K_INSERT,
    K_UPDATE,
    K_DELETE,
    K_SET,
    K_OBJECT, /* TABLE, DATABASE, ... after DDL */
    K_FROM,
    K_INTO,
    K_OUTFILE,
    K_DELAY,
    K_AS,
    K_ORDER,
    K_GROUP,
    K_BY,
    K_ORDERBY, /* folded ORDER BY / GROUP BY */
    K_HAVING,
    K_LIMIT,
    K_WHERE,
    K_QUANT, /* ALL, DISTINCT, TOP */
    K_NOT,
    K_STAR,
    K_SIGN /* unary-capable operator: + - ! ~ */
};

/* Token flags. */
#define F_CLOSED 0x01   /* string has its closing quote */
#define F_BLANK 0x02    /* string content is empty or blanks only */
#define F_STRONG 0x04   /* function used for delays / exfiltration */
#define F_SYM 0x08      /* operator spelled with symbols, not a word */
#define F_CMP 0x10      /* comparison operator */
#define F_CTX 0x20      /* the string the reading starts inside */
#define F_XPROC 0x40    /* word naming an extended stored procedure */
#define F_WORDOP 0x80   /* operator spelled as a word (LIKE, IS, ...) */
#define F_JOIN 0x100    /* joins values into one: | || + - & && ^ */
#define F_SYSTAB 0x200  /* word naming a system catalog table */
#define F_LITWORD 0x400 /* NULL, TRUE or FALSE spelled out */

struct tok {
    uint8_t type;
    uint8_t id;
    uint16_t flags;
};

/*
 * Keyword table. `type` is the class when the word is not followed by '(';
 * `fn` says the word is a function when it is (then `strong` marks the
 * functions that real injections call: delays, file and network access,
 * error-based extraction, the string builders used to avoid quotes).
 */
struct kw {
    const char *name;
    uint8_t type;
    uint8_t id;
    uint8_t fn;
};

#define FN 1
#define STRONG 2

/* Sorted by name (checked by the unit tests through sk__detect_kw_check). */
static const struct kw kws[] = {
    {"abs", T_WORD, K_NONE, FN},
    {"all", T_KW, K_QUANT, 0},
    {"alter", T_STMT, K_DDL, 0},
    {"analyse", T_WORD, K_NONE, STRONG},
    {"and", T_LOGIC, K_NONE, 0},
    {"as", T_KW, K_AS, 0},
    {"asc", T_KW, K_NONE, 0},
    {"ascii", T_WORD, K_NONE, STRONG},
    {"avg", T_WORD, K_NONE, FN},
    {"benchmark", T_WORD, K_NONE, STRONG},
    {"between", T_OP, K_NONE, 0},
    {"bin", T_WORD, K_NONE, FN},
    {"by", T_KW, K_BY, 0},
    {"case", T_KW, K_NONE, 0},
    {"cast", T_WORD, K_NONE, FN},
    {"ceil", T_WORD, K_NONE, FN},
    {"ceiling", T_WORD, K_NONE, FN},
    {"char", T_WORD, K_NONE, STRONG},
    {"char_length", T_WORD, K_NONE, FN},
    {"chr", T_WORD, K_NONE, STRONG},
    {"coalesce", T_WORD, K_NONE, FN},
    {"collate", T_OP, K_NONE, 0},
    {"column", T_KW, K_OBJECT, 0},
    {"compress", T_WORD, K_NONE, FN},
    {"concat", T_WORD, K_NONE, STRONG},
    {"concat_ws", T_WORD, K_NONE, STRONG},
    {"conv", T_WORD, K_NONE, FN},
    {"convert", T_WORD, K_NONE, FN},
    {"count", T_WORD, K_NONE, FN},
    {"create", T_STMT, K_DDL, 0},
    {"current_database", T_WORD, K_NONE, STRONG},
    {"current_user", T_WORD, K_NONE, STRONG},
    {"database", T_KW, K_OBJECT, STRONG},
    {"datediff", T_WORD, K_NONE, FN},
    {"db_name", T_WORD, K_NONE, STRONG},
    {"declare", T_STMT, K_DECLARE, 0},
    {"decode", T_WORD, K_NONE, FN},
    {"delay", T_KW, K_DELAY, 0},
    {"delete", T_STMT, K_DELETE, 0},
    {"desc", T_KW, K_NONE, 0},
    {"distinct", T_KW, K_QUANT, 0},
    {"div", T_OP, K_NONE, 0},
    {"drop", T_STMT, K_DDL, 0},
    {"dumpfile", T_KW, K_OUTFILE, 0},
    {"else", T_KW, K_NONE, 0},
    {"elt", T_WORD, K_NONE, STRONG},
    {"encode", T_WORD, K_NONE, FN},
    {"end", T_KW, K_NONE, 0},
    {"except", T_SETOP, K_NONE, 0},
    {"exec", T_STMT, K_EXEC, 0},
    {"execute", T_STMT, K_EXEC, 0},
    {"exists", T_OP, K_NONE, FN},
    {"exp", T_WORD, K_NONE, FN},
    {"extractvalue", T_WORD, K_NONE, STRONG},
    {"false", T_NUM, K_NONE, 0},
    {"field", T_WORD, K_NONE, FN},
    {"find_in_set", T_WORD, K_NONE, FN},
    {"floor", T_WORD, K_NONE, FN},
    {"from", T_KW, K_FROM, 0},
    {"function", T_KW, K_OBJECT, 0},
    {"get_host_address", T_WORD, K_NONE, STRONG},
    {"get_host_name", T_WORD, K_NONE, STRONG},
    {"getdate", T_WORD, K_NONE, FN},
    {"group", T_KW, K_GROUP, 0},
    {"group_concat", T_WORD, K_NONE, STRONG},
    {"having", T_KW, K_HAVING, 0},
    {"hex", T_WORD, K_NONE, STRONG},
    {"if", T_WORD, K_NONE, FN},
    {"ifnull", T_WORD, K_NONE, FN},
    {"iif", T_WORD, K_NONE, FN},
    {"in", T_OP, K_NONE, FN},
    {"index", T_KW, K_OBJECT, 0},
    {"insert", T_STMT, K_INSERT, 0},
    {"instr", T_WORD, K_NONE, FN},
    {"intersect", T_SETOP, K_NONE, 0},
    {"into", T_KW, K_INTO, 0},
    {"is", T_OP, K_NONE, 0},
    {"isnull", T_WORD, K_NONE, FN},
    {"json_extract", T_WORD, K_NONE, FN},
    {"last_insert_id", T_WORD, K_NONE, FN},
    {"left", T_WORD, K_NONE, FN},
    {"len", T_WORD, K_NONE, FN},
    {"length", T_WORD, K_NONE, FN},
    {"like", T_OP, K_NONE, 0},
    {"limit", T_KW, K_LIMIT, 0},
    {"load_extension", T_WORD, K_NONE, STRONG},
    {"load_file", T_WORD, K_NONE, STRONG},
    {"locate", T_WORD, K_NONE, FN},
    {"lower", T_WORD, K_NONE, FN},
    {"lpad", T_WORD, K_NONE, FN},
    {"ltrim", T_WORD, K_NONE, FN},
    {"make_set", T_WORD, K_NONE, STRONG},
    {"max", T_WORD, K_NONE, FN},
    {"md5", T_WORD, K_NONE, FN},
    {"mid", T_WORD, K_NONE, STRONG},
    {"min", T_WORD, K_NONE, FN},
    {"mod", T_OP, K_NONE, FN},
    {"nchar", T_WORD, K_NONE, STRONG},
    {"not", T_OP, K_NOT, 0},
    {"now", T_WORD, K_NONE, FN},
    {"null", T_NUM, K_NONE, 0},
    {"nullif", T_WORD, K_NONE, FN},
    {"nvl", T_WORD, K_NONE, FN},
    {"oct", T_WORD, K_NONE, FN},
    {"offset", T_KW, K_NONE, 0},
    {"or", T_LOGIC, K_NONE, 0},
    {"ord", T_WORD, K_NONE, STRONG},
    {"order", T_KW, K_ORDER, 0},
    {"outfile", T_KW, K_OUTFILE, 0},
    {"pg_read_file", T_WORD, K_NONE, STRONG},
    {"pg_sleep", T_WORD, K_NONE, STRONG},
    {"position", T_WORD, K_NONE, FN},
    {"pow", T_WORD, K_NONE, FN},
    {"power", T_WORD, K_NONE, FN},
    {"procedure", T_KW, K_OBJECT, 0},
    {"rand", T_WORD, K_NONE, FN},
    {"randomblob", T_WORD, K_NONE, STRONG},
    {"receive_message", T_WORD, K_NONE, STRONG},
    {"regexp", T_OP, K_NONE, 0},
    {"repeat", T_WORD, K_NONE, FN},
    {"replace", T_WORD, K_NONE, FN},
    {"reverse", T_WORD, K_NONE, FN},
    {"right", T_WORD, K_NONE, FN},
    {"rlike", T_OP, K_NONE, 0},
    {"round", T_WORD, K_NONE, FN},
    {"rpad", T_WORD, K_NONE, FN},
    {"rtrim", T_WORD, K_NONE, FN},
    {"schema", T_KW, K_OBJECT, FN},
    {"select", T_STMT, K_SELECT, 0},
    {"session_user", T_WORD, K_NONE, STRONG},
    {"set", T_KW, K_SET, 0},
    {"sha1", T_WORD, K_NONE, FN},
    {"shutdown", T_STMT, K_SHUTDOWN, 0},
    {"sleep", T_WORD, K_NONE, STRONG},
    {"soundex", T_WORD, K_NONE, FN},
    {"sounds", T_OP, K_NONE, 0},
    {"space", T_WORD, K_NONE, FN},
    {"sqlite_version", T_WORD, K_NONE, STRONG},
    {"sqrt", T_WORD, K_NONE, FN},
    {"substr", T_WORD, K_NONE, STRONG},
    {"substring", T_WORD, K_NONE, STRONG},
    {"sum", T_WORD, K_NONE, FN},
    {"sys_eval", T_WORD, K_NONE, STRONG},
    {"sys_exec", T_WORD, K_NONE, STRONG},
    {"system_user", T_WORD, K_NONE, STRONG},
    {"table", T_KW, K_OBJECT, 0},
    {"then", T_KW, K_NONE, 0},
    {"time", T_KW, K_DELAY, FN},
    {"to_char", T_WORD, K_NONE, FN},
    {"top", T_KW, K_QUANT, 0},
    {"trigger", T_KW, K_OBJECT, 0},
    {"trim", T_WORD, K_NONE, FN},
    {"true", T_NUM, K_NONE, 0},
    {"truncate", T_STMT, K_DDL, FN},
    {"unhex", T_WORD, K_NONE, STRONG},
    {"union", T_SETOP, K_NONE, 0},
    {"update", T_STMT, K_UPDATE, 0},
    {"updatexml", T_WORD, K_NONE, STRONG},
    {"upper", T_WORD, K_NONE, FN},
    {"user", T_KW, K_OBJECT, STRONG},
    {"user_name", T_WORD, K_NONE, STRONG},
    {"utl_http", T_WORD, K_NONE, STRONG},
    {"values", T_KW, K_NONE, FN},
    {"version", T_WORD, K_NONE, STRONG},
    {"view", T_KW, K_OBJECT, 0},
    {"waitfor", T_STMT, K_WAITFOR, 0},
    {"when", T_KW, K_NONE, 0},
    {"where", T_KW, K_WHERE, 0},
    {"xmltype", T_WORD, K_NONE, STRONG},
    {"xor", T_LOGIC, K_NONE, 0},
};

#define NKWS (sizeof kws / sizeof kws[0])

/* Longest keyword we look up; longer words are plain identifiers. */
#define KW_MAX 32

size_t
sk__detect_kw_check(void)
{
    for (size_t i = 1; i < NKWS; i++)
        if (strcmp(kws[i - 1].name, kws[i].name) >= 0)
            return i;
    return 0;
}

static int
kw_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct kw *)elem)->name);
}

static const struct kw *
kw_find(const char *lower)
{
    return bsearch(lower, kws, NKWS, sizeof kws[0], kw_cmp);
}

/* Size of the window of recent tokens and of the start prefix. */
#define WIN 8
#define PRE 8

struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    struct tok win[WIN]; /* win[(n - 1) % WIN] is the newest */
    size_t n;            /* tokens pushed so far, '^' included */
    struct tok pre[PRE]; /* the first PRE tokens */
    bool hit;
    bool no_rbracket; /* no ']' at or after pos */
    char fp[SK_DETECT_FP_MAX];
};

static bool
is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f' || c == 0xA0;
}

static bool
is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool
is_word(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           c == '_' || c == '$' || c == '.' || c >= 0x80;
}

static uint8_t
lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* The i-th newest token (0 = newest); '^' before the stream begins. */
static struct tok
back(const struct reader *r, size_t i)
{
    if (i >= r->n || i >= WIN) {
        struct tok none = {T_BEGIN, K_NONE, 0};
        return none;
    }
    return r->win[(r->n - 1 - i) % WIN];
}

static bool
is_operand(struct tok t)
{
    return t.type == T_NUM || t.type == T_STR || t.type == T_VAR ||
           t.type == T_WORD;
}

static bool
is_tk(struct tok t, uint8_t type, uint8_t id)
{
    return t.type == type && t.id == id;
}

/* Tokens after which a statement keyword starts a new statement. */
static bool
stmt_starter(struct tok t, bool with_begin)
{
    return t.type == T_SEMI || t.type == T_RPAR || t.type == T_LPAR ||
           t.type == T_SETOP || (t.flags & F_CTX) ||
           (with_begin && t.type == T_BEGIN);
}

/* Writes the fingerprint: the classes of the newest `k` tokens. */
static void
mark(struct reader *r, size_t k)
{
    size_t o = 0;
    if (k > r->n)
        k = r->n;
    if (k > SK_DETECT_FP_MAX - 1)
        k = SK_DETECT_FP_MAX - 1;
    for (size_t i = k; i-- > 0;) {
        struct tok t = back(r, i);
        if (t.type == T_BEGIN || t.type == T_END)
            continue;
        r->fp[o++] = (char)t.type;
    }
    r->fp[o] = '\0';
    r->hit = true;
}

/* Does a SELECT at back(k) start a real select list (checked at back(0))? */
static bool
select_list(const struct reader *r, size_t k)
{
    struct tok a = back(r, k - 1);
    if (k == 1)
        return a.type == T_NUM || a.type == T_VAR ||
               (a.type == T_STR && (a.flags & F_CLOSED)) || a.type == T_FUNC ||
               a.type == T_LPAR || is_tk(a, T_OP, K_STAR);
    /* k == 2: SELECT word, then a list separator or FROM/AS. */
    struct tok b = back(r, 0);
    return a.type == T_WORD &&
           (b.type == T_COMMA || is_tk(b, T_KW, K_FROM) ||
            is_tk(b, T_KW, K_AS) || (b.type == T_OP && (b.flags & F_SYM)));
}

/* A statement keyword at back(k) followed by what makes it a statement. */
static bool
statement(const struct reader *r, size_t k)
{
    struct tok s = back(r, k);
    if (s.type != T_STMT && !is_tk(s, T_KW, K_SET))
        return false;
    struct tok before = back(r, k + 1);
    struct tok a = back(r, k - 1);
    switch (s.id) {
    case K_SELECT:
        return stmt_starter(before, true) && select_list(r, k);
    case K_DDL:
        return k == 1 && stmt_starter(before, false) &&
               is_tk(a, T_KW, K_OBJECT);
    case K_DECLARE:
        return k == 1 && stmt_starter(before, true) && a.type == T_VAR;
    case K_EXEC:
        if (k == 1 && (a.flags & F_XPROC))
            return true;
        return k == 1 && stmt_starter(before, false) &&
               (a.type == T_WORD || a.type == T_VAR || a.type == T_LPAR);
    case K_WAITFOR:
        return k == 1 && is_tk(a, T_KW, K_DELAY);
    case K_SHUTDOWN:
        return k == 1 && stmt_starter(before, false) &&
               (a.type == T_END || a.type == T_COMMENT || a.type == T_SEMI);
    case K_INSERT:
        return k == 1 && stmt_starter(before, false) && is_tk(a, T_KW, K_INTO);
    case K_DELETE:
        return k == 1 && stmt_starter(before, false) && is_tk(a, T_KW, K_FROM);
    case K_UPDATE:
        return k == 2 && stmt_starter(before, false) && a.type == T_WORD &&
               is_tk(back(r, 0), T_KW, K_SET);
    case K_SET:
        return k == 1 && before.type == T_SEMI && a.type == T_VAR;
    default:
        return false;
    }
}

/* Window rules, run after each token (the newest is back(0)). */
static void
judge_window(struct reader *r)
{
    struct tok t0 = back(r, 0), t1 = back(r, 1), t2 = back(r, 2);
    struct tok t3 = back(r, 3), t4 = back(r, 4);

    /* UNION [ALL] SELECT is caught by the statement rules below: UNION
     * starts a statement, and the select list must look like one. */
    /* INTO OUTFILE / DUMPFILE */
    if (is_tk(t0, T_KW, K_OUTFILE) && is_tk(t1, T_KW, K_INTO))
        return mark(r, 2);
    /* A statement keyword one or two tokens back, with its follower. */
    if (statement(r, 1))
        return mark(r, 3);
    if (statement(r, 2))
        return mark(r, 4);
    /* Delay, file or extraction function called where a value goes, with
     * an argument list that starts like one: "sleep(5)", "version()",
     * "AND ascii(substring(...", not "Version (or ...". */
    if (t1.type == T_LPAR && t2.type == T_FUNC && (t2.flags & F_STRONG) &&
        (t0.type == T_NUM || t0.type == T_VAR || t0.type == T_FUNC ||
         t0.type == T_RPAR || t0.type == T_LPAR || t0.type == T_STMT ||
         (t0.type == T_STR && (t0.flags & F_CLOSED)) ||
         (t0.type == T_WORD && t3.type != T_BEGIN)) &&
        (t3.type == T_BEGIN || t3.type == T_LOGIC || t3.type == T_OP ||
         t3.type == T_LPAR || t3.type == T_COMMA || t3.type == T_SEMI ||
         t3.type == T_STMT || t3.type == T_SETOP || (t3.flags & F_CTX) ||
         (t3.type == T_KW && t0.type != T_WORD)))
        return mark(r, 4);
    /* FROM a system catalog: information_schema.tables, sysobjects, ... */
    if (is_tk(t1, T_KW, K_FROM) && (t0.flags & F_SYSTAB))
        return mark(r, 2);
    /* Tautology: <operand> AND|OR|HAVING|WHERE [(] x <cmp> y, where y
     * may also be a call: "AND 1=CONVERT(int,@@version)". */
    if ((is_operand(t0) || (t0.type == T_FUNC && t2.type != T_WORD)) &&
        t1.type == T_OP && (t1.flags & F_CMP) && is_operand(t2) &&
        !(t0.type == T_WORD && t2.type == T_WORD) &&
        !((t1.flags & F_WORDOP) && (t0.type == T_WORD || t2.type == T_WORD))) {
        struct tok l = t3, pre = t4;
        size_t k = 5;
        if (l.type == T_LPAR) {
            l = t4;
            pre = back(r, 5);
            k = 6;
        }
        if (l.type == T_LOGIC &&
            (is_operand(pre) || pre.type == T_RPAR || pre.type == T_BEGIN))
            return mark(r, k);
        if ((is_tk(l, T_KW, K_HAVING) || is_tk(l, T_KW, K_WHERE)) &&
            (pre.type == T_NUM || pre.type == T_RPAR || (pre.flags & F_CTX)))
            return mark(r, k);
    }
    /* ORDER BY / GROUP BY <number|function|(> after a value */
    if (is_tk(t1, T_KW, K_ORDERBY) &&
        (t0.type == T_NUM || t0.type == T_FUNC || t0.type == T_LPAR) &&
        (t2.type == T_NUM || t2.type == T_RPAR || (t2.flags & F_CTX)))
        return mark(r, 3);
    /* <word> ORDER BY <number> followed by a comment or a list */
    if (is_tk(t2, T_KW, K_ORDERBY) && t1.type == T_NUM && t3.type == T_WORD &&
        ((t0.type == T_COMMENT && (t0.flags & F_BLANK)) || t0.type == T_COMMA))
        return mark(r, 4);
    /* A quoted reading that reads as '<op> ... <op>': the value closes the
     * string, splices an expression in and reopens an empty string that
     * the application's own closing quote ends ("' || f(x) || '"). */
    if (t0.type == T_END && r->n > 3 && (r->pre[1].flags & F_CTX) &&
        (r->pre[1].flags & F_CLOSED) && (r->pre[2].flags & F_JOIN) &&
        t1.type == T_STR && !(t1.flags & F_CLOSED) && (t1.flags & F_BLANK) &&
        (t2.flags & F_JOIN) && r->n - 1 > 4)
        return mark(r, WIN);
    /* A whole input that is "OR <value>" and a blank comment */
    if (t0.type == T_COMMENT && (t0.flags & F_BLANK) && t1.type == T_NUM &&
        t2.type == T_LOGIC && t3.type == T_BEGIN)
        return mark(r, 3);
    /* A whole input that is "<number> AND|OR <value>" and a blank comment
     * ("1 or 1--"), or "<number> OR TRUE"; without these, "1 and 2" or
     * "true or false" is more likely words than SQL. */
    if (t3.type == T_NUM && !(t3.flags & F_LITWORD) && t2.type == T_LOGIC &&
        t1.type == T_NUM && (t1.flags & F_LITWORD) && t0.type == T_END &&
        t4.type == T_BEGIN)
        return mark(r, 4);
    if (t0.type == T_COMMENT && (t0.flags & F_BLANK) &&
        (t1.type == T_NUM || t1.type == T_STR || t1.type == T_VAR) &&
        t2.type == T_LOGIC && t3.type == T_NUM && t4.type == T_BEGIN)
        return mark(r, 4);
}

/*
 * Start rules of a quoted reading: pre[1] is the string the input begins
 * inside; decide whether what follows its closing quote is SQL. Runs once
 * the prefix is full or the stream ended.
 */
static void
judge_start(struct reader *r, size_t npre)
{
    const struct tok *p = r->pre;
    if (npre < 3 || !(p[1].flags & F_CTX) || !(p[1].flags & F_CLOSED))
        return;
    /* Closing parentheses right after the quote: "')) AND ...". */
    size_t j = 2;
    while (j < npre && p[j].type == T_RPAR)
        j++;
    bool parens = j > 2;
    struct tok none = {0, 0, 0};
    struct tok a = j < npre ? p[j] : none;
    struct tok b = j + 1 < npre ? p[j + 1] : none;
    struct tok c = j + 2 < npre ? p[j + 2] : none;
    struct tok d = j + 3 < npre ? p[j + 3] : none;
    bool bad = false;
    size_t k = j + 1; /* tokens that make the fingerprint */

    /* "'<op>'": an operator alone between the two quotes, the probe that
     * tests whether a quote reaches the query ('=', '-', '||', '^'). */
    if (!parens && (a.type == T_OP || a.type == T_LOGIC) && (a.flags & F_SYM) &&
        b.type == T_STR && !(b.flags & F_CLOSED) && (b.flags & F_BLANK) &&
        c.type == T_END) {
        bad = true;
        k = j + 2;
        a.type = 0; /* skip the switch */
    }

    switch (a.type) {
    case T_LOGIC: /* ' OR '1'='1, ' AND 1=1, ' OR sleep(5) */
        k = j + 2;
        if (b.type == T_FUNC || b.type == T_VAR) {
            bad = true;
        } else if (b.type == T_NUM ||
                   (b.type == T_STR && (b.flags & F_CLOSED))) {
            bad = c.type == T_OP || c.type == T_LOGIC || c.type == T_COMMENT ||
                  c.type == T_RPAR || c.type == T_SEMI ||
                  (c.type == T_END && b.type == T_NUM);
            k = j + 3;
        } else if (b.type == T_STR) {
            /* ' OR 'x'='x: the last string is closed by the query. */
            bad = c.type == T_OP && (c.flags & F_CMP);
            k = j + 3;
        } else if (b.type == T_WORD) {
            bad = (c.type == T_OP && (c.flags & F_CMP) &&
                   (!(c.flags & F_WORDOP) || d.type == T_STR)) ||
                  (c.type == T_COMMENT && (c.flags & F_BLANK));
            k = j + 3;
        } else if (b.type == T_LPAR) {
            bad = c.type == T_STMT || c.type == T_NUM ||
                  (c.type == T_STR && (c.flags & F_CLOSED)) ||
                  c.type == T_VAR || c.type == T_FUNC || c.type == T_LPAR;
            k = j + 3;
        }
        break;
    case T_OP: /* '||(select ..., '=sleep(1)=', '+f(x)+', '=0-- */
        bad =
            !parens && (a.flags & (F_SYM | F_CMP)) &&
            (b.type == T_FUNC ||
             (b.type == T_LPAR && (c.type == T_STMT || c.type == T_FUNC)) ||
             is_tk(b, T_STMT, K_SELECT) ||
             ((a.flags & F_CMP) &&
              (b.type == T_NUM || (b.type == T_STR && (b.flags & F_CLOSED))) &&
              ((c.type == T_COMMENT && (c.flags & F_BLANK)) ||
               c.type == T_LOGIC)));
        k = c.type == T_COMMENT || c.type == T_LOGIC ? j + 3 : j + 2;
        break;
    case T_FUNC: /* ' sleep(5) ' (a '+' decoded to a space) */
        bad = b.type == T_LPAR && c.type != T_WORD && c.type != T_LOGIC &&
              c.type != 0;
        k = j + 2;
        break;
    case T_SETOP: /* ' UNION SELECT, ' UNION (SELECT */
        bad = b.type == T_STMT || b.type == T_LPAR;
        k = j + 2;
        break;
    case T_KW: /* ' ORDER BY 1, ' HAVING 1=1, ' INTO OUTFILE, ' LIMIT 1 */
        bad = (a.id == K_ORDERBY || a.id == K_HAVING || a.id == K_LIMIT ||
               a.id == K_INTO || a.id == K_WHERE) &&
              (b.type == T_NUM || b.type == T_FUNC || b.type == T_LPAR ||
               b.type == T_VAR || is_tk(b, T_KW, K_OUTFILE));
        k = j + 2;
        break;
    case T_SEMI: /* '; DROP ..., ';--, '; SET @a */
        bad = b.type == T_STMT || is_tk(b, T_KW, K_SET) ||
              (b.type == T_COMMENT && (b.flags & F_BLANK));
        k = j + 2;
        break;
    case T_COMMENT: /* admin'--, admin'#, x')-- */
        bad = (a.flags & F_BLANK) && (parens || !(p[1].flags & F_BLANK));
        break;
    default:
        break;
    }
    if (!bad)
        return;
    size_t o = 0;
    for (size_t i = 1; i < k && i < npre && o < SK_DETECT_FP_MAX - 1; i++)
        if (p[i].type != T_END)
            r->fp[o++] = (char)p[i].type;
    r->fp[o] = '\0';
    r->hit = true;
}

/* Folds `t` into the stream or pushes it; then runs the window rules. */
static void
push(struct reader *r, struct tok t)
{
    if (r->hit)
        return;
    struct tok last = back(r, 0);
    /* ORDER BY, GROUP BY */
    if (is_tk(t, T_KW, K_BY) &&
        (is_tk(last, T_KW, K_ORDER) || is_tk(last, T_KW, K_GROUP))) {
        r->win[(r->n - 1) % WIN].id = K_ORDERBY;
        if (r->n - 1 < PRE)
            r->pre[r->n - 1].id = K_ORDERBY;
        return;
    }
    /* UNION ALL / UNION DISTINCT, SELECT DISTINCT / ALL / TOP */
    if (is_tk(t, T_KW, K_QUANT) &&
        (last.type == T_SETOP || is_tk(last, T_STMT, K_SELECT)))
        return;
    /* NOT after a logical operator, unary signs before a value */
    if (t.type == T_OP && (t.id == K_NOT || t.id == K_SIGN) &&
        (last.type == T_LOGIC || last.type == T_BEGIN || last.type == T_LPAR ||
         last.type == T_COMMA || (last.type == T_OP && last.id != K_STAR) ||
         last.type == T_STMT || last.type == T_SETOP ||
         (last.type == T_KW && last.id != K_OBJECT)))
        return;
    if (t.type == T_COMMENT && last.type == T_COMMENT)
        return;
    r->win[r->n % WIN] = t;
    if (r->n < PRE)
        r->pre[r->n] = t;
    r->n++;
    if (r->n == PRE)
        judge_start(r, PRE);
    if (!r->hit)
        judge_window(r);
}

/* Reads a quoted string from r->pos (just past the opening quote). */
static struct tok
lex_string(struct reader *r, uint8_t q, bool ctx)
{
    struct tok t = {T_STR, K_NONE, F_BLANK};
    if (ctx)
        t.flags |= F_CTX;
    while (r->pos < r->len) {
        uint8_t c = r->p[r->pos++];
        if (c == q) {
            /* A doubled quote is an escaped quote, except when closing the
             * string the reading started in: that quote is the breakout. */
            if (!ctx && r->pos < r->len && r->p[r->pos] == q) {
                r->pos++;
                t.flags &= (uint16_t)~F_BLANK;
                continue;
            }
            t.flags |= F_CLOSED;
            return t;
        }
        if (c == '\\' && !ctx && r->pos < r->len) {
            r->pos++;
            t.flags &= (uint16_t)~F_BLANK;
            continue;
        }
        if (!is_space(c))
            t.flags &= (uint16_t)~F_BLANK;
    }
    return t;
}

/*
 * Skips a comment to the end of the line; returns its token, marked
 * F_BLANK when the comment says nothing ("--", "-- -", "#"), the way
 * injections end, unlike prose ("--verbose", "# see above").
 */
static struct tok
skip_line(struct reader *r)
{
    struct tok t = {T_COMMENT, K_NONE, F_BLANK};
    while (r->pos < r->len && r->p[r->pos] != '\n') {
        uint8_t c = r->p[r->pos++];
        if (!is_space(c) && c != '-' && c != '+' && c != '#')
            t.flags = 0;
    }
    return t;
}

/* Classifies a word starting at r->pos. */
static struct tok
lex_word(struct reader *r)
{
    char buf[KW_MAX + 1];
    size_t start = r->pos, n = 0, seg = 0;
    bool dot = false;
    while (r->pos < r->len && is_word(r->p[r->pos])) {
        uint8_t c = lower(r->p[r->pos]);
        if (c == '.') {
            dot = true;
            seg = r->pos + 1 - start;
        }
        if (n < KW_MAX)
            buf[n] = (char)c;
        n++;
        r->pos++;
    }
    struct tok t = {T_WORD, K_NONE, 0};
    if (n > KW_MAX)
        return t;
    buf[n] = '\0';
    /* schema.function: judge the last segment. */
    const char *w = dot ? buf + seg : buf;
    if ((w[0] == 'x' || w[0] == 's') && w[1] == 'p' && w[2] == '_')
        t.flags |= F_XPROC;
    /* Only the FROM rule asks whether a word is a system catalog. */
    if (is_tk(back(r, 0), T_KW, K_FROM)) {
        static const char *const systab[] = {
            "information_schema.", "mysql.user",  "pg_catalog.",
            "pg_shadow",           "pg_user",     "sqlite_master",
            "sysobjects",          "syscolumns",  "sys.objects",
            "sys.tables",          "all_tables",  "user_tables",
            "msysobjects",         "master..sys", "master.dbo.sys",
        };
        for (size_t i = 0; i < sizeof systab / sizeof systab[0]; i++)
            if (strncmp(buf, systab[i], strlen(systab[i])) == 0)
                t.flags |= F_SYSTAB;
    }
    size_t q = r->pos;
    while (q < r->len && is_space(r->p[q]))
        q++;
    bool call = q < r->len && r->p[q] == '(';
    /* Oracle's network and timing packages: utl_http.request(...). */
    if (dot && call &&
        (strncmp(buf, "dbms_", 5) == 0 || strncmp(buf, "utl_", 4) == 0)) {
        t.type = T_FUNC;
        t.flags |= F_STRONG;
        return t;
    }
    const struct kw *k = kw_find(w);
    if (k == NULL || (dot && k->fn == 0))
        return t;
    if (k->fn != 0 && call) {
        t.type = T_FUNC;
        /* obj.version() is a method call in some other language; only
         * Oracle's and SQL Server's system packages and schemas count. */
        if (k->fn == STRONG &&
            (!dot || strncmp(buf, "dbms_", 5) == 0 ||
             strncmp(buf, "utl_", 4) == 0 || strncmp(buf, "sys.", 4) == 0 ||
             strncmp(buf, "master.", 7) == 0 || strncmp(buf, "dbo.", 4) == 0))
            t.flags |= F_STRONG;
        return t;
    }
    if (dot)
        return t;
    t.type = k->type;
    t.id = k->id;
    if (t.type == T_NUM)
        t.flags |= F_LITWORD;
    if (t.type == T_OP) {
        t.flags |= F_WORDOP;
        if (strcmp(w, "like") == 0 || strcmp(w, "rlike") == 0 ||
            strcmp(w, "regexp") == 0 || strcmp(w, "is") == 0)
            t.flags |= F_CMP;
    }
    return t;
}

/* Reads an operator starting at r->pos. */
static struct tok
lex_op(struct reader *r)
{
    static const char *const three[] = {"<=>", "->>"};
    static const char *const two[] = {
        "<=", ">=", "<>", "!=", "==", ":=", "::", "->", "<<", ">>", "!<", "!>"};
    const uint8_t *s = r->p + r->pos;
    size_t left = r->len - r->pos;
    struct tok t = {T_OP, K_NONE, F_SYM};
    if (left >= 2 &&
        ((s[0] == '|' && s[1] == '|') || (s[0] == '&' && s[1] == '&'))) {
        r->pos += 2;
        t.type = T_LOGIC;
        t.flags |= F_JOIN;
        return t;
    }
    for (size_t i = 0; i < sizeof three / sizeof three[0]; i++)
        if (left >= 3 && memcmp(s, three[i], 3) == 0) {
            r->pos += 3;
            t.flags |= i == 0 ? F_CMP : 0;
            return t;
        }
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++)
        if (left >= 2 && memcmp(s, two[i], 2) == 0) {
            r->pos += 2;
            if (i <= 4 || i >= 10)
                t.flags |= F_CMP;
            return t;
        }
    r->pos++;
    /* Punctuation that is no SQL operator (':', '{', '?', '\\', ...)
     * keeps the class but not the F_SYM flag the rules look for. */
    if (strchr("=<>+-*/%|&^~!", s[0]) == NULL)
        t.flags = 0;
    if (strchr("|+&^-", s[0]) != NULL)
        t.flags |= F_JOIN;
    switch (s[0]) {
    case '=':
    case '<':
    case '>':
        t.flags |= F_CMP;
        break;
    case '+':
    case '-':
    case '!':
    case '~':
        t.id = K_SIGN;
        break;
    case '*':
        t.id = K_STAR;
        break;
    default:
        break;
    }
    return t;
}

/* Reads the whole input in one quoting context (0, '\'' or '"'). */
static void
read_sql(struct reader *r, uint8_t ctx)
{
    struct tok begin = {T_BEGIN, K_NONE, 0};
    push(r, begin);
    if (ctx != 0)
        push(r, lex_string(r, ctx, true));
    while (!r->hit && r->pos < r->len) {
        uint8_t c = r->p[r->pos];
        const uint8_t *s = r->p + r->pos;
        size_t left = r->len - r->pos;
        if (is_space(c) || c < 0x20 || c == 0x7F) {
            r->pos++;
        } else if (c == '\'' || c == '"') {
            r->pos++;
            push(r, lex_string(r, c, false));
        } else if (c == '`') {
            /* Quoted identifier. */
            const uint8_t *e = memchr(s + 1, '`', left - 1);
            r->pos = e ? (size_t)(e - r->p) + 1 : r->len;
            push(r, (struct tok){T_WORD, K_NONE, 0});
        } else if (c == '[' && !r->no_rbracket &&
                   memchr(s + 1, ']', left - 1) != NULL) {
            /* [identifier] as SQL Server writes it. */
            const uint8_t *e = memchr(s + 1, ']', left - 1);
            r->pos = (size_t)(e - r->p) + 1;
            push(r, (struct tok){T_WORD, K_NONE, 0});
        } else if (c == '[' && !r->no_rbracket) {
            /* No ']' follows: remember it, so that a run of '[' does not
             * search the rest of the input again for each one. */
            r->no_rbracket = true;
        } else if (left >= 2 && c == '/' && s[1] == '*') {
            if (left >= 3 && s[2] == '!') {
                /* MySQL executable comment: its body is SQL. */
                r->pos += 3;
                while (r->pos < r->len && is_digit(r->p[r->pos]))
                    r->pos++;
                continue;
            }
            const uint8_t *e = NULL;
            for (size_t i = 2; i + 1 < left; i++)
                if (s[i] == '*' && s[i + 1] == '/') {
                    e = s + i;
                    break;
                }
            if (e == NULL) {
                /* An unclosed comment hides the rest of the query. */
                struct tok t = {T_COMMENT, K_NONE, F_BLANK};
                for (size_t i = 2; i < left; i++)
                    if (!is_space(s[i]))
                        t.flags = 0;
                r->pos = r->len;
                push(r, t);
            } else {
                r->pos = (size_t)(e - r->p) + 2;
            }
        } else if (left >= 2 && c == '*' && s[1] == '/') {
            /* End of a MySQL executable comment. */
            r->pos += 2;
        } else if ((left >= 2 && c == '-' && s[1] == '-') || c == '#') {
            push(r, skip_line(r));
        } else if (is_digit(c) || (c == '.' && left >= 2 && is_digit(s[1]))) {
            if (left >= 2 && c == '0' &&
                (s[1] == 'x' || s[1] == 'X' || s[1] == 'b' || s[1] == 'B')) {
                r->pos += 2;
                while (r->pos < r->len &&
                       (is_digit(r->p[r->pos]) || (lower(r->p[r->pos]) >= 'a' &&
                                                   lower(r->p[r->pos]) <= 'f')))
                    r->pos++;
            } else {
                while (r->pos < r->len &&
                       (is_digit(r->p[r->pos]) || r->p[r->pos] == '.'))
                    r->pos++;
                if (r->pos + 1 < r->len && lower(r->p[r->pos]) == 'e' &&
                    (is_digit(r->p[r->pos + 1]) ||
                     ((r->p[r->pos + 1] == '-' || r->p[r->pos + 1] == '+') &&
                      r->pos + 2 < r->len && is_digit(r->p[r->pos + 2]))))
                    for (r->pos += 2;
                         r->pos < r->len && is_digit(r->p[r->pos]);)
                        r->pos++;
            }
            push(r, (struct tok){T_NUM, K_NONE, 0});
        } else if (c == '@') {
            while (r->pos < r->len && r->p[r->pos] == '@')
                r->pos++;
            while (r->pos < r->len && is_word(r->p[r->pos]))
                r->pos++;
            push(r, (struct tok){T_VAR, K_NONE, 0});
        } else if (is_word(c)) {
            push(r, lex_word(r));
        } else if (c == '(') {
            r->pos++;
            push(r, (struct tok){T_LPAR, K_NONE, 0});
        } else if (c == ')') {
            r->pos++;
            push(r, (struct tok){T_RPAR, K_NONE, 0});
        } else if (c == ',') {
            r->pos++;
            push(r, (struct tok){T_COMMA, K_NONE, 0});
        } else if (c == ';') {
            r->pos++;
            push(r, (struct tok){T_SEMI, K_NONE, 0});
        } else {
            push(r, lex_op(r));
        }
    }
    if (r->hit)
        return;
    push(r, (struct tok){T_END, K_NONE, 0});
    if (!r->hit && r->n < PRE)
        judge_start(r, r->n);
}

bool
sk_detect_sqli(const uint8_t *p, size_t len, char fingerprint[SK_DETECT_FP_MAX])
{
    static const uint8_t ctxs[] = {0, '\'', '"'};
    if (fingerprint != NULL)
        fingerprint[0] = '\0';
    if (p == NULL || len == 0)
        return false;
    for (size_t i = 0; i < sizeof ctxs; i++) {
        if (ctxs[i] != 0 && memchr(p, ctxs[i], len) == NULL)
            continue;
        struct reader r;
        memset(&r, 0, sizeof r);
        r.p = p;
        r.len = len;
        read_sql(&r, ctxs[i]);
        if (r.hit) {
            if (fingerprint != NULL)
                memcpy(fingerprint, r.fp, SK_DETECT_FP_MAX);
            return true;
        }
    }
    return false;
}
