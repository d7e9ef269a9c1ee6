/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's NVMe controller core: see nvme_ctrl.h for its contract and
 * docs/nvme-controller.md for the choices.  This file is the controller's
 * registers, queues, I/O commands, completions, events, doorbells and
 * reset; the admin command set is nvme_admin.c.  Section names are NVMe
 * Base 2.0 ("Base") and NVM Command Set 1.0 ("NVM").
 */
#include "cards/ebs/nvme_ctrl.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cards/ebs/nvme_ctrl_internal.h"
#include "cards/ebs/nvme_prp.h"
#include "guest-abi/pci_ids.h"
#include "tools/lib/log.h"

static void sq_process(struct nvme_ctrl *c, struct nvme_sq *sq);
static void req_post(struct nvme_ctrl *c, struct nvme_req *req);

/* ---------------------------------------------------------------- helpers */

bool nvme_ctrl_queue_valid_qid(const struct nvme_ctrl *c, unsigned qid)
{
	return qid <= c->p.max_ioqs;
}

static void fatal(struct nvme_ctrl *c)
{
	c->csts |= NVME_CSTS_CFS;
}

static bool fetch_ok(const struct nvme_ctrl *c)
{
	return (c->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS | NVME_CSTS_SHST_MASK)) ==
	       NVME_CSTS_RDY && !c->resetting;
}

static void ctrl_enter(struct nvme_ctrl *c)
{
	c->depth++;
}

/* Leaving the outermost entry point: run the admin queue if it may fetch. */
static void ctrl_leave(struct nvme_ctrl *c)
{
	while (c->depth == 1 && c->admin_pending) {
		c->admin_pending = false;
		if (c->sq[0])
			sq_process(c, c->sq[0]);
	}
	c->depth--;
}


/* ------------------------------------------------------------ shadow doorbells */

/*
 * Base 2.0, "Doorbell Buffer Config command": the shadow doorbell and the
 * EventIdx of doorbell @db sit at @db * 4 (CAP.DSTRD = 0) in their pages.
 */
uint32_t *nvme_ctrl_dbbuf_slot(struct nvme_ctrl *c, uint64_t page, unsigned db)
{
	return c->ops.dma_ptr(c->opaque, page + db * 4ull, 4);
}

void nvme_ctrl_dbbuf_set_eventidx(struct nvme_ctrl *c, unsigned db, uint16_t v)
{
	uint32_t *ei = nvme_ctrl_dbbuf_slot(c, c->dbbuf_eis, db);

	if (ei)
		__atomic_store_n(ei, v, __ATOMIC_RELEASE);
}

static bool dbbuf_read(struct nvme_ctrl *c, unsigned db, uint32_t *v)
{
	uint32_t *s = nvme_ctrl_dbbuf_slot(c, c->dbbuf_dbs, db);

	if (!s)
		return false;
	*v = __atomic_load_n(s, __ATOMIC_ACQUIRE);
	return true;
}

/* ------------------------------------------------------- asynchronous events */

static void error_log_add(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid,
			  uint16_t status, uint32_t nsid)
{
	struct nvme_error_log *e = &c->errlog[c->stats.errors % (ELPE + 1)];

	*e = (struct nvme_error_log){
		.error_count = ++c->stats.errors,
		.sqid = sqid,
		.cid = cid,
		.status = status,
		.param_error_location = 0xffff,
		.nsid = nsid,
	};
}

void nvme_ctrl_req_done(struct nvme_ctrl *c, struct nvme_req *req,
			uint16_t status, uint32_t dw0)
{
	req->cqe.dw0 = dw0;
	req->cqe.dw1 = 0;
	req->cqe.status = status;
	req_post(c, req);
}

void nvme_ctrl_aen_dispatch(struct nvme_ctrl *c)
{
	while (c->nr_aer && c->nr_aen) {
		struct nvme_req *req = c->aer[--c->nr_aer];
		uint32_t dw0 = c->aen[0];

		memmove(c->aen, c->aen + 1, --c->nr_aen * sizeof(c->aen[0]));
		/* Base, "Asynchronous Event Request": one report per type until
		 * the host reads the log page the event names (RAE clear). */
		c->aen_masked |= 1u << (dw0 & 7);
		nvme_ctrl_req_done(c, req, 0, dw0);
	}
}

static void aen_raise(struct nvme_ctrl *c, enum nvme_aer_type type,
		      uint8_t info, uint8_t lid)
{
	if ((c->aen_masked & (1u << type)) || c->nr_aen == AEN_QUEUE)
		return;
	for (unsigned i = 0; i < c->nr_aen; i++)
		if ((c->aen[i] & 7) == type)
			return;
	c->aen[c->nr_aen++] = NVME_AER_DW0(type, info, lid);
	nvme_ctrl_aen_dispatch(c);
}

/*
 * Base 2.0, "Asynchronous Event Information - Error Status": a bad doorbell
 * write is ignored and reported as an error event with its log entry.
 */
static void doorbell_error(struct nvme_ctrl *c, unsigned db, uint8_t info)
{
	error_log_add(c, (uint16_t)(db / 2), 0xffff, 0, 0);
	aen_raise(c, NVME_AER_TYPE_ERROR, info, NVME_LOG_ERROR);
}

void nvme_ctrl_temperature_check(struct nvme_ctrl *c)
{
	bool hot = TEMP_KELVIN > c->feat.temp_over ||
		   TEMP_KELVIN < c->feat.temp_under;

	if (hot && !(c->critical_warning & NVME_SMART_CRIT_TEMPERATURE) &&
	    (c->feat.aec & NVME_SMART_CRIT_TEMPERATURE))
		aen_raise(c, NVME_AER_TYPE_SMART, NVME_AER_INFO_SMART_TEMPERATURE,
			  NVME_LOG_SMART);
	c->critical_warning = hot ? NVME_SMART_CRIT_TEMPERATURE : 0;
}

