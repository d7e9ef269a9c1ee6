/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixtures shared by the cmocka unit tests (linked into every test binary):
 * temporary files, a guest RAM for the loader tests and a VM with a PCI bus
 * for the device tests.  Include after
 * <cmocka.h>; failures inside a fixture fail the calling test.
 */
#ifndef CV_TEST_FIXTURE_H
#define CV_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "hv/iobus.h"
#include "hv/irq.h"
#include "hv/memory.h"
#include "hv/pci.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* A new file in /tmp holding @data; free with drop_file(). */
char *tmp_file(const void *data, size_t len);
/* A sparse file of @size bytes: large inputs without writing them. */
char *tmp_sparse(uint64_t size);
void drop_file(char *path);

/* 64 MiB of guest RAM in fixture_mem, as cmocka group/test set-up. */
extern struct guest_mem fixture_mem;
int fixture_mem_64m(void **state);
int fixture_mem_destroy(void **state);

/*
 * A VM for device tests: a VM with the in-kernel irqchip, one vCPU (its
 * kvm_run mapped) whose LAPIC takes fixed interrupts, and GSI routing; with
 * a RAM size, that much guest RAM in memory slot 0 and a PCI bus on port
 * and MMIO buses.  Embedded in a test's own fixture.
 */
struct fixture_vm {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	struct irq_routing irq;
	bool has_bus;
	struct guest_mem mem;
	struct iobus pio, mmio;
	struct pci_bus bus;
};
/*
 * Builds @v (@mem_size 0: no RAM, no buses).  False, after printing why,
 * where /dev/kvm is unusable: a reason for the KVM tests to skip, not to
 * fail.
 */
bool fixture_vm_create(struct fixture_vm *v, uint64_t mem_size);
void fixture_vm_destroy(struct fixture_vm *v);
/*
 * The guest's access to the configuration space of function @devfn of bus
 * 0, through the ECAM window on @v's MMIO bus (@len 1, 2 or 4 bytes).
 */
uint32_t fixture_cfg_read(struct fixture_vm *v, unsigned devfn, unsigned reg, uint32_t len);
void fixture_cfg_write(struct fixture_vm *v, unsigned devfn, unsigned reg, uint32_t len,
		       uint32_t val);
/* Whether @vector is pending in the vCPU's LAPIC (its IRR). */
bool fixture_lapic_irr(const struct fixture_vm *v, unsigned vector);

#endif /* CV_TEST_FIXTURE_H */
