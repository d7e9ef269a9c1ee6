/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Split virtqueue processing (virtio 1.2 §2.7) against a guest memory that
 * is a plain buffer: the test plays the driver, writing descriptors and the
 * available ring, and checks what the device pops, drops and publishes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/lib/virtq.h"

#define GPA_BASE 0x100000ULL
#define MEM_SIZE (1U << 20)
#define QSIZE 512
#define DESC_OFF 0x0
#define AVAIL_OFF 0x4000
#define USED_OFF 0x8000
#define DATA_OFF 0x10000
#define TABLE_OFF 0xf0000 /* indirect tables */

struct t {
	uint8_t *ram;
	struct virtq_mem mem;
	struct virtq vq;
	struct virtq_elem elem;
};

static uint64_t gpa(uint64_t off)
{
	return GPA_BASE + off;
}

static struct virtq_desc *descs(struct t *t)
{
	return (struct virtq_desc *)(t->ram + DESC_OFF);
}

static struct virtq_avail *avail(struct t *t)
{
	return (struct virtq_avail *)(t->ram + AVAIL_OFF);
}

static struct virtq_used *used(struct t *t)
{
	return (struct virtq_used *)(t->ram + USED_OFF);
}

static void set_desc(struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	*d = (struct virtq_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

static void make_avail(struct t *t, uint16_t head)
{
	struct virtq_avail *a = avail(t);

	a->ring[a->idx % t->vq.num] = head;
	a->idx++;
}

static int setup_with(void **state, uint16_t num, bool event_idx, bool indirect)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->ram = aligned_alloc(4096, MEM_SIZE);
	assert_non_null(t->ram);
	memset(t->ram, 0, MEM_SIZE);
	t->mem.nregions = 1;
	t->mem.region[0] = (struct virtq_mem_region){
		.gpa = GPA_BASE, .uaddr = 0x7f0000000000ULL, .size = MEM_SIZE, .host = t->ram,
	};
	assert_int_equal(virtq_init(&t->vq, num, descs(t), avail(t), used(t), &t->mem, 0,
				    event_idx, indirect), 0);
	*state = t;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, QSIZE, true, true);
}

/* A queue shorter than VIRTQ_MAX_SEGS: loops end on the length rule. */
static int setup_small(void **state)
{
	return setup_with(state, 16, true, true);
}

static int setup_plain(void **state)
{
	return setup_with(state, QSIZE, false, false);
}

static int teardown(void **state)
{
	struct t *t = *state;

	free(t->ram);
	free(t);
	return 0;
}

/* The chain was dropped: nothing popped, and given back empty when @back. */
static void assert_dropped(struct t *t, uint16_t head, bool back)
{
	uint16_t before = used(t)->idx;

	assert_int_equal(virtq_pop(&t->vq, &t->elem), 0);
	if (back) {
		assert_int_equal(used(t)->idx, (uint16_t)(before + 1));
		assert_int_equal(used(t)->ring[before % t->vq.num].id, head);
		assert_int_equal(used(t)->ring[before % t->vq.num].len, 0);
	} else {
		assert_int_equal(used(t)->idx, before);
	}
}

/* A good chain after a bad one still works: the queue was not stopped. */
static void assert_still_works(struct t *t)
{
	set_desc(&descs(t)[7], gpa(DATA_OFF), 64, 0, 0);
	make_avail(t, 7);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.head, 7);
	assert_int_equal(t->elem.out_len, 64);
}

static void test_empty_ring(void **state)
{
	struct t *t = *state;

	assert_int_equal(virtq_pop(&t->vq, &t->elem), 0);
}

