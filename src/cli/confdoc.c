/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sekimori config-doc`: prints the option reference of sekimori.conf in
 * Markdown, generated from the option tables of src/conf/conf.c. The
 * reference part of docs/configuration.md is this output, and a unit test
 * checks that the two agree.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "conf/conf.h"

static const struct {
    const char *name;
    const char *doc;
} section_docs[] = {
    {"run", "How `sekimori run` supervises the parts. Optional; every "
            "option has a default."},
    {"log", "The tamper-evident event log (docs/evlog.md). With this "
            "section, `sekimori run` starts `sekimori log serve`, and the "
            "proxy and the file monitor send their events to its socket."},
    {"proxy", "The WAF reverse proxy. With this section, `sekimori run` "
              "starts `sekimori proxy -c` on the same file. `listen`, "
              "`upstream` and `rules` are required."},
    {"fim", "The file integrity monitor (docs/fim.md). With this section, "
            "`sekimori run` starts `sekimori fim watch` on the monitor's own "
            "configuration file."},
};

int
sk_cli_config_doc(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        FILE *out = strcmp(argv[1], "--help") == 0 ? stdout : stderr;
        fprintf(out, "usage: sekimori config-doc\n"
                     "Prints the sekimori.conf option reference (Markdown) "
                     "generated from the option tables.\n");
        return out == stdout ? SK_EXIT_OK : SK_EXIT_USAGE;
    }
    const char *prev = NULL;
    const char *sec, *name, *args, *doc;
    for (size_t i = 0; sk_conf_option_row(i, &sec, &name, &args, &doc) == 0;
         i++) {
        if (prev == NULL || strcmp(prev, sec) != 0) {
            printf("## `%s`\n\n", sec);
            for (size_t j = 0;
                 j < sizeof(section_docs) / sizeof(section_docs[0]); j++)
                if (strcmp(section_docs[j].name, sec) == 0)
                    printf("%s\n\n", section_docs[j].doc);
            prev = sec;
        }
        printf("### `%s %s`\n\n%c%s.\n\n", name, args,
               toupper((unsigned char)doc[0]), doc + 1);
    }
    return SK_EXIT_OK;
}
