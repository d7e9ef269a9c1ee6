/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's NVMe controller against NVMe Base 2.0 and NVM 1.0, driven
 * as a host driver would: registers, queues and data in a malloc'd guest
 * RAM, a backend that is a RAM disk completing at once or when told.
 */
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

#define AT(type, field, ofs) \
	_Static_assert(offsetof(struct type, field) == (ofs), #type "." #field)
/* Base 2.0 "Identify Controller", NVM 1.0 "Identify Namespace", log pages. */
AT(nvme_id_ctrl, mdts, 77);
AT(nvme_id_ctrl, ver, 80);
AT(nvme_id_ctrl, cntrltype, 111);
AT(nvme_id_ctrl, oacs, 256);
AT(nvme_id_ctrl, aerl, 259);
AT(nvme_id_ctrl, elpe, 262);
AT(nvme_id_ctrl, wctemp, 266);
AT(nvme_id_ctrl, sqes, 512);
AT(nvme_id_ctrl, nn, 516);
AT(nvme_id_ctrl, oncs, 520);
AT(nvme_id_ctrl, vwc, 525);
AT(nvme_id_ctrl, sgls, 536);
AT(nvme_id_ctrl, subnqn, 768);
AT(nvme_id_ctrl, psd, 2048);
AT(nvme_id_ns, nlbaf, 25);
AT(nvme_id_ns, dlfeat, 33);
AT(nvme_id_ns, nguid, 104);
AT(nvme_id_ns, lbaf, 128);
AT(nvme_error_log, status, 12);
AT(nvme_error_log, lba, 16);
AT(nvme_smart_log, composite_temp, 1);
AT(nvme_smart_log, data_units_read, 32);
AT(nvme_smart_log, data_units_written, 48);
AT(nvme_smart_log, num_err_log_entries, 176);
AT(nvme_fw_slot_log, frs, 8);

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

static void *dma_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	struct env *e = opaque;

	if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return e->ram + gpa;
}

static uint16_t backend_do(struct env *e, struct nvme_io *io)
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

static int io_submit(void *opaque, struct nvme_io *io)
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

static void io_finish(struct env *e, unsigned i, uint16_t status)
{
	struct nvme_io *io = e->held[i];

	memmove(&e->held[i], &e->held[i + 1], (--e->nr_held - i) * sizeof(io));
	if (!status)
		status = backend_do(e, io);
	nvme_ctrl_io_complete(e->c, io, status);
}

static void irq(void *opaque, unsigned vector)
{
	struct env *e = opaque;

	assert_true(vector < VECTORS);
	e->irqs[vector]++;
}

static int ioq_create(void *opaque, uint16_t qid)
{
	((struct env *)opaque)->created[qid]++;
	return 0;
}

static void ioq_delete(void *opaque, uint16_t qid)
{
	((struct env *)opaque)->deleted[qid]++;
}

static const struct nvme_ctrl_ops ops = {
	.dma_ptr = dma_ptr, .io_submit = io_submit, .irq = irq,
	.ioq_create = ioq_create, .ioq_delete = ioq_delete,
};

/* ------------------------------------------------------------- host side */

static void w32(struct env *e, uint64_t off, uint32_t v)
{
	nvme_ctrl_mmio(e->c, off, &v, 4, true);
}

static uint32_t r32(struct env *e, uint64_t off)
{
	uint32_t v;

	nvme_ctrl_mmio(e->c, off, &v, 4, false);
	return v;
}

static void w64(struct env *e, uint64_t off, uint64_t v)
{
	nvme_ctrl_mmio(e->c, off, &v, 8, true);
}

static uint64_t r64(struct env *e, uint64_t off)
{
	uint64_t v;

	nvme_ctrl_mmio(e->c, off, &v, 8, false);
	return v;
}

static void enable(struct env *e)
{
	w32(e, NVME_REG_AQA, (ADMIN_QS - 1) << 16 | (ADMIN_QS - 1));
	w64(e, NVME_REG_ASQ, ASQ);
	w64(e, NVME_REG_ACQ, ACQ);
	w32(e, NVME_REG_CC, NVME_CC_EN | NVME_SQES_LOG2 << 16 | NVME_CQES_LOG2 << 20);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY);
	e->asq_tail = e->acq_head = 0;
	e->acq_phase = true;
}

static int setup_params(void **state, uint8_t mdts)
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

static int setup(void **state)
{
	return setup_params(state, 5);
}

static int setup_big_mdts(void **state)
{
	return setup_params(state, 8);
}

static int teardown(void **state)
{
	struct env *e = *state;

	nvme_ctrl_destroy(e->c);
	free(e->ram);
	free(e->disk);
	free(e);
	return 0;
}

static struct nvme_cqe *cqe_at(struct env *e, uint32_t base, uint16_t i)
{
	return (struct nvme_cqe *)(e->ram + base + i * 16u);
}

/* The next admin CQE if posted (phase matches), consumed with a head write. */
static bool admin_reap(struct env *e, struct nvme_cqe *out)
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

static void admin_send(struct env *e, struct nvme_sqe *sqe)
{
	sqe->cid = ++e->cid;
	memcpy(e->ram + ASQ + e->asq_tail * 64u, sqe, 64);
	e->asq_tail = (e->asq_tail + 1) % ADMIN_QS;
	w32(e, NVME_REG_DBS, e->asq_tail);
}

/* Run an admin command; returns its status code (SCT << 8 | SC). */
static uint16_t admin(struct env *e, struct nvme_sqe sqe, uint32_t *dw0)
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

static struct nvme_sqe cmd(uint8_t opc, uint32_t cdw10, uint32_t cdw11, uint64_t prp1)
{
	return (struct nvme_sqe){ .opc = opc, .cdw10 = cdw10, .cdw11 = cdw11,
				  .dptr.prp.prp1 = prp1 };
}

static uint16_t create_cq(struct env *e, uint16_t qid, uint16_t size, uint64_t base,
			  uint32_t flags)
{
	return admin(e, cmd(NVME_ADMIN_CREATE_CQ, (uint32_t)(size - 1) << 16 | qid,
			    flags, base), NULL);
}

static uint16_t create_sq(struct env *e, uint16_t qid, uint16_t size, uint64_t base,
			  uint16_t cqid)
{
	return admin(e, cmd(NVME_ADMIN_CREATE_SQ, (uint32_t)(size - 1) << 16 | qid,
			    (uint32_t)cqid << 16 | NVME_CREATE_Q_PC, base), NULL);
}

/* I/O queue pair 1 of @sq / @cq entries, CQ on vector 1. */
static void make_ioq(struct env *e, uint16_t sq, uint16_t cq)
{
	assert_int_equal(create_cq(e, 1, cq, IOCQ,
				   NVME_CREATE_Q_PC | NVME_CREATE_CQ_IEN | 1u << 16), 0);
	assert_int_equal(create_sq(e, 1, sq, IOSQ, 1), 0);
	e->sq_size = sq;
	e->cq_size = cq;
	e->sq_tail = e->cq_head = 0;
	e->cq_phase = true;
}

