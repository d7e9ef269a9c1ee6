/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cardvisor's fleet commands (docs/fleet.md): the host agent, launches
 * through placement, and the fleet-wide ps and stop.  Each takes the etcd
 * endpoints from --etcd or CARDVISOR_ETCD and returns the process' exit
 * status.
 */
#ifndef CV_CARDVISOR_FLEET_H
#define CV_CARDVISOR_FLEET_H

#include <stdbool.h>

#include "tools/lib/fleet.h"

/* --etcd's value, else $CARDVISOR_ETCD; NULL (after one line) if neither. */
const char *fleet_endpoints(const char *cmd, const char *opt);

/* cardvisor host serve|ls ... */
int fleet_cmd_host(int argc, char **argv);
/*
 * Place @r, then wait until its host has started it (print its id, or
 * with @json {"id","host"}) or could not (its reason; exit status 1).
 */
int fleet_cmd_run(const char *endpoints, const struct fleet_request *r, bool json);
/* Every instance of the fleet: where it is and its state. */
int fleet_cmd_ps(const char *endpoints, bool json);
/* Ask @id's host to stop it. */
int fleet_cmd_stop(const char *endpoints, const char *id);
/* `cardvisor status --fleet ID`: its records, its state as ps --fleet says it. */
int fleet_cmd_status(const char *endpoints, const char *id);
/*
 * Forget @id's records once it has ended (no longer placed); with @force
 * also one placed on a host that is gone: released first.
 */
int fleet_cmd_rm(const char *endpoints, const char *id, bool force);

#endif /* CV_CARDVISOR_FLEET_H */
