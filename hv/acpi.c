/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACPI tables for a hardware-reduced platform (ACPI 6.4, 4.1): no PM1/GPE
 * blocks, no PM timer, no FACS; power-off through the sleep control register.
 * The MCFG points the guest at the ECAM.  Layouts in guest-abi/acpi.h; every
 * table is checksummed so its bytes sum to zero (ACPI 6.4, 5.2.6).
 */
#include "hv/acpi.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "guest-abi/acpi.h"
#include "guest-abi/cv_platform.h"
#include "tools/lib/log.h"

#define ACPI_OEM_ID        "CRDVSR"
#define ACPI_CREATOR_ID    "CVHV"
#define ACPI_TABLE_ALIGN   16  /* the RSDP must be; the others like it too */

/*
 * The ISA IRQ Linux takes for the SCI: hardware-reduced ACPI has no SCI, but
 * Linux treats the override whose source equals SCI_INT as the SCI's, so it
 * must name IRQ9 (which has its SCI-style override below), not IRQ0.
 */
#define FADT_SCI_IRQ 9

/*
 * The DSDT's AML (ACPI 6.4, chapter 20), hand-assembled.  It is the same for
 * every guest; in ASL it reads:
 *
 *   Name (_S5, Package () { 5, 0 })
 *   Scope (_SB) {
 *     Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A03"))
 *       Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {
 *         WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
 *                        0, 0, 0, 0, 1)
 *         IO (Decode16, 0xcf8, 0xcf8, 1, 8)
 *         WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
 *                 0, CV_PORT_PCI_IO_START, CV_PORT_PCI_IO_END - 1, 0, size)
 *         DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed,
 *                      NonCacheable, ReadWrite, 0, CV_PCI_MMIO32_START,
 *                      CV_PCI_MMIO32_END - 1, 0, size)
 *       })
 *     }
 *     Device (COM1) {
 *       Name (_HID, EisaId ("PNP0501"))
 *       Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {
 *         IO (Decode16, 0x3f8, 0x3f8, 1, 8)
 *         IRQNoFlags () { 4 }
 *       })
 *     }
 *     Device (PS2K) {
 *       Name (_HID, EisaId ("PNP0303"))
 *       Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {
 *         IO (Decode16, 0x60, 0x60, 1, 1)
 *         IO (Decode16, 0x64, 0x64, 1, 1)
 *         IRQNoFlags () { 1 }
 *       })
 *     }
 *     Device (RTC) {
 *       Name (_HID, EisaId ("PNP0B00"))
 *       Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {
 *         IO (Decode16, 0x70, 0x70, 1, 2)
 *         IRQNoFlags () { 8 }
 *       })
 *     }
 *   }
 *
 * _S5 gives SLP_TYPa = 5, which Linux writes with SLP_EN into the FADT's
 * sleep control register to power off (ACPI 6.4, 7.4.2 and 4.8.3.7).
 * PCI0 is there because x86 Linux with ACPI enumerates PCI only through
 * PNP0A03/PNP0A08 devices in the namespace (arch/x86/pci/acpi.c); without it
 * the guest would see no PCI device at all.  Its _CRS gives bus 0 and the I/O
 * and 32-bit memory windows BARs live in.  No _PRT: cardvisor's functions
 * interrupt through MSI-X.
 *
 * COM1, PS2K and RTC are the legacy ISA devices.  A hardware-reduced machine
 * has no 8259, so Linux sets up no ISA IRQ from the MADT alone; it maps an
 * ISA device's IRQ through the I/O APIC only when PnP-ACPI finds the device
 * in the namespace (drivers/pnp/pnpacpi), which 8250_pnp, i8042 and rtc_cmos
 * then bind to.  No _STA: its absence means present and enabled (ACPI 6.4,
 * 6.3.7).  IRQNoFlags is edge triggered, active high, the ISA convention.
 *
 * Encodings: NameOp 0x08, PackageOp 0x12, BytePrefix 0x0a, ZeroOp 0x00,
 * ScopeOp 0x10, DeviceOp 0x5b 0x82, DWordPrefix 0x0c, BufferOp 0x11 (20.2.5);
 * PkgLength (20.2.4) counts itself and what follows: below 64 it is one byte,
 * the two-byte form is 0x40 | (len & 0xf), len >> 4.  Resource descriptors
 * are ACPI 6.4, 6.4.
 */
