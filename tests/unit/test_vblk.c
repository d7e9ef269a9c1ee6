/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's virtio-blk face (cards/ebs/vblk.c).  First its request
 * parser on hand-built chains: every rule of §5.2.6 it enforces and the
 * status it answers.  Then the whole face over real parts: a cv-storaged
 * (the storaged library, in a child process) serving a volume file over
 * NVMe/TCP, the datapath with AES-256-XTS, and a vhost-user front-end
 * written here that shares a memfd as guest memory and plays the virtio
 * driver on one ring: GET_CONFIG, reads and writes, flush, GET_ID,
 * discard, malformed requests, and a front-end that goes away with
 * requests in flight.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cards/ebs/vblk.h"
#include "tools/lib/volume_store.h"
#include "tools/storaged/server.h"

/* ------------------------------------------------------------ parser */

static const struct vblk_limits lim = { .blocks = 1024, .max_data = 64 * 4096 };

struct chain {
	struct virtq_elem e;
	struct virtio_blk_outhdr hdr;
	uint8_t data[3 * 4096];
	uint8_t status;
	struct iovec iov[VIRTQ_MAX_SEGS];
	struct nvme_dsm_range ranges[VBLK_MAX_DISCARD_SEG];
	struct vblk_parsed p;
};

static void seg(struct chain *c, void *base, size_t len, bool writable)
{
	c->e.iov[c->e.out_num + c->e.in_num] = (struct iovec){ base, len };
	if (writable) {
		c->e.in_num++;
		c->e.in_len += len;
	} else {
		assert_int_equal(c->e.in_num, 0);
		c->e.out_num++;
		c->e.out_len += len;
	}
}

/* header + @data_len bytes (readable for OUT, writable for IN) + status. */
static int parse_rw(struct chain *c, uint32_t type, uint64_t sector, size_t data_len)
{
	memset(&c->e, 0, sizeof(c->e));
	c->hdr = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	seg(c, &c->hdr, sizeof(c->hdr), false);
	if (data_len)
		seg(c, c->data, data_len, type == VIRTIO_BLK_T_IN);
	seg(c, &c->status, 1, true);
	c->p = (struct vblk_parsed){ .iov = c->iov, .ranges = c->ranges };
	return vblk_parse(&c->e, &lim, &c->p);
}

static void test_parse_read_write(void **state)
{
	static struct chain c;

	(void)state;
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_IN, 16, 8192), VIRTIO_BLK_S_OK);
	assert_int_equal(c.p.slba, 2);
	assert_int_equal(c.p.nlb, 2);
	assert_int_equal(c.p.iovcnt, 1);
	assert_ptr_equal(c.p.iov[0].iov_base, c.data);
	assert_ptr_equal(c.p.status, &c.status);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_OUT, 1016, 4096), VIRTIO_BLK_S_OK);
	assert_int_equal(c.p.slba, 127);
	/* The last block of the volume, and one past it. */
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_IN, 8 * 1023, 4096), VIRTIO_BLK_S_OK);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_IN, 8 * 1023, 8192), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_OUT, 8 * 1024, 4096), VIRTIO_BLK_S_IOERR);
	/* A sector so large that sector + length wraps. */
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_IN, ~0ull - 7, 4096), VIRTIO_BLK_S_IOERR);
	/* 512-byte aligned is not enough: blocks are 4 KiB. */
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_IN, 1, 4096), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_OUT, 0, 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_OUT, 0, 4096 + 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_IN, 0, 4097), VIRTIO_BLK_S_IOERR);
	/* No data at all. */
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_IN, 0, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_OUT, 0, 0), VIRTIO_BLK_S_IOERR);
	/* Flush carries nothing; GET_ID fills at most 20 bytes. */
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_FLUSH, 0, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_FLUSH, 0, 4096), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_GET_ID, 0, 4096), VIRTIO_BLK_S_IOERR);
	/* Types never offered. */
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_GET_LIFETIME, 0, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_rw(&c, VIRTIO_BLK_T_SECURE_ERASE, 0, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_rw(&c, 0x12345678, 0, 0), VIRTIO_BLK_S_UNSUPP);
}

