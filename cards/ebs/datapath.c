// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cards/ebs/datapath.h"
#include "tools/lib/log.h"

#define LBA_SIZE EBS_LBA_SIZE

/*
 * One guest command on its way: the NVMe/TCP commands that carry it (one,
 * or one per range for a Deallocate), started in order as queue slots
 * allow, and its place in the wait list while QoS or the queue holds it.
 */
struct dp_io {
	struct ebs_datapath *dp;
	struct ebs_io *io;
	struct dp_io *next;       /* wait list */
	uint8_t *bounce;          /* ciphertext, Read and Write */
	uint32_t bytes;           /* what QoS charges */
	bool admitted;            /* QoS tokens taken */
	bool qos_waited;
	unsigned nr_sub, started, pending;
	uint16_t status;          /* first error of any sub-command */
	struct iovec bounce_iov;
	struct nvmf_req sub[];
};

struct dp_queue {
	struct nvmf_queue *nq;
	struct xts_key xts;       /* per queue, for when queues get threads */
};

struct ebs_datapath {
	struct nvmf_ctrl *nvmf;
	struct qos qos;
	int timer_fd;
	bool timer_armed;
	bool draining, redrain;
	struct dp_io *wait_head, **wait_tail;
	unsigned nr_queues;
	struct ebs_datapath_stats stats;
	struct dp_queue q[];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ebs_datapath_create(struct ebs_datapath **out, struct nvmf_ctrl *nvmf,
			const uint8_t key[XTS_KEY_LEN], const struct qos_limits *lim)
{
	const struct nvmf_ctrl_info *in = nvmf_ctrl_info(nvmf);
	struct ebs_datapath *dp;
	int ret;

	if (in->lba_size != LBA_SIZE) {
		cv_err("volume: target LBA size %u, the controller's is %u", in->lba_size,
		       LBA_SIZE);
		return -EINVAL;
	}
	dp = calloc(1, sizeof(*dp) + in->nr_io_queues * sizeof(dp->q[0]));
	if (!dp)
		return -ENOMEM;
	dp->nvmf = nvmf;
	dp->nr_queues = in->nr_io_queues;
	dp->wait_tail = &dp->wait_head;
	ret = qos_init(&dp->qos, lim, now_ns());
	if (ret) {
		cv_err("volume: QoS limits out of range");
		goto fail;
	}
	dp->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dp->timer_fd < 0) {
		ret = -errno;
		goto fail;
	}
	for (unsigned i = 0; i < dp->nr_queues; i++) {
		dp->q[i].nq = nvmf_ctrl_queue(nvmf, i);
		ret = xts_key_init(&dp->q[i].xts, key);
		if (ret) {
			cv_err("volume: cannot use the volume key: %s", strerror(-ret));
			ebs_datapath_destroy(dp);
			return ret;
		}
	}
	*out = dp;
	return 0;
fail:
	free(dp);
	return ret;
}

static void dp_io_free(struct dp_io *d)
{
	free(d->bounce);
	free(d);
}

void ebs_datapath_destroy(struct ebs_datapath *dp)
{
	struct dp_io *d, *next;

	if (!dp)
		return;
	for (d = dp->wait_head; d; d = next) {
		next = d->next;
		dp_io_free(d);
	}
	for (unsigned i = 0; i < dp->nr_queues; i++)
		xts_key_destroy(&dp->q[i].xts);
	if (dp->timer_fd >= 0)
		close(dp->timer_fd);
	free(dp);
}

static struct dp_queue *dp_queue(struct ebs_datapath *dp, uint16_t sqid)
{
	return sqid >= 1 && sqid <= dp->nr_queues ? &dp->q[sqid - 1] : NULL;
}

/*
 * Walk @io's guest buffers one block at a time: @fn gets each block's
 * guest bytes contiguous, in a bounce block when the block straddles two
 * PRP/SGL segments, and (when @copy_back) scatters them back afterwards.
 */
typedef int (*block_fn)(struct dp_queue *q, uint64_t lba, uint8_t *guest,
			uint8_t *bounce);

