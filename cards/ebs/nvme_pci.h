/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS card's PCI function: the configuration space a guest enumerates
 * and the layout of BAR0 (NVMe Base 2.0, "PCI Express Transport": "PCI
 * Header and Capabilities").  The card owns this config space and serves it
 * over vfio-user; cv-hv emulates the MSI-X table and PBA (hv/msix.h), so the
 * card only declares where they are.
 *
 * BAR0 (64-bit, non-prefetchable memory):
 *   0x0000             controller registers (nvme_ctrl_mmio)
 *   0x1000             doorbells, 8 bytes per queue pair
 *   msix_table_off     MSI-X table, on its own 4 KiB page after the doorbells
 *   msix_pba_off       MSI-X PBA, on the next page after the table
 * The size is the next power of two, at least 16 KiB.
 */
#ifndef CV_EBS_NVME_PCI_H
#define CV_EBS_NVME_PCI_H

#include <stdint.h>

#include "tools/lib/pci_config.h"

struct nvme_pci_layout {
	uint64_t bar0_size;
	uint64_t regs_size;        /* registers and doorbells */
	uint64_t msix_table_off;
	uint64_t msix_pba_off;
	unsigned nr_vectors;
};

/* BAR0 for @max_ioqs I/O queue pairs and @nr_vectors MSI-X vectors. */
void nvme_pci_layout(unsigned max_ioqs, unsigned nr_vectors,
		     struct nvme_pci_layout *l);

/*
 * A PCIe config space (4 KiB) for the function: IDs and class 01/08/02
 * from guest-abi/pci_ids.h, BAR0 as laid out in @l, a PCI Express
 * capability (a Root Complex Integrated Endpoint: the function sits on the
 * root bus) and the MSI-X capability.  No INTx pin: MSI-X only.  Returns 0
 * or a negative errno.
 */
int nvme_pci_config_init(struct pci_config *cfg, const struct nvme_pci_layout *l);

#endif /* CV_EBS_NVME_PCI_H */
