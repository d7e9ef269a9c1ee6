/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-net PCI function (hv/virtio_pci.c) plugged into a real PCI bus
 * of a real KVM VM, with its vhost-user front-end (hv/vhost_user_client.c)
 * connected over a real UNIX socket to the VPC card's real back-end
 * (cards/vpc/vnet.c, echoing every frame back) running in a thread.  The
 * test plays the guest driver: it walks the capabilities through ECAM,
 * negotiates through the common configuration, lays the split rings in
 * guest memory, notifies through the notify BAR and sees the back-end's
 * interrupts arrive through the MSI-X irqfds in the vCPU's LAPIC IRR.
 * Skipped where /dev/kvm is absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/virtio_pci.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cards/vpc/vnet.h"
#include "guest-abi/cv_platform.h"
#include "guest-abi/pci_ids.h"
#include "guest-abi/virtio.h"
#include "hv/msix.h"
#include "hv/pci.h"
#include "hv/virtio_net.h"
#include "tests/unit/fixture.h"

#define SLOT 5
#define DEVFN (SLOT << 3)
#define MSI_ADDR 0xfee00000ULL
#define VEC_CONFIG 0x50 /* the LAPIC vector each MSI-X vector sends */
#define VEC_RX 0x51
#define VEC_TX 0x52
#define QSIZE 64
#define RING_GPA(q) (0x100000ULL + 0x10000ULL * (q)) /* desc, +0x1000 avail, +0x2000 used */
#define RX_BUF_GPA 0x200000ULL
#define TX_BUF_GPA 0x300000ULL
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define FRAME_LEN 60
#define WAIT_MS 10000 /* liveness bound only: a hung device fails, not a slow one */
#define CODE_GPA 0x1000ULL
#define TESTPMD_START_MS 30000

static const uint8_t mac[6] = { 0x02, 0xc0, 0xff, 0xee, 0x00, 0x01 };

struct backend {
	struct vnet net;
	pthread_t thread;
	bool stop;
};

struct fixture {
	struct fixture_vm vm;
	struct backend *be;
	char path[64];
	struct virtio_pci *vp;
	uint64_t bar4, bar1;
	unsigned common, isr, device, notify, notify_mult, pci_cfg, msix_cap;
	uint16_t avail_idx[2];
	pid_t pmd;          /* dpdk-testpmd, when a test runs it */
	bool pmd_passed;    /* else its log is shown */
	int pmd_stdin;      /* closing it makes testpmd exit */
	char pmd_path[64];
};

/* ---- the back-end: cards/vpc's vnet, echoing, in its own thread ---------- */

static void echo(void *opaque, const uint8_t *frame, size_t len)
{
	struct backend *b = opaque;

	vnet_rx(&b->net, frame, len);
}

static void *backend_loop(void *arg)
{
	struct backend *b = arg;

	while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = { .fd = vnet_fd(&b->net), .events = POLLIN };

		if (poll(&pfd, 1, 20) > 0)
			vnet_process(&b->net);
	}
	return NULL;
}

static void backend_start_at(struct fixture *f, const char *path)
{
	struct vnet_config cfg = { .path = path, .pairs = 1, .tx = echo };

	f->be = calloc(1, sizeof(*f->be));
	assert_non_null(f->be);
	cfg.opaque = f->be;
	assert_int_equal(vnet_open(&f->be->net, &cfg), 0);
	assert_int_equal(pthread_create(&f->be->thread, NULL, backend_loop, f->be), 0);
}

static void backend_start(struct fixture *f)
{
	backend_start_at(f, f->path);
}

static void backend_stop(struct fixture *f)
{
	__atomic_store_n(&f->be->stop, true, __ATOMIC_RELEASE);
	pthread_join(f->be->thread, NULL);
	vnet_close(&f->be->net);
	free(f->be);
	f->be = NULL;
}

