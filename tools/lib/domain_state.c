// SPDX-License-Identifier: Apache-2.0
/*
 * cv-hv's states in libvirt's words (domain_state.h).  The enumerators
 * come from libvirt's own header, so a name that libvirt does not define
 * fails the build and every number is libvirt's.
 */
#include <errno.h>
#include <libvirt/libvirt.h>
#include <stddef.h>
#include <string.h>

#include "tools/lib/domain_state.h"

/* Both the value and its spelling from one enumerator. */
#define LV(e) e, #e

static const struct {
	const char *state, *reason; /* cv-hv's words; reason NULL: any */
	struct domain_state ds;
} domain_states[] = {
	/* libvirt reports a domain that is being started as paused, starting up. */
	{ "pending", "starting",
	  { LV(VIR_DOMAIN_PAUSED), LV(VIR_DOMAIN_PAUSED_STARTING_UP) } },
	{ "running", "booted", { LV(VIR_DOMAIN_RUNNING), LV(VIR_DOMAIN_RUNNING_BOOTED) } },
	{ "running", "resumed", { LV(VIR_DOMAIN_RUNNING), LV(VIR_DOMAIN_RUNNING_UNPAUSED) } },
	{ "paused", "requested", { LV(VIR_DOMAIN_PAUSED), LV(VIR_DOMAIN_PAUSED_USER) } },
	/*
	 * Stopping: the vCPUs are leaving.  libvirt's "being shut down" state
	 * has reasons for a user's request only; a guest that crashed is
	 * crashed from that moment on.
	 */
	{ "stopping", "requested", { LV(VIR_DOMAIN_SHUTDOWN), LV(VIR_DOMAIN_SHUTDOWN_USER) } },
	{ "stopping", "guest", { LV(VIR_DOMAIN_SHUTDOWN), LV(VIR_DOMAIN_SHUTDOWN_UNKNOWN) } },
	{ "stopping", "crashed", { LV(VIR_DOMAIN_CRASHED), LV(VIR_DOMAIN_CRASHED_UNKNOWN) } },
	{ "stopping", "failed", { LV(VIR_DOMAIN_SHUTOFF), LV(VIR_DOMAIN_SHUTOFF_FAILED) } },
	{ "stopped", "guest", { LV(VIR_DOMAIN_SHUTOFF), LV(VIR_DOMAIN_SHUTOFF_SHUTDOWN) } },
	/* virsh destroy's reason: stopped from outside the guest. */
	{ "stopped", "requested", { LV(VIR_DOMAIN_SHUTOFF), LV(VIR_DOMAIN_SHUTOFF_DESTROYED) } },
	{ "stopped", "crashed", { LV(VIR_DOMAIN_SHUTOFF), LV(VIR_DOMAIN_SHUTOFF_CRASHED) } },
	{ "stopped", "failed", { LV(VIR_DOMAIN_SHUTOFF), LV(VIR_DOMAIN_SHUTOFF_FAILED) } },
	/* Its cv-hv does not answer: nothing known, as libvirt says of such a domain. */
	{ "unreachable", NULL, { LV(VIR_DOMAIN_NOSTATE), LV(VIR_DOMAIN_NOSTATE_UNKNOWN) } },
};

int domain_state_from_hv(const char *state, const char *reason, struct domain_state *out)
{
	for (size_t i = 0; i < sizeof(domain_states) / sizeof(domain_states[0]); i++) {
		if (strcmp(domain_states[i].state, state ? state : ""))
			continue;
		if (domain_states[i].reason &&
		    strcmp(domain_states[i].reason, reason ? reason : ""))
			continue;
		*out = domain_states[i].ds;
		return 0;
	}
	*out = (struct domain_state){ LV(VIR_DOMAIN_NOSTATE), LV(VIR_DOMAIN_NOSTATE_UNKNOWN) };
	return -EINVAL;
}
