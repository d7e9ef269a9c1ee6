/* SPDX-License-Identifier: Apache-2.0 */
/* PRP and SGL data pointers as iovecs over guest memory: see nvme_prp.h. */
#include "cards/ebs/nvme_prp.h"

#include <string.h>

#define PAGE_MASK ((uint64_t)NVME_PAGE_SIZE - 1)
/*
 * Descriptors the controller reads from segments for one command.  SGLs are
 * guest-built linked lists: a bound keeps a looped chain from spinning.
 */
#define SGL_MAX_SEGMENT_DESCS 1024

struct iov_builder {
	const struct nvme_dma *dma;
	struct iovec *iov;
	unsigned max, cnt;
};

/*
 * Append guest [@gpa, @gpa + @len).  Guest RAM may be several host mappings
 * (below and above the 32-bit hole), so a range that is not one host block
 * is retried page by page; a page is always within one mapping.
 */
static uint16_t add_range(struct iov_builder *b, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return NVME_SC_DATA_XFER_ERROR;
	while (len) {
		uint64_t piece = len;
		uint8_t *p = b->dma->ptr(b->dma->opaque, gpa, piece);
		struct iovec *last = b->cnt ? &b->iov[b->cnt - 1] : NULL;

		if (!p) {
			piece = NVME_PAGE_SIZE - (gpa & PAGE_MASK);
			if (piece > len)
				piece = len;
			p = b->dma->ptr(b->dma->opaque, gpa, piece);
			if (!p)
				return NVME_SC_DATA_XFER_ERROR;
		}
		if (last && (uint8_t *)last->iov_base + last->iov_len == p) {
			last->iov_len += piece;
		} else {
			/* Only an SGL of many small blocks gets here. */
			if (b->cnt == b->max)
				return NVME_SC_SGL_INVALID_COUNT;
			b->iov[b->cnt++] = (struct iovec){ p, piece };
		}
		gpa += piece;
		len -= piece;
	}
	return NVME_SC_SUCCESS;
}

/*
 * Base 2.0, "Physical Region Page Entry and List": PRP1 may start anywhere
 * dword aligned; every later entry is page aligned.  PRP2 is the second
 * page when two suffice, else a qword-aligned pointer to a PRP list whose
 * last entry in each page chains to the next list page when more than one
 * page of data remains.
 */
static uint16_t map_prp(struct iov_builder *b, const struct nvme_sqe *sqe,
			uint64_t len)
{
	uint64_t prp1 = sqe->dptr.prp.prp1, list = sqe->dptr.prp.prp2;
	uint64_t n = NVME_PAGE_SIZE - (prp1 & PAGE_MASK);
	uint16_t sc;

	if (prp1 & 3)
		return NVME_SC_PRP_INVALID_OFFSET;
	if (n > len)
		n = len;
	sc = add_range(b, prp1, n);
	len -= n;
	if (sc || !len)
		return sc;
	if (len <= NVME_PAGE_SIZE) {
		if (list & PAGE_MASK)
			return NVME_SC_PRP_INVALID_OFFSET;
		return add_range(b, list, len);
	}
	if (list & 7)
		return NVME_SC_PRP_INVALID_OFFSET;
	while (len) {
		unsigned slots = (NVME_PAGE_SIZE - (list & PAGE_MASK)) / 8;
		const uint64_t *ent = b->dma->ptr(b->dma->opaque, list, slots * 8ull);

		if (!ent)
			return NVME_SC_DATA_XFER_ERROR;
		for (unsigned i = 0; i < slots && len; i++) {
			/* One read per entry: the guest may rewrite the list meanwhile. */
			uint64_t e = __atomic_load_n(&ent[i], __ATOMIC_RELAXED);

			if (e & PAGE_MASK)
				return NVME_SC_PRP_INVALID_OFFSET;
			if (i == slots - 1 && len > NVME_PAGE_SIZE) {
				list = e;
				break;
			}
			n = len < NVME_PAGE_SIZE ? len : NVME_PAGE_SIZE;
			sc = add_range(b, e, n);
			if (sc)
				return sc;
			len -= n;
		}
	}
	return NVME_SC_SUCCESS;
}

