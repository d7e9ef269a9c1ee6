/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 16550A UART (the guest's console, COM1): eight ports from @base, a
 * 16-byte receive FIFO and a transmitter that sends each byte at once.  The
 * interrupt output is a level, recomputed after every access and passed on
 * only when it changes, so the IOAPIC pin or PIC line sees clean edges.
 * vCPU threads and the console thread both call in; a mutex serialises them.
 */
#ifndef CV_HV_SERIAL_H
#define CV_HV_SERIAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/iobus.h"

#define SERIAL_FIFO_SIZE 16
#define SERIAL_NR_PORTS  8

/*
 * Both are called with the UART's lock held and must not call back into
 * it: @irq drives the interrupt line, @tx takes transmitted bytes.
 */
typedef void (*serial_irq_fn)(void *opaque, int level);
typedef void (*serial_tx_fn)(void *opaque, const uint8_t *buf, size_t len);

struct serial {
	pthread_mutex_t lock;
	struct iobus *pio;
	uint16_t base;
	const char *name;
	serial_irq_fn irq;
	serial_tx_fn tx;
	void *opaque;
	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t ier, lcr, mcr, msr, scr, fcr, dll, dlm;
	uint8_t lsr_errors;       /* error bits of LSR, cleared when it is read */
	bool thr_ipending;        /* "THR empty" interrupt not yet acknowledged */
	int irq_level;
};

/* Reset the UART and register it on @pio at [@base, @base + 8). */
int serial_init(struct serial *s, struct iobus *pio, uint16_t base,
		const char *name, serial_irq_fn irq, serial_tx_fn tx,
		void *opaque);
void serial_destroy(struct serial *s);

/*
 * Input from the console: queue what fits in the receive FIFO and return
 * how many bytes that was (0 when full, or in loopback mode, where the line
 * is disconnected).  The caller keeps the rest and retries: nothing is lost.
 */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

#endif /* CV_HV_SERIAL_H */