/*
 * Another vhost-user-net back-end: DPDK's vhost PMD in dpdk-testpmd, io
 * forwarding on one port looped to itself, so every frame comes back.
 * Its stdin is a pipe: testpmd runs until it reads end of file.
 */
static bool testpmd_start(struct fixture *f)
{
	char vdev[128], prefix[32], log[sizeof(f->pmd_path) + 4];
	int in[2];

	if (getuid() != 0 || system("command -v dpdk-testpmd >/dev/null 2>&1") != 0)
		return false;
	snprintf(f->pmd_path, sizeof(f->pmd_path), "/tmp/cv-vp-dpdk.%d.sock", getpid());
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=1", f->pmd_path);
	snprintf(prefix, sizeof(prefix), "cv-vp-%d", getpid());
	snprintf(log, sizeof(log), "%s.log", f->pmd_path);
	unlink(f->pmd_path);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	f->pmd = fork();
	assert_true(f->pmd >= 0);
	if (!f->pmd) {
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		dup2(in[0], 0);
		dup2(out, 1);
		dup2(out, 2);
		execlp("timeout", "timeout", "--kill-after=5", "120", "dpdk-testpmd",
		       "-l", "0-1", "--no-huge", "-m", "256", "--no-pci", "--file-prefix",
		       prefix, "--vdev", vdev, "--", "--port-topology=loop",
		       "--forward-mode=io", "--total-num-mbufs=2048", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	f->pmd_stdin = in[1];
	for (int i = 0; i < TESTPMD_START_MS / 10 && access(f->pmd_path, F_OK); i++)
		usleep(10000);
	if (access(f->pmd_path, F_OK))
		fail_msg("dpdk-testpmd made no socket (its log follows)");
	return true;
}

static void testpmd_stop(struct fixture *f)
{
	char cmd[160];
	int st;

	close(f->pmd_stdin);
	for (int i = 0; i < 500 && waitpid(f->pmd, &st, WNOHANG) == 0; i++)
		usleep(10000);
	if (kill(f->pmd, 0) == 0) {
		kill(f->pmd, SIGTERM);
		waitpid(f->pmd, &st, 0);
	}
	snprintf(cmd, sizeof(cmd), "tail -n 25 %s.log | sed 's/^/# testpmd: /'", f->pmd_path);
	if (!f->pmd_passed && system(cmd))
		printf("# no testpmd log\n");
	snprintf(cmd, sizeof(cmd), "%s.log", f->pmd_path);
	unlink(cmd);
	unlink(f->pmd_path);
	f->pmd = 0;
}

/* ---- set-up: VM with one vCPU whose LAPIC takes fixed interrupts -------- */

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	*state = NULL;
	if (!fixture_vm_create(&f->vm, CV_MEM_MIN)) {
		test_free(f);
		return 0;
	}
	snprintf(f->path, sizeof(f->path), "/tmp/cv-vp-test.%d.sock", getpid());
	backend_start(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	if (f->vp)
		virtio_pci_unplug(f->vp);
	if (f->pmd > 0)
		testpmd_stop(f);
	if (f->be)
		backend_stop(f);
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

/* ---- guest-side accessors --------------------------------------------- */

#define cfg_read(f, reg, len)     fixture_cfg_read(&(f)->vm, DEVFN, reg, len)
#define cfg_write(f, reg, len, v) fixture_cfg_write(&(f)->vm, DEVFN, reg, len, v)

static uint64_t mmio_read(struct fixture *f, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	assert_int_equal(iobus_dispatch(&f->vm.mmio, addr, &v, len, false), 0);
	return v;
}

static void mmio_write(struct fixture *f, uint64_t addr, uint32_t len, uint64_t v)
{
	assert_int_equal(iobus_dispatch(&f->vm.mmio, addr, &v, len, true), 0);
}

static uint64_t common_rd(struct fixture *f, unsigned off, uint32_t len)
{
	return mmio_read(f, f->bar4 + f->common + off, len);
}

static void common_wr(struct fixture *f, unsigned off, uint32_t len, uint64_t v)
{
	mmio_write(f, f->bar4 + f->common + off, len, v);
}

static uint8_t status(struct fixture *f)
{
	return (uint8_t)common_rd(f, VIRTIO_PCI_COMMON_STATUS, 1);
}

static void status_set(struct fixture *f, uint8_t bits)
{
	common_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, status(f) | bits);
}

static void *gptr(struct fixture *f, uint64_t gpa)
{
	return guest_mem_ptr(&f->vm.mem, gpa, 1);
}

static bool irr(struct fixture *f, unsigned vector)
{
	return fixture_lapic_irr(&f->vm, vector);
}

/* Intel SDM Vol. 3A, "Local APIC Register Address Map". */
#define APIC_IRR 0x200

/* No vCPU runs to accept interrupts: clear the IRR to see the next one. */
static void irr_clear(struct fixture *f)
{
	struct kvm_lapic_state lapic;

	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_GET_LAPIC, &lapic), 0);
	for (unsigned i = 0; i < 8; i++)
		memset(&lapic.regs[APIC_IRR + 0x10 * i], 0, 4);
	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_SET_LAPIC, &lapic), 0);
}

