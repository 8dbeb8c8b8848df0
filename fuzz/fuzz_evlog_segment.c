/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the segment reader (a segment header followed by record frames,
 * decoded the way recovery and verify walk a segment file) and the writer
 * protocol's APPEND frame parser on the same bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "evlog/evlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_str src, type, body;
    if (sk_evlog_frame_parse_append(data, size, &src, &type, &body) == 0 &&
        (src.p < data || type.p < data || body.p + body.len > data + size))
        __builtin_trap();
    struct sk_evlog_seg_header h;
    size_t off = 0;
    if (sk_evlog_seg_header_decode(data, size, &h) == 0)
        off = SK_EVLOG_SEG_HEADER;
    while (off < size) {
        struct sk_evlog_record r;
        size_t used = 0;
        if (sk_evlog_record_decode(data + off, size - off, &r, &used) != 0)
            break;
        if (used == 0 || used > size - off || r.body.len > SK_EVLOG_MAX_BODY)
            __builtin_trap();
        struct sk_evlog_query q = {.text = "x", .client_ip = "1.2.3.4"};
        (void)sk_evlog_query_match(&q, &r);
        off += used;
    }
    return 0;
}
