/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where running instances live: <rundir>/<instance-id>/ holds the instance
 * description (instance.dtb), cv-hv's control socket (control.sock) and its
 * pid.  `cardvisor ps` lists these directories.
 */
#ifndef CV_RUNDIR_H
#define CV_RUNDIR_H

#include <stddef.h>

/*
 * $CARDVISOR_RUNDIR, else /run/cardvisor for root, else
 * $XDG_RUNTIME_DIR/cardvisor, else /tmp/cardvisor-<uid>.
 */
const char *rundir_base(void);
/*
 * mkdir -p the base (mode 0700), then check it is safe to keep sockets and
 * pid files in: a directory (not a symlink) owned by this user, writable
 * by no one else.  Anyone else could plant a control socket there or swap
 * an instance directory for a symlink: /tmp/cardvisor-<uid> in particular
 * can be made by another user first.  0, or a negative errno after
 * printing why on stderr (one line).
 */
int rundir_base_create(void);
/* The base as above, then the instance directory (mode 0700, checked alike). */
int rundir_create(const char *id, char *dir, size_t len);
int rundir_path(const char *id, const char *file, char *path, size_t len);
/*
 * Remove an instance directory and the files cardvisor puts there, never
 * following a symlink: one inside is removed, not its target, and an
 * instance directory that is not a directory of ours is left alone.
 */
void rundir_remove(const char *id);

#endif /* CV_RUNDIR_H */
