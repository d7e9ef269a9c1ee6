/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/acpi.h"

#include <stdbool.h>
#include <stddef.h>

#include "guest-abi/acpi.h"
#include "tests/guest/lib.h"

/* ACPI 6.4, 5.2.5.1: the RSDP sits on a 16-byte boundary in the BIOS ROM area. */
#define RSDP_SCAN_START 0xe0000
#define RSDP_SCAN_END   0x100000
#define RSDP_ALIGN      16

/*
 * Tables are read through the 4 GiB identity map.  The bound on a table's
 * length only keeps a corrupt header from sending us over all of it.
 */
#define ACPI_ADDR_LIMIT  0x100000000ULL
#define ACPI_TABLE_MAX   0x100000u

/* PCIe Base 4.0, 7.2.2: 32 devices x 8 functions x 4 KiB of ECAM per bus. */
#define ECAM_BUS_SIZE    0x100000u

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

static bool addr_ok(uint64_t addr, uint64_t len)
{
	return addr && addr < ACPI_ADDR_LIMIT && len <= ACPI_ADDR_LIMIT - addr;
}

static const struct acpi_rsdp *rsdp_check(uint64_t addr)
{
	const struct acpi_rsdp *r = (const void *)(uintptr_t)addr;

	if (!addr_ok(addr, sizeof(*r)) || memcmp(r->signature, ACPI_RSDP_SIGNATURE, 8) ||
	    checksum(r, ACPI_RSDP_V1_LENGTH))
		return NULL;
	if (r->revision >= 2 &&
	    (r->length < sizeof(*r) || r->length > ACPI_TABLE_MAX ||
	     checksum(r, r->length)))
		return NULL;
	return r;
}

static const struct acpi_rsdp *rsdp_find(uint64_t hint)
{
	const struct acpi_rsdp *r = rsdp_check(hint);
	uint64_t want;

	if (r)
		return r;
	/* Compare the whole 8-byte signature with one load per candidate. */
	memcpy(&want, ACPI_RSDP_SIGNATURE, sizeof(want));
	for (uintptr_t a = RSDP_SCAN_START; a < RSDP_SCAN_END; a += RSDP_ALIGN)
		if (*(const uint64_t *)a == want && (r = rsdp_check(a)))
			return r;
	return NULL;
}

static const struct acpi_sdt_header *sdt_check(uint64_t addr, const char *sig)
{
	const struct acpi_sdt_header *h = (const void *)(uintptr_t)addr;

	if (!addr_ok(addr, sizeof(*h)) || memcmp(h->signature, sig, 4) ||
	    h->length < sizeof(*h) || h->length > ACPI_TABLE_MAX ||
	    !addr_ok(addr, h->length) || checksum(h, h->length))
		return NULL;
	return h;
}

/*
 * The first valid table with @sig and at least @min_len bytes.  The XSDT lists
 * 64-bit table addresses, the RSDT 32-bit ones (5.2.7, 5.2.8).
 */
static const struct acpi_sdt_header *table_find(const struct acpi_rsdp *rsdp,
						const char *sig, size_t min_len)
{
	const struct acpi_sdt_header *root;
	size_t entry_size;

	if (rsdp->revision >= 2 && rsdp->xsdt_address) {
		root = sdt_check(rsdp->xsdt_address, ACPI_SIG_XSDT);
		entry_size = sizeof(uint64_t);
	} else {
		root = sdt_check(rsdp->rsdt_address, ACPI_SIG_RSDT);
		entry_size = sizeof(uint32_t);
	}
	if (!root)
		return NULL;

	const uint8_t *entries = (const uint8_t *)(root + 1);
	size_t n = (root->length - sizeof(*root)) / entry_size;
	for (size_t i = 0; i < n; i++) {
		uint64_t addr = 0;

		memcpy(&addr, entries + i * entry_size, entry_size);
		const struct acpi_sdt_header *h = sdt_check(addr, sig);
		if (h && h->length >= min_len)
			return h;
	}
	return NULL;
}

static void madt_parse(const struct acpi_madt *madt, struct madt_info *out)
{
	const uint8_t *p = (const uint8_t *)(madt + 1);
	const uint8_t *end = (const uint8_t *)madt + madt->header.length;

	while (p + sizeof(struct acpi_madt_entry_header) <= end) {
		const struct acpi_madt_entry_header *e = (const void *)p;

		if (e->length < sizeof(*e) || p + e->length > end)
			break;   /* malformed: trust nothing after it */
		if (e->type == ACPI_MADT_TYPE_LOCAL_APIC &&
		    e->length >= sizeof(struct acpi_madt_local_apic)) {
			const struct acpi_madt_local_apic *l = (const void *)e;

			if (l->flags & ACPI_MADT_LAPIC_ENABLED) {
				if (out->apic_count < SMP_MAX_CPUS)
					out->apic_ids[out->apic_count++] = l->apic_id;
				out->cpus++;
			}
		} else if (e->type == ACPI_MADT_TYPE_IO_APIC &&
			   e->length >= sizeof(struct acpi_madt_io_apic) &&
			   !out->ioapic_addr) {
			out->ioapic_addr = ((const struct acpi_madt_io_apic *)e)->io_apic_address;
		}
		p += e->length;
	}
}

const char *acpi_read_madt(uint64_t rsdp_hint, struct madt_info *out)
{
	memset(out, 0, sizeof(*out));

	const struct acpi_rsdp *rsdp = rsdp_find(rsdp_hint);
	if (!rsdp)
		return "no valid acpi rsdp";
	const struct acpi_madt *madt = (const void *)table_find(rsdp, ACPI_SIG_MADT,
								sizeof(struct acpi_madt));
	if (!madt)
		return "no valid acpi madt";
	madt_parse(madt, out);
	return NULL;
}

/*
 * PCI Firmware Spec 3.2, 4.1.2: the allocation structure of segment 0 that
 * covers bus 0.  Its window must lie in the identity map, where pci.c reads it.
 */
uint64_t acpi_find_ecam(uint64_t rsdp_hint)
{
	const struct acpi_rsdp *rsdp = rsdp_find(rsdp_hint);
	if (!rsdp)
		return 0;
	const struct acpi_sdt_header *mcfg = table_find(rsdp, ACPI_SIG_MCFG,
							 sizeof(struct acpi_mcfg));
	if (!mcfg)
		return 0;

	const struct acpi_mcfg_allocation *a =
		(const void *)((const struct acpi_mcfg *)mcfg + 1);
	size_t n = (mcfg->length - sizeof(struct acpi_mcfg)) / sizeof(*a);
	for (size_t i = 0; i < n; i++)
		if (a[i].pci_segment == 0 && a[i].start_bus == 0 &&
		    addr_ok(a[i].base_address, ECAM_BUS_SIZE))
			return a[i].base_address;
	return 0;
}
