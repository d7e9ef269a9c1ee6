/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's NVMe controller (cards/ebs/nvme_ctrl.c) driven by a
 * hostile guest driver: register and doorbell accesses, admin and I/O
 * submission queues whose entries (and PRP lists, SGL segments, DSM
 * ranges, shadow doorbells) are bytes of the input, lost doorbells kicked,
 * and a backend that completes I/O at once or later.
 *
 * Guest RAM is 512 KiB at guest physical address 0, one exact-size heap
 * block: any access outside it is an AddressSanitizer report.
 *
 * Input: a configuration byte (MDTS, I/O queue pairs, MSI-X vectors, a
 * backend that holds I/O until told, a controller that replaces a dead
 * one), then operations until the input ends: a register write or read of
 * any size at any offset, guest RAM writes, the driver's conveniences
 * (enable with the admin queues at fixed places, submit an admin or I/O
 * command at its queue's tail and ring the doorbell, consume completions
 * and write the CQ head), a lost doorbell's kick, completing held I/O,
 * the interrupt coalescing timer.
 *
 * Invariants beyond "no crash":
 *  - I/O reaches the backend only valid: an I/O queue's id, a known
 *    opcode, blocks inside the namespace, for reads and writes at most
 *    MDTS of data mapped in exactly nlb blocks inside guest RAM, DSM
 *    ranges inside the namespace; an I/O is never submitted again while
 *    the backend holds it;
 *  - interrupts name a vector of the MSI-X table;
 *  - an I/O queue is deleted (ioq_delete) only after it was created, and
 *    created only once until then, with an id of an I/O queue;
 *  - BAR0 reads of registers always fill the bytes asked for.
 */
#include <stdlib.h>

#include "cards/ebs/nvme_ctrl.h"
#include "cards/ebs/nvme_prp.h"
#include "tests/fuzz/fuzz.h"

#define RAM_SIZE (512u << 10)
#define NSZE 1024u
#define MAX_IOQS 4
#define HELD_MAX 64
#define ASQ 0x1000u
#define ACQ 0x2000u

enum op {
	OP_W32, OP_MMIO, OP_POKE, OP_ENABLE, OP_ADMIN, OP_IO, OP_REAP, OP_KICK,
	OP_COMPLETE, OP_IRQ_FLUSH, OP__COUNT
};

/* What the driver knows of a queue pair (0: admin). */
struct drvq {
	uint64_t sq_base, cq_base;
	uint16_t sq_size, cq_size, sq_tail, cq_head;
	bool cq_phase;
};

static struct {
	uint8_t *ram;
	struct nvme_ctrl *c;
	struct nvme_ctrl_params p;
	bool hold;
	struct nvme_io *held[HELD_MAX];
	unsigned nheld;
	bool created[MAX_IOQS + 1];
	struct drvq q[MAX_IOQS + 1];
	uint8_t disk_block[4096];
} f;

static void *dma_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	return gpa < RAM_SIZE && len <= RAM_SIZE - gpa ? f.ram + gpa : NULL;
}

static bool in_ram(const struct iovec *v)
{
	return fuzz_inside(v->iov_base, v->iov_len, f.ram, RAM_SIZE);
}

static void check_io(const struct nvme_io *io)
{
	uint64_t total = 0;

	FUZZ_CHECK(io->sqid >= 1 && io->sqid <= f.p.max_ioqs);
	for (unsigned i = 0; i < f.nheld; i++)
		FUZZ_CHECK(f.held[i] != io);
	switch (io->opcode) {
	case NVME_NVM_READ:
	case NVME_NVM_WRITE:
		FUZZ_CHECK(io->iovcnt >= 1);
		for (unsigned i = 0; i < io->iovcnt; i++) {
			FUZZ_CHECK(io->iov[i].iov_len > 0 && in_ram(&io->iov[i]));
			total += io->iov[i].iov_len;
		}
		FUZZ_CHECK(total == (uint64_t)io->nlb << NVME_CTRL_LBA_SHIFT);
		FUZZ_CHECK(total <= (uint64_t)NVME_PAGE_SIZE << f.p.mdts);
		/* fall through */
	case NVME_NVM_WRITE_ZEROES:
		FUZZ_CHECK(io->nlb >= 1 && io->nlb <= NSZE && io->slba <= NSZE - io->nlb);
		break;
	case NVME_NVM_DSM:
		FUZZ_CHECK(io->ranges && io->nr_ranges >= 1 && io->nr_ranges <= 256);
		for (unsigned i = 0; i < io->nr_ranges; i++)
			FUZZ_CHECK(io->ranges[i].nlb <= NSZE &&
				   io->ranges[i].slba <= NSZE - io->ranges[i].nlb);
		break;
	default:
		FUZZ_CHECK(io->opcode == NVME_NVM_FLUSH);
	}
}

