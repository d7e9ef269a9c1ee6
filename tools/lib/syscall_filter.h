/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A seccomp allow-list per process (issue 11; Firecracker's seccompiler
 * filters, here with libseccomp): installed once a process has finished
 * its set-up (files opened, sockets bound, keys loaded) and before it has
 * served a byte it did not make itself, on every thread (TSYNC).
 *
 * What every process may do afterwards is the base list in
 * syscall_filter.c (memory, its own fds, epoll/timers/signals, socket
 * I/O); each process adds its own, with the reason, next to its call
 * (cards/ebs/main.c, cards/vpc/main.c, tools/storaged/main.c, hv/main.c).
 * Anything else (execve, ptrace, fork, mount, new namespaces, module or
 * key syscalls, mapping executable memory) is not executed: the kernel
 * raises SIGSYS, whose handler writes one line naming the system call
 * number and ends the process with SIGSYS, which its supervisor reports
 * (cardvisor restarts a card that dies so).
 *
 * Sanitizer builds (make asan) also allow what the ASan/LSan runtime does
 * at exit (LeakSanitizer stops the world with clone and ptrace); those
 * builds are for tests, never for deployment.
 */
#ifndef CV_SYSCALL_FILTER_H
#define CV_SYSCALL_FILTER_H

#include <stdbool.h>
#include <stdint.h>

/*
 * One allowed system call, by its libseccomp name ("io_uring_enter").
 * With @arg_mask non-zero it is allowed only when
 * (argument @arg & @arg_mask) == @arg_value (e.g. socket()'s domain).
 * A name listed twice with different conditions allows either.  A list
 * ends with an entry whose name is NULL.
 */
struct syscall_allow {
	const char *name;
	unsigned arg;
	uint64_t arg_mask, arg_value;
};

#define SYSCALL_ALLOW(n) { .name = #n }
#define SYSCALL_ALLOW_IF(n, argno, mask, value) \
	{ .name = #n, .arg = (argno), .arg_mask = (mask), .arg_value = (value) }

/*
 * --seccomp=off|on, as every cardvisor process takes it: 0 and *@on set,
 * or -EINVAL for another value.
 */
int syscall_filter_parse(const char *value, bool *on);

/*
 * Install the base list plus the process's own @extra on every thread of
 * this process.  With @on false (--seccomp=off) nothing is installed and
 * one warning line says so.  0, or a negative errno after one error line.
 */
int syscall_filter_install(bool on, const struct syscall_allow *extra);

/*
 * Make one system call that no allow-list has (unshare(0), a no-op where
 * it is allowed): the test hook behind a card's {"cmd":"seccomp-probe"}.
 * Under a filter the process ends with SIGSYS and this never returns;
 * without one it returns 0.
 */
int syscall_filter_probe(void);

#endif /* CV_SYSCALL_FILTER_H */
