// SPDX-License-Identifier: Apache-2.0
/*
 * Send one JSON-lines request to a control socket (cv-hv's, or a card's
 * <socket>.ctl: tools/lib/card_ctl.h) and print the reply as one line.
 *   usage: ctl_call SOCKET [REQUEST]   (default {"cmd":"stats"})
 * Exit status 0 with a reply; 1 when the socket is gone, closes
 * unanswered or answers no JSON; 2 for bad usage.  A C program, not a
 * script, so the nested-KVM outer guest (no Python) has it too.
 */
#include <json-c/json.h>
#include <stdio.h>

#include "tools/lib/card_ctl.h"

int main(int argc, char **argv)
{
	struct json_object *reply;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: ctl_call SOCKET [REQUEST]\n");
		return 2;
	}
	reply = card_ctl_call(argv[1], argc == 3 ? argv[2] : "{\"cmd\":\"stats\"}");
	if (!reply) {
		fprintf(stderr, "ctl_call: %s: no reply\n", argv[1]);
		return 1;
	}
	puts(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(reply);
	return 0;
}
