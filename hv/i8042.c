/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command and bit meanings are the IBM PC/AT keyboard controller's (IBM
 * PS/2 Hardware Interface Technical Reference, "Keyboard/Auxiliary Device
 * Controller", and "Keyboard" for the device side); Linux's
 * drivers/input/serio/i8042.h and atkbd.c use the same numbers.
 */
#include "hv/i8042.h"

#include <errno.h>
#include <string.h>

#include "guest-abi/cv_platform.h"
#include "tools/lib/log.h"

/* Status register. */
#define STR_OBF      0x01  /* output buffer full */
#define STR_SYS      0x04  /* system flag, mirrors CTR_SYS */
#define STR_CMDDAT   0x08  /* last write went to the command port */
#define STR_KEYLOCK  0x10  /* 1: keyboard not inhibited */

/* Command byte (controller RAM byte 0). */
#define CTR_KBDINT   0x01
#define CTR_SYS      0x04
#define CTR_KBDDIS   0x10
#define CTR_AUXDIS   0x20
#define CTR_XLATE    0x40

/* Controller commands. */
#define CMD_READ_RAM     0x20  /* 0x20-0x3f */
#define CMD_WRITE_RAM    0x60  /* 0x60-0x7f */
#define CMD_RAM_MASK     0x1f
#define CMD_AUX_DISABLE  0xa7
#define CMD_AUX_ENABLE   0xa8
#define CMD_AUX_TEST     0xa9
#define CMD_SELF_TEST    0xaa
#define CMD_KBD_TEST     0xab
#define CMD_KBD_DISABLE  0xad
#define CMD_KBD_ENABLE   0xae
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_AUX_LOOP     0xd3
#define CMD_AUX_SEND     0xd4
#define CMD_PULSE        0xf0  /* 0xf0-0xff: pulse the lines whose bit is 0 */

#define SELF_TEST_OK     0x55
#define IFACE_TEST_OK    0x00
/* No AUX device: its clock line floats high (PS/2 reference, command a9). */
#define IFACE_CLOCK_HIGH 0x02

/* Output port: bit 0 low holds the CPU in reset; bit 1 is the A20 gate. */
#define OUTPORT_RESET_N  0x01
#define OUTPORT_A20      0x02

/* Keyboard commands and replies. */
#define KBD_SET_LEDS     0xed
#define KBD_ECHO         0xee
#define KBD_SCANCODE_SET 0xf0
#define KBD_GET_ID       0xf2
#define KBD_SET_RATE     0xf3
#define KBD_ENABLE       0xf4
#define KBD_DISABLE      0xf5
#define KBD_DEFAULTS     0xf6
#define KBD_SET3_FIRST   0xf7  /* 0xf7-0xfd: set-3 key attributes */
#define KBD_SET3_LAST    0xfd
#define KBD_RESET        0xff
#define KBD_ACK          0xfa
#define KBD_RESEND       0xfe
#define KBD_BAT_OK       0xaa
#define KBD_ID_1         0xab
#define KBD_ID_2         0x83
/*
 * The controller translates what the keyboard sends to set 1; QEMU and real
 * controllers apply that to the second ID byte and to the scancode set
 * number, which Linux's atkbd expects (set-2 code -> set-1 code).
 */
#define KBD_ID_2_XLATED  0x41
static const uint8_t xlated_set_number[4] = { 0xff, 0x43, 0x41, 0x3f };

static void queue_byte(struct i8042 *c, uint8_t b)
{
	if (c->count == I8042_QUEUE_SIZE) {
		cv_err_once("i8042: output queue full, byte %#x dropped", b);
		return;
	}
	c->queue[(c->head + c->count++) % I8042_QUEUE_SIZE] = b;
}

static uint8_t ctr(const struct i8042 *c)
{
	return c->ram[0];
}

/*
 * IRQ1 follows "output buffer full" while interrupts are on.  After the
 * guest takes a byte with more queued, the line drops and rises again, as
 * the 8042 loads its next byte: an edge-triggered IOAPIC pin needs the edge.
 */
static void update_irq(struct i8042 *c, bool reloaded)
{
	int level = c->count && (ctr(c) & CTR_KBDINT);

	if (reloaded && level && c->irq_level) {
		c->irq_level = 0;
		c->irq(c->opaque, 0);
	}
	if (level != c->irq_level) {
		c->irq_level = level;
		c->irq(c->opaque, level);
	}
}

static void kbd_defaults(struct i8042 *c)
{
	c->scancode_set = 2;
	c->kbd_enabled = true;
	c->kbd_cmd = 0;
}

