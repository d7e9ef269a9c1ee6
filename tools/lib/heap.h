/* SPDX-License-Identifier: Apache-2.0 */
/*
 * glibc's heap for processes that move I/O through short-lived buffers of
 * up to one NVMe/TCP transfer (cv-ebs's bounce buffers, cv-storaged's
 * command buffers: 128 KiB and more, allocated per request, freed at its
 * completion).  With glibc's defaults such a buffer is mmapped, or the
 * heap top is trimmed each time the freed buffers gather there, and the
 * next requests fault every page back in, zeroed: measured, 10 to 19 page
 * faults per 128 KiB write in each of the two processes, a third of their
 * CPU per request (docs/benchmarks.md, "Blk face under QEMU").
 */
#ifndef CV_TOOLS_LIB_HEAP_H
#define CV_TOOLS_LIB_HEAP_H

#include <stdbool.h>

/*
 * Keep freed I/O buffers in the heap: buffers below HEAP_MMAP_THRESHOLD
 * come from the heap, and up to HEAP_TRIM_THRESHOLD of free memory at its
 * top stays mapped (both fixed, which also turns off glibc's dynamic
 * adjustment).  Call once, early in main.  True when glibc's heap took
 * the settings; false under ASan, whose allocator is its own, or when
 * glibc refused them (logged).
 */
#define HEAP_MMAP_THRESHOLD (4 << 20)
#define HEAP_TRIM_THRESHOLD (64 << 20)
bool heap_keep_io_buffers(void);

#endif /* CV_TOOLS_LIB_HEAP_H */
