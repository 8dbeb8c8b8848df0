/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the sekimori.conf parser (sk_conf_parse) and, on the first bytes,
 * the address parser; on success, walks what was parsed so that a bad
 * pointer or length in the result shows up under the sanitizers.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char addr[300];
    size_t an = size < sizeof(addr) - 1 ? size : sizeof(addr) - 1;
    const uint8_t *nl = memchr(data, '\n', an);
    if (nl != NULL)
        an = (size_t)(nl - data);
    memcpy(addr, data, an);
    addr[an] = '\0';
    struct sk_conf_addr ad;
    (void)sk_conf_addr_parse(addr, &ad);

    struct sk_diag d = {0};
    struct sk_conf *c = NULL;
    if (sk_conf_parse("fuzz.conf", (const char *)data, size, &c, &d) == 0) {
        size_t n = 0;
        for (size_t i = 0; i < c->proxy.nlisten; i++)
            n += strlen(c->proxy.listen[i].addr.text);
        for (size_t i = 0; i < c->proxy.nrules; i++)
            n += strlen(c->proxy.rules[i]);
        n += strlen(c->run.state_dir) + strlen(c->log.dir);
        (void)n;
        sk_conf_free(c);
    }
    (void)sk_diag_text(&d);
    sk_diag_fini(&d);
    return 0;
}
