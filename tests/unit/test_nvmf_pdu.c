/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe/TCP host's PDU engine (cards/ebs/nvmf_pdu.c) against a scripted
 * target on a real TCP socket (tests/unit/nvmf_target_env.h): reads and
 * writes through C2HData and R2T/H2CData, and the PDUs a target must not
 * send: a CapsuleResp for a CID not outstanding, C2HData outside the
 * command's data, an R2T for a read, a bad data digest.  The host must
 * answer the first three with an H2CTermReq naming the fault (TCP
 * Transport 1.0, "Fatal Error Status"), reconnect and complete the read
 * correctly; the bad digest costs only a retry of that read.
 */
#include "tests/unit/nvmf_target_env.h"

static uint8_t wbuf[32 * BSZ], rbuf[32 * BSZ];

static void fill(uint8_t seed)
{
	for (size_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (uint8_t)(i * 7 + seed);
}

static void test_rw(void **state)
{
	struct nvmf_ctrl *c = connect_host(false, 0);

	(void)state;
	fill(1);
	/* 4 KiB in-capsule; 128 KiB through two R2Ts of 8 KiB H2CData each. */
	assert_int_equal(run_cmd(c, NVME_NVM_WRITE, 0, 1, wbuf), 0);
	assert_int_equal(run_cmd(c, NVME_NVM_WRITE, 8, 32, wbuf), 0);
	assert_memory_equal(f.disk + 8 * BSZ, wbuf, sizeof(wbuf));
	/* Reads end with a C2HData carrying SUCCESS: no CapsuleResp. */
	memset(rbuf, 0, sizeof(rbuf));
	assert_int_equal(run_cmd(c, NVME_NVM_READ, 8, 32, rbuf), 0);
	assert_memory_equal(rbuf, wbuf, sizeof(wbuf));
	assert_int_equal(nvmf_ctrl_info(c)->reconnects, 0);
	/* A Read without a buffer for its data is refused before it goes out. */
	assert_int_equal(nvmf_submit(nvmf_ctrl_queue(c, 0), &(struct nvmf_req){
		.opc = NVME_NVM_READ, .nlb = 1, .iov = NULL, .iovcnt = 0, .done = on_done }),
		-EINVAL);
	nvmf_ctrl_free(c);
}

/* The target misbehaves once on a read: TermReq with fes/fei, reconnect, read again. */
static void expect_termreq(int fault, int fes, int fei)
{
	struct nvmf_ctrl *c = connect_host(false, 0);

	fill(2);
	assert_int_equal(run_cmd(c, NVME_NVM_WRITE, 40, 4, wbuf), 0);
	f.terms = 0;
	f.fault = fault;
	memset(rbuf, 0, sizeof(rbuf));
	assert_int_equal(run_cmd(c, NVME_NVM_READ, 40, 4, rbuf), 0);
	assert_memory_equal(rbuf, wbuf, 4 * BSZ);
	assert_int_equal(f.terms, 1);
	assert_int_equal(f.fes, fes);
	assert_int_equal(f.fei, fei);
	assert_int_equal(nvmf_ctrl_info(c)->reconnects, 1);
	nvmf_ctrl_free(c);
}

static void test_forged_cid(void **state)
{
	(void)state;
	expect_termreq(F_FORGED_CID, NVME_TCP_FES_INVALID_HDR_FIELD,
		       offsetof(struct nvme_tcp_capsule_resp, cqe.cid));
}

static void test_c2h_out_of_range(void **state)
{
	(void)state;
	expect_termreq(F_BAD_DATAO, NVME_TCP_FES_DATA_OUT_OF_RANGE, 0);
}

static void test_r2t_for_read(void **state)
{
	(void)state;
	expect_termreq(F_R2T_FOR_READ, NVME_TCP_FES_INVALID_HDR_FIELD,
		       offsetof(struct nvme_tcp_r2t, cccid));
}

static void test_bad_data_digest(void **state)
{
	struct nvmf_ctrl *c = connect_host(true, 0);

	(void)state;
	assert_true(nvmf_ctrl_info(c)->ddgst && nvmf_ctrl_info(c)->hdgst);
	fill(3);
	assert_int_equal(run_cmd(c, NVME_NVM_WRITE, 60, 1, wbuf), 0);
	f.reads = 0;
	f.terms = 0;
	f.fault = F_BAD_DDGST;
	memset(rbuf, 0, BSZ);
	assert_int_equal(run_cmd(c, NVME_NVM_READ, 60, 1, rbuf), 0);
	assert_memory_equal(rbuf, wbuf, BSZ);
	/* Read twice on the same connection: no TermReq, no reconnect. */
	assert_int_equal(f.reads, 2);
	assert_int_equal(f.terms, 0);
	assert_int_equal(nvmf_ctrl_info(c)->reconnects, 0);
	nvmf_ctrl_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw),
		cmocka_unit_test(test_forged_cid),
		cmocka_unit_test(test_c2h_out_of_range),
		cmocka_unit_test(test_r2t_for_read),
		cmocka_unit_test(test_bad_data_digest),
	};

	return cmocka_run_group_tests(tests, fake_start, fake_stop);
}
