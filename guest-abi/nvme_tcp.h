/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe/TCP PDU layouts (NVM Express TCP Transport Specification 1.0, "PDU
 * Formats"; sections cited by title), spoken between the EBS card (host) and
 * cv-storaged (controller).  Little-endian on the wire, plain C structs:
 * guest-abi/nvme.h refuses big-endian hosts.
 *
 * A PDU is: common header (CH, 8 bytes), PDU specific header (PSH) up to
 * HLEN, header digest (HDGST, 4) if HDGSTF, padding (PAD) up to PDO, data,
 * data digest (DDGST, 4) if DDGSTF; PLEN counts all of it.
 */
#ifndef CV_NVME_TCP_ABI_H
#define CV_NVME_TCP_ABI_H

#include <stdint.h>

#include "guest-abi/nvme.h"

#define NVME_TCP_PORT           4420   /* IANA "nvme-tcp" */
#define NVME_TCP_DISC_PORT      8009   /* discovery controllers */

enum nvme_tcp_pdu_type {
	NVME_TCP_ICREQ          = 0x00,
	NVME_TCP_ICRESP         = 0x01,
	NVME_TCP_H2C_TERM_REQ   = 0x02,
	NVME_TCP_C2H_TERM_REQ   = 0x03,
	NVME_TCP_CAPSULE_CMD    = 0x04,
	NVME_TCP_CAPSULE_RESP   = 0x05,
	NVME_TCP_H2C_DATA       = 0x06,
	NVME_TCP_C2H_DATA       = 0x07,
	NVME_TCP_R2T            = 0x09,
};

/* CH.FLAGS ("Common Header"). */
#define NVME_TCP_F_HDGSTF       (1u << 0)
#define NVME_TCP_F_DDGSTF       (1u << 1)
#define NVME_TCP_F_LAST_PDU     (1u << 2) /* H2CData, C2HData */
#define NVME_TCP_F_SUCCESS      (1u << 3) /* C2HData: no CapsuleResp follows */

/* CH.HLEN is fixed per PDU type. */
#define NVME_TCP_IC_HLEN        128
#define NVME_TCP_TERM_HLEN      24
#define NVME_TCP_CMD_HLEN       72
#define NVME_TCP_RESP_HLEN      24
#define NVME_TCP_DATA_HLEN      24
#define NVME_TCP_R2T_HLEN       24

#define NVME_TCP_DIGEST_LEN     4      /* CRC32C, little-endian */
#define NVME_TCP_PFV_1_0        0
#define NVME_TCP_PDA_MAX        31     /* HPDA/CPDA: 0's based dwords */
#define NVME_TCP_MAXH2CDATA_MIN 4096
/* A TermReq carries the offending PDU header, at most 128 bytes of it. */
#define NVME_TCP_TERM_DATA_MAX  128
#define NVME_TCP_TERM_PLEN_MAX  (NVME_TCP_TERM_HLEN + NVME_TCP_TERM_DATA_MAX)

/* ICReq/ICResp DGST byte: which digests the host asks for, the controller grants. */
#define NVME_TCP_DGST_HDGST     (1u << 0)
#define NVME_TCP_DGST_DDGST     (1u << 1)

/*
 * Fatal error status of H2CTermReq/C2HTermReq ("H2CTermReq", "C2HTermReq";
 * sending one ends the connection).  Value 5 is named after the limit the sender checks: the
 * controller reports an H2CData over MAXH2CDATA, the host too many R2Ts.
 */
enum nvme_tcp_fes {
	NVME_TCP_FES_INVALID_HDR_FIELD  = 0x01, /* FEI: byte offset of the field */
	NVME_TCP_FES_PDU_SEQUENCE       = 0x02,
	NVME_TCP_FES_HDR_DIGEST         = 0x03,
	NVME_TCP_FES_DATA_OUT_OF_RANGE  = 0x04,
	NVME_TCP_FES_DATA_LIMIT         = 0x05, /* C2HTermReq */
	NVME_TCP_FES_R2T_LIMIT          = 0x05, /* H2CTermReq */
	NVME_TCP_FES_UNSUPPORTED_PARAM  = 0x06, /* FEI: byte offset of the field */
};

/* Common header: the first 8 bytes of every PDU. */
struct nvme_tcp_ch {
	uint8_t  pdu_type;
	uint8_t  flags;
	uint8_t  hlen;
	uint8_t  pdo;
	uint32_t plen;
};

/* Initialize Connection Request: the host's first PDU. */
struct nvme_tcp_icreq {
	struct nvme_tcp_ch ch;
	uint16_t pfv;
	uint8_t  hpda;        /* alignment the host wants for C2H data */
	uint8_t  dgst;        /* NVME_TCP_DGST_* requested */
	uint32_t maxr2t;      /* 0's based: outstanding R2Ts per command */
	uint8_t  rsvd16[112];
};

/* Initialize Connection Response. */
struct nvme_tcp_icresp {
	struct nvme_tcp_ch ch;
	uint16_t pfv;
	uint8_t  cpda;        /* alignment the controller wants for H2C data */
	uint8_t  dgst;        /* NVME_TCP_DGST_* enabled */
	uint32_t maxh2cdata;  /* bytes of data in one H2CData PDU */
	uint8_t  rsvd16[112];
};

/* H2CTermReq and C2HTermReq; the offending header follows as PDU data. */
struct nvme_tcp_term_req {
	struct nvme_tcp_ch ch;
	uint16_t fes;
	uint32_t fei;
	uint8_t  rsvd14[10];
} __attribute__((packed));

struct nvme_tcp_capsule_cmd {
	struct nvme_tcp_ch ch;
	struct nvme_sqe sqe;  /* in-capsule data, if any, at PDO */
};

struct nvme_tcp_capsule_resp {
	struct nvme_tcp_ch ch;
	struct nvme_cqe cqe;
};

/* H2CData and C2HData (TTAG is reserved in C2HData). */
struct nvme_tcp_data {
	struct nvme_tcp_ch ch;
	uint16_t cccid;       /* the command's CID */
	uint16_t ttag;        /* from the R2T this answers */
	uint32_t datao;       /* offset within the command's data */
	uint32_t datal;
	uint8_t  rsvd20[4];
};

/* Ready to Transfer: the controller asks for R2TL bytes at R2TO. */
struct nvme_tcp_r2t {
	struct nvme_tcp_ch ch;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to;
	uint32_t r2tl;
	uint8_t  rsvd20[4];
};

_Static_assert(sizeof(struct nvme_tcp_ch) == 8, "CH is 8 bytes");
_Static_assert(sizeof(struct nvme_tcp_icreq) == NVME_TCP_IC_HLEN, "ICReq");
_Static_assert(sizeof(struct nvme_tcp_icresp) == NVME_TCP_IC_HLEN, "ICResp");
_Static_assert(sizeof(struct nvme_tcp_term_req) == NVME_TCP_TERM_HLEN, "TermReq");
_Static_assert(sizeof(struct nvme_tcp_capsule_cmd) == NVME_TCP_CMD_HLEN, "CapsuleCmd");
_Static_assert(sizeof(struct nvme_tcp_capsule_resp) == NVME_TCP_RESP_HLEN, "CapsuleResp");
_Static_assert(sizeof(struct nvme_tcp_data) == NVME_TCP_DATA_HLEN, "H2CData/C2HData");
_Static_assert(sizeof(struct nvme_tcp_r2t) == NVME_TCP_R2T_HLEN, "R2T");

#endif /* CV_NVME_TCP_ABI_H */
