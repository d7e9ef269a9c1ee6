/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-storaged: the storage node.  Serves every volume file in --dir as an
 * NVMe/TCP subsystem (docs/storaged.md).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest-abi/nvme_tcp.h"
#include "tools/lib/harden.h"
#include "tools/lib/heap.h"
#include "tools/lib/jail.h"
#include "tools/lib/landlock.h"
#include "tools/lib/log.h"
#include "tools/lib/syscall_filter.h"
#include "tools/storaged/server.h"
#include "tools/storaged/volume.h"

#define EXIT_USAGE 1

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cv-storaged --dir DIR [--listen ADDR[:PORT]] [--max-connections N]\n"
		"                   [--tls=required|off] [--pidfile FILE] [--seccomp=on|off]\n"
		"                   [--jail[=UID:GID]] [--verbose]\n\n"
		"Serves each volume DIR/ID.vol as the NVMe/TCP subsystem\n"
		"  " VOLUME_NQN_PREFIX "ID  (one namespace, 4096-byte blocks)\n\n"
		"  --dir DIR          where volumes live (cardvisor volume create --dir DIR)\n"
		"  --listen ADDR[:PORT]  numeric IPv4 or [IPv6] address, default 127.0.0.1:%u;\n"
		"                     port 0 picks a free one (logged at start)\n"
		"  --max-connections N  connections at once, more wait; default %u: what\n"
		"                     the descriptor limit (ulimit -n) has room for\n"
		"  --tls=required     TLS 1.3 with the volume's PSK, DIR/ID.psk, before any\n"
		"                     PDU (the default); off: plain NVMe/TCP, any host\n"
		"  --pidfile FILE     written once listening, removed on exit\n"
		"  --seccomp=off      no system call filter (for debugging; logged)\n"
		"  --jail[=UID:GID]   once listening, serve from namespaces of its own with an\n"
		"                     empty root holding DIR alone, as UID:GID (root; --jail\n"
		"                     alone: DIR's owner) or as the user (user namespace)\n"
		"  --verbose          log every failed command\n",
		NVME_TCP_PORT, storaged_default_max_conns());
}

