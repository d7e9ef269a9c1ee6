/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC card's transmit offloads (cards/vpc/offload.c, virtio 1.2
 * §5.1.6.2): 64 KiB TCP frames over IPv4 and IPv6 cut into MSS-sized
 * segments whose every length, sequence number, flag, identification and
 * checksum is checked here, the checksums by an RFC 1071 sum written again
 * for this test; NEEDS_CSUM completed for TCP and UDP, a computed 0 sent
 * as UDP and TCP each want it; and every header
 * that asks for what was not negotiated, or does not describe its frame,
 * dropped and counted under its reason with nothing sent.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/offload.h"
#include "tests/tools/vpc_frames.h"

#define ALL_OFFLOADS (VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | \
		      VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6))
#define MSS4 1398 /* the card's MTU of 1450 less 20 + 20 + 12 (timestamps): any will do */
#define MSS6 1378
#define OUT_MAX (VPC_OFFLOAD_MAX_SEGS + 1)

/* Every frame emitted, one after the other in data. */
static struct {
	unsigned n;
	size_t off[OUT_MAX], len[OUT_MAX];
	uint8_t data[1 << 18];
} out;

static uint8_t frame[VF_GSO_MAX];

static void collect(void *opaque, const uint8_t *f, size_t len)
{
	size_t at = out.n ? out.off[out.n - 1] + out.len[out.n - 1] : 0;

	assert_ptr_equal(opaque, &out);
	assert_true(out.n < OUT_MAX);
	assert_true(at + len <= sizeof(out.data));
	memcpy(out.data + at, f, len);
	out.off[out.n] = at;
	out.len[out.n++] = len;
}

static const uint8_t *emitted(unsigned i)
{
	return out.data + out.off[i];
}

/* The frame (kept in @orig first) must go out as one frame of its length. */
static const uint8_t *tx_one(struct vpc_offload *o, const struct virtio_net_hdr_v1 *hdr,
			     size_t len, uint8_t *orig)
{
	unsigned before = out.n;

	memcpy(orig, frame, len);
	assert_int_equal(vpc_offload_tx(o, hdr, frame, len), 0);
	assert_int_equal(out.n, before + 1);
	assert_int_equal(out.len[before], len);
	return emitted(before);
}

static struct vpc_offload offload(uint64_t features)
{
	out.n = 0;
	return (struct vpc_offload){ .features = features, .emit = collect, .opaque = &out,
				     .name = "test" };
}

