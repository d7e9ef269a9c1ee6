/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/nvme.h"

#include "tests/guest/apic.h"
#include "tests/guest/idt.h"
#include "tests/guest/io.h"
#include "tests/guest/lib.h"
#include "tests/guest/pci.h"
#include "tests/guest/tsc.h"
#include "tests/guest/user.h"

#define NVME_CMD_TIMEOUT_MS 10000
/* How long a function may stay away (a card restart is well under this),
 * and how many resets one nvme_init allows before the driver gives up. */
#define NVME_RECOVER_MS   60000
#define NVME_RESETS_MAX   8
#define NVME_RECOVER_POLL_MS 10

/* CC fields we set (Base, "Controller Configuration"): NVM command set,
 * 4 KiB pages (MPS 0), round robin, 64-byte SQEs and 16-byte CQEs. */
#define CC_IOSQES_64 (6u << 16)
#define CC_IOCQES_16 (4u << 20)

/* Identify (Base, "Identify command"): CNS values and data offsets. */
#define CNS_NAMESPACE  0x00
#define CNS_CONTROLLER 0x01
#define IDC_SN    4
#define IDC_MN    24
#define IDC_FR    64
#define IDC_MDTS  77
#define IDC_VER   80
#define IDC_OACS  256
#define IDC_NN    516
#define IDC_SGLS  536
#define OACS_DBBUF (1u << 8)
#define SGLS_SUPPORTED(sgls) ((sgls) & 3)
/* NVM, "Identify Namespace data structure". */
#define IDNS_NSZE  0
#define IDNS_FLBAS 26
#define IDNS_LBAF  128

#define FEAT_NUM_QUEUES 0x07
#define CQ_IRQ_ENABLED    (1u << 1)

/* Admin queues, I/O queues and the two Doorbell Buffer Config pages. */
static struct nvme_sqe admin_sq[NVME_ADMIN_QSIZE] __attribute__((aligned(4096)));
static struct nvme_cqe admin_cq[NVME_ADMIN_QSIZE] __attribute__((aligned(4096)));
static struct nvme_sqe io_sq[NVME_MAX_IOQ][NVME_IO_QSIZE_MAX] __attribute__((aligned(4096)));
/* Queue bases are page aligned (Base, "Create I/O Completion Queue"). */
static struct nvme_cqe io_cq[NVME_MAX_IOQ][NVME_PAGE_SIZE / sizeof(struct nvme_cqe)]
	__attribute__((aligned(4096)));
static uint32_t dbbuf_shadow[1024] __attribute__((aligned(4096)));
static uint32_t dbbuf_eventidx[1024] __attribute__((aligned(4096)));
static uint8_t identify_buf[4096] __attribute__((aligned(4096)));

static volatile uint64_t irq_count;
static uint64_t doorbell_rings, doorbell_writes;

static uint32_t reg_read(const struct nvme_ctrl *c, uint32_t reg)
{
	return mmio_read32(c->bar + reg);
}

static void reg_write(const struct nvme_ctrl *c, uint32_t reg, uint32_t v)
{
	mmio_write32(c->bar + reg, v);
}

/* Low dword first, as Linux's lo_hi_writeq: a controller may take either. */
static void reg_write64(const struct nvme_ctrl *c, uint32_t reg, uint64_t v)
{
	reg_write(c, reg, (uint32_t)v);
	reg_write(c, reg + 4, (uint32_t)(v >> 32));
}

static void nvme_isr(struct isr_frame *f)
{
	(void)f;
	irq_count++;
	lapic_eoi();
}

uint64_t nvme_irq_count(void)
{
	return irq_count;
}

uint64_t nvme_doorbell_rings(void)
{
	return doorbell_rings;
}

uint64_t nvme_doorbell_writes(void)
{
	return doorbell_writes;
}

uint16_t nvme_alloc_cid(struct nvme_ctrl *c)
{
	return c->next_cid++;
}

unsigned int nvme_sq_space(const struct nvme_queue *q)
{
	return (unsigned int)(q->sq_head + q->size - q->sq_tail - 1) % q->size;
}

void nvme_sq_push(struct nvme_queue *q, const struct nvme_sqe *sqe)
{
	q->sq[q->sq_tail] = *sqe;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->size);
}

