/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-hv: one process per VM.  Reads the instance description, builds the
 * VM, serves the control socket and runs until the guest stops.  Users
 * normally start it through `cardvisor run`.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/console.h"
#include "hv/control.h"
#include "hv/pci.h"
#include "hv/vfio_user.h"
#include "hv/virtio_blk.h"
#include "hv/virtio_net.h"
#include "hv/vm.h"
#include "tools/lib/harden.h"
#include "tools/lib/instance.h"
#include "tools/lib/jail.h"
#include "tools/lib/log.h"
#include "tools/lib/rundir.h"
#include "tools/lib/syscall_filter.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cv-hv --instance FILE [options]\n"
		"Runs one VM described by an instance description (a device tree blob\n"
		"written by `cardvisor run`).\n\n"
		"  --instance FILE   instance description (required)\n"
		"  --console SPEC    stdio (default), file:PATH, socket:PATH or none\n"
		"  --control PATH    control socket (default: <rundir>/<id>/control.sock)\n"
		"                    (the console is also served on <rundir>/<id>/console.sock)\n"
		"  --seccomp=off     no system call filter (for debugging; logged)\n"
		"  --jail[=UID:GID]  once the VM is built, run in namespaces of its own with\n"
		"                    an empty root (and the instance directory) as UID:GID\n"
		"                    (root only; cardvisor run passes it), or, not root,\n"
		"                    in a user namespace as the user\n"
		"  --verbose         log every unhandled I/O access and more\n"
		"  --help            this text\n\n"
		"Exit status: 0 guest powered off, reset or stopped on request;\n"
		"1 bad configuration or kernel; 2 guest crash or KVM failure.\n");
}

/*
 * Connect the cards the instance names and plug their functions, before
 * any vCPU runs, as firmware would find them at power-on.
 */
static int plug_vfio_user(struct vm *vm, const struct instance_desc *desc,
			  struct vfio_user_dev **devs)
{
	for (unsigned i = 0; i < desc->nr_vfio_user; i++) {
		const struct instance_vfio_user *v = &desc->vfio_user[i];
		char name[32];
		struct vfio_user_params p = {
			.socket_path = v->socket, .name = name, .vm_fd = vm->fd,
			.mem = &vm->mem, .irq = &vm->irq,
		};
		int ret;

		snprintf(name, sizeof(name), "vfio-user@%02x.0", v->slot);
		ret = vfio_user_dev_open(&devs[i], &p);
		if (!ret)
			ret = vfio_user_dev_plug(devs[i], vm->pci, v->slot, 0);
		if (ret)
			return ret;
	}
	return 0;
}

