/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/x86_insn.h"

#include <stdbool.h>

/* Intel SDM Vol. 2, 2.1.1 (legacy prefixes) and 2.2.1 (REX). */
static bool is_legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0xf0: case 0xf2: case 0xf3:
	case 0x2e: case 0x36: case 0x3e: case 0x26: case 0x64: case 0x65:
	case 0x66: case 0x67:
		return true;
	default:
		return false;
	}
}

/*
 * Length of a ModRM operand (mod, rm, SIB, displacement) in 64-bit mode with
 * a 32/64-bit address size; SDM Vol. 2, 2.1.5, tables 2-2 and 2-3.
 */
static size_t modrm_length(const uint8_t *p, size_t len)
{
	uint8_t mod, rm;
	size_t n = 1;

	if (len < 1)
		return 0;
	mod = p[0] >> 6;
	rm = p[0] & 7;
	if (mod == 3)
		return 1;
	if (rm == 4) {
		if (len < 2)
			return 0;
		n++;
		if (mod == 0 && (p[1] & 7) == 5)
			n += 4;
	} else if (mod == 0 && rm == 5) {
		n += 4; /* RIP-relative */
	}
	if (mod == 1)
		n += 1;
	else if (mod == 2)
		n += 4;
	return n <= len ? n : 0;
}

void x86_insn_decode(const uint8_t *bytes, size_t len, struct x86_insn *out)
{
	bool lock = false, rep = false, opsize = false;
	size_t i = 0, m = 0;
	uint8_t op, reg = 0;

	*out = (struct x86_insn){ X86_INSN_UNKNOWN, 0, "unknown" };
	while (i < len && is_legacy_prefix(bytes[i])) {
		lock |= bytes[i] == 0xf0;
		rep |= bytes[i] == 0xf3;
		opsize |= bytes[i] == 0x66;
		i++;
	}
	if (i < len && (bytes[i] & 0xf0) == 0x40)
		i++; /* REX */
	if (i >= len)
		return;
	op = bytes[i++];
	if (op == 0xcc) {
		*out = (struct x86_insn){ X86_INSN_INT3, i, "int3" };
		return;
	}
	if (op == 0x9b) {
		*out = (struct x86_insn){ X86_INSN_FWAIT, i, "fwait" };
		return;
	}
	if (op != 0x0f || i >= len)
		return;
	op = bytes[i++];
	if (op == 0x01 && i < len && (bytes[i] == 0xca || bytes[i] == 0xcb)) {
		bool clac = bytes[i] == 0xca;

		*out = (struct x86_insn){ clac ? X86_INSN_CLAC : X86_INSN_STAC, i + 1,
					  clac ? "clac" : "stac" };
		return;
	}
	if (op == 0x38 && i < len && bytes[i] == 0x82 && opsize) {
		i++;
		m = modrm_length(bytes + i, len - i);
		if (m)
			*out = (struct x86_insn){ X86_INSN_INVPCID, i + m, "invpcid" };
		return;
	}
	if (op == 0xb8 && rep) {
		m = modrm_length(bytes + i, len - i);
		if (m)
			*out = (struct x86_insn){ X86_INSN_POPCNT, i + m, "popcnt" };
		return;
	}
	if (i >= len)
		return;
	reg = (bytes[i] >> 3) & 7;
	m = modrm_length(bytes + i, len - i);
	if (!m)
		return;
	if (op == 0xc7 && reg == 1 && (bytes[i] >> 6) != 3) {
		*out = (struct x86_insn){ X86_INSN_CMPXCHG16B, i + m,
					  lock ? "lock cmpxchg16b" : "cmpxchg16b" };
	} else if (op == 0xc7 && reg == 7 && rep && (bytes[i] >> 6) == 3) {
		*out = (struct x86_insn){ X86_INSN_RDPID, i + m, "rdpid" };
	} else if (op == 0xae && (bytes[i] >> 6) == 3 && rep && reg <= 1) {
		*out = (struct x86_insn){ X86_INSN_RDFSBASE, i + m,
					  reg ? "rdgsbase" : "rdfsbase" };
	} else if (op == 0xae && (bytes[i] >> 6) != 3) {
		static const struct { enum x86_insn_kind kind; const char *name; } grp15[8] = {
			[2] = { X86_INSN_LDMXCSR, "ldmxcsr" },
			[3] = { X86_INSN_STMXCSR, "stmxcsr" },
			[4] = { X86_INSN_XSAVE, "xsave" },
			[5] = { X86_INSN_XRSTOR, "xrstor" },
		};

		if (grp15[reg].name)
			*out = (struct x86_insn){ grp15[reg].kind, i + m, grp15[reg].name };
	}
}
