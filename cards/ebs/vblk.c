// SPDX-License-Identifier: Apache-2.0
#include "cards/ebs/vblk.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tools/lib/log.h"

#define SECTORS_PER_BLOCK (EBS_LBA_SIZE / VIRTIO_BLK_SECTOR_SIZE)
/* Chains served per kick; the rest wait for the next turn of the loop. */
#define KICK_BUDGET 256
/*
 * Requests of one queue in the datapath at most: each may hold a bounce
 * buffer of a whole transfer, so the ring size the front-end picked (up
 * to 32768) must not decide the card's memory.  More wait in the ring.
 */
#define QUEUE_DEPTH 256

/*
 * A request in the datapath.  Its buffers and status byte are host
 * pointers into the front-end's memory, valid until the ring is released.
 */
struct vblk_req {
	struct ebs_io io;
	struct vblk *vb;
	struct vblk_req *prev, *next;  /* vb->reqs: all of them, live or orphaned */
	unsigned q;
	uint16_t head;
	bool orphan;                   /* ring released: complete into nothing */
	uint32_t used_len;
	uint8_t *status;
	struct nvme_dsm_range *ranges;
	struct iovec iov[];
};

struct vblk {
	struct vu_dev vu;
	struct ebs_datapath *dp;
	struct vblk_limits lim;
	struct virtio_blk_config config;
	char serial[VIRTIO_BLK_ID_BYTES];
	unsigned queues;
	uint32_t throttled;            /* queues left unread at QUEUE_DEPTH */
	unsigned inflight[VBLK_MAX_QUEUES];
	struct vblk_req *reqs;
	struct vblk_stats stats;
	/* Scratch for one chain; its iov and ranges move into the request. */
	struct virtq_elem elem;
	struct iovec iov[VIRTQ_MAX_SEGS];
	struct nvme_dsm_range ranges[VBLK_MAX_DISCARD_SEG];
};

/* The [@off, @off + @len) bytes of @src's @n segments as segments in @dst. */
static unsigned iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len,
			  struct iovec *dst)
{
	unsigned out = 0;

	for (unsigned i = 0; i < n && len; i++) {
		size_t seg = src[i].iov_len, take;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		take = seg - off < len ? seg - off : len;
		dst[out++] = (struct iovec){ (uint8_t *)src[i].iov_base + off, take };
		len -= take;
		off = 0;
	}
	return out;
}

/* 512-byte sectors [@sector, + @sectors) as whole blocks inside the volume. */
static bool to_blocks(const struct vblk_limits *lim, uint64_t sector, uint64_t sectors,
		      uint64_t *slba, uint32_t *nlb)
{
	uint64_t n = sectors / SECTORS_PER_BLOCK;

	if (sector % SECTORS_PER_BLOCK || sectors % SECTORS_PER_BLOCK || !n ||
	    n > UINT32_MAX)
		return false;
	*slba = sector / SECTORS_PER_BLOCK;
	*nlb = (uint32_t)n;
	return n <= lim->blocks && *slba <= lim->blocks - n;
}

/* DISCARD and WRITE_ZEROES: the segment list after the header (§5.2.6). */
static int parse_segments(const struct virtq_elem *e, const struct vblk_limits *lim,
			  struct vblk_parsed *p)
{
	const size_t hlen = sizeof(struct virtio_blk_outhdr);
	const bool discard = p->type == VIRTIO_BLK_T_DISCARD;
	size_t bytes = e->out_len - hlen;
	unsigned n = (unsigned)(bytes / sizeof(struct virtio_blk_discard_write_zeroes));
	uint32_t max_blocks = discard ? VBLK_MAX_DISCARD_BLOCKS : VBLK_MAX_ZEROES_BLOCKS;
	bool unsupp = false;

