/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small NVMe host driver for PCIe controllers (NVM Express Base 2.0,
 * "Memory-Based Transport Model (PCIe)"): reset and enable, Identify,
 * Number of Queues, Doorbell Buffer Config (shadow doorbells with EventIdx),
 * MSI-X or polled completion queues, PRP and SGL data pointers.  Memory is
 * identity mapped, so every buffer's address is its bus address.
 */
#ifndef CVG_NVME_H
#define CVG_NVME_H

#include <stdbool.h>
#include <stdint.h>

#include "guest-abi/nvme.h"

#define NVME_PAGE_SIZE    4096u
#define NVME_MAX_IOQ      8
#define NVME_IO_QSIZE_MAX 64   /* entries: one page of SQEs */
#define NVME_ADMIN_QSIZE  32
/* MSI-X vector i (the admin CQ is 0, I/O CQ n is n) raises IDT vector
 * NVME_IRQ_VECTOR_BASE + i; the LAPIC timer uses 0x40. */
#define NVME_IRQ_VECTOR_BASE 0x50

/* Create I/O CQ/SQ CDW11 bit 0 (Base, "Create I/O Completion Queue"). */
#define NVME_QUEUE_PHYS_CONTIG (1u << 0)

/* PCI class code of an NVMe I/O controller (PCI Code and ID Assignment, 1.2). */
#define NVME_PCI_CLASS 0x010802

struct nvme_queue {
	uint16_t qid;
	uint16_t size;           /* entries */
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint16_t sq_tail;
	uint16_t sq_head;        /* as last reported by a CQE */
	uint16_t cq_head;
	uint16_t phase;
	uintptr_t sq_db, cq_db;  /* MMIO doorbells */
	/* Base, "Doorbell Buffer Config": NULL while shadow doorbells are off. */
	volatile uint32_t *sq_shadow, *sq_eventidx, *cq_shadow, *cq_eventidx;
};

struct nvme_options {
	unsigned int queues;     /* I/O queue pairs wanted, 1..NVME_MAX_IOQ */
	unsigned int spare;      /* extra queue IDs to ask for and leave unused */
	unsigned int qsize;      /* entries per I/O queue, 2..NVME_IO_QSIZE_MAX */
	bool poll;               /* no interrupts, even with MSI-X */
};

struct nvme_ctrl {
	uint8_t dev, fn;
	uintptr_t bar;
	uint64_t cap;
	uint32_t db_stride;      /* bytes */
	uint32_t timeout_ms;     /* CAP.TO */
	struct nvme_queue admin;
	struct nvme_queue io[NVME_MAX_IOQ];
	unsigned int nr_io;      /* I/O queue pairs created */
	unsigned int nr_alloc;   /* I/O queue pairs the controller granted */
	uint16_t next_cid;
	/* Identify Controller */
	char model[41], serial[21], fw[9];
	uint32_t vs, sgls, nn;
	uint16_t oacs;
	uint8_t mdts;
	uint32_t max_xfer;       /* bytes per command: MDTS and one PRP list */
	/* Identify Namespace 1 */
	uint64_t nsze;
	uint32_t lba_size;
	bool dbbuf;              /* shadow doorbells on */
	bool irq;                /* MSI-X interrupts on */
	bool sgl;                /* the controller takes SGLs for NVM I/O */
	uint16_t msix_size;      /* table entries */
	uint16_t msix_used;      /* of which programmed and unmasked */
	/* What nvme_init set up, for nvme_recover to set up again. */
	struct nvme_options opts;
	uint16_t io_qsize;
	unsigned int resets;     /* nvme_recover calls since nvme_init */
};

/* MSI-X vectors taken, all queues together. */
uint64_t nvme_irq_count(void);
/* Doorbell updates, and how many of them were MMIO writes (the rest the
 * shadow doorbell's EventIdx let us skip): each MMIO write is a VM exit. */
uint64_t nvme_doorbell_rings(void);
uint64_t nvme_doorbell_writes(void);

