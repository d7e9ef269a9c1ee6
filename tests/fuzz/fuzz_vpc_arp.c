/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC router's ARP responder (cards/vpc/arp.c, arp_answer) on any
 * frame a guest sends, for an ENI whose address and subnet vary too.
 *
 * Input: the ENI (tests/fuzz/vpc_env.h), the room for the reply (u16),
 * then the frame: the rest of the input, its own exact-size heap block.
 *
 * Invariants beyond "no crash":
 *  - a reply is exactly one ARP frame, within the room given;
 *  - it goes to the ENI's MAC from the router's, an Ethernet/IPv4 ARP
 *    reply whose sender is the router's MAC, whose target is the ENI, and
 *    whose sender address is one the router answers for: the metadata
 *    address, or an address of the subnet that is neither the ENI's nor
 *    the subnet's network or broadcast address;
 *  - only a request from the ENI itself (MAC and address) is answered.
 */
#include <errno.h>
#include <stdlib.h>

#include "cards/vpc/arp.h"
#include "cards/vpc/imds.h"
#include "tests/fuzz/vpc_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t reply[4096];
	struct fuzz_in in = fuzz_in(data, size);
	struct eni eni;
	size_t cap, len;
	const uint8_t *bytes;
	uint8_t *frame;
	int r;

	fuzz_vpc_eni(&eni, &in);
	cap = fuzz_u16(&in) % sizeof(reply);
	bytes = fuzz_take(&in, in.n, &len);
	frame = malloc(len ? len : 1);
	FUZZ_CHECK(frame);
	memcpy(frame, bytes, len);

	r = arp_answer(&eni, frame, len, reply, cap);
	if (r > 0) {
		const struct eth_hdr *eth = (const void *)reply;
		const struct arp_hdr *a = (const void *)(reply + ETH_HLEN);
		const struct arp_hdr *q = (const void *)(frame + ETH_HLEN);
		uint32_t host = ntohl(a->spa & ~eni_netmask(&eni));

		FUZZ_CHECK(r == ARP_FRAME_LEN && (size_t)r <= cap);
		FUZZ_CHECK(!memcmp(eth->dst, eni.mac, ETH_ALEN) &&
			   !memcmp(eth->src, eni.router_mac, ETH_ALEN) &&
			   eth->type == htons(ETH_P_ARP));
		FUZZ_CHECK(a->htype == htons(ARP_HTYPE_ETHER) && a->ptype == htons(ETH_P_IPV4) &&
			   a->hlen == ETH_ALEN && a->plen == 4 && a->op == htons(ARP_OP_REPLY));
		FUZZ_CHECK(!memcmp(a->sha, eni.router_mac, ETH_ALEN) &&
			   !memcmp(a->tha, eni.mac, ETH_ALEN) && a->tpa == eni.ipv4);
		FUZZ_CHECK(a->spa == htonl(IMDS_IPV4) ||
			   (eni_in_subnet(&eni, a->spa) && a->spa != eni.ipv4 && host != 0 &&
			    host != ntohl(~eni_netmask(&eni))));
		FUZZ_CHECK(!memcmp(q->sha, eni.mac, ETH_ALEN) && q->spa == eni.ipv4);
	} else {
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EPERM || r == -ENOSPC);
	}
	free(frame);
	return 0;
}
