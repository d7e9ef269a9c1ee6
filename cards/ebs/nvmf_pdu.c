/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe/TCP host's per-queue PDU engine (NVMe/TCP Transport 1.0, "TCP"):
 * command slots and the send queue, command capsules with in-capsule data,
 * R2T and H2CData, C2HData, responses, header and data digests, batched
 * sends and direct receives.  Association set-up, Keep Alive and reconnect
 * are nvmf_host.c's (nvmf_host_internal.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "cards/ebs/nvmf_host_internal.h"
#include "tools/lib/log.h"

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
	nvmf_q_fail(q, -EPROTO);
}

#define q_fatal(q, fes, fei, what)                                                    \
	do {                                                                          \
		cv_err_once("nvmf %s qid %u: %s: H2CTermReq FES %#x FEI %u",          \
			    (q)->ctrl->subnqn, (q)->qid, what, (unsigned)(fes),       \
			    (unsigned)(fei));                                         \
		q_terminate(q, fes, fei);                                             \
	} while (0)

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

struct slot *nvmf_slot_alloc(struct nvmf_queue *q, bool internal)
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

void nvmf_txq_push(struct nvmf_queue *q, struct slot *s)
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
void nvmf_slot_complete(struct nvmf_queue *q, struct slot *s, uint16_t status,
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
void nvmf_slot_rewind(struct slot *s)
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
			nvmf_slot_complete(q, s, s->def_status, s->req->result);
		}
	}
	q->nbatch = q->tx_cnt = q->tx_pos = 0;
	q->tx_started = false;
}

/* Put a built PDU (its data already sliced at tx_iov[tx_cnt + 1]) in the batch. */
void nvmf_batch_add(struct nvmf_queue *q, struct slot *s, int ndata)
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
	nvmf_batch_add(q, s, n);
	return true;
}

void nvmf_q_flush(struct nvmf_queue *q)
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
			nvmf_q_fail(q, -errno);
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
		nvmf_slot_rewind(s);
		s->state = SLOT_QUEUED;
		nvmf_txq_push(q, s);
		return;
	}
	if (s->ddgst_bad)
		status = nvme_cqe_status(NVME_SC_TRANSIENT_TRANSPORT, false);
	else if (nvme_cqe_code(status) == NVME_SC_SUCCESS && !s->to_ctrl && s->xfer != s->len) {
		cv_err_once("nvmf %s qid %u: cid %u succeeded with %u of %u data bytes",
			    q->ctrl->subnqn, q->qid, cqe->cid, s->xfer, s->len);
		status = nvme_cqe_status(NVME_SC_DATA_XFER_ERROR, false);
	}
	nvmf_slot_complete(q, s, status, cqe->dw0 | (uint64_t)cqe->dw1 << 32);
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
	nvmf_txq_push(q, s);
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
		nvmf_q_fail(q, -ECONNABORTED);
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

void nvmf_q_rx(struct nvmf_queue *q)
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
				nvmf_q_fail(q, r);
			continue;
		}
		n = nvme_tls_recv(q->tls, q->sock, q->rxbuf, RXBUF_LEN);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			nvmf_q_fail(q, n < 0 ? -errno : -ECONNRESET);
			return;
		}
		q->rx_end = (uint32_t)n;
	}
}

/* ---- submission ---- */

/* Fill the slot's transfer from an SQE and data, and queue or hold it. */
void nvmf_slot_start(struct nvmf_queue *q, struct slot *s, const struct nvme_sqe *sqe,
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
		nvmf_txq_push(q, s);
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
	if (q->ctrl->state == CTRL_FENCED)
		return -ESHUTDOWN;
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
	s = nvmf_slot_alloc(q, false);
	if (!s)
		return -EBUSY;
	if (req->opc == NVME_NVM_DSM) {
		s->dsm = (struct nvme_dsm_range){ .nlb = req->nlb, .slba = req->slba };
		s->own_iov = (struct iovec){ &s->dsm, sizeof(s->dsm) };
		nvmf_slot_start(q, s, &sqe, &s->own_iov, 1, sizeof(s->dsm), true, req);
	} else {
		nvmf_slot_start(q, s, &sqe, req->iov, data ? req->iovcnt : 0,
				data ? (uint32_t)bytes : 0, req->opc == NVME_NVM_WRITE, req);
	}
	return 0;
}

void nvmf_queue_kick(struct nvmf_queue *q)
{
	nvmf_q_flush(q);
}
