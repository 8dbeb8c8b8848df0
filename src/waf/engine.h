/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule engine's internal contract: the compiled program (rules,
 * targets, actions, macros) built by compile.c from the SecLang AST and run
 * by txn.c. The public face is include/sekimori/waf.h; nothing here is
 * visible to connectors.
 *
 * Lifetimes: everything reachable from struct sk_waf_rules lives in its
 * config arena and is read-only once compiled, except the persistent
 * collection store (IP, GLOBAL), which has its own lock. A transaction
 * allocates only from its own arena.
 */
#ifndef SK_WAF_ENGINE_H
#define SK_WAF_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "sekimori/waf.h"
#include "operator/operator.h"
#include "seclang/seclang.h"
#include "transform/transform.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/str.h"

#define SK_PHASES 5 /* 1..5; arrays are indexed by phase - 1 */

/* Variables ------------------------------------------------------------ */

enum sk_var_id {
    SK_V_ARGS = 0,
    SK_V_ARGS_COMBINED_SIZE,
    SK_V_ARGS_GET,
    SK_V_ARGS_GET_NAMES,
    SK_V_ARGS_NAMES,
    SK_V_ARGS_POST,
    SK_V_ARGS_POST_NAMES,
    SK_V_AUTH_TYPE,
    SK_V_DURATION,
    SK_V_ENV,
    SK_V_FILES,
    SK_V_FILES_COMBINED_SIZE,
    SK_V_FILES_NAMES,
    SK_V_FILES_SIZES,
    SK_V_FULL_REQUEST,
    SK_V_FULL_REQUEST_LENGTH,
    SK_V_GEO,
    SK_V_GLOBAL,
    SK_V_HIGHEST_SEVERITY,
    SK_V_INBOUND_DATA_ERROR,
    SK_V_IP,
    SK_V_MATCHED_VAR,
    SK_V_MATCHED_VARS,
    SK_V_MATCHED_VARS_NAMES,
    SK_V_MATCHED_VAR_NAME,
    SK_V_MULTIPART_BOUNDARY_QUOTED,
    SK_V_MULTIPART_BOUNDARY_WHITESPACE,
    SK_V_MULTIPART_CRLF_LF_LINES,
    SK_V_MULTIPART_DATA_AFTER,
    SK_V_MULTIPART_DATA_BEFORE,
    SK_V_MULTIPART_FILENAME,
    SK_V_MULTIPART_FILE_LIMIT_EXCEEDED,
    SK_V_MULTIPART_HEADER_FOLDING,
    SK_V_MULTIPART_INVALID_HEADER_FOLDING,
    SK_V_MULTIPART_INVALID_PART,
    SK_V_MULTIPART_INVALID_QUOTING,
    SK_V_MULTIPART_LF_LINE,
    SK_V_MULTIPART_MISSING_SEMICOLON,
    SK_V_MULTIPART_NAME,
    SK_V_MULTIPART_PART_HEADERS,
    SK_V_MULTIPART_STRICT_ERROR,
    SK_V_MULTIPART_UNMATCHED_BOUNDARY,
    SK_V_OUTBOUND_DATA_ERROR,
    SK_V_PATH_INFO,
    SK_V_QUERY_STRING,
    SK_V_REMOTE_ADDR,
    SK_V_REMOTE_HOST,
    SK_V_REMOTE_PORT,
    SK_V_REQBODY_ERROR,
    SK_V_REQBODY_ERROR_MSG,
    SK_V_REQBODY_PROCESSOR,
    SK_V_REQBODY_PROCESSOR_ERROR,
    SK_V_REQBODY_PROCESSOR_ERROR_MSG,
    SK_V_REQUEST_BASENAME,
    SK_V_REQUEST_BODY,
    SK_V_REQUEST_BODY_LENGTH,
    SK_V_REQUEST_COOKIES,
    SK_V_REQUEST_COOKIES_NAMES,
    SK_V_REQUEST_FILENAME,
    SK_V_REQUEST_HEADERS,
    SK_V_REQUEST_HEADERS_NAMES,
    SK_V_REQUEST_LINE,
    SK_V_REQUEST_METHOD,
    SK_V_REQUEST_PROTOCOL,
    SK_V_REQUEST_URI,
    SK_V_REQUEST_URI_RAW,
    SK_V_RESOURCE,
    SK_V_RESPONSE_BODY,
    SK_V_RESPONSE_CONTENT_LENGTH,
    SK_V_RESPONSE_CONTENT_TYPE,
    SK_V_RESPONSE_HEADERS,
    SK_V_RESPONSE_HEADERS_NAMES,
    SK_V_RESPONSE_PROTOCOL,
    SK_V_RESPONSE_STATUS,
    SK_V_RULE,
    SK_V_SERVER_ADDR,
    SK_V_SERVER_NAME,
    SK_V_SERVER_PORT,
    SK_V_SESSION,
    SK_V_SESSIONID,
    SK_V_STATUS_LINE,
    SK_V_TIME,
    SK_V_TIME_DAY,
    SK_V_TIME_EPOCH,
    SK_V_TIME_HOUR,
    SK_V_TIME_MIN,
    SK_V_TIME_MON,
    SK_V_TIME_SEC,
    SK_V_TIME_WDAY,
    SK_V_TIME_YEAR,
    SK_V_TX,
    SK_V_UNIQUE_ID,
    SK_V_URLENCODED_ERROR,
    SK_V_USER,
    SK_V_USERID,
    SK_V_WEBSERVER_ERROR_LOG,
    SK_V_XML,
    SK_V__COUNT
};

