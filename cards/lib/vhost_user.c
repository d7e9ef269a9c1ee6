/* SPDX-License-Identifier: Apache-2.0 */
#include "cards/lib/vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/lib/fd.h"
#include "tools/lib/log.h"

/* epoll tags: the listener, the connection, then one per ring's kick. */
#define TAG_LISTEN 0
#define TAG_CONN 1
#define TAG_KICK 2

/* Messages served per vu_process call, so kicks are not starved. */
#define MSGS_PER_CALL 64

static const uint64_t base_protocol = VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
				      VIRTIO_BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE);

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int epoll_set(struct vu_dev *dev, int op, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(dev->epoll_fd, op, fd, &ev) ? -errno : 0;
}

bool vu_has_feature(const struct vu_dev *dev, unsigned bit)
{
	return dev->acked & VIRTIO_BIT(bit);
}

/* What GET_PROTOCOL_FEATURES offers: the device's, ours, CONFIG with a hook. */
static uint64_t protocol_offered(const struct vu_dev *dev)
{
	return dev->cfg.protocol_features | base_protocol |
	       (dev->ops.get_config ? VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) : 0);
}

static bool has_protocol(const struct vu_dev *dev, unsigned bit)
{
	return dev->protocol_acked & VIRTIO_BIT(bit);
}

/* ------------------------------------------------------------------ rings */

static void ring_release(struct vu_dev *dev, unsigned q)
{
	if (dev->ops.release)
		dev->ops.release(dev->opaque, q);
}

/*
 * Stop the ring: the front-end resumes it from its avail position (our
 * GET_VRING_BASE answer) and from the used index in guest memory, so what
 * the device filled must be in that index, and its interrupt sent, before
 * the ring's state is given up (@flush).  Only a reset the front-end asked
 * for drops them: the driver reset the device and owns the rings again.
 */
static void ring_stop(struct vu_dev *dev, struct vu_ring *r, bool flush)
{
	unsigned q = (unsigned)(r - dev->ring);

	if (flush)
		vu_queue_flush(dev, q);
	if (r->started || r->mapped)
		ring_release(dev, q);
	if (r->mapped)
		r->base = r->vq.last_avail;
	if (r->kick >= 0)
		epoll_ctl(dev->epoll_fd, EPOLL_CTL_DEL, r->kick, NULL);
	close_fd(&r->kick);
	r->mapped = false;
	r->started = false;
	r->stopping = false;
}

static void ring_reset(struct vu_dev *dev, struct vu_ring *r, bool flush)
{
	ring_stop(dev, r, flush);
	free(r->resubmit);
	r->resubmit = NULL;
	r->resubmit_cap = 0;
	close_fd(&r->call);
	close_fd(&r->err);
	r->enabled = false;
	r->num = 0;
	r->base = 0;
	r->addr_set = false;
}

/*
 * The ring's three parts as host pointers: vhost-user passes front-end
 * virtual addresses, translated through the memory table's userspace_addr.
 */
static int ring_translate(const struct vu_dev *dev, uint16_t num,
			  const struct vhost_user_vring_addr *a, void **desc, void **avail,
			  void **used)
{
	if (a->desc_user_addr % VIRTQ_DESC_ALIGN || a->avail_user_addr % VIRTQ_AVAIL_ALIGN ||
	    a->used_user_addr % VIRTQ_USED_ALIGN)
		return -EINVAL;
	*desc = virtq_mem_uaddr(&dev->mem, a->desc_user_addr, VIRTQ_DESC_SIZE(num));
	*avail = virtq_mem_uaddr(&dev->mem, a->avail_user_addr, VIRTQ_AVAIL_SIZE(num));
	*used = virtq_mem_uaddr(&dev->mem, a->used_user_addr, VIRTQ_USED_SIZE(num));
	if (!*desc || !*avail || !*used)
		return -EFAULT;
	/* Aligned front-end addresses are not enough: a region's
	 * userspace_addr and mmap_offset may be anything (found by fuzzing). */
	return (uintptr_t)*desc % VIRTQ_DESC_ALIGN || (uintptr_t)*avail % VIRTQ_AVAIL_ALIGN ||
	       (uintptr_t)*used % VIRTQ_USED_ALIGN ? -EINVAL : 0;
}

/*
 * The ring's part of the inflight buffer, when there is one that fits it:
 * attached after each virtq_init, checked and turned into resubmissions
 * when the ring starts (@start).
 */