/*
 * Finds the first NVMe function on bus 0, resets and enables it, identifies
 * it and namespace 1, and creates the I/O queues; each step prints one
 * "cvguest: nvme ..." line.  May be called again to start over.
 */
int nvme_init(struct nvme_ctrl *c, const struct nvme_options *o);

/*
 * Why the enabled controller cannot go on, or NULL: CSTS reads all ones
 * (the function is gone, e.g. its card is being restarted), Controller
 * Fatal Status is set, or RDY is clear (it was reset under us: a restarted
 * card) (Base, "Controller Status").  One MMIO read.
 */
const char *nvme_fault(const struct nvme_ctrl *c);
/*
 * Controller Level Reset by the host (Base, "Controller Reset"): waits
 * (bounded) for the function to answer again, clears CC.EN and waits for
 * CSTS.RDY to clear (bounded by CAP.TO), enables it and creates the admin
 * queue, the I/O queues and the Doorbell Buffer Config as nvme_init did.
 * Every command not completed before is lost: the caller submits it again.
 * Prints "cvguest: nvme controller reset (@reason) recovered in N ms".
 * MMIO only, so it runs at either privilege level.
 */
int nvme_recover(struct nvme_ctrl *c, const char *reason);

/* Free SQ slots (one stays empty: Base, "Full Queue"). */
unsigned int nvme_sq_space(const struct nvme_queue *q);
/* Queues @sqe at the tail; the controller sees it at the next ring. */
void nvme_sq_push(struct nvme_queue *q, const struct nvme_sqe *sqe);
void nvme_sq_ring(struct nvme_queue *q);
/* Takes the next CQE if the controller has posted one. */
bool nvme_cq_pop(struct nvme_queue *q, struct nvme_cqe *out);
void nvme_cq_ring(struct nvme_queue *q);

/* Waits for one interrupt (MSI-X mode) or one poll interval. */
void nvme_idle(const struct nvme_ctrl *c);

/*
 * Submits @sqe (its CID is assigned here) and waits up to @timeout_ms for
 * its completion, which is copied to @cqe.  CQEs for other CIDs are
 * reported and dropped.  0 when a completion came, whatever its status.
 */
int nvme_exec(struct nvme_ctrl *c, struct nvme_queue *q, struct nvme_sqe *sqe,
	      struct nvme_cqe *cqe, uint32_t timeout_ms);
/* Waits for the completion of a command already submitted as @cid. */
int nvme_wait_cid(struct nvme_ctrl *c, struct nvme_queue *q, uint16_t cid,
		  struct nvme_cqe *cqe, uint32_t timeout_ms);
/* nvme_exec on the admin queue with the default timeout; -EIO on error status. */
int nvme_admin(struct nvme_ctrl *c, struct nvme_sqe *sqe, struct nvme_cqe *cqe);
uint16_t nvme_alloc_cid(struct nvme_ctrl *c);

/*
 * Describes @len bytes at @buf in @sqe: PRP1/PRP2 or a PRP list (Base,
 * "Physical Region Page Entry and List"), or with @sgl an SGL, one Data
 * Block descriptor per page behind a Last Segment descriptor when the
 * buffer spans pages (Base, "Scatter Gather List (SGL)").  @list is a
 * page for the list.  -EINVAL if @len exceeds what one list page holds.
 */
int nvme_map(struct nvme_sqe *sqe, const void *buf, uint32_t len, uint64_t *list,
	     bool sgl);

/* Read or Write of @nlb blocks at @slba on namespace 1, data not mapped. */
void nvme_rw_sqe(struct nvme_sqe *sqe, uint8_t opc, uint64_t slba, uint32_t nlb);

/* "sct/sc" as two hex numbers, for the report lines. */
#define NVME_CODE_FMT "%x/%02x"
#define NVME_CODE_ARGS(code) NVME_SC_SCT(code), NVME_SC_SC(code)

#endif /* CVG_NVME_H */
