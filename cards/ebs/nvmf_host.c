/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe/TCP host: association set-up, the per-queue PDU engine (command
 * capsules, R2T/H2CData, C2HData, digests), Keep Alive and reconnect.
 * Specs: NVM Express Base 2.0 ("Base"), NVM Command Set 1.0 ("NVM"),
 * NVMe/TCP Transport 1.0 ("TCP"); sections cited by title.
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

#include "cards/ebs/nvmf_host.h"
#include "tools/lib/log.h"
#include "tools/lib/nvme_tcp.h"
#include "tools/lib/nvme_tls.h"

/* Admin queue depth; the admin queue carries set-up and Keep Alive only. */
#define AQ_DEPTH          32
/* TCP, "Queue Model": the admin queue takes 8 KiB of in-capsule data. */
#define ADMIN_ICDATA      8192
/* Cap on one command's data, whatever MDTS allows: bounds C2HData too. */
#define MAX_XFER          (1u << 20)
#define RXBUF_LEN         (64u << 10)
/* Data this large that is not buffered yet is read straight into place. */
#define RX_DIRECT_MIN     (16u << 10)
#define RX_BUDGET         16        /* recv() calls per process call */
#define TX_BATCH          32        /* PDUs per sendmsg() */
#define TX_IOV            1024      /* IOV_MAX */
#define DDGST_RETRIES     3
#define BUSY_RETRY_MS     50        /* first wait after Controller Busy */
#define BACKOFF_MIN_MS    20
#define BACKOFF_MAX_MS    1000

/* A command slot; its index is the CID. */
enum slot_state {
	SLOT_FREE,
	SLOT_HELD,      /* waiting for a live association */
	SLOT_QUEUED,    /* in the send queue, capsule not built yet */
	SLOT_ACTIVE,    /* capsule sent: waiting for R2T, C2HData or response */
};

struct slot {
	enum slot_state state;
	bool internal;           /* set-up or Keep Alive: never held */
	bool to_ctrl;            /* data direction host to controller */
	bool in_capsule;
	bool in_txq;
	bool r2t_active;         /* TCP: MAXR2T 0, so one R2T at a time */
	bool ddgst_bad;          /* resend once the response is in */
	bool deferred;           /* response in, data still being sent */
	uint8_t retries;
	uint16_t def_status;
	int next;                /* send queue link */
	unsigned tx_refs;        /* PDUs of the current batch using its data */
	struct nvme_sqe sqe;
	struct nvmf_req *req;
	const struct iovec *iov;
	int iovcnt;
	uint32_t len;
	uint32_t xfer;           /* C2H bytes received */
	uint16_t ttag;
	uint32_t r2to, r2tl, r2t_sent;
	int64_t deadline;        /* while held */
	struct nvme_dsm_range dsm; /* NVM, "Dataset Management": one range */
	struct iovec own_iov;
};

enum rx_phase { RX_CH, RX_HDR, RX_PAD, RX_DATA, RX_DDGST };

struct nvmf_queue {
	struct nvmf_ctrl *ctrl;
	uint16_t qid;
	int epfd;
	int sock;
	struct nvme_tls *tls;    /* TLS over sock, or NULL */
	bool out_armed;
	int err;                 /* during set-up: why this connection failed */
	struct nvme_tcp_conn conn;

	struct slot *slots;
	unsigned nslots;
	unsigned user_max, user_busy;
	int txq_head, txq_tail;

	/* Send side: a batch of built PDUs going out with sendmsg(). */
	struct nvme_tcp_pdu batch[TX_BATCH];
	int batch_tag[TX_BATCH];
	unsigned nbatch;
	struct iovec tx_iov[TX_IOV];
	unsigned tx_cnt, tx_pos;
	bool tx_started;         /* some bytes of the batch are on the wire */

	/* Receive side. */
	uint8_t *rxbuf;
	uint32_t rx_start, rx_end;
	enum rx_phase phase;
	union nvme_tcp_hdr hdr;
	uint32_t need, got;
	struct nvme_tcp_layout lay;
	struct slot *rx_slot;
	uint32_t rx_off, rx_left;
	uint32_t crc;
	uint8_t ddgst[NVME_TCP_DIGEST_LEN];
	struct iovec rx_iov[NVMF_IOV_MAX];
};

