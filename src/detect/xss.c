/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cross-site scripting detector behind @detectXSS.
 *
 * The input is read with a small HTML tokenizer modelled on the HTML5
 * tokenizer's states (text, tag name, attribute name, attribute value in
 * its three quotings, comments, markup declarations). It is read five
 * times: as page text, as if it had been pasted where an attribute name
 * goes, and as if it had been pasted into an unquoted, a single-quoted
 * and a double-quoted attribute value, since a value that closes the
 * quote it lands in can add attributes or tags.
 *
 * The input is judged to carry script when the tokenizer meets:
 *  - the start tag of an element that runs or loads code or changes how
 *    the page is read (script, iframe, object, embed, svg, style, base,
 *    meta, link, ...), also with an XML namespace prefix (x:script);
 *  - an event handler attribute with a value (onerror=, onload=, ...);
 *  - an attribute value, or the whole input in a value context, that is a
 *    javascript:, vbscript:, livescript: or non-image data: URL;
 *  - a style attribute that runs script (expression(), -moz-binding,
 *    behavior, javascript: URLs, @import);
 *  - an srcdoc attribute, an XML ENTITY declaration, or an xml / import
 *    processing instruction.
 *
 * The element, attribute and scheme lists are our own, written from the
 * HTML, SVG and CSS specifications and browser behaviour; see
 * docs/detectors.md. Each reading is one linear pass with constant state.
 */
#include "detect/detect.h"
#include "detect/internal.h"

#include <stdlib.h>
#include <string.h>

enum state {
    S_DATA = 0,
    S_TAG_OPEN,
    S_END_TAG_OPEN,
    S_TAG_NAME,
    S_BEFORE_ATTR,
    S_ATTR_NAME,
    S_AFTER_ATTR,
    S_BEFORE_VALUE,
    S_VALUE_DQ,
    S_VALUE_SQ,
    S_VALUE_UQ,
    S_AFTER_VALUE,
    S_SELF_CLOSING,
    S_MARKUP,
    S_COMMENT,
    S_BOGUS,
    S_PI
};

/* Longest tag or attribute name we compare; longer names match nothing. */
#define NAME_MAX_LEN 24
/* Significant characters of a value kept for the URL scheme check. */
#define VPRE 16
/* Significant characters of a style value kept for pattern checks. */
#define RING 16

struct html {
    const uint8_t *p;
    size_t len;
    size_t pos;
    enum state st;
    bool in_tag;  /* inside a tag the input opened with '<' */
    bool end_tag; /* that tag is an end tag */
    bool hit;
    char name[NAME_MAX_LEN + 1]; /* tag name, then markup/PI word */
    size_t nlen;
    char attr[NAME_MAX_LEN + 1];
    size_t alen;
    bool style;       /* the current value belongs to a style attribute */
    bool doctype;     /* inside <!DOCTYPE ...> */
    bool css_comment; /* inside a comment of a style value */
    uint8_t css_prev; /* previous significant byte of a style value */
    char vpre[VPRE];
    size_t vlen;
    char ring[RING]; /* last significant characters of a style value */
    size_t rlen;
};

/* Elements whose start tag alone lets an attacker run or load code. */
static const char *const bad_tags[] = {
    "applet", "base",   "bgsound", "embed", "frame",    "frameset", "iframe",
    "ilayer", "import", "isindex", "layer", "link",     "meta",     "object",
    "portal", "script", "style",   "svg",   "vmlframe", "xml",      "xss",
};

/*
 * Event handler attributes of HTML, SVG and old Internet Explorer, sorted.
 * Outside a tag the input opened itself (attribute breakouts), only these
 * names count; inside one, any on* name with a value does.
 */
