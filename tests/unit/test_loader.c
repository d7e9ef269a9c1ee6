/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader_load(): file handling and the PVH path.  Every rejected file must
 * give the documented errno and exactly one error line naming the file; a
 * PVH ELF built here (gABI ELF64 layout, Xen PVH note) must land in guest
 * RAM with a correct struct hvm_start_info.  bzImage specifics are in
 * test_boot_params.c.
 */
#include <elf.h>
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "guest-abi/pvh.h"
#include "hv/e820.h"
#include "hv/loader.h"
#include "tests/unit/fixture.h"


/* ---- fixtures ------------------------------------------------------------ */




struct elf_opts {
	uint8_t class;
	uint16_t machine;
	uint16_t type;
	unsigned note_desc;      /* 0: no PVH note; 4 or 8 bytes of entry */
	uint64_t note_align;     /* PT_NOTE p_align */
	uint64_t paddr;          /* the one PT_LOAD segment */
	uint64_t filesz;
	uint64_t memsz;
	uint64_t entry;          /* PVH entry */
};

#define ELF_TEXT_OFFSET 0x1000
#define ELF_NOTE_OFFSET 0x100

static struct elf_opts elf_defaults(void)
{
	return (struct elf_opts){
		.class = ELFCLASS64, .machine = EM_X86_64, .type = ET_EXEC,
		.note_desc = 4, .note_align = 4,
		.paddr = CV_KERNEL_START, .filesz = 0x2000, .memsz = 0x3000,
		.entry = CV_KERNEL_START + 0x10,
	};
}

static uint8_t text_byte(uint64_t i)
{
	return (uint8_t)(i * 7 + 1);  /* never 0: bss zeroing shows */
}

/* ELF header, PT_LOAD + PT_NOTE, the note, then the segment's bytes. */
static size_t build_elf(const struct elf_opts *o, uint8_t **out)
{
	size_t size = ELF_TEXT_OFFSET + o->filesz;
	uint8_t *f = calloc(1, size);
	Elf64_Ehdr eh = {
		.e_type = o->type, .e_machine = o->machine, .e_version = EV_CURRENT,
		.e_entry = 0xffffffff81000000ULL,  /* not the PVH entry: must be ignored */
		.e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2,
	};
	Elf64_Phdr ph[2] = {
		{ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = ELF_TEXT_OFFSET,
		  .p_vaddr = 0xffffffff81000000ULL, .p_paddr = o->paddr,
		  .p_filesz = o->filesz, .p_memsz = o->memsz, .p_align = 0x1000 },
		{ .p_type = PT_NOTE, .p_offset = ELF_NOTE_OFFSET, .p_align = o->note_align },
	};
	const uint64_t a = o->note_align;
	size_t note = ELF_NOTE_OFFSET;  /* 8-aligned: relative offsets align the same */
	Elf64_Nhdr nh;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = o->class;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	/*
	 * An unrelated note first, so the walk has to step over one: header,
	 * name, desc at the next multiple of the alignment, next note likewise.
	 */
	nh = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = 3, .n_type = NT_GNU_BUILD_ID };
	memcpy(f + note, &nh, sizeof(nh));
	memcpy(f + note + sizeof(nh), "GNU", 4);
	note = (note + sizeof(nh) + 4 + a - 1) / a * a;
	note = (note + 3 + a - 1) / a * a;
	if (o->note_desc) {
		nh = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = o->note_desc,
				   .n_type = XEN_ELFNOTE_PHYS32_ENTRY };
		memcpy(f + note, &nh, sizeof(nh));
		memcpy(f + note + sizeof(nh), "Xen", 4);
		note = (note + sizeof(nh) + 4 + a - 1) / a * a;
		memcpy(f + note, &o->entry, o->note_desc);
		note += o->note_desc;
	}
	ph[1].p_filesz = note - ELF_NOTE_OFFSET;
	memcpy(f, &eh, sizeof(eh));
	memcpy(f + sizeof(eh), ph, sizeof(ph));
	for (uint64_t i = 0; i < o->filesz; i++)
		f[ELF_TEXT_OFFSET + i] = text_byte(i);
	*out = f;
	return size;
}

static char *elf_file(const struct elf_opts *o, size_t truncate_to)
{
	uint8_t *f;
	size_t size = build_elf(o, &f);
	char *path = tmp_file(f, truncate_to ? truncate_to : size);

	free(f);
	return path;
}

/* ---- harness ------------------------------------------------------------- */




static struct loader_config config(const char *kernel)
{
	return (struct loader_config){ .kernel = kernel, .cmdline = "console=ttyS0",
				       .nr_vcpus = 2 };
}

