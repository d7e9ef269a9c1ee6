/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe/TCP host tests' environment, shared by test_nvmf_pdu.c (the PDU
 * engine) and test_nvmf_host.c (the association), as the host itself is
 * split: a scripted target on a real TCP socket, a thread that answers
 * set-up, serves a small RAM disk (reads with the C2HData SUCCESS flag,
 * writes through two R2Ts each) and, when told, sends one PDU a target
 * must not send; and the host side's helpers.  Helpers are static inline:
 * each test program uses its own part of them.
 */
#ifndef CV_TEST_NVMF_TARGET_ENV_H
#define CV_TEST_NVMF_TARGET_ENV_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <cmocka.h>

#include "cards/ebs/nvmf_host.h"
#include "tools/lib/log.h"
#include "tools/lib/nvme_tcp.h"

#define BLOCKS     256
#define BSZ        4096
#define FAKE_MAXH2C 8192
#define MAX_CONNS  8

enum fault { F_NONE, F_FORGED_CID, F_BAD_DATAO, F_R2T_FOR_READ, F_BAD_DDGST };

struct fconn {
	int fd;
	uint16_t qid;
	struct nvme_tcp_conn c;
	/* The write waiting for H2CData. */
	struct nvme_sqe wsqe;
	uint32_t wlen, wgot, r2t_end;
};

static struct fake {
	int lfd;
	uint16_t port;
	pthread_t th;
	volatile bool stop;
	volatile int fault;       /* armed for the next I/O read */
	volatile int terms, fes, fei, reads, keep_alives;
	struct fconn conns[MAX_CONNS];
	uint8_t disk[BLOCKS * BSZ];
} f;

static inline int recv_all(int fd, void *buf, size_t len)
{
	return recv(fd, buf, len, MSG_WAITALL) == (ssize_t)len ? 0 : -1;
}

