/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One virtual machine: KVM VM, guest RAM, the buses and devices, the vCPU
 * threads, and the lifecycle state the control socket reports.
 */
#ifndef CV_HV_VM_H
#define CV_HV_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hv/iobus.h"
#include "hv/irq.h"
#include "hv/kvm.h"
#include "hv/memory.h"
#include "hv/quirks.h"

struct console;
struct serial;
struct i8042;
struct rtc;
struct pci_bus;
struct boot_entry;

/* The EC2 instance states cv-hv itself goes through (design.md, Lifecycle). */
enum vm_state {
	VM_STATE_PENDING,   /* created, vCPUs not yet running */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,    /* every vCPU parked outside KVM_RUN */
	VM_STATE_STOPPING,  /* stop requested, vCPUs leaving */
	VM_STATE_STOPPED,
};

/* cv-hv's exit status: what `cardvisor run` returns. */
enum vm_exit_status {
	VM_EXIT_OK = 0,          /* guest powered off or reset, or stopped on request */
	VM_EXIT_SETUP = 1,       /* bad configuration or kernel, nothing ran */
	VM_EXIT_GUEST_CRASH = 2, /* triple fault, emulation failure, KVM error */
};

/*
 * Why a VM stops: status reports it (as "state_reason", which `cardvisor`
 * turns into libvirt's shut-off reasons) and the exit status follows it.
 */
enum vm_stop_cause {
	VM_STOP_GUEST,     /* the guest powered off, shut down or reset */
	VM_STOP_REQUESTED, /* the control socket, the console or a signal */
	VM_STOP_CRASHED,   /* triple fault, emulation failure, KVM error */
	VM_STOP_FAILED,    /* set-up failed after the VM was built (vCPU threads) */
};

struct vm_config {
	const char *id;
	unsigned nr_vcpus;
	uint64_t mem_size;
	const char *kernel;
	const char *initrd;      /* may be NULL */
	const char *cmdline;     /* may be NULL */
	bool linux_guest;        /* a Linux kernel: QUIRK_LINUX_CMDLINE applies */
	const char *quirks;      /* --quirks spec, "auto" by default */
};

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint64_t exits;          /* KVM_RUN returns, for status (atomic) */
	uint64_t parked_rip;     /* where the guest was when this vCPU last parked */
};

struct vm {
	struct vm_config cfg;
	struct kvm kvm;
	int fd;
	struct guest_mem mem;
	struct iobus pio, mmio;
	struct irq_routing irq;
	struct quirks quirks;
	struct vcpu *vcpus;

	struct serial *com1;
	struct i8042 *i8042;
	struct rtc *rtc;
	struct pci_bus *pci;
	struct console *console;

	pthread_mutex_t lock;
	pthread_cond_t cond;     /* state changes, paused-vCPU count */
	enum vm_state state;
	bool stop_requested;     /* read by vCPU threads without the lock */
	bool pause_requested;
	unsigned vcpus_parked;
	bool resumed;            /* running again after a pause */
	enum vm_stop_cause stop_cause;
	int exit_status;
	char stop_reason[256];
	struct timespec started;
};

const char *vm_state_name(enum vm_state state);
/*
 * One word for why the VM is in its state (call with vm->lock held):
 * "starting"; "booted" or "resumed"; "requested" (paused); and once it
 * stops "guest", "requested", "crashed" or "failed".
 */
const char *vm_state_reason(const struct vm *vm);

/* Build the VM, load the kernel, ready to run; logs and returns -errno on failure. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
/* Attach the console that COM1 talks to (before vm_run). */
void vm_set_console(struct vm *vm, struct console *console);
/* Start the vCPUs and block until the VM has stopped; returns the exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/*
 * Stop now: every vCPU leaves KVM_RUN and its thread ends.  The first
 * caller's cause and reason are kept.  Safe from any thread.
 */
void vm_stop(struct vm *vm, enum vm_stop_cause cause, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Guest console input for COM1 (a console_rx_fn); returns the bytes taken. */
size_t vm_console_input(void *vm, const uint8_t *buf, size_t len);
/* Ask the guest to shut down (Ctrl+Alt+Del on the i8042), as a power button would. */
int vm_request_shutdown(struct vm *vm);
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
enum vm_state vm_get_state(struct vm *vm);
/* Exits to user space so far, all vCPUs (the fast paths should keep it low). */
uint64_t vm_exits(struct vm *vm);

/* vcpu.c */
int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned index);
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_entry *entry);
int vcpu_start(struct vcpu *vcpu);
/* Make the vCPU leave KVM_RUN soon (it then re-reads the VM's requests). */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

#endif /* CV_HV_VM_H */
