/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

static void test_linux_cmdline(void **state)
{
	struct quirks q;
	const char *bad;
	size_t bad_len;
	char *out;

	(void)state;
	assert_int_equal(quirks_parse(&q, "linux-cmdline", &bad, &bad_len), 0);
	assert_int_equal(quirks_linux_cmdline(&q, "console=ttyS0 quiet", 0, &out), 0);
	assert_string_equal(out, "console=ttyS0 quiet " QUIRK_LINUX_SWITCHES
				 " clearcpuid=" QUIRK_LINUX_CLEARCPUID);
	free(out);
	assert_int_equal(quirks_linux_cmdline(&q, NULL, 0, &out), 0);
	assert_string_equal(out, QUIRK_LINUX_SWITCHES " clearcpuid=" QUIRK_LINUX_CLEARCPUID);
	free(out);
	/* Linux takes only the last clearcpuid=: the user's lists are merged into ours. */
	assert_int_equal(quirks_linux_cmdline(&q, "  clearcpuid=avx2 console=ttyS0  clearcpuid=pku,umip ",
					      0, &out), 0);
	assert_string_equal(out, "console=ttyS0 " QUIRK_LINUX_SWITCHES
				 " clearcpuid=avx2,pku,umip," QUIRK_LINUX_CLEARCPUID);
	free(out);
	/* A word that only starts like the switch is left alone. */
	assert_int_equal(quirks_linux_cmdline(&q, "clearcpuid= xclearcpuid=1", 0, &out), 0);
	assert_string_equal(out, "clearcpuid= xclearcpuid=1 " QUIRK_LINUX_SWITCHES
				 " clearcpuid=" QUIRK_LINUX_CLEARCPUID);
	free(out);
}

static void test_time_dilation_cmdline(void **state)
{
	struct quirks q;
	const char *bad;
	size_t bad_len;
	char *out;

	(void)state;
	/* The TSC is announced QUIRK_TIME_DILATION_FACTOR times faster than it runs. */
	assert_int_equal(QUIRK_TIME_DILATION_FACTOR, 16);
	assert_int_equal(quirks_parse(&q, "time-dilation", &bad, &bad_len), 0);
	assert_int_equal(quirks_linux_cmdline(&q, "console=ttyS0 clearcpuid=pku", 2596152, &out),
			 0);
	assert_string_equal(out, "console=ttyS0 clearcpuid=pku tsc_early_khz=41538432 tsc=reliable");
	free(out);
	/* An unknown TSC rate dilates nothing; the user's words stay as they were. */
	assert_int_equal(quirks_linux_cmdline(&q, "console=ttyS0", 0, &out), 0);
	assert_string_equal(out, "console=ttyS0");
	free(out);
	/* Both quirks: the dilation words before the clearcpuid= that must come last. */
	assert_int_equal(quirks_parse(&q, "linux-cmdline,time-dilation", &bad, &bad_len), 0);
	assert_int_equal(quirks_linux_cmdline(&q, NULL, 1000000, &out), 0);
	assert_string_equal(out, "tsc_early_khz=16000000 tsc=reliable " QUIRK_LINUX_SWITCHES
				 " clearcpuid=" QUIRK_LINUX_CLEARCPUID);
	free(out);
	/* Neither: the command line is the user's. */
	assert_int_equal(quirks_parse(&q, "none", &bad, &bad_len), 0);
	assert_int_equal(quirks_linux_cmdline(&q, "  a  b ", 2596152, &out), 0);
	assert_string_equal(out, "a b");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_none_auto),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_count_and_format),
		cmocka_unit_test(test_linux_cmdline),
		cmocka_unit_test(test_time_dilation_cmdline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