/*
 * Base, "Doorbell Buffer Config": the controller asks for an MMIO doorbell
 * write only when the new value passes the EventIdx it published, the same
 * window test as virtio's used_event (Linux nvme_dbbuf_need_event).
 */
static bool dbbuf_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

/*
 * The admin queue always gets the MMIO write as well: Linux never shadows
 * it, so a controller may or may not; updating both suits either reading.
 */
static void ring(uintptr_t db, volatile uint32_t *shadow, volatile uint32_t *eventidx,
		 uint16_t value, bool always)
{
	doorbell_rings++;
	if (shadow) {
		uint16_t old = (uint16_t)*shadow;

		/* x86 keeps stores in order: the SQEs are visible before the
		 * shadow value; the fence orders that store before the
		 * EventIdx load, which the controller pairs with its own. */
		*shadow = value;
		__asm__ volatile("mfence" ::: "memory");
		if (!always && !dbbuf_need_event((uint16_t)*eventidx, value, old))
			return;
	}
	doorbell_writes++;
	mmio_write32(db, value);
}

void nvme_sq_ring(struct nvme_queue *q)
{
	__asm__ volatile("" ::: "memory");
	ring(q->sq_db, q->sq_shadow, q->sq_eventidx, q->sq_tail, q->qid == 0);
}

bool nvme_cq_pop(struct nvme_queue *q, struct nvme_cqe *out)
{
	volatile struct nvme_cqe *e = &q->cq[q->cq_head];

	if ((e->status & NVME_STATUS_P) != q->phase)
		return false;
	/* x86 does not reorder loads: the rest of the entry is current. */
	__asm__ volatile("" ::: "memory");
	out->dw0 = e->dw0;
	out->dw1 = e->dw1;
	out->sqhd = e->sqhd;
	out->sqid = e->sqid;
	out->cid = e->cid;
	out->status = e->status;
	if (out->sqhd < q->size)
		q->sq_head = out->sqhd;
	if (++q->cq_head == q->size) {
		q->cq_head = 0;
		q->phase ^= 1;
	}
	return true;
}

void nvme_cq_ring(struct nvme_queue *q)
{
	ring(q->cq_db, q->cq_shadow, q->cq_eventidx, q->cq_head, q->qid == 0);
}

void nvme_idle(const struct nvme_ctrl *c)
{
	if (c->irq)
		cpu_wait_irq();
	else
		cpu_relax();
}

int nvme_wait_cid(struct nvme_ctrl *c, struct nvme_queue *q, uint16_t cid,
		  struct nvme_cqe *cqe, uint32_t timeout_ms)
{
	uint64_t deadline = tsc_deadline_ms(timeout_ms);

	for (;;) {
		bool popped = false, found = false;

		/* At most a queue's worth per pass: a controller that posts
		 * without end must not keep us from the deadline. */
		for (unsigned int n = 0; !found && n < q->size && nvme_cq_pop(q, cqe); n++) {
			popped = true;
			if (cqe->cid == cid)
				found = true;
			else
				report("cvguest: nvme unexpected completion q%u cid %u status "
					NVME_CODE_FMT "\n", q->qid, cqe->cid,
					NVME_CODE_ARGS(nvme_cqe_code(cqe->status)));
		}
		if (popped)
			nvme_cq_ring(q);
		if (found)
			return 0;
		if (rdtsc() > deadline)
			return -ETIMEDOUT;
		nvme_idle(c);
	}
}

int nvme_exec(struct nvme_ctrl *c, struct nvme_queue *q, struct nvme_sqe *sqe,
	      struct nvme_cqe *cqe, uint32_t timeout_ms)
{
	if (!nvme_sq_space(q))
		return -EBUSY;
	sqe->cid = nvme_alloc_cid(c);
	nvme_sq_push(q, sqe);
	nvme_sq_ring(q);
	return nvme_wait_cid(c, q, sqe->cid, cqe, timeout_ms);
}