/* loader_load() with stderr captured into @log. */
static int load_logged(const struct loader_config *cfg, struct boot_entry *entry,
		       char *log, size_t log_size)
{
	FILE *capture = tmpfile();
	int saved = dup(STDERR_FILENO), ret;
	size_t n;

	assert_non_null(capture);
	fflush(stderr);
	dup2(fileno(capture), STDERR_FILENO);
	ret = loader_load(&fixture_mem, cfg, entry);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(capture);
	n = fread(log, 1, log_size - 1, capture);
	log[n] = '\0';
	fclose(capture);
	return ret;
}

/* The contract: @err, and one line, an error naming @file and saying @what. */
static void assert_rejected(const struct loader_config *cfg, int err, const char *file,
			    const char *what)
{
	struct boot_entry entry;
	char log[4096];
	char *nl;

	assert_int_equal(load_logged(cfg, &entry, log, sizeof(log)), err);
	nl = strchr(log, '\n');
	assert_non_null(nl);
	assert_string_equal(nl + 1, "");  /* exactly one line */
	assert_non_null(strstr(log, ": error: "));
	assert_non_null(strstr(log, file));
	if (!strstr(log, what))
		fail_msg("log line \"%s\" does not say \"%s\"", log, what);
}

static void reject_elf(const struct elf_opts *o, size_t truncate_to, int err, const char *what)
{
	char *path = elf_file(o, truncate_to);
	struct loader_config cfg = config(path);

	assert_rejected(&cfg, err, path, what);
	drop_file(path);
}

/* ---- rejections ---------------------------------------------------------- */

static void test_missing_file(void **state)
{
	struct loader_config cfg = config("/tmp/cv-test-loader-no-such-kernel");

	(void)state;
	assert_rejected(&cfg, -ENOENT, cfg.kernel, "No such file");
}

static void test_empty_file(void **state)
{
	char *path = tmp_file("", 0);
	struct loader_config cfg = config(path);

	(void)state;
	assert_rejected(&cfg, -EINVAL, path, "empty");
	drop_file(path);
}

static void test_directory(void **state)
{
	struct loader_config cfg = config("/tmp");

	(void)state;
	assert_rejected(&cfg, -EINVAL, "/tmp", "not a regular file");
}

static void test_wrong_magic(void **state)
{
	static const char text[] = "#!/bin/sh\necho this is not a kernel\n";
	char *path = tmp_file(text, sizeof(text));
	struct loader_config cfg = config(path);

	(void)state;
	assert_rejected(&cfg, -ENOEXEC, path, "not a Linux bzImage or PVH ELF kernel");
	drop_file(path);
}

static void test_elf_not_x86_64(void **state)
{
	struct elf_opts o = elf_defaults();

	(void)state;
	o.machine = EM_AARCH64;
	reject_elf(&o, 0, -ENOEXEC, "not x86-64");
	o = elf_defaults();
	o.class = ELFCLASS32;
	reject_elf(&o, 0, -ENOEXEC, "ELFCLASS64");
	o = elf_defaults();
	o.type = ET_DYN;
	reject_elf(&o, 0, -ENOEXEC, "ET_EXEC");
}

static void test_elf_without_pvh_note(void **state)
{
	struct elf_opts o = elf_defaults();

	(void)state;
	o.note_desc = 0;
	reject_elf(&o, 0, -ENOEXEC, "no PVH entry note");
}

static void test_elf_truncated(void **state)
{
	struct elf_opts o = elf_defaults();

	(void)state;
	/* Inside the ELF header, inside the program headers, inside the segment. */
	reject_elf(&o, 40, -EINVAL, "truncated");
	reject_elf(&o, sizeof(Elf64_Ehdr) + 10, -EINVAL, "program headers");
	reject_elf(&o, ELF_TEXT_OFFSET + 0x1800, -EINVAL, "runs past the end");
}

static void test_elf_filesz_over_memsz(void **state)
{
	struct elf_opts o = elf_defaults();

	(void)state;
	o.memsz = o.filesz - 1;
	reject_elf(&o, 0, -EINVAL, "p_filesz");
}

static void test_elf_segment_placement(void **state)
{
	struct elf_opts o = elf_defaults();

	(void)state;
	o.paddr = CV_KERNEL_START - 0x1000;  /* its start covers the BIOS area */
	o.entry = o.paddr;
	reject_elf(&o, 0, -ERANGE, "below 1 MiB");
	o = elf_defaults();
	o.paddr = 64 * MIB - 0x1000;         /* bss runs off the end of RAM */
	o.entry = o.paddr;
	reject_elf(&o, 0, -ERANGE, "outside guest RAM");
	o = elf_defaults();
	o.entry = CV_KERNEL_START + o.filesz;  /* in the bss, not in loaded code */
	reject_elf(&o, 0, -ERANGE, "PVH entry");
}

