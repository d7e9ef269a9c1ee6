/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/power.h"

#include "guest-abi/cv_platform.h"
#include "tests/guest/io.h"
#include "tests/guest/serial.h"

void fail(const char *reason)
{
	kprintf("cvguest: result fail %s\n", reason);
	power_off();
}

void power_off(void)
{
	kprintf("cvguest: poweroff\n");
	/* Hardware-reduced ACPI sleep control register (ACPI 6.4, 4.8.3.7). */
	outb(CV_PORT_SLEEP_CONTROL,
	     (uint8_t)((CV_SLEEP_TYP_S5 << CV_SLEEP_TYP_SHIFT) | CV_SLEEP_EN));
	kprintf("cvguest: poweroff failed\n");
	cpu_halt_forever();
}
