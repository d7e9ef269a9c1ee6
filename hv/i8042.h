/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The i8042 keyboard controller at 0x60/0x64 with a keyboard and no AUX
 * (mouse) device.  It exists for two things: the reset line (command 0xfe,
 * or output port bit 0 cleared), which is how Linux reboots on a PC
 * without ACPI, and Ctrl+Alt+Del, the graceful-stop request Linux's
 * keyboard driver turns into a reboot request to init (as Firecracker
 * does).  Enough of the controller and keyboard protocols is emulated for
 * Linux's i8042 and atkbd drivers to probe.
 */
#ifndef CV_HV_I8042_H
#define CV_HV_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/iobus.h"

#define I8042_QUEUE_SIZE 64

/* Called with the controller locked; must not call back into it. */
typedef void (*i8042_irq_fn)(void *opaque, int level);
/* The guest pulsed the reset line.  Called with the controller unlocked. */
typedef void (*i8042_reset_fn)(void *opaque);

struct i8042 {
	pthread_mutex_t lock;
	struct iobus *pio;
	i8042_irq_fn irq;
	i8042_reset_fn reset;
	void *opaque;
	uint8_t queue[I8042_QUEUE_SIZE];  /* bytes for the guest, oldest first */
	unsigned head, count;
	uint8_t ram[32];          /* controller RAM; byte 0 is the command byte */
	uint8_t status;           /* STR bits kept, OBF computed */
	uint8_t outport;
	uint8_t pending_cmd;      /* controller command awaiting its data byte */
	uint8_t kbd_cmd;          /* keyboard command awaiting its parameter */
	uint8_t scancode_set;
	bool kbd_enabled;         /* the keyboard scans (0xf4/0xf5) */
	int irq_level;
};

/* Reset the controller and register it on @pio at 0x60 and 0x64. */
int i8042_init(struct i8042 *c, struct iobus *pio, i8042_irq_fn irq,
	       i8042_reset_fn reset, void *opaque);
void i8042_destroy(struct i8042 *c);

/*
 * Press and release Ctrl+Alt+Del, in the scancode set the guest reads
 * (set 1 through the controller's translation, else the keyboard's set).
 * -EAGAIN when the guest has the keyboard disabled or there is no room.
 */
int i8042_send_ctrl_alt_del(struct i8042 *c);

#endif /* CV_HV_I8042_H */
