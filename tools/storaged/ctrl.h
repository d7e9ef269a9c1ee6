/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe-oF controllers (NVMe Base 2.0, "NVMe over Fabrics"): the dynamic
 * controller model, where each admin-queue Connect creates a controller on
 * one volume's subsystem, I/O-queue Connects join it by CNTLID, and the
 * controller lives as long as its admin queue.  Here is its state: the
 * properties CC/CSTS, the features a host sets, the keep alive timer, and
 * which controller a volume is attached to (one association per volume).
 * No sockets: the NVMe/TCP queues (conn.c) call in.
 */
#ifndef CV_STORAGED_CTRL_H
#define CV_STORAGED_CTRL_H

#include <stdbool.h>
#include <stdint.h>

#include "guest-abi/nvme.h"
#include "tools/storaged/volume.h"

#define CTRL_MAX_IOQ     64      /* I/O queues per controller */
#define CTRL_MQES        127     /* CAP.MQES: 128 entries a queue, 0's based */
#define CTRL_AERL        3       /* 4 Asynchronous Event Requests outstanding */
#define CTRL_CAP_TO      30      /* CAP.TO: 15 s, in 500 ms units */
#define CTRL_KAS_MS      1000    /* Keep Alive granularity (Identify KAS) */
#define CTRL_CNTLID_MAX  0xffef  /* FFF0h and up are reserved */

/* A Connect command and its data, checked and parsed. */
struct connect_req {
	uint16_t qid;
	uint16_t sqsize;          /* 0's based */
	uint16_t cntlid;          /* FFFFh: a new controller (admin queue) */
	uint32_t kato_ms;
	uint64_t epoch;           /* the host NQN's attachment epoch, 0: none */
	char volume[VOLUME_ID_MAX + 1];
};

/*
 * A controller's life: one association (Base 2.0, "NVMe over Fabrics": the
 * admin queue, its I/O queues and their controller, from the admin Connect
 * until the controller is gone).  A volume is used by one association at a
 * time (struct attachment).
 */
enum ctrl_state {
	/*
	 * Created by an admin Connect that superseded older controllers of
	 * its volume (the same host reconnecting, or any host once the holder
	 * failed).  Their queues are closed, but file I/O they had submitted
	 * may still be in flight, so the Connect's response is held, and the
	 * host can send nothing, until the last of them is freed: no write of
	 * theirs can land after one of this association.  The keep alive timer
	 * runs, so a fence that outlasts KATO fails this controller instead.
	 */
	CTRL_FENCING,
	/* Connect answered: the association that uses the volume. */
	CTRL_LIVE,
	/*
	 * Over: its admin queue closed, keep alive expired, or a newer
	 * association of its volume superseded it.  Nothing more is executed
	 * on it; its queues are closed and it is freed once their file I/O
	 * has completed.
	 */
	CTRL_FAILED,
};

/*
 * A volume's attachment, while it has any controller (a superseded one
 * still draining its I/O included).  Its holder is the newest association;
 * an admin Connect from another host (HOSTID or HOSTNQN differ) is refused
 * while the holder has not failed.
 */
struct attachment {
	struct attachment *next;  /* in the controller table */
	char volume[VOLUME_ID_MAX + 1];
	uint64_t gen;             /* the holder's generation: one more per association */
	struct ctrl *holder;      /* NULL once the holder is freed */
	unsigned nctrl;           /* controllers of the volume, the holder included */
};

struct ctrl {
	struct ctrl *next;        /* in the daemon's controller table */
	unsigned refs;            /* its queues */
	enum ctrl_state state;
	struct attachment *att;   /* its volume's */
	uint64_t gen;             /* its association's generation */
	uint64_t connect_ms;      /* CLOCK_MONOTONIC of its admin Connect */
	uint16_t cntlid;
	uint8_t hostid[16];
	char hostnqn[256];
	char subnqn[256];
	struct volume vol;
	uint32_t cc;
	uint32_t csts;
	uint32_t kato_ms;         /* 0: the keep alive timer is off */
	uint64_t ka_deadline_ms;  /* CLOCK_MONOTONIC */
	uint16_t nr_ioq;          /* granted by Set Features Number of Queues */
	uint64_t ioq_live[(CTRL_MAX_IOQ + 64) / 64]; /* bit qid: connected */
	uint32_t aec;             /* Asynchronous Event Configuration */
	bool vwce;                /* Volatile Write Cache enabled */
	unsigned aer_held;        /* Asynchronous Event Requests outstanding */
};

