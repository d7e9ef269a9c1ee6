/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-hv's vfio-user client against a real card process: build/tests/tools/
 * vfu_testdev (cards/ebs/vfio_server) on a UNIX socket, plugged into a real
 * PCI bus of a real KVM VM with an in-kernel irqchip.  Config and BAR
 * accesses go through the bus as the guest's would (ECAM, MMIO dispatch);
 * the doorbell is written by guest code on a vCPU, so it proves the
 * ioeventfd; interrupts show up in the vCPU's LAPIC IRR.  Skipped where
 * /dev/kvm is absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/kvm.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "guest-abi/cv_platform.h"
#include "hv/iobus.h"
#include "hv/irq.h"
#include "hv/pci.h"
#include "hv/vfio_user.h"
#include "tests/tools/vfu_testdev.h"
#include "tests/unit/fixture.h"
#include "tools/lib/crc32c.h"

#define SLOT       4
#define DEVFN      (SLOT << 3)
#define MSI_ADDR   0xfee00000ULL  /* physical destination, APIC ID 0 */
#define CODE_GPA   0x1000
#define DMA_GPA    0x200000
#define MSIX_CAP   0x40           /* the test card's only capability */

struct fixture {
	struct fixture_vm vm;
	char dir[32], sock[64];
	pid_t card;
	struct vfio_user_dev *dev;
};

/* build/tests/test_vfio_user -> build/tests/tools/vfu_testdev */
static void testdev_path(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	assert_true(n > 0);
	self[n] = '\0';
	snprintf(out, size, "%s/tools/vfu_testdev", dirname(self));
}

/* Start the card and wait for its "ready" line (bounded by the card's own alarm). */
static void card_start(struct fixture *f)
{
	char path[PATH_MAX], line[16] = "";
	int pipefd[2];
	struct pollfd p;

	testdev_path(path, sizeof(path));
	assert_int_equal(access(path, X_OK), 0);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	f->card = fork();
	assert_true(f->card >= 0);
	if (!f->card) {
		dup2(pipefd[1], STDOUT_FILENO);
		execl(path, path, f->sock, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	p = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 30000), 1);
	assert_true(read(pipefd[0], line, sizeof(line) - 1) > 0);
	assert_non_null(strstr(line, "ready"));
	close(pipefd[0]);
}

