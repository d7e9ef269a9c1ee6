/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linux bzImage loader, 64-bit boot protocol.  Section names below refer to
 * Linux Documentation/arch/x86/boot.rst.
 */
#include "hv/bzimage.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "guest-abi/cv_platform.h"
#include "tools/lib/log.h"

/* The file's first sector is laid out like the start of struct boot_params. */
#define BZ_HDR_OFFSET     offsetof(struct boot_params, hdr)
#define BZ_JUMP_OFFSET    offsetof(struct boot_params, hdr.jump)
#define BZ_MAGIC_OFFSET   offsetof(struct boot_params, hdr.header)
#define BZ_FLAG_OFFSET    offsetof(struct boot_params, hdr.boot_flag)
_Static_assert(BZ_HDR_OFFSET == 0x1f1 && BZ_FLAG_OFFSET == 0x1fe &&
	       BZ_JUMP_OFFSET == 0x200 && BZ_MAGIC_OFFSET == 0x202, "setup header layout");
_Static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");

#define BZ_BOOT_FLAG      0xaa55
#define BZ_SECTOR         512
/* "setup_sects": 0 means 4 (old kernels). */
#define BZ_DEFAULT_SETUP_SECTS 4
/* 64-bit boot protocol: the 64-bit entry is 0x200 into the loaded kernel. */
#define BZ_ENTRY64        0x200
/* xloadflags (and so XLF_KERNEL_64) appeared in protocol 2.12. */
#define BZ_MIN_VERSION    0x020c
/* "heap_end_ptr": end of a 64 KiB setup segment minus 0x200, as QEMU sets it. */
#define BZ_HEAP_END       0xfe00
/* "type_of_loader": 0xff is "undefined", for boot loaders without an ID. */
#define BZ_LOADER_UNDEFINED 0xff

#define PTE_PRESENT  (1ULL << 0)
#define PTE_WRITE    (1ULL << 1)
#define PTE_LARGE    (1ULL << 7)   /* PS: 2 MiB page in a PD entry */
#define PT_ENTRIES   512
#define PT_SIZE      4096ULL
#define PD_COUNT     4             /* 4 x 1 GiB */

/* pref_address is any 64-bit value: an absurd one must fail the fit check. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t sum;

	return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

bool bzimage_probe(const uint8_t *image, uint64_t size)
{
	uint16_t flag;

	if (size < BZ_MAGIC_OFFSET + 4)
		return false;
	memcpy(&flag, image + BZ_FLAG_OFFSET, sizeof(flag));
	return flag == BZ_BOOT_FLAG && !memcmp(image + BZ_MAGIC_OFFSET, "HdrS", 4);
}

/*
 * "The end of setup header can be calculated as follows: 0x0202 + byte value
 * at offset 0x0201" (the jump's displacement).  Kernels newer than our
 * headers may have a longer one; we copy the part we know.
 */
static int read_setup_header(const struct loader_ctx *ctx, struct setup_header *hdr,
			     size_t *len)
{
	uint64_t end = BZ_JUMP_OFFSET + 2 + ctx->image[BZ_JUMP_OFFSET + 1];

	if (end > ctx->image_size) {
		cv_err("kernel %s: truncated: setup header ends at %#llx, the file has %llu bytes",
		       ctx->cfg->kernel, (unsigned long long)end,
		       (unsigned long long)ctx->image_size);
		return -EINVAL;
	}
	*len = end - BZ_HDR_OFFSET;
	if (*len > sizeof(*hdr))
		*len = sizeof(*hdr);
	memset(hdr, 0, sizeof(*hdr));
	memcpy(hdr, ctx->image + BZ_HDR_OFFSET, *len);
	return 0;
}

/* Identity map of the first 4 GiB with 2 MiB pages (Intel SDM Vol. 3A, 4.5). */
static int write_page_tables(struct guest_mem *mem)
{
	uint64_t *pml4 = guest_mem_ptr(mem, CV_PAGE_TABLES, CV_PAGE_TABLES_END - CV_PAGE_TABLES);
	uint64_t *pdpt = pml4 + PT_ENTRIES, *pd = pdpt + PT_ENTRIES;
	_Static_assert(CV_PAGE_TABLES + (2 + PD_COUNT) * PT_SIZE == CV_PAGE_TABLES_END,
		       "PML4, PDPT and 4 PDs");

	if (!pml4)
		return -EFAULT;
	memset(pml4, 0, CV_PAGE_TABLES_END - CV_PAGE_TABLES);
	pml4[0] = (CV_PAGE_TABLES + PT_SIZE) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < PD_COUNT; i++)
		pdpt[i] = (CV_PAGE_TABLES + (2 + i) * PT_SIZE) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < PD_COUNT * PT_ENTRIES; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_LARGE;
	return 0;
}

/* "Details of header fields" says which fields a boot loader writes. */
static int write_zero_page(const struct loader_ctx *ctx, const struct setup_header *hdr,
			   const struct loader_initrd *initrd)
{
	struct boot_params bp;
	int n;

	/* Zeroed, then only the header copied in: the sentinel stays 0. */
	memset(&bp, 0, sizeof(bp));
	bp.hdr = *hdr;
	bp.hdr.type_of_loader = BZ_LOADER_UNDEFINED;
	bp.hdr.loadflags |= CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = BZ_HEAP_END;
	bp.hdr.cmd_line_ptr = CV_CMDLINE;
	bp.hdr.ramdisk_image = (uint32_t)initrd->gpa;
	bp.hdr.ramdisk_size = (uint32_t)initrd->size;
	/* Protocol 2.14; older kernels ignore it and find the RSDP by scanning. */
	bp.acpi_rsdp_addr = ctx->rsdp_gpa;
	n = e820_write(&ctx->e820, bp.e820_table, E820_MAX_ENTRIES_ZEROPAGE,
		       sizeof(bp.e820_table[0]));
	if (n < 0)
		return n;
	bp.e820_entries = (uint8_t)n;
	return guest_mem_write(ctx->mem, CV_ZERO_PAGE, &bp, sizeof(bp));
}

