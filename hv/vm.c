/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Assembling a VM: KVM VM and irqchip, memfd RAM, the buses, the platform
 * devices, the kernel; then running vCPU threads and the lifecycle.
 */
#include "hv/vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "guest-abi/cv_platform.h"
#include "hv/boot.h"
#include "hv/console.h"
#include "hv/loader.h"
#include "hv/platform.h"
#include "tools/lib/log.h"

/*
 * Addresses KVM needs for its own use on Intel hosts: three pages for the
 * real-mode TSS and one for the EPT identity map.  Just below the BIOS
 * ROM alias, inside the PCI hole, where nothing else lives.
 */
#define KVM_TSS_ADDR          0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

static const char *const vm_state_names[] = {
	[VM_STATE_PENDING] = "pending",
	[VM_STATE_RUNNING] = "running",
	[VM_STATE_PAUSED] = "paused",
	[VM_STATE_STOPPING] = "stopping",
	[VM_STATE_STOPPED] = "stopped",
};

static const char *const vm_stop_cause_names[] = {
	[VM_STOP_GUEST] = "guest",
	[VM_STOP_REQUESTED] = "requested",
	[VM_STOP_CRASHED] = "crashed",
	[VM_STOP_FAILED] = "failed",
};

/* The exit status each cause gives cv-hv. */
static const int vm_stop_cause_status[] = {
	[VM_STOP_GUEST] = VM_EXIT_OK,
	[VM_STOP_REQUESTED] = VM_EXIT_OK,
	[VM_STOP_CRASHED] = VM_EXIT_GUEST_CRASH,
	[VM_STOP_FAILED] = VM_EXIT_SETUP,
};

const char *vm_state_reason(const struct vm *vm)
{
	switch (vm->state) {
	case VM_STATE_PENDING:
		return "starting";
	case VM_STATE_RUNNING:
		return vm->resumed ? "resumed" : "booted";
	case VM_STATE_PAUSED:
		return "requested"; /* the control socket is the only way to pause */
	case VM_STATE_STOPPING:
	case VM_STATE_STOPPED:
		return vm_stop_cause_names[vm->stop_cause];
	}
	return "?";
}

const char *vm_state_name(enum vm_state state)
{
	return state <= VM_STATE_STOPPED ? vm_state_names[state] : "?";
}

enum vm_state vm_get_state(struct vm *vm)
{
	enum vm_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

static int vm_set_user_memory(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			      uint8_t *host)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		cv_err("vm: KVM_SET_USER_MEMORY_REGION slot %u gpa 0x%llx size 0x%llx: %s",
		       slot, (unsigned long long)gpa, (unsigned long long)size, strerror(errno));
		return -errno;
	}
	return 0;
}

static int vm_setup_memory(struct vm *vm)
{
	int ret = guest_mem_init(&vm->mem, vm->cfg.mem_size);

	if (ret)
		return ret;
	ret = vm_set_user_memory(vm, 0, 0, vm->mem.low_size, vm->mem.host);
	if (!ret && vm->mem.high_size)
		ret = vm_set_user_memory(vm, 1, CV_HIGHMEM_START, vm->mem.high_size,
					 vm->mem.host + vm->mem.low_size);
	return ret;
}

/* In-kernel LAPIC/IOAPIC/PIC and PIT; the layout Linux expects on a PC. */
static int vm_setup_irqchip(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = KVM_IDENTITY_MAP_ADDR;

	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0 ||
	    ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
		cv_err("vm: KVM_SET_TSS_ADDR / IDENTITY_MAP_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		cv_err("vm: KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0) {
		cv_err("vm: KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return irq_routing_init(&vm->irq, vm->fd);
}

/* Ask KVM for the failing instruction's bytes so errors can name it. */
static void vm_enable_emulation_failure_exits(struct vm *vm)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE,
		.args = { 1 },
	};

	if (kvm_check_extension(vm->fd, KVM_CAP_EXIT_ON_EMULATION_FAILURE) &&
	    ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0)
		cv_warn("vm: KVM_CAP_EXIT_ON_EMULATION_FAILURE: %s", strerror(errno));
}

