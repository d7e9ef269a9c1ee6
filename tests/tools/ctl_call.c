// SPDX-License-Identifier: Apache-2.0
/*
 * Send JSON-lines requests to a control socket (cv-hv's, or a card's
 * <socket>.ctl: tools/lib/card_ctl.h), all on one connection, one after
 * the other, and print each reply as one line.
 *   usage: ctl_call SOCKET [REQUEST...]   (default {"cmd":"stats"})
 * Exit status 0 with every reply; 1 when the socket is gone, closes
 * unanswered or answers no JSON (the replies before are printed); 2 for
 * bad usage.  A C program, not a script, so the nested-KVM outer guest
 * (no Python) has it too.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/lib/card_ctl.h"

int main(int argc, char **argv)
{
	static char *stats[] = { "{\"cmd\":\"stats\"}" };
	char **req = argc > 2 ? argv + 2 : stats;
	int nreq = argc > 2 ? argc - 2 : 1, fd, ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: ctl_call SOCKET [REQUEST...]\n");
		return 2;
	}
	fd = card_ctl_connect(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "ctl_call: %s: %s\n", argv[1], strerror(-fd));
		return 1;
	}
	for (int i = 0; i < nreq && !ret; i++) {
		struct json_object *reply = card_ctl_request(fd, req[i]);

		if (!reply) {
			fprintf(stderr, "ctl_call: %s: no reply to request %d\n", argv[1], i + 1);
			ret = 1;
			break;
		}
		puts(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(reply);
	}
	close(fd);
	return ret;
}