/* ------------------------------------------------------------- completion */

static unsigned cq_used(const struct nvme_cq *cq)
{
	return (unsigned)(cq->tail + cq->size - cq->head) % cq->size;
}

static unsigned sq_pending(const struct nvme_sq *sq, uint16_t tail)
{
	return (unsigned)(tail + sq->size - sq->head) % sq->size;
}

/*
 * Base 2.0, "Completion Queue Head Doorbell": the new head may only pass
 * entries the controller posted.  False (and the write ignored) otherwise.
 */
static bool cq_set_head(struct nvme_ctrl *c, struct nvme_cq *cq, uint32_t v)
{
	if (v >= cq->size ||
	    (v + cq->size - cq->head) % cq->size > cq_used(cq)) {
		cv_err_once("nvme %s: CQ %u head doorbell %u invalid (size %u head %u tail %u)",
			    c->p.volume_id, cq->qid, v, cq->size, cq->head, cq->tail);
		doorbell_error(c, 2u * cq->qid + 1, NVME_AER_INFO_ERR_INVALID_DB_VALUE);
		return false;
	}
	cq->head = (uint16_t)v;
	return true;
}

/* SQ tail: inside the queue, and never retracting unfetched entries. */
static bool sq_set_tail(struct nvme_ctrl *c, struct nvme_sq *sq, uint32_t v)
{
	if (v >= sq->size || sq_pending(sq, (uint16_t)v) < sq_pending(sq, sq->tail)) {
		cv_err_once("nvme %s: SQ %u tail doorbell %u invalid (size %u head %u tail %u)",
			    c->p.volume_id, sq->qid, v, sq->size, sq->head, sq->tail);
		doorbell_error(c, 2u * sq->qid, NVME_AER_INFO_ERR_INVALID_DB_VALUE);
		return false;
	}
	sq->tail = (uint16_t)v;
	return true;
}

/*
 * Whether @cq has no room for another entry (one slot always stays empty:
 * Base, "Full Queue").  With shadow doorbells the host may have consumed
 * entries without ringing, so look at its shadow head, and when still full
 * set EventIdx there so that its next head update rings the doorbell.
 */
static bool cq_full(struct nvme_ctrl *c, struct nvme_cq *cq)
{
	unsigned db = 2u * cq->qid + 1;
	uint32_t v;

	if (cq->ovf)
		return true;
	if (cq_used(cq) < cq->size - 1u)
		return false;
	if (!c->dbbuf || !cq->qid || !dbbuf_read(c, db, &v) || v == cq->head)
		goto arm;
	if (!cq_set_head(c, cq, v))
		return true;
	if (cq_used(cq) < cq->size - 1u)
		return false;
arm:
	if (c->dbbuf && cq->qid) {
		nvme_ctrl_dbbuf_set_eventidx(c, db, cq->head);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (dbbuf_read(c, db, &v) && v != cq->head && cq_set_head(c, cq, v))
			return cq_used(cq) >= cq->size - 1u;
	}
	return true;
}

static void cq_signal(struct nvme_ctrl *c, struct nvme_cq *cq)
{
	uint32_t ic = c->feat.irq_coalesce;

	if (!cq->ien)
		return;
	/* Base, "Interrupt Coalescing": not for the admin CQ; TIME 0 is no delay. */
	if (cq->qid && NVME_IRQC_TIME(ic) && !c->irq_cd[cq->vector] &&
	    ++cq->held <= NVME_IRQC_THR(ic))
		return;
	cq->held = 0;
	c->ops.irq(c->opaque, cq->vector);
}

/*
 * @sq may fetch again (a request or CQ room came free).  Admin commands
 * delete queues, so they never run nested inside I/O queue work whose
 * frames still hold queue pointers: the admin queue is resumed by the
 * outermost entry point instead (ctrl_leave()).
 */
static void sq_resume(struct nvme_ctrl *c, struct nvme_sq *sq)
{
	if (sq->qid)
		sq_process(c, sq);
	else
		c->admin_pending = true;
}

void nvme_ctrl_sq_free(struct nvme_ctrl *c, struct nvme_sq *sq)
{
	struct nvme_req *del = sq->delete_req;

	if (c->sq[sq->qid] == sq) {
		c->sq[sq->qid] = NULL;
	} else {
		for (struct nvme_sq **z = &c->zombies; *z; z = &(*z)->zombie_next)
			if (*z == sq) {
				*z = sq->zombie_next;
				break;
			}
	}
	if (sq->qid && c->ops.ioq_delete)
		c->ops.ioq_delete(c->opaque, sq->qid);
	free(sq->reqs);
	free(sq->iov);
	free(sq);
	if (del)
		nvme_ctrl_req_done(c, del, 0, 0);
}

void nvme_ctrl_req_release(struct nvme_ctrl *c, struct nvme_req *req)
{
	struct nvme_sq *sq = req->sq;

	free(req->io.ranges);
	req->io.ranges = NULL;
	req->next = sq->free;
	sq->free = req;
	sq->busy_reqs--;
	if (sq->deleted) {
		if (!sq->busy_reqs)
			nvme_ctrl_sq_free(c, sq);
	} else {
		sq_resume(c, sq);
	}
}

