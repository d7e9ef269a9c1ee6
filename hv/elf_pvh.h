/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x86-64 ELF executables with a PVH entry note (Xen's
 * XEN_ELFNOTE_PHYS32_ENTRY; Linux vmlinux with CONFIG_PVH, the test guest):
 * PT_LOAD segments at their physical addresses, struct hvm_start_info at
 * CV_PVH_START_INFO, entry in 32-bit protected mode with paging off.
 */
#ifndef CV_HV_ELF_PVH_H
#define CV_HV_ELF_PVH_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/boot.h"
#include "hv/loader.h"

/* The ELF magic; elf_pvh_load() decides whether it is one we can boot. */
bool elf_pvh_probe(const uint8_t *image, uint64_t size);

/* Errors as loader_load() documents them. */
int elf_pvh_load(const struct loader_ctx *ctx, struct boot_entry *entry);

#endif /* CV_HV_ELF_PVH_H */
