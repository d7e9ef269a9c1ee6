/* SPDX-License-Identifier: Apache-2.0 */
/* PCI identities of the functions cv-hv and the cards expose. */
#ifndef CV_PCI_IDS_H
#define CV_PCI_IDS_H

/*
 * Host bridge at 00:00.0: the "PCIe host bridge" ID Red Hat reserves for
 * virtual machines (QEMU docs/specs/pci-ids), so guests treat it as a plain
 * host bridge with no chipset quirks.
 */
#define CV_PCI_VENDOR_REDHAT      0x1b36
#define CV_PCI_DEVICE_HOST_BRIDGE 0x0008

/* Class codes (PCI Code and ID Assignment spec). */
#define PCI_CLASS_BRIDGE_HOST     0x060000
#define PCI_CLASS_STORAGE_NVME    0x010802  /* mass storage, NVM, NVMe I/O */
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

#endif /* CV_PCI_IDS_H */