/* Write the CQE; the status word (with the phase tag) lands last. */
static void cqe_write(struct nvme_ctrl *c, struct nvme_cq *cq, struct nvme_req *req)
{
	struct nvme_cqe cqe = req->cqe;
	uint64_t gpa = cq->base + (uint64_t)cq->tail * CQE_SIZE;
	uint8_t *p = c->ops.dma_ptr(c->opaque, gpa, CQE_SIZE);

	cqe.sqhd = req->sq->head;
	cqe.sqid = req->sq->qid;
	cqe.status = (uint16_t)(cqe.status | (cq->phase ? NVME_STATUS_P : 0));
	if (!p) {
		cv_err_once("nvme %s: CQ %u entry at 0x%llx left guest RAM",
			    c->p.volume_id, cq->qid, (unsigned long long)gpa);
		fatal(c);
	} else {
		memcpy(p, &cqe, offsetof(struct nvme_cqe, status));
		__atomic_store_n((uint16_t *)(p + offsetof(struct nvme_cqe, status)),
				 cqe.status, __ATOMIC_RELEASE);
		if (++cq->tail == cq->size) {
			cq->tail = 0;
			cq->phase = !cq->phase;
		}
	}
	nvme_ctrl_req_release(c, req);
	if (p)
		cq_signal(c, cq);
}

static void req_post(struct nvme_ctrl *c, struct nvme_req *req)
{
	struct nvme_sq *sq = req->sq;
	struct nvme_cq *cq;

	if (sq->deleted) {
		nvme_ctrl_req_release(c, req);
		return;
	}
	if (req->cqe.status)
		error_log_add(c, sq->qid, req->cqe.cid, req->cqe.status, sq->qid ? 1 : 0);
	cq = sq->cq;
	if (cq_full(c, cq)) {
		req->next = NULL;
		*cq->ovf_tail = req;
		cq->ovf_tail = &req->next;
		return;
	}
	cqe_write(c, cq, req);
}

/* Room appeared in @cq: post what waited, then fetch again. */
static void cq_drain(struct nvme_ctrl *c, struct nvme_cq *cq)
{
	while (cq->ovf && cq_used(cq) < cq->size - 1u) {
		struct nvme_req *req = cq->ovf;

		cq->ovf = req->next;
		if (!cq->ovf)
			cq->ovf_tail = &cq->ovf;
		cqe_write(c, cq, req);
	}
	for (unsigned q = 0; q <= c->p.max_ioqs; q++)
		if (c->sq[q] && c->sq[q]->cq == cq)
			sq_resume(c, c->sq[q]);
}

static void cq_drop_sq(struct nvme_cq *cq, struct nvme_sq *sq, struct nvme_req **out)
{
	struct nvme_req **r = &cq->ovf;

	cq->ovf_tail = &cq->ovf;
	while (*r) {
		struct nvme_req *req = *r;

		if (req->sq == sq) {
			*r = req->next;
			req->next = *out;
			*out = req;
		} else {
			cq->ovf_tail = &req->next;
			r = &req->next;
		}
	}
}

/* ---------------------------------------------------------------- queues */

struct nvme_cq *nvme_ctrl_cq_new(struct nvme_ctrl *c, uint16_t qid, uint16_t size,
				 uint64_t base, bool ien, uint16_t vector)
{
	struct nvme_cq *cq = calloc(1, sizeof(*cq));

	if (!cq)
		return NULL;
	*cq = (struct nvme_cq){ .qid = qid, .size = size, .base = base,
				.phase = true, .ien = ien, .vector = vector };
	cq->ovf_tail = &cq->ovf;
	c->cq[qid] = cq;
	c->db_lost[2u * qid + 1] = false;
	if (c->dbbuf && qid)
		nvme_ctrl_dbbuf_set_eventidx(c, 2u * qid + 1, 0);
	return cq;
}

struct nvme_sq *nvme_ctrl_sq_new(struct nvme_ctrl *c, uint16_t qid, uint16_t size,
				 uint64_t base, struct nvme_cq *cq)
{
	struct nvme_sq *sq = calloc(1, sizeof(*sq));

	if (!sq)
		return NULL;
	*sq = (struct nvme_sq){ .qid = qid, .size = size, .base = base, .cq = cq };
	sq->reqs = calloc(size, sizeof(*sq->reqs));
	sq->iov = calloc((size_t)size * c->max_iov, sizeof(*sq->iov));
	if (!sq->reqs || !sq->iov) {
		free(sq->reqs);
		free(sq->iov);
		free(sq);
		return NULL;
	}
	for (unsigned i = size; i--;) {
		sq->reqs[i].sq = sq;
		sq->reqs[i].io.iov = sq->iov + (size_t)i * c->max_iov;
		sq->reqs[i].next = sq->free;
		sq->free = &sq->reqs[i];
	}
	cq->nr_sqs++;
	c->sq[qid] = sq;
	c->db_lost[2u * qid] = false;
	if (c->dbbuf && qid)
		nvme_ctrl_dbbuf_set_eventidx(c, 2u * qid, 0);
	return sq;
}

/*
 * Mark @sq deleted: completions of its commands are dropped from now on,
 * those waiting in its CQ too (collected in *@drop for the caller to
 * release once the queue tables are consistent).
 */
void nvme_ctrl_sq_kill(struct nvme_sq *sq, struct nvme_req **drop)
{
	sq->deleted = true;
	if (sq->cq) {
		cq_drop_sq(sq->cq, sq, drop);
		sq->cq->nr_sqs--;
		sq->cq = NULL;
	}
}

void nvme_ctrl_release_all(struct nvme_ctrl *c, struct nvme_req *list)
{
	while (list) {
		struct nvme_req *next = list->next;

		nvme_ctrl_req_release(c, list);
		list = next;
	}
}

