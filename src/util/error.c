/* SPDX-License-Identifier: Apache-2.0 */
/* Messages for the SK_E* error codes, generated from the same X-macro. */
#include "util/error.h"

const char *
sk_strerror(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
#define SK__ERR_CASE(name, val, msg)                                           \
    case (val):                                                                \
        return (msg);
        SK_ERRORS(SK__ERR_CASE)
#undef SK__ERR_CASE
    default:
        return "unknown error";
    }
}
