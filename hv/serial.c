/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Register behaviour follows the National Semiconductor PC16550D data sheet
 * ("16550" below); where the data sheet leaves timing to the line rate,
 * this UART behaves as if the line were infinitely fast, as QEMU's does.
 */
#include "hv/serial.h"

#include <errno.h>
#include <linux/serial_reg.h>
#include <string.h>

#include "tools/lib/log.h"

/* Only the four interrupt enables exist on a 16550 (Linux probes bits 4-7). */
#define SERIAL_IER_MASK  0x0f
#define SERIAL_MCR_MASK  0x1f
#define SERIAL_MSR_LINES (UART_MSR_DCD | UART_MSR_RI | UART_MSR_DSR | UART_MSR_CTS)
/* IIR bits 7:6 read 11 while the FIFOs are enabled. */
#define SERIAL_IIR_FIFO  0xc0

static bool fifo_enabled(const struct serial *s)
{
	return s->fcr & UART_FCR_ENABLE_FIFO;
}

/* Receive trigger level from FCR bits 7:6 (16550, table "FCR"). */
static unsigned rx_trigger(const struct serial *s)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };

	return fifo_enabled(s) ? levels[s->fcr >> 6] : 1;
}

static unsigned rx_capacity(const struct serial *s)
{
	/* With the FIFOs off the UART is a 16450: one holding register. */
	return fifo_enabled(s) ? SERIAL_FIFO_SIZE : 1;
}

static bool rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count >= rx_capacity(s))
		return false;
	s->rx[(s->rx_head + s->rx_count++) % SERIAL_FIFO_SIZE] = b;
	return true;
}

static uint8_t rx_pop(struct serial *s)
{
	uint8_t b;

	if (!s->rx_count)
		return 0;
	b = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	s->rx_count--;
	return b;
}

static void rx_clear(struct serial *s)
{
	s->rx_head = s->rx_count = 0;
}

/*
 * Highest-priority pending interrupt (16550, table "Interrupt Control
 * Functions"): line status, then received data (or character timeout),
 * then THR empty, then modem status.
 */
static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = fifo_enabled(s) ? SERIAL_IIR_FIFO : 0;

	if ((s->ier & UART_IER_RLSI) && (s->lsr_errors & UART_LSR_BRK_ERROR_BITS))
		return fifo | UART_IIR_RLSI;
	if ((s->ier & UART_IER_RDI) && s->rx_count) {
		/*
		 * Below the trigger level a real UART waits four character
		 * times before it reports a timeout; on an infinitely fast
		 * line that wait is zero, so the guest hears of every byte.
		 */
		if (s->rx_count < rx_trigger(s))
			return fifo | UART_IIR_RX_TIMEOUT;
		return fifo | UART_IIR_RDI;
	}
	if ((s->ier & UART_IER_THRI) && s->thr_ipending)
		return fifo | UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_ANY_DELTA))
		return fifo | UART_IIR_MSI;
	return fifo | UART_IIR_NO_INT;
}

static void update_irq(struct serial *s)
{
	int level = !(iir(s) & UART_IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		s->irq(s->opaque, level);
	}
}

/*
 * Modem inputs: in loopback they are the MCR outputs wired back (16550,
 * "Loopback"); otherwise the console is a peer that is always ready.
 */