static void ring_inflight(struct vu_dev *dev, struct vu_ring *r, bool start)
{
	const struct vu_inflight *in = &dev->inflight;
	unsigned q = (unsigned)(r - dev->ring);
	struct vhost_user_queue_region_split *region = NULL;
	int n;

	if (in->map && q < in->queues) {
		if (r->num != in->queue_size)
			cv_err_once("vhost-user %s: ring %u has %u entries, its inflight region %u: not tracked",
				    dev->path, q, r->num, in->queue_size);
		else
			region = (void *)(in->base + in->stride * q);
	}
	if (region && r->resubmit_cap < r->num) {
		uint16_t *room = realloc(r->resubmit, sizeof(room[0]) * r->num);

		if (!room) {
			cv_err_once("vhost-user %s: no memory to track ring %u", dev->path, q);
			region = NULL;
		} else {
			r->resubmit = room;
			r->resubmit_cap = r->num;
		}
	}
	n = virtq_inflight_attach(&r->vq, region, r->resubmit, start);
	if (n < 0)
		cv_err_once("vhost-user %s: ring %u: inflight region (version %u, %u entries) does not fit a ring of %u: not tracked",
			    dev->path, q, region->version, region->desc_num, r->num);
	else if (n && start) {
		cv_info("vhost-user %s: ring %u: resubmitting %d chains taken and not completed before",
			dev->path, q, n);
		/* Served on the next turn even if no kick comes. */
		vu_queue_rearm(dev, q);
	}
}

/*
 * Attach the virtqueue, keeping its position when it was already attached
 * (the used index is read back from the ring: what was filled is
 * published first).
 */
static int ring_map(struct vu_dev *dev, struct vu_ring *r)
{
	bool start = !r->mapped;
	uint16_t last = r->mapped ? r->vq.last_avail : r->base;
	void *desc, *avail, *used;
	int ret;

	if (r->mapped)
		vu_queue_flush(dev, (unsigned)(r - dev->ring));
	r->mapped = false;
	r->base = last;
	if (!r->addr_set || !r->num)
		return -EINVAL;
	ret = ring_translate(dev, r->num, &r->addr, &desc, &avail, &used);
	if (ret)
		return ret;
	ret = virtq_init(&r->vq, r->num, desc, avail, used, &dev->mem, last,
			 vu_has_feature(dev, VIRTIO_F_EVENT_IDX),
			 vu_has_feature(dev, VIRTIO_F_INDIRECT_DESC));
	r->mapped = ret == 0;
	if (r->mapped)
		ring_inflight(dev, r, start);
	return ret;
}

/* Re-attach every started ring after the memory table or features changed. */
static void rings_remap(struct vu_dev *dev)
{
	for (unsigned q = 0; q < dev->cfg.rings; q++) {
		struct vu_ring *r = &dev->ring[q];

		if (r->started && ring_map(dev, r))
			cv_err_once("vhost-user %s: ring %u no longer maps into guest memory",
				    dev->path, q);
	}
}

static void ring_poke(struct vu_dev *dev, unsigned q)
{
	if (vu_queue(dev, q) && dev->ops.kick)
		dev->ops.kick(dev->opaque, q);
}

struct virtq *vu_queue(struct vu_dev *dev, unsigned q)
{
	struct vu_ring *r;

	if (q >= dev->cfg.rings)
		return NULL;
	r = &dev->ring[q];
	return r->started && r->enabled && r->mapped && !r->stopping ? &r->vq : NULL;
}

struct virtq *vu_queue_held(struct vu_dev *dev, unsigned q)
{
	struct vu_ring *r;

	if (q >= dev->cfg.rings)
		return NULL;
	r = &dev->ring[q];
	return r->started && r->mapped ? &r->vq : NULL;
}

void vu_queue_rearm(struct vu_dev *dev, unsigned q)
{
	uint64_t one = 1;

	/* The kick eventfd is ours to poll: a write makes it readable. */
	if (q < dev->cfg.rings && dev->ring[q].kick >= 0 &&
	    write(dev->ring[q].kick, &one, sizeof(one)) < 0)
		cv_err_once("vhost-user %s: rearm of ring %u: %s", dev->path, q, strerror(errno));
}

static uint64_t ring_errors(const struct virtq_stats *s)
{
	return s->bad_head + s->bad_desc + s->bad_addr + s->loop + s->bad_indirect +
	       s->bad_order + s->too_many_segs + s->bad_avail_idx;
}

