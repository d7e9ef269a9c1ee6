/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe/TCP PDU codec (NVM Express TCP Transport Specification 1.0).
 * Everything here is pure computation on buffers, so the card and the
 * storage daemon share it and the unit tests drive it byte by byte.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "tools/lib/crc32c.h"
#include "tools/lib/nvme_tcp.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

uint32_t nvme_tcp_data_digest(const struct iovec *iov, int iovcnt)
{
	uint32_t crc = 0;

	for (int i = 0; i < iovcnt; i++)
		crc = crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	return crc;
}

/* ---- Header checks ---- */

/*
 * What a PDU type may carry.  The order matters: only types from
 * PDU_NO_DATA on carry a header digest, only those from PDU_DATA_OPT a data
 * section (and so a data digest).
 */
enum pdu_kind {
	PDU_IC,        /* ICReq, ICResp: neither digest, no data */
	PDU_TERM,      /* TermReq: the quoted header right after HLEN, no digests */
	PDU_NO_DATA,   /* CapsuleResp, R2T */
	PDU_DATA_OPT,  /* CapsuleCmd: in-capsule data or not */
	PDU_DATA,      /* H2CData, C2HData */
};

struct pdu_rule {
	uint8_t hlen;              /* 0: no such PDU type */
	enum nvme_tcp_role rx;     /* the end that receives it */
	enum pdu_kind kind;
};

static const struct pdu_rule pdu_rules[] = {
	[NVME_TCP_ICREQ]        = { NVME_TCP_IC_HLEN,   NVME_TCP_CTRL, PDU_IC },
	[NVME_TCP_ICRESP]       = { NVME_TCP_IC_HLEN,   NVME_TCP_HOST, PDU_IC },
	[NVME_TCP_H2C_TERM_REQ] = { NVME_TCP_TERM_HLEN, NVME_TCP_CTRL, PDU_TERM },
	[NVME_TCP_C2H_TERM_REQ] = { NVME_TCP_TERM_HLEN, NVME_TCP_HOST, PDU_TERM },
	[NVME_TCP_CAPSULE_CMD]  = { NVME_TCP_CMD_HLEN,  NVME_TCP_CTRL, PDU_DATA_OPT },
	[NVME_TCP_CAPSULE_RESP] = { NVME_TCP_RESP_HLEN, NVME_TCP_HOST, PDU_NO_DATA },
	[NVME_TCP_H2C_DATA]     = { NVME_TCP_DATA_HLEN, NVME_TCP_CTRL, PDU_DATA },
	[NVME_TCP_C2H_DATA]     = { NVME_TCP_DATA_HLEN, NVME_TCP_HOST, PDU_DATA },
	[NVME_TCP_R2T]          = { NVME_TCP_R2T_HLEN,  NVME_TCP_HOST, PDU_NO_DATA },
};

static const struct pdu_rule *pdu_rule(uint8_t type)
{
	if (type >= ARRAY_SIZE(pdu_rules) || !pdu_rules[type].hlen)
		return NULL;
	return &pdu_rules[type];
}

static int fatal(uint32_t *fei, enum nvme_tcp_fes fes, uint32_t info)
{
	*fei = info;
	return fes;
}

#define CH_FIELD(f) offsetof(struct nvme_tcp_ch, f)

/*
 * Data in a PDU the host sends starts at a multiple of the controller's
 * CPDA and vice versa ("ICReq", "ICResp"): the minimum padding after the
 * header and its digest that reaches it.
 */
static uint32_t data_offset(const struct nvme_tcp_conn *c, enum nvme_tcp_role rx,
			    uint32_t hdr_len)
{
	uint32_t align = ((rx == NVME_TCP_CTRL ? c->cpda : c->hpda) + 1u) * 4;

	return (hdr_len + align - 1) / align * align;
}

static uint32_t data_limit(const struct nvme_tcp_conn *c, uint8_t type)
{
	switch (type) {
	case NVME_TCP_CAPSULE_CMD:
		return c->max_icdata;
	case NVME_TCP_H2C_DATA:
		return c->maxh2cdata;
	default:
		return c->max_c2hdata;
	}
}

