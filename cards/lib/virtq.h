/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device side of a virtio 1.2 split virtqueue (§2.7) living in memory the
 * guest (or its front-end) controls.  Every value read from the rings is
 * untrusted: a chain that breaks a rule is dropped and counted, the queue
 * keeps working.  Single-threaded: one caller per queue.
 */
#ifndef CV_CARDS_VIRTQ_H
#define CV_CARDS_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-abi/vhost_user.h"
#include "guest-abi/virtio.h"

/*
 * The guest memory as the front-end described it: each region maps a range
 * of guest physical addresses (used by descriptors) and the same range in
 * the front-end's virtual address space (used by vhost-user ring
 * addresses) to @host in this process.
 */
#define VIRTQ_MEM_REGIONS 8

struct virtq_mem_region {
	uint64_t gpa;
	uint64_t uaddr;
	uint64_t size;
	uint8_t *host;
};

struct virtq_mem {
	unsigned nregions;
	struct virtq_mem_region region[VIRTQ_MEM_REGIONS];
};

/* Host pointer for [addr, addr + len) in one region, or NULL. */
void *virtq_mem_gpa(const struct virtq_mem *mem, uint64_t gpa, uint64_t len);
void *virtq_mem_uaddr(const struct virtq_mem *mem, uint64_t uaddr, uint64_t len);

/*
 * One popped chain: device-readable ("out") segments first, then
 * device-writable ("in") ones, as §2.7.4.2 orders them.  A buffer that
 * crosses a memory-region boundary takes one segment per region.
 */
#define VIRTQ_MAX_SEGS 256

struct virtq_elem {
	uint16_t head;
	unsigned out_num;
	unsigned in_num;
	size_t out_len;
	size_t in_len;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* Why chains were dropped; every one is counted, none stops the queue. */
struct virtq_stats {
	uint64_t bad_head;     /* avail ring entry >= queue size */
	uint64_t bad_desc;     /* next index out of range, bad flags, zero length */
	uint64_t bad_addr;     /* buffer not inside the memory table */
	uint64_t loop;         /* chain longer than the queue (or table) */
	uint64_t bad_indirect; /* indirect table malformed or not negotiated */
	uint64_t bad_order;    /* a readable descriptor after a writable one */
	uint64_t too_many_segs;
	uint64_t bad_avail_idx; /* avail.idx moved more than the queue size */
};

struct virtq {
	uint16_t num;
	bool event_idx;  /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;   /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool broken;     /* avail.idx is nonsense: nothing more is popped */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	const struct virtq_mem *mem;
	uint16_t last_avail; /* next avail ring entry to pop */
	uint16_t used_idx;   /* next used ring entry to fill (not yet published) */
	uint16_t published;  /* used.idx as last written: what the driver may see */
	uint16_t rewindable; /* chains popped since the last dropped one */
	uint16_t signalled;  /* used.idx when the driver was last notified */
	bool signalled_valid;
	struct virtq_stats stats;
	/*
	 * Optional inflight tracking (virtq_inflight_attach): the region the
	 * front-end keeps across back-end restarts, the counter that orders
	 * taken heads, and the heads a predecessor had taken and not
	 * completed, popped again before the avail ring.
	 */
	struct vhost_user_queue_region_split *inflight;
	uint64_t inflight_counter;
	uint16_t *resubmit;
	uint16_t resubmit_num, resubmit_next;
};

/*
 * Attach @vq to rings already translated to host pointers.  @num is a power
 * of 2 up to VIRTQ_MAX_SIZE; @last_avail the first entry to pop.  The used
 * index is read back from the ring (§2.7.8: the device owns it).  Stats
 * are kept across calls: zero @vq once before the first.
 */
int virtq_init(struct virtq *vq, uint16_t num, struct virtq_desc *desc,
	       struct virtq_avail *avail, struct virtq_used *used,
	       const struct virtq_mem *mem, uint16_t last_avail,
	       bool event_idx, bool indirect);

/*
 * Pop the next well-formed chain into @elem: 1 when one was popped, 0 when
 * the ring is empty.  Malformed chains on the way are dropped (counted in
 * stats, returned to the driver with zero length when their head is valid
 * so the driver can reclaim the descriptors) and skipped.
 */
int virtq_pop(struct virtq *vq, struct virtq_elem *elem);

/*
 * Give back the last @n popped chains, untouched: 0, or -EBUSY when a
 * dropped or resubmitted chain lies among them (it is already in the used ring, so the
 * avail ring cannot be rewound past it); the caller then returns the @n
 * chains as used with length 0.
 */
int virtq_unpop(struct virtq *vq, uint16_t n);

/*
 * Fill one used element, then publish all filled ones at once.  Between
 * the two the entries exist only here: whoever stops or re-attaches the
 * queue must publish them first (virtq_init reads the used index back
 * from the ring, and a front-end resumes from it).
 */
void virtq_fill(struct virtq *vq, uint16_t head, uint32_t len);
void virtq_publish(struct virtq *vq);

/* Filled entries the driver cannot see yet. */
static inline bool virtq_unpublished(const struct virtq *vq)
{
	return vq->used_idx != vq->published;
}

/*
 * Whether the driver wants an interrupt for what was published since the
 * last notification (§2.7.7.2 / §2.7.10 with VIRTIO_F_EVENT_IDX).
 */
bool virtq_should_notify(struct virtq *vq);

/*
 * Ask for a kick on the next buffer the driver makes available (avail_event
 * with EVENT_IDX, else clear VIRTQ_USED_F_NO_NOTIFY); returns true when
 * buffers are already available, so the caller processes again instead of
 * missing them.
 */
bool virtq_enable_notify(struct virtq *vq);

/*
 * vhost-user "Inflight I/O tracking" for this split ring, in @region (the
 * front-end's shared buffer; its desc[] has @vq->num entries): from now
 * on each popped head is marked in flight with the next counter value,
 * filled heads form the last batch, and publishing clears them.  With
 * @recover (the ring starts) the region is checked as the spec's
 * "When reconnecting" says: a half-cleared last batch is cleared, the
 * heads still in flight are popped again first, oldest first (@resubmit
 * has room for @vq->num of them), and the avail position becomes
 * used.idx plus their number.  A new region (version 0) is initialised.
 * Returns the number of heads to resubmit, or -EINVAL for a region whose
 * size does not match the ring (tracking stays off).
 */
int virtq_inflight_attach(struct virtq *vq, struct vhost_user_queue_region_split *region,
			  uint16_t *resubmit, bool recover);

/* Copy between a flat buffer and the out (read) or in (write) segments. */
size_t virtq_elem_read(const struct virtq_elem *elem, size_t off, void *buf, size_t len);
size_t virtq_elem_write(const struct virtq_elem *elem, size_t off, const void *buf,
			size_t len);

#endif /* CV_CARDS_VIRTQ_H */
