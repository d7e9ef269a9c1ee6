/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe wire layouts shared by the guest's driver, the EBS card (controller
 * face and NVMe/TCP host) and cv-storaged (NVMe/TCP controller).
 * NVM Express Base Specification 2.0 ("Base"; NVMe over Fabrics is its
 * chapter 6) and NVM Command Set Specification 1.0 ("NVM").  Sections are
 * cited by title, which is stable across revisions where numbers are not.
 *
 * Everything on the wire is little-endian; these are plain C structs, so the
 * code assumes a little-endian host (x86-64) and refuses to build elsewhere.
 * Freestanding: only <stdint.h>, so the test guest can include it too.
 */
#ifndef CV_NVME_H
#define CV_NVME_H

#include <stdbool.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "NVMe structures are little-endian on the wire; add byte swapping first"
#endif

/* Controller properties (Base, "Controller Properties"): BAR0 registers on
 * PCIe, Property Get/Set offsets on Fabrics. */
#define NVME_REG_CAP    0x00 /* 8 bytes */
#define NVME_REG_VS     0x08
#define NVME_REG_INTMS  0x0c
#define NVME_REG_INTMC  0x10
#define NVME_REG_CC     0x14
#define NVME_REG_CSTS   0x1c
#define NVME_REG_NSSR   0x20
#define NVME_REG_AQA    0x24
#define NVME_REG_ASQ    0x28 /* 8 bytes */
#define NVME_REG_ACQ    0x30 /* 8 bytes */
/* SQ y tail doorbell at DBS + 2y * stride, CQ y head at DBS + (2y + 1) * stride. */
#define NVME_REG_DBS    0x1000

#define NVME_CAP_MQES(cap)   ((uint32_t)((cap) & 0xffff))   /* 0's based */
#define NVME_CAP_CQR         (1ull << 16)
#define NVME_CAP_TO(cap)     ((uint32_t)(((cap) >> 24) & 0xff)) /* 500 ms units */
#define NVME_CAP_DSTRD(cap)  ((uint32_t)(((cap) >> 32) & 0xf))  /* stride 4 << DSTRD */
#define NVME_CAP_CSS_NVM     (1ull << 37)
#define NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf))  /* 4 KiB << MPSMIN */
#define NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))

#define NVME_VS(major, minor, ter) ((uint32_t)(major) << 16 | (minor) << 8 | (ter))

#define NVME_CC_EN            (1u << 0)
#define NVME_CC_CSS(cc)       (((cc) >> 4) & 0x7)
#define NVME_CC_MPS(cc)       (((cc) >> 7) & 0xf)
#define NVME_CC_SHN(cc)       (((cc) >> 14) & 0x3)
#define NVME_CC_SHN_NONE      0
#define NVME_CC_SHN_NORMAL    1
#define NVME_CC_SHN_ABRUPT    2
#define NVME_CC_IOSQES(cc)    (((cc) >> 16) & 0xf)  /* log2 of the SQE size: 6 */
#define NVME_CC_IOCQES(cc)    (((cc) >> 20) & 0xf)  /* log2 of the CQE size: 4 */

#define NVME_CSTS_RDY           (1u << 0)
#define NVME_CSTS_CFS           (1u << 1)
#define NVME_CSTS_SHST_MASK     (3u << 2)
#define NVME_CSTS_SHST_NORMAL   (0u << 2)
#define NVME_CSTS_SHST_OCCURRING (1u << 2)
#define NVME_CSTS_SHST_COMPLETE (2u << 2)

#define NVME_AQA_ASQS(aqa)    ((aqa) & 0xfff)         /* 0's based */
#define NVME_AQA_ACQS(aqa)    (((aqa) >> 16) & 0xfff) /* 0's based */

/* Admin command opcodes (Base, "Admin Command Set": opcodes table). */
enum nvme_admin_opcode {
	NVME_ADMIN_DELETE_SQ     = 0x00,
	NVME_ADMIN_CREATE_SQ     = 0x01,
	NVME_ADMIN_GET_LOG_PAGE  = 0x02,
	NVME_ADMIN_DELETE_CQ     = 0x04,
	NVME_ADMIN_CREATE_CQ     = 0x05,
	NVME_ADMIN_IDENTIFY      = 0x06,
	NVME_ADMIN_ABORT         = 0x08,
	NVME_ADMIN_SET_FEATURES  = 0x09,
	NVME_ADMIN_GET_FEATURES  = 0x0a,
	NVME_ADMIN_ASYNC_EVENT   = 0x0c,
	NVME_ADMIN_KEEP_ALIVE    = 0x18,
	NVME_ADMIN_DBBUF_CONFIG  = 0x7c,
	NVME_ADMIN_FABRICS       = 0x7f, /* also sent on I/O queues (Connect) */
	NVME_ADMIN_FORMAT_NVM    = 0x80,
};

