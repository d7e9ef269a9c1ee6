// SPDX-License-Identifier: Apache-2.0
/*
 * tsc_hz: the host's TSC rate, measured against CLOCK_MONOTONIC_RAW.
 *
 * The test guest reports its latencies in TSC ticks and calibrates the
 * rate itself against the LAPIC timer; on a software KVM the emulated
 * timer's late deliveries make that calibration wander by tens of percent
 * from boot to boot.  cv-hv never sets KVM_SET_TSC_KHZ, so the guest's TSC
 * ticks at the host's rate (KVM's default), and `make bench` converts the
 * guest's ticks with this figure instead.
 *
 * Prints one line: tsc_hz=N
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

#define WINDOW_NS 300000000ull

struct stamp {
	uint64_t tsc;
	uint64_t ns;
};

static uint64_t raw_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A TSC reading and a clock reading taken together: the TSC is read on
 * both sides of the clock and the tightest of a few tries wins, so a
 * preemption between the two reads cannot skew the pair.
 */
static struct stamp stamp(void)
{
	struct stamp best = { 0 };
	uint64_t best_gap = UINT64_MAX;

	for (int i = 0; i < 16; i++) {
		uint64_t a = __rdtsc(), ns = raw_ns(), b = __rdtsc();

		if (b - a < best_gap) {
			best_gap = b - a;
			best = (struct stamp){ .tsc = a + (b - a) / 2, .ns = ns };
		}
	}
	return best;
}

int main(void)
{
	struct timespec pause = { .tv_nsec = (long)WINDOW_NS };
	struct stamp s0 = stamp(), s1;

	nanosleep(&pause, NULL);
	s1 = stamp();
	if (s1.ns <= s0.ns || s1.tsc <= s0.tsc) {
		fprintf(stderr, "tsc_hz: the TSC or the clock did not advance\n");
		return 1;
	}
	printf("tsc_hz=%.0f\n", (double)(s1.tsc - s0.tsc) * 1e9 / (double)(s1.ns - s0.ns));
	return 0;
}
