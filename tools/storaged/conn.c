/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tools/lib/log.h"
#include "tools/storaged/cmd.h"
#include "tools/storaged/conn.h"
#include "tools/storaged/exec.h"
#include "tools/storaged/server.h"
#include "tools/storaged/volume.h"

/*
 * The receive buffer holds one whole PDU at least: the largest is an
 * H2CData of MAXH2CDATA bytes behind a 24-byte header and its digests.
 */
#define RX_CAP (2 * CONN_MAXH2CDATA)
_Static_assert(RX_CAP >= NVME_TCP_CMD_HLEN + 2 * NVME_TCP_DIGEST_LEN + CMD_MAX_ICDATA + 128,
	       "a command capsule fits");
#define CLOSE_GRACE_MS 1000       /* to get a C2HTermReq out before closing */
#define TX_IOV_MAX 48

/* A PDU waiting to be sent: header, data (in a command's buffer), digest. */
struct tx {
	struct tx *next;
	struct nvme_tcp_pdu pdu;
	const uint8_t *data;
	uint32_t data_len;
	struct cmd *release;      /* slot freed once this is sent */
	bool unslotted;           /* a response to a command that got no slot */
};

static uint32_t tx_len(const struct tx *t)
{
	return t->pdu.hdr_len + t->data_len + t->pdu.ddgst_len;
}

void cmd_release(struct cmd *cmd)
{
	free(cmd->buf);
	cmd->buf = NULL;
	cmd->state = CMD_FREE;
}

/* A PDU sent or dropped: its slot is free, and reading resumes once drained. */
static void tx_free(struct conn *c, struct tx *t)
{
	if (t->release)
		cmd_release(t->release);
	if (t->unslotted)
		c->unslotted--;
	free(t);
}

static void update_events(struct conn *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (c->handshaking)
		ev = nvme_tls_want_write(c->tls) ? EPOLLOUT : EPOLLIN;
	else if (!c->closing && !c->sd->stopping && !c->rx_paused)
		ev |= EPOLLIN;
	if (c->tx_head)
		ev |= EPOLLOUT;
	if (ev != c->events) {
		storaged_watch(c->sd, c, ev);
		c->events = ev;
	}
}

/* Append a PDU; a closing connection sends nothing after its TermReq. */
static void queue(struct conn *c, struct tx *t)
{
	if (c->dead || (c->closing && t->pdu.hdr.ch.pdu_type != NVME_TCP_C2H_TERM_REQ)) {
		tx_free(c, t);
		return;
	}
	t->next = NULL;
	*c->tx_tail = t;
	c->tx_tail = &t->next;
	storaged_mark_dirty(c->sd, c);
}

static struct tx *tx_new(void)
{
	return calloc(1, sizeof(struct tx));
}

/* Fatal transport error: C2HTermReq quoting the offending header, then close. */
static void fatal(struct conn *c, int fes, uint32_t fei, const void *hdr, size_t len)
{
	struct tx *t = tx_new();

	cv_warn("%s qid %u: fatal transport error FES %d FEI %u (PDU type %u), "
		"sending C2HTermReq and closing", c->peer, c->qid, fes, fei,
		len ? *(const uint8_t *)hdr : 0);
	c->closing = true;
	c->close_deadline_ms = storaged_now_ms() + CLOSE_GRACE_MS;
	if (!t) {
		conn_close(c, "out of memory");
		return;
	}
	nvme_tcp_build_term_req(&t->pdu, &c->tcp, fes, fei, hdr, len);
	queue(c, t);
	update_events(c);
}

/* ---- Completions ---- */

/*
 * Do Not Retry on every error but two: a transport one (a command whose
 * data arrived damaged may well succeed when the host sends it again) and
 * Controller Busy (the volume's holder may detach, and the same Connect
 * then succeeds).
 */
static bool dnr(uint16_t status)
{
	return status != NVME_SC_SUCCESS && status != NVME_SC_TRANSIENT_TRANSPORT &&
	       status != NVME_SC_CONNECT_CTRL_BUSY;
}

