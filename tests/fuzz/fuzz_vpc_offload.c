/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC card's transmit offloads (cards/vpc/offload.c): what the
 * virtio-net header in front of a frame the guest sends asks the card to
 * finish (virtio 1.2 §5.1.6.2).
 *
 * Input: a byte (bits 0-2: CSUM, HOST_TSO4, HOST_TSO6 negotiated; bit 3:
 * make the IPv4 total length or IPv6 payload length match the frame), the
 * 10-byte header as the driver wrote it (flags, gso_type, hdr_len,
 * gso_size, csum_start, csum_offset), then the frame: the rest of the
 * input, its own exact-size heap block.
 *
 * Invariants beyond "no crash":
 *  - 0 or -EINVAL; a refusal counts exactly one drop and sends nothing;
 *  - no offload asked: the frame goes out once, unchanged;
 *  - NEEDS_CSUM alone: once, all of it, only the checksum's two bytes
 *    changed;
 *  - GSO: as many frames as stats.segments, at most VPC_OFFLOAD_MAX_SEGS,
 *    each inside the buffer and at most the headers + gso_size; their
 *    payloads in order are the original payload, all of it; each has an
 *    IP length that is its own, a right IPv4 header checksum and a right
 *    TCP checksum.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "cards/vpc/offload.h"
#include "cards/vpc/pkt.h"
#include "tests/fuzz/fuzz.h"

struct seen {
	const uint8_t *buf, *orig;  /* the frame buffer; a copy of the input frame */
	size_t len;
	const struct virtio_net_hdr_v1 *hdr;
	unsigned n;
	size_t payload;             /* of the segments so far */
};

static void check_segment(struct seen *s, const uint8_t *f, size_t len)
{
	size_t l4 = s->hdr->csum_start, hlen;
	const struct tcp_hdr *th = (const void *)(f + l4);
	uint32_t pseudo;

	FUZZ_CHECK(len >= l4 + sizeof(*th));
	hlen = l4 + (size_t)(th->doff >> 4) * 4;
	FUZZ_CHECK(len > hlen && len - hlen <= s->hdr->gso_size);
	FUZZ_CHECK(!memcmp(f + hlen, s->orig + hlen + s->payload, len - hlen));
	s->payload += len - hlen;
	if (((const struct eth_hdr *)f)->type == htons(ETH_P_IPV4)) {
		const struct ipv4_hdr *ip = (const void *)(f + ETH_HLEN);

		FUZZ_CHECK(ntohs(ip->tot_len) == len - ETH_HLEN);
		FUZZ_CHECK(pkt_csum_fold(pkt_csum_add(0, ip, l4 - ETH_HLEN)) == 0);
		pseudo = pkt_csum_pseudo(ip->saddr, ip->daddr, IPPROTO_TCP_, (uint16_t)(len - l4));
	} else {
		const struct ipv6_hdr *ip6 = (const void *)(f + ETH_HLEN);

		FUZZ_CHECK(ntohs(ip6->payload_len) == len - l4);
		pseudo = pkt_csum_pseudo_addrs(ip6->saddr, ip6->daddr, 16, IPPROTO_TCP_,
					       (uint16_t)(len - l4));
	}
	FUZZ_CHECK(pkt_csum_fold(pkt_csum_add(pseudo, f + l4, len - l4)) == 0);
}

static void emit(void *opaque, const uint8_t *f, size_t len)
{
	struct seen *s = opaque;
	size_t field = (size_t)s->hdr->csum_start + s->hdr->csum_offset;

	FUZZ_CHECK(f >= s->buf && f + len <= s->buf + s->len);
	s->n++;
	if (s->hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		check_segment(s, f, len);
		return;
	}
	FUZZ_CHECK(s->n == 1 && len == s->len);
	if (!(s->hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		FUZZ_CHECK(!memcmp(f, s->orig, len));
		return;
	}
	FUZZ_CHECK(field + 2 <= len && !memcmp(f, s->orig, field) &&
		   !memcmp(f + field + 2, s->orig + field + 2, len - field - 2));
}

/* Bit 3: the IP length field the frame's own, so segmentation is reached. */
static void fix_ip_len(uint8_t *f, size_t len)
{
	uint16_t type = len >= ETH_HLEN ? ntohs(((struct eth_hdr *)f)->type) : 0;

	if (type == ETH_P_IPV4 && len >= ETH_HLEN + IPV4_HLEN)
		((struct ipv4_hdr *)(f + ETH_HLEN))->tot_len = htons((uint16_t)(len - ETH_HLEN));
	else if (type == ETH_P_IPV6 && len >= ETH_HLEN + IPV6_HLEN)
		((struct ipv6_hdr *)(f + ETH_HLEN))->payload_len =
			htons((uint16_t)(len - ETH_HLEN - IPV6_HLEN));
}

/* The payload a GSO frame that was taken carried: after its headers, to its IP end. */
static size_t gso_payload(const struct virtio_net_hdr_v1 *hdr, const uint8_t *f)
{
	const struct tcp_hdr *th = (const void *)(f + hdr->csum_start);
	size_t hlen = hdr->csum_start + (size_t)(th->doff >> 4) * 4, end;

	if (hdr->gso_type == VIRTIO_NET_HDR_GSO_TCPV4)
		end = ETH_HLEN + ntohs(((const struct ipv4_hdr *)(f + ETH_HLEN))->tot_len);
	else
		end = hdr->csum_start + ntohs(((const struct ipv6_hdr *)(f + ETH_HLEN))->payload_len);
	return end - hlen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t how = fuzz_u8(&in);
	struct virtio_net_hdr_v1 hdr = { 0 };
	struct seen s = { .hdr = &hdr };
	struct vpc_offload o = { .emit = emit, .opaque = &s, .name = "fuzz" };
	const uint8_t *bytes;
	uint8_t *frame, *orig;
	uint64_t drops = 0;
	int r;

	if (how & 1)
		o.features |= VIRTIO_BIT(VIRTIO_NET_F_CSUM);
	if (how & 2)
		o.features |= VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4);
	if (how & 4)
		o.features |= VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6);
	fuzz_bytes(&in, &hdr, offsetof(struct virtio_net_hdr_v1, num_buffers));
	bytes = fuzz_take(&in, in.n, &s.len);
	frame = malloc(s.len ? s.len : 1);
	orig = malloc(s.len ? s.len : 1);
	FUZZ_CHECK(frame && orig);
	memcpy(frame, bytes, s.len);
	if (how & 8)
		fix_ip_len(frame, s.len);
	memcpy(orig, frame, s.len);
	s.buf = frame;
	s.orig = orig;

	r = vpc_offload_tx(&o, &hdr, frame, s.len);
	for (int i = 0; i < VPC_DROP__COUNT; i++)
		drops += o.stats.drops[i];
	if (r) {
		FUZZ_CHECK(r == -EINVAL && drops == 1 && s.n == 0);
	} else {
		FUZZ_CHECK(drops == 0 && s.n >= 1);
		if (hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			FUZZ_CHECK(s.n == o.stats.segments && s.n <= VPC_OFFLOAD_MAX_SEGS);
			FUZZ_CHECK(s.payload == gso_payload(&hdr, orig));
		}
	}
	free(frame);
	free(orig);
	return 0;
}