static void io_send_noring(struct env *e, struct nvme_sqe *sqe)
{
	sqe->cid = ++e->cid;
	if (!sqe->nsid)
		sqe->nsid = 1;
	memcpy(e->ram + IOSQ + e->sq_tail * 64u, sqe, 64);
	e->sq_tail = (e->sq_tail + 1) % e->sq_size;
}

static void io_send(struct env *e, struct nvme_sqe *sqe)
{
	io_send_noring(e, sqe);
	w32(e, NVME_REG_DBS + 8, e->sq_tail);
}

static bool io_reap_noring(struct env *e, struct nvme_cqe *out)
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

static bool io_reap(struct env *e, struct nvme_cqe *out)
{
	if (!io_reap_noring(e, out))
		return false;
	w32(e, NVME_REG_DBS + 12, e->cq_head);
	return true;
}

static uint16_t io(struct env *e, struct nvme_sqe sqe)
{
	struct nvme_cqe cqe = { 0 };

	io_send(e, &sqe);
	assert_true(io_reap(e, &cqe));
	assert_int_equal(cqe.cid, sqe.cid);
	assert_int_equal(cqe.sqid, 1);
	return nvme_cqe_code(cqe.status);
}

static struct nvme_sqe rw(uint8_t opc, uint64_t slba, uint32_t nlb, uint64_t prp1,
			  uint64_t prp2)
{
	struct nvme_sqe s = { .opc = opc, .nsid = 1, .cdw10 = (uint32_t)slba,
			      .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nlb - 1 };

	s.dptr.prp.prp1 = prp1;
	s.dptr.prp.prp2 = prp2;
	return s;
}

static void fill(struct env *e, uint64_t gpa, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		e->ram[gpa + i] = (uint8_t)(seed + i * 7);
}

/* ------------------------------------------------------------------ tests */

static void test_registers(void **state)
{
	struct env *e = *state;
	uint64_t cap = r64(e, NVME_REG_CAP), off, len;
	uint8_t b = 0xab;

	assert_int_equal(NVME_CAP_MQES(cap), 63);
	assert_true(cap & NVME_CAP_CQR);
	assert_true(cap & NVME_CAP_CSS_NVM);
	assert_int_equal(NVME_CAP_DSTRD(cap), 0);
	assert_int_equal(NVME_CAP_MPSMIN(cap), 0);
	assert_true(NVME_CAP_TO(cap) > 0);
	assert_int_equal(r32(e, NVME_REG_CAP + 4), (uint32_t)(cap >> 32));
	assert_int_equal(r32(e, NVME_REG_VS), NVME_VS(1, 4, 0));
	assert_int_equal(r64(e, NVME_REG_ASQ), ASQ);
	/* INTMS/INTMC are unused with MSI-X; CAP is read-only. */
	w32(e, NVME_REG_INTMS, 1);
	assert_int_equal(r32(e, NVME_REG_INTMS), 0);
	w64(e, NVME_REG_CAP, 0);
	assert_int_equal(r64(e, NVME_REG_CAP), cap);
	/* One-byte accesses are ignored and read 0. */
	nvme_ctrl_mmio(e->c, NVME_REG_CSTS, &b, 1, false);
	assert_int_equal(b, 0);
	nvme_ctrl_ioeventfd_range(e->c, &off, &len);
	assert_int_equal(off, NVME_REG_DBS + 8);
	assert_int_equal(len, MAX_IOQS * 8);
	assert_int_equal(nvme_ctrl_regs_size(e->c), NVME_REG_DBS + (MAX_IOQS + 1) * 8);
}

static void test_identify(void **state)
{
	struct env *e = *state;
	struct nvme_id_ctrl *id = (void *)(e->ram + DATA);
	struct nvme_id_ns *ns = (void *)(e->ram + DATA + 4096);
	uint32_t *list = (void *)(e->ram + DATA + 8192);
	uint8_t *d = e->ram + DATA + 12288;

	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CTRL, 0, DATA), NULL), 0);
	assert_memory_equal(id->mn, "cardvisor Elastic Block Store           ", 40);
	assert_memory_equal(id->sn, "vol-0123456789abcdef", 20);
	assert_memory_equal(id->fr, "1.0     ", 8);
	assert_int_equal(id->vid, CV_PCI_VENDOR_QUMRANET);
	assert_int_equal(id->mdts, 5);
	assert_true(id->oacs & NVME_CTRL_OACS_DBBUF);
	assert_int_equal(id->oncs, NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES);
	assert_true(id->vwc & NVME_CTRL_VWC_PRESENT);
	assert_int_equal(id->sgls & 3, 1);
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_equal(id->nn, 1);
	assert_int_equal(memcmp(id->subnqn, "nqn.2014-08.org.nvmexpress:uuid:", 32), 0);

	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY, .nsid = 1,
			       .dptr.prp.prp1 = DATA + 4096 }, NULL), 0);
	assert_int_equal(ns->nsze, DISK_LBAS);
	assert_int_equal(ns->ncap, DISK_LBAS);
	assert_int_equal(ns->lbaf[ns->flbas & 0xf].lbads, 12);

	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_ACTIVE_NS_LIST, 0,
				      DATA + 8192), NULL), 0);
	assert_int_equal(list[0], 1);
	assert_int_equal(list[1], 0);

	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY, .nsid = 1,
			       .cdw10 = NVME_CNS_NS_DESC_LIST,
			       .dptr.prp.prp1 = DATA + 12288 }, NULL), 0);
	assert_int_equal(d[0], NVME_NIDT_NGUID);
	assert_int_equal(d[1], 16);
	assert_memory_equal(d + 4, ns->nguid, 16);
	assert_int_equal(d[20], NVME_NIDT_UUID);
	assert_int_equal(d[21], 16);
	assert_int_equal(d[24 + 6] >> 4, 5);          /* RFC 4122 version 5 */
	assert_int_equal(d[24 + 8] & 0xc0, 0x80);     /* RFC 4122 variant */
	assert_int_equal(d[40], NVME_NIDT_CSI);

	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY, .nsid = 2,
			       .dptr.prp.prp1 = DATA }, NULL), NVME_SC_INVALID_NS);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, 0x55, 0, DATA), NULL),
			 NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CS_CTRL, 0, DATA), NULL), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CS_CTRL, 2u << 24, DATA),
			       NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(0x7e, 0, 0, 0), NULL), NVME_SC_INVALID_OPCODE);
	/* PCIe admin commands take PRPs only; a buffer outside RAM fails. */
	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY,
			       .flags = NVME_SQE_PSDT_SGL_MPTR_BUF, .cdw10 = NVME_CNS_CTRL },
			       NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CTRL, 0, RAM_SIZE), NULL),
			 NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(e->irqs[0], 11);
}

