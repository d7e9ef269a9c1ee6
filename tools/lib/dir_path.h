/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkdir -p: the run directory (rundir.c), the volume store
 * (volume_store.c) and the jail's path to a kept directory (jail.c) all
 * make a path one component at a time.
 */
#ifndef CV_DIR_PATH_H
#define CV_DIR_PATH_H

#include <sys/types.h>

/*
 * Every directory of @path that is missing, made with @mode (less the
 * umask); one that exists is fine.  0, -ENAMETOOLONG, or mkdir's -errno.
 */
int dir_make_path(const char *path, mode_t mode);

#endif /* CV_DIR_PATH_H */