#define LE16(v) (uint8_t)(v), (uint8_t)((v) >> 8)
#define LE32(v) LE16(v), LE16((v) >> 16)
#define PKGLEN1(n) (uint8_t)(n)
#define PKGLEN2(n) (uint8_t)(0x40 | ((n) & 0xf)), (uint8_t)((n) >> 4)

/*
 * EisaId ("PNPxxxx"): "PNP" compressed to five bits a letter is 0x41d0, then
 * the four hex digits, most significant byte first (ACPI 6.4, 19.6.35).
 */
#define EISA_PNP(id) 0x41, 0xd0, (uint8_t)((id) >> 8), (uint8_t)(id)

/* I/O Port (6.4.2.5): IO (Decode16, port, port, 1, n), fixed at @port. */
#define RES_IO(port, n) 0x47, 0x01, LE16(port), LE16(port), 0x01, (n)
#define RES_IO_LEN  8
/* IRQ without the flags byte (6.4.2.1): IRQNoFlags () { irq }. */
#define RES_IRQ(irq) 0x22, LE16(1u << (irq))
#define RES_IRQ_LEN 3
/* End Tag (6.4.2.9), checksum 0: "treat as correct". */
#define RES_END 0x79, 0x00
#define RES_END_LEN 2

/*
 * Device (name) { Name (_HID, EisaId ("PNP<pnp_id>")) Name (_UID, 0)
 * Name (_CRS, ResourceTemplate () { ... }) } for a legacy ISA device whose
 * descriptors, End Tag included, are @crs_len bytes: small enough for
 * one-byte PkgLengths.
 */
#define ISA_CRS_PKGLEN(crs_len) (1 + 2 + (crs_len))   /* PkgLength, BufferSize */
#define ISA_DEV_PKGLEN(crs_len) (1 + 4 + 10 + 6 + 6 + ISA_CRS_PKGLEN(crs_len))
#define ISA_DEV_LEN(crs_len)    (2 + ISA_DEV_PKGLEN(crs_len))  /* DeviceOp too */
#define ISA_DEVICE(n0, n1, n2, n3, pnp_id, crs_len, ...)				\
	0x5b, 0x82, PKGLEN1(ISA_DEV_PKGLEN(crs_len)), n0, n1, n2, n3,			\
	0x08, '_', 'H', 'I', 'D', 0x0c, EISA_PNP(pnp_id),				\
	0x08, '_', 'U', 'I', 'D', 0x00,							\
	0x08, '_', 'C', 'R', 'S', 0x11, PKGLEN1(ISA_CRS_PKGLEN(crs_len)), 0x0a, (crs_len), \
	__VA_ARGS__, RES_END

#define UART_NR_PORTS   8   /* the 16550's register block */
#define RTC_NR_PORTS    (CV_PORT_RTC_DATA - CV_PORT_RTC_INDEX + 1)
#define COM1_CRS_LEN    (RES_IO_LEN + RES_IRQ_LEN + RES_END_LEN)
#define PS2K_CRS_LEN    (2 * RES_IO_LEN + RES_IRQ_LEN + RES_END_LEN)
#define RTC_CRS_LEN     (RES_IO_LEN + RES_IRQ_LEN + RES_END_LEN)
_Static_assert(ISA_DEV_PKGLEN(PS2K_CRS_LEN) < 64 && ISA_DEV_PKGLEN(COM1_CRS_LEN) < 64 &&
	       ISA_DEV_PKGLEN(RTC_CRS_LEN) < 64, "one-byte PkgLengths");

