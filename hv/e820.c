/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/e820.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "guest-abi/cv_platform.h"
#include "guest-abi/pvh.h"

/* e820_write() relies on both boot formats sharing the entry's head. */
_Static_assert(offsetof(struct boot_e820_entry, addr) == 0 &&
	       offsetof(struct boot_e820_entry, size) == 8 &&
	       offsetof(struct boot_e820_entry, type) == 16, "boot_e820_entry layout");
_Static_assert(offsetof(struct hvm_memmap_table_entry, addr) == 0 &&
	       offsetof(struct hvm_memmap_table_entry, size) == 8 &&
	       offsetof(struct hvm_memmap_table_entry, type) == 16, "hvm memmap layout");
_Static_assert(HVM_MEMMAP_TYPE_RAM == E820_TYPE_RAM &&
	       HVM_MEMMAP_TYPE_RESERVED == E820_TYPE_RESERVED &&
	       HVM_MEMMAP_TYPE_ACPI == E820_TYPE_ACPI, "PVH memmap types follow e820");
/* The ACPI tables close the BIOS area, so the two ranges below tile it. */
_Static_assert(CV_BIOS_AREA_START <= CV_ACPI_BASE && CV_ACPI_END == CV_BIOS_AREA_END,
	       "ACPI tables at the top of the BIOS area");
_Static_assert(CV_LOWMEM_END == CV_BIOS_AREA_START, "no gap below the BIOS area");
/* In the hole, so between the two RAM ranges: the map stays sorted. */
_Static_assert(CV_PCI_ECAM_START >= CV_PCI_HOLE_START &&
	       CV_PCI_ECAM_START + CV_PCI_ECAM_SIZE <= CV_PCI_HOLE_END, "ECAM in the PCI hole");

static void add(struct e820_map *map, uint64_t start, uint64_t end, uint32_t type)
{
	if (end > start)
		map->range[map->nr++] = (struct e820_range){ start, end - start, type };
}

void e820_build(const struct guest_mem *mem, struct e820_map *map)
{
	memset(map, 0, sizeof(*map));
	add(map, 0, CV_LOWMEM_END, E820_TYPE_RAM);
	add(map, CV_BIOS_AREA_START, CV_ACPI_BASE, E820_TYPE_RESERVED);
	/* Type ACPI rather than reserved: says what is there (ACPI 6.4, 15.1). */
	add(map, CV_ACPI_BASE, CV_ACPI_END, E820_TYPE_ACPI);
	add(map, CV_BIOS_AREA_END, mem->low_size, E820_TYPE_RAM);
	/*
	 * Linux uses an MCFG region only if e820 reserves all of it, or ACPI
	 * claims it as a PNP0C02 motherboard resource; otherwise it falls back
	 * to port 0xcf8 (arch/x86/pci/mmconfig-shared.c, pci_mmcfg_reserved()).
	 */
	add(map, CV_PCI_ECAM_START, CV_PCI_ECAM_START + CV_PCI_ECAM_SIZE, E820_TYPE_RESERVED);
	if (mem->high_size)
		add(map, CV_HIGHMEM_START, CV_HIGHMEM_START + mem->high_size, E820_TYPE_RAM);
}

int e820_write(const struct e820_map *map, void *table, size_t max, size_t stride)
{
	uint8_t *p = table;

	if (map->nr > max)
		return -ENOSPC;
	for (unsigned i = 0; i < map->nr; i++, p += stride) {
		memcpy(p, &map->range[i].addr, 8);
		memcpy(p + 8, &map->range[i].size, 8);
		memcpy(p + 16, &map->range[i].type, 4);
	}
	return (int)map->nr;
}
