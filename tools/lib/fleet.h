/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet's records in etcd (docs/fleet.md, issue 15): hosts under
 * leases, their capacity, instances and where they are placed.  Every key
 * is under FLEET_PREFIX:
 *   hosts/<host>          {"vcpus","mem","underlay"}          agent, its lease
 *   capacity/<host>       {"vcpus","mem","subnets":{S: n}}    placement, release
 *   instances/<id>        {"host","vcpus","mem","subnet","args":[...]}   run --fleet
 *   placed/<host>/<id>    "run" or "stop"          run --fleet, stop; the agent watches
 *   status/<id>           {"state","host","reason","exit_status"}    the agent
 *   volumes/<volume>      {"instance","host","epoch"}       placement, release
 *   addresses/<vni>/<ip>  {"instance","eni"}               placement, release
 *   mapping/<vni>/<ip>    {"underlay","encap","instance","eni","host"}   the agent, its lease
 * capacity/<host> is what placed instances hold; placement and release
 * change it only by compare-and-swap on its mod revision, in the same
 * transaction as the records they add or remove, so two launches never
 * take the same capacity and a host's sum never drifts.  volumes/<volume>
 * is a named volume's attachment: the instance holding it and the epoch
 * of that attachment (tools/lib/host_epoch.h), which every attachment
 * raises by one in the placement's transaction; cv-storaged refuses the
 * cards of lower epochs.  addresses/<vni>/<ip> holds a NIC's private
 * address for its instance from placement to release, so no two ENIs of a
 * VPC share one; mapping/<vni>/<ip> is where that ENI is on the underlay
 * while it runs (the VPC mapping service, docs/fleet.md), under its host's
 * lease so that a lost host's ENIs stop being reachable with it.
 */
#ifndef CV_FLEET_H
#define CV_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "tools/lib/etcd.h"
#include "tools/lib/nic_spec.h"

#define FLEET_PREFIX "/cardvisor/v1/"
#define FLEET_NAME_MAX 64
/* Compare-and-swap rounds before placement or release gives up. */
#define FLEET_CAS_TRIES 32
/* Named volumes one launch attaches (cardvisor run's --volume limit). */
#define FLEET_VOLUMES_MAX 8
/* NICs of one launch (cardvisor run's --nic limit). */
#define FLEET_NICS_MAX 8

/* Lifecycle states of an instance (status/<id>'s "state"). */
#define FLEET_PENDING   "pending"    /* placed; its host has not started it yet */
#define FLEET_RUNNING   "running"
#define FLEET_STOPPING  "stopping"
#define FLEET_STOPPED   "stopped"    /* ended; exit_status says how */
#define FLEET_FAILED    "failed"     /* its host could not start it: reason */
#define FLEET_HOST_LOST "host-lost"  /* not stored: its host's lease is gone */

/* A record's value as a JSON object, or NULL (logged once) if it is not one. */
json_object *fleet_record_parse(const struct etcd_kv *kv);
/* The pair of @kvs under @kind/@name, or NULL. */
const struct etcd_kv *fleet_record_find(const struct etcd_kvs *kvs, const char *kind,
				       const char *name);

/* Whether @name is a host or subnet-safe key part: [A-Za-z0-9._-], 1..63. */
bool fleet_name_valid(const char *name);
/* FLEET_PREFIX @kind "/" @a ["/" @b] into @key. */
int fleet_key(char *key, size_t len, const char *kind, const char *a, const char *b);
/*
 * FLEET_PREFIX @kind "/<vni>/" @ip into @key: an address's reservation
 * ("addresses") or mapping ("mapping"); @ip "" names the VNI's prefix.
 */
int fleet_address_key(char *key, size_t len, const char *kind, unsigned vni, const char *ip);

/* What a host offers (hosts/<host>). */
struct fleet_host {
	char name[FLEET_NAME_MAX];
	unsigned vcpus;
	uint64_t mem;
	char underlay[64];
};

/*
 * Register @h under @lease: a create-if-absent, so that a second agent
 * naming the same host is refused (-EEXIST) while the first one's lease
 * lives.
 */
int fleet_host_register(struct etcd *e, const struct fleet_host *h, int64_t lease);

/*
 * A NIC of a launch.  Placement reserves its (VNI, address) and writes
 * @spec back into @arg (the --nic argument among the request's args) as
 * nic_spec_format() has it, with the address it got: one picked at random
 * is picked again when another ENI of the VPC holds it.
 */
struct fleet_nic {
	struct nic_spec *spec;
	char *arg;
	size_t arg_len;
};

/* What one launch asks for. */
struct fleet_request {
	const char *id;
	unsigned vcpus;
	uint64_t mem;
	const char *subnet;      /* "" without a NIC: nothing to spread */
	const char *const *args; /* `cardvisor run` options, for the host */
	size_t n_args;
	const char *const *volumes;  /* existing volumes it attaches (id=...) */
	size_t n_volumes;            /* at most FLEET_VOLUMES_MAX */
	bool force_detach;           /* take them from the instances holding them */
	struct fleet_nic *nics;
	size_t n_nics;               /* at most FLEET_NICS_MAX */
};

/*
 * Place @r on a live host with room: the one with the fewest instances of
 * r->subnet, then the first by name; it writes instances/<id> (with each
 * volume's new epoch under "volumes"), placed/<host>/<id>, the host's new
 * capacity and each volume's attachment in one transaction, retried while
 * other placements win the race.  The host in @host.  -ENOSPC with a line
 * for the user in @why when no host has room, -EEXIST when the fleet has
 * an instance @r->id already, -EBUSY when a volume is attached to another
 * instance and @r does not force the detach, -EADDRINUSE when a NIC's
 * given address is another ENI's.  Each NIC's address is reserved in the
 * same transaction.
 */
int fleet_place(struct etcd *e, const struct fleet_request *r, char host[FLEET_NAME_MAX],
		char *why, size_t whylen);

/*
 * Give back what instance @id holds on @host, in one transaction with the
 * removal of placed/<host>/<id>, the final status @status_json, the
 * detach of the volumes it still holds (their epoch stays) and the end of
 * its NICs' addresses and mappings.  An instance no longer placed there is
 * left alone (0).
 */
int fleet_release(struct etcd *e, const char *host, const char *id, const char *status_json);

/* A running ENI: where on the underlay its card takes its VPC's datagrams. */
struct fleet_mapping {
	unsigned vni;
	const char *ip;          /* its private address */
	const char *underlay;    /* "A.B.C.D:PORT" the card is bound to */
	const char *encap;       /* "vxlan" or "geneve" */
	const char *instance, *eni, *host;
};
/* Write mapping/<vni>/<ip> under @lease (the host's). */
int fleet_mapping_put(struct etcd *e, const struct fleet_mapping *m, int64_t lease);

/* Write status/<id>. */
int fleet_status_put(struct etcd *e, const char *id, const char *status_json);

#endif /* CV_FLEET_H */
