/* SPDX-License-Identifier: Apache-2.0 */
/* The CMOS RTC through ports 0x70/0x71 with a clock the test sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "hv/rtc.h"

/* Thursday 2024-02-29 13:45:07 UTC. */
#define LEAP_DAY_AFTERNOON 1709214307
/* Thursday 2024-02-29 12:00:00 UTC. */
#define LEAP_DAY_NOON      1709208000
/* Thursday 2099-12-31 00:00:59 UTC. */
#define LAST_DAY_2099      4102358459

static time_t fake_now;

static time_t fake_clock(void)
{
	return fake_now;
}

struct fixture {
	struct iobus pio;
	struct rtc rtc;
};

static int setup_sized(void **state, uint64_t low, uint64_t high)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	fake_now = LEAP_DAY_AFTERNOON;
	assert_int_equal(iobus_init(&f->pio, "pio"), 0);
	assert_int_equal(rtc_init(&f->rtc, &f->pio, low, high, fake_clock), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_sized(state, 3ULL << 30, 8ULL << 30);
}

static int setup_small(void **state)
{
	return setup_sized(state, 64ULL << 20, 0);
}

static int setup_huge(void **state)
{
	return setup_sized(state, 3ULL << 30, 1ULL << 42);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rtc_destroy(&f->rtc);
	iobus_destroy(&f->pio);
	test_free(f);
	return 0;
}

static uint8_t cmos_read(struct fixture *f, uint8_t index)
{
	uint8_t v = 0;

	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_RTC_INDEX, &index, 1, true), 0);
	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_RTC_DATA, &v, 1, false), 0);
	return v;
}

static void cmos_write(struct fixture *f, uint8_t index, uint8_t v)
{
	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_RTC_INDEX, &index, 1, true), 0);
	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_RTC_DATA, &v, 1, true), 0);
}

/* seconds, minutes, hours, weekday, day, month, year, century */
static const uint8_t clock_regs[8] = { 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32 };

static void expect_clock(struct fixture *f, const uint8_t want[8])
{
	for (int i = 0; i < 8; i++)
		assert_int_equal(cmos_read(f, clock_regs[i]), want[i]);
}

static void test_bcd_and_binary(void **state)
{
	struct fixture *f = *state;

	/* Default: BCD, 24-hour (register B 0x02). */
	assert_int_equal(cmos_read(f, 0x0b), 0x02);
	expect_clock(f, (const uint8_t[8]){ 0x07, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20 });
	/* DM set: binary. */
	cmos_write(f, 0x0b, 0x06);
	expect_clock(f, (const uint8_t[8]){ 7, 45, 13, 5, 29, 2, 24, 20 });
	fake_now = LAST_DAY_2099;
	expect_clock(f, (const uint8_t[8]){ 59, 0, 0, 5, 31, 12, 99, 20 });
}

static void test_12_hour_mode(void **state)
{
	struct fixture *f = *state;

	/* 12-hour BCD: 13:45 is 1 PM, bit 7 marks PM. */
	cmos_write(f, 0x0b, 0x00);
	assert_int_equal(cmos_read(f, 0x04), 0x81);
	fake_now = LEAP_DAY_NOON;
	assert_int_equal(cmos_read(f, 0x04), 0x92);
	fake_now = LAST_DAY_2099;               /* midnight is 12 AM */
	assert_int_equal(cmos_read(f, 0x04), 0x12);
	/* 12-hour binary. */
	cmos_write(f, 0x0b, 0x04);
	assert_int_equal(cmos_read(f, 0x04), 12);
	fake_now = LEAP_DAY_AFTERNOON;
	assert_int_equal(cmos_read(f, 0x04), 0x80 | 1);
}

