/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest's physical memory map, built once from struct guest_mem and
 * handed to the kernel as the boot_params e820 table (Linux boot protocol)
 * or as the PVH memmap: the two formats carry the same ranges.
 */
#ifndef CV_HV_E820_H
#define CV_HV_E820_H

#include <stddef.h>
#include <stdint.h>

#include "hv/memory.h"

/* Range types, as the ACPI 6.4 address range types (15.1) and e820. */
#define E820_TYPE_RAM      1
#define E820_TYPE_RESERVED 2
#define E820_TYPE_ACPI     3

/*
 * Low RAM, EBDA/BIOS hole, ACPI tables, RAM from 1 MiB, the PCIe ECAM,
 * RAM above 4 GiB.
 */
#define E820_MAX_RANGES    6

struct e820_range {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

struct e820_map {
	unsigned nr;
	struct e820_range range[E820_MAX_RANGES];
};

void e820_build(const struct guest_mem *mem, struct e820_map *map);

/*
 * Write @map into a table of at most @max entries @stride bytes apart, each
 * laid out as { u64 addr; u64 size; u32 type; ... } — the layout shared by
 * struct boot_e820_entry (stride 20) and struct hvm_memmap_table_entry
 * (stride 24).  Bytes past the type field are left alone.  Returns the number
 * of entries written, or -ENOSPC when @max is too small.
 */
int e820_write(const struct e820_map *map, void *table, size_t max, size_t stride);

#endif /* CV_HV_E820_H */
