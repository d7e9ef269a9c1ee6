/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vhost-user-net back-end (cards/vpc/vhost_user.c + vnet.c) driven by a
 * front-end written here that speaks the real protocol over a real UNIX
 * socket, shares a memfd as guest memory and plays the virtio driver on
 * the rings: negotiation, frames both ways with eventfd kicks and calls,
 * malformed requests, and a front-end that goes away and comes back.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "cards/vpc/vnet.h"
#include "tests/tools/vpc_frames.h"

#define RAM_SIZE (1U << 20)
#define RAM_GPA 0x40000000ULL
#define QSIZE 256
/* Ring q's parts at RING_OFF(q) + 0 / 0x1000 / 0x2000; data from DATA_OFF. */
#define RING_OFF(q) (0x4000ULL * (q))
#define DATA_OFF 0x20000ULL

struct fe {
	int sock;
	int memfd;
	uint8_t *ram;
	int kick[4], call[4];
	uint16_t avail_idx[4], used_seen[4];
};

static struct vnet net;
static char sock_path[64];
static struct {
	bool echo; /* send each frame back with vnet_rx, from inside the callback */
	unsigned count;
	size_t len;
	uint8_t frame[2048];
} txd;

static void on_tx(void *opaque, const uint8_t *frame, size_t len)
{
	assert_ptr_equal(opaque, &txd);
	txd.count++;
	txd.len = len;
	memcpy(txd.frame, frame, len < sizeof(txd.frame) ? len : sizeof(txd.frame));
	if (txd.echo)
		assert_int_equal(vnet_rx(&net, frame, len), 0);
}

static void serve(void)
{
	assert_int_equal(vnet_process(&net), 0);
}

static void fe_send_fds(struct fe *fe, uint32_t req, uint32_t flags, const void *payload,
			uint32_t size, const int *fds, unsigned nfds)
{
	struct vhost_user_hdr h = { .request = req, .flags = VHOST_USER_VERSION | flags,
				    .size = size };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} c;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	if (nfds) {
		struct cmsghdr *cm;

		msg.msg_control = c.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(fe->sock, &msg, MSG_NOSIGNAL), sizeof(h) + size);
}

static void fe_send(struct fe *fe, uint32_t req, const void *payload, uint32_t size)
{
	fe_send_fds(fe, req, 0, payload, size, NULL, 0);
}

/* The back-end's reply to @req, its payload in @out (@size bytes expected). */
static void fe_reply(struct fe *fe, uint32_t req, void *out, uint32_t size)
{
	struct vhost_user_hdr h;

	serve();
	assert_int_equal(recv(fe->sock, &h, sizeof(h), MSG_DONTWAIT), sizeof(h));
	assert_int_equal(h.request, req);
	assert_int_equal(h.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
	assert_int_equal(h.size, size);
	assert_int_equal(recv(fe->sock, out, size, MSG_DONTWAIT), size);
}

/* Send with NEED_REPLY; the REPLY_ACK status (0 = success). */
static uint64_t fe_ack_fds(struct fe *fe, uint32_t req, const void *payload, uint32_t size,
			   const int *fds, unsigned nfds)
{
	uint64_t status = 0xdead;

	fe_send_fds(fe, req, VHOST_USER_NEED_REPLY_MASK, payload, size, fds, nfds);
	fe_reply(fe, req, &status, sizeof(status));
	return status;
}

static uint64_t fe_ack(struct fe *fe, uint32_t req, const void *payload, uint32_t size)
{
	return fe_ack_fds(fe, req, payload, size, NULL, 0);
}

static uint64_t fe_get_u64(struct fe *fe, uint32_t req)
{
	uint64_t v;

	fe_send(fe, req, NULL, 0);
	fe_reply(fe, req, &v, sizeof(v));
	return v;
}

static uint64_t fe_set_u64(struct fe *fe, uint32_t req, uint64_t v)
{
	return fe_ack(fe, req, &v, sizeof(v));
}

static uint64_t fe_vring(struct fe *fe, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state st = { .index = index, .num = num };

	return fe_ack(fe, req, &st, sizeof(st));
}

/* True when the back-end hung up on us. */
static bool fe_dropped(struct fe *fe)
{
	char b;

	serve();
	return recv(fe->sock, &b, 1, MSG_DONTWAIT) == 0;
}

static void fe_connect(struct fe *fe)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(fe, 0, sizeof(*fe));
	for (int q = 0; q < 4; q++)
		fe->kick[q] = fe->call[q] = -1;
	fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fe->sock >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	assert_int_equal(connect(fe->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	serve();
	assert_true(vu_connected(&net.vu));
	fe->memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_true(fe->memfd >= 0);
	assert_int_equal(ftruncate(fe->memfd, RAM_SIZE), 0);
	fe->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fe->memfd, 0);
	assert_true(fe->ram != MAP_FAILED);
}

static void fe_close(struct fe *fe)
{
	close(fe->sock);
	serve();
	assert_false(vu_connected(&net.vu));
	munmap(fe->ram, RAM_SIZE);
	close(fe->memfd);
	for (int q = 0; q < 4; q++) {
		if (fe->kick[q] >= 0)
			close(fe->kick[q]);
		if (fe->call[q] >= 0)
			close(fe->call[q]);
	}
}

static uint64_t uaddr(struct fe *fe, uint64_t off)
{
	return (uint64_t)(uintptr_t)(fe->ram + off);
}

static struct vhost_user_memory one_region(struct fe *fe)
{
	struct vhost_user_memory m = { .nregions = 1 };

	m.regions[0] = (struct vhost_user_mem_region){
		.guest_phys_addr = RAM_GPA, .memory_size = RAM_SIZE,
		.userspace_addr = uaddr(fe, 0), .mmap_offset = 0,
	};
	return m;
}

static uint64_t fe_mem_table(struct fe *fe, const struct vhost_user_memory *m, unsigned nfds)
{
	int fds[16];

	for (unsigned i = 0; i < nfds; i++)
		fds[i] = fe->memfd;
	return fe_ack_fds(fe, VHOST_USER_SET_MEM_TABLE, m, 8 + m->nregions * 32, fds, nfds);
}

static uint64_t fe_ring_addr(struct fe *fe, unsigned q, uint64_t desc)
{
	struct vhost_user_vring_addr a = {
		.index = q,
		.desc_user_addr = desc,
		.avail_user_addr = uaddr(fe, RING_OFF(q) + 0x1000),
		.used_user_addr = uaddr(fe, RING_OFF(q) + 0x2000),
	};

	return fe_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a));
}

