/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's NVMe controller (NVMe Base 2.0, NVM Command Set 1.0) over
 * PCIe, independent of how it is reached: BAR0 register accesses come in
 * through nvme_ctrl_mmio(), I/O doorbells that became KVM ioeventfds through
 * nvme_ctrl_doorbell_kick(), guest memory is reached through a dma callback
 * and block I/O goes to a backend through callbacks.  cv-ebs wires it to the
 * vfio-user server and the NVMe/TCP host; the unit tests to a malloc'd RAM.
 *
 * Threading: not thread-safe.  The card's event loop makes every call, the
 * backend's completions included.  Queue state lives in per-queue structs
 * so that queue pairs can later move to threads of their own.  Callbacks
 * may call nvme_ctrl_io_complete() (io_submit completing at once) but not
 * nvme_ctrl_mmio() or nvme_ctrl_doorbell_kick().
 *
 * Interrupts are MSI-X only: pin-based and MSI interrupts are not offered
 * (INTMS/INTMC read 0 and ignore writes, as Base 2.0 allows with MSI-X).
 */
#ifndef CV_EBS_NVME_CTRL_H
#define CV_EBS_NVME_CTRL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-abi/nvme.h"

#define NVME_CTRL_LBA_SHIFT 12                 /* 4096-byte LBAs */
#define NVME_CTRL_MAX_IOQS  511                /* dbbuf: one 4 KiB page */
#define NVME_CTRL_VOLID_LEN 20                 /* Identify SN */

/* One block command for the backend, validated and mapped. */
struct nvme_io {
	uint16_t sqid;
	uint16_t cid;
	uint8_t  opcode;       /* enum nvme_nvm_opcode: FLUSH, WRITE, READ,
				  WRITE_ZEROES or DSM (deallocate) */
	bool     fua;          /* also set for every write while VWC is off */
	uint64_t slba;
	uint32_t nlb;          /* blocks, 1-based; 0 for Flush and DSM */
	struct iovec *iov;     /* guest memory, Read and Write only */
	unsigned iovcnt;
	struct nvme_dsm_range *ranges; /* DSM only, copied out of the guest */
	unsigned nr_ranges;
	void    *backend;      /* free for the backend's own use */
};

struct nvme_ctrl_ops {
	/*
	 * Guest [@gpa, @gpa + @len) as a host pointer, NULL if not all RAM.
	 * The pointer is used only until the call returns to the event loop.
	 */
	void *(*dma_ptr)(void *opaque, uint64_t gpa, uint64_t len);
	/*
	 * Start @io; complete it later (or from inside this call) with
	 * nvme_ctrl_io_complete().  A negative errno completes it with
	 * Internal Error.  @io->sqid is always an I/O queue (1..max_ioqs).
	 */
	int (*io_submit)(void *opaque, struct nvme_io *io);
	/* Raise MSI-X @vector. */
	void (*irq)(void *opaque, unsigned vector);
	/*
	 * Optional: I/O queue pair @qid (its SQ) is created / deleted, so the
	 * card can open and close one NVMe/TCP connection for it.  A negative
	 * errno from create fails Create I/O SQ with Internal Error.
	 */
	int (*ioq_create)(void *opaque, uint16_t qid);
	void (*ioq_delete)(void *opaque, uint16_t qid);
};

struct nvme_ctrl_params {
	char     volume_id[NVME_CTRL_VOLID_LEN + 1]; /* serial number; NGUID/UUID */
	char     firmware[9];      /* Identify FR */
	uint64_t nsze;             /* namespace size in 4 KiB blocks */
	uint16_t max_ioqs;         /* I/O queue pairs, 1..NVME_CTRL_MAX_IOQS */
	uint16_t nr_vectors;       /* MSI-X table size, 1..2048 */
	uint16_t mqes;             /* largest I/O queue, 0's based (CAP.MQES),
				      1..0xfffe; each SQ entry costs a request
				      and 2^mdts + 1 iovecs of card memory */
	uint8_t  mdts;             /* max transfer 2^mdts * 4 KiB, 1..8 */
};