static uint8_t modem_lines(const struct serial *s)
{
	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	return (s->mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
	       (s->mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
	       (s->mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
	       (s->mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
}

static void update_msr(struct serial *s)
{
	uint8_t now = modem_lines(s), old = s->msr & SERIAL_MSR_LINES;
	uint8_t changed = now ^ old, delta = s->msr & UART_MSR_ANY_DELTA;

	if (changed & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	/* RI reports only its trailing edge. */
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
		delta |= UART_MSR_TERI;
	s->msr = now | delta;
}

static void reset(struct serial *s)
{
	rx_clear(s);
	s->ier = s->lcr = s->mcr = s->scr = s->fcr = s->lsr_errors = 0;
	s->dll = s->dlm = 0;
	s->thr_ipending = false;
	s->msr = modem_lines(s);
}

static void transmit(struct serial *s, uint8_t b)
{
	if (s->mcr & UART_MCR_LOOP) {
		/* The byte comes back to the receiver; a full FIFO overruns. */
		if (!rx_push(s, b))
			s->lsr_errors |= UART_LSR_OE;
	} else {
		s->tx(s->opaque, &b, 1);
	}
	/* Sent at once, so THR is empty again and says so. */
	s->thr_ipending = true;
}

static void write_fcr(struct serial *s, uint8_t val)
{
	/* Other FCR bits only take when FIFO enable is written as 1 (16550). */
	if (!(val & UART_FCR_ENABLE_FIFO)) {
		if (fifo_enabled(s))
			rx_clear(s);
		s->fcr = 0;
		return;
	}
	if (!fifo_enabled(s) || (val & UART_FCR_CLEAR_RCVR))
		rx_clear(s);
	/* Clear bits self-reset; the transmitter holds nothing to clear. */
	s->fcr = val & (UART_FCR_ENABLE_FIFO | UART_FCR_TRIGGER_MASK);
}

static void reg_write(struct serial *s, unsigned reg, uint8_t val)
{
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_TX:
		if (dlab)
			s->dll = val;
		else
			transmit(s, val);
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = val;
			break;
		}
		/*
		 * Enabling the THRE interrupt while THR is empty raises it at
		 * once; Linux's 8250 driver relies on this (UART_BUG_TXEN).
		 */
		if (!(s->ier & UART_IER_THRI) && (val & UART_IER_THRI))
			s->thr_ipending = true;
		s->ier = val & SERIAL_IER_MASK;
		break;
	case UART_FCR:
		write_fcr(s, val);
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		s->mcr = val & SERIAL_MCR_MASK;
		update_msr(s);
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default:
		/* LSR and MSR writes are for factory testing only (16550). */
		break;
	}
}

static uint8_t reg_read(struct serial *s, unsigned reg)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t v;

	switch (reg) {
	case UART_RX:
		return dlab ? s->dll : rx_pop(s);
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		v = iir(s);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if ((v & UART_IIR_ID) == UART_IIR_THRI)
			s->thr_ipending = false;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = s->lsr_errors | UART_LSR_THRE | UART_LSR_TEMT |
		    (s->rx_count ? UART_LSR_DR : 0);
		s->lsr_errors = 0;
		return v;
	case UART_MSR:
		v = s->msr;
		s->msr &= ~UART_MSR_ANY_DELTA;
		return v;
	default:
		return s->scr;
	}
}

/* Byte registers; a wider access is taken as consecutive byte accesses. */
static void serial_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		      bool is_write)
{
	struct serial *s = opaque;
	uint8_t *p = data;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++) {
		if (is_write)
			reg_write(s, (unsigned)(offset + i), p[i]);
		else
			p[i] = reg_read(s, (unsigned)(offset + i));
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	if (!(s->mcr & UART_MCR_LOOP))
		while (n < len && rx_push(s, buf[n]))
			n++;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

int serial_init(struct serial *s, struct iobus *pio, uint16_t base,
		const char *name, serial_irq_fn irq, serial_tx_fn tx,
		void *opaque)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->pio = pio;
	s->base = base;
	s->name = name;
	s->irq = irq;
	s->tx = tx;
	s->opaque = opaque;
	reset(s);
	ret = -pthread_mutex_init(&s->lock, NULL);
	if (ret)
		return ret;
	ret = iobus_register(pio, base, SERIAL_NR_PORTS, serial_io, s, name);
	if (ret) {
		cv_err("serial: %s: cannot claim ports %#x-%#x: %s", name, base,
		       base + SERIAL_NR_PORTS - 1, strerror(-ret));
		pthread_mutex_destroy(&s->lock);
	}
	return ret;
}

void serial_destroy(struct serial *s)
{
	iobus_unregister(s->pio, s->base, s);
	pthread_mutex_destroy(&s->lock);
}
