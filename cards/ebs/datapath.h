/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's block path between a guest-facing face and the NVMe/TCP
 * association to cv-storaged (design.md, "Storage model"):
 *
 *   ebs_io  ->  QoS admission  ->  AES-256-XTS  ->  NVMe/TCP I/O queue
 *
 * The path knows no face.  The NVMe controller (cards/ebs/nvme_ctrl.h,
 * NVMe I/O queue y on NVMe/TCP queue y) and the virtio-blk device
 * (cards/ebs/vblk.h, virtqueue i on NVMe/TCP queue i + 1) each turn their
 * guest requests into ebs_io and get them back through its done callback,
 * so queues stay independent end to end whichever face the guest sees.
 * Requests and statuses are NVMe's, the protocol toward storage: a face
 * maps what its guest speaks onto them.
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

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cards/ebs/nvmf_host.h"
#include "cards/ebs/qos.h"
#include "tools/lib/volume_image.h"
#include "tools/lib/xts.h"

#define EBS_LBA_SHIFT VOLUME_BLOCK_SHIFT       /* 4096-byte blocks */
#define EBS_LBA_SIZE (1u << EBS_LBA_SHIFT)

struct ebs_io;
/*
 * @io finished with @status, an NVMe CQE status word without phase
 * (nvme_cqe_status(); 0 is success).  Called from the event loop, or from
 * inside ebs_datapath_submit() when the I/O fails at once.
 */
typedef void (*ebs_io_done_fn)(struct ebs_io *io, uint16_t status);

/*
 * One block request of a face, validated by it (range inside the volume,
 * data length = nlb blocks, no more than one NVMe/TCP command carries),
 * owned by it until done() is called.  The face may drop its buffers while
 * the I/O is in flight (its guest memory goes away) by setting iov to
 * NULL: the path then neither reads nor writes them, and a Read or Write
 * not yet sent completes with Command Aborted.
 */
struct ebs_io {
	uint16_t queue;        /* NVMe/TCP I/O queue, 1..nr_io_queues */
	uint8_t opcode;        /* NVME_NVM_READ, _WRITE, _FLUSH, _WRITE_ZEROES, _DSM */
	bool fua;
	uint64_t slba;
	uint32_t nlb;          /* blocks, 1-based; 0 for Flush and DSM */
	struct iovec *iov;     /* guest memory, Read and Write only */
	unsigned iovcnt;
	const struct nvme_dsm_range *ranges; /* DSM only, in card memory */
	unsigned nr_ranges;
	ebs_io_done_fn done;
};

struct ebs_datapath;

struct ebs_datapath_stats {
	uint64_t submitted, completed;
	uint64_t qos_waits;       /* I/Os that waited for QoS tokens */
	uint64_t errors;          /* completed with a non-success status */
};

/*
 * A path over the live association @nvmf (nvmf_ctrl_info() tells its LBA
 * size, which must be EBS_LBA_SIZE) with volume key @key and QoS @lim.
 * Returns 0 or a negative errno (bad key, LBA size mismatch, no memory).
 */
int ebs_datapath_create(struct ebs_datapath **out, struct nvmf_ctrl *nvmf,
			const uint8_t key[XTS_KEY_LEN], const struct qos_limits *lim);
/* Requests still in flight are dropped uncompleted: stop the face first. */
void ebs_datapath_destroy(struct ebs_datapath *dp);

/*
 * Start @io: 0, and done() follows (perhaps before this returns); or
 * -EINVAL (no such queue) / -ENOMEM with done() never called.
 */
int ebs_datapath_submit(struct ebs_datapath *dp, struct ebs_io *io);
/* Whether NVMe/TCP I/O queue @qid exists: 0, else -ENOSPC after a log line. */
int ebs_datapath_ioq_create(struct ebs_datapath *dp, uint16_t qid);

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
