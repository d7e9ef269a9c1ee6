/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stateful filtering through vpc_filter(): allowed and denied flows, return
 * traffic, the TCP state machine (handshake, teardown, RST, reuse), UDP and
 * ICMP echo, RELATED ICMP errors, timeouts on an injected clock, and a flood
 * of new flows against the table's limit with every drop counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/filter.h"
#include "tests/tools/vpc_frames.h"

#define GUEST VF_IP(172, 31, 0, 10)
#define PEER VF_IP(93, 184, 216, 34)
#define SEC 1000000000ULL
#define IN VPC_DIR_INGRESS
#define OUT VPC_DIR_EGRESS

static const struct vpc_hash_secret secret = { 0x0123456789abcdefULL, 42 };
static struct vpc_filter filt;
static uint64_t now;

static int setup(void **state)
{
	(void)state;
	now = 1000 * SEC;
	return vpc_filter_init(&filt, "eni-test", 64, &secret);
}

static int teardown(void **state)
{
	(void)state;
	vpc_filter_destroy(&filt);
	return 0;
}

static void rules(const char *text)
{
	char err[128] = "";

	if (vpc_sg_parse(&filt.sg, text, strlen(text), err, sizeof(err)))
		fail_msg("rules rejected: %s", err);
}

/* Runs a frame through the filter; returns VPC_DROP_NONE if it passed. */
static enum vpc_drop run(enum vpc_dir dir, const uint8_t *f, size_t len)
{
	enum vpc_drop reason;
	int ret = vpc_filter(&filt, dir, f, len, now, &reason);

	assert_int_equal(ret, reason == VPC_DROP_NONE ? 0 : -EPERM);
	return reason;
}

/* A TCP segment between the guest's port 40000 and the peer's port 443. */
static enum vpc_drop tcp(enum vpc_dir dir, uint8_t flags)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = dir == OUT ? vf_tcp(f, GUEST, 40000, PEER, 443, flags)
				: vf_tcp(f, PEER, 443, GUEST, 40000, flags);

	return run(dir, f, len);
}

static int tcp_state(void)
{
	struct vpc_flow_key k = {
		htonl(GUEST), htonl(PEER), 40000, 443, 6, { 0 },
	};

	return vpc_ct_state(&filt.ct, &k, now, NULL);
}

static void test_handshake_and_close(void **state)
{
	(void)state;
	/* Nothing tracked, no ingress rule: an unsolicited segment is denied. */
	assert_int_equal(tcp(IN, TCP_SYN | TCP_ACK), VPC_DROP_SG);
	assert_int_equal(tcp_state(), -ENOENT);

	assert_int_equal(tcp(OUT, TCP_SYN), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_SYN_SENT);
	/* Before the SYN+ACK, a bare ACK from the peer is not valid. */
	assert_int_equal(tcp(IN, TCP_ACK), VPC_DROP_CT_INVALID);
	assert_int_equal(tcp(IN, TCP_SYN | TCP_ACK), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_SYN_RECV);
	assert_int_equal(tcp(OUT, TCP_ACK), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_ESTABLISHED);
	assert_int_equal(tcp(IN, TCP_ACK | TCP_PSH), VPC_DROP_NONE);

	assert_int_equal(tcp(OUT, TCP_FIN | TCP_ACK), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_FIN_WAIT);
	assert_int_equal(tcp(IN, TCP_FIN | TCP_ACK), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_LAST_ACK);
	assert_int_equal(tcp(OUT, TCP_ACK), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_TIME_WAIT);

	/* TIME_WAIT lasts 120 s, then the return path is closed. */
	now += 119 * SEC;
	assert_int_equal(tcp(IN, TCP_ACK), VPC_DROP_NONE);
	now += 121 * SEC;
	assert_int_equal(tcp(IN, TCP_ACK), VPC_DROP_SG);
	assert_int_equal(filt.drops[VPC_DROP_SG], 2);
	assert_int_equal(filt.drops[VPC_DROP_CT_INVALID], 1);
	assert_int_equal(filt.ct.stats.expired, 1);
}

