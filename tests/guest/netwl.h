/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network workloads chosen by kernel command line words (see the
 * "Network" section of docs/test-guest.md): net-dhcp, net-ping, net-imds,
 * net-udp-echo, net-udp-serve, net-flood and net-bad, over virtio-net.
 */
#ifndef CVG_NETWL_H
#define CVG_NETWL_H

#include <stdbool.h>

/* Whether the command line asks for any network workload. */
bool netwl_requested(const char *cmdline);

/*
 * Brings up the virtio-net device, configures IPv4 (DHCP, or ip= gw=
 * mask= given), and runs the requested workloads in the order above; 0
 * when every one passed.  The TSC must be calibrated.  Runs at CPL 0 or,
 * through user_run, at CPL 3 (then polled).
 */
int netwl_run(const char *cmdline);

#endif /* CVG_NETWL_H */
