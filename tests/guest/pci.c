/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/pci.h"

#include <stdbool.h>

#include "guest-abi/cv_platform.h"
#include "tests/guest/io.h"
#include "tests/guest/lib.h"
#include "tests/guest/serial.h"

/* PCI Local Bus 3.0, 3.2.2.3.2: configuration mechanism #1. */
#define PCI_CONFIG_ENABLE (1u << 31)

#define PCI_HEADER_MULTIFUNCTION 0x80
#define PCI_HEADER_LAYOUT_MASK   0x7f
#define PCI_HEADER_BRIDGE        1
#define PCI_BARS_TYPE0 6
#define PCI_BARS_TYPE1 2   /* PCI-to-PCI Bridge Architecture 1.2, 3.2 */

/* PCI Local Bus 3.0, 6.2.5.1: base address register layout. */
#define PCI_BAR_IO          0x1u
#define PCI_BAR_MEM_TYPE    0x6u
#define PCI_BAR_MEM_TYPE_64 0x4u
#define PCI_BAR_IO_MASK     0xfffffffcu
#define PCI_BAR_MEM_MASK    0xfffffff0u

static uint32_t config_address(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off)
{
	return PCI_CONFIG_ENABLE | (uint32_t)bus << 16 | (uint32_t)(dev & 0x1f) << 11 |
	       (uint32_t)(fn & 0x7) << 8 | (off & 0xfc);
}

uint32_t pci_cfg_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off)
{
	outl(CV_PORT_PCI_CONFIG_ADDR, config_address(bus, dev, fn, off));
	return inl(CV_PORT_PCI_CONFIG_DATA);
}

void pci_cfg_write32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off, uint32_t v)
{
	outl(CV_PORT_PCI_CONFIG_ADDR, config_address(bus, dev, fn, off));
	outl(CV_PORT_PCI_CONFIG_DATA, v);
}

/* PCIe Base 4.0, 7.2.2: bus 27:20, device 19:15, function 14:12, register 11:0. */
static uint32_t ecam_read32(uint64_t ecam_base, uint8_t dev, uint8_t fn, uint16_t off)
{
	return mmio_read32(ecam_base + ((uint64_t)(dev & 0x1f) << 15 |
					(uint64_t)(fn & 0x7) << 12 | (off & 0xffc)));
}

/*
 * Two MMIO reads: every one is an exit, and on a software KVM an emulated
 * instruction, so the host bridge's identity and class stand for the rest.
 */
bool pci_ecam_agrees(uint64_t ecam_base)
{
	static const uint8_t regs[] = { PCI_VENDOR_ID, PCI_CLASS_REVISION };

	for (unsigned int i = 0; i < sizeof(regs); i++)
		if (ecam_read32(ecam_base, 0, 0, regs[i]) != pci_cfg_read32(0, 0, 0, regs[i]))
			return false;
	return true;
}

static uint8_t header_type(uint8_t dev, uint8_t fn)
{
	return (uint8_t)(pci_cfg_read32(0, dev, fn, PCI_HEADER_TYPE & 0xfc) >>
			 (8 * (PCI_HEADER_TYPE & 3)));
}

/*
 * Decodes BAR @index of @nbars; a 64-bit memory BAR also consumes the next
 * register, so *next is where the following BAR starts.
 */
static uint64_t bar_decode(uint8_t dev, uint8_t fn, unsigned int index,
			   unsigned int nbars, bool *io, unsigned int *next)
{
	uint32_t bar = pci_cfg_read32(0, dev, fn, PCI_BAR0 + 4 * index);
	uint64_t addr;

	*io = bar & PCI_BAR_IO;
	*next = index + 1;
	addr = bar & (*io ? PCI_BAR_IO_MASK : PCI_BAR_MEM_MASK);
	if (!*io && (bar & PCI_BAR_MEM_TYPE) == PCI_BAR_MEM_TYPE_64 &&
	    index + 1 < nbars) {
		addr |= (uint64_t)pci_cfg_read32(0, dev, fn, PCI_BAR0 + 4 * (index + 1)) << 32;
		*next = index + 2;
	}
	return addr;
}

