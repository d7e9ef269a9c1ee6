/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-storaged's event loop: one thread, epoll over the listening socket,
 * every connection, the io_uring completion eventfd and a signalfd; a
 * 100 ms tick runs keep alive timers.  At the connection limit, or out of
 * descriptors, the listening socket leaves epoll until a connection goes
 * (or, out of descriptors, a second passes).  SIGTERM/SIGINT stop accepting and
 * taking commands, wait for the file I/O in flight and its responses, then
 * close everything.
 */
#ifndef CV_STORAGED_SERVER_H
#define CV_STORAGED_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "tools/lib/nvme_tls.h"
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
	unsigned nconns;          /* in conns, until freed */
	unsigned max_conns;       /* more wait in the listen backlog; may be set
	                             before storaged_run() */
	bool accept_paused;       /* the listening socket is out of epoll */
	bool accept_backlogged;   /* paused since accept last found nothing waiting */
	uint64_t accept_retry_ms; /* out of descriptors: accept again then (0: not by time) */
	unsigned accept_pauses;   /* episodes of new connections having to wait */
	bool stopping;
	SSL_CTX *tls;             /* TLS required (the default), or NULL: plain TCP */
};

/*
 * Connections that can be served with RLIMIT_NOFILE as it is: each may
 * take two descriptors (its socket and a volume file), some are the
 * daemon's own.
 */
unsigned storaged_default_max_conns(void);
/*
 * Listen on addr (numeric IPv4/IPv6, "" for any) and port (0: any free
 * one), taking storaged_default_max_conns() connections at most.
 */
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
/*
 * The end of a loop turn: send what is queued, submit the file I/O, free
 * the connections that are done (which may answer a held Connect, whose
 * response is sent too).  Tests that play the loop call it as well.
 */
void storaged_flush(struct storaged *sd);

#endif /* CV_STORAGED_SERVER_H */
