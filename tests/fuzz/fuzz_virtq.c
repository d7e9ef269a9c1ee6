/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The split virtqueue chain walker (cards/lib/virtq.c) as a device sees a
 * hostile driver: descriptor table, avail ring, used ring, the guest's
 * buffers and, optionally, an inflight region left by a predecessor are
 * all bytes of the input.
 *
 * Input: a configuration byte (queue size 1..256, EVENT_IDX, INDIRECT_DESC,
 * an inflight region and whether the ring starts with it), the first avail
 * index, the three rings, the inflight region; then operations: pop (and
 * fill or hold the chain), publish, unpop, the guest making more buffers
 * available, rewriting descriptors behind the device's back or writing
 * its memory (indirect tables), notification checks, copies through a
 * chain.  A final drain pops whatever is left, so even a short input
 * walks chains.
 *
 * Every part of guest memory is its own exact-size heap block, so any
 * access outside the rings' sizes or outside a memory region is an
 * AddressSanitizer report.  Guest memory is three regions: two that are
 * contiguous in guest physical addresses but not on the host (a buffer
 * across them must be split) and one at the very top of the 64-bit
 * address space (where address + length wraps).
 *
 * Invariants beyond "no crash":
 *  - a popped chain has 1..VIRTQ_MAX_SEGS segments, readable before
 *    writable, each non-empty and inside one memory region, and out_len /
 *    in_len are their sums; its head is below the queue size (a chain of
 *    zero-length descriptors once popped with no segment at all:
 *    docs/fuzzing.md, "Findings");
 *  - virtq_pop returns 0 only with the avail ring consumed (or broken);
 *  - used.idx in guest memory is what the device published, and the
 *    inflight region's used_idx follows each batch;
 *  - recovery resubmits distinct heads below the queue size, oldest
 *    counter first, and resumes the avail ring at used.idx + their number;
 *  - virtq_unpop refuses more chains than were popped since the last drop;
 *  - copies through a chain never move more than the chain holds.
 */
#include <errno.h>
#include <stdlib.h>

#include "cards/lib/virtq.h"
#include "tests/fuzz/fuzz.h"

#define NREGIONS 3

static const struct {
	uint64_t gpa;
	uint32_t size;
} layout[NREGIONS] = {
	{ 0x1000, 512 },
	{ 0x1200, 256 },              /* right after region 0 in GPA */
	{ UINT64_MAX - 255, 256 },    /* the last 256 bytes of the space */
};

enum op {
	OP_POP, OP_PUBLISH, OP_UNPOP, OP_AVAIL, OP_DESC, OP_NOTIFY, OP_COPY, OP_POKE,
	OP__COUNT
};

struct held {
	uint16_t head;
	uint32_t in_len;
	uint64_t seq;     /* which pop took it */
};

struct state {
	struct virtq_mem mem;
	struct virtq vq;
	struct virtq_elem elem;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	struct vhost_user_queue_region_split *inflight;
	uint16_t *resubmit;
	uint16_t num;
	/* Chains popped and not yet filled, oldest first. */
	struct held held[256];
	unsigned nheld;
	uint64_t pops;
	/* Pops since the last dropped chain: all virtq_unpop may rewind. */
	unsigned popped_ok;
};

static struct state st;

static bool in_some_region(const void *p, size_t len)
{
	for (unsigned i = 0; i < st.mem.nregions; i++)
		if (fuzz_inside(p, len, st.mem.region[i].host, st.mem.region[i].size))
			return true;
	return false;
}

static void check_elem(const struct virtq_elem *e)
{
	size_t out = 0, in = 0;
	unsigned n = e->out_num + e->in_num;

	FUZZ_CHECK(e->head < st.num);
	FUZZ_CHECK(n >= 1 && n <= VIRTQ_MAX_SEGS);
	for (unsigned i = 0; i < n; i++) {
		FUZZ_CHECK(e->iov[i].iov_len > 0);
		FUZZ_CHECK(in_some_region(e->iov[i].iov_base, e->iov[i].iov_len));
		if (i < e->out_num)
			out += e->iov[i].iov_len;
		else
			in += e->iov[i].iov_len;
	}
	FUZZ_CHECK(out == e->out_len && in == e->in_len);
}

/*
 * Publish: used.idx must then be exactly what the device published, and
 * after a non-empty batch the inflight region's used_idx too (the
 * front-end may write that field, so it is only the device's word then).
 */
static void publish(void)
{
	bool batch = virtq_unpublished(&st.vq);

	virtq_publish(&st.vq);
	FUZZ_CHECK(st.used->idx == st.vq.published);
	if (st.vq.inflight && batch)
		FUZZ_CHECK(st.vq.inflight->used_idx == st.vq.published);
}