void conn_complete(struct cmd *cmd, uint16_t status, uint32_t dw0, uint32_t dw1)
{
	struct conn *c = cmd->conn;
	struct nvme_cqe cqe = {
		.dw0 = dw0, .dw1 = dw1, .sqhd = c->sqhd, .sqid = c->qid,
		.cid = cmd->sqe.cid, .status = nvme_cqe_status(status, dnr(status)),
	};
	struct tx *t = tx_new();

	if (status)
		cv_debug("%s qid %u: cid %u opcode 0x%02x: status 0x%03x", c->peer, c->qid,
			 cmd->sqe.cid, cmd->sqe.opc, status);
	if (!t) {
		conn_close(c, "out of memory");
		cmd_release(cmd);
		return;
	}
	nvme_tcp_build_capsule_resp(&t->pdu, &c->tcp, &cqe);
	t->release = cmd;
	cmd->state = CMD_REPLY;
	queue(c, t);
}

/* Read data back in C2HData PDUs of at most CONN_MAXH2CDATA, then the response. */
void conn_complete_data(struct cmd *cmd)
{
	struct conn *c = cmd->conn;

	for (uint32_t off = 0; off < cmd->len; off += CONN_MAXH2CDATA) {
		uint32_t n = cmd->len - off < CONN_MAXH2CDATA ? cmd->len - off : CONN_MAXH2CDATA;
		struct iovec iov = { cmd->buf + off, n };
		struct tx *t = tx_new();

		if (!t) {
			conn_close(c, "out of memory");
			cmd_release(cmd);
			return;
		}
		/* Never SUCCESS: it is only for hosts that disabled SQ flow control. */
		nvme_tcp_build_c2h_data(&t->pdu, &c->tcp, cmd->sqe.cid, off, &iov, 1,
					off + n == cmd->len ? NVME_TCP_F_LAST_PDU : 0);
		t->data = iov.iov_base;
		t->data_len = n;
		queue(c, t);
	}
	conn_complete(cmd, NVME_SC_SUCCESS, 0, 0);
}

static struct cmd *slot_for(struct conn *c, uint16_t cid, uint16_t *st)
{
	struct cmd *free_slot = NULL;

	for (unsigned i = 0; i < c->nslots; i++) {
		struct cmd *cmd = &c->cmds[i];

		if (cmd->state == CMD_FREE) {
			if (!free_slot)
				free_slot = cmd;
		} else if (cmd->sqe.cid == cid) {
			*st = NVME_SC_CID_CONFLICT;
			return NULL;
		}
	}
	/* More commands than SQSIZE allows: the host broke SQ flow control. */
	*st = NVME_SC_CMD_SEQ_ERROR;
	return free_slot;
}

/*
 * A response for a command that got no slot (sent as is, nothing to free).
 * Only a host that breaks SQ flow control gets these (TCP Transport 1.0,
 * "Submission Queue Flow Control": it must not send more commands than the
 * SQ holds), and they cost memory until sent: once a queue's worth of them
 * waits, stop reading the host until they drain, as nvmet stops when it runs
 * out of command slots.  TCP then holds the host back.
 */
static void reply_unslotted(struct conn *c, const struct nvme_sqe *sqe, uint16_t st)
{
	struct nvme_cqe cqe = { .sqhd = c->sqhd, .sqid = c->qid, .cid = sqe->cid,
				.status = nvme_cqe_status(st, true) };
	struct tx *t = tx_new();

	cv_err_once("%s qid %u: cid %u: no command slot (status 0x%03x)", c->peer, c->qid,
		    sqe->cid, st);
	if (!t) {
		conn_close(c, "out of memory");
		return;
	}
	nvme_tcp_build_capsule_resp(&t->pdu, &c->tcp, &cqe);
	t->unslotted = true;
	c->unslotted++;
	c->sq_overruns++;
	queue(c, t);
	if (c->unslotted >= c->nslots)
		c->rx_paused = true;
}