static int vm_setup_quirks(struct vm *vm)
{
	const char *bad = NULL;
	size_t bad_len = 0;
	char list[256];

	if (quirks_parse(&vm->quirks, vm->cfg.quirks ? vm->cfg.quirks : "auto", &bad,
			 &bad_len) < 0) {
		size_t n = 0;

		for (int i = 0; i < QUIRK_COUNT; i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s, ", quirk_name(i));
		cv_err("vm: unknown quirk \"%.*s\" in --quirks (known: %sauto, all, none)",
		       (int)bad_len, bad, list);
		return -EINVAL;
	}
	quirks_format(&vm->quirks, list, sizeof(list));
	cv_info("vm: %s KVM, quirks: %s",
		quirks_host_is_software_kvm() ? "software (no VT-x/AMD-V)" : "hardware", list);
	return 0;
}

/*
 * The real TSC rate, which QUIRK_TIME_DILATION scales; 0 when KVM cannot
 * say (that quirk then leaves the guest's clock alone).
 */
static uint32_t vm_tsc_khz(struct vm *vm)
{
	int khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);

	if (khz <= 0) {
		cv_warn("vm: KVM_GET_TSC_KHZ: %s; the guest's clock is not dilated",
			khz < 0 ? strerror(errno) : "rate unknown");
		return 0;
	}
	return (uint32_t)khz;
}

static int vm_load_kernel(struct vm *vm, struct boot_entry *entry)
{
	struct loader_config lc = {
		.kernel = vm->cfg.kernel,
		.initrd = vm->cfg.initrd,
		.cmdline = vm->cfg.cmdline,
		.nr_vcpus = vm->cfg.nr_vcpus,
	};
	const bool switches = vm->quirks.enabled[QUIRK_LINUX_CMDLINE];
	const bool dilate = vm->quirks.enabled[QUIRK_TIME_DILATION];
	uint32_t tsc_khz = 0;
	char *cmdline = NULL;
	int ret;

	if (vm->cfg.linux_guest && (switches || dilate)) {
		if (dilate)
			tsc_khz = vm_tsc_khz(vm);
		ret = quirks_linux_cmdline(&vm->quirks, vm->cfg.cmdline, tsc_khz, &cmdline);
		if (ret)
			return ret;
		lc.cmdline = cmdline;
		if (switches)
			quirks_count(&vm->quirks, QUIRK_LINUX_CMDLINE);
		if (tsc_khz) {
			quirks_count(&vm->quirks, QUIRK_TIME_DILATION);
			cv_info("vm: time-dilation: the guest's clock runs %ux slower than real "
				"time (TSC %u kHz, announced as %llu kHz)",
				QUIRK_TIME_DILATION_FACTOR, tsc_khz,
				(unsigned long long)tsc_khz * QUIRK_TIME_DILATION_FACTOR);
		}
	}
	ret = loader_load(&vm->mem, &lc, entry);
	free(cmdline);
	return ret;
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	struct boot_entry entry;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->fd = -1;
	vm->kvm.fd = -1;
	vm->mem.memfd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->state = VM_STATE_PENDING;
	clock_gettime(CLOCK_MONOTONIC, &vm->started);

	ret = vm_setup_quirks(vm);
	if (ret)
		return ret;
	ret = kvm_open(&vm->kvm);
	if (ret)
		return ret;
	if (cfg->nr_vcpus < 1 || cfg->nr_vcpus > (unsigned)vm->kvm.max_vcpus ||
	    cfg->nr_vcpus > 255) {
		cv_err("vm: %u vCPUs requested; this KVM allows 1..%d", cfg->nr_vcpus,
		       vm->kvm.max_vcpus < 255 ? vm->kvm.max_vcpus : 255);
		return -EINVAL;
	}
	vm->fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		ret = -errno;
		cv_err("vm: KVM_CREATE_VM: %s", strerror(errno));
		return ret;
	}
	vm_enable_emulation_failure_exits(vm);
	ret = iobus_init(&vm->pio, "pio");
	if (!ret)
		ret = iobus_init(&vm->mmio, "mmio");
	if (!ret)
		ret = vm_setup_irqchip(vm);
	if (!ret)
		ret = vm_setup_memory(vm);
	if (!ret)
		ret = platform_create(vm);
	if (ret)
		return ret;

	vm->vcpus = calloc(cfg->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned i = 0; i < cfg->nr_vcpus; i++) {
		ret = vcpu_create(vm, &vm->vcpus[i], i);
		if (ret)
			return ret;
	}
	/* After the vCPUs: the Linux command line may need the TSC rate from one. */
	ret = vm_load_kernel(vm, &entry);
	if (ret)
		return ret;
	/* APs wait in KVM for INIT/SIPI from the guest; only the BSP has a boot state. */
	ret = vcpu_set_boot_state(&vm->vcpus[0], &entry);
	if (ret)
		cv_err("vm: cannot set the boot CPU's registers: %s", strerror(-ret));
	return ret;
}

