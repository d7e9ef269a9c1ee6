/* SPDX-License-Identifier: Apache-2.0 */
#include "cards/vpc/arp.h"

#include <errno.h>
#include <string.h>

#include "cards/vpc/imds.h"
#include "tools/lib/log.h"

/* Addresses the router owns from the guest's point of view. */
static bool arp_router_owns(const struct eni *eni, uint32_t tpa)
{
	uint32_t host = ntohl(tpa & ~eni_netmask(eni));
	uint32_t bcast = ntohl(~eni_netmask(eni));

	if (tpa == htonl(IMDS_IPV4))
		return true;
	/* The network and broadcast addresses name no host (RFC 919, 922). */
	return eni_in_subnet(eni, tpa) && tpa != eni->ipv4 && host != 0 &&
	       host != bcast;
}

int arp_answer(const struct eni *eni, const uint8_t *frame, size_t len,
	       uint8_t *reply, size_t cap)
{
	const struct eth_hdr *eth = (const void *)frame;
	const struct arp_hdr *req;
	struct eth_hdr *reth = (void *)reply;
	struct arp_hdr *rep;

	if (len < ETH_HLEN || eth->type != htons(ETH_P_ARP))
		return 0;
	req = (const void *)(frame + ETH_HLEN);
	/* RFC 826 "Packet format": Ethernet hardware, IPv4 protocol only. */
	if (len < ARP_FRAME_LEN || req->htype != htons(ARP_HTYPE_ETHER) ||
	    req->ptype != htons(ETH_P_IPV4) || req->hlen != ETH_ALEN ||
	    req->plen != 4) {
		cv_err_once("vpc %s: malformed ARP packet from the guest "
			    "(len %zu)", eni->id, len);
		return -EINVAL;
	}
	if (req->op == htons(ARP_OP_REPLY))
		return 0;
	if (req->op != htons(ARP_OP_REQUEST)) {
		cv_err_once("vpc %s: ARP opcode %u from the guest", eni->id,
			    ntohs(req->op));
		return -EINVAL;
	}
	/*
	 * Gratuitous ARP (spa == tpa) announces, a probe (spa 0, RFC 5227
	 * §2.1.1) checks the guest's own address: no one else holds it.
	 */
	if (req->spa == req->tpa || req->tpa == eni->ipv4)
		return 0;
	if (memcmp(req->sha, eni->mac, ETH_ALEN) ||
	    memcmp(eth->src, eni->mac, ETH_ALEN) || req->spa != eni->ipv4) {
		cv_err_once("vpc %s: ARP request with a sender other than the "
			    "ENI", eni->id);
		return -EPERM;
	}
	if (!arp_router_owns(eni, req->tpa))
		return 0;
	if (cap < ARP_FRAME_LEN)
		return -ENOSPC;
	rep = (void *)(reply + ETH_HLEN);

	/* RFC 826 "Packet Reception": swap sender and target, fill in sha. */
	memcpy(reth->dst, req->sha, ETH_ALEN);
	memcpy(reth->src, eni->router_mac, ETH_ALEN);
	reth->type = htons(ETH_P_ARP);
	*rep = (struct arp_hdr){
		.htype = htons(ARP_HTYPE_ETHER),
		.ptype = htons(ETH_P_IPV4),
		.hlen = ETH_ALEN,
		.plen = 4,
		.op = htons(ARP_OP_REPLY),
		.spa = req->tpa,
		.tpa = req->spa,
	};
	memcpy(rep->sha, eni->router_mac, ETH_ALEN);
	memcpy(rep->tha, req->sha, ETH_ALEN);
	return ARP_FRAME_LEN;
}
