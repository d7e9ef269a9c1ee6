/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vfio-user message codec (tools/lib/vfio_user) over real UNIX socket
 * pairs: framing with SCM_RIGHTS fds, headers whose size or fd count is out
 * of bounds, commands the protocol does not define, error replies, VERSION
 * payloads; and no fd leaks on any of those paths.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/lib/vfio_user.h"

#define HDR sizeof(struct vfio_user_header)

static int sp[2];

static int setup(void **state)
{
	(void)state;
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
}

static int teardown(void **state)
{
	(void)state;
	close(sp[0]);
	close(sp[1]);
	return 0;
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Raw bytes onto the wire, header included, as a misbehaving peer would. */
static void raw_send(const void *buf, size_t len, const int *fds, unsigned nr_fds)
{
	char ctl[CMSG_SPACE(sizeof(int) * 253)] = { 0 };
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nr_fds) {
		struct cmsghdr *c;

		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nr_fds);
	}
	assert_int_equal(sendmsg(sp[0], &mh, 0), (ssize_t)len);
}

static void test_round_trip_with_fds(void **state)
{
	struct vfio_user_dma_map map = { .argsz = sizeof(map), .flags = 3,
					 .offset = 0x1000, .address = 1ULL << 32,
					 .size = 0x200000 };
	struct vfio_user_header h = { .msg_id = 42, .command = VFIO_USER_DMA_MAP };
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 5;
	struct vfu_msg m;

	(void)state;
	assert_true(efd >= 0);
	assert_int_equal(vfu_send(sp[0], &h, &map, sizeof(map), &efd, 1), 0);
	assert_int_equal(vfu_recv(sp[1], &m), 0);
	assert_int_equal(m.hdr.msg_id, 42);
	assert_int_equal(m.hdr.command, VFIO_USER_DMA_MAP);
	assert_int_equal(m.hdr.msg_size, HDR + sizeof(map));
	assert_int_equal(m.len, sizeof(map));
	assert_memory_equal(m.payload, &map, sizeof(map));
	assert_int_equal(vfu_msg_check(&m), 0);
	/* The fd that arrived is the same eventfd. */
	assert_int_equal(m.nr_fds, 1);
	assert_int_equal(write(m.fds[0], &v, sizeof(v)), sizeof(v));
	v = 0;
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 5);
	vfu_msg_release(&m);
	close(efd);
}

static void test_header_sizes(void **state)
{
	struct vfio_user_header h = { .command = VFIO_USER_DEVICE_RESET };
	struct vfu_msg m;

	(void)state;
	/* Shorter than its own header. */
	h.msg_size = HDR - 1;
	raw_send(&h, HDR, NULL, 0);
	assert_int_equal(vfu_recv(sp[1], &m), -EBADMSG);
	/* Larger than any message we accept: refused before allocating. */
	h.msg_size = VFU_MAX_MSG_SIZE + 1;
	raw_send(&h, HDR, NULL, 0);
	assert_int_equal(vfu_recv(sp[1], &m), -EBADMSG);
	h.msg_size = UINT32_MAX;
	raw_send(&h, HDR, NULL, 0);
	assert_int_equal(vfu_recv(sp[1], &m), -EBADMSG);
}

static void test_truncated_message(void **state)
{
	uint8_t buf[HDR + 10] = { 0 };
	struct vfio_user_header h = { .command = VFIO_USER_REGION_WRITE,
				      .msg_size = HDR + 32 };
	int efd = eventfd(0, EFD_CLOEXEC);
	unsigned before;
	struct vfu_msg m;

	(void)state;
	before = open_fds();
	memcpy(buf, &h, HDR);
	raw_send(buf, sizeof(buf), &efd, 1);
	close(sp[0]);
	/* The peer went away mid-message: an error, and its fd is not kept. */
	assert_int_equal(vfu_recv(sp[1], &m), -ECONNRESET);
	close(efd);
	assert_int_equal(open_fds(), before - 2);
	sp[0] = -1;
}

