/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Back-end side of the vhost-user protocol (QEMU docs/interop/vhost-user.rst)
 * for one device: listens on a UNIX socket, serves one front-end at a time
 * (cv-hv, QEMU, DPDK's net_virtio_user), maps the guest memory it shares,
 * and turns ring kicks into calls of the device's kick handler.  Nothing
 * the front-end sends is trusted: a bad request is refused (REPLY_ACK
 * error, or the connection is dropped when the request needs a reply) and
 * the back-end waits for the next front-end, so a restarted front-end
 * reconnects.
 *
 * Non-blocking and single-threaded: vu_fd() is one stable epoll fd the
 * card adds to its own event loop; when it is readable the card calls
 * vu_process().
 */
#ifndef CV_CARDS_VHOST_USER_H
#define CV_CARDS_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "cards/lib/virtq.h"
#include "guest-abi/vhost_user.h"

#define VU_MAX_RINGS 16
/* Largest payload accepted; a bigger size is a broken stream. */
#define VU_PAYLOAD_MAX 4096

struct vu_ring {
	struct virtq vq;
	bool mapped;   /* vq points at rings translated through the memory table */
	bool started;  /* kick fd received, not yet stopped by GET_VRING_BASE */
	bool stopping; /* GET_VRING_BASE waits for the device's chains in flight */
	bool enabled;  /* SET_VRING_ENABLE (or no protocol features) */
	uint16_t num;
	uint16_t base;  /* last_avail while not mapped */
	bool addr_set;
	struct vhost_user_vring_addr addr;
	uint64_t errors_reported; /* dropped chains already signalled on err */
	int kick, call, err;
	uint16_t *resubmit;       /* room for the inflight region's resubmissions */
	uint16_t resubmit_cap;
};

/* The inflight buffer (GET_INFLIGHT_FD / SET_INFLIGHT_FD) as mapped here. */
struct vu_inflight {
	void *map;          /* NULL: no inflight tracking */
	size_t map_len;
	uint8_t *base;      /* map + mmap_offset */
	size_t stride;      /* bytes of one queue's region */
	uint16_t queues, queue_size;
};

struct vu_ops {
	/* Ring @q may have buffers: a kick, or the ring just became live. */
	void (*kick)(void *opaque, unsigned q);
	/*
	 * Optional, for devices that complete chains after kick() returned:
	 * chains popped from @q must be forgotten, neither their buffers
	 * touched nor their heads filled, because the ring stopped or the
	 * memory they lie in is about to be unmapped.  Called before that.
	 */
	void (*release)(void *opaque, unsigned q);
	/*
	 * Optional, for the same devices: how many chains popped from @q are
	 * not yet filled.  GET_VRING_BASE then waits for them, as the answer
	 * closes the ring's state: kick() is no longer called for @q, the
	 * device fills what it holds (through vu_queue_held()) and
	 * calls vu_ring_idle() when none is left; only then is the ring
	 * stopped and the front-end answered, and no other request is read
	 * in between (the front-end waits for this answer anyway).
	 */
	unsigned (*in_flight)(void *opaque, unsigned q);
	/*
	 * Optional: the device's configuration space (virtio 1.2 §4.1.4.3),
	 * which a vhost-user front-end reads with GET_CONFIG and writes with
	 * SET_CONFIG.  Setting get_config offers VHOST_USER_PROTOCOL_F_CONFIG.
	 * get_config fills @buf with [@offset, @offset + @len), bytes past the
	 * device's config reading as zero; set_config returns 0 or a negative
	 * errno (a field the device does not let the driver write).
	 */
	int (*get_config)(void *opaque, uint32_t offset, void *buf, uint32_t len);
	int (*set_config)(void *opaque, uint32_t offset, const void *buf, uint32_t len,
			  uint32_t flags);
};


struct vu_config {
	uint64_t features;          /* virtio features the device offers */
	/*
	 * On top of REPLY_ACK and RESET_DEVICE.  INFLIGHT_SHMFD is served
	 * here for any device that offers it: popped heads are recorded in
	 * the front-end's buffer, and a ring that starts after a back-end
	 * restart pops its predecessor's unfinished chains again first.
	 */
	uint64_t protocol_features;
	unsigned rings;             /* rings the device has, <= VU_MAX_RINGS */
	uint64_t queue_num;         /* GET_QUEUE_NUM's answer (net: queue pairs) */
};

struct vu_stats {
	uint64_t connects;
	uint64_t disconnects;
	uint64_t rejected;   /* requests refused */
	uint64_t refused_conns; /* a second front-end while one is connected */
};

struct vu_dev {
	struct vu_config cfg;
	struct vu_ops ops;
	void *opaque;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, conn_fd, epoll_fd;
	uint64_t acked;          /* SET_FEATURES */
	uint64_t protocol_acked; /* SET_PROTOCOL_FEATURES */
	bool owner;
	struct virtq_mem mem;
	void *map_base[VIRTQ_MEM_REGIONS];
	size_t map_len[VIRTQ_MEM_REGIONS];
	struct vu_ring ring[VU_MAX_RINGS];
	struct vu_inflight inflight;
	int stopping_ring;       /* the ring whose GET_VRING_BASE waits, or -1 */
	/* The message being received: header + payload, and its fds. */
	size_t rx_len;
	union {
		struct vhost_user_hdr hdr;
		uint8_t bytes[sizeof(struct vhost_user_hdr) + VU_PAYLOAD_MAX];
	} rx __attribute__((aligned(8)));
	int rx_fds[VHOST_MEMORY_BASELINE_NREGIONS];
	unsigned rx_nfds;
	bool rx_fds_bad; /* too many, or truncated: the message is refused */
	struct vu_stats stats;
};

/* Listen on @path (replacing a stale socket file there). */
int vu_listen(struct vu_dev *dev, const char *path, const struct vu_config *cfg,
	      const struct vu_ops *ops, void *opaque);
void vu_close(struct vu_dev *dev);

/* The fd to poll for input (stable for the device's life). */
int vu_fd(const struct vu_dev *dev);
/* Serve whatever is ready: new front-end, requests, kicks.  0 or -errno
 * for a local failure; front-end misbehaviour is handled, not returned. */
int vu_process(struct vu_dev *dev);

bool vu_connected(const struct vu_dev *dev);
/*
 * The ring's queue to take new chains from: started, enabled, mapped and
 * not being stopped; else NULL.
 */
struct virtq *vu_queue(struct vu_dev *dev, unsigned q);
/*
 * The ring's queue to fill chains already taken from it: while it is
 * started and mapped, enabled or not.  A front-end disables a ring before
 * it stops it (QEMU does), and a started but disabled ring must still be
 * processed without side effects (vhost-user, "Ring states"): the device
 * takes nothing new, but what it holds completes.
 */
struct virtq *vu_queue_held(struct vu_dev *dev, unsigned q);
/*
 * Publish what the device filled on @q (virtq_fill) and interrupt the
 * driver if it wants one; also signals the error eventfd after dropped
 * chains.  Devices may fill several chains and flush once per turn of
 * their loop: every path that stops, re-attaches or forgets the ring
 * flushes first (GET_VRING_BASE, a new kick, SET_MEM_TABLE, SET_FEATURES,
 * SET_VRING_ADDR, a lost front-end), so nothing filled is lost.  Only
 * RESET_OWNER / RESET_DEVICE drop what was filled and not flushed.
 */
void vu_queue_flush(struct vu_dev *dev, unsigned q);
/* Have @q served again on the next vu_process, as if it were kicked. */
void vu_queue_rearm(struct vu_dev *dev, unsigned q);
bool vu_has_feature(const struct vu_dev *dev, unsigned bit);
/*
 * The device has no chain of @q in flight any more: a GET_VRING_BASE that
 * waits for it is answered now (see vu_ops.in_flight).  Cheap otherwise.
 */
void vu_ring_idle(struct vu_dev *dev, unsigned q);

#endif /* CV_CARDS_VHOST_USER_H */
