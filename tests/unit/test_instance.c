/* SPDX-License-Identifier: Apache-2.0 */
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

static const struct instance_desc sample = {
	.id = "i-0123456789abcdef0",
	.type = "cv.small",
	.vcpus = 2,
	.memory = 3ULL << 30,
	.quirks = "auto,-inject-int3",
	.kernel = "/boot/vmlinuz",
	.initrd = "/boot/initrd.img",
	.cmdline = "console=ttyS0 quiet",
	.linux_guest = true,
};

static void test_round_trip(void **state)
{
	struct instance_desc d;
	void *blob;
	size_t size;

	(void)state;
	assert_int_equal(instance_to_fdt(&sample, &blob, &size), 0);
	assert_int_equal(fdt_check_header(blob), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), 0);
	assert_string_equal(d.id, sample.id);
	assert_string_equal(d.type, sample.type);
	assert_int_equal(d.vcpus, 2);
	assert_int_equal(d.memory, 3ULL << 30);
	assert_string_equal(d.quirks, sample.quirks);
	assert_string_equal(d.kernel, sample.kernel);
	assert_string_equal(d.initrd, sample.initrd);
	assert_string_equal(d.cmdline, sample.cmdline);
	assert_true(d.linux_guest);
	/* The blob is a plain device tree: the memory size is a big-endian u64. */
	{
		int len;
		const fdt64_t *m = fdt_getprop(blob, 0, "memory", &len);

		assert_int_equal(len, 8);
		assert_int_equal(fdt64_to_cpu(*m), 3ULL << 30);
	}
	free(blob);
}

static void test_optional_fields_absent(void **state)
{
	struct instance_desc in = { .id = "i-00000000000000001", .vcpus = 1,
				    .memory = 64ULL << 20, .kernel = "/k" }, d;
	void *blob;
	size_t size;

	(void)state;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), 0);
	assert_null(d.initrd);
	assert_null(d.cmdline);
	assert_null(d.quirks);
	assert_false(d.linux_guest);
	free(blob);
}

static void test_rejects_bad_blobs(void **state)
{
	struct instance_desc d, in = sample;
	uint8_t junk[64] = "not a device tree";
	void *blob;
	size_t size;

	(void)state;
	assert_int_equal(instance_from_fdt(junk, sizeof(junk), &d), -EINVAL);
	assert_int_equal(instance_to_fdt(&sample, &blob, &size), 0);
	/* Truncated: the header claims more than we have. */
	assert_int_equal(instance_from_fdt(blob, size - 1, &d), -EINVAL);
	/* A string property without its NUL is not a string. */
	assert_int_equal(fdt_setprop_inplace(blob, 0, "compatible", "cardvisor,instance-v2",
					     strlen(CV_INSTANCE_COMPATIBLE) + 1), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), -EINVAL);
	free(blob);

	snprintf(in.id, sizeof(in.id), "x-123");
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), -EINVAL);
	free(blob);

	in = sample;
	in.vcpus = 0;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), -EINVAL);
	free(blob);
}

/* A volume node with every required field, as cardvisor writes one. */
static struct instance_volume sample_volume(void)
{
	return (struct instance_volume){
		.id = "vol-0a", .target = "127.0.0.1:4420",
		.subnqn = "nqn.2026-11.io.cardvisor:vol-0a", .key_file = "/k/vol-0a.key",
		.socket = "/run/x/vol-0a.sock", .queues = 2 };
}

static void test_volumes_round_trip(void **state)
{
	struct instance_desc in = sample, d;
	void *blob;
	size_t size;

	(void)state;
	in.volumes[0] = sample_volume();
	in.volumes[0].iops = 3000;
	in.volumes[0].bps = 125u << 20;
	in.volumes[1] = in.volumes[0];
	in.volumes[1].id = "vol-0b";
	in.volumes[1].iops = 0;
	in.volumes[1].bps_burst = 1ull << 40;
	in.nr_volumes = 2;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), 0);
	assert_int_equal(d.nr_volumes, 2);
	assert_string_equal(d.volumes[0].id, "vol-0a");
	assert_string_equal(d.volumes[0].target, "127.0.0.1:4420");
	assert_string_equal(d.volumes[0].subnqn, in.volumes[0].subnqn);
	assert_string_equal(d.volumes[0].key_file, "/k/vol-0a.key");
	assert_string_equal(d.volumes[0].socket, "/run/x/vol-0a.sock");
	assert_int_equal(d.volumes[0].queues, 2);
	assert_int_equal(d.volumes[0].iops, 3000);
	assert_int_equal(d.volumes[0].bps, 125u << 20);
	assert_string_equal(d.volumes[1].id, "vol-0b");
	assert_int_equal(d.volumes[1].iops, 0);
	assert_int_equal(d.volumes[1].bps_burst, 1ull << 40);
	free(blob);

	/* A volume the card could not reach is refused on both sides. */
	in.volumes[1].target = NULL;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), -EINVAL);
	in.volumes[1].target = "h:1";
	in.volumes[1].queues = 0;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), -EINVAL);
	free(blob);
}

