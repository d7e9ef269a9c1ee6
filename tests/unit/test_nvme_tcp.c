/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe/TCP codec: CRC32C against published check values, header checks
 * against every rule of TCP Transport 1.0 they enforce (each malformed case
 * with its FES and FEI), builders round-tripping through the checks, and
 * the exact bytes of an ICReq and a CapsuleCmd written out by hand.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tools/lib/nvme_tcp.h"

/* ---- CRC32C ---- */

struct crc_vector {
	const char *name;
	uint8_t data[32];
	size_t len;
	uint32_t crc;
};

static struct crc_vector crc_vectors[5];

static void fill_crc_vectors(void)
{
	struct crc_vector *v = crc_vectors;

	/* The CRC catalogue's check value for CRC-32/ISCSI. */
	v[0] = (struct crc_vector){ "123456789", "123456789", 9, 0xe3069283 };
	/* RFC 3720, B.4 "CRC Examples". */
	v[1] = (struct crc_vector){ "32 zeros", { 0 }, 32, 0x8a9136aa };
	v[2] = (struct crc_vector){ "32 ones", { 0 }, 32, 0x62a8ab43 };
	memset(v[2].data, 0xff, 32);
	v[3] = (struct crc_vector){ "incrementing", { 0 }, 32, 0x46dd794e };
	v[4] = (struct crc_vector){ "decrementing", { 0 }, 32, 0x113fdb5c };
	for (int i = 0; i < 32; i++) {
		v[3].data[i] = (uint8_t)i;
		v[4].data[i] = (uint8_t)(31 - i);
	}
}

static void test_crc32c_vectors(void **state)
{
	(void)state;
	fill_crc_vectors();
	for (size_t i = 0; i < sizeof(crc_vectors) / sizeof(crc_vectors[0]); i++) {
		const struct crc_vector *v = &crc_vectors[i];

		print_message("%s\n", v->name);
		assert_int_equal(crc32c_sw(0, v->data, v->len), v->crc);
		assert_int_equal(crc32c(0, v->data, v->len), v->crc);
		if (crc32c_hw_supported())
			assert_int_equal(crc32c_hw(0, v->data, v->len), v->crc);
	}
	/* Continuing from a previous result is the CRC of the concatenation. */
	assert_int_equal(crc32c_sw(crc32c_sw(0, "1234", 4), "56789", 5), 0xe3069283);
	assert_int_equal(crc32c(crc32c(0, "12345678", 8), "9", 1), 0xe3069283);
	assert_int_equal(crc32c(0, "", 0), 0);
}

/* Every length 0..300 at every alignment 0..7, and one long buffer. */
static void test_crc32c_sw_hw_agree(void **state)
{
	uint8_t *buf = test_malloc(65536 + 8);

	(void)state;
	if (!crc32c_hw_supported()) {
		test_free(buf);
		skip();
	}
	srand(4420);
	for (size_t i = 0; i < 65536 + 8; i++)
		buf[i] = (uint8_t)rand();
	for (size_t ofs = 0; ofs < 8; ofs++)
		for (size_t len = 0; len <= 300; len++)
			assert_int_equal(crc32c_sw(0x12345678, buf + ofs, len),
					 crc32c_hw(0x12345678, buf + ofs, len));
	assert_int_equal(crc32c_sw(0, buf + 3, 65536), crc32c_hw(0, buf + 3, 65536));
	test_free(buf);
}

/* ---- Connections ---- */

static struct nvme_tcp_conn host_conn(bool hdgst, bool ddgst, uint8_t pda)
{
	return (struct nvme_tcp_conn){
		.role = NVME_TCP_HOST, .ic_done = true, .hdgst = hdgst, .ddgst = ddgst,
		.hpda = pda, .cpda = pda, .maxh2cdata = 8192, .max_icdata = 8192,
		.max_c2hdata = 131072,
	};
}

static struct nvme_tcp_conn peer_of(const struct nvme_tcp_conn *c)
{
	struct nvme_tcp_conn p = *c;