static void test_parse_layouts(void **state)
{
	static struct chain c;
	uint8_t buf[16 + 4096 + 1];

	(void)state;
	/* VERSION_1 means any layout: header and data in one descriptor,
	 * data split unevenly, status sharing the data's last descriptor. */
	memset(&c.e, 0, sizeof(c.e));
	c.hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = 8 };
	memcpy(buf, &c.hdr, 16);
	seg(&c, buf, 16 + 1000, false);
	seg(&c, c.data, 3096, false);
	seg(&c, &c.status, 1, true);
	c.p = (struct vblk_parsed){ .iov = c.iov, .ranges = c.ranges };
	assert_int_equal(vblk_parse(&c.e, &lim, &c.p), VIRTIO_BLK_S_OK);
	assert_int_equal(c.p.iovcnt, 2);
	assert_ptr_equal(c.p.iov[0].iov_base, buf + 16);
	assert_int_equal(c.p.iov[0].iov_len, 1000);
	assert_int_equal(c.p.iov[1].iov_len, 3096);

	memset(&c.e, 0, sizeof(c.e));
	c.hdr.type = VIRTIO_BLK_T_IN;
	seg(&c, &c.hdr, 16, false);
	seg(&c, buf, 4097, true);
	c.p = (struct vblk_parsed){ .iov = c.iov, .ranges = c.ranges };
	assert_int_equal(vblk_parse(&c.e, &lim, &c.p), VIRTIO_BLK_S_OK);
	assert_int_equal(c.p.iovcnt, 1);
	assert_int_equal(c.p.iov[0].iov_len, 4096);
	assert_ptr_equal(c.p.status, buf + 4096);

	/* A header cut short still gets a status; a chain without a writable
	 * byte cannot, and is only dropped. */
	memset(&c.e, 0, sizeof(c.e));
	seg(&c, &c.hdr, 8, false);
	seg(&c, &c.status, 1, true);
	assert_int_equal(vblk_parse(&c.e, &lim, &c.p), VIRTIO_BLK_S_IOERR);
	memset(&c.e, 0, sizeof(c.e));
	seg(&c, buf, sizeof(buf), false);
	assert_int_equal(vblk_parse(&c.e, &lim, &c.p), -1);
	/* Data above the advertised limit. */
	memset(&c.e, 0, sizeof(c.e));
	c.hdr.type = VIRTIO_BLK_T_IN;
	c.hdr.sector = 0;
	seg(&c, &c.hdr, 16, false);
	for (int i = 0; i < 65; i++)
		seg(&c, c.data, 4096, true);
	seg(&c, &c.status, 1, true);
	assert_int_equal(vblk_parse(&c.e, &lim, &c.p), VIRTIO_BLK_S_IOERR);
	/* A read with readable data after the header, a write with writable data. */
	memset(&c.e, 0, sizeof(c.e));
	seg(&c, &c.hdr, 16, false);
	seg(&c, c.data, 4096, false);
	seg(&c, &c.status, 1, true);
	assert_int_equal(vblk_parse(&c.e, &lim, &c.p), VIRTIO_BLK_S_IOERR);
	c.hdr.type = VIRTIO_BLK_T_OUT;
	memset(&c.e, 0, sizeof(c.e));
	seg(&c, &c.hdr, 16, false);
	seg(&c, c.data, 4097, true);
	assert_int_equal(vblk_parse(&c.e, &lim, &c.p), VIRTIO_BLK_S_IOERR);
}

/* A DISCARD or WRITE_ZEROES chain with @n segments. */
static int parse_segs(struct chain *c, uint32_t type,
		      const struct virtio_blk_discard_write_zeroes *s, unsigned n)
{
	memset(&c->e, 0, sizeof(c->e));
	c->hdr = (struct virtio_blk_outhdr){ .type = type };
	seg(c, &c->hdr, sizeof(c->hdr), false);
	memcpy(c->data, s, n * sizeof(*s));
	if (n)
		seg(c, c->data, n * sizeof(*s), false);
	seg(c, &c->status, 1, true);
	c->p = (struct vblk_parsed){ .iov = c->iov, .ranges = c->ranges };
	return vblk_parse(&c->e, &lim, &c->p);
}

static void test_parse_discard_write_zeroes(void **state)
{
	static struct chain c;
	struct virtio_blk_discard_write_zeroes s[3] = {
		{ .sector = 8, .num_sectors = 16 },
		{ .sector = 800, .num_sectors = 8 },
		{ .sector = 8 * 1000, .num_sectors = 8 * 24 },
	};

	(void)state;
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_DISCARD, s, 3), VIRTIO_BLK_S_OK);
	assert_int_equal(c.p.nr_ranges, 3);
	assert_int_equal(c.ranges[0].slba, 1);
	assert_int_equal(c.ranges[0].nlb, 2);
	assert_int_equal(c.ranges[2].slba, 1000);
	assert_int_equal(c.ranges[2].nlb, 24);
	/* Write zeroes takes one segment, unmap allowed; discard refuses unmap. */
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_WRITE_ZEROES, s, 2), VIRTIO_BLK_S_IOERR);
	s[0].flags = VIRTIO_BLK_WZ_F_UNMAP;
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_WRITE_ZEROES, s, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(c.p.slba, 1);
	assert_int_equal(c.p.nlb, 2);
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_DISCARD, s, 1), VIRTIO_BLK_S_UNSUPP);
	s[0].flags = 2;
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_WRITE_ZEROES, s, 1), VIRTIO_BLK_S_UNSUPP);
	s[0].flags = 0;
	/* Unaligned, empty, past the end, above the limit, a ragged list. */
	s[1].sector = 804;
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_DISCARD, s, 2), VIRTIO_BLK_S_IOERR);
	s[1] = (struct virtio_blk_discard_write_zeroes){ .sector = 800, .num_sectors = 0 };
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_DISCARD, s, 2), VIRTIO_BLK_S_IOERR);
	s[1] = (struct virtio_blk_discard_write_zeroes){ .sector = 8 * 1020, .num_sectors = 64 };
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_DISCARD, s, 2), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_segs(&c, VIRTIO_BLK_T_DISCARD, s, 0), VIRTIO_BLK_S_IOERR);
	memset(&c.e, 0, sizeof(c.e));
	seg(&c, &c.hdr, 16, false);
	seg(&c, c.data, 24, false);
	seg(&c, &c.status, 1, true);
	c.hdr.type = VIRTIO_BLK_T_DISCARD;
	assert_int_equal(vblk_parse(&c.e, &lim, &c.p), VIRTIO_BLK_S_IOERR);
}

