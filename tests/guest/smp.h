/* SPDX-License-Identifier: Apache-2.0 */
/* Application processor start-up and the one lock the guest needs. */
#ifndef CVG_SMP_H
#define CVG_SMP_H

/* Shared with entry.S, which hands each AP its stack. */
#define SMP_MAX_CPUS      64
#define SMP_AP_STACK_SIZE 4096

#ifndef __ASSEMBLER__

#include <stdint.h>

#include "tests/guest/io.h"

struct spinlock {
	uint32_t locked;
};

static inline void spin_lock(struct spinlock *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			cpu_relax();
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

/*
 * Starts the APs named by apic_ids[0..n) (the BSP's own ID is skipped) and
 * waits for them at most timeout_ticks LAPIC timer ticks; the timer must be
 * running.  Returns how many CPUs are online, the BSP included.
 */
unsigned int smp_boot(const uint8_t *apic_ids, unsigned int n,
		      unsigned int timeout_ticks);

/* 64-bit C entry of each AP, called by entry.S on its own stack. */
void ap_main(unsigned int cpu) __attribute__((noreturn));

#endif /* __ASSEMBLER__ */
#endif /* CVG_SMP_H */
