/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/pci.h"

#include <errno.h>
#include <string.h>

#include "guest-abi/cv_platform.h"
#include "guest-abi/pci_ids.h"
#include "tools/lib/log.h"

/* CONFIG_ADDRESS fields (PCI Local Bus 3.0, 3.2.2.3.2). */
#define PCI_CONFIG_ENABLE   0x80000000u
/* Bits 30:24 are reserved and bits 1:0 read as zero. */
#define PCI_CONFIG_ADDR_RW  0x80fffffcu
#define PCI_CONFIG_BUS(a)   (((a) >> 16) & 0xff)
#define PCI_CONFIG_DEVFN(a) (((a) >> 8) & 0xff)
#define PCI_CONFIG_REG(a)   ((a) & 0xfc)

/* ECAM offset: bus 27:20, device 19:15, function 14:12, register 11:0. */
#define ECAM_DEVFN(off)     (((off) >> 12) & 0xff)
#define ECAM_REG(off)       ((off) & 0xfff)

#define PCI_BAR_REGS_LEN    (PCI_STD_NUM_BARS * 4)

/* The xAPIC interrupt address range MSI writes target (Intel SDM 3, 11.11.1). */
#define MSI_ADDR_RANGE_SIZE 0x00100000ULL
#define IOAPIC_MMIO_SIZE    0x00001000ULL
/* Ports below 0x1000 are ISA's, some emulated inside KVM (PIC, PIT, ELCR). */
#define ISA_PORT_END        0x1000ULL

/* Callers make sure neither range wraps. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

static uint32_t le_load(const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint32_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void le_store(void *data, uint32_t len, uint32_t v)
{
	uint8_t *p = data;

	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static unsigned fn_slot(const struct pci_function *f)
{
	return f->devfn >> 3;
}

static unsigned fn_func(const struct pci_function *f)
{
	return f->devfn & 7;
}

/* ---- BAR mapping --------------------------------------------------------- */

static uint32_t fn_cfg_read(struct pci_function *f, uint32_t off, uint32_t len)
{
	uint32_t v = ~0u;

	f->ops->cfg_read(f->opaque, off, len, &v);
	return v;
}

static uint64_t bar_read_addr(struct pci_bar *b)
{
	struct pci_function *f = b->fn;
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * b->idx;
	uint64_t v = fn_cfg_read(f, off, 4);

	if (b->desc.io)
		return v & PCI_BASE_ADDRESS_IO_MASK & 0xffffffffu;
	v &= PCI_BASE_ADDRESS_MEM_MASK & 0xffffffffu;
	if (b->desc.mem64)
		v |= (uint64_t)fn_cfg_read(f, off + 4, 4) << 32;
	return v;
}

/* With the bus lock held: an access to @f goes on past it (unplug waits for it). */
static void fn_get(struct pci_function *f)
{
	pthread_mutex_lock(&f->bus->users_lock);
	f->users++;
	pthread_mutex_unlock(&f->bus->users_lock);
}

static void fn_put(struct pci_function *f)
{
	pthread_mutex_lock(&f->bus->users_lock);
	if (!--f->users)
		pthread_cond_broadcast(&f->bus->users_gone);
	pthread_mutex_unlock(&f->bus->users_lock);
}

static void bar_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		   bool is_write)
{
	struct pci_bar *b = opaque;
	struct pci_function *f = b->fn;
	bool go, done = false;

	/*
	 * iobus_dispatch() calls us outside its own lock, so the BAR may have
	 * been unmapped (or its function replaced by a smaller one) meanwhile;
	 * and again while we wait for the function, whose config access may
	 * be moving it.
	 */
	pthread_rwlock_rdlock(&f->bus->lock);
	go = b->mapped;
	if (go)
		fn_get(f);
	pthread_rwlock_unlock(&f->bus->lock);
	if (go) {
		pthread_rwlock_rdlock(&f->lock);
		if (b->mapped && offset + len <= b->desc.size) {
			f->ops->bar_access(f->opaque, b->idx, offset, data, len, is_write);
			done = true;
		}
		pthread_rwlock_unlock(&f->lock);
		fn_put(f);
	}
	if (!done && !is_write)
		memset(data, 0xff, len);
}

