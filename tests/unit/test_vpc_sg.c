/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security groups: the default rules, matching by direction, protocol, port
 * range, ICMP type/code and CIDR, and the rule file's line-numbered errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/sg.h"
#include "tests/tools/vpc_frames.h"
#include "tests/unit/fixture.h"

#define GUEST VF_IP(172, 31, 0, 10)

/* The flow of a packet between the guest and @remote in direction @dir. */
static struct vpc_flow flow(enum vpc_dir dir, uint8_t proto, uint32_t remote,
			    uint16_t port)
{
	uint32_t s = dir == VPC_DIR_INGRESS ? remote : GUEST;
	uint32_t d = dir == VPC_DIR_INGRESS ? GUEST : remote;
	uint8_t f[VF_FRAME_MAX], orig[VF_FRAME_MAX];
	struct vpc_flow fl;
	enum vpc_drop reason;
	size_t len;

	if (proto == 6)
		len = vf_tcp(f, s, 40000, d, port, TCP_SYN);
	else if (proto == 17)
		len = vf_udp(f, s, 40000, d, port, 0);
	else if (proto == 1 && port >> 8 == ICMP_DEST_UNREACH) {
		vf_udp(orig, d, 1, s, 2, 0);    /* the packet the error quotes */
		len = vf_icmp_error(f, s, d, ICMP_DEST_UNREACH, (uint8_t)port, orig);
	}
	else if (proto == 1)    /* port = type << 8 | code */
		len = vf_ipv4(f, s, d, 1,
			      (uint8_t[8]){ (uint8_t)(port >> 8), (uint8_t)port }, 8);
	else
		len = vf_ipv4(f, s, d, proto, "payload!", 8);
	assert_int_equal(vpc_flow_parse(f, len, &fl, &reason), 0);
	return fl;
}

static bool allows(const struct vpc_sg *sg, enum vpc_dir dir, uint8_t proto,
		   uint32_t remote, uint16_t port)
{
	struct vpc_flow fl = flow(dir, proto, remote, port);

	return vpc_sg_allows(sg, dir, &fl);
}

static void parse_ok(struct vpc_sg *sg, const char *text)
{
	char err[128] = "";

	if (vpc_sg_parse(sg, text, strlen(text), err, sizeof(err)))
		fail_msg("rules rejected: %s", err);
}

static void test_default_rules(void **state)
{
	struct vpc_sg sg;

	(void)state;
	assert_int_equal(vpc_sg_init(&sg), 0);
	/* Like a new AWS security group: everything out, nothing in. */
	assert_true(allows(&sg, VPC_DIR_EGRESS, 6, VF_IP(8, 8, 8, 8), 443));
	assert_true(allows(&sg, VPC_DIR_EGRESS, 47, VF_IP(1, 2, 3, 4), 0));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(10, 0, 0, 1), 22));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 1, VF_IP(10, 0, 0, 1), 8 << 8));
	vpc_sg_free(&sg);
}

static void test_tcp_port_and_cidr(void **state)
{
	struct vpc_sg sg;

	(void)state;
	assert_int_equal(vpc_sg_init(&sg), 0);
	parse_ok(&sg, "ingress tcp 22 10.0.0.0/8\n");
	assert_int_equal(sg.n, 1);
	assert_true(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(10, 1, 2, 3), 22));
	assert_true(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(10, 255, 255, 255), 22));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(11, 0, 0, 1), 22));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(9, 255, 255, 255), 22));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(10, 1, 2, 3), 23));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 17, VF_IP(10, 1, 2, 3), 22));
	/* The file is the whole rule set: no egress line, no egress. */
	assert_false(allows(&sg, VPC_DIR_EGRESS, 6, VF_IP(10, 1, 2, 3), 22));
	vpc_sg_free(&sg);
}

static void test_udp_range(void **state)
{
	struct vpc_sg sg;

	(void)state;
	assert_int_equal(vpc_sg_init(&sg), 0);
	parse_ok(&sg, "ingress udp 5000-5100 192.168.0.0/16");
	assert_false(allows(&sg, VPC_DIR_INGRESS, 17, VF_IP(192, 168, 1, 1), 4999));
	assert_true(allows(&sg, VPC_DIR_INGRESS, 17, VF_IP(192, 168, 1, 1), 5000));
	assert_true(allows(&sg, VPC_DIR_INGRESS, 17, VF_IP(192, 168, 1, 1), 5100));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 17, VF_IP(192, 168, 1, 1), 5101));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(192, 168, 1, 1), 5050));
	vpc_sg_free(&sg);
}

static void test_icmp_and_all(void **state)
{
	struct vpc_sg sg;

	(void)state;
	assert_int_equal(vpc_sg_init(&sg), 0);
	parse_ok(&sg, "ingress icmp 8 0.0.0.0/0\n"
		      "ingress icmp 3:4 10.0.0.0/8\n"
		      "egress all 10.1.2.3\n"
		      "egress tcp all 0.0.0.0/0\n");
	assert_true(allows(&sg, VPC_DIR_INGRESS, 1, VF_IP(8, 8, 8, 8), 8 << 8));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 1, VF_IP(8, 8, 8, 8), 0));
	assert_true(allows(&sg, VPC_DIR_INGRESS, 1, VF_IP(10, 9, 9, 9), 3 << 8 | 4));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 1, VF_IP(10, 9, 9, 9), 3 << 8 | 3));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(10, 9, 9, 9), 8));
	/* all: any protocol, to exactly 10.1.2.3 (a bare address is a /32). */
	assert_true(allows(&sg, VPC_DIR_EGRESS, 47, VF_IP(10, 1, 2, 3), 0));
	assert_true(allows(&sg, VPC_DIR_EGRESS, 17, VF_IP(10, 1, 2, 3), 53));
	assert_false(allows(&sg, VPC_DIR_EGRESS, 17, VF_IP(10, 1, 2, 4), 53));
	assert_true(allows(&sg, VPC_DIR_EGRESS, 6, VF_IP(10, 1, 2, 4), 1));
	assert_true(allows(&sg, VPC_DIR_EGRESS, 6, VF_IP(10, 1, 2, 4), 65535));
	vpc_sg_free(&sg);
}