	p.role = c->role == NVME_TCP_HOST ? NVME_TCP_CTRL : NVME_TCP_HOST;
	return p;
}

static uint8_t payload[8192];

static const struct nvme_sqe write_sqe = {
	.opc = NVME_NVM_WRITE, .cid = 7, .nsid = 1, .cdw10 = 0x100, .cdw12 = 7,
};

/* Check a PDU as its receiver would, piece by piece, and return its layout. */
static struct nvme_tcp_layout receive(const struct nvme_tcp_conn *rx,
				      const struct nvme_tcp_pdu *pdu, size_t data_len)
{
	struct nvme_tcp_layout l;
	uint32_t fei = 0xdead;

	assert_int_equal(nvme_tcp_check_ch(rx, &pdu->hdr.ch, &fei), 0);
	nvme_tcp_layout(&pdu->hdr.ch, &l);
	assert_int_equal(l.hdr_len + l.pad, pdu->hdr_len - (pdu->hdr.ch.pdo ? 0 : l.data_len));
	assert_int_equal(l.data_len, data_len);
	assert_int_equal(l.ddgst_len, pdu->ddgst_len);
	assert_int_equal(pdu->hdr.ch.plen, l.hdr_len + l.pad + l.data_len + l.ddgst_len);
	assert_int_equal(nvme_tcp_check_hdr(rx, &pdu->hdr, &fei), 0);
	if (l.ddgst_len) {
		uint32_t d;

		memcpy(&d, pdu->ddgst, 4);
		assert_int_equal(d, crc32c(0, payload, data_len));
	}
	return l;
}

/* Every builder, under digests off/on and alignments, against the checks. */
static void test_builders_round_trip(void **state)
{
	/* Alignments differ by direction: H2C data follows CPDA, C2H HPDA. */
	static const struct { bool hd, dd; uint8_t hpda, cpda; } cfgs[] = {
		{ false, false, 0, 0 }, { true, false, 0, 0 }, { false, true, 0, 0 },
		{ true, true, 0, 0 }, { true, true, 7, 0 }, { false, false, 0, 31 },
		{ true, false, 1, 3 },
	};
	struct nvme_tcp_pdu pdu;
	struct iovec iov[2] = {
		{ payload, 100 }, { payload + 100, 412 },
	};
	struct nvme_cqe cqe = { .cid = 7, .status = nvme_cqe_status(NVME_SC_SUCCESS, false) };

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		struct nvme_tcp_conn host = host_conn(cfgs[i].hd, cfgs[i].dd, cfgs[i].hpda);
		struct nvme_tcp_conn ctrl;
		struct nvme_tcp_layout l;
		uint32_t h2c_align = (cfgs[i].cpda + 1u) * 4;
		uint32_t c2h_align = (cfgs[i].hpda + 1u) * 4;

		host.cpda = cfgs[i].cpda;
		ctrl = peer_of(&host);
		print_message("hdgst %d ddgst %d hpda %u cpda %u\n", cfgs[i].hd,
			      cfgs[i].dd, cfgs[i].hpda, cfgs[i].cpda);
		/* Capsule without data: SGL1 left as the caller set it. */
		assert_int_equal(nvme_tcp_build_capsule_cmd(&pdu, &host, &write_sqe, NULL, 0), 0);
		l = receive(&ctrl, &pdu, 0);
		assert_int_equal(l.hdr_len, 72 + (cfgs[i].hd ? 4 : 0));
		assert_int_equal(pdu.hdr.cmd.sqe.dptr.sgl1.id, 0);
		/* Capsule with in-capsule data, scattered. */
		assert_int_equal(nvme_tcp_build_capsule_cmd(&pdu, &host, &write_sqe, iov, 2), 0);
		l = receive(&ctrl, &pdu, 512);
		assert_int_equal(pdu.hdr.ch.pdo % h2c_align, 0);
		assert_true(l.pad < h2c_align);
		assert_int_equal(pdu.hdr.cmd.sqe.dptr.sgl1.length, 512);
		assert_int_equal(pdu.hdr.cmd.sqe.dptr.sgl1.id, 0x01);
		assert_int_equal(pdu.hdr.cmd.sqe.flags & NVME_SQE_PSDT_MASK,
				 NVME_SQE_PSDT_SGL_MPTR_BUF);
		assert_int_equal(pdu.hdr.cmd.sqe.cdw10, 0x100);

		nvme_tcp_build_capsule_resp(&pdu, &ctrl, &cqe);
		receive(&host, &pdu, 0);
		assert_int_equal(pdu.hdr.resp.cqe.cid, 7);

		assert_int_equal(nvme_tcp_build_r2t(&pdu, &ctrl, 7, 3, 4096, 8192), 0);
		receive(&host, &pdu, 0);
		assert_int_equal(pdu.hdr.r2t.r2tl, 8192);

		assert_int_equal(nvme_tcp_build_h2c_data(&pdu, &host, 7, 3, 4096, iov, 2,
							 true), 0);
		l = receive(&ctrl, &pdu, 512);
		assert_int_equal(pdu.hdr.ch.pdo % h2c_align, 0);
		assert_true(l.pad < h2c_align);
		assert_int_equal(pdu.hdr.ch.flags & NVME_TCP_F_LAST_PDU, NVME_TCP_F_LAST_PDU);
		assert_int_equal(pdu.hdr.data.ttag, 3);
		assert_int_equal(pdu.hdr.data.datal, 512);

		assert_int_equal(nvme_tcp_build_c2h_data(&pdu, &ctrl, 7, 0, iov, 1,
							 NVME_TCP_F_LAST_PDU |
							 NVME_TCP_F_SUCCESS), 0);
		l = receive(&host, &pdu, 100);
		assert_int_equal(pdu.hdr.ch.pdo % c2h_align, 0);
		assert_true(l.pad < c2h_align);
		assert_int_equal(pdu.hdr.data.ttag, 0);
	}
}