/* ------------------------------------------------- the face end to end */

#define VOL_ID "vol-vblktest"
#define VOL_BLOCKS 256
#define RAM_SIZE (1u << 20)
#define QSIZE 1024
#define DESC_OFF 0x0
#define AVAIL_OFF 0x4000
#define USED_OFF 0x5000
#define HDR_OFF 0x8000
#define STATUS_OFF 0x9000       /* one status byte per descriptor triple */
#define DATA_OFF 0x10000

static struct {
	char dir[64], sock[80], volfile[128];
	pid_t storaged;
	uint16_t port;
	struct nvmf_ctrl *nvmf;
	struct ebs_datapath *dp;
	struct vblk *vb;
	/* The front-end. */
	int fd, memfd, kick, call;
	uint8_t *ram;
	uint16_t avail_idx, used_seen;
} t;

static const uint8_t key[XTS_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };

static void fe_send(uint32_t req, const void *payload, uint32_t size, const int *fd)
{
	struct vhost_user_hdr h = { .request = req, .flags = VHOST_USER_VERSION, .size = size };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	if (fd) {
		msg.msg_control = c.buf;
		msg.msg_controllen = sizeof(c.buf);
		CMSG_FIRSTHDR(&msg)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&msg)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&msg)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msg)), fd, sizeof(int));
	}
	assert_int_equal(sendmsg(t.fd, &msg, 0), (ssize_t)(sizeof(h) + size));
	assert_int_equal(vblk_process(t.vb), 0);
}

/* The reply to the last request; -1 when the back-end hung up instead. */
static int fe_reply(uint32_t req, void *payload, uint32_t size)
{
	struct vhost_user_hdr h;
	struct pollfd p = { .fd = t.fd, .events = POLLIN };

	if (poll(&p, 1, 1000) != 1 || recv(t.fd, &h, sizeof(h), MSG_WAITALL) != sizeof(h))
		return -1;
	assert_int_equal(h.request, req);
	assert_true(h.flags & VHOST_USER_REPLY_MASK);
	assert_int_equal(h.size, size);
	assert_int_equal(recv(t.fd, payload, size, MSG_WAITALL), (ssize_t)size);
	return 0;
}

static uint64_t fe_get_u64(uint32_t req)
{
	uint64_t v = 0;

	fe_send(req, NULL, 0, NULL);
	assert_int_equal(fe_reply(req, &v, sizeof(v)), 0);
	return v;
}

static void fe_u64(uint32_t req, uint64_t v, const int *fd)
{
	fe_send(req, &v, sizeof(v), fd);
}

static void fe_vring(uint32_t req, uint32_t num)
{
	struct vhost_user_vring_state st = { .index = 0, .num = num };

	fe_send(req, &st, sizeof(st), NULL);
}

/* The reply to GET_INFLIGHT_FD: its payload and the fd that comes with it. */
static int fe_reply_fd(uint32_t req, void *payload, uint32_t size)
{
	struct vhost_user_hdr h;
	struct iovec iov[2] = { { &h, sizeof(h) }, { payload, size } };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = c.buf,
			      .msg_controllen = sizeof(c.buf) };
	int fd;

	assert_int_equal(recvmsg(t.fd, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC),
			 (ssize_t)(sizeof(h) + size));
	assert_int_equal(h.request, req);
	assert_int_equal(h.size, size);
	assert_non_null(CMSG_FIRSTHDR(&msg));
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(fd));
	return fd;
}

/*
 * Connect and bring ring 0 up as QEMU's vhost-user-blk does, the driver's
 * rings cleared; with @inflight, also the inflight buffer first: fetched
 * with GET_INFLIGHT_FD when *@inflight is -1 (a first start), then handed
 * back with SET_INFLIGHT_FD (as at every start).  A reconnection (a
 * buffer already there) keeps the driver's rings and resumes at @base.
 */