/* How a variable is stored in a transaction. */
enum sk_var_kind {
    SK_VK_SCALAR = 0,     /* one value in txn->scalars[id] */
    SK_VK_COLLECTION = 1, /* key/value entries in txn->colls[id] */
    SK_VK_NAMES = 2,      /* the names of another collection */
    SK_VK_COMPUTED = 3,   /* computed when read (time, duration, ...) */
    SK_VK_XML = 4,        /* XPath over the parsed XML body */
    SK_VK_UNSUPPORTED = 5 /* known to ModSecurity, refused by us */
};

struct sk_var_def {
    const char *name;
    enum sk_var_id id;
    enum sk_var_kind kind;
    enum sk_var_id base; /* for SK_VK_NAMES: the collection named */
    const char *doc;
};

/* Looks a variable up by name (ASCII case-insensitive); NULL if unknown. */
const struct sk_var_def *sk__var_find(struct sk_str name);
const struct sk_var_def *sk__var_table(size_t *count);
const struct sk_var_def *sk__var_def(enum sk_var_id id);

/* A target of an op_memo link as nm_link_skip (txn.c) reads it. */
struct sk_nm_tgt {
    uint8_t var;   /* the variable (the names' base variable for _NAMES) */
    uint8_t flags; /* SK_NM_* */
    uint8_t tgt;   /* its index in the link's targets */
    uint8_t batch; /* its sum's index (sk_waf_rules nnm_batches) */
};

enum {
    SK_NM_NAMES = 1,  /* a collection's names */
    SK_NM_SCALAR = 2, /* a scalar variable */
    SK_NM_XML = 4,    /* XML: values only with an XML body */
    SK_NM_NARROW = 8, /* a selection or exclusions: some of the values */
};
#define SK_NM_NEVER 0xff

/* A compiled rule target. */
struct sk_target {
    const struct sk_var_def *def;
    struct sk_str key;  /* literal selector, empty when none */
    uint32_t key_hash;  /* case-insensitive hash of key */
    pcre2_code *key_re; /* regex selector, or NULL */
    /* A regex selector that is a plain literal (/__utm/, /^MSC_/): the
     * literal, lower-cased, searched ASCII case-insensitively instead of
     * running the regex; empty when the regex must run. */
    struct sk_str key_lit;
    bool key_lit_anchored; /* the literal must start the name (^) */
    /* Otherwise, literals one of which every name the regex matches
     * holds (prefilter.h; ASCII case ignored), tried first. */
    struct sk_str *key_req;
    size_t nkey_req;
    char *key_text; /* the selector as written, for messages */
    bool count;
    bool exclude;
    /* For a pf_bulk link: this target's variable in the link's batch
     * (struct sk_pf_chain vars), SK_PF_VAR_XML, SK_PF_VAR_KEY, or
     * SK_PF_VAR_NONE when the link must read its values one by one. */
    int pf_var;
    /* The rule also has an exclusion (!VAR...) of this target's variable,
     * so its values must be checked against the rule's exclusions: the
     * regex ones by their bits (sel_bit), the others one by one. */
    bool has_exclusions;
    bool excl_other;
    uint64_t excl_sel;
    /* A regex selector's bit in struct sk_entry's remembered results
     * (one per distinct regex of the rule set, the first SK_SEL_BITS);
     * SK_SEL_NONE: not remembered. */
    uint8_t sel_bit;
};

