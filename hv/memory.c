/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest-abi/cv_platform.h"
#include "tools/lib/log.h"

int guest_mem_init(struct guest_mem *mem, uint64_t size)
{
	void *p;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	if (size < CV_MEM_MIN || size % CV_MEM_ALIGN) {
		cv_err("memory: %llu bytes: need a multiple of 2 MiB, at least %llu MiB",
		       (unsigned long long)size, CV_MEM_MIN >> 20);
		return -EINVAL;
	}
	mem->memfd = memfd_create("cardvisor-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mem->memfd < 0)
		return -errno;
	/*
	 * Cards map this fd: sealed, its size can never change under them, so
	 * a card that checked a mapping against the size never faults on it.
	 */
	if (ftruncate(mem->memfd, (off_t)size) < 0 ||
	    fcntl(mem->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		 mem->memfd, 0);
	if (p == MAP_FAILED)
		goto fail;
	/* Guest RAM is large and mostly idle: keep it out of core dumps. */
	madvise(p, size, MADV_DONTDUMP);
	mem->host = p;
	mem->size = size;
	mem->low_size = size < CV_PCI_HOLE_START ? size : CV_PCI_HOLE_START;
	mem->high_size = size - mem->low_size;
	return 0;
fail:;
	int err = -errno;

	close(mem->memfd);
	mem->memfd = -1;
	cv_err("memory: cannot allocate %llu MiB of guest RAM: %s",
	       (unsigned long long)(size >> 20), strerror(-err));
	return err;
}

void guest_mem_destroy(struct guest_mem *mem)
{
	if (mem->host)
		munmap(mem->host, mem->size);
	if (mem->memfd >= 0)
		close(mem->memfd);
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	if (end <= mem->low_size)
		return mem->host + gpa;
	if (gpa >= CV_HIGHMEM_START && end - CV_HIGHMEM_START <= mem->high_size)
		return mem->host + mem->low_size + (gpa - CV_HIGHMEM_START);
	return NULL;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, size_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, size_t len)
{
	const void *src = guest_mem_ptr(mem, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}
