/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/storaged/cmd.h"

/* Get Log Page CDW10/11: Number of Dwords, 0's based, split in two halves. */
static uint64_t log_page_len(const struct nvme_sqe *sqe)
{
	uint32_t numd = NVME_LOG_CDW10_NUMDL(sqe->cdw10) | NVME_LOG_CDW11_NUMDU(sqe->cdw11) << 16;

	return ((uint64_t)numd + 1) * 4;
}

static uint16_t fabrics_xfer(const struct nvme_sqe *sqe, uint32_t *len, enum cmd_dir *dir)
{
	const struct nvmf_cmd *f = (const struct nvmf_cmd *)sqe;

	switch (f->fctype) {
	case NVMF_FCTYPE_CONNECT:
		*len = sizeof(struct nvmf_connect_data);
		*dir = CMD_DIR_H2C;
		return NVME_SC_SUCCESS;
	case NVMF_FCTYPE_PROP_GET:
	case NVMF_FCTYPE_PROP_SET:
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_OPCODE;
	}
}

uint16_t cmd_xfer(const struct nvme_sqe *sqe, bool admin, uint32_t *len, enum cmd_dir *dir)
{
	uint64_t n;

	*len = 0;
	*dir = CMD_DIR_NONE;
	if (sqe->opc == NVME_ADMIN_FABRICS)
		return fabrics_xfer(sqe, len, dir);
	if (admin) {
		switch (sqe->opc) {
		case NVME_ADMIN_IDENTIFY:
			*len = NVME_IDENTIFY_LEN;
			*dir = CMD_DIR_C2H;
			return NVME_SC_SUCCESS;
		case NVME_ADMIN_GET_LOG_PAGE:
			n = log_page_len(sqe);
			if (n > CMD_MAX_XFER)
				return NVME_SC_INVALID_FIELD;
			*len = (uint32_t)n;
			*dir = CMD_DIR_C2H;
			return NVME_SC_SUCCESS;
		case NVME_ADMIN_GET_FEATURES:
		case NVME_ADMIN_SET_FEATURES:
		case NVME_ADMIN_KEEP_ALIVE:
		case NVME_ADMIN_ASYNC_EVENT:
			return NVME_SC_SUCCESS;
		default:
			return NVME_SC_INVALID_OPCODE;
		}
	}
	switch (sqe->opc) {
	case NVME_NVM_READ:
	case NVME_NVM_WRITE:
		n = ((uint64_t)(sqe->cdw12 & NVME_RW_NLB_MASK) + 1) << 12;
		if (n > CMD_MAX_XFER)
			return NVME_SC_INVALID_FIELD;
		*len = (uint32_t)n;
		*dir = sqe->opc == NVME_NVM_READ ? CMD_DIR_C2H : CMD_DIR_H2C;
		return NVME_SC_SUCCESS;
	case NVME_NVM_DSM:
		/*
		 * The data is NR+1 ranges (NVM Command Set 1.0, "Dataset
		 * Management command") in a buffer that may be longer: Linux
		 * sends a 4 KiB page even for one range, and nvmet takes any
		 * buffer that holds the ranges.  So all of what SGL1 describes
		 * moves, up to MDTS; a shorter or larger buffer keeps the length
		 * of the ranges, which cmd_check_sgl() then refuses.
		 */
		n = NVME_DSM_NR(sqe->cdw10) * sizeof(struct nvme_dsm_range);
		*len = (uint32_t)n;
		if (sqe->dptr.sgl1.length > n && sqe->dptr.sgl1.length <= CMD_MAX_XFER)
			*len = sqe->dptr.sgl1.length;
		*dir = CMD_DIR_H2C;
		return NVME_SC_SUCCESS;
	case NVME_NVM_FLUSH:
	case NVME_NVM_WRITE_ZEROES:
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_OPCODE;
	}
}

uint16_t cmd_check_sgl(const struct nvme_sqe *sqe, uint32_t len, enum cmd_dir dir,
		       uint32_t icdata_len, bool *in_capsule)
{
	const struct nvme_sgl_desc *sgl = &sqe->dptr.sgl1;
	uint8_t psdt = sqe->flags & NVME_SQE_PSDT_MASK;

	*in_capsule = false;
	/* Fabrics commands use SGLs only (Base, "Common Command Format"). */
	if (psdt != NVME_SQE_PSDT_SGL_MPTR_BUF && psdt != NVME_SQE_PSDT_SGL_MPTR_SGL)
		return NVME_SC_INVALID_FIELD;
	if (dir == CMD_DIR_NONE)
		return sgl->length || icdata_len ? NVME_SC_SGL_INVALID_DATA_LEN :
			NVME_SC_SUCCESS;
	if (sgl->id == NVME_SGL_ID(NVME_SGL_TYPE_DATA_BLOCK, NVME_SGL_SUBTYPE_OFFSET)) {
		/* In-capsule data flows host to controller only; ICDOFF is 0. */
		if (dir != CMD_DIR_H2C)
			return NVME_SC_SGL_INVALID_TYPE;
		if (sgl->addr)
			return NVME_SC_SGL_INVALID_OFFSET;
		if (sgl->length != len || icdata_len != len)
			return NVME_SC_SGL_INVALID_DATA_LEN;
		*in_capsule = true;
		return NVME_SC_SUCCESS;
	}
	if (sgl->id == NVME_SGL_ID(NVME_SGL_TYPE_TRANSPORT_DATA, NVME_SGL_SUBTYPE_TRANSPORT)) {
		if (icdata_len)
			return NVME_SC_SGL_INVALID_DATA_LEN;
		return sgl->length == len ? NVME_SC_SUCCESS : NVME_SC_SGL_INVALID_DATA_LEN;
	}
	return NVME_SC_SGL_INVALID_TYPE;
}

uint16_t cmd_lba_range(const struct nvme_sqe *sqe, uint64_t nsze, uint64_t *slba,
		       uint32_t *nlb)
{
	*slba = (uint64_t)sqe->cdw11 << 32 | sqe->cdw10;
	*nlb = (sqe->cdw12 & NVME_RW_NLB_MASK) + 1;
	if (*slba >= nsze || *nlb > nsze - *slba)
		return NVME_SC_LBA_RANGE;
	return NVME_SC_SUCCESS;
}
