/* SPDX-License-Identifier: Apache-2.0 */
/* The system-level /dev/kvm handle and the checks made before a VM exists. */
#ifndef CV_HV_KVM_H
#define CV_HV_KVM_H

#include <linux/kvm.h>

struct kvm {
	int fd;
	int vcpu_mmap_size;
	int max_vcpus;
	struct kvm_cpuid2 *supported_cpuid;
};

/* Open /dev/kvm and check the API version and every capability cv-hv relies on. */
int kvm_open(struct kvm *kvm);
void kvm_close(struct kvm *kvm);
int kvm_check_extension(int fd, long cap);

#endif /* CV_HV_KVM_H */