/* I/O command opcodes (NVM, "I/O Commands for the NVM Command Set"). */
enum nvme_nvm_opcode {
	NVME_NVM_FLUSH           = 0x00,
	NVME_NVM_WRITE           = 0x01,
	NVME_NVM_READ            = 0x02,
	NVME_NVM_WRITE_UNCOR     = 0x04,
	NVME_NVM_COMPARE         = 0x05,
	NVME_NVM_WRITE_ZEROES    = 0x08,
	NVME_NVM_DSM             = 0x09,
	NVME_NVM_VERIFY          = 0x0c,
};

/*
 * Bits 1:0 of an opcode give its data direction, 01b host to controller,
 * 10b controller to host (Base, opcode tables, "Data Transfer" column):
 * NVMe/TCP needs it to tell in-capsule write data from a read.
 */
#define NVME_OPC_HOST_TO_CTRL(opc) (((opc) & 3) == 1)
#define NVME_OPC_CTRL_TO_HOST(opc) (((opc) & 3) == 2)

/* Read/Write/Write Zeroes CDW12 (NVM, "Read command", "Write command"). */
#define NVME_RW_NLB_MASK  0xffffu       /* 0's based block count */
#define NVME_RW_FUA       (1u << 30)
#define NVME_RW_LR        (1u << 31)

/* SQE byte 1 (Base, "Common Command Format"): fused operation, PRP or SGL. */
#define NVME_SQE_FUSE_MASK     0x03
#define NVME_SQE_PSDT_SHIFT    6
#define NVME_SQE_PSDT_MASK     (3u << 6)
#define NVME_SQE_PSDT_PRP      (0u << 6)
#define NVME_SQE_PSDT_SGL_MPTR_BUF (1u << 6) /* MPTR: one contiguous buffer */
#define NVME_SQE_PSDT_SGL_MPTR_SGL (2u << 6) /* MPTR: an SGL segment */

/*
 * SGL descriptor (Base, "Scatter Gather List (SGL)").  Byte 15 is the SGL
 * identifier: descriptor type in bits 7:4, subtype in bits 3:0.  Every type
 * this project uses shares one layout: address, 32-bit length, three
 * reserved bytes.
 */
enum nvme_sgl_type {
	NVME_SGL_TYPE_DATA_BLOCK     = 0x0,
	NVME_SGL_TYPE_BIT_BUCKET     = 0x1,
	NVME_SGL_TYPE_SEGMENT        = 0x2,
	NVME_SGL_TYPE_LAST_SEGMENT   = 0x3,
	NVME_SGL_TYPE_KEYED_DATA     = 0x4,
	NVME_SGL_TYPE_TRANSPORT_DATA = 0x5,
};

enum nvme_sgl_subtype {
	NVME_SGL_SUBTYPE_ADDRESS     = 0x0,
	NVME_SGL_SUBTYPE_OFFSET      = 0x1, /* in-capsule data: address is an offset */
	NVME_SGL_SUBTYPE_TRANSPORT   = 0xa, /* "transport specific": NVMe/TCP 1.0, 3.3 */
};

#define NVME_SGL_ID(type, subtype) ((uint8_t)((type) << 4 | (subtype)))
#define NVME_SGL_ID_TYPE(id)       ((id) >> 4)
#define NVME_SGL_ID_SUBTYPE(id)    ((id) & 0xf)

struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t length;
	uint8_t  rsvd[3];
	uint8_t  id;          /* NVME_SGL_ID(type, subtype) */
};

union nvme_dptr {
	struct {
		uint64_t prp1;
		uint64_t prp2;
	} prp;
	struct nvme_sgl_desc sgl1;
};

/* Submission queue entry (Base, "Common Command Format"). */
struct nvme_sqe {
	uint8_t  opc;
	uint8_t  flags;       /* FUSE, PSDT */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	union nvme_dptr dptr;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};