/* Appends " bar<i> <mem|io> <addr>" for each BAR that has an address. */
static void describe_bars(char *buf, size_t size, uint8_t dev, uint8_t fn,
			  unsigned int nbars)
{
	size_t len = 0;
	unsigned int next;

	buf[0] = '\0';
	for (unsigned int i = 0; i < nbars; i = next) {
		bool io;
		uint64_t addr = bar_decode(dev, fn, i, nbars, &io, &next);

		if (!addr || len >= size)
			continue;
		len += snprintf(buf + len, size - len, " bar%u %s 0x%lx", i,
				io ? "io" : "mem", addr);
	}
}

uint64_t pci_bar_mem(uint8_t dev, uint8_t fn, unsigned int index)
{
	bool io;
	unsigned int next;
	uint64_t addr;

	if (index >= PCI_BARS_TYPE0)
		return 0;
	addr = bar_decode(dev, fn, index, PCI_BARS_TYPE0, &io, &next);
	return io ? 0 : addr;
}

/* PCI Local Bus 3.0, 6.7: the list starts at 0x34 if Status says it exists. */
uint8_t pci_next_cap(uint8_t dev, uint8_t fn, uint8_t id, uint8_t prev)
{
	uint8_t ptr;

	if (!((pci_cfg_read32(0, dev, fn, PCI_COMMAND) >> 16) & PCI_STATUS_CAP_LIST))
		return 0;
	ptr = prev ? (uint8_t)(pci_cfg_read32(0, dev, fn, prev) >> 8)
		   : (uint8_t)pci_cfg_read32(0, dev, fn, PCI_CAP_PTR);
	/* 48 capabilities fill the 192 bytes above the header: a loop is bad. */
	for (int hops = 0; hops < 48 && ptr >= 0x40; hops++) {
		uint32_t hdr = pci_cfg_read32(0, dev, fn, ptr & 0xfc);

		if ((uint8_t)hdr == id)
			return ptr & 0xfc;
		ptr = (uint8_t)(hdr >> 8);
	}
	return 0;
}

uint8_t pci_find_cap(uint8_t dev, uint8_t fn, uint8_t id)
{
	return pci_next_cap(dev, fn, id, 0);
}

/* PCI Local Bus 3.0, 6.8.2: MSI-X capability and table entry layout. */
#define MSIX_CTRL_ENABLE   (1u << 31)  /* Message Control bit 15, as a dword */
#define MSIX_CTRL_MASKALL  (1u << 30)
#define MSIX_CTRL_SIZE(d)  ((((d) >> 16) & 0x7ff) + 1)
#define MSIX_TABLE_BIR(d)  ((d) & 7)
#define MSIX_TABLE_OFF(d)  ((d) & ~7u)
#define MSIX_ENTRY_SIZE    16
/* Intel SDM Vol. 3A, "Message Signalled Interrupts". */
#define MSI_ADDR_BASE      0xfee00000u
#define MSI_ADDR_DEST(id)  ((uint32_t)(id) << 12)

int pci_msix_find(uint8_t dev, uint8_t fn, struct pci_msix *m)
{
	uint8_t cap = pci_find_cap(dev, fn, PCI_CAP_ID_MSIX);

	*m = (struct pci_msix){ 0 };
	if (!cap)
		return -ENODEV;
	uint32_t ctrl = pci_cfg_read32(0, dev, fn, cap);
	uint32_t table = pci_cfg_read32(0, dev, fn, cap + 4);
	uint64_t base = pci_bar_mem(dev, fn, MSIX_TABLE_BIR(table));

	if (!base || base + MSIX_TABLE_OFF(table) +
		     (uint64_t)MSIX_CTRL_SIZE(ctrl) * MSIX_ENTRY_SIZE > 0x100000000ull)
		return -ENODEV;
	m->cap = cap;
	m->table = (uintptr_t)(base + MSIX_TABLE_OFF(table));
	m->size = (uint16_t)MSIX_CTRL_SIZE(ctrl);
	return 0;
}

