/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a Linux guest reads at boot: the zero page and 64-bit entry state a
 * synthetic bzImage gets (Linux Documentation/arch/x86/boot.rst), and the
 * e820 map for small, 3 GiB and above-4-GiB guests.
 */
#include <asm/bootparam.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "guest-abi/pvh.h"
#include "hv/e820.h"
#include "hv/loader.h"
#include "tests/unit/fixture.h"







/* ---- a synthetic bzImage ------------------------------------------------- */

struct bz_opts {
	uint16_t version;
	uint16_t xloadflags;
	uint8_t setup_sects;
	uint32_t kernel_size;     /* protected-mode part, a multiple of 16 */
	uint8_t relocatable;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	size_t truncate_to;       /* 0: the whole file */
};

static struct bz_opts bz_defaults(void)
{
	return (struct bz_opts){
		.version = 0x020f, .xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
		.setup_sects = 3, .kernel_size = 0x3000, .relocatable = 1,
		.pref_address = 16 * MIB, .init_size = 0x200000, .cmdline_size = 2047,
		.initrd_addr_max = 0x7fffffff,
	};
}

static uint8_t kernel_byte(size_t i)
{
	return (uint8_t)(i * 13 + 5);
}

/*
 * Boot sector and setup header as boot.rst lays them out (the first sector is
 * the start of struct boot_params), setup_sects more sectors, then the
 * protected-mode kernel.
 */
static char *bz_file(const struct bz_opts *o)
{
	size_t setup = ((size_t)o->setup_sects + 1) * 512;
	size_t size = setup + o->kernel_size;
	uint8_t *f = calloc(1, size);
	struct boot_params bp;
	struct setup_header *h = &bp.hdr;
	char *path;

	memset(&bp, 0, sizeof(bp));
	h->setup_sects = o->setup_sects;
	h->syssize = o->kernel_size / 16;
	h->boot_flag = 0xaa55;
	/* "jmp short" over the header: it ends at 0x202 + the displacement. */
	h->jump = 0xeb | (uint16_t)((0x1f1 + sizeof(*h) - 0x202) << 8);
	memcpy(&h->header, "HdrS", 4);
	h->version = o->version;
	h->loadflags = LOADED_HIGH;
	h->code32_start = 0x100000;
	h->initrd_addr_max = o->initrd_addr_max;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = o->relocatable;
	h->min_alignment = 21;
	h->xloadflags = o->xloadflags;
	h->cmdline_size = o->cmdline_size;
	h->pref_address = o->pref_address;
	h->init_size = o->init_size;
	memcpy(f, &bp, 0x1f1 + sizeof(*h));
	for (size_t i = 0; i < o->kernel_size; i++)
		f[setup + i] = kernel_byte(i);
	path = tmp_file(f, o->truncate_to ? o->truncate_to : size);
	free(f);
	return path;
}

static int load_bz(const struct bz_opts *o, const char *initrd, const char *cmdline,
		   struct boot_entry *entry)
{
	char *path = bz_file(o);
	struct loader_config cfg = { .kernel = path, .initrd = initrd, .cmdline = cmdline,
				     .nr_vcpus = 1 };
	int ret = loader_load(&fixture_mem, &cfg, entry);

	drop_file(path);
	return ret;
}

static const struct boot_params *zero_page(void)
{
	return guest_mem_ptr(&fixture_mem, CV_ZERO_PAGE, sizeof(struct boot_params));
}

/* ---- bzImage loads ------------------------------------------------------- */

