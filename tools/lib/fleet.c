// SPDX-License-Identifier: Apache-2.0
/* The fleet's records and the transactions that change them (fleet.h). */
#include "tools/lib/fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "tools/lib/json_field.h"
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

json_object *fleet_record_parse(const struct etcd_kv *kv)
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

const struct etcd_kv *fleet_record_find(const struct etcd_kvs *kvs, const char *kind,
				       const char *name)
{
	char key[256];

	if (fleet_key(key, sizeof(key), kind, name, NULL))
		return NULL;
	for (size_t i = 0; i < kvs->n; i++)
		if (!strcmp(kvs->kv[i].key, key))
			return &kvs->kv[i];
	return NULL;
}

/* @host as a candidate for @r; false if it is malformed. */
static bool candidate_fill(struct candidate *c, const struct etcd_kv *host,
			   const struct etcd_kvs *caps, const struct fleet_request *r)
{
	json_object *h = fleet_record_parse(host), *subnets;
	const struct etcd_kv *cap;

	c->name = host->key + strlen(FLEET_PREFIX "hosts/");
	if (!h || !fleet_name_valid(c->name)) {
		json_object_put(h);
		return false;
	}
	c->host_created = host->create_revision;
	cap = fleet_record_find(caps, "capacity", c->name);
	c->capacity = cap ? fleet_record_parse(cap) : json_object_new_object();
	if (!c->capacity) {
		json_object_put(h);
		return false;
	}
	c->capacity_mod = cap ? cap->mod_revision : 0;
	c->free_vcpus = json_field_i64(h, "vcpus") - json_field_i64(c->capacity, "vcpus");
	c->free_mem = json_field_i64(h, "mem") - json_field_i64(c->capacity, "mem");
	c->same_subnet = r->subnet[0] && json_object_object_get_ex(c->capacity, "subnets",
								     &subnets) ?
		json_field_i64(subnets, r->subnet) : 0;
	json_object_put(h);
	return true;
}

/* capacity + @sign * what @r holds (instances of its subnet counted too). */
static void capacity_add(json_object *cap, int sign, int64_t vcpus, int64_t mem,
			 const char *subnet)
{
	json_object *subnets;

	json_object_object_add(cap, "vcpus",
			       json_object_new_int64(json_field_i64(cap, "vcpus") + sign * vcpus));
	json_object_object_add(cap, "mem", json_object_new_int64(json_field_i64(cap, "mem") + sign * mem));
	if (!subnet[0])
		return;
	if (!json_object_object_get_ex(cap, "subnets", &subnets)) {
		subnets = json_object_new_object();
		json_object_object_add(cap, "subnets", subnets);
	}
	int64_t n = json_field_i64(subnets, subnet) + sign;

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
	if (r->n_nics) {
		json_object *nics = json_object_new_array();

		for (size_t i = 0; i < r->n_nics; i++) {
			json_object *n = json_object_new_object();

			json_object_object_add(n, "vni", json_object_new_int64(r->nics[i].spec->vni));
			json_object_object_add(n, "ip", json_object_new_string(r->nics[i].spec->ipv4));
			json_object_object_add(n, "eni", json_object_new_string(r->nics[i].spec->id));
			json_object_array_add(nics, n);
		}
		json_object_object_add(o, "nics", nics);
	}
	return o;
}

int fleet_address_key(char *key, size_t len, const char *kind, unsigned vni, const char *ip)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", vni);
	return fleet_key(key, len, kind, v, ip);
}

/*
 * Records a transaction writes, each with the compare that guards it:
 * the volumes a placement attaches or a release detaches, the addresses a
 * placement reserves.
 */
struct rec_puts {
	char key[FLEET_VOLUMES_MAX > FLEET_NICS_MAX ? FLEET_VOLUMES_MAX : FLEET_NICS_MAX][256];
	json_object *rec[FLEET_VOLUMES_MAX > FLEET_NICS_MAX ? FLEET_VOLUMES_MAX : FLEET_NICS_MAX];
	size_t n;
};

static void rec_puts_free(struct rec_puts *a)
{
	for (size_t i = 0; i < a->n; i++)
		json_object_put(a->rec[i]);
}

