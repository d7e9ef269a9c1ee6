/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a detached instance (`cardvisor run -d`) leaves behind, for `logs`,
 * `wait` and `rm` to read after the terminal that started it is gone:
 *   <state>/instances/<id>/console.log   the guest's serial console
 *   <state>/instances/<id>/cardvisor.log what cardvisor, cv-hv and the cards said
 *   <state>/instances/<id>/lock          flock()ed by the supervising
 *                                        `cardvisor run` for its whole life
 *   <state>/instances/<id>/exit          its exit status, once it has ended
 * The run directory (rundir.h) is the running instance's and goes with it;
 * the record stays until `cardvisor rm`.  The lock, not a pid, says whether
 * the instance still runs: the kernel drops it when the supervisor ends,
 * however it ends, so a waiter never misses the end or waits for a pid
 * that was reused.
 */
#ifndef CV_INSTANCE_RECORD_H
#define CV_INSTANCE_RECORD_H

#include <stdbool.h>
#include <stddef.h>

/* <state>/instances/<id>/<file> (no file: the directory) into @path. */
int instance_record_path(const char *id, const char *file, char *path, size_t len);
/*
 * Create the record of a new instance and take its lock: the lock's fd
 * (keep it open while the instance runs; children do not inherit it),
 * or a negative errno after printing why on stderr.
 */
int instance_record_create(const char *id);
/* Whether @id has a record at all (a detached instance, running or ended). */
bool instance_record_exists(const char *id);
/*
 * Wait until @id's supervisor has ended: 0; -ETIMEDOUT after @timeout_ms
 * (negative: no limit); -EINTR when a signal came; -ENOENT with no record.
 */
int instance_record_wait(const char *id, long timeout_ms);
/* Whether @id's supervisor still runs (holds the lock). */
bool instance_record_running(const char *id);
/* Record the exit status `cardvisor run` returns (0 or a negative errno). */
int instance_record_set_exit(const char *id, int status);
/* The recorded exit status: 0 or -ENOENT (none: the supervisor died first). */
int instance_record_exit(const char *id, int *status);
/* Remove an ended instance's record: -EBUSY while it runs. */
int instance_record_remove(const char *id);

#endif /* CV_INSTANCE_RECORD_H */
