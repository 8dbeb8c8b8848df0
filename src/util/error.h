/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes shared by every module. Functions return 0 on success and a
 * negative SK_E* value on failure; one X-macro generates both the enum and
 * the messages of sk_strerror() so that the two never drift apart.
 */
#ifndef SK_UTIL_ERROR_H
#define SK_UTIL_ERROR_H

#define SK_ERRORS(X)                                                           \
    X(SK_EOK, 0, "success")                                                    \
    X(SK_ENOMEM, 1, "out of memory")                                           \
    X(SK_EINVAL, 2, "invalid argument")                                        \
    X(SK_ELIMIT, 3, "input exceeds a configured limit")                        \
    X(SK_EPARSE, 4, "malformed input")                                         \
    X(SK_EIO, 5, "input/output error")                                         \
    X(SK_ENOTSUP, 6, "not supported")                                          \
    X(SK_ENOENT, 7, "not found")                                               \
    X(SK_EEXIST, 8, "already exists")                                          \
    X(SK_EAGAIN, 9, "try again")                                               \
    X(SK_ESTATE, 10, "call out of order")                                      \
    X(SK_ECORRUPT, 11, "data failed verification")                             \
    X(SK_EMATCHLIMIT, 12, "regular expression match limit exceeded")

enum sk_error {
#define SK__ERR_ENUM(name, val, msg) name = (val),
    SK_ERRORS(SK__ERR_ENUM)
#undef SK__ERR_ENUM
};

/* Positive, non-error results of phase handlers. */
enum sk_status {
    SK_DECLINED = 1,
    SK_AGAIN = 2,
};

/*
 * Returns a static, human readable message for an error code. Accepts the
 * code either negated (as functions return it) or positive. Never blocks.
 */
const char *sk_strerror(int err);

#endif