/* Each NIC's address as @r->id's if no ENI holds it: its spec into its arg. */
static int reserve_prepare(const struct fleet_request *r, struct rec_puts *a, struct etcd_cmp *cmp,
			   struct etcd_op *ops, struct etcd_op *gets)
{
	for (size_t i = 0; i < r->n_nics; i++) {
		const struct nic_spec *n = r->nics[i].spec;
		int rc = nic_spec_format(n, r->nics[i].arg, r->nics[i].arg_len);

		if (!rc)
			rc = fleet_address_key(a->key[i], sizeof(a->key[i]), "addresses", n->vni, n->ipv4);
		if (rc)
			return rc;
		a->rec[i] = json_object_new_object();
		a->n++;
		json_object_object_add(a->rec[i], "instance", json_object_new_string(r->id));
		json_object_object_add(a->rec[i], "eni", json_object_new_string(n->id));
		const char *v = json_text(a->rec[i]);

		cmp[i] = (struct etcd_cmp){ .key = a->key[i], .target = ETCD_CMP_VERSION };
		ops[i] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = a->key[i], .value = v,
					   .value_len = strlen(v) };
		gets[i] = (struct etcd_op){ .type = ETCD_OP_GET, .key = a->key[i] };
	}
	return 0;
}

/* Whether @ip is among the reservations read (addresses/<vni>/ pairs). */
static bool address_held(void *arg, const char *ip)
{
	const struct etcd_kvs *held = arg;
	size_t len = strlen(ip);

	for (size_t i = 0; i < held->n; i++) {
		const char *k = held->kv[i].key;
		size_t kl = strlen(k);

		if (kl > len && k[kl - len - 1] == '/' && !strcmp(k + kl - len, ip))
			return true;
	}
	return false;
}

/*
 * After a placement lost its race: for each NIC whose address another ENI
 * holds (@held, what the failed transaction read), a free one of its
 * subnet by what its VNI's reservations say now; -EADDRINUSE for one the
 * user gave, -EADDRNOTAVAIL when its subnet is full (@why says which).
 */
