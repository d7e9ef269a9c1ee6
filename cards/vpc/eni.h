/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The elastic network interface a VPC card serves: what its local services
 * (ARP for the gateway, DHCP, the instance metadata service) answer from.
 * The card fills one from the instance description at start-up; only the
 * spot interruption notice changes afterwards, from the control thread
 * while the datapath reads it, so it is one atomic word.
 *
 * Addresses are IPv4 in network byte order, as in struct ipv4_hdr.
 */
#ifndef CV_VPC_ENI_H
#define CV_VPC_ENI_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cards/vpc/pkt.h"

/*
 * EC2's MTU inside a VPC.  The guest's frames are carried in VXLAN or
 * Geneve, so the underlay path must carry 9001 + the encapsulation's 50+
 * bytes (or the card fragments the outer datagram); a launcher that knows
 * its underlay is 1500 sets mtu to 1450 instead.
 */
#define ENI_MTU_DEFAULT 9001
#define ENI_STR_MAX 64

enum eni_spot_action {
	ENI_SPOT_NONE,
	ENI_SPOT_HIBERNATE,
	ENI_SPOT_STOP,
	ENI_SPOT_TERMINATE,
};

struct eni {
	char id[ENI_STR_MAX];            /* "eni-..." */
	uint8_t mac[ETH_ALEN];           /* the guest's MAC */
	/*
	 * The VPC router's MAC: the source of every frame the card's services
	 * send, and the answer to ARP for any subnet address but the ENI's.
	 */
	uint8_t router_mac[ETH_ALEN];
	uint32_t ipv4;                   /* private IPv4 address */
	uint32_t subnet;                 /* subnet base address */
	uint8_t prefix_len;              /* subnet prefix, 16..28 in a VPC */
	uint32_t gateway;                /* subnet base + 1, as in a VPC */
	uint32_t dns;                    /* the resolver: VPC base + 2 */
	uint16_t mtu;                    /* 576..9001 */
	char instance_id[ENI_STR_MAX];
	char instance_type[ENI_STR_MAX];
	char hostname[ENI_STR_MAX];      /* e.g. "ip-10-0-1-23" */
	char domain[ENI_STR_MAX];        /* e.g. "ec2.internal" */
	/*
	 * Scheduled spot interruption: time (seconds since the epoch) << 2 |
	 * action.  Use eni_spot_set() / eni_spot_get(), never the field.
	 */
	uint64_t spot;
};

static inline uint32_t eni_netmask(const struct eni *eni)
{
	uint32_t host = eni->prefix_len ? ~0u << (32 - eni->prefix_len) : 0;

	return htonl(host);
}

/* The address @n hosts above the subnet base: 1 is the gateway, 2 the DNS. */
static inline uint32_t eni_subnet_host(const struct eni *eni, uint32_t n)
{
	return htonl(ntohl(eni->subnet) + n);
}

static inline bool eni_in_subnet(const struct eni *eni, uint32_t addr)
{
	return ((addr ^ eni->subnet) & eni_netmask(eni)) == 0;
}

static inline void eni_spot_set(struct eni *eni, enum eni_spot_action action,
				time_t when)
{
	uint64_t v = action == ENI_SPOT_NONE ? 0 : (uint64_t)when << 2 | action;

	__atomic_store_n(&eni->spot, v, __ATOMIC_RELEASE);
}

static inline enum eni_spot_action eni_spot_get(const struct eni *eni,
						time_t *when)
{
	uint64_t v = __atomic_load_n(&eni->spot, __ATOMIC_ACQUIRE);

	*when = (time_t)(v >> 2);
	return (enum eni_spot_action)(v & 3);
}

#endif /* CV_VPC_ENI_H */
