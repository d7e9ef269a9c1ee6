/* SPDX-License-Identifier: Apache-2.0 */
/* The 16550A UART through port I/O on a real iobus, against the data sheet. */
#include <errno.h>
#include <linux/serial_reg.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "hv/serial.h"

struct fixture {
	struct iobus pio;
	struct serial uart;
	int level;
	unsigned irq_calls;
	uint8_t out[64];
	size_t out_len;
};

static void on_irq(void *opaque, int level)
{
	struct fixture *f = opaque;

	/* The UART must only call on a change of level. */
	assert_int_not_equal(level, f->level);
	f->level = level;
	f->irq_calls++;
}

static void on_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct fixture *f = opaque;

	assert_true(f->out_len + len <= sizeof(f->out));
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	assert_int_equal(iobus_init(&f->pio, "pio"), 0);
	assert_int_equal(serial_init(&f->uart, &f->pio, CV_PORT_COM1, "com1",
				     on_irq, on_tx, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	serial_destroy(&f->uart);
	iobus_destroy(&f->pio);
	test_free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, unsigned reg)
{
	uint8_t v = 0;

	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_COM1 + reg, &v, 1, false), 0);
	return v;
}

static void wr(struct fixture *f, unsigned reg, uint8_t v)
{
	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_COM1 + reg, &v, 1, true), 0);
}

static size_t rx(struct fixture *f, const char *s, size_t n)
{
	return serial_receive(&f->uart, (const uint8_t *)s, n);
}

static void test_reset_layout(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, UART_IER), 0x00);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(f, UART_LCR), 0x00);
	assert_int_equal(rd(f, UART_MCR), 0x00);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	/* The console end is always there: DCD, DSR, CTS, no deltas. */
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	assert_int_equal(rd(f, UART_SCR), 0x00);
	assert_int_equal(f->irq_calls, 0);
	/* Only IER bits 3:0 exist (Linux's autoconfig probes that). */
	wr(f, UART_IER, 0xff);
	assert_int_equal(rd(f, UART_IER), 0x0f);
	wr(f, UART_SCR, 0xa5);
	assert_int_equal(rd(f, UART_SCR), 0xa5);
	/* Port 8 past the base is not the UART's. */
	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_COM1 + 8, &(uint8_t){ 0 }, 1,
					false), -ENOENT);
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_RDI);
	wr(f, UART_LCR, UART_LCR_DLAB | UART_LCR_WLEN8);
	wr(f, UART_DLL, 0x0c);   /* 9600 baud */
	wr(f, UART_DLM, 0x01);
	assert_int_equal(rd(f, UART_DLL), 0x0c);
	assert_int_equal(rd(f, UART_DLM), 0x01);
	assert_int_equal(f->out_len, 0);          /* DLL writes do not transmit */
	wr(f, UART_LCR, UART_LCR_WLEN8);
	/* With DLAB clear the same offsets are THR/RBR and IER again. */
	assert_int_equal(rd(f, UART_IER), UART_IER_RDI);
	wr(f, UART_TX, 'x');
	assert_int_equal(f->out_len, 1);
	assert_int_equal(f->out[0], 'x');
	wr(f, UART_LCR, UART_LCR_DLAB);
	assert_int_equal(rd(f, UART_DLL), 0x0c);
	assert_int_equal(rd(f, UART_DLM), 0x01);
}

static void test_thre_interrupt_on_enable(void **state)
{
	struct fixture *f = *state;

	/* Enabling THRI with THR empty raises the interrupt at once. */
	wr(f, UART_IER, UART_IER_THRI);
	assert_int_equal(f->level, 1);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	/* Reading IIR acknowledged it. */
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(f->level, 0);
	/* Linux's THRE test: disable and enable again, it must re-assert. */
	wr(f, UART_IER, 0);
	wr(f, UART_IER, UART_IER_THRI);
	assert_int_equal(f->level, 1);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	/* Each byte sent empties THR again: one interrupt per byte. */
	wr(f, UART_TX, 'a');
	assert_int_equal(f->level, 1);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	assert_int_equal(f->level, 0);
	/* Rewriting IER with THRI already on does not raise it again. */
	wr(f, UART_IER, UART_IER_THRI | UART_IER_RDI);
	assert_int_equal(f->level, 0);
	/* Disabling the source drops the line. */
	wr(f, UART_TX, 'b');
	assert_int_equal(f->level, 1);
	wr(f, UART_IER, 0);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->out_len, 2);
}

