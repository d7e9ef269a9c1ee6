/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cardvisor x86-64 platform as the guest sees it: physical memory map,
 * fixed I/O ports and interrupt lines.  cv-hv builds the machine from these
 * numbers and the test guest relies on them, so they live in one header.
 */
#ifndef CV_PLATFORM_H
#define CV_PLATFORM_H

/* ---- Guest physical memory map ------------------------------------------ */

/*
 * RAM a machine has: at least this much (the boot structures, kernel and
 * initrd of the smallest guests fit), in whole 2 MiB pages.
 */
#define CV_MEM_MIN (64ULL << 20)
#define CV_MEM_ALIGN (2ULL << 20)

/* Conventional memory: RAM from 0 up to the EBDA, as on a PC. */
#define CV_LOWMEM_END          0x0009fc00ULL
/* 0x9fc00..0x100000: EBDA, VGA hole and BIOS area, reserved in e820. */
#define CV_BIOS_AREA_START     0x0009fc00ULL
#define CV_BIOS_AREA_END       0x00100000ULL

/*
 * Boot structures cv-hv writes below 1 MiB.  The guest may reuse this memory
 * once it no longer needs what is there (Linux does); it is usable RAM in e820.
 */
#define CV_BOOT_GDT            0x00000500ULL  /* flat GDT for 32/64-bit entry */
#define CV_BOOT_IDT            0x00000520ULL  /* empty IDT */
#define CV_PVH_START_INFO      0x00006000ULL  /* struct hvm_start_info + memmap */
#define CV_ZERO_PAGE           0x00007000ULL  /* struct boot_params (Linux) */
#define CV_BOOT_STACK          0x00008ff0ULL
#define CV_PAGE_TABLES         0x00009000ULL  /* PML4, PDPT, 4 PDs (identity 4 GiB) */
#define CV_PAGE_TABLES_END     0x0000f000ULL
#define CV_CMDLINE             0x00020000ULL
#define CV_CMDLINE_MAX         0x00010000ULL  /* 64 KiB, incl. NUL */
/* Free for the guest's own use (AP trampoline, early stacks): 0x30000..0x9f000. */
#define CV_GUEST_SCRATCH       0x00030000ULL

/* ACPI tables: in the BIOS area so the RSDP is where a scan of 0xe0000 finds it. */
#define CV_ACPI_BASE           0x000e0000ULL
#define CV_ACPI_END            0x00100000ULL

/* Kernels load at 1 MiB (boot protocol default for bzImage, PVH vmlinux p_paddr). */
#define CV_KERNEL_START        0x00100000ULL

/* RAM stops at the PCI hole and resumes above 4 GiB. */
#define CV_PCI_HOLE_START      0xc0000000ULL
#define CV_PCI_HOLE_END        0x100000000ULL
#define CV_HIGHMEM_START       0x100000000ULL

/* Inside the hole. */
#define CV_PCI_MMIO32_START    0xc0000000ULL  /* 32-bit BAR window */
#define CV_PCI_MMIO32_END      0xe0000000ULL
#define CV_PCI_ECAM_START      0xe0000000ULL  /* PCIe ECAM, bus 0 only */
#define CV_PCI_ECAM_SIZE       0x00100000ULL  /* 1 bus x 32 dev x 8 fn x 4 KiB */
#define CV_IOAPIC_BASE         0xfec00000ULL
#define CV_LAPIC_BASE          0xfee00000ULL

/* ---- I/O ports ----------------------------------------------------------- */
#define CV_PORT_PCI_CONFIG_ADDR 0x0cf8
#define CV_PORT_PCI_CONFIG_DATA 0x0cfc
#define CV_PORT_COM1            0x03f8
#define CV_PORT_I8042_DATA      0x0060
#define CV_PORT_I8042_CMD       0x0064
#define CV_PORT_RTC_INDEX       0x0070
#define CV_PORT_RTC_DATA        0x0071
#define CV_PORT_PCI_IO_START    0x1000  /* I/O BAR window */
#define CV_PORT_PCI_IO_END      0x10000

/*
 * Power management: an ACPI hardware-reduced sleep control register
 * (ACPI 6.4, 4.8.3.7), one byte.  Writing SLP_EN with SLP_TYP 5 (S5) powers
 * the machine off, which is what Linux does through the FADT and what the
 * test guest does directly.
 */
#define CV_PORT_SLEEP_CONTROL   0x03c0
#define CV_PORT_SLEEP_STATUS    0x03c1
#define CV_SLEEP_TYP_SHIFT      2
#define CV_SLEEP_TYP_MASK       (7u << CV_SLEEP_TYP_SHIFT)
#define CV_SLEEP_EN             (1u << 5)
#define CV_SLEEP_TYP_S5         5u
/*
 * The ACPI reset register (ACPI 6.4, 4.8.3.6), one byte after the sleep
 * registers: writing CV_RESET_VALUE resets the machine, which for cv-hv
 * ends the VM.  Hardware-reduced ACPI has no other reset it describes; the
 * i8042's reset pulse works too.
 */
#define CV_PORT_RESET           0x03c2
#define CV_RESET_VALUE          0x06
/*
 * The PC's reset vector, F000:FFF0, where firmware would start.  cv-hv has
 * no firmware: it puts 16 bytes of real-mode code there that write the reset
 * register.  Linux reboots through it on this platform: for hardware-reduced
 * ACPI it picks EFI's reset (arch/x86/kernel/reboot.c, reboot_init() and
 * efi_reboot_required()), and without EFI runtime services that falls back
 * to BOOT_BIOS, a far jump to this vector in real mode.
 */
#define CV_RESET_VECTOR         0x000ffff0ULL

/* ---- Interrupt lines (ISA IRQ == IOAPIC pin == GSI for 0..15) ------------ */
#define CV_IRQ_PIT              0   /* IOAPIC pin 2 by the ISA override */
#define CV_IRQ_KEYBOARD         1
#define CV_IRQ_COM1             4
#define CV_IRQ_RTC              8
#define CV_IOAPIC_PINS          24
/* GSIs from here up are MSI routes allocated for PCI MSI-X vectors. */
#define CV_GSI_MSI_BASE         CV_IOAPIC_PINS

#endif /* CV_PLATFORM_H */
