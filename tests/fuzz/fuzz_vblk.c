/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vhost-user-blk request parser (vblk_parse, cards/ebs/vblk.c) on a
 * chain as virtq_pop hands it over: readable segments, then writable
 * ones, none empty, each its own exact-size heap block holding input
 * bytes (so a read or write past a segment is an AddressSanitizer
 * report).  The volume's limits come from the input too.
 *
 * Input: blocks (u64), max_data (u32), the number of readable and of
 * writable segments, then per segment its length (u16, 1..65536), how
 * many of its first bytes the input gives (u16; the rest are zero) and
 * those bytes, in that order.
 *
 * Invariants beyond "no crash":
 *  - -1 exactly when the chain has no writable byte; otherwise the status
 *    pointer is the last writable byte;
 *  - OK for a read or write: data segments lie inside segments of the
 *    right direction (read: writable, never the status byte; write:
 *    readable, after the header), add up to data_len, which is a
 *    non-zero multiple of 4 KiB within max_data, nlb blocks from slba
 *    inside the volume;
 *  - OK for GET_ID: at most 20 bytes, all before the status byte;
 *  - OK for DISCARD / WRITE_ZEROES: 1..256 (1 for WRITE_ZEROES) ranges,
 *    each inside the volume and within the per-range limit, and slba/nlb
 *    are the first range's.
 */
#include <stdlib.h>

#include "cards/ebs/vblk.h"
#include "tests/fuzz/fuzz.h"

#define MAX_SEGS 64 /* enough for every rule; fewer keeps inputs small */

static struct virtq_elem elem;
static struct iovec iov[VIRTQ_MAX_SEGS];
static struct nvme_dsm_range ranges[VBLK_MAX_DISCARD_SEG];

/* Inside one of segments [first, first + n) of the chain. */
static bool inside(const struct iovec *v, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++)
		if (fuzz_inside(v->iov_base, v->iov_len, elem.iov[i].iov_base, elem.iov[i].iov_len))
			return true;
	return false;
}

static void check_data(const struct vblk_parsed *p, const struct vblk_limits *lim)
{
	size_t sum = 0;
	bool in = p->type == VIRTIO_BLK_T_IN;

	FUZZ_CHECK(p->iovcnt <= VIRTQ_MAX_SEGS);
	for (unsigned i = 0; i < p->iovcnt; i++) {
		FUZZ_CHECK(p->iov[i].iov_len > 0);
		FUZZ_CHECK(in ? inside(&p->iov[i], elem.out_num, elem.in_num)
			      : inside(&p->iov[i], 0, elem.out_num));
		/* The status byte is the device's answer, never data. */
		FUZZ_CHECK(!fuzz_inside(p->status, 1, p->iov[i].iov_base, p->iov[i].iov_len));
		sum += p->iov[i].iov_len;
	}
	FUZZ_CHECK(sum == p->data_len);
	FUZZ_CHECK(p->data_len && p->data_len % EBS_LBA_SIZE == 0 &&
		   p->data_len <= lim->max_data);
	FUZZ_CHECK((uint64_t)p->nlb * EBS_LBA_SIZE == p->data_len);
	FUZZ_CHECK(p->nlb <= lim->blocks && p->slba <= lim->blocks - p->nlb);
}

static void check_ranges(const struct vblk_parsed *p, const struct vblk_limits *lim)
{
	bool discard = p->type == VIRTIO_BLK_T_DISCARD;

	FUZZ_CHECK(p->nr_ranges >= 1 && p->nr_ranges <= (discard ? VBLK_MAX_DISCARD_SEG : 1u));
	for (unsigned i = 0; i < p->nr_ranges; i++) {
		const struct nvme_dsm_range *r = &p->ranges[i];

		FUZZ_CHECK(r->nlb >= 1 && r->nlb <= (discard ? VBLK_MAX_DISCARD_BLOCKS
							      : VBLK_MAX_ZEROES_BLOCKS));
		FUZZ_CHECK(r->nlb <= lim->blocks && r->slba <= lim->blocks - r->nlb);
	}
	FUZZ_CHECK(p->slba == p->ranges[0].slba && p->nlb == p->ranges[0].nlb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	struct vblk_limits lim;
	struct vblk_parsed p = { .iov = iov, .ranges = ranges };
	unsigned nout, nin;
	const struct iovec *last;
	int r;

	lim.blocks = fuzz_u64(&in);
	lim.max_data = fuzz_u32(&in);
	nout = fuzz_u8(&in) % (MAX_SEGS + 1);
	nin = fuzz_u8(&in) % (MAX_SEGS + 1 - nout);
	memset(&elem, 0, sizeof(elem));
	elem.out_num = nout;
	elem.in_num = nin;
	for (unsigned i = 0; i < nout + nin; i++) {
		size_t len = (size_t)fuzz_u16(&in) + 1, given = fuzz_u16(&in);
		uint8_t *seg = calloc(1, len);

		FUZZ_CHECK(seg);
		fuzz_bytes(&in, seg, given < len ? given : len);
		elem.iov[i] = (struct iovec){ seg, len };
		if (i < nout)
			elem.out_len += len;
		else
			elem.in_len += len;
	}

	r = vblk_parse(&elem, &lim, &p);
	if (!nin) {
		FUZZ_CHECK(r == -1);
		goto out;
	}
	last = &elem.iov[nout + nin - 1];
	FUZZ_CHECK(p.status == (uint8_t *)last->iov_base + last->iov_len - 1);
	FUZZ_CHECK(r == VIRTIO_BLK_S_OK || r == VIRTIO_BLK_S_IOERR || r == VIRTIO_BLK_S_UNSUPP);
	if (r != VIRTIO_BLK_S_OK)
		goto out;
	switch (p.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		check_data(&p, &lim);
		break;
	case VIRTIO_BLK_T_GET_ID:
		FUZZ_CHECK(p.data_len >= 1 && p.data_len <= VIRTIO_BLK_ID_BYTES &&
			   p.data_len < elem.in_len);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		check_ranges(&p, &lim);
		break;
	default:
		FUZZ_CHECK(p.type == VIRTIO_BLK_T_FLUSH);
	}
out:
	for (unsigned i = 0; i < nout + nin; i++)
		free(elem.iov[i].iov_base);
	return 0;
}