static void on_capsule(struct conn *c, const struct nvme_tcp_capsule_cmd *pdu,
		       const uint8_t *icdata, uint32_t iclen, bool ddgst_ok)
{
	enum cmd_dir dir;
	bool in_capsule;
	struct cmd *cmd;
	uint16_t st;

	/* SQ head as the response reports it (Base, "SQ Flow Control"). */
	c->sqhd = (uint16_t)((c->sqhd + 1) % c->nslots);
	cmd = slot_for(c, pdu->sqe.cid, &st);
	if (!cmd) {
		reply_unslotted(c, &pdu->sqe, st);
		return;
	}
	memset(cmd, 0, sizeof(*cmd));
	cmd->conn = c;
	cmd->sqe = pdu->sqe;
	cmd->state = CMD_REPLY; /* until it is anything else */
	if (!c->ctrl && !(pdu->sqe.opc == NVME_ADMIN_FABRICS &&
			  ((const struct nvmf_cmd *)&pdu->sqe)->fctype == NVMF_FCTYPE_CONNECT)) {
		conn_complete(cmd, NVME_SC_CMD_SEQ_ERROR, 0, 0);
		return;
	}
	st = cmd_xfer(&pdu->sqe, c->qid == 0, &cmd->len, &dir);
	if (!st)
		st = cmd_check_sgl(&pdu->sqe, cmd->len, dir, iclen, &in_capsule);
	if (!st)
		st = exec_precheck(cmd);
	/* A data digest error is not fatal: Transient Transport Error, retry. */
	if (!st && !ddgst_ok)
		st = NVME_SC_TRANSIENT_TRANSPORT;
	if (st) {
		conn_complete(cmd, st, 0, 0);
		return;
	}
	if (dir != CMD_DIR_NONE &&
	    posix_memalign((void **)&cmd->buf, VOLUME_LBA_SIZE, cmd->len ? cmd->len : 1)) {
		cmd->buf = NULL;
		conn_complete(cmd, NVME_SC_INTERNAL, 0, 0);
		return;
	}
	if (dir == CMD_DIR_C2H)
		memset(cmd->buf, 0, cmd->len); /* Identify, log pages: zero-filled */
	if (dir == CMD_DIR_H2C && !in_capsule) {
		struct tx *t = tx_new();

		if (!t) {
			conn_complete(cmd, NVME_SC_INTERNAL, 0, 0);
			return;
		}
		/* One R2T for all of it: within any MAXR2T; TTAG is the slot. */
		nvme_tcp_build_r2t(&t->pdu, &c->tcp, cmd->sqe.cid,
				   (uint16_t)(cmd - c->cmds), 0, cmd->len);
		cmd->state = CMD_WAIT_DATA;
		queue(c, t);
		return;
	}
	if (in_capsule)
		memcpy(cmd->buf, icdata, iclen);
	exec_command(cmd);
}

static void on_h2c_data(struct conn *c, const union nvme_tcp_hdr *h, const uint8_t *data,
			bool ddgst_ok)
{
	const struct nvme_tcp_data *d = &h->data;
	struct cmd *cmd = d->ttag < c->nslots ? &c->cmds[d->ttag] : NULL;
	bool last = d->ch.flags & NVME_TCP_F_LAST_PDU;

	if (!cmd || cmd->state != CMD_WAIT_DATA) {
		fatal(c, NVME_TCP_FES_INVALID_HDR_FIELD, offsetof(struct nvme_tcp_data, ttag),
		      h, d->ch.hlen);
		return;
	}
	if (cmd->sqe.cid != d->cccid) {
		fatal(c, NVME_TCP_FES_INVALID_HDR_FIELD, offsetof(struct nvme_tcp_data, cccid),
		      h, d->ch.hlen);
		return;
	}
	if (d->datao > cmd->len || d->datal > cmd->len - d->datao) {
		fatal(c, NVME_TCP_FES_DATA_OUT_OF_RANGE, 0, h, d->ch.hlen);
		return;
	}
	/* In order, and LAST_PDU exactly on the PDU that completes the R2T. */
	if (d->datao != cmd->done) {
		fatal(c, NVME_TCP_FES_INVALID_HDR_FIELD, offsetof(struct nvme_tcp_data, datao),
		      h, d->ch.hlen);
		return;
	}
	if (last != (d->datao + d->datal == cmd->len)) {
		fatal(c, NVME_TCP_FES_INVALID_HDR_FIELD, offsetof(struct nvme_tcp_ch, flags),
		      h, d->ch.hlen);
		return;
	}
	memcpy(cmd->buf + d->datao, data, d->datal);
	cmd->done += d->datal;
	if (!ddgst_ok)
		cmd->status = NVME_SC_TRANSIENT_TRANSPORT;
	if (!last)
		return;
	cmd->state = CMD_REPLY;
	if (cmd->status)
		conn_complete(cmd, cmd->status, 0, 0);
	else
		exec_command(cmd);
}