#define WAIT_FOR(cond)                                                   \
	do {                                                             \
		for (int w_ = 0; w_ < WAIT_MS && !(cond); w_++)          \
			usleep(1000);                                    \
		assert_true(cond);                                       \
	} while (0)

/* ---- discovery, as a driver does it ------------------------------------ */

static uint64_t bar_addr(struct fixture *f, unsigned bar)
{
	uint64_t lo = cfg_read(f, PCI_BASE_ADDRESS_0 + 4 * bar, 4);

	if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
		lo |= (uint64_t)cfg_read(f, PCI_BASE_ADDRESS_0 + 4 * bar + 4, 4) << 32;
	return lo & PCI_BASE_ADDRESS_MEM_MASK;
}

static void plug_at(struct fixture *f, const char *path)
{
	unsigned ptr, hops = 0;

	assert_int_equal(virtio_net_pci_plug(&f->vp, &f->vm.bus, &f->vm.irq, &f->vm.mem, f->vm.vm_fd,
					     SLOT, path, mac), 0);
	cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	f->bar1 = bar_addr(f, 1);
	f->bar4 = bar_addr(f, 4);
	for (ptr = cfg_read(f, PCI_CAPABILITY_LIST, 1); ptr && hops++ < 48;
	     ptr = cfg_read(f, ptr + PCI_CAP_LIST_NEXT, 1)) {
		unsigned type = cfg_read(f, ptr + VIRTIO_PCI_CAP_CFG_TYPE, 1);
		unsigned off = cfg_read(f, ptr + VIRTIO_PCI_CAP_OFFSET, 4);

		if (cfg_read(f, ptr, 1) == PCI_CAP_ID_MSIX) {
			f->msix_cap = ptr;
			continue;
		}
		assert_int_equal(cfg_read(f, ptr, 1), PCI_CAP_ID_VNDR);
		if (type != VIRTIO_PCI_CAP_PCI_CFG)
			assert_int_equal(cfg_read(f, ptr + VIRTIO_PCI_CAP_BAR, 1), 4);
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG: f->common = off; break;
		case VIRTIO_PCI_CAP_ISR_CFG: f->isr = off; break;
		case VIRTIO_PCI_CAP_DEVICE_CFG: f->device = off; break;
		case VIRTIO_PCI_CAP_PCI_CFG: f->pci_cfg = ptr; break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			f->notify = off;
			f->notify_mult = cfg_read(f, ptr + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
			break;
		default: fail_msg("unexpected virtio capability type %u", type);
		}
	}
	assert_true(f->msix_cap && f->pci_cfg && f->notify_mult);
}

