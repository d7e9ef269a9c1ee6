/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv/quirks.h"

static void test_all_none_auto(void **state)
{
	struct quirks q;
	const char *bad;
	size_t bad_len;
	bool sw = quirks_host_is_software_kvm();

	(void)state;
	assert_int_equal(quirks_parse(&q, "all", &bad, &bad_len), 0);
	for (int i = 0; i < QUIRK_COUNT; i++)
		assert_true(q.enabled[i]);
	assert_int_equal(quirks_parse(&q, "none", &bad, &bad_len), 0);
	for (int i = 0; i < QUIRK_COUNT; i++)
		assert_false(q.enabled[i]);
	/* auto follows the host: on hardware KVM nothing is worked around. */
	assert_int_equal(quirks_parse(&q, "auto", &bad, &bad_len), 0);
	for (int i = 0; i < QUIRK_COUNT; i++)
		assert_int_equal(q.enabled[i], sw);
}

static void test_lists(void **state)
{
	struct quirks q;
	const char *bad;
	size_t bad_len;

	(void)state;
	assert_int_equal(quirks_parse(&q, "all,-inject-int3", &bad, &bad_len), 0);
	assert_false(q.enabled[QUIRK_INJECT_INT3]);
	assert_true(q.enabled[QUIRK_FWAIT_NOP]);
	assert_int_equal(quirks_parse(&q, "inject-int3,+fwait-nop", &bad, &bad_len), 0);
	assert_true(q.enabled[QUIRK_INJECT_INT3]);
	assert_true(q.enabled[QUIRK_FWAIT_NOP]);
	assert_false(q.enabled[QUIRK_CPUID_NO_CX16]);
	assert_int_equal(quirks_parse(&q, "none,bogus,fwait-nop", &bad, &bad_len), -EINVAL);
	assert_int_equal(bad_len, 5);
	assert_memory_equal(bad, "bogus", 5);
	/* A prefix of a real name is not that name. */
	assert_int_equal(quirks_parse(&q, "inject", &bad, &bad_len), -EINVAL);
}

static void test_count_and_format(void **state)
{
	struct quirks q;
	const char *bad;
	size_t bad_len;
	char buf[128];

	(void)state;
	assert_int_equal(quirks_parse(&q, "inject-int3,fwait-nop", &bad, &bad_len), 0);
	quirks_count(&q, QUIRK_INJECT_INT3);
	quirks_count(&q, QUIRK_INJECT_INT3);
	quirks_format(&q, buf, sizeof(buf));
	assert_string_equal(buf, "inject-int3=2,fwait-nop=0");
	assert_int_equal(quirks_parse(&q, "none", &bad, &bad_len), 0);
	quirks_format(&q, buf, sizeof(buf));
	assert_string_equal(buf, "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_none_auto),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_count_and_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