static void test_initrd_too_large(void **state)
{
	struct elf_opts o = elf_defaults();
	char *kernel = elf_file(&o, 0);
	char *initrd = tmp_sparse(64 * MIB);
	struct loader_config cfg = config(kernel);

	(void)state;
	cfg.initrd = initrd;
	/* 64 MiB of initrd cannot sit above a kernel in 64 MiB of RAM. */
	assert_rejected(&cfg, -ENOSPC, kernel, "needs RAM up to 0x4103000 (66 MiB), usable RAM for it ends at 0x4000000 (64 MiB)");
	drop_file(initrd);
	drop_file(kernel);
}

static void test_initrd_unusable(void **state)
{
	struct elf_opts o = elf_defaults();
	char *kernel = elf_file(&o, 0);
	char *empty = tmp_file("", 0);
	struct loader_config cfg = config(kernel);

	(void)state;
	cfg.initrd = "/tmp/cv-test-loader-no-such-initrd";
	assert_rejected(&cfg, -ENOENT, cfg.initrd, "No such file");
	cfg.initrd = empty;
	assert_rejected(&cfg, -EINVAL, empty, "empty");
	drop_file(empty);
	drop_file(kernel);
}

static void test_cmdline_too_long(void **state)
{
	struct elf_opts o = elf_defaults();
	char *kernel = elf_file(&o, 0);
	char *cmdline = malloc(CV_CMDLINE_MAX + 1);
	struct loader_config cfg = config(kernel);
	struct boot_entry entry;

	(void)state;
	memset(cmdline, 'x', CV_CMDLINE_MAX);
	cmdline[CV_CMDLINE_MAX] = '\0';
	cfg.cmdline = cmdline;
	assert_rejected(&cfg, -E2BIG, kernel, "command line");
	/* The longest that fits, with its NUL, in CV_CMDLINE_MAX. */
	cmdline[CV_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(loader_load(&fixture_mem, &cfg, &entry), 0);
	assert_int_equal(strnlen(guest_mem_ptr(&fixture_mem, CV_CMDLINE, CV_CMDLINE_MAX),
				 CV_CMDLINE_MAX), CV_CMDLINE_MAX - 1);
	free(cmdline);
	drop_file(kernel);
}

static void test_bad_vcpu_count(void **state)
{
	struct elf_opts o = elf_defaults();
	char *kernel = elf_file(&o, 0);
	struct loader_config cfg = config(kernel);

	(void)state;
	cfg.nr_vcpus = 0;
	assert_rejected(&cfg, -EINVAL, "acpi", "vCPUs");
	drop_file(kernel);
}

/* ---- PVH loads ----------------------------------------------------------- */

static void assert_flat_gdt(uint64_t code_descriptor)
{
	const uint64_t *gdt = guest_mem_ptr(&fixture_mem, CV_BOOT_GDT, 32);

	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[BOOT_CS / 8], code_descriptor);
	assert_int_equal(gdt[BOOT_DS / 8], 0x00cf93000000ffffULL);
}

static void test_pvh_load(void **state)
{
	struct elf_opts o = elf_defaults();
	char *kernel = elf_file(&o, 0);
	const uint64_t initrd_size = 3 * 4096 + 5;
	uint8_t *initrd_data = malloc(initrd_size);
	char *initrd;
	struct loader_config cfg = config(kernel);
	struct hvm_start_info si;
	struct hvm_memmap_table_entry mm[E820_MAX_RANGES];
	struct hvm_modlist_entry mod;
	struct e820_map map;
	struct boot_entry entry;
	uint8_t *seg;

	(void)state;
	for (uint64_t i = 0; i < initrd_size; i++)
		initrd_data[i] = (uint8_t)(i ^ (i >> 8));
	initrd = tmp_file(initrd_data, initrd_size);
	cfg.initrd = initrd;
	cfg.cmdline = "console=ttyS0 quiet";
	seg = guest_mem_ptr(&fixture_mem, o.paddr, o.memsz);
	memset(seg, 0xaa, o.memsz);  /* stale RAM: the bss must come out zeroed */

	assert_int_equal(loader_load(&fixture_mem, &cfg, &entry), 0);

	assert_int_equal(entry.mode, BOOT_MODE_PVH32);
	assert_int_equal(entry.rip, o.entry);
	assert_int_equal(entry.rbx, CV_PVH_START_INFO);
	assert_int_equal(entry.cr3, 0);
	assert_int_equal(entry.rsi, 0);
	assert_int_equal(entry.rsp, CV_BOOT_STACK);
	assert_int_equal(entry.gdt_base, CV_BOOT_GDT);
	assert_int_equal(entry.gdt_limit, 31);
	assert_int_equal(entry.code_selector, 0x10);
	assert_int_equal(entry.data_selector, 0x18);
	assert_flat_gdt(0x00cf9b000000ffffULL);  /* 32-bit code: D=1, L=0 */

	for (uint64_t i = 0; i < o.filesz; i++)
		if (seg[i] != text_byte(i))
			fail_msg("segment byte %#llx is %#x", (unsigned long long)i, seg[i]);
	for (uint64_t i = o.filesz; i < o.memsz; i++)
		if (seg[i])
			fail_msg("bss byte %#llx is %#x", (unsigned long long)i, seg[i]);

	assert_int_equal(guest_mem_read(&fixture_mem, CV_PVH_START_INFO, &si, sizeof(si)), 0);
	assert_int_equal(si.magic, HVM_START_MAGIC_VALUE);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.cmdline_paddr, CV_CMDLINE);
	assert_string_equal(guest_mem_ptr(&fixture_mem, si.cmdline_paddr, 1), "console=ttyS0 quiet");
	assert_memory_equal(guest_mem_ptr(&fixture_mem, si.rsdp_paddr, 8), "RSD PTR ", 8);

	e820_build(&fixture_mem, &map);
	assert_int_equal(si.memmap_entries, map.nr);
	assert_int_equal(guest_mem_read(&fixture_mem, si.memmap_paddr, mm, map.nr * sizeof(mm[0])), 0);
	for (unsigned i = 0; i < map.nr; i++) {
		assert_int_equal(mm[i].addr, map.range[i].addr);
		assert_int_equal(mm[i].size, map.range[i].size);
		assert_int_equal(mm[i].type, map.range[i].type);
		assert_int_equal(mm[i].reserved, 0);
	}

	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(guest_mem_read(&fixture_mem, si.modlist_paddr, &mod, sizeof(mod)), 0);
	assert_int_equal(mod.size, initrd_size);
	/* Highest page that holds it. */
	assert_int_equal(mod.paddr, (64 * MIB - initrd_size) & ~4095ULL);
	assert_int_equal(mod.cmdline_paddr, 0);
	assert_memory_equal(guest_mem_ptr(&fixture_mem, mod.paddr, initrd_size), initrd_data, initrd_size);

	free(initrd_data);
	drop_file(initrd);
	drop_file(kernel);
}

