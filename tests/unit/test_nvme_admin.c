/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe controller's admin command set (cards/ebs/nvme_admin.c) against
 * NVMe Base 2.0, driven as a host driver would (tests/unit/nvme_ctrl_env.h):
 * Identify, queue creation and deletion, Doorbell Buffer
 * Config, asynchronous events, features and log pages.
 */
#include "tests/unit/nvme_ctrl_env.h"

static void test_identify(void **state)
{
	struct env *e = *state;
	struct nvme_id_ctrl *id = (void *)(e->ram + DATA);
	struct nvme_id_ns *ns = (void *)(e->ram + DATA + 4096);
	uint32_t *list = (void *)(e->ram + DATA + 8192);
	uint8_t *d = e->ram + DATA + 12288;

	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CTRL, 0, DATA), NULL), 0);
	assert_memory_equal(id->mn, "cardvisor Elastic Block Store           ", 40);
	assert_memory_equal(id->sn, "vol-0123456789abcdef", 20);
	assert_memory_equal(id->fr, "1.0     ", 8);
	assert_int_equal(id->vid, CV_PCI_VENDOR_QUMRANET);
	assert_int_equal(id->mdts, 5);
	assert_true(id->oacs & NVME_CTRL_OACS_DBBUF);
	assert_int_equal(id->oncs, NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES);
	assert_true(id->vwc & NVME_CTRL_VWC_PRESENT);
	assert_int_equal(id->sgls & 3, 1);
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_equal(id->nn, 1);
	assert_int_equal(memcmp(id->subnqn, "nqn.2014-08.org.nvmexpress:uuid:", 32), 0);

	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY, .nsid = 1,
			       .dptr.prp.prp1 = DATA + 4096 }, NULL), 0);
	assert_int_equal(ns->nsze, DISK_LBAS);
	assert_int_equal(ns->ncap, DISK_LBAS);
	assert_int_equal(ns->lbaf[ns->flbas & 0xf].lbads, 12);

	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_ACTIVE_NS_LIST, 0,
				      DATA + 8192), NULL), 0);
	assert_int_equal(list[0], 1);
	assert_int_equal(list[1], 0);

	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY, .nsid = 1,
			       .cdw10 = NVME_CNS_NS_DESC_LIST,
			       .dptr.prp.prp1 = DATA + 12288 }, NULL), 0);
	assert_int_equal(d[0], NVME_NIDT_NGUID);
	assert_int_equal(d[1], 16);
	assert_memory_equal(d + 4, ns->nguid, 16);
	assert_int_equal(d[20], NVME_NIDT_UUID);
	assert_int_equal(d[21], 16);
	assert_int_equal(d[24 + 6] >> 4, 5);          /* RFC 4122 version 5 */
	assert_int_equal(d[24 + 8] & 0xc0, 0x80);     /* RFC 4122 variant */
	assert_int_equal(d[40], NVME_NIDT_CSI);

	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY, .nsid = 2,
			       .dptr.prp.prp1 = DATA }, NULL), NVME_SC_INVALID_NS);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, 0x55, 0, DATA), NULL),
			 NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CS_CTRL, 0, DATA), NULL), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CS_CTRL, 2u << 24, DATA),
			       NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(0x7e, 0, 0, 0), NULL), NVME_SC_INVALID_OPCODE);
	/* PCIe admin commands take PRPs only; a buffer outside RAM fails. */
	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY,
			       .flags = NVME_SQE_PSDT_SGL_MPTR_BUF, .cdw10 = NVME_CNS_CTRL },
			       NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CTRL, 0, RAM_SIZE), NULL),
			 NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(e->irqs[0], 11);
}

