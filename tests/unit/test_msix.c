/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MSI-X against a real KVM VM with an in-kernel irqchip and one vCPU: a
 * delivered message shows up as the vector's bit in that vCPU's LAPIC IRR
 * (KVM_GET_LAPIC), and routes are read back from hv/irq's table, since KVM
 * has no call to read them.  Skipped where /dev/kvm is absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "hv/irq.h"
#include "hv/msix.h"
#include "tests/unit/fixture.h"

#define NR_VECTORS 4
#define MSI_ADDR   0xfee00000ULL  /* physical destination, APIC ID 0 */

struct fixture {
	struct fixture_vm vm;
	struct pci_config cfg;
	int cap;
	struct msix msix;
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	*state = NULL;
	if (!fixture_vm_create(&f->vm, 0)) {
		test_free(f);
		return 0;
	}
	assert_int_equal(pci_config_init(&f->cfg, PCI_CFG_SPACE_SIZE, 0x1234,
					 0x5678, 0, 0), 0);
	f->cap = msix_cap_add(&f->cfg, NR_VECTORS, 0, 0, 0, 0x800);
	assert_true(f->cap >= 0x40);
	assert_int_equal(msix_init(&f->msix, &f->vm.irq, NR_VECTORS, "test"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	msix_destroy(&f->msix);
	fixture_vm_destroy(&f->vm);
	test_free(f);
	return 0;
}

static struct fixture *fixture(void **state)
{
	if (!*state)
		skip();
	return *state;
}

static bool irr(struct fixture *f, unsigned vector)
{
	return fixture_lapic_irr(&f->vm, vector);
}

static uint32_t table_read(struct fixture *f, uint64_t off, uint32_t len)
{
	uint32_t v = 0;

	msix_table_access(&f->msix, off, &v, len, false);
	return v;
}

static void table_write(struct fixture *f, uint64_t off, uint32_t len, uint32_t v)
{
	msix_table_access(&f->msix, off, &v, len, true);
}

static uint64_t entry(unsigned v, unsigned field)
{
	return v * PCI_MSIX_ENTRY_SIZE + field;
}

/* Address and data, written as Linux does while the entry is masked. */
static void program(struct fixture *f, unsigned v, uint64_t addr, uint32_t data)
{
	table_write(f, entry(v, PCI_MSIX_ENTRY_LOWER_ADDR), 4, (uint32_t)addr);
	table_write(f, entry(v, PCI_MSIX_ENTRY_UPPER_ADDR), 4, (uint32_t)(addr >> 32));
	table_write(f, entry(v, PCI_MSIX_ENTRY_DATA), 4, data);
}

static void unmask(struct fixture *f, unsigned v, bool unmasked)
{
	table_write(f, entry(v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4,
		    unmasked ? 0 : PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* The guest writes Message Control; the function passes it on. */
static void control(struct fixture *f, uint16_t ctrl)
{
	pci_config_write(&f->cfg, f->cap + PCI_MSIX_FLAGS, 2, ctrl);
	msix_control_write(&f->msix, (uint16_t)pci_config_get(&f->cfg,
				     f->cap + PCI_MSIX_FLAGS, 2));
}

static const struct irq_msi_route *route(struct fixture *f, unsigned v)
{
	uint32_t gsi;

	assert_int_equal(msix_vector_gsi(&f->msix, v, &gsi), 0);
	return &f->vm.irq.msi[gsi];
}

static uint64_t pba(struct fixture *f)
{
	uint64_t v = 0;

	msix_pba_access(&f->msix, 0, &v, 8, false);
	return v;
}

static void test_reset_state(void **state)
{
	struct fixture *f = fixture(state);
	uint32_t gsi[NR_VECTORS];

	for (unsigned v = 0; v < NR_VECTORS; v++) {
		assert_int_equal(table_read(f, entry(v, PCI_MSIX_ENTRY_LOWER_ADDR), 4), 0);
		assert_int_equal(table_read(f, entry(v, PCI_MSIX_ENTRY_DATA), 4), 0);
		/* Every vector comes out of reset masked (PCI 3.0, 6.8.2.9). */
		assert_int_equal(table_read(f, entry(v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4),
				 PCI_MSIX_ENTRY_CTRL_MASKBIT);
		assert_int_equal(msix_vector_gsi(&f->msix, v, &gsi[v]), 0);
		assert_true(gsi[v] >= CV_GSI_MSI_BASE);
		for (unsigned w = 0; w < v; w++)
			assert_int_not_equal(gsi[v], gsi[w]);
	}
	assert_int_equal(pba(f), 0);
	assert_int_equal(msix_table_size(NR_VECTORS), 64);
	assert_int_equal(msix_pba_size(NR_VECTORS), 8);
	assert_int_equal(msix_pba_size(65), 16);
}

static void test_cap_layout(void **state)
{
	struct fixture *f = fixture(state);
	unsigned c = (unsigned)f->cap;

	assert_int_equal(f->cfg.data[PCI_CAPABILITY_LIST], c);
	assert_int_equal(f->cfg.data[c + PCI_CAP_LIST_ID], PCI_CAP_ID_MSIX);
	assert_int_equal(f->cfg.data[c + PCI_CAP_LIST_NEXT], 0);
	assert_int_equal(pci_config_get(&f->cfg, c + PCI_MSIX_FLAGS, 2), NR_VECTORS - 1);
	assert_int_equal(pci_config_get(&f->cfg, c + PCI_MSIX_TABLE, 4), 0x0);
	assert_int_equal(pci_config_get(&f->cfg, c + PCI_MSIX_PBA, 4), 0x800);
	pci_config_write(&f->cfg, c + PCI_MSIX_TABLE, 4, 0xffffffff);
	assert_int_equal(pci_config_get(&f->cfg, c + PCI_MSIX_TABLE, 4), 0x0);
	control(f, 0xffff);
	assert_int_equal(pci_config_get(&f->cfg, c + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (NR_VECTORS - 1));
	/* BIR and 8-byte alignment are enforced. */
	assert_int_equal(msix_cap_add(&f->cfg, 4, 6, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_cap_add(&f->cfg, 4, 0, 4, 0, 0x800), -EINVAL);
	assert_int_equal(msix_cap_add(&f->cfg, 0, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_cap_add(&f->cfg, MSIX_MAX_VECTORS + 1, 0, 0, 0, 0x800),
			 -EINVAL);
}

static void test_route_follows_table(void **state)
{
	struct fixture *f = fixture(state);
	const struct irq_msi_route *r = route(f, 1);

	/* Written while masked and disabled: nothing is routed yet. */
	program(f, 1, MSI_ADDR, 0x51);
	assert_int_equal(r->address, 0);
	control(f, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(r->address, 0);
	/* Unmasking commits the route. */
	unmask(f, 1, true);
	assert_int_equal(r->address, MSI_ADDR);
	assert_int_equal(r->data, 0x51);
	/* A change while unmasked re-routes at once. */
	table_write(f, entry(1, PCI_MSIX_ENTRY_DATA), 4, 0x52);
	assert_int_equal(r->data, 0x52);
	table_write(f, entry(1, PCI_MSIX_ENTRY_UPPER_ADDR), 4, 0x1);
	assert_int_equal(r->address, MSI_ADDR | 1ULL << 32);
	table_write(f, entry(1, PCI_MSIX_ENTRY_UPPER_ADDR), 4, 0);
	/* Changes while masked wait for the unmask. */
	unmask(f, 1, false);
	table_write(f, entry(1, PCI_MSIX_ENTRY_DATA), 4, 0x53);
	assert_int_equal(r->data, 0x52);
	unmask(f, 1, true);
	assert_int_equal(r->data, 0x53);
	/* With MSI-X disabled the entry is not used, so not routed. */
	control(f, 0);
	table_write(f, entry(1, PCI_MSIX_ENTRY_DATA), 4, 0x54);
	assert_int_equal(r->data, 0x53);
	control(f, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(r->data, 0x54);
	/* Other vectors were never routed. */
	assert_int_equal(route(f, 0)->address, 0);
}

static void test_qword_access(void **state)
{
	struct fixture *f = fixture(state);
	uint64_t q = MSI_ADDR | 0x2ULL << 32;

	control(f, PCI_MSIX_FLAGS_ENABLE);
	msix_table_access(&f->msix, entry(2, PCI_MSIX_ENTRY_LOWER_ADDR), &q, 8, true);
	/* Data in the low half, vector control (unmasked) in the high half. */
	q = 0x61;
	msix_table_access(&f->msix, entry(2, PCI_MSIX_ENTRY_DATA), &q, 8, true);
	assert_int_equal(route(f, 2)->address, MSI_ADDR | 0x2ULL << 32);
	assert_int_equal(route(f, 2)->data, 0x61);
	q = 0;
	msix_table_access(&f->msix, entry(2, PCI_MSIX_ENTRY_LOWER_ADDR), &q, 8, false);
	assert_int_equal(q, MSI_ADDR | 0x2ULL << 32);
	msix_table_access(&f->msix, entry(2, PCI_MSIX_ENTRY_DATA), &q, 8, false);
	assert_int_equal(q, 0x61);
}

static void test_notify_delivers(void **state)
{
	struct fixture *f = fixture(state);

	control(f, PCI_MSIX_FLAGS_ENABLE);
	program(f, 0, MSI_ADDR, 0x41);
	unmask(f, 0, true);
	assert_false(irr(f, 0x41));
	assert_int_equal(msix_notify(&f->msix, 0), 0);
	assert_true(irr(f, 0x41));
	assert_int_equal(pba(f), 0);
}

static void test_masked_vector_pends(void **state)
{
	struct fixture *f = fixture(state);
	uint32_t dw;

	control(f, PCI_MSIX_FLAGS_ENABLE);
	program(f, 2, MSI_ADDR, 0x42);
	assert_int_equal(msix_notify(&f->msix, 2), 0);
	assert_false(irr(f, 0x42));
	assert_int_equal(pba(f), 1u << 2);
	msix_pba_access(&f->msix, 0, &dw, 4, false);
	assert_int_equal(dw, 1u << 2);
	/* Software cannot clear it: PBA writes are ignored. */
	dw = 0;
	msix_pba_access(&f->msix, 0, &dw, 4, true);
	assert_int_equal(pba(f), 1u << 2);
	/* Unmasking sends the pending message and clears the bit. */
	unmask(f, 2, true);
	assert_true(irr(f, 0x42));
	assert_int_equal(pba(f), 0);

	/* Function Mask holds every vector back the same way. */
	program(f, 3, MSI_ADDR, 0x43);
	unmask(f, 3, true);
	control(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_int_equal(msix_notify(&f->msix, 3), 0);
	assert_false(irr(f, 0x43));
	assert_int_equal(pba(f), 1u << 3);
	control(f, PCI_MSIX_FLAGS_ENABLE);
	assert_true(irr(f, 0x43));
	assert_int_equal(pba(f), 0);

	/* Disabled MSI-X counts as masked too. */
	control(f, 0);
	assert_int_equal(msix_notify(&f->msix, 3), 0);
	assert_int_equal(pba(f), 1u << 3);
}

static void test_irqfd_on_vector_gsi(void **state)
{
	struct fixture *f = fixture(state);
	uint64_t one = 1;
	uint32_t gsi;
	int efd = eventfd(0, EFD_CLOEXEC);

	assert_true(efd >= 0);
	control(f, PCI_MSIX_FLAGS_ENABLE);
	program(f, 1, MSI_ADDR, 0x44);
	unmask(f, 1, true);
	assert_int_equal(msix_vector_gsi(&f->msix, 1, &gsi), 0);
	assert_int_equal(irq_irqfd_assign(&f->vm.irq, efd, gsi), 0);
	/* A card's signal reaches the guest without passing through cv-hv. */
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	assert_true(irr(f, 0x44));
	assert_int_equal(irq_irqfd_deassign(&f->vm.irq, efd, gsi), 0);
	close(efd);
}

static void test_bad_accesses_ignored(void **state)
{
	struct fixture *f = fixture(state);
	uint64_t q = 0;
	uint32_t gsi;

	control(f, PCI_MSIX_FLAGS_ENABLE);
	program(f, 0, MSI_ADDR, 0x45);
	/* Past the table: reads all ones, writes land nowhere. */
	assert_int_equal(table_read(f, msix_table_size(NR_VECTORS), 4), 0xffffffffu);
	table_write(f, msix_table_size(NR_VECTORS) + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	msix_table_access(&f->msix, msix_table_size(NR_VECTORS) - 4, &q, 8, false);
	assert_int_equal(q, UINT64_MAX);
	/* Unaligned or sub-dword accesses are not defined: ignored. */
	table_write(f, entry(0, PCI_MSIX_ENTRY_VECTOR_CTRL), 2, 0);
	table_write(f, entry(0, PCI_MSIX_ENTRY_DATA) + 2, 4, 0);
	q = 0;
	msix_table_access(&f->msix, entry(0, PCI_MSIX_ENTRY_UPPER_ADDR), &q, 8, true);
	assert_int_equal(table_read(f, entry(0, PCI_MSIX_ENTRY_VECTOR_CTRL), 2), 0xffff);
	assert_int_equal(table_read(f, entry(0, PCI_MSIX_ENTRY_DATA), 4), 0x45);
	assert_int_equal(table_read(f, entry(0, PCI_MSIX_ENTRY_LOWER_ADDR), 4),
			 (uint32_t)MSI_ADDR);
	assert_int_equal(table_read(f, entry(0, PCI_MSIX_ENTRY_VECTOR_CTRL), 4),
			 PCI_MSIX_ENTRY_CTRL_MASKBIT);
	assert_int_equal(route(f, 0)->address, 0);
	/* Reserved Vector Control bits read as zero. */
	table_write(f, entry(3, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, 0xfffffffe);
	assert_int_equal(table_read(f, entry(3, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 0);
	table_write(f, entry(3, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, 0xffffffff);
	assert_int_equal(table_read(f, entry(3, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 1);
	/* PBA past its end. */
	msix_pba_access(&f->msix, 8, &q, 8, false);
	assert_int_equal(q, UINT64_MAX);
	/* Vectors out of range. */
	assert_int_equal(msix_notify(&f->msix, NR_VECTORS), -EINVAL);
	assert_int_equal(msix_vector_gsi(&f->msix, NR_VECTORS, &gsi), -EINVAL);
}

static void test_init_limits(void **state)
{
	struct fixture *f = fixture(state);
	struct msix m;

	assert_int_equal(msix_init(&m, &f->vm.irq, 0, "none"), -EINVAL);
	assert_int_equal(msix_init(&m, &f->vm.irq, MSIX_MAX_VECTORS + 1, "many"), -EINVAL);
	/* More vectors than GSIs left: refused, and every GSI handed back. */
	assert_int_equal(msix_init(&m, &f->vm.irq, CV_MAX_GSI, "greedy"), -ENOSPC);
	assert_int_equal(msix_init(&m, &f->vm.irq, 8, "after"), 0);
	msix_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_follows_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qword_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_delivers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masked_vector_pends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_on_vector_gsi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_accesses_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_limits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
