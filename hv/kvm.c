/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tools/lib/log.h"

#define KVM_CPUID_MAX_ENTRIES 256

static const struct {
	long cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
	{ KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
};

int kvm_check_extension(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

int kvm_open(struct kvm *kvm)
{
	int version, err;
	size_t size;

	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		err = -errno;
		cv_err("kvm: cannot open /dev/kvm: %s%s", strerror(errno),
		       errno == ENOENT ? " (no KVM on this host: load kvm_intel/kvm_amd)" :
		       errno == EACCES ? " (add the user to group kvm)" : "");
		return err;
	}
	version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		cv_err("kvm: API version %d, need %d", version, KVM_API_VERSION);
		err = -ENOTSUP;
		goto fail;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (!kvm_check_extension(kvm->fd, required_caps[i].cap)) {
			cv_err("kvm: %s is missing: this KVM is too old for cv-hv",
			       required_caps[i].name);
			err = -ENOTSUP;
			goto fail;
		}
	}
	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size <= 0) {
		err = -errno;
		cv_err("kvm: KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		goto fail;
	}
	kvm->max_vcpus = kvm_check_extension(kvm->fd, KVM_CAP_MAX_VCPUS);
	if (!kvm->max_vcpus)
		kvm->max_vcpus = kvm_check_extension(kvm->fd, KVM_CAP_NR_VCPUS);
	if (!kvm->max_vcpus)
		kvm->max_vcpus = 4; /* KVM's documented default before NR_VCPUS */

	size = sizeof(*kvm->supported_cpuid) +
	       KVM_CPUID_MAX_ENTRIES * sizeof(kvm->supported_cpuid->entries[0]);
	kvm->supported_cpuid = calloc(1, size);
	if (!kvm->supported_cpuid) {
		err = -ENOMEM;
		goto fail;
	}
	kvm->supported_cpuid->nent = KVM_CPUID_MAX_ENTRIES;
	if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, kvm->supported_cpuid) < 0) {
		err = -errno;
		cv_err("kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	kvm_close(kvm);
	return err;
}

void kvm_close(struct kvm *kvm)
{
	free(kvm->supported_cpuid);
	if (kvm->fd >= 0)
		close(kvm->fd);
	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = -1;
}