static void plug(struct fixture *f)
{
	plug_at(f, f->path);
}

/* ---- driver initialisation (§3.1.1) ------------------------------------ */

static uint64_t device_features(struct fixture *f)
{
	uint64_t feat;

	common_wr(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	feat = common_rd(f, VIRTIO_PCI_COMMON_DF, 4);
	common_wr(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	return feat | common_rd(f, VIRTIO_PCI_COMMON_DF, 4) << 32;
}

static void driver_features(struct fixture *f, uint64_t feat)
{
	common_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	common_wr(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)feat);
	common_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	common_wr(f, VIRTIO_PCI_COMMON_GF, 4, feat >> 32);
}

static void msix_setup(struct fixture *f)
{
	static const unsigned vec[] = { VEC_CONFIG, VEC_RX, VEC_TX };

	cfg_write(f, f->msix_cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	for (unsigned v = 0; v < 3; v++) {
		uint64_t e = f->bar1 + v * PCI_MSIX_ENTRY_SIZE;

		mmio_write(f, e + PCI_MSIX_ENTRY_LOWER_ADDR, 4, (uint32_t)MSI_ADDR);
		mmio_write(f, e + PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0);
		mmio_write(f, e + PCI_MSIX_ENTRY_DATA, 4, vec[v]);
		mmio_write(f, e + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	}
}

static void queue_setup(struct fixture *f, unsigned q)
{
	uint64_t ring = RING_GPA(q);

	memset(gptr(f, ring), 0, 0x3000);
	f->avail_idx[q] = 0;
	common_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	common_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
	common_wr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1 + q);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), 1 + q);
	common_wr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)ring);
	common_wr(f, VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
	/* A 64-bit access to a 64-bit field is taken too. */
	common_wr(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, ring + 0x1000);
	common_wr(f, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)(ring + 0x2000));
	common_wr(f, VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0);
	common_wr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
}

