/* SPDX-License-Identifier: Apache-2.0 */
/* Ending the run: the last lines the integration tests wait for. */
#ifndef CVG_POWER_H
#define CVG_POWER_H

#include <stdbool.h>

/* Prints "cvguest: result fail <reason>" and powers off. */
void fail(const char *reason) __attribute__((noreturn));

/*
 * Prints "cvguest: poweroff" and requests S5 through the sleep control
 * register; if the machine is still running, says so and halts for good.
 */
void power_off(void) __attribute__((noreturn));

/*
 * Prints "cvguest: reboot" and resets the machine through the ACPI reset
 * register, or with "kbd" set through the i8042's reset line; halts for
 * good if the machine is still running.
 */
void reboot(bool kbd) __attribute__((noreturn));

#endif /* CVG_POWER_H */