static void test_queue_errors(void **state)
{
	struct env *e = *state;
	uint32_t ien1 = NVME_CREATE_Q_PC | NVME_CREATE_CQ_IEN | 1u << 16;
	uint32_t dw0;

	assert_int_equal(create_cq(e, 0, 8, IOCQ, ien1), NVME_SC_INVALID_QID);
	assert_int_equal(create_cq(e, MAX_IOQS + 1, 8, IOCQ, ien1), NVME_SC_INVALID_QID);
	assert_int_equal(create_cq(e, 1, 1, IOCQ, ien1), NVME_SC_INVALID_QSIZE);
	assert_int_equal(create_cq(e, 1, 65, IOCQ, ien1), NVME_SC_INVALID_QSIZE);
	assert_int_equal(create_cq(e, 1, 8, IOCQ, NVME_CREATE_CQ_IEN), NVME_SC_INVALID_FIELD);
	assert_int_equal(create_cq(e, 1, 8, IOCQ, NVME_CREATE_Q_PC | NVME_CREATE_CQ_IEN |
				   (uint32_t)VECTORS << 16), NVME_SC_INVALID_VECTOR);
	assert_int_equal(create_cq(e, 1, 8, IOCQ + 0x10, ien1), NVME_SC_PRP_INVALID_OFFSET);
	assert_int_equal(create_cq(e, 1, 8, RAM_SIZE, ien1), NVME_SC_INVALID_FIELD);
	assert_int_equal(create_cq(e, 1, 8, IOCQ, ien1), 0);
	assert_int_equal(create_cq(e, 1, 8, IOCQ, ien1), NVME_SC_INVALID_QID);

	assert_int_equal(create_sq(e, 1, 8, IOSQ, 0), NVME_SC_CQ_INVALID);
	assert_int_equal(create_sq(e, 1, 8, IOSQ, 2), NVME_SC_CQ_INVALID);
	assert_int_equal(create_sq(e, 0, 8, IOSQ, 1), NVME_SC_INVALID_QID);
	assert_int_equal(create_sq(e, 1, 1, IOSQ, 1), NVME_SC_INVALID_QSIZE);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_CREATE_SQ, 7u << 16 | 1, 1u << 16, IOSQ),
			       NULL), NVME_SC_INVALID_FIELD);   /* PC = 0 */
	assert_int_equal(create_sq(e, 1, 8, IOSQ + 8, 1), NVME_SC_PRP_INVALID_OFFSET);
	assert_int_equal(create_sq(e, 1, 8, IOSQ, 1), 0);
	assert_int_equal(e->created[1], 1);
	assert_int_equal(create_sq(e, 1, 8, IOSQ, 1), NVME_SC_INVALID_QID);

	/* Number of Queues only before any I/O queue exists. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_NUM_QUEUES, 0, 0),
			       NULL), NVME_SC_CMD_SEQ_ERROR);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_CQ, 1, 0, 0), NULL),
			 NVME_SC_QID_DELETION);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_SQ, 2, 0, 0), NULL),
			 NVME_SC_INVALID_QID);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_SQ, 1, 0, 0), NULL), 0);
	assert_int_equal(e->deleted[1], 1);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_CQ, 1, 0, 0), NULL), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_CQ, 1, 0, 0), NULL),
			 NVME_SC_INVALID_QID);

	/* One queue pair allocated: qid 2 is now invalid. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_NUM_QUEUES, 0, 0),
			       &dw0), 0);
	assert_int_equal(dw0, 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_NUM_QUEUES,
				      0xffff, 0), NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(create_cq(e, 2, 8, IOCQ, ien1), NVME_SC_INVALID_QID);
}

static void test_delete_sq_waits(void **state)
{
	struct env *e = *state;
	struct nvme_sqe s = rw(NVME_NVM_READ, 1, 1, DATA, 0);
	struct nvme_sqe del = cmd(NVME_ADMIN_DELETE_SQ, 1, 0, 0);
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 8, 8);
	e->delay = true;
	io_send(e, &s);
	admin_send(e, &del);
	assert_false(admin_reap(e, &cqe));
	io_finish(e, 0, 0);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, del.cid);
	assert_int_equal(nvme_cqe_code(cqe.status), 0);
	assert_false(io_reap_noring(e, &cqe));     /* its completion dropped */
	assert_int_equal(e->deleted[1], 1);
}

