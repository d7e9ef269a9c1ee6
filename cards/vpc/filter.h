/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ENI's packet filter, called once per frame by the card's datapath:
 * parse (flow.h), then connection tracking (conntrack.h), then the security
 * group (sg.h).  A frame passes if it belongs to a tracked flow (either
 * direction), is an ICMP error RELATED to one, or a rule of its direction
 * allows it, in which case its flow becomes tracked so the return traffic
 * passes.  ARP passes: the card answers it itself, and security groups
 * (like AWS's) filter IP only.  A filter belongs to one datapath thread: it
 * takes no locks.  See docs/vpc.md.
 */
#ifndef CV_VPC_FILTER_H
#define CV_VPC_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/conntrack.h"
#include "cards/vpc/counters.h"
#include "cards/vpc/sg.h"

struct vpc_filter {
	const char *eni;          /* names the device in logs */
	struct vpc_sg sg;
	struct vpc_ct ct;
	uint64_t passed;
	uint64_t drops[VPC_DROP__COUNT];
};

/*
 * Default rules (sg.h) and a connection table of @ct_max entries; @eni (kept,
 * not copied) names the device in logs.
 */
int vpc_filter_init(struct vpc_filter *f, const char *eni, uint32_t ct_max,
		    const struct vpc_hash_secret *secret);
void vpc_filter_destroy(struct vpc_filter *f);

/*
 * 0: pass the frame; -EPERM: drop it, counted in f->drops[*reason].
 * @now is a monotonic clock in ns (the caller's, so tests can inject one).
 */
int vpc_filter(struct vpc_filter *f, enum vpc_dir dir, const uint8_t *frame,
	       size_t len, uint64_t now, enum vpc_drop *reason);

#endif /* CV_VPC_FILTER_H */
