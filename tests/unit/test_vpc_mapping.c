/* SPDX-License-Identifier: Apache-2.0 */
/* The mapping table file: parsing, defaults, lookups, line-numbered errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/mapping.h"
#include "tests/unit/fixture.h"

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void test_parse_and_lookup(void **state)
{
	static const char text[] =
		"# vni private     underlay\n"
		"42 10.0.1.5  192.168.0.2\n"
		"42 10.0.1.6  192.168.0.3:5000 vxlan\n"
		"\n"
		"7  10.0.1.5  192.168.0.4 geneve   # same address, other VPC\n"
		"16777215 10.0.0.1 192.168.0.5:7000 geneve\n";
	struct vpc_mapping m = { 0 };
	const struct vpc_map_entry *e;
	char err[128] = "";
	char *path = tmp_file(text, strlen(text));

	(void)state;
	assert_int_equal(vpc_mapping_load(&m, path, err, sizeof(err)), 0);
	assert_int_equal(m.n, 4);

	e = vpc_mapping_lookup(&m, 42, ip("10.0.1.5"));
	assert_non_null(e);
	assert_int_equal(e->underlay_ip, ip("192.168.0.2"));
	assert_int_equal(e->port, VPC_VXLAN_PORT);
	assert_int_equal(e->encap, VPC_ENCAP_VXLAN);
	assert_int_equal(e->line, 2);

	e = vpc_mapping_lookup(&m, 42, ip("10.0.1.6"));
	assert_non_null(e);
	assert_int_equal(e->port, 5000);

	e = vpc_mapping_lookup(&m, 7, ip("10.0.1.5"));
	assert_non_null(e);
	assert_int_equal(e->underlay_ip, ip("192.168.0.4"));
	assert_int_equal(e->port, VPC_GENEVE_PORT);
	assert_int_equal(e->encap, VPC_ENCAP_GENEVE);

	e = vpc_mapping_lookup(&m, VPC_VNI_MAX, ip("10.0.0.1"));
	assert_non_null(e);
	assert_int_equal(e->port, 7000);

	assert_null(vpc_mapping_lookup(&m, 42, ip("10.0.1.7")));
	assert_null(vpc_mapping_lookup(&m, 43, ip("10.0.1.5")));
	assert_null(vpc_mapping_lookup(&m, 7, ip("10.0.1.6")));
	vpc_mapping_free(&m);
	drop_file(path);
}

static void test_many(void **state)
{
	size_t n = 5000, len = 0;
	char *text = malloc(n * 48), err[128] = "";
	struct vpc_mapping m = { 0 };
	const struct vpc_map_entry *e;

	(void)state;
	/* Written in descending order: the table sorts it. */
	for (size_t i = n; i-- > 0;)
		len += (size_t)sprintf(text + len, "%zu 10.%zu.%zu.1 192.168.%zu.%zu\n",
				       i % 3, i / 256, i % 256, i / 256, i % 256);
	assert_int_equal(vpc_mapping_parse(&m, text, len, err, sizeof(err)), 0);
	assert_int_equal(m.n, n);
	for (size_t i = 0; i < n; i++) {
		char a[32];

		sprintf(a, "10.%zu.%zu.1", i / 256, i % 256);
		e = vpc_mapping_lookup(&m, (uint32_t)(i % 3), ip(a));
		assert_non_null(e);
		sprintf(a, "192.168.%zu.%zu", i / 256, i % 256);
		assert_int_equal(e->underlay_ip, ip(a));
		assert_null(vpc_mapping_lookup(&m, (uint32_t)(i % 3 + 1), ip(a)));
	}
	vpc_mapping_free(&m);
	free(text);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "42 10.0.0.1", "line 1: expected VNI PRIVATE_IP" },
		{ "#\n42 10.0.0.1 1.2.3.4 vxlan x", "line 2: expected VNI PRIVATE_IP" },
		{ "16777216 10.0.0.1 1.2.3.4", "line 1: VNI '16777216' is not 0..16777215" },
		{ "-1 10.0.0.1 1.2.3.4", "line 1: VNI '-1'" },
		{ "42 10.0.0.256 1.2.3.4", "line 1: bad private address '10.0.0.256'" },
		{ "42 10.0.0.1 1.2.3.4:0", "line 1: bad underlay address '1.2.3.4:0'" },
		{ "42 10.0.0.1 1.2.3.4:65536", "line 1: bad underlay address" },
		{ "42 10.0.0.1 host.example:4789", "line 1: bad underlay address" },
		{ "42 10.0.0.1 1.2.3.4 gre", "line 1: encapsulation 'gre' is not vxlan or geneve" },
		{ "42 10.0.0.1 1.2.3.4\n\n42 10.0.0.1 5.6.7.8",
		  "line 3: VNI 42 address 10.0.0.1 already mapped on line 1" },
	};
	struct vpc_mapping m = { 0 };
	char err[160];

	(void)state;
	assert_int_equal(vpc_mapping_parse(&m, "1 10.0.0.9 1.1.1.1", 18, err,
					   sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(vpc_mapping_parse(&m, cases[i].text,
						   strlen(cases[i].text), err,
						   sizeof(err)), -EINVAL);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)))
			fail_msg("'%s': got '%s', expected '%s'", cases[i].text,
				 err, cases[i].err);
		/* The old table stays in force. */
		assert_int_equal(m.n, 1);
		assert_non_null(vpc_mapping_lookup(&m, 1, ip("10.0.0.9")));
	}
	assert_int_equal(vpc_mapping_load(&m, "/nonexistent", err, sizeof(err)),
			 -ENOENT);
	vpc_mapping_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_lookup),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
