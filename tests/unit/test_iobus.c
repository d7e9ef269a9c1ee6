/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv/iobus.h"

struct rec {
	uint64_t offset;
	uint32_t len;
	bool is_write;
	int calls;
};

static void handler(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct rec *r = opaque;

	r->offset = offset;
	r->len = len;
	r->is_write = is_write;
	r->calls++;
	if (!is_write)
		memset(data, 0xab, len);
}

static void test_dispatch_offsets(void **state)
{
	struct iobus bus;
	struct rec a = { 0 }, b = { 0 };
	uint32_t v = 0;

	(void)state;
	assert_int_equal(iobus_init(&bus, "pio"), 0);
	assert_int_equal(iobus_register(&bus, 0x3f8, 8, handler, &a, "com1"), 0);
	assert_int_equal(iobus_register(&bus, 0x60, 1, handler, &b, "kbd"), 0);
	assert_int_equal(iobus_dispatch(&bus, 0x3fd, &v, 1, false), 0);
	assert_int_equal(a.offset, 5);
	assert_int_equal(a.calls, 1);
	assert_int_equal(v & 0xff, 0xab);
	assert_int_equal(iobus_dispatch(&bus, 0x60, &v, 1, true), 0);
	assert_true(b.is_write);
	/* An access straddling the end of a range reaches nobody. */
	assert_int_equal(iobus_dispatch(&bus, 0x3fe, &v, 4, false), -ENOENT);
	assert_int_equal(iobus_dispatch(&bus, 0x400, &v, 1, false), -ENOENT);
	assert_int_equal(a.calls, 1);
	iobus_destroy(&bus);
}

static void test_overlap_and_unregister(void **state)
{
	struct iobus bus;
	struct rec a = { 0 }, b = { 0 };
	uint8_t v;

	(void)state;
	iobus_init(&bus, "mmio");
	assert_int_equal(iobus_register(&bus, 0x1000, 0x100, handler, &a, "a"), 0);
	assert_int_equal(iobus_register(&bus, 0x10ff, 1, handler, &b, "b"), -EBUSY);
	assert_int_equal(iobus_register(&bus, 0xf00, 0x101, handler, &b, "b"), -EBUSY);
	assert_int_equal(iobus_register(&bus, 0x1100, 0x10, handler, &b, "b"), 0);
	assert_int_equal(iobus_register(&bus, ~0ULL - 1, 4, handler, &b, "wrap"), -EINVAL);
	assert_int_equal(iobus_register(&bus, 0x2000, 0, handler, &b, "empty"), -EINVAL);
	/* Only the owner can remove a range. */
	assert_int_equal(iobus_unregister(&bus, 0x1000, &b), -ENOENT);
	assert_int_equal(iobus_unregister(&bus, 0x1000, &a), 0);
	assert_int_equal(iobus_dispatch(&bus, 0x1000, &v, 1, false), -ENOENT);
	assert_int_equal(iobus_dispatch(&bus, 0x1105, &v, 1, false), 0);
	assert_int_equal(b.offset, 5);
	iobus_destroy(&bus);
}

static void test_many_ranges_sorted(void **state)
{
	struct iobus bus;
	struct rec r[64] = { 0 };
	uint8_t v;

	(void)state;
	iobus_init(&bus, "pio");
	/* Registered in reverse order: lookups must still find each one. */
	for (int i = 63; i >= 0; i--)
		assert_int_equal(iobus_register(&bus, 0x100 * (uint64_t)i, 0x10, handler, &r[i], "r"), 0);
	for (int i = 0; i < 64; i++) {
		assert_int_equal(iobus_dispatch(&bus, 0x100 * (uint64_t)i + 3, &v, 1, false), 0);
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].offset, 3);
		assert_int_equal(iobus_dispatch(&bus, 0x100 * (uint64_t)i + 0x10, &v, 1, false),
				 -ENOENT);
	}
	iobus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_offsets),
		cmocka_unit_test(test_overlap_and_unregister),
		cmocka_unit_test(test_many_ranges_sorted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
