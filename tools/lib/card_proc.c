// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/card_proc.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/lib/sleep_ms.h"

#define POLL_MS 20

int card_spawn(struct card_proc *c, char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (!pid) {
		execv(argv[0], argv);
		fprintf(stderr, "cardvisor: cannot start %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	c->pid = pid;
	return 0;
}

bool card_exited(struct card_proc *c, pid_t pid, int status)
{
	if (!c->pid || pid != c->pid)
		return false;
	c->pid = 0;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		fprintf(stderr, "cardvisor: %s died of signal %s: a system call outside its "
			"seccomp allow-list (its log names it)\n", c->name, strsignal(SIGSYS));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "cardvisor: %s died of signal %s\n", c->name,
			strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status))
		fprintf(stderr, "cardvisor: %s exited with status %d\n", c->name,
			WEXITSTATUS(status));
	return true;
}

/* Reap @c if it exited, saying how; true if it is gone. */
static bool card_reaped(struct card_proc *c, int options)
{
	int status;
	pid_t r;

	if (!c->pid)
		return true;
	while ((r = waitpid(c->pid, &status, options)) < 0 && errno == EINTR)
		;
	return r == c->pid && card_exited(c, r, status);
}

/*
 * The socket's existence is the sign: a probe connection would count as a
 * client to a card that serves one at a time, and cv-hv retries a connect
 * that comes between the card's bind() and listen().
 */
int card_wait_ready(struct card_proc *c, int timeout_ms)
{
	struct stat st;

	for (int ms = 0; ms < timeout_ms; ms += POLL_MS) {
		if (!stat(c->socket, &st) && S_ISSOCK(st.st_mode))
			return 0;
		if (card_reaped(c, WNOHANG))
			return -ECHILD;
		sleep_ms(POLL_MS);
	}
	fprintf(stderr, "cardvisor: %s did not open %s within %d ms\n", c->name, c->socket,
		timeout_ms);
	return -ETIMEDOUT;
}

void card_stop(struct card_proc *c, int grace_ms)
{
	if (!c->pid)
		return;
	kill(c->pid, SIGTERM);
	for (int ms = 0; ms < grace_ms; ms += POLL_MS) {
		if (card_reaped(c, WNOHANG))
			return;
		sleep_ms(POLL_MS);
	}
	fprintf(stderr, "cardvisor: %s ignored SIGTERM for %d ms: killing it\n", c->name,
		grace_ms);
	kill(c->pid, SIGKILL);
	card_reaped(c, 0);
}