static uint64_t fe_ring_fd(struct fe *fe, uint32_t req, unsigned q, int fd)
{
	uint64_t v = q;

	return fe_ack_fds(fe, req, &v, sizeof(v), &fd, 1);
}

/* The whole start-up a front-end does before the driver runs. */
static void fe_start(struct fe *fe, uint64_t features, unsigned rings)
{
	struct vhost_user_memory m = one_region(fe);

	assert_int_equal(fe_get_u64(fe, VHOST_USER_GET_FEATURES) & features, features);
	assert_true(fe_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES) &
		    VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	/* Not yet acked: this SET gets no REPLY_ACK, so send it plainly. */
	{
		uint64_t pf = VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);

		fe_send(fe, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, sizeof(pf));
		serve();
	}
	assert_int_equal(fe_ack(fe, VHOST_USER_SET_OWNER, NULL, 0), 0);
	assert_int_equal(fe_set_u64(fe, VHOST_USER_SET_FEATURES,
				    features | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	assert_int_equal(fe_mem_table(fe, &m, 1), 0);
	for (unsigned q = 0; q < rings; q++) {
		memset(fe->ram + RING_OFF(q), 0, 0x4000);
		fe->avail_idx[q] = fe->used_seen[q] = 0;
		assert_int_equal(fe_vring(fe, VHOST_USER_SET_VRING_NUM, q, QSIZE), 0);
		assert_int_equal(fe_vring(fe, VHOST_USER_SET_VRING_BASE, q, 0), 0);
		assert_int_equal(fe_ring_addr(fe, q, uaddr(fe, RING_OFF(q))), 0);
		fe->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		fe->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_int_equal(fe_ring_fd(fe, VHOST_USER_SET_VRING_CALL, q, fe->call[q]), 0);
		assert_int_equal(fe_ring_fd(fe, VHOST_USER_SET_VRING_KICK, q, fe->kick[q]), 0);
		assert_null(vu_queue(&net.vu, q)); /* started, not enabled yet */
		assert_int_equal(fe_vring(fe, VHOST_USER_SET_VRING_ENABLE, q, 1), 0);
		assert_non_null(vu_queue(&net.vu, q));
	}
}

/* ---------------------------------------------------------- driver side */

static struct virtq_desc *desc(struct fe *fe, unsigned q, unsigned i)
{
	return (struct virtq_desc *)(fe->ram + RING_OFF(q)) + i;
}

static struct virtq_avail *avail(struct fe *fe, unsigned q)
{
	return (struct virtq_avail *)(fe->ram + RING_OFF(q) + 0x1000);
}

static struct virtq_used *used(struct fe *fe, unsigned q)
{
	return (struct virtq_used *)(fe->ram + RING_OFF(q) + 0x2000);
}

static void drv_avail(struct fe *fe, unsigned q, uint16_t head)
{
	avail(fe, q)->ring[fe->avail_idx[q] % QSIZE] = head;
	fe->avail_idx[q]++;
	__atomic_store_n(&avail(fe, q)->idx, fe->avail_idx[q], __ATOMIC_RELEASE);
}

static void drv_kick(struct fe *fe, unsigned q)
{
	assert_int_equal(eventfd_write(fe->kick[q], 1), 0);
	serve();
}

static bool drv_called(struct fe *fe, unsigned q)
{
	eventfd_t v;

	return eventfd_read(fe->call[q], &v) == 0;
}

static void set_desc(struct fe *fe, unsigned q, unsigned i, uint64_t off, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	*desc(fe, q, i) = (struct virtq_desc){ .addr = RAM_GPA + off, .len = len,
					       .flags = flags, .next = next };
}

/* Transmit @len bytes of frame (pattern i & 0xff) on TX queue @q. */
static void drv_tx(struct fe *fe, unsigned q, uint16_t head, size_t len)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t *data = fe->ram + DATA_OFF + head * 0x1000ULL;

	memcpy(data, &hdr, sizeof(hdr));
	for (size_t i = 0; i < len; i++)
		data[sizeof(hdr) + i] = (uint8_t)i;
	/* Header and first bytes in one descriptor, the rest in another. */
	set_desc(fe, q, head, DATA_OFF + head * 0x1000ULL, sizeof(hdr) + 10,
		 VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
	set_desc(fe, q, head + 1, DATA_OFF + head * 0x1000ULL + sizeof(hdr) + 10,
		 (uint32_t)(len - 10), 0, 0);
	drv_avail(fe, q, head);
}

/* Transmit @hdr and @frame, in one descriptor from slot @head's page on. */
static void drv_tx_frame(struct fe *fe, unsigned q, uint16_t head,
			 const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
	uint8_t *data = fe->ram + DATA_OFF + head * 0x1000ULL;

	memcpy(data, hdr, sizeof(*hdr));
	memcpy(data + sizeof(*hdr), frame, len);
	set_desc(fe, q, head, DATA_OFF + head * 0x1000ULL, (uint32_t)(sizeof(*hdr) + len), 0, 0);
	drv_avail(fe, q, head);
}

static void drv_rx_buf(struct fe *fe, unsigned q, uint16_t head, uint32_t len)
{
	set_desc(fe, q, head, DATA_OFF + 0x40000 + head * 0x1000ULL, len, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(fe, q, head);
}

static uint8_t *rx_buf(struct fe *fe, uint16_t head)
{
	return fe->ram + DATA_OFF + 0x40000 + head * 0x1000ULL;
}

/* ---------------------------------------------------------- fixtures */

static int open_net(unsigned pairs)
{
	struct vnet_config cfg = { .path = sock_path, .pairs = pairs, .tx = on_tx,
				   .opaque = &txd };

	snprintf(sock_path, sizeof(sock_path), "/tmp/cv-vu-test.%d.sock", getpid());
	memset(&txd, 0, sizeof(txd));
	return vnet_open(&net, &cfg);
}

static int setup(void **state)
{
	(void)state;
	return open_net(1);
}

static int setup_mq(void **state)
{
	(void)state;
	return open_net(2);
}

static int teardown(void **state)
{
	(void)state;
	vnet_close(&net);
	return access(sock_path, F_OK) == 0; /* the socket file is gone */
}

static const uint64_t base_features = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
				      VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
				      VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

/* ---------------------------------------------------------- tests */

static void test_negotiation(void **state)
{
	struct fe fe;
	uint64_t f, pf;

	(void)state;
	fe_connect(&fe);
	f = fe_get_u64(&fe, VHOST_USER_GET_FEATURES);
	assert_true(f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(f & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	assert_true(f & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	assert_true(f & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	/* Transmit offloads, done in the card (offload.h); none towards the guest. */
	assert_int_equal(f & (VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
			      VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6)),
			 VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
			 VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6));
	assert_false(f & (VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
			  VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO) |
			  VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) | VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO) |
			  VIRTIO_BIT(VIRTIO_NET_F_MQ) | VIRTIO_BIT(VIRTIO_F_RING_PACKED)));
	pf = fe_get_u64(&fe, VHOST_USER_GET_PROTOCOL_FEATURES);
	assert_true(pf & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	assert_false(pf & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ));
	assert_int_equal(fe_get_u64(&fe, VHOST_USER_GET_QUEUE_NUM), 1);
	{
		uint64_t ack = VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);

		fe_send(&fe, VHOST_USER_SET_PROTOCOL_FEATURES, &ack, sizeof(ack));
		serve();
	}
	/* A feature never offered is refused; offered ones are taken. */
	assert_int_not_equal(fe_set_u64(&fe, VHOST_USER_SET_FEATURES,
					VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)), 0);
	assert_int_not_equal(fe_set_u64(&fe, VHOST_USER_SET_PROTOCOL_FEATURES,
					VIRTIO_BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD)), 0);
	assert_int_equal(fe_set_u64(&fe, VHOST_USER_SET_FEATURES, base_features), 0);
	assert_true(vu_has_feature(&net.vu, VIRTIO_NET_F_MRG_RXBUF));
	fe_close(&fe);
}