static void fe_connect_inflight(int *inflight, uint16_t base)
{
	bool again = inflight && *inflight >= 0;

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vhost_user_memory m = { .nregions = 1 };
	struct vhost_user_vring_addr a = { .index = 0 };
	uint64_t features;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t.sock);
	t.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(t.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(vblk_process(t.vb), 0);
	features = fe_get_u64(VHOST_USER_GET_FEATURES);
	assert_true(features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	assert_true(features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	assert_false(features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_false(features & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	fe_u64(VHOST_USER_SET_FEATURES, features, NULL);
	assert_true(fe_get_u64(VHOST_USER_GET_PROTOCOL_FEATURES) &
		    VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG));
	fe_u64(VHOST_USER_SET_PROTOCOL_FEATURES,
	       VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |
		       (inflight ? VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) : 0),
	       NULL);
	fe_send(VHOST_USER_SET_OWNER, NULL, 0, NULL);
	if (inflight) {
		/* What GET_INFLIGHT_FD answered, kept like the fd. */
		static struct vhost_user_inflight in;

		if (*inflight < 0) {
			in = (struct vhost_user_inflight){ .num_queues = 1, .queue_size = QSIZE };
			fe_send(VHOST_USER_GET_INFLIGHT_FD, &in, sizeof(in), NULL);
			*inflight = fe_reply_fd(VHOST_USER_GET_INFLIGHT_FD, &in, sizeof(in));
			assert_true(in.mmap_size >= 16 + 16 * QSIZE);
			/* Sealed: the front-end cannot shrink it under the card. */
			assert_int_not_equal(ftruncate(*inflight, 0), 0);
		}
		fe_send(VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), inflight);
	}
	m.regions[0] = (struct vhost_user_mem_region){ .guest_phys_addr = 0, .memory_size = RAM_SIZE,
						       .userspace_addr = (uintptr_t)t.ram };
	fe_send(VHOST_USER_SET_MEM_TABLE, &m, 8 + sizeof(m.regions[0]), &t.memfd);
	/* The driver's new rings, empty before the ring starts and reads them. */
	if (!again) {
		memset(t.ram, 0, DATA_OFF);
		assert_true(USED_OFF + VIRTQ_USED_SIZE(QSIZE) <= HDR_OFF);
		t.avail_idx = t.used_seen = 0;
	}
	fe_vring(VHOST_USER_SET_VRING_NUM, QSIZE);
	fe_vring(VHOST_USER_SET_VRING_BASE, base);
	a.desc_user_addr = (uintptr_t)t.ram + DESC_OFF;
	a.avail_user_addr = (uintptr_t)t.ram + AVAIL_OFF;
	a.used_user_addr = (uintptr_t)t.ram + USED_OFF;
	fe_send(VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL);
	fe_u64(VHOST_USER_SET_VRING_CALL, 0, &t.call);
	fe_u64(VHOST_USER_SET_VRING_KICK, 0, &t.kick);
	fe_vring(VHOST_USER_SET_VRING_ENABLE, 1);
}

static void fe_connect(void)
{
	fe_connect_inflight(NULL, 0);
}

static void fe_close(void)
{
	close(t.fd);
	t.fd = -1;
	assert_int_equal(vblk_process(t.vb), 0);
}

/* Run the card's loop until the used ring moved past used_seen, or 1000 turns. */
static bool pump(void)
{
	struct virtq_used *used = (void *)(t.ram + USED_OFF);

	for (int i = 0; i < 1000; i++) {
		struct pollfd p = { .fd = nvmf_queue_fd(nvmf_ctrl_queue(t.nvmf, 0)),
				    .events = POLLIN };

		assert_int_equal(vblk_process(t.vb), 0);
		ebs_datapath_flush(t.dp);
		vblk_flush(t.vb);
		if (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != t.used_seen)
			return true;
		if (poll(&p, 1, 1) == 1)
			nvmf_queue_process(nvmf_ctrl_queue(t.nvmf, 0));
	}
	return false;
}

/*
 * One request: header, @len data bytes at DATA_OFF (writable for IN and
 * GET_ID), status.  Returns the status byte; *@used_len the used length.
 */
static int request(uint32_t type, uint64_t sector, uint32_t len, uint32_t *used_len)
{
	struct virtq_desc *d = (void *)(t.ram + DESC_OFF);
	struct virtq_avail *av = (void *)(t.ram + AVAIL_OFF);
	struct virtq_used *used = (void *)(t.ram + USED_OFF);
	struct virtio_blk_outhdr *h = (void *)(t.ram + HDR_OFF);
	bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	uint8_t *status = t.ram + HDR_OFF + 64;
	uint16_t n = 0;
	uint64_t one = 1;

	*h = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	*status = 0xff;
	d[n++] = (struct virtq_desc){ HDR_OFF, sizeof(*h), VIRTQ_DESC_F_NEXT, 1 };
	if (len)
		d[n++] = (struct virtq_desc){ DATA_OFF, len,
					      VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0), 2 };
	d[n] = (struct virtq_desc){ HDR_OFF + 64, 1, VIRTQ_DESC_F_WRITE, 0 };
	av->ring[t.avail_idx % QSIZE] = 0;
	__atomic_store_n(&av->idx, ++t.avail_idx, __ATOMIC_RELEASE);
	assert_int_equal(write(t.kick, &one, sizeof(one)), sizeof(one));
	assert_true(pump());
	assert_int_equal(used->ring[t.used_seen % QSIZE].id, 0);
	*used_len = used->ring[t.used_seen % QSIZE].len;
	t.used_seen++;
	return *status;
}