/* RFC 1071 again, apart from pkt.h: big-endian words, 64-bit sum, folded. */
static uint16_t ref_sum(uint64_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sum += i % 2 ? p[i] : (uint64_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

/* The TCP or UDP checksum over @f's L4 (at @l4) is right: all sums to 0xffff. */
static void assert_l4_csum(const uint8_t *f, size_t len, size_t l4, uint8_t proto)
{
	bool v6 = be16(f + 12) == ETH_P_IPV6;
	const uint8_t *addrs = f + ETH_HLEN + (v6 ? 8 : 12);
	uint64_t pseudo = ref_sum(0, addrs, v6 ? 32 : 8) + proto + (len - l4);

	assert_int_equal(ref_sum(pseudo, f + l4, len - l4), 0xffff);
}

/*
 * Feeds the driver's frame (@payload bytes, @flags, gso_size @mss) and
 * checks each segment against what the original said.
 */
static void check_tso(bool v6, size_t payload, uint16_t mss, uint8_t flags)
{
	struct vpc_offload o = offload(ALL_OFFLOADS);
	struct virtio_net_hdr_v1 hdr;
	size_t len = vf_tcp_gso(frame, v6, flags, payload, mss, &hdr);
	size_t l4 = ETH_HLEN + (v6 ? IPV6_HLEN : IPV4_HLEN), hlen = l4 + 20;
	unsigned nsegs = (unsigned)((payload + mss - 1) / mss);
	uint8_t orig[128];
	size_t done = 0;

	memcpy(orig, frame, hlen);
	assert_int_equal(vpc_offload_tx(&o, &hdr, frame, len), 0);
	assert_int_equal(out.n, nsegs);
	assert_int_equal(o.stats.gso, 1);
	assert_int_equal(o.stats.segments, nsegs);
	for (unsigned i = 0; i < nsegs; i++) {
		const uint8_t *s = emitted(i), *ip = s + ETH_HLEN, *th = s + l4;
		size_t chunk = payload - done < mss ? payload - done : mss;
		uint8_t want = flags;

		assert_int_equal(out.len[i], hlen + chunk);
		assert_memory_equal(s, orig, ETH_HLEN);
		if (v6) {
			assert_memory_equal(ip, orig + ETH_HLEN, 4);    /* version, class, flow */
			assert_int_equal(be16(ip + 4), 20 + chunk);     /* payload length */
			assert_memory_equal(ip + 6, orig + ETH_HLEN + 6, 34); /* next header .. addresses */
		} else {
			assert_int_equal(ip[0], 0x45);
			assert_int_equal(be16(ip + 2), 40 + chunk);     /* total length */
			assert_int_equal(be16(ip + 4), (uint16_t)(VF_GSO_ID + i));
			assert_int_equal(be16(ip + 6), IPV4_FLAG_DF);
			assert_memory_equal(ip + 8, orig + ETH_HLEN + 8, 2); /* TTL, protocol */
			assert_memory_equal(ip + 12, orig + ETH_HLEN + 12, 8);
			assert_int_equal(ref_sum(0, ip, IPV4_HLEN), 0xffff);
		}
		assert_memory_equal(th, orig + l4, 4);                  /* ports */
		assert_int_equal(be32(th + 4), (uint32_t)(VF_GSO_SEQ + done));
		assert_memory_equal(th + 8, orig + l4 + 8, 5);          /* ack, data offset */
		if (i + 1 < nsegs)
			want &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (i)
			want &= (uint8_t)~TCP_CWR;
		assert_int_equal(th[13], want);
		assert_memory_equal(th + 14, orig + l4 + 14, 2);        /* window */
		assert_l4_csum(s, out.len[i], l4, IPPROTO_TCP_);
		for (size_t k = 0; k < chunk; k++)
			if (s[hlen + k] != vf_gso_byte(done + k))
				fail_msg("segment %u byte %zu: %#x, not %#x", i, k, s[hlen + k],
					 vf_gso_byte(done + k));
		done += chunk;
	}
	assert_int_equal(done, payload);
}

static void test_tso4_64k(void **state)
{
	(void)state;
	/* The largest frame the card takes: 65,481 bytes of payload, 47 segments. */
	check_tso(false, VF_GSO_MAX - ETH_HLEN - 40, MSS4,
		  TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR | TCP_ECE);
}

static void test_tso6_64k(void **state)
{
	(void)state;
	check_tso(true, VF_GSO_MAX - ETH_HLEN - 60, MSS6, TCP_ACK | TCP_PSH | TCP_CWR);
}

static void test_tso_segment_counts(void **state)
{
	(void)state;
	check_tso(false, 3 * 1000, 1000, TCP_ACK | TCP_PSH);     /* an exact multiple */
	check_tso(true, 999, 1000, TCP_ACK | TCP_FIN | TCP_CWR); /* one: keeps every flag */
	check_tso(false, 1001, 1000, TCP_ACK);                   /* one byte in the last */
	/* The bound itself is taken: 65,481 / 64 makes exactly 1024. */
	check_tso(false, VF_GSO_MAX - ETH_HLEN - 40, 64, TCP_ACK);
}

/* §5.1.6.2.2: without GUEST_HDRLEN, hdr_len is a hint the device must not rely on. */
static void test_tso_ignores_hdr_len(void **state)
{
	static const uint16_t hints[] = { 0, 1, 54 + 1398, 65535 };

	(void)state;
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		struct vpc_offload o = offload(ALL_OFFLOADS);
		struct virtio_net_hdr_v1 hdr;
		size_t len = vf_tcp_gso(frame, false, TCP_ACK, 4000, MSS4, &hdr);

		hdr.hdr_len = hints[i];
		assert_int_equal(vpc_offload_tx(&o, &hdr, frame, len), 0);
		assert_int_equal(out.n, 3);
		assert_int_equal(out.len[0], 54 + MSS4);
		assert_int_equal(out.len[2], 54 + 4000 - 2 * MSS4);
		assert_l4_csum(emitted(2), out.len[2], 34, IPPROTO_TCP_);
	}
}

static void test_csum_tcp(void **state)
{
	struct vpc_offload o = offload(VIRTIO_BIT(VIRTIO_NET_F_CSUM));
	struct virtio_net_hdr_v1 hdr;
	size_t len = vf_tcp_gso(frame, false, TCP_ACK | TCP_PSH, 1000, 0, &hdr);
	uint8_t orig[1100];
	const uint8_t *f;

	(void)state;
	f = tx_one(&o, &hdr, len, orig);
	assert_int_equal(o.stats.csum, 1);
	assert_int_equal(o.stats.gso, 0);
	assert_l4_csum(f, len, 34, IPPROTO_TCP_);
	/* Only the checksum changed. */
	assert_memory_equal(f, orig, 34 + 16);
	assert_memory_equal(f + 34 + 18, orig + 34 + 18, len - 34 - 18);
	/* IPv6 too: the sum starts at csum_start whatever lies before. */
	len = vf_tcp_gso(frame, true, TCP_ACK, 333, 0, &hdr);
	assert_l4_csum(tx_one(&o, &hdr, len, orig), len, 54, IPPROTO_TCP_);
}

/* A UDP datagram of 100 bytes as Linux leaves it with CSUM (csum_offset 6). */
static size_t udp_partial(struct virtio_net_hdr_v1 *hdr)
{
	uint8_t l4[8 + 100] = { 0x30, 0x39, 0x00, 0x35, 0, sizeof(l4) };
	size_t len = vf_ipv4(frame, VF_IP(10, 0, 0, 1), VF_IP(10, 0, 0, 2), IPPROTO_UDP_, l4,
			     sizeof(l4));
	uint8_t *udp = frame + 34;
	uint16_t pseudo;

	for (size_t i = 8; i < sizeof(l4); i++)
		udp[i] = vf_gso_byte(i);
	pseudo = ref_sum(ref_sum(0, frame + 26, 8) + IPPROTO_UDP_ + sizeof(l4), NULL, 0);
	udp[6] = (uint8_t)(pseudo >> 8);
	udp[7] = (uint8_t)pseudo;
	*hdr = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					   .csum_start = 34, .csum_offset = 6 };
	return len;
}