enum ctrl_state { CTRL_CONNECTING, CTRL_LIVE, CTRL_RECONNECTING };

struct nvmf_ctrl {
	struct nvmf_opts opts;
	char addr[256], port[32], subnqn[NVMF_NQN_MAX + 1], hostnqn[NVMF_NQN_MAX + 1];
	struct addrinfo *ai;     /* the target, resolved once (tcp_resolve) */
	SSL_CTX *tls_ctx;        /* TLS with tls_key on every queue, or NULL */
	struct nvme_tls_key tls_key;
	struct nvmf_ctrl_info info;
	bool have_info;
	enum ctrl_state state;
	unsigned gen;            /* bumped when the association goes down */
	struct nvmf_queue *q;    /* [0] admin, [1..] I/O */
	unsigned nq;
	int tfd;
	int64_t up_since, down_since, next_attempt;
	unsigned backoff_ms;
	int64_t ka_next, ka_sent;
	bool ka_busy;
	struct nvmf_req ka_req;
	char why[160];           /* the last set-up failure, for one log line */
	union {                  /* Identify data */
		struct nvme_id_ctrl ctrl;
		struct nvme_id_ns ns;
		uint32_t nsids[NVME_IDENTIFY_LEN / 4];
	} id;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static __attribute__((format(printf, 3, 4)))
int fail(struct nvmf_ctrl *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return err;
}

/* ---- iovec helpers ---- */

/*
 * dst = bytes [off, off + len) of src.  Returns the number of entries, or
 * -1 if more than max would be needed (or src is too short).
 */
static int iov_slice(const struct iovec *src, int cnt, size_t off, size_t len,
		     struct iovec *dst, int max)
{
	int n = 0;

	for (int i = 0; i < cnt && len; i++) {
		size_t l = src[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		if (n == max)
			return -1;
		dst[n].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[n].iov_len = l - off < len ? l - off : len;
		len -= dst[n].iov_len;
		off = 0;
		n++;
	}
	return len ? -1 : n;
}

static uint64_t iov_total(const struct iovec *iov, int cnt)
{
	uint64_t t = 0;

	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* ---- slots and the send queue ---- */

static struct slot *slot_alloc(struct nvmf_queue *q, bool internal)
{
	if (!internal && q->user_busy == q->user_max)
		return NULL;
	for (unsigned i = 0; i < q->nslots; i++) {
		struct slot *s = &q->slots[i];

		if (s->state != SLOT_FREE)
			continue;
		memset(s, 0, sizeof(*s));
		s->internal = internal;
		s->next = -1;
		if (!internal)
			q->user_busy++;
		return s;
	}
	return NULL;
}

static unsigned slot_tag(const struct nvmf_queue *q, const struct slot *s)
{
	return (unsigned)(s - q->slots);
}

static void txq_push(struct nvmf_queue *q, struct slot *s)
{
	int tag = (int)slot_tag(q, s);

	if (s->in_txq)
		return;
	s->in_txq = true;
	s->next = -1;
	if (q->txq_tail < 0)
		q->txq_head = tag;
	else
		q->slots[q->txq_tail].next = tag;
	q->txq_tail = tag;
}

static void txq_pop(struct nvmf_queue *q)
{
	struct slot *s = &q->slots[q->txq_head];

	q->txq_head = s->next;
	if (q->txq_head < 0)
		q->txq_tail = -1;
	s->in_txq = false;
}

static void txq_remove(struct nvmf_queue *q, struct slot *s)
{
	int tag = (int)slot_tag(q, s), prev = -1;

	if (!s->in_txq)
		return;
	for (int t = q->txq_head; t >= 0; prev = t, t = q->slots[t].next) {
		if (t != tag)
			continue;
		if (prev < 0)
			q->txq_head = s->next;
		else
			q->slots[prev].next = s->next;
		if (q->txq_tail == tag)
			q->txq_tail = prev;
		break;
	}
	s->in_txq = false;
}

/* Free the slot first, then tell the owner: done() may submit again. */
static void slot_complete(struct nvmf_queue *q, struct slot *s, uint16_t status,
			  uint64_t result)
{
	struct nvmf_req *req = s->req;

	if (s->tx_refs) {
		/* Its data is still being sent from the caller's buffer. */
		s->deferred = true;
		s->def_status = status;
		req->result = result;
		return;
	}
	txq_remove(q, s);
	if (!s->internal)
		q->user_busy--;
	s->state = SLOT_FREE;
	req->result = result;
	req->done(req, status & ~NVME_STATUS_P);
}

/* Send a command again from the start (new connection, or bad data). */
static void slot_rewind(struct slot *s)
{
	s->xfer = 0;
	s->r2t_active = false;
	s->ddgst_bad = false;
	s->deferred = false;
	s->tx_refs = 0;
}

static void set_out(struct nvmf_queue *q, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0) };

