/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe/TCP host: association set-up (ICReq/ICResp, TLS, Fabrics Connect,
 * the admin queue's properties and Identify), Keep Alive, reconnect and
 * the public calls; the per-queue PDU engine (command capsules,
 * R2T/H2CData, C2HData, digests) is nvmf_pdu.c.  Specs: NVM Express Base
 * 2.0 ("Base"), NVM Command Set 1.0 ("NVM"), NVMe/TCP Transport 1.0
 * ("TCP"); sections cited by title.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cards/ebs/nvmf_host_internal.h"
#include "tools/lib/log.h"

static __attribute__((format(printf, 3, 4)))
int fail(struct nvmf_ctrl *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return err;
}

/* ---- connection teardown ---- */

static void q_close(struct nvmf_queue *q)
{
	nvme_tls_free(q->tls);
	q->tls = NULL;
	if (q->sock >= 0) {
		close(q->sock);       /* leaves the epoll set with it */
		q->sock = -1;
	}
	q->out_armed = false;
	q->nbatch = q->tx_cnt = q->tx_pos = 0;
	q->tx_started = false;
	q->rx_start = q->rx_end = 0;
	q->phase = RX_CH;
	q->need = sizeof(struct nvme_tcp_ch);
	q->got = 0;
	q->rx_slot = NULL;
	q->txq_head = q->txq_tail = -1;
}

/*
 * After q_close(): internal commands fail, a command whose response was
 * already in completes with it, the rest wait for the next association.
 */
static void q_hold_slots(struct nvmf_queue *q, int64_t deadline)
{
	for (unsigned i = 0; i < q->nslots; i++) {
		struct slot *s = &q->slots[i];
		bool deferred = s->deferred;

		if (s->state == SLOT_FREE)
			continue;
		s->in_txq = false;
		nvmf_slot_rewind(s);
		if (deferred)
			nvmf_slot_complete(q, s, s->def_status, s->req->result);
		else if (s->internal)
			nvmf_slot_complete(q, s, nvme_cqe_status(NVMF_SC_CMD_INTERRUPTED, false), 0);
		else if (s->state != SLOT_HELD) {
			s->state = SLOT_HELD;
			s->deadline = deadline;
		}
	}
}

static void ctrl_arm_timer(struct nvmf_ctrl *c);

/* Exponential backoff between reconnect attempts, BACKOFF_MIN_MS to _MAX_MS. */
static void backoff_grow(struct nvmf_ctrl *c, int64_t now)
{
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	c->next_attempt = now + c->backoff_ms;
}

/* The association is gone: hold everything, reconnect from the timer. */
static void ctrl_down(struct nvmf_ctrl *c, int err)
{
	int64_t now = now_ms();

	cv_warn("nvmf %s:%s %s: association lost (%s), reconnecting", c->addr, c->port,
		c->subnqn, strerror(-err));
	c->state = CTRL_RECONNECTING;
	c->gen++;
	c->down_since = now;
	/*
	 * A target that drops every association right after it is made
	 * (or that we keep terminating) is retried no faster than backoff.
	 */
	if (now - c->up_since >= BACKOFF_MAX_MS) {
		c->backoff_ms = BACKOFF_MIN_MS;
		c->next_attempt = now;
	} else {
		backoff_grow(c, now);
	}
	c->ka_busy = false;
	for (unsigned i = 0; i < c->nq; i++)
		q_close(&c->q[i]);
	for (unsigned i = 0; i < c->nq; i++)
		q_hold_slots(&c->q[i], now + c->opts.reconnect_timeout_ms);
	ctrl_arm_timer(c);
}

/* This queue's connection failed. */
void nvmf_q_fail(struct nvmf_queue *q, int err)
{
	if (q->sock < 0)
		return;
	if (q->ctrl->state == CTRL_LIVE) {
		ctrl_down(q->ctrl, err);
	} else {
		q_close(q);
		q->err = err;
	}
}


/* ---- set-up: blocking steps with a deadline ---- */

/* Run the queue until cond(arg) holds, its connection fails or time is up. */
static int q_wait(struct nvmf_queue *q, bool (*cond)(struct nvmf_queue *, void *), void *arg,
		  int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = q->sock, .events = POLLIN };
		int64_t left;

		nvmf_q_flush(q);
		if (cond(q, arg))
			return 0;
		if (q->sock < 0)
			return q->err ? q->err : -ECONNRESET;
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (q->nbatch)
			pfd.events |= POLLOUT;
		if (nvme_tls_pending(q->tls))
			left = 0;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		nvmf_q_rx(q);
	}
}

