/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cardvisor: the command users type.  `run` describes an instance, starts
 * its processes and waits for it; `ps`, `status`, `stop`, `pause` and
 * `resume` talk to a running instance's control socket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "guest-abi/cv_platform.h"
#include "tools/cardvisor_fleet.h"
#include "tools/lib/card_ctl.h"
#include "tools/lib/card_proc.h"
#include "tools/lib/domain_state.h"
#include "tools/lib/fd.h"
#include "tools/lib/instance.h"
#include "tools/lib/instance_query.h"
#include "tools/lib/instance_record.h"
#include "tools/lib/jail.h"
#include "tools/lib/json_field.h"
#include "tools/lib/log.h"
#include "tools/lib/nic_spec.h"
#include "tools/lib/rundir.h"
#include "tools/lib/size.h"
#include "tools/lib/syscall_filter.h"
#include "tools/lib/volume_image.h"
#include "tools/lib/volume_store.h"
#include "tools/lib/xts.h"

#define EXIT_USAGE 1
/* What cardvisor prints as JSON: paths as they are ("/", not "\/"). */
#define JSON_OUT        (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define JSON_OUT_PRETTY (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)
/* `wait --timeout` ran out, as timeout(1) says it. */
#define EXIT_WAIT_TIMEOUT 124
/*
 * Linux on cardvisor's platform: the console is COM1; reboot through the
 * keyboard controller (which ends the VM); no PS/2 mouse to probe for.
 */
#define CARDVISOR_LINUX_CMDLINE "console=ttyS0 reboot=k i8042.noaux"
/* A card connects to its backend before it listens: give it time. */
#define CARD_START_MS 20000
#define CARD_STOP_MS 5000
#define CARD_RESTARTS 3
/* The first PCI slot for cards: 1-3 stay free for functions cv-hv emulates. */
#define CARD_FIRST_SLOT 4
/* NICs are functions cv-hv emulates (virtio-pci), from this slot up. */
#define NIC_FIRST_SLOT 16

/*
 * Each command's synopsis: cardvisor --help lists them all, cardvisor CMD
 * --help (cardvisor volume CMD --help) its own; run's options follow.
 */
static const struct {
	const char *name; /* argv[1], or "volume create" etc. */
	const char *text;
} cmd_help[] = {
	{ "run",
	  "  run      start a VM in the foreground (its console is this terminal)\n"
	  "  run -d   start it detached: prints its id once it runs\n"
	  "  run --fleet [--etcd URLS]  place it on a host of the fleet, whose agent\n"
	  "           starts it detached: prints its id once it runs (docs/fleet.md)\n" },
	{ "ps",
	  "  ps [--json] [--fleet [--etcd URLS]]\n"
	  "                     list running VMs (--fleet: every host's, with states)\n" },
	{ "status",
	  "  status ID          print a VM's status as JSON\n"
	  "  status --fleet ID [--etcd URLS]  a fleet instance's records: host, state,\n"
	  "                     status checks, ENIs, volumes' epochs\n" },
	{ "stop",
	  "  stop ID [--force] [--timeout SECONDS]\n"
	  "           shut the guest down (Ctrl+Alt+Del), forced after the timeout\n"
	  "           (default 10 s); --force stops it at once\n"
	  "  stop --fleet ID [--etcd URLS]  ask the instance's host to stop it\n" },
	{ "pause",
	  "  pause ID / resume ID\n" },
	{ "console",
	  "  console ID         attach this terminal to a VM's serial console\n"
	  "                     (shows the last 64 KiB first; Ctrl-] detaches)\n" },
	{ "interrupt",
	  "  interrupt ID [--action terminate|stop|hibernate] [--in SECONDS] [--cancel]\n"
	  "                     a spot interruption notice (default: terminate in\n"
	  "                     120 s) at the metadata service's spot/instance-action\n" },
	{ "volume create",
	  "  volume create --size SIZE [ID]\n"
	  "                     a new volume (and its key) in the volume store;\n"
	  "                     with --dir DIR ID: only the sparse file DIR/ID.vol\n" },
	{ "volume list",
	  "  volume list [--json]  the volumes in the store\n" },
	{ "volume import",
	  "  volume import FILE [--size SIZE] [ID]\n"
	  "                     a new volume holding raw (or, with qemu-img, qcow2)\n"
	  "                     disk image FILE, encrypted; prints its id\n" },
	{ "volume export",
	  "  volume export ID FILE\n"
	  "                     the volume's plaintext into the new raw image FILE\n" },
	{ "logs",
	  "  logs ID [-f|--follow] [--system]\n"
	  "                     a detached VM's console (--system: what cardvisor,\n"
	  "                     cv-hv and the cards said); -f until it ends\n" },
	{ "wait",
	  "  wait ID [--timeout SECONDS]\n"
	  "                     until a detached VM ends; exits with its status\n" },
	{ "rm",
	  "  rm ID              forget an ended detached VM and its logs\n"
	  "  rm --fleet [--force] [--etcd URLS] ID\n"
	  "                     forget an ended fleet instance's records (--force: one\n"
	  "                     whose host was lost, its capacity and volumes freed)\n" },
	{ "host serve",
	  "  host serve [--name HOST] [--vcpus N] [--mem SIZE] [--underlay ADDR]\n"
	  "             [--ttl SECONDS] [--etcd URLS]\n"
	  "                     this host's fleet agent (foreground): registers it\n"
	  "                     under a lease, starts and stops what is placed on it\n" },
	{ "host ls",
	  "  host ls [--json] [--etcd URLS]  the fleet's live hosts and their capacity\n" },
};

/* Whether --help entry @entry answers for command @cmd ("volume" for all its subcommands). */
static bool help_matches(const char *entry, const char *cmd)
{
	size_t n = strlen(cmd);

	return !strcmp(entry, cmd) || (!strncmp(entry, cmd, n) && entry[n] == ' ') ||
	       (!strcmp(cmd, "resume") && !strcmp(entry, "pause"));
}

/* run's options, after run's synopsis. */
static void usage_run_options(FILE *f)
{
	fprintf(f,
		"cardvisor run options:\n"
		"  --kernel FILE      Linux kernel: bzImage (64-bit boot protocol) or vmlinux (PVH)\n"
		"  --guest FILE       a PVH ELF guest that is not Linux (e.g. the test guest)\n"
		"  --initrd FILE      initial ramdisk for --kernel\n"
		"  --cmdline STRING   kernel command line (default for --kernel:\n"
		"                     \"" CARDVISOR_LINUX_CMDLINE "\")\n"
		"  --vcpus N          virtual CPUs (default 1)\n"
		"  --mem SIZE         guest RAM, e.g. 512M or 2G (default 256M; at least 64M)\n"
		"  --console SPEC     stdio (default), file:PATH, socket:PATH or none\n"
		"  --quirks SPEC      software-KVM workarounds: auto (default), all, none, or a\n"
		"                     list like auto,-inject-int3 (see docs/kvm-hosts.md)\n"
		"  --type NAME        instance type label (default cv.custom)\n"
		"  --volume SPEC      an EBS volume as an NVMe (or virtio-blk) device\n"
		"                     (repeatable): SPEC is\n"
		"                     size=1G for a new volume or id=vol-... for an existing\n"
		"                     one, plus ,iops=N ,mbps=N (limits; burst=SECONDS of\n"
		"                     either rate, default 1) ,queues=N (default 2)\n"
		"                     ,hold=SECONDS (I/O waits this long for an unreachable\n"
		"                     cv-storaged, then fails retryably; default 30)\n"
		"                     ,tls=off (no TLS: a target without it)\n"
		"                     ,face=virtio-blk (the guest sees virtio-blk, not NVMe)\n"
		"                     ,epoch=N (the attachment's number: cv-storaged refuses\n"
		"                     lower ones from then on; docs/storaged.md)\n"
		"                     ,boot (the root file system of --kernel: root=/dev/nvme0n1,\n"
		"                     /dev/vda for virtio-blk).  Volumes\n"
		"                     live in %s; cv-storaged is started on\n"
		"                     127.0.0.1:4420 (CARDVISOR_STORAGED) if not running\n"
		"  --nic SPEC         an ENI as a virtio-net device (repeatable): SPEC is\n"
		"                     subnet=10.0.1.0/24 plus ,ip= ,mac= ,vni=N (default 1)\n"
		"                     ,encap=vxlan|geneve ,underlay=ADDR:PORT (the card's UDP\n"
		"                     socket, default 0.0.0.0:4789) ,sg=FILE (security group\n"
		"                     rules) ,mapping=FILE (VNI IP UNDERLAY[:PORT] lines)\n"
		"                     ,conntrack=N (tracked flows, default 65536)\n"
		"  --vfio-user PATH   plug the PCI function a card serves over vfio-user on\n"
		"                     socket PATH (repeatable; slots 4, 5, ... in order)\n"
		"  --verbose          more logging from every process\n"
		"  --seccomp=off      no system call filters in cv-hv and the cards (for\n"
		"                     debugging; each logs it)\n"
		"  -d, --detach       run in the background; console and logs go to\n"
		"                     %s/instances/ID (cardvisor logs)\n"
		"  --json             with -d: print {\"id\", \"record\"} as JSON\n"
		"  --id ID            this instance id (i- and hex digits) instead of a new\n"
		"                     one (the fleet's agent passes the fleet's)\n"
		"  --fleet            place it on a host of the fleet (etcd at --etcd\n"
		"                     URL[,URL...] or " ETCD_ENV "); paths are the host's;\n"
		"                     --volume id=... attaches it with the next epoch\n"
		"  --force-detach     with --fleet: take named volumes from the instances\n"
		"                     holding them (their cards are fenced)\n\n"
		"Running VMs live under %s (set CARDVISOR_RUNDIR to change).\n"
		"On a terminal, Ctrl-A x stops the VM at once.\n"
		"Exit status of run (and of wait for a detached VM): 0 guest powered off\n"
		"or stopped; 1 bad options or kernel; 2 the guest crashed or KVM failed;\n"
		"wait: 124 still running at --timeout.\n",
		volume_store_base(), volume_store_base(), rundir_base());
}

