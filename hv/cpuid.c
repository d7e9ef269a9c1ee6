/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/cpuid.h"

#include <stdint.h>
#include <string.h>

/* Intel SDM Vol. 2A, CPUID: leaf 1 and the topology leaves 0xB / 0x1F. */
#define CPUID_1_ECX_CX16        (1u << 13)
#define CPUID_1_ECX_HYPERVISOR  (1u << 31)
#define CPUID_1_EDX_HTT         (1u << 28)

/*
 * KVM's paravirtual leaf (Documentation/virt/kvm/x86/cpuid.rst): the
 * kvmclock features, old and new MSRs and the "stable" hint.
 */
#define KVM_CPUID_FEATURES_LEAF 0x40000001
#define KVM_CPUID_KVMCLOCK      ((1u << 0) | (1u << 3) | (1u << 24))

void cpuid_build(const struct kvm_cpuid2 *supported, const struct cpuid_config *cfg,
		 struct kvm_cpuid2 *out)
{
	const uint32_t apic_id = cfg->vcpu_index;

	memcpy(out->entries, supported->entries,
	       supported->nent * sizeof(supported->entries[0]));
	out->nent = supported->nent;
	for (uint32_t i = 0; i < out->nent; i++) {
		struct kvm_cpuid_entry2 *e = &out->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC id and the logical processor count of the package. */
			e->ebx = (e->ebx & 0x0000ffff) | (apic_id << 24) |
				 ((cfg->nr_vcpus & 0xff) << 16);
			if (cfg->nr_vcpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (cfg->hide_cx16)
				e->ecx &= ~CPUID_1_ECX_CX16;
			break;
		case 0xb:
		case 0x1f:
			/* One thread per core, every vCPU a core of one package. */
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 1u << 8;  /* level 0: SMT */
			} else if (e->index == 1) {
				unsigned shift = 0;

				while ((1u << shift) < cfg->nr_vcpus)
					shift++;
				e->eax = shift;
				e->ebx = cfg->nr_vcpus;
				e->ecx = (2u << 8) | 1;  /* level 1: core */
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case KVM_CPUID_FEATURES_LEAF:
			if (cfg->hide_kvmclock)
				e->eax &= ~KVM_CPUID_KVMCLOCK;
			break;
		default:
			break;
		}
	}
}