static int for_each_block(struct dp_queue *q, struct ebs_io *io, uint8_t *bounce,
			  bool copy_back, block_fn fn)
{
	uint8_t tmp[LBA_SIZE];
	unsigned seg = 0;
	size_t off = 0;
	int ret;

	for (uint32_t b = 0; b < io->nlb; b++) {
		uint8_t *guest;

		while (seg < io->iovcnt && off == io->iov[seg].iov_len) {
			seg++;
			off = 0;
		}
		if (seg == io->iovcnt)
			return -EINVAL;
		if (io->iov[seg].iov_len - off >= LBA_SIZE) {
			guest = (uint8_t *)io->iov[seg].iov_base + off;
			off += LBA_SIZE;
		} else {
			/* Straddles segments: gather, and scatter back after. */
			size_t got = 0;
			unsigned s = seg;
			size_t o = off;

			while (got < LBA_SIZE && s < io->iovcnt) {
				size_t n = io->iov[s].iov_len - o;

				if (n > LBA_SIZE - got)
					n = LBA_SIZE - got;
				memcpy(tmp + got, (uint8_t *)io->iov[s].iov_base + o, n);
				got += n;
				o += n;
				if (o == io->iov[s].iov_len) {
					s++;
					o = 0;
				}
			}
			if (got < LBA_SIZE)
				return -EINVAL;
			guest = tmp;
		}
		ret = fn(q, io->slba + b, guest, bounce + (size_t)b * LBA_SIZE);
		if (ret)
			return ret;
		if (guest == tmp) {
			size_t put = 0;

			while (put < LBA_SIZE) {
				size_t n = io->iov[seg].iov_len - off;

				if (n > LBA_SIZE - put)
					n = LBA_SIZE - put;
				if (copy_back)
					memcpy((uint8_t *)io->iov[seg].iov_base + off, tmp + put, n);
				put += n;
				off += n;
				if (off == io->iov[seg].iov_len && put < LBA_SIZE) {
					seg++;
					off = 0;
				}
			}
		}
	}
	return 0;
}

static int encrypt_block(struct dp_queue *q, uint64_t lba, uint8_t *guest,
			 uint8_t *bounce)
{
	return xts_encrypt(&q->xts, lba, LBA_SIZE, guest, bounce, LBA_SIZE);
}

static int decrypt_block(struct dp_queue *q, uint64_t lba, uint8_t *guest,
			 uint8_t *bounce)
{
	/* Never written (tools/lib/volume_image.h): a new volume reads as zeros. */
	if (volume_block_unwritten(bounce)) {
		memset(guest, 0, LBA_SIZE);
		return 0;
	}
	return xts_decrypt(&q->xts, lba, LBA_SIZE, bounce, guest, LBA_SIZE);
}

static void dp_io_complete(struct dp_io *d)
{
	struct ebs_datapath *dp = d->dp;
	struct ebs_io *io = d->io;
	uint16_t status;

	/* No buffers: the face took them back, nothing to place. */
	if (!d->status && io->opcode == NVME_NVM_READ && io->iov &&
	    for_each_block(dp_queue(dp, io->queue), io, d->bounce, true, decrypt_block)) {
		cv_err_once("volume: queue %u: cannot decrypt blocks at lba %llu", io->queue,
			    (unsigned long long)io->slba);
		d->status = nvme_cqe_status(NVME_SC_INTERNAL, false);
	}
	dp->stats.completed++;
	if (d->status)
		dp->stats.errors++;
	status = d->status;
	dp_io_free(d);
	io->done(io, status);
}

static void drain(struct ebs_datapath *dp);

static void sub_done(struct nvmf_req *req, uint16_t status)
{
	struct dp_io *d = req->priv;

	if (status && !d->status)
		d->status = status;
	if (--d->pending == 0 && d->started == d->nr_sub) {
		struct ebs_datapath *dp = d->dp;

		dp_io_complete(d);
		/* A queue slot came free: something waiting may go now. */
		drain(dp);
	}
}

/*
 * Turn @d into its NVMe/TCP commands; encrypt what a Write carries.  An
 * NVMe status when it cannot go: its buffers were dropped while it waited
 * (Command Aborted), or no memory (Internal Error).
 */
static uint16_t dp_io_prepare(struct dp_io *d)
{
	struct ebs_io *io = d->io;
	bool data = io->opcode == NVME_NVM_READ || io->opcode == NVME_NVM_WRITE;

	if (data && !io->iov)
		return nvme_cqe_status(NVME_SC_ABORT_REQ, false);
	if (data) {
		d->bounce = malloc((size_t)io->nlb * LBA_SIZE);
		if (!d->bounce)
			return nvme_cqe_status(NVME_SC_INTERNAL, false);
		d->bounce_iov = (struct iovec){ d->bounce, (size_t)io->nlb * LBA_SIZE };
		if (io->opcode == NVME_NVM_WRITE) {
			if (for_each_block(dp_queue(d->dp, io->queue), io, d->bounce, false,
					   encrypt_block))
				return nvme_cqe_status(NVME_SC_INTERNAL, false);
		}
	}
	for (unsigned i = 0; i < d->nr_sub; i++) {
		struct nvmf_req *r = &d->sub[i];

		*r = (struct nvmf_req){ .opc = io->opcode, .fua = io->fua, .slba = io->slba,
					.nlb = io->nlb, .done = sub_done, .priv = d };
		if (io->opcode == NVME_NVM_DSM) {
			r->slba = io->ranges[i].slba;
			r->nlb = io->ranges[i].nlb;
			r->fua = false;
		} else if (data) {
			r->iov = &d->bounce_iov;
			r->iovcnt = 1;
		}
	}
	return 0;
}

