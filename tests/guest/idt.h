/* SPDX-License-Identifier: Apache-2.0 */
/* Interrupt descriptor table: one gate per vector, all funnelled to C. */
#ifndef CVG_IDT_H
#define CVG_IDT_H

#include <stdbool.h>
#include <stdint.h>

#define IDT_VECTORS 256
/* Vectors 0-31 are architectural exceptions (Intel SDM Vol. 3A,
 * "Vectors for Exceptions and Interrupts"). */
#define IDT_FIRST_IRQ_VECTOR 32

/* What isr.S pushes, lowest address first. */
struct isr_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	/* Pushed by the CPU (SDM Vol. 3A, "64-Bit Mode Stack Frame"). */
	uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*isr_handler_t)(struct isr_frame *frame);
/* Looks at an exception first: true when it was expected and dealt with. */
typedef bool (*trap_hook_t)(struct isr_frame *frame);

/* BSP: fill the table and load it.  APs: idt_load() the same table. */
void idt_init(void);
void idt_load(void);

/*
 * Route an interrupt vector (>= IDT_FIRST_IRQ_VECTOR) to a handler, which
 * acknowledges its own interrupt.  Exceptions and vectors without a handler
 * are reported on the console and power the machine off.
 */
void idt_set_handler(uint8_t vector, isr_handler_t handler);
/* A hook for exception @vector (< IDT_FIRST_IRQ_VECTOR). */
void idt_set_trap_hook(uint8_t vector, trap_hook_t hook);

/* Called by isr.S. */
void isr_dispatch(struct isr_frame *frame);

#endif /* CVG_IDT_H */