static void bar_unmap(struct pci_bus *bus, struct pci_bar *b)
{
	struct pci_function *f = b->fn;

	iobus_unregister(b->desc.io ? bus->pio : bus->mmio, b->addr, b);
	b->mapped = false;
	if (f->ops->bar_mapped)
		f->ops->bar_mapped(f->opaque, b->idx, b->addr, false);
}

/* Memory no BAR may cover: RAM and the in-kernel interrupt controllers. */
static const char *bar_mem_conflict(const struct pci_bus *bus, uint64_t addr,
				    uint64_t size)
{
	if (ranges_overlap(addr, size, 0, bus->ram_low_end) ||
	    ranges_overlap(addr, size, CV_HIGHMEM_START,
			   bus->ram_high_end - CV_HIGHMEM_START))
		return "RAM";
	if (ranges_overlap(addr, size, CV_IOAPIC_BASE, IOAPIC_MMIO_SIZE))
		return "the IOAPIC";
	if (ranges_overlap(addr, size, CV_LAPIC_BASE, MSI_ADDR_RANGE_SIZE))
		return "the LAPIC/MSI range";
	return NULL;
}

static void bar_map(struct pci_bus *bus, struct pci_bar *b)
{
	struct pci_function *f = b->fn;
	uint64_t addr = b->addr, size = b->desc.size, last;
	const char *conflict = NULL;
	int ret;

	/* A BAR left at zero is unassigned: firmware and Linux never use 0. */
	if (!addr)
		return;
	/*
	 * A BAR still holding the all-ones sizing pattern ends at the top of
	 * its address space; the guest is mid-sizing, not placing it.
	 */
	if (__builtin_add_overflow(addr, size - 1, &last) ||
	    last == 0xffffffffULL || last == UINT64_MAX)
		return;
	if (b->desc.io) {
		if (last >= CV_PORT_PCI_IO_END)
			conflict = "the end of the port space";
		else if (addr < ISA_PORT_END)
			conflict = "the ISA ports";
	} else {
		conflict = bar_mem_conflict(bus, addr, size);
	}
	if (!conflict) {
		ret = iobus_register(b->desc.io ? bus->pio : bus->mmio, addr, size,
				     bar_io, b, f->name);
		if (!ret)
			goto mapped;
		conflict = ret == -EBUSY ? "another device" : strerror(-ret);
	}
	cv_err_once("pci: 00:%02x.%u (%s) BAR%u at %#llx (+%#llx) overlaps %s, left unmapped",
		    fn_slot(f), fn_func(f), f->name, b->idx,
		    (unsigned long long)addr, (unsigned long long)size, conflict);
	return;
mapped:
	b->mapped = true;
	if (f->ops->bar_mapped)
		f->ops->bar_mapped(f->opaque, b->idx, addr, true);
}

/*
 * Make the iobus match what the function's COMMAND register and BARs say
 * now (fn_read_bars, then fn_apply_bars).  Done after every config write
 * that touches them, so it works the same whether cv-hv or a card holds
 * the config space.
 */
struct bar_state {
	uint32_t cmd;
	uint64_t addr[PCI_STD_NUM_BARS];
};

/* What the function says: its I/O, so done before the bus lock is taken. */
static void fn_read_bars(struct pci_function *f, struct bar_state *st)
{
	st->cmd = fn_cfg_read(f, PCI_COMMAND, 2);
	for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++)
		st->addr[i] = f->bars[i].desc.size ? bar_read_addr(&f->bars[i]) : 0;
}