static void test_admin_throttled(void **state)
{
	struct env *e = *state;
	struct nvme_sqe del[MAX_IOQS], aer, id;
	struct nvme_cqe cqe = { 0 };

	/* Every admin request held: 4 AERs and 4 Delete SQs waiting for I/O. */
	assert_int_equal(create_cq(e, 1, 16, IOCQ, NVME_CREATE_Q_PC), 0);
	e->delay = true;
	for (uint16_t q = 1; q <= MAX_IOQS; q++) {
		uint64_t base = 0x40000u + q * 0x1000u;
		struct nvme_sqe r = rw(NVME_NVM_READ, q, 1, DATA, 0);

		assert_int_equal(create_sq(e, q, 8, base, 1), 0);
		r.cid = (uint16_t)(100 + q);
		memcpy(e->ram + base, &r, 64);
		w32(e, NVME_REG_DBS + 8u * q, 1);
	}
	assert_int_equal(e->nr_held, MAX_IOQS);
	for (int i = 0; i < 4; i++) {
		aer = (struct nvme_sqe){ .opc = NVME_ADMIN_ASYNC_EVENT };
		admin_send(e, &aer);
	}
	for (uint16_t q = 1; q <= MAX_IOQS; q++) {
		del[q - 1] = cmd(NVME_ADMIN_DELETE_SQ, q, 0, 0);
		admin_send(e, &del[q - 1]);
	}
	id = cmd(NVME_ADMIN_IDENTIFY, NVME_CNS_CTRL, 0, DATA);
	admin_send(e, &id);
	assert_false(admin_reap(e, &cqe));   /* Identify waits for a request */

	/* SQ 1's read returns: its Delete completes, and that frees a request. */
	io_finish(e, 0, 0);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, del[0].cid);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, id.cid);
	assert_int_equal(nvme_cqe_code(cqe.status), 0);
	assert_false(admin_reap(e, &cqe));
	while (e->nr_held)
		io_finish(e, 0, 0);
	for (int i = 1; i < MAX_IOQS; i++) {
		assert_true(admin_reap(e, &cqe));
		assert_int_equal(cqe.cid, del[i].cid);
	}
	assert_int_equal(e->deleted[MAX_IOQS], 1);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DELETE_CQ, 1, 0, 0), NULL), 0);
}

static uint32_t *shadow(struct env *e, uint32_t page, unsigned db)
{
	return (uint32_t *)(e->ram + page + db * 4);
}

static void test_dbbuf(void **state)
{
	struct env *e = *state;
	struct nvme_sqe s;
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 8, 2);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_DBBUF_CONFIG, 0, 0, DBS_PAGE + 8), NULL),
			 NVME_SC_INVALID_FIELD);
	s = cmd(NVME_ADMIN_DBBUF_CONFIG, 0, 0, DBS_PAGE);
	s.dptr.prp.prp2 = EIS_PAGE;
	assert_int_equal(admin(e, s, NULL), 0);

	/* Two commands written to the shadow tail, then one kick. */
	for (int i = 0; i < 2; i++) {
		s = rw(NVME_NVM_READ, (uint64_t)i, 1, DATA, 0);
		io_send_noring(e, &s);
	}
	*shadow(e, DBS_PAGE, 2) = e->sq_tail;
	nvme_ctrl_doorbell_kick(e->c, 2);
	/* The 2-entry CQ took one; the host consumes it through the shadow
	 * head only, and the controller finds it when it needs the room. */
	assert_int_equal(e->submitted, 1);
	assert_int_equal(*shadow(e, EIS_PAGE, 3), 0);   /* ring me when you move */
	assert_true(io_reap_noring(e, &cqe));
	*shadow(e, DBS_PAGE, 3) = e->cq_head;
	nvme_ctrl_doorbell_kick(e->c, 3);
	assert_int_equal(e->submitted, 2);
	assert_int_equal(*shadow(e, EIS_PAGE, 2), e->sq_tail);
	assert_true(io_reap_noring(e, &cqe));
	*shadow(e, DBS_PAGE, 3) = e->cq_head;
	/* No kick for that head: the next fetch finds the room in the shadow. */
	s = rw(NVME_NVM_READ, 0, 1, DATA, 0);
	io_send_noring(e, &s);
	*shadow(e, DBS_PAGE, 2) = e->sq_tail;
	nvme_ctrl_doorbell_kick(e->c, 2);
	assert_int_equal(e->submitted, 3);
	assert_true(io_reap_noring(e, &cqe));
	assert_int_equal(cqe.cid, s.cid);
	/*
	 * A doorbell that still comes by MMIO carries its value; a CQ with room
	 * then parks its EventIdx one behind the head (size 2 here), where no
	 * head update the host makes asks for a doorbell.
	 */
	*shadow(e, DBS_PAGE, 3) = e->cq_head;
	w32(e, NVME_REG_DBS + 12, e->cq_head);
	assert_int_equal(*shadow(e, EIS_PAGE, 3), (e->cq_head + 1) % 2);
	s = rw(NVME_NVM_READ, 0, 1, DATA, 0);
	io_send(e, &s);
	assert_int_equal(e->submitted, 4);
	assert_int_equal(*shadow(e, EIS_PAGE, 2), e->sq_tail);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY);
}

