/* SPDX-License-Identifier: Apache-2.0 */
/* Register layout: Motorola MC146818A data sheet ("MC146818" below). */
#include "hv/rtc.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "guest-abi/cv_platform.h"
#include "tools/lib/log.h"

/* Clock registers. */
#define REG_SECONDS       0x00
#define REG_MINUTES       0x02
#define REG_HOURS         0x04
#define REG_DAY_OF_WEEK   0x06
#define REG_DAY_OF_MONTH  0x07
#define REG_MONTH         0x08
#define REG_YEAR          0x09
#define REG_A             0x0a
#define REG_B             0x0b
#define REG_C             0x0c
#define REG_D             0x0d
/* Not in the MC146818: the IBM PC/AT BIOS's century byte, which ACPI's FADT names. */
#define REG_CENTURY       0x32
/* Memory sizes a PC BIOS leaves in CMOS (QEMU and SeaBIOS use the same). */
#define REG_MEM_ABOVE_16M 0x34  /* 2 bytes: 64 KiB units from 16 MiB to 4 GiB */
#define REG_MEM_ABOVE_4G  0x5b  /* 3 bytes: 64 KiB units from 4 GiB */

#define A_UIP             0x80  /* update in progress: read-only */
#define A_DEFAULT         0x26  /* 32.768 kHz time base, 1024 Hz rate */
#define B_SET             0x80
#define B_PIE             0x40
#define B_AIE             0x20
#define B_UIE             0x10
#define B_DM_BINARY       0x04
#define B_24H             0x02
#define C_IRQF            0x80
#define C_UF              0x10
#define D_VRT             0x80  /* valid RAM and time: the battery is fine */
#define HOURS_PM          0x80  /* in 12-hour mode */

#define NMI_MASK_BIT      0x80  /* index port bit 7: NMI gate, not index */