/* Start what queue slots allow; true once every sub-command is out. */
static bool dp_io_start(struct dp_io *d)
{
	struct dp_queue *q = dp_queue(d->dp, d->io->queue);

	while (d->started < d->nr_sub) {
		struct nvmf_req *r = &d->sub[d->started];
		int ret;

		/* An empty range deallocates nothing: nothing to send. */
		if (d->io->opcode == NVME_NVM_DSM && !r->nlb) {
			d->started++;
			continue;
		}
		ret = nvmf_submit(q->nq, r);
		if (ret == -EBUSY)
			return false;
		d->started++;
		if (ret) {
			cv_err_once("volume: queue %u: NVMe/TCP refused opcode %#x at lba %llu: %s",
				    d->io->queue, r->opc,
				    (unsigned long long)r->slba, strerror(-ret));
			if (!d->status)
				d->status = nvme_cqe_status(NVME_SC_INTERNAL, false);
			continue;
		}
		d->pending++;
	}
	return true;
}

/*
 * QoS admission, encryption and start.  Returns true when @d needs nothing
 * more from the wait list (fully started, or completed on an error);
 * false with *wait_ns set when tokens are short, or 0 when queue slots are.
 */
static bool dp_io_advance(struct dp_io *d, uint64_t *wait_ns)
{
	struct ebs_datapath *dp = d->dp;

	*wait_ns = 0;
	if (!d->admitted) {
		*wait_ns = qos_admit(&dp->qos, now_ns(), d->bytes);
		if (*wait_ns) {
			dp->stats.qos_waits += !d->qos_waited;
			d->qos_waited = true;
			return false;
		}
		d->admitted = true;
		d->status = dp_io_prepare(d);
		if (d->status)
			d->started = d->nr_sub;
	}
	if (!dp_io_start(d))
		return false;
	if (!d->pending)
		dp_io_complete(d);
	return true;
}

static void timer_arm(struct ebs_datapath *dp, uint64_t ns)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ns / 1000000000ull, .tv_nsec = ns % 1000000000ull },
	};

	if (dp->timer_armed)
		return;
	if (!timerfd_settime(dp->timer_fd, 0, &its, NULL))
		dp->timer_armed = true;
}

/*
 * Move the wait list forward in order.  QoS is FIFO: the first I/O short of
 * tokens stops the walk.  An I/O only short of a queue slot stays and the
 * walk goes on, so one full queue does not hold up the others.
 */
static void drain(struct ebs_datapath *dp)
{
	struct dp_io **pp;
	uint64_t wait;

	/*
	 * Completing an I/O may make the controller submit more, which comes
	 * back here: let the outer walk redo the list instead of nesting.
	 */
	if (dp->draining) {
		dp->redrain = true;
		return;
	}
	dp->draining = true;
	do {
		dp->redrain = false;
		pp = &dp->wait_head;
		while (*pp) {
			struct dp_io *d = *pp;

			/* Unlink first: advancing may complete and free it. */
			*pp = d->next;
			if (!*pp)
				dp->wait_tail = pp;
			if (dp_io_advance(d, &wait))
				continue;
			d->next = *pp;
			*pp = d;
			if (!d->next)
				dp->wait_tail = &d->next;
			if (wait) {
				timer_arm(dp, wait);
				break;
			}
			pp = &d->next;
		}
	} while (dp->redrain);
	dp->draining = false;
}

int ebs_datapath_submit(struct ebs_datapath *dp, struct ebs_io *io)
{
	unsigned nr_sub = io->opcode == NVME_NVM_DSM ? io->nr_ranges : 1;
	struct dp_io *d;

	if (!dp_queue(dp, io->queue))
		return -EINVAL;
	d = calloc(1, sizeof(*d) + nr_sub * sizeof(d->sub[0]));
	if (!d)
		return -ENOMEM;
	d->dp = dp;
	d->io = io;
	d->nr_sub = nr_sub;
	if (io->opcode == NVME_NVM_READ || io->opcode == NVME_NVM_WRITE)
		d->bytes = io->nlb * LBA_SIZE;
	dp->stats.submitted++;
	/* Behind whatever already waits: QoS is first come, first served. */
	*dp->wait_tail = d;
	dp->wait_tail = &d->next;
	drain(dp);
	return 0;
}

/*
 * Create I/O SQ for a queue the association does not carry fails: the
 * controller offers exactly as many I/O queues as there are NVMe/TCP ones.
 */
int ebs_datapath_ioq_create(struct ebs_datapath *dp, uint16_t qid)
{
	if (dp_queue(dp, qid))
		return 0;
	cv_err("volume: I/O queue %u has no NVMe/TCP queue (%u connected)", qid,
	       dp->nr_queues);
	return -ENOSPC;
}

int ebs_datapath_timer_fd(const struct ebs_datapath *dp)
{
	return dp->timer_fd;
}

void ebs_datapath_timer(struct ebs_datapath *dp)
{
	uint64_t expirations;

	if (read(dp->timer_fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return;
	dp->timer_armed = false;
	drain(dp);
}

void ebs_datapath_flush(struct ebs_datapath *dp)
{
	for (unsigned i = 0; i < dp->nr_queues; i++)
		nvmf_queue_kick(dp->q[i].nq);
}

void ebs_datapath_stats(const struct ebs_datapath *dp, struct ebs_datapath_stats *s)
{
	*s = dp->stats;
}
