/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's NVMe/TCP host (cards/ebs/nvmf_host.c) against a hostile
 * target: a thread here plays cv-storaged on a real loopback TCP socket,
 * answering each PDU the host sends with the next "unit" of bytes from the
 * input, whatever they are.  The host sets up an association
 * (nvmf_ctrl_connect: ICReq, Connect, properties, Identify, Set Features,
 * then the I/O queue's ICReq and Connect), then runs the I/O the input
 * asks for on its I/O queue.
 *
 * Input: a configuration byte (header and data digests to ask for; which
 * of read, write, flush, write zeroes and deallocate to submit), then
 * records until the input ends: a byte (bit 0: admin or I/O connection;
 * bit 1: make the digests of the PDUs in the unit right, so the checks
 * behind them are reached; bit 2: pad its last PDU with zeros to its
 * PLEN: tests/fuzz/tcp_pdus.h), a length (u16) and that many bytes: one
 * unit.
 * A host waiting for more than it got (no PDU comes from it for
 * IDLE_MS) gets all the units left; after the last one the target
 * shuts its side down, so every input ends in the host seeing EOF.
 *
 * Invariants beyond "no crash" (and no write outside a request's buffers,
 * each its own exact-size heap block, which AddressSanitizer sees):
 *  - what nvmf_ctrl_connect() agrees on is sane: a power-of-2 LBA size
 *    from 512 bytes to 64 KiB, a transfer size that is a multiple of it
 *    and at most 1 MiB, 1 I/O queue as asked, the queue size asked;
 *  - every request completes at most once, and never after
 *    nvmf_ctrl_free();
 *  - every PDU the host sends is framed as a host's PDU: a type a host
 *    sends, its HLEN, a PLEN no smaller than HLEN.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cards/ebs/nvmf_host.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/tcp_pdus.h"

#define UNITS_MAX 64
#define IDLE_MS 2
#define QUEUE_SIZE 4
#define IO_TURNS 200

struct unit {
	const uint8_t *p;
	size_t len;
};

struct tconn {
	int fd;
	struct unit unit[UNITS_MAX];
	unsigned nunits, next;
	bool shut;
	uint8_t rx[1 << 17];
	size_t rx_len;
	size_t skip;         /* bytes still to come of a PDU too big to keep */
};

static struct {
	bool ready;
	pthread_t thread;
	sem_t job, idle;
	int lfd, stop_efd;
	uint16_t port;
	struct tconn conn[2];   /* [0] admin queue, [1] I/O queue */
	uint8_t units[65536 * 4];
} t;

/* Requests of one input. */
struct io {
	struct nvmf_req req;
	struct iovec iov;
	unsigned completions;
};

static bool ctrl_freed;

/* sem_wait() is never restarted: libFuzzer's timeout alarm fires each second. */
static void wait_for(sem_t *sem)
{
	while (sem_wait(sem) && errno == EINTR)
		;
}

static void send_unit(struct tconn *c)
{
	const struct unit *u = &c->unit[c->next++];
	size_t off = 0;

	while (off < u->len) {
		ssize_t n = send(c->fd, u->p + off, u->len - off, MSG_NOSIGNAL);

		if (n <= 0)
			return; /* the host hung up: it has what it needs */
		off += (size_t)n;
	}
}

static void shut(struct tconn *c)
{
	if (!c->shut)
		shutdown(c->fd, SHUT_WR);
	c->shut = true;
}

/* Answer each PDU from the host with the next unit. */
static void on_host_bytes(struct tconn *c)
{
	ssize_t n = recv(c->fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len, MSG_DONTWAIT);
	size_t off = 0;

	if (n <= 0) {
		/* EOF or error: the host is done with this connection. */
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			shut(c);
		return;
	}
	c->rx_len += (size_t)n;
	/* The rest of a big PDU (write data) streams past unkept. */
	off = c->skip < c->rx_len ? c->skip : c->rx_len;
	c->skip -= off;
	while (c->rx_len - off >= sizeof(struct nvme_tcp_ch)) {
		struct nvme_tcp_ch ch;

		memcpy(&ch, c->rx + off, sizeof(ch));
		FUZZ_CHECK(ch.pdu_type == NVME_TCP_ICREQ || ch.pdu_type == NVME_TCP_H2C_TERM_REQ ||
			   ch.pdu_type == NVME_TCP_CAPSULE_CMD || ch.pdu_type == NVME_TCP_H2C_DATA);
		FUZZ_CHECK(ch.hlen == (ch.pdu_type == NVME_TCP_ICREQ ? NVME_TCP_IC_HLEN :
				       ch.pdu_type == NVME_TCP_CAPSULE_CMD ? NVME_TCP_CMD_HLEN :
				       NVME_TCP_DATA_HLEN));
		FUZZ_CHECK(ch.plen >= ch.hlen);
		if (c->rx_len - off < ch.plen && ch.plen <= sizeof(c->rx))
			break;
		if (c->next < c->nunits && !c->shut)
			send_unit(c);
		if (c->next == c->nunits)
			shut(c);
		if (c->rx_len - off < ch.plen) {
			c->skip = ch.plen - (c->rx_len - off);
			off = c->rx_len;
			break;
		}
		off += ch.plen;
	}
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
}

/* The target: one input's connections, until the main thread says stop. */
static void *target(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned accepted = 0;
		bool stop = false;

		wait_for(&t.job);
		while (!stop) {
			struct pollfd pfd[4] = { { t.stop_efd, POLLIN, 0 }, { t.lfd, POLLIN, 0 } };
			int n = 2, r;

			for (unsigned i = 0; i < accepted; i++)
				pfd[n++] = (struct pollfd){ t.conn[i].fd, POLLIN, 0 };
			r = poll(pfd, (nfds_t)n, IDLE_MS);
			if (r == 0) {
				/* The host waits for more than its last unit held. */
				for (unsigned i = 0; i < accepted; i++) {
					while (t.conn[i].next < t.conn[i].nunits && !t.conn[i].shut)
						send_unit(&t.conn[i]);
					shut(&t.conn[i]);
				}
				continue;
			}
			if (pfd[0].revents) {
				eventfd_t v;

				stop = eventfd_read(t.stop_efd, &v) == 0;
			}
			if (pfd[1].revents && accepted < 2) {
				int fd = accept4(t.lfd, NULL, NULL, SOCK_CLOEXEC);

				if (fd >= 0) {
					int one = 1;

					/* Units go out as they are, not held back by Nagle. */
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					t.conn[accepted].fd = fd;
					if (!t.conn[accepted].nunits)
						shut(&t.conn[accepted]);
					accepted++;
				}
			}
			for (int i = 2; i < n; i++)
				if (pfd[i].revents)
					on_host_bytes(&t.conn[i - 2]);
		}
		for (unsigned i = 0; i < accepted; i++)
			close(t.conn[i].fd);
		/* Connections the host made and we did not take: not the next input's. */
		for (int fd; (fd = accept4(t.lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
			close(fd);
		sem_post(&t.idle);
	}
	return NULL;
}

static void setup(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	t.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(t.lfd >= 0);
	FUZZ_CHECK(bind(t.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(t.lfd, 4) == 0);
	FUZZ_CHECK(getsockname(t.lfd, (struct sockaddr *)&sa, &sl) == 0);
	t.port = ntohs(sa.sin_port);
	t.stop_efd = eventfd(0, EFD_CLOEXEC);
	FUZZ_CHECK(t.stop_efd >= 0);
	sem_init(&t.job, 0, 0);
	sem_init(&t.idle, 0, 0);
	FUZZ_CHECK(pthread_create(&t.thread, NULL, target, NULL) == 0);
	t.ready = true;
}

static void io_done(struct nvmf_req *req, uint16_t status)
{
	struct io *io = (struct io *)req;

	(void)status;
	FUZZ_CHECK(!ctrl_freed);
	FUZZ_CHECK(++io->completions == 1);
}

static void check_info(const struct nvmf_ctrl_info *in)
{
	FUZZ_CHECK(in->lba_size >= 512 && in->lba_size <= 65536 &&
		   !(in->lba_size & (in->lba_size - 1)));
	FUZZ_CHECK(in->max_xfer % in->lba_size == 0 && in->max_xfer <= (1u << 20));
	FUZZ_CHECK(in->nr_io_queues == 1 && in->queue_size == QUEUE_SIZE);
}

/* The I/O the configuration byte asks for, on I/O queue 0. */
static void run_io(struct nvmf_ctrl *c, uint8_t cfg, struct io *ios, unsigned *nios)
{
	const struct nvmf_ctrl_info *in = nvmf_ctrl_info(c);
	static const uint8_t opc[] = { NVME_NVM_READ, NVME_NVM_WRITE, NVME_NVM_FLUSH,
				       NVME_NVM_WRITE_ZEROES, NVME_NVM_DSM };
	struct nvmf_queue *q = nvmf_ctrl_queue(c, 0);

	for (unsigned i = 0; i < sizeof(opc); i++) {
		struct io *io = &ios[*nios];
		uint32_t nlb = opc[i] == NVME_NVM_WRITE ? 4 : 2;
		bool data = opc[i] == NVME_NVM_READ || opc[i] == NVME_NVM_WRITE;

		if (!(cfg & (4u << i)))
			continue;
		if (data && (uint64_t)nlb * in->lba_size > in->max_xfer)
			nlb = in->max_xfer / in->lba_size;
		if (!nlb)
			continue;
		*io = (struct io){ .req = { .opc = opc[i], .slba = 1, .nlb = nlb, .done = io_done } };
		if (data) {
			io->iov.iov_len = (size_t)nlb * in->lba_size;
			io->iov.iov_base = calloc(1, io->iov.iov_len);
			FUZZ_CHECK(io->iov.iov_base);
			io->req.iov = &io->iov;
			io->req.iovcnt = 1;
		}
		if (nvmf_submit(q, &io->req) == 0)
			(*nios)++;
		else
			free(io->iov.iov_base);
	}
	nvmf_queue_kick(q);
	for (int turn = 0; turn < IO_TURNS && nvmf_ctrl_live(c); turn++) {
		struct pollfd pfd = { nvmf_queue_fd(q), POLLIN, 0 };
		bool all = true;

		for (unsigned i = 0; i < *nios; i++)
			all &= ios[i].completions == 1;
		if (all)
			break;
		poll(&pfd, 1, IDLE_MS * 2);
		nvmf_queue_process(q);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t cfg = fuzz_u8(&in);
	char port[8];
	struct nvmf_opts opts = {
		.addr = "127.0.0.1", .port = port, .subnqn = "nqn.2026-11.io.cardvisor:fuzz",
		.hostnqn = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001",
		.nr_io_queues = 1, .queue_size = QUEUE_SIZE, .hdgst = cfg & 1, .ddgst = cfg & 2,
		.connect_timeout_ms = 2000, .reconnect_timeout_ms = 1000,
	};
	struct io ios[8];
	unsigned nios = 0;
	struct nvmf_ctrl *c;
	size_t used = 0;

	if (!t.ready)
		setup();
	snprintf(port, sizeof(port), "%u", t.port);
	for (int i = 0; i < 2; i++)
		t.conn[i] = (struct tconn){ .fd = -1 };
	while (!fuzz_empty(&in)) {
		uint8_t how = fuzz_u8(&in);
		struct tconn *tc = &t.conn[how & 1];
		size_t len;
		const uint8_t *p = fuzz_take(&in, fuzz_u16(&in), &len);

		/* Room for the longest unit a PDU can be padded to. */
		if (tc->nunits == UNITS_MAX || sizeof(t.units) - used < 2 * 65536)
			continue;
		memcpy(t.units + used, p, len);
		if (how & 4)
			len = fuzz_complete_pdu(t.units + used, len, 2 * 65536);
		if (how & 2)
			fuzz_fix_digests(t.units + used, len);
		tc->unit[tc->nunits++] = (struct unit){ t.units + used, len };
		used += len;
	}
	sem_post(&t.job);

	ctrl_freed = false;
	if (nvmf_ctrl_connect(&opts, &c) == 0) {
		check_info(nvmf_ctrl_info(c));
		run_io(c, cfg, ios, &nios);
		nvmf_ctrl_free(c);
	}
	ctrl_freed = true;
	for (unsigned i = 0; i < nios; i++)
		free(ios[i].iov.iov_base);
	FUZZ_CHECK(eventfd_write(t.stop_efd, 1) == 0);
	wait_for(&t.idle);
	return 0;
}
