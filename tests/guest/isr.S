/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One 16-byte stub per interrupt vector.  Each pushes a zero in place of the
 * error code when the CPU pushes none (Intel SDM Vol. 3A, "Error Code":
 * #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX have one), then its vector
 * number, so isr_common always sees the same struct isr_frame.
 */
#define ISR_STUB_SIZE 16

	.section .note.GNU-stack, "", @progbits
	.text
	.code64

	.globl isr_stubs
	.balign ISR_STUB_SIZE
isr_stubs:
	.set vector, 0
	.rept 256
	.if !(vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30)
	pushq $0
	.endif
	pushq $vector
	jmp isr_common
	.balign ISR_STUB_SIZE
	.set vector, vector + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	/*
	 * The CPU aligned RSP to 16 before its 5-word frame (SDM Vol. 3A,
	 * "64-Bit Mode Stack Frame"); with error code, vector and 15 registers
	 * we are 16-byte aligned again, as the SysV ABI wants at a call.
	 */
	movq %rsp, %rdi
	cld
	call isr_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp    /* vector and error code */
	iretq