/* @cmd NULL: every command; else the synopsis of @cmd (and run's options). */
static void usage(FILE *f, const char *cmd)
{
	fprintf(f, cmd ? "usage:\n" : "usage: cardvisor <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmd_help) / sizeof(cmd_help[0]); i++)
		if (!cmd || help_matches(cmd_help[i].name, cmd))
			fputs(cmd_help[i].text, f);
	if (!cmd || !strcmp(cmd, "run")) {
		fputc('\n', f);
		usage_run_options(f);
	}
}

/* cv-hv and the cards sit next to this binary (build/ or the install prefix). */
static int sibling_binary(const char *name, char *path, size_t len)
{
	const char *env = strcmp(name, "cv-hv") ? NULL : getenv("CARDVISOR_HV");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(path, len, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(path, len, "%s/%s", self, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * A card process `run` starts: cv-ebs for a volume, cv-vpc for an ENI.
 * @what says what it serves, for the line printed once it is up.
 */
struct run_card {
	struct card_proc proc;
	const char *binary, *flag, *id;
	unsigned restarts;
	char what[160];
};

/* A --volume: what the instance description points at. */
struct run_volume {
	struct volume_spec spec;
	char nqn[VOLUME_STORE_ID_MAX + 64];
	char key[PATH_MAX];
	char psk[PATH_MAX];
};

/* Whether kernel command line @cmdline has a word KEY=... */
static bool cmdline_has_key(const char *cmdline, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = cmdline; (p = strstr(p, key)); p += n)
		if ((p == cmdline || p[-1] == ' ') && p[n] == '=')
			return true;
	return false;
}

/*
 * The ,boot volume of a Linux guest (at most one): plugged before the
 * other volumes, so it is the first NVMe controller Linux finds and its
 * namespace /dev/nvme0n1, or /dev/vda with face=virtio-blk (with several
 * volumes that is Linux's probe order, which follows the slots in
 * practice; an initrd that mounts by UUID does not depend on it), and the
 * kernel told to mount it as root, waiting for it, read-write; without an
 * initrd devtmpfs too, since a root file system made by mke2fs -d has no
 * /dev/console.  A --cmdline that names root= already is a conflict, not
 * something to merge.
 * 0, or -EINVAL after one line saying what is wrong.
 */
static int boot_volume_arrange(struct instance_desc *d, struct run_volume *vols, unsigned n,
			       char *cmdline, size_t len)
{
	unsigned boot = n;

	for (unsigned i = 0; i < n; i++) {
		if (!vols[i].spec.boot)
			continue;
		if (boot != n) {
			fprintf(stderr, "cardvisor run: more than one --volume with boot\n");
			return -EINVAL;
		}
		boot = i;
	}
	if (boot == n)
		return 0;
	if (!d->linux_guest) {
		fprintf(stderr, "cardvisor run: a boot volume goes with --kernel (a Linux guest)\n");
		return -EINVAL;
	}
	if (cmdline_has_key(d->cmdline, "root")) {
		fprintf(stderr, "cardvisor run: --cmdline names root= and a --volume has boot: "
				"give one of them\n");
		return -EINVAL;
	}
	if (snprintf(cmdline, len, "%s root=/dev/%s rootwait rw%s", d->cmdline,
		     vols[boot].spec.virtio_blk ? "vda" : "nvme0n1",
		     d->initrd ? "" : " devtmpfs.mount=1") >= (int)len) {
		fprintf(stderr, "cardvisor run: --cmdline is too long for a boot volume's root=\n");
		return -EINVAL;
	}
	d->cmdline = cmdline;
	for (unsigned i = boot; i > 0; i--) {
		struct run_volume t = vols[i];

		vols[i] = vols[i - 1];
		vols[i - 1] = t;
	}
	return 0;
}

/* What a card serves, in words; cut short if it has to be. */
static void __attribute__((format(printf, 2, 3)))
card_what(struct run_card *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->what, sizeof(c->what), fmt, ap);
	va_end(ap);
}

static int card_describe(struct run_card *c, const char *binary, const char *flag,
			 const char *id, const char *dir)
{
	c->binary = binary;
	c->flag = flag;
	c->id = id;
	if (snprintf(c->proc.name, sizeof(c->proc.name), "%s %s", binary, id) >=
		    (int)sizeof(c->proc.name) ||
	    snprintf(c->proc.socket, sizeof(c->proc.socket), "%s/%s.sock", dir, id) >=
		    (int)sizeof(c->proc.socket)) {
		fprintf(stderr, "cardvisor run: %s: path too long\n", id);
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * Make every volume exist, and describe it and its card's PCI function in
 * @d: one cv-ebs per volume, serving on <dir>/<id>.sock either NVMe (a
 * vfio-user function) or, with face=virtio-blk, vhost-user-blk for the
 * virtio-blk function cv-hv plugs at the volume's slot.  Volumes take the
 * slots from CARD_FIRST_SLOT in order, after the --vfio-user devices.
 */
static int volumes_describe(struct instance_desc *d, struct run_volume *vols, unsigned n,
			    struct run_card *cards, const char *dir, char *target,
			    size_t target_len)
{
	char storaged[PATH_MAX];
	unsigned nr_vblk = 0;
	int ret;

	if (!n)
		return 0;
	ret = sibling_binary("cv-storaged", storaged, sizeof(storaged));
	if (!ret)
		ret = volume_store_storaged(storaged, target, target_len);
	if (ret)
		return ret;
	for (unsigned i = 0; i < n; i++) {
		struct run_volume *v = &vols[i];
		struct run_card *c = &cards[i];
		uint64_t burst = v->spec.burst_s;
		unsigned slot = CARD_FIRST_SLOT + d->nr_vfio_user + nr_vblk;

		ret = volume_store_prepare(&v->spec, v->key, v->psk, sizeof(v->key));
		if (!ret)
			ret = card_describe(c, "cv-ebs", "--volume", v->spec.id, dir);
		if (ret)
			return ret;
		if (snprintf(v->nqn, sizeof(v->nqn), "%s%s", VOLUME_STORE_NQN_PREFIX,
			     v->spec.id) >= (int)sizeof(v->nqn) ||
		    d->nr_vfio_user == CV_INSTANCE_MAX_VFIO_USER || slot >= NIC_FIRST_SLOT) {
			fprintf(stderr, "cardvisor run: no room for volume %s\n", v->spec.id);
			return -ENOSPC;
		}
		card_what(c, "volume %s (%llu MiB, %u queues%s%s)", v->spec.id,
			  (unsigned long long)(v->spec.size >> 20), v->spec.queues,
			  v->spec.iops || v->spec.bps ? ", rate-limited" : "",
			  v->spec.virtio_blk ? ", virtio-blk" : "");
		d->volumes[d->nr_volumes++] = (struct instance_volume){
			.id = v->spec.id, .target = target, .subnqn = v->nqn,
			.key_file = v->key, .tls_psk_file = v->spec.no_tls ? NULL : v->psk,
			.socket = c->proc.socket,
			.queues = v->spec.queues,
			.iops = v->spec.iops, .iops_burst = v->spec.iops * burst,
			.bps = v->spec.bps, .bps_burst = v->spec.bps * burst,
			.hold_ms = v->spec.hold_s * 1000, .epoch = v->spec.epoch };
		if (v->spec.virtio_blk) {
			d->volumes[d->nr_volumes - 1].face = "vhost-user-blk";
			d->volumes[d->nr_volumes - 1].slot = slot;
			nr_vblk++;
			continue;
		}
		d->vfio_user[d->nr_vfio_user] = (struct instance_vfio_user){
			.socket = c->proc.socket, .slot = slot };
		d->nr_vfio_user++;
	}
	return 0;
}

/* One cv-vpc per ENI, serving virtio-net over vhost-user on <dir>/<eni>.sock. */
static int nics_describe(struct instance_desc *d, const struct nic_spec *nics, unsigned n,
			 struct run_card *cards, const char *dir)
{
	for (unsigned i = 0; i < n; i++) {
		const struct nic_spec *s = &nics[i];
		struct run_card *c = &cards[i];
		int ret = card_describe(c, "cv-vpc", "--nic", s->id, dir);

		if (ret)
			return ret;
		card_what(c, "nic %s (%s in %s, %02x:%02x:%02x:%02x:%02x:%02x, %s vni %u on %s)",
			  s->id, s->ipv4, s->subnet, s->mac[0], s->mac[1], s->mac[2], s->mac[3],
			  s->mac[4], s->mac[5], s->encap, s->vni, s->underlay);
		d->nics[d->nr_nics++] = (struct instance_nic){
			.id = s->id, .socket = c->proc.socket, .subnet = s->subnet,
			.ipv4 = s->ipv4, .underlay = s->underlay, .encap = s->encap,
			.mapping = s->mapping[0] ? s->mapping : NULL,
			.sg = s->sg[0] ? s->sg : NULL, .vni = s->vni, .slot = NIC_FIRST_SLOT + i,
			.conntrack = s->conntrack };
		memcpy(d->nics[i].mac, s->mac, 6);
	}
	return 0;
}

/* <socket>.pid: how `cardvisor interrupt` finds a running card. */
static int card_pidfile(const struct run_card *c)
{
	char path[PATH_MAX + 8];
	FILE *f;

	snprintf(path, sizeof(path), "%s.pid", c->proc.socket);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", (int)c->proc.pid) < 0 || fclose(f)) {
		fprintf(stderr, "cardvisor run: cannot write %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

static void cards_stop(struct run_card *cards, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		card_stop(&cards[i].proc, CARD_STOP_MS);
}

/* What `cardvisor run` passes on to cv-hv and every card. */
struct proc_flags {
	bool verbose;            /* --verbose */
	bool seccomp;            /* --seccomp=on|off */
	/*
	 * cv-hv's jail ids, taken by instance_run: the cards' sockets are
	 * opened to its group, so that it can reach a card that comes back.
	 */
	struct jail hv_jail;
};

/* @f as arguments, from @args[@n] on (whose tail must be NULL, room for two). */
static void proc_flags_args(const struct proc_flags *f, char **args, unsigned n)
{
	if (f->verbose)
		args[n++] = "--verbose";
	if (!f->seccomp)
		args[n++] = "--seccomp=off";
}

/*
 * A card's socket is made 0600 and root's; a jailed cv-hv (uid and group
 * @gid) connects to it when the card comes back, so its group gets it.
 * The instance directory is root's and 0710 to that group: only root
 * makes anything there, so the path is the card's socket.
 */
static int card_socket_open_to(const char *path, gid_t gid)
{
	struct stat st;
	int ret = 0;

	if (lstat(path, &st))
		ret = -errno;
	else if (!S_ISSOCK(st.st_mode))
		ret = -ENOTSOCK;
	else if (lchown(path, (uid_t)-1, gid) || chmod(path, 0660))
		ret = -errno;
	if (ret)
		fprintf(stderr, "cardvisor run: cannot open %s to cv-hv's group %u: %s\n", path,
			(unsigned)gid, strerror(-ret));
	return ret;
}

/* Start one card and wait until it serves its device. */
static int card_start(struct run_card *c, const char *dtb, const struct proc_flags *pf)
{
	char bin[PATH_MAX];
	char *args[10] = { bin, "--instance", (char *)dtb, (char *)c->flag, (char *)c->id };
	unsigned n = 5;
	int ret = sibling_binary(c->binary, bin, sizeof(bin));

	/* A restart tells the card the guest's view of its device is stale. */
	if (c->restarts)
		args[n++] = "--restarted";
	/* Each card jails itself once set up (tools/lib/jail.h). */
	args[n++] = "--jail";
	proc_flags_args(pf, args, n);

	/* A card that died left its socket: readiness means the new one's. */
	unlink(c->proc.socket);
	if (!ret)
		ret = card_spawn(&c->proc, args);
	if (!ret)
		ret = card_wait_ready(&c->proc, CARD_START_MS);
	if (!ret && pf->hv_jail.on)
		ret = card_socket_open_to(c->proc.socket, pf->hv_jail.gid);
	if (!ret)
		ret = card_pidfile(c);
	if (!ret)
		fprintf(stderr, "cardvisor: %s served by %s pid %d\n", c->what, c->binary,
			(int)c->proc.pid);
	return ret;
}

/* cv-hv connects to every card before the guest runs: start them all first. */
static int cards_start(struct run_card *cards, unsigned n, const char *dtb,
		       const struct proc_flags *pf)
{
	int ret = 0;

	for (unsigned i = 0; !ret && i < n; i++)
		ret = card_start(&cards[i], dtb, pf);
	if (ret)
		cards_stop(cards, n);
	return ret;
}

/*
 * Wait for cv-hv to end.  A card that dies meanwhile fails the instance's
 * system check (design.md, "Lifecycle"): it is started again, and its
 * device recovers through its protocol (cv-hv reconnects to a vhost-user
 * back-end and replays its rings).  A card that keeps dying is left down.
 */
static int instance_wait(pid_t hv, struct run_card *cards, unsigned n, const char *dtb,
			 const struct proc_flags *pf)
{
	int status;
	pid_t p;

	for (;;) {
		p = waitpid(-1, &status, 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0 || p == hv)
			return status;
		for (unsigned i = 0; i < n; i++) {
			struct run_card *c = &cards[i];

			if (!card_exited(&c->proc, p, status))
				continue;
			if (c->restarts++ == CARD_RESTARTS) {
				fprintf(stderr, "cardvisor: system check failed: %s died %u times, "
					"leaving it down\n", c->proc.name, CARD_RESTARTS + 1);
				break;
			}
			fprintf(stderr, "cardvisor: system check failed: restarting %s\n",
				c->proc.name);
			if (card_start(c, dtb, pf))
				card_stop(&c->proc, CARD_STOP_MS);
		}
	}
}

/* Whether @path (given with @opt) is a file this user can read; says why not. */
static bool readable_file(const char *opt, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
		fprintf(stderr, "cardvisor run: %s %s: %s\n", opt, path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "cardvisor run: %s %s: not a regular file\n", opt, path);
		return false;
	}
	return true;
}

static bool reply_ok(struct json_object *o);

/*
 * After cv-hv started: wait until its control socket answers, so that `run
 * -d` returns an instance that `status`, `stop` and `console` can reach.
 * True with *status set when cv-hv ended first.  A cv-hv that neither
 * answers nor ends within CARD_START_MS is reported running anyway (ps says
 * "unreachable"): the caller gets its id to stop it with.
 */
static bool instance_await_control(const char *id, pid_t hv, int *status)
{
	struct timespec tick = { .tv_nsec = 20 * 1000 * 1000 };

	for (long waited = 0; waited < CARD_START_MS; waited += 20) {
		struct json_object *r;
		bool up;

		if (waitpid(hv, status, WNOHANG) == hv)
			return true;
		r = instance_control(id, "{\"cmd\":\"status\"}");
		up = reply_ok(r);
		json_object_put(r);
		if (up)
			return false;
		nanosleep(&tick, NULL);
	}
	fprintf(stderr, "cardvisor: instance %s: cv-hv does not answer on its control socket "
			"after %d s\n", id, CARD_START_MS / 1000);
	return false;
}

/* The exit status of `cardvisor run` for cv-hv's wait status. */
static int instance_status(const char *id, int status)
{
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "cardvisor: cv-hv for %s died of signal %s\n", id,
			strsignal(WTERMSIG(status)));
		return 2;
	}
	return WEXITSTATUS(status);
}

/*
 * Start instance @d's cards and cv-hv and supervise them until cv-hv ends.
 * With @ready_fd (a detached run), one byte goes there once cv-hv answers
 * on its control socket (or ended well before it was seen to); the fd is
 * closed either way, so the waiting `run -d` learns of a failure to start
 * by end of file.  Returns the exit status of `cardvisor run`.
 */
static int instance_run(struct instance_desc *d, const char *console, struct run_volume *vols,
			unsigned nr_vols, const struct nic_spec *nics, unsigned nr_nics,
			const struct proc_flags *flags, int ready_fd)
{
	char dir[512], dtb[600], hv[PATH_MAX], pidfile[600], target[256], hv_jail[32];
	/* Its own copy, to which cv-hv's jail ids are added. */
	struct proc_flags local = *flags, *pf = &local;
	struct run_card cards[CV_INSTANCE_MAX_VOLUMES + CV_INSTANCE_MAX_NICS] = { 0 };
	unsigned nr_cards = nr_vols + nr_nics;
	bool ended = false;
	int status = 0;
	pid_t pid;

	/* rundir_create says on stderr why it refuses. */
	if (rundir_create(d->id, dir, sizeof(dir)))
		goto fail;
	/*
	 * cv-hv's jail ids, held by this process (the lock's fd) until the
	 * instance ends; its group may enter the instance directory, where it
	 * finds a card that comes back.  Not root, cv-hv jails itself as the
	 * user, like the cards.
	 */
	snprintf(hv_jail, sizeof(hv_jail), "--jail");
	if (!geteuid()) {
		pf->hv_jail = (struct jail){ .on = true, .lock_fd = -1 };
		if (jail_take_ids(&pf->hv_jail))
			goto fail;
		if (chown(dir, (uid_t)-1, pf->hv_jail.gid) || chmod(dir, 0710)) {
			fprintf(stderr, "cardvisor run: cannot open %s to cv-hv's group %u: %s\n",
				dir, (unsigned)pf->hv_jail.gid, strerror(errno));
			goto fail;
		}
		snprintf(hv_jail, sizeof(hv_jail), "--jail=%u:%u", (unsigned)pf->hv_jail.uid,
			 (unsigned)pf->hv_jail.gid);
	}
	if (sibling_binary("cv-hv", hv, sizeof(hv))) {
		fprintf(stderr, "cardvisor run: cv-hv: %s\n", strerror(errno));
		goto fail;
	}
	snprintf(dtb, sizeof(dtb), "%s/instance.dtb", dir);
	if (volumes_describe(d, vols, nr_vols, cards, dir, target, sizeof(target)) ||
	    nics_describe(d, nics, nr_nics, cards + nr_vols, dir) ||
	    instance_write_file(dtb, d) || cards_start(cards, nr_cards, dtb, pf))
		goto fail;

	pid = fork();
	if (pid == 0) {
		char *args[9] = { hv, "--instance", dtb, "--console", (char *)console };
		unsigned n = 5;

		args[n++] = hv_jail;
		/* cv-hv holds its ids' lock too, should this process die first. */
		if (pf->hv_jail.lock_fd >= 0)
			fcntl(pf->hv_jail.lock_fd, F_SETFD, 0);
		proc_flags_args(pf, args, n);
		execv(hv, args);
		fprintf(stderr, "cardvisor run: cannot start %s: %s\n", hv, strerror(errno));
		_exit(EXIT_USAGE);
	}
	if (pid < 0) {
		cards_stop(cards, nr_cards);
		goto fail;
	}
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	{
		FILE *f = fopen(pidfile, "w");

		if (f) {
			fprintf(f, "%d\n", (int)pid);
			fclose(f);
		}
	}
	fprintf(stderr, "cardvisor: instance %s started (cv-hv pid %d)\n", d->id, (int)pid);
	/* The terminal's Ctrl-C goes to cv-hv too (same process group): it decides. */
	signal(SIGINT, SIG_IGN);
	if (ready_fd >= 0) {
		/* A guest that ran and powered off before cv-hv was seen to
		 * answer was running too: `wait` gives its status. */
		ended = instance_await_control(d->id, pid, &status);
		if ((!ended || (WIFEXITED(status) && !WEXITSTATUS(status))) &&
		    write(ready_fd, "R", 1) != 1)
			fprintf(stderr, "cardvisor: instance %s: `run -d` is gone: %s\n", d->id,
				strerror(errno));
		close(ready_fd);
	}
	if (!ended)
		status = instance_wait(pid, cards, nr_cards, dtb, pf);
	cards_stop(cards, nr_cards);
	rundir_remove(d->id);
	if (pf->hv_jail.lock_fd >= 0)
		close(pf->hv_jail.lock_fd);
	return instance_status(d->id, status);
fail:
	rundir_remove(d->id);
	if (pf->hv_jail.lock_fd >= 0)
		close(pf->hv_jail.lock_fd);
	if (ready_fd >= 0)
		close(ready_fd);
	return EXIT_USAGE;
}

/* Copy the file at @path to @out, from @*pos on; @*pos moves to its end. */
static void file_copy_from(const char *path, off_t *pos, FILE *out)
{
	char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	while ((n = pread(fd, buf, sizeof(buf), *pos)) > 0) {
		fwrite(buf, 1, (size_t)n, out);
		*pos += n;
	}
	fflush(out);
	close(fd);
}

/*
 * run -d: the supervising `cardvisor run` goes on in a new session with
 * its output (and every child's) in the record's cardvisor.log; this one
 * prints the id once cv-hv answers, or what went wrong when it ended
 * before that, with the status a foreground run would have had.
 */
static int instance_detach(struct instance_desc *d, const char *console, struct run_volume *vols,
			   unsigned nr_vols, const struct nic_spec *nics, unsigned nr_nics,
			   const struct proc_flags *pf, bool json)
{
	char log[512], c;
	int lock, ready[2], status, ret;
	off_t pos = 0;
	ssize_t n;
	pid_t pid;

	lock = instance_record_create(d->id);
	if (lock < 0)
		return EXIT_USAGE;
	if (instance_record_path(d->id, "cardvisor.log", log, sizeof(log)) ||
	    pipe2(ready, O_CLOEXEC) < 0) {
		instance_record_remove(d->id);
		return EXIT_USAGE;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		close(ready[0]);
		if (logfd < 0 || null < 0 || setsid() < 0 || dup2(null, 0) < 0 ||
		    dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			ret = EXIT_USAGE;
		else
			ret = instance_run(d, console, vols, nr_vols, nics, nr_nics, pf, ready[1]);
		if (instance_record_set_exit(d->id, ret))
			fprintf(stderr, "cardvisor: instance %s: cannot record exit status %d\n",
				d->id, ret);
		return ret; /* the supervisor's own exit status, through main() */
	}
	close(lock);
	close(ready[1]);
	if (pid < 0) {
		close(ready[0]);
		instance_record_remove(d->id);
		return EXIT_USAGE;
	}
	do
		n = read(ready[0], &c, 1);
	while (n < 0 && errno == EINTR);
	close(ready[0]);
	if (n == 1) {
		if (json) {
			struct json_object *o = json_object_new_object();
			char dir[512];

			instance_record_path(d->id, NULL, dir, sizeof(dir));
			json_object_object_add(o, "id", json_object_new_string(d->id));
			json_object_object_add(o, "record", json_object_new_string(dir));
			printf("%s\n", json_object_to_json_string_ext(o, JSON_OUT));
			json_object_put(o);
		} else {
			printf("%s\n", d->id);
		}
		return 0;
	}
	waitpid(pid, &status, 0);
	if (instance_record_exit(d->id, &ret))
		ret = 2;
	fprintf(stderr, "cardvisor run: instance %s ended before it was running (exit status "
			"%d); its log (cardvisor logs --system %s):\n", d->id, ret, d->id);
	file_copy_from(log, &pos, stderr);
	return ret;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "guest", required_argument, NULL, 'g' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "mem", required_argument, NULL, 'm' },
		{ "console", required_argument, NULL, 'o' },
		{ "quirks", required_argument, NULL, 'q' },
		{ "type", required_argument, NULL, 't' },
		{ "vfio-user", required_argument, NULL, 'u' },
		{ "volume", required_argument, NULL, 'V' },
		{ "nic", required_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "seccomp", required_argument, NULL, 'S' },
		{ "detach", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "id", required_argument, NULL, 'I' },
		{ "fleet", no_argument, NULL, 'F' },
		{ "etcd", required_argument, NULL, 'E' },
		{ "force-detach", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct instance_desc d = { .type = "cv.custom", .vcpus = 1, .memory = 256ULL << 20,
				   .quirks = "auto" };
	const char *console = NULL, *guest = NULL;
	char err[160], console_path[512], console_log[600], boot_cmdline[CV_CMDLINE_MAX];
	struct run_volume vols[CV_INSTANCE_MAX_VOLUMES] = { 0 };
	struct nic_spec nics[CV_INSTANCE_MAX_NICS];
	unsigned nr_vols = 0, nr_nics = 0;
	struct proc_flags pf = { .seccomp = true, .hv_jail = { .lock_fd = -1 } };
	bool detach = false, json = false, fleet = false, force_detach = false;
	const char *id = NULL, *etcd = NULL;
	/*
	 * What the fleet's host runs: the options as getopt read them, in
	 * their long form with the argument apart ("--volume", "id=..."), less
	 * the fleet's own and -d/--json, which its agent gives.
	 */
	const char *host_args[2 * argc];
	char host_opts[argc][24];
	size_t n_host_args = 0, n_host_opts = 0, nic_arg[CV_INSTANCE_MAX_NICS];
	int opt, li = -1;
	char *end;

	while ((opt = getopt_long(argc, argv, "d", opts, &li)) != -1) {
		if (li >= 0 && !strchr("djIFED", opt)) {
			snprintf(host_opts[n_host_opts], sizeof(host_opts[0]), "--%s",
				 opts[li].name);
			host_args[n_host_args++] = host_opts[n_host_opts++];
			if (opts[li].has_arg)
				host_args[n_host_args++] = optarg;
		}
		li = -1;
		switch (opt) {
		case 'k': d.kernel = optarg; d.linux_guest = true; break;
		case 'g': guest = optarg; break;
		case 'i': d.initrd = optarg; break;
		case 'c': d.cmdline = optarg; break;
		case 'n':
			errno = 0;
			d.vcpus = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || !d.vcpus || d.vcpus > 255) {
				fprintf(stderr, "cardvisor: --vcpus %s: expected 1..255\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'm': {
			uint64_t size;

			if (parse_size(optarg, &size)) {
				fprintf(stderr, "cardvisor: --mem %s: expected a size like 512M or 2G\n",
					optarg);
				return EXIT_USAGE;
			}
			if (size < CV_MEM_MIN || size % CV_MEM_ALIGN) {
				fprintf(stderr, "cardvisor: --mem %s: need at least %lluM, in whole "
						"multiples of %lluM\n", optarg, CV_MEM_MIN >> 20,
					CV_MEM_ALIGN >> 20);
				return EXIT_USAGE;
			}
			d.memory = size;
			break;
		}
		case 'o': console = optarg; break;
		case 'q': d.quirks = optarg; break;
		case 't': d.type = optarg; break;
		case 'u':
			/* Slots 1-3 stay free for functions cv-hv itself may emulate. */
			if (d.nr_vfio_user == CV_INSTANCE_MAX_VFIO_USER) {
				fprintf(stderr, "cardvisor: at most %d --vfio-user devices\n",
					CV_INSTANCE_MAX_VFIO_USER);
				return EXIT_USAGE;
			}
			d.vfio_user[d.nr_vfio_user] = (struct instance_vfio_user){
				.socket = optarg, .slot = 4 + d.nr_vfio_user };
			d.nr_vfio_user++;
			break;
		case 'V':
			if (nr_vols == CV_INSTANCE_MAX_VOLUMES) {
				fprintf(stderr, "cardvisor: at most %d --volume\n",
					CV_INSTANCE_MAX_VOLUMES);
				return EXIT_USAGE;
			}
			if (volume_spec_parse(optarg, &vols[nr_vols].spec, err, sizeof(err))) {
				fprintf(stderr, "cardvisor: --volume %s: %s\n", optarg, err);
				return EXIT_USAGE;
			}
			nr_vols++;
			break;
		case 'N':
			if (nr_nics == CV_INSTANCE_MAX_NICS) {
				fprintf(stderr, "cardvisor: at most %d --nic\n", CV_INSTANCE_MAX_NICS);
				return EXIT_USAGE;
			}
			if (nic_spec_parse(optarg, &nics[nr_nics], err, sizeof(err))) {
				fprintf(stderr, "cardvisor: --nic %s: %s\n", optarg, err);
				return EXIT_USAGE;
			}
			nic_arg[nr_nics++] = n_host_args - 1;
			break;
		case 'v': pf.verbose = true; break;
		case 'S':
			if (syscall_filter_parse(optarg, &pf.seccomp)) {
				fprintf(stderr, "cardvisor run: --seccomp %s: expected on or off\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'd': detach = true; break;
		case 'j': json = true; break;
		case 'I': id = optarg; break;
		case 'F': fleet = true; break;
		case 'E': etcd = optarg; break;
		case 'D': force_detach = true; break;
		case 'h': usage(stdout, "run"); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc || !!d.kernel == !!guest) {
		fprintf(stderr, "cardvisor run: give exactly one of --kernel FILE or --guest FILE "
				"(see cardvisor --help)\n");
		return EXIT_USAGE;
	}
	if (id && !instance_id_valid(id)) {
		fprintf(stderr, "cardvisor run: --id %s: expected i- and hex digits, like "
				"i-0123456789abcdef0\n", id);
		return EXIT_USAGE;
	}
	if (fleet || etcd || force_detach) {
		const char *volumes[CV_INSTANCE_MAX_VOLUMES];
		struct fleet_nic fnics[CV_INSTANCE_MAX_NICS];
		char nic_specs[CV_INSTANCE_MAX_NICS][512];
		struct fleet_request r = { .id = id, .vcpus = d.vcpus, .mem = d.memory,
					   .subnet = nr_nics ? nics[0].subnet : "",
					   .args = host_args, .n_args = n_host_args,
					   .volumes = volumes, .force_detach = force_detach,
					   .nics = fnics, .n_nics = nr_nics };

		if (!fleet) {
			fprintf(stderr, "cardvisor run: --etcd and --force-detach go with "
					"--fleet\n");
			return EXIT_USAGE;
		}
		/* Named volumes are attached through the fleet, which numbers them. */
		for (unsigned i = 0; i < nr_vols; i++) {
			if (vols[i].spec.epoch) {
				fprintf(stderr, "cardvisor run: --fleet numbers attachments "
						"itself: no epoch= (volume %s)\n", vols[i].spec.id);
				return EXIT_USAGE;
			}
			if (vols[i].spec.id[0])
				volumes[r.n_volumes++] = vols[i].spec.id;
		}
		/*
		 * The host binds its ENIs' cards to its underlay address and the
		 * fleet's mapping service tells them where the VPC's others are;
		 * placement settles each address (its spec into the args).
		 */
		for (unsigned i = 0; i < nr_nics; i++) {
			if (nics[i].underlay_given || nics[i].mapping[0]) {
				fprintf(stderr, "cardvisor run: --fleet: the host gives --nic its "
						"underlay= and the fleet its mapping= (%s)\n",
					host_args[nic_arg[i]]);
				return EXIT_USAGE;
			}
			fnics[i] = (struct fleet_nic){ .spec = &nics[i], .arg = nic_specs[i],
						       .arg_len = sizeof(nic_specs[i]) };
			host_args[nic_arg[i]] = nic_specs[i];
		}
		if (!(etcd = fleet_endpoints("cardvisor run", etcd)))
			return EXIT_USAGE;
		if (!id && instance_new_id(d.id))
			return EXIT_USAGE;
		r.id = id ? id : d.id;
		return fleet_cmd_run(etcd, &r, json);
	}
	if (guest) {
		d.kernel = guest;
		if (d.initrd) {
			fprintf(stderr, "cardvisor run: --initrd goes with --kernel\n");
			return EXIT_USAGE;
		}
	} else if (!d.cmdline) {
		d.cmdline = CARDVISOR_LINUX_CMDLINE;
	}
	if (!readable_file(guest ? "--guest" : "--kernel", d.kernel) ||
	    (d.initrd && !readable_file("--initrd", d.initrd)) ||
	    boot_volume_arrange(&d, vols, nr_vols, boot_cmdline, sizeof(boot_cmdline)))
		return EXIT_USAGE;
	if (console && strcmp(console, "stdio") && strcmp(console, "none") &&
	    !((!strncmp(console, "file:", 5) && console[5]) ||
	      (!strncmp(console, "socket:", 7) && console[7]))) {
		fprintf(stderr, "cardvisor run: --console %s: expected stdio, file:PATH, "
				"socket:PATH or none\n", console);
		return EXIT_USAGE;
	}
	if (json && !detach) {
		fprintf(stderr, "cardvisor run: --json goes with -d (a foreground run prints "
				"its console)\n");
		return EXIT_USAGE;
	}
	if (detach && console && !strcmp(console, "stdio")) {
		fprintf(stderr, "cardvisor run: -d has no terminal for --console stdio "
				"(its console goes to `cardvisor logs ID`)\n");
		return EXIT_USAGE;
	}
	if (id) {
		snprintf(d.id, sizeof(d.id), "%s", id);
	} else if (instance_new_id(d.id)) {
		fprintf(stderr, "cardvisor run: no instance id: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	if (geteuid())
		fprintf(stderr, "cardvisor run: not root: cv-hv and the cards run in jails as "
			"uid %u, not as ids of their own\n", (unsigned)geteuid());
	if (!detach)
		return instance_run(&d, console ? console : "stdio", vols, nr_vols, nics, nr_nics,
				    &pf, -1);
	if (!console) {
		if (instance_record_path(d.id, "console.log", console_path, sizeof(console_path)))
			return EXIT_USAGE;
		snprintf(console_log, sizeof(console_log), "file:%s", console_path);
		console = console_log;
	}
	return instance_detach(&d, console, vols, nr_vols, nics, nr_nics, &pf, json);
}

static int instance_connect(const char *id, const char *name)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (rundir_path(id, name, path, sizeof(path)))
		return -ENAMETOOLONG;
	return fd_unix_connect(path);
}

static bool reply_ok(struct json_object *o)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, "ok", &v) && json_object_get_boolean(v);
}

/* True when the instance's recorded cv-hv process no longer exists. */
static bool instance_stale(const char *id)
{
	char path[512];
	FILE *f;
	int pid = 0;

	if (rundir_path(id, "pid", path, sizeof(path)) || !(f = fopen(path, "r")))
		return false;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

/*
 * The instance's state and reason in libvirt's words, beside cv-hv's own
 * (README, "Machine-readable state"): {"libvirt": {"state": 1,
 * "state_name": "VIR_DOMAIN_RUNNING", "reason": 1, "reason_name":
 * "VIR_DOMAIN_RUNNING_BOOTED"}}.
 */
static void add_libvirt_state(struct json_object *r)
{
	struct json_object *lv = json_object_new_object();
	struct domain_state ds;

	domain_state_from_hv(json_field_str(r, "state", ""),
			     json_field_str(r, "state_reason", NULL), &ds);
	json_object_object_add(lv, "state", json_object_new_int(ds.state));
	json_object_object_add(lv, "state_name", json_object_new_string(ds.state_name));
	json_object_object_add(lv, "reason", json_object_new_int(ds.reason));
	json_object_object_add(lv, "reason_name", json_object_new_string(ds.reason_name));
	json_object_object_add(r, "libvirt", lv);
}

/*
 * The arguments of a listing command (argv[0] names it): --json or nothing.
 * 0 with *@json set, or EXIT_USAGE after one line saying what is wrong.
 */
static int json_flag_only(int argc, char **argv, bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	int opt;

	*json = false;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return EXIT_USAGE;
		*json = true;
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\" (usage: %s [--json])\n", argv[0],
			argv[optind], argv[0]);
		return EXIT_USAGE;
	}
	return 0;
}

/* ps [--json]: every instance of this run directory, a line or an object each. */
static int cmd_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "fleet", no_argument, NULL, 'F' },
		{ "etcd", required_argument, NULL, 'E' },
		{ 0 },
	};
	struct json_object *list = NULL;
	const char *etcd = NULL;
	bool json = false, fleet = false;
	struct dirent *e;
	int opt;
	DIR *d;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'F': fleet = true; break;
		case 'E': etcd = optarg; break;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\" (usage: %s [--json] [--fleet "
				"[--etcd URLS]])\n", argv[0], argv[optind], argv[0]);
		return EXIT_USAGE;
	}
	if (etcd && !fleet) {
		fprintf(stderr, "%s: --etcd goes with --fleet\n", argv[0]);
		return EXIT_USAGE;
	}
	if (fleet)
		return (etcd = fleet_endpoints(argv[0], etcd)) ? fleet_cmd_ps(etcd, json) :
			EXIT_USAGE;
	if (json)
		list = json_object_new_array();
	else
		printf("%-20s %-9s %5s %9s %9s %8s\n", "ID", "STATE", "VCPUS", "MEMORY", "UPTIME",
		       "PID");
	d = opendir(rundir_base());
	while (d && (e = readdir(d))) {
		struct json_object *r;

		if (!instance_id_valid(e->d_name))
			continue;
		r = instance_control(e->d_name, "{\"cmd\":\"status\"}");
		if (!reply_ok(r) && instance_stale(e->d_name)) {
			rundir_remove(e->d_name); /* its cv-hv died without cleaning up */
		} else if (json) {
			if (!reply_ok(r)) {
				json_object_put(r);
				r = json_object_new_object();
				json_object_object_add(r, "state",
						       json_object_new_string("unreachable"));
			}
			json_object_object_add(r, "id", json_object_new_string(e->d_name));
			json_object_object_del(r, "ok");
			add_libvirt_state(r);
			json_object_array_add(list, r);
			continue;
		} else if (reply_ok(r)) {
			printf("%-20s %-9s %5lld %8lldM %8llds %8lld\n", e->d_name,
			       json_field_str(r, "state", ""), (long long)json_field_i64(r, "vcpus"),
			       (long long)(json_field_i64(r, "memory") >> 20),
			       (long long)(json_field_i64(r, "uptime_ms") / 1000),
			       (long long)json_field_i64(r, "pid"));
		} else {
			printf("%-20s %-9s\n", e->d_name, "unreachable");
		}
		json_object_put(r);
	}
	if (d)
		closedir(d);
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(list, JSON_OUT));
		json_object_put(list);
	}
	return 0;
}