/* A keyboard command's parameter byte. */
static void kbd_param(struct i8042 *c, uint8_t cmd, uint8_t val)
{
	if (cmd != KBD_SCANCODE_SET) {
		/* LEDs and typematic rate: nothing to light, nothing to repeat. */
		queue_byte(c, KBD_ACK);
		return;
	}
	if (!val) {
		queue_byte(c, KBD_ACK);
		queue_byte(c, ctr(c) & CTR_XLATE ? xlated_set_number[c->scancode_set]
						 : c->scancode_set);
	} else if (val <= 3) {
		c->scancode_set = val;
		queue_byte(c, KBD_ACK);
	} else {
		queue_byte(c, KBD_RESEND);
	}
}

/* A byte the guest sends to the keyboard through the data port. */
static void kbd_write(struct i8042 *c, uint8_t val)
{
	uint8_t cmd = c->kbd_cmd;

	if (cmd) {
		c->kbd_cmd = 0;
		kbd_param(c, cmd, val);
		return;
	}
	switch (val) {
	case KBD_SET_LEDS:
	case KBD_SET_RATE:
	case KBD_SCANCODE_SET:
		c->kbd_cmd = val;
		queue_byte(c, KBD_ACK);
		break;
	case KBD_ECHO:
		queue_byte(c, KBD_ECHO);
		break;
	case KBD_GET_ID:
		queue_byte(c, KBD_ACK);
		queue_byte(c, KBD_ID_1);
		queue_byte(c, ctr(c) & CTR_XLATE ? KBD_ID_2_XLATED : KBD_ID_2);
		break;
	case KBD_ENABLE:
		c->kbd_enabled = true;
		queue_byte(c, KBD_ACK);
		break;
	case KBD_DISABLE:
		c->kbd_enabled = false;
		queue_byte(c, KBD_ACK);
		break;
	case KBD_DEFAULTS:
		queue_byte(c, KBD_ACK);
		break;
	case KBD_RESET:
		kbd_defaults(c);
		queue_byte(c, KBD_ACK);
		queue_byte(c, KBD_BAT_OK);
		break;
	default:
		if (val >= KBD_SET3_FIRST && val <= KBD_SET3_LAST)
			queue_byte(c, KBD_ACK);
		else
			queue_byte(c, KBD_RESEND);
		break;
	}
}

/* Returns true when the write pulls the reset line. */
static bool data_write(struct i8042 *c, uint8_t val)
{
	uint8_t cmd = c->pending_cmd;

	c->status &= ~STR_CMDDAT;
	c->pending_cmd = 0;
	if (!cmd) {
		kbd_write(c, val);
		return false;
	}
	if (cmd >= CMD_WRITE_RAM && cmd <= (CMD_WRITE_RAM | CMD_RAM_MASK)) {
		c->ram[cmd & CMD_RAM_MASK] = val;
		return false;
	}
	if (cmd == CMD_WRITE_OUTPORT) {
		c->outport = val;
		return !(val & OUTPORT_RESET_N);
	}
	/* CMD_AUX_LOOP / CMD_AUX_SEND: no AUX device takes the byte. */
	return false;
}

static bool command_write(struct i8042 *c, uint8_t cmd)
{
	c->status |= STR_CMDDAT;
	c->pending_cmd = 0;
	if (cmd >= CMD_READ_RAM && cmd <= (CMD_READ_RAM | CMD_RAM_MASK)) {
		queue_byte(c, c->ram[cmd & CMD_RAM_MASK]);
		return false;
	}
	if ((cmd >= CMD_WRITE_RAM && cmd <= (CMD_WRITE_RAM | CMD_RAM_MASK)) ||
	    cmd == CMD_WRITE_OUTPORT || cmd == CMD_AUX_LOOP || cmd == CMD_AUX_SEND) {
		c->pending_cmd = cmd;
		return false;
	}
	if (cmd >= CMD_PULSE)
		return !(cmd & OUTPORT_RESET_N);
	switch (cmd) {
	case CMD_AUX_DISABLE:
		c->ram[0] |= CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		c->ram[0] &= ~CTR_AUXDIS;
		break;
	case CMD_AUX_TEST:
		queue_byte(c, IFACE_CLOCK_HIGH);
		break;
	case CMD_SELF_TEST:
		queue_byte(c, SELF_TEST_OK);
		break;
	case CMD_KBD_TEST:
		queue_byte(c, IFACE_TEST_OK);
		break;
	case CMD_KBD_DISABLE:
		c->ram[0] |= CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		c->ram[0] &= ~CTR_KBDDIS;
		break;
	case CMD_READ_OUTPORT:
		queue_byte(c, c->outport);
		break;
	default:
		cv_err_once("i8042: unknown controller command %#x at port %#x ignored",
			    cmd, CV_PORT_I8042_CMD);
		break;
	}
	return false;
}

