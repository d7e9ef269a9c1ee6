/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vCPU threads: KVM_RUN, and the exits that come back to user space.  With
 * the in-kernel irqchip, HLT, the LAPIC and the IOAPIC stay in KVM; what
 * reaches here is port I/O, MMIO, shutdown and failures.  Every exit reason
 * is either handled or reported with the vCPU's RIP, never ignored.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv/boot.h"
#include "hv/cpuid.h"
#include "hv/emulate.h"
#include "hv/vm.h"
#include "hv/x86_insn.h"
#include "tools/lib/log.h"

#define SIG_VCPU_KICK SIGUSR1

/* Local APIC register offsets and LVT delivery modes (Intel SDM Vol. 3, 10.5.1). */
#define APIC_LVT_LINT0     0x350
#define APIC_LVT_LINT1     0x360
#define APIC_MODE_NMI      (4u << 8)
#define APIC_MODE_EXTINT   (7u << 8)

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void vcpu_install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	/* No SA_RESTART: the point is to make KVM_RUN return -EINTR. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIG_VCPU_KICK, &sa, NULL);
}

static uint64_t vcpu_rip(struct vcpu *vcpu)
{
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return ~0ULL;
	return regs.rip;
}

/*
 * Route LINT0 as ExtINT and LINT1 as NMI, the "virtual wire" set-up PC
 * firmware leaves behind (MP spec 1.4, 3.6.2.2), so PIC interrupts reach the
 * CPU before the guest programs its IOAPIC.
 */
static int vcpu_setup_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	memcpy(&v, &lapic.regs[APIC_LVT_LINT0], 4);
	v = (v & ~0x700u) | APIC_MODE_EXTINT;
	memcpy(&lapic.regs[APIC_LVT_LINT0], &v, 4);
	memcpy(&v, &lapic.regs[APIC_LVT_LINT1], 4);
	v = (v & ~0x700u) | APIC_MODE_NMI;
	memcpy(&lapic.regs[APIC_LVT_LINT1], &v, 4);
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

static int vcpu_setup_cpuid(struct vcpu *vcpu)
{
	const struct kvm_cpuid2 *sup = vcpu->vm->kvm.supported_cpuid;
	struct cpuid_config cfg = {
		.vcpu_index = vcpu->index,
		.nr_vcpus = vcpu->vm->cfg.nr_vcpus,
		.hide_cx16 = vcpu->vm->quirks.enabled[QUIRK_CPUID_NO_CX16],
		/* The dilated clock is the TSC: Linux must not find the real one. */
		.hide_kvmclock = vcpu->vm->cfg.linux_guest &&
				 vcpu->vm->quirks.enabled[QUIRK_TIME_DILATION],
	};
	struct kvm_cpuid2 *cpuid;
	int ret;

	cpuid = calloc(1, sizeof(*cpuid) + sup->nent * sizeof(sup->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	cpuid_build(sup, &cfg, cpuid);
	if (cfg.hide_cx16)
		quirks_count(&vcpu->vm->quirks, QUIRK_CPUID_NO_CX16);
	ret = ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
	free(cpuid);
	return ret;
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned index)
{
	int ret;

	pthread_once(&kick_once, vcpu_install_kick_handler);
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		ret = -errno;
		cv_err("vcpu%u: KVM_CREATE_VCPU: %s", index, strerror(errno));
		return ret;
	}
	vcpu->run = mmap(NULL, (size_t)vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		vcpu->run = NULL;
		cv_err("vcpu%u: mmap kvm_run: %s", index, strerror(errno));
		return ret;
	}
	ret = vcpu_setup_cpuid(vcpu);
	if (ret) {
		cv_err("vcpu%u: KVM_SET_CPUID2: %s", index, strerror(-ret));
		return ret;
	}
	ret = vcpu_setup_lapic(vcpu);
	if (ret)
		cv_err("vcpu%u: local APIC set-up: %s", index, strerror(-ret));
	return ret;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->kvm.vcpu_mmap_size);
	if (vcpu->fd > 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = !code64,
		.s = 1,
		.l = code64,
		.g = 1,
	};
}