static void test_good_chain(void **state)
{
	struct t *t = *state;
	uint8_t buf[32];

	memcpy(t->ram + DATA_OFF, "hello, ", 7);
	memcpy(t->ram + DATA_OFF + 0x1000, "device", 6);
	set_desc(&descs(t)[3], gpa(DATA_OFF), 7, VIRTQ_DESC_F_NEXT, 9);
	set_desc(&descs(t)[9], gpa(DATA_OFF + 0x1000), 6, VIRTQ_DESC_F_NEXT, 1);
	set_desc(&descs(t)[1], gpa(DATA_OFF + 0x2000), 100, VIRTQ_DESC_F_WRITE, 0);
	make_avail(t, 3);

	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.head, 3);
	assert_int_equal(t->elem.out_num, 2);
	assert_int_equal(t->elem.in_num, 1);
	assert_int_equal(t->elem.out_len, 13);
	assert_int_equal(t->elem.in_len, 100);
	assert_int_equal(virtq_elem_read(&t->elem, 0, buf, sizeof(buf)), 13);
	assert_memory_equal(buf, "hello, device", 13);
	assert_int_equal(virtq_elem_read(&t->elem, 5, buf, 4), 4);
	assert_memory_equal(buf, ", de", 4);
	assert_int_equal(virtq_elem_write(&t->elem, 10, "reply", 5), 5);
	assert_memory_equal(t->ram + DATA_OFF + 0x2000 + 10, "reply", 5);
	/* Writes never run past the writable part. */
	assert_int_equal(virtq_elem_write(&t->elem, 98, "xyz", 3), 2);

	virtq_fill(&t->vq, t->elem.head, 15);
	assert_int_equal(used(t)->idx, 0); /* not yet published */
	virtq_publish(&t->vq);
	assert_int_equal(used(t)->idx, 1);
	assert_int_equal(used(t)->ring[0].id, 3);
	assert_int_equal(used(t)->ring[0].len, 15);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 0);
}

static void test_loop_dropped(void **state)
{
	struct t *t = *state;

	set_desc(&descs(t)[0], gpa(DATA_OFF), 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(&descs(t)[1], gpa(DATA_OFF), 8, VIRTQ_DESC_F_NEXT, 0);
	make_avail(t, 0);
	assert_dropped(t, 0, true);
	assert_int_equal(t->vq.stats.loop, 1);
	assert_still_works(t);
}

static void test_self_loop_dropped(void **state)
{
	struct t *t = *state;

	set_desc(&descs(t)[5], gpa(DATA_OFF), 8, VIRTQ_DESC_F_NEXT, 5);
	make_avail(t, 5);
	assert_dropped(t, 5, true);
	assert_int_equal(t->vq.stats.loop, 1);
	assert_still_works(t);
}

/* The longest legal chain uses every descriptor once (§2.7.5.3.1). */
static void test_chain_of_queue_size(void **state)
{
	struct t *t = *state;

	for (unsigned i = 0; i < QSIZE; i++)
		set_desc(&descs(t)[i], gpa(DATA_OFF + i), 1,
			 i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	make_avail(t, 0);
	/* 512 one-byte buffers: more segments than one element holds. */
	assert_dropped(t, 0, true);
	assert_int_equal(t->vq.stats.too_many_segs, 1);
	assert_int_equal(t->vq.stats.loop, 0);

	for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
		set_desc(&descs(t)[i], gpa(DATA_OFF + i), 1,
			 i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	make_avail(t, 0);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.out_num, VIRTQ_MAX_SEGS);
	assert_int_equal(t->elem.out_len, VIRTQ_MAX_SEGS);
}

static void test_bad_head_skipped(void **state)
{
	struct t *t = *state;

	make_avail(t, QSIZE);
	make_avail(t, 0xffff);
	/* No valid head to give back: skipped, counted, nothing published. */
	assert_dropped(t, 0, false);
	assert_int_equal(t->vq.stats.bad_head, 2);
	assert_still_works(t);
}

static void test_bad_next_dropped(void **state)
{
	struct t *t = *state;

	set_desc(&descs(t)[2], gpa(DATA_OFF), 8, VIRTQ_DESC_F_NEXT, QSIZE);
	make_avail(t, 2);
	assert_dropped(t, 2, true);
	assert_int_equal(t->vq.stats.bad_desc, 1);
	assert_still_works(t);
}

static void test_out_of_range_addresses(void **state)
{
	struct t *t = *state;
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ GPA_BASE - 1, 2 },                   /* starts below RAM */
		{ GPA_BASE + MEM_SIZE - 1, 2 },        /* runs past the end */
		{ GPA_BASE + MEM_SIZE, 1 },            /* just past the end */
		{ 0xffffffffffffff00ULL, 0x200 },      /* wraps */
		{ 0, 16 },
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_desc(&descs(t)[4], bad[i].addr, bad[i].len, 0, 0);
		make_avail(t, 4);
		assert_dropped(t, 4, true);
	}
	assert_int_equal(t->vq.stats.bad_addr, sizeof(bad) / sizeof(bad[0]));
	/* The very last byte of RAM is fine. */
	set_desc(&descs(t)[4], GPA_BASE + MEM_SIZE - 1, 1, 0, 0);
	make_avail(t, 4);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_ptr_equal(t->elem.iov[0].iov_base, t->ram + MEM_SIZE - 1);
}

