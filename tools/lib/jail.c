// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/jail.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tools/lib/dir_path.h"
#include "tools/lib/log.h"

/* systemd's UID/GID conventions leave 0x70000000..0x7fffffff unused. */
#define JAIL_IDS_DEFAULT "1879048192:65536"
#define JAIL_IDS_LOCKS "/run/cardvisor/jail-ids"
/* Where the new root is built: any directory will do in a private namespace. */
#define JAIL_BUILD_AT "/tmp"

static int parse_id(const char *s, char **end, uint32_t *id)
{
	unsigned long long v;

	errno = 0;
	v = strtoull(s, end, 10);
	/* (uid_t)-1 means "unchanged" to setresuid, and 0 is root. */
	if (errno || *end == s || *s == '-' || v == 0 || v >= UINT32_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

int jail_parse(const char *arg, struct jail *j)
{
	uint32_t uid, gid;
	char *end;

	*j = (struct jail){ .on = true, .lock_fd = -1 };
	if (!arg) {
		j->auto_ids = true;
		return 0;
	}
	if (parse_id(arg, &end, &uid) || *end != ':' || parse_id(end + 1, &end, &gid) || *end)
		return -EINVAL;
	j->uid = uid;
	j->gid = gid;
	return 0;
}

/* The lock directory: root's, a directory, writable by no one else. */
static int locks_dir(void)
{
	struct stat st;
	int fd;

	if ((mkdir("/run", 0755) && errno != EEXIST) ||
	    (mkdir("/run/cardvisor", 0700) && errno != EEXIST))
		return -errno;
	if (mkdir(JAIL_IDS_LOCKS, 0700) && errno != EEXIST)
		return -errno;
	fd = open(JAIL_IDS_LOCKS, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_uid != 0 || (st.st_mode & 022)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* $CARDVISOR_JAIL_IDS, or the default: at least two ids, the last the store's. */
static int id_range(uint32_t *first, uint32_t *count, const char **spec)
{
	char *end;

	*spec = getenv("CARDVISOR_JAIL_IDS");
	if (!*spec || !**spec)
		*spec = JAIL_IDS_DEFAULT;
	if (parse_id(*spec, &end, first) || *end != ':' || parse_id(end + 1, &end, count) ||
	    *end || *count < 2 || *count > UINT32_MAX - 1 - *first) {
		cv_err("jail: CARDVISOR_JAIL_IDS \"%s\" is not FIRST:COUNT of ids above 0, "
		       "COUNT at least 2", *spec);
		return -EINVAL;
	}
	return 0;
}

int jail_store_ids(uid_t *uid, gid_t *gid)
{
	uint32_t first, count, id;
	const char *spec;
	int ret = id_range(&first, &count, &spec);

	if (ret)
		return ret;
	id = first + count - 1;
	if (getpwuid(id) || getgrgid(id)) {
		cv_err("jail: %" PRIu32 ", the last id of %s, belongs to a user or group: it "
		       "cannot own the volume store", id, spec);
		return -EEXIST;
	}
	*uid = (uid_t)id;
	*gid = (gid_t)id;
	return 0;
}

/*
 * The first free id of the range: the lowest ones are used again and
 * again, so the lock directory holds about as many files as processes
 * ever ran jailed at once.
 */
int jail_take_ids(struct jail *j)
{
	uint32_t first, count;
	const char *spec;
	char name[16];
	int dir, fd;

	if (id_range(&first, &count, &spec))
		return -EINVAL;
	/* The last id is the volume store's (jail_store_ids). */
	count--;
	dir = locks_dir();
	if (dir < 0) {
		cv_err("jail: %s: %s (it must be root's, writable by no one else)",
		       JAIL_IDS_LOCKS, strerror(-dir));
		return dir;
	}
	for (uint32_t n = 0; n < count; n++) {
		uint32_t id = first + n;

		/* An id some user or group has is theirs, not the jail's. */
		if (getpwuid(id) || getgrgid(id))
			continue;
		snprintf(name, sizeof(name), "%" PRIu32, id);
		fd = openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (!flock(fd, LOCK_EX | LOCK_NB)) {
			close(dir);
			j->uid = id;
			j->gid = id;
			j->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	close(dir);
	cv_err("jail: every id of %s is in use or belongs to a user", spec);
	return -EBUSY;
}

int jail_prepare(struct jail *j)
{
	int ret;

	if (!j->on)
		return 0;
	if (geteuid() != 0) {
		if (!j->auto_ids) {
			cv_err("jail: --jail=%u:%u needs root to switch to those ids (running as "
			       "uid %u)", (unsigned)j->uid, (unsigned)j->gid, (unsigned)geteuid());
			return -EPERM;
		}
		/* No capability to keep: a user namespace will give the jail's. */
		j->userns = true;
		j->uid = geteuid();
		j->gid = getegid();
		return 0;
	}
	if (j->auto_ids && (ret = jail_take_ids(j)))
		return ret;
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SETUID, CAP_SETGID,
			  CAP_SYS_ADMIN, CAP_SYS_CHROOT, -1) ||
	    capng_apply(CAPNG_SELECT_ALL) < 0) {
		cv_err("jail: cannot drop capabilities (libcap-ng capng_apply)");
		return -EPERM;
	}
	return 0;
}

/* Each step of the jail, named for its error line. */
static int step(int rc, const char *what)
{
	int err = errno;

	if (rc >= 0)
		return 0;
	cv_err("jail: %s: %s", what, strerror(err));
	return -err;
}

/*
 * Make the current directory the root.  pivot_root(".", ".") stacks the old
 * root under the new one, whence it is detached.  On an initramfs (the
 * nested-KVM test's outer guest) pivot_root refuses with EINVAL: the
 * rootfs can never be unmounted.  There the new root is moved over "/"
 * and entered with chroot, as switch_root does; the old tree stays in the
 * namespace but under the new root, and without CAP_SYS_CHROOT, which
 * jail_enter drops next, nothing can climb out to it.
 */
static int make_root_here(void)
{
	if (!syscall(SYS_pivot_root, ".", "."))
		return step(umount2(".", MNT_DETACH), "detach the old root");
	if (errno != EINVAL)
		return step(-1, "pivot_root");
	return step(mount(".", "/", NULL, MS_MOVE, NULL), "move the new root over /") ?:
	       step(chroot("."), "chroot into the new root");
}

/*
 * @keep_dir bind-mounted at its own path under the new root (the current
 * directory), read-only unless @rw, from @keep_fd opened before the tmpfs
 * went over JAIL_BUILD_AT, where the directory may lie.
 */
static int keep(const char *keep_dir, int keep_fd, bool rw)
{
	const unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC |
				    (rw ? 0 : MS_RDONLY);
	char at[PATH_MAX], from[32];
	int ret;

	if (snprintf(at, sizeof(at), ".%s", keep_dir) >= (int)sizeof(at))
		return -ENAMETOOLONG;
	ret = dir_make_path(at, 0755);
	if (ret) {
		cv_err("jail: make the kept directory's path: %s", strerror(-ret));
		return ret;
	}
	snprintf(from, sizeof(from), "/proc/self/fd/%d", keep_fd);
	return step(mount(from, at, NULL, MS_BIND, NULL), "bind the kept directory") ?:
	       step(mount(NULL, at, NULL, flags, NULL), "remount the kept directory");
}

/*
 * The root: a tmpfs with /proc (and @keep_dir), mounted over
 * JAIL_BUILD_AT in the jail's mount namespace, made the root, then made
 * read-only.
 */
static int empty_root(const char *keep_dir, bool rw, bool userns)
{
	const unsigned long nodev = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int keep_fd = -1, ret;

	if (keep_dir) {
		/* Kept at its own path, which a relative one is not from "/". */
		if (keep_dir[0] != '/') {
			cv_err("jail: %s: not an absolute path", keep_dir);
			return -EINVAL;
		}
		keep_fd = open(keep_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (keep_fd < 0)
			return step(-1, "open the kept directory");
	}
	/* Its directories are for the jailed uid to walk: not the process's umask 077. */
	mode_t umask_was = umask(022);
	ret = step(mount("cv-jail", JAIL_BUILD_AT, "tmpfs", nodev, "mode=0755,size=16k"),
		   "mount the new root's tmpfs") ?:
	      step(chdir(JAIL_BUILD_AT), "enter the new root") ?:
	      step(mkdir("proc", 0555), "make /proc") ?:
	      /*
	       * The jailed uid's own processes only: itself.  A user namespace
	       * may not mount a proc of the host's PID namespace; it binds the
	       * host's, which shows what its user saw before.
	       */
	      (userns ? step(mount("/proc", "proc", NULL, MS_BIND | MS_REC, NULL),
			     "bind the host's /proc") ?:
			step(mount(NULL, "proc", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | nodev,
				   NULL), "make /proc read-only") :
			step(mount("proc", "proc", "proc", nodev, "hidepid=invisible,subset=pid"),
			     "mount /proc")) ?:
	      (keep_dir ? keep(keep_dir, keep_fd, rw) : 0) ?:
	      make_root_here() ?:
	      step(chdir("/"), "chdir /") ?:
	      step(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | nodev, NULL),
		   "make the root read-only");
	umask(umask_was);
	if (keep_fd >= 0)
		close(keep_fd);
	return ret;
}

/* /proc/self/@file := @text, one write (user_namespaces(7)). */
static int write_proc_self(const char *file, const char *text)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/%s", file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * Not root: a user namespace that maps the user's own ids only, in which
 * the process may make the others and build the root.  Where user
 * namespaces are off (a sysctl, a security module) it goes on without a
 * jail and says so: a user's own VM is not worth refusing for it.
 */
static int user_namespace(struct jail *j)
{
	char map[64];
	int ret;

	if (unshare(CLONE_NEWUSER)) {
		cv_warn("jail: no user namespace (%s): running without a jail, as uid %u",
			strerror(errno), (unsigned)j->uid);
		j->on = false;
		return 0;
	}
	/*
	 * The maps are /proc files of this process, which are root's while it
	 * is not dumpable (process_harden): dumpable for the three writes.
	 */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)j->uid, (unsigned)j->uid);
	ret = step(write_proc_self("uid_map", map), "map the uid") ?:
	      /* Before gid_map, or an unprivileged writer may not write it. */
	      step(write_proc_self("setgroups", "deny"), "deny setgroups");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)j->gid, (unsigned)j->gid);
	ret = ret ?: step(write_proc_self("gid_map", map), "map the gid");
	/* Not dumpable again, whatever happened. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) && !ret)
		ret = step(-1, "PR_SET_DUMPABLE 0");
	return ret;
}

int jail_unshare(struct jail *j, unsigned flags)
{
	int ns = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS, ret;

	if (j->on && j->userns && (ret = user_namespace(j)))
		return ret;
	if (!j->on)
		return 0;
	if (flags & JAIL_OWN_NET)
		ns |= CLONE_NEWNET;
	j->own_net = flags & JAIL_OWN_NET;
	return step(unshare(ns), "new namespaces") ?:
	       /* Nothing mounted in the jail shows outside, or the reverse. */
	       step(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make every mount private");
}

int jail_enter(const struct jail *j, const char *keep_dir, unsigned flags)
{
	int ret;

	if (!j->on)
		return 0;
	ret = empty_root(keep_dir, flags & JAIL_KEEP_RW, j->userns);
	if (ret)
		return ret;
	if (j->userns) {
		/* Its user namespace's capabilities, every one of them. */
		capng_clear(CAPNG_SELECT_ALL);
		if (capng_apply(CAPNG_SELECT_ALL) < 0) {
			cv_err("jail: cannot drop capabilities (libcap-ng capng_apply)");
			return -EPERM;
		}
	} else {
		/*
		 * From root to another uid, the kernel clears every capability;
		 * glibc makes every thread switch.
		 */
		ret = step(setgroups(0, NULL), "drop supplementary groups") ?:
		      step(setresgid(j->gid, j->gid, j->gid), "switch gid") ?:
		      step(setresuid(j->uid, j->uid, j->uid), "switch uid") ?:
		      /* A change of credentials resets it to the suid_dumpable sysctl. */
		      step(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "PR_SET_DUMPABLE 0");
		if (ret)
			return ret;
	}
	if (capng_get_caps_process() || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE) {
		cv_err("jail: capabilities left after the switch to uid %u", (unsigned)j->uid);
		return -EPERM;
	}
	cv_info("jail: uid %u gid %u%s, own %smount, IPC, UTS%s namespaces, an empty read-only "
		"root%s%s%s", (unsigned)j->uid, (unsigned)j->gid,
		j->userns ? " (not root: no ids of its own)" : "", j->userns ? "user, " : "",
		j->own_net ? " and network" : "", keep_dir ? " with " : "", keep_dir ? keep_dir : "",
		keep_dir && flags & JAIL_KEEP_RW ? " (read-write)" : "");
	return 0;
}
