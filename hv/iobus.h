/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dispatch of guest port I/O and MMIO exits to device models.  cv-hv has two
 * buses (PIO and MMIO); each maps non-overlapping [base, base + len) ranges
 * to a handler.  vCPU threads dispatch concurrently; handlers do their own
 * locking.  Ranges may be added and removed at run time (PCI BAR moves).
 */
#ifndef CV_HV_IOBUS_H
#define CV_HV_IOBUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * @offset is relative to the range's base.  On a read the handler fills
 * @len bytes of @data (little-endian, as the guest sees them).
 */
typedef void (*iobus_handler_fn)(void *opaque, uint64_t offset, void *data,
				 uint32_t len, bool is_write);

struct iobus_range {
	uint64_t base;
	uint64_t len;
	iobus_handler_fn handler;
	void *opaque;
	const char *name;
};

struct iobus {
	const char *name;         /* "pio" or "mmio", for logs */
	pthread_rwlock_t lock;
	struct iobus_range *ranges; /* sorted by base */
	unsigned nr, cap;
};

int iobus_init(struct iobus *bus, const char *name);
void iobus_destroy(struct iobus *bus);

/* -EBUSY if the range overlaps one already there, -EINVAL if empty or wrapping. */
int iobus_register(struct iobus *bus, uint64_t base, uint64_t len,
		   iobus_handler_fn handler, void *opaque, const char *name);
/* Remove the range starting at @base owned by @opaque; -ENOENT if none. */
int iobus_unregister(struct iobus *bus, uint64_t base, void *opaque);

/*
 * Route one access.  Returns -ENOENT when no range covers all of
 * [addr, addr + len): the caller decides what unbacked I/O means (reads as
 * all ones, writes are dropped, as on a PC).
 */
int iobus_dispatch(struct iobus *bus, uint64_t addr, void *data, uint32_t len,
		   bool is_write);

#endif /* CV_HV_IOBUS_H */
