/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ACPI tables, read the way an OS does: scan the BIOS area for the RSDP,
 * follow XSDT -> FADT -> DSDT, MADT and MCFG, checking every checksum, and read
 * fields at their ACPI 6.4 byte offsets (not through guest-abi/acpi.h's structs,
 * so that a wrong layout there shows up here).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "hv/acpi.h"

static struct guest_mem mem;

static int setup_mem(void **state)
{
	(void)state;
	return guest_mem_init(&mem, 64ULL << 20);
}

static int teardown_mem(void **state)
{
	(void)state;
	guest_mem_destroy(&mem);
	return 0;
}

static uint64_t rd(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	memcpy(&v, p, bytes);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* A table: in the ACPI area, its signature, a length that fits, sum 0. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	assert_true(gpa >= CV_ACPI_BASE && gpa + 36 <= CV_ACPI_END);
	t = guest_mem_ptr(&mem, gpa, 36);
	assert_memory_equal(t, sig, 4);
	len = (uint32_t)rd(t + 4, 4);
	assert_true(len >= 36 && gpa + len <= CV_ACPI_END);
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "CRDVSR", 6);  /* OEMID */
	return t;
}

/* ACPI 6.4, 5.2.5.1: "RSD PTR " on a 16-byte boundary in 0xe0000..0xfffff. */
static uint64_t scan_rsdp(void)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		const uint8_t *p = guest_mem_ptr(&mem, a, 20);

		if (!memcmp(p, "RSD PTR ", 8) && sum(p, 20) == 0)
			return a;
	}
	fail_msg("no RSDP in 0xe0000..0xfffff");
	return 0;
}

struct tables {
	const uint8_t *fadt, *madt, *mcfg, *dsdt;
};

static void find_tables(unsigned nr_vcpus, struct tables *t)
{
	uint64_t rsdp_gpa, found;
	const uint8_t *rsdp, *xsdt;
	unsigned n;

	memset(t, 0, sizeof(*t));
	assert_int_equal(acpi_build(&mem, nr_vcpus, &rsdp_gpa), 0);
	found = scan_rsdp();
	assert_int_equal(found, rsdp_gpa);
	rsdp = guest_mem_ptr(&mem, found, 36);
	assert_int_equal(rsdp[15], 2);             /* revision */
	assert_int_equal(rd(rsdp + 20, 4), 36);    /* length */
	assert_int_equal(sum(rsdp, 36), 0);        /* extended checksum */

	xsdt = table(rd(rsdp + 24, 8), "XSDT");
	n = ((uint32_t)rd(xsdt + 4, 4) - 36) / 8;
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = rd(xsdt + 36 + 8 * i, 8);
		const uint8_t *h = guest_mem_ptr(&mem, gpa, 4);

		assert_non_null(h);
		if (!memcmp(h, "FACP", 4))
			t->fadt = table(gpa, "FACP");
		else if (!memcmp(h, "APIC", 4))
			t->madt = table(gpa, "APIC");
		else if (!memcmp(h, "MCFG", 4))
			t->mcfg = table(gpa, "MCFG");
		else
			fail_msg("unexpected table %.4s", (const char *)h);
	}
	assert_non_null(t->fadt);
	assert_non_null(t->madt);
	assert_non_null(t->mcfg);
	t->dsdt = table(rd(t->fadt + 140, 8), "DSDT");      /* X_DSDT */
	assert_int_equal(rd(t->fadt + 40, 4), rd(t->fadt + 140, 8));  /* DSDT */
}

/* ACPI 6.4, 5.2.3.2: a one-byte System I/O register at @port. */
static void assert_io_gas(const uint8_t *gas, uint16_t port)
{
	assert_int_equal(gas[0], 1);   /* System I/O */
	assert_int_equal(gas[1], 8);   /* bit width */
	assert_int_equal(gas[2], 0);   /* bit offset */
	assert_int_equal(gas[3], 1);   /* byte access */
	assert_int_equal(rd(gas + 4, 8), port);
}

