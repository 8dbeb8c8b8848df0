/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the proxy's maintenance-path normalization (src/proxy/shm.c).
 * Input: maintenance paths, one per line, up to a NUL byte; after it, the
 * request path. Checks what must hold whatever the bytes: setting never
 * crashes, a stored path always matches itself as a request (also when
 * the request is the path as given), clearing it stops every match.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sk_proxy_maint m;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&m, 0, sizeof(m));
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul != NULL ? (size_t)(nul - data) : size;
    struct sk_str req = nul != NULL ? sk_str_make(nul + 1, size - plen - 1)
                                    : sk_str_make(data, size);
    char *paths = malloc(plen + 1);
    if (paths == NULL)
        return 0;
    memcpy(paths, data, plen);
    paths[plen] = '\0';
    const char *pv[SK_PROXY_MAINT_MAX + 2];
    size_t n = 0;
    for (char *s = paths; s != NULL && n < SK_PROXY_MAINT_MAX + 2;) {
        char *e = strchr(s, '\n');
        if (e != NULL)
            *e = '\0';
        if (*s != '\0')
            pv[n++] = s;
        s = e != NULL ? e + 1 : NULL;
    }
    if (n > 0 && sk_proxy_maint_set(&m, true, pv, n, "fuzz", "fuzz") == 0) {
        for (size_t i = 0; i < n; i++)
            if (!sk_proxy_maint_match(&m, sk_str_c(pv[i])))
                abort(); /* a path walked around itself */
        for (uint32_t i = 0; i < m.n; i++)
            if (!sk_proxy_maint_match(&m, sk_str_c(m.paths[i])))
                abort(); /* normalization is not idempotent */
    }
    (void)sk_proxy_maint_match(&m, req);
    sk_proxy_maint_set(&m, false, NULL, 0, NULL, NULL);
    if (sk_proxy_maint_match(&m, req))
        abort();
    free(paths);
    return 0;
}
