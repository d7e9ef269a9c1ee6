// SPDX-License-Identifier: Apache-2.0
/* Token-bucket QoS (cards/ebs/qos.c) on a simulated clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cards/ebs/qos.h"

#define MS 1000000ull
#define SEC 1000000000ull

static void test_unlimited(void **state)
{
	struct qos q;
	struct qos_limits lim = { 0 };

	(void)state;
	assert_int_equal(qos_init(&q, &lim, 0), 0);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(qos_admit(&q, 0, 1u << 20), 0);
	assert_int_equal(q.refused, 0);
}

static void test_iops_burst_then_rate(void **state)
{
	struct qos q;
	struct qos_limits lim = { .iops = 1000, .iops_burst = 3000 };
	uint64_t now = 5 * SEC;

	(void)state;
	assert_int_equal(qos_init(&q, &lim, now), 0);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(qos_admit(&q, now, 4096), 0);
	/* Bucket empty: the next one waits exactly one token's time, 1 ms. */
	assert_int_equal(qos_admit(&q, now, 4096), MS);
	assert_int_equal(qos_admit(&q, now + MS - 1, 4096), 1);
	assert_int_equal(qos_admit(&q, now + MS, 4096), 0);
	assert_int_equal(q.refused, 2);
}

/* Admitting as soon as allowed for 10 s gives burst + rate * 10, exactly. */
static void test_sustained_rate(void **state)
{
	struct qos q;
	struct qos_limits lim = { .iops = 3000, .iops_burst = 500 };
	uint64_t now = 0, done = 0, w;

	(void)state;
	assert_int_equal(qos_init(&q, &lim, 0), 0);
	while (now <= 10 * SEC) {
		w = qos_admit(&q, now, 4096);
		if (w)
			now += w;
		else
			done++;
	}
	assert_int_equal(done, 500 + 3000 * 10);
}

/* gp3 counts each started 256 KiB as one operation. */
static void test_large_io_costs_several_ops(void **state)
{
	struct qos q;
	struct qos_limits lim = { .iops = 10, .iops_burst = 10 };

	(void)state;
	assert_int_equal(qos_init(&q, &lim, 0), 0);
	assert_int_equal(qos_admit(&q, 0, 1u << 20), 0);           /* 4 ops */
	assert_int_equal(qos_admit(&q, 0, (1u << 20) + 1), 0);     /* 5 ops */
	assert_int_equal(qos_admit(&q, 0, QOS_OP_BYTES), 0);       /* 1 op */
	assert_int_equal(qos_admit(&q, 0, 512), 100 * MS);
}

/*
 * An I/O bigger than the byte burst starts once the bucket is full and
 * leaves it in debt: the next I/O waits for the debt to be repaid too.
 */
static void test_io_larger_than_burst(void **state)
{
	struct qos q;
	struct qos_limits lim = { .bps = 1u << 20, .bps_burst = 1u << 20 };

	(void)state;
	assert_int_equal(qos_init(&q, &lim, 0), 0);
	assert_int_equal(qos_admit(&q, 0, 4u << 20), 0);
	/* Level is now -3 MiB: 4 KiB needs 3 MiB + 4 KiB at 1 MiB/s. */
	assert_int_equal(qos_admit(&q, 0, 4096),
			 ((3ull << 20) + 4096) * SEC / (1u << 20));
	assert_int_equal(qos_admit(&q, 4 * SEC, 4096), 0);
}

/* Both limits apply: the longer wait wins. */
static void test_both_limits(void **state)
{
	struct qos q;
	struct qos_limits lim = { .iops = 1000, .iops_burst = 1,
				  .bps = 1u << 20, .bps_burst = 64u << 10 };

	(void)state;
	assert_int_equal(qos_init(&q, &lim, 0), 0);
	assert_int_equal(qos_admit(&q, 0, 64u << 10), 0);
	/* ops: 1 ms; bytes: 64 KiB at 1 MiB/s = 62.5 ms. */
	assert_int_equal(qos_admit(&q, 0, 64u << 10), 62500 * 1000);
}

static void test_idle_refill_caps_at_burst(void **state)
{
	struct qos q;
	struct qos_limits lim = { .iops = 100, .iops_burst = 10 };
	int n = 0;

	(void)state;
	assert_int_equal(qos_init(&q, &lim, 0), 0);
	/* An hour idle refills to the burst, not to 360000. */
	while (!qos_admit(&q, 3600 * SEC, 0))
		n++;
	assert_int_equal(n, 10);
}

static void test_bad_limits(void **state)
{
	struct qos q;
	struct qos_limits burst_only = { .iops_burst = 10 };
	struct qos_limits too_big = { .bps = QOS_MAX_TOKENS + 1 };
	struct qos_limits max = { .bps = QOS_MAX_TOKENS, .bps_burst = QOS_MAX_TOKENS };

	(void)state;
	assert_int_equal(qos_init(&q, &burst_only, 0), -EINVAL);
	assert_int_equal(qos_init(&q, &too_big, 0), -EINVAL);
	assert_int_equal(qos_init(&q, &max, 0), 0);
	assert_int_equal(qos_admit(&q, 0, UINT32_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_iops_burst_then_rate),
		cmocka_unit_test(test_sustained_rate),
		cmocka_unit_test(test_large_io_costs_several_ops),
		cmocka_unit_test(test_io_larger_than_burst),
		cmocka_unit_test(test_both_limits),
		cmocka_unit_test(test_idle_refill_caps_at_burst),
		cmocka_unit_test(test_bad_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