static void test_kick_before_dbbuf(void **state)
{
	struct env *e = *state;
	struct nvme_sqe s;
	struct nvme_cqe cqe = { 0 };

	/*
	 * Linux <= 6.7 on a controller reset: I/O queues are live and the
	 * host updates its (zeroed) shadow and kicks before it sends Doorbell
	 * Buffer Config.  The kick is held, then served from the shadow.
	 */
	make_ioq(e, 8, 8);
	s = rw(NVME_NVM_READ, 0, 1, DATA, 0);
	io_send_noring(e, &s);
	*shadow(e, DBS_PAGE, 2) = e->sq_tail;
	nvme_ctrl_doorbell_kick(e->c, 2);
	assert_int_equal(e->submitted, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY);
	s = cmd(NVME_ADMIN_DBBUF_CONFIG, 0, 0, DBS_PAGE);
	s.dptr.prp.prp2 = EIS_PAGE;
	assert_int_equal(admin(e, s, NULL), 0);
	assert_int_equal(e->submitted, 1);
	assert_true(io_reap_noring(e, &cqe));
	assert_int_equal(*shadow(e, EIS_PAGE, 2), e->sq_tail);
	/* The CQ doorbell was never kicked: its shadow starts at the known head. */
	assert_int_equal(*shadow(e, DBS_PAGE, 3), 0);

	/* Admin doorbells must never be ioeventfds: the card is broken. */
	nvme_ctrl_doorbell_kick(e->c, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS), NVME_CSTS_RDY | NVME_CSTS_CFS);
	/* A reset clears it. */
	w32(e, NVME_REG_CC, 0);
	assert_int_equal(r32(e, NVME_REG_CSTS), 0);
	memset(e->ram + ACQ, 0, 4096);
	enable(e);
}

static void test_aer_bad_doorbell(void **state)
{
	struct env *e = *state;
	struct nvme_sqe aer = { .opc = NVME_ADMIN_ASYNC_EVENT };
	struct nvme_error_log *log = (void *)(e->ram + DATA);
	struct nvme_cqe cqe = { 0 };

	make_ioq(e, 8, 8);
	for (int i = 0; i < 4; i++) {
		aer = (struct nvme_sqe){ .opc = NVME_ADMIN_ASYNC_EVENT };
		admin_send(e, &aer);
	}
	assert_false(admin_reap(e, &cqe));
	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_ASYNC_EVENT }, NULL),
			 NVME_SC_AER_LIMIT);

	/* A doorbell of a queue that does not exist. */
	w32(e, NVME_REG_DBS + 3 * 8, 1);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(nvme_cqe_code(cqe.status), 0);
	assert_int_equal(cqe.dw0, NVME_AER_DW0(NVME_AER_TYPE_ERROR,
					       NVME_AER_INFO_ERR_INVALID_DB, NVME_LOG_ERROR));
	/* Masked until the log is read: an invalid value is not reported yet. */
	w32(e, NVME_REG_DBS + 8, 8);
	assert_false(admin_reap(e, &cqe));
	assert_int_equal(e->submitted, 0);
	/* Reading the Error log (RAE clear) unmasks; 8 entries = 128 dwords. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE,
				      127u << 16 | NVME_LOG_ERROR, 0, DATA), NULL), 0);
	assert_true(log[0].error_count >= 2);
	assert_int_equal(log[0].sqid, 1);
	assert_int_equal(log[1].sqid, 3);
	/* CQ head past the tail: Invalid Doorbell Write Value. */
	w32(e, NVME_REG_DBS + 12, 3);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.dw0, NVME_AER_DW0(NVME_AER_TYPE_ERROR,
					       NVME_AER_INFO_ERR_INVALID_DB_VALUE, NVME_LOG_ERROR));
	/* A kick for a queue that does not exist is the same error. */
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE,
				      15u << 16 | NVME_LOG_ERROR, 0, DATA), NULL), 0);
	nvme_ctrl_doorbell_kick(e->c, 2 * 4);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.dw0 & 0xff00, NVME_AER_INFO_ERR_INVALID_DB << 8);
}

