/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the proxy master's control protocol (one JSON request line,
 * sk__ctl_request) and the metrics listener's request-line routing
 * (sk__metrics_route) on a master with shared state but no workers. A
 * reload is refused (the master is "stopping"), so nothing touches the
 * file system. Every reply must be one JSON object line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proxy/master.h"
#include "proxy/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sk__master m;
static struct sk_proxy_opts opts = {.conf_path = "/nonexistent"};
static struct sk_proxy_shm shm;
static void *metrics;
static struct sk_waf_rules *rules;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (metrics == NULL) {
        metrics = calloc(1, sk_proxy_metrics_size(1));
        rules = sk_waf_rules_new();
        if (metrics == NULL || rules == NULL)
            abort();
        sk_proxy_metrics_init(metrics, 1);
        sk_waf_rules_compile(rules);
    }
    bool head;
    int st = sk__metrics_route(data, size, &head);
    if (st != 200 && st != 404 && st != 400)
        abort();

    memset(&shm, 0, sizeof(shm));
    memset(&m, 0, sizeof(m));
    m.opts = &opts;
    m.shm = &shm;
    m.metrics = metrics;
    m.nslots = 1;
    m.g.rules = rules;
    m.stopping = true;
    m.epfd = m.ctl.fd = m.met.fd = -1;
    /* Each line a request, as a connection would deliver them. */
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != '\n')
            continue;
        struct sk_buf out = {0};
        sk__ctl_request(&m, 0, 1, (const char *)data + start, i - start, &out);
        if (out.len > 0) {
            if (out.p[out.len - 1] != '\n' ||
                memchr(out.p, '\n', out.len) != out.p + out.len - 1)
                abort(); /* a reply is exactly one line */
            json_error_t err;
            json_t *r = json_loadb((const char *)out.p, out.len, 0, &err);
            if (r == NULL || !json_is_object(r) ||
                !json_is_boolean(json_object_get(r, "ok")))
                abort();
            json_decref(r);
        }
        sk_buf_fini(&out);
        start = i + 1;
    }
    return 0;
}