/* The exchange itself: before it only ICReq/ICResp pass. */
static void test_ic_exchange(void **state)
{
	struct nvme_tcp_conn host = host_conn(true, true, 0);
	struct nvme_tcp_conn ctrl = peer_of(&host);
	struct nvme_tcp_pdu pdu;

	(void)state;
	host.ic_done = ctrl.ic_done = false;
	host.hpda = 3;
	ctrl.cpda = 1;
	assert_int_equal(nvme_tcp_build_icreq(&pdu, &host, 0), 0);
	receive(&ctrl, &pdu, 0);
	assert_int_equal(pdu.hdr_len, 128);
	assert_int_equal(pdu.hdr.icreq.hpda, 3);
	assert_int_equal(pdu.hdr.icreq.dgst, NVME_TCP_DGST_HDGST | NVME_TCP_DGST_DDGST);
	assert_int_equal(nvme_tcp_build_icresp(&pdu, &ctrl), 0);
	receive(&host, &pdu, 0);
	assert_int_equal(pdu.hdr.icresp.cpda, 1);
	assert_int_equal(pdu.hdr.icresp.maxh2cdata, 8192);
}

/* TCP Transport 1.0, "ICReq": every field at its offset. */
static void test_icreq_bytes(void **state)
{
	static const uint8_t want[128] = {
		0x00, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00, /* CH: ICReq, HLEN 128, PLEN 128 */
		0x00, 0x00,                                     /* PFV 1.0 */
		0x01,                                           /* HPDA: 8-byte alignment */
		0x03,                                           /* DGST: header and data */
		0x03, 0x00, 0x00, 0x00,                         /* MAXR2T (0's based) */
		/* bytes 16..127 reserved, zero */
	};
	struct nvme_tcp_conn host = host_conn(true, true, 1);
	struct nvme_tcp_pdu pdu;

	(void)state;
	host.ic_done = false;
	memset(&pdu, 0xa5, sizeof(pdu));
	assert_int_equal(nvme_tcp_build_icreq(&pdu, &host, 3), 0);
	assert_int_equal(pdu.hdr_len, 128);
	assert_int_equal(pdu.ddgst_len, 0);
	assert_memory_equal(pdu.hdr.raw, want, sizeof(want));
}

