/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A card's control socket, <card socket>.ctl: counters by query, not by
 * reading logs (issue 13; Firecracker's metrics, SPDK's RPC).  It speaks
 * what cv-hv's control socket speaks (docs/architecture.md, "Control and
 * console"): one JSON object per line in, one per line out.
 *   {"cmd":"stats"}  ->  {"ok":true, ...the card's counters...}
 *   {"cmd":"seccomp-probe"}  ->  the test hook of issue 11: one system call
 *                    outside every allow-list; under the card's filter the
 *                    card ends with SIGSYS, unfiltered (--seccomp=off) it
 *                    answers {"ok":true,"filtered":false}
 *   {"cmd":"landlock-probe"}  ->  {"ok":true,"file_open":B,"tcp_connect":B}:
 *                    whether it can still open a file and connect to a TCP
 *                    port not its own (with --seccomp=off only: the filter
 *                    would end the card first); a jailed card can do neither
 *   a card's own commands (card_ctl_cmd_fn): cv-vpc's mapping-set,
 *                    mapping-remove and mapping-prune (docs/vpc.md, "Live
 *                    updates")
 *   anything else    ->  {"ok":false,"error":"..."}
 * A connection may carry any number of requests, one after the other.
 * Served from the card's own event loop and never blocking it: the
 * listening socket and up to CARD_CTL_CLIENTS connections sit in an epoll
 * set of their own, whose fd the card adds to its loop.  A request line
 * longer than CARD_CTL_LINE_MAX, a reply the peer does not take at once,
 * or a peer that runs neither as this uid nor as root (SO_PEERCRED)
 * closes that connection; the card goes on.
 */
#ifndef CV_CARD_CTL_H
#define CV_CARD_CTL_H

#include <stddef.h>
#include <stdint.h>

#define CARD_CTL_CLIENTS  4
#define CARD_CTL_LINE_MAX 512
#define CARD_CTL_SUFFIX   ".ctl"

struct json_object;
/* Add the card's counters to @reply (an object already holding "ok"). */
typedef void (*card_ctl_stats_fn)(void *opaque, struct json_object *reply);
/*
 * A command beyond the common ones: @cmd is @req's "cmd".  0 once @reply
 * (empty) is filled, "ok" included, whether the command succeeded or not;
 * -ENOENT when the card has no such command.
 */
typedef int (*card_ctl_cmd_fn)(void *opaque, const char *cmd, struct json_object *req,
			       struct json_object *reply);

struct card_ctl_client {
	int fd;                      /* -1: slot free */
	size_t len;
	char buf[CARD_CTL_LINE_MAX];
};

struct card_ctl {
	int epfd, listen_fd;
	struct card_ctl_client client[CARD_CTL_CLIENTS];
	card_ctl_stats_fn stats;
	card_ctl_cmd_fn cmd;         /* NULL: none */
	void *opaque;
	char path[108];              /* sun_path's size */
};

/*
 * Listen on @card_socket + CARD_CTL_SUFFIX (mode from the umask, 077 in
 * every card); @cmd (or NULL) serves the card's own commands.  0 or a
 * negative errno after one log line.
 */
int card_ctl_open(struct card_ctl *c, const char *card_socket, card_ctl_stats_fn stats,
		  card_ctl_cmd_fn cmd, void *opaque);
/* The fd for the card's loop (EPOLLIN); then call card_ctl_process(). */
int card_ctl_fd(const struct card_ctl *c);
void card_ctl_process(struct card_ctl *c);
/* A counter into a stats reply: @o[@key] = @v. */
void card_ctl_add_u64(struct json_object *o, const char *key, uint64_t v);
/* Closes every connection and removes the socket.  Safe on a closed one. */
void card_ctl_close(struct card_ctl *c);

/*
 * The client side, for any socket that speaks this protocol (a card's
 * .ctl, cv-hv's control socket).  card_ctl_connect: a connection, its fd
 * or a negative errno.  card_ctl_request: send @request and a newline on
 * it, wait up to CARD_CTL_REPLY_MS for one reply line, and leave anything
 * after that line unread; the parsed reply, or NULL when the socket is
 * gone, closes unanswered or answers no JSON (the connection is then of
 * no further use).  card_ctl_call: one request on a connection of its own.
 */
#define CARD_CTL_REPLY_MS 5000
int card_ctl_connect(const char *path);
struct json_object *card_ctl_request(int fd, const char *request);
struct json_object *card_ctl_call(const char *path, const char *request);

#endif /* CV_CARD_CTL_H */
