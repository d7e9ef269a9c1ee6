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

static int64_t read_disp(const uint8_t *p, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return n == 1 ? (int8_t)v : (int32_t)v;
}

/*
 * Decode a ModRM operand (mod, rm, SIB, displacement) in 64-bit mode with
 * the REX bits in @rex; SDM Vol. 2, 2.1.5, tables 2-2 and 2-3, and 2.2.1.2.
 * Returns its length, 0 when @len bytes do not hold all of it.
 */
static size_t modrm_decode(const uint8_t *p, size_t len, uint8_t rex,
			   struct x86_mem_operand *mem)
{
	uint8_t mod, rm;
	size_t n = 1, disp = 0;

	if (len < 1)
		return 0;
	mod = p[0] >> 6;
	rm = p[0] & 7;
	if (mod == 3)
		return 1;
	mem->present = true;
	mem->base = rm | ((rex & 1) << 3);
	mem->index = -1;
	mem->scale = 1;
	if (rm == 4) {
		uint8_t sib, index;

		if (len < 2)
			return 0;
		sib = p[1];
		n++;
		index = ((sib >> 3) & 7) | ((rex & 2) << 2);
		mem->scale = 1u << (sib >> 6);
		mem->index = index == 4 ? -1 : index; /* rsp cannot be an index */
		mem->base = (sib & 7) | ((rex & 1) << 3);
		if (mod == 0 && (sib & 7) == 5) {
			mem->base = -1;
			disp = 4;
		}
	} else if (mod == 0 && rm == 5) {
		mem->base = -1;
		mem->rip_relative = true;
		disp = 4;
	}
	if (mod == 1)
		disp = 1;
	else if (mod == 2)
		disp = 4;
	if (n + disp > len)
		return 0;
	mem->disp = read_disp(p + n, disp);
	return n + disp;
}

/*
 * Two-byte-opcode SSE instructions (SDM Vol. 2, appendix A, table A-3) that
 * kernel SIMD code starts with, named in their XMM form: enough for an
 * error to say "this is SIMD code".  @imm8: an immediate byte follows.
 */
static const struct {
	const char *name;
	bool imm8;
} sse_ops[256] = {
	[0x10] = { "movups", false }, [0x11] = { "movups", false }, [0x28] = { "movaps", false },
	[0x29] = { "movaps", false }, [0x6e] = { "movd", false },   [0x7e] = { "movd", false },
	[0x6f] = { "movdqa", false }, [0x7f] = { "movdqa", false }, [0xd6] = { "movq", false },
	[0xef] = { "pxor", false },   [0xeb] = { "por", false },    [0xdb] = { "pand", false },
	[0xfe] = { "paddd", false },  [0xd4] = { "paddq", false },  [0x70] = { "pshufd", true },
	[0x72] = { "psrld/psrad/pslld", true },
};

static void insn_set(struct x86_insn *out, enum x86_insn_kind kind, size_t length,
		     const char *name)
{
	out->kind = kind;
	out->length = length;
	out->name = name;
}

void x86_insn_decode(const uint8_t *bytes, size_t len, struct x86_insn *out)
{
	bool lock = false, rep = false, opsize = false, addr32 = false;
	enum x86_seg seg = X86_SEG_NONE;
	struct x86_mem_operand mem = { 0 };
	size_t i = 0, m = 0;
	uint8_t op, reg = 0, rex = 0;

	*out = (struct x86_insn){ .kind = X86_INSN_UNKNOWN, .name = "unknown" };
	while (i < len && is_legacy_prefix(bytes[i])) {
		lock |= bytes[i] == 0xf0;
		rep |= bytes[i] == 0xf3;
		opsize |= bytes[i] == 0x66;
		addr32 |= bytes[i] == 0x67;
		if (bytes[i] == 0x64)
			seg = X86_SEG_FS;
		else if (bytes[i] == 0x65)
			seg = X86_SEG_GS;
		i++;
	}
	if (i < len && (bytes[i] & 0xf0) == 0x40)
		rex = bytes[i++];
	if (i >= len)
		return;
	op = bytes[i++];
	if (op == 0xcc) {
		insn_set(out, X86_INSN_INT3, i, "int3");
		return;
	}
	if (op == 0x9b) {
		insn_set(out, X86_INSN_FWAIT, i, "fwait");
		return;
	}
	if (op != 0x0f || i >= len)
		return;
	op = bytes[i++];
	if (op == 0x01 && i < len && (bytes[i] == 0xca || bytes[i] == 0xcb)) {
		bool clac = bytes[i] == 0xca;

		insn_set(out, clac ? X86_INSN_CLAC : X86_INSN_STAC, i + 1,
					  clac ? "clac" : "stac");
		return;
	}
	if (op == 0x38 && i < len && bytes[i] == 0x82 && opsize) {
		i++;
		m = modrm_decode(bytes + i, len - i, rex, &mem);
		if (m)
			insn_set(out, X86_INSN_INVPCID, i + m, "invpcid");
		goto operand;
	}
	if (op == 0xb8 && rep) {
		m = modrm_decode(bytes + i, len - i, rex, &mem);
		if (m)
			insn_set(out, X86_INSN_POPCNT, i + m, "popcnt");
		goto operand;
	}
	if (i >= len)
		return;
	if (op == 0x38 && bytes[i] == 0x00) {
		m = modrm_decode(bytes + i + 1, len - i - 1, rex, &mem);
		if (m)
			insn_set(out, X86_INSN_SSE, i + 1 + m, "pshufb");
		goto operand;
	}
	reg = (bytes[i] >> 3) & 7;
	m = modrm_decode(bytes + i, len - i, rex, &mem);
	if (!m)
		return;
	if (op == 0xc7 && reg == 1 && (bytes[i] >> 6) != 3) {
		insn_set(out, X86_INSN_CMPXCHG16B, i + m,
					  lock ? "lock cmpxchg16b" : "cmpxchg16b");
	} else if (op == 0xc7 && reg == 7 && rep && (bytes[i] >> 6) == 3) {
		insn_set(out, X86_INSN_RDPID, i + m, "rdpid");
	} else if (op == 0xae && (bytes[i] >> 6) == 3 && rep && reg <= 1) {
		insn_set(out, X86_INSN_RDFSBASE, i + m,
					  reg ? "rdgsbase" : "rdfsbase");
	} else if (op == 0xae && (bytes[i] >> 6) != 3) {
		static const struct { enum x86_insn_kind kind; const char *name; } grp15[8] = {
			[2] = { X86_INSN_LDMXCSR, "ldmxcsr" },
			[3] = { X86_INSN_STMXCSR, "stmxcsr" },
			[4] = { X86_INSN_XSAVE, "xsave" },
			[5] = { X86_INSN_XRSTOR, "xrstor" },
		};

		if (grp15[reg].name)
			insn_set(out, grp15[reg].kind, i + m, grp15[reg].name);
	} else if (sse_ops[op].name && i + m + sse_ops[op].imm8 <= len) {
		insn_set(out, X86_INSN_SSE, i + m + sse_ops[op].imm8, sse_ops[op].name);
	}
operand:
	if (out->kind != X86_INSN_UNKNOWN && mem.present) {
		mem.seg = seg;
		mem.addr32 = addr32;
		out->mem = mem;
	}
}