static void fill_held(unsigned i, uint32_t len)
{
	struct held h = st.held[i];

	memmove(&st.held[i], &st.held[i + 1], (st.nheld - i - 1) * sizeof(st.held[0]));
	st.nheld--;
	virtq_fill(&st.vq, h.head, len > h.in_len ? h.in_len : len);
}

static void do_pop(struct fuzz_in *in)
{
	uint8_t how = fuzz_u8(in);
	uint64_t drops = st.vq.stats.bad_head + st.vq.stats.bad_desc + st.vq.stats.bad_addr +
			 st.vq.stats.loop + st.vq.stats.bad_indirect + st.vq.stats.bad_order +
			 st.vq.stats.too_many_segs;
	int r = virtq_pop(&st.vq, &st.elem);

	if (drops != st.vq.stats.bad_head + st.vq.stats.bad_desc + st.vq.stats.bad_addr +
			     st.vq.stats.loop + st.vq.stats.bad_indirect +
			     st.vq.stats.bad_order + st.vq.stats.too_many_segs)
		st.popped_ok = 0;
	if (r == 0) {
		FUZZ_CHECK(st.vq.broken || st.vq.last_avail == st.avail->idx);
		return;
	}
	FUZZ_CHECK(r == 1);
	check_elem(&st.elem);
	st.popped_ok++;
	st.pops++;
	/* Hold it (a device whose I/O is in flight) or complete it now. */
	if (st.nheld < st.num && (how & 1)) {
		st.held[st.nheld++] = (struct held){ st.elem.head, (uint32_t)st.elem.in_len,
						     st.pops };
		return;
	}
	virtq_fill(&st.vq, st.elem.head, (uint32_t)st.elem.in_len);
}

static void do_unpop(struct fuzz_in *in)
{
	uint16_t n = fuzz_u8(in) % 4, before = st.vq.last_avail;

	/* The API's contract: only the newest pops, all still unfilled. */
	for (uint16_t i = 0; i < n; i++)
		if (i >= st.nheld || st.held[st.nheld - 1 - i].seq != st.pops - i)
			return;
	if (virtq_unpop(&st.vq, n) == 0) {
		FUZZ_CHECK(n <= st.popped_ok);
		FUZZ_CHECK(st.vq.last_avail == (uint16_t)(before - n));
		st.nheld -= n;
		st.popped_ok -= n;
	}
}

/* The guest adds @k heads to the avail ring, as a driver does. */
static void do_avail(struct fuzz_in *in)
{
	unsigned k = fuzz_u8(in) % 8;

	for (unsigned i = 0; i < k; i++) {
		uint16_t head = fuzz_u16(in);

		st.avail->ring[st.avail->idx & (st.num - 1)] = head;
		st.avail->idx++;
	}
	/* Sometimes a driver gone mad: any index at all. */
	if (k == 7)
		st.avail->idx = fuzz_u16(in);
}

/* The guest rewrites one descriptor, possibly under a chain being walked. */
static void do_desc(struct fuzz_in *in)
{
	uint16_t i = fuzz_u16(in) & (st.num - 1);

	fuzz_bytes(in, &st.desc[i], sizeof(st.desc[i]));
}

static void do_notify(struct fuzz_in *in)
{
	uint8_t how = fuzz_u8(in);

	st.avail->flags = how & 1;
	st.avail->ring[st.num] = fuzz_u16(in); /* used_event */
	if (how & 2) {
		bool more = virtq_enable_notify(&st.vq);

		FUZZ_CHECK(!more || !st.vq.broken);
	} else {
		virtq_should_notify(&st.vq);
	}
}

/* Copies through the last chain popped, as a device reads and writes it. */
static void do_copy(struct fuzz_in *in)
{
	static uint8_t buf[8192];
	size_t off = fuzz_u16(in), len = fuzz_u16(in) % sizeof(buf), n;

	if (!st.elem.out_num && !st.elem.in_num)
		return;
	n = virtq_elem_read(&st.elem, off, buf, len);
	FUZZ_CHECK(n <= len && (off >= st.elem.out_len ? n == 0 : n <= st.elem.out_len - off));
	n = virtq_elem_write(&st.elem, off, buf, len);
	FUZZ_CHECK(n <= len && (off >= st.elem.in_len ? n == 0 : n <= st.elem.in_len - off));
}

