/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The jail a card enters once it is set up (issue 11; docs/security.md,
 * "Jail").  Firecracker's jailer builds the jail before it execs the VMM,
 * so whatever the VMM opens must be inside it.  A card instead opens its
 * key, its sockets and its storage connection first, as root, and then
 * shuts the door behind itself, just before its seccomp filter and before
 * it reads a guest byte:
 *
 *   jail_prepare  (at start, root only)  every capability gone except
 *                 CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN and
 *                 CAP_SYS_CHROOT, which jail_enter needs; the bounding
 *                 set empty; with --jail and no ids given, a uid of the
 *                 jail range taken.
 *   jail_enter    (once set up)  new mount, IPC and UTS namespaces (and a
 *                 network one where the caller needs no new connection);
 *                 the root becomes an empty read-only tmpfs holding only a
 *                 /proc that shows the jailed uid's own processes; the
 *                 process becomes the jail's uid and gid with no
 *                 supplementary group, which leaves it no capability.
 *
 * The ids: --jail=UID:GID as the operator gives them (Firecracker's --uid
 * and --gid), or --jail alone for a uid of its own from the range
 * $CARDVISOR_JAIL_IDS ("FIRST:COUNT", default 1879048192:65536, which
 * systemd's UID conventions leave unused) that no user in the passwd
 * database has, held by a lock in <rundir>/jail-ids for as long as the
 * process lives; its gid is the same number.  A process that is not root
 * cannot switch uid and is refused --jail with one line saying so.
 */
#ifndef CV_JAIL_H
#define CV_JAIL_H

#include <stdbool.h>
#include <sys/types.h>

struct jail {
	bool on;            /* --jail given */
	bool auto_ids;      /* --jail without ids: take one from the range */
	uid_t uid;
	gid_t gid;
	int lock_fd;        /* the range id's lock, held until exit; -1 */
};

/* JAIL_ENTER_OWN_NET: a network namespace of its own (no new connection). */
#define JAIL_ENTER_OWN_NET 1u

/* @arg: NULL (--jail) or "UID:GID".  0 or -EINVAL. */
int jail_parse(const char *arg, struct jail *j);
/* See above; 0, or a negative errno after one line saying why. */
int jail_prepare(struct jail *j);
int jail_enter(const struct jail *j, unsigned flags);

#endif /* CV_JAIL_H */