static int setup(void **state)
{
	struct nvmf_opts o = { .addr = "127.0.0.1", .subnqn = VOLUME_STORE_NQN_PREFIX VOL_ID,
			       .hostnqn = "nqn.2014-08.org.nvmexpress:uuid:"
					  "6c7a2f4e-1b3d-4c5e-8f9a-0b1c2d3e4f50",
			       .hostid = { 0x6c, 0x7a, 0x2f, 0x4e, 0x1b, 0x3d, 0x4c, 0x5e,
					   0x8f, 0x9a, 0x0b, 0x1c, 0x2d, 0x3e, 0x4f, 0x50 },
			       .nr_io_queues = 1, .queue_size = 32, .hdgst = true, .ddgst = true,
			       /* cv-storaged wants keep alive; each test ends well before. */
			       .kato_ms = 60000,
			       .connect_timeout_ms = 5000, .reconnect_timeout_ms = 5000 };
	struct vblk_config vc = { .serial = "volvblktest", .queues = 1 };
	char port[8];
	int pipefd[2];

	(void)state;
	memset(&t, 0, sizeof(t));
	t.fd = -1;
	snprintf(t.dir, sizeof(t.dir), "/tmp/cv-vblk.XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.sock, sizeof(t.sock), "%s/vblk.sock", t.dir);
	snprintf(t.volfile, sizeof(t.volfile), "%s/%s.vol", t.dir, VOL_ID);
	assert_int_equal(volume_file_create(t.dir, VOL_ID, VOL_BLOCKS * 4096ull), 0);
	/* cv-storaged in a child: its signal mask and loop are its own. */
	assert_int_equal(pipe(pipefd), 0);
	t.storaged = fork();
	assert_true(t.storaged >= 0);
	if (!t.storaged) {
		static struct storaged sd;
		uint16_t p = 0;

		/* Gone with the test, whatever way the test ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pipefd[0]);
		if (!storaged_init(&sd, t.dir, "127.0.0.1", 0))
			p = storaged_port(&sd);
		if (write(pipefd[1], &p, sizeof(p)) != sizeof(p) || !p)
			_exit(1);
		close(pipefd[1]);
		storaged_run(&sd);
		storaged_exit(&sd);
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &t.port, sizeof(t.port)), sizeof(t.port));
	close(pipefd[0]);
	assert_int_not_equal(t.port, 0);
	snprintf(port, sizeof(port), "%u", t.port);
	o.port = port;
	assert_int_equal(nvmf_ctrl_connect(&o, &t.nvmf), 0);
	assert_int_equal(ebs_datapath_create(&t.dp, t.nvmf, key, &(struct qos_limits){ 0 }), 0);
	vc.path = t.sock;
	vc.blocks = nvmf_ctrl_info(t.nvmf)->nsze;
	vc.max_xfer = nvmf_ctrl_info(t.nvmf)->max_xfer;
	vc.dp = t.dp;
	assert_int_equal(vblk_open(&t.vb, &vc), 0);
	t.memfd = memfd_create("vblk-guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(t.memfd, RAM_SIZE), 0);
	t.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t.memfd, 0);
	assert_true(t.ram != MAP_FAILED);
	t.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fe_connect();
	return 0;
}

static int teardown(void **state)
{
	char path[160];

	(void)state;
	if (t.fd >= 0)
		close(t.fd);
	vblk_close(t.vb);
	ebs_datapath_destroy(t.dp);
	nvmf_ctrl_free(t.nvmf);
	kill(t.storaged, SIGKILL);
	waitpid(t.storaged, NULL, 0);
	munmap(t.ram, RAM_SIZE);
	close(t.memfd);
	close(t.kick);
	close(t.call);
	unlink(t.volfile);
	snprintf(path, sizeof(path), "%s/%s", t.dir, "vblk.sock");
	unlink(path);
	rmdir(t.dir);
	return 0;
}

static void test_config_space(void **state)
{
	struct vhost_user_config c = { .offset = 0, .size = 60 };
	struct virtio_blk_config cfg;

	(void)state;
	fe_send(VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + c.size, NULL);
	assert_int_equal(fe_reply(VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 60), 0);
	memcpy(&cfg, c.region, 60);
	assert_int_equal(cfg.capacity, VOL_BLOCKS * 8);
	assert_int_equal(cfg.blk_size, 4096);
	assert_int_equal(cfg.size_max, 4096);
	assert_true(cfg.seg_max >= 1 && cfg.seg_max <= VIRTQ_MAX_SEGS - 2);
	assert_int_equal(cfg.num_queues, 1);
	assert_int_equal(cfg.discard_sector_alignment, 8);
	assert_int_equal(cfg.max_discard_seg, VBLK_MAX_DISCARD_SEG);
	assert_int_equal(cfg.max_write_zeroes_seg, 1);
	/* A window past the device's fields reads as zeroes. */
	c = (struct vhost_user_config){ .offset = 64, .size = 192 };
	memset(c.region, 0xaa, sizeof(c.region));
	fe_send(VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + c.size, NULL);
	assert_int_equal(fe_reply(VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 192), 0);
	assert_int_equal(c.region[0], 0);     /* max_secure_erase_seg: not offered */
	assert_int_equal(c.region[8], 0);
	assert_int_equal(c.region[191], 0);
	/* Writes are refused, the front-end stays. */
	c = (struct vhost_user_config){ .offset = 32, .size = 1 };
	fe_send(VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 1, NULL);
	assert_true(fe_get_u64(VHOST_USER_GET_FEATURES) & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/* A window that does not match its payload, or runs past 256 bytes:
	 * GET_CONFIG needs an answer we cannot give, so the front-end goes. */
	c = (struct vhost_user_config){ .offset = 250, .size = 10 };
	fe_send(VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 10, NULL);
	assert_int_equal(fe_reply(VHOST_USER_GET_CONFIG, &c, 0), -1);
	fe_close();
	fe_connect();
	c = (struct vhost_user_config){ .offset = 0, .size = 60 };
	fe_send(VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 30, NULL);
	assert_int_equal(fe_reply(VHOST_USER_GET_CONFIG, &c, 0), -1);
}

static void test_io(void **state)
{
	uint8_t *data = t.ram + DATA_OFF;
	uint32_t len;
	static uint8_t want[3 * 4096], file[VOL_BLOCKS * 4096];
	FILE *f;

	(void)state;
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + i / 4096);
	memcpy(data, want, sizeof(want));
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 8 * 10, sizeof(want), &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
	assert_int_equal(request(VIRTIO_BLK_T_FLUSH, 0, 0, &len), VIRTIO_BLK_S_OK);
	memset(data, 0, sizeof(want));
	assert_int_equal(request(VIRTIO_BLK_T_IN, 8 * 10, sizeof(want), &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, sizeof(want) + 1);
	assert_memory_equal(data, want, sizeof(want));
	/* The file holds ciphertext: not one block of it is the plaintext. */
	f = fopen(t.volfile, "rb");
	assert_non_null(f);
	assert_int_equal(fread(file, 1, sizeof(file), f), sizeof(file));
	fclose(f);
	for (unsigned b = 0; b < 3; b++)
		assert_memory_not_equal(file + (10 + b) * 4096, want + b * 4096, 4096);
	assert_memory_not_equal(file + 10 * 4096, (uint8_t[4096]){ 0 }, 4096);

	/* GET_ID: the serial, NUL padded to 20 bytes. */
	memset(data, 0xaa, 32);
	assert_int_equal(request(VIRTIO_BLK_T_GET_ID, 0, 20, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 21);
	assert_memory_equal(data, "volvblktest\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(data[20], 0xaa);
}

static void test_discard_and_zeroes(void **state)
{
	uint8_t *data = t.ram + DATA_OFF;
	struct virtio_blk_discard_write_zeroes s = { .sector = 8 * 20, .num_sectors = 8 };
	uint32_t len;

	(void)state;
	memset(data, 0x5a, 8192);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 8 * 20, 8192, &len), VIRTIO_BLK_S_OK);
	memcpy(data, &s, sizeof(s));
	assert_int_equal(request(VIRTIO_BLK_T_DISCARD, 0, sizeof(s), &len), VIRTIO_BLK_S_OK);
	s.sector = 8 * 21;
	s.flags = VIRTIO_BLK_WZ_F_UNMAP;
	memcpy(data, &s, sizeof(s));
	assert_int_equal(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(s), &len), VIRTIO_BLK_S_OK);
	memset(data, 0xff, 8192);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 8 * 20, 8192, &len), VIRTIO_BLK_S_OK);
	assert_memory_equal(data, (uint8_t[8192]){ 0 }, 8192);
	/* Unmap on a discard is UNSUPP. */
	memcpy(data, &s, sizeof(s));
	assert_int_equal(request(VIRTIO_BLK_T_DISCARD, 0, sizeof(s), &len), VIRTIO_BLK_S_UNSUPP);
}

