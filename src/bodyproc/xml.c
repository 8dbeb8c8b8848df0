/* SPDX-License-Identifier: Apache-2.0 */
/*
 * XML request body processor. libxml2 parses the body from memory with
 * network access off, no entity substitution, no DTD loading and its
 * default size, depth and amplification limits; a deny-all external entity
 * loader backs those options up. Errors are captured per parser (and per
 * XPath) context into the transaction arena, and a thread-local catch-all
 * handler is swapped in around each call so that nothing reaches stderr.
 * The document is freed with the arena. XPath evaluation yields each
 * node's content, which is what ModSecurity gives rules for `XML:<expr>`.
 */
#include "bodyproc/bodyproc.h"

#include <pthread.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "util/error.h"

struct sk_xml_doc {
    xmlDocPtr doc;
};

/* The first error libxml2 reports during one call, copied to the arena. */
struct err_capture {
    struct sk_arena *a;
    const char *msg;
    int count;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

/*
 * Refuses every external resource: DTDs, external entities, XInclude.
 * The parse options already keep libxml2 from asking; this makes sure a
 * future option change or libxml2 default cannot read files or sockets.
 */
static xmlParserInputPtr
deny_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    (void)url;
    (void)id;
    (void)ctxt;
    return NULL;
}

static void
init_once_fn(void)
{
    /* Compares the run-time library with the headers we built against. */
    if (xmlHasFeature(XML_WITH_THREAD) == 0) {
        /* Error state is only thread-local with thread support. */
        init_rc = -SK_ENOTSUP;
        return;
    }
    LIBXML_TEST_VERSION;
    xmlInitParser();
    xmlSetExternalEntityLoader(deny_loader);
    init_rc = 0;
}

int
sk_bodyproc_init(void)
{
    if (pthread_once(&init_once, init_once_fn) != 0)
        return -SK_ENOTSUP;
    return init_rc;
}

/* Records the first message; later ones only count. */
static void
capture(struct err_capture *cap, const xmlError *e)
{
    cap->count++;
    if (cap->msg != NULL || e == NULL)
        return;
    if (cap->a == NULL) {
        cap->msg = "libxml2 error";
        return;
    }
    const char *m = e->message != NULL ? e->message : "unknown error";
    size_t len = strlen(m);
    while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == '\r'))
        len--;
    if (e->line > 0)
        cap->msg =
            sk_arena_printf(cap->a, "%.*s at line %d", (int)len, m, e->line);
    else
        cap->msg = sk_arena_printf(cap->a, "%.*s", (int)len, m);
    if (cap->msg == NULL)
        cap->msg = "malformed XML";
}

/* Per parser context: libxml2 passes the context as `data`. */
static void
parser_serror(void *data, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = data;
    if (ctxt != NULL && ctxt->_private != NULL)
        capture(ctxt->_private, e);
}

/* Per XPath context and the thread-local catch-all: `data` is ours. */
static void
plain_serror(void *data, xmlErrorPtr e)
{
    if (data != NULL)
        capture(data, e);
}

/* Generic (printf-style) errors are dropped; structured ones carry all. */
static void
silent_generic(void *data, const char *fmt, ...)
{
    (void)data;
    (void)fmt;
}

/*
 * The thread-local handlers libxml2 falls back to when an error has no
 * context (encoding and memory errors). They are saved, pointed at the
 * current call's capture, and restored afterwards.
 */
struct saved_handlers {
    xmlStructuredErrorFunc serror;
    void *sctx;
    xmlGenericErrorFunc generic;
    void *gctx;
};

static void
handlers_push(struct saved_handlers *s, struct err_capture *cap)
{
    s->serror = xmlStructuredError;
    s->sctx = xmlStructuredErrorContext;
    s->generic = xmlGenericError;
    s->gctx = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(cap, plain_serror);
    xmlSetGenericErrorFunc(NULL, silent_generic);
}

static void
handlers_pop(const struct saved_handlers *s)
{
    xmlSetStructuredErrorFunc(s->sctx, s->serror);
    xmlSetGenericErrorFunc(s->gctx, s->generic);
}

static void
free_doc(void *data)
{
    xmlFreeDoc(data);
}

int
sk_bodyproc_xml_parse(struct sk_arena *a, struct sk_str body,
                      struct sk_xml_doc **doc, const char **errmsg)
{
    const char *dummy;
    if (errmsg == NULL)
        errmsg = &dummy;
    *errmsg = NULL;
    if (doc != NULL)
        *doc = NULL;
    if (a == NULL || doc == NULL || (body.p == NULL && body.len > 0)) {
        *errmsg = "invalid argument";
        return -SK_EINVAL;
    }
    int rc = sk_bodyproc_init();
    if (rc != 0) {
        *errmsg = "libxml2 is unusable (no thread support)";
        return rc;
    }
    if (body.len > SK_BODYPROC_XML_MAX_BODY) {
        *errmsg = "XML body too large for the parser";
        return -SK_ELIMIT;
    }
    if (body.len == 0) {
        /* libxml2 does not accept a zero-length buffer; nor would XML. */
        *errmsg = "empty XML body";
        return -SK_EPARSE;
    }

    struct sk_xml_doc *out = sk_arena_zalloc(a, sizeof(*out));
    if (out == NULL) {
        *errmsg = "out of memory";
        return -SK_ENOMEM;
    }

    struct err_capture cap = {.a = a};
    struct saved_handlers saved;
    handlers_push(&saved, &cap);