/* Each ENI is a virtio-net function whose queues its cv-vpc card serves. */
static int plug_nics(struct vm *vm, const struct instance_desc *desc,
		     struct virtio_pci **nics)
{
	for (unsigned i = 0; i < desc->nr_nics; i++) {
		const struct instance_nic *n = &desc->nics[i];
		int ret = virtio_net_pci_plug(&nics[i], vm->pci, &vm->irq, &vm->mem, vm->fd,
					      n->slot, n->socket, n->mac);

		if (ret) {
			cv_err("nic %s: cannot plug it at 00:%02x.0 (card socket %s): %s", n->id,
			       n->slot, n->socket, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/*
 * A volume whose card serves the vhost-user-blk face and that has a slot
 * is a virtio-blk function here; NVMe volumes came in as vfio-user devices.
 */
static int plug_volumes(struct vm *vm, const struct instance_desc *desc,
			struct virtio_pci **vblks)
{
	for (unsigned i = 0; i < desc->nr_volumes; i++) {
		const struct instance_volume *v = &desc->volumes[i];
		int ret;

		if (!v->slot)
			continue;
		ret = virtio_blk_pci_plug(&vblks[i], vm->pci, &vm->irq, &vm->mem, vm->fd,
					  v->slot, v->socket);
		if (ret) {
			cv_err("volume %s: cannot plug its virtio-blk function at 00:%02x.0 "
			       "(card socket %s): %s", v->id, v->slot, v->socket,
			       strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Termination signals stop the VM; a dedicated thread takes them synchronously. */
static void *signal_thread(void *arg)
{
	struct vm *vm = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	while (!sigwait(&set, &sig))
		vm_stop(vm, VM_STOP_REQUESTED, "stopped by signal %s", strsignal(sig));
	return NULL;
}

/*
 * What cv-hv does once the VM is built, beyond every process's base list
 * (tools/lib/syscall_filter.c).  No file is opened and no listening
 * socket made; the only new sockets are connections to a card's socket
 * when a card comes back (cv-hv is their client).
 */
static const struct syscall_allow hv_syscalls[] = {
	/* KVM's own ioctls (type KVMIO): KVM_RUN, irqfds, ioeventfds, MSI routes. */
	SYSCALL_ALLOW_IF(ioctl, 1, _IOC_TYPEMASK << _IOC_TYPESHIFT, KVMIO << _IOC_TYPESHIFT),
	/* The console's terminal: put back as it was at exit. */
	SYSCALL_ALLOW_IF(ioctl, 1, 0xffffffff, TCGETS),
	SYSCALL_ALLOW_IF(ioctl, 1, 0xffffffff, TCSETS),
	/* vCPU threads, and a card's monitor thread when it reconnects: threads only. */
	SYSCALL_ALLOW_IF(clone, 0, CLONE_THREAD, CLONE_THREAD),
	SYSCALL_ALLOW(set_robust_list), SYSCALL_ALLOW(rseq),
	/* A card or vhost-user back-end that comes back: a new UNIX connection. */
	SYSCALL_ALLOW_IF(socket, 0, 0xffffffff, AF_UNIX), SYSCALL_ALLOW(connect),
	/* Its interrupt and doorbell eventfds. */
	SYSCALL_ALLOW(eventfd2),
	/* The signal thread's sigwait. */
	SYSCALL_ALLOW(rt_sigtimedwait),
	{ 0 }
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "console", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 's' },
		{ "seccomp", required_argument, NULL, 'f' },
		{ "jail", optional_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *instance_path = NULL, *console_spec = "stdio", *control_path = NULL;
	char default_control[512], attach_path[512], instance_dir[512];
	struct jail jail = { .lock_fd = -1 };
	struct instance_desc desc;
	struct console *console = NULL;
	struct control *control = NULL;
	struct vm_config cfg;
	struct vm vm;
	struct vfio_user_dev *cards[CV_INSTANCE_MAX_VFIO_USER] = { 0 };
	struct virtio_pci *nics[CV_INSTANCE_MAX_NICS] = { 0 };
	struct virtio_pci *vblks[CV_INSTANCE_MAX_VOLUMES] = { 0 };
	pthread_t sig_thread;
	bool verbose = false, seccomp = true;
	sigset_t set;
	void *blob = NULL;
	size_t blob_size;
	int opt, status;

	/* Its control and console sockets are its owner's alone (fd.h). */
	umask(077);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'i': instance_path = optarg; break;
		case 'c': console_spec = optarg; break;
		case 's': control_path = optarg; break;
		case 'f':
			if (syscall_filter_parse(optarg, &seccomp)) {
				usage(stderr);
				return VM_EXIT_SETUP;
			}
			break;
		case 'j':
			if (jail_parse(optarg, &jail)) {
				fprintf(stderr, "cv-hv: --jail=%s: not UID:GID, both above 0\n",
					optarg);
				return VM_EXIT_SETUP;
			}
			break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VM_EXIT_SETUP;
		}
	}
	cv_log_init("cv-hv", verbose);
	if (!instance_path || optind != argc) {
		usage(stderr);
		return VM_EXIT_SETUP;
	}
	/*
	 * Guest memory is never in a core file or readable by another process
	 * of this uid.  Unjailed, cv-hv keeps its capabilities (issue 11);
	 * jailed, only what the jail needs, and none once in it.  The jail's
	 * namespaces come before any thread: a thread keeps the mount
	 * namespace it was made in.  No network: the cards are reached by
	 * the path of their UNIX sockets.
	 */
	if (process_harden(false) || jail_prepare(&jail) || jail_unshare(&jail, JAIL_OWN_NET))
		return VM_EXIT_SETUP;
	if (instance_read_file(instance_path, &blob, &blob_size) ||
	    instance_from_fdt(blob, blob_size, &desc)) {
		free(blob);
		return VM_EXIT_SETUP;
	}
	cfg = (struct vm_config){
		.id = desc.id,
		.nr_vcpus = desc.vcpus,
		.mem_size = desc.memory,
		.kernel = desc.kernel,
		.initrd = desc.initrd,
		.cmdline = desc.cmdline,
		.linux_guest = desc.linux_guest,
		.quirks = desc.quirks,
	};
	if (!control_path) {
		rundir_path(desc.id, "control.sock", default_control, sizeof(default_control));
		control_path = default_control;
	}

	/* Every thread inherits this mask; vCPU threads unblock their kick signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A console or control client that goes away must not take the VM with it. */
	signal(SIGPIPE, SIG_IGN);

	status = VM_EXIT_SETUP;
	if (vm_create(&vm, &cfg) < 0 || plug_vfio_user(&vm, &desc, cards) < 0 ||
	    plug_volumes(&vm, &desc, vblks) < 0 || plug_nics(&vm, &desc, nics) < 0)
		goto out;
	rundir_path(desc.id, "console.sock", attach_path, sizeof(attach_path));
	if (console_open(&console, console_spec, attach_path) < 0)
		goto out;
	vm_set_console(&vm, console);
	if (console_start(console, &vm, vm_console_input, &vm) < 0 ||
	    control_start(&control, &vm, control_path) < 0)
		goto out;
	if (pthread_create(&sig_thread, NULL, signal_thread, &vm) == 0)
		pthread_detach(sig_thread);
	/*
	 * Set up; from the guest's first instruction on, only what hv_syscalls
	 * allows, in the jail (with the instance directory, where a card that
	 * comes back is found).
	 */
	if (rundir_path(desc.id, "", instance_dir, sizeof(instance_dir)) ||
	    jail_enter(&jail, instance_dir, 0) || syscall_filter_install(seccomp, hv_syscalls) < 0)
		goto out;
	cv_info("vm %s: %u vCPU, %llu MiB, kernel %s", desc.id, cfg.nr_vcpus,
		(unsigned long long)(cfg.mem_size >> 20), cfg.kernel);
	status = vm_run(&vm);
	{
		char quirks[256];

		quirks_format(&vm.quirks, quirks, sizeof(quirks));
		cv_info("vm %s: stopped (%s), exit status %d, quirks used: %s", desc.id,
			vm.stop_reason, status, quirks);
	}
out:
	control_stop(control);
	console_close(console);
	for (unsigned i = 0; i < desc.nr_vfio_user; i++)
		vfio_user_dev_close(cards[i]);
	for (unsigned i = 0; i < desc.nr_nics; i++)
		if (nics[i])
			virtio_pci_unplug(nics[i]);
	for (unsigned i = 0; i < desc.nr_volumes; i++)
		if (vblks[i])
			virtio_pci_unplug(vblks[i]);
	vm_destroy(&vm);
	free(blob);
	return status;
}
