/* SPDX-License-Identifier: Apache-2.0 */
/* The i8042 through ports 0x60/0x64, as Linux's i8042 and atkbd drive it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "hv/i8042.h"

#define STR_OBF    0x01
#define STR_IBF    0x02
#define CTR_KBDINT 0x01
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

struct fixture {
	struct iobus pio;
	struct i8042 kbc;
	int level;
	unsigned rises;
	unsigned resets;
};

static void on_irq(void *opaque, int level)
{
	struct fixture *f = opaque;

	assert_int_not_equal(level, f->level);
	f->level = level;
	f->rises += level;
}

static void on_reset(void *opaque)
{
	struct fixture *f = opaque;

	f->resets++;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	assert_int_equal(iobus_init(&f->pio, "pio"), 0);
	assert_int_equal(i8042_init(&f->kbc, &f->pio, on_irq, on_reset, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	i8042_destroy(&f->kbc);
	iobus_destroy(&f->pio);
	test_free(f);
	return 0;
}

static uint8_t inb(struct fixture *f, uint16_t port)
{
	uint8_t v = 0;

	assert_int_equal(iobus_dispatch(&f->pio, port, &v, 1, false), 0);
	return v;
}

static void outb(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_int_equal(iobus_dispatch(&f->pio, port, &v, 1, true), 0);
}

static uint8_t status(struct fixture *f)
{
	return inb(f, CV_PORT_I8042_CMD);
}

static void command(struct fixture *f, uint8_t cmd)
{
	/* The guest waits for an empty input buffer first; it always is. */
	assert_int_equal(status(f) & STR_IBF, 0);
	outb(f, CV_PORT_I8042_CMD, cmd);
}

/* Read exactly @n bytes, then check the output buffer is empty. */
static void expect(struct fixture *f, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(status(f) & STR_OBF, STR_OBF);
		assert_int_equal(inb(f, CV_PORT_I8042_DATA), bytes[i]);
	}
	assert_int_equal(status(f) & STR_OBF, 0);
}

#define EXPECT(f, ...) do {                                       \
		static const uint8_t e_[] = { __VA_ARGS__ };      \
		expect(f, e_, sizeof(e_));                        \
	} while (0)

static uint8_t read_ctr(struct fixture *f)
{
	uint8_t v;

	command(f, 0x20);
	assert_int_equal(status(f) & STR_OBF, STR_OBF);
	v = inb(f, CV_PORT_I8042_DATA);
	return v;
}

static void write_ctr(struct fixture *f, uint8_t v)
{
	command(f, 0x60);
	outb(f, CV_PORT_I8042_DATA, v);
}

static void test_self_tests(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(status(f) & STR_OBF, 0);
	command(f, 0xaa);
	EXPECT(f, 0x55);
	command(f, 0xab);          /* keyboard interface test: no error */
	EXPECT(f, 0x00);
	command(f, 0xa9);          /* AUX interface: nothing attached */
	EXPECT(f, 0x02);
	assert_int_equal(f->resets, 0);
}

static void test_command_byte(void **state)
{
	struct fixture *f = *state;

	/* As firmware leaves it: translation, AUX off, system flag, IRQ1 on. */
	assert_int_equal(read_ctr(f), CTR_XLATE | CTR_AUXDIS | 0x04 | CTR_KBDINT);
	assert_int_equal(status(f) & 0x04, 0x04);
	assert_int_equal(f->rises, 1);
	write_ctr(f, 0x44);
	assert_int_equal(read_ctr(f), 0x44);
	command(f, 0xad);
	assert_int_equal(read_ctr(f), 0x44 | CTR_KBDDIS);
	command(f, 0xae);
	command(f, 0xa8);
	assert_int_equal(read_ctr(f), 0x44);
	command(f, 0xa7);
	assert_int_equal(read_ctr(f), 0x44 | CTR_AUXDIS);
	/* With IRQ1 off in the command byte, the replies raised nothing. */
	assert_int_equal(f->rises, 1);
}

