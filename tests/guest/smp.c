/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/smp.h"

#include "guest-abi/cv_platform.h"
#include "tests/guest/apic.h"
#include "tests/guest/entry.h"
#include "tests/guest/idt.h"
#include "tests/guest/lib.h"
#include "tests/guest/serial.h"

/* A SIPI names a 4 KiB page below 1 MiB by its number (SDM Vol. 3A,
 * "Interrupt Command Register"). */
#define TRAMPOLINE_VECTOR (CV_GUEST_SCRATCH >> 12)
_Static_assert(CV_GUEST_SCRATCH % 4096 == 0 && TRAMPOLINE_VECTOR <= 0xff,
	       "the AP trampoline must start on a page below 1 MiB");

static unsigned int aps_online;

void ap_main(unsigned int cpu)
{
	idt_load();
	kprintf("cvguest: cpu %u online apic=%u\n", cpu, lapic_id());
	__atomic_add_fetch(&aps_online, 1, __ATOMIC_RELEASE);
	cpu_halt_forever();
}

static void send_startup_round(const uint8_t *apic_ids, unsigned int n, uint8_t self)
{
	for (unsigned int i = 0; i < n; i++)
		if (apic_ids[i] != self)
			lapic_send_startup(apic_ids[i], TRAMPOLINE_VECTOR);
}

/*
 * The INIT-SIPI-SIPI sequence of SDM Vol. 3A, "Typical BSP Initialization
 * Sequence", sent to each AP by its APIC ID rather than broadcast, so only
 * the CPUs the MADT enables start.
 * Its delays (10 ms after INIT, 200 us between the SIPIs) are rounded up to
 * whole timer ticks.
 */
unsigned int smp_boot(const uint8_t *apic_ids, unsigned int n,
		      unsigned int timeout_ticks)
{
	uint8_t self = lapic_id();
	unsigned int expected = 0;

	memcpy((void *)CV_GUEST_SCRATCH, ap_trampoline,
	       (size_t)(ap_trampoline_end - ap_trampoline));
	for (unsigned int i = 0; i < n; i++) {
		if (apic_ids[i] == self)
			continue;
		lapic_send_init(apic_ids[i]);
		expected++;
	}
	if (!expected)
		return 1;

	lapic_wait_ticks(2);
	send_startup_round(apic_ids, n, self);
	lapic_wait_ticks(1);
	send_startup_round(apic_ids, n, self);

	uint64_t deadline = lapic_ticks() + timeout_ticks;
	while (__atomic_load_n(&aps_online, __ATOMIC_ACQUIRE) < expected &&
	       lapic_ticks() < deadline)
		cpu_wait_irq();
	return 1 + __atomic_load_n(&aps_online, __ATOMIC_ACQUIRE);
}