static bool instance_gone(const char *id)
{
	char path[512];

	rundir_path(id, "control.sock", path, sizeof(path));
	return access(path, F_OK) != 0;
}

static bool parse_seconds(const char *cmd, const char *opt, const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || end == s || *end || *out < 0 || *out > 86400) {
		fprintf(stderr, "cardvisor %s: %s %s: expected 0..86400 seconds\n", cmd, opt, s);
		return false;
	}
	return true;
}

static int cmd_control(const char *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fleet", no_argument, NULL, 'F' },
		{ "etcd", required_argument, NULL, 'E' },
		{ 0 },
	};
	long timeout_s = 10;
	bool force = false, fleet = false, is_stop = !strcmp(cmd, "stop");
	bool is_status = !strcmp(cmd, "status");
	const char *etcd = NULL;
	struct json_object *r;
	char req[128];
	const char *id;
	int opt, ret = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == '?')
			return EXIT_USAGE;
		if (!is_stop && !(is_status && (opt == 'F' || opt == 'E'))) {
			fprintf(stderr, "cardvisor %s: --force and --timeout go with stop, "
					"--fleet with stop and status\n", cmd);
			return EXIT_USAGE;
		}
		if (opt == 'f')
			force = true;
		else if (opt == 'F')
			fleet = true;
		else if (opt == 'E')
			etcd = optarg;
		else if (opt != 't' || !parse_seconds(cmd, "--timeout", optarg, &timeout_s))
			return EXIT_USAGE;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: cardvisor %s ID%s\n", cmd,
			is_stop ? " [--force] [--timeout SECONDS]" : "");
		return EXIT_USAGE;
	}
	id = argv[optind];
	if (!instance_id_valid(id)) {
		fprintf(stderr, "cardvisor %s: \"%s\" is not an instance id (i-...)\n", cmd, id);
		return EXIT_USAGE;
	}
	if (fleet || etcd) {
		if (!fleet || force) {
			fprintf(stderr, "usage: cardvisor %s --fleet ID [--etcd URLS]\n", cmd);
			return EXIT_USAGE;
		}
		if (!(etcd = fleet_endpoints(is_stop ? "cardvisor stop" : "cardvisor status", etcd)))
			return EXIT_USAGE;
		return is_stop ? fleet_cmd_stop(etcd, id) : fleet_cmd_status(etcd, id);
	}
	if (is_stop)
		snprintf(req, sizeof(req), "{\"cmd\":\"stop\",\"force\":%s,\"timeout_ms\":%ld}",
			 force ? "true" : "false", timeout_s * 1000);
	else
		snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}", cmd);
	r = instance_control(id, req);
	if (!r) {
		fprintf(stderr, "cardvisor %s: instance %s is not running (no answer on %s/%s)\n",
			cmd, id, rundir_base(), id);
		return EXIT_USAGE;
	}
	if (!reply_ok(r)) {
		fprintf(stderr, "cardvisor %s: %s\n", cmd, json_field_str(r, "error", ""));
		ret = EXIT_USAGE;
	} else if (!strcmp(cmd, "status")) {
		add_libvirt_state(r);
		instance_cards(id, r);
		instance_checks(r);
		printf("%s\n", json_object_to_json_string_ext(r, JSON_OUT_PRETTY));
	} else if (is_stop) {
		/* Wait for cv-hv to finish: its control socket goes away when it exits. */
		struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
		long waited = 0, limit = (timeout_s + 5) * 20;

		while (!instance_gone(id) && waited++ < limit)
			nanosleep(&ts, NULL);
		printf("%s %s\n", id, instance_gone(id) ? "stopped" : "stopping");
	} else {
		printf("%s %s\n", id, json_field_str(r, "state", ""));
	}
	json_object_put(r);
	return ret;
}

