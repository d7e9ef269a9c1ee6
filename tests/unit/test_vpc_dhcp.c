/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ENI's DHCP server: requests laid out byte by byte as RFC 2131 §2 and
 * RFC 2132 define them, replies checked for their IPv4 and UDP checksums
 * (RFC 1071), addressing (RFC 2131 §4.1), BOOTP fields (Table 3) and every
 * option's contents; malformed requests rejected.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/dhcp.h"
#include "tests/unit/vpc_test_eni.h"

#define XID 0x3903f326u
#define BOOTP_OPTS 240                 /* options start after the cookie */
#define REPLY_BOOTP (14 + 20 + 8)

static struct eni eni;
static uint8_t msg[600], frame[700], reply[1024];
static size_t msg_len;
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t guest_mac[6] = { GUEST_MAC };
static const uint8_t router_mac[6] = { ROUTER_MAC };

/* A BOOTREQUEST (RFC 2131 Figure 1) with option 53 = @type. */
static void request(uint8_t type, uint16_t flags, uint32_t ciaddr)
{
	memset(msg, 0, sizeof(msg));
	msg[0] = 1;                            /* op BOOTREQUEST */
	msg[1] = 1;                            /* htype Ethernet */
	msg[2] = 6;                            /* hlen */
	msg[4] = XID >> 24, msg[5] = XID >> 16 & 0xff;
	msg[6] = XID >> 8 & 0xff, msg[7] = XID & 0xff;
	msg[10] = (uint8_t)(flags >> 8), msg[11] = (uint8_t)flags;
	memcpy(msg + 12, &ciaddr, 4);
	memcpy(msg + 28, guest_mac, 6);        /* chaddr */
	msg[236] = 99, msg[237] = 130, msg[238] = 83, msg[239] = 99;
	msg[240] = 53, msg[241] = 1, msg[242] = type;
	msg_len = 243;
}

static void opt(uint8_t code, uint8_t len, const void *data)
{
	msg[msg_len] = code;
	msg[msg_len + 1] = len;
	memcpy(msg + msg_len + 2, data, len);
	msg_len += 2u + len;
}

static void opt_ip(uint8_t code, uint32_t be)
{
	opt(code, 4, &be);
}

/* UDP 68 -> 67 (RFC 2131 §4.1) around the message, checksum 0 (none). */
static size_t udp_frame(const uint8_t *dst_mac, uint32_t saddr, uint32_t daddr)
{
	uint8_t udp[8 + sizeof(msg)];
	size_t len = 8 + msg_len;

	msg[msg_len++] = 255;                  /* End */
	len = 8 + msg_len;
	udp[0] = 0, udp[1] = 68, udp[2] = 0, udp[3] = 67;
	udp[4] = (uint8_t)(len >> 8), udp[5] = (uint8_t)len;
	udp[6] = udp[7] = 0;
	memcpy(udp + 8, msg, msg_len);
	return guest_ipv4_frame(frame, dst_mac, saddr, daddr, 17, udp, len);
}

/* The frame cut to @n bytes: IPv4 and UDP lengths, IPv4 checksum redone. */
static size_t truncate_frame(size_t n)
{
	uint16_t c;

	frame[16] = (uint8_t)((n - 14) >> 8), frame[17] = (uint8_t)(n - 14);
	frame[24] = frame[25] = 0;
	c = pkt_csum_fold(pkt_csum_add(0, frame + 14, 20));
	memcpy(frame + 24, &c, 2);
	frame[38] = (uint8_t)((n - 34) >> 8), frame[39] = (uint8_t)(n - 34);
	return n;
}

static int send_broadcast(void)
{
	size_t n = udp_frame(bcast_mac, 0, 0xffffffff);

	return dhcp_answer(&eni, frame, n, reply, sizeof(reply));
}

/* A reply's option @code: its data and length, NULL if absent. */
static const uint8_t *reply_opt(int n, uint8_t code, size_t *len)
{
	const uint8_t *o = reply + REPLY_BOOTP + BOOTP_OPTS;
	const uint8_t *end = reply + n;

	while (o < end && *o != 255) {
		if (*o == 0) {
			o++;
			continue;
		}
		assert_true(o + 2 <= end && o + 2 + o[1] <= end);
		if (*o == code) {
			*len = o[1];
			return o + 2;
		}
		o += 2 + o[1];
	}
	assert_true(o < end);                  /* End is present */
	return NULL;
}

