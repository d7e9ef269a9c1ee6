/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/kbd.h"

#include "guest-abi/cv_platform.h"
#include "tests/guest/apic.h"
#include "tests/guest/idt.h"
#include "tests/guest/io.h"

#define KBD_VECTOR 0x41

/* i8042 status and commands (IBM PS/2 technical reference). */
#define I8042_STATUS_OBF   0x01
#define I8042_CMD_WRITE_CB 0x60
#define I8042_CB_KBD_INT   0x01
#define I8042_CB_XLATE     0x40

/* Translated (set 1) make codes; 0xe0 prefixes the grey keys. */
#define SC_CTRL 0x1d
#define SC_ALT  0x38
#define SC_DEL  0x53
#define SC_BREAK 0x80
#define SC_EXTENDED 0xe0

/* IOAPIC indirect registers (82093AA datasheet, 3.2). */
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN    0x10
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))

static volatile bool ctrl_down, alt_down, requested;
static bool extended;

static void ioapic_write(uint32_t base, uint32_t reg, uint32_t v)
{
	mmio_write32(base + IOAPIC_IOREGSEL, reg);
	mmio_write32(base + IOAPIC_IOWIN, v);
}

static void kbd_scancode(uint8_t sc)
{
	bool brk = sc & SC_BREAK;
	uint8_t key = sc & (uint8_t)~SC_BREAK;

	if (sc == SC_EXTENDED) {
		extended = true;
		return;
	}
	if (key == SC_CTRL)
		ctrl_down = !brk;
	else if (key == SC_ALT)
		alt_down = !brk;
	else if (key == SC_DEL && extended && !brk && ctrl_down && alt_down)
		requested = true;
	extended = false;
}

static void kbd_isr(struct isr_frame *frame)
{
	(void)frame;
	while (inb(CV_PORT_I8042_CMD) & I8042_STATUS_OBF)
		kbd_scancode(inb(CV_PORT_I8042_DATA));
	lapic_eoi();
}

void kbd_init(uint32_t ioapic_addr)
{
	idt_set_handler(KBD_VECTOR, kbd_isr);
	outb(CV_PORT_I8042_CMD, I8042_CMD_WRITE_CB);
	outb(CV_PORT_I8042_DATA, I8042_CB_KBD_INT | I8042_CB_XLATE);
	/* Edge-triggered, active high, fixed delivery to this CPU's APIC id. */
	ioapic_write(ioapic_addr, IOAPIC_REDTBL(CV_IRQ_KEYBOARD) + 1, (uint32_t)lapic_id() << 24);
	ioapic_write(ioapic_addr, IOAPIC_REDTBL(CV_IRQ_KEYBOARD), KBD_VECTOR);
}

bool kbd_ctrl_alt_del(void)
{
	return requested;
}
