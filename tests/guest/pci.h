/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI configuration access through CONFIG_ADDRESS/CONFIG_DATA, bus 0, and a
 * cross-check of the PCIe ECAM against it.
 */
#ifndef CVG_PCI_H
#define CVG_PCI_H

#include <stdbool.h>
#include <stdint.h>

/* PCI Local Bus 3.0, 6.1: type 0 configuration header offsets. */
#define PCI_VENDOR_ID     0x00
#define PCI_COMMAND       0x04  /* Status is the upper half of this dword */
#define PCI_CLASS_REVISION 0x08
#define PCI_HEADER_TYPE   0x0e
#define PCI_BAR0          0x10
#define PCI_CAP_PTR       0x34

/* PCI Local Bus 3.0, 6.2.2 and 6.2.3: Command and Status bits. */
#define PCI_COMMAND_MEMORY     (1u << 1)
#define PCI_COMMAND_MASTER     (1u << 2)
#define PCI_COMMAND_INTX_DISABLE (1u << 10)
#define PCI_STATUS_CAP_LIST    (1u << 4)

/* Capability IDs (PCI Code and ID Assignment 1.11, 2). */
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09

uint32_t pci_cfg_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off);
void pci_cfg_write32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off, uint32_t v);

/* The first function on bus 0 with this 24-bit class code, or -ENODEV. */
int pci_find_class(uint32_t class, uint8_t *dev, uint8_t *fn);

/* The first function on bus 0 with this vendor and device ID, or -ENODEV. */
int pci_find_id(uint16_t vendor, uint16_t device, uint8_t *dev, uint8_t *fn);

/* Config offset of capability @id on bus 0, or 0 if the function lacks it. */
uint8_t pci_find_cap(uint8_t dev, uint8_t fn, uint8_t id);
/* The next capability @id after the one at @prev (0: from the start). */
uint8_t pci_next_cap(uint8_t dev, uint8_t fn, uint8_t id, uint8_t prev);

/* Address of memory BAR @index (64-bit BARs whole), 0 if I/O or unassigned. */
uint64_t pci_bar_mem(uint8_t dev, uint8_t fn, unsigned int index);

/*
 * MSI-X (PCI Local Bus 3.0, 6.8.2): pci_msix_find locates the table (its
 * BAR must lie below 4 GiB, the identity map's reach) and its size;
 * pci_msix_route points entry @entry at IDT @vector on the LAPIC @apic_id
 * (fixed, edge, physical destination) and unmasks it; pci_msix_enable
 * turns the function's MSI-X on (Function Mask clear) or off.
 */
struct pci_msix {
	uint8_t cap;
	uintptr_t table;
	uint16_t size;           /* entries */
};
int pci_msix_find(uint8_t dev, uint8_t fn, struct pci_msix *m);
void pci_msix_route(const struct pci_msix *m, uint16_t entry, uint8_t apic_id,
		    uint8_t vector);
void pci_msix_enable(uint8_t dev, uint8_t fn, const struct pci_msix *m, bool on);
/* Set entry @entry's Mask bit: an entry no queue uses never fires. */
void pci_msix_mask(const struct pci_msix *m, uint16_t entry);

/*
 * Prints one "cvguest: pci" line per function on bus 0 and returns how many
 * functions it found.
 */
unsigned int pci_scan_bus0(void);

/*
 * Whether the host bridge (00:00.0) reads the same vendor/device and
 * class/revision through the ECAM at @ecam_base (bus 0's window, in the
 * uncached identity map) as through CONFIG_ADDRESS/CONFIG_DATA.
 */
bool pci_ecam_agrees(uint64_t ecam_base);

#endif /* CVG_PCI_H */
