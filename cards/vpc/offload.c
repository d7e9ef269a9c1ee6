// SPDX-License-Identifier: Apache-2.0
/* TX checksum and TCP segmentation offload; what and why in offload.h. */
#include "cards/vpc/offload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "cards/vpc/pkt.h"
#include "tools/lib/log.h"

/* Ethernet, IPv4 with the most options (RFC 791: IHL 15), TCP with the most (doff 15). */
#define GSO_HDR_MAX (ETH_HLEN + 60 + 60)

static bool negotiated(const struct vpc_offload *o, unsigned bit)
{
	return o->features & VIRTIO_BIT(bit);
}

static int refuse(struct vpc_offload *o, const struct virtio_net_hdr_v1 *hdr,
		  enum vpc_drop why)
{
	o->stats.drops[why]++;
	cv_err_once("vnet %s: TX frame dropped, %s: flags %#x gso_type %#x gso_size %u "
		    "hdr_len %u csum_start %u csum_offset %u", o->name, vpc_drop_name(why),
		    hdr->flags, hdr->gso_type, hdr->gso_size, hdr->hdr_len, hdr->csum_start,
		    hdr->csum_offset);
	return -EINVAL;
}

/*
 * Stores at @field the ones' complement checksum of [@start, @end) on top
 * of @sum.  The sum gives +0 where -0 (0xffff) means the same (RFC 1624
 * §3), and +0 it stays (TCP's receivers, and tshark, expect it), except
 * in a UDP checksum, 6 bytes into its header: 0 there means "none", so a
 * computed 0 goes out as 0xffff (RFC 768; RFC 3828 §3.1 for UDP-Lite).
 */
static void csum_store(uint8_t *frame, size_t start, size_t end, size_t field, uint32_t sum)
{
	uint16_t c = pkt_csum_fold(pkt_csum_add(sum, frame + start, end - start));

	if (!c && field - start == offsetof(struct udp_hdr, csum))
		c = 0xffff;
	memcpy(frame + field, &c, sizeof(c));
}

/*
 * §5.1.6.2 with NEEDS_CSUM and no GSO: the driver left the pseudo-header
 * sum in the field, so summing from csum_start to the end of the packet
 * over it gives the checksum, whatever the protocol.
 */
static int csum_tx(struct vpc_offload *o, const struct virtio_net_hdr_v1 *hdr,
		   uint8_t *frame, size_t len)
{
	size_t start = hdr->csum_start, field = start + hdr->csum_offset;

	if (field + sizeof(uint16_t) > len)
		return refuse(o, hdr, VPC_DROP_CSUM_RANGE);
	csum_store(frame, start, len, field, 0);
	o->stats.csum++;
	o->emit(o->opaque, frame, len);
	return 0;
}

/* Where the headers of a GSO frame end and what they say (tso_parse()). */
struct tso_frame {
	bool v6;
	size_t l4;        /* offset of the TCP header */
	size_t hlen;      /* of every header: copied into each segment */
	size_t end;       /* of the IP packet (Ethernet padding excluded) */
	size_t nsegs;
};

/*
 * A GSO frame must be what its gso_type says: an untagged Ethernet frame
 * of IPv4 (not a fragment) or IPv6 (no extension header: TCP next, as
 * Linux sends it), then TCP (data offset inside the packet) with payload;
 * csum_start and csum_offset at the TCP checksum (§5.1.6.2: GSO needs
 * NEEDS_CSUM); and gso_size cutting it into at most VPC_OFFLOAD_MAX_SEGS.
 */
