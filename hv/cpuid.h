/* SPDX-License-Identifier: Apache-2.0 */
/* The CPUID a vCPU reports: KVM's supported set, made per-vCPU and masked. */
#ifndef CV_HV_CPUID_H
#define CV_HV_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

struct cpuid_config {
	unsigned vcpu_index;
	unsigned nr_vcpus;
	bool hide_cx16;
	bool hide_kvmclock;
};

/*
 * Fill @out (allocated by the caller with room for @supported->nent
 * entries) from KVM's supported CPUID for one vCPU.
 */
void cpuid_build(const struct kvm_cpuid2 *supported, const struct cpuid_config *cfg,
		 struct kvm_cpuid2 *out);

#endif /* CV_HV_CPUID_H */
