/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-storaged's pure logic: decoding a command (transfer length, SGL1 as
 * NVMe/TCP allows it, LBA range), the NQN scheme, Connect checks and the
 * dynamic controller model, properties (CC/CSTS transitions), features,
 * keep alive and the Identify pages, each against the field the spec names.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/fixture.h"
#include "tools/storaged/cmd.h"
#include "tools/storaged/ctrl.h"
#include "tools/storaged/identify.h"
#include "tools/storaged/volume.h"

#define SGL_INCAPSULE NVME_SGL_ID(NVME_SGL_TYPE_DATA_BLOCK, NVME_SGL_SUBTYPE_OFFSET)
#define SGL_TRANSPORT NVME_SGL_ID(NVME_SGL_TYPE_TRANSPORT_DATA, NVME_SGL_SUBTYPE_TRANSPORT)

static struct nvme_sqe rw(uint8_t opc, uint64_t slba, uint32_t nlb, uint32_t sgl_len,
			  uint8_t sgl_id)
{
	struct nvme_sqe s = { .opc = opc, .flags = NVME_SQE_PSDT_SGL_MPTR_BUF, .nsid = 1 };

	s.cdw10 = (uint32_t)slba;
	s.cdw11 = (uint32_t)(slba >> 32);
	s.cdw12 = nlb - 1;
	s.dptr.sgl1.length = sgl_len;
	s.dptr.sgl1.id = sgl_id;
	return s;
}

/* ---- Command decode ---- */