static enum vpc_drop tso_parse(const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame,
			       size_t len, struct tso_frame *t)
{
	const struct eth_hdr *eth = (const void *)frame;
	const struct tcp_hdr *th;
	size_t doff, payload;

	t->v6 = hdr->gso_type == VIRTIO_NET_HDR_GSO_TCPV6;
	if (!(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || len < ETH_HLEN ||
	    eth->type != htons(t->v6 ? ETH_P_IPV6 : ETH_P_IPV4))
		return VPC_DROP_GSO_HEADERS;
	if (t->v6) {
		const struct ipv6_hdr *ip6 = (const void *)(frame + ETH_HLEN);

		if (len < ETH_HLEN + IPV6_HLEN || ntohl(ip6->ver_tc_flow) >> 28 != 6 ||
		    ip6->next_hdr != IPPROTO_TCP_)
			return VPC_DROP_GSO_HEADERS;
		t->l4 = ETH_HLEN + IPV6_HLEN;
		t->end = t->l4 + ntohs(ip6->payload_len);
	} else {
		const struct ipv4_hdr *ip = (const void *)(frame + ETH_HLEN);
		size_t ihl;

		if (len < ETH_HLEN + IPV4_HLEN)
			return VPC_DROP_GSO_HEADERS;
		ihl = (size_t)(ip->ver_ihl & 0xf) * 4;
		if (ip->ver_ihl >> 4 != 4 || ihl < IPV4_HLEN ||
		    ntohs(ip->tot_len) < ihl || ip->proto != IPPROTO_TCP_ ||
		    ntohs(ip->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK))
			return VPC_DROP_GSO_HEADERS;
		t->l4 = ETH_HLEN + ihl;
		t->end = ETH_HLEN + ntohs(ip->tot_len);
	}
	if (t->end > len || t->end < t->l4 + sizeof(*th))
		return VPC_DROP_GSO_HEADERS;
	if (hdr->csum_start != t->l4 || hdr->csum_offset != offsetof(struct tcp_hdr, csum))
		return VPC_DROP_CSUM_RANGE;
	th = (const void *)(frame + t->l4);
	doff = (size_t)(th->doff >> 4) * 4;
	if (doff < sizeof(*th) || t->l4 + doff >= t->end)
		return VPC_DROP_GSO_HEADERS;
	t->hlen = t->l4 + doff;
	payload = t->end - t->hlen;
	if (!hdr->gso_size)
		return VPC_DROP_GSO_SIZE;
	t->nsegs = (payload + hdr->gso_size - 1) / hdr->gso_size;
	return t->nsegs > VPC_OFFLOAD_MAX_SEGS ? VPC_DROP_GSO_SIZE : VPC_DROP_NONE;
}

/*
 * Cuts the TCP payload into gso_size pieces (the last may be shorter).
 * In place: segment i's payload already sits at hlen + i * gso_size, so
 * its copy of the headers goes at i * gso_size, over payload that earlier
 * segments have already carried out (the original headers are kept in
 * @tmpl first).  Per segment, as Linux's tcp_gso_segment() and
 * inet_gso_segment() make them: the sequence number advanced by the
 * payload before it (RFC 9293 §3.4); FIN and PSH only on the last and CWR
 * only on the first (RFC 3168 §6.1.2: CWR marks one packet); IPv4's total
 * length, identification (one more per segment, RFC 791 §3.1) and header
 * checksum, or IPv6's payload length; the TCP checksum with the
 * pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1).
 */
static int tso_tx(struct vpc_offload *o, const struct virtio_net_hdr_v1 *hdr,
		  uint8_t *frame, size_t len)
{
	struct tso_frame t;
	enum vpc_drop why = tso_parse(hdr, frame, len, &t);
	uint8_t tmpl[GSO_HDR_MAX];
	const struct ipv4_hdr *ip0 = (const void *)(tmpl + ETH_HLEN);
	const struct tcp_hdr *th0;
	size_t mss = hdr->gso_size, doff;

	if (why != VPC_DROP_NONE)
		return refuse(o, hdr, why);
	memcpy(tmpl, frame, t.hlen);
	th0 = (const void *)(tmpl + t.l4);
	doff = t.hlen - t.l4;
	for (size_t i = 0; i < t.nsegs; i++) {
		size_t off = i * mss, left = t.end - t.hlen - off, chunk = left < mss ? left : mss;
		uint16_t l4_len = (uint16_t)(doff + chunk);
		uint8_t *seg = frame + off;
		struct tcp_hdr *th = (void *)(seg + t.l4);
		uint32_t pseudo;

		memcpy(seg, tmpl, t.hlen);
		th->seq = htonl(ntohl(th0->seq) + (uint32_t)off);
		th->flags = th0->flags & (uint8_t)~(i + 1 < t.nsegs ? TCP_FIN | TCP_PSH : 0) &
			    (uint8_t)~(i ? TCP_CWR : 0);
		if (t.v6) {
			struct ipv6_hdr *ip6 = (void *)(seg + ETH_HLEN);

			ip6->payload_len = htons(l4_len);
			pseudo = pkt_csum_pseudo_addrs(ip6->saddr, ip6->daddr, 16, IPPROTO_TCP_,
						       l4_len);
		} else {
			struct ipv4_hdr *ip = (void *)(seg + ETH_HLEN);
			size_t ihl = t.l4 - ETH_HLEN;

			ip->tot_len = htons((uint16_t)(ihl + l4_len));
			ip->id = htons((uint16_t)(ntohs(ip0->id) + i));
			ip->csum = 0;
			ip->csum = pkt_csum_fold(pkt_csum_add(0, ip, ihl));
			pseudo = pkt_csum_pseudo(ip->saddr, ip->daddr, IPPROTO_TCP_, l4_len);
		}
		th->csum = 0;
		csum_store(seg, t.l4, t.hlen + chunk, t.l4 + offsetof(struct tcp_hdr, csum),
			   pseudo);
		o->stats.segments++;
		o->emit(o->opaque, seg, t.hlen + chunk);
	}
	o->stats.gso++;
	return 0;
}

int vpc_offload_tx(struct vpc_offload *o, const struct virtio_net_hdr_v1 *hdr,
		   uint8_t *frame, size_t len)
{
	unsigned tso_bit;

	/* §5.1.6.2: NEEDS_CSUM only with CSUM, GSO only with its HOST_ bit. */
	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM && !negotiated(o, VIRTIO_NET_F_CSUM))
		return refuse(o, hdr, VPC_DROP_OFFLOAD_UNNEGOTIATED);
	switch (hdr->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return csum_tx(o, hdr, frame, len);
		o->emit(o->opaque, frame, len);
		return 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		tso_bit = VIRTIO_NET_F_HOST_TSO4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		tso_bit = VIRTIO_NET_F_HOST_TSO6;
		break;
	default:
		/* UDP (UFO), UDP_L4 (USO), the ECN bit: never offered. */
		return refuse(o, hdr, VPC_DROP_GSO_TYPE);
	}
	if (!negotiated(o, tso_bit))
		return refuse(o, hdr, VPC_DROP_OFFLOAD_UNNEGOTIATED);
	return tso_tx(o, hdr, frame, len);
}
