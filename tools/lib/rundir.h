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
/* mkdir -p the base and the instance directory (mode 0700). */
int rundir_create(const char *id, char *dir, size_t len);
int rundir_path(const char *id, const char *file, char *path, size_t len);
/* Remove an instance directory and the files cardvisor puts there. */
void rundir_remove(const char *id);

#endif /* CV_RUNDIR_H */
