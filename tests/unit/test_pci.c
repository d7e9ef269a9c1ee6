/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI bus 0 through the guest's own paths: CONFIG_ADDRESS/CONFIG_DATA port
 * accesses and ECAM MMIO dispatched on real iobuses, a test function built
 * on hv/pci_config, and BAR dispatch after the guest enables decoding.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "guest-abi/pci_ids.h"
#include "hv/msix.h"
#include "hv/pci.h"

#define TEST_SLOT   3
#define TEST_DEVFN  (TEST_SLOT << 3)
#define TEST_VENDOR 0x1234
#define TEST_DEVICE 0x5678

#define BAR0_SIZE   0x1000   /* 32-bit memory */
#define BAR1_SIZE   0x20     /* I/O */
#define BAR2_SIZE   0x4000   /* 64-bit prefetchable memory, BAR2+BAR3 */

struct testfn {
	struct pci_config cfg;
	int msix_cap;
	unsigned accesses;
	unsigned last_bar;
	uint64_t last_offset;
	uint32_t last_len;
	bool last_write;
	uint32_t last_value;
	unsigned map_events;
	uint64_t mapped_addr[PCI_STD_NUM_BARS];
	bool mapped[PCI_STD_NUM_BARS];
};

struct fixture {
	struct guest_mem mem;
	struct iobus pio, mmio;
	struct pci_bus bus;
	struct testfn fn;
};

static void tf_cfg_read(void *opaque, uint32_t off, uint32_t len, uint32_t *val)
{
	struct testfn *t = opaque;

	pci_config_read(&t->cfg, off, len, val);
}

static void tf_cfg_write(void *opaque, uint32_t off, uint32_t len, uint32_t val)
{
	struct testfn *t = opaque;

	pci_config_write(&t->cfg, off, len, val);
}

static void tf_bar_access(void *opaque, unsigned bar, uint64_t offset,
			  void *data, uint32_t len, bool is_write)
{
	struct testfn *t = opaque;
	uint32_t v = 0;

	t->accesses++;
	t->last_bar = bar;
	t->last_offset = offset;
	t->last_len = len;
	t->last_write = is_write;
	if (is_write) {
		memcpy(&v, data, len < 4 ? len : 4);
		t->last_value = v;
	} else {
		/* Reads return a value that names the BAR and the offset. */
		v = 0xb0000000u | bar << 16 | (uint32_t)offset;
		memcpy(data, &v, len < 4 ? len : 4);
	}
}

static void tf_bar_desc(void *opaque, unsigned bar, struct pci_bar_desc *desc)
{
	struct testfn *t = opaque;

	pci_config_bar_desc(&t->cfg, bar, desc);
}

static void tf_bar_mapped(void *opaque, unsigned bar, uint64_t addr, bool mapped)
{
	struct testfn *t = opaque;

	t->map_events++;
	t->mapped[bar] = mapped;
	t->mapped_addr[bar] = addr;
}

static const struct pci_function_ops tf_ops = {
	.cfg_read = tf_cfg_read,
	.cfg_write = tf_cfg_write,
	.bar_access = tf_bar_access,
	.bar_desc = tf_bar_desc,
	.bar_mapped = tf_bar_mapped,
};

static void testfn_build(struct testfn *t)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(pci_config_init(&t->cfg, PCI_CFG_SPACE_EXP_SIZE,
					 TEST_VENDOR, TEST_DEVICE,
					 PCI_CLASS_STORAGE_NVME, 2), 0);
	assert_int_equal(pci_config_set_bar(&t->cfg, 0, &(struct pci_bar_desc){
		.size = BAR0_SIZE }), 0);
	assert_int_equal(pci_config_set_bar(&t->cfg, 1, &(struct pci_bar_desc){
		.size = BAR1_SIZE, .io = true }), 0);
	assert_int_equal(pci_config_set_bar(&t->cfg, 2, &(struct pci_bar_desc){
		.size = BAR2_SIZE, .mem64 = true, .prefetch = true }), 0);
	/* A dummy capability first, so the walk has to follow a link. */
	assert_int_equal(pci_config_add_cap(&t->cfg, PCI_CAP_ID_VNDR, 8), 0x40);
	t->msix_cap = msix_cap_add(&t->cfg, 4, 0, 0x800, 0, 0xc00);
	assert_int_equal(t->msix_cap, 0x48);
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	assert_int_equal(guest_mem_init(&f->mem, CV_MEM_MIN), 0);
	assert_int_equal(iobus_init(&f->pio, "pio"), 0);
	assert_int_equal(iobus_init(&f->mmio, "mmio"), 0);
	assert_int_equal(pci_bus_init(&f->bus, &f->pio, &f->mmio, &f->mem), 0);
	testfn_build(&f->fn);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pci_bus_destroy(&f->bus);
	iobus_destroy(&f->mmio);
	iobus_destroy(&f->pio);
	guest_mem_destroy(&f->mem);
	test_free(f);
	return 0;
}

