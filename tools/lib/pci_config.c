/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/pci_config.h"

#include <errno.h>
#include <string.h>

/* Capabilities live after the type-0 header (PCI Local Bus 3.0, 6.7). */
#define PCI_CAP_AREA_START 0x40

int pci_config_init(struct pci_config *cfg, uint32_t size, uint16_t vendor,
		    uint16_t device, uint32_t class_code, uint8_t revision)
{
	if (size != PCI_CFG_SPACE_SIZE && size != PCI_CFG_SPACE_EXP_SIZE)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = size;
	cfg->cap_next = PCI_CAPABILITY_LIST;
	cfg->cap_free = PCI_CAP_AREA_START;
	pci_config_set(cfg, PCI_VENDOR_ID, 2, vendor);
	pci_config_set(cfg, PCI_DEVICE_ID, 2, device);
	pci_config_set(cfg, PCI_CLASS_REVISION, 4, class_code << 8 | revision);
	pci_config_set(cfg, PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL);
	/*
	 * COMMAND: the decode enables, bus mastering, parity/SERR reporting and
	 * INTx disable are the bits software may set (PCI Local Bus 3.0, 6.2.2).
	 */
	pci_config_set_masks(cfg, PCI_COMMAND, 2,
			     PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
			     PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
			     PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE, 0);
	/* STATUS: the error bits are RW1C; the rest is read-only. */
	pci_config_set_masks(cfg, PCI_STATUS, 2, 0,
			     PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
			     PCI_STATUS_REC_TARGET_ABORT |
			     PCI_STATUS_REC_MASTER_ABORT |
			     PCI_STATUS_SIG_SYSTEM_ERROR |
			     PCI_STATUS_DETECTED_PARITY);
	pci_config_set_masks(cfg, PCI_CACHE_LINE_SIZE, 1, 0xff, 0);
	/* Interrupt line is a scratch byte for software (PCI 3.0, 6.2.4). */
	pci_config_set_masks(cfg, PCI_INTERRUPT_LINE, 1, 0xff, 0);
	return 0;
}

bool pci_bar_desc_valid(unsigned idx, const struct pci_bar_desc *desc)
{
	uint64_t size = desc->size;

	if (idx >= PCI_STD_NUM_BARS || !size || (size & (size - 1)))
		return false;
	if (desc->io)
		return size >= 4 && size <= 256 && !desc->mem64 && !desc->prefetch;
	if (desc->mem64)
		return size >= 16 && idx + 1 < PCI_STD_NUM_BARS;
	return size >= 16 && size <= (1ULL << 31);
}

int pci_config_set_bar(struct pci_config *cfg, unsigned idx,
		       const struct pci_bar_desc *desc)
{
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint64_t mask = ~(desc->size - 1);
	uint32_t flags;

	if (!pci_bar_desc_valid(idx, desc))
		return -EINVAL;
	if (desc->io) {
		flags = PCI_BASE_ADDRESS_SPACE_IO;
		mask &= PCI_BASE_ADDRESS_IO_MASK;
	} else {
		flags = PCI_BASE_ADDRESS_SPACE_MEMORY |
			(desc->mem64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 :
				       PCI_BASE_ADDRESS_MEM_TYPE_32) |
			(desc->prefetch ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
		mask &= PCI_BASE_ADDRESS_MEM_MASK;
	}
	/*
	 * The type bits are read-only and the address bits below the size are
	 * hardwired to zero, so writing all ones reads back the size mask.
	 */
	pci_config_set(cfg, off, 4, flags);
	pci_config_set_masks(cfg, off, 4, (uint32_t)mask, 0);
	cfg->bars[idx] = *desc;
	if (desc->mem64) {
		pci_config_set(cfg, off + 4, 4, 0);
		pci_config_set_masks(cfg, off + 4, 4, (uint32_t)(mask >> 32), 0);
		cfg->bars[idx + 1] = (struct pci_bar_desc){ 0 };
	}
	return 0;
}

void pci_config_bar_desc(const struct pci_config *cfg, unsigned idx,
			 struct pci_bar_desc *desc)
{
	*desc = idx < PCI_STD_NUM_BARS ? cfg->bars[idx] : (struct pci_bar_desc){ 0 };
}

int pci_config_add_cap(struct pci_config *cfg, uint8_t cap_id, uint8_t len)
{
	uint32_t off = cfg->cap_free;

	if (len < 2 || off + len > PCI_CFG_SPACE_SIZE)
		return -ENOSPC;
	cfg->data[off] = cap_id;
	cfg->data[off + PCI_CAP_LIST_NEXT] = 0;
	cfg->data[cfg->cap_next] = (uint8_t)off;
	cfg->data[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	cfg->cap_next = (uint8_t)(off + PCI_CAP_LIST_NEXT);
	/* Capabilities are dword aligned: the low two pointer bits are reserved. */
	cfg->cap_free = (uint16_t)((off + len + 3) & ~3u);
	return (int)off;
}

void pci_config_set_masks(struct pci_config *cfg, uint32_t off, uint32_t len,
			  uint32_t wmask, uint32_t w1cmask)
{
	for (uint32_t i = 0; i < len; i++) {
		cfg->wmask[off + i] = (uint8_t)(wmask >> (8 * i));
		cfg->w1cmask[off + i] = (uint8_t)(w1cmask >> (8 * i));
	}
}

void pci_config_read(const struct pci_config *cfg, uint32_t off, uint32_t len,
		     uint32_t *val)
{
	uint32_t v = 0;

	for (uint32_t i = 0; i < len && i < 4; i++) {
		uint32_t o = off + i;
		uint8_t b = o < cfg->size ? cfg->data[o] : 0xff;

		v |= (uint32_t)b << (8 * i);
	}
	*val = v;
}

void pci_config_write(struct pci_config *cfg, uint32_t off, uint32_t len,
		      uint32_t val)
{
	for (uint32_t i = 0; i < len && i < 4; i++) {
		uint32_t o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));

		if (o >= cfg->size)
			break;
		cfg->data[o] = (uint8_t)(((cfg->data[o] & ~cfg->wmask[o]) |
					  (b & cfg->wmask[o])) &
					 ~(b & cfg->w1cmask[o]));
	}
}
