/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire layouts of the headers the VPC card reads and writes: Ethernet
 * (IEEE 802.3), ARP (RFC 826), IPv4 (RFC 791), IPv6 (RFC 8200), ICMP
 * (RFC 792), UDP (RFC 768), TCP (RFC 9293).  Fields are in network byte order, as on the
 * wire; every struct is packed so it can be laid over a frame buffer once
 * the caller has checked the frame is long enough.
 */
#ifndef CV_VPC_PKT_H
#define CV_VPC_PKT_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_P_IPV4 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86DD        /* spelled as <linux/if_ether.h> does */
#define ETH_P_VLAN 0x8100

struct eth_hdr {
	uint8_t dst[ETH_ALEN];
	uint8_t src[ETH_ALEN];
	uint16_t type;
} __attribute__((packed));

#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

/* ARP for IPv4 over Ethernet, the only kind a VPC carries. */
struct arp_hdr {
	uint16_t htype;
	uint16_t ptype;
	uint8_t hlen;
	uint8_t plen;
	uint16_t op;
	uint8_t sha[ETH_ALEN];
	uint32_t spa;
	uint8_t tha[ETH_ALEN];
	uint32_t tpa;
} __attribute__((packed));

#define IPPROTO_ICMP_ 1
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFF_MASK 0x1fff

struct ipv4_hdr {
	uint8_t ver_ihl;          /* version 4 << 4 | header length in dwords */
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag_off;        /* flags << 13 | offset in 8-byte units */
	uint8_t ttl;
	uint8_t proto;
	uint16_t csum;
	uint32_t saddr;
	uint32_t daddr;
} __attribute__((packed));

/* RFC 8200 §3: the fixed header; extension headers follow it. */
struct ipv6_hdr {
	uint32_t ver_tc_flow;     /* version 6 << 28 | traffic class | flow label */
	uint16_t payload_len;     /* what follows this header */
	uint8_t next_hdr;
	uint8_t hop_limit;
	uint8_t saddr[16];
	uint8_t daddr[16];
} __attribute__((packed));

#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO_REQUEST 8

struct icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t csum;
	uint16_t id;              /* echo request/reply only */
	uint16_t seq;
} __attribute__((packed));

struct udp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint16_t len;
	uint16_t csum;
} __attribute__((packed));

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40              /* RFC 3168 §6.1 */
#define TCP_CWR 0x80

struct tcp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t doff;             /* data offset in dwords << 4 */
	uint8_t flags;
	uint16_t window;
	uint16_t csum;
	uint16_t urg;
} __attribute__((packed));

/*
 * RFC 1071 Internet checksum: pkt_csum_add() accumulates 16-bit words
 * (odd lengths padded with a zero byte), pkt_csum_fold() folds and
 * complements.  Sums are in network byte order, like the headers.
 */
static inline uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] | p[1] << 8);
	if (len)
		sum += p[0];
	return sum;
}

static inline uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * The pseudo-header sum UDP and TCP checksums start from: source and
 * destination addresses of @alen bytes (4: RFC 9293 §3.1; 16: RFC 8200
 * §8.1, whose 32-bit length and 24 zero bits sum as IPv4's 16-bit ones do
 * for a length below 64 KiB), the protocol and the L4 length.
 */
static inline uint32_t pkt_csum_pseudo_addrs(const void *saddr, const void *daddr,
					     size_t alen, uint8_t proto, uint16_t l4_len)
{
	uint32_t sum = 0;

	sum = pkt_csum_add(sum, saddr, alen);
	sum = pkt_csum_add(sum, daddr, alen);
	sum += (uint32_t)proto << 8;  /* zero byte, then proto, as a LE word */
	sum += (uint32_t)(l4_len >> 8 | (l4_len & 0xff) << 8);
	return sum;
}

/* The IPv4 pseudo-header sum. */
static inline uint32_t pkt_csum_pseudo(uint32_t saddr, uint32_t daddr,
				       uint8_t proto, uint16_t l4_len)
{
	return pkt_csum_pseudo_addrs(&saddr, &daddr, 4, proto, l4_len);
}

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPV4_HLEN 20              /* a header without options */
#define IPV6_HLEN 40              /* the fixed header */

/*
 * An untagged Ethernet frame's IPv4 packet, checked by pkt_ipv4_parse():
 * version 4, header length and total length inside the frame (RFC 791
 * §3.1; Ethernet padding after tot_len is ignored), a correct header
 * checksum, and not a fragment (the card's services never reassemble).
 */
struct pkt_ipv4 {
	const struct eth_hdr *eth;
	const struct ipv4_hdr *ip;
	const uint8_t *l4;
	size_t l4_len;
};

/* 0 and @p filled; 1 if the frame is not IPv4; -EINVAL if malformed. */
int pkt_ipv4_parse(const uint8_t *frame, size_t len, struct pkt_ipv4 *p);

/*
 * Writes the Ethernet and option-less IPv4 headers in front of the
 * @l4_len bytes already at frame + ETH_HLEN + IPV4_HLEN; returns the frame
 * length.  The L4 checksum is the caller's (pkt_l4_csum()).
 */
size_t pkt_ipv4_build(uint8_t *frame, const uint8_t *dst_mac, const uint8_t *src_mac,
		      uint32_t saddr, uint32_t daddr, uint8_t proto, uint8_t ttl,
		      size_t l4_len);

/* The UDP or TCP checksum of @l4 (its checksum field zero) over IPv4. */
uint16_t pkt_l4_csum(uint32_t saddr, uint32_t daddr, uint8_t proto, const void *l4,
		     size_t len);

#endif /* CV_VPC_PKT_H */