    xmlParserCtxtPtr ctxt =
        xmlCreateMemoryParserCtxt((const char *)body.p, (int)body.len);
    if (ctxt == NULL) {
        handlers_pop(&saved);
        *errmsg = "out of memory";
        return -SK_ENOMEM;
    }
    /*
     * XML_PARSE_NONET: no network even if something asks. No NOENT (entity
     * substitution would load external entities), no DTDLOAD / DTDATTR /
     * DTDVALID (they fetch the external subset), no XINCLUDE, no HUGE (keep
     * libxml2's depth, text size and amplification limits). NOERROR and
     * NOWARNING are not used: they would only drop the SAX printf channels,
     * and our structured handler below takes every error first.
     */
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET);
    /*
     * The context starts from libxml2's thread-local defaults, which other
     * code could have changed (xmlSubstituteEntitiesDefault(1)), and
     * xmlCtxtUseOptions() resets the fields but leaves those bits set in
     * ctxt->options, which the entity code also reads: clear both.
     */
    ctxt->options &=
        ~(XML_PARSE_NOENT | XML_PARSE_DTDLOAD | XML_PARSE_DTDATTR |
          XML_PARSE_DTDVALID | XML_PARSE_XINCLUDE | XML_PARSE_HUGE);
    ctxt->replaceEntities = 0;
    ctxt->loadsubset = 0;
    ctxt->validate = 0;
    ctxt->sax->serror = parser_serror;
    ctxt->_private = &cap;

    xmlParseDocument(ctxt);

    int well_formed = ctxt->wellFormed;
    xmlDocPtr d = ctxt->myDoc;
    ctxt->myDoc = NULL;
    ctxt->_private = NULL;
    xmlFreeParserCtxt(ctxt);
    handlers_pop(&saved);

    if (d != NULL) {
        if (sk_arena_defer(a, free_doc, d) != 0) {
            xmlFreeDoc(d);
            *errmsg = "out of memory";
            return -SK_ENOMEM;
        }
        out->doc = d;
        *doc = out;
    }
    if (!well_formed || d == NULL) {
        *errmsg = cap.msg != NULL ? cap.msg : "malformed XML";
        return -SK_EPARSE;
    }
    return 0;
}

struct eval_state {
    struct sk_arena *a;
    sk_bodyproc_pair_fn fn;
    void *ud;
    struct sk_str name;
    size_t total;
};

/* Copies libxml2 text into the arena, frees it, and yields it. */
static int
yield_text(struct eval_state *st, xmlChar *text)
{
    if (text == NULL)
        return 0;
    size_t len = strlen((const char *)text);
    if (len > SK_BODYPROC_XML_EVAL_BYTES - st->total) {
        xmlFree(text);
        return -SK_ELIMIT;
    }
    st->total += len;
    char *copy = sk_arena_memdup(st->a, text, len);
    xmlFree(text);
    if (copy == NULL)
        return -SK_ENOMEM;
    return st->fn(st->ud, st->name, sk_str_make(copy, len));
}

static int
yield_object(struct eval_state *st, xmlXPathObjectPtr obj)
{
    if (obj->type != XPATH_NODESET) {
        /* Numbers, booleans, strings: their XPath string value, once. */
        return yield_text(st, xmlXPathCastToString(obj));
    }
    xmlNodeSetPtr set = obj->nodesetval;
    if (set == NULL)
        return 0;
    for (int i = 0; i < set->nodeNr; i++) {
        xmlNodePtr node = set->nodeTab[i];
        /*
         * xmlNodeGetContent() returns NULL for nodes without text (and on
         * allocation failure, which it cannot tell apart); ModSecurity
         * yields nothing for those either.
         */
        int rc = yield_text(st, xmlNodeGetContent(node));
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
sk_bodyproc_xml_eval(struct sk_arena *a, const struct sk_xml_doc *doc,
                     const char *xpath, sk_bodyproc_pair_fn fn, void *ud)
{
    if (a == NULL || doc == NULL || doc->doc == NULL || fn == NULL)
        return -SK_EINVAL;
    int rc = sk_bodyproc_init();
    if (rc != 0)
        return rc;

    struct eval_state st = {
        .a = a,
        .fn = fn,
        .ud = ud,
        .name = xpath != NULL ? sk_str_c(xpath) : SK_STR_LIT(""),
    };
    struct err_capture cap = {.a = a};
    struct saved_handlers saved;
    handlers_push(&saved, &cap);

    if (xpath == NULL) {
        rc = yield_text(&st, xmlNodeGetContent((xmlNodePtr)doc->doc));
        handlers_pop(&saved);
        return rc;
    }

    xmlXPathContextPtr xctx = xmlXPathNewContext(doc->doc);
    if (xctx == NULL) {
        handlers_pop(&saved);
        return -SK_ENOMEM;
    }
    xctx->error = plain_serror;
    xctx->userData = &cap;
    xmlXPathObjectPtr obj = xmlXPathEval((const xmlChar *)xpath, xctx);
    if (obj == NULL) {
        /* A syntax error, an unknown function, or memory exhaustion. */
        rc = cap.count > 0 ? -SK_EINVAL : -SK_ENOMEM;
    } else {
        rc = yield_object(&st, obj);
        xmlXPathFreeObject(obj);
    }
    xmlXPathFreeContext(xctx);
    handlers_pop(&saved);
    return rc;
}

int
sk_bodyproc_xpath_check(const char *xpath)
{
    if (xpath == NULL)
        return -SK_EINVAL;
    int rc = sk_bodyproc_init();
    if (rc != 0)
        return rc;
    struct err_capture cap = {0};
    struct saved_handlers saved;
    handlers_push(&saved, &cap);
    xmlXPathCompExprPtr comp = xmlXPathCompile((const xmlChar *)xpath);
    handlers_pop(&saved);
    if (comp == NULL)
        return -SK_EINVAL;
    xmlXPathFreeCompExpr(comp);
    return 0;
}
