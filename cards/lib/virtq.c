/* SPDX-License-Identifier: Apache-2.0 */
#include "cards/lib/virtq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/lib/log.h"

/* Host address of @addr and the bytes its region holds from there on. */
static void *mem_find(const struct virtq_mem *mem, bool by_gpa, uint64_t addr,
		      uint64_t *room)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct virtq_mem_region *r = &mem->region[i];
		uint64_t base = by_gpa ? r->gpa : r->uaddr;

		/* Written so no sum can wrap: addr - base < size. */
		if (addr < base || addr - base >= r->size)
			continue;
		*room = r->size - (addr - base);
		return r->host + (addr - base);
	}
	return NULL;
}

static void *mem_range(const struct virtq_mem *mem, bool by_gpa, uint64_t addr, uint64_t len)
{
	uint64_t room;
	void *p = mem_find(mem, by_gpa, addr, &room);

	return p && len <= room ? p : NULL;
}

void *virtq_mem_gpa(const struct virtq_mem *mem, uint64_t gpa, uint64_t len)
{
	return mem_range(mem, true, gpa, len);
}

void *virtq_mem_uaddr(const struct virtq_mem *mem, uint64_t uaddr, uint64_t len)
{
	return mem_range(mem, false, uaddr, len);
}

int virtq_init(struct virtq *vq, uint16_t num, struct virtq_desc *desc,
	       struct virtq_avail *avail, struct virtq_used *used,
	       const struct virtq_mem *mem, uint16_t last_avail,
	       bool event_idx, bool indirect)
{
	/* §2.7: "Queue Size value is always a power of 2"; num is uint16, so
	 * 32768 is the largest it can hold. */
	if (num == 0 || (num & (num - 1)) || !desc || !avail || !used || !mem)
		return -EINVAL;
	vq->num = num;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->mem = mem;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->broken = false;
	/* Re-attached by the owner of the region after each init. */
	vq->inflight = NULL;
	vq->last_avail = last_avail;
	vq->rewindable = 0;
	vq->used_idx = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);
	vq->published = vq->used_idx;
	/* Nothing published yet; the first publication notifies whatever
	 * used_event says, since we cannot know what the driver last saw. */
	vq->signalled = vq->used_idx;
	vq->signalled_valid = false;
	return 0;
}

/* Map one descriptor's buffer, one segment per memory region it spans. */
static int add_buffer(struct virtq *vq, struct virtq_elem *elem, uint64_t addr,
		      uint32_t len, bool writable)
{
	while (len) {
		unsigned n = elem->out_num + elem->in_num;
		uint64_t room;
		void *p = mem_find(vq->mem, true, addr, &room);
		uint32_t chunk;

		if (!p) {
			vq->stats.bad_addr++;
			cv_err_once("virtq: buffer at guest address %#llx (+%u) is not guest RAM",
				    (unsigned long long)addr, len);
			return -EFAULT;
		}
		if (n == VIRTQ_MAX_SEGS) {
			vq->stats.too_many_segs++;
			cv_err_once("virtq: chain at head %u needs more than %u segments",
				    elem->head, VIRTQ_MAX_SEGS);
			return -E2BIG;
		}
		chunk = room < len ? (uint32_t)room : len;
		elem->iov[n].iov_base = p;
		elem->iov[n].iov_len = chunk;
		if (writable) {
			elem->in_num++;
			elem->in_len += chunk;
		} else {
			elem->out_num++;
			elem->out_len += chunk;
		}
		addr += chunk;
		len -= chunk;
	}
	return 0;
}

/*
 * Follow the chain at @head (§2.7.5): each index in range, at most @table
 * entries visited (a longer walk is a loop), an indirect table only as the
 * whole chain (§2.7.5.3.1: not with NEXT, not nested), readable before
 * writable (§2.7.4.2).
 */