static void test_queue_errors(void **state)
{
	struct env *e = *state;
	uint32_t ien1 = NVME_CREATE_Q_PC | NVME_CREATE_CQ_IEN | 1u << 16;
	uint32_t dw0;

	assert_int_equal(create_cq(e, 0, 8, IOCQ, ien1), NVME_SC_INVALID_QID);
	assert_int_equal(create_cq(e, MAX_IOQS + 1, 8, IOCQ, ien1), NVME_SC_INVALID_QID);
	assert_int_equal(create_cq(e, 1, 1, IOCQ, ien1), NVME_SC_INVALID_QSIZE);
	assert_int_equal(create_cq(e, 1, 65, IOCQ, ien1), NVME_SC_INVALID_QSIZE);
	assert_int_equal(create_cq(e, 1, 8, IOCQ, NVME_CREATE_CQ_IEN), NVME_SC_INVALID_FIELD);
	assert_int_equal(create_cq(e, 1, 8, IOCQ, NVME_CREATE_Q_PC | NVME_CREATE_CQ_IEN |
				   (uint32_t)VECTORS << 16), NVME_SC_INVALID_VECTOR);
	assert_int_equal(create_cq(e, 1, 8, IOCQ + 0x10, ien1), NVME_SC_PRP_INVALID_OFFSET);
	assert_int_equal(create_cq(e, 1, 8, RAM_SIZE, ien1), NVME_SC_INVALID_FIELD);
	assert_int_equal(create_cq(e, 1, 8, IOCQ, ien1), 0);
	assert_int_equal(create_cq(e, 1, 8, IOCQ, ien1), NVME_SC_INVALID_QID);

	assert_int_equal(create_sq(e, 1, 8, IOSQ, 0), NVME_SC_CQ_INVALID);
	assert_int_equal(create_sq(e, 1, 8, IOSQ, 2), NVME_SC_CQ_INVALID);
	assert_int_equal(create_sq(e, 0, 8, IOSQ, 1), NVME_SC_INVALID_QID);
	assert_int_equal(create_sq(e, 1, 1, IOSQ, 1), NVME_SC_INVALID_QSIZE);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_CREATE_SQ, 7u << 16 | 1, 1u << 16, IOSQ),
			       NULL), NVME_SC_INVALID_FIELD);   /* PC = 0 */
	assert_int_equal(create_sq(e, 1, 8, IOSQ + 8, 1), NVME_SC_PRP_INVALID_OFFSET);
	assert_int_equal(create_sq(e, 1, 8, IOSQ, 1), 0);
	assert_int_equal(e->created[1], 1);
	assert_int_equal(create_sq(e, 1, 8, IOSQ, 1), NVME_SC_INVALID_QID);

	/* Number of Queues only before any I/O queue exists. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_NUM_QUEUES, 0, 0),
			       NULL), NVME_SC_CMD_SEQ_ERROR);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_CQ, 1, 0, 0), NULL),
			 NVME_SC_QID_DELETION);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_SQ, 2, 0, 0), NULL),
			 NVME_SC_INVALID_QID);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_SQ, 1, 0, 0), NULL), 0);
	assert_int_equal(e->deleted[1], 1);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_CQ, 1, 0, 0), NULL), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_CQ, 1, 0, 0), NULL),
			 NVME_SC_INVALID_QID);

	/* One queue pair allocated: qid 2 is now invalid. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_NUM_QUEUES, 0, 0),
			       &dw0), 0);
	assert_int_equal(dw0, 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_NUM_QUEUES,
				      0xffff, 0), NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(create_cq(e, 2, 8, IOCQ, ien1), NVME_SC_INVALID_QID);
}

static void test_prp(void **state)
{
	struct env *e = *state;
	uint64_t *l1 = (void *)(e->ram + DATA + 0xff0);   /* two slots left */
	uint64_t *l2 = (void *)(e->ram + DATA + 0x1000);
	uint64_t pages[5] = { DATA + 0x10000, DATA + 0x13000, DATA + 0x11000,
			      DATA + 0x17000, DATA + 0x15000 };
	make_ioq(e, 16, 16);
	/* Two pages: PRP1 with an offset, PRP2 the second page. */
	fill(e, pages[0] + 0x200, 0xe00, 1);
	fill(e, pages[1], 0x1000, 2);
	assert_int_equal(io(e, rw(NVME_NVM_WRITE, 3, 1, pages[0] + 0x200, pages[1])), 0);
	assert_int_equal(e->last.iovcnt, 2);
	assert_memory_equal(e->disk + 3 * 4096, e->ram + pages[0] + 0x200, 0xe00);
	assert_memory_equal(e->disk + 3 * 4096 + 0xe00, e->ram + pages[1], 0x200);

	/* Five pages through a PRP list that chains from its last slot. */
	for (int i = 0; i < 5; i++)
		fill(e, pages[i], 4096, (uint8_t)(10 + i));
	l1[0] = pages[1];
	l1[1] = DATA + 0x1000;             /* chain to l2 */
	l2[0] = pages[2];
	l2[1] = pages[3];
	l2[2] = pages[4];
	assert_int_equal(io(e, rw(NVME_NVM_WRITE, 10, 5, pages[0], DATA + 0xff0)), 0);
	for (int i = 0; i < 5; i++)
		assert_memory_equal(e->disk + (10 + i) * 4096, e->ram + pages[i], 4096);
	memset(e->ram + DATA + 0x40000, 0, 4096);
	assert_int_equal(io(e, rw(NVME_NVM_READ, 10, 5, pages[0], DATA + 0xff0)), 0);
	assert_memory_equal(e->ram + pages[3], e->disk + 13 * 4096, 4096);

	/* Offsets: PRP1 not dword aligned, PRP2 data page, list entries. */
	assert_int_equal(io(e, rw(NVME_NVM_READ, 0, 1, pages[0] + 2, 0)),
			 NVME_SC_PRP_INVALID_OFFSET);
	assert_int_equal(io(e, rw(NVME_NVM_READ, 0, 2, pages[0], pages[1] + 0x100)),
			 NVME_SC_PRP_INVALID_OFFSET);
	l2[1] = pages[3] + 0x10;
	assert_int_equal(io(e, rw(NVME_NVM_READ, 10, 5, pages[0], DATA + 0xff0)),
			 NVME_SC_PRP_INVALID_OFFSET);
	/* Addresses outside guest RAM: data page and the list itself. */
	l2[1] = RAM_SIZE;
	assert_int_equal(io(e, rw(NVME_NVM_READ, 10, 5, pages[0], DATA + 0xff0)),
			 NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(io(e, rw(NVME_NVM_READ, 10, 3, pages[0], RAM_SIZE + 0x1000)),
			 NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(io(e, rw(NVME_NVM_READ, 0, 1, RAM_SIZE, 0)),
			 NVME_SC_DATA_XFER_ERROR);
}

static void sgl(struct nvme_sgl_desc *d, uint64_t addr, uint32_t len, uint8_t type)
{
	*d = (struct nvme_sgl_desc){ .addr = addr, .length = len,
				     .id = NVME_SGL_ID(type, NVME_SGL_SUBTYPE_ADDRESS) };
}

static struct nvme_sqe rw_sgl(uint8_t opc, uint64_t slba, uint32_t nlb,
			      struct nvme_sgl_desc d)
{
	struct nvme_sqe s = rw(opc, slba, nlb, 0, 0);

	s.flags = NVME_SQE_PSDT_SGL_MPTR_BUF;
	s.dptr.sgl1 = d;
	return s;
}

static void test_sgl(void **state)
{
	struct env *e = *state;
	struct nvme_sgl_desc d, *seg1 = (void *)(e->ram + DATA), *seg2 = (void *)(e->ram + DATA + 0x800);
	uint64_t buf = DATA + 0x10000;

	make_ioq(e, 16, 16);
	fill(e, buf, 3 * 4096, 5);
	sgl(&d, buf, 4096, NVME_SGL_TYPE_DATA_BLOCK);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_WRITE, 1, 1, d)), 0);
	assert_memory_equal(e->disk + 4096, e->ram + buf, 4096);

	/* Segment -> Last Segment, odd-sized blocks: 100 + 3996 + 8192 bytes. */
	sgl(&seg1[0], buf, 100, NVME_SGL_TYPE_DATA_BLOCK);
	sgl(&seg1[1], DATA + 0x800, 2 * 16, NVME_SGL_TYPE_LAST_SEGMENT);
	sgl(&seg2[0], buf + 100, 3996, NVME_SGL_TYPE_DATA_BLOCK);
	sgl(&seg2[1], buf + 4096, 8192, NVME_SGL_TYPE_DATA_BLOCK);
	sgl(&d, DATA, 2 * 16, NVME_SGL_TYPE_SEGMENT);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_WRITE, 20, 3, d)), 0);
	assert_memory_equal(e->disk + 20 * 4096, e->ram + buf, 3 * 4096);
	memset(e->ram + buf, 0, 3 * 4096);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_READ, 20, 3, d)), 0);
	assert_memory_equal(e->disk + 20 * 4096, e->ram + buf, 3 * 4096);

	/* Too short and too long: Data SGL Length Invalid. */
	sgl(&d, buf, 4000, NVME_SGL_TYPE_DATA_BLOCK);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_READ, 0, 1, d)), NVME_SC_SGL_INVALID_DATA_LEN);
	sgl(&d, buf, 8192, NVME_SGL_TYPE_DATA_BLOCK);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_READ, 0, 1, d)), NVME_SC_SGL_INVALID_DATA_LEN);
	/* Keyed descriptors are not offered. */
	sgl(&d, buf, 4096, NVME_SGL_TYPE_KEYED_DATA);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_READ, 0, 1, d)), NVME_SC_SGL_INVALID_TYPE);
	/* A Last Segment holding a segment descriptor. */
	sgl(&seg2[1], DATA, 16, NVME_SGL_TYPE_SEGMENT);
	sgl(&d, DATA, 2 * 16, NVME_SGL_TYPE_SEGMENT);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_READ, 20, 3, d)), NVME_SC_SGL_INVALID_LAST);
	/* A segment descriptor that is not the last of its segment. */
	sgl(&seg1[0], DATA + 0x800, 32, NVME_SGL_TYPE_LAST_SEGMENT);
	sgl(&seg1[1], buf, 100, NVME_SGL_TYPE_DATA_BLOCK);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_READ, 20, 3, d)), NVME_SC_SGL_INVALID_COUNT);
	/* Segment length not a multiple of 16. */
	sgl(&d, DATA, 24, NVME_SGL_TYPE_LAST_SEGMENT);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_READ, 20, 3, d)), NVME_SC_SGL_INVALID_LAST);
	/* A block outside guest RAM. */
	sgl(&d, RAM_SIZE - 100, 4096, NVME_SGL_TYPE_DATA_BLOCK);
	assert_int_equal(io(e, rw_sgl(NVME_NVM_READ, 0, 1, d)), NVME_SC_DATA_XFER_ERROR);
	/* PSDT 11b is reserved. */
	sgl(&d, buf, 4096, NVME_SGL_TYPE_DATA_BLOCK);
	{
		struct nvme_sqe s = rw_sgl(NVME_NVM_READ, 0, 1, d);

		s.flags = NVME_SQE_PSDT_MASK;
		assert_int_equal(io(e, s), NVME_SC_INVALID_FIELD);
	}
}

