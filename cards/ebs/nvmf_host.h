/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe over Fabrics host (initiator) on the TCP transport: the EBS card's
 * way to cv-storaged.  One struct nvmf_ctrl is one association (NVMe Base
 * 2.0, "NVMe over Fabrics" chapter): an admin queue and N I/O queues, each
 * its own TCP connection (TCP Transport 1.0, "Queue Model").
 *
 * Event-loop model (single thread per controller):
 *  - nvmf_ctrl_connect() sets the association up and blocks until it is
 *    live or opts->connect_timeout_ms passed.
 *  - Every queue has one file descriptor that stays the same across
 *    reconnects (an epoll set holding the current socket, and on the admin
 *    queue the timer for Keep Alive, reconnect backoff and expiry).  Add
 *    nvmf_ctrl_fd() and every nvmf_queue_fd() to the caller's epoll with
 *    EPOLLIN and call nvmf_ctrl_process() / nvmf_queue_process() when ready.
 *  - nvmf_submit() only queues a command; nvmf_queue_kick() writes what is
 *    queued (so a burst of submissions goes out in one sendmsg()).  Requests
 *    submitted from a completion callback go out at the end of the
 *    process call that ran the callback.
 *  - Completion callbacks run from nvmf_queue_process(), nvmf_ctrl_process()
 *    and nvmf_queue_kick(), never from nvmf_submit().  They may submit; they
 *    must not free the controller.
 *
 * Errors: a dropped connection, a received C2HTermReq, a header digest
 * mismatch or any PDU that does not match an outstanding command (unknown
 * CID, an R2T or C2HData offset or length outside the command's data,
 * C2HData for a write, an R2T for a read) ends the association, after an
 * H2CTermReq with the fatal error status the spec names (logged once per
 * kind).  A data digest mismatch on C2HData leaves the framing intact: that
 * read is sent again once its response is in (at most 3 times, then it
 * completes with Transient Transport Error, DNR clear).
 *
 * Commands in flight when an association ends are held and sent again on
 * the next one, which is retried with exponential backoff (20 ms to 1 s); a
 * command held longer than opts->reconnect_timeout_ms completes with
 * NVMF_SC_CMD_INTERRUPTED and DNR clear, so the guest retries it.  A
 * reconnect refused with Do Not Retry (a newer attachment epoch fenced this
 * host: docs/storaged.md, "Epochs") ends that: held commands complete with
 * Namespace Not Ready, DNR set, and nvmf_submit() returns -ESHUTDOWN.  Because
 * cv-storaged acknowledges a write only once it is durable, sending an
 * unacknowledged write again never undoes an acknowledged one.
 *
 * A reconnect attempt, like the first connect, blocks the calling thread
 * for at most connect_timeout_ms (all queues are down at that moment; a
 * refused connection returns at once).
 *
 * C2HData with the SUCCESS flag completes its command without a
 * CapsuleResp.  This host keeps SQ flow control on, so a target should not
 * send it (TCP, "C2HData PDU"), but one that does is taken at its word.
 */
#ifndef CV_EBS_NVMF_HOST_H
#define CV_EBS_NVMF_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-abi/nvme.h"
#include "tools/lib/nvme_tls_key.h"

/*
 * Command Interrupted (Base 2.0, "Generic Command Status Definition", 21h):
 * "the host should retry the command"; the controller clears DNR with it.
 * Not in guest-abi/nvme.h yet, hence here.
 */
#define NVMF_SC_CMD_INTERRUPTED NVME_SC(NVME_SCT_GENERIC, 0x21)

#define NVMF_NQN_MAX       223     /* Base, "NVMe Qualified Names": 223 bytes */
#define NVMF_IOV_MAX       256     /* data segments of one request */