/* "ADDR", "ADDR:PORT", ":PORT", "[V6]", "[V6]:PORT". */
static int parse_listen(const char *s, char *addr, size_t len, uint16_t *port)
{
	struct in6_addr a6;
	struct in_addr a4;
	const char *colon, *end;
	char *tail;
	unsigned long p;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end)
			return -EINVAL;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -EINVAL;
		s++;
	} else {
		colon = strrchr(s, ':');
		end = colon ? colon : s + strlen(s);
	}
	if ((size_t)(end - s) >= len)
		return -EINVAL;
	memcpy(addr, s, (size_t)(end - s));
	addr[end - s] = '\0';
	if (*addr && inet_pton(AF_INET, addr, &a4) != 1 && inet_pton(AF_INET6, addr, &a6) != 1)
		return -EINVAL;
	if (!colon)
		return 0;
	errno = 0;
	p = strtoul(colon + 1, &tail, 10);
	if (!colon[1] || *tail || errno || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

/*
 * What cv-storaged does once it serves, beyond every process's base list
 * (tools/lib/syscall_filter.c).  Its file I/O goes through io_uring,
 * which seccomp does not see: the ring itself is restricted to the
 * operations the daemon makes (backend.c).
 */
static const struct syscall_allow storaged_syscalls[] = {
	/* A Connect opens its volume's file: read-write, never created or truncated... */
	SYSCALL_ALLOW_IF(openat, 2, O_CREAT | O_TRUNC, 0),
	/* ...and a volume's first epoch record is a new file (volume.c): never an old one. */
	SYSCALL_ALLOW_IF(openat, 2, O_CREAT | O_EXCL | O_TRUNC, O_CREAT | O_EXCL),
	/* The volume I/O ring. */
	SYSCALL_ALLOW(io_uring_enter),
	/* A controller's shutdown notification (CC.SHN) makes its volume durable. */
	SYSCALL_ALLOW(fdatasync),
	/* Its pid file, through its directory's descriptor (from a jail the path is gone). */
	SYSCALL_ALLOW(unlinkat),
	{ 0 }
};

/* The pid file's name in its directory. */
static const char *pidfile_name(const char *pidfile)
{
	const char *slash = strrchr(pidfile, '/');

	return slash ? slash + 1 : pidfile;
}

/*
 * Listening: the pid file (the readiness signal), then every wall between
 * the daemon and what a host sends: no capability, the jail (with --jail:
 * its volume directory read-write, nothing else), Landlock (files only
 * beneath --dir), the system call filter.  *@pid_dirfd keeps the pid
 * file's directory for its removal at exit.
 */
static int sandbox(struct jail *jail, const char *dir, const char *pidfile, bool seccomp,
		   int *pid_dirfd)
{
	char piddir[PATH_MAX];

	/* After the bind (a port below 1024 may need a capability), before the first PDU. */
	if (process_harden(!jail->on))
		return -EPERM;
	*pid_dirfd = AT_FDCWD;
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		snprintf(piddir, sizeof(piddir), "%s", pidfile);
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) ||
		    (*pid_dirfd = open(dirname(piddir), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
			cv_err("--pidfile %s: %s", pidfile, strerror(errno));
			return -errno;
		}
	}
	if (jail_prepare(jail) || jail_unshare(jail, JAIL_OWN_NET) ||
	    jail_enter(jail, dir, JAIL_KEEP_RW) ||
	    landlock_restrict(&(struct landlock_policy){
		    .rw_dir = dir, .rm_dirfd = pidfile ? *pid_dirfd : 0 }) ||
	    syscall_filter_install(seccomp, storaged_syscalls))
		return -EPERM;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "seccomp", required_argument, NULL, 's' },
		{ "tls", required_argument, NULL, 't' },
		{ "jail", optional_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *pidfile = NULL, *listen_arg = "127.0.0.1", *max_arg = NULL;
	char addr[64], dir_abs[PATH_MAX], *tail;
	struct jail jail = { .lock_fd = -1 };
	int pid_dirfd = AT_FDCWD;
	uint16_t port = NVME_TCP_PORT;
	unsigned long max_conns = 0;
	bool verbose = false, seccomp = true, tls = true;
	struct storaged sd;
	struct stat st;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "d:l:m:p:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'l': listen_arg = optarg; break;
		case 'm': max_arg = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'v': verbose = true; break;
		case 's':
			if (syscall_filter_parse(optarg, &seccomp)) {
				usage(stderr);
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (strcmp(optarg, "required") && strcmp(optarg, "off")) {
				usage(stderr);
				return EXIT_USAGE;
			}
			tls = !strcmp(optarg, "required");
			break;
		case 'j':
			if (jail_parse(optarg, &jail)) {
				usage(stderr);
				return EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	cv_log_init("cv-storaged", verbose);
	if (optind != argc || !dir) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || !realpath(dir, dir_abs)) {
		cv_err("--dir %s: not a directory", dir);
		return EXIT_USAGE;
	}
	/* The jail keeps it at its own absolute path. */
	dir = dir_abs;
	/*
	 * Root's --jail alone: the ids the volume files belong to, those of
	 * the directory (cardvisor's volume store is the store id's,
	 * jail_store_ids), never root's.
	 */
	if (jail.on && jail.auto_ids && geteuid() == 0) {
		if (!st.st_uid || !st.st_gid) {
			cv_err("--jail: %s is root's: chown it (and its volumes) to the ids to serve "
			       "as, or give --jail=UID:GID", dir);
			return EXIT_USAGE;
		}
		jail.auto_ids = false;
		jail.uid = st.st_uid;
		jail.gid = st.st_gid;
	}
	if (parse_listen(listen_arg, addr, sizeof(addr), &port) < 0) {
		cv_err("--listen %s: expected ADDR[:PORT] with a numeric address", listen_arg);
		return EXIT_USAGE;
	}
	if (max_arg) {
		errno = 0;
		max_conns = strtoul(max_arg, &tail, 10);
		if (!isdigit((unsigned char)*max_arg) || *tail || errno || !max_conns ||
		    max_conns > UINT_MAX) {
			cv_err("--max-connections %s: expected a number from 1", max_arg);
			return EXIT_USAGE;
		}
	}
	heap_keep_io_buffers();
	umask(077);
	err = storaged_init(&sd, dir, addr, port);
	if (err < 0)
		return 2;
	/* OpenSSL reads its configuration now, before the sandbox. */
	if (tls && !(sd.tls = nvme_tls_ctx_new(true))) {
		cv_err("TLS: cannot make a context");
		storaged_exit(&sd);
		return 2;
	}
	if (!tls)
		cv_warn("--tls=off: any host that names a volume's NQN can read and write it");
	if (max_arg)
		sd.max_conns = (unsigned)max_conns;
	if (sandbox(&jail, dir, pidfile, seccomp, &pid_dirfd)) {
		storaged_exit(&sd);
		return 2;
	}
	cv_info("listening on %s%s%s:%u, volumes in %s, at most %u connections, %s",
		strchr(addr, ':') ? "[" : "", *addr ? addr : "0.0.0.0", strchr(addr, ':') ? "]" : "",
		storaged_port(&sd), dir, sd.max_conns,
		tls ? "TLS 1.3 with each volume's PSK required" : "no TLS");
	err = storaged_run(&sd);
	storaged_exit(&sd);
	/* Through its directory's descriptor: from a jail its path is gone. */
	if (pidfile && unlinkat(pid_dirfd, pidfile_name(pidfile), 0))
		cv_warn("--pidfile %s: not removed: %s", pidfile, strerror(errno));
	cv_info("stopped");
	return err < 0 ? 2 : 0;
}
