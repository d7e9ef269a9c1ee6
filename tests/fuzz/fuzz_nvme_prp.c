/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An NVMe command's data pointer as the EBS card maps it
 * (cards/ebs/nvme_prp.c, nvme_dptr_map): PRP1/PRP2 with PRP lists, or an
 * SGL with segments, over guest memory whose PRP lists and SGL segments
 * come from the input.
 *
 * Guest memory is three regions, each its own exact-size heap block (so a
 * read or write outside one is an AddressSanitizer report): 256 KiB at 0,
 * 64 KiB right after it in guest physical addresses but not on the host
 * (a range across them must be split), and the last 8 KiB of the 64-bit
 * address space (where address + length wraps).
 *
 * Input: the SQE (64 bytes), a byte (bit 0: SGLs allowed; the rest: the
 * iovec room, 1..128), the length (u32, up to 2 MiB), then writes into
 * guest memory (region, offset, length, bytes) until the input ends.
 *
 * Invariants beyond "no crash":
 *  - at most the room given is used, and every iovec lies inside one
 *    region, success or not;
 *  - success maps exactly the length asked, a length of 0 maps nothing;
 *  - copying into and out of what was mapped stays inside it.
 */
#include <stdlib.h>

#include "cards/ebs/nvme_prp.h"
#include "tests/fuzz/fuzz.h"

#define NREGIONS 3
#define IOV_MAX_ROOM 128
#define LEN_MAX (2u << 20)

static const struct {
	uint64_t gpa;
	uint32_t size;
} layout[NREGIONS] = {
	{ 0, 256u << 10 },
	{ 256u << 10, 64u << 10 },
	{ UINT64_MAX - (8u << 10) + 1, 8u << 10 },
};

static uint8_t *host[NREGIONS];

static void *dma_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	for (unsigned i = 0; i < NREGIONS; i++)
		if (gpa >= layout[i].gpa && gpa - layout[i].gpa < layout[i].size &&
		    len <= layout[i].size - (gpa - layout[i].gpa))
			return host[i] + (gpa - layout[i].gpa);
	return NULL;
}

static bool in_guest(const struct iovec *v)
{
	for (unsigned i = 0; i < NREGIONS; i++)
		if (fuzz_inside(v->iov_base, v->iov_len, host[i], layout[i].size))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iovec iov[IOV_MAX_ROOM + 1];
	static uint8_t buf[LEN_MAX];
	struct fuzz_in in = fuzz_in(data, size);
	const struct nvme_dma dma = { .ptr = dma_ptr };
	struct nvme_sqe sqe;
	uint8_t how;
	unsigned room, cnt = ~0u;
	uint64_t len, total = 0;
	uint16_t sc;

	for (unsigned i = 0; i < NREGIONS; i++) {
		if (!host[i])
			host[i] = malloc(layout[i].size);
		FUZZ_CHECK(host[i]);
		memset(host[i], 0, layout[i].size);
	}
	fuzz_bytes(&in, &sqe, sizeof(sqe));
	how = fuzz_u8(&in);
	room = (how >> 1) % IOV_MAX_ROOM + 1;
	len = fuzz_u32(&in) % (LEN_MAX + 1);
	while (!fuzz_empty(&in)) {
		unsigned r = fuzz_u8(&in) % NREGIONS;
		uint32_t off = fuzz_u32(&in) % layout[r].size;
		size_t n = fuzz_u16(&in);

		fuzz_bytes(&in, host[r] + off, n < layout[r].size - off ? n : layout[r].size - off);
	}

	/* A sentinel past the room: the mapper must not touch it. */
	iov[room] = (struct iovec){ NULL, 0x5a5a };
	sc = nvme_dptr_map(&dma, &sqe, how & 1, len, iov, room, &cnt);
	FUZZ_CHECK(cnt <= room && iov[room].iov_len == 0x5a5a);
	for (unsigned i = 0; i < cnt; i++) {
		FUZZ_CHECK(iov[i].iov_len > 0 && in_guest(&iov[i]));
		total += iov[i].iov_len;
	}
	if (sc == NVME_SC_SUCCESS) {
		FUZZ_CHECK(total == len);
		/* Both directions of the copy, as reads and writes do. */
		nvme_iov_to_buf(iov, cnt, buf, len);
		nvme_buf_to_iov(iov, cnt, buf, len / 2);
	} else {
		FUZZ_CHECK(total <= len);
	}
	return 0;
}
