/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PVH loader: ELF64 (System V gABI, "Program Header" and "Note Section"),
 * entry point from the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY
 * (xen/include/public/elfnote.h), boot information in struct hvm_start_info
 * version 1 (xen/include/public/arch-x86/hvm/start_info.h).
 */
#include "hv/elf_pvh.h"

#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "guest-abi/cv_platform.h"
#include "guest-abi/pvh.h"
#include "tools/lib/log.h"

/* hvm_start_info, then its memmap and module list, in one page. */
struct pvh_boot_page {
	struct hvm_start_info info;
	struct hvm_memmap_table_entry memmap[E820_MAX_RANGES];
	struct hvm_modlist_entry initrd;
} __attribute__((packed));
_Static_assert(CV_PVH_START_INFO + sizeof(struct pvh_boot_page) <= CV_ZERO_PAGE,
	       "PVH boot page fits below the zero page");
_Static_assert(offsetof(struct pvh_boot_page, memmap) % 8 == 0 &&
	       offsetof(struct pvh_boot_page, initrd) % 8 == 0, "8-byte aligned tables");

#define PVH_ENTRY_MAX 0xffffffffULL  /* entered in 32-bit mode */

bool elf_pvh_probe(const uint8_t *image, uint64_t size)
{
	return size >= SELFMAG && !memcmp(image, ELFMAG, SELFMAG);
}

static void get_phdr(const struct loader_ctx *ctx, const Elf64_Ehdr *eh, unsigned i,
		     Elf64_Phdr *ph)
{
	memcpy(ph, ctx->image + eh->e_phoff + (uint64_t)i * sizeof(*ph), sizeof(*ph));
}

static int check_ehdr(const struct loader_ctx *ctx, Elf64_Ehdr *eh)
{
	const char *path = ctx->cfg->kernel;

	if (ctx->image_size < sizeof(*eh)) {
		cv_err("kernel %s: truncated: %llu bytes, shorter than an ELF64 header",
		       path, (unsigned long long)ctx->image_size);
		return -EINVAL;
	}
	memcpy(eh, ctx->image, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		cv_err("kernel %s: ELF is not ELFCLASS64 little-endian", path);
		return -ENOEXEC;
	}
	if (eh->e_machine != EM_X86_64) {
		cv_err("kernel %s: ELF machine %u is not x86-64", path, eh->e_machine);
		return -ENOEXEC;
	}
	if (eh->e_type != ET_EXEC) {
		cv_err("kernel %s: ELF type %u is not an executable (ET_EXEC)", path, eh->e_type);
		return -ENOEXEC;
	}
	if (eh->e_phnum == 0 || eh->e_phentsize != sizeof(Elf64_Phdr)) {
		cv_err("kernel %s: ELF has %u program headers of %u bytes, need %zu-byte ones",
		       path, eh->e_phnum, eh->e_phentsize, sizeof(Elf64_Phdr));
		return -EINVAL;
	}
	if (eh->e_phoff > ctx->image_size ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > ctx->image_size - eh->e_phoff) {
		cv_err("kernel %s: truncated: program headers at %#llx run past the end (%llu bytes)",
		       path, (unsigned long long)eh->e_phoff, (unsigned long long)ctx->image_size);
		return -EINVAL;
	}
	return 0;
}

/* Segment's file bytes within the file (overflow-safe). */
static bool in_file(const struct loader_ctx *ctx, const Elf64_Phdr *ph)
{
	return ph->p_offset <= ctx->image_size && ph->p_filesz <= ctx->image_size - ph->p_offset;
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/*
 * Walk one PT_NOTE segment (gABI "Note Section": namesz, descsz, type, name,
 * desc; desc and the next note start at the segment's alignment, 4 or 8, as
 * binutils reads them).  The PVH note is name "Xen", type 18, desc the 32-bit
 * entry as 4 or 8 bytes.
 */
static bool find_pvh_note(const uint8_t *p, uint64_t len, uint64_t align, uint64_t *entry)
{
	uint64_t off = 0;

	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name, desc;

		memcpy(&nh, p + off, sizeof(nh));
		name = off + sizeof(nh);
		desc = align_up(name + nh.n_namesz, align);
		if (desc > len || nh.n_descsz > len - desc)
			return false;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    !memcmp(p + name, "Xen", 4) && (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			*entry = 0;
			memcpy(entry, p + desc, nh.n_descsz);  /* little-endian */
			return true;
		}
		off = align_up(desc + nh.n_descsz, align);
		if (off > len)
			return false;
	}
	return false;
}

/*
 * Every check before anything is copied: PT_NOTE and PT_LOAD inside the file,
 * PT_LOAD inside guest RAM and above the boot structures, the PVH entry
 * inside the loaded code.  Returns the end of the loaded image in @end.
 */
