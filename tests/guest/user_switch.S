/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The switches between ring 0 and ring 3.  Down: IRETQ (Intel SDM Vol. 3A,
 * "64-Bit Mode Stack Frame").  Up: a UD2 at one of two known addresses,
 * whose #UD user.c's hook recognises.  An exception because it is the one
 * way up that the software KVM this project runs on (kvm_pvm) delivers
 * faithfully: there INT n at CPL 3 raised #UD, and after a SYSCALL to
 * IA32_LSTAR the kernel's first IN faulted with the user CS still loaded.
 */
#include "tests/guest/user.h"

#define RFLAGS_IF 0x200

	.section .note.GNU-stack, "", @progbits
	.text
	.code64

/* int user_enter(int (*fn)(const char *), const char *arg, void *user_stack_top) */
	.globl user_enter
user_enter:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, kernel_rsp(%rip)
	/* The IRETQ frame: SS, RSP, RFLAGS (interrupts stay off), CS, RIP. */
	pushq $(USER_DS | 3)
	pushq %rdx
	pushfq
	popq %rax
	andq $~RFLAGS_IF, %rax
	pushq %rax
	pushq $(USER_CS | 3)
	leaq user_trampoline(%rip), %rax
	pushq %rax
	movq %rdi, %rax
	movq %rsi, %rdi
	iretq

/* Ring 3: RAX = fn, RDI = arg; fn's result goes up in RDI. */
user_trampoline:
	call *%rax
	movl %eax, %edi
	.globl user_gate_exit
user_gate_exit:
	ud2

/* Ring 3, called as a function: RAX = fn, RDI = arg; returns RAX. */
	.globl user_gate_kcall
user_gate_kcall:
	ud2
	ret

/* void user_leave(int result): back to user_enter's caller for good. */
	.globl user_leave
user_leave:
	movq kernel_rsp(%rip), %rsp
	movl %edi, %eax
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.bss
	.balign 8
kernel_rsp:
	.quad 0