static void driver_init_with(struct fixture *f, uint64_t extra)
{
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |
			VIRTIO_BIT(VIRTIO_NET_F_STATUS) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			extra;

	common_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(status(f), 0);
	status_set(f, VIRTIO_STATUS_ACKNOWLEDGE);
	status_set(f, VIRTIO_STATUS_DRIVER);
	assert_int_equal(device_features(f) & want, want);
	driver_features(f, want);
	status_set(f, VIRTIO_STATUS_FEATURES_OK);
	assert_true(status(f) & VIRTIO_STATUS_FEATURES_OK);
	msix_setup(f);
	common_wr(f, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_MSIX, 2), 0);
	queue_setup(f, 0);
	queue_setup(f, 1);
	status_set(f, VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static void driver_init(struct fixture *f)
{
	driver_init_with(f, 0);
}

/* Make one buffer available on queue @q, as a driver would. */
static void post_quiet(struct fixture *f, unsigned q, uint64_t gpa, uint32_t len,
		       bool writable)
{
	uint64_t ring = RING_GPA(q);
	uint16_t slot = f->avail_idx[q] % QSIZE;
	struct virtq_desc *d = gptr(f, ring + slot * sizeof(*d));
	struct virtq_avail *a = gptr(f, ring + 0x1000);

	*d = (struct virtq_desc){ .addr = gpa, .len = len,
				  .flags = writable ? VIRTQ_DESC_F_WRITE : 0 };
	a->ring[slot] = slot;
	__atomic_store_n(&a->idx, ++f->avail_idx[q], __ATOMIC_RELEASE);
}

static uint64_t notify_addr(struct fixture *f, unsigned q)
{
	return f->bar4 + f->notify + q * f->notify_mult;
}

/* ... and notify through an MMIO exit (what KVM does without the ioeventfd). */
static void post(struct fixture *f, unsigned q, uint64_t gpa, uint32_t len, bool writable)
{
	post_quiet(f, q, gpa, len, writable);
	mmio_write(f, notify_addr(f, q), 2, q);
}

static uint16_t used_idx(struct fixture *f, unsigned q)
{
	struct virtq_used *u = gptr(f, RING_GPA(q) + 0x2000);

	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
}

/* An RX buffer, and a frame (a broadcast carrying @seed) ready to transmit. */
static void frame_prepare(struct fixture *f, uint8_t seed)
{
	uint8_t *tx = gptr(f, TX_BUF_GPA);

	memset(tx, 0, HDR_LEN);
	for (unsigned i = 0; i < FRAME_LEN; i++)
		tx[HDR_LEN + i] = i < 6 ? 0xff : (uint8_t)(seed + i);
	memset(gptr(f, RX_BUF_GPA), 0xaa, 2048);
	irr_clear(f);
	post(f, 0, RX_BUF_GPA, 2048, true);
}

/* The frame came back on receiveq1, and both queues interrupted. */
static void frame_check(struct fixture *f, uint16_t rx_used, uint16_t tx_used)
{
	uint8_t *tx = gptr(f, TX_BUF_GPA), *rx = gptr(f, RX_BUF_GPA);
	struct virtq_used *u = gptr(f, RING_GPA(0) + 0x2000);
	struct virtio_net_hdr_v1 hdr;

	WAIT_FOR(used_idx(f, 1) == (uint16_t)(tx_used + 1));
	WAIT_FOR(used_idx(f, 0) == (uint16_t)(rx_used + 1));
	assert_int_equal(u->ring[rx_used % QSIZE].len, HDR_LEN + FRAME_LEN);
	memcpy(&hdr, rx, HDR_LEN);
	assert_int_equal(hdr.num_buffers, 1);
	assert_memory_equal(rx + HDR_LEN, tx + HDR_LEN, FRAME_LEN);
	/* The back-end's calls reached the LAPIC through the irqfds. */
	WAIT_FOR(irr(f, VEC_RX));
	WAIT_FOR(irr(f, VEC_TX));
}

/* One frame out on transmitq1 comes back on receiveq1 through the echo. */
static void round_trip(struct fixture *f, uint8_t seed)
{
	uint16_t rx_used = used_idx(f, 0), tx_used = used_idx(f, 1);

	frame_prepare(f, seed);
	post(f, 1, TX_BUF_GPA, HDR_LEN + FRAME_LEN, false);
	frame_check(f, rx_used, tx_used);
}

/* ---- tests ------------------------------------------------------------- */

static void test_identity_and_caps(void **state)
{
	struct fixture *f = fixture(state);

	plug(f);
	assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 2), 0x1af4);
	/* §4.1.2.1: 0x1040 + 1 (network), revision 1: modern only. */
	assert_int_equal(cfg_read(f, PCI_DEVICE_ID, 2), 0x1041);
	assert_int_equal(cfg_read(f, PCI_REVISION_ID, 1), 1);
	assert_int_equal(cfg_read(f, PCI_CLASS_REVISION, 4) >> 8, PCI_CLASS_NETWORK_ETHERNET);
	assert_true(cfg_read(f, PCI_SUBSYSTEM_ID, 2) >= 0x40);
	/* BAR4 is a 64-bit memory BAR, as QEMU lays it out. */
	assert_int_equal(cfg_read(f, PCI_BASE_ADDRESS_4, 4) & PCI_BASE_ADDRESS_MEM_TYPE_MASK,
			 PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(f->notify_mult, 4);
	assert_int_equal(cfg_read(f, f->msix_cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, 2);
	assert_int_equal(cfg_read(f, f->msix_cap + PCI_MSIX_TABLE, 4), 1);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	for (unsigned q = 0; q < 2; q++) {
		common_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
		/* Each queue its own notify address. */
		assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_NOFF, 2), q);
	}
	/* §5.1.4: MAC from the plug parameters, link up with a back-end. */
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(mmio_read(f, f->bar4 + f->device + i, 1), mac[i]);
	assert_int_equal(mmio_read(f, f->bar4 + f->device + 6, 2), VIRTIO_NET_S_LINK_UP);
}

