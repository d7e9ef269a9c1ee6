/* SPDX-License-Identifier: Apache-2.0 */
/* The EBS card's PCI function as a guest's enumeration sees it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cards/ebs/nvme_pci.h"
#include "guest-abi/nvme.h"
#include "guest-abi/pci_ids.h"

static uint32_t rd(const struct pci_config *cfg, uint32_t off, uint32_t len)
{
	uint32_t v;

	pci_config_read(cfg, off, len, &v);
	return v;
}

static void test_layout(void **state)
{
	struct nvme_pci_layout l;

	(void)state;
	nvme_pci_layout(4, 5, &l);
	assert_int_equal(l.regs_size, NVME_REG_DBS + 5 * 8);
	assert_int_equal(l.msix_table_off, 0x2000);
	assert_int_equal(l.msix_pba_off, 0x3000);
	assert_int_equal(l.bar0_size, 16 * 1024);
	/* 511 queue pairs: doorbells fill the second page exactly. */
	nvme_pci_layout(511, 512, &l);
	assert_int_equal(l.regs_size, 0x2000);
	assert_int_equal(l.msix_table_off, 0x2000);
	assert_int_equal(l.msix_pba_off, 0x4000);
	assert_int_equal(l.bar0_size, 32 * 1024);
}

static void test_config(void **state)
{
	struct nvme_pci_layout l;
	struct pci_config cfg;
	uint32_t cap, seen = 0;

	(void)state;
	nvme_pci_layout(4, 5, &l);
	assert_int_equal(nvme_pci_config_init(&cfg, &l), 0);
	assert_int_equal(rd(&cfg, PCI_VENDOR_ID, 2), CV_PCI_VENDOR_QUMRANET);
	assert_int_equal(rd(&cfg, PCI_DEVICE_ID, 2), CV_PCI_DEVICE_EBS_NVME);
	assert_int_equal(rd(&cfg, PCI_CLASS_REVISION, 4) >> 8, 0x010802);
	assert_int_equal(rd(&cfg, PCI_SUBSYSTEM_ID, 2), CV_PCI_SUBSYS_EBS_NVME);
	assert_int_equal(rd(&cfg, PCI_INTERRUPT_PIN, 1), 0);

	/* BAR0 sizing: a 64-bit memory BAR of bar0_size. */
	pci_config_write(&cfg, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	pci_config_write(&cfg, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	assert_int_equal(rd(&cfg, PCI_BASE_ADDRESS_0, 4),
			 (uint32_t)~(l.bar0_size - 1) | PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(rd(&cfg, PCI_BASE_ADDRESS_1, 4), 0xffffffff);
	assert_int_equal(rd(&cfg, PCI_BASE_ADDRESS_2, 4), 0);

	assert_true(rd(&cfg, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	for (cap = rd(&cfg, PCI_CAPABILITY_LIST, 1); cap; cap = rd(&cfg, cap + 1, 1)) {
		switch (rd(&cfg, cap, 1)) {
		case PCI_CAP_ID_EXP:
			assert_int_equal(rd(&cfg, cap + PCI_EXP_FLAGS, 2) & 0xff,
					 2 | PCI_EXP_TYPE_RC_END << 4);
			seen |= 1;
			break;
		case PCI_CAP_ID_MSIX:
			assert_int_equal(rd(&cfg, cap + PCI_MSIX_FLAGS, 2) &
					 PCI_MSIX_FLAGS_QSIZE, 5 - 1);
			assert_int_equal(rd(&cfg, cap + PCI_MSIX_TABLE, 4), l.msix_table_off);
			assert_int_equal(rd(&cfg, cap + PCI_MSIX_PBA, 4), l.msix_pba_off);
			pci_config_write(&cfg, cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
			assert_true(rd(&cfg, cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE);
			seen |= 2;
			break;
		default:
			fail_msg("unexpected capability 0x%x", rd(&cfg, cap, 1));
		}
	}
	assert_int_equal(seen, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
