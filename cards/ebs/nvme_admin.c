/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe controller's admin command set (NVMe Base 2.0, "Admin Command
 * Set"): Identify, queue creation and deletion, log pages, features,
 * Doorbell Buffer Config, Asynchronous Event Request and Abort.  The
 * controller's state and queues are nvme_ctrl.c's (nvme_ctrl_internal.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cards/ebs/nvme_ctrl_internal.h"
#include "cards/ebs/nvme_prp.h"
#include "guest-abi/pci_ids.h"
#include "tools/lib/log.h"

static void pad_ascii(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n);

	memset(dst, ' ', n);
	memcpy(dst, src, len);
}

static void put_u128(uint8_t dst[16], uint64_t v)
{
	memset(dst, 0, 16);
	memcpy(dst, &v, sizeof(v));
}

/* ---------------------------------------------------------- data transfer */

/* Copy @len bytes to the host buffer of admin command @sqe, zero past @n. */
static uint16_t to_host(struct nvme_ctrl *c, struct nvme_req *req,
			const struct nvme_sqe *sqe, const void *src, size_t n,
			uint64_t len)
{
	unsigned cnt;
	uint16_t sc;

	if (len > mdts_bytes(c))
		return NVME_SC_INVALID_FIELD;
	sc = nvme_dptr_map(&c->dma, sqe, false, len, req->io.iov, c->max_iov, &cnt);
	if (!sc)
		nvme_buf_to_iov(req->io.iov, cnt, src, n < len ? n : len);
	return sc;
}

/* ------------------------------------------------------------ admin: Identify */

