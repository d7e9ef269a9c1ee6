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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/fixture.h"
#include "tools/lib/host_epoch.h"
#include "tools/lib/nvme_tcp.h"
#include "tools/storaged/cmd.h"
#include "tools/storaged/ctrl.h"
#include "tools/storaged/identify.h"
#include "tools/storaged/server.h"
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

/* A host: its Host Identifier (16 bytes of one value) and NQN. */
struct host_id {
	uint8_t hostid;
	const char *hostnqn;
};

static const struct host_id HOST_A = { 0x5a, "nqn.2014-08.org.nvmexpress:uuid:1" };
static const struct host_id HOST_B = { 0x6b, "nqn.2014-08.org.nvmexpress:uuid:2" };

static void connect_data_of(struct nvmf_connect_data *d, const char *vol, uint16_t cntlid,
			    const struct host_id *h)
{
	memset(d, 0, sizeof(*d));
	memset(d->hostid, h->hostid, sizeof(d->hostid));
	d->cntlid = cntlid;
	snprintf(d->subnqn, sizeof(d->subnqn), "%s%s", VOLUME_NQN_PREFIX, vol);
	snprintf(d->hostnqn, sizeof(d->hostnqn), "%s", h->hostnqn);
}

static void connect_data(struct nvmf_connect_data *d, const char *vol, uint16_t cntlid)
{
	connect_data_of(d, vol, cntlid, &HOST_A);
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

/* Over TLS the Connect must name the NQNs of the PSK identity the handshake proved. */
static void test_connect_bound_to_tls_identity(void **state)
{
	struct nvmf_connect_data d;
	uint32_t dw0;

	(void)state;
	connect_data(&d, "v1", NVMF_CNTLID_DYNAMIC);
	assert_int_equal(ctrl_connect_bound(&d, d.hostnqn, d.subnqn, &dw0), NVME_SC_SUCCESS);
	assert_int_equal(ctrl_connect_bound(&d, "nqn.2014-08.org.nvmexpress:uuid:other",
					    d.subnqn, &dw0), NVME_SC_CONNECT_INVALID_HOST);
	assert_int_equal(dw0, 0);
	assert_int_equal(ctrl_connect_bound(&d, d.hostnqn, VOLUME_NQN_PREFIX "v2", &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(256));           /* SUBNQN */
}

/* A volume's host list: absent admits every host; present only those it names. */
/* @path holding @text, of @mode. */
static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_host_list(void **state)
{
	char dir[] = "/tmp/cv-hosts.XXXXXX", path[64], cmd[96];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(volume_host_allowed(dir, "v1", "nqn.a"), 0);
	snprintf(path, sizeof(path), "%s/v1.hosts", dir);
	write_file(path, "# the hosts of v1\n  nqn.a  \n\nnqn.b\n#nqn.c\nnqn.d", 0644);
	assert_int_equal(volume_host_allowed(dir, "v1", "nqn.a"), 0);
	assert_int_equal(volume_host_allowed(dir, "v1", "nqn.b"), 0);
	assert_int_equal(volume_host_allowed(dir, "v1", "nqn.d"), 0);    /* no newline at the end */
	assert_int_equal(volume_host_allowed(dir, "v1", "nqn.c"), -EACCES);  /* a comment */
	assert_int_equal(volume_host_allowed(dir, "v1", "nqn.ab"), -EACCES);
	assert_int_equal(volume_host_allowed(dir, "v1", ""), -EACCES);
	/* A list others may write decides nothing: it admits nobody. */
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(volume_host_allowed(dir, "v1", "nqn.a"), -EPERM);
	/* Nor does one reached through a symlink. */
	snprintf(cmd, sizeof(cmd), "%s/v2.hosts", dir);
	assert_int_equal(symlink(path, cmd), 0);
	assert_int_equal(volume_host_allowed(dir, "v2", "nqn.a"), -ELOOP);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static uint16_t connect_as(struct ctrl_table *t, const struct host_id *h, uint16_t qid,
			   uint16_t cntlid, const char *vol, struct ctrl **c, uint32_t *dw0)
{
	struct nvmf_connect_cmd cmd = connect_cmd(qid, 31);
	struct nvmf_connect_data d;
	struct connect_req r;
	uint16_t st;

	connect_data_of(&d, vol, cntlid, h);
	st = ctrl_connect_parse(&cmd, &d, &r, dw0);
	return st ? st : ctrl_connect(t, &r, &d, 1000, c, dw0);
}

static uint16_t connect_a(struct ctrl_table *t, uint16_t qid, uint16_t cntlid,
			  const char *vol, struct ctrl **c, uint32_t *dw0)
{
	return connect_as(t, &HOST_A, qid, cntlid, vol, c, dw0);
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
	st = connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(st, NVME_SC_INTERNAL);
	assert_int_equal(dw0, 0);
	assert_null(t.head);
	/* With descriptors again, the same Connect succeeds. */
	assert_int_equal(connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0), 0);
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
	struct ctrl *admin, *io;
	uint32_t dw0;

	(void)state;
	assert_int_equal(connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "nope", &admin, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(256));
	assert_int_equal(connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &admin, &dw0), 0);
	assert_int_equal(dw0, admin->cntlid);
	assert_int_equal(admin->vol.nsze, 256);
	/* I/O queues need CC.EN first. */
	assert_int_equal(connect_a(&t, 1, admin->cntlid, "v1", &io, &dw0), NVME_SC_CMD_SEQ_ERROR);
	assert_int_equal(set_cc(admin, CC_GOOD), 0);
	assert_true(ctrl_ready(admin));
	assert_int_equal(connect_a(&t, 1, admin->cntlid, "v1", &io, &dw0), 0);
	assert_ptr_equal(io, admin);
	assert_int_equal(admin->refs, 2);
	/* The same QID twice, an unknown CNTLID. */
	assert_int_equal(connect_a(&t, 1, admin->cntlid, "v1", &io, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_SQE(42));
	assert_int_equal(connect_a(&t, 2, admin->cntlid + 1, "v1", &io, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(16));
	/* Admin queue gone: the controller fails, freed with its last queue. */
	ctrl_queue_gone(admin, 0);
	assert_null(ctrl_put(&t, admin));
	assert_int_equal(admin->state, CTRL_FAILED);
	assert_int_equal(connect_a(&t, 2, admin->cntlid, "v1", &io, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	ctrl_queue_gone(admin, 1);
	assert_null(ctrl_put(&t, admin));
	assert_null(t.head);
	assert_null(t.attachments);
}

static void test_properties(void **state)
{
	struct ctrl_table t = { .dir = vol_dir };
	struct nvmf_prop_get_cmd g = { .opc = NVME_ADMIN_FABRICS, .fctype = NVMF_FCTYPE_PROP_GET };
	struct ctrl *c;
	uint64_t v;
	uint32_t dw0;

	(void)state;
	assert_int_equal(connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0), 0);
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
	assert_int_equal(connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0), 0);
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
	assert_int_equal(connect_a(&t, 2, c->cntlid, "v1", &io, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(connect_a(&t, 1, c->cntlid, "v1", &io, &dw0), 0);
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
	assert_int_equal(connect_a(&t, 1, c->cntlid, "v1", &io, &dw0), 0);
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
	assert_int_equal(connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &c, &dw0), 0);
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

/* ---- Attachment: one association per volume ---- */

/* Controller Busy (SCT 1h, SC 81h), spelt out as the status field carries it. */
#define SC_CTRL_BUSY 0x181

/*
 * Another host's admin Connect, differing in HOSTID or HOSTNQN alone, is
 * refused while the holder lives.  Once the holder failed, another host
 * takes the volume, its Connect held until the failed controller is gone.
 */
static void test_attach_other_host(void **state)
{
	static const struct host_id same_nqn = { 0x6b, "nqn.2014-08.org.nvmexpress:uuid:1" };
	static const struct host_id same_id = { 0x5a, "nqn.2014-08.org.nvmexpress:uuid:2" };
	struct ctrl_table t = { .dir = vol_dir };
	struct ctrl *a, *b, *x;
	uint32_t dw0;

	(void)state;
	assert_int_equal(connect_as(&t, &HOST_A, 0, NVMF_CNTLID_DYNAMIC, "v1", &a, &dw0), 0);
	assert_int_equal(a->state, CTRL_LIVE);
	assert_int_equal(a->gen, 1);
	assert_int_equal(connect_as(&t, &HOST_B, 0, NVMF_CNTLID_DYNAMIC, "v1", &x, &dw0),
			 SC_CTRL_BUSY);
	assert_ptr_equal(x, a);               /* the holder, for the log line */
	assert_int_equal(connect_as(&t, &same_nqn, 0, NVMF_CNTLID_DYNAMIC, "v1", &x, &dw0),
			 SC_CTRL_BUSY);
	assert_int_equal(connect_as(&t, &same_id, 0, NVMF_CNTLID_DYNAMIC, "v1", &x, &dw0),
			 SC_CTRL_BUSY);
	assert_int_equal(a->state, CTRL_LIVE);
	assert_ptr_equal(t.head, a);
	assert_null(a->next);
	/* A's admin queue closes, its file I/O still in flight (a reference). */
	ctrl_queue_gone(a, 0);
	assert_int_equal(connect_as(&t, &HOST_B, 0, NVMF_CNTLID_DYNAMIC, "v1", &b, &dw0), 0);
	assert_int_equal(b->state, CTRL_FENCING);
	assert_int_equal(b->gen, 2);
	/* Now A is the other host. */
	assert_int_equal(connect_as(&t, &HOST_A, 0, NVMF_CNTLID_DYNAMIC, "v1", &x, &dw0),
			 SC_CTRL_BUSY);
	assert_ptr_equal(x, b);
	assert_ptr_equal(ctrl_put(&t, a), b);
	assert_int_equal(b->state, CTRL_LIVE);
	ctrl_queue_gone(b, 0);
	assert_null(ctrl_put(&t, b));
	assert_null(t.head);
	assert_null(t.attachments);
}

/* Epoch tags of host NQNs (tools/lib/host_epoch.h). */
static void test_host_epoch_tags(void **state)
{
	static const char *const bad[] = {
		"h:epoch:", "h:epoch:0", "h:epoch:07", "h:epoch:7x", "h:epoch:-1",
		"h:epoch:18446744073709551616", "h:epoch:123456789012345678901",
	};
	char nqn[256], long_nqn[256];
	uint64_t e;
	size_t n;

	(void)state;
	assert_int_equal(host_epoch_parse("nqn.2014-08.org.nvmexpress:uuid:1", &e, &n), 0);
	assert_int_equal(e, 0);
	assert_int_equal(n, strlen("nqn.2014-08.org.nvmexpress:uuid:1"));
	assert_int_equal(host_epoch_parse("h:epoch:7", &e, &n), 0);
	assert_int_equal(e, 7);
	assert_int_equal(n, 1);
	assert_int_equal(host_epoch_parse("h:epoch:18446744073709551615", &e, NULL), 0);
	assert_true(e == UINT64_MAX);
	/* The last tag counts. */
	assert_int_equal(host_epoch_parse("h:epoch:1:epoch:2", &e, &n), 0);
	assert_int_equal(e, 2);
	assert_int_equal(n, strlen("h:epoch:1"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(host_epoch_parse(bad[i], &e, NULL), -EINVAL);
	assert_int_equal(host_epoch_nqn(nqn, sizeof(nqn), "h", 42), 0);
	assert_string_equal(nqn, "h:epoch:42");
	assert_int_equal(host_epoch_nqn(nqn, sizeof(nqn), "h", 0), 0);
	assert_string_equal(nqn, "h");
	/* NVMe's 223 bytes at most. */
	memset(long_nqn, 'x', 220);
	long_nqn[220] = 0;
	assert_int_equal(host_epoch_nqn(nqn, sizeof(nqn), long_nqn, 1000), -ENAMETOOLONG);
}

/* A host as HOST_A or HOST_B would be, with @epoch's tag. */
static struct host_id host_epoch(const struct host_id *h, uint64_t epoch, char *buf, size_t len)
{
	assert_int_equal(host_epoch_nqn(buf, len, h->hostnqn, epoch), 0);
	return (struct host_id){ h->hostid, buf };
}

/*
 * Attachment epochs: a newer attachment takes the volume from a holder
 * that is still alive; an older one is refused, even after a restart; the
 * highest epoch is what the volume's .epoch file says.
 */
static void test_attach_epochs(void **state)
{
	char path[PATH_MAX], nqn[5][256];
	struct ctrl_table t = { .dir = vol_dir }, t2 = { .dir = vol_dir };
	struct host_id a1 = host_epoch(&HOST_A, 1, nqn[0], sizeof(nqn[0]));
	struct host_id b1 = host_epoch(&HOST_B, 1, nqn[1], sizeof(nqn[1]));
	struct host_id b2 = host_epoch(&HOST_B, 2, nqn[2], sizeof(nqn[2]));
	struct host_id a3 = host_epoch(&HOST_A, 3, nqn[3], sizeof(nqn[3]));
	struct host_id a2 = host_epoch(&HOST_A, 2, nqn[4], sizeof(nqn[4]));
	struct ctrl *a, *b, *c, *x;
	uint64_t admitted;
	uint32_t dw0;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/ve.vol", vol_dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);

	assert_int_equal(connect_as(&t, &a1, 0, NVMF_CNTLID_DYNAMIC, "ve", &a, &dw0), 0);
	assert_int_equal(a->state, CTRL_LIVE);
	assert_int_equal(volume_epoch_get(vol_dir, "ve", &admitted), 0);
	assert_int_equal(admitted, 1);
	/* The same epoch, another host: the holder keeps it. */
	assert_int_equal(connect_as(&t, &b1, 0, NVMF_CNTLID_DYNAMIC, "ve", &x, &dw0),
			 SC_CTRL_BUSY);
	/* A newer one takes it although A is alive: A is superseded at once. */
	assert_int_equal(connect_as(&t, &b2, 0, NVMF_CNTLID_DYNAMIC, "ve", &b, &dw0), 0);
	assert_int_equal(b->state, CTRL_FENCING);
	assert_int_equal(a->state, CTRL_FAILED);
	assert_int_equal(volume_epoch_get(vol_dir, "ve", &admitted), 0);
	assert_int_equal(admitted, 2);
	/* A, reconnecting as it always did, is fenced, and so is no epoch. */
	assert_int_equal(connect_as(&t, &a1, 0, NVMF_CNTLID_DYNAMIC, "ve", &x, &dw0),
			 NVME_SC_CONNECT_INVALID_HOST);
	assert_null(x);
	assert_int_equal(connect_as(&t, &HOST_A, 0, NVMF_CNTLID_DYNAMIC, "ve", &x, &dw0),
			 NVME_SC_CONNECT_INVALID_HOST);
	assert_ptr_equal(ctrl_put(&t, a), b);
	assert_int_equal(b->state, CTRL_LIVE);
	/* A cv-storaged started again remembers. */
	assert_int_equal(connect_as(&t2, &a1, 0, NVMF_CNTLID_DYNAMIC, "ve", &x, &dw0),
			 NVME_SC_CONNECT_INVALID_HOST);
	assert_null(t2.attachments);
	/* Epoch 3 takes it back from B. */
	assert_int_equal(connect_as(&t, &a3, 0, NVMF_CNTLID_DYNAMIC, "ve", &c, &dw0), 0);
	assert_int_equal(b->state, CTRL_FAILED);
	assert_int_equal(connect_as(&t, &a2, 0, NVMF_CNTLID_DYNAMIC, "ve", &x, &dw0),
			 NVME_SC_CONNECT_INVALID_HOST);
	ctrl_queue_gone(b, 0);
	assert_ptr_equal(ctrl_put(&t, b), c);
	ctrl_queue_gone(c, 0);
	assert_null(ctrl_put(&t, c));
	assert_null(t.attachments);

	/* A malformed tag is a malformed host NQN; a damaged record admits nobody. */
	struct host_id bad = { 0x5a, "nqn.2014-08.org.nvmexpress:uuid:1:epoch:x" };

	assert_int_equal(connect_as(&t, &bad, 0, NVMF_CNTLID_DYNAMIC, "ve", &x, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(offsetof(struct nvmf_connect_data, hostnqn)));
	snprintf(path, sizeof(path), "%s/ve.epoch", vol_dir);
	write_file(path, "three\n", 0600);
	assert_int_equal(connect_as(&t, &a3, 0, NVMF_CNTLID_DYNAMIC, "ve", &x, &dw0),
			 NVME_SC_INTERNAL);
	assert_null(t.attachments);
	/* An empty record (a crash before its first write was synced) is none. */
	write_file(path, "", 0600);
	assert_int_equal(volume_epoch_get(vol_dir, "ve", &admitted), 0);
	assert_int_equal(admitted, 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ve.vol", vol_dir);
	unlink(path);
}

/* The host list names hosts: an epoch tag is not part of the name. */
static void test_host_list_epochs(void **state)
{
	char path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/vh.hosts", vol_dir);
	write_file(path, "nqn.a\n", 0600);
	assert_int_equal(volume_host_allowed(vol_dir, "vh", "nqn.a:epoch:5"), 0);
	assert_int_equal(volume_host_allowed(vol_dir, "vh", "nqn.b:epoch:5"), -EACCES);
	assert_int_equal(volume_host_allowed(vol_dir, "vh", "nqn.a:epoch:05"), -EACCES);
	unlink(path);
}

/*
 * The same host again (HOSTID and HOSTNQN: a reconnect, a restarted card)
 * supersedes its association: the old controller fails at once, the new
 * one is fenced until the old one's last queue, I/O queue included, is
 * freed.
 */
static void test_attach_same_host(void **state)
{
	struct ctrl_table t = { .dir = vol_dir };
	struct ctrl *old, *io, *new, *x;
	uint32_t dw0;

	(void)state;
	assert_int_equal(connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &old, &dw0), 0);
	assert_int_equal(set_cc(old, CC_GOOD), 0);
	assert_int_equal(connect_a(&t, 1, old->cntlid, "v1", &io, &dw0), 0);
	assert_int_equal(connect_a(&t, 0, NVMF_CNTLID_DYNAMIC, "v1", &new, &dw0), 0);
	assert_int_equal(dw0, new->cntlid);
	assert_int_not_equal(new->cntlid, old->cntlid);
	assert_int_equal(new->gen, old->gen + 1);
	assert_int_equal(old->state, CTRL_FAILED);
	assert_false(ctrl_ready(old));
	assert_int_equal(new->state, CTRL_FENCING);
	/* Nothing joins the old controller any more, nor the fenced one yet. */
	assert_int_equal(connect_a(&t, 2, old->cntlid, "v1", &x, &dw0),
			 NVME_SC_CONNECT_INVALID_PARAM);
	assert_int_equal(dw0, DW0_DATA(16));
	assert_int_equal(connect_a(&t, 1, new->cntlid, "v1", &x, &dw0), NVME_SC_CMD_SEQ_ERROR);
	/* The fenced association holds the volume against other hosts. */
	assert_int_equal(connect_as(&t, &HOST_B, 0, NVMF_CNTLID_DYNAMIC, "v1", &x, &dw0),
			 SC_CTRL_BUSY);
	assert_ptr_equal(x, new);
	/* The old admin queue is done, its I/O queue is not: still fenced. */
	ctrl_queue_gone(old, 0);
	assert_null(ctrl_put(&t, old));
	assert_int_equal(new->state, CTRL_FENCING);
	ctrl_queue_gone(old, 1);
	assert_ptr_equal(ctrl_put(&t, old), new);
	assert_int_equal(new->state, CTRL_LIVE);
	ctrl_queue_gone(new, 0);
	assert_null(ctrl_put(&t, new));
	assert_null(t.head);
	assert_null(t.attachments);
}

/*
 * The same through the daemon's queues (conn.c, exec.c): each is a
 * socketpair handed to conn_new() as accept() would, and the loop is
 * played here (conn_readable(), then storaged_flush()) but for the ring's
 * completions, so a write's file I/O stays in flight until the test reaps
 * it.
 */
static struct storaged sd;

/* One queue, as its host sees it. */
struct tq {
	struct conn *c;           /* freed once dead and done: then unused */
	int fd;                   /* the host's end */
	uint16_t cid;
};

static const struct nvme_tcp_conn tq_tcp = { .role = NVME_TCP_HOST,
					     .max_icdata = CMD_MAX_ICDATA };

static void tq_send(struct tq *q, const struct nvme_tcp_pdu *pdu, const void *data,
		    size_t len)
{
	struct iovec iov[2] = { { (void *)pdu->hdr.raw, pdu->hdr_len }, { (void *)data, len } };

	assert_int_equal(writev(q->fd, iov, 2), pdu->hdr_len + len);
}

/* The daemon reads what q's host sent, then ends its loop turn. */
static void tq_turn(struct tq *q)
{
	conn_readable(q->c);
	storaged_flush(&sd);
}

/* One PDU from the daemon: 1, 0 once it closed the connection, -EAGAIN if none. */
static int tq_recv(struct tq *q, union nvme_tcp_hdr *h)
{
	ssize_t n = recv(q->fd, h->raw, sizeof(h->ch), MSG_DONTWAIT);

	if (n <= 0)
		return n ? -errno : 0;
	assert_int_equal(n, sizeof(h->ch));
	assert_in_range(h->ch.plen, sizeof(h->ch), sizeof(h->raw));
	n = recv(q->fd, h->raw + sizeof(h->ch), h->ch.plen - sizeof(h->ch), MSG_DONTWAIT);
	assert_int_equal(n, h->ch.plen - sizeof(h->ch));
	return 1;
}

static void tq_open(struct tq *q, const char *peer)
{
	struct nvme_tcp_pdu pdu;
	union nvme_tcp_hdr h;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
			 0);
	q->c = conn_new(&sd, sv[0], peer);
	assert_non_null(q->c);
	q->c->next = sd.conns;
	sd.conns = q->c;
	sd.nconns++;
	q->fd = sv[1];
	q->cid = 0;
	assert_int_equal(nvme_tcp_build_icreq(&pdu, &tq_tcp, 0), 0);
	tq_send(q, &pdu, NULL, 0);
	tq_turn(q);
	assert_int_equal(tq_recv(q, &h), 1);
	assert_int_equal(h.ch.pdu_type, NVME_TCP_ICRESP);
}

/* Send a command with its data in the capsule; its CID. */
static uint16_t tq_cmd(struct tq *q, void *sqe, const void *data, uint32_t len)
{
	struct iovec iov = { (void *)data, len };
	struct nvme_tcp_pdu pdu;

	((struct nvme_sqe *)sqe)->cid = ++q->cid;
	if (!len)   /* SGLs even without data: Fabrics has no PRPs */
		nvme_tcp_set_sgl(sqe, 0, false);
	assert_int_equal(nvme_tcp_build_capsule_cmd(&pdu, &tq_tcp, sqe, &iov, len ? 1 : 0), 0);
	tq_send(q, &pdu, data, len);
	return q->cid;
}

static uint16_t tq_connect(struct tq *q, const struct host_id *h, uint16_t qid,
			   uint16_t cntlid)
{
	struct nvmf_connect_cmd cmd = connect_cmd(qid, 31);
	struct nvmf_connect_data d;

	connect_data_of(&d, "v1", cntlid, h);
	return tq_cmd(q, &cmd, &d, sizeof(d));
}

/* The next PDU is the response to cid: its CQE. */
static struct nvme_cqe tq_resp(struct tq *q, uint16_t cid)
{
	union nvme_tcp_hdr h;

	assert_int_equal(tq_recv(q, &h), 1);
	assert_int_equal(h.ch.pdu_type, NVME_TCP_CAPSULE_RESP);
	assert_int_equal(h.resp.cqe.cid, cid);
	return h.resp.cqe;
}

/* Send a Write of one block of byte v at lba. */
static void tq_write(struct tq *q, uint64_t lba, uint8_t v)
{
	static uint8_t block[VOLUME_LBA_SIZE];
	struct nvme_sqe w = rw(NVME_NVM_WRITE, lba, 1, 0, 0);

	memset(block, v, sizeof(block));
	tq_cmd(q, &w, block, sizeof(block));
}

static bool block_is(int fd, uint64_t lba, uint8_t v)
{
	static uint8_t block[VOLUME_LBA_SIZE];

	assert_int_equal(pread(fd, block, sizeof(block), lba * VOLUME_LBA_SIZE), sizeof(block));
	for (size_t i = 0; i < sizeof(block); i++)
		if (block[i] != v)
			return false;
	return true;
}

/*
 * Host A's card restarts while its write of LBA 0 is in the file I/O and
 * its write of LBA 1 still in its queue's socket.  The new association's
 * Connect closes A's old queues at once and is answered only once the LBA 0
 * write has completed; the LBA 1 write is never executed.  Host B is
 * refused throughout with Controller Busy, Do Not Retry clear.
 */
static void test_takeover_fences_old_io(void **state)
{
	struct nvmf_prop_set_cmd cc = { .opc = NVME_ADMIN_FABRICS,
		.fctype = NVMF_FCTYPE_PROP_SET, .offset = NVME_REG_CC, .value = CC_GOOD };
	struct tq admin, io, other, again;
	struct io_uring_cqe *ucqe;
	union nvme_tcp_hdr h;
	struct nvme_cqe cqe;
	uint16_t cid, cntlid;
	int fd = open(vol_path, O_RDWR);

	(void)state;
	assert_true(fd >= 0);
	assert_true(block_is(fd, 0, 0) && block_is(fd, 1, 0));
	memset(&sd, 0, sizeof(sd));
	sd.epfd = sd.lfd = sd.sfd = -1;
	sd.ctrls.dir = vol_dir;
	assert_int_equal(backend_init(&sd.be, 16), 0);

	tq_open(&admin, "host-a");
	cid = tq_connect(&admin, &HOST_A, 0, NVMF_CNTLID_DYNAMIC);
	tq_turn(&admin);
	cqe = tq_resp(&admin, cid);
	assert_int_equal(cqe.status, 0);
	cntlid = (uint16_t)cqe.dw0;
	cid = tq_cmd(&admin, &cc, NULL, 0);
	tq_turn(&admin);
	assert_int_equal(tq_resp(&admin, cid).status, 0);
	tq_open(&io, "host-a-io");
	cid = tq_connect(&io, &HOST_A, 1, cntlid);
	tq_turn(&io);
	assert_int_equal(tq_resp(&io, cid).status, 0);

	tq_open(&other, "host-b");
	cid = tq_connect(&other, &HOST_B, 0, NVMF_CNTLID_DYNAMIC);
	tq_turn(&other);
	cqe = tq_resp(&other, cid);
	assert_int_equal(cqe.status >> 1 & 0x7ff, SC_CTRL_BUSY);
	assert_false(cqe.status & NVME_STATUS_DNR);

	tq_write(&io, 0, 0xaa);
	tq_turn(&io);
	assert_int_equal(io.c->io_inflight, 1);
	tq_write(&io, 1, 0xbb);           /* not read by the daemon yet */

	tq_open(&again, "host-a-again");
	cid = tq_connect(&again, &HOST_A, 0, NVMF_CNTLID_DYNAMIC);
	tq_turn(&again);
	assert_int_equal(tq_recv(&admin, &h), 0);   /* closed (and freed: no I/O) */
	assert_true(io.c->dead);                    /* closed, its write in flight */
	assert_int_equal(tq_recv(&again, &h), -EAGAIN);
	conn_readable(io.c);                        /* a dead queue reads nothing */
	storaged_flush(&sd);
	assert_int_equal(tq_recv(&again, &h), -EAGAIN);

	/* The LBA 0 write completes: the old controller goes, the Connect is answered. */
	assert_int_equal(io_uring_wait_cqe(&sd.be.ring, &ucqe), 0);
	backend_reap(&sd.be);
	storaged_flush(&sd);
	cqe = tq_resp(&again, cid);
	assert_int_equal(cqe.status, 0);
	assert_int_not_equal(cqe.dw0, cntlid);
	assert_true(block_is(fd, 0, 0xaa));
	assert_true(block_is(fd, 1, 0));

	/* Everyone hangs up: nothing is left. */
	close(admin.fd);
	close(io.fd);
	close(other.fd);
	close(again.fd);
	tq_turn(&other);
	tq_turn(&again);
	assert_null(sd.conns);
	assert_null(sd.ctrls.head);
	assert_null(sd.ctrls.attachments);
	assert_int_equal(sd.be.inflight, 0);
	backend_exit(&sd.be);
	close(fd);
}

/*
 * io_uring operations bypass seccomp, so the backend's ring takes only
 * the operations it makes: a read runs, an openat (which a compromised
 * daemon could use to reach any file) is refused by the kernel.
 */
static void test_ring_restricted(void **state)
{
	struct backend be;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	char buf[16];
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(backend_init(&be, 8), 0);
	sqe = io_uring_get_sqe(&be.ring);
	io_uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	assert_int_equal(io_uring_submit_and_wait(&be.ring, 1), 1);
	assert_int_equal(io_uring_wait_cqe(&be.ring, &cqe), 0);
	assert_int_equal(cqe->res, (int)sizeof(buf));
	io_uring_cqe_seen(&be.ring, cqe);
	sqe = io_uring_get_sqe(&be.ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	assert_int_equal(io_uring_submit_and_wait(&be.ring, 1), 1);
	assert_int_equal(io_uring_wait_cqe(&be.ring, &cqe), 0);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(&be.ring, cqe);
	backend_exit(&be);
	close(fd);
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
		cmocka_unit_test(test_connect_bound_to_tls_identity),
		cmocka_unit_test(test_host_list),
		cmocka_unit_test(test_controller_model),
		cmocka_unit_test(test_connect_out_of_fds),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_features_keep_alive),
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_attach_other_host),
		cmocka_unit_test(test_attach_same_host),
		cmocka_unit_test(test_host_epoch_tags),
		cmocka_unit_test(test_attach_epochs),
		cmocka_unit_test(test_host_list_epochs),
		cmocka_unit_test(test_takeover_fences_old_io),
		cmocka_unit_test(test_ring_restricted),
	};

	return cmocka_run_group_tests(tests, make_volume, drop_volume);
}