	if (e->in_len != 1 || !n || bytes % sizeof(struct virtio_blk_discard_write_zeroes) ||
	    n > (discard ? VBLK_MAX_DISCARD_SEG : 1u))
		return VIRTIO_BLK_S_IOERR;
	for (unsigned i = 0; i < n; i++) {
		struct virtio_blk_discard_write_zeroes s;
		struct nvme_dsm_range *r = &p->ranges[i];

		virtq_elem_read(e, hlen + i * sizeof(s), &s, sizeof(s));
		/* §5.2.6.2: unknown flags, and unmap on a discard, are UNSUPP. */
		if (s.flags & ~(uint32_t)VIRTIO_BLK_WZ_F_UNMAP ||
		    (discard && s.flags & VIRTIO_BLK_WZ_F_UNMAP)) {
			unsupp = true;
			continue;
		}
		*r = (struct nvme_dsm_range){ 0 };
		if (!to_blocks(lim, s.sector, s.num_sectors, &r->slba, &r->nlb) ||
		    r->nlb > max_blocks)
			return VIRTIO_BLK_S_IOERR;
	}
	if (unsupp)
		return VIRTIO_BLK_S_UNSUPP;
	p->nr_ranges = n;
	p->slba = p->ranges[0].slba;
	p->nlb = p->ranges[0].nlb;
	return VIRTIO_BLK_S_OK;
}

int vblk_parse(const struct virtq_elem *e, const struct vblk_limits *lim,
	       struct vblk_parsed *p)
{
	const size_t hlen = sizeof(struct virtio_blk_outhdr);
	struct virtio_blk_outhdr h;
	const struct iovec *last;
	unsigned nseg = e->out_num + e->in_num;
	uint32_t nlb;

