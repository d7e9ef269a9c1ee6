/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VXLAN (RFC 7348 §5) and Geneve (RFC 8926 §3.4-3.5) headers: the bytes we
 * write against hand-written arrays laid out as the RFCs draw them, round
 * trips, every rejected header with its drop reason, and the outer source
 * port's range and stability.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/encap.h"
#include "tests/tools/vpc_frames.h"

#define A VF_IP(10, 0, 0, 1)
#define B VF_IP(10, 0, 0, 2)

static void test_vxlan_bytes(void **state)
{
	/*
	 *  |R|R|R|R|I|R|R|R|            Reserved                           |
	 *  |                VXLAN Network Identifier (VNI) |   Reserved    |
	 */
	static const uint8_t vni42[8] = { 0x08, 0, 0, 0, 0x00, 0x00, 0x2a, 0 };
	static const uint8_t vnimax[8] = { 0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0 };
	uint8_t hdr[VPC_ENCAP_HLEN];

	(void)state;
	assert_int_equal(sizeof(struct vxlan_hdr), 8);
	assert_int_equal(vpc_encap_hdr(VPC_ENCAP_VXLAN, 42, hdr), 0);
	assert_memory_equal(hdr, vni42, 8);
	assert_int_equal(vpc_encap_hdr(VPC_ENCAP_VXLAN, 0xabcdef, hdr), 0);
	assert_memory_equal(hdr, vnimax, 8);
	assert_int_equal(vpc_encap_hdr(VPC_ENCAP_VXLAN, 0x1000000, hdr), -EINVAL);
}

static void test_geneve_bytes(void **state)
{
	/*
	 *  |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
	 *  |        Virtual Network Identifier (VNI)       |    Reserved   |
	 */
	static const uint8_t vni42[8] = { 0x00, 0x00, 0x65, 0x58, 0x00, 0x00, 0x2a, 0 };
	uint8_t hdr[VPC_ENCAP_HLEN];

	(void)state;
	assert_int_equal(sizeof(struct geneve_hdr), 8);
	assert_int_equal(sizeof(struct geneve_opt), 4);
	assert_int_equal(vpc_encap_hdr(VPC_ENCAP_GENEVE, 42, hdr), 0);
	assert_memory_equal(hdr, vni42, 8);
	assert_int_equal(vpc_encap_hdr(VPC_ENCAP_GENEVE, VPC_VNI_MAX + 1, hdr), -EINVAL);
}

/* Header @hdr (@hlen bytes) + a 60-byte ICMP frame. */
static size_t datagram(uint8_t *d, const uint8_t *hdr, size_t hlen)
{
	size_t flen;

	memcpy(d, hdr, hlen);
	flen = vf_icmp_echo(d + hlen, A, B, ICMP_ECHO_REQUEST, 1, 1, 18);
	return hlen + flen;
}

static void test_round_trip(void **state)
{
	uint8_t hdr[VPC_ENCAP_HLEN], d[VF_FRAME_MAX + 64], frame[VF_FRAME_MAX];
	size_t flen = vf_icmp_echo(frame, A, B, ICMP_ECHO_REQUEST, 1, 1, 18), len;
	struct vpc_decap out;
	enum vpc_drop reason;

	(void)state;
	for (int kind = VPC_ENCAP_VXLAN; kind <= VPC_ENCAP_GENEVE; kind++) {
		assert_int_equal(vpc_encap_hdr(kind, 0x123456, hdr), 0);
		len = datagram(d, hdr, sizeof(hdr));
		assert_int_equal(vpc_decap(kind, d, len, &out, &reason), 0);
		assert_int_equal(out.vni, 0x123456);
		assert_ptr_equal(out.frame, d + 8);
		assert_int_equal(out.len, flen);
		assert_memory_equal(out.frame, frame, flen);
	}
}

static void expect_reject(enum vpc_encap kind, const uint8_t *hdr, size_t hlen,
			  size_t cut, enum vpc_drop why)
{
	uint8_t d[VF_FRAME_MAX + 64];
	size_t len = datagram(d, hdr, hlen) - cut;
	uint8_t *copy = malloc(len ? len : 1);
	struct vpc_decap out;
	enum vpc_drop reason;

	memcpy(copy, d, len);
	assert_int_equal(vpc_decap(kind, copy, len, &out, &reason), -EINVAL);
	if (reason != why)
		fail_msg("rejected as %s, expected %s", vpc_drop_name(reason),
			 vpc_drop_name(why));
	free(copy);
}

static void test_vxlan_reject(void **state)
{
	static const uint8_t bad[][8] = {
		{ 0x00, 0, 0, 0, 0, 0, 42, 0 },       /* I flag clear */
		{ 0x0c, 0, 0, 0, 0, 0, 42, 0 },       /* GPE's P bit */
		{ 0x88, 0, 0, 0, 0, 0, 42, 0 },       /* GBP's G bit */
		{ 0x08, 0, 1, 0, 0, 0, 42, 0 },       /* reserved (GBP policy) */
		{ 0x08, 0, 0, 0, 0, 0, 42, 1 },       /* last reserved byte */
	};
	static const uint8_t good[8] = { 0x08, 0, 0, 0, 0, 0, 42, 0 };
	uint8_t d[16];
	struct vpc_decap out;
	enum vpc_drop reason;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_reject(VPC_ENCAP_VXLAN, bad[i], 8, 0, VPC_DROP_VXLAN_FLAGS);
	/* Shorter than the header, or an inner frame short of Ethernet's. */
	for (size_t n = 0; n < 8; n++) {
		memcpy(d, good, 8);
		assert_int_equal(vpc_decap(VPC_ENCAP_VXLAN, d, n, &out, &reason), -EINVAL);
		assert_int_equal(reason, VPC_DROP_ENCAP_TRUNC);
	}
	expect_reject(VPC_ENCAP_VXLAN, good, 8, 60 - 13, VPC_DROP_ENCAP_TRUNC);
}

