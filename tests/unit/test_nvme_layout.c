/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every NVMe and NVMe/TCP structure against the byte offsets of NVMe Base
 * 2.0 and TCP Transport 1.0.  The offsets are compile-time facts, checked
 * with _Static_assert; the run-time test fills fields and finds them at
 * their spec offsets, which also proves the host is little-endian.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "guest-abi/nvme.h"
#include "guest-abi/nvme_tcp.h"

#define AT(type, field, ofs) \
	_Static_assert(offsetof(struct type, field) == (ofs), #type "." #field)

/* Base 2.0, "Common Command Format". */
AT(nvme_sqe, opc, 0);
AT(nvme_sqe, flags, 1);
AT(nvme_sqe, cid, 2);
AT(nvme_sqe, nsid, 4);
AT(nvme_sqe, cdw2, 8);
AT(nvme_sqe, cdw3, 12);
AT(nvme_sqe, mptr, 16);
AT(nvme_sqe, dptr, 24);
AT(nvme_sqe, dptr.prp.prp2, 32);
AT(nvme_sqe, cdw10, 40);
AT(nvme_sqe, cdw11, 44);
AT(nvme_sqe, cdw12, 48);
AT(nvme_sqe, cdw13, 52);
AT(nvme_sqe, cdw14, 56);
AT(nvme_sqe, cdw15, 60);
/* "Completion Queue Entry". */
AT(nvme_cqe, dw0, 0);
AT(nvme_cqe, dw1, 4);
AT(nvme_cqe, sqhd, 8);
AT(nvme_cqe, sqid, 10);
AT(nvme_cqe, cid, 12);
AT(nvme_cqe, status, 14);
/* SGL descriptor: the identifier is the last byte. */
AT(nvme_sgl_desc, addr, 0);
AT(nvme_sgl_desc, length, 8);
AT(nvme_sgl_desc, id, 15);
/* Fabrics command, Connect, Property Get/Set. */
AT(nvmf_cmd, fctype, 4);
AT(nvmf_cmd, dptr, 24);
AT(nvmf_cmd, fcspec, 40);
AT(nvmf_connect_cmd, fctype, 4);
AT(nvmf_connect_cmd, dptr, 24);
AT(nvmf_connect_cmd, recfmt, 40);
AT(nvmf_connect_cmd, qid, 42);
AT(nvmf_connect_cmd, sqsize, 44);
AT(nvmf_connect_cmd, cattr, 46);
AT(nvmf_connect_cmd, kato, 48);
AT(nvmf_prop_get_cmd, attrib, 40);
AT(nvmf_prop_get_cmd, offset, 44);
AT(nvmf_prop_set_cmd, attrib, 40);
AT(nvmf_prop_set_cmd, offset, 44);
AT(nvmf_prop_set_cmd, value, 48);
AT(nvmf_connect_data, hostid, 0);
AT(nvmf_connect_data, cntlid, 16);
AT(nvmf_connect_data, subnqn, 256);
AT(nvmf_connect_data, hostnqn, 512);
AT(nvmf_connect_data, rsvd768, 768);

/* TCP Transport 1.0: common header and each PDU specific header. */
AT(nvme_tcp_ch, pdu_type, 0);
AT(nvme_tcp_ch, flags, 1);
AT(nvme_tcp_ch, hlen, 2);
AT(nvme_tcp_ch, pdo, 3);
AT(nvme_tcp_ch, plen, 4);
AT(nvme_tcp_icreq, pfv, 8);
AT(nvme_tcp_icreq, hpda, 10);
AT(nvme_tcp_icreq, dgst, 11);
AT(nvme_tcp_icreq, maxr2t, 12);
AT(nvme_tcp_icreq, rsvd16, 16);
AT(nvme_tcp_icresp, pfv, 8);
AT(nvme_tcp_icresp, cpda, 10);
AT(nvme_tcp_icresp, dgst, 11);
AT(nvme_tcp_icresp, maxh2cdata, 12);
AT(nvme_tcp_term_req, fes, 8);
AT(nvme_tcp_term_req, fei, 10);
AT(nvme_tcp_capsule_cmd, sqe, 8);
AT(nvme_tcp_capsule_resp, cqe, 8);
AT(nvme_tcp_data, cccid, 8);
AT(nvme_tcp_data, ttag, 10);
AT(nvme_tcp_data, datao, 12);
AT(nvme_tcp_data, datal, 16);
AT(nvme_tcp_r2t, cccid, 8);
AT(nvme_tcp_r2t, ttag, 10);
AT(nvme_tcp_r2t, r2to, 12);
AT(nvme_tcp_r2t, r2tl, 16);

/* Base 2.0 "Identify Controller", NVM 1.0 "Identify Namespace", log pages. */
AT(nvme_id_ctrl, mdts, 77);
AT(nvme_id_ctrl, ver, 80);
AT(nvme_id_ctrl, cntrltype, 111);
AT(nvme_id_ctrl, oacs, 256);
AT(nvme_id_ctrl, aerl, 259);
AT(nvme_id_ctrl, elpe, 262);
AT(nvme_id_ctrl, wctemp, 266);
AT(nvme_id_ctrl, sqes, 512);
AT(nvme_id_ctrl, nn, 516);
AT(nvme_id_ctrl, oncs, 520);
AT(nvme_id_ctrl, vwc, 525);
AT(nvme_id_ctrl, sgls, 536);
AT(nvme_id_ctrl, subnqn, 768);
AT(nvme_id_ctrl, psd, 2048);
AT(nvme_id_ns, nlbaf, 25);
AT(nvme_id_ns, dlfeat, 33);
AT(nvme_id_ns, nguid, 104);
AT(nvme_id_ns, lbaf, 128);
AT(nvme_error_log, status, 12);
AT(nvme_error_log, lba, 16);
AT(nvme_smart_log, composite_temp, 1);
AT(nvme_smart_log, data_units_read, 32);
AT(nvme_smart_log, data_units_written, 48);
AT(nvme_smart_log, num_err_log_entries, 176);
AT(nvme_fw_slot_log, frs, 8);

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct nvme_sqe), 64);
	assert_int_equal(sizeof(struct nvme_cqe), 16);
	assert_int_equal(sizeof(struct nvme_sgl_desc), 16);
	assert_int_equal(sizeof(struct nvmf_connect_cmd), 64);
	assert_int_equal(sizeof(struct nvmf_prop_get_cmd), 64);
	assert_int_equal(sizeof(struct nvmf_prop_set_cmd), 64);
	assert_int_equal(sizeof(struct nvmf_connect_data), 1024);
	assert_int_equal(sizeof(struct nvme_tcp_ch), 8);
	assert_int_equal(sizeof(struct nvme_tcp_icreq), 128);
	assert_int_equal(sizeof(struct nvme_tcp_icresp), 128);
	assert_int_equal(sizeof(struct nvme_tcp_term_req), 24);
	assert_int_equal(sizeof(struct nvme_tcp_capsule_cmd), 72);
	assert_int_equal(sizeof(struct nvme_tcp_capsule_resp), 24);
	assert_int_equal(sizeof(struct nvme_tcp_data), 24);
	assert_int_equal(sizeof(struct nvme_tcp_r2t), 24);
}

