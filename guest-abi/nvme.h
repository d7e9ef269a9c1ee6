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
#define NVME_CC_AMS(cc)       (((cc) >> 11) & 0x7)  /* 0: round robin */
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
#define NVME_AQA_VALID        0x0fff0fffu             /* the rest is reserved */

/* Every namespace at once (Base, "Namespace Identifier (NSID)"). */
#define NVME_NSID_BROADCAST   0xffffffffu

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
/* With Connect Invalid Parameters: IPO, the field's byte offset (bits 15:00), and
 * IATTR (bits 23:16), bit 0 set for a field of the Connect data, clear for the SQE. */
#define NVMF_CONNECT_RSP_IATTR_DATA   (1u << 16)
#define NVMF_CONNECT_RSP_IPO(ofs)     ((uint32_t)(ofs) & 0xffff)

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

/* ---- Admin command data layouts (Base, "Admin Command Set") ---- */

/* CAP fields this project sets (Base, "Offset 0h: CAP"). */
#define NVME_CAP_SET_MQES(v)   ((uint64_t)((v) & 0xffff))
#define NVME_CAP_SET_TO(v)     ((uint64_t)((v) & 0xff) << 24)
#define NVME_CAP_SET_MPSMIN(v) ((uint64_t)((v) & 0xf) << 48)
#define NVME_CAP_SET_MPSMAX(v) ((uint64_t)((v) & 0xf) << 52)
#define NVME_CC_CSS_NVM        0
#define NVME_SQES_LOG2         6   /* 64-byte SQE */
#define NVME_CQES_LOG2         4   /* 16-byte CQE */

/* Identify CDW10 CNS values (Base, "Identify command"). */
#define NVME_IDENTIFY_CNS(cdw10) ((cdw10) & 0xff)
enum nvme_identify_cns {
	NVME_CNS_NS              = 0x00,
	NVME_CNS_CTRL            = 0x01,
	NVME_CNS_ACTIVE_NS_LIST  = 0x02,
	NVME_CNS_NS_DESC_LIST    = 0x03,
	NVME_CNS_CS_CTRL         = 0x06,  /* I/O command set specific controller */
};
#define NVME_IDENTIFY_CDW11_CSI(c) ((c) >> 24)

#define NVME_IDENTIFY_LEN 4096

/* Power state descriptor (Base, "Identify Controller": PSD0..31). */
struct nvme_id_power_state {
	uint16_t mp;          /* maximum power, centiwatts */
	uint8_t  rsvd2;
	uint8_t  flags;
	uint32_t enlat;
	uint32_t exlat;
	uint8_t  rrt, rrl, rwt, rwl;
	uint16_t idlp;
	uint8_t  ips;
	uint8_t  rsvd19;
	uint16_t actp;
	uint8_t  apws;
	uint8_t  rsvd23[9];
};

/* Identify Controller data structure (Base, "Identify Controller"). */
struct nvme_id_ctrl {
	uint16_t vid;
	uint16_t ssvid;
	char     sn[20];      /* ASCII, space padded */
	char     mn[40];
	char     fr[8];
	uint8_t  rab;
	uint8_t  ieee[3];
	uint8_t  cmic;
	uint8_t  mdts;        /* max transfer 2^mdts * CAP.MPSMIN pages; 0 none */
	uint16_t cntlid;
	uint32_t ver;
	uint32_t rtd3r;
	uint32_t rtd3e;
	uint32_t oaes;
	uint32_t ctratt;
	uint16_t rrls;
	uint8_t  rsvd102[9];
	uint8_t  cntrltype;
	uint8_t  fguid[16];
	uint16_t crdt1, crdt2, crdt3;
	uint8_t  rsvd134[119];
	uint8_t  nvmsr;
	uint8_t  vwci;
	uint8_t  mec;
	uint16_t oacs;
	uint8_t  acl;         /* 0's based */
	uint8_t  aerl;        /* 0's based */
	uint8_t  frmw;
	uint8_t  lpa;
	uint8_t  elpe;        /* 0's based */
	uint8_t  npss;        /* 0's based */
	uint8_t  avscc;
	uint8_t  apsta;
	uint16_t wctemp;      /* kelvin */
	uint16_t cctemp;
	uint16_t mtfa;
	uint32_t hmpre;
	uint32_t hmmin;
	uint8_t  tnvmcap[16];
	uint8_t  unvmcap[16];
	uint32_t rpmbs;
	uint16_t edstt;
	uint8_t  dsto;
	uint8_t  fwug;
	uint16_t kas;
	uint16_t hctma;
	uint16_t mntmt;
	uint16_t mxtmt;
	uint32_t sanicap;
	uint32_t hmminds;
	uint16_t hmmaxd;
	uint16_t nsetidmax;
	uint16_t endgidmax;
	uint8_t  anatt;
	uint8_t  anacap;
	uint32_t anagrpmax;
	uint32_t nanagrpid;
	uint32_t pels;
	uint16_t domainid;
	uint8_t  rsvd358[10];
	uint8_t  megcap[16];
	uint8_t  rsvd384[128];
	uint8_t  sqes;        /* max log2 7:4, required log2 3:0 */
	uint8_t  cqes;
	uint16_t maxcmd;
	uint32_t nn;
	uint16_t oncs;
	uint16_t fuses;
	uint8_t  fna;
	uint8_t  vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t  icsvscc;
	uint8_t  nwpc;
	uint16_t acwu;
	uint16_t ocfs;
	uint32_t sgls;
	uint32_t mnan;
	uint8_t  maxdna[16];
	uint32_t maxcna;
	uint8_t  rsvd564[204];
	char     subnqn[256];
	uint8_t  rsvd1024[768];
	uint8_t  nvmof[256];  /* Fabrics only */
	struct nvme_id_power_state psd[32];
	uint8_t  vs[1024];
};