static void test_bad_requests(void **state)
{
	uint32_t len;
	struct vblk_stats st;

	(void)state;
	assert_int_equal(request(VIRTIO_BLK_T_IN, 4, 4096, &len), VIRTIO_BLK_S_IOERR);
	assert_int_equal(len, 1);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 8 * VOL_BLOCKS, 4096, &len), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 0, 1000, &len), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_GET_LIFETIME, 0, 0, &len), VIRTIO_BLK_S_UNSUPP);
	vblk_stats(t.vb, &st);
	assert_int_equal(st.ioerr, 3);
	assert_int_equal(st.unsupp, 1);
	/* And the device goes on. */
	assert_int_equal(request(VIRTIO_BLK_T_IN, 0, 4096, &len), VIRTIO_BLK_S_OK);
}

/* A read long enough to be in flight when the test acts. */
#define LONG_READ 65536

/*
 * Chain 0..2 (header, LONG_READ bytes at DATA_OFF, status) reads @sector;
 * made available as avail entry @slot; the status byte set to 0xff.
 */
static void put_long_read(uint64_t sector, uint16_t slot)
{
	struct virtq_desc *d = (void *)(t.ram + DESC_OFF);
	struct virtq_avail *av = (void *)(t.ram + AVAIL_OFF);
	struct virtio_blk_outhdr *h = (void *)(t.ram + HDR_OFF);

	memset(t.ram + DATA_OFF, 0, LONG_READ);
	*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = sector };
	t.ram[HDR_OFF + 64] = 0xff;
	d[0] = (struct virtq_desc){ HDR_OFF, sizeof(*h), VIRTQ_DESC_F_NEXT, 1 };
	d[1] = (struct virtq_desc){ DATA_OFF, LONG_READ, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 };
	d[2] = (struct virtq_desc){ HDR_OFF + 64, 1, VIRTQ_DESC_F_WRITE, 0 };
	av->ring[slot] = 0;
}

