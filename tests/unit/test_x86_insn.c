/* SPDX-License-Identifier: Apache-2.0 */
/* Byte patterns from the Intel SDM Vol. 2 opcode tables and from the
 * emulation failures seen on software KVM (shared/kvm-notes.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hv/x86_insn.h"

static void expect(const uint8_t *b, size_t n, enum x86_insn_kind kind, size_t len,
		   const char *name)
{
	struct x86_insn insn;

	x86_insn_decode(b, n, &insn);
	assert_int_equal(insn.kind, kind);
	assert_int_equal(insn.length, len);
	assert_string_equal(insn.name, name);
}

static void test_known_instructions(void **state)
{
	(void)state;
	expect((const uint8_t[]){ 0xcc, 0x90 }, 2, X86_INSN_INT3, 1, "int3");
	expect((const uint8_t[]){ 0x9b }, 1, X86_INSN_FWAIT, 1, "fwait");
	/* lock cmpxchg16b (%rsi): f0 48 0f c7 0e */
	expect((const uint8_t[]){ 0xf0, 0x48, 0x0f, 0xc7, 0x0e }, 5, X86_INSN_CMPXCHG16B, 5,
	       "lock cmpxchg16b");
	/* xrstor64 (%rdi): 48 0f ae 2f */
	expect((const uint8_t[]){ 0x48, 0x0f, 0xae, 0x2f }, 4, X86_INSN_XRSTOR, 4, "xrstor");
	/* ldmxcsr 0x10(%rsp): 0f ae 54 24 10 (SIB + disp8) */
	expect((const uint8_t[]){ 0x0f, 0xae, 0x54, 0x24, 0x10 }, 5, X86_INSN_LDMXCSR, 5,
	       "ldmxcsr");
	/* ldmxcsr disp32(%rip): 0f ae 15 xx xx xx xx */
	expect((const uint8_t[]){ 0x0f, 0xae, 0x15, 1, 2, 3, 4 }, 7, X86_INSN_LDMXCSR, 7,
	       "ldmxcsr");
	expect((const uint8_t[]){ 0x0f, 0x01, 0xca }, 3, X86_INSN_CLAC, 3, "clac");
	expect((const uint8_t[]){ 0x0f, 0x01, 0xcb }, 3, X86_INSN_STAC, 3, "stac");
	/* popcnt %rdi,%rax: f3 48 0f b8 c7 */
	expect((const uint8_t[]){ 0xf3, 0x48, 0x0f, 0xb8, 0xc7 }, 5, X86_INSN_POPCNT, 5, "popcnt");
	/* rdpid %rax: f3 0f c7 f8 */
	expect((const uint8_t[]){ 0xf3, 0x0f, 0xc7, 0xf8 }, 4, X86_INSN_RDPID, 4, "rdpid");
	/* invpcid (%rsi),%rax: 66 0f 38 82 06 */
	expect((const uint8_t[]){ 0x66, 0x0f, 0x38, 0x82, 0x06 }, 5, X86_INSN_INVPCID, 5,
	       "invpcid");
	/* rdgsbase %rax: f3 48 0f ae c8 */
	expect((const uint8_t[]){ 0xf3, 0x48, 0x0f, 0xae, 0xc8 }, 5, X86_INSN_RDFSBASE, 5,
	       "rdgsbase");
	/* movd %ecx,%xmm15: 66 44 0f 6e f9, where the stock kernel's BLAKE2s stopped. */
	expect((const uint8_t[]){ 0x66, 0x44, 0x0f, 0x6e, 0xf9, 0x4c, 0x8d }, 7, X86_INSN_SSE, 5,
	       "movd");
	/* pshufd $0x93,%xmm1,%xmm1: 66 0f 70 c9 93 (imm8 counted) */
	expect((const uint8_t[]){ 0x66, 0x0f, 0x70, 0xc9, 0x93 }, 5, X86_INSN_SSE, 5, "pshufd");
	/* pshufb %xmm13,%xmm3: 66 41 0f 38 00 dd */
	expect((const uint8_t[]){ 0x66, 0x41, 0x0f, 0x38, 0x00, 0xdd }, 6, X86_INSN_SSE, 6,
	       "pshufb");
}

static void test_unknown_and_truncated(void **state)
{
	(void)state;
	expect((const uint8_t[]){ 0x90 }, 1, X86_INSN_UNKNOWN, 0, "unknown");
	expect(NULL, 0, X86_INSN_UNKNOWN, 0, "unknown");
	/* Prefixes only, or a ModRM whose SIB/displacement is cut off. */
	expect((const uint8_t[]){ 0xf0, 0x48 }, 2, X86_INSN_UNKNOWN, 0, "unknown");
	expect((const uint8_t[]){ 0x0f, 0xae, 0x54 }, 3, X86_INSN_UNKNOWN, 0, "unknown");
	/* cmpxchg8b/16b has no register form: mod 3 is something else. */
	expect((const uint8_t[]){ 0x0f, 0xc7, 0xc8 }, 3, X86_INSN_UNKNOWN, 0, "unknown");
	/* pshufd without its immediate byte is cut off. */
	expect((const uint8_t[]){ 0x66, 0x0f, 0x70, 0xc9 }, 4, X86_INSN_UNKNOWN, 0, "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_instructions),
		cmocka_unit_test(test_unknown_and_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
