/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mapping table: the file (parsing, defaults, line-numbered errors) and
 * the hash table under it (set, replace, remove, prune, growth, backward-
 * shift deletion inside and across the end of a cluster, the size limit).
 */
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
	/* Written in descending order: any order will do. */
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

/* A live update's entry: vxlan to 192.168.0.@host:4789, generation @gen. */
static struct vpc_map_entry live(uint32_t vni, const char *addr, unsigned host, uint64_t gen)
{
	return (struct vpc_map_entry){ .vni = vni, .ip = ip(addr),
				       .underlay_ip = htonl(0xc0a80000u | host),
				       .port = VPC_VXLAN_PORT, .gen = gen };
}

static void test_set_replace_remove(void **state)
{
	struct vpc_mapping m = { 0 };
	struct vpc_map_entry e = live(1, "10.0.1.7", 2, 42);
	const struct vpc_map_entry *got;

	(void)state;
	assert_null(vpc_mapping_lookup(&m, 1, ip("10.0.1.7")));
	assert_int_equal(vpc_mapping_remove(&m, 1, ip("10.0.1.7")), 0);
	assert_int_equal(vpc_mapping_prune(&m, 100), 0);

	assert_int_equal(vpc_mapping_set(&m, &e), 0);
	assert_int_equal(m.n, 1);
	got = vpc_mapping_lookup(&m, 1, ip("10.0.1.7"));
	assert_non_null(got);
	assert_memory_equal(got, &e, sizeof(e));
	assert_null(vpc_mapping_lookup(&m, 2, ip("10.0.1.7")));
	assert_null(vpc_mapping_lookup(&m, 1, ip("10.0.1.8")));

	/* The ENI moved: same key, new underlay and generation; still one entry. */
	e = live(1, "10.0.1.7", 3, 43);
	e.encap = VPC_ENCAP_GENEVE;
	e.port = 7000;
	assert_int_equal(vpc_mapping_set(&m, &e), 0);
	assert_int_equal(m.n, 1);
	got = vpc_mapping_lookup(&m, 1, ip("10.0.1.7"));
	assert_non_null(got);
	assert_int_equal(got->underlay_ip, htonl(0xc0a80003u));
	assert_int_equal(got->port, 7000);
	assert_int_equal(got->encap, VPC_ENCAP_GENEVE);
	assert_int_equal(got->gen, 43);

	/* Refused: the table is unchanged. */
	e = live(VPC_VNI_MAX + 1, "10.0.1.9", 4, 0);
	assert_int_equal(vpc_mapping_set(&m, &e), -EINVAL);
	e = live(1, "10.0.1.9", 4, 0);
	e.port = 0;
	assert_int_equal(vpc_mapping_set(&m, &e), -EINVAL);
	e = live(1, "10.0.1.9", 4, 0);
	e.encap = (enum vpc_encap)7;
	assert_int_equal(vpc_mapping_set(&m, &e), -EINVAL);
	assert_int_equal(m.n, 1);
	assert_null(vpc_mapping_lookup(&m, 1, ip("10.0.1.9")));

	assert_int_equal(vpc_mapping_remove(&m, 1, ip("10.0.1.8")), 0);
	assert_int_equal(vpc_mapping_remove(&m, 1, ip("10.0.1.7")), 1);
	assert_int_equal(m.n, 0);
	assert_null(vpc_mapping_lookup(&m, 1, ip("10.0.1.7")));
	assert_int_equal(vpc_mapping_remove(&m, 1, ip("10.0.1.7")), 0);
	vpc_mapping_free(&m);
	assert_int_equal(m.n, 0);
	assert_null(m.slot);
}

