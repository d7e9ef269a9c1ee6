/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linux bzImage through the 64-bit boot protocol (Linux
 * Documentation/arch/x86/boot.rst): the protected-mode kernel at 1 MiB, the
 * zero page (struct boot_params) at CV_ZERO_PAGE, identity page tables for
 * the first 4 GiB, entry at load address + 0x200 in long mode.
 */
#ifndef CV_HV_BZIMAGE_H
#define CV_HV_BZIMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/boot.h"
#include "hv/loader.h"

/* Boot sector flag 0xaa55 at 0x1fe and "HdrS" at 0x202. */
bool bzimage_probe(const uint8_t *image, uint64_t size);

/* Errors as loader_load() documents them. */
int bzimage_load(const struct loader_ctx *ctx, struct boot_entry *entry);

#endif /* CV_HV_BZIMAGE_H */
