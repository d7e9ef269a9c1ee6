/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Just enough ACPI to count the CPUs and find the PCIe ECAM:
 * RSDP -> XSDT/RSDT -> MADT and MCFG.
 */
#ifndef CVG_ACPI_H
#define CVG_ACPI_H

#include <stdint.h>

#include "tests/guest/smp.h"

struct madt_info {
	unsigned int cpus;        /* enabled Processor Local APIC entries */
	unsigned int apic_count;  /* of which apic_ids holds the first ones */
	uint8_t apic_ids[SMP_MAX_CPUS];
	uint32_t ioapic_addr;     /* first I/O APIC; 0 if the MADT lists none */
};

/*
 * Finds the RSDP at rsdp_hint (hvm_start_info.rsdp_paddr; 0 = unknown) or
 * by scanning the BIOS area, then the MADT.  Every table's signature, length
 * and checksum are checked.  Returns NULL on success, else why it failed.
 */
const char *acpi_read_madt(uint64_t rsdp_hint, struct madt_info *out);

/*
 * The ECAM base of PCI segment 0, bus 0, from the MCFG (found as above), or 0
 * when there is no valid MCFG or it does not describe that bus.
 */
uint64_t acpi_find_ecam(uint64_t rsdp_hint);

#endif /* CVG_ACPI_H */