#define NVME_CTRL_CNTRLTYPE_IO      1
#define NVME_CTRL_OACS_DBBUF        (1u << 8)
#define NVME_CTRL_FRMW_SLOT1_RO     (1u << 0)
#define NVME_CTRL_FRMW_NR_SLOTS(n)  ((n) << 1)
#define NVME_CTRL_LPA_EXT_DATA      (1u << 2)  /* NUMDU and offsets */
#define NVME_CTRL_ONCS_DSM          (1u << 2)
#define NVME_CTRL_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_CTRL_VWC_PRESENT       (1u << 0)
#define NVME_CTRL_VWC_FLUSH_ALL     (3u << 1)  /* Flush with NSID FFFFFFFFh */
#define NVME_CTRL_SGLS_SUPPORTED    (1u << 0)  /* bits 1:0 = 01b: no alignment */

/* LBA format (NVM, "Identify Namespace": LBAF0..63). */
struct nvme_lbaf {
	uint16_t ms;          /* metadata bytes per LBA */
	uint8_t  lbads;       /* log2 of the LBA data size */
	uint8_t  rp;
};

/* Identify Namespace data structure, NVM command set (NVM, "Identify Namespace"). */
struct nvme_id_ns {
	uint64_t nsze;
	uint64_t ncap;
	uint64_t nuse;
	uint8_t  nsfeat;
	uint8_t  nlbaf;       /* 0's based */
	uint8_t  flbas;
	uint8_t  mc;
	uint8_t  dpc;
	uint8_t  dps;
	uint8_t  nmic;
	uint8_t  rescap;
	uint8_t  fpi;
	uint8_t  dlfeat;
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint8_t  nvmcap[16];
	uint16_t npwg;
	uint16_t npwa;
	uint16_t npdg;
	uint16_t npda;
	uint16_t nows;
	uint16_t mssrl;
	uint32_t mcl;
	uint8_t  msrc;
	uint8_t  rsvd81[11];
	uint32_t anagrpid;
	uint8_t  rsvd96[3];
	uint8_t  nsattr;
	uint16_t nvmsetid;
	uint16_t endgid;
	uint8_t  nguid[16];
	uint8_t  eui64[8];
	struct nvme_lbaf lbaf[64];
	uint8_t  rsvd384[3712];
};

/* Namespace Identification Descriptor header (Base, "Identify" CNS 03h). */
struct nvme_ns_id_desc {
	uint8_t  nidt;
	uint8_t  nidl;
	uint8_t  rsvd[2];
	/* nidl bytes of identifier follow */
};

enum nvme_nidt {
	NVME_NIDT_EUI64 = 1,
	NVME_NIDT_NGUID = 2,
	NVME_NIDT_UUID  = 3,
	NVME_NIDT_CSI   = 4,
};

#define NVME_CSI_NVM 0

/* Get Log Page (Base, "Get Log Page command"). */
enum nvme_log_id {
	NVME_LOG_ERROR     = 0x01,
	NVME_LOG_SMART     = 0x02,
	NVME_LOG_FW_SLOT   = 0x03,
};