	if (q->out_armed == on || q->sock < 0)
		return;
	q->out_armed = on;
	epoll_ctl(q->epfd, EPOLL_CTL_MOD, q->sock, &ev);
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
		slot_rewind(s);
		if (deferred)
			slot_complete(q, s, s->def_status, s->req->result);
		else if (s->internal)
			slot_complete(q, s, nvme_cqe_status(NVMF_SC_CMD_INTERRUPTED, false), 0);
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
static void q_fail(struct nvmf_queue *q, int err)
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

/*
 * A PDU the target should not have sent (TCP, "Transport Errors"): tell it
 * with an H2CTermReq, unless a PDU of ours is half on the wire, then drop
 * the connection.  q_fatal() logs once per kind of fault (call site).
 */
static void q_terminate(struct nvmf_queue *q, enum nvme_tcp_fes fes, uint32_t fei)
{
	struct nvme_tcp_pdu pdu;
	struct iovec iov;

	if (q->sock >= 0 && !q->tx_started) {
		nvme_tcp_build_term_req(&pdu, &q->conn, fes, fei, q->hdr.raw,
					q->got < NVME_TCP_HDR_MAX ? q->got : NVME_TCP_HDR_MAX);
		iov = (struct iovec){ pdu.hdr.raw, pdu.hdr_len };
		/* Best effort: the connection ends right after. */
		if (nvme_tls_sendv(q->tls, q->sock, &iov, 1) < 0)
			cv_debug("nvmf qid %u: H2CTermReq not sent: %s", q->qid, strerror(errno));
	}
	q_fail(q, -EPROTO);
}

#define q_fatal(q, fes, fei, what)                                                    \
	do {                                                                          \
		cv_err_once("nvmf %s qid %u: %s: H2CTermReq FES %#x FEI %u",          \
			    (q)->ctrl->subnqn, (q)->qid, what, (unsigned)(fes),       \
			    (unsigned)(fei));                                         \
		q_terminate(q, fes, fei);                                             \
	} while (0)

/* ---- sending ---- */

static void batch_done(struct nvmf_queue *q)
{
	for (unsigned i = 0; i < q->nbatch; i++) {
		struct slot *s;

		if (q->batch_tag[i] < 0)
			continue;
		s = &q->slots[q->batch_tag[i]];
		if (--s->tx_refs == 0 && s->deferred) {
			s->deferred = false;
			slot_complete(q, s, s->def_status, s->req->result);
		}
	}
	q->nbatch = q->tx_cnt = q->tx_pos = 0;
	q->tx_started = false;
}

/* Put a built PDU (its data already sliced at tx_iov[tx_cnt + 1]) in the batch. */
static void batch_add(struct nvmf_queue *q, struct slot *s, int ndata)
{
	struct nvme_tcp_pdu *pdu = &q->batch[q->nbatch];

	q->tx_iov[q->tx_cnt] = (struct iovec){ pdu->hdr.raw, pdu->hdr_len };
	q->tx_cnt += 1 + ndata;
	if (pdu->ddgst_len)
		q->tx_iov[q->tx_cnt++] = (struct iovec){ pdu->ddgst, pdu->ddgst_len };
	/* Only PDUs carrying the caller's data pin its slot. */
	q->batch_tag[q->nbatch++] = s && ndata ? (int)slot_tag(q, s) : -1;
	if (s && ndata)
		s->tx_refs++;
}

/* Build the next PDU of the send queue's head; false when there is none or no room. */
static bool tx_build(struct nvmf_queue *q)
{
	struct nvme_tcp_pdu *pdu = &q->batch[q->nbatch];
	struct iovec *data = &q->tx_iov[q->tx_cnt + 1];
	int room = TX_IOV - (int)q->tx_cnt - 2, n = 0, r;
	struct slot *s;

	if (q->txq_head < 0 || q->nbatch == TX_BATCH || room < 1)
		return false;
	s = &q->slots[q->txq_head];
	if (s->state == SLOT_QUEUED) {
		s->sqe.cid = (uint16_t)slot_tag(q, s);
		s->in_capsule = s->to_ctrl && s->len && s->len <= q->conn.max_icdata;
		if (s->in_capsule) {
			n = iov_slice(s->iov, s->iovcnt, 0, s->len, data, room);
			if (n < 0)
				return false;
		} else {
			/* TCP, "Transport Specific Information": data moves in PDUs. */
			nvme_tcp_set_sgl(&s->sqe, s->len, false);
		}
		r = nvme_tcp_build_capsule_cmd(pdu, &q->conn, &s->sqe, data, n);
		if (r < 0)
			return false;
		s->state = SLOT_ACTIVE;
		txq_pop(q);
	} else {
		uint32_t left = s->r2tl - s->r2t_sent;
		uint32_t chunk = left < q->conn.maxh2cdata ? left : q->conn.maxh2cdata;
		bool last = chunk == left;

		n = iov_slice(s->iov, s->iovcnt, s->r2to + s->r2t_sent, chunk, data, room);
		if (n < 0)
			return false;
		r = nvme_tcp_build_h2c_data(pdu, &q->conn, s->sqe.cid, s->ttag,
					    s->r2to + s->r2t_sent, data, n, last);
		if (r < 0)
			return false;
		s->r2t_sent += chunk;
		if (last) {
			s->r2t_active = false;
			txq_pop(q);
		}
	}
	batch_add(q, s, n);
	return true;
}

static void q_flush(struct nvmf_queue *q)
{
	while (q->sock >= 0) {
		ssize_t n;

		if (!q->nbatch) {
			while (tx_build(q))
				;
			if (!q->nbatch) {
				set_out(q, false);
				return;
			}
		}
		n = nvme_tls_sendv(q->tls, q->sock, &q->tx_iov[q->tx_pos],
				   (int)(q->tx_cnt - q->tx_pos));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_out(q, true);
				return;
			}
			q_fail(q, -errno);
			return;
		}
		q->tx_started = true;
		while (n > 0) {
			struct iovec *v = &q->tx_iov[q->tx_pos];

			if ((size_t)n >= v->iov_len) {
				n -= v->iov_len;
				q->tx_pos++;
			} else {
				v->iov_base = (uint8_t *)v->iov_base + n;
				v->iov_len -= n;
				n = 0;
			}
		}
		/* All of it in the kernel: the callers' buffers are free again. */
		if (q->tx_pos == q->tx_cnt)
			batch_done(q);
	}
}

