/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Boot: the PVH entry (guest-abi/pvh.h), the switch from 32-bit protected
 * mode to long mode (Intel SDM Vol. 3A, "Initializing IA-32e Mode"),
 * and the real-mode trampoline the APs start in after their SIPI.
 */
#include "tests/guest/entry.h"
#include "tests/guest/smp.h"

#define CR0_PE   0x00000001
#define CR0_NW   0x20000000
#define CR0_CD   0x40000000
#define CR0_PG   0x80000000
#define CR4_PAE  0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

#define PTE_P    0x001
#define PTE_W    0x002
#define PTE_PWT  0x008
#define PTE_PCD  0x010
#define PTE_PS   0x080  /* 2 MiB page in a page directory */

#define BOOT_STACK_SIZE 16384

	.section .note.GNU-stack, "", @progbits

/* PVH entry note: name "Xen", type PHYS32_ENTRY, 4-byte entry address. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4
	.long 4
	.long ENTRY_PVH_NOTE_TYPE
	.asciz "Xen"
	.long pvh_start32

/*
 * Page tables (SDM Vol. 3A, "4-Level Paging"): identity map of the first
 * 4 GiB in 2 MiB pages, the MMIO hole uncached (PCD|PWT select PAT entry 3,
 * UC, with the power-on PAT).  Built by the assembler, so the boot
 * path executes no loop, and shared by every CPU.
 */
	.data
	.balign 4096
pml4:
	.quad pdpt + PTE_P + PTE_W
	.fill 511, 8, 0
pdpt:
	.set pd_index, 0
	.rept 4
	.quad pd + pd_index * 4096 + PTE_P + PTE_W
	.set pd_index, pd_index + 1
	.endr
	.fill 508, 8, 0
pd:
	.set page, 0
	.rept 2048
	.if page < ENTRY_UC_START
	.quad page + PTE_P + PTE_W + PTE_PS
	.else
	.quad page + PTE_P + PTE_W + PTE_PS + PTE_PWT + PTE_PCD
	.endif
	.set page, page + 0x200000
	.endr

	.balign 16
gdt:
	.quad 0
	.quad 0x00af9b000000ffff  /* KERNEL_CS: 64-bit code, accessed */
	.quad 0x00cf93000000ffff  /* KERNEL_DS: flat 4 GiB data, accessed */
	.quad 0x00cf9b000000ffff  /* KERNEL_CS32: flat 4 GiB 32-bit code */
gdt_end:
gdt_pointer:
	.word gdt_end - gdt - 1
	.long gdt

/* Index of the next AP to arrive; the BSP is CPU 0. */
ap_next_cpu:
	.long 1

/* Stacks: not in .bss, so zeroing .bss does not wipe the one in use. */
	.section .stack, "aw", @nobits
	.balign 16
ap_stacks:
	.skip (SMP_MAX_CPUS - 1) * SMP_AP_STACK_SIZE
boot_stack:
	.skip BOOT_STACK_SIZE
boot_stack_top:

/* Needs no stack: the APs have none until they reach long mode. */
.macro enter_long_mode
	mov $pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	/* An AP leaves INIT with caching disabled (SDM Vol. 3A, "Processor
	 * States Following Power-up, Reset, or INIT"). */
	mov %cr0, %eax
	and $~(CR0_CD | CR0_NW), %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
.endm

.macro load_data_segments
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
.endm

	.section .text.entry, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	/* EBX = struct hvm_start_info *; everything below preserves it. */
	cli
	cld
	lgdt gdt_pointer
	ljmp $KERNEL_CS32, $1f
1:	load_data_segments
	enter_long_mode
	ljmp $KERNEL_CS, $bsp_start64

	.code64
bsp_start64:
	lea boot_stack_top(%rip), %rsp
	/* A loader should hand us zeroed .bss; do not depend on it. */
	lea __bss_start(%rip), %rdi
	lea __bss_end(%rip), %rcx
	sub %rdi, %rcx
	shr $3, %rcx
	xor %eax, %eax
	rep stosq
	mov %ebx, %edi
	call main
halt:
	cli
	hlt
	jmp halt

/*
 * AP start-up (SDM Vol. 3A, "MP Initialization Example"): the SIPI
 * starts the AP in real mode at CS = vector << 8, IP = 0, wherever main.c
 * copied this code.  It only needs addressing relative to CS to load the
 * GDT, then jumps to the copy of the rest still in the image above 1 MiB.
 */
	.code16
	.globl ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl ap_gdt_pointer - ap_trampoline
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $KERNEL_CS32, $ap_start32
	.balign 8
ap_gdt_pointer:
	.word gdt_end - gdt - 1
	.long gdt
ap_trampoline_end:

	.code32
ap_start32:
	load_data_segments
	enter_long_mode
	ljmp $KERNEL_CS, $ap_start64

	.code64
ap_start64:
	mov $1, %eax
	lock xaddl %eax, ap_next_cpu(%rip)
	cmp $SMP_MAX_CPUS, %eax
	jae halt
	/* CPU i (1 <= i < SMP_MAX_CPUS) takes the stack ending at ap_stacks + i * size. */
	mov %eax, %edi
	imul $SMP_AP_STACK_SIZE, %eax, %eax
	lea ap_stacks(%rip), %rsp
	add %rax, %rsp
	call ap_main
	jmp halt