static int walk_chain(struct virtq *vq, uint16_t head, struct virtq_elem *elem)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint32_t size = vq->num, seen = 0, i = head;
	bool in_indirect = false;
	struct virtq_desc d;
	int r;

	elem->head = head;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	for (;;) {
		if (++seen > size) {
			vq->stats.loop++;
			cv_err_once("virtq: chain at head %u is longer than its table (%u): a loop",
				    head, size);
			return -ELOOP;
		}
		/* One copy: the guest may rewrite the entry while we look. */
		memcpy(&d, table + (size_t)i * sizeof(d), sizeof(d));
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect || in_indirect || seen != 1 ||
			    (d.flags & VIRTQ_DESC_F_NEXT) || d.len == 0 ||
			    d.len % sizeof(d) || d.len / sizeof(d) > VIRTQ_MAX_SIZE) {
				vq->stats.bad_indirect++;
				cv_err_once("virtq: bad indirect descriptor at head %u (table %#llx len %u flags %#x)",
					    head, (unsigned long long)d.addr, d.len, d.flags);
				return -EINVAL;
			}
			table = virtq_mem_gpa(vq->mem, d.addr, d.len);
			if (!table) {
				vq->stats.bad_addr++;
				cv_err_once("virtq: indirect table at guest address %#llx (+%u) is not guest RAM",
					    (unsigned long long)d.addr, d.len);
				return -EFAULT;
			}
			size = d.len / sizeof(d);
			in_indirect = true;
			seen = 0;
			i = 0;
			continue;
		}
		if ((d.flags & VIRTQ_DESC_F_WRITE) == 0 && elem->in_num) {
			vq->stats.bad_order++;
			cv_err_once("virtq: readable descriptor after a writable one in chain %u", head);
			return -EINVAL;
		}
		/* A zero-length buffer gives a chain no segment (found by fuzzing). */
		if (!d.len) {
			vq->stats.bad_desc++;
			cv_err_once("virtq: zero-length descriptor in chain %u", head);
			return -EINVAL;
		}
		r = add_buffer(vq, elem, d.addr, d.len, d.flags & VIRTQ_DESC_F_WRITE);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= size) {
			vq->stats.bad_desc++;
			cv_err_once("virtq: chain %u links to descriptor %u of %u", head, d.next, size);
			return -EINVAL;
		}
		i = d.next;
	}
}

/* Mark @head taken, with the next counter value, in the inflight region. */
static void inflight_take(struct virtq *vq, uint16_t head)
{
	struct vhost_user_desc_state_split *d;

	if (!vq->inflight)
		return;
	d = &vq->inflight->desc[head];
	d->counter = ++vq->inflight_counter;
	/* The counter is valid before the flag says the entry is. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	d->inflight = 1;
}

/* The next head a predecessor left in flight, as a chain; 0 when none. */
static int pop_resubmitted(struct virtq *vq, struct virtq_elem *elem)
{
	while (vq->resubmit_next < vq->resubmit_num) {
		uint16_t head = vq->resubmit[vq->resubmit_next++];

		/* Not in the avail window any more: it cannot be given back. */
		vq->rewindable = 0;
		if (walk_chain(vq, head, elem) == 0)
			return 1;
		virtq_fill(vq, head, 0);
		virtq_publish(vq);
	}
	return 0;
}

int virtq_pop(struct virtq *vq, struct virtq_elem *elem)
{
	if (!vq->broken && pop_resubmitted(vq, elem))
		return 1;
	for (;;) {
		uint16_t avail_idx, pending, head;

		if (vq->broken)
			return 0;
		/* Acquire: the ring entries are read only after the index. */
		avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
		pending = (uint16_t)(avail_idx - vq->last_avail);
		if (pending == 0)
			return 0;
		if (pending > vq->num) {
			/* No way to tell which entries are real: stop popping
			 * until the front-end sets the ring up again. */
			vq->stats.bad_avail_idx++;
			vq->broken = true;
			cv_err_once("virtq: avail.idx %u is %u entries past %u on a ring of %u",
				    avail_idx, pending, vq->last_avail, vq->num);
			return 0;
		}
		head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->num - 1)],
				       __ATOMIC_RELAXED);
		vq->last_avail++;
		if (head >= vq->num) {
			vq->rewindable = 0;
			vq->stats.bad_head++;
			cv_err_once("virtq: avail ring names head %u of a %u-entry queue", head,
				    vq->num);
			continue;
		}
		if (walk_chain(vq, head, elem) == 0) {
			vq->rewindable++;
			inflight_take(vq, head);
			return 1;
		}
		/* Hand the descriptors back unused so the driver does not leak them. */
		vq->rewindable = 0;
		virtq_fill(vq, head, 0);
		virtq_publish(vq);
	}
}

int virtq_unpop(struct virtq *vq, uint16_t n)
{
	if (n > vq->rewindable)
		return -EBUSY;
	/* Given back, not taken: a successor must not resubmit them. */
	for (uint16_t i = 1; vq->inflight && i <= n; i++) {
		uint16_t head = vq->avail->ring[(uint16_t)(vq->last_avail - i) & (vq->num - 1)];

		if (head < vq->num)
			vq->inflight->desc[head].inflight = 0;
	}
	vq->last_avail -= n;
	vq->rewindable -= n;
	return 0;
}

void virtq_fill(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->num - 1)];

	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* The batch publishing will clear: a list through desc[].next. */
	if (vq->inflight && head < vq->num) {
		vq->inflight->desc[head].next = vq->inflight->last_batch_head;
		vq->inflight->last_batch_head = head;
	}
}

