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

/*
 * The EBS card's NVMe controller.  1af4:10f0..10ff is the range QEMU's
 * docs/specs/pci-ids.rst leaves "available for experimental usage without
 * registration"; it must become an assigned ID before cardvisor ships.  A
 * distinct ID (not QEMU's 1b36:0010) keeps Linux from applying the QEMU NVMe
 * quirks (NVME_QUIRK_BOGUS_NID would discard our NGUID/UUID).
 */
#define CV_PCI_VENDOR_QUMRANET    0x1af4
#define CV_PCI_DEVICE_EBS_NVME    0x10f0
#define CV_PCI_SUBSYS_EBS_NVME    0x10f0
#define CV_EBS_NVME_REVISION      0x01

/* Class codes (PCI Code and ID Assignment spec). */
#define PCI_CLASS_BRIDGE_HOST     0x060000
#define PCI_CLASS_STORAGE_SCSI    0x010000  /* mass storage, SCSI: a virtio-blk function (as QEMU) */
#define PCI_CLASS_STORAGE_NVME    0x010802  /* mass storage, NVM, NVMe I/O */
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

#endif /* CV_PCI_IDS_H */