static void identify_ctrl(const struct nvme_ctrl *c, struct nvme_id_ctrl *id)
{
	char nqn[256];
	const uint8_t *u = c->uuid;

	id->vid = CV_PCI_VENDOR_QUMRANET;
	id->ssvid = CV_PCI_VENDOR_QUMRANET;
	pad_ascii(id->sn, sizeof(id->sn), c->p.volume_id);
	pad_ascii(id->mn, sizeof(id->mn), MODEL);
	pad_ascii(id->fr, sizeof(id->fr), c->p.firmware);
	id->rab = 0;
	id->mdts = c->p.mdts;
	id->cntlid = 0;
	id->ver = VERSION;
	id->cntrltype = NVME_CTRL_CNTRLTYPE_IO;
	id->oacs = NVME_CTRL_OACS_DBBUF;
	id->acl = ACL;
	id->aerl = AERL;
	id->frmw = NVME_CTRL_FRMW_SLOT1_RO | NVME_CTRL_FRMW_NR_SLOTS(1);
	id->lpa = NVME_CTRL_LPA_EXT_DATA;
	id->elpe = ELPE;
	id->wctemp = WCTEMP;
	id->cctemp = CCTEMP;
	id->sqes = NVME_SQES_LOG2 << 4 | NVME_SQES_LOG2;
	id->cqes = NVME_CQES_LOG2 << 4 | NVME_CQES_LOG2;
	id->nn = 1;
	id->oncs = NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES;
	id->vwc = NVME_CTRL_VWC_PRESENT | NVME_CTRL_VWC_FLUSH_ALL;
	id->sgls = NVME_CTRL_SGLS_SUPPORTED;
	/* Base, "NVMe Qualified Names": the UUID form, from the volume id. */
	snprintf(nqn, sizeof(nqn), "nqn.2014-08.org.nvmexpress:uuid:"
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
	memcpy(id->subnqn, nqn, strlen(nqn));
	id->psd[0].mp = 2500;   /* 25 W: one state, never changed */
}

static void identify_ns(const struct nvme_ctrl *c, struct nvme_id_ns *ns)
{
	ns->nsze = ns->ncap = ns->nuse = c->p.nsze;
	ns->nlbaf = 0;
	ns->flbas = 0;
	ns->lbaf[0].lbads = NVME_CTRL_LBA_SHIFT;
	memcpy(ns->nguid, c->nguid, sizeof(ns->nguid));
}

static size_t ns_desc_add(uint8_t *p, enum nvme_nidt t, const void *id, uint8_t len)
{
	struct nvme_ns_id_desc d = { .nidt = t, .nidl = len };

	memcpy(p, &d, sizeof(d));
	memcpy(p + sizeof(d), id, len);
	return sizeof(d) + len;
}

static uint16_t admin_identify(struct nvme_ctrl *c, struct nvme_req *req,
			       const struct nvme_sqe *sqe)
{
	union {
		struct nvme_id_ctrl ctrl;
		struct nvme_id_ns ns;
		uint32_t nsids[NVME_IDENTIFY_LEN / 4];
		uint8_t raw[NVME_IDENTIFY_LEN];
	} *u = calloc(1, sizeof(*u));
	uint8_t csi = NVME_CSI_NVM;
	uint16_t sc = NVME_SC_SUCCESS;
	size_t n;

	if (!u)
		return NVME_SC_INTERNAL;
	switch (NVME_IDENTIFY_CNS(sqe->cdw10)) {
	case NVME_CNS_CTRL:
		identify_ctrl(c, &u->ctrl);
		break;
	case NVME_CNS_NS:
		if (sqe->nsid != 1)
			sc = NVME_SC_INVALID_NS;
		else
			identify_ns(c, &u->ns);
		break;
	case NVME_CNS_ACTIVE_NS_LIST:
		/* IDs greater than NSID, ascending; FFFFFFFEh and up are invalid. */
		if (sqe->nsid >= 0xfffffffe)
			sc = NVME_SC_INVALID_NS;
		else if (sqe->nsid < 1)
			u->nsids[0] = 1;
		break;
	case NVME_CNS_CS_CTRL:
		/* NVM, "I/O Command Set Specific Identify Controller": all zero,
		 * no Verify / Write Zeroes / DSM size limits. */
		if (NVME_IDENTIFY_CDW11_CSI(sqe->cdw11) != NVME_CSI_NVM)
			sc = NVME_SC_INVALID_FIELD;
		break;
	case NVME_CNS_NS_DESC_LIST:
		if (sqe->nsid != 1) {
			sc = NVME_SC_INVALID_NS;
			break;
		}
		n = ns_desc_add(u->raw, NVME_NIDT_NGUID, c->nguid, 16);
		n += ns_desc_add(u->raw + n, NVME_NIDT_UUID, c->uuid, 16);
		ns_desc_add(u->raw + n, NVME_NIDT_CSI, &csi, 1);
		break;
	default:
		sc = NVME_SC_INVALID_FIELD;
	}
	if (!sc)
		sc = to_host(c, req, sqe, u, NVME_IDENTIFY_LEN, NVME_IDENTIFY_LEN);
	free(u);
	return sc;
}

/* ------------------------------------------------------ admin: queue management */

static bool io_queue_exists(const struct nvme_ctrl *c)
{
	for (unsigned q = 1; q <= c->p.max_ioqs; q++)
		if (c->sq[q] || c->cq[q])
			return true;
	return false;
}

/*
 * Checks shared by Create I/O CQ and SQ (Base, "Create I/O Completion Queue
 * command", "Create I/O Submission Queue command"): qid within the allocated
 * Number of Queues and free, size 2..MQES + 1, contiguous (CAP.CQR), the base
 * page aligned and in guest RAM, the entry size set in CC.
 */
static uint16_t create_q_check(struct nvme_ctrl *c, const struct nvme_sqe *sqe,
			       unsigned allocated, bool taken, unsigned es_log2,
			       unsigned cc_es)
{
	unsigned qid = NVME_CREATE_Q_QID(sqe->cdw10);
	uint32_t entries = NVME_CREATE_Q_QSIZE(sqe->cdw10) + 1u;
	uint64_t base = sqe->dptr.prp.prp1;

	if (!qid || qid > allocated || taken)
		return NVME_SC_INVALID_QID;
	if (entries < 2 || entries > c->p.mqes + 1u)
		return NVME_SC_INVALID_QSIZE;
	if (!(sqe->cdw11 & NVME_CREATE_Q_PC) || (sqe->flags & NVME_SQE_PSDT_MASK) ||
	    cc_es != es_log2)
		return NVME_SC_INVALID_FIELD;
	if (base & (NVME_PAGE_SIZE - 1))
		return NVME_SC_PRP_INVALID_OFFSET;
	if (!c->ops.dma_ptr(c->opaque, base, (uint64_t)entries << es_log2))
		return NVME_SC_INVALID_FIELD;
	return NVME_SC_SUCCESS;
}

static uint16_t admin_create_cq(struct nvme_ctrl *c, const struct nvme_sqe *sqe)
{
	unsigned qid = NVME_CREATE_Q_QID(sqe->cdw10);
	unsigned iv = NVME_CREATE_CQ_IV(sqe->cdw11);
	bool ien = sqe->cdw11 & NVME_CREATE_CQ_IEN;
	uint16_t sc = create_q_check(c, sqe, c->feat.ncqa,
				     nvme_ctrl_queue_valid_qid(c, qid) && c->cq[qid],
				     NVME_CQES_LOG2, NVME_CC_IOCQES(c->cc));

	if (sc)
		return sc;
	if (ien && iv >= c->p.nr_vectors)
		return NVME_SC_INVALID_VECTOR;
	if (!nvme_ctrl_cq_new(c, (uint16_t)qid, (uint16_t)(NVME_CREATE_Q_QSIZE(sqe->cdw10) + 1),
			      sqe->dptr.prp.prp1, ien, (uint16_t)iv))
		return NVME_SC_INTERNAL;
	return NVME_SC_SUCCESS;
}

static uint16_t admin_create_sq(struct nvme_ctrl *c, const struct nvme_sqe *sqe)
{
	unsigned qid = NVME_CREATE_Q_QID(sqe->cdw10);
	unsigned cqid = NVME_CREATE_SQ_CQID(sqe->cdw11);
	uint16_t sc;

	sc = create_q_check(c, sqe, c->feat.nsqa, nvme_ctrl_queue_valid_qid(c, qid) && c->sq[qid],
			    NVME_SQES_LOG2, NVME_CC_IOSQES(c->cc));
	if (sc)
		return sc;
	if (!cqid || !nvme_ctrl_queue_valid_qid(c, cqid) || !c->cq[cqid])
		return NVME_SC_CQ_INVALID;
	if (c->ops.ioq_create && c->ops.ioq_create(c->opaque, (uint16_t)qid) < 0)
		return NVME_SC_INTERNAL;
	if (!nvme_ctrl_sq_new(c, (uint16_t)qid, (uint16_t)(NVME_CREATE_Q_QSIZE(sqe->cdw10) + 1),
			      sqe->dptr.prp.prp1, c->cq[cqid])) {
		if (c->ops.ioq_delete)
			c->ops.ioq_delete(c->opaque, (uint16_t)qid);
		return NVME_SC_INTERNAL;
	}
	return NVME_SC_SUCCESS;
}

/*
 * Base, "Delete I/O Submission Queue command": commands already fetched are
 * not posted; the command completes once the backend returned them all.
 */
static uint16_t admin_delete_sq(struct nvme_ctrl *c, struct nvme_req *req,
				const struct nvme_sqe *sqe)
{
	unsigned qid = NVME_DELETE_Q_QID(sqe->cdw10);
	struct nvme_sq *sq = qid && nvme_ctrl_queue_valid_qid(c, qid) ? c->sq[qid] : NULL;
	struct nvme_req *drop = NULL;

	if (!sq || sq->deleted)
		return NVME_SC_INVALID_QID;
	sq->delete_req = req;
	sq->busy_reqs++;          /* keeps it alive while dropping */
	nvme_ctrl_sq_kill(sq, &drop);
	nvme_ctrl_release_all(c, drop);
	sq->busy_reqs--;
	if (!sq->busy_reqs)
		nvme_ctrl_sq_free(c, sq);
	return SC_HELD;
}

static uint16_t admin_delete_cq(struct nvme_ctrl *c, const struct nvme_sqe *sqe)
{
	unsigned qid = NVME_DELETE_Q_QID(sqe->cdw10);
	struct nvme_cq *cq = qid && nvme_ctrl_queue_valid_qid(c, qid) ? c->cq[qid] : NULL;

	if (!cq)
		return NVME_SC_INVALID_QID;
	if (cq->nr_sqs)
		return NVME_SC_QID_DELETION;
	c->cq[qid] = NULL;
	free(cq);
	return NVME_SC_SUCCESS;
}

/* --------------------------------------------------------- admin: log pages */

static uint16_t admin_get_log(struct nvme_ctrl *c, struct nvme_req *req,
			      const struct nvme_sqe *sqe)
{
	uint64_t numd = ((uint64_t)NVME_LOG_CDW11_NUMDU(sqe->cdw11) << 16 |
			 NVME_LOG_CDW10_NUMDL(sqe->cdw10)) + 1;
	uint64_t off = (uint64_t)sqe->cdw13 << 32 | sqe->cdw12;
	bool rae = sqe->cdw10 & NVME_LOG_CDW10_RAE;
	union {
		struct nvme_error_log err[ELPE + 1];
		struct nvme_smart_log smart;
		struct nvme_fw_slot_log fw;
	} u;
	size_t size;
	int type;

	memset(&u, 0, sizeof(u));
	switch (NVME_LOG_CDW10_LID(sqe->cdw10)) {
	case NVME_LOG_ERROR:
		/* Newest first; slots never filled stay zero. */
		for (unsigned i = 0; i <= ELPE && i < c->stats.errors; i++)
			u.err[i] = c->errlog[(c->stats.errors - 1 - i) % (ELPE + 1)];
		size = sizeof(u.err);
		type = NVME_AER_TYPE_ERROR;
		break;
	case NVME_LOG_SMART:
		u.smart.critical_warning = c->critical_warning;
		u.smart.composite_temp = TEMP_KELVIN;
		u.smart.avail_spare = 100;
		u.smart.spare_thresh = 10;
		/* Thousands of 512-byte units, rounded up. */
		put_u128(u.smart.data_units_read, (c->stats.read_units + 999) / 1000);
		put_u128(u.smart.data_units_written, (c->stats.write_units + 999) / 1000);
		put_u128(u.smart.host_reads, c->stats.read_cmds);
		put_u128(u.smart.host_writes, c->stats.write_cmds);
		put_u128(u.smart.power_cycles, 1);
		put_u128(u.smart.num_err_log_entries, c->stats.errors);
		size = sizeof(u.smart);
		type = NVME_AER_TYPE_SMART;
		break;
	case NVME_LOG_FW_SLOT:
		u.fw.afi = 1;
		pad_ascii(u.fw.frs[0], sizeof(u.fw.frs[0]), c->p.firmware);
		size = sizeof(u.fw);
		type = -1;
		break;
	default:
		return NVME_SC_INVALID_LOG_PAGE;
	}
	if ((off & 3) || off > size)
		return NVME_SC_INVALID_FIELD;
	if (!rae && type >= 0)
		c->aen_masked &= (uint8_t)~(1u << type);
	return to_host(c, req, sqe, (uint8_t *)&u + off, size - off, numd * 4);
}

/* ----------------------------------------------------------- admin: features */

static uint16_t feature_get(const struct nvme_ctrl *c, const struct nvme_features *f,
			    unsigned fid, uint32_t cdw11, uint32_t *dw0)
{
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		*dw0 = f->arbitration;
		break;
	case NVME_FEAT_POWER_MGMT:
		*dw0 = f->power_mgmt;
		break;
	case NVME_FEAT_TEMP_THRESH:
		if (NVME_TEMP_TMPSEL(cdw11) || NVME_TEMP_THSEL(cdw11) > NVME_TEMP_THSEL_UNDER)
			return NVME_SC_INVALID_FIELD;
		*dw0 = NVME_TEMP_THSEL(cdw11) == NVME_TEMP_THSEL_OVER ? f->temp_over
								      : f->temp_under;
		break;
	case NVME_FEAT_VOLATILE_WC:
		*dw0 = f->vwc;
		break;
	case NVME_FEAT_NUM_QUEUES:
		*dw0 = NVME_NUMQ(f->nsqa - 1, f->ncqa - 1);
		break;
	case NVME_FEAT_IRQ_COALESCE:
		*dw0 = f->irq_coalesce;
		break;
	case NVME_FEAT_IRQ_CONFIG:
		if (NVME_IRQCFG_IV(cdw11) >= c->p.nr_vectors)
			return NVME_SC_INVALID_FIELD;
		*dw0 = NVME_IRQCFG_IV(cdw11) |
		       (f == &c->feat && c->irq_cd[NVME_IRQCFG_IV(cdw11)] ? NVME_IRQCFG_CD : 0);
		break;
	case NVME_FEAT_ASYNC_EVENT:
		*dw0 = f->aec;
		break;
	default:
		return NVME_SC_INVALID_FIELD;
	}
	return NVME_SC_SUCCESS;
}

