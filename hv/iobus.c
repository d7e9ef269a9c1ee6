/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/iobus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int iobus_init(struct iobus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	return -pthread_rwlock_init(&bus->lock, NULL);
}

void iobus_destroy(struct iobus *bus)
{
	pthread_rwlock_destroy(&bus->lock);
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
}

/* Index of the first range whose end is above @addr. */
static unsigned iobus_lower_bound(const struct iobus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct iobus_range *r = &bus->ranges[mid];

		if (r->base + r->len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len,
		   iobus_handler_fn handler, void *opaque, const char *name)
{
	uint64_t end;
	unsigned i;
	int ret = 0;

	if (!len || __builtin_add_overflow(base, len, &end) || !handler)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	i = iobus_lower_bound(bus, base);
	if (i < bus->nr && bus->ranges[i].base < end) {
		ret = -EBUSY;
		goto out;
	}
	if (bus->nr == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 16;
		struct iobus_range *r = realloc(bus->ranges, cap * sizeof(*r));

		if (!r) {
			ret = -ENOMEM;
			goto out;
		}
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i],
		(bus->nr - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct iobus_range){ base, len, handler, opaque, name };
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int iobus_unregister(struct iobus *bus, uint64_t base, void *opaque)
{
	unsigned i;
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	i = iobus_lower_bound(bus, base);
	if (i < bus->nr && bus->ranges[i].base == base &&
	    bus->ranges[i].opaque == opaque) {
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->nr - i - 1) * sizeof(bus->ranges[0]));
		bus->nr--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int iobus_dispatch(struct iobus *bus, uint64_t addr, void *data, uint32_t len,
		   bool is_write)
{
	struct iobus_range r;
	unsigned i;
	bool found = false;

	pthread_rwlock_rdlock(&bus->lock);
	i = iobus_lower_bound(bus, addr);
	if (i < bus->nr && bus->ranges[i].base <= addr &&
	    addr + len <= bus->ranges[i].base + bus->ranges[i].len) {
		r = bus->ranges[i];
		found = true;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!found)
		return -ENOENT;
	/*
	 * Called outside the lock so a handler may remap ranges (a PCI command
	 * write moving a BAR).  Devices outlive the VM's vCPUs, so the copy
	 * stays valid.
	 */
	r.handler(r.opaque, addr - r.base, data, len, is_write);
	return 0;
}