struct ctrl_table {
	const char *dir;          /* where volumes live */
	struct ctrl *head;
	struct attachment *attachments;
	uint16_t last_cntlid;
};

/*
 * Check a Connect (Base, "Connect Command and Response"): RECFMT 0, an SQ
 * size within CAP.MQES, NUL-terminated NQNs, a subsystem NQN of our scheme,
 * CNTLID FFFFh exactly for the admin queue.  On Connect Invalid Parameters
 * *dw0 says which field (IATTR, IPO) as the response must.
 */
uint16_t ctrl_connect_parse(const struct nvmf_connect_cmd *cmd,
			    const struct nvmf_connect_data *d,
			    struct connect_req *r, uint32_t *dw0);
/*
 * A Connect on a TLS connection must name the NQNs of the PSK identity the
 * handshake proved (TCP Transport 1.0, "Transport Layer Security"): another
 * host NQN is Connect Invalid Host, another subsystem Connect Invalid
 * Parameters naming SUBNQN.  So one volume's key opens no other volume.
 */
uint16_t ctrl_connect_bound(const struct nvmf_connect_data *d, const char *hostnqn,
			    const char *subnqn, uint32_t *dw0);

/*
 * Admin queue: a new controller on the volume, its new holder.  Refused
 * with Connect Invalid Host when its epoch is below the highest the volume
 * has admitted (volume_epoch_get: a card of an older attachment, fenced);
 * with Controller Busy, *out then the holder, while another host's
 * association holds the volume, unless this Connect's epoch is higher
 * (recorded durably first: a newer attachment takes the volume from a
 * holder that may still be alive); Connect Invalid Parameters naming SUBNQN
 * if there is no such volume, Internal Error if it cannot be opened.  Every
 * older controller of the volume is superseded (CTRL_FAILED: the caller
 * closes its queues), and the new one is CTRL_FENCING until they are all
 * freed, else CTRL_LIVE.
 * I/O queue: join the live controller named by CNTLID, which must have
 * been enabled by the same host.
 * Either way, on success *out holds a reference for the queue.
 */
uint16_t ctrl_connect(struct ctrl_table *t, const struct connect_req *r,
		      const struct nvmf_connect_data *d, uint64_t now_ms,
		      struct ctrl **out, uint32_t *dw0);
/*
 * A queue's connection closed: its QID is free for a new Connect at once
 * (an admin queue's going ends the controller: it fails).  The reference
 * stays until the queue's file I/O has completed: ctrl_put() then frees the
 * controller after its last queue.  If that leaves its volume with nothing
 * but a CTRL_FENCING holder, the fence is lifted: ctrl_put() returns the
 * holder, CTRL_LIVE now, whose Connect is to be answered; else NULL.
 */
void ctrl_queue_gone(struct ctrl *c, uint16_t qid);
struct ctrl *ctrl_put(struct ctrl_table *t, struct ctrl *c);

/* Property Get / Set on CAP, VS, CC and CSTS (Base, "Controller Properties"). */
uint16_t ctrl_prop_get(const struct ctrl *c, const struct nvmf_prop_get_cmd *cmd,
		       uint64_t *value);
uint16_t ctrl_prop_set(struct ctrl *c, const struct nvmf_prop_set_cmd *cmd);

/*
 * Get / Set Features for Volatile Write Cache, Number of Queues,
 * Asynchronous Event Configuration and Keep Alive Timer; *dw0 is the
 * completion's DW0.
 */
uint16_t ctrl_get_features(const struct ctrl *c, const struct nvme_sqe *sqe, uint32_t *dw0);
uint16_t ctrl_set_features(struct ctrl *c, const struct nvme_sqe *sqe, uint64_t now_ms,
			   uint32_t *dw0);

/* Keep Alive command: restart the timer (Base, "Keep Alive Timer"). */
void ctrl_keep_alive(struct ctrl *c, uint64_t now_ms);
bool ctrl_ka_expired(const struct ctrl *c, uint64_t now_ms);

/* CSTS.RDY: I/O commands and I/O queue Connects need an enabled controller. */
static inline bool ctrl_ready(const struct ctrl *c)
{
	return c->state == CTRL_LIVE && (c->csts & NVME_CSTS_RDY);
}

#endif /* CV_STORAGED_CTRL_H */