static uint16_t feature_set(struct nvme_ctrl *c, unsigned fid, uint32_t v,
			    uint32_t *dw0)
{
	struct nvme_features *f = &c->feat;

	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		f->arbitration = v;   /* round robin only (CAP.AMS 0): weights unused */
		break;
	case NVME_FEAT_POWER_MGMT:
		if (v & 0x1f)         /* NPSS 0: power state 0 only */
			return NVME_SC_INVALID_FIELD;
		f->power_mgmt = v & 0xff;
		break;
	case NVME_FEAT_TEMP_THRESH:
		if (NVME_TEMP_TMPSEL(v) || NVME_TEMP_THSEL(v) > NVME_TEMP_THSEL_UNDER)
			return NVME_SC_INVALID_FIELD;
		if (NVME_TEMP_THSEL(v) == NVME_TEMP_THSEL_OVER)
			f->temp_over = NVME_TEMP_TMPTH(v);
		else
			f->temp_under = NVME_TEMP_TMPTH(v);
		nvme_ctrl_temperature_check(c);
		break;
	case NVME_FEAT_VOLATILE_WC:
		f->vwc = v & 1;
		break;
	case NVME_FEAT_NUM_QUEUES:
		/* Base, "Number of Queues": set once, before any I/O queue. */
		if (io_queue_exists(c))
			return NVME_SC_CMD_SEQ_ERROR;
		if (NVME_NUMQ_NSQ(v) == 0xffff || NVME_NUMQ_NCQ(v) == 0xffff)
			return NVME_SC_INVALID_FIELD;
		f->nsqa = (uint16_t)(NVME_NUMQ_NSQ(v) + 1 < c->p.max_ioqs ? NVME_NUMQ_NSQ(v) + 1
									 : c->p.max_ioqs);
		f->ncqa = (uint16_t)(NVME_NUMQ_NCQ(v) + 1 < c->p.max_ioqs ? NVME_NUMQ_NCQ(v) + 1
									 : c->p.max_ioqs);
		*dw0 = NVME_NUMQ(f->nsqa - 1, f->ncqa - 1);
		break;
	case NVME_FEAT_IRQ_COALESCE:
		f->irq_coalesce = v & 0xffff;
		break;
	case NVME_FEAT_IRQ_CONFIG:
		if (NVME_IRQCFG_IV(v) >= c->p.nr_vectors)
			return NVME_SC_INVALID_FIELD;
		c->irq_cd[NVME_IRQCFG_IV(v)] = v & NVME_IRQCFG_CD;
		break;
	case NVME_FEAT_ASYNC_EVENT:
		/* Only the SMART critical warnings can ever be reported here. */
		f->aec = v & 0xff;
		nvme_ctrl_temperature_check(c);
		break;
	default:
		return NVME_SC_INVALID_FIELD;
	}
	return NVME_SC_SUCCESS;
}