static void test_feature_negotiation(void **state)
{
	struct fixture *f = fixture(state);
	uint64_t feat;

	plug(f);
	feat = device_features(f);
	/* Back-end bits pass through; the front-end adds MAC and STATUS. */
	assert_true(feat & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(feat & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	assert_true(feat & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_MAC));
	assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_STATUS));
	/* cv-vpc's transmit offloads reach the driver; it offers none for receive. */
	assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
	assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4));
	assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6));
	assert_false(feat & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM));
	assert_false(feat & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4));
	/* vhost-user's own bit and what this transport cannot do stay hidden. */
	assert_false(feat & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	assert_false(feat & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ));
	assert_false(feat & VIRTIO_BIT(VIRTIO_F_RING_PACKED));

	status_set(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* A bit not offered: FEATURES_OK does not stick (§3.1.1 step 6). */
	driver_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_PACKED));
	status_set(f, VIRTIO_STATUS_FEATURES_OK);
	assert_false(status(f) & VIRTIO_STATUS_FEATURES_OK);
	/* Without VERSION_1 neither (§6.1). */
	driver_features(f, VIRTIO_BIT(VIRTIO_NET_F_MAC));
	status_set(f, VIRTIO_STATUS_FEATURES_OK);
	assert_false(status(f) & VIRTIO_STATUS_FEATURES_OK);
	/* DRIVER_OK before FEATURES_OK is refused. */
	status_set(f, VIRTIO_STATUS_DRIVER_OK);
	assert_false(status(f) & VIRTIO_STATUS_DRIVER_OK);
	driver_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC));
	status_set(f, VIRTIO_STATUS_FEATURES_OK);
	assert_true(status(f) & VIRTIO_STATUS_FEATURES_OK);
	/* Features are fixed from then on. */
	driver_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	common_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_GF, 4), 1);
	common_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_GF, 4), VIRTIO_BIT(VIRTIO_NET_F_MAC));
	/* Clearing a status bit without a reset is ignored; 0 resets. */
	common_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_true(status(f) & VIRTIO_STATUS_FEATURES_OK);
	common_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(status(f), 0);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_GF, 4), 0);
}

static void test_frame_round_trip(void **state)
{
	struct fixture *f = fixture(state);

	plug(f);
	driver_init(f);
	round_trip(f, 1);
	round_trip(f, 2);
	/* ISR: no configuration change happened. */
	assert_int_equal(mmio_read(f, f->bar4 + f->isr, 1), 0);
}

/*
 * A real vCPU writes the notify register: the ioeventfd takes the write
 * inside KVM, so KVM_RUN returns only at the OUT that ends the guest code
 * (32-bit protected mode, flat segments), yet the frame goes round.
 */