/* The register state each boot protocol defines for entry (hv/boot.h). */
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_entry *entry)
{
	const bool lm = entry->mode == BOOT_MODE_LINUX64;
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = entry->rip,
		.rsi = entry->rsi,
		.rbx = entry->rbx,
		.rsp = entry->rsp,
		.rflags = 0x2, /* bit 1 is reserved, always set; IF clear */
	};

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = flat_segment(entry->code_selector, 0xb, lm);
	sregs.ds = flat_segment(entry->data_selector, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = entry->gdt_base;
	sregs.gdt.limit = entry->gdt_limit;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (lm) {
		sregs.cr0 |= 0x80000000u;     /* PG */
		sregs.cr3 = entry->cr3;
		sregs.cr4 |= 1u << 5;         /* PAE */
		sregs.efer |= (1u << 8) | (1u << 10); /* LME | LMA */
	}
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	return ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->thread_started)
		return;
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, SIG_VCPU_KICK);
}

static void vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	const bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* String I/O (rep ins/outs) arrives as one exit with count elements. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (iobus_dispatch(&vcpu->vm->pio, run->io.port, data, run->io.size,
				   is_write) < 0) {
			/* Nothing decodes this port: reads float high, as on ISA. */
			if (!is_write)
				memset(data, 0xff, run->io.size);
			cv_debug("vcpu%u: unhandled port %s 0x%x size %u", vcpu->index,
				 is_write ? "write" : "read", run->io.port, run->io.size);
		}
	}
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->mmio.len > sizeof(run->mmio.data))
		return;
	if (iobus_dispatch(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data,
			   run->mmio.len, run->mmio.is_write) < 0) {
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, run->mmio.len);
		cv_debug("vcpu%u: unhandled MMIO %s 0x%llx len %u", vcpu->index,
			 run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr, run->mmio.len);
	}
}

/* Deliver the exception @vector as if the instruction just retired had raised it. */
static int vcpu_inject_trap(struct vcpu *vcpu, uint8_t vector, size_t insn_len)
{
	struct kvm_vcpu_events ev;
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	regs.rip += insn_len;
	if (vector != 0xff) {
		ev.exception.injected = 1;
		ev.exception.nr = vector;
		ev.exception.has_error_code = 0;
		ev.flags = 0;
	}
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	if (vector != 0xff && ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}

/*
 * An instruction KVM could not emulate.  Apply the workaround for it when
 * one is enabled; otherwise stop the VM with the instruction named.
 */
static int vcpu_handle_emulation_failure(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	const uint8_t *bytes = NULL;
	size_t len = 0;
	struct x86_insn insn;
	struct quirks *q = &vcpu->vm->quirks;
	char hex[3 * 16 + 1] = "";
	uint64_t rip;

	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		bytes = run->emulation_failure.insn_bytes;
		len = run->emulation_failure.insn_size;
		if (len > sizeof(run->emulation_failure.insn_bytes))
			len = sizeof(run->emulation_failure.insn_bytes);
	}
	x86_insn_decode(bytes, len, &insn);
	if (insn.kind == X86_INSN_INT3 && q->enabled[QUIRK_INJECT_INT3]) {
		quirks_count(q, QUIRK_INJECT_INT3);
		return vcpu_inject_trap(vcpu, 3, insn.length);
	}
	if (insn.kind == X86_INSN_FWAIT && q->enabled[QUIRK_FWAIT_NOP]) {
		quirks_count(q, QUIRK_FWAIT_NOP);
		return vcpu_inject_trap(vcpu, 0xff, insn.length);
	}
	if ((insn.kind == X86_INSN_LDMXCSR || insn.kind == X86_INSN_STMXCSR) &&
	    q->enabled[QUIRK_EMULATE_MXCSR]) {
		int ret = emulate_mxcsr(vcpu->fd, &vcpu->vm->mem, &insn);

		if (!ret) {
			quirks_count(q, QUIRK_EMULATE_MXCSR);
			return 0;
		}
		rip = vcpu_rip(vcpu);
		cv_err("vcpu%u: cannot emulate `%s` at RIP 0x%llx: %s", vcpu->index, insn.name,
		       (unsigned long long)rip, strerror(-ret));
	}
	/* Only the failure path needs RIP: the workarounds read registers themselves. */
	rip = vcpu_rip(vcpu);
	for (size_t i = 0, n = 0; i < len; i++)
		n += (size_t)snprintf(hex + n, sizeof(hex) - n, "%s%02x", i ? " " : "", bytes[i]);
	vm_stop(vcpu->vm, VM_STOP_CRASHED,
		"vcpu%u: KVM cannot emulate `%s` at RIP 0x%llx (instruction bytes: %s; "
		"KVM_EXIT_INTERNAL_ERROR suberror %u, emulation failure); this host's KVM is %s",
		vcpu->index, insn.name, (unsigned long long)rip,
		len ? hex : "not reported", run->internal.suberror,
		quirks_host_is_software_kvm() ? "a software KVM without VT-x/AMD-V, see docs/kvm-hosts.md"
					      : "hardware-assisted");
	return -EFAULT;
}

