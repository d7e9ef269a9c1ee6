/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet's placement and release (tools/lib/fleet.h) against a real
 * 3-member etcd cluster: first fit on capacity, spreading a subnet, dead
 * hosts left out, volume attachments and their epochs, the last slot
 * raced for, capacity given back once.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "tests/unit/etcd_cluster.h"
#include "tools/lib/fleet.h"

#define MIB (1ULL << 20)

static struct etcd *client(void)
{
	struct etcd *e;

	assert_int_equal(etcd_open(&e, cluster.endpoints), 0);
	return e;
}

/* A fleet with nothing in it. */
static struct etcd *fleet_empty(void)
{
	struct etcd *e = client();

	assert_int_equal(etcd_delete(e, FLEET_PREFIX, ETCD_PREFIX, NULL), 0);
	return e;
}

/* Host @name offering @vcpus and @mem, under a lease of its own (returned). */
static int64_t host_add(struct etcd *e, const char *name, unsigned vcpus, uint64_t mem)
{
	struct fleet_host h = { .vcpus = vcpus, .mem = mem };
	int64_t lease;

	snprintf(h.name, sizeof(h.name), "%s", name);
	assert_int_equal(etcd_lease_grant(e, 60, &lease), 0);
	assert_int_equal(fleet_host_register(e, &h, lease), 0);
	return lease;
}

/* Place @id; the host's name, or "" with the error in @err. */
static const char *place(struct etcd *e, const char *id, unsigned vcpus, uint64_t mem,
			 const char *subnet, int *err)
{
	static const char *const args[] = { "--guest", "/g.elf" };
	static char host[FLEET_NAME_MAX];
	struct fleet_request r = { .id = id, .vcpus = vcpus, .mem = mem, .subnet = subnet,
				   .args = args, .n_args = 2 };
	char why[256];

	*err = fleet_place(e, &r, host, why, sizeof(why));
	return *err ? "" : host;
}

static const char *place_ok(struct etcd *e, const char *id, unsigned vcpus, uint64_t mem,
			    const char *subnet)
{
	int err;
	const char *host = place(e, id, vcpus, mem, subnet, &err);

	assert_int_equal(err, 0);
	return host;
}

/* The JSON record under FLEET_PREFIX @kind/@name (NULL: none). */
static json_object *record(struct etcd *e, const char *kind, const char *name, const char *sub)
{
	struct etcd_kvs kvs;
	json_object *o = NULL;
	char key[256];

	assert_int_equal(fleet_key(key, sizeof(key), kind, name, sub), 0);
	assert_int_equal(etcd_get(e, key, ETCD_KEY, &kvs), 0);
	if (kvs.n == 1)
		o = json_tokener_parse(kvs.kv[0].value[0] == '{' ? kvs.kv[0].value : "{}");
	etcd_kvs_free(&kvs);
	return o;
}

static int64_t field(json_object *o, const char *name)
{
	json_object *f;

	return json_object_object_get_ex(o, name, &f) ? json_object_get_int64(f) : -1;
}

