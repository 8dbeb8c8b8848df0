/* SPDX-License-Identifier: Apache-2.0 */
/* Operational log lines on stderr with an ISO-8601 UTC timestamp. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

enum sk_log_level sk__log_level = SK_LOG_WARN;

void
sk_log_set_level(enum sk_log_level level)
{
    sk__log_level = level;
}

void
sk__log_write(enum sk_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char msg[2048];
    char ts[32];
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s sekimori[%s]: %s\n", ts, names[level], msg);
}