/*
 * A Write carrying 16 bytes in the capsule with both digests: CH, SQE with
 * SGL1 a Data Block (offset) descriptor, HDGST, then data and DDGST.  The
 * digests were computed separately with a bitwise CRC32C.
 */
static void test_capsule_cmd_bytes(void **state)
{
	static const uint8_t want[76] = {
		/* CH: HDGSTF|DDGSTF, HLEN 72, PDO 76, PLEN 96 */
		0x04, 0x03, 0x48, 0x4c, 0x60, 0x00, 0x00, 0x00,
		0x01, 0x40, 0x01, 0x00,                         /* Write, PSDT 01b, CID 1 */
		0x01, 0x00, 0x00, 0x00,                         /* NSID 1 */
		0, 0, 0, 0, 0, 0, 0, 0,                         /* CDW2, CDW3 */
		0, 0, 0, 0, 0, 0, 0, 0,                         /* MPTR */
		0, 0, 0, 0, 0, 0, 0, 0,                         /* SGL1 address: offset 0 */
		0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* length 16, Data Block/Offset */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             /* CDW10..12 */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             /* CDW13..15 */
		0xea, 0xb2, 0x15, 0xdd,                         /* HDGST 0xdd15b2ea */
	};
	static const uint8_t want_ddgst[4] = { 0x9e, 0x11, 0xd3, 0x42 }; /* 0x42d3119e */
	struct nvme_sqe sqe = { .opc = NVME_NVM_WRITE, .cid = 1, .nsid = 1 };
	struct iovec iov = { (void *)"0123456789abcdef", 16 };
	struct nvme_tcp_conn host = host_conn(true, true, 0);
	struct nvme_tcp_pdu pdu;

	(void)state;
	assert_int_equal(nvme_tcp_build_capsule_cmd(&pdu, &host, &sqe, &iov, 1), 0);
	assert_int_equal(pdu.hdr_len, sizeof(want));
	assert_memory_equal(pdu.hdr.raw, want, sizeof(want));
	assert_int_equal(pdu.ddgst_len, 4);
	assert_memory_equal(pdu.ddgst, want_ddgst, 4);
}

/* ---- Malformed headers ---- */

struct bad_ch {
	const char *what;
	uint8_t type, flags, hlen, pdo;
	uint32_t plen;
	int fes;
	uint32_t fei;
};

/*
 * Received by a controller with header and data digests on, CPDA 0,
 * MAXH2CDATA and in-capsule limit 8192.  FEI is the CH byte at fault.
 */