/* With the bus lock held for writing. */
static void fn_apply_bars(struct pci_bus *bus, struct pci_function *f,
			  const struct bar_state *st)
{
	for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct pci_bar *b = &f->bars[i];
		uint64_t addr = st->addr[i];
		bool decode;

		if (!b->desc.size)
			continue;
		decode = st->cmd & (b->desc.io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
		if (b->mapped && decode && addr == b->addr)
			continue;
		if (b->mapped)
			bar_unmap(bus, b);
		b->addr = addr;
		if (decode)
			bar_map(bus, b);
	}
}

/* ---- BAR assignment at plug time ---------------------------------------- */

static const struct pci_bar *bar_find_overlap(const struct pci_bus *bus,
					      const struct pci_bar *self,
					      uint64_t addr, uint64_t size)
{
	for (unsigned d = 0; d < PCI_BUS_DEVFNS; d++) {
		const struct pci_function *f = &bus->fns[d];

		if (!f->present)
			continue;
		for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++) {
			const struct pci_bar *o = &f->bars[i];

			if (o != self && o->desc.size && o->addr &&
			    o->desc.io == self->desc.io &&
			    ranges_overlap(addr, size, o->addr, o->desc.size))
				return o;
		}
	}
	return NULL;
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* First fit, naturally aligned, in the window for the BAR's space. */
static int bar_assign(struct pci_bus *bus, struct pci_bar *b)
{
	uint64_t start = b->desc.io ? CV_PORT_PCI_IO_START : CV_PCI_MMIO32_START;
	uint64_t end = b->desc.io ? CV_PORT_PCI_IO_END : CV_PCI_MMIO32_END;
	uint64_t size = b->desc.size, addr = align_up(start, size);
	const struct pci_bar *o;

	while (addr + size <= end) {
		o = bar_find_overlap(bus, b, addr, size);
		if (!o) {
			b->addr = addr;
			return 0;
		}
		/* @o overlaps [addr, addr + size), so its end lies above addr. */
		addr = align_up(o->addr + o->desc.size, size);
	}
	return -ENOSPC;
}

static void bar_write_addr(struct pci_bar *b)
{
	struct pci_function *f = b->fn;
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * b->idx;

	f->ops->cfg_write(f->opaque, off, 4, (uint32_t)b->addr);
	if (b->desc.mem64)
		f->ops->cfg_write(f->opaque, off + 4, 4, (uint32_t)(b->addr >> 32));
}

/* Ask the function for its BARs and check them: a card's answer is untrusted. */
static int fn_load_bars(struct pci_function *f)
{
	for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct pci_bar *b = &f->bars[i];

		b->desc = (struct pci_bar_desc){ 0 };
		b->addr = 0;
		b->mapped = false;
	}
	if (!f->ops->bar_desc)
		return 0;
	for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct pci_bar *b = &f->bars[i];

		f->ops->bar_desc(f->opaque, i, &b->desc);
		if (!b->desc.size)
			continue;
		if (!pci_bar_desc_valid(i, &b->desc) || !f->ops->bar_access) {
			cv_err("pci: 00:%02x.%u (%s) BAR%u: %s (size %#llx)",
			       fn_slot(f), fn_func(f), f->name, i,
			       f->ops->bar_access ? "invalid description"
						  : "no bar_access operation",
			       (unsigned long long)b->desc.size);
			return -EINVAL;
		}
		/* The upper half of a 64-bit BAR is not a BAR of its own. */
		if (b->desc.mem64)
			i++;
	}
	return 0;
}

/* Largest first, as firmware does, so alignment wastes the least space. */
static int fn_assign_bars(struct pci_bus *bus, struct pci_function *f)
{
	bool done[PCI_STD_NUM_BARS] = { 0 };

	for (;;) {
		struct pci_bar *next = NULL;
		int ret;

		for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++) {
			struct pci_bar *b = &f->bars[i];

			if (b->desc.size && !done[i] &&
			    (!next || b->desc.size > next->desc.size))
				next = b;
		}
		if (!next)
			return 0;
		done[next->idx] = true;
		ret = bar_assign(bus, next);
		if (ret) {
			cv_err("pci: 00:%02x.%u (%s) BAR%u: no room for %#llx bytes",
			       fn_slot(f), fn_func(f), f->name, next->idx,
			       (unsigned long long)next->desc.size);
			return ret;
		}
		bar_write_addr(next);
	}
}

