/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The card side of vhost-user (cards/lib/vhost_user.c) against a hostile
 * front-end: each input is one front-end's whole connection, a byte
 * stream over a real UNIX socket with file descriptors the harness
 * creates, served by vu_process() as a card's event loop would.  A fake
 * device behind it pops chains on kicks and completes them at once or
 * later, so ring set-up, memory tables, inflight buffers and GET_VRING_BASE
 * waiting for chains in flight all run against the stream.
 *
 * Input: records until the input ends.
 *  - 0 MSG: a descriptor byte, a length (u16) and that many bytes sent
 *    with one sendmsg (the bytes need not be one message: framing is the
 *    back-end's to get right).  The descriptor byte attaches, in order:
 *    (low nibble % 10) fds of the 64 KiB guest RAM memfd, an eventfd
 *    (bit 4), a sealed inflight memfd (bit 5), /dev/null (bit 6), an
 *    unsealed memfd (bit 7); at most FDS_MAX of them.
 *  - 1 KICK: the guest kicks through one of the eventfds sent so far.
 *  - 2 POKE: the guest writes bytes into its RAM (rings, descriptors), or
 *    the front-end into the inflight buffer it keeps (odd target byte).
 *  - 3 COMPLETE: the device finishes the chains it holds on one ring.
 * Then the front-end hangs up.
 *
 * Invariants beyond "no crash":
 *  - every chain the device pops lies inside the guest memory the
 *    back-end mapped, and is still inside it when the device completes it
 *    (a chain in memory the back-end unmapped must have been released);
 *  - every reply is a well-formed reply header (version 1, REPLY flag)
 *    with a payload no larger than the largest reply (a config space);
 *  - once the front-end is gone the back-end is back to its initial state:
 *    not connected, no memory or inflight buffer mapped, no ring fd
 *    kept, nothing held by the device, and no file descriptor leaked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cards/lib/vhost_user.h"
#include "tests/fuzz/fuzz.h"

#define RAM_SIZE 0x10000u       /* POKE's u16 offsets rely on both */
#define INFLIGHT_SIZE 0x10000u
#define RINGS 4
#define HOLD_MAX 32           /* chains the device keeps in flight per ring */
#define MAX_EVENTFDS 16
#define MSG_MAX 4400          /* a bit more than a whole message */
#define PUMP_TURNS 4
/*
 * Descriptors one message may come with: more than any request takes and
 * more than the back-end's control buffer holds (ten once leaked one:
 * docs/fuzzing.md, "Findings").
 */
#define FDS_MAX 16

enum op { OP_MSG, OP_KICK, OP_POKE, OP_COMPLETE, OP__COUNT };

struct held {
	uint16_t head;
	uint32_t in_len;
	struct iovec iov[VIRTQ_MAX_SEGS];
	unsigned niov;
};

static struct {
	bool ready;
	struct vu_dev dev;
	char path[64];
	int ram_fd, inflight_fd, null_fd;
	uint8_t *ram, *inflight;
	int sock;
	int efd[MAX_EVENTFDS];
	unsigned nefd;
	struct held held[RINGS][HOLD_MAX];
	unsigned nheld[RINGS];
	struct virtq_elem elem;
	/* The reply stream as received so far. */
	uint8_t rx[8192];
	size_t rx_len;
	int baseline_fds;
} h;

/* [p, p + len) inside one region the back-end has mapped now. */
static bool mapped(const void *p, size_t len)
{
	for (unsigned i = 0; i < h.dev.mem.nregions; i++)
		if (fuzz_inside(p, len, h.dev.mem.region[i].host, h.dev.mem.region[i].size) &&
		    fuzz_inside(p, len, h.dev.map_base[i], h.dev.map_len[i]))
			return true;
	return false;
}

static void check_chain(const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		FUZZ_CHECK(mapped(iov[i].iov_base, iov[i].iov_len));
}

/* The device writes its answer into a chain and gives it back. */
static void complete(struct virtq *vq, const struct held *c)
{
	check_chain(c->iov, c->niov);
	for (unsigned i = 0; i < c->niov; i++)
		memset(c->iov[i].iov_base, 0xa5, c->iov[i].iov_len);
	virtq_fill(vq, c->head, c->in_len);
}

static void dev_kick(void *opaque, unsigned q)
{
	struct virtq *vq = vu_queue(&h.dev, q);

	(void)opaque;
	FUZZ_CHECK(q < RINGS);
	/* A bounded batch per kick, as real devices have a budget. */
	for (int i = 0; vq && i < 16 && virtq_pop(vq, &h.elem); i++) {
		struct virtq_elem *e = &h.elem;
		struct held c = { .head = e->head, .in_len = (uint32_t)e->in_len,
				  .niov = e->in_num };

		check_chain(e->iov, e->out_num + e->in_num);
		memcpy(c.iov, e->iov + e->out_num, sizeof(c.iov[0]) * e->in_num);
		/* Odd heads stay in flight: the device's I/O is slow. */
		if ((e->head & 1) && h.nheld[q] < HOLD_MAX)
			h.held[q][h.nheld[q]++] = c;
		else
			complete(vq, &c);
	}
	vu_queue_flush(&h.dev, q);
}

static void dev_release(void *opaque, unsigned q)
{
	(void)opaque;
	FUZZ_CHECK(q < RINGS);
	h.nheld[q] = 0;
}

static unsigned dev_in_flight(void *opaque, unsigned q)
{
	(void)opaque;
	FUZZ_CHECK(q < RINGS);
	return h.nheld[q];
}

static int dev_get_config(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	(void)opaque;
	FUZZ_CHECK(offset <= VHOST_USER_MAX_CONFIG_SIZE &&
		   len <= VHOST_USER_MAX_CONFIG_SIZE - offset);
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(offset + i);
	return 0;
}

static int dev_set_config(void *opaque, uint32_t offset, const void *buf, uint32_t len,
			  uint32_t flags)
{
	(void)opaque;
	(void)buf;
	(void)flags;
	FUZZ_CHECK(offset <= VHOST_USER_MAX_CONFIG_SIZE &&
		   len <= VHOST_USER_MAX_CONFIG_SIZE - offset);
	return offset == 0 && len <= 8 ? 0 : -EPERM;
}

/* The device finishes every chain it holds on @q. */
static void dev_complete(unsigned q)
{
	struct virtq *vq = vu_queue_held(&h.dev, q);

	/* Not fillable any more but not released either: a device can only
	 * drop them, as vblk does; they must still lie in mapped memory. */
	for (unsigned i = 0; i < h.nheld[q]; i++) {
		if (vq)
			complete(vq, &h.held[q][i]);
		else
			check_chain(h.held[q][i].iov, h.held[q][i].niov);
	}
	h.nheld[q] = 0;
	vu_queue_flush(&h.dev, q);
	vu_ring_idle(&h.dev, q);
}

static int new_memfd(const char *name, size_t size, bool seal)
{
	int fd = memfd_create(name, MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));

	FUZZ_CHECK(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
	if (seal)
		FUZZ_CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0);
	return fd;
}

