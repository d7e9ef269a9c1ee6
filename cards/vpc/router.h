/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC card's per-ENI router: what happens to a frame between the
 * guest's virtio-net queues and the underlay (design.md, "Networking
 * model").
 *
 * From the guest: the source must be the ENI's MAC (and, for IPv4, its
 * address); ARP, DHCP, the metadata service and ping of the gateway are
 * answered by the card itself; anything else passes the security groups
 * (egress), is looked up in the mapping table by destination address, and
 * leaves encapsulated (VXLAN or Geneve) to the underlay host named there.
 *
 * From the underlay: the tunnel header is checked and must carry the ENI's
 * VNI; the datagram must come from the underlay address the mapping table
 * gives for the inner source (no other host can speak for an address); the
 * frame is re-addressed from the VPC router to the ENI, passes the
 * security groups (ingress, stateful), and is delivered.
 *
 * Every frame not delivered is counted under one reason (counters.h).
 * Single-threaded: the card's loop makes every call.
 */
#ifndef CV_VPC_ROUTER_H
#define CV_VPC_ROUTER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/encap.h"
#include "cards/vpc/eni.h"
#include "cards/vpc/filter.h"
#include "cards/vpc/imds.h"
#include "cards/vpc/mapping.h"

/*
 * Sending sockets: the outer UDP source port carries the inner flow's hash
 * (RFC 7348 §5) for underlay ECMP; a UDP socket has one source port, so a
 * flow's hash picks one of these, each bound to its own ephemeral port.
 */
#define VPC_TX_SOCKETS 8
#define VPC_DGRAM_MAX 65535

/* Delivers a frame to the guest (vnet_rx); 0 or a negative errno. */
typedef int (*vpc_deliver_fn)(void *opaque, const uint8_t *frame, size_t len);

struct vpc_router_stats {
	uint64_t from_guest;
	uint64_t answered;        /* replied to by the card's services */
	uint64_t consumed;        /* for the card's services, needing no reply */
	uint64_t encapsulated;
	uint64_t from_underlay, delivered, undeliverable;
};

struct vpc_router {
	struct eni eni;
	uint32_t vni;
	enum vpc_encap encap;
	struct vpc_filter filter;
	struct vpc_mapping map;
	struct imds imds;
	int rx_fd;                    /* bound to the underlay address */
	int tx_fd[VPC_TX_SOCKETS];
	vpc_deliver_fn deliver;
	void *opaque;
	struct vpc_router_stats stats;
	uint64_t drops[VPC_DROP__COUNT]; /* besides the filter's own */
	uint8_t reply[2048];
	uint8_t frame[VPC_DGRAM_MAX];
	uint8_t dgram[VPC_DGRAM_MAX];
};

/*
 * The router for @eni (copied) in @vni, receiving @encap datagrams on
 * @underlay, tracking at most @conntrack_max flows.  @map and the security groups in @r->filter are the caller's
 * to load afterwards (empty map: only the card's own services answer).
 */
int vpc_router_init(struct vpc_router *r, const struct eni *eni, uint32_t vni,
		    enum vpc_encap encap, const struct sockaddr_in *underlay,
		    uint32_t conntrack_max, vpc_deliver_fn deliver, void *opaque);
void vpc_router_destroy(struct vpc_router *r);

/* A frame the guest sent (vnet's tx callback, opaque = the router). */
void vpc_router_from_guest(void *r, const uint8_t *frame, size_t len);
/* rx_fd is readable: take what the underlay sent. */
void vpc_router_from_underlay(struct vpc_router *r);

/* Total drops by reason, the router's and its filter's. */
uint64_t vpc_router_drops(const struct vpc_router *r, enum vpc_drop reason);

#endif /* CV_VPC_ROUTER_H */