/*
 * Sets the frame's last payload word so that the sum from @l4 to the end,
 * over the pseudo-header sum the driver left in the field, is 0xffff: the
 * checksum the device computes comes out 0.  (@len - @l4 is even.)
 */
static void make_csum_zero(size_t len, size_t l4)
{
	uint16_t sum;

	frame[len - 2] = frame[len - 1] = 0;
	sum = ref_sum(0, frame + l4, len - l4);
	frame[len - 2] = (uint8_t)((0xffff - sum) >> 8);
	frame[len - 1] = (uint8_t)(0xffff - sum);
}

static void test_csum_udp(void **state)
{
	struct vpc_offload o = offload(VIRTIO_BIT(VIRTIO_NET_F_CSUM));
	struct virtio_net_hdr_v1 hdr;
	size_t len = udp_partial(&hdr);
	uint8_t orig[200];

	(void)state;
	assert_l4_csum(tx_one(&o, &hdr, len, orig), len, 34, IPPROTO_UDP_);
	assert_int_equal(o.stats.csum, 1);
}

/*
 * A computed 0 is sent as 0xffff in UDP, where 0 would say "no checksum"
 * (RFC 768), and stays 0 in TCP, with or without segmentation (-0 and +0
 * are one number, RFC 1624 §3, but tshark calls TCP's 0xffff bad).
 */
