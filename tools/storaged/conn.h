/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One NVMe/TCP connection, which is one NVMe queue (TCP Transport 1.0,
 * "Connection Establishment"): ICReq/ICResp, then a Connect that binds it
 * to a controller as its admin queue or one of its I/O queues, then command
 * capsules answered in any order.  Data moves in-capsule or by R2T/H2CData
 * towards the controller and by C2HData back; the file I/O behind a command
 * runs on the daemon's io_uring while the connection takes more commands.
 *
 * A fatal transport error (TCP Transport 1.0, "Transport Errors") queues a
 * C2HTermReq quoting the bad header and closes the connection once it is
 * sent; nothing else the peer sends is looked at after that.  A host that
 * sends past its SQ and does not read the responses is not read either
 * until they are sent, which bounds what a connection holds.
 */
#ifndef CV_STORAGED_CONN_H
#define CV_STORAGED_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "tools/lib/nvme_tcp.h"
#include "tools/lib/nvme_tls.h"
#include "tools/storaged/backend.h"
#include "tools/storaged/ctrl.h"

struct storaged;

/* Bytes of data one H2CData may carry (ICResp MAXH2CDATA); C2HData too. */
#define CONN_MAXH2CDATA (128u * 1024)
/* A connection that has not sent ICReq and Connect by then is closed. */
#define CONN_SETUP_MS   10000

enum cmd_state {
	CMD_FREE,
	CMD_WAIT_DATA,            /* R2T sent, H2CData arriving */
	CMD_IO,                   /* file I/O in flight */
	CMD_AER,                  /* Asynchronous Event Request held */
	CMD_CONNECT_HELD,         /* admin Connect answered when its fence lifts */
	CMD_REPLY,                /* response queued, slot busy until sent */
};

struct conn;

/* A command slot: one of SQSIZE + 1; its index is the R2T's TTAG. */
struct cmd {
	struct bio bio;
	struct conn *conn;
	struct nvme_sqe sqe;
	enum cmd_state state;
	uint8_t *buf;             /* the command's data, 4 KiB aligned */
	uint32_t len;
	uint32_t done;            /* bytes received (H2C) or moved (file) */
	uint16_t status;          /* set while data still arrives: complete with it */
	uint64_t off;             /* file offset of the next I/O */
	unsigned step;            /* where a multi-step command is */
};

struct tx;

struct conn {
	struct conn *next;        /* the daemon's list */
	struct conn *dirty_next;  /* the daemon's list of connections to flush */
	bool dirty;
	struct storaged *sd;
	int fd;
	char peer[64];
	uint32_t events;          /* epoll interest now */
	struct nvme_tls *tls;     /* TLS over the socket, or NULL */
	bool handshaking;         /* TLS handshake not done: no PDU yet */
	struct nvme_tcp_conn tcp;
	struct ctrl *ctrl;        /* NULL until Connect */
	uint16_t qid;
	uint16_t nslots;          /* SQSIZE + 1 once connected, else 1 */
	uint16_t sqhd;
	struct cmd cmds[CTRL_MQES + 1];
	uint8_t *rx;
	uint32_t rx_start, rx_end;
	struct tx *tx_head, **tx_tail;
	uint32_t tx_sent;         /* bytes of tx_head already sent */
	bool closing;             /* C2HTermReq queued: close once it is out */
	uint64_t close_deadline_ms;
	uint64_t setup_deadline_ms;  /* until Connect succeeds */
	bool dead;                /* socket closed; freed when no file I/O is left */
	bool ddgst_logged;
	unsigned io_inflight;
	unsigned unslotted;       /* responses queued for commands past the SQ */
	unsigned sq_overruns;     /* commands past the SQ, ever */
	bool rx_paused;           /* a queue's worth of those waits: not reading */
	bool rx_pause_logged;
};

/*
 * A command's end: its CapsuleResp, after its data in C2HData PDUs for
 * conn_complete_data().  The slot is free again once the response is sent.
 */
void conn_complete(struct cmd *cmd, uint16_t status, uint32_t dw0, uint32_t dw1);
void conn_complete_data(struct cmd *cmd);
/* Free a slot that will send nothing more (its connection is gone). */
void cmd_release(struct cmd *cmd);

/*
 * Take an accepted, non-blocking socket; its TLS handshake comes first when
 * the daemon requires TLS.  NULL (socket closed) on ENOMEM.
 */
struct conn *conn_new(struct storaged *sd, int fd, const char *peer);
void conn_readable(struct conn *c);
/* Send what is queued; called by the daemon for connections marked dirty. */
void conn_flush(struct conn *c);
/* Close the socket now, logging why; the memory stays until conn_reap. */
void conn_close(struct conn *c, const char *why);
/*
 * Free a dead connection whose file I/O has all completed; false if not
 * yet.  Freeing its controller may lift a newer one's fence, whose held
 * Connect is then answered.
 */
bool conn_reap(struct conn *c);
/* Stop taking commands (daemon shutdown): answer what is in flight only. */
void conn_quiesce(struct conn *c);
bool conn_idle(const struct conn *c);

#endif /* CV_STORAGED_CONN_H */
