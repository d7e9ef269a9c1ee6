/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACPI table layouts (ACPI 6.4, 5.2): what cv-hv writes into guest RAM and a
 * guest reads back.  Every structure is byte-packed and little-endian; field
 * names are the spec's.  Only <stdint.h> and <stddef.h>, so that the
 * freestanding test guest can include it too.
 */
#ifndef CV_ACPI_H
#define CV_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* ACPI 6.4, 5.2.5.3: Root System Description Pointer, revision 2. */
struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;          /* over the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;          /* 0: ACPI 1.0, RSDT only; 2: XSDT as well */
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* over all `length` bytes */
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");

#define ACPI_RSDP_SIGNATURE  "RSD PTR "
#define ACPI_RSDP_V1_LENGTH  20

/* ACPI 6.4, 5.2.6: System Description Table Header; the sum of a table is 0. */
struct acpi_sdt_header {
	char signature[4];
	uint32_t length;           /* of the whole table, header included */
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_sdt_header) == 36, "System Description Table Header");

/* ACPI 6.4, 5.2.6: the signatures of the tables used here. */
#define ACPI_SIG_DSDT "DSDT"
#define ACPI_SIG_FADT "FACP"
#define ACPI_SIG_MADT "APIC"
#define ACPI_SIG_MCFG "MCFG"  /* PCI Firmware Spec 3.2, 4.1.2 */
#define ACPI_SIG_RSDT "RSDT"  /* 5.2.7: 32-bit table addresses follow the header */
#define ACPI_SIG_XSDT "XSDT"  /* 5.2.8: 64-bit table addresses follow the header */

/* ACPI 6.4, 5.2.3.2: Generic Address Structure. */
struct acpi_gas {
	uint8_t address_space_id;
	uint8_t register_bit_width;
	uint8_t register_bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "Generic Address Structure");

#define ACPI_GAS_SPACE_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_BYTE     1

/* ACPI 6.4, 5.2.9: Fixed ACPI Description Table, revision 6. */
struct acpi_fadt {
	struct acpi_sdt_header header;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;         /* ACPI 1.0 INT_MODEL */
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t fadt_minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_identity;
} __attribute__((packed));
_Static_assert(offsetof(struct acpi_fadt, pm_tmr_blk) == 76, "FADT PM_TMR_BLK");
_Static_assert(offsetof(struct acpi_fadt, iapc_boot_arch) == 109, "FADT IAPC_BOOT_ARCH");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT Flags");
_Static_assert(offsetof(struct acpi_fadt, fadt_minor_version) == 131, "FADT Minor Version");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, sleep_control_reg) == 244, "FADT SLEEP_CONTROL_REG");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 length");

/* ACPI 6.4, 5.2.9.3: IA-PC Boot Architecture Flags. */
#define ACPI_FADT_IAPC_LEGACY_DEVICES     (1u << 0)  /* COM1, RTC on the "ISA bus" */
#define ACPI_FADT_IAPC_8042               (1u << 1)  /* Linux then probes the i8042 */
#define ACPI_FADT_IAPC_VGA_NOT_PRESENT    (1u << 2)
#define ACPI_FADT_IAPC_PCIE_ASPM_CONTROLS (1u << 4)  /* OS must not touch ASPM */
/* ACPI 6.4, 5.2.9, Table 5.10: Fixed ACPI Description Table Fixed Feature Flags. */
#define ACPI_FADT_PWR_BUTTON      (1u << 4)  /* no fixed-feature power button */
#define ACPI_FADT_RESET_REG_SUP   (1u << 10) /* RESET_REG is supported */
#define ACPI_FADT_SLP_BUTTON      (1u << 5)  /* no fixed-feature sleep button */
#define ACPI_FADT_HW_REDUCED_ACPI (1u << 20)

/* ACPI 6.4, 5.2.12: Multiple APIC Description Table; its entries follow. */
struct acpi_madt {
	struct acpi_sdt_header header;
	uint32_t local_interrupt_controller_address;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT header");

#define ACPI_MADT_PCAT_COMPAT (1u << 0)  /* dual 8259s present: Linux masks them */

/* ACPI 6.4, 5.2.12: every Interrupt Controller Structure starts so. */
struct acpi_madt_entry_header {
	uint8_t type;
	uint8_t length;
} __attribute__((packed));

#define ACPI_MADT_TYPE_LOCAL_APIC         0
#define ACPI_MADT_TYPE_IO_APIC            1
#define ACPI_MADT_TYPE_INTERRUPT_OVERRIDE 2

/* ACPI 6.4, 5.2.12.2: Processor Local APIC Structure. */
struct acpi_madt_local_apic {
	struct acpi_madt_entry_header header;
	uint8_t acpi_processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_local_apic) == 8, "MADT Processor Local APIC");

#define ACPI_MADT_LAPIC_ENABLED (1u << 0)

/* ACPI 6.4, 5.2.12.3: I/O APIC Structure. */
struct acpi_madt_io_apic {
	struct acpi_madt_entry_header header;
	uint8_t io_apic_id;
	uint8_t reserved;
	uint32_t io_apic_address;
	uint32_t global_system_interrupt_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_io_apic) == 12, "MADT I/O APIC");

/* ACPI 6.4, 5.2.12.5: Interrupt Source Override Structure. */
struct acpi_madt_interrupt_override {
	struct acpi_madt_entry_header header;
	uint8_t bus;               /* 0: ISA */
	uint8_t source;            /* ISA IRQ */
	uint32_t global_system_interrupt;
	uint16_t flags;            /* MPS INTI flags */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_interrupt_override) == 10,
	       "MADT Interrupt Source Override");

/* ACPI 6.4, 5.2.12.5, Table 5.50: MPS INTI Flags. */
#define ACPI_MPS_INTI_POLARITY_HIGH (1u << 0)
#define ACPI_MPS_INTI_TRIGGER_EDGE  (1u << 2)
#define ACPI_MPS_INTI_TRIGGER_LEVEL (3u << 2)

/*
 * PCI Firmware Spec 3.2, 4.1.2: MCFG, the PCI Express memory mapped
 * configuration space (ECAM) base address description table.  One allocation
 * structure per segment and bus range follows the header.
 */
struct acpi_mcfg {
	struct acpi_sdt_header header;
	uint8_t reserved[8];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg) == 44, "MCFG header");

/* PCI Firmware Spec 3.2, 4.1.2, Table 4-3: the ECAM of buses start..end. */
struct acpi_mcfg_allocation {
	uint64_t base_address;     /* of bus 0, even when start_bus is not 0 */
	uint16_t pci_segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(offsetof(struct acpi_mcfg_allocation, pci_segment) == 8, "MCFG segment");
_Static_assert(offsetof(struct acpi_mcfg_allocation, start_bus) == 10, "MCFG start bus");
_Static_assert(sizeof(struct acpi_mcfg_allocation) == 16, "MCFG allocation structure");

#endif /* CV_ACPI_H */