static void test_bzimage_entry(void **state)
{
	struct bz_opts o = bz_defaults();
	struct boot_entry entry;
	const uint8_t *k;
	const uint64_t *gdt;

	(void)state;
	assert_int_equal(load_bz(&o, NULL, "console=ttyS0", &entry), 0);
	/* 64-bit boot protocol: 0x200 into the kernel at 1 MiB, RSI = zero page. */
	assert_int_equal(entry.mode, BOOT_MODE_LINUX64);
	assert_int_equal(entry.rip, 0x100200);
	assert_int_equal(entry.rsi, CV_ZERO_PAGE);
	assert_int_equal(entry.rbx, 0);
	assert_int_equal(entry.cr3, CV_PAGE_TABLES);
	assert_int_equal(entry.rsp, CV_BOOT_STACK);
	assert_int_equal(entry.gdt_base, CV_BOOT_GDT);
	assert_int_equal(entry.gdt_limit, 31);
	assert_int_equal(entry.code_selector, 0x10);  /* __BOOT_CS */
	assert_int_equal(entry.data_selector, 0x18);  /* __BOOT_DS */

	gdt = guest_mem_ptr(&fixture_mem, CV_BOOT_GDT, 32);
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[2], 0x00af9b000000ffffULL);  /* 64-bit code: L=1, D=0 */
	assert_int_equal(gdt[3], 0x00cf93000000ffffULL);  /* flat read/write data */

	k = guest_mem_ptr(&fixture_mem, CV_KERNEL_START, o.kernel_size);
	for (size_t i = 0; i < o.kernel_size; i++)
		if (k[i] != kernel_byte(i))
			fail_msg("kernel byte %#zx is %#x", i, k[i]);
}

static void test_bzimage_page_tables(void **state)
{
	struct bz_opts o = bz_defaults();
	struct boot_entry entry;
	const uint64_t *pml4, *pdpt, *pd;

	(void)state;
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), 0);
	pml4 = guest_mem_ptr(&fixture_mem, entry.cr3, 4096);
	assert_int_equal(pml4[0] & 0xfff, 0x3);  /* present, writable */
	for (int i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0);
	pdpt = guest_mem_ptr(&fixture_mem, pml4[0] & ~0xfffULL, 4096);
	/* Every 2 MiB page of the first 4 GiB maps to itself. */
	for (uint64_t gb = 0; gb < 4; gb++) {
		assert_int_equal(pdpt[gb] & 0xfff, 0x3);
		assert_true((pdpt[gb] & ~0xfffULL) + 4096 <= CV_PAGE_TABLES_END);
		pd = guest_mem_ptr(&fixture_mem, pdpt[gb] & ~0xfffULL, 4096);
		for (uint64_t i = 0; i < 512; i++)
			assert_int_equal(pd[i], (gb << 30 | i << 21) | 0x83);
	}
	assert_int_equal(pdpt[4], 0);
}

static void test_bzimage_zero_page(void **state)
{
	struct bz_opts o = bz_defaults();
	struct boot_entry entry;
	const struct boot_params *bp;
	struct e820_map map;

	(void)state;
	assert_int_equal(load_bz(&o, NULL, "console=ttyS0 root=/dev/vda", &entry), 0);
	bp = zero_page();
	/* The setup header is the file's ... */
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.setup_sects, 3);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.init_size, o.init_size);
	assert_int_equal(bp->hdr.xloadflags, o.xloadflags);
	/* ... with the boot loader's fields filled in. */
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
	assert_int_equal(bp->hdr.heap_end_ptr, 0xfe00);
	assert_int_equal(bp->hdr.cmd_line_ptr, CV_CMDLINE);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_string_equal(guest_mem_ptr(&fixture_mem, bp->hdr.cmd_line_ptr, 1),
			    "console=ttyS0 root=/dev/vda");
	assert_int_equal(bp->hdr.ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	assert_int_equal(bp->sentinel, 0);
	/* Protocol 2.14: the RSDP, which really is there. */
	assert_int_equal(bp->acpi_rsdp_addr, CV_ACPI_BASE);
	assert_memory_equal(guest_mem_ptr(&fixture_mem, bp->acpi_rsdp_addr, 8), "RSD PTR ", 8);

	e820_build(&fixture_mem, &map);
	assert_int_equal(bp->e820_entries, 5);
	for (unsigned i = 0; i < map.nr; i++) {
		assert_int_equal(bp->e820_table[i].addr, map.range[i].addr);
		assert_int_equal(bp->e820_table[i].size, map.range[i].size);
		assert_int_equal(bp->e820_table[i].type, map.range[i].type);
	}
	assert_int_equal(bp->e820_table[3].addr + bp->e820_table[3].size, 64 * MIB);
	assert_int_equal(bp->e820_table[4].addr, CV_PCI_ECAM_START);
	assert_int_equal(bp->e820_table[4].type, E820_TYPE_RESERVED);
}