/* A Read of 8 blocks at LBA 0x1_2345_6789, bytes as the spec numbers them. */
static void test_sqe_bytes(void **state)
{
	struct nvme_sqe sqe = {
		.opc = NVME_NVM_READ, .cid = 0xbeef, .nsid = 1,
		.cdw10 = 0x23456789, .cdw11 = 0x1, .cdw12 = 7 | NVME_RW_FUA,
	};
	uint8_t b[64];

	(void)state;
	sqe.dptr.sgl1.length = 0x1000;
	sqe.dptr.sgl1.id = NVME_SGL_ID(NVME_SGL_TYPE_TRANSPORT_DATA,
				       NVME_SGL_SUBTYPE_TRANSPORT);
	memcpy(b, &sqe, sizeof(b));
	assert_int_equal(b[0], 0x02);
	assert_int_equal(b[2], 0xef);
	assert_int_equal(b[3], 0xbe);
	assert_int_equal(b[4], 0x01);
	assert_int_equal(b[32], 0x00);           /* SGL length, bytes 24+8.. */
	assert_int_equal(b[33], 0x10);
	assert_int_equal(b[39], 0x5a);           /* SGL identifier */
	assert_int_equal(b[40], 0x89);           /* SLBA low dword */
	assert_int_equal(b[43], 0x23);
	assert_int_equal(b[44], 0x01);
	assert_int_equal(b[48], 0x07);           /* NLB, 0's based */
	assert_int_equal(b[51], 0x40);           /* FUA is CDW12 bit 30 */
}