/* ---- receiving ---- */

static struct slot *lookup(struct nvmf_queue *q, uint16_t cid)
{
	/* A deferred slot has had its response: nothing more may name it. */
	if (cid >= q->nslots || q->slots[cid].state != SLOT_ACTIVE || q->slots[cid].deferred)
		return NULL;
	return &q->slots[cid];
}

static void on_resp(struct nvmf_queue *q)
{
	const struct nvme_cqe *cqe = &q->hdr.resp.cqe;
	struct slot *s = lookup(q, cqe->cid);
	uint16_t status = cqe->status & ~NVME_STATUS_P;

	if (!s) {
		q_fatal(q, NVME_TCP_FES_INVALID_HDR_FIELD,
			offsetof(struct nvme_tcp_capsule_resp, cqe.cid),
			"CapsuleResp for a CID not outstanding");
		return;
	}
	if (s->ddgst_bad && nvme_cqe_code(status) == NVME_SC_SUCCESS &&
	    ++s->retries <= DDGST_RETRIES) {
		/* The data arrived damaged but the command is fine: read it again. */
		txq_remove(q, s);
		slot_rewind(s);
		s->state = SLOT_QUEUED;
		txq_push(q, s);
		return;
	}
	if (s->ddgst_bad)
		status = nvme_cqe_status(NVME_SC_TRANSIENT_TRANSPORT, false);
	else if (nvme_cqe_code(status) == NVME_SC_SUCCESS && !s->to_ctrl && s->xfer != s->len) {
		cv_err_once("nvmf %s qid %u: cid %u succeeded with %u of %u data bytes",
			    q->ctrl->subnqn, q->qid, cqe->cid, s->xfer, s->len);
		status = nvme_cqe_status(NVME_SC_DATA_XFER_ERROR, false);
	}
	slot_complete(q, s, status, cqe->dw0 | (uint64_t)cqe->dw1 << 32);
}

