/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU state a loader hands to vCPU 0: everything needed to enter the
 * guest kernel.  The loader has already written the GDT, page tables and
 * boot structures these registers point at.
 */
#ifndef CV_HV_BOOT_H
#define CV_HV_BOOT_H

#include <stdint.h>

/*
 * Selectors of the boot GDT at CV_BOOT_GDT, the same for both modes:
 * entries 0 and 1 are null, 2 is a flat code segment, 3 a flat read/write
 * data segment.  0x10/0x18 are what the Linux 64-bit boot protocol demands
 * (__BOOT_CS/__BOOT_DS, Linux Documentation/arch/x86/boot.rst, "64-bit BOOT
 * PROTOCOL"); PVH only asks for flat segments, so it uses the same slots with
 * a 32-bit code descriptor.
 */
#define BOOT_CS 0x10
#define BOOT_DS 0x18

enum boot_mode {
	/*
	 * Linux bzImage 64-bit entry: long mode, CR0.PE|PG, CR4.PAE,
	 * EFER.LME|LMA, CS 64-bit (L=1) flat, DS/ES/SS flat, interrupts off,
	 * identity-mapped first 4 GiB.
	 */
	BOOT_MODE_LINUX64,
	/*
	 * PVH: 32-bit protected mode, CR0.PE only (paging off), CS 32-bit
	 * (D=1) flat, DS/ES/SS flat, interrupts off.
	 */
	BOOT_MODE_PVH32,
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi;            /* LINUX64: GPA of struct boot_params, else 0 */
	uint64_t rbx;            /* PVH32: GPA of struct hvm_start_info, else 0 */
	uint64_t rsp;
	uint64_t cr3;            /* LINUX64: PML4 GPA; PVH32: 0 (paging off) */
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint16_t code_selector;  /* BOOT_CS */
	uint16_t data_selector;  /* BOOT_DS, also for ES, SS, FS, GS */
};

#endif /* CV_HV_BOOT_H */
