/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the VPC service tests share: one ENI like an EC2 instance's in a
 * 10.0.0.0/16 VPC, a guest frame writer that lays out Ethernet and IPv4
 * (RFC 791 §3.1) by hand, and the RFC 1071 checks of a reply's checksums.
 * Include after <cmocka.h>.
 */
#ifndef CV_TEST_VPC_ENI_H
#define CV_TEST_VPC_ENI_H

#include <string.h>

#include "cards/vpc/eni.h"

#define GUEST_MAC 0x0e, 0x12, 0x34, 0x56, 0x78, 0x9a
#define ROUTER_MAC 0x0e, 0xfe, 0xed, 0xfa, 0xce, 0x01
#define IP4(a, b, c, d) htonl((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static inline void test_eni(struct eni *eni)
{
	*eni = (struct eni){
		.id = "eni-0a1b2c3d4e5f60718",
		.mac = { GUEST_MAC },
		.router_mac = { ROUTER_MAC },
		.ipv4 = IP4(10, 0, 1, 23),
		.subnet = IP4(10, 0, 1, 0),
		.prefix_len = 24,
		.gateway = IP4(10, 0, 1, 1),
		.dns = IP4(10, 0, 0, 2),
		.mtu = ENI_MTU_DEFAULT,
		.instance_id = "i-0123456789abcdef0",
		.instance_type = "cv.small",
		.hostname = "ip-10-0-1-23",
		.domain = "ec2.internal",
	};
}

/*
 * A guest frame: Ethernet II, a 20-byte IPv4 header (TTL 64, id 0, DF
 * clear) with its checksum, then @l4.  Returns the frame length.
 */
static inline size_t guest_ipv4_frame(uint8_t *f, const uint8_t *dst_mac,
				      uint32_t saddr, uint32_t daddr,
				      uint8_t proto, const void *l4, size_t len)
{
	static const uint8_t src_mac[ETH_ALEN] = { GUEST_MAC };
	size_t tot = 20 + len;
	uint16_t csum;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	f[12] = 0x08, f[13] = 0x00;
	uint8_t *ip = f + 14;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &saddr, 4);
	memcpy(ip + 16, &daddr, 4);
	csum = pkt_csum_fold(pkt_csum_add(0, ip, 20));
	memcpy(ip + 10, &csum, 2);
	memcpy(ip + 20, l4, len);
	return 14 + tot;
}

/*
 * A reply from the card: an IPv4 header whose checksum sums to zero and
 * an L4 payload whose checksum, pseudo-header included, does too (RFC
 * 1071 §1: a correct sum verifies to 0).  Returns the L4 length.
 */
static inline size_t check_ipv4_reply(const uint8_t *f, size_t len,
				       uint8_t proto)
{
	const struct ipv4_hdr *ip = (const void *)(f + ETH_HLEN);
	size_t l4;

	assert_true(len >= ETH_HLEN + 20);
	assert_int_equal(f[12] << 8 | f[13], ETH_P_IPV4);
	assert_int_equal(ip->ver_ihl, 0x45);
	assert_int_equal(ntohs(ip->tot_len), len - ETH_HLEN);
	assert_int_equal(ip->proto, proto);
	assert_int_equal(pkt_csum_fold(pkt_csum_add(0, ip, 20)), 0);
	l4 = len - ETH_HLEN - 20;
	assert_int_equal(pkt_csum_fold(pkt_csum_add(
				 pkt_csum_pseudo(ip->saddr, ip->daddr, proto,
						 (uint16_t)l4),
				 f + ETH_HLEN + 20, l4)),
			 0);
	return l4;
}

#endif /* CV_TEST_VPC_ENI_H */
