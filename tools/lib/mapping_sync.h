/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host agent's half of the VPC mapping service (docs/fleet.md, "The
 * mapping service"): it publishes where each local ENI is on the underlay
 * and keeps every local cv-vpc's mapping table equal to its VNI's prefix
 * in etcd, live.
 *
 * cv-vpc cannot watch etcd itself: it is jailed in a network namespace of
 * its own with nothing but its underlay sockets, and loads no HTTP client
 * (tests/integration/layering.sh).  So the agent watches mapping/<vni>/
 * once per VNI its ENIs are in and pushes each change to the cards of that
 * VNI over their control sockets (cards/vpc/main.c: mapping-set,
 * mapping-remove, mapping-prune).  A full sync sets every entry with
 * generation G, the revision the agent's copy is at, then prunes below G;
 * the card then answers mapping_gen G.  Single changes carry no
 * generation, so a card whose mapping_gen is not the G of its last full
 * sync has restarted (it starts at 0) and is synced again; so is one that
 * missed a change.  A ticker checks every card each second and publishes
 * mapping/<vni>/<ip> again when the card's bound underlay port changed
 * (a restarted card binds a new one).
 */
#ifndef CV_MAPPING_SYNC_H
#define CV_MAPPING_SYNC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "tools/lib/etcd.h"
#include "tools/lib/instance.h"

#define MAPSYNC_CARDS 64
#define MAPSYNC_VNIS  MAPSYNC_CARDS

struct mapsync;

/* One VNI's mappings as etcd has them, followed by a watch of its own. */
struct mapsync_vni {
	struct mapsync *ms;
	unsigned vni;
	unsigned users;            /* local ENIs in it; 0: slot free */
	json_object *table;        /* ip -> {"underlay","encap"} */
	int64_t rev;               /* the store's revision the table is at */
	struct etcd_watch watch;
	char prefix[64];
	pthread_t thread;
	bool thread_up;
};

/* A local ENI: its card's control socket and what it publishes. */
struct mapsync_card {
	bool used;
	unsigned vni;
	char instance[CV_INSTANCE_ID_MAX];
	char eni[32], ip[16], encap[8];
	char ctl[108];             /* <card socket>.ctl */
	char published[32];        /* the underlay in mapping/<vni>/<ip>; "" none yet */
	int64_t synced;            /* G of its last full sync; 0: none */
	bool dirty;                /* a change did not reach it */
};

struct mapsync {
	const char *endpoints;
	const char *host;
	int64_t lease;             /* the host's: its ENIs' mappings go with it */
	struct etcd *e;            /* the ticker's and attach's (under lock) */
	pthread_mutex_t lock;      /* everything below, and every push */
	struct mapsync_vni vni[MAPSYNC_VNIS];
	struct mapsync_card card[MAPSYNC_CARDS];
	pthread_t ticker;
	atomic_bool stop;
	bool ticker_up;
};

/* Start the ticker.  0 or a negative errno. */
int mapsync_start(struct mapsync *ms, const char *endpoints, const char *host, int64_t lease);
/*
 * Instance @instance runs with @nics (from its run directory's
 * description): publish each ENI's mapping and sync its card with its
 * VNI's table now, then keep both so.  0, or a negative errno (logged)
 * when etcd cannot be read; the ticker goes on trying.
 */
int mapsync_attach(struct mapsync *ms, const char *instance, const struct instance_nic *nics,
		   unsigned n);
/* Instance @instance ended: its cards are followed no more (its mappings
 * go with its release, fleet_release()). */
void mapsync_detach(struct mapsync *ms, const char *instance);
/* Stop every watch and the ticker. */
void mapsync_stop(struct mapsync *ms);

#endif /* CV_MAPPING_SYNC_H */
