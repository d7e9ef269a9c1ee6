/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PC platform devices cv-hv itself emulates (COM1, i8042, CMOS RTC, the
 * ACPI sleep control register, the PCI host bridge), created on a VM's buses
 * and wired to its interrupt lines and console.  Everything else a guest
 * sees is a card.
 */
#ifndef CV_HV_PLATFORM_H
#define CV_HV_PLATFORM_H

struct vm;

int platform_create(struct vm *vm);
void platform_destroy(struct vm *vm);

#endif /* CV_HV_PLATFORM_H */
