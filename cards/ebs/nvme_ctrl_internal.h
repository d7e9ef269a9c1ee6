/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the NVMe controller: the state nvme_ctrl.c (registers, queues,
 * I/O, reset) and nvme_admin.c (the admin command set) share, and the
 * calls between them.  Nothing outside cards/ebs/nvme_*.c includes it;
 * the contract is nvme_ctrl.h.
 */
#ifndef CV_EBS_NVME_CTRL_INTERNAL_H
#define CV_EBS_NVME_CTRL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cards/ebs/nvme_ctrl.h"
#include "cards/ebs/nvme_prp.h"

#define MODEL        "cardvisor Elastic Block Store"
/*
 * 1.4, not 2.0: Linux asks a 2.0 controller for the I/O command set
 * specific Identify structures and Base 2.0 register additions it would
 * gain nothing from; everything offered here exists in 1.4.
 */
#define VERSION      NVME_VS(1, 4, 0)
#define SQE_SIZE     (1u << NVME_SQES_LOG2)
#define CQE_SIZE     (1u << NVME_CQES_LOG2)
#define AERL         3      /* 0's based: four outstanding AERs */
#define ACL          3
#define ELPE         7      /* 0's based: eight Error Information entries */
#define AEN_QUEUE    8
#define TEMP_KELVIN  298    /* a virtual device reports a constant 25 C */
#define WCTEMP       343
#define CCTEMP       373
/*
 * Not status codes (SCT 7, SC ffh/feh are never produced): a command the
 * controller holds (AER, Delete SQ waiting for its I/O), and one that needs
 * no backend work (DSM without Deallocate).
 */
#define SC_HELD      0xffff
#define SC_NO_IO     0xfffe
/* Bits of CC the host may set (Base, "Offset 14h: CC"). */
#define CC_WRITABLE  0x01fffff1u

struct nvme_sq;

/* One fetched command, from SQE fetch to CQE post. */
struct nvme_req {
	struct nvme_io io;
	struct nvme_sq *sq;       /* NULL: the controller's own shutdown Flush */
	struct nvme_req *next;    /* free list, or its CQ's overflow list */
	struct nvme_cqe cqe;      /* cid, dw0 and status (no phase) */
};

struct nvme_cq {
	uint16_t qid, size, head, tail, vector;
	bool phase;               /* phase tag of the next entry written */
	bool ien;
	uint64_t base;
	unsigned nr_sqs;          /* SQs bound to it */
	unsigned held;            /* posted since the last interrupt (coalescing) */
	/* Completions waiting for room: the CQ is never overwritten. */
	struct nvme_req *ovf, **ovf_tail;
};

struct nvme_sq {
	uint16_t qid, size, head, tail;
	uint64_t base;
	struct nvme_cq *cq;       /* NULL once deleted */
	bool deleted;             /* by Delete I/O SQ or reset: completions dropped */
	bool busy, again;         /* re-entrancy guard of sq_process() */
	unsigned busy_reqs;       /* requests not on the free list */
	struct nvme_req *free;
	struct nvme_req *reqs;
	struct iovec *iov;
	struct nvme_req *delete_req; /* the Delete I/O SQ command to complete */
	struct nvme_sq *zombie_next; /* deleted by reset, waiting for its I/O */
};

/* Set Features values (Base, "Features"): current and default. */
struct nvme_features {
	uint32_t arbitration;
	uint32_t power_mgmt;
	uint16_t temp_over, temp_under;
	bool     vwc;
	uint16_t nsqa, ncqa;      /* Number of Queues, 1-based */
	uint32_t irq_coalesce;
	uint32_t aec;
};

/* Counters for the SMART and Error Information logs. */
struct nvme_ctrl_stats {
	uint64_t read_cmds, write_cmds;
	uint64_t read_units, write_units; /* 512-byte units */
	uint64_t errors;                  /* Error Information entries */
};

struct nvme_ctrl {
	struct nvme_ctrl_params p;
	struct nvme_ctrl_ops ops;
	void *opaque;
	struct nvme_dma dma;
	unsigned max_iov;