int nvme_admin(struct nvme_ctrl *c, struct nvme_sqe *sqe, struct nvme_cqe *cqe)
{
	int err = nvme_exec(c, &c->admin, sqe, cqe, NVME_CMD_TIMEOUT_MS);

	if (err) {
		report("cvguest: nvme admin opcode 0x%x timed out\n", sqe->opc);
		return err;
	}
	if (nvme_cqe_code(cqe->status)) {
		report("cvguest: nvme admin opcode 0x%x status " NVME_CODE_FMT "\n",
			sqe->opc, NVME_CODE_ARGS(nvme_cqe_code(cqe->status)));
		return -EIO;
	}
	return 0;
}

int nvme_map(struct nvme_sqe *sqe, const void *buf, uint32_t len, uint64_t *list,
	     bool sgl)
{
	uint64_t addr = (uintptr_t)buf;
	uint32_t first = NVME_PAGE_SIZE - (uint32_t)(addr & (NVME_PAGE_SIZE - 1));
	uint64_t next = (addr & ~(uint64_t)(NVME_PAGE_SIZE - 1)) + NVME_PAGE_SIZE;
	uint32_t rest = len > first ? len - first : 0;
	uint32_t pages = (rest + NVME_PAGE_SIZE - 1) / NVME_PAGE_SIZE;

	sqe->flags &= (uint8_t)~NVME_SQE_PSDT_MASK;
	if (!sgl) {
		if (pages > NVME_PAGE_SIZE / sizeof(uint64_t))
			return -EINVAL;
		sqe->dptr.prp.prp1 = addr;
		sqe->dptr.prp.prp2 = pages == 0 ? 0 : pages == 1 ? next : (uintptr_t)list;
		for (uint32_t i = 0; pages > 1 && i < pages; i++)
			list[i] = next + (uint64_t)i * NVME_PAGE_SIZE;
		return 0;
	}

	struct nvme_sgl_desc *d = (struct nvme_sgl_desc *)list;
	const uint8_t block = NVME_SGL_ID(NVME_SGL_TYPE_DATA_BLOCK, NVME_SGL_SUBTYPE_ADDRESS);

	if (1 + pages > NVME_PAGE_SIZE / sizeof(*d))
		return -EINVAL;
	sqe->flags |= NVME_SQE_PSDT_SGL_MPTR_BUF;
	if (!pages) {
		sqe->dptr.sgl1 = (struct nvme_sgl_desc){ .addr = addr, .length = len, .id = block };
		return 0;
	}
	d[0] = (struct nvme_sgl_desc){ .addr = addr, .length = first, .id = block };
	for (uint32_t i = 0; i < pages; i++) {
		uint32_t n = rest < NVME_PAGE_SIZE ? rest : NVME_PAGE_SIZE;

		d[1 + i] = (struct nvme_sgl_desc){ .addr = next + (uint64_t)i * NVME_PAGE_SIZE,
						   .length = n, .id = block };
		rest -= n;
	}
	sqe->dptr.sgl1 = (struct nvme_sgl_desc){
		.addr = (uintptr_t)list,
		.length = (1 + pages) * (uint32_t)sizeof(*d),
		.id = NVME_SGL_ID(NVME_SGL_TYPE_LAST_SEGMENT, NVME_SGL_SUBTYPE_ADDRESS),
	};
	return 0;
}

void nvme_rw_sqe(struct nvme_sqe *sqe, uint8_t opc, uint64_t slba, uint32_t nlb)
{
	*sqe = (struct nvme_sqe){
		.opc = opc,
		.nsid = 1,
		.cdw10 = (uint32_t)slba,
		.cdw11 = (uint32_t)(slba >> 32),
		.cdw12 = (nlb - 1) & NVME_RW_NLB_MASK,
	};
}

/* CSTS.RDY follows CC.EN within CAP.TO (Base, "Controller Status"). */
static int wait_ready(const struct nvme_ctrl *c, bool ready)
{
	uint64_t deadline = tsc_deadline_ms(c->timeout_ms);

	for (;;) {
		uint32_t csts = reg_read(c, NVME_REG_CSTS);

		if (csts == 0xffffffff)
			return -ENODEV;
		if (ready && (csts & NVME_CSTS_CFS))
			return -EIO;
		if (!!(csts & NVME_CSTS_RDY) == ready)
			return 0;
		if (rdtsc() > deadline)
			return -ETIMEDOUT;
		cpu_relax();
	}
}