#define SK_SEL_BITS 64
#define SK_SEL_NONE 0xff

/* Macros ----------------------------------------------------------------- */

/* A string with %{VAR.key} references, split once at load time. */
struct sk_macro_part {
    struct sk_str lit;            /* literal text when def is NULL */
    const struct sk_var_def *def; /* variable reference */
    struct sk_str key;            /* key for collections, may be empty */
    uint32_t key_hash;            /* of key, as sk__name_hash() */
    int rule_field;               /* for RULE.x: which field */
};

struct sk_macro {
    struct sk_macro_part *parts;
    size_t nparts;
    struct sk_str text; /* the source text, and the value when constant */
    bool constant;
    uint32_t hash; /* constant: sk__name_hash(text), for setvar names */
};

/* Actions ---------------------------------------------------------------- */

enum sk_disrupt {
    SK_D_NONE = 0, /* not given: inherit from SecDefaultAction */
    SK_D_PASS,
    SK_D_BLOCK,
    SK_D_DENY,
    SK_D_DROP,
    SK_D_REDIRECT,
    SK_D_ALLOW,
};

enum sk_ractkind {
    SK_RA_SETVAR = 0,
    SK_RA_CTL,
    SK_RA_INITCOL,
    SK_RA_EXPIREVAR,
    SK_RA_SETENV,
    SK_RA_SETUID,
    SK_RA_SETSID,
    SK_RA_DEPRECATEVAR,
};

enum sk_setvar_op {
    SK_SV_SET = 0,
    SK_SV_ADD,
    SK_SV_SUB,
    SK_SV_DELETE,
};

enum sk_ctl {
    SK_CTL_AUDIT_ENGINE = 0,
    SK_CTL_AUDIT_LOG_PARTS,
    SK_CTL_FORCE_REQBODY_VAR,
    SK_CTL_REQBODY_ACCESS,
    SK_CTL_REQBODY_LIMIT,
    SK_CTL_REQBODY_PROCESSOR,
    SK_CTL_RULE_ENGINE,
    SK_CTL_RULE_REMOVE_BY_ID,
    SK_CTL_RULE_REMOVE_BY_MSG,
    SK_CTL_RULE_REMOVE_BY_TAG,
    SK_CTL_RULE_REMOVE_TARGET_BY_ID,
    SK_CTL_RULE_REMOVE_TARGET_BY_MSG,
    SK_CTL_RULE_REMOVE_TARGET_BY_TAG,
};

enum sk_engine_mode {
    SK_ENGINE_OFF = 0,
    SK_ENGINE_ON = 1,
    SK_ENGINE_DETECTION_ONLY = 2,
};

enum sk_bodyproc {
    SK_BP_NONE = 0,
    SK_BP_URLENCODED,
    SK_BP_MULTIPART,
    SK_BP_JSON,
    SK_BP_XML,
};

/* An id range, for SecRuleRemoveById and ctl:ruleRemoveById. */
struct sk_id_range {
    uint64_t lo, hi;
};

/* A runtime (non-disruptive) action, run when a rule matches. */
struct sk_ract {
    enum sk_ractkind kind;
    struct sk_loc loc;
    /* setvar / expirevar / initcol / setenv */
    enum sk_setvar_op op;
    enum sk_var_id coll;  /* TX, IP, GLOBAL, SESSION, USER, RESOURCE */
    struct sk_macro name; /* the variable name within the collection */
    struct sk_macro value;
    /* ctl */
    enum sk_ctl ctl;
    int ival;                   /* engine mode, body processor... */
    struct sk_id_range *ranges; /* ruleRemoveById / TargetById */
    size_t nranges;
    char *text;                /* tag/msg argument */
    pcre2_code *text_re;       /* ruleRemoveByTag regex */
    struct sk_target *targets; /* ruleRemoveTarget*: what to drop */
    size_t ntargets;
};

/* Rules ------------------------------------------------------------------ */

struct sk_rule {
    uint64_t id; /* 0 for chain links other than the first */
    int phase;   /* 1..5 */
    struct sk_loc loc;
    bool is_marker;     /* SecMarker */
    bool unconditional; /* SecAction: no targets, always matches */
    char *marker;       /* SecMarker name */

    struct sk_target *targets;
    size_t ntargets;
    bool has_exclusions; /* some target is a !exclusion */
    struct sk_op *op;
    char *op_name;
    char *op_arg;
    bool op_negated;
    struct sk_macro op_macro; /* for dynamic operator arguments */
    bool op_dynamic;

