/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/serial.h"

#include <stdarg.h>
#include <stdint.h>

#include "guest-abi/cv_platform.h"
#include "tests/guest/io.h"
#include "tests/guest/lib.h"
#include "tests/guest/smp.h"

/* 16550 registers, offsets from the base port (PC16550D data sheet, Table 2). */
#define UART_THR 0
#define UART_IER 1
#define UART_DLL 0
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LCR_DLAB  0x80
#define UART_LCR_8N1   0x03
#define UART_FCR_FIFO  0x07   /* enable and clear both FIFOs */
#define UART_MCR_DTR_RTS 0x03
#define UART_LSR_THRE  0x20

/*
 * An emulated UART reports THRE at once; a real one at 115200 baud empties
 * a byte in ~87 us.  The bound only keeps a broken UART from hanging us.
 */
#define UART_THRE_POLLS 100000

static struct spinlock console_lock;

void serial_init(void)
{
	outb(CV_PORT_COM1 + UART_IER, 0);
	outb(CV_PORT_COM1 + UART_LCR, UART_LCR_DLAB);
	outb(CV_PORT_COM1 + UART_DLL, 1);   /* 115200 baud */
	outb(CV_PORT_COM1 + UART_DLM, 0);
	outb(CV_PORT_COM1 + UART_LCR, UART_LCR_8N1);
	outb(CV_PORT_COM1 + UART_FCR, UART_FCR_FIFO);
	outb(CV_PORT_COM1 + UART_MCR, UART_MCR_DTR_RTS);
}

static void serial_putc_raw(char c)
{
	for (int i = 0; i < UART_THRE_POLLS; i++)
		if (inb(CV_PORT_COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	outb(CV_PORT_COM1 + UART_THR, (uint8_t)c);
}

static void serial_sink(void *ctx, char c)
{
	(void)ctx;
	if (c == '\n')
		serial_putc_raw('\r');
	serial_putc_raw(c);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spin_lock(&console_lock);
	vformat(serial_sink, NULL, fmt, ap);
	spin_unlock(&console_lock);
	va_end(ap);
}

void serial_break_lock(void)
{
	spin_unlock(&console_lock);
}