static void test_rst_and_reuse(void **state)
{
	(void)state;
	assert_int_equal(tcp(OUT, TCP_SYN), VPC_DROP_NONE);
	assert_int_equal(tcp(IN, TCP_RST | TCP_ACK), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_CLOSE);
	/* The port is reused for a new connection straight away. */
	assert_int_equal(tcp(OUT, TCP_SYN), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_SYN_SENT);
	assert_int_equal(tcp(IN, TCP_SYN | TCP_ACK), VPC_DROP_NONE);
	assert_int_equal(tcp(OUT, TCP_ACK), VPC_DROP_NONE);
	assert_int_equal(tcp(OUT, TCP_RST), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), VPC_CT_CLOSE);
	/* CLOSE lingers 10 s for stray segments, then nothing comes in. */
	now += 9 * SEC;
	assert_int_equal(tcp(IN, TCP_ACK), VPC_DROP_NONE);
	now += 11 * SEC;
	assert_int_equal(tcp(IN, TCP_ACK), VPC_DROP_SG);
	assert_int_equal(tcp_state(), -ENOENT);
	/* A reset with no connection passes if allowed, and tracks nothing. */
	assert_int_equal(tcp(OUT, TCP_RST), VPC_DROP_NONE);
	assert_int_equal(tcp_state(), -ENOENT);
}

static void test_bad_flags_and_timeout(void **state)
{
	(void)state;
	assert_int_equal(tcp(OUT, TCP_SYN | TCP_FIN), VPC_DROP_TCP_FLAGS);
	assert_int_equal(tcp(OUT, TCP_SYN | TCP_RST), VPC_DROP_TCP_FLAGS);
	assert_int_equal(tcp(OUT, 0), VPC_DROP_TCP_FLAGS);
	assert_int_equal(tcp(OUT, TCP_FIN), VPC_DROP_TCP_FLAGS);
	assert_int_equal(filt.drops[VPC_DROP_TCP_FLAGS], 4);
	assert_int_equal(tcp_state(), -ENOENT);
	/* An unanswered SYN is forgotten after SYN_SENT's 120 s. */
	assert_int_equal(tcp(OUT, TCP_SYN), VPC_DROP_NONE);
	now += 120 * SEC;
	assert_int_equal(tcp_state(), -ENOENT);
	assert_int_equal(tcp(IN, TCP_SYN | TCP_ACK), VPC_DROP_SG);
}

static void test_ingress_rule(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len;

	(void)state;
	rules("ingress tcp 22 0.0.0.0/0\n");
	len = vf_tcp(f, PEER, 50000, GUEST, 22, TCP_SYN);
	assert_int_equal(run(IN, f, len), VPC_DROP_NONE);
	/* No egress rule at all, yet the reply of the allowed flow leaves. */
	len = vf_tcp(f, GUEST, 22, PEER, 50000, TCP_SYN | TCP_ACK);
	assert_int_equal(run(OUT, f, len), VPC_DROP_NONE);
	len = vf_tcp(f, GUEST, 22, PEER, 50001, TCP_SYN | TCP_ACK);
	assert_int_equal(run(OUT, f, len), VPC_DROP_SG);
	len = vf_tcp(f, GUEST, 40000, PEER, 443, TCP_SYN);
	assert_int_equal(run(OUT, f, len), VPC_DROP_SG);
}

