/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori keygen --key PATH`: a new Ed25519 key pair for signing, PATH
 * (PKCS#8 PEM, mode 0600, never overwritten) and PATH.pub. The file
 * monitor's baselines and the event log's checkpoints read the same format,
 * so one key may serve both (`sekimori fim keygen` and `sekimori log
 * keygen` make the same files).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "evlog/evlog.h"
#include "util/error.h"

int
sk_cli_keygen(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            printf("usage: sekimori keygen --key PATH\n"
                   "Writes a new Ed25519 private key to PATH (mode 0600, "
                   "never overwritten)\nand its public key to PATH.pub.\n");
            return SK_EXIT_OK;
        } else {
            fprintf(stderr, "sekimori keygen: unknown argument %s\n", argv[i]);
            return SK_EXIT_USAGE;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: sekimori keygen --key PATH\n");
        return SK_EXIT_USAGE;
    }
    int rc = sk_evlog_keygen(path);
    if (rc == -SK_EEXIST) {
        fprintf(stderr, "sekimori keygen: %s exists; not overwritten\n", path);
        return SK_EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "sekimori keygen: %s: %s\n", path, sk_strerror(rc));
        return SK_EXIT_INTERNAL;
    }
    printf("%s\n%s.pub\n", path, path);
    return SK_EXIT_OK;
}