struct sync_req {
	struct nvmf_req req;
	bool done;
	uint16_t status;
};

static void sync_done(struct nvmf_req *req, uint16_t status)
{
	struct sync_req *w = (struct sync_req *)req;

	w->done = true;
	w->status = status;
}

static bool sync_finished(struct nvmf_queue *q, void *arg)
{
	(void)q;
	return ((struct sync_req *)arg)->done;
}

/* One set-up command; 0 with *result, or a negative errno with c->why. */
static int sync_cmd(struct nvmf_queue *q, const void *sqe, void *buf, uint32_t len,
		    bool to_ctrl, uint64_t *result, int64_t deadline, const char *what)
{
	struct nvmf_ctrl *c = q->ctrl;
	struct sync_req w = { .req.done = sync_done };
	struct slot *s = nvmf_slot_alloc(q, true);
	int r;

	if (!s)
		return fail(c, -EBUSY, "qid %u: no tag for %s", q->qid, what);
	s->own_iov = (struct iovec){ buf, len };
	nvmf_slot_start(q, s, sqe, &s->own_iov, len ? 1 : 0, len, to_ctrl, &w.req);
	r = q_wait(q, sync_finished, &w, deadline);
	if (r < 0) {
		/* The slot must not outlive w: close, which fails it. */
		q_close(q);
		q_hold_slots(q, 0);
		return fail(c, r, "qid %u: %s: %s", q->qid, what, strerror(-r));
	}
	if (w.status) {
		/*
		 * Do Not Retry: -EREMOTEIO (a reconnect gives up).  Else
		 * Controller Busy is another host holding the volume, which
		 * may let go (-EBUSY); anything else may pass next time.
		 */
		int err = w.status & NVME_STATUS_DNR ? -EREMOTEIO :
			  nvme_cqe_code(w.status) == NVME_SC_CONNECT_CTRL_BUSY ? -EBUSY : -EAGAIN;

		return fail(c, err, "qid %u: %s failed: SCT %#x SC %#x%s", q->qid, what,
			    NVME_SC_SCT(nvme_cqe_code(w.status)),
			    NVME_SC_SC(nvme_cqe_code(w.status)),
			    w.status & NVME_STATUS_DNR ? " DNR" : "");
	}
	if (result)
		*result = w.req.result;
	return 0;
}

/*
 * The target's addresses, looked up once when the controller is made: a
 * reconnect must not need the resolver (files, NSS modules, DNS sockets),
 * which the card's system call filter does not allow once it serves.
 */
static int tcp_resolve(struct nvmf_ctrl *c)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	int r = getaddrinfo(c->addr, c->port, &hints, &c->ai);

	if (r) {
		c->ai = NULL;
		return fail(c, -EHOSTUNREACH, "%s:%s: %s", c->addr, c->port, gai_strerror(r));
	}
	return 0;
}

static int tcp_connect(struct nvmf_ctrl *c, int64_t deadline)
{
	int fd = -1, r, err = -EHOSTUNREACH, one = 1;

	for (const struct addrinfo *a = c->ai; a; a = a->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(r);
		int64_t left;

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		err = -errno;
		if (errno == EINPROGRESS) {
			pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
			left = deadline - now_ms();
			r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			err = r == 0 ? -ETIMEDOUT : r < 0 ? -errno : 0;
			if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &sl) == 0)
				err = -r;
			if (!err)
				break;
		}
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return fail(c, err, "connect %s:%s: %s", c->addr, c->port, strerror(-err));
	return fd;
}