static void test_fifo_and_priority(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	wr(f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR |
	   UART_FCR_CLEAR_XMIT | UART_FCR_TRIGGER_8);
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_NO_INT);
	wr(f, UART_IER, UART_IER_RDI | UART_IER_THRI | UART_IER_RLSI | UART_IER_MSI);
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_THRI);
	/* Received data outranks THRE; below the trigger it is a timeout. */
	wr(f, UART_TX, '!');
	assert_int_equal(rx(f, "abc", 3), 3);
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_RX_TIMEOUT);
	assert_int_equal(rx(f, "defgh", 5), 5);
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_RDI);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	/* An overrun (loopback into a full FIFO) outranks received data. */
	wr(f, UART_MCR, UART_MCR_LOOP);
	for (int i = 0; i < 9; i++)
		wr(f, UART_TX, (uint8_t)('0' + i));
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_RLSI);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_OE | UART_LSR_DR | UART_LSR_THRE |
			 UART_LSR_TEMT);
	/* Reading LSR cleared the error. */
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_OE, 0);
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_RDI);
	/* The FIFO kept the first 16 bytes, in order. */
	for (int i = 0; i < 16; i++)
		buf[i] = (char)rd(f, UART_RX);
	assert_memory_equal(buf, "abcdefgh01234567", 16);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	/* Then THRE, then modem status (entering loopback changed DSR). */
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_THRI);
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_MSI);
	assert_int_equal(rd(f, UART_MSR) & UART_MSR_ANY_DELTA, UART_MSR_DDSR |
			 UART_MSR_DCTS | UART_MSR_DDCD);
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_NO_INT);
	assert_int_equal(f->level, 0);
	/* Turning the FIFO off reads back as a 16450 again. */
	wr(f, UART_FCR, 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
}

static void test_rx_back_pressure(void **state)
{
	struct fixture *f = *state;
	const char *msg = "0123456789abcdefghij";

	/* FIFO off: one holding register. */
	assert_int_equal(rx(f, msg, 20), 1);
	assert_int_equal(rx(f, msg + 1, 19), 0);
	assert_int_equal(rd(f, UART_RX), '0');
	assert_int_equal(rx(f, msg + 1, 19), 1);
	assert_int_equal(rd(f, UART_RX), '1');
	/* FIFO on: 16 bytes, then the console must wait, losing nothing. */
	wr(f, UART_FCR, UART_FCR_ENABLE_FIFO);
	wr(f, UART_IER, UART_IER_RDI);
	assert_int_equal(rx(f, msg, 20), 16);
	assert_int_equal(f->level, 1);
	assert_int_equal(rx(f, msg + 16, 4), 0);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_OE, 0);
	assert_int_equal(rd(f, UART_RX), '0');
	assert_int_equal(rd(f, UART_RX), '1');
	assert_int_equal(rx(f, msg + 16, 4), 2);
	for (int i = 2; i < 18; i++)
		assert_int_equal(rd(f, UART_RX), msg[i]);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(f->level, 0);
	/* FCR "clear receiver" empties the FIFO. */
	assert_int_equal(rx(f, msg, 3), 3);
	wr(f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;

	/* Linux's autoconfig: LOOP | OUT2 | RTS must read back DCD | CTS. */
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS);
	assert_int_equal(rd(f, UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_CTS);
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DSR | UART_MSR_RI | UART_MSR_DCTS |
			 UART_MSR_DDSR | UART_MSR_DDCD);
	/* RI falling is reported as a trailing edge. */
	wr(f, UART_MCR, UART_MCR_LOOP);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_TERI | UART_MSR_DDSR);
	/* Transmitted bytes come back to the receiver, not to the sink. */
	wr(f, UART_TX, 'L');
	assert_int_equal(f->out_len, 0);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(rd(f, UART_RX), 'L');
	/* The outside line is disconnected meanwhile. */
	assert_int_equal(rx(f, "z", 1), 0);
	wr(f, UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	assert_int_equal(rx(f, "z", 1), 1);
	wr(f, UART_TX, 'o');
	assert_int_equal(f->out_len, 1);
	assert_int_equal(f->out[0], 'o');
}

static void test_wide_access(void **state)
{
	struct fixture *f = *state;
	uint16_t w = 0x03 << 8 | 'w';  /* THR 'w', IER 0x03 */

	assert_int_equal(iobus_dispatch(&f->pio, CV_PORT_COM1, &w, 2, true), 0);
	assert_int_equal(f->out_len, 1);
	assert_int_equal(f->out[0], 'w');
	assert_int_equal(rd(f, UART_IER), 0x03);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divisor_latch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt_on_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_and_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_back_pressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_access, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