/* capacity/<host>'s vCPUs and MiB in use. */
static void assert_used(struct etcd *e, const char *host, int64_t vcpus, int64_t mib)
{
	json_object *c = record(e, "capacity", host, NULL);

	assert_non_null(c);
	assert_int_equal(field(c, "vcpus"), vcpus);
	assert_int_equal(field(c, "mem"), mib * (int64_t)MIB);
	json_object_put(c);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(fleet_name_valid("host-1.rack_2"));
	assert_false(fleet_name_valid(""));
	assert_false(fleet_name_valid("a/b"));
	assert_false(fleet_name_valid(".."));
	assert_false(fleet_name_valid("a b"));
	assert_false(fleet_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

/* First fit by name on free vCPUs and memory; a host's sum follows. */
static void test_first_fit(void **state)
{
	struct etcd *e;
	int err;

	NEED_CLUSTER();
	e = fleet_empty();
	host_add(e, "a", 2, 1024 * MIB);
	host_add(e, "b", 2, 1024 * MIB);
	assert_string_equal(place_ok(e, "i-00000000000000001", 1, 512 * MIB, ""), "a");
	assert_string_equal(place_ok(e, "i-00000000000000002", 2, 256 * MIB, ""), "b");
	assert_string_equal(place_ok(e, "i-00000000000000003", 1, 512 * MIB, ""), "a");
	assert_used(e, "a", 2, 1024);
	assert_used(e, "b", 2, 256);
	place(e, "i-00000000000000004", 1, 64 * MIB, "", &err);
	assert_int_equal(err, -ENOSPC);

	/* What the placement wrote for the host's agent and for ps. */
	json_object *inst = record(e, "instances", "i-00000000000000002", NULL);
	json_object *status = record(e, "status", "i-00000000000000002", NULL);
	json_object *placed = record(e, "placed", "b", "i-00000000000000002");
	json_object *args, *host;

	assert_non_null(inst);
	assert_true(json_object_object_get_ex(inst, "host", &host));
	assert_string_equal(json_object_get_string(host), "b");
	assert_true(json_object_object_get_ex(inst, "args", &args));
	assert_int_equal(json_object_array_length(args), 2);
	assert_non_null(status);
	assert_non_null(placed);
	json_object_put(inst);
	json_object_put(status);
	json_object_put(placed);

	/* The same id twice: refused by name, not as "no room". */
	host_add(e, "c", 8, 8192 * MIB);
	place(e, "i-00000000000000002", 1, 64 * MIB, "", &err);
	assert_int_equal(err, -EEXIST);
	etcd_close(e);
}

/* Release gives back what the instance held, once, with its final status. */
static void test_release(void **state)
{
	json_object *status, *st;
	struct etcd *e;

	NEED_CLUSTER();
	e = fleet_empty();
	host_add(e, "a", 2, 1024 * MIB);
	place_ok(e, "i-00000000000000001", 1, 512 * MIB, "10.0.1.0/24");
	place_ok(e, "i-00000000000000002", 1, 256 * MIB, "10.0.1.0/24");
	assert_int_equal(fleet_release(e, "a", "i-00000000000000001",
				       "{\"state\":\"stopped\",\"exit_status\":0}"), 0);
	assert_used(e, "a", 1, 256);
	assert_null(record(e, "placed", "a", "i-00000000000000001"));
	status = record(e, "status", "i-00000000000000001", NULL);
	assert_true(json_object_object_get_ex(status, "state", &st));
	assert_string_equal(json_object_get_string(st), "stopped");
	json_object_put(status);
	/* Again, or on another host: nothing changes. */
	assert_int_equal(fleet_release(e, "a", "i-00000000000000001", "{}"), 0);
	assert_int_equal(fleet_release(e, "b", "i-00000000000000002", "{}"), 0);
	assert_used(e, "a", 1, 256);
	/* The freed room is placeable again. */
	assert_string_equal(place_ok(e, "i-00000000000000003", 1, 768 * MIB, ""), "a");
	etcd_close(e);
}

/* Instances of one subnet go to the hosts holding the fewest of it. */
static void test_subnet_spread(void **state)
{
	struct etcd *e;

	NEED_CLUSTER();
	e = fleet_empty();
	host_add(e, "a", 4, 4096 * MIB);
	host_add(e, "b", 4, 4096 * MIB);
	host_add(e, "c", 4, 4096 * MIB);
	assert_string_equal(place_ok(e, "i-00000000000000001", 1, 64 * MIB, "10.0.1.0/24"), "a");
	assert_string_equal(place_ok(e, "i-00000000000000002", 1, 64 * MIB, "10.0.1.0/24"), "b");
	assert_string_equal(place_ok(e, "i-00000000000000003", 1, 64 * MIB, "10.0.2.0/24"), "a");
	assert_string_equal(place_ok(e, "i-00000000000000004", 1, 64 * MIB, "10.0.1.0/24"), "c");
	assert_string_equal(place_ok(e, "i-00000000000000005", 1, 64 * MIB, "10.0.1.0/24"), "a");
	/* Released, the count goes down: b and c hold one each, a none. */
	assert_int_equal(fleet_release(e, "a", "i-00000000000000001", "{}"), 0);
	assert_int_equal(fleet_release(e, "a", "i-00000000000000005", "{}"), 0);
	assert_string_equal(place_ok(e, "i-00000000000000006", 1, 64 * MIB, "10.0.1.0/24"), "a");
	etcd_close(e);
}

/* A host whose lease is gone is not a candidate; its name is free again. */
static void test_dead_host(void **state)
{
	struct fleet_host again = { .name = "a", .vcpus = 1, .mem = 64 * MIB };
	int64_t lease_a, lease_b, other;
	struct etcd *e;
	int err;

	NEED_CLUSTER();
	e = fleet_empty();
	lease_a = host_add(e, "a", 8, 8192 * MIB);
	lease_b = host_add(e, "b", 1, 1024 * MIB);
	assert_int_equal(etcd_lease_grant(e, 60, &other), 0);
	assert_int_equal(fleet_host_register(e, &again, other), -EEXIST);
	assert_int_equal(etcd_lease_revoke(e, lease_a), 0);
	assert_string_equal(place_ok(e, "i-00000000000000001", 1, 64 * MIB, ""), "b");
	assert_int_equal(etcd_lease_revoke(e, lease_b), 0);
	place(e, "i-00000000000000002", 1, 64 * MIB, "", &err);
	assert_int_equal(err, -ENOSPC);
	assert_int_equal(fleet_host_register(e, &again, other), 0);
	etcd_close(e);
}

/* Place @id on the fleet attaching volume @vol, forced or not. */
static int place_attaching(struct etcd *e, const char *id, const char *vol, bool force,
			   char *why, size_t whylen)
{
	static const char *const args[] = { "--guest", "/g.elf" };
	const char *vols[] = { vol, vol };
	struct fleet_request r = { .id = id, .vcpus = 1, .mem = 64 * MIB, .subnet = "",
				   .args = args, .n_args = 2, .volumes = vols, .n_volumes = 1,
				   .force_detach = force };
	char host[FLEET_NAME_MAX];

	return fleet_place(e, &r, host, why, whylen);
}

/* volumes/<vol>'s holder ("" if none) and epoch. */
static int64_t attachment(struct etcd *e, const char *vol, char *holder, size_t len)
{
	json_object *rec = record(e, "volumes", vol, NULL), *f;
	int64_t epoch;

	assert_non_null(rec);
	snprintf(holder, len, "%s", json_object_object_get_ex(rec, "instance", &f) ?
		 json_object_get_string(f) : "");
	epoch = field(rec, "epoch");
	json_object_put(rec);
	return epoch;
}

/*
 * A named volume is attached by placement with the next epoch; another
 * launch is refused it unless forced, which raises the epoch again; the
 * release of a force-detached instance leaves the new attachment alone.
 */
static void test_volume_attach(void **state)
{
	const char *i1 = "i-00000000000000001", *i2 = "i-00000000000000002";
	char why[256], holder[32];
	json_object *inst, *vols;
	struct etcd *e;

	NEED_CLUSTER();
	e = fleet_empty();
	host_add(e, "a", 8, 8192 * MIB);
	assert_int_equal(place_attaching(e, i1, "vol-a", false, why, sizeof(why)), 0);
	assert_int_equal(attachment(e, "vol-a", holder, sizeof(holder)), 1);
	assert_string_equal(holder, i1);
	/* The epoch the host's card is to carry, in the instance record. */
	inst = record(e, "instances", i1, NULL);
	assert_true(json_object_object_get_ex(inst, "volumes", &vols));
	assert_int_equal(field(vols, "vol-a"), 1);
	json_object_put(inst);

	assert_int_equal(place_attaching(e, i2, "vol-a", false, why, sizeof(why)), -EBUSY);
	assert_non_null(strstr(why, "volume vol-a is attached to i-00000000000000001 (epoch 1)"));
	assert_null(record(e, "instances", i2, NULL));
	assert_used(e, "a", 1, 64);

	assert_int_equal(place_attaching(e, i2, "vol-a", true, why, sizeof(why)), 0);
	assert_int_equal(attachment(e, "vol-a", holder, sizeof(holder)), 2);
	assert_string_equal(holder, i2);
	assert_int_equal(fleet_release(e, "a", i1, "{}"), 0);
	assert_int_equal(attachment(e, "vol-a", holder, sizeof(holder)), 2);
	assert_string_equal(holder, i2);
	assert_int_equal(fleet_release(e, "a", i2, "{}"), 0);
	assert_int_equal(attachment(e, "vol-a", holder, sizeof(holder)), 2);
	assert_string_equal(holder, "");   /* detached; the epoch stays */
	assert_int_equal(place_attaching(e, "i-00000000000000003", "vol-a", false, why,
					 sizeof(why)), 0);
	assert_int_equal(attachment(e, "vol-a", holder, sizeof(holder)), 3);

	/* One volume twice in a launch is a mistake, not two attachments. */
	static const char *const args[] = { "--guest", "/g.elf" };
	const char *twice[] = { "vol-b", "vol-b" };
	struct fleet_request r = { .id = "i-00000000000000004", .vcpus = 1, .mem = 64 * MIB,
				   .subnet = "", .args = args, .n_args = 2, .volumes = twice,
				   .n_volumes = 2 };
	char host[FLEET_NAME_MAX];

	assert_int_equal(fleet_place(e, &r, host, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "volume vol-b is named twice");
	etcd_close(e);
}

/* Place @id with one NIC of @spec: 0 or an error, the spec placed into @placed. */
static int place_nic(struct etcd *e, const char *id, const char *spec, struct nic_spec *n,
		     char *placed, size_t len, char *why, size_t whylen)
{
	const char *args[] = { "--guest", "/g.elf", "--nic", NULL };
	struct fleet_nic nic = { .spec = n, .arg = placed, .arg_len = len };
	struct fleet_request r = { .id = id, .vcpus = 1, .mem = 64 * MIB, .subnet = n->subnet,
				   .args = args, .n_args = 4, .nics = &nic, .n_nics = 1 };
	char host[FLEET_NAME_MAX], err[160];

	assert_int_equal(nic_spec_parse(spec, n, err, sizeof(err)), 0);
	args[3] = placed;
	return fleet_place(e, &r, host, why, whylen);
}

/* How many keys FLEET_PREFIX @kind/@vni/ holds. */
static size_t count_under(struct etcd *e, const char *kind, const char *vni)
{
	struct etcd_kvs kvs;
	char key[256];
	size_t n;

	assert_int_equal(fleet_key(key, sizeof(key), kind, vni, ""), 0);
	assert_int_equal(etcd_get(e, key, ETCD_PREFIX, &kvs), 0);
	n = kvs.n;
	etcd_kvs_free(&kvs);
	return n;
}

/*
 * A NIC's address is its instance's from placement to release: a given
 * one another ENI of the VNI holds is refused, picked ones never collide
 * (a /28 hands out exactly eleven), another VNI is another space, and the
 * release ends the address and the ENI's mapping.
 */
static void test_addresses(void **state)
{
	char why[256], placed[512], id[24], *ips[12];
	json_object *inst, *args, *nics;
	struct nic_spec n;
	struct etcd *e;

	NEED_CLUSTER();
	e = fleet_empty();
	host_add(e, "a", 64, 65536 * MIB);
	assert_int_equal(place_nic(e, "i-00000000000000001", "subnet=10.0.1.0/24,ip=10.0.1.7", &n,
				   placed, sizeof(placed), why, sizeof(why)), 0);
	/* What the host runs says the address and the ENI placement settled. */
	inst = record(e, "instances", "i-00000000000000001", NULL);
	assert_true(json_object_object_get_ex(inst, "args", &args));
	assert_non_null(strstr(json_object_get_string(json_object_array_get_idx(args, 3)),
			       "ip=10.0.1.7,"));
	assert_non_null(strstr(placed, n.id));
	assert_true(json_object_object_get_ex(inst, "nics", &nics));
	assert_string_equal(json_object_get_string(json_object_object_get(
		json_object_array_get_idx(nics, 0), "ip")), "10.0.1.7");
	json_object_put(inst);

	assert_int_equal(place_nic(e, "i-00000000000000002", "subnet=10.0.1.0/24,ip=10.0.1.7", &n,
				   placed, sizeof(placed), why, sizeof(why)), -EADDRINUSE);
	assert_string_equal(why, "address 10.0.1.7 of VNI 1 is held by i-00000000000000001");
	assert_null(record(e, "instances", "i-00000000000000002", NULL));
	assert_int_equal(place_nic(e, "i-00000000000000002", "subnet=10.0.1.0/24,ip=10.0.1.7,vni=2",
				   &n, placed, sizeof(placed), why, sizeof(why)), 0);

	/* The mapping the host's agent writes once the ENI runs; the release ends it. */
	struct fleet_mapping m = { .vni = 1, .ip = "10.0.1.7", .underlay = "10.233.0.1:40000",
				   .encap = "vxlan", .instance = "i-00000000000000001",
				   .eni = "eni-0123456789abcdef0", .host = "a" };

	assert_int_equal(fleet_mapping_put(e, &m, 0), 0);
	assert_int_equal(count_under(e, "mapping", "1"), 1);
	assert_int_equal(fleet_release(e, "a", "i-00000000000000001", "{}"), 0);
	assert_int_equal(count_under(e, "mapping", "1"), 0);
	assert_int_equal(count_under(e, "addresses", "1"), 0);
	assert_int_equal(count_under(e, "addresses", "2"), 1);

	/* 10.9.0.16/28 hands out .20 to .30: eleven picks, none twice, then none. */
	for (int i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "i-000000000000001%02d", i);
		int r = place_nic(e, id, "subnet=10.9.0.16/28,vni=9", &n, placed, sizeof(placed),
				  why, sizeof(why));

		ips[i] = strdup(n.ipv4);
		if (i < 11) {
			assert_int_equal(r, 0);
			for (int j = 0; j < i; j++)
				assert_string_not_equal(ips[i], ips[j]);
		} else {
			assert_int_equal(r, -EADDRNOTAVAIL);
			assert_string_equal(why, "subnet 10.9.0.16/28 of VNI 9 has no free address");
		}
	}
	for (int i = 0; i < 12; i++)
		free(ips[i]);
	assert_int_equal(count_under(e, "addresses", "9"), 11);
	etcd_close(e);
}

/* Two launches race for the last slot, ten times: exactly one wins each. */
struct racer {
	pthread_barrier_t *start;
	char id[24];
	int err;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct etcd *e = client();

	pthread_barrier_wait(r->start);
	place(e, r->id, 1, 64 * MIB, "", &r->err);
	etcd_close(e);
	return NULL;
}

static void test_last_slot_race(void **state)
{
	pthread_barrier_t start;
	struct etcd *e;

	NEED_CLUSTER();
	e = fleet_empty();
	host_add(e, "a", 1, 1024 * MIB);
	pthread_barrier_init(&start, NULL, 2);
	for (int round = 0; round < 10; round++) {
		struct racer r[2] = { { .start = &start }, { .start = &start } };
		pthread_t t[2];

		for (int i = 0; i < 2; i++) {
			snprintf(r[i].id, sizeof(r[i].id), "i-0000000000000%02d%02d", round, i);
			assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		assert_true((r[0].err == 0 && r[1].err == -ENOSPC) ||
			    (r[1].err == 0 && r[0].err == -ENOSPC));
		assert_used(e, "a", 1, 64);
		assert_int_equal(fleet_release(e, "a", r[r[0].err ? 1 : 0].id, "{}"), 0);
	}
	pthread_barrier_destroy(&start);
	etcd_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_first_fit),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_subnet_spread),
		cmocka_unit_test(test_dead_host),
		cmocka_unit_test(test_volume_attach),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_last_slot_race),
	};

	return cmocka_run_group_tests(tests, cluster_up, cluster_down);
}
