/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MSI-X capability as PCI lays it out (PCI Local Bus 3.0, 6.8.2), for
 * whoever builds a function's config space: cv-hv for the functions it
 * emulates, a card for the one it owns over vfio-user.  The table and PBA
 * behind it are emulated by cv-hv either way (hv/msix.h).
 */
#ifndef CV_LIB_PCI_MSIX_H
#define CV_LIB_PCI_MSIX_H

#include <linux/pci_regs.h>
#include <stdint.h>

#include "tools/lib/pci_config.h"

/* Table Size is an 11-bit N-1 field. */
#define MSIX_MAX_VECTORS 2048

/* Bytes of guest-visible table and PBA for @nr vectors. */
static inline uint64_t msix_table_size(unsigned nr)
{
	return (uint64_t)nr * PCI_MSIX_ENTRY_SIZE;
}

static inline uint64_t msix_pba_size(unsigned nr)
{
	return ((uint64_t)nr + 63) / 64 * 8;
}

/*
 * Append the MSI-X capability for @nr vectors to @cfg (table in BAR
 * @table_bar at @table_off, PBA likewise, offsets 8-byte aligned), with only
 * Enable and Function Mask writable.  Returns the capability offset or a
 * negative errno.  After each config write that touches offset +
 * PCI_MSIX_FLAGS, the function's owner acts on the new Message Control
 * (cv-hv: msix_control_write()).
 */
int msix_cap_add(struct pci_config *cfg, unsigned nr, unsigned table_bar,
		 uint32_t table_off, unsigned pba_bar, uint32_t pba_off);

#endif /* CV_LIB_PCI_MSIX_H */
