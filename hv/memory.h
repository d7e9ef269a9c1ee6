/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest RAM: one memfd, so the card processes can map the very same pages
 * (vhost-user and vfio-user pass this fd).  RAM below the PCI hole maps
 * guest physical [0, low_size); the rest maps [4 GiB, 4 GiB + high_size).
 */
#ifndef CV_HV_MEMORY_H
#define CV_HV_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "guest-abi/cv_platform.h"

struct guest_mem {
	int memfd;
	uint8_t *host;       /* whole memfd, mapped shared */
	uint64_t size;       /* total bytes of RAM */
	uint64_t low_size;   /* bytes below CV_PCI_HOLE_START */
	uint64_t high_size;  /* bytes from CV_HIGHMEM_START */
};

/* Create RAM of @size bytes (multiple of CV_MEM_ALIGN, at least CV_MEM_MIN). */
int guest_mem_init(struct guest_mem *mem, uint64_t size);
void guest_mem_destroy(struct guest_mem *mem);

/*
 * Host address of guest physical [gpa, gpa + len), or NULL when any byte of it
 * is not RAM (in the hole, past the end, or wrapping).  Every guest-supplied
 * address goes through here.
 */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copy into / out of guest RAM; -EFAULT when the range is not all RAM. */
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, size_t len);
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, size_t len);

#endif /* CV_HV_MEMORY_H */