static inline void send_pdu(struct fconn *fc, struct nvme_tcp_pdu *pdu, void *data, size_t len)
{
	struct iovec iov[3] = { { pdu->hdr.raw, pdu->hdr_len }, { data, len },
				{ pdu->ddgst, pdu->ddgst_len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 3 };

	/* A host that went away shows up as EOF on the next poll. */
	if (sendmsg(fc->fd, &msg, MSG_NOSIGNAL) < 0)
		return;
}

static inline void respond(struct fconn *fc, uint16_t cid, uint16_t sc, uint32_t dw0, uint32_t dw1)
{
	struct nvme_tcp_pdu pdu;
	struct nvme_cqe cqe = { .dw0 = dw0, .dw1 = dw1, .cid = cid,
				.status = nvme_cqe_status(sc, false) };

	nvme_tcp_build_capsule_resp(&pdu, &fc->c, &cqe);
	send_pdu(fc, &pdu, NULL, 0);
}

/* Data to the host in FAKE_MAXH2C pieces; the last one with SUCCESS if asked. */
static inline void send_data(struct fconn *fc, uint16_t cid, uint8_t *data, uint32_t len, bool success)
{
	struct nvme_tcp_pdu pdu;

	for (uint32_t off = 0; off < len; off += FAKE_MAXH2C) {
		uint32_t n = len - off < FAKE_MAXH2C ? len - off : FAKE_MAXH2C;
		struct iovec iov = { data + off, n };
		bool last = off + n == len;

		nvme_tcp_build_c2h_data(&pdu, &fc->c, cid, off, &iov, 1,
					last ? NVME_TCP_F_LAST_PDU | (success ? NVME_TCP_F_SUCCESS : 0) : 0);
		send_pdu(fc, &pdu, data + off, n);
	}
}

static inline void send_r2t(struct fconn *fc)
{
	struct nvme_tcp_pdu pdu;
	uint32_t half = fc->wlen / 2 / BSZ * BSZ;
	uint32_t end = fc->wgot == 0 && half ? half : fc->wlen;

	nvme_tcp_build_r2t(&pdu, &fc->c, fc->wsqe.cid, 7, fc->wgot, end - fc->wgot);
	fc->r2t_end = end;
	send_pdu(fc, &pdu, NULL, 0);
}

static inline void io_read(struct fconn *fc, const struct nvme_sqe *sqe)
{
	uint64_t slba = sqe->cdw10 | (uint64_t)sqe->cdw11 << 32;
	uint32_t len = ((sqe->cdw12 & 0xffff) + 1) * BSZ;
	uint8_t *data = f.disk + slba * BSZ;
	int fault = __atomic_exchange_n(&f.fault, F_NONE, __ATOMIC_SEQ_CST);
	struct nvme_tcp_pdu pdu;
	struct iovec iov = { data, BSZ };

	f.reads++;
	switch (fault) {
	case F_FORGED_CID:
		respond(fc, sqe->cid ^ 0x40, NVME_SC_SUCCESS, 0, 0);
		return;
	case F_BAD_DATAO:
		nvme_tcp_build_c2h_data(&pdu, &fc->c, sqe->cid, len, &iov, 1, 0);
		send_pdu(fc, &pdu, data, BSZ);
		return;
	case F_R2T_FOR_READ:
		nvme_tcp_build_r2t(&pdu, &fc->c, sqe->cid, 1, 0, len);
		send_pdu(fc, &pdu, NULL, 0);
		return;
	case F_BAD_DDGST:     /* one block: one C2HData, then the response */
		nvme_tcp_build_c2h_data(&pdu, &fc->c, sqe->cid, 0, &iov, 1, NVME_TCP_F_LAST_PDU);
		pdu.ddgst[0] ^= 1;
		send_pdu(fc, &pdu, data, BSZ);
		respond(fc, sqe->cid, NVME_SC_SUCCESS, 0, 0);
		return;
	}
	send_data(fc, sqe->cid, data, len, true);
}

static inline void admin_cmd(struct fconn *fc, const struct nvme_sqe *sqe, const uint8_t *data)
{
	static union {
		struct nvme_id_ctrl ctrl;
		struct nvme_id_ns ns;
		uint32_t list[1024];
	} id;
	const struct nvmf_cmd *fab = (const void *)sqe;
	uint32_t ioccsz = (sizeof(struct nvme_sqe) + 8192) / 16;
	uint64_t cap = NVME_CAP_SET_MQES(127) | NVME_CAP_SET_TO(1) | NVME_CAP_CSS_NVM;

	memset(&id, 0, sizeof(id));
	switch (sqe->opc) {
	case NVME_ADMIN_FABRICS:
		if (fab->fctype == NVMF_FCTYPE_CONNECT) {
			/* data: struct nvmf_connect_data, taken as it comes */
			(void)data;
			fc->qid = ((const struct nvmf_connect_cmd *)sqe)->qid;
			respond(fc, sqe->cid, NVME_SC_SUCCESS, 1, 0);
		} else if (fab->fctype == NVMF_FCTYPE_PROP_GET) {
			uint32_t ofs = ((const struct nvmf_prop_get_cmd *)sqe)->offset;
			uint64_t v = ofs == NVME_REG_CAP ? cap : ofs == NVME_REG_CSTS ? NVME_CSTS_RDY : 0;

			respond(fc, sqe->cid, NVME_SC_SUCCESS, (uint32_t)v, (uint32_t)(v >> 32));
		} else {
			respond(fc, sqe->cid, NVME_SC_SUCCESS, 0, 0);
		}
		return;
	case NVME_ADMIN_IDENTIFY:
		if ((sqe->cdw10 & 0xff) == NVME_CNS_CTRL) {
			id.ctrl.cntlid = 1;
			memcpy(id.ctrl.nvmof, &ioccsz, 4);
		} else if ((sqe->cdw10 & 0xff) == NVME_CNS_ACTIVE_NS_LIST) {
			id.list[0] = 1;
		} else {
			id.ns.nsze = id.ns.ncap = BLOCKS;
			id.ns.lbaf[0].lbads = 12;
		}
		send_data(fc, sqe->cid, (uint8_t *)&id, sizeof(id), false);
		respond(fc, sqe->cid, NVME_SC_SUCCESS, 0, 0);
		return;
	case NVME_ADMIN_KEEP_ALIVE:
		f.keep_alives++;
		/* fall through */
	default:   /* Set Features: one queue granted */
		respond(fc, sqe->cid, NVME_SC_SUCCESS, 0, 0);
	}
}

static inline void on_pdu(struct fconn *fc, uint8_t *buf)
{
	struct nvme_tcp_ch *ch = (void *)buf;
	struct nvme_tcp_layout l;
	struct nvme_tcp_pdu pdu;

	nvme_tcp_layout(ch, &l);
	switch (ch->pdu_type) {
	case NVME_TCP_ICREQ: {
		const struct nvme_tcp_icreq *req = (void *)buf;

		fc->c = (struct nvme_tcp_conn){ .role = NVME_TCP_CTRL,
			.hdgst = req->dgst & NVME_TCP_DGST_HDGST,
			.ddgst = req->dgst & NVME_TCP_DGST_DDGST,
			.maxh2cdata = FAKE_MAXH2C, .max_icdata = 8192 };
		nvme_tcp_build_icresp(&pdu, &fc->c);
		fc->c.ic_done = true;
		send_pdu(fc, &pdu, NULL, 0);
		return;
	}
	case NVME_TCP_H2C_TERM_REQ: {
		const struct nvme_tcp_term_req *t = (void *)buf;

		f.fes = t->fes;
		f.fei = t->fei;
		f.terms++;
		close(fc->fd);
		fc->fd = -1;
		return;
	}
	case NVME_TCP_CAPSULE_CMD: {
		const struct nvme_sqe *sqe = &((struct nvme_tcp_capsule_cmd *)buf)->sqe;
		uint8_t *data = buf + ch->pdo;
		uint64_t slba = sqe->cdw10 | (uint64_t)sqe->cdw11 << 32;

		if (!fc->qid || sqe->opc == NVME_ADMIN_FABRICS) {
			admin_cmd(fc, sqe, data);
			return;
		}
		if (sqe->opc == NVME_NVM_READ) {
			io_read(fc, sqe);
		} else if (sqe->opc == NVME_NVM_WRITE && l.data_len) {
			memcpy(f.disk + slba * BSZ, data, l.data_len);
			respond(fc, sqe->cid, NVME_SC_SUCCESS, 0, 0);
		} else if (sqe->opc == NVME_NVM_WRITE) {
			fc->wsqe = *sqe;
			fc->wlen = ((sqe->cdw12 & 0xffff) + 1) * BSZ;
			fc->wgot = 0;
			send_r2t(fc);
		} else {
			respond(fc, sqe->cid, NVME_SC_SUCCESS, 0, 0);
		}
		return;
	}
	case NVME_TCP_H2C_DATA: {
		const struct nvme_tcp_data *d = (void *)buf;
		uint64_t slba = fc->wsqe.cdw10 | (uint64_t)fc->wsqe.cdw11 << 32;

		memcpy(f.disk + slba * BSZ + d->datao, buf + ch->pdo, d->datal);
		fc->wgot = d->datao + d->datal;
		if (fc->wgot == fc->wlen)
			respond(fc, fc->wsqe.cid, NVME_SC_SUCCESS, 0, 0);
		else if (fc->wgot == fc->r2t_end)
			send_r2t(fc);
		return;
	}
	}
}

static inline void *fake_main(void *arg)
{
	static uint8_t buf[(1 << 20) + 4096];

	(void)arg;
	while (!f.stop) {
		struct pollfd p[MAX_CONNS + 1] = { { .fd = f.lfd, .events = POLLIN } };

		for (int i = 0; i < MAX_CONNS; i++)
			p[i + 1] = (struct pollfd){ .fd = f.conns[i].fd, .events = POLLIN };
		if (poll(p, MAX_CONNS + 1, 20) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int fd = accept(f.lfd, NULL, NULL), one = 1;

			/* Data then response in two sends must not wait for an ACK. */
			if (fd >= 0)
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

			for (int i = 0; fd >= 0 && i < MAX_CONNS; i++)
				if (f.conns[i].fd < 0) {
					memset(&f.conns[i], 0, sizeof(f.conns[i]));
					f.conns[i].fd = fd;
					fd = -1;
				}
			if (fd >= 0)
				close(fd);
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			struct fconn *fc = &f.conns[i];
			struct nvme_tcp_ch *ch = (void *)buf;

			if (fc->fd < 0 || !(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (recv_all(fc->fd, buf, sizeof(*ch)) || ch->plen > sizeof(buf) ||
			    ch->plen < sizeof(*ch) ||
			    recv_all(fc->fd, buf + sizeof(*ch), ch->plen - sizeof(*ch))) {
				close(fc->fd);
				fc->fd = -1;
				continue;
			}
			on_pdu(fc, buf);
		}
	}
	return NULL;
}

static inline int fake_start(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	(void)state;
	cv_log_init("test_nvmf_host", false);
	memset(&f, 0, sizeof(f));
	for (int i = 0; i < MAX_CONNS; i++)
		f.conns[i].fd = -1;
	f.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f.lfd < 0 || bind(f.lfd, (void *)&a, sizeof(a)) || listen(f.lfd, 8) ||
	    getsockname(f.lfd, (void *)&a, &al))
		return -1;
	f.port = ntohs(a.sin_port);
	return pthread_create(&f.th, NULL, fake_main, NULL) ? -1 : 0;
}

static inline int fake_stop(void **state)
{
	(void)state;
	f.stop = true;
	pthread_join(f.th, NULL);
	for (int i = 0; i < MAX_CONNS; i++)
		if (f.conns[i].fd >= 0)
			close(f.conns[i].fd);
	close(f.lfd);
	return 0;
}

/* ---- the host side ---- */

struct waiter {
	struct nvmf_req req;
	bool done;
	uint16_t status;
};

static inline void on_done(struct nvmf_req *req, uint16_t status)
{
	struct waiter *w = (struct waiter *)req;

	w->done = true;
	w->status = status;
}

static inline struct nvmf_ctrl *connect_host(bool ddgst, unsigned kato_ms)
{
	char port[8];
	struct nvmf_opts o = {
		.addr = "127.0.0.1", .port = port,
		.subnqn = "nqn.2026-11.io.cardvisor:vol-unit",
		.hostnqn = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001",
		.nr_io_queues = 1, .queue_size = 8, .hdgst = ddgst, .ddgst = ddgst,
		.kato_ms = kato_ms, .connect_timeout_ms = 5000, .reconnect_timeout_ms = 5000,
	};
	struct nvmf_ctrl *c = NULL;

	snprintf(port, sizeof(port), "%u", f.port);
	assert_int_equal(nvmf_ctrl_connect(&o, &c), 0);
	return c;
}

/* Submit one command and drive the host until it completes. */
static inline uint16_t run_cmd(struct nvmf_ctrl *c, uint8_t opc, uint64_t slba, uint32_t nlb, void *buf)
{
	struct nvmf_queue *q = nvmf_ctrl_queue(c, 0);
	struct iovec iov = { buf, (size_t)nlb * BSZ };
	struct waiter w = { .req = { .opc = opc, .slba = slba, .nlb = nlb, .iov = &iov,
				     .iovcnt = 1, .done = on_done } };
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(0), spins = 0;

	ev.data.u32 = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, nvmf_ctrl_fd(c), &ev);
	ev.data.u32 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, nvmf_queue_fd(q), &ev);
	assert_int_equal(nvmf_submit(q, &w.req), 0);
	nvmf_queue_kick(q);
	while (!w.done && spins++ < 1000) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, 100);

		for (int i = 0; i < n; i++) {
			if (got[i].data.u32)
				nvmf_queue_process(q);
			else
				nvmf_ctrl_process(c);
		}
	}
	close(ep);
	assert_true(w.done);
	return w.status;
}

#endif /* CV_TEST_NVMF_TARGET_ENV_H */
