/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/msix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/lib/log.h"

int msix_init(struct msix *m, struct irq_routing *irq, unsigned nr,
	      const char *name)
{
	int ret;

	memset(m, 0, sizeof(*m));
	if (!nr || nr > MSIX_MAX_VECTORS)
		return -EINVAL;
	m->irq = irq;
	m->name = name;
	m->vec = calloc(nr, sizeof(*m->vec));
	m->pba = calloc(msix_pba_size(nr) / 8, sizeof(*m->pba));
	if (!m->vec || !m->pba) {
		ret = -ENOMEM;
		goto fail;
	}
	for (; m->nr < nr; m->nr++) {
		struct msix_vector *v = &m->vec[m->nr];

		/* Every entry comes out of reset masked (PCI Local Bus 3.0, 6.8.2.9). */
		v->ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
		v->eventfd = -1;
		ret = irq_msi_alloc(irq, &v->gsi);
		if (ret) {
			cv_err("msix: %s: no GSI for vector %u of %u", name, m->nr, nr);
			goto fail;
		}
	}
	ret = -pthread_mutex_init(&m->lock, NULL);
	if (ret)
		goto fail;
	return 0;
fail:
	for (unsigned i = 0; i < m->nr; i++)
		irq_msi_free(irq, m->vec[i].gsi);
	free(m->vec);
	free(m->pba);
	memset(m, 0, sizeof(*m));
	return ret;
}

static void irqfd_unbind(struct msix *m, unsigned v);

void msix_destroy(struct msix *m)
{
	for (unsigned i = 0; i < m->nr; i++) {
		irqfd_unbind(m, i);
		irq_msi_free(m->irq, m->vec[i].gsi);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->vec);
	free(m->pba);
	memset(m, 0, sizeof(*m));
}