static void test_notify_without_exit(void **state)
{
	struct fixture *f = fixture(state);
	struct kvm_userspace_memory_region ram = {
		.memory_size = f->vm.mem.low_size,
		.userspace_addr = (uintptr_t)f->vm.mem.host,
	};
	struct kvm_segment seg = { .limit = 0xffffffff, .selector = 0x10, .type = 3,
				   .present = 1, .db = 1, .s = 1, .g = 1 };
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2 };
	uint8_t *code = gptr(f, CODE_GPA);
	struct kvm_sregs sregs;
	struct kvm_run *run;
	uint16_t rx_used, tx_used;
	uint32_t addr;
	int size;

	plug(f);
	driver_init(f);
	rx_used = used_idx(f, 0);
	tx_used = used_idx(f, 1);
	frame_prepare(f, 7);
	post_quiet(f, 1, TX_BUF_GPA, HDR_LEN + FRAME_LEN, false);
	assert_true(notify_addr(f, 1) < (1ULL << 32));
	addr = (uint32_t)notify_addr(f, 1);
	/* mov word [addr], 1 ; out 0x80, al ; hlt */
	memcpy(code, "\x66\xc7\x05", 3);
	memcpy(code + 3, &addr, 4);
	memcpy(code + 7, "\x01\x00\xe6\x80\xf4", 5);

	assert_int_equal(ioctl(f->vm.vm_fd, KVM_SET_USER_MEMORY_REGION, &ram), 0);
	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg;
	seg.type = 0xb;
	seg.selector = 0x8;
	sregs.cs = seg;
	sregs.cr0 |= 1; /* PE */
	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_SET_REGS, &regs), 0);
	size = ioctl(f->vm.kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	assert_true(size > 0);
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, f->vm.vcpu_fd, 0);
	assert_true(run != MAP_FAILED);
	assert_int_equal(ioctl(f->vm.vcpu_fd, KVM_RUN, 0), 0);
	assert_int_equal(run->exit_reason, KVM_EXIT_IO);
	assert_int_equal(run->io.port, 0x80);
	munmap(run, (size_t)size);
	frame_check(f, rx_used, tx_used);
}

static void test_reset_stops_and_restarts(void **state)
{
	struct fixture *f = fixture(state);

	plug(f);
	driver_init(f);
	round_trip(f, 3);
	/*
	 * §2.4: status reads 0 once the back-end stopped the rings; the next
	 * initialisation starts them afresh at index 0 (rings cleared here).
	 */
	common_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(status(f), 0);
	common_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	driver_init(f);
	assert_int_equal(used_idx(f, 0), 0);
	round_trip(f, 4);
	assert_int_equal(used_idx(f, 0), 1);
}

static void test_backend_reconnect_replays(void **state)
{
	struct fixture *f = fixture(state);
	uint8_t gen;

	plug(f);
	driver_init(f);
	round_trip(f, 5);
	gen = (uint8_t)common_rd(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
	irr_clear(f);

	/* The card dies: the guest keeps its device, the link goes down. */
	backend_stop(f);
	WAIT_FOR(!virtio_pci_backend_connected(f->vp));
	WAIT_FOR(mmio_read(f, f->bar4 + f->device + 6, 2) == 0);
	WAIT_FOR(irr(f, VEC_CONFIG));
	assert_int_not_equal(common_rd(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1), gen);
	assert_int_equal(mmio_read(f, f->bar4 + f->isr, 1), VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(mmio_read(f, f->bar4 + f->isr, 1), 0); /* read clears */
	/* A notification meanwhile stays in the kick eventfd. */
	irr_clear(f);

	/* It comes back: state replayed, rings resumed at the used index. */
	backend_start(f);
	WAIT_FOR(virtio_pci_reconnects(f->vp) == 1);
	WAIT_FOR(mmio_read(f, f->bar4 + f->device + 6, 2) == VIRTIO_NET_S_LINK_UP);
	WAIT_FOR(irr(f, VEC_CONFIG));
	assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	round_trip(f, 6);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(used_idx(f, 1), 2);
}

/* Any vhost-user-net back-end serves the NIC: DPDK's, where installed. */
static void test_dpdk_vhost_backend(void **state)
{
	struct fixture *f = fixture(state);

	if (!testpmd_start(f)) {
		printf("# skipping: dpdk-testpmd not installed, or not root\n");
		skip();
	}
	plug_at(f, f->pmd_path);
	driver_init(f);
	round_trip(f, 8);
	round_trip(f, 9);
	/* A reset stops its rings too, and it serves the next initialisation. */
	common_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(status(f), 0);
	driver_init(f);
	round_trip(f, 10);

	/*
	 * The driver takes GUEST_CSUM, which DPDK offers and cv-vpc's back-end
	 * does not; then DPDK goes and cv-vpc's back-end takes its socket.
	 * That state cannot be replayed: DEVICE_NEEDS_RESET and a configuration
	 * interrupt; after the reset the device offers what the new one has.
	 */
	assert_true(device_features(f) & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM));
	driver_init_with(f, VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM));
	round_trip(f, 11);
	f->pmd_passed = true;
	irr_clear(f);
	backend_stop(f);
	testpmd_stop(f);
	backend_start_at(f, f->pmd_path);
	WAIT_FOR(virtio_pci_reconnects(f->vp) == 1);
	assert_true(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	WAIT_FOR(irr(f, VEC_CONFIG));
	driver_init(f);
	assert_false(device_features(f) & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM));
	round_trip(f, 12);
}

