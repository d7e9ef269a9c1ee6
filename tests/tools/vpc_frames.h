/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds well-formed Ethernet frames (ARP, IPv4 with TCP, UDP or ICMP) with
 * correct RFC 1071 checksums, for the VPC unit tests and the VXLAN peer,
 * and TCP frames as a virtio-net driver leaves them for the device's
 * checksum and segmentation offloads.
 * Addresses are given in host byte order (VF_IP(10,0,0,1)); buffers must
 * hold VF_FRAME_MAX bytes.
 */
#ifndef CV_TESTS_VPC_FRAMES_H
#define CV_TESTS_VPC_FRAMES_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cards/vpc/pkt.h"
#include "guest-abi/virtio.h"

#define VF_FRAME_MAX 1600
#define VF_IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static const uint8_t vf_mac_a[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t vf_mac_b[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x0b };

static inline size_t vf_eth(uint8_t *b, const uint8_t *dst, const uint8_t *src,
			    uint16_t type)
{
	struct eth_hdr *eth = (void *)b;

	memcpy(eth->dst, dst, ETH_ALEN);
	memcpy(eth->src, src, ETH_ALEN);
	eth->type = htons(type);
	return ETH_HLEN;
}

/*
 * Ethernet + IPv4 + @l4 (its checksum field zero): fills in the IPv4
 * header checksum and the TCP/UDP (pseudo-header) or ICMP checksum.
 */
static inline size_t vf_ipv4(uint8_t *b, uint32_t saddr, uint32_t daddr,
			     uint8_t proto, const void *l4, size_t l4_len)
{
	struct ipv4_hdr *ip = (void *)(b + ETH_HLEN);
	uint8_t *p = (uint8_t *)(ip + 1);
	size_t csum_off = proto == 6 ? 16 : proto == 17 ? 6 : 2;
	uint32_t sum = 0;
	uint16_t c;

	vf_eth(b, vf_mac_b, vf_mac_a, ETH_P_IPV4);
	*ip = (struct ipv4_hdr){
		.ver_ihl = 0x45, .tot_len = htons((uint16_t)(20 + l4_len)),
		.id = htons(1), .ttl = 64, .proto = proto,
		.saddr = htonl(saddr), .daddr = htonl(daddr),
	};
	ip->csum = pkt_csum_fold(pkt_csum_add(0, ip, sizeof(*ip)));
	memcpy(p, l4, l4_len);
	if (proto == 6 || proto == 17)
		sum = pkt_csum_pseudo(ip->saddr, ip->daddr, proto,
				      (uint16_t)l4_len);
	if (l4_len >= csum_off + 2) {
		c = pkt_csum_fold(pkt_csum_add(sum, p, l4_len));
		memcpy(p + csum_off, &c, 2);
	}
	return ETH_HLEN + 20 + l4_len;
}

static inline size_t vf_tcp(uint8_t *b, uint32_t saddr, uint16_t sport,
			    uint32_t daddr, uint16_t dport, uint8_t flags)
{
	struct tcp_hdr th = {
		.sport = htons(sport), .dport = htons(dport),
		.seq = htonl(1000), .ack = htonl(flags & TCP_ACK ? 2000 : 0),
		.doff = 5 << 4, .flags = flags, .window = htons(65535),
	};

	return vf_ipv4(b, saddr, daddr, 6, &th, sizeof(th));
}

static inline size_t vf_udp(uint8_t *b, uint32_t saddr, uint16_t sport,
			    uint32_t daddr, uint16_t dport, size_t payload)
{
	uint8_t l4[VF_FRAME_MAX - ETH_HLEN - 20] = { 0 };
	struct udp_hdr *uh = (void *)l4;

	uh->sport = htons(sport);
	uh->dport = htons(dport);
	uh->len = htons((uint16_t)(sizeof(*uh) + payload));
	for (size_t i = 0; i < payload; i++)
		l4[sizeof(*uh) + i] = (uint8_t)i;
	return vf_ipv4(b, saddr, daddr, 17, l4, sizeof(*uh) + payload);
}

static inline size_t vf_icmp_echo(uint8_t *b, uint32_t saddr, uint32_t daddr,
				  uint8_t type, uint16_t id, uint16_t seq,
				  size_t payload)
{
	uint8_t l4[VF_FRAME_MAX - ETH_HLEN - 20] = { 0 };
	struct icmp_hdr *ih = (void *)l4;

	ih->type = type;
	ih->id = htons(id);
	ih->seq = htons(seq);
	for (size_t i = 0; i < payload; i++)
		l4[sizeof(*ih) + i] = (uint8_t)('a' + i % 26);
	return vf_ipv4(b, saddr, daddr, 1, l4, sizeof(*ih) + payload);
}

/* ICMP @type/@code quoting the first 28 bytes of the IPv4 packet in @orig. */
static inline size_t vf_icmp_error(uint8_t *b, uint32_t saddr, uint32_t daddr,
				   uint8_t type, uint8_t code,
				   const uint8_t *orig)
{
	uint8_t l4[8 + 28] = { type, code };

	memcpy(l4 + 8, orig + ETH_HLEN, 28);
	return vf_ipv4(b, saddr, daddr, 1, l4, sizeof(l4));
}