static void queue_init(const struct nvme_ctrl *c, struct nvme_queue *q, uint16_t qid,
		       uint16_t size, struct nvme_sqe *sq, struct nvme_cqe *cq)
{
	uint32_t stride = c->db_stride / 4;

	memset(cq, 0, size * sizeof(*cq));
	*q = (struct nvme_queue){
		.qid = qid,
		.size = size,
		.sq = sq,
		.cq = cq,
		.phase = 1,
		.sq_db = c->bar + NVME_REG_DBS + 2u * qid * c->db_stride,
		.cq_db = c->bar + NVME_REG_DBS + (2u * qid + 1) * c->db_stride,
	};
	if (c->dbbuf) {
		/* The same layout as the doorbell registers, in memory. */
		q->sq_shadow = &dbbuf_shadow[2u * qid * stride];
		q->sq_eventidx = &dbbuf_eventidx[2u * qid * stride];
		q->cq_shadow = &dbbuf_shadow[(2u * qid + 1) * stride];
		q->cq_eventidx = &dbbuf_eventidx[(2u * qid + 1) * stride];
		*q->sq_shadow = *q->sq_eventidx = *q->cq_shadow = *q->cq_eventidx = 0;
	}
}

static int find_function(struct nvme_ctrl *c)
{
	if (pci_find_class(NVME_PCI_CLASS, &c->dev, &c->fn)) {
		report("cvguest: nvme no controller found\n");
		return -ENODEV;
	}
	uint64_t bar = pci_bar_mem(c->dev, c->fn, 0);
	/* entry.S maps the first 4 GiB only. */
	if (!bar || bar >= 0x100000000ull) {
		report("cvguest: nvme bar0 0x%lx not usable\n", bar);
		return -ENODEV;
	}
	c->bar = (uintptr_t)bar;
	uint32_t cmd = pci_cfg_read32(0, c->dev, c->fn, PCI_COMMAND) & 0xffff;
	pci_cfg_write32(0, c->dev, c->fn, PCI_COMMAND,
			cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			PCI_COMMAND_INTX_DISABLE);
	return 0;
}

/*
 * MSI-X entry i raises NVME_IRQ_VECTOR_BASE + i on this CPU.  Entries past
 * @nvec stay masked; with fewer entries than queues, CQs share them.
 */
static void msix_setup(struct nvme_ctrl *c, unsigned int nvec)
{
	struct pci_msix m;

	c->msix_size = 0;
	if (pci_msix_find(c->dev, c->fn, &m))
		return;
	c->msix_size = m.size;
	c->msix_used = (uint16_t)(nvec < m.size ? nvec : m.size);
	if (!nvec)
		return;
	for (uint16_t i = 0; i < m.size; i++) {
		if (i >= c->msix_used) {
			pci_msix_mask(&m, i);
			continue;
		}
		idt_set_handler((uint8_t)(NVME_IRQ_VECTOR_BASE + i), nvme_isr);
		pci_msix_route(&m, i, lapic_id(), (uint8_t)(NVME_IRQ_VECTOR_BASE + i));
	}
	pci_msix_enable(c->dev, c->fn, &m, true);
}