static uint32_t opt_u32(int n, uint8_t code)
{
	size_t len = 0;
	const uint8_t *p = reply_opt(n, code, &len);
	uint32_t v;

	assert_non_null(p);
	assert_int_equal(len, 4);
	memcpy(&v, p, 4);
	return v;
}

static void assert_opt_str(int n, uint8_t code, const char *want)
{
	size_t len = 0;
	const uint8_t *p = reply_opt(n, code, &len);

	assert_non_null(p);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(p, want, len);
}

/*
 * The reply is a well-formed BOOTREPLY from the gateway's address and the
 * router's MAC to @dst_mac / @dst_ip, of DHCP type @type.
 */
static void check_reply(int n, uint8_t type, const uint8_t *dst_mac,
			uint32_t dst_ip)
{
	const uint8_t *bootp = reply + REPLY_BOOTP;
	uint32_t v;
	size_t len;

	assert_true(n >= REPLY_BOOTP + 300);       /* RFC 1542 minimum */
	assert_int_equal(check_ipv4_reply(reply, (size_t)n, 17),
			 (size_t)n - 34);
	assert_memory_equal(reply, dst_mac, 6);
	assert_memory_equal(reply + 6, router_mac, 6);
	memcpy(&v, reply + 26, 4);
	assert_int_equal(v, eni.gateway);
	memcpy(&v, reply + 30, 4);
	assert_int_equal(v, dst_ip);
	assert_int_equal(reply[34] << 8 | reply[35], 67);
	assert_int_equal(reply[36] << 8 | reply[37], 68);
	assert_int_equal(reply[38] << 8 | reply[39], n - 34);

	assert_int_equal(bootp[0], 2);             /* BOOTREPLY */
	assert_int_equal(bootp[1], 1);
	assert_int_equal(bootp[2], 6);
	assert_int_equal(bootp[3], 0);
	assert_memory_equal(bootp + 4, msg + 4, 4);     /* xid */
	assert_memory_equal(bootp + 10, msg + 10, 2);   /* flags */
	assert_memory_equal(bootp + 28, guest_mac, 6);  /* chaddr */
	assert_memory_equal(bootp + 236, msg + 236, 4); /* cookie */
	assert_non_null(reply_opt(n, 53, &len));
	assert_int_equal(len, 1);
	assert_int_equal(*reply_opt(n, 53, &len), type);
	assert_int_equal(opt_u32(n, 54), eni.gateway);
}

static uint32_t yiaddr(void)
{
	uint32_t v;

	memcpy(&v, reply + REPLY_BOOTP + 16, 4);
	return v;
}

static uint32_t ciaddr(void)
{
	uint32_t v;

	memcpy(&v, reply + REPLY_BOOTP + 12, 4);
	return v;
}

/* The configuration an OFFER and an ACK carry, option by option. */
static void check_config(int n, bool lease)
{
	size_t len = 0;
	const uint8_t *mtu = reply_opt(n, 26, &len);

	if (lease) {
		assert_int_equal(opt_u32(n, 51), htonl(3600));
		assert_int_equal(opt_u32(n, 58), htonl(1800));
		assert_int_equal(opt_u32(n, 59), htonl(3150));
	} else {
		assert_null(reply_opt(n, 51, &len));
	}
	assert_int_equal(opt_u32(n, 1), IP4(255, 255, 255, 0));
	assert_int_equal(opt_u32(n, 28), IP4(10, 0, 1, 255));
	assert_int_equal(opt_u32(n, 3), IP4(10, 0, 1, 1));
	assert_int_equal(opt_u32(n, 6), IP4(10, 0, 0, 2));
	assert_opt_str(n, 12, "ip-10-0-1-23");
	assert_opt_str(n, 15, "ec2.internal");
	mtu = reply_opt(n, 26, &len);
	assert_non_null(mtu);
	assert_int_equal(len, 2);
	assert_int_equal(mtu[0] << 8 | mtu[1], 9001);
}

static int setup(void **state)
{
	(void)state;
	test_eni(&eni);
	return 0;
}

