/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scripted NVMe workloads chosen by kernel command line words (see
 * docs/test-guest.md): "nvme" writes a pattern and verifies it, "nvme-check"
 * verifies the pattern an earlier boot wrote, "nvme-rand" runs random 4 KiB
 * reads and writes at a queue depth (past the pattern's blocks) and reports
 * latencies in TSC ticks, "nvme-bad" sends malformed commands and checks
 * the controller's answers.
 */
#ifndef CVG_WORKLOAD_H
#define CVG_WORKLOAD_H

#include <stdbool.h>

/* Whether the command line asks for any NVMe workload. */
bool workload_requested(const char *cmdline);

/*
 * Brings up the controller and runs the requested workloads in the order
 * nvme, nvme-rand, nvme-bad, nvme-check; 0 when every one passed, each
 * printing its own result lines.  The TSC must be calibrated (tsc_init).
 * Runs at CPL 0 or, through user_run, at CPL 3 (then polled).
 */
int workload_run(const char *cmdline);

#endif /* CVG_WORKLOAD_H */