struct nvmf_opts {
	const char *addr;               /* target host name or address */
	const char *port;               /* service, e.g. "4420" */
	const char *subnqn;
	const char *hostnqn;
	uint8_t hostid[16];             /* Host Identifier (UUID) */
	uint32_t nsid;                  /* 0: the first active namespace */
	unsigned nr_io_queues;          /* >= 1 */
	unsigned queue_size;            /* commands in flight per I/O queue;
					   Connect asks for one entry more */
	bool hdgst, ddgst;              /* digests to ask for */
	/* TLS 1.3 with this PSK on every queue (tools/lib/nvme_tls.h); NULL: none */
	const struct nvme_tls_key *tls_key;
	unsigned kato_ms;               /* Keep Alive Timeout; 0: none */
	unsigned connect_timeout_ms;    /* one (re)connect attempt */
	unsigned reconnect_timeout_ms;  /* how long a command may be held */
	unsigned busy_wait_ms;          /* how long the first Connect retries
					   Controller Busy (the volume's last
					   host not let go yet); 0: not at all */
};

/* What the association agreed on; stable across reconnects. */
struct nvmf_ctrl_info {
	uint16_t cntlid;
	uint32_t nsid;
	uint64_t nsze;                  /* namespace size in logical blocks */
	uint32_t lba_size;              /* bytes */
	uint32_t max_xfer;              /* bytes in one command (MDTS, capped) */
	uint32_t max_icdata;            /* in-capsule data bytes on I/O queues */
	uint32_t maxh2cdata;            /* data bytes in one H2CData */
	bool hdgst, ddgst;              /* granted by the target */
	unsigned nr_io_queues;          /* granted by Set Features (<= asked) */
	unsigned queue_size;
	uint64_t reconnects;            /* associations set up after the first */
};

struct nvmf_req;
typedef void (*nvmf_done_fn)(struct nvmf_req *req, uint16_t status);

/*
 * One I/O command.  The caller owns the request and its data until done()
 * runs.  status is the CQE status field without the phase tag (SC, SCT,
 * CRD, More, DNR: guest-abi/nvme.h); nvme_cqe_code(status) gives the
 * NVME_SC_* value.
 */
struct nvmf_req {
	uint8_t opc;                    /* NVME_NVM_READ, _WRITE, _FLUSH, _WRITE_ZEROES, _DSM */
	bool fua;                       /* Read, Write, Write Zeroes */
	uint64_t slba;
	uint32_t nlb;                   /* logical blocks, 1's based (not Flush) */
	const struct iovec *iov;        /* Read and Write: nlb * lba_size bytes */
	int iovcnt;                     /* <= NVMF_IOV_MAX */
	nvmf_done_fn done;
	void *priv;                     /* the caller's */
	/* The library's, while submitted. */
	uint64_t result;                /* CQE DW0 | DW1 << 32 */
};

struct nvmf_ctrl;
struct nvmf_queue;

/* 0 and *out set, or a negative errno after one log line saying why. */
int nvmf_ctrl_connect(const struct nvmf_opts *opts, struct nvmf_ctrl **out);
/* Closes every connection; requests still held are dropped uncompleted. */
void nvmf_ctrl_free(struct nvmf_ctrl *ctrl);

const struct nvmf_ctrl_info *nvmf_ctrl_info(const struct nvmf_ctrl *ctrl);
bool nvmf_ctrl_live(const struct nvmf_ctrl *ctrl);
int nvmf_ctrl_fd(const struct nvmf_ctrl *ctrl);
void nvmf_ctrl_process(struct nvmf_ctrl *ctrl);

/* I/O queue i, 0 <= i < info->nr_io_queues (NVMe queue id i + 1). */
struct nvmf_queue *nvmf_ctrl_queue(struct nvmf_ctrl *ctrl, unsigned i);
int nvmf_queue_fd(const struct nvmf_queue *q);
void nvmf_queue_process(struct nvmf_queue *q);
void nvmf_queue_kick(struct nvmf_queue *q);

/*
 * Queue @req.  0, -EINVAL (a field the command cannot carry, or data length
 * not nlb * lba_size or above max_xfer) or -EBUSY (queue_size commands
 * already outstanding).  While the association is down the command is held.
 */
int nvmf_submit(struct nvmf_queue *q, struct nvmf_req *req);

#endif /* CV_EBS_NVMF_HOST_H */
