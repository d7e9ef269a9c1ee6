/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's block path between the guest-facing NVMe controller and
 * the NVMe/TCP association to cv-storaged (design.md, "Storage model"):
 *
 *   nvme_io  ->  QoS admission  ->  AES-256-XTS  ->  NVMe/TCP I/O queue
 *
 * NVMe I/O queue y is carried by NVMe/TCP I/O queue y (the association is
 * set up with as many I/O queues as the controller offers), so queue pairs
 * stay independent end to end.
 *
 * Every written block is encrypted into a bounce buffer before it leaves
 * the card; every read block is decrypted from one into guest memory, so
 * the cipher does the copy and the storage node sees only ciphertext.  A
 * block whose ciphertext is all zeroes reads as zeroes: that is what
 * cv-storaged returns for deallocated and zeroed blocks, so Write Zeroes
 * and Deallocate pass through as they are (no encrypted zeroes to write),
 * and the controller can report that deallocated blocks read as zeroes.
 * Real ciphertext is all zeroes with probability 2^-32768 per block.
 *
 * Single-threaded: the card's event loop makes every call.
 */
#ifndef CV_EBS_DATAPATH_H
#define CV_EBS_DATAPATH_H

#include <stdint.h>

#include "cards/ebs/nvme_ctrl.h"
#include "cards/ebs/nvmf_host.h"
#include "cards/ebs/qos.h"
#include "cards/ebs/xts.h"

struct ebs_datapath;

struct ebs_datapath_stats {
	uint64_t submitted, completed;
	uint64_t qos_waits;       /* I/Os that waited for QoS tokens */
	uint64_t errors;          /* completed with a non-success status */
};

/*
 * A path over the live association @nvmf (nvmf_ctrl_info() tells its LBA
 * size, which must be the controller's 4096) with volume key @key and QoS
 * @lim.  The controller is attached afterwards with
 * ebs_datapath_attach(), because it needs the path's callbacks first.
 * Returns 0 or a negative errno (bad key, LBA size mismatch, no memory).
 */
int ebs_datapath_create(struct ebs_datapath **out, struct nvmf_ctrl *nvmf,
			const uint8_t key[XTS_KEY_LEN], const struct qos_limits *lim);
void ebs_datapath_attach(struct ebs_datapath *dp, struct nvme_ctrl *ctrl);
/* Requests still in flight are dropped uncompleted: reset the controller first. */
void ebs_datapath_destroy(struct ebs_datapath *dp);

/* nvme_ctrl_ops.io_submit and .ioq_create, opaque = the path. */
int ebs_datapath_submit(void *dp, struct nvme_io *io);
int ebs_datapath_ioq_create(void *dp, uint16_t qid);

/*
 * The QoS timer: a timerfd armed whenever an I/O waits for tokens.  Add it
 * to the loop with EPOLLIN and call ebs_datapath_timer() when readable.
 */
int ebs_datapath_timer_fd(const struct ebs_datapath *dp);
void ebs_datapath_timer(struct ebs_datapath *dp);

/*
 * Send what was queued during this loop iteration (one sendmsg() per
 * NVMe/TCP queue for a burst of guest commands).  Call before sleeping.
 */
void ebs_datapath_flush(struct ebs_datapath *dp);

void ebs_datapath_stats(const struct ebs_datapath *dp, struct ebs_datapath_stats *s);

#endif /* CV_EBS_DATAPATH_H */