/* The guest writes its memory: an indirect table, or under a chain. */
static void do_poke(struct fuzz_in *in)
{
	const struct virtq_mem_region *r = &st.mem.region[fuzz_u8(in) % NREGIONS];
	size_t off = fuzz_u16(in) % r->size, len = fuzz_u8(in);

	fuzz_bytes(in, r->host + off, len < r->size - off ? len : r->size - off);
}

static void check_recovery(int n)
{
	uint64_t last = 0;

	FUZZ_CHECK(n >= 0 && n <= st.num);
	for (int i = 0; i < n; i++) {
		uint16_t h = st.resubmit[i];

		FUZZ_CHECK(h < st.num && st.inflight->desc[h].inflight);
		FUZZ_CHECK(st.inflight->desc[h].counter >= last);
		last = st.inflight->desc[h].counter;
		for (int j = 0; j < i; j++)
			FUZZ_CHECK(st.resubmit[j] != h);
	}
	FUZZ_CHECK(st.vq.last_avail == (uint16_t)(st.vq.published + n));
}

static void *blob(struct fuzz_in *in, size_t len)
{
	void *p = malloc(len);

	FUZZ_CHECK(p);
	return fuzz_bytes(in, p, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t cfg = fuzz_u8(&in);
	uint16_t last_avail = fuzz_u16(&in);
	size_t region_len;
	int r;

	st.num = (uint16_t)(1u << ((cfg & 15) % 9));
	st.desc = blob(&in, VIRTQ_DESC_SIZE(st.num));
	st.avail = blob(&in, VIRTQ_AVAIL_SIZE(st.num));
	st.used = blob(&in, VIRTQ_USED_SIZE(st.num));
	st.mem.nregions = NREGIONS;
	for (unsigned i = 0; i < NREGIONS; i++) {
		st.mem.region[i] = (struct virtq_mem_region){
			.gpa = layout[i].gpa, .uaddr = layout[i].gpa, .size = layout[i].size,
			.host = calloc(1, layout[i].size),
		};
		FUZZ_CHECK(st.mem.region[i].host);
	}
	region_len = sizeof(*st.inflight) + sizeof(st.inflight->desc[0]) * st.num;
	st.inflight = cfg & 0x40 ? blob(&in, region_len) : NULL;
	st.resubmit = malloc(sizeof(st.resubmit[0]) * st.num);
	FUZZ_CHECK(st.resubmit);
	memset(&st.vq, 0, sizeof(st.vq));
	memset(&st.elem, 0, sizeof(st.elem));
	st.nheld = st.popped_ok = 0;
	st.pops = 0;

	r = virtq_init(&st.vq, st.num, st.desc, st.avail, st.used, &st.mem, last_avail,
		       cfg & 0x10, cfg & 0x20);
	FUZZ_CHECK(r == 0);
	if (st.inflight) {
		bool fresh = st.inflight->version == 0;

		r = virtq_inflight_attach(&st.vq, st.inflight, st.resubmit, cfg & 0x80);
		if (r == -EINVAL)
			FUZZ_CHECK(!st.vq.inflight);
		else if (fresh)
			FUZZ_CHECK(r == 0 && st.inflight->version == VHOST_USER_INFLIGHT_VERSION &&
				   st.inflight->desc_num == st.num);
		else if (cfg & 0x80)
			check_recovery(r);
		else
			FUZZ_CHECK(r == 0);
	}

	while (!fuzz_empty(&in)) {
		switch (fuzz_u8(&in) % OP__COUNT) {
		case OP_POP:
			do_pop(&in);
			break;
		case OP_PUBLISH:
			if (st.nheld)
				fill_held(fuzz_u8(&in) % st.nheld, fuzz_u32(&in));
			publish();
			break;
		case OP_UNPOP:
			do_unpop(&in);
			break;
		case OP_AVAIL:
			do_avail(&in);
			break;
		case OP_DESC:
			do_desc(&in);
			break;
		case OP_NOTIFY:
			do_notify(&in);
			break;
		case OP_COPY:
			do_copy(&in);
			break;
		case OP_POKE:
			do_poke(&in);
			break;
		}
	}
	/* Drain: at most num resubmissions, then at most num available. */
	for (unsigned i = 0; virtq_pop(&st.vq, &st.elem); i++) {
		FUZZ_CHECK(i < 2u * st.num);
		check_elem(&st.elem);
		virtq_fill(&st.vq, st.elem.head, (uint32_t)st.elem.in_len);
	}
	while (st.nheld)
		fill_held(st.nheld - 1, UINT32_MAX);
	publish();

	free(st.desc);
	free(st.avail);
	free(st.used);
	for (unsigned i = 0; i < NREGIONS; i++)
		free(st.mem.region[i].host);
	free(st.inflight);
	free(st.resubmit);
	return 0;
}