/* Make @n entries available, kick, let the card take them and send what it must. */
static void kick_avail(uint16_t n)
{
	struct virtq_avail *av = (void *)(t.ram + AVAIL_OFF);
	uint64_t one = 1;

	__atomic_store_n(&av->idx, n, __ATOMIC_RELEASE);
	assert_int_equal(write(t.kick, &one, sizeof(one)), sizeof(one));
	assert_int_equal(vblk_process(t.vb), 0);
	ebs_datapath_flush(t.dp);
}

/* Let cv-storaged's answers to released requests arrive: they touch nothing. */
static void drain_released(void)
{
	for (int i = 0; i < 200; i++) {
		struct pollfd p = { .fd = nvmf_queue_fd(nvmf_ctrl_queue(t.nvmf, 0)),
				    .events = POLLIN };

		if (poll(&p, 1, 5) == 1)
			nvmf_queue_process(nvmf_ctrl_queue(t.nvmf, 0));
	}
}

/* The long read completed as used entry @slot, with @pattern in the data. */
static void assert_long_read_done(uint16_t slot, uint8_t pattern)
{
	struct virtq_used *used = (void *)(t.ram + USED_OFF);

	assert_int_equal(used->idx, slot + 1);
	assert_int_equal(used->ring[slot].id, 0);
	assert_int_equal(used->ring[slot].len, LONG_READ + 1);
	assert_int_equal(t.ram[HDR_OFF + 64], VIRTIO_BLK_S_OK);
	assert_int_equal(t.ram[DATA_OFF], pattern);
	assert_int_equal(t.ram[DATA_OFF + LONG_READ - 1], pattern);
	/* And nothing after it. */
	t.used_seen = slot + 1;
	assert_false(pump());
}

/* LONG_READ bytes of @pattern at @sector, then a new connection with an inflight buffer. */
static void inflight_connect(int *inflight, uint64_t sector, uint8_t pattern)
{
	uint32_t len;

	memset(t.ram + DATA_OFF, pattern, LONG_READ);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, sector, LONG_READ, &len), VIRTIO_BLK_S_OK);
	fe_close();
	*inflight = -1;
	fe_connect_inflight(inflight, 0);
}

/* A front-end gone with a request in flight: the completion touches
 * nothing of the old memory, and the next front-end is served. */
static void test_disconnect_in_flight(void **state)
{
	struct vblk_stats st;
	uint32_t len;

	(void)state;
	put_long_read(0, 0);
	kick_avail(1);
	fe_close();
	vblk_stats(t.vb, &st);
	assert_int_equal(st.released, 1);
	drain_released();
	fe_connect();
	assert_int_equal(request(VIRTIO_BLK_T_IN, 0, 4096, &len), VIRTIO_BLK_S_OK);
}

