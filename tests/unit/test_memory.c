/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "hv/memory.h"
#include "tools/lib/size.h"

static void test_small_ram_bounds(void **state)
{
	struct guest_mem mem;
	const uint64_t size = 64ULL << 20;
	uint32_t v = 0x12345678, r = 0;

	(void)state;
	assert_int_equal(guest_mem_init(&mem, size), 0);
	assert_int_equal(mem.low_size, size);
	assert_int_equal(mem.high_size, 0);
	assert_non_null(guest_mem_ptr(&mem, 0, size));
	assert_null(guest_mem_ptr(&mem, 0, size + 1));
	assert_null(guest_mem_ptr(&mem, size - 3, 4));
	assert_null(guest_mem_ptr(&mem, ~0ULL - 1, 4));  /* wraps */
	assert_null(guest_mem_ptr(&mem, CV_HIGHMEM_START, 1));
	assert_int_equal(guest_mem_write(&mem, size - 4, &v, 4), 0);
	assert_int_equal(guest_mem_read(&mem, size - 4, &r, 4), 0);
	assert_int_equal(r, v);
	assert_int_equal(guest_mem_write(&mem, size - 2, &v, 4), -EFAULT);
	guest_mem_destroy(&mem);
}

static void test_ram_split_around_pci_hole(void **state)
{
	struct guest_mem mem;
	const uint64_t size = 5ULL << 30;
	uint8_t *lo_end, *hi;

	(void)state;
	assert_int_equal(guest_mem_init(&mem, size), 0);
	assert_int_equal(mem.low_size, CV_PCI_HOLE_START);
	assert_int_equal(mem.high_size, size - CV_PCI_HOLE_START);
	lo_end = guest_mem_ptr(&mem, CV_PCI_HOLE_START - 1, 1);
	hi = guest_mem_ptr(&mem, CV_HIGHMEM_START, 1);
	assert_non_null(lo_end);
	assert_non_null(hi);
	/* The memfd is contiguous: high RAM follows low RAM in the mapping. */
	assert_ptr_equal(hi, lo_end + 1);
	assert_null(guest_mem_ptr(&mem, CV_PCI_HOLE_START, 1));
	assert_null(guest_mem_ptr(&mem, CV_PCI_HOLE_START - 1, 2));  /* into the hole */
	assert_null(guest_mem_ptr(&mem, CV_IOAPIC_BASE, 4));
	assert_non_null(guest_mem_ptr(&mem, CV_HIGHMEM_START + mem.high_size - 8, 8));
	assert_null(guest_mem_ptr(&mem, CV_HIGHMEM_START + mem.high_size - 8, 9));
	guest_mem_destroy(&mem);
}

static void test_rejects_bad_sizes(void **state)
{
	struct guest_mem mem;

	(void)state;
	assert_int_equal(guest_mem_init(&mem, 32ULL << 20), -EINVAL);
	assert_int_equal(guest_mem_init(&mem, (64ULL << 20) + 4096), -EINVAL);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("512M", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("2GiB", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("-1G", &v), -EINVAL);
	assert_int_equal(parse_size("12Q", &v), -EINVAL);
	assert_int_equal(parse_size("1G junk", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_ram_bounds),
		cmocka_unit_test(test_ram_split_around_pci_hole),
		cmocka_unit_test(test_rejects_bad_sizes),
		cmocka_unit_test(test_parse_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