/* Whether @id may name a volume; one line from @cmd (argv[0]) if not. */
static bool volume_id_arg(const char *cmd, const char *id)
{
	if (volume_store_id_valid(id))
		return true;
	fprintf(stderr, "%s: \"%s\" is not a volume id (1 to 64 of A-Z a-z 0-9 _ -)\n", cmd, id);
	return false;
}

/*
 * volume create: a new volume in the store (file and key, as `run --volume
 * size=` would make it), or with --dir just a sparse <dir>/<id>.vol for a
 * cv-storaged used on its own.  cv-storaged serves it as
 * VOLUME_STORE_NQN_PREFIX<id> (docs/storaged.md).
 */
static int volume_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ 0 },
	};
	struct volume_spec v = { 0 };
	const char *dir = NULL;
	char key[PATH_MAX], psk[PATH_MAX];
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'd') {
			dir = optarg;
		} else if (opt != 's') {
			return EXIT_USAGE;
		} else if (parse_size(optarg, &v.size) || !v.size || v.size % 4096) {
			fprintf(stderr, "cardvisor volume create: --size %s: expected a size like "
					"1G, a multiple of 4096 bytes\n", optarg);
			return EXIT_USAGE;
		}
	}
	if (!v.size || argc - optind > 1 || (dir && argc - optind != 1)) {
		fprintf(stderr, "usage: cardvisor volume create --size SIZE [ID] | --size SIZE "
				"--dir DIR ID\n");
		return EXIT_USAGE;
	}
	if (argc - optind == 1) {
		if (!volume_id_arg(argv[0], argv[optind]))
			return EXIT_USAGE;
		snprintf(v.id, sizeof(v.id), "%s", argv[optind]);
	}
	if (dir) {
		ret = volume_file_create(dir, v.id, v.size);
		if (ret)
			fprintf(stderr, "cardvisor volume create: %s/%s.vol: %s\n", dir, v.id,
				strerror(-ret));
		/* The key a host needs for cv-storaged's TLS (docs/storaged.md, "TLS"). */
		if (!ret && (ret = volume_psk_prepare(dir, v.id, psk, sizeof(psk))))
			fprintf(stderr, "cardvisor volume create: %s/%s.psk: %s\n", dir, v.id,
				strerror(-ret));
		if (!ret)
			fprintf(stderr, "cardvisor volume create: TLS PSK in %s\n", psk);
	} else {
		/* An existing id is an error here, not "attach": say so. */
		ret = volume_store_exists(v.id) ? -EEXIST
						: volume_store_prepare(&v, key, psk, sizeof(key));
		if (ret == -EEXIST)
			fprintf(stderr, "cardvisor volume create: %s exists\n", v.id);
	}
	if (ret)
		return EXIT_USAGE;
	printf("%s\n", v.id);
	return 0;
}