/* Clear the in-flight mark of the @n heads of the last batch. */
static void inflight_clear_batch(struct vhost_user_queue_region_split *region, uint16_t num,
				 uint16_t n)
{
	uint16_t head = region->last_batch_head;

	/* The list lies in memory the front-end can write: bounded, checked. */
	for (uint16_t k = 0; k < n && k < num && head < num; k++) {
		region->desc[head].inflight = 0;
		head = region->desc[head].next;
	}
}

void virtq_publish(struct virtq *vq)
{
	uint16_t batch = (uint16_t)(vq->used_idx - vq->published);

	/* Release: the driver sees the elements before the index (§2.7.8). */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	vq->published = vq->used_idx;
	if (!vq->inflight || !batch)
		return;
	/* In this order, so a back-end killed at any point leaves a region its
	 * successor can repair: used.idx, the batch's marks, region.used_idx. */
	inflight_clear_batch(vq->inflight, vq->num, batch);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->inflight->used_idx = vq->published;
}

/* A head to resubmit and its counter, copied: the region may change under the sort. */
struct taken {
	uint64_t counter;
	uint16_t head;
};

static int by_counter(const void *a, const void *b)
{
	uint64_t ca = ((const struct taken *)a)->counter, cb = ((const struct taken *)b)->counter;

	return ca < cb ? -1 : ca > cb;
}

int virtq_inflight_attach(struct virtq *vq, struct vhost_user_queue_region_split *region,
			  uint16_t *resubmit, bool recover)
{
	uint16_t used = vq->published, n = 0;
	uint64_t newest = 0;

	vq->inflight = NULL;
	if (recover)
		vq->resubmit_num = vq->resubmit_next = 0;
	if (!region)
		return 0;
	if (region->version == 0) {
		/* A new buffer (or one the front-end cleared at a device reset). */
		memset(region->desc, 0, sizeof(region->desc[0]) * vq->num);
		region->features = 0;
		region->desc_num = vq->num;
		region->last_batch_head = 0;
		region->used_idx = used;
		region->version = VHOST_USER_INFLIGHT_VERSION;
		vq->inflight = region;
		vq->resubmit = resubmit;
		vq->inflight_counter = 0;
		return 0;
	}
	if (region->version != VHOST_USER_INFLIGHT_VERSION || region->desc_num != vq->num)
		return -EINVAL;
	vq->inflight = region;
	vq->resubmit = resubmit;
	if (!recover)
		return vq->resubmit_num - vq->resubmit_next;
	/* Killed between publishing a batch and clearing its marks. */
	if (region->used_idx != used) {
		inflight_clear_batch(region, vq->num, (uint16_t)(used - region->used_idx));
		region->used_idx = used;
	}
	for (uint16_t i = 0; i < vq->num; i++) {
		if (!region->desc[i].inflight)
			continue;
		resubmit[n++] = i;
		if (region->desc[i].counter > newest)
			newest = region->desc[i].counter;
	}
	if (n) {
		struct taken *t = malloc(sizeof(*t) * n);

		/* Without memory the order is the heads' (still each once). */
		for (uint16_t k = 0; t && k < n; k++)
			t[k] = (struct taken){ region->desc[resubmit[k]].counter, resubmit[k] };
		if (t) {
			qsort(t, n, sizeof(*t), by_counter);
			for (uint16_t k = 0; k < n; k++)
				resubmit[k] = t[k].head;
			free(t);
		}
	}
	vq->inflight_counter = newest;
	vq->resubmit_num = n;
	/* Every head taken is either in the used ring or resubmitted. */
	vq->last_avail = (uint16_t)(used + n);
	return n;
}

/* §2.7.10: true when used_event lies in (old, new]. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old = vq->signalled, new_idx = vq->published;
	bool valid = vq->signalled_valid;

	if (old == new_idx)
		return false;
	/* The used index must be visible before we read the driver's wish. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled = new_idx;
	vq->signalled_valid = true;
	if (!vq->event_idx)
		return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	return need_event(__atomic_load_n(&vq->avail->ring[vq->num], __ATOMIC_RELAXED),
			  new_idx, old);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (vq->event_idx) {
		/* avail_event sits right after the used ring's entries. */
		uint16_t *avail_event = (uint16_t *)(void *)(vq->used->ring + vq->num);

		__atomic_store_n(avail_event, vq->last_avail, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
	}
	/* Publish our wish before looking for buffers added meanwhile. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !vq->broken &&
	       __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}

static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, (uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t virtq_elem_read(const struct virtq_elem *elem, size_t off, void *buf, size_t len)
{
	return iov_copy(elem->iov, elem->out_num, off, buf, len, false);
}

size_t virtq_elem_write(const struct virtq_elem *elem, size_t off, const void *buf,
			size_t len)
{
	return iov_copy(elem->iov + elem->out_num, elem->in_num, off, (void *)buf, len, true);
}
