/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/user.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "tests/guest/entry.h"
#include "tests/guest/idt.h"
#include "tests/guest/lib.h"
#include "tests/guest/serial.h"

_Static_assert(USER_DS == 4 * 8 && USER_CS == 5 * 8 && USER_TSS == 6 * 8,
	       "user.h's selectors index user.c's GDT");

#define USER_STACK_SIZE   65536
#define KERNEL_STACK_SIZE 16384
#define PTE_U             (1ull << 2)
#define PTE_ADDR          0x000ffffffffff000ull
#define REPORT_LINE_MAX   768

/* user_switch.S */
int user_enter(int (*fn)(const char *), const char *arg, void *user_stack_top);
void user_leave(int result) __attribute__((noreturn));
extern const char user_gate_exit[], user_gate_kcall[];
#define UD2_LEN 2
#define VECTOR_UD 6

/* Intel SDM Vol. 3A, "Task-State Segment (TSS)" in 64-bit mode. */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

/*
 * entry.S's three descriptors at the same selectors, then user data, user
 * 64-bit code (DPL 3) and the 16-byte TSS descriptor (SDM Vol. 3A,
 * "Segment Descriptors", "TSS Descriptor in 64-bit mode").
 */
static uint64_t gdt[8] __attribute__((aligned(16))) = {
	0,
	0x00af9b000000ffffull,  /* KERNEL_CS */
	0x00cf93000000ffffull,  /* KERNEL_DS */
	0x00cf9b000000ffffull,  /* KERNEL_CS32 */
	0x00cff3000000ffffull,  /* USER_DS */
	0x00affb000000ffffull,  /* USER_CS */
};
static struct tss64 tss;
static uint8_t user_stack[USER_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t kernel_stack[KERNEL_STACK_SIZE] __attribute__((aligned(16)));
static bool ready;
static volatile unsigned int cpl;

/*
 * #UD from one of user_switch.S's gates is a request, not a fault: run the
 * function at CPL 0 on this (the TSS's) stack and resume after the UD2, or
 * leave user mode.  Any other #UD is the program's bug.
 */
static bool gate_hook(struct isr_frame *f)
{
	if (f->rip == (uintptr_t)user_gate_exit) {
		cpl = 0;
		user_leave((int)f->rdi);
	}
	if (f->rip != (uintptr_t)user_gate_kcall)
		return false;
	int (*fn)(void *) = (int (*)(void *))(uintptr_t)f->rax;
	cpl = 0;
	f->rax = (uint64_t)(int64_t)fn((void *)(uintptr_t)f->rdi);
	cpl = 3;
	f->rip += UD2_LEN;
	return true;
}

static void load_gdt_and_tss(void)
{
	uint64_t base = (uintptr_t)&tss;
	uint64_t limit = sizeof(tss) - 1;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) p = { sizeof(gdt) - 1, (uintptr_t)gdt };

	tss.rsp[0] = (uintptr_t)kernel_stack + sizeof(kernel_stack);
	/* The I/O bitmap starts past the limit: no port is open to CPL 3. */
	tss.iomap_base = sizeof(tss);
	gdt[6] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
		 ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[7] = base >> 32;
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\tmov %2, %%eax\n\t"
			 "mov %%eax, %%ds\n\t"
			 "mov %%eax, %%es\n\t"
			 "mov %%eax, %%ss\n\t"
			 "ltr %w3"
			 : : "m"(p), "i"(KERNEL_CS), "i"(KERNEL_DS), "r"(USER_TSS)
			 : "rax", "memory");
}

/* Sets U/S at every level of entry.S's identity map (2 MiB pages). */
static void map_user(void)
{
	uint64_t cr3, *pml4, *pdpt;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(uintptr_t)(cr3 & PTE_ADDR);
	pml4[0] |= PTE_U;
	pdpt = (uint64_t *)(uintptr_t)(pml4[0] & PTE_ADDR);
	for (int i = 0; i < 4; i++) {
		uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[i] & PTE_ADDR);

		pdpt[i] |= PTE_U;
		for (int j = 0; j < 512; j++)
			pd[j] |= PTE_U;
	}
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

int user_run(int (*fn)(const char *), const char *arg)
{
	if (!ready) {
		load_gdt_and_tss();
		map_user();
		idt_set_trap_hook(VECTOR_UD, gate_hook);
		ready = true;
	}
	cpl = 3;
	return user_enter(fn, arg, user_stack + sizeof(user_stack));
}

unsigned int user_cpl(void)
{
	return cpl;
}

int user_kcall(int (*fn)(void *), void *arg)
{
	uintptr_t ret = (uintptr_t)fn;

	if (!cpl)
		return fn(arg);
	/* The gate returns like a C function: caller-saved registers go. */
	__asm__ volatile("call user_gate_kcall"
			 : "+a"(ret), "+D"(arg)
			 :
			 : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory");
	return (int)ret;
}

static int print_line(void *line)
{
	kprintf("%s", (const char *)line);
	return 0;
}

void report(const char *fmt, ...)
{
	char line[REPORT_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	user_kcall(print_line, line);
}