	/* §5.2.6: the status is the last byte the device may write. */
	if (!e->in_len || !e->in_num)
		return -1;
	last = &e->iov[nseg - 1];
	p->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	p->iovcnt = 0;
	p->data_len = 0;
	p->nr_ranges = 0;
	p->slba = 0;
	p->nlb = 0;
	if (e->out_len < hlen) {
		p->type = UINT32_MAX;
		return VIRTIO_BLK_S_IOERR;
	}
	virtq_elem_read(e, 0, &h, hlen);
	p->type = h.type;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (h.type == VIRTIO_BLK_T_IN) {
			if (e->out_len != hlen)
				return VIRTIO_BLK_S_IOERR;
			p->data_len = e->in_len - 1;
			p->iovcnt = iov_slice(e->iov + e->out_num, e->in_num, 0, p->data_len,
					      p->iov);
		} else {
			if (e->in_len != 1)
				return VIRTIO_BLK_S_IOERR;
			p->data_len = e->out_len - hlen;
			p->iovcnt = iov_slice(e->iov, e->out_num, hlen, p->data_len, p->iov);
		}
		if (p->data_len > lim->max_data ||
		    !to_blocks(lim, h.sector, p->data_len / VIRTIO_BLK_SECTOR_SIZE, &p->slba,
			       &nlb) ||
		    p->data_len % EBS_LBA_SIZE)
			return VIRTIO_BLK_S_IOERR;
		p->nlb = nlb;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return e->out_len == hlen && e->in_len == 1 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_GET_ID:
		if (e->out_len != hlen || e->in_len < 2)
			return VIRTIO_BLK_S_IOERR;
		p->data_len = e->in_len - 1;
		if (p->data_len > VIRTIO_BLK_ID_BYTES)
			p->data_len = VIRTIO_BLK_ID_BYTES;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_segments(e, lim, p);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void req_unlink(struct vblk_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		r->vb->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static void req_free(struct vblk_req *r)
{
	struct vblk *vb = r->vb;

	req_unlink(r);
	if (vb->inflight[r->q]-- == QUEUE_DEPTH && vb->throttled & (1u << r->q)) {
		vb->throttled &= ~(1u << r->q);
		vu_queue_rearm(&vb->vu, r->q);
	}
	free(r->ranges);
	free(r);
}

/* Answer chain @head of @q with @status, @len bytes written in all. */
static void answer(struct vblk *vb, unsigned q, uint16_t head, uint8_t *status_byte,
		   uint8_t status, uint32_t len)
{
	struct virtq *vq = vu_queue_held(&vb->vu, q);

	if (!vq)
		return;
	if (status_byte)
		*status_byte = status;
	if (status == VIRTIO_BLK_S_IOERR)
		vb->stats.ioerr++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		vb->stats.unsupp++;
	virtq_fill(vq, head, len);
}

static void io_done(struct ebs_io *io, uint16_t nvme_status)
{
	struct vblk_req *r = (struct vblk_req *)((char *)io - offsetof(struct vblk_req, io));
	struct vblk *vb = r->vb;

	if (!r->orphan) {
		if (nvme_status)
			cv_err_once("vblk %s: queue %u: opcode %#x at lba %llu failed with NVMe status %#x",
				    vb->vu.path, r->q, io->opcode, (unsigned long long)io->slba,
				    nvme_status);
		answer(vb, r->q, r->head, r->status,
		       nvme_status ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK,
		       nvme_status ? 1 : r->used_len);
	}
	req_free(r);
}

static const uint8_t nvme_opcode[] = {
	[VIRTIO_BLK_T_IN] = NVME_NVM_READ,
	[VIRTIO_BLK_T_OUT] = NVME_NVM_WRITE,
	[VIRTIO_BLK_T_FLUSH] = NVME_NVM_FLUSH,
	[VIRTIO_BLK_T_DISCARD] = NVME_NVM_DSM,
	[VIRTIO_BLK_T_WRITE_ZEROES] = NVME_NVM_WRITE_ZEROES,
};

/* Hand a parsed request to the datapath; false if it could not go. */
static bool submit(struct vblk *vb, unsigned q, const struct vblk_parsed *p)
{
	struct vblk_req *r = calloc(1, sizeof(*r) + p->iovcnt * sizeof(r->iov[0]));

	if (!r)
		return false;
	r->vb = vb;
	r->q = q;
	r->head = vb->elem.head;
	r->status = p->status;
	r->used_len = 1 + (p->type == VIRTIO_BLK_T_IN ? (uint32_t)p->data_len : 0);
	memcpy(r->iov, p->iov, p->iovcnt * sizeof(r->iov[0]));
	r->io = (struct ebs_io){ .queue = (uint16_t)(q + 1), .opcode = nvme_opcode[p->type],
				 .slba = p->slba, .nlb = p->nlb, .done = io_done };
	if (p->type == VIRTIO_BLK_T_IN || p->type == VIRTIO_BLK_T_OUT) {
		r->io.iov = r->iov;
		r->io.iovcnt = p->iovcnt;
	} else if (p->type == VIRTIO_BLK_T_DISCARD) {
		r->ranges = malloc(p->nr_ranges * sizeof(r->ranges[0]));
		if (!r->ranges) {
			free(r);
			return false;
		}
		memcpy(r->ranges, p->ranges, p->nr_ranges * sizeof(r->ranges[0]));
		r->io.ranges = r->ranges;
		r->io.nr_ranges = p->nr_ranges;
		r->io.slba = r->io.nlb = 0;
	} else if (p->type == VIRTIO_BLK_T_FLUSH) {
		r->io.slba = r->io.nlb = 0;
	}
	r->next = vb->reqs;
	if (r->next)
		r->next->prev = r;
	vb->reqs = r;
	vb->inflight[q]++;
	if (ebs_datapath_submit(vb->dp, &r->io)) {
		req_free(r);
		return false;
	}
	return true;
}

static void serve_chain(struct vblk *vb, unsigned q)
{
	const struct virtq_elem *e = &vb->elem;
	struct vblk_parsed p = { .iov = vb->iov, .ranges = vb->ranges };
	int st = vblk_parse(e, &vb->lim, &p);

	vb->stats.requests++;
	if (st < 0) {
		vb->stats.dropped++;
		cv_err_once("vblk %s: queue %u chain %u has no writable status byte (%zu/%zu bytes)",
			    vb->vu.path, q, e->head, e->out_len, e->in_len);
		answer(vb, q, e->head, NULL, VIRTIO_BLK_S_OK, 0);
		return;
	}
	if (st != VIRTIO_BLK_S_OK) {
		cv_err_once("vblk %s: queue %u chain %u: request type %u refused (%s): "
			    "%zu readable, %zu writable bytes",
			    vb->vu.path, q, e->head, p.type,
			    st == VIRTIO_BLK_S_UNSUPP ? "UNSUPP" : "IOERR", e->out_len, e->in_len);
		answer(vb, q, e->head, p.status, (uint8_t)st, 1);
		return;
	}
	if (p.type == VIRTIO_BLK_T_GET_ID) {
		/* The id area is the writable bytes before the status byte. */
		size_t n = virtq_elem_write(e, 0, vb->serial, p.data_len);

		answer(vb, q, e->head, p.status, VIRTIO_BLK_S_OK, (uint32_t)n + 1);
		return;
	}
	if (!submit(vb, q, &p)) {
		cv_err_once("vblk %s: queue %u: no memory for a request", vb->vu.path, q);
		answer(vb, q, e->head, p.status, VIRTIO_BLK_S_IOERR, 1);
	}
}

static void kick(void *opaque, unsigned q)
{
	struct vblk *vb = opaque;
	unsigned done = 0;
	struct virtq *vq;

	while ((vq = vu_queue(&vb->vu, q))) {
		while (done < KICK_BUDGET && vb->inflight[q] < QUEUE_DEPTH &&
		       virtq_pop(vq, &vb->elem) == 1) {
			serve_chain(vb, q);
			done++;
		}
		if (vb->inflight[q] >= QUEUE_DEPTH) {
			/* A completion rearms the queue (req_free). */
			vb->throttled |= 1u << q;
			break;
		}
		if (done == KICK_BUDGET) {
			/* Come back through the event loop so the other queues,
			 * the NVMe/TCP sockets and the control socket get a turn. */
			vu_queue_rearm(&vb->vu, q);
			break;
		}
		if (!virtq_enable_notify(vq))
			break;
	}
	vblk_flush(vb);
}

/* What a GET_VRING_BASE on @q waits for: requests the datapath still has. */
static unsigned in_flight(void *opaque, unsigned q)
{
	const struct vblk *vb = opaque;

	return q < vb->queues ? vb->inflight[q] : 0;
}

/* The ring stopped or its memory goes: in-flight requests answer nothing. */
static void release(void *opaque, unsigned q)
{
	struct vblk *vb = opaque;

	for (struct vblk_req *r = vb->reqs; r; r = r->next) {
		if (r->q != q || r->orphan)
			continue;
		r->orphan = true;
		r->io.iov = NULL;
		r->io.iovcnt = 0;
		vb->stats.released++;
	}
}

static int get_config(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	const struct vblk *vb = opaque;
	const size_t have = sizeof(vb->config);

	memset(buf, 0, len);
	if (offset < have)
		memcpy(buf, (const uint8_t *)&vb->config + offset,
		       len < have - offset ? len : have - offset);
	return 0;
}

/* Nothing in the config space is writable without CONFIG_WCE (§5.2.4). */
static int set_config(void *opaque, uint32_t offset, const void *buf, uint32_t len,
		      uint32_t flags)
{
	const struct vblk *vb = opaque;

	(void)buf;
	cv_err_once("vblk %s: SET_CONFIG of %u bytes at %u (flags %u) refused: nothing is writable",
		    vb->vu.path, len, offset, flags);
	return -EPERM;
}

int vblk_open(struct vblk **out, const struct vblk_config *cfg)
{
	static const struct vu_ops ops = { .kick = kick, .release = release,
					   .in_flight = in_flight, .get_config = get_config,
					   .set_config = set_config };
	struct vu_config vc = {
		.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
			    VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) |
			    VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			    VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
			    VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES),
		/* A cv-ebs restarted under a running guest finds what its
		 * predecessor had taken and not completed, and does it again. */
		.protocol_features = VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD),
		.rings = cfg->queues,
		.queue_num = cfg->queues,
	};
	struct vblk *vb;
	uint32_t seg_max;
	int ret;

	if (!cfg->queues || cfg->queues > VBLK_MAX_QUEUES || cfg->max_xfer < EBS_LBA_SIZE ||
	    !cfg->blocks || cfg->blocks > UINT64_MAX / 8 || !cfg->dp || !cfg->serial)
		return -EINVAL;
	if (cfg->queues > 1) {
		vc.features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
		vc.protocol_features |= VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ);
	}
	vb = calloc(1, sizeof(*vb));
	if (!vb)
		return -ENOMEM;
	vb->dp = cfg->dp;
	vb->queues = cfg->queues;
	/* §5.2.6: the id is 20 bytes, NUL-padded when shorter. */
	memcpy(vb->serial, cfg->serial,
	       strnlen(cfg->serial, sizeof(vb->serial)));
	/*
	 * SIZE_MAX of one block and SEG_MAX blocks bound a request by what one
	 * NVMe/TCP command carries; two segments of a chain are the header
	 * and the status byte.
	 */
	seg_max = cfg->max_xfer / EBS_LBA_SIZE;
	if (seg_max > VIRTQ_MAX_SEGS - 2)
		seg_max = VIRTQ_MAX_SEGS - 2;
	vb->lim = (struct vblk_limits){ .blocks = cfg->blocks, .max_data = seg_max * EBS_LBA_SIZE };
	vb->config = (struct virtio_blk_config){
		.capacity = cfg->blocks * SECTORS_PER_BLOCK,
		.size_max = EBS_LBA_SIZE,
		.seg_max = seg_max,
		.blk_size = EBS_LBA_SIZE,
		.num_queues = (uint16_t)cfg->queues,
		.max_discard_sectors = VBLK_MAX_DISCARD_BLOCKS * SECTORS_PER_BLOCK,
		.max_discard_seg = VBLK_MAX_DISCARD_SEG,
		.discard_sector_alignment = SECTORS_PER_BLOCK,
		.max_write_zeroes_sectors = VBLK_MAX_ZEROES_BLOCKS * SECTORS_PER_BLOCK,
		.max_write_zeroes_seg = 1,
		/* cv-storaged's zeroed blocks are deallocated ones (datapath.h). */
		.write_zeroes_may_unmap = 1,
	};
	ret = vu_listen(&vb->vu, cfg->path, &vc, &ops, vb);
	if (ret) {
		free(vb);
		return ret;
	}
	*out = vb;
	return 0;
}

void vblk_close(struct vblk *vb)
{
	if (!vb)
		return;
	vu_close(&vb->vu);
	while (vb->reqs)
		req_free(vb->reqs);
	free(vb);
}

int vblk_fd(const struct vblk *vb)
{
	return vu_fd(&vb->vu);
}

int vblk_process(struct vblk *vb)
{
	return vu_process(&vb->vu);
}

void vblk_flush(struct vblk *vb)
{
	for (unsigned q = 0; q < vb->queues; q++) {
		vu_queue_flush(&vb->vu, q);
		/* Published: a GET_VRING_BASE waiting for this ring may be answered. */
		if (!vb->inflight[q])
			vu_ring_idle(&vb->vu, q);
	}
}

void vblk_stats(const struct vblk *vb, struct vblk_stats *s)
{
	*s = vb->stats;
}

void vblk_config_space(const struct vblk *vb, struct virtio_blk_config *c)
{
	*c = vb->config;
}
