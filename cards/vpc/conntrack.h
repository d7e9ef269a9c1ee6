/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stateful connection tracking: what lets the return traffic of a flow the
 * security group allowed come back in, like Linux's nf_conntrack but
 * simpler (no TCP window tracking, no helpers, no NAT).
 *
 * An entry is keyed by the 5-tuple of the flow's first packet (the ORIGINAL
 * direction); the same key reversed is the REPLY direction.  TCP follows the
 * handshake and teardown (states below, timeouts as nf_conntrack's
 * defaults); UDP and other IP protocols are "seen a reply or not"; ICMP
 * echo is tracked by identifier, and ICMP errors quoting a tracked flow are
 * RELATED to it.
 *
 * The table is allocated once at its limit and never grows.  When it is
 * full a new flow takes, in order: an expired entry (among the oldest few of
 * each age list), else the oldest entry that has never seen a reply, else it
 * is dropped (VPC_DROP_CT_FULL).  Entries that have seen a reply are never
 * evicted while alive: a flood of new flows (spoofed SYNs) can only displace
 * other unanswered flows, never a working connection.
 */
#ifndef CV_VPC_CONNTRACK_H
#define CV_VPC_CONNTRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "cards/vpc/counters.h"
#include "cards/vpc/flow.h"

enum vpc_ct_state {
	VPC_CT_NONE,              /* UDP, ICMP, other protocols */
	VPC_CT_SYN_SENT,          /* original SYN seen */
	VPC_CT_SYN_RECV,          /* reply SYN+ACK seen */
	VPC_CT_ESTABLISHED,       /* original ACK after SYN+ACK, or picked up */
	VPC_CT_FIN_WAIT,          /* one side sent FIN */
	VPC_CT_LAST_ACK,          /* both sent FIN, last ACK pending */
	VPC_CT_TIME_WAIT,         /* closed cleanly */
	VPC_CT_CLOSE,             /* reset */
	VPC_CT__STATES,
};

/* Timeouts in ns: per TCP state, and for the stateless protocols. */
struct vpc_ct_timeouts {
	uint64_t tcp[VPC_CT__STATES];
	uint64_t udp_unreplied, udp_replied;
	uint64_t icmp;
};
extern const struct vpc_ct_timeouts vpc_ct_default_timeouts;

struct vpc_ct_stats {
	uint64_t created;
	uint64_t expired;         /* reclaimed after their timeout */
	uint64_t evicted;         /* unreplied, displaced by a new flow */
	uint64_t full;            /* new flows refused: nothing evictable */
	uint64_t invalid;         /* packets invalid for their entry's state */
};

struct vpc_ct_entry;

struct vpc_ct {
	struct vpc_ct_entry *e;
	uint32_t max, count;
	uint32_t *bucket;
	uint32_t bucket_mask;
	uint32_t free_head;
	uint32_t gc_cursor;        /* vpc_ct_expire() sweeps slots round robin */
	struct {
		uint32_t head, tail;  /* head = least recently active */
	} age[2];                     /* [0] unreplied, [1] replied */
	struct vpc_hash_secret secret;
	struct vpc_ct_timeouts to;
	struct vpc_ct_stats stats;
};

/*
 * A table of at most @max entries.  @secret keys the bucket hash; NULL
 * draws one from getrandom().  0 or -errno.
 */
int vpc_ct_init(struct vpc_ct *ct, uint32_t max,
		const struct vpc_hash_secret *secret);
void vpc_ct_destroy(struct vpc_ct *ct);

/* RFC 9293 flag combinations no TCP sends (SYN+FIN, SYN+RST, none...). */
bool vpc_ct_tcp_flags_valid(uint8_t flags);

/*
 * A packet of an existing flow, in either direction: advances its state
 * and timeout.  0: the entry allows it; -EPERM with @reason: it is invalid
 * for the entry's state; -ENOENT: no live entry, the security group decides.
 */
int vpc_ct_track(struct vpc_ct *ct, const struct vpc_flow *fl, uint64_t now,
		 enum vpc_drop *reason);

/*
 * Start tracking the flow of a packet the security group allowed (it has no
 * entry).  0, or -EPERM with @reason (VPC_DROP_CT_FULL).  TCP resets and
 * ICMP other than echo request pass without an entry.
 */
int vpc_ct_create(struct vpc_ct *ct, const struct vpc_flow *fl, uint64_t now,
		  enum vpc_drop *reason);

/* An ICMP error quoting a packet of a live entry (either direction). */
bool vpc_ct_related(struct vpc_ct *ct, const struct vpc_flow *fl, uint64_t now);

/*
 * The state of the live entry for @key (either direction), or -ENOENT.
 * @replied, if not NULL, tells whether a reply was seen.
 */
int vpc_ct_state(struct vpc_ct *ct, const struct vpc_flow_key *key,
		 uint64_t now, bool *replied);

/*
 * Sweeps @budget slots (round robin over the table) and frees the expired
 * entries among them; returns how many.  Lookups already ignore expired
 * entries: this only returns their slots early.
 */
uint32_t vpc_ct_expire(struct vpc_ct *ct, uint64_t now, uint32_t budget);

#endif /* CV_VPC_CONNTRACK_H */
