/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe controller tests' environment, shared by test_nvme_ctrl.c
 * (registers, queues, I/O, reset, doorbells) and test_nvme_admin.c (the
 * admin command set), as the controller itself is split: a malloc'd guest
 * RAM with the queues and data, a backend that is a RAM disk completing
 * at once or when told, and a host driver's helpers.  Helpers are static
 * inline: each test program uses its own part of them.
 */
#ifndef CV_TEST_NVME_CTRL_ENV_H
#define CV_TEST_NVME_CTRL_ENV_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/ebs/nvme_ctrl.h"
#include "cards/ebs/nvme_prp.h"
#include "guest-abi/nvme.h"
#include "guest-abi/pci_ids.h"

#define RAM_SIZE   (8u << 20)
#define DISK_LBAS  512u
#define ASQ        0x10000u
#define ACQ        0x11000u
#define IOSQ       0x20000u
#define IOCQ       0x21000u
#define DBS_PAGE   0x30000u
#define EIS_PAGE   0x31000u
#define DATA       0x100000u   /* data buffers from here */
#define MAX_IOQS   4
#define VECTORS    5
#define ADMIN_QS   8

struct env {
	uint8_t *ram;
	uint8_t *disk;
	struct nvme_ctrl *c;
	bool delay;               /* hold ios until io_finish() */
	struct nvme_io *held[64];
	unsigned nr_held;
	struct nvme_io last;      /* copy of the last submitted io */
	unsigned submitted;
	unsigned irqs[VECTORS];
	int created[MAX_IOQS + 1], deleted[MAX_IOQS + 1];
	uint16_t asq_tail, acq_head, sq_tail, cq_head;
	uint16_t sq_size, cq_size;
	bool acq_phase, cq_phase;
	uint16_t cid;
};

static inline void *dma_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	struct env *e = opaque;

	if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return e->ram + gpa;
}

static inline uint16_t backend_do(struct env *e, struct nvme_io *io)
{
	uint64_t off = io->slba << NVME_CTRL_LBA_SHIFT;
	uint64_t len = (uint64_t)io->nlb << NVME_CTRL_LBA_SHIFT;

	switch (io->opcode) {
	case NVME_NVM_WRITE:
		nvme_iov_to_buf(io->iov, io->iovcnt, e->disk + off, len);
		break;
	case NVME_NVM_READ:
		nvme_buf_to_iov(io->iov, io->iovcnt, e->disk + off, len);
		break;
	case NVME_NVM_WRITE_ZEROES:
		memset(e->disk + off, 0, len);
		break;
	default:
		break;
	}
	return 0;
}

static inline int io_submit(void *opaque, struct nvme_io *io)
{
	struct env *e = opaque;

	e->submitted++;
	e->last = *io;
	if (e->delay) {
		e->held[e->nr_held++] = io;
		return 0;
	}
	nvme_ctrl_io_complete(e->c, io, backend_do(e, io));
	return 0;
}

static inline void io_finish(struct env *e, unsigned i, uint16_t status)
{
	struct nvme_io *io = e->held[i];

	memmove(&e->held[i], &e->held[i + 1], (--e->nr_held - i) * sizeof(io));
	if (!status)
		status = backend_do(e, io);
	nvme_ctrl_io_complete(e->c, io, status);
}

static inline void irq(void *opaque, unsigned vector)
{
	struct env *e = opaque;

	assert_true(vector < VECTORS);
	e->irqs[vector]++;
}

static inline int ioq_create(void *opaque, uint16_t qid)
{
	((struct env *)opaque)->created[qid]++;
	return 0;
}

static inline void ioq_delete(void *opaque, uint16_t qid)
{
	((struct env *)opaque)->deleted[qid]++;
}

static const struct nvme_ctrl_ops ops = {
	.dma_ptr = dma_ptr, .io_submit = io_submit, .irq = irq,
	.ioq_create = ioq_create, .ioq_delete = ioq_delete,
};

/* ------------------------------------------------------------- host side */