static void test_reset_line(void **state)
{
	struct fixture *f = *state;

	command(f, 0xfe);
	assert_int_equal(f->resets, 1);
	command(f, 0xff);          /* pulses nothing */
	assert_int_equal(f->resets, 1);
	/* Output port: bit 0 low holds the CPU in reset. */
	command(f, 0xd0);
	EXPECT(f, 0x03);
	command(f, 0xd1);
	outb(f, CV_PORT_I8042_DATA, 0x03);
	assert_int_equal(f->resets, 1);
	command(f, 0xd1);
	outb(f, CV_PORT_I8042_DATA, 0x02);
	assert_int_equal(f->resets, 2);
}

static void test_keyboard_probe(void **state)
{
	struct fixture *f = *state;

	write_ctr(f, CTR_XLATE | CTR_AUXDIS);
	outb(f, CV_PORT_I8042_DATA, 0xff);     /* reset: ACK, BAT passed */
	EXPECT(f, 0xfa, 0xaa);
	outb(f, CV_PORT_I8042_DATA, 0xf2);     /* identify, translated */
	EXPECT(f, 0xfa, 0xab, 0x41);
	outb(f, CV_PORT_I8042_DATA, 0xf5);
	EXPECT(f, 0xfa);
	outb(f, CV_PORT_I8042_DATA, 0xed);     /* LEDs, then its argument */
	EXPECT(f, 0xfa);
	outb(f, CV_PORT_I8042_DATA, 0x07);
	EXPECT(f, 0xfa);
	outb(f, CV_PORT_I8042_DATA, 0xf0);     /* which scancode set? */
	outb(f, CV_PORT_I8042_DATA, 0x00);
	EXPECT(f, 0xfa, 0xfa, 0x41);
	outb(f, CV_PORT_I8042_DATA, 0xf4);
	EXPECT(f, 0xfa);
	outb(f, CV_PORT_I8042_DATA, 0xee);     /* echo */
	EXPECT(f, 0xee);
	outb(f, CV_PORT_I8042_DATA, 0x42);     /* not a command: resend */
	EXPECT(f, 0xfe);
	/* Untranslated, the keyboard's own bytes come through. */
	write_ctr(f, CTR_AUXDIS);
	outb(f, CV_PORT_I8042_DATA, 0xf2);
	EXPECT(f, 0xfa, 0xab, 0x83);
	outb(f, CV_PORT_I8042_DATA, 0xf0);
	outb(f, CV_PORT_I8042_DATA, 0x03);
	outb(f, CV_PORT_I8042_DATA, 0xf0);
	outb(f, CV_PORT_I8042_DATA, 0x00);
	EXPECT(f, 0xfa, 0xfa, 0xfa, 0xfa, 0x03);
	/* AUX commands find no device: their data byte goes nowhere. */
	command(f, 0xd4);
	outb(f, CV_PORT_I8042_DATA, 0xf2);
	EXPECT(f);
}

static void test_ctrl_alt_del(void **state)
{
	struct fixture *f = *state;

	/* Translated (the default): set-1 make and break codes, on IRQ1. */
	assert_int_equal(i8042_send_ctrl_alt_del(&f->kbc), 0);
	assert_int_equal(f->level, 1);
	assert_int_equal(f->rises, 1);
	EXPECT(f, 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d);
	/* The line dropped and rose again for each byte after the first. */
	assert_int_equal(f->rises, 8);
	assert_int_equal(f->level, 0);

	/* Untranslated set 2. */
	write_ctr(f, CTR_KBDINT | CTR_AUXDIS);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->kbc), 0);
	EXPECT(f, 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14);

	/* With IRQ1 off in the command byte, the bytes wait unannounced. */
	write_ctr(f, CTR_AUXDIS);
	f->rises = 0;
	assert_int_equal(i8042_send_ctrl_alt_del(&f->kbc), 0);
	assert_int_equal(f->rises, 0);
	assert_int_equal(status(f) & STR_OBF, STR_OBF);
	EXPECT(f, 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14);

	/* A keyboard the guest disabled sends nothing. */
	command(f, 0xad);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->kbc), -EAGAIN);
	command(f, 0xae);
	outb(f, CV_PORT_I8042_DATA, 0xf5);
	EXPECT(f, 0xfa);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->kbc), -EAGAIN);
	EXPECT(f);
	outb(f, CV_PORT_I8042_DATA, 0xf4);
	EXPECT(f, 0xfa);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->kbc), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_self_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctrl_alt_del, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
