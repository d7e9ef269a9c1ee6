/* SPDX-License-Identifier: Apache-2.0 */
/* The 16550 console on COM1, polled: the integration tests read its lines. */
#ifndef CVG_SERIAL_H
#define CVG_SERIAL_H

void serial_init(void);

/*
 * Formats and writes under the console lock, so lines printed by different
 * CPUs never interleave.  "\n" goes out as "\r\n".
 */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * For the fatal-exception path only: forget the console lock, which the
 * faulting CPU may itself hold, so the report still gets out.
 */
void serial_break_lock(void);

#endif /* CVG_SERIAL_H */