static void on_c2h_data(struct nvmf_queue *q)
{
	const struct nvme_tcp_data *d = &q->hdr.data;
	struct slot *s = lookup(q, d->cccid);

	if (!s || s->to_ctrl || !s->len) {
		q_fatal(q, NVME_TCP_FES_INVALID_HDR_FIELD, offsetof(struct nvme_tcp_data, cccid),
			"C2HData for a CID not reading");
		return;
	}
	/* In order and inside the command's data (TCP, "C2HData PDU"). */
	if (d->datao != s->xfer || (uint64_t)d->datao + d->datal > s->len) {
		q_fatal(q, NVME_TCP_FES_DATA_OUT_OF_RANGE, 0, "C2HData outside the command's data");
		return;
	}
	if ((d->ch.flags & NVME_TCP_F_SUCCESS) && d->datao + d->datal != s->len) {
		q_fatal(q, NVME_TCP_FES_INVALID_HDR_FIELD, offsetof(struct nvme_tcp_ch, flags),
			"C2HData SUCCESS before the last byte");
		return;
	}
	q->rx_slot = s;
	q->rx_off = d->datao;
	q->rx_left = d->datal;
	q->crc = 0;
	q->phase = q->lay.pad ? RX_PAD : RX_DATA;
	q->need = q->lay.pad;
	q->got = 0;
}

static void on_r2t(struct nvmf_queue *q)
{
	const struct nvme_tcp_r2t *r = &q->hdr.r2t;
	struct slot *s = lookup(q, r->cccid);

	if (!s || !s->to_ctrl || s->in_capsule || !s->len) {
		q_fatal(q, NVME_TCP_FES_INVALID_HDR_FIELD, offsetof(struct nvme_tcp_r2t, cccid),
			"R2T for a CID not writing");
		return;
	}
	if (s->r2t_active) {
		/* We offered MAXR2T 0: one R2T outstanding per command. */
		q_fatal(q, NVME_TCP_FES_R2T_LIMIT, 0, "R2T while one is outstanding");
		return;
	}
	if ((uint64_t)r->r2to + r->r2tl > s->len) {
		q_fatal(q, NVME_TCP_FES_DATA_OUT_OF_RANGE, 0, "R2T outside the command's data");
		return;
	}
	s->r2t_active = true;
	s->ttag = r->ttag;
	s->r2to = r->r2to;
	s->r2tl = r->r2tl;
	s->r2t_sent = 0;
	txq_push(q, s);
}

static void on_icresp(struct nvmf_queue *q)
{
	const struct nvme_tcp_icresp *r = &q->hdr.icresp;

	q->conn.ic_done = true;
	q->conn.hdgst = r->dgst & NVME_TCP_DGST_HDGST;
	q->conn.ddgst = r->dgst & NVME_TCP_DGST_DDGST;
	q->conn.cpda = r->cpda;
	q->conn.maxh2cdata = r->maxh2cdata;
}

static void next_pdu(struct nvmf_queue *q)
{
	q->phase = RX_CH;
	q->need = sizeof(struct nvme_tcp_ch);
	q->got = 0;
	q->rx_slot = NULL;
}

/* A complete header is in q->hdr. */
static void on_header(struct nvmf_queue *q)
{
	uint32_t fei = 0;
	int fes = nvme_tcp_check_hdr(&q->conn, &q->hdr, &fei);

	if (fes) {
		q_fatal(q, fes, fei, "bad PDU header");
		return;
	}
	switch (q->hdr.ch.pdu_type) {
	case NVME_TCP_ICRESP:
		on_icresp(q);
		break;
	case NVME_TCP_C2H_TERM_REQ:
		cv_err_once("nvmf %s qid %u: target sent C2HTermReq FES %#x FEI %u",
			    q->ctrl->subnqn, q->qid, q->hdr.term.fes, q->hdr.term.fei);
		q_fail(q, -ECONNABORTED);
		return;
	case NVME_TCP_CAPSULE_RESP:
		on_resp(q);
		break;
	case NVME_TCP_C2H_DATA:
		on_c2h_data(q);   /* goes on with its data unless it failed */
		return;
	case NVME_TCP_R2T:
		on_r2t(q);
		break;
	}
	if (q->sock >= 0)
		next_pdu(q);
}