static inline void w32(struct env *e, uint64_t off, uint32_t v)
{
	nvme_ctrl_mmio(e->c, off, &v, 4, true);
}

static inline uint32_t r32(struct env *e, uint64_t off)
{
	uint32_t v;

	nvme_ctrl_mmio(e->c, off, &v, 4, false);
	return v;
}

static inline void w64(struct env *e, uint64_t off, uint64_t v)
{
	nvme_ctrl_mmio(e->c, off, &v, 8, true);
}

static inline uint64_t r64(struct env *e, uint64_t off)
{
	uint64_t v;

	nvme_ctrl_mmio(e->c, off, &v, 8, false);
	return v;
}

static inline void enable(struct env *e)
{
	w32(e, NVME_REG_AQA, (ADMIN_QS - 1) << 16 | (ADMIN_QS - 1));
	w64(e, NVME_REG_ASQ, ASQ);
	w64(e, NVME_REG_ACQ, ACQ);
	w32(e, NVME_REG_CC, NVME_CC_EN | NVME_SQES_LOG2 << 16 | NVME_CQES_LOG2 << 20);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY);
	e->asq_tail = e->acq_head = 0;
	e->acq_phase = true;
}

static inline int setup_params(void **state, uint8_t mdts)
{
	struct env *e = calloc(1, sizeof(*e));
	struct nvme_ctrl_params p = {
		.volume_id = "vol-0123456789abcdef",
		.firmware = "1.0",
		.nsze = DISK_LBAS,
		.max_ioqs = MAX_IOQS,
		.nr_vectors = VECTORS,
		.mqes = 63,
		.mdts = mdts,
	};

	assert_non_null(e);
	e->ram = aligned_alloc(4096, RAM_SIZE);
	e->disk = calloc(DISK_LBAS, 4096);
	assert_non_null(e->ram);
	assert_non_null(e->disk);
	memset(e->ram, 0, RAM_SIZE);
	assert_int_equal(nvme_ctrl_create(&e->c, &p, &ops, e), 0);
	enable(e);
	*state = e;
	return 0;
}

static inline int setup(void **state)
{
	return setup_params(state, 5);
}

static inline int setup_big_mdts(void **state)
{
	return setup_params(state, 8);
}

static inline int teardown(void **state)
{
	struct env *e = *state;

	nvme_ctrl_destroy(e->c);
	free(e->ram);
	free(e->disk);
	free(e);
	return 0;
}

static inline struct nvme_cqe *cqe_at(struct env *e, uint32_t base, uint16_t i)
{
	return (struct nvme_cqe *)(e->ram + base + i * 16u);
}

/* The next admin CQE if posted (phase matches), consumed with a head write. */
static inline bool admin_reap(struct env *e, struct nvme_cqe *out)
{
	struct nvme_cqe *q = cqe_at(e, ACQ, e->acq_head);

	if ((q->status & NVME_STATUS_P) != e->acq_phase)
		return false;
	*out = *q;
	if (++e->acq_head == ADMIN_QS) {
		e->acq_head = 0;
		e->acq_phase = !e->acq_phase;
	}
	w32(e, NVME_REG_DBS + 4, e->acq_head);
	return true;
}

static inline void admin_send(struct env *e, struct nvme_sqe *sqe)
{
	sqe->cid = ++e->cid;
	memcpy(e->ram + ASQ + e->asq_tail * 64u, sqe, 64);
	e->asq_tail = (e->asq_tail + 1) % ADMIN_QS;
	w32(e, NVME_REG_DBS, e->asq_tail);
}

/* Run an admin command; returns its status code (SCT << 8 | SC). */
static inline uint16_t admin(struct env *e, struct nvme_sqe sqe, uint32_t *dw0)
{
	struct nvme_cqe cqe = { 0 };

	admin_send(e, &sqe);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, sqe.cid);
	assert_int_equal(cqe.sqid, 0);
	assert_int_equal(cqe.sqhd, e->asq_tail);
	if (dw0)
		*dw0 = cqe.dw0;
	/* Controller-detected errors are final: DNR set. */
	if (nvme_cqe_code(cqe.status))
		assert_true(cqe.status & NVME_STATUS_DNR);
	return nvme_cqe_code(cqe.status);
}

