// SPDX-License-Identifier: Apache-2.0
/*
 * The --jail argument (tools/lib/jail.c).  Entering a jail changes the
 * process for good: tests/integration/hardening.sh checks jailed cards.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/lib/jail.h"

static void test_ids_given(void **state)
{
	struct jail j;

	(void)state;
	assert_int_equal(jail_parse("1879048192:1879048193", &j), 0);
	assert_true(j.on);
	assert_false(j.auto_ids);
	assert_int_equal(j.uid, 1879048192);
	assert_int_equal(j.gid, 1879048193);
	assert_int_equal(j.lock_fd, -1);
	assert_int_equal(jail_parse("1:1", &j), 0);
	assert_int_equal(jail_parse("4294967294:65534", &j), 0);
	assert_int_equal(j.uid, 4294967294u);
}

static void test_ids_taken(void **state)
{
	struct jail j = { .uid = 7 };

	(void)state;
	assert_int_equal(jail_parse(NULL, &j), 0);
	assert_true(j.on);
	assert_true(j.auto_ids);
	assert_int_equal(j.uid, 0);
	assert_int_equal(j.lock_fd, -1);
}

static void test_refused(void **state)
{
	/* Root is not a jail; (uid_t)-1 means "unchanged" to setresuid. */
	static const char *const bad[] = {
		"", ":", "0:0", "0:1000", "1000:0", "1000", "1000:", ":1000", "1000:1000:1000",
		"-1:1000", "1000:-1", "4294967295:1000", "99999999999:1", "1000 :1000", "10x:1",
		"+:1",
	};
	struct jail j;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (jail_parse(bad[i], &j) != -EINVAL)
			fail_msg("--jail=%s was taken", bad[i]);
	}
}

/* The range's last id owns the volume store and is never handed to a process. */
static void test_store_ids(void **state)
{
	struct jail a = { .lock_fd = -1 }, b = { .lock_fd = -1 };
	uid_t uid;
	gid_t gid;

	(void)state;
	setenv("CARDVISOR_JAIL_IDS", "2000000000:2", 1);
	assert_int_equal(jail_store_ids(&uid, &gid), 0);
	assert_int_equal(uid, 2000000001);
	assert_int_equal(gid, 2000000001);
	if (geteuid() != 0) {
		unsetenv("CARDVISOR_JAIL_IDS");
		skip();      /* the id locks live in /run, root's */
		return;
	}
	assert_int_equal(jail_take_ids(&a), 0);
	assert_int_equal(a.uid, 2000000000);
	/* The one other id is the store's: none left. */
	assert_int_equal(jail_take_ids(&b), -EBUSY);
	close(a.lock_fd);
	setenv("CARDVISOR_JAIL_IDS", "2000000000:1", 1);
	assert_int_equal(jail_store_ids(&uid, &gid), -EINVAL);
	unsetenv("CARDVISOR_JAIL_IDS");
}

/* A process told nothing about a jail is left as it is. */
static void test_off(void **state)
{
	struct jail j = { .on = false, .lock_fd = -1 };

	(void)state;
	assert_int_equal(jail_prepare(&j), 0);
	assert_int_equal(jail_unshare(&j, JAIL_OWN_NET), 0);
	assert_false(j.own_net);
	assert_int_equal(jail_enter(&j, "/", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_given),
		cmocka_unit_test(test_ids_taken),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_store_ids),
		cmocka_unit_test(test_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