static void test_udp(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t q = vf_udp(f, GUEST, 5353, PEER, 53, 20);
	uint8_t r[VF_FRAME_MAX];
	size_t rl = vf_udp(r, PEER, 53, GUEST, 5353, 40);
	uint8_t o[VF_FRAME_MAX];
	size_t ol = vf_udp(o, PEER, 53, GUEST, 5354, 40);
	struct vpc_flow_key k = { htonl(GUEST), htonl(PEER), 5353, 53, 17, { 0 } };
	bool replied = true;

	(void)state;
	assert_int_equal(run(OUT, f, q), VPC_DROP_NONE);
	assert_int_equal(vpc_ct_state(&filt.ct, &k, now, &replied), VPC_CT_NONE);
	assert_false(replied);
	assert_int_equal(run(IN, o, ol), VPC_DROP_SG);    /* other port */
	now += 29 * SEC;
	assert_int_equal(run(IN, r, rl), VPC_DROP_NONE);
	assert_int_equal(vpc_ct_state(&filt.ct, &k, now, &replied), VPC_CT_NONE);
	assert_true(replied);
	/* Answered flows live 120 s from their last packet. */
	now += 119 * SEC;
	assert_int_equal(run(IN, r, rl), VPC_DROP_NONE);
	now += 120 * SEC;
	assert_int_equal(run(IN, r, rl), VPC_DROP_SG);
	/* Unanswered ones 30 s. */
	assert_int_equal(run(OUT, f, q), VPC_DROP_NONE);
	now += 30 * SEC;
	assert_int_equal(run(IN, r, rl), VPC_DROP_SG);
}

static void test_icmp_echo(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len;

	(void)state;
	len = vf_icmp_echo(f, GUEST, PEER, ICMP_ECHO_REQUEST, 77, 1, 56);
	assert_int_equal(run(OUT, f, len), VPC_DROP_NONE);
	len = vf_icmp_echo(f, PEER, GUEST, ICMP_ECHO_REPLY, 77, 1, 56);
	assert_int_equal(run(IN, f, len), VPC_DROP_NONE);
	len = vf_icmp_echo(f, PEER, GUEST, ICMP_ECHO_REPLY, 78, 1, 56);
	assert_int_equal(run(IN, f, len), VPC_DROP_SG);
	/* A request the other way on the same identifier is no reply. */
	len = vf_icmp_echo(f, PEER, GUEST, ICMP_ECHO_REQUEST, 77, 1, 56);
	assert_int_equal(run(IN, f, len), VPC_DROP_CT_INVALID);
	now += 30 * SEC;
	len = vf_icmp_echo(f, PEER, GUEST, ICMP_ECHO_REPLY, 77, 2, 56);
	assert_int_equal(run(IN, f, len), VPC_DROP_SG);
}

static void test_icmp_other_types(void **state)
{
	uint8_t f[VF_FRAME_MAX], q[VF_FRAME_MAX];
	size_t len;

	(void)state;
	/* An echo with identifier 0: its key has zero "ports"... */
	len = vf_icmp_echo(f, GUEST, PEER, ICMP_ECHO_REQUEST, 0, 1, 0);
	assert_int_equal(run(OUT, f, len), VPC_DROP_NONE);
	/* ...like every other ICMP type, which it must not capture. */
	len = vf_ipv4(f, PEER, GUEST, 1, (uint8_t[8]){ 13 }, 8);  /* timestamp */
	assert_int_equal(run(IN, f, len), VPC_DROP_SG);
	rules("ingress icmp 13 0.0.0.0/0\negress all 0.0.0.0/0\n");
	assert_int_equal(run(IN, f, len), VPC_DROP_NONE);
	len = vf_udp(q, GUEST, 1, PEER, 2, 0);
	assert_int_equal(run(OUT, q, len), VPC_DROP_NONE);
	len = vf_icmp_error(f, PEER, GUEST, ICMP_DEST_UNREACH, 3, q);
	assert_int_equal(run(IN, f, len), VPC_DROP_NONE);
	assert_int_equal(filt.ct.stats.invalid, 0);
}