uint64_t vm_exits(struct vm *vm)
{
	uint64_t n = 0;

	for (unsigned i = 0; vm->vcpus && i < vm->cfg.nr_vcpus; i++)
		n += __atomic_load_n(&vm->vcpus[i].exits, __ATOMIC_RELAXED);
	return n;
}

void vm_set_console(struct vm *vm, struct console *console)
{
	vm->console = console;
}

void vm_stop(struct vm *vm, enum vm_stop_cause cause, const char *fmt, ...)
{
	bool first;
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	first = !vm->stop_requested;
	if (first) {
		va_start(ap, fmt);
		vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
		va_end(ap);
		vm->stop_cause = cause;
		vm->exit_status = vm_stop_cause_status[cause];
		__atomic_store_n(&vm->stop_requested, true, __ATOMIC_RELEASE);
		if (vm->state != VM_STATE_STOPPED)
			vm->state = VM_STATE_STOPPING;
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
	if (!first)
		return;
	if (cause == VM_STOP_GUEST || cause == VM_STOP_REQUESTED)
		cv_info("vm: %s", vm->stop_reason);
	else
		cv_err("vm: %s", vm->stop_reason);
	for (unsigned i = 0; vm->vcpus && i < vm->cfg.nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

int vm_pause(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->state == VM_STATE_PAUSED)
		goto out;
	if (vm->state != VM_STATE_RUNNING) {
		ret = -EINVAL;
		goto out;
	}
	__atomic_store_n(&vm->pause_requested, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < vm->cfg.nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	/* vCPU threads that ended (VM stopping) never park: stop waiting then. */
	while (vm->vcpus_parked < vm->cfg.nr_vcpus && !vm->stop_requested)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->stop_requested) {
		ret = -EINVAL;
		goto out;
	}
	vm->state = VM_STATE_PAUSED;
	cv_info("vm: paused");
out:
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

int vm_resume(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->state == VM_STATE_PAUSED) {
		__atomic_store_n(&vm->pause_requested, false, __ATOMIC_RELEASE);
		vm->state = VM_STATE_RUNNING;
		vm->resumed = true;
		pthread_cond_broadcast(&vm->cond);
		cv_info("vm: resumed");
	} else if (vm->state != VM_STATE_RUNNING) {
		ret = -EINVAL;
	}
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

int vm_run(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (!vm->stop_requested)
		vm->state = VM_STATE_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->cfg.nr_vcpus && !ret; i++)
		ret = vcpu_start(&vm->vcpus[i]);
	if (ret)
		vm_stop(vm, VM_STOP_FAILED, "cannot start vCPU threads");
	for (unsigned i = 0; i < vm->cfg.nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
	pthread_mutex_lock(&vm->lock);
	vm->state = VM_STATE_STOPPED;
	ret = vm->exit_status;
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->cfg.nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	platform_destroy(vm);
	guest_mem_destroy(&vm->mem);
	if (vm->fd >= 0)
		close(vm->fd);
	irq_routing_destroy(&vm->irq);
	iobus_destroy(&vm->pio);
	iobus_destroy(&vm->mmio);
	kvm_close(&vm->kvm);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
}