/* Writes a header announcing 1000 payload bytes, then one byte every 50 ms. */
static void *trickle(void *arg)
{
	struct vfio_user_header h = { .command = VFIO_USER_REGION_WRITE, .msg_size = HDR + 1000 };
	int fd = *(int *)arg;
	char b = 0;

	if (send(fd, &h, HDR, MSG_NOSIGNAL) != HDR)
		return NULL;
	for (int i = 0; i < 1000; i++) {
		struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };

		if (send(fd, &b, 1, MSG_NOSIGNAL) != 1)
			break;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/*
 * A peer that sends a byte at a time never lets a per-piece wait expire;
 * the message as a whole must arrive within VFU_IO_TIMEOUT_MS or it is
 * -ETIMEDOUT (the trickle would take 50 s).  On a blocking socket too.
 */
static void test_trickling_peer_times_out(void **state)
{
	pthread_t t;
	struct vfu_msg m;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, trickle, &sp[0]), 0);
	assert_int_equal(vfu_recv(sp[1], &m), -ETIMEDOUT);
	/* Stop the writer: it gets EPIPE once the reading end is gone. */
	close(sp[1]);
	sp[1] = -1;
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_too_many_fds(void **state)
{
	struct vfio_user_header h = { .command = VFIO_USER_DEVICE_SET_IRQS, .msg_size = HDR };
	int fds[VFU_MAX_FDS + 6];
	unsigned before = open_fds();
	struct vfu_msg m;

	(void)state;
	for (unsigned i = 0; i < VFU_MAX_FDS + 6; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	/* vfu_send will not send them ... */
	assert_int_equal(vfu_send(sp[0], &h, NULL, 0, fds, VFU_MAX_FDS + 1), -EINVAL);
	/* ... and what a peer sends past VFU_MAX_FDS is refused, none leaked. */
	raw_send(&h, HDR, fds, VFU_MAX_FDS + 6);
	for (unsigned i = 0; i < VFU_MAX_FDS + 6; i++)
		close(fds[i]);
	assert_int_equal(vfu_recv(sp[1], &m), -EBADMSG);
	assert_int_equal(open_fds(), before);
}

/* A received message as vfu_recv() would hand it over. */
static struct vfu_msg msg(unsigned cmd, uint32_t flags, uint32_t len, unsigned nr_fds)
{
	static uint8_t payload[256];
	struct vfu_msg m = {
		.hdr = { .command = (uint16_t)cmd, .flags = flags,
			 .msg_size = (uint32_t)HDR + len },
		.payload = payload, .len = len, .nr_fds = nr_fds,
	};

	return m;
}

static void test_check_commands(void **state)
{
	const uint32_t cmd = VFIO_USER_F_TYPE_COMMAND;
	struct vfu_msg m;

	(void)state;
	/* Commands this version does not define, or that we never serve. */
	m = msg(0, cmd, 0, 0);
	assert_int_equal(vfu_msg_check(&m), -EOPNOTSUPP);
	m = msg(14, cmd, 0, 0);
	assert_int_equal(vfu_msg_check(&m), -EOPNOTSUPP);
	m = msg(999, cmd, 0, 0);
	assert_int_equal(vfu_msg_check(&m), -EOPNOTSUPP);
	m = msg(VFIO_USER_DMA_READ, cmd, 16, 0);
	assert_int_equal(vfu_msg_check(&m), -EOPNOTSUPP);
	/* Message types 2..15 and undefined flag bits. */
	m = msg(VFIO_USER_DEVICE_RESET, 2, 0, 0);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_DEVICE_RESET, cmd | 1u << 6, 0, 0);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_DEVICE_RESET, cmd | VFIO_USER_F_NO_REPLY, 0, 0);
	assert_int_equal(vfu_msg_check(&m), 0);
	/* msg_size must agree with the payload. */
	m = msg(VFIO_USER_DEVICE_RESET, cmd, 0, 0);
	m.hdr.msg_size++;
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
}