/*
 * Completion queue entry (Base, "Completion Queue Entry").  The 16-bit
 * status word carries the phase tag in bit 0 and the status field above it:
 * SC 8:1, SCT 11:9, CRD 13:12, More 14, DNR 15 ("Status Field Definition").
 */
struct nvme_cqe {
	uint32_t dw0;         /* command specific */
	uint32_t dw1;         /* command specific */
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;
};

#define NVME_STATUS_P          (1u << 0)
#define NVME_STATUS_SC_SHIFT   1
#define NVME_STATUS_SCT_SHIFT  9
#define NVME_STATUS_CRD_SHIFT  12
#define NVME_STATUS_MORE       (1u << 14)
#define NVME_STATUS_DNR        (1u << 15)

/* Status code types (Base, "Status Code Type (SCT)"). */
enum nvme_sct {
	NVME_SCT_GENERIC  = 0,
	NVME_SCT_CMD      = 1,
	NVME_SCT_MEDIA    = 2,
	NVME_SCT_PATH     = 3,
	NVME_SCT_VENDOR   = 7,
};

/*
 * Status codes as (SCT << 8 | SC), so one constant names both; shifted left
 * by one it is the CQE status word without phase, More and DNR.
 */
#define NVME_SC(sct, sc)       ((uint16_t)((sct) << 8 | (sc)))
#define NVME_SC_SCT(code)      ((code) >> 8 & 0x7)
#define NVME_SC_SC(code)       ((code) & 0xff)