void vu_queue_flush(struct vu_dev *dev, unsigned q)
{
	struct virtq *vq = vu_queue_held(dev, q);
	struct vu_ring *r = &dev->ring[q];
	uint64_t one = 1, errors;

	if (!vq)
		return;
	if (virtq_unpublished(vq))
		virtq_publish(vq);
	if (virtq_should_notify(vq) && r->call >= 0 &&
	    write(r->call, &one, sizeof(one)) < 0 && errno != EAGAIN)
		cv_err_once("vhost-user %s: call eventfd of ring %u: %s", dev->path, q,
			    strerror(errno));
	/* The error eventfd tells the front-end the driver broke the ring. */
	errors = ring_errors(&vq->stats);
	if (errors != r->errors_reported) {
		r->errors_reported = errors;
		if (r->err >= 0 && write(r->err, &one, sizeof(one)) < 0 && errno != EAGAIN)
			cv_err_once("vhost-user %s: err eventfd of ring %u: %s", dev->path, q,
				    strerror(errno));
	}
}

/* ------------------------------------------------------------ memory */

static void mem_unmap(struct vu_dev *dev)
{
	for (unsigned i = 0; i < dev->mem.nregions; i++)
		munmap(dev->map_base[i], dev->map_len[i]);
	memset(&dev->mem, 0, sizeof(dev->mem));
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Every region non-empty, no sum wrapping, no two regions overlapping. */
static int mem_table_check(const struct vhost_user_memory *m)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vhost_user_mem_region *r = &m->regions[i];

		if (!r->memory_size || r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
		    r->userspace_addr + r->memory_size < r->userspace_addr ||
		    r->mmap_offset + r->memory_size < r->mmap_offset)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++) {
			const struct vhost_user_mem_region *o = &m->regions[j];

			if (ranges_overlap(r->guest_phys_addr, r->memory_size,
					   o->guest_phys_addr, o->memory_size) ||
			    ranges_overlap(r->userspace_addr, r->memory_size,
					   o->userspace_addr, o->memory_size))
				return -EINVAL;
		}
	}
	return 0;
}

static int set_mem_table(struct vu_dev *dev, const struct vhost_user_memory *m, int *fds)
{
	struct virtq_mem mem = { 0 };
	void *base[VIRTQ_MEM_REGIONS];
	size_t len[VIRTQ_MEM_REGIONS];
	unsigned i;
	int r = mem_table_check(m);

	if (r)
		return r;
	for (i = 0; i < m->nregions; i++) {
		const struct vhost_user_mem_region *reg = &m->regions[i];
		struct stat st;

		/* mmap_offset need not be page aligned: map from 0 and skip it. */
		len[i] = reg->mmap_offset + reg->memory_size;
		if (fstat(fds[i], &st) || (uint64_t)st.st_size < len[i]) {
			r = -EINVAL;
			break;
		}
		base[i] = mmap(NULL, len[i], PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (base[i] == MAP_FAILED) {
			r = -errno;
			break;
		}
		/* Guest memory stays out of a core dump, as in cv-hv (hv/memory.c). */
		madvise(base[i], len[i], MADV_DONTDUMP);
		mem.region[i] = (struct virtq_mem_region){
			.gpa = reg->guest_phys_addr,
			.uaddr = reg->userspace_addr,
			.size = reg->memory_size,
			.host = (uint8_t *)base[i] + reg->mmap_offset,
		};
	}
	if (r) {
		while (i--)
			munmap(base[i], len[i]);
		return r;
	}
	/*
	 * In-flight buffers point into the old mappings; what was filled is
	 * published through them before they go, and the chains the device
	 * held are released.  The rings then attach as if they started: with
	 * an inflight buffer the released chains are resubmitted.
	 */
	for (unsigned q = 0; q < dev->cfg.rings; q++) {
		struct vu_ring *r = &dev->ring[q];

		vu_queue_flush(dev, q);
		ring_release(dev, q);
		if (r->mapped)
			r->base = r->vq.last_avail;
		r->mapped = false;
	}
	mem_unmap(dev);
	mem.nregions = m->nregions;
	dev->mem = mem;
	memcpy(dev->map_base, base, sizeof(base[0]) * m->nregions);
	memcpy(dev->map_len, len, sizeof(len[0]) * m->nregions);
	rings_remap(dev);
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

/*
 * RESET_OWNER, RESET_DEVICE (@flush false: the driver reset the device)
 * and a lost front-end (@flush true: completions reach guest memory, where
 * a reconnecting front-end finds them): back to the initial state.
 */
static void inflight_unmap(struct vu_dev *dev)
{
	if (dev->inflight.map)
		munmap(dev->inflight.map, dev->inflight.map_len);
	memset(&dev->inflight, 0, sizeof(dev->inflight));
}

static void device_reset(struct vu_dev *dev, bool flush)
{
	for (unsigned q = 0; q < VU_MAX_RINGS; q++)
		ring_reset(dev, &dev->ring[q], flush);
	/* The front-end keeps the buffer and sends it again on reconnecting. */
	inflight_unmap(dev);
	mem_unmap(dev);
	dev->acked = 0;
	dev->stopping_ring = -1;
}

static void rx_reset(struct vu_dev *dev)
{
	for (unsigned i = 0; i < dev->rx_nfds; i++)
		close_fd(&dev->rx_fds[i]);
	dev->rx_nfds = 0;
	dev->rx_fds_bad = false;
	dev->rx_len = 0;
}

static void disconnect(struct vu_dev *dev)
{
	if (dev->conn_fd < 0)
		return;
	epoll_ctl(dev->epoll_fd, EPOLL_CTL_DEL, dev->conn_fd, NULL);
	close_fd(&dev->conn_fd);
	rx_reset(dev);
	device_reset(dev, true);
	dev->protocol_acked = 0;
	dev->owner = false;
	dev->stats.disconnects++;
	cv_info("vhost-user %s: front-end disconnected, waiting for the next one", dev->path);
}

/* ------------------------------------------------------------ requests */

/* Payload sizes of the requests served (-1: checked by the handler). */
static int payload_size(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_RESET_DEVICE:
		return 0;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return sizeof(uint64_t);
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return sizeof(struct vhost_user_vring_state);
	case VHOST_USER_SET_VRING_ADDR:
		return sizeof(struct vhost_user_vring_addr);
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD:
		return sizeof(struct vhost_user_inflight);
	case VHOST_USER_SET_MEM_TABLE:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		return -1;
	default:
		return -2; /* not served */
	}
}

/* Requests whose answer is their own reply, not a REPLY_ACK. */
static bool has_reply(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
		return true;
	default:
		return false;
	}
}