#define CRS_LEN         (16 + RES_IO_LEN + 16 + 26 + RES_END_LEN)
#define CRS_PKGLEN      (2 + 2 + CRS_LEN)           /* PkgLength, BufferSize */
#define PCI0_PKGLEN     (2 + 4 + 10 + 6 + 6 + CRS_PKGLEN)
#define SB_PKGLEN       (2 + 4 + 2 + PCI0_PKGLEN + ISA_DEV_LEN(COM1_CRS_LEN) + \
			 ISA_DEV_LEN(PS2K_CRS_LEN) + ISA_DEV_LEN(RTC_CRS_LEN))
_Static_assert(CRS_PKGLEN >= 64 && SB_PKGLEN < 4096, "two-byte PkgLengths");

static const uint8_t dsdt_aml[] = {
	/* Name (_S5, Package (2) { 5, 0 }): PkgLength 5, NumElements 2 */
	0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, CV_SLEEP_TYP_S5, 0x00,
	/* Scope (_SB) */
	0x10, PKGLEN2(SB_PKGLEN), '_', 'S', 'B', '_',
	/* Device (PCI0) */
	0x5b, 0x82, PKGLEN2(PCI0_PKGLEN), 'P', 'C', 'I', '0',
	/* Name (_HID, EisaId ("PNP0A03")) */
	0x08, '_', 'H', 'I', 'D', 0x0c, EISA_PNP(0x0a03),
	/* Name (_UID, Zero) */
	0x08, '_', 'U', 'I', 'D', 0x00,
	/* Name (_CRS, Buffer (CRS_LEN) { ... }) */
	0x08, '_', 'C', 'R', 'S', 0x11, PKGLEN2(CRS_PKGLEN), 0x0a, CRS_LEN,
	/* Word Address Space (0x88), length 13, type 2 = bus numbers,
	 * flags MinFixed|MaxFixed, producer; granularity, min 0, max 0,
	 * translation, length 1 */
	0x88, LE16(13), 0x02, 0x0c, 0x00, LE16(0), LE16(0), LE16(0), LE16(0), LE16(1),
	/* IO (Decode16, 0xcf8, 0xcf8, 1, 8) */
	RES_IO(CV_PORT_PCI_CONFIG_ADDR, 8),
	/* Word Address Space, type 1 = I/O, EntireRange (0x03) */
	0x88, LE16(13), 0x01, 0x0c, 0x03, LE16(0), LE16(CV_PORT_PCI_IO_START),
	LE16(CV_PORT_PCI_IO_END - 1), LE16(0), LE16(CV_PORT_PCI_IO_END - CV_PORT_PCI_IO_START),
	/* DWord Address Space (0x87), length 23, type 0 = memory, ReadWrite
	 * non-cacheable (0x01) */
	0x87, LE16(23), 0x00, 0x0c, 0x01, LE32(0), LE32(CV_PCI_MMIO32_START),
	LE32(CV_PCI_MMIO32_END - 1), LE32(0), LE32(CV_PCI_MMIO32_END - CV_PCI_MMIO32_START),
	RES_END,
	/* Device (COM1): IO (Decode16, 0x3f8, 0x3f8, 1, 8), IRQNoFlags () { 4 } */
	ISA_DEVICE('C', 'O', 'M', '1', 0x0501, COM1_CRS_LEN,
		   RES_IO(CV_PORT_COM1, UART_NR_PORTS), RES_IRQ(CV_IRQ_COM1)),
	/* Device (PS2K): IO (Decode16, 0x60, 0x60, 1, 1),
	 * IO (Decode16, 0x64, 0x64, 1, 1), IRQNoFlags () { 1 } */
	ISA_DEVICE('P', 'S', '2', 'K', 0x0303, PS2K_CRS_LEN,
		   RES_IO(CV_PORT_I8042_DATA, 1), RES_IO(CV_PORT_I8042_CMD, 1),
		   RES_IRQ(CV_IRQ_KEYBOARD)),
	/* Device (RTC): IO (Decode16, 0x70, 0x70, 1, 2), IRQNoFlags () { 8 } */
	ISA_DEVICE('R', 'T', 'C', '_', 0x0b00, RTC_CRS_LEN,
		   RES_IO(CV_PORT_RTC_INDEX, RTC_NR_PORTS), RES_IRQ(CV_IRQ_RTC)),
};
_Static_assert(sizeof(dsdt_aml) == 11 + 1 + SB_PKGLEN, "DSDT PkgLengths match the bytes");