static int reserve_retry(struct etcd *e, const struct fleet_request *r,
			 const struct etcd_kvs *held, char *why, size_t whylen)
{
	for (size_t i = 0; i < r->n_nics; i++) {
		struct nic_spec *n = r->nics[i].spec;
		struct etcd_kvs vni_held;
		json_object *rec;
		char prefix[64];
		int rc;

		if (!held[i].n)
			continue;
		rec = fleet_record_parse(&held[i].kv[0]);
		snprintf(why, whylen, "address %s of VNI %u is held by %s", n->ipv4, n->vni,
			 rec ? json_field_str(rec, "instance", "another instance") :
			 "another instance");
		json_object_put(rec);
		if (n->ip_given)
			return -EADDRINUSE;
		rc = fleet_address_key(prefix, sizeof(prefix), "addresses", n->vni, "");
		if (!rc)
			rc = etcd_get(e, prefix, ETCD_PREFIX, &vni_held);
		if (rc)
			return rc;
		rc = nic_spec_pick_ip(n, address_held, &vni_held);
		etcd_kvs_free(&vni_held);
		if (rc == -EADDRNOTAVAIL)
			snprintf(why, whylen, "subnet %s of VNI %u has no free address", n->subnet,
				 n->vni);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Each volume of @r as @r->id's on @host, its epoch one more than @vols
 * (what was read) says; the epochs also into @epochs ({"vol": N}).
 * -EBUSY (with @why) for a volume another instance holds, unless forced.
 */
static int attach_prepare(const struct fleet_request *r, const struct etcd_kvs *vols,
			  const char *host, struct rec_puts *a, struct etcd_cmp *cmp,
			  struct etcd_op *ops, json_object *epochs, char *why, size_t whylen)
{
	for (size_t i = 0; i < r->n_volumes; i++) {
		json_object *old = vols[i].n ? fleet_record_parse(&vols[i].kv[0]) : json_object_new_object();
		json_object *holder;
		int64_t epoch;

		if (!old)
			return -EBADMSG;
		epoch = json_field_i64(old, "epoch") + 1;
		if (json_object_object_get_ex(old, "instance", &holder) && !r->force_detach) {
			snprintf(why, whylen, "volume %s is attached to %s (epoch %lld); "
				 "--force-detach takes it", r->volumes[i],
				 json_object_get_string(holder), (long long)epoch - 1);
			json_object_put(old);
			return -EBUSY;
		}
		json_object_put(old);
		fleet_key(a->key[i], sizeof(a->key[i]), "volumes", r->volumes[i], NULL);
		a->rec[i] = json_object_new_object();
		a->n++;
		json_object_object_add(a->rec[i], "instance", json_object_new_string(r->id));
		json_object_object_add(a->rec[i], "host", json_object_new_string(host));
		json_object_object_add(a->rec[i], "epoch", json_object_new_int64(epoch));
		json_object_object_add(epochs, r->volumes[i], json_object_new_int64(epoch));
		/* Unchanged since read: no other attachment came between. */
		cmp[i] = (struct etcd_cmp){ .key = a->key[i], .target = ETCD_CMP_MOD,
					    .number = vols[i].n ? vols[i].kv[0].mod_revision : 0 };
		const char *v = json_text(a->rec[i]);

		ops[i] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = a->key[i], .value = v,
					   .value_len = strlen(v) };
	}
	return 0;
}

/*
 * One placement round on what was read: 1 placed, 0 lost a race (read
 * again), -ENOSPC when nothing fits, -EBUSY when a volume is held.
 */
static int place_once(struct etcd *e, const struct fleet_request *r, const struct etcd_kvs *hosts,
		      const struct etcd_kvs *caps, const struct etcd_kvs *vols,
		      char host[FLEET_NAME_MAX], char *why, size_t whylen)
{
	enum { FIXED_CMP = 3, FIXED_OPS = 4, MAX_OPS = FIXED_OPS + FLEET_VOLUMES_MAX +
							  FLEET_NICS_MAX };
	struct candidate best = { 0 }, c;
	char k_host[256], k_cap[256], k_inst[256], k_placed[256], k_status[256];
	struct etcd_cmp cmp[FIXED_CMP + FLEET_VOLUMES_MAX + FLEET_NICS_MAX];
	struct etcd_op ops[MAX_OPS], otherwise[1 + FLEET_NICS_MAX];
	/* One per op of the longer branch. */
	struct etcd_kvs taken[MAX_OPS] = { 0 };
	struct rec_puts att = { 0 };
	struct rec_puts res = { 0 };
	json_object *inst, *epochs;
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
	epochs = json_object_new_object();
	rc = attach_prepare(r, vols, host, &att, cmp + FIXED_CMP, ops + FIXED_OPS, epochs, why,
			    whylen);
	if (!rc)
		rc = reserve_prepare(r, &res, cmp + FIXED_CMP + att.n, ops + FIXED_OPS + att.n,
				     otherwise + 1);
	if (rc) {
		rec_puts_free(&res);
		rec_puts_free(&att);
		json_object_put(epochs);
		json_object_put(best.capacity);
		return rc;
	}
	/* After reserve_prepare(): the args say each NIC's address now. */
	inst = instance_record(r, host);
	json_object_object_add(inst, "volumes", epochs);
	capacity_add(best.capacity, 1, r->vcpus, (int64_t)r->mem, r->subnet);
	const char *v_cap = json_text(best.capacity), *v_inst = json_text(inst);
	const char *v_status = "{\"state\":\"" FLEET_PENDING "\"}";

	fleet_key(k_host, sizeof(k_host), "hosts", host, NULL);
	fleet_key(k_cap, sizeof(k_cap), "capacity", host, NULL);
	fleet_key(k_inst, sizeof(k_inst), "instances", r->id, NULL);
	fleet_key(k_placed, sizeof(k_placed), "placed", host, r->id);
	fleet_key(k_status, sizeof(k_status), "status", r->id, NULL);
	/* The same registration of the host, still alive, holding what was
	 * read, and no instance of this id anywhere. */
	cmp[0] = (struct etcd_cmp){ .key = k_host, .target = ETCD_CMP_CREATE,
				    .number = best.host_created };
	cmp[1] = (struct etcd_cmp){ .key = k_cap, .target = ETCD_CMP_MOD,
				    .number = best.capacity_mod };
	cmp[2] = (struct etcd_cmp){ .key = k_inst, .target = ETCD_CMP_VERSION, .number = 0 };
	ops[0] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = k_cap, .value = v_cap,
				   .value_len = strlen(v_cap) };
	ops[1] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = k_inst, .value = v_inst,
				   .value_len = strlen(v_inst) };
	ops[2] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = k_status, .value = v_status,
				   .value_len = strlen(v_status) };
	ops[3] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = k_placed, .value = "run",
				   .value_len = 3 };
	/* On a lost race, whether it was this id that was taken, or an address. */
	otherwise[0] = (struct etcd_op){ .type = ETCD_OP_GET, .key = k_inst };
	struct etcd_txn t = { .cmp = cmp, .n_cmp = FIXED_CMP + att.n + res.n, .then = ops,
			      .n_then = FIXED_OPS + att.n + res.n, .otherwise = otherwise,
			      .n_otherwise = 1 + res.n, .kvs = taken };

	rc = etcd_txn(e, &t);
	rec_puts_free(&res);
	rec_puts_free(&att);
	json_object_put(inst);
	json_object_put(best.capacity);
	if (!rc && !t.succeeded && taken[0].n) {
		snprintf(why, whylen, "the fleet has an instance %s already", r->id);
		rc = -EEXIST;
	} else if (!rc && !t.succeeded) {
		rc = reserve_retry(e, r, taken + 1, why, whylen);
	}
	for (size_t i = 0; i < MAX_OPS; i++)
		etcd_kvs_free(&taken[i]);
	if (rc)
		return rc;
	return t.succeeded;
}

