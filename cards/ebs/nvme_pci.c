/* SPDX-License-Identifier: Apache-2.0 */
/* The EBS card's PCI config space and BAR0 layout: see nvme_pci.h. */
#include "cards/ebs/nvme_pci.h"

#include <errno.h>

#include "guest-abi/nvme.h"
#include "guest-abi/pci_ids.h"
#include "tools/lib/pci_msix.h"

#define PAGE 4096u
/* NVMe Base 2.0, "PCI Express Transport": BAR0 is at least 16 KiB. */
#define BAR0_MIN (16u * 1024)

static uint64_t align_page(uint64_t v)
{
	return (v + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

void nvme_pci_layout(unsigned max_ioqs, unsigned nr_vectors,
		     struct nvme_pci_layout *l)
{
	uint64_t end;

	l->nr_vectors = nr_vectors;
	l->regs_size = NVME_REG_DBS + ((uint64_t)max_ioqs + 1) * 8;
	/* Own pages, so cv-hv can trap the MSI-X pages apart from doorbells. */
	l->msix_table_off = align_page(l->regs_size);
	l->msix_pba_off = align_page(l->msix_table_off + msix_table_size(nr_vectors));
	end = l->msix_pba_off + msix_pba_size(nr_vectors);
	l->bar0_size = BAR0_MIN;
	while (l->bar0_size < end)
		l->bar0_size <<= 1;
}

/*
 * PCIe Base 4.0, 7.5.3: version 2, Root Complex Integrated Endpoint (on
 * the root bus there is no link).  Device Control is writable so the OS can
 * set payload and read request sizes; no FLR is offered.
 */
static int pcie_cap_add(struct pci_config *cfg)
{
	int cap = pci_config_add_cap(cfg, PCI_CAP_ID_EXP,
				     PCI_CAP_EXP_RC_ENDPOINT_SIZEOF_V2);

	if (cap < 0)
		return cap;
	pci_config_set(cfg, cap + PCI_EXP_FLAGS, 2,
		       2 | PCI_EXP_TYPE_RC_END << 4);
	pci_config_set(cfg, cap + PCI_EXP_DEVCAP, 4, PCI_EXP_DEVCAP_RBER);
	pci_config_set_masks(cfg, cap + PCI_EXP_DEVCTL, 2, 0x7fff, 0);
	pci_config_set(cfg, cap + PCI_EXP_DEVCTL, 2,
		       PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN |
		       2u << 12 /* 512-byte max read request */);
	pci_config_set_masks(cfg, cap + PCI_EXP_DEVSTA, 2, 0, 0x000f);
	return 0;
}

int nvme_pci_config_init(struct pci_config *cfg, const struct nvme_pci_layout *l)
{
	struct pci_bar_desc bar0 = { .size = l->bar0_size, .mem64 = true };
	int rc;

	rc = pci_config_init(cfg, PCI_CFG_SPACE_EXP_SIZE, CV_PCI_VENDOR_QUMRANET,
			     CV_PCI_DEVICE_EBS_NVME, PCI_CLASS_STORAGE_NVME,
			     CV_EBS_NVME_REVISION);
	if (rc)
		return rc;
	pci_config_set(cfg, PCI_SUBSYSTEM_VENDOR_ID, 2, CV_PCI_VENDOR_QUMRANET);
	pci_config_set(cfg, PCI_SUBSYSTEM_ID, 2, CV_PCI_SUBSYS_EBS_NVME);
	rc = pci_config_set_bar(cfg, 0, &bar0);
	if (rc)
		return rc;
	rc = pcie_cap_add(cfg);
	if (rc)
		return rc;
	rc = msix_cap_add(cfg, l->nr_vectors, 0, (uint32_t)l->msix_table_off, 0,
			  (uint32_t)l->msix_pba_off);
	return rc < 0 ? rc : 0;
}