static void test_io_checks(void **state)
{
	struct env *e = *state;
	struct nvme_dsm_range *r = (void *)(e->ram + DATA);
	struct nvme_sqe s;

	make_ioq(e, 16, 16);
	assert_int_equal(io(e, rw(NVME_NVM_READ, DISK_LBAS, 1, DATA, 0)), NVME_SC_LBA_RANGE);
	assert_int_equal(io(e, rw(NVME_NVM_READ, DISK_LBAS - 1, 2, DATA, 0)), NVME_SC_LBA_RANGE);
	assert_int_equal(io(e, rw(NVME_NVM_READ, ~0ull, 2, DATA, 0)), NVME_SC_LBA_RANGE);
	/* MDTS 5: 32 pages. */
	assert_int_equal(io(e, rw(NVME_NVM_READ, 0, 33, DATA, DATA + 0x1000)),
			 NVME_SC_INVALID_FIELD);
	s = rw(NVME_NVM_READ, 0, 1, DATA, 0);
	s.nsid = 2;
	assert_int_equal(io(e, s), NVME_SC_INVALID_NS);
	s = rw(0x7f, 0, 1, DATA, 0);
	assert_int_equal(io(e, s), NVME_SC_INVALID_OPCODE);
	s = rw(NVME_NVM_READ, 0, 1, DATA, 0);
	s.flags = 1;   /* fused */
	assert_int_equal(io(e, s), NVME_SC_INVALID_FIELD);
	assert_int_equal(e->submitted, 0);

	/* Write Zeroes, Flush (all namespaces), DSM deallocate reach the backend. */
	memset(e->disk + 5 * 4096, 0xee, 4096);
	s = rw(NVME_NVM_WRITE_ZEROES, 5, 1, 0, 0);
	s.cdw12 |= NVME_RW_FUA;
	assert_int_equal(io(e, s), 0);
	assert_true(e->last.fua);
	assert_int_equal(e->disk[5 * 4096], 0);
	s = (struct nvme_sqe){ .opc = NVME_NVM_FLUSH, .nsid = 0xffffffff };
	assert_int_equal(io(e, s), 0);
	assert_int_equal(e->last.opcode, NVME_NVM_FLUSH);
	r[0] = (struct nvme_dsm_range){ .slba = 7, .nlb = 3 };
	r[1] = (struct nvme_dsm_range){ .slba = 100, .nlb = 1 };
	s = (struct nvme_sqe){ .opc = NVME_NVM_DSM, .nsid = 1, .cdw10 = 1,
			       .cdw11 = NVME_DSM_AD, .dptr.prp.prp1 = DATA };
	assert_int_equal(io(e, s), 0);
	assert_int_equal(e->last.opcode, NVME_NVM_DSM);
	assert_int_equal(e->last.nr_ranges, 2);
	r[1].nlb = DISK_LBAS;
	assert_int_equal(io(e, s), NVME_SC_LBA_RANGE);
	/* Without Deallocate a DSM is a hint: completed, no backend work. */
	e->submitted = 0;
	s.cdw11 = 1;
	assert_int_equal(io(e, s), 0);
	assert_int_equal(e->submitted, 0);

	/* With the volatile write cache off, writes are forced FUA. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_VOLATILE_WC, 0, 0),
			       NULL), 0);
	assert_int_equal(io(e, rw(NVME_NVM_WRITE, 0, 1, DATA, 0)), 0);
	assert_true(e->last.fua);
	assert_int_equal(io(e, rw(NVME_NVM_READ, 0, 1, DATA, 0)), 0);
	assert_false(e->last.fua);
}

static void test_phase_wrap(void **state)
{
	struct env *e = *state;
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 4, 3);
	for (unsigned i = 0; i < 10; i++) {
		struct nvme_sqe s = rw(NVME_NVM_READ, i, 1, DATA, 0);

		io_send(e, &s);
		assert_true(io_reap(e, &cqe));
		assert_int_equal(nvme_cqe_code(cqe.status), 0);
		assert_int_equal(cqe.sqhd, e->sq_tail);
		/* Entries 0-2 carry phase 1, 3-5 phase 0, 6-8 phase 1 ... */
		assert_int_equal(cqe.status & NVME_STATUS_P, (i / 3) % 2 == 0);
	}
	assert_int_equal(e->irqs[1], 10);
}