/* The C2HData's data and digest are in: check, then maybe complete. */
static void on_data_end(struct nvmf_queue *q)
{
	struct slot *s = q->rx_slot;
	uint32_t want;
	bool success = q->hdr.ch.flags & NVME_TCP_F_SUCCESS;

	memcpy(&want, q->ddgst, sizeof(want));
	next_pdu(q);
	s->xfer += q->hdr.data.datal;
	if (q->lay.ddgst_len && want != q->crc) {
		/*
		 * The framing still holds: the command is read again rather
		 * than the connection dropped (TCP, "Data Digest").
		 */
		cv_err_once("nvmf %s qid %u: C2HData data digest mismatch on cid %u",
			    q->ctrl->subnqn, q->qid, s->sqe.cid);
		s->ddgst_bad = true;
	}
	if (!success)
		return;
	/* No CapsuleResp follows (TCP, "C2HData PDU", SUCCESS flag). */
	q->hdr.resp.cqe = (struct nvme_cqe){ .cid = s->sqe.cid };
	on_resp(q);
}

static void rx_data(struct nvmf_queue *q, const uint8_t *src, uint32_t len)
{
	struct slot *s = q->rx_slot;
	int n = iov_slice(s->iov, s->iovcnt, q->rx_off, len, q->rx_iov, NVMF_IOV_MAX);

	for (int i = 0; i < n; i++) {
		memcpy(q->rx_iov[i].iov_base, src, q->rx_iov[i].iov_len);
		src += q->rx_iov[i].iov_len;
	}
}

/* The data section is all in: its digest next, if any. */
static void data_section_done(struct nvmf_queue *q)
{
	if (q->lay.ddgst_len) {
		q->phase = RX_DDGST;
		q->need = NVME_TCP_DIGEST_LEN;
		q->got = 0;
	} else {
		on_data_end(q);
	}
}

/* Consume what the receive buffer holds in the current phase. */
static void rx_step(struct nvmf_queue *q)
{
	uint32_t avail = q->rx_end - q->rx_start, take;
	uint8_t *p = q->rxbuf + q->rx_start;
	uint32_t fei = 0;
	int fes;

	switch (q->phase) {
	case RX_CH:
	case RX_HDR:
		take = q->need - q->got < avail ? q->need - q->got : avail;
		memcpy(q->hdr.raw + q->got, p, take);
		q->got += take;
		q->rx_start += take;
		if (q->got < q->need)
			return;
		if (q->phase == RX_HDR) {
			on_header(q);
			return;
		}
		fes = nvme_tcp_check_ch(&q->conn, &q->hdr.ch, &fei);
		if (fes) {
			q_fatal(q, fes, fei, "bad PDU common header");
			return;
		}
		nvme_tcp_layout(&q->hdr.ch, &q->lay);
		/* A TermReq's quoted header is read with it (at most 152 bytes). */
		q->need = q->hdr.ch.pdu_type == NVME_TCP_C2H_TERM_REQ ? q->hdr.ch.plen :
			q->lay.hdr_len;
		q->phase = RX_HDR;
		if (q->got == q->need)
			on_header(q);
		return;
	case RX_PAD:
		take = q->need - q->got < avail ? q->need - q->got : avail;
		q->got += take;
		q->rx_start += take;
		if (q->got == q->need)
			q->phase = RX_DATA;
		return;
	case RX_DATA:
		take = q->rx_left < avail ? q->rx_left : avail;
		rx_data(q, p, take);
		if (q->lay.ddgst_len)
			q->crc = crc32c(q->crc, p, take);
		q->rx_off += take;
		q->rx_left -= take;
		q->rx_start += take;
		break;
	case RX_DDGST:
		take = q->need - q->got < avail ? q->need - q->got : avail;
		memcpy(q->ddgst + q->got, p, take);
		q->got += take;
		q->rx_start += take;
		if (q->got == q->need)
			on_data_end(q);
		return;
	}
	if (!q->rx_left)
		data_section_done(q);
}