static void test_readable_after_writable_dropped(void **state)
{
	struct t *t = *state;

	set_desc(&descs(t)[0], gpa(DATA_OFF), 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(&descs(t)[1], gpa(DATA_OFF), 8, 0, 0);
	make_avail(t, 0);
	assert_dropped(t, 0, true);
	assert_int_equal(t->vq.stats.bad_order, 1);
	assert_still_works(t);
}

static struct virtq_desc *table(struct t *t)
{
	return (struct virtq_desc *)(t->ram + TABLE_OFF);
}

static void test_indirect_good(void **state)
{
	struct t *t = *state;

	set_desc(&table(t)[0], gpa(DATA_OFF), 10, VIRTQ_DESC_F_NEXT, 2);
	set_desc(&table(t)[2], gpa(DATA_OFF + 0x100), 20, VIRTQ_DESC_F_NEXT, 1);
	set_desc(&table(t)[1], gpa(DATA_OFF + 0x200), 30, VIRTQ_DESC_F_WRITE, 0);
	set_desc(&descs(t)[6], gpa(TABLE_OFF), 3 * sizeof(struct virtq_desc),
		 VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(t, 6);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.head, 6);
	assert_int_equal(t->elem.out_num, 2);
	assert_int_equal(t->elem.in_num, 1);
	assert_int_equal(t->elem.out_len, 30);
	assert_int_equal(t->elem.in_len, 30);
	assert_ptr_equal(t->elem.iov[2].iov_base, t->ram + DATA_OFF + 0x200);
}

static void drop_indirect(struct t *t, uint64_t addr, uint32_t len, uint16_t flags,
			  uint64_t *counter)
{
	uint64_t before = *counter;

	set_desc(&descs(t)[6], addr, len, VIRTQ_DESC_F_INDIRECT | flags, 0);
	make_avail(t, 6);
	assert_dropped(t, 6, true);
	assert_int_equal(*counter, before + 1);
}

static void test_indirect_malformed(void **state)
{
	struct t *t = *state;
	struct virtq_stats *s = &t->vq.stats;
	const uint32_t d = sizeof(struct virtq_desc);

	set_desc(&table(t)[0], gpa(DATA_OFF), 10, 0, 0);
	drop_indirect(t, gpa(TABLE_OFF), d, VIRTQ_DESC_F_NEXT, &s->bad_indirect);
	drop_indirect(t, gpa(TABLE_OFF), d + 1, 0, &s->bad_indirect);
	drop_indirect(t, gpa(TABLE_OFF), 0, 0, &s->bad_indirect);
	drop_indirect(t, GPA_BASE + MEM_SIZE - d, 2 * d, 0, &s->bad_addr);
	/* Nested indirect. */
	set_desc(&table(t)[0], gpa(TABLE_OFF), d, VIRTQ_DESC_F_INDIRECT, 0);
	drop_indirect(t, gpa(TABLE_OFF), d, 0, &s->bad_indirect);
	/* A link outside the table. */
	set_desc(&table(t)[0], gpa(DATA_OFF), 10, VIRTQ_DESC_F_NEXT, 2);
	set_desc(&table(t)[1], gpa(DATA_OFF), 10, 0, 0);
	drop_indirect(t, gpa(TABLE_OFF), 2 * d, 0, &s->bad_desc);
	/* A loop inside the table. */
	set_desc(&table(t)[0], gpa(DATA_OFF), 10, VIRTQ_DESC_F_NEXT, 1);
	set_desc(&table(t)[1], gpa(DATA_OFF), 10, VIRTQ_DESC_F_NEXT, 0);
	drop_indirect(t, gpa(TABLE_OFF), 2 * d, 0, &s->loop);
	/* An indirect descriptor after a direct one. */
	set_desc(&descs(t)[8], gpa(DATA_OFF), 10, VIRTQ_DESC_F_NEXT, 6);
	set_desc(&descs(t)[6], gpa(TABLE_OFF), d, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(t, 8);
	assert_dropped(t, 8, true);
	assert_int_equal(s->bad_indirect, 5);
	assert_still_works(t);
}

static void test_indirect_not_negotiated(void **state)
{
	struct t *t = *state;

	set_desc(&table(t)[0], gpa(DATA_OFF), 10, 0, 0);
	drop_indirect(t, gpa(TABLE_OFF), sizeof(struct virtq_desc), 0,
		      &t->vq.stats.bad_indirect);
}

/* A buffer spanning two regions that are adjacent in guest physical space. */
static void test_buffer_across_regions(void **state)
{
	struct t *t = *state;
	uint8_t *other = malloc(4096);

	assert_non_null(other);
	t->mem.region[1] = (struct virtq_mem_region){
		.gpa = GPA_BASE + MEM_SIZE, .uaddr = 0x10000, .size = 4096, .host = other,
	};
	t->mem.nregions = 2;
	set_desc(&descs(t)[0], GPA_BASE + MEM_SIZE - 16, 48, VIRTQ_DESC_F_WRITE, 0);
	make_avail(t, 0);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.in_num, 2);
	assert_ptr_equal(t->elem.iov[0].iov_base, t->ram + MEM_SIZE - 16);
	assert_int_equal(t->elem.iov[0].iov_len, 16);
	assert_ptr_equal(t->elem.iov[1].iov_base, other);
	assert_int_equal(t->elem.iov[1].iov_len, 32);
	assert_ptr_equal(virtq_mem_uaddr(&t->mem, 0x10000 + 4095, 1), other + 4095);
	assert_null(virtq_mem_uaddr(&t->mem, 0x10000 + 4095, 2));
	assert_null(virtq_mem_gpa(&t->mem, GPA_BASE + MEM_SIZE - 1, 4098));
	free(other);
}

static void test_avail_idx_jump_breaks_queue(void **state)
{
	struct t *t = *state;

	avail(t)->idx = QSIZE + 1;
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 0);
	assert_int_equal(t->vq.stats.bad_avail_idx, 1);
	assert_true(t->vq.broken);
	assert_false(virtq_enable_notify(&t->vq));
	/* Setting the ring up again (vhost-user: a new kick) repairs it. */
	avail(t)->idx = 0;
	assert_int_equal(virtq_init(&t->vq, QSIZE, descs(t), avail(t), used(t), &t->mem, 0,
				    true, true), 0);
	assert_still_works(t);
}