static uint16_t admin_features(struct nvme_ctrl *c, const struct nvme_sqe *sqe,
			       uint32_t *dw0)
{
	unsigned fid = NVME_FEAT_CDW10_FID(sqe->cdw10);

	if (sqe->opc == NVME_ADMIN_SET_FEATURES) {
		if (sqe->cdw10 & NVME_FEAT_CDW10_SV)
			return NVME_SC_FEATURE_NOT_SAVEABLE;
		return feature_set(c, fid, sqe->cdw11, dw0);
	}
	switch (NVME_FEAT_CDW10_SEL(sqe->cdw10)) {
	case NVME_FEAT_SEL_CURRENT:
		return feature_get(c, &c->feat, fid, sqe->cdw11, dw0);
	case NVME_FEAT_SEL_DEFAULT:
	case NVME_FEAT_SEL_SAVED:  /* nothing is saveable: saved = default */
		return feature_get(c, &c->feat_default, fid, sqe->cdw11, dw0);
	case NVME_FEAT_SEL_SUPPORTED:
		if (feature_get(c, &c->feat, fid, sqe->cdw11, dw0))
			return NVME_SC_INVALID_FIELD;
		*dw0 = NVME_FEAT_CAP_CHANGEABLE;
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD;
	}
}

/* ------------------------------------------------------- admin: the rest */