static void test_bad_driver_values(void **state)
{
	struct fixture *f = fixture(state);

	plug(f);
	status_set(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	common_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	/* Not a power of 2, too big: ignored. */
	common_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 100);
	common_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 512);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	/* A vector the function does not have reads back NO_VECTOR (§4.1.5.1.2). */
	common_wr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 3);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	/* Wrong-width accesses are ignored (§4.1.3.1). */
	common_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 4, 0x10);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_SELECT, 1), 0);
	/* A queue that does not exist has size 0. */
	common_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	common_wr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	/* Rings outside RAM: not enabled, and the device needs a reset. */
	common_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	common_wr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0);
	common_wr(f, VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0x10);
	common_wr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* The driver echoing the bit back keeps it; only a reset clears it. */
	status_set(f, 0);
	assert_true(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	common_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(status(f), 0);
	/* Read-only fields stay. */
	common_wr(f, VIRTIO_PCI_COMMON_NUMQ, 2, 7);
	assert_int_equal(common_rd(f, VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	mmio_write(f, f->bar4 + f->device, 1, 0);
	assert_int_equal(mmio_read(f, f->bar4 + f->device, 1), mac[0]);
}

static void test_pci_cfg_window(void **state)
{
	struct fixture *f = fixture(state);
	unsigned data;

	plug(f);
	data = f->pci_cfg + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	/* §4.1.4.9: BAR4 reached through config space alone. */
	cfg_write(f, f->pci_cfg + VIRTIO_PCI_CAP_BAR, 1, 4);
	cfg_write(f, f->pci_cfg + VIRTIO_PCI_CAP_OFFSET, 4, f->common + VIRTIO_PCI_COMMON_NUMQ);
	cfg_write(f, f->pci_cfg + VIRTIO_PCI_CAP_LENGTH, 4, 2);
	assert_int_equal(cfg_read(f, data, 2), 2);
	cfg_write(f, f->pci_cfg + VIRTIO_PCI_CAP_OFFSET, 4, f->common + VIRTIO_PCI_COMMON_STATUS);
	cfg_write(f, f->pci_cfg + VIRTIO_PCI_CAP_LENGTH, 4, 1);
	cfg_write(f, data, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(cfg_read(f, data, 1), VIRTIO_STATUS_ACKNOWLEDGE);
	/* A window on another BAR or an odd length does nothing. */
	cfg_write(f, f->pci_cfg + VIRTIO_PCI_CAP_LENGTH, 4, 3);
	cfg_write(f, data, 1, 0);
	assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
}

static void test_plug_without_backend(void **state)
{
	struct fixture *f = fixture(state);
	struct virtio_pci *vp = NULL;

	assert_int_equal(virtio_net_pci_plug(&vp, &f->vm.bus, &f->vm.irq, &f->vm.mem, f->vm.vm_fd, SLOT,
					     "/tmp/cv-vp-test.nobody.sock", mac), -ENOENT);
	assert_null(vp);
	/* Nothing was left on the bus. */
	assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 4), 0xffffffffu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feature_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_without_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_stops_and_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_reconnect_replays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dpdk_vhost_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_driver_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plug_without_backend, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