static void test_fadt(void **state)
{
	struct tables t;

	(void)state;
	find_tables(2, &t);
	assert_int_equal(rd(t.fadt + 4, 4), 276);  /* revision 6 length */
	assert_int_equal(t.fadt[8], 6);
	assert_int_equal(t.fadt[131], 4);          /* minor version: 6.4 */
	assert_true(rd(t.fadt + 112, 4) & (1u << 20));  /* HW_REDUCED_ACPI */
	/* IAPC_BOOT_ARCH: 8042 present, MSI allowed, CMOS RTC present. */
	assert_true(rd(t.fadt + 109, 2) & (1u << 1));
	assert_false(rd(t.fadt + 109, 2) & (1u << 3));
	assert_false(rd(t.fadt + 109, 2) & (1u << 5));
	assert_io_gas(t.fadt + 244, CV_PORT_SLEEP_CONTROL);
	assert_io_gas(t.fadt + 256, CV_PORT_SLEEP_STATUS);
	/* RESET_REG (offset 116) and RESET_VALUE (128), announced by flag 10. */
	assert_true(rd(t.fadt + 112, 4) & (1u << 10));
	assert_io_gas(t.fadt + 116, CV_PORT_RESET);
	assert_int_equal(t.fadt[128], CV_RESET_VALUE);
	/* No PM timer, no FACS, no PM1 blocks. */
	assert_int_equal(rd(t.fadt + 76, 4), 0);   /* PM_TMR_BLK */
	assert_int_equal(t.fadt[91], 0);           /* PM_TMR_LEN */
	assert_int_equal(rd(t.fadt + 208 + 4, 8), 0);  /* X_PM_TMR_BLK */
	assert_int_equal(rd(t.fadt + 36, 4), 0);   /* FIRMWARE_CTRL */
	assert_int_equal(rd(t.fadt + 132, 8), 0);  /* X_FIRMWARE_CTRL */
	assert_int_equal(rd(t.fadt + 172 + 4, 8), 0);  /* X_PM1a_CNT_BLK */
}

static void check_madt(unsigned nr_vcpus)
{
	struct tables t;
	const uint8_t *p, *end;
	unsigned lapics = 0, ioapics = 0;
	bool irq0 = false, irq9 = false;

	find_tables(nr_vcpus, &t);
	assert_int_equal(t.madt[8], 5);            /* MADT revision, ACPI 6.4 */
	assert_int_equal(rd(t.madt + 36, 4), CV_LAPIC_BASE);
	assert_int_equal(rd(t.madt + 40, 4), 1);   /* PCAT_COMPAT */
	p = t.madt + 44;
	end = t.madt + rd(t.madt + 4, 4);
	while (p < end) {
		assert_true(p[1] >= 2 && p + p[1] <= end);
		switch (p[0]) {
		case 0:  /* Processor Local APIC */
			assert_int_equal(p[1], 8);
			assert_int_equal(p[2], lapics);          /* UID */
			assert_int_equal(p[3], lapics);          /* APIC ID = vCPU index */
			assert_int_equal(rd(p + 4, 4), 1);       /* enabled */
			lapics++;
			break;
		case 1:  /* I/O APIC */
			assert_int_equal(p[1], 12);
			assert_int_equal(p[2], nr_vcpus);        /* first free APIC ID */
			assert_int_equal(rd(p + 4, 4), CV_IOAPIC_BASE);
			assert_int_equal(rd(p + 8, 4), 0);       /* GSI base */
			ioapics++;
			break;
		case 2:  /* Interrupt Source Override */
			assert_int_equal(p[1], 10);
			assert_int_equal(p[2], 0);               /* ISA */
			if (p[3] == 0) {
				assert_int_equal(rd(p + 4, 4), 2);
				assert_int_equal(rd(p + 8, 2), 0x5);  /* edge, active high */
				irq0 = true;
			} else if (p[3] == 9) {
				assert_int_equal(rd(p + 4, 4), 9);
				assert_int_equal(rd(p + 8, 2), 0xd);  /* level, active high */
				irq9 = true;
			} else {
				fail_msg("override for IRQ %u", p[3]);
			}
			break;
		default:
			fail_msg("unexpected MADT entry type %u", p[0]);
		}
		p += p[1];
	}
	assert_ptr_equal(p, end);
	assert_int_equal(lapics, nr_vcpus);
	assert_int_equal(ioapics, 1);
	assert_true(irq0 && irq9);
}