static inline struct nvme_sqe cmd(uint8_t opc, uint32_t cdw10, uint32_t cdw11, uint64_t prp1)
{
	return (struct nvme_sqe){ .opc = opc, .cdw10 = cdw10, .cdw11 = cdw11,
				  .dptr.prp.prp1 = prp1 };
}

static inline uint16_t create_cq(struct env *e, uint16_t qid, uint16_t size, uint64_t base,
			  uint32_t flags)
{
	return admin(e, cmd(NVME_ADMIN_CREATE_CQ, (uint32_t)(size - 1) << 16 | qid,
			    flags, base), NULL);
}

static inline uint16_t create_sq(struct env *e, uint16_t qid, uint16_t size, uint64_t base,
			  uint16_t cqid)
{
	return admin(e, cmd(NVME_ADMIN_CREATE_SQ, (uint32_t)(size - 1) << 16 | qid,
			    (uint32_t)cqid << 16 | NVME_CREATE_Q_PC, base), NULL);
}

/* I/O queue pair 1 of @sq / @cq entries, CQ on vector 1. */
static inline void make_ioq(struct env *e, uint16_t sq, uint16_t cq)
{
	assert_int_equal(create_cq(e, 1, cq, IOCQ,
				   NVME_CREATE_Q_PC | NVME_CREATE_CQ_IEN | 1u << 16), 0);
	assert_int_equal(create_sq(e, 1, sq, IOSQ, 1), 0);
	e->sq_size = sq;
	e->cq_size = cq;
	e->sq_tail = e->cq_head = 0;
	e->cq_phase = true;
}

static inline void io_send_noring(struct env *e, struct nvme_sqe *sqe)
{
	sqe->cid = ++e->cid;
	if (!sqe->nsid)
		sqe->nsid = 1;
	memcpy(e->ram + IOSQ + e->sq_tail * 64u, sqe, 64);
	e->sq_tail = (e->sq_tail + 1) % e->sq_size;
}

static inline void io_send(struct env *e, struct nvme_sqe *sqe)
{
	io_send_noring(e, sqe);
	w32(e, NVME_REG_DBS + 8, e->sq_tail);
}

static inline bool io_reap_noring(struct env *e, struct nvme_cqe *out)
{
	struct nvme_cqe *q = cqe_at(e, IOCQ, e->cq_head);

	if ((q->status & NVME_STATUS_P) != e->cq_phase)
		return false;
	*out = *q;
	if (++e->cq_head == e->cq_size) {
		e->cq_head = 0;
		e->cq_phase = !e->cq_phase;
	}
	return true;
}

static inline bool io_reap(struct env *e, struct nvme_cqe *out)
{
	if (!io_reap_noring(e, out))
		return false;
	w32(e, NVME_REG_DBS + 12, e->cq_head);
	return true;
}

static inline uint16_t io(struct env *e, struct nvme_sqe sqe)
{
	struct nvme_cqe cqe = { 0 };

	io_send(e, &sqe);
	assert_true(io_reap(e, &cqe));
	assert_int_equal(cqe.cid, sqe.cid);
	assert_int_equal(cqe.sqid, 1);
	return nvme_cqe_code(cqe.status);
}

static inline struct nvme_sqe rw(uint8_t opc, uint64_t slba, uint32_t nlb, uint64_t prp1,
			  uint64_t prp2)
{
	struct nvme_sqe s = { .opc = opc, .nsid = 1, .cdw10 = (uint32_t)slba,
			      .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nlb - 1 };

	s.dptr.prp.prp1 = prp1;
	s.dptr.prp.prp2 = prp2;
	return s;
}

static inline void fill(struct env *e, uint64_t gpa, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		e->ram[gpa + i] = (uint8_t)(seed + i * 7);
}

/* ------------------------------------------------------------------ tests */

#endif /* CV_TEST_NVME_CTRL_ENV_H */
