/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MSI-X (PCI Local Bus 3.0, 6.8.2) as cv-hv emulates it for every function:
 * those it emulates itself and, as QEMU does for vfio devices, those a card
 * owns over vfio-user.  The owner of the function routes guest accesses to
 * the table and PBA here and reports each change of Message Control; this
 * file keeps one KVM GSI per vector pointed at the message the guest wrote,
 * so an interrupt can be raised from cv-hv (msix_notify) or bound to a
 * card's eventfd as an irqfd (msix_vector_gsi + irq_irqfd_assign).
 *
 * A vector is routed when it is usable: MSI-X enabled, function not masked,
 * entry not masked.  Linux writes address and data while the entry is
 * masked and unmasks last, so the routing table is rebuilt once per vector.
 */
#ifndef CV_HV_MSIX_H
#define CV_HV_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/irq.h"
#include "tools/lib/pci_msix.h"

struct msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl;  /* the table entry */
	uint32_t gsi;
	int eventfd;              /* a card's, bound with msix_vector_bind; -1 */
	bool irqfd;               /* @eventfd is a KVM irqfd on @gsi now */
};

struct msix {
	pthread_mutex_t lock;
	struct irq_routing *irq;
	const char *name;
	unsigned nr;
	bool enabled;             /* Message Control: MSI-X Enable */
	bool function_masked;     /* Message Control: Function Mask */
	struct msix_vector *vec;
	uint64_t *pba;            /* pending bits, as the guest reads them */
};

/*
 * @nr vectors (1..MSIX_MAX_VECTORS), each with its own GSI from @irq; all
 * start masked, as after reset.  -ENOSPC when @irq runs out of GSIs.
 */
int msix_init(struct msix *m, struct irq_routing *irq, unsigned nr,
	      const char *name);
void msix_destroy(struct msix *m);

/* The guest wrote Message Control; for card-owned config, the card's value. */
void msix_control_write(struct msix *m, uint16_t control);

/*
 * Guest access at @offset into the table / the PBA.  Only aligned DWORD or
 * QWORD accesses are defined (PCI Local Bus 3.0, 6.8.2); others, accesses
 * past the end and PBA writes are ignored (reads return all ones).
 */
void msix_table_access(struct msix *m, uint64_t offset, void *data,
		       uint32_t len, bool is_write);
void msix_pba_access(struct msix *m, uint64_t offset, void *data, uint32_t len,
		     bool is_write);

/*
 * Raise @vector: sent now if usable, else its pending bit is set and it is
 * sent when the guest unmasks it.  -EINVAL for a vector out of range.
 */
int msix_notify(struct msix *m, unsigned vector);

/* The GSI of @vector, for binding an irqfd; -EINVAL when out of range. */
int msix_vector_gsi(struct msix *m, unsigned vector, uint32_t *gsi);

/*
 * Let @eventfd (made non-blocking here; -1 unbinds) raise @vector without
 * cv-hv: it is a KVM irqfd on the vector's GSI while the vector is usable.
 * A masked vector must not fire (PCI Local Bus 3.0, 6.8.2.9), so masking
 * deassigns the irqfd; what is signalled meanwhile stays in the eventfd and
 * is polled into the pending bit when the guest reads the PBA or unmasks,
 * which then sends it.  The caller keeps @eventfd open until it unbinds.
 */
int msix_vector_bind(struct msix *m, unsigned vector, int eventfd);

#endif /* CV_HV_MSIX_H */