static void test_check_sizes_and_fds(void **state)
{
	const uint32_t cmd = VFIO_USER_F_TYPE_COMMAND, reply = VFIO_USER_F_TYPE_REPLY;
	struct vfu_msg m;

	(void)state;
	/* Each command's fixed part, one byte short. */
	m = msg(VFIO_USER_DMA_MAP, cmd, sizeof(struct vfio_user_dma_map) - 1, 1);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_REGION_READ, cmd, sizeof(struct vfio_user_region_access) - 1, 0);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_DEVICE_SET_IRQS, cmd, sizeof(struct vfio_user_irq_set) - 1, 0);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_VERSION, cmd, 3, 0);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_DEVICE_GET_INFO, reply, sizeof(struct vfio_user_device_info) - 1, 0);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	/* fds where the message carries none, or more than it can. */
	m = msg(VFIO_USER_DMA_MAP, cmd, sizeof(struct vfio_user_dma_map), 2);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_DMA_MAP, cmd, sizeof(struct vfio_user_dma_map), 1);
	assert_int_equal(vfu_msg_check(&m), 0);
	m = msg(VFIO_USER_REGION_WRITE, cmd, sizeof(struct vfio_user_region_access) + 4, 1);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_DEVICE_SET_IRQS, cmd, sizeof(struct vfio_user_irq_set), 3);
	assert_int_equal(vfu_msg_check(&m), 0);
	m = msg(VFIO_USER_DEVICE_SET_IRQS, reply, 0, 1);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_DEVICE_GET_REGION_IO_FDS, reply,
		sizeof(struct vfio_user_region_io_fds), 4);
	assert_int_equal(vfu_msg_check(&m), 0);
	m = msg(VFIO_USER_DEVICE_GET_REGION_IO_FDS, cmd,
		sizeof(struct vfio_user_region_io_fds), 1);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	/* An error reply is the header alone. */
	m = msg(VFIO_USER_REGION_READ, reply | VFIO_USER_F_ERROR, 0, 0);
	assert_int_equal(vfu_msg_check(&m), 0);
	m = msg(VFIO_USER_REGION_READ, reply | VFIO_USER_F_ERROR, 4, 0);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
	m = msg(VFIO_USER_DEVICE_GET_REGION_INFO, reply | VFIO_USER_F_ERROR, 0, 1);
	assert_int_equal(vfu_msg_check(&m), -EINVAL);
}

/* Queue a reply on the peer's side before the call, then make the call. */
static int call_with_reply(const struct vfio_user_header *h, const void *payload,
			   size_t len, int *error, struct vfu_msg *reply)
{
	struct vfu_msg req;
	int ret;

	assert_int_equal(vfu_send(sp[0], h, payload, len, NULL, 0), 0);
	ret = vfu_call(sp[1], 7, VFIO_USER_DEVICE_GET_INFO, &(struct vfio_user_device_info){
		.argsz = 16 }, sizeof(struct vfio_user_device_info), NULL, 0, reply, error);
	assert_int_equal(vfu_recv(sp[0], &req), 0);
	assert_int_equal(req.hdr.msg_id, 7);
	assert_int_equal(vfu_msg_check(&req), 0);
	vfu_msg_release(&req);
	return ret;
}