static void test_cq_full(void **state)
{
	struct env *e = *state;
	struct nvme_cqe cqe = { 0 };
	struct nvme_sqe s[4];

	/* A 2-entry CQ holds one completion. */
	make_ioq(e, 8, 2);
	for (int i = 0; i < 3; i++) {
		s[i] = rw(NVME_NVM_READ, (uint64_t)i, 1, DATA, 0);
		io_send_noring(e, &s[i]);
	}
	w32(e, NVME_REG_DBS + 8, e->sq_tail);
	assert_int_equal(e->submitted, 1);             /* fetching stopped */
	assert_int_equal(cqe_at(e, IOCQ, 1)->status, 0);
	assert_true(io_reap(e, &cqe));
	assert_int_equal(cqe.cid, s[0].cid);
	assert_int_equal(e->submitted, 2);
	assert_true(io_reap(e, &cqe));
	assert_int_equal(cqe.cid, s[1].cid);
	assert_true(io_reap(e, &cqe));
	assert_int_equal(cqe.cid, s[2].cid);
	assert_false(io_reap(e, &cqe));

	/* Completions arriving with the CQ full wait; none is overwritten. */
	e->delay = true;
	for (int i = 0; i < 3; i++) {
		s[i] = rw(NVME_NVM_READ, (uint64_t)i, 1, DATA, 0);
		io_send(e, &s[i]);
	}
	assert_int_equal(e->nr_held, 3);
	io_finish(e, 0, 0);
	io_finish(e, 0, 0);
	io_finish(e, 0, 0);
	for (int i = 0; i < 3; i++) {
		assert_true(io_reap(e, &cqe));
		assert_int_equal(cqe.cid, s[i].cid);
	}
	assert_false(io_reap(e, &cqe));
}

static void test_reset_drains(void **state)
{
	struct env *e = *state;
	struct nvme_sqe s = rw(NVME_NVM_WRITE, 1, 1, DATA, 0);
	struct nvme_sqe aer = { .opc = NVME_ADMIN_ASYNC_EVENT };
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 8, 8);
	admin_send(e, &aer);
	e->delay = true;
	io_send(e, &s);
	assert_int_equal(e->nr_held, 1);
	w32(e, NVME_REG_CC, 0);
	/* In-flight I/O holds RDY until the backend is done with guest memory. */
	assert_int_equal(r32(e, NVME_REG_CSTS) & NVME_CSTS_RDY, NVME_CSTS_RDY);
	assert_int_equal(e->deleted[1], 0);
	io_finish(e, 0, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS), 0);
	assert_int_equal(e->deleted[1], 1);
	/* Neither the I/O nor the AER was completed into host memory. */
	assert_false(io_reap_noring(e, &cqe));
	assert_int_equal(cqe_at(e, ACQ, e->acq_head)->status & NVME_STATUS_P, 0);
	memset(e->ram + ACQ, 0, 4096);
	enable(e);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CTRL, 0, DATA), NULL), 0);
	/* The I/O queue is gone after the reset. */
	w32(e, NVME_REG_DBS + 8, 1);
	assert_int_equal(e->submitted, 1);
}

static void test_delete_sq_waits(void **state)
{
	struct env *e = *state;
	struct nvme_sqe s = rw(NVME_NVM_READ, 1, 1, DATA, 0);
	struct nvme_sqe del = cmd(NVME_ADMIN_DELETE_SQ, 1, 0, 0);
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 8, 8);
	e->delay = true;
	io_send(e, &s);
	admin_send(e, &del);
	assert_false(admin_reap(e, &cqe));
	io_finish(e, 0, 0);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, del.cid);
	assert_int_equal(nvme_cqe_code(cqe.status), 0);
	assert_false(io_reap_noring(e, &cqe));     /* its completion dropped */
	assert_int_equal(e->deleted[1], 1);
}

static void test_admin_throttled(void **state)
{
	struct env *e = *state;
	struct nvme_sqe del[MAX_IOQS], aer, id;
	struct nvme_cqe cqe = { 0 };

	/* Every admin request held: 4 AERs and 4 Delete SQs waiting for I/O. */
	assert_int_equal(create_cq(e, 1, 16, IOCQ, NVME_CREATE_Q_PC), 0);
	e->delay = true;
	for (uint16_t q = 1; q <= MAX_IOQS; q++) {
		uint64_t base = 0x40000u + q * 0x1000u;
		struct nvme_sqe r = rw(NVME_NVM_READ, q, 1, DATA, 0);

		assert_int_equal(create_sq(e, q, 8, base, 1), 0);
		r.cid = (uint16_t)(100 + q);
		memcpy(e->ram + base, &r, 64);
		w32(e, NVME_REG_DBS + 8u * q, 1);
	}
	assert_int_equal(e->nr_held, MAX_IOQS);
	for (int i = 0; i < 4; i++) {
		aer = (struct nvme_sqe){ .opc = NVME_ADMIN_ASYNC_EVENT };
		admin_send(e, &aer);
	}
	for (uint16_t q = 1; q <= MAX_IOQS; q++) {
		del[q - 1] = cmd(NVME_ADMIN_DELETE_SQ, q, 0, 0);
		admin_send(e, &del[q - 1]);
	}
	id = cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CTRL, 0, DATA);
	admin_send(e, &id);
	assert_false(admin_reap(e, &cqe));   /* Identify waits for a request */

	/* SQ 1's read returns: its Delete completes, and that frees a request. */
	io_finish(e, 0, 0);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, del[0].cid);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, id.cid);
	assert_int_equal(nvme_cqe_code(cqe.status), 0);
	assert_false(admin_reap(e, &cqe));
	while (e->nr_held)
		io_finish(e, 0, 0);
	for (int i = 1; i < MAX_IOQS; i++) {
		assert_true(admin_reap(e, &cqe));
		assert_int_equal(cqe.cid, del[i].cid);
	}
	assert_int_equal(e->deleted[MAX_IOQS], 1);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_CQ, 1, 0, 0), NULL), 0);
}

