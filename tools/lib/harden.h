/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every cardvisor process does to itself before it reads untrusted
 * input (issue 11, the first part of the jail; Firecracker's jailer does
 * the same before it execs the VMM):
 *   RLIMIT_CORE 0 and PR_SET_DUMPABLE 0  no core file with guest memory or a
 *                                        volume key in it, and no other
 *                                        process of the same uid may read
 *                                        its memory (/proc/PID/mem, ptrace)
 *                                        without CAP_SYS_PTRACE;
 *   capabilities dropped (libcap-ng)     with @drop_caps: effective,
 *                                        permitted, inheritable, ambient and
 *                                        bounding sets emptied, so a root
 *                                        card holds root's uid and nothing
 *                                        more (it still owns its files);
 *   PR_SET_NO_NEW_PRIVS 1                nothing it could exec gains
 *                                        privileges.
 * 0, or a negative errno after one error line naming what failed.
 */
#ifndef CV_HARDEN_H
#define CV_HARDEN_H

#include <stdbool.h>

int process_harden(bool drop_caps);

#endif /* CV_HARDEN_H */