#define NVME_LOG_CDW10_LID(c)   ((c) & 0xff)
#define NVME_LOG_CDW10_RAE      (1u << 15)
#define NVME_LOG_CDW10_NUMDL(c) ((c) >> 16)
#define NVME_LOG_CDW11_NUMDU(c) ((c) & 0xffff)

/* Error Information log entry (Base, "Error Information (Log Page Identifier 01h)"). */
struct nvme_error_log {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;      /* status field, bit 0 the phase tag */
	uint16_t param_error_location;
	uint64_t lba;
	uint32_t nsid;
	uint8_t  vs;
	uint8_t  trtype;
	uint8_t  rsvd30[2];
	uint64_t cs;
	uint16_t trtype_specific;
	uint8_t  rsvd42[22];
};

/* SMART / Health Information (Base, "SMART / Health Information (Log Page Identifier 02h)"). */
struct nvme_smart_log {
	uint8_t  critical_warning;
	uint16_t composite_temp;  /* kelvin */
	uint8_t  avail_spare;
	uint8_t  spare_thresh;
	uint8_t  percent_used;
	uint8_t  endgrp_crit_warn;
	uint8_t  rsvd7[25];
	uint8_t  data_units_read[16];  /* thousands of 512-byte units, rounded up */
	uint8_t  data_units_written[16];
	uint8_t  host_reads[16];
	uint8_t  host_writes[16];
	uint8_t  ctrl_busy_time[16];
	uint8_t  power_cycles[16];
	uint8_t  power_on_hours[16];
	uint8_t  unsafe_shutdowns[16];
	uint8_t  media_errors[16];
	uint8_t  num_err_log_entries[16];
	uint32_t warning_temp_time;
	uint32_t critical_temp_time;
	uint16_t temp_sensor[8];
	uint32_t thm_temp1_trans;
	uint32_t thm_temp2_trans;
	uint32_t thm_temp1_time;
	uint32_t thm_temp2_time;
	uint8_t  rsvd232[280];
} __attribute__((packed));

#define NVME_SMART_CRIT_TEMPERATURE (1u << 1)

/* Firmware Slot Information (Base, "Firmware Slot Information (Log Page Identifier 03h)"). */
struct nvme_fw_slot_log {
	uint8_t  afi;
	uint8_t  rsvd1[7];
	char     frs[7][8];
	uint8_t  rsvd64[448];
};

/* Feature identifiers (Base, "Feature Identifiers"). */
enum nvme_feature_id {
	NVME_FEAT_ARBITRATION     = 0x01,
	NVME_FEAT_POWER_MGMT      = 0x02,
	NVME_FEAT_TEMP_THRESH     = 0x04,
	NVME_FEAT_ERR_RECOVERY    = 0x05,
	NVME_FEAT_VOLATILE_WC     = 0x06,
	NVME_FEAT_NUM_QUEUES      = 0x07,
	NVME_FEAT_IRQ_COALESCE    = 0x08,
	NVME_FEAT_IRQ_CONFIG      = 0x09,
	NVME_FEAT_WRITE_ATOMIC    = 0x0a,
	NVME_FEAT_ASYNC_EVENT     = 0x0b,
};

#define NVME_FEAT_CDW10_FID(c)     ((c) & 0xff)
#define NVME_FEAT_CDW10_SEL(c)     (((c) >> 8) & 0x7)  /* Get Features */
#define NVME_FEAT_CDW10_SV         (1u << 31)         /* Set Features */
enum nvme_feat_sel {
	NVME_FEAT_SEL_CURRENT   = 0,
	NVME_FEAT_SEL_DEFAULT   = 1,
	NVME_FEAT_SEL_SAVED     = 2,
	NVME_FEAT_SEL_SUPPORTED = 3,
};
/* Get Features SEL=011b answer in DW0. */
#define NVME_FEAT_CAP_SAVEABLE     (1u << 0)
#define NVME_FEAT_CAP_NS_SPECIFIC  (1u << 1)
#define NVME_FEAT_CAP_CHANGEABLE   (1u << 2)

/* Temperature Threshold CDW11. */
#define NVME_TEMP_TMPTH(c)     ((c) & 0xffff)
#define NVME_TEMP_TMPSEL(c)    (((c) >> 16) & 0xf)
#define NVME_TEMP_THSEL(c)     (((c) >> 20) & 0x3)
#define NVME_TEMP_THSEL_OVER   0
#define NVME_TEMP_THSEL_UNDER  1

