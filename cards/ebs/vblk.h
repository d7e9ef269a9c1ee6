/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's second guest-facing face: a virtio-blk device (virtio 1.2
 * §5.2) served over vhost-user (cards/lib/vhost_user.h), so QEMU's or
 * Cloud Hypervisor's vhost-user-blk front-end gives the guest the volume
 * as /dev/vda.  Requests become ebs_io for the same QoS, AES-256-XTS and
 * NVMe/TCP path the NVMe face uses (cards/ebs/datapath.h); virtqueue i is
 * carried by NVMe/TCP I/O queue i + 1.
 *
 * Blocks are 4096 bytes (BLK_SIZE), so every request must be 4 KiB aligned
 * in its 512-byte sector and length: one that is not is answered with
 * VIRTIO_BLK_S_IOERR (the type is supported, this instance of it cannot be
 * served), as is one past the capacity or above the advertised limits.
 * Types the device does not offer get VIRTIO_BLK_S_UNSUPP (§5.2.6.1).
 *
 * Offered: VERSION_1, INDIRECT_DESC, EVENT_IDX, SIZE_MAX, SEG_MAX,
 * BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES, and MQ with more than one
 * queue; protocol features CONFIG and INFLIGHT_SHMFD (a restarted card
 * resubmits what its predecessor had taken: docs/vhost-user.md).  Not offered: RO, GEOMETRY, TOPOLOGY, CONFIG_WCE (the cache mode
 * is fixed: writeback, FLUSH passes through to cv-storaged), SECURE_ERASE.
 */
#ifndef CV_EBS_VBLK_H
#define CV_EBS_VBLK_H

#include <stdint.h>
#include <sys/uio.h>

#include "cards/ebs/datapath.h"
#include "cards/lib/vhost_user.h"
#include "guest-abi/virtio_blk.h"

/* Limits the device advertises and enforces. */
#define VBLK_MAX_QUEUES VU_MAX_RINGS
#define VBLK_MAX_DISCARD_SEG 256           /* NVMe Dataset Management ranges */
#define VBLK_MAX_DISCARD_BLOCKS (1u << 19) /* 2 GiB per segment */
#define VBLK_MAX_ZEROES_BLOCKS (1u << 16)  /* NVMe Write Zeroes: 16-bit NLB */

/* What a request may ask, from the volume and the NVMe/TCP association. */
struct vblk_limits {
	uint64_t blocks;     /* capacity in 4 KiB blocks */
	uint32_t max_data;   /* bytes of one read or write */
};

/* One chain parsed: what to send down the path, where the status goes. */
struct vblk_parsed {
	uint32_t type;
	uint64_t slba;
	uint32_t nlb;
	struct iovec *iov;     /* data segments (IN, OUT), caller's array */
	unsigned iovcnt;
	size_t data_len;
	struct nvme_dsm_range *ranges;  /* DISCARD, WRITE_ZEROES: caller's array */
	unsigned nr_ranges;
	uint8_t *status;       /* the status byte in guest memory */
};

/*
 * Parse chain @e: VIRTIO_BLK_S_OK with @p filled (p->iov and p->ranges
 * point at caller arrays of VIRTQ_MAX_SEGS and VBLK_MAX_DISCARD_SEG
 * entries), else the status to answer with (p->status set).  -1 when the
 * chain has no writable byte for a status: it can only be dropped.
 */
int vblk_parse(const struct virtq_elem *e, const struct vblk_limits *lim,
	       struct vblk_parsed *p);

struct vblk_config {
	const char *path;      /* vhost-user socket to listen on */
	const char *serial;    /* GET_ID answer, first VIRTIO_BLK_ID_BYTES bytes */
	uint64_t blocks;       /* capacity in 4 KiB blocks */
	unsigned queues;       /* virtqueues, 1..VBLK_MAX_QUEUES, each an NVMe/TCP queue */
	uint32_t max_xfer;     /* bytes one NVMe/TCP command carries, >= 4096 */
	struct ebs_datapath *dp;
};

struct vblk_stats {
	uint64_t requests;     /* chains popped */
	uint64_t ioerr;        /* answered IOERR: malformed, out of range, failed */
	uint64_t unsupp;       /* answered UNSUPP */
	uint64_t dropped;      /* no status byte: returned unanswered */
	uint64_t released;     /* in flight when their ring stopped */
};

struct vblk;

/* Listen on cfg->path.  0 or a negative errno. */
int vblk_open(struct vblk **out, const struct vblk_config *cfg);
/* Requests still in the datapath must not complete after this. */
void vblk_close(struct vblk *vb);
/* The fd to poll; when readable call vblk_process(). */
int vblk_fd(const struct vblk *vb);
int vblk_process(struct vblk *vb);
/* Publish completions of this loop turn and interrupt the driver once. */
void vblk_flush(struct vblk *vb);
void vblk_stats(const struct vblk *vb, struct vblk_stats *s);
/* The config space as the front-end reads it (for tests and logs). */
void vblk_config_space(const struct vblk *vb, struct virtio_blk_config *c);

#endif /* CV_EBS_VBLK_H */
