// SPDX-License-Identifier: Apache-2.0
/* Asking a running instance of this host (instance_query.h). */
#include "tools/lib/instance_query.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "tools/lib/card_ctl.h"
#include "tools/lib/json_field.h"
#include "tools/lib/rundir.h"

json_object *instance_control(const char *id, const char *request)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (rundir_path(id, "control.sock", path, sizeof(path)))
		return NULL;
	return card_ctl_call(path, request);
}

int instance_desc_load(const char *id, struct instance_desc *d, void **blob)
{
	char path[600];
	size_t size;

	*blob = NULL;
	if (!rundir_path(id, "instance.dtb", path, sizeof(path)) &&
	    !instance_read_file(path, blob, &size) && !instance_from_fdt(*blob, size, d))
		return 0;
	free(*blob);
	*blob = NULL;
	return -1;
}

void instance_cards(const char *id, json_object *status)
{
	json_object *cards = json_object_new_array();
	const char *sockets[CV_INSTANCE_MAX_VOLUMES + CV_INSTANCE_MAX_NICS];
	struct instance_desc d;
	void *blob;
	char path[600];
	unsigned n = 0;

	if (!instance_desc_load(id, &d, &blob)) {
		for (unsigned i = 0; i < d.nr_volumes; i++)
			sockets[n++] = d.volumes[i].socket;
		for (unsigned i = 0; i < d.nr_nics; i++)
			sockets[n++] = d.nics[i].socket;
	}
	for (unsigned i = 0; i < n; i++) {
		json_object *r;

		snprintf(path, sizeof(path), "%s%s", sockets[i], CARD_CTL_SUFFIX);
		r = card_ctl_call(path, "{\"cmd\":\"stats\"}");
		if (!r) {
			r = json_object_new_object();
			json_object_object_add(r, "ok", json_object_new_boolean(0));
			json_object_object_add(r, "error", json_object_new_string(
				"the card does not answer on its control socket"));
		}
		/* Which card it is, answering or not. */
		json_object_object_add(r, "socket", json_object_new_string(path));
		json_object_array_add(cards, r);
	}
	free(blob);
	json_object_object_add(status, "cards", cards);
}

static json_object *check(const char *status, const char *reason)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string(status));
	if (reason)
		json_object_object_add(o, "reason", json_object_new_string(reason));
	return o;
}

void instance_checks(json_object *status)
{
	json_object *checks = json_object_new_object(), *cards, *ok;
	const char *state = json_field_str(status, "state", "");
	char down[256] = "";
	bool driven = false;
	size_t n = 0, at = 0;

	if (json_object_object_get_ex(status, "cards", &cards) &&
	    json_object_is_type(cards, json_type_array))
		n = json_object_array_length(cards);
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cards, i);
		const char *sock = json_field_str(c, "socket", "?"), *base = strrchr(sock, '/');

		if (!json_object_object_get_ex(c, "ok", &ok) ||
		    !json_object_is_type(ok, json_type_boolean) || !json_object_get_boolean(ok)) {
			if (at < sizeof(down))
				at += (size_t)snprintf(down + at, sizeof(down) - at, "%s%s",
						       at ? ", " : "", base ? base + 1 : sock);
			continue;
		}
		/* cv-vpc's frames from the guest, cv-ebs's completed commands. */
		driven |= json_field_i64(c, "from_guest") > 0 || json_field_i64(c, "completed") > 0;
	}
	if (down[0]) {
		char reason[300];

		snprintf(reason, sizeof(reason), "no answer from %s", down);
		json_object_object_add(checks, "system", check(INSTANCE_CHECK_IMPAIRED, reason));
	} else {
		json_object_object_add(checks, "system", check(INSTANCE_CHECK_OK, NULL));
	}
	if (strcmp(state, "running")) {
		char reason[64];

		snprintf(reason, sizeof(reason), "the VM is %s", state[0] ? state : "not answering");
		json_object_object_add(checks, "instance", check(INSTANCE_CHECK_IMPAIRED, reason));
	} else if (driven) {
		json_object_object_add(checks, "instance", check(INSTANCE_CHECK_OK, NULL));
	} else if (n) {
		json_object_object_add(checks, "instance", check(INSTANCE_CHECK_INITIALIZING,
			"the guest has not driven a device yet"));
	} else {
		json_object_object_add(checks, "instance", check(INSTANCE_CHECK_NO_DATA,
			"no card to tell by"));
	}
	json_object_object_add(status, "checks", checks);
}
