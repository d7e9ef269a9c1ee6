/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest kernel loading: detects the kernel file's format by content, builds
 * the ACPI tables and the memory map, loads kernel, initrd and command line
 * into guest RAM and says how vCPU 0 must enter it.
 *
 * Formats: a Linux bzImage through the 64-bit boot protocol (boot protocol
 * >= 2.12 with XLF_KERNEL_64), or an x86-64 ELF executable carrying a PVH
 * entry note (a Linux vmlinux built with CONFIG_PVH, the test guest).
 */
#ifndef CV_HV_LOADER_H
#define CV_HV_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "hv/boot.h"
#include "hv/e820.h"
#include "hv/memory.h"

struct loader_config {
	const char *kernel;   /* path of a bzImage or PVH ELF */
	const char *initrd;   /* path, or NULL for none */
	const char *cmdline;  /* NULL means empty */
	unsigned nr_vcpus;    /* CPUs described in the ACPI MADT */
};

/*
 * Load the guest described by @cfg into @mem (already initialised with
 * guest_mem_init()) and fill @entry.  On failure nothing should run: the
 * return value is a negative errno and exactly one cv_err line names the file
 * and the problem:
 *   -ENOENT, -EACCES, ...  the file cannot be opened (open(2)'s errno)
 *   -EINVAL   empty, truncated or self-inconsistent file (shorter than its
 *             setup_sects/syssize or ELF program headers say, p_filesz >
 *             p_memsz, bad e_phentsize), or an unusable initrd or nr_vcpus
 *   -ENOEXEC  not a bootable kernel: neither bzImage nor ELF, boot protocol
 *             older than 2.12 or no XLF_KERNEL_64, ELF not ELFCLASS64 /
 *             little-endian / EM_X86_64 / ET_EXEC, no PVH entry note
 *   -ERANGE   an ELF segment outside guest RAM or below 1 MiB (where the
 *             boot structures live), a PVH entry outside the loaded image,
 *             a fixed-address bzImage wanting to load below 1 MiB
 *   -ENOSPC   kernel and initrd do not fit below the initrd limit
 *   -E2BIG    command line longer than the kernel's cmdline_size or
 *             CV_CMDLINE_MAX - 1
 *   -EIO      short read of the initrd
 */
int loader_load(struct guest_mem *mem, const struct loader_config *cfg,
		struct boot_entry *entry);

/* ---- Shared by the format loaders (bzimage.c, elf_pvh.c) ---------------- */

struct loader_ctx {
	struct guest_mem *mem;
	const struct loader_config *cfg;
	const uint8_t *image;     /* the kernel file, mapped read-only */
	uint64_t image_size;
	uint64_t rsdp_gpa;        /* ACPI RSDP, already built */
	struct e820_map e820;
};

/* Guest RAM reserved for the initrd (0 size when there is none). */
struct loader_initrd {
	uint64_t gpa;
	uint64_t size;
};

/*
 * Copy the command line to CV_CMDLINE; -E2BIG (logged) when it is longer
 * than @max_len bytes (excluding the NUL) or than the CV_CMDLINE_MAX buffer.
 */
int loader_write_cmdline(const struct loader_ctx *ctx, uint64_t max_len);

/*
 * Load the initrd, if any, at the highest page-aligned address that ends at
 * or below @limit (exclusive) and starts at or above @kernel_end.  Also the
 * place that checks the kernel alone fits: -ENOSPC (logged, with the RAM
 * needed and available) when kernel_end + initrd size exceeds @limit.
 */
int loader_load_initrd(const struct loader_ctx *ctx, uint64_t kernel_end,
		       uint64_t limit, struct loader_initrd *initrd);

/*
 * Write the boot GDT at CV_BOOT_GDT (flat code segment of @mode's width at
 * BOOT_CS, flat data at BOOT_DS) and fill @entry's mode, GDT, selector and
 * stack fields.
 */
int loader_setup_cpu(const struct loader_ctx *ctx, enum boot_mode mode,
		     struct boot_entry *entry);

#endif /* CV_HV_LOADER_H */
