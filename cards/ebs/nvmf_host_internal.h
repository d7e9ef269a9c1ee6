/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the NVMe/TCP host: the state nvmf_pdu.c (the per-queue PDU
 * engine) and nvmf_host.c (association set-up, Keep Alive, reconnect and
 * the public calls) share, and the calls between them.  Nothing outside
 * cards/ebs/nvmf_*.c includes it; the contract is nvmf_host.h.
 */
#ifndef CV_EBS_NVMF_HOST_INTERNAL_H
#define CV_EBS_NVMF_HOST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "cards/ebs/nvmf_host.h"
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

enum ctrl_state {
	CTRL_CONNECTING,         /* nvmf_ctrl_connect() setting the first association up */
	CTRL_LIVE,               /* an association: commands go out */
	CTRL_RECONNECTING,       /* it ended: commands held, attempts on the timer */
	/*
	 * A reconnect was refused with Do Not Retry (cv-storaged's Connect
	 * Invalid Host for an attachment a newer epoch replaced, or a volume
	 * that is gone): no more attempts; what was held completed with
	 * Namespace Not Ready, DNR set, and nvmf_submit() refuses the rest.
	 */
	CTRL_FENCED,
};

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

static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* nvmf_pdu.c: slots, the send queue, sending and receiving PDUs. */
/* Put a built PDU (its data already sliced at tx_iov[tx_cnt + 1]) in the batch. */
void nvmf_batch_add(struct nvmf_queue *q, struct slot *s, int ndata);

/* Send what the send queue holds, as far as the socket takes it. */
void nvmf_q_flush(struct nvmf_queue *q);

/* Receive and handle the PDUs the socket has, within a budget. */
void nvmf_q_rx(struct nvmf_queue *q);

/* A free slot for a command (@internal: the host's own, e.g. Keep Alive), or NULL. */
struct slot *nvmf_slot_alloc(struct nvmf_queue *q, bool internal);

/* Free the slot first, then tell the owner: done() may submit again. */
void nvmf_slot_complete(struct nvmf_queue *q, struct slot *s, uint16_t status,
			uint64_t result);

/* Send a command again from the start (new connection, or bad data). */
void nvmf_slot_rewind(struct slot *s);

/* Fill the slot's transfer from an SQE and data, and queue or hold it. */
void nvmf_slot_start(struct nvmf_queue *q, struct slot *s, const struct nvme_sqe *sqe,
		     const struct iovec *iov, int iovcnt, uint32_t len, bool to_ctrl,
		     struct nvmf_req *req);

/* Queue @s for sending. */
void nvmf_txq_push(struct nvmf_queue *q, struct slot *s);

/* nvmf_host.c: this queue's connection failed with @err; tear it down (and the association). */
void nvmf_q_fail(struct nvmf_queue *q, int err);

#endif /* CV_EBS_NVMF_HOST_INTERNAL_H */