static void on_icreq(struct conn *c, const struct nvme_tcp_icreq *req)
{
	struct tx *t = tx_new();

	if (!t) {
		conn_close(c, "out of memory");
		return;
	}
	/* Grant the digests asked for; take H2C data unaligned (CPDA 0). */
	c->tcp.hdgst = req->dgst & NVME_TCP_DGST_HDGST;
	c->tcp.ddgst = req->dgst & NVME_TCP_DGST_DDGST;
	c->tcp.hpda = req->hpda;
	c->tcp.cpda = 0;
	c->tcp.maxh2cdata = CONN_MAXH2CDATA;
	c->tcp.max_icdata = CMD_MAX_ICDATA;
	nvme_tcp_build_icresp(&t->pdu, &c->tcp);
	c->tcp.ic_done = true;
	cv_debug("%s: ICReq hpda %u digests%s%s", c->peer, req->hpda,
		 c->tcp.hdgst ? " header" : "", c->tcp.ddgst ? " data" : "");
	queue(c, t);
}

static void on_pdu(struct conn *c, const union nvme_tcp_hdr *h, const uint8_t *data,
		   uint32_t data_len, bool ddgst_ok)
{
	switch (h->ch.pdu_type) {
	case NVME_TCP_ICREQ:
		on_icreq(c, &h->icreq);
		break;
	case NVME_TCP_H2C_TERM_REQ:
		cv_warn("%s qid %u: H2CTermReq FES %u FEI %u", c->peer, c->qid, h->term.fes,
			h->term.fei);
		conn_close(c, "host terminated the connection");
		break;
	case NVME_TCP_CAPSULE_CMD:
		on_capsule(c, &h->cmd, data, data_len, ddgst_ok);
		break;
	case NVME_TCP_H2C_DATA:
		on_h2c_data(c, h, data, ddgst_ok);
		break;
	}
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Take every whole PDU in the receive buffer, or as many as may be taken now. */
static void parse(struct conn *c)
{
	while (!c->closing && !c->dead && !c->rx_paused) {
		uint32_t avail = c->rx_end - c->rx_start, fei;
		const uint8_t *p = c->rx + c->rx_start;
		struct nvme_tcp_layout l;
		union nvme_tcp_hdr h;
		bool ddgst_ok = true;
		int fes;

		if (avail < sizeof(h.ch))
			break;
		memcpy(&h.ch, p, sizeof(h.ch));
		fes = nvme_tcp_check_ch(&c->tcp, &h.ch, &fei);
		if (fes) {
			fatal(c, fes, fei, p, avail < h.ch.hlen ? avail : h.ch.hlen);
			return;
		}
		nvme_tcp_layout(&h.ch, &l);
		if (avail < l.hdr_len)
			break;
		memcpy(h.raw, p, l.hdr_len);
		fes = nvme_tcp_check_hdr(&c->tcp, &h, &fei);
		if (fes) {
			fatal(c, fes, fei, p, l.hdr_len);
			return;
		}
		if (avail < h.ch.plen)
			break;
		if (l.ddgst_len) {
			struct iovec iov = { (void *)(p + l.hdr_len + l.pad), l.data_len };

			ddgst_ok = nvme_tcp_data_digest(&iov, 1) ==
				get_le32(p + l.hdr_len + l.pad + l.data_len);
			/* Not fatal, so a host could repeat it: once per connection. */
			if (!ddgst_ok && !c->ddgst_logged) {
				cv_warn("%s qid %u: data digest error in PDU type %u",
					c->peer, c->qid, h.ch.pdu_type);
				c->ddgst_logged = true;
			}
		}
		c->rx_start += h.ch.plen;
		on_pdu(c, &h, p + l.hdr_len + l.pad, l.data_len, ddgst_ok);
	}
	if (c->rx_start == c->rx_end)
		c->rx_start = c->rx_end = 0;
}

/*
 * The key for a PSK identity: the subsystem's volume's DIR/ID.psk, which the
 * launcher made with the volume (tools/lib/volume_store.h).
 */
static int psk_lookup(void *arg, const char *hostnqn, const char *subnqn, struct nvme_tls_key *k)
{
	const struct conn *c = arg;
	char id[VOLUME_ID_MAX + 1], path[PATH_MAX];

	(void)hostnqn;
	if (volume_id_from_nqn(subnqn, strlen(subnqn) + 1, id))
		return -ENOENT;
	if (snprintf(path, sizeof(path), "%s/%s.psk", c->sd->ctrls.dir, id) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return nvme_tls_key_load(path, k);
}

/*
 * TLS first (TCP Transport 1.0, "Transport Layer Security"): nothing the
 * peer sends is a PDU until the handshake has proved it holds the
 * subsystem's key.  false while it goes on, or once it failed.
 */
static bool handshake(struct conn *c)
{
	const char *host, *sub;
	char why[240];
	int r = nvme_tls_handshake(c->tls);

	if (r == -EAGAIN) {
		update_events(c);
		return false;
	}
	if (r) {
		snprintf(why, sizeof(why), "TLS handshake failed: %s", nvme_tls_error(c->tls));
		conn_close(c, why);
		return false;
	}
	c->handshaking = false;
	nvme_tls_peer(c->tls, &host, &sub);
	cv_info("%s: %s with the PSK of host %s for %s", c->peer, nvme_tls_describe(c->tls), host,
		sub);
	update_events(c);
	return true;
}

void conn_readable(struct conn *c)
{
	if (c->handshaking && !handshake(c))
		return;
	/*
	 * A bounded number of reads per turn keeps other connections served;
	 * but bytes TLS has decrypted already raise no epoll event: take them.
	 */
	for (int i = 0; (i < 16 || nvme_tls_pending(c->tls)) && !c->dead && !c->closing &&
			!c->sd->stopping && !c->rx_paused; i++) {
		ssize_t n;

		if (c->rx_end == RX_CAP) {
			memmove(c->rx, c->rx + c->rx_start, c->rx_end - c->rx_start);
			c->rx_end -= c->rx_start;
			c->rx_start = 0;
		}
		n = nvme_tls_recv(c->tls, c->fd, c->rx + c->rx_end, RX_CAP - c->rx_end);
		if (n == 0) {
			conn_close(c, "peer closed the connection");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_close(c, strerror(errno));
			return;
		}
		c->rx_end += (uint32_t)n;
		parse(c);
	}
}

void conn_flush(struct conn *c)
{
	if (c->handshaking) {
		if (handshake(c))
			conn_readable(c);
		return;
	}
	while (c->tx_head && !c->dead) {
		struct iovec iov[TX_IOV_MAX];
		uint32_t skip = c->tx_sent;
		ssize_t n;
		int k = 0;

		for (struct tx *t = c->tx_head; t && k + 3 <= TX_IOV_MAX; t = t->next) {
			struct iovec parts[3] = {
				{ t->pdu.hdr.raw, t->pdu.hdr_len },
				{ (void *)t->data, t->data_len },
				{ t->pdu.ddgst, t->pdu.ddgst_len },
			};

			for (int j = 0; j < 3; j++) {
				if (skip >= parts[j].iov_len) {
					skip -= (uint32_t)parts[j].iov_len;
					continue;
				}
				iov[k].iov_base = (uint8_t *)parts[j].iov_base + skip;
				iov[k++].iov_len = parts[j].iov_len - skip;
				skip = 0;
			}
		}
		n = nvme_tls_sendv(c->tls, c->fd, iov, k);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c, strerror(errno));
			return;
		}
		c->tx_sent += (uint32_t)n;
		while (c->tx_head && c->tx_sent >= tx_len(c->tx_head)) {
			struct tx *t = c->tx_head;

			c->tx_sent -= tx_len(t);
			c->tx_head = t->next;
			if (!c->tx_head)
				c->tx_tail = &c->tx_head;
			tx_free(c, t);
		}
	}
	if (c->dead)
		return;
	/* Drained: the commands already received come first, then the socket. */
	if (c->rx_paused && !c->unslotted) {
		c->rx_paused = false;
		if (!c->sd->stopping)
			parse(c);
		if (c->dead)
			return;
		/* What TLS decrypted before the pause wakes no epoll_wait. */
		if (nvme_tls_pending(c->tls))
			conn_readable(c);
		if (c->dead)
			return;
	} else if (c->rx_paused && !c->rx_pause_logged) {
		cv_warn("%s qid %u: host sends more commands than its SQ holds (%u so far) and "
			"reads no responses: not reading until it does", c->peer, c->qid,
			c->sq_overruns);
		c->rx_pause_logged = true;
	}
	if (c->closing && !c->tx_head) {
		conn_close(c, "fatal transport error");
		return;
	}
	update_events(c);
}