static void test_madt(void **state)
{
	(void)state;
	check_madt(1);
	check_madt(4);
	check_madt(ACPI_MAX_VCPUS);
}

/*
 * PCI Firmware Spec 3.2, 4.1.2: the header, 8 reserved bytes, then one
 * 16-byte allocation structure: the ECAM of segment 0, bus 0 only.
 */
static void test_mcfg(void **state)
{
	static const uint8_t zero[8];
	struct tables t;

	(void)state;
	find_tables(1, &t);
	assert_int_equal(rd(t.mcfg + 4, 4), 44 + 16);  /* length */
	assert_int_equal(t.mcfg[8], 1);                /* revision */
	assert_memory_equal(t.mcfg + 36, zero, 8);
	assert_int_equal(rd(t.mcfg + 44, 8), CV_PCI_ECAM_START);  /* base address */
	assert_int_equal(rd(t.mcfg + 52, 2), 0);       /* PCI segment group */
	assert_int_equal(t.mcfg[54], 0);               /* start bus */
	assert_int_equal(t.mcfg[55], 0);               /* end bus */
	assert_memory_equal(t.mcfg + 56, zero, 4);
	/* One bus of ECAM is 1 MiB (PCIe Base 4.0, 7.2.2): the window is exactly it. */
	assert_int_equal(CV_PCI_ECAM_SIZE, (t.mcfg[55] - t.mcfg[54] + 1) << 20);
}

/* AML PkgLength (ACPI 6.4, 20.2.4): returns the length, @bytes its size. */
static unsigned pkg_length(const uint8_t *p, unsigned *bytes)
{
	unsigned follow = p[0] >> 6, len;

	*bytes = follow + 1;
	if (!follow)
		return p[0] & 0x3f;
	len = p[0] & 0xf;
	for (unsigned i = 0; i < follow; i++)
		len |= (unsigned)p[1 + i] << (4 + 8 * i);
	return len;
}

static const uint8_t *find(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
	const uint8_t *p = memmem(hay, len, needle, n);

	if (!p)
		fail_msg("AML does not contain the expected bytes");
	return p;
}

static void test_dsdt_s5(void **state)
{
	struct tables t;
	const uint8_t *aml, *s5;
	size_t len;

	(void)state;
	find_tables(1, &t);
	assert_int_equal(t.dsdt[8], 2);  /* 64-bit integers */
	aml = t.dsdt + 36;
	len = rd(t.dsdt + 4, 4) - 36;
	/* Name (_S5, Package (2) { 5, 0 }): SLP_TYPa is the S5 type. */
	s5 = find(aml, len, "\x08_S5_\x12", 6);
	assert_int_equal(s5[7], 2);       /* NumElements */
	assert_int_equal(s5[8], 0x0a);    /* BytePrefix */
	assert_int_equal(s5[9], CV_SLEEP_TYP_S5);
}

/* The AML after the DSDT header; the table is checksummed by table(). */
static const uint8_t *dsdt_aml(size_t *len)
{
	struct tables t;

	find_tables(1, &t);
	*len = rd(t.dsdt + 4, 4) - 36;
	return t.dsdt + 36;
}

/*
 * Device (@name) in Scope (_SB), which closes the table and holds nothing but
 * devices: returns the device's body (after its NameSeg) and its end.
 */
static const uint8_t *sb_device(const char *name, const uint8_t **dev_end)
{
	const uint8_t *aml, *end, *scope, *p, *found = NULL;
	unsigned n, plen;
	size_t len;

	aml = dsdt_aml(&len);
	end = aml + len;
	scope = find(aml, len, "\x10", 1);
	plen = pkg_length(scope + 1, &n);
	assert_ptr_equal(scope + 1 + plen, end);
	assert_memory_equal(scope + 1 + n, "_SB_", 4);
	for (p = scope + 1 + n + 4; p < end; p += 2 + plen) {
		assert_int_equal(p[0], 0x5b);  /* DeviceOp */
		assert_int_equal(p[1], 0x82);
		plen = pkg_length(p + 2, &n);
		assert_true(p + 2 + plen <= end);
		if (!memcmp(p + 2 + n, name, 4)) {
			assert_null(found);
			found = p + 2 + n + 4;
			*dev_end = p + 2 + plen;
		}
	}
	assert_ptr_equal(p, end);
	if (!found)
		fail_msg("no Device (%.4s) in \\_SB", name);
	return found;
}