static const struct bad_ch bad_at_ctrl[] = {
	{ "reserved PDU type", 0x08, 0, 24, 0, 24, 1, 0 },
	{ "PDU type past R2T", 0x0a, 0, 24, 0, 24, 1, 0 },
	{ "C2H type sent to a controller", NVME_TCP_R2T, 1, 24, 0, 28, 1, 0 },
	{ "ICReq after the exchange", NVME_TCP_ICREQ, 0, 128, 0, 128, 2, 0 },
	{ "CapsuleCmd HLEN 24", NVME_TCP_CAPSULE_CMD, 1, 24, 0, 28, 1, 2 },
	{ "H2CData HLEN 72", NVME_TCP_H2C_DATA, 7, 72, 76, 84, 1, 2 },
	{ "HDGSTF missing", NVME_TCP_CAPSULE_CMD, 0, 72, 0, 72, 1, 1 },
	{ "DDGSTF without data", NVME_TCP_CAPSULE_CMD, 3, 72, 0, 76, 1, 1 },
	{ "DDGSTF missing with data", NVME_TCP_CAPSULE_CMD, 1, 72, 76, 80, 1, 1 },
	{ "PLEN short of the header digest", NVME_TCP_CAPSULE_CMD, 1, 72, 0, 72, 1, 4 },
	{ "PDO without data", NVME_TCP_CAPSULE_CMD, 1, 72, 76, 76, 1, 3 },
	{ "PDO inside the header digest", NVME_TCP_CAPSULE_CMD, 3, 72, 72, 84, 1, 3 },
	{ "PDO with extra padding", NVME_TCP_CAPSULE_CMD, 3, 72, 80, 88, 1, 3 },
	{ "PDO 0 with data", NVME_TCP_CAPSULE_CMD, 3, 72, 0, 84, 1, 3 },
	{ "PLEN ends inside the data digest", NVME_TCP_CAPSULE_CMD, 3, 72, 76, 78, 1, 4 },
	{ "in-capsule data over the limit", NVME_TCP_CAPSULE_CMD, 3, 72, 76,
	  76 + 8193 + 4, 5, 4 },
	{ "H2CData without data", NVME_TCP_H2C_DATA, 5, 24, 0, 28, 1, 4 },
	{ "H2CData over MAXH2CDATA", NVME_TCP_H2C_DATA, 7, 24, 28, 28 + 8196 + 4, 5, 4 },
	{ "H2CData PLEN of 4 GiB", NVME_TCP_H2C_DATA, 7, 24, 28, 0xffffffff, 5, 4 },
	{ "H2CTermReq with HDGSTF", NVME_TCP_H2C_TERM_REQ, 1, 24, 0, 28, 1, 1 },
	{ "H2CTermReq quoting too much", NVME_TCP_H2C_TERM_REQ, 0, 24, 0, 153, 1, 4 },
	{ "H2CTermReq with PDO", NVME_TCP_H2C_TERM_REQ, 0, 24, 24, 48, 1, 3 },
};

/* Received by a host with header digests only, HPDA 1 (8-byte data). */
static const struct bad_ch bad_at_host[] = {
	{ "H2C type sent to a host", NVME_TCP_CAPSULE_CMD, 1, 72, 0, 76, 1, 0 },
	{ "ICResp after the exchange", NVME_TCP_ICRESP, 0, 128, 0, 128, 2, 0 },
	{ "CapsuleResp HLEN 16", NVME_TCP_CAPSULE_RESP, 1, 16, 0, 20, 1, 2 },
	{ "HDGSTF on a C2HTermReq", NVME_TCP_C2H_TERM_REQ, 1, 24, 0, 28, 1, 1 },
	{ "DDGSTF not negotiated", NVME_TCP_C2H_DATA, 7, 24, 32, 40, 1, 1 },
	{ "SUCCESS without LAST_PDU", NVME_TCP_C2H_DATA, 9, 24, 32, 40, 1, 1 },
	{ "CapsuleResp with data", NVME_TCP_CAPSULE_RESP, 1, 24, 0, 32, 1, 4 },
	{ "R2T with data", NVME_TCP_R2T, 1, 24, 32, 40, 1, 4 },
	{ "R2T with PDO", NVME_TCP_R2T, 1, 24, 28, 28, 1, 3 },
	{ "C2HData PDO ignores HPDA", NVME_TCP_C2H_DATA, 5, 24, 28, 36, 1, 3 },
	{ "C2HData over the host's limit", NVME_TCP_C2H_DATA, 5, 24, 32,
	  32 + 131073, 4, 4 },
};

/* Before the exchange: anything but ICReq/ICResp (or a TermReq) is out of order. */
static const struct bad_ch bad_before_ic[] = {
	{ "CapsuleCmd before ICReq", NVME_TCP_CAPSULE_CMD, 0, 72, 0, 72, 2, 0 },
	{ "H2CData before ICReq", NVME_TCP_H2C_DATA, 4, 24, 24, 32, 2, 0 },
	{ "ICReq with HDGSTF", NVME_TCP_ICREQ, 1, 128, 0, 132, 1, 1 },
	{ "ICReq HLEN 120", NVME_TCP_ICREQ, 0, 120, 0, 120, 1, 2 },
	{ "ICReq PLEN 132", NVME_TCP_ICREQ, 0, 128, 0, 132, 1, 4 },
	{ "ICReq PLEN 127", NVME_TCP_ICREQ, 0, 128, 0, 127, 1, 4 },
	{ "ICReq with PDO", NVME_TCP_ICREQ, 0, 128, 128, 128, 1, 3 },
};

