/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/apic.h"

#include "guest-abi/cv_platform.h"
#include "tests/guest/idt.h"
#include "tests/guest/io.h"

/* xAPIC register offsets (Intel SDM Vol. 3A, "Local APIC Register
 * Address Map"). */
#define LAPIC_ID       0x020
#define LAPIC_TPR      0x080
#define LAPIC_EOI      0x0b0
#define LAPIC_SVR      0x0f0
#define LAPIC_ICR_LOW  0x300
#define LAPIC_ICR_HIGH 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE  0x3e0

#define SVR_APIC_ENABLE   (1u << 8)
#define LVT_TIMER_PERIODIC (1u << 17)
#define TIMER_DIVIDE_16   0x3
#define ICR_DELIVERY_INIT    (5u << 8)
#define ICR_DELIVERY_STARTUP (6u << 8)
#define ICR_SEND_PENDING  (1u << 12)
#define ICR_LEVEL_ASSERT  (1u << 14)

/*
 * No firmware tells us the APIC bus clock.  KVM runs the LAPIC timer at one
 * count per nanosecond before the divider (arch/x86/kvm/lapic.h,
 * APIC_BUS_CYCLE_NS), and QEMU's emulated APIC does the same, so assume
 * 1 GHz; a wrong guess only stretches the guest's timeouts.
 */
#define APIC_BUS_HZ 1000000000u
#define TIMER_INITIAL_COUNT (APIC_BUS_HZ / 16 / APIC_TIMER_HZ)

/* A few reads of the current count, each one a trip to the hypervisor. */
#define TIMER_COUNTING_POLLS 1000
/* KVM delivers IPIs synchronously; bound the wait for anything slower. */
#define ICR_IDLE_POLLS 1000
/* Legacy 8259 interrupt mask registers (Intel 8259A data sheet, OCW1). */
#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

static volatile uint64_t ticks;

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(CV_LAPIC_BASE + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(CV_LAPIC_BASE + reg, v);
}

static void timer_isr(struct isr_frame *f)
{
	(void)f;
	ticks++;
	lapic_eoi();
}

/* Spurious interrupts need no EOI (SDM Vol. 3A, "Spurious Interrupt"). */
static void spurious_isr(struct isr_frame *f)
{
	(void)f;
}

void lapic_init(void)
{
	/* The guest uses the LAPIC only: keep the 8259 from raising ExtINTs. */
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);

	idt_set_handler(APIC_TIMER_VECTOR, timer_isr);
	idt_set_handler(APIC_SPURIOUS_VECTOR, spurious_isr);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, SVR_APIC_ENABLE | APIC_SPURIOUS_VECTOR);
}

uint8_t lapic_id(void)
{
	return (uint8_t)(lapic_read(LAPIC_ID) >> 24);
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void lapic_timer_start(void)
{
	lapic_write(LAPIC_TIMER_DIVIDE, TIMER_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | APIC_TIMER_VECTOR);
	lapic_write(LAPIC_TIMER_INITIAL, TIMER_INITIAL_COUNT);
}

bool lapic_timer_counting(void)
{
	uint32_t first = lapic_read(LAPIC_TIMER_CURRENT);

	for (int i = 0; i < TIMER_COUNTING_POLLS; i++)
		if (lapic_read(LAPIC_TIMER_CURRENT) != first)
			return true;
	return false;
}

uint64_t lapic_ticks(void)
{
	return ticks;
}

void lapic_wait_ticks(unsigned int n)
{
	uint64_t end = ticks + n;

	while (ticks < end)
		cpu_wait_irq();
}

static void lapic_send_ipi(uint8_t apic_id, uint32_t icr_low)
{
	lapic_write(LAPIC_ICR_HIGH, (uint32_t)apic_id << 24);
	/* Writing the low half sends (SDM Vol. 3A, "Interrupt Command
	 * Register"). */
	lapic_write(LAPIC_ICR_LOW, icr_low);
	for (int i = 0; i < ICR_IDLE_POLLS; i++)
		if (!(lapic_read(LAPIC_ICR_LOW) & ICR_SEND_PENDING))
			break;
}

void lapic_send_init(uint8_t apic_id)
{
	lapic_send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT);
}

void lapic_send_startup(uint8_t apic_id, uint8_t vector)
{
	lapic_send_ipi(apic_id, ICR_DELIVERY_STARTUP | ICR_LEVEL_ASSERT | vector);
}