int bzimage_load(const struct loader_ctx *ctx, struct boot_entry *entry)
{
	const char *path = ctx->cfg->kernel;
	uint64_t setup_size, kernel_size, load, out, kernel_end, limit;
	struct loader_initrd initrd;
	struct setup_header hdr;
	size_t hdr_len;
	int ret;

	ret = read_setup_header(ctx, &hdr, &hdr_len);
	if (ret)
		return ret;
	if (hdr.version < BZ_MIN_VERSION) {
		cv_err("kernel %s: boot protocol %u.%02u is too old, the 64-bit entry needs 2.12",
		       path, hdr.version >> 8, hdr.version & 0xff);
		return -ENOEXEC;
	}
	if (!(hdr.xloadflags & XLF_KERNEL_64)) {
		cv_err("kernel %s: bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)", path);
		return -ENOEXEC;
	}
	if (hdr_len < offsetof(struct setup_header, init_size) + sizeof(hdr.init_size)) {
		cv_err("kernel %s: setup header is %zu bytes, too short for boot protocol %u.%02u",
		       path, hdr_len, hdr.version >> 8, hdr.version & 0xff);
		return -EINVAL;
	}
	setup_size = ((uint64_t)(hdr.setup_sects ? hdr.setup_sects : BZ_DEFAULT_SETUP_SECTS) + 1) *
		     BZ_SECTOR;
	/* "syssize": the protected-mode code in 16-byte paragraphs. */
	kernel_size = (uint64_t)hdr.syssize * 16;
	if (!kernel_size) {
		cv_err("kernel %s: setup header gives no protected-mode kernel (syssize 0)", path);
		return -EINVAL;
	}
	if (ctx->image_size < setup_size + kernel_size) {
		cv_err("kernel %s: truncated: %llu bytes, its header says %llu (setup_sects %u, syssize %u)",
		       path, (unsigned long long)ctx->image_size,
		       (unsigned long long)(setup_size + kernel_size), hdr.setup_sects, hdr.syssize);
		return -EINVAL;
	}

	/* A relocatable kernel runs from anywhere: 1 MiB as every PC loader. */
	if (hdr.relocatable_kernel) {
		load = CV_KERNEL_START;
	} else {
		load = hdr.pref_address;
		if (load < CV_KERNEL_START) {
			cv_err("kernel %s: not relocatable and must load at %#llx, below 1 MiB",
			       path, (unsigned long long)load);
			return -ERANGE;
		}
	}
	/*
	 * "init_size": the kernel needs that much linear memory from where it
	 * decompresses to.  startup_64 (arch/x86/boot/compressed/head_64.S)
	 * rounds the load address up to kernel_alignment and never goes below
	 * LOAD_PHYSICAL_ADDR, which pref_address holds.
	 */
	out = load;
	if (hdr.relocatable_kernel && hdr.kernel_alignment &&
	    !(hdr.kernel_alignment & (hdr.kernel_alignment - 1)))
		out = (load + hdr.kernel_alignment - 1) & ~((uint64_t)hdr.kernel_alignment - 1);
	if (out < hdr.pref_address)
		out = hdr.pref_address;
	kernel_end = sat_add(out, hdr.init_size);
	if (kernel_end < sat_add(load, kernel_size))
		kernel_end = sat_add(load, kernel_size);

	ret = loader_write_cmdline(ctx, hdr.cmdline_size);
	if (ret)
		return ret;
	/* "initrd_addr_max": the highest address the initrd may occupy. */
	limit = (uint64_t)hdr.initrd_addr_max + 1;
	if (limit > ctx->mem->low_size)
		limit = ctx->mem->low_size;
	ret = loader_load_initrd(ctx, kernel_end, limit, &initrd);
	if (ret)
		return ret;

	ret = guest_mem_write(ctx->mem, load, ctx->image + setup_size, kernel_size);
	if (!ret)
		ret = write_zero_page(ctx, &hdr, &initrd);
	if (!ret)
		ret = write_page_tables(ctx->mem);
	if (!ret)
		ret = loader_setup_cpu(ctx, BOOT_MODE_LINUX64, entry);
	if (ret) {
		cv_err("kernel %s: cannot write boot structures: %s", path, strerror(-ret));
		return ret;
	}
	entry->rip = load + BZ_ENTRY64;
	entry->rsi = CV_ZERO_PAGE;
	entry->cr3 = CV_PAGE_TABLES;
	cv_info("kernel %s: bzImage, boot protocol %u.%02u, at %#llx, needs RAM to %#llx; initrd %llu bytes at %#llx",
		path, hdr.version >> 8, hdr.version & 0xff, (unsigned long long)load,
		(unsigned long long)kernel_end, (unsigned long long)initrd.size,
		(unsigned long long)initrd.gpa);
	return 0;
}