static void test_call_replies(void **state)
{
	struct vfio_user_device_info info = { .argsz = 16, .num_regions = 9 };
	struct vfio_user_header h = { .msg_id = 7, .command = VFIO_USER_DEVICE_GET_INFO,
				      .flags = VFIO_USER_F_TYPE_REPLY };
	struct vfu_msg reply;
	int error;

	(void)state;
	assert_int_equal(call_with_reply(&h, &info, sizeof(info), &error, &reply), 0);
	assert_int_equal(error, 0);
	assert_int_equal(((struct vfio_user_device_info *)reply.payload)->num_regions, 9);
	vfu_msg_release(&reply);
	/* An error reply: the call worked, the command did not. */
	h.flags |= VFIO_USER_F_ERROR;
	h.error = ENOENT;
	assert_int_equal(call_with_reply(&h, NULL, 0, &error, &reply), 0);
	assert_int_equal(error, -ENOENT);
	h.error = 0;
	assert_int_equal(call_with_reply(&h, NULL, 0, &error, &reply), 0);
	assert_int_equal(error, -EIO);
	/* A reply to another message, another command, or too short: protocol broken. */
	h = (struct vfio_user_header){ .msg_id = 8, .command = VFIO_USER_DEVICE_GET_INFO,
				       .flags = VFIO_USER_F_TYPE_REPLY };
	assert_int_equal(call_with_reply(&h, &info, sizeof(info), &error, &reply), -EBADMSG);
	h.msg_id = 7;
	h.command = VFIO_USER_DEVICE_RESET;
	assert_int_equal(call_with_reply(&h, &info, sizeof(info), &error, &reply), -EBADMSG);
	h.command = VFIO_USER_DEVICE_GET_INFO;
	assert_int_equal(call_with_reply(&h, &info, 8, &error, &reply), -EBADMSG);
	/* A command where a reply belongs. */
	h.flags = VFIO_USER_F_TYPE_COMMAND;
	assert_int_equal(call_with_reply(&h, &info, sizeof(info), &error, &reply), -EBADMSG);
}

static struct vfu_msg version_msg(const char *json, size_t json_len, uint16_t major)
{
	static uint8_t buf[256];
	struct vfio_user_version *v = (void *)buf;

	v->major = major;
	v->minor = 1;
	memcpy(v->data, json, json_len);
	return (struct vfu_msg){ .hdr = { .command = VFIO_USER_VERSION,
					  .msg_size = (uint32_t)(HDR + sizeof(*v) + json_len) },
				 .payload = buf, .len = (uint32_t)(sizeof(*v) + json_len) };
}

static void test_version(void **state)
{
	uint8_t buf[VFU_VERSION_SIZE];
	uint32_t fds, xfer;
	uint16_t minor;
	struct vfu_msg m;
	const char *j;

	(void)state;
	/* What we build, we parse back. */
	m = (struct vfu_msg){ .payload = buf, .len = (uint32_t)vfu_version_build(buf, 1) };
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), 0);
	assert_int_equal(minor, 1);
	assert_int_equal(fds, VFU_MAX_FDS);
	assert_int_equal(xfer, VFU_MAX_DATA_XFER);
	/* No JSON: the spec's defaults. */
	m = version_msg("", 0, 0);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), 0);
	assert_int_equal(fds, 1);
	assert_int_equal(xfer, 1u << 20);
	/* Another major version. */
	m = version_msg("", 0, 1);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), -ENOTSUP);
	/* Not NUL-terminated, NUL inside, not JSON, wrong types, out of range. */
	j = "{\"capabilities\":{}}";
	m = version_msg(j, strlen(j), 0);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), -EINVAL);
	m = version_msg("{}\0{}", 6, 0);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), -EINVAL);
	m = version_msg("capabilities", 13, 0);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), -EINVAL);
	j = "{\"capabilities\":{\"max_msg_fds\":\"8\"}}";
	m = version_msg(j, strlen(j) + 1, 0);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), -EINVAL);
	j = "{\"capabilities\":{\"max_msg_fds\":0}}";
	m = version_msg(j, strlen(j) + 1, 0);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), -EINVAL);
	j = "{\"capabilities\":[]}";
	m = version_msg(j, strlen(j) + 1, 0);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), -EINVAL);
	/* Unknown capabilities are ignored. */
	j = "{\"capabilities\":{\"max_msg_fds\":8,\"migration\":{}}}";
	m = version_msg(j, strlen(j) + 1, 0);
	assert_int_equal(vfu_version_parse(&m, &minor, &fds, &xfer), 0);
	assert_int_equal(fds, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_with_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trickling_peer_times_out, setup, teardown),
		cmocka_unit_test(test_check_commands),
		cmocka_unit_test(test_check_sizes_and_fds),
		cmocka_unit_test_setup_teardown(test_call_replies, setup, teardown),
		cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