static void test_tx_reaches_callback(void **state)
{
	struct fe fe;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	drv_tx(&fe, 1, 0, 60);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);
	assert_int_equal(txd.len, 60);
	for (size_t i = 0; i < 60; i++)
		assert_int_equal(txd.frame[i], (uint8_t)i);
	assert_int_equal(used(&fe, 1)->idx, 1);
	assert_int_equal(used(&fe, 1)->ring[0].id, 0);
	assert_true(drv_called(&fe, 1));
	/* avail_event asks for the next kick (EVENT_IDX). */
	{
		uint16_t avail_event;

		memcpy(&avail_event, used(&fe, 1)->ring + QSIZE, sizeof(avail_event));
		assert_int_equal(avail_event, 1);
	}

	/* Two frames, one kick. */
	drv_tx(&fe, 1, 2, 100);
	drv_tx(&fe, 1, 4, 1514);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 3);
	assert_int_equal(txd.len, 1514);
	assert_int_equal(used(&fe, 1)->idx, 3);
	assert_int_equal(net.stats.tx_frames, 3);

	/* An offload the driver did not negotiate: dropped, counted, returned. */
	drv_tx(&fe, 1, 6, 60);
	((struct virtio_net_hdr_v1 *)(fe.ram + DATA_OFF + 6 * 0x1000))->gso_type =
		VIRTIO_NET_HDR_GSO_TCPV4;
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 3);
	assert_int_equal(net.stats.tx_bad, 1);
	assert_int_equal(used(&fe, 1)->idx, 4);
	fe_close(&fe);
}

/*
 * With CSUM and HOST_TSO4 negotiated, a TSO frame reaches the callback as
 * its segments (offload.c; test_vpc_offload checks their bytes), and one
 * with an offload not negotiated is dropped under its reason.
 */
static void test_tx_offloads(void **state)
{
	static uint8_t f[VF_GSO_MAX];
	struct virtio_net_hdr_v1 hdr;
	size_t len;
	struct fe fe;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features | VIRTIO_BIT(VIRTIO_NET_F_CSUM) |
		 VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4), 2);
	len = vf_tcp_gso(f, false, TCP_ACK | TCP_PSH, 2500, 1000, &hdr);
	drv_tx_frame(&fe, 1, 8, &hdr, f, len);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 3);
	assert_int_equal(txd.len, 54 + 500);
	assert_int_equal(txd.frame[54 - 7], TCP_ACK | TCP_PSH); /* the last keeps PSH */
	assert_int_equal(net.offload.stats.gso, 1);
	assert_int_equal(net.offload.stats.segments, 3);
	assert_int_equal(net.stats.tx_frames, 1);
	assert_int_equal(used(&fe, 1)->idx, 1);

	len = vf_tcp_gso(f, true, TCP_ACK, 2500, 1000, &hdr);
	drv_tx_frame(&fe, 1, 8, &hdr, f, len);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 3);
	assert_int_equal(net.stats.tx_bad, 1);
	assert_int_equal(net.offload.stats.drops[VPC_DROP_OFFLOAD_UNNEGOTIATED], 1);
	assert_int_equal(used(&fe, 1)->idx, 2);
	fe_close(&fe);
}

