/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal ACPI tables for the guest (ACPI 6.4): RSDP -> XSDT -> FADT (-> DSDT)
 * MADT and MCFG, in CV_ACPI_BASE..CV_ACPI_END.  They exist so that Linux finds
 * every CPU and the I/O APIC (our Debian kernel has no MP-table parser), the
 * PCI host bridge, and a way to power off (hardware-reduced sleep registers
 * at CV_PORT_SLEEP_CONTROL/STATUS with an _S5 object).
 */
#ifndef CV_HV_ACPI_H
#define CV_HV_ACPI_H

#include <stdint.h>

#include "hv/memory.h"

/*
 * xAPIC IDs are 8 bits and 0xff is the broadcast ID; vCPU i gets APIC ID i
 * and the I/O APIC takes the next ID, so at most 254 vCPUs.
 */
#define ACPI_MAX_VCPUS 254

/*
 * Write the tables for @nr_vcpus CPUs (APIC ID = vCPU index) into guest RAM
 * and return the RSDP's guest physical address in @rsdp_gpa (for
 * boot_params.acpi_rsdp_addr / hvm_start_info.rsdp_paddr; it is also where a
 * scan of 0xe0000..0xfffff finds it).  -EINVAL (logged) for a vCPU count
 * outside 1..ACPI_MAX_VCPUS.
 */
int acpi_build(struct guest_mem *mem, unsigned nr_vcpus, uint64_t *rsdp_gpa);

#endif /* CV_HV_ACPI_H */