static void test_unpop(void **state)
{
	struct t *t = *state;

	set_desc(&descs(t)[1], gpa(DATA_OFF), 8, VIRTQ_DESC_F_WRITE, 0);
	set_desc(&descs(t)[2], gpa(DATA_OFF), 8, VIRTQ_DESC_F_WRITE, 0);
	make_avail(t, 1);
	make_avail(t, 2);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(virtq_unpop(&t->vq, 2), 0);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.head, 1);
}

/* A dropped chain is already used: the ring never rewinds past it. */
static void test_unpop_stops_at_dropped_chain(void **state)
{
	struct t *t = *state;

	set_desc(&descs(t)[1], gpa(DATA_OFF), 8, VIRTQ_DESC_F_WRITE, 0);
	set_desc(&descs(t)[2], gpa(DATA_OFF), 8, VIRTQ_DESC_F_WRITE, 0);
	set_desc(&descs(t)[3], 0, 8, VIRTQ_DESC_F_WRITE, 0); /* not RAM */
	make_avail(t, 1);
	make_avail(t, 3);
	make_avail(t, 2);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1); /* 3 dropped, 2 popped */
	assert_int_equal(t->elem.head, 2);
	assert_int_equal(used(t)->idx, 1);
	assert_int_equal(virtq_unpop(&t->vq, 2), -EBUSY);
	assert_int_equal(virtq_unpop(&t->vq, 1), 0);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.head, 2);
	assert_int_equal(used(t)->idx, 1); /* chain 3 was given back once only */
}