/* ---- guest-side accessors ------------------------------------------------ */

static uint32_t pio_read(struct fixture *f, uint16_t port, uint32_t len)
{
	uint32_t v = 0;

	assert_int_equal(iobus_dispatch(&f->pio, port, &v, len, false), 0);
	return v;
}

static void pio_write(struct fixture *f, uint16_t port, uint32_t len, uint32_t v)
{
	assert_int_equal(iobus_dispatch(&f->pio, port, &v, len, true), 0);
}

static uint32_t cfg1_addr(unsigned bus, unsigned devfn, unsigned reg)
{
	return 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc);
}

/* Type-1 mechanism: select the dword, then access inside the data window. */
static uint32_t cfg1_read(struct fixture *f, unsigned devfn, unsigned reg, uint32_t len)
{
	pio_write(f, CV_PORT_PCI_CONFIG_ADDR, 4, cfg1_addr(0, devfn, reg));
	return pio_read(f, CV_PORT_PCI_CONFIG_DATA + (reg & 3), len);
}

static void cfg1_write(struct fixture *f, unsigned devfn, unsigned reg, uint32_t len,
		       uint32_t v)
{
	pio_write(f, CV_PORT_PCI_CONFIG_ADDR, 4, cfg1_addr(0, devfn, reg));
	pio_write(f, CV_PORT_PCI_CONFIG_DATA + (reg & 3), len, v);
}

static uint32_t ecam_read(struct fixture *f, unsigned devfn, unsigned reg, uint32_t len)
{
	uint32_t v = 0;

	assert_int_equal(iobus_dispatch(&f->mmio, CV_PCI_ECAM_START +
					(devfn << 12) + reg, &v, len, false), 0);
	return v;
}

static void ecam_write(struct fixture *f, unsigned devfn, unsigned reg, uint32_t len,
		       uint32_t v)
{
	assert_int_equal(iobus_dispatch(&f->mmio, CV_PCI_ECAM_START +
					(devfn << 12) + reg, &v, len, true), 0);
}

static void plug_testfn(struct fixture *f)
{
	assert_int_equal(pci_bus_plug(&f->bus, TEST_SLOT, 0, &tf_ops, &f->fn,
				      "testfn"), 0);
}

static uint32_t bar_reg(unsigned idx)
{
	return PCI_BASE_ADDRESS_0 + 4 * idx;
}

static uint64_t bar0_addr(struct fixture *f)
{
	return ecam_read(f, TEST_DEVFN, bar_reg(0), 4) & ~0xfu;
}

static uint64_t bar2_addr(struct fixture *f)
{
	return (ecam_read(f, TEST_DEVFN, bar_reg(2), 4) & ~0xfu) |
	       (uint64_t)ecam_read(f, TEST_DEVFN, bar_reg(3), 4) << 32;
}

static uint16_t bar1_port(struct fixture *f)
{
	return (uint16_t)(ecam_read(f, TEST_DEVFN, bar_reg(1), 4) & ~0x3u);
}

