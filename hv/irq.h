/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interrupt delivery through KVM's in-kernel irqchip: ISA lines for the
 * legacy devices, and GSI routes for MSI / MSI-X.  KVM_SET_GSI_ROUTING
 * replaces the whole table, so this file owns it: the default PIC/IOAPIC
 * routes plus one MSI route per allocated GSI.
 */
#ifndef CV_HV_IRQ_H
#define CV_HV_IRQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CV_MAX_GSI 1024

struct irq_msi_route {
	bool used;
	uint64_t address;
	uint32_t data;
};

struct irq_routing {
	int vm_fd;
	pthread_mutex_t lock;
	struct irq_msi_route msi[CV_MAX_GSI];
};

int irq_routing_init(struct irq_routing *irq, int vm_fd);
void irq_routing_destroy(struct irq_routing *irq);

/* Drive an ISA/IOAPIC input line (GSI 0..23) to @level. */
int irq_line(struct irq_routing *irq, unsigned gsi, int level);

/* Reserve a GSI for one MSI/MSI-X vector; -ENOSPC when none is left. */
int irq_msi_alloc(struct irq_routing *irq, uint32_t *gsi);
void irq_msi_free(struct irq_routing *irq, uint32_t gsi);
/* Point @gsi at an MSI message and commit the routing table to KVM. */
int irq_msi_route(struct irq_routing *irq, uint32_t gsi, uint64_t address, uint32_t data);
/* Raise an MSI directly (KVM_SIGNAL_MSI), for interrupts cv-hv itself sends. */
int irq_msi_signal(struct irq_routing *irq, uint64_t address, uint32_t data);

/* Bind / unbind an eventfd so that a write to it raises @gsi without an exit. */
int irq_irqfd_assign(struct irq_routing *irq, int eventfd, uint32_t gsi);
int irq_irqfd_deassign(struct irq_routing *irq, int eventfd, uint32_t gsi);

#endif /* CV_HV_IRQ_H */
