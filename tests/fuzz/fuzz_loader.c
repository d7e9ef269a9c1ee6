/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-hv's kernel loaders (hv/bzimage.c, hv/elf_pvh.c, hv/loader.c) on any
 * kernel file: format detection, then loading into 64 MiB of guest RAM
 * with the ACPI tables and memory map built first, as loader_load() does.
 * The kernel image is its own exact-size heap block (loader_load() would
 * map the file, where a read past its end is no error anyone sees).
 *
 * Input: a byte (bit 0: an initrd), the initrd's length (u16, zeros), the
 * command line (u8 length, bytes), the length to pad the image to with
 * zeros (u32, up to 4 MiB, so seeds stay small), then the image.
 *
 * Invariants beyond "no crash":
 *  - failure is one of the errors loader.h lists, logged with exactly one
 *    error line; success logs none;
 *  - success enters at or above 1 MiB inside guest RAM, in the mode of the
 *    format found, with boot structures (boot_params or the PVH start
 *    info, page tables, GDT, stack) inside guest RAM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest-abi/cv_platform.h"
#include "hv/acpi.h"
#include "hv/bzimage.h"
#include "hv/elf_pvh.h"
#include "hv/loader.h"
#include "tests/fuzz/fuzz.h"

#define RAM (64ull << 20)
#define PAD_MAX (4u << 20)

static struct guest_mem mem;
static int initrd_fd = -1;
static char initrd_path[32];

static bool in_ram(uint64_t gpa)
{
	return gpa < RAM;
}

static void setup(void)
{
	FUZZ_CHECK(guest_mem_init(&mem, RAM) == 0);
	initrd_fd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
	FUZZ_CHECK(initrd_fd >= 0);
	snprintf(initrd_path, sizeof(initrd_path), "/proc/self/fd/%d", initrd_fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t how, cmdline_len;
	char cmdline[256];
	struct loader_config cfg = { .kernel = "fuzz-kernel", .nr_vcpus = 2 };
	struct loader_ctx ctx = { .mem = &mem, .cfg = &cfg };
	int (*load)(const struct loader_ctx *, struct boot_entry *) = NULL;
	struct boot_entry entry = { 0 };
	size_t len, image_len;
	const uint8_t *bytes;
	uint8_t *image;
	unsigned errors;
	int r;

	if (initrd_fd < 0)
		setup();
	how = fuzz_u8(&in);
	FUZZ_CHECK(ftruncate(initrd_fd, 0) == 0 && ftruncate(initrd_fd, fuzz_u16(&in)) == 0);
	cfg.initrd = how & 1 ? initrd_path : NULL;
	cmdline_len = fuzz_u8(&in);
	fuzz_bytes(&in, cmdline, cmdline_len);
	cmdline[cmdline_len] = '\0';
	cfg.cmdline = cmdline;
	image_len = fuzz_u32(&in) % (PAD_MAX + 1);
	bytes = fuzz_take(&in, in.n, &len);
	if (image_len < len)
		image_len = len;
	image = calloc(1, image_len ? image_len : 1);
	FUZZ_CHECK(image);
	memcpy(image, bytes, len);
	ctx.image = image;
	ctx.image_size = image_len;

	errors = fuzz_log_errors;
	if (!image_len) {
		free(image);
		return 0;
	}
	if (bzimage_probe(ctx.image, ctx.image_size))
		load = bzimage_load;
	else if (elf_pvh_probe(ctx.image, ctx.image_size))
		load = elf_pvh_load;
	if (!load) {
		free(image);
		return 0;
	}
	FUZZ_CHECK(acpi_build(&mem, cfg.nr_vcpus, &ctx.rsdp_gpa) == 0);
	e820_build(&mem, &ctx.e820);
	r = load(&ctx, &entry);
	if (r) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOEXEC || r == -ERANGE || r == -ENOSPC ||
			   r == -E2BIG || r == -EIO);
		FUZZ_CHECK(fuzz_log_errors == errors + 1);
	} else {
		FUZZ_CHECK(fuzz_log_errors == errors);
		FUZZ_CHECK(entry.rip >= CV_KERNEL_START && in_ram(entry.rip));
		FUZZ_CHECK(in_ram(entry.rsp) && in_ram(entry.gdt_base));
		if (load == bzimage_load)
			FUZZ_CHECK(entry.mode == BOOT_MODE_LINUX64 && in_ram(entry.rsi) &&
				   in_ram(entry.cr3));
		else
			FUZZ_CHECK(entry.mode == BOOT_MODE_PVH32 && in_ram(entry.rbx));
	}
	free(image);
	return 0;
}
