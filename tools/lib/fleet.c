// SPDX-License-Identifier: Apache-2.0
/* The fleet's records and the transactions that change them (fleet.h). */
#include "tools/lib/fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "tools/lib/log.h"

bool fleet_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n >= FLEET_NAME_MAX || name[0] == '.')
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789._-") == n;
}

int fleet_key(char *key, size_t len, const char *kind, const char *a, const char *b)
{
	int n = snprintf(key, len, FLEET_PREFIX "%s/%s%s%s", kind, a, b ? "/" : "", b ? b : "");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static const char *json_text(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

static int64_t json_i64(json_object *o, const char *name)
{
	json_object *f;

	return json_object_object_get_ex(o, name, &f) ? json_object_get_int64(f) : 0;
}

/* A record's value as a JSON object, or NULL (logged once) if it is not one. */
static json_object *record_parse(const struct etcd_kv *kv)
{
	json_object *o = json_tokener_parse(kv->value);

	if (o && json_object_is_type(o, json_type_object))
		return o;
	json_object_put(o);
	cv_err_once("fleet: %s: not a JSON object; left out", kv->key);
	return NULL;
}

int fleet_host_register(struct etcd *e, const struct fleet_host *h, int64_t lease)
{
	json_object *o = json_object_new_object();
	char key[256];
	int r = fleet_key(key, sizeof(key), "hosts", h->name, NULL);

	json_object_object_add(o, "vcpus", json_object_new_int64(h->vcpus));
	json_object_object_add(o, "mem", json_object_new_int64((int64_t)h->mem));
	json_object_object_add(o, "underlay", json_object_new_string(h->underlay));
	if (!r) {
		const char *v = json_text(o);
		struct etcd_cmp absent = { .key = key, .target = ETCD_CMP_VERSION };
		struct etcd_op put = { .type = ETCD_OP_PUT, .key = key, .value = v,
				       .value_len = strlen(v), .lease = lease };
		struct etcd_txn t = { .cmp = &absent, .n_cmp = 1, .then = &put, .n_then = 1 };

		r = etcd_txn(e, &t);
		if (!r && !t.succeeded)
			r = -EEXIST;
	}
	json_object_put(o);
	return r;
}

/* A live host and what its capacity record says it holds. */
struct candidate {
	const char *name;
	int64_t host_created;    /* hosts/<name>'s create revision: the same registration */
	int64_t capacity_mod;    /* capacity/<name>'s mod revision, 0: none yet */
	json_object *capacity;   /* {"vcpus","mem","subnets"} used */
	int64_t free_vcpus, free_mem, same_subnet;
};

static const struct etcd_kv *find_key(const struct etcd_kvs *kvs, const char *key)
{
	for (size_t i = 0; i < kvs->n; i++)
		if (!strcmp(kvs->kv[i].key, key))
			return &kvs->kv[i];
	return NULL;
}

/* @host as a candidate for @r; false if it is malformed. */
static bool candidate_fill(struct candidate *c, const struct etcd_kv *host,
			   const struct etcd_kvs *caps, const struct fleet_request *r)
{
	json_object *h = record_parse(host), *subnets, *n;
	const struct etcd_kv *cap;
	char key[256];

	c->name = host->key + strlen(FLEET_PREFIX "hosts/");
	if (!h || !fleet_name_valid(c->name) ||
	    fleet_key(key, sizeof(key), "capacity", c->name, NULL)) {
		json_object_put(h);
		return false;
	}
	c->host_created = host->create_revision;
	cap = find_key(caps, key);
	c->capacity = cap ? record_parse(cap) : json_object_new_object();
	if (!c->capacity) {
		json_object_put(h);
		return false;
	}
	c->capacity_mod = cap ? cap->mod_revision : 0;
	c->free_vcpus = json_i64(h, "vcpus") - json_i64(c->capacity, "vcpus");
	c->free_mem = json_i64(h, "mem") - json_i64(c->capacity, "mem");
	c->same_subnet = r->subnet[0] && json_object_object_get_ex(c->capacity, "subnets",
								     &subnets) &&
		json_object_object_get_ex(subnets, r->subnet, &n) ? json_object_get_int64(n) : 0;
	json_object_put(h);
	return true;
}

/* capacity + @sign * what @r holds (instances of its subnet counted too). */
static void capacity_add(json_object *cap, int sign, int64_t vcpus, int64_t mem,
			 const char *subnet)
{
	json_object *subnets;

	json_object_object_add(cap, "vcpus",
			       json_object_new_int64(json_i64(cap, "vcpus") + sign * vcpus));
	json_object_object_add(cap, "mem", json_object_new_int64(json_i64(cap, "mem") + sign * mem));
	if (!subnet[0])
		return;
	if (!json_object_object_get_ex(cap, "subnets", &subnets)) {
		subnets = json_object_new_object();
		json_object_object_add(cap, "subnets", subnets);
	}
	int64_t n = json_i64(subnets, subnet) + sign;

	if (n > 0)
		json_object_object_add(subnets, subnet, json_object_new_int64(n));
	else
		json_object_object_del(subnets, subnet);
}

static json_object *instance_record(const struct fleet_request *r, const char *host)
{
	json_object *o = json_object_new_object(), *args = json_object_new_array();

	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "vcpus", json_object_new_int64(r->vcpus));
	json_object_object_add(o, "mem", json_object_new_int64((int64_t)r->mem));
	json_object_object_add(o, "subnet", json_object_new_string(r->subnet));
	for (size_t i = 0; i < r->n_args; i++)
		json_object_array_add(args, json_object_new_string(r->args[i]));
	json_object_object_add(o, "args", args);
	return o;
}

/*
 * One placement round on what was read: 1 placed, 0 lost a race (read
 * again), -ENOSPC when nothing fits.
 */
static int place_once(struct etcd *e, const struct fleet_request *r, const struct etcd_kvs *hosts,
		      const struct etcd_kvs *caps, char host[FLEET_NAME_MAX], char *why,
		      size_t whylen)
{
	struct candidate best = { 0 }, c;
	char k_host[256], k_cap[256], k_inst[256], k_placed[256], k_status[256];
	size_t live = 0;
	int rc;

	for (size_t i = 0; i < hosts->n; i++) {
		if (!candidate_fill(&c, &hosts->kv[i], caps, r))
			continue;
		live++;
		if (c.free_vcpus < r->vcpus || c.free_mem < (int64_t)r->mem ||
		    (best.name && c.same_subnet >= best.same_subnet)) {
			json_object_put(c.capacity);
			continue;
		}
		json_object_put(best.capacity);
		best = c;
	}
	if (!best.name) {
		snprintf(why, whylen, "no host has %u vCPUs and %" PRIu64 " MiB free (%zu live "
			 "host%s)", r->vcpus, r->mem >> 20, live, live == 1 ? "" : "s");
		return -ENOSPC;
	}
	snprintf(host, FLEET_NAME_MAX, "%s", best.name);
	capacity_add(best.capacity, 1, r->vcpus, (int64_t)r->mem, r->subnet);
	json_object *inst = instance_record(r, host);
	const char *v_cap = json_text(best.capacity), *v_inst = json_text(inst);
	const char *v_status = "{\"state\":\"" FLEET_PENDING "\"}";

	fleet_key(k_host, sizeof(k_host), "hosts", host, NULL);
	fleet_key(k_cap, sizeof(k_cap), "capacity", host, NULL);
	fleet_key(k_inst, sizeof(k_inst), "instances", r->id, NULL);
	fleet_key(k_placed, sizeof(k_placed), "placed", host, r->id);
	fleet_key(k_status, sizeof(k_status), "status", r->id, NULL);
	struct etcd_cmp cmp[] = {
		/* The same registration of the host, still alive... */
		{ .key = k_host, .target = ETCD_CMP_CREATE, .number = best.host_created },
		/* ...holding what was read... */
		{ .key = k_cap, .target = ETCD_CMP_MOD, .number = best.capacity_mod },
		/* ...and no instance of this id anywhere. */
		{ .key = k_inst, .target = ETCD_CMP_VERSION, .number = 0 },
	};
	struct etcd_op ops[] = {
		{ .type = ETCD_OP_PUT, .key = k_cap, .value = v_cap, .value_len = strlen(v_cap) },
		{ .type = ETCD_OP_PUT, .key = k_inst, .value = v_inst, .value_len = strlen(v_inst) },
		{ .type = ETCD_OP_PUT, .key = k_status, .value = v_status,
		  .value_len = strlen(v_status) },
		{ .type = ETCD_OP_PUT, .key = k_placed, .value = "run", .value_len = 3 },
	};
	/* On a lost race, whether it was this id that was taken. */
	struct etcd_op get_inst = { .type = ETCD_OP_GET, .key = k_inst };
	struct etcd_kvs taken[4] = { 0 };   /* one per op of the longer branch */
	struct etcd_txn t = { .cmp = cmp, .n_cmp = 3, .then = ops, .n_then = 4,
			      .otherwise = &get_inst, .n_otherwise = 1, .kvs = taken };

	rc = etcd_txn(e, &t);
	json_object_put(inst);
	json_object_put(best.capacity);
	if (!rc && !t.succeeded && taken[0].n) {
		snprintf(why, whylen, "the fleet has an instance %s already", r->id);
		rc = -EEXIST;
	}
	for (int i = 0; i < 4; i++)
		etcd_kvs_free(&taken[i]);
	if (rc)
		return rc;
	return t.succeeded;
}

int fleet_place(struct etcd *e, const struct fleet_request *r, char host[FLEET_NAME_MAX],
		char *why, size_t whylen)
{
	char k_hosts[256], k_caps[256];
	int res = 0;

	fleet_key(k_hosts, sizeof(k_hosts), "hosts", "", NULL);
	fleet_key(k_caps, sizeof(k_caps), "capacity", "", NULL);
	for (int t = 0; t < FLEET_CAS_TRIES && res == 0; t++) {
		struct etcd_kvs hosts, caps;

		res = etcd_get(e, k_hosts, ETCD_PREFIX, &hosts);
		if (res)
			break;
		res = etcd_get(e, k_caps, ETCD_PREFIX, &caps);
		if (!res) {
			res = place_once(e, r, &hosts, &caps, host, why, whylen);
			etcd_kvs_free(&caps);
		}
		etcd_kvs_free(&hosts);
	}
	if (res == 0) {
		snprintf(why, whylen, "placement lost %d races in a row", FLEET_CAS_TRIES);
		return -EBUSY;
	}
	if (res < 0 && res != -ENOSPC && res != -EEXIST)
		snprintf(why, whylen, "etcd: %s", etcd_error(e));
	return res < 0 ? res : 0;
}

int fleet_status_put(struct etcd *e, const char *id, const char *status_json)
{
	char key[256];
	int r = fleet_key(key, sizeof(key), "status", id, NULL);

	return r ? r : etcd_put(e, key, status_json, strlen(status_json), 0, NULL);
}

int fleet_release(struct etcd *e, const char *host, const char *id, const char *status_json)
{
	char k_cap[256], k_inst[256], k_placed[256], k_status[256];
	int r = fleet_key(k_placed, sizeof(k_placed), "placed", host, id);

	if (r)
		return r;
	fleet_key(k_cap, sizeof(k_cap), "capacity", host, NULL);
	fleet_key(k_inst, sizeof(k_inst), "instances", id, NULL);
	fleet_key(k_status, sizeof(k_status), "status", id, NULL);
	for (int t = 0; t < FLEET_CAS_TRIES; t++) {
		struct etcd_op get[] = {
			{ .type = ETCD_OP_GET, .key = k_cap },
			{ .type = ETCD_OP_GET, .key = k_inst },
			{ .type = ETCD_OP_GET, .key = k_placed },
		};
		struct etcd_kvs kvs[3];
		struct etcd_txn read = { .then = get, .n_then = 3, .kvs = kvs };
		json_object *cap = NULL, *inst = NULL, *subnet;

		/* One read of the three, at one revision. */
		r = etcd_txn(e, &read);
		if (r)
			return r;
		if (kvs[2].n == 0 || kvs[1].n == 0) {
			r = 1;   /* released already, or never placed here */
		} else {
			cap = kvs[0].n ? record_parse(&kvs[0].kv[0]) : json_object_new_object();
			inst = record_parse(&kvs[1].kv[0]);
			r = cap && inst ? 0 : -EBADMSG;
		}
		if (!r) {
			capacity_add(cap, -1, json_i64(inst, "vcpus"), json_i64(inst, "mem"),
				     json_object_object_get_ex(inst, "subnet", &subnet) ?
				     json_object_get_string(subnet) : "");
			const char *v_cap = json_text(cap);
			struct etcd_cmp cmp[] = {
				{ .key = k_cap, .target = ETCD_CMP_MOD,
				  .number = kvs[0].n ? kvs[0].kv[0].mod_revision : 0 },
				/* placed/<host>/<id> still there ("run" or "stop"). */
				{ .key = k_placed, .target = ETCD_CMP_VERSION,
				  .result = ETCD_CMP_GREATER, .number = 0 },
			};
			struct etcd_op ops[] = {
				{ .type = ETCD_OP_PUT, .key = k_cap, .value = v_cap,
				  .value_len = strlen(v_cap) },
				{ .type = ETCD_OP_DELETE, .key = k_placed },
				{ .type = ETCD_OP_PUT, .key = k_status, .value = status_json,
				  .value_len = strlen(status_json) },
			};
			struct etcd_txn t = { .cmp = cmp, .n_cmp = 2, .then = ops, .n_then = 3 };

			r = etcd_txn(e, &t);
			if (!r)
				r = t.succeeded;
		}
		json_object_put(cap);
		json_object_put(inst);
		for (int i = 0; i < 3; i++)
			etcd_kvs_free(&kvs[i]);
		if (r)
			return r < 0 ? r : 0;
	}
	return -EBUSY;
}