/*
 * TLS before anything else on the connection (TCP Transport 1.0,
 * "Transport Layer Security"): the PSK proves this host and cv-storaged to
 * each other for this subsystem.
 */
static int q_tls(struct nvmf_queue *q, int64_t deadline)
{
	struct nvmf_ctrl *c = q->ctrl;
	int r = nvme_tls_client(c->tls_ctx, q->sock, &c->tls_key, c->hostnqn, c->subnqn, &q->tls);

	while (!r && (r = nvme_tls_handshake(q->tls)) == -EAGAIN) {
		struct pollfd pfd = { .fd = q->sock,
				      .events = nvme_tls_want_write(q->tls) ? POLLOUT : POLLIN };
		int64_t left = deadline - now_ms();

		if (left <= 0)
			r = -ETIMEDOUT;
		else if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			r = -errno;
		else
			r = 0;
	}
	if (!r)
		return 0;
	fail(c, r, "qid %u: TLS handshake: %s", q->qid,
	     r == -ETIMEDOUT || !q->tls ? strerror(-r) : nvme_tls_error(q->tls));
	q_close(q);
	return r;
}

static bool ic_finished(struct nvmf_queue *q, void *arg)
{
	(void)arg;
	return q->conn.ic_done;
}

/* TCP connection, ICReq/ICResp (TCP, "Connection Establishment"). */
static int q_open(struct nvmf_queue *q, uint32_t max_icdata, uint32_t max_c2hdata,
		  int64_t deadline)
{
	struct nvmf_ctrl *c = q->ctrl;
	struct epoll_event ev = { .events = EPOLLIN };
	int fd, r;

	fd = tcp_connect(c, deadline);
	if (fd < 0)
		return fd;
	q_close(q);
	q->sock = fd;
	q->err = 0;
	if (epoll_ctl(q->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		r = -errno;
		q_close(q);
		return fail(c, r, "qid %u: epoll: %s", q->qid, strerror(-r));
	}
	if (c->tls_ctx && (r = q_tls(q, deadline)))
		return r;
	q->conn = (struct nvme_tcp_conn){
		.role = NVME_TCP_HOST,
		.hdgst = c->opts.hdgst,
		.ddgst = c->opts.ddgst,
		.max_icdata = max_icdata,
		.max_c2hdata = max_c2hdata,
	};
	/* MAXR2T 0: one outstanding R2T per command. */
	nvme_tcp_build_icreq(&q->batch[0], &q->conn, 0);
	nvmf_batch_add(q, NULL, 0);
	r = q_wait(q, ic_finished, NULL, deadline);
	if (r < 0) {
		q_close(q);
		return fail(c, r, "qid %u: ICReq/ICResp: %s", q->qid, strerror(-r));
	}
	return 0;
}

/*
 * Fabrics Connect (Base, "Connect Command and Response").  SQSIZE is 0's
 * based and a full queue keeps one entry empty (Base, "Full Queue"), so
 * depth commands in flight need depth + 1 entries: SQSIZE = depth.
 */
static int q_connect(struct nvmf_queue *q, uint16_t depth, uint16_t cntlid,
		     uint16_t *cntlid_out, int64_t deadline)
{
	struct nvmf_ctrl *c = q->ctrl;
	struct nvmf_connect_cmd cmd = {
		.opc = NVME_ADMIN_FABRICS,
		.fctype = NVMF_FCTYPE_CONNECT,
		.recfmt = NVMF_CONNECT_RECFMT,
		.qid = q->qid,
		.sqsize = depth,
		.kato = q->qid ? 0 : c->opts.kato_ms,
	};
	struct nvmf_connect_data data = { .cntlid = cntlid };
	uint64_t res = 0;
	int r;

	memcpy(data.hostid, c->opts.hostid, sizeof(data.hostid));
	memcpy(data.subnqn, c->subnqn, strlen(c->subnqn));
	memcpy(data.hostnqn, c->hostnqn, strlen(c->hostnqn));
	r = sync_cmd(q, &cmd, &data, sizeof(data), true, &res, deadline, "Connect");
	if (r == 0 && cntlid_out)
		*cntlid_out = NVMF_CONNECT_RSP_CNTLID(res);
	return r;
}

static int prop_get(struct nvmf_queue *q, uint32_t ofs, bool wide, uint64_t *val,
		    int64_t deadline)
{
	struct nvmf_prop_get_cmd cmd = {
		.opc = NVME_ADMIN_FABRICS,
		.fctype = NVMF_FCTYPE_PROP_GET,
		.attrib = wide ? NVMF_PROP_ATTRIB_SIZE_8 : NVMF_PROP_ATTRIB_SIZE_4,
		.offset = ofs,
	};

	return sync_cmd(q, &cmd, NULL, 0, false, val, deadline, "Property Get");
}

static int prop_set(struct nvmf_queue *q, uint32_t ofs, uint32_t val, int64_t deadline)
{
	struct nvmf_prop_set_cmd cmd = {
		.opc = NVME_ADMIN_FABRICS,
		.fctype = NVMF_FCTYPE_PROP_SET,
		.attrib = NVMF_PROP_ATTRIB_SIZE_4,
		.offset = ofs,
		.value = val,
	};

	return sync_cmd(q, &cmd, NULL, 0, false, NULL, deadline, "Property Set");
}

static int identify(struct nvmf_queue *q, enum nvme_identify_cns cns, uint32_t nsid, int64_t deadline)
{
	struct nvme_sqe sqe = { .opc = NVME_ADMIN_IDENTIFY, .nsid = nsid, .cdw10 = cns };

	memset(&q->ctrl->id, 0, NVME_IDENTIFY_LEN);
	return sync_cmd(q, &sqe, &q->ctrl->id, NVME_IDENTIFY_LEN, false, NULL, deadline,
			"Identify");
}

/* Controller enable (Base, "Initialization", fabrics steps), then what I/O needs. */
static int admin_setup(struct nvmf_ctrl *c, struct nvmf_ctrl_info *in, int64_t deadline)
{
	struct nvmf_queue *aq = &c->q[0];
	const struct nvme_id_ctrl *idc = &c->id.ctrl;
	const struct nvme_lbaf *lbaf;
	unsigned want = c->opts.nr_io_queues;
	uint32_t ioccsz, mps, nsqa, ncqa;
	uint16_t icdoff;
	uint64_t cap, csts, res;
	int r;

	r = q_open(aq, ADMIN_ICDATA, NVME_IDENTIFY_LEN, deadline);
	if (!r)
		r = q_connect(aq, AQ_DEPTH, NVMF_CNTLID_DYNAMIC, &in->cntlid, deadline);
	if (!r)
		r = prop_get(aq, NVME_REG_CAP, true, &cap, deadline);
	if (r)
		return r;
	if (NVME_CAP_MQES(cap) < c->opts.queue_size)
		return fail(c, -EINVAL, "queue size %u needs %u entries, the target has %u",
			    c->opts.queue_size, c->opts.queue_size + 1, NVME_CAP_MQES(cap) + 1);
	r = prop_set(aq, NVME_REG_CC, NVME_CC_EN | NVME_CC_CSS_NVM << 4 |
		     NVME_SQES_LOG2 << 16 | NVME_CQES_LOG2 << 20, deadline);
	for (csts = 0; !r && !(csts & NVME_CSTS_RDY);) {
		r = prop_get(aq, NVME_REG_CSTS, false, &csts, deadline);
		if (!r && (csts & NVME_CSTS_CFS))
			return fail(c, -EIO, "controller fatal status while enabling");
		if (!r && !(csts & NVME_CSTS_RDY))
			poll(NULL, 0, 1);
	}
	if (!r)
		r = identify(aq, NVME_CNS_CTRL, 0, deadline);
	if (r)
		return r;
	/* Fabrics fields (Base, "Identify Controller", bytes 1792 on). */
	memcpy(&ioccsz, &idc->nvmof[0], 4);
	memcpy(&icdoff, &idc->nvmof[8], 2);
	if (icdoff)   /* NVMe/TCP in-capsule data starts right after the SQE */
		return fail(c, -EPROTO, "ICDOFF %u not supported", icdoff);
	if (ioccsz < 4)
		return fail(c, -EPROTO, "IOCCSZ %u below one SQE", ioccsz);
	mps = 4096u << NVME_CAP_MPSMIN(cap);
	in->max_xfer = MAX_XFER;
	if (idc->mdts && idc->mdts < 31 && ((uint64_t)mps << idc->mdts) < MAX_XFER)
		in->max_xfer = mps << idc->mdts;
	in->max_icdata = ioccsz * 16 - sizeof(struct nvme_sqe);
	in->nsid = c->opts.nsid;
	if (!in->nsid) {
		r = identify(aq, NVME_CNS_ACTIVE_NS_LIST, 0, deadline);
		if (r)
			return r;
		in->nsid = c->id.nsids[0];
		if (!in->nsid)
			return fail(c, -ENODEV, "%s has no active namespace", c->subnqn);
	}
	r = identify(aq, NVME_CNS_NS, in->nsid, deadline);
	if (r)
		return r;
	in->nsze = c->id.ns.nsze;
	lbaf = &c->id.ns.lbaf[c->id.ns.flbas & 0xf];
	if (lbaf->ms || lbaf->lbads < 9 || lbaf->lbads > 16)
		return fail(c, -ENOTSUP, "nsid %u: LBA format with %u-byte metadata, LBADS %u",
			    in->nsid, lbaf->ms, lbaf->lbads);
	in->lba_size = 1u << lbaf->lbads;
	in->max_xfer -= in->max_xfer % in->lba_size;
	/* Base, "Number of Queues": counts are 0's based both ways. */
	struct nvme_sqe sf = { .opc = NVME_ADMIN_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
			       .cdw11 = NVME_NUMQ(want - 1, want - 1) };
	r = sync_cmd(aq, &sf, NULL, 0, false, &res, deadline, "Set Features (Number of Queues)");
	if (r)
		return r;
	nsqa = NVME_NUMQ_NSQ(res) + 1;
	ncqa = NVME_NUMQ_NCQ(res) + 1;
	in->nr_io_queues = want;
	if (nsqa < in->nr_io_queues)
		in->nr_io_queues = nsqa;
	if (ncqa < in->nr_io_queues)
		in->nr_io_queues = ncqa;
	in->queue_size = c->opts.queue_size;
	return 0;
}

/* One attempt at a whole association; on failure everything is closed. */
static int assoc_setup(struct nvmf_ctrl *c)
{
	int64_t deadline = now_ms() + c->opts.connect_timeout_ms;
	struct nvmf_ctrl_info in = { 0 };
	int r;

	c->state = CTRL_CONNECTING;
	r = admin_setup(c, &in, deadline);
	if (!r && c->have_info && (in.nsid != c->info.nsid || in.nsze != c->info.nsze ||
				   in.lba_size != c->info.lba_size ||
				   in.nr_io_queues < c->info.nr_io_queues ||
				   in.max_xfer < c->info.max_xfer))
		r = fail(c, -ESTALE, "the namespace or queue limits changed across reconnect");
	if (!r && !c->have_info) {
		c->nq = 1 + in.nr_io_queues;
		c->info = in;
	}
	for (unsigned i = 1; !r && i < c->nq; i++) {
		r = q_open(&c->q[i], in.max_icdata, in.max_xfer, deadline);
		if (!r)
			r = q_connect(&c->q[i], (uint16_t)in.queue_size, in.cntlid, NULL, deadline);
	}
	if (r) {
		for (unsigned i = 0; i < c->nq; i++) {
			q_close(&c->q[i]);
			q_hold_slots(&c->q[i], 0);
		}
		return r;
	}
	c->info.cntlid = in.cntlid;
	c->info.maxh2cdata = c->q[c->nq > 1 ? 1 : 0].conn.maxh2cdata;
	c->info.hdgst = c->q[0].conn.hdgst;
	c->info.ddgst = c->q[0].conn.ddgst;
	c->have_info = true;
	c->state = CTRL_LIVE;
	c->up_since = now_ms();
	c->ka_busy = false;
	c->ka_next = now_ms() + c->opts.kato_ms / 2;
	return 0;
}

/* ---- timers: Keep Alive, reconnect, expiry of held commands ---- */

static void ka_done(struct nvmf_req *req, uint16_t status)
{
	struct nvmf_ctrl *c = req->priv;

	c->ka_busy = false;
	if (status && nvme_cqe_code(status) != NVMF_SC_CMD_INTERRUPTED)
		cv_err_once("nvmf %s: Keep Alive failed with status %#x", c->subnqn, status);
}

static void ctrl_arm_timer(struct nvmf_ctrl *c)
{
	int64_t when = INT64_MAX, now = now_ms();
	struct itimerspec its = { 0 };

	if (c->state == CTRL_RECONNECTING) {
		when = c->next_attempt;
		for (unsigned i = 1; i < c->nq; i++)
			for (unsigned t = 0; t < c->q[i].nslots; t++)
				if (c->q[i].slots[t].state == SLOT_HELD &&
				    c->q[i].slots[t].deadline < when)
					when = c->q[i].slots[t].deadline;
	} else if (c->state == CTRL_LIVE && c->opts.kato_ms) {
		when = c->ka_busy ? c->ka_sent + c->opts.kato_ms : c->ka_next;
	}
	if (when != INT64_MAX) {
		when = when > now ? when - now : 0;
		/* 0 would disarm: fire in a microsecond instead. */
		its.it_value.tv_sec = when / 1000;
		its.it_value.tv_nsec = (when % 1000) * 1000000 + 1000;
	}
	timerfd_settime(c->tfd, 0, &its, NULL);
}

/* Complete the commands held past @now with @status. */
static void expire_held(struct nvmf_ctrl *c, int64_t now, uint16_t status)
{
	for (unsigned i = 1; i < c->nq; i++) {
		struct nvmf_queue *q = &c->q[i];

		for (unsigned t = 0; t < q->nslots; t++)
			if (q->slots[t].state == SLOT_HELD && q->slots[t].deadline <= now)
				nvmf_slot_complete(q, &q->slots[t], status, 0);
	}
}

static void try_reconnect(struct nvmf_ctrl *c)
{
	int64_t now = now_ms();
	int r;

	expire_held(c, now, nvme_cqe_status(NVMF_SC_CMD_INTERRUPTED, false));
	if (now < c->next_attempt)
		return;
	r = assoc_setup(c);
	if (r == -EREMOTEIO) {
		/* Refused with Do Not Retry: the target will not take this
		 * host back (a newer attachment fenced it: docs/storaged.md). */
		cv_err("nvmf %s:%s %s: reconnect refused for good (%s): failing its I/O",
		       c->addr, c->port, c->subnqn, c->why);
		c->state = CTRL_FENCED;
		expire_held(c, INT64_MAX, nvme_cqe_status(NVME_SC_NS_NOT_READY, true));
		return;
	}
	if (r) {
		cv_debug("nvmf %s: reconnect attempt: %s", c->subnqn, c->why);
		c->state = CTRL_RECONNECTING;
		backoff_grow(c, now_ms());
		return;
	}
	c->info.reconnects++;
	cv_info("nvmf %s:%s %s: reconnected after %lld ms (cntlid %u)", c->addr, c->port,
		c->subnqn, (long long)(now_ms() - c->down_since), c->info.cntlid);
	for (unsigned i = 1; i < c->nq; i++) {
		struct nvmf_queue *q = &c->q[i];

		for (unsigned t = 0; t < q->nslots; t++)
			if (q->slots[t].state == SLOT_HELD) {
				q->slots[t].state = SLOT_QUEUED;
				nvmf_txq_push(q, &q->slots[t]);
			}
		nvmf_q_flush(q);
	}
}

static void keep_alive(struct nvmf_ctrl *c)
{
	struct nvmf_queue *aq = &c->q[0];
	struct nvme_sqe sqe = { .opc = NVME_ADMIN_KEEP_ALIVE };
	int64_t now = now_ms();
	struct slot *s;

	if (!c->opts.kato_ms)
		return;
	if (c->ka_busy) {
		/* No answer within KATO: the target has given up on us too. */
		if (now - c->ka_sent >= c->opts.kato_ms)
			nvmf_q_fail(aq, -ETIMEDOUT);
		return;
	}
	if (now < c->ka_next || !(s = nvmf_slot_alloc(aq, true)))
		return;
	c->ka_req = (struct nvmf_req){ .done = ka_done, .priv = c };
	nvmf_slot_start(aq, s, &sqe, NULL, 0, 0, false, &c->ka_req);
	c->ka_busy = true;
	c->ka_sent = now;
	c->ka_next = now + c->opts.kato_ms / 2;
}

/* ---- public API ---- */

int nvmf_ctrl_fd(const struct nvmf_ctrl *c)
{
	return c->q[0].epfd;
}

void nvmf_ctrl_process(struct nvmf_ctrl *c)
{
	uint64_t ticks;

	if (read(c->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		cv_debug("nvmf %s: timerfd: %s", c->subnqn, strerror(errno));
	if (c->state == CTRL_RECONNECTING)
		try_reconnect(c);
	if (c->state == CTRL_LIVE) {
		nvmf_q_rx(&c->q[0]);
		if (c->state == CTRL_LIVE)
			keep_alive(c);
		nvmf_q_flush(&c->q[0]);
	}
	ctrl_arm_timer(c);
}

struct nvmf_queue *nvmf_ctrl_queue(struct nvmf_ctrl *c, unsigned i)
{
	return i + 1 < c->nq ? &c->q[i + 1] : NULL;
}

int nvmf_queue_fd(const struct nvmf_queue *q)
{
	return q->epfd;
}

void nvmf_queue_process(struct nvmf_queue *q)
{
	nvmf_q_rx(q);
	nvmf_q_flush(q);
}

const struct nvmf_ctrl_info *nvmf_ctrl_info(const struct nvmf_ctrl *c)
{
	return &c->info;
}

bool nvmf_ctrl_live(const struct nvmf_ctrl *c)
{
	return c->state == CTRL_LIVE;
}

static int q_init(struct nvmf_ctrl *c, struct nvmf_queue *q, uint16_t qid, unsigned user)
{
	q->ctrl = c;
	q->qid = qid;
	q->sock = -1;
	q_close(q);
	q->user_max = user;
	/* One slot beyond the user's for Connect, which comes first. */
	q->nslots = qid ? user + 1 : AQ_DEPTH;
	q->slots = calloc(q->nslots, sizeof(*q->slots));
	q->rxbuf = malloc(RXBUF_LEN);
	q->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!q->slots || !q->rxbuf)
		return -ENOMEM;
	return q->epfd < 0 ? -errno : 0;
}

void nvmf_ctrl_free(struct nvmf_ctrl *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->opts.nr_io_queues + 1; i++) {
		struct nvmf_queue *q = &c->q[i];

		nvme_tls_free(q->tls);
		if (q->sock >= 0)
			close(q->sock);
		if (q->epfd >= 0)
			close(q->epfd);
		free(q->slots);
		free(q->rxbuf);
	}
	if (c->tfd >= 0)
		close(c->tfd);
	if (c->ai)
		freeaddrinfo(c->ai);
	nvme_tls_ctx_free(c->tls_ctx);
	explicit_bzero(&c->tls_key, sizeof(c->tls_key));
	free(c->q);
	free(c);
}

static int copy_str(char *dst, size_t size, const char *src)
{
	if (!src || strlen(src) >= size)
		return -EINVAL;
	strcpy(dst, src);
	return 0;
}

int nvmf_ctrl_connect(const struct nvmf_opts *opts, struct nvmf_ctrl **out)
{
	struct nvmf_ctrl *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned n = opts->nr_io_queues;
	int r;

	if (!c)
		return -ENOMEM;
	c->opts = *opts;
	c->tfd = -1;
	r = copy_str(c->addr, sizeof(c->addr), opts->addr);
	if (!r)
		r = copy_str(c->port, sizeof(c->port), opts->port);
	if (!r)
		r = copy_str(c->subnqn, sizeof(c->subnqn), opts->subnqn);
	if (!r)
		r = copy_str(c->hostnqn, sizeof(c->hostnqn), opts->hostnqn);
	if (r || !n || n > 0xfffe || !opts->queue_size || opts->queue_size > 0xfffe ||
	    !opts->connect_timeout_ms) {
		cv_err("nvmf: invalid options (address, NQNs up to %d bytes, 1..65534 queues "
		       "of 1..65534 commands, a connect timeout)", NVMF_NQN_MAX);
		free(c);
		return -EINVAL;
	}
	c->q = calloc(n + 1, sizeof(*c->q));
	if (!c->q) {
		free(c);
		return -ENOMEM;
	}
	if (opts->tls_key) {
		c->tls_key = *opts->tls_key;
		c->opts.tls_key = NULL;
		/* Made now, before any sandbox: OpenSSL may read its configuration. */
		c->tls_ctx = nvme_tls_ctx_new(false);
		if (!c->tls_ctx) {
			cv_err("nvmf: TLS: cannot make a context");
			free(c->q);
			free(c);
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i <= n; i++)
		c->q[i].epfd = -1;
	c->nq = 1 + n;
	r = 0;
	for (unsigned i = 0; !r && i <= n; i++)
		r = q_init(c, &c->q[i], (uint16_t)i, i ? opts->queue_size : 0);
	if (!r) {
		c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (c->tfd < 0 || epoll_ctl(c->q[0].epfd, EPOLL_CTL_ADD, c->tfd, &ev) < 0)
			r = -errno;
	}
	if (r) {
		cv_err("nvmf: %s", strerror(-r));
		nvmf_ctrl_free(c);
		return r;
	}
	r = tcp_resolve(c);
	if (!r)
		r = assoc_setup(c);
	/*
	 * Controller Busy: the volume's last host (a VM that has just ended)
	 * may not have been let go yet.  Try again, backing off, for a while.
	 */
	for (int64_t end = now_ms() + opts->busy_wait_ms, ms = BUSY_RETRY_MS;
	     r == -EBUSY && now_ms() + ms < end; ms *= 2) {
		nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L },
			  NULL);
		r = assoc_setup(c);
	}
	if (r) {
		cv_err("nvmf %s:%s %s: %s", c->addr, c->port, c->subnqn, c->why);
		nvmf_ctrl_free(c);
		return r;
	}
	ctrl_arm_timer(c);
	cv_info("nvmf %s:%s %s: cntlid %u nsid %u, %llu blocks of %u bytes, %u I/O queues x %u, "
		"in-capsule %u, MAXH2CDATA %u, digests %s%s", c->addr, c->port, c->subnqn,
		c->info.cntlid, c->info.nsid, (unsigned long long)c->info.nsze, c->info.lba_size,
		c->info.nr_io_queues, c->info.queue_size, c->info.max_icdata, c->info.maxh2cdata,
		c->info.hdgst ? "header " : "", c->info.ddgst ? "data" : "");
	*out = c;
	return 0;
}