static void test_status_registers(void **state)
{
	struct fixture *f = *state;

	/* A: divider and rate as a BIOS sets them; UIP never set. */
	assert_int_equal(cmos_read(f, 0x0a), 0x26);
	cmos_write(f, 0x0a, 0xa6);
	assert_int_equal(cmos_read(f, 0x0a), 0x26);
	/* D: valid RAM and time, read-only. */
	assert_int_equal(cmos_read(f, 0x0d), 0x80);
	cmos_write(f, 0x0d, 0x00);
	assert_int_equal(cmos_read(f, 0x0d), 0x80);
	/* C: the update flag is set once a second passed, and reading clears it. */
	assert_int_equal(cmos_read(f, 0x0c), 0x00);
	fake_now++;
	assert_int_equal(cmos_read(f, 0x0c), 0x10);
	assert_int_equal(cmos_read(f, 0x0c), 0x00);
	/* With UIE on, IRQF accompanies UF. */
	cmos_write(f, 0x0b, 0x12);
	fake_now++;
	assert_int_equal(cmos_read(f, 0x0c), 0x90);
	assert_int_equal(cmos_read(f, 0x0c), 0x00);
	assert_int_equal(cmos_read(f, 0x0b), 0x12);
}

static void test_cmos_bytes(void **state)
{
	struct fixture *f = *state;
	uint8_t v = 0;
	uint16_t w;

	/* RAM above 16 MiB below 4 GiB: (3 GiB - 16 MiB) / 64 KiB = 0xbf00. */
	assert_int_equal(cmos_read(f, 0x34), 0x00);
	assert_int_equal(cmos_read(f, 0x35), 0xbf);
	/* RAM above 4 GiB: 8 GiB / 64 KiB = 0x020000. */
	assert_int_equal(cmos_read(f, 0x5b), 0x00);
	assert_int_equal(cmos_read(f, 0x5c), 0x00);
	assert_int_equal(cmos_read(f, 0x5d), 0x02);
	/* Plain CMOS bytes keep what is written. */
	cmos_write(f, 0x0e, 0x5a);
	cmos_write(f, 0x7f, 0xa5);
	assert_int_equal(cmos_read(f, 0x0e), 0x5a);
	assert_int_equal(cmos_read(f, 0x7f), 0xa5);
	/* Bit 7 of the index is the NMI mask, not part of the index. */
	assert_int_equal(cmos_read(f, 0x80 | 0x7f), 0xa5);
	assert_int_equal(cmos_read(f, 0x80 | 0x0b), 0x02);
	/* The index port is write-only. */
	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_RTC_INDEX, &v, 1, false), 0);
	assert_int_equal(v, 0xff);
	/* A word write sets index and data together. */
	w = 0x33 << 8 | 0x0e;
	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_RTC_INDEX, &w, 2, true), 0);
	assert_int_equal(cmos_read(f, 0x0e), 0x33);
	/* The clock is the host's: the guest cannot set it. */
	cmos_write(f, 0x00, 0x30);
	cmos_write(f, 0x32, 0x19);
	assert_int_equal(cmos_read(f, 0x00), 0x07);
	assert_int_equal(cmos_read(f, 0x32), 0x20);
}

static void test_small_memory(void **state)
{
	struct fixture *f = *state;

	/* 64 MiB: 48 MiB above 16 MiB = 0x0300 units, nothing above 4 GiB. */
	assert_int_equal(cmos_read(f, 0x34), 0x00);
	assert_int_equal(cmos_read(f, 0x35), 0x03);
	assert_int_equal(cmos_read(f, 0x5b), 0);
	assert_int_equal(cmos_read(f, 0x5c), 0);
	assert_int_equal(cmos_read(f, 0x5d), 0);
}

static void test_huge_memory_capped(void **state)
{
	struct fixture *f = *state;

	/* 4 TiB above 4 GiB does not fit three bytes: capped. */
	assert_int_equal(cmos_read(f, 0x5b), 0xff);
	assert_int_equal(cmos_read(f, 0x5c), 0xff);
	assert_int_equal(cmos_read(f, 0x5d), 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bcd_and_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_12_hour_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmos_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_memory, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_huge_memory_capped, setup_huge, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