/* The records of @keys (@n <= FLEET_VOLUMES_MAX) at one revision, into @kvs. */
static int read_keys(struct etcd *e, char (*keys)[256], size_t n, struct etcd_kvs *kvs)
{
	struct etcd_op get[FLEET_VOLUMES_MAX];
	struct etcd_txn t = { .then = get, .n_then = n, .kvs = kvs };

	for (size_t i = 0; i < n; i++)
		get[i] = (struct etcd_op){ .type = ETCD_OP_GET, .key = keys[i] };
	return n ? etcd_txn(e, &t) : 0;
}

int fleet_place(struct etcd *e, const struct fleet_request *r, char host[FLEET_NAME_MAX],
		char *why, size_t whylen)
{
	char k_hosts[256], k_caps[256], k_vols[FLEET_VOLUMES_MAX][256];
	int res = 0;

	if (r->n_volumes > FLEET_VOLUMES_MAX || r->n_nics > FLEET_NICS_MAX) {
		snprintf(why, whylen, "at most %d volumes and %d NICs", FLEET_VOLUMES_MAX,
			 FLEET_NICS_MAX);
		return -EINVAL;
	}
	why[0] = 0;
	for (size_t i = 0; i < r->n_nics; i++) {
		for (size_t j = 0; j < i; j++) {
			struct nic_spec *a = r->nics[j].spec, *b = r->nics[i].spec;
			struct nic_spec *move = b->ip_given ? a : b;

			/* One transaction cannot put one key twice: a picked address moves. */
			for (int t = 0; t < 64 && a->vni == b->vni && !strcmp(a->ipv4, b->ipv4) &&
			     !move->ip_given; t++)
				nic_spec_pick_ip(move, NULL, NULL);
			if (a->vni == b->vni && !strcmp(a->ipv4, b->ipv4)) {
				snprintf(why, whylen, "two NICs have address %s in VNI %u", a->ipv4,
					 a->vni);
				return -EINVAL;
			}
		}
	}
	for (size_t i = 0; i < r->n_volumes; i++) {
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(r->volumes[i], r->volumes[j])) {
				snprintf(why, whylen, "volume %s is named twice", r->volumes[i]);
				return -EINVAL;
			}
		}
		fleet_key(k_vols[i], sizeof(k_vols[i]), "volumes", r->volumes[i], NULL);
	}
	fleet_key(k_hosts, sizeof(k_hosts), "hosts", "", NULL);
	fleet_key(k_caps, sizeof(k_caps), "capacity", "", NULL);
	for (int t = 0; t < FLEET_CAS_TRIES && res == 0; t++) {
		struct etcd_kvs hosts, caps, vols[FLEET_VOLUMES_MAX] = { 0 };

		res = etcd_get(e, k_hosts, ETCD_PREFIX, &hosts);
		if (res)
			break;
		res = etcd_get(e, k_caps, ETCD_PREFIX, &caps);
		if (!res) {
			res = read_keys(e, k_vols, r->n_volumes, vols);
			if (!res)
				res = place_once(e, r, &hosts, &caps, vols, host, why, whylen);
			for (size_t i = 0; i < r->n_volumes; i++)
				etcd_kvs_free(&vols[i]);
			etcd_kvs_free(&caps);
		}
		etcd_kvs_free(&hosts);
	}
	if (res == 0) {
		char last[160];

		/* The last round's reason, if an address was taken. */
		snprintf(last, sizeof(last), "%s", why);
		snprintf(why, whylen, "placement lost %d races in a row%s%s", FLEET_CAS_TRIES,
			 last[0] ? ": the last one as " : "", last);
		return -EBUSY;
	}
	if (res < 0 && res != -ENOSPC && res != -EEXIST && res != -EBUSY && res != -EADDRINUSE &&
	    res != -EADDRNOTAVAIL && res != -EINVAL)
		snprintf(why, whylen, "etcd: %s", etcd_error(e));
	return res < 0 ? res : 0;
}