/* ---------------------------------------------------------------- I/O */

static uint16_t io_lba_check(const struct nvme_ctrl *c, uint64_t slba, uint64_t nlb)
{
	return slba > c->p.nsze || nlb > c->p.nsze - slba ? NVME_SC_LBA_RANGE
							  : NVME_SC_SUCCESS;
}

static uint16_t io_dsm(struct nvme_ctrl *c, struct nvme_req *req,
		       const struct nvme_sqe *sqe)
{
	struct nvme_io *io = &req->io;
	unsigned nr = NVME_DSM_NR(sqe->cdw10);
	uint16_t sc;

	/* Attributes without Deallocate are hints only: nothing to do. */
	if (!(sqe->cdw11 & NVME_DSM_AD))
		return SC_NO_IO;
	sc = nvme_dptr_map(&c->dma, sqe, true, nr * sizeof(*io->ranges), io->iov,
			   c->max_iov, &io->iovcnt);
	if (sc)
		return sc;
	io->ranges = malloc(nr * sizeof(*io->ranges));
	if (!io->ranges)
		return NVME_SC_INTERNAL;
	nvme_iov_to_buf(io->iov, io->iovcnt, io->ranges, nr * sizeof(*io->ranges));
	io->iovcnt = 0;
	io->nr_ranges = nr;
	for (unsigned i = 0; i < nr; i++)
		if (io_lba_check(c, io->ranges[i].slba, io->ranges[i].nlb))
			return NVME_SC_LBA_RANGE;
	return NVME_SC_SUCCESS;
}

static uint16_t io_prepare(struct nvme_ctrl *c, struct nvme_req *req,
			   const struct nvme_sqe *sqe)
{
	struct nvme_io *io = &req->io;
	uint64_t bytes;
	uint16_t sc;

	if (sqe->flags & NVME_SQE_FUSE_MASK)
		return NVME_SC_INVALID_FIELD;
	switch (sqe->opc) {
	case NVME_NVM_FLUSH:
		/* VWC bits 2:1 = 11b: FFFFFFFFh flushes every namespace. */
		return sqe->nsid == 1 || sqe->nsid == NVME_NSID_BROADCAST ? NVME_SC_SUCCESS
								 : NVME_SC_INVALID_NS;
	case NVME_NVM_DSM:
	case NVME_NVM_READ:
	case NVME_NVM_WRITE:
	case NVME_NVM_WRITE_ZEROES:
		if (sqe->nsid != 1)
			return NVME_SC_INVALID_NS;
		break;
	default:
		return NVME_SC_INVALID_OPCODE;
	}
	if (sqe->opc == NVME_NVM_DSM)
		return io_dsm(c, req, sqe);
	io->slba = (uint64_t)sqe->cdw11 << 32 | sqe->cdw10;
	io->nlb = (sqe->cdw12 & NVME_RW_NLB_MASK) + 1;
	/* With the write cache off every write is durable before completion. */
	io->fua = (sqe->cdw12 & NVME_RW_FUA) ||
		  (sqe->opc != NVME_NVM_READ && !c->feat.vwc);
	sc = io_lba_check(c, io->slba, io->nlb);
	if (sc || sqe->opc == NVME_NVM_WRITE_ZEROES)
		return sc;
	bytes = (uint64_t)io->nlb << NVME_CTRL_LBA_SHIFT;
	if (bytes > mdts_bytes(c))
		return NVME_SC_INVALID_FIELD;
	return nvme_dptr_map(&c->dma, sqe, true, bytes, io->iov, c->max_iov,
			     &io->iovcnt);
}

static void io_cmd(struct nvme_ctrl *c, struct nvme_req *req,
		   const struct nvme_sqe *sqe)
{
	struct nvme_io *io = &req->io;
	uint16_t sc;

	*io = (struct nvme_io){ .sqid = req->sq->qid, .cid = sqe->cid,
				.opcode = sqe->opc, .iov = io->iov };
	sc = io_prepare(c, req, sqe);
	if (sc == SC_NO_IO) {
		nvme_ctrl_req_done(c, req, 0, 0);
		return;
	}
	if (sc) {
		cv_err_once("nvme %s: SQ %u opcode 0x%02x cid %u slba %llu failed, status 0x%03x",
			    c->p.volume_id, req->sq->qid, sqe->opc, sqe->cid,
			    (unsigned long long)io->slba, sc);
		nvme_ctrl_req_done(c, req, nvme_cqe_status(sc, true), 0);
		return;
	}
	c->backend_ios++;
	if (c->ops.io_submit(c->opaque, io) < 0) {
		c->backend_ios--;
		nvme_ctrl_req_done(c, req, nvme_cqe_status(NVME_SC_INTERNAL, false), 0);
	}
}

/* Fetch and start commands while the queue, its CQ and the controller allow. */
static void sq_process(struct nvme_ctrl *c, struct nvme_sq *sq)
{
	if (sq->busy) {
		sq->again = true;
		return;
	}
	sq->busy = true;
	do {
		sq->again = false;
		while (fetch_ok(c) && !sq->deleted && sq->head != sq->tail &&
		       sq->free && !cq_full(c, sq->cq)) {
			uint64_t gpa = sq->base + (uint64_t)sq->head * SQE_SIZE;
			const void *p = c->ops.dma_ptr(c->opaque, gpa, SQE_SIZE);
			struct nvme_req *req = sq->free;
			struct nvme_sqe sqe;

			if (!p) {
				cv_err_once("nvme %s: SQ %u entry at 0x%llx left guest RAM",
					    c->p.volume_id, sq->qid, (unsigned long long)gpa);
				fatal(c);
				break;
			}
			memcpy(&sqe, p, sizeof(sqe));
			sq->head = (uint16_t)((sq->head + 1) % sq->size);
			sq->free = req->next;
			sq->busy_reqs++;
			req->cqe = (struct nvme_cqe){ .cid = sqe.cid };
			if (sq->qid)
				io_cmd(c, req, &sqe);
			else
				nvme_admin_cmd(c, req, &sqe);
		}
	} while (sq->again);
	sq->busy = false;
}

