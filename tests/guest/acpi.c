// SPDX-License-Identifier: Apache-2.0
#include "tests/guest/acpi.h"

#include <stdbool.h>
#include <stddef.h>

#include "tests/guest/lib.h"

/* ACPI 6.4, 5.2.5.3: Root System Description Pointer. */
struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;         /* over the first 20 bytes (ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;         /* 0: ACPI 1.0, RSDT only; 2: XSDT as well */
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

#define RSDP_V1_LENGTH 20

/* ACPI 6.4, 5.2.6: System Description Table Header. */
struct acpi_sdt_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

/* ACPI 6.4, 5.2.12: MADT, then its interrupt controller structures. */
struct acpi_madt {
	struct acpi_sdt_header header;
	uint32_t local_apic_address;
	uint32_t flags;
} __attribute__((packed));

struct madt_entry {
	uint8_t type;
	uint8_t length;
} __attribute__((packed));

#define MADT_LOCAL_APIC 0         /* 5.2.12.2 */
#define MADT_IO_APIC    1         /* 5.2.12.3 */
#define MADT_LAPIC_ENABLED (1u << 0)

struct madt_local_apic {
	struct madt_entry h;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_io_apic {
	struct madt_entry h;
	uint8_t io_apic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

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

	if (!addr_ok(addr, sizeof(*r)) || memcmp(r->signature, "RSD PTR ", 8) ||
	    checksum(r, RSDP_V1_LENGTH))
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
	memcpy(&want, "RSD PTR ", sizeof(want));
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

/* The XSDT lists 64-bit table addresses, the RSDT 32-bit ones (5.2.7, 5.2.8). */
static const struct acpi_madt *madt_find(const struct acpi_rsdp *rsdp)
{
	const struct acpi_sdt_header *root;
	size_t entry_size;

	if (rsdp->revision >= 2 && rsdp->xsdt_address) {
		root = sdt_check(rsdp->xsdt_address, "XSDT");
		entry_size = sizeof(uint64_t);
	} else {
		root = sdt_check(rsdp->rsdt_address, "RSDT");
		entry_size = sizeof(uint32_t);
	}
	if (!root)
		return NULL;

	const uint8_t *entries = (const uint8_t *)(root + 1);
	size_t n = (root->length - sizeof(*root)) / entry_size;
	for (size_t i = 0; i < n; i++) {
		uint64_t addr = 0;

		memcpy(&addr, entries + i * entry_size, entry_size);
		const struct acpi_sdt_header *h = sdt_check(addr, "APIC");
		if (h && h->length >= sizeof(struct acpi_madt))
			return (const struct acpi_madt *)h;
	}
	return NULL;
}

static void madt_parse(const struct acpi_madt *madt, struct madt_info *out)
{
	const uint8_t *p = (const uint8_t *)(madt + 1);
	const uint8_t *end = (const uint8_t *)madt + madt->header.length;

	while (p + sizeof(struct madt_entry) <= end) {
		const struct madt_entry *e = (const void *)p;

		if (e->length < sizeof(*e) || p + e->length > end)
			break;   /* malformed: trust nothing after it */
		if (e->type == MADT_LOCAL_APIC &&
		    e->length >= sizeof(struct madt_local_apic)) {
			const struct madt_local_apic *l = (const void *)e;

			if (l->flags & MADT_LAPIC_ENABLED) {
				if (out->apic_count < SMP_MAX_CPUS)
					out->apic_ids[out->apic_count++] = l->apic_id;
				out->cpus++;
			}
		} else if (e->type == MADT_IO_APIC &&
			   e->length >= sizeof(struct madt_io_apic) &&
			   !out->ioapic_addr) {
			out->ioapic_addr = ((const struct madt_io_apic *)e)->address;
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
	const struct acpi_madt *madt = madt_find(rsdp);
	if (!madt)
		return "no valid acpi madt";
	madt_parse(madt, out);
	return NULL;
}