static void test_xfer_lengths(void **state)
{
	struct nvme_sqe s = rw(NVME_NVM_READ, 0, 8, 0, 0);
	enum cmd_dir dir;
	uint32_t len;

	(void)state;
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(len, 8 * 4096);
	assert_int_equal(dir, CMD_DIR_C2H);
	s = rw(NVME_NVM_WRITE, 0, CMD_MAX_XFER / 4096, 0, 0);
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(dir, CMD_DIR_H2C);
	/* One block over MDTS. */
	s = rw(NVME_NVM_WRITE, 0, CMD_MAX_XFER / 4096 + 1, 0, 0);
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_INVALID_FIELD);
	/* DSM: 256 ranges of 16 bytes at most. */
	s = (struct nvme_sqe){ .opc = NVME_NVM_DSM, .cdw10 = 255 };
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(len, 4096);
	/* Opcode tables differ per queue: 0x06 is Identify on admin only. */
	s = (struct nvme_sqe){ .opc = NVME_ADMIN_IDENTIFY };
	assert_int_equal(cmd_xfer(&s, true, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(len, 4096);
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_INVALID_OPCODE);
	/* 01h is Write on an I/O queue, Create I/O SQ (not on Fabrics) on admin. */
	s = (struct nvme_sqe){ .opc = NVME_NVM_WRITE };
	assert_int_equal(cmd_xfer(&s, true, &len, &dir), NVME_SC_INVALID_OPCODE);
	/* Get Log Page NUMD spans CDW10 and CDW11. */
	s = (struct nvme_sqe){ .opc = NVME_ADMIN_GET_LOG_PAGE, .cdw10 = 1023u << 16 | 2 };
	assert_int_equal(cmd_xfer(&s, true, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(len, 4096);
	s.cdw11 = 0xffff;
	assert_int_equal(cmd_xfer(&s, true, &len, &dir), NVME_SC_INVALID_FIELD);
	/* Fabrics on any queue: Connect carries 1 KiB, unknown FCTYPE refused. */
	struct nvmf_cmd f = { .opc = NVME_ADMIN_FABRICS, .fctype = NVMF_FCTYPE_CONNECT };
	assert_int_equal(cmd_xfer((struct nvme_sqe *)&f, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(len, 1024);
	assert_int_equal(dir, CMD_DIR_H2C);
	f.fctype = 0x7;
	assert_int_equal(cmd_xfer((struct nvme_sqe *)&f, true, &len, &dir),
			 NVME_SC_INVALID_OPCODE);
}

static void test_sgl_rules(void **state)
{
	struct nvme_sqe s = rw(NVME_NVM_WRITE, 0, 1, 4096, SGL_INCAPSULE);
	bool icd;

	(void)state;
	assert_int_equal(cmd_check_sgl(&s, 4096, CMD_DIR_H2C, 4096, &icd), NVME_SC_SUCCESS);
	assert_true(icd);
	/* The capsule carried less than SGL1 says. */
	assert_int_equal(cmd_check_sgl(&s, 4096, CMD_DIR_H2C, 512, &icd),
			 NVME_SC_SGL_INVALID_DATA_LEN);
	/* ICDOFF is 0: an offset elsewhere is invalid. */
	s.dptr.sgl1.addr = 64;
	assert_int_equal(cmd_check_sgl(&s, 4096, CMD_DIR_H2C, 4096, &icd),
			 NVME_SC_SGL_INVALID_OFFSET);
	/* In-capsule data never flows controller to host. */
	s = rw(NVME_NVM_READ, 0, 1, 4096, SGL_INCAPSULE);
	assert_int_equal(cmd_check_sgl(&s, 4096, CMD_DIR_C2H, 0, &icd),
			 NVME_SC_SGL_INVALID_TYPE);
	s = rw(NVME_NVM_READ, 0, 1, 4096, SGL_TRANSPORT);
	assert_int_equal(cmd_check_sgl(&s, 4096, CMD_DIR_C2H, 0, &icd), NVME_SC_SUCCESS);
	assert_false(icd);
	/* SGL length must match NLB exactly. */
	assert_int_equal(cmd_check_sgl(&s, 8192, CMD_DIR_C2H, 0, &icd),
			 NVME_SC_SGL_INVALID_DATA_LEN);
	/* A transport SGL with data in the capsule as well. */
	assert_int_equal(cmd_check_sgl(&s, 4096, CMD_DIR_H2C, 4096, &icd),
			 NVME_SC_SGL_INVALID_DATA_LEN);
	/* Keyed SGLs are RDMA's. */
	s.dptr.sgl1.id = NVME_SGL_ID(NVME_SGL_TYPE_KEYED_DATA, 0);
	assert_int_equal(cmd_check_sgl(&s, 4096, CMD_DIR_C2H, 0, &icd),
			 NVME_SC_SGL_INVALID_TYPE);
	/* PRPs do not exist on Fabrics. */
	s = rw(NVME_NVM_READ, 0, 1, 4096, SGL_TRANSPORT);
	s.flags = NVME_SQE_PSDT_PRP;
	assert_int_equal(cmd_check_sgl(&s, 4096, CMD_DIR_C2H, 0, &icd), NVME_SC_INVALID_FIELD);
	/* No data: no SGL length, no in-capsule data. */
	s = rw(NVME_NVM_FLUSH, 0, 1, 0, SGL_TRANSPORT);
	assert_int_equal(cmd_check_sgl(&s, 0, CMD_DIR_NONE, 0, &icd), NVME_SC_SUCCESS);
	assert_int_equal(cmd_check_sgl(&s, 0, CMD_DIR_NONE, 16, &icd),
			 NVME_SC_SGL_INVALID_DATA_LEN);
}

/*
 * Dataset Management's data is its NR+1 ranges (NVM Command Set 1.0,
 * "Dataset Management command"), but the buffer may be longer: Linux sends
 * one range in a 4 KiB page, and nvmet only requires the data to be at
 * least the ranges.  What the SGL describes moves; a shorter buffer is an
 * SGL length error.
 */
static void test_dsm_buffer(void **state)
{
	struct nvme_sqe s = { .opc = NVME_NVM_DSM, .flags = NVME_SQE_PSDT_SGL_MPTR_BUF,
			      .nsid = 1, .cdw10 = 0, .cdw11 = NVME_DSM_AD };
	enum cmd_dir dir;
	uint32_t len;
	bool icd;

	(void)state;
	/* One range in a 4 KiB buffer, by R2T and in the capsule. */
	s.dptr.sgl1.length = 4096;
	s.dptr.sgl1.id = SGL_TRANSPORT;
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(len, 4096);
	assert_int_equal(dir, CMD_DIR_H2C);
	assert_int_equal(cmd_check_sgl(&s, len, dir, 0, &icd), NVME_SC_SUCCESS);
	assert_false(icd);
	s.dptr.sgl1.id = SGL_INCAPSULE;
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(cmd_check_sgl(&s, len, dir, 4096, &icd), NVME_SC_SUCCESS);
	assert_true(icd);
	/* Exactly the ranges, as before. */
	s.dptr.sgl1.length = 16;
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(len, 16);
	assert_int_equal(cmd_check_sgl(&s, len, dir, 16, &icd), NVME_SC_SUCCESS);
	/* Two ranges (NR 1) in 16 bytes: too short. */
	s.cdw10 = 1;
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(cmd_check_sgl(&s, len, dir, 16, &icd), NVME_SC_SGL_INVALID_DATA_LEN);
	/* More than MDTS is no buffer to take either. */
	s.dptr.sgl1.length = CMD_MAX_XFER + 16;
	s.dptr.sgl1.id = SGL_TRANSPORT;
	assert_int_equal(cmd_xfer(&s, false, &len, &dir), NVME_SC_SUCCESS);
	assert_int_equal(cmd_check_sgl(&s, len, dir, 0, &icd), NVME_SC_SGL_INVALID_DATA_LEN);
}

static void test_lba_range(void **state)
{
	struct nvme_sqe s;
	uint64_t slba;
	uint32_t nlb;

	(void)state;
	s = rw(NVME_NVM_READ, 99, 1, 0, 0);
	assert_int_equal(cmd_lba_range(&s, 100, &slba, &nlb), NVME_SC_SUCCESS);
	assert_int_equal(slba, 99);
	assert_int_equal(nlb, 1);
	s = rw(NVME_NVM_READ, 99, 2, 0, 0);
	assert_int_equal(cmd_lba_range(&s, 100, &slba, &nlb), NVME_SC_LBA_RANGE);
	s = rw(NVME_NVM_READ, 100, 1, 0, 0);
	assert_int_equal(cmd_lba_range(&s, 100, &slba, &nlb), NVME_SC_LBA_RANGE);
	/* SLBA + NLB wrapping around 2^64 must not look in range. */
	s = rw(NVME_NVM_READ, UINT64_MAX, 2, 0, 0);
	assert_int_equal(cmd_lba_range(&s, 100, &slba, &nlb), NVME_SC_LBA_RANGE);
	s = rw(NVME_NVM_READ, 0, 65536, 0, 0);
	assert_int_equal(cmd_lba_range(&s, 65536, &slba, &nlb), NVME_SC_SUCCESS);
	assert_int_equal(nlb, 65536);
}

/* ---- Volumes and NQNs ---- */

static void test_nqn_scheme(void **state)
{
	char id[VOLUME_ID_MAX + 1], nqn[NVMF_NQN_FIELD_LEN];

	(void)state;
	assert_int_equal(volume_id_from_nqn(VOLUME_NQN_PREFIX "db-01_x", 256, id), 0);
	assert_string_equal(id, "db-01_x");
	assert_int_equal(volume_id_from_nqn(VOLUME_NQN_PREFIX, 256, id), -EINVAL);
	assert_int_equal(volume_id_from_nqn(VOLUME_NQN_PREFIX "../etc", 256, id), -EINVAL);
	assert_int_equal(volume_id_from_nqn(VOLUME_NQN_PREFIX "a/b", 256, id), -EINVAL);
	assert_int_equal(volume_id_from_nqn("nqn.2014-08.org.nvmexpress.discovery", 256, id),
			 -EINVAL);
	/* No NUL within the 256-byte field. */
	memset(nqn, 'a', sizeof(nqn));
	memcpy(nqn, VOLUME_NQN_PREFIX, strlen(VOLUME_NQN_PREFIX));
	assert_int_equal(volume_id_from_nqn(nqn, sizeof(nqn), id), -EINVAL);
	/* 65 characters is one too many. */
	snprintf(nqn, sizeof(nqn), "%s%065d", VOLUME_NQN_PREFIX, 0);
	assert_int_equal(volume_id_from_nqn(nqn, sizeof(nqn), id), -EINVAL);
	nqn[strlen(nqn) - 1] = '\0';
	assert_int_equal(volume_id_from_nqn(nqn, sizeof(nqn), id), 0);
}

/* ---- Connect and controllers ---- */

static char *vol_dir;
static char *vol_path;

/* A 1 MiB volume "v1" in a temporary directory. */
static int make_volume(void **state)
{
	char tmpl[] = "/tmp/cv-storaged-ut.XXXXXX";
	int fd;

	(void)state;
	vol_dir = strdup(mkdtemp(tmpl));
	if (asprintf(&vol_path, "%s/v1.vol", vol_dir) < 0)
		return -1;
	fd = open(vol_path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return -1;
	close(fd);
	return 0;
}

static int drop_volume(void **state)
{
	(void)state;
	unlink(vol_path);
	rmdir(vol_dir);
	free(vol_path);
	free(vol_dir);
	return 0;
}

static void connect_data(struct nvmf_connect_data *d, const char *vol, uint16_t cntlid)
{
	memset(d, 0, sizeof(*d));
	memset(d->hostid, 0x5a, sizeof(d->hostid));
	d->cntlid = cntlid;
	snprintf(d->subnqn, sizeof(d->subnqn), "%s%s", VOLUME_NQN_PREFIX, vol);
	snprintf(d->hostnqn, sizeof(d->hostnqn), "nqn.2014-08.org.nvmexpress:uuid:1");
}

static struct nvmf_connect_cmd connect_cmd(uint16_t qid, uint16_t sqsize)
{
	return (struct nvmf_connect_cmd){ .opc = NVME_ADMIN_FABRICS,
		.fctype = NVMF_FCTYPE_CONNECT, .qid = qid, .sqsize = sqsize, .kato = 5000 };
}

/*
 * Connect Invalid Parameters (NVMe over Fabrics 1.1, "Connect Response"):
 * DW0 bits 15:00 are IPO, the byte offset of the bad field, bits 23:16 are
 * IATTR, whose bit 0 says the field is in the Connect data (1) rather than
 * the SQE (0).  Spelt out here so a wrong encoding cannot agree with itself.
 */
#define DW0_SQE(ipo)  ((uint32_t)(ipo))
#define DW0_DATA(ipo) (1u << 16 | (uint32_t)(ipo))

static void test_connect_parse(void **state)
{
	struct nvmf_connect_cmd cmd = connect_cmd(0, 31);
	struct nvmf_connect_data d;
	struct connect_req r;
	uint32_t dw0;

	(void)state;
	connect_data(&d, "v1", NVMF_CNTLID_DYNAMIC);
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_SUCCESS);
	assert_string_equal(r.volume, "v1");
	assert_int_equal(r.sqsize, 31);
	assert_int_equal(r.kato_ms, 5000);

	cmd.recfmt = 1;
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_FORMAT);
	cmd = connect_cmd(0, 0);     /* a one-entry queue */
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_SQE(44));             /* SQSIZE: SQE bytes 45:44 */
	cmd = connect_cmd(0, CTRL_MQES + 1);
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_INVALID_PARAM);
	cmd = connect_cmd(CTRL_MAX_IOQ + 1, 31);
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_SQE(42));             /* QID: SQE bytes 43:42 */
	cmd = connect_cmd(0, 31);
	cmd.kato = 0;                /* keep alive off: refused */
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_SQE(48));             /* KATO: SQE bytes 51:48 */
	cmd = connect_cmd(1, 31);    /* an I/O queue carries none */
	cmd.kato = 0;
	d.cntlid = 1;
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_SUCCESS);
	d.cntlid = NVMF_CNTLID_DYNAMIC;

	/* Dynamic model: the admin queue names no controller, I/O queues one. */
	cmd = connect_cmd(0, 31);
	d.cntlid = 1;
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(16));            /* CNTLID: data bytes 17:16 */
	cmd = connect_cmd(1, 31);
	d.cntlid = NVMF_CNTLID_DYNAMIC;
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_INVALID_PARAM);

	cmd = connect_cmd(0, 31);
	connect_data(&d, "v1", NVMF_CNTLID_DYNAMIC);
	d.hostnqn[0] = '\0';
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(512));           /* HOSTNQN: data bytes 767:512 */
	connect_data(&d, "v1", NVMF_CNTLID_DYNAMIC);
	memset(d.subnqn, 'x', sizeof(d.subnqn));
	assert_int_equal(ctrl_connect_parse(&cmd, &d, &r, &dw0), NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(256));           /* SUBNQN: data bytes 511:256 */
}