struct conn *conn_new(struct storaged *sd, int fd, const char *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c)
		c->rx = malloc(RX_CAP);
	if (!c || !c->rx) {
		free(c);
		close(fd);
		return NULL;
	}
	c->sd = sd;
	c->fd = fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->tcp.role = NVME_TCP_CTRL;
	c->nslots = 1;
	c->tx_tail = &c->tx_head;
	if (sd->tls) {
		if (nvme_tls_server(sd->tls, fd, psk_lookup, c, &c->tls)) {
			close(fd);
			free(c->rx);
			free(c);
			return NULL;
		}
		c->handshaking = true;
	}
	/* Idle sockets must not pile up: a queue exists only after Connect. */
	c->setup_deadline_ms = storaged_now_ms() + CONN_SETUP_MS;
	update_events(c);
	return c;
}

void conn_close(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	if (c->ctrl)
		cv_info("%s: qid %u cntlid %u subnqn %s closed: %s", c->peer, c->qid,
			c->ctrl->cntlid, c->ctrl->subnqn, why);
	else
		cv_info("%s: closed before Connect: %s", c->peer, why);
	storaged_watch(c->sd, c, 0);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	/* The admin queue takes its controller's I/O queues with it. */
	if (c->ctrl)
		ctrl_queue_gone(c->ctrl, c->qid);
	while (c->tx_head) {
		struct tx *t = c->tx_head;

		c->tx_head = t->next;
		tx_free(c, t);
	}
	c->tx_tail = &c->tx_head;
	for (unsigned i = 0; i < c->nslots; i++) {
		struct cmd *cmd = &c->cmds[i];

		if (cmd->state == CMD_AER)
			c->ctrl->aer_held--;
		if (cmd->state != CMD_IO)
			cmd_release(cmd);
	}
}

bool conn_reap(struct conn *c)
{
	struct ctrl *lifted;

	if (!c->dead || c->io_inflight)
		return false;
	if (c->ctrl && (lifted = ctrl_put(&c->sd->ctrls, c->ctrl)))
		exec_connect_fenced(c->sd, lifted);
	nvme_tls_free(c->tls);
	free(c->rx);
	free(c);
	return true;
}

void conn_quiesce(struct conn *c)
{
	update_events(c);
}

bool conn_idle(const struct conn *c)
{
	return c->dead || (!c->io_inflight && !c->tx_head);
}