/* ---- Config access -------------------------------------------------------- */

static bool slot_has_other_functions(const struct pci_bus *bus, unsigned slot)
{
	for (unsigned fn = 1; fn < PCI_SLOT_FUNCS; fn++)
		if (bus->fns[slot * PCI_SLOT_FUNCS + fn].present)
			return true;
	return false;
}

/*
 * One access inside one dword of one function's config space: under the
 * function's lock alone, since a card answers it over its socket; the bus
 * lock only to look the function up and to move its BARs.
 */
static void cfg_access(struct pci_bus *bus, unsigned devfn, uint32_t reg,
		       void *data, uint32_t len, bool is_write)
{
	struct pci_function *f = &bus->fns[devfn];
	struct bar_state st;
	bool present, multi;
	uint32_t val;

	pthread_rwlock_rdlock(&bus->lock);
	present = f->present;
	if (present)
		fn_get(f);
	/*
	 * Software scans functions 1-7 only when function 0 says it is
	 * multi-function (PCI Local Bus 3.0, 6.2.1), which depends on what
	 * else is plugged, not on function 0 itself.
	 */
	multi = !fn_func(f) && slot_has_other_functions(bus, fn_slot(f));
	pthread_rwlock_unlock(&bus->lock);
	if (!present)
		goto abort;
	pthread_rwlock_wrlock(&f->lock);
	present = f->present;    /* unplugged meanwhile? */
	if (present && is_write) {
		f->ops->cfg_write(f->opaque, reg, len, le_load(data, len));
		if (ranges_overlap(reg, len, PCI_COMMAND, 2) ||
		    ranges_overlap(reg, len, PCI_BASE_ADDRESS_0, PCI_BAR_REGS_LEN)) {
			fn_read_bars(f, &st);
			pthread_rwlock_wrlock(&bus->lock);
			fn_apply_bars(bus, f, &st);
			pthread_rwlock_unlock(&bus->lock);
		}
	} else if (present) {
		val = fn_cfg_read(f, reg, len);
		if (multi && ranges_overlap(reg, len, PCI_HEADER_TYPE, 1))
			val |= 0x80u << (8 * (PCI_HEADER_TYPE - reg));
		le_store(data, len, val);
	}
	pthread_rwlock_unlock(&f->lock);
	fn_put(f);
	if (present)
		return;
abort:
	/* Master abort: reads return all ones, writes vanish. */
	if (!is_write)
		memset(data, 0xff, len);
}

static void config_address_io(void *opaque, uint64_t offset, void *data,
			      uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;

	/*
	 * Only dword accesses latch CONFIG_ADDRESS; byte and word accesses to
	 * 0xcf8-0xcfb pass through as ordinary I/O (PCI Local Bus 3.0,
	 * 3.2.2.3.2), which nothing here decodes.
	 */
	if (offset || len != 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write)
		__atomic_store_n(&bus->config_address,
				 le_load(data, 4) & PCI_CONFIG_ADDR_RW,
				 __ATOMIC_RELAXED);
	else
		le_store(data, 4, __atomic_load_n(&bus->config_address,
						  __ATOMIC_RELAXED));
}

static void config_data_io(void *opaque, uint64_t offset, void *data,
			   uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	uint32_t addr = __atomic_load_n(&bus->config_address, __ATOMIC_RELAXED);

	/* The iobus range is the 4-byte window, so this never crosses it. */
	if (!(addr & PCI_CONFIG_ENABLE) || PCI_CONFIG_BUS(addr) != 0) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	cfg_access(bus, PCI_CONFIG_DEVFN(addr),
		   PCI_CONFIG_REG(addr) + (uint32_t)offset, data, len, is_write);
}