/*
 * Base 2.0, "Scatter Gather List (SGL)": SGL1 in the command is a Data Block
 * or points to the first segment; a Segment descriptor may only be the last
 * descriptor of a segment and a Last Segment's list holds none.  Keyed,
 * offset and Bit Bucket descriptors are not offered (Identify SGLS).  The
 * blocks must describe exactly @len bytes: SGLS bit 18 ("larger than the
 * data") is clear.
 */
static uint16_t map_sgl(struct iov_builder *b, const struct nvme_sqe *sqe,
			uint64_t len)
{
	struct nvme_sgl_desc d = sqe->dptr.sgl1;
	const struct nvme_sgl_desc *seg = NULL;
	unsigned nseg = 0, i = 0, budget = SGL_MAX_SEGMENT_DESCS;
	bool in_last = false;
	uint16_t sc;

	for (;;) {
		unsigned type = NVME_SGL_ID_TYPE(d.id);

		if (NVME_SGL_ID_SUBTYPE(d.id) != NVME_SGL_SUBTYPE_ADDRESS)
			return NVME_SC_SGL_INVALID_TYPE;
		switch (type) {
		case NVME_SGL_TYPE_DATA_BLOCK:
			if (d.length > len)
				return NVME_SC_SGL_INVALID_DATA_LEN;
			sc = add_range(b, d.addr, d.length);
			if (sc)
				return sc;
			len -= d.length;
			break;
		case NVME_SGL_TYPE_SEGMENT:
		case NVME_SGL_TYPE_LAST_SEGMENT:
			if (seg && i != nseg)
				return NVME_SC_SGL_INVALID_COUNT;
			if (in_last || !d.length || d.length % sizeof(d))
				return NVME_SC_SGL_INVALID_LAST;
			nseg = d.length / sizeof(d);
			if (nseg > budget)
				return NVME_SC_SGL_INVALID_COUNT;
			budget -= nseg;
			seg = b->dma->ptr(b->dma->opaque, d.addr, d.length);
			if (!seg)
				return NVME_SC_DATA_XFER_ERROR;
			i = 0;
			in_last = type == NVME_SGL_TYPE_LAST_SEGMENT;
			break;
		default:
			return NVME_SC_SGL_INVALID_TYPE;
		}
		if (!seg || i == nseg)
			break;
		/* One copy per descriptor: the guest may rewrite the segment. */
		memcpy(&d, &seg[i++], sizeof(d));
	}
	return len ? NVME_SC_SGL_INVALID_DATA_LEN : NVME_SC_SUCCESS;
}

uint16_t nvme_dptr_map(const struct nvme_dma *dma, const struct nvme_sqe *sqe,
		       bool sgl_ok, uint64_t len, struct iovec *iov,
		       unsigned max, unsigned *cnt)
{
	struct iov_builder b = { .dma = dma, .iov = iov, .max = max };
	uint16_t sc = NVME_SC_SUCCESS;

	*cnt = 0;
	if (len) {
		switch (sqe->flags & NVME_SQE_PSDT_MASK) {
		case NVME_SQE_PSDT_PRP:
			sc = map_prp(&b, sqe, len);
			break;
		case NVME_SQE_PSDT_SGL_MPTR_BUF:
		case NVME_SQE_PSDT_SGL_MPTR_SGL:
			sc = sgl_ok ? map_sgl(&b, sqe, len) : NVME_SC_INVALID_FIELD;
			break;
		default:
			sc = NVME_SC_INVALID_FIELD;
		}
	}
	*cnt = b.cnt;
	return sc;
}

void nvme_iov_to_buf(const struct iovec *iov, unsigned cnt, void *buf,
		     uint64_t len)
{
	uint8_t *p = buf;

	for (unsigned i = 0; i < cnt && len; i++) {
		uint64_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(p, iov[i].iov_base, n);
		p += n;
		len -= n;
	}
}

void nvme_buf_to_iov(const struct iovec *iov, unsigned cnt, const void *buf,
		     uint64_t len)
{
	const uint8_t *p = buf;

	for (unsigned i = 0; i < cnt; i++) {
		uint64_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		if (n)
			memcpy(iov[i].iov_base, p, n);
		memset((uint8_t *)iov[i].iov_base + n, 0, iov[i].iov_len - n);
		p += n;
		len -= n;
	}
}