static void test_shutdown(void **state)
{
	struct env *e = *state;
	struct nvme_sqe s = rw(NVME_NVM_WRITE, 1, 1, DATA, 0);
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 8, 8);
	e->delay = true;
	io_send(e, &s);
	w32(e, NVME_REG_CC, r32(e, NVME_REG_CC) | NVME_CC_SHN_NORMAL << 14);
	assert_int_equal(r32(e, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_OCCURRING);
	io_finish(e, 0, 0);
	assert_true(io_reap(e, &cqe));    /* queues live on through a shutdown */
	/* Then the write cache is flushed before the shutdown completes. */
	assert_int_equal(e->nr_held, 1);
	assert_int_equal(e->held[0]->opcode, NVME_NVM_FLUSH);
	assert_int_equal(e->held[0]->sqid, 1);    /* the backend's queues are I/O queues */
	assert_int_equal(r32(e, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_OCCURRING);
	io_finish(e, 0, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE);
	/* No fetching after a shutdown. */
	e->submitted = 0;
	io_send(e, &s);
	assert_int_equal(e->submitted, 0);
}

static uint32_t *shadow(struct env *e, uint32_t page, unsigned db)
{
	return (uint32_t *)(e->ram + page + db * 4);
}

static void test_dbbuf(void **state)
{
	struct env *e = *state;
	struct nvme_sqe s;
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 8, 2);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DBBUF_CONFIG, 0, 0, DBS_PAGE + 8), NULL),
			 NVME_SC_INVALID_FIELD);
	s = cmd(NVME_ADMIN_DBBUF_CONFIG, 0, 0, DBS_PAGE);
	s.dptr.prp.prp2 = EIS_PAGE;
	assert_int_equal(admin(e, s, NULL), 0);

	/* Two commands written to the shadow tail, then one kick. */
	for (int i = 0; i < 2; i++) {
		s = rw(NVME_NVM_READ, (uint64_t)i, 1, DATA, 0);
		io_send_noring(e, &s);
	}
	*shadow(e, DBS_PAGE, 2) = e->sq_tail;
	nvme_ctrl_doorbell_kick(e->c, 2);
	/* The 2-entry CQ took one; the host consumes it through the shadow
	 * head only, and the controller finds it when it needs the room. */
	assert_int_equal(e->submitted, 1);
	assert_int_equal(*shadow(e, EIS_PAGE, 3), 0);   /* ring me when you move */
	assert_true(io_reap_noring(e, &cqe));
	*shadow(e, DBS_PAGE, 3) = e->cq_head;
	nvme_ctrl_doorbell_kick(e->c, 3);
	assert_int_equal(e->submitted, 2);
	assert_int_equal(*shadow(e, EIS_PAGE, 2), e->sq_tail);
	assert_true(io_reap_noring(e, &cqe));
	*shadow(e, DBS_PAGE, 3) = e->cq_head;
	/* No kick for that head: the next fetch finds the room in the shadow. */
	s = rw(NVME_NVM_READ, 0, 1, DATA, 0);
	io_send_noring(e, &s);
	*shadow(e, DBS_PAGE, 2) = e->sq_tail;
	nvme_ctrl_doorbell_kick(e->c, 2);
	assert_int_equal(e->submitted, 3);
	assert_true(io_reap_noring(e, &cqe));
	assert_int_equal(cqe.cid, s.cid);
	/*
	 * A doorbell that still comes by MMIO carries its value; a CQ with room
	 * then parks its EventIdx one behind the head (size 2 here), where no
	 * head update the host makes asks for a doorbell.
	 */
	*shadow(e, DBS_PAGE, 3) = e->cq_head;
	w32(e, NVME_REG_DBS + 12, e->cq_head);
	assert_int_equal(*shadow(e, EIS_PAGE, 3), (e->cq_head + 1) % 2);
	s = rw(NVME_NVM_READ, 0, 1, DATA, 0);
	io_send(e, &s);
	assert_int_equal(e->submitted, 4);
	assert_int_equal(*shadow(e, EIS_PAGE, 2), e->sq_tail);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY);
}

static void test_kick_before_dbbuf(void **state)
{
	struct env *e = *state;
	struct nvme_sqe s;
	struct nvme_cqe cqe = { 0 };

	/*
	 * Linux <= 6.7 on a controller reset: I/O queues are live and the
	 * host updates its (zeroed) shadow and kicks before it sends Doorbell
	 * Buffer Config.  The kick is held, then served from the shadow.
	 */
	make_ioq(e, 8, 8);
	s = rw(NVME_NVM_READ, 0, 1, DATA, 0);
	io_send_noring(e, &s);
	*shadow(e, DBS_PAGE, 2) = e->sq_tail;
	nvme_ctrl_doorbell_kick(e->c, 2);
	assert_int_equal(e->submitted, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY);
	s = cmd(NVME_ADMIN_DBBUF_CONFIG, 0, 0, DBS_PAGE);
	s.dptr.prp.prp2 = EIS_PAGE;
	assert_int_equal(admin(e, s, NULL), 0);
	assert_int_equal(e->submitted, 1);
	assert_true(io_reap_noring(e, &cqe));
	assert_int_equal(*shadow(e, EIS_PAGE, 2), e->sq_tail);
	/* The CQ doorbell was never kicked: its shadow starts at the known head. */
	assert_int_equal(*shadow(e, DBS_PAGE, 3), 0);

	/* Admin doorbells must never be ioeventfds: the card is broken. */
	nvme_ctrl_doorbell_kick(e->c, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY | NVME_CSTS_CFS);
	/* A reset clears it. */
	w32(e, NVME_REG_CC, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS), 0);
	memset(e->ram + ACQ, 0, 4096);
	enable(e);
}