static void ecam_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		    bool is_write)
{
	struct pci_bus *bus = opaque;
	uint32_t reg = ECAM_REG(offset);

	/* An access may not cross a dword (PCIe Base 4.0, 7.2.2). */
	if ((len != 1 && len != 2 && len != 4) || (reg & 3) + len > 4) {
		cv_err_once("pci: ECAM %s of %u bytes at %#llx crosses a dword, ignored",
			    is_write ? "write" : "read", len,
			    (unsigned long long)(CV_PCI_ECAM_START + offset));
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	cfg_access(bus, ECAM_DEVFN(offset), reg, data, len, is_write);
}

/* ---- Host bridge ------------------------------------------------------------ */

static void host_bridge_cfg_read(void *opaque, uint32_t offset, uint32_t len,
				 uint32_t *val)
{
	pci_config_read(opaque, offset, len, val);
}

static void host_bridge_cfg_write(void *opaque, uint32_t offset, uint32_t len,
				  uint32_t val)
{
	pci_config_write(opaque, offset, len, val);
}

static const struct pci_function_ops host_bridge_ops = {
	.cfg_read = host_bridge_cfg_read,
	.cfg_write = host_bridge_cfg_write,
};

/* ---- Bus ------------------------------------------------------------------- */

int pci_bus_plug(struct pci_bus *bus, unsigned slot, unsigned fn,
		 const struct pci_function_ops *ops, void *opaque,
		 const char *name)
{
	struct pci_function *f;
	struct bar_state st;
	int ret;

	if (slot >= PCI_BUS_SLOTS || fn >= PCI_SLOT_FUNCS || !ops ||
	    !ops->cfg_read || !ops->cfg_write)
		return -EINVAL;
	f = &bus->fns[slot * PCI_SLOT_FUNCS + fn];
	pthread_rwlock_wrlock(&bus->lock);
	if (f->present) {
		ret = -EBUSY;
		goto out;
	}
	f->ops = ops;
	f->opaque = opaque;
	f->name = name;
	ret = fn_load_bars(f);
	if (ret)
		goto out;
	/* Present now so that its own BARs count as taken while assigning. */
	f->present = true;
	ret = fn_assign_bars(bus, f);
	if (ret) {
		f->present = false;
		goto out;
	}
	/* At set-up: the function is asked under the bus lock. */
	fn_read_bars(f, &st);
	fn_apply_bars(bus, f, &st);
	cv_debug("pci: 00:%02x.%u (%s) plugged", slot, fn, name);
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int pci_bus_unplug(struct pci_bus *bus, unsigned slot, unsigned fn)
{
	struct pci_function *f;
	int ret = 0;

	if (slot >= PCI_BUS_SLOTS || fn >= PCI_SLOT_FUNCS)
		return -EINVAL;
	f = &bus->fns[slot * PCI_SLOT_FUNCS + fn];
	/* Its accesses in progress end first; those that come after find it gone. */
	pthread_rwlock_wrlock(&f->lock);
	pthread_rwlock_wrlock(&bus->lock);
	if (!f->present) {
		ret = -ENOENT;
		goto out;
	}
	for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++)
		if (f->bars[i].mapped)
			bar_unmap(bus, &f->bars[i]);
	f->present = false;
	cv_debug("pci: 00:%02x.%u (%s) unplugged", slot, fn, f->name);
out:
	pthread_rwlock_unlock(&bus->lock);
	pthread_rwlock_unlock(&f->lock);
	/* And those that passed the bus lock before: none touches it after this. */
	pthread_mutex_lock(&bus->users_lock);
	while (f->users)
		pthread_cond_wait(&bus->users_gone, &bus->users_lock);
	pthread_mutex_unlock(&bus->users_lock);
	return ret;
}

void pci_function_lock(struct pci_bus *bus, unsigned slot, unsigned fn)
{
	pthread_rwlock_wrlock(&bus->fns[slot * PCI_SLOT_FUNCS + fn].lock);
}

void pci_function_unlock(struct pci_bus *bus, unsigned slot, unsigned fn)
{
	pthread_rwlock_unlock(&bus->fns[slot * PCI_SLOT_FUNCS + fn].lock);
}

static void locks_destroy(struct pci_bus *bus)
{
	for (unsigned d = 0; d < PCI_BUS_DEVFNS; d++)
		pthread_rwlock_destroy(&bus->fns[d].lock);
	pthread_cond_destroy(&bus->users_gone);
	pthread_mutex_destroy(&bus->users_lock);
	pthread_rwlock_destroy(&bus->lock);
}

int pci_bus_init(struct pci_bus *bus, struct iobus *pio, struct iobus *mmio,
		 const struct guest_mem *mem)
{
	int ret;

	memset(bus, 0, sizeof(*bus));
	bus->pio = pio;
	bus->mmio = mmio;
	bus->ram_low_end = mem->low_size;
	bus->ram_high_end = CV_HIGHMEM_START + mem->high_size;
	for (unsigned d = 0; d < PCI_BUS_DEVFNS; d++) {
		struct pci_function *f = &bus->fns[d];

		f->bus = bus;
		f->devfn = (uint8_t)d;
		for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++) {
			f->bars[i].fn = f;
			f->bars[i].idx = i;
		}
	}
	ret = -pthread_rwlock_init(&bus->lock, NULL);
	if (ret)
		return ret;
	pthread_mutex_init(&bus->users_lock, NULL);
	pthread_cond_init(&bus->users_gone, NULL);
	for (unsigned d = 0; d < PCI_BUS_DEVFNS; d++)
		pthread_rwlock_init(&bus->fns[d].lock, NULL);
	pci_config_init(&bus->host_bridge, PCI_CFG_SPACE_SIZE,
			CV_PCI_VENDOR_REDHAT, CV_PCI_DEVICE_HOST_BRIDGE,
			PCI_CLASS_BRIDGE_HOST, 0);
	ret = pci_bus_plug(bus, 0, 0, &host_bridge_ops, &bus->host_bridge,
			   "host-bridge");
	if (ret)
		goto fail_lock;
	ret = iobus_register(pio, CV_PORT_PCI_CONFIG_ADDR, 4, config_address_io,
			     bus, "pci-config-address");
	if (ret)
		goto fail_lock;
	ret = iobus_register(pio, CV_PORT_PCI_CONFIG_DATA, 4, config_data_io,
			     bus, "pci-config-data");
	if (ret)
		goto fail_addr;
	ret = iobus_register(mmio, CV_PCI_ECAM_START, CV_PCI_ECAM_SIZE, ecam_io,
			     bus, "pci-ecam");
	if (ret)
		goto fail_data;
	return 0;
fail_data:
	iobus_unregister(pio, CV_PORT_PCI_CONFIG_DATA, bus);
fail_addr:
	iobus_unregister(pio, CV_PORT_PCI_CONFIG_ADDR, bus);
fail_lock:
	locks_destroy(bus);
	cv_err("pci: cannot set up bus 0: %s", strerror(-ret));
	return ret;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	for (unsigned d = 0; d < PCI_BUS_DEVFNS; d++)
		if (bus->fns[d].present)
			pci_bus_unplug(bus, d / PCI_SLOT_FUNCS, d % PCI_SLOT_FUNCS);
	iobus_unregister(bus->mmio, CV_PCI_ECAM_START, bus);
	iobus_unregister(bus->pio, CV_PORT_PCI_CONFIG_DATA, bus);
	iobus_unregister(bus->pio, CV_PORT_PCI_CONFIG_ADDR, bus);
	locks_destroy(bus);
}