static void test_features(void **state)
{
	struct env *e = *state;
	uint32_t dw0;
	struct nvme_cqe cqe = { 0 };
	struct nvme_sqe aer = { .opc = NVME_ADMIN_ASYNC_EVENT }, set;

	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_NUM_QUEUES, 0, 0),
			       &dw0), 0);
	assert_int_equal(dw0, (MAX_IOQS - 1) << 16 | (MAX_IOQS - 1));
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_NUM_QUEUES,
				      0x00070007, 0), &dw0), 0);
	assert_int_equal(dw0, (MAX_IOQS - 1) << 16 | (MAX_IOQS - 1));
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES,
				      NVME_FEAT_ARBITRATION | NVME_FEAT_CDW10_SV, 0, 0), NULL),
			 NVME_SC_FEATURE_NOT_SAVEABLE);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_POWER_MGMT, 1, 0),
			       NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, 0x7e, 0, 0), NULL),
			 NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_VOLATILE_WC, 0, 0),
			       NULL), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_VOLATILE_WC, 0, 0),
			       &dw0), 0);
	assert_int_equal(dw0, 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_VOLATILE_WC |
				      NVME_FEAT_SEL_DEFAULT << 8, 0, 0), &dw0), 0);
	assert_int_equal(dw0, 1);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_ARBITRATION |
				      NVME_FEAT_SEL_SUPPORTED << 8, 0, 0), &dw0), 0);
	assert_int_equal(dw0, NVME_FEAT_CAP_CHANGEABLE);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_IRQ_CONFIG,
				      VECTORS, 0), NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_ABORT, 1u << 16 | 1, 0, 0), &dw0), 0);
	assert_int_equal(dw0 & 1, 1);   /* not aborted */

	/* Over-temperature threshold below the composite temperature: AEN. */
	admin_send(e, &aer);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_ASYNC_EVENT,
				      NVME_SMART_CRIT_TEMPERATURE, 0), NULL), 0);
	set = cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_TEMP_THRESH, 250, 0);
	admin_send(e, &set);
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, aer.cid);
	assert_int_equal(cqe.dw0, NVME_AER_DW0(NVME_AER_TYPE_SMART,
					       NVME_AER_INFO_SMART_TEMPERATURE, NVME_LOG_SMART));
	assert_true(admin_reap(e, &cqe));
	assert_int_equal(cqe.cid, set.cid);
	assert_int_equal(nvme_cqe_code(cqe.status), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_FEATURES, NVME_FEAT_TEMP_THRESH, 0, 0),
			       &dw0), 0);
	assert_int_equal(dw0, 250);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_SET_FEATURES, NVME_FEAT_TEMP_THRESH,
				      1u << 16 | 300, 0), NULL), NVME_SC_INVALID_FIELD);
}

static void test_log_pages(void **state)
{
	struct env *e = *state;
	struct nvme_smart_log *smart = (void *)(e->ram + DATA);
	struct nvme_fw_slot_log *fw = (void *)(e->ram + DATA + 4096);
	uint64_t v;

	make_ioq(e, 16, 16);
	assert_int_equal(io(e, rw(NVME_NVM_WRITE, 0, 2, DATA + 0x10000, DATA + 0x11000)), 0);
	assert_int_equal(io(e, rw(NVME_NVM_READ, 0, 1, DATA + 0x10000, 0)), 0);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE, 127u << 16 | NVME_LOG_SMART,
				      0, DATA), NULL), 0);
	memcpy(&v, smart->data_units_written, 8);
	assert_int_equal(v, 1);                   /* 16 units, rounded up */
	memcpy(&v, smart->host_writes, 8);
	assert_int_equal(v, 1);
	memcpy(&v, smart->host_reads, 8);
	assert_int_equal(v, 1);
	assert_int_equal(smart->composite_temp, 298);
	/* 1 KiB asked of a 512-byte page: the rest reads as zero. */
	memset(fw, 0xa5, 1024);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE, 255u << 16 | NVME_LOG_FW_SLOT,
				      0, DATA + 4096), NULL), 0);
	assert_int_equal(fw->afi, 1);
	for (unsigned i = 512; i < 1024; i++)
		assert_int_equal(e->ram[DATA + 4096 + i], 0);
	assert_memory_equal(fw->frs[0], "1.0     ", 8);
	assert_int_equal(admin(e, cmd(NVME_ADMIN_GET_LOG_PAGE, 127u << 16 | 0x70, 0, DATA),
			       NULL), NVME_SC_INVALID_LOG_PAGE);
	/* An offset past the page is invalid; a dword offset reads the tail. */
	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_GET_LOG_PAGE,
			       .cdw10 = NVME_LOG_SMART, .cdw12 = 516,
			       .dptr.prp.prp1 = DATA }, NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(e, (struct nvme_sqe){ .opc = NVME_ADMIN_GET_LOG_PAGE,
			       .cdw10 = NVME_LOG_SMART, .cdw12 = 32,
			       .dptr.prp.prp1 = DATA + 8192 }, NULL), 0);
	assert_int_equal(e->ram[DATA + 8192], 1); /* data_units_read */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_sq_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_throttled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbbuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_before_dbbuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aer_bad_doorbell, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_pages, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
