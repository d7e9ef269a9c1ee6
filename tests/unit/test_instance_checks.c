/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EC2's two status checks from what an instance's cv-hv and cards answer
 * (tools/lib/instance_query.h): every case of each, on the replies
 * `cardvisor status` gathers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "tools/lib/instance_query.h"
#include "tools/lib/json_field.h"

/* The checks of @status_json: the two statuses and the system reason. */
static void checks_of(const char *status_json, char sys[32], char inst[32], char reason[128])
{
	json_object *st = json_tokener_parse(status_json), *checks, *c;

	assert_non_null(st);
	instance_checks(st);
	assert_true(json_object_object_get_ex(st, "checks", &checks));
	assert_true(json_object_object_get_ex(checks, "system", &c));
	snprintf(sys, 32, "%s", json_field_str(c, "status", ""));
	snprintf(reason, 128, "%s", json_field_str(c, "reason", ""));
	assert_true(json_object_object_get_ex(checks, "instance", &c));
	snprintf(inst, 32, "%s", json_field_str(c, "status", ""));
	json_object_put(st);
}

static void test_checks(void **state)
{
	char sys[32], inst[32], reason[128];

	(void)state;
	/* A guest with no card: nothing tells whether it answered. */
	checks_of("{\"state\":\"running\",\"cards\":[]}", sys, inst, reason);
	assert_string_equal(sys, "ok");
	assert_string_equal(inst, "insufficient-data");

	/* Cards up, the guest has not touched them yet. */
	checks_of("{\"state\":\"running\",\"cards\":[{\"ok\":true,\"card\":\"cv-vpc\","
		  "\"from_guest\":0},{\"ok\":true,\"card\":\"cv-ebs\",\"completed\":0}]}",
		  sys, inst, reason);
	assert_string_equal(sys, "ok");
	assert_string_equal(inst, "initializing");

	/* Its NVMe driver completed commands: it answered. */
	checks_of("{\"state\":\"running\",\"cards\":[{\"ok\":true,\"card\":\"cv-vpc\","
		  "\"from_guest\":0},{\"ok\":true,\"card\":\"cv-ebs\",\"completed\":12}]}",
		  sys, inst, reason);
	assert_string_equal(inst, "ok");
	/* Or sent frames. */
	checks_of("{\"state\":\"running\",\"cards\":[{\"ok\":true,\"from_guest\":3}]}", sys, inst,
		  reason);
	assert_string_equal(inst, "ok");

	/* A card that does not answer fails the system check, named. */
	checks_of("{\"state\":\"running\",\"cards\":[{\"ok\":true,\"from_guest\":3},"
		  "{\"ok\":false,\"socket\":\"/run/cardvisor/i-1/vol-1.sock.ctl\"}]}",
		  sys, inst, reason);
	assert_string_equal(sys, "impaired");
	assert_string_equal(reason, "no answer from vol-1.sock.ctl");
	assert_string_equal(inst, "ok");

	/* A paused VM fails the instance check, whatever its cards say. */
	checks_of("{\"state\":\"paused\",\"cards\":[{\"ok\":true,\"from_guest\":3}]}", sys, inst,
		  reason);
	assert_string_equal(sys, "ok");
	assert_string_equal(inst, "impaired");

	/* Replies that are not what a card says are no answer, not a crash. */
	checks_of("{\"cards\":[7,{\"ok\":\"yes\"}]}", sys, inst, reason);
	assert_string_equal(sys, "impaired");
	assert_string_equal(reason, "no answer from ?, ?");
	assert_string_equal(inst, "impaired");
	checks_of("{\"state\":\"running\",\"cards\":{\"ok\":true}}", sys, inst, reason);
	assert_string_equal(inst, "insufficient-data");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
