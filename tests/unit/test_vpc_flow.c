/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frame parsing: the 5-tuple of well-formed TCP, UDP, ICMP and ARP frames,
 * and for every malformed length or header field the drop reason it names
 * (RFC 791 IHL/tot_len/fragments, RFC 9293 data offset, RFC 768 length).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/flow.h"
#include "tests/tools/vpc_frames.h"

#define A VF_IP(10, 0, 0, 1)
#define B VF_IP(10, 0, 0, 2)
#define IP_OFF ETH_HLEN
#define L4_OFF (ETH_HLEN + 20)

static struct ipv4_hdr *ip_of(uint8_t *f)
{
	return (struct ipv4_hdr *)(f + IP_OFF);
}

/* After editing the IPv4 header, make its checksum right again. */
static void fix_ip_csum(uint8_t *f)
{
	struct ipv4_hdr *ip = ip_of(f);
	size_t ihl = (size_t)(ip->ver_ihl & 0xf) * 4;

	ip->csum = 0;
	ip->csum = pkt_csum_fold(pkt_csum_add(0, ip, ihl < 20 ? 20 : ihl));
}

/* Parses @len bytes copied to a buffer of exactly that size (so ASan sees
 * any read past it) and expects failure with @why. */
static void expect_drop(const uint8_t *f, size_t len, enum vpc_drop why)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct vpc_flow fl;
	enum vpc_drop reason;

	memcpy(copy, f, len);
	assert_int_equal(vpc_flow_parse(copy, len, &fl, &reason), -EINVAL);
	if (reason != why)
		fail_msg("dropped as %s, expected %s", vpc_drop_name(reason),
			 vpc_drop_name(why));
	free(copy);
}

static void parse_ok(const uint8_t *f, size_t len, struct vpc_flow *fl)
{
	enum vpc_drop reason;

	assert_int_equal(vpc_flow_parse(f, len, fl, &reason), 0);
	assert_int_equal(reason, VPC_DROP_NONE);
}

static void test_tcp_key(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_tcp(f, A, 40000, B, 22, TCP_SYN);
	struct vpc_flow fl;

	(void)state;
	parse_ok(f, len, &fl);
	assert_int_equal(fl.ethertype, ETH_P_IPV4);
	assert_int_equal(fl.key.saddr, htonl(A));
	assert_int_equal(fl.key.daddr, htonl(B));
	assert_int_equal(fl.key.sport, 40000);
	assert_int_equal(fl.key.dport, 22);
	assert_int_equal(fl.key.proto, 6);
	assert_int_equal(fl.tcp_flags, TCP_SYN);
	assert_int_equal(fl.l4_off, L4_OFF);
	assert_int_equal(fl.l4_len, 20);
	assert_false(fl.fragment);
}

static void test_udp_icmp_arp(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	struct vpc_flow fl;
	size_t len;

	(void)state;
	len = vf_udp(f, A, 5353, B, 53, 12);
	parse_ok(f, len, &fl);
	assert_int_equal(fl.key.proto, 17);
	assert_int_equal(fl.key.sport, 5353);
	assert_int_equal(fl.key.dport, 53);

	/* Echo: identifier in both ports so the reply is the reversed key. */
	len = vf_icmp_echo(f, A, B, ICMP_ECHO_REQUEST, 0x1234, 1, 8);
	parse_ok(f, len, &fl);
	assert_int_equal(fl.key.proto, 1);
	assert_int_equal(fl.icmp_type, ICMP_ECHO_REQUEST);
	assert_int_equal(fl.key.sport, 0x1234);
	assert_int_equal(fl.key.dport, 0x1234);
	assert_false(fl.has_inner);

	len = vf_arp(f, ARP_OP_REQUEST, vf_mac_a, A, vf_mac_b, B);
	parse_ok(f, len, &fl);
	assert_int_equal(fl.ethertype, ETH_P_ARP);
}