/* volume list [--json]: the volumes in the store, with their sizes. */
static int volume_list(int argc, char **argv)
{
	struct json_object *list = NULL;
	struct dirent **names = NULL;
	char dir[PATH_MAX];
	bool json;
	int n;

	if (json_flag_only(argc, argv, &json))
		return EXIT_USAGE;
	snprintf(dir, sizeof(dir), "%s/volumes", volume_store_base());
	n = scandir(dir, &names, NULL, alphasort);
	if (json)
		list = json_object_new_array();
	else
		printf("%-24s %10s\n", "ID", "SIZE");
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX + 256], id[VOLUME_STORE_ID_MAX + 1];
		size_t len = strlen(names[i]->d_name);
		struct stat st;

		if (len > 4 && len - 4 <= VOLUME_STORE_ID_MAX &&
		    !strcmp(names[i]->d_name + len - 4, ".vol")) {
			snprintf(id, sizeof(id), "%.*s", (int)(len - 4), names[i]->d_name);
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (volume_store_id_valid(id) && !stat(path, &st) && S_ISREG(st.st_mode)) {
				if (json) {
					struct json_object *o = json_object_new_object();

					json_object_object_add(o, "id", json_object_new_string(id));
					json_object_object_add(o, "size",
							       json_object_new_int64(st.st_size));
					json_object_array_add(list, o);
				} else {
					printf("%-24s %9lldM\n", id, (long long)(st.st_size >> 20));
				}
			}
		}
		free(names[i]);
	}
	free(names);
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(list, JSON_OUT));
		json_object_put(list);
	}
	return 0;
}