static void test_csum_zero(void **state)
{
	struct vpc_offload o = offload(ALL_OFFLOADS);
	struct virtio_net_hdr_v1 hdr;
	size_t len = udp_partial(&hdr);
	uint8_t orig[200];
	const uint8_t *f;

	(void)state;
	make_csum_zero(len, 34);
	f = tx_one(&o, &hdr, len, orig);
	assert_int_equal(be16(f + 34 + 6), 0xffff);
	assert_l4_csum(f, len, 34, IPPROTO_UDP_);
	for (uint16_t mss = 0; mss <= 1000; mss += 1000) {
		len = vf_tcp_gso(frame, false, TCP_ACK, 100, mss, &hdr);
		make_csum_zero(len, 34);
		f = tx_one(&o, &hdr, len, orig);
		assert_int_equal(be16(f + 34 + 16), 0);
		assert_l4_csum(f, len, 34, IPPROTO_TCP_);
	}
	assert_int_equal(o.stats.csum, 2);
	assert_int_equal(o.stats.gso, 1);
}

static void test_no_offload_passes_unchanged(void **state)
{
	struct vpc_offload o = offload(0);
	struct virtio_net_hdr_v1 hdr = { .gso_type = VIRTIO_NET_HDR_GSO_NONE,
					 /* unknown flag bits are ignored (§5.1.6.2.2) */
					 .flags = VIRTIO_NET_HDR_F_DATA_VALID | 0x80,
					 .csum_start = 60000 };
	size_t len = vf_tcp(frame, VF_IP(10, 0, 0, 1), 1, VF_IP(10, 0, 0, 2), 2, TCP_SYN);
	uint8_t orig[64];

	(void)state;
	assert_memory_equal(tx_one(&o, &hdr, len, orig), orig, len);
	assert_int_equal(o.stats.csum + o.stats.gso, 0);
}

/* ---- refused headers ---------------------------------------------------- */

enum bad {
	NO_CSUM_FEATURE, NO_TSO4_FEATURE, NO_TSO6_FEATURE, GSO_UDP, GSO_UDP_L4, GSO_ECN,
	GSO_UNKNOWN, CSUM_START_PAST, CSUM_FIELD_PAST, CSUM_FIELD_HALF, GSO_CSUM_START,
	GSO_CSUM_OFFSET, GSO_SIZE_ZERO, GSO_SIZE_ONE, GSO_TOO_MANY, GSO_NO_NEEDS_CSUM,
	GSO_WRONG_FAMILY, GSO_VLAN, GSO_NOT_TCP, GSO_IHL, GSO_VERSION, GSO_TOT_LEN,
	GSO_FRAGMENT, GSO_DOFF_SHORT, GSO_DOFF_PAST, GSO_NO_PAYLOAD, GSO_V6_EXT_HDR,
	GSO_V6_LEN, GSO_RUNT, GSO_IPV4_RUNT, GSO_IPV6_RUNT,
};