int nvme_tcp_check_ch(const struct nvme_tcp_conn *c, const struct nvme_tcp_ch *ch,
		      uint32_t *fei)
{
	const struct pdu_rule *r = pdu_rule(ch->pdu_type);
	bool hdgst, ddgst, has_data;
	uint32_t hdr_len, pdo, dlen;

	if (!r || r->rx != c->role)
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(pdu_type));
	if (r->kind != PDU_TERM && (r->kind == PDU_IC) == c->ic_done)
		return fatal(fei, NVME_TCP_FES_PDU_SEQUENCE, 0);
	if (ch->hlen != r->hlen)
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(hlen));

	/* Once negotiated, every PDU type that can carry a header digest does. */
	hdgst = r->kind >= PDU_NO_DATA && c->hdgst;
	if (!(ch->flags & NVME_TCP_F_HDGSTF) != !hdgst)
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(flags));
	/* SUCCESS replaces the CapsuleResp, so it may only close the transfer. */
	if (ch->pdu_type == NVME_TCP_C2H_DATA && (ch->flags & NVME_TCP_F_SUCCESS) &&
	    !(ch->flags & NVME_TCP_F_LAST_PDU))
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(flags));

	hdr_len = ch->hlen + (hdgst ? NVME_TCP_DIGEST_LEN : 0);
	if (ch->plen < hdr_len)
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(plen));
	has_data = ch->plen > hdr_len;
	if (has_data && (r->kind == PDU_IC || r->kind == PDU_NO_DATA ||
			 (r->kind == PDU_TERM && ch->plen > NVME_TCP_TERM_PLEN_MAX)))
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(plen));
	if (!has_data && r->kind == PDU_DATA)
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(plen));

	/* A data digest follows every data section, and only a data section. */
	ddgst = r->kind >= PDU_DATA_OPT && has_data && c->ddgst;
	if (!(ch->flags & NVME_TCP_F_DDGSTF) != !ddgst)
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(flags));

	/* PDO locates data behind padding; a TermReq's follows HLEN directly. */
	if (!has_data || r->kind == PDU_TERM) {
		if (ch->pdo)
			return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(pdo));
		return 0;
	}

	pdo = data_offset(c, r->rx, hdr_len);
	if (ch->pdo != pdo)
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(pdo));
	if (ch->plen <= pdo + (ddgst ? NVME_TCP_DIGEST_LEN : 0))
		return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD, CH_FIELD(plen));
	dlen = ch->plen - pdo - (ddgst ? NVME_TCP_DIGEST_LEN : 0);
	if (dlen > data_limit(c, ch->pdu_type))
		return fatal(fei, ch->pdu_type == NVME_TCP_C2H_DATA ?
			     NVME_TCP_FES_DATA_OUT_OF_RANGE : NVME_TCP_FES_DATA_LIMIT,
			     CH_FIELD(plen));
	return 0;
}

void nvme_tcp_layout(const struct nvme_tcp_ch *ch, struct nvme_tcp_layout *l)
{
	uint32_t data_start;

	l->hdr_len = ch->hlen + (ch->flags & NVME_TCP_F_HDGSTF ? NVME_TCP_DIGEST_LEN : 0);
	l->ddgst_len = ch->flags & NVME_TCP_F_DDGSTF ? NVME_TCP_DIGEST_LEN : 0;
	data_start = ch->pdo ? ch->pdo : l->hdr_len;
	l->pad = data_start - l->hdr_len;
	l->data_len = ch->plen - data_start - l->ddgst_len;
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint8_t dgst_bits(const struct nvme_tcp_conn *c)
{
	return (c->hdgst ? NVME_TCP_DGST_HDGST : 0) | (c->ddgst ? NVME_TCP_DGST_DDGST : 0);
}

int nvme_tcp_check_hdr(const struct nvme_tcp_conn *c, const union nvme_tcp_hdr *h,
		       uint32_t *fei)
{
	struct nvme_tcp_layout l;

	if ((h->ch.flags & NVME_TCP_F_HDGSTF) &&
	    crc32c(0, h->raw, h->ch.hlen) != get_le32(h->raw + h->ch.hlen))
		return fatal(fei, NVME_TCP_FES_HDR_DIGEST, 0);

	switch (h->ch.pdu_type) {
	case NVME_TCP_ICREQ:
		if (h->icreq.pfv != NVME_TCP_PFV_1_0)
			return fatal(fei, NVME_TCP_FES_UNSUPPORTED_PARAM,
				     offsetof(struct nvme_tcp_icreq, pfv));
		if (h->icreq.hpda > NVME_TCP_PDA_MAX)
			return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD,
				     offsetof(struct nvme_tcp_icreq, hpda));
		return 0;
	case NVME_TCP_ICRESP:
		if (h->icresp.pfv != NVME_TCP_PFV_1_0)
			return fatal(fei, NVME_TCP_FES_UNSUPPORTED_PARAM,
				     offsetof(struct nvme_tcp_icresp, pfv));
		/* *c still holds the host's offer: no digest it did not ask for. */
		if (h->icresp.dgst & ~dgst_bits(c))
			return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD,
				     offsetof(struct nvme_tcp_icresp, dgst));
		if (h->icresp.cpda > NVME_TCP_PDA_MAX)
			return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD,
				     offsetof(struct nvme_tcp_icresp, cpda));
		if (h->icresp.maxh2cdata < NVME_TCP_MAXH2CDATA_MIN ||
		    h->icresp.maxh2cdata % 4)
			return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD,
				     offsetof(struct nvme_tcp_icresp, maxh2cdata));
		return 0;
	case NVME_TCP_H2C_DATA:
	case NVME_TCP_C2H_DATA:
		nvme_tcp_layout(&h->ch, &l);
		if (h->data.datal != l.data_len)
			return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD,
				     offsetof(struct nvme_tcp_data, datal));
		return 0;
	case NVME_TCP_R2T:
		if (!h->r2t.r2tl)
			return fatal(fei, NVME_TCP_FES_INVALID_HDR_FIELD,
				     offsetof(struct nvme_tcp_r2t, r2tl));
		return 0;
	default:
		return 0;
	}
}