static void expect_bad(const struct nvme_tcp_conn *c, const struct bad_ch *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct bad_ch *b = &cases[i];
		struct nvme_tcp_ch ch = {
			.pdu_type = b->type, .flags = b->flags, .hlen = b->hlen,
			.pdo = b->pdo, .plen = b->plen,
		};
		uint32_t fei = 0xdead;

		print_message("%s\n", b->what);
		assert_int_equal(nvme_tcp_check_ch(c, &ch, &fei), b->fes);
		assert_int_equal(fei, b->fei);
	}
}

static void test_check_ch_rejects(void **state)
{
	struct nvme_tcp_conn host = host_conn(true, false, 1);
	struct nvme_tcp_conn ctrl = host_conn(true, true, 0);

	(void)state;
	ctrl.role = NVME_TCP_CTRL;
	expect_bad(&ctrl, bad_at_ctrl, sizeof(bad_at_ctrl) / sizeof(bad_at_ctrl[0]));
	expect_bad(&host, bad_at_host, sizeof(bad_at_host) / sizeof(bad_at_host[0]));
	ctrl.ic_done = false;
	expect_bad(&ctrl, bad_before_ic, sizeof(bad_before_ic) / sizeof(bad_before_ic[0]));
}

/* Hand-made headers the checks accept, the edge of each rule. */
static void test_check_ch_accepts(void **state)
{
	struct nvme_tcp_conn ctrl = host_conn(false, false, 0);
	struct nvme_tcp_conn host = host_conn(true, false, 1);
	struct nvme_tcp_ch ch;
	uint32_t fei;

	(void)state;
	ctrl.role = NVME_TCP_CTRL;
	/* In-capsule data exactly at the limit, no digests: PDO = HLEN. */
	ch = (struct nvme_tcp_ch){ NVME_TCP_CAPSULE_CMD, 0, 72, 72, 72 + 8192 };
	assert_int_equal(nvme_tcp_check_ch(&ctrl, &ch, &fei), 0);
	/* A TermReq may come at any time, quoting up to 128 bytes. */
	ch = (struct nvme_tcp_ch){ NVME_TCP_H2C_TERM_REQ, 0, 24, 0, 152 };
	assert_int_equal(nvme_tcp_check_ch(&ctrl, &ch, &fei), 0);
	ctrl.ic_done = false;
	assert_int_equal(nvme_tcp_check_ch(&ctrl, &ch, &fei), 0);
	/* HPDA 1: C2H data at 32 after 24 + 4; one byte of it is enough. */
	ch = (struct nvme_tcp_ch){ NVME_TCP_C2H_DATA, 0x0d, 24, 32, 33 };
	assert_int_equal(nvme_tcp_check_ch(&host, &ch, &fei), 0);
	ch = (struct nvme_tcp_ch){ NVME_TCP_R2T, 1, 24, 0, 28 };
	assert_int_equal(nvme_tcp_check_ch(&host, &ch, &fei), 0);
}

/* PSH fields and the header digest, after the CH passed. */
/* The whole header is rejected with @fes, blaming the field at byte @fei. */
static void expect_hdr_fes(const struct nvme_tcp_conn *c, const union nvme_tcp_hdr *h,
			   int fes, uint32_t fei)
{
	uint32_t got = ~0u;

	assert_int_equal(nvme_tcp_check_hdr(c, h, &got), fes);
	assert_int_equal(got, fei);
}