static uint16_t admin_dbbuf(struct nvme_ctrl *c, const struct nvme_sqe *sqe)
{
	uint64_t dbs = sqe->dptr.prp.prp1, eis = sqe->dptr.prp.prp2;

	if ((sqe->flags & NVME_SQE_PSDT_MASK) || !dbs || !eis ||
	    ((dbs | eis) & (NVME_PAGE_SIZE - 1)) ||
	    !c->ops.dma_ptr(c->opaque, dbs, NVME_PAGE_SIZE) ||
	    !c->ops.dma_ptr(c->opaque, eis, NVME_PAGE_SIZE))
		return NVME_SC_INVALID_FIELD;
	c->dbbuf = true;
	c->dbbuf_dbs = dbs;
	c->dbbuf_eis = eis;
	/*
	 * Queues made before: a doorbell kicked meanwhile takes its value from
	 * the shadow now; the others' shadows start at what the controller
	 * knows (their doorbells came by MMIO).
	 */
	for (unsigned db = 2; db < 2u * (c->p.max_ioqs + 1u); db++) {
		struct nvme_sq *sq;
		struct nvme_cq *cq;
		uint32_t *s;
		uint16_t v;

		if (!nvme_ctrl_db_queue(c, db, &sq, &cq))
			continue;
		if (c->db_lost[db]) {
			nvme_ctrl_doorbell_from_shadow(c, db);
			continue;
		}
		v = sq ? sq->tail : cq->head;
		s = nvme_ctrl_dbbuf_slot(c, dbs, db);
		if (s)
			__atomic_store_n(s, v, __ATOMIC_RELEASE);
		nvme_ctrl_dbbuf_set_eventidx(c, db, v);
	}
	return NVME_SC_SUCCESS;
}