/* Status field: P bit 0, SC 8:1, SCT 11:9, More 14, DNR 15. */
static void test_cqe_status(void **state)
{
	struct nvme_cqe cqe = { .cid = 0x1234, .sqhd = 5, .sqid = 1 };
	uint8_t b[16];

	(void)state;
	cqe.status = nvme_cqe_status(NVME_SC_LBA_RANGE, true) | NVME_STATUS_P;
	assert_int_equal(cqe.status, 0x8101);
	assert_int_equal(nvme_cqe_code(cqe.status), NVME_SC_LBA_RANGE);
	cqe.status = nvme_cqe_status(NVME_SC_INVALID_QID, false);
	assert_int_equal(cqe.status, 0x0202);            /* SCT 1, SC 1 */
	assert_int_equal(NVME_SC_SCT(nvme_cqe_code(cqe.status)), NVME_SCT_CMD);
	assert_int_equal(NVME_SC_SC(nvme_cqe_code(cqe.status)), 0x01);
	cqe.status = nvme_cqe_status(NVME_SC_READ_ERROR, false) | NVME_STATUS_MORE;
	assert_int_equal(cqe.status, 0x4502);            /* SCT 2, SC 0x81 */
	memcpy(b, &cqe, sizeof(b));
	assert_int_equal(b[8], 5);
	assert_int_equal(b[10], 1);
	assert_int_equal(b[12], 0x34);
	assert_int_equal(b[13], 0x12);
	assert_int_equal(b[14], 0x02);
	assert_int_equal(b[15], 0x45);
}

static void test_connect_bytes(void **state)
{
	struct nvmf_connect_cmd cmd = {
		.opc = NVME_ADMIN_FABRICS, .cid = 1, .fctype = NVMF_FCTYPE_CONNECT,
		.qid = 3, .sqsize = 127, .kato = 120000,
	};
	struct nvmf_connect_data data = { .cntlid = NVMF_CNTLID_DYNAMIC };
	uint8_t b[64], d[1024];

	(void)state;
	strcpy(data.subnqn, "nqn.2014-08.org.nvmexpress.discovery");
	strcpy(data.hostnqn, "nqn.2014-08.org.nvmexpress:uuid:0");
	memcpy(b, &cmd, sizeof(b));
	memcpy(d, &data, sizeof(d));
	assert_int_equal(b[0], 0x7f);
	assert_int_equal(b[4], 0x01);
	assert_int_equal(b[42], 3);
	assert_int_equal(b[44], 127);
	assert_int_equal(b[48] | b[49] << 8 | b[50] << 16, 120000);
	assert_int_equal(d[16], 0xff);
	assert_int_equal(d[17], 0xff);
	assert_memory_equal(d + 256, "nqn.2014-08.org.nvmexpress.discovery", 36);
	assert_memory_equal(d + 512, "nqn.2014-08.org.nvmexpress:uuid:0", 33);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_sqe_bytes),
		cmocka_unit_test(test_cqe_status),
		cmocka_unit_test(test_connect_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