static void test_geneve_reject(void **state)
{
	static const struct {
		uint8_t hdr[16];
		size_t hlen;
		enum vpc_drop why;
	} bad[] = {
		{ { 0x40, 0, 0x65, 0x58, 0, 0, 42, 0 }, 8, VPC_DROP_GENEVE_VERSION },
		{ { 0xc0, 0, 0x65, 0x58, 0, 0, 42, 0 }, 8, VPC_DROP_GENEVE_VERSION },
		{ { 0x00, 0x80, 0x65, 0x58, 0, 0, 42, 0 }, 8, VPC_DROP_GENEVE_OAM },
		{ { 0x00, 0, 0x08, 0x00, 0, 0, 42, 0 }, 8, VPC_DROP_GENEVE_PROTO },
		/* Opt Len 63 words: past the end of the datagram. */
		{ { 0x3f, 0, 0x65, 0x58, 0, 0, 42, 0 }, 8, VPC_DROP_GENEVE_OPT },
		/* Opt Len 1 word: an option header whose 4 bytes of data
		 * lie beyond it. */
		{ { 0x01, 0, 0x65, 0x58, 0, 0, 42, 0, 0x01, 0x02, 0x03, 0x01 },
		  12, VPC_DROP_GENEVE_OPT },
		/* An unknown option with the critical bit (type 0x80). */
		{ { 0x02, 0x40, 0x65, 0x58, 0, 0, 42, 0,
		    0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef },
		  16, VPC_DROP_GENEVE_CRITICAL },
	};
	static const uint8_t good[8] = { 0x00, 0, 0x65, 0x58, 0, 0, 42, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_reject(VPC_ENCAP_GENEVE, bad[i].hdr, bad[i].hlen, 0, bad[i].why);
	expect_reject(VPC_ENCAP_GENEVE, good, 8, 60, VPC_DROP_ENCAP_TRUNC);
	expect_reject(VPC_ENCAP_GENEVE, good, 8, 60 + 1, VPC_DROP_ENCAP_TRUNC);
}

static void test_geneve_options_accepted(void **state)
{
	/*
	 * Two non-critical options (class 0x0102 type 0x01 with 4 bytes, then
	 * type 0x7f with none), C clear, every Rsvd bit set: RFC 8926 §3.4
	 * says reserved bits are ignored on receipt, and unknown non-critical
	 * options are skipped (§3.5.1).
	 */
	static const uint8_t hdr[16] = {
		0x02, 0x3f, 0x65, 0x58, 0x00, 0x01, 0x00, 0xff,
		0x01, 0x02, 0x01, 0xe1, 0xde, 0xad, 0xbe, 0xef,
	};
	uint8_t h2[20], d[VF_FRAME_MAX + 64];
	size_t len = datagram(d, hdr, sizeof(hdr));
	struct vpc_decap out;
	enum vpc_drop reason;

	(void)state;
	assert_int_equal(vpc_decap(VPC_ENCAP_GENEVE, d, len, &out, &reason), 0);
	assert_int_equal(out.vni, 0x100);
	assert_ptr_equal(out.frame, d + 16);
	assert_int_equal(out.len, len - 16);

	memcpy(h2, hdr, 16);
	h2[0] = 0x03;
	memcpy(h2 + 16, (uint8_t[]){ 0xff, 0xff, 0x7f, 0x00 }, 4);
	len = datagram(d, h2, sizeof(h2));
	assert_int_equal(vpc_decap(VPC_ENCAP_GENEVE, d, len, &out, &reason), 0);
	assert_ptr_equal(out.frame, d + 20);
}

static void test_src_port(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	uint16_t first = 0;
	size_t alen;
	static uint8_t seen[65536 - 49152];
	unsigned distinct = 0;

	(void)state;
	for (uint16_t sp = 1000; sp < 1256; sp++) {
		size_t len = vf_udp(f, A, sp, B, 53, 0);
		uint16_t port = vpc_encap_src_port(f, len);

		assert_true(port >= 49152);
		/* One flow, one port (and so one ECMP path). */
		assert_int_equal(vpc_encap_src_port(f, len), port);
		if (sp == 1000)
			first = port;
		if (!seen[port - 49152]) {
			seen[port - 49152] = 1;
			distinct++;
		}
	}
	/* 256 flows spread over most of the range's ports. */
	assert_true(distinct > 200);
	vf_udp(f, A, 1000, B, 53, 0);
	/* The hash covers the 5-tuple, not the payload. */
	assert_int_equal(vpc_encap_src_port(f, 60), first);
	/* Non-IP frames hash their MAC addresses. */
	alen = vf_arp(f, ARP_OP_REQUEST, vf_mac_a, A, vf_mac_b, B);
	assert_true(vpc_encap_src_port(f, alen) >= 49152);
	assert_true(vpc_encap_src_port(f, 3) >= 49152);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vxlan_bytes),
		cmocka_unit_test(test_geneve_bytes),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_vxlan_reject),
		cmocka_unit_test(test_geneve_reject),
		cmocka_unit_test(test_geneve_options_accepted),
		cmocka_unit_test(test_src_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
