// SPDX-License-Identifier: Apache-2.0
/*
 * Landlock self-restriction (tools/lib/landlock.c), each case in a child
 * process since a restriction cannot be undone: files beneath the allowed
 * directory open read-write, others not even for reading (through a
 * symlink neither); removal only beneath its own directory; a TCP connect
 * to the allowed port goes out (refused by no one listening), to another
 * port it is denied.  Skipped where the kernel has no Landlock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/lib/landlock.h"

static char dir[] = "/tmp/cv-landlock.XXXXXX";
static char inside[64], outside[64], link_out[64], rm_dir[64], rm_file[80];

static long abi(void)
{
	return syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* _VERSION */);
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	close(fd);
}

/* errno of a TCP connect to 127.0.0.1:@port, 0 if it connected. */
static int tcp_errno(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), e = 0;

	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		e = errno;
	close(fd);
	return e;
}

/* What a child restricted to @dir (and removal in rm_dir, TCP port 9) finds: bits of checks passed. */
static int child(void)
{
	int ok = 0, fd;

	int rm = open(rm_dir, O_PATH | O_DIRECTORY);

	if (rm < 0 || landlock_restrict(&(struct landlock_policy){
			      .rw_dir = dir, .rm_dirfd = rm, .tcp_connect_port = 9 }))
		return 0x80;
	fd = open(inside, O_RDWR);
	ok |= fd >= 0;
	if (fd >= 0)
		close(fd);
	ok |= (open(outside, O_RDONLY) < 0 && errno == EACCES) << 1;
	ok |= (open(link_out, O_RDONLY) < 0 && errno == EACCES) << 2;
	ok |= (unlink(inside) < 0 && errno == EACCES) << 3;
	ok |= (unlink(rm_file) == 0) << 4;
	if (abi() >= 4)
		ok |= (tcp_errno(9) != EACCES && tcp_errno(10) == EACCES) << 5;
	else
		ok |= 1 << 5;
	return ok;
}

static void test_restrict(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	if (abi() < 1) {
		skip();
		return;
	}
	assert_non_null(mkdtemp(dir));
	snprintf(inside, sizeof(inside), "%s/in", dir);
	snprintf(outside, sizeof(outside), "%s.out", dir);
	snprintf(link_out, sizeof(link_out), "%s/link", dir);
	snprintf(rm_dir, sizeof(rm_dir), "%s.rm", dir);
	snprintf(rm_file, sizeof(rm_file), "%s/pid", rm_dir);
	touch(inside);
	touch(outside);
	assert_int_equal(symlink(outside, link_out), 0);
	assert_int_equal(mkdir(rm_dir, 0700), 0);
	touch(rm_file);

	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0x3f);
	/* The parent is not bound by its child's ruleset. */
	assert_int_equal(access(outside, R_OK), 0);

	unlink(link_out);
	unlink(inside);
	unlink(outside);
	rmdir(rm_dir);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restrict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
