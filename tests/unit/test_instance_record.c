// SPDX-License-Identifier: Apache-2.0
/*
 * A detached instance's record (tools/lib/instance_record.c) in a temporary
 * state dir: the lock says whether it runs, wait ends with the holder (a
 * child process here, as the supervising `cardvisor run` is), the exit
 * status round-trips, and rm refuses while it runs.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/lib/instance_record.h"

#define ID "i-0123456789abcdef0"

static char state_dir[] = "/tmp/cv-record.XXXXXX";

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(state_dir))
		return -1;
	return setenv("CARDVISOR_STATE", state_dir, 1);
}

static int teardown(void **state)
{
	char cmd[64 + sizeof(state_dir)];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	return system(cmd);
}

static void test_lifecycle(void **state)
{
	char path[PATH_MAX];
	/* Two pipes: one end each way, so neither side reads its own byte. */
	int lock, status = -1, locked[2], done[2];
	pid_t holder;

	(void)state;
	assert_false(instance_record_exists(ID));
	assert_int_equal(instance_record_wait(ID, 0), -ENOENT);
	assert_int_equal(instance_record_path("../x", "exit", path, sizeof(path)), -EINVAL);

	/* The supervisor: takes the record and holds it until told to end. */
	assert_int_equal(pipe(locked), 0);
	assert_int_equal(pipe(done), 0);
	holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		char c;

		lock = instance_record_create(ID);
		if (lock < 0 || write(locked[1], "L", 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(1);
		_exit(instance_record_set_exit(ID, 2) ? 1 : 0);
	}
	/* Only the child writes "locked" and reads "done": a child that fails
	 * closes its ends, so the read below sees the end, not a hang. */
	close(locked[1]);
	close(done[0]);
	{
		char c;

		assert_int_equal(read(locked[0], &c, 1), 1);
	}
	assert_true(instance_record_exists(ID));
	assert_true(instance_record_running(ID));
	/* A second record of the same id is refused, not shared. */
	assert_true(instance_record_create(ID) < 0);
	assert_int_equal(instance_record_wait(ID, 100), -ETIMEDOUT);
	assert_int_equal(instance_record_remove(ID), -EBUSY);
	assert_int_equal(instance_record_exit(ID, &status), -ENOENT);

	assert_int_equal(write(done[1], "E", 1), 1);
	assert_int_equal(instance_record_wait(ID, -1), 0);
	assert_false(instance_record_running(ID));
	assert_int_equal(waitpid(holder, &status, 0), holder);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(instance_record_exit(ID, &status), 0);
	assert_int_equal(status, 2);

	assert_int_equal(instance_record_remove(ID), 0);
	assert_false(instance_record_exists(ID));
	assert_int_equal(instance_record_path(ID, NULL, path, sizeof(path)), 0);
	assert_int_equal(access(path, F_OK), -1);
	close(locked[0]);
	close(done[1]);
}

/* A supervisor killed before it recorded anything: wait still returns. */
static void test_holder_killed(void **state)
{
	int status;
	pid_t holder;

	(void)state;
	holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		if (instance_record_create(ID) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	/* Until the child holds it (or ended: then the assertion fails). */
	while (!instance_record_running(ID) && waitpid(holder, &status, WNOHANG) == 0)
		usleep(1000);
	assert_true(instance_record_running(ID));
	assert_int_equal(kill(holder, SIGKILL), 0);
	assert_int_equal(instance_record_wait(ID, -1), 0);
	assert_int_equal(instance_record_exit(ID, &status), -ENOENT);
	assert_int_equal(waitpid(holder, &status, 0), holder);
	assert_int_equal(instance_record_remove(ID), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_holder_killed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