static void test_check_hdr_rejects(void **state)
{
	struct nvme_tcp_conn host = host_conn(true, false, 0);
	struct nvme_tcp_conn ctrl = peer_of(&host);
	struct iovec iov = { payload, 64 };
	struct nvme_tcp_pdu pdu;
	uint32_t fei;

	(void)state;
	/* A flipped bit anywhere in CH or PSH breaks the header digest. */
	nvme_tcp_build_capsule_resp(&pdu, &ctrl, &(struct nvme_cqe){ .cid = 9 });
	pdu.hdr.resp.cqe.cid ^= 0x100;
	assert_int_equal(nvme_tcp_check_ch(&host, &pdu.hdr.ch, &fei), 0);
	assert_int_equal(nvme_tcp_check_hdr(&host, &pdu.hdr, &fei), NVME_TCP_FES_HDR_DIGEST);
	assert_int_equal(fei, 0);
	/* DATAL must be what PLEN leaves for data. */
	assert_int_equal(nvme_tcp_build_h2c_data(&pdu, &host, 1, 1, 0, &iov, 1, true), 0);
	pdu.hdr.data.datal = 63;
	memcpy(pdu.hdr.raw + 24, &(uint32_t){ crc32c(0, pdu.hdr.raw, 24) }, 4);
	assert_int_equal(nvme_tcp_check_ch(&ctrl, &pdu.hdr.ch, &fei), 0);
	expect_hdr_fes(&ctrl, &pdu.hdr, NVME_TCP_FES_INVALID_HDR_FIELD, 16);

	/* Without header digests the PSH fields are checked directly. */
	host = host_conn(false, false, 0);
	ctrl = peer_of(&host);
	assert_int_equal(nvme_tcp_build_r2t(&pdu, &ctrl, 1, 1, 0, 1), 0);
	pdu.hdr.r2t.r2tl = 0;
	expect_hdr_fes(&host, &pdu.hdr, NVME_TCP_FES_INVALID_HDR_FIELD, 16);

	host.ic_done = ctrl.ic_done = false;
	assert_int_equal(nvme_tcp_build_icreq(&pdu, &host, 0), 0);
	pdu.hdr.icreq.pfv = 1;
	expect_hdr_fes(&ctrl, &pdu.hdr, NVME_TCP_FES_UNSUPPORTED_PARAM, 8);
	pdu.hdr.icreq.pfv = 0;
	pdu.hdr.icreq.hpda = 32;
	expect_hdr_fes(&ctrl, &pdu.hdr, NVME_TCP_FES_INVALID_HDR_FIELD, 10);

	ctrl.maxh2cdata = 4096;
	assert_int_equal(nvme_tcp_build_icresp(&pdu, &ctrl), 0);
	assert_int_equal(nvme_tcp_check_hdr(&host, &pdu.hdr, &fei), 0);
	pdu.hdr.icresp.cpda = 32;
	expect_hdr_fes(&host, &pdu.hdr, NVME_TCP_FES_INVALID_HDR_FIELD, 10);
	pdu.hdr.icresp.cpda = 0;
	pdu.hdr.icresp.maxh2cdata = 4092;
	expect_hdr_fes(&host, &pdu.hdr, NVME_TCP_FES_INVALID_HDR_FIELD, 12);
	pdu.hdr.icresp.maxh2cdata = 4098;
	assert_int_equal(nvme_tcp_check_hdr(&host, &pdu.hdr, &fei),
			 NVME_TCP_FES_INVALID_HDR_FIELD);
	pdu.hdr.icresp.maxh2cdata = 4096;
	/* The host offered no digests: the controller cannot turn one on. */
	pdu.hdr.icresp.dgst = NVME_TCP_DGST_DDGST;
	expect_hdr_fes(&host, &pdu.hdr, NVME_TCP_FES_INVALID_HDR_FIELD, 11);
	pdu.hdr.icresp.pfv = 2;
	expect_hdr_fes(&host, &pdu.hdr, NVME_TCP_FES_UNSUPPORTED_PARAM, 8);
}