static const struct {
	enum bad bad;
	const char *what;
	enum vpc_drop reason;
} bad_cases[] = {
	{ NO_CSUM_FEATURE, "NEEDS_CSUM without CSUM", VPC_DROP_OFFLOAD_UNNEGOTIATED },
	{ NO_TSO4_FEATURE, "TCPV4 without HOST_TSO4", VPC_DROP_OFFLOAD_UNNEGOTIATED },
	{ NO_TSO6_FEATURE, "TCPV6 without HOST_TSO6", VPC_DROP_OFFLOAD_UNNEGOTIATED },
	{ GSO_UDP, "gso_type UDP (UFO)", VPC_DROP_GSO_TYPE },
	{ GSO_UDP_L4, "gso_type UDP_L4 (USO)", VPC_DROP_GSO_TYPE },
	{ GSO_ECN, "TCPV4 with the ECN bit", VPC_DROP_GSO_TYPE },
	{ GSO_UNKNOWN, "gso_type 0x42", VPC_DROP_GSO_TYPE },
	{ CSUM_START_PAST, "csum_start past the frame", VPC_DROP_CSUM_RANGE },
	{ CSUM_FIELD_PAST, "csum_offset past the frame", VPC_DROP_CSUM_RANGE },
	{ CSUM_FIELD_HALF, "checksum field's last byte past the frame", VPC_DROP_CSUM_RANGE },
	{ GSO_CSUM_START, "GSO csum_start not at TCP", VPC_DROP_CSUM_RANGE },
	{ GSO_CSUM_OFFSET, "GSO csum_offset not TCP's checksum", VPC_DROP_CSUM_RANGE },
	{ GSO_SIZE_ZERO, "gso_size 0", VPC_DROP_GSO_SIZE },
	{ GSO_SIZE_ONE, "gso_size 1: 65,481 segments", VPC_DROP_GSO_SIZE },
	{ GSO_TOO_MANY, "gso_size 63: 1040 segments", VPC_DROP_GSO_SIZE },
	{ GSO_NO_NEEDS_CSUM, "GSO without NEEDS_CSUM", VPC_DROP_GSO_HEADERS },
	{ GSO_WRONG_FAMILY, "TCPV4 on an IPv6 frame", VPC_DROP_GSO_HEADERS },
	{ GSO_VLAN, "an 802.1Q tag", VPC_DROP_GSO_HEADERS },
	{ GSO_NOT_TCP, "IPv4 protocol UDP", VPC_DROP_GSO_HEADERS },
	{ GSO_IHL, "IHL 4", VPC_DROP_GSO_HEADERS },
	{ GSO_VERSION, "IP version 5", VPC_DROP_GSO_HEADERS },
	{ GSO_TOT_LEN, "total length past the frame", VPC_DROP_GSO_HEADERS },
	{ GSO_FRAGMENT, "an IPv4 fragment", VPC_DROP_GSO_HEADERS },
	{ GSO_DOFF_SHORT, "TCP data offset 4", VPC_DROP_GSO_HEADERS },
	{ GSO_DOFF_PAST, "TCP data offset past the packet", VPC_DROP_GSO_HEADERS },
	{ GSO_NO_PAYLOAD, "no payload to cut", VPC_DROP_GSO_HEADERS },
	{ GSO_V6_EXT_HDR, "an IPv6 hop-by-hop header first", VPC_DROP_GSO_HEADERS },
	{ GSO_V6_LEN, "IPv6 payload length past the frame", VPC_DROP_GSO_HEADERS },
	{ GSO_RUNT, "shorter than Ethernet", VPC_DROP_GSO_HEADERS },
	{ GSO_IPV4_RUNT, "Ethernet saying IPv4, and nothing more", VPC_DROP_GSO_HEADERS },
	{ GSO_IPV6_RUNT, "IPv6 header cut short", VPC_DROP_GSO_HEADERS },
};

/* The driver's frame with case @bad's defect; its length, header and features. */
static size_t bad_frame(enum bad bad, struct virtio_net_hdr_v1 *hdr, uint64_t *features)
{
	bool v6 = bad == NO_TSO6_FEATURE || bad == GSO_V6_EXT_HDR || bad == GSO_V6_LEN ||
		  bad == GSO_WRONG_FAMILY || bad == GSO_IPV6_RUNT;
	bool gso = bad != NO_CSUM_FEATURE && bad != CSUM_START_PAST && bad != CSUM_FIELD_PAST &&
		   bad != CSUM_FIELD_HALF;
	size_t len = vf_tcp_gso(frame, v6, TCP_ACK, 4000, gso ? 1000 : 0, hdr);
	uint8_t *ip = frame + ETH_HLEN, *th = frame + ETH_HLEN + (v6 ? IPV6_HLEN : IPV4_HLEN);

	*features = ALL_OFFLOADS;
	switch (bad) {
	case NO_CSUM_FEATURE: *features = 0; break;
	case NO_TSO4_FEATURE: *features &= ~VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4); break;
	case NO_TSO6_FEATURE: *features &= ~VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6); break;
	case GSO_UDP: hdr->gso_type = VIRTIO_NET_HDR_GSO_UDP; break;
	case GSO_UDP_L4: hdr->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4; break;
	case GSO_ECN: hdr->gso_type |= VIRTIO_NET_HDR_GSO_ECN; break;
	case GSO_UNKNOWN: hdr->gso_type = 0x42; break;
	case CSUM_START_PAST: hdr->csum_start = (uint16_t)len; hdr->csum_offset = 0; break;
	case CSUM_FIELD_PAST: hdr->csum_offset = (uint16_t)len; break;
	case CSUM_FIELD_HALF: hdr->csum_offset = (uint16_t)(len - 34 - 1); break;
	case GSO_CSUM_START: hdr->csum_start = 14; break;
	case GSO_CSUM_OFFSET: hdr->csum_offset = 6; break;
	case GSO_SIZE_ZERO: hdr->gso_size = 0; break;
	case GSO_SIZE_ONE: hdr->gso_size = 1; break;
	case GSO_TOO_MANY:
		len = vf_tcp_gso(frame, false, TCP_ACK, VF_GSO_MAX - 54, 63, hdr);
		break;
	case GSO_NO_NEEDS_CSUM: hdr->flags = 0; break;
	case GSO_WRONG_FAMILY: hdr->gso_type = VIRTIO_NET_HDR_GSO_TCPV4; break;
	case GSO_VLAN: frame[12] = 0x81; frame[13] = 0x00; break;
	case GSO_NOT_TCP: ip[9] = IPPROTO_UDP_; break;
	case GSO_IHL: ip[0] = 0x44; break;
	case GSO_VERSION: ip[0] = 0x55; break;
	case GSO_TOT_LEN: len -= 1; break;
	case GSO_FRAGMENT: ip[6] = 0x20; break; /* MF */
	case GSO_DOFF_SHORT: th[12] = 4 << 4; break;
	case GSO_DOFF_PAST: len = ETH_HLEN + 60; ip[2] = 0; ip[3] = 60; th[12] = 11 << 4; break;
	case GSO_NO_PAYLOAD: len = ETH_HLEN + 40; ip[2] = 0; ip[3] = 40; break;
	case GSO_V6_EXT_HDR: ip[6] = 0; break;
	case GSO_V6_LEN: ip[4] = 0xff; break;
	case GSO_RUNT: len = 10; break;
	case GSO_IPV4_RUNT: len = ETH_HLEN; break;
	case GSO_IPV6_RUNT: len = ETH_HLEN + 39; break;
	}
	return len;
}

