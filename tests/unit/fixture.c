/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/fixture.h"

struct guest_mem fixture_mem;

char *tmp_file(const void *data, size_t len)
{
	char *path = strdup("/tmp/cv-test-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

char *tmp_sparse(uint64_t size)
{
	char *path = tmp_file("", 0);

	assert_int_equal(truncate(path, (off_t)size), 0);
	return path;
}

void drop_file(char *path)
{
	unlink(path);
	free(path);
}

int fixture_mem_64m(void **state)
{
	(void)state;
	return guest_mem_init(&fixture_mem, 64 * MIB);
}

int fixture_mem_destroy(void **state)
{
	(void)state;
	guest_mem_destroy(&fixture_mem);
	return 0;
}

/* Intel SDM Vol. 3A, "Local APIC Register Address Map". */
#define APIC_SVR 0xf0
#define APIC_IRR 0x200

/* Where KVM wants the 3 pages of its real-mode TSS on Intel hosts: below the BIOS. */
#define TSS_ADDR 0xfffbd000

/* Software-enable the LAPIC (SVR bit 8): only then does it take fixed interrupts. */
static void lapic_enable(int vcpu_fd)
{
	struct kvm_lapic_state lapic;

	assert_int_equal(ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic), 0);
	lapic.regs[APIC_SVR] = 0xff;
	lapic.regs[APIC_SVR + 1] = 0x01;
	assert_int_equal(ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic), 0);
}

bool fixture_vm_create(struct fixture_vm *v, uint64_t mem_size)
{
	memset(v, 0, sizeof(*v));
	v->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm_fd < 0) {
		printf("# skipping: /dev/kvm: %s\n", strerror(errno));
		return false;
	}
	v->vm_fd = ioctl(v->kvm_fd, KVM_CREATE_VM, 0);
	assert_true(v->vm_fd >= 0);
	assert_int_equal(ioctl(v->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)TSS_ADDR), 0);
	assert_int_equal(ioctl(v->vm_fd, KVM_CREATE_IRQCHIP, 0), 0);
	if (mem_size) {
		struct kvm_userspace_memory_region slot = { .memory_size = mem_size };

		assert_int_equal(guest_mem_init(&v->mem, mem_size), 0);
		slot.userspace_addr = (uint64_t)(uintptr_t)v->mem.host;
		assert_int_equal(ioctl(v->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot), 0);
	}
	v->vcpu_fd = ioctl(v->vm_fd, KVM_CREATE_VCPU, 0);
	assert_true(v->vcpu_fd >= 0);
	v->run_size = (size_t)ioctl(v->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu_fd, 0);
	assert_true(v->run != MAP_FAILED);
	lapic_enable(v->vcpu_fd);
	assert_int_equal(irq_routing_init(&v->irq, v->vm_fd), 0);
	if (mem_size) {
		assert_int_equal(iobus_init(&v->pio, "pio"), 0);
		assert_int_equal(iobus_init(&v->mmio, "mmio"), 0);
		assert_int_equal(pci_bus_init(&v->bus, &v->pio, &v->mmio, &v->mem), 0);
		v->has_bus = true;
	}
	return true;
}

void fixture_vm_destroy(struct fixture_vm *v)
{
	if (v->has_bus) {
		pci_bus_destroy(&v->bus);
		iobus_destroy(&v->mmio);
		iobus_destroy(&v->pio);
		guest_mem_destroy(&v->mem);
	}
	irq_routing_destroy(&v->irq);
	munmap(v->run, v->run_size);
	close(v->vcpu_fd);
	close(v->vm_fd);
	close(v->kvm_fd);
}

bool fixture_lapic_irr(const struct fixture_vm *v, unsigned vector)
{
	struct kvm_lapic_state lapic;
	uint32_t reg;

	assert_int_equal(ioctl(v->vcpu_fd, KVM_GET_LAPIC, &lapic), 0);
	memcpy(&reg, &lapic.regs[APIC_IRR + 0x10 * (vector / 32)], 4);
	return reg & (1u << (vector % 32));
}

uint32_t fixture_cfg_read(struct fixture_vm *v, unsigned devfn, unsigned reg, uint32_t len)
{
	uint32_t val = 0;

	assert_int_equal(iobus_dispatch(&v->mmio, CV_PCI_ECAM_START + (devfn << 12) + reg, &val,
					len, false), 0);
	return val;
}

void fixture_cfg_write(struct fixture_vm *v, unsigned devfn, unsigned reg, uint32_t len,
		       uint32_t val)
{
	assert_int_equal(iobus_dispatch(&v->mmio, CV_PCI_ECAM_START + (devfn << 12) + reg, &val,
					len, true), 0);
}