static void test_builder_limits(void **state)
{
	struct nvme_tcp_conn host = host_conn(false, false, 0);
	struct nvme_tcp_conn ctrl = peer_of(&host);
	struct iovec big = { payload, 8192 }, over[2] = { { payload, 8192 }, { payload, 1 } };
	struct nvme_tcp_pdu pdu;

	(void)state;
	assert_int_equal(nvme_tcp_build_capsule_cmd(&pdu, &host, &write_sqe, &big, 1), 0);
	assert_int_equal(nvme_tcp_build_capsule_cmd(&pdu, &host, &write_sqe, over, 2),
			 -EMSGSIZE);
	assert_int_equal(nvme_tcp_build_h2c_data(&pdu, &host, 1, 1, 0, &big, 1, true), 0);
	assert_int_equal(nvme_tcp_build_h2c_data(&pdu, &host, 1, 1, 0, over, 2, true),
			 -EMSGSIZE);
	assert_int_equal(nvme_tcp_build_h2c_data(&pdu, &host, 1, 1, 0, NULL, 0, true),
			 -EINVAL);
	assert_int_equal(nvme_tcp_build_c2h_data(&pdu, &ctrl, 1, 0, &big, 1,
						 NVME_TCP_F_SUCCESS), -EINVAL);
	assert_int_equal(nvme_tcp_build_c2h_data(&pdu, &ctrl, 1, 0, &big, 1,
						 NVME_TCP_F_HDGSTF), -EINVAL);
	assert_int_equal(nvme_tcp_build_c2h_data(&pdu, &ctrl, 1, 0, &big, 1, 0), 0);
	assert_int_equal(nvme_tcp_build_r2t(&pdu, &ctrl, 1, 1, 0, 0), -EINVAL);
	host.hpda = 32;
	assert_int_equal(nvme_tcp_build_icreq(&pdu, &host, 0), -EINVAL);
	ctrl.maxh2cdata = 4094;
	assert_int_equal(nvme_tcp_build_icresp(&pdu, &ctrl), -EINVAL);
	ctrl.maxh2cdata = 8192;
	ctrl.cpda = 32;
	assert_int_equal(nvme_tcp_build_icresp(&pdu, &ctrl), -EINVAL);
}

/* A TermReq quotes the offending header, truncated to 128 bytes. */
static void test_term_req(void **state)
{
	struct nvme_tcp_conn host = host_conn(true, true, 0);
	struct nvme_tcp_conn ctrl = peer_of(&host);
	struct nvme_tcp_pdu pdu;
	struct nvme_tcp_layout l;

	(void)state;
	nvme_tcp_build_term_req(&pdu, &ctrl, NVME_TCP_FES_INVALID_HDR_FIELD, 3,
				payload, 200);
	assert_int_equal(pdu.hdr.ch.pdu_type, NVME_TCP_C2H_TERM_REQ);
	assert_int_equal(pdu.hdr.ch.flags, 0);
	assert_int_equal(pdu.hdr.ch.plen, 152);
	assert_int_equal(pdu.hdr_len, 152);
	assert_int_equal(pdu.ddgst_len, 0);
	assert_int_equal(pdu.hdr.raw[8], 0x01);   /* FES */
	assert_int_equal(pdu.hdr.raw[10], 0x03);  /* FEI */
	assert_memory_equal(pdu.hdr.raw + 24, payload, 128);
	l = receive(&host, &pdu, 128);
	assert_int_equal(l.hdr_len, 24);

	nvme_tcp_build_term_req(&pdu, &host, NVME_TCP_FES_HDR_DIGEST, 0, payload, 76);
	assert_int_equal(pdu.hdr.ch.pdu_type, NVME_TCP_H2C_TERM_REQ);
	assert_int_equal(pdu.hdr.ch.plen, 100);
	receive(&ctrl, &pdu, 76);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_sw_hw_agree),
		cmocka_unit_test(test_builders_round_trip),
		cmocka_unit_test(test_ic_exchange),
		cmocka_unit_test(test_icreq_bytes),
		cmocka_unit_test(test_capsule_cmd_bytes),
		cmocka_unit_test(test_check_ch_rejects),
		cmocka_unit_test(test_check_ch_accepts),
		cmocka_unit_test(test_check_hdr_rejects),
		cmocka_unit_test(test_builder_limits),
		cmocka_unit_test(test_term_req),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