static void test_parse_underlay(void **state)
{
	static const struct {
		const char *addr, *encap;
		int ret;
		const char *ip;
		uint16_t port;
		enum vpc_encap kind;
	} cases[] = {
		{ "10.233.0.2", NULL, 0, "10.233.0.2", VPC_VXLAN_PORT, VPC_ENCAP_VXLAN },
		{ "10.233.0.2", "vxlan", 0, "10.233.0.2", VPC_VXLAN_PORT, VPC_ENCAP_VXLAN },
		{ "10.233.0.2", "geneve", 0, "10.233.0.2", VPC_GENEVE_PORT, VPC_ENCAP_GENEVE },
		{ "10.233.0.2:4790", NULL, 0, "10.233.0.2", 4790, VPC_ENCAP_VXLAN },
		{ "10.233.0.2:1", "geneve", 0, "10.233.0.2", 1, VPC_ENCAP_GENEVE },
		{ "10.233.0.2:65535", NULL, 0, "10.233.0.2", 65535, VPC_ENCAP_VXLAN },
		{ "10.233.0.2:0", NULL, -EINVAL, NULL, 0, 0 },
		{ "10.233.0.2:65536", NULL, -EINVAL, NULL, 0, 0 },
		{ "10.233.0.2:", NULL, -EINVAL, NULL, 0, 0 },
		{ "10.233.0.2:+5", NULL, -EINVAL, NULL, 0, 0 },
		{ "10.233.0.2:5:6", NULL, -EINVAL, NULL, 0, 0 },
		{ "10.233.0.256", NULL, -EINVAL, NULL, 0, 0 },
		{ "host.example:4789", NULL, -EINVAL, NULL, 0, 0 },
		{ "255.255.255.255255:1", NULL, -EINVAL, NULL, 0, 0 },
		{ "", NULL, -EINVAL, NULL, 0, 0 },
		{ "10.233.0.2", "gre", -EPROTONOSUPPORT, NULL, 0, 0 },
		{ "10.233.0.2", "VXLAN", -EPROTONOSUPPORT, NULL, 0, 0 },
		{ "10.233.0.2", "", -EPROTONOSUPPORT, NULL, 0, 0 },
		/* Both wrong: the address is named first, as the file's error does. */
		{ "10.233.0.2:0", "gre", -EINVAL, NULL, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vpc_map_entry e = { .underlay_ip = 1, .port = 2, .encap = VPC_ENCAP_GENEVE };
		int r = vpc_mapping_parse_underlay(&e, cases[i].addr, cases[i].encap);

		if (r != cases[i].ret)
			fail_msg("'%s' '%s': %d, expected %d", cases[i].addr,
				 cases[i].encap ? cases[i].encap : "(none)", r, cases[i].ret);
		if (r) {
			/* Untouched. */
			assert_int_equal(e.underlay_ip, 1);
			assert_int_equal(e.port, 2);
			continue;
		}
		assert_int_equal(e.underlay_ip, ip(cases[i].ip));
		assert_int_equal(e.port, cases[i].port);
		assert_int_equal(e.encap, cases[i].kind);
	}
}

/* Mark and sweep: a resync sets everything at G, then prunes below G. */
static void test_prune(void **state)
{
	struct vpc_mapping m = { 0 };
	char a[32];

	(void)state;
	for (unsigned i = 0; i < 1000; i++) {
		struct vpc_map_entry e;

		sprintf(a, "10.0.%u.%u", i / 256, i % 256);
		e = live(1, a, i % 256, i % 10);
		assert_int_equal(vpc_mapping_set(&m, &e), 0);
	}
	assert_int_equal(vpc_mapping_prune(&m, 0), 0);
	assert_int_equal(m.n, 1000);
	/* Gens 0..4 go: 500 entries. */
	assert_int_equal(vpc_mapping_prune(&m, 5), 500);
	assert_int_equal(m.n, 500);
	for (unsigned i = 0; i < 1000; i++) {
		const struct vpc_map_entry *e;

		sprintf(a, "10.0.%u.%u", i / 256, i % 256);
		e = vpc_mapping_lookup(&m, 1, ip(a));
		if (i % 10 < 5) {
			assert_null(e);
		} else {
			assert_non_null(e);
			assert_int_equal(e->gen, i % 10);
		}
	}
	/* A resync at gen 20 that re-set only the first 100 addresses. */
	for (unsigned i = 0; i < 100; i++) {
		struct vpc_map_entry e;

		sprintf(a, "10.0.%u.%u", i / 256, i % 256);
		e = live(1, a, 9, 20);
		assert_int_equal(vpc_mapping_set(&m, &e), 0);
	}
	assert_int_equal(m.n, 500 + 50);
	assert_int_equal(vpc_mapping_prune(&m, 20), 450);
	assert_int_equal(m.n, 100);
	for (unsigned i = 0; i < 1000; i++) {
		sprintf(a, "10.0.%u.%u", i / 256, i % 256);
		if (i < 100)
			assert_non_null(vpc_mapping_lookup(&m, 1, ip(a)));
		else
			assert_null(vpc_mapping_lookup(&m, 1, ip(a)));
	}
	assert_int_equal(vpc_mapping_prune(&m, UINT64_MAX), 100);
	assert_int_equal(m.n, 0);
	vpc_mapping_free(&m);
}

/* xorshift64*: a fixed sequence, so a failure repeats. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Many random keys: growth, lookups of present and absent keys, removal of half. */
static void test_random_many(void **state)
{
	enum { N = 100000 };
	struct vpc_map_entry *keys = malloc(N * sizeof(*keys));
	struct vpc_mapping m = { 0 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t n = 0;

	(void)state;
	assert_non_null(keys);
	while (n < N) {
		uint64_t r = rnd(&seed);
		/* A few VNIs, so equal addresses in different VNIs occur too. */
		struct vpc_map_entry e = { .vni = (uint32_t)(r >> 32) % 4, .ip = (uint32_t)r % 0x40000,
					   .underlay_ip = (uint32_t)n, .port = (uint16_t)(n % 65535 + 1),
					   .gen = n };

		if (vpc_mapping_lookup(&m, e.vni, e.ip))
			continue; /* drawn before */
		assert_int_equal(vpc_mapping_set(&m, &e), 0);
		keys[n++] = e;
		assert_int_equal(m.n, n);
	}
	/* A power of two, at most 70% full. */
	assert_int_equal(m.cap & (m.cap - 1), 0);
	assert_true(m.n * 10 <= m.cap * 7);
	for (size_t i = 0; i < N; i++) {
		const struct vpc_map_entry *e = vpc_mapping_lookup(&m, keys[i].vni, keys[i].ip);

		assert_non_null(e);
		assert_memory_equal(e, &keys[i], sizeof(*e));
	}
	/* Keys outside the drawn range are absent. */
	for (uint32_t i = 0; i < 10000; i++) {
		assert_null(vpc_mapping_lookup(&m, i % 4, 0x40000 + i));
		assert_null(vpc_mapping_lookup(&m, 4 + i, keys[i].ip));
	}
	for (size_t i = 0; i < N; i += 2)
		assert_int_equal(vpc_mapping_remove(&m, keys[i].vni, keys[i].ip), 1);
	assert_int_equal(m.n, N / 2);
	for (size_t i = 0; i < N; i++) {
		const struct vpc_map_entry *e = vpc_mapping_lookup(&m, keys[i].vni, keys[i].ip);

		if (i % 2) {
			assert_non_null(e);
			assert_memory_equal(e, &keys[i], sizeof(*e));
		} else {
			assert_null(e);
		}
	}
	/* The odd ones carry odd generations: prune below N takes them all. */
	assert_int_equal(vpc_mapping_prune(&m, N), N / 2);
	assert_int_equal(m.n, 0);
	for (size_t i = 0; i < m.cap; i++)
		assert_int_equal(m.slot[i].port, 0);
	vpc_mapping_free(&m);
	free(keys);
}

/* Where (1, @addr) lands in an empty table of MAPPING_MIN_CAP (16) slots: its home. */
static size_t home_of(uint32_t addr)
{
	struct vpc_mapping t = { 0 };
	struct vpc_map_entry e = { .vni = 1, .ip = addr, .port = 1 };
	size_t h;

	assert_int_equal(vpc_mapping_set(&t, &e), 0);
	assert_int_equal(t.cap, 16);
	h = (size_t)(vpc_mapping_lookup(&t, 1, addr) - t.slot);
	vpc_mapping_free(&t);
	return h;
}

/* @want[i]: an address whose home is @homes[i], none of them equal. */
static void addrs_with_homes(const size_t *homes, uint32_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		want[i] = 0;
		for (uint32_t a = 1; !want[i]; a++) {
			bool taken = false;

			for (size_t j = 0; j < i; j++)
				taken |= want[j] == a;
			if (!taken && home_of(a) == homes[i])
				want[i] = a;
		}
	}
}

static size_t slot_of(const struct vpc_mapping *m, uint32_t addr)
{
	const struct vpc_map_entry *e = vpc_mapping_lookup(m, 1, addr);

	assert_non_null(e);
	return (size_t)(e - m->slot);
}

/*
 * Backward-shift deletion: a cluster A(home 4) B(4) D(5) C(4) E(8) in
 * slots 4..8; removing B moves D and C back one slot each and leaves E,
 * whose home is its own slot, where it is.  Then a cluster across the end
 * of the table: F(15) G(15) H(0) in slots 15, 0, 1; removing F moves G to
 * 15 and H to 0.
 */
static void test_backward_shift(void **state)
{
	static const size_t homes[] = { 4, 4, 5, 4, 8, 15, 15, 0 };
	enum { A, B, D, C, E, F, G, H, COUNT };
	uint32_t k[COUNT];
	struct vpc_mapping m = { 0 };

	(void)state;
	addrs_with_homes(homes, k, COUNT);
	for (size_t i = 0; i < COUNT; i++) {
		struct vpc_map_entry e = { .vni = 1, .ip = k[i], .port = (uint16_t)(i + 1) };

		assert_int_equal(vpc_mapping_set(&m, &e), 0);
	}
	/* 8 of 16: no growth, so the homes above hold. */
	assert_int_equal(m.cap, 16);
	assert_int_equal(slot_of(&m, k[A]), 4);
	assert_int_equal(slot_of(&m, k[B]), 5);
	assert_int_equal(slot_of(&m, k[D]), 6);
	assert_int_equal(slot_of(&m, k[C]), 7);
	assert_int_equal(slot_of(&m, k[E]), 8);
	assert_int_equal(slot_of(&m, k[F]), 15);
	assert_int_equal(slot_of(&m, k[G]), 0);
	assert_int_equal(slot_of(&m, k[H]), 1);

	assert_int_equal(vpc_mapping_remove(&m, 1, k[B]), 1);
	assert_null(vpc_mapping_lookup(&m, 1, k[B]));
	assert_int_equal(slot_of(&m, k[A]), 4);
	assert_int_equal(slot_of(&m, k[D]), 5);
	assert_int_equal(slot_of(&m, k[C]), 6);
	assert_int_equal(m.slot[7].port, 0);
	assert_int_equal(slot_of(&m, k[E]), 8);
	assert_int_equal(vpc_mapping_lookup(&m, 1, k[C])->port, C + 1);

	assert_int_equal(vpc_mapping_remove(&m, 1, k[F]), 1);
	assert_int_equal(slot_of(&m, k[G]), 15);
	assert_int_equal(slot_of(&m, k[H]), 0);
	assert_int_equal(m.slot[1].port, 0);
	assert_int_equal(m.n, COUNT - 2);
	vpc_mapping_free(&m);
}

/* VPC_MAPPING_MAX entries and no more; replacing one still works. */
static void test_full(void **state)
{
	struct vpc_mapping m = { 0 };
	struct vpc_map_entry e = { .vni = 1, .port = 1 };

	(void)state;
	for (uint32_t i = 0; i < VPC_MAPPING_MAX; i++) {
		e.ip = i;
		assert_int_equal(vpc_mapping_set(&m, &e), 0);
	}
	e.ip = VPC_MAPPING_MAX;
	assert_int_equal(vpc_mapping_set(&m, &e), -E2BIG);
	assert_int_equal(m.n, VPC_MAPPING_MAX);
	assert_null(vpc_mapping_lookup(&m, 1, VPC_MAPPING_MAX));
	e.ip = 7;
	e.port = 2;
	assert_int_equal(vpc_mapping_set(&m, &e), 0);
	assert_int_equal(vpc_mapping_lookup(&m, 1, 7)->port, 2);
	assert_int_equal(vpc_mapping_remove(&m, 1, 7), 1);
	e.ip = VPC_MAPPING_MAX;
	assert_int_equal(vpc_mapping_set(&m, &e), 0);
	vpc_mapping_free(&m);
}

/* A file replaces live entries; a duplicate far down names both lines. */
static void test_file_after_live(void **state)
{
	struct vpc_mapping m = { 0 };
	struct vpc_map_entry e = live(5, "10.0.0.1", 1, 9);
	const struct vpc_map_entry *got;
	size_t len = 0;
	char text[8192], err[160] = "";

	(void)state;
	assert_int_equal(vpc_mapping_set(&m, &e), 0);
	for (unsigned i = 0; i < 100; i++)
		len += (size_t)sprintf(text + len, "5 10.0.1.%u 192.168.0.1\n", i);
	assert_int_equal(vpc_mapping_parse(&m, text, len, err, sizeof(err)), 0);
	assert_int_equal(m.n, 100);
	assert_null(vpc_mapping_lookup(&m, 5, ip("10.0.0.1")));
	got = vpc_mapping_lookup(&m, 5, ip("10.0.1.42"));
	assert_non_null(got);
	assert_int_equal(got->line, 43);
	assert_int_equal(got->gen, 0);

	len += (size_t)sprintf(text + len, "5 10.0.1.17 192.168.0.9 geneve\n");
	assert_int_equal(vpc_mapping_parse(&m, text, len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 101: VNI 5 address 10.0.1.17 already mapped on line 18");
	assert_int_equal(m.n, 100);
	assert_int_equal(vpc_mapping_lookup(&m, 5, ip("10.0.1.17"))->underlay_ip,
			 ip("192.168.0.1"));
	vpc_mapping_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_lookup),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_set_replace_remove),
		cmocka_unit_test(test_parse_underlay),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_random_many),
		cmocka_unit_test(test_backward_shift),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_file_after_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