static void test_rx_into_guest(void **state)
{
	struct fe fe;
	uint8_t frame[200];
	struct virtio_net_hdr_v1 hdr;

	(void)state;
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(0xa0 ^ i);
	fe_connect(&fe);
	/* No ring live yet. */
	assert_int_equal(vnet_rx(&net, frame, 100), -ENOTCONN);
	fe_start(&fe, base_features, 2);
	/* Live but no buffers: dropped and counted. */
	assert_int_equal(vnet_rx(&net, frame, 100), -ENOBUFS);
	assert_int_equal(net.stats.rx_no_buffer, 1);
	assert_false(drv_called(&fe, 0));

	drv_rx_buf(&fe, 0, 0, 2048);
	assert_int_equal(vnet_rx(&net, frame, 100), 0);
	assert_int_equal(used(&fe, 0)->idx, 1);
	assert_int_equal(used(&fe, 0)->ring[0].id, 0);
	assert_int_equal(used(&fe, 0)->ring[0].len, sizeof(hdr) + 100);
	memcpy(&hdr, rx_buf(&fe, 0), sizeof(hdr));
	assert_int_equal(hdr.num_buffers, 1);
	assert_int_equal(hdr.flags, 0);
	assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_memory_equal(rx_buf(&fe, 0) + sizeof(hdr), frame, 100);
	assert_true(drv_called(&fe, 0));

	/* MRG_RXBUF: 12 + 150 bytes over 64-byte buffers = 3 buffers. */
	for (uint16_t b = 1; b <= 4; b++)
		drv_rx_buf(&fe, 0, b, 64);
	assert_int_equal(vnet_rx(&net, frame, 150), 0);
	assert_int_equal(used(&fe, 0)->idx, 4);
	assert_int_equal(used(&fe, 0)->ring[1].len, 64);
	assert_int_equal(used(&fe, 0)->ring[2].len, 64);
	assert_int_equal(used(&fe, 0)->ring[3].len, 162 - 128);
	memcpy(&hdr, rx_buf(&fe, 1), sizeof(hdr));
	assert_int_equal(hdr.num_buffers, 3);
	assert_memory_equal(rx_buf(&fe, 1) + sizeof(hdr), frame, 52);
	assert_memory_equal(rx_buf(&fe, 2), frame + 52, 64);
	assert_memory_equal(rx_buf(&fe, 3), frame + 116, 34);

	/* One 64-byte buffer left: a 150-byte frame does not fit, is
	 * dropped, and the buffer stays for the next frame. */
	assert_int_equal(vnet_rx(&net, frame, 150), -ENOBUFS);
	assert_int_equal(used(&fe, 0)->idx, 4);
	assert_int_equal(vnet_rx(&net, frame, 40), 0);
	assert_int_equal(used(&fe, 0)->ring[4].id, 4);
	assert_int_equal(net.stats.rx_frames, 3);
	fe_close(&fe);
}

static void test_rx_without_mrg_rxbuf(void **state)
{
	struct fe fe;
	uint8_t frame[100] = { 1 };
	struct virtio_net_hdr_v1 hdr;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, VIRTIO_BIT(VIRTIO_F_VERSION_1), 2);
	drv_rx_buf(&fe, 0, 0, 64);
	assert_int_equal(vnet_rx(&net, frame, 100), -EMSGSIZE);
	assert_int_equal(net.stats.rx_too_big, 1);
	drv_rx_buf(&fe, 0, 1, 64);
	assert_int_equal(vnet_rx(&net, frame, 52), 0);
	assert_int_equal(used(&fe, 0)->ring[0].id, 0);
	memcpy(&hdr, rx_buf(&fe, 0), sizeof(hdr));
	/* §5.1.6.4: num_buffers is 1 without MRG_RXBUF. */
	assert_int_equal(hdr.num_buffers, 1);
	/* Without EVENT_IDX the NO_INTERRUPT flag silences the call. */
	avail(&fe, 0)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_true(drv_called(&fe, 0));
	assert_int_equal(vnet_rx(&net, frame, 20), 0);
	assert_false(drv_called(&fe, 0));
	fe_close(&fe);
}

/*
 * A frame that does not fit, with a malformed chain among its buffers: the
 * ring cannot be rewound past the dropped chain, so the buffers already
 * taken come back empty, once, and the queue goes on.
 */
static void test_rx_drop_across_malformed_chain(void **state)
{
	struct fe fe;
	uint8_t frame[150] = { 7 };

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	drv_rx_buf(&fe, 0, 1, 64);
	set_desc(&fe, 0, 2, RAM_SIZE, 64, VIRTQ_DESC_F_WRITE, 0); /* past guest RAM */
	drv_avail(&fe, 0, 2);
	assert_int_equal(vnet_rx(&net, frame, sizeof(frame)), -ENOBUFS);
	assert_int_equal(used(&fe, 0)->idx, 2);
	assert_int_equal(used(&fe, 0)->ring[0].id, 2);
	assert_int_equal(used(&fe, 0)->ring[1].id, 1);
	assert_int_equal(used(&fe, 0)->ring[1].len, 0);
	assert_true(drv_called(&fe, 0));
	drv_rx_buf(&fe, 0, 3, 2048);
	assert_int_equal(vnet_rx(&net, frame, sizeof(frame)), 0);
	assert_int_equal(used(&fe, 0)->idx, 3);
	assert_int_equal(used(&fe, 0)->ring[2].id, 3);
	fe_close(&fe);
}

/* A malformed chain is dropped and signalled on the error eventfd. */
static void test_malformed_chain_signals_err(void **state)
{
	struct fe fe;
	int err = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	eventfd_t v;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	assert_int_equal(fe_ring_fd(&fe, VHOST_USER_SET_VRING_ERR, 1, err), 0);
	set_desc(&fe, 1, 0, RAM_SIZE, 64, 0, 0); /* past guest RAM */
	drv_avail(&fe, 1, 0);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 0);
	assert_int_equal(used(&fe, 1)->idx, 1);
	assert_int_equal(used(&fe, 1)->ring[0].len, 0);
	assert_int_equal(eventfd_read(err, &v), 0);
	/* The queue still works. */
	drv_tx(&fe, 1, 2, 60);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);
	assert_int_not_equal(eventfd_read(err, &v), 0);
	close(err);
	fe_close(&fe);
}