    const struct sk_transform_def **tfns;
    size_t ntfns;
    bool tfn_none; /* t:none given (drop the defaults) */
    bool multi_match;
    bool capture;

    struct sk_rule *chain;   /* next link, NULL at the end */
    struct sk_rule *starter; /* the first link (itself for a starter) */
    bool chained;            /* `chain` action given */

    /* Metadata and disruptive action: meaningful on the starter. */
    enum sk_disrupt disrupt;
    int status;
    struct sk_macro redirect;
    int log;      /* -1 unset, 0 nolog, 1 log */
    int auditlog; /* -1 unset, 0, 1 */
    struct sk_macro msg;
    struct sk_macro logdata;
    bool has_msg, has_logdata;
    int severity; /* -1 unset */
    char **tags;
    size_t ntags;
    char *ver, *rev;
    int maturity, accuracy;
    int paranoia_level; /* from tag paranoia-level/N */

    unsigned skip;    /* skip:N */
    char *skip_after; /* skipAfter:MARKER */
    size_t skip_to;   /* its marker's index in the phase's program */

    struct sk_ract *racts; /* setvar, ctl, ... in order */
    size_t nracts;
    bool removed; /* SecRuleRemoveBy* at load time */
    /* Set when the link needs a feature we refuse (@rbl, @geoLookup, GEO):
     * the rule loads, but the configuration must not enable it (checked at
     * load time) and reaching it at run time fails closed. */
    const char *unavailable;
    /* Regex prefilter (prefilter.h): the group of rules sharing this
     * link's transformation chain, and this link's id in it. */
    const struct sk_pf_group *pf;
    unsigned pf_id;
    /* The prefilter can rule the whole link out before its values are
     * read one by one (txn.c, pf_link_may_match): a plain, not negated
     * operator whose targets are all collections, scalars or XML. */
    bool pf_bulk;
    unsigned pf_chain; /* pf_bulk: index in sk_waf_rules.pf_chains */
    /* Whether a value's "no match" may be remembered across transactions
     * (memo.h): a static argument and an operator that depends on the
     * value alone and has no side effects. */
    bool op_memo;
    unsigned memo_idx; /* op_memo: its bit in struct sk_memo_val */
    /* op_memo: the targets as the memo's per-variable sums see them
     * (txn.c, nm_link_skip), without reading the targets themselves;
     * nnm == SK_NM_NEVER when some target has no such sum (a count, TX
     * and the other variables rules write). */
    const struct sk_nm_tgt *nm;
    uint8_t nnm;
    /* Evaluated at load time (fold.c): not run by transactions that
     * start from the folded TX. */
    bool folded;
};

/* Variables that rules change as they run (TX, IP, MATCHED_VAR...):
 * their values are read one at a time, never summed up in advance. */
bool sk__var_volatile(enum sk_var_id id);

#define SK_PF_VAR_NONE (-1)
#define SK_PF_VAR_XML (-2)
#define SK_PF_VAR_KEY (-3) /* a literal selector: its entries, one by one */

/*
 * The variables that the pf_bulk links of one transformation chain read:
 * a transaction gathers the prefilter hits of all their values under the
 * chain (txn.c, batch_get) to rule those links out.
 */
struct sk_pf_var {
    enum sk_var_id id; /* the collection (for names: the named one) */
    bool names;        /* the names of collection `id` */
    bool scalar;
};
struct sk_pf_chain {
    const void *chain; /* interned tfns array, NULL: no transformation */
    struct sk_pf_var *vars;
    size_t nvars, capvars;
    const struct sk_pf_group *group; /* the literal database it scans */
    /* The group's links for which a value without any of their literals
     * is a value they do not match (op_memo, not negated): their pf_id
     * and memo bit (memo.h). */
    struct sk_pf_memo_link {
        unsigned pf_id, memo_idx;
    } * memo_links;
    size_t nmemo_links, capmemo_links;
};

/* A phase's program: rule starters and markers in order. */
struct sk_phase_prog {
    struct sk_rule **rules;
    size_t nrules;
    /* The rules a transaction that starts from the folded TX runs: not
     * markers, not folded (fold.c, sk__waf_live), each with its index in
     * `rules`; next_live[i] is the first of them at index i or later in
     * `rules` (nrules + 2 entries), where a skip goes on. */
    struct sk_rule **live;
    uint32_t *live_at;
    uint32_t *next_live;
    size_t nlive;
};