/* ---- Builders ---- */

static uint64_t iov_bytes(const struct iovec *iov, int iovcnt)
{
	uint64_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return len;
}

/* Start a PDU: zero the header (reserved fields are 0 on the wire). */
static void start_pdu(struct nvme_tcp_pdu *pdu, uint8_t type, uint8_t flags)
{
	memset(&pdu->hdr, 0, sizeof(pdu->hdr));
	pdu->hdr.ch.pdu_type = type;
	pdu->hdr.ch.flags = flags;
}

/*
 * Lay out CH, digests and padding around the PSH the builder wrote into
 * pdu->hdr, for data_len bytes of data in iov (already checked against the
 * PDU type's limit).
 */
static void finish_pdu(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
		       const struct iovec *iov, int iovcnt, uint32_t data_len)
{
	const struct pdu_rule *r = pdu_rule(pdu->hdr.ch.pdu_type);
	struct nvme_tcp_ch *ch = &pdu->hdr.ch;
	bool hdgst = r->kind >= PDU_NO_DATA && c->hdgst;
	uint32_t pdo;

	ch->hlen = r->hlen;
	ch->flags |= hdgst ? NVME_TCP_F_HDGSTF : 0;
	pdu->hdr_len = r->hlen + (hdgst ? NVME_TCP_DIGEST_LEN : 0);
	pdu->ddgst_len = 0;
	if (data_len) {
		pdo = data_offset(c, r->rx, pdu->hdr_len);
		pdu->hdr_len = ch->pdo = pdo;   /* the padding is already zero */
		if (c->ddgst) {
			ch->flags |= NVME_TCP_F_DDGSTF;
			put_le32(pdu->ddgst, nvme_tcp_data_digest(iov, iovcnt));
			pdu->ddgst_len = NVME_TCP_DIGEST_LEN;
		}
	}
	ch->plen = pdu->hdr_len + data_len + pdu->ddgst_len;
	/* The digest covers CH and PSH, so it is computed last. */
	if (hdgst)
		put_le32(&pdu->hdr.raw[r->hlen], crc32c(0, pdu->hdr.raw, r->hlen));
}

int nvme_tcp_build_icreq(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			 uint32_t maxr2t)
{
	if (c->hpda > NVME_TCP_PDA_MAX)
		return -EINVAL;
	start_pdu(pdu, NVME_TCP_ICREQ, 0);
	pdu->hdr.icreq.pfv = NVME_TCP_PFV_1_0;
	pdu->hdr.icreq.hpda = c->hpda;
	pdu->hdr.icreq.dgst = dgst_bits(c);
	pdu->hdr.icreq.maxr2t = maxr2t;
	finish_pdu(pdu, c, NULL, 0, 0);
	return 0;
}

int nvme_tcp_build_icresp(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c)
{
	if (c->cpda > NVME_TCP_PDA_MAX || c->maxh2cdata < NVME_TCP_MAXH2CDATA_MIN ||
	    c->maxh2cdata % 4)
		return -EINVAL;
	start_pdu(pdu, NVME_TCP_ICRESP, 0);
	pdu->hdr.icresp.pfv = NVME_TCP_PFV_1_0;
	pdu->hdr.icresp.cpda = c->cpda;
	pdu->hdr.icresp.dgst = dgst_bits(c);
	pdu->hdr.icresp.maxh2cdata = c->maxh2cdata;
	finish_pdu(pdu, c, NULL, 0, 0);
	return 0;
}

void nvme_tcp_set_sgl(struct nvme_sqe *sqe, uint32_t len, bool in_capsule)
{
	/* PSDT 01b as Linux sends it: SGLs, MPTR (unused) a plain buffer. */
	sqe->flags = (sqe->flags & ~NVME_SQE_PSDT_MASK) | NVME_SQE_PSDT_SGL_MPTR_BUF;
	memset(&sqe->dptr, 0, sizeof(sqe->dptr));
	sqe->dptr.sgl1.length = len;
	sqe->dptr.sgl1.id = in_capsule ?
		NVME_SGL_ID(NVME_SGL_TYPE_DATA_BLOCK, NVME_SGL_SUBTYPE_OFFSET) :
		NVME_SGL_ID(NVME_SGL_TYPE_TRANSPORT_DATA, NVME_SGL_SUBTYPE_TRANSPORT);
}