/* Interrupt Coalescing / Interrupt Vector Configuration CDW11. */
#define NVME_IRQC_THR(c)       ((c) & 0xff)          /* 0's based entries */
#define NVME_IRQC_TIME(c)      (((c) >> 8) & 0xff)   /* 100 us units */
#define NVME_IRQCFG_IV(c)      ((c) & 0xffff)
#define NVME_IRQCFG_CD         (1u << 16)

/* Asynchronous Event Request completion DW0 (Base, "Asynchronous Event Request command"). */
enum nvme_aer_type {
	NVME_AER_TYPE_ERROR   = 0,
	NVME_AER_TYPE_SMART   = 1,
	NVME_AER_TYPE_NOTICE  = 2,
};
#define NVME_AER_INFO_ERR_INVALID_DB       0x00  /* write to invalid doorbell register */
#define NVME_AER_INFO_ERR_INVALID_DB_VALUE 0x01  /* invalid doorbell write value */
#define NVME_AER_INFO_SMART_TEMPERATURE    0x01
#define NVME_AER_DW0(type, info, lid) \
	((uint32_t)(type) | (uint32_t)(info) << 8 | (uint32_t)(lid) << 16)

/* Create I/O CQ / SQ (Base, "Create I/O Completion Queue command", "Create I/O Submission Queue command"). */
#define NVME_CREATE_Q_QID(cdw10)   ((cdw10) & 0xffff)
#define NVME_CREATE_Q_QSIZE(cdw10) ((cdw10) >> 16)    /* 0's based */
#define NVME_CREATE_Q_PC           (1u << 0)
#define NVME_CREATE_CQ_IEN         (1u << 1)
#define NVME_CREATE_CQ_IV(cdw11)   ((cdw11) >> 16)
#define NVME_CREATE_SQ_CQID(cdw11) ((cdw11) >> 16)
/* Delete I/O SQ / CQ (Base, "Delete I/O ... Queue command"). */
#define NVME_DELETE_Q_QID(cdw10)   ((cdw10) & 0xffff)

/*
 * Number of Queues (Base, "Number of Queues" feature): Set Features CDW11
 * asks and the completion's DW0 answers, each with the I/O submission
 * queue count in bits 15:0 and the completion queue count in 31:16, both
 * 0's based (FFFFh is invalid).
 */
#define NVME_NUMQ_NSQ(v)           ((v) & 0xffff)
#define NVME_NUMQ_NCQ(v)           ((v) >> 16 & 0xffff)
#define NVME_NUMQ(nsq, ncq)        ((uint32_t)(ncq) << 16 | (uint32_t)(nsq))

/* Dataset Management (NVM, "Dataset Management command"). */
#define NVME_DSM_NR(cdw10)   (((cdw10) & 0xff) + 1)
#define NVME_DSM_AD          (1u << 2)              /* CDW11: deallocate */
struct nvme_dsm_range {
	uint32_t cattr;
	uint32_t nlb;         /* not 0's based */
	uint64_t slba;
};

_Static_assert(sizeof(struct nvme_id_power_state) == 32, "PSD is 32 bytes");
_Static_assert(sizeof(struct nvme_id_ctrl) == 4096, "Identify Controller is 4 KiB");
_Static_assert(sizeof(struct nvme_id_ns) == 4096, "Identify Namespace is 4 KiB");
_Static_assert(sizeof(struct nvme_error_log) == 64, "Error log entry is 64 bytes");
_Static_assert(sizeof(struct nvme_smart_log) == 512, "SMART log is 512 bytes");
_Static_assert(sizeof(struct nvme_fw_slot_log) == 512, "Firmware slot log is 512 bytes");
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");
_Static_assert(sizeof(struct nvmf_cmd) == 64, "Fabrics SQE is 64 bytes");
_Static_assert(sizeof(struct nvmf_connect_cmd) == 64, "Connect SQE is 64 bytes");
_Static_assert(sizeof(struct nvmf_prop_get_cmd) == 64, "Property Get is 64 bytes");
_Static_assert(sizeof(struct nvmf_prop_set_cmd) == 64, "Property Set is 64 bytes");
_Static_assert(sizeof(struct nvmf_connect_data) == 1024, "Connect data is 1 KiB");

#endif /* CV_NVME_H */
