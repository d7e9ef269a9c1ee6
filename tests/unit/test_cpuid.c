/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hv/cpuid.h"

/* A supported set as KVM reports it: leaf 1 with CX16, and KVM's feature leaf. */
static struct kvm_cpuid2 *supported(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 3 * sizeof(c->entries[0]));

	c->nent = 3;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0x00000800,
						   .ecx = 1u << 13, .edx = 0 };
	/* kvmclock (bits 0 and 3), PV EOI (6), the stable hint (24) */
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0x40000001,
						   .eax = (1u << 0) | (1u << 3) | (1u << 6) |
							  (1u << 24) };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1 };
	return c;
}

static const struct kvm_cpuid_entry2 *leaf(const struct kvm_cpuid2 *c, uint32_t fn)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn)
			return &c->entries[i];
	fail_msg("leaf 0x%x missing", fn);
	return NULL;
}

static void test_plain(void **state)
{
	struct kvm_cpuid2 *sup = supported(), *out = calloc(1, sizeof(*out) + 3 * sizeof(out->entries[0]));
	struct cpuid_config cfg = { .vcpu_index = 1, .nr_vcpus = 2 };

	(void)state;
	cpuid_build(sup, &cfg, out);
	/* SDM CPUID.1: EBX[31:24] initial APIC id, [23:16] logical processors; ECX[31] hypervisor */
	assert_int_equal(leaf(out, 1)->ebx >> 24, 1);
	assert_int_equal((leaf(out, 1)->ebx >> 16) & 0xff, 2);
	assert_true(leaf(out, 1)->ecx & (1u << 31));
	assert_true(leaf(out, 1)->ecx & (1u << 13));
	assert_int_equal(leaf(out, 0x40000001)->eax, leaf(sup, 0x40000001)->eax);
	/* Topology leaf, core level: 2 vCPUs need a 1-bit shift. */
	assert_int_equal(leaf(out, 0xb)->eax, 1);
	assert_int_equal(leaf(out, 0xb)->ebx, 2);
	free(sup);
	free(out);
}

static void test_masks(void **state)
{
	struct kvm_cpuid2 *sup = supported(), *out = calloc(1, sizeof(*out) + 3 * sizeof(out->entries[0]));
	struct cpuid_config cfg = { .nr_vcpus = 1, .hide_cx16 = true, .hide_kvmclock = true };

	(void)state;
	cpuid_build(sup, &cfg, out);
	assert_false(leaf(out, 1)->ecx & (1u << 13));
	/* Only the kvmclock bits go: PV EOI stays. */
	assert_int_equal(leaf(out, 0x40000001)->eax, 1u << 6);
	free(sup);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_masks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
