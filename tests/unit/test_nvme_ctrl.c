/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's NVMe controller (cards/ebs/nvme_ctrl.c) against NVMe Base
 * 2.0 and NVM 1.0, driven as a host driver would (tests/unit/nvme_ctrl_env.h):
 * registers, PRPs and SGLs, I/O checks, completion queues, reset and
 * shutdown, interrupt coalescing, and random commands.  The admin command
 * set is test_nvme_admin.c's.
 */
#include "tests/unit/nvme_ctrl_env.h"

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
		cmocka_unit_test_setup_teardown(test_prp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prp_chain_big, setup_big_mdts, teardown),
		cmocka_unit_test_setup_teardown(test_sgl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cq_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_commands, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