static void test_discover_offer_unicast(void **state)
{
	int n;

	(void)state;
	request(1, 0, 0);
	n = send_broadcast();
	check_reply(n, 2, guest_mac, eni.ipv4);
	assert_int_equal(yiaddr(), eni.ipv4);
	assert_int_equal(ciaddr(), 0);
	check_config(n, true);
}

static void test_discover_broadcast_flag(void **state)
{
	int n;

	(void)state;
	request(1, 0x8000, 0);
	n = send_broadcast();
	check_reply(n, 2, bcast_mac, 0xffffffff);
	assert_int_equal(yiaddr(), eni.ipv4);
}

static void test_request_selecting_ack(void **state)
{
	int n;

	(void)state;
	request(3, 0, 0);
	opt_ip(50, eni.ipv4);
	opt_ip(54, eni.gateway);
	n = send_broadcast();
	check_reply(n, 5, guest_mac, eni.ipv4);
	assert_int_equal(yiaddr(), eni.ipv4);
	check_config(n, true);
}

static void test_request_wrong_address_nak(void **state)
{
	size_t len;
	int n;

	(void)state;
	/* SELECTING with an address not offered. */
	request(3, 0, 0);
	opt_ip(50, IP4(10, 0, 1, 99));
	opt_ip(54, eni.gateway);
	n = send_broadcast();
	check_reply(n, 6, bcast_mac, 0xffffffff);
	assert_int_equal(yiaddr(), 0);
	assert_null(reply_opt(n, 51, &len));
	assert_null(reply_opt(n, 1, &len));
	assert_non_null(reply_opt(n, 56, &len));
	/* INIT-REBOOT from another network's lease. */
	request(3, 0, 0);
	opt_ip(50, IP4(192, 168, 0, 10));
	n = send_broadcast();
	check_reply(n, 6, bcast_mac, 0xffffffff);
	/* INIT-REBOOT on the right address. */
	request(3, 0, 0);
	opt_ip(50, eni.ipv4);
	n = send_broadcast();
	check_reply(n, 5, guest_mac, eni.ipv4);
}

static void test_request_renewing_unicast(void **state)
{
	size_t n;
	int r;

	(void)state;
	request(3, 0, eni.ipv4);
	n = udp_frame(router_mac, eni.ipv4, eni.gateway);
	r = dhcp_answer(&eni, frame, n, reply, sizeof(reply));
	check_reply(r, 5, guest_mac, eni.ipv4);
	assert_int_equal(ciaddr(), eni.ipv4);
	assert_int_equal(yiaddr(), eni.ipv4);
	/* Renewing an address that is not the ENI's. */
	request(3, 0, IP4(10, 0, 1, 50));
	n = udp_frame(router_mac, IP4(10, 0, 1, 50), eni.gateway);
	r = dhcp_answer(&eni, frame, n, reply, sizeof(reply));
	check_reply(r, 6, bcast_mac, 0xffffffff);
}

static void test_inform_ack_without_lease(void **state)
{
	size_t n;
	int r;

	(void)state;
	request(8, 0, eni.ipv4);
	n = udp_frame(bcast_mac, eni.ipv4, 0xffffffff);
	r = dhcp_answer(&eni, frame, n, reply, sizeof(reply));
	check_reply(r, 5, guest_mac, eni.ipv4);
	assert_int_equal(yiaddr(), 0);
	check_config(r, false);
}

static void test_no_reply_needed(void **state)
{
	size_t n;

	(void)state;
	/* A REQUEST that chose another server's offer. */
	request(3, 0, 0);
	opt_ip(50, eni.ipv4);
	opt_ip(54, IP4(10, 0, 1, 5));
	assert_int_equal(send_broadcast(), 0);
	request(7, 0, eni.ipv4);                      /* RELEASE */
	n = udp_frame(router_mac, eni.ipv4, eni.gateway);
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, sizeof(reply)), 0);
	request(4, 0, 0);                             /* DECLINE */
	opt_ip(50, eni.ipv4);
	opt_ip(54, eni.gateway);
	assert_int_equal(send_broadcast(), 0);
	/* Relayed (giaddr set). */
	request(1, 0, 0);
	msg[24] = 10, msg[25] = 0, msg[26] = 1, msg[27] = 9;
	assert_int_equal(send_broadcast(), 0);
	/* To another port, and to a server elsewhere in the VPC. */
	request(1, 0, 0);
	n = udp_frame(bcast_mac, 0, 0xffffffff);
	frame[37] = 53;
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, sizeof(reply)), 0);
	request(1, 0, 0);
	n = udp_frame(router_mac, eni.ipv4, IP4(10, 0, 1, 5));
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, sizeof(reply)), 0);
}