static uint16_t connect(struct ctrl_table *t, uint16_t qid, uint16_t cntlid,
			const char *vol, struct ctrl **c, uint32_t *dw0)
{
	struct nvmf_connect_cmd cmd = connect_cmd(qid, 31);
	struct nvmf_connect_data d;
	struct connect_req r;
	uint16_t st;

	connect_data(&d, vol, cntlid);
	st = ctrl_connect_parse(&cmd, &d, &r, dw0);
	return st ? st : ctrl_connect(t, &r, &d, 1000, c, dw0);
}

/*
 * The volume exists but cannot be opened for want of file descriptors:
 * that is the daemon's trouble (Internal Error, the errno in the log), not
 * a subsystem NQN the host got wrong.
 */
static void test_connect_out_of_fds(void **state)
{
	struct ctrl_table t = { .dir = vol_dir };
	struct rlimit old, low;
	struct ctrl *c = NULL;
	uint32_t dw0 = 0;
	uint16_t st;
	int fd;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* The lowest free descriptor becomes the limit: no open can succeed. */
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	low = (struct rlimit){ .rlim_cur = (rlim_t)fd, .rlim_max = old.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	st = connect(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(st, NVME_SC_INTERNAL);
	assert_int_equal(dw0, 0);
	assert_null(t.head);
	/* With descriptors again, the same Connect succeeds. */
	assert_int_equal(connect(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0), 0);
	ctrl_queue_gone(c, 0);
	ctrl_put(&t, c);
}

static uint16_t set_cc(struct ctrl *c, uint32_t cc)
{
	struct nvmf_prop_set_cmd p = { .opc = NVME_ADMIN_FABRICS,
		.fctype = NVMF_FCTYPE_PROP_SET, .offset = NVME_REG_CC, .value = cc };

	return ctrl_prop_set(c, &p);
}

#define CC_GOOD (NVME_CC_EN | 6u << 16 | 4u << 20)

static void test_controller_model(void **state)
{
	struct ctrl_table t = { .dir = vol_dir };
	struct ctrl *admin, *io, *other;
	uint32_t dw0;

	(void)state;
	assert_int_equal(connect(&t, 0, NVMF_CNTLID_DYNAMIC, "nope", &admin, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(256));
	assert_int_equal(connect(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &admin, &dw0), 0);
	assert_int_equal(dw0, admin->cntlid);
	assert_int_equal(admin->vol.nsze, 256);
	/* I/O queues need CC.EN first. */
	assert_int_equal(connect(&t, 1, admin->cntlid, "v1", &io, &dw0), NVME_SC_CMD_SEQ_ERROR);
	assert_int_equal(set_cc(admin, CC_GOOD), 0);
	assert_true(ctrl_ready(admin));
	assert_int_equal(connect(&t, 1, admin->cntlid, "v1", &io, &dw0), 0);
	assert_ptr_equal(io, admin);
	assert_int_equal(admin->refs, 2);
	/* The same QID twice, an unknown CNTLID. */
	assert_int_equal(connect(&t, 1, admin->cntlid, "v1", &io, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_SQE(42));
	assert_int_equal(connect(&t, 2, admin->cntlid + 1, "v1", &io, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(16));
	/* A second controller on the same volume gets its own CNTLID. */
	assert_int_equal(connect(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &other, &dw0), 0);
	assert_int_not_equal(other->cntlid, admin->cntlid);
	ctrl_queue_gone(other, 0);
	ctrl_put(&t, other);
	/* Admin queue gone: the controller fails, freed with its last queue. */
	ctrl_queue_gone(admin, 0);
	ctrl_put(&t, admin);
	assert_true(admin->failed);
	assert_int_equal(connect(&t, 2, admin->cntlid, "v1", &io, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	ctrl_queue_gone(admin, 1);
	ctrl_put(&t, admin);
	assert_null(t.head);
}

static void test_properties(void **state)
{
	struct ctrl_table t = { .dir = vol_dir };
	struct nvmf_prop_get_cmd g = { .opc = NVME_ADMIN_FABRICS, .fctype = NVMF_FCTYPE_PROP_GET };
	struct ctrl *c;
	uint64_t v;
	uint32_t dw0;

	(void)state;
	assert_int_equal(connect(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0), 0);
	g.offset = NVME_REG_CAP;
	g.attrib = NVMF_PROP_ATTRIB_SIZE_8;
	assert_int_equal(ctrl_prop_get(c, &g, &v), 0);
	assert_int_equal(NVME_CAP_MQES(v), CTRL_MQES);
	assert_true(v & NVME_CAP_CSS_NVM);
	assert_int_equal(NVME_CAP_MPSMIN(v), 0);
	g.attrib = NVMF_PROP_ATTRIB_SIZE_4;   /* CAP is 8 bytes */
	assert_int_equal(ctrl_prop_get(c, &g, &v), NVME_SC_INVALID_FIELD);
	g.offset = NVME_REG_VS;
	assert_int_equal(ctrl_prop_get(c, &g, &v), 0);
	assert_int_equal(v, NVME_VS(1, 4, 0));
	g.offset = NVME_REG_AQA;              /* no such property on Fabrics */
	assert_int_equal(ctrl_prop_get(c, &g, &v), NVME_SC_INVALID_FIELD);

	/* CC.EN with 128-byte SQEs: Controller Fatal Status, not ready. */
	assert_int_equal(set_cc(c, NVME_CC_EN | 7u << 16 | 4u << 20), 0);
	assert_true(c->csts & NVME_CSTS_CFS);
	assert_false(ctrl_ready(c));
	assert_int_equal(set_cc(c, 0), 0);
	assert_int_equal(c->csts, 0);
	assert_int_equal(set_cc(c, CC_GOOD), 0);
	assert_int_equal(c->csts, NVME_CSTS_RDY);
	/* Normal shutdown: SHST complete right away (writes are already on disk). */
	assert_int_equal(set_cc(c, CC_GOOD | NVME_CC_SHN_NORMAL << 14), 0);
	assert_int_equal(c->csts & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE);
	assert_int_equal(set_cc(c, 0), 0);
	assert_int_equal(c->csts, 0);
	g.offset = NVME_REG_CSTS;
	assert_int_equal(ctrl_prop_get(c, &g, &v), 0);
	assert_int_equal(v, 0);
	ctrl_queue_gone(c, 0);
	ctrl_put(&t, c);
}

static void test_features_keep_alive(void **state)
{
	struct ctrl_table t = { .dir = vol_dir };
	struct nvme_sqe s = { .opc = NVME_ADMIN_SET_FEATURES };
	struct ctrl *c, *io;
	uint32_t dw0;

	(void)state;
	assert_int_equal(connect(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0), 0);
	/* Connect's KATO (5 s) at t = 1 s: expired only after KATO + KAS. */
	assert_false(ctrl_ka_expired(c, 1000 + 5000 + CTRL_KAS_MS));
	assert_true(ctrl_ka_expired(c, 1000 + 5000 + CTRL_KAS_MS + 1));
	ctrl_keep_alive(c, 6000);
	assert_false(ctrl_ka_expired(c, 6001 + 5000));

	s.cdw10 = 0x07;                       /* Number of Queues */
	s.cdw11 = 0xffff;
	assert_int_equal(ctrl_set_features(c, &s, 0, &dw0), NVME_SC_INVALID_FIELD);
	s.cdw11 = 1u << 16 | 3;               /* 4 SQs, 2 CQs: 2 of each granted */
	assert_int_equal(ctrl_set_features(c, &s, 0, &dw0), 0);
	assert_int_equal(dw0, 1u << 16 | 1);
	s.cdw11 = 1000u << 16 | 1000;         /* more than there are */
	assert_int_equal(ctrl_set_features(c, &s, 0, &dw0), 0);
	assert_int_equal(dw0, (CTRL_MAX_IOQ - 1u) << 16 | (CTRL_MAX_IOQ - 1u));
	s.cdw11 = 0;                          /* one I/O queue: QID 2 is refused */
	assert_int_equal(ctrl_set_features(c, &s, 0, &dw0), 0);
	assert_int_equal(set_cc(c, CC_GOOD), 0);
	assert_int_equal(connect(&t, 2, c->cntlid, "v1", &io, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(connect(&t, 1, c->cntlid, "v1", &io, &dw0), 0);
	/* Queues exist now: the count is fixed. */
	assert_int_equal(ctrl_set_features(c, &s, 0, &dw0), NVME_SC_CMD_SEQ_ERROR);

	s.cdw10 = 0x0f;                       /* Keep Alive Timer: off is refused */
	s.cdw11 = 0;
	assert_int_equal(ctrl_set_features(c, &s, 0, &dw0), NVME_SC_INVALID_FIELD);
	assert_true(ctrl_ka_expired(c, UINT64_MAX));
	s.cdw10 = 0x06;                       /* Volatile Write Cache off */
	assert_int_equal(ctrl_set_features(c, &s, 0, &dw0), 0);
	assert_false(c->vwce);
	s.opc = NVME_ADMIN_GET_FEATURES;
	assert_int_equal(ctrl_get_features(c, &s, &dw0), 0);
	assert_int_equal(dw0, 0);
	s.cdw10 = 0x06 | 1u << 31;            /* Save: nothing to save into */
	assert_int_equal(ctrl_set_features(c, &s, 0, &dw0), NVME_SC_FEATURE_NOT_SAVEABLE);
	s.cdw10 = 0x06 | NVME_FEAT_SEL_SUPPORTED << 8;
	assert_int_equal(ctrl_get_features(c, &s, &dw0), 0);
	assert_int_equal(dw0, NVME_FEAT_CAP_CHANGEABLE);
	s.cdw10 = 0x02;                       /* Power Management: not here */
	assert_int_equal(ctrl_get_features(c, &s, &dw0), NVME_SC_INVALID_FIELD);
	/* A closed queue's QID is free again before its I/O has drained. */
	ctrl_queue_gone(c, 1);
	assert_int_equal(connect(&t, 1, c->cntlid, "v1", &io, &dw0), 0);
	assert_int_equal(c->refs, 3);
	ctrl_put(&t, c);
	ctrl_queue_gone(c, 1);
	ctrl_put(&t, c);
	ctrl_queue_gone(c, 0);
	ctrl_put(&t, c);
}

static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void test_identify(void **state)
{
	struct ctrl_table t = { .dir = vol_dir };
	struct nvme_sqe s = { .opc = NVME_ADMIN_IDENTIFY };
	static uint8_t page[NVME_IDENTIFY_LEN];
	struct ctrl *c;
	uint32_t dw0;

	(void)state;
	assert_int_equal(connect(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0), 0);
	memset(page, 0, sizeof(page));
	s.cdw10 = NVME_CNS_CTRL;
	assert_int_equal(identify(c, &s, page), 0);
	assert_memory_equal(page + 4, "v1                  ", 20);           /* SN */
	assert_int_equal(page[77], CMD_MDTS);
	assert_int_equal(get16(page + 78), c->cntlid);
	assert_int_equal(page[512], 0x66);
	assert_int_equal(page[513], 0x44);
	assert_int_equal(get32(page + 516), 1);                               /* NN */
	assert_string_equal((char *)page + 768, VOLUME_NQN_PREFIX "v1");     /* SUBNQN */
	assert_int_equal(get32(page + 1792) * 16 - 64, CMD_MAX_ICDATA);      /* IOCCSZ */
	assert_int_equal(get32(page + 1796), 1);                              /* IORCSZ */

	memset(page, 0, sizeof(page));
	s.cdw10 = NVME_CNS_NS;
	s.nsid = 1;
	assert_int_equal(identify(c, &s, page), 0);
	assert_int_equal(get64(page), 256);                                   /* NSZE */
	assert_int_equal(get64(page + 16), 0);                                /* NUSE: sparse */
	assert_int_equal(page[128 + 2], 12);                                  /* LBADS */
	s.nsid = 2;
	assert_int_equal(identify(c, &s, page), NVME_SC_INVALID_NS);

	memset(page, 0, sizeof(page));
	s.cdw10 = NVME_CNS_ACTIVE_NS_LIST;
	s.nsid = 0;
	assert_int_equal(identify(c, &s, page), 0);
	assert_int_equal(get32(page), 1);
	assert_int_equal(get32(page + 4), 0);
	memset(page, 0, sizeof(page));
	s.nsid = 1;                           /* NSIDs above 1: none */
	assert_int_equal(identify(c, &s, page), 0);
	assert_int_equal(get32(page), 0);
	s.nsid = 0xfffffffe;
	assert_int_equal(identify(c, &s, page), NVME_SC_INVALID_NS);

	memset(page, 0, sizeof(page));
	s.cdw10 = NVME_CNS_NS_DESC_LIST;
	s.nsid = 1;
	assert_int_equal(identify(c, &s, page), 0);
	assert_int_equal(page[0], 2);                                         /* NGUID */
	assert_memory_equal(page + 4, c->vol.nguid, 16);
	assert_int_equal(page[20], 4);                                        /* CSI */
	s.cdw10 = 0x10;
	assert_int_equal(identify(c, &s, page), NVME_SC_INVALID_FIELD);
	ctrl_queue_gone(c, 0);
	ctrl_put(&t, c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xfer_lengths),
		cmocka_unit_test(test_sgl_rules),
		cmocka_unit_test(test_dsm_buffer),
		cmocka_unit_test(test_lba_range),
		cmocka_unit_test(test_nqn_scheme),
		cmocka_unit_test(test_connect_parse),
		cmocka_unit_test(test_controller_model),
		cmocka_unit_test(test_connect_out_of_fds),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_features_keep_alive),
		cmocka_unit_test(test_identify),
	};

	return cmocka_run_group_tests(tests, make_volume, drop_volume);
}
