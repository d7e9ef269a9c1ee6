/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The time-stamp counter: the clock for bounded waits that cannot rely on
 * interrupts (polled I/O) and for per-operation latencies.
 */
#ifndef CVG_TSC_H
#define CVG_TSC_H

#include <stdint.h>

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/*
 * Finds the TSC frequency from CPUID leaf 0x15 or 0x16, else by counting
 * TSC ticks across LAPIC timer ticks (the timer must be running), and prints
 * "cvguest: tsc hz=<n> source=<cpuid15|cpuid16|lapic>".
 */
void tsc_init(void);
uint64_t tsc_hz(void);

/* The TSC value @ms milliseconds from now. */
uint64_t tsc_deadline_ms(uint64_t ms);

#endif /* CVG_TSC_H */
