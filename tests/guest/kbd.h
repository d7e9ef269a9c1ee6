/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The i8042 keyboard as a power button: cardvisor's graceful stop sends
 * Ctrl+Alt+Del, which the guest answers by powering off (as Linux answers
 * it with an orderly reboot).
 */
#ifndef CVG_KBD_H
#define CVG_KBD_H

#include <stdbool.h>
#include <stdint.h>

/* Route ISA IRQ 1 through the IOAPIC at @ioapic_addr to this CPU and unmask it. */
void kbd_init(uint32_t ioapic_addr);
/* True once Ctrl+Alt+Del has been pressed. */
bool kbd_ctrl_alt_del(void);

#endif /* CVG_KBD_H */
