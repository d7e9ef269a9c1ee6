/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "guest-abi/cv_platform.h"
#include "tools/lib/log.h"

/*
 * Rebuild and install the whole routing table.  KVM's default table (what
 * the in-kernel irqchip starts with) is: GSI 0..15 on both PIC and IOAPIC
 * pins, except GSI 2 which is the PIC cascade; GSI 16..23 on IOAPIC only.
 * Setting any route replaces that default, so it is reproduced here.
 */
static int irq_commit_locked(struct irq_routing *irq)
{
	struct kvm_irq_routing *table;
	unsigned n = 0, gsi;
	size_t size;
	int ret;

	size = sizeof(*table) + (CV_IOAPIC_PINS + 16 + CV_MAX_GSI) * sizeof(table->entries[0]);
	table = calloc(1, size);
	if (!table)
		return -ENOMEM;
	for (gsi = 0; gsi < CV_IOAPIC_PINS; gsi++) {
		if (gsi < 16 && gsi != 2) {
			table->entries[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
								  : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 },
			};
		}
		table->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
		};
	}
	for (gsi = CV_GSI_MSI_BASE; gsi < CV_MAX_GSI; gsi++) {
		const struct irq_msi_route *r = &irq->msi[gsi];

		if (!r->used)
			continue;
		table->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)r->address,
				   .address_hi = (uint32_t)(r->address >> 32),
				   .data = r->data },
		};
	}
	table->nr = n;
	ret = ioctl(irq->vm_fd, KVM_SET_GSI_ROUTING, table) < 0 ? -errno : 0;
	free(table);
	if (ret)
		cv_err("irq: KVM_SET_GSI_ROUTING with %u routes: %s", n, strerror(-ret));
	return ret;
}

int irq_routing_init(struct irq_routing *irq, int vm_fd)
{
	memset(irq, 0, sizeof(*irq));
	irq->vm_fd = vm_fd;
	pthread_mutex_init(&irq->lock, NULL);
	return 0;
}

void irq_routing_destroy(struct irq_routing *irq)
{
	pthread_mutex_destroy(&irq->lock);
}

int irq_line(struct irq_routing *irq, unsigned gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level ? 1 : 0 };

	if (gsi >= CV_IOAPIC_PINS)
		return -EINVAL;
	return ioctl(irq->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int irq_msi_alloc(struct irq_routing *irq, uint32_t *gsi)
{
	int ret = -ENOSPC;

	pthread_mutex_lock(&irq->lock);
	for (uint32_t g = CV_GSI_MSI_BASE; g < CV_MAX_GSI; g++) {
		if (!irq->msi[g].used) {
			/* Masked until routed: an all-zero message targets nothing. */
			irq->msi[g] = (struct irq_msi_route){ .used = true };
			*gsi = g;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&irq->lock);
	return ret;
}

static bool irq_msi_gsi_valid(const struct irq_routing *irq, uint32_t gsi)
{
	return gsi >= CV_GSI_MSI_BASE && gsi < CV_MAX_GSI && irq->msi[gsi].used;
}

void irq_msi_free(struct irq_routing *irq, uint32_t gsi)
{
	pthread_mutex_lock(&irq->lock);
	if (irq_msi_gsi_valid(irq, gsi)) {
		irq->msi[gsi] = (struct irq_msi_route){ 0 };
		irq_commit_locked(irq);
	}
	pthread_mutex_unlock(&irq->lock);
}

int irq_msi_route(struct irq_routing *irq, uint32_t gsi, uint64_t address, uint32_t data)
{
	int ret = 0;

	pthread_mutex_lock(&irq->lock);
	if (!irq_msi_gsi_valid(irq, gsi)) {
		ret = -EINVAL;
	} else if (irq->msi[gsi].address != address || irq->msi[gsi].data != data) {
		irq->msi[gsi].address = address;
		irq->msi[gsi].data = data;
		ret = irq_commit_locked(irq);
	}
	pthread_mutex_unlock(&irq->lock);
	return ret;
}

int irq_msi_signal(struct irq_routing *irq, uint64_t address, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)address,
		.address_hi = (uint32_t)(address >> 32),
		.data = data,
	};
	int ret = ioctl(irq->vm_fd, KVM_SIGNAL_MSI, &msi);

	/* 0 means the guest's APIC filtered it (masked, no target): not an error. */
	return ret < 0 ? -errno : 0;
}

static int irq_irqfd(struct irq_routing *irq, int eventfd, uint32_t gsi, uint32_t flags)
{
	struct kvm_irqfd req = { .fd = (uint32_t)eventfd, .gsi = gsi, .flags = flags };

	return ioctl(irq->vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

int irq_irqfd_assign(struct irq_routing *irq, int eventfd, uint32_t gsi)
{
	return irq_irqfd(irq, eventfd, gsi, 0);
}

int irq_irqfd_deassign(struct irq_routing *irq, int eventfd, uint32_t gsi)
{
	return irq_irqfd(irq, eventfd, gsi, KVM_IRQFD_FLAG_DEASSIGN);
}
