/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operational log (not the forensic event log, which is src/evlog).
 * Messages go to stderr by default. sk_log checks the level before
 * formatting anything, so a disabled debug line costs one comparison.
 */
#ifndef SK_UTIL_LOG_H
#define SK_UTIL_LOG_H

enum sk_log_level {
    SK_LOG_ERROR = 0,
    SK_LOG_WARN = 1,
    SK_LOG_INFO = 2,
    SK_LOG_DEBUG = 3,
};

extern enum sk_log_level sk__log_level;

/* Sets the most verbose level that is written. */
void sk_log_set_level(enum sk_log_level level);

/* Writes one line (blocking write to stderr). Use the sk_log() macro. */
void sk__log_write(enum sk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define sk_log(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= sk__log_level)                                          \
            sk__log_write((level), __VA_ARGS__);                               \
    } while (0)

#endif
