/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/heap.h"

#include <malloc.h>

#include "tools/lib/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_IS_GLIBC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_IS_GLIBC 0
#endif
#endif
#ifndef HEAP_IS_GLIBC
#define HEAP_IS_GLIBC 1
#endif

bool heap_keep_io_buffers(void)
{
	if (!HEAP_IS_GLIBC)
		return false;
	/* mallopt answers 1 on success; a refusal costs speed, not function. */
	if (mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD) != 1) {
		cv_warn("heap: glibc refused the I/O buffer thresholds; buffers are mapped per request");
		return false;
	}
	return true;
}
