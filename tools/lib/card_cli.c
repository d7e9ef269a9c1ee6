// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/card_cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tools/lib/harden.h"
#include "tools/lib/jail.h"
#include "tools/lib/log.h"
#include "tools/lib/syscall_filter.h"

static void usage(FILE *f, const char *tag, const char *kind, const char *what)
{
	fprintf(f, "usage: %s --instance FILE --%s ID [--restarted] [--seccomp=on|off]\n"
		"       [--jail[=UID:GID]] [--verbose]\n"
		"%s\n"
		"--restarted: replaces a card that died while the guest used it\n"
		"--seccomp=off: no system call filter (for debugging; logged)\n"
		"--jail: once set up, run in namespaces of its own with an empty root\n"
		"        as UID:GID or an unused id of $CARDVISOR_JAIL_IDS (root), or as\n"
		"        the user, in a user namespace (another user)\n",
		tag, kind, what);
}

int card_cli_start(struct card_cli *c, int argc, char **argv, const char *tag,
		   const char *kind, const char *what)
{
	const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ kind, required_argument, NULL, 'k' },
		{ "restarted", no_argument, NULL, 'r' },
		{ "seccomp", required_argument, NULL, 's' },
		{ "jail", optional_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL;
	bool verbose = false;
	size_t size;
	int opt;

	*c = (struct card_cli){ .seccomp = true, .jail = { .lock_fd = -1 } };
	/* A card's socket and pid file are its owner's alone. */
	umask(077);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'i': path = optarg; break;
		case 'k': c->id = optarg; break;
		case 'r': c->restarted = true; break;
		case 's':
			if (syscall_filter_parse(optarg, &c->seccomp)) {
				usage(stderr, tag, kind, what);
				return -EINVAL;
			}
			break;
		case 'j':
			if (jail_parse(optarg, &c->jail)) {
				fprintf(stderr, "%s: --jail=%s: not UID:GID, both above 0\n", tag,
					optarg);
				return -EINVAL;
			}
			break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout, tag, kind, what); return 1;
		default: usage(stderr, tag, kind, what); return -EINVAL;
		}
	}
	if (!path || !c->id || optind != argc) {
		usage(stderr, tag, kind, what);
		return -EINVAL;
	}
	cv_log_init(tag, verbose);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Before the instance description, the key or a guest byte is read;
	 * a jailed card keeps what it needs to enter the jail (jail.h).
	 */
	if (process_harden(!c->jail.on) || jail_prepare(&c->jail))
		return -EPERM;
	if (instance_read_file(path, &c->blob, &size) ||
	    instance_from_fdt(c->blob, size, &c->desc)) {
		card_cli_free(c);
		return -EINVAL;
	}
	return 0;
}

void card_cli_free(struct card_cli *c)
{
	free(c->blob);
	c->blob = NULL;
}