static bool vector_masked(const struct msix *m, unsigned v)
{
	return !m->enabled || m->function_masked ||
	       (m->vec[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static uint64_t vector_address(const struct msix_vector *v)
{
	return (uint64_t)v->addr_hi << 32 | v->addr_lo;
}

static bool pba_test_and_clear(struct msix *m, unsigned v)
{
	uint64_t bit = 1ULL << (v % 64);
	bool was = m->pba[v / 64] & bit;

	m->pba[v / 64] &= ~bit;
	return was;
}

static void vector_send(struct msix *m, unsigned v)
{
	const struct msix_vector *e = &m->vec[v];
	int ret = irq_msi_signal(m->irq, vector_address(e), e->data);

	if (ret)
		cv_err_once("msix: %s: vector %u to %#llx data %#x: %s", m->name,
			    v, (unsigned long long)vector_address(e), e->data,
			    strerror(-ret));
}

static void irqfd_unbind(struct msix *m, unsigned v)
{
	struct msix_vector *e = &m->vec[v];
	int ret;

	if (!e->irqfd)
		return;
	ret = irq_irqfd_deassign(m->irq, e->eventfd, e->gsi);
	if (ret)
		cv_err_once("msix: %s: unbinding vector %u's eventfd: %s", m->name,
			    v, strerror(-ret));
	e->irqfd = false;
}

/*
 * An eventfd signalled while its vector was masked holds a count: that is
 * the vector's pending bit (PCI Local Bus 3.0, 6.8.2.10), taken here so the
 * irqfd does not also deliver it once bound again.
 */
static void eventfd_poll(struct msix *m, unsigned v)
{
	struct msix_vector *e = &m->vec[v];
	uint64_t count;

	if (e->eventfd >= 0 && !e->irqfd &&
	    read(e->eventfd, &count, sizeof(count)) == sizeof(count) && count)
		m->pba[v / 64] |= 1ULL << (v % 64);
}

/*
 * Bring vector @v in line with its entry: when usable, point its GSI at the
 * message (irq_msi_route only rebuilds KVM's table if it changed), send
 * what became pending while it was masked (PCI Local Bus 3.0, 6.8.2.9), and
 * let its eventfd through as an irqfd; when masked, take the irqfd away.
 * An event that lands between the poll and the bind is still counted in
 * the eventfd, and KVM delivers a count found at bind time.
 */
static void vector_update(struct msix *m, unsigned v)
{
	struct msix_vector *e = &m->vec[v];
	int ret;

	if (vector_masked(m, v)) {
		irqfd_unbind(m, v);
		return;
	}
	ret = irq_msi_route(m->irq, e->gsi, vector_address(e), e->data);
	if (ret)
		cv_err_once("msix: %s: routing vector %u (GSI %u) to %#llx: %s",
			    m->name, v, e->gsi,
			    (unsigned long long)vector_address(e), strerror(-ret));
	eventfd_poll(m, v);
	if (pba_test_and_clear(m, v))
		vector_send(m, v);
	if (e->eventfd >= 0 && !e->irqfd) {
		ret = irq_irqfd_assign(m->irq, e->eventfd, e->gsi);
		if (ret)
			cv_err_once("msix: %s: binding vector %u's eventfd to GSI %u: %s",
				    m->name, v, e->gsi, strerror(-ret));
		else
			e->irqfd = true;
	}
}

void msix_control_write(struct msix *m, uint16_t control)
{
	pthread_mutex_lock(&m->lock);
	m->enabled = control & PCI_MSIX_FLAGS_ENABLE;
	m->function_masked = control & PCI_MSIX_FLAGS_MASKALL;
	for (unsigned v = 0; v < m->nr; v++)
		vector_update(m, v);
	pthread_mutex_unlock(&m->lock);
}

/* Whether an access of @len at @offset into @size bytes is one the spec defines. */
static bool access_ok(const struct msix *m, const char *what, uint64_t offset,
		      uint32_t len, uint64_t size)
{
	if ((len == 4 || len == 8) && !(offset % len) && offset < size &&
	    len <= size - offset)
		return true;
	cv_err_once("msix: %s: %u-byte %s access at offset %#llx ignored "
	       "(aligned DWORD/QWORD within %#llx bytes only)",
	       m->name, len, what, (unsigned long long)offset,
	       (unsigned long long)size);
	return false;
}

static uint32_t *entry_field(struct msix_vector *e, uint64_t field)
{
	switch (field) {
	case PCI_MSIX_ENTRY_LOWER_ADDR: return &e->addr_lo;
	case PCI_MSIX_ENTRY_UPPER_ADDR: return &e->addr_hi;
	case PCI_MSIX_ENTRY_DATA:       return &e->data;
	default:                        return &e->ctrl;
	}
}

void msix_table_access(struct msix *m, uint64_t offset, void *data,
		       uint32_t len, bool is_write)
{
	unsigned v = (unsigned)(offset / PCI_MSIX_ENTRY_SIZE);
	uint8_t *p = data;

	if (!access_ok(m, "table", offset, len, msix_table_size(m->nr))) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&m->lock);
	/* A QWORD never straddles entries: it is one aligned half of one. */
	for (uint32_t i = 0; i < len; i += 4) {
		uint64_t field = (offset + i) % PCI_MSIX_ENTRY_SIZE;
		uint32_t *reg = entry_field(&m->vec[v], field);
		uint32_t val;

		if (is_write) {
			memcpy(&val, p + i, 4);
			/* Only the Mask bit of Vector Control is defined. */
			if (field == PCI_MSIX_ENTRY_VECTOR_CTRL)
				val &= PCI_MSIX_ENTRY_CTRL_MASKBIT;
			*reg = val;
		} else {
			memcpy(p + i, reg, 4);
		}
	}
	if (is_write)
		vector_update(m, v);
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_access(struct msix *m, uint64_t offset, void *data, uint32_t len,
		     bool is_write)
{
	uint64_t bits;

	if (is_write || !access_ok(m, "PBA", offset, len, msix_pba_size(m->nr))) {
		/* Pending bits are read-only to software (PCI Local Bus 3.0, 6.8.2.10). */
		if (is_write)
			cv_err_once("msix: %s: write to the PBA at offset %#llx ignored",
				    m->name, (unsigned long long)offset);
		else
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&m->lock);
	for (uint64_t v = offset * 8; v < (offset + len) * 8 && v < m->nr; v++)
		eventfd_poll(m, (unsigned)v);
	bits = m->pba[offset / 8] >> (8 * (offset % 8));
	pthread_mutex_unlock(&m->lock);
	memcpy(data, &bits, len);
}

int msix_notify(struct msix *m, unsigned vector)
{
	if (vector >= m->nr)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (vector_masked(m, vector))
		m->pba[vector / 64] |= 1ULL << (vector % 64);
	else
		vector_send(m, vector);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int msix_vector_gsi(struct msix *m, unsigned vector, uint32_t *gsi)
{
	if (vector >= m->nr)
		return -EINVAL;
	*gsi = m->vec[vector].gsi;
	return 0;
}

int msix_vector_bind(struct msix *m, unsigned vector, int eventfd)
{
	if (vector >= m->nr)
		return -EINVAL;
	if (eventfd >= 0 && fcntl(eventfd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	pthread_mutex_lock(&m->lock);
	irqfd_unbind(m, vector);
	m->vec[vector].eventfd = eventfd;
	vector_update(m, vector);
	pthread_mutex_unlock(&m->lock);
	return 0;
}
