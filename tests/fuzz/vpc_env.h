/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the VPC service harnesses share:
 *  - fuzz_vpc_eni(): the ENI the unit tests use (tests/unit/vpc_test_eni.h),
 *    its address, subnet prefix (16..28, as in a VPC), MTU (576..9001),
 *    host and domain names varied by the input within what the card's
 *    instance description allows;
 *  - fuzz_vpc_fix_ipv4(): makes a frame's IPv4 header checksum right, so
 *    frames get past pkt_ipv4_parse() (a fuzzer cannot compute it);
 *  - fuzz_vpc_check_reply(): the invariants of every IPv4 frame a service
 *    sends the guest: Ethernet from the router's MAC to the ENI's (or
 *    broadcast), a header pkt_ipv4_parse() accepts whose length is the
 *    frame's, the expected protocol, and an L4 checksum that verifies.
 */
#ifndef CV_TESTS_FUZZ_VPC_ENV_H
#define CV_TESTS_FUZZ_VPC_ENV_H

#include "cards/vpc/eni.h"
#include "cards/vpc/pkt.h"
#include "tests/fuzz/fuzz.h"

static inline void fuzz_vpc_eni(struct eni *eni, struct fuzz_in *in)
{
	static const uint8_t mac[ETH_ALEN] = { 0x0e, 0x12, 0x34, 0x56, 0x78, 0x9a };
	static const uint8_t router[ETH_ALEN] = { 0x0e, 0xfe, 0xed, 0xfa, 0xce, 0x01 };
	uint8_t how = fuzz_u8(in);

	*eni = (struct eni){
		.id = "eni-0a1b2c3d4e5f60718",
		.ipv4 = htonl(0x0a000117),        /* 10.0.1.23 */
		.prefix_len = 24,
		.dns = htonl(0x0a000002),
		.mtu = ENI_MTU_DEFAULT,
		.instance_id = "i-0123456789abcdef0",
		.instance_type = "cv.small",
		.hostname = "ip-10-0-1-23",
		.domain = "ec2.internal",
	};
	memcpy(eni->mac, mac, sizeof(mac));
	memcpy(eni->router_mac, router, sizeof(router));
	if (how & 1) {
		eni->ipv4 = fuzz_u32(in);
		eni->prefix_len = (uint8_t)(16 + fuzz_u8(in) % 13);
		eni->mtu = (uint16_t)(576 + fuzz_u16(in) % (ENI_MTU_DEFAULT - 576 + 1));
	}
	/* Names are NUL-terminated in the ENI, whatever else they hold. */
	if (how & 2) {
		fuzz_bytes(in, eni->hostname, sizeof(eni->hostname) - 1);
		fuzz_bytes(in, eni->domain, sizeof(eni->domain) - 1);
	}
	eni->subnet = eni->ipv4 & eni_netmask(eni);
	eni->gateway = eni_subnet_host(eni, 1);
	if (how & 4)
		eni_spot_set(eni, (enum eni_spot_action)(how >> 3 & 3), 1700000000);
}

static inline void fuzz_vpc_fix_ipv4(uint8_t *frame, size_t len)
{
	struct ipv4_hdr *ip = (void *)(frame + ETH_HLEN);
	size_t ihl;

	if (len < ETH_HLEN + IPV4_HLEN)
		return;
	ihl = (size_t)(ip->ver_ihl & 0xf) * 4;
	if (ihl < IPV4_HLEN || ihl > len - ETH_HLEN)
		return;
	ip->csum = 0;
	ip->csum = pkt_csum_fold(pkt_csum_add(0, ip, ihl));
}

/* @f[0..len) from a service to the guest: its L4 part, or NULL. */
static inline const uint8_t *fuzz_vpc_check_reply(const struct eni *eni, const uint8_t *f,
						  size_t len, uint8_t proto, size_t *l4_len)
{
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct pkt_ipv4 p;
	uint32_t sum;

	FUZZ_CHECK(pkt_ipv4_parse(f, len, &p) == 0);
	FUZZ_CHECK(!memcmp(p.eth->src, eni->router_mac, ETH_ALEN));
	FUZZ_CHECK(!memcmp(p.eth->dst, eni->mac, ETH_ALEN) ||
		   !memcmp(p.eth->dst, bcast, ETH_ALEN));
	FUZZ_CHECK(ntohs(p.ip->tot_len) == len - ETH_HLEN && p.ip->proto == proto);
	sum = pkt_csum_pseudo(p.ip->saddr, p.ip->daddr, proto, (uint16_t)p.l4_len);
	FUZZ_CHECK(pkt_csum_fold(pkt_csum_add(sum, p.l4, p.l4_len)) == 0);
	*l4_len = p.l4_len;
	return p.l4;
}

#endif /* CV_TESTS_FUZZ_VPC_ENV_H */