static void use_one(struct t *t)
{
	set_desc(&descs(t)[0], gpa(DATA_OFF), 8, 0, 0);
	make_avail(t, 0);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	virtq_fill(&t->vq, 0, 0);
	virtq_publish(&t->vq);
}

/* §2.7.10: interrupt only when used.idx passes used_event. */
static void test_event_idx_notify(void **state)
{
	struct t *t = *state;
	uint16_t *used_event = &avail(t)->ring[QSIZE];
	uint16_t *avail_event = (uint16_t *)(void *)(used(t)->ring + QSIZE);

	assert_false(virtq_should_notify(&t->vq)); /* nothing used yet */
	use_one(t);
	*used_event = 0;
	assert_true(virtq_should_notify(&t->vq)); /* used.idx went 0 -> 1 */
	assert_false(virtq_should_notify(&t->vq)); /* nothing new */
	*used_event = 5; /* the driver wants to hear at idx 6 */
	use_one(t);
	assert_false(virtq_should_notify(&t->vq));
	for (int i = 0; i < 3; i++) {
		use_one(t);
		assert_false(virtq_should_notify(&t->vq));
	}
	use_one(t); /* 5 -> 6 passes used_event */
	assert_true(virtq_should_notify(&t->vq));
	/* Several published at once still cross it. */
	*used_event = 7;
	use_one(t);
	use_one(t);
	use_one(t);
	assert_true(virtq_should_notify(&t->vq));

	/* Kick suppression: avail_event says where we are. */
	assert_false(virtq_enable_notify(&t->vq));
	assert_int_equal(*avail_event, t->vq.last_avail);
	make_avail(t, 0);
	assert_true(virtq_enable_notify(&t->vq));
}

static void test_no_interrupt_flag(void **state)
{
	struct t *t = *state;

	use_one(t);
	avail(t)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_should_notify(&t->vq));
	use_one(t);
	avail(t)->flags = 0;
	assert_true(virtq_should_notify(&t->vq));
}

/* ------------------------------------------------ inflight tracking */

/* A zeroed inflight region for a QSIZE ring, and room for resubmissions. */
struct tracked {
	struct vhost_user_queue_region_split *region;
	uint16_t resubmit[QSIZE];
};

static struct tracked *track(struct t *t)
{
	struct tracked *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	k->region = calloc(1, sizeof(*k->region) + QSIZE * sizeof(k->region->desc[0]));
	assert_non_null(k->region);
	assert_int_equal(virtq_inflight_attach(&t->vq, k->region, k->resubmit, true), 0);
	return k;
}

static void untrack(struct tracked *k)
{
	free(k->region);
	free(k);
}

/* Heads 0, 2, 4... each a one-descriptor writable chain, made available. */
static void avail_chains(struct t *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint16_t head = (uint16_t)(2 * (avail(t)->idx % 64));

		set_desc(&descs(t)[head], gpa(DATA_OFF + head * 0x100ULL), 64, VIRTQ_DESC_F_WRITE, 0);
		make_avail(t, head);
	}
}

/* A "back-end restart": the ring attached anew at @base, region recovered. */
static int restart(struct t *t, struct tracked *k, uint16_t base)
{
	assert_int_equal(virtq_init(&t->vq, QSIZE, descs(t), avail(t), used(t), &t->mem, base,
				    true, true), 0);
	return virtq_inflight_attach(&t->vq, k->region, k->resubmit, true);
}

/* The spec's bookkeeping: taken heads marked in order, cleared once published. */
static void test_inflight_marks_taken_heads(void **state)
{
	struct t *t = *state;
	struct tracked *k = track(t);

	assert_int_equal(k->region->version, VHOST_USER_INFLIGHT_VERSION);
	assert_int_equal(k->region->desc_num, QSIZE);
	avail_chains(t, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
		assert_int_equal(k->region->desc[t->elem.head].inflight, 1);
		assert_int_equal(k->region->desc[t->elem.head].counter, i + 1);
	}
	/* Completed out of order: 4 then 0; 2 stays in flight. */
	virtq_fill(&t->vq, 4, 64);
	virtq_fill(&t->vq, 0, 64);
	assert_int_equal(k->region->desc[0].inflight, 1); /* filled, not yet published */
	virtq_publish(&t->vq);
	assert_int_equal(k->region->desc[0].inflight, 0);
	assert_int_equal(k->region->desc[4].inflight, 0);
	assert_int_equal(k->region->desc[2].inflight, 1);
	assert_int_equal(k->region->used_idx, 2);
	/* Given back untouched: not in flight. */
	avail_chains(t, 1);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(k->region->desc[6].inflight, 1);
	assert_int_equal(virtq_unpop(&t->vq, 1), 0);
	assert_int_equal(k->region->desc[6].inflight, 0);
	untrack(k);
}

