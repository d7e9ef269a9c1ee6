/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CMOS real-time clock (Motorola MC146818A) at ports 0x70/0x71: the
 * time comes from the host's UTC clock, in the format status register B
 * asks for; the rest of the 128 bytes is plain CMOS, with the memory-size
 * bytes a PC BIOS leaves there.  The guest cannot set the clock (it is the
 * host's); no periodic, alarm or update interrupt is generated.
 */
#ifndef CV_HV_RTC_H
#define CV_HV_RTC_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "hv/iobus.h"

#define RTC_CMOS_SIZE 128

/* Seconds since the epoch, UTC; NULL in rtc_init() means time(NULL). */
typedef time_t (*rtc_clock_fn)(void);

struct rtc {
	pthread_mutex_t lock;
	struct iobus *pio;
	rtc_clock_fn clock;
	uint8_t index;
	uint8_t cmos[RTC_CMOS_SIZE];
	time_t last_c_read;       /* clock at the last read of register C */
};

/*
 * Register on @pio at 0x70/0x71.  @low_ram and @high_ram are the bytes of
 * guest RAM below 4 GiB and from 4 GiB (struct guest_mem's split).
 */
int rtc_init(struct rtc *rtc, struct iobus *pio, uint64_t low_ram,
	     uint64_t high_ram, rtc_clock_fn clock);
void rtc_destroy(struct rtc *rtc);

#endif /* CV_HV_RTC_H */