static uint8_t status_read(const struct i8042 *c)
{
	return c->status | STR_KEYLOCK | (ctr(c) & CTR_SYS ? STR_SYS : 0) |
	       (c->count ? STR_OBF : 0);
}

static uint8_t data_read(struct i8042 *c)
{
	uint8_t b;

	/* An empty buffer reads as the last byte again; 0 before any. */
	if (!c->count)
		return c->queue[(c->head + I8042_QUEUE_SIZE - 1) % I8042_QUEUE_SIZE];
	b = c->queue[c->head];
	c->head = (c->head + 1) % I8042_QUEUE_SIZE;
	c->count--;
	return b;
}

static void port_io(struct i8042 *c, bool cmd_port, uint8_t *data,
		    bool is_write)
{
	bool reset = false;

	pthread_mutex_lock(&c->lock);
	if (is_write)
		reset = cmd_port ? command_write(c, *data) : data_write(c, *data);
	else
		*data = cmd_port ? status_read(c) : data_read(c);
	update_irq(c, !is_write && !cmd_port);
	pthread_mutex_unlock(&c->lock);
	/* Unlocked: stopping the VM may wait for this very vCPU thread. */
	if (reset) {
		cv_info("i8042: guest pulsed the reset line");
		c->reset(c->opaque);
	}
}

static void data_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		    bool is_write)
{
	(void)offset;
	(void)len;  /* the ranges are one byte long */
	port_io(opaque, false, data, is_write);
}

static void cmd_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		   bool is_write)
{
	(void)offset;
	(void)len;
	port_io(opaque, true, data, is_write);
}

int i8042_send_ctrl_alt_del(struct i8042 *c)
{
	/* Left Ctrl, left Alt, Delete down, then up in reverse order. */
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53,
					0xe0, 0xd3, 0xb8, 0x9d };
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71,
					0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14 };
	static const uint8_t set3[] = { 0x11, 0x19, 0x64,
					0xf0, 0x64, 0xf0, 0x19, 0xf0, 0x11 };
	const uint8_t *seq;
	size_t len;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (ctr(c) & CTR_XLATE || c->scancode_set == 1) {
		seq = set1;
		len = sizeof(set1);
	} else if (c->scancode_set == 2) {
		seq = set2;
		len = sizeof(set2);
	} else {
		seq = set3;
		len = sizeof(set3);
	}
	if (!c->kbd_enabled || (ctr(c) & CTR_KBDDIS) ||
	    c->count + len > I8042_QUEUE_SIZE) {
		ret = -EAGAIN;
	} else {
		for (size_t i = 0; i < len; i++)
			queue_byte(c, seq[i]);
		update_irq(c, false);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int i8042_init(struct i8042 *c, struct iobus *pio, i8042_irq_fn irq,
	       i8042_reset_fn reset, void *opaque)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->pio = pio;
	c->irq = irq;
	c->reset = reset;
	c->opaque = opaque;
	/*
	 * As firmware leaves it: keyboard interrupt on, translation on, the
	 * (absent) AUX port disabled, POST passed.
	 */
	c->ram[0] = CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE;
	c->outport = OUTPORT_RESET_N | OUTPORT_A20;
	kbd_defaults(c);
	ret = -pthread_mutex_init(&c->lock, NULL);
	if (ret)
		return ret;
	ret = iobus_register(pio, CV_PORT_I8042_DATA, 1, data_io, c, "i8042-data");
	if (ret)
		goto fail;
	ret = iobus_register(pio, CV_PORT_I8042_CMD, 1, cmd_io, c, "i8042-cmd");
	if (ret) {
		iobus_unregister(pio, CV_PORT_I8042_DATA, c);
		goto fail;
	}
	return 0;
fail:
	cv_err("i8042: cannot claim ports %#x/%#x: %s", CV_PORT_I8042_DATA,
	       CV_PORT_I8042_CMD, strerror(-ret));
	pthread_mutex_destroy(&c->lock);
	return ret;
}

void i8042_destroy(struct i8042 *c)
{
	iobus_unregister(c->pio, CV_PORT_I8042_CMD, c);
	iobus_unregister(c->pio, CV_PORT_I8042_DATA, c);
	pthread_mutex_destroy(&c->lock);
}
