/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe/TCP PDU codec shared by the EBS card (host) and cv-storaged
 * (controller): CRC32C digests, receive-side header checks that yield the
 * fatal error status a TermReq must carry, and builders for every PDU.
 * No I/O here: builders fill buffers the caller sends with writev().
 */
#ifndef CV_NVME_TCP_H
#define CV_NVME_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-abi/nvme_tcp.h"
#include "tools/lib/crc32c.h"

/* CRC32C of a PDU's data section, which may be scattered. */
uint32_t nvme_tcp_data_digest(const struct iovec *iov, int iovcnt);

enum nvme_tcp_role { NVME_TCP_HOST, NVME_TCP_CTRL };

/*
 * One end of one NVMe/TCP connection.  Before the ICReq/ICResp exchange the
 * digest and alignment fields are what this end will offer; afterwards they
 * are what was agreed, and ic_done is set.
 */
struct nvme_tcp_conn {
	enum nvme_tcp_role role;  /* this end */
	bool ic_done;
	bool hdgst;               /* header digests on CapsuleCmd/Resp, data, R2T */
	bool ddgst;               /* data digests on every data section */
	uint8_t hpda;             /* C2H data alignment, 0's based dwords */
	uint8_t cpda;             /* H2C data alignment, 0's based dwords */
	uint32_t maxh2cdata;      /* ICResp: data bytes in one H2CData */
	uint32_t max_icdata;      /* in-capsule data bytes: IOCCSZ * 16 - 64 */
	uint32_t max_c2hdata;     /* host: data bytes it takes in one C2HData */
};

/*
 * Room for any PDU header with its digest and padding (at most 128 bytes),
 * or a TermReq with the offending header it quotes.
 */
#define NVME_TCP_HDR_MAX NVME_TCP_TERM_PLEN_MAX

union nvme_tcp_hdr {
	struct nvme_tcp_ch ch;
	struct nvme_tcp_icreq icreq;
	struct nvme_tcp_icresp icresp;
	struct nvme_tcp_term_req term;
	struct nvme_tcp_capsule_cmd cmd;
	struct nvme_tcp_capsule_resp resp;
	struct nvme_tcp_data data;
	struct nvme_tcp_r2t r2t;
	uint8_t raw[NVME_TCP_HDR_MAX];
};

/* Where the parts of a PDU lie, from its (checked) common header. */
struct nvme_tcp_layout {
	uint32_t hdr_len;         /* HLEN + HDGST: read this much, then check it */
	uint32_t pad;             /* bytes to skip before the data */
	uint32_t data_len;        /* data, or a TermReq's quoted header */
	uint32_t ddgst_len;
};

void nvme_tcp_layout(const struct nvme_tcp_ch *ch, struct nvme_tcp_layout *l);

/*
 * Receive-side checks (TCP Transport 1.0, "PDU Header Format" and each
 * PDU's section).  Both return 0, or the NVME_TCP_FES_* to send in a TermReq
 * before closing, with *fei set to its fatal error information (the byte
 * offset of the bad field for FES 1 and 6, else 0).  A TermReq received is
 * checked too, but never answered with another one.
 *
 * nvme_tcp_check_ch: on the 8-byte CH alone: a PDU type this end receives,
 * in sequence (ICReq/ICResp first, then never again), the type's HLEN,
 * digest flags exactly as negotiated, PDO with the agreed alignment, PLEN
 * consistent with all of it and data within the negotiated limits.
 */
int nvme_tcp_check_ch(const struct nvme_tcp_conn *c, const struct nvme_tcp_ch *ch,
		      uint32_t *fei);

/*
 * nvme_tcp_check_hdr: once layout.hdr_len bytes are in *h, after
 * nvme_tcp_check_ch() passed: the header digest and the PDU specific fields
 * the transport defines (PFV, PDA range, MAXH2CDATA, ICResp digests the
 * host offered in *c, DATAL vs PLEN, R2TL).
 */
int nvme_tcp_check_hdr(const struct nvme_tcp_conn *c, const union nvme_tcp_hdr *h,
		       uint32_t *fei);

/*
 * A PDU ready to send: hdr.raw[0..hdr_len), then the data the builder was
 * given, then ddgst[0..ddgst_len).
 */
struct nvme_tcp_pdu {
	union nvme_tcp_hdr hdr;
	uint32_t hdr_len;
	uint8_t ddgst[NVME_TCP_DIGEST_LEN];
	uint32_t ddgst_len;
};

/*
 * Point SGL1 at the command's data as NVMe/TCP 1.0 "Transport Specific
 * Information" requires: in-capsule data is a Data Block with an offset
 * (ICDOFF 0), data moved by H2CData/C2HData a Transport SGL Data Block.
 */
void nvme_tcp_set_sgl(struct nvme_sqe *sqe, uint32_t len, bool in_capsule);

/*
 * Builders return 0 or -EINVAL (a parameter the spec forbids) or -EMSGSIZE
 * (data over the negotiated limit).  The ICReq comes from the host's offer
 * (hpda, hdgst, ddgst), the ICResp from the controller's agreed values.
 */
int nvme_tcp_build_icreq(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			 uint32_t maxr2t);
int nvme_tcp_build_icresp(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c);
/* iovcnt 0: no in-capsule data; otherwise SGL1 is set to describe it. */
int nvme_tcp_build_capsule_cmd(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			       const struct nvme_sqe *sqe,
			       const struct iovec *iov, int iovcnt);
void nvme_tcp_build_capsule_resp(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
				 const struct nvme_cqe *cqe);
int nvme_tcp_build_h2c_data(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			    uint16_t cccid, uint16_t ttag, uint32_t datao,
			    const struct iovec *iov, int iovcnt, bool last);
/* flags: NVME_TCP_F_LAST_PDU, optionally with NVME_TCP_F_SUCCESS. */
int nvme_tcp_build_c2h_data(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			    uint16_t cccid, uint32_t datao,
			    const struct iovec *iov, int iovcnt, uint8_t flags);
int nvme_tcp_build_r2t(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
		       uint16_t cccid, uint16_t ttag, uint32_t r2to, uint32_t r2tl);
/* H2CTermReq from a host, C2HTermReq from a controller; quotes bad[0..len). */
void nvme_tcp_build_term_req(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			     enum nvme_tcp_fes fes, uint32_t fei,
			     const void *bad, size_t len);

#endif /* CV_NVME_TCP_H */