/* What a RAM disk of one block does with the data: touch every byte. */
static void backend_do(struct nvme_io *io)
{
	if (io->opcode == NVME_NVM_READ)
		for (unsigned i = 0; i < io->iovcnt; i++)
			memset(io->iov[i].iov_base, 0x5a, io->iov[i].iov_len);
	else if (io->opcode == NVME_NVM_WRITE)
		for (unsigned i = 0; i < io->iovcnt; i++)
			nvme_iov_to_buf(&io->iov[i], 1, f.disk_block,
					io->iov[i].iov_len < 4096 ? io->iov[i].iov_len : 4096);
}

static int io_submit(void *opaque, struct nvme_io *io)
{
	(void)opaque;
	check_io(io);
	if (f.hold && f.nheld < HELD_MAX) {
		f.held[f.nheld++] = io;
		return 0;
	}
	backend_do(io);
	nvme_ctrl_io_complete(f.c, io, 0);
	return 0;
}

static void irq(void *opaque, unsigned vector)
{
	(void)opaque;
	FUZZ_CHECK(vector < f.p.nr_vectors);
}

static int ioq_create(void *opaque, uint16_t qid)
{
	(void)opaque;
	FUZZ_CHECK(qid >= 1 && qid <= f.p.max_ioqs && !f.created[qid]);
	f.created[qid] = true;
	return 0;
}

static void ioq_delete(void *opaque, uint16_t qid)
{
	(void)opaque;
	FUZZ_CHECK(qid >= 1 && qid <= f.p.max_ioqs && f.created[qid]);
	f.created[qid] = false;
}

static void w32(uint64_t off, uint32_t v)
{
	nvme_ctrl_mmio(f.c, off, &v, 4, true);
}

/* The driver's side of submitting: the entry at the tail, then the doorbell. */
static void submit(unsigned qid, struct nvme_sqe *sqe)
{
	struct drvq *q = &f.q[qid];
	uint64_t at = q->sq_base + (uint64_t)q->sq_tail * sizeof(*sqe);

	if (!q->sq_size || at > RAM_SIZE - sizeof(*sqe))
		return;
	/* Remember where the driver put its I/O queues. */
	if (qid == 0 && (sqe->opc == NVME_ADMIN_CREATE_SQ || sqe->opc == NVME_ADMIN_CREATE_CQ)) {
		unsigned id = sqe->cdw10 & 0xffff;
		uint16_t size = (uint16_t)((sqe->cdw10 >> 16) + 1);

		if (id >= 1 && id <= MAX_IOQS) {
			struct drvq *io = &f.q[id];

			if (sqe->opc == NVME_ADMIN_CREATE_SQ) {
				io->sq_base = sqe->dptr.prp.prp1;
				io->sq_size = size;
				io->sq_tail = 0;
			} else {
				io->cq_base = sqe->dptr.prp.prp1;
				io->cq_size = size;
				io->cq_head = 0;
				io->cq_phase = true;
			}
		}
	}
	memcpy(f.ram + at, sqe, sizeof(*sqe));
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->sq_size);
	w32(NVME_REG_DBS + 8u * qid, q->sq_tail);
}

/* Consume up to @n posted completions of CQ @qid, then write its head. */
static void reap(unsigned qid, unsigned n)
{
	struct drvq *q = &f.q[qid];
	unsigned done = 0;

	while (q->cq_size && done < n) {
		uint64_t at = q->cq_base + (uint64_t)q->cq_head * sizeof(struct nvme_cqe);
		struct nvme_cqe cqe;

		if (at > RAM_SIZE - sizeof(cqe))
			break;
		memcpy(&cqe, f.ram + at, sizeof(cqe));
		if ((cqe.status & NVME_STATUS_P) != q->cq_phase)
			break;
		if (++q->cq_head == q->cq_size) {
			q->cq_head = 0;
			q->cq_phase = !q->cq_phase;
		}
		done++;
	}
	if (q->cq_size)
		w32(NVME_REG_DBS + 8u * qid + 4, q->cq_head);
}

static void enable(uint8_t depth)
{
	struct drvq *a = &f.q[0];

	*a = (struct drvq){ .sq_base = ASQ, .cq_base = ACQ, .sq_size = depth,
			    .cq_size = depth, .cq_phase = true };
	w32(NVME_REG_AQA, (uint32_t)(depth - 1) << 16 | (depth - 1));
	w32(NVME_REG_ASQ, ASQ);
	w32(NVME_REG_ASQ + 4, 0);
	w32(NVME_REG_ACQ, ACQ);
	w32(NVME_REG_ACQ + 4, 0);
	w32(NVME_REG_CC, NVME_CC_EN | NVME_SQES_LOG2 << 16 | NVME_CQES_LOG2 << 20);
}