/*
 * A back-end killed with chains in flight: its successor pops them again,
 * oldest first, before anything new, and resumes the avail ring after
 * them; the front-end's base (used.idx after a crash) does not matter.
 */
static void test_inflight_resubmits_after_restart(void **state)
{
	struct t *t = *state;
	struct tracked *k = track(t);

	avail_chains(t, 4); /* heads 0 2 4 6 */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	virtq_fill(&t->vq, 2, 64);
	virtq_publish(&t->vq);
	avail_chains(t, 1); /* head 8: available, never taken */
	/* Killed.  Another process attaches the same region. */
	assert_int_equal(restart(t, k, used(t)->idx), 3);
	assert_int_equal(t->vq.last_avail, 4);
	for (uint16_t want = 0; want <= 8; want += 2) {
		if (want == 2)
			continue;
		assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
		assert_int_equal(t->elem.head, want);
		assert_int_equal(t->elem.in_len, 64);
	}
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 0);
	/* Resubmitted chains are not in the avail window: no unpop across them. */
	assert_int_equal(virtq_unpop(&t->vq, 2), -EBUSY);
	/* New heads count on from the predecessor's newest. */
	assert_int_equal(k->region->desc[8].counter, 5);
	untrack(k);
}

/*
 * Killed after publishing a batch and before clearing its marks: the
 * successor sees region.used_idx behind used.idx and clears that batch,
 * so what the driver already has is not done twice.
 */
static void test_inflight_half_cleared_batch(void **state)
{
	struct t *t = *state;
	struct tracked *k = track(t);

	avail_chains(t, 3); /* 0 2 4 */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	virtq_fill(&t->vq, 0, 64);
	virtq_fill(&t->vq, 4, 64);
	virtq_publish(&t->vq);
	/* Undo the clearing, as if the kill came right after used.idx. */
	k->region->desc[0].inflight = k->region->desc[4].inflight = 1;
	k->region->used_idx = 0;
	assert_int_equal(restart(t, k, 0), 1);
	assert_int_equal(k->region->used_idx, 2);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.head, 2);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 0);
	untrack(k);
}

/* The region lies in memory the front-end writes: nonsense in it is bounded. */
static void test_inflight_hostile_region(void **state)
{
	struct t *t = *state;
	struct tracked *k = track(t);

	/* A region for another ring size is refused; tracking stays off. */
	k->region->desc_num = QSIZE / 2;
	assert_int_equal(restart(t, k, 0), -EINVAL);
	assert_null(t->vq.inflight);
	k->region->desc_num = QSIZE;
	/* Every entry "in flight", a batch list that loops and points out of
	 * range, used_idx far behind: at most QSIZE resubmissions, each a
	 * valid head, and a chain that is not well formed is dropped. */
	for (unsigned i = 0; i < QSIZE; i++) {
		k->region->desc[i].inflight = 0xff;
		k->region->desc[i].next = (uint16_t)(i % 2 ? 0xffff : i);
		k->region->desc[i].counter = (uint64_t)rand() << 32 | (unsigned)rand();
	}
	k->region->last_batch_head = 1;
	k->region->used_idx = 40000;
	for (unsigned i = 1; i < QSIZE; i++)
		set_desc(&descs(t)[i], gpa(DATA_OFF), 64, VIRTQ_DESC_F_NEXT, 0xffff);
	avail_chains(t, 1); /* only head 0 is a well-formed chain */
	assert_int_equal(restart(t, k, 0), QSIZE - 1);
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.head, 0);
	/* The rest link out of their table: dropped, given back empty, no
	 * longer in flight; then the ring waits for new buffers past them. */
	assert_int_equal(virtq_pop(&t->vq, &t->elem), 0);
	assert_int_equal(t->vq.stats.bad_desc, QSIZE - 2);
	assert_int_equal(used(t)->idx, QSIZE - 2);
	for (unsigned i = 1; i < QSIZE; i++)
		assert_int_equal(k->region->desc[i].inflight, 0);
	untrack(k);
}