int fleet_mapping_put(struct etcd *e, const struct fleet_mapping *m, int64_t lease)
{
	json_object *o = json_object_new_object();
	char key[256];
	int r = fleet_address_key(key, sizeof(key), "mapping", m->vni, m->ip);

	json_object_object_add(o, "underlay", json_object_new_string(m->underlay));
	json_object_object_add(o, "encap", json_object_new_string(m->encap));
	json_object_object_add(o, "instance", json_object_new_string(m->instance));
	json_object_object_add(o, "eni", json_object_new_string(m->eni));
	json_object_object_add(o, "host", json_object_new_string(m->host));
	if (!r) {
		const char *v = json_text(o);

		r = etcd_put(e, key, v, strlen(v), lease, NULL);
	}
	json_object_put(o);
	return r;
}

int fleet_status_put(struct etcd *e, const char *id, const char *status_json)
{
	char key[256];
	int r = fleet_key(key, sizeof(key), "status", id, NULL);

	return r ? r : etcd_put(e, key, status_json, strlen(status_json), 0, NULL);
}

/*
 * The detaches a release makes: for each volume @inst attached that is
 * still its own, the record without "instance" (the epoch stays), compared
 * by its mod revision.  0, or -EBADMSG.
 */
static int detach_prepare(struct etcd *e, json_object *inst, const char *id, struct rec_puts *a,
			  struct etcd_cmp *cmp, struct etcd_op *ops)
{
	char keys[FLEET_VOLUMES_MAX][256];
	struct etcd_kvs kvs[FLEET_VOLUMES_MAX] = { 0 };
	json_object *epochs;
	size_t n = 0;
	int r;

	if (!json_object_object_get_ex(inst, "volumes", &epochs))
		return 0;
	json_object_object_foreach(epochs, vol, epoch) {
		(void)epoch;
		if (n == FLEET_VOLUMES_MAX)
			return -EBADMSG;
		fleet_key(keys[n++], sizeof(keys[0]), "volumes", vol, NULL);
	}
	r = read_keys(e, keys, n, kvs);
	for (size_t i = 0; i < n && !r; i++) {
		json_object *rec = kvs[i].n ? fleet_record_parse(&kvs[i].kv[0]) : NULL, *holder;

		/* Force-detached since: the newer attachment's, left alone. */
		if (!rec || !json_object_object_get_ex(rec, "instance", &holder) ||
		    strcmp(json_object_get_string(holder), id)) {
			json_object_put(rec);
			continue;
		}
		json_object_object_del(rec, "instance");
		json_object_object_del(rec, "host");
		memcpy(a->key[a->n], keys[i], sizeof(a->key[0]));
		a->rec[a->n] = rec;
		cmp[a->n] = (struct etcd_cmp){ .key = a->key[a->n], .target = ETCD_CMP_MOD,
					       .number = kvs[i].kv[0].mod_revision };
		const char *v = json_text(rec);

		ops[a->n] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = a->key[a->n], .value = v,
					      .value_len = strlen(v) };
		a->n++;
	}
	for (size_t i = 0; i < n; i++)
		etcd_kvs_free(&kvs[i]);
	return r;
}

/*
 * The deletes that end @inst's NICs' addresses and mappings (what its
 * record's "nics" says; placement alone wrote it), into @ops with their
 * keys in @keys: how many.
 */
