/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe/TCP PDU codec both ends share (tools/lib/nvme_tcp.c): the
 * receive-side header checks on a header from the input, and every
 * builder with parameters from the input, its PDU then received by the
 * other end.
 *
 * Input: the connection's state (a flags byte: role, ICReq/ICResp done,
 * header and data digests, whether to make a received header's digest
 * right so the checks behind it are reached; HPDA, CPDA, MAXH2CDATA,
 * in-capsule and C2H data limits), a received header
 * (NVME_TCP_HDR_MAX bytes), then builder calls: a selector byte and its
 * parameters, until the input ends.
 *
 * Invariants beyond "no crash":
 *  - a CH that nvme_tcp_check_ch() accepts has a layout that adds up to
 *    PLEN (header and its digest, padding, data, data digest) whose
 *    header fits union nvme_tcp_hdr (the receivers copy it there), whose
 *    data is within the negotiated limit, and a TermReq's quoted header
 *    within 128 bytes;
 *  - a fatal error's FEI, for the FES values whose FEI is a field offset,
 *    lies inside the header;
 *  - every PDU a builder makes (returning 0) passes both checks at the
 *    other end with the same negotiated state, with exactly the data it
 *    was given, and its header fits its buffer.
 */
#include <errno.h>

#include "tests/fuzz/fuzz.h"
#include "tools/lib/nvme_tcp.h"

#define DATA_MAX 20000 /* past the data limits the input may set */

static uint8_t zeros[DATA_MAX];

static void check_fei(int fes, uint32_t fei, uint32_t hlen)
{
	if (fes == NVME_TCP_FES_INVALID_HDR_FIELD || fes == NVME_TCP_FES_UNSUPPORTED_PARAM)
		FUZZ_CHECK(fei < hlen || fei < sizeof(struct nvme_tcp_ch));
}

/* A received header; 0 when both checks pass. */
static int receive(const struct nvme_tcp_conn *c, const union nvme_tcp_hdr *h,
		   struct nvme_tcp_layout *l)
{
	uint32_t fei = 0;
	int fes = nvme_tcp_check_ch(c, &h->ch, &fei);

	if (fes) {
		check_fei(fes, fei, h->ch.hlen);
		return fes;
	}
	nvme_tcp_layout(&h->ch, l);
	FUZZ_CHECK(l->hdr_len <= sizeof(union nvme_tcp_hdr));
	FUZZ_CHECK(l->hdr_len >= h->ch.hlen && l->pad < 128);
	FUZZ_CHECK((uint64_t)l->hdr_len + l->pad + l->data_len + l->ddgst_len == h->ch.plen);
	if (h->ch.pdu_type == NVME_TCP_H2C_TERM_REQ || h->ch.pdu_type == NVME_TCP_C2H_TERM_REQ)
		FUZZ_CHECK(l->data_len <= NVME_TCP_TERM_DATA_MAX && l->pad == 0);
	else if (h->ch.pdu_type == NVME_TCP_CAPSULE_CMD)
		FUZZ_CHECK(l->data_len <= c->max_icdata);
	else if (h->ch.pdu_type == NVME_TCP_H2C_DATA)
		FUZZ_CHECK(l->data_len <= c->maxh2cdata);
	else if (h->ch.pdu_type == NVME_TCP_C2H_DATA)
		FUZZ_CHECK(l->data_len <= c->max_c2hdata);
	else
		FUZZ_CHECK(l->data_len == 0);
	fes = nvme_tcp_check_hdr(c, h, &fei);
	if (fes)
		check_fei(fes, fei, h->ch.hlen);
	return fes;
}

/*
 * @pdu built by the end opposite @rx carries @len bytes of data: @rx must
 * take it.  A TermReq's data, the quoted header, is part of pdu->hdr.
 */
static void check_built(const struct nvme_tcp_conn *rx, const struct nvme_tcp_pdu *pdu,
			uint32_t len, bool term)
{
	struct nvme_tcp_layout l;

	FUZZ_CHECK(pdu->hdr_len <= sizeof(pdu->hdr) && pdu->ddgst_len <= NVME_TCP_DIGEST_LEN);
	FUZZ_CHECK(receive(rx, &pdu->hdr, &l) == 0);
	FUZZ_CHECK(l.data_len == len && l.ddgst_len == pdu->ddgst_len);
	FUZZ_CHECK(pdu->hdr_len == l.hdr_len + (term ? l.data_len : l.pad));
	FUZZ_CHECK(pdu->hdr.ch.plen == pdu->hdr_len + (term ? 0 : len) + pdu->ddgst_len);
}