struct nvme_ctrl;

/*
 * A controller in the reset state (CC.EN 0).  -EINVAL for bad @p, -ENOMEM.
 */
int nvme_ctrl_create(struct nvme_ctrl **out, const struct nvme_ctrl_params *p,
		     const struct nvme_ctrl_ops *ops, void *opaque);
/*
 * This controller replaces one that died with the host's commands in
 * flight (a restarted card): CSTS.CFS is set until the host enables the
 * controller again (Base 2.0, "Controller Fatal Status": a fatal error
 * that could not be reported in a completion queue), so a host that checks
 * CSTS on a timeout, as Linux does, resets at once instead of aborting the
 * lost commands one by one first.
 */
void nvme_ctrl_state_lost(struct nvme_ctrl *c);
/* Free it; the backend must have completed or dropped every io first. */
void nvme_ctrl_destroy(struct nvme_ctrl *c);

/*
 * A BAR0 register access at @offset of @len 4 or 8 bytes (@data little
 * endian, filled on reads): registers and doorbells (Base 2.0, "Controller
 * Registers").  Other sizes and unaligned accesses are logged once and read
 * as 0.  The MSI-X table and PBA are not in here: see nvme_pci.h.
 */
void nvme_ctrl_mmio(struct nvme_ctrl *c, uint64_t offset, void *data,
		    uint32_t len, bool is_write);

/*
 * A doorbell register was written but its value is lost (a KVM ioeventfd):
 * @db is the doorbell index, 2y for SQ y tail, 2y + 1 for CQ y head.  The
 * value is read from the shadow doorbell set by Doorbell Buffer Config; a
 * kick before there is one waits for it (see docs/nvme-controller.md).
 * Admin doorbells must never be kicked: that sets CSTS.CFS.
 */
void nvme_ctrl_doorbell_kick(struct nvme_ctrl *c, unsigned db);

/*
 * BAR0 doorbells the card should turn into ioeventfds: the I/O queues',
 * [*@offset, *@offset + *@len), 4 bytes each, doorbell index
 * (offset - NVME_REG_DBS) / 4.  Admin doorbells stay trapped: Linux never
 * shadows them, so their value must reach nvme_ctrl_mmio().
 */
void nvme_ctrl_ioeventfd_range(const struct nvme_ctrl *c, uint64_t *offset,
			       uint64_t *len);
/*
 * Whether the I/O doorbells' values can be read from the shadow doorbells
 * (Doorbell Buffer Config done since the last reset): only then may their
 * writes lose their values on the way (nvme_ctrl_doorbell_kick()).
 */
bool nvme_ctrl_doorbells_shadowed(const struct nvme_ctrl *c);
/* Bytes of BAR0 the registers and doorbells take. */
uint64_t nvme_ctrl_regs_size(const struct nvme_ctrl *c);

/*
 * The backend finished @io with @status, a CQE status word without phase
 * (nvme_cqe_status()).  Completions of queues deleted meanwhile, by Delete
 * I/O SQ or a controller reset, are discarded.
 */
void nvme_ctrl_io_complete(struct nvme_ctrl *c, struct nvme_io *io,
			   uint16_t status);

/*
 * Interrupt coalescing (Feature 08h): completions held below the threshold
 * must be signalled within the aggregation time.  After handling events the
 * card asks nvme_ctrl_irq_hold_us(); when non-zero it arms a timer for that
 * many microseconds and calls nvme_ctrl_irq_flush() when it fires.
 */
uint32_t nvme_ctrl_irq_hold_us(const struct nvme_ctrl *c);
void nvme_ctrl_irq_flush(struct nvme_ctrl *c);

#endif /* CV_EBS_NVME_CTRL_H */
