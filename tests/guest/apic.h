/* SPDX-License-Identifier: Apache-2.0 */
/* The local APIC in xAPIC (MMIO) mode: timer, EOI and start-up IPIs. */
#ifndef CVG_APIC_H
#define CVG_APIC_H

#include <stdbool.h>
#include <stdint.h>

#define APIC_TIMER_VECTOR    0x40
#define APIC_SPURIOUS_VECTOR 0xff
#define APIC_TIMER_HZ        100

/* BSP: mask the 8259 PIC, software-enable the LAPIC, route its vectors. */
void lapic_init(void);

uint8_t lapic_id(void);
void lapic_eoi(void);

/* Periodic interrupt at APIC_TIMER_HZ on the calling CPU. */
void lapic_timer_start(void);
/* Whether the timer's current count moves, i.e. a tick will come. */
bool lapic_timer_counting(void);
/* Timer interrupts taken since lapic_timer_start(). */
uint64_t lapic_ticks(void);
/* Sleeps (sti; hlt) until n more ticks have been taken. */
void lapic_wait_ticks(unsigned int n);

/* INIT, then START-UP at vector << 12 (SDM Vol. 3A, "Interrupt Command
 * Register"). */
void lapic_send_init(uint8_t apic_id);
void lapic_send_startup(uint8_t apic_id, uint8_t vector);

#endif /* CVG_APIC_H */