/* Large data not buffered yet goes straight into the caller's memory. */
static int rx_direct(struct nvmf_queue *q)
{
	struct slot *s = q->rx_slot;
	int n = iov_slice(s->iov, s->iovcnt, q->rx_off, q->rx_left, q->rx_iov, NVMF_IOV_MAX);
	ssize_t got = nvme_tls_readv(q->tls, q->sock, q->rx_iov, n);
	size_t left;

	if (got <= 0)
		return got < 0 ? -errno : -ECONNRESET;
	left = (size_t)got;
	for (int i = 0; i < n && left && q->lay.ddgst_len; i++) {
		size_t l = q->rx_iov[i].iov_len < left ? q->rx_iov[i].iov_len : left;

		q->crc = crc32c(q->crc, q->rx_iov[i].iov_base, l);
		left -= l;
	}
	q->rx_off += got;
	q->rx_left -= got;
	if (!q->rx_left)
		data_section_done(q);
	return 0;
}

static void q_rx(struct nvmf_queue *q)
{
	unsigned gen = q->ctrl->gen;
	int reads = 0, r;
	ssize_t n;

	while (q->sock >= 0 && gen == q->ctrl->gen) {
		if (q->rx_start < q->rx_end) {
			rx_step(q);
			continue;
		}
		/* Past the budget, only what TLS holds decrypted (it wakes no epoll_wait). */
		if (reads++ >= RX_BUDGET && !nvme_tls_pending(q->tls))
			return;
		q->rx_start = q->rx_end = 0;
		if (q->phase == RX_DATA && q->rx_left >= RX_DIRECT_MIN) {
			r = rx_direct(q);
			if (r == -EAGAIN || r == -EWOULDBLOCK)
				return;
			if (r == -EINTR)
				continue;
			if (r < 0)
				q_fail(q, r);
			continue;
		}
		n = nvme_tls_recv(q->tls, q->sock, q->rxbuf, RXBUF_LEN);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			q_fail(q, n < 0 ? -errno : -ECONNRESET);
			return;
		}
		q->rx_end = (uint32_t)n;
	}
}

/* ---- submission ---- */

/* Fill the slot's transfer from an SQE and data, and queue or hold it. */
static void slot_start(struct nvmf_queue *q, struct slot *s, const struct nvme_sqe *sqe,
		       const struct iovec *iov, int iovcnt, uint32_t len, bool to_ctrl,
		       struct nvmf_req *req)
{
	s->sqe = *sqe;
	/* TCP, "Transport Specific Information": SGLs even without data. */
	nvme_tcp_set_sgl(&s->sqe, 0, false);
	s->iov = iov;
	s->iovcnt = iovcnt;
	s->len = len;
	s->to_ctrl = to_ctrl;
	s->req = req;
	if (q->ctrl->state == CTRL_LIVE || s->internal) {
		s->state = SLOT_QUEUED;
		txq_push(q, s);
	} else {
		s->state = SLOT_HELD;
		s->deadline = now_ms() + q->ctrl->opts.reconnect_timeout_ms;
	}
}