static int check_segments(const struct loader_ctx *ctx, const Elf64_Ehdr *eh,
			  uint64_t *pvh_entry, uint64_t *end)
{
	const char *path = ctx->cfg->kernel;
	bool have_entry = false, entry_loaded = false;
	Elf64_Phdr ph;

	*end = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		get_phdr(ctx, eh, i, &ph);
		if ((ph.p_type == PT_LOAD || ph.p_type == PT_NOTE) && !in_file(ctx, &ph)) {
			cv_err("kernel %s: truncated: segment %u (file offset %#llx, %llu bytes) runs past the end (%llu bytes)",
			       path, i, (unsigned long long)ph.p_offset,
			       (unsigned long long)ph.p_filesz, (unsigned long long)ctx->image_size);
			return -EINVAL;
		}
		if (ph.p_type == PT_NOTE && !have_entry)
			have_entry = find_pvh_note(ctx->image + ph.p_offset, ph.p_filesz,
						   ph.p_align == 8 ? 8 : 4, pvh_entry);
	}
	if (!have_entry) {
		cv_err("kernel %s: ELF has no PVH entry note (Xen note %u); only PVH ELF kernels can boot, use a bzImage otherwise",
		       path, XEN_ELFNOTE_PHYS32_ENTRY);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		get_phdr(ctx, eh, i, &ph);
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_filesz > ph.p_memsz) {
			cv_err("kernel %s: segment %u has p_filesz %llu > p_memsz %llu", path, i,
			       (unsigned long long)ph.p_filesz, (unsigned long long)ph.p_memsz);
			return -EINVAL;
		}
		if (ph.p_paddr < CV_KERNEL_START) {
			cv_err("kernel %s: segment %u at %#llx overlaps the boot structures below 1 MiB",
			       path, i, (unsigned long long)ph.p_paddr);
			return -ERANGE;
		}
		/* Entered with paging off: only RAM below the PCI hole will do. */
		if (ph.p_memsz > ctx->mem->low_size ||
		    ph.p_paddr > ctx->mem->low_size - ph.p_memsz) {
			cv_err("kernel %s: segment %u [%#llx, +%#llx) is outside guest RAM below 4 GiB (up to %#llx)",
			       path, i, (unsigned long long)ph.p_paddr,
			       (unsigned long long)ph.p_memsz,
			       (unsigned long long)ctx->mem->low_size);
			return -ERANGE;
		}
		if (*pvh_entry >= ph.p_paddr && *pvh_entry - ph.p_paddr < ph.p_filesz)
			entry_loaded = true;
		if (ph.p_paddr + ph.p_memsz > *end)
			*end = ph.p_paddr + ph.p_memsz;
	}
	if (!entry_loaded || *pvh_entry > PVH_ENTRY_MAX) {
		cv_err("kernel %s: PVH entry %#llx is not in a loaded segment below 4 GiB",
		       path, (unsigned long long)*pvh_entry);
		return -ERANGE;
	}
	return 0;
}

static void load_segments(const struct loader_ctx *ctx, const Elf64_Ehdr *eh)
{
	Elf64_Phdr ph;

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		get_phdr(ctx, eh, i, &ph);
		if (ph.p_type != PT_LOAD)
			continue;
		uint8_t *dst = guest_mem_ptr(ctx->mem, ph.p_paddr, ph.p_memsz);

		memcpy(dst, ctx->image + ph.p_offset, ph.p_filesz);
		/* .bss: RAM may hold a previous boot's data. */
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
}

static int write_start_info(const struct loader_ctx *ctx, const struct loader_initrd *initrd)
{
	struct pvh_boot_page page;
	int n;

	memset(&page, 0, sizeof(page));
	page.info.magic = HVM_START_MAGIC_VALUE;
	page.info.version = 1;
	page.info.cmdline_paddr = CV_CMDLINE;
	page.info.rsdp_paddr = ctx->rsdp_gpa;
	n = e820_write(&ctx->e820, page.memmap, E820_MAX_RANGES, sizeof(page.memmap[0]));
	if (n < 0)
		return n;
	page.info.memmap_paddr = CV_PVH_START_INFO + offsetof(struct pvh_boot_page, memmap);
	page.info.memmap_entries = (uint32_t)n;
	if (initrd->size) {
		page.initrd.paddr = initrd->gpa;
		page.initrd.size = initrd->size;
		page.info.nr_modules = 1;
		page.info.modlist_paddr = CV_PVH_START_INFO + offsetof(struct pvh_boot_page, initrd);
	}
	return guest_mem_write(ctx->mem, CV_PVH_START_INFO, &page, sizeof(page));
}

int elf_pvh_load(const struct loader_ctx *ctx, struct boot_entry *entry)
{
	uint64_t pvh_entry = 0, end;
	struct loader_initrd initrd;
	Elf64_Ehdr eh;
	int ret;

	ret = check_ehdr(ctx, &eh);
	if (!ret)
		ret = check_segments(ctx, &eh, &pvh_entry, &end);
	if (!ret)
		ret = loader_write_cmdline(ctx, CV_CMDLINE_MAX - 1);
	/* 32-bit entry without paging: everything it is given lies below 4 GiB. */
	if (!ret)
		ret = loader_load_initrd(ctx, end, ctx->mem->low_size, &initrd);
	if (ret)
		return ret;

	load_segments(ctx, &eh);
	ret = write_start_info(ctx, &initrd);
	if (!ret)
		ret = loader_setup_cpu(ctx, BOOT_MODE_PVH32, entry);
	if (ret) {
		cv_err("kernel %s: cannot write boot structures: %s", ctx->cfg->kernel,
		       strerror(-ret));
		return ret;
	}
	entry->rip = pvh_entry;
	entry->rbx = CV_PVH_START_INFO;
	cv_info("kernel %s: PVH ELF, image to %#llx, entry %#llx; initrd %llu bytes at %#llx",
		ctx->cfg->kernel, (unsigned long long)end, (unsigned long long)pvh_entry,
		(unsigned long long)initrd.size, (unsigned long long)initrd.gpa);
	return 0;
}