/* A progress line on a terminal, redrawn when the percentage moves. */
struct progress {
	const char *what;
	int shown; /* percent, -1 before the first line */
};

static void progress_show(void *opaque, uint64_t done, uint64_t total)
{
	struct progress *p = opaque;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (pct == p->shown)
		return;
	p->shown = pct;
	fprintf(stderr, "\r%s: %3d%% of %llu MiB", p->what, pct,
		(unsigned long long)(total >> 20));
	if (pct == 100)
		fputc('\n', stderr);
}

/* Volume @id's XTS key from the store, into @key. */
static int volume_key_load(const char *id, uint8_t key[XTS_KEY_LEN])
{
	char path[PATH_MAX];
	int ret = volume_store_key_path(id, path, sizeof(path));

	return ret ?: xts_key_file_read(path, key);
}

/*
 * A qcow2 image (QEMU's qcow2.txt: magic "QFI\xfb") as raw plaintext in an
 * unnamed file beside the store, converted by qemu-img: its fd, or a
 * negative errno after saying why (qemu-img missing or failing).
 */
static int qcow2_to_raw(const char *file)
{
	char dir[PATH_MAX], target[64];
	pid_t pid;
	int fd = -1, st = 0;
	/* Beside the volumes: the same file system, not a RAM-backed /tmp. */
	int ret = volume_store_subdir("volumes", dir, sizeof(dir));

	if (!ret && (fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) < 0)
		ret = -errno;
	if (ret) {
		fprintf(stderr, "cardvisor volume import: a temporary file in %s/volumes: %s\n",
			volume_store_base(), strerror(-ret));
		return -EINVAL;
	}
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	pid = fork();
	if (pid == 0) {
		/* The child keeps fd (no CLOEXEC there) and qemu-img writes through it. */
		if (fcntl(fd, F_SETFD, 0) == 0)
			execlp("qemu-img", "qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw",
			       file, target, (char *)NULL);
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			fprintf(stderr, "cardvisor volume import: %s is a qcow2 image and qemu-img "
					"is not installed (Debian: qemu-utils); install it or give a "
					"raw image\n", file);
		else
			fprintf(stderr, "cardvisor volume import: qemu-img could not convert %s "
					"(its message is above)\n", file);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* The image to import, raw: @file itself, or qemu-img's raw copy of a qcow2 one. */
static int import_source(const char *file, uint64_t *size)
{
	static const uint8_t qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };
	uint8_t magic[4];
	struct stat st;
	off_t end;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "cardvisor volume import: %s: %m\n", file);
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "cardvisor volume import: %s is not a file or a block device\n",
			file);
		close(fd);
		return -EINVAL;
	}
	if (pread(fd, magic, sizeof(magic), 0) == sizeof(magic) &&
	    !memcmp(magic, qcow2_magic, sizeof(magic))) {
		close(fd);
		fd = qcow2_to_raw(file);
		if (fd < 0)
			return fd;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end <= 0) {
		fprintf(stderr, "cardvisor volume import: %s is empty\n", file);
		close(fd);
		return -EINVAL;
	}
	*size = (uint64_t)end;
	return fd;
}