static int vcpu_handle_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
		return vcpu_handle_emulation_failure(vcpu);
	vm_stop(vcpu->vm, VM_STOP_CRASHED,
		"vcpu%u: KVM internal error, suberror %u, at RIP 0x%llx", vcpu->index,
		run->internal.suberror, (unsigned long long)vcpu_rip(vcpu));
	return -EFAULT;
}

static int vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(vcpu);
		return 0;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return 0;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return 0;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; ours has one, so this is a dead CPU. */
		vm_stop(vm, VM_STOP_CRASHED, "vcpu%u: halted with no way to wake at RIP 0x%llx",
			vcpu->index, (unsigned long long)vcpu_rip(vcpu));
		return -EFAULT;
	case KVM_EXIT_SHUTDOWN:
		vm_stop(vm, VM_STOP_CRASHED,
			"vcpu%u: triple fault (shutdown) at RIP 0x%llx", vcpu->index,
			(unsigned long long)vcpu_rip(vcpu));
		return -EFAULT;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			vm_stop(vm, VM_STOP_GUEST, "guest shut down (vcpu%u)", vcpu->index);
		} else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vm_stop(vm, VM_STOP_GUEST, "guest reset (vcpu%u): reboot ends the VM",
				vcpu->index);
		} else {
			vm_stop(vm, VM_STOP_CRASHED, "vcpu%u: system event %u",
				vcpu->index, run->system_event.type);
		}
		return -EFAULT;
	case KVM_EXIT_INTERNAL_ERROR:
		return vcpu_handle_internal_error(vcpu);
	case KVM_EXIT_FAIL_ENTRY:
		vm_stop(vm, VM_STOP_CRASHED,
			"vcpu%u: VM entry failed, hardware reason 0x%llx, at RIP 0x%llx",
			vcpu->index,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			(unsigned long long)vcpu_rip(vcpu));
		return -EFAULT;
	default:
		vm_stop(vm, VM_STOP_CRASHED,
			"vcpu%u: unexpected KVM exit reason %u at RIP 0x%llx", vcpu->index,
			run->exit_reason, (unsigned long long)vcpu_rip(vcpu));
		return -EFAULT;
	}
}

/* Park while the VM is paused; returns false once the VM is stopping. */
static bool vcpu_wait_runnable(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	bool run;

	if (!__atomic_load_n(&vm->pause_requested, __ATOMIC_ACQUIRE))
		return !__atomic_load_n(&vm->stop_requested, __ATOMIC_ACQUIRE);
	/* Out of KVM_RUN the registers are ours to read: status shows them while paused. */
	vcpu->parked_rip = vcpu_rip(vcpu);
	pthread_mutex_lock(&vm->lock);
	vm->vcpus_parked++;
	pthread_cond_broadcast(&vm->cond);
	while (vm->pause_requested && !vm->stop_requested)
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->vcpus_parked--;
	run = !vm->stop_requested;
	pthread_mutex_unlock(&vm->lock);
	return run;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (vcpu_wait_runnable(vcpu)) {
		int ret = ioctl(vcpu->fd, KVM_RUN, 0);
		int err = errno;

		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&vcpu->exits, 1, __ATOMIC_RELAXED);
		if (ret < 0) {
			if (err == EINTR || err == EAGAIN)
				continue;
			vm_stop(vm, VM_STOP_CRASHED, "vcpu%u: KVM_RUN: %s at RIP 0x%llx",
				vcpu->index, strerror(err), (unsigned long long)vcpu_rip(vcpu));
			break;
		}
		if (vcpu_handle_exit(vcpu) < 0)
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

	if (ret) {
		cv_err("vcpu%u: cannot start thread: %s", vcpu->index, strerror(ret));
		return -ret;
	}
	vcpu->thread_started = true;
	return 0;
}
