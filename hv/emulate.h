/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Instructions cv-hv completes itself when the host KVM's instruction
 * emulator gives up on them (KVM_EXIT_INTERNAL_ERROR, emulation failure).
 * A hardware KVM never hands these to its emulator; a software one
 * (kvm_pvm) does.  Each emulation does exactly what the instruction does to
 * architectural state, through KVM's own register, FPU and address
 * translation ioctls, and then advances RIP.
 */
#ifndef CV_HV_EMULATE_H
#define CV_HV_EMULATE_H

#include "hv/memory.h"
#include "hv/x86_insn.h"

/*
 * ldmxcsr / stmxcsr m32 in 64-bit mode.  -ENOTSUP outside 64-bit mode,
 * -EFAULT when the operand does not translate to guest RAM, -EINVAL when
 * ldmxcsr would set reserved MXCSR bits (the CPU raises #GP there: cv-hv
 * stops rather than guess).
 */
int emulate_mxcsr(int vcpu_fd, const struct guest_mem *mem, const struct x86_insn *insn);

#endif /* CV_HV_EMULATE_H */