static void copy_id_string(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
	while (n && (dst[n - 1] == ' ' || !dst[n - 1]))
		dst[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (dst[i] < 0x20 || dst[i] > 0x7e || dst[i] == '"')
			dst[i] = '?';
}

static uint32_t le32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int identify(struct nvme_ctrl *c, uint32_t cns, uint32_t nsid)
{
	struct nvme_sqe sqe = { .opc = NVME_ADMIN_IDENTIFY, .nsid = nsid, .cdw10 = cns };
	struct nvme_cqe cqe;

	memset(identify_buf, 0, sizeof(identify_buf));
	nvme_map(&sqe, identify_buf, sizeof(identify_buf), NULL, false);
	return nvme_admin(c, &sqe, &cqe);
}

static int identify_all(struct nvme_ctrl *c)
{
	const uint8_t *id = identify_buf;
	int err = identify(c, CNS_CONTROLLER, 0);

	if (err)
		return err;
	copy_id_string(c->serial, id + IDC_SN, 20);
	copy_id_string(c->model, id + IDC_MN, 40);
	copy_id_string(c->fw, id + IDC_FR, 8);
	c->mdts = id[IDC_MDTS];
	c->vs = le32_at(id + IDC_VER);
	c->oacs = (uint16_t)le32_at(id + IDC_OACS);
	c->nn = le32_at(id + IDC_NN);
	c->sgls = le32_at(id + IDC_SGLS);
	c->sgl = SGLS_SUPPORTED(c->sgls);
	/* MDTS is in units of CAP.MPSMIN, which is 4 KiB here; 0: no limit. */
	c->max_xfer = NVME_PAGE_SIZE * (NVME_PAGE_SIZE / sizeof(uint64_t));
	if (c->mdts && c->mdts < 20 && (NVME_PAGE_SIZE << c->mdts) < c->max_xfer)
		c->max_xfer = NVME_PAGE_SIZE << c->mdts;
	report("cvguest: nvme ctrl model=\"%s\" serial=\"%s\" fw=\"%s\" mdts=%u oacs=0x%x "
		"sgls=0x%x nn=%u\n", c->model, c->serial, c->fw, c->mdts, c->oacs,
		c->sgls, c->nn);

	err = identify(c, CNS_NAMESPACE, 1);
	if (err)
		return err;
	memcpy(&c->nsze, id + IDNS_NSZE, sizeof(c->nsze));
	uint32_t lbaf = le32_at(id + IDNS_LBAF + 4 * (id[IDNS_FLBAS] & 0xf));
	uint32_t lbads = (lbaf >> 16) & 0xff;
	uint32_t ms = lbaf & 0xffff;
	if (lbads < 9 || lbads > 12 || ms || !c->nsze) {
		report("cvguest: nvme ns 1 unusable blocks=%lu lbads=%u ms=%u\n", c->nsze,
			lbads, ms);
		return -EINVAL;
	}
	c->lba_size = 1u << lbads;
	report("cvguest: nvme ns 1 blocks=%lu lba=%u mib=%lu\n", c->nsze, c->lba_size,
		(c->nsze * c->lba_size) >> 20);
	return 0;
}

/* Base, "Number of Queues": both counts 0's based, the grant in DW0. */
static int set_num_queues(struct nvme_ctrl *c, unsigned int want)
{
	struct nvme_sqe sqe = {
		.opc = NVME_ADMIN_SET_FEATURES,
		.cdw10 = FEAT_NUM_QUEUES,
		.cdw11 = (want - 1) | (want - 1) << 16,
	};
	struct nvme_cqe cqe;
	int err = nvme_admin(c, &sqe, &cqe);

	if (err)
		return err;
	unsigned int nsq = (cqe.dw0 & 0xffff) + 1, ncq = (cqe.dw0 >> 16) + 1;
	c->nr_alloc = nsq < ncq ? nsq : ncq;
	report("cvguest: nvme queues granted sq=%u cq=%u\n", nsq, ncq);
	return 0;
}

static void dbbuf_config(struct nvme_ctrl *c)
{
	struct nvme_sqe sqe = {
		.opc = NVME_ADMIN_DBBUF_CONFIG,
		.dptr.prp = { (uintptr_t)dbbuf_shadow, (uintptr_t)dbbuf_eventidx },
	};
	struct nvme_cqe cqe;

	c->dbbuf = false;
	if (!(c->oacs & OACS_DBBUF)) {
		report("cvguest: nvme dbbuf off (not supported)\n");
		return;
	}
	memset(dbbuf_shadow, 0, sizeof(dbbuf_shadow));
	memset(dbbuf_eventidx, 0, sizeof(dbbuf_eventidx));
	if (nvme_admin(c, &sqe, &cqe))
		return;
	c->dbbuf = true;
	/* From here the admin queue's values go to its shadow slots too. */
	uint32_t stride = c->db_stride / 4;
	c->admin.sq_shadow = &dbbuf_shadow[0];
	c->admin.sq_eventidx = &dbbuf_eventidx[0];
	c->admin.cq_shadow = &dbbuf_shadow[stride];
	c->admin.cq_eventidx = &dbbuf_eventidx[stride];
	*c->admin.sq_shadow = c->admin.sq_tail;
	*c->admin.cq_shadow = c->admin.cq_head;
	report("cvguest: nvme dbbuf on\n");
}

static int create_io_queue(struct nvme_ctrl *c, unsigned int i, uint16_t size)
{
	uint16_t qid = (uint16_t)(i + 1);
	uint16_t vector = c->irq ? (uint16_t)(qid % c->msix_used) : 0;
	struct nvme_queue *q = &c->io[i];
	struct nvme_cqe cqe;

	queue_init(c, q, qid, size, io_sq[i], io_cq[i]);
	struct nvme_sqe cq = {
		.opc = NVME_ADMIN_CREATE_CQ,
		.dptr.prp.prp1 = (uintptr_t)q->cq,
		.cdw10 = (uint32_t)(size - 1) << 16 | qid,
		.cdw11 = (uint32_t)vector << 16 | (c->irq ? CQ_IRQ_ENABLED : 0) |
			 NVME_QUEUE_PHYS_CONTIG,
	};
	int err = nvme_admin(c, &cq, &cqe);
	if (err)
		return err;
	struct nvme_sqe sq = {
		.opc = NVME_ADMIN_CREATE_SQ,
		.dptr.prp.prp1 = (uintptr_t)q->sq,
		.cdw10 = (uint32_t)(size - 1) << 16 | qid,
		.cdw11 = (uint32_t)qid << 16 | NVME_QUEUE_PHYS_CONTIG,
	};
	return nvme_admin(c, &sq, &cqe);
}

static int enable(struct nvme_ctrl *c)
{
	int err;

	c->cap = (uint64_t)reg_read(c, NVME_REG_CAP + 4) << 32 | reg_read(c, NVME_REG_CAP);
	c->vs = reg_read(c, NVME_REG_VS);
	c->db_stride = 4u << NVME_CAP_DSTRD(c->cap);
	c->timeout_ms = 500 * (NVME_CAP_TO(c->cap) ? NVME_CAP_TO(c->cap) : 1);
	report("cvguest: nvme cap mqes=%u dstrd=%u to=%ums mpsmin=%u css=%u vs=%u.%u\n",
		NVME_CAP_MQES(c->cap) + 1, NVME_CAP_DSTRD(c->cap), c->timeout_ms,
		NVME_CAP_MPSMIN(c->cap), !!(c->cap & NVME_CAP_CSS_NVM), c->vs >> 16,
		(c->vs >> 8) & 0xff);
	if (NVME_CAP_MPSMIN(c->cap) || !(c->cap & NVME_CAP_CSS_NVM) ||
	    NVME_CAP_MQES(c->cap) < 1 || c->db_stride > 64) {
		report("cvguest: nvme controller capabilities unsupported\n");
		return -EINVAL;
	}

	/* Base, "Initialization": disable, wait for RDY to clear, then set up. */
	reg_write(c, NVME_REG_CC, 0);
	err = wait_ready(c, false);
	if (err) {
		report("cvguest: nvme reset failed (%d)\n", err);
		return err;
	}
	c->dbbuf = false;
	uint16_t asize = NVME_ADMIN_QSIZE;
	if (asize > NVME_CAP_MQES(c->cap) + 1)
		asize = (uint16_t)(NVME_CAP_MQES(c->cap) + 1);
	queue_init(c, &c->admin, 0, asize, admin_sq, admin_cq);
	reg_write(c, NVME_REG_AQA, (uint32_t)(asize - 1) << 16 | (asize - 1));
	reg_write64(c, NVME_REG_ASQ, (uintptr_t)admin_sq);
	reg_write64(c, NVME_REG_ACQ, (uintptr_t)admin_cq);
	reg_write(c, NVME_REG_CC, NVME_CC_EN | CC_IOSQES_64 | CC_IOCQES_16);
	err = wait_ready(c, true);
	if (err) {
		report("cvguest: nvme enable failed (%d) csts=0x%x\n", err,
			reg_read(c, NVME_REG_CSTS));
		return err;
	}
	report("cvguest: nvme ready\n");
	return 0;
}

int nvme_init(struct nvme_ctrl *c, const struct nvme_options *o)
{
	int err;

	if (!o->queues || o->queues + o->spare > NVME_MAX_IOQ || o->qsize < 2 ||
	    o->qsize > NVME_IO_QSIZE_MAX)
		return -EINVAL;
	err = find_function(c);
	if (err)
		return err;
	/* Interrupts stay off while the controller is reset. */
	c->irq = false;
	msix_setup(c, 0);
	report("cvguest: nvme pci 00:%02x.%u bar0 0x%lx msix=%u\n", c->dev, c->fn,
		(uint64_t)c->bar, c->msix_size);
	err = enable(c);
	if (err)
		return err;
	if (!o->poll && c->msix_size) {
		msix_setup(c, o->queues + 1);
		c->irq = true;
	}
	err = identify_all(c);
	if (err)
		return err;
	err = set_num_queues(c, o->queues + o->spare);
	if (err)
		return err;
	dbbuf_config(c);

	uint16_t size = (uint16_t)o->qsize;
	if (size > NVME_CAP_MQES(c->cap) + 1)
		size = (uint16_t)(NVME_CAP_MQES(c->cap) + 1);
	c->opts = *o;
	c->io_qsize = size;
	c->resets = 0;
	c->nr_io = 0;
	for (unsigned int i = 0; i < o->queues && i < c->nr_alloc; i++) {
		err = create_io_queue(c, i, size);
		if (err)
			return err;
		c->nr_io++;
	}
	report("cvguest: nvme io queues=%u qsize=%u mode=%s sgl=%u\n", c->nr_io, size,
		c->irq ? "msix" : "poll", c->sgl);
	return 0;
}

const char *nvme_fault(const struct nvme_ctrl *c)
{
	uint32_t csts = reg_read(c, NVME_REG_CSTS);

	if (csts == 0xffffffff)
		return "csts all ones";
	if (csts & NVME_CSTS_CFS)
		return "controller fatal status";
	/* We enabled it: a controller that is not ready was reset under us
	 * (a restarted card comes back with CC.EN = 0). */
	return csts & NVME_CSTS_RDY ? NULL : "controller not ready";
}

static void pause_ms(uint32_t ms)
{
	uint64_t end = tsc_deadline_ms(ms);

	while (rdtsc() < end)
		cpu_relax();
}

/* One try at what nvme_init did after finding the function; MSI-X is untouched. */
static int reinit(struct nvme_ctrl *c)
{
	int err = enable(c);

	if (!err)
		err = set_num_queues(c, c->opts.queues + c->opts.spare);
	if (err)
		return err;
	if (c->nr_alloc < c->nr_io) {
		report("cvguest: nvme queues granted %u, %u in use\n", c->nr_alloc, c->nr_io);
		return -EINVAL;
	}
	dbbuf_config(c);
	for (unsigned int i = 0; i < c->nr_io && !err; i++)
		err = create_io_queue(c, i, c->io_qsize);
	return err;
}

int nvme_recover(struct nvme_ctrl *c, const char *reason)
{
	uint64_t t0 = rdtsc(), deadline = tsc_deadline_ms(NVME_RECOVER_MS);
	int err;

	if (c->resets >= NVME_RESETS_MAX) {
		report("cvguest: nvme controller reset (%s) refused: %u resets already\n",
			reason, c->resets);
		return -EIO;
	}
	c->resets++;
	for (;;) {
		/* A function that is away reads all ones; a restarted card
		 * comes back with its controller disabled (CC.EN = 0). */
		if (reg_read(c, NVME_REG_CSTS) == 0xffffffff) {
			err = -ENODEV;
		} else {
			err = reinit(c);
			if (!err)
				break;
		}
		if (rdtsc() > deadline) {
			report("cvguest: nvme controller reset (%s) failed (%d)\n", reason, err);
			return err;
		}
		pause_ms(NVME_RECOVER_POLL_MS);
	}
	report("cvguest: nvme controller reset (%s) recovered in %lu ms\n", reason,
		(rdtsc() - t0) / (tsc_hz() / 1000));
	return 0;
}
