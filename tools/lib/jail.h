/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The jail a card or cv-hv enters once it is set up (issue 11;
 * docs/security.md).  Firecracker's jailer builds the jail before it execs
 * the VMM, so whatever the VMM opens must be put inside it.  Here the
 * process opens what it needs first (a card its key, sockets and storage
 * association; cv-hv /dev/kvm, guest memory, the kernel, its cards) as
 * root, and then shuts the door behind itself, just before its seccomp
 * filter and before it reads a guest byte:
 *
 *   jail_prepare  (at start)  as root, every capability gone except
 *                 CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN and
 *                 CAP_SYS_CHROOT, which the jail needs; the bounding set
 *                 empty; with --jail and no ids given, an id of the jail
 *                 range taken.
 *   jail_unshare  new mount, IPC and UTS namespaces (and a network one
 *                 where the process needs no new connection); not root,
 *                 a user namespace first.
 *   jail_enter    (once set up)  the root becomes an empty read-only tmpfs
 *                 holding only a /proc that shows the jailed uid's own
 *                 processes (and, for cv-hv, its instance directory); the
 *                 process becomes the jail's uid and gid with no
 *                 supplementary group, which leaves it no capability.
 *
 * The ids: --jail=UID:GID as cardvisor or the operator gives them
 * (Firecracker's --uid and --gid), or --jail alone for an id of its own
 * from the range $CARDVISOR_JAIL_IDS ("FIRST:COUNT", default
 * 1879048192:65536, which systemd's UID conventions leave unused) that no
 * user or group of the passwd database has, held by a lock in
 * /run/cardvisor/jail-ids for as long as the lock's fd is open; the gid is
 * the same number; the range's last id is not handed out: it owns the
 * volume store (jail_store_ids).  A process that is not root cannot switch ids: with
 * --jail it keeps its user's, and a user namespace mapping only those lets
 * it make the rest of the jail (its /proc then is the host's, bound); it
 * is refused --jail=UID:GID.  Where user namespaces are off it runs
 * without a jail, saying so.
 */
#ifndef CV_JAIL_H
#define CV_JAIL_H

#include <stdbool.h>
#include <sys/types.h>

struct jail {
	bool on;            /* --jail given */
	bool auto_ids;      /* --jail without ids: take one from the range */
	bool own_net;       /* jail_unshare made a network namespace */
	bool userns;        /* not root: a user namespace, the user's own ids */
	uid_t uid;
	gid_t gid;
	int lock_fd;        /* the range id's lock, held until exit; -1 */
};

/* @arg: NULL (--jail) or "UID:GID".  0 or -EINVAL. */
int jail_parse(const char *arg, struct jail *j);
/*
 * Each of these does nothing to a process told no --jail (!@j->on); else
 * 0, or a negative errno after one line saying why.
 */
int jail_prepare(struct jail *j);
/*
 * The namespaces, at once and before any thread is made: a thread keeps
 * the mount namespace it was made in.  JAIL_OWN_NET: a network namespace
 * of its own too (no new connection from here on; UNIX sockets reached by
 * path still connect).
 */
#define JAIL_OWN_NET 1u
int jail_unshare(struct jail *j, unsigned flags);
/*
 * The rest, once set up: the empty root (with @keep_dir, unless NULL, at
 * its own absolute path: where cv-hv finds a card that comes back, read-
 * only; with JAIL_KEEP_RW read-write: cv-storaged's volumes), then the
 * jail's ids.
 */
#define JAIL_KEEP_RW 2u
int jail_enter(const struct jail *j, const char *keep_dir, unsigned flags);
/*
 * The volume store's owner: the last id of the range, which
 * jail_take_ids() never hands out, so the volume files keep one owner
 * across restarts of cv-storaged, which runs as it, and no card ever has
 * their uid.  -EEXIST if a user or group has it.
 */
int jail_store_ids(uid_t *uid, gid_t *gid);
/*
 * An unused id of the range for @j (jail_prepare's, and cardvisor's for
 * cv-hv, whose group it gives the cards' sockets).
 */
int jail_take_ids(struct jail *j);

#endif /* CV_JAIL_H */