static void setup(void)
{
	static const struct vu_ops ops = {
		.kick = dev_kick, .release = dev_release, .in_flight = dev_in_flight,
		.get_config = dev_get_config, .set_config = dev_set_config,
	};
	const struct vu_config cfg = {
		.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
			    VIRTIO_BIT(VIRTIO_F_EVENT_IDX),
		.protocol_features = VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) |
				     VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD),
		.rings = RINGS,
		.queue_num = RINGS,
	};

	snprintf(h.path, sizeof(h.path), "/tmp/cv-fuzz-vu.%d.sock", getpid());
	FUZZ_CHECK(vu_listen(&h.dev, h.path, &cfg, &ops, NULL) == 0);
	h.ram_fd = new_memfd("fuzz-guest-ram", RAM_SIZE, false);
	h.inflight_fd = new_memfd("fuzz-inflight", INFLIGHT_SIZE, true);
	h.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	FUZZ_CHECK(h.null_fd >= 0);
	h.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, h.ram_fd, 0);
	h.inflight = mmap(NULL, INFLIGHT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			  h.inflight_fd, 0);
	FUZZ_CHECK(h.ram != MAP_FAILED && h.inflight != MAP_FAILED);
	h.ready = true;
}

/* Check the replies received so far; keep a partial one for later. */
static void take_replies(void)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} control;

	for (;;) {
		struct iovec iov = { h.rx + h.rx_len, sizeof(h.rx) - h.rx_len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.buf,
				      .msg_controllen = sizeof(control.buf) };
		ssize_t n = recvmsg(h.sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		size_t off = 0;

		if (n <= 0)
			return;
		/* GET_INFLIGHT_FD's buffer: the front-end would keep it. */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			int fds[4];
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			memcpy(fds, CMSG_DATA(c), k * sizeof(int));
			for (size_t i = 0; i < k; i++)
				close(fds[i]);
		}
		h.rx_len += (size_t)n;
		while (h.rx_len - off >= sizeof(struct vhost_user_hdr)) {
			struct vhost_user_hdr hdr;

			memcpy(&hdr, h.rx + off, sizeof(hdr));
			FUZZ_CHECK(hdr.flags == (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK));
			FUZZ_CHECK(hdr.size <= sizeof(struct vhost_user_config));
			if (h.rx_len - off < sizeof(hdr) + hdr.size)
				break;
			off += sizeof(hdr) + hdr.size;
		}
		memmove(h.rx, h.rx + off, h.rx_len - off);
		h.rx_len -= off;
	}
}

