/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel file handling common to both boot protocols: open and map the
 * kernel, tell the formats apart by content, build ACPI and e820, and the
 * pieces both protocols share (command line, initrd, boot GDT).
 */
#include "hv/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest-abi/cv_platform.h"
#include "hv/acpi.h"
#include "hv/bzimage.h"
#include "hv/elf_pvh.h"
#include "tools/lib/fd.h"
#include "tools/lib/log.h"

#define PAGE_SIZE 4096ULL
/* Bytes -> MiB, rounded up (saturating: needs can be absurd). */
#define MIB_UP(x) ((x) / (1ULL << 20) + !!((x) % (1ULL << 20)))

int loader_write_cmdline(const struct loader_ctx *ctx, uint64_t max_len)
{
	const char *cmdline = ctx->cfg->cmdline ? ctx->cfg->cmdline : "";
	size_t len = strlen(cmdline);

	if (max_len > CV_CMDLINE_MAX - 1)
		max_len = CV_CMDLINE_MAX - 1;
	if (len > max_len) {
		cv_err("kernel %s: command line is %zu bytes, at most %llu fit",
		       ctx->cfg->kernel, len, (unsigned long long)max_len);
		return -E2BIG;
	}
	return guest_mem_write(ctx->mem, CV_CMDLINE, cmdline, len + 1);
}

int loader_load_initrd(const struct loader_ctx *ctx, uint64_t kernel_end,
		       uint64_t limit, struct loader_initrd *initrd)
{
	const char *path = ctx->cfg->initrd;
	uint64_t size = 0, gpa = 0;
	struct stat st;
	int fd = -1, ret = 0;

	*initrd = (struct loader_initrd){ 0 };
	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			ret = -errno;
			cv_err("initrd %s: %s", path, strerror(-ret));
			goto out;
		}
		if (!S_ISREG(st.st_mode) || st.st_size == 0) {
			cv_err("initrd %s: %s", path,
			       S_ISREG(st.st_mode) ? "empty file" : "not a regular file");
			ret = -EINVAL;
			goto out;
		}
		size = (uint64_t)st.st_size;
	}
	/* Highest page below the limit, as boot.rst advises for the initrd. */
	if (size <= limit)
		gpa = (limit - size) & ~(PAGE_SIZE - 1);
	if (size > limit || gpa < kernel_end) {
		uint64_t need = kernel_end > UINT64_MAX - size - PAGE_SIZE ? UINT64_MAX :
				((kernel_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)) + size;

		if (path)
			cv_err("kernel %s with initrd %s (%llu bytes): needs RAM up to %#llx (%llu MiB), usable RAM for it ends at %#llx (%llu MiB)",
			       ctx->cfg->kernel, path, (unsigned long long)size,
			       (unsigned long long)need, MIB_UP(need),
			       (unsigned long long)limit, (unsigned long long)(limit >> 20));
		else
			cv_err("kernel %s: needs RAM up to %#llx (%llu MiB), usable RAM for it ends at %#llx (%llu MiB)",
			       ctx->cfg->kernel, (unsigned long long)need, MIB_UP(need),
			       (unsigned long long)limit, (unsigned long long)(limit >> 20));
		ret = -ENOSPC;
		goto out;
	}
	if (path) {
		ret = fd_pread_full(fd, guest_mem_ptr(ctx->mem, gpa, size), size, 0);
		if (ret) {
			cv_err("initrd %s: %s", path,
			       ret == -EIO ? "short read: file shrank while loading" : strerror(-ret));
			goto out;
		}
		*initrd = (struct loader_initrd){ .gpa = gpa, .size = size };
	}
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * Flat 4 GiB descriptors (Intel SDM Vol. 3A, 3.4.5): base 0, limit 0xfffff
 * with G=1, present, DPL 0.  Code is type 0xb (execute/read, accessed) with
 * L=1 D=0 for 64-bit or D=1 for 32-bit; data is type 0x3 (read/write,
 * accessed), B=1.
 */
#define GDT_CODE64 0x00af9b000000ffffULL
#define GDT_CODE32 0x00cf9b000000ffffULL
#define GDT_DATA   0x00cf93000000ffffULL

int loader_setup_cpu(const struct loader_ctx *ctx, enum boot_mode mode,
		     struct boot_entry *entry)
{
	const uint64_t gdt[] = {
		0, 0,
		[BOOT_CS / 8] = mode == BOOT_MODE_LINUX64 ? GDT_CODE64 : GDT_CODE32,
		[BOOT_DS / 8] = GDT_DATA,
	};
	_Static_assert(CV_BOOT_GDT + sizeof(gdt) <= CV_BOOT_IDT, "GDT fits below the IDT");

	entry->mode = mode;
	entry->gdt_base = CV_BOOT_GDT;
	entry->gdt_limit = sizeof(gdt) - 1;
	entry->code_selector = BOOT_CS;
	entry->data_selector = BOOT_DS;
	entry->rsp = CV_BOOT_STACK;
	return guest_mem_write(ctx->mem, CV_BOOT_GDT, gdt, sizeof(gdt));
}

int loader_load(struct guest_mem *mem, const struct loader_config *cfg,
		struct boot_entry *entry)
{
	struct loader_ctx ctx = { .mem = mem, .cfg = cfg };
	int (*load)(const struct loader_ctx *, struct boot_entry *);
	struct stat st;
	void *map;
	int fd, ret;

	memset(entry, 0, sizeof(*entry));
	fd = open(cfg->kernel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		cv_err("kernel %s: %s", cfg->kernel, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		cv_err("kernel %s: %s", cfg->kernel,
		       S_ISREG(st.st_mode) ? "empty file" : "not a regular file");
		close(fd);
		return -EINVAL;
	}
	ctx.image_size = (uint64_t)st.st_size;
	map = mmap(NULL, ctx.image_size, PROT_READ, MAP_PRIVATE, fd, 0);
	ret = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (ret) {
		cv_err("kernel %s: cannot map: %s", cfg->kernel, strerror(-ret));
		return ret;
	}
	ctx.image = map;

	if (bzimage_probe(ctx.image, ctx.image_size)) {
		load = bzimage_load;
	} else if (elf_pvh_probe(ctx.image, ctx.image_size)) {
		load = elf_pvh_load;
	} else {
		cv_err("kernel %s: not a Linux bzImage or PVH ELF kernel", cfg->kernel);
		ret = -ENOEXEC;
		goto out;
	}
	ret = acpi_build(mem, cfg->nr_vcpus, &ctx.rsdp_gpa);
	if (ret)
		goto out;
	e820_build(mem, &ctx.e820);
	ret = load(&ctx, entry);
out:
	munmap(map, ctx.image_size);
	return ret;
}
