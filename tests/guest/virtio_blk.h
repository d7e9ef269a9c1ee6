/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio block device (virtio 1.2 §5.2) on virtio.c's transport, as a
 * workload: "vblk" on the command line finds the first virtio-blk
 * function, reads its configuration and serial (GET_ID), writes
 * "blocks=N" (default 256) 4 KiB blocks each stamped with its LBA,
 * flushes, reads them back and compares, and checks that a read past the
 * capacity fails with VIRTIO_BLK_S_IOERR.  One "cvguest: vblk ..." line
 * per step.  Polled, ring 0.
 */
#ifndef CVG_VIRTIO_BLK_H
#define CVG_VIRTIO_BLK_H

#include <stdbool.h>

bool vblk_requested(const char *cmdline);
/* 0, or a negative errno after the line that says what failed. */
int vblk_run(const char *cmdline);

#endif /* CVG_VIRTIO_BLK_H */
