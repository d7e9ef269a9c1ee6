/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The card side of vfio-user (cards/ebs/vfio_server.c over the message
 * codec in tools/lib/vfio_user.c) against a hostile client: each input is
 * one client's whole connection, a byte stream over a real UNIX socket
 * with file descriptors the harness creates, served by
 * vfio_server_process() as the EBS card's loop would.  The function behind
 * it has a 4 KiB config space, a 16 KiB BAR0 with one ioeventfd, and four
 * MSI-X vectors; a write to BAR0 offset 0 makes it reach guest memory at
 * the address written (vfio_server_dma_ptr), one at offset 8 signals the
 * vector written (vfio_server_irq).
 *
 * Input: records until the input ends: a descriptor byte (bit 0: a 64 KiB
 * memfd for DMA_MAP; bit 1: an eventfd; bit 2: /dev/null; bits 3-4: the
 * eventfd once more, up to three times, for SET_IRQS), a length (u16) and
 * that many bytes, sent with one sendmsg.  Then the client stops sending
 * (so a message cut short ends at once) and hangs up once it has read
 * every reply.
 *
 * Invariants beyond "no crash":
 *  - the device's regions are only accessed inside their sizes;
 *  - a pointer vfio_server_dma_ptr() returns can be written (SEGV
 *    otherwise) for the length asked (see below for a known exception);
 *  - every reply is a vfio-user reply header with a size that covers at
 *    least the header;
 *  - once the client is gone the server is not connected and holds no
 *    file descriptor it was given.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cards/ebs/vfio_server.h"
#include "tests/fuzz/fuzz.h"
#include "tools/lib/vfio_user.h"

#define CONFIG_SIZE 4096
#define BAR0_SIZE 16384
#define DMA_FD_SIZE 0x10000
#define VECTORS 4
#define TURNS_MAX 4096

static struct {
	bool ready;
	struct vfio_server *srv;
	char path[64];
	int dma_fd, null_fd, card_efd;
	uint8_t *region[VFIO_PCI_NUM_REGIONS];
	uint64_t size[VFIO_PCI_NUM_REGIONS];
	int sock;
	uint8_t rx[1 << 17];
	size_t rx_len;
} v;

static int region_access(void *opaque, unsigned region, uint64_t offset, void *data,
			 uint32_t len, bool is_write)
{
	uint64_t arg = 0;

	(void)opaque;
	FUZZ_CHECK(region < VFIO_PCI_NUM_REGIONS && v.region[region]);
	FUZZ_CHECK(offset <= v.size[region] && len <= v.size[region] - offset);
	if (!is_write) {
		memcpy(data, v.region[region] + offset, len);
		return 0;
	}
	memcpy(v.region[region] + offset, data, len);
	memcpy(&arg, data, len < sizeof(arg) ? len : sizeof(arg));
	if (region == VFIO_PCI_BAR0_REGION_INDEX && offset == 0) {
		uint8_t *p = vfio_server_dma_ptr(v.srv, arg, 64);

		/*
		 * Guest memory as the device uses it: written, so a pointer
		 * to memory not mapped writable faults here (a read-only
		 * DMA_MAP once did: docs/fuzzing.md, "Findings").
		 */
		if (p)
			memset(p, 0xa5, 64);
	} else if (region == VFIO_PCI_BAR0_REGION_INDEX && offset == 8) {
		int r = vfio_server_irq(v.srv, (unsigned)arg);

		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOENT || r == -EAGAIN);
	}
	return 0;
}

static bool ioeventfds_ready(void *opaque, unsigned region)
{
	(void)opaque;
	return region == VFIO_PCI_BAR0_REGION_INDEX;
}

