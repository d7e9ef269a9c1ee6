/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/lib/log.h"
#include "tools/storaged/server.h"

/* epoll data for the daemon's own descriptors; connections use their pointer. */
enum { EV_LISTEN = 1, EV_URING, EV_SIGNAL };
#define TICK_MS 100
#define RING_ENTRIES 256
#define DRAIN_TIMEOUT_MS 15000
/*
 * Descriptors the daemon holds besides its connections': stdio, the
 * listening socket, epoll, signalfd, io_uring and its eventfd, and slack.
 * Each connection takes its socket and, for an admin queue, the volume file.
 */
#define FDS_RESERVED 16
#define FDS_PER_CONN 2
#define CONNS_MAX_DEFAULT 4096
/* Out of descriptors: try accept again after this, or when a connection goes. */
#define ACCEPT_BACKOFF_MS 1000

uint64_t storaged_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void storaged_mark_dirty(struct storaged *sd, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = sd->dirty;
	sd->dirty = c;
}

void storaged_watch(struct storaged *sd, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (!events) {
		epoll_ctl(sd->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		return;
	}
	if (epoll_ctl(sd->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(sd->epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static int watch_fd(struct storaged *sd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(sd->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int listen_on(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	socklen_t len;
	int fd, one = 1;

	if (!*addr || inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		len = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		port = ntohs(s->sin_port);
		snprintf(buf, len, "%s:%u", a, port);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		port = ntohs(s->sin6_port);
		snprintf(buf, len, "[%s]:%u", a, port);
	}
}

uint16_t storaged_port(const struct storaged *sd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(sd->lfd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
		     ((struct sockaddr_in6 *)&ss)->sin6_port);
}

unsigned storaged_default_max_conns(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return CONNS_MAX_DEFAULT;
	n = rl.rlim_cur > FDS_RESERVED + FDS_PER_CONN ?
		(rl.rlim_cur - FDS_RESERVED) / FDS_PER_CONN : 1;
	return n < CONNS_MAX_DEFAULT ? (unsigned)n : CONNS_MAX_DEFAULT;
}

int storaged_init(struct storaged *sd, const char *dir, const char *addr, uint16_t port)
{
	sigset_t mask;
	int err;

	memset(sd, 0, sizeof(*sd));
	sd->ctrls.dir = dir;
	sd->max_conns = storaged_default_max_conns();
	sd->lfd = sd->sfd = sd->epfd = -1;
	err = backend_init(&sd->be, RING_ENTRIES);
	if (err < 0) {
		cv_err("io_uring: %s", strerror(-err));
		return err;
	}
	sd->lfd = listen_on(addr, port);
	if (sd->lfd < 0) {
		err = sd->lfd;
		cv_err("listen on %s port %u: %s", *addr ? addr : "*", port, strerror(-err));
		goto fail;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sd->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	sd->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sd->sfd < 0 || sd->epfd < 0) {
		err = -errno;
		goto fail;
	}
	err = watch_fd(sd, sd->lfd, EV_LISTEN);
	if (!err)
		err = watch_fd(sd, sd->be.efd, EV_URING);
	if (!err)
		err = watch_fd(sd, sd->sfd, EV_SIGNAL);
	if (!err)
		return 0;
fail:
	storaged_exit(sd);
	return err;
}

/*
 * Stop polling the listening socket: new connections wait in its backlog
 * until a connection goes or, when accept failed with err (out of
 * descriptors or memory), ACCEPT_BACKOFF_MS have passed.  A listener that
 * stays readable while accept cannot take anything would wake the loop for
 * nothing, forever.  Logged once per episode, which ends when accept has
 * taken everything waiting.
 */
static void accept_pause(struct storaged *sd, int err)
{
	if (!sd->accept_paused)
		epoll_ctl(sd->epfd, EPOLL_CTL_DEL, sd->lfd, NULL);
	sd->accept_paused = true;
	sd->accept_retry_ms = err ? storaged_now_ms() + ACCEPT_BACKOFF_MS : 0;
	if (sd->accept_backlogged)
		return;
	sd->accept_backlogged = true;
	sd->accept_pauses++;
	if (err)
		cv_warn("accept: %s with %u connections (pause %u): new connections wait, "
			"retried every %u ms", strerror(err), sd->nconns, sd->accept_pauses,
			ACCEPT_BACKOFF_MS);
	else
		cv_warn("at the connection limit of %u (pause %u): new connections wait "
			"until one closes", sd->max_conns, sd->accept_pauses);
}

static void accept_resume(struct storaged *sd)
{
	if (!sd->accept_paused || sd->stopping || sd->nconns >= sd->max_conns)
		return;
	sd->accept_paused = false;
	watch_fd(sd, sd->lfd, EV_LISTEN);
}

static void accept_all(struct storaged *sd)
{
	while (!sd->accept_paused) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char peer[64];
		struct conn *c;
		int one = 1, fd;

		/* Within the limit, every volume file a Connect opens has a descriptor. */
		if (sd->nconns >= sd->max_conns) {
			accept_pause(sd, 0);
			return;
		}
		fd = accept4(sd->lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN)
				sd->accept_backlogged = false;
			else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				 errno == ENOMEM)
				accept_pause(sd, errno);
			else if (errno != EINTR)
				cv_err_once("accept: %s", strerror(errno));
			return;
		}
		/* Responses are small and latency-bound: no Nagle. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		peer_name(&ss, peer, sizeof(peer));
		c = conn_new(sd, fd, peer);
		if (!c) {
			cv_err_once("%s: out of memory for a connection", peer);
			continue;
		}
		cv_info("%s: connected", peer);
		c->next = sd->conns;
		sd->conns = c;
		sd->nconns++;
	}
}

/*
 * Keep alive timers, connections whose C2HTermReq will not go out and
 * connections that never became a queue.
 */
static void tick(struct storaged *sd, uint64_t now)
{
	for (struct conn *c = sd->conns; c; c = c->next) {
		if (c->dead)
			continue;
		if (c->ctrl && c->ctrl->state != CTRL_FAILED && ctrl_ka_expired(c->ctrl, now)) {
			cv_warn("cntlid %u (%s): keep alive timeout after %u ms",
				c->ctrl->cntlid, c->ctrl->subnqn, c->ctrl->kato_ms);
			c->ctrl->state = CTRL_FAILED;
		}
		if (c->ctrl && c->ctrl->state == CTRL_FAILED)
			conn_close(c, c->qid ? "controller gone" : "keep alive timeout");
		else if (c->closing && now > c->close_deadline_ms)
			conn_close(c, "peer does not take its C2HTermReq");
		else if (!c->ctrl && now > c->setup_deadline_ms)
			conn_close(c, "no ICReq and Connect in time");
	}
	if (sd->accept_paused && sd->accept_retry_ms && now >= sd->accept_retry_ms)
		accept_resume(sd);
}

void storaged_flush(struct storaged *sd)
{
	bool reaped = false;
	int err;

	/* Again while reaping lifted a fence: that Connect's response is due. */
	do {
		while (sd->dirty) {
			struct conn *c = sd->dirty;

			sd->dirty = c->dirty_next;
			c->dirty = false;
			conn_flush(c);
		}
		/* After the flushes: a connection that drained may have read commands. */
		err = backend_submit(&sd->be);
		if (err < 0)
			cv_err_once("io_uring submit: %s", strerror(-err));
		for (struct conn **p = &sd->conns; *p;) {
			struct conn *c = *p;

			if (c->dead && !c->dirty && !c->io_inflight) {
				*p = c->next;
				conn_reap(c);
				sd->nconns--;
				reaped = true;
			} else {
				p = &c->next;
			}
		}
	} while (sd->dirty);
	/* A connection gone, its descriptors with it: a waiting one may come in. */
	if (reaped)
		accept_resume(sd);
}

static bool drained(const struct storaged *sd)
{
	for (const struct conn *c = sd->conns; c; c = c->next)
		if (!conn_idle(c))
			return false;
	return !sd->be.inflight;
}

static void begin_stop(struct storaged *sd, uint32_t signo)
{
	cv_info("signal %u: no new connections or commands; draining I/O in flight", signo);
	sd->stopping = true;
	if (!sd->accept_paused)
		epoll_ctl(sd->epfd, EPOLL_CTL_DEL, sd->lfd, NULL);
	close(sd->lfd);
	sd->lfd = -1;
	for (struct conn *c = sd->conns; c; c = c->next)
		conn_quiesce(c);
}

int storaged_run(struct storaged *sd)
{
	uint64_t last_tick = storaged_now_ms(), stop_deadline = 0;

	for (;;) {
		struct epoll_event ev[64];
		int n = epoll_wait(sd->epfd, ev, 64, TICK_MS);
		uint64_t now;

		if (n < 0 && errno != EINTR) {
			cv_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;

			if (tag == EV_LISTEN) {
				accept_all(sd);
			} else if (tag == EV_URING) {
				backend_reap(&sd->be);
			} else if (tag == EV_SIGNAL) {
				struct signalfd_siginfo si;

				if (read(sd->sfd, &si, sizeof(si)) == sizeof(si) && !sd->stopping) {
					begin_stop(sd, si.ssi_signo);
					stop_deadline = storaged_now_ms() + DRAIN_TIMEOUT_MS;
				}
			} else {
				struct conn *c = ev[i].data.ptr;

				if (c->dead)
					continue;
				if (ev[i].events & EPOLLIN)
					conn_readable(c);
				if (!c->dead && (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
					storaged_mark_dirty(sd, c);
			}
		}
		storaged_flush(sd);
		now = storaged_now_ms();
		if (now - last_tick >= TICK_MS) {
			tick(sd, now);
			last_tick = now;
			storaged_flush(sd);
		}
		if (sd->stopping && (drained(sd) || now > stop_deadline)) {
			if (!drained(sd))
				cv_warn("shutdown: I/O still in flight after %u ms",
					DRAIN_TIMEOUT_MS);
			return 0;
		}
	}
}

void storaged_exit(struct storaged *sd)
{
	/* Wait for the kernel to finish with every buffer before freeing any. */
	while (sd->be.inflight) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&sd->be.ring, &cqe) < 0)
			break;
		backend_reap(&sd->be);
	}
	for (struct conn *c = sd->conns; c; c = c->next)
		conn_close(c, "daemon stopping");
	while (sd->conns) {
		struct conn *c = sd->conns;

		sd->conns = c->next;
		conn_reap(c);
	}
	if (sd->lfd >= 0)
		close(sd->lfd);
	if (sd->sfd >= 0)
		close(sd->sfd);
	if (sd->epfd >= 0)
		close(sd->epfd);
	backend_exit(&sd->be);
	nvme_tls_ctx_free(sd->tls);
	sd->tls = NULL;
}
