/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vfio-user devices of an instance description (tools/lib/instance):
 * they survive the round trip, and a blob that names a slot twice, slot 0,
 * no socket, or too many devices is refused.
 */
#include <errno.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tools/lib/instance.h"

static struct instance_desc base(void)
{
	return (struct instance_desc){ .id = "i-0123456789abcdef0", .vcpus = 1,
				       .memory = 64ULL << 20, .kernel = "/k" };
}

static int round_trip(const struct instance_desc *in, struct instance_desc *out, void **blob)
{
	size_t size;

	assert_int_equal(instance_to_fdt(in, blob, &size), 0);
	return instance_from_fdt(*blob, size, out);
}

static void test_devices_round_trip(void **state)
{
	struct instance_desc in = base(), d;
	void *blob;
	int node;

	(void)state;
	in.vfio_user[0] = (struct instance_vfio_user){ "/run/cardvisor/i-1/ebs0.sock", 4 };
	in.vfio_user[1] = (struct instance_vfio_user){ "/tmp/other.sock", 31 };
	in.nr_vfio_user = 2;
	assert_int_equal(round_trip(&in, &d, &blob), 0);
	assert_int_equal(d.nr_vfio_user, 2);
	assert_string_equal(d.vfio_user[0].socket, in.vfio_user[0].socket);
	assert_int_equal(d.vfio_user[0].slot, 4);
	assert_string_equal(d.vfio_user[1].socket, in.vfio_user[1].socket);
	assert_int_equal(d.vfio_user[1].slot, 31);
	/* Plain device tree nodes, named by unit address. */
	node = fdt_path_offset(blob, "/vfio-user/device@1f");
	assert_true(node >= 0);
	free(blob);
	/* None at all: no node. */
	in.nr_vfio_user = 0;
	assert_int_equal(round_trip(&in, &d, &blob), 0);
	assert_int_equal(d.nr_vfio_user, 0);
	assert_true(fdt_path_offset(blob, "/vfio-user") < 0);
	free(blob);
}

static void test_bad_devices_refused(void **state)
{
	struct instance_desc in = base(), d;
	void *blob;
	size_t size;

	(void)state;
	/* Two cards in one slot. */
	in.vfio_user[0] = (struct instance_vfio_user){ "/a.sock", 5 };
	in.vfio_user[1] = (struct instance_vfio_user){ "/b.sock", 5 };
	in.nr_vfio_user = 2;
	assert_int_equal(round_trip(&in, &d, &blob), -EINVAL);
	free(blob);
	/* The host bridge's slot, a slot past the bus, an empty socket path. */
	in.nr_vfio_user = 1;
	in.vfio_user[0].slot = 0;
	assert_int_equal(round_trip(&in, &d, &blob), -EINVAL);
	free(blob);
	in.vfio_user[0].slot = 32;
	assert_int_equal(round_trip(&in, &d, &blob), -EINVAL);
	free(blob);
	in.vfio_user[0] = (struct instance_vfio_user){ "", 3 };
	assert_int_equal(round_trip(&in, &d, &blob), -EINVAL);
	free(blob);
	/* More than the description holds. */
	in.nr_vfio_user = CV_INSTANCE_MAX_VFIO_USER + 1;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_devices_round_trip),
		cmocka_unit_test(test_bad_devices_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