void nvme_admin_cmd(struct nvme_ctrl *c, struct nvme_req *req,
		    const struct nvme_sqe *sqe)
{
	uint32_t dw0 = 0;
	uint16_t sc;

	if (sqe->flags & NVME_SQE_FUSE_MASK) {
		sc = NVME_SC_INVALID_FIELD;
		goto done;
	}
	switch (sqe->opc) {
	case NVME_ADMIN_IDENTIFY:
		sc = admin_identify(c, req, sqe);
		break;
	case NVME_ADMIN_CREATE_CQ:
		sc = admin_create_cq(c, sqe);
		break;
	case NVME_ADMIN_CREATE_SQ:
		sc = admin_create_sq(c, sqe);
		break;
	case NVME_ADMIN_DELETE_SQ:
		sc = admin_delete_sq(c, req, sqe);
		break;
	case NVME_ADMIN_DELETE_CQ:
		sc = admin_delete_cq(c, sqe);
		break;
	case NVME_ADMIN_GET_LOG_PAGE:
		sc = admin_get_log(c, req, sqe);
		break;
	case NVME_ADMIN_GET_FEATURES:
	case NVME_ADMIN_SET_FEATURES:
		sc = admin_features(c, sqe, &dw0);
		break;
	case NVME_ADMIN_ABORT:
		/* Base, "Abort command": DW0 bit 0 set = not aborted; allowed. */
		sc = NVME_SC_SUCCESS;
		dw0 = 1;
		break;
	case NVME_ADMIN_ASYNC_EVENT:
		if (c->nr_aer > AERL) {
			sc = NVME_SC_AER_LIMIT;
			break;
		}
		c->aer[c->nr_aer++] = req;
		nvme_ctrl_aen_dispatch(c);
		return;
	case NVME_ADMIN_DBBUF_CONFIG:
		sc = admin_dbbuf(c, sqe);
		break;
	default:
		/* Keep Alive (KAS 0), Format NVM, namespace management: not offered. */
		sc = NVME_SC_INVALID_OPCODE;
	}
	if (sc == SC_HELD)
		return;
done:
	if (sc)
		cv_err_once("nvme %s: admin command opcode 0x%02x cid %u failed, status 0x%03x",
			    c->p.volume_id, sqe->opc, sqe->cid, sc);
	nvme_ctrl_req_done(c, req, nvme_cqe_status(sc, sc != NVME_SC_SUCCESS), dw0);
}
