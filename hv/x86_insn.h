/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names the x86 instruction KVM failed to emulate, so the error a user sees
 * says "lock cmpxchg16b" rather than a row of hex.  A table of the
 * instructions known to trip software KVMs, not a disassembler.
 */
#ifndef CV_HV_X86_INSN_H
#define CV_HV_X86_INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum x86_insn_kind {
	X86_INSN_UNKNOWN,
	X86_INSN_INT3,
	X86_INSN_FWAIT,
	X86_INSN_CMPXCHG16B,
	X86_INSN_XRSTOR,
	X86_INSN_XSAVE,
	X86_INSN_LDMXCSR,
	X86_INSN_STMXCSR,
	X86_INSN_CLAC,
	X86_INSN_STAC,
	X86_INSN_POPCNT,
	X86_INSN_RDPID,
	X86_INSN_INVPCID,
	X86_INSN_RDFSBASE,
	X86_INSN_SSE,        /* an SSE data-movement or integer instruction */
};

/* Segment override prefixes that matter in 64-bit mode. */
enum x86_seg { X86_SEG_NONE, X86_SEG_FS, X86_SEG_GS };

/*
 * A ModRM memory operand in 64-bit mode (SDM Vol. 2, 2.1.5 and 2.2.1.3):
 * address = base + index * scale + disp, or next RIP + disp when RIP-relative.
 * Registers are numbered as in the encoding (0 = rax ... 15 = r15).
 */
struct x86_mem_operand {
	bool present;
	bool rip_relative;
	int base;            /* -1: none */
	int index;           /* -1: none */
	unsigned scale;
	int64_t disp;
	enum x86_seg seg;
	bool addr32;         /* 0x67 prefix: the address wraps at 4 GiB */
};

struct x86_insn {
	enum x86_insn_kind kind;
	size_t length;       /* bytes decoded incl. prefixes; 0 when unknown */
	const char *name;    /* "lock cmpxchg16b", or "unknown" */
	struct x86_mem_operand mem;
};

/* Decode the start of @bytes (@len valid bytes, as KVM reports them). */
void x86_insn_decode(const uint8_t *bytes, size_t len, struct x86_insn *out);

#endif /* CV_HV_X86_INSN_H */
