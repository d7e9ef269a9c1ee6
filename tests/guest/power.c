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

void reboot(bool kbd)
{
	kprintf("cvguest: reboot\n");
	if (kbd)
		outb(0x64, 0xfe); /* i8042 command: pulse output port bit 0, the reset line */
	else
		outb(CV_PORT_RESET, CV_RESET_VALUE);
	kprintf("cvguest: reboot failed\n");
	cpu_halt_forever();
}