/*
 * volume import FILE [--size SIZE] [ID]: a new volume holding the image,
 * encrypted as the card would have written it, holes kept.  --size makes
 * the volume larger than the image (a file system can grow into it).
 */
static int volume_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ 0 },
	};
	struct progress pr = { .what = "cardvisor volume import", .shown = -1 };
	char key_path[PATH_MAX], psk[PATH_MAX], vol_path[PATH_MAX];
	struct volume_spec v = { 0 };
	uint8_t key[XTS_KEY_LEN];
	uint64_t size = 0, min;
	int opt, src, vol = -1, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 's')
			return EXIT_USAGE;
		if (parse_size(optarg, &size) || !size || size % VOLUME_BLOCK_SIZE) {
			fprintf(stderr, "cardvisor volume import: --size %s: expected a size like "
					"1G, a multiple of 4096 bytes\n", optarg);
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		fprintf(stderr, "usage: cardvisor volume import FILE [--size SIZE] [ID]\n");
		return EXIT_USAGE;
	}
	if (argc - optind == 2) {
		if (!volume_id_arg(argv[0], argv[optind + 1]))
			return EXIT_USAGE;
		if (volume_store_exists(argv[optind + 1])) {
			fprintf(stderr, "cardvisor volume import: %s exists\n", argv[optind + 1]);
			return EXIT_USAGE;
		}
		snprintf(v.id, sizeof(v.id), "%s", argv[optind + 1]);
	}
	src = import_source(argv[optind], &min);
	if (src < 0)
		return EXIT_USAGE;
	min = (min + VOLUME_BLOCK_SIZE - 1) & ~(uint64_t)(VOLUME_BLOCK_SIZE - 1);
	if (size && size < min) {
		fprintf(stderr, "cardvisor volume import: --size %llu is smaller than the image "
				"(%llu bytes)\n", (unsigned long long)size, (unsigned long long)min);
		close(src);
		return EXIT_USAGE;
	}
	v.size = size ? size : min;
	if (volume_store_prepare(&v, key_path, psk, sizeof(psk))) {
		close(src);
		return EXIT_USAGE;
	}
	ret = volume_key_load(v.id, key);
	if (!ret && !(ret = volume_store_data_path(v.id, vol_path, sizeof(vol_path))) &&
	    (vol = open(vol_path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		ret = -errno;
	if (!ret)
		ret = volume_image_import(src, min, vol, key, isatty(STDERR_FILENO) ?
				progress_show : NULL, &pr);
	explicit_bzero(key, sizeof(key));
	close(src);
	if (vol >= 0)
		close(vol);
	if (ret) {
		fprintf(stderr, "cardvisor volume import: %s into %s: %s (the volume is removed)\n",
			argv[optind], v.id, strerror(-ret));
		volume_store_remove(v.id);
		return EXIT_USAGE;
	}
	printf("%s\n", v.id);
	return 0;
}

/*
 * volume export ID FILE: the volume's plaintext as a new raw image (mode
 * 0600: it is what the encryption protected), holes where nothing was
 * written.  A volume an instance is writing gives no consistent copy:
 * export it stopped.
 */
static int volume_export(int argc, char **argv)
{
	struct progress pr = { .what = "cardvisor volume export", .shown = -1 };
	char vol_path[PATH_MAX];
	uint8_t key[XTS_KEY_LEN];
	const char *id, *file;
	struct stat st;
	int vol, dst = -1, ret;

	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return EXIT_USAGE;
	if (argc - optind != 2) {
		fprintf(stderr, "usage: cardvisor volume export ID FILE\n");
		return EXIT_USAGE;
	}
	id = argv[optind];
	file = argv[optind + 1];
	ret = volume_store_data_path(id, vol_path, sizeof(vol_path));
	vol = ret ? -1 : open(vol_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (ret == -EINVAL || (!ret && vol < 0 && errno == ENOENT)) {
		fprintf(stderr, "cardvisor volume export: no volume \"%s\" in %s\n", id,
			volume_store_base());
		return EXIT_USAGE;
	}
	if (vol < 0 || fstat(vol, &st) < 0 || volume_key_load(id, key)) {
		fprintf(stderr, "cardvisor volume export: %s cannot be read\n", id);
		if (vol >= 0)
			close(vol);
		return EXIT_USAGE;
	}
	dst = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0) {
		fprintf(stderr, "cardvisor volume export: %s: %m\n", file);
		ret = -errno;
	} else {
		ret = volume_image_export(vol, (uint64_t)st.st_size, dst, key,
					  isatty(STDERR_FILENO) ? progress_show : NULL, &pr);
		close(dst);
		if (ret) {
			fprintf(stderr, "cardvisor volume export: %s into %s: %s (removed)\n", id,
				file, strerror(-ret));
			unlink(file);
		}
	}
	explicit_bzero(key, sizeof(key));
	close(vol);
	return ret ? EXIT_USAGE : 0;
}

static int cmd_volume(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "cardvisor volume: expected a command: create, list, import or "
				"export\n");
		return EXIT_USAGE;
	}
	/* getopt's messages name the whole command. */
	if (!strcmp(argv[1], "create")) {
		argv[1] = "cardvisor volume create";
		return volume_create(argc - 1, argv + 1);
	}
	if (!strcmp(argv[1], "list")) {
		argv[1] = "cardvisor volume list";
		return volume_list(argc - 1, argv + 1);
	}
	if (!strcmp(argv[1], "import")) {
		argv[1] = "cardvisor volume import";
		return volume_import(argc - 1, argv + 1);
	}
	if (!strcmp(argv[1], "export")) {
		argv[1] = "cardvisor volume export";
		return volume_export(argc - 1, argv + 1);
	}
	fprintf(stderr, "cardvisor volume: unknown command \"%s\" (create, list, import, "
			"export)\n", argv[1]);
	return EXIT_USAGE;
}

/*
 * interrupt: a spot interruption notice, as EC2 gives two minutes ahead.
 * Every ENI card of the instance serves it at the metadata service's
 * spot/instance-action; --cancel withdraws it.
 */