static void test_key_reverse_and_hash(void **state)
{
	struct vpc_flow_key k = { 1, 2, 3, 4, 6, { 0 } };
	struct vpc_flow_key r = vpc_flow_key_reverse(&k), rr = vpc_flow_key_reverse(&r);
	struct vpc_hash_secret s1 = { 1, 2 }, s2 = { 3, 4 };

	(void)state;
	assert_int_equal(r.saddr, 2);
	assert_int_equal(r.sport, 4);
	assert_memory_equal(&rr, &k, sizeof(k));
	assert_true(vpc_flow_hash(&k, &s1) == vpc_flow_hash(&k, &s1));
	assert_true(vpc_flow_hash(&k, &s1) != vpc_flow_hash(&k, &s2));
	assert_true(vpc_flow_hash(&k, &s1) != vpc_flow_hash(&r, &s1));
}

static void test_ethernet(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_tcp(f, A, 1, B, 2, TCP_SYN);

	(void)state;
	expect_drop(f, 0, VPC_DROP_RUNT);
	expect_drop(f, ETH_HLEN - 1, VPC_DROP_RUNT);
	f[12] = 0x81, f[13] = 0x00;     /* 802.1Q */
	expect_drop(f, len, VPC_DROP_ETHERTYPE);
	f[12] = 0x86, f[13] = 0xdd;     /* IPv6 */
	expect_drop(f, len, VPC_DROP_ETHERTYPE);
}

static void test_arp_malformed(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_arp(f, ARP_OP_REQUEST, vf_mac_a, A, vf_mac_b, B);
	struct arp_hdr *arp = (void *)(f + ETH_HLEN);

	(void)state;
	expect_drop(f, len - 1, VPC_DROP_ARP_MALFORMED);
	arp->plen = 16;
	expect_drop(f, len, VPC_DROP_ARP_MALFORMED);
	arp->plen = 4;
	arp->op = htons(3);             /* RARP request */
	expect_drop(f, len, VPC_DROP_ARP_MALFORMED);
}

static void test_ipv4_header(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_tcp(f, A, 1, B, 2, TCP_SYN);

	(void)state;
	expect_drop(f, IP_OFF + 19, VPC_DROP_IP_TRUNC);
	ip_of(f)->ver_ihl = 0x65;
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_IP_VERSION);
	ip_of(f)->ver_ihl = 0x44;       /* IHL 4: shorter than the fixed header */
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_IP_IHL);
	ip_of(f)->ver_ihl = 0x4f;       /* 60 bytes of header in a 40-byte packet */
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_IP_IHL);
	len = vf_tcp(f, A, 1, B, 2, TCP_SYN);
	expect_drop(f, len - 1, VPC_DROP_IP_LEN);  /* tot_len past the frame */
	ip_of(f)->ttl--;                /* checksum no longer matches */
	expect_drop(f, len, VPC_DROP_IP_CSUM);
}

static void test_ethernet_padding(void **state)
{
	uint8_t f[VF_FRAME_MAX] = { 0 };
	size_t len = vf_icmp_echo(f, A, B, ICMP_ECHO_REQUEST, 7, 1, 0);
	struct vpc_flow fl;

	(void)state;
	/* 42 bytes, padded to the 60-byte Ethernet minimum: still valid. */
	assert_true(len < 60);
	parse_ok(f, 60, &fl);
	assert_int_equal(fl.l4_len, 8);
}

static void test_fragments(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_udp(f, A, 1000, B, 2000, 100);
	struct vpc_flow fl;

	(void)state;
	/* First fragment: MF set, offset 0, carries the ports. */
	ip_of(f)->frag_off = htons(IPV4_FLAG_MF);
	fix_ip_csum(f);
	parse_ok(f, len, &fl);
	assert_true(fl.fragment);
	assert_int_equal(fl.key.dport, 2000);
	/* Its UDP length describes the whole datagram, beyond this fragment. */
	((struct udp_hdr *)(f + L4_OFF))->len = htons(3000);
	parse_ok(f, len, &fl);

	/* Later fragments carry no ports: dropped, with or without MF. */
	ip_of(f)->frag_off = htons(IPV4_FLAG_MF | 1);
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_FRAG);
	ip_of(f)->frag_off = htons(185);
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_FRAG);

	/* RFC 1858 tiny fragment: a first fragment without the whole TCP header. */
	len = vf_tcp(f, A, 1, B, 2, TCP_SYN);
	ip_of(f)->frag_off = htons(IPV4_FLAG_MF);
	ip_of(f)->tot_len = htons(20 + 8);
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_L4_TRUNC);
}

