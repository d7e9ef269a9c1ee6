/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-storaged's NVMe/TCP connection handling (tools/storaged/conn.c and
 * what it calls: the PDU codec, Connect and the controller table,
 * properties, features, Identify, log pages, command decoding, file I/O on
 * io_uring) against hostile hosts: each input is what two hosts send on
 * two connections to one daemon, over socketpairs handed to conn_new() as
 * accept() would hand them.  The daemon's loop is played here: read,
 * flush, submit, wait for the file I/O.  The volume is a 1 MiB file.
 *
 * Input: records until the input ends: a byte (bit 0: which connection;
 * bit 1: make the header and data digests of the PDUs in this record
 * right, so the checks behind them are reached; bit 2: pad its last PDU
 * with zeros to its PLEN: tests/fuzz/tcp_pdus.h), a length (u16) and that
 * many bytes, written to the connection.  Then both hosts hang up.
 *
 * Invariants beyond "no crash" (and no leak, no file I/O into freed
 * memory, which AddressSanitizer sees):
 *  - what the daemon sends is a well-formed PDU stream a host takes:
 *    every PDU passes the host side's nvme_tcp_check_ch() and
 *    nvme_tcp_check_hdr() for the digests and alignment agreed (so its
 *    header digests are right), its data digests are right, and nothing
 *    follows a C2HTermReq;
 *  - once both hosts are gone and their I/O is done, every connection can
 *    be freed and no controller, nor a volume's attachment, is left in the
 *    table.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/tcp_pdus.h"
#include "tools/storaged/server.h"

#define CONNS 2
#define VOLUME_BYTES (1u << 20)
#define OUT_MAX (1u << 20) /* far more than one PDU, the most kept unparsed */
#define DRIVE_TURNS 64

struct host {
	int fd;               /* our end of the socketpair */
	struct conn *c;
	bool term_seen;       /* a C2HTermReq came: nothing may follow */
	bool ic_seen;         /* the ICResp came */
	uint8_t *out;
	size_t out_len;
};

static struct {
	bool ready;
	struct storaged sd;
	char dir[64];
	struct host host[CONNS];
} s;