static void test_aer_bad_doorbell(void **state)
{
	struct env *e = *state;
	struct nvme_sqe aer = { .opc = NVME_ADMIN_ASYNC_EVENT };
	struct nvme_error_log *log = (void *)(e->ram + DATA);
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 8, 8);
	for (int i = 0; i < 4; i++) {
		aer = (struct nvme_sqe){ .opc = NVME_ADMIN_ASYNC_EVENT };
		admin_send(e, &aer);
	}
	assert_false(admin_reap(e, &cqe));
	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_ASYNC_EVENT }, NULL),
			 NVME_SC_AER_LIMIT);

	/* A doorbell of a queue that does not exist. */
	w32(e, NVME_REG_DBS + 3 * 8, 1);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(nvme_cqe_code(cqe.status), 0);
	assert_int_equal(cqe.dw0, NVME_AER_DW0(NVME_AER_TYPE_ERROR,
					       NVME_AER_INFO_ERR_INVALID_DB, NVME_LOG_ERROR));
	/* Masked until the log is read: an invalid value is not reported yet. */
	w32(e, NVME_REG_DBS + 8, 8);
	assert_false(admin_reap(e, &cqe));
	assert_int_equal(e->submitted, 0);
	/* Reading the Error log (RAE clear) unmasks; 8 entries = 128 dwords. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE,
				      127u << 16 | NVME_LOG_ERROR, 0, DATA), NULL), 0);
	assert_true(log[0].error_count >= 2);
	assert_int_equal(log[0].sqid, 1);
	assert_int_equal(log[1].sqid, 3);
	/* CQ head past the tail: Invalid Doorbell Write Value. */
	w32(e, NVME_REG_DBS + 12, 3);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.dw0, NVME_AER_DW0(NVME_AER_TYPE_ERROR,
					       NVME_AER_INFO_ERR_INVALID_DB_VALUE, NVME_LOG_ERROR));
	/* A kick for a queue that does not exist is the same error. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE,
				      15u << 16 | NVME_LOG_ERROR, 0, DATA), NULL), 0);
	nvme_ctrl_doorbell_kick(e->c, 2 * 4);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.dw0 & 0xff00, NVME_AER_INFO_ERR_INVALID_DB << 8);
}

static void test_features(void **state)
{
	struct env *e = *state;
	uint32_t dw0;
	struct nvme_cqe cqe = { 0 };
	struct nvme_sqe aer = { .opc = NVME_ADMIN_ASYNC_EVENT }, set;

	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_NUM_QUEUES, 0, 0),
			       &dw0), 0);
	assert_int_equal(dw0, (MAX_IOQS - 1) << 16 | (MAX_IOQS - 1));
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_NUM_QUEUES,
				      0x00070007, 0), &dw0), 0);
	assert_int_equal(dw0, (MAX_IOQS - 1) << 16 | (MAX_IOQS - 1));
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES,
				      NVME_FEAT_ARBITRATION | NVME_FEAT_CDW10_SV, 0, 0), NULL),
			 NVME_SC_FEATURE_NOT_SAVEABLE);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_POWER_MGMT, 1, 0),
			       NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, 0x7e, 0, 0), NULL),
			 NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_VOLATILE_WC, 0, 0),
			       NULL), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_VOLATILE_WC, 0, 0),
			       &dw0), 0);
	assert_int_equal(dw0, 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_VOLATILE_WC |
				      NVME_FEAT_SEL_DEFAULT << 8, 0, 0), &dw0), 0);
	assert_int_equal(dw0, 1);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_ARBITRATION |
				      NVME_FEAT_SEL_SUPPORTED << 8, 0, 0), &dw0), 0);
	assert_int_equal(dw0, NVME_FEAT_CAP_CHANGEABLE);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_IRQ_CONFIG,
				      VECTORS, 0), NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_ABORT, 1u << 16 | 1, 0, 0), &dw0), 0);
	assert_int_equal(dw0 & 1, 1);   /* not aborted */

	/* Over-temperature threshold below the composite temperature: AEN. */
	admin_send(e, &aer);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_ASYNC_EVENT,
				      NVME_SMART_CRIT_TEMPERATURE, 0), NULL), 0);
	set = cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_TEMP_THRESH, 250, 0);
	admin_send(e, &set);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, aer.cid);
	assert_int_equal(cqe.dw0, NVME_AER_DW0(NVME_AER_TYPE_SMART,
					       NVME_AER_INFO_SMART_TEMPERATURE, NVME_LOG_SMART));
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, set.cid);
	assert_int_equal(nvme_cqe_code(cqe.status), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_TEMP_THRESH, 0, 0),
			       &dw0), 0);
	assert_int_equal(dw0, 250);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_TEMP_THRESH,
				      1u << 16 | 300, 0), NULL), NVME_SC_INVALID_FIELD);
}

static void test_coalescing(void **state)
{
	struct env *e = *state;
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 16, 16);
	/* Threshold 3 entries (0's based 2), time 200 us. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_IRQ_COALESCE,
				      2u << 8 | 2, 0), NULL), 0);
	for (unsigned i = 0; i < 5; i++) {
		struct nvme_sqe s = rw(NVME_NVM_READ, i, 1, DATA, 0);

		io_send(e, &s);
	}
	assert_int_equal(e->irqs[1], 1);
	assert_int_equal(nvme_ctrl_irq_hold_us(e->c), 200);
	nvme_ctrl_irq_flush(e->c);
	assert_int_equal(e->irqs[1], 2);
	assert_int_equal(nvme_ctrl_irq_hold_us(e->c), 0);
	while (io_reap(e, &cqe))
		;
	/* Coalescing disabled for the vector: every completion interrupts. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_IRQ_CONFIG,
				      NVME_IRQCFG_CD | 1, 0), NULL), 0);
	assert_int_equal(io(e, rw(NVME_NVM_READ, 0, 1, DATA, 0)), 0);
	assert_int_equal(e->irqs[1], 3);
}

static void test_log_pages(void **state)
{
	struct env *e = *state;
	struct nvme_smart_log *smart = (void *)(e->ram + DATA);
	struct nvme_fw_slot_log *fw = (void *)(e->ram + DATA + 4096);
	uint64_t v;

	make_ioq(e, 16, 16);
	assert_int_equal(io(e, rw(NVME_NVM_WRITE, 0, 2, DATA + 0x10000, DATA + 0x11000)), 0);
	assert_int_equal(io(e, rw(NVME_NVM_READ, 0, 1, DATA + 0x10000, 0)), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE, 127u << 16 | NVME_LOG_SMART,
				      0, DATA), NULL), 0);
	memcpy(&v, smart->data_units_written, 8);
	assert_int_equal(v, 1);                   /* 16 units, rounded up */
	memcpy(&v, smart->host_writes, 8);
	assert_int_equal(v, 1);
	memcpy(&v, smart->host_reads, 8);
	assert_int_equal(v, 1);
	assert_int_equal(smart->composite_temp, 298);
	/* 1 KiB asked of a 512-byte page: the rest reads as zero. */
	memset(fw, 0xa5, 1024);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE, 255u << 16 | NVME_LOG_FW_SLOT,
				      0, DATA + 4096), NULL), 0);
	assert_int_equal(fw->afi, 1);
	for (unsigned i = 512; i < 1024; i++)
		assert_int_equal(e->ram[DATA + 4096 + i], 0);
	assert_memory_equal(fw->frs[0], "1.0     ", 8);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE, 127u << 16 | 0x70, 0, DATA),
			       NULL), NVME_SC_INVALID_LOG_PAGE);
	/* An offset past the page is invalid; a dword offset reads the tail. */
	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_GET_LOG_PAGE,
			       .cdw10 = NVME_LOG_SMART, .cdw12 = 516,
			       .dptr.prp.prp1 = DATA }, NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_GET_LOG_PAGE,
			       .cdw10 = NVME_LOG_SMART, .cdw12 = 32,
			       .dptr.prp.prp1 = DATA + 8192 }, NULL), 0);
	assert_int_equal(e->ram[DATA + 8192], 1); /* data_units_read */
}