/*
 * A Vectorscan literal database: the required literals of the prefiltered
 * @rx links. The compiler builds one for all links, whatever their
 * transformation chain: the hits are a property of the value scanned, so
 * a value that several chains leave unchanged is scanned once.
 */
struct sk_pf_group {
    const void *chain; /* the links' interned tfns array, NULL: any */
    struct hs_database *db;
    unsigned nrules;
};

/* Persistent collections (IP, GLOBAL, ...), in memory for now. */
struct sk_pstore;

struct sk_waf_rules {
    struct sk_arena *arena; /* the config arena */
    uint64_t serial;        /* unique per rule set in the process (memo.h) */
    struct sk_diag diag;
    struct sk_ast ast;
    bool compiled;
    bool failed;

    struct sk_phase_prog phases[SK_PHASES];
    struct sk_rule **all; /* every starter, in order */
    size_t nall, capall;

    /* Folding (fold.c): the TX the folded rules leave (struct sk_entry,
     * txn.h, with their index as struct sk_coll keeps it), and how many
     * rules are folded. */
    void *fold_tx;
    size_t nfold_tx;
    /* The regex selectors with a bit (struct sk_target sel_bit): one
     * target of each, in bit order. */
    const struct sk_target *sel_tgt[SK_SEL_BITS];
    size_t nsel;
    uint32_t *fold_idx;
    uint16_t fold_tx_digits; /* which of TX:0-9 fold_tx holds */
    size_t fold_idx_cap;
    size_t nfolded;

    /* Settings */
    enum sk_engine_mode engine;
    bool reqbody_access;
    bool resbody_access;
    uint64_t reqbody_limit;
    uint64_t reqbody_nofiles_limit;
    uint64_t reqbody_inmemory_limit;
    bool reqbody_limit_reject; /* SecRequestBodyLimitAction Reject */
    uint64_t resbody_limit;
    bool resbody_limit_reject;
    char **resbody_mime;
    size_t nresbody_mime;
    unsigned json_depth_limit;
    char arg_separator;
    int cookie_format;
    uint32_t pcre_match_limit;
    uint32_t pcre_depth_limit;
    unsigned collection_timeout;
    char *component_signature;
    int audit_engine; /* 0 Off, 1 On, 2 RelevantOnly */
    char *audit_parts;
    char *audit_relevant_status;
    void *audit_status_re; /* pcre2_code of audit_relevant_status */
    const char *basedir;   /* of the file being compiled, for data files */

    /* SecDefaultAction per phase (its actions as a rule template). */
    struct sk_rule defaults[SK_PHASES];
    bool has_default[SK_PHASES];

    struct sk_pstore *store;
    bool uses_full_request; /* some rule reads FULL_REQUEST(_LENGTH) */

    /* Regex prefilter groups and the scratch prototype for them. */
    struct sk_pf_group *pf_groups;
    size_t npf_groups;
    struct hs_scratch *pf_proto;
    struct sk_pf_chain *pf_chains;
    size_t npf_chains;
    size_t nmemo_links; /* links with op_memo */
    /* The memo's per-variable sums the links read (struct sk_nm_tgt
     * batch), numbered at load time; by variable and names (0: none). */
    uint8_t nm_batch_of[2 * SK_V__COUNT];
    size_t nnm_batches;
    size_t pf_rules; /* links with a prefilter, for reports */

    /* Selector regexes by pattern, so that equal patterns share code. */
    struct sk_interned_re {
        char *pattern;
        uint32_t flags;
        pcre2_code *code;
    } * res;
    size_t nres, capres;
};

/* Compiles the collected AST. Fills r->diag; returns 0 or -SK_EPARSE. */
int sk__waf_compile(struct sk_waf_rules *r);

/*
 * Parses a macro string into parts, reporting unknown variables into the
 * rules' diagnostics. The result lives in the config arena.
 */
int sk__macro_compile(struct sk_waf_rules *r, const char *text,
                      const struct sk_loc *loc, struct sk_macro *m);

/* Compiles a variable list (targets) from the AST. */
int sk__targets_compile(struct sk_waf_rules *r, const struct sk_ast_var *vars,
                        size_t nvars, struct sk_target **out, size_t *n);

/* Persistent store: creates, frees, loads and saves one collection. */
struct sk_pstore *sk__pstore_new(void);
void sk__pstore_free(struct sk_pstore *s);

#endif