static void mmio(struct fuzz_in *in)
{
	uint64_t off = fuzz_u16(in), v = fuzz_u64(in), canary;
	uint8_t how = fuzz_u8(in);
	uint32_t len = how & 15;
	uint8_t buf[24];

	if (len > 8)
		len = 8;
	if (how & 0x10) {
		memcpy(buf, &v, sizeof(v));
		nvme_ctrl_mmio(f.c, off, buf, len, true);
		return;
	}
	/* A read fills the bytes asked for and not one more. */
	memset(buf, 0xee, sizeof(buf));
	nvme_ctrl_mmio(f.c, off, buf, len, false);
	memcpy(&canary, buf + len, sizeof(canary));
	FUZZ_CHECK(canary == 0xeeeeeeeeeeeeeeeeull);
}

static void complete_one(unsigned i, uint16_t status)
{
	struct nvme_io *io = f.held[i];

	f.held[i] = f.held[--f.nheld];
	if (!status)
		backend_do(io);
	nvme_ctrl_io_complete(f.c, io, status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct nvme_ctrl_ops ops = {
		.dma_ptr = dma_ptr, .io_submit = io_submit, .irq = irq,
		.ioq_create = ioq_create, .ioq_delete = ioq_delete,
	};
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t cfg = fuzz_u8(&in);
	struct nvme_sqe sqe;

	if (!f.ram)
		f.ram = malloc(RAM_SIZE);
	FUZZ_CHECK(f.ram);
	memset(f.ram, 0, RAM_SIZE);
	memset(f.created, 0, sizeof(f.created));
	memset(f.q, 0, sizeof(f.q));
	f.nheld = 0;
	f.hold = cfg & 0x80;
	f.p = (struct nvme_ctrl_params){
		.volume_id = "vol-fuzz", .firmware = "1.0", .nsze = NSZE,
		.max_ioqs = (uint16_t)(cfg >> 3 & 3) + 1, .nr_vectors = (uint16_t)(cfg >> 5 & 1) + 2,
		.mqes = 63, .mdts = (uint8_t)(cfg & 7) + 1,
	};
	FUZZ_CHECK(nvme_ctrl_create(&f.c, &f.p, &ops, NULL) == 0);
	if (cfg & 0x40)
		nvme_ctrl_state_lost(f.c);

	while (!fuzz_empty(&in)) {
		switch (fuzz_u8(&in) % OP__COUNT) {
		case OP_W32: {
			uint16_t off = fuzz_u16(&in);

			w32(off, fuzz_u32(&in));
			break;
		}
		case OP_MMIO:
			mmio(&in);
			break;
		case OP_POKE: {
			uint32_t off = fuzz_u32(&in) % RAM_SIZE;
			size_t n = fuzz_u16(&in);

			fuzz_bytes(&in, f.ram + off, n < RAM_SIZE - off ? n : RAM_SIZE - off);
			break;
		}
		case OP_ENABLE:
			enable((uint8_t)(fuzz_u8(&in) % 63 + 2));
			break;
		case OP_ADMIN:
			fuzz_bytes(&in, &sqe, sizeof(sqe));
			submit(0, &sqe);
			break;
		case OP_IO: {
			unsigned qid = fuzz_u8(&in) % MAX_IOQS + 1;

			fuzz_bytes(&in, &sqe, sizeof(sqe));
			submit(qid, &sqe);
			break;
		}
		case OP_REAP: {
			unsigned qid = fuzz_u8(&in) % (MAX_IOQS + 1);

			reap(qid, fuzz_u8(&in));
			break;
		}
		case OP_KICK:
			nvme_ctrl_doorbell_kick(f.c, fuzz_u16(&in) % (2 * (MAX_IOQS + 2)));
			break;
		case OP_COMPLETE: {
			uint8_t i = fuzz_u8(&in);
			uint16_t status = fuzz_u16(&in);

			/* Success half the time, else any status (no phase bit). */
			if (f.nheld)
				complete_one(i % f.nheld, status & 1 ? status & ~1u : 0);
			break;
		}
		case OP_IRQ_FLUSH:
			if (nvme_ctrl_irq_hold_us(f.c))
				nvme_ctrl_irq_flush(f.c);
			break;
		}
	}
	/* The backend finishes what it holds before the controller goes. */
	while (f.nheld)
		complete_one(f.nheld - 1, 0);
	nvme_ctrl_destroy(f.c);
	return 0;
}