/* Tables are laid out one after the other in the ACPI area of guest RAM. */
struct acpi_area {
	uint8_t *host;
	uint64_t used;
};

static void *table_alloc(struct acpi_area *a, uint64_t len, uint64_t *gpa)
{
	void *p = a->host + a->used;

	*gpa = CV_ACPI_BASE + a->used;
	a->used += (len + ACPI_TABLE_ALIGN - 1) & ~(uint64_t)(ACPI_TABLE_ALIGN - 1);
	return p;
}

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

static void header_init(struct acpi_sdt_header *h, const char sig[4], uint32_t len,
			uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, "CVHV", 4);
	memcpy(h->oem_table_id + 4, sig, 4);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

/* Last step of each table, once its body is written. */
static void header_finish(struct acpi_sdt_header *h)
{
	h->checksum = 0;
	h->checksum = checksum(h, h->length);
}

static uint64_t build_dsdt(struct acpi_area *a)
{
	uint32_t len = sizeof(struct acpi_sdt_header) + sizeof(dsdt_aml);
	uint64_t gpa;
	struct acpi_sdt_header *h = table_alloc(a, len, &gpa);

	/* Revision 2: AML integers are 64 bits (ACPI 6.4, 5.2.11.1). */
	header_init(h, ACPI_SIG_DSDT, len, 2);
	memcpy(h + 1, dsdt_aml, sizeof(dsdt_aml));
	header_finish(h);
	return gpa;
}

static struct acpi_gas io_byte_reg(uint16_t port)
{
	return (struct acpi_gas){
		.address_space_id = ACPI_GAS_SPACE_SYSTEM_IO,
		.register_bit_width = 8,
		.access_size = ACPI_GAS_ACCESS_BYTE,
		.address = port,
	};
}

static uint64_t build_fadt(struct acpi_area *a, uint64_t dsdt)
{
	uint64_t gpa;
	struct acpi_fadt *f = table_alloc(a, sizeof(*f), &gpa);

	header_init(&f->header, ACPI_SIG_FADT, sizeof(*f), 6);
	f->fadt_minor_version = 4;  /* FADT 6.4 */
	/* ACPICA wants DSDT and X_DSDT to agree when both are set. */
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->sci_int = FADT_SCI_IRQ;
	f->iapc_boot_arch = ACPI_FADT_IAPC_LEGACY_DEVICES | ACPI_FADT_IAPC_8042 |
			    ACPI_FADT_IAPC_VGA_NOT_PRESENT |
			    ACPI_FADT_IAPC_PCIE_ASPM_CONTROLS;
	f->flags = ACPI_FADT_HW_REDUCED_ACPI | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON |
		   ACPI_FADT_RESET_REG_SUP;
	/* Linux offers S5 only when both registers are set (acpi_sleep_state_supported). */
	f->sleep_control_reg = io_byte_reg(CV_PORT_SLEEP_CONTROL);
	f->sleep_status_reg = io_byte_reg(CV_PORT_SLEEP_STATUS);
	f->reset_reg = io_byte_reg(CV_PORT_RESET);
	f->reset_value = CV_RESET_VALUE;
	header_finish(&f->header);
	return gpa;
}