/*
 * Name (_CRS, Buffer) closing the device body @dev..@end: returns the
 * resource descriptors and their length (BufferSize), checked to end with
 * the End Tag and to fill the Buffer exactly.
 */
static const uint8_t *device_crs(const uint8_t *dev, const uint8_t *end, size_t *len)
{
	const uint8_t *crs, *res, *p;
	unsigned n, plen;

	crs = find(dev, (size_t)(end - dev), "\x08_CRS\x11", 6);
	plen = pkg_length(crs + 6, &n);
	assert_ptr_equal(crs + 6 + plen, end);
	assert_int_equal(crs[6 + n], 0x0a);           /* BytePrefix BufferSize */
	res = crs + 6 + n + 2;
	*len = crs[6 + n + 1];
	assert_ptr_equal(res + *len, end);
	for (p = res; p < end && p[0] != 0x79; ) {
		if (p[0] & 0x80)  /* large descriptor: tag, 16-bit length */
			p += 3 + rd(p + 1, 2);
		else              /* small descriptor: length in bits 2:0 */
			p += 1 + (p[0] & 7);
	}
	assert_int_equal(p[0], 0x79);
	assert_ptr_equal(p + 2, end);
	return res;
}

static void test_dsdt_pci_root(void **state)
{
	const uint8_t *dev, *end, *res, *res_end;
	size_t len;
	bool bus = false, io = false, mem32 = false;

	(void)state;
	dev = sb_device("PCI0", &end);
	find(dev, (size_t)(end - dev), "\x08_HID\x0c\x41\xd0\x0a\x03", 10);  /* PNP0A03 */
	res = device_crs(dev, end, &len);
	for (res_end = res + len; res[0] != 0x79; ) {
		if (res[0] & 0x80) {
			unsigned rlen = (unsigned)rd(res + 1, 2);

			if (res[0] == 0x88 && res[3] == 2) {  /* Word bus number range */
				assert_int_equal(rd(res + 8, 2), 0);
				assert_int_equal(rd(res + 10, 2), 0);
				bus = true;
			} else if (res[0] == 0x88 && res[3] == 1) {  /* Word I/O window */
				assert_int_equal(res[4] & 1, 0);       /* producer */
				assert_int_equal(rd(res + 8, 2), CV_PORT_PCI_IO_START);
				assert_int_equal(rd(res + 10, 2), CV_PORT_PCI_IO_END - 1);
				assert_int_equal(rd(res + 14, 2),
						 CV_PORT_PCI_IO_END - CV_PORT_PCI_IO_START);
				io = true;
			} else if (res[0] == 0x87 && res[3] == 0) {  /* DWord memory window */
				assert_int_equal(res[4] & 1, 0);
				assert_int_equal(rd(res + 10, 4), CV_PCI_MMIO32_START);
				assert_int_equal(rd(res + 14, 4), CV_PCI_MMIO32_END - 1);
				assert_int_equal(rd(res + 22, 4),
						 CV_PCI_MMIO32_END - CV_PCI_MMIO32_START);
				mem32 = true;
			}
			res += 3 + rlen;
		} else {
			res += 1 + (res[0] & 7);
		}
	}
	assert_ptr_equal(res + 2, res_end);
	assert_true(bus && io && mem32);
}

/*
 * The legacy ISA devices Linux's PnP-ACPI registers (and maps the IRQ of),
 * byte for byte: _HID is an EisaId DWord (ACPI 6.4, 19.6.35), the _CRS holds
 * I/O Port descriptors (6.4.2.5: 0x47, decode16, min, max, alignment,
 * length), an IRQ descriptor without flags (6.4.2.1: 0x22, 16-bit mask) and
 * the End Tag (6.4.2.9).
 */
