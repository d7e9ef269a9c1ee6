/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asking a running instance of this host: its cv-hv over the control
 * socket in its run directory, its cards over theirs (card_ctl.h), and
 * EC2's two status checks from what they answer (design.md, "Lifecycle"):
 *
 *   "system"    ok           cv-hv and every card answer
 *               impaired     a card does not (dead, or being restarted)
 *   "instance"  ok           the guest drives a device: a NIC's card has had
 *                            frames from it, or a volume's card completed
 *                            its commands
 *               initializing not yet
 *               impaired     the VM is not running (paused, stopping)
 *               insufficient-data  no card to tell by
 *
 * `cardvisor status` shows them, and the fleet's agents put them in
 * status/<id> (docs/fleet.md).
 */
#ifndef CV_INSTANCE_QUERY_H
#define CV_INSTANCE_QUERY_H

#include <json-c/json.h>

#include "tools/lib/instance.h"

/* One request to instance @id's cv-hv: its reply, or NULL when it does not answer. */
json_object *instance_control(const char *id, const char *request);
/*
 * A running instance's description, from its run directory: 0 with @d's
 * strings in *@blob (free it), or -1.
 */
int instance_desc_load(const char *id, struct instance_desc *d, void **blob);
/*
 * Every card's counters in @status, as "cards": one object per volume and
 * NIC of the instance, {"ok":false,...} for a card that does not answer.
 */
void instance_cards(const char *id, json_object *status);
/*
 * The status checks of an instance whose @status is cv-hv's answer with
 * instance_cards()'s "cards": "checks": {"system": {"status", "reason"},
 * "instance": {"status", "reason"}} added ("reason" only where not ok).
 */
void instance_checks(json_object *status);

#define INSTANCE_CHECK_OK           "ok"
#define INSTANCE_CHECK_IMPAIRED     "impaired"
#define INSTANCE_CHECK_INITIALIZING "initializing"
#define INSTANCE_CHECK_NO_DATA      "insufficient-data"

#endif /* CV_INSTANCE_QUERY_H */