static inline size_t vf_arp(uint8_t *b, uint16_t op, const uint8_t *sha,
			    uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct arp_hdr *arp = (void *)(b + ETH_HLEN);

	vf_eth(b, op == ARP_OP_REQUEST ? bcast : tha, sha, ETH_P_ARP);
	*arp = (struct arp_hdr){
		.htype = htons(ARP_HTYPE_ETHER), .ptype = htons(ETH_P_IPV4),
		.hlen = ETH_ALEN, .plen = 4, .op = htons(op),
		.spa = htonl(spa), .tpa = htonl(tpa),
	};
	memcpy(arp->sha, sha, ETH_ALEN);
	memcpy(arp->tha, tha, ETH_ALEN);
	return ETH_HLEN + sizeof(*arp);
}

/* Largest frame vf_tcp_gso() builds: a virtio-net TX frame's limit. */
#define VF_GSO_MAX 65535
#define VF_GSO_SEQ 0xfffff000u    /* wraps within a 64 KiB frame */
#define VF_GSO_ID 0xfff0          /* likewise */

/* vf_tcp_gso()'s payload byte at @i: no two neighbours alike. */
static inline uint8_t vf_gso_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 8));
}

/*
 * A TCP segment as a driver that negotiated CSUM and HOST_TSO4/6 hands it
 * to the device (virtio 1.2 §5.1.6.2): Ethernet, IPv4 (ID VF_GSO_ID, DF)
 * or IPv6 (2001:db8::1 to 2001:db8::2), TCP 40000 -> 80 with @flags,
 * sequence number VF_GSO_SEQ and @payload bytes of vf_gso_byte(); the IP
 * length covers all of it and the TCP checksum field holds the folded
 * pseudo-header sum, as Linux leaves it.  @hdr gets NEEDS_CSUM at the TCP
 * checksum and, with @mss, gso_type TCPV4/TCPV6 and gso_size @mss.  @b
 * holds VF_GSO_MAX bytes.
 */
static inline size_t vf_tcp_gso(uint8_t *b, bool v6, uint8_t flags, size_t payload,
				uint16_t mss, struct virtio_net_hdr_v1 *hdr)
{
	size_t l4 = ETH_HLEN + (v6 ? IPV6_HLEN : IPV4_HLEN);
	uint16_t l4_len = (uint16_t)(sizeof(struct tcp_hdr) + payload);
	struct tcp_hdr *th = (void *)(b + l4);
	uint32_t pseudo;

	vf_eth(b, vf_mac_b, vf_mac_a, v6 ? ETH_P_IPV6 : ETH_P_IPV4);
	if (v6) {
		struct ipv6_hdr *ip6 = (void *)(b + ETH_HLEN);
		static const uint8_t src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
		static const uint8_t dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

		*ip6 = (struct ipv6_hdr){ .ver_tc_flow = htonl(6u << 28), .payload_len = htons(l4_len),
					  .next_hdr = IPPROTO_TCP_, .hop_limit = 64 };
		memcpy(ip6->saddr, src, 16);
		memcpy(ip6->daddr, dst, 16);
		pseudo = pkt_csum_pseudo_addrs(src, dst, 16, IPPROTO_TCP_, l4_len);
	} else {
		struct ipv4_hdr *ip = (void *)(b + ETH_HLEN);

		*ip = (struct ipv4_hdr){
			.ver_ihl = 0x45, .tot_len = htons((uint16_t)(IPV4_HLEN + l4_len)),
			.id = htons(VF_GSO_ID), .frag_off = htons(IPV4_FLAG_DF), .ttl = 64,
			.proto = IPPROTO_TCP_, .saddr = htonl(VF_IP(10, 0, 0, 1)),
			.daddr = htonl(VF_IP(10, 0, 0, 2)),
		};
		ip->csum = pkt_csum_fold(pkt_csum_add(0, ip, IPV4_HLEN));
		pseudo = pkt_csum_pseudo(ip->saddr, ip->daddr, IPPROTO_TCP_, l4_len);
	}
	*th = (struct tcp_hdr){
		.sport = htons(40000), .dport = htons(80), .seq = htonl(VF_GSO_SEQ),
		.ack = htonl(1), .doff = 5 << 4, .flags = flags, .window = htons(512),
		.csum = (uint16_t)~pkt_csum_fold(pseudo),
	};
	for (size_t i = 0; i < payload; i++)
		b[l4 + sizeof(*th) + i] = vf_gso_byte(i);
	*hdr = (struct virtio_net_hdr_v1){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = !mss ? VIRTIO_NET_HDR_GSO_NONE :
			    v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = (uint16_t)(l4 + sizeof(*th)),
		.gso_size = mss,
		.csum_start = (uint16_t)l4,
		.csum_offset = offsetof(struct tcp_hdr, csum),
	};
	return l4 + l4_len;
}

#endif /* CV_TESTS_VPC_FRAMES_H */