static void check_isa_device(const char *name, const uint8_t hid[4],
			     const uint8_t *crs, size_t crs_len)
{
	uint8_t hid_aml[10] = { 0x08, '_', 'H', 'I', 'D', 0x0c };
	const uint8_t *dev, *end, *res;
	size_t len;

	dev = sb_device(name, &end);
	memcpy(hid_aml + 6, hid, 4);
	find(dev, (size_t)(end - dev), hid_aml, sizeof(hid_aml));
	find(dev, (size_t)(end - dev), "\x08_UID\x00", 6);
	res = device_crs(dev, end, &len);
	assert_int_equal(len, crs_len);
	assert_memory_equal(res, crs, crs_len);
}

static void test_dsdt_isa_devices(void **state)
{
	static const uint8_t com1_hid[] = { 0x41, 0xd0, 0x05, 0x01 };  /* PNP0501 */
	static const uint8_t com1_crs[] = {
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,  /* 0x3f8, 8 ports */
		0x22, 0x10, 0x00,                                /* IRQ 4 */
		0x79, 0x00,
	};
	static const uint8_t ps2k_hid[] = { 0x41, 0xd0, 0x03, 0x03 };  /* PNP0303 */
	static const uint8_t ps2k_crs[] = {
		0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,  /* data 0x60 */
		0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01,  /* command 0x64 */
		0x22, 0x02, 0x00,                                /* IRQ 1 */
		0x79, 0x00,
	};
	static const uint8_t rtc_hid[] = { 0x41, 0xd0, 0x0b, 0x00 };   /* PNP0B00 */
	static const uint8_t rtc_crs[] = {
		0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02,  /* 0x70, 2 ports */
		0x22, 0x00, 0x01,                                /* IRQ 8 */
		0x79, 0x00,
	};

	(void)state;
	/* The platform's ports and IRQs are the PC's, which the bytes spell. */
	assert_int_equal(CV_PORT_COM1, 0x3f8);
	assert_int_equal(CV_IRQ_COM1, 4);
	assert_int_equal(CV_PORT_I8042_DATA, 0x60);
	assert_int_equal(CV_PORT_I8042_CMD, 0x64);
	assert_int_equal(CV_IRQ_KEYBOARD, 1);
	assert_int_equal(CV_PORT_RTC_INDEX, 0x70);
	assert_int_equal(CV_IRQ_RTC, 8);
	check_isa_device("COM1", com1_hid, com1_crs, sizeof(com1_crs));
	check_isa_device("PS2K", ps2k_hid, ps2k_crs, sizeof(ps2k_crs));
	check_isa_device("RTC_", rtc_hid, rtc_crs, sizeof(rtc_crs));
}

/*
 * Linux's BOOT_BIOS restart jumps to F000:FFF0 in real mode: the code there
 * must write CV_RESET_VALUE to the reset register the FADT names.
 */
static void test_reset_vector(void **state)
{
	const uint8_t *v;
	struct tables t;

	(void)state;
	find_tables(2, &t);
	v = guest_mem_ptr(&mem, CV_RESET_VECTOR, 16);
	assert_non_null(v);
	assert_int_equal(v[0], 0xb0);                   /* mov al, imm8 */
	assert_int_equal(v[1], CV_RESET_VALUE);
	assert_int_equal(v[2], 0xba);                   /* mov dx, imm16 */
	assert_int_equal(rd(v + 3, 2), CV_PORT_RESET);
	assert_int_equal(v[5], 0xee);                   /* out dx, al */
	assert_int_equal(v[7], 0xf4);                   /* hlt */
}

static void test_bad_vcpu_count(void **state)
{
	uint64_t rsdp;

	(void)state;
	assert_int_equal(acpi_build(&mem, 0, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(&mem, ACPI_MAX_VCPUS + 1, &rsdp), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_mcfg),
		cmocka_unit_test(test_dsdt_s5),
		cmocka_unit_test(test_dsdt_pci_root),
		cmocka_unit_test(test_dsdt_isa_devices),
		cmocka_unit_test(test_reset_vector),
		cmocka_unit_test(test_bad_vcpu_count),
	};

	return cmocka_run_group_tests(tests, setup_mem, teardown_mem);
}