/* A reply, with @fd attached unless it is negative. */
static int send_reply_fd(struct vu_dev *dev, uint32_t request, const void *payload,
			 uint32_t size, int fd)
{
	struct vhost_user_hdr hdr = {
		.request = request,
		.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
		.size = size,
	};
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = size },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	if (fd >= 0)
		fd_pass_attach(&msg, control.buf, sizeof(control.buf), &fd, 1);
	n = sendmsg(dev->conn_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

	/* A front-end that does not drain its socket is gone for us. */
	return n == (ssize_t)(sizeof(hdr) + size) ? 0 : -EPIPE;
}

static int send_reply(struct vu_dev *dev, uint32_t request, const void *payload,
		      uint32_t size)
{
	return send_reply_fd(dev, request, payload, size, -1);
}

static struct vu_ring *ring_of(struct vu_dev *dev, uint32_t index)
{
	return index < dev->cfg.rings ? &dev->ring[index] : NULL;
}

/* SET_VRING_KICK / CALL / ERR: u64 = ring index | NOFD flag, and the fd. */
static int set_vring_fd(struct vu_dev *dev, uint32_t request, uint64_t v, int *fds,
			unsigned nfds)
{
	struct vu_ring *r = ring_of(dev, v & VHOST_USER_VRING_IDX_MASK);
	bool nofd = v & VHOST_USER_VRING_NOFD_MASK;
	unsigned q = v & VHOST_USER_VRING_IDX_MASK;
	int fd, *slot, ret;

	if (!r || (v & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) ||
	    nfds != (nofd ? 0U : 1U))
		return -EINVAL;
	/* Polling instead of kicks is not supported: a kick fd is required. */
	if (request == VHOST_USER_SET_VRING_KICK && nofd)
		return -EOPNOTSUPP;
	fd = nofd ? -1 : fds[0];
	if (fd >= 0 && !fd_is_eventfd(fd))
		return -EBADF;
	if (request == VHOST_USER_SET_VRING_CALL) {
		slot = &r->call;
	} else if (request == VHOST_USER_SET_VRING_ERR) {
		slot = &r->err;
	} else {
		ring_stop(dev, r, true);
		ret = epoll_set(dev, EPOLL_CTL_ADD, fd, TAG_KICK + q);
		if (ret)
			return ret;
		slot = &r->kick;
	}
	close_fd(slot);
	*slot = fd;
	if (!nofd)
		fds[0] = -1; /* kept */
	if (request != VHOST_USER_SET_VRING_KICK)
		return 0;
	/* "The ring is started upon receiving a kick"; without protocol
	 * features there is no SET_VRING_ENABLE, so it is enabled too. */
	r->started = true;
	if (!vu_has_feature(dev, VHOST_USER_F_PROTOCOL_FEATURES))
		r->enabled = true;
	ret = ring_map(dev, r);
	if (ret) {
		cv_err_once("vhost-user %s: ring %u started but its addresses are not in guest memory",
			    dev->path, q);
		return ret;
	}
	ring_poke(dev, q);
	return 0;
}

/*
 * GET_VRING_BASE on a ring whose chains are still with the device: stop
 * serving its kicks and reading requests, and answer from vu_ring_idle().
 */
