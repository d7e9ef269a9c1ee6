// SPDX-License-Identifier: Apache-2.0
#include "cards/vpc/pkt.h"

#include <errno.h>
#include <string.h>

int pkt_ipv4_parse(const uint8_t *frame, size_t len, struct pkt_ipv4 *p)
{
	const struct ipv4_hdr *ip = (const void *)(frame + ETH_HLEN);
	size_t ihl, tot;

	if (len < ETH_HLEN)
		return -EINVAL;
	p->eth = (const void *)frame;
	if (p->eth->type != htons(ETH_P_IPV4))
		return 1;
	if (len < ETH_HLEN + IPV4_HLEN || ip->ver_ihl >> 4 != 4)
		return -EINVAL;
	ihl = (size_t)(ip->ver_ihl & 0xf) * 4;
	tot = ntohs(ip->tot_len);
	if (ihl < IPV4_HLEN || tot < ihl || tot > len - ETH_HLEN)
		return -EINVAL;
	if (pkt_csum_fold(pkt_csum_add(0, ip, ihl)) != 0)
		return -EINVAL;
	if (ntohs(ip->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK))
		return -EINVAL;
	p->ip = ip;
	p->l4 = (const uint8_t *)ip + ihl;
	p->l4_len = tot - ihl;
	return 0;
}

size_t pkt_ipv4_build(uint8_t *frame, const uint8_t *dst_mac, const uint8_t *src_mac,
		      uint32_t saddr, uint32_t daddr, uint8_t proto, uint8_t ttl,
		      size_t l4_len)
{
	struct eth_hdr *eth = (void *)frame;
	struct ipv4_hdr *ip = (void *)(frame + ETH_HLEN);

	memcpy(eth->dst, dst_mac, ETH_ALEN);
	memcpy(eth->src, src_mac, ETH_ALEN);
	eth->type = htons(ETH_P_IPV4);
	*ip = (struct ipv4_hdr){
		.ver_ihl = 4 << 4 | IPV4_HLEN / 4,
		.tot_len = htons((uint16_t)(IPV4_HLEN + l4_len)),
		.frag_off = htons(IPV4_FLAG_DF),
		.ttl = ttl,
		.proto = proto,
		.saddr = saddr,
		.daddr = daddr,
	};
	ip->csum = pkt_csum_fold(pkt_csum_add(0, ip, IPV4_HLEN));
	return ETH_HLEN + IPV4_HLEN + l4_len;
}

uint16_t pkt_l4_csum(uint32_t saddr, uint32_t daddr, uint8_t proto, const void *l4,
		     size_t len)
{
	uint32_t sum = pkt_csum_pseudo(saddr, daddr, proto, (uint16_t)len);

	return pkt_csum_fold(pkt_csum_add(sum, l4, len));
}