/* A vhost-user-blk volume with a slot is cv-hv's virtio-blk function; other volumes have none. */
static void test_volume_slot(void **state)
{
	struct instance_desc in = sample, d;
	void *blob;
	size_t size;

	(void)state;
	in.volumes[0] = sample_volume();
	in.volumes[0].face = "vhost-user-blk";
	in.volumes[0].slot = 5;
	in.volumes[1] = sample_volume();
	in.volumes[1].id = "vol-0b";
	in.nr_volumes = 2;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), 0);
	assert_int_equal(d.volumes[0].slot, 5);
	assert_string_equal(d.volumes[0].face, "vhost-user-blk");
	assert_int_equal(d.volumes[1].slot, 0);
	assert_null(d.volumes[1].face);
	free(blob);

	/* A slot for an NVMe face, or past the 32 devices of bus 0, is refused. */
	in.volumes[1].slot = 6;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), -EINVAL);
	free(blob);
	in.volumes[1].slot = 0;
	in.volumes[0].slot = 32;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), -EINVAL);
	free(blob);
}

static void test_nics_round_trip(void **state)
{
	struct instance_desc in = sample, d;
	void *blob;
	size_t size;

	(void)state;
	in.nics[0] = (struct instance_nic){
		.id = "eni-0a", .socket = "/run/x/eni-0a.sock", .subnet = "10.0.1.0/24",
		.ipv4 = "10.0.1.23", .underlay = "0.0.0.0:4789", .encap = "vxlan",
		.mapping = "/etc/map", .mac = { 0x02, 0, 0, 0, 0, 0x17 }, .vni = 0, .slot = 3,
		.conntrack = 1024 };
	in.nics[1] = in.nics[0];
	in.nics[1].id = "eni-0b";
	in.nics[1].mapping = NULL;
	in.nics[1].sg = "/etc/sg";
	in.nics[1].vni = 4242;
	in.nr_nics = 2;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	assert_int_equal(instance_from_fdt(blob, size, &d), 0);
	assert_int_equal(d.nr_nics, 2);
	assert_string_equal(d.nics[0].id, "eni-0a");
	assert_string_equal(d.nics[0].ipv4, "10.0.1.23");
	assert_string_equal(d.nics[0].mapping, "/etc/map");
	assert_null(d.nics[0].sg);
	assert_memory_equal(d.nics[0].mac, in.nics[0].mac, 6);
	assert_int_equal(d.nics[0].vni, 0);
	assert_int_equal(d.nics[0].slot, 3);
	assert_null(d.nics[1].mapping);
	assert_string_equal(d.nics[1].sg, "/etc/sg");
	assert_int_equal(d.nics[1].vni, 4242);
	free(blob);

	/* A NIC without its card's socket cannot be described. */
	in.nics[1].socket = NULL;
	assert_int_equal(instance_to_fdt(&in, &blob, &size), -EINVAL);
	/* A MAC of the wrong length is refused when read back. */
	in.nics[1].socket = "/s";
	assert_int_equal(instance_to_fdt(&in, &blob, &size), 0);
	{
		int nic = fdt_path_offset(blob, "/nics/nic@1");

		assert_true(nic >= 0);
		assert_int_equal(fdt_setprop_inplace(blob, nic, "mac", "\x02\0\0\0\0", 5),
				 -FDT_ERR_NOSPACE);
		assert_int_equal(fdt_nop_property(blob, nic, "mac"), 0);
	}
	assert_int_equal(instance_from_fdt(blob, size, &d), -EINVAL);
	free(blob);
}

static void test_ids(void **state)
{
	char a[CV_INSTANCE_ID_MAX], b[CV_INSTANCE_ID_MAX];

	(void)state;
	assert_int_equal(instance_new_id(a), 0);
	assert_int_equal(instance_new_id(b), 0);
	assert_int_equal(strlen(a), 19);
	assert_true(instance_id_valid(a));
	assert_string_not_equal(a, b);
	assert_false(instance_id_valid("i-"));
	assert_false(instance_id_valid("i-../../etc"));
	assert_false(instance_id_valid("i-ABCDEF"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_optional_fields_absent),
		cmocka_unit_test(test_rejects_bad_blobs),
		cmocka_unit_test(test_volume_slot),
		cmocka_unit_test(test_volumes_round_trip),
		cmocka_unit_test(test_nics_round_trip),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
