/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An instance's state in libvirt's vocabulary: cv-hv's state and
 * state_reason words (status on the control socket) as libvirt's
 * virDomainState and its per-state reason enums, the values taken from
 * <libvirt/libvirt-domain.h> at build time.  Tools that already read
 * virDomainGetState()'s pair read ours without a table of their own.
 * Only the header is used: no program links libvirt.
 */
#ifndef CV_DOMAIN_STATE_H
#define CV_DOMAIN_STATE_H

struct domain_state {
	int state;               /* a virDomainState value */
	const char *state_name;  /* its enumerator, e.g. "VIR_DOMAIN_RUNNING" */
	int reason;              /* a value of that state's reason enum */
	const char *reason_name; /* e.g. "VIR_DOMAIN_RUNNING_BOOTED" */
};

/*
 * cv-hv's @state ("pending", "running", "paused", "stopping", "stopped",
 * or "unreachable" for an instance whose cv-hv does not answer) and
 * @reason (vm_state_reason's word; NULL from a cv-hv that reports none)
 * into @out.  0, or -EINVAL for a pair cv-hv never reports (then @out
 * says VIR_DOMAIN_NOSTATE).
 */
int domain_state_from_hv(const char *state, const char *reason, struct domain_state *out);

#endif