static void test_related_icmp_error(void **state)
{
	uint8_t q[VF_FRAME_MAX], f[VF_FRAME_MAX];
	size_t ql = vf_udp(q, GUEST, 33434, PEER, 33435, 0), len;

	(void)state;
	/* An error about a flow nobody sent is denied... */
	len = vf_icmp_error(f, VF_IP(10, 0, 0, 254), GUEST, ICMP_DEST_UNREACH, 4, q);
	assert_int_equal(run(IN, f, len), VPC_DROP_SG);
	/* ...and passes once the flow it quotes is tracked (PMTU discovery). */
	assert_int_equal(run(OUT, q, ql), VPC_DROP_NONE);
	assert_int_equal(run(IN, f, len), VPC_DROP_NONE);
	len = vf_icmp_error(f, VF_IP(10, 0, 0, 254), GUEST, 11, 0, q);
	assert_int_equal(run(IN, f, len), VPC_DROP_NONE);
}

static void test_arp_and_malformed(void **state)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_arp(f, ARP_OP_REQUEST, vf_mac_a, PEER, vf_mac_b, GUEST);

	(void)state;
	rules("");
	assert_int_equal(run(IN, f, len), VPC_DROP_NONE);
	assert_int_equal(run(IN, f, 10), VPC_DROP_RUNT);
	assert_int_equal(filt.drops[VPC_DROP_RUNT], 1);
	assert_int_equal(filt.passed, 1);
}

/* A new flow from the guest's port @port to the peer, SYN only. */
static enum vpc_drop syn_from(uint16_t port)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_tcp(f, GUEST, port, PEER, 443, TCP_SYN);

	return run(OUT, f, len);
}

static void establish(uint16_t port)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len;

	assert_int_equal(syn_from(port), VPC_DROP_NONE);
	len = vf_tcp(f, PEER, 443, GUEST, port, TCP_SYN | TCP_ACK);
	assert_int_equal(run(IN, f, len), VPC_DROP_NONE);
}

static bool alive(uint16_t port)
{
	struct vpc_flow_key k = { htonl(GUEST), htonl(PEER), port, 443, 6, { 0 } };

	return vpc_ct_state(&filt.ct, &k, now, NULL) >= 0;
}

static void test_flood(void **state)
{
	const uint32_t max = filt.ct.max, flood = 1000, kept = 8;

	(void)state;
	for (uint16_t p = 1; p <= kept; p++)
		establish(p);
	/* Every new flow displaces the oldest unanswered one. */
	for (uint32_t i = 0; i < flood; i++) {
		now += 1000;
		assert_int_equal(syn_from((uint16_t)(10000 + i)), VPC_DROP_NONE);
		assert_true(filt.ct.count <= max);
	}
	assert_int_equal(filt.ct.count, max);
	assert_int_equal(filt.ct.stats.evicted, kept + flood - max);
	assert_int_equal(filt.ct.stats.full, 0);
	for (uint16_t p = 1; p <= kept; p++)
		assert_true(alive(p));              /* answered: never evicted */
	assert_false(alive(10000));                 /* oldest flood entry */
	assert_true(alive((uint16_t)(10000 + flood - 1)));

	/* A table of answered flows refuses new ones, counting each. */
	for (uint16_t p = 100; p < 100 + max - kept; p++)
		establish(p);
	assert_int_equal(filt.ct.stats.evicted, flood);
	assert_int_equal(syn_from(30000), VPC_DROP_CT_FULL);
	assert_int_equal(syn_from(30001), VPC_DROP_CT_FULL);
	assert_int_equal(filt.drops[VPC_DROP_CT_FULL], 2);
	assert_int_equal(filt.ct.stats.full, 2);
	assert_int_equal(filt.ct.count, max);

	/* Once they time out, their slots are taken back. */
	now += vpc_ct_default_timeouts.tcp[VPC_CT_SYN_RECV];
	assert_int_equal(syn_from(30000), VPC_DROP_NONE);
	assert_int_equal(filt.ct.stats.expired, 1);
	assert_int_equal(vpc_ct_expire(&filt.ct, now, max), max - 1);
	assert_int_equal(filt.ct.count, 1);
	assert_true(alive(30000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_flags_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingress_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_other_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_related_icmp_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_and_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