static int mmio_read32(struct fixture *f, uint64_t addr, uint32_t *v)
{
	return iobus_dispatch(&f->mmio, addr, v, 4, false);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_host_bridge_ids(void **state)
{
	struct fixture *f = *state;
	uint32_t id = CV_PCI_DEVICE_HOST_BRIDGE << 16 | CV_PCI_VENDOR_REDHAT;

	assert_int_equal(cfg1_read(f, 0, PCI_VENDOR_ID, 4), id);
	assert_int_equal(ecam_read(f, 0, PCI_VENDOR_ID, 4), id);
	/* Class code in bits 31:8 of dword 2, revision 0. */
	assert_int_equal(cfg1_read(f, 0, PCI_CLASS_REVISION, 4),
			 PCI_CLASS_BRIDGE_HOST << 8);
	assert_int_equal(ecam_read(f, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(ecam_read(f, 0, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	/* A conventional function has no extended space: all ones there. */
	assert_int_equal(ecam_read(f, 0, 0x100, 4), 0xffffffffu);
}

static void test_absent_functions(void **state)
{
	struct fixture *f = *state;
	uint32_t v;

	assert_int_equal(cfg1_read(f, 5 << 3, PCI_VENDOR_ID, 4), 0xffffffffu);
	assert_int_equal(cfg1_read(f, 1, PCI_VENDOR_ID, 2), 0xffff);
	assert_int_equal(ecam_read(f, 31 << 3 | 7, PCI_VENDOR_ID, 4), 0xffffffffu);
	assert_int_equal(ecam_read(f, 7 << 3, PCI_CLASS_PROG, 1), 0xff);
	/* Bus 1 does not exist behind the type-1 mechanism either. */
	pio_write(f, CV_PORT_PCI_CONFIG_ADDR, 4, cfg1_addr(1, 0, 0));
	assert_int_equal(pio_read(f, CV_PORT_PCI_CONFIG_DATA, 4), 0xffffffffu);
	/* With the enable bit clear CONFIG_DATA decodes nothing. */
	pio_write(f, CV_PORT_PCI_CONFIG_ADDR, 4, 0);
	assert_int_equal(pio_read(f, CV_PORT_PCI_CONFIG_DATA, 4), 0xffffffffu);
	/* Writes to nothing are dropped; the host bridge is untouched. */
	ecam_write(f, 2 << 3, PCI_COMMAND, 2, 0xffff);
	pio_write(f, CV_PORT_PCI_CONFIG_ADDR, 4, cfg1_addr(0, 1, PCI_COMMAND));
	pio_write(f, CV_PORT_PCI_CONFIG_DATA, 2, 0xffff);
	v = ecam_read(f, 0, PCI_COMMAND, 2);
	assert_int_equal(v, 0);
}

static void test_config_address_register(void **state)
{
	struct fixture *f = *state;

	pio_write(f, CV_PORT_PCI_CONFIG_ADDR, 4, 0x80000000u);
	assert_int_equal(pio_read(f, CV_PORT_PCI_CONFIG_ADDR, 4), 0x80000000u);
	/* Reserved bits 30:24 and 1:0 read as zero. */
	pio_write(f, CV_PORT_PCI_CONFIG_ADDR, 4, 0xffffffffu);
	assert_int_equal(pio_read(f, CV_PORT_PCI_CONFIG_ADDR, 4), 0x80fffffcu);
	/* Byte accesses (Linux's type-1 probe does one) do not latch. */
	pio_write(f, CV_PORT_PCI_CONFIG_ADDR + 3, 1, 0x01);
	assert_int_equal(pio_read(f, CV_PORT_PCI_CONFIG_ADDR, 4), 0x80fffffcu);
	assert_int_equal(pio_read(f, CV_PORT_PCI_CONFIG_ADDR + 2, 2), 0xffff);
}

static void test_odd_offsets_and_sizes(void **state)
{
	struct fixture *f = *state;
	uint64_t q = 0;

	/* Word and byte accesses anywhere inside the CONFIG_DATA window. */
	assert_int_equal(cfg1_read(f, 0, PCI_DEVICE_ID, 2), CV_PCI_DEVICE_HOST_BRIDGE);
	assert_int_equal(cfg1_read(f, 0, 1, 1), CV_PCI_VENDOR_REDHAT >> 8);
	assert_int_equal(cfg1_read(f, 0, 1, 2),
			 (CV_PCI_DEVICE_HOST_BRIDGE & 0xff) << 8 | CV_PCI_VENDOR_REDHAT >> 8);
	assert_int_equal(cfg1_read(f, 0, PCI_CLASS_PROG, 1), 0x00);
	assert_int_equal(ecam_read(f, 0, PCI_CLASS_DEVICE + 1, 1), 0x06);
	/* A byte write to the command register changes that byte only. */
	ecam_write(f, 0, PCI_COMMAND, 1, PCI_COMMAND_MASTER);
	assert_int_equal(cfg1_read(f, 0, PCI_COMMAND, 4) & 0xffff, PCI_COMMAND_MASTER);
	/* Of the high byte only SERR# enable and INTx disable are writable. */
	cfg1_write(f, 0, PCI_COMMAND + 1, 1, 0xff);
	assert_int_equal(ecam_read(f, 0, PCI_COMMAND, 2), PCI_COMMAND_MASTER |
			 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	/* Read-only: the vendor ID ignores writes. */
	ecam_write(f, 0, PCI_VENDOR_ID, 2, 0xdead);
	assert_int_equal(ecam_read(f, 0, PCI_VENDOR_ID, 2), CV_PCI_VENDOR_REDHAT);
	/* ECAM accesses crossing a dword, or wider than one, are refused. */
	assert_int_equal(ecam_read(f, 0, 2, 4), 0xffffffffu);
	assert_int_equal(ecam_read(f, 0, 3, 2), 0xffff);
	assert_int_equal(iobus_dispatch(&f->mmio, CV_PCI_ECAM_START, &q, 8, false), 0);
	assert_int_equal(q, UINT64_MAX);
	ecam_write(f, 0, 2, 4, 0);
	assert_int_equal(ecam_read(f, 0, PCI_VENDOR_ID, 4),
			 CV_PCI_DEVICE_HOST_BRIDGE << 16 | CV_PCI_VENDOR_REDHAT);
}

static void test_rw1c_status(void **state)
{
	struct fixture *f = *state;
	uint16_t status;

	plug_testfn(f);
	/* The device records a received master abort and a parity error. */
	f->fn.cfg.data[PCI_STATUS + 1] |= (PCI_STATUS_REC_MASTER_ABORT |
					   PCI_STATUS_DETECTED_PARITY) >> 8;
	status = (uint16_t)ecam_read(f, TEST_DEVFN, PCI_STATUS, 2);
	assert_true(status & PCI_STATUS_REC_MASTER_ABORT);
	assert_true(status & PCI_STATUS_CAP_LIST);
	/* Writing 1 clears just that bit; CAP_LIST is read-only. */
	ecam_write(f, TEST_DEVFN, PCI_STATUS, 2, PCI_STATUS_REC_MASTER_ABORT |
		   PCI_STATUS_CAP_LIST);
	status = (uint16_t)ecam_read(f, TEST_DEVFN, PCI_STATUS, 2);
	assert_false(status & PCI_STATUS_REC_MASTER_ABORT);
	assert_true(status & PCI_STATUS_DETECTED_PARITY);
	assert_true(status & PCI_STATUS_CAP_LIST);
}

static void test_bar_assignment(void **state)
{
	struct fixture *f = *state;
	uint64_t a0, a2;
	uint16_t io;

	plug_testfn(f);
	assert_int_equal(ecam_read(f, TEST_DEVFN, PCI_VENDOR_ID, 4),
			 TEST_DEVICE << 16 | TEST_VENDOR);
	a0 = bar0_addr(f);
	a2 = bar2_addr(f);
	io = bar1_port(f);
	/* Naturally aligned, inside the windows, not overlapping. */
	assert_true(a0 >= CV_PCI_MMIO32_START && a0 + BAR0_SIZE <= CV_PCI_MMIO32_END);
	assert_true(a2 >= CV_PCI_MMIO32_START && a2 + BAR2_SIZE <= CV_PCI_MMIO32_END);
	assert_int_equal(a0 % BAR0_SIZE, 0);
	assert_int_equal(a2 % BAR2_SIZE, 0);
	assert_true(a0 + BAR0_SIZE <= a2 || a2 + BAR2_SIZE <= a0);
	assert_true(io >= CV_PORT_PCI_IO_START && io + BAR1_SIZE <= CV_PORT_PCI_IO_END);
	assert_int_equal(io % BAR1_SIZE, 0);
	/* Decoding stays off until the guest turns it on. */
	assert_int_equal(ecam_read(f, TEST_DEVFN, PCI_COMMAND, 2), 0);
	assert_int_equal(f->fn.map_events, 0);
}

static void test_bar_sizing(void **state)
{
	struct fixture *f = *state;
	uint32_t saved[PCI_STD_NUM_BARS];

	plug_testfn(f);
	for (unsigned i = 0; i < 4; i++)
		saved[i] = cfg1_read(f, TEST_DEVFN, bar_reg(i), 4);
	/* Type bits: 32-bit memory 0000, I/O 01, 64-bit prefetchable 1100. */
	assert_int_equal(saved[0] & 0xf, 0x0);
	assert_int_equal(saved[1] & 0x3, PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(saved[2] & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_64 |
			 PCI_BASE_ADDRESS_MEM_PREFETCH);
	for (unsigned i = 0; i < 6; i++)
		cfg1_write(f, TEST_DEVFN, bar_reg(i), 4, 0xffffffffu);
	/* PCI Local Bus 3.0, 6.2.5.1: size mask with the type bits intact. */
	assert_int_equal(cfg1_read(f, TEST_DEVFN, bar_reg(0), 4), ~(BAR0_SIZE - 1u));
	assert_int_equal(cfg1_read(f, TEST_DEVFN, bar_reg(1), 4),
			 ~(BAR1_SIZE - 1u) | PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(cfg1_read(f, TEST_DEVFN, bar_reg(2), 4),
			 ~(BAR2_SIZE - 1u) | PCI_BASE_ADDRESS_MEM_TYPE_64 |
			 PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(cfg1_read(f, TEST_DEVFN, bar_reg(3), 4), 0xffffffffu);
	/* Unimplemented BARs read zero whatever is written. */
	assert_int_equal(cfg1_read(f, TEST_DEVFN, bar_reg(4), 4), 0);
	assert_int_equal(cfg1_read(f, TEST_DEVFN, bar_reg(5), 4), 0);
	/* Restoring the addresses brings them back exactly. */
	for (unsigned i = 0; i < 4; i++)
		cfg1_write(f, TEST_DEVFN, bar_reg(i), 4, saved[i]);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(cfg1_read(f, TEST_DEVFN, bar_reg(i), 4), saved[i]);
	/* Sizing with decoding on maps nothing at the all-ones address. */
	ecam_write(f, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ecam_write(f, TEST_DEVFN, bar_reg(0), 4, 0xffffffffu);
	assert_false(f->fn.mapped[0]);
	ecam_write(f, TEST_DEVFN, bar_reg(0), 4, saved[0]);
	assert_true(f->fn.mapped[0]);
}

static void test_command_maps_bars(void **state)
{
	struct fixture *f = *state;
	uint64_t a0, a2;
	uint16_t io;
	uint32_t v = 0;

	plug_testfn(f);
	a0 = bar0_addr(f);
	a2 = bar2_addr(f);
	io = bar1_port(f);
	assert_int_equal(mmio_read32(f, a0, &v), -ENOENT);

	ecam_write(f, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(mmio_read32(f, a0 + 0x10, &v), 0);
	assert_int_equal(v, 0xb0000010u);
	assert_int_equal(f->fn.last_bar, 0);
	assert_int_equal(f->fn.last_offset, 0x10);
	assert_int_equal(f->fn.last_len, 4);
	v = 0xcafe;
	assert_int_equal(iobus_dispatch(&f->mmio, a2 + 0x3ffe, &v, 2, true), 0);
	assert_int_equal(f->fn.last_bar, 2);
	assert_int_equal(f->fn.last_offset, 0x3ffe);
	assert_true(f->fn.last_write);
	assert_int_equal(f->fn.last_value, 0xcafe);
	assert_true(f->fn.mapped[0] && f->fn.mapped[2]);
	assert_int_equal(f->fn.mapped_addr[2], a2);
	/* I/O decoding is a separate enable. */
	assert_int_equal(iobus_dispatch(&f->pio, io, &v, 1, false), -ENOENT);
	ecam_write(f, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(iobus_dispatch(&f->pio, io + 4, &v, 1, false), 0);
	assert_int_equal(f->fn.last_bar, 1);
	assert_int_equal(f->fn.last_offset, 4);
	/* An access running past the end of the BAR reaches nothing. */
	assert_int_equal(iobus_dispatch(&f->pio, io + BAR1_SIZE - 2, &v, 4, false),
			 -ENOENT);

	/* Clearing MEM unmaps both memory BARs and tells the function. */
	ecam_write(f, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_IO);
	assert_int_equal(mmio_read32(f, a0, &v), -ENOENT);
	assert_int_equal(mmio_read32(f, a2, &v), -ENOENT);
	assert_false(f->fn.mapped[0] || f->fn.mapped[2]);
	assert_true(f->fn.mapped[1]);
}

static void test_bar_move(void **state)
{
	struct fixture *f = *state;
	uint64_t a0, a2, target;
	uint32_t v;

	plug_testfn(f);
	a0 = bar0_addr(f);
	a2 = bar2_addr(f);
	ecam_write(f, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	target = CV_PCI_MMIO32_END - 0x100000;
	ecam_write(f, TEST_DEVFN, bar_reg(0), 4, (uint32_t)target);
	assert_int_equal(mmio_read32(f, a0, &v), -ENOENT);
	assert_int_equal(mmio_read32(f, target + 8, &v), 0);
	assert_int_equal(f->fn.last_offset, 8);
	assert_int_equal(f->fn.mapped_addr[0], target);

	/* A 64-bit BAR moves above 4 GiB, past the end of RAM. */
	ecam_write(f, TEST_DEVFN, bar_reg(3), 4, 0x10);
	ecam_write(f, TEST_DEVFN, bar_reg(2), 4, 0);
	assert_int_equal(mmio_read32(f, a2, &v), -ENOENT);
	assert_int_equal(mmio_read32(f, 0x1000000000ULL + 0x100, &v), 0);
	assert_int_equal(f->fn.last_bar, 2);
	assert_int_equal(f->fn.last_offset, 0x100);
}

/* Move BAR0 to @addr; it must end up unmapped, BAR2 untouched. */
static void expect_refused(struct fixture *f, uint64_t addr, uint64_t a2)
{
	uint32_t v;

	ecam_write(f, TEST_DEVFN, bar_reg(0), 4, (uint32_t)addr);
	assert_false(f->fn.mapped[0]);
	f->fn.accesses = 0;
	assert_int_equal(mmio_read32(f, a2, &v), 0);
	assert_int_equal(f->fn.last_bar, 2);
	assert_int_equal(f->fn.accesses, 1);
}

static void test_bar_overlap_refused(void **state)
{
	struct fixture *f = *state;
	uint64_t a0, a2;
	uint32_t v;

	plug_testfn(f);
	a0 = bar0_addr(f);
	a2 = bar2_addr(f);
	ecam_write(f, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_true(f->fn.mapped[0]);

	expect_refused(f, 0x200000, a2);               /* RAM */
	assert_int_equal(mmio_read32(f, 0x200000, &v), -ENOENT);
	expect_refused(f, CV_PCI_ECAM_START, a2);      /* ECAM */
	assert_int_equal(ecam_read(f, 0, PCI_VENDOR_ID, 2), CV_PCI_VENDOR_REDHAT);
	expect_refused(f, a2 + BAR0_SIZE, a2);         /* inside BAR2 */
	expect_refused(f, CV_IOAPIC_BASE, a2);
	expect_refused(f, CV_LAPIC_BASE, a2);
	/* The refused address still reads back: the guest owns the register. */
	assert_int_equal(bar0_addr(f), CV_LAPIC_BASE);

	/* Back to a free address: mapped again. */
	ecam_write(f, TEST_DEVFN, bar_reg(0), 4, (uint32_t)a0);
	assert_true(f->fn.mapped[0]);
	assert_int_equal(mmio_read32(f, a0, &v), 0);
	assert_int_equal(f->fn.last_bar, 0);

	/* An I/O BAR on the legacy ISA ports (0x60: the i8042's) is refused too. */
	ecam_write(f, TEST_DEVFN, bar_reg(1), 4, 0x60);
	ecam_write(f, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_false(f->fn.mapped[1]);
	assert_int_equal(iobus_dispatch(&f->pio, 0x60, &v, 1, false), -ENOENT);
}

static void test_capability_walk(void **state)
{
	struct fixture *f = *state;
	unsigned ptr, hops = 0, msix = 0;

	plug_testfn(f);
	assert_true(cfg1_read(f, TEST_DEVFN, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Walk as Linux's pci_find_capability() does, through the port. */
	ptr = cfg1_read(f, TEST_DEVFN, PCI_CAPABILITY_LIST, 1);
	while (ptr && hops++ < 48) {
		assert_int_equal(ptr & 3, 0);
		assert_true(ptr >= 0x40);
		if (cfg1_read(f, TEST_DEVFN, ptr + PCI_CAP_LIST_ID, 1) == PCI_CAP_ID_MSIX)
			msix = ptr;
		ptr = cfg1_read(f, TEST_DEVFN, ptr + PCI_CAP_LIST_NEXT, 1);
	}
	assert_int_equal(hops, 2);
	assert_int_equal(msix, (unsigned)f->fn.msix_cap);
	/* Table size N-1 = 3, table at BAR0+0x800, PBA at BAR0+0xc00. */
	assert_int_equal(cfg1_read(f, TEST_DEVFN, msix + PCI_MSIX_FLAGS, 2), 3);
	assert_int_equal(cfg1_read(f, TEST_DEVFN, msix + PCI_MSIX_TABLE, 4), 0x800);
	assert_int_equal(cfg1_read(f, TEST_DEVFN, msix + PCI_MSIX_PBA, 4), 0xc00);
	/* Enable and Function Mask are writable; the table size is not. */
	cfg1_write(f, TEST_DEVFN, msix + PCI_MSIX_FLAGS, 2, 0xffff);
	assert_int_equal(cfg1_read(f, TEST_DEVFN, msix + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | 3);
}

static void test_multifunction_and_unplug(void **state)
{
	struct fixture *f = *state;
	struct testfn fn1;
	uint64_t a0, a0_fn1;
	uint32_t v;

	testfn_build(&fn1);
	plug_testfn(f);
	assert_int_equal(ecam_read(f, TEST_DEVFN, PCI_HEADER_TYPE, 1), 0x00);
	assert_int_equal(pci_bus_plug(&f->bus, TEST_SLOT, 1, &tf_ops, &fn1, "fn1"), 0);
	/* Function 0 now says multi-function, so software scans 1-7. */
	assert_int_equal(ecam_read(f, TEST_DEVFN, PCI_HEADER_TYPE, 1), 0x80);
	assert_int_equal(cfg1_read(f, TEST_DEVFN, PCI_CACHE_LINE_SIZE, 4) >> 16, 0x80);
	assert_int_equal(ecam_read(f, TEST_DEVFN | 1, PCI_HEADER_TYPE, 1), 0x00);
	/* The second function got BARs of its own. */
	a0 = bar0_addr(f);
	a0_fn1 = ecam_read(f, TEST_DEVFN | 1, bar_reg(0), 4) & ~0xfu;
	assert_true(a0_fn1 && a0_fn1 != a0);

	ecam_write(f, TEST_DEVFN | 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(mmio_read32(f, a0_fn1, &v), 0);
	assert_int_equal(pci_bus_unplug(&f->bus, TEST_SLOT, 1), 0);
	assert_int_equal(pci_bus_unplug(&f->bus, TEST_SLOT, 1), -ENOENT);
	assert_false(fn1.mapped[0]);
	assert_int_equal(mmio_read32(f, a0_fn1, &v), -ENOENT);
	assert_int_equal(ecam_read(f, TEST_DEVFN | 1, PCI_VENDOR_ID, 4), 0xffffffffu);
	assert_int_equal(ecam_read(f, TEST_DEVFN, PCI_HEADER_TYPE, 1), 0x00);
}

/* ---- a slow function stalls no other ----------------------------------------- */

/* A function whose BAR accesses wait until the test lets them go (a card at its deadline). */
struct slowfn {
	struct testfn t;
	pthread_mutex_t m;
	pthread_cond_t c;
	bool inside, release;
};

static void slow_bar_access(void *opaque, unsigned bar, uint64_t offset, void *data,
			    uint32_t len, bool is_write)
{
	struct slowfn *s = opaque;

	pthread_mutex_lock(&s->m);
	s->inside = true;
	pthread_cond_broadcast(&s->c);
	while (!s->release)
		pthread_cond_wait(&s->c, &s->m);
	pthread_mutex_unlock(&s->m);
	tf_bar_access(&s->t, bar, offset, data, len, is_write);
}

static const struct pci_function_ops slow_ops = {
	.cfg_read = tf_cfg_read,
	.cfg_write = tf_cfg_write,
	.bar_access = slow_bar_access,
	.bar_desc = tf_bar_desc,
	.bar_mapped = tf_bar_mapped,
};

struct slow_access {
	struct fixture *f;
	uint64_t addr;
	uint32_t v;
	int ret;
};

static void *slow_reader(void *arg)
{
	struct slow_access *a = arg;

	a->ret = mmio_read32(a->f, a->addr, &a->v);
	return NULL;
}

static bool unplugged;

static void *unplugger(void *arg)
{
	struct fixture *f = arg;

	assert_int_equal(pci_bus_unplug(&f->bus, TEST_SLOT + 1, 0), 0);
	__atomic_store_n(&unplugged, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * While one function's BAR access waits on its card, another function's
 * config space, BAR moves and BAR accesses go on; unplugging the slow one
 * returns only once its access has ended.
 */
static void test_slow_function_stalls_no_other(void **state)
{
	struct fixture *f = *state;
	static struct slowfn s = { .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER };
	const unsigned slow_devfn = (TEST_SLOT + 1) << 3;
	struct slow_access a = { .f = f };
	pthread_t reader, remover;
	uint32_t v = 0;

	testfn_build(&s.t);
	plug_testfn(f);
	assert_int_equal(pci_bus_plug(&f->bus, TEST_SLOT + 1, 0, &slow_ops, &s, "slow"), 0);
	ecam_write(f, slow_devfn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	a.addr = ecam_read(f, slow_devfn, bar_reg(0), 4) & ~0xfu;
	assert_int_equal(pthread_create(&reader, NULL, slow_reader, &a), 0);
	pthread_mutex_lock(&s.m);
	while (!s.inside)
		pthread_cond_wait(&s.c, &s.m);
	pthread_mutex_unlock(&s.m);

	/* The other function: config reads and writes, a BAR enabled and moved, BAR I/O. */
	assert_int_equal(ecam_read(f, TEST_DEVFN, PCI_VENDOR_ID, 2), TEST_VENDOR);
	ecam_write(f, TEST_DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(mmio_read32(f, bar0_addr(f) + 8, &v), 0);
	assert_int_equal(v, 0xb0000008u);
	ecam_write(f, TEST_DEVFN, bar_reg(0), 4, 0xe0100000u);
	assert_int_equal(bar0_addr(f), 0xe0100000u);
	assert_int_equal(mmio_read32(f, 0xe0100000u + 4, &v), 0);
	assert_int_equal(v, 0xb0000004u);

	/* Unplugging the slow one waits for its access. */
	assert_int_equal(pthread_create(&remover, NULL, unplugger, f), 0);
	usleep(50 * 1000);
	assert_false(__atomic_load_n(&unplugged, __ATOMIC_SEQ_CST));
	pthread_mutex_lock(&s.m);
	s.release = true;
	pthread_cond_broadcast(&s.c);
	pthread_mutex_unlock(&s.m);
	assert_int_equal(pthread_join(reader, NULL), 0);
	assert_int_equal(pthread_join(remover, NULL), 0);
	assert_true(unplugged);
	assert_int_equal(a.ret, 0);
	assert_int_equal(a.v, 0xb0000000u);
	assert_int_equal(mmio_read32(f, a.addr, &v), -ENOENT);
}

static void test_plug_limits(void **state)
{
	struct fixture *f = *state;
	struct pci_function_ops bad_ops = tf_ops;

	assert_int_equal(pci_bus_plug(&f->bus, 32, 0, &tf_ops, &f->fn, "x"), -EINVAL);
	assert_int_equal(pci_bus_plug(&f->bus, 1, 8, &tf_ops, &f->fn, "x"), -EINVAL);
	assert_int_equal(pci_bus_plug(&f->bus, 0, 0, &tf_ops, &f->fn, "x"), -EBUSY);
	plug_testfn(f);
	assert_int_equal(pci_bus_plug(&f->bus, TEST_SLOT, 0, &tf_ops, &f->fn, "x"),
			 -EBUSY);
	/* A function describing a BAR that PCI cannot have is turned away. */
	f->fn.cfg.bars[4] = (struct pci_bar_desc){ .size = 0x3000 };
	assert_int_equal(pci_bus_plug(&f->bus, 4, 0, &tf_ops, &f->fn, "x"), -EINVAL);
	assert_int_equal(ecam_read(f, 4 << 3, PCI_VENDOR_ID, 4), 0xffffffffu);
	bad_ops.bar_access = NULL;
	f->fn.cfg.bars[4] = (struct pci_bar_desc){ 0 };
	assert_int_equal(pci_bus_plug(&f->bus, 4, 0, &bad_ops, &f->fn, "x"), -EINVAL);
	/* The 32-bit window holds 512 MiB: a 1 GiB BAR does not fit. */
	f->fn.cfg.bars[4] = (struct pci_bar_desc){ .size = 1ULL << 30 };
	assert_int_equal(pci_bus_plug(&f->bus, 4, 0, &tf_ops, &f->fn, "x"), -ENOSPC);
}

static void test_config_bar_validation(void **state)
{
	struct pci_config cfg;

	(void)state;
	assert_int_equal(pci_config_init(&cfg, 512, 1, 2, 0, 0), -EINVAL);
	assert_int_equal(pci_config_init(&cfg, PCI_CFG_SPACE_SIZE, 1, 2, 0, 0), 0);
	assert_int_equal(pci_config_set_bar(&cfg, 0, &(struct pci_bar_desc){
		.size = 0x1800 }), -EINVAL);
	assert_int_equal(pci_config_set_bar(&cfg, 0, &(struct pci_bar_desc){
		.size = 8 }), -EINVAL);
	assert_int_equal(pci_config_set_bar(&cfg, 0, &(struct pci_bar_desc){
		.size = 512, .io = true }), -EINVAL);
	assert_int_equal(pci_config_set_bar(&cfg, 5, &(struct pci_bar_desc){
		.size = 0x1000, .mem64 = true }), -EINVAL);
	assert_int_equal(pci_config_set_bar(&cfg, 6, &(struct pci_bar_desc){
		.size = 0x1000 }), -EINVAL);
	/* Capabilities must fit below 0x100. */
	for (int i = 0; i < 12; i++)
		assert_true(pci_config_add_cap(&cfg, PCI_CAP_ID_VNDR, 16) > 0);
	assert_int_equal(pci_config_add_cap(&cfg, PCI_CAP_ID_VNDR, 16), -ENOSPC);
	assert_int_equal(pci_config_get(&cfg, 0xf0 + PCI_CAP_LIST_NEXT, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_bridge_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_functions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_address_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_offsets_and_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw1c_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_assignment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_maps_bars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_overlap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_function_stalls_no_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multifunction_and_unplug, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plug_limits, setup, teardown),
		cmocka_unit_test(test_config_bar_validation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