static void test_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct virtio_net_hdr_v1 hdr;
		uint64_t features, total = 0;
		size_t len = bad_frame(bad_cases[i].bad, &hdr, &features);
		struct vpc_offload o = offload(features);
		/* Its own exact-size block, so ASan sees a read past its end. */
		uint8_t *exact = malloc(len);
		int r;

		assert_non_null(exact);
		memcpy(exact, frame, len);
		r = vpc_offload_tx(&o, &hdr, exact, len);
		free(exact);
		if (r != -EINVAL)
			fail_msg("%s: not refused", bad_cases[i].what);
		for (int r = 0; r < VPC_DROP__COUNT; r++)
			total += o.stats.drops[r];
		if (o.stats.drops[bad_cases[i].reason] != 1 || total != 1)
			fail_msg("%s: counted %llu times under %s, %llu in all", bad_cases[i].what,
				 (unsigned long long)o.stats.drops[bad_cases[i].reason],
				 vpc_drop_name(bad_cases[i].reason), (unsigned long long)total);
		if (out.n || o.stats.csum || o.stats.gso || o.stats.segments)
			fail_msg("%s: %u frames sent", bad_cases[i].what, out.n);
	}
}

/* Each refusal's name is one an operator reads in the card's stats. */
static void test_reason_names(void **state)
{
	(void)state;
	assert_string_equal(vpc_drop_name(VPC_DROP_OFFLOAD_UNNEGOTIATED), "offload_unnegotiated");
	assert_string_equal(vpc_drop_name(VPC_DROP_GSO_TYPE), "gso_type");
	assert_string_equal(vpc_drop_name(VPC_DROP_CSUM_RANGE), "csum_range");
	assert_string_equal(vpc_drop_name(VPC_DROP_GSO_HEADERS), "gso_headers");
	assert_string_equal(vpc_drop_name(VPC_DROP_GSO_SIZE), "gso_size");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tso4_64k),
		cmocka_unit_test(test_tso6_64k),
		cmocka_unit_test(test_tso_segment_counts),
		cmocka_unit_test(test_tso_ignores_hdr_len),
		cmocka_unit_test(test_csum_tcp),
		cmocka_unit_test(test_csum_udp),
		cmocka_unit_test(test_csum_zero),
		cmocka_unit_test(test_no_offload_passes_unchanged),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_reason_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
