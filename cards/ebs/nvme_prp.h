/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data pointer of an NVMe command (PRP entries and lists, or an SGL) as
 * an iovec over guest memory, for the EBS card's NVMe controller (Base 2.0,
 * "Physical Region Page Entry and List", "Scatter Gather List (SGL)").
 * Every address and length comes from the guest: each is checked and a bad
 * one yields the status code the spec names, never a crash.
 *
 * Memory page size is 4 KiB: the controller offers CAP.MPSMIN = MPSMAX = 0.
 */
#ifndef CV_EBS_NVME_PRP_H
#define CV_EBS_NVME_PRP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-abi/nvme.h"

#define NVME_PAGE_SIZE 4096u

/*
 * Guest memory: @ptr returns the host address of [@gpa, @gpa + @len), or
 * NULL when any of it is not guest RAM (or not contiguous on the host).
 */
struct nvme_dma {
	void *(*ptr)(void *opaque, uint64_t gpa, uint64_t len);
	void *opaque;
};

/*
 * Map @len bytes of @sqe's data pointer into at most @max iovecs (host
 * addresses inside guest RAM; host-contiguous pieces are merged) and set
 * *@cnt.  SGLs are accepted only when @sgl_ok (I/O commands; PCIe admin
 * commands use PRPs only).  Returns NVME_SC_SUCCESS or the status code to
 * complete the command with: PRP Offset Invalid, Data Transfer Error (an
 * address outside guest RAM), Invalid Field (reserved PSDT, SGLs where not
 * allowed), or one of the SGL codes.  @len 0 maps nothing and succeeds.
 */
uint16_t nvme_dptr_map(const struct nvme_dma *dma, const struct nvme_sqe *sqe,
		       bool sgl_ok, uint64_t len, struct iovec *iov,
		       unsigned max, unsigned *cnt);

/* Copy the first @len bytes of the guest memory described by @iov. */
void nvme_iov_to_buf(const struct iovec *iov, unsigned cnt, void *buf,
		     uint64_t len);
/* Copy @len bytes into it; the rest of @iov, if longer, is zeroed. */
void nvme_buf_to_iov(const struct iovec *iov, unsigned cnt, const void *buf,
		     uint64_t len);

#endif /* CV_EBS_NVME_PRP_H */
