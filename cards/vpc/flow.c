/* SPDX-License-Identifier: Apache-2.0 */
/* Frame -> checked flow key; the fragment policy is described in flow.h. */
#include "cards/vpc/flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "cards/vpc/pkt.h"

#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAM_PROBLEM 12
/* RFC 792: an ICMP error quotes the IP header and 64 bits of the datagram. */
#define ICMP_QUOTE_L4 8

static int drop(enum vpc_drop *reason, enum vpc_drop why)
{
	*reason = why;
	return -EINVAL;
}

/*
 * The IPv4 header at @p with @avail bytes behind it.  A quoted header inside
 * an ICMP error (@quoted) describes a datagram of which only the first bytes
 * are present, so its tot_len and checksum cannot be checked against them.
 * Sets the addresses and protocol in @k, the header length and the L4 bytes
 * present.
 */
static int parse_ipv4(const uint8_t *p, size_t avail, bool quoted,
		      struct vpc_flow_key *k, size_t *hlen, size_t *l4_len,
		      uint16_t *frag_off, enum vpc_drop *reason)
{
	const struct ipv4_hdr *ip = (const void *)p;
	size_t ihl, tot;

	if (avail < sizeof(*ip))
		return drop(reason, VPC_DROP_IP_TRUNC);
	if (ip->ver_ihl >> 4 != 4)
		return drop(reason, VPC_DROP_IP_VERSION);
	ihl = (size_t)(ip->ver_ihl & 0xf) * 4;
	tot = ntohs(ip->tot_len);
	/* RFC 791 §3.1: IHL >= 5 dwords, and the header is part of tot_len. */
	if (ihl < sizeof(*ip) || ihl > tot)
		return drop(reason, VPC_DROP_IP_IHL);
	if (quoted) {
		if (ihl > avail)
			return drop(reason, VPC_DROP_IP_TRUNC);
		tot = avail;
	} else {
		/* Ethernet pads short frames, so the frame may be longer. */
		if (tot > avail)
			return drop(reason, VPC_DROP_IP_LEN);
		if (pkt_csum_fold(pkt_csum_add(0, p, ihl)) != 0)
			return drop(reason, VPC_DROP_IP_CSUM);
	}
	k->saddr = ip->saddr;
	k->daddr = ip->daddr;
	k->proto = ip->proto;
	*hlen = ihl;
	*l4_len = tot - ihl;
	*frag_off = ntohs(ip->frag_off);
	return 0;
}

static bool icmp_is_error(uint8_t type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAM_PROBLEM;
}

static bool icmp_is_echo(uint8_t type)
{
	return type == ICMP_ECHO_REQUEST || type == ICMP_ECHO_REPLY;
}

/* The key of the datagram an ICMP error quotes: header plus 8 bytes. */
static int parse_quote(const uint8_t *p, size_t avail, struct vpc_flow_key *k,
		       enum vpc_drop *reason)
{
	size_t hlen, l4_len;
	uint16_t frag_off;
	int ret;

	ret = parse_ipv4(p, avail, true, k, &hlen, &l4_len, &frag_off, reason);
	if (ret)
		return ret;
	if (frag_off & IPV4_FRAG_OFF_MASK)
		return 0;       /* quoted a later fragment: no ports to match */
	if (l4_len < ICMP_QUOTE_L4)
		return drop(reason, VPC_DROP_L4_TRUNC);
	p += hlen;
	if (k->proto == IPPROTO_TCP_ || k->proto == IPPROTO_UDP_) {
		k->sport = (uint16_t)(p[0] << 8 | p[1]);
		k->dport = (uint16_t)(p[2] << 8 | p[3]);
	} else if (k->proto == IPPROTO_ICMP_ && icmp_is_echo(p[0])) {
		k->sport = k->dport = ntohs(((const struct icmp_hdr *)p)->id);
	}
	return 0;
}

static int parse_l4(const uint8_t *l4, struct vpc_flow *fl,
		    enum vpc_drop *reason)
{
	size_t len = fl->l4_len;

