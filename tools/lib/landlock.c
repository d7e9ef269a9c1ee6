// SPDX-License-Identifier: Apache-2.0
/* Landlock self-restriction: tools/lib/landlock.h. */
#include "tools/lib/landlock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tools/lib/log.h"

/*
 * The UAPI as Linux 6.7 (ABI 4, TCP ports) and 6.12 (ABI 6, scopes)
 * extended it; Debian 12's headers stop at ABI 2.  The kernel takes the
 * ruleset attribute's size, so a shorter one suits an older kernel.
 */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
} __attribute__((packed));

#define LL_ACCESS_FS_TRUNCATE     (1ULL << 14)   /* ABI 3 */
#define LL_ACCESS_FS_IOCTL_DEV    (1ULL << 15)   /* ABI 5 */
#define LL_ACCESS_NET_BIND_TCP    (1ULL << 0)    /* ABI 4 */
#define LL_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#define LL_RULE_PATH_BENEATH      1
#define LL_RULE_NET_PORT          2
#define LL_SCOPE_ABSTRACT_UNIX    (1ULL << 0)    /* ABI 6 */
#define LL_SCOPE_SIGNAL           (1ULL << 1)

/* Every file system right of ABI 1 (13 of them) and REFER (ABI 2). */
#define LL_ACCESS_FS_V1 ((1ULL << 13) - 1)
#define LL_ACCESS_FS_V2 (LL_ACCESS_FS_V1 | LANDLOCK_ACCESS_FS_REFER)

static uint64_t fs_rights(long abi)
{
	uint64_t r = abi >= 2 ? LL_ACCESS_FS_V2 : LL_ACCESS_FS_V1;

	if (abi >= 3)
		r |= LL_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LL_ACCESS_FS_IOCTL_DEV;
	return r;
}

/* A rule: @access to what lies beneath the directory @dirfd. */
static int allow_beneath(int ruleset, int dirfd, uint64_t access)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access, .parent_fd = dirfd };

	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
		return -errno;
	return 0;
}

int landlock_restrict(const struct landlock_policy *p)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size = sizeof(attr.handled_access_fs);
	char what[PATH_MAX + 160], tcp[48];
	int ruleset, err = 0, n;
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	if (abi < 0) {
		cv_info("landlock: not in this kernel (%s): the jail and the system call filter "
			"stand alone", strerror(errno));
		return 0;
	}
	attr.handled_access_fs = fs_rights(abi);
	if (abi >= 4) {
		attr.handled_access_net = LL_ACCESS_NET_BIND_TCP | LL_ACCESS_NET_CONNECT_TCP;
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0) {
		err = -errno;
		cv_err("landlock: ruleset: %s", strerror(-err));
		return err;
	}
	if (p->rw_dir) {
		int fd = open(p->rw_dir, O_PATH | O_CLOEXEC | O_DIRECTORY);

		/* Files read, written and created (cv-storaged's epoch records),
		 * the directory opened to sync a new entry; nothing removed,
		 * renamed over or made but regular files. */
		err = fd < 0 ? -errno : allow_beneath(ruleset, fd, LANDLOCK_ACCESS_FS_READ_FILE |
							      LANDLOCK_ACCESS_FS_WRITE_FILE |
							      LANDLOCK_ACCESS_FS_MAKE_REG |
							      LANDLOCK_ACCESS_FS_READ_DIR);
		if (fd >= 0)
			close(fd);
	}
	if (!err && p->rm_dirfd > 0)
		err = allow_beneath(ruleset, p->rm_dirfd, LANDLOCK_ACCESS_FS_REMOVE_FILE);
	if (!err && p->tcp_connect_port && abi >= 4) {
		struct ll_net_port_attr np = { .allowed_access = LL_ACCESS_NET_CONNECT_TCP,
					       .port = p->tcp_connect_port };

		if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &np, 0) < 0)
			err = -errno;
	}
	if (!err && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		err = -errno;
	close(ruleset);
	if (err) {
		cv_err("landlock: %s", strerror(-err));
		return err;
	}
	n = snprintf(what, sizeof(what), "landlock ABI %ld: files: %s", abi,
		     p->rw_dir || p->rm_dirfd > 0 ? "" : "none");
	if (p->rw_dir)
		n += snprintf(what + n, sizeof(what) - (size_t)n, "read-write beneath %s%s",
			      p->rw_dir, p->rm_dirfd > 0 ? ", " : "");
	if (p->rm_dirfd > 0)
		snprintf(what + n, sizeof(what) - (size_t)n, "removing in one more directory");
	if (abi < 4)
		snprintf(tcp, sizeof(tcp), "unrestricted (ABI < 4)");
	else if (p->tcp_connect_port)
		snprintf(tcp, sizeof(tcp), "connect to port %u only", p->tcp_connect_port);
	else
		snprintf(tcp, sizeof(tcp), "none");
	cv_info("%s; TCP: %s%s", what, tcp, abi >= 6 ? "; signals and abstract sockets scoped" : "");
	return 0;
}

void landlock_probe(uint16_t port, bool *file_open, bool *tcp_connect)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	*file_open = fd >= 0;
	if (fd >= 0)
		close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*tcp_connect = fd >= 0 && (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
				   errno != EACCES);
	if (fd >= 0)
		close(fd);
}
