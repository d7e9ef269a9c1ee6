/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/idt.h"

#include "tests/guest/power.h"
#include "tests/guest/serial.h"

/* Selector of entry.S's 64-bit code segment. */
#define KERNEL_CS 0x08
/* Present, DPL 0, 64-bit interrupt gate: IF is cleared on entry (SDM Vol. 3A,
 * "64-Bit Mode IDT"). */
#define GATE_INTERRUPT 0x8e

/* isr.S: IDT_VECTORS stubs, each ISR_STUB_SIZE bytes apart. */
#define ISR_STUB_SIZE 16
extern const char isr_stubs[];

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

struct idt_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));
static isr_handler_t handlers[IDT_VECTORS];
static trap_hook_t trap_hooks[IDT_FIRST_IRQ_VECTOR];

void idt_init(void)
{
	for (unsigned int v = 0; v < IDT_VECTORS; v++) {
		uint64_t addr = (uintptr_t)isr_stubs + v * ISR_STUB_SIZE;

		idt[v] = (struct idt_gate){
			.offset_low = (uint16_t)addr,
			.selector = KERNEL_CS,
			.type = GATE_INTERRUPT,
			.offset_mid = (uint16_t)(addr >> 16),
			.offset_high = (uint32_t)(addr >> 32),
		};
	}
	idt_load();
}

void idt_load(void)
{
	struct idt_pointer p = { .limit = sizeof(idt) - 1, .base = (uintptr_t)idt };

	__asm__ volatile("lidt %0" : : "m"(p));
}

void idt_set_handler(uint8_t vector, isr_handler_t handler)
{
	if (vector >= IDT_FIRST_IRQ_VECTOR)
		handlers[vector] = handler;
}

void idt_set_trap_hook(uint8_t vector, trap_hook_t hook)
{
	if (vector < IDT_FIRST_IRQ_VECTOR)
		trap_hooks[vector] = hook;
}

void isr_dispatch(struct isr_frame *f)
{
	isr_handler_t h = handlers[f->vector % IDT_VECTORS];

	if (h) {
		h(f);
		return;
	}
	if (f->vector < IDT_FIRST_IRQ_VECTOR && trap_hooks[f->vector] &&
	    trap_hooks[f->vector](f))
		return;
	/* The faulting CPU may hold the console lock; the report matters more. */
	serial_break_lock();
	kprintf("cvguest: exception %lu rip=0x%lx err=0x%lx cs=0x%lx\n", f->vector, f->rip,
		f->error, f->cs);
	fail("exception");
}