static void card_kill(struct fixture *f)
{
	if (f->card > 0) {
		kill(f->card, SIGKILL);
		waitpid(f->card, NULL, 0);
		f->card = 0;
	}
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct vfio_user_params p;

	*state = NULL;
	signal(SIGPIPE, SIG_IGN);
	if (!fixture_vm_create(&f->vm, 64 * MIB)) {
		test_free(f);
		return 0;
	}
	strcpy(f->dir, "/tmp/cv-vfu-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/card.sock", f->dir);
	card_start(f);
	p = (struct vfio_user_params){
		.socket_path = f->sock, .name = "vfu-testdev", .vm_fd = f->vm.vm_fd,
		.mem = &f->vm.mem, .irq = &f->vm.irq,
	};
	assert_int_equal(vfio_user_dev_open(&f->dev, &p), 0);
	assert_int_equal(vfio_user_dev_plug(f->dev, &f->vm.bus, SLOT, 0), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	vfio_user_dev_close(f->dev);
	card_kill(f);
	unlink(f->sock);
	rmdir(f->dir);
	fixture_vm_destroy(&f->vm);
	test_free(f);
	return 0;
}

static struct fixture *fixture(void **state)
{
	if (!*state)
		skip();
	return *state;
}

/* ---- the guest's view -------------------------------------------------------- */

#define cfg_read(f, reg, len)     fixture_cfg_read(&(f)->vm, DEVFN, reg, len)
#define cfg_write(f, reg, len, v) fixture_cfg_write(&(f)->vm, DEVFN, reg, len, v)

static uint64_t bar0(struct fixture *f)
{
	return cfg_read(f, PCI_BASE_ADDRESS_0, 4) & PCI_BASE_ADDRESS_MEM_MASK;
}

static void enable_memory(struct fixture *f)
{
	cfg_write(f, PCI_COMMAND, 2, cfg_read(f, PCI_COMMAND, 2) | PCI_COMMAND_MEMORY);
}

static uint32_t mmio_read(struct fixture *f, uint64_t off)
{
	uint32_t v = 0;

	assert_int_equal(iobus_dispatch(&f->vm.mmio, bar0(f) + off, &v, 4, false), 0);
	return v;
}

static void mmio_write(struct fixture *f, uint64_t off, uint32_t v)
{
	assert_int_equal(iobus_dispatch(&f->vm.mmio, bar0(f) + off, &v, 4, true), 0);
}

static bool irr(struct fixture *f, unsigned vector)
{
	return fixture_lapic_irr(&f->vm, vector);
}

/*
 * Run "mov dword [@addr], @val; out 0x80, al" in flat 32-bit protected
 * mode.  Returns how many MMIO exits it took (dispatched on the bus, as
 * cv-hv does) before the port write: 0 when an ioeventfd took the store.
 */
static unsigned guest_store(struct fixture *f, uint32_t addr, uint32_t val)
{
	uint8_t code[] = { 0xc7, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0xe6, 0x80, 0xf4 };
	struct kvm_segment cs = { .base = 0, .limit = 0xffffffff, .selector = 8,
				  .type = 0xb, .present = 1, .s = 1, .db = 1, .g = 1 };
	struct kvm_segment ds = cs;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2 };
	unsigned mmio_exits = 0;

	memcpy(&code[2], &addr, 4);
	memcpy(&code[6], &val, 4);
	assert_int_equal(guest_mem_write(&f->vm.mem, CODE_GPA, code, sizeof(code)), 0);
	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	ds.type = 0x3;
	ds.selector = 0x10;
	sregs.cs = cs;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = ds;
	sregs.cr0 |= 1;  /* PE, no paging */
	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_SET_REGS, &regs), 0);
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_RUN, 0), 0);
		if (f->vm.run->exit_reason == KVM_EXIT_IO) {
			assert_int_equal(f->vm.run->io.port, 0x80);
			return mmio_exits;
		}
		assert_int_equal(f->vm.run->exit_reason, KVM_EXIT_MMIO);
		mmio_exits++;
		iobus_dispatch(&f->vm.mmio, f->vm.run->mmio.phys_addr, f->vm.run->mmio.data,
			       f->vm.run->mmio.len, f->vm.run->mmio.is_write);
	}
	fail_msg("the guest never reached its port write");
	return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_config_space_from_card(void **state)
{
	struct fixture *f = fixture(state);
	uint64_t addr;

	assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 2), TD_VENDOR);
	assert_int_equal(cfg_read(f, PCI_DEVICE_ID, 2), TD_DEVICE);
	assert_int_equal(cfg_read(f, PCI_CLASS_REVISION, 4), TD_CLASS << 8 | TD_REVISION);
	/* The bus placed BAR0 through the socket, in the 32-bit window. */
	addr = bar0(f);
	assert_true(addr >= CV_PCI_MMIO32_START && addr < CV_PCI_MMIO32_END);
	assert_int_equal(addr % TD_BAR0_SIZE, 0);
	/* BAR sizing is the card's config space answering. */
	cfg_write(f, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, PCI_BASE_ADDRESS_0, 4), (uint32_t)-TD_BAR0_SIZE);
	cfg_write(f, PCI_BASE_ADDRESS_0, 4, (uint32_t)addr);
	/* The MSI-X capability, as the card wrote it. */
	assert_true(cfg_read(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg_read(f, PCI_CAPABILITY_LIST, 1), MSIX_CAP);
	assert_int_equal(cfg_read(f, MSIX_CAP, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_read(f, MSIX_CAP + PCI_MSIX_FLAGS, 2), TD_VECTORS - 1);
	assert_int_equal(cfg_read(f, MSIX_CAP + PCI_MSIX_TABLE, 4), TD_MSIX_TABLE);
	assert_int_equal(cfg_read(f, MSIX_CAP + PCI_MSIX_PBA, 4), TD_MSIX_PBA);
	/* A conventional function's extended space reads as all ones. */
	assert_int_equal(cfg_read(f, 0x100, 4), 0xffffffffu);
	assert_false(vfio_user_dev_dead(f->dev));
}

static void test_bar_access_forwarded(void **state)
{
	struct fixture *f = fixture(state);
	uint32_t v = 0;

	/* Decoding off: nothing is mapped, the bus answers all ones. */
	assert_int_equal(iobus_dispatch(&f->vm.mmio, bar0(f) + TD_SCRATCH0, &v, 4, false),
			 -ENOENT);
	enable_memory(f);
	assert_int_equal(mmio_read(f, TD_SCRATCH0), 0);
	mmio_write(f, TD_SCRATCH0, 0xdeadbeef);
	mmio_write(f, TD_SCRATCH1, 0x12345678);
	assert_int_equal(mmio_read(f, TD_SCRATCH0), 0xdeadbeef);
	assert_int_equal(mmio_read(f, TD_SCRATCH1), 0x12345678);
	/* An access the card refuses reads as all ones, and the card lives on. */
	assert_int_equal(iobus_dispatch(&f->vm.mmio, bar0(f) + TD_SCRATCH0, &v, 2, false), 0);
	assert_int_equal(v & 0xffff, 0xffff);
	assert_int_equal(mmio_read(f, TD_SCRATCH0), 0xdeadbeef);
	assert_false(vfio_user_dev_dead(f->dev));
}

static void test_doorbell_is_ioeventfd(void **state)
{
	struct fixture *f = fixture(state);
	uint64_t old, moved;

	enable_memory(f);
	old = bar0(f);
	/* The guest's store lands in the card without an exit or a message. */
	assert_int_equal(guest_store(f, (uint32_t)(old + TD_DOORBELL), 1), 0);
	assert_int_equal(guest_store(f, (uint32_t)(old + TD_DOORBELL), 0xabc), 0);
	assert_int_equal(mmio_read(f, TD_DOORBELLS), 2);
	assert_int_equal(mmio_read(f, TD_DOORBELLS_SOCKET), 0);
	/* The guest moves the BAR: the ioeventfd follows it. */
	moved = old + 0x100000;
	cfg_write(f, PCI_BASE_ADDRESS_0, 4, (uint32_t)moved);
	assert_int_equal(bar0(f), moved);
	assert_int_equal(guest_store(f, (uint32_t)(moved + TD_DOORBELL), 1), 0);
	assert_int_equal(mmio_read(f, TD_DOORBELLS), 3);
	/* Nothing decodes the old address any more: an ordinary MMIO exit. */
	assert_int_equal(guest_store(f, (uint32_t)(old + TD_DOORBELL), 1), 1);
	assert_int_equal(mmio_read(f, TD_DOORBELLS), 3);
	/* Decoding off takes it away too; back on restores it. */
	cfg_write(f, PCI_COMMAND, 2, 0);
	assert_int_equal(guest_store(f, (uint32_t)(moved + TD_DOORBELL), 1), 1);
	enable_memory(f);
	assert_int_equal(guest_store(f, (uint32_t)(moved + TD_DOORBELL), 1), 0);
	assert_int_equal(mmio_read(f, TD_DOORBELLS), 4);
	assert_int_equal(mmio_read(f, TD_DOORBELLS_SOCKET), 0);
}

/*
 * The card withdraws the doorbell's ioeventfd (as cv-ebs does until
 * Doorbell Buffer Config) and offers it again: cv-hv asks after each write
 * it forwards, so the guest's stores exit and reach the card with their
 * value in between, and go to the eventfd again after.
 */
static void test_doorbell_follows_card(void **state)
{
	struct fixture *f = fixture(state);
	uint32_t db;

	enable_memory(f);
	db = (uint32_t)(bar0(f) + TD_DOORBELL);
	assert_int_equal(guest_store(f, db, 1), 0);
	mmio_write(f, TD_DOORBELL_TRAPPED, 1);
	/* An exit, which cv-hv forwards with the value. */
	assert_int_equal(guest_store(f, db, 2), 1);
	assert_int_equal(mmio_read(f, TD_DOORBELLS_SOCKET), 1);
	mmio_write(f, TD_DOORBELL_TRAPPED, 0);
	assert_int_equal(guest_store(f, db, 3), 0);
	assert_int_equal(mmio_read(f, TD_DOORBELLS), 3);
	assert_int_equal(mmio_read(f, TD_DOORBELLS_SOCKET), 1);
}

static void dma(struct fixture *f, uint64_t addr, uint32_t len)
{
	mmio_write(f, TD_DMA_ADDR_LO, (uint32_t)addr);
	mmio_write(f, TD_DMA_ADDR_HI, (uint32_t)(addr >> 32));
	mmio_write(f, TD_DMA_LEN, len);
	mmio_write(f, TD_DMA_GO, 1);
}

static void test_card_reads_guest_memory(void **state)
{
	struct fixture *f = fixture(state);
	uint8_t buf[4096];

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(guest_mem_write(&f->vm.mem, DMA_GPA, buf, sizeof(buf)), 0);
	enable_memory(f);
	dma(f, DMA_GPA, sizeof(buf));
	assert_int_equal(mmio_read(f, TD_DMA_STATUS), 0);
	assert_int_equal(mmio_read(f, TD_DMA_RESULT), crc32c(0, buf, sizeof(buf)));
	/* The card sees the guest's later writes: the same pages, not a copy. */
	buf[100] ^= 0xff;
	assert_int_equal(guest_mem_write(&f->vm.mem, DMA_GPA + 100, &buf[100], 1), 0);
	dma(f, DMA_GPA, sizeof(buf));
	assert_int_equal(mmio_read(f, TD_DMA_RESULT), crc32c(0, buf, sizeof(buf)));
	/* Past the end of RAM, across it, and in the PCI hole: refused. */
	dma(f, 64 * MIB, 16);
	assert_int_equal(mmio_read(f, TD_DMA_STATUS), 1);
	dma(f, 64 * MIB - 8, 16);
	assert_int_equal(mmio_read(f, TD_DMA_STATUS), 1);
	dma(f, CV_PCI_HOLE_START, 4);
	assert_int_equal(mmio_read(f, TD_DMA_STATUS), 1);
	dma(f, 64 * MIB - 16, 16);
	assert_int_equal(mmio_read(f, TD_DMA_STATUS), 0);
}

static uint64_t entry(unsigned v, unsigned field)
{
	return TD_MSIX_TABLE + v * PCI_MSIX_ENTRY_SIZE + field;
}

/* Address and data while masked, as Linux does; MSI-X enabled in config. */
static void msix_program(struct fixture *f, unsigned v, uint32_t data)
{
	mmio_write(f, entry(v, PCI_MSIX_ENTRY_LOWER_ADDR), (uint32_t)MSI_ADDR);
	mmio_write(f, entry(v, PCI_MSIX_ENTRY_UPPER_ADDR), 0);
	mmio_write(f, entry(v, PCI_MSIX_ENTRY_DATA), data);
	cfg_write(f, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
}

static void msix_mask(struct fixture *f, unsigned v, bool masked)
{
	mmio_write(f, entry(v, PCI_MSIX_ENTRY_VECTOR_CTRL),
		   masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

/* The card signals @v; its vfio_server_irq() result. */
static int32_t card_irq(struct fixture *f, unsigned v)
{
	mmio_write(f, TD_IRQ, v);
	return (int32_t)mmio_read(f, TD_IRQ_RESULT);
}

static void test_msix_irqfd(void **state)
{
	struct fixture *f = fixture(state);

	enable_memory(f);
	msix_program(f, 0, 0x51);
	/* The table is cv-hv's: the card's Enable bit went through config. */
	assert_int_equal(cfg_read(f, MSIX_CAP + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_ENABLE | (TD_VECTORS - 1));
	assert_int_equal(mmio_read(f, entry(0, PCI_MSIX_ENTRY_DATA)), 0x51);
	msix_mask(f, 0, false);
	assert_false(irr(f, 0x51));
	/* The card's eventfd write is the interrupt: KVM irqfd, no cv-hv code. */
	assert_int_equal(card_irq(f, 0), 0);
	assert_true(irr(f, 0x51));
	/* Out of range for the card. */
	assert_int_equal(card_irq(f, TD_VECTORS), -EINVAL);
}

static void test_msix_masking(void **state)
{
	struct fixture *f = fixture(state);

	enable_memory(f);
	msix_program(f, 1, 0x52);
	/* Masked (as out of reset): the signal waits in the PBA. */
	assert_int_equal(card_irq(f, 1), 0);
	assert_false(irr(f, 0x52));
	assert_int_equal(mmio_read(f, TD_MSIX_PBA), 1u << 1);
	assert_false(irr(f, 0x52));
	/* Unmasking delivers it once and clears the pending bit. */
	msix_mask(f, 1, false);
	assert_true(irr(f, 0x52));
	assert_int_equal(mmio_read(f, TD_MSIX_PBA), 0);

	/* Masked again after use, with a new message: still held back. */
	msix_mask(f, 1, true);
	mmio_write(f, entry(1, PCI_MSIX_ENTRY_DATA), 0x53);
	assert_int_equal(card_irq(f, 1), 0);
	assert_false(irr(f, 0x53));
	msix_mask(f, 1, false);
	assert_true(irr(f, 0x53));

	/* Function Mask holds every vector the same way, pending seen on unmask. */
	cfg_write(f, MSIX_CAP + PCI_MSIX_FLAGS, 2,
		  PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	mmio_write(f, entry(1, PCI_MSIX_ENTRY_DATA), 0x54);
	assert_int_equal(card_irq(f, 1), 0);
	assert_false(irr(f, 0x54));
	cfg_write(f, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_true(irr(f, 0x54));
	assert_int_equal(mmio_read(f, TD_MSIX_PBA), 0);
}

static void test_card_death(void **state)
{
	struct fixture *f = fixture(state);
	uint64_t addr;
	uint32_t v = 0;

	enable_memory(f);
	addr = bar0(f);
	assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 4), TD_DEVICE << 16 | TD_VENDOR);
	mmio_write(f, TD_SCRATCH0, 0x600d);
	card_kill(f);
	/* Its BAR reads all ones, and the function is known dead. */
	assert_int_equal(iobus_dispatch(&f->vm.mmio, addr + TD_SCRATCH0, &v, 4, false), 0);
	assert_int_equal(v, 0xffffffffu);
	assert_true(vfio_user_dev_dead(f->dev));
	/* Config space the guest saw is still there for a rescan; the rest is all ones. */
	assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 4), TD_DEVICE << 16 | TD_VENDOR);
	assert_int_equal(bar0(f), addr);
	assert_int_equal(cfg_read(f, PCI_INTERRUPT_PIN, 1), 0xff);
	/* Writes vanish: decoding stays as it was, and nothing else is affected. */
	v = 1;
	assert_int_equal(iobus_dispatch(&f->vm.mmio, addr + TD_SCRATCH0, &v, 4, true), 0);
	cfg_write(f, PCI_COMMAND, 2, 0);
	assert_true(cfg_read(f, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
	assert_int_equal(iobus_dispatch(&f->vm.mmio, addr + TD_SCRATCH0, &v, 4, false), 0);
	assert_int_equal(v, 0xffffffffu);
	assert_int_equal(iobus_dispatch(&f->vm.mmio, CV_PCI_ECAM_START + PCI_VENDOR_ID, &v, 2,
					false), 0);
	assert_int_not_equal(v & 0xffff, 0xffff);  /* the host bridge still answers */
}

/* The monitor reconnects on its own; bounded so a broken one fails, not hangs. */
static bool wait_alive(struct fixture *f)
{
	for (unsigned i = 0; i < 1000; i++) {
		if (!vfio_user_dev_dead(f->dev))
			return true;
		usleep(10000);
	}
	return false;
}

static void test_card_restart(void **state)
{
	struct fixture *f = fixture(state);
	uint64_t moved;
	uint8_t buf[4096];
	uint32_t v = 0;

	/* The guest's state before the crash: a moved BAR, decoding, MSI-X on. */
	enable_memory(f);
	moved = bar0(f) + 0x100000;
	cfg_write(f, PCI_BASE_ADDRESS_0, 4, (uint32_t)moved);
	msix_program(f, 0, 0x51);
	msix_mask(f, 0, false);
	mmio_write(f, TD_SCRATCH0, 0x600d);

	card_kill(f);
	assert_int_equal(iobus_dispatch(&f->vm.mmio, moved + TD_SCRATCH0, &v, 4, false), 0);
	assert_int_equal(v, 0xffffffffu);
	assert_true(vfio_user_dev_dead(f->dev));

	/* A new card on the same socket, as cardvisor restarts one. */
	card_start(f);
	assert_true(wait_alive(f));
	/* Its config space got cv-hv's replay: read from the card, not the shadow. */
	assert_int_equal(bar0(f), moved);
	assert_true(cfg_read(f, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
	assert_int_equal(cfg_read(f, MSIX_CAP + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_ENABLE | (TD_VECTORS - 1));
	/* A fresh card behind the same BAR address. */
	assert_int_equal(mmio_read(f, TD_SCRATCH0), 0);
	mmio_write(f, TD_SCRATCH0, 0xfeed);
	assert_int_equal(mmio_read(f, TD_SCRATCH0), 0xfeed);
	/* Its doorbell is an ioeventfd at the BAR's current address. */
	assert_int_equal(guest_store(f, (uint32_t)(moved + TD_DOORBELL), 1), 0);
	assert_int_equal(mmio_read(f, TD_DOORBELLS), 1);
	assert_int_equal(mmio_read(f, TD_DOORBELLS_SOCKET), 0);
	/* It reaches guest memory again ... */
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(guest_mem_write(&f->vm.mem, DMA_GPA, buf, sizeof(buf)), 0);
	dma(f, DMA_GPA, sizeof(buf));
	assert_int_equal(mmio_read(f, TD_DMA_STATUS), 0);
	assert_int_equal(mmio_read(f, TD_DMA_RESULT), crc32c(0, buf, sizeof(buf)));
	/* ... and its interrupt is the same irqfd, the guest's MSI-X entry untouched. */
	assert_false(irr(f, 0x51));
	assert_int_equal(card_irq(f, 0), 0);
	assert_true(irr(f, 0x51));
}

static void test_open_fails_cleanly(void **state)
{
	struct fixture *f = fixture(state);
	struct vfio_user_dev *d = NULL;
	char long_path[200];
	struct vfio_user_params p = {
		.socket_path = long_path, .name = "nobody",
		.vm_fd = f->vm.vm_fd, .mem = &f->vm.mem, .irq = &f->vm.irq,
	};

	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	assert_int_equal(vfio_user_dev_open(&d, &p), -ENAMETOOLONG);
	assert_null(d);
	/* A second client on a card that has one is refused. */
	p.socket_path = f->sock;
	assert_int_not_equal(vfio_user_dev_open(&d, &p), 0);
	assert_null(d);
	/* ... and the first is still served. */
	assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 2), TD_VENDOR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_space_from_card, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_access_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doorbell_is_ioeventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doorbell_follows_card, setup, teardown),
		cmocka_unit_test_setup_teardown(test_card_reads_guest_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_irqfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_masking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_card_death, setup, teardown),
		cmocka_unit_test_setup_teardown(test_card_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails_cleanly, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