static void test_tcp_header(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_tcp(f, A, 1, B, 2, TCP_ACK);
	struct tcp_hdr *th = (void *)(f + L4_OFF);

	(void)state;
	th->doff = 4 << 4;
	expect_drop(f, len, VPC_DROP_TCP_DOFF);
	th->doff = 6 << 4;              /* 24-byte header in 20 bytes */
	expect_drop(f, len, VPC_DROP_TCP_DOFF);
	th->doff = 5 << 4;
	ip_of(f)->tot_len = htons(20 + 19);
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_L4_TRUNC);
}

static void test_udp_header(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_udp(f, A, 1, B, 2, 4);
	struct udp_hdr *uh = (void *)(f + L4_OFF);

	(void)state;
	uh->len = htons(7);
	expect_drop(f, len, VPC_DROP_UDP_LEN);
	uh->len = htons(13);            /* one byte more than the packet holds */
	expect_drop(f, len, VPC_DROP_UDP_LEN);
	ip_of(f)->tot_len = htons(20 + 7);
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_L4_TRUNC);
}

static void test_icmp_error_quote(void **state)
{
	uint8_t orig[VF_FRAME_MAX], f[VF_FRAME_MAX];
	struct vpc_flow fl;
	size_t len;

	(void)state;
	vf_udp(orig, A, 33434, B, 53, 0);
	len = vf_icmp_error(f, B, A, ICMP_DEST_UNREACH, 3, orig);
	parse_ok(f, len, &fl);
	assert_true(fl.has_inner);
	assert_int_equal(fl.inner.saddr, htonl(A));
	assert_int_equal(fl.inner.daddr, htonl(B));
	assert_int_equal(fl.inner.proto, 17);
	assert_int_equal(fl.inner.sport, 33434);
	assert_int_equal(fl.inner.dport, 53);

	/* A quote without its 8 bytes of L4 header, or with a bad IHL. */
	ip_of(f)->tot_len = htons(20 + 8 + 24);
	fix_ip_csum(f);
	expect_drop(f, len, VPC_DROP_L4_TRUNC);
	len = vf_icmp_error(f, B, A, ICMP_DEST_UNREACH, 3, orig);
	f[L4_OFF + 8] = 0x43;
	expect_drop(f, len, VPC_DROP_IP_IHL);
	f[L4_OFF + 8] = 0x45;
	expect_drop(f, L4_OFF + 8 + 10, VPC_DROP_IP_LEN);
}

/* Every prefix of valid frames is rejected without reading past its end. */
static void test_every_truncation(void **state)
{
	uint8_t f[VF_FRAME_MAX], orig[VF_FRAME_MAX];
	struct vpc_flow fl;
	enum vpc_drop reason;
	size_t lens[4];

	(void)state;
	vf_udp(orig, A, 1, B, 2, 0);
	for (int k = 0; k < 4; k++) {
		lens[k] = k == 0 ? vf_tcp(f, A, 1, B, 2, TCP_SYN)
			: k == 1 ? vf_udp(f, A, 1, B, 2, 3)
			: k == 2 ? vf_icmp_echo(f, A, B, ICMP_ECHO_REQUEST, 1, 1, 0)
				 : vf_icmp_error(f, B, A, ICMP_DEST_UNREACH, 1, orig);
		for (size_t n = 0; n < lens[k]; n++) {
			uint8_t *copy = malloc(n ? n : 1);

			memcpy(copy, f, n);
			assert_int_equal(vpc_flow_parse(copy, n, &fl, &reason), -EINVAL);
			assert_int_not_equal(reason, VPC_DROP_NONE);
			free(copy);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_key),
		cmocka_unit_test(test_udp_icmp_arp),
		cmocka_unit_test(test_key_reverse_and_hash),
		cmocka_unit_test(test_ethernet),
		cmocka_unit_test(test_arp_malformed),
		cmocka_unit_test(test_ipv4_header),
		cmocka_unit_test(test_ethernet_padding),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_tcp_header),
		cmocka_unit_test(test_udp_header),
		cmocka_unit_test(test_icmp_error_quote),
		cmocka_unit_test(test_every_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