static size_t addresses_end(json_object *inst, char (*keys)[256], struct etcd_op *ops)
{
	json_object *nics;
	size_t n = 0;

	if (!json_object_object_get_ex(inst, "nics", &nics) ||
	    !json_object_is_type(nics, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(nics) && i < FLEET_NICS_MAX; i++) {
		json_object *nic = json_object_array_get_idx(nics, i);
		const char *ip = json_field_str(nic, "ip", "");
		int64_t vni = json_field_i64(nic, "vni");

		if (!ip[0] || vni < 0 || vni > 0xffffff)
			continue;
		for (int k = 0; k < 2; k++) {
			if (fleet_address_key(keys[n], sizeof(keys[0]), k ? "mapping" : "addresses",
					(unsigned)vni, ip))
				continue;
			ops[n] = (struct etcd_op){ .type = ETCD_OP_DELETE, .key = keys[n] };
			n++;
		}
	}
	return n;
}

/* One release round: 1 done (or nothing to do), 0 lost a race, or an error. */
static int release_once(struct etcd *e, const char *host, const char *id,
			const char *status_json)
{
	enum { FIXED_CMP = 2, FIXED_OPS = 3 };
	/* capacity/<host>, instances/<id>, placed/<host>/<id>: read together. */
	char keys[3][256], k_status[256], k_nics[2 * FLEET_NICS_MAX][256];
	char *k_cap = keys[0], *k_inst = keys[1], *k_placed = keys[2];
	struct etcd_cmp cmp[FIXED_CMP + FLEET_VOLUMES_MAX];
	struct etcd_op ops[FIXED_OPS + FLEET_VOLUMES_MAX + 2 * FLEET_NICS_MAX];
	size_t n_nic_ops = 0;
	struct etcd_kvs kvs[3];
	struct rec_puts att = { 0 };
	json_object *cap = NULL, *inst = NULL, *subnet;
	int r;

	fleet_key(k_placed, sizeof(keys[0]), "placed", host, id);
	fleet_key(k_cap, sizeof(keys[0]), "capacity", host, NULL);
	fleet_key(k_inst, sizeof(keys[0]), "instances", id, NULL);
	fleet_key(k_status, sizeof(k_status), "status", id, NULL);
	r = read_keys(e, keys, 3, kvs);
	if (r)
		return r;
	if (kvs[2].n == 0 || kvs[1].n == 0) {
		r = 1;   /* released already, or never placed here */
		goto out;
	}
	cap = kvs[0].n ? fleet_record_parse(&kvs[0].kv[0]) : json_object_new_object();
	inst = fleet_record_parse(&kvs[1].kv[0]);
	r = cap && inst ? detach_prepare(e, inst, id, &att, cmp + FIXED_CMP, ops + FIXED_OPS) :
		-EBADMSG;
	if (!r)
		n_nic_ops = addresses_end(inst, k_nics, ops + FIXED_OPS + att.n);
	if (r)
		goto out;
	capacity_add(cap, -1, json_field_i64(inst, "vcpus"), json_field_i64(inst, "mem"),
		     json_object_object_get_ex(inst, "subnet", &subnet) ?
		     json_object_get_string(subnet) : "");
	const char *v_cap = json_text(cap);

	cmp[0] = (struct etcd_cmp){ .key = k_cap, .target = ETCD_CMP_MOD,
				    .number = kvs[0].n ? kvs[0].kv[0].mod_revision : 0 };
	/* placed/<host>/<id> still there ("run" or "stop"). */
	cmp[1] = (struct etcd_cmp){ .key = k_placed, .target = ETCD_CMP_VERSION,
				    .result = ETCD_CMP_GREATER, .number = 0 };
	ops[0] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = k_cap, .value = v_cap,
				   .value_len = strlen(v_cap) };
	ops[1] = (struct etcd_op){ .type = ETCD_OP_DELETE, .key = k_placed };
	ops[2] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = k_status, .value = status_json,
				   .value_len = strlen(status_json) };
	struct etcd_txn t = { .cmp = cmp, .n_cmp = FIXED_CMP + att.n, .then = ops,
			      .n_then = FIXED_OPS + att.n + n_nic_ops };

	r = etcd_txn(e, &t);
	if (!r)
		r = t.succeeded;
out:
	rec_puts_free(&att);
	json_object_put(cap);
	json_object_put(inst);
	for (int i = 0; i < 3; i++)
		etcd_kvs_free(&kvs[i]);
	return r;
}

int fleet_release(struct etcd *e, const char *host, const char *id, const char *status_json)
{
	char key[256];
	int r = fleet_key(key, sizeof(key), "placed", host, id);

	for (int t = 0; t < FLEET_CAS_TRIES && !r; t++)
		r = release_once(e, host, id, status_json);
	return r < 0 ? r : r ? 0 : -EBUSY;
}
