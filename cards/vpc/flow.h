/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parse an Ethernet frame into the checked flow key the security groups
 * and the connection tracker decide on.  Every length the frame claims is
 * checked against the bytes that are really there before anything behind it
 * is read; a frame that fails names its drop reason.
 */
#ifndef CV_VPC_FLOW_H
#define CV_VPC_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/counters.h"
#include "cards/vpc/pkt.h"   /* IPPROTO_*_ */

/*
 * The 5-tuple, 16 bytes so it hashes as two words.  Addresses are in
 * network byte order as on the wire, ports in host order.  ICMP echo
 * request/reply put the identifier in both ports (RFC 792: the reply echoes
 * it), so a reply's key is the request's key reversed, like TCP and UDP.
 */
struct vpc_flow_key {
	uint32_t saddr;
	uint32_t daddr;
	uint16_t sport;
	uint16_t dport;
	uint8_t proto;
	uint8_t pad_[3];          /* zero: keys compare with memcmp */
};

struct vpc_flow {
	uint16_t ethertype;       /* ETH_P_IPV4 or ETH_P_ARP; the rest is IPv4 */
	struct vpc_flow_key key;
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint8_t icmp_code;
	bool fragment;            /* first fragment of a fragmented datagram */
	/*
	 * ICMP errors (destination unreachable, time exceeded, parameter
	 * problem) carry the IP header and first 8 bytes of the datagram that
	 * caused them (RFC 792): its key, so the error can pass as RELATED to
	 * the connection it belongs to.
	 */
	bool has_inner;
	struct vpc_flow_key inner;
	uint16_t l4_off;          /* from the start of the frame */
	uint16_t l4_len;          /* L4 bytes present, per tot_len */
};

/*
 * Fragments (RFC 791): only the first fragment carries the L4 header, so it
 * is judged by its ports like any packet, provided the whole header is in
 * it (a first fragment too short to hold it is the tiny-fragment attack of
 * RFC 1858 and is dropped as l4_trunc).  Later fragments have no ports: they
 * can neither match a port rule nor be tied to a connection without
 * reassembly, and letting them through unjudged would let a sender carry any
 * payload past the security group, so they are dropped (VPC_DROP_FRAG).
 * The ENI's MTU leaves room for the encapsulation, so VPC peers do not
 * fragment; see docs/vpc.md.
 *
 * Returns 0 with @fl filled, or -EINVAL with @reason set.
 */
int vpc_flow_parse(const uint8_t *frame, size_t len, struct vpc_flow *fl,
		   enum vpc_drop *reason);

/* The key of the same flow seen from the other end. */
struct vpc_flow_key vpc_flow_key_reverse(const struct vpc_flow_key *k);

/*
 * SipHash-2-4 (Aumasson & Bernstein, 2012) of a key under a 128-bit secret:
 * the connection table's buckets are chosen by peers' addresses and ports,
 * so an unkeyed hash would let a sender aim every flow at one bucket.
 */
struct vpc_hash_secret {
	uint64_t k0, k1;
};
uint64_t vpc_flow_hash(const struct vpc_flow_key *k,
		       const struct vpc_hash_secret *secret);

#endif /* CV_VPC_FLOW_H */