static void pump(void)
{
	for (int i = 0; i < PUMP_TURNS; i++) {
		FUZZ_CHECK(vu_process(&h.dev) == 0);
		take_replies();
	}
}

static int add_fd(int *fds, unsigned *n, int fd)
{
	if (*n < FDS_MAX)
		fds[(*n)++] = fd;
	return fd;
}

/* One MSG record; false once the back-end hung up on us. */
static bool send_msg(struct fuzz_in *in)
{
	uint8_t spec = fuzz_u8(in);
	size_t len, room = fuzz_u16(in) % MSG_MAX;
	const uint8_t *bytes = fuzz_take(in, room, &len);
	int fds[FDS_MAX], own = -1;
	unsigned nfds = 0;
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)bytes, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (!len)
		return true;
	for (unsigned i = 0; i < (spec & 15u) % 10; i++)
		add_fd(fds, &nfds, h.ram_fd);
	if (spec & 0x10 && h.nefd < MAX_EVENTFDS) {
		h.efd[h.nefd] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		FUZZ_CHECK(h.efd[h.nefd] >= 0);
		add_fd(fds, &nfds, h.efd[h.nefd++]);
	}
	if (spec & 0x20)
		add_fd(fds, &nfds, h.inflight_fd);
	if (spec & 0x40)
		add_fd(fds, &nfds, h.null_fd);
	if (spec & 0x80)
		own = add_fd(fds, &nfds, new_memfd("fuzz-unsealed", INFLIGHT_SIZE, false));
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
	n = sendmsg(h.sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* In flight now (the back-end has its own copy). */
	if (own >= 0)
		close(own);
	if (n < 0)
		return errno == EAGAIN;
	pump();
	return true;
}

static void connect_frontend(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	h.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(h.sock >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", h.path);
	FUZZ_CHECK(connect(h.sock, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	pump();
	FUZZ_CHECK(vu_connected(&h.dev));
}

static void hang_up(void)
{
	/* A GET_VRING_BASE waits for the device: it finishes, then answers. */
	if (h.dev.stopping_ring >= 0)
		dev_complete((unsigned)h.dev.stopping_ring);
	close(h.sock);
	for (int i = 0; i < PUMP_TURNS && vu_connected(&h.dev); i++)
		FUZZ_CHECK(vu_process(&h.dev) == 0);
	FUZZ_CHECK(!vu_connected(&h.dev));
	FUZZ_CHECK(h.dev.mem.nregions == 0 && h.dev.inflight.map == NULL);
	FUZZ_CHECK(h.dev.stopping_ring == -1);
	for (unsigned q = 0; q < VU_MAX_RINGS; q++) {
		const struct vu_ring *r = &h.dev.ring[q];

		FUZZ_CHECK(r->kick < 0 && r->call < 0 && r->err < 0 && !r->started &&
			   !r->mapped);
		FUZZ_CHECK(q >= RINGS || h.nheld[q] == 0);
	}
	for (unsigned i = 0; i < h.nefd; i++)
		close(h.efd[i]);
	h.nefd = 0;
	h.rx_len = 0;
	FUZZ_CHECK(fuzz_open_fds() == h.baseline_fds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	bool up = true;

	if (!h.ready)
		setup();
	memset(h.ram, 0, RAM_SIZE);
	memset(h.inflight, 0, INFLIGHT_SIZE);
	h.baseline_fds = fuzz_open_fds();
	connect_frontend();

	while (up && !fuzz_empty(&in)) {
		switch (fuzz_u8(&in) % OP__COUNT) {
		case OP_MSG:
			up = send_msg(&in);
			break;
		case OP_KICK: {
			uint8_t i = fuzz_u8(&in);

			if (h.nefd)
				FUZZ_CHECK(eventfd_write(h.efd[i % h.nefd], 1) == 0);
			pump();
			break;
		}
		case OP_POKE: {
			uint8_t *mem = fuzz_u8(&in) & 1 ? h.inflight : h.ram;
			uint16_t off = fuzz_u16(&in);
			size_t len = fuzz_u8(&in);

			/* Both are 64 KiB: a u16 offset is inside. */
			fuzz_bytes(&in, mem + off, len < 0x10000u - off ? len : 0x10000u - off);
			break;
		}
		case OP_COMPLETE:
			dev_complete(fuzz_u8(&in) % RINGS);
			pump();
			break;
		}
	}
	hang_up();
	return 0;
}