static uint8_t encode(const struct rtc *rtc, unsigned v)
{
	if (rtc->cmos[REG_B] & B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

static uint8_t encode_hours(const struct rtc *rtc, unsigned hour)
{
	unsigned h12;

	if (rtc->cmos[REG_B] & B_24H)
		return encode(rtc, hour);
	/* 12-hour mode: 12, 1..11, with bit 7 for PM (MC146818, table 3). */
	h12 = hour % 12 ? hour % 12 : 12;
	return encode(rtc, h12) | (hour >= 12 ? HOURS_PM : 0);
}

static time_t now(const struct rtc *rtc)
{
	return rtc->clock ? rtc->clock() : time(NULL);
}

static bool is_clock_reg(unsigned reg)
{
	return reg == REG_SECONDS || reg == REG_MINUTES || reg == REG_HOURS ||
	       (reg >= REG_DAY_OF_WEEK && reg <= REG_YEAR) || reg == REG_CENTURY;
}

/* @reg is one is_clock_reg() accepts. */
static uint8_t clock_read(const struct rtc *rtc, unsigned reg)
{
	time_t t = now(rtc);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	switch (reg) {
	case REG_SECONDS:
		/* A leap second's :60 does not fit the register. */
		return encode(rtc, tm.tm_sec > 59 ? 59 : (unsigned)tm.tm_sec);
	case REG_MINUTES:
		return encode(rtc, (unsigned)tm.tm_min);
	case REG_HOURS:
		return encode_hours(rtc, (unsigned)tm.tm_hour);
	case REG_DAY_OF_WEEK:
		return encode(rtc, (unsigned)tm.tm_wday + 1);  /* Sunday is 1 */
	case REG_DAY_OF_MONTH:
		return encode(rtc, (unsigned)tm.tm_mday);
	case REG_MONTH:
		return encode(rtc, (unsigned)tm.tm_mon + 1);
	case REG_YEAR:
		return encode(rtc, (unsigned)(tm.tm_year + 1900) % 100);
	default:  /* REG_CENTURY */
		return encode(rtc, (unsigned)(tm.tm_year + 1900) / 100);
	}
}

static uint8_t reg_read(struct rtc *rtc, unsigned reg)
{
	time_t t;
	uint8_t c;

	if (is_clock_reg(reg))
		return clock_read(rtc, reg);
	switch (reg) {
	case REG_A:
		/*
		 * UIP stays clear: the host clock is read atomically, so there
		 * is never an update to wait out (Linux polls UIP before reading).
		 */
		return rtc->cmos[REG_A] & ~A_UIP;
	case REG_C:
		/*
		 * UF is set once per second whether or not UIE is on, and
		 * reading C clears it (MC146818, "Register C").
		 */
		t = now(rtc);
		c = t != rtc->last_c_read ? C_UF : 0;
		if ((c & C_UF) && (rtc->cmos[REG_B] & B_UIE))
			c |= C_IRQF;
		rtc->last_c_read = t;
		return c;
	case REG_D:
		return D_VRT;
	default:
		return rtc->cmos[reg];
	}
}

static void reg_write(struct rtc *rtc, unsigned reg, uint8_t val)
{
	if (is_clock_reg(reg)) {
		cv_debug("rtc: guest write %#x to clock register %#x ignored: the clock is the host's",
			 val, reg);
		return;
	}
	switch (reg) {
	case REG_A:
		rtc->cmos[REG_A] = val & ~A_UIP;
		break;
	case REG_B:
		if (val & (B_PIE | B_AIE | B_UIE))
			cv_err_once("rtc: guest enabled RTC interrupts (register B %#x) at port %#x; none will come",
				    val, CV_PORT_RTC_DATA);
		rtc->cmos[REG_B] = val;
		break;
	case REG_C:
	case REG_D:
		break;  /* read-only */
	default:
		rtc->cmos[reg] = val;
		break;
	}
}

static void rtc_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		   bool is_write)
{
	struct rtc *rtc = opaque;
	uint8_t *p = data;

	pthread_mutex_lock(&rtc->lock);
	/* A word access writes the index and the data at once. */
	for (uint32_t i = 0; i < len; i++) {
		bool index_port = offset + i == 0;

		if (index_port && is_write)
			rtc->index = p[i] & ~NMI_MASK_BIT;
		else if (index_port)
			p[i] = 0xff;  /* the index port is write-only on a PC */
		else if (is_write)
			reg_write(rtc, rtc->index, p[i]);
		else
			p[i] = reg_read(rtc, rtc->index);
	}
	pthread_mutex_unlock(&rtc->lock);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int rtc_init(struct rtc *rtc, struct iobus *pio, uint64_t low_ram,
	     uint64_t high_ram, rtc_clock_fn clock)
{
	uint64_t above_16m = low_ram > (16ULL << 20) ? (low_ram - (16ULL << 20)) >> 16 : 0;
	uint64_t above_4g = high_ram >> 16;
	int ret;

	/*
	 * glibc's first gmtime_r() reads the time zone (/etc/localtime):
	 * have that done now, not when the guest first reads the clock under
	 * cv-hv's system call filter, which opens no file.
	 */
	tzset();
	memset(rtc, 0, sizeof(*rtc));
	rtc->pio = pio;
	rtc->clock = clock;
	rtc->cmos[REG_A] = A_DEFAULT;
	rtc->cmos[REG_B] = B_24H;  /* BCD, 24-hour: what a PC BIOS sets */
	above_16m = min_u64(above_16m, 0xffff);
	above_4g = min_u64(above_4g, 0xffffff);
	rtc->cmos[REG_MEM_ABOVE_16M] = (uint8_t)above_16m;
	rtc->cmos[REG_MEM_ABOVE_16M + 1] = (uint8_t)(above_16m >> 8);
	rtc->cmos[REG_MEM_ABOVE_4G] = (uint8_t)above_4g;
	rtc->cmos[REG_MEM_ABOVE_4G + 1] = (uint8_t)(above_4g >> 8);
	rtc->cmos[REG_MEM_ABOVE_4G + 2] = (uint8_t)(above_4g >> 16);
	rtc->last_c_read = now(rtc);
	ret = -pthread_mutex_init(&rtc->lock, NULL);
	if (ret)
		return ret;
	ret = iobus_register(pio, CV_PORT_RTC_INDEX, 2, rtc_io, rtc, "rtc");
	if (ret) {
		cv_err("rtc: cannot claim ports %#x-%#x: %s", CV_PORT_RTC_INDEX,
		       CV_PORT_RTC_DATA, strerror(-ret));
		pthread_mutex_destroy(&rtc->lock);
	}
	return ret;
}

void rtc_destroy(struct rtc *rtc)
{
	iobus_unregister(rtc->pio, CV_PORT_RTC_INDEX, rtc);
	pthread_mutex_destroy(&rtc->lock);
}