#define REPLY_DEFERRED 1

static int ring_drain(struct vu_dev *dev, struct vu_ring *r)
{
	if (r->kick >= 0)
		epoll_ctl(dev->epoll_fd, EPOLL_CTL_DEL, r->kick, NULL);
	epoll_ctl(dev->epoll_fd, EPOLL_CTL_DEL, dev->conn_fd, NULL);
	r->stopping = true;
	dev->stopping_ring = (int)(r - dev->ring);
	cv_debug("vhost-user %s: ring %d stops once its chains in flight are back", dev->path,
		 dev->stopping_ring);
	return REPLY_DEFERRED;
}

struct reply {
	uint32_t size;
	int fd; /* sent with the reply, then closed here */
	union {
		uint64_t u64;
		struct vhost_user_vring_state state;
		struct vhost_user_config config;
		struct vhost_user_inflight inflight;
	};
};

/* ------------------------------------------------------------ inflight */

/* One queue's region: header and a DescStateSplit per entry, 64-byte aligned. */
static size_t inflight_stride(uint16_t queue_size)
{
	size_t bytes = sizeof(struct vhost_user_queue_region_split) +
		       sizeof(struct vhost_user_desc_state_split) * queue_size;

	return (bytes + 63) & ~(size_t)63;
}

static int inflight_check(const struct vu_dev *dev, const struct vhost_user_inflight *in)
{
	if (!has_protocol(dev, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
		return -EOPNOTSUPP;
	if (!in->num_queues || in->num_queues > dev->cfg.rings || !in->queue_size ||
	    in->queue_size > VIRTQ_MAX_SIZE || (in->queue_size & (in->queue_size - 1)))
		return -EINVAL;
	/* Rings take their region when they start: not under running ones. */
	for (unsigned q = 0; q < dev->cfg.rings; q++)
		if (dev->ring[q].started)
			return -EBUSY;
	return 0;
}

/* Map [mmap_offset, + mmap_size) of @fd as the inflight buffer. */
static int inflight_map(struct vu_dev *dev, const struct vhost_user_inflight *in, int fd)
{
	size_t stride = inflight_stride(in->queue_size);
	struct stat st;
	void *map;
	int seals;

	if (in->mmap_size != stride * in->num_queues || in->mmap_offset > SIZE_MAX / 2 ||
	    fstat(fd, &st) || (uint64_t)st.st_size < in->mmap_offset + in->mmap_size)
		return -EINVAL;
	/* A buffer the front-end could shrink would fault here (SIGBUS). */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EPERM;
	map = mmap(NULL, in->mmap_offset + in->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	inflight_unmap(dev);
	dev->inflight = (struct vu_inflight){
		.map = map, .map_len = in->mmap_offset + in->mmap_size,
		.base = (uint8_t *)map + in->mmap_offset, .stride = stride,
		.queues = in->num_queues, .queue_size = in->queue_size,
	};
	return 0;
}

/*
 * GET_INFLIGHT_FD: a new zeroed buffer for @in's queues, sealed against
 * resizing, mapped here and handed to the front-end, which keeps it and
 * sends it back with SET_INFLIGHT_FD each time it starts the device.
 */
static int get_inflight_fd(struct vu_dev *dev, const struct vhost_user_inflight *in,
			   struct reply *out)
{
	struct vhost_user_inflight got = *in;
	int ret = inflight_check(dev, in);
	int fd;

	if (ret)
		return ret;
	got.mmap_offset = 0;
	got.mmap_size = inflight_stride(in->queue_size) * in->num_queues;
	fd = memfd_create("vhost-user-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)got.mmap_size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = inflight_map(dev, &got, fd);
	if (ret) {
		close(fd);
		return ret;
	}
	out->inflight = got;
	out->size = sizeof(got);
	out->fd = fd;
	return 0;
}

static int set_inflight_fd(struct vu_dev *dev, const struct vhost_user_inflight *in,
			   const int *fds, unsigned nfds)
{
	int ret = inflight_check(dev, in);

	if (ret)
		return ret;
	return nfds == 1 ? inflight_map(dev, in, fds[0]) : -EBADF;
}

/*
 * GET_CONFIG / SET_CONFIG ("Device config space"): the window must fit the
 * payload exactly and the 256 bytes vhost-user allows; GET_CONFIG answers
 * with the same header and the bytes read.
 */
static int config_request(struct vu_dev *dev, uint32_t request, const uint8_t *p,
			  uint32_t size, struct reply *out)
{
	struct vhost_user_config c;

	if (!dev->ops.get_config || !has_protocol(dev, VHOST_USER_PROTOCOL_F_CONFIG))
		return -EOPNOTSUPP;
	if (size < VHOST_USER_CONFIG_HDR_SIZE || size > sizeof(c))
		return -EINVAL;
	memcpy(&c, p, size);
	if (c.size > VHOST_USER_MAX_CONFIG_SIZE || size != VHOST_USER_CONFIG_HDR_SIZE + c.size ||
	    c.offset > VHOST_USER_MAX_CONFIG_SIZE - c.size)
		return -EINVAL;
	if (request == VHOST_USER_SET_CONFIG)
		return dev->ops.set_config ?
			       dev->ops.set_config(dev->opaque, c.offset, c.region, c.size, c.flags) :
			       -EPERM;
	out->config = c;
	out->size = size;
	return dev->ops.get_config(dev->opaque, c.offset, out->config.region, c.size);
}

static int handle(struct vu_dev *dev, uint32_t request, const uint8_t *p, uint32_t size,
		  int *fds, unsigned nfds, struct reply *out)
{
	struct vhost_user_vring_state st = { 0 };
	struct vhost_user_vring_addr addr;
	struct vhost_user_inflight inflight;
	struct vhost_user_memory mem;
	struct vu_ring *r;
	uint64_t v = 0;

	/* Sizes were checked by the caller; these are the 8-byte payloads. */
	if (size == sizeof(v)) {
		memcpy(&v, p, sizeof(v));
		memcpy(&st, p, sizeof(st));
	}
	/* Only these requests carry fds. */
	if (nfds && request != VHOST_USER_SET_MEM_TABLE && request != VHOST_USER_SET_VRING_KICK &&
	    request != VHOST_USER_SET_VRING_CALL && request != VHOST_USER_SET_VRING_ERR &&
	    request != VHOST_USER_SET_INFLIGHT_FD)
		return -EBADF;
	if (size == sizeof(inflight))
		memcpy(&inflight, p, sizeof(inflight));

	switch (request) {
	case VHOST_USER_GET_FEATURES:
		out->size = sizeof(out->u64);
		out->u64 = dev->cfg.features | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
		return 0;
	case VHOST_USER_SET_FEATURES:
		if (v & ~(dev->cfg.features | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
			return -EINVAL;
		dev->acked = v;
		rings_remap(dev);
		return 0;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		out->size = sizeof(out->u64);
		out->u64 = protocol_offered(dev);
		return 0;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (v & ~protocol_offered(dev))
			return -EINVAL;
		dev->protocol_acked = v;
		return 0;
	case VHOST_USER_SET_OWNER:
		dev->owner = true;
		return 0;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		device_reset(dev, false);
		return 0;
	case VHOST_USER_GET_QUEUE_NUM:
		out->size = sizeof(out->u64);
		out->u64 = dev->cfg.queue_num;
		return 0;
	case VHOST_USER_SET_MEM_TABLE:
		if (size < 8)
			return -EINVAL;
		memset(&mem, 0, sizeof(mem));
		memcpy(&mem, p, size < sizeof(mem) ? size : sizeof(mem));
		if (mem.nregions == 0 || mem.nregions > VHOST_MEMORY_BASELINE_NREGIONS ||
		    size != 8 + mem.nregions * sizeof(mem.regions[0]) || nfds != mem.nregions)
			return -EINVAL;
		return set_mem_table(dev, &mem, fds);
	case VHOST_USER_SET_VRING_NUM:
		r = ring_of(dev, st.index);
		if (!r || r->started || st.num == 0 || st.num > VIRTQ_MAX_SIZE ||
		    (st.num & (st.num - 1)))
			return -EINVAL;
		r->num = (uint16_t)st.num;
		return 0;
	case VHOST_USER_SET_VRING_ADDR:
		memcpy(&addr, p, sizeof(addr));
		r = ring_of(dev, addr.index);
		if (!r || !r->num || (addr.flags & VIRTIO_BIT(VHOST_VRING_F_LOG)))
			return -EINVAL;
		/* Checked now, when the memory is known, so the front-end hears
		 * of a bad address at once and the ring keeps its old one. */
		if (dev->mem.nregions) {
			void *d, *av, *u;
			int ret = ring_translate(dev, r->num, &addr, &d, &av, &u);

			if (ret)
				return ret;
		}
		r->addr = addr;
		r->addr_set = true;
		return r->started ? ring_map(dev, r) : 0;
	case VHOST_USER_SET_VRING_BASE:
		r = ring_of(dev, st.index);
		/* Split rings: the base is a 16-bit avail index. */
		if (!r || r->started || st.num > UINT16_MAX)
			return -EINVAL;
		r->base = (uint16_t)st.num;
		return 0;
	case VHOST_USER_GET_VRING_BASE:
		r = ring_of(dev, st.index);
		if (!r)
			return -EINVAL;
		/* "Stop the ring": no more kicks are served until the next
		 * SET_VRING_KICK; the answer is where to resume, given once the
		 * device's chains in flight are filled (vu_ops.in_flight). */
		if (r->started && r->mapped && dev->ops.in_flight &&
		    dev->ops.in_flight(dev->opaque, st.index))
			return ring_drain(dev, r);
		ring_stop(dev, r, true);
		out->size = sizeof(out->state);
		out->state = (struct vhost_user_vring_state){ .index = st.index, .num = r->base };
		return 0;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return set_vring_fd(dev, request, v, fds, nfds);
	case VHOST_USER_SET_VRING_ENABLE:
		r = ring_of(dev, st.index);
		if (!r || st.num > 1)
			return -EINVAL;
		r->enabled = st.num;
		if (r->enabled)
			ring_poke(dev, st.index);
		return 0;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		return config_request(dev, request, p, size, out);
	case VHOST_USER_GET_INFLIGHT_FD:
		return get_inflight_fd(dev, &inflight, out);
	case VHOST_USER_SET_INFLIGHT_FD:
		return set_inflight_fd(dev, &inflight, fds, nfds);
	default:
		return -EOPNOTSUPP;
	}
}

/* One complete message in dev->rx: serve it.  -EPIPE drops the front-end. */
static int dispatch(struct vu_dev *dev)
{
	const struct vhost_user_hdr *h = &dev->rx.hdr;
	uint32_t request = h->request, size = h->size;
	bool need_reply = h->flags & VHOST_USER_NEED_REPLY_MASK;
	int want = payload_size(request);
	struct reply out = { .fd = -1 };
	uint64_t ack;
	int r;

	if (dev->rx_fds_bad)
		r = -EBADF;
	else if (want == -2)
		r = -EOPNOTSUPP;
	else if (want >= 0 && size != (uint32_t)want)
		r = -EINVAL;
	else
		r = handle(dev, request, dev->rx.bytes + sizeof(*h), size, dev->rx_fds,
			   dev->rx_nfds, &out);
	cv_debug("vhost-user %s: %s (%u) size %u fds %u: %s", dev->path,
		 vhost_user_request_name(request), request, size, dev->rx_nfds,
		 r == REPLY_DEFERRED ? "answer deferred" : r ? strerror(-r) : "ok");
	if (r == REPLY_DEFERRED)
		return 0;
	if (r) {
		/* Counted always, logged once: the front-end may repeat it. */
		dev->stats.rejected++;
		cv_err_once("vhost-user %s: %s (%u, %u bytes, %u fds) refused: %s", dev->path,
			    vhost_user_request_name(request), request, size, dev->rx_nfds, strerror(-r));
		/* A front-end waiting for an answer we cannot give would hang:
		 * dropping it is the only honest reply. */
		if (has_reply(request))
			return -EPIPE;
	}
	if (out.size) {
		r = send_reply_fd(dev, request, &out.u64, out.size, out.fd);
		if (out.fd >= 0)
			close(out.fd);
		return r;
	}
	if (need_reply && has_protocol(dev, VHOST_USER_PROTOCOL_F_REPLY_ACK)) {
		ack = r ? 1 : 0;
		return send_reply(dev, request, &ack, sizeof(ack));
	}
	return 0;
}

/* The control buffer rounds up, so it can hold more fds than a message may carry. */
static void take_fds(struct vu_dev *dev, struct msghdr *msg)
{
	if (fd_pass_take(msg, dev->rx_fds, &dev->rx_nfds, VHOST_MEMORY_BASELINE_NREGIONS))
		dev->rx_fds_bad = true;
}

/*
 * Read what the socket holds of the current message; 1 when it is
 * complete, 0 when more must arrive, -EPIPE when the front-end is gone or
 * the stream cannot be trusted any more.
 */
static int receive(struct vu_dev *dev)
{
	const size_t hlen = sizeof(struct vhost_user_hdr);
	union {
		char buf[CMSG_SPACE(sizeof(int) * (VHOST_MEMORY_BASELINE_NREGIONS + 1))];
		struct cmsghdr align;
	} control;
	struct iovec iov;
	struct msghdr msg;
	size_t want;
	ssize_t n;

	for (;;) {
		if (dev->rx_len < hlen) {
			want = hlen - dev->rx_len;
		} else {
			const struct vhost_user_hdr *h = &dev->rx.hdr;

			if ((h->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
			    h->size > VU_PAYLOAD_MAX) {
				cv_err_once("vhost-user %s: header (request %u flags %#x size %u) breaks the stream",
					    dev->path, h->request, h->flags, h->size);
				return -EPIPE;
			}
			want = hlen + h->size - dev->rx_len;
			if (!want)
				return 1;
		}
		iov = (struct iovec){ .iov_base = dev->rx.bytes + dev->rx_len, .iov_len = want };
		msg = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1,
				       .msg_control = control.buf,
				       .msg_controllen = sizeof(control.buf) };
		n = recvmsg(dev->conn_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -EPIPE;
		take_fds(dev, &msg);
		dev->rx_len += (size_t)n;
	}
}

static void serve_conn(struct vu_dev *dev)
{
	for (int i = 0; i < MSGS_PER_CALL && dev->conn_fd >= 0 && dev->stopping_ring < 0; i++) {
		int r = receive(dev);

		if (r == 0)
			return;
		if (r > 0)
			r = dispatch(dev);
		rx_reset(dev);
		if (r)
			disconnect(dev);
	}
}

static void serve_listen(struct vu_dev *dev)
{
	int fd = accept4(dev->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (dev->conn_fd >= 0) {
		/* One front-end drives a device; a second would fight it. */
		dev->stats.refused_conns++;
		cv_err_once("vhost-user %s: a second front-end connected; refused", dev->path);
		close(fd);
		return;
	}
	if (epoll_set(dev, EPOLL_CTL_ADD, fd, TAG_CONN)) {
		close(fd);
		return;
	}
	dev->conn_fd = fd;
	dev->stats.connects++;
	cv_info("vhost-user %s: front-end connected", dev->path);
}

static void serve_kick(struct vu_dev *dev, unsigned q)
{
	struct vu_ring *r = &dev->ring[q];
	uint64_t count;

	if (r->kick < 0 || read(r->kick, &count, sizeof(count)) < 0)
		return;
	ring_poke(dev, q);
}

void vu_ring_idle(struct vu_dev *dev, unsigned q)
{
	struct vhost_user_vring_state st = { .index = q };
	struct vu_ring *r;

	if (dev->stopping_ring != (int)q)
		return;
	r = &dev->ring[q];
	ring_stop(dev, r, true);
	dev->stopping_ring = -1;
	st.num = r->base;
	cv_debug("vhost-user %s: ring %u drained, stopped at %u", dev->path, q, st.num);
	if (send_reply(dev, VHOST_USER_GET_VRING_BASE, &st, sizeof(st)) ||
	    epoll_set(dev, EPOLL_CTL_ADD, dev->conn_fd, TAG_CONN))
		disconnect(dev);
}

int vu_process(struct vu_dev *dev)
{
	struct epoll_event ev[VU_MAX_RINGS + 2];
	int n = epoll_wait(dev->epoll_fd, ev, VU_MAX_RINGS + 2, 0);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;

		if (tag == TAG_LISTEN)
			serve_listen(dev);
		else if (tag == TAG_CONN)
			serve_conn(dev);
		else if (tag - TAG_KICK < dev->cfg.rings)
			serve_kick(dev, (unsigned)(tag - TAG_KICK));
	}
	return 0;
}

int vu_fd(const struct vu_dev *dev)
{
	return dev->epoll_fd;
}

bool vu_connected(const struct vu_dev *dev)
{
	return dev->conn_fd >= 0;
}

int vu_listen(struct vu_dev *dev, const char *path, const struct vu_config *cfg,
	      const struct vu_ops *ops, void *opaque)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	if (!cfg->rings || cfg->rings > VU_MAX_RINGS || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	memset(dev, 0, sizeof(*dev));
	dev->cfg = *cfg;
	dev->ops = *ops;
	dev->opaque = opaque;
	dev->conn_fd = -1;
	dev->stopping_ring = -1;
	for (unsigned q = 0; q < VU_MAX_RINGS; q++)
		dev->ring[q].kick = dev->ring[q].call = dev->ring[q].err = -1;
	snprintf(dev->path, sizeof(dev->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path));

	dev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (dev->epoll_fd < 0)
		return -errno;
	dev->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (dev->listen_fd < 0) {
		r = -errno;
		goto fail;
	}
	unlink(path);
	if (bind(dev->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(dev->listen_fd, 1)) {
		r = -errno;
		goto fail;
	}
	r = epoll_set(dev, EPOLL_CTL_ADD, dev->listen_fd, TAG_LISTEN);
	if (r)
		goto fail;
	return 0;
fail:
	close_fd(&dev->listen_fd);
	close_fd(&dev->epoll_fd);
	return r;
}

void vu_close(struct vu_dev *dev)
{
	disconnect(dev);
	if (dev->listen_fd >= 0)
		unlink(dev->path);
	close_fd(&dev->listen_fd);
	close_fd(&dev->epoll_fd);
}
