/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/pci_msix.h"

#include <errno.h>

/* Capability ID/next, Message Control, Table and PBA offset/BIR. */
#define MSIX_CAP_LEN 12

int msix_cap_add(struct pci_config *cfg, unsigned nr, unsigned table_bar,
		 uint32_t table_off, unsigned pba_bar, uint32_t pba_off)
{
	int cap;

	/* The BIR shares its dword with the offset, hence the alignment. */
	if (!nr || nr > MSIX_MAX_VECTORS || table_bar >= PCI_STD_NUM_BARS ||
	    pba_bar >= PCI_STD_NUM_BARS || (table_off & PCI_MSIX_TABLE_BIR) ||
	    (pba_off & PCI_MSIX_PBA_BIR))
		return -EINVAL;
	cap = pci_config_add_cap(cfg, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
	if (cap < 0)
		return cap;
	pci_config_set(cfg, cap + PCI_MSIX_FLAGS, 2, nr - 1);
	pci_config_set(cfg, cap + PCI_MSIX_TABLE, 4, table_off | table_bar);
	pci_config_set(cfg, cap + PCI_MSIX_PBA, 4, pba_off | pba_bar);
	pci_config_set_masks(cfg, cap + PCI_MSIX_FLAGS, 2,
			     PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 0);
	return cap;
}
