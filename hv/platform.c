/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/platform.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest-abi/cv_platform.h"
#include "hv/console.h"
#include "hv/i8042.h"
#include "hv/pci.h"
#include "hv/rtc.h"
#include "hv/serial.h"
#include "hv/vm.h"
#include "tools/lib/log.h"

static void com1_irq(void *opaque, int level)
{
	struct vm *vm = opaque;

	irq_line(&vm->irq, CV_IRQ_COM1, level);
}

static void com1_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	if (vm->console)
		console_write(vm->console, buf, len);
}

size_t vm_console_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	return serial_receive(vm->com1, buf, len);
}

static void i8042_irq(void *opaque, int level)
{
	struct vm *vm = opaque;

	irq_line(&vm->irq, CV_IRQ_KEYBOARD, level);
}

static void i8042_reset(void *opaque)
{
	vm_stop(opaque, VM_STOP_GUEST, "guest reset through the i8042: reboot ends the VM");
}

int vm_request_shutdown(struct vm *vm)
{
	return i8042_send_ctrl_alt_del(vm->i8042);
}

/*
 * The ACPI hardware-reduced registers the FADT points at, one byte each:
 * sleep control, sleep status (ACPI 6.4, 4.8.3.7) and reset (4.8.3.6).
 * SLP_EN with SLP_TYP = S5 (from the DSDT's \_S5) is a power-off; other
 * sleep states are not offered, so they are ignored.
 */
static void acpi_regs_access(void *opaque, uint64_t offset, void *data, uint32_t len,
			     bool is_write)
{
	struct vm *vm = opaque;
	uint8_t v;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	v = *(uint8_t *)data;
	if (offset == CV_PORT_RESET - CV_PORT_SLEEP_CONTROL) {
		if (v == CV_RESET_VALUE)
			vm_stop(vm, VM_STOP_GUEST,
				"guest reset through the ACPI reset register: reboot ends the VM");
		return;
	}
	if (offset != 0)
		return; /* the status register: nothing to clear */
	if ((v & CV_SLEEP_EN) &&
	    ((v & CV_SLEEP_TYP_MASK) >> CV_SLEEP_TYP_SHIFT) == CV_SLEEP_TYP_S5)
		vm_stop(vm, VM_STOP_GUEST, "guest powered off (ACPI S5)");
	else if (v & CV_SLEEP_EN)
		cv_err_once("sleep: guest asked for unsupported sleep type %u",
			    (v & CV_SLEEP_TYP_MASK) >> CV_SLEEP_TYP_SHIFT);
}

int platform_create(struct vm *vm)
{
	int ret;

	vm->com1 = calloc(1, sizeof(*vm->com1));
	vm->i8042 = calloc(1, sizeof(*vm->i8042));
	vm->rtc = calloc(1, sizeof(*vm->rtc));
	vm->pci = calloc(1, sizeof(*vm->pci));
	if (!vm->com1 || !vm->i8042 || !vm->rtc || !vm->pci)
		return -ENOMEM;
	ret = serial_init(vm->com1, &vm->pio, CV_PORT_COM1, "ttyS0", com1_irq, com1_tx, vm);
	if (!ret)
		ret = i8042_init(vm->i8042, &vm->pio, i8042_irq, i8042_reset, vm);
	if (!ret)
		ret = rtc_init(vm->rtc, &vm->pio, vm->mem.low_size, vm->mem.high_size, NULL);
	if (!ret)
		ret = iobus_register(&vm->pio, CV_PORT_SLEEP_CONTROL,
				     CV_PORT_RESET - CV_PORT_SLEEP_CONTROL + 1, acpi_regs_access, vm,
				     "acpi");
	if (!ret)
		ret = pci_bus_init(vm->pci, &vm->pio, &vm->mmio, &vm->mem);
	if (ret)
		cv_err("platform: cannot create devices: %s", strerror(-ret));
	return ret;
}

void platform_destroy(struct vm *vm)
{
	if (vm->pci)
		pci_bus_destroy(vm->pci);
	if (vm->rtc)
		rtc_destroy(vm->rtc);
	if (vm->i8042)
		i8042_destroy(vm->i8042);
	if (vm->com1)
		serial_destroy(vm->com1);
	free(vm->pci);
	free(vm->rtc);
	free(vm->i8042);
	free(vm->com1);
	vm->pci = NULL;
	vm->rtc = NULL;
	vm->i8042 = NULL;
	vm->com1 = NULL;
}
