/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/tsc.h"

#include <stddef.h>

#include "tests/guest/apic.h"
#include "tests/guest/serial.h"

/* Timer ticks to count over: 100 ms at APIC_TIMER_HZ, 1% granularity. */
#define CALIBRATE_TICKS 10

static uint64_t hz;

static void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
			 : "a"(leaf), "c"(0));
}

/*
 * Intel SDM Vol. 2A, CPUID: leaf 0x15 gives TSC/crystal as EBX/EAX and the
 * crystal in ECX (0 when not enumerated); leaf 0x16 the base frequency in
 * MHz, which is the TSC's on processors with an invariant TSC.
 */
static const char *tsc_from_cpuid(void)
{
	uint32_t max, a, b, c, d;

	cpuid(0, &max, &b, &c, &d);
	if (max >= 0x15) {
		cpuid(0x15, &a, &b, &c, &d);
		if (a && b && c) {
			hz = (uint64_t)c * b / a;
			return "cpuid15";
		}
	}
	if (max >= 0x16) {
		cpuid(0x16, &a, &b, &c, &d);
		if (a & 0xffff) {
			hz = (uint64_t)(a & 0xffff) * 1000000;
			return "cpuid16";
		}
	}
	return NULL;
}

void tsc_init(void)
{
	const char *source = tsc_from_cpuid();

	if (!source) {
		/* Start on a tick edge so the count spans whole periods. */
		lapic_wait_ticks(1);
		uint64_t t0 = rdtsc();
		lapic_wait_ticks(CALIBRATE_TICKS);
		hz = (rdtsc() - t0) * APIC_TIMER_HZ / CALIBRATE_TICKS;
		source = "lapic";
	}
	kprintf("cvguest: tsc hz=%lu source=%s\n", hz, source);
}

uint64_t tsc_hz(void)
{
	return hz;
}

uint64_t tsc_deadline_ms(uint64_t ms)
{
	return rdtsc() + hz / 1000 * ms;
}