void pci_msix_route(const struct pci_msix *m, uint16_t entry, uint8_t apic_id,
		    uint8_t vector)
{
	uintptr_t e = m->table + (uintptr_t)entry * MSIX_ENTRY_SIZE;

	if (entry >= m->size)
		return;
	mmio_write32(e + 0, MSI_ADDR_BASE | MSI_ADDR_DEST(apic_id));
	mmio_write32(e + 4, 0);
	mmio_write32(e + 8, vector);
	mmio_write32(e + 12, 0);
}

void pci_msix_mask(const struct pci_msix *m, uint16_t entry)
{
	if (entry < m->size)
		mmio_write32(m->table + (uintptr_t)entry * MSIX_ENTRY_SIZE + 12, 1);
}

void pci_msix_enable(uint8_t dev, uint8_t fn, const struct pci_msix *m, bool on)
{
	uint32_t ctrl = pci_cfg_read32(0, dev, fn, m->cap);

	ctrl &= ~(MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	pci_cfg_write32(0, dev, fn, m->cap, ctrl | (on ? MSIX_CTRL_ENABLE : 0));
}

/* The first function on bus 0 whose config dword @reg, shifted right by
 * @shift, equals @want. */
static int find_function(uint8_t reg, unsigned int shift, uint32_t want, uint8_t *dev,
			 uint8_t *fn)
{
	for (uint8_t d = 0; d < 32; d++) {
		uint8_t nfn = 1;

		for (uint8_t f = 0; f < nfn; f++) {
			uint32_t id = pci_cfg_read32(0, d, f, PCI_VENDOR_ID);

			if ((id & 0xffff) == 0xffff)
				continue;
			if (f == 0 && (header_type(d, f) & PCI_HEADER_MULTIFUNCTION))
				nfn = 8;
			if (pci_cfg_read32(0, d, f, reg) >> shift == want) {
				*dev = d;
				*fn = f;
				return 0;
			}
		}
	}
	return -ENODEV;
}

int pci_find_class(uint32_t class, uint8_t *dev, uint8_t *fn)
{
	return find_function(PCI_CLASS_REVISION, 8, class, dev, fn);
}

int pci_find_id(uint16_t vendor, uint16_t device, uint8_t *dev, uint8_t *fn)
{
	return find_function(PCI_VENDOR_ID, 0, (uint32_t)device << 16 | vendor, dev, fn);
}

static void report_function(uint8_t dev, uint8_t fn, uint32_t id, uint8_t header)
{
	uint32_t class = pci_cfg_read32(0, dev, fn, PCI_CLASS_REVISION) >> 8;
	char bars[256];

	describe_bars(bars, sizeof(bars), dev, fn,
		      (header & PCI_HEADER_LAYOUT_MASK) == PCI_HEADER_BRIDGE ?
		      PCI_BARS_TYPE1 : PCI_BARS_TYPE0);
	kprintf("cvguest: pci 00:%02x.%u %04x:%04x class %06x%s\n", dev, fn,
		id & 0xffff, id >> 16, class, bars);
}

/*
 * PCI Local Bus 3.0, 6.2.1: an absent function reads vendor 0xffff; functions
 * 1-7 exist only if function 0's header type has the multi-function bit.
 */
unsigned int pci_scan_bus0(void)
{
	unsigned int found = 0;

	for (uint8_t dev = 0; dev < 32; dev++) {
		uint8_t nfn = 1;

		for (uint8_t fn = 0; fn < nfn; fn++) {
			uint32_t id = pci_cfg_read32(0, dev, fn, PCI_VENDOR_ID);

			if ((id & 0xffff) == 0xffff)
				continue;
			uint8_t header = header_type(dev, fn);
			if (fn == 0 && (header & PCI_HEADER_MULTIFUNCTION))
				nfn = 8;
			report_function(dev, fn, id, header);
			found++;
		}
	}
	kprintf("cvguest: pci scan done functions=%u\n", found);
	return found;
}