static void build_one(struct fuzz_in *in, struct nvme_tcp_conn *host, struct nvme_tcp_conn *ctrl)
{
	struct nvme_tcp_pdu pdu;
	uint8_t which = fuzz_u8(in);
	uint32_t len = fuzz_u16(in) % DATA_MAX;
	struct iovec iov[2] = { { zeros, len / 2 }, { zeros + len / 2, len - len / 2 } };
	uint16_t cid = fuzz_u16(in), ttag = fuzz_u16(in);
	uint32_t off = fuzz_u32(in);
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	uint8_t flags;

	/* The IC exchange happens before ic_done, everything else after. */
	host->ic_done = ctrl->ic_done = which % 10 >= 2;
	switch (which % 10) {
	case 0:
		if (nvme_tcp_build_icreq(&pdu, host, off) == 0)
			check_built(ctrl, &pdu, 0, false);
		break;
	case 1:
		if (nvme_tcp_build_icresp(&pdu, ctrl) == 0)
			check_built(host, &pdu, 0, false);
		break;
	case 2:
		fuzz_bytes(in, &sqe, sizeof(sqe));
		if (nvme_tcp_build_capsule_cmd(&pdu, host, &sqe, iov, 2) == 0)
			check_built(ctrl, &pdu, len, false);
		else
			FUZZ_CHECK(len > host->max_icdata);
		break;
	case 3:
		fuzz_bytes(in, &cqe, sizeof(cqe));
		nvme_tcp_build_capsule_resp(&pdu, ctrl, &cqe);
		check_built(host, &pdu, 0, false);
		break;
	case 4:
		if (nvme_tcp_build_h2c_data(&pdu, host, cid, ttag, off, iov, 2, ttag & 1) == 0)
			check_built(ctrl, &pdu, len, false);
		else
			FUZZ_CHECK(!len || len > host->maxh2cdata);
		break;
	case 5:
		flags = fuzz_u8(in);
		/* A host takes no more than it said it would. */
		if (nvme_tcp_build_c2h_data(&pdu, ctrl, cid, off, iov, 2, flags) == 0 &&
		    len <= host->max_c2hdata)
			check_built(host, &pdu, len, false);
		break;
	case 6:
		if (nvme_tcp_build_r2t(&pdu, ctrl, cid, ttag, off, len) == 0)
			check_built(host, &pdu, 0, false);
		else
			FUZZ_CHECK(len == 0);
		break;
	case 7:
	case 8: {
		/* A TermReq quotes a header, at most 128 bytes of it. */
		uint8_t bad[256];
		size_t n = fuzz_u8(in);

		fuzz_bytes(in, bad, n);
		nvme_tcp_build_term_req(&pdu, which % 10 == 7 ? host : ctrl, (enum nvme_tcp_fes)off,
					cid, bad, n);
		check_built(which % 10 == 7 ? ctrl : host, &pdu, n < 128 ? (uint32_t)n : 128, true);
		break;
	}
	default: {
		/* The same data scattered differently has the same digest. */
		uint32_t a = nvme_tcp_data_digest(iov, 2), b;
		struct iovec one = { zeros, len };

		b = nvme_tcp_data_digest(&one, 1);
		FUZZ_CHECK(a == b);
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t f = fuzz_u8(&in);
	struct nvme_tcp_conn c = {
		.role = f & 1 ? NVME_TCP_CTRL : NVME_TCP_HOST,
		.ic_done = f & 2, .hdgst = f & 4, .ddgst = f & 8,
	};
	struct nvme_tcp_conn host, ctrl;
	struct nvme_tcp_layout l;
	union nvme_tcp_hdr h;

	c.hpda = fuzz_u8(&in);
	c.cpda = fuzz_u8(&in);
	c.maxh2cdata = fuzz_u32(&in);
	c.max_icdata = fuzz_u32(&in);
	c.max_c2hdata = fuzz_u32(&in);
	fuzz_bytes(&in, &h, sizeof(h));
	/* Most headers would stop at the digest: make it right if asked. */
	if (f & 0x10 && h.ch.hlen <= sizeof(h) - NVME_TCP_DIGEST_LEN) {
		uint32_t crc = crc32c(0, h.raw, h.ch.hlen);

		memcpy(h.raw + h.ch.hlen, &crc, sizeof(crc));
	}
	receive(&c, &h, &l);

	/* Both ends with the same agreed values; PDAs within what IC allows. */
	c.hpda %= NVME_TCP_PDA_MAX + 1;
	c.cpda %= NVME_TCP_PDA_MAX + 1;
	host = ctrl = c;
	host.role = NVME_TCP_HOST;
	ctrl.role = NVME_TCP_CTRL;
	while (!fuzz_empty(&in))
		build_one(&in, &host, &ctrl);
	return 0;
}
