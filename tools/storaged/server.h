/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-storaged's event loop: one thread, epoll over the listening socket,
 * every connection, the io_uring completion eventfd and a signalfd; a
 * 100 ms tick runs keep alive timers.  SIGTERM/SIGINT stop accepting and
 * taking commands, wait for the file I/O in flight and its responses, then
 * close everything.
 */
#ifndef CV_STORAGED_SERVER_H
#define CV_STORAGED_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "tools/storaged/backend.h"
#include "tools/storaged/conn.h"
#include "tools/storaged/ctrl.h"

struct storaged {
	int epfd;
	int lfd;                  /* listening socket */
	int sfd;                  /* signalfd */
	struct backend be;
	struct ctrl_table ctrls;
	struct conn *conns;
	struct conn *dirty;       /* connections with something to send */
	bool stopping;
};

/* Listen on addr (numeric IPv4/IPv6, "" for any) and port (0: any free one). */
int storaged_init(struct storaged *sd, const char *dir, const char *addr, uint16_t port);
/* The port actually bound. */
uint16_t storaged_port(const struct storaged *sd);
/* Run until SIGTERM/SIGINT; 0 after a clean shutdown. */
int storaged_run(struct storaged *sd);
void storaged_exit(struct storaged *sd);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t storaged_now_ms(void);
/* Mark a connection as having PDUs to send at the end of this loop turn. */
void storaged_mark_dirty(struct storaged *sd, struct conn *c);
/* Change a connection's epoll interest. */
void storaged_watch(struct storaged *sd, struct conn *c, uint32_t events);

#endif /* CV_STORAGED_SERVER_H */
