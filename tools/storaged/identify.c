/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "tools/storaged/cmd.h"
#include "tools/storaged/identify.h"

/* ASCII fields are space-padded, not NUL-terminated. */
static void put_ascii(char *p, size_t len, const char *s)
{
	size_t n = strnlen(s, len);

	memset(p, ' ', len);
	memcpy(p, s, n);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Identify Controller (Base, "Identify Controller Data Structure"). */
static void identify_ctrl(const struct ctrl *c, struct nvme_id_ctrl *id)
{
	put_ascii(id->sn, sizeof(id->sn), c->vol.id);
	put_ascii(id->mn, sizeof(id->mn), "cardvisor Elastic Block Store");
	put_ascii(id->fr, sizeof(id->fr), "0.1");
	id->mdts = CMD_MDTS;
	id->cntlid = c->cntlid;
	id->ver = NVME_VS(1, 4, 0);
	id->cntrltype = NVME_CTRL_CNTRLTYPE_IO;
	id->acl = 3;
	id->aerl = CTRL_AERL;
	id->frmw = NVME_CTRL_FRMW_NR_SLOTS(1) | NVME_CTRL_FRMW_SLOT1_RO;
	id->kas = CTRL_KAS_MS / 100;                   /* 100 ms units */
	id->sqes = 6 << 4 | 6;                         /* 64-byte SQEs only */
	id->cqes = 4 << 4 | 4;                         /* 16-byte CQEs only */
	id->maxcmd = CTRL_MQES + 1;
	id->nn = IDENTIFY_NSID;
	id->oncs = NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES;
	id->vwc = NVME_CTRL_VWC_PRESENT;
	/* SGLs without alignment rules; bit 20: in-capsule data by offset. */
	id->sgls = NVME_CTRL_SGLS_SUPPORTED | 1u << 20;
	snprintf(id->subnqn, sizeof(id->subnqn), "%s", c->subnqn);
	/*
	 * Fabrics fields (Base, "Identify Controller", I/O controller
	 * attributes from byte 1792): IOCCSZ and IORCSZ in 16-byte units,
	 * ICDOFF 0, FCATT 0 (dynamic model), MSDBD 1.
	 */
	put_le32(id->nvmof + 0, (sizeof(struct nvme_sqe) + CMD_MAX_ICDATA) / 16);
	put_le32(id->nvmof + 4, sizeof(struct nvme_cqe) / 16);
	id->nvmof[11] = 1;
	/* PSD0 describes the only power state; all of its fields may be 0. */
}

/* Identify Namespace (NVM, "Identify Namespace Data Structure"). */
static void identify_ns(const struct ctrl *c, struct nvme_id_ns *id)
{
	id->nsze = c->vol.nsze;
	id->ncap = c->vol.nsze;
	id->nuse = volume_blocks_used(&c->vol);
	id->nsfeat = 1 << 0;                           /* thin provisioned: NUSE */
	/* DLFEAT: deallocated blocks read as zeros; Write Zeroes may deallocate. */
	id->dlfeat = 1 << 3 | 1;
	memcpy(id->nguid, c->vol.nguid, sizeof(id->nguid));
	id->lbaf[0].lbads = VOLUME_LBA_SHIFT;          /* NLBAF 0, FLBAS 0 */
}

/* Namespace Identification Descriptor list: NGUID, then the CSI (NVM). */
static void identify_ns_descs(const struct ctrl *c, uint8_t *page)
{
	struct nvme_ns_id_desc nguid = { NVME_NIDT_NGUID, sizeof(c->vol.nguid), { 0 } };
	struct nvme_ns_id_desc csi = { NVME_NIDT_CSI, 1, { 0 } };
	uint8_t *p = page;

	memcpy(p, &nguid, sizeof(nguid));
	p += sizeof(nguid);
	memcpy(p, c->vol.nguid, sizeof(c->vol.nguid));
	p += sizeof(c->vol.nguid);
	memcpy(p, &csi, sizeof(csi));
	p[sizeof(csi)] = NVME_CSI_NVM;
}

uint16_t identify(const struct ctrl *c, const struct nvme_sqe *sqe, uint8_t *page)
{
	switch (NVME_IDENTIFY_CNS(sqe->cdw10)) {
	case NVME_CNS_CTRL:
		identify_ctrl(c, (struct nvme_id_ctrl *)page);
		return NVME_SC_SUCCESS;
	case NVME_CNS_NS:
	case NVME_CNS_NS_DESC_LIST:
		if (sqe->nsid != IDENTIFY_NSID)
			return NVME_SC_INVALID_NS;
		if (NVME_IDENTIFY_CNS(sqe->cdw10) == NVME_CNS_NS)
			identify_ns(c, (struct nvme_id_ns *)page);
		else
			identify_ns_descs(c, page);
		return NVME_SC_SUCCESS;
	case NVME_CNS_ACTIVE_NS_LIST:
		/* NSIDs above the one given; FFFFFFFEh and up are not valid. */
		if (sqe->nsid >= 0xfffffffe)
			return NVME_SC_INVALID_NS;
		if (sqe->nsid < IDENTIFY_NSID)
			put_le32(page, IDENTIFY_NSID);
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD;
	}
}

uint16_t get_log_page(const struct nvme_sqe *sqe)
{
	switch (NVME_LOG_CDW10_LID(sqe->cdw10)) {
	case NVME_LOG_ERROR:      /* no entries */
	case NVME_LOG_SMART:      /* no warnings, nothing counted */
	case NVME_LOG_FW_SLOT:
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_LOG_PAGE;
	}
}