static const char *const events[] = {
    "onabort",
    "onactivate",
    "onafterprint",
    "onafterscriptexecute",
    "onafterupdate",
    "onanimationcancel",
    "onanimationend",
    "onanimationiteration",
    "onanimationstart",
    "onauxclick",
    "onbeforeactivate",
    "onbeforecopy",
    "onbeforecut",
    "onbeforedeactivate",
    "onbeforeeditfocus",
    "onbeforeinput",
    "onbeforepaste",
    "onbeforeprint",
    "onbeforescriptexecute",
    "onbeforetoggle",
    "onbeforeunload",
    "onbeforeupdate",
    "onbegin",
    "onblur",
    "onbounce",
    "oncancel",
    "oncanplay",
    "oncanplaythrough",
    "oncellchange",
    "onchange",
    "onclick",
    "onclose",
    "oncontextmenu",
    "oncontrolselect",
    "oncopy",
    "oncuechange",
    "oncut",
    "ondataavailable",
    "ondatasetchanged",
    "ondatasetcomplete",
    "ondblclick",
    "ondeactivate",
    "ondrag",
    "ondragend",
    "ondragenter",
    "ondragleave",
    "ondragover",
    "ondragstart",
    "ondrop",
    "ondurationchange",
    "onemptied",
    "onend",
    "onended",
    "onerror",
    "onerrorupdate",
    "onfilterchange",
    "onfinish",
    "onfocus",
    "onfocusin",
    "onfocusout",
    "onformdata",
    "onfullscreenchange",
    "ongotpointercapture",
    "onhashchange",
    "onhelp",
    "oninput",
    "oninvalid",
    "onkeydown",
    "onkeypress",
    "onkeyup",
    "onlayoutcomplete",
    "onload",
    "onloadeddata",
    "onloadedmetadata",
    "onloadend",
    "onloadstart",
    "onlosecapture",
    "onlostpointercapture",
    "onmessage",
    "onmousedown",
    "onmouseenter",
    "onmouseleave",
    "onmousemove",
    "onmouseout",
    "onmouseover",
    "onmouseup",
    "onmousewheel",
    "onmove",
    "onmoveend",
    "onmovestart",
    "onoffline",
    "ononline",
    "onpagehide",
    "onpageshow",
    "onpaste",
    "onpause",
    "onplay",
    "onplaying",
    "onpointercancel",
    "onpointerdown",
    "onpointerenter",
    "onpointerleave",
    "onpointermove",
    "onpointerout",
    "onpointerover",
    "onpointerrawupdate",
    "onpointerup",
    "onpopstate",
    "onprogress",
    "onpropertychange",
    "onratechange",
    "onreadystatechange",
    "onrepeat",
    "onreset",
    "onresize",
    "onrowenter",
    "onrowexit",
    "onrowsdelete",
    "onrowsinserted",
    "onscroll",
    "onscrollend",
    "onsearch",
    "onsecuritypolicyviolation",
    "onseeked",
    "onseeking",
    "onselect",
    "onselectionchange",
    "onselectstart",
    "onshow",
    "onslotchange",
    "onstalled",
    "onstart",
    "onstorage",
    "onsubmit",
    "onsuspend",
    "ontimeupdate",
    "ontoggle",
    "ontouchcancel",
    "ontouchend",
    "ontouchmove",
    "ontouchstart",
    "ontransitioncancel",
    "ontransitionend",
    "ontransitionrun",
    "ontransitionstart",
    "onunload",
    "onvolumechange",
    "onwaiting",
    "onwebkitanimationend",
    "onwebkitanimationiteration",
    "onwebkitanimationstart",
    "onwebkittransitionend",
    "onwheel",
};

#define NEVENTS (sizeof events / sizeof events[0])

size_t
sk__detect_events_check(void)
{
    for (size_t i = 1; i < NEVENTS; i++)
        if (strcmp(events[i - 1], events[i]) >= 0)
            return i;
    return 0;
}

static int
str_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static bool
is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool
is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static uint8_t
lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static void
name_add(char *buf, size_t *n, uint8_t c)
{
    if (*n <= NAME_MAX_LEN) {
        if (*n < NAME_MAX_LEN)
            buf[*n] = (char)lower(c);
        (*n)++;
    }
}

/* NUL-terminates a name buffer; false when it overflowed. */
static bool
name_end(char *buf, size_t n)
{
    if (n > NAME_MAX_LEN) {
        buf[NAME_MAX_LEN] = '\0';
        return false;
    }
    buf[n] = '\0';
    return true;
}

static void
check_tag(struct html *h)
{
    if (h->end_tag || !name_end(h->name, h->nlen))
        return;
    /* x:script is script in the XHTML namespace: judge the local name. */
    const char *local = strrchr(h->name, ':');
    local = local ? local + 1 : h->name;
    for (size_t i = 0; i < sizeof bad_tags / sizeof bad_tags[0]; i++)
        if (strcmp(local, bad_tags[i]) == 0)
            h->hit = true;
}