static void test_malformed_rejected(void **state)
{
	size_t n;

	(void)state;
	/* An option whose length runs past the end of the message. */
	request(1, 0, 0);
	msg[msg_len++] = 12, msg[msg_len++] = 40;
	memcpy(msg + msg_len, "abc", 3);
	msg_len += 3;
	n = truncate_frame(udp_frame(bcast_mac, 0, 0xffffffff) - 1);
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, sizeof(reply)),
			 -EINVAL);
	/* An option's length byte itself missing. */
	request(1, 0, 0);
	msg[msg_len++] = 50;
	n = truncate_frame(udp_frame(bcast_mac, 0, 0xffffffff) - 1);
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, sizeof(reply)),
			 -EINVAL);
	/* BOOTP fields: op, htype, hlen, magic cookie. */
	request(1, 0, 0);
	msg[0] = 2;
	assert_int_equal(send_broadcast(), -EINVAL);
	request(1, 0, 0);
	msg[1] = 6;
	assert_int_equal(send_broadcast(), -EINVAL);
	request(1, 0, 0);
	msg[2] = 16;
	assert_int_equal(send_broadcast(), -EINVAL);
	request(1, 0, 0);
	msg[239] = 98;
	assert_int_equal(send_broadcast(), -EINVAL);
	/* No message type; a type of the wrong length; a server's type. */
	request(1, 0, 0);
	msg[240] = 0, msg[241] = 0, msg[242] = 0;     /* pads */
	assert_int_equal(send_broadcast(), -EINVAL);
	request(1, 0, 0);
	msg[241] = 2, msg[243] = 0, msg_len = 244;
	assert_int_equal(send_broadcast(), -EINVAL);
	request(2, 0, 0);
	assert_int_equal(send_broadcast(), -EINVAL);
	/* A REQUEST naming neither address nor server nor ciaddr. */
	request(3, 0, 0);
	assert_int_equal(send_broadcast(), -EINVAL);
	/* Truncated BOOTP, UDP length beyond the datagram, bad IP checksum. */
	request(1, 0, 0);
	n = udp_frame(bcast_mac, 0, 0xffffffff);
	frame[38] = 0, frame[39] = 8 + 200;
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, sizeof(reply)),
			 -EINVAL);
	frame[38] = 0x10;
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, sizeof(reply)),
			 -EINVAL);
	request(1, 0, 0);
	n = udp_frame(bcast_mac, 0, 0xffffffff);
	frame[24] ^= 0xff;
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, sizeof(reply)),
			 -EINVAL);
	assert_int_equal(dhcp_answer(&eni, frame, 30, reply, sizeof(reply)),
			 -EINVAL);
}

static void test_other_client_refused(void **state)
{
	(void)state;
	request(1, 0, 0);
	msg[33] ^= 1;                                  /* chaddr */
	assert_int_equal(send_broadcast(), -EPERM);
	request(8, 0, 0);                              /* INFORM, no ciaddr */
	assert_int_equal(send_broadcast(), -EPERM);
	request(8, 0, IP4(10, 0, 1, 99));
	assert_int_equal(send_broadcast(), -EPERM);
}

static void test_small_reply_buffer(void **state)
{
	size_t n;

	(void)state;
	request(1, 0, 0);
	n = udp_frame(bcast_mac, 0, 0xffffffff);
	assert_int_equal(dhcp_answer(&eni, frame, n, reply, 300), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_discover_offer_unicast, setup),
		cmocka_unit_test_setup(test_discover_broadcast_flag, setup),
		cmocka_unit_test_setup(test_request_selecting_ack, setup),
		cmocka_unit_test_setup(test_request_wrong_address_nak, setup),
		cmocka_unit_test_setup(test_request_renewing_unicast, setup),
		cmocka_unit_test_setup(test_inform_ack_without_lease, setup),
		cmocka_unit_test_setup(test_no_reply_needed, setup),
		cmocka_unit_test_setup(test_malformed_rejected, setup),
		cmocka_unit_test_setup(test_other_client_refused, setup),
		cmocka_unit_test_setup(test_small_reply_buffer, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