static uint8_t *put_override(uint8_t *p, uint8_t source, uint32_t gsi, uint16_t flags)
{
	struct acpi_madt_interrupt_override o = {
		.header = { ACPI_MADT_TYPE_INTERRUPT_OVERRIDE, sizeof(o) },
		.source = source, .global_system_interrupt = gsi, .flags = flags,
	};

	memcpy(p, &o, sizeof(o));
	return p + sizeof(o);
}

static uint64_t build_madt(struct acpi_area *a, unsigned nr_vcpus)
{
	struct acpi_madt_local_apic lapic = {
		.header = { ACPI_MADT_TYPE_LOCAL_APIC, sizeof(lapic) },
		.flags = ACPI_MADT_LAPIC_ENABLED,
	};
	struct acpi_madt_io_apic ioapic = {
		.header = { ACPI_MADT_TYPE_IO_APIC, sizeof(ioapic) },
		.io_apic_id = (uint8_t)nr_vcpus,
		.io_apic_address = (uint32_t)CV_IOAPIC_BASE,
		.global_system_interrupt_base = 0,
	};
	uint32_t len = sizeof(struct acpi_madt) + nr_vcpus * sizeof(lapic) + sizeof(ioapic) +
		       2 * sizeof(struct acpi_madt_interrupt_override);
	uint64_t gpa;
	struct acpi_madt *m = table_alloc(a, len, &gpa);
	uint8_t *p = (uint8_t *)(m + 1);

	header_init(&m->header, ACPI_SIG_MADT, len, 5);
	m->local_interrupt_controller_address = (uint32_t)CV_LAPIC_BASE;
	m->flags = ACPI_MADT_PCAT_COMPAT;
	for (unsigned i = 0; i < nr_vcpus; i++, p += sizeof(lapic)) {
		lapic.acpi_processor_uid = (uint8_t)i;
		lapic.apic_id = (uint8_t)i;
		memcpy(p, &lapic, sizeof(lapic));
	}
	memcpy(p, &ioapic, sizeof(ioapic));
	p += sizeof(ioapic);
	/*
	 * The PC conventions every OS expects: the PIT's IRQ0 arrives on pin 2
	 * (pin 0 is the 8259's ExtINT), and the SCI's IRQ9 is level triggered.
	 */
	p = put_override(p, CV_IRQ_PIT, 2,
			 ACPI_MPS_INTI_POLARITY_HIGH | ACPI_MPS_INTI_TRIGGER_EDGE);
	put_override(p, FADT_SCI_IRQ, FADT_SCI_IRQ,
		     ACPI_MPS_INTI_POLARITY_HIGH | ACPI_MPS_INTI_TRIGGER_LEVEL);
	header_finish(&m->header);
	return gpa;
}

/*
 * ECAM gives each bus 1 MiB (PCIe Base 4.0, 7.2.2): the window covers buses
 * 0..ECAM_END_BUS of segment 0.  Without the MCFG Linux falls back to
 * configuration mechanism #1 and only the first 256 bytes of each function.
 */
#define ECAM_BUS_SHIFT 20
#define ECAM_END_BUS   ((CV_PCI_ECAM_SIZE >> ECAM_BUS_SHIFT) - 1)
_Static_assert(CV_PCI_ECAM_SIZE % (1ULL << ECAM_BUS_SHIFT) == 0 && ECAM_END_BUS <= 0xff,
	       "the ECAM window is whole buses of one segment");

static uint64_t build_mcfg(struct acpi_area *a)
{
	struct acpi_mcfg_allocation ecam = {
		.base_address = CV_PCI_ECAM_START,
		.pci_segment = 0,
		.start_bus = 0,
		.end_bus = ECAM_END_BUS,
	};
	uint32_t len = sizeof(struct acpi_mcfg) + sizeof(ecam);
	uint64_t gpa;
	struct acpi_mcfg *m = table_alloc(a, len, &gpa);

	/* PCI Firmware Spec 3.2, 4.1.2, Table 4-2: revision 1. */
	header_init(&m->header, ACPI_SIG_MCFG, len, 1);
	memcpy(m + 1, &ecam, sizeof(ecam));
	header_finish(&m->header);
	return gpa;
}