enum nvme_status_code {
	/* Generic command status (Base, "Generic Command Status Definition"). */
	NVME_SC_SUCCESS              = NVME_SC(NVME_SCT_GENERIC, 0x00),
	NVME_SC_INVALID_OPCODE       = NVME_SC(NVME_SCT_GENERIC, 0x01),
	NVME_SC_INVALID_FIELD        = NVME_SC(NVME_SCT_GENERIC, 0x02),
	NVME_SC_CID_CONFLICT         = NVME_SC(NVME_SCT_GENERIC, 0x03),
	NVME_SC_DATA_XFER_ERROR      = NVME_SC(NVME_SCT_GENERIC, 0x04),
	NVME_SC_POWER_LOSS           = NVME_SC(NVME_SCT_GENERIC, 0x05),
	NVME_SC_INTERNAL             = NVME_SC(NVME_SCT_GENERIC, 0x06),
	NVME_SC_ABORT_REQ            = NVME_SC(NVME_SCT_GENERIC, 0x07),
	NVME_SC_ABORT_SQ_DELETED     = NVME_SC(NVME_SCT_GENERIC, 0x08),
	NVME_SC_INVALID_NS           = NVME_SC(NVME_SCT_GENERIC, 0x0b),
	NVME_SC_CMD_SEQ_ERROR        = NVME_SC(NVME_SCT_GENERIC, 0x0c),
	NVME_SC_SGL_INVALID_LAST     = NVME_SC(NVME_SCT_GENERIC, 0x0d),
	NVME_SC_SGL_INVALID_COUNT    = NVME_SC(NVME_SCT_GENERIC, 0x0e),
	NVME_SC_SGL_INVALID_DATA_LEN = NVME_SC(NVME_SCT_GENERIC, 0x0f),
	NVME_SC_SGL_INVALID_TYPE     = NVME_SC(NVME_SCT_GENERIC, 0x11),
	NVME_SC_PRP_INVALID_OFFSET   = NVME_SC(NVME_SCT_GENERIC, 0x13),
	NVME_SC_SGL_INVALID_OFFSET   = NVME_SC(NVME_SCT_GENERIC, 0x16),
	NVME_SC_HOSTID_FORMAT        = NVME_SC(NVME_SCT_GENERIC, 0x18),
	NVME_SC_KA_TIMEOUT_EXPIRED   = NVME_SC(NVME_SCT_GENERIC, 0x19),
	NVME_SC_KA_TIMEOUT_INVALID   = NVME_SC(NVME_SCT_GENERIC, 0x1a),
	NVME_SC_NS_WRITE_PROTECTED   = NVME_SC(NVME_SCT_GENERIC, 0x20),
	NVME_SC_TRANSIENT_TRANSPORT  = NVME_SC(NVME_SCT_GENERIC, 0x22),
	/* Generic, NVM command set specific (NVM, "Status Information"). */
	NVME_SC_LBA_RANGE            = NVME_SC(NVME_SCT_GENERIC, 0x80),
	NVME_SC_CAP_EXCEEDED         = NVME_SC(NVME_SCT_GENERIC, 0x81),
	NVME_SC_NS_NOT_READY         = NVME_SC(NVME_SCT_GENERIC, 0x82),
	NVME_SC_RESERVATION_CONFLICT = NVME_SC(NVME_SCT_GENERIC, 0x83),
	/* Command specific status (Base, "Command Specific Status Definition"). */
	NVME_SC_CQ_INVALID           = NVME_SC(NVME_SCT_CMD, 0x00),
	NVME_SC_INVALID_QID          = NVME_SC(NVME_SCT_CMD, 0x01),
	NVME_SC_INVALID_QSIZE        = NVME_SC(NVME_SCT_CMD, 0x02),
	NVME_SC_ABORT_LIMIT          = NVME_SC(NVME_SCT_CMD, 0x03),
	NVME_SC_AER_LIMIT            = NVME_SC(NVME_SCT_CMD, 0x05),
	NVME_SC_INVALID_VECTOR       = NVME_SC(NVME_SCT_CMD, 0x08),
	NVME_SC_INVALID_LOG_PAGE     = NVME_SC(NVME_SCT_CMD, 0x09),
	NVME_SC_INVALID_FORMAT       = NVME_SC(NVME_SCT_CMD, 0x0a),
	NVME_SC_QID_DELETION         = NVME_SC(NVME_SCT_CMD, 0x0c),
	NVME_SC_FEATURE_NOT_SAVEABLE = NVME_SC(NVME_SCT_CMD, 0x0d),
	NVME_SC_FEATURE_NOT_CHANGEABLE = NVME_SC(NVME_SCT_CMD, 0x0e),
	/* Fabrics Connect (Base, "Connect Command and Response"). */
	NVME_SC_CONNECT_FORMAT       = NVME_SC(NVME_SCT_CMD, 0x80),
	NVME_SC_CONNECT_CTRL_BUSY    = NVME_SC(NVME_SCT_CMD, 0x81),
	NVME_SC_CONNECT_INVALID_PARAM = NVME_SC(NVME_SCT_CMD, 0x82),
	NVME_SC_CONNECT_RESTART_DISC = NVME_SC(NVME_SCT_CMD, 0x83),
	NVME_SC_CONNECT_INVALID_HOST = NVME_SC(NVME_SCT_CMD, 0x84),
	/* NVM command set, command specific (NVM, "Status Information"). */
	NVME_SC_WRITE_TO_RO          = NVME_SC(NVME_SCT_CMD, 0x82),
	/* Media and data integrity errors (Base, "Media and Data Integrity Errors"). */
	NVME_SC_WRITE_FAULT          = NVME_SC(NVME_SCT_MEDIA, 0x80),
	NVME_SC_READ_ERROR           = NVME_SC(NVME_SCT_MEDIA, 0x81),
	NVME_SC_COMPARE_FAILED       = NVME_SC(NVME_SCT_MEDIA, 0x85),
	NVME_SC_ACCESS_DENIED        = NVME_SC(NVME_SCT_MEDIA, 0x86),
	/* Path related (Base, "Path Related Status"): a host's own transport failure. */
	NVME_SC_INTERNAL_PATH_ERROR  = NVME_SC(NVME_SCT_PATH, 0x00),
	NVME_SC_HOST_PATH_ERROR      = NVME_SC(NVME_SCT_PATH, 0x70),
	NVME_SC_HOST_ABORTED_CMD     = NVME_SC(NVME_SCT_PATH, 0x71),
};

/* The CQE status word for a status code: phase clear, the caller sets it. */
static inline uint16_t nvme_cqe_status(enum nvme_status_code code, bool dnr)
{
	return (uint16_t)((unsigned)code << NVME_STATUS_SC_SHIFT |
			  (dnr ? NVME_STATUS_DNR : 0));
}

/* The status code (SCT << 8 | SC) of a CQE status word. */
static inline uint16_t nvme_cqe_code(uint16_t status)
{
	return (status >> NVME_STATUS_SC_SHIFT) & 0x7ff;
}

/* ---- NVMe over Fabrics (Base, "Fabrics Command Set") ---- */

