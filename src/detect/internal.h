/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the detectors that the unit tests check: the keyword and
 * event-name tables must stay sorted, since lookups use binary search.
 */
#ifndef SK_DETECT_INTERNAL_H
#define SK_DETECT_INTERNAL_H

#include <stddef.h>

/*
 * Returns 0 when the SQL keyword table is sorted and free of duplicates,
 * else the index of the first row out of order. Pure; does not block.
 */
size_t sk__detect_kw_check(void);

/*
 * Returns 0 when the HTML event-handler table is sorted and free of
 * duplicates, else the index of the first row out of order. Pure; does
 * not block.
 */
size_t sk__detect_events_check(void);

#endif
