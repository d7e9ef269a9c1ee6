/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The card processes of one instance, as `cardvisor run` starts them: each
 * serves its device on a UNIX socket that cv-hv connects to, so a card is
 * ready once that socket is there.  Cards stop before cv-hv is waited for
 * and after it is gone, with SIGTERM and then, if they linger, SIGKILL.
 */
#ifndef CV_CARD_PROC_H
#define CV_CARD_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct card_proc {
	pid_t pid;                /* 0: not running */
	char name[96];            /* for messages: "cv-ebs vol-…" */
	char socket[PATH_MAX];
};

/* fork() and execv(@argv[0], @argv); 0 or a negative errno. */
int card_spawn(struct card_proc *c, char *const argv[]);
/*
 * Wait until the card's socket exists: 0; -ECHILD after
 * printing how it exited if the card died first; -ETIMEDOUT.
 */
int card_wait_ready(struct card_proc *c, int timeout_ms);
/*
 * waitpid() returned @pid with @status: if that is @c, say how it ended,
 * forget its pid and return true.
 */
bool card_exited(struct card_proc *c, pid_t pid, int status);
/* SIGTERM, up to @grace_ms to exit, then SIGKILL; reaps it. */
void card_stop(struct card_proc *c, int grace_ms);

#endif /* CV_CARD_PROC_H */