static uint64_t build_xsdt(struct acpi_area *a, const uint64_t *tables, unsigned n)
{
	uint32_t len = sizeof(struct acpi_sdt_header) + n * sizeof(uint64_t);
	uint64_t gpa;
	struct acpi_sdt_header *h = table_alloc(a, len, &gpa);

	header_init(h, ACPI_SIG_XSDT, len, 1);
	memcpy(h + 1, tables, n * sizeof(uint64_t));
	header_finish(h);
	return gpa;
}

/*
 * The reset vector's code (guest-abi/cv_platform.h, CV_RESET_VECTOR), in
 * 16-bit real mode: write the reset register, then halt for good should
 * that ever return.
 */
static const uint8_t reset_vector_code[] = {
	0xb0, CV_RESET_VALUE,                                   /* mov al, CV_RESET_VALUE */
	0xba, CV_PORT_RESET & 0xff, CV_PORT_RESET >> 8,         /* mov dx, CV_PORT_RESET */
	0xee,                                                   /* out dx, al */
	0xfa,                                                   /* 1: cli */
	0xf4,                                                   /* hlt */
	0xeb, 0xfc,                                             /* jmp 1b */
};
_Static_assert(sizeof(reset_vector_code) <= CV_ACPI_END - CV_RESET_VECTOR,
	       "the reset vector's code fits below 1 MiB");

int acpi_build(struct guest_mem *mem, unsigned nr_vcpus, uint64_t *rsdp_gpa)
{
	const uint64_t size = CV_ACPI_END - CV_ACPI_BASE;
	struct acpi_area a = { .host = guest_mem_ptr(mem, CV_ACPI_BASE, size) };
	struct acpi_rsdp *rsdp;
	uint64_t tables[3];

	if (nr_vcpus < 1 || nr_vcpus > ACPI_MAX_VCPUS) {
		cv_err("acpi: %u vCPUs: the MADT describes 1 to %u", nr_vcpus, ACPI_MAX_VCPUS);
		return -EINVAL;
	}
	if (!a.host) {
		cv_err("acpi: table area %#llx..%#llx is not guest RAM",
		       CV_ACPI_BASE, CV_ACPI_END);
		return -EFAULT;
	}
	/* Largest layout (254 vCPUs) is ~3 KiB of a 128 KiB area. */
	_Static_assert(CV_ACPI_END - CV_ACPI_BASE >= 4096, "ACPI area size");
	memset(a.host, 0, size);

	/* First in the area: 16-byte aligned at 0xe0000, found by the BIOS-area scan. */
	rsdp = table_alloc(&a, sizeof(*rsdp), rsdp_gpa);
	tables[0] = build_fadt(&a, build_dsdt(&a));
	tables[1] = build_madt(&a, nr_vcpus);
	tables[2] = build_mcfg(&a);

	memcpy(rsdp->signature, ACPI_RSDP_SIGNATURE, 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = build_xsdt(&a, tables, sizeof(tables) / sizeof(tables[0]));
	rsdp->checksum = checksum(rsdp, ACPI_RSDP_V1_LENGTH);
	rsdp->extended_checksum = checksum(rsdp, sizeof(*rsdp));
	if (a.used > CV_RESET_VECTOR - CV_ACPI_BASE) {
		cv_err("acpi: %llu bytes of tables reach the reset vector at %#llx",
		       (unsigned long long)a.used, CV_RESET_VECTOR);
		return -ENOSPC;
	}
	memcpy(a.host + (CV_RESET_VECTOR - CV_ACPI_BASE), reset_vector_code,
	       sizeof(reset_vector_code));
	return 0;
}
