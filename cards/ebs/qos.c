// SPDX-License-Identifier: Apache-2.0
#include <errno.h>

#include "cards/ebs/qos.h"

#define NSEC 1000000000ull

static int bucket_init(struct qos_bucket *b, uint64_t rate, uint64_t burst,
		       uint64_t now_ns)
{
	if (!rate && burst)
		return -EINVAL;
	if (!burst)
		burst = rate;
	if (rate > QOS_MAX_TOKENS || burst > QOS_MAX_TOKENS)
		return -EINVAL;
	b->rate = rate;
	b->depth = (int64_t)(burst * NSEC);
	b->level = b->depth;
	b->stamp_ns = now_ns;
	return 0;
}

int qos_init(struct qos *q, const struct qos_limits *lim, uint64_t now_ns)
{
	struct qos n = { 0 };
	int ret;

	ret = bucket_init(&n.ops, lim->iops, lim->iops_burst, now_ns);
	if (!ret)
		ret = bucket_init(&n.bytes, lim->bps, lim->bps_burst, now_ns);
	if (ret)
		return ret;
	*q = n;
	return 0;
}

static void bucket_refill(struct qos_bucket *b, uint64_t now_ns)
{
	uint64_t dt;
	unsigned __int128 add;

	if (now_ns <= b->stamp_ns)
		return;
	dt = now_ns - b->stamp_ns;
	b->stamp_ns = now_ns;
	/* rate tokens/s * dt ns = rate * dt nano-tokens; 128 bits: no overflow. */
	add = (unsigned __int128)b->rate * dt;
	if (add >= (unsigned __int128)(b->depth - b->level))
		b->level = b->depth;
	else
		b->level += (int64_t)add;
}

/*
 * Nanoseconds until @b holds what an I/O costing @cost tokens needs to
 * start: the cost, or a full bucket when the cost exceeds the depth.
 */
static uint64_t bucket_wait(const struct qos_bucket *b, uint64_t cost)
{
	int64_t need;

	if (!b->rate)
		return 0;
	need = cost * NSEC > (uint64_t)b->depth ? b->depth : (int64_t)(cost * NSEC);
	if (b->level >= need)
		return 0;
	/* Round up so that waiting this long is always enough. */
	return (uint64_t)(need - b->level + b->rate - 1) / b->rate;
}

uint64_t qos_admit(struct qos *q, uint64_t now_ns, uint32_t bytes)
{
	uint64_t ops = bytes ? (bytes + QOS_OP_BYTES - 1) / QOS_OP_BYTES : 1;
	uint64_t w_ops, w_bytes;

	bucket_refill(&q->ops, now_ns);
	bucket_refill(&q->bytes, now_ns);
	w_ops = bucket_wait(&q->ops, ops);
	w_bytes = bucket_wait(&q->bytes, bytes);
	if (w_ops || w_bytes) {
		q->refused++;
		return w_ops > w_bytes ? w_ops : w_bytes;
	}
	if (q->ops.rate)
		q->ops.level -= (int64_t)(ops * NSEC);
	if (q->bytes.rate)
		q->bytes.level -= (int64_t)((uint64_t)bytes * NSEC);
	return 0;
}