static void setup(void)
{
	static const struct vfio_server_ops ops = {
		.region_access = region_access, .ioeventfds_ready = ioeventfds_ready,
	};
	struct vfio_server_ioeventfd io;
	struct vfio_server_config cfg = {
		.name = "fuzz", .msix_vectors = VECTORS, .ops = &ops, .ioeventfds = &io,
		.nr_ioeventfds = 1,
	};

	v.size[VFIO_PCI_CONFIG_REGION_INDEX] = CONFIG_SIZE;
	v.size[VFIO_PCI_BAR0_REGION_INDEX] = BAR0_SIZE;
	for (unsigned i = 0; i < VFIO_PCI_NUM_REGIONS; i++) {
		cfg.region_size[i] = v.size[i];
		if (v.size[i]) {
			v.region[i] = calloc(1, v.size[i]);
			FUZZ_CHECK(v.region[i]);
		}
	}
	v.card_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	FUZZ_CHECK(v.card_efd >= 0);
	io = (struct vfio_server_ioeventfd){ .region = VFIO_PCI_BAR0_REGION_INDEX,
					     .offset = 0x1008, .size = 4, .fd = v.card_efd };
	snprintf(v.path, sizeof(v.path), "/tmp/cv-fuzz-vfu.%d.sock", getpid());
	FUZZ_CHECK(vfio_server_create(&v.srv, v.path, &cfg) == 0);
	v.dma_fd = memfd_create("fuzz-dma", MFD_CLOEXEC);
	FUZZ_CHECK(v.dma_fd >= 0 && ftruncate(v.dma_fd, DMA_FD_SIZE) == 0);
	v.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	FUZZ_CHECK(v.null_fd >= 0);
	v.ready = true;
}

/* Check the replies received so far; keep a partial one. */
static void take_replies(void)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
		struct cmsghdr align;
	} control;

	for (;;) {
		struct iovec iov = { v.rx + v.rx_len, sizeof(v.rx) - v.rx_len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.buf,
				      .msg_controllen = sizeof(control.buf) };
		ssize_t n = recvmsg(v.sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		size_t off = 0;

		if (n <= 0)
			return;
		/* GET_REGION_IO_FDS's eventfds: the client would bind them. */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
				close(fd);
			}
		}
		v.rx_len += (size_t)n;
		while (v.rx_len - off >= sizeof(struct vfio_user_header)) {
			struct vfio_user_header h;

			memcpy(&h, v.rx + off, sizeof(h));
			FUZZ_CHECK((h.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY);
			FUZZ_CHECK(h.msg_size >= sizeof(h) && h.msg_size <= sizeof(v.rx) / 2);
			if (v.rx_len - off < h.msg_size)
				break;
			off += h.msg_size;
		}
		memmove(v.rx, v.rx + off, v.rx_len - off);
		v.rx_len -= off;
	}
}

static void send_record(struct fuzz_in *in, int efd)
{
	uint8_t spec = fuzz_u8(in);
	size_t len;
	const uint8_t *bytes = fuzz_take(in, fuzz_u16(in), &len);
	int fds[8];
	unsigned nfds = 0;
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)bytes, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (!len)
		return;
	if (spec & 1)
		fds[nfds++] = v.dma_fd;
	for (unsigned i = 0; i < (spec & 2 ? 1u : 0u) + (spec >> 3 & 3); i++)
		fds[nfds++] = efd;
	if (spec & 4)
		fds[nfds++] = v.null_fd;
	if (nfds) {
		struct cmsghdr *c;

		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/* A full socket: the rest of the input is not sent. */
	sendmsg(v.sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int baseline, efd, turns = 0;

	if (!v.ready)
		setup();
	baseline = fuzz_open_fds();
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	v.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(efd >= 0 && v.sock >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", v.path);
	FUZZ_CHECK(connect(v.sock, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	FUZZ_CHECK(vfio_server_process(v.srv) == 0);
	v.rx_len = 0;

	while (!fuzz_empty(&in))
		send_record(&in, efd);
	/* Every message is in: one cut short ends in EOF, not a wait. */
	shutdown(v.sock, SHUT_WR);
	for (;;) {
		char probe;

		FUZZ_CHECK(vfio_server_process(v.srv) == 0);
		take_replies();
		/* The server dropped us, or has read everything and waits. */
		if (recv(v.sock, &probe, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
			break;
		FUZZ_CHECK(++turns < TURNS_MAX);
	}
	close(v.sock);
	for (int i = 0; i < 4; i++)
		FUZZ_CHECK(vfio_server_process(v.srv) == 0);
	FUZZ_CHECK(!vfio_server_connected(v.srv));
	close(efd);
	FUZZ_CHECK(fuzz_open_fds() == baseline);
	return 0;
}