static void test_comments_and_load(void **state)
{
	static const char text[] = "# web server\n\n"
				   "ingress tcp 80 0.0.0.0/0   # http\n"
				   "\t ingress  tcp\t443  0.0.0.0/0\r\n"
				   "egress all 0.0.0.0/0";
	char err[128] = "";
	char *path = tmp_file(text, strlen(text));
	struct vpc_sg sg;

	(void)state;
	assert_int_equal(vpc_sg_init(&sg), 0);
	assert_int_equal(vpc_sg_load(&sg, path, err, sizeof(err)), 0);
	assert_int_equal(sg.n, 3);
	assert_true(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(1, 1, 1, 1), 443));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(1, 1, 1, 1), 8080));
	drop_file(path);
	assert_int_equal(vpc_sg_load(&sg, "/nonexistent/rules", err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(sg.n, 3);
	/* An empty file is a valid rule set that denies everything. */
	parse_ok(&sg, "# nothing\n");
	assert_int_equal(sg.n, 0);
	assert_false(allows(&sg, VPC_DIR_EGRESS, 6, VF_IP(1, 1, 1, 1), 443));
	vpc_sg_free(&sg);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "sideways tcp 22 0.0.0.0/0", "line 1: direction 'sideways'" },
		{ "# c\n\ningress sctp 22 0.0.0.0/0", "line 3: protocol 'sctp'" },
		{ "ingress tcp 70000 0.0.0.0/0", "line 1: bad port range '70000'" },
		{ "ingress tcp 100-50 0.0.0.0/0", "line 1: bad port range '100-50'" },
		{ "ingress tcp -5 0.0.0.0/0", "line 1: bad port range '-5'" },
		{ "ingress udp 1-2-3 0.0.0.0/0", "line 1: bad port range '1-2-3'" },
		{ "ingress tcp 22 10.0.0.0/33", "line 1: bad CIDR '10.0.0.0/33'" },
		{ "ingress tcp 22 10.0.0/8", "line 1: bad CIDR '10.0.0/8'" },
		{ "ingress tcp 22 10.0.0.1/8", "line 1: CIDR '10.0.0.1/8' has host bits set" },
		{ "egress all 22 0.0.0.0/0", "line 1: protocol all takes no ports" },
		{ "ingress tcp", "line 1: expected DIR PROTO" },
		{ "ingress tcp 22 0.0.0.0/0 extra", "line 1: expected DIR PROTO" },
		{ "ingress icmp 256 0.0.0.0/0", "line 1: bad ICMP type[:code] '256'" },
		{ "ingress icmp 3:x 0.0.0.0/0", "line 1: bad ICMP type[:code] '3:x'" },
		{ "egress all 0.0.0.0/0\na b c d e f g h i", "line 2: more than 8 fields" },
	};
	char err[128], longline[400];
	struct vpc_sg sg;

	(void)state;
	assert_int_equal(vpc_sg_init(&sg), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(vpc_sg_parse(&sg, cases[i].text,
					      strlen(cases[i].text), err,
					      sizeof(err)), -EINVAL);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)))
			fail_msg("'%s': got '%s', expected '%s'", cases[i].text,
				 err, cases[i].err);
		/* A rejected file leaves the group as it was. */
		assert_int_equal(sg.n, 1);
		assert_true(allows(&sg, VPC_DIR_EGRESS, 6, VF_IP(1, 1, 1, 1), 1));
	}
	memset(longline, ' ', sizeof(longline));
	assert_int_equal(vpc_sg_parse(&sg, longline, sizeof(longline), err,
				      sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 1: longer than 255 bytes");
	assert_int_equal(vpc_sg_parse(&sg, "egress all 0.0.0.0/0\0x", 22, err,
				      sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 1: NUL byte");
	vpc_sg_free(&sg);
}

static void test_rule_limit(void **state)
{
	size_t n = VPC_SG_MAX_RULES + 1, len = 0;
	char *text = malloc(n * 32), err[128] = "";
	struct vpc_sg sg;

	(void)state;
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "ingress tcp %zu 0.0.0.0/0\n", i);
	assert_int_equal(vpc_sg_init(&sg), 0);
	assert_int_equal(vpc_sg_parse(&sg, text, len, err, sizeof(err)), -E2BIG);
	assert_string_equal(err, "line 1025: more than 1024 rules");
	/* One line fewer is accepted. */
	len -= strlen("ingress tcp 1024 0.0.0.0/0\n");
	assert_int_equal(vpc_sg_parse(&sg, text, len, err, sizeof(err)), 0);
	assert_int_equal(sg.n, VPC_SG_MAX_RULES);
	assert_true(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(1, 1, 1, 1), 1023));
	assert_false(allows(&sg, VPC_DIR_INGRESS, 6, VF_IP(1, 1, 1, 1), 1024));
	vpc_sg_free(&sg);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_rules),
		cmocka_unit_test(test_tcp_port_and_cidr),
		cmocka_unit_test(test_udp_range),
		cmocka_unit_test(test_icmp_and_all),
		cmocka_unit_test(test_comments_and_load),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_rule_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
