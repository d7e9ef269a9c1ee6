/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-volume QoS, the way gp3 volumes are provisioned: an IOPS limit and a
 * throughput limit, each a token bucket whose depth is the burst.  An I/O
 * costs one operation per started 256 KiB (gp3 counts larger I/Os as
 * several) and its size in bytes; it starts when both buckets hold enough,
 * then takes its cost from both, possibly into debt, so an I/O larger than
 * the burst still goes through once the bucket is full and later I/Os pay
 * for it.  Callers keep waiting I/O in FIFO order and ask only for the head,
 * so a large request is not starved by small ones behind it.
 *
 * Pure arithmetic on a caller-supplied monotonic clock: the card arms a
 * timer for the delay qos_admit() returns.
 */
#ifndef CV_EBS_QOS_H
#define CV_EBS_QOS_H

#include <stdbool.h>
#include <stdint.h>

/* gp3 counts I/O up to 256 KiB as one operation. */
#define QOS_OP_BYTES (256u << 10)

/* Zero means unlimited; a zero burst means one second's worth of the rate. */
struct qos_limits {
	uint64_t iops;
	uint64_t iops_burst;      /* operations */
	uint64_t bps;             /* bytes per second */
	uint64_t bps_burst;       /* bytes */
};

struct qos_bucket {
	uint64_t rate;            /* tokens per second, 0: unlimited */
	int64_t depth;            /* capacity, in nano-tokens */
	int64_t level;            /* nano-tokens now; negative is debt */
	uint64_t stamp_ns;        /* clock of the last refill */
};

struct qos {
	struct qos_bucket ops, bytes;
	uint64_t refused;         /* qos_admit() calls answered with a wait */
};

/* Past this, nano-token levels would not fit in 63 bits. */
#define QOS_MAX_TOKENS (4000000000ull)

/*
 * Set the limits; buckets start full.  -EINVAL for a rate or burst over
 * QOS_MAX_TOKENS, or a burst without a rate.
 */
int qos_init(struct qos *q, const struct qos_limits *lim, uint64_t now_ns);

/*
 * May an I/O of @bytes start at @now_ns?  Returns 0 and charges it, or the
 * nanoseconds to wait before asking again (nothing charged).
 */
uint64_t qos_admit(struct qos *q, uint64_t now_ns, uint32_t bytes);

#endif /* CV_EBS_QOS_H */