/*
 * With the inflight buffer (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) a
 * request in flight when the connection ends is not lost.  The driver
 * made A (a read, in the datapath) and B (GET_ID, answered at once)
 * available; B completed, A did not.  A front-end resumes a lost back-end
 * at used.idx (QEMU does), which in the avail ring is B again: without
 * the buffer B would be done twice and A never.  With it the card finds A
 * marked, submits it again, resumes the avail ring after both, and A
 * completes into the guest.
 */
static void test_inflight_resubmitted(void **state)
{
	struct virtq_desc *d = (void *)(t.ram + DESC_OFF);
	struct virtq_avail *av = (void *)(t.ram + AVAIL_OFF);
	struct virtq_used *used = (void *)(t.ram + USED_OFF);
	struct virtio_blk_outhdr *h2 = (void *)(t.ram + HDR_OFF + 128);
	int inflight;

	(void)state;
	inflight_connect(&inflight, 0, 0x5a);
	put_long_read(0, 0);
	*h2 = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_GET_ID };
	d[3] = (struct virtq_desc){ HDR_OFF + 128, sizeof(*h2), VIRTQ_DESC_F_NEXT, 4 };
	d[4] = (struct virtq_desc){ DATA_OFF + LONG_READ, 20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5 };
	d[5] = (struct virtq_desc){ HDR_OFF + 192, 1, VIRTQ_DESC_F_WRITE, 0 };
	av->ring[1] = 3;
	kick_avail(2);
	assert_int_equal(used->idx, 1);
	assert_int_equal(used->ring[0].id, 3);
	fe_close();
	drain_released();
	assert_int_equal(used->idx, 1);
	assert_int_equal(t.ram[HDR_OFF + 64], 0xff);
	/* Back, at used.idx as QEMU resumes a back-end it lost. */
	t.used_seen = 1;
	fe_connect_inflight(&inflight, 1);
	assert_true(pump());
	assert_long_read_done(1, 0x5a);
	close(inflight);
}

/*
 * A new memory table under a running ring releases the requests in
 * flight (their buffers lay in the old mapping); with the inflight buffer
 * they are resubmitted through the new one and complete.
 */
static void test_inflight_new_mem_table(void **state)
{
	struct vhost_user_memory m = { .nregions = 1 };
	struct vblk_stats st;
	int inflight;

	(void)state;
	inflight_connect(&inflight, 8, 0xa5);
	put_long_read(8, 0);
	kick_avail(1);
	/* The same RAM again, as a front-end re-sends its table. */
	m.regions[0] = (struct vhost_user_mem_region){ .guest_phys_addr = 0, .memory_size = RAM_SIZE,
						       .userspace_addr = (uintptr_t)t.ram };
	fe_send(VHOST_USER_SET_MEM_TABLE, &m, 8 + sizeof(m.regions[0]), &t.memfd);
	vblk_stats(t.vb, &st);
	assert_int_equal(st.released, 1);
	assert_true(pump());
	assert_long_read_done(0, 0xa5);
	close(inflight);
}

/*
 * More chains than a queue may have in the datapath: the card stops
 * reading the ring at its depth and comes back as requests complete.
 */
static void test_queue_depth(void **state)
{
	struct virtq_desc *d = (void *)(t.ram + DESC_OFF);
	struct virtq_avail *av = (void *)(t.ram + AVAIL_OFF);
	struct virtq_used *used = (void *)(t.ram + USED_OFF);
	struct virtio_blk_outhdr *h = (void *)(t.ram + HDR_OFF);
	const uint16_t n = 300;
	struct vblk_stats st;
	uint64_t one = 1;

	(void)state;
	*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 8 };
	for (uint16_t i = 0; i < n; i++) {
		uint16_t head = (uint16_t)(3 * i);

		d[head] = (struct virtq_desc){ HDR_OFF, sizeof(*h), VIRTQ_DESC_F_NEXT, head + 1 };
		d[head + 1] = (struct virtq_desc){ DATA_OFF, 4096,
						   VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, head + 2 };
		d[head + 2] = (struct virtq_desc){ STATUS_OFF + i, 1, VIRTQ_DESC_F_WRITE, 0 };
		av->ring[i] = head;
		t.ram[STATUS_OFF + i] = 0xff;
	}
	__atomic_store_n(&av->idx, n, __ATOMIC_RELEASE);
	assert_int_equal(write(t.kick, &one, sizeof(one)), sizeof(one));
	assert_int_equal(vblk_process(t.vb), 0);
	vblk_stats(t.vb, &st);
	assert_int_equal(st.requests, 256);
	while ((t.used_seen = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE)) != n)
		assert_true(pump());
	vblk_stats(t.vb, &st);
	assert_int_equal(st.requests, n);
	for (uint16_t i = 0; i < n; i++)
		assert_int_equal(t.ram[STATUS_OFF + i], VIRTIO_BLK_S_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_read_write),
		cmocka_unit_test(test_parse_layouts),
		cmocka_unit_test(test_parse_discard_write_zeroes),
		cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_and_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_resubmitted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_new_mem_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_depth, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