int nvmf_submit(struct nvmf_queue *q, struct nvmf_req *req)
{
	const struct nvmf_ctrl_info *in = &q->ctrl->info;
	struct nvme_sqe sqe = { .opc = req->opc, .nsid = in->nsid };
	uint64_t bytes = (uint64_t)req->nlb * in->lba_size;
	bool data = req->opc == NVME_NVM_READ || req->opc == NVME_NVM_WRITE;
	struct slot *s;

	if (!req->done || (req->fua && req->opc != NVME_NVM_READ &&
			   req->opc != NVME_NVM_WRITE && req->opc != NVME_NVM_WRITE_ZEROES))
		return -EINVAL;
	switch (req->opc) {
	case NVME_NVM_FLUSH:
		break;
	case NVME_NVM_READ:
	case NVME_NVM_WRITE:
		if (req->iovcnt < 1 || req->iovcnt > NVMF_IOV_MAX || bytes > in->max_xfer ||
		    iov_total(req->iov, req->iovcnt) != bytes)
			return -EINVAL;
		/* fall through */
	case NVME_NVM_WRITE_ZEROES:
		if (!req->nlb || req->nlb > NVME_RW_NLB_MASK + 1u)
			return -EINVAL;
		sqe.cdw10 = (uint32_t)req->slba;
		sqe.cdw11 = (uint32_t)(req->slba >> 32);
		sqe.cdw12 = (req->nlb - 1) | (req->fua ? NVME_RW_FUA : 0);
		break;
	case NVME_NVM_DSM:
		if (!req->nlb)
			return -EINVAL;
		/* NR 0 (one range), deallocate (NVM, "Dataset Management"). */
		sqe.cdw11 = NVME_DSM_AD;
		break;
	default:
		return -EINVAL;
	}
	s = slot_alloc(q, false);
	if (!s)
		return -EBUSY;
	if (req->opc == NVME_NVM_DSM) {
		s->dsm = (struct nvme_dsm_range){ .nlb = req->nlb, .slba = req->slba };
		s->own_iov = (struct iovec){ &s->dsm, sizeof(s->dsm) };
		slot_start(q, s, &sqe, &s->own_iov, 1, sizeof(s->dsm), true, req);
	} else {
		slot_start(q, s, &sqe, req->iov, data ? req->iovcnt : 0,
			   data ? (uint32_t)bytes : 0, req->opc == NVME_NVM_WRITE, req);
	}
	return 0;
}

void nvmf_queue_kick(struct nvmf_queue *q)
{
	q_flush(q);
}

/* ---- set-up: blocking steps with a deadline ---- */

/* Run the queue until cond(arg) holds, its connection fails or time is up. */
static int q_wait(struct nvmf_queue *q, bool (*cond)(struct nvmf_queue *, void *), void *arg,
		  int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = q->sock, .events = POLLIN };
		int64_t left;

		q_flush(q);
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
		q_rx(q);
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
	struct slot *s = slot_alloc(q, true);
	int r;

	if (!s)
		return fail(c, -EBUSY, "qid %u: no tag for %s", q->qid, what);
	s->own_iov = (struct iovec){ buf, len };
	slot_start(q, s, sqe, &s->own_iov, len ? 1 : 0, len, to_ctrl, &w.req);
	r = q_wait(q, sync_finished, &w, deadline);
	if (r < 0) {
		/* The slot must not outlive w: close, which fails it. */
		q_close(q);
		q_hold_slots(q, 0);
		return fail(c, r, "qid %u: %s: %s", q->qid, what, strerror(-r));
	}
	if (w.status) {
		/* Another host holds the volume; the Connect may succeed later. */
		int err = nvme_cqe_code(w.status) == NVME_SC_CONNECT_CTRL_BUSY &&
			  !(w.status & NVME_STATUS_DNR) ? -EBUSY : -EREMOTEIO;

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
	batch_add(q, NULL, 0);
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

static void expire_held(struct nvmf_ctrl *c, int64_t now)
{
	for (unsigned i = 1; i < c->nq; i++) {
		struct nvmf_queue *q = &c->q[i];

		for (unsigned t = 0; t < q->nslots; t++)
			if (q->slots[t].state == SLOT_HELD && q->slots[t].deadline <= now)
				slot_complete(q, &q->slots[t],
					      nvme_cqe_status(NVMF_SC_CMD_INTERRUPTED, false), 0);
	}
}

static void try_reconnect(struct nvmf_ctrl *c)
{
	int64_t now = now_ms();
	int r;

	expire_held(c, now);
	if (now < c->next_attempt)
		return;
	r = assoc_setup(c);
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
				txq_push(q, &q->slots[t]);
			}
		q_flush(q);
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
			q_fail(aq, -ETIMEDOUT);
		return;
	}
	if (now < c->ka_next || !(s = slot_alloc(aq, true)))
		return;
	c->ka_req = (struct nvmf_req){ .done = ka_done, .priv = c };
	slot_start(aq, s, &sqe, NULL, 0, 0, false, &c->ka_req);
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
		q_rx(&c->q[0]);
		if (c->state == CTRL_LIVE)
			keep_alive(c);
		q_flush(&c->q[0]);
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
	q_rx(q);
	q_flush(q);
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
