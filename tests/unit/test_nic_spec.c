// SPDX-License-Identifier: Apache-2.0
/* `cardvisor run --nic` specifications (tools/lib/nic_spec.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tools/lib/nic_spec.h"

static void test_defaults(void **state)
{
	struct nic_spec n, m;
	struct in_addr a;
	char err[160];
	uint32_t host;

	(void)state;
	assert_int_equal(nic_spec_parse("subnet=10.0.1.0/24", &n, err, sizeof(err)), 0);
	assert_string_equal(n.subnet, "10.0.1.0/24");
	assert_string_equal(n.encap, "vxlan");
	assert_string_equal(n.underlay, "0.0.0.0:4789");
	assert_int_equal(n.vni, 1);
	assert_int_equal(n.conntrack, 65536);
	assert_int_equal(strncmp(n.id, "eni-", 4), 0);
	assert_int_equal(strlen(n.id), 21);
	/* Locally administered unicast. */
	assert_int_equal(n.mac[0], 0x02);
	assert_string_equal(n.sg, "");
	/* An address AWS would give: not the first four, not the broadcast. */
	assert_int_equal(inet_pton(AF_INET, n.ipv4, &a), 1);
	host = ntohl(a.s_addr) - 0x0a000100;
	assert_true(host >= 4 && host <= 254);

	assert_int_equal(nic_spec_parse("subnet=10.0.1.0/24,encap=geneve", &m, err,
					sizeof(err)), 0);
	assert_string_equal(m.underlay, "0.0.0.0:6081");
	assert_string_not_equal(m.id, n.id);
}

static void test_explicit(void **state)
{
	struct nic_spec n;
	char err[160];

	(void)state;
	assert_int_equal(nic_spec_parse("subnet=172.16.0.0/16,ip=172.16.9.9,mac=0e:01:02:03:04:05,"
					"vni=16777215,underlay=127.0.0.1:5000,conntrack=64",
					&n, err, sizeof(err)), 0);
	assert_string_equal(n.ipv4, "172.16.9.9");
	assert_int_equal(n.mac[0], 0x0e);
	assert_int_equal(n.mac[5], 0x05);
	assert_int_equal(n.vni, 16777215);
	assert_string_equal(n.underlay, "127.0.0.1:5000");
	assert_int_equal(n.conntrack, 64);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"ip=10.0.1.5",                          /* no subnet */
		"subnet=10.0.1.0",                      /* no prefix */
		"subnet=10.0.1.0/8",                    /* wider than a VPC subnet */
		"subnet=10.0.1.0/30",                   /* narrower */
		"subnet=10.0.1.1/24",                   /* host bits */
		"subnet=10.0.1.0/24,ip=10.0.2.5",       /* outside */
		"subnet=10.0.1.0/24,ip=10.0.1.3",       /* reserved by the VPC */
		"subnet=10.0.1.0/24,ip=10.0.1.255",     /* broadcast */
		"subnet=10.0.1.0/24,mac=01:00:5e:00:00:01", /* multicast */
		"subnet=10.0.1.0/24,mac=02:00",
		"subnet=10.0.1.0/24,vni=16777216",
		"subnet=10.0.1.0/24,encap=gre",
		"subnet=10.0.1.0/24,underlay=4789",
		"subnet=10.0.1.0/24,sg=/nonexistent/sg",
		"subnet=10.0.1.0/24,conntrack=1",
		"subnet=10.0.1.0/24,speed=fast",
		"subnet=10.0.1.0/24,id=eni-0123",       /* too short */
		"subnet=10.0.1.0/24,id=eni-0123456789abcdefG",
		"subnet=10.0.1.0/24,id=i-0123456789abcdef0",
	};
	struct nic_spec n;
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(nic_spec_parse(bad[i], &n, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
}

/* What nic_spec_format() writes reads back as the same NIC (the fleet's hosts do). */
static void test_format_round_trip(void **state)
{
	struct nic_spec n, m;
	char err[160], spec[512];

	(void)state;
	assert_int_equal(nic_spec_parse("subnet=10.0.1.0/24,vni=7,encap=geneve,conntrack=128",
					&n, err, sizeof(err)), 0);
	assert_false(n.ip_given);
	assert_int_equal(nic_spec_format(&n, spec, sizeof(spec)), 0);
	assert_int_equal(nic_spec_parse(spec, &m, err, sizeof(err)), 0);
	assert_true(m.ip_given);
	assert_string_equal(m.ipv4, n.ipv4);
	assert_string_equal(m.id, n.id);
	assert_memory_equal(m.mac, n.mac, 6);
	assert_int_equal(m.vni, 7);
	assert_string_equal(m.encap, "geneve");
	assert_int_equal(m.conntrack, 128);
	assert_string_equal(m.subnet, "10.0.1.0/24");
	assert_int_equal(nic_spec_format(&n, spec, 40), -ENAMETOOLONG);
}

static bool all_but_27(void *arg, const char *ip)
{
	(void)arg;
	return strcmp(ip, "10.9.0.27") != 0;
}

static bool all_taken(void *arg, const char *ip)
{
	(void)arg;
	(void)ip;
	return true;
}

/* A re-picked address stays a hand-out-able host of the subnet; a given one stays. */
static void test_pick_ip(void **state)
{
	struct nic_spec n;
	char err[160];
	bool moved = false;

	(void)state;
	assert_int_equal(nic_spec_parse("subnet=10.9.0.16/28", &n, err, sizeof(err)), 0);
	for (int i = 0; i < 200; i++) {
		char before[16];
		unsigned a, b, c, d;

		snprintf(before, sizeof(before), "%s", n.ipv4);
		assert_int_equal(nic_spec_pick_ip(&n, NULL, NULL), 0);
		moved |= strcmp(before, n.ipv4) != 0;
		assert_int_equal(sscanf(n.ipv4, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
		assert_true(a == 10 && b == 9 && c == 0 && d >= 16 + 4 && d <= 16 + 14);
	}
	assert_true(moved);
	/* All but .27 taken: .27 it is, whatever the random start. */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(nic_spec_pick_ip(&n, all_but_27, NULL), 0);
		assert_string_equal(n.ipv4, "10.9.0.27");
	}
	assert_int_equal(nic_spec_pick_ip(&n, all_taken, NULL), -EADDRNOTAVAIL);
	assert_int_equal(nic_spec_parse("subnet=10.9.0.16/28,ip=10.9.0.25", &n, err, sizeof(err)),
			 0);
	assert_int_equal(nic_spec_pick_ip(&n, NULL, NULL), -EPERM);
	assert_string_equal(n.ipv4, "10.9.0.25");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_pick_ip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
