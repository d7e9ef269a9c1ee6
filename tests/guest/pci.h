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
#define PCI_CLASS_REVISION 0x08
#define PCI_HEADER_TYPE   0x0e
#define PCI_BAR0          0x10

uint32_t pci_cfg_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off);

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
