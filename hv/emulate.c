/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/emulate.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

/* MXCSR bits 16..31 are reserved (SDM Vol. 1, 10.2.3); writing one is #GP. */
#define MXCSR_RESERVED 0xffff0000u
#define EFER_LMA       (1u << 10)
/*
 * MXCSR's place in the legacy region of the XSAVE area (SDM Vol. 1, 10.5.1).
 * KVM_GET/SET_FPU do not carry MXCSR (struct kvm_fpu has the field, KVM
 * ignores it), so the XSAVE ioctls are the way to it.
 */
#define XSAVE_MXCSR_OFFSET 24
/*
 * XSAVE header (SDM Vol. 1, 13.4.2): XSTATE_BV says which components hold
 * real state.  KVM_SET_XSAVE takes MXCSR only when SSE (or x87/AVX) is
 * marked there; an SSE component in its init state has zero XMM registers.
 */
#define XSAVE_XMM_OFFSET    160
#define XSAVE_XMM_SIZE      256
#define XSAVE_HEADER_OFFSET 512
#define XFEATURE_MASK_SSE   (1ULL << 1)

/* struct kvm_regs in ModRM register-number order (rax, rcx, rdx, rbx, ...). */
static uint64_t gpr(const struct kvm_regs *r, int n)
{
	const uint64_t v[16] = { r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi,
				 r->rdi, r->r8, r->r9, r->r10, r->r11, r->r12, r->r13,
				 r->r14, r->r15 };

	return v[n & 15];
}

static uint64_t effective_address(const struct x86_insn *insn, const struct kvm_regs *regs,
				  const struct kvm_sregs *sregs)
{
	const struct x86_mem_operand *m = &insn->mem;
	uint64_t ea = (uint64_t)m->disp;

	if (m->rip_relative)
		ea += regs->rip + insn->length;
	if (m->base >= 0)
		ea += gpr(regs, m->base);
	if (m->index >= 0)
		ea += gpr(regs, m->index) * m->scale;
	if (m->addr32)
		ea = (uint32_t)ea;
	/* In 64-bit mode only FS and GS have a base (SDM Vol. 1, 3.4.2.1). */
	if (m->seg == X86_SEG_FS)
		ea += sregs->fs.base;
	else if (m->seg == X86_SEG_GS)
		ea += sregs->gs.base;
	return ea;
}

/* Byte by byte: an unaligned operand may straddle two pages. */
static void *guest_byte(int vcpu_fd, const struct guest_mem *mem, uint64_t gva)
{
	struct kvm_translation tr = { .linear_address = gva };

	if (ioctl(vcpu_fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return NULL;
	return guest_mem_ptr(mem, tr.physical_address, 1);
}

int emulate_mxcsr(int vcpu_fd, const struct guest_mem *mem, const struct x86_insn *insn)
{
	const bool load = insn->kind == X86_INSN_LDMXCSR;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_xsave xsave;
	uint32_t mxcsr;
	uint8_t *bytes[4];
	uint64_t ea;
	uint32_t v = 0;

	if ((insn->kind != X86_INSN_LDMXCSR && insn->kind != X86_INSN_STMXCSR) ||
	    !insn->mem.present)
		return -EINVAL;
	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_XSAVE, &xsave) < 0)
		return -errno;
	if (!(sregs.efer & EFER_LMA) || !sregs.cs.l)
		return -ENOTSUP;
	ea = effective_address(insn, &regs, &sregs);
	for (int i = 0; i < 4; i++)
		if (!(bytes[i] = guest_byte(vcpu_fd, mem, ea + (uint64_t)i)))
			return -EFAULT;
	if (load) {
		for (int i = 0; i < 4; i++)
			v |= (uint32_t)*bytes[i] << (8 * i);
		if (v & MXCSR_RESERVED)
			return -EINVAL;
		uint8_t *area = (uint8_t *)xsave.region;
		uint64_t xstate_bv;

		memcpy(&xstate_bv, area + XSAVE_HEADER_OFFSET, sizeof(xstate_bv));
		if (!(xstate_bv & XFEATURE_MASK_SSE)) {
			memset(area + XSAVE_XMM_OFFSET, 0, XSAVE_XMM_SIZE);
			xstate_bv |= XFEATURE_MASK_SSE;
			memcpy(area + XSAVE_HEADER_OFFSET, &xstate_bv, sizeof(xstate_bv));
		}
		memcpy(area + XSAVE_MXCSR_OFFSET, &v, sizeof(v));
		if (ioctl(vcpu_fd, KVM_SET_XSAVE, &xsave) < 0)
			return -errno;
	} else {
		memcpy(&mxcsr, (uint8_t *)xsave.region + XSAVE_MXCSR_OFFSET, sizeof(mxcsr));
		for (int i = 0; i < 4; i++)
			*bytes[i] = (uint8_t)(mxcsr >> (8 * i));
	}
	regs.rip += insn->length;
	return ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}
