/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command line every card takes, `--instance FILE --<kind> ID
 * [--restarted] [--seccomp=on|off] [--jail[=UID:GID]] [--verbose]`, and
 * the start every card makes: logging, SIGPIPE ignored
 * (a peer that goes away is an error to handle, not a death), and the
 * instance description read and checked.
 */
#ifndef CV_CARD_CLI_H
#define CV_CARD_CLI_H

#include <stdbool.h>

#include "tools/lib/instance.h"
#include "tools/lib/jail.h"

struct card_cli {
	const char *id;           /* the volume or ENI this card serves */
	/*
	 * --restarted: this card replaces one that died while the guest used
	 * the device (cardvisor's system check), so the device state the
	 * guest believes in is gone.
	 */
	bool restarted;
	/* --seccomp: install the card's allow-list once it is set up (default). */
	bool seccomp;
	/* --jail[=UID:GID]: the card calls jail_enter once set up. */
	struct jail jail;
	struct instance_desc desc;
	void *blob;               /* desc's strings point into it */
};

/*
 * Parse the command line of card @tag ("cv-ebs") serving a @kind
 * ("volume") and load the instance.  0: go on; 1: --help was printed, exit
 * 0; negative: exit 1 (usage or the error already printed).
 */
int card_cli_start(struct card_cli *c, int argc, char **argv, const char *tag,
		   const char *kind, const char *what);
void card_cli_free(struct card_cli *c);

#endif /* CV_CARD_CLI_H */
