/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CV_SIZE_H
#define CV_SIZE_H

#include <stdint.h>

/*
 * Parse a byte count as users write it: "1073741824", "512M", "2G", "2GiB"
 * (binary units).  -EINVAL on junk, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *out);

#endif /* CV_SIZE_H */