static void test_bzimage_initrd(void **state)
{
	struct bz_opts o = bz_defaults();
	const size_t size = 5 * 4096 + 100;
	uint8_t *data = malloc(size);
	struct boot_entry entry;
	const struct boot_params *bp;
	char *initrd;

	(void)state;
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 3);
	initrd = tmp_file(data, size);

	/* Highest page-aligned place below the top of RAM. */
	assert_int_equal(load_bz(&o, initrd, NULL, &entry), 0);
	bp = zero_page();
	assert_int_equal(bp->hdr.ramdisk_size, size);
	assert_int_equal(bp->hdr.ramdisk_image, (64 * MIB - size) & ~4095ULL);
	assert_memory_equal(guest_mem_ptr(&fixture_mem, bp->hdr.ramdisk_image, size), data, size);

	/* ... or below initrd_addr_max, the highest address it may occupy. */
	o.initrd_addr_max = 48 * MIB - 1;
	assert_int_equal(load_bz(&o, initrd, NULL, &entry), 0);
	assert_int_equal(bp->hdr.ramdisk_image, (48 * MIB - size) & ~4095ULL);
	assert_memory_equal(guest_mem_ptr(&fixture_mem, bp->hdr.ramdisk_image, size), data, size);

	/* ... but never inside the kernel's init_size from pref_address. */
	o.initrd_addr_max = 16 * MIB + o.init_size;
	assert_int_equal(load_bz(&o, initrd, NULL, &entry), -ENOSPC);

	free(data);
	drop_file(initrd);
}

static void test_bzimage_fixed_address(void **state)
{
	struct bz_opts o = bz_defaults();
	struct boot_entry entry;
	const uint8_t *k;

	(void)state;
	/* Not relocatable: where pref_address says. */
	o.relocatable = 0;
	o.pref_address = 2 * MIB;
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), 0);
	assert_int_equal(entry.rip, 2 * MIB + 0x200);
	k = guest_mem_ptr(&fixture_mem, 2 * MIB, 16);
	assert_int_equal(k[0], kernel_byte(0));
	assert_int_equal(k[15], kernel_byte(15));

	o.pref_address = 0x90000;
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -ERANGE);
}

static void test_bzimage_rejected(void **state)
{
	struct bz_opts o;
	struct boot_entry entry;

	(void)state;
	o = bz_defaults();
	o.version = 0x020b;  /* no xloadflags yet */
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -ENOEXEC);
	o = bz_defaults();
	o.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;  /* 32-bit only */
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -ENOEXEC);
	o = bz_defaults();
	o.truncate_to = 4 * 512 + 0x2ff0;  /* kernel shorter than syssize */
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -EINVAL);
	o = bz_defaults();
	o.truncate_to = 3 * 512;  /* setup sectors cut */
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -EINVAL);
	o = bz_defaults();
	o.truncate_to = 0x210;  /* inside the setup header */
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -EINVAL);
	o = bz_defaults();
	o.kernel_size = 0;  /* syssize 0 */
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -EINVAL);
	o = bz_defaults();
	o.init_size = 48 * MIB + 1;  /* 16 MiB + that > 64 MiB of RAM */
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -ENOSPC);
	o = bz_defaults();
	o.relocatable = 0;
	o.pref_address = ~0ULL - 0x100;  /* must not wrap into "fits" */
	assert_int_equal(load_bz(&o, NULL, NULL, &entry), -ENOSPC);
}

static void test_bzimage_cmdline_size(void **state)
{
	struct bz_opts o = bz_defaults();
	struct boot_entry entry;

	(void)state;
	o.cmdline_size = 16;  /* bytes, without the NUL */
	assert_int_equal(load_bz(&o, NULL, "0123456789abcdef", &entry), 0);
	assert_int_equal(load_bz(&o, NULL, "0123456789abcdefg", &entry), -E2BIG);
}

/* ---- e820 ---------------------------------------------------------------- */

static void assert_range(const struct e820_map *map, unsigned i, uint64_t start,
			 uint64_t end, uint32_t type)
{
	assert_true(i < map->nr);
	assert_int_equal(map->range[i].addr, start);
	assert_int_equal(map->range[i].size, end - start);
	assert_int_equal(map->range[i].type, type);
}