	switch (fl->key.proto) {
	case IPPROTO_TCP_: {
		const struct tcp_hdr *th = (const void *)l4;
		size_t doff;

		if (len < sizeof(*th))
			return drop(reason, VPC_DROP_L4_TRUNC);
		/* RFC 9293 §3.1: data offset counts dwords, header >= 5. */
		doff = (size_t)(th->doff >> 4) * 4;
		if (doff < sizeof(*th) || doff > len)
			return drop(reason, VPC_DROP_TCP_DOFF);
		fl->key.sport = ntohs(th->sport);
		fl->key.dport = ntohs(th->dport);
		fl->tcp_flags = th->flags;
		return 0;
	}
	case IPPROTO_UDP_: {
		const struct udp_hdr *uh = (const void *)l4;
		size_t ulen;

		if (len < sizeof(*uh))
			return drop(reason, VPC_DROP_L4_TRUNC);
		/*
		 * RFC 768: length covers header and data.  A first fragment
		 * holds only part of the datagram the length describes.
		 */
		ulen = ntohs(uh->len);
		if (ulen < sizeof(*uh) || (!fl->fragment && ulen > len))
			return drop(reason, VPC_DROP_UDP_LEN);
		fl->key.sport = ntohs(uh->sport);
		fl->key.dport = ntohs(uh->dport);
		return 0;
	}
	case IPPROTO_ICMP_: {
		const struct icmp_hdr *ih = (const void *)l4;

		if (len < sizeof(*ih))
			return drop(reason, VPC_DROP_L4_TRUNC);
		fl->icmp_type = ih->type;
		fl->icmp_code = ih->code;
		if (icmp_is_echo(ih->type))
			fl->key.sport = fl->key.dport = ntohs(ih->id);
		if (icmp_is_error(ih->type)) {
			fl->has_inner = true;
			return parse_quote(l4 + sizeof(*ih), len - sizeof(*ih),
					   &fl->inner, reason);
		}
		return 0;
	}
	default:
		return 0;       /* no ports: only protocol-wide rules match */
	}
}

static int parse_arp(const uint8_t *p, size_t avail, enum vpc_drop *reason)
{
	const struct arp_hdr *arp = (const void *)p;

	/* RFC 826 for IPv4 over Ethernet (RFC 5227 keeps the layout). */
	if (avail < sizeof(*arp) || ntohs(arp->htype) != ARP_HTYPE_ETHER ||
	    ntohs(arp->ptype) != ETH_P_IPV4 || arp->hlen != ETH_ALEN ||
	    arp->plen != 4 ||
	    (ntohs(arp->op) != ARP_OP_REQUEST && ntohs(arp->op) != ARP_OP_REPLY))
		return drop(reason, VPC_DROP_ARP_MALFORMED);
	return 0;
}

int vpc_flow_parse(const uint8_t *frame, size_t len, struct vpc_flow *fl,
		   enum vpc_drop *reason)
{
	const struct eth_hdr *eth = (const void *)frame;
	size_t hlen, l4_len;
	uint16_t frag_off;
	int ret;

	memset(fl, 0, sizeof(*fl));
	*reason = VPC_DROP_NONE;
	if (len < ETH_HLEN)
		return drop(reason, VPC_DROP_RUNT);
	fl->ethertype = ntohs(eth->type);
	if (fl->ethertype == ETH_P_ARP)
		return parse_arp(frame + ETH_HLEN, len - ETH_HLEN, reason);
	/* 802.1Q tags are not ours to carry: an ENI is one untagged port. */
	if (fl->ethertype != ETH_P_IPV4)
		return drop(reason, VPC_DROP_ETHERTYPE);

	ret = parse_ipv4(frame + ETH_HLEN, len - ETH_HLEN, false, &fl->key,
			 &hlen, &l4_len, &frag_off, reason);
	if (ret)
		return ret;
	if (frag_off & IPV4_FRAG_OFF_MASK)
		return drop(reason, VPC_DROP_FRAG);
	fl->fragment = frag_off & IPV4_FLAG_MF;
	fl->l4_off = (uint16_t)(ETH_HLEN + hlen);
	fl->l4_len = (uint16_t)l4_len;
	return parse_l4(frame + fl->l4_off, fl, reason);
}

struct vpc_flow_key vpc_flow_key_reverse(const struct vpc_flow_key *k)
{
	return (struct vpc_flow_key){
		.saddr = k->daddr, .daddr = k->saddr,
		.sport = k->dport, .dport = k->sport, .proto = k->proto,
	};
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0]; v[0] = ROTL(v[0], 32);
	v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2]; v[2] = ROTL(v[2], 32);
}

/* SipHash-2-4 of exactly 16 bytes: two message words, then the length word. */
uint64_t vpc_flow_hash(const struct vpc_flow_key *k,
		       const struct vpc_hash_secret *secret)
{
	uint64_t m[3], v[4] = {
		secret->k0 ^ 0x736f6d6570736575ULL,
		secret->k1 ^ 0x646f72616e646f6dULL,
		secret->k0 ^ 0x6c7967656e657261ULL,
		secret->k1 ^ 0x7465646279746573ULL,
	};

	_Static_assert(sizeof(*k) == 16, "flow key hashes as two words");
	memcpy(m, k, 16);
	m[2] = (uint64_t)16 << 56;
	for (int i = 0; i < 3; i++) {
		v[3] ^= m[i];
		sip_round(v);
		sip_round(v);
		v[0] ^= m[i];
	}
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}