static void test_init_rejects_bad_size(void **state)
{
	struct t *t = *state;
	struct virtq vq = { 0 };

	assert_int_equal(virtq_init(&vq, 0, descs(t), avail(t), used(t), &t->mem, 0, 0, 0),
			 -EINVAL);
	assert_int_equal(virtq_init(&vq, 100, descs(t), avail(t), used(t), &t->mem, 0, 0, 0),
			 -EINVAL);
	assert_int_equal(virtq_init(&vq, 256, NULL, avail(t), used(t), &t->mem, 0, 0, 0),
			 -EINVAL);
}

/* xorshift64: a fixed sequence, so a failure reproduces. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static bool inside(const struct t *t, const struct iovec *v)
{
	const uint8_t *p = v->iov_base;

	return p >= t->ram && v->iov_len <= MEM_SIZE && p + v->iov_len <= t->ram + MEM_SIZE;
}

/*
 * Whatever the driver writes, pop terminates, returns only segments inside
 * guest RAM, and never publishes more used entries than it consumed.
 */
static void test_random_rings(void **state)
{
	struct t *t = *state;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned total_popped = 0;

	for (int round = 0; round < 2000; round++) {
		uint16_t before_used = used(t)->idx, popped = 0;
		uint16_t before_avail = t->vq.last_avail;

		for (unsigned i = 0; i < QSIZE; i++) {
			uint64_t r = next_rand(&seed);
			struct virtq_desc *d = &descs(t)[i];

			/* Mostly plausible values, some wild ones. */
			d->addr = r & 1 ? r : GPA_BASE + (r >> 8) % (MEM_SIZE + 64) - 32;
			d->len = (uint32_t)(next_rand(&seed) % (r & 2 ? 0xffffffffULL : 4096));
			d->flags = (uint16_t)(next_rand(&seed) & 7);
			d->next = (uint16_t)(next_rand(&seed) % (QSIZE + 4));
		}
		for (unsigned i = 0; i < 16; i++)
			set_desc(&table(t)[i], GPA_BASE + next_rand(&seed) % MEM_SIZE,
				 (uint32_t)(next_rand(&seed) % 512), (uint16_t)(next_rand(&seed) & 7),
				 (uint16_t)(next_rand(&seed) % 18));
		for (unsigned i = 0; i < 8; i++)
			make_avail(t, (uint16_t)(next_rand(&seed) % (QSIZE + 8)));
		while (virtq_pop(&t->vq, &t->elem) == 1) {
			assert_true(t->elem.out_num + t->elem.in_num <= VIRTQ_MAX_SEGS);
			for (unsigned i = 0; i < t->elem.out_num + t->elem.in_num; i++)
				assert_true(inside(t, &t->elem.iov[i]));
			popped++;
		}
		assert_int_equal((uint16_t)(t->vq.last_avail - before_avail), 8);
		assert_true((uint16_t)(used(t)->idx - before_used) + popped <= 8);
		total_popped += popped;
	}
	assert_false(t->vq.broken);
	/* Both paths were exercised: chains accepted and chains dropped. */
	print_message("random rings: %u chains popped, %llu dropped by a loop, %llu by bad addresses\n",
		      total_popped, (unsigned long long)t->vq.stats.loop,
		      (unsigned long long)t->vq.stats.bad_addr);
	assert_true(total_popped > 100);
	assert_true(t->vq.stats.bad_addr > 100);
	assert_true(t->vq.stats.bad_head > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_dropped, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_self_loop_dropped, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_chain_of_queue_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_head_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_next_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_after_writable_dropped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_indirect_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_not_negotiated, setup_plain,
						teardown),
		cmocka_unit_test_setup_teardown(test_buffer_across_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_avail_idx_jump_breaks_queue, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unpop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unpop_stops_at_dropped_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_interrupt_flag, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_marks_taken_heads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_resubmits_after_restart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_inflight_half_cleared_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_hostile_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_rejects_bad_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_rings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
