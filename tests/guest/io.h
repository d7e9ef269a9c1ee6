/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port and memory-mapped I/O for the test guest.  MMIO goes through volatile
 * plain MOVs so every access is one load or store the hypervisor can decode.
 */
#ifndef CVG_IO_H
#define CVG_IO_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/*
 * Sleep until the next interrupt.  STI's one-instruction interrupt shadow
 * (Intel SDM Vol. 2B, STI) makes "sti; hlt" atomic: an interrupt that became
 * pending while the caller checked its condition with IF=0 wakes the HLT
 * instead of being taken before it.  Returns with interrupts disabled again.
 */
static inline void cpu_wait_irq(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static inline void __attribute__((noreturn)) cpu_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

#endif /* CVG_IO_H */
