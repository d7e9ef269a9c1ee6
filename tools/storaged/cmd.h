/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding a command capsule before anything is done with it: which data
 * it moves and which way, whether SGL1 describes that data the way NVMe/TCP
 * allows, and whether its LBA range fits the namespace.  Pure functions on
 * the SQE; each returns an NVMe status code (NVME_SC_SUCCESS or the status
 * the spec names for the fault).
 */
#ifndef CV_STORAGED_CMD_H
#define CV_STORAGED_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "guest-abi/nvme.h"

/* Maximum Data Transfer Size: 2^MDTS pages of CAP.MPSMIN (4 KiB): 1 MiB. */
#define CMD_MDTS          8
#define CMD_MAX_XFER      (4096u << CMD_MDTS)
/* Bytes of in-capsule data a command capsule may carry (IOCCSZ * 16 - 64). */
#define CMD_MAX_ICDATA    8192u

enum cmd_dir { CMD_DIR_NONE, CMD_DIR_H2C, CMD_DIR_C2H };

/*
 * The data the command moves: *len bytes in direction *dir.  admin: the
 * command arrived on the admin queue (the opcode tables differ).  Dataset
 * Management moves the whole buffer SGL1 describes when that holds its
 * ranges: only the first NR+1 ranges of it are read.
 */
uint16_t cmd_xfer(const struct nvme_sqe *sqe, bool admin, uint32_t *len,
		  enum cmd_dir *dir);

/*
 * SGL1 against the transfer (TCP Transport 1.0, "Transport Specific
 * Information"): len bytes either as in-capsule data (a Data Block with
 * the Offset subtype, icdata_len of it in the capsule) or as a Transport
 * SGL Data Block moved by R2T/H2CData or C2HData.  *in_capsule tells which.
 */
uint16_t cmd_check_sgl(const struct nvme_sqe *sqe, uint32_t len, enum cmd_dir dir,
		       uint32_t icdata_len, bool *in_capsule);

/*
 * SLBA (CDW11:10) and NLB (CDW12, 0's based) of Read, Write and Write
 * Zeroes against a namespace of nsze blocks: LBA Out of Range when the
 * last block lies past the end.
 */
uint16_t cmd_lba_range(const struct nvme_sqe *sqe, uint64_t nsze, uint64_t *slba,
		       uint32_t *nlb);

#endif /* CV_STORAGED_CMD_H */