int nvme_tcp_build_capsule_cmd(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			       const struct nvme_sqe *sqe,
			       const struct iovec *iov, int iovcnt)
{
	uint64_t len = iov_bytes(iov, iovcnt);

	if (len > c->max_icdata)
		return -EMSGSIZE;
	start_pdu(pdu, NVME_TCP_CAPSULE_CMD, 0);
	pdu->hdr.cmd.sqe = *sqe;
	if (len)
		nvme_tcp_set_sgl(&pdu->hdr.cmd.sqe, len, true);
	finish_pdu(pdu, c, iov, iovcnt, len);
	return 0;
}

void nvme_tcp_build_capsule_resp(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
				 const struct nvme_cqe *cqe)
{
	start_pdu(pdu, NVME_TCP_CAPSULE_RESP, 0);
	pdu->hdr.resp.cqe = *cqe;
	finish_pdu(pdu, c, NULL, 0, 0);
}

/* Largest data section whose PDU length still fits PLEN's 32 bits. */
#define PDU_DATA_MAX (UINT32_MAX - 2 * NVME_TCP_IC_HLEN)

static int build_data(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
		      uint8_t type, uint8_t flags, uint16_t cccid, uint16_t ttag,
		      uint32_t datao, const struct iovec *iov, int iovcnt, uint32_t limit)
{
	uint64_t len = iov_bytes(iov, iovcnt);

	if (!len)
		return -EINVAL;
	if (len > limit)
		return -EMSGSIZE;
	start_pdu(pdu, type, flags);
	pdu->hdr.data.cccid = cccid;
	pdu->hdr.data.ttag = ttag;
	pdu->hdr.data.datao = datao;
	pdu->hdr.data.datal = len;
	finish_pdu(pdu, c, iov, iovcnt, len);
	return 0;
}

int nvme_tcp_build_h2c_data(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			    uint16_t cccid, uint16_t ttag, uint32_t datao,
			    const struct iovec *iov, int iovcnt, bool last)
{
	return build_data(pdu, c, NVME_TCP_H2C_DATA, last ? NVME_TCP_F_LAST_PDU : 0,
			  cccid, ttag, datao, iov, iovcnt, c->maxh2cdata);
}

int nvme_tcp_build_c2h_data(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			    uint16_t cccid, uint32_t datao,
			    const struct iovec *iov, int iovcnt, uint8_t flags)
{
	if ((flags & ~(NVME_TCP_F_LAST_PDU | NVME_TCP_F_SUCCESS)) ||
	    flags == NVME_TCP_F_SUCCESS)
		return -EINVAL;
	return build_data(pdu, c, NVME_TCP_C2H_DATA, flags, cccid, 0, datao,
			  iov, iovcnt, PDU_DATA_MAX);
}

int nvme_tcp_build_r2t(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
		       uint16_t cccid, uint16_t ttag, uint32_t r2to, uint32_t r2tl)
{
	if (!r2tl)
		return -EINVAL;
	start_pdu(pdu, NVME_TCP_R2T, 0);
	pdu->hdr.r2t.cccid = cccid;
	pdu->hdr.r2t.ttag = ttag;
	pdu->hdr.r2t.r2to = r2to;
	pdu->hdr.r2t.r2tl = r2tl;
	finish_pdu(pdu, c, NULL, 0, 0);
	return 0;
}

void nvme_tcp_build_term_req(struct nvme_tcp_pdu *pdu, const struct nvme_tcp_conn *c,
			     enum nvme_tcp_fes fes, uint32_t fei,
			     const void *bad, size_t len)
{
	size_t quoted = len < NVME_TCP_TERM_DATA_MAX ? len : NVME_TCP_TERM_DATA_MAX;

	start_pdu(pdu, c->role == NVME_TCP_HOST ? NVME_TCP_H2C_TERM_REQ :
		  NVME_TCP_C2H_TERM_REQ, 0);
	pdu->hdr.term.fes = fes;
	pdu->hdr.term.fei = fei;
	finish_pdu(pdu, c, NULL, 0, 0);
	/* The quoted header is the PDU's data, but it sits right after HLEN. */
	memcpy(pdu->hdr.raw + NVME_TCP_TERM_HLEN, bad, quoted);
	pdu->hdr_len += quoted;
	pdu->hdr.ch.plen = pdu->hdr_len;
}