/*
 * A controller standing in for one that died reports Controller Fatal
 * Status until the host enables it again: Linux resets on the CFS it reads
 * at its first timeout.
 */
static void test_state_lost(void **state)
{
	struct env *e = *state;

	w32(e, NVME_REG_CC, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS), 0);
	nvme_ctrl_state_lost(e->c);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_CFS);
	w32(e, NVME_REG_CC, 0);    /* the host's disable, already disabled */
	assert_int_equal(r32(e, NVME_REG_CSTS) & NVME_CSTS_CFS, NVME_CSTS_CFS);
	enable(e);                 /* CSTS reads RDY alone again */
}

static void test_enable_refused(void **state)
{
	struct env *e = *state;

	w32(e, NVME_REG_CC, 0);
	w64(e, NVME_REG_ASQ, RAM_SIZE);
	w32(e, NVME_REG_CC, NVME_CC_EN);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_CFS);
	w32(e, NVME_REG_CC, 0);
	w64(e, NVME_REG_ASQ, ASQ);
	w32(e, NVME_REG_CC, NVME_CC_EN | 1u << 7);     /* 8 KiB pages */
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_CFS);
	w32(e, NVME_REG_CC, 0);
	memset(e->ram + ACQ, 0, 4096);
	enable(e);
}

static void test_prp_chain_big(void **state)
{
	struct env *e = *state;
	uint64_t *list = (void *)(e->ram + DATA);
	unsigned n = 256;

	/* 1 MiB: PRP1 plus 255 list entries in one page. */
	make_ioq(e, 16, 16);
	for (unsigned i = 0; i < n - 1; i++)
		list[i] = DATA + 0x100000 + (uint64_t)(n - 1 - i) * 4096;
	fill(e, DATA + 0x100000, (size_t)n * 4096, 9);
	assert_int_equal(io(e, rw(NVME_NVM_WRITE, 0, n, DATA + 0x100000, DATA)), 0);
	assert_memory_equal(e->disk, e->ram + DATA + 0x100000, 4096);
	assert_memory_equal(e->disk + 4096, e->ram + DATA + 0x100000 + (n - 1) * 4096ull, 4096);
	assert_int_equal(io(e, rw(NVME_NVM_WRITE, 0, n + 1, DATA + 0x100000, DATA)),
			 NVME_SC_INVALID_FIELD);
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

/* xorshift64: a fixed sequence, so a failure reproduces. */
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* A guest address: mostly in the data area, sometimes odd or outside RAM. */
static uint64_t rnd_addr(void)
{
	switch (rnd() % 8) {
	case 0:
		return rnd();
	case 1:
		return RAM_SIZE - (rnd() % 8192);
	case 2:
		return DATA + (rnd() % (RAM_SIZE - DATA));
	default:
		return DATA + (rnd() % ((RAM_SIZE - DATA) / 4096)) * 4096;
	}
}

static void test_random_commands(void **state)
{
	static const uint8_t io_ops[] = { NVME_NVM_FLUSH, NVME_NVM_WRITE, NVME_NVM_READ,
					  NVME_NVM_WRITE_ZEROES, NVME_NVM_DSM, 0x05, 0x7f };
	static const uint8_t admin_ops[] = { NVME_ADMIN_IDENTIFY, NVME_ADMIN_GET_LOG_PAGE,
					     NVME_ADMIN_GET_FEATURES, NVME_ADMIN_SET_FEATURES,
					     NVME_ADMIN_ABORT, NVME_ADMIN_CREATE_CQ,
					     NVME_ADMIN_CREATE_SQ, 0x80, 0x18 };
	struct env *e = *state;
	unsigned ok_io = 0, ok_admin = 0, codes[256] = { 0 };
	uint16_t sc;

	/* Garbage everywhere a pointer may lead: PRP lists, SGL segments, DSM. */
	for (uint64_t i = DATA; i < RAM_SIZE; i += 8) {
		uint64_t v = rnd();

		memcpy(e->ram + i, &v, 8);
	}
	make_ioq(e, 16, 16);
	for (unsigned i = 0; i < 4000; i++) {
		struct nvme_sqe s;
		uint64_t w[8];

		for (unsigned j = 0; j < 8; j++)
			w[j] = rnd();
		memcpy(&s, w, sizeof(s));
		s.flags &= (uint8_t)(rnd() % 4 ? NVME_SQE_PSDT_MASK : 0xff);
		if (i % 4) {
			s.opc = io_ops[rnd() % sizeof(io_ops)];
			s.nsid = rnd() % 8 ? 1 : (uint32_t)rnd();
			s.cdw10 = (uint32_t)(rnd() % (DISK_LBAS + 8));
			s.cdw11 = rnd() % 8 ? 0 : (uint32_t)rnd();
			s.cdw12 = (uint32_t)(rnd() % 40) | (uint32_t)(rnd() & NVME_RW_FUA);
			s.dptr.prp.prp1 = rnd_addr();
			s.dptr.prp.prp2 = rnd_addr();
			if (s.flags & NVME_SQE_PSDT_MASK)
				s.dptr.sgl1.id = (uint8_t)(rnd() % 4 << 4 | (rnd() % 8 ? 0 : rnd() % 16));
			sc = io(e, s);      /* asserts one completion for this cid */
			ok_io += !sc;
			codes[sc & 0xff]++;
		} else {
			s.opc = admin_ops[rnd() % sizeof(admin_ops)];
			s.cdw10 &= rnd() % 2 ? 0xffffffff : 0x000000ff;
			s.cdw11 &= rnd() % 2 ? 0xffffffff : 0x0000ffff;
			s.dptr.prp.prp1 = rnd_addr();
			s.dptr.prp.prp2 = rnd_addr();
			ok_admin += !admin(e, s, NULL);
		}
	}
	/* Each kind of outcome was reached, not only the first check. */
	assert_true(ok_io > 500);
	assert_true(ok_admin > 50);
	assert_true(codes[NVME_SC_SC(NVME_SC_DATA_XFER_ERROR)] > 0);
	assert_true(codes[NVME_SC_SC(NVME_SC_PRP_INVALID_OFFSET)] > 10);
	assert_true(codes[NVME_SC_SC(NVME_SC_SGL_INVALID_TYPE)] > 10);
	assert_true(codes[NVME_SC_SC(NVME_SC_SGL_INVALID_DATA_LEN)] > 10);
	assert_true(codes[NVME_SC_SC(NVME_SC_LBA_RANGE)] > 10);
	/* The controller is still healthy and serves I/O. */
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY);
	assert_int_equal(io(e, rw(NVME_NVM_WRITE, 0, 1, DATA, 0)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prp_chain_big, setup_big_mdts, teardown),
		cmocka_unit_test_setup_teardown(test_sgl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cq_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_sq_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_throttled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbbuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_before_dbbuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aer_bad_doorbell, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_commands, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