static void test_get_vring_base_stops_ring(void **state)
{
	struct fe fe;
	struct vhost_user_vring_state st = { .index = 1 };

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	drv_tx(&fe, 1, 0, 60);
	drv_tx(&fe, 1, 2, 60);
	drv_kick(&fe, 1);
	fe_send(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	fe_reply(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	assert_int_equal(st.index, 1);
	assert_int_equal(st.num, 2);
	assert_null(vu_queue(&net.vu, 1));
	/* Stopped: a kick on the old eventfd is not served. */
	drv_tx(&fe, 1, 4, 60);
	assert_int_equal(eventfd_write(fe.kick[1], 1), 0);
	serve();
	assert_int_equal(txd.count, 2);
	/* Restarted at base 2 with a new kick: the pending frame goes out. */
	assert_int_equal(fe_vring(&fe, VHOST_USER_SET_VRING_BASE, 1, 2), 0);
	close(fe.kick[1]);
	fe.kick[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(fe_ring_fd(&fe, VHOST_USER_SET_VRING_KICK, 1, fe.kick[1]), 0);
	assert_int_equal(txd.count, 3);
	fe_close(&fe);
}

/* The chains a device that completes later claims to hold, per ring. */
static unsigned held[2];

static unsigned held_in_flight(void *opaque, unsigned q)
{
	(void)opaque;
	return q < 2 ? held[q] : 0;
}

/* True when the back-end has written something for us to read. */
static bool fe_pending(struct fe *fe)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };

	serve();
	return poll(&p, 1, 0) == 1;
}

static void test_get_vring_base_waits_for_in_flight(void **state)
{
	struct fe fe;
	struct vhost_user_vring_state st = { .index = 1 };
	uint64_t features;

	(void)state;
	net.vu.ops.in_flight = held_in_flight;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	/* QEMU disables a ring before it stops it: a disabled ring gives out
	 * nothing new but still takes completions ("Ring states"). */
	assert_int_equal(fe_vring(&fe, VHOST_USER_SET_VRING_ENABLE, 1, 0), 0);
	assert_null(vu_queue(&net.vu, 1));
	assert_non_null(vu_queue_held(&net.vu, 1));
	assert_int_equal(fe_vring(&fe, VHOST_USER_SET_VRING_ENABLE, 1, 1), 0);
	drv_tx(&fe, 1, 0, 60);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);
	held[1] = 1;
	fe_send(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	/* No answer while the device holds a chain of the ring... */
	assert_false(fe_pending(&fe));
	/* ...which still takes the completions of what the device holds, but
	 * gives out no new chains and serves no kicks... */
	assert_non_null(vu_queue_held(&net.vu, 1));
	assert_null(vu_queue(&net.vu, 1));
	drv_tx(&fe, 1, 2, 60);
	assert_int_equal(eventfd_write(fe.kick[1], 1), 0);
	serve();
	assert_int_equal(txd.count, 1);
	/* ...and a request sent meanwhile waits its turn. */
	fe_send(&fe, VHOST_USER_GET_FEATURES, NULL, 0);
	assert_false(fe_pending(&fe));
	/* Another ring going idle answers nothing. */
	vu_ring_idle(&net.vu, 0);
	assert_false(fe_pending(&fe));
	held[1] = 0;
	vu_ring_idle(&net.vu, 1);
	fe_reply(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	assert_int_equal(st.index, 1);
	assert_int_equal(st.num, 1);
	assert_null(vu_queue_held(&net.vu, 1));
	fe_reply(&fe, VHOST_USER_GET_FEATURES, &features, sizeof(features));
	assert_true(features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/* Nothing held: answered at once, as before. */
	st.index = 0;
	fe_send(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	fe_reply(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	assert_int_equal(st.index, 0);
	net.vu.ops.in_flight = NULL;
	fe_close(&fe);
}

/*
 * Ring-state transitions that used to lose completions.  A device that
 * completes chains after its kick returned (cv-ebs's blk face) fills used
 * entries as completions arrive and publishes them once per turn of its
 * loop; every path that stops, re-attaches or forgets a ring must publish
 * them first and interrupt the driver, because the front-end (and the
 * re-attached queue) resumes from the used index in guest memory.  The
 * device here fills an RX chain of ring 0 without publishing it, then the
 * front-end does one of these; afterwards the driver must see the entry
 * and have been called.
 */
enum transition {
	GET_BASE,         /* GET_VRING_BASE answered at once */
	GET_BASE_DRAINED, /* GET_VRING_BASE answered after the device's chains */
	NEW_KICK,         /* SET_VRING_KICK on a started ring: it restarts */
	MEM_TABLE,        /* SET_MEM_TABLE under a running ring */
	FEATURES,         /* SET_FEATURES under a running ring */
	RING_ADDR,        /* SET_VRING_ADDR under a running ring */
	FRONTEND_GONE,    /* the front-end closes its socket */
	TRANSITIONS
};

static const char *const transition_name[TRANSITIONS] = {
	"GET_VRING_BASE", "GET_VRING_BASE after in-flight chains", "SET_VRING_KICK again",
	"SET_MEM_TABLE", "SET_FEATURES", "SET_VRING_ADDR", "front-end gone",
};

static const enum transition transitions[TRANSITIONS] = {
	GET_BASE, GET_BASE_DRAINED, NEW_KICK, MEM_TABLE, FEATURES, RING_ADDR, FRONTEND_GONE,
};

static void transition(struct fe *fe, enum transition t)
{
	struct vhost_user_vring_state st = { .index = 0 };
	struct vhost_user_memory m = one_region(fe);

	switch (t) {
	case GET_BASE:
		fe_send(fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
		fe_reply(fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
		assert_int_equal(st.num, 1);
		break;
	case GET_BASE_DRAINED:
		/* The entry is filled while the answer waits, and the device
		 * says it is idle without publishing it itself. */
		break;
	case NEW_KICK:
		close(fe->kick[0]);
		fe->kick[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_int_equal(fe_ring_fd(fe, VHOST_USER_SET_VRING_KICK, 0, fe->kick[0]), 0);
		break;
	case MEM_TABLE:
		assert_int_equal(fe_mem_table(fe, &m, 1), 0);
		break;
	case FEATURES:
		assert_int_equal(fe_set_u64(fe, VHOST_USER_SET_FEATURES,
					    base_features |
						    VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)), 0);
		break;
	case RING_ADDR:
		assert_int_equal(fe_ring_addr(fe, 0, uaddr(fe, RING_OFF(0))), 0);
		break;
	case FRONTEND_GONE:
		close(fe->sock);
		serve();
		assert_false(vu_connected(&net.vu));
		break;
	case TRANSITIONS:
		break;
	}
}

/* One cmocka test per transition: *state points at its enum value. */
static void test_filled_entries_survive(void **state)
{
	const enum transition t = *(const enum transition *)*state;
	struct vhost_user_vring_state st = { .index = 0 };
	struct virtq_elem *elem = malloc(sizeof(*elem));
	struct virtq *vq;
	struct fe fe;

	print_message("transition: %s\n", transition_name[t]);
	assert_non_null(elem);
	net.vu.ops.in_flight = held_in_flight;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	drv_rx_buf(&fe, 0, 0, 2048);
	vq = vu_queue(&net.vu, 0);
	assert_non_null(vq);
	assert_int_equal(virtq_pop(vq, elem), 1);
	while (drv_called(&fe, 0))
		;
	if (t == GET_BASE_DRAINED) {
		held[0] = 1;
		fe_send(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
		assert_false(fe_pending(&fe));
		vq = vu_queue_held(&net.vu, 0);
		assert_non_null(vq);
		virtq_fill(vq, elem->head, 64);
		held[0] = 0;
		vu_ring_idle(&net.vu, 0);
		fe_reply(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
		assert_int_equal(st.num, 1);
	} else {
		virtq_fill(vq, elem->head, 64);
		transition(&fe, t);
	}
	assert_int_equal(__atomic_load_n(&used(&fe, 0)->idx, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(used(&fe, 0)->ring[0].id, 0);
	assert_int_equal(used(&fe, 0)->ring[0].len, 64);
	assert_true(drv_called(&fe, 0));
	if (t == FRONTEND_GONE)
		fe.sock = -1; /* closed already */
	fe_close(&fe);
	free(elem);
	net.vu.ops.in_flight = NULL;
}

static void test_malformed_requests(void **state)
{
	struct fe fe;
	struct vhost_user_memory m;
	struct vhost_user_vring_state st = { .index = 0, .num = QSIZE };
	int file = memfd_create("not-an-eventfd", MFD_CLOEXEC);
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 0;
	int fds[9];

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	/* Wrong payload size for the request. */
	assert_int_not_equal(fe_ack(&fe, VHOST_USER_SET_VRING_NUM, &st, 4), 0);
	/* Unknown and unserved requests. */
	assert_int_not_equal(fe_ack(&fe, 99, NULL, 0), 0);
	assert_int_not_equal(fe_ack(&fe, VHOST_USER_SET_LOG_BASE, &v, sizeof(v)), 0);
	/* Ring index out of range, size not a power of 2, base too big. */
	assert_int_not_equal(fe_vring(&fe, VHOST_USER_SET_VRING_ENABLE, 2, 1), 0);
	assert_int_not_equal(fe_vring(&fe, VHOST_USER_SET_VRING_ENABLE, 0, 2), 0);
	/* A started ring's size cannot change; once stopped, only to a power of 2. */
	assert_int_not_equal(fe_vring(&fe, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	fe_send(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	fe_reply(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	assert_int_not_equal(fe_vring(&fe, VHOST_USER_SET_VRING_NUM, 0, 100), 0);
	assert_int_not_equal(fe_vring(&fe, VHOST_USER_SET_VRING_NUM, 0, 65536), 0);
	assert_int_equal(fe_vring(&fe, VHOST_USER_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_not_equal(fe_vring(&fe, VHOST_USER_SET_VRING_BASE, 0, 0x10000), 0);
	/* Too many regions, region/fd count mismatch, region past the fd,
	 * overlapping regions, a wrapping region. */
	m = one_region(&fe);
	m.nregions = 9;
	for (int i = 0; i < 9; i++)
		fds[i] = fe.memfd;
	assert_int_not_equal(fe_ack_fds(&fe, VHOST_USER_SET_MEM_TABLE, &m, 8 + 8 * 32, fds, 8),
			     0);
	m = one_region(&fe);
	assert_int_not_equal(fe_mem_table(&fe, &m, 0), 0);
	assert_int_not_equal(fe_mem_table(&fe, &m, 2), 0);
	m.regions[0].memory_size = 2 * RAM_SIZE;
	assert_int_not_equal(fe_mem_table(&fe, &m, 1), 0);
	m = one_region(&fe);
	m.nregions = 2;
	m.regions[1] = m.regions[0];
	m.regions[1].userspace_addr += RAM_SIZE;
	assert_int_not_equal(fe_mem_table(&fe, &m, 2), 0);
	m = one_region(&fe);
	m.regions[0].guest_phys_addr = ~0ULL - 4096;
	assert_int_not_equal(fe_mem_table(&fe, &m, 1), 0);
	/* Ring addresses outside guest memory or misaligned. */
	assert_int_not_equal(fe_ring_addr(&fe, 0, uaddr(&fe, RAM_SIZE)), 0);
	assert_int_not_equal(fe_ring_addr(&fe, 0, uaddr(&fe, 8)), 0);
	/* fds that are not eventfds, fds where none belong, missing fds. */
	assert_int_not_equal(fe_ring_fd(&fe, VHOST_USER_SET_VRING_CALL, 0, file), 0);
	assert_int_not_equal(fe_ring_fd(&fe, VHOST_USER_SET_VRING_KICK, 0, file), 0);
	assert_int_not_equal(fe_ack_fds(&fe, VHOST_USER_SET_OWNER, NULL, 0, &efd, 1), 0);
	v = 0;
	assert_int_not_equal(fe_ack(&fe, VHOST_USER_SET_VRING_CALL, &v, sizeof(v)), 0);
	v = VHOST_USER_VRING_NOFD_MASK;
	assert_int_not_equal(fe_ack(&fe, VHOST_USER_SET_VRING_KICK, &v, sizeof(v)), 0);
	assert_int_not_equal(net.vu.stats.rejected, 0);

	/* After all that the device still moves frames. */
	drv_tx(&fe, 1, 0, 60);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);
	close(file);
	close(efd);
	fe_close(&fe);
}

/* Requests that break the stream, or need a reply we cannot give, drop
 * the front-end; the next one is served from scratch. */
static void test_fatal_requests_disconnect(void **state)
{
	struct fe fe;
	struct vhost_user_hdr h;
	struct vhost_user_vring_state st = { .index = 7 };

	(void)state;
	fe_connect(&fe);
	h = (struct vhost_user_hdr){ .request = VHOST_USER_GET_FEATURES,
				     .flags = VHOST_USER_VERSION, .size = VU_PAYLOAD_MAX + 1 };
	assert_int_equal(send(fe.sock, &h, sizeof(h), 0), sizeof(h));
	assert_true(fe_dropped(&fe));
	fe_close(&fe);

	fe_connect(&fe);
	h = (struct vhost_user_hdr){ .request = VHOST_USER_GET_FEATURES, .flags = 2 };
	assert_int_equal(send(fe.sock, &h, sizeof(h), 0), sizeof(h));
	assert_true(fe_dropped(&fe));
	fe_close(&fe);

	fe_connect(&fe);
	fe_send(&fe, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
	assert_true(fe_dropped(&fe));
	fe_close(&fe);

	/* A header cut in the middle waits for the rest (non-blocking). */
	fe_connect(&fe);
	h = (struct vhost_user_hdr){ .request = VHOST_USER_GET_QUEUE_NUM,
				     .flags = VHOST_USER_VERSION };
	assert_int_equal(send(fe.sock, &h, 5, 0), 5);
	serve();
	assert_true(vu_connected(&net.vu));
	assert_int_equal(send(fe.sock, (uint8_t *)&h + 5, sizeof(h) - 5, 0), sizeof(h) - 5);
	{
		uint64_t n;

		fe_reply(&fe, VHOST_USER_GET_QUEUE_NUM, &n, sizeof(n));
		assert_int_equal(n, 1);
	}
	fe_close(&fe);
	assert_int_equal(net.vu.stats.disconnects, 4);
}

static void test_disconnect_and_reconnect(void **state)
{
	struct fe fe, second;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char b;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	drv_tx(&fe, 1, 0, 60);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);

	/* A second front-end is turned away while the first is connected. */
	second.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	assert_int_equal(connect(second.sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	serve();
	assert_int_equal(recv(second.sock, &b, 1, 0), 0);
	close(second.sock);
	assert_int_equal(net.vu.stats.refused_conns, 1);

	fe_close(&fe); /* the front-end dies: rings stop, memory unmapped */
	assert_null(vu_queue(&net.vu, 1));
	assert_int_equal(net.vu.mem.nregions, 0);

	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	drv_tx(&fe, 1, 0, 70);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 2);
	assert_int_equal(txd.len, 70);
	assert_int_equal(net.vu.stats.connects, 2);
	fe_close(&fe);
}

/* RESET_DEVICE returns to the initial state on the same connection. */
static void test_reset_device(void **state)
{
	struct fe fe;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	assert_int_equal(fe_ack(&fe, VHOST_USER_RESET_DEVICE, NULL, 0), 0);
	assert_null(vu_queue(&net.vu, 1));
	assert_int_equal(net.vu.acked, 0);
	close(fe.kick[0]);
	close(fe.kick[1]);
	close(fe.call[0]);
	close(fe.call[1]);
	fe_start(&fe, base_features, 2);
	drv_tx(&fe, 1, 0, 60);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);
	fe_close(&fe);
}

/* The memory table may arrive after the rings, or change under them. */
static void test_mem_table_with_offset(void **state)
{
	struct fe fe;
	struct vhost_user_memory m;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	/* Same RAM described as two regions, the second at an fd offset
	 * that is not page aligned. */
	m = one_region(&fe);
	m.nregions = 2;
	m.regions[0].memory_size = 0x10100;
	m.regions[1] = (struct vhost_user_mem_region){
		.guest_phys_addr = RAM_GPA + 0x10100, .memory_size = RAM_SIZE - 0x10100,
		.userspace_addr = uaddr(&fe, 0x10100), .mmap_offset = 0x10100,
	};
	assert_int_equal(fe_mem_table(&fe, &m, 2), 0);
	assert_non_null(vu_queue(&net.vu, 1));
	drv_tx(&fe, 1, 0, 300);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);
	assert_int_equal(txd.len, 300);
	for (size_t i = 0; i < 300; i++)
		assert_int_equal(txd.frame[i], (uint8_t)i);
	fe_close(&fe);
}

static void test_multiqueue(void **state)
{
	struct fe fe;
	uint8_t frame[64] = { 0 };

	(void)state;
	fe_connect(&fe);
	assert_true(fe_get_u64(&fe, VHOST_USER_GET_FEATURES) & VIRTIO_BIT(VIRTIO_NET_F_MQ));
	assert_true(fe_get_u64(&fe, VHOST_USER_GET_PROTOCOL_FEATURES) &
		    VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ));
	assert_int_equal(fe_get_u64(&fe, VHOST_USER_GET_QUEUE_NUM), 2);
	fe_start(&fe, base_features | VIRTIO_BIT(VIRTIO_NET_F_MQ), 4);
	assert_int_not_equal(fe_vring(&fe, VHOST_USER_SET_VRING_NUM, 4, QSIZE), 0);
	/* TX on the second pair. */
	drv_tx(&fe, 3, 0, 60);
	drv_kick(&fe, 3);
	assert_int_equal(txd.count, 1);
	/* RX with only the second pair's RX queue live lands there. */
	assert_int_equal(fe_vring(&fe, VHOST_USER_SET_VRING_ENABLE, 0, 0), 0);
	drv_rx_buf(&fe, 2, 0, 2048);
	assert_int_equal(vnet_rx(&net, frame, sizeof(frame)), 0);
	assert_int_equal(used(&fe, 2)->idx, 1);
	assert_true(drv_called(&fe, 2));
	fe_close(&fe);
}

/* The tx callback may deliver to the guest (an echo, an ARP reply). */
static void test_echo_from_tx_callback(void **state)
{
	struct fe fe;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	txd.echo = true;
	drv_rx_buf(&fe, 0, 0, 2048);
	drv_rx_buf(&fe, 0, 1, 2048);
	drv_tx(&fe, 1, 0, 60);
	drv_tx(&fe, 1, 2, 80);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 2);
	assert_int_equal(used(&fe, 1)->idx, 2);
	assert_int_equal(used(&fe, 1)->ring[1].id, 2);
	assert_int_equal(used(&fe, 0)->idx, 2);
	assert_int_equal(used(&fe, 0)->ring[1].len, 12 + 80);
	assert_memory_equal(rx_buf(&fe, 1) + 12, fe.ram + DATA_OFF + 2 * 0x1000 + 12, 80);
	fe_close(&fe);
}

/* A guest that keeps the TX ring full does not starve the event loop:
 * after a budget of chains the queue is served again on the next turn. */
static void test_tx_budget_rearms(void **state)
{
	struct fe fe;
	struct virtio_net_hdr_v1 hdr = { 0 };

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	memcpy(fe.ram + DATA_OFF, &hdr, sizeof(hdr));
	for (unsigned i = 0; i < QSIZE; i++) {
		set_desc(&fe, 1, i, DATA_OFF, sizeof(hdr) + 60, 0, 0);
		drv_avail(&fe, 1, (uint16_t)i);
	}
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 256);
	/* One more without a kick: the rearmed queue picks it up. */
	set_desc(&fe, 1, 0, DATA_OFF, sizeof(hdr) + 60, 0, 0);
	drv_avail(&fe, 1, 0);
	serve();
	assert_int_equal(txd.count, 257);
	/* Drained: nothing more is served without a kick. */
	set_desc(&fe, 1, 1, DATA_OFF, sizeof(hdr) + 60, 0, 0);
	drv_avail(&fe, 1, 1);
	serve();
	assert_int_equal(txd.count, 257);
	fe_close(&fe);
}

/* Without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled by its kick. */
static void test_rings_enabled_without_protocol_features(void **state)
{
	struct fe fe;
	struct vhost_user_memory m;
	uint64_t f = base_features;
	struct vhost_user_vring_state st = { .index = 1, .num = QSIZE };
	struct vhost_user_vring_addr a;
	uint64_t v = 1;

	(void)state;
	fe_connect(&fe);
	m = one_region(&fe);
	/* No REPLY_ACK either: plain messages, nothing answered. */
	fe_send(&fe, VHOST_USER_SET_OWNER, NULL, 0);
	fe_send(&fe, VHOST_USER_SET_FEATURES, &f, sizeof(f));
	fe_send_fds(&fe, VHOST_USER_SET_MEM_TABLE, 0, &m, 8 + 32, &fe.memfd, 1);
	fe_send(&fe, VHOST_USER_SET_VRING_NUM, &st, sizeof(st));
	st.num = 0;
	fe_send(&fe, VHOST_USER_SET_VRING_BASE, &st, sizeof(st));
	a = (struct vhost_user_vring_addr){
		.index = 1, .desc_user_addr = uaddr(&fe, RING_OFF(1)),
		.avail_user_addr = uaddr(&fe, RING_OFF(1) + 0x1000),
		.used_user_addr = uaddr(&fe, RING_OFF(1) + 0x2000),
	};
	fe_send(&fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a));
	fe.kick[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fe_send_fds(&fe, VHOST_USER_SET_VRING_KICK, 0, &v, sizeof(v), &fe.kick[1], 1);
	serve();
	assert_non_null(vu_queue(&net.vu, 1));
	drv_tx(&fe, 1, 0, 60);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);
	assert_int_equal(net.vu.stats.rejected, 0);
	fe_close(&fe);
}

/* Open fds of this process: the back-end must not leak the ones it gets. */
static unsigned open_fds(void)
{
	unsigned n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random requests (any id, mostly valid headers, random payloads and fds):
 * the back-end answers, refuses or hangs up, never crashes, and a proper
 * front-end is served afterwards.
 */
static void test_random_requests(void **state)
{
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	unsigned drops = 0, fds_before = open_fds();
	struct fe fe;

	(void)state;
	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	for (int i = 0; i < 3000; i++) {
		uint8_t payload[296], sink[512];
		uint64_t r = next_rand(&seed);
		uint32_t req = (uint32_t)(r % 42), size = (uint32_t)((r >> 8) % sizeof(payload));
		uint32_t flags = (r >> 20) % 16 == 0 ? (uint32_t)(r >> 24) & 0xf : (r >> 28) & 8;
		int efd = eventfd(0, EFD_CLOEXEC), fds[3] = { fe.memfd, efd, fe.memfd };
		unsigned nfds = (unsigned)((r >> 32) % 3);
		struct vhost_user_hdr h;
		struct iovec iov[2] = { { &h, sizeof(h) }, { payload, size } };
		union {
			char buf[CMSG_SPACE(sizeof(int) * 2)];
			struct cmsghdr align;
		} c;
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

		/* Plausible sizes half of the time, so handlers run deep. */
		if (r & (1ULL << 40))
			size = (uint32_t)((const uint32_t[]){ 0, 8, 8, 40, 40, 72 })[(r >> 41) % 6];
		for (uint32_t b = 0; b < size; b += 8) {
			uint64_t v = next_rand(&seed);

			/* Small values make valid-looking indexes and sizes. */
			if (v & 1)
				v = (v >> 1) % 300;
			else if (v & 2)
				v = (v >> 2) % 3;
			memcpy(payload + b, &v, size - b < 8 ? size - b : 8);
		}
		h = (struct vhost_user_hdr){ .request = req, .flags = (flags & ~3U) | 1U,
					     .size = size };
		iov[1].iov_len = size;
		if ((r >> 44) % 64 == 0)
			h.flags = flags; /* occasionally a bad version */
		if (nfds) {
			struct cmsghdr *cm;

			msg.msg_control = c.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			cm = CMSG_FIRSTHDR(&msg);
			*cm = (struct cmsghdr){ .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS,
						.cmsg_len = CMSG_LEN(sizeof(int) * nfds) };
			memcpy(CMSG_DATA(cm), (r >> 50) & 1 ? fds + 1 : fds, sizeof(int) * nfds);
		}
		if (sendmsg(fe.sock, &msg, MSG_NOSIGNAL) < 0) {
			/* The back-end hung up before we wrote. */
			serve();
		}
		close(efd);
		serve();
		/* Whatever state that left, the rings are served on a kick. */
		if (vu_connected(&net.vu) && fe.kick[1] >= 0) {
			drv_tx(&fe, 1, 0, 60);
			drv_kick(&fe, 1);
		}
		while (recv(fe.sock, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
		if (!vu_connected(&net.vu)) {
			drops++;
			fe_close(&fe);
			fe_connect(&fe);
			fe_start(&fe, base_features, 2);
		}
	}
	print_message("random requests: the back-end hung up %u times, sent %u frames\n", drops,
		      txd.count);
	assert_true(drops > 0);
	assert_true(txd.count > 0);
	fe_close(&fe);
	assert_int_equal(open_fds(), fds_before);
	txd.count = 0;

	fe_connect(&fe);
	fe_start(&fe, base_features, 2);
	drv_tx(&fe, 1, 0, 60);
	drv_kick(&fe, 1);
	assert_int_equal(txd.count, 1);
	fe_close(&fe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_reaches_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_offloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_into_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_without_mrg_rxbuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_chain_signals_err, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_drop_across_malformed_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_vring_base_stops_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_vring_base_waits_for_in_flight, setup,
						teardown),
#define SURVIVES(t) cmocka_unit_test_prestate_setup_teardown(test_filled_entries_survive, \
							      setup, teardown, \
							      (void *)&transitions[t])
		SURVIVES(GET_BASE), SURVIVES(GET_BASE_DRAINED), SURVIVES(NEW_KICK),
		SURVIVES(MEM_TABLE), SURVIVES(FEATURES), SURVIVES(RING_ADDR),
		SURVIVES(FRONTEND_GONE),
		cmocka_unit_test_setup_teardown(test_malformed_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_requests_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_and_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_with_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiqueue, setup_mq, teardown),
		cmocka_unit_test_setup_teardown(test_echo_from_tx_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_budget_rearms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rings_enabled_without_protocol_features,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_requests, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