/* 8-byte entry note in an 8-aligned PT_NOTE, no initrd, no command line. */
static void test_pvh_note_8_bytes(void **state)
{
	struct elf_opts o = elf_defaults();
	char *kernel;
	struct loader_config cfg;
	struct hvm_start_info si;
	struct boot_entry entry;

	(void)state;
	o.note_desc = 8;
	o.note_align = 8;
	o.paddr = 16 * MIB;
	o.entry = 16 * MIB + 0x1234;
	kernel = elf_file(&o, 0);
	cfg = config(kernel);
	cfg.cmdline = NULL;
	assert_int_equal(loader_load(&fixture_mem, &cfg, &entry), 0);
	assert_int_equal(entry.rip, 16 * MIB + 0x1234);
	assert_int_equal(guest_mem_read(&fixture_mem, CV_PVH_START_INFO, &si, sizeof(si)), 0);
	assert_int_equal(si.nr_modules, 0);
	assert_int_equal(si.modlist_paddr, 0);
	assert_string_equal(guest_mem_ptr(&fixture_mem, si.cmdline_paddr, 1), "");
	drop_file(kernel);
}

/*
 * A distribution kernel, when the machine has one (or CV_TEST_KERNEL names
 * one: a bzImage or a PVH vmlinux), loads without error.
 */
static void test_real_kernel(void **state)
{
	const char *kernel = getenv("CV_TEST_KERNEL");
	struct guest_mem big;
	struct loader_config cfg;
	struct boot_entry entry;
	glob_t g = { 0 };

	(void)state;
	if (!kernel && glob("/boot/vmlinuz-*", 0, NULL, &g) == 0)
		kernel = g.gl_pathv[0];
	if (!kernel || access(kernel, R_OK)) {
		globfree(&g);
		skip();
	}
	cfg = config(kernel);
	assert_int_equal(guest_mem_init(&big, 512 * MIB), 0);
	assert_int_equal(loader_load(&big, &cfg, &entry), 0);
	if (entry.mode == BOOT_MODE_LINUX64) {
		assert_int_equal(entry.rip, CV_KERNEL_START + 0x200);
		assert_int_equal(entry.rsi, CV_ZERO_PAGE);
	} else {
		assert_int_equal(entry.rbx, CV_PVH_START_INFO);
	}
	guest_mem_destroy(&big);
	globfree(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_file, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_empty_file, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_directory, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_wrong_magic, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_elf_not_x86_64, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_elf_without_pvh_note, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_elf_truncated, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_elf_filesz_over_memsz, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_elf_segment_placement, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_initrd_too_large, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_initrd_unusable, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_cmdline_too_long, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_bad_vcpu_count, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_pvh_load, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test_setup_teardown(test_pvh_note_8_bytes, fixture_mem_64m, fixture_mem_destroy),
		cmocka_unit_test(test_real_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