/* Called when an attribute gets a value (on '='). */
static void
check_attr(struct html *h)
{
    h->style = false;
    if (h->end_tag || !name_end(h->attr, h->alen))
        return;
    const char *a = h->attr;
    if (strcmp(a, "style") == 0) {
        h->style = true;
        return;
    }
    if (strcmp(a, "srcdoc") == 0) {
        h->hit = true;
        return;
    }
    if (a[0] != 'o' || a[1] != 'n')
        return;
    if (bsearch(a, events, NEVENTS, sizeof events[0], str_cmp) != NULL) {
        h->hit = true;
        return;
    }
    if (!h->in_tag || h->alen < 5)
        return;
    for (size_t i = 2; i < h->alen; i++)
        if (!is_alpha((uint8_t)a[i]))
            return;
    h->hit = true;
}

static void
value_begin(struct html *h)
{
    h->vlen = 0;
    h->rlen = 0;
    h->css_prev = 0;
    h->css_comment = false;
}

static bool
ring_ends(const struct html *h, const char *pat)
{
    size_t n = strlen(pat);
    if (h->rlen < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (h->ring[(h->rlen - n + i) % RING] != pat[i])
            return false;
    return true;
}

/* Feeds one byte of an attribute value. */
static void
value_byte(struct html *h, uint8_t c)
{
    /* Browsers drop controls and blanks from a URL scheme. */
    if (c <= 0x20 || c == 0x7F)
        return;
    c = lower(c);
    if (h->vlen < VPRE)
        h->vpre[h->vlen++] = (char)c;
    if (!h->style)
        return;
    /* Old IE read "expression(" with a CSS comment or backslashes in the
     * middle of the word, so both are dropped before matching. */
    uint8_t prev = h->css_prev;
    h->css_prev = c;
    if (h->css_comment) {
        if (prev == '*' && c == '/') {
            h->css_comment = false;
            h->css_prev = 0;
        }
        return;
    }
    if (prev == '/' && c == '*') {
        h->css_comment = true;
        h->css_prev = 0;
        h->rlen--; /* the '/' opened the comment */
        return;
    }
    if (c == '\\')
        return;
    h->ring[h->rlen % RING] = (char)c;
    h->rlen++;
    static const char *const style_bad[] = {
        "expression(",  "javascript:", "vbscript:",
        "-moz-binding", "behavior:",   "@import",
    };
    for (size_t i = 0; i < sizeof style_bad / sizeof style_bad[0]; i++)
        if (ring_ends(h, style_bad[i]))
            h->hit = true;
}

static bool
vpre_starts(const struct html *h, const char *s)
{
    size_t n = strlen(s);
    return h->vlen >= n && memcmp(h->vpre, s, n) == 0;
}

/* Called at the end of an attribute value: is it a script URL? */
static void
value_end(struct html *h)
{
    static const char *const schemes[] = {
        "javascript:", "vbscript:", "livescript:"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (vpre_starts(h, schemes[i]) && h->vlen > strlen(schemes[i]))
            h->hit = true;
    /* data: URLs that hold a document or a script (not a bitmap image). */
    if (vpre_starts(h, "data:,") || vpre_starts(h, "data:text/") ||
        vpre_starts(h, "data:application/") ||
        vpre_starts(h, "data:image/svg") || vpre_starts(h, "data:;base64,"))
        h->hit = true;
    h->style = false;
}

/* The word after "<!" or "<?" decides between comment and declaration. */
static void
check_markup(struct html *h, bool pi)
{
    if (!name_end(h->name, h->nlen))
        return;
    if (pi) {
        if (strcmp(h->name, "xml") == 0 ||
            strcmp(h->name, "xml-stylesheet") == 0 ||
            strcmp(h->name, "import") == 0)
            h->hit = true;
    } else if (strcmp(h->name, "entity") == 0) {
        h->hit = true;
    } else if (strcmp(h->name, "doctype") == 0) {
        h->doctype = true;
    }
}

static void
leave_tag(struct html *h)
{
    h->st = S_DATA;
    h->in_tag = false;
    h->end_tag = false;
}

static int
hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Browsers decode character references in attribute values before they
 * read a URL, so "&#x6a;avascript:" is a script URL. At h->pos is '&':
 * decodes a numeric reference or one of the named ones that matter for
 * schemes (&colon; &tab; &newline;), leaves h->pos on its last byte and
 * returns the byte it stands for (0xFF for characters beyond Latin-1);
 * anything else is the '&' itself.
 */
static uint8_t
entity(struct html *h)
{
    static const struct {
        const char *name;
        uint8_t c;
    } named[] = {{"colon;", ':'}, {"tab;", '\t'}, {"newline;", '\n'}};
    const uint8_t *s = h->p + h->pos + 1;
    size_t left = h->len - h->pos - 1;
    if (left >= 2 && s[0] == '#') {
        bool hex = s[1] == 'x' || s[1] == 'X';
        size_t i = hex ? 2 : 1, digits = 0;
        uint32_t v = 0;
        /* Leading zeros are allowed; cap the value, not the digits. */
        for (; i < left; i++, digits++) {
            int d = hex ? hex_digit(s[i])
                        : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
            if (d < 0)
                break;
            v = v * (hex ? 16u : 10u) + (uint32_t)d;
            if (v > 0x10FFFF)
                v = 0x110000;
        }
        if (digits == 0)
            return '&';
        if (i < left && s[i] == ';')
            i++;
        h->pos += i;
        return v < 0x100 ? (uint8_t)v : 0xFF;
    }
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
        size_t n = strlen(named[k].name);
        if (left >= n) {
            size_t j = 0;
            while (j < n && lower(s[j]) == (uint8_t)named[k].name[j])
                j++;
            if (j == n) {
                h->pos += n;
                return named[k].c;
            }
        }
    }
    return '&';
}

/* One tokenizer step on byte c; returns false to reprocess c. */
static bool
step(struct html *h, uint8_t c)
{
    switch (h->st) {
    case S_DATA:
        if (c == '<')
            h->st = S_TAG_OPEN;
        return true;
    case S_TAG_OPEN:
        if (is_alpha(c)) {
            h->st = S_TAG_NAME;
            h->in_tag = true;
            h->end_tag = false;
            h->nlen = 0;
            name_add(h->name, &h->nlen, c);
            return true;
        }
        if (c == '/') {
            h->st = S_END_TAG_OPEN;
            return true;
        }
        if (c == '!' || c == '?') {
            h->st = c == '!' ? S_MARKUP : S_PI;
            h->nlen = 0;
            return true;
        }
        h->st = S_DATA;
        return false;
    case S_END_TAG_OPEN:
        if (is_alpha(c)) {
            h->st = S_TAG_NAME;
            h->in_tag = true;
            h->end_tag = true;
            h->nlen = 0;
            return true;
        }
        h->st = c == '>' ? S_DATA : S_BOGUS;
        return true;
    case S_TAG_NAME:
        /* HTML5 would make "scr<script" one odd name; we restart at the
         * '<' instead, since a filter that strips the inner tag would
         * leave a real one ("<scr<script>ipt>"). */
        if (c == '<') {
            h->st = S_DATA;
            h->in_tag = false;
            return false;
        }
        if (is_space(c) || c == '/' || c == '>') {
            check_tag(h);
            if (c == '>')
                leave_tag(h);
            else
                h->st = c == '/' ? S_SELF_CLOSING : S_BEFORE_ATTR;
            return true;
        }
        name_add(h->name, &h->nlen, c);
        return true;
    case S_BEFORE_ATTR:
        if (is_space(c))
            return true;
        if (c == '/') {
            h->st = S_SELF_CLOSING;
            return true;
        }
        if (c == '>') {
            leave_tag(h);
            return true;
        }
        h->st = S_ATTR_NAME;
        h->alen = 0;
        name_add(h->attr, &h->alen, c);
        return true;
    case S_ATTR_NAME:
        if (is_space(c)) {
            h->st = S_AFTER_ATTR;
        } else if (c == '/') {
            h->st = S_SELF_CLOSING;
        } else if (c == '=') {
            check_attr(h);
            h->st = S_BEFORE_VALUE;
        } else if (c == '>') {
            leave_tag(h);
        } else {
            name_add(h->attr, &h->alen, c);
        }
        return true;
    case S_AFTER_ATTR:
        if (is_space(c))
            return true;
        if (c == '=') {
            check_attr(h);
            h->st = S_BEFORE_VALUE;
            return true;
        }
        h->st = S_BEFORE_ATTR;
        return false;
    case S_BEFORE_VALUE:
        if (is_space(c))
            return true;
        value_begin(h);
        if (c == '"' || c == '\'') {
            h->st = c == '"' ? S_VALUE_DQ : S_VALUE_SQ;
            return true;
        }
        if (c == '>') {
            leave_tag(h);
            return true;
        }
        h->st = S_VALUE_UQ;
        return false;
    case S_VALUE_DQ:
    case S_VALUE_SQ:
        if (c == (h->st == S_VALUE_DQ ? '"' : '\'')) {
            value_end(h);
            h->st = S_AFTER_VALUE;
            return true;
        }
        value_byte(h, c == '&' ? entity(h) : c);
        return true;
    case S_VALUE_UQ:
        if (is_space(c) || c == '>') {
            value_end(h);
            if (c == '>')
                leave_tag(h);
            else
                h->st = S_BEFORE_ATTR;
            return true;
        }
        value_byte(h, c == '&' ? entity(h) : c);
        return true;
    case S_AFTER_VALUE:
    case S_SELF_CLOSING:
        if (c == '>') {
            leave_tag(h);
            return true;
        }
        h->st = S_BEFORE_ATTR;
        return is_space(c);
    case S_MARKUP:
        if (h->nlen == 0 && c == '-' && h->pos + 1 < h->len &&
            h->p[h->pos + 1] == '-') {
            h->pos++;
            h->st = S_COMMENT;
            return true;
        }
        if (is_alpha(c)) {
            name_add(h->name, &h->nlen, c);
            return true;
        }
        check_markup(h, false);
        h->st = S_BOGUS;
        return false;
    case S_PI:
        if (is_alpha(c) || c == '-' || (h->nlen > 0 && c == ':')) {
            name_add(h->name, &h->nlen, c);
            return true;
        }
        check_markup(h, true);
        h->st = S_BOGUS;
        return false;
    case S_COMMENT:
        if (c == '>' && h->pos >= 2 && h->p[h->pos - 1] == '-' &&
            h->p[h->pos - 2] == '-')
            h->st = S_DATA;
        return true;
    case S_BOGUS:
        /* A DOCTYPE with an internal subset declares entities. */
        if (c == '[' && h->doctype)
            h->hit = true;
        if (c == '>') {
            h->st = S_DATA;
            h->doctype = false;
        }
        return true;
    }
    return true;
}

/* Reads the whole input starting in state `st`. */
static bool
read_html(const uint8_t *p, size_t len, enum state st)
{
    struct html h;
    memset(&h, 0, sizeof h);
    h.p = p;
    h.len = len;
    h.st = st;
    value_begin(&h);
    while (h.pos < len && !h.hit) {
        /* A step that asks to reprocess always changes state first, so
         * every byte is stepped at most a few times. */
        if (step(&h, p[h.pos]))
            h.pos++;
    }
    if (h.hit)
        return true;
    /* Judge what the input ended inside of. */
    switch (h.st) {
    case S_TAG_NAME:
        check_tag(&h);
        break;
    case S_VALUE_DQ:
    case S_VALUE_SQ:
    case S_VALUE_UQ:
        value_end(&h);
        break;
    case S_MARKUP:
        check_markup(&h, false);
        break;
    case S_PI:
        check_markup(&h, true);
        break;
    default:
        break;
    }
    return h.hit;
}

bool
sk_detect_xss(const uint8_t *p, size_t len)
{
    if (p == NULL || len == 0)
        return false;
    if (read_html(p, len, S_DATA) || read_html(p, len, S_BEFORE_VALUE))
        return true;
    /* Pasted where an attribute name goes (<input $v>): only attributes
     * with a value can carry script, so this needs an '='. */
    if (memchr(p, '=', len) != NULL && read_html(p, len, S_BEFORE_ATTR))
        return true;
    if (memchr(p, '\'', len) != NULL && read_html(p, len, S_VALUE_SQ))
        return true;
    return memchr(p, '"', len) != NULL && read_html(p, len, S_VALUE_DQ);
}
