/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC router's ARP answers (RFC 826): requests written byte by byte,
 * replies checked field by field against the packet format, and every
 * malformed or spoofed request rejected.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/arp.h"
#include "tests/unit/vpc_test_eni.h"

static struct eni eni;
static uint8_t req[64], reply[64];

/* RFC 826 request from the guest (10.0.1.23) for @a.@b.@c.@d. */
static void who_has(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	static const uint8_t tmpl[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   /* broadcast */
		GUEST_MAC, 0x08, 0x06,
		0x00, 0x01,                           /* htype Ethernet */
		0x08, 0x00,                           /* ptype IPv4 */
		6, 4,                                 /* hlen, plen */
		0x00, 0x01,                           /* op request */
		GUEST_MAC, 10, 0, 1, 23,              /* sha, spa */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0,         /* tha, tpa */
	};

	memset(req, 0, sizeof(req));
	memcpy(req, tmpl, sizeof(tmpl));
	req[38] = a, req[39] = b, req[40] = c, req[41] = d;
}

static int answer(size_t len)
{
	memset(reply, 0xaa, sizeof(reply));
	return arp_answer(&eni, req, len, reply, sizeof(reply));
}

static int setup(void **state)
{
	(void)state;
	test_eni(&eni);
	return 0;
}

static void test_gateway_reply_fields(void **state)
{
	static const uint8_t want[42] = {
		GUEST_MAC, ROUTER_MAC, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6, 4,
		0x00, 0x02,                            /* op reply */
		ROUTER_MAC, 10, 0, 1, 1,               /* sha, spa = gateway */
		GUEST_MAC, 10, 0, 1, 23,               /* tha, tpa = asker */
	};

	(void)state;
	who_has(10, 0, 1, 1);
	assert_int_equal(answer(42), 42);
	assert_memory_equal(reply, want, sizeof(want));
	/* Ethernet padding after the ARP packet changes nothing. */
	assert_int_equal(answer(60), 42);
	assert_memory_equal(reply, want, sizeof(want));
}

static void test_other_subnet_hosts_get_router_mac(void **state)
{
	static const uint8_t router[6] = { ROUTER_MAC };
	static const uint8_t targets[][4] = {
		{ 10, 0, 1, 2 }, { 10, 0, 1, 77 }, { 10, 0, 1, 254 },
		{ 169, 254, 169, 254 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		who_has(targets[i][0], targets[i][1], targets[i][2],
			targets[i][3]);
		assert_int_equal(answer(42), 42);
		assert_memory_equal(reply + 22, router, 6);          /* sha */
		assert_memory_equal(reply + 28, targets[i], 4);      /* spa */
	}
}

static void test_nothing_to_answer(void **state)
{
	(void)state;
	/* The guest's own address: a conflict check no one else answers. */
	who_has(10, 0, 1, 23);
	assert_int_equal(answer(42), 0);
	/* RFC 5227 probe: sender address 0. */
	who_has(10, 0, 1, 23);
	memset(req + 28, 0, 4);
	assert_int_equal(answer(42), 0);
	/* Outside the subnet, and its network and broadcast addresses. */
	who_has(10, 0, 2, 5);
	assert_int_equal(answer(42), 0);
	who_has(8, 8, 8, 8);
	assert_int_equal(answer(42), 0);
	who_has(10, 0, 1, 0);
	assert_int_equal(answer(42), 0);
	who_has(10, 0, 1, 255);
	assert_int_equal(answer(42), 0);
	/* Gratuitous ARP: spa == tpa, as request and as reply. */
	who_has(10, 0, 1, 23);
	assert_int_equal(answer(42), 0);
	who_has(10, 0, 1, 1);
	req[21] = 2;
	assert_int_equal(answer(42), 0);
	/* Not ARP at all. */
	who_has(10, 0, 1, 1);
	req[12] = 0x08, req[13] = 0x00;
	assert_int_equal(answer(42), 0);
	assert_int_equal(answer(10), 0);
}

static void test_malformed_rejected(void **state)
{
	static const struct { size_t off; uint8_t val; } bad[] = {
		{ 15, 6 },      /* htype IEEE 802 */
		{ 16, 0x86 },   /* ptype 0x8600: not IPv4 */
		{ 18, 8 },      /* hlen */
		{ 19, 16 },     /* plen */
		{ 21, 3 },      /* op RARP request */
		{ 20, 1 },      /* op 0x0101 */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		who_has(10, 0, 1, 1);
		req[bad[i].off] = bad[i].val;
		assert_int_equal(answer(42), -EINVAL);
	}
	who_has(10, 0, 1, 1);
	assert_int_equal(answer(41), -EINVAL);
	assert_int_equal(answer(14), -EINVAL);
}

static void test_spoofed_sender_rejected(void **state)
{
	(void)state;
	who_has(10, 0, 1, 1);
	req[27] ^= 1;                   /* sha */
	assert_int_equal(answer(42), -EPERM);
	who_has(10, 0, 1, 1);
	req[11] ^= 1;                   /* Ethernet source */
	assert_int_equal(answer(42), -EPERM);
	who_has(10, 0, 1, 1);
	req[31] = 99;                   /* spa 10.0.1.99: not the ENI's */
	assert_int_equal(answer(42), -EPERM);
}

static void test_small_reply_buffer(void **state)
{
	(void)state;
	who_has(10, 0, 1, 1);
	assert_int_equal(arp_answer(&eni, req, 42, reply, 41), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_gateway_reply_fields, setup),
		cmocka_unit_test_setup(test_other_subnet_hosts_get_router_mac,
				       setup),
		cmocka_unit_test_setup(test_nothing_to_answer, setup),
		cmocka_unit_test_setup(test_malformed_rejected, setup),
		cmocka_unit_test_setup(test_spoofed_sender_rejected, setup),
		cmocka_unit_test_setup(test_small_reply_buffer, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