/*
 * The ECAM window is reserved whatever the RAM size: Linux ignores an MCFG
 * region e820 does not reserve in full (arch/x86/pci/mmconfig-shared.c).
 */
static void assert_ecam_range(const struct e820_map *map, unsigned i)
{
	assert_range(map, i, 0xe0000000, 0xe0100000, E820_TYPE_RESERVED);
}

/* The part below 1 MiB is the same for every size. */
static void assert_low_ranges(const struct e820_map *map)
{
	assert_range(map, 0, 0, 0x9fc00, E820_TYPE_RAM);
	assert_range(map, 1, 0x9fc00, 0xe0000, E820_TYPE_RESERVED);
	assert_range(map, 2, 0xe0000, 0x100000, E820_TYPE_ACPI);
}

static void test_e820_64m(void **state)
{
	struct e820_map map;

	(void)state;
	e820_build(&fixture_mem, &map);
	assert_int_equal(map.nr, 5);
	assert_low_ranges(&map);
	assert_range(&map, 3, 0x100000, 64 * MIB, E820_TYPE_RAM);
	assert_ecam_range(&map, 4);
}

static void test_e820_3g(void **state)
{
	struct guest_mem m;
	struct e820_map map;

	(void)state;
	assert_int_equal(guest_mem_init(&m, 3 * GIB), 0);
	e820_build(&m, &map);
	/* Exactly up to the PCI hole, nothing above 4 GiB. */
	assert_int_equal(map.nr, 5);
	assert_low_ranges(&map);
	assert_range(&map, 3, 0x100000, 0xc0000000, E820_TYPE_RAM);
	assert_ecam_range(&map, 4);
	guest_mem_destroy(&m);
}

static void test_e820_5g(void **state)
{
	struct guest_mem m;
	struct e820_map map;

	(void)state;
	assert_int_equal(guest_mem_init(&m, 5 * GIB), 0);
	e820_build(&m, &map);
	/* 3 GiB below the hole, the other 2 GiB from 4 GiB on. */
	assert_int_equal(map.nr, 6);
	assert_low_ranges(&map);
	assert_range(&map, 3, 0x100000, 0xc0000000, E820_TYPE_RAM);
	assert_ecam_range(&map, 4);
	assert_range(&map, 5, 0x100000000ULL, 0x180000000ULL, E820_TYPE_RAM);
	guest_mem_destroy(&m);
}

/* One writer, both layouts: 20-byte boot_e820_entry, 24-byte PVH memmap. */
static void test_e820_write_formats(void **state)
{
	struct guest_mem m;
	struct e820_map map;
	struct boot_e820_entry bp[E820_MAX_RANGES];
	struct hvm_memmap_table_entry pvh[E820_MAX_RANGES];

	(void)state;
	assert_int_equal(guest_mem_init(&m, 5 * GIB), 0);
	e820_build(&m, &map);
	memset(pvh, 0, sizeof(pvh));
	assert_int_equal(e820_write(&map, bp, E820_MAX_RANGES, sizeof(bp[0])), 6);
	assert_int_equal(e820_write(&map, pvh, E820_MAX_RANGES, sizeof(pvh[0])), 6);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(bp[i].addr, map.range[i].addr);
		assert_int_equal(bp[i].size, map.range[i].size);
		assert_int_equal(bp[i].type, map.range[i].type);
		assert_int_equal(pvh[i].addr, map.range[i].addr);
		assert_int_equal(pvh[i].size, map.range[i].size);
		assert_int_equal(pvh[i].type, map.range[i].type);
		assert_int_equal(pvh[i].reserved, 0);
	}
	assert_int_equal(e820_write(&map, bp, 5, sizeof(bp[0])), -ENOSPC);
	guest_mem_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bzimage_entry, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_bzimage_page_tables, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_bzimage_zero_page, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_bzimage_initrd, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_bzimage_fixed_address, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_bzimage_rejected, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_bzimage_cmdline_size, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_e820_64m, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test(test_e820_3g),
		cmocka_unit_test(test_e820_5g),
		cmocka_unit_test(test_e820_write_formats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