/* ------------------------------------------------------ reset and shutdown */

static void shutdown_progress(struct nvme_ctrl *c)
{
	if ((c->csts & NVME_CSTS_SHST_MASK) != NVME_CSTS_SHST_OCCURRING ||
	    c->resetting || c->backend_ios)
		return;
	/* Base, "Shutdown": make the volatile write cache durable first. */
	if (c->feat.vwc && !c->shutdown_flushed) {
		c->shutdown_flushed = true;
		/*
		 * On I/O queue 1, which every controller has: the host has
		 * usually deleted its queues by now, but the backend carries
		 * I/O on I/O queues only (NVMe/TCP queue y for NVMe queue y).
		 */
		c->flush_req.io = (struct nvme_io){ .opcode = NVME_NVM_FLUSH, .sqid = 1 };
		c->backend_ios++;
		if (c->ops.io_submit(c->opaque, &c->flush_req.io) == 0)
			return;
		c->backend_ios--;
		cv_err("nvme %s: shutdown flush could not be submitted", c->p.volume_id);
	}
	c->csts = (c->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_COMPLETE;
}

static void features_reset(struct nvme_ctrl *c)
{
	c->feat = c->feat_default;
	memset(c->irq_cd, 0, c->p.nr_vectors * sizeof(*c->irq_cd));
}

static void reset_progress(struct nvme_ctrl *c);

static bool ctrl_enable(struct nvme_ctrl *c)
{
	uint32_t asqs = NVME_AQA_ASQS(c->aqa) + 1, acqs = NVME_AQA_ACQS(c->aqa) + 1;
	struct nvme_cq *cq;

	if (NVME_CC_CSS(c->cc) != NVME_CC_CSS_NVM || NVME_CC_MPS(c->cc) != 0 ||
	    NVME_CC_AMS(c->cc) != 0 || asqs < 2 || acqs < 2 ||
	    !c->ops.dma_ptr(c->opaque, c->asq, (uint64_t)asqs * SQE_SIZE) ||
	    !c->ops.dma_ptr(c->opaque, c->acq, (uint64_t)acqs * CQE_SIZE)) {
		cv_err_once("nvme %s: enable refused: CC 0x%08x AQA 0x%08x ASQ 0x%llx ACQ 0x%llx",
			    c->p.volume_id, c->cc, c->aqa, (unsigned long long)c->asq,
			    (unsigned long long)c->acq);
		return false;
	}
	cq = nvme_ctrl_cq_new(c, 0, (uint16_t)acqs, c->acq, true, 0);
	if (!cq)
		return false;
	if (!nvme_ctrl_sq_new(c, 0, (uint16_t)asqs, c->asq, cq)) {
		c->cq[0] = NULL;
		free(cq);
		return false;
	}
	c->csts = NVME_CSTS_RDY;
	return true;
}

/*
 * Base, "Controller Reset": every queue is deleted, outstanding commands are
 * not completed, features return to defaults.  I/O the backend still holds
 * is waited for (its completions dropped) before CSTS.RDY clears, so no
 * completion can land in memory the host reuses after the reset.
 */
static void ctrl_reset(struct nvme_ctrl *c)
{
	struct nvme_req *drop = NULL;
	struct nvme_sq *killed = NULL;

	c->resetting = true;
	for (unsigned q = 0; q <= c->p.max_ioqs; q++) {
		struct nvme_sq *sq = c->sq[q];

		if (!sq)
			continue;
		c->sq[q] = NULL;
		nvme_ctrl_sq_kill(sq, &drop);
		sq->busy_reqs++;      /* freed below, not while releasing */
		sq->zombie_next = killed;
		killed = sq;
		if (sq->delete_req) {
			sq->delete_req->next = drop;
			drop = sq->delete_req;
			sq->delete_req = NULL;
		}
	}
	while (c->nr_aer) {
		struct nvme_req *req = c->aer[--c->nr_aer];

		req->next = drop;
		drop = req;
	}
	for (unsigned q = 0; q <= c->p.max_ioqs; q++) {
		free(c->cq[q]);
		c->cq[q] = NULL;
	}
	nvme_ctrl_release_all(c, drop);
	for (struct nvme_sq *sq = killed, *next; sq; sq = next) {
		next = sq->zombie_next;
		if (!--sq->busy_reqs) {
			nvme_ctrl_sq_free(c, sq);
		} else {
			sq->zombie_next = c->zombies;
			c->zombies = sq;
		}
	}
	c->nr_aen = 0;
	c->aen_masked = 0;
	c->dbbuf = false;
	memset(c->db_lost, 0, 2u * (c->p.max_ioqs + 1u) * sizeof(*c->db_lost));
	c->shutdown_flushed = false;
	features_reset(c);
	nvme_ctrl_temperature_check(c);
	reset_progress(c);
}

static void reset_progress(struct nvme_ctrl *c)
{
	if (!c->resetting || c->backend_ios)
		return;
	c->resetting = false;
	c->csts = 0;
	if ((c->cc & NVME_CC_EN) && !ctrl_enable(c))
		fatal(c);
}

static void cc_write(struct nvme_ctrl *c, uint32_t v)
{
	uint32_t old = c->cc;

	c->cc = v & CC_WRITABLE;
	if ((old & NVME_CC_EN) && !(c->cc & NVME_CC_EN)) {
		ctrl_reset(c);
		return;
	}
	if (!(old & NVME_CC_EN) && (c->cc & NVME_CC_EN)) {
		/* While a reset drains, reset_progress() enables when done. */
		if (!c->resetting && !(c->csts & NVME_CSTS_RDY) && !ctrl_enable(c))
			fatal(c);
		return;
	}
	if ((c->cc & NVME_CC_EN) && NVME_CC_SHN(c->cc) != NVME_CC_SHN_NONE &&
	    NVME_CC_SHN(old) == NVME_CC_SHN_NONE && (c->csts & NVME_CSTS_RDY)) {
		c->csts |= NVME_CSTS_SHST_OCCURRING;
		shutdown_progress(c);
	}
}

/* --------------------------------------------------------------- registers */

static uint32_t reg_read(const struct nvme_ctrl *c, uint64_t off)
{
	switch (off) {
	case NVME_REG_CAP:      return (uint32_t)c->cap;
	case NVME_REG_CAP + 4:  return (uint32_t)(c->cap >> 32);
	case NVME_REG_VS:       return VERSION;
	case NVME_REG_CC:       return c->cc;
	case NVME_REG_CSTS:     return c->csts;
	case NVME_REG_AQA:      return c->aqa;
	case NVME_REG_ASQ:      return (uint32_t)c->asq;
	case NVME_REG_ASQ + 4:  return (uint32_t)(c->asq >> 32);
	case NVME_REG_ACQ:      return (uint32_t)c->acq;
	case NVME_REG_ACQ + 4:  return (uint32_t)(c->acq >> 32);
	default:                return 0; /* INTMS/INTMC with MSI-X, NSSR, reserved */
	}
}

static void reg_write(struct nvme_ctrl *c, uint64_t off, uint32_t v)
{
	uint64_t lo = 0xffffffffull;

	switch (off) {
	case NVME_REG_CC:
		cc_write(c, v);
		break;
	case NVME_REG_AQA:
		c->aqa = v & NVME_AQA_VALID;
		break;
	case NVME_REG_ASQ:
		c->asq = (c->asq & ~lo) | (v & ~0xfffu);
		break;
	case NVME_REG_ASQ + 4:
		c->asq = (c->asq & lo) | (uint64_t)v << 32;
		break;
	case NVME_REG_ACQ:
		c->acq = (c->acq & ~lo) | (v & ~0xfffu);
		break;
	case NVME_REG_ACQ + 4:
		c->acq = (c->acq & lo) | (uint64_t)v << 32;
		break;
	default:
		/* CAP and VS are read-only; INTMS/INTMC unused with MSI-X;
		 * NSSR not supported (CAP.NSSRS 0); CSTS.NSSRO never set. */
		break;
	}
}

/* The queue doorbell @db belongs to (2y: SQ y, 2y + 1: CQ y), if any. */
bool nvme_ctrl_db_queue(const struct nvme_ctrl *c, unsigned db, struct nvme_sq **sq,
			struct nvme_cq **cq)
{
	unsigned qid = db / 2;

	*sq = NULL;
	*cq = NULL;
	if (nvme_ctrl_queue_valid_qid(c, qid)) {
		if (db & 1)
			*cq = c->cq[qid];
		else
			*sq = c->sq[qid];
	}
	return *sq || *cq;
}

/* As nvme_ctrl_db_queue(), but a doorbell without a queue is an error event. */
static bool doorbell_queue(struct nvme_ctrl *c, unsigned db,
			   struct nvme_sq **sq, struct nvme_cq **cq)
{
	if (nvme_ctrl_db_queue(c, db, sq, cq))
		return true;
	cv_err_once("nvme %s: doorbell %u (%s %u) written but that queue does not exist",
		    c->p.volume_id, db, db & 1 ? "CQ" : "SQ", db / 2);
	doorbell_error(c, db, NVME_AER_INFO_ERR_INVALID_DB);
	return false;
}

/*
 * Act on doorbell @db's new value @v.  With shadow doorbells, publish
 * EventIdx = the value seen, so the host rings (MMIO or ioeventfd) for
 * anything newer: Linux rings only when its update crosses EventIdx.
 */
static void doorbell_apply(struct nvme_ctrl *c, unsigned db, struct nvme_sq *sq,
			   struct nvme_cq *cq, uint32_t v)
{
	if (cq) {
		if (cq_set_head(c, cq, v))
			cq_drain(c, cq);
	} else if (sq_set_tail(c, sq, v)) {
		sq_process(c, sq);
	}
	if (c->dbbuf && db >= 2) {
		uint32_t ev = sq ? sq->tail : cq->head;

		/*
		 * A CQ head matters only once the CQ is full, and cq_full() then
		 * reads the shadow and arms EventIdx itself.  Until then EventIdx
		 * stays one behind the head, where no head update crosses it
		 * (Linux's nvme_dbbuf_need_event()): completions cost no exit.
		 */
		if (cq && !cq->ovf)
			ev = (cq->head + cq->size - 1u) % cq->size;
		nvme_ctrl_dbbuf_set_eventidx(c, db, ev);
	}
}

static void doorbell_write(struct nvme_ctrl *c, unsigned db, uint32_t v)
{
	struct nvme_sq *sq;
	struct nvme_cq *cq;

	if (doorbell_queue(c, db, &sq, &cq))
		doorbell_apply(c, db, sq, cq, v);
}

/*
 * NVMe 1.3 Doorbell Buffer Config: read the shadow, act and publish
 * EventIdx, then look again to catch a host update that raced with EventIdx
 * (it saw the old one and did not ring).  Bounded: a guest rewriting its
 * shadow forever waits for its next kick.
 */
void nvme_ctrl_doorbell_from_shadow(struct nvme_ctrl *c, unsigned db)
{
	struct nvme_sq *sq;
	struct nvme_cq *cq;
	uint32_t v, again;

	if (!nvme_ctrl_db_queue(c, db, &sq, &cq))
		return;
	c->db_lost[db] = false;
	for (int i = 0; i < 4 && dbbuf_read(c, db, &v); i++) {
		doorbell_apply(c, db, sq, cq, v);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!dbbuf_read(c, db, &again) || again == v)
			return;
	}
}