static void setup(void)
{
	char path[96];
	sigset_t mask;
	int fd;

	snprintf(s.dir, sizeof(s.dir), "/tmp/cv-fuzz-storaged.XXXXXX");
	FUZZ_CHECK(mkdtemp(s.dir));
	snprintf(path, sizeof(path), "%s/fuzz.vol", s.dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0 && ftruncate(fd, VOLUME_BYTES) == 0);
	close(fd);
	FUZZ_CHECK(storaged_init(&s.sd, s.dir, "127.0.0.1", 0) == 0);
	/* storaged_init blocks these for its signalfd; libFuzzer wants them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	for (int i = 0; i < CONNS; i++) {
		s.host[i].out = malloc(OUT_MAX);
		FUZZ_CHECK(s.host[i].out);
	}
	s.ready = true;
}

/* The host's view of the connection: what the daemon agreed to. */
static struct nvme_tcp_conn host_view(const struct host *h)
{
	struct nvme_tcp_conn v = h->c->tcp;

	v.role = NVME_TCP_HOST;
	v.ic_done = h->ic_seen;
	v.max_c2hdata = CONN_MAXH2CDATA;
	return v;
}

/* Check every whole PDU received so far; keep a partial one. */
static void check_pdus(struct host *h)
{
	size_t off = 0;

	while (h->out_len - off >= sizeof(struct nvme_tcp_ch)) {
		const uint8_t *p = h->out + off;
		struct nvme_tcp_conn v = host_view(h);
		struct nvme_tcp_layout l;
		union nvme_tcp_hdr hdr;
		uint32_t fei, digest;

		FUZZ_CHECK(!h->term_seen);
		memcpy(&hdr.ch, p, sizeof(hdr.ch));
		FUZZ_CHECK(nvme_tcp_check_ch(&v, &hdr.ch, &fei) == 0);
		if (h->out_len - off < hdr.ch.plen)
			break;
		nvme_tcp_layout(&hdr.ch, &l);
		memcpy(hdr.raw, p, l.hdr_len);
		FUZZ_CHECK(nvme_tcp_check_hdr(&v, &hdr, &fei) == 0);
		if (l.ddgst_len) {
			struct iovec iov = { (void *)(p + l.hdr_len + l.pad), l.data_len };

			memcpy(&digest, p + hdr.ch.plen - sizeof(digest), sizeof(digest));
			FUZZ_CHECK(nvme_tcp_data_digest(&iov, 1) == digest);
		}
		h->ic_seen |= hdr.ch.pdu_type == NVME_TCP_ICRESP;
		h->term_seen |= hdr.ch.pdu_type == NVME_TCP_C2H_TERM_REQ;
		off += hdr.ch.plen;
	}
	memmove(h->out, h->out + off, h->out_len - off);
	h->out_len -= off;
}

static void check_output(struct host *h)
{
	ssize_t n;

	/* What is kept is less than a PDU, whose length check_ch bounded. */
	while ((n = recv(h->fd, h->out + h->out_len, OUT_MAX - h->out_len, MSG_DONTWAIT)) > 0) {
		h->out_len += (size_t)n;
		check_pdus(h);
		FUZZ_CHECK(h->out_len < OUT_MAX / 2);
	}
}

/*
 * One turn of cv-storaged's loop for what arrived, then the file I/O to
 * its end (the daemon would come back for it on the ring's eventfd).
 */
static void drive(void)
{
	for (int turn = 0; turn < DRIVE_TURNS; turn++) {
		bool busy;

		for (int i = 0; i < CONNS; i++)
			if (!s.host[i].c->dead)
				conn_readable(s.host[i].c);
		while (s.sd.dirty) {
			struct conn *c = s.sd.dirty;

			s.sd.dirty = c->dirty_next;
			c->dirty = false;
			conn_flush(c);
		}
		busy = s.sd.be.inflight;
		/* A completion may queue the next step of its command: submit it. */
		while (s.sd.be.inflight) {
			struct io_uring_cqe *cqe;

			int r;

			FUZZ_CHECK(backend_submit(&s.sd.be) == 0);
			/* libFuzzer's timeout alarm interrupts the wait each second. */
			while ((r = io_uring_wait_cqe(&s.sd.be.ring, &cqe)) == -EINTR)
				;
			FUZZ_CHECK(r == 0);
			backend_reap(&s.sd.be);
		}
		for (int i = 0; i < CONNS; i++) {
			if (s.host[i].fd >= 0)
				check_output(&s.host[i]);
			/* A connection whose responses were waiting gets more room. */
			busy |= s.host[i].c->tx_head != NULL && !s.host[i].c->dead;
		}
		if (!busy && !s.sd.dirty)
			return;
		/* Output that finished only now is flushed on the next turn. */
		for (int i = 0; i < CONNS; i++)
			if (s.host[i].c->tx_head && !s.host[i].c->dead)
				storaged_mark_dirty(&s.sd, s.host[i].c);
	}
}

static void send_record(struct fuzz_in *in)
{
	static uint8_t buf[2 * 65536];
	uint8_t how = fuzz_u8(in);
	struct host *h = &s.host[how & 1];
	size_t len, sent = 0;
	const uint8_t *bytes = fuzz_take(in, fuzz_u16(in), &len);

	memcpy(buf, bytes, len);
	if (how & 4)
		len = fuzz_complete_pdu(buf, len, sizeof(buf));
	if (how & 2)
		fuzz_fix_digests(buf, len);
	/* A full socket waits for the daemon to read, as TCP would. */
	for (int tries = 0; sent < len && tries < DRIVE_TURNS && !h->c->dead; tries++) {
		ssize_t n = send(h->fd, buf + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0)
			sent += (size_t)n;
		drive();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);

	if (!s.ready)
		setup();
	/* Controller ids from 1 again, so an input's Connects mean the same. */
	s.sd.ctrls.last_cntlid = 0;
	for (int i = 0; i < CONNS; i++) {
		struct host *h = &s.host[i];
		int sv[2];
		char peer[32];

		FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
				      sv) == 0);
		snprintf(peer, sizeof(peer), "fuzz-host-%d", i);
		h->c = conn_new(&s.sd, sv[0], peer);
		FUZZ_CHECK(h->c);
		h->c->next = s.sd.conns;
		s.sd.conns = h->c;
		s.sd.nconns++;
		h->fd = sv[1];
		h->out_len = 0;
		h->term_seen = h->ic_seen = false;
	}

	while (!fuzz_empty(&in))
		send_record(&in);

	/* The hosts hang up (EPOLLIN and EPOLLHUP for the daemon); their file
	 * I/O completes into nothing. */
	for (int i = 0; i < CONNS; i++) {
		close(s.host[i].fd);
		s.host[i].fd = -1;
		if (!s.host[i].c->dead)
			storaged_mark_dirty(&s.sd, s.host[i].c);
	}
	drive();
	FUZZ_CHECK(!s.sd.dirty);
	while (s.sd.conns) {
		struct conn *c = s.sd.conns;

		FUZZ_CHECK(c->dead && !c->io_inflight);
		s.sd.conns = c->next;
		FUZZ_CHECK(conn_reap(c));
		s.sd.nconns--;
	}
	FUZZ_CHECK(s.sd.ctrls.head == NULL && s.sd.ctrls.attachments == NULL);
	return 0;
}