static int cmd_interrupt(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "action", required_argument, NULL, 'a' },
		{ "in", required_argument, NULL, 'i' },
		{ "cancel", no_argument, NULL, 'c' },
		{ 0 },
	};
	const char *action = "terminate";
	long in_s = 120;
	bool cancel = false;
	struct instance_desc d;
	char when[32];
	void *blob;
	time_t at;
	unsigned told = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'a' && (!strcmp(optarg, "terminate") || !strcmp(optarg, "stop") ||
				   !strcmp(optarg, "hibernate"))) {
			action = optarg;
		} else if (opt == 'a') {
			fprintf(stderr, "cardvisor interrupt: --action %s: expected terminate, stop "
					"or hibernate\n", optarg);
			return EXIT_USAGE;
		} else if (opt == 'c')
			cancel = true;
		else if (opt != 'i' || !parse_seconds("interrupt", "--in", optarg, &in_s))
			return EXIT_USAGE;
	}
	if (optind != argc - 1 || !instance_id_valid(argv[optind])) {
		fprintf(stderr, "usage: cardvisor interrupt ID [--action terminate|stop|hibernate] "
				"[--in SECONDS] [--cancel]\n");
		return EXIT_USAGE;
	}
	if (instance_desc_load(argv[optind], &d, &blob)) {
		fprintf(stderr, "cardvisor interrupt: no running instance %s\n", argv[optind]);
		return EXIT_USAGE;
	}
	at = time(NULL) + in_s;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
	for (unsigned i = 0; i < d.nr_nics; i++) {
		char file[PATH_MAX + 8];
		FILE *f;
		int pid = 0;

		snprintf(file, sizeof(file), "%s.spot", d.nics[i].socket);
		f = fopen(file, "w");
		if (!f)
			continue;
		if (!cancel)
			fprintf(f, "%s %lld\n", action, (long long)at);
		fclose(f);
		snprintf(file, sizeof(file), "%s.pid", d.nics[i].socket);
		f = fopen(file, "r");
		if (f && fscanf(f, "%d", &pid) == 1 && pid > 0 && !kill(pid, SIGUSR1))
			told++;
		if (f)
			fclose(f);
	}
	free(blob);
	if (!told) {
		fprintf(stderr, "cardvisor interrupt: %s has no running ENI card to serve the "
			"notice (the metadata service needs a --nic)\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (cancel)
		printf("%s: spot interruption notice withdrawn\n", argv[optind]);
	else
		printf("%s: spot interruption notice: %s at %s\n", argv[optind], action, when);
	return 0;
}

#define CONSOLE_DETACH 0x1d /* Ctrl-], as in telnet and virsh */

/* Copy everything from @from to @to; false on EOF or error. */
static bool pump(int from, int to, bool *detach)
{
	char buf[4096];
	ssize_t n = read(from, buf, sizeof(buf));
	char *esc;

	if (n <= 0)
		return false;
	if (detach && (esc = memchr(buf, CONSOLE_DETACH, (size_t)n))) {
		n = esc - buf;
		*detach = true;
	}
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w <= 0)
			return false;
		off += w;
	}
	return !(detach && *detach);
}

/* Attach this terminal to a running VM's serial console. */
static int cmd_console(int argc, char **argv)
{
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &saved);
	bool detach = false, stdin_open = true;
	const char *id = argc == 2 ? argv[1] : "";
	int fd;

	if (!instance_id_valid(id)) {
		fprintf(stderr, "usage: cardvisor console ID\n");
		return EXIT_USAGE;
	}
	fd = instance_connect(id, "console.sock");
	if (fd < 0) {
		fprintf(stderr, "cardvisor console: instance %s is not running (%s)\n", id,
			strerror(-fd));
		return EXIT_USAGE;
	}
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		fprintf(stderr, "cardvisor: attached to %s; Ctrl-] detaches\r\n", id);
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents && !pump(fd, STDOUT_FILENO, NULL))
			break; /* cv-hv closed the console: the VM stopped */
		if (pfd[1].revents && !pump(STDIN_FILENO, fd, &detach)) {
			if (detach)
				break;
			stdin_open = false; /* keep showing output after input ends */
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	close(fd);
	fprintf(stderr, "%scardvisor: %s from %s\n", tty ? "\r\n" : "",
		detach ? "detached" : "console closed", id);
	return 0;
}

/* The id argument of logs, wait and rm: an instance with a record. */
static const char *record_arg(const char *cmd, int argc, char **argv, const char *opts_usage)
{
	const char *id;

	if (optind != argc - 1) {
		fprintf(stderr, "usage: cardvisor %s%s ID\n", cmd, opts_usage);
		return NULL;
	}
	id = argv[optind];
	if (!instance_id_valid(id)) {
		fprintf(stderr, "cardvisor %s: \"%s\" is not an instance id (i-...)\n", cmd, id);
		return NULL;
	}
	if (!instance_record_exists(id)) {
		fprintf(stderr, "cardvisor %s: no record of %s in %s/instances (only `cardvisor "
				"run -d` keeps one)\n", cmd, id, volume_store_base());
		return NULL;
	}
	return id;
}

/*
 * logs: a detached instance's console (--system: what cardvisor, cv-hv and
 * the cards said); --follow goes on until the instance has ended.
 */
static int cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "system", no_argument, NULL, 's' },
		{ 0 },
	};
	struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
	bool follow = false, system = false;
	char path[512];
	const char *id;
	off_t pos = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (opt == 'f')
			follow = true;
		else if (opt == 's')
			system = true;
		else
			return EXIT_USAGE;
	}
	id = record_arg("logs", argc, argv, " [-f|--follow] [--system]");
	if (!id || instance_record_path(id, system ? "cardvisor.log" : "console.log", path,
					sizeof(path)))
		return EXIT_USAGE;
	for (;;) {
		/* Whether it ran before the copy: what it wrote until its end is read. */
		bool running = follow && instance_record_running(id);

		file_copy_from(path, &pos, stdout);
		if (!running)
			return 0;
		nanosleep(&tick, NULL);
	}
}

/* wait: until a detached instance ends; its exit status is ours. */
static int cmd_wait(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ 0 },
	};
	long timeout_s = -1;
	const char *id;
	int opt, ret, status;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 't' || !parse_seconds("wait", "--timeout", optarg, &timeout_s))
			return EXIT_USAGE;
	}
	id = record_arg("wait", argc, argv, " [--timeout SECONDS]");
	if (!id)
		return EXIT_USAGE;
	ret = instance_record_wait(id, timeout_s < 0 ? -1 : timeout_s * 1000);
	if (ret == -ETIMEDOUT) {
		fprintf(stderr, "cardvisor wait: %s is still running after %ld s\n", id, timeout_s);
		return EXIT_WAIT_TIMEOUT;
	}
	if (!ret)
		ret = instance_record_exit(id, &status);
	if (ret) {
		fprintf(stderr, "cardvisor wait: %s ended without an exit status (its supervisor "
				"was killed?): %s; see cardvisor logs --system %s\n", id,
			strerror(-ret), id);
		return 2;
	}
	return status;
}

/* rm: forget an ended detached instance (its console and logs go too). */
static int cmd_rm(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fleet", no_argument, NULL, 'F' },
		{ "etcd", required_argument, NULL, 'E' },
		{ "force", no_argument, NULL, 'f' },
		{ 0 },
	};
	const char *id, *etcd = NULL;
	bool fleet = false, force = false;
	int ret, opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'F')
			fleet = true;
		else if (opt == 'E')
			etcd = optarg;
		else if (opt == 'f')
			force = true;
		else
			return EXIT_USAGE;
	}
	if (fleet || etcd || force) {
		if (!fleet || optind != argc - 1 || !instance_id_valid(argv[optind])) {
			fprintf(stderr, "usage: cardvisor rm --fleet [--force] [--etcd URLS] ID\n");
			return EXIT_USAGE;
		}
		return (etcd = fleet_endpoints("cardvisor rm", etcd)) ?
			fleet_cmd_rm(etcd, argv[optind], force) : EXIT_USAGE;
	}
	id = record_arg("rm", argc, argv, "");
	if (!id)
		return EXIT_USAGE;
	ret = instance_record_remove(id);
	if (ret == -EBUSY)
		fprintf(stderr, "cardvisor rm: %s is still running (cardvisor stop %s first)\n", id,
			id);
	else if (ret)
		fprintf(stderr, "cardvisor rm: %s: %s\n", id, strerror(-ret));
	return ret ? EXIT_USAGE : 0;
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	char name[64];

	/* Sockets, pid files and logs are this user's alone, whatever the
	 * caller's umask; the processes started from here inherit it. */
	umask(077);
	cv_log_init("cardvisor", false);
	if (!cmd || is_help(cmd) || !strcmp(cmd, "help")) {
		usage(cmd ? stdout : stderr, NULL);
		return cmd ? 0 : EXIT_USAGE;
	}
	/* cardvisor CMD --help, cardvisor volume|host SUB --help: that synopsis. */
	if (argc > 2 && (is_help(argv[2]) || ((!strcmp(cmd, "volume") || !strcmp(cmd, "host")) &&
					       argc > 3 && is_help(argv[3])))) {
		char which[64];

		snprintf(which, sizeof(which), "%s%s%s", cmd, is_help(argv[2]) ? "" : " ",
			 is_help(argv[2]) ? "" : argv[2]);
		for (size_t i = 0; i < sizeof(cmd_help) / sizeof(cmd_help[0]); i++) {
			if (help_matches(cmd_help[i].name, which)) {
				usage(stdout, which);
				return 0;
			}
		}
	}
	/* getopt's messages start with argv[0]: "cardvisor run: unrecognized option". */
	snprintf(name, sizeof(name), "cardvisor %s", cmd);
	argv[1] = name;
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "ps"))
		return cmd_ps(argc - 1, argv + 1);
	if (!strcmp(cmd, "console"))
		return cmd_console(argc - 1, argv + 1);
	if (!strcmp(cmd, "interrupt"))
		return cmd_interrupt(argc - 1, argv + 1);
	if (!strcmp(cmd, "volume"))
		return cmd_volume(argc - 1, argv + 1);
	if (!strcmp(cmd, "logs"))
		return cmd_logs(argc - 1, argv + 1);
	if (!strcmp(cmd, "wait"))
		return cmd_wait(argc - 1, argv + 1);
	if (!strcmp(cmd, "rm"))
		return cmd_rm(argc - 1, argv + 1);
	if (!strcmp(cmd, "host"))
		return fleet_cmd_host(argc - 1, argv + 1);
	if (!strcmp(cmd, "status") || !strcmp(cmd, "stop") || !strcmp(cmd, "pause") ||
	    !strcmp(cmd, "resume"))
		return cmd_control(cmd, argc - 1, argv + 1);
	fprintf(stderr, "cardvisor: unknown command \"%s\" (see cardvisor --help)\n", cmd);
	return EXIT_USAGE;
}