static void doorbell_kick(struct nvme_ctrl *c, unsigned db)
{
	struct nvme_sq *sq;
	struct nvme_cq *cq;

	if (!doorbell_queue(c, db, &sq, &cq))
		return;
	if (db < 2) {
		cv_err_once("nvme %s: admin doorbell %u kicked through an ioeventfd: its "
			    "value is lost (admin doorbells must stay trapped), controller "
			    "fatal", c->p.volume_id, db);
		fatal(c);
		return;
	}
	if (!c->dbbuf) {
		/*
		 * The value is unknowable until the host names its shadow
		 * doorbells.  The card hands its I/O doorbells over as
		 * ioeventfds only while it has them (cards/ebs/main.c,
		 * ioeventfds_ready), so this is a client that kept one bound
		 * across a reset: remember the kick and read the shadow if a
		 * buffer arrives.
		 */
		cv_err_once("nvme %s: doorbell %u (%s %u) rang through an ioeventfd before "
			    "Doorbell Buffer Config: held until the host sets one",
			    c->p.volume_id, db, db & 1 ? "CQ" : "SQ", db / 2);
		c->db_lost[db] = true;
		return;
	}
	nvme_ctrl_doorbell_from_shadow(c, db);
}

static void mmio(struct nvme_ctrl *c, uint64_t offset, void *data, uint32_t len,
		 bool is_write)
{
	uint32_t v[2] = { 0, 0 };

	if ((len != 4 && len != 8) || (offset & (len - 1)) ||
	    offset + len > nvme_ctrl_regs_size(c) ||
	    (offset >= NVME_REG_DBS && len != 4)) {
		cv_err_once("nvme %s: BAR0 %s of %u bytes at 0x%llx ignored",
			    c->p.volume_id, is_write ? "write" : "read", len,
			    (unsigned long long)offset);
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (!is_write) {
		for (uint32_t i = 0; i < len / 4; i++)
			v[i] = offset >= NVME_REG_DBS ? 0 : reg_read(c, offset + 4 * i);
		memcpy(data, v, len);
		return;
	}
	memcpy(v, data, len);
	if (offset >= NVME_REG_DBS) {
		doorbell_write(c, (unsigned)(offset - NVME_REG_DBS) / 4, v[0]);
		return;
	}
	for (uint32_t i = 0; i < len / 4; i++)
		reg_write(c, offset + 4 * i, v[i]);
}

void nvme_ctrl_doorbell_kick(struct nvme_ctrl *c, unsigned db)
{
	ctrl_enter(c);
	doorbell_kick(c, db);
	ctrl_leave(c);
}

void nvme_ctrl_mmio(struct nvme_ctrl *c, uint64_t offset, void *data,
		    uint32_t len, bool is_write)
{
	ctrl_enter(c);
	mmio(c, offset, data, len, is_write);
	ctrl_leave(c);
}

void nvme_ctrl_ioeventfd_range(const struct nvme_ctrl *c, uint64_t *offset,
			       uint64_t *len)
{
	*offset = NVME_REG_DBS + 2 * 4;
	*len = (uint64_t)c->p.max_ioqs * 2 * 4;
}

void nvme_ctrl_state_lost(struct nvme_ctrl *c)
{
	cv_info("nvme %s: replaces a controller that died: CSTS.CFS until the host resets it",
		c->p.volume_id);
	fatal(c);
}

bool nvme_ctrl_doorbells_shadowed(const struct nvme_ctrl *c)
{
	return c->dbbuf;
}

uint64_t nvme_ctrl_regs_size(const struct nvme_ctrl *c)
{
	return NVME_REG_DBS + ((uint64_t)c->p.max_ioqs + 1) * 2 * 4;
}

/* ------------------------------------------------------- backend completion */

static void io_complete(struct nvme_ctrl *c, struct nvme_io *io, uint16_t status)
{
	struct nvme_req *req = (struct nvme_req *)((char *)io - offsetof(struct nvme_req, io));
	struct nvme_sq *sq = req->sq;

	c->backend_ios--;
	if (sq) {
		if (!status && !sq->deleted) {
			uint64_t units = (uint64_t)io->nlb << (NVME_CTRL_LBA_SHIFT - 9);

			if (io->opcode == NVME_NVM_READ) {
				c->stats.read_cmds++;
				c->stats.read_units += units;
			} else if (io->opcode == NVME_NVM_WRITE) {
				c->stats.write_cmds++;
				c->stats.write_units += units;
			}
		}
		nvme_ctrl_req_done(c, req, status & ~NVME_STATUS_P, 0);
	}
	reset_progress(c);
	shutdown_progress(c);
}

void nvme_ctrl_io_complete(struct nvme_ctrl *c, struct nvme_io *io, uint16_t status)
{
	ctrl_enter(c);
	io_complete(c, io, status);
	ctrl_leave(c);
}

uint32_t nvme_ctrl_irq_hold_us(const struct nvme_ctrl *c)
{
	for (unsigned q = 1; q <= c->p.max_ioqs; q++)
		if (c->cq[q] && c->cq[q]->held)
			return NVME_IRQC_TIME(c->feat.irq_coalesce) * 100u;
	return 0;
}

void nvme_ctrl_irq_flush(struct nvme_ctrl *c)
{
	for (unsigned q = 1; q <= c->p.max_ioqs; q++) {
		struct nvme_cq *cq = c->cq[q];

		if (cq && cq->held) {
			cq->held = 0;
			c->ops.irq(c->opaque, cq->vector);
		}
	}
}

/* ------------------------------------------------------------- life cycle */

static int digest(const EVP_MD *md, const void *a, size_t alen, const void *b,
		  size_t blen, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		 EVP_DigestUpdate(ctx, a, alen) == 1 &&
		 EVP_DigestUpdate(ctx, b, blen) == 1 &&
		 EVP_DigestFinal_ex(ctx, out, NULL) == 1;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/*
 * Namespace identifiers from the volume id, stable across card restarts
 * and hosts: the UUID is a name-based version 5 UUID (RFC 4122, 4.3) in a
 * cardvisor namespace; the NGUID the first 16 bytes of SHA-256 of the id.
 */
static int derive_ids(struct nvme_ctrl *c)
{
	static const uint8_t ns_uuid[16] = { /* cardvisor EBS namespace UUID */
		0x6c, 0x1f, 0x0a, 0x52, 0x3e, 0x7d, 0x4b, 0x8e,
		0x9a, 0x35, 0xc2, 0x41, 0xe8, 0x0b, 0x77, 0x10 };
	uint8_t h[EVP_MAX_MD_SIZE];
	size_t n = strlen(c->p.volume_id);

	if (digest(EVP_sha1(), ns_uuid, sizeof(ns_uuid), c->p.volume_id, n, h))
		return -EIO;
	memcpy(c->uuid, h, 16);
	c->uuid[6] = (uint8_t)((c->uuid[6] & 0x0f) | 0x50);
	c->uuid[8] = (uint8_t)((c->uuid[8] & 0x3f) | 0x80);
	if (digest(EVP_sha256(), "cardvisor-ebs-nguid:", 20, c->p.volume_id, n, h))
		return -EIO;
	memcpy(c->nguid, h, 16);
	return 0;
}

int nvme_ctrl_create(struct nvme_ctrl **out, const struct nvme_ctrl_params *p,
		     const struct nvme_ctrl_ops *ops, void *opaque)
{
	struct nvme_ctrl *c;
	size_t nq;

	*out = NULL;
	if (!p->volume_id[0] || !memchr(p->volume_id, 0, sizeof(p->volume_id)) ||
	    !memchr(p->firmware, 0, sizeof(p->firmware)) || !p->nsze || !p->max_ioqs ||
	    p->max_ioqs > NVME_CTRL_MAX_IOQS || !p->nr_vectors ||
	    p->nr_vectors > 2048 || p->mqes < 1 || p->mqes == 0xffff ||
	    !p->mdts || p->mdts > 8 ||
	    !ops->dma_ptr || !ops->io_submit || !ops->irq)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	nq = (size_t)p->max_ioqs + 1;
	c->p = *p;
	c->ops = *ops;
	c->opaque = opaque;
	c->dma = (struct nvme_dma){ ops->dma_ptr, opaque };
	c->max_iov = (1u << p->mdts) + 1;   /* an unaligned PRP1 adds a page */
	c->sq = calloc(nq, sizeof(*c->sq));
	c->cq = calloc(nq, sizeof(*c->cq));
	c->irq_cd = calloc(p->nr_vectors, sizeof(*c->irq_cd));
	c->db_lost = calloc(2 * nq, sizeof(*c->db_lost));
	if (!c->sq || !c->cq || !c->irq_cd || !c->db_lost || derive_ids(c)) {
		nvme_ctrl_destroy(c);
		return -ENOMEM;
	}
	/* Base, "Offset 0h: CAP": CQR (contiguous queues), 4 KiB pages only,
	 * NVM command set, TO in 500 ms units for the reset drain. */
	c->cap = NVME_CAP_SET_MQES(p->mqes) | NVME_CAP_CQR | NVME_CAP_SET_TO(30) |
		 NVME_CAP_CSS_NVM | NVME_CAP_SET_MPSMIN(0) | NVME_CAP_SET_MPSMAX(0);
	c->feat_default = (struct nvme_features){
		.temp_over = WCTEMP,
		.vwc = true,
		.nsqa = p->max_ioqs,
		.ncqa = p->max_ioqs,
	};
	features_reset(c);
	*out = c;
	return 0;
}

void nvme_ctrl_destroy(struct nvme_ctrl *c)
{
	if (!c)
		return;
	if (c->sq && c->cq) {
		c->nr_aer = 0;
		for (unsigned q = 0; q <= c->p.max_ioqs; q++) {
			struct nvme_sq *sq = c->sq[q];

			if (sq) {
				for (unsigned i = 0; i < sq->size; i++)
					free(sq->reqs[i].io.ranges);
				free(sq->reqs);
				free(sq->iov);
				free(sq);
			}
			free(c->cq[q]);
		}
		while (c->zombies) {
			struct nvme_sq *sq = c->zombies;

			c->zombies = sq->zombie_next;
			free(sq->reqs);
			free(sq->iov);
			free(sq);
		}
	}
	free(c->sq);
	free(c->cq);
	free(c->irq_cd);
	free(c->db_lost);
	free(c);
}