/* Fabrics command types, byte 4 of an opcode 0x7f SQE. */
enum nvmf_fctype {
	NVMF_FCTYPE_PROP_SET  = 0x00,
	NVMF_FCTYPE_CONNECT   = 0x01,
	NVMF_FCTYPE_PROP_GET  = 0x04,
	NVMF_FCTYPE_AUTH_SEND = 0x05,
	NVMF_FCTYPE_AUTH_RECV = 0x06,
	NVMF_FCTYPE_DISCONNECT = 0x08,
};

/* Common Fabrics command layout (Base, "Fabrics Command"). */
struct nvmf_cmd {
	uint8_t  opc;         /* NVME_ADMIN_FABRICS */
	uint8_t  rsvd1;
	uint16_t cid;
	uint8_t  fctype;
	uint8_t  rsvd5[19];
	union nvme_dptr dptr;
	uint8_t  fcspec[24];
};

/* Connect command (Base, "Connect Command and Response"): creates the admin
 * queue (and with it a controller) or one I/O queue. */
struct nvmf_connect_cmd {
	uint8_t  opc;
	uint8_t  rsvd1;
	uint16_t cid;
	uint8_t  fctype;      /* NVMF_FCTYPE_CONNECT */
	uint8_t  rsvd5[19];
	union nvme_dptr dptr; /* SGL for the 1024-byte struct nvmf_connect_data */
	uint16_t recfmt;      /* 0 */
	uint16_t qid;         /* 0: admin queue */
	uint16_t sqsize;      /* 0's based */
	uint8_t  cattr;
	uint8_t  rsvd47;
	uint32_t kato;        /* keep alive timeout, ms */
	uint8_t  rsvd52[12];
};

#define NVMF_CONNECT_RECFMT       0
/* The Connect that creates the admin queue asks for a new controller. */
#define NVMF_CNTLID_DYNAMIC       0xffff
#define NVMF_NQN_FIELD_LEN        256

/* Connect data, sent as the Connect command's data. */
struct nvmf_connect_data {
	uint8_t  hostid[16];  /* UUID */
	uint16_t cntlid;
	uint8_t  rsvd18[238];
	char     subnqn[NVMF_NQN_FIELD_LEN];
	char     hostnqn[NVMF_NQN_FIELD_LEN];
	uint8_t  rsvd768[256];
};

/* Connect response DW0. */
#define NVMF_CONNECT_RSP_CNTLID(dw0)  ((uint16_t)((dw0) & 0xffff))
/* With Connect Invalid Parameters: which field of the SQE (0) or data (1). */
#define NVMF_CONNECT_RSP_IATTR_DATA   (1u << 0)
#define NVMF_CONNECT_RSP_IPO(ofs)     ((uint32_t)(ofs) << 16)

/* Property Get / Set (Base, "Property Get Command", "Property Set Command"). */
#define NVMF_PROP_ATTRIB_SIZE_4   0
#define NVMF_PROP_ATTRIB_SIZE_8   1

struct nvmf_prop_get_cmd {
	uint8_t  opc;
	uint8_t  rsvd1;
	uint16_t cid;
	uint8_t  fctype;      /* NVMF_FCTYPE_PROP_GET */
	uint8_t  rsvd5[35];
	uint8_t  attrib;      /* NVMF_PROP_ATTRIB_SIZE_* */
	uint8_t  rsvd41[3];
	uint32_t offset;      /* NVME_REG_* */
	uint8_t  rsvd48[16];
};

/* The Property Get response carries the value in DW0 (and DW1 for 8 bytes). */
struct nvmf_prop_set_cmd {
	uint8_t  opc;
	uint8_t  rsvd1;
	uint16_t cid;
	uint8_t  fctype;      /* NVMF_FCTYPE_PROP_SET */
	uint8_t  rsvd5[35];
	uint8_t  attrib;
	uint8_t  rsvd41[3];
	uint32_t offset;
	uint64_t value;
	uint8_t  rsvd56[8];
};

_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");
_Static_assert(sizeof(struct nvmf_cmd) == 64, "Fabrics SQE is 64 bytes");
_Static_assert(sizeof(struct nvmf_connect_cmd) == 64, "Connect SQE is 64 bytes");
_Static_assert(sizeof(struct nvmf_prop_get_cmd) == 64, "Property Get is 64 bytes");
_Static_assert(sizeof(struct nvmf_prop_set_cmd) == 64, "Property Set is 64 bytes");
_Static_assert(sizeof(struct nvmf_connect_data) == 1024, "Connect data is 1 KiB");

#endif /* CV_NVME_H */