	uint64_t cap, asq, acq;
	uint32_t cc, csts, aqa;
	bool resetting;           /* CC.EN went 0: waiting for the backend */
	unsigned depth;           /* nesting of public entry points */
	bool admin_pending;       /* the admin SQ may fetch again */
	bool shutdown_flushed;

	struct nvme_sq **sq;      /* [max_ioqs + 1] */
	struct nvme_cq **cq;
	struct nvme_sq *zombies;
	unsigned backend_ios;
	struct nvme_req flush_req;

	struct nvme_features feat, feat_default;
	bool *irq_cd;             /* Interrupt Vector Configuration CD, per vector */

	bool dbbuf;
	uint64_t dbbuf_dbs, dbbuf_eis;
	bool *db_lost;            /* kicked before Doorbell Buffer Config, per doorbell */

	struct nvme_req *aer[AERL + 1];
	unsigned nr_aer;
	uint32_t aen[AEN_QUEUE];
	unsigned nr_aen;
	uint8_t aen_masked;       /* event types reported, log not yet read */
	uint8_t critical_warning;

	struct nvme_error_log errlog[ELPE + 1]; /* ring, newest at err_count - 1 */
	struct nvme_ctrl_stats stats;
	uint8_t nguid[16], uuid[16];
};

static inline uint64_t mdts_bytes(const struct nvme_ctrl *c)
{
	return (uint64_t)NVME_PAGE_SIZE << c->p.mdts;
}

/* nvme_ctrl.c: queues, completions, events and doorbells. */
bool nvme_ctrl_queue_valid_qid(const struct nvme_ctrl *c, unsigned qid);

/*
 * Base 2.0, "Doorbell Buffer Config command": the shadow doorbell and the
 * EventIdx of doorbell @db sit at @db * 4 (CAP.DSTRD = 0) in their pages.
 */
uint32_t *nvme_ctrl_dbbuf_slot(struct nvme_ctrl *c, uint64_t page, unsigned db);

void nvme_ctrl_dbbuf_set_eventidx(struct nvme_ctrl *c, unsigned db, uint16_t v);

void nvme_ctrl_req_done(struct nvme_ctrl *c, struct nvme_req *req,
			uint16_t status, uint32_t dw0);

void nvme_ctrl_aen_dispatch(struct nvme_ctrl *c);

void nvme_ctrl_temperature_check(struct nvme_ctrl *c);

void nvme_ctrl_sq_free(struct nvme_ctrl *c, struct nvme_sq *sq);

void nvme_ctrl_req_release(struct nvme_ctrl *c, struct nvme_req *req);

struct nvme_cq *nvme_ctrl_cq_new(struct nvme_ctrl *c, uint16_t qid, uint16_t size,
				 uint64_t base, bool ien, uint16_t vector);

struct nvme_sq *nvme_ctrl_sq_new(struct nvme_ctrl *c, uint16_t qid, uint16_t size,
				 uint64_t base, struct nvme_cq *cq);

/*
 * Mark @sq deleted: completions of its commands are dropped from now on,
 * those waiting in its CQ too (collected in *@drop for the caller to
 * release once the queue tables are consistent).
 */
void nvme_ctrl_sq_kill(struct nvme_sq *sq, struct nvme_req **drop);

void nvme_ctrl_release_all(struct nvme_ctrl *c, struct nvme_req *list);

/* The queue doorbell @db belongs to (2y: SQ y, 2y + 1: CQ y), if any. */
bool nvme_ctrl_db_queue(const struct nvme_ctrl *c, unsigned db, struct nvme_sq **sq,
			struct nvme_cq **cq);

/*
 * NVMe 1.3 Doorbell Buffer Config: read the shadow, act and publish
 * EventIdx, then look again to catch a host update that raced with EventIdx
 * (it saw the old one and did not ring).  Bounded: a guest rewriting its
 * shadow forever waits for its next kick.
 */
void nvme_ctrl_doorbell_from_shadow(struct nvme_ctrl *c, unsigned db);

/* nvme_admin.c: execute admin command @req (its SQE @sqe), completing it or holding it. */
void nvme_admin_cmd(struct nvme_ctrl *c, struct nvme_req *req, const struct nvme_sqe *sqe);

#endif /* CV_EBS_NVME_CTRL_INTERNAL_H */
